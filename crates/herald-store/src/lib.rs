//! Herald's durable state behind one [`Store`] trait, with an embedded **SQLite** implementation
//! (the zero-set-up default) and a **PostgreSQL** one (for production and for several Herald
//! nodes sharing one queue). Both run the same code: the implementation is written once and
//! instantiated per backend; only the SQL dialect differs, and the same test suite runs on both.
//! Migrations are embedded in the binary.

mod migrations;
mod model;
mod sql;
mod store;

pub use model::*;
pub use store::{open, PgStore, SqliteStore};

use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("`{0}` is not a database URL Herald understands: use sqlite://FILE or postgres://…")]
    BadUrl(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Everything Herald keeps. Times are Unix milliseconds from the caller's clock.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Which backend: "sqlite" or "postgres".
    fn backend(&self) -> &'static str;

    /// Applies the embedded migrations that are missing; returns the versions applied.
    async fn migrate(&self) -> Result<Vec<i64>>;

    /// The store answers.
    async fn ping(&self) -> Result<()>;

    /// Saves a user's conversation reference (keyed by tenant + AAD object id), making it active.
    /// Fields absent from `r` (a `None` conversation id, UPN, name) keep their stored value.
    /// With `welcome`, a user who was never welcomed is queued for the welcome message.
    async fn upsert_reference(&self, r: &Reference, welcome: bool, now: u64) -> Result<()>;

    /// Stops using a reference (kept for audit); false if there is none.
    async fn mark_unreachable(
        &self,
        tenant: &str,
        aad: &str,
        reason: &str,
        now: u64,
    ) -> Result<bool>;

    /// The user wrote to the bot at `now`.
    async fn record_activity(&self, tenant: &str, aad: &str, now: u64) -> Result<bool>;

    async fn get_reference(&self, tenant: &str, aad: &str) -> Result<Option<StoredReference>>;

    /// Cursor-paged, oldest first.
    async fn list_references(&self, q: &ListQuery) -> Result<Vec<StoredReference>>;

    async fn count_references(&self, state: Option<RefState>) -> Result<u64>;

    /// Takes up to `limit` welcomes that are due (queued, or taken by someone whose lease has
    /// expired) and leases them until `now + lease_ms`. Each is handed to one caller only.
    async fn claim_welcomes(
        &self,
        now: u64,
        lease_ms: u64,
        limit: u32,
    ) -> Result<Vec<StoredReference>>;

    /// Records how a claimed welcome ended. A retry keeps it leased until `not_before`.
    async fn finish_welcome(
        &self,
        tenant: &str,
        aad: &str,
        outcome: &WelcomeOutcome,
        now: u64,
    ) -> Result<()>;

    /// Saves a team the bot is installed in.
    async fn upsert_team(&self, t: &TeamReference, now: u64) -> Result<()>;

    async fn set_team_state(
        &self,
        tenant: &str,
        team_id: &str,
        state: TeamState,
        now: u64,
    ) -> Result<bool>;

    async fn get_team(&self, tenant: &str, team_id: &str) -> Result<Option<StoredTeam>>;
}
