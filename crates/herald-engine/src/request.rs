//! A notification request as the API takes it (`POST /v1/notifications`), and every check made
//! before it is accepted. Each refusal says what is wrong, where (a JSON pointer) and whether it
//! could not be parsed, is invalid or is too large; the HTTP layer turns that into problem+json.
//!
//! Over 600 lines because every check made before accepting a notification is here, next to the
//! types it checks; a quarter of it is tests.

use herald_core::audience::CsvAudience;
use herald_core::category::Category;
use herald_core::ids::{AadObjectId, TeamRef, Upn, UserRef};
use herald_wire::activity::MAX_ACTIVITY_BYTES;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How a refused request is wrong, which the HTTP layer answers as 400, 422 or 413.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// It cannot be parsed (not JSON).
    Unparseable,
    /// It parses but is not a valid notification.
    Invalid,
    /// It is larger than a limit, which the detail names.
    TooLarge,
}

/// A refused request: a stable `kind`, what is wrong and the JSON pointer of where.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{detail}")]
pub struct RequestError {
    pub refusal: Refusal,
    pub kind: &'static str,
    pub detail: String,
    pub pointer: Option<String>,
}

impl RequestError {
    pub fn new(refusal: Refusal, kind: &'static str, detail: impl Into<String>) -> Self {
        Self {
            refusal,
            kind,
            detail: detail.into(),
            pointer: None,
        }
    }

    pub fn at(mut self, pointer: impl Into<String>) -> Self {
        self.pointer = Some(pointer.into());
        self
    }
}

/// A notification to send.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotificationRequest {
    pub to: Audience,
    pub message: Message,
    #[serde(default)]
    pub options: Options,
    /// Send later (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_at: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Audience {
    /// UPNs / e-mail addresses, AAD object ids or Teams user ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    /// Teams: their group ids, or Bot Framework ids (`19:…`) of teams the bot is in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<String>,
    /// Security or Microsoft 365 groups, by id; nested groups are followed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Everyone with an active installation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all_installed: bool,
    /// CSV text with a header row; the first column (`upn`, `aadObjectId` or `id`) names the
    /// recipient, the others are that recipient's template data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<String>,
}

/// Text or an Adaptive Card (not both).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Message {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// An Adaptive Card (`"type": "AdaptiveCard"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<Value>,
    /// Per-recipient template data: an object keyed by recipient (as named in `to`, by UPN or by
    /// AAD object id), each value an object bound as that recipient's `$root` (over the built-in
    /// `displayName`, `givenName`, `upn`, `aadObjectId` and the CSV's columns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum IfNotInstalled {
    #[default]
    Fail,
    Succeed,
    Install,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum IfChatActive {
    #[default]
    Send,
    Skip,
    Fail,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Options {
    #[serde(default)]
    pub if_not_installed: IfNotInstalled,
    #[serde(default)]
    pub if_chat_active: IfChatActive,
    #[serde(default)]
    pub label_as_notification: bool,
    #[serde(default)]
    pub alert: bool,
    /// Collect each recipient's answer to the card (Action.Submit / Action.Execute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_for_response: Option<WaitForResponse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_chat_topic: Option<String>,
    /// How its rows share the tenant's budget with other notifications (`high`, `normal`, `bulk`).
    #[serde(default, skip_serializing_if = "is_normal")]
    pub priority: herald_store::Priority,
    /// What it is about: recipients who opted out of it (`stop CATEGORY`, `stop all`) are
    /// skipped. Checked at accept; read with [`Options::category`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// One reminder, in the same chat, to each recipient who has not read it this long after
    /// it was delivered (read receipts exist only in the bot's 1:1 chats).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remind_if_unread: Option<RemindIfUnread>,
    /// With `sendAt`: its date and time (offset ignored) happen in each recipient's own time
    /// zone (their preference, else the one their Teams client reported, else
    /// `default_time_zone`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recipient_local_time: bool,
    /// Webhooks about each recipient's row, signed and sent to `callbackUrl` through the
    /// callback outbox: `delivered`, `read`, `reacted`, `opted_out`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventKind>,
    /// Where `events` go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
}

/// A change to a recipient's row that `options.events` reports.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Delivered,
    Read,
    Reacted,
    OptedOut,
}

