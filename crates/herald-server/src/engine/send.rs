//! Delivery: claimed rows are sent up to `max_in_flight` at once, each through the connector's
//! throttle and retries; outcomes are written in batches. Reachability follows the options: a
//! stored reference is used as is; without one (or when Teams says the bot is gone), the
//! `ifNotInstalled` policy answers — `fail`, `succeed`, or `install` through Graph and
//! CreateConversation, the new reference kept for next time.

use super::request::{IfChatActive, IfNotInstalled};
use super::{message, render};
use super::{Engine, StoredRequest};
use futures_util::FutureExt as _;
use herald_connector::{ConnectorError, ErrorKind, Install};
use herald_store::{
    Delivery, DeliveryResult, Lease, NewResponse, Outcome, RefState, Reference, Result_, Source,
    StoredReference,
};
use herald_wire::activity::MAX_ACTIVITY_BYTES;
use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};

/// How long a claimed delivery is ours without renewal; a crashed worker's deliveries return
/// after it. The sweeper renews the leases of the rows this node is delivering, so a row that
/// waits (for the throttle, a `Retry-After`, an outage) is never handed to another worker.
pub const LEASE_MS: u64 = 120_000;

/// Permits for deliveries about to be claimed: at least one, and as many more as are free.
/// When few are free, a moment's wait lets more come back, so claims stay batches.
async fn slots(permits: &Arc<Semaphore>, in_flight: usize) -> Option<Vec<OwnedSemaphorePermit>> {
    let first = permits.clone().acquire_owned().await.ok()?;
    let mut slots = vec![first];
    let take = |slots: &mut Vec<OwnedSemaphorePermit>| {
        while slots.len() < 1024 {
            match permits.clone().try_acquire_owned() {
                Ok(p) => slots.push(p),
                Err(_) => break,
            }
        }
    };
    take(&mut slots);
    if slots.len() < in_flight / 4 {
        tokio::time::sleep(Duration::from_millis(2)).await;
        take(&mut slots);
    }
    Some(slots)
}

pub async fn run(engine: Arc<Engine>, mut stop: watch::Receiver<bool>) {
    let in_flight = engine.cfg.max_in_flight as usize;
    let permits = Arc::new(Semaphore::new(in_flight));
    let (tx, rx) = mpsc::channel::<DeliveryResult>(8192);
    let recorder = tokio::spawn(record(engine.clone(), rx));
    loop {
        if *stop.borrow() {
            break;
        }
        // Only as many rows are claimed as can start now: a claimed row never waits, unstarted,
        // for a permit while its lease runs out.
        let mut slots = tokio::select! {
            s = slots(&permits, in_flight) => match s {
                Some(s) => s,
                None => break,
            },
            _ = stop.changed() => continue,
        };
        let now = engine.clock.now_ms();
        let batch = match engine
            .store
            .claim_deliveries(now, LEASE_MS, slots.len() as u32)
            .await
        {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim deliveries");
                Vec::new()
            }
        };
        if batch.is_empty() {
            drop(slots);
            tokio::select! {
                _ = engine.send_due.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = stop.changed() => {}
            }
            continue;
        }
        let aads: Vec<String> = batch
            .iter()
            .filter_map(|d| d.aad_object_id.clone())
            .collect();
        let refs: HashMap<String, StoredReference> = match engine
            .store
            .references_for(&engine.cfg.tenant_id, &aads)
            .await
        {
            Ok(r) => r
                .into_iter()
                .map(|r| (r.reference.aad_object_id.to_ascii_lowercase(), r))
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read references; the leases will expire and the deliveries return");
                continue;
            }
        };
        for d in batch {
            let permit = match slots.pop() {
                Some(p) => p,
                None => match permits.clone().acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let Some(req) = engine.request(&d.notification_id).await else {
                tracing::error!(notification = %d.notification_id, "a delivery whose notification cannot be read");
                continue;
            };
            let reference = d
                .aad_object_id
                .as_ref()
                .and_then(|a| refs.get(&a.to_ascii_lowercase()).cloned());
            let (engine, tx) = (engine.clone(), tx.clone());
            let lease = d.lease_token.map(|token| Lease {
                notification_id: d.notification_id.clone(),
                seq: d.seq,
                token,
            });
            if let Some(l) = &lease {
                engine.held.lock().insert(l.clone());
            }
            tokio::spawn(async move {
                // A delivery that panics is recorded as failed: left leased, it would be taken
                // again after the lease and panic again, for ever.
                let (notification_id, seq, lease_token) =
                    (d.notification_id.clone(), d.seq, d.lease_token);
                let result = AssertUnwindSafe(deliver(&engine, d, reference, &req))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| {
                        tracing::error!(notification = %notification_id, seq, "a delivery panicked; it is recorded as failed");
                        DeliveryResult {
                            notification_id,
                            seq,
                            result: end(Outcome::Failed, None, Some("service_error")).result,
                            attempts: 0,
                            activity_id: None,
                            conversation_id: None,
                            detail: Some("Herald failed internally while delivering; the log has the cause".into()),
                            wait: None,
                            lease_token,
                            possible_duplicate: false,
                        }
                    });
                let _ = tx.send(result).await;
                // Renewed until its outcome is queued; the recorder writes it with the token.
                if let Some(l) = &lease {
                    engine.held.lock().remove(l);
                }
                drop(permit);
            });
        }
        drop(slots);
    }
    // Stop: let what is in flight finish (bounded), so its outcome is recorded.
    let _ = tokio::time::timeout(
        Duration::from_secs(10),
        permits.acquire_many(in_flight as u32),
    )
    .await;
    drop(tx);
    let _ = tokio::time::timeout(Duration::from_secs(5), recorder).await;
}

