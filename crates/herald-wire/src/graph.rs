//! Microsoft Graph v1.0 shapes Herald reads.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Graph's error body: `{"error":{"code","message","innerError":{"request-id","date"}}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphError {
    pub error: GraphErrorBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphErrorBody {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inner_error: Option<Value>,
}

/// A page of a collection: `{"value": [...], "@odata.nextLink": "..."}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub value: Vec<T>,
    #[serde(
        rename = "@odata.nextLink",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub next_link: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub surname: Option<String>,
    #[serde(default)]
    pub mail: Option<String>,
    #[serde(default)]
    pub user_principal_name: Option<String>,
    #[serde(default)]
    pub user_type: Option<String>,
}

/// `@odata.type` values Graph uses in directory collections.
pub mod odata_types {
    pub const USER: &str = "#microsoft.graph.user";
    pub const GROUP: &str = "#microsoft.graph.group";
    pub const AAD_USER_CONVERSATION_MEMBER: &str = "#microsoft.graph.aadUserConversationMember";
}
