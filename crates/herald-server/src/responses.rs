//! `GET /v1/notifications/{id}/responses[?wait=SECONDS]`, and the background work answers
//! need: signed callbacks (an outbox in the store, retried with backoff) and card updates left
//! pending.

use crate::access::Scope;
use crate::api::{authorize, paging, query};
use crate::app::App;
use crate::dto::{ProblemDetails, ResponseCounts, ResponseItem, ResponsePage};
use crate::problem::Problem;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::Json;
use herald_core::clock::rfc3339_ms;
use herald_store::{
    Callback, CallbackEvent, CallbackResult, NotificationState, Response, ResponseState,
};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::time::Duration;
use tokio::sync::watch;

/// The longest a caller may long-poll.
pub const MAX_WAIT_S: u64 = 300;
/// Attempts before a callback is given up.
pub const CALLBACK_ATTEMPTS: u32 = 10;
const CALLBACK_LEASE_MS: u64 = 30_000;

fn store_err(e: herald_store::StoreError) -> Problem {
    Problem::internal("the store failed", &e)
}

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
    authorize(app, headers, Scope::Read)?;
    let q = query(raw)?;
    let (after, limit) = paging(&q, 100, 1000)?;
    let wait = match q.get("wait").map(String::as_str) {
        None | Some("") => 0,
        Some(w) => w
            .parse::<u64>()
            .ok()
            .filter(|w| *w <= MAX_WAIT_S)
            .ok_or_else(|| {
                Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-parameter",
                    format!("wait `{w}` is not a number of seconds from 0 to {MAX_WAIT_S}"),
                )
                .at("?wait")
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
            .ok_or_else(|| {
                Problem::new(
                    StatusCode::NOT_FOUND,
                    "not-found",
                    format!("no notification `{id}`"),
                )
            })?;
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

/// `sha256=` + hex HMAC-SHA256 of `timestamp.body` under the callback secret.
pub fn signature(secret: &str, timestamp: u64, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Backoff before attempt `n + 1`: 1 s, 2 s, 4 s … at most 10 minutes.
pub fn backoff_ms(attempts: u32) -> u64 {
    1000u64
        .saturating_mul(1 << attempts.saturating_sub(1).min(20))
        .min(600_000)
}

fn body_of(c: &Callback, r: &Response) -> String {
    let mut v = serde_json::to_value(item(r)).unwrap_or(Value::Null);
    v["notificationId"] = json!(c.notification_id);
    v["event"] = json!(match c.event {
        CallbackEvent::Answered => "answered",
        CallbackEvent::NoResponse => "no_response",
    });
    v.to_string()
}

/// Writes the card updates done since the last time, in one transaction.
async fn flush_updates(app: &App) {
    let done = std::mem::take(&mut *app.engine.updates_done.lock());
    if done.is_empty() {
        return;
    }
    if let Err(e) = app.store.set_update_states(&done, app.clock.now_ms()).await {
        // Left pending in the store: the sweeper repeats those updates, which is harmless.
        tracing::warn!(error = %e, "cannot record card updates");
    }
}

/// Records card updates in batches until stopped.
pub async fn record_updates(app: App, mut stop: watch::Receiver<bool>) {
    loop {
        flush_updates(&app).await;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = stop.changed() => {
                flush_updates(&app).await;
                return;
            }
        }
    }
}

/// Sends callbacks that are due, and re-drives card updates left pending.
pub async fn run(app: App, mut stop: watch::Receiver<bool>) {
    let http = match crate::egress::callback_client(&app.callback_hosts) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the HTTP client for callbacks; none will be sent");
            return;
        }
    };
    let mut last_update_sweep = 0u64;
    loop {
        if *stop.borrow() {
            return;
        }
        let now = app.clock.now_ms();
        if now.saturating_sub(last_update_sweep) >= 10_000 {
            last_update_sweep = now;
            crate::answers::retry_stale_updates(&app).await;
        }
        let due = match app.store.claim_callbacks(now, CALLBACK_LEASE_MS, 32).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim callbacks");
                Vec::new()
            }
        };
        let busy = !due.is_empty();
        let sends = due.into_iter().map(|c| {
            let (app, http) = (app.clone(), http.clone());
            async move { send_one(&app, &http, c).await }
        });
        futures_util::future::join_all(sends).await;
        if busy {
            continue;
        }
        tokio::select! {
            _ = app.engine.callbacks_due.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn send_one(app: &App, http: &reqwest::Client, c: Callback) {
    let now = app.clock.now_ms();
    let result = match attempt(app, http, &c).await {
        Ok(()) => {
            app.engine
                .metrics
                .callbacks_delivered
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            CallbackResult::Delivered
        }
        Err((error, retry)) if retry && c.attempts < CALLBACK_ATTEMPTS => {
            tracing::info!(notification = %c.notification_id, attempt = c.attempts, %error, "callback failed; retrying");
            CallbackResult::Retry {
                next_at: now + backoff_ms(c.attempts),
                error,
            }
        }
        Err((error, _)) => {
            tracing::warn!(notification = %c.notification_id, attempts = c.attempts, %error, "callback given up");
            app.engine
                .metrics
                .callbacks_failed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            CallbackResult::Failed { error }
        }
    };
    if let Err(e) = app.store.finish_callback(c.id, &result, now).await {
        tracing::warn!(error = %e, "cannot record a callback's result");
    }
}

/// One POST; `Err((why, worth retrying))`.
async fn attempt(app: &App, http: &reqwest::Client, c: &Callback) -> Result<(), (String, bool)> {
    let Some(secret) = app.cfg.callback_secret.as_ref() else {
        return Err(("HERALD_CALLBACK_SECRET is not set".into(), false));
    };
    let row = match app.store.get_response(&c.notification_id, c.seq).await {
        Ok(Some(r)) => r,
        Ok(None) => return Err(("the response is gone".into(), false)),
        Err(e) => return Err((format!("store: {e}"), true)),
    };
    if row.state == ResponseState::Waiting {
        return Err(("the response is still waiting".into(), true));
    }
    // Checked again now: the rule may have changed since the notification was accepted, and an
    // address literal never reaches the guarded resolver.
    let url = reqwest::Url::parse(&c.url).map_err(|e| (format!("not a URL: {e}"), false))?;
    crate::egress::check_literal(&url, &app.callback_hosts).map_err(|e| (e, false))?;
    let body = body_of(c, &row);
    let ts = app.clock.now_ms() / 1000;
    let sent = http
        .post(url)
        .header("content-type", "application/json")
        .header("x-herald-timestamp", ts.to_string())
        .header("x-herald-signature", signature(secret.expose(), ts, &body))
        .header("x-herald-delivery", c.id.to_string())
        .body(body)
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => {
            let s = r.status().as_u16();
            let retry = s >= 500 || s == 408 || s == 429;
            Err((format!("the callback URL answered {s}"), retry))
        }
        // The URL is not logged in full: it may carry a token in its query.
        Err(e) => Err((
            format!("the callback URL could not be reached ({})", kind_of(&e)),
            true,
        )),
    }
}

fn kind_of(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection refused or unreachable"
    } else {
        "request failed"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_and_backoff() {
        // Known answer: HMAC-SHA256("key", "1.body").
        let s = signature("key", 1, "body");
        assert!(s.starts_with("sha256=") && s.len() == 7 + 64);
        assert_ne!(s, signature("other", 1, "body"));
        assert_ne!(s, signature("key", 2, "body"));
        assert_eq!(backoff_ms(1), 1000);
        assert_eq!(backoff_ms(2), 2000);
        assert_eq!(backoff_ms(30), 600_000);
    }
}
