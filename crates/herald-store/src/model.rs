use herald_core::ids::{AadObjectId, ConversationId, NotificationId, TeamsUserId, TenantId, Upn};
use herald_core::reason::Reason;
use serde::{Deserialize, Serialize};

/// One recipient's own template data (a CSV row's columns, the directory's given name): what
/// `$root` holds for them beyond the built-in fields.
pub type RowData = serde_json::Map<String, serde_json::Value>;

/// `as_str` and `parse` for an enum stored as text: one spelling per variant, written once.
macro_rules! stored_as_text {
    ($t:ty { $($v:ident = $s:literal),+ $(,)? }) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some(Self::$v),)+ _ => None }
            }
        }
    };
}

stored_as_text!(Source { PersonalInstall = "personal_install", TeamMember = "team_member", Imported = "imported", Created = "created" });
stored_as_text!(RefState { Active = "active", Unreachable = "unreachable" });
stored_as_text!(WelcomeStatus { None = "none", Pending = "pending", Sending = "sending", Sent = "sent", Failed = "failed", Skipped = "skipped" });
stored_as_text!(TeamState { Active = "active", Removed = "removed", Deleted = "deleted" });
stored_as_text!(ChatState { Active = "active", Removed = "removed" });
stored_as_text!(NotificationState { Scheduled = "scheduled", Resolving = "resolving", Sending = "sending", Completed = "completed", Canceled = "canceled" });
stored_as_text!(Outcome { Delivered = "delivered", Skipped = "skipped", Failed = "failed", Canceled = "canceled" });
stored_as_text!(DeliveryStatus { Waiting = "waiting", Pending = "pending", Sending = "sending", Done = "done" });
stored_as_text!(ResponseState { Waiting = "waiting", Answered = "answered", NoResponse = "no_response" });
stored_as_text!(UpdateState { None = "none", Pending = "pending", Done = "done", Failed = "failed" });
/// How a notification's rows share the budget with others (`options.priority`): `High` ones are
/// claimed before any other, and `Normal` ones share each claim evenly with the other `Normal`
/// ones, so a small send interleaves with a running broadcast; `Bulk` ones take what is left.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    High,
    #[default]
    Normal,
    Bulk,
}

impl Priority {
    /// As stored: the order claims serve them in.
    pub fn rank(self) -> i64 {
        match self {
            Priority::High => 0,
            Priority::Normal => 1,
            Priority::Bulk => 2,
        }
    }

    pub fn from_rank(r: i64) -> Option<Self> {
        match r {
            0 => Some(Priority::High),
            1 => Some(Priority::Normal),
            2 => Some(Priority::Bulk),
            _ => None,
        }
    }
}

stored_as_text!(CallbackEvent { Answered = "answered", NoResponse = "no_response", Delivered = "delivered", Read = "read", Reacted = "reacted", OptedOut = "opted_out" });

/// What a bot must keep to write to a user later (docs/teams.md), plus the UPN when known. Ids are kept exactly as Teams gave them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reference {
    pub tenant_id: TenantId,
    pub aad_object_id: AadObjectId,
    /// The Teams user id (`29:…` in practice).
    pub user_id: TeamsUserId,
    pub user_name: Option<String>,
    pub upn: Option<Upn>,
    pub bot_id: String,
    pub bot_name: Option<String>,
    /// The 1:1 conversation; `None` for a user known only through a team (reachable by
    /// CreateConversation).
    pub conversation_id: Option<ConversationId>,
    pub conversation_type: String,
    pub channel_id: String,
    pub service_url: String,
    pub locale: Option<String>,
    pub source: Source,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The user installed the bot in their personal scope.
    PersonalInstall,
    /// The user is in a team where the bot is installed.
    TeamMember,
    /// Imported from another tool's store.
    Imported,
    /// Herald created the conversation itself.
    Created,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefState {
    Active,
    /// Uninstalled, blocked or gone: kept for audit, never used to send.
    Unreachable,
}

