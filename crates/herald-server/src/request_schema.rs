//! The OpenAPI description of `POST /v1/notifications`' body. The request itself is
//! `herald_engine::request` (the engine keeps no OpenAPI dependency); these types only describe
//! it (deserializable only so that serde's attributes, which utoipa reads, are legal), and the
//! test below fails if a field is added to one and not the other.

use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

/// A notification to send.
#[derive(Deserialize, ToSchema)]
#[schema(as = NotificationRequest)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
pub struct NotificationRequestSchema {
    to: AudienceSchema,
    message: MessageSchema,
    #[serde(default)]
    options: OptionsSchema,
    /// Send later (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    send_at: Option<String>,
}

#[derive(Default, Deserialize, ToSchema)]
#[schema(as = Audience)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
pub struct AudienceSchema {
    /// UPNs / e-mail addresses, AAD object ids or Teams user ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    users: Vec<String>,
    /// Teams: their group ids, or Bot Framework ids (`19:…`) of teams the bot is in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    teams: Vec<String>,
    /// Security or Microsoft 365 groups, by id; nested groups are followed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    groups: Vec<String>,
    /// Everyone with an active installation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    all_installed: bool,
    /// CSV text with a header row; the first column (`upn`, `aadObjectId` or `id`) names the
    /// recipient, the others are that recipient's template data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    csv: Option<String>,
}

/// Text or an Adaptive Card (not both).
#[derive(Default, Deserialize, ToSchema)]
#[schema(as = Message)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
pub struct MessageSchema {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    /// An Adaptive Card (`"type": "AdaptiveCard"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    card: Option<Value>,
    /// Per-recipient template data: an object keyed by recipient (as named in `to`, by UPN or by
    /// AAD object id), each value an object bound as that recipient's `$root` (over the built-in
    /// `displayName`, `givenName`, `upn`, `aadObjectId` and the CSV's columns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    data: Option<Value>,
}

#[derive(Default, Deserialize, ToSchema)]
#[schema(as = IfNotInstalled)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum IfNotInstalledSchema {
    #[default]
    Fail,
    Succeed,
    Install,
}

#[derive(Default, Deserialize, ToSchema)]
#[schema(as = IfChatActive)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum IfChatActiveSchema {
    #[default]
    Send,
    Skip,
    Fail,
}

#[derive(Default, Deserialize, ToSchema)]
#[schema(as = Options)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
pub struct OptionsSchema {
    #[serde(default)]
    if_not_installed: IfNotInstalledSchema,
    #[serde(default)]
    if_chat_active: IfChatActiveSchema,
    #[serde(default)]
    label_as_notification: bool,
    #[serde(default)]
    alert: bool,
    /// Collect each recipient's answer to the card (Action.Submit / Action.Execute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wait_for_response: Option<WaitForResponseSchema>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    as_user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    group_chat_topic: Option<String>,
    /// How its rows share the tenant's budget: `high` ones first, `normal` ones (the default)
    /// share each claim evenly so a small send interleaves with a running broadcast, `bulk` ones
    /// take what is left.
    #[serde(default)]
    priority: PrioritySchema,
    /// What the notification is about (`[A-Za-z0-9_-]{1,64}`, any case; not `all`): a
    /// recipient who wrote `stop CATEGORY` or `stop all` to the bot gets it as a `skipped` row
    /// with reason `opted_out`. Without a category no opt-out applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    category: Option<String>,
    /// One reminder, in the same 1:1 chat, to each recipient without a read receipt this long
    /// after their delivery (not with `asUser`: Teams sends read receipts only for the bot's
    /// messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    remind_if_unread: Option<RemindIfUnreadSchema>,
    /// With `sendAt`: its date and time (offset ignored) happen in each recipient's own time
    /// zone — their preference, else the one their Teams client reported, else
    /// `default_time_zone`. Resolution starts when it is that time in UTC+14; each row waits for
    /// its own (`dueAt`). A time that does not exist there moves to the next valid minute.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    recipient_local_time: bool,
    /// Webhooks about each recipient's row, POSTed to `callbackUrl` and signed like answers'
    /// callbacks: `delivered`, `read` (a read receipt), `reacted` (a reaction added or removed),
    /// `opted_out` (skipped: they opted out of the category). Not `read` or `reacted` with
    /// `asUser`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    events: Vec<EventKindSchema>,
    /// Where `events` go (needs HERALD_CALLBACK_SECRET; private addresses only if allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    callback_url: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[schema(as = EventKind)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum EventKindSchema {
    Delivered,
    Read,
    Reacted,
    OptedOut,
}

