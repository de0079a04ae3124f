//! Identifiers of Teams and Azure AD. Each is its own type so that a Teams user id (`29:…`)
//! can never be passed where an AAD object id is expected. Ids are kept exactly as Teams gives
//! them: no code may assume a `28:` / `29:` / `a:` prefix.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// An Azure AD tenant (directory) id, a GUID.
    TenantId
);
id_type!(
    /// A user's Azure AD object id, a GUID (`aadObjectId` in activities, `id` in Graph).
    AadObjectId
);
id_type!(
    /// A user's Teams / Bot Framework id, usually `29:…`.
    UserId
);
id_type!(
    /// A Bot Framework conversation id: `a:…` for a personal chat, `19:…` for chats and channels.
    ConversationId
);
id_type!(
    /// An activity (message) id within a conversation.
    ActivityId
);
id_type!(
    /// An Azure AD application (client) id: the bot's Microsoft App ID.
    AppId
);
id_type!(
    /// A Teams app catalog id (what Graph's `installedApps` expects).
    TeamsAppId
);

/// Whether `s` has the 8-4-4-4-12 hexadecimal shape of a GUID.
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

    #[test]
    fn ids_serialize_as_plain_strings() {
        let id = UserId::new("29:1xyz");
        assert_eq!(serde_json_like(&id), "29:1xyz");
    }

    fn serde_json_like(id: &UserId) -> String {
        id.to_string()
    }
}
