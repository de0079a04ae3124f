//! Bot Framework activities as Teams sends and receives them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const CHANNEL_MSTEAMS: &str = "msteams";

/// Teams refuses a serialized activity larger than this many UTF-8 bytes with
/// 413 `MessageSizeTooBig` (msteams-docs: "approximately 28 KB").
pub const MAX_ACTIVITY_BYTES: usize = 28 * 1024;

/// A `ChannelAccount` / `TeamsChannelAccount`: who sent or receives an activity, or a member.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelAccount {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aad_object_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_role: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationAccount {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_group: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// An activity. The fields Herald reads are typed; everything else is kept verbatim in
/// `extra`, because Teams adds fields over time and a relay must not drop them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<ChannelAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<ChannelAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<Attachment>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members_added: Option<Vec<ChannelAccount>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members_removed: Option<Vec<ChannelAccount>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    pub content_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Activity types Teams uses.
pub mod kinds {
    pub const MESSAGE: &str = "message";
    pub const CONVERSATION_UPDATE: &str = "conversationUpdate";
    pub const INSTALLATION_UPDATE: &str = "installationUpdate";
    pub const INVOKE: &str = "invoke";
    pub const EVENT: &str = "event";
    pub const MESSAGE_REACTION: &str = "messageReaction";
}

/// The `name` of the event a user's 1:1 chat sends when they read it: `value.lastReadMessageId`
/// is the id of the last message read (ids there are numeric and grow with time).
pub const EVENT_READ_RECEIPT: &str = "application/vnd.microsoft.readReceipt";

/// The name of the invoke an `Action.Execute` produces.
pub const INVOKE_ADAPTIVE_CARD_ACTION: &str = "adaptiveCard/action";

/// A message activity carrying text.
pub fn text_message(text: &str) -> Value {
    serde_json::json!({"type": kinds::MESSAGE, "text": text})
}

/// A message activity carrying one Adaptive Card and no text (Teams may split a message with
/// both, and the id it returns would then name only one part).
pub fn card_message(card: Value) -> Value {
    serde_json::json!({
        "type": kinds::MESSAGE,
        "attachments": [{"contentType": crate::card::CONTENT_TYPE, "content": card}],
    })
}
