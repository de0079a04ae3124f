//! Recall and edit: an *amendment* of a notification that was sent. Each is kept (numbered per
//! notification, since edits may follow one another) and walked over the notification's rows in
//! order from `next_seq` by the node that holds its lease; a node that dies leaves the lease to
//! expire and another goes on from the last step it saved. A step's rows are changed at Teams
//! before the step is saved, so a crash repeats at most one step — deleting or updating a message
//! again changes nothing. The walk stops at a row that is still being sent and comes back to it.
//!
//! A recall stops a running edit, cancels what is not sent yet and ends any wait for answers
//! (without callbacks); an edit is refused while another runs or after a recall.

use crate::sql::{Binds, DELIVERY_COLS};
use crate::store::{db, id, ms, PgStore, SqliteStore};
use crate::*;
use async_trait::async_trait;
use herald_core::ids::{NotificationId, TenantId};
use sqlx::Row as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmendKind {
    Recall,
    Edit,
}

impl AmendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AmendKind::Recall => "recall",
            AmendKind::Edit => "edit",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        match s {
            "recall" => Some(AmendKind::Recall),
            "edit" => Some(AmendKind::Edit),
            _ => None,
        }
    }
}

/// A recall or an edit of a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Amendment {
    pub notification_id: NotificationId,
    pub tenant_id: TenantId,
    pub version: i64,
    pub kind: AmendKind,
    /// Still walking the rows.
    pub running: bool,
    /// An edit's new message (JSON, as the API took it).
    pub message: Option<String>,
    /// The API token's name that asked.
    pub requested_by: Option<String>,
    pub requested_at: u64,
    /// Rows from this `seq` on are not done yet.
    pub next_seq: i64,
    /// Rows changed, and rows that could not be.
    pub done: u64,
    pub failed: u64,
    pub finished_at: Option<u64>,
    /// The notification has completed or been canceled: no row will be sent any more.
    pub notification_finished: bool,
}

/// What asking for an amendment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Amended {
    Started(Amendment),
    /// Refused, and why (a recall already asked for; an edit after a recall or during another).
    Conflict(String),
}

/// One step of an amendment's walk.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Walk {
    /// Rows to change: delivered, with the message's ids, not already changed by this amendment
    /// (nor recalled, nor — for an edit — answered).
    pub rows: Vec<Delivery>,
    /// Where the next step starts.
    pub next_seq: i64,
    /// A row is still being sent: the walk waits for it.
    pub blocked: bool,
    /// The walk reached the last row.
    pub at_end: bool,
}

#[async_trait]
pub trait Amendments: Send + Sync {
    /// Asks for a recall or an edit (with its message) of `n`, by the token `by`.
    async fn amend(
        &self,
        n: &NotificationId,
        kind: AmendKind,
        message: Option<&str>,
        by: Option<&str>,
        now: u64,
    ) -> Result<Amended>;
    /// `n`'s amendments, oldest first.
    async fn amendments(&self, n: &NotificationId) -> Result<Vec<Amendment>>;
    /// Leases one running amendment whose lease is free until `now + lease_ms`.
    async fn claim_amendment(&self, now: u64, lease_ms: u64) -> Result<Option<Amendment>>;
    /// The next step's rows (at most `limit` looked at).
    async fn amendment_rows(&self, a: &Amendment, limit: u32) -> Result<Walk>;
    /// Saves a step: rows `changed` (recalled or edited at `now`), `failed` more, the walk at
    /// `next_seq`, the lease until `lease_until` (`now` gives it up). False when the amendment
    /// is no longer running (a recall stopped this edit): nothing was saved.
    #[allow(clippy::too_many_arguments)]
    async fn save_step(
        &self,
        a: &Amendment,
        changed: &[i64],
        failed: u64,
        next_seq: i64,
        now: u64,
        lease_until: u64,
    ) -> Result<bool>;
    /// The walk is over.
    async fn finish_amendment(&self, a: &Amendment, now: u64) -> Result<()>;
    /// Ends `n`'s waits for answers as `no_response`, without callbacks (it was recalled).
    async fn end_waits(&self, n: &NotificationId, now: u64) -> Result<u64>;
    /// Edits whose message mentions any of `needles` (lowercase), for an erasure: (notification,
    /// version, message).
    async fn edits_mentioning(
        &self,
        needles: &[String],
    ) -> Result<Vec<(NotificationId, i64, String)>>;
    /// Replaces an edit's message (the erasure's rewrite, minus a person).
    async fn replace_edit_message(
        &self,
        n: &NotificationId,
        version: i64,
        message: &str,
    ) -> Result<()>;
}

