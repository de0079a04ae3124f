//! Error bodies in each protocol's own shape: the Bot Connector's `ErrorResponse`, Graph's
//! `{"error":{…,"innerError"}}`, the identity platform's `AADSTS…`, and problem+json for the
//! emulator's own control API.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use herald_wire::connector::ErrorResponse;
use serde_json::json;

pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// A Bot Connector error.
pub fn connector(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (status, axum::Json(ErrorResponse::new(code, message))).into_response()
}

/// 429 with `Retry-After` in whole seconds.
pub fn throttled(body: Response, retry_after_ms: u64) -> Response {
    let mut r = body;
    let secs = herald_core::clock::retry_after_secs(retry_after_ms);
    r.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_str(&secs.to_string()).expect("digits are a valid header"),
    );
    r
}

/// A Graph error with its `innerError`.
pub fn graph(status: StatusCode, code: &str, message: impl Into<String>, now_ms: u64) -> Response {
    let request_id = crate::tenant::stable_guid(&format!("req/{now_ms}/{}", rand::random::<u64>()));
    let date = herald_core::clock::rfc3339_ms(now_ms);
    json_response(
        status,
        &json!({"error": {
            "code": code,
            "message": message.into(),
            "innerError": {"request-id": request_id, "client-request-id": request_id, "date": date},
        }}),
    )
}

/// An identity-platform error: `{"error","error_description":"AADSTSnnn: …","error_codes",…}`.
pub fn aad(status: StatusCode, error: &str, code: u32, description: &str, now_ms: u64) -> Response {
    let trace = crate::tenant::stable_guid(&format!("trace/{now_ms}/{}", rand::random::<u64>()));
    let ts = herald_core::clock::rfc3339_ms(now_ms).replace('T', " ");
    json_response(
        status,
        &json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {trace} Timestamp: {ts}"),
            "error_codes": [code],
            "timestamp": ts,
            "trace_id": trace,
            "correlation_id": trace,
        }),
    )
}

/// problem+json (RFC 9457) for the control API; `pointer` names what is wrong.
pub fn problem(
    status: StatusCode,
    kind: &str,
    detail: impl Into<String>,
    pointer: Option<&str>,
) -> Response {
    let mut body = json!({
        "type": format!("https://herald.dev/problems/{kind}"),
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail.into(),
    });
    if let Some(p) = pointer {
        body["pointer"] = json!(p);
    }
    let mut r = json_response(status, &body);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    r
}

/// Unknown paths: in the protocol of the prefix they fall under.
pub async fn not_found(uri: axum::http::Uri) -> Response {
    let path = uri.path();
    if path.starts_with("/v3/") {
        connector(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("No such operation: {path}"),
        )
    } else if path.starts_with("/v1.0/") {
        json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": {"code": "BadRequest", "message": format!("Resource not found for the segment '{}'.", path.rsplit('/').next().unwrap_or(""))}}),
        )
    } else {
        problem(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("nothing is served at {path}"),
            None,
        )
    }
}

/// Whether a request's `Content-Type` is JSON.
pub fn is_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            let v = v
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            v == "application/json" || v.ends_with("+json")
        })
        .unwrap_or(false)
}

/// Parses a JSON body for the control API, answering problem+json with where it broke.
pub fn control_json<T: serde::de::DeserializeOwned>(
    headers: &axum::http::HeaderMap,
    body: &[u8],
) -> Result<T, Response> {
    if !body.is_empty() && !is_json(headers) {
        return Err(problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "send the body as application/json",
            None,
        ));
    }
    let body = if body.is_empty() {
        b"{}".as_slice()
    } else {
        body
    };
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error(de)
}

fn serde_path_to_error<T: serde::de::DeserializeOwned>(
    de: &mut serde_json::Deserializer<serde_json::de::SliceRead<'_>>,
) -> Result<T, Response> {
    T::deserialize(de).map_err(|e| {
        let status = if e.is_syntax() || e.is_eof() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        problem(
            status,
            "invalid-body",
            format!("the body is not valid: {e}"),
            Some(""),
        )
    })
}
