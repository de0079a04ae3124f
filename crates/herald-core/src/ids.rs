//! Identifiers of Teams, Azure AD and Herald, each its own type: a tenant id cannot be passed
//! where an AAD object id is expected, and an id is checked once, where it enters (an activity,
//! a request, an import, the configuration), and trusted inside.
//!
//! Ids are kept exactly as they were given: no code may assume a `28:` / `29:` / `a:` / `19:`
//! prefix or a GUID shape, except where Teams itself tells ids apart by shape (a team named by
//! its group id, see [`TeamRef`]). What every id must be: 1 to [`MAX_ID_LEN`] bytes with no
//! control character and no surrounding space. Longer strings are not ids Teams gives; keeping
//! them out bounds what a hostile activity or request can make Herald store.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// The longest id, UPN or conversation id Herald accepts, in bytes.
pub const MAX_ID_LEN: usize = 256;

/// Why a string is not an id of the kind asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdError {
    /// What was expected ("tenant id", "UPN", ...).
    pub kind: &'static str,
    pub problem: IdProblem,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdProblem {
    Empty,
    TooLong(usize),
    ControlCharacter,
    SurroundingSpace,
    /// A UPN without exactly one `@` between two non-empty parts.
    NotAnAddress,
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self.kind;
        match self.problem {
            IdProblem::Empty => write!(f, "a {kind} cannot be empty"),
            IdProblem::TooLong(n) => {
                write!(
                    f,
                    "a {kind} of {n} bytes; ids and UPNs are at most {MAX_ID_LEN}"
                )
            }
            IdProblem::ControlCharacter => write!(f, "a {kind} cannot hold control characters"),
            IdProblem::SurroundingSpace => {
                write!(f, "a {kind} cannot start or end with white space")
            }
            IdProblem::NotAnAddress => write!(f, "a {kind} has the form name@domain"),
        }
    }
}

impl std::error::Error for IdError {}

fn check(s: &str, kind: &'static str) -> Result<(), IdError> {
    let fail = |problem| Err(IdError { kind, problem });
    if s.is_empty() {
        return fail(IdProblem::Empty);
    }
    if s.len() > MAX_ID_LEN {
        return fail(IdProblem::TooLong(s.len()));
    }
    if s.chars().any(char::is_control) {
        return fail(IdProblem::ControlCharacter);
    }
    if s.trim() != s {
        return fail(IdProblem::SurroundingSpace);
    }
    Ok(())
}

/// What every id type can do, for code that handles ids of any kind (the store's row readers).
pub trait Id: Sized {
    /// See each type's `trusted`.
    fn trusted_id(s: String) -> Self;
    fn id_str(&self) -> &str;
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal $(, extra = $extra:path)?) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// What this id is called in errors.
            pub const KIND: &'static str = $kind;

            /// Checks `s` and keeps it exactly as given.
            pub fn parse(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                check(&s, $kind)?;
                $($extra(&s).map_err(|problem| IdError { kind: $kind, problem })?;)?
                Ok(Self(s))
            }

            /// An id read back from the store, which holds only ids that were parsed on their
            /// way in (or by an earlier version with the same rules).
            pub fn trusted(s: impl Into<String>) -> Self {
                Self(s.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl Id for $name {
            fn trusted_id(s: String) -> Self {
                Self(s)
            }
            fn id_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        /// Read access to the text (formatting, comparing, SQL parameters); there is no way back
        /// from a `&str` but `parse`.
        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// An Azure AD (Entra) tenant: a GUID in Teams, any id-shaped string in imports and tests.
    TenantId,
    "tenant id"
);
id_type!(
    /// An Azure AD object: a user (`aadObjectId`) or a Microsoft 365 group.
    AadObjectId,
    "AAD object id"
);
id_type!(
    /// A user principal name (`name@domain`), kept as given; compare with [`Upn::same_person`].
    Upn,
    "UPN",
    extra = upn_shape
);
id_type!(
    /// The id Teams gives a user for this bot (`29:…` today; never assume it).
    TeamsUserId,
    "Teams user id"
);
id_type!(
    /// A Bot Framework conversation: a 1:1 chat, a group chat, a channel or a team.
    ConversationId,
    "conversation id"
);
id_type!(
    /// A notification Herald accepted (`ntf_…` for those it made; any id-shaped string is
    /// looked up, and one that is not there is simply unknown).
    NotificationId,
    "notification id"
);

fn upn_shape(s: &str) -> Result<(), IdProblem> {
    match s.split_once('@') {
        Some((name, domain)) if !name.is_empty() && !domain.is_empty() && !domain.contains('@') => {
            Ok(())
        }
        _ => Err(IdProblem::NotAnAddress),
    }
}

impl Upn {
    /// UPNs name the same person whatever their letter case (Azure AD compares them so).
    pub fn same_person(&self, other: &Upn) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }

    /// The UPN in lower case: the key under which a signed-in user's tokens are kept.
    pub fn to_lowercase(&self) -> Upn {
        Upn(self.0.to_lowercase())
    }

    /// Guests' UPNs in the host tenant carry `#EXT#`.
    pub fn is_guest(&self) -> bool {
        self.0.to_ascii_uppercase().contains("#EXT#")
    }
}

impl TeamsUserId {
    /// Teams takes a user's AAD object id where it asks for their Teams id (the members of a
    /// CreateConversation): what Herald uses until Teams has told it the Teams id.
    pub fn from_aad(aad: &AadObjectId) -> Self {
        Self(aad.0.clone())
    }
}

/// Whether `s` has the 8-4-4-4-12 hexadecimal shape of a GUID (an AAD object, tenant or app id).
pub fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// How a notification names a user in `to.users`: Teams and Graph know people by three names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UserRef {
    /// Has an `@`.
    Upn(Upn),
    /// GUID-shaped.
    AadObjectId(AadObjectId),
    /// Anything else: only a stored conversation reference knows it.
    TeamsUser(TeamsUserId),
}

