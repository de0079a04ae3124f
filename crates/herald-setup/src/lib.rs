//! Getting Herald to a real tenant: the Teams app package (`herald manifest`: the manifest,
//! both icons, a zip) and the Power Automate custom connector (`herald connector-definition`:
//! OpenAPI 2.0 converted from the API's own OpenAPI 3.1 document, and its connection
//! properties), and `herald doctor` (each thing a real tenant needs, checked against the
//! identity platform, Graph and the store). The package and the definition are pure functions
//! of the configuration; only the doctor talks to the network.

pub mod connector;
pub mod doctor;
pub mod manifest;
mod png;
mod zip;

/// A problem with what the configuration asks for, naming the key to change.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct SetupError {
    pub key: String,
    pub message: String,
}

fn fail(key: &str, message: impl Into<String>) -> SetupError {
    SetupError {
        key: key.to_owned(),
        message: message.into(),
    }
}

/// CRC-32 (IEEE 802.3, as PNG chunks and zip entries use it).
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    !bytes.iter().fold(!0u32, |c, &b| {
        TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn crc32_is_the_ieee_one() {
        // The check value every CRC-32 implementation publishes.
        assert_eq!(super::crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(super::crc32(b""), 0);
    }
}