/// Where a user's welcome message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WelcomeStatus {
    /// None is due (known through a team, imported, or welcomes are off).
    None,
    Pending,
    Sending,
    Sent,
    Failed,
    /// Never due: Herald itself installed the app to deliver a notification, which is the
    /// first thing the user sees.
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WelcomeOutcome {
    Sent {
        activity_id: String,
    },
    /// Try again, not before this time (a transient failure, or a user who must reinstall).
    Retry {
        not_before: u64,
    },
    Failed {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredReference {
    /// Position for cursor paging.
    pub seq: i64,
    #[serde(flatten)]
    pub reference: Reference,
    pub state: RefState,
    pub unreachable_reason: Option<String>,
    pub welcome: WelcomeStatus,
    pub welcome_activity_id: Option<String>,
    pub last_active_at: Option<u64>,
    pub created_at: u64,
    pub updated_at: u64,
}

#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub state: Option<RefState>,
    /// Only rows after this `seq`.
    pub after: Option<i64>,
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamReference {
    pub tenant_id: TenantId,
    /// The team's Bot Framework id (`19:…@thread.tacv2`), also its General channel's id.
    pub team_id: ConversationId,
    pub name: Option<String>,
    pub aad_group_id: Option<AadObjectId>,
    pub general_channel_id: ConversationId,
    pub bot_id: String,
    pub channel_id: String,
    pub service_url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TeamState {
    Active,
    /// The bot was removed from the team.
    Removed,
    /// The team was deleted (it may be restored).
    Deleted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredTeam {
    #[serde(flatten)]
    pub team: TeamReference,
    pub state: TeamState,
    pub created_at: u64,
    pub updated_at: u64,
}

/// A group chat the bot was added to (`conversationType: groupChat`). It is its own kind of
/// reference: nothing in it says anything about a member's 1:1 chat with the bot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatReference {
    pub tenant_id: TenantId,
    /// `19:…@thread.v2`.
    pub conversation_id: ConversationId,
    /// The chat's topic, when it has one.
    pub name: Option<String>,
    pub bot_id: String,
    pub channel_id: String,
    pub service_url: String,
    /// The AAD object id of whoever added the bot, when Teams said.
    pub installed_by: Option<AadObjectId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatState {
    Active,
    /// The bot was removed from the chat.
    Removed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredChat {
    /// Position for cursor paging.
    pub seq: i64,
    #[serde(flatten)]
    pub chat: ChatReference,
    pub state: ChatState,
    pub created_at: u64,
    pub updated_at: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationState {
    Scheduled,
    Resolving,
    Sending,
    Completed,
    Canceled,
}

/// A notification to create: the request as accepted (JSON) and its fingerprint.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub id: NotificationId,
    pub tenant_id: TenantId,
    pub request: String,
    pub body_hash: String,
    pub idempotency_key: Option<String>,
    pub send_at: Option<u64>,
    /// The API token's name that created it (`createdBy`).
    pub created_by: Option<String>,
    pub priority: Priority,
    /// Every row goes to one node (a group chat sent as a user must be made once).
    pub keep_together: bool,
    /// `options.remindIfUnread`: how long after its delivery an unread row is reminded.
    pub remind_after_ms: Option<u64>,
    /// `options.events` ([`CallbackEvent::bit`]s) and where they go (`options.callbackUrl`).
    pub events: u32,
    pub events_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub seq: i64,
    pub id: NotificationId,
    pub tenant_id: TenantId,
    pub state: NotificationState,
    pub request: String,
    pub send_at: Option<u64>,
    pub resolved: bool,
    pub total: u64,
    pub created_at: u64,
    pub started_at: Option<u64>,
    pub finished_at: Option<u64>,
    /// The API token's name that created it; `None` for notifications made before tokens had names.
    pub created_by: Option<String>,
    pub priority: Priority,
    /// Where resolution got to, as the engine wrote it (`None` until its first batch).
    pub resolve_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    New(Notification),
    /// The same idempotency key with the same body: the notification it made before.
    Existing(Notification),
    /// The same idempotency key with another body.
    Conflict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Delivered,
    Skipped,
    Failed,
    Canceled,
}

/// The end of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub outcome: Outcome,
    pub status_code: Option<u16>,
    pub reason: Option<Reason>,
}

/// One recipient, as resolution found it. `decided` settles it at once (an external user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub recipient: String,
    pub recipient_key: String,
    pub aad_object_id: Option<AadObjectId>,
    pub upn: Option<Upn>,
    pub display_name: Option<String>,
    pub data: Option<RowData>,
    pub decided: Option<Verdict>,
    /// Not to be sent before this (`recipientLocalTime`); `None`: as soon as possible.
    pub due_at: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Due later (`due_at`, the recipient's local time): not claimed before then.
    Waiting,
    Pending,
    Sending,
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub notification_id: NotificationId,
    pub seq: i64,
    pub recipient: String,
    pub recipient_key: String,
    pub aad_object_id: Option<AadObjectId>,
    pub upn: Option<Upn>,
    pub display_name: Option<String>,
    pub data: Option<RowData>,
    pub status: DeliveryStatus,
    pub result: Option<Verdict>,
    pub attempts: u32,
    pub activity_id: Option<String>,
    pub conversation_id: Option<ConversationId>,
    pub detail: Option<String>,
    /// The claim that holds the row (while `Sending`): only it may renew or record it.
    pub lease_token: Option<i64>,
    /// A POST for this row went unanswered (it may have arrived) before one succeeded.
    pub possible_duplicate: bool,
    /// When Teams said the recipient read it (a read receipt in their 1:1 chat).
    pub read_at: Option<u64>,
    /// When its reminder (`options.remindIfUnread`) was taken to be sent.
    pub reminded_at: Option<u64>,
    /// When its message was deleted by a recall, and the token that asked.
    pub recalled_at: Option<u64>,
    pub recalled_by: Option<String>,
    /// When its message was last changed by an edit, and the token that asked.
    pub edited_at: Option<u64>,
    pub edited_by: Option<String>,
    /// When it was due (`recipientLocalTime`: `sendAt` in the recipient's zone).
    pub due_at: Option<u64>,
}

/// How a claimed delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryResult {
    pub notification_id: NotificationId,
    pub seq: i64,
    pub result: Verdict,
    pub attempts: u32,
    pub activity_id: Option<String>,
    pub conversation_id: Option<ConversationId>,
    /// A human explanation beyond `reason` (a template's error, say).
    pub detail: Option<String>,
    /// The card waits for an answer: the response row to open with the delivery.
    pub wait: Option<NewResponse>,
    /// Webhooks the outcome sets going (`options.events`).
    pub events: crate::OutcomeEvents,
    /// The claim's token (`Delivery::lease_token`): a result from a claim that lost its lease
    /// is not recorded over the claim that holds the row now.
    pub lease_token: Option<i64>,
    /// A send went unanswered before one succeeded (see `Delivery::possible_duplicate`).
    pub possible_duplicate: bool,
}

/// Which rows a node claims among `count` live nodes: those whose recipient key hashes to
/// `index` (`ALL`: one node, every row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub index: u32,
    pub count: u32,
}

impl Partition {
    pub const ALL: Partition = Partition { index: 0, count: 1 };
}

/// A leased row, as its holder names it to renew the lease.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Lease {
    pub notification_id: NotificationId,
    pub seq: i64,
    pub token: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub pending: u64,
    pub delivered: u64,
    pub not_installed: u64,
    pub chat_active: u64,
    /// Skipped: the recipient opted out of the notification's category.
    pub opted_out: u64,
    /// Delivered rows the recipient read (a subset of `delivered`, outside the partition).
    pub seen: u64,
    /// Delivered rows whose message a recall deleted (a subset of `delivered`, outside the
    /// partition: a recalled row stays delivered).
    pub recalled: u64,
    pub failed: u64,
    pub canceled: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.pending + self.done()
    }

    pub fn done(&self) -> u64 {
        self.delivered
            + self.not_installed
            + self.chat_active
            + self.opted_out
            + self.failed
            + self.canceled
    }
}

