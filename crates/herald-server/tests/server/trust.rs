//! Trust I: what a caller may do, whose activities count, where callbacks may go, and the
//! limits that keep one client from holding the server. Each test drives the server over real
//! HTTP, as a caller (or an attacker) would.

use crate::helpers::*;
use herald_core::ids::*;
use herald_core::ManualClock;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn text_to(user: &str) -> Value {
    json!({"to": {"users": [user]}, "message": {"text": "hello"}})
}

async fn post_as(env: &Env, header: (&str, &str), path: &str, body: &Value) -> reqwest::Response {
    env.http
        .post(format!("{}{path}", env.base))
        .header(header.0, header.1)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn get_as(env: &Env, secret: &str, path: &str) -> reqwest::Response {
    env.http
        .get(format!("{}{path}", env.base))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn tokens_have_scopes_and_notifications_say_who_made_them() {
    let env = Env::start(
        Backend::Sqlite,
        5,
        &[
            ("HERALD_WELCOME_TEXT", ""),
            (
                "HERALD_API_TOKENS",
                "ci:ci-secret, ro:ro-secret:read, ops:ops-secret:admin, old-bare-secret",
            ),
        ],
    )
    .await;
    env.control("/users/user1@sandbox.example/install", json!({}))
        .await;
    let body = text_to("user1@sandbox.example");

    // No token, a wrong token: 401.
    let r = env
        .http
        .get(format!("{}/v1/notifications", env.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        get_as(&env, "nope", "/v1/notifications").await.status(),
        401
    );

    // A read-only token reads, and is told which scope sending needs.
    assert_eq!(
        get_as(&env, "ro-secret", "/v1/notifications")
            .await
            .status(),
        200
    );
    let r = post_as(
        &env,
        ("authorization", "Bearer ro-secret"),
        "/v1/notifications",
        &body,
    )
    .await;
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["scope"], "send", "{p}");
    assert!(p["detail"].as_str().unwrap().contains("`ro`"), "{p}");

    // X-Api-Key works like a bearer token; the notification records the token's name.
    let r = post_as(&env, ("x-api-key", "ci-secret"), "/v1/notifications", &body).await;
    assert_eq!(r.status(), 202);
    let made: Value = r.json().await.unwrap();
    assert_eq!(made["createdBy"], "ci");
    let list: Value = get_as(&env, "ro-secret", "/v1/notifications")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"][0]["createdBy"], "ci");

    // Importing needs admin; the bare secret of old keeps read+send+admin as `default`.
    let store = json!({});
    let r = post_as(
        &env,
        ("x-api-key", "ci-secret"),
        "/v1/installations/import",
        &store,
    )
    .await;
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["scope"], "admin");
    let r = post_as(
        &env,
        ("x-api-key", "ops-secret"),
        "/v1/installations/import",
        &store,
    )
    .await;
    assert_ne!(r.status(), 403);
    let r = post_as(
        &env,
        ("x-api-key", "ops-secret"),
        "/v1/notifications",
        &body,
    )
    .await;
    assert_eq!(r.status(), 403, "admin alone does not send");
    let r = post_as(
        &env,
        ("x-api-key", "old-bare-secret"),
        "/v1/notifications",
        &body,
    )
    .await;
    assert_eq!(r.status(), 202);
    assert_eq!(r.json::<Value>().await.unwrap()["createdBy"], "default");

    // Idempotency keys belong to a token: two integrations that pick the same key each get
    // their own notification, and each gets its own back when it retries.
    let keyed = |secret: &'static str| {
        let env = &env;
        let body = body.clone();
        async move {
            env.http
                .post(format!("{}/v1/notifications", env.base))
                .bearer_auth(secret)
                .header("idempotency-key", "daily-digest-2026-11-29")
                .json(&body)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let (a, b) = (keyed("ci-secret").await, keyed("old-bare-secret").await);
    assert_ne!(a, b);
    assert_eq!(keyed("ci-secret").await, a);
    env.shutdown().await;
}

#[tokio::test]
async fn activities_from_a_tenant_that_is_not_allowed_change_nothing() {
    let other = "11111111-2222-4333-8444-555555555555";
    let env = Env::start(Backend::Sqlite, 2, &[]).await;
    let token = env.emu.sign(&channel_claims(&env));
    let mut install = install_activity(&env, 1);
    install["conversation"]["tenantId"] = json!(other);
    install["channelData"]["tenant"]["id"] = json!(other);
    let aad = install["from"]["aadObjectId"].as_str().unwrap().to_owned();
    // Teams retries errors, so the answer is 200 — and nothing is kept, nobody welcomed.
    assert_eq!(
        env.post_activity(Some(&token), &install).await.status(),
        200
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        env.store()
            .get_reference(
                &TenantId::parse(other).unwrap(),
                &AadObjectId::parse(aad.as_str()).unwrap()
            )
            .await
            .unwrap()
            .is_none(),
        "nothing stored for another tenant"
    );
    let listed: Value = env
        .api(Method::GET, "/v1/installations")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"], json!([]));
    // The same activity from the allowed tenant is kept.
    let ours = install_activity(&env, 1);
    assert_eq!(env.post_activity(Some(&token), &ours).await.status(), 200);
    assert!(env.reference(&aad).await.is_some());
    env.shutdown().await;

    // `*` (a multi-tenant app) accepts any tenant.
    let env = Env::start(Backend::Sqlite, 2, &[("HERALD_ALLOWED_TENANTS", "*")]).await;
    let token = env.emu.sign(&channel_claims(&env));
    let mut install = install_activity(&env, 2);
    install["conversation"]["tenantId"] = json!(other);
    install["channelData"]["tenant"]["id"] = json!(other);
    assert_eq!(
        env.post_activity(Some(&token), &install).await.status(),
        200
    );
    let aad = install["from"]["aadObjectId"].as_str().unwrap();
    assert!(env
        .store()
        .get_reference(
            &TenantId::parse(other).unwrap(),
            &AadObjectId::parse(aad).unwrap()
        )
        .await
        .unwrap()
        .is_some());
    env.shutdown().await;
}

/// An HTTP server that answers every request with `status` and counts them.
async fn counting_server(status: axum::http::StatusCode) -> (String, Arc<AtomicU64>) {
    let hits = Arc::new(AtomicU64::new(0));
    let h = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let h = h.clone();
        async move {
            h.fetch_add(1, Ordering::SeqCst);
            status
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, hits)
}

fn waiting_card(callback: &str) -> Value {
    json!({
        "to": {"users": ["user1@sandbox.example"]},
        "message": {"card": {"type": "AdaptiveCard", "version": "1.5",
            "body": [{"type": "TextBlock", "text": "Approve?"}],
            "actions": [{"type": "Action.Submit", "title": "Approve"}]}},
        "options": {"waitForResponse": {"callbackUrl": callback}}
    })
}

#[tokio::test]
async fn callbacks_never_reach_private_addresses_unless_allowed() {
    let (receiver, hits) = counting_server(axum::http::StatusCode::NO_CONTENT).await;
    let hook = format!("{receiver}/hook");
    let mut env = Env::start(
        Backend::Sqlite,
        3,
        &[
            ("HERALD_WELCOME_TEXT", ""),
            ("HERALD_CALLBACK_SECRET", "callback-secret-for-tests"),
        ],
    )
    .await;
    env.control("/users/user1@sandbox.example/install", json!({}))
        .await;
    // At accept: loopback, link-local metadata, and names that resolve to them are refused.
    for url in [
        hook.replace("http://", "https://"),
        "https://169.254.169.254/latest/meta-data/".to_owned(),
        "https://localhost:9/hook".to_owned(),
        "https://[::1]/hook".to_owned(),
        hook.clone(),
    ] {
        let r = env
            .api(Method::POST, "/v1/notifications")
            .json(&waiting_card(&url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{url}");
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["pointer"], "/options/waitForResponse/callbackUrl", "{p}");
        assert!(
            p["detail"]
                .as_str()
                .unwrap()
                .contains("callback_allowed_hosts"),
            "{p}"
        );
    }
    // Allowed by the operator: accepted.
    env.vars
        .insert("HERALD_CALLBACK_ALLOWED_HOSTS".into(), "127.0.0.1".into());
    env.restart().await;
    let n = notify(&env, waiting_card(&hook)).await;
    let id = n["id"].as_str().unwrap().to_owned();
    finished(&env, &id).await;
    let card = rows(&env, &id).await[0]["activityId"]
        .as_str()
        .unwrap()
        .to_owned();
    // The operator withdraws the allowance before the answer comes: the callback is refused
    // when it would connect, not sent.
    env.vars.remove("HERALD_CALLBACK_ALLOWED_HOSTS");
    env.restart().await;
    env.control(
        "/users/user1@sandbox.example/actions",
        json!({"activityId": card, "action": "Approve"}),
    )
    .await;
    let failed = || async {
        metrics(&env)
            .await
            .contains("herald_callbacks_total{result=\"failed\"} 1")
    };
    env.eventually("the callback to be refused", failed).await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "nothing reached the receiver"
    );
    env.shutdown().await;
}

/// Reads until the server closes the connection (or `limit` passes); returns what it sent.
async fn read_until_closed(s: &mut tokio::net::TcpStream, limit: Duration) -> Option<String> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&all).into_owned()),
            Ok(Ok(n)) => all.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_and_connections_are_capped() {
    let env = Env::start(
        Backend::Sqlite,
        3,
        &[
            ("HERALD_WELCOME_TEXT", ""),
            ("HERALD_HTTP_HEADER_TIMEOUT_S", "1"),
            ("HERALD_HTTP_REQUEST_TIMEOUT_S", "1"),
            ("HERALD_MAX_CONNECTIONS", "2"),
        ],
    )
    .await;
    let addr = env.base.trim_start_matches("http://").to_owned();

    // Slowloris: a header line now and then never finishes the request; the server hangs up.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let _ = slow.write_all(b"X-Slow: 1\r\n").await;
    }
    assert!(
        read_until_closed(&mut slow, Duration::from_secs(3))
            .await
            .is_some(),
        "the server closes a connection whose headers do not arrive in time"
    );
    drop(slow);

    // A kept-alive connection may idle between requests longer than the header timeout: only
    // a head that has begun must finish in time (closing idle connections quickly would race
    // with clients reusing them, and lose requests).
    let mut kept = tokio::net::TcpStream::connect(&addr).await.unwrap();
    for _ in 0..2 {
        kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(3), kept.read(&mut buf))
            .await
            .expect("answered")
            .unwrap();
        assert!(
            String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
            "the same connection serves again after idling"
        );
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    drop(kept);

    // A body that stops coming: 408 after the request deadline.
    let mut stalled = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stalled
        .write_all(
            format!(
                "POST /v1/notifications HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"to\":"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let answer = read_until_closed(&mut stalled, Duration::from_secs(5))
        .await
        .expect("answered and closed");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("http_request_timeout_s"), "{answer}");
    drop(stalled);

    // Two idle connections take both slots: a third client waits for one of them to be cut.
    let idle: Vec<_> = futures_util::future::join_all(
        (0..2).map(|_| tokio::net::TcpStream::connect(addr.clone())),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_millis(400))
        .build()
        .unwrap();
    assert!(
        quick
            .get(format!("{}/healthz", env.base))
            .send()
            .await
            .is_err(),
        "no third connection is served while two are held"
    );
    // The idle ones send no headers: they are cut after the header timeout, and the next
    // client is served.
    let r = env
        .http
        .get(format!("{}/healthz", env.base))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    drop(idle);

    // Long polls are not cut at the request deadline: they have their own cap.
    let n = notify(
        &env,
        json!({"to": {"users": ["user1@sandbox.example"]}, "message": {"text": "x"}}),
    )
    .await;
    let id = n["id"].as_str().unwrap();
    let r = env
        .api(
            Method::GET,
            &format!("/v1/notifications/{id}/responses?wait=2"),
        )
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    env.shutdown().await;
}

