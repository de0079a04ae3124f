//! Who is calling Herald's API: the secret a request presents (`Authorization: Bearer SECRET` or
//! `X-Api-Key: SECRET`), compared with every configured token in constant time, and the 403 that
//! names a missing scope. The tokens and their scopes are `herald_engine::access`.

use crate::problem::Problem;
use axum::http::{header, HeaderMap, StatusCode};
pub use herald_engine::access::{ApiToken, Scope, Scopes};
use serde_json::json;
use subtle::ConstantTimeEq;

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
    use herald_engine::access::parse_tokens;

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