const AMENDMENT_COLS: &str =
    "a.notification_id, a.version, a.kind, a.state, a.message, a.requested_by, a.requested_at, \
     a.next_seq, a.done, a.failed, a.finished_at, n.tenant_id, n.state AS notification_state";

fn amendment<R: sqlx::Row>(r: &R) -> Result<Amendment>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'c> String: sqlx::Decode<'c, R::Database> + sqlx::Type<R::Database>,
    for<'c> Option<String>: sqlx::Decode<'c, R::Database> + sqlx::Type<R::Database>,
    for<'c> i64: sqlx::Decode<'c, R::Database> + sqlx::Type<R::Database>,
    for<'c> Option<i64>: sqlx::Decode<'c, R::Database> + sqlx::Type<R::Database>,
{
    let kind: String = r.try_get("kind")?;
    let state: String = r.try_get("state")?;
    let n_state: String = r.try_get("notification_state")?;
    Ok(Amendment {
        notification_id: id(r, "notification_id")?,
        tenant_id: id(r, "tenant_id")?,
        version: r.try_get("version")?,
        kind: AmendKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("amendment kind `{kind}`")))?,
        running: state == "running",
        message: r.try_get("message")?,
        requested_by: r.try_get("requested_by")?,
        requested_at: ms(r.try_get("requested_at")?),
        next_seq: r.try_get("next_seq")?,
        done: ms(r.try_get("done")?),
        failed: ms(r.try_get("failed")?),
        finished_at: r.try_get::<Option<i64>, _>("finished_at")?.map(ms),
        notification_finished: n_state == NotificationState::Completed.as_str()
            || n_state == NotificationState::Canceled.as_str(),
    })
}

