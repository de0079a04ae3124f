//! Delivery: claimed rows are sent up to `max_in_flight` at once, each through the connector's
//! throttle and retries; outcomes are written in batches. Reachability follows the options: a
//! stored reference is used as is; without one (or when Teams says the bot is gone), the
//! `ifNotInstalled` policy answers — `fail`, `succeed`, or `install` through Graph and
//! CreateConversation, the new reference kept for next time.

use crate::claim::{claim, lease, Ahead, Ready};
use crate::outcome::RowOutcome;
use crate::reachability::{install, open_conversation, unreachable};
use crate::request::{EventKind, IfChatActive, IfNotInstalled};
use crate::worker;
use crate::{message, render};
use crate::{Engine, StoredRequest};
use futures_util::FutureExt as _;
use herald_connector::{ConnectorError, ErrorKind};
use herald_core::ids::Upn;
use herald_core::reason::Reason;
use herald_store::{
    CallbackEvent, Delivery, DeliveryResult, Lease, NewResponse, Outcome, RefState, Reference,
    StoredReference, Verdict,
};
use herald_wire::activity::MAX_ACTIVITY_BYTES;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tracing::Instrument as _;

pub async fn run(engine: Arc<Engine>, stop: watch::Receiver<bool>) {
    let in_flight = engine.cfg.max_in_flight as usize;
    let permits = Arc::new(Semaphore::new(in_flight));
    let (tx, rx) = mpsc::channel::<DeliveryResult>(8192);
    let recorder = tokio::spawn(crate::outcome::record(engine.clone(), rx));
    // Claims run ahead of sends by at most `CLAIM_AHEAD` rows: the next batch is claimed while
    // this one is sent, so a claim waiting for the database never leaves a permit idle, and a
    // claim's round trip is shared by many rows. At most `in_flight` requests are at Teams;
    // the rows ahead are leased (and renewed) but not sent, so a crash makes no duplicate of
    // them.
    let ahead = Ahead::of(engine.cfg.tenant_rps, in_flight);
    let queue = match ahead {
        Ahead::Rows(n) => n,
        Ahead::FreePermits => in_flight,
    };
    let (ready_tx, ready_rx) = mpsc::channel::<Ready>(queue);
    let starter = tokio::spawn(start(
        engine.clone(),
        permits.clone(),
        ready_rx,
        tx.clone(),
        stop.clone(),
    ));
    worker::run(
        stop.clone(),
        Some(&engine.send_due),
        Duration::from_millis(500),
        || claim(&engine, &ready_tx, ahead, &permits, &stop),
    )
    .await;
    drop(ready_tx);
    // Stop: let what is in flight finish (bounded), so its outcome is recorded.
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        let _ = starter.await;
        let _ = permits.acquire_many(in_flight as u32).await;
    })
    .await;
    drop(tx);
    let _ = tokio::time::timeout(Duration::from_secs(5), recorder).await;
}

/// Starts each queued row as a permit frees up. After the stop, rows not started go back to the
/// queue at once (their leases end now) instead of waiting out a lease.
async fn start(
    engine: Arc<Engine>,
    permits: Arc<Semaphore>,
    mut ready: mpsc::Receiver<Ready>,
    tx: mpsc::Sender<DeliveryResult>,
    stop: watch::Receiver<bool>,
) {
    let mut returned: Vec<Lease> = Vec::new();
    while let Some(item) = ready.recv().await {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.ok(),
            _ = async {
                let mut stop = stop.clone();
                while !*stop.borrow() {
                    if stop.changed().await.is_err() {
                        break;
                    }
                }
            } => None,
        };
        match permit {
            Some(permit) if !*stop.borrow() => spawn_delivery(&engine, item, permit, &tx),
            _ => returned.extend(lease(&item.delivery)),
        }
    }
    if !returned.is_empty() {
        {
            let mut held = engine.held.lock();
            for l in &returned {
                held.remove(l);
            }
        }
        if let Err(e) = engine.store.renew_deliveries(&returned, 0).await {
            tracing::warn!(error = %e, "rows claimed but not started wait for their leases to end");
        }
    }
}

