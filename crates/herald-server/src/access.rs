//! Who may call Herald's API, and what each caller may do (SPEC §6 "Access and tenants").
//!
//! `HERALD_API_TOKENS` is a comma-separated list of `NAME:SECRET[:SCOPES]`; scopes are joined by
//! `+`: `read` (every GET), `send` (create and cancel as the bot), `send-as:UPN` (repeatable) or
//! `send-as:*` (create as a signed-in user), `admin` (imports and other administration). No
//! scopes means `read+send`. A bare `SECRET`, the first form Herald knew, keeps the powers it
//! had: it becomes `default:SECRET:read+send+admin` (`default-2`, … for more), with a warning.
//!
//! A caller presents its secret as `Authorization: Bearer SECRET` or `X-Api-Key: SECRET`; the
//! secret is compared with every configured one in constant time. What a notification records
//! as `createdBy` is the token's name, never its secret.

use crate::config::Secret;
use crate::problem::Problem;
use axum::http::{header, HeaderMap, StatusCode};
use serde_json::json;
use std::fmt;
use subtle::ConstantTimeEq;

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
    fn all() -> Self {
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

/// Who is calling: the token's name and what it may do.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    scopes: Scopes,
}

impl Caller {
    /// The sandbox with no tokens configured: a person on their own machine.
    pub fn sandbox() -> Self {
        Self {
            name: "sandbox".into(),
            scopes: Scopes::all(),
        }
    }

    pub fn may(&self, need: &Scope) -> bool {
        self.scopes.allow(need)
    }

    /// Whether it may create notifications at all: as the bot, or as some signed-in user.
    pub fn may_send(&self) -> bool {
        let s = &self.scopes;
        s.send || s.send_as_anyone || !s.send_as.is_empty()
    }

    /// 403 naming the scope when the caller lacks it.
    pub fn require(&self, need: Scope) -> Result<(), Problem> {
        if self.may(&need) {
            return Ok(());
        }
        Err(Problem::new(
            StatusCode::FORBIDDEN,
            "missing-scope",
            format!(
                "the API token `{}` lacks the scope `{need}`; give it that scope in HERALD_API_TOKENS (NAME:SECRET:SCOPES, scopes joined by +)",
                self.name
            ),
        )
        .with("scope", json!(need.to_string())))
    }
}

/// The secret a request presents: `Authorization: Bearer …` or `X-Api-Key: …`.
fn presented(headers: &HeaderMap) -> Option<&[u8]> {
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        let v = v.as_bytes();
        let scheme = b"bearer ";
        if v.len() > scheme.len() && v[..scheme.len()].eq_ignore_ascii_case(scheme) {
            return Some(v[scheme.len()..].trim_ascii());
        }
        return None;
    }
    headers.get("x-api-key").map(|v| v.as_bytes().trim_ascii())
}

/// The caller of a request, if its token is one of `tokens` and grants `need`.
pub fn authorize(
    tokens: &[ApiToken],
    sandbox: bool,
    headers: &HeaderMap,
    need: Scope,
) -> Result<Caller, Problem> {
    let caller = authenticate(tokens, sandbox, headers)?;
    caller.require(need)?;
    Ok(caller)
}

/// The caller of a request, if its token is one of `tokens`; what it may do is checked apart.
pub fn authenticate(
    tokens: &[ApiToken],
    sandbox: bool,
    headers: &HeaderMap,
) -> Result<Caller, Problem> {
    if sandbox && tokens.is_empty() {
        return Ok(Caller::sandbox());
    }
    if tokens.is_empty() {
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "no API tokens are configured: set HERALD_API_TOKENS (NAME:SECRET[:SCOPES], comma-separated) and send one as a bearer token",
        ));
    }
    let secret = presented(headers).unwrap_or_default();
    // Every token is compared, so timing tells nothing about which one matched, or how much.
    let mut found: Option<&ApiToken> = None;
    for t in tokens {
        let hit = t.secret.expose().as_bytes().ct_eq(secret);
        if bool::from(hit) {
            found = Some(t);
        }
    }
    let Some(t) = found.filter(|_| !secret.is_empty()) else {
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send a valid API token: Authorization: Bearer <secret> or X-Api-Key: <secret>",
        ));
    };
    Ok(Caller {
        name: t.name.clone(),
        scopes: t.scopes.clone(),
    })
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

    #[test]
    fn callers_are_found_by_either_header() {
        let tokens = parse_tokens("ci:s3cret:read").unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-api-key", "s3cret".parse().unwrap());
        assert_eq!(
            authorize(&tokens, false, &h, Scope::Read).unwrap().name,
            "ci"
        );
        let p = authorize(&tokens, false, &h, Scope::Send).unwrap_err();
        assert_eq!(p.status, StatusCode::FORBIDDEN);
        assert!(p.detail.contains("`send`"), "{}", p.detail);
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "bearer s3cret".parse().unwrap());
        assert!(authorize(&tokens, false, &h, Scope::Read).is_ok());
        h.insert(header::AUTHORIZATION, "Bearer s3cre".parse().unwrap());
        assert_eq!(
            authorize(&tokens, false, &h, Scope::Read)
                .unwrap_err()
                .status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            authorize(&[], true, &HeaderMap::new(), Scope::Admin)
                .unwrap()
                .name,
            "sandbox"
        );
    }
}
