//! Herald's engine: what happens to a notification once it is accepted, and to an activity once
//! it is authenticated. Recipients → reachability (stored reference, CreateConversation, Graph
//! install) → rate-limited delivery → status; welcomes; answers to cards and their callbacks;
//! sending as a signed-in user; the workers that run all of it. Everything it decides is in the
//! store, so a crash loses nothing: leases expire and the work is taken again.
//!
//! No HTTP server types here (no axum, no `http`, no OpenAPI): `herald-server` is the HTTP face
//! and maps this crate's errors to problem+json. `scripts/check-architecture` keeps it so.

pub mod access;
mod amend;
pub mod answers;
mod as_user;
pub mod callbacks;
mod claim;
pub mod cluster;
pub mod config;
pub mod delegated;
pub mod egress;
pub mod erasure;
pub mod lifecycle;
pub mod local_time;
mod message;
pub mod metrics;
mod outcome;
mod reachability;
mod reads;
pub mod recipients;
mod remind;
pub mod render;
pub mod request;
mod resolve;
pub mod secret;
pub mod send;
mod welcome;
pub mod worker;

pub use config::{Config, ConfigError, DatabaseUrl, Secret};

use herald_connector::{Connector, Graph};
use herald_core::ids::{NotificationId, TenantId};
use herald_core::SharedClock;
use herald_store::Store;
use herald_store::StoreError;
use parking_lot::Mutex;
use request::NotificationRequest;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::{watch, Notify, Semaphore};

/// What Herald answers Teams for an activity it accepted.
#[derive(Debug, Clone, PartialEq)]
pub enum BotReply {
    /// Taken in (HTTP 200, no body).
    Accepted,
    /// The body of an invoke response (HTTP 200): an `adaptiveCard/action` answer.
    Invoke(Value),
    /// A card answer from someone, or somewhere, the card was not sent to (HTTP 403).
    Refused(String),
}

/// A failure of Herald's own, not of the input: the HTTP layer logs it and answers 500.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
    /// The configuration lacks what the engine needs.
    #[error("{0}")]
    Config(String),
}

/// The most people a notification may name inline and still count as small (see
/// `StoredRequest::lane`).
pub const SMALL: usize = 100;

/// What the store keeps for a notification: the request as accepted, and the recipients named
/// directly, already resolved when it was accepted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredRequest {
    pub request: NotificationRequest,
    #[serde(default)]
    pub users: Vec<recipients::Recipient>,
    /// The card compiled once (it was checked when the notification was accepted).
    #[serde(skip)]
    template: std::sync::OnceLock<Option<herald_cards::template::Template>>,
    /// `options.category` parsed once (it was checked when the notification was accepted).
    #[serde(skip)]
    category: std::sync::OnceLock<Option<herald_core::category::Category>>,
}

impl StoredRequest {
    pub fn new(request: NotificationRequest, users: Vec<recipients::Recipient>) -> Self {
        Self {
            request,
            users,
            template: std::sync::OnceLock::new(),
            category: std::sync::OnceLock::new(),
        }
    }

    /// What the notification is about, as opt-outs name it.
    pub fn category(&self) -> Option<&herald_core::category::Category> {
        self.category
            .get_or_init(|| self.request.options.category())
            .as_ref()
    }

    /// The text the store keeps (the store does not look inside it).
    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).expect("a request that was parsed serialises")
    }

    /// Reads back what `to_stored` wrote.
    pub fn from_stored(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Which lane its rows wait in for the tenant's send slots: a high-priority notification,
    /// or a normal one that names at most [`SMALL`] people inline and nobody else, overtakes a
    /// broadcast's queue.
    pub fn lane(&self) -> herald_connector::Lane {
        use herald_store::Priority;
        let to = &self.request.to;
        let small = to.teams.is_empty()
            && to.groups.is_empty()
            && to.csv.is_none()
            && !to.all_installed
            && to.users.len() <= SMALL;
        match self.request.options.priority {
            Priority::High => herald_connector::Lane::Urgent,
            Priority::Normal if small => herald_connector::Lane::Urgent,
            _ => herald_connector::Lane::Bulk,
        }
    }

    /// How the card waits for answers (the defaults when the request did not say).
    pub fn wait(&self) -> request::WaitForResponse {
        self.request
            .options
            .wait_for_response
            .clone()
            .unwrap_or_default()
    }

    /// The compiled card template, if the message is a card.
    pub fn template(&self) -> Option<&herald_cards::template::Template> {
        self.template
            .get_or_init(|| {
                let card = self.request.message.card.as_ref()?;
                herald_cards::template::Template::compile(card).ok()
            })
            .as_ref()
    }
}

