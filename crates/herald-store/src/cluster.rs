//! What several Herald nodes on one database share: each tenant's send budget, who is alive, and
//! wake-ups. Written once for both backends; SQLite answers too (it is one node's, so nothing is
//! contended and nobody else listens), which keeps one code path for the engine.
//!
//! The budget is a schedule, not a counter: a tenant's `next_slot_us` is the first send time no
//! node has taken. A node reserves a few consecutive slots `interval_us` apart with one atomic
//! update and sends each at its time, so the sends of every node together are never closer than
//! the interval — whatever the number of nodes, and without heartbeats deciding shares. A node
//! that dies loses only the few slots it had reserved; the others carry on at once.

use crate::store::{db, ms, PgStore, SqliteStore};
use crate::*;
use async_trait::async_trait;
use herald_core::ids::TenantId;
use sqlx::Row as _;

/// Work another node may pick up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// A notification was accepted (or a scheduled one came due): its audience is to resolve.
    Resolve,
    /// Rows are waiting to be sent.
    Send,
}

impl Work {
    fn as_str(self) -> &'static str {
        match self {
            Work::Resolve => "resolve",
            Work::Send => "send",
        }
    }
}

/// The `LISTEN`/`NOTIFY` channel every node listens on.
pub const WORK_CHANNEL: &str = "herald_work";

/// A node as its last heartbeat described it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeBeat {
    pub node_id: String,
    pub started_at: u64,
    pub heartbeat_at: u64,
    /// Send slots per second this node reserved lately, per tenant (JSON object).
    pub budget: String,
}

#[async_trait]
pub trait Cluster: Send + Sync {
    /// Whether other nodes may share this store (PostgreSQL).
    fn shared(&self) -> bool;

    /// Reserves `count` consecutive send slots of `tenant`'s budget, `interval_us` apart, none
    /// earlier than `now_us - catch_up_us` nor than any slot reserved before; returns the first.
    async fn reserve_slots(
        &self,
        tenant: &TenantId,
        now_us: u64,
        count: u32,
        interval_us: u64,
        catch_up_us: u64,
    ) -> Result<u64>;

    /// Nobody sends in `tenant` before `until_us` (Teams answered 429 with a `Retry-After`).
    async fn hold_budget(&self, tenant: &TenantId, until_us: u64) -> Result<()>;

    /// This node is alive; rows of nodes silent for an hour are dropped.
    async fn heartbeat(&self, beat: &NodeBeat) -> Result<()>;

    /// This node stops (a graceful shutdown).
    async fn leave(&self, node_id: &str) -> Result<()>;

    /// Every node that has a heartbeat row, by id.
    async fn nodes(&self) -> Result<Vec<NodeBeat>>;

    /// Tells every node (this one included) that work is waiting.
    async fn announce(&self, work: Work) -> Result<()>;

    /// What any node announces, as it arrives; `None` where nobody else can announce (SQLite).
    async fn listen(&self) -> Result<Option<tokio::sync::mpsc::Receiver<Work>>>;
}

const HOUR_MS: u64 = 3_600_000;

fn q(postgres: bool, s: &str) -> String {
    if postgres {
        s.to_owned()
    } else {
        s.replace('$', "?")
    }
}

