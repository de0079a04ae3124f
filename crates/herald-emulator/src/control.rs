//! The emulator's own control API under `/_emulator` (docs/reference.md): the simulated people act, the
//! tenant and transcripts are read, throttling and faults are set, keys rotate.
//!
//! Over 600 lines because it is one short handler per control route (people, teams, group chats,
//! stats, config).

use crate::config::ConfigPatch;
use crate::error::{control_json, problem};
use crate::people::{self, PeopleError};
use crate::Shared;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_emulator/tenant", get(tenant))
        .route("/_emulator/stats", get(stats).delete(reset_stats))
        .route("/_emulator/config", get(get_config).put(put_config))
        .route("/_emulator/keys/rotate", post(rotate))
        .route("/_emulator/channel-token", post(channel_token))
        .route("/_emulator/users/{user}/install", post(install))
        .route("/_emulator/users/{user}/uninstall", post(uninstall))
        .route("/_emulator/users/{user}/block", post(block))
        .route("/_emulator/users/{user}/unblock", post(unblock))
        .route("/_emulator/users/{user}/messages", post(message))
        .route("/_emulator/users/{user}/actions", post(action))
        .route("/_emulator/users/{user}/read", post(read))
        .route("/_emulator/users/{user}/react", post(react))
        .route(
            "/_emulator/users/{user}/settings",
            get(settings).put(put_settings),
        )
        .route("/_emulator/users/{user}/transcript", get(transcript))
        .route("/_emulator/users/{user}/feed", get(feed))
        .route("/_emulator/teams/{team}/install", post(team_install))
        .route("/_emulator/teams/{team}/uninstall", post(team_uninstall))
        .route("/_emulator/teams/{team}/delete", post(team_delete))
        .route("/_emulator/teams/{team}/restore", post(team_restore))
        .route("/_emulator/teams/{team}/members", post(team_add_member))
        .route("/_emulator/users/{user}/clear-history", post(clear_history))
        .route("/_emulator/groupchats", post(group_chat_create))
        .route(
            "/_emulator/groupchats/{chat}/install",
            post(group_chat_install),
        )
        .route(
            "/_emulator/groupchats/{chat}/uninstall",
            post(group_chat_uninstall),
        )
        .route(
            "/_emulator/groupchats/{chat}/messages",
            post(group_chat_message),
        )
        .route(
            "/_emulator/groupchats/{chat}/transcript",
            get(group_chat_transcript),
        )
        .route("/_emulator/chats", get(chats))
        .route("/_emulator/devicelogin", post(device_login))
        .route("/_emulator/issued-tokens", get(issued_tokens))
}

fn user(s: &Shared, key: &str) -> Result<usize, Response> {
    s.world.lock().find_user(key).ok_or_else(|| {
        problem(
            StatusCode::NOT_FOUND,
            "unknown-user",
            format!("no user `{key}` in the tenant; use a UPN or an AAD object id"),
            None,
        )
    })
}

fn team(s: &Shared, key: &str) -> Result<usize, Response> {
    s.world.lock().find_team(key).ok_or_else(|| {
        problem(
            StatusCode::NOT_FOUND,
            "unknown-team",
            format!("no team `{key}`; use its Bot Framework id (19:…) or its group id"),
            None,
        )
    })
}

fn group_chat(s: &Shared, id: &str) -> Result<usize, Response> {
    s.world.lock().find_group_chat(id).ok_or_else(|| {
        problem(
            StatusCode::NOT_FOUND,
            "unknown-group-chat",
            format!("no group chat `{id}`; make one with POST /_emulator/groupchats"),
            None,
        )
    })
}

fn people_problem(e: PeopleError) -> Response {
    let (status, kind) = match &e {
        PeopleError::NotInstalled | PeopleError::TranscriptsOff | PeopleError::TeamWithoutBot => {
            (StatusCode::CONFLICT, "conflict")
        }
        PeopleError::NoSuchActivity(_) => (StatusCode::NOT_FOUND, "unknown-activity"),
        PeopleError::NothingToRead => (StatusCode::CONFLICT, "conflict"),
        _ => (StatusCode::UNPROCESSABLE_ENTITY, "invalid-action"),
    };
    problem(status, kind, e.to_string(), e.pointer().as_deref())
}

fn done(r: Result<Response, Response>) -> Response {
    r.unwrap_or_else(|e| e)
}