/// A notification's group chat and its message (chat id, message id), made once.
type GroupChat = tokio::sync::OnceCell<Result<(String, String), String>>;

pub struct Engine {
    /// The tenant it sends in (`HERALD_TENANT_ID`).
    pub tenant: TenantId,
    pub store: Arc<dyn Store>,
    pub connector: Arc<Connector>,
    pub graph: Arc<Graph>,
    pub cfg: Arc<Config>,
    pub clock: SharedClock,
    pub metrics: metrics::Metrics,
    resolve_due: Notify,
    send_due: Notify,
    /// Poked whenever a response changes (answers, timeouts): long polls wake on it.
    pub responses_changed: Notify,
    /// Poked when callbacks are due.
    pub callbacks_due: Notify,
    /// Signed-in users' tokens (sending as a user).
    pub users: crate::delegated::UserTokenSource,
    /// Poked when a welcome is queued.
    pub welcome_due: Notify,
    /// Bounds the replies to users' messages being sent at once.
    pub replies: Arc<Semaphore>,
    /// `callback_allowed_hosts`, for the checks on callback URLs.
    pub callback_hosts: crate::egress::AllowedHosts,
    /// Tenants outside `allowed_tenants` that wrote, and when that was last logged.
    foreign_tenants: Mutex<HashMap<String, u64>>,
    /// Group chats opened for notifications sent as a user (one per notification).
    group_chats: Mutex<HashMap<NotificationId, Arc<GroupChat>>>,
    /// Card updates done, written in batches by the responses worker.
    pub updates_done: Mutex<Vec<(NotificationId, i64, herald_store::UpdateState)>>,
    /// The leases of the rows this node is delivering: the sweeper renews them.
    pub held: Mutex<HashSet<herald_store::Lease>>,
    /// When the held leases were last renewed (clock time).
    renewed_at: Mutex<u64>,
    /// The rows this node claims among the live nodes (`cluster::heartbeat` keeps it).
    pub partition: Mutex<herald_store::Partition>,
    requests: Mutex<RequestCache>,
}

/// Parsed requests of the notifications being worked on, and the stored size of them all.
#[derive(Default)]
struct RequestCache {
    entries: HashMap<NotificationId, Arc<StoredRequest>>,
    bytes: usize,
}

impl RequestCache {
    fn len(&self) -> usize {
        self.entries.len()
    }
}

/// What the parsed-request cache may hold, counted as the requests' stored JSON.
const REQUEST_CACHE_BYTES: usize = 256 << 20;

impl Engine {
    pub fn new(
        store: Arc<dyn Store>,
        connector: Arc<Connector>,
        graph: Arc<Graph>,
        cfg: Arc<Config>,
        clock: SharedClock,
    ) -> Result<Arc<Self>, EngineError> {
        let tenant = cfg.tenant_id.clone().ok_or_else(|| {
            EngineError::Config(
                "HERALD_TENANT_ID is not set: the engine sends in one tenant".into(),
            )
        })?;
        let users =
            crate::delegated::UserTokenSource::new(cfg.clone(), store.clone(), clock.clone());
        let replies = Arc::new(Semaphore::new(cfg.max_in_flight as usize));
        let callback_hosts = crate::egress::AllowedHosts::new(&cfg.callback_allowed_hosts);
        Ok(Arc::new(Self {
            tenant,
            store,
            connector,
            graph,
            cfg,
            clock,
            metrics: metrics::Metrics::default(),
            resolve_due: Notify::new(),
            send_due: Notify::new(),
            responses_changed: Notify::new(),
            callbacks_due: Notify::new(),
            updates_done: Mutex::new(Vec::new()),
            held: Mutex::new(HashSet::new()),
            renewed_at: Mutex::new(0),
            partition: Mutex::new(herald_store::Partition::ALL),
            users,
            welcome_due: Notify::new(),
            replies,
            callback_hosts,
            foreign_tenants: Mutex::new(HashMap::new()),
            group_chats: Mutex::new(HashMap::new()),
            requests: Mutex::new(RequestCache::default()),
        }))
    }