/// Where a recipient's answer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseState {
    Waiting,
    Answered,
    NoResponse,
}

/// The card's replacement after an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateState {
    None,
    Pending,
    Done,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackEvent {
    Answered,
    NoResponse,
    /// `options.events`: a row was delivered, read, reacted to, or skipped as opted out.
    Delivered,
    Read,
    Reacted,
    OptedOut,
}

/// A delivered card that waits for its recipient's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewResponse {
    pub recipient: String,
    pub aad_object_id: Option<AadObjectId>,
    /// When the wait ends (`no_response`).
    pub deadline: u64,
    pub callback_url: Option<String>,
}

/// A recipient's response state (docs/reference.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub notification_id: NotificationId,
    pub seq: i64,
    pub recipient: String,
    pub aad_object_id: Option<AadObjectId>,
    pub conversation_id: ConversationId,
    pub activity_id: String,
    pub state: ResponseState,
    pub deadline: u64,
    pub callback_url: Option<String>,
    /// The first answer: the action's title, id and verb, the inputs (JSON), when.
    pub action_title: Option<String>,
    pub action_id: Option<String>,
    pub verb: Option<String>,
    pub inputs: Option<String>,
    pub responded_at: Option<u64>,
    /// Every answer received, the first included.
    pub answers: u32,
    pub update_state: UpdateState,
}

