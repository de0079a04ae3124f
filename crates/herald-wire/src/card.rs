//! Adaptive Card constants shared by senders and the emulator.

pub const CONTENT_TYPE: &str = "application/vnd.microsoft.card.adaptive";
/// Invoke response type: the value is a card that replaces the one that was pressed.
pub const INVOKE_RESPONSE_CARD: &str = "application/vnd.microsoft.card.adaptive";
/// Invoke response type: the value is a message shown to the user.
pub const INVOKE_RESPONSE_MESSAGE: &str = "application/vnd.microsoft.activity.message";
