//! Why a delivery row ended as it did: the `reason` a report shows, one spelling per reason, and
//! the status code each carries unless Teams gave another (Power Automate's codes: 100 not
//! installed, 300 chat active).

/// The reason of a row that was not simply delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The bot is not installed for the recipient (and the policy did not install it).
    NotInstalled,
    /// The recipient blocked the bot.
    Blocked,
    /// The recipient wrote to the bot within `active_chat_window_s`.
    ChatActive,
    /// A guest of the tenant: proactive messages do not reach them.
    ExternalUser,
    /// No such user in the directory.
    UnknownUser,
    /// Over Teams' size limit (28 KB).
    MessageTooBig,
    /// The recipient's card could not be expanded from the template.
    TemplateError,
    /// Teams kept answering 429 until the deadline.
    Throttled,
    /// Teams (or the way there) failed.
    ServiceError,
    /// Teams refused the request as malformed.
    BadRequest,
    /// The notification was canceled before this row was sent.
    Canceled,
    /// The recipient opted out of the notification's category (`stop CATEGORY`, `stop all`).
    OptedOut,
}

impl Reason {
    pub const ALL: [Reason; 12] = [
        Reason::NotInstalled,
        Reason::Blocked,
        Reason::ChatActive,
        Reason::ExternalUser,
        Reason::UnknownUser,
        Reason::MessageTooBig,
        Reason::TemplateError,
        Reason::Throttled,
        Reason::ServiceError,
        Reason::BadRequest,
        Reason::Canceled,
        Reason::OptedOut,
    ];

    /// The spelling in reports, the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NotInstalled => "not_installed",
            Reason::Blocked => "blocked",
            Reason::ChatActive => "chat_active",
            Reason::ExternalUser => "external_user",
            Reason::UnknownUser => "unknown_user",
            Reason::MessageTooBig => "message_too_big",
            Reason::TemplateError => "template_error",
            Reason::Throttled => "throttled",
            Reason::ServiceError => "service_error",
            Reason::BadRequest => "bad_request",
            Reason::Canceled => "canceled",
            Reason::OptedOut => "opted_out",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The status code a row with this reason carries when Teams gave none of its own.
    pub fn default_status(self) -> Option<u16> {
        match self {
            Reason::NotInstalled => Some(100),
            Reason::ChatActive => Some(300),
            Reason::Blocked | Reason::ExternalUser => Some(403),
            Reason::UnknownUser => Some(404),
            Reason::MessageTooBig => Some(413),
            Reason::Throttled => Some(429),
            Reason::BadRequest => Some(400),
            Reason::TemplateError | Reason::ServiceError | Reason::Canceled | Reason::OptedOut => {
                None
            }
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_reads_back_as_itself() {
        for r in Reason::ALL {
            assert_eq!(Reason::parse(r.as_str()), Some(r));
        }
        assert_eq!(Reason::parse("nope"), None);
        assert_eq!(Reason::NotInstalled.default_status(), Some(100));
        assert_eq!(Reason::ChatActive.default_status(), Some(300));
    }
}
