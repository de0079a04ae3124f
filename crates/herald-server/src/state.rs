//! What every handler shares: the engine, the configuration, the store, inbound authentication,
//! and the checks each API request starts with (its token, its body).

use crate::access::{Caller, Scope};
use crate::auth::InboundAuth;
use crate::problem::Problem;
use axum::body::Body;
use axum::http::HeaderMap;
use herald_connector::Connector;
use herald_core::SharedClock;
use herald_engine::{metrics::DepthGauge, Config, Engine};
use herald_store::Store;
use std::sync::Arc;

pub struct AppState {
    pub engine: Arc<Engine>,
    pub cfg: Arc<Config>,
    pub store: Arc<dyn Store>,
    /// `None` when `HERALD_AUTH_DISABLED=1`.
    pub auth: Option<InboundAuth>,
    pub connector: Arc<Connector>,
    pub clock: SharedClock,
    /// The queue's depth for `/metrics`, counted at most every few seconds.
    pub queue_depth: DepthGauge,
}

pub type App = Arc<AppState>;

impl AppState {
    /// What checking a notification's request (or an edit's message) needs from the
    /// configuration.
    pub fn request_settings(&self) -> herald_engine::request::Settings {
        herald_engine::request::Settings {
            has_teams_app: self.cfg.teams_app_id.is_some(),
            has_callback_secret: self.cfg.callback_secret.is_some(),
            has_secret_key: self.cfg.secret_key.is_some(),
            max_inline_users: self.cfg.max_inline_users,
            max_csv_rows: self.cfg.max_csv_rows,
        }
    }

    /// The caller presents one of the configured API tokens, and it grants `need`.
    pub fn authorize(&self, headers: &HeaderMap, need: Scope) -> Result<Caller, Problem> {
        crate::access::authorize(&self.cfg.api_tokens, self.cfg.sandbox, headers, need)
    }

    /// The caller, whatever it may do (the operation checks its scopes).
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, Problem> {
        crate::access::authenticate(&self.cfg.api_tokens, self.cfg.sandbox, headers)
    }

    /// An API request's body, at most `max_body_mb` (413 naming the limit beyond it).
    pub async fn read_body(&self, body: Body) -> Result<bytes::Bytes, Problem> {
        let limit = self.cfg.max_body_mb as usize * 1024 * 1024;
        crate::http::read_body(body, limit).await.map_err(|e| {
            e.problem(&format!(
                "{} MB (max_body_mb); send larger audiences as a group, or split them",
                self.cfg.max_body_mb
            ))
        })
    }
}
