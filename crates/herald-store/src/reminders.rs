//! Reminders (`options.remindIfUnread`): one reminder, in the same chat, to each recipient whose
//! delivered row has no read receipt some time after its delivery.
//!
//! A notification's rows are looked at once, in row order, from where the last pass stopped
//! (`remind_seq`): a pass takes the rows that are due and stops at the first row that may still
//! become due (not sent yet, or delivered too recently), so a million-row notification costs one
//! linear walk, not a scan per pass, and no index of its own on the rows. A row is taken by a
//! conditional update (`reminded_at` still empty, still unread), so two nodes never both take it:
//! a reminder is sent at most once. A reminder whose send fails gives its row's `reminded_at`
//! back; the walk has passed it, so it is not tried again.

use crate::sql::Binds;
use crate::store::{db, id, ms, PgStore, SqliteStore};
use crate::*;
use async_trait::async_trait;
use herald_core::ids::{AadObjectId, ConversationId, NotificationId, TenantId};
use sqlx::Row as _;
use std::collections::HashMap;

/// A notification still reminding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reminding {
    pub id: NotificationId,
    pub tenant_id: TenantId,
    /// How long after its delivery an unread row is reminded.
    pub after_ms: u64,
    /// Rows from this `seq` on have not been looked at.
    pub from_seq: i64,
    /// Completed or canceled: no row will be delivered any more.
    pub finished: bool,
}

/// A row whose reminder is to be sent now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub seq: i64,
    pub aad_object_id: AadObjectId,
    pub conversation_id: ConversationId,
    /// The recipient's reference's service URL; `None` when the reference is gone (erased or
    /// never stored): the reminder cannot be sent.
    pub service_url: Option<String>,
}

/// What one [`Reminders::take_reminders`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Taken {
    /// Rows taken (each by this caller only).
    pub due: Vec<Due>,
    /// Where the next pass starts.
    pub from_seq: i64,
    /// The walk reached the notification's last row with nothing left that may become due.
    pub at_end: bool,
}

#[async_trait]
pub trait Reminders: Send + Sync {
    /// Notifications whose reminders are not all taken, oldest first (at most `limit`).
    async fn reminding(&self, limit: u32) -> Result<Vec<Reminding>>;
    /// Looks at up to `limit` rows of `n` from `n.from_seq` on: takes those due at `now`
    /// (delivered at least `after_ms` ago, unread, not reminded), marking them reminded at
    /// `now`, and stops at the first row that may still become due. Saves where it stopped.
    async fn take_reminders(&self, n: &Reminding, now: u64, limit: u32) -> Result<Taken>;
    /// The reminder of row `seq` could not be sent: the row shows none.
    async fn reminder_failed(&self, n: &NotificationId, seq: i64) -> Result<()>;
    /// Every reminder of `n` has been taken.
    async fn reminders_done(&self, n: &NotificationId) -> Result<()>;
}