impl EventKind {
    pub fn callback_event(self) -> herald_store::CallbackEvent {
        use herald_store::CallbackEvent as E;
        match self {
            EventKind::Delivered => E::Delivered,
            EventKind::Read => E::Read,
            EventKind::Reacted => E::Reacted,
            EventKind::OptedOut => E::OptedOut,
        }
    }
}

impl Options {
    /// `events` as the store keeps them (bits).
    pub fn event_bits(&self) -> u32 {
        self.events
            .iter()
            .fold(0, |bits, e| bits | e.callback_event().bit())
    }

    /// The configuration's `events` to `url`, for a notification that names no events and no
    /// `callbackUrl` of its own: those Teams can report for how it is sent (no reads or reactions
    /// of messages sent as a user).
    pub fn default_events(&mut self, events: &[EventKind], url: Option<&str>) {
        let Some(url) = url else { return };
        if !self.events.is_empty() || self.callback_url.is_some() {
            return;
        }
        let as_user = self.as_user.is_some();
        self.events = events
            .iter()
            .copied()
            .filter(|e| !(as_user && matches!(e, EventKind::Read | EventKind::Reacted)))
            .collect();
        if !self.events.is_empty() {
            self.callback_url = Some(url.to_owned());
        }
    }

    /// Where the outcome `event` goes, if the notification asked for it.
    pub fn event_url(&self, event: EventKind) -> Option<&str> {
        self.callback_url
            .as_deref()
            .filter(|_| self.events.contains(&event))
    }
}

/// The shortest wait before a reminder: a minute.
pub const MIN_REMIND_AFTER_S: u64 = 60;
/// The longest reminder text (characters): Teams shows long text collapsed, and a reminder is a
/// nudge.
pub const MAX_REMIND_TEXT_CHARS: usize = 4_000;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RemindIfUnread {
    /// How long after its delivery a row without a read receipt is reminded (at least 60 s, at
    /// most 30 days).
    pub after_seconds: u64,
    /// The reminder's text (Markdown as Teams renders it).
    pub text: String,
}

impl RemindIfUnread {
    pub fn after_ms(&self) -> u64 {
        self.after_seconds.saturating_mul(1000)
    }
}

impl Options {
    /// The category, as compared with opt-outs (lowercase); `None` when there is none (or, in a
    /// request that was never validated, when it is no category).
    pub fn category(&self) -> Option<Category> {
        self.category
            .as_deref()
            .and_then(|c| Category::parse(c).ok())
    }
}

fn is_normal(p: &herald_store::Priority) -> bool {
    *p == herald_store::Priority::Normal
}

/// How long answers are awaited when `timeoutSeconds` is not given: 7 days.
pub const DEFAULT_RESPONSE_TIMEOUT_S: u64 = 7 * 24 * 3600;
/// The longest wait: 30 days (Power Automate's own limit for a flow run).
pub const MAX_RESPONSE_TIMEOUT_S: u64 = 30 * 24 * 3600;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WaitForResponse {
    /// What replaces the card once answered: text, or an Adaptive Card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_message: Option<Value>,
    /// After this, recipients who did not answer are `no_response` (default 7 days, at most 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    /// Each answer (and each `no_response`) is POSTed here, signed with HMAC-SHA256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
}

impl WaitForResponse {
    pub fn timeout_ms(&self) -> u64 {
        self.timeout_seconds.unwrap_or(DEFAULT_RESPONSE_TIMEOUT_S) * 1000
    }
}

