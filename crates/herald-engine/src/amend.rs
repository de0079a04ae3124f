//! Recall and edit of a notification that was sent: the node holding an amendment's lease walks
//! its rows in order ([`herald_store::Amendments`]) and deletes (DeleteActivity) or updates
//! (UpdateActivity, the new message rendered for each recipient as a send would) every delivered
//! message, through the connector — the tenant's budget, retries and circuit, like any send. A
//! step is saved after its messages are changed: a crash repeats at most one step, and deleting
//! or updating a message twice changes nothing. A recall first cancels what is not sent yet and
//! ends any wait for answers; rows still in flight are waited for, then recalled. Messages sent as
//! a user are changed through Graph with their token (`as_user::change`).

use crate::request::Message;
use crate::worker::{self, Round};
use crate::{as_user, message, render, send, Engine, EngineError, StoredRequest};
use futures_util::StreamExt as _;
use herald_core::ids::Upn;
use herald_store::{AmendKind, Amendment, Delivery};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long a node holds an amendment between steps: a step is at most `STEP` messages (two
/// seconds at Teams' 50 a second), and a node that died leaves it to another this soon.
const LEASE_MS: u64 = 20_000;
/// Rows looked at per step.
const STEP: u32 = 100;

pub(crate) async fn run(engine: Arc<Engine>, stop: watch::Receiver<bool>) {
    worker::run(stop, None, Duration::from_millis(500), || {
        round(engine.clone())
    })
    .await
}

async fn round(engine: Arc<Engine>) -> Round {
    let now = engine.clock.now_ms();
    match engine.store.claim_amendment(now, LEASE_MS).await {
        Ok(Some(a)) => {
            if let Err(e) = walk(&engine, a.clone()).await {
                tracing::warn!(notification = %a.notification_id, kind = a.kind.as_str(), error = %e, "an amendment stopped; it resumes");
                // The lease expires and the walk resumes where its last step was saved.
            }
            Round::Busy
        }
        Ok(None) => Round::Idle,
        Err(e) => {
            tracing::warn!(error = %e, "cannot claim a recall or an edit");
            Round::Idle
        }
    }
}

/// Walks `a` while it holds the lease: until the last row, a row still being sent, or a recall
/// that stopped this edit.
async fn walk(engine: &Arc<Engine>, mut a: Amendment) -> Result<(), EngineError> {
    let store = &engine.store;
    if a.kind == AmendKind::Recall {
        // Also done when the recall was asked for; again here in case that node died first.
        let now = engine.clock.now_ms();
        store.cancel_notification(&a.notification_id, now).await?;
        store.end_waits(&a.notification_id, now).await?;
    }
    let stored = engine
        .stored_request(&a.notification_id)
        .await
        .ok_or_else(|| {
            EngineError::Internal(format!("notification {} has no request", a.notification_id))
        })?;
    let sender: Option<Upn> = match &stored.request.options.as_user {
        Some(u) => Some(
            Upn::parse(u.as_str())
                .map_err(|e| EngineError::Internal(format!("the sender `{u}`: {e}")))?,
        ),
        None => None,
    };
    let edit = match a.kind {
        AmendKind::Edit => Some(edited_request(&stored, &a)?),
        AmendKind::Recall => None,
    };
    loop {
        let step = store.amendment_rows(&a, STEP).await?;
        let this = &a;
        let results: Vec<(i64, bool)> = futures_util::stream::iter(step.rows)
            .map(|d| {
                let edit = edit.clone();
                let sender = sender.as_ref();
                async move {
                    let ok = match sender {
                        Some(upn) => change_as_user(this, &d, upn, edit.as_ref(), engine).await,
                        None => change(engine, this, &d, edit.as_ref()).await,
                    };
                    (d.seq, ok)
                }
            })
            .buffer_unordered(engine.cfg.max_in_flight.max(1) as usize)
            .collect()
            .await;
        let changed: Vec<i64> = results.iter().filter(|r| r.1).map(|r| r.0).collect();
        let failed = results.iter().filter(|r| !r.1).count() as u64;
        let now = engine.clock.now_ms();
        let more = !step.blocked && !step.at_end;
        // Waiting for rows in flight (or for rows not resolved yet): the lease is given up so the
        // next round, on any node, looks again.
        let lease_until = if more { now + LEASE_MS } else { now };
        if !store
            .save_step(&a, &changed, failed, step.next_seq, now, lease_until)
            .await?
        {
            return Ok(());
        }
        a.next_seq = step.next_seq;
        if step.at_end && a.notification_finished {
            store.finish_amendment(&a, now).await?;
            return Ok(());
        }
        if !more {
            // Rows still to come: the notification's state is read again at the next claim.
            return Ok(());
        }
    }
}

/// The notification's request with the edit's message in place of its own.
fn edited_request(
    stored: &StoredRequest,
    a: &Amendment,
) -> Result<Arc<StoredRequest>, EngineError> {
    let message: Message = serde_json::from_str(a.message.as_deref().unwrap_or("null"))
        .map_err(|e| EngineError::Internal(format!("the edit's message cannot be read: {e}")))?;
    let mut request = stored.request.clone();
    request.message = message;
    Ok(Arc::new(StoredRequest::new(request, stored.users.clone())))
}

/// Deletes or updates one row's message sent as `upn`; true when it is done.
async fn change_as_user(
    a: &Amendment,
    d: &Delivery,
    upn: &Upn,
    edit: Option<&Arc<StoredRequest>>,
    engine: &Engine,
) -> bool {
    let text = edit.map(|r| r.request.message.text.as_deref().unwrap_or_default());
    match as_user::change(engine, d, upn, text).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(notification = %a.notification_id, seq = d.seq, kind = a.kind.as_str(), error = %e, "a message sent as a user was not changed");
            false
        }
    }
}

