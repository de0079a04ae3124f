//! `/v1/notifications`: create (with directory checks, idempotency and `?sync=true`), list,
//! status with counts and ETA, per-recipient deliveries (JSON pages or a CSV export).

use crate::access::Scope;
use crate::dto::{
    AmendmentProgress, CountsDto, DeliveryPage, DeliveryRow, NotificationList,
    NotificationListItem, NotificationSummary, ProblemDetails,
};
use crate::params::{paging, query};
use crate::problem::Problem;
use crate::state::App;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use herald_core::clock::rfc3339_ms;
use herald_core::ids::{NotificationId, TeamRef, Upn};
use herald_engine::recipients::{self, Recipient};
use herald_engine::request::{self, NotificationRequest};
use herald_engine::StoredRequest;
use herald_store::{
    AmendKind, Counts, Created, DeliveryStatus, NewNotification, Notification, NotificationState,
};
use sha2::{Digest, Sha256};
use std::time::Duration;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/v1/notifications", post(create).get(list))
        .route("/v1/notifications/{id}", get(status))
        .route("/v1/notifications/{id}/deliveries", get(deliveries))
        .route(
            "/v1/notifications/{id}/responses",
            get(crate::responses::responses),
        )
}

fn respond(r: Result<Response, Problem>) -> Response {
    r.unwrap_or_else(IntoResponse::into_response)
}

fn unprocessable(pointer: &str, detail: impl Into<String>) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-notification",
        detail,
    )
    .at(pointer)
}

fn directory_down(e: impl std::fmt::Display) -> Problem {
    tracing::warn!(error = %e, "the directory did not answer");
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "directory-unavailable",
        "Microsoft Graph did not answer while checking the recipients; try again",
    )
}

use crate::problem::store_err;

/// The users named directly, resolved now so that an unknown one is refused at once.
async fn resolve_users(app: &App, users: &[String]) -> Result<Vec<Recipient>, Problem> {
    recipients::resolve_named(&app.engine, users)
        .await
        .map_err(|e| match e {
            recipients::NamedError::Unknown { index, .. } => {
                unprocessable(&format!("/to/users/{index}"), e.to_string())
            }
            recipients::NamedError::DirectoryDown(why) => directory_down(why),
        })
}

/// Teams and groups must exist.
async fn check_teams_and_groups(app: &App, req: &NotificationRequest) -> Result<(), Problem> {
    let graph = &app.engine.graph;
    for (i, t) in req.to.teams.iter().enumerate() {
        let team = TeamRef::parse(t)
            .map_err(|e| unprocessable(&format!("/to/teams/{i}"), e.to_string()))?;
        let known = match &team {
            TeamRef::Conversation(id) => app
                .store
                .get_team(&app.engine.tenant, id)
                .await
                .map_err(store_err)?
                .is_some_and(|t| t.team.aad_group_id.is_some()),
            TeamRef::Group(id) => graph
                .team_members(id)
                .await
                .map_err(directory_down)?
                .is_some(),
        };
        if !known {
            return Err(unprocessable(
                &format!("/to/teams/{i}"),
                format!("no team `{t}`"),
            ));
        }
    }
    for (i, g) in req.to.groups.iter().enumerate() {
        if graph
            .group_users(g)
            .await
            .map_err(directory_down)?
            .is_none()
        {
            return Err(unprocessable(
                &format!("/to/groups/{i}"),
                format!("no group `{g}`"),
            ));
        }
    }
    Ok(())
}

fn new_id() -> NotificationId {
    const ALPHABET: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let id: String = (0..20)
        .map(|_| ALPHABET[rand::random::<u8>() as usize % 32] as char)
        .collect();
    NotificationId::parse(format!("ntf_{id}")).expect("20 letters and digits are an id")
}