/// The longest recipient, team or group id accepted (UPNs are at most 113 characters, Teams ids
/// about a hundred): longer ones are not ids, and would only make long directory requests.
pub const MAX_ID_LEN: usize = herald_core::audience::MAX_ID_LEN;

/// What a validation needs from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// `ifNotInstalled: install` can work.
    pub has_teams_app: bool,
    /// Callbacks can be signed.
    pub has_callback_secret: bool,
    /// Users' tokens can be kept (sending as a user).
    pub has_secret_key: bool,
    /// `max_inline_users`: recipients named in `to.users` (each is looked up before accepting).
    pub max_inline_users: usize,
    /// `max_csv_rows`: recipients in `to.csv`.
    pub max_csv_rows: u64,
}

fn card_problem(base: &str, e: herald_cards::CardError) -> RequestError {
    let status = if e.rule == herald_cards::Rule::Size {
        Refusal::TooLarge
    } else {
        Refusal::Invalid
    };
    let kind = if status == Refusal::TooLarge {
        "message-too-big"
    } else {
        "invalid-card"
    };
    RequestError::new(status, kind, format!("{} ({})", e.message, e.rule.as_str()))
        .at(format!("{base}{}", e.pointer))
}

/// A card (or a template): it compiles, it has the shape Teams renders, and — for a template —
/// a trial expansion without anyone's data stays within the templating budget and Teams' size.
/// A template that cannot fit for anyone is refused now rather than failing every delivery.
fn check_card(card: &Value) -> Result<(), RequestError> {
    use herald_cards::template::{ErrorKind, Template};
    let template_problem = |e: herald_cards::TemplateError| {
        let (status, kind) = match e.kind {
            ErrorKind::TooBig => (Refusal::TooLarge, "message-too-big"),
            ErrorKind::Budget => (Refusal::Invalid, "template-error"),
            ErrorKind::Invalid => (Refusal::Invalid, "invalid-card"),
        };
        RequestError::new(status, kind, e.message).at(format!("/message/card{}", e.pointer))
    };
    let template = Template::compile(card).map_err(template_problem)?;
    let mode = if template.is_dynamic() {
        herald_cards::Mode::Template
    } else {
        herald_cards::Mode::Card
    };
    herald_cards::validate(card, mode).map_err(|e| card_problem("/message/card", e))?;
    if template.is_dynamic() {
        template
            .trial(&Value::Object(Default::default()))
            .map_err(template_problem)?;
    }
    Ok(())
}

fn unprocessable(pointer: &str, detail: impl Into<String>) -> RequestError {
    RequestError::new(Refusal::Invalid, "invalid-notification", detail).at(pointer)
}

/// `a.b[2].c` (serde_path_to_error) → `/a/b/2/c`.
fn pointer_of(path: &str) -> String {
    if path == "." || path.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    for part in path.split('.') {
        let mut rest = part;
        while let Some(i) = rest.find('[') {
            if i > 0 {
                out.push('/');
                out.push_str(&rest[..i]);
            }
            let end = rest[i..].find(']').map_or(rest.len(), |e| i + e);
            out.push('/');
            out.push_str(&rest[i + 1..end]);
            rest = &rest[(end + 1).min(rest.len())..];
        }
        if !rest.is_empty() {
            out.push('/');
            out.push_str(rest);
        }
    }
    out
}

