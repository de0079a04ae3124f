//! `POST /api/messages`: what Teams (or the emulator) sends the bot. Bodies over 1 MB get 413,
//! unparseable ones 400, and anything that fails authentication 401 — in every case nothing is
//! stored.

use crate::auth::AuthError;
use crate::problem::Problem;
use crate::state::App;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use herald_engine::{lifecycle, BotReply};
use herald_wire::activity::Activity;

/// Teams' activities are far smaller; anything bigger is not from Teams.
pub const MAX_BODY: usize = 1024 * 1024;

pub async fn messages(State(app): State<App>, headers: HeaderMap, body: Body) -> Response {
    match handle(&app, &headers, body).await {
        Ok(r) => r,
        Err(p) => p.into_response(),
    }
}

async fn handle(app: &App, headers: &HeaderMap, body: Body) -> Result<Response, Problem> {
    let bytes = crate::http::read_body(body, MAX_BODY)
        .await
        .map_err(|e| e.problem(&format!("{MAX_BODY} bytes (an activity)")))?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/json")
        });
    if !is_json {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "send the activity as application/json",
        ));
    }
    let activity: Activity = serde_json::from_slice(&bytes).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-activity",
            format!("the body is not an activity: {e}"),
        )
        .at("")
    })?;
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let verdict = match &app.auth {
        Some(auth) => {
            auth.authenticate(
                authorization,
                activity.channel_id.as_deref(),
                activity.service_url.as_deref(),
            )
            .await
        }
        // Even without authentication, Herald never keeps a reference to a host it would not
        // send its token to.
        None => match activity.service_url.as_deref() {
            Some(u) if app.cfg.allowed_service_urls.allows(u) => Ok(()),
            _ => Err(AuthError::ServiceUrlNotAllowed),
        },
    };
    if let Err(e) = verdict {
        tracing::info!(reason = %e, kind = %activity.kind, "refused an unauthenticated activity");
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!("the request is not authenticated: {e}"),
        ));
    }
    match lifecycle::handle(&app.engine, activity).await {
        Ok(BotReply::Accepted) => Ok(StatusCode::OK.into_response()),
        Ok(BotReply::Invoke(body)) => Ok(Json(body).into_response()),
        Ok(BotReply::Refused(why)) => {
            Err(Problem::new(StatusCode::FORBIDDEN, "answer-refused", why))
        }
        Err(e) => Err(Problem::internal("the bot endpoint failed", &e)),
    }
}
