//! Bot Connector REST v3 as Teams serves it: bearer tokens, the roster and block rules, the
//! 28 KB size limit, per-conversation and tenant throttling, injected faults, and Teams' error
//! codes for each situation (`docs/teams.md`).
//!
//! Over 600 lines because the connector's pipeline is one ordered sequence of checks, read top to
//! bottom; each operation's handler is short.

use crate::error::{self, connector as err, is_json};
use crate::faults::{self, Fault};
use crate::limits::OpClass;
use crate::world::{ConvKind, World};
use crate::{aad::TokenProblem, Shared};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use herald_wire::aad::AUDIENCE_BOT_FRAMEWORK;
use herald_wire::activity::MAX_ACTIVITY_BYTES;
use herald_wire::connector::{codes, ConversationParameters};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::faults::HOLD;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v3/conversations", post(create))
        .route("/v3/conversations/{cid}/activities", post(send))
        .route(
            "/v3/conversations/{cid}/activities/{aid}",
            post(reply).put(update).delete(delete),
        )
        .route("/v3/conversations/{cid}/members", get(members))
        .route("/v3/conversations/{cid}/members/{mid}", get(member))
        .route("/v3/conversations/{cid}/pagedmembers", get(paged_members))
        .route("/v3/teams/{tid}/conversations", get(channels))
        .route("/v3/teams/{tid}", get(team_details))
}

type Outcome = Result<Response, Response>;

fn done(r: Result<Response, Response>) -> Response {
    r.unwrap_or_else(|e| e)
}

/// What every connector request goes through before its operation: latency, the bearer
/// token, the bot's registration and admin state, injected faults, the tenant budget.
async fn gate(s: &Shared, headers: &HeaderMap) -> Result<(), Response> {
    let (latency, fault, tenant_rps, registered, disabled) = {
        let c = s.config.read();
        let seq = s
            .fault_seq
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        (
            c.faults.latency_ms,
            faults::draw(&c.faults, seq),
            c.tenant_rps,
            c.bot_registered,
            c.bot_disabled,
        )
    };
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    match s.bearer(headers) {
        Ok(claims) if claims.aud != AUDIENCE_BOT_FRAMEWORK => {
            return Err(unauthorized(
                "the token's audience is not the Bot Connector",
            ));
        }
        Ok(claims) if claims.appid != s.app_id || !registered => {
            return Err(err(
                StatusCode::UNAUTHORIZED,
                codes::BOT_NOT_REGISTERED,
                format!(
                    "The bot with app id {} is not registered with the Bot Framework.",
                    claims.appid
                ),
            ));
        }
        Ok(_) => {}
        Err(TokenProblem::Missing) => return Err(unauthorized("no bearer token")),
        Err(TokenProblem::Expired) => return Err(unauthorized("the token has expired")),
        Err(TokenProblem::Invalid(why)) => return Err(unauthorized(&why)),
    }
    if disabled {
        return Err(err(
            StatusCode::FORBIDDEN,
            codes::BOT_DISABLED_BY_ADMIN,
            "The tenant admin disabled this bot.",
        ));
    }
    match fault {
        Fault::None => {}
        Fault::Hold => {
            tokio::time::sleep(HOLD).await;
            return Err(err(
                StatusCode::GATEWAY_TIMEOUT,
                codes::GATEWAY_TIMEOUT,
                "The request timed out.",
            ));
        }
        Fault::Status(code) => return Err(injected(code)),
    }
    let now = s.clock.now_ms();
    if let Err(t) = s.limits.lock().tenant(tenant_rps, now) {
        return Err(error::throttled(
            err(
                StatusCode::TOO_MANY_REQUESTS,
                codes::THROTTLED,
                format!("The app exceeded its limit of {tenant_rps} requests per second in this tenant."),
            ),
            t.retry_after_ms,
        ));
    }
    Ok(())
}