/// Events need somewhere to go, a secret to sign them with, and — for `read` and `reacted` — the
/// bot's own messages (Teams reports neither for messages sent as a user).
fn check_events(o: &Options, settings: Settings) -> Result<(), RequestError> {
    match (&o.callback_url, o.events.is_empty()) {
        (None, false) => {
            return Err(unprocessable(
                "/options/callbackUrl",
                "events are POSTed to callbackUrl: give one",
            ))
        }
        (Some(_), true) => {
            return Err(unprocessable(
                "/options/events",
                "callbackUrl receives events: name them (delivered, read, reacted, opted_out)",
            ))
        }
        (None, true) => return Ok(()),
        (Some(_), false) => {}
    }
    if !settings.has_callback_secret {
        return Err(unprocessable(
            "/options/callbackUrl",
            "events are signed with HMAC-SHA256: set HERALD_CALLBACK_SECRET first",
        ));
    }
    if o.as_user.is_some() {
        if let Some(i) = o
            .events
            .iter()
            .position(|e| matches!(e, EventKind::Read | EventKind::Reacted))
        {
            return Err(unprocessable(
                &format!("/options/events/{i}"),
                "Teams reports reads and reactions only for the bot's messages, not for messages sent as a user",
            ));
        }
    }
    Ok(())
}

/// A reminder needs read receipts, which Teams sends only from the bot's 1:1 chats.
fn check_reminder(r: &RemindIfUnread, o: &Options) -> Result<(), RequestError> {
    let at = "/options/remindIfUnread";
    if o.as_user.is_some() {
        return Err(unprocessable(
            at,
            "a reminder follows read receipts, which Teams sends only for the bot's messages in its 1:1 chats, not for messages sent as a user",
        ));
    }
    if !(MIN_REMIND_AFTER_S..=MAX_RESPONSE_TIMEOUT_S).contains(&r.after_seconds) {
        return Err(unprocessable(
            &format!("{at}/afterSeconds"),
            format!(
                "{} s: a reminder waits {MIN_REMIND_AFTER_S} s to {MAX_RESPONSE_TIMEOUT_S} s (30 days)",
                r.after_seconds
            ),
        ));
    }
    let chars = r.text.chars().count();
    if r.text.trim().is_empty() || chars > MAX_REMIND_TEXT_CHARS {
        return Err(unprocessable(
            &format!("{at}/text"),
            format!("{chars} characters: the reminder's text is 1 to {MAX_REMIND_TEXT_CHARS}"),
        ));
    }
    Ok(())
}

/// The body of an edit: the new message.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EditBody {
    message: Message,
}

/// Parses an edit's body (`{"message": …}`): 400 when it is not JSON, 422 when it is not an edit.
pub fn parse_edit(body: &[u8]) -> Result<Message, RequestError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize::<_, EditBody>(de)
        .map(|b| b.message)
        .map_err(body_error)
}

/// A body that would not deserialize: 400 when it is not JSON, 422 (with the field) otherwise.
fn body_error(e: serde_path_to_error::Error<serde_json::Error>) -> RequestError {
    let pointer = pointer_of(&e.path().to_string());
    let inner = e.into_inner();
    if inner.is_syntax() || inner.is_eof() {
        RequestError::new(
            Refusal::Unparseable,
            "invalid-json",
            format!("the body is not JSON: {inner}"),
        )
        .at(pointer)
    } else {
        unprocessable(&pointer, format!("{inner}"))
    }
}

/// Parses the body: 400 when it is not JSON, 422 (with the field) when it is not a request.
pub fn parse(body: &[u8]) -> Result<NotificationRequest, RequestError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(body_error)
}

