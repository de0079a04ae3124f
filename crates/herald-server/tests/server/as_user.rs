//! Sending as a signed-in user, over the emulator: device-code sign-in, 1:1 chats (reused) and a
//! group chat with a topic, guests refused, an expired access token refreshed unnoticed, and no
//! token or secret in clear text in the logs, the errors or the database.

use crate::helpers::*;
use herald_core::ids::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

const SECRET_KEY: &str = "a-test-secret-key-for-sealing-user-tokens-0123456789";
const SENDER: &str = "user1@sandbox.example";

/// Everything the server logs, kept for the secrecy check.
#[derive(Clone, Default)]
struct Logs(Arc<parking_lot::Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn chats(env: &Env) -> Vec<Value> {
    let v: Value = env
        .http
        .get(format!("{}/_emulator/chats", env.emu.origin()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["chats"].as_array().unwrap().clone()
}

/// 40 people on a manual clock; the `hr` token (the default secret) may send as SENDER, the
/// `bot-only` one (`other-secret`) only as the bot.
async fn start(clock: std::sync::Arc<herald_core::ManualClock>) -> Env {
    Env::start_with_clock(
        Backend::Sqlite,
        40,
        &[
            ("HERALD_WELCOME_TEXT", ""),
            ("HERALD_TENANT_RPS", "0"),
            ("HERALD_SECRET_KEY", SECRET_KEY),
            (
                "HERALD_API_TOKENS",
                &format!("hr:{API_TOKEN}:read+send+send-as:{SENDER},bot-only:other-secret"),
            ),
        ],
        clock,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_in_user_sends_one_to_one_and_to_a_group() {
    let logs = Logs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter("debug")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();
    let clock = herald_core::ManualClock::new(1_800_000_000_000);
    let env = start(clock.clone()).await;
    let cfg = env.config();
    let store = env.store();
    let shared: herald_core::SharedClock = clock.clone();

    // A token without `send-as` for this user may not send as them (403 naming the scope).
    let body = json!({"to": {"users": ["user2@sandbox.example"]}, "message": {"text": "hi"}, "options": {"asUser": SENDER}});
    let r = env
        .http
        .post(format!("{}/v1/notifications", env.base))
        .bearer_auth("other-secret")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["scope"], format!("send-as:{SENDER}"), "{p}");

    // Before signing in, a send as the user is refused, naming the option.
    let body = json!({"to": {"users": ["user2@sandbox.example"]}, "message": {"text": "hi"}, "options": {"asUser": SENDER}});
    let r = env
        .api(Method::POST, "/v1/notifications")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let refused = r.text().await.unwrap();
    assert!(refused.contains("/options/asUser"), "{refused}");

    // `herald login`: a device code, the user enters it, Herald keeps their tokens sealed.
    let code = herald_server::delegated::begin_login(&cfg, None)
        .await
        .unwrap();
    assert!(code.message.contains(&code.user_code));
    let approved = env
        .control(
            "/devicelogin",
            json!({"userCode": code.user_code, "user": SENDER}),
        )
        .await;
    assert_eq!(approved["approved"], true, "{approved}");
    let upn = herald_server::delegated::finish_login(&cfg, &*store, &shared, None, &code)
        .await
        .unwrap();
    assert_eq!(upn, SENDER);

    let tenant = env.tenant().await;
    let members: Vec<String> = tenant["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["guest"] != true)
        .map(|u| u["upn"].as_str().unwrap().to_owned())
        .filter(|u| u != SENDER)
        .collect();
    let guest = tenant["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["guest"] == true)
        .unwrap()["upn"]
        .as_str()
        .unwrap()
        .to_owned();
    let twenty: Vec<String> = members[..20].to_vec();
    let five: Vec<String> = members[20..25].to_vec();

    // Twenty one-to-one messages, plus a guest who cannot receive one.
    let mut to = twenty.clone();
    to.push(guest.clone());
    let text = "Welcome aboard <Team Rocket>\nSee you at 10";
    let n = notify(
        &env,
        json!({"to": {"users": to}, "message": {"text": text}, "options": {"asUser": SENDER}}),
    )
    .await;
    let id = n["id"].as_str().unwrap();
    finished(&env, id).await;
    let rs = rows(&env, id).await;
    assert_eq!(rs.len(), 21);
    let g = rs
        .iter()
        .find(|r| r["recipient"] == guest.as_str())
        .unwrap();
    assert_eq!(
        (g["outcome"].as_str(), g["reason"].as_str()),
        (Some("failed"), Some("external_user"))
    );
    assert!(
        rs.iter()
            .filter(|r| r["recipient"] != guest.as_str())
            .all(|r| r["statusCode"] == 200),
        "{rs:?}"
    );
    let html = "Welcome aboard &lt;Team Rocket&gt;<br>See you at 10";
    let one_on_one = |cs: &[Value]| -> Vec<Value> {
        cs.iter()
            .filter(|c| c["chatType"] == "oneOnOne")
            .cloned()
            .collect()
    };
    let first = one_on_one(&chats(&env).await);
    assert_eq!(first.len(), 20);
    for c in &first {
        assert!(
            c["members"].as_array().unwrap().iter().any(|m| m == SENDER),
            "{c}"
        );
        let m = &c["messages"][0];
        assert_eq!(
            (
                m["from"].as_str(),
                m["contentType"].as_str(),
                m["content"].as_str()
            ),
            (Some(SENDER), Some("html"), Some(html))
        );
    }

    // Five people in one group chat with a topic.
    let n = notify(
        &env,
        json!({"to": {"users": five}, "message": {"text": "Kick-off at 3"}, "options": {"asUser": SENDER, "groupChatTopic": "Launch crew"}}),
    )
    .await;
    let gid = n["id"].as_str().unwrap();
    finished(&env, gid).await;
    let grs = rows(&env, gid).await;
    assert!(grs.iter().all(|r| r["statusCode"] == 200), "{grs:?}");
    let conv = grs[0]["conversationId"].clone();
    assert!(grs.iter().all(|r| r["conversationId"] == conv));
    let all = chats(&env).await;
    let group: Vec<&Value> = all.iter().filter(|c| c["chatType"] == "group").collect();
    assert_eq!(group.len(), 1);
    assert_eq!(group[0]["topic"], "Launch crew");
    assert_eq!(group[0]["members"].as_array().unwrap().len(), 6);
    assert_eq!(group[0]["messages"].as_array().unwrap().len(), 1);
    assert_eq!(group[0]["messages"][0]["from"], SENDER);

    // Two hours later the access token has expired: the next send refreshes it unnoticed, and
    // the same 1:1 chats are used again.
    let before = store
        .get_user_token(&Upn::parse(SENDER).unwrap())
        .await
        .unwrap()
        .unwrap();
    clock.advance(Duration::from_secs(2 * 3600));
    let n = notify(&env, json!({"to": {"users": twenty}, "message": {"text": "Second note"}, "options": {"asUser": SENDER}})).await;
    let id2 = n["id"].as_str().unwrap();
    finished(&env, id2).await;
    assert!(rows(&env, id2).await.iter().all(|r| r["statusCode"] == 200));
    let after = store
        .get_user_token(&Upn::parse(SENDER).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        after.access_expires_at > before.access_expires_at,
        "the token was refreshed"
    );
    assert_ne!(after.refresh_token_sealed, before.refresh_token_sealed);
    let second = one_on_one(&chats(&env).await);
    assert_eq!(second.len(), 20, "the 1:1 chats are reused");
    assert!(second
        .iter()
        .all(|c| c["messages"].as_array().unwrap().len() == 2));

    // `herald logout`: the user's tokens are gone, and sending as them is refused again.
    assert!(store
        .delete_user_token(&Upn::parse(SENDER).unwrap())
        .await
        .unwrap());
    let r = env
        .api(Method::POST, "/v1/notifications")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let error_text = r.text().await.unwrap();

    // No token, refresh token or secret in clear text: not in the logs, the errors or the database.
    let issued: Value = env
        .http
        .get(format!("{}/_emulator/issued-tokens", env.emu.origin()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut secrets: Vec<String> = issued["delegated"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    assert!(
        secrets.len() >= 4,
        "two sign-ins' worth of tokens were issued"
    );
    secrets.push(SECRET_KEY.to_owned());
    secrets.push(env.vars["HERALD_APP_PASSWORD"].clone());
    let db_path = env.vars["HERALD_DATABASE_URL"]
        .trim_start_matches("sqlite://")
        .to_owned();
    let mut db = Vec::new();
    for suffix in ["", "-wal"] {
        db.extend(std::fs::read(format!("{db_path}{suffix}")).unwrap_or_default());
    }
    let db = String::from_utf8_lossy(&db).into_owned();
    let log_text = String::from_utf8_lossy(&logs.0.lock()).into_owned();
    assert!(
        log_text.contains("refreshed a signed-in user's access token"),
        "the logs were captured"
    );
    for s in &secrets {
        // Long enough to be the secret itself, not a common substring.
        let probe = &s[..s.len().min(40)];
        assert!(
            !db.contains(probe),
            "a secret is in the database in clear text"
        );
        assert!(!log_text.contains(probe), "a secret is in the logs");
        assert!(
            !error_text.contains(probe) && !refused.contains(probe),
            "a secret is in an error"
        );
    }
    env.shutdown().await;
}

/// Signs `upn` in through the device-code flow, approved in the emulator.
async fn sign_in(env: &Env, clock: &herald_core::SharedClock, upn: &str) {
    let cfg = env.config();
    let code = herald_server::delegated::begin_login(&cfg, None)
        .await
        .unwrap();
    let approved = env
        .control(
            "/devicelogin",
            json!({"userCode": code.user_code, "user": upn}),
        )
        .await;
    assert_eq!(approved["approved"], true, "{approved}");
    herald_server::delegated::finish_login(&cfg, &*env.store(), clock, None, &code)
        .await
        .unwrap();
}

async fn post(env: &Env, token: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = env
        .http
        .post(format!("{}{path}", env.base))
        .bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

/// The messages of the sender's chats with `people` (1:1), from the emulator's transcript.
fn messages_with(all: &[Value], people: &[String]) -> Vec<Value> {
    all.iter()
        .filter(|c| c["chatType"] == "oneOnOne")
        .filter(|c| {
            c["members"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| people.iter().any(|p| m == p.as_str()))
        })
        .flat_map(|c| c["messages"].as_array().unwrap().clone())
        .collect()
}

/// Recall and edit of messages sent as a user go through Graph with the sender's token: an edit
/// replaces every 1:1 message's text (`PATCH`), a recall deletes them (`softDelete`) and the
/// group chat's one message, rows and counts say so; a card edit is refused; a token without
/// `send-as` for the sender is refused; and a sender whose sign-in predates `Chat.ReadWrite` is
/// told to sign in again, after which the recall works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_sent_as_a_user_are_edited_and_recalled_through_graph() {
    let clock = herald_core::ManualClock::new(1_800_000_000_000);
    let env = start(clock.clone()).await;
    let shared: herald_core::SharedClock = clock.clone();
    sign_in(&env, &shared, SENDER).await;
    let upn = Upn::parse(SENDER).unwrap();
    let kept = env.store().get_user_token(&upn).await.unwrap().unwrap();
    assert!(kept.grants("Chat.ReadWrite"), "{:?}", kept.scopes);

    let people: Vec<String> = (2..=31)
        .map(|i| format!("user{i}@sandbox.example"))
        .collect();
    let n = notify(&env, json!({"to": {"users": people}, "message": {"text": "Lunch at 12"}, "options": {"asUser": SENDER}})).await;
    let one = n["id"].as_str().unwrap().to_owned();
    finished(&env, &one).await;
    let crew: Vec<String> = (32..=36)
        .map(|i| format!("user{i}@sandbox.example"))
        .collect();
    let n = notify(&env, json!({"to": {"users": crew}, "message": {"text": "Kick-off at 3"}, "options": {"asUser": SENDER, "groupChatTopic": "Launch crew"}})).await;
    let group = n["id"].as_str().unwrap().to_owned();
    finished(&env, &group).await;

    // Only a token that may send as them may change what they sent.
    let (code, p) = post(
        &env,
        "other-secret",
        &format!("/v1/notifications/{one}/recall"),
        None,
    )
    .await;
    assert_eq!(code, 403, "{p}");
    assert_eq!(p["scope"], format!("send-as:{SENDER}"), "{p}");
    // A message sent as a user is text: a card edit is refused where it is wrong.
    let (code, p) = post(
        &env,
        API_TOKEN,
        &format!("/v1/notifications/{one}/edit"),
        Some(json!({"message": {"card": {"type": "AdaptiveCard", "version": "1.5", "body": []}}})),
    )
    .await;
    assert_eq!(code, 422, "{p}");

    // Edit: every 1:1 message now says the new text, each row says who changed it.
    let (code, p) = post(
        &env,
        API_TOKEN,
        &format!("/v1/notifications/{one}/edit"),
        Some(json!({"message": {"text": "Lunch at 1 <sharp>"}})),
    )
    .await;
    assert_eq!(code, 202, "{p}");
    env.eventually("the edit done", || async {
        env.api_get(&format!("/v1/notifications/{one}")).await["edit"]["state"] == "done"
    })
    .await;
    let s = env.api_get(&format!("/v1/notifications/{one}")).await;
    assert_eq!(
        (s["edit"]["done"].as_u64(), s["edit"]["failed"].as_u64()),
        (Some(30), Some(0)),
        "{s}"
    );
    let msgs = messages_with(&chats(&env).await, &people);
    assert_eq!(msgs.len(), 30);
    assert!(
        msgs.iter()
            .all(|m| m["content"] == "Lunch at 1 &lt;sharp&gt;" && m["edited"] == true),
        "{msgs:?}"
    );
    let rs = rows(&env, &one).await;
    assert!(
        rs.iter()
            .all(|r| r["editedBy"] == "hr" && r["editedAt"].is_string()),
        "{rs:?}"
    );

    // Recall: every message deleted, the group chat's too.
    for id in [&one, &group] {
        let (code, p) = post(
            &env,
            API_TOKEN,
            &format!("/v1/notifications/{id}/recall"),
            None,
        )
        .await;
        assert_eq!(code, 202, "{p}");
    }
    for (id, n) in [(&one, 30), (&group, 5)] {
        env.eventually("the recall done", || async {
            env.api_get(&format!("/v1/notifications/{id}")).await["recall"]["state"] == "done"
        })
        .await;
        let s = env.api_get(&format!("/v1/notifications/{id}")).await;
        assert_eq!(s["counts"]["recalled"], n, "{s}");
        assert!(rows(&env, id).await.iter().all(|r| r["recalledBy"] == "hr"));
    }
    let all = chats(&env).await;
    let msgs = messages_with(&all, &people);
    assert!(msgs.iter().all(|m| m["deleted"] == true), "{msgs:?}");
    let g = all.iter().find(|c| c["chatType"] == "group").unwrap();
    assert_eq!(g["messages"][0]["deleted"], true, "{g}");

    // A sign-in kept before Herald asked for Chat.ReadWrite (no scopes recorded): sending still
    // works, a recall is refused with what to do, and works once they have signed in again.
    env.store()
        .put_user_token(&herald_store::UserToken {
            scopes: None,
            ..env.store().get_user_token(&upn).await.unwrap().unwrap()
        })
        .await
        .unwrap();
    let late = people[..3].to_vec();
    let n = notify(&env, json!({"to": {"users": late}, "message": {"text": "Cake in the kitchen"}, "options": {"asUser": SENDER}})).await;
    let cake = n["id"].as_str().unwrap().to_owned();
    finished(&env, &cake).await;
    let (code, p) = post(
        &env,
        API_TOKEN,
        &format!("/v1/notifications/{cake}/recall"),
        None,
    )
    .await;
    assert_eq!(code, 409, "{p}");
    assert_eq!(
        p["type"].as_str().map(|t| t.ends_with("sign-in-again")),
        Some(true),
        "{p}"
    );
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("Chat.ReadWrite") && detail.contains("herald login"),
        "{detail}"
    );
    sign_in(&env, &shared, SENDER).await;
    let (code, p) = post(
        &env,
        API_TOKEN,
        &format!("/v1/notifications/{cake}/recall"),
        None,
    )
    .await;
    assert_eq!(code, 202, "{p}");
    env.eventually("the late recall done", || async {
        env.api_get(&format!("/v1/notifications/{cake}")).await["recall"]["done"] == 3
    })
    .await;
    let cakes: Vec<Value> = messages_with(&chats(&env).await, &late)
        .into_iter()
        .filter(|m| m["content"] == "Cake in the kitchen")
        .collect();
    assert_eq!(cakes.len(), 3);
    assert!(cakes.iter().all(|m| m["deleted"] == true), "{cakes:?}");
    env.shutdown().await;
}
