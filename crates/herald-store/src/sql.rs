//! Every statement, written once with PostgreSQL's `$N` placeholders. SQLite reads `?N` as the
//! same numbered parameter, so [`Queries::new`] rewrites them. Claims differ by dialect: on
//! PostgreSQL a CTE picks rows `FOR UPDATE SKIP LOCKED` (materialised once, so its `LIMIT` holds
//! and rows another node holds are skipped); SQLite has one writer and needs no row locks.

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

pub const REF_COLS: &str = "seq, tenant_id, aad_object_id, user_id, user_name, upn, bot_id, bot_name, \
    conversation_id, conversation_type, channel_id, service_url, locale, source, state, \
    unreachable_reason, welcome_status, welcome_activity_id, last_active_at, created_at, updated_at";

pub const TEAM_COLS: &str = "tenant_id, team_id, name, aad_group_id, general_channel_id, bot_id, \
    channel_id, service_url, state, created_at, updated_at";

pub const CHAT_COLS: &str =
    "seq, tenant_id, conversation_id, name, bot_id, channel_id, service_url, \
    installed_by, state, created_at, updated_at";

pub const NOTIFICATION_COLS: &str = "seq, id, tenant_id, state, request, send_at, resolved, total, created_at, started_at, finished_at, created_by, priority, resolve_cursor";

pub const DELIVERY_COLS: &str =
    "notification_id, seq, recipient, recipient_key, aad_object_id, upn, display_name, data, \
    status, outcome, status_code, reason, attempts, activity_id, conversation_id, detail, \
    lease_token, possible_duplicate, read_at, reminded_at, recalled_at, recalled_by, edited_at, edited_by, due_at";

/// A statement's parameters, each bound where it appears: an anonymous `?` on SQLite (bound in
/// order), `$n` on PostgreSQL.
pub(crate) struct Binds {
    postgres: bool,
    pub(crate) values: Vec<String>,
}

impl Binds {
    pub(crate) fn new(postgres: bool) -> Self {
        Self {
            postgres,
            values: Vec::new(),
        }
    }

    pub(crate) fn p(&mut self, v: impl Into<String>) -> String {
        self.values.push(v.into());
        if self.postgres {
            format!("${}", self.values.len())
        } else {
            "?".to_owned()
        }
    }

    pub(crate) fn list(&mut self, vs: &[String]) -> String {
        if vs.is_empty() {
            // Matches nothing, and stays valid SQL.
            return "(NULL)".to_owned();
        }
        let marks: Vec<String> = vs.iter().map(|v| self.p(v.clone())).collect();
        format!("({})", marks.join(", "))
    }
}

