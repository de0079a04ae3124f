//! Embedded migrations, one list per dialect, applied in order and recorded in
//! `herald_migrations`. Never edit a shipped migration: add the next one.
//!
//! Over 600 lines because the schema's whole history is here, both dialects side by side, so a
//! change to one is seen next to the other.

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Migration 8, the same in both dialects.
const SEVERAL_NODES: &str = r#"
ALTER TABLE notifications ADD COLUMN priority BIGINT NOT NULL DEFAULT 1;
ALTER TABLE notifications ADD COLUMN keep_together BIGINT NOT NULL DEFAULT 0;
CREATE TABLE herald_budgets (
    tenant_id TEXT PRIMARY KEY,
    next_slot_us BIGINT NOT NULL
);
CREATE TABLE herald_nodes (
    node_id TEXT PRIMARY KEY,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    budget TEXT NOT NULL DEFAULT '{}'
);
"#;

/// Migration 9, the same in both dialects, for notifications of a million rows:
/// - each notification's rows counted by outcome and reason (`''` for rows not done yet), kept
///   as rows change, so reading its counts reads a few rows instead of grouping a million;
/// - the claim and lease indexes hold only the rows they serve (pending, in flight), so a done
///   row leaves them and each stays the size of the work left, not of the table;
/// - where resolution got to (`resolve_cursor`), so a resolver that dies resumes there;
/// - a person found by UPN through an index (case-insensitive, as the lookup compares), not by
///   reading every reference of the tenant.
const MILLION_ROWS: &str = r#"
DROP INDEX deliveries_status;
DROP INDEX deliveries_leases;
CREATE INDEX deliveries_pending ON deliveries (notification_id, seq) WHERE status = 'pending';
CREATE INDEX deliveries_sending ON deliveries (notification_id, lease_until) WHERE status = 'sending';
DROP INDEX conversation_refs_upn;
CREATE INDEX conversation_refs_upn ON conversation_refs (tenant_id, lower(upn));
ALTER TABLE notifications ADD COLUMN resolve_cursor TEXT;
CREATE TABLE delivery_tally (
    notification_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (notification_id, outcome, reason)
);
INSERT INTO delivery_tally (notification_id, outcome, reason, n)
SELECT notification_id,
    CASE WHEN status = 'done' THEN COALESCE(outcome, '') ELSE '' END,
    CASE WHEN status = 'done' THEN COALESCE(reason, '') ELSE '' END,
    COUNT(*)
FROM deliveries GROUP BY 1, 2, 3;
"#;

/// Migration 10, the same in both dialects: what each person opted out of (`stop CATEGORY`, or
/// `all`), keyed by tenant and AAD object id (lowercase).
const OPT_OUTS: &str = r#"
CREATE TABLE opt_outs (
    tenant_id TEXT NOT NULL,
    aad_object_id TEXT NOT NULL,
    category TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, aad_object_id, category)
);
"#;

/// Migration 11, the same in both dialects: read receipts. A row is read (`read_at`) when its
/// conversation was read up to its message; `read_marks` keeps each conversation's furthest
/// receipt (message ids are digits, compared as numbers), so one that came before the row
/// recorded its message id is applied after; `seen` counts a notification's read rows. The
/// unread index holds only rows with a message and no receipt yet. Reactions are counted per
/// message (`reactions`), found by the conversation and message ids a row records.
const READ_RECEIPTS: &str = r#"
ALTER TABLE deliveries ADD COLUMN read_at BIGINT;
ALTER TABLE notifications ADD COLUMN seen BIGINT NOT NULL DEFAULT 0;
CREATE INDEX deliveries_unread ON deliveries (conversation_id) WHERE read_at IS NULL AND activity_id IS NOT NULL;
CREATE TABLE read_marks (
    conversation_id TEXT PRIMARY KEY,
    up_to TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX read_marks_at ON read_marks (at);
CREATE TABLE reactions (
    conversation_id TEXT NOT NULL,
    activity_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, activity_id, kind)
);
"#;

