//! A local Microsoft Teams for bots: the Bot Connector v3, the identity platform's token,
//! OpenID and JWKS endpoints, Microsoft Graph v1.0 and a simulated tenant of people who install,
//! block, write and press card buttons — with Teams' rate limits and injectable faults.
//!
//! Everything is served on one origin, as `docs/reference.md` lays out. Tests start it
//! in-process with [`Emulator::start`]; `herald emulator` runs the same code.

// Handlers fail with the protocol's own error response, built only on the error path; boxing
// every one of them would buy nothing.
#![allow(clippy::result_large_err)]

mod aad;
mod bot;
mod chats;
mod config;
mod connector;
mod control;
mod error;
mod faults;
mod graph;
mod keys;
mod limits;
mod odata;
mod people;
mod stats;
mod tenant;
mod world;

pub use config::{FaultSpec, RuntimeConfig};
pub use tenant::{TenantFile, TenantSpec};

use anyhow::Context as _;
use axum::Router;
use herald_core::SharedClock;
use parking_lot::{Mutex, RwLock};
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// How to start an emulator.
pub struct EmulatorOptions {
    pub listen: SocketAddr,
    /// Where the simulated Teams posts activities (the bot's `/api/messages`).
    pub bot_endpoint: String,
    pub tenant: TenantSpec,
    /// The bot registration the emulator trusts (`--app-id` / `--app-password`); `None` keeps
    /// the tenant's own.
    pub app_id: Option<String>,
    pub app_password: Option<String>,
    pub config: RuntimeConfig,
    pub clock: SharedClock,
}

impl EmulatorOptions {
    /// Loopback on a free port, a seeded tenant of `users`, the real clock.
    pub fn local(users: usize) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            bot_endpoint: "http://127.0.0.1:3978/api/messages".into(),
            tenant: TenantSpec::Seeded { users },
            app_id: None,
            app_password: None,
            config: RuntimeConfig::default(),
            clock: Arc::new(herald_core::SystemClock),
        }
    }
}

/// State shared by every handler.
pub(crate) struct Shared {
    pub origin: String,
    /// The registered bot's app id (fixed for the emulator's life).
    pub app_id: String,
    pub clock: SharedClock,
    pub config: RwLock<RuntimeConfig>,
    pub keys: keys::Keys,
    pub world: Mutex<world::World>,
    pub limits: Mutex<limits::Limits>,
    pub stats: Mutex<stats::Stats>,
    pub tokens: aad::TokenCache,
    /// Device codes, refresh tokens and the delegated tokens issued (signed-in users).
    pub delegated: Mutex<aad::Delegated>,
    pub bot: bot::BotClient,
    pub fault_seq: AtomicU64,
    /// Connector requests since the faults were set, for the scheduled ones.
    pub scheduled_seq: AtomicU64,
    /// When the scheduled outage began (clock time), once it has.
    pub outage_started: Mutex<Option<u64>>,
    /// The Graph router, for `$batch` to dispatch its parts through.
    pub graph_router: OnceLock<Router>,
}

impl Shared {
    /// The `serviceUrl` Teams would put in activities: this origin, with Teams' trailing slash.
    pub fn service_url(&self) -> String {
        format!("{}/", self.origin)
    }
}

/// A running emulator.
pub struct Emulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Emulator {
    /// Binds, seeds the tenant, generates the signing key and starts serving.
    pub async fn start(opts: EmulatorOptions) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(opts.listen)
            .await
            .with_context(|| format!("cannot listen on {}", opts.listen))?;
        let addr = listener.local_addr()?;
        let origin = format!("http://{addr}");

        // Key generation is the slow part of start-up; let it run while the tenant is built.
        let key = tokio::task::spawn_blocking(keys::KeyPair::generate);
        let mut tenant = opts.tenant.build().context("cannot build the tenant")?;
        if let Some(id) = opts.app_id {
            tenant.app_id = id;
        }
        if let Some(pw) = opts.app_password {
            tenant.app_password = pw;
        }
        let world = world::World::new(tenant);
        let key = key.await.context("key generation failed")??;

