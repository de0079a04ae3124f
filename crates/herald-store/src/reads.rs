//! Read receipts: a user's 1:1 chat read up to a message marks every delivered row of that
//! conversation up to it (`read_at`) and counts it in its notification's `seen`. Message ids
//! there are digits that grow with time, compared as numbers (as Bot Builder's
//! `ReadReceiptInfo` does) — by length, then as text, so ids of any length compare right. A
//! receipt is also kept as the conversation's furthest mark (`read_marks`): a row that records
//! its message id after the receipt came is marked by [`Reads::reapply_reads`].
//!
//! Reactions (`messageReaction`) are counted per message, by the conversation and message ids a
//! row records: a report reads them for the rows of its page.

use crate::sql::Binds;
use crate::store::{db, ms, PgStore, SqliteStore};
use crate::*;
use async_trait::async_trait;
use herald_core::ids::{ConversationId, NotificationId};
use sqlx::Row as _;
use std::collections::BTreeMap;

/// The longest message id a receipt may name: Teams' are 13 digits.
pub const MAX_MESSAGE_ID_LEN: usize = 32;

/// A message id as receipts compare it: digits without leading zeros (`None`: not such an id,
/// and a receipt naming it marks nothing).
pub fn message_number(id: &str) -> Option<String> {
    let id = id.trim();
    if id.is_empty() || id.len() > MAX_MESSAGE_ID_LEN || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = id.trim_start_matches('0');
    Some(if n.is_empty() {
        "0".to_owned()
    } else {
        n.to_owned()
    })
}

/// What one [`Reads::reapply_reads`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reapplied {
    /// Marks read (`limit` of them: there may be more).
    pub marks: u32,
    /// When the last of them came: where the next call starts.
    pub last_at: Option<u64>,
    /// Rows newly marked read.
    pub rows: u64,
}

#[async_trait]
pub trait Reads: Send + Sync {
    /// `conversation` was read up to message `up_to` (see [`message_number`]) at `now`: marks
    /// its unread delivered rows up to it and keeps the mark. Returns the rows marked.
    async fn apply_read(&self, conversation: &ConversationId, up_to: &str, now: u64)
        -> Result<u64>;
    /// Applies again the marks kept after `after` and up to `until` (at most `limit`, oldest
    /// first), to rows that recorded their message after the receipt came (each marked as read
    /// when its receipt came).
    async fn reapply_reads(&self, after: u64, until: u64, limit: u32) -> Result<Reapplied>;
    /// A reaction of `kind` added (`delta` 1) or removed (-1) on a message; a count never goes
    /// below zero.
    async fn react(
        &self,
        conversation: &ConversationId,
        activity_id: &str,
        kind: &str,
        delta: i64,
        now: u64,
    ) -> Result<()>;
    /// The reactions on these messages (conversation id, message id): each message's kinds and
    /// counts, those above zero.
    async fn reactions_on(&self, messages: &[(String, String)]) -> Result<Vec<Reaction>>;
}

/// Reactions of one kind on one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    pub conversation_id: String,
    pub activity_id: String,
    pub kind: String,
    pub n: u64,
}