/// Deletes or updates one row's message; true when it is done (a message already gone counts
/// as recalled).
async fn change(
    engine: &Engine,
    a: &Amendment,
    d: &Delivery,
    edit: Option<&Arc<StoredRequest>>,
) -> bool {
    let (Some(aad), Some(conv), Some(activity_id)) =
        (&d.aad_object_id, &d.conversation_id, &d.activity_id)
    else {
        return false;
    };
    let reference = match engine.store.get_reference(&a.tenant_id, aad).await {
        Ok(Some(r)) => r,
        Ok(None) => return false,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read a reference to change its message");
            return false;
        }
    };
    let url = &reference.reference.service_url;
    let result = match edit {
        None => {
            let sent = engine
                .connector
                .delete_activity(url, conv.as_str(), activity_id)
                .await;
            match sent.result {
                Err(e) if e.status == Some(404) => Ok(()),
                other => other.map_err(|e| e.to_string()),
            }
        }
        Some(req) => {
            let card = match req.template() {
                Some(t) => match send::render_for(engine, req, d, t).await {
                    Ok(c) => Some(c),
                    Err(render::RenderError::Template(why) | render::RenderError::TooBig(why)) => {
                        tracing::warn!(notification = %a.notification_id, seq = d.seq, why, "an edit cannot be rendered for this recipient");
                        return false;
                    }
                },
                None => None,
            };
            let name = engine
                .cfg
                .bot_name
                .as_deref()
                .or(reference.reference.bot_name.as_deref())
                .unwrap_or("Herald");
            let mut activity = message::activity(&req.request, name, card.as_ref());
            activity["id"] = serde_json::json!(activity_id);
            engine
                .connector
                .update_activity(url, conv.as_str(), activity_id, &activity)
                .await
                .result
                .map_err(|e| e.to_string())
        }
    };
    if let Err(e) = &result {
        tracing::warn!(notification = %a.notification_id, seq = d.seq, kind = a.kind.as_str(), error = %e, "a message was not changed");
    }
    result.is_ok()
}
