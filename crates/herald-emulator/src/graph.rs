//! Microsoft Graph v1.0, the parts Herald uses: users, nested group membership with paging,
//! team members, the bot's installation per user, the app catalog, activity-feed notifications
//! and `$batch`; chats and their messages are in `chats`.
//!
//! Over 600 lines because it is one short handler per Graph route the emulator serves.

use crate::aad::{IssuedClaims, TokenProblem};
use crate::error::{self, is_json};
use crate::odata::Query;
use crate::{people, Shared};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use herald_core::clock::rfc3339_ms;
use herald_wire::aad::AUDIENCE_GRAPH;
use herald_wire::graph::odata_types;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;
use tower::ServiceExt as _;

/// Graph accepts at most this many requests in one `$batch`.
pub const MAX_BATCH: usize = 20;

pub fn routes(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1.0/users", get(list_users))
        .route("/v1.0/users/{id}", get(get_user))
        .route("/v1.0/me", get(me))
        .route("/v1.0/groups/{id}", get(get_group))
        .route("/v1.0/groups/{id}/members", get(group_members))
        .route(
            "/v1.0/groups/{id}/transitiveMembers",
            get(transitive_members),
        )
        .route(
            "/v1.0/groups/{id}/transitiveMembers/microsoft.graph.user",
            get(transitive_users),
        )
        .route("/v1.0/teams/{id}/members", get(team_members))
        .route(
            "/v1.0/users/{id}/teamwork/installedApps",
            get(list_installed).post(install_app),
        )
        .route(
            "/v1.0/users/{id}/teamwork/installedApps/{iid}",
            get(get_installed).delete(uninstall_app),
        )
        .route(
            "/v1.0/users/{id}/teamwork/installedApps/{iid}/chat",
            get(installed_chat),
        )
        .route(
            "/v1.0/users/{id}/teamwork/sendActivityNotification",
            post(send_activity_notification),
        )
        .route("/v1.0/appCatalogs/teamsApps", get(catalog))
        .route("/v1.0/$batch", post(batch))
        .with_state(shared)
}

pub(crate) type Outcome = Result<Response, Response>;

pub(crate) fn done(r: Outcome) -> Response {
    r.unwrap_or_else(|e| e)
}

pub(crate) fn gerr(
    s: &Shared,
    status: StatusCode,
    code: &str,
    message: impl Into<String>,
) -> Response {
    error::graph(status, code, message, s.clock.now_ms())
}

