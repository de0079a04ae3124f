//! The delivery engine: recipients → reachability (stored reference, CreateConversation, Graph
//! install) → rate-limited delivery → status → report. Everything it decides is in the store,
//! so a crash loses nothing: leases expire and the work is taken again.

mod message;
pub mod metrics;
pub mod recipients;
pub mod request;
mod resolve;
mod send;

use crate::config::Config;
use herald_connector::{Connector, Graph};
use herald_core::SharedClock;
use herald_store::Store;
use parking_lot::Mutex;
use request::NotificationRequest;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{watch, Notify};

/// What the store keeps for a notification: the request as accepted, and the recipients named
/// directly, already resolved when it was accepted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredRequest {
    pub request: NotificationRequest,
    #[serde(default)]
    pub users: Vec<recipients::Recipient>,
}

pub struct Engine {
    pub store: Arc<dyn Store>,
    pub connector: Arc<Connector>,
    pub graph: Arc<Graph>,
    pub cfg: Arc<Config>,
    pub clock: SharedClock,
    pub metrics: metrics::Metrics,
    resolve_due: Notify,
    send_due: Notify,
    requests: Mutex<HashMap<String, Arc<StoredRequest>>>,
}

impl Engine {
    pub fn new(
        store: Arc<dyn Store>,
        connector: Arc<Connector>,
        graph: Arc<Graph>,
        cfg: Arc<Config>,
        clock: SharedClock,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            connector,
            graph,
            cfg,
            clock,
            metrics: metrics::Metrics::default(),
            resolve_due: Notify::new(),
            send_due: Notify::new(),
            requests: Mutex::new(HashMap::new()),
        })
    }

    /// Starts the resolver, the senders and the sweeper.
    pub fn spawn(
        self: &Arc<Self>,
        stop: watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        vec![
            tokio::spawn(resolve::run(self.clone(), stop.clone())),
            tokio::spawn(send::run(self.clone(), stop.clone())),
            tokio::spawn(sweep(self.clone(), stop)),
        ]
    }

    /// A notification was accepted (or is due): wake the resolver.
    pub fn wake(&self) {
        self.resolve_due.notify_one();
        self.send_due.notify_one();
    }

    /// The parsed request of a notification, cached.
    async fn request(&self, id: &str) -> Option<Arc<StoredRequest>> {
        if let Some(r) = self.requests.lock().get(id) {
            return Some(r.clone());
        }
        let n = self.store.get_notification(id).await.ok().flatten()?;
        let parsed: StoredRequest = serde_json::from_str(&n.request).ok()?;
        let parsed = Arc::new(parsed);
        let mut cache = self.requests.lock();
        if cache.len() > 1_000 {
            cache.clear();
        }
        cache.insert(id.to_owned(), parsed.clone());
        Some(parsed)
    }
}

/// Expired leases go back to the queue; scheduled notifications start when due.
async fn sweep(engine: Arc<Engine>, mut stop: watch::Receiver<bool>) {
    loop {
        let now = engine.clock.now_ms();
        match engine.store.reclaim_expired(now).await {
            Ok(n) if n > 0 => {
                tracing::info!(
                    deliveries = n,
                    "leases expired (a worker stopped); taking them again"
                );
                engine.send_due.notify_one();
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot reclaim expired leases"),
        }
        match engine.store.start_due(now).await {
            Ok(n) if n > 0 => engine.resolve_due.notify_one(),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot start scheduled notifications"),
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
    }
}