/// Writes outcomes in batches (one transaction each) and completes finished notifications.
async fn record(engine: Arc<Engine>, mut rx: mpsc::Receiver<DeliveryResult>) {
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
    let ids: HashSet<String> = buf.iter().map(|r| r.notification_id.clone()).collect();
    for id in ids {
        if let Err(e) = engine
            .store
            .complete_if_done(&id, engine.clock.now_ms())
            .await
        {
            tracing::warn!(error = %e, "cannot complete a notification");
        }
    }
    buf.clear();
}

/// Status code and reason for a failure Teams (or the way there) reported.
fn failure(e: &ConnectorError) -> (Option<u16>, &'static str) {
    match e.kind {
        ErrorKind::BadRequest => (Some(400), "bad_request"),
        ErrorKind::TooBig => (Some(413), "message_too_big"),
        ErrorKind::Throttled => (Some(429), "throttled"),
        ErrorKind::NotFound => (e.status.or(Some(404)), "bad_request"),
        // Still not found after a new conversation was opened.
        ErrorKind::ConversationNotFound => (e.status.or(Some(404)), "service_error"),
        ErrorKind::NotInstalled => (e.status.or(Some(403)), "not_installed"),
        ErrorKind::Blocked => (e.status.or(Some(403)), "blocked"),
        ErrorKind::Transient => (e.status.or(Some(504)), "service_error"),
        ErrorKind::ServiceError
        | ErrorKind::Unauthorized
        | ErrorKind::Forbidden
        | ErrorKind::Configuration => (e.status, "service_error"),
    }
}

pub(super) struct Outcome_ {
    pub(super) result: Result_,
    pub(super) activity_id: Option<String>,
    pub(super) conversation_id: Option<String>,
    pub(super) detail: Option<String>,
    /// A send went unanswered (it may have arrived) before one succeeded.
    pub(super) possible_duplicate: bool,
}

pub(super) fn end(outcome: Outcome, code: Option<u16>, reason: Option<&str>) -> Outcome_ {
    Outcome_ {
        result: Result_ {
            outcome,
            status_code: code,
            reason: reason.map(str::to_owned),
        },
        activity_id: None,
        conversation_id: None,
        detail: None,
        possible_duplicate: false,
    }
}