/// Create a notification.
#[utoipa::path(
    post,
    path = "/v1/notifications",
    operation_id = "createNotification",
    request_body = crate::request_schema::NotificationRequestSchema,
    params(
        ("sync" = Option<bool>, Query, description = "With one recipient: wait and answer with its delivery row"),
        ("Idempotency-Key" = Option<String>, Header, description = "The same key and body return the same notification"),
    ),
    responses(
        (status = 202, description = "Accepted", body = NotificationSummary),
        (status = 200, description = "?sync=true: the one recipient's row", body = DeliveryRow),
        (status = 400, description = "Not JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No or a wrong API token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks `send` (or `send-as:UPN` for asUser); `scope` names it", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 408, description = "The request was not done within http_request_timeout_s", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Idempotency-Key reused with another body", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "The message is over Teams' size limit", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid; `pointer` names the field", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create(
    State(app): State<App>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Body,
) -> Response {
    respond(
        async {
            let caller = app.authenticate(&headers)?;
            if !caller.may_send() {
                caller.require(Scope::Send)?;
            }
            let q = query(raw.as_deref())?;
            let sync = match q.get("sync").map(String::as_str) {
                None | Some("false") => false,
                Some("true") => true,
                Some(other) => {
                    return Err(unprocessable(
                        "?sync",
                        format!("sync `{other}` is not true or false"),
                    ))
                }
            };
            let key = match headers.get("idempotency-key") {
                None => None,
                Some(v) => {
                    let k = v.to_str().ok().filter(|k| !k.is_empty() && k.len() <= 255);
                    Some(
                        k.ok_or_else(|| {
                            Problem::new(
                                StatusCode::BAD_REQUEST,
                                "invalid-header",
                                "Idempotency-Key must be 1 to 255 visible characters",
                            )
                            .at("Idempotency-Key")
                        })?
                        .to_owned(),
                    )
                }
            };
            let bytes = app.read_body(body).await?;
            let settings = app.request_settings();
            // Parsing and checking a card (compiling, validating, a trial expansion) is CPU work
            // bounded by the templating budget: it runs off the async workers.
            let mut req = tokio::task::spawn_blocking(move || {
                let req = request::parse(&bytes)?;
                req.validate(settings)?;
                Ok::<_, Problem>(req)
            })
            .await
            .map_err(|e| Problem::internal("checking the request failed", &e))??;
            match &req.options.as_user {
                Some(upn) => caller.require(Scope::SendAs(upn.clone()))?,
                None => caller.require(Scope::Send)?,
            }
            let o = &req.options;
            let answers = o
                .wait_for_response
                .as_ref()
                .and_then(|w| w.callback_url.as_deref());
            for (url, at) in [
                (answers, "/options/waitForResponse/callbackUrl"),
                (o.callback_url.as_deref(), "/options/callbackUrl"),
            ] {
                if let Some(url) = url {
                    herald_engine::egress::check_callback_url(url, &app.engine.callback_hosts)
                        .await
                        .map_err(|m| unprocessable(at, m))?;
                }
            }
            if let Some(upn) = &req.options.as_user {
                // Checked by `validate`.
                let upn = Upn::parse(upn.as_str())
                    .map_err(|e| unprocessable("/options/asUser", e.to_string()))?;
                let signed_in = app.store.get_user_token(&upn).await.map_err(store_err)?;
                if signed_in.is_none() {
                    return Err(unprocessable(
                        "/options/asUser",
                        format!("`{upn}` has not signed in: run `herald login` as them first"),
                    ));
                }
            }
            // The configuration's events, where the notification names none (its URL is the
            // operator's, not the caller's: not checked as the caller's would be).
            let cfg = &app.engine.cfg;
            req.options
                .default_events(&cfg.events, cfg.events_url.as_deref());
            if sync && req.single_user().is_none() {
                return Err(unprocessable(
                    "?sync",
                    "?sync=true needs exactly one recipient, named in to.users",
                ));
            }
            let users = resolve_users(&app, &req.to.users).await?;
            check_teams_and_groups(&app, &req).await?;
            let canonical = req.canonical();
            let hash = hex::encode(Sha256::digest(canonical.as_bytes()));
            let send_at = req.send_at_ms()?;
            req.check_local_time(app.clock.now_ms())?;
            let priority = req.options.priority;
            // One group chat for everyone, made by one node: its rows stay together.
            let keep_together = req.options.group_chat_topic.is_some();
            let remind_after_ms = req.options.remind_if_unread.as_ref().map(|r| r.after_ms());
            let (events, events_url) = (req.options.event_bits(), req.options.callback_url.clone());
            let stored = StoredRequest::new(req, users);
            let new = NewNotification {
                id: new_id(),
                tenant_id: app.engine.tenant.clone(),
                request: stored.to_stored(),
                body_hash: hash,
                // Keys are per token: two integrations that pick the same key stay apart.
                idempotency_key: key.map(|k| format!("{}/{k}", caller.name)),
                send_at,
                created_by: Some(caller.name.clone()),
                priority,
                keep_together,
                remind_after_ms,
                events,
                events_url,
            };
            let n = match app
                .store
                .create_notification(&new, app.clock.now_ms())
                .await
                .map_err(store_err)?
            {
                Created::New(n) => {
                    tracing::info!(
                        notification = %n.id,
                        created_by = %caller.name,
                        send_at = ?n.send_at,
                        "notification accepted"
                    );
                    app.engine.wake().await;
                    n
                }
                Created::Existing(n) => n,
                Created::Conflict => {
                    return Err(Problem::new(
                        StatusCode::CONFLICT,
                        "idempotency-conflict",
                        "this Idempotency-Key was used with another body",
                    )
                    .at("Idempotency-Key"))
                }
            };
            if sync {
                return sync_result(&app, &n).await;
            }
            let summary = summary(&app, &n).await?;
            Ok((StatusCode::ACCEPTED, Json(summary)).into_response())
        }
        .await,
    )
}

/// Waits for the one delivery and answers with its row, whatever its outcome (HTTP 200), as
/// Power Automate's action does.
async fn sync_result(app: &App, n: &Notification) -> Result<Response, Problem> {
    let deadline = tokio::time::Instant::now() + crate::http::SYNC_WAIT;
    loop {
        let rows = app
            .store
            .list_deliveries(&n.id, 0, 1)
            .await
            .map_err(store_err)?;
        if let Some(d) = rows.first().filter(|d| d.status == DeliveryStatus::Done) {
            let mut row = crate::export::report_rows(app.store.as_ref(), std::slice::from_ref(d))
                .await
                .map_err(store_err)?
                .remove(0);
            row.notification_id = Some(n.id.to_string());
            return Ok(Json(row).into_response());
        }
        if tokio::time::Instant::now() > deadline {
            let summary = summary(app, n).await?;
            return Ok((StatusCode::ACCEPTED, Json(summary)).into_response());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) async fn summary(app: &App, n: &Notification) -> Result<NotificationSummary, Problem> {
    let counts: Counts = app.store.delivery_counts(&n.id).await.map_err(store_err)?;
    let amendments = app.store.amendments(&n.id).await.map_err(store_err)?;
    let now = app.clock.now_ms();
    let active = matches!(
        n.state,
        NotificationState::Resolving | NotificationState::Sending
    );
    let rate = match (n.started_at, active) {
        (Some(start), true) if now > start => counts.done() as f64 * 1000.0 / (now - start) as f64,
        _ => 0.0,
    };
    let eta = (active && rate > 0.0 && n.resolved)
        .then(|| rfc3339_ms(now + (counts.pending as f64 / rate * 1000.0) as u64));
    Ok(NotificationSummary {
        id: n.id.to_string(),
        state: n.state.as_str().to_owned(),
        total: counts.total(),
        counts: CountsDto::from(counts),
        resolved: n.resolved,
        created_at: rfc3339_ms(n.created_at),
        send_at: n.send_at.map(rfc3339_ms),
        started_at: n.started_at.map(rfc3339_ms),
        finished_at: n.finished_at.map(rfc3339_ms),
        rate_per_second: (rate * 10.0).round() / 10.0,
        eta,
        created_by: n.created_by.clone(),
        recall: latest(&amendments, AmendKind::Recall),
        edit: latest(&amendments, AmendKind::Edit),
    })
}

/// The progress of the last recall or edit.
fn latest(all: &[herald_store::Amendment], kind: AmendKind) -> Option<AmendmentProgress> {
    all.iter()
        .rev()
        .find(|a| a.kind == kind)
        .map(|a| AmendmentProgress {
            state: if a.running { "running" } else { "done" }.to_owned(),
            done: a.done,
            failed: a.failed,
            requested_by: a.requested_by.clone(),
            requested_at: rfc3339_ms(a.requested_at),
            finished_at: a.finished_at.map(rfc3339_ms),
        })
}

pub(crate) async fn find(app: &App, id: &NotificationId) -> Result<Notification, Problem> {
    app.store
        .get_notification(id)
        .await
        .map_err(store_err)?
        .ok_or_else(|| Problem::unknown_notification(id))
}

/// A notification's state, counts and ETA.
#[utoipa::path(
    get,
    path = "/v1/notifications/{id}",
    operation_id = "getNotification",
    params(("id" = String, Path, description = "The notification")),
    responses(
        (status = 200, body = NotificationSummary),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn status(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            app.authorize(&headers, Scope::Read)?;
            let id = crate::params::notification_id(&id)?;
            let n = find(&app, &id).await?;
            Ok(Json(summary(&app, &n).await?).into_response())
        }
        .await,
    )
}

/// Notifications, newest first.
#[utoipa::path(
    get,
    path = "/v1/notifications",
    operation_id = "listNotifications",
    params(
        ("cursor" = Option<String>, Query, description = "`next` of the previous page"),
        ("limit" = Option<u32>, Query, description = "1 to 500"),
    ),
    responses((status = 200, body = NotificationList), (status = 422, body = ProblemDetails, content_type = "application/problem+json"))
)]
pub(crate) async fn list(
    State(app): State<App>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    respond(
        async {
            app.authorize(&headers, Scope::Read)?;
            let q = query(raw.as_deref())?;
            let (before, limit) = paging(&q, 50, 500)?;
            let items = app
                .store
                .list_notifications(before, limit)
                .await
                .map_err(store_err)?;
            let next = (items.len() == limit as usize)
                .then(|| items.last().map(|n| n.seq.to_string()))
                .flatten();
            let items = items
                .iter()
                .map(|n| NotificationListItem {
                    id: n.id.to_string(),
                    state: n.state.as_str().to_owned(),
                    total: n.total,
                    created_at: rfc3339_ms(n.created_at),
                    finished_at: n.finished_at.map(rfc3339_ms),
                    created_by: n.created_by.clone(),
                })
                .collect();
            Ok(Json(NotificationList { items, next }).into_response())
        }
        .await,
    )
}

