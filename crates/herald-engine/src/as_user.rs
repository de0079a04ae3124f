//! Delivery as a signed-in user, through Graph with their delegated token: a 1:1 chat per
//! recipient (Teams returns the existing one) and the message posted as HTML; or, with
//! `groupChatTopic`, one group chat with every recipient and one message in it. Recall and edit
//! of those messages go through Graph too (`softDelete`, `PATCH`), with the sender's token.

use crate::delegated::{html_of, DelegatedError};
use crate::outcome::RowOutcome;
use crate::{Engine, StoredRequest};
use herald_connector::{ConnectorError, ErrorKind};
use herald_core::ids::{ConversationId, Upn};
use herald_core::reason::Reason;
use herald_store::{Delivery, NotificationState, Outcome, Verdict};
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// Graph's limit on a group chat's members.
pub const MAX_GROUP_MEMBERS: usize = 250;

fn member(aad: &str, graph: &str) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.aadUserConversationMember",
        "roles": ["owner"],
        "user@odata.bind": format!("{}/v1.0/users('{aad}')", graph.trim_end_matches('/')),
    })
}

fn graph_failure(e: &ConnectorError) -> (Option<u16>, Reason) {
    match e.kind {
        ErrorKind::Throttled => (Some(429), Reason::Throttled),
        ErrorKind::BadRequest => (e.status.or(Some(400)), Reason::BadRequest),
        ErrorKind::TooBig => (Some(413), Reason::MessageTooBig),
        ErrorKind::NotFound => (Some(404), Reason::UnknownUser),
        _ => (e.status, Reason::ServiceError),
    }
}

fn failed(code: Option<u16>, reason: Reason, detail: String) -> RowOutcome {
    RowOutcome {
        detail: Some(detail),
        ..RowOutcome::of(Outcome::Failed, code, Some(reason))
    }
}

fn delivered(chat: String, message: String) -> RowOutcome {
    RowOutcome {
        result: Verdict {
            outcome: Outcome::Delivered,
            status_code: Some(200),
            reason: None,
        },
        activity_id: Some(message),
        // Graph's chat id; one that is not an id is not kept.
        conversation_id: ConversationId::parse(chat).ok(),
        detail: None,
        possible_duplicate: false,
    }
}

fn id_of(
    r: Result<Option<(u16, Value)>, ConnectorError>,
    what: &str,
) -> Result<String, RowOutcome> {
    match r {
        Ok(Some((_, v))) => v["id"].as_str().map(str::to_owned).ok_or_else(|| {
            failed(
                None,
                Reason::ServiceError,
                format!("Graph's {what} answer has no id"),
            )
        }),
        Ok(None) => Err(failed(
            Some(404),
            Reason::UnknownUser,
            format!("Graph: {what}: not found"),
        )),
        Err(e) => {
            let (code, reason) = graph_failure(&e);
            Err(failed(code, reason, format!("Graph: {what}: {e}")))
        }
    }
}

fn token_failure(e: DelegatedError) -> RowOutcome {
    failed(Some(401), Reason::ServiceError, e.to_string())
}

pub async fn deliver(engine: &Engine, d: &Delivery, req: &StoredRequest, upn: &Upn) -> RowOutcome {
    let Some(aad) = d.aad_object_id.clone() else {
        return RowOutcome::of(Outcome::Failed, Some(404), Some(Reason::UnknownUser));
    };
    let text = req.request.message.text.clone().unwrap_or_default();
    let body = json!({"body": {"contentType": "html", "content": html_of(&text)}});
    if let Some(topic) = &req.request.options.group_chat_topic {
        return match group(engine, d, upn, topic, &body).await {
            Ok((chat, message)) => delivered(chat, message),
            Err(why) => failed(None, Reason::ServiceError, why),
        };
    }
    let access = match engine.users.access(upn).await {
        Ok(a) => a,
        Err(e) => return token_failure(e),
    };
    if access.aad_object_id.eq_ignore_ascii_case(&aad) {
        return failed(
            Some(400),
            Reason::BadRequest,
            "a signed-in user cannot send to themselves".into(),
        );
    }
    let graph = &engine.cfg.graph_url;
    let chat = json!({"chatType": "oneOnOne", "members": [member(&access.aad_object_id, graph), member(&aad, graph)]});
    let chat_id = match id_of(
        engine
            .graph
            .as_user(&access.token, Method::POST, "/chats", Some(&chat))
            .await,
        "create chat",
    ) {
        Ok(id) => id,
        Err(o) => return o,
    };
    let path = format!(
        "/chats/{}/messages",
        herald_connector::graph_segment(&chat_id)
    );
    match id_of(
        engine
            .graph
            .as_user(&access.token, Method::POST, &path, Some(&body))
            .await,
        "post message",
    ) {
        Ok(message) => delivered(chat_id, message),
        Err(o) => o,
    }
}

