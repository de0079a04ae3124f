//! Teams Toolkit notification bots keep their conversation references in a JSON file
//! (`.notification.localstore.json`): an object whose values are Bot Framework
//! ConversationReferences, keyed `_{tenantId}_{conversationId}`. Importing it lets their users
//! switch to Herald without reinstalling.

use herald_core::ids::{AadObjectId, ConversationId, TeamsUserId, TenantId};
use herald_store::{Reference, Source, TeamReference};
use serde::Serialize;
use serde_json::Value;

/// One entry of the file, as Herald will store it.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    User(Reference),
    Team(TeamReference),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Skipped {
    pub key: String,
    pub reason: String,
}

/// Reads the file's JSON: an object of references (or an array). Entries Herald cannot use
/// are reported, not fatal.
pub fn parse(doc: &Value) -> Result<(Vec<Entry>, Vec<Skipped>), String> {
    let items: Vec<(String, &Value)> = match doc {
        Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("[{i}]"), v))
            .collect(),
        _ => return Err("expected the store's JSON object of conversation references".into()),
    };
    let mut entries = Vec::new();
    let mut skipped = Vec::new();
    for (key, v) in items {
        match entry(v) {
            Ok(e) => entries.push(e),
            Err(reason) => skipped.push(Skipped { key, reason }),
        }
    }
    Ok((entries, skipped))
}

fn s(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str().filter(|x| !x.is_empty()).map(str::to_owned)
}

fn entry(v: &Value) -> Result<Entry, String> {
    if !v.is_object() {
        return Err("not a conversation reference object".into());
    }
    let service_url = s(v, &["serviceUrl"]).ok_or("no serviceUrl")?;
    let conv_id = s(v, &["conversation", "id"]).ok_or("no conversation.id")?;
    let tenant = s(v, &["conversation", "tenantId"]).ok_or("no conversation.tenantId")?;
    let tenant = TenantId::parse(tenant).map_err(|e| format!("conversation.tenantId: {e}"))?;
    let bot_id = s(v, &["bot", "id"]).ok_or("no bot.id")?;
    let channel = s(v, &["channelId"]).unwrap_or_else(|| "msteams".into());
    match s(v, &["conversation", "conversationType"]).as_deref() {
        Some("personal") | None => {
            let user_id = s(v, &["user", "id"]).ok_or("no user.id")?;
            let user_id = TeamsUserId::parse(user_id).map_err(|e| format!("user.id: {e}"))?;
            let aad = s(v, &["user", "aadObjectId"])
                .ok_or("no user.aadObjectId: Herald keys users by it")?;
            let aad = AadObjectId::parse(aad).map_err(|e| format!("user.aadObjectId: {e}"))?;
            let conv_id =
                ConversationId::parse(conv_id).map_err(|e| format!("conversation.id: {e}"))?;
            Ok(Entry::User(Reference {
                tenant_id: tenant,
                aad_object_id: aad,
                user_id,
                user_name: s(v, &["user", "name"]),
                upn: None,
                bot_id,
                bot_name: s(v, &["bot", "name"]),
                conversation_id: Some(conv_id),
                conversation_type: "personal".into(),
                channel_id: channel,
                service_url,
                locale: s(v, &["locale"]),
                source: Source::Imported,
            }))
        }
        Some("channel") => {
            // A channel reference's conversation id may carry `;messageid=…`; the team is its
            // first part.
            let team_id = conv_id.split(';').next().unwrap_or(&conv_id);
            let team_id =
                ConversationId::parse(team_id).map_err(|e| format!("conversation.id: {e}"))?;
            Ok(Entry::Team(TeamReference {
                tenant_id: tenant,
                general_channel_id: team_id.clone(),
                team_id,
                name: None,
                aad_group_id: None,
                bot_id,
                channel_id: channel,
                service_url,
            }))
        }
        Some(other) => Err(format!(
            "{other} conversations are not imported: Herald sends 1:1 messages"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_personal_and_team_references_and_reports_the_rest() {
        let doc = json!({
            "_t1_a:1abc": {
                "activityId": "f:1", "user": {"id": "29:1u", "name": "Ada", "aadObjectId": "aad-1"},
                "bot": {"id": "28:bot", "name": "Notifier"},
                "conversation": {"conversationType": "personal", "tenantId": "t1", "id": "a:1abc"},
                "channelId": "msteams", "locale": "en-US", "serviceUrl": "https://smba.trafficmanager.net/amer/"
            },
            "_t1_19:team@thread.tacv2": {
                "bot": {"id": "28:bot"}, "channelId": "msteams",
                "conversation": {"conversationType": "channel", "tenantId": "t1", "id": "19:team@thread.tacv2;messageid=1"},
                "serviceUrl": "https://smba.trafficmanager.net/amer/"
            },
            "_t1_19:chat@thread.v2": {
                "bot": {"id": "28:bot"}, "serviceUrl": "https://smba.trafficmanager.net/amer/",
                "conversation": {"conversationType": "groupChat", "tenantId": "t1", "id": "19:chat@thread.v2"}
            },
            "_t1_a:noaad": {
                "user": {"id": "29:x"}, "bot": {"id": "28:bot"}, "serviceUrl": "https://smba.trafficmanager.net/amer/",
                "conversation": {"conversationType": "personal", "tenantId": "t1", "id": "a:noaad"}
            }
        });
        let (entries, skipped) = parse(&doc).unwrap();
        assert_eq!(entries.len(), 2);
        assert!(entries.iter().any(|e| matches!(e, Entry::User(r) if r.aad_object_id == "aad-1" && r.conversation_id.as_deref() == Some("a:1abc"))));
        assert!(entries
            .iter()
            .any(|e| matches!(e, Entry::Team(t) if t.team_id == "19:team@thread.tacv2")));
        assert_eq!(skipped.len(), 2);
        assert!(skipped.iter().any(|s| s.reason.contains("groupChat")));
        assert!(skipped.iter().any(|s| s.reason.contains("aadObjectId")));
        assert!(parse(&json!("nope")).is_err());
    }
}