#[tokio::test]
async fn bodies_and_audiences_are_capped_by_configuration() {
    let owned = Env::start(
        Backend::Sqlite,
        5,
        &[
            ("HERALD_MAX_BODY_MB", "1"),
            ("HERALD_MAX_INLINE_USERS", "2"),
            ("HERALD_MAX_CSV_ROWS", "2"),
        ],
    )
    .await;
    let env = &owned;
    let send = |body: Value| async move {
        let r = env
            .api(Method::POST, "/v1/notifications")
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    let (status, p) = send(json!({"to": {"users": ["user1@sandbox.example"]}, "message": {"text": "x".repeat(2 << 20)}})).await;
    assert_eq!(status, 413);
    assert!(p["detail"].as_str().unwrap().contains("max_body_mb"), "{p}");
    let (status, p) = send(json!({"to": {"users": ["user1@sandbox.example", "user2@sandbox.example", "user3@sandbox.example"]}, "message": {"text": "x"}})).await;
    assert_eq!((status, p["pointer"].as_str()), (422, Some("/to/users")));
    assert!(
        p["detail"].as_str().unwrap().contains("max_inline_users"),
        "{p}"
    );
    let (status, p) = send(json!({"to": {"csv": "upn\nuser1@sandbox.example\nuser2@sandbox.example\nuser3@sandbox.example\n"}, "message": {"text": "x"}})).await;
    assert_eq!((status, p["pointer"].as_str()), (422, Some("/to/csv")));
    assert!(
        p["detail"].as_str().unwrap().contains("max_csv_rows"),
        "{p}"
    );
    let (status, _) = send(json!({"to": {"users": ["user1@sandbox.example", "user2@sandbox.example"]}, "message": {"text": "x"}})).await;
    assert_eq!(status, 202);
    owned.shutdown().await;
}

#[tokio::test]
async fn the_csv_export_writes_formulas_as_text() {
    let env = Env::start(Backend::Sqlite, 3, &[("HERALD_WELCOME_TEXT", "")]).await;
    // Unknown recipients are reported under the name they were given: here, formulas.
    let csv =
        "upn\n\"=HYPERLINK(\"\"https://evil.example\"\",\"\"open\"\")\"\n+1-2@x.example\n@SUM(1)\n";
    let n = notify(
        &env,
        json!({"to": {"csv": csv}, "message": {"text": "hello"}}),
    )
    .await;
    let id = n["id"].as_str().unwrap();
    finished(&env, id).await;
    let text = report_csv(&env, id).await;
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let recipients: Vec<String> = rdr
        .records()
        .map(|r| r.unwrap().get(0).unwrap().to_owned())
        .collect();
    assert_eq!(recipients.len(), 3, "{text}");
    for r in &recipients {
        assert!(r.starts_with('\''), "{r} is written as text");
    }
    assert!(recipients.contains(&"'=HYPERLINK(\"https://evil.example\",\"open\")".to_owned()));
    env.shutdown().await;
}

#[tokio::test]
async fn a_failing_key_endpoint_is_asked_at_most_once_a_minute() {
    // An OpenID endpoint that fails, and counts.
    let (origin, hits) = counting_server(axum::http::StatusCode::SERVICE_UNAVAILABLE).await;
    let url = format!("{origin}/openid");

    let clock = ManualClock::starting_now();
    let env = Env::start_with_clock(
        Backend::Sqlite,
        2,
        &[("HERALD_OPENID_METADATA_URL", &url)],
        clock.clone(),
    )
    .await;
    let at_start = hits.load(Ordering::SeqCst);
    assert_eq!(at_start, 1, "tried once at start-up");
    let token = env.emu.sign(&channel_claims(&env));
    for n in 1..=20 {
        let r = env
            .post_activity(Some(&token), &install_activity(&env, n))
            .await;
        assert_eq!(r.status(), 401);
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "twenty activities do not make twenty fetches"
    );
    clock.advance(Duration::from_secs(61));
    env.post_activity(Some(&token), &install_activity(&env, 21))
        .await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "a minute later, one more try"
    );
    env.shutdown().await;
}