fn spawn_delivery(
    engine: &Arc<Engine>,
    item: Ready,
    permit: OwnedSemaphorePermit,
    tx: &mpsc::Sender<DeliveryResult>,
) {
    let Ready {
        delivery: d,
        reference,
        request: req,
        opted_out,
    } = item;
    let (engine, tx) = (engine.clone(), tx.clone());
    let lease = lease(&d);
    let span = tracing::info_span!("deliver", notification = %d.notification_id, seq = d.seq);
    let task = async move {
        // A delivery that panics is recorded as failed: left leased, it would be taken
        // again after the lease and panic again, for ever.
        let (notification_id, seq, lease_token) = (d.notification_id.clone(), d.seq, d.lease_token);
        let result = AssertUnwindSafe(deliver(&engine, d, reference, &req, opted_out))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                tracing::error!(notification = %notification_id, seq, "a delivery panicked; it is recorded as failed");
                DeliveryResult {
                    notification_id,
                    seq,
                    result: RowOutcome::of(Outcome::Failed, None, Some(Reason::ServiceError)).result,
                    attempts: 0,
                    activity_id: None,
                    conversation_id: None,
                    detail: Some("Herald failed internally while delivering; the log has the cause".into()),
                    wait: None,
                    lease_token,
                    possible_duplicate: false,
                    events: Default::default(),
                }
            });
        let _ = tx.send(result).await;
        // Renewed until its outcome is queued; the recorder writes it with the token.
        if let Some(l) = &lease {
            engine.held.lock().remove(l);
        }
        drop(permit);
    };
    tokio::spawn(task.instrument(span));
}

async fn deliver(
    engine: &Engine,
    d: Delivery,
    reference: Option<StoredReference>,
    req: &Arc<StoredRequest>,
    opted_out: bool,
) -> DeliveryResult {
    let started = Instant::now();
    let mut attempts = 0u32;
    let o = if opted_out {
        RowOutcome::of(Outcome::Skipped, None, Some(Reason::OptedOut))
    } else {
        herald_connector::in_lane(
            req.lane(),
            deliver_inner(engine, &d, reference, req, &mut attempts),
        )
        .await
    };
    engine
        .metrics
        .observe_send(started.elapsed().as_secs_f64(), attempts);
    tracing::debug!(
        outcome = o.result.outcome.as_str(),
        status = o.result.status_code,
        reason = o.result.reason.map(Reason::as_str),
        attempts,
        possible_duplicate = o.possible_duplicate,
        "delivery done"
    );
    let wait = match (&req.request.options.wait_for_response, o.result.outcome) {
        (Some(w), Outcome::Delivered) => Some(NewResponse {
            recipient: d.recipient.clone(),
            aad_object_id: d.aad_object_id.clone(),
            deadline: engine.clock.now_ms() + w.timeout_ms(),
            callback_url: w.callback_url.clone(),
        }),
        _ => None,
    };
    let opts = &req.request.options;
    let events = herald_store::OutcomeEvents {
        callback: match (o.result.outcome, o.result.reason) {
            (Outcome::Delivered, _) => opts
                .event_url(EventKind::Delivered)
                .map(|u| (u.to_owned(), CallbackEvent::Delivered)),
            (Outcome::Skipped, Some(Reason::OptedOut)) => opts
                .event_url(EventKind::OptedOut)
                .map(|u| (u.to_owned(), CallbackEvent::OptedOut)),
            _ => None,
        },
        watch_reactions: o.result.outcome == Outcome::Delivered
            && opts.event_url(EventKind::Reacted).is_some(),
    };
    DeliveryResult {
        events,
        notification_id: d.notification_id,
        seq: d.seq,
        result: o.result,
        attempts,
        activity_id: o.activity_id,
        conversation_id: o.conversation_id,
        detail: o.detail,
        wait,
        lease_token: d.lease_token,
        possible_duplicate: o.possible_duplicate,
    }
}

