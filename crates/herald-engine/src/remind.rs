//! Reminders (`options.remindIfUnread`): once a delivered row has gone unread for the
//! notification's `afterSeconds`, its recipient gets the reminder's text in the same 1:1 chat,
//! once. The store walks each notification's rows in order and hands every due row to one
//! caller only ([`herald_store::Reminders`]); the sends go through the connector like every
//! other message, so they share the tenant's budget, retries and circuit. A reminder is sent at
//! most once: a row is marked before its send, and a crash between the two leaves it marked.

use crate::worker::{self, Round};
use crate::{Engine, StoredRequest};
use futures_util::StreamExt as _;
use herald_store::{Reminding, Taken};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Rows looked at per step.
const STEP: u32 = 500;
/// Notifications looked at per pass.
const NOTIFICATIONS: u32 = 100;

pub(crate) async fn run(engine: Arc<Engine>, stop: watch::Receiver<bool>) {
    worker::run(stop, None, Duration::from_secs(1), || pass(engine.clone())).await
}

async fn pass(engine: Arc<Engine>) -> Round {
    let reminding = match engine.store.reminding(NOTIFICATIONS).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the notifications that remind");
            return Round::Idle;
        }
    };
    let mut busy = false;
    for n in reminding {
        match step(&engine, &n).await {
            Ok(more) => busy |= more,
            Err(e) => {
                tracing::warn!(notification = %n.id, error = %e, "reminders stopped; they resume")
            }
        }
    }
    if busy {
        Round::Busy
    } else {
        Round::Idle
    }
}

/// Takes and sends one step of `n`'s due reminders; true when more may be due at once.
async fn step(engine: &Arc<Engine>, n: &Reminding) -> Result<bool, crate::EngineError> {
    let now = engine.clock.now_ms();
    let Taken {
        due,
        from_seq,
        at_end,
    } = engine.store.take_reminders(n, now, STEP).await?;
    if at_end && n.finished {
        engine.store.reminders_done(&n.id).await?;
    }
    if due.is_empty() {
        return Ok(from_seq > n.from_seq && !at_end);
    }
    let Some(text) = reminder_text(engine, n).await? else {
        // A notification without a reminder's text cannot have been accepted with one; its
        // rows are given back and it stops reminding.
        for d in &due {
            engine.store.reminder_failed(&n.id, d.seq).await?;
        }
        engine.store.reminders_done(&n.id).await?;
        return Ok(false);
    };
    let activity = json!({"type": "message", "text": text});
    let in_flight = engine.cfg.max_in_flight.max(1) as usize;
    let results: Vec<(i64, bool)> = futures_util::stream::iter(due)
        .map(|d| {
            let (engine, activity) = (engine.clone(), &activity);
            async move {
                let Some(url) = d.service_url.as_deref() else {
                    return (d.seq, false);
                };
                let sent = engine
                    .connector
                    .send(url, d.conversation_id.as_str(), activity)
                    .await;
                if let Err(e) = &sent.result {
                    tracing::warn!(notification = %n.id, seq = d.seq, error = %e, "a reminder was not sent");
                }
                (d.seq, sent.result.is_ok())
            }
        })
        .buffer_unordered(in_flight)
        .collect()
        .await;
    let mut sent = 0;
    for (seq, ok) in results {
        if ok {
            sent += 1;
        } else {
            engine.store.reminder_failed(&n.id, seq).await?;
            engine.metrics.reminder(false);
        }
    }
    for _ in 0..sent {
        engine.metrics.reminder(true);
    }
    Ok(true)
}

async fn reminder_text(
    engine: &Engine,
    n: &Reminding,
) -> Result<Option<String>, crate::EngineError> {
    let Some(stored) = engine.store.get_notification(&n.id).await? else {
        return Ok(None);
    };
    Ok(StoredRequest::from_stored(&stored.request)
        .ok()
        .and_then(|s| s.request.options.remind_if_unread)
        .map(|r| r.text))
}