/// A Graph token, then Graph's own throttle.
pub(crate) fn gate(s: &Shared, headers: &HeaderMap) -> Result<Arc<IssuedClaims>, Response> {
    let unauthorized = |m: &str| gerr(s, StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", m);
    let claims = match s.bearer(headers) {
        Ok(c) if c.aud == AUDIENCE_GRAPH => c,
        Ok(_) => {
            return Err(unauthorized(
                "Access token validation failure. Invalid audience.",
            ))
        }
        Err(TokenProblem::Missing) => return Err(unauthorized("Access token is empty.")),
        Err(TokenProblem::Expired) => {
            return Err(unauthorized(
                "Lifetime validation failed, the token is expired.",
            ))
        }
        Err(TokenProblem::Invalid(_)) => {
            return Err(unauthorized(
                "Access token validation failure. Invalid signature.",
            ))
        }
    };
    let rps = s.config.read().graph_rps;
    let now = s.clock.now_ms();
    if let Err(t) = s.limits.lock().graph(rps, now) {
        return Err(error::throttled(
            gerr(
                s,
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Too many requests. Retry after the time in the Retry-After header.",
            ),
            t.retry_after_ms,
        ));
    }
    Ok(claims)
}

fn query(s: &Shared, raw: Option<&str>) -> Result<Query, Response> {
    Query::parse(raw).map_err(|m| gerr(s, StatusCode::BAD_REQUEST, "BadRequest", m))
}

fn user_json(s: &Shared, u: usize, typed: bool) -> Value {
    let w = s.world.lock();
    let user = &w.tenant.users[u];
    let mut v = json!({
        "id": user.aad,
        "displayName": user.display_name,
        "givenName": user.given_name,
        "surname": user.surname,
        "mail": user.mail,
        "userPrincipalName": user.upn,
        "userType": if user.guest { "Guest" } else { "Member" },
        "businessPhones": [],
        "jobTitle": null,
        "officeLocation": null,
        "preferredLanguage": "en-US",
    });
    if typed {
        v["@odata.type"] = json!(odata_types::USER);
    }
    v
}

pub(crate) fn find_user(s: &Shared, key: &str) -> Result<usize, Response> {
    s.world.lock().find_user(key).ok_or_else(|| {
        gerr(
            s,
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!("Resource '{key}' does not exist or one of its queried reference-property objects are not present."),
        )
    })
}

async fn list_users(
    State(s): State<Arc<Shared>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    done((|| {
        gate(&s, &headers)?;
        let q = query(&s, q.as_deref())?;
        let filter = q
            .eq_filter()
            .map_err(|m| gerr(&s, StatusCode::BAD_REQUEST, "Request_UnsupportedQuery", m))?;
        let n = s.world.lock().tenant.users.len();
        let mut items = Vec::new();
        for u in 0..n {
            let v = user_json(&s, u, false);
            let keep = match &filter {
                None => true,
                Some((field, value)) => match field.as_str() {
                    "mail" | "userPrincipalName" | "id" | "displayName" => v[field.as_str()]
                        .as_str()
                        .is_some_and(|x| x.eq_ignore_ascii_case(value)),
                    other => {
                        return Err(gerr(
                            &s,
                            StatusCode::BAD_REQUEST,
                            "Request_UnsupportedQuery",
                            format!("Unsupported or invalid query filter clause specified for property '{other}' of resource 'User'."),
                        ))
                    }
                },
            };
            if keep {
                items.push(v);
            }
        }
        Ok(Json(q.page(items, &format!("{}/v1.0/users", s.origin))).into_response())
    })())
}

async fn get_user(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    done((|| {
        gate(&s, &headers)?;
        let u = find_user(&s, &id)?;
        Ok(Json(user_json(&s, u, false)).into_response())
    })())
}

async fn me(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    done((|| {
        let claims = gate(&s, &headers)?;
        let oid = claims.oid.clone().ok_or_else(|| {
            gerr(
                &s,
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "/me request is only valid with delegated authentication flow.",
            )
        })?;
        let u = find_user(&s, &oid)?;
        Ok(Json(user_json(&s, u, false)).into_response())
    })())
}

fn find_group(s: &Shared, id: &str) -> Result<usize, Response> {
    s.world.lock().find_group(id).ok_or_else(|| {
        gerr(
            s,
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
        )
    })
}

fn group_json(s: &Shared, g: usize) -> Value {
    let w = s.world.lock();
    let group = &w.tenant.groups[g];
    json!({
        "@odata.type": odata_types::GROUP,
        "id": group.id,
        "displayName": group.display_name,
        "mailEnabled": false,
        "securityEnabled": true,
        "groupTypes": [],
    })
}

async fn get_group(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    done((|| {
        gate(&s, &headers)?;
        let g = find_group(&s, &id)?;
        let mut v = group_json(&s, g);
        v.as_object_mut().map(|m| m.remove("@odata.type"));
        Ok(Json(v).into_response())
    })())
}

/// A group's member listing as indices: nested groups, then users, each once (cycles safe).
enum Member {
    Group(usize),
    User(usize),
}

/// Members of a group: direct, or transitive (every nested group and user once, cycles safe).
fn members_of(s: &Shared, g: usize, transitive: bool, users_only: bool) -> Vec<Member> {
    let w = s.world.lock();
    let mut seen_groups = HashSet::from([g]);
    let mut seen_users = HashSet::new();
    let (mut groups, mut users) = (Vec::new(), Vec::new());
    let mut queue = vec![g];
    while let Some(cur) = queue.pop() {
        let group = &w.tenant.groups[cur];
        for &u in &group.members {
            if seen_users.insert(u) {
                users.push(Member::User(u));
            }
        }
        for &sub in &group.groups {
            if seen_groups.insert(sub) {
                groups.push(Member::Group(sub));
                if transitive {
                    queue.push(sub);
                }
            }
        }
    }
    if users_only {
        users
    } else {
        groups.extend(users);
        groups
    }
}

async fn group_listing(
    s: Arc<Shared>,
    id: String,
    q: Option<String>,
    headers: HeaderMap,
    transitive: bool,
    users_only: bool,
    suffix: &str,
) -> Response {
    done((|| {
        gate(&s, &headers)?;
        let q = query(&s, q.as_deref())?;
        let g = find_group(&s, &id)?;
        let members = members_of(&s, g, transitive, users_only);
        let base = format!("{}/v1.0/groups/{id}/{suffix}", s.origin);
        // Only this page's members become JSON.
        let page = q.page_by(members.len(), &base, |range| {
            members[range]
                .iter()
                .map(|m| match *m {
                    Member::Group(g) => group_json(&s, g),
                    Member::User(u) => user_json(&s, u, true),
                })
                .collect()
        });
        Ok(Json(page).into_response())
    })())
}

async fn group_members(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    group_listing(s, id, q, headers, false, false, "members").await
}

async fn transitive_members(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    group_listing(s, id, q, headers, true, false, "transitiveMembers").await
}

async fn transitive_users(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    group_listing(
        s,
        id,
        q,
        headers,
        true,
        true,
        "transitiveMembers/microsoft.graph.user",
    )
    .await
}

async fn team_members(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    done((|| {
        gate(&s, &headers)?;
        let q = query(&s, q.as_deref())?;
        let w = s.world.lock();
        let t = w
            .tenant
            .teams
            .iter()
            .position(|t| t.group_id.eq_ignore_ascii_case(&id))
            .filter(|&t| !w.team_deleted[t])
            .ok_or_else(|| {
                gerr(
                    &s,
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    format!("No team found with Group Id {id}"),
                )
            })?;
        let items: Vec<Value> = w.tenant.teams[t]
            .members
            .iter()
            .enumerate()
            .map(|(i, &u)| {
                let user = &w.tenant.users[u];
                let roles = if user.guest { json!(["guest"]) } else if i == 0 { json!(["owner"]) } else { json!([]) };
                json!({
                    "@odata.type": odata_types::AAD_USER_CONVERSATION_MEMBER,
                    "id": crate::tenant::stable_token(&format!("{}/{}", w.tenant.teams[t].group_id, user.aad), 40),
                    "roles": roles,
                    "displayName": user.display_name,
                    "visibleHistoryStartDateTime": "0001-01-01T00:00:00Z",
                    "userId": user.aad,
                    "email": user.mail,
                    "tenantId": user.home_tenant,
                })
            })
            .collect();
        drop(w);
        Ok(Json(q.page(items, &format!("{}/v1.0/teams/{id}/members", s.origin))).into_response())
    })())
}

fn app_json(s: &Shared) -> Value {
    let w = s.world.lock();
    json!({
        "id": w.tenant.teams_app_id,
        "externalId": w.tenant.manifest_id,
        "displayName": w.tenant.app_name,
        "distributionMethod": "organization",
    })
}

fn installation_json(s: &Shared, user: usize, q: &Query) -> Option<Value> {
    let iid = s.world.lock().users[user].installation.clone()?;
    let app = app_json(s);
    let mut v = json!({"id": iid});
    let expand: Vec<&str> = q
        .get("$expand")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .collect();
    if expand.contains(&"teamsAppDefinition") {
        v["teamsAppDefinition"] = json!({
            "id": crate::tenant::stable_token(&format!("{iid}/def"), 40),
            "teamsAppId": app["id"],
            "displayName": app["displayName"],
            "version": "1.0.0",
        });
    }
    if expand.contains(&"teamsApp") {
        v["teamsApp"] = app;
    }
    Some(v)
}

async fn list_installed(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    done((|| {
        gate(&s, &headers)?;
        let q = query(&s, q.as_deref())?;
        let u = find_user(&s, &id)?;
        let filter = q
            .eq_filter()
            .map_err(|m| gerr(&s, StatusCode::BAD_REQUEST, "BadRequest", m))?;
        let app = app_json(&s);
        let matches = match &filter {
            None => true,
            Some((field, value)) => match field.as_str() {
                "teamsApp/id" | "teamsAppDefinition/teamsAppId" => app["id"] == value.as_str(),
                "teamsApp/externalId" => app["externalId"] == value.as_str(),
                other => {
                    return Err(gerr(
                        &s,
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        format!("Filter on '{other}' is not supported."),
                    ))
                }
            },
        };
        let items: Vec<Value> = installation_json(&s, u, &q)
            .filter(|_| matches)
            .into_iter()
            .collect();
        Ok(Json(json!({"value": items})).into_response())
    })())
}

async fn install_app(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = (|| {
        gate(&s, &headers)?;
        let u = find_user(&s, &id)?;
        let bad = |m: &str| gerr(&s, StatusCode::BAD_REQUEST, "BadRequest", m);
        if !is_json(&headers) {
            return Err(bad("Content-Type must be application/json."));
        }
        let v: Value =
            serde_json::from_slice(&body).map_err(|_| bad("Invalid JSON in the request body."))?;
        let bind = v["teamsApp@odata.bind"]
            .as_str()
            .ok_or_else(|| bad("The 'teamsApp@odata.bind' property is required."))?;
        let app_id = bind.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        let ours = s.world.lock().tenant.teams_app_id.clone();
        if !app_id.eq_ignore_ascii_case(&ours) {
            return Err(gerr(
                &s,
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("App with id '{app_id}' was not found in the catalog."),
            ));
        }
        if s.world.lock().installed(u) {
            return Err(gerr(
                &s,
                StatusCode::CONFLICT,
                "Conflict",
                "App is already installed.",
            ));
        }
        Ok(u)
    })();
    match result {
        Err(r) => r,
        Ok(u) => {
            // Teams installs at once and tells the bot shortly after.
            s.world.lock().install(u);
            let s2 = s.clone();
            tokio::spawn(async move {
                people::install(&s2, u).await;
            });
            StatusCode::CREATED.into_response()
        }
    }
}

fn installed_for(s: &Shared, id: &str, iid: &str) -> Result<usize, Response> {
    let u = find_user(s, id)?;
    let ok = s.world.lock().users[u].installation.as_deref() == Some(iid);
    if ok {
        Ok(u)
    } else {
        Err(gerr(
            s,
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("The app installation '{iid}' was not found."),
        ))
    }
}

async fn get_installed(
    State(s): State<Arc<Shared>>,
    Path((id, iid)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    done((|| {
        gate(&s, &headers)?;
        let q = query(&s, q.as_deref())?;
        let u = installed_for(&s, &id, &iid)?;
        Ok(Json(installation_json(&s, u, &q).unwrap_or(Value::Null)).into_response())
    })())
}

async fn uninstall_app(
    State(s): State<Arc<Shared>>,
    Path((id, iid)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let r = (|| {
        gate(&s, &headers)?;
        installed_for(&s, &id, &iid)
    })();
    match r {
        Err(r) => r,
        Ok(u) => {
            let s2 = s.clone();
            tokio::spawn(async move {
                people::uninstall(&s2, u).await;
            });
            StatusCode::NO_CONTENT.into_response()
        }
    }
}

async fn installed_chat(
    State(s): State<Arc<Shared>>,
    Path((id, iid)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    done((|| {
        gate(&s, &headers)?;
        let u = installed_for(&s, &id, &iid)?;
        let mut w = s.world.lock();
        w.personal_conversation(u);
        let chat_id = w.bot_chat_id(u);
        let now = rfc3339_ms(s.clock.now_ms());
        Ok(Json(json!({
            "id": chat_id,
            "topic": null,
            "createdDateTime": now,
            "lastUpdatedDateTime": now,
            "chatType": "oneOnOne",
            "webUrl": format!("{}/l/chat/{chat_id}/0", s.origin),
            "tenantId": w.tenant.tenant_id,
        }))
        .into_response())
    })())
}

async fn send_activity_notification(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done((|| {
        gate(&s, &headers)?;
        let u = find_user(&s, &id)?;
        let bad = |m: &str| gerr(&s, StatusCode::BAD_REQUEST, "BadRequest", m);
        let v: Value =
            serde_json::from_slice(&body).map_err(|_| bad("Invalid JSON in the request body."))?;
        if !v["topic"].is_object() {
            return Err(bad("The 'topic' property is required."));
        }
        if !v["activityType"].is_string() {
            return Err(bad("The 'activityType' property is required."));
        }
        let mut w = s.world.lock();
        if !w.installed(u) {
            return Err(gerr(
                &s,
                StatusCode::FORBIDDEN,
                "Forbidden",
                "The app must be installed for the recipient to send activity notifications.",
            ));
        }
        w.users[u].feed.push(v);
        Ok(StatusCode::NO_CONTENT.into_response())
    })())
}

async fn catalog(
    State(s): State<Arc<Shared>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    done((|| {
        gate(&s, &headers)?;
        let q = query(&s, q.as_deref())?;
        let app = app_json(&s);
        let keep = match q
            .eq_filter()
            .map_err(|m| gerr(&s, StatusCode::BAD_REQUEST, "BadRequest", m))?
        {
            None => true,
            Some((field, value)) => match field.as_str() {
                "id" | "externalId" | "displayName" | "distributionMethod" => {
                    app[field.as_str()] == value.as_str()
                }
                other => {
                    return Err(gerr(
                        &s,
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        format!("Filter on '{other}' is not supported."),
                    ))
                }
            },
        };
        let hidden = s.config.read().catalog_hidden;
        let items: Vec<Value> = if keep && !hidden { vec![app] } else { vec![] };
        Ok(Json(json!({"value": items})).into_response())
    })())
}

/// `https://graph.microsoft.com/v1.0/users('id')` or `…/users/id` → `id`.
/// `POST /$batch`: up to 20 requests, each answered on its own (and each may be throttled).
async fn batch(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    // The batch itself needs a valid token but is not throttled; its parts are.
    let auth = match s.bearer(&headers) {
        Ok(c) if c.aud == AUDIENCE_GRAPH => headers.get(axum::http::header::AUTHORIZATION).cloned(),
        _ => {
            return gerr(
                &s,
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Access token validation failure.",
            )
        }
    };
    let bad = |m: String| gerr(&s, StatusCode::BAD_REQUEST, "BadRequest", m);
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return bad("Invalid JSON in the request body.".into());
    };
    let Some(requests) = v["requests"].as_array() else {
        return bad("The 'requests' array is required.".into());
    };
    if requests.len() > MAX_BATCH {
        return bad(format!(
            "The number of batch requests exceeds the limit of {MAX_BATCH}: {} given.",
            requests.len()
        ));
    }
    let mut seen = HashSet::new();
    for (i, r) in requests.iter().enumerate() {
        let id = r["id"].as_str().unwrap_or_default();
        if id.is_empty() || r["method"].as_str().is_none() || r["url"].as_str().is_none() {
            return bad(format!("requests[{i}] needs id, method and url."));
        }
        if !seen.insert(id.to_owned()) {
            return bad(format!("requests[{i}]: id '{id}' is used twice."));
        }
    }
    let Some(router) = s.graph_router.get().cloned() else {
        return gerr(
            &s,
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceNotAvailable",
            "Graph is starting.",
        );
    };
    let mut responses = Vec::new();
    for r in requests {
        let url = r["url"].as_str().unwrap_or_default();
        let path = format!("/v1.0/{}", url.trim_start_matches('/'));
        let method = Method::from_bytes(r["method"].as_str().unwrap_or("GET").as_bytes())
            .unwrap_or(Method::GET);
        let mut req = Request::builder().method(method).uri(path.as_str());
        if let Some(a) = &auth {
            req = req.header(axum::http::header::AUTHORIZATION, a.clone());
        }
        if let Some(h) = r["headers"].as_object() {
            for (k, val) in h {
                if let Some(val) = val.as_str() {
                    req = req.header(k.as_str(), val);
                }
            }
        }
        let body = match r.get("body") {
            Some(b) if !b.is_null() => {
                req = req.header(axum::http::header::CONTENT_TYPE, "application/json");
                Body::from(b.to_string())
            }
            _ => Body::empty(),
        };
        let item = match req.body(body) {
            Err(e) => {
                json!({"id": r["id"], "status": 400, "body": {"error": {"code": "BadRequest", "message": format!("Invalid request: {e}")}}})
            }
            Ok(req) => match router.clone().oneshot(req).await {
                Ok(res) => {
                    let status = res.status().as_u16();
                    let mut h = serde_json::Map::new();
                    for (k, val) in res.headers() {
                        if let Ok(val) = val.to_str() {
                            h.insert(k.as_str().to_owned(), json!(val));
                        }
                    }
                    let bytes = axum::body::to_bytes(res.into_body(), 16 * 1024 * 1024)
                        .await
                        .unwrap_or_default();
                    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    json!({"id": r["id"], "status": status, "headers": h, "body": body})
                }
                Err(never) => match never {},
            },
        };
        responses.push(item);
    }
    Json(json!({"responses": responses})).into_response()
}