fn unauthorized(why: &str) -> Response {
    tracing::debug!(why, "connector request refused");
    err(
        StatusCode::UNAUTHORIZED,
        codes::UNAUTHORIZED,
        "Authorization has been denied for this request.",
    )
}

fn injected(code: u16) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (c, m) = match code {
        412 => (
            codes::PRECONDITION_FAILED,
            "The conversation was modified concurrently.",
        ),
        503 => (codes::SERVICE_UNAVAILABLE, "The service is unavailable."),
        504 => (codes::GATEWAY_TIMEOUT, "The request timed out."),
        _ => (codes::SERVICE_ERROR, "The service encountered an error."),
    };
    err(status, c, m)
}

/// A conversation's canonical id and kind, or 404.
fn resolve(s: &Shared, cid: &str) -> Result<(String, ConvKind), Response> {
    let w = s.world.lock();
    w.conversation(cid)
        .map(|c| (c.id.clone(), c.kind))
        .ok_or_else(|| {
            err(
                StatusCode::NOT_FOUND,
                codes::CONVERSATION_NOT_FOUND,
                "Conversation not found.",
            )
        })
}

fn thread_budget(s: &Shared, conv: &str, op: OpClass) -> Result<(), Response> {
    if !s.config.read().conversation_limits {
        return Ok(());
    }
    let now = s.clock.now_ms();
    s.limits.lock().thread(conv, op, now).map_err(|t| {
        error::throttled(
            err(
                StatusCode::TOO_MANY_REQUESTS,
                codes::THROTTLED,
                format!(
                    "Too many requests in this conversation: at most {} in {} s.",
                    t.window.limit,
                    t.window.period_ms / 1000
                ),
            ),
            t.retry_after_ms,
        )
    })
}

/// May the bot act in this conversation? `writes` adds the user's block.
fn roster(s: &Shared, w: &World, kind: ConvKind, writes: bool) -> Result<(), Response> {
    let not_in_roster = || {
        err(
            StatusCode::FORBIDDEN,
            codes::BOT_NOT_IN_CONVERSATION_ROSTER,
            "The bot is not part of the conversation roster.",
        )
    };
    match kind {
        ConvKind::Personal(u) => {
            if !w.reachable(u) {
                return Err(not_in_roster());
            }
            if writes && w.users[u].blocked {
                if s.config.read().legacy_blocked_errors {
                    return Err(error::json_response(
                        StatusCode::FORBIDDEN,
                        &json!({"errorCode": 209, "message": "{\"subCode\":\"MessageWritesBlocked\",\"details\":\"Thread is blocked from message writes.\",\"errorCode\":null,\"errorSubCode\":null}"}),
                    ));
                }
                return Err(err(
                    StatusCode::FORBIDDEN,
                    codes::CONVERSATION_BLOCKED_BY_USER,
                    "User blocked the conversation with the bot.",
                ));
            }
        }
        ConvKind::Channel(t) => {
            if w.team_deleted[t] {
                return Err(err(
                    StatusCode::NOT_FOUND,
                    codes::CONVERSATION_NOT_FOUND,
                    "Conversation not found.",
                ));
            }
            if !w.tenant.teams[t].bot_installed {
                return Err(not_in_roster());
            }
        }
        ConvKind::GroupChat(g) => {
            if !w.group_chats[g].bot_installed {
                return Err(not_in_roster());
            }
        }
    }
    Ok(())
}

fn bad(message: impl Into<String>) -> Response {
    err(StatusCode::BAD_REQUEST, codes::BAD_ARGUMENT, message)
}

fn check_body(headers: &HeaderMap, body: &Bytes) -> Result<(), Response> {
    if !is_json(headers) {
        return Err(err(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            codes::UNSUPPORTED_MEDIA_TYPE,
            "The request entity's media type is not supported; send application/json.",
        ));
    }
    if body.len() > MAX_ACTIVITY_BYTES {
        return Err(too_big(body.len()));
    }
    Ok(())
}

