//! Teams' answers, classified by what Herald must do about them (the status table of docs/teams.md).

use herald_core::reason::Reason;
use serde_json::Value;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400: the activity is wrong; never retried.
    BadRequest,
    /// 401: the bot's registration or credentials are wrong.
    Unauthorized,
    /// 403 `BotNotInConversationRoster` / `ForbiddenOperationException`: the user does not have
    /// the bot; drop the reference.
    NotInstalled,
    /// 404 `ConversationNotFound`: the conversation is gone (a user who cleared the chat); for a
    /// 1:1, CreateConversation opens a new one.
    ConversationNotFound,
    /// 403 `ConversationBlockedByUser` (or the older `MessageWritesBlocked`).
    Blocked,
    /// Any other 403 (`BotDisabledByAdmin`, `NotEnoughPermissions`, `InvalidBotApiHost`).
    Forbidden,
    /// 404 for an activity.
    NotFound,
    /// 413: over Teams' size limit.
    TooBig,
    /// 429: retry after `Retry-After`.
    Throttled,
    /// 412, 502, 503, 504, timeouts, broken connections: retry with backoff.
    Transient,
    /// 500: Teams' table says do not retry.
    ServiceError,
    /// Refused before sending (not allow-listed, no token).
    Configuration,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{}{}: {message}", status.map(|s| format!("{s} ")).unwrap_or_default(), code.as_deref().unwrap_or("error"))]
pub struct ConnectorError {
    pub kind: ErrorKind,
    pub status: Option<u16>,
    /// Teams' error code (`ConversationBlockedByUser`, …) when it gave one.
    pub code: Option<String>,
    pub message: String,
    pub retry_after: Option<Duration>,
    /// No answer came, but the request may have reached Teams (a timeout, a connection reset
    /// after sending): a POST may have been carried out.
    pub maybe_processed: bool,
}

impl ConnectorError {
    pub fn retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Throttled | ErrorKind::Transient)
    }

    /// Why the user's reference no longer works, if this error means that.
    pub fn unreachable_reason(&self) -> Option<Reason> {
        match self.kind {
            ErrorKind::NotInstalled => Some(Reason::NotInstalled),
            ErrorKind::Blocked => Some(Reason::Blocked),
            _ => None,
        }
    }

    pub fn configuration(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Configuration,
            status: None,
            code: None,
            message: message.into(),
            retry_after: None,
            maybe_processed: false,
        }
    }

    /// A success whose body lacks what the call promises (an id, say): Teams misbehaved.
    pub fn bad_answer(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::ServiceError,
            status: None,
            code: Some("BadAnswer".into()),
            message: message.into(),
            retry_after: None,
            maybe_processed: true,
        }
    }

    pub fn transport(e: &reqwest::Error) -> Self {
        Self {
            kind: ErrorKind::Transient,
            status: None,
            code: Some(
                if e.is_timeout() {
                    "Timeout"
                } else {
                    "ConnectionFailed"
                }
                .into(),
            ),
            // Without the URL: it may carry ids, and the caller knows where it sent.
            message: e.without_url_ref_string(),
            retry_after: None,
            // A connection that was never made carried nothing.
            maybe_processed: !e.is_connect(),
        }
    }

    /// Classifies a non-success answer from its status, headers and body.
    /// Classifies an answer. `retry_after` is the header as sent: seconds, or an HTTP date
    /// (RFC 9110) read against `now_ms`; either way at most an hour.
    pub fn from_response(status: u16, retry_after: Option<&str>, body: &str, now_ms: u64) -> Self {
        let (code, message) = parse_body(body);
        let lower = code.as_deref().unwrap_or("").to_ascii_lowercase();
        let kind = match status {
            400 => ErrorKind::BadRequest,
            401 => ErrorKind::Unauthorized,
            403 if lower.contains("blocked") => ErrorKind::Blocked,
            403 if lower == "botnotinconversationroster"
                || lower == "forbiddenoperationexception" =>
            {
                ErrorKind::NotInstalled
            }
            403 => ErrorKind::Forbidden,
            404 if lower == "conversationnotfound" => ErrorKind::ConversationNotFound,
            // A 404 without Teams' own error code came from something in front of Teams (a
            // proxy, a wrong host): it says nothing about the user.
            404 if lower.is_empty() || lower == "notfound" => ErrorKind::ServiceError,
            404 => ErrorKind::NotFound,
            413 => ErrorKind::TooBig,
            429 => ErrorKind::Throttled,
            412 | 502 | 503 | 504 => ErrorKind::Transient,
            500 => ErrorKind::ServiceError,
            s if s >= 500 => ErrorKind::Transient,
            _ => ErrorKind::BadRequest,
        };
        Self {
            kind,
            status: Some(status),
            code,
            message,
            retry_after: retry_after.and_then(|v| {
                v.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map(|s| Duration::from_secs_f64(s.min(3600.0)))
                    .or_else(|| {
                        herald_core::clock::retry_after_date(v, now_ms)
                            .map(|d| d.min(Duration::from_secs(3600)))
                    })
            }),
            maybe_processed: false,
        }
    }
}