impl NotificationRequest {
    /// Everything that can be checked without the directory. `has_teams_app` tells whether
    /// `ifNotInstalled: install` can work.
    pub fn validate(&self, settings: Settings) -> Result<(), RequestError> {
        let has_teams_app = settings.has_teams_app;
        let to = &self.to;
        if to.users.is_empty()
            && to.teams.is_empty()
            && to.groups.is_empty()
            && !to.all_installed
            && to.csv.is_none()
        {
            return Err(unprocessable(
                "/to",
                "the audience is empty: name users, teams, groups, a csv, or allInstalled",
            ));
        }
        for (field, list) in [
            ("users", &to.users),
            ("teams", &to.teams),
            ("groups", &to.groups),
        ] {
            if let Some(i) = list.iter().position(|u| u.trim().is_empty()) {
                return Err(unprocessable(&format!("/to/{field}/{i}"), "an empty entry"));
            }
            if let Some(i) = list.iter().position(|u| u.len() > MAX_ID_LEN) {
                return Err(unprocessable(
                    &format!("/to/{field}/{i}"),
                    format!(
                        "an entry of {} bytes; ids and UPNs are at most {MAX_ID_LEN}",
                        list[i].len()
                    ),
                ));
            }
            // What else makes a string no id (control characters, a UPN that is no address):
            // the resolver and the sender trust what is accepted here.
            let problem = list.iter().enumerate().find_map(|(i, u)| {
                let e = match field {
                    "users" => UserRef::parse(u).err(),
                    "teams" => TeamRef::parse(u).err(),
                    _ => AadObjectId::parse(u.trim()).err(),
                };
                e.map(|e| (i, e))
            });
            if let Some((i, e)) = problem {
                return Err(unprocessable(&format!("/to/{field}/{i}"), e.to_string()));
            }
        }
        if let Some(i) = to
            .groups
            .iter()
            .position(|g| !herald_core::ids::is_guid(g.trim()))
        {
            return Err(unprocessable(
                &format!("/to/groups/{i}"),
                format!("`{}` is not a group id (a GUID)", to.groups[i]),
            ));
        }
        if to.users.len() > settings.max_inline_users {
            return Err(unprocessable(
                "/to/users",
                format!(
                    "{} users named inline; the limit is {} (max_inline_users): send a csv, a group or allInstalled instead",
                    to.users.len(),
                    settings.max_inline_users
                ),
            ));
        }
        if let Some(csv) = &to.csv {
            CsvAudience::count(csv, settings.max_csv_rows)
                .map_err(|e| unprocessable("/to/csv", e.to_string()))?;
        }
        let m = &self.message;
        match (&m.text, &m.card) {
            (Some(_), Some(_)) => {
                return Err(unprocessable("/message", "give text or card, not both"))
            }
            (None, None) => return Err(unprocessable("/message", "give text or card")),
            (Some(t), None) if t.trim().is_empty() => {
                return Err(unprocessable("/message/text", "the text is empty"))
            }
            (None, Some(card)) if !card.is_object() || card["type"] != "AdaptiveCard" => {
                return Err(unprocessable(
                    "/message/card",
                    "the card must be an Adaptive Card: an object with \"type\": \"AdaptiveCard\"",
                ))
            }
            _ => {}
        }
        if let Some(data) = &m.data {
            if m.card.is_none() {
                return Err(unprocessable(
                    "/message/data",
                    "template data needs a card (`message.card`) to bind",
                ));
            }
            let Some(map) = data.as_object() else {
                return Err(unprocessable(
                    "/message/data",
                    "data must be an object keyed by recipient (UPN, AAD object id or Teams id)",
                ));
            };
            if let Some((k, _)) = map.iter().find(|(_, v)| !v.is_object()) {
                return Err(unprocessable(
                    &format!("/message/data/{}", k.replace('~', "~0").replace('/', "~1")),
                    "each recipient's data must be an object",
                ));
            }
        }
        // Size first: nothing is compiled or walked that Teams would refuse anyway.
        let size = m.text.as_ref().map_or(0, String::len)
            + m.card
                .as_ref()
                .map_or(0, |c| herald_cards::expr::json_len(c, u64::MAX) as usize);
        if size > MAX_ACTIVITY_BYTES {
            return Err(RequestError::new(
                Refusal::TooLarge,
                "message-too-big",
                format!("the message is at least {size} bytes; Teams takes at most {MAX_ACTIVITY_BYTES}"),
            )
            .at(if m.text.is_some() {
                "/message/text"
            } else {
                "/message/card"
            }));
        }
        if let Some(card) = &m.card {
            check_card(card)?;
        }
        let o = &self.options;
        if let Some(c) = &o.category {
            Category::parse(c).map_err(|e| unprocessable("/options/category", e.to_string()))?;
        }
        if let Some(w) = &o.wait_for_response {
            self.check_wait(w, settings)?;
        }
        if let Some(r) = &o.remind_if_unread {
            check_reminder(r, o)?;
        }
        check_events(o, settings)?;
        if o.recipient_local_time && self.send_at.is_none() {
            return Err(unprocessable(
                "/options/recipientLocalTime",
                "a local time is sendAt's date and time in each recipient's zone: give sendAt too",
            ));
        }
        if let Some(upn) = &o.as_user {
            if Upn::parse(upn.as_str()).is_err() {
                return Err(unprocessable(
                    "/options/asUser",
                    format!("`{upn}` is not a UPN (the signed-in user's, like ada@contoso.com)"),
                ));
            }
            if !settings.has_secret_key {
                return Err(unprocessable(
                    "/options/asUser",
                    "sending as a user needs HERALD_SECRET_KEY (it protects the user's tokens) and `herald login`",
                ));
            }
            if m.text.is_none() {
                return Err(unprocessable(
                    "/message",
                    "a message sent as a user is text (posted as HTML); cards go from the bot",
                ));
            }
            if o.wait_for_response.is_some() {
                return Err(unprocessable(
                    "/options/waitForResponse",
                    "answers are collected from the bot's cards, not from messages sent as a user",
                ));
            }
        }
        if let Some(topic) = &o.group_chat_topic {
            if o.as_user.is_none() {
                return Err(unprocessable(
                    "/options/groupChatTopic",
                    "a group chat is created by a signed-in user: give asUser too",
                ));
            }
            if topic.trim().is_empty() || topic.chars().count() > 250 {
                return Err(unprocessable(
                    "/options/groupChatTopic",
                    "the topic is 1 to 250 characters",
                ));
            }
        }
        if o.if_not_installed == IfNotInstalled::Install && !has_teams_app {
            return Err(unprocessable(
                "/options/ifNotInstalled",
                "installing the app needs its catalog id: set HERALD_TEAMS_APP_ID",
            ));
        }
        self.send_at_ms()?;
        Ok(())
    }

