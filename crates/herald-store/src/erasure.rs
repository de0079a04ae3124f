//! Forgetting: a person erased for a data-protection request, and old notifications purged
//! after `retention_days`.
//!
//! Erasing a person: their conversation reference, opt-outs and
//! sign-in tokens are deleted, their answers to cards too; their delivery rows stay (a report's
//! counts must still add up) but lose everything that says who they were, and rows not yet sent
//! to them are canceled. The notifications' stored requests are the engine's to rewrite (the
//! store does not read inside them): [`Erasure::requests_mentioning`] finds them.

use crate::sql::Binds;
use crate::store::{PgStore, SqliteStore, Tally};
use crate::*;
use async_trait::async_trait;
use herald_core::ids::{Id, NotificationId};
use serde::Serialize;
use sqlx::Row as _;

/// Whom to erase: every spelling of them the store may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub tenant_id: TenantId,
    pub aad_object_id: Option<AadObjectId>,
    /// UPNs, e-mail addresses or ids the person was named by (any case).
    pub names: Vec<String>,
}

impl Person {
    fn aad(&self) -> Option<String> {
        self.aad_object_id.as_ref().map(|a| a.to_ascii_lowercase())
    }

    /// Lowercase names, the AAD object id among them.
    fn all_names(&self) -> Vec<String> {
        let mut out: Vec<String> = self.names.iter().map(|n| n.trim().to_lowercase()).collect();
        out.extend(self.aad());
        out.sort();
        out.dedup();
        out
    }
}

/// What an erasure removed, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Erased {
    pub references: u64,
    pub preferences: u64,
    pub sign_ins: u64,
    /// Delivery rows that no longer say who they were for.
    pub deliveries: u64,
    /// Of those, rows not sent yet: canceled.
    pub canceled: u64,
    pub responses: u64,
    /// Notifications whose stored request named the person (rewritten by the engine).
    pub notifications: u64,
    /// The notifications whose rows were canceled (the engine completes them if that was all).
    #[serde(skip)]
    pub touched: Vec<NotificationId>,
}

/// What one purge step removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Notifications removed whole (their rows were all gone).
    pub notifications: u64,
    pub deliveries: u64,
}

#[async_trait]
pub trait Erasure: Send + Sync {
    /// One step of the retention purge: up to `max_rows` delivery rows of the oldest notification
    /// that finished before `before` (completed or canceled, with no answer still awaited and no
    /// callback still to send), and the notification itself with its counts, answers and
    /// callbacks once its rows are gone. Nothing to do: `Purged::default()`.
    async fn purge_finished(&self, before: u64, max_rows: u32) -> Result<Purged>;
    /// Erases the person everywhere but inside stored requests, in one transaction.
    async fn erase_person(&self, p: &Person, now: u64) -> Result<Erased>;
    /// Notifications whose stored request holds any of these (lowercase) strings.
    async fn requests_mentioning(&self, needles: &[String]) -> Result<Vec<Notification>>;
    /// Replaces a notification's stored request (the engine's rewrite, minus a person).
    async fn replace_request(&self, id: &NotificationId, request: &str) -> Result<()>;
}

/// The erasure's one kind of condition: every way a row can name the person.
impl Binds {
    /// `(lower(aad_col) = aad OR lower(name_col) IN names [OR key_col IN keys])`.
    fn person(
        &mut self,
        p: &Person,
        aad_col: &str,
        name_col: &str,
        key_col: Option<&str>,
    ) -> String {
        let names = p.all_names();
        let mut any = Vec::new();
        if let Some(a) = p.aad() {
            any.push(format!("lower({aad_col}) = {}", self.p(a)));
        }
        any.push(format!("lower({name_col}) IN {}", self.list(&names)));
        if let Some(k) = key_col {
            // How the engine keys a recipient: the AAD object id, else `input:` + the name.
            let mut keys: Vec<String> = names.iter().map(|n| format!("input:{n}")).collect();
            keys.extend(p.aad());
            any.push(format!("{k} IN {}", self.list(&keys)));
        }
        format!("({})", any.join(" OR "))
    }
}

