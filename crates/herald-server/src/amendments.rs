//! `POST /v1/notifications/{id}/cancel`, `/recall` and `/edit`: stopping, taking back or fixing a
//! notification. A cancel takes effect at once; a recall or an edit is recorded and answered at
//! once (202), the engine's amendment worker changes the messages at Teams' pace
//! (`herald_engine`'s `amend`), and the notification shows its progress (`recall` / `edit`).

use crate::access::{Caller, Scope};
use crate::dto::{NotificationSummary, ProblemDetails};
use crate::notifications::{find, summary};
use crate::problem::{store_err, Problem};
use crate::state::App;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use herald_core::ids::{NotificationId, Upn};
use herald_engine::delegated::{self, DelegatedError};
use herald_engine::request;
use herald_store::{AmendKind, Amended, Notification};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/v1/notifications/{id}/cancel", post(cancel))
        .route("/v1/notifications/{id}/recall", post(recall))
        .route("/v1/notifications/{id}/edit", post(edit))
}

fn respond(r: Result<Response, Problem>) -> Response {
    r.unwrap_or_else(IntoResponse::into_response)
}

/// The notification, if the caller may change it: the bot's messages need `send`; messages sent
/// as a user need `send-as` for them (as sending did), and their sign-in must have granted
/// `Chat.ReadWrite` (Graph's `softDelete` and `PATCH`), else they are told to sign in again.
async fn changeable(
    app: &App,
    caller: &Caller,
    id: &str,
) -> Result<(Notification, std::sync::Arc<herald_engine::StoredRequest>), Problem> {
    let id: NotificationId = crate::params::notification_id(id)?;
    let n = app
        .store
        .get_notification(&id)
        .await
        .map_err(store_err)?
        .ok_or_else(|| Problem::unknown_notification(&id))?;
    let stored = app
        .engine
        .stored_request(&n.id)
        .await
        .ok_or_else(|| Problem::internal("the notification's request cannot be read", &id))?;
    let Some(sender) = &stored.request.options.as_user else {
        caller.require(Scope::Send)?;
        return Ok((n, stored));
    };
    let upn = Upn::parse(sender.as_str())
        .map_err(|_| Problem::internal("the notification's sender is not a UPN", &id))?
        .to_lowercase();
    caller.require(Scope::SendAs(upn.to_string()))?;
    let signed_in = app.store.get_user_token(&upn).await.map_err(store_err)?;
    let why = match &signed_in {
        None => DelegatedError::NotSignedIn(upn.to_string()).to_string(),
        Some(t) => match delegated::may_change(t) {
            Ok(()) => return Ok((n, stored)),
            Err(e) => e.to_string(),
        },
    };
    Err(Problem::new(
        StatusCode::CONFLICT,
        "sign-in-again",
        format!("notification `{id}` was sent as `{upn}`: {why}"),
    )
    .at("/options/asUser"))
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
    operation_id = "recallNotification",
    params(("id" = String, Path, description = "The notification")),
    responses(
        (status = 202, description = "Recalling: see `recall` in the notification", body = NotificationSummary),
        (status = 403, description = "The token lacks `send` (or `send-as` for a message sent as a user)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "It has already been recalled, or it was sent as a user who must sign in again (`Chat.ReadWrite`)", body = ProblemDetails, content_type = "application/problem+json"),
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
            let (n, _) = changeable(&app, &caller, &id).await?;
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
    operation_id = "editNotification",
    params(("id" = String, Path, description = "The notification")),
    request_body(content = Object, description = "{`message`: {`text` | `card` [+ `data`]}}, checked as a notification's message is"),
    responses(
        (status = 202, description = "Editing: see `edit` in the notification", body = NotificationSummary),
        (status = 400, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks `send` (or `send-as` for a message sent as a user)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Another edit is running, it was recalled, or it was sent as a user who must sign in again", body = ProblemDetails, content_type = "application/problem+json"),
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
            let (n, stored) = changeable(&app, &caller, &id).await?;
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

/// Stop what has not been sent.
#[utoipa::path(
    post,
    path = "/v1/notifications/{id}/cancel",
    operation_id = "cancelNotification",
    params(("id" = String, Path, description = "The notification")),
    responses(
        (status = 200, body = NotificationSummary),
        (status = 403, description = "The token lacks `send`", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "It has already ended", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn cancel(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let caller = app.authenticate(&headers)?;
            let id = crate::params::notification_id(&id)?;
            let n = find(&app, &id).await?;
            // The bot's notifications need `send`; one sent as a user may also be stopped by a
            // token that may send as that user.
            let as_user = app
                .engine
                .stored_request(&n.id)
                .await
                .and_then(|r| r.request.options.as_user.clone());
            match as_user {
                Some(upn) if !caller.may(&Scope::Send) => caller.require(Scope::SendAs(upn))?,
                _ => caller.require(Scope::Send)?,
            }
            if !app
                .store
                .cancel_notification(&id, app.clock.now_ms())
                .await
                .map_err(store_err)?
            {
                return Err(Problem::new(
                    StatusCode::CONFLICT,
                    "already-ended",
                    format!("notification `{id}` has already {}", n.state.as_str()),
                ));
            }
            let n = find(&app, &id).await?;
            Ok(Json(summary(&app, &n).await?).into_response())
        }
        .await,
    )
}