trait WithoutUrl {
    fn without_url_ref_string(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_ref_string(&self) -> String {
        let mut e = self.to_string();
        if let Some(url) = self.url() {
            e = e.replace(url.as_str(), "<service url>");
        }
        e
    }
}

/// Both error shapes Teams uses: `{"error":{"code","message"}}` and
/// `{"errorCode":209,"message":"{\"subCode\":\"MessageWritesBlocked\",…}"}`.
fn parse_body(body: &str) -> (Option<String>, String) {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return (None, body.chars().take(200).collect());
    };
    if let Some(code) = v["error"]["code"].as_str() {
        return (
            Some(code.to_owned()),
            v["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    if v.get("errorCode").is_some() {
        let message = v["message"].as_str().unwrap_or_default().to_owned();
        let sub = serde_json::from_str::<Value>(&message)
            .ok()
            .and_then(|m| m["subCode"].as_str().map(str::to_owned));
        let code = match sub.as_deref() {
            Some("MessageWritesBlocked") => "ConversationBlockedByUser".to_owned(),
            Some(other) => other.to_owned(),
            None => format!("Error{}", v["errorCode"]),
        };
        return (Some(code), message);
    }
    (
        v["code"].as_str().map(str::to_owned),
        v["message"].as_str().unwrap_or_default().to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(status: u16, body: &str) -> ConnectorError {
        ConnectorError::from_response(status, None, body, 0)
    }

    #[test]
    fn classifies_teams_status_table() {
        let b = |code: &str| format!(r#"{{"error":{{"code":"{code}","message":"m"}}}}"#);
        assert_eq!(e(400, &b("BadArgument")).kind, ErrorKind::BadRequest);
        assert_eq!(e(401, &b("BotNotRegistered")).kind, ErrorKind::Unauthorized);
        assert_eq!(e(403, &b("BotDisabledByAdmin")).kind, ErrorKind::Forbidden);
        assert_eq!(
            e(403, &b("BotNotInConversationRoster")).kind,
            ErrorKind::NotInstalled
        );
        assert_eq!(
            e(403, &b("ForbiddenOperationException")).kind,
            ErrorKind::NotInstalled
        );
        assert_eq!(
            e(403, &b("ConversationBlockedByUser")).kind,
            ErrorKind::Blocked
        );
        assert_eq!(
            e(404, &b("ConversationNotFound")).kind,
            ErrorKind::ConversationNotFound
        );
        assert_eq!(e(404, "").kind, ErrorKind::ServiceError, "a proxy's 404");
        assert_eq!(e(404, "<html>Not Found</html>").unreachable_reason(), None);
        assert_eq!(
            e(404, &b("ActivityNotFoundInConversation")).kind,
            ErrorKind::NotFound
        );
        assert_eq!(e(413, &b("MessageSizeTooBig")).kind, ErrorKind::TooBig);
        assert_eq!(e(429, &b("Throttled")).kind, ErrorKind::Throttled);
        for s in [412, 502, 503, 504] {
            assert!(e(s, "").retryable(), "{s}");
        }
        assert!(
            !e(500, &b("ServiceError")).retryable(),
            "Teams' table: 500 is not retried"
        );
        assert_eq!(
            e(403, &b("ConversationBlockedByUser")).unreachable_reason(),
            Some(Reason::Blocked)
        );
    }

    #[test]
    fn parses_the_older_blocked_shape() {
        let body = r#"{"errorCode":209,"message":"{\"subCode\":\"MessageWritesBlocked\",\"details\":\"Thread is blocked from message writes.\"}"}"#;
        let err = e(403, body);
        assert_eq!(err.kind, ErrorKind::Blocked);
        assert_eq!(err.code.as_deref(), Some("ConversationBlockedByUser"));
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        let err = ConnectorError::from_response(429, Some("3"), "", 0);
        assert_eq!(err.retry_after, Some(Duration::from_secs(3)));
        let err = ConnectorError::from_response(429, Some("soon"), "", 0);
        assert_eq!(err.retry_after, None);
    }
}