#[tokio::test]
async fn service_urls_are_compared_as_they_will_be_requested() {
    let env = Env::start(Backend::Sqlite, 2, &[("HERALD_AUTH_DISABLED", "1")]).await;
    let origin = env.emu.origin().to_owned();
    let mut env = env;
    env.vars.insert(
        "HERALD_ALLOWED_SERVICE_URLS".into(),
        format!("{origin}/teams/*"),
    );
    env.restart().await;
    for (n, url, status) in [
        (1, format!("{origin}/teams/"), 200),
        (2, format!("{origin}/teams/%2e%2e/admin/"), 401),
        (3, format!("{origin}/teams/%2E%2E/admin/"), 401),
        (4, format!("{origin}/teams/x%2f..%2f..%2fadmin/"), 401),
        (5, format!("{origin}/teams/../admin/"), 401),
        (6, format!("{origin}/teams/?next=/admin"), 401),
    ] {
        let mut a = install_activity(&env, n);
        a["serviceUrl"] = json!(url);
        let r = env.post_activity(None, &a).await;
        assert_eq!(r.status(), status, "{url}");
    }
    env.shutdown().await;
}

#[tokio::test]
async fn a_token_whose_audience_is_a_list_is_refused() {
    let env = Env::start(Backend::Sqlite, 2, &[("HERALD_WELCOME_TEXT", "")]).await;
    let mut claims = channel_claims(&env);
    claims["aud"] = json!([env.emu.app_id()]);
    let listed = env.emu.sign(&claims);
    let r = env
        .post_activity(Some(&listed), &install_activity(&env, 1))
        .await;
    assert_eq!(
        r.status(),
        401,
        "Bot Framework's validator takes only a string"
    );
    let good = env.emu.sign(&channel_claims(&env));
    let r = env
        .post_activity(Some(&good), &install_activity(&env, 2))
        .await;
    assert_eq!(r.status(), 200);
    env.shutdown().await;
}