/// The notification's group chat and its one message, made by the first delivery to need them.
async fn group(
    engine: &Engine,
    d: &Delivery,
    upn: &Upn,
    topic: &str,
    body: &Value,
) -> Result<(String, String), String> {
    let cell = engine
        .group_chats
        .lock()
        .entry(d.notification_id.clone())
        .or_insert_with(|| Arc::new(tokio::sync::OnceCell::new()))
        .clone();
    cell.get_or_init(|| async {
        let access = engine.users.access(upn).await.map_err(|e| e.to_string())?;
        // Every member must be known: wait for the audience to be resolved.
        for _ in 0..240 {
            match engine.store.get_notification(&d.notification_id).await {
                Ok(Some(n)) if n.resolved || n.state == NotificationState::Canceled => break,
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
        let mut members = vec![access.aad_object_id.to_ascii_lowercase()];
        let mut after = 0;
        loop {
            let rows = engine
                .store
                .list_deliveries(&d.notification_id, after, 1000)
                .await
                .map_err(|e| e.to_string())?;
            let Some(last) = rows.last() else { break };
            after = last.seq;
            for r in rows.iter().filter(|r| r.result.is_none()) {
                if let Some(a) = &r.aad_object_id {
                    let a = a.to_ascii_lowercase();
                    if !members.contains(&a) {
                        members.push(a);
                    }
                }
            }
        }
        if members.len() > MAX_GROUP_MEMBERS {
            return Err(format!(
                "a group chat holds at most {MAX_GROUP_MEMBERS} people; this one would have {}",
                members.len()
            ));
        }
        let graph = &engine.cfg.graph_url;
        let chat = json!({
            "chatType": "group",
            "topic": topic,
            "members": members.iter().map(|m| member(m, graph)).collect::<Vec<_>>(),
        });
        let chat_id = id_of(
            engine
                .graph
                .as_user(&access.token, Method::POST, "/chats", Some(&chat))
                .await,
            "create group chat",
        )
        .map_err(|o| o.detail.unwrap_or_default())?;
        let path = format!(
            "/chats/{}/messages",
            herald_connector::graph_segment(&chat_id)
        );
        let message = id_of(
            engine
                .graph
                .as_user(&access.token, Method::POST, &path, Some(body))
                .await,
            "post message",
        )
        .map_err(|o| o.detail.unwrap_or_default())?;
        Ok((chat_id, message))
    })
    .await
    .clone()
}

/// Recalls (Graph `softDelete`) or, with `new_text`, edits (`PATCH`, the text as HTML) one row's
/// message sent as `upn`, with their token (which must grant `Chat.ReadWrite`). A message already
/// deleted counts as recalled; an edit of one that is gone fails.
pub async fn change(
    engine: &Engine,
    d: &Delivery,
    upn: &Upn,
    new_text: Option<&str>,
) -> Result<(), String> {
    let (Some(chat), Some(message)) = (&d.conversation_id, &d.activity_id) else {
        return Err("the row records no chat message".into());
    };
    let access = engine
        .users
        .access_to_change(upn)
        .await
        .map_err(|e| e.to_string())?;
    let chat = herald_connector::graph_segment(chat.as_str());
    let message = herald_connector::graph_segment(message);
    match new_text {
        None => {
            let path = format!(
                "/users/{}/chats/{chat}/messages/{message}/softDelete",
                herald_connector::graph_segment(&access.aad_object_id)
            );
            engine
                .graph
                .as_user(&access.token, Method::POST, &path, None)
                .await
                .map(|_| ())
                .map_err(|e| format!("Graph: softDelete: {e}"))
        }
        Some(text) => {
            let path = format!("/chats/{chat}/messages/{message}");
            let body = json!({"body": {"contentType": "html", "content": html_of(text)}});
            match engine
                .graph
                .as_user(&access.token, Method::PATCH, &path, Some(&body))
                .await
            {
                Ok(Some(_)) => Ok(()),
                Ok(None) => Err("Graph: update message: it was deleted".into()),
                Err(e) => Err(format!("Graph: update message: {e}")),
            }
        }
    }
}