    fn check_wait(&self, w: &WaitForResponse, settings: Settings) -> Result<(), RequestError> {
        let at = "/options/waitForResponse";
        let Some(card) = &self.message.card else {
            return Err(unprocessable(
                at,
                "waiting for a response needs a card with an Action.Submit or Action.Execute",
            ));
        };
        if herald_cards::validate::answer_action_data(card).is_empty() {
            return Err(unprocessable(
                "/message/card",
                "the card has no Action.Submit or Action.Execute to answer with",
            ));
        }
        if let Some(t) = w.timeout_seconds {
            if t == 0 || t > MAX_RESPONSE_TIMEOUT_S {
                return Err(unprocessable(
                    &format!("{at}/timeoutSeconds"),
                    format!(
                        "the timeout is {t} s; it must be 1 to {MAX_RESPONSE_TIMEOUT_S} (30 days)"
                    ),
                ));
            }
        }
        match &w.update_message {
            None => {}
            Some(Value::String(t)) if !t.trim().is_empty() => {}
            Some(card @ Value::Object(_)) => herald_cards::validate(card, herald_cards::Mode::Card)
                .map_err(|e| card_problem(&format!("{at}/updateMessage"), e))?,
            Some(_) => {
                return Err(unprocessable(
                    &format!("{at}/updateMessage"),
                    "the update message is text or an Adaptive Card",
                ))
            }
        }
        if w.callback_url.is_some() {
            // Its address is checked by `egress::check_callback_url` (it needs the resolver).
            if !settings.has_callback_secret {
                return Err(unprocessable(
                    &format!("{at}/callbackUrl"),
                    "callbacks are signed with HMAC-SHA256: set HERALD_CALLBACK_SECRET first",
                ));
            }
        }
        Ok(())
    }

