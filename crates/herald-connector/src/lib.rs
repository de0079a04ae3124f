//! Herald's outbound side of the Bot Connector: it obtains and caches the bot's token, sends
//! only to allow-listed service URLs, waits for Teams' rate limits *before* sending, honours
//! `Retry-After` tenant-wide, retries what Teams says is retryable (and nothing else), and turns
//! Teams' error bodies — both shapes — into one classified error.

mod allow;
mod circuit;
mod client;
mod error;
mod graph;
mod path;
mod throttle;
mod time;
mod token;

pub use allow::{AllowList, AllowListError, DEFAULT_ALLOWED};
pub use client::{Connector, ConnectorConfig, RetryPolicy, Sent};
pub use error::{ConnectorError, ErrorKind};
pub use graph::{Graph, GraphUser, Install, Page};
pub use path::graph_segment;
pub use throttle::{in_lane, Lane, OpClass, SharedSlots, Throttle};
pub use time::TokioClock;
pub use token::{Credentials, TokenSource};