async fn tenant(State(s): State<Arc<Shared>>) -> Json<Value> {
    let w = s.world.lock();
    let t = &w.tenant;
    let users: Vec<Value> = t
        .users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            json!({
                "upn": u.upn,
                "mail": u.mail,
                "aadObjectId": u.aad,
                "id": u.teams_id,
                "displayName": u.display_name,
                "givenName": u.given_name,
                "surname": u.surname,
                "guest": u.guest,
                "installed": w.installed(i),
                "blocked": w.users[i].blocked,
                "conversationId": w.existing_personal(i),
            })
        })
        .collect();
    let aad =
        |ids: &[usize]| -> Vec<&str> { ids.iter().map(|&u| t.users[u].aad.as_str()).collect() };
    let teams: Vec<Value> = t
        .teams
        .iter()
        .enumerate()
        .map(|(i, team)| {
            json!({
                "id": team.thread_id,
                "aadGroupId": team.group_id,
                "name": team.name,
                "memberIds": aad(&team.members),
                "botInstalled": team.bot_installed,
                "deleted": w.team_deleted[i],
            })
        })
        .collect();
    let groups: Vec<Value> = t
        .groups
        .iter()
        .map(|g| {
            json!({
                "id": g.id,
                "displayName": g.display_name,
                "memberIds": aad(&g.members),
                "groupIds": g.groups.iter().map(|&k| t.groups[k].id.as_str()).collect::<Vec<_>>(),
            })
        })
        .collect();
    Json(json!({
        "tenantId": t.tenant_id,
        "domain": t.domain,
        "appId": t.app_id,
        "appName": t.app_name,
        "botId": w.bot_id(),
        "teamsAppId": t.teams_app_id,
        "manifestId": t.manifest_id,
        "serviceUrl": s.service_url(),
        "users": users,
        "teams": teams,
        "groups": groups,
    }))
}

async fn stats(State(s): State<Arc<Shared>>) -> Json<Value> {
    Json(s.stats.lock().to_json())
}

async fn reset_stats(State(s): State<Arc<Shared>>) -> StatusCode {
    *s.stats.lock() = Default::default();
    StatusCode::NO_CONTENT
}

fn config_json(s: &Shared) -> Value {
    let mut v = json!(*s.config.read());
    v["botEndpoint"] = json!(s.bot.endpoint());
    v
}

async fn get_config(State(s): State<Arc<Shared>>) -> Json<Value> {
    Json(config_json(&s))
}

async fn put_config(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    done((|| {
        let mut patch: ConfigPatch = control_json(&headers, &body)?;
        let endpoint = patch.bot_endpoint.take();
        if let Some(e) = &endpoint {
            if !(e.starts_with("http://") || e.starts_with("https://")) {
                return Err(problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-config",
                    format!("`{e}` is not an http(s) URL"),
                    Some("/botEndpoint"),
                ));
            }
        }
        let replay = patch.faults.is_some();
        {
            let mut c = s.config.write();
            let mut next = c.clone();
            patch.apply(&mut next).map_err(|(at, why)| {
                problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-config",
                    why,
                    Some(&at),
                )
            })?;
            *c = next;
        }
        if let Some(e) = endpoint {
            s.bot.set_endpoint(e);
        }
        if replay {
            // A fault spec draws from the start of its seeded sequence, so setting the same
            // spec again replays the same fates.
            s.fault_seq.store(0, std::sync::atomic::Ordering::SeqCst);
            s.scheduled_seq
                .store(0, std::sync::atomic::Ordering::SeqCst);
            *s.outage_started.lock() = None;
        }
        Ok(Json(config_json(&s)).into_response())
    })())
}

async fn rotate(State(s): State<Arc<Shared>>) -> Response {
    match tokio::task::spawn_blocking(crate::keys::KeyPair::generate).await {
        Ok(Ok(key)) => {
            let kid = s.keys.rotate(key);
            Json(json!({"kid": kid, "keys": s.keys.jwks().keys.len()})).into_response()
        }
        _ => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "key-generation",
            "could not generate a new key",
            None,
        ),
    }
}

/// The token the emulator signs activities with, for load generators that post activities to a
/// bot themselves and must present it as Teams does (one token, reused).
async fn channel_token(State(s): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({"token": s.bot.token(&s), "serviceUrl": s.service_url(), "appId": s.app_id}))
}

async fn install(State(s): State<Arc<Shared>>, Path(key): Path<String>) -> Response {
    done(
        async {
            let u = user(&s, &key)?;
            let (again, conv, replies) = people::install(&s, u).await;
            Ok(Json(json!({
                "installed": true,
                "alreadyInstalled": again,
                "conversationId": conv,
                "botResponses": replies,
            }))
            .into_response())
        }
        .await,
    )
}

