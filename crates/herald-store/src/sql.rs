//! Every statement, written once with PostgreSQL's `$N` placeholders. SQLite reads `?N` as the
//! same numbered parameter, so [`Queries::new`] rewrites them; `{lock}` becomes PostgreSQL's
//! row lock where a claim must skip rows another node holds.

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
}

impl Queries {
    pub fn new(d: Dialect) -> Self {
        let q = |sql: &str| {
            let sql = sql
                .replace("{ref_cols}", REF_COLS)
                .replace("{team_cols}", TEAM_COLS)
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
            upsert_reference: q(r#"
INSERT INTO conversation_refs (tenant_id, aad_object_id, user_id, user_name, upn, bot_id, bot_name,
    conversation_id, conversation_type, channel_id, service_url, locale, source, state,
    welcome_status, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'active', $14, $15, $15)
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
    updated_at = excluded.updated_at"#),
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
            claim_welcomes: q(r#"
UPDATE conversation_refs SET welcome_status = 'sending', welcome_lease_until = $2
WHERE seq IN (
    SELECT seq FROM conversation_refs
    WHERE state = 'active' AND conversation_id IS NOT NULL
      AND (welcome_status = 'pending' OR (welcome_status = 'sending' AND welcome_lease_until < $1))
    ORDER BY seq LIMIT $3 {lock})
RETURNING {ref_cols}"#),
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
        assert!(p.get_reference.contains("$2"));
    }
}