fn too_big(len: usize) -> Response {
    err(
        StatusCode::PAYLOAD_TOO_LARGE,
        codes::MESSAGE_SIZE_TOO_BIG,
        format!("Activity body too large for processing: {len} bytes, the limit is {MAX_ACTIVITY_BYTES}."),
    )
}

/// Parses and checks an activity the bot sends.
pub fn parse_activity(headers: &HeaderMap, body: &Bytes) -> Result<Value, Response> {
    check_body(headers, body)?;
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| bad(format!("The activity is not valid JSON: {e}")))?;
    validate_activity(&v)?;
    Ok(v)
}

fn validate_activity(v: &Value) -> Result<(), Response> {
    let Some(obj) = v.as_object() else {
        return Err(bad("The activity must be a JSON object."));
    };
    let kind = match obj.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(_) => return Err(bad("Activity type must be a string.")),
        None => return Err(bad("Activity type is required.")),
    };
    match kind {
        "message" => {
            let text = match obj.get("text") {
                None | Some(Value::Null) => "",
                Some(Value::String(t)) => t.as_str(),
                Some(_) => return Err(bad("Activity text must be a string.")),
            };
            let attachments = match obj.get("attachments") {
                None | Some(Value::Null) => 0,
                Some(Value::Array(a)) => {
                    for (i, att) in a.iter().enumerate() {
                        if !att.get("contentType").is_some_and(Value::is_string) {
                            return Err(bad(format!("attachments[{i}].contentType is required.")));
                        }
                    }
                    a.len()
                }
                Some(_) => return Err(bad("Activity attachments must be an array.")),
            };
            if text.trim().is_empty() && attachments == 0 {
                return Err(bad("A message needs text or attachments."));
            }
        }
        "typing" => {}
        other => return Err(bad(format!("Unsupported activity type '{other}'."))),
    }
    if let Some(cd) = obj.get("channelData") {
        if !cd.is_object() && !cd.is_null() {
            return Err(bad("channelData must be an object."));
        }
    }
    Ok(())
}

/// Stores an activity the bot sent (when transcripts are on) and returns its id.
fn store_from_bot(
    s: &Shared,
    w: &mut World,
    conv: &str,
    kind: ConvKind,
    mut activity: Value,
    reply_to: Option<&str>,
) -> String {
    let id = w.new_id();
    if s.config.read().transcripts {
        let now = s.clock.now_ms();
        activity["id"] = json!(id);
        activity["timestamp"] = json!(herald_core::clock::rfc3339_ms(now));
        activity["from"] = w.bot_account();
        activity["conversation"] = w.conversation_account(kind, conv);
        if let Some(r) = reply_to {
            activity["replyToId"] = json!(r);
        }
        let raw = activity.to_string();
        if let Some(c) = w.conversation_mut(conv) {
            c.push(id.clone(), raw);
        }
    }
    id
}

