//! How a delivery row ends: its outcome, the status code and reason a user sees, and what was
//! sent (activity, conversation). The last stage of delivery writes these in batches
//! (`send::record`); every other stage only builds one.

use herald_connector::{ConnectorError, ErrorKind};
use herald_core::reason::Reason;
use herald_store::{Outcome, Verdict};

/// Status code and reason for a failure Teams (or the way there) reported.
pub fn failure(e: &ConnectorError) -> (Option<u16>, Reason) {
    match e.kind {
        ErrorKind::BadRequest => (Some(400), Reason::BadRequest),
        ErrorKind::TooBig => (Some(413), Reason::MessageTooBig),
        ErrorKind::Throttled => (Some(429), Reason::Throttled),
        ErrorKind::NotFound => (e.status.or(Some(404)), Reason::BadRequest),
        // Still not found after a new conversation was opened.
        ErrorKind::ConversationNotFound => (e.status.or(Some(404)), Reason::ServiceError),
        ErrorKind::NotInstalled => (e.status.or(Some(403)), Reason::NotInstalled),
        ErrorKind::Blocked => (e.status.or(Some(403)), Reason::Blocked),
        ErrorKind::Transient => (e.status.or(Some(504)), Reason::ServiceError),
        ErrorKind::ServiceError
        | ErrorKind::Unauthorized
        | ErrorKind::Forbidden
        | ErrorKind::Configuration => (e.status, Reason::ServiceError),
    }
}

/// What a delivery came to, before it is recorded.
pub struct RowOutcome {
    pub result: Verdict,
    pub activity_id: Option<String>,
    pub conversation_id: Option<herald_core::ids::ConversationId>,
    pub detail: Option<String>,
    /// A send went unanswered (it may have arrived) before one succeeded.
    pub possible_duplicate: bool,
}

impl RowOutcome {
    /// A row that ends with this outcome, status code and reason, and nothing sent.
    pub fn of(outcome: Outcome, code: Option<u16>, reason: Option<Reason>) -> Self {
        Self {
            result: Verdict {
                outcome,
                status_code: code,
                reason,
            },
            activity_id: None,
            conversation_id: None,
            detail: None,
            possible_duplicate: false,
        }
    }
}
