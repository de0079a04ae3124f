//! How a delivery row ends: its outcome, the status code and reason a user sees, and what was
//! sent (activity, conversation). The last stage of delivery writes these in batches
//! (`record`, here); every other stage only builds one.

use crate::Engine;
use herald_connector::{ConnectorError, ErrorKind};
use herald_core::ids::NotificationId;
use herald_core::reason::Reason;
use herald_store::{DeliveryResult, Outcome, Verdict};
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Status code and reason for a failure Teams (or the way there) reported.
pub fn failure(e: &ConnectorError) -> (Option<u16>, Reason) {
    match e.kind {
        ErrorKind::BadRequest => (Some(400), Reason::BadRequest),
        ErrorKind::TooBig => (Some(413), Reason::MessageTooBig),
        ErrorKind::Throttled => (Some(429), Reason::Throttled),
        ErrorKind::NotFound => (e.status.or(Some(404)), Reason::BadRequest),
        // Still not found after a new conversation was opened.
        ErrorKind::ConversationNotFound => (e.status.or(Some(404)), Reason::ServiceError),
        ErrorKind::NotInstalled => (e.status.or(Some(403)), Reason::NotInstalled),
        ErrorKind::Blocked => (e.status.or(Some(403)), Reason::Blocked),
        ErrorKind::Transient => (e.status.or(Some(504)), Reason::ServiceError),
        ErrorKind::ServiceError
        | ErrorKind::Unauthorized
        | ErrorKind::Forbidden
        | ErrorKind::Configuration => (e.status, Reason::ServiceError),
    }
}

/// What a delivery came to, before it is recorded.
pub struct RowOutcome {
    pub result: Verdict,
    pub activity_id: Option<String>,
    pub conversation_id: Option<herald_core::ids::ConversationId>,
    pub detail: Option<String>,
    /// A send went unanswered (it may have arrived) before one succeeded.
    pub possible_duplicate: bool,
}

impl RowOutcome {
    /// A row that ends with this outcome, status code and reason, and nothing sent.
    pub fn of(outcome: Outcome, code: Option<u16>, reason: Option<Reason>) -> Self {
        Self {
            result: Verdict {
                outcome,
                status_code: code,
                reason,
            },
            activity_id: None,
            conversation_id: None,
            detail: None,
            possible_duplicate: false,
        }
    }
}

/// Writes outcomes in batches (one transaction each) and completes finished notifications.
pub(crate) async fn record(engine: Arc<Engine>, mut rx: mpsc::Receiver<DeliveryResult>) {
    let mut buf = Vec::with_capacity(512);
    loop {
        let Some(first) = rx.recv().await else { break };
        buf.push(first);
        let deadline = tokio::time::sleep(Duration::from_millis(20));
        tokio::pin!(deadline);
        while buf.len() < 512 {
            tokio::select! {
                r = rx.recv() => match r { Some(r) => buf.push(r), None => break },
                _ = &mut deadline => break,
            }
        }
        flush(&engine, &mut buf).await;
    }
    flush(&engine, &mut buf).await;
}

async fn flush(engine: &Engine, buf: &mut Vec<DeliveryResult>) {
    if buf.is_empty() {
        return;
    }
    let mut tries = 0;
    loop {
        match engine
            .store
            .record_deliveries(buf, engine.clock.now_ms())
            .await
        {
            Ok(lost) => {
                if !lost.is_empty() {
                    // Their leases ran out and another claim holds them: its outcome will be
                    // recorded instead. Said loudly, because it means a possible duplicate.
                    engine
                        .metrics
                        .leases_lost
                        .fetch_add(lost.len() as u64, Ordering::Relaxed);
                    tracing::warn!(
                        deliveries = lost.len(),
                        first = ?lost.first(),
                        "outcomes not recorded: their leases were taken by another claim"
                    );
                }
                break;
            }
            Err(e) if tries < 5 => {
                tries += 1;
                tracing::warn!(error = %e, "cannot record outcomes; retrying");
                tokio::time::sleep(Duration::from_millis(200 * tries)).await;
            }
            Err(e) => {
                // The leases expire and these deliveries are taken again: at least once.
                tracing::error!(error = %e, "outcomes not recorded; their deliveries will be retried");
                buf.clear();
                return;
            }
        }
    }
    let m = &engine.metrics;
    m.finished(engine.clock.now_ms(), buf.len() as u64);
    for r in buf.iter() {
        let c = match r.result.outcome {
            Outcome::Delivered => &m.delivered,
            Outcome::Skipped => &m.skipped,
            Outcome::Failed => &m.failed,
            Outcome::Canceled => &m.canceled,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
    let ids: HashSet<NotificationId> = buf.iter().map(|r| r.notification_id.clone()).collect();
    for id in ids {
        match engine
            .store
            .complete_if_done(&id, engine.clock.now_ms())
            .await
        {
            Ok(true) => tracing::info!(notification = %id, "notification completed"),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(notification = %id, error = %e, "cannot complete a notification")
            }
        }
    }
    buf.clear();
}