async fn deliver_inner(
    engine: &Engine,
    d: &Delivery,
    reference: Option<StoredReference>,
    req: &Arc<StoredRequest>,
    attempts: &mut u32,
) -> RowOutcome {
    let opts = &req.request.options;
    let tenant = &engine.tenant;
    if let Some(upn) = &opts.as_user {
        // Checked when the request was accepted.
        return match Upn::parse(upn.as_str()) {
            Ok(upn) => crate::as_user::deliver(engine, d, req, &upn).await,
            Err(_) => RowOutcome::of(Outcome::Failed, None, Some(Reason::BadRequest)),
        };
    }
    let Some(aad) = d.aad_object_id.clone() else {
        return RowOutcome::of(Outcome::Failed, Some(404), Some(Reason::UnknownUser));
    };
    // The recipient's card first: nothing is installed or opened for a card that cannot be sent.
    let card = match req.template() {
        Some(t) => match render_for(engine, req, d, t).await {
            Ok(c) => Some(c),
            Err(render::RenderError::Template(why)) => {
                return RowOutcome {
                    detail: Some(why),
                    ..RowOutcome::of(Outcome::Failed, None, Some(Reason::TemplateError))
                }
            }
            Err(render::RenderError::TooBig(why)) => {
                return RowOutcome {
                    detail: Some(why),
                    ..RowOutcome::of(Outcome::Failed, Some(413), Some(Reason::MessageTooBig))
                }
            }
        },
        None => None,
    };
    let mut reference = reference.filter(|r| r.state == RefState::Active);
    if let Some(r) = &reference {
        let window = engine.cfg.active_chat_window_s * 1000;
        let active = r
            .last_active_at
            .is_some_and(|t| engine.clock.now_ms().saturating_sub(t) <= window);
        match opts.if_chat_active {
            IfChatActive::Skip if active => {
                return RowOutcome::of(Outcome::Skipped, Some(300), Some(Reason::ChatActive))
            }
            IfChatActive::Fail if active => {
                return RowOutcome::of(Outcome::Failed, Some(300), Some(Reason::ChatActive))
            }
            _ => {}
        }
    }
    let mut why = Reason::NotInstalled;
    let mut installed_here = false;
    // A cleared chat (404 ConversationNotFound) gets one CreateConversation and one more send.
    let mut reopened = false;
    let mut last_error: Option<ConnectorError> = None;
    loop {
        // A conversation to write to.
        let target = match &reference {
            Some(r) => match &r.reference.conversation_id {
                Some(c) => Some((
                    r.reference.service_url.clone(),
                    c.clone(),
                    r.reference.bot_name.clone(),
                )),
                None => match open_conversation(engine, &r.reference, attempts).await {
                    Ok(c) => Some((
                        r.reference.service_url.clone(),
                        c,
                        r.reference.bot_name.clone(),
                    )),
                    Err(e) => match unreachable(engine, tenant, &aad, &e).await {
                        Ok(reason) => {
                            why = reason;
                            last_error = Some(e);
                            None
                        }
                        Err(failed) => return failed,
                    },
                },
            },
            None => None,
        };
        let Some((service_url, conv, bot_name)) = target else {
            match opts.if_not_installed {
                IfNotInstalled::Fail => {
                    return RowOutcome::of(Outcome::Failed, Some(100), Some(why))
                }
                IfNotInstalled::Succeed => {
                    return RowOutcome::of(Outcome::Skipped, Some(100), Some(why))
                }
                IfNotInstalled::Install if !installed_here => {
                    installed_here = true;
                    match install(engine, &aad, d, attempts).await {
                        Ok(r) => {
                            reference = Some(r);
                            continue;
                        }
                        Err(o) => return o,
                    }
                }
                IfNotInstalled::Install => {
                    let code = last_error.and_then(|e| e.status).or(Some(100));
                    return RowOutcome::of(Outcome::Failed, code, Some(why));
                }
            }
        };
        let name = engine
            .cfg
            .bot_name
            .as_deref()
            .or(bot_name.as_deref())
            .unwrap_or("Herald");
        let activity = message::activity(&req.request, name, card.as_ref());
        if activity.to_string().len() > MAX_ACTIVITY_BYTES {
            return RowOutcome::of(Outcome::Failed, Some(413), Some(Reason::MessageTooBig));
        }
        let sent = engine.connector.send(&service_url, &conv, &activity).await;
        *attempts += sent.attempts;
        match sent.result {
            Ok(activity_id) => {
                return RowOutcome {
                    result: Verdict {
                        outcome: Outcome::Delivered,
                        status_code: Some(200),
                        reason: None,
                    },
                    activity_id: Some(activity_id).filter(|a| !a.is_empty()),
                    conversation_id: Some(conv),
                    detail: None,
                    possible_duplicate: sent.unanswered > 0,
                }
            }
            Err(e) if e.kind == ErrorKind::ConversationNotFound && !reopened => {
                // The user deleted the chat; Teams opens a new one (or the same) for the bot.
                reopened = true;
                let Some(mut r) = reference.take() else {
                    return RowOutcome::of(Outcome::Failed, e.status, Some(Reason::ServiceError));
                };
                r.reference.conversation_id = None;
                match open_conversation(engine, &r.reference, attempts).await {
                    Ok(c) => {
                        r.reference.conversation_id = Some(c);
                        reference = Some(r);
                    }
                    Err(e) => match unreachable(engine, tenant, &aad, &e).await {
                        Ok(reason) => {
                            why = reason;
                            last_error = Some(e);
                        }
                        Err(failed) => return failed,
                    },
                }
            }
            Err(e) => match unreachable(engine, tenant, &aad, &e).await {
                Ok(reason) => {
                    // The reference no longer works: drop it and let the policy answer.
                    why = reason;
                    reference = None;
                    last_error = Some(e);
                }
                Err(failed) => return failed,
            },
        }
    }
}

