//! Who may call Herald's API, and what each caller may do (docs/reference.md).
//!
//! `HERALD_API_TOKENS` is a comma-separated list of `NAME:SECRET[:SCOPES]`; scopes are joined by
//! `+`: `read` (every GET), `send` (create and cancel as the bot), `send-as:UPN` (repeatable) or
//! `send-as:*` (create as a signed-in user), `admin` (imports and other administration). No
//! scopes means `read+send`. A bare `SECRET`, the first form Herald knew, keeps the powers it
//! had: it becomes `default:SECRET:read+send+admin` (`default-2`, … for more), with a warning.
//!
//! How a caller presents a token is the HTTP layer's business (`herald-server`'s `access`). What a
//! notification records as `createdBy` is the token's name, never its secret.

use crate::secret::Secret;
use std::fmt;

/// What a token may do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes {
    pub read: bool,
    pub send: bool,
    pub admin: bool,
    /// `send-as:*`.
    pub send_as_anyone: bool,
    /// `send-as:UPN`, lower case.
    pub send_as: Vec<String>,
}

impl Scopes {
    /// Every scope (the sandbox with no tokens, a person on their own machine).
    pub fn all() -> Self {
        Self {
            read: true,
            send: true,
            admin: true,
            send_as_anyone: true,
            send_as: Vec::new(),
        }
    }

    /// Whether these scopes grant `need`.
    pub fn allow(&self, need: &Scope) -> bool {
        match need {
            Scope::Read => self.read,
            Scope::Send => self.send,
            Scope::Admin => self.admin,
            Scope::SendAs(upn) => {
                self.send_as_anyone || self.send_as.iter().any(|u| u.eq_ignore_ascii_case(upn))
            }
        }
    }

    fn parse(spec: &str) -> Result<Self, String> {
        let mut s = Scopes::default();
        for part in spec.split('+').map(str::trim) {
            match part {
                "read" => s.read = true,
                "send" => s.send = true,
                "admin" => s.admin = true,
                "send-as:*" => s.send_as_anyone = true,
                _ => match part.strip_prefix("send-as:") {
                    Some(upn) if upn.contains('@') && !upn.contains(char::is_whitespace) => {
                        s.send_as.push(upn.to_ascii_lowercase())
                    }
                    Some(upn) => {
                        return Err(format!(
                            "`send-as:{upn}` does not name a user (send-as:ada@contoso.com, or send-as:*)"
                        ))
                    }
                    None => {
                        return Err(format!(
                            "unknown scope `{part}` (the scopes are read, send, send-as:UPN, send-as:* and admin, joined by +)"
                        ))
                    }
                },
            }
        }
        Ok(s)
    }
}

/// A scope an operation needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Read,
    Send,
    Admin,
    /// Sending as this signed-in user.
    SendAs(String),
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Read => f.write_str("read"),
            Scope::Send => f.write_str("send"),
            Scope::Admin => f.write_str("admin"),
            Scope::SendAs(upn) => write!(f, "send-as:{upn}"),
        }
    }
}

/// One configured API token.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub name: String,
    pub secret: Secret,
    pub scopes: Scopes,
    /// Written as a bare secret (the old form): it has every scope but `send-as`.
    pub legacy: bool,
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiToken")
            .field("name", &self.name)
            .field("secret", &self.secret)
            .field("scopes", &self.scopes)
            .finish()
    }
}

fn valid_name(n: &str) -> bool {
    (1..=64).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Parses `HERALD_API_TOKENS`. Errors name the entry by its name or position, never its secret.
pub fn parse_tokens(spec: &str) -> Result<Vec<ApiToken>, String> {
    let mut out: Vec<ApiToken> = Vec::new();
    let mut bare = 0;
    for (i, entry) in spec
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .enumerate()
    {
        let mut parts = entry.splitn(3, ':');
        let first = parts.next().unwrap_or("");
        let token = match (parts.next(), parts.next()) {
            (None, _) => {
                bare += 1;
                ApiToken {
                    name: if bare == 1 {
                        "default".into()
                    } else {
                        format!("default-{bare}")
                    },
                    secret: Secret::new(first),
                    scopes: Scopes {
                        read: true,
                        send: true,
                        admin: true,
                        ..Scopes::default()
                    },
                    legacy: true,
                }
            }
            (Some(secret), scopes) => {
                if !valid_name(first) {
                    return Err(format!(
                        "entry {}: the name `{first}` must be 1 to 64 letters, digits, `-`, `_` or `.`",
                        i + 1
                    ));
                }
                if secret.trim().is_empty() {
                    return Err(format!("token `{first}` has an empty secret"));
                }
                let scopes = match scopes {
                    None => Scopes {
                        read: true,
                        send: true,
                        ..Scopes::default()
                    },
                    Some(s) => Scopes::parse(s).map_err(|e| format!("token `{first}`: {e}"))?,
                };
                ApiToken {
                    name: first.to_owned(),
                    secret: Secret::new(secret.trim()),
                    scopes,
                    legacy: false,
                }
            }
        };
        if token.secret.expose().contains(char::is_whitespace) {
            return Err(format!("token `{}`: a secret has no spaces", token.name));
        }
        if let Some(other) = out.iter().find(|t| t.name == token.name) {
            return Err(format!("two tokens are named `{}`", other.name));
        }
        if let Some(other) = out.iter().find(|t| t.secret == token.secret) {
            return Err(format!(
                "tokens `{}` and `{}` have the same secret",
                other.name, token.name
            ));
        }
        out.push(token);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forms_of_a_token() {
        let t = parse_tokens(
            "ci:s3cret, ops:xyz:read+admin , hr:abc:send+send-as:Ada@x.example+read, plain, other",
        )
        .unwrap();
        assert_eq!(t.len(), 5);
        assert_eq!(t[0].name, "ci");
        assert!(t[0].scopes.read && t[0].scopes.send && !t[0].scopes.admin);
        assert!(t[1].scopes.admin && !t[1].scopes.send);
        assert!(t[2].scopes.allow(&Scope::SendAs("ada@x.example".into())));
        assert!(!t[2].scopes.allow(&Scope::SendAs("kim@x.example".into())));
        assert_eq!((t[3].name.as_str(), t[3].legacy), ("default", true));
        assert!(t[3].scopes.admin && t[3].scopes.send && t[3].scopes.read);
        assert!(!t[3].scopes.allow(&Scope::SendAs("ada@x.example".into())));
        assert_eq!(t[4].name, "default-2");
        assert!(
            !format!("{t:?}").contains("s3cret"),
            "secrets stay out of Debug"
        );
    }

    #[test]
    fn bad_entries_are_named_without_their_secret() {
        for (spec, needle) in [
            ("a:s1:write", "unknown scope `write`"),
            ("a:s1:send-as:nobody", "does not name a user"),
            ("a:s1,a:s2", "two tokens are named `a`"),
            ("a:zz9,b:zz9", "same secret"),
            ("bad name:s1", "the name"),
            ("a::read", "empty secret"),
        ] {
            let e = parse_tokens(spec).unwrap_err();
            assert!(e.contains(needle), "{spec}: {e}");
            assert!(!e.contains("s1") && !e.contains("zz9"), "{e}");
        }
    }
}
