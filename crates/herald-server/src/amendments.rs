//! `POST /v1/notifications/{id}/recall` and `/edit`: taking back or fixing a notification that
//! went out. The request is recorded and answered at once (202); the engine's amendment worker
//! changes the messages at Teams' pace (`herald_engine`'s `amend`), and the notification shows
//! its progress (`recall` / `edit`).

use crate::access::{Caller, Scope};
use crate::dto::{NotificationSummary, ProblemDetails};
use crate::notifications::summary;
use crate::problem::{store_err, Problem};
use crate::state::App;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use herald_core::ids::NotificationId;
use herald_engine::request;
use herald_store::{AmendKind, Amended, Notification};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/v1/notifications/{id}/recall", post(recall))
        .route("/v1/notifications/{id}/edit", post(edit))
}

fn respond(r: Result<Response, Problem>) -> Response {
    r.unwrap_or_else(IntoResponse::into_response)
}

/// The notification, if the caller may change it: the bot's messages need `send`. Messages sent
/// as a user would be changed through Graph (`softDelete`, `PATCH`), which Herald does not do yet.
async fn changeable(
    app: &App,
    caller: &Caller,
    id: &str,
    what: &str,
) -> Result<(Notification, std::sync::Arc<herald_engine::StoredRequest>), Problem> {
    let id: NotificationId = crate::params::notification_id(id)?;
    let n = app
        .store
        .get_notification(&id)
        .await
        .map_err(store_err)?
        .ok_or_else(|| Problem::unknown_notification(&id))?;
    caller.require(Scope::Send)?;
    let stored = app
        .engine
        .stored_request(&n.id)
        .await
        .ok_or_else(|| Problem::internal("the notification's request cannot be read", &id))?;
    if stored.request.options.as_user.is_some() {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not-supported",
            format!("notification `{id}` was sent as a user: Herald cannot {what} messages sent as a user yet, only the bot's"),
        )
        .at("/options/asUser"));
    }
    Ok((n, stored))
}

fn conflict(id: &NotificationId, why: String) -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        "amendment-conflict",
        format!("notification `{id}`: {why}"),
    )
}

/// Recall: cancel what is not sent yet, end any wait for answers, and delete every message that
/// was delivered (paced by the tenant's budget).
#[utoipa::path(
    post,
    path = "/v1/notifications/{id}/recall",
    params(("id" = String, Path, description = "The notification")),
    responses(
        (status = 202, description = "Recalling: see `recall` in the notification", body = NotificationSummary),
        (status = 403, description = "The token lacks `send`", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "It has already been recalled", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "It was sent as a user", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn recall(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let caller = app.authenticate(&headers)?;
            let (n, _) = changeable(&app, &caller, &id, "recall").await?;
            let now = app.clock.now_ms();
            match app
                .store
                .amend(&n.id, AmendKind::Recall, None, Some(&caller.name), now)
                .await
                .map_err(store_err)?
            {
                Amended::Conflict(why) => return Err(conflict(&n.id, why)),
                Amended::Started(_) => {}
            }
            // Nothing more is sent from now on (the worker does this again in case this node dies).
            app.store
                .cancel_notification(&n.id, now)
                .await
                .map_err(store_err)?;
            app.store.end_waits(&n.id, now).await.map_err(store_err)?;
            let n = app
                .store
                .get_notification(&n.id)
                .await
                .map_err(store_err)?
                .unwrap_or(n);
            Ok((StatusCode::ACCEPTED, Json(summary(&app, &n).await?)).into_response())
        }
        .await,
    )
}

/// Edit: every delivered message becomes the new one, rendered for its recipient; answered cards
/// keep what their answer made of them.
#[utoipa::path(
    post,
    path = "/v1/notifications/{id}/edit",
    params(("id" = String, Path, description = "The notification")),
    request_body(content = Object, description = "{`message`: {`text` | `card` [+ `data`]}}, checked as a notification's message is"),
    responses(
        (status = 202, description = "Editing: see `edit` in the notification", body = NotificationSummary),
        (status = 400, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks `send`", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Another edit is running, or it was recalled", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn edit(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    respond(
        async {
            let caller = app.authenticate(&headers)?;
            let (n, stored) = changeable(&app, &caller, &id, "edit").await?;
            let bytes = app.read_body(body).await?;
            let settings = app.request_settings();
            let original = stored.request.clone();
            // Checked as the notification's own message was (a card compiles, fits, can be answered
            // if answers are awaited), off the async workers.
            let message = tokio::task::spawn_blocking(move || {
                let message = request::parse_edit(&bytes)?;
                let mut req = original;
                req.message = message.clone();
                req.send_at = None;
                req.validate(settings)?;
                Ok::<_, Problem>(message)
            })
            .await
            .map_err(|e| Problem::internal("checking the edit failed", &e))??;
            let text = serde_json::to_string(&message)
                .map_err(|e| Problem::internal("the edit cannot be kept", &e))?;
            match app
                .store
                .amend(
                    &n.id,
                    AmendKind::Edit,
                    Some(&text),
                    Some(&caller.name),
                    app.clock.now_ms(),
                )
                .await
                .map_err(store_err)?
            {
                Amended::Conflict(why) => return Err(conflict(&n.id, why)),
                Amended::Started(_) => {}
            }
            Ok((StatusCode::ACCEPTED, Json(summary(&app, &n).await?)).into_response())
        }
        .await,
    )
}
