//! The delivery engine over the emulator: options, policies, statuses, reports.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

fn by(rows: &[Value], recipient: &str) -> Value {
    rows.iter()
        .find(|r| r["recipient"] == recipient)
        .cloned()
        .unwrap_or_else(|| panic!("no row for {recipient}: {rows:?}"))
}

async fn setup(backend: Backend, users: usize) -> Env {
    let env = Env::start(
        backend,
        users,
        &[
            ("HERALD_WELCOME_TEXT", ""),
            (
                "HERALD_TEAMS_APP_ID",
                "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
            ),
        ],
    )
    .await;
    env
}

async fn statuses_follow_power_automate(backend: Backend) {
    let env = setup(backend, 12).await;
    for n in 1..=6 {
        env.control(
            &format!("/users/user{n}@sandbox.example/install"),
            json!({}),
        )
        .await;
    }
    env.control("/users/user5@sandbox.example/block", json!({}))
        .await;
    env.control(
        "/users/user6@sandbox.example/messages",
        json!({"text": "hi"}),
    )
    .await;
    // Recipients named every way, one of them twice.
    let t = env.tenant().await;
    let aad2 = t["users"][1]["aadObjectId"].as_str().unwrap().to_owned();
    let teams3 = t["users"][2]["id"].as_str().unwrap().to_owned();
    let guest = t["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["guest"] == true)
        .unwrap()["upn"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({
        "to": {"users": ["user1@sandbox.example", aad2, teams3, "USER1@sandbox.example", "user4@sandbox.example",
                         "user5@sandbox.example", "user6@sandbox.example", "user9@sandbox.example", guest]},
        "message": {"text": "Quarterly report is ready"},
        "options": {"ifNotInstalled": "fail", "ifChatActive": "skip", "labelAsNotification": true, "alert": true}
    });
    let n = notify(&env, body).await;
    let s = finished(&env, n["id"].as_str().unwrap()).await;
    let rs = rows(&env, n["id"].as_str().unwrap()).await;
    assert_eq!(s["total"], 8, "USER1 and user1 are one person: {rs:?}");
    for r in [
        "user1@sandbox.example",
        aad2.as_str(),
        teams3.as_str(),
        "user4@sandbox.example",
    ] {
        let row = by(&rs, r);
        assert_eq!(
            (
                row["statusCode"].as_u64(),
                row["succeeded"].as_bool(),
                row["outcome"].as_str()
            ),
            (Some(200), Some(true), Some("delivered")),
            "{row}"
        );
        assert!(row["activityId"].is_string() && row["conversationId"].is_string());
    }
    let blocked = by(&rs, "user5@sandbox.example");
    assert_eq!(
        (
            blocked["statusCode"].as_u64(),
            blocked["outcome"].as_str(),
            blocked["reason"].as_str()
        ),
        (Some(100), Some("failed"), Some("blocked"))
    );
    let active = by(&rs, "user6@sandbox.example");
    assert_eq!(
        (
            active["statusCode"].as_u64(),
            active["outcome"].as_str(),
            active["reason"].as_str()
        ),
        (Some(300), Some("skipped"), Some("chat_active"))
    );
    assert_eq!(active["succeeded"], false, "succeeded is true only for 200");
    let missing = by(&rs, "user9@sandbox.example");
    assert_eq!(
        (
            missing["statusCode"].as_u64(),
            missing["outcome"].as_str(),
            missing["reason"].as_str()
        ),
        (Some(100), Some("failed"), Some("not_installed"))
    );
    let g = by(&rs, &guest);
    assert_eq!(
        (g["outcome"].as_str(), g["reason"].as_str()),
        (Some("failed"), Some("external_user"))
    );
    let c = &s["counts"];
    assert_eq!(
        (
            c["delivered"].as_u64(),
            c["chatActive"].as_u64(),
            c["failed"].as_u64(),
            c["pending"].as_u64()
        ),
        (Some(4), Some(1), Some(3), Some(0))
    );

    // What the user sees: the label and the alert.
    let seen = env.bot_messages("user4@sandbox.example").await;
    let m = seen.last().unwrap();
    assert!(
        m["text"]
            .as_str()
            .unwrap()
            .starts_with("Notification via Herald Sandbox"),
        "{m}"
    );
    assert_eq!(m["channelData"]["notification"]["alert"], true);
    // The block was learned: the reference is unreachable now.
    let r = env
        .reference(t["users"][4]["aadObjectId"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(r.unreachable_reason.as_deref(), Some("blocked"));
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_follow_power_automate_sqlite() {
    statuses_follow_power_automate(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_follow_power_automate_postgres() {
    if postgres_url().is_some() {
        statuses_follow_power_automate(Backend::Postgres).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_policy_installs_opens_the_chat_sends_and_remembers() {
    let env = setup(Backend::Sqlite, 10).await;
    let body = json!({"to": {"users": ["user7@sandbox.example", "user8@sandbox.example"]}, "message": {"card": {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "Hello"}]}}, "options": {"ifNotInstalled": "install", "labelAsNotification": true}});
    let n = notify(&env, body.clone()).await;
    let s = finished(&env, n["id"].as_str().unwrap()).await;
    assert_eq!(s["counts"]["delivered"], 2, "{s}");
    let card = env.bot_messages("user7@sandbox.example").await;
    assert_eq!(
        card.len(),
        1,
        "no welcome on top of the notification: {card:?}"
    );
    let body0 = &card[0]["attachments"][0]["content"]["body"];
    assert_eq!(
        body0[0]["text"], "Notification via Herald Sandbox",
        "the label is the card's first TextBlock"
    );
    assert_eq!(body0[1]["text"], "Hello");
    let t = env.tenant().await;
    assert_eq!(t["users"][6]["installed"], true, "Graph installed the app");
    // A second notification uses the stored reference: one connector call each.
    env.http
        .delete(format!("{}/_emulator/stats", env.emu.origin()))
        .send()
        .await
        .unwrap();
    let n = notify(&env, json!({"to": {"users": ["user7@sandbox.example", "user8@sandbox.example"]}, "message": {"text": "again"}})).await;
    finished(&env, n["id"].as_str().unwrap()).await;
    let stats: Value = env.emulator_stats().await;
    assert_eq!(stats["connectorRequests"], 2, "{stats}");
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn succeed_policy_skips_with_100_and_sync_returns_the_row() {
    let env = setup(Backend::Sqlite, 5).await;
    env.control("/users/user1@sandbox.example/install", json!({}))
        .await;
    let r = env
        .api(Method::POST, "/v1/notifications?sync=true")
        .json(&json!({"to": {"users": ["user2@sandbox.example"]}, "message": {"text": "x"}, "options": {"ifNotInstalled": "succeed"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let row: Value = r.json().await.unwrap();
    assert_eq!(
        (
            row["statusCode"].as_u64(),
            row["succeeded"].as_bool(),
            row["outcome"].as_str()
        ),
        (Some(100), Some(false), Some("skipped"))
    );
    let r = env
        .api(Method::POST, "/v1/notifications?sync=true")
        .json(&json!({"to": {"users": ["user1@sandbox.example"]}, "message": {"text": "x"}}))
        .send()
        .await
        .unwrap();
    let row: Value = r.json().await.unwrap();
    assert_eq!(
        (row["statusCode"].as_u64(), row["succeeded"].as_bool()),
        (Some(200), Some(true))
    );
    assert!(row["activityId"].is_string() && row["conversationId"].is_string());
    let r = env
        .api(Method::POST, "/v1/notifications?sync=true")
        .json(&json!({"to": {"users": ["user1@sandbox.example", "user2@sandbox.example"]}, "message": {"text": "x"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    env.shutdown().await;
}

/// The sandbox's first `n` people, each with the app installed.
async fn installed(n: usize) -> Env {
    let env = setup(Backend::Sqlite, n).await;
    for k in 1..=n {
        env.control(
            &format!("/users/user{k}@sandbox.example/install"),
            json!({}),
        )
        .await;
    }
    env
}

/// The id of the emulator's group `name`.
fn group_id(tenant: &Value, name: &str) -> String {
    tenant["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["displayName"] == name)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A notification whose resolution another resolver had begun: `cursor` is what that resolver
/// saved (the engine's own format), written before the notification starts.
async fn resumed_from(env: &Env, to: Value, cursor: Option<Value>) -> Vec<Value> {
    let later = json!({"to": to, "message": {"text": "resumed"}, "sendAt": "2099-01-01T00:00:00Z"});
    let n = notify(env, later).await;
    let id = n["id"].as_str().unwrap().to_owned();
    let store = env.store();
    let nid = herald_core::ids::NotificationId::parse(&id).unwrap();
    if let Some(c) = cursor {
        store
            .renew_resolution(&nid, 0, Some(&c.to_string()))
            .await
            .unwrap();
    }
    store.start_due(u64::MAX).await.unwrap();
    finished(env, &id).await;
    rows(env, &id)
        .await
        .into_iter()
        .map(|r| r["recipient"].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolver_that_takes_over_starts_where_the_last_one_stopped() {
    let env = installed(40).await;
    let t = env.tenant().await;
    let group = json!(group_id(&t, "All Staff"));
    let all = resumed_from(&env, json!({"groups": [group]}), None).await;
    assert!(all.len() >= 30, "{all:?}");
    // Five members of the group's first page were written before the first resolver died.
    let rest = resumed_from(
        &env,
        json!({"groups": [group]}),
        Some(json!({"part": {"kind": "group", "index": 0}, "done": 5})),
    )
    .await;
    assert_eq!(rest, all[5..].to_vec());
    // A saved page Graph no longer has: read again from the first page, nobody twice.
    let again = resumed_from(
        &env,
        json!({"groups": [group]}),
        Some(json!({"part": {"kind": "group", "index": 0}, "done": 7,
            "link": format!("{}/v1.0/groups/{}/transitiveMembers/microsoft.graph.user?$skiptoken=gone", env.emu.origin(), "0")})),
    )
    .await;
    assert_eq!(again, all);
    // Everything installed, after the tenth person taken; the group before it was finished.
    let installed = resumed_from(&env, json!({"allInstalled": true}), None).await;
    let refs = env
        .store()
        .list_references(&herald_store::ListQuery {
            state: None,
            after: None,
            limit: 100,
        })
        .await
        .unwrap();
    let rest = resumed_from(
        &env,
        json!({"groups": [group], "allInstalled": true}),
        Some(json!({"part": {"kind": "installed"}, "after": refs[9].seq})),
    )
    .await;
    assert_eq!(rest, installed[10..].to_vec());
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_teams_csv_and_all_installed_are_deduplicated_and_reported() {
    let env = installed(40).await;
    let t = env.tenant().await;
    let group = |name: &str| group_id(&t, name);
    let team = t["teams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "Sales")
        .unwrap()["aadGroupId"]
        .as_str()
        .unwrap()
        .to_owned();
    let csv = "upn,team\nuser1@sandbox.example,Eng\nuser2@sandbox.example,Eng\nnobody@sandbox.example,None\n";
    let body = json!({"to": {"groups": [group("Engineering Group")], "teams": [team], "csv": csv, "allInstalled": true}, "message": {"text": "All hands"}});
    let n = notify(&env, body).await;
    let id = n["id"].as_str().unwrap().to_owned();
    let s = finished(&env, &id).await;
    let rs = rows(&env, &id).await;
    // 40 installed members + guests in the group and team + one unknown CSV row.
    let guests = rs.iter().filter(|r| r["reason"] == "external_user").count();
    assert_eq!(
        guests, 2,
        "the Engineering group's and Sales team's guests: {rs:?}"
    );
    assert_eq!(by(&rs, "nobody@sandbox.example")["reason"], "unknown_user");
    assert_eq!(s["counts"]["delivered"], 40);
    assert_eq!(s["total"], 43);
    // CSV export.
    let csv = env
        .api(Method::GET, &format!("/v1/notifications/{id}/deliveries"))
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert!(csv.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = csv.text().await.unwrap();
    assert!(text.starts_with(
        "recipient,statusCode,succeeded,outcome,reason,attempts,activityId,conversationId,detail,possibleDuplicate,readAt,reactions,recalledAt,recalledBy,editedAt,editedBy,remindedAt,dueAt\n"
    ));
    assert_eq!(text.lines().count(), 44);
    // Exactly one message per person, though several sources named them.
    for n in 1..=40 {
        assert_eq!(
            env.bot_messages(&format!("user{n}@sandbox.example"))
                .await
                .len(),
            1,
            "user{n}"
        );
    }
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_schedule_cancel_and_bad_input() {
    let env = setup(Backend::Sqlite, 5).await;
    env.control("/users/user1@sandbox.example/install", json!({}))
        .await;
    let body = json!({"to": {"users": ["user1@sandbox.example"]}, "message": {"text": "once"}});
    let a: Value = env
        .api(Method::POST, "/v1/notifications")
        .header("idempotency-key", "k-1")
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let b: Value = env
        .api(Method::POST, "/v1/notifications")
        .header("idempotency-key", "k-1")
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(a["id"], b["id"]);
    let r = env
        .api(Method::POST, "/v1/notifications")
        .header("idempotency-key", "k-1")
        .json(&json!({"to": {"users": ["user1@sandbox.example"]}, "message": {"text": "twice"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["pointer"], "Idempotency-Key");
    finished(&env, a["id"].as_str().unwrap()).await;
    assert_eq!(
        env.bot_messages("user1@sandbox.example").await.len(),
        1,
        "same key, one send"
    );

    let later = json!({"to": {"users": ["user1@sandbox.example"]}, "message": {"text": "later"}, "sendAt": "2099-01-01T00:00:00Z"});
    let s = notify(&env, later).await;
    assert_eq!(s["state"], "scheduled");
    let id = s["id"].as_str().unwrap();
    let r: Value = env
        .api(Method::POST, &format!("/v1/notifications/{id}/cancel"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["state"], "canceled");
    assert_eq!(
        env.api(Method::POST, &format!("/v1/notifications/{id}/cancel"))
            .send()
            .await
            .unwrap()
            .status(),
        409
    );
    assert_eq!(
        env.api(Method::GET, "/v1/notifications/ntf_nope")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let list: Value = env
        .api(Method::GET, "/v1/notifications?limit=1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"][0]["id"], id, "newest first");

    for (body, pointer) in [
        (
            json!({"to": {"users": ["ghost@sandbox.example"]}, "message": {"text": "x"}}),
            "/to/users/0",
        ),
        (json!({"to": {}, "message": {"text": "x"}}), "/to"),
        (
            json!({"to": {"users": ["user1@sandbox.example"]}, "message": {"text": "x", "card": {"type": "AdaptiveCard"}}}),
            "/message",
        ),
        (
            json!({"to": {"csv": "name\nx"}, "message": {"text": "x"}}),
            "/to/csv",
        ),
        (
            json!({"to": {"users": ["user1@sandbox.example"]}, "message": {"text": "x"}, "options": {"ifChatActive": "maybe"}}),
            "/options/ifChatActive",
        ),
        (
            json!({"to": {"groups": ["00000000-0000-4000-8000-000000000000"]}, "message": {"text": "x"}}),
            "/to/groups/0",
        ),
    ] {
        let r = env
            .api(Method::POST, "/v1/notifications")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{body}: {}", r.status());
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["pointer"], pointer, "{body}: {p}");
    }
    let r = env
        .http
        .post(format!("{}/v1/notifications", env.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "no token");
    let metrics = metrics(&env).await;
    assert!(
        metrics.contains("herald_deliveries_total{outcome=\"delivered\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("herald_send_latency_seconds_count"));
    assert!(
        !metrics.contains("sandbox.example"),
        "no personal data in metrics"
    );
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_is_generated_from_the_code() {
    let env = setup(Backend::Sqlite, 2).await;
    let doc: Value = env
        .http
        .get(format!("{}/openapi.json", env.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    for path in [
        "/v1/notifications",
        "/v1/notifications/{id}",
        "/v1/notifications/{id}/deliveries",
        "/v1/notifications/{id}/cancel",
        "/v1/installations",
    ] {
        assert!(doc["paths"][path].is_object(), "{path}");
    }
    let req = &doc["components"]["schemas"]["NotificationRequest"];
    assert!(
        req["properties"]["to"].is_object() && req["properties"]["message"].is_object(),
        "{req}"
    );
    let opts = &doc["components"]["schemas"]["IfNotInstalled"];
    assert_eq!(
        opts["enum"],
        json!(["fail", "succeed", "install"]),
        "{opts}"
    );
    env.shutdown().await;
}
