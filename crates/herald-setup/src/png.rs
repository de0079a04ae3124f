//! The app's two icons when the configuration names none: Teams wants a 192×192 full-colour
//! PNG and a 32×32 white outline on a transparent background. A letter drawn from rectangles,
//! written as an uncompressed PNG (stored deflate blocks): small enough, and no image library.

use crate::crc32;

/// RGBA pixels, row by row.
struct Canvas {
    size: u32,
    pixels: Vec<[u8; 4]>,
}

impl Canvas {
    fn new(size: u32, fill: [u8; 4]) -> Self {
        Self {
            size,
            pixels: vec![fill; (size * size) as usize],
        }
    }

    /// Fills the rectangle of fractions of the side (left, top, right, bottom).
    fn rect(&mut self, l: f32, t: f32, r: f32, b: f32, colour: [u8; 4]) {
        let px = |f: f32| (f * self.size as f32).round() as u32;
        for y in px(t)..px(b).min(self.size) {
            for x in px(l)..px(r).min(self.size) {
                self.pixels[(y * self.size + x) as usize] = colour;
            }
        }
    }

    /// The letter H, Herald's mark, in `colour`.
    fn letter(&mut self, colour: [u8; 4]) {
        self.rect(0.25, 0.22, 0.38, 0.78, colour);
        self.rect(0.62, 0.22, 0.75, 0.78, colour);
        self.rect(0.38, 0.44, 0.62, 0.56, colour);
    }

    fn png(&self) -> Vec<u8> {
        let row = self.size as usize * 4 + 1;
        let mut raw = Vec::with_capacity(row * self.size as usize);
        for y in 0..self.size as usize {
            raw.push(0); // filter: none
            let start = y * self.size as usize;
            for p in &self.pixels[start..start + self.size as usize] {
                raw.extend_from_slice(p);
            }
        }
        let mut ihdr = Vec::with_capacity(13);
        ihdr.extend_from_slice(&self.size.to_be_bytes());
        ihdr.extend_from_slice(&self.size.to_be_bytes());
        ihdr.extend_from_slice(&[8, 6, 0, 0, 0]); // 8 bits, RGBA, deflate, no filter set, no interlace
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        chunk(&mut out, b"IHDR", &ihdr);
        chunk(&mut out, b"IDAT", &zlib_stored(&raw));
        chunk(&mut out, b"IEND", &[]);
        out
    }
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A zlib stream of stored (uncompressed) deflate blocks.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = data.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        out.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    if blocks.is_empty() {
        out.extend_from_slice(&[1, 0, 0, 0xFF, 0xFF]);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}

/// The 192×192 colour icon: the letter in white on `accent`.
pub fn colour_icon(accent: [u8; 3]) -> Vec<u8> {
    let mut c = Canvas::new(192, [accent[0], accent[1], accent[2], 255]);
    c.letter([255, 255, 255, 255]);
    c.png()
}

/// The 32×32 outline icon: the letter in white on transparent.
pub fn outline_icon() -> Vec<u8> {
    let mut c = Canvas::new(32, [0, 0, 0, 0]);
    c.letter([255, 255, 255, 255]);
    c.png()
}

/// A PNG's width and height from its header, or `None` when it is not a PNG.
pub fn dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.len() < 24 || &bytes[..8] != b"\x89PNG\r\n\x1a\n" || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let n = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    Some((n(16), n(20)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_icons_are_pngs_of_the_sizes_teams_wants() {
        assert_eq!(
            dimensions(&colour_icon([0x4F, 0x46, 0xE5])),
            Some((192, 192))
        );
        assert_eq!(dimensions(&outline_icon()), Some((32, 32)));
        assert_eq!(dimensions(b"GIF89a"), None);
    }

    #[test]
    fn stored_zlib_carries_the_bytes_and_their_adler32() {
        let z = zlib_stored(b"Wikipedia");
        // One final stored block of 9 bytes, then Adler-32 of "Wikipedia" (0x11E60398).
        assert_eq!(&z[..7], &[0x78, 0x01, 0x01, 9, 0, 0xF6, 0xFF]);
        assert_eq!(&z[7..16], b"Wikipedia");
        assert_eq!(&z[16..], &0x11E6_0398u32.to_be_bytes());
    }
}
