//! Microsoft Graph v1.0 constants Herald and the emulator share.

/// `@odata.type` values Graph uses in directory collections.
pub mod odata_types {
    pub const USER: &str = "#microsoft.graph.user";
    pub const GROUP: &str = "#microsoft.graph.group";
    pub const AAD_USER_CONVERSATION_MEMBER: &str = "#microsoft.graph.aadUserConversationMember";
}