/// Migration 12, the same in both dialects: reminders (`options.remindIfUnread`). A
/// notification that asks for one keeps its delay (`remind_after_ms`), how far its rows have been
/// looked at (`remind_seq`: rows before it are reminded or never will be) and whether it is done;
/// a row records when its reminder was taken (`reminded_at`). The partial index holds only the
/// notifications still reminding.
const REMINDERS: &str = r#"
ALTER TABLE notifications ADD COLUMN remind_after_ms BIGINT;
ALTER TABLE notifications ADD COLUMN remind_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE notifications ADD COLUMN reminders_done BIGINT NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN reminded_at BIGINT;
CREATE INDEX notifications_reminding ON notifications (seq) WHERE remind_after_ms IS NOT NULL AND reminders_done = 0;
"#;

/// Migration 13, the same in both dialects: recall and edit. Each is an `amendment` of a
/// notification (numbered per notification: edits may follow one another), walked over its rows
/// in order from `next_seq` by whichever node holds its lease; `done` / `failed` count the rows
/// it changed or could not. A row records when it was recalled or edited, and by which token;
/// `recalled` counts a notification's recalled rows. The partial index holds only the running
/// ones.
const AMENDMENTS: &str = r#"
CREATE TABLE amendments (
    notification_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    message TEXT,
    requested_by TEXT,
    requested_at BIGINT NOT NULL,
    next_seq BIGINT NOT NULL DEFAULT 0,
    done BIGINT NOT NULL DEFAULT 0,
    failed BIGINT NOT NULL DEFAULT 0,
    lease_until BIGINT,
    finished_at BIGINT,
    PRIMARY KEY (notification_id, version)
);
CREATE INDEX amendments_running ON amendments (requested_at) WHERE state = 'running';
ALTER TABLE deliveries ADD COLUMN recalled_at BIGINT;
ALTER TABLE deliveries ADD COLUMN recalled_by TEXT;
ALTER TABLE deliveries ADD COLUMN edited_at BIGINT;
ALTER TABLE deliveries ADD COLUMN edited_by TEXT;
ALTER TABLE notifications ADD COLUMN recalled BIGINT NOT NULL DEFAULT 0;
"#;

/// Migration 14, the same in both dialects: the recipient's hour. A row due later than it was
/// resolved waits (`status` `waiting`, `due_at`) outside the claim index until its time; the
/// waiting indexes hold only those (by time, to start them; by notification, to know whether one
/// has rows left without reading its done ones). A person's time zone is their preference
/// (`preferred_time_zones`) or the one their Teams client last reported (on their reference).
const LOCAL_TIME: &str = r#"
ALTER TABLE deliveries ADD COLUMN due_at BIGINT;
CREATE INDEX deliveries_waiting ON deliveries (due_at) WHERE status = 'waiting';
CREATE INDEX deliveries_waiting_for ON deliveries (notification_id) WHERE status = 'waiting';
ALTER TABLE conversation_refs ADD COLUMN time_zone TEXT;
CREATE TABLE preferred_time_zones (
    tenant_id TEXT NOT NULL,
    aad_object_id TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, aad_object_id)
);
"#;

/// Migration 15, the same in both dialects: events (`options.events`). A notification keeps which
/// it asked for (bits) and where they go; a delivered row whose reactions are reported is watched,
/// and the watched index holds only those; a callback may carry what its event adds (`detail`).
const EVENTS: &str = r#"
ALTER TABLE notifications ADD COLUMN events BIGINT NOT NULL DEFAULT 0;
ALTER TABLE notifications ADD COLUMN events_url TEXT;
ALTER TABLE deliveries ADD COLUMN watch BIGINT;
CREATE INDEX deliveries_watched ON deliveries (conversation_id, activity_id) WHERE watch = 1;
ALTER TABLE callbacks ADD COLUMN detail TEXT;
"#;

/// Migration 16, the same in both dialects: the delegated permissions each sign-in was granted
/// (recall and edit of messages sent as a user need `Chat.ReadWrite`; older sign-ins have none
/// recorded and are asked to sign in again).
const SIGN_IN_SCOPES: &str = r#"
ALTER TABLE user_tokens ADD COLUMN scopes TEXT;
"#;

pub const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "conversation references and teams",
        sql: r#"