async fn uninstall(State(s): State<Arc<Shared>>, Path(key): Path<String>) -> Response {
    done(
        async {
            let u = user(&s, &key)?;
            let (was, replies) = people::uninstall(&s, u).await;
            Ok(
                Json(json!({"installed": false, "wasInstalled": was, "botResponses": replies}))
                    .into_response(),
            )
        }
        .await,
    )
}

async fn block(State(s): State<Arc<Shared>>, Path(key): Path<String>) -> Response {
    done((|| {
        let u = user(&s, &key)?;
        people::set_blocked(&s, u, true);
        Ok(Json(json!({"blocked": true})).into_response())
    })())
}

async fn unblock(State(s): State<Arc<Shared>>, Path(key): Path<String>) -> Response {
    done((|| {
        let u = user(&s, &key)?;
        people::set_blocked(&s, u, false);
        Ok(Json(json!({"blocked": false})).into_response())
    })())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ReadBody {
    #[serde(default)]
    activity_id: Option<String>,
}

/// The user reads their chat up to a message (default: the bot's latest).
async fn read(
    State(s): State<Arc<Shared>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done(
        async {
            let u = user(&s, &key)?;
            let b: ReadBody = control_json(&headers, &body)?;
            let r = people::read(&s, u, b.activity_id.as_deref())
                .await
                .map_err(people_problem)?;
            Ok(Json(json!(r)).into_response())
        }
        .await,
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ReactBody {
    activity_id: String,
    reaction: String,
    #[serde(default)]
    remove: bool,
}

/// Reaction types are open strings in Teams; this bounds what one may be here.
const MAX_REACTION_LEN: usize = 64;

async fn react(
    State(s): State<Arc<Shared>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done(
        async {
            let u = user(&s, &key)?;
            let b: ReactBody = control_json(&headers, &body)?;
            let r = b.reaction.trim();
            if r.is_empty() || r.len() > MAX_REACTION_LEN || r.chars().any(char::is_control) {
                return Err(problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-body",
                    format!("a reaction is 1 to {MAX_REACTION_LEN} bytes of text (like, heart, laugh …)"),
                    Some("/reaction"),
                ));
            }
            let reply = people::react(&s, u, &b.activity_id, r, b.remove)
                .await
                .map_err(people_problem)?;
            Ok(Json(json!({"botResponse": reply})).into_response())
        }
        .await,
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SettingsBody {
    #[serde(default)]
    read_receipts: Option<bool>,
    /// An IANA zone name; `null` or absent leaves it.
    #[serde(default)]
    time_zone: Option<String>,
    /// A language tag like `fr-FR`; `null` or absent leaves it.
    #[serde(default)]
    locale: Option<String>,
}

fn settings_of(s: &Shared, u: usize) -> Value {
    let w = s.world.lock();
    let st = &w.users[u];
    json!({
        "readReceipts": !st.receipts_off,
        "timeZone": st.time_zone.clone().unwrap_or_else(|| "Etc/UTC".to_owned()),
        "locale": st.locale.clone().unwrap_or_else(|| "en-US".to_owned()),
    })
}

async fn settings(State(s): State<Arc<Shared>>, Path(key): Path<String>) -> Response {
    done((|| {
        let u = user(&s, &key)?;
        Ok(Json(settings_of(&s, u)).into_response())
    })())
}

/// An IANA zone name as Teams' clients send it: `Area/Location[/More]` or `UTC`, at most 64
/// bytes of letters, digits and `_+-/`.
fn is_zone_name(z: &str) -> bool {
    !z.is_empty()
        && z.len() <= 64
        && z.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '/'))
        && !z.starts_with('/')
        && !z.ends_with('/')
        && !z.contains("//")
}

async fn put_settings(
    State(s): State<Arc<Shared>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done((|| {
        let u = user(&s, &key)?;
        let b: SettingsBody = control_json(&headers, &body)?;
        if let Some(z) = &b.time_zone {
            if !is_zone_name(z) {
                return Err(problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-body",
                    format!("`{z}` is not an IANA time zone name (like Europe/Paris)"),
                    Some("/timeZone"),
                ));
            }
        }
        if let Some(l) = &b.locale {
            let ok = (2..=35).contains(&l.len())
                && l.split('-').all(|p| {
                    (1..=8).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_alphanumeric())
                });
            if !ok {
                return Err(problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-body",
                    format!("`{l}` is not a language tag (like fr-FR)"),
                    Some("/locale"),
                ));
            }
        }
        {
            let mut w = s.world.lock();
            let st = &mut w.users[u];
            if let Some(l) = b.locale {
                st.locale = Some(l);
            }
            if let Some(r) = b.read_receipts {
                st.receipts_off = !r;
            }
            if let Some(z) = b.time_zone {
                st.time_zone = Some(z);
            }
        }
        Ok(Json(settings_of(&s, u)).into_response())
    })())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageBody {
    text: String,
}

