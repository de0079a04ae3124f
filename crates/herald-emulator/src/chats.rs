//! Graph's chats and chat messages, for people signed in through Herald (delegated tokens only,
//! as Graph insists): create a 1:1 or group chat, post a message, and change one's own message
//! (`PATCH`, `softDelete`), which needs the delegated `Chat.ReadWrite` the sign-in asked for.

use crate::aad::IssuedClaims;
use crate::error::is_json;
use crate::graph::{done, find_user, gate, gerr};
use crate::Shared;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use bytes::Bytes;
use herald_core::clock::rfc3339_ms;
use serde_json::{json, Value};
use std::sync::Arc;

/// The delegated permission changing or deleting one's chat messages needs.
pub const CHANGE_SCOPE: &str = "Chat.ReadWrite";

pub fn routes(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1.0/chats", post(create_chat))
        .route("/v1.0/chats/{id}", get(get_chat))
        .route(
            "/v1.0/chats/{id}/messages",
            get(list_messages).post(post_message),
        )
        .route("/v1.0/chats/{id}/messages/{message}", patch(update_message))
        .route(
            "/v1.0/users/{user}/chats/{id}/messages/{message}/softDelete",
            post(soft_delete),
        )
        .with_state(shared)
}

fn user_ref(bind: &str) -> Option<&str> {
    if let Some(rest) = bind.split("users('").nth(1) {
        return rest.split("')").next();
    }
    bind.split("/users/")
        .nth(1)
        .map(|r| r.trim_end_matches('/'))
}

fn chat_json(s: &Shared, id: &str) -> Option<Value> {
    let w = s.world.lock();
    let c = w.chats.get(id)?;
    Some(json!({
        "id": c.id,
        "topic": c.topic,
        "createdDateTime": rfc3339_ms(c.created_ms),
        "lastUpdatedDateTime": rfc3339_ms(c.messages.last().map_or(c.created_ms, |m| m.created_ms)),
        "chatType": c.chat_type,
        "webUrl": format!("{}/l/chat/{}/0", s.origin, c.id),
        "tenantId": w.tenant.tenant_id,
    }))
}

async fn create_chat(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    done((|| {
        let claims = gate(&s, &headers)?;
        let bad = |m: String| gerr(&s, StatusCode::BAD_REQUEST, "BadRequest", m);
        if !is_json(&headers) {
            return Err(bad("Content-Type must be application/json.".into()));
        }
        let v: Value = serde_json::from_slice(&body)
            .map_err(|_| bad("Invalid JSON in the request body.".into()))?;
        let chat_type = v["chatType"].as_str().unwrap_or_default();
        let members = v["members"].as_array().cloned().unwrap_or_default();
        let mut ids = Vec::new();
        for (i, m) in members.iter().enumerate() {
            let bind = m["user@odata.bind"]
                .as_str()
                .and_then(user_ref)
                .ok_or_else(|| bad(format!("members[{i}] needs 'user@odata.bind'.")))?;
            let u = find_user(&s, bind)?;
            if !ids.contains(&u) {
                ids.push(u);
            }
        }
        if let Some(oid) = &claims.oid {
            let me = find_user(&s, oid)?;
            if !ids.contains(&me) {
                return Err(gerr(
                    &s,
                    StatusCode::FORBIDDEN,
                    "Forbidden",
                    "The signed-in user must be a member of the chat.",
                ));
            }
        }
        let now = s.clock.now_ms();
        let id = match chat_type {
            "oneOnOne" => {
                let [a, b] = ids[..] else {
                    return Err(bad(format!(
                        "A oneOnOne chat needs exactly 2 members; {} given.",
                        ids.len()
                    )));
                };
                s.world.lock().one_on_one_chat(a, b, now).0
            }
            "group" => {
                if ids.len() < 2 {
                    return Err(bad("A group chat needs at least 2 members.".into()));
                }
                let topic = v["topic"]
                    .as_str()
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| bad("A group chat needs a topic.".into()))?;
                s.world.lock().group_chat(ids, topic.to_owned(), now)
            }
            other => {
                return Err(bad(format!(
                    "Invalid chatType '{other}': use oneOnOne or group."
                )))
            }
        };
        Ok((
            StatusCode::CREATED,
            Json(chat_json(&s, &id).unwrap_or(Value::Null)),
        )
            .into_response())
    })())
}

fn chat_not_found(s: &Shared, id: &str) -> Response {
    gerr(
        s,
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("Chat '{id}' was not found."),
    )
}

async fn get_chat(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    done((|| {
        gate(&s, &headers)?;
        Ok(Json(chat_json(&s, &id).ok_or_else(|| chat_not_found(&s, &id))?).into_response())
    })())
}

fn message_json(s: &Shared, chat: &str, m: &crate::world::ChatMessage) -> Value {
    let w = s.world.lock();
    let u = &w.tenant.users[m.from];
    json!({
        "id": m.id,
        "chatId": chat,
        "messageType": "message",
        "createdDateTime": rfc3339_ms(m.created_ms),
        "lastModifiedDateTime": rfc3339_ms(m.deleted_ms.or(m.edited_ms).unwrap_or(m.created_ms)),
        "lastEditedDateTime": m.edited_ms.map(rfc3339_ms),
        "deletedDateTime": m.deleted_ms.map(rfc3339_ms),
        "from": {"user": {"id": u.aad, "displayName": u.display_name, "userIdentityType": "aadUser", "tenantId": u.home_tenant}},
        "body": {"contentType": m.content_type, "content": m.content},
    })
}

