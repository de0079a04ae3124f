//! Claiming: pending rows are leased from the store in batches, ahead of the senders by a bound
//! (`Ahead`), with each row's reference, request and opt-outs read once per batch, and queued for
//! `send::start`. The leases of rows in hand are renewed by the sweeper (`Engine::held`) until
//! their outcome is queued.

use crate::worker::Round;
use crate::{Engine, StoredRequest};
use herald_core::category::OptOut;
use herald_core::ids::AadObjectId;
use herald_store::{Delivery, Lease, StoredReference};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, watch, Semaphore};

/// How long a claimed delivery is ours without renewal; a crashed worker's deliveries return
/// after it. The sweeper renews the leases of the rows this node is delivering, so a row that
/// waits (for the throttle, a `Retry-After`, an outage) is never handed to another worker.
pub const LEASE_MS: u64 = 120_000;

/// Rows claimed ahead of the senders, at most, when the tenant budget is off (or
/// `max_in_flight` if that is more): at 5,000 deliveries a second, a fifth of a second's work.
pub(crate) const CLAIM_AHEAD: usize = 1024;

/// How claims keep ahead of the senders.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Ahead {
    /// No tenant budget: the database is what senders wait for, so the next batch (up to this
    /// many rows) is claimed while this one is sent.
    Rows(usize),
    /// A tenant budget: senders wait for the throttle, not for claims, and a row queued ahead
    /// holds an urgent one behind it until a permit frees (a fiftieth of a second apart at
    /// Teams' pace, more on one node of a cluster: five rows ahead made `?sync=true` probes
    /// during a cluster broadcast 0.3 s slower). A claim waits for a free permit and takes
    /// as many rows as there are free permits.
    FreePermits,
}

impl Ahead {
    pub(crate) fn of(tenant_rps: u32, in_flight: usize) -> Ahead {
        if tenant_rps == 0 {
            Ahead::Rows(CLAIM_AHEAD.max(in_flight))
        } else {
            Ahead::FreePermits
        }
    }
}

/// A claimed row, its reference and request read, waiting for a permit to start.
pub(crate) struct Ready {
    pub(crate) delivery: Delivery,
    pub(crate) reference: Option<StoredReference>,
    pub(crate) request: Arc<StoredRequest>,
    /// The recipient opted out of the notification's category: the row is skipped, not sent.
    pub(crate) opted_out: bool,
}

/// Claims as many pending rows as the buffer ahead of the senders has room for (a quarter of
/// it at least, so claims stay batches) or, at a tenant budget, as there are free permits;
/// reads their references, and queues them.
pub(crate) async fn claim(
    engine: &Arc<Engine>,
    ready: &mpsc::Sender<Ready>,
    ahead: Ahead,
    permits: &Semaphore,
    stop: &watch::Receiver<bool>,
) -> Round {
    let mut stop = stop.clone();
    let want = match ahead {
        Ahead::Rows(n) => {
            tokio::select! {
                room = ready.reserve_many((n / 4).max(1)) => if room.is_err() { return Round::Idle },
                _ = stop.changed() => return Round::Idle,
            }
            ready.capacity().max(1)
        }
        Ahead::FreePermits => {
            tokio::select! {
                p = permits.acquire() => if p.is_err() { return Round::Idle },
                _ = stop.changed() => return Round::Idle,
            }
            let queued = ready.max_capacity() - ready.capacity();
            match permits.available_permits().saturating_sub(queued) {
                // The starter took the permit for a queued row: wait for the next one.
                0 => return Round::Busy,
                n => n,
            }
        }
    };
    let now = engine.clock.now_ms();
    let partition = *engine.partition.lock();
    let batch = match engine
        .store
        .claim_partition(now, LEASE_MS, want as u32, partition)
        .await
    {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "cannot claim deliveries");
            Vec::new()
        }
    };
    if batch.is_empty() {
        return Round::Idle;
    }
    // Renewed by the sweeper from now on: a row waiting here, or for the throttle, stays ours.
    {
        let mut held = engine.held.lock();
        for d in &batch {
            if let Some(l) = lease(d) {
                held.insert(l);
            }
        }
    }
    let aads: Vec<AadObjectId> = batch
        .iter()
        .filter_map(|d| d.aad_object_id.clone())
        .collect();
    let refs: HashMap<String, StoredReference> = match engine
        .store
        .references_for(&engine.tenant, &aads)
        .await
    {
        Ok(r) => r
            .into_iter()
            .map(|r| (r.reference.aad_object_id.to_ascii_lowercase(), r))
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read references; the leases will expire and the deliveries return");
            stop_renewing(engine, &batch);
            return Round::Idle;
        }
    };
    let mut requests = Vec::with_capacity(batch.len());
    for d in &batch {
        requests.push(engine.request(&d.notification_id).await);
    }
    // Who opted out of what, read only when a row of the batch has a category.
    let categorised = requests.iter().flatten().any(|r| r.category().is_some());
    let opt_outs: HashMap<String, Vec<OptOut>> = if categorised {
        match engine.store.opt_outs_among(&engine.tenant, &aads).await {
            Ok(found) => {
                let mut by_person: HashMap<String, Vec<OptOut>> = HashMap::new();
                for (aad, o) in found {
                    by_person
                        .entry(aad.to_ascii_lowercase())
                        .or_default()
                        .push(o);
                }
                by_person
            }
            Err(e) => {
                // Sending without knowing would reach someone who asked not to be reached.
                tracing::warn!(error = %e, "cannot read opt-outs; the leases will expire and the deliveries return");
                stop_renewing(engine, &batch);
                return Round::Idle;
            }
        }
    } else {
        HashMap::new()
    };
    for (d, request) in batch.into_iter().zip(requests) {
        let Some(request) = request else {
            tracing::error!(notification = %d.notification_id, "a delivery whose notification cannot be read");
            continue;
        };
        let key = d.aad_object_id.as_ref().map(|a| a.to_ascii_lowercase());
        let reference = key.as_ref().and_then(|k| refs.get(k).cloned());
        let opted_out = match (request.category(), &key) {
            (Some(c), Some(k)) => opt_outs
                .get(k)
                .is_some_and(|mine| mine.iter().any(|o| o.covers(Some(c)))),
            _ => false,
        };
        let item = Ready {
            delivery: d,
            reference,
            request,
            opted_out,
        };
        if ready.send(item).await.is_err() {
            return Round::Idle;
        }
    }
    Round::Busy
}

/// Rows claimed but not queued: their leases are no longer renewed, so they return after them.
fn stop_renewing(engine: &Engine, batch: &[Delivery]) {
    let mut held = engine.held.lock();
    for d in batch {
        if let Some(l) = lease(d) {
            held.remove(&l);
        }
    }
}

pub(crate) fn lease(d: &Delivery) -> Option<Lease> {
    d.lease_token.map(|token| Lease {
        notification_id: d.notification_id.clone(),
        seq: d.seq,
        token,
    })
}