/// `%` and `_` in a LIKE pattern stand for themselves.
pub(crate) fn like_escaped(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

macro_rules! impl_erasure {
    ($store:ty, $postgres:literal) => {
        #[async_trait]
        impl Erasure for $store {
            async fn erase_person(&self, p: &Person, now: u64) -> Result<Erased> {
                let now = crate::store::db(now);
                let mut out = Erased::default();
                let mut tx = self.pool.begin().await?;
                macro_rules! run {
                    ($b:expr, $sql:expr) => {{
                        let b: Binds = $b;
                        let sql: String = $sql;
                        let mut q = sqlx::query(&sql);
                        for v in &b.values {
                            q = q.bind(v.as_str());
                        }
                        q.execute(&mut *tx).await?.rows_affected()
                    }};
                }
                // What they read and how they reacted, kept by their chat's id.
                for table in ["read_marks", "reactions"] {
                    let mut b = Binds::new($postgres);
                    let tenant = b.p(p.tenant_id.as_str());
                    let who = b.person(p, "aad_object_id", "upn", None);
                    run!(b, format!(
                        "DELETE FROM {table} WHERE conversation_id IN \
                         (SELECT conversation_id FROM conversation_refs WHERE tenant_id = {tenant} AND {who})"
                    ));
                }
                let mut b = Binds::new($postgres);
                let tenant = b.p(p.tenant_id.as_str());
                let who = b.person(p, "aad_object_id", "upn", None);
                out.references = run!(b, format!("DELETE FROM conversation_refs WHERE tenant_id = {tenant} AND {who}"));
                if let Some(a) = p.aad() {
                    let mut b = Binds::new($postgres);
                    let (t, a) = (b.p(p.tenant_id.as_str()), b.p(a));
                    out.preferences = run!(b, format!("DELETE FROM opt_outs WHERE tenant_id = {t} AND aad_object_id = {a}"));
                    let mut b = Binds::new($postgres);
                    let (t, a) = (b.p(p.tenant_id.as_str()), b.p(a));
                    out.preferences += run!(b, format!("DELETE FROM preferred_time_zones WHERE tenant_id = {t} AND aad_object_id = {a}"));
                }
                let mut b = Binds::new($postgres);
                let who = b.person(p, "aad_object_id", "upn", None);
                out.sign_ins = run!(b, format!("DELETE FROM user_tokens WHERE {who}"));

                // Rows not sent yet are canceled first (and counted so), then every row of theirs
                // forgets them.
                let mut b = Binds::new($postgres);
                let who = b.person(p, "aad_object_id", "upn", Some("recipient_key"));
                let sql = format!(
                    "UPDATE deliveries SET status = 'done', outcome = 'canceled', reason = 'canceled', \
                     lease_until = NULL, updated_at = {now} WHERE status IN ('pending', 'waiting') AND {who} RETURNING notification_id"
                );
                let mut q = sqlx::query(&sql);
                for v in &b.values {
                    q = q.bind(v.as_str());
                }
                let mut tally = Tally::default();
                for row in q.fetch_all(&mut *tx).await? {
                    let id: String = row.try_get("notification_id")?;
                    tally.finish(&id, "canceled", "canceled", 1);
                    out.canceled += 1;
                    let id = NotificationId::trusted_id(id);
                    if !out.touched.contains(&id) {
                        out.touched.push(id);
                    }
                }
                self.apply_tally(&mut tx, tally).await?;

                let mut b = Binds::new($postgres);
                let who = b.person(p, "aad_object_id", "recipient", None);
                let answered = format!("SELECT notification_id, seq FROM responses WHERE {who}");
                run!(b, format!(
                    "DELETE FROM response_events WHERE EXISTS (SELECT 1 FROM ({answered}) r \
                     WHERE r.notification_id = response_events.notification_id AND r.seq = response_events.seq)"
                ));
                let mut b = Binds::new($postgres);
                let who = b.person(p, "aad_object_id", "recipient", None);
                out.responses = run!(b, format!("DELETE FROM responses WHERE {who}"));

                let mut b = Binds::new($postgres);
                let who = b.person(p, "aad_object_id", "upn", Some("recipient_key"));
                let concat = if $postgres { "'erased:' || seq::TEXT" } else { "'erased:' || seq" };
                out.deliveries = run!(b, format!(
                    "UPDATE deliveries SET recipient = 'erased', recipient_key = {concat}, aad_object_id = NULL, \
                     upn = NULL, display_name = NULL, data = NULL, detail = NULL, activity_id = NULL, \
                     conversation_id = NULL, updated_at = {now} WHERE {who}"
                ));
                tx.commit().await?;
                Ok(out)
            }

            async fn purge_finished(&self, before: u64, max_rows: u32) -> Result<Purged> {
                let before = crate::store::db(before);
                let mut tx = self.pool.begin().await?;
                let oldest = format!(
                    "SELECT id FROM notifications n WHERE state IN ('completed', 'canceled') \
                     AND finished_at IS NOT NULL AND finished_at < {before} \
                     AND NOT EXISTS (SELECT 1 FROM responses r WHERE r.notification_id = n.id AND r.state = 'waiting') \
                     AND NOT EXISTS (SELECT 1 FROM callbacks c WHERE c.notification_id = n.id AND c.state IN ('pending', 'sending')) \
                     ORDER BY finished_at LIMIT 1"
                );
                let Some(row) = sqlx::query(&oldest).fetch_optional(&mut *tx).await? else {
                    return Ok(Purged::default());
                };
                let id: String = row.try_get("id")?;
                // The step's rows: their reactions first (kept by message), then the rows.
                let mut b = Binds::new($postgres);
                let (a, c) = (b.p(id.as_str()), b.p(id.as_str()));
                let step = format!(
                    "SELECT seq FROM deliveries WHERE notification_id = {c} ORDER BY seq LIMIT {max_rows}"
                );
                let sql = format!(
                    "DELETE FROM reactions WHERE (conversation_id, activity_id) IN \
                     (SELECT conversation_id, activity_id FROM deliveries WHERE notification_id = {a} \
                     AND activity_id IS NOT NULL AND seq IN ({step}))"
                );
                let mut q = sqlx::query(&sql);
                for v in &b.values {
                    q = q.bind(v.as_str());
                }
                q.execute(&mut *tx).await?;
                let mut b = Binds::new($postgres);
                let (a, c) = (b.p(id.as_str()), b.p(id.as_str()));
                let sql = format!(
                    "DELETE FROM deliveries WHERE notification_id = {a} AND seq IN \
                     (SELECT seq FROM deliveries WHERE notification_id = {c} ORDER BY seq LIMIT {max_rows})"
                );
                let mut q = sqlx::query(&sql);
                for v in &b.values {
                    q = q.bind(v.as_str());
                }
                let deliveries = q.execute(&mut *tx).await?.rows_affected();
                let mut out = Purged { notifications: 0, deliveries };
                if deliveries < u64::from(max_rows) {
                    let placeholder = if $postgres { "$1" } else { "?" };
                    for (table, column) in [
                        ("response_events", "notification_id"),
                        ("responses", "notification_id"),
                        ("callbacks", "notification_id"),
                        ("delivery_tally", "notification_id"),
                        ("amendments", "notification_id"),
                        ("notifications", "id"),
                    ] {
                        let sql = format!("DELETE FROM {table} WHERE {column} = {placeholder}");
                        sqlx::query(&sql).bind(id.as_str()).execute(&mut *tx).await?;
                    }
                    out.notifications = 1;
                }
                tx.commit().await?;
                Ok(out)
            }

            async fn requests_mentioning(&self, needles: &[String]) -> Result<Vec<Notification>> {
                let mut b = Binds::new($postgres);
                let any: Vec<String> = needles
                    .iter()
                    .map(|n| {
                        let pattern = b.p(format!("%{}%", like_escaped(&n.to_lowercase())));
                        format!("lower(request) LIKE {pattern} ESCAPE '\\'")
                    })
                    .collect();
                if any.is_empty() {
                    return Ok(Vec::new());
                }
                let sql = format!(
                    "SELECT {} FROM notifications WHERE {}",
                    crate::sql::NOTIFICATION_COLS,
                    any.join(" OR ")
                );
                let mut q = sqlx::query(&sql);
                for v in &b.values {
                    q = q.bind(v.as_str());
                }
                let rows = q.fetch_all(&self.pool).await?;
                rows.iter().map(Self::notification).collect()
            }

            async fn replace_request(&self, id: &NotificationId, request: &str) -> Result<()> {
                let mut b = Binds::new($postgres);
                let (r, i) = (b.p(request), b.p(id.as_str()));
                let sql = format!("UPDATE notifications SET request = {r} WHERE id = {i}");
                let mut q = sqlx::query(&sql);
                for v in &b.values {
                    q = q.bind(v.as_str());
                }
                q.execute(&self.pool).await?;
                Ok(())
            }
        }
    };
}

impl_erasure!(SqliteStore, false);
impl_erasure!(PgStore, true);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_take_wildcards_literally() {
        assert_eq!(like_escaped("ada_b%c\\d"), "ada\\_b\\%c\\\\d");
    }

    #[test]
    fn a_person_is_matched_by_every_name_and_key() {
        let p = Person {
            tenant_id: TenantId::parse("t").unwrap(),
            aad_object_id: Some(AadObjectId::parse("ABC").unwrap()),
            names: vec!["Ada@X.example ".into()],
        };
        let mut b = Binds::new(true);
        let sql = b.person(&p, "aad_object_id", "upn", Some("recipient_key"));
        assert_eq!(
            sql,
            "(lower(aad_object_id) = $1 OR lower(upn) IN ($2, $3) OR recipient_key IN ($4, $5, $6))"
        );
        assert_eq!(
            b.values,
            [
                "abc",
                "abc",
                "ada@x.example",
                "input:abc",
                "input:ada@x.example",
                "abc"
            ]
        );
    }
}