#[derive(Default, Deserialize, ToSchema)]
#[schema(as = RemindIfUnread)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
pub struct RemindIfUnreadSchema {
    /// Seconds after a recipient's delivery (60 to 2,592,000).
    #[schema(minimum = 60, maximum = 2592000)]
    after_seconds: u64,
    /// The reminder (1 to 4,000 characters).
    #[schema(min_length = 1, max_length = 4000)]
    text: String,
}

#[derive(Default, Deserialize, ToSchema)]
#[schema(as = Priority)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum PrioritySchema {
    High,
    #[default]
    Normal,
    Bulk,
}

#[derive(Default, Deserialize, ToSchema)]
#[schema(as = WaitForResponse)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
pub struct WaitForResponseSchema {
    /// What replaces the card once answered: text, or an Adaptive Card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    update_message: Option<Value>,
    /// After this, recipients who did not answer are `no_response` (default 7 days, at most 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timeout_seconds: Option<u64>,
    /// Each answer (and each `no_response`) is POSTed here, signed with HMAC-SHA256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    callback_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use crate::openapi::ApiDoc;
    use herald_engine::request::{
        Audience, EventKind, IfChatActive, IfNotInstalled, Message, NotificationRequest, Options,
        RemindIfUnread, WaitForResponse,
    };
    use serde_json::{json, Value};
    use std::collections::BTreeSet;
    use utoipa::OpenApi;

    fn keys(v: &Value) -> BTreeSet<String> {
        v.as_object().unwrap().keys().cloned().collect()
    }

    /// Every field the engine's request has (each one set, so none is skipped) is described, and
    /// nothing else is.
    #[test]
    fn the_schema_describes_the_request_the_engine_takes() {
        let full = NotificationRequest {
            to: Audience {
                users: vec!["a@x".into()],
                teams: vec!["t".into()],
                groups: vec!["g".into()],
                all_installed: true,
                csv: Some("upn\na@x".into()),
            },
            message: Message {
                text: Some("hi".into()),
                card: Some(json!({})),
                data: Some(json!({})),
            },
            options: Options {
                if_not_installed: IfNotInstalled::Install,
                if_chat_active: IfChatActive::Skip,
                label_as_notification: true,
                alert: true,
                wait_for_response: Some(WaitForResponse {
                    update_message: Some(json!("done")),
                    timeout_seconds: Some(60),
                    callback_url: Some("https://x.example/cb".into()),
                }),
                as_user: Some("a@x".into()),
                group_chat_topic: Some("t".into()),
                priority: herald_store::Priority::Bulk,
                category: Some("payroll".into()),
                remind_if_unread: Some(RemindIfUnread {
                    after_seconds: 3600,
                    text: "Have you read it?".into(),
                }),
                recipient_local_time: true,
                events: vec![EventKind::Delivered],
                callback_url: Some("https://x.example/events".into()),
            },
            send_at: Some("2030-01-01T00:00:00Z".into()),
        };
        let wire = serde_json::to_value(&full).unwrap();
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let schemas = &doc["components"]["schemas"];
        for (name, value) in [
            ("NotificationRequest", &wire),
            ("Audience", &wire["to"]),
            ("Message", &wire["message"]),
            ("Options", &wire["options"]),
            ("WaitForResponse", &wire["options"]["waitForResponse"]),
        ] {
            assert_eq!(
                keys(&schemas[name]["properties"]),
                keys(value),
                "the OpenAPI schema of {name} and the engine's type disagree"
            );
        }
        for (name, variants) in [
            ("IfNotInstalled", ["fail", "succeed", "install"]),
            ("IfChatActive", ["send", "skip", "fail"]),
            ("Priority", ["high", "normal", "bulk"]),
        ] {
            for v in variants {
                let field = match name {
                    "IfNotInstalled" => "ifNotInstalled",
                    "IfChatActive" => "ifChatActive",
                    _ => "priority",
                };
                let back: Result<Options, _> = serde_json::from_value(json!({ field: v }));
                assert!(back.is_ok(), "{name} `{v}` is described but not taken");
            }
            let described: BTreeSet<String> = schemas[name]["enum"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect();
            assert_eq!(described, variants.iter().map(|v| v.to_string()).collect());
        }
    }
}
