//! Several nodes on one database: the tenant budget they share (the store's slot schedule behind
//! the connector's throttle), heartbeats, the cluster's view of itself, and wake-ups that cross
//! nodes (PostgreSQL `LISTEN`/`NOTIFY`; every worker still polls, so a lost wake-up only costs
//! its poll interval).

use crate::worker::{self, Round};
use crate::Engine;
use herald_connector::SharedSlots;
use herald_core::ids::TenantId;
use herald_store::{NodeBeat, Store, Work};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// A node whose last heartbeat is older than this is not counted as alive.
pub const ALIVE_MS: u64 = 5_000;

/// The tenant's send schedule in the store, as the connector's throttle asks for it.
pub struct StoreSlots {
    store: Arc<dyn Store>,
    tenant: TenantId,
}

impl StoreSlots {
    pub fn new(store: Arc<dyn Store>, tenant: TenantId) -> Self {
        Self { store, tenant }
    }
}

#[async_trait::async_trait]
impl SharedSlots for StoreSlots {
    async fn reserve(
        &self,
        now_us: u64,
        count: u32,
        interval_us: u64,
        catch_up_us: u64,
    ) -> Result<u64, String> {
        self.store
            .reserve_slots(&self.tenant, now_us, count, interval_us, catch_up_us)
            .await
            .map_err(|e| e.to_string())
    }

    async fn hold(&self, until_us: u64) -> Result<(), String> {
        self.store
            .hold_budget(&self.tenant, until_us)
            .await
            .map_err(|e| e.to_string())
    }
}

/// Tells the other nodes (when the store is shared) that work is waiting; a failure only costs
/// them their poll interval.
pub async fn announce(engine: &Engine, work: Work) {
    if engine.store.shared() {
        if let Err(e) = engine.store.announce(work).await {
            tracing::debug!(error = %e, "cannot announce work to the other nodes");
        }
    }
}

/// Wakes this node's workers when any node announces work.
pub async fn listen(engine: Arc<Engine>, mut stop: watch::Receiver<bool>) {
    let mut rx = match engine.store.listen().await {
        Ok(Some(rx)) => rx,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for other nodes' work; polling only");
            return;
        }
    };
    loop {
        tokio::select! {
            w = rx.recv() => match w {
                Some(Work::Resolve) => engine.resolve_due.notify_one(),
                Some(Work::Send) => engine.send_due.notify_one(),
                None => return,
            },
            _ = stop.changed() => return,
        }
    }
}

/// Beats every second (with the send slots this node reserved lately); leaves on stop.
pub async fn heartbeat(engine: Arc<Engine>, stop: watch::Receiver<bool>) {
    let started_at = engine.clock.now_ms();
    let last = parking_lot::Mutex::new((engine.connector.throttle().slots().0, started_at));
    worker::run(stop, None, Duration::from_secs(1), || async {
        let now = engine.clock.now_ms();
        let reserved = engine.connector.throttle().slots().0;
        let rate = {
            let mut l = last.lock();
            let per_s = (reserved - l.0) as f64 * 1000.0 / now.saturating_sub(l.1).max(1) as f64;
            *l = (reserved, now);
            per_s
        };
        let budget = serde_json::json!({ engine.tenant.as_str(): (rate * 10.0).round() / 10.0 });
        let beat = NodeBeat {
            node_id: engine.cfg.node_id.clone(),
            started_at,
            heartbeat_at: now,
            budget: budget.to_string(),
        };
        if let Err(e) = engine.store.heartbeat(&beat).await {
            tracing::warn!(error = %e, "cannot write this node's heartbeat");
        }
        if engine.store.shared() {
            let partition = match engine.store.nodes().await {
                Ok(nodes) => partition_of(&engine.cfg.node_id, &nodes, now),
                Err(_) => herald_store::Partition::ALL,
            };
            let before = std::mem::replace(&mut *engine.partition.lock(), partition);
            if before != partition {
                tracing::info!(
                    index = partition.index,
                    nodes = partition.count,
                    "the live nodes changed; this node now claims its share of the recipients"
                );
            }
        }
        Round::Idle
    })
    .await;
    if let Err(e) = engine.store.leave(&engine.cfg.node_id).await {
        tracing::warn!(error = %e, "cannot say this node left");
    }
}

/// Which recipients this node claims: the live nodes in id order, each taking the recipients
/// whose key hashes to its place. A node that does not see itself (its heartbeat failed) claims
/// every row rather than none.
pub fn partition_of(me: &str, nodes: &[NodeBeat], now: u64) -> herald_store::Partition {
    let alive: Vec<&str> = nodes
        .iter()
        .filter(|n| n.heartbeat_at + ALIVE_MS >= now)
        .map(|n| n.node_id.as_str())
        .collect();
    match alive.iter().position(|n| *n == me) {
        Some(i) => herald_store::Partition {
            index: i as u32,
            count: alive.len() as u32,
        },
        None => herald_store::Partition::ALL,
    }
}

/// One node as `GET /v1/cluster` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeView {
    pub node_id: String,
    pub started_at: u64,
    pub heartbeat_at: u64,
    pub alive: bool,
    /// Per tenant: the send slots per second it reserved lately, and its share of what the
    /// live nodes reserved.
    pub budget: BTreeMap<String, Share>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Share {
    pub slots_per_second: f64,
    pub share: f64,
}

/// Every node that has beaten in the last hour, with its share of each tenant's budget.
pub async fn view(engine: &Engine) -> Result<Vec<NodeView>, herald_store::StoreError> {
    let now = engine.clock.now_ms();
    let beats = engine.store.nodes().await?;
    let rates: Vec<(bool, BTreeMap<String, f64>)> = beats
        .iter()
        .map(|b| {
            let alive = b.heartbeat_at + ALIVE_MS >= now;
            let r = serde_json::from_str(&b.budget).unwrap_or_default();
            (alive, r)
        })
        .collect();
    let mut totals: BTreeMap<String, f64> = BTreeMap::new();
    for (alive, r) in &rates {
        for (t, v) in r {
            if *alive {
                *totals.entry(t.clone()).or_default() += v;
            }
        }
    }
    Ok(beats
        .into_iter()
        .zip(rates)
        .map(|(b, (alive, r))| NodeView {
            node_id: b.node_id,
            started_at: b.started_at,
            heartbeat_at: b.heartbeat_at,
            alive,
            budget: r
                .into_iter()
                .map(|(t, v)| {
                    let total = totals.get(&t).copied().unwrap_or(0.0);
                    let share = if alive && total > 0.0 { v / total } else { 0.0 };
                    (
                        t,
                        Share {
                            slots_per_second: v,
                            share: (share * 1000.0).round() / 1000.0,
                        },
                    )
                })
                .collect(),
        })
        .collect())
}
