//! `/v1/installations`: the stored conversation references, and the import of a Teams Toolkit
//! notification store.

use crate::access::Scope;
use crate::params::{paging, query};
use crate::problem::Problem;
use crate::state::App;
use crate::teamsfx::{self, Entry, Skipped};
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use herald_store::{ChatState, ListQuery, RefState, Reference, TeamState};
use serde_json::{json, Value};

const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/v1/installations", get(list_installations))
        .route("/v1/installations/import", post(import))
}

/// Stored conversation references, cursor-paged: users' 1:1 chats (`personal`, the default),
/// the group chats the bot is in (`groupChat`), or the teams it is installed in (`channel`, each
/// team's General channel).
#[utoipa::path(
    get,
    path = "/v1/installations",
    operation_id = "listInstallations",
    params(
        ("type" = Option<String>, Query, description = "personal (default), groupChat or channel"),
        ("state" = Option<String>, Query, description = "personal: active or unreachable; groupChat: active or removed; channel: active, removed or deleted"),
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
        app.authorize(&headers, Scope::Read)?;
        let q = query(raw.as_deref())?;
        let bad = crate::params::invalid;
        let state = q.get("state").map(String::as_str).filter(|s| !s.is_empty());
        let (after, limit) = paging(&q, DEFAULT_PAGE, MAX_PAGE)?;
        let listing_failed =
            |e: herald_store::StoreError| Problem::internal("cannot list installations", &e);
        let (items, next): (Vec<Value>, Option<String>) = match q.get("type").map(String::as_str) {
            None | Some("" | "personal") => {
                let state = state
                    .map(|s| {
                        RefState::parse(s).ok_or_else(|| {
                            bad("state", format!("state `{s}` is not active or unreachable"))
                        })
                    })
                    .transpose()?;
                let rows = app
                    .store
                    .list_references(&ListQuery {
                        state,
                        after,
                        limit,
                    })
                    .await
                    .map_err(listing_failed)?;
                let next = (rows.len() == limit as usize)
                    .then(|| rows.last().map(|r| r.seq.to_string()))
                    .flatten();
                (rows.iter().map(|r| json!(r)).collect(), next)
            }
            Some("groupChat") => {
                let state = state
                    .map(|s| {
                        ChatState::parse(s).ok_or_else(|| {
                            bad("state", format!("state `{s}` is not active or removed"))
                        })
                    })
                    .transpose()?;
                let rows = app
                    .store
                    .list_chats(state, after, limit)
                    .await
                    .map_err(listing_failed)?;
                let next = (rows.len() == limit as usize)
                    .then(|| rows.last().map(|r| r.seq.to_string()))
                    .flatten();
                let items = rows
                    .iter()
                    .map(|c| {
                        let mut v = json!(c);
                        v["conversationType"] = json!("groupChat");
                        v
                    })
                    .collect();
                (items, next)
            }
            Some("channel") => {
                let state = state
                    .map(|s| {
                        TeamState::parse(s).ok_or_else(|| {
                            bad(
                                "state",
                                format!("state `{s}` is not active, removed or deleted"),
                            )
                        })
                    })
                    .transpose()?;
                // Teams are few: their cursor is a position.
                let offset = after.unwrap_or(0).max(0) as u64;
                let rows = app
                    .store
                    .list_teams(state, offset, limit)
                    .await
                    .map_err(listing_failed)?;
                let next = (rows.len() == limit as usize)
                    .then(|| (offset + rows.len() as u64).to_string());
                let items = rows
                    .iter()
                    .map(|t| {
                        let mut v = json!(t);
                        v["conversationType"] = json!("channel");
                        v["conversationId"] = json!(t.team.general_channel_id);
                        v
                    })
                    .collect();
                (items, next)
            }
            Some(other) => {
                return Err(bad(
                    "type",
                    format!("type `{other}` is not personal, groupChat or channel"),
                ))
            }
        };
        Ok(Json(json!({"items": items, "next": next})).into_response())
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Import a Teams Toolkit notification bot's store (its JSON file as the body).
#[utoipa::path(
    post,
    path = "/v1/installations/import",
    operation_id = "importInstallations",
    request_body(content = Object, description = "The `.notification.localstore.json` file"),
    responses(
        (status = 200, body = crate::dto::ImportReport),
        (status = 400, body = crate::dto::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks `admin`", body = crate::dto::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, body = crate::dto::ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn import(State(app): State<App>, headers: HeaderMap, body: Body) -> Response {
    let result: Result<Response, Problem> = async {
        app.authorize(&headers, Scope::Admin)?;
        let bytes = app.read_body(body).await?;
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
        // People are saved in chunks, each one transaction of multi-row statements, so an
        // import's cost per person stays flat however many the table already holds.
        const CHUNK: usize = 2_000;
        let mut people: Vec<Reference> = Vec::with_capacity(CHUNK);
        for e in entries {
            let url = match &e {
                Entry::User(r) => &r.service_url,
                Entry::Team(t) => &t.service_url,
            };
            if !app.cfg.allowed_service_urls.allows(url) {
                let key = match &e {
                    Entry::User(r) => r
                        .conversation_id
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    Entry::Team(t) => t.team_id.to_string(),
                };
                skipped.push(Skipped {
                    key,
                    reason: "serviceUrl is not in allowed_service_urls".into(),
                });
                continue;
            }
            match e {
                Entry::User(r) => {
                    people.push(r);
                    if people.len() == CHUNK {
                        users += save_people(&app, &people, now).await?;
                        people.clear();
                    }
                }
                Entry::Team(t) => {
                    app.store.upsert_team(&t, now).await.map_err(|err| {
                        Problem::internal("cannot store an imported reference", &err)
                    })?;
                    teams += 1;
                }
            }
        }
        users += save_people(&app, &people, now).await?;
        Ok(
            Json(json!({"importedUsers": users, "importedTeams": teams, "skipped": skipped}))
                .into_response(),
        )
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn save_people(app: &App, people: &[Reference], now: u64) -> Result<u64, Problem> {
    if people.is_empty() {
        return Ok(0);
    }
    app.store
        .upsert_references(people, false, now)
        .await
        .map_err(|err| Problem::internal("cannot store imported references", &err))
}