/// Every recipient's row, cursor-paged; `Accept: text/csv` exports them all.
#[utoipa::path(
    get,
    path = "/v1/notifications/{id}/deliveries",
    operation_id = "listDeliveries",
    params(
        ("id" = String, Path, description = "The notification"),
        ("cursor" = Option<String>, Query, description = "`next` of the previous page"),
        ("limit" = Option<u32>, Query, description = "1 to 1000"),
    ),
    responses(
        (status = 200, description = "A page of rows, or (Accept: text/csv) all of them as CSV", body = DeliveryPage),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn deliveries(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    respond(
        async {
            app.authorize(&headers, Scope::Read)?;
            let id = crate::params::notification_id(&id)?;
            find(&app, &id).await?;
            let wants_csv = headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| a.contains("text/csv"));
            if wants_csv {
                // Streamed a page at a time: a million rows are never in memory at once.
                let store = app.store.clone();
                let stream = futures_util::stream::unfold(Some(0i64), move |after| {
                    let (store, id) = (store.clone(), id.clone());
                    async move {
                        let after = after?;
                        match store.list_deliveries(&id, after, 1000).await {
                            Ok(rows) if rows.is_empty() => None,
                            Ok(rows) => {
                                let next = rows.last().map(|d| d.seq);
                                let report =
                                    match crate::export::report_rows(store.as_ref(), &rows).await {
                                        Ok(r) => r,
                                        Err(e) => {
                                            return Some((
                                                Err(std::io::Error::other(e.to_string())),
                                                None,
                                            ))
                                        }
                                    };
                                let chunk = if after == 0 {
                                    [
                                        crate::export::CSV_HEADER.as_bytes(),
                                        &crate::export::csv_rows(&report),
                                    ]
                                    .concat()
                                } else {
                                    crate::export::csv_rows(&report)
                                };
                                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(chunk)), next))
                            }
                            Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
                        }
                    }
                });
                let mut r = Body::from_stream(stream).into_response();
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    "text/csv; charset=utf-8".parse().expect("a valid header"),
                );
                return Ok(r);
            }
            let q = query(raw.as_deref())?;
            let (after, limit) = paging(&q, 100, 1000)?;
            let after = after.unwrap_or(0);
            let rows = app
                .store
                .list_deliveries(&id, after, limit)
                .await
                .map_err(store_err)?;
            let next = (rows.len() == limit as usize)
                .then(|| rows.last().map(|d| d.seq.to_string()))
                .flatten();
            let items = crate::export::report_rows(app.store.as_ref(), &rows)
                .await
                .map_err(store_err)?;
            Ok(Json(DeliveryPage { items, next }).into_response())
        }
        .await,
    )
}