async fn deliver(
    engine: &Engine,
    d: Delivery,
    reference: Option<StoredReference>,
    req: &Arc<StoredRequest>,
) -> DeliveryResult {
    let started = Instant::now();
    let mut attempts = 0u32;
    let o = deliver_inner(engine, &d, reference, req, &mut attempts).await;
    engine
        .metrics
        .observe_send(started.elapsed().as_secs_f64(), attempts);
    let wait = match (&req.request.options.wait_for_response, o.result.outcome) {
        (Some(w), Outcome::Delivered) => Some(NewResponse {
            recipient: d.recipient.clone(),
            aad_object_id: d.aad_object_id.clone(),
            deadline: engine.clock.now_ms() + w.timeout_ms(),
            callback_url: w.callback_url.clone(),
        }),
        _ => None,
    };
    DeliveryResult {
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
) -> Outcome_ {
    let opts = &req.request.options;
    let tenant = &engine.cfg.tenant_id;
    if let Some(upn) = &opts.as_user {
        return super::as_user::deliver(engine, d, req, upn).await;
    }
    let Some(aad) = d.aad_object_id.clone() else {
        return end(Outcome::Failed, Some(404), Some("unknown_user"));
    };
    // The recipient's card first: nothing is installed or opened for a card that cannot be sent.
    let card = match req.template() {
        Some(t) => match render_for(engine, req, d, t).await {
            Ok(c) => Some(c),
            Err(render::RenderError::Template(why)) => {
                return Outcome_ {
                    detail: Some(why),
                    ..end(Outcome::Failed, None, Some("template_error"))
                }
            }
            Err(render::RenderError::TooBig(why)) => {
                return Outcome_ {
                    detail: Some(why),
                    ..end(Outcome::Failed, Some(413), Some("message_too_big"))
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
                return end(Outcome::Skipped, Some(300), Some("chat_active"))
            }
            IfChatActive::Fail if active => {
                return end(Outcome::Failed, Some(300), Some("chat_active"))
            }
            _ => {}
        }
    }
    let mut why = "not_installed";
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
                    Err(e) => match e.unreachable_reason() {
                        Some(reason) => {
                            why = reason;
                            let _ = engine
                                .store
                                .mark_unreachable(tenant, &aad, reason, engine.clock.now_ms())
                                .await;
                            last_error = Some(e);
                            None
                        }
                        None => {
                            let (code, reason) = failure(&e);
                            return end(Outcome::Failed, code, Some(reason));
                        }
                    },
                },
            },
            None => None,
        };
        let Some((service_url, conv, bot_name)) = target else {
            match opts.if_not_installed {
                IfNotInstalled::Fail => return end(Outcome::Failed, Some(100), Some(why)),
                IfNotInstalled::Succeed => return end(Outcome::Skipped, Some(100), Some(why)),
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
                    return end(Outcome::Failed, code, Some(why));
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
            return end(Outcome::Failed, Some(413), Some("message_too_big"));
        }
        let sent = engine.connector.send(&service_url, &conv, &activity).await;
        *attempts += sent.attempts;
        match sent.result {
            Ok(activity_id) => {
                return Outcome_ {
                    result: Result_ {
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
                    return end(Outcome::Failed, e.status, Some("service_error"));
                };
                r.reference.conversation_id = None;
                match open_conversation(engine, &r.reference, attempts).await {
                    Ok(c) => {
                        r.reference.conversation_id = Some(c);
                        reference = Some(r);
                    }
                    Err(e) => match e.unreachable_reason() {
                        Some(reason) => {
                            why = reason;
                            let _ = engine
                                .store
                                .mark_unreachable(tenant, &aad, reason, engine.clock.now_ms())
                                .await;
                            last_error = Some(e);
                        }
                        None => {
                            let (code, reason) = failure(&e);
                            return end(Outcome::Failed, code, Some(reason));
                        }
                    },
                }
            }
            Err(e) => match e.unreachable_reason() {
                Some(reason) => {
                    // The reference no longer works: drop it and let the policy answer.
                    why = reason;
                    let _ = engine
                        .store
                        .mark_unreachable(tenant, &aad, reason, engine.clock.now_ms())
                        .await;
                    reference = None;
                    last_error = Some(e);
                }
                None => {
                    let (code, reason) = failure(&e);
                    return end(Outcome::Failed, code, Some(reason));
                }
            },
        }
    }
}

