//! Identifiers of Teams and Azure AD. Ids are kept exactly as Teams gives them: no code may
//! assume a `28:` / `29:` / `a:` prefix.

/// Whether `s` has the 8-4-4-4-12 hexadecimal shape of a GUID (an AAD object, tenant or app id).
pub fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_shape() {
        assert!(is_guid("d6c5e9a2-3b1f-4c8e-9f7a-2b4d6e8f0a1c"));
        assert!(!is_guid("user1@sandbox.example"));
        assert!(!is_guid("29:1abc"));
        assert!(!is_guid("d6c5e9a2-3b1f-4c8e-9f7a-2b4d6e8f0a1"));
    }
}
