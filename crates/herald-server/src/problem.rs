//! `application/problem+json` (RFC 9457) for every error Herald's own API answers: a stable
//! `type`, a human `detail`, and for bad input the JSON pointer (or parameter) of what is wrong.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
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