/// The recipient's card. Expanding a template is CPU work (bounded by the templating budget,
/// tens of milliseconds at worst): it runs on the blocking pool, never on an async worker.
async fn render_for(
    engine: &Engine,
    req: &Arc<StoredRequest>,
    d: &Delivery,
    t: &herald_cards::template::Template,
) -> Result<serde_json::Value, render::RenderError> {
    let (who, given) = who(engine, d, t).await;
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
async fn who(
    engine: &Engine,
    d: &Delivery,
    t: &herald_cards::template::Template,
) -> (Delivery, Option<String>) {
    let mut d = d.clone();
    let given = d
        .data
        .as_deref()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
        .and_then(|v| v["givenName"].as_str().map(str::to_owned));
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
    if let Ok(Some(r)) = engine
        .store
        .get_reference(&engine.cfg.tenant_id, &aad)
        .await
    {
        if r.reference.upn.is_some() && !t.mentions("givenName") {
            d.upn = r.reference.upn;
            return (d, given);
        }
        if let Ok(Some(u)) = engine.graph.user(&aad).await {
            d.upn = u.upn.clone();
            given = given.or(u.given_name.clone());
            d.display_name = d.display_name.or(u.display_name.clone());
            let kept = Reference {
                upn: u.upn,
                ..r.reference
            };
            let _ = engine
                .store
                .upsert_reference(&kept, false, engine.clock.now_ms())
                .await;
        }
    }
    (d, given)
}

/// CreateConversation for a user known through a team (no 1:1 yet); the id is kept.
async fn open_conversation(
    engine: &Engine,
    r: &Reference,
    attempts: &mut u32,
) -> Result<String, ConnectorError> {
    let sent = engine
        .connector
        .create_conversation(&r.service_url, &r.bot_id, &r.user_id, &r.tenant_id)
        .await;
    *attempts += sent.attempts;
    let conv = sent.result?;
    let updated = Reference {
        conversation_id: Some(conv.clone()),
        ..r.clone()
    };
    let _ = engine
        .store
        .upsert_reference(&updated, false, engine.clock.now_ms())
        .await;
    Ok(conv)
}

/// Installs the app for the user through Graph (409 = it already was), opens the 1:1
/// conversation, and keeps the reference. The install's own welcome is suppressed: this
/// notification is the first thing the user sees.
async fn install(
    engine: &Engine,
    aad: &str,
    d: &Delivery,
    attempts: &mut u32,
) -> Result<StoredReference, Outcome_> {
    let cfg = &engine.cfg;
    let now = engine.clock.now_ms();
    let Some(app) = cfg.teams_app_id.as_deref() else {
        return Err(end(Outcome::Failed, Some(100), Some("not_installed")));
    };
    let store_err = |e: herald_store::StoreError| {
        tracing::error!(error = %e, "store failed during an install");
        end(Outcome::Failed, None, Some("service_error"))
    };
    let bot_id = format!("28:{}", cfg.app_id);
    let mut reference = Reference {
        tenant_id: cfg.tenant_id.clone(),
        aad_object_id: aad.to_owned(),
        // The Teams id is not known until Teams says it; the AAD id works for CreateConversation.
        user_id: aad.to_owned(),
        user_name: d.display_name.clone(),
        upn: d.upn.clone(),
        bot_id: bot_id.clone(),
        bot_name: None,
        conversation_id: None,
        conversation_type: "personal".into(),
        channel_id: "msteams".into(),
        service_url: cfg.service_url.clone(),
        locale: None,
        source: Source::Created,
    };
    if let Ok(Some(existing)) = engine.store.get_reference(&cfg.tenant_id, aad).await {
        reference.user_id = existing.reference.user_id;
        reference.bot_name = existing.reference.bot_name;
    }
    // Keep the row (and its "no welcome") before Teams tells the bot about the install.
    engine
        .store
        .upsert_reference(&reference, false, now)
        .await
        .map_err(store_err)?;
    engine
        .store
        .suppress_welcome(&cfg.tenant_id, aad)
        .await
        .map_err(store_err)?;
    match engine.graph.install_app(aad, app).await {
        Ok(Install::Installed | Install::AlreadyInstalled) => {}
        Err(e) => {
            let (code, _) = failure(&e);
            return Err(end(Outcome::Failed, code, Some("service_error")));
        }
    }
    let sent = engine
        .connector
        .create_conversation(
            &cfg.service_url,
            &bot_id,
            &reference.user_id,
            &cfg.tenant_id,
        )
        .await;
    *attempts += sent.attempts;
    let conv = match sent.result {
        Ok(c) => c,
        Err(e) => {
            let (code, reason) = failure(&e);
            return Err(end(Outcome::Failed, code, Some(reason)));
        }
    };
    reference.conversation_id = Some(conv);
    engine
        .store
        .upsert_reference(&reference, false, engine.clock.now_ms())
        .await
        .map_err(store_err)?;
    engine
        .store
        .get_reference(&cfg.tenant_id, aad)
        .await
        .map_err(store_err)?
        .ok_or_else(|| end(Outcome::Failed, None, Some("service_error")))
}