CREATE TABLE conversation_refs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL,
    aad_object_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    user_name TEXT,
    upn TEXT,
    bot_id TEXT NOT NULL,
    bot_name TEXT,
    conversation_id TEXT,
    conversation_type TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    service_url TEXT NOT NULL,
    locale TEXT,
    source TEXT NOT NULL,
    state TEXT NOT NULL,
    unreachable_reason TEXT,
    welcome_status TEXT NOT NULL,
    welcome_lease_until INTEGER,
    welcome_activity_id TEXT,
    last_active_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (tenant_id, aad_object_id)
);
CREATE INDEX conversation_refs_welcome ON conversation_refs (welcome_status, welcome_lease_until);
CREATE INDEX conversation_refs_state ON conversation_refs (state, seq);
CREATE TABLE team_refs (
    tenant_id TEXT NOT NULL,
    team_id TEXT NOT NULL,
    name TEXT,
    aad_group_id TEXT,
    general_channel_id TEXT NOT NULL,
    bot_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    service_url TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, team_id)
);
"#,
    },
    Migration {
        version: 2,
        name: "notifications and deliveries",
        sql: r#"
CREATE TABLE notifications (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    tenant_id TEXT NOT NULL,
    state TEXT NOT NULL,
    request TEXT NOT NULL,
    body_hash TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    send_at INTEGER,
    resolved INTEGER NOT NULL DEFAULT 0,
    resolve_lease_until INTEGER,
    total INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER
);
CREATE INDEX notifications_state ON notifications (state, seq);
CREATE TABLE deliveries (
    notification_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    recipient TEXT NOT NULL,
    recipient_key TEXT NOT NULL,
    aad_object_id TEXT,
    upn TEXT,
    display_name TEXT,
    data TEXT,
    status TEXT NOT NULL,
    outcome TEXT,
    status_code INTEGER,
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    activity_id TEXT,
    conversation_id TEXT,
    lease_until INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (notification_id, seq),
    UNIQUE (notification_id, recipient_key)
);
CREATE INDEX deliveries_status ON deliveries (notification_id, status, seq);
CREATE INDEX deliveries_leases ON deliveries (status, lease_until);
CREATE INDEX conversation_refs_upn ON conversation_refs (tenant_id, upn);
CREATE INDEX conversation_refs_user ON conversation_refs (tenant_id, user_id);
"#,
    },
    Migration {
        version: 3,
        name: "responses to cards, callbacks",
        sql: r#"
ALTER TABLE deliveries ADD COLUMN detail TEXT;
CREATE TABLE responses (
    notification_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    recipient TEXT NOT NULL,
    aad_object_id TEXT,
    conversation_id TEXT NOT NULL,
    activity_id TEXT NOT NULL,
    state TEXT NOT NULL,
    deadline INTEGER NOT NULL,
    callback_url TEXT,
    action_title TEXT,
    action_id TEXT,
    verb TEXT,
    inputs TEXT,
    responded_at INTEGER,
    answers INTEGER NOT NULL DEFAULT 0,
    update_state TEXT NOT NULL DEFAULT 'none',
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (notification_id, seq)
);
CREATE INDEX responses_activity ON responses (activity_id);
CREATE INDEX responses_waiting ON responses (state, deadline);
CREATE INDEX responses_updates ON responses (update_state, updated_at);
CREATE TABLE response_events (
    notification_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    inbound_id TEXT NOT NULL,
    action_title TEXT,
    action_id TEXT,
    verb TEXT,
    inputs TEXT,
    at INTEGER NOT NULL,
    PRIMARY KEY (notification_id, seq, inbound_id)
);
CREATE TABLE callbacks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    url TEXT NOT NULL,
    event TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    last_error TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX callbacks_due ON callbacks (state, next_at);
"#,
    },
    Migration {
        version: 4,
        name: "signed-in users' tokens (encrypted)",
        sql: r#"
CREATE TABLE user_tokens (
    upn TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    aad_object_id TEXT NOT NULL,
    display_name TEXT,
    refresh_token TEXT NOT NULL,
    access_token TEXT,
    access_expires_at INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
"#,
    },
    Migration {
        version: 5,
        name: "who created a notification",
        sql: "ALTER TABLE notifications ADD COLUMN created_by TEXT;",
    },
    Migration {
        version: 6,
        name: "group chats the bot is in",
        sql: r#"
CREATE TABLE chat_refs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    name TEXT,
    bot_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    service_url TEXT NOT NULL,
    installed_by TEXT,
    state TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (tenant_id, conversation_id)
);
CREATE INDEX chat_refs_state ON chat_refs (state, seq);
"#,
    },
    Migration {
        version: 7,
        name: "leases owned by one claim; possible duplicates",
        sql: r#"
ALTER TABLE deliveries ADD COLUMN lease_token INTEGER;
ALTER TABLE deliveries ADD COLUMN possible_duplicate INTEGER NOT NULL DEFAULT 0;
"#,
    },
    Migration {
        version: 8,
        name: "several nodes: the shared tenant budget, heartbeats, priorities",
        sql: SEVERAL_NODES,
    },
    Migration {
        version: 9,
        name: "a million rows: delivery counts kept as rows change, claim indexes of the work left",
        sql: MILLION_ROWS,
    },
    Migration {
        version: 10,
        name: "opt-outs by category",
        sql: OPT_OUTS,
    },
    Migration {
        version: 11,
        name: "read receipts and reactions",
        sql: READ_RECEIPTS,
    },
    Migration {
        version: 12,
        name: "reminders to those who have not read",
        sql: REMINDERS,
    },
    Migration {
        version: 13,
        name: "recall and edit",
        sql: AMENDMENTS,
    },
    Migration {
        version: 14,
        name: "the recipient's hour",
        sql: LOCAL_TIME,
    },
    Migration {
        version: 15,
        name: "events: delivered, read, reacted, opted out",
        sql: EVENTS,
    },
    Migration {
        version: 16,
        name: "the permissions of each sign-in",
        sql: SIGN_IN_SCOPES,
    },
];

