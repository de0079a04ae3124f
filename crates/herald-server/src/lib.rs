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
pub use herald_engine::{config, delegated, egress};
pub use herald_engine::{Config, ConfigError, DatabaseUrl, Secret};
