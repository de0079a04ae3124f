//! What the API answers, as types: serialized by the handlers and described by `/openapi.json`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// A notification's progress.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationSummary {
    pub id: String,
    /// scheduled, resolving, sending, completed, canceled
    pub state: String,
    pub counts: CountsDto,
    /// Recipients resolved so far.
    pub total: u64,
    /// Whether every recipient has been resolved.
    pub resolved: bool,
    pub created_at: String,
    pub send_at: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub rate_per_second: f64,
    /// When the remaining deliveries should be done, at the current rate.
    pub eta: Option<String>,
    /// The name of the API token that created it (`sandbox` in a sandbox without tokens).
    pub created_by: Option<String>,
    /// The recall's progress, once one was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recall: Option<AmendmentProgress>,
    /// The last edit's progress, once one was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edit: Option<AmendmentProgress>,
}

/// How far a recall or an edit has got.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AmendmentProgress {
    /// running, done
    pub state: String,
    /// Messages deleted (a recall) or updated (an edit).
    pub done: u64,
    /// Messages Teams would not change.
    pub failed: u64,
    /// The API token's name that asked.
    pub requested_by: Option<String>,
    pub requested_at: String,
    pub finished_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CountsDto {
    pub pending: u64,
    /// 200
    pub delivered: u64,
    /// 100, skipped by policy
    pub not_installed: u64,
    /// 300, skipped by policy
    pub chat_active: u64,
    /// Skipped (no status code): the recipient opted out of the notification's category.
    pub opted_out: u64,
    /// Of `delivered`, how many the recipient read (Teams' read receipts; people who turned
    /// them off never count). Not part of the partition that sums to `total`.
    pub seen: u64,
    /// Of `delivered`, how many messages a recall deleted (a recalled row stays delivered).
    pub recalled: u64,
    /// Any status, outcome failed.
    pub failed: u64,
    pub canceled: u64,
}

impl From<herald_store::Counts> for CountsDto {
    fn from(c: herald_store::Counts) -> Self {
        Self {
            pending: c.pending,
            delivered: c.delivered,
            not_installed: c.not_installed,
            chat_active: c.chat_active,
            opted_out: c.opted_out,
            seen: c.seen,
            recalled: c.recalled,
            failed: c.failed,
            canceled: c.canceled,
        }
    }
}