    /// `sendAt` in Unix milliseconds.
    pub fn send_at_ms(&self) -> Result<Option<u64>, RequestError> {
        let Some(s) = &self.send_at else {
            return Ok(None);
        };
        let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map_err(|_| {
                unprocessable(
                    "/sendAt",
                    format!("`{s}` is not an RFC 3339 time like 2026-11-21T09:00:00Z"),
                )
            })?;
        if self.options.recipient_local_time {
            // It happens first where the clock is furthest ahead: resolution starts then, and
            // each row waits for its own zone.
            let wall = crate::local_time::wall_clock(s);
            let first = wall.and_then(crate::local_time::in_utc).ok_or_else(|| {
                unprocessable(
                    "/sendAt",
                    format!("`{s}` is outside the calendar Herald keeps"),
                )
            })?;
            return Ok(Some(first.saturating_sub(crate::local_time::MAX_AHEAD_MS)));
        }
        Ok(Some((t.unix_timestamp_nanos() / 1_000_000).max(0) as u64))
    }

    /// With `recipientLocalTime`, `sendAt`'s time must not have passed where it comes first
    /// (UTC+14) at `now`: someone would get it late.
    pub fn check_local_time(&self, now: u64) -> Result<(), RequestError> {
        if !self.options.recipient_local_time {
            return Ok(());
        }
        match self.send_at_ms()? {
            Some(first) if first < now => Err(unprocessable(
                "/sendAt",
                "with recipientLocalTime, sendAt's date and time have already passed where the clock is furthest ahead (UTC+14): some recipients would get it late; pick a later time",
            )),
            _ => Ok(()),
        }
    }

    /// With `recipientLocalTime`: `sendAt`'s date and time, to be placed in each zone.
    pub fn local_wall_clock(&self) -> Option<jiff::civil::DateTime> {
        if !self.options.recipient_local_time {
            return None;
        }
        crate::local_time::wall_clock(self.send_at.as_deref()?)
    }

    /// The request's canonical JSON (what is stored and hashed for idempotency).
    pub fn canonical(&self) -> String {
        serde_json::to_string(self).expect("a request always serializes")
    }