        let shared = Arc::new(Shared {
            origin,
            app_id: world.tenant.app_id.clone(),
            clock: opts.clock,
            config: RwLock::new(opts.config),
            keys: keys::Keys::new(key),
            world: Mutex::new(world),
            limits: Mutex::new(limits::Limits::default()),
            stats: Mutex::new(stats::Stats::default()),
            tokens: aad::TokenCache::default(),
            delegated: Mutex::new(aad::Delegated::default()),
            bot: bot::BotClient::new(opts.bot_endpoint)?,
            fault_seq: AtomicU64::new(0),
            scheduled_seq: AtomicU64::new(0),
            outage_started: Mutex::new(None),
            graph_router: OnceLock::new(),
        });
        let app = router(shared.clone());
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            let serve =
                axum::serve(listener, app.into_make_service()).with_graceful_shutdown(async {
                    let _ = rx.await;
                });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "emulator server stopped");
            }
        });
        Ok(Self {
            shared,
            addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`: login, Graph, OpenID and connector all live here.
    pub fn origin(&self) -> &str {
        &self.shared.origin
    }

    pub fn app_id(&self) -> String {
        self.shared.world.lock().tenant.app_id.clone()
    }

    pub fn app_password(&self) -> String {
        self.shared.world.lock().tenant.app_password.clone()
    }

    pub fn tenant_id(&self) -> String {
        self.shared.world.lock().tenant.tenant_id.clone()
    }

    /// A one-paragraph summary of the tenant (users, guests, teams, groups).
    pub fn summary(&self) -> String {
        self.shared.world.lock().summary()
    }

    /// Environment settings that point a Herald server (or any bot) at this emulator.
    pub fn bot_settings(&self) -> Vec<(&'static str, String)> {
        let o = self.origin();
        let w = self.shared.world.lock();
        vec![
            ("HERALD_APP_ID", w.tenant.app_id.clone()),
            ("HERALD_APP_PASSWORD", w.tenant.app_password.clone()),
            ("HERALD_TENANT_ID", w.tenant.tenant_id.clone()),
            ("HERALD_TEAMS_APP_ID", w.tenant.teams_app_id.clone()),
            ("HERALD_BOT_NAME", w.tenant.app_name.clone()),
            ("HERALD_LOGIN_URL", o.to_owned()),
            ("HERALD_GRAPH_URL", o.to_owned()),
            (
                "HERALD_OPENID_METADATA_URL",
                format!("{o}/v1/.well-known/openidconfiguration"),
            ),
            ("HERALD_ALLOWED_SERVICE_URLS", format!("{o}/*")),
            ("HERALD_SERVICE_URL", format!("{o}/")),
        ]
    }

    /// Signs `claims` with the emulator's current key, as the Bot Connector signs what it sends
    /// a bot. For tests that must forge one broken rule at a time with a genuine signature.
    pub fn sign(&self, claims: &serde_json::Value) -> String {
        self.shared.keys.sign(claims).0
    }

    /// The `serviceUrl` the emulator puts in activities (its origin with a trailing slash).
    pub fn service_url(&self) -> String {
        self.shared.service_url()
    }

    pub fn bot_endpoint(&self) -> String {
        self.shared.bot.endpoint()
    }

    /// Points the simulated Teams at another bot endpoint.
    pub fn set_bot_endpoint(&self, endpoint: &str) {
        self.shared.bot.set_endpoint(endpoint.to_owned());
    }

    /// Stops accepting connections and waits for the server task to end.
    pub async fn shutdown(mut self) {
        self.stop().await;
    }

    async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Waits until the server ends (it ends only on shutdown).
    pub async fn wait(mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    // Graph's routes, chats included: `$batch` dispatches to all of them.
    let graph = graph::routes(shared.clone()).merge(chats::routes(shared.clone()));
    let _ = shared.graph_router.set(graph.clone());
    Router::new()
        .merge(aad::routes())
        .merge(
            connector::routes().route_layer(axum::middleware::from_fn_with_state(
                shared.clone(),
                faults::schedule,
            )),
        )
        .merge(control::routes())
        .with_state(shared.clone())
        .merge(graph)
        .route_layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            stats::count_requests,
        ))
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            skewed_date,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(8 * 1024 * 1024))
}

/// Every answer's `Date` header, from the emulator's clock plus `dateSkewS` (a server whose
/// clock is wrong, for `herald doctor`'s clock check).
async fn skewed_date(
    axum::extract::State(s): axum::extract::State<Arc<Shared>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut res = next.run(req).await;
    let skew = s.config.read().date_skew_s;
    let secs = (s.clock.now_ms() / 1000) as i64 + skew;
    if let Ok(v) =
        axum::http::HeaderValue::from_str(&herald_core::clock::http_date(secs.max(0) as u64))
    {
        res.headers_mut().insert(axum::http::header::DATE, v);
    }
    res
}