#[tokio::test]
async fn metrics_count_the_queue_at_most_every_ten_seconds() {
    let clock = ManualClock::starting_now();
    let env = Env::start_with_clock(Backend::Sqlite, 2, &[], clock.clone()).await;
    let store = env.store();
    let now = herald_core::Clock::now_ms(&*clock);
    // A notification due tomorrow: its rows wait, untouched by the engine.
    let n = match store
        .create_notification(
            &herald_store::NewNotification {
                id: NotificationId::parse("ntf_metrics").unwrap(),
                tenant_id: TenantId::parse(env.emu.tenant_id()).unwrap(),
                request: "{}".into(),
                body_hash: "h".into(),
                idempotency_key: None,
                send_at: Some(now + 86_400_000),
                created_by: None,
                priority: herald_store::Priority::Normal,
                keep_together: false,
                remind_after_ms: None,
                events: 0,
                events_url: None,
            },
            now,
        )
        .await
        .unwrap()
    {
        herald_store::Created::New(n) => n,
        other => panic!("{other:?}"),
    };
    let add = |from: i64, count: i64| {
        let store = store.clone();
        let id = n.id.clone();
        async move {
            let rows: Vec<herald_store::NewDelivery> = (from..from + count)
                .map(|i| herald_store::NewDelivery {
                    recipient: format!("r{i}"),
                    recipient_key: format!("k{i}"),
                    aad_object_id: None,
                    upn: None,
                    display_name: None,
                    data: None,
                    decided: None,
                    due_at: None,
                })
                .collect();
            store
                .insert_deliveries(&id, from, &rows, now)
                .await
                .unwrap();
        }
    };
    let depth = || async {
        let m = metrics(&env).await;
        let find = |name: &str| -> f64 {
            m.lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .unwrap()
                .parse()
                .unwrap()
        };
        (
            find("herald_queue_depth"),
            find("herald_queue_depth_age_seconds"),
        )
    };
    add(1, 30).await;
    assert_eq!(depth().await, (30.0, 0.0));
    add(31, 20).await;
    clock.advance(Duration::from_secs(4));
    assert_eq!(
        depth().await,
        (30.0, 4.0),
        "within ten seconds the last count is served, with its age"
    );
    clock.advance(Duration::from_secs(6));
    assert_eq!(depth().await, (50.0, 0.0), "then counted again");
    env.shutdown().await;
}