macro_rules! impl_amendments {
    ($store:ty, $postgres:literal) => {
        impl $store {
            async fn amendment_of(&self, n: &NotificationId, version: i64) -> Result<Option<Amendment>> {
                let sql = format!(
                    "SELECT {AMENDMENT_COLS} FROM amendments a JOIN notifications n ON n.id = a.notification_id \
                     WHERE a.notification_id = {} AND a.version = {version}",
                    if $postgres { "$1" } else { "?1" }
                );
                let row = sqlx::query(&sql).bind(n.as_str()).fetch_optional(&self.pool).await?;
                row.as_ref().map(amendment).transpose()
            }
        }

        #[async_trait]
        impl Amendments for $store {
            async fn amend(
                &self,
                n: &NotificationId,
                kind: AmendKind,
                message: Option<&str>,
                by: Option<&str>,
                now: u64,
            ) -> Result<Amended> {
                let p = |i: usize| if $postgres { format!("${i}") } else { format!("?{i}") };
                let mut tx = self.pool.begin().await?;
                if $postgres {
                    // Two requests for one notification queue here rather than both pass the checks.
                    sqlx::query("SELECT 1 FROM notifications WHERE id = $1 FOR UPDATE")
                        .bind(n.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
                let existing = sqlx::query(&format!(
                    "SELECT kind, state FROM amendments WHERE notification_id = {} ORDER BY version",
                    p(1)
                ))
                .bind(n.as_str())
                .fetch_all(&mut *tx)
                .await?;
                let mut version = 1;
                for r in &existing {
                    let (k, s): (String, String) = (r.try_get("kind")?, r.try_get("state")?);
                    version += 1;
                    if k == "recall" {
                        let why = if kind == AmendKind::Recall {
                            "it has already been recalled"
                        } else {
                            "it has been recalled: there is no message left to edit"
                        };
                        return Ok(Amended::Conflict(why.to_owned()));
                    }
                    if kind == AmendKind::Edit && s == "running" {
                        return Ok(Amended::Conflict(
                            "another edit is still running: wait until its `edit.state` is `done`".to_owned(),
                        ));
                    }
                }
                if kind == AmendKind::Recall {
                    // A recall stops an edit where it is.
                    sqlx::query(&format!(
                        "UPDATE amendments SET state = 'done', finished_at = {}, lease_until = NULL \
                         WHERE notification_id = {} AND state = 'running'",
                        p(1),
                        p(2)
                    ))
                    .bind(db(now))
                    .bind(n.as_str())
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query(&format!(
                    "INSERT INTO amendments (notification_id, version, kind, state, message, requested_by, requested_at) \
                     VALUES ({}, {}, {}, 'running', {}, {}, {})",
                    p(1), p(2), p(3), p(4), p(5), p(6)
                ))
                .bind(n.as_str())
                .bind(version)
                .bind(kind.as_str())
                .bind(message)
                .bind(by)
                .bind(db(now))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                let made = self
                    .amendment_of(n, version)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt(format!("amendment {version} of {n} vanished")))?;
                Ok(Amended::Started(made))
            }

            async fn amendments(&self, n: &NotificationId) -> Result<Vec<Amendment>> {
                let sql = format!(
                    "SELECT {AMENDMENT_COLS} FROM amendments a JOIN notifications n ON n.id = a.notification_id \
                     WHERE a.notification_id = {} ORDER BY a.version",
                    if $postgres { "$1" } else { "?1" }
                );
                let rows = sqlx::query(&sql).bind(n.as_str()).fetch_all(self.readers()).await?;
                rows.iter().map(amendment).collect()
            }

            async fn claim_amendment(&self, now: u64, lease_ms: u64) -> Result<Option<Amendment>> {
                let (p1, p2) = if $postgres { ("$1", "$2") } else { ("?1", "?2") };
                let sql = format!(
                    "UPDATE amendments SET lease_until = {p2} WHERE (notification_id, version) = \
                     (SELECT notification_id, version FROM amendments WHERE state = 'running' \
                      AND (lease_until IS NULL OR lease_until <= {p1}) ORDER BY requested_at LIMIT 1) \
                     AND state = 'running' AND (lease_until IS NULL OR lease_until <= {p1}) \
                     RETURNING notification_id, version"
                );
                let row = sqlx::query(&sql)
                    .bind(db(now))
                    .bind(db(now + lease_ms))
                    .fetch_optional(&self.pool)
                    .await?;
                let Some(row) = row else { return Ok(None) };
                let n: NotificationId = id(&row, "notification_id")?;
                let version: i64 = row.try_get("version")?;
                self.amendment_of(&n, version).await
            }

            async fn amendment_rows(&self, a: &Amendment, limit: u32) -> Result<Walk> {
                let limit = limit.clamp(1, 1000);
                let mut b = Binds::new($postgres);
                let nid = b.p(a.notification_id.as_str());
                let sql = format!(
                    "SELECT {DELIVERY_COLS} FROM deliveries WHERE notification_id = {nid} AND seq >= {from} \
                     ORDER BY seq LIMIT {limit}",
                    from = a.next_seq
                );
                let mut q = sqlx::query(&sql);
                for v in &b.values {
                    q = q.bind(v.as_str());
                }
                let rows = q.fetch_all(&self.pool).await?;
                let mut walk = Walk { next_seq: a.next_seq, ..Walk::default() };
                let mut looked = 0;
                for r in &rows {
                    let d = Self::delivery(r)?;
                    looked += 1;
                    if d.status != DeliveryStatus::Done {
                        walk.blocked = true;
                        break;
                    }
                    walk.next_seq = d.seq + 1;
                    let delivered = d.result.as_ref().is_some_and(|v| v.outcome == Outcome::Delivered);
                    let has_message = d.activity_id.is_some() && d.conversation_id.is_some() && d.aad_object_id.is_some();
                    let pending_here = match a.kind {
                        AmendKind::Recall => d.recalled_at.is_none(),
                        AmendKind::Edit => d.recalled_at.is_none() && d.edited_at.is_none_or(|t| t < a.requested_at),
                    };
                    if delivered && has_message && pending_here {
                        walk.rows.push(d);
                    }
                }
                walk.at_end = !walk.blocked && looked < limit as usize;
                if a.kind == AmendKind::Edit && !walk.rows.is_empty() {
                    // An answered card keeps what its answer made of it.
                    let mut b = Binds::new($postgres);
                    let nid = b.p(a.notification_id.as_str());
                    let seqs: Vec<String> = walk.rows.iter().map(|d| d.seq.to_string()).collect();
                    let sql = format!(
                        "SELECT seq FROM responses WHERE notification_id = {nid} AND state = 'answered' AND seq IN ({})",
                        seqs.join(", ")
                    );
                    let mut q = sqlx::query(&sql);
                    for v in &b.values {
                        q = q.bind(v.as_str());
                    }
                    let answered: std::collections::HashSet<i64> = q
                        .fetch_all(&self.pool)
                        .await?
                        .iter()
                        .map(|r| r.try_get::<i64, _>("seq"))
                        .collect::<std::result::Result<_, _>>()?;
                    walk.rows.retain(|d| !answered.contains(&d.seq));
                }
                Ok(walk)
            }

            async fn save_step(
                &self,
                a: &Amendment,
                changed: &[i64],
                failed: u64,
                next_seq: i64,
                now: u64,
                lease_until: u64,
            ) -> Result<bool> {
                let p = |i: usize| if $postgres { format!("${i}") } else { format!("?{i}") };
                let mut tx = self.pool.begin().await?;
                // Rows marked here for the first time: a step repeated after a crash (or by a
                // node whose lease ran out) does not count twice.
                let mut marked = 0;
                if !changed.is_empty() {
                    let seqs: Vec<String> = changed.iter().map(i64::to_string).collect();
                    let (set, only_new) = match a.kind {
                        AmendKind::Recall => ("recalled_at = {1}, recalled_by = {2}", "recalled_at IS NULL".to_owned()),
                        AmendKind::Edit => (
                            "edited_at = {1}, edited_by = {2}",
                            format!("(edited_at IS NULL OR edited_at < {})", db(a.requested_at)),
                        ),
                    };
                    let set = set.replace("{1}", &p(1)).replace("{2}", &p(2));
                    marked = sqlx::query(&format!(
                        "UPDATE deliveries SET {set} WHERE notification_id = {} AND seq IN ({}) AND {only_new}",
                        p(3),
                        seqs.join(", ")
                    ))
                    .bind(db(now))
                    .bind(&a.requested_by)
                    .bind(a.notification_id.as_str())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if a.kind == AmendKind::Recall && marked > 0 {
                        sqlx::query(&format!("UPDATE notifications SET recalled = recalled + {} WHERE id = {}", p(1), p(2)))
                            .bind(marked as i64)
                            .bind(a.notification_id.as_str())
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                let saved = sqlx::query(&format!(
                    "UPDATE amendments SET next_seq = CASE WHEN next_seq > {p1} THEN next_seq ELSE {p1} END, \
                     done = done + {}, failed = failed + {}, lease_until = {} \
                     WHERE notification_id = {} AND version = {} AND state = 'running'",
                    p(2), p(3), p(4), p(5), p(6), p1 = p(1)
                ))
                .bind(next_seq)
                .bind(marked as i64)
                .bind(failed as i64)
                .bind(db(lease_until))
                .bind(a.notification_id.as_str())
                .bind(a.version)
                .execute(&mut *tx)
                .await?;
                if saved.rows_affected() == 0 {
                    // A recall stopped this edit: what it changed stays unrecorded as its work.
                    tx.rollback().await?;
                    return Ok(false);
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn finish_amendment(&self, a: &Amendment, now: u64) -> Result<()> {
                let sql = if $postgres {
                    "UPDATE amendments SET state = 'done', finished_at = $1, lease_until = NULL \
                     WHERE notification_id = $2 AND version = $3 AND state = 'running'"
                } else {
                    "UPDATE amendments SET state = 'done', finished_at = ?1, lease_until = NULL \
                     WHERE notification_id = ?2 AND version = ?3 AND state = 'running'"
                };
                sqlx::query(sql)
                    .bind(db(now))
                    .bind(a.notification_id.as_str())
                    .bind(a.version)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn edits_mentioning(&self, needles: &[String]) -> Result<Vec<(NotificationId, i64, String)>> {
                let mut b = Binds::new($postgres);
                let any: Vec<String> = needles
                    .iter()
                    .map(|n| {
                        let pattern = b.p(format!("%{}%", crate::erasure::like_escaped(&n.to_lowercase())));
                        format!("lower(message) LIKE {pattern} ESCAPE '\\'")
                    })
                    .collect();
                if any.is_empty() {
                    return Ok(Vec::new());
                }
                let sql = format!(
                    "SELECT notification_id, version, message FROM amendments WHERE kind = 'edit' AND ({})",
                    any.join(" OR ")
                );
                let mut q = sqlx::query(&sql);
                for v in &b.values {
                    q = q.bind(v.as_str());
                }
                q.fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(|r| Ok((id(r, "notification_id")?, r.try_get("version")?, r.try_get("message")?)))
                    .collect()
            }

            async fn replace_edit_message(&self, n: &NotificationId, version: i64, message: &str) -> Result<()> {
                let sql = if $postgres {
                    "UPDATE amendments SET message = $1 WHERE notification_id = $2 AND version = $3"
                } else {
                    "UPDATE amendments SET message = ?1 WHERE notification_id = ?2 AND version = ?3"
                };
                sqlx::query(sql).bind(message).bind(n.as_str()).bind(version).execute(&self.pool).await?;
                Ok(())
            }

            async fn end_waits(&self, n: &NotificationId, now: u64) -> Result<u64> {
                let sql = if $postgres {
                    "UPDATE responses SET state = 'no_response', updated_at = $1 WHERE notification_id = $2 AND state = 'waiting'"
                } else {
                    "UPDATE responses SET state = 'no_response', updated_at = ?1 WHERE notification_id = ?2 AND state = 'waiting'"
                };
                let r = sqlx::query(sql).bind(db(now)).bind(n.as_str()).execute(&self.pool).await?;
                Ok(r.rows_affected())
            }
        }
    };
}

impl_amendments!(SqliteStore, false);
impl_amendments!(PgStore, true);
