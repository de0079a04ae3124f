//! `herald serve`'s HTTP face: the bot endpoint Teams calls (with its authentication), Herald's
//! API under `/v1` (one module per resource), health and metrics, OpenAPI, and the serve loop
//! that bounds every connection. What a request sets going is `herald_engine`'s.

// Handlers fail with a ready problem+json response, built only on the error path.
#![allow(clippy::result_large_err)]

pub mod access;
mod amendments;
mod app;
pub mod auth;
mod bot;
mod cluster;
mod dto;
mod export;
mod http;
mod installations;
mod notifications;
mod openapi;
mod params;
mod preferences;
mod problem;
mod request_schema;
mod responses;
mod state;
pub mod teamsfx;
mod users;

pub use app::Server;

/// The API described as OpenAPI 3.1 (what `GET /openapi.json` serves), for tools that convert
/// it (the Power Automate connector definition).
pub fn openapi_document() -> serde_json::Value {
    use utoipa::OpenApi as _;
    serde_json::to_value(openapi::ApiDoc::openapi()).expect("the document is JSON")
}
pub use herald_engine::{config, delegated, egress};
pub use herald_engine::{Config, ConfigError, DatabaseUrl, Secret};
