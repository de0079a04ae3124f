//! `GET /v1/notifications/{id}/responses[?wait=SECONDS]`: each recipient's answer and the tally,
//! long-polled when asked. The work answers set going (callbacks, card updates) is the engine's
//! (`herald_engine::callbacks`).

use crate::access::Scope;
use crate::dto::{ProblemDetails, ResponseCounts, ResponseItem, ResponsePage};
use crate::http::LONG_POLL_MAX_S;
use crate::params::{paging, query};
use crate::problem::Problem;
use crate::state::App;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::Json;
use herald_core::clock::rfc3339_ms;
use herald_store::{NotificationState, Response};
use std::time::Duration;

use crate::problem::store_err;

pub fn item(r: &Response) -> ResponseItem {
    ResponseItem {
        recipient: r.recipient.clone(),
        state: r.state.as_str().to_owned(),
        submit_action_id: r.action_title.clone(),
        action_id: r.action_id.clone(),
        verb: r.verb.clone(),
        inputs: r
            .inputs
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok()),
        responded_at: r.responded_at.map(rfc3339_ms),
        answers: r.answers,
    }
}

/// Each recipient's answer, a tally per action, and counts; long-polls with `?wait=` until nobody
/// is awaited any more (or the wait ends).
#[utoipa::path(
    get,
    path = "/v1/notifications/{id}/responses",
    operation_id = "listResponses",
    params(
        ("id" = String, Path, description = "The notification"),
        ("wait" = Option<u64>, Query, description = "Seconds to wait (at most 300) for every awaited answer (or timeout)"),
        ("cursor" = Option<String>, Query, description = "`next` of the previous page"),
        ("limit" = Option<u32>, Query, description = "1 to 1000"),
    ),
    responses(
        (status = 200, body = ResponsePage),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn responses(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> HttpResponse {
    page(&app, &headers, &id, raw.as_deref())
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn page(
    app: &App,
    headers: &HeaderMap,
    id: &str,
    raw: Option<&str>,
) -> Result<HttpResponse, Problem> {
    app.authorize(headers, Scope::Read)?;
    let id = &crate::params::notification_id(id)?;
    let q = query(raw)?;
    let (after, limit) = paging(&q, 100, 1000)?;
    let wait = match q.get("wait").map(String::as_str) {
        None | Some("") => 0,
        Some(w) => w
            .parse::<u64>()
            .ok()
            .filter(|w| *w <= LONG_POLL_MAX_S)
            .ok_or_else(|| {
                crate::params::invalid(
                    "wait",
                    format!("wait `{w}` is not a number of seconds from 0 to {LONG_POLL_MAX_S}"),
                )
            })?,
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    loop {
        // Listen before looking, so that a change in between is not missed.
        let changed = app.engine.responses_changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let n = app
            .store
            .get_notification(id)
            .await
            .map_err(store_err)?
            .ok_or_else(|| Problem::unknown_notification(id.as_str()))?;
        let tally = app.store.response_tally(id).await.map_err(store_err)?;
        let finished = matches!(
            n.state,
            NotificationState::Completed | NotificationState::Canceled
        );
        let done = finished && tally.waiting == 0;
        if done || tokio::time::Instant::now() >= deadline {
            let rows = app
                .store
                .list_responses(id, after.unwrap_or(0), limit)
                .await
                .map_err(store_err)?;
            let next = (rows.len() == limit as usize)
                .then(|| rows.last().map(|r| r.seq.to_string()))
                .flatten();
            return Ok(Json(ResponsePage {
                items: rows.iter().map(item).collect(),
                next,
                tally: tally.by_action.into_iter().collect(),
                counts: ResponseCounts {
                    waiting: tally.waiting,
                    answered: tally.answered,
                    no_response: tally.no_response,
                },
                done,
            })
            .into_response());
        }
        // Deliveries finishing also end a wait: look again at least every second.
        let nap = deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .min(Duration::from_secs(1));
        tokio::select! {
            _ = &mut changed => {}
            _ = tokio::time::sleep(nap) => {}
        }
    }
}