macro_rules! impl_reminders {
    ($store:ty, $postgres:literal) => {
        #[async_trait]
        impl Reminders for $store {
            async fn reminding(&self, limit: u32) -> Result<Vec<Reminding>> {
                let sql = format!(
                    "SELECT id, tenant_id, remind_after_ms, remind_seq, state FROM notifications \
                     WHERE remind_after_ms IS NOT NULL AND reminders_done = 0 ORDER BY seq LIMIT {}",
                    limit.clamp(1, 1000)
                );
                let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
                rows.iter()
                    .map(|r| {
                        let state: String = r.try_get("state")?;
                        Ok(Reminding {
                            id: id(r, "id")?,
                            tenant_id: id(r, "tenant_id")?,
                            after_ms: ms(r.try_get("remind_after_ms")?),
                            from_seq: r.try_get("remind_seq")?,
                            finished: state == NotificationState::Completed.as_str()
                                || state == NotificationState::Canceled.as_str(),
                        })
                    })
                    .collect()
            }

            async fn take_reminders(&self, n: &Reminding, now: u64, limit: u32) -> Result<Taken> {
                let limit = limit.clamp(1, 1000);
                let mut b = Binds::new($postgres);
                let nid = b.p(n.id.as_str());
                let sql = format!(
                    "SELECT seq, status, outcome, read_at, reminded_at, aad_object_id, conversation_id, updated_at \
                     FROM deliveries WHERE notification_id = {nid} AND seq >= {from} ORDER BY seq LIMIT {limit}",
                    from = n.from_seq
                );
                let mut q = sqlx::query(&sql);
                for v in &b.values {
                    q = q.bind(v.as_str());
                }
                let rows = q.fetch_all(&self.pool).await?;
                let due_before = now.saturating_sub(n.after_ms);
                let mut from_seq = n.from_seq;
                let mut blocked = false;
                let mut candidates: Vec<i64> = Vec::new();
                for r in &rows {
                    let seq: i64 = r.try_get("seq")?;
                    let status: String = r.try_get("status")?;
                    if status != DeliveryStatus::Done.as_str() {
                        blocked = true;
                        break;
                    }
                    let delivered = r.try_get::<Option<String>, _>("outcome")?.as_deref()
                        == Some(Outcome::Delivered.as_str());
                    let unread = r.try_get::<Option<i64>, _>("read_at")?.is_none()
                        && r.try_get::<Option<i64>, _>("reminded_at")?.is_none();
                    let reachable = r.try_get::<Option<String>, _>("aad_object_id")?.is_some()
                        && r.try_get::<Option<String>, _>("conversation_id")?.is_some();
                    if delivered && unread && reachable {
                        if ms(r.try_get("updated_at")?) > due_before {
                            blocked = true;
                            break;
                        }
                        candidates.push(seq);
                    }
                    from_seq = seq + 1;
                }
                let at_end = !blocked && rows.len() < limit as usize;
                let mut due = Vec::new();
                let mut tx = self.pool.begin().await?;
                if !candidates.is_empty() {
                    let mut b = Binds::new($postgres);
                    let nid = b.p(n.id.as_str());
                    let seqs: Vec<String> = candidates.iter().map(i64::to_string).collect();
                    let sql = format!(
                        "UPDATE deliveries SET reminded_at = {at} WHERE notification_id = {nid} AND seq IN ({list}) \
                         AND reminded_at IS NULL AND read_at IS NULL RETURNING seq, aad_object_id, conversation_id",
                        at = db(now),
                        list = seqs.join(", ")
                    );
                    let mut q = sqlx::query(&sql);
                    for v in &b.values {
                        q = q.bind(v.as_str());
                    }
                    for r in q.fetch_all(&mut *tx).await? {
                        due.push(Due {
                            seq: r.try_get("seq")?,
                            aad_object_id: id(&r, "aad_object_id")?,
                            conversation_id: id(&r, "conversation_id")?,
                            service_url: None,
                        });
                    }
                    due.sort_by_key(|d| d.seq);
                }
                let save = if $postgres {
                    "UPDATE notifications SET remind_seq = $1 WHERE id = $2 AND remind_seq < $1"
                } else {
                    "UPDATE notifications SET remind_seq = ?1 WHERE id = ?2 AND remind_seq < ?1"
                };
                sqlx::query(save).bind(from_seq).bind(n.id.as_str()).execute(&mut *tx).await?;
                tx.commit().await?;
                if !due.is_empty() {
                    let mut b = Binds::new($postgres);
                    let tenant = b.p(n.tenant_id.as_str());
                    let aads: Vec<String> = due.iter().map(|d| d.aad_object_id.as_str().to_owned()).collect();
                    let list = b.list(&aads);
                    let sql = format!(
                        "SELECT aad_object_id, service_url FROM conversation_refs \
                         WHERE tenant_id = {tenant} AND aad_object_id IN {list} AND state = 'active'"
                    );
                    let mut q = sqlx::query(&sql);
                    for v in &b.values {
                        q = q.bind(v.as_str());
                    }
                    let mut urls: HashMap<String, String> = HashMap::new();
                    for r in q.fetch_all(self.readers()).await? {
                        urls.insert(r.try_get("aad_object_id")?, r.try_get("service_url")?);
                    }
                    for d in &mut due {
                        d.service_url = urls.get(d.aad_object_id.as_str()).cloned();
                    }
                }
                Ok(Taken { due, from_seq, at_end })
            }

            async fn reminder_failed(&self, n: &NotificationId, seq: i64) -> Result<()> {
                let sql = if $postgres {
                    "UPDATE deliveries SET reminded_at = NULL WHERE notification_id = $1 AND seq = $2"
                } else {
                    "UPDATE deliveries SET reminded_at = NULL WHERE notification_id = ?1 AND seq = ?2"
                };
                sqlx::query(sql).bind(n.as_str()).bind(seq).execute(&self.pool).await?;
                Ok(())
            }

            async fn reminders_done(&self, n: &NotificationId) -> Result<()> {
                let sql = if $postgres {
                    "UPDATE notifications SET reminders_done = 1 WHERE id = $1"
                } else {
                    "UPDATE notifications SET reminders_done = 1 WHERE id = ?1"
                };
                sqlx::query(sql).bind(n.as_str()).execute(&self.pool).await?;
                Ok(())
            }
        }
    };
}

impl_reminders!(SqliteStore, false);
impl_reminders!(PgStore, true);
