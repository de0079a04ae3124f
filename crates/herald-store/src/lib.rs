//! Herald's durable state behind one [`Store`] trait, with an embedded **SQLite** implementation
//! (the zero-set-up default) and a **PostgreSQL** one (for production and for several Herald
//! nodes sharing one queue). Both run the same code: the implementation is written once and
//! instantiated per backend; only the SQL dialect differs, and the same test suite runs on both.
//! Migrations are embedded in the binary.

mod amendments;
mod claim_floor;
mod cluster;
mod erasure;
mod events;
mod local_time;
mod migrations;
mod model;
mod preferences;
mod reads;
mod reminders;
mod responses;
mod sql;
mod store;
mod users;

pub use amendments::{AmendKind, Amended, Amendment, Amendments, Walk};
pub use cluster::{Cluster, NodeBeat, Work, WORK_CHANNEL};
pub use erasure::{Erased, Erasure, Person, Purged};
pub use events::OutcomeEvents;
pub use local_time::LocalTimes;
pub use model::*;
pub use preferences::Preferences;
pub use reads::{message_number, Reaction, Reads, Reapplied, MAX_MESSAGE_ID_LEN};
pub use reminders::{Due, Reminders, Reminding, Taken};
pub use responses::Responses;
pub use store::{open, redact, PgStore, SqliteStore};
pub use users::UserTokens;

