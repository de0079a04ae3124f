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

/// How a notification names a team in `to.teams`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeamName<'a> {
    /// Its Microsoft 365 group id (a GUID): Graph knows it by that.
    Group(&'a str),
    /// The id Teams gave the bot for it (any other shape, `19:…@thread.tacv2` today): only the
    /// store, which learnt it from Teams' activities, maps it to a group.
    Conversation(&'a str),
}

/// Tells a group id from a Teams id by the GUID shape, not by a prefix.
pub fn team_name(s: &str) -> TeamName<'_> {
    if is_guid(s) {
        TeamName::Group(s)
    } else {
        TeamName::Conversation(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn teams_are_named_by_group_or_by_teams_id() {
        let g = "d6c5e9a2-3b1f-4c8e-9f7a-2b4d6e8f0a1c";
        assert_eq!(team_name(g), TeamName::Group(g));
        let c = "19:abc@thread.tacv2";
        assert_eq!(team_name(c), TeamName::Conversation(c));
    }

    #[test]
    fn guid_shape() {
        assert!(is_guid("d6c5e9a2-3b1f-4c8e-9f7a-2b4d6e8f0a1c"));
        assert!(!is_guid("user1@sandbox.example"));
        assert!(!is_guid("29:1abc"));
        assert!(!is_guid("d6c5e9a2-3b1f-4c8e-9f7a-2b4d6e8f0a1"));
    }
}
