//! `herald serve`: the bot endpoint Teams calls (with its authentication), the installation
//! store's lifecycle, welcome messages, and Herald's HTTP API.

// Handlers fail with a ready problem+json response, built only on the error path.
#![allow(clippy::result_large_err)]

pub mod access;
mod answers;
mod api;
mod app;
pub mod auth;
mod bot;
pub mod config;
pub mod delegated;
mod dto;
pub mod egress;
pub mod engine;
mod http;
mod lifecycle;
mod notifications;
mod openapi;
mod problem;
mod responses;
pub mod teamsfx;
mod welcome;

pub use app::Server;
pub use config::{Config, ConfigError, DatabaseUrl, Secret};