async fn message(
    State(s): State<Arc<Shared>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done(
        async {
            let u = user(&s, &key)?;
            let m: MessageBody = control_json(&headers, &body)?;
            if m.text.trim().is_empty() {
                return Err(problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-body",
                    "text is empty",
                    Some("/text"),
                ));
            }
            let (id, reply) = people::message(&s, u, &m.text)
                .await
                .map_err(people_problem)?;
            Ok(Json(json!({"activityId": id, "botResponse": reply})).into_response())
        }
        .await,
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ActionBody {
    activity_id: String,
    action: String,
    #[serde(default)]
    inputs: Map<String, Value>,
}

async fn action(
    State(s): State<Arc<Shared>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done(
        async {
            let u = user(&s, &key)?;
            let a: ActionBody = control_json(&headers, &body)?;
            let pressed = people::press(&s, u, &a.activity_id, &a.action, a.inputs)
                .await
                .map_err(people_problem)?;
            Ok(Json(json!(pressed)).into_response())
        }
        .await,
    )
}

async fn transcript(State(s): State<Arc<Shared>>, Path(key): Path<String>) -> Response {
    done((|| {
        let u = user(&s, &key)?;
        let w = s.world.lock();
        let activities = w
            .personal_of(u)
            .map(|c| w.transcript(c))
            .unwrap_or_default();
        Ok(Json(json!({
            "conversationId": w.existing_personal(u),
            "activities": activities,
        }))
        .into_response())
    })())
}

/// The user deletes their chat with the bot (docs/reference.md): sends to it get 404
/// `ConversationNotFound`; CreateConversation makes a new one.
async fn clear_history(State(s): State<Arc<Shared>>, Path(key): Path<String>) -> Response {
    done((|| {
        let u = user(&s, &key)?;
        let cleared = s.world.lock().clear_history(u);
        Ok(Json(json!({"cleared": cleared})).into_response())
    })())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupChatBody {
    members: Vec<String>,
    #[serde(default)]
    topic: String,
}

async fn group_chat_create(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done((|| {
        let g: GroupChatBody = control_json(&headers, &body)?;
        let mut members = Vec::new();
        for (i, m) in g.members.iter().enumerate() {
            let u = user(&s, m).map_err(|_| {
                problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-body",
                    format!("no user `{m}` in the tenant"),
                    Some(&format!("/members/{i}")),
                )
            })?;
            if !members.contains(&u) {
                members.push(u);
            }
        }
        if members.len() < 2 {
            return Err(problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-body",
                "a group chat has at least two people",
                Some("/members"),
            ));
        }
        let id = s.world.lock().create_group_chat(members, g.topic);
        Ok((StatusCode::CREATED, Json(json!({"id": id}))).into_response())
    })())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FromBody {
    /// Who adds or removes the bot (default: the chat's first member).
    #[serde(default)]
    from: Option<String>,
}

async fn group_chat_lifecycle(
    s: Arc<Shared>,
    chat: String,
    headers: HeaderMap,
    body: Bytes,
    add: bool,
) -> Result<Response, Response> {
    let g = group_chat(&s, &chat)?;
    let b: FromBody = if body.is_empty() {
        FromBody::default()
    } else {
        control_json(&headers, &body)?
    };
    let from = match b.from {
        Some(f) => user(&s, &f)?,
        None => s.world.lock().group_chats[g].members[0],
    };
    let replies = people::group_chat_install(&s, g, from, add)
        .await
        .map_err(people_problem)?;
    Ok(Json(json!({"botInstalled": add, "botResponses": replies})).into_response())
}

async fn group_chat_install(
    State(s): State<Arc<Shared>>,
    Path(chat): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done(group_chat_lifecycle(s, chat, headers, body, true).await)
}

async fn group_chat_uninstall(
    State(s): State<Arc<Shared>>,
    Path(chat): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done(group_chat_lifecycle(s, chat, headers, body, false).await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupMessageBody {
    from: String,
    text: String,
    #[serde(default = "yes")]
    mention: bool,
}

fn yes() -> bool {
    true
}

async fn group_chat_message(
    State(s): State<Arc<Shared>>,
    Path(chat): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done(
        async {
            let g = group_chat(&s, &chat)?;
            let m: GroupMessageBody = control_json(&headers, &body)?;
            let from = user(&s, &m.from)?;
            let (id, reply) = people::group_chat_message(&s, g, from, &m.text, m.mention)
                .await
                .map_err(people_problem)?;
            Ok(
                Json(json!({"activityId": id, "botHeard": reply.is_some(), "botResponse": reply}))
                    .into_response(),
            )
        }
        .await,
    )
}

async fn group_chat_transcript(State(s): State<Arc<Shared>>, Path(chat): Path<String>) -> Response {
    done((|| {
        let g = group_chat(&s, &chat)?;
        let w = s.world.lock();
        let id = w.group_chats[g].id.clone();
        let activities = w
            .conversation(&id)
            .map(|c| w.transcript(c))
            .unwrap_or_default();
        Ok(Json(json!({"conversationId": id, "activities": activities})).into_response())
    })())
}

async fn feed(State(s): State<Arc<Shared>>, Path(key): Path<String>) -> Response {
    done((|| {
        let u = user(&s, &key)?;
        Ok(Json(json!({"notifications": s.world.lock().users[u].feed})).into_response())
    })())
}

async fn team_install(State(s): State<Arc<Shared>>, Path(key): Path<String>) -> Response {
    done(
        async {
            let t = team(&s, &key)?;
            let replies = people::install_in_team(&s, t).await;
            Ok(Json(json!({"botInstalled": true, "botResponses": replies})).into_response())
        }
        .await,
    )
}

async fn team_uninstall(State(s): State<Arc<Shared>>, Path(key): Path<String>) -> Response {
    done(
        async {
            let t = team(&s, &key)?;
            let replies = people::uninstall_from_team(&s, t).await;
            Ok(Json(json!({"botInstalled": false, "botResponses": replies})).into_response())
        }
        .await,
    )
}

async fn team_deleted(s: Arc<Shared>, key: String, deleted: bool) -> Response {
    done(
        async {
            let t = team(&s, &key)?;
            let replies = people::set_team_deleted(&s, t, deleted)
                .await
                .map_err(people_problem)?;
            Ok(Json(json!({"deleted": deleted, "botResponses": replies})).into_response())
        }
        .await,
    )
}

async fn team_delete(State(s): State<Arc<Shared>>, Path(key): Path<String>) -> Response {
    team_deleted(s, key, true).await
}

async fn team_restore(State(s): State<Arc<Shared>>, Path(key): Path<String>) -> Response {
    team_deleted(s, key, false).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberBody {
    user: String,
}

async fn team_add_member(
    State(s): State<Arc<Shared>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done(
        async {
            let t = team(&s, &key)?;
            let m: MemberBody = control_json(&headers, &body)?;
            let u = user(&s, &m.user)?;
            let replies = people::add_team_member(&s, t, u)
                .await
                .map_err(people_problem)?;
            Ok(Json(json!({"botResponses": replies})).into_response())
        }
        .await,
    )
}

/// The user signs in at the verification page with the code a client showed them.
async fn device_login(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (Some(code), Some(who)) = (v["userCode"].as_str(), v["user"].as_str()) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "give {\"userCode\": …, \"user\": UPN or id}",
            None,
        );
    };
    let u = match user(&s, who) {
        Ok(u) => u,
        Err(r) => return r,
    };
    if s.delegated.lock().approve(code, u, s.clock.now_ms()) {
        Json(json!({"approved": true})).into_response()
    } else {
        problem(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no device code `{code}` is waiting"),
            None,
        )
    }
}

/// Every delegated token issued (access and refresh): what must never show up in clear text.
async fn issued_tokens(State(s): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({"delegated": s.delegated.lock().issued.clone()}))
}

async fn chats(State(s): State<Arc<Shared>>) -> Json<Value> {
    let w = s.world.lock();
    let mut list: Vec<&crate::world::Chat> = w.chats.values().collect();
    list.sort_by(|a, b| a.created_ms.cmp(&b.created_ms).then(a.id.cmp(&b.id)));
    let upn = |u: usize| w.tenant.users[u].upn.clone();
    let chats: Vec<Value> = list
        .into_iter()
        .map(|c| {
            json!({
                "id": c.id,
                "chatType": c.chat_type,
                "topic": c.topic,
                "members": c.members.iter().map(|&u| upn(u)).collect::<Vec<_>>(),
                "messages": c.messages.iter().map(|m| json!({
                    "id": m.id, "from": upn(m.from), "contentType": m.content_type, "content": m.content,
                    "edited": m.edited_ms.is_some(), "deleted": m.deleted_ms.is_some(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Json(json!({"chats": chats}))
}