impl UserRef {
    /// Tells the three apart by shape (an `@`, a GUID, anything else); surrounding space is
    /// trimmed as a user would expect.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let s = s.trim();
        if s.contains('@') {
            Upn::parse(s).map(Self::Upn)
        } else if is_guid(s) {
            AadObjectId::parse(s).map(Self::AadObjectId)
        } else {
            TeamsUserId::parse(s).map(Self::TeamsUser)
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Upn(u) => u.as_str(),
            Self::AadObjectId(a) => a.as_str(),
            Self::TeamsUser(t) => t.as_str(),
        }
    }
}

/// How a notification names a team in `to.teams`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TeamRef {
    /// Its Microsoft 365 group id (a GUID): Graph knows it by that.
    Group(AadObjectId),
    /// The id Teams gave the bot for it (any other shape, `19:…@thread.tacv2` today): only the
    /// store, which learnt it from Teams' activities, maps it to a group.
    Conversation(ConversationId),
}

impl TeamRef {
    /// Tells a group id from a Teams id by the GUID shape, not by a prefix.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let s = s.trim();
        if is_guid(s) {
            AadObjectId::parse(s).map(Self::Group)
        } else {
            ConversationId::parse(s).map(Self::Conversation)
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Group(g) => g.as_str(),
            Self::Conversation(c) => c.as_str(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn teams_are_named_by_group_or_by_teams_id() {
        let g = "d6c5e9a2-3b1f-4c8e-9f7a-2b4d6e8f0a1c";
        assert_eq!(
            TeamRef::parse(g).unwrap(),
            TeamRef::Group(AadObjectId::parse(g).unwrap())
        );
        let c = "19:abc@thread.tacv2";
        assert_eq!(
            TeamRef::parse(c).unwrap(),
            TeamRef::Conversation(ConversationId::parse(c).unwrap())
        );
    }

    #[test]
    fn users_are_named_three_ways() {
        assert!(
            matches!(UserRef::parse(" a@b.example "), Ok(UserRef::Upn(u)) if u == "a@b.example")
        );
        assert!(matches!(
            UserRef::parse("d6c5e9a2-3b1f-4c8e-9f7a-2b4d6e8f0a1c"),
            Ok(UserRef::AadObjectId(_))
        ));
        assert!(matches!(
            UserRef::parse("29:1abc"),
            Ok(UserRef::TeamsUser(_))
        ));
        assert!(UserRef::parse("a@b@c").is_err());
        assert!(UserRef::parse("").is_err());
    }

    #[test]
    fn guid_shape() {
        assert!(is_guid("d6c5e9a2-3b1f-4c8e-9f7a-2b4d6e8f0a1c"));
        assert!(!is_guid("user1@sandbox.example"));
        assert!(!is_guid("29:1abc"));
        assert!(!is_guid("d6c5e9a2-3b1f-4c8e-9f7a-2b4d6e8f0a1"));
    }

    #[test]
    fn hostile_ids_are_refused_with_the_limit_named() {
        let long = "x".repeat(MAX_ID_LEN + 1);
        let e = TenantId::parse(long).unwrap_err();
        assert_eq!(e.problem, IdProblem::TooLong(MAX_ID_LEN + 1));
        assert!(e.to_string().contains("at most 256"), "{e}");
        assert!(TeamsUserId::parse("29:a\u{0}b").is_err());
        assert!(ConversationId::parse(" a:1").is_err());
        assert!(AadObjectId::parse("").is_err());
        assert!(TenantId::parse("x".repeat(MAX_ID_LEN)).is_ok());
        // Deserialising checks too.
        assert!(serde_json::from_str::<TenantId>("\"\"").is_err());
        assert_eq!(
            serde_json::from_str::<TenantId>("\"t1\"").unwrap(),
            TenantId::trusted("t1")
        );
    }

    #[test]
    fn upns_compare_without_case() {
        let a = Upn::parse("Ada@Example.com").unwrap();
        let b = Upn::parse("ada@example.com").unwrap();
        assert!(a.same_person(&b));
        assert_ne!(a, b, "kept exactly as given");
        assert_eq!(a.to_lowercase(), b);
        assert!(Upn::parse("bob_x.com#EXT#@t.onmicrosoft.com")
            .unwrap()
            .is_guest());
    }
}