    /// Exactly one recipient, named directly (what `?sync=true` needs).
    pub fn single_user(&self) -> Option<&str> {
        let to = &self.to;
        (to.users.len() == 1
            && to.teams.is_empty()
            && to.groups.is_empty()
            && !to.all_installed
            && to.csv.is_none())
        .then(|| to.users[0].as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ALL: Settings = Settings {
        has_teams_app: true,
        has_callback_secret: true,
        has_secret_key: true,
        max_inline_users: 3,
        max_csv_rows: 2,
    };

    fn problem_of(v: Value) -> RequestError {
        let bytes = serde_json::to_vec(&v).unwrap();
        match parse(&bytes) {
            Err(p) => p,
            Ok(r) => r.validate(ALL).unwrap_err(),
        }
    }

    #[test]
    fn bad_requests_name_their_field() {
        let ok = json!({"to": {"users": ["a@x.example"]}, "message": {"text": "hi"}});
        assert!(parse(&serde_json::to_vec(&ok).unwrap())
            .unwrap()
            .validate(ALL)
            .is_ok());
        let cases = [
            (json!({"to": {}, "message": {"text": "hi"}}), "/to"),
            (
                json!({"to": {"users": ["a@x"]}, "message": {"text": "hi", "card": {"type": "AdaptiveCard"}}}),
                "/message",
            ),
            (
                json!({"to": {"users": ["a@x"]}, "message": {"text": "hi"}, "options": {"ifNotInstalled": "maybe"}}),
                "/options/ifNotInstalled",
            ),
            (
                json!({"to": {"users": ["a@x"]}, "message": {"text": "hi"}, "options": {"colour": "red"}}),
                "/options/colour",
            ),
            (
                json!({"to": {"users": ["a@x", ""]}, "message": {"text": "hi"}}),
                "/to/users/1",
            ),
            (
                json!({"to": {"groups": ["not-a-guid"]}, "message": {"text": "hi"}}),
                "/to/groups/0",
            ),
            (
                json!({"to": {"csv": "name,upn\nAda,a@x"}, "message": {"text": "hi"}}),
                "/to/csv",
            ),
            (
                json!({"to": {"csv": "upn,name\na@x,Ada,extra"}, "message": {"text": "hi"}}),
                "/to/csv",
            ),
            (
                json!({"to": {"users": ["a@x"]}, "message": {"card": {"type": "Hero"}}}),
                "/message/card",
            ),
            (
                json!({"to": {"users": ["a@x"]}, "message": {"text": "hi"}, "sendAt": "tomorrow"}),
                "/sendAt",
            ),
            (
                json!({"to": {"users": ["a@x"]}, "message": {"card": {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "x", "size": "huge"}]}}}),
                "/message/card/body/0/size",
            ),
            (
                json!({"to": {"users": ["a@x"]}, "message": {"card": {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "${nope(1)}"}]}}}),
                "/message/card/body/0/text",
            ),
            (
                json!({"to": {"users": ["a@x"]}, "message": {"card": CARD.clone(), "data": {"a@x": 3}}}),
                "/message/data/a@x",
            ),
            (
                json!({"to": {"users": ["a@x"]}, "message": {"text": "hi"}, "options": {"waitForResponse": {}}}),
                "/options/waitForResponse",
            ),
            (
                json!({"to": {"users": ["a@x"]}, "message": {"card": CARD.clone()}, "options": {"waitForResponse": {"timeoutSeconds": 0}}}),
                "/options/waitForResponse/timeoutSeconds",
            ),
            (
                json!({"to": {"users": ["a@x"]}, "message": {"card": CARD.clone()}, "options": {"waitForResponse": {"updateMessage": {"type": "AdaptiveCard"}}}}),
                "/options/waitForResponse/updateMessage/version",
            ),
            (
                json!({"to": {"users": ["a@x"]}, "message": {"text": "hi"}, "options": {"groupChatTopic": "Launch"}}),
                "/options/groupChatTopic",
            ),
            (
                json!({"to": {"users": ["a@x"]}, "message": {"text": "hi"}, "options": {"asUser": "not-a-upn"}}),
                "/options/asUser",
            ),
            (
                json!({"to": {"users": ["a@x"]}, "message": {"card": CARD.clone()}, "options": {"asUser": "ada@x"}}),
                "/message",
            ),
            (
                json!({"to": {"users": ["a@x"]}, "message": {"text": "x".repeat(30_000)}}),
                "/message/text",
            ),
            (
                json!({"to": {"users": ["a@x", "b@x", "c@x", "d@x"]}, "message": {"text": "hi"}}),
                "/to/users",
            ),
            (
                json!({"to": {"csv": "upn\na@x\nb@x\nc@x\n"}, "message": {"text": "hi"}}),
                "/to/csv",
            ),
        ];
        for (body, pointer) in cases {
            let p = problem_of(body.clone());
            assert_eq!(p.pointer.as_deref(), Some(pointer), "{body}: {}", p.detail);
        }
        assert_eq!(
            parse(b"{\"to\":").unwrap_err().refusal,
            Refusal::Unparseable
        );
    }

    static CARD: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| {
        json!({"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "Hi ${givenName}"}],
               "actions": [{"type": "Action.Submit", "title": "OK"}]})
    });

    #[test]
    fn pointers_from_paths() {
        assert_eq!(
            pointer_of("options.ifNotInstalled"),
            "/options/ifNotInstalled"
        );
        assert_eq!(pointer_of("to.users[3]"), "/to/users/3");
        assert_eq!(pointer_of("."), "");
    }
}