    /// Starts every worker: the resolver, the senders, the sweeper, welcomes, callbacks and the
    /// recording of card updates. Each stops when `stop` turns true, after its work in flight.
    pub fn spawn(
        self: &Arc<Self>,
        stop: watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        vec![
            tokio::spawn(resolve::run(self.clone(), stop.clone())),
            tokio::spawn(send::run(self.clone(), stop.clone())),
            tokio::spawn(sweep(self.clone(), stop.clone())),
            tokio::spawn(checkpoint(self.clone(), stop.clone())),
            tokio::spawn(give_back_memory(stop.clone())),
            tokio::spawn(erasure::purge(self.clone(), stop.clone())),
            tokio::spawn(reads::reapply(self.clone(), stop.clone())),
            tokio::spawn(remind::run(self.clone(), stop.clone())),
            tokio::spawn(amend::run(self.clone(), stop.clone())),
            tokio::spawn(welcome::run(self.clone(), stop.clone())),
            tokio::spawn(callbacks::run(self.clone(), stop.clone())),
            tokio::spawn(callbacks::record_updates(self.clone(), stop.clone())),
            tokio::spawn(cluster::listen(self.clone(), stop.clone())),
            tokio::spawn(cluster::heartbeat(self.clone(), stop)),
        ]
    }

    /// An activity from a tenant that is not allowed: logged once per tenant per hour.
    pub fn foreign_tenant(&self, tenant: &str, kind: &str, now: u64) {
        const HOUR_MS: u64 = 3_600_000;
        let mut seen = self.foreign_tenants.lock();
        if seen
            .get(tenant)
            .is_some_and(|t| now.saturating_sub(*t) < HOUR_MS)
        {
            return;
        }
        // Tenant ids come from the activity: bound what is remembered of them.
        if seen.len() >= 10_000 {
            seen.clear();
        }
        seen.insert(tenant.to_owned(), now);
        tracing::warn!(
            tenant,
            kind,
            "an activity from a tenant outside allowed_tenants was ignored (logged once an hour per tenant)"
        );
    }

    /// A notification was accepted (or is due): wake the resolver, here and on the other nodes.
    pub async fn wake(&self) {
        self.resolve_due.notify_one();
        self.send_due.notify_one();
        cluster::announce(self, herald_store::Work::Resolve).await;
    }

    /// The parsed request of a notification (cached).
    pub async fn stored_request(&self, id: &NotificationId) -> Option<Arc<StoredRequest>> {
        self.request(id).await
    }

    /// An answer was kept: count it, wake long polls and the callback sender.
    pub fn answered(&self, outcome: herald_store::AnswerOutcome) {
        use herald_store::AnswerOutcome as A;
        use std::sync::atomic::Ordering::Relaxed;
        let m = &self.metrics;
        match outcome {
            A::First => m.answers_first.fetch_add(1, Relaxed),
            A::Later | A::Late => m.answers_later.fetch_add(1, Relaxed),
            A::Replay => m.answers_replayed.fetch_add(1, Relaxed),
        };
        if outcome == A::First {
            self.responses_changed.notify_waiters();
            self.callbacks_due.notify_one();
        }
    }

    /// The parsed request of a notification, cached.
    /// Drops every cached request (an erasure rewrote some).
    pub fn forget_requests(&self) {
        let mut cache = self.requests.lock();
        cache.entries.clear();
        cache.bytes = 0;
    }

    async fn request(&self, id: &NotificationId) -> Option<Arc<StoredRequest>> {
        if let Some(r) = self.requests.lock().entries.get(id) {
            return Some(r.clone());
        }
        let n = self.store.get_notification(id).await.ok().flatten()?;
        let parsed = StoredRequest::from_stored(&n.request).ok()?;
        let parsed = Arc::new(parsed);
        let mut cache = self.requests.lock();
        // Bounded by what the requests weigh, not by how many there are: a request may be up to
        // max_body_mb (a CSV audience), and a thousand of those would not fit in memory.
        let bytes = n.request.len();
        if cache.len() >= 1_000 || cache.bytes + bytes > REQUEST_CACHE_BYTES {
            cache.entries.clear();
            cache.bytes = 0;
        }
        cache.bytes += bytes;
        cache.entries.insert(id.clone(), parsed.clone());
        Some(parsed)
    }
}