async fn list_messages(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    done((|| {
        gate(&s, &headers)?;
        let msgs = s
            .world
            .lock()
            .chats
            .get(&id)
            .map(|c| c.messages.clone())
            .ok_or_else(|| chat_not_found(&s, &id))?;
        let items: Vec<Value> = msgs
            .iter()
            .rev()
            .map(|m| message_json(&s, &id, m))
            .collect();
        Ok(Json(json!({"value": items})).into_response())
    })())
}

/// A chat message's `body`: its content (required) and `contentType` (`text`, the default, or
/// `html`).
fn message_body(s: &Shared, body: &[u8]) -> Result<(String, String), Response> {
    let bad = |m: &str| gerr(s, StatusCode::BAD_REQUEST, "BadRequest", m);
    let v: Value =
        serde_json::from_slice(body).map_err(|_| bad("Invalid JSON in the request body."))?;
    let content = v["body"]["content"]
        .as_str()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| bad("The message body's content is required."))?;
    match v["body"]["contentType"].as_str().unwrap_or("text") {
        t @ ("text" | "html") => Ok((content.to_owned(), t.to_owned())),
        other => Err(bad(&format!(
            "Invalid contentType '{other}': use text or html."
        ))),
    }
}

async fn post_message(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done((|| {
        let claims = gate(&s, &headers)?;
        let Some(oid) = claims.oid.clone() else {
            return Err(gerr(
                &s,
                StatusCode::FORBIDDEN,
                "Forbidden",
                "Message POST is allowed in application-only context only for import purposes. Send as a signed-in user with a delegated token.",
            ));
        };
        let (content, content_type) = message_body(&s, &body)?;
        let me = find_user(&s, &oid)?;
        let now = s.clock.now_ms();
        let msg = {
            let mut w = s.world.lock();
            let msg_id = w.new_id();
            let chat = w
                .chats
                .get_mut(&id)
                .ok_or_else(|| chat_not_found(&s, &id))?;
            if !chat.members.contains(&me) {
                return Err(gerr(
                    &s,
                    StatusCode::FORBIDDEN,
                    "Forbidden",
                    "The signed-in user is not a member of the chat.",
                ));
            }
            let m = crate::world::ChatMessage {
                id: msg_id,
                from: me,
                content_type,
                content,
                created_ms: now,
                edited_ms: None,
                deleted_ms: None,
            };
            chat.messages.push(m.clone());
            m
        };
        Ok((StatusCode::CREATED, Json(message_json(&s, &id, &msg))).into_response())
    })())
}

/// The signed-in user of a delegated token that holds `Chat.ReadWrite`: what changing a message
/// needs. An app token, or a sign-in that did not ask for it, is a 403 naming the scope.
fn changer(s: &Shared, claims: &IssuedClaims) -> Result<usize, Response> {
    let forbidden = |m: String| gerr(s, StatusCode::FORBIDDEN, "Forbidden", m);
    let Some(oid) = &claims.oid else {
        return Err(forbidden(
            "Changing a chat message needs a delegated token: sign in as its sender.".into(),
        ));
    };
    let scopes = claims.scp.as_deref().unwrap_or("");
    if !scopes
        .split_whitespace()
        .any(|g| g.eq_ignore_ascii_case(CHANGE_SCOPE))
    {
        return Err(forbidden(format!(
            "Missing scope permissions on the request. API requires one of '{CHANGE_SCOPE}'. Scopes on the request '{scopes}'"
        )));
    }
    find_user(s, oid)
}

/// Applies `change` to message `message` of chat `chat`, sent by `me`: 404 if either is unknown
/// or the message was deleted, 403 if it is someone else's.
fn change_message(
    s: &Shared,
    chat: &str,
    message: &str,
    me: usize,
    change: impl FnOnce(&mut crate::world::ChatMessage),
) -> Result<(), Response> {
    let mut w = s.world.lock();
    let c = w
        .chats
        .get_mut(chat)
        .ok_or_else(|| chat_not_found(s, chat))?;
    let m = c
        .messages
        .iter_mut()
        .find(|m| m.id == message && m.deleted_ms.is_none())
        .ok_or_else(|| {
            gerr(
                s,
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("Message '{message}' was not found in chat '{chat}'."),
            )
        })?;
    if m.from != me {
        return Err(gerr(
            s,
            StatusCode::FORBIDDEN,
            "Forbidden",
            "Only the sender of a message can change it.",
        ));
    }
    change(m);
    Ok(())
}

/// `PATCH /chats/{id}/messages/{message}`: the sender replaces the body → 204.
async fn update_message(
    State(s): State<Arc<Shared>>,
    Path((chat, message)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done((|| {
        let claims = gate(&s, &headers)?;
        let me = changer(&s, &claims)?;
        let (content, content_type) = message_body(&s, &body)?;
        let now = s.clock.now_ms();
        change_message(&s, &chat, &message, me, |m| {
            m.content = content;
            m.content_type = content_type;
            m.edited_ms = Some(now);
        })?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })())
}

/// `POST /users/{user}/chats/{id}/messages/{message}/softDelete`: the sender (who must be the
/// `{user}` of the path) deletes it → 204; the message stays listed with `deletedDateTime`.
async fn soft_delete(
    State(s): State<Arc<Shared>>,
    Path((user, chat, message)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    done((|| {
        let claims = gate(&s, &headers)?;
        let me = changer(&s, &claims)?;
        if find_user(&s, &user)? != me {
            return Err(gerr(
                &s,
                StatusCode::FORBIDDEN,
                "Forbidden",
                "A signed-in user can only delete their own messages.",
            ));
        }
        let now = s.clock.now_ms();
        change_message(&s, &chat, &message, me, |m| m.deleted_ms = Some(now))?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })())
}