/// One answer as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The inbound activity's id: a replay carries the same one.
    pub inbound_id: String,
    pub action_title: Option<String>,
    pub action_id: Option<String>,
    pub verb: Option<String>,
    /// JSON object.
    pub inputs: String,
    pub at: u64,
    /// The card is to be replaced (by UpdateActivity) once this first answer is kept.
    pub wants_update: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerOutcome {
    /// The answer that counts.
    First,
    /// Kept as history; the first answer stands.
    Later,
    /// The wait had ended (`no_response`); kept as history only.
    Late,
    /// The same activity again: nothing changes.
    Replay,
}

/// Counts of a notification's responses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub waiting: u64,
    pub answered: u64,
    pub no_response: u64,
    /// Answers per action title (or id / verb when it has none), most first.
    pub by_action: Vec<(String, u64)>,
}

/// A callback to POST (answered or no_response).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    pub id: i64,
    pub notification_id: NotificationId,
    pub seq: i64,
    pub url: String,
    pub event: CallbackEvent,
    /// What the event adds (a reaction's type, and whether it was added or removed), as JSON.
    pub detail: Option<String>,
    /// Attempts so far, this one included.
    pub attempts: u32,
}

/// How a callback attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackResult {
    Delivered,
    Retry { next_at: u64, error: String },
    Failed { error: String },
}

/// A signed-in user's tokens, as stored: both tokens are ciphertext (the store never sees them
/// in clear; `herald-server` encrypts them with `HERALD_SECRET_KEY`).
#[derive(Clone, PartialEq, Eq)]
pub struct UserToken {
    /// Lower-case UPN: the key a notification's `asUser` names.
    pub upn: Upn,
    pub tenant_id: TenantId,
    pub aad_object_id: AadObjectId,
    pub display_name: Option<String>,
    pub refresh_token_sealed: String,
    pub access_token_sealed: Option<String>,
    /// Unix ms.
    pub access_expires_at: u64,
    /// The delegated permissions the identity platform granted, space-separated as its token
    /// answer gives them; `None` for a sign-in older than Herald's keeping them.
    pub scopes: Option<String>,
    pub created_at: u64,
    pub updated_at: u64,
}
