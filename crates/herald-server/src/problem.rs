//! `application/problem+json` (RFC 9457) for every error Herald's own API answers: a stable
//! `type`, a human `detail`, and for bad input the JSON pointer (or parameter) of what is wrong.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use herald_engine::request::{Refusal, RequestError};
use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub kind: &'static str,
    pub detail: String,
    pub pointer: Option<String>,
    /// Extension members (RFC 9457 §3.2), e.g. the `scope` a token lacks.
    pub extra: Vec<(&'static str, Value)>,
}

impl Problem {
    pub fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            detail: detail.into(),
            pointer: None,
            extra: Vec::new(),
        }
    }

    pub fn with(mut self, member: &'static str, value: Value) -> Self {
        self.extra.push((member, value));
        self
    }

    pub fn at(mut self, pointer: impl Into<String>) -> Self {
        self.pointer = Some(pointer.into());
        self
    }

    /// 404 for a notification id that names none (every route spells it this one way).
    pub fn unknown_notification(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "unknown-notification",
            format!("no notification `{id}`"),
        )
    }

    /// A server-side failure: the cause is logged, never returned.
    pub fn internal(what: &str, cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "{what}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("{what}; the server log has the cause"),
        )
    }
}

impl From<RequestError> for Problem {
    fn from(e: RequestError) -> Self {
        let status = match e.refusal {
            Refusal::Unparseable => StatusCode::BAD_REQUEST,
            Refusal::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            Refusal::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        };
        Self {
            status,
            kind: e.kind,
            detail: e.detail,
            pointer: e.pointer,
            extra: Vec::new(),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut body = json!({
            "type": format!("https://herald.dev/problems/{}", self.kind),
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        if let Some(p) = self.pointer {
            body["pointer"] = json!(p);
        }
        for (k, v) in self.extra {
            body[k] = v;
        }
        let mut r = (self.status, axum::Json(body)).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        r
    }
}

/// The store failed: a 500 whose cause is logged, never returned.
pub fn store_err(e: herald_store::StoreError) -> Problem {
    Problem::internal("the store failed", &e)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The engine says how a request is wrong; each kind of wrong has its status.
    #[test]
    fn refused_requests_get_their_status() {
        for (refusal, status) in [
            (Refusal::Unparseable, StatusCode::BAD_REQUEST),
            (Refusal::Invalid, StatusCode::UNPROCESSABLE_ENTITY),
            (Refusal::TooLarge, StatusCode::PAYLOAD_TOO_LARGE),
        ] {
            let p = Problem::from(RequestError::new(refusal, "k", "why").at("/to"));
            assert_eq!(p.status, status);
            assert_eq!((p.kind, p.detail.as_str()), ("k", "why"));
            assert_eq!(p.pointer.as_deref(), Some("/to"));
        }
    }
}
