//! Building and running the server: the store, inbound authentication, the connector and Graph
//! clients, the engine and its workers, the routes, and the serve loop.

use crate::auth::InboundAuth;
use crate::problem::Problem;
use crate::state::{App, AppState};
use crate::{bot, installations, notifications};
use anyhow::Context as _;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use herald_connector::{Connector, ConnectorConfig, Credentials, Graph, RetryPolicy, Throttle};
use herald_core::SharedClock;
use herald_engine::{Config, Engine};
use herald_store::Store;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub struct Server {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    state: App,
}

impl Server {
    /// Opens and migrates the store, loads the signing keys, starts the engine's workers and
    /// serves on `cfg.listen`.
    pub async fn start(cfg: Config, clock: SharedClock) -> anyhow::Result<Self> {
        for t in cfg.api_tokens.iter().filter(|t| t.legacy) {
            tracing::warn!(
                token = %t.name,
                "an HERALD_API_TOKENS entry is a bare secret: it is `{}` with read+send+admin. \
                 Name it and give it only what it needs: NAME:SECRET:SCOPES",
                t.name
            );
        }
        if cfg.auth_disabled {
            tracing::warn!(
                listen = %cfg.listen,
                "HERALD_AUTH_DISABLED=1: /api/messages accepts activities WITHOUT checking who sent them. \
                 Only for local tools on loopback; never in production."
            );
        }
        let store = herald_store::open(cfg.database_url.expose())
            .await
            .context("cannot open the store")?;
        store.migrate().await.context("cannot migrate the store")?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()?;
        let auth = (!cfg.auth_disabled).then(|| {
            InboundAuth::new(
                http.clone(),
                cfg.openid_metadata_url.clone(),
                cfg.cloud.endpoints().bot_issuer,
                cfg.app_id.clone(),
                cfg.allowed_service_urls.clone(),
                clock.clone(),
            )
        });
        if let Some(a) = &auth {
            if let Err(e) = a.refresh_keys().await {
                tracing::warn!(error = %e, "signing keys not loaded yet; /readyz says so until they are");
            }
        }
        // With PostgreSQL every node draws from one schedule per tenant (`tenant_rps` is the
        // tenant's total, not a node's); SQLite is one node's and keeps its own pace.
        let mut throttle = Throttle::new(clock.clone(), cfg.tenant_rps, true);
        if store.shared() {
            if let Some(tenant) = &cfg.tenant_id {
                throttle = throttle.shared(Arc::new(herald_engine::cluster::StoreSlots::new(
                    store.clone(),
                    tenant.clone(),
                )));
            }
        }
        let throttle = Arc::new(throttle);
        let creds = Credentials {
            login_url: cfg.login_url.clone(),
            tenant: cfg
                .tenant_id
                .as_ref()
                .map(ToString::to_string)
                .context("HERALD_TENANT_ID is not set: Herald serves one tenant")?,
            app_id: cfg.app_id.clone(),
            app_password: cfg.app_password.expose().to_owned(),
        };
        let graph = Graph::new(
            creds.clone(),
            &cfg.graph_url,
            cfg.cloud.endpoints().graph_scope,
            clock.clone(),
            RetryPolicy::default(),
            Duration::from_secs(30),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let connector = Connector::new(
            creds,
            clock.clone(),
            throttle,
            ConnectorConfig {
                token_scope: cfg.cloud.endpoints().bot_scope,
                allowed: cfg.allowed_service_urls.clone(),
                // Teams answers sends in well under a second; a request held past this is
                // retried rather than left blocking a slot.
                request_timeout: Duration::from_secs(10),
                retry: RetryPolicy::until(Duration::from_secs(cfg.delivery_deadline_s)),
            },
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .with_context(|| format!("cannot listen on {}", cfg.listen))?;
        let addr = listener.local_addr()?;
        let cfg = Arc::new(cfg);
        let connector = Arc::new(connector);
        let engine = Engine::new(
            store.clone(),
            connector.clone(),
            Arc::new(graph),
            cfg.clone(),
            clock.clone(),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let state = Arc::new(AppState {
            engine,
            cfg,
            store,
            auth,
            connector,
            clock,
            queue_depth: Default::default(),
        });
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        if state.auth.as_ref().is_some_and(|a| !a.keys_loaded()) {
            tasks.push(tokio::spawn(load_keys_until_loaded(
                state.clone(),
                stopped.clone(),
            )));
        }
        tasks.extend(state.engine.spawn(stopped.clone()));
        let app = router(state.clone());
        let limits = crate::http::Limits {
            header_timeout: Duration::from_secs(state.cfg.http_header_timeout_s),
            request_timeout: Duration::from_secs(state.cfg.http_request_timeout_s),
            max_connections: state.cfg.max_connections,
        };
        tasks.push(tokio::spawn(crate::http::serve(
            listener, app, limits, stopped,
        )));
        tracing::info!(%addr, backend = state.store.backend(), "herald serve is listening");
        Ok(Self {
            addr,
            stop,
            tasks,
            state,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.state.store.clone()
    }

    /// Stops accepting requests, lets in-flight ones and the engine's workers finish.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Retries the first key load every few seconds; after that, keys refresh on use.
async fn load_keys_until_loaded(app: App, mut stop: watch::Receiver<bool>) {
    let Some(auth) = app.auth.as_ref() else {
        return;
    };
    while !auth.keys_loaded() {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = stop.changed() => return,
        }
        if let Err(e) = auth.refresh_keys().await {
            tracing::warn!(error = %e, "signing keys still not loaded");
        }
    }
}

fn router(state: App) -> Router {
    Router::new()
        .route("/api/messages", post(bot::messages))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(crate::openapi::document))
        .merge(installations::routes())
        .merge(crate::cluster::routes())
        .merge(crate::preferences::routes())
        .merge(crate::users::routes())
        .merge(notifications::routes())
        .merge(crate::amendments::routes())
        .fallback(|| async {
            Problem::new(
                StatusCode::NOT_FOUND,
                "not-found",
                "nothing is served at this path",
            )
        })
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn metrics(State(app): State<App>) -> Response {
    let store = app.store.clone();
    let depth = app
        .queue_depth
        .read(app.clock.now_ms(), || async move {
            match tokio::time::timeout(Duration::from_secs(5), store.queue_depth()).await {
                Ok(Ok(n)) => Some(n),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot count the queue");
                    None
                }
                Err(_) => None,
            }
        })
        .await;
    let text = app.engine.metrics.render(
        depth,
        app.connector.throttle().pauses(),
        app.engine.metrics.rate(app.clock.now_ms()),
    );
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        text,
    )
        .into_response()
}

async fn readyz(State(app): State<App>) -> Response {
    let store = app.store.ping().await;
    let keys = app.auth.as_ref().is_none_or(|a| a.keys_loaded());
    if let (Ok(()), true) = (&store, keys) {
        return Json(json!({"status": "ready", "store": app.store.backend()})).into_response();
    }
    let mut why = Vec::new();
    if let Err(e) = store {
        tracing::warn!(error = %e, "store not reachable");
        why.push("the store does not answer");
    }
    if !keys {
        why.push("the Bot Framework signing keys are not loaded");
    }
    Problem::new(StatusCode::SERVICE_UNAVAILABLE, "not-ready", why.join("; ")).into_response()
}