/// The recipient's card. Expanding a template is CPU work (bounded by the templating budget,
/// tens of milliseconds at worst): it runs on the blocking pool, never on an async worker.
pub(crate) async fn render_for(
    engine: &Engine,
    req: &Arc<StoredRequest>,
    d: &Delivery,
    t: &herald_cards::template::Template,
) -> Result<serde_json::Value, render::RenderError> {
    let (who, given) = recipient_for_template(engine, d, t).await;
    if !t.is_dynamic() {
        return render::card_for(&req.request, t, &who, given.as_deref());
    }
    let req = req.clone();
    tokio::task::spawn_blocking(move || match req.template() {
        Some(t) => render::card_for(&req.request, t, &who, given.as_deref()),
        None => Err(render::RenderError::Template(
            "the card does not compile".into(),
        )),
    })
    .await
    .unwrap_or_else(|e| {
        Err(render::RenderError::Template(format!(
            "rendering failed: {e}"
        )))
    })
}

/// The recipient as a template sees them: a reference learnt from Teams carries no UPN, so a
/// dynamic card asks the directory once and the reference keeps the answer.
async fn recipient_for_template(
    engine: &Engine,
    d: &Delivery,
    t: &herald_cards::template::Template,
) -> (Delivery, Option<String>) {
    let mut d = d.clone();
    let given = d
        .data
        .as_ref()
        .and_then(|m| m.get("givenName")?.as_str().map(str::to_owned));
    // Only a card that reads `upn` (or `givenName`, with nothing else to give it) needs the directory.
    let needs = t.is_dynamic()
        && ((d.upn.is_none() && t.mentions("upn")) || (given.is_none() && t.mentions("givenName")));
    if !needs {
        return (d, given);
    }
    let Some(aad) = d.aad_object_id.clone() else {
        return (d, given);
    };
    let mut given = given;
    if let Ok(Some(r)) = engine.store.get_reference(&engine.tenant, &aad).await {
        if r.reference.upn.is_some() && !t.mentions("givenName") {
            d.upn = r.reference.upn;
            return (d, given);
        }
        if let Ok(Some(u)) = engine.graph.user(&aad).await {
            let upn = u.upn.as_deref().and_then(|u| Upn::parse(u).ok());
            d.upn = upn.clone();
            given = given.or(u.given_name.clone());
            d.display_name = d.display_name.or(u.display_name.clone());
            let kept = Reference { upn, ..r.reference };
            let _ = engine
                .store
                .upsert_reference(&kept, false, engine.clock.now_ms())
                .await;
        }
    }
    (d, given)
}
