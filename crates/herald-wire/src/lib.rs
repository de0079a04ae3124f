//! The wire shapes Herald speaks and the emulator answers with: Bot Connector v3, Teams
//! activities, the identity platform (tokens, OpenID, JWKS) and Microsoft Graph.
//!
//! One definition serves the server, the delivery engine and the emulator, so they cannot
//! drift apart. Facts and sources: `docs/teams.md`.

pub mod aad;
pub mod activity;
pub mod card;
pub mod connector;
pub mod graph;