macro_rules! impl_cluster {
    ($store:ty, $postgres:literal) => {
        #[async_trait]
        impl Cluster for $store {
            fn shared(&self) -> bool {
                $postgres
            }

            async fn reserve_slots(
                &self,
                tenant: &TenantId,
                now_us: u64,
                count: u32,
                interval_us: u64,
                catch_up_us: u64,
            ) -> Result<u64> {
                let span = u64::from(count.max(1)) * interval_us;
                let floor = now_us.saturating_sub(catch_up_us);
                // One statement: the row lock orders concurrent reservations, none overlaps.
                let end: i64 = sqlx::query_scalar(&q(
                    $postgres,
                    "INSERT INTO herald_budgets (tenant_id, next_slot_us) VALUES ($1, $2 + $3) \
                     ON CONFLICT (tenant_id) DO UPDATE SET next_slot_us = \
                     (CASE WHEN herald_budgets.next_slot_us > $2 THEN herald_budgets.next_slot_us ELSE $2 END) + $3 \
                     RETURNING next_slot_us",
                ))
                .bind(tenant.as_str())
                .bind(db(floor))
                .bind(db(span))
                .fetch_one(&self.pool)
                .await?;
                Ok(ms(end).saturating_sub(span))
            }

            async fn hold_budget(&self, tenant: &TenantId, until_us: u64) -> Result<()> {
                sqlx::query(&q(
                    $postgres,
                    "INSERT INTO herald_budgets (tenant_id, next_slot_us) VALUES ($1, $2) \
                     ON CONFLICT (tenant_id) DO UPDATE SET next_slot_us = \
                     CASE WHEN herald_budgets.next_slot_us > $2 THEN herald_budgets.next_slot_us ELSE $2 END",
                ))
                .bind(tenant.as_str())
                .bind(db(until_us))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn heartbeat(&self, beat: &NodeBeat) -> Result<()> {
                sqlx::query(&q(
                    $postgres,
                    "INSERT INTO herald_nodes (node_id, started_at, heartbeat_at, budget) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (node_id) DO UPDATE SET started_at = excluded.started_at, \
                     heartbeat_at = excluded.heartbeat_at, budget = excluded.budget",
                ))
                .bind(&beat.node_id)
                .bind(db(beat.started_at))
                .bind(db(beat.heartbeat_at))
                .bind(&beat.budget)
                .execute(&self.pool)
                .await?;
                sqlx::query(&q($postgres, "DELETE FROM herald_nodes WHERE heartbeat_at < $1"))
                    .bind(db(beat.heartbeat_at.saturating_sub(HOUR_MS)))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn leave(&self, node_id: &str) -> Result<()> {
                sqlx::query(&q($postgres, "DELETE FROM herald_nodes WHERE node_id = $1"))
                    .bind(node_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn nodes(&self) -> Result<Vec<NodeBeat>> {
                let rows = sqlx::query(
                    "SELECT node_id, started_at, heartbeat_at, budget FROM herald_nodes ORDER BY node_id",
                )
                .fetch_all(self.readers())
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(NodeBeat {
                            node_id: r.try_get("node_id")?,
                            started_at: ms(r.try_get("started_at")?),
                            heartbeat_at: ms(r.try_get("heartbeat_at")?),
                            budget: r.try_get("budget")?,
                        })
                    })
                    .collect()
            }

            async fn announce(&self, work: Work) -> Result<()> {
                if $postgres {
                    sqlx::query("SELECT pg_notify($1, $2)")
                        .bind(WORK_CHANNEL)
                        .bind(work.as_str())
                        .execute(&self.pool)
                        .await?;
                }
                Ok(())
            }

            async fn listen(&self) -> Result<Option<tokio::sync::mpsc::Receiver<Work>>> {
                self.listen_for_work().await
            }
        }
    };
}

impl_cluster!(SqliteStore, false);
impl_cluster!(PgStore, true);

impl SqliteStore {
    async fn listen_for_work(&self) -> Result<Option<tokio::sync::mpsc::Receiver<Work>>> {
        Ok(None)
    }
}

impl PgStore {
    /// A connection of its own that `LISTEN`s; it reconnects by itself when the database goes
    /// away (wake-ups are an optimisation: every worker also polls).
    async fn listen_for_work(&self) -> Result<Option<tokio::sync::mpsc::Receiver<Work>>> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        listener.listen(WORK_CHANNEL).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(n) => {
                        let work = if n.payload() == "resolve" {
                            Work::Resolve
                        } else {
                            Work::Send
                        };
                        // A full channel already holds a wake-up: dropping this one loses nothing.
                        if let Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) =
                            tx.try_send(work)
                        {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "lost the wake-up connection; polling until it is back");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(Some(rx))
    }
}
