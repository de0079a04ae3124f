//! The query of an API request: parsed once, each refusal naming its parameter.

use crate::problem::Problem;
use axum::http::StatusCode;
use std::collections::HashMap;

/// `?cursor=` and `?limit=` of a listing: a cursor this API gave (a position) and a page size
/// within `1..=max`; each refusal names its parameter.
pub fn paging(
    q: &HashMap<String, String>,
    default: u32,
    max: u32,
) -> Result<(Option<i64>, u32), Problem> {
    let bad = invalid;
    let cursor = match q.get("cursor").map(String::as_str) {
        None | Some("") => None,
        Some(c) => Some(
            c.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| bad("cursor", format!("cursor `{c}` is not one this API gave")))?,
        ),
    };
    let limit = match q.get("limit").map(String::as_str) {
        None | Some("") => default,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| bad("limit", format!("limit `{l}` is not between 1 and {max}")))?,
    };
    Ok((cursor, limit))
}

pub fn query(raw: Option<&str>) -> Result<HashMap<String, String>, Problem> {
    serde_urlencoded::from_str(raw.unwrap_or("")).map_err(|_| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-query",
            "the query string cannot be parsed",
        )
    })
}

/// 422 for a query parameter that parses but is not one the route takes, naming it (`?name`).
pub fn invalid(param: &str, detail: String) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-parameter",
        detail,
    )
    .at(format!("?{param}"))
}

/// A notification id from a path: one that is no id names no notification (404).
pub fn notification_id(raw: &str) -> Result<herald_core::ids::NotificationId, Problem> {
    herald_core::ids::NotificationId::parse(raw).map_err(|_| Problem::unknown_notification(raw))
}