/// `a, b` → `t.a, t.b`: RETURNING after `UPDATE … FROM` must say which table it means.
fn qualify(table: &str, cols: &str) -> String {
    cols.split(',')
        .map(|c| format!("{table}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parameters of a reference in `upsert_references`, bound in this order per row: tenant,
/// AAD object id, user id, name, UPN, bot id, bot name, conversation id, conversation type,
/// channel id, service URL, locale, source, welcome status, created at, updated at.
pub const UPSERT_REF_PARAMS: usize = 16;

/// The upsert of `rows` references in one statement (`UPSERT_REF_PARAMS` parameters a row):
/// a new person is inserted active; a known one keeps what the new row leaves out.
///
/// On SQLite the parameters are anonymous `?`s, bound in order: sqlx asks SQLite for each
/// parameter's name, which SQLite finds by walking the list of named ones, so numbered ones
/// cost O(n²) in a statement of thousands (measured: 69 % of an import's CPU).
pub fn upsert_references(d: Dialect, rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|r| {
            let marks: Vec<String> = (1..=UPSERT_REF_PARAMS)
                .map(|k| match d {
                    Dialect::Postgres => format!("${}", r * UPSERT_REF_PARAMS + k),
                    Dialect::Sqlite => "?".to_owned(),
                })
                .collect();
            let (head, tail) = marks.split_at(13);
            format!("({}, 'active', {})", head.join(", "), tail.join(", "))
        })
        .collect();
    format!(
        r#"
INSERT INTO conversation_refs (tenant_id, aad_object_id, user_id, user_name, upn, bot_id, bot_name,
    conversation_id, conversation_type, channel_id, service_url, locale, source, state,
    welcome_status, created_at, updated_at)
VALUES {}
ON CONFLICT (tenant_id, aad_object_id) DO UPDATE SET
    user_id = excluded.user_id,
    user_name = COALESCE(excluded.user_name, conversation_refs.user_name),
    upn = COALESCE(excluded.upn, conversation_refs.upn),
    bot_id = excluded.bot_id,
    bot_name = COALESCE(excluded.bot_name, conversation_refs.bot_name),
    conversation_id = COALESCE(excluded.conversation_id, conversation_refs.conversation_id),
    conversation_type = excluded.conversation_type,
    channel_id = excluded.channel_id,
    service_url = excluded.service_url,
    locale = COALESCE(excluded.locale, conversation_refs.locale),
    source = CASE WHEN excluded.source = 'team_member' THEN conversation_refs.source ELSE excluded.source END,
    state = 'active',
    unreachable_reason = NULL,
    welcome_status = CASE
        WHEN conversation_refs.welcome_status = 'none' AND excluded.welcome_status = 'pending' THEN 'pending'
        ELSE conversation_refs.welcome_status END,
    updated_at = excluded.updated_at"#,
        values.join(",\n    ")
    )
}

/// Parameters of an outcome in `record_deliveries`, bound in this order per row: notification,
/// seq, outcome, status code, reason, attempts, activity id, conversation id, detail, lease
/// token, possible duplicate, updated at.
pub const RECORD_PARAMS: usize = 12;

/// Records `rows` outcomes in one statement: each row that is still `sending` under the
/// result's lease becomes `done`; the rows written come back (the others were lost).
pub fn record_deliveries(d: Dialect, rows: usize) -> String {
    const TYPES: [&str; RECORD_PARAMS] = [
        "text", "bigint", "text", "bigint", "text", "bigint", "text", "text", "text", "bigint",
        "bigint", "bigint",
    ];
    let values: Vec<String> = (0..rows)
        .map(|r| {
            let marks: Vec<String> = TYPES
                .iter()
                .enumerate()
                .map(|(k, t)| match d {
                    Dialect::Postgres => format!("${}::{t}", r * RECORD_PARAMS + k + 1),
                    Dialect::Sqlite => "?".to_owned(),
                })
                .collect();
            format!("({})", marks.join(", "))
        })
        .collect();
    let returning = match d {
        Dialect::Postgres => {
            "deliveries.notification_id, deliveries.seq, deliveries.outcome, deliveries.reason"
        }
        // SQLite's RETURNING sees only the table it updates.
        Dialect::Sqlite => "notification_id, seq, outcome, reason",
    };
    format!(
        r#"
WITH v (notification_id, seq, outcome, status_code, reason, attempts, activity_id, conversation_id,
        detail, lease_token, possible_duplicate, updated_at) AS (VALUES {})
UPDATE deliveries SET status = 'done', outcome = v.outcome, status_code = v.status_code,
    reason = v.reason, attempts = v.attempts, activity_id = v.activity_id,
    conversation_id = v.conversation_id, lease_until = NULL, updated_at = v.updated_at,
    detail = v.detail, possible_duplicate = v.possible_duplicate
FROM v
WHERE deliveries.notification_id = v.notification_id AND deliveries.seq = v.seq
  AND deliveries.status = 'sending'
  AND (v.lease_token IS NULL OR deliveries.lease_token = v.lease_token)
RETURNING {returning}"#,
        values.join(", ")
    )
}

pub struct Queries {
    pub upsert_reference: String,
    pub mark_unreachable: String,
    pub record_activity: String,
    pub get_reference: String,
    pub list_references: String,
    pub count_references: String,
    pub claim_welcomes: String,
    pub welcome_sent: String,
    pub welcome_retry: String,
    pub welcome_failed: String,
    pub upsert_team: String,
    pub set_team_state: String,
    pub get_team: String,
    pub list_teams: String,
    pub upsert_chat: String,
    pub set_chat_state: String,
    pub get_chat: String,
    pub list_chats: String,
    pub suppress_welcome: String,
    pub reference_by_upn: String,
    pub reference_by_user_id: String,
    pub insert_notification: String,
    pub notification_by_key: String,
    pub get_notification: String,
    pub list_notifications: String,
    pub start_due: String,
    pub claim_resolution: String,
    pub renew_resolution: String,
    pub max_delivery_seq: String,
    pub finish_resolution: String,
    pub active_notification: String,
    pub claim_deliveries: String,
    pub renew_delivery: String,
    pub reclaim_expired: String,
    pub has_unfinished: String,
    pub complete: String,
    pub cancel_notification: String,
    pub cancel_deliveries: String,
    pub cancel_waiting: String,
    pub delivery_counts: String,
    pub tally: String,
    pub list_deliveries: String,
    pub get_delivery: String,
    pub queue_depth: String,
    pub open_response: String,
}

impl Queries {
    pub fn new(d: Dialect) -> Self {
        let q = |sql: &str| {
            let sql = sql
                .replace("{ref_cols}", REF_COLS)
                .replace("{team_cols}", TEAM_COLS)
                .replace("{notification_cols}", NOTIFICATION_COLS)
                .replace("{chat_cols}", CHAT_COLS)
                .replace("{delivery_cols}", DELIVERY_COLS)
                .replace(
                    "{ref_cols_qualified}",
                    &qualify("conversation_refs", REF_COLS),
                )
                .replace(
                    "{notification_cols_qualified}",
                    &qualify("notifications", NOTIFICATION_COLS),
                )
                .replace(
                    "{delivery_cols_qualified}",
                    &qualify("deliveries", DELIVERY_COLS),
                )
                .replace(
                    "{lock}",
                    if d == Dialect::Postgres {
                        "FOR UPDATE SKIP LOCKED"
                    } else {
                        ""
                    },
                );
            match d {
                Dialect::Postgres => sql,
                Dialect::Sqlite => sql.replace('$', "?"),
            }
        };
        Self {
            upsert_reference: upsert_references(d, 1),
            mark_unreachable: q(
                "UPDATE conversation_refs SET state = 'unreachable', unreachable_reason = $3, updated_at = $4 \
                 WHERE tenant_id = $1 AND aad_object_id = $2",
            ),
            record_activity: q(
                "UPDATE conversation_refs SET last_active_at = $3 WHERE tenant_id = $1 AND aad_object_id = $2",
            ),
            get_reference: q(
                "SELECT {ref_cols} FROM conversation_refs WHERE tenant_id = $1 AND aad_object_id = $2",
            ),
            list_references: q(
                "SELECT {ref_cols} FROM conversation_refs WHERE seq > $1 AND ($2 = '' OR state = $2) \
                 ORDER BY seq LIMIT $3",
            ),
            count_references: q(
                "SELECT COUNT(*) FROM conversation_refs WHERE ($1 = '' OR state = $1)",
            ),
            claim_welcomes: q(if d == Dialect::Postgres {
                r#"
WITH picked AS (
    SELECT seq FROM conversation_refs
    WHERE state = 'active' AND conversation_id IS NOT NULL
      AND (welcome_status = 'pending' OR (welcome_status = 'sending' AND welcome_lease_until < $1))
    ORDER BY seq LIMIT $3 FOR UPDATE SKIP LOCKED)
UPDATE conversation_refs SET welcome_status = 'sending', welcome_lease_until = $2
FROM picked WHERE conversation_refs.seq = picked.seq
RETURNING {ref_cols_qualified}"#
            } else {
                r#"
UPDATE conversation_refs SET welcome_status = 'sending', welcome_lease_until = $2
WHERE seq IN (
    SELECT seq FROM conversation_refs
    WHERE state = 'active' AND conversation_id IS NOT NULL
      AND (welcome_status = 'pending' OR (welcome_status = 'sending' AND welcome_lease_until < $1))
    ORDER BY seq LIMIT $3)
RETURNING {ref_cols}"#
            }),
            welcome_sent: q(
                "UPDATE conversation_refs SET welcome_status = 'sent', welcome_activity_id = $3, \
                 welcome_lease_until = NULL, updated_at = $4 \
                 WHERE tenant_id = $1 AND aad_object_id = $2 AND welcome_status = 'sending'",
            ),
            welcome_retry: q(
                "UPDATE conversation_refs SET welcome_lease_until = $3, updated_at = $4 \
                 WHERE tenant_id = $1 AND aad_object_id = $2 AND welcome_status = 'sending'",
            ),
            welcome_failed: q(
                "UPDATE conversation_refs SET welcome_status = 'failed', welcome_lease_until = NULL, updated_at = $3 \
                 WHERE tenant_id = $1 AND aad_object_id = $2 AND welcome_status = 'sending'",
            ),
            upsert_team: q(r#"
INSERT INTO team_refs (tenant_id, team_id, name, aad_group_id, general_channel_id, bot_id, channel_id,
    service_url, state, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', $9, $9)
ON CONFLICT (tenant_id, team_id) DO UPDATE SET
    name = COALESCE(excluded.name, team_refs.name),
    aad_group_id = COALESCE(excluded.aad_group_id, team_refs.aad_group_id),
    general_channel_id = excluded.general_channel_id,
    bot_id = excluded.bot_id,
    channel_id = excluded.channel_id,
    service_url = excluded.service_url,
    state = 'active',
    updated_at = excluded.updated_at"#),
            set_team_state: q(
                "UPDATE team_refs SET state = $3, updated_at = $4 WHERE tenant_id = $1 AND team_id = $2",
            ),
            get_team: q("SELECT {team_cols} FROM team_refs WHERE tenant_id = $1 AND team_id = $2"),
            list_teams: q(
                "SELECT {team_cols} FROM team_refs WHERE ($1 = '' OR state = $1) \
                 ORDER BY created_at, tenant_id, team_id LIMIT $3 OFFSET $2",
            ),
            upsert_chat: q(r#"
INSERT INTO chat_refs (tenant_id, conversation_id, name, bot_id, channel_id, service_url, installed_by,
    state, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', $8, $8)
ON CONFLICT (tenant_id, conversation_id) DO UPDATE SET
    name = COALESCE(excluded.name, chat_refs.name),
    bot_id = excluded.bot_id,
    channel_id = excluded.channel_id,
    service_url = excluded.service_url,
    installed_by = COALESCE(excluded.installed_by, chat_refs.installed_by),
    state = 'active',
    updated_at = excluded.updated_at"#),
            set_chat_state: q(
                "UPDATE chat_refs SET state = $3, updated_at = $4 WHERE tenant_id = $1 AND conversation_id = $2",
            ),
            get_chat: q("SELECT {chat_cols} FROM chat_refs WHERE tenant_id = $1 AND conversation_id = $2"),
            list_chats: q(
                "SELECT {chat_cols} FROM chat_refs WHERE seq > $1 AND ($2 = '' OR state = $2) \
                 ORDER BY seq LIMIT $3",
            ),
            suppress_welcome: q(
                "UPDATE conversation_refs SET welcome_status = 'skipped' \
                 WHERE tenant_id = $1 AND aad_object_id = $2 AND welcome_status IN ('none', 'pending')",
            ),
            reference_by_upn: q(
                "SELECT {ref_cols} FROM conversation_refs WHERE tenant_id = $1 AND lower(upn) = lower($2) LIMIT 1",
            ),
            reference_by_user_id: q(
                "SELECT {ref_cols} FROM conversation_refs WHERE tenant_id = $1 AND user_id = $2 LIMIT 1",
            ),
            insert_notification: q(
                "INSERT INTO notifications (id, tenant_id, state, request, body_hash, idempotency_key, send_at, created_at, created_by, priority, keep_together, remind_after_ms, events, events_url) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT DO NOTHING RETURNING {notification_cols}",
            ),
            notification_by_key: q(
                "SELECT {notification_cols}, body_hash FROM notifications WHERE idempotency_key = $1",
            ),
            get_notification: q("SELECT {notification_cols} FROM notifications WHERE id = $1"),
            list_notifications: q(
                "SELECT {notification_cols} FROM notifications WHERE seq < $1 ORDER BY seq DESC LIMIT $2",
            ),
            start_due: q(
                "UPDATE notifications SET state = 'resolving' WHERE state = 'scheduled' AND send_at <= $1",
            ),
            claim_resolution: q(if d == Dialect::Postgres {
                r#"
WITH picked AS (
    SELECT seq FROM notifications
    WHERE state = 'resolving' AND resolved = 0 AND (resolve_lease_until IS NULL OR resolve_lease_until < $1)
    ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED)
UPDATE notifications SET resolve_lease_until = $2, started_at = COALESCE(started_at, $1)
FROM picked WHERE notifications.seq = picked.seq
RETURNING {notification_cols_qualified}"#
            } else {
                r#"
UPDATE notifications SET resolve_lease_until = $2, started_at = COALESCE(started_at, $1)
WHERE seq = (
    SELECT seq FROM notifications
    WHERE state = 'resolving' AND resolved = 0 AND (resolve_lease_until IS NULL OR resolve_lease_until < $1)
    ORDER BY seq LIMIT 1)
RETURNING {notification_cols}"#
            }),
            renew_resolution: q(
                "UPDATE notifications SET resolve_lease_until = $2, resolve_cursor = COALESCE($3, resolve_cursor) WHERE id = $1",
            ),
            max_delivery_seq: q("SELECT COALESCE(MAX(seq), 0) FROM deliveries WHERE notification_id = $1"),
            finish_resolution: q(
                "UPDATE notifications SET resolved = 1, resolve_lease_until = NULL, \
                 total = (SELECT COALESCE(SUM(n), 0) FROM delivery_tally WHERE notification_id = $1), \
                 state = CASE WHEN state = 'resolving' THEN 'sending' ELSE state END WHERE id = $1",
            ),
            // On PostgreSQL only the notifications with pending rows in this node's partition
            // (see `claim_deliveries`), so a node is never blind to new work while another node's
            // share of older notifications waits; each looked for from its claim floor
            // (`claim_floor`).
            active_notification: q(if d == Dialect::Postgres {
                "SELECT n.id, n.priority, n.keep_together FROM notifications n WHERE n.state IN ('resolving', 'sending') \
                 AND EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = n.id AND d.status = 'pending' \
                 AND mod(abs(hashtext(CASE WHEN n.keep_together = 1 THEN d.notification_id ELSE d.recipient_key END)::bigint), $2) = $3 \
                 AND d.seq >= COALESCE(($4::jsonb ->> n.id)::bigint, 0)) \
                 ORDER BY n.priority, n.seq LIMIT $1"
            } else {
                "SELECT n.id, n.priority, n.keep_together FROM notifications n WHERE n.state IN ('resolving', 'sending') \
                 AND EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = n.id AND d.status = 'pending') \
                 ORDER BY n.priority, n.seq LIMIT $1"
            }),
            claim_deliveries: q(if d == Dialect::Postgres {
                r#"
WITH picked AS (
    SELECT seq FROM deliveries WHERE notification_id = $1 AND status = 'pending'
      AND mod(abs(hashtext(CASE WHEN $8 = 1 THEN notification_id ELSE recipient_key END)::bigint), $6) = $7
      AND seq >= $9
    ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED)
UPDATE deliveries SET status = 'sending', lease_until = $3, updated_at = $4, lease_token = $5
FROM picked WHERE deliveries.notification_id = $1 AND deliveries.seq = picked.seq
RETURNING {delivery_cols_qualified}"#
            } else {
                r#"
UPDATE deliveries SET status = 'sending', lease_until = $3, updated_at = $4, lease_token = $5
WHERE notification_id = $1 AND seq IN (
    SELECT seq FROM deliveries WHERE notification_id = $1 AND status = 'pending'
    ORDER BY seq LIMIT $2)
RETURNING {delivery_cols}"#
            }),
            reclaim_expired: q(
                "UPDATE deliveries SET status = 'pending', lease_until = NULL, lease_token = NULL \
                 WHERE status = 'sending' AND lease_until < $1",
            ),
            renew_delivery: q(
                "UPDATE deliveries SET lease_until = $4 \
                 WHERE notification_id = $1 AND seq = $2 AND status = 'sending' AND lease_token = $3",
            ),
            has_unfinished: q(
                // One status a test, each answered by its partial index: `status IN (…)` would
                // read the notification's done rows too, a million of them at the end.
                "SELECT CAST(CASE WHEN EXISTS (SELECT 1 FROM deliveries WHERE notification_id = $1 AND status = 'pending') \
                 OR EXISTS (SELECT 1 FROM deliveries WHERE notification_id = $1 AND status = 'waiting') \
                 OR EXISTS (SELECT 1 FROM deliveries WHERE notification_id = $1 AND status = 'sending') THEN 1 ELSE 0 END AS BIGINT)",
            ),
            complete: q(
                "UPDATE notifications SET state = 'completed', finished_at = $2 \
                 WHERE id = $1 AND state = 'sending' AND resolved = 1",
            ),
            cancel_notification: q(
                "UPDATE notifications SET state = 'canceled', finished_at = $2 \
                 WHERE id = $1 AND state IN ('scheduled', 'resolving', 'sending')",
            ),
            // Pending rows, then waiting ones: each statement is answered by its partial index.
            cancel_deliveries: q(
                "UPDATE deliveries SET status = 'done', outcome = 'canceled', reason = 'canceled', updated_at = $2 \
                 WHERE notification_id = $1 AND status = 'pending'",
            ),
            cancel_waiting: q(
                "UPDATE deliveries SET status = 'done', outcome = 'canceled', reason = 'canceled', updated_at = $2 \
                 WHERE notification_id = $1 AND status = 'waiting'",
            ),
            delivery_counts: q(
                "SELECT outcome, reason, n FROM delivery_tally WHERE notification_id = $1 AND n <> 0 \
                 UNION ALL SELECT 'seen', '', seen FROM notifications WHERE id = $1 AND seen <> 0 \
                 UNION ALL SELECT 'recalled', '', recalled FROM notifications WHERE id = $1 AND recalled <> 0",
            ),
            tally: q(
                "INSERT INTO delivery_tally (notification_id, outcome, reason, n) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (notification_id, outcome, reason) DO UPDATE SET n = delivery_tally.n + excluded.n",
            ),
            list_deliveries: q(
                "SELECT {delivery_cols} FROM deliveries WHERE notification_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            ),
            get_delivery: q("SELECT {delivery_cols} FROM deliveries WHERE notification_id = $1 AND seq = $2"),
            queue_depth: q(
                "SELECT (SELECT COUNT(*) FROM deliveries WHERE status = 'pending') \
                 + (SELECT COUNT(*) FROM deliveries WHERE status = 'sending') \
                 + (SELECT COUNT(*) FROM deliveries WHERE status = 'waiting')",
            ),
            open_response: q(
                "INSERT INTO responses (notification_id, seq, recipient, aad_object_id, conversation_id, activity_id, \
                 state, deadline, callback_url, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'waiting', $7, $8, $9) \
                 ON CONFLICT (notification_id, seq) DO NOTHING",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_gets_numbered_question_marks_and_no_row_locks() {
        let q = Queries::new(Dialect::Sqlite);
        assert!(q.mark_unreachable.contains("?3") && !q.mark_unreachable.contains('$'));
        assert!(!q.claim_welcomes.contains("FOR UPDATE"));
        let p = Queries::new(Dialect::Postgres);
        assert!(p.claim_welcomes.contains("FOR UPDATE SKIP LOCKED"));
        assert!(p
            .claim_deliveries
            .contains("deliveries.seq, deliveries.recipient"));
        assert!(p.get_reference.contains("$2"));
    }
}