macro_rules! impl_reads {
    ($store:ty, $postgres:literal) => {
        impl $store {
            /// Marks `conversation`'s unread rows up to `up_to`, read at `at`, and counts them.
            async fn mark_read(
                tx: &mut sqlx::Transaction<'static, <$store as crate::store::HasPool>::Db>,
                conversation: &str,
                up_to: &str,
                at: u64,
            ) -> Result<u64> {
                let mut b = Binds::new($postgres);
                let c = b.p(conversation);
                let (x1, x2, x3) = (b.p(up_to), b.p(up_to), b.p(up_to));
                let digits = if $postgres {
                    "activity_id ~ '^[0-9]+$'"
                } else {
                    "activity_id <> '' AND activity_id NOT GLOB '*[^0-9]*'"
                };
                let sql = format!(
                    "UPDATE deliveries SET read_at = {at} WHERE conversation_id = {c} AND read_at IS NULL \
                     AND activity_id IS NOT NULL AND outcome = 'delivered' AND {digits} \
                     AND (length(activity_id) < length({x1}) OR (length(activity_id) = length({x2}) AND activity_id <= {x3})) \
                     RETURNING notification_id, seq",
                    at = db(at)
                );
                let mut q = sqlx::query(&sql);
                for v in &b.values {
                    q = q.bind(v.as_str());
                }
                let mut seen: BTreeMap<String, Vec<i64>> = BTreeMap::new();
                for row in q.fetch_all(&mut **tx).await? {
                    seen.entry(row.try_get("notification_id")?).or_default().push(row.try_get("seq")?);
                }
                let bump = if $postgres {
                    "UPDATE notifications SET seen = seen + $1 WHERE id = $2"
                } else {
                    "UPDATE notifications SET seen = seen + ? WHERE id = ?"
                };
                let mut n = 0;
                // In id order, so two nodes never take these rows' locks in opposite orders.
                for (id, seqs) in seen {
                    let k = seqs.len() as i64;
                    sqlx::query(bump).bind(k).bind(&id).execute(&mut **tx).await?;
                    n += k as u64;
                    if let Some(url) = crate::events::wanted(tx, $postgres, &id, CallbackEvent::Read).await? {
                        let nid = NotificationId::trusted(id.as_str());
                        for seq in seqs {
                            crate::events::queue(tx, $postgres, &nid, seq, &url, CallbackEvent::Read, None, at).await?;
                        }
                    }
                }
                Ok(n)
            }
        }

        #[async_trait]
        impl Reads for $store {
            async fn apply_read(&self, conversation: &ConversationId, up_to: &str, now: u64) -> Result<u64> {
                let Some(up_to) = message_number(up_to) else {
                    return Ok(0);
                };
                let mut tx = self.pool.begin().await?;
                // The furthest receipt is kept (one that comes late and names an older message
                // leaves it).
                let keep = if $postgres {
                    "INSERT INTO read_marks (conversation_id, up_to, at) VALUES ($1, $2, $3) \
                     ON CONFLICT (conversation_id) DO UPDATE SET up_to = excluded.up_to, at = excluded.at \
                     WHERE length(read_marks.up_to) < length(excluded.up_to) \
                     OR (length(read_marks.up_to) = length(excluded.up_to) AND read_marks.up_to < excluded.up_to)"
                } else {
                    "INSERT INTO read_marks (conversation_id, up_to, at) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (conversation_id) DO UPDATE SET up_to = excluded.up_to, at = excluded.at \
                     WHERE length(read_marks.up_to) < length(excluded.up_to) \
                     OR (length(read_marks.up_to) = length(excluded.up_to) AND read_marks.up_to < excluded.up_to)"
                };
                sqlx::query(keep)
                    .bind(conversation.as_str())
                    .bind(&up_to)
                    .bind(db(now))
                    .execute(&mut *tx)
                    .await?;
                let n = Self::mark_read(&mut tx, conversation.as_str(), &up_to, now).await?;
                tx.commit().await?;
                Ok(n)
            }

            async fn reapply_reads(&self, after: u64, until: u64, limit: u32) -> Result<Reapplied> {
                let recent = if $postgres {
                    "SELECT conversation_id, up_to, at FROM read_marks WHERE at > $1 AND at <= $2 ORDER BY at LIMIT $3"
                } else {
                    "SELECT conversation_id, up_to, at FROM read_marks WHERE at > ?1 AND at <= ?2 ORDER BY at LIMIT ?3"
                };
                let marks = sqlx::query(recent)
                    .bind(db(after))
                    .bind(db(until))
                    .bind(i64::from(limit))
                    .fetch_all(self.readers())
                    .await?;
                let mut out = Reapplied::default();
                if marks.is_empty() {
                    return Ok(out);
                }
                let mut tx = self.pool.begin().await?;
                for m in &marks {
                    let conv: String = m.try_get("conversation_id")?;
                    let up_to: String = m.try_get("up_to")?;
                    let at = ms(m.try_get("at")?);
                    out.rows += Self::mark_read(&mut tx, &conv, &up_to, at).await?;
                    out.marks += 1;
                    out.last_at = Some(at);
                }
                tx.commit().await?;
                Ok(out)
            }

            async fn react(&self, conversation: &ConversationId, activity_id: &str, kind: &str, delta: i64, now: u64) -> Result<()> {
                let sql = if $postgres {
                    "INSERT INTO reactions (conversation_id, activity_id, kind, n) VALUES ($1, $2, $3, GREATEST($4, 0)) \
                     ON CONFLICT (conversation_id, activity_id, kind) DO UPDATE SET n = GREATEST(reactions.n + $4, 0)"
                } else {
                    "INSERT INTO reactions (conversation_id, activity_id, kind, n) VALUES (?1, ?2, ?3, MAX(?4, 0)) \
                     ON CONFLICT (conversation_id, activity_id, kind) DO UPDATE SET n = MAX(reactions.n + ?4, 0)"
                };
                let mut tx = self.pool.begin().await?;
                sqlx::query(sql)
                    .bind(conversation.as_str())
                    .bind(activity_id)
                    .bind(kind)
                    .bind(delta)
                    .execute(&mut *tx)
                    .await?;
                // Rows whose notification reports reactions (`options.events`), found through
                // the index of watched rows only.
                let watched = if $postgres {
                    "SELECT notification_id, seq FROM deliveries WHERE watch = 1 AND conversation_id = $1 AND activity_id = $2"
                } else {
                    "SELECT notification_id, seq FROM deliveries WHERE watch = 1 AND conversation_id = ?1 AND activity_id = ?2"
                };
                let rows = sqlx::query(watched)
                    .bind(conversation.as_str())
                    .bind(activity_id)
                    .fetch_all(&mut *tx)
                    .await?;
                for r in rows {
                    let id: String = r.try_get("notification_id")?;
                    let seq: i64 = r.try_get("seq")?;
                    if let Some(url) = crate::events::wanted(&mut tx, $postgres, &id, CallbackEvent::Reacted).await? {
                        let detail = serde_json::json!({"reaction": kind, "added": delta > 0}).to_string();
                        let nid = NotificationId::trusted(id.as_str());
                        crate::events::queue(&mut tx, $postgres, &nid, seq, &url, CallbackEvent::Reacted, Some(&detail), now).await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            async fn reactions_on(&self, messages: &[(String, String)]) -> Result<Vec<Reaction>> {
                let mut out = Vec::new();
                for chunk in messages.chunks(400) {
                    let mut binds = Vec::with_capacity(chunk.len() * 2);
                    let pairs: Vec<String> = chunk
                        .iter()
                        .map(|(c, a)| {
                            binds.push(c.as_str());
                            binds.push(a.as_str());
                            if $postgres {
                                format!("(${}, ${})", binds.len() - 1, binds.len())
                            } else {
                                "(?, ?)".to_owned()
                            }
                        })
                        .collect();
                    let sql = format!(
                        "SELECT conversation_id, activity_id, kind, n FROM reactions \
                         WHERE n > 0 AND (conversation_id, activity_id) IN (VALUES {})",
                        pairs.join(", ")
                    );
                    let mut q = sqlx::query(&sql);
                    for b in binds {
                        q = q.bind(b);
                    }
                    for row in q.fetch_all(self.readers()).await? {
                        out.push(Reaction {
                            conversation_id: row.try_get("conversation_id")?,
                            activity_id: row.try_get("activity_id")?,
                            kind: row.try_get("kind")?,
                            n: ms(row.try_get("n")?),
                        });
                    }
                }
                Ok(out)
            }
        }
    };
}

impl_reads!(SqliteStore, false);
impl_reads!(PgStore, true);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_digits_compared_as_numbers() {
        assert_eq!(
            message_number("1700000000123").as_deref(),
            Some("1700000000123")
        );
        assert_eq!(message_number(" 007 ").as_deref(), Some("7"));
        assert_eq!(message_number("000").as_deref(), Some("0"));
        assert_eq!(message_number(""), None);
        assert_eq!(message_number("12a"), None);
        assert_eq!(message_number("-5"), None);
        assert_eq!(message_number(&"9".repeat(33)), None);
    }
}