async fn send(
    State(s): State<Arc<Shared>>,
    Path(cid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done(post_activity(&s, &cid, None, &headers, &body).await)
}

async fn reply(
    State(s): State<Arc<Shared>>,
    Path((cid, aid)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done(post_activity(&s, &cid, Some(&aid), &headers, &body).await)
}

/// Gate, conversation and send budget: what every write passes before its body is read.
async fn writable(
    s: &Shared,
    headers: &HeaderMap,
    cid: &str,
) -> Result<(String, ConvKind), Response> {
    gate(s, headers).await?;
    let (conv, kind) = resolve(s, cid)?;
    thread_budget(s, &conv, OpClass::Send)?;
    Ok((conv, kind))
}

async fn post_activity(
    s: &Shared,
    cid: &str,
    reply_to: Option<&str>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Outcome {
    let (conv, kind) = writable(s, headers, cid).await?;
    let activity = parse_activity(headers, body)?;
    let transcripts = s.config.read().transcripts;
    let mut w = s.world.lock();
    roster(s, &w, kind, true)?;
    if let (Some(aid), true) = (reply_to, transcripts) {
        if w.conversation(&conv).and_then(|c| c.find(aid)).is_none() {
            return Err(activity_not_found());
        }
    }
    let id = store_from_bot(s, &mut w, &conv, kind, activity, reply_to);
    drop(w);
    // A message carried out: a repeat of an earlier one (same conversation, same body) counts.
    s.stats.lock().message_sent(&conv, body);
    Ok((StatusCode::CREATED, Json(json!({"id": id}))).into_response())
}

fn activity_not_found() -> Response {
    err(
        StatusCode::NOT_FOUND,
        codes::ACTIVITY_NOT_FOUND,
        "The activity was not found in the conversation.",
    )
}

/// Finds a stored activity the bot may change: it exists, is not deleted, and is the bot's.
fn own_activity<'a>(
    w: &'a mut World,
    conv: &str,
    aid: &str,
    bot_id: &str,
) -> Result<&'a mut crate::world::Stored, Response> {
    let stored = w
        .conversation_mut(conv)
        .and_then(|c| c.find_mut(aid))
        .filter(|a| !a.deleted)
        .ok_or_else(activity_not_found)?;
    let from: Value = serde_json::from_str(&stored.raw).unwrap_or(Value::Null);
    if from["from"]["id"].as_str() != Some(bot_id) {
        return Err(err(
            StatusCode::FORBIDDEN,
            codes::FORBIDDEN_OPERATION,
            "The bot can only change its own activities.",
        ));
    }
    Ok(stored)
}

async fn update(
    State(s): State<Arc<Shared>>,
    Path((cid, aid)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done(
        async {
            let (conv, kind) = writable(&s, &headers, &cid).await?;
            let mut activity = parse_activity(&headers, &body)?;
            let transcripts = s.config.read().transcripts;
            let now = s.clock.now_ms();
            let mut w = s.world.lock();
            roster(&s, &w, kind, true)?;
            if transcripts {
                let bot = w.bot_account();
                let conv_account = w.conversation_account(kind, &conv);
                let stored = own_activity(&mut w, &conv, &aid, bot["id"].as_str().unwrap_or(""))?;
                activity["id"] = json!(aid);
                activity["timestamp"] = json!(herald_core::clock::rfc3339_ms(now));
                activity["from"] = bot;
                activity["conversation"] = conv_account;
                let previous = std::mem::replace(&mut stored.raw, activity.to_string());
                stored.history.push(previous);
                stored.updated = true;
            }
            Ok(Json(json!({"id": aid})).into_response())
        }
        .await,
    )
}

async fn delete(
    State(s): State<Arc<Shared>>,
    Path((cid, aid)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    done(
        async {
            let (conv, kind) = writable(&s, &headers, &cid).await?;
            let transcripts = s.config.read().transcripts;
            let mut w = s.world.lock();
            roster(&s, &w, kind, true)?;
            if transcripts {
                let bot = w.bot_id();
                own_activity(&mut w, &conv, &aid, &bot)?.deleted = true;
            }
            Ok(StatusCode::OK.into_response())
        }
        .await,
    )
}

/// Gate, resolve, read budget and roster for the member reads.
async fn readable(s: &Shared, headers: &HeaderMap, cid: &str) -> Result<Vec<usize>, Response> {
    gate(s, headers).await?;
    let (conv, kind) = resolve(s, cid)?;
    thread_budget(s, &conv, OpClass::Read)?;
    let w = s.world.lock();
    roster(s, &w, kind, false)?;
    Ok(w.members(kind))
}

async fn members(
    State(s): State<Arc<Shared>>,
    Path(cid): Path<String>,
    headers: HeaderMap,
) -> Response {
    done(
        async {
            let m = readable(&s, &headers, &cid).await?;
            let w = s.world.lock();
            let list: Vec<Value> = m.into_iter().map(|u| w.account(u)).collect();
            Ok(Json(list).into_response())
        }
        .await,
    )
}

async fn member(
    State(s): State<Arc<Shared>>,
    Path((cid, mid)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    done(
        async {
            let m = readable(&s, &headers, &cid).await?;
            let w = s.world.lock();
            match w.find_user(&mid).filter(|u| m.contains(u)) {
                Some(u) => Ok(Json(w.account(u)).into_response()),
                None => Err(err(
                    StatusCode::NOT_FOUND,
                    codes::MEMBER_NOT_FOUND,
                    "The member was not found in the conversation.",
                )),
            }
        }
        .await,
    )
}

const PAGE_MIN: usize = 50;
const PAGE_MAX: usize = 500;
const PAGE_DEFAULT: usize = 200;

async fn paged_members(
    State(s): State<Arc<Shared>>,
    Path(cid): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    done(
        async {
            let q: HashMap<String, String> =
                serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
            let size = match q.get("pageSize").filter(|v| !v.is_empty()) {
                None => PAGE_DEFAULT,
                Some(v) => v
                    .parse::<usize>()
                    .map_err(|_| bad(format!("pageSize '{v}' is not a number.")))?
                    .clamp(PAGE_MIN, PAGE_MAX),
            };
            let m = readable(&s, &headers, &cid).await?;
            let offset = match q.get("continuationToken").filter(|v| !v.is_empty()) {
                None => 0,
                Some(t) => decode_continuation(t, &cid)
                    .filter(|&o| o <= m.len())
                    .ok_or_else(|| bad("The continuation token is not valid."))?,
            };
            let end = (offset + size).min(m.len());
            let w = s.world.lock();
            let page: Vec<Value> = m[offset..end].iter().map(|&u| w.account(u)).collect();
            let mut body = json!({"members": page});
            if end < m.len() {
                body["continuationToken"] = json!(encode_continuation(end, &cid));
            }
            Ok(Json(body).into_response())
        }
        .await,
    )
}

fn encode_continuation(offset: usize, cid: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{offset}|{cid}"))
}

fn decode_continuation(token: &str, cid: &str) -> Option<usize> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
    let (offset, for_cid) = raw.split_once('|')?;
    (for_cid == cid).then(|| offset.parse().ok())?
}

/// A team by its Bot Framework id, checked like a channel conversation.
async fn team(s: &Shared, headers: &HeaderMap, tid: &str) -> Result<usize, Response> {
    gate(s, headers).await?;
    let t = s.world.lock().find_team(tid).ok_or_else(|| {
        err(
            StatusCode::NOT_FOUND,
            codes::CONVERSATION_NOT_FOUND,
            "Team not found.",
        )
    })?;
    let thread = s.world.lock().tenant.teams[t].thread_id.clone();
    thread_budget(s, &thread, OpClass::Read)?;
    let w = s.world.lock();
    roster(s, &w, ConvKind::Channel(t), false)?;
    Ok(t)
}

async fn channels(
    State(s): State<Arc<Shared>>,
    Path(tid): Path<String>,
    headers: HeaderMap,
) -> Response {
    done(
        async {
            let t = team(&s, &headers, &tid).await?;
            let id = s.world.lock().tenant.teams[t].thread_id.clone();
            Ok(Json(json!({"conversations": [{"id": id, "name": null}]})).into_response())
        }
        .await,
    )
}

async fn team_details(
    State(s): State<Arc<Shared>>,
    Path(tid): Path<String>,
    headers: HeaderMap,
) -> Response {
    done(
        async {
            let t = team(&s, &headers, &tid).await?;
            let w = s.world.lock();
            let team = &w.tenant.teams[t];
            Ok(
                Json(json!({"id": team.thread_id, "name": team.name, "aadGroupId": team.group_id}))
                    .into_response(),
            )
        }
        .await,
    )
}

/// `POST /v3/conversations`: the 1:1 conversation with a user, created once and then reused.
async fn create(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    done(create_conversation(&s, &headers, &body).await)
}

async fn create_conversation(s: &Shared, headers: &HeaderMap, body: &Bytes) -> Outcome {
    gate(s, headers).await?;
    if !is_json(headers) {
        return Err(err(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            codes::UNSUPPORTED_MEDIA_TYPE,
            "The request entity's media type is not supported; send application/json.",
        ));
    }
    let raw: Value = serde_json::from_slice(body)
        .map_err(|e| bad(format!("The body is not valid JSON: {e}")))?;
    let params: ConversationParameters = serde_json::from_value(raw.clone())
        .map_err(|e| bad(format!("The conversation parameters are not valid: {e}")))?;
    if params.is_group == Some(true) {
        return Err(bad(
            "Bots can create 1:1 conversations only; isGroup must be false.",
        ));
    }
    let tenant = params
        .channel_data
        .as_ref()
        .and_then(|cd| cd["tenant"]["id"].as_str())
        .map(str::to_owned)
        .or(params.tenant_id.clone())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| bad("A tenant id is required: set channelData.tenant.id."))?;
    let now = s.clock.now_ms();
    let (conv, kind, created) = {
        let mut w = s.world.lock();
        if !tenant.eq_ignore_ascii_case(&w.tenant.tenant_id) {
            return Err(bad(format!("Tenant '{tenant}' is not the bot's tenant.")));
        }
        if let Some(bot) = &params.bot {
            if bot.id != w.bot_id() && bot.id != w.tenant.app_id {
                return Err(bad(format!("'{}' is not this bot's id.", bot.id)));
            }
        }
        let [member] = params.members.as_slice() else {
            return Err(bad(format!(
                "A 1:1 conversation takes exactly one member; {} given.",
                params.members.len()
            )));
        };
        if member.id.contains('@') {
            return Err(bad(
                "Member id must be a Teams user id or an AAD object id; a UPN or e-mail address is not accepted.",
            ));
        }
        let user = w.find_user(&member.id).ok_or_else(|| {
            bad(format!(
                "Member '{}' was not found in the tenant.",
                member.id
            ))
        })?;
        if !w.reachable(user) {
            return Err(err(
                StatusCode::FORBIDDEN,
                codes::BOT_NOT_IN_CONVERSATION_ROSTER,
                "The bot is not part of the conversation roster.",
            ));
        }
        let created = w.existing_personal(user).is_none();
        let conv = w.personal_conversation(user);
        (conv, ConvKind::Personal(user), created)
    };
    s.stats.lock().conversation_request(&conv, now);
    thread_budget(s, &conv, OpClass::Create)?;
    let mut out = json!({"id": conv});
    if let Some(activity) = raw.get("activity").filter(|a| !a.is_null()) {
        let len = activity.to_string().len();
        if len > MAX_ACTIVITY_BYTES {
            return Err(too_big(len));
        }
        validate_activity(activity)?;
        let mut w = s.world.lock();
        roster(s, &w, kind, true)?;
        let id = store_from_bot(s, &mut w, &conv, kind, activity.clone(), None);
        out["activityId"] = json!(id);
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(out)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_tokens_round_trip_and_bind_to_their_conversation() {
        let t = encode_continuation(150, "19:abc@thread.tacv2");
        assert_eq!(decode_continuation(&t, "19:abc@thread.tacv2"), Some(150));
        assert_eq!(decode_continuation(&t, "19:other@thread.tacv2"), None);
        assert_eq!(decode_continuation("garbage!", "x"), None);
    }

    #[test]
    fn activity_rules() {
        assert!(validate_activity(&json!({"type": "message", "text": "hi"})).is_ok());
        assert!(validate_activity(
            &json!({"type": "message", "attachments": [{"contentType": "x"}]})
        )
        .is_ok());
        assert!(validate_activity(&json!({"type": "message"})).is_err());
        assert!(validate_activity(&json!({"type": "message", "text": 5})).is_err());
        assert!(validate_activity(&json!({"text": "hi"})).is_err());
        assert!(validate_activity(&json!([1])).is_err());
        assert!(validate_activity(&json!({"type": "message", "attachments": [{}]})).is_err());
        assert!(validate_activity(&json!({"type": "bogus", "text": "x"})).is_err());
    }
}
