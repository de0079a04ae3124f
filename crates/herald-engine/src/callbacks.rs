//! What answers set going after the HTTP exchange is over: signed callbacks (an outbox in the
//! store, retried with backoff) and card updates, recorded in batches and re-driven when left
//! pending.

use crate::worker::{self, Round};
use crate::Engine;
use herald_core::clock::rfc3339_ms;
use herald_store::{Callback, CallbackResult, Delivery, Response, ResponseState};
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::Instrument as _;

/// Attempts before a callback is given up.
pub const CALLBACK_ATTEMPTS: u32 = 10;
const CALLBACK_LEASE_MS: u64 = 30_000;

/// What a callback POSTs: the recipient's answer as the API's `responses` lists it, with the
/// notification and the event.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CallbackBody<'a> {
    recipient: &'a str,
    state: &'a str,
    submit_action_id: Option<&'a str>,
    action_id: Option<&'a str>,
    verb: Option<&'a str>,
    inputs: Option<Value>,
    responded_at: Option<String>,
    answers: u32,
    notification_id: &'a str,
    event: &'static str,
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
    let body = CallbackBody {
        recipient: &r.recipient,
        state: r.state.as_str(),
        submit_action_id: r.action_title.as_deref(),
        action_id: r.action_id.as_deref(),
        verb: r.verb.as_deref(),
        inputs: r
            .inputs
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok()),
        responded_at: r.responded_at.map(rfc3339_ms),
        answers: r.answers,
        notification_id: &c.notification_id,
        event: c.event.as_str(),
    };
    serde_json::to_string(&body).unwrap_or_default()
}

/// What an event about a delivery row (`options.events`) POSTs: the row as the report shows it,
/// the event, and — for `reacted` — which reaction was added or removed.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct EventBody<'a> {
    event: &'static str,
    notification_id: &'a str,
    recipient: &'a str,
    outcome: Option<&'static str>,
    status_code: Option<u16>,
    reason: Option<&'static str>,
    activity_id: Option<&'a str>,
    read_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reaction: Option<Value>,
}

fn event_body(c: &Callback, d: &Delivery) -> String {
    let v = d.result.as_ref();
    let body = EventBody {
        event: c.event.as_str(),
        notification_id: &c.notification_id,
        recipient: &d.recipient,
        outcome: v.map(|v| v.outcome.as_str()),
        status_code: v.and_then(|v| v.status_code),
        reason: v
            .and_then(|v| v.reason)
            .map(herald_core::reason::Reason::as_str),
        activity_id: d.activity_id.as_deref(),
        read_at: d.read_at.map(rfc3339_ms),
        reaction: c
            .detail
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok()),
    };
    serde_json::to_string(&body).unwrap_or_default()
}

/// Writes the card updates done since the last time, in one transaction.
async fn flush_updates(engine: &Engine) {
    let done = std::mem::take(&mut *engine.updates_done.lock());
    if done.is_empty() {
        return;
    }
    if let Err(e) = engine
        .store
        .set_update_states(&done, engine.clock.now_ms())
        .await
    {
        // Left pending in the store: the sweeper repeats those updates, which is harmless.
        tracing::warn!(error = %e, "cannot record card updates");
    }
}

/// Records card updates in batches until stopped, then once more.
pub async fn record_updates(engine: Arc<Engine>, stop: watch::Receiver<bool>) {
    worker::run(stop, None, Duration::from_millis(100), || async {
        flush_updates(&engine).await;
        Round::Idle
    })
    .await;
    flush_updates(&engine).await;
}

/// Sends callbacks that are due, and re-drives card updates left pending.
pub async fn run(engine: Arc<Engine>, stop: watch::Receiver<bool>) {
    let http = match crate::egress::callback_client(&engine.callback_hosts) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the HTTP client for callbacks; none will be sent");
            return;
        }
    };
    let last_update_sweep = AtomicU64::new(0);
    worker::run(
        stop,
        Some(&engine.callbacks_due),
        Duration::from_secs(1),
        || round(&engine, &http, &last_update_sweep),
    )
    .await
}

/// Re-drives stale card updates every 10 s, then sends the callbacks that are due.
async fn round(
    engine: &Arc<Engine>,
    http: &reqwest::Client,
    last_update_sweep: &AtomicU64,
) -> Round {
    let now = engine.clock.now_ms();
    if now.saturating_sub(last_update_sweep.load(Ordering::Relaxed)) >= 10_000 {
        last_update_sweep.store(now, Ordering::Relaxed);
        crate::answers::retry_stale_updates(engine).await;
    }
    let due = match engine
        .store
        .claim_callbacks(now, CALLBACK_LEASE_MS, 32)
        .await
    {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "cannot claim callbacks");
            return Round::Idle;
        }
    };
    if due.is_empty() {
        return Round::Idle;
    }
    let sends = due.into_iter().map(|c| {
        let (engine, http) = (engine.clone(), http.clone());
        let span = tracing::info_span!("callback", notification = %c.notification_id, seq = c.seq);
        async move { send_one(&engine, &http, c).await }.instrument(span)
    });
    futures_util::future::join_all(sends).await;
    Round::Busy
}

async fn send_one(engine: &Engine, http: &reqwest::Client, c: Callback) {
    let now = engine.clock.now_ms();
    let result = match attempt(engine, http, &c).await {
        Ok(()) => {
            engine
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
            engine
                .metrics
                .callbacks_failed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            CallbackResult::Failed { error }
        }
    };
    if let Err(e) = engine.store.finish_callback(c.id, &result, now).await {
        tracing::warn!(error = %e, "cannot record a callback's result");
    }
}

/// One POST; `Err((why, worth retrying))`.
async fn attempt(
    engine: &Engine,
    http: &reqwest::Client,
    c: &Callback,
) -> Result<(), (String, bool)> {
    let Some(secret) = engine.cfg.callback_secret.as_ref() else {
        return Err(("HERALD_CALLBACK_SECRET is not set".into(), false));
    };
    let body = if c.event.is_answer() {
        let row = match engine.store.get_response(&c.notification_id, c.seq).await {
            Ok(Some(r)) => r,
            Ok(None) => return Err(("the response is gone".into(), false)),
            Err(e) => return Err((format!("store: {e}"), true)),
        };
        if row.state == ResponseState::Waiting {
            return Err(("the response is still waiting".into(), true));
        }
        body_of(c, &row)
    } else {
        match engine.store.get_delivery(&c.notification_id, c.seq).await {
            Ok(Some(d)) => event_body(c, &d),
            Ok(None) => return Err(("the delivery row is gone".into(), false)),
            Err(e) => return Err((format!("store: {e}"), true)),
        }
    };
    // Checked again now: the rule may have changed since the notification was accepted, and an
    // address literal never reaches the guarded resolver.
    let url = reqwest::Url::parse(&c.url).map_err(|e| (format!("not a URL: {e}"), false))?;
    crate::egress::check_literal(&url, &engine.callback_hosts).map_err(|e| (e, false))?;
    let ts = engine.clock.now_ms() / 1000;
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
