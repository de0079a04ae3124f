//! Bot Connector REST v3 bodies.

use crate::activity::{Activity, ChannelAccount};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The body of `POST /v3/conversations`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationParameters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_group: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot: Option<ChannelAccount>,
    #[serde(default)]
    pub members: Vec<ChannelAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity: Option<Activity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_data: Option<Value>,
}

/// `{"error":{"code","message"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub error: ErrorBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

impl ErrorResponse {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            error: ErrorBody {
                code: code.to_owned(),
                message: message.into(),
            },
        }
    }
}

/// Error codes of "Status codes from bot conversational APIs".
pub mod codes {
    pub const BAD_ARGUMENT: &str = "BadArgument";
    pub const BOT_NOT_REGISTERED: &str = "BotNotRegistered";
    pub const UNAUTHORIZED: &str = "Unauthorized";
    pub const BOT_DISABLED_BY_ADMIN: &str = "BotDisabledByAdmin";
    pub const BOT_NOT_IN_CONVERSATION_ROSTER: &str = "BotNotInConversationRoster";
    pub const CONVERSATION_BLOCKED_BY_USER: &str = "ConversationBlockedByUser";
    pub const FORBIDDEN_OPERATION: &str = "ForbiddenOperationException";
    pub const CONVERSATION_NOT_FOUND: &str = "ConversationNotFound";
    pub const ACTIVITY_NOT_FOUND: &str = "ActivityNotFoundInConversation";
    pub const MEMBER_NOT_FOUND: &str = "MemberNotFoundInConversation";
    pub const PRECONDITION_FAILED: &str = "PreconditionFailed";
    pub const MESSAGE_SIZE_TOO_BIG: &str = "MessageSizeTooBig";
    pub const THROTTLED: &str = "Throttled";
    pub const SERVICE_ERROR: &str = "ServiceError";
    pub const SERVICE_UNAVAILABLE: &str = "ServiceUnavailable";
    pub const GATEWAY_TIMEOUT: &str = "GatewayTimeout";
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "UnsupportedMediaType";
}