/// One recipient's outcome, in Power Automate's terms.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRow {
    pub recipient: String,
    /// 200 delivered; 100 not installed; 300 chat active; else the status Teams gave.
    pub status_code: Option<u16>,
    /// True only for 200.
    pub succeeded: bool,
    /// pending, delivered, skipped, failed, canceled
    pub outcome: String,
    /// not_installed, blocked, chat_active, external_user, unknown_user, message_too_big,
    /// template_error, throttled, service_error, bad_request, canceled, opted_out
    pub reason: Option<String>,
    pub attempts: u32,
    pub activity_id: Option<String>,
    pub conversation_id: Option<String>,
    /// What went wrong, in words, when `reason` alone does not say (a template's error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// A send to this recipient went unanswered (Teams may have taken it) before one
    /// succeeded: the person may have the message twice.
    pub possible_duplicate: bool,
    /// When the recipient read it (RFC 3339): Teams' read receipt from their 1:1 chat. Absent
    /// while unread, and for anyone who turned read receipts off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_at: Option<String>,
    /// Reactions on the message, by type (open strings: `like`, `heart` …) — absent when none.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub reactions: std::collections::BTreeMap<String, u64>,
    /// When a recall deleted the message (RFC 3339), and the API token's name that asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recalled_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recalled_by: Option<String>,
    /// When an edit last changed the message (RFC 3339), and the API token's name that asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edited_by: Option<String>,
    /// When it was due: `sendAt` in the recipient's time zone (`recipientLocalTime`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_at: Option<String>,
    /// When a reminder (`options.remindIfUnread`) was sent to this recipient (RFC 3339): absent
    /// when none was due, or when it could not be sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reminded_at: Option<String>,
    /// Set on `?sync=true` answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    pub items: Vec<DeliveryRow>,
    /// The cursor of the next page; absent on the last.
    pub next: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationListItem {
    pub id: String,
    pub state: String,
    pub total: u64,
    pub created_at: String,
    pub finished_at: Option<String>,
    pub created_by: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationList {
    pub items: Vec<NotificationListItem>,
    pub next: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InstallationPage {
    /// Stored conversation references.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Value>,
    pub next: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SkippedEntry {
    pub key: String,
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    pub imported_users: u64,
    pub imported_teams: u64,
    pub skipped: Vec<SkippedEntry>,
}

/// RFC 9457 problem details (`application/problem+json`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemDetails {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The JSON pointer (or parameter) of what is wrong.
    pub pointer: Option<String>,
    /// For a 403: the scope the API token lacks (`send`, `send-as:UPN`, `admin`, `read`).
    pub scope: Option<String>,
}

/// One recipient's answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResponseItem {
    pub recipient: String,
    /// waiting, answered, no_response
    pub state: String,
    /// The chosen action's title (Power Automate's name for it).
    pub submit_action_id: Option<String>,
    pub action_id: Option<String>,
    pub verb: Option<String>,
    /// The card's inputs as the recipient filled them.
    #[schema(value_type = Option<Object>)]
    pub inputs: Option<serde_json::Value>,
    pub responded_at: Option<String>,
    /// Answers received, the first (which counts) included.
    pub answers: u32,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResponseCounts {
    pub waiting: u64,
    pub answered: u64,
    pub no_response: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResponsePage {
    pub items: Vec<ResponseItem>,
    /// The cursor of the next page; absent on the last.
    pub next: Option<String>,
    /// Answers per action title.
    pub tally: std::collections::BTreeMap<String, u64>,
    pub counts: ResponseCounts,
    /// Every delivery is finished and nobody is still awaited.
    pub done: bool,
}

/// `GET`/`PUT /v1/preferences/{user}`: what the person opted out of.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Preferences {
    /// As the path named them.
    pub user: String,
    pub aad_object_id: String,
    /// Categories (lowercase), or `all` for every category; notifications without a category
    /// reach everyone.
    pub opted_out: Vec<String>,
    /// The time zone they chose (an IANA name), for `recipientLocalTime`; without one, the one
    /// their Teams client reports is used, else `default_time_zone`.
    pub time_zone: Option<String>,
}

/// The body of `PUT /v1/preferences/{user}`: the opt-outs to keep, replacing what was there.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
pub struct PreferencesUpdate {
    /// Categories (`[A-Za-z0-9_-]{1,64}`, any case) or `all`; at most 256; `[]` opts back in.
    /// Left out: unchanged.
    #[schema(max_items = 256)]
    pub opted_out: Option<Vec<String>>,
    /// An IANA time zone (`Europe/Berlin`), or `null` to forget it. Left out: unchanged.
    #[schema(nullable, max_length = 64)]
    pub time_zone: Option<String>,
}

/// `DELETE /v1/users/{user}`: what was erased.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErasureReport {
    pub user: String,
    pub erased: ErasedCounts,
}

/// How many of each kind of record about the person were erased.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErasedCounts {
    /// Conversation references (their 1:1 chat with the bot).
    pub references: u64,
    /// Opt-outs.
    pub preferences: u64,
    /// Tokens of `herald login` (sending as them).
    pub sign_ins: u64,
    /// Delivery rows that now say `erased` instead of who they were for (outcomes kept).
    pub deliveries: u64,
    /// Of those, rows not sent yet, now `canceled`.
    pub canceled: u64,
    /// Answers to cards.
    pub responses: u64,
    /// Notifications whose stored request named them.
    pub notifications: u64,
}

impl From<herald_store::Erased> for ErasedCounts {
    fn from(e: herald_store::Erased) -> Self {
        Self {
            references: e.references,
            preferences: e.preferences,
            sign_ins: e.sign_ins,
            deliveries: e.deliveries,
            canceled: e.canceled,
            responses: e.responses,
            notifications: e.notifications,
        }
    }
}

/// `GET /v1/cluster`: the nodes sharing this database.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterView {
    /// The node that answered.
    pub node_id: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Whether several nodes may share this database (PostgreSQL).
    pub shared: bool,
    pub nodes: Vec<ClusterNode>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNode {
    pub node_id: String,
    pub started_at: String,
    pub heartbeat_at: String,
    /// Beat in the last 5 seconds.
    pub alive: bool,
    /// Per tenant id: `slotsPerSecond` this node reserved lately and its `share` of what the
    /// live nodes reserved.
    #[schema(value_type = Object)]
    pub budget: serde_json::Value,
}