use async_trait::async_trait;
use herald_core::ids::{AadObjectId, ConversationId, NotificationId, TeamsUserId, TenantId, Upn};

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
pub trait Store:
    Responses
    + UserTokens
    + Preferences
    + Reads
    + Reminders
    + Amendments
    + LocalTimes
    + Erasure
    + Cluster
    + Send
    + Sync
    + 'static
{
    /// Which backend: "sqlite" or "postgres".
    fn backend(&self) -> &'static str;

    /// Applies the embedded migrations that are missing; returns the versions applied.
    async fn migrate(&self) -> Result<Vec<i64>>;

    /// The versions of the embedded migrations not applied yet (none applied: all of them).
    async fn pending_migrations(&self) -> Result<Vec<i64>>;

    /// The store answers.
    async fn ping(&self) -> Result<()>;

    /// Upkeep off the path of every write, called often: SQLite's write-ahead log moved back
    /// into the main file (returns the pages moved); PostgreSQL's planner statistics renewed
    /// where a table changed a lot (autovacuum may be off).
    async fn checkpoint(&self) -> Result<u64>;

    /// Saves a user's conversation reference (keyed by tenant + AAD object id), making it active.
    /// Fields absent from `r` (a `None` conversation id, UPN, name) keep their stored value.
    /// With `welcome`, a user who was never welcomed is queued for the welcome message.
    async fn upsert_reference(&self, r: &Reference, welcome: bool, now: u64) -> Result<()> {
        self.upsert_references(std::slice::from_ref(r), welcome, now)
            .await
            .map(drop)
    }

    /// Saves many references as [`Store::upsert_reference`] saves one, in one transaction and a
    /// few multi-row statements (an import's chunk); where two name the same person, the later
    /// wins. Returns how many distinct people were saved.
    async fn upsert_references(&self, refs: &[Reference], welcome: bool, now: u64) -> Result<u64>;

    /// Stops using a reference (kept for audit); false if there is none.
    async fn mark_unreachable(
        &self,
        tenant: &TenantId,
        aad: &AadObjectId,
        reason: &str,
        now: u64,
    ) -> Result<bool>;

    /// The user wrote to the bot at `now`.
    async fn record_activity(&self, tenant: &TenantId, aad: &AadObjectId, now: u64)
        -> Result<bool>;

    async fn get_reference(
        &self,
        tenant: &TenantId,
        aad: &AadObjectId,
    ) -> Result<Option<StoredReference>>;

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
        tenant: &TenantId,
        aad: &AadObjectId,
        outcome: &WelcomeOutcome,
        now: u64,
    ) -> Result<()>;

    /// Saves a team the bot is installed in.
    async fn upsert_team(&self, t: &TeamReference, now: u64) -> Result<()>;

    async fn set_team_state(
        &self,
        tenant: &TenantId,
        team_id: &ConversationId,
        state: TeamState,
        now: u64,
    ) -> Result<bool>;

    async fn get_team(
        &self,
        tenant: &TenantId,
        team_id: &ConversationId,
    ) -> Result<Option<StoredTeam>>;

    /// Teams the bot was installed in, oldest first, skipping `offset`.
    async fn list_teams(
        &self,
        state: Option<TeamState>,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<StoredTeam>>;

    /// Saves a group chat the bot is in, making it active. A chat is never a user's 1:1.
    async fn upsert_chat(&self, c: &ChatReference, now: u64) -> Result<()>;

    /// The bot left a group chat; false if it was never stored.
    async fn set_chat_state(
        &self,
        tenant: &TenantId,
        conversation_id: &ConversationId,
        state: ChatState,
        now: u64,
    ) -> Result<bool>;

    async fn get_chat(
        &self,
        tenant: &TenantId,
        conversation_id: &ConversationId,
    ) -> Result<Option<StoredChat>>;

    /// Cursor-paged, oldest first.
    async fn list_chats(
        &self,
        state: Option<ChatState>,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<StoredChat>>;

    /// No welcome for this user, ever (Herald installed the app itself to deliver a notification).
    async fn suppress_welcome(&self, tenant: &TenantId, aad: &AadObjectId) -> Result<()>;

    async fn reference_by_upn(
        &self,
        tenant: &TenantId,
        upn: &Upn,
    ) -> Result<Option<StoredReference>>;

    async fn reference_by_user_id(
        &self,
        tenant: &TenantId,
        user_id: &TeamsUserId,
    ) -> Result<Option<StoredReference>>;

    /// The references of these users (any order; missing ones are absent).
    async fn references_for(
        &self,
        tenant: &TenantId,
        aads: &[AadObjectId],
    ) -> Result<Vec<StoredReference>>;

    // ---- notifications and their deliveries ----

    /// Creates a notification, or finds the one its idempotency key already made.
    async fn create_notification(&self, n: &NewNotification, now: u64) -> Result<Created>;

    async fn get_notification(&self, id: &NotificationId) -> Result<Option<Notification>>;

    /// Newest first, before `before` (a `seq`).
    async fn list_notifications(
        &self,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Notification>>;

    /// Scheduled notifications whose time has come start resolving; returns how many.
    async fn start_due(&self, now: u64) -> Result<u64>;

    /// Takes one notification to resolve (its lease expired or never taken).
    async fn claim_resolution(&self, now: u64, lease_ms: u64) -> Result<Option<Notification>>;

    /// Extends the resolver's lease and, with `cursor`, records where resolution got to (the
    /// engine's own text; the claim that resumes it reads it back in `resolve_cursor`).
    async fn renew_resolution(
        &self,
        id: &NotificationId,
        until: u64,
        cursor: Option<&str>,
    ) -> Result<()>;

    /// The highest delivery `seq` so far (0 when none): a resumed resolution continues after it.
    async fn max_delivery_seq(&self, id: &NotificationId) -> Result<i64>;

    /// Adds recipients (in one transaction), numbered from `first_seq`; a recipient already
    /// there (same key) is skipped. Returns how many were added.
    async fn insert_deliveries(
        &self,
        id: &NotificationId,
        first_seq: i64,
        rows: &[NewDelivery],
        now: u64,
    ) -> Result<u64>;

    /// Resolution is over: the notification's total is known and it is sending.
    async fn finish_resolution(&self, id: &NotificationId) -> Result<()>;

    /// Leases up to `limit` pending deliveries, shared among the active notifications by
    /// priority (see `claim_plan`), each notification's in order.
    async fn claim_deliveries(&self, now: u64, lease_ms: u64, limit: u32) -> Result<Vec<Delivery>> {
        self.claim_partition(now, lease_ms, limit, Partition::ALL)
            .await
    }

    /// The same, only rows whose recipient falls in `partition` (PostgreSQL; SQLite is one
    /// node's and takes every row): every row of one person goes to the same node while the
    /// nodes stay the same, so that node's per-conversation windows see all of that person's
    /// sends.
    async fn claim_partition(
        &self,
        now: u64,
        lease_ms: u64,
        limit: u32,
        partition: Partition,
    ) -> Result<Vec<Delivery>>;

    /// Records finished deliveries in one transaction, each only if its claim still holds the
    /// row; returns the (notification, seq) of those that were not recorded because another
    /// claim holds them now (their lease expired).
    async fn record_deliveries(
        &self,
        results: &[DeliveryResult],
        now: u64,
    ) -> Result<Vec<(NotificationId, i64)>>;

    /// Extends the leases these claims still hold to `until`; returns how many were extended.
    async fn renew_deliveries(&self, leases: &[Lease], until: u64) -> Result<u64>;

    /// Leases that expired (a crashed worker) go back to pending; returns how many.
    async fn reclaim_expired(&self, now: u64) -> Result<u64>;

    /// Completes a resolved notification with nothing left to send; true if it did.
    async fn complete_if_done(&self, id: &NotificationId, now: u64) -> Result<bool>;

    /// Cancels what has not been sent; false if the notification had already ended.
    async fn cancel_notification(&self, id: &NotificationId, now: u64) -> Result<bool>;

    async fn delivery_counts(&self, id: &NotificationId) -> Result<Counts>;

    async fn list_deliveries(
        &self,
        id: &NotificationId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<Delivery>>;

    async fn get_delivery(&self, id: &NotificationId, seq: i64) -> Result<Option<Delivery>>;

    /// Deliveries waiting or in flight, across notifications.
    async fn queue_depth(&self) -> Result<u64>;
}