pub const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "conversation references and teams",
        sql: r#"
CREATE TABLE conversation_refs (
    seq BIGSERIAL PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    aad_object_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    user_name TEXT,
    upn TEXT,
    bot_id TEXT NOT NULL,
    bot_name TEXT,
    conversation_id TEXT,
    conversation_type TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    service_url TEXT NOT NULL,
    locale TEXT,
    source TEXT NOT NULL,
    state TEXT NOT NULL,
    unreachable_reason TEXT,
    welcome_status TEXT NOT NULL,
    welcome_lease_until BIGINT,
    welcome_activity_id TEXT,
    last_active_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (tenant_id, aad_object_id)
);
CREATE INDEX conversation_refs_welcome ON conversation_refs (welcome_status, welcome_lease_until);
CREATE INDEX conversation_refs_state ON conversation_refs (state, seq);
CREATE TABLE team_refs (
    tenant_id TEXT NOT NULL,
    team_id TEXT NOT NULL,
    name TEXT,
    aad_group_id TEXT,
    general_channel_id TEXT NOT NULL,
    bot_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    service_url TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, team_id)
);
"#,
    },
    Migration {
        version: 2,
        name: "notifications and deliveries",
        sql: r#"
CREATE TABLE notifications (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    tenant_id TEXT NOT NULL,
    state TEXT NOT NULL,
    request TEXT NOT NULL,
    body_hash TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    send_at BIGINT,
    resolved BIGINT NOT NULL DEFAULT 0,
    resolve_lease_until BIGINT,
    total BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT
);
CREATE INDEX notifications_state ON notifications (state, seq);
CREATE TABLE deliveries (
    notification_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    recipient TEXT NOT NULL,
    recipient_key TEXT NOT NULL,
    aad_object_id TEXT,
    upn TEXT,
    display_name TEXT,
    data TEXT,
    status TEXT NOT NULL,
    outcome TEXT,
    status_code BIGINT,
    reason TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    activity_id TEXT,
    conversation_id TEXT,
    lease_until BIGINT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (notification_id, seq),
    UNIQUE (notification_id, recipient_key)
);
CREATE INDEX deliveries_status ON deliveries (notification_id, status, seq);
CREATE INDEX deliveries_leases ON deliveries (status, lease_until);
CREATE INDEX conversation_refs_upn ON conversation_refs (tenant_id, upn);
CREATE INDEX conversation_refs_user ON conversation_refs (tenant_id, user_id);
"#,
    },
    Migration {
        version: 3,
        name: "responses to cards, callbacks",
        sql: r#"
ALTER TABLE deliveries ADD COLUMN detail TEXT;
CREATE TABLE responses (
    notification_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    recipient TEXT NOT NULL,
    aad_object_id TEXT,
    conversation_id TEXT NOT NULL,
    activity_id TEXT NOT NULL,
    state TEXT NOT NULL,
    deadline BIGINT NOT NULL,
    callback_url TEXT,
    action_title TEXT,
    action_id TEXT,
    verb TEXT,
    inputs TEXT,
    responded_at BIGINT,
    answers BIGINT NOT NULL DEFAULT 0,
    update_state TEXT NOT NULL DEFAULT 'none',
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (notification_id, seq)
);
CREATE INDEX responses_activity ON responses (activity_id);
CREATE INDEX responses_waiting ON responses (state, deadline);
CREATE INDEX responses_updates ON responses (update_state, updated_at);
CREATE TABLE response_events (
    notification_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    inbound_id TEXT NOT NULL,
    action_title TEXT,
    action_id TEXT,
    verb TEXT,
    inputs TEXT,
    at BIGINT NOT NULL,
    PRIMARY KEY (notification_id, seq, inbound_id)
);
CREATE TABLE callbacks (
    id BIGSERIAL PRIMARY KEY,
    notification_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    url TEXT NOT NULL,
    event TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_at BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX callbacks_due ON callbacks (state, next_at);
"#,
    },
    Migration {
        version: 4,
        name: "signed-in users' tokens (encrypted)",
        sql: r#"
CREATE TABLE user_tokens (
    upn TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    aad_object_id TEXT NOT NULL,
    display_name TEXT,
    refresh_token TEXT NOT NULL,
    access_token TEXT,
    access_expires_at BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
"#,
    },
    Migration {
        version: 5,
        name: "who created a notification",
        sql: "ALTER TABLE notifications ADD COLUMN created_by TEXT;",
    },
    Migration {
        version: 6,
        name: "group chats the bot is in",
        sql: r#"
CREATE TABLE chat_refs (
    seq BIGSERIAL PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    name TEXT,
    bot_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    service_url TEXT NOT NULL,
    installed_by TEXT,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (tenant_id, conversation_id)
);
CREATE INDEX chat_refs_state ON chat_refs (state, seq);
"#,
    },
    Migration {
        version: 7,
        name: "leases owned by one claim; possible duplicates",
        sql: r#"
ALTER TABLE deliveries ADD COLUMN lease_token BIGINT;
ALTER TABLE deliveries ADD COLUMN possible_duplicate BIGINT NOT NULL DEFAULT 0;
"#,
    },
    Migration {
        version: 8,
        name: "several nodes: the shared tenant budget, heartbeats, priorities",
        sql: SEVERAL_NODES,
    },
    Migration {
        version: 9,
        name: "a million rows: delivery counts kept as rows change, claim indexes of the work left",
        sql: MILLION_ROWS,
    },
    Migration {
        version: 10,
        name: "opt-outs by category",
        sql: OPT_OUTS,
    },
    Migration {
        version: 11,
        name: "read receipts and reactions",
        sql: READ_RECEIPTS,
    },
    Migration {
        version: 12,
        name: "reminders to those who have not read",
        sql: REMINDERS,
    },
    Migration {
        version: 13,
        name: "recall and edit",
        sql: AMENDMENTS,
    },
    Migration {
        version: 14,
        name: "the recipient's hour",
        sql: LOCAL_TIME,
    },
    Migration {
        version: 15,
        name: "events: delivered, read, reacted, opted out",
        sql: EVENTS,
    },
    Migration {
        version: 16,
        name: "the permissions of each sign-in",
        sql: SIGN_IN_SCOPES,
    },
];
