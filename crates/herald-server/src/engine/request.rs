//! `POST /v1/notifications`: the request as SPEC §4 names it, and every check made before a
//! notification is accepted. Each refusal is problem+json naming the field.

use crate::problem::Problem;
use axum::http::StatusCode;
use herald_wire::activity::MAX_ACTIVITY_BYTES;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// A notification to send (SPEC §4).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
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

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, ToSchema)]
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
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Message {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// An Adaptive Card (`"type": "AdaptiveCard"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub card: Option<Value>,
    /// Per-recipient template data (not available in this version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IfNotInstalled {
    #[default]
    Fail,
    Succeed,
    Install,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IfChatActive {
    #[default]
    Send,
    Skip,
    Fail,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, ToSchema)]
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
    /// Not available in this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub wait_for_response: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_chat_topic: Option<String>,
}

fn unprocessable(pointer: &str, detail: impl Into<String>) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-notification",
        detail,
    )
    .at(pointer)
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

/// Parses the body: 400 when it is not JSON, 422 (with the field) when it is not a request.
pub fn parse(body: &[u8]) -> Result<NotificationRequest, Problem> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let pointer = pointer_of(&e.path().to_string());
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-json",
                format!("the body is not JSON: {inner}"),
            )
            .at(pointer)
        } else {
            unprocessable(&pointer, format!("{inner}"))
        }
    })
}

/// The recipient column a CSV may name first.
pub const CSV_ID_COLUMNS: [&str; 3] = ["upn", "aadObjectId", "id"];

/// Checks a CSV's shape without keeping its rows; returns how many recipients it names.
pub fn check_csv(text: &str) -> Result<u64, Problem> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = rdr
        .headers()
        .map_err(|e| unprocessable("/to/csv", format!("the CSV cannot be read: {e}")))?
        .clone();
    let first = headers.get(0).unwrap_or("").trim();
    if !CSV_ID_COLUMNS.iter().any(|c| c.eq_ignore_ascii_case(first)) {
        return Err(unprocessable(
            "/to/csv",
            format!("the CSV's first column is `{first}`; it must be named upn, aadObjectId or id"),
        ));
    }
    let mut rows = 0;
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| unprocessable("/to/csv", format!("CSV row {}: {e}", i + 2)))?;
        if rec.get(0).is_none_or(|v| v.trim().is_empty()) {
            return Err(unprocessable(
                "/to/csv",
                format!("CSV row {} names no recipient", i + 2),
            ));
        }
        rows += 1;
    }
    Ok(rows)
}

impl NotificationRequest {
    /// Everything that can be checked without the directory. `has_teams_app` tells whether
    /// `ifNotInstalled: install` can work.
    pub fn validate(&self, has_teams_app: bool) -> Result<(), Problem> {
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
        if let Some(csv) = &to.csv {
            check_csv(csv)?;
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
        if m.data.is_some() {
            return Err(unprocessable(
                "/message/data",
                "per-recipient card data (templating) is not available in this version",
            ));
        }
        let size = m.text.as_ref().map_or(0, String::len)
            + m.card.as_ref().map_or(0, |c| c.to_string().len());
        if size > MAX_ACTIVITY_BYTES {
            return Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "message-too-big",
                format!("the message is {size} bytes; Teams takes at most {MAX_ACTIVITY_BYTES}"),
            )
            .at(if m.text.is_some() {
                "/message/text"
            } else {
                "/message/card"
            }));
        }
        let o = &self.options;
        for (field, present) in [
            ("waitForResponse", o.wait_for_response.is_some()),
            ("asUser", o.as_user.is_some()),
            ("groupChatTopic", o.group_chat_topic.is_some()),
        ] {
            if present {
                return Err(unprocessable(
                    &format!("/options/{field}"),
                    format!("{field} is not available in this version"),
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

    /// `sendAt` in Unix milliseconds.
    pub fn send_at_ms(&self) -> Result<Option<u64>, Problem> {
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
        Ok(Some((t.unix_timestamp_nanos() / 1_000_000).max(0) as u64))
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

    fn problem_of(v: Value) -> Problem {
        let bytes = serde_json::to_vec(&v).unwrap();
        match parse(&bytes) {
            Err(p) => p,
            Ok(r) => r.validate(true).unwrap_err(),
        }
    }

    #[test]
    fn bad_requests_name_their_field() {
        let ok = json!({"to": {"users": ["a@x.example"]}, "message": {"text": "hi"}});
        assert!(parse(&serde_json::to_vec(&ok).unwrap())
            .unwrap()
            .validate(true)
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
                json!({"to": {"users": ["a@x"]}, "message": {"text": "x".repeat(30_000)}}),
                "/message/text",
            ),
        ];
        for (body, pointer) in cases {
            let p = problem_of(body.clone());
            assert_eq!(p.pointer.as_deref(), Some(pointer), "{body}: {}", p.detail);
            assert!(p.status.is_client_error());
        }
        assert_eq!(
            parse(b"{\"to\":").unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn csv_shapes() {
        assert_eq!(check_csv("upn,team\na@x,Eng\nb@x,Ops\n").unwrap(), 2);
        assert_eq!(
            check_csv("aadObjectId\nd6c5e9a2-3b1f-4c8e-9f7a-2b4d6e8f0a1c").unwrap(),
            1
        );
        assert!(check_csv("upn,team\n,Eng\n").is_err());
    }

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
