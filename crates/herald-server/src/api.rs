//! Herald's HTTP API under `/v1`, behind API bearer tokens (`HERALD_API_TOKENS`, compared in
//! constant time).

use crate::app::App;
use crate::problem::Problem;
use crate::teamsfx::{self, Entry, Skipped};
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use herald_store::{ListQuery, RefState};
use serde_json::{json, Value};
use std::collections::HashMap;
use subtle::ConstantTimeEq;

/// SPEC §4: request bodies up to 64 MB.
pub const MAX_API_BODY: usize = 64 * 1024 * 1024;
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/v1/installations", get(list_installations))
        .route("/v1/installations/import", post(import))
        .merge(crate::notifications::routes())
}

/// The caller presents one of the configured API tokens.
pub fn authorize(app: &App, headers: &HeaderMap) -> Result<(), Problem> {
    if app.cfg.sandbox && app.cfg.api_tokens.is_empty() {
        return Ok(());
    }
    if app.cfg.api_tokens.is_empty() {
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "no API tokens are configured: set HERALD_API_TOKENS (comma-separated) and send one as a bearer token",
        ));
    }
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .as_bytes();
    // Every configured token is compared, so timing tells nothing about which one matched.
    let mut ok = subtle::Choice::from(0u8);
    for t in &app.cfg.api_tokens {
        ok |= t.expose().as_bytes().ct_eq(presented);
    }
    if bool::from(ok) {
        Ok(())
    } else {
        Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send a valid API token: Authorization: Bearer <one of HERALD_API_TOKENS>",
        ))
    }
}

/// `?cursor=` and `?limit=` of a listing: a cursor this API gave (a position) and a page size
/// within `1..=max`; each refusal names its parameter.
pub fn paging(
    q: &HashMap<String, String>,
    default: u32,
    max: u32,
) -> Result<(Option<i64>, u32), Problem> {
    let bad = |param: &str, detail: String| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-parameter",
            detail,
        )
        .at(format!("?{param}"))
    };
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

/// Stored conversation references, cursor-paged.
#[utoipa::path(
    get,
    path = "/v1/installations",
    params(
        ("state" = Option<String>, Query, description = "active or unreachable"),
        ("cursor" = Option<String>, Query, description = "`next` of the previous page"),
        ("limit" = Option<u32>, Query, description = "1 to 1000"),
    ),
    responses(
        (status = 200, body = crate::dto::InstallationPage),
        (status = 401, body = crate::dto::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, body = crate::dto::ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_installations(
    State(app): State<App>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let result: Result<Response, Problem> = async {
        authorize(&app, &headers)?;
        let q = query(raw.as_deref())?;
        let bad = |param: &str, detail: String| {
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-parameter",
                detail,
            )
            .at(format!("?{param}"))
        };
        let state = match q.get("state").map(String::as_str) {
            None | Some("") => None,
            Some(s) => Some(RefState::parse(s).ok_or_else(|| {
                bad("state", format!("state `{s}` is not active or unreachable"))
            })?),
        };
        let (after, limit) = paging(&q, DEFAULT_PAGE, MAX_PAGE)?;
        let items = app
            .store
            .list_references(&ListQuery {
                state,
                after,
                limit,
            })
            .await
            .map_err(|e| Problem::internal("cannot list installations", &e))?;
        let next = (items.len() == limit as usize)
            .then(|| items.last().map(|r| r.seq.to_string()))
            .flatten();
        Ok(Json(json!({"items": items, "next": next})).into_response())
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Import a Teams Toolkit notification bot's store (its JSON file as the body).
#[utoipa::path(
    post,
    path = "/v1/installations/import",
    request_body(content = Object, description = "The `.notification.localstore.json` file"),
    responses(
        (status = 200, body = crate::dto::ImportReport),
        (status = 400, body = crate::dto::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, body = crate::dto::ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn import(State(app): State<App>, headers: HeaderMap, body: Body) -> Response {
    let result: Result<Response, Problem> = async {
        authorize(&app, &headers)?;
        let bytes = axum::body::to_bytes(body, MAX_API_BODY)
            .await
            .map_err(|_| {
                Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body-too-large",
                    format!("the body must be at most {MAX_API_BODY} bytes"),
                )
            })?;
        let doc: Value = serde_json::from_slice(&bytes).map_err(|e| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-json",
                format!("the body is not JSON: {e}"),
            )
            .at("")
        })?;
        let (entries, mut skipped) = teamsfx::parse(&doc).map_err(|e| {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-store-file", e).at("")
        })?;
        let now = app.clock.now_ms();
        let (mut users, mut teams) = (0u64, 0u64);
        for e in entries {
            let url = match &e {
                Entry::User(r) => &r.service_url,
                Entry::Team(t) => &t.service_url,
            };
            if !app.cfg.allowed_service_urls.allows(url) {
                let key = match &e {
                    Entry::User(r) => r.conversation_id.clone().unwrap_or_default(),
                    Entry::Team(t) => t.team_id.clone(),
                };
                skipped.push(Skipped {
                    key,
                    reason: "serviceUrl is not in allowed_service_urls".into(),
                });
                continue;
            }
            let stored = match &e {
                Entry::User(r) => app
                    .store
                    .upsert_reference(r, false, now)
                    .await
                    .map(|_| users += 1),
                Entry::Team(t) => app.store.upsert_team(t, now).await.map(|_| teams += 1),
            };
            stored.map_err(|err| Problem::internal("cannot store an imported reference", &err))?;
        }
        Ok(
            Json(json!({"importedUsers": users, "importedTeams": teams, "skipped": skipped}))
                .into_response(),
        )
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}