/// Extends the leases of the rows this node is delivering, a quarter of a lease at a time: a row
/// waiting for the throttle, a `Retry-After` or the end of an outage stays ours.
async fn renew_held(engine: &Engine, now: u64) {
    {
        let mut at = engine.renewed_at.lock();
        if now.saturating_sub(*at) < claim::LEASE_MS / 4 {
            return;
        }
        *at = now;
    }
    let leases: Vec<herald_store::Lease> = engine.held.lock().iter().cloned().collect();
    if leases.is_empty() {
        return;
    }
    match engine
        .store
        .renew_deliveries(&leases, now + claim::LEASE_MS)
        .await
    {
        Ok(n) if (n as usize) < leases.len() => tracing::warn!(
            held = leases.len(),
            renewed = n,
            "some leases had already been taken by another claim"
        ),
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, "cannot renew leases; they are tried again in a second")
        }
    }
}

/// Leases held here are renewed, expired ones (a stopped worker's) go back to the queue, and
/// scheduled notifications start when due.
async fn sweep(engine: Arc<Engine>, stop: watch::Receiver<bool>) {
    worker::run(stop, None, std::time::Duration::from_secs(1), || async {
        sweep_once(&engine).await;
        worker::Round::Idle
    })
    .await
}

/// The store's write-ahead log is checkpointed on a task of its own, so it stays short (reads
/// look through it) and the writer never stops to do it: on SQLite this is the part of the
/// writing that can run on another core. Again at once while the writer keeps it busy.
async fn checkpoint(engine: Arc<Engine>, stop: watch::Receiver<bool>) {
    /// Pages (of 4 KiB) copied in one go that mean the log is filling fast.
    const BUSY_PAGES: u64 = 1_000;
    worker::run(
        stop,
        None,
        std::time::Duration::from_millis(250),
        || async {
            match engine.store.checkpoint().await {
                Ok(pages) if pages >= BUSY_PAGES => worker::Round::Busy,
                Ok(_) => worker::Round::Idle,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot checkpoint the database");
                    worker::Round::Idle
                }
            }
        },
    )
    .await
}

/// Hands the memory the process freed back to the system every few seconds. glibc keeps what a
/// thread frees in that thread's arena for reuse, and Herald's threads (the runtime's, the
/// database's) take turns with the same work: measured at a million recipients, 52 MB of a
/// 152 MB resident size was freed memory kept this way. (mimalloc instead, measured too: 9 %
/// faster, but 182 MB resident.)
#[allow(unsafe_code)]
async fn give_back_memory(stop: watch::Receiver<bool>) {
    worker::run(stop, None, std::time::Duration::from_secs(5), || async {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: malloc_trim only returns free pages of the allocator's own arenas to the
        // system; it takes the allocator's locks like any malloc call.
        unsafe {
            libc::malloc_trim(0);
        }
        worker::Round::Idle
    })
    .await
}

async fn sweep_once(engine: &Engine) {
    let now = engine.clock.now_ms();
    // Renewed before anything is reclaimed, so a jump of the clock cannot take a row that is
    // still being delivered here.
    renew_held(engine, now).await;
    match engine.store.reclaim_expired(now).await {
        Ok(n) if n > 0 => {
            tracing::info!(
                deliveries = n,
                "leases expired (a worker stopped); taking them again"
            );
            engine.send_due.notify_one();
            cluster::announce(engine, herald_store::Work::Send).await;
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot reclaim expired leases"),
    }
    match engine.store.expire_responses(now).await {
        Ok(n) if n > 0 => {
            engine.responses_changed.notify_waiters();
            engine.callbacks_due.notify_one();
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot close the waits that ended"),
    }
    match engine.store.start_due(now).await {
        Ok(n) if n > 0 => engine.wake().await,
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot start scheduled notifications"),
    }
    // Rows placed in their recipients' hours whose time has come.
    match engine.store.start_waiting(now, 10_000).await {
        Ok(n) if n > 0 => {
            engine.send_due.notify_one();
            cluster::announce(engine, herald_store::Work::Send).await;
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot start rows whose local time has come"),
    }
}