#[tokio::test]
async fn an_escape_before_a_multibyte_character_is_sent_as_that_character() {
    let env = Env::start(Backend::Sqlite, 3, &[("HERALD_WELCOME_TEXT", "")]).await;
    env.control("/users/user1@sandbox.example/install", json!({}))
        .await;
    // This template once panicked the lexer and dropped the connection.
    let card = json!({"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "${'\\é'} ${givenName}"}]});
    let n = notify(
        &env,
        json!({"to": {"users": ["user1@sandbox.example"]}, "message": {"card": card}}),
    )
    .await;
    let id = n["id"].as_str().unwrap();
    finished(&env, id).await;
    let got = env.bot_messages("user1@sandbox.example").await;
    let text = &got.last().unwrap()["attachments"][0]["content"]["body"][0]["text"];
    assert!(text.as_str().unwrap().starts_with("é "), "{text}");
    env.shutdown().await;
}

/// Ids are checked where they enter: a request naming something that is no id is refused at
/// the field, an activity carrying one stores nothing, and a path that is no notification id is
/// an unknown notification.
#[tokio::test]
async fn strings_that_are_not_ids_are_refused_where_they_enter() {
    let env = Env::start(Backend::Sqlite, 2, &[]).await;
    for (body, pointer, says) in [
        (
            json!({"to": {"users": ["user1\u{1}@sandbox.example"]}, "message": {"text": "x"}}),
            "/to/users/0",
            "control characters",
        ),
        (
            json!({"to": {"users": ["user1@sandbox.example", "a@b@c"]}, "message": {"text": "x"}}),
            "/to/users/1",
            "name@domain",
        ),
        (
            json!({"to": {"teams": ["19:x\u{7f}@thread.tacv2"]}, "message": {"text": "x"}}),
            "/to/teams/0",
            "control characters",
        ),
        (
            json!({"to": {"users": ["user1@sandbox.example"]}, "message": {"text": "x"}, "options": {"asUser": "a@b@c"}}),
            "/options/asUser",
            "is not a UPN",
        ),
    ] {
        let r = env
            .api(Method::POST, "/v1/notifications")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{body}");
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["pointer"], pointer, "{p}");
        assert!(p["detail"].as_str().unwrap().contains(says), "{p}");
    }

    // An install whose user id holds a control character: Teams never sends one, nothing is kept.
    let token = env.emu.sign(&channel_claims(&env));
    let mut install = install_activity(&env, 1);
    install["from"]["id"] = json!("29:evil\u{0}id");
    assert_eq!(
        env.post_activity(Some(&token), &install).await.status(),
        200
    );
    let aad = install["from"]["aadObjectId"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(env.reference(aad).await.is_none(), "nothing stored");

    let long = format!("ntf_{}", "x".repeat(300));
    for path in [
        format!("/v1/notifications/{long}"),
        format!("/v1/notifications/{long}/deliveries"),
        format!("/v1/notifications/{long}/responses"),
    ] {
        let r = env.api(Method::GET, &path).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        let p: Value = r.json().await.unwrap();
        assert_eq!(
            p["type"].as_str().unwrap().rsplit('/').next(),
            Some("unknown-notification"),
            "{p}"
        );
    }
    env.shutdown().await;
}
