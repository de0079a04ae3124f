//! Cards that wait for answers, over the emulator: templated per recipient, answered with
//! Submit and Execute through the emulator's people, tallied, updated, called back (signed,
//! retried), timed out, and forged answers refused.

use crate::helpers::*;
use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

pub(crate) const SECRET: &str = "test-callback-secret-5f1c";
const UPDATE: &str = "Thanks, your answer was recorded.";

async fn responses(env: &Env, id: &str, wait: u64) -> Value {
    let r = env
        .api(
            Method::GET,
            &format!("/v1/notifications/{id}/responses?limit=1000&wait={wait}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Records callbacks; refuses each delivery's first attempt with 503 so every one is retried.
#[derive(Default)]
pub(crate) struct Receiver {
    pub(crate) seen_attempts: HashSet<String>,
    pub(crate) accepted: Vec<Value>,
    pub(crate) bad_signatures: usize,
}

pub(crate) async fn callback_receiver() -> (String, Arc<Mutex<Receiver>>) {
    let state = Arc::new(Mutex::new(Receiver::default()));
    let s = state.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let s = s.clone();
            async move {
                let h = |k: &str| {
                    headers
                        .get(k)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned()
                };
                let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
                mac.update(format!("{}.{body}", h("x-herald-timestamp")).as_bytes());
                let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
                let mut st = s.lock();
                if expected != h("x-herald-signature") {
                    st.bad_signatures += 1;
                    return axum::http::StatusCode::UNAUTHORIZED;
                }
                if st.seen_attempts.insert(h("x-herald-delivery")) {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                }
                st.accepted.push(serde_json::from_str(&body).unwrap());
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, state)
}

/// Recipients reached through their installation are named by AAD object id.
fn aad(u: &Value) -> String {
    u["aadObjectId"].as_str().unwrap().to_ascii_lowercase()
}

fn approval_card() -> Value {
    json!({
        "type": "AdaptiveCard", "version": "1.5",
        "body": [
            {"type": "TextBlock", "text": "Hello ${givenName}, please approve the budget for ${upn}.", "wrap": true},
            {"type": "Input.Text", "id": "comment", "label": "Comment"}
        ],
        "actions": [
            {"type": "Action.Submit", "title": "Approve", "data": {"choice": "yes"}},
            {"type": "Action.Execute", "title": "Reject", "verb": "reject"}
        ]
    })
}

/// A Submit as Teams would send it for `user`'s card `card_id`, signed by the emulator.
fn submit_activity(env: &Env, user: &Value, conv: &str, card_id: &str, inbound_id: &str) -> Value {
    json!({
        "type": "message", "id": inbound_id, "channelId": "msteams", "text": "",
        "serviceUrl": env.emu.service_url(),
        "from": {"id": user["id"], "aadObjectId": user["aadObjectId"], "name": user["displayName"]},
        "recipient": {"id": format!("28:{}", env.emu.app_id())},
        "conversation": {"id": conv, "conversationType": "personal", "tenantId": env.emu.tenant_id()},
        "channelData": {"tenant": {"id": env.emu.tenant_id()}},
        "replyToId": card_id,
        "value": {"heraldAction": "Approve", "choice": "yes", "comment": "forged?"}
    })
}

async fn waits_for_answers(backend: Backend) {
    let (hook, received) = callback_receiver().await;
    let env = Env::start(
        backend,
        500,
        &[
            ("HERALD_WELCOME_TEXT", ""),
            ("HERALD_CALLBACK_SECRET", SECRET),
            // The receiver below listens on loopback, which callbacks may reach only when allowed.
            ("HERALD_CALLBACK_ALLOWED_HOSTS", "127.0.0.1"),
            ("HERALD_TENANT_RPS", "0"),
        ],
    )
    .await;
    let tenant = env.tenant().await;
    let users: Vec<Value> = tenant["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["guest"] != true)
        .take(500)
        .cloned()
        .collect();
    assert_eq!(users.len(), 500);
    for chunk in users.chunks(25) {
        futures_util::future::join_all(chunk.iter().map(|u| {
            let path = format!("/users/{}/install", u["upn"].as_str().unwrap());
            let env = &env;
            async move { env.control(&path, json!({})).await }
        }))
        .await;
    }
    let n = notify(
        &env,
        json!({
            "to": {"allInstalled": true},
            "message": {"card": approval_card()},
            "options": {"waitForResponse": {"updateMessage": UPDATE, "callbackUrl": hook}}
        }),
    )
    .await;
    let id = n["id"].as_str().unwrap().to_owned();
    finished(&env, &id).await;
    let delivered = rows(&env, &id).await;
    assert_eq!(delivered.len(), 500);
    assert!(
        delivered.iter().all(|r| r["statusCode"] == 200),
        "{delivered:?}"
    );
    let card_of: HashMap<String, (String, String)> = delivered
        .iter()
        .map(|r| {
            (
                r["recipient"].as_str().unwrap().to_ascii_lowercase(),
                (
                    r["activityId"].as_str().unwrap().to_owned(),
                    r["conversationId"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect();
    let before = responses(&env, &id, 0).await;
    assert_eq!(before["counts"]["waiting"], 500);
    assert_eq!(before["done"], false);

    // Each card was bound to its own recipient.
    let first = &users[0];
    let upn0 = first["upn"].as_str().unwrap();
    let t = env.transcript(upn0).await;
    let given = first["displayName"]
        .as_str()
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    let card_text = t[0]["attachments"][0]["content"]["body"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        card_text,
        format!("Hello {given}, please approve the budget for {upn0}.")
    );

    // A forged answer: user 1 answers user 0's card, from their own chat and from user 0's.
    let (card0, conv0) = card_of[&aad(first)].clone();
    let (_, conv1) = card_of[&aad(&users[1])].clone();
    let token = env.emu.sign(&channel_claims(&env));
    for conv in [&conv1, &conv0] {
        let forged = submit_activity(&env, &users[1], conv, &card0, "forged-1");
        let r = env.post_activity(Some(&token), &forged).await;
        assert_eq!(r.status(), 403, "a forged answer must be refused");
    }
    assert_eq!(responses(&env, &id, 0).await["counts"]["answered"], 0);

    // Everyone answers through the emulator's people: even Submit (Approve), odd Execute (Reject).
    let answers: Vec<(usize, &Value)> = users.iter().enumerate().collect();
    for chunk in answers.chunks(20) {
        futures_util::future::join_all(chunk.iter().map(|(i, u)| {
            let upn = u["upn"].as_str().unwrap().to_ascii_lowercase();
            let (card, _) = card_of[&aad(u)].clone();
            let action = if i % 2 == 0 { "Approve" } else { "reject" };
            let env = &env;
            async move {
                let r = env
                    .control(
                        &format!("/users/{upn}/actions"),
                        json!({"activityId": card, "action": action, "inputs": {"comment": format!("from {i}")}}),
                    )
                    .await;
                assert!(r.get("error").is_none(), "{r}");
                assert_eq!(r["botResponse"]["status"], 200, "Herald took the answer: {r}");
            }
        }))
        .await;
    }
    // A replay of user 0's Submit (the same activity id) and a second answer change nothing.
    let replay = submit_activity(&env, first, &conv0, &card0, "replay-of-0");
    for _ in 0..2 {
        assert_eq!(env.post_activity(Some(&token), &replay).await.status(), 200);
    }

    let all = responses(&env, &id, 30).await;
    assert_eq!(all["done"], true, "{}", all["counts"]);
    assert_eq!(all["counts"]["answered"], 500);
    assert_eq!(all["tally"], json!({"Approve": 250, "Reject": 250}));
    let items = all["items"].as_array().unwrap();
    let mine = items
        .iter()
        .find(|r| {
            r["recipient"]
                .as_str()
                .unwrap()
                .eq_ignore_ascii_case(&aad(first))
        })
        .unwrap();
    assert_eq!(mine["submitActionId"], "Approve");
    assert_eq!(
        mine["inputs"],
        json!({"comment": "from 0"}),
        "the button's own data is not an input"
    );
    assert_eq!(
        mine["answers"], 2,
        "the replay is not counted twice; the later answer is history"
    );
    let odd = items
        .iter()
        .find(|r| {
            r["recipient"]
                .as_str()
                .unwrap()
                .eq_ignore_ascii_case(&aad(&users[1]))
        })
        .unwrap();
    assert_eq!(
        (&odd["submitActionId"], &odd["verb"]),
        (&json!("Reject"), &json!("reject"))
    );
    assert!(odd["respondedAt"].is_string());

    // Every card now shows the update message (Submit: UpdateActivity; Execute: the invoke's card).
    env.eventually("every card shows the update message", || async {
        let mut all_updated = true;
        for u in users.iter().step_by(7).chain(users.iter().take(6)) {
            let t = env.transcript(u["upn"].as_str().unwrap()).await;
            if !t[0].to_string().contains(UPDATE) {
                all_updated = false;
            }
        }
        all_updated
    })
    .await;
    let stats: Value = env.emulator_stats().await;
    let updates = stats.to_string();
    assert!(
        updates.contains("PUT"),
        "UpdateActivity was called: {updates}"
    );

    // Callbacks: one per answer, signed, each after a refused first attempt.
    env.eventually("every answer is called back", || async {
        received.lock().accepted.len() >= 500
    })
    .await;
    {
        let r = received.lock();
        assert_eq!(r.bad_signatures, 0);
        assert_eq!(r.accepted.len(), 500);
        assert!(r
            .accepted
            .iter()
            .all(|c| c["event"] == "answered" && c["notificationId"] == id.as_str()));
    }
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_answers_are_tallied_updated_and_called_back_sqlite() {
    waits_for_answers(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_answers_are_tallied_updated_and_called_back_postgres() {
    if postgres_url().is_some() {
        waits_for_answers(Backend::Postgres).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_late_answers_and_template_errors() {
    let clock = herald_core::ManualClock::new(1_800_000_000_000);
    let env = Env::start_with_clock(
        Backend::Sqlite,
        4,
        &[("HERALD_WELCOME_TEXT", ""), ("HERALD_TENANT_RPS", "0")],
        clock.clone(),
    )
    .await;
    for u in [
        "user1@sandbox.example",
        "user2@sandbox.example",
        "user3@sandbox.example",
    ] {
        env.control(&format!("/users/{u}/install"), json!({})).await;
    }
    let card = json!({
        "type": "AdaptiveCard", "version": "1.5",
        "body": [{"type": "TextBlock", "text": "Your code is ${code}"}],
        "actions": [{"type": "Action.Execute", "title": "Got it", "verb": "ack"}]
    });
    let n = notify(
        &env,
        json!({
            "to": {"users": ["user1@sandbox.example", "user2@sandbox.example", "user3@sandbox.example"]},
            "message": {"card": card, "data": {"user1@sandbox.example": {"code": "A-1"}, "USER2@sandbox.example": {"code": "B-2"}}},
            "options": {"waitForResponse": {"timeoutSeconds": 60}}
        }),
    )
    .await;
    let id = n["id"].as_str().unwrap().to_owned();
    finished(&env, &id).await;
    let rs = rows(&env, &id).await;
    let row3 = rs
        .iter()
        .find(|r| r["recipient"] == "user3@sandbox.example")
        .unwrap();
    assert_eq!(row3["reason"], "template_error");
    assert!(
        row3["detail"].as_str().unwrap().contains("${code}"),
        "{row3}"
    );
    let t1 = env.transcript("user1@sandbox.example").await;
    assert_eq!(
        t1[0]["attachments"][0]["content"]["body"][0]["text"],
        "Your code is A-1"
    );
    let card1 = rs
        .iter()
        .find(|r| r["recipient"] == "user1@sandbox.example")
        .unwrap()["activityId"]
        .clone();
    let card2 = rs
        .iter()
        .find(|r| r["recipient"] == "user2@sandbox.example")
        .unwrap()["activityId"]
        .clone();
    let pressed = env
        .control(
            "/users/user1@sandbox.example/actions",
            json!({"activityId": card1, "action": "ack"}),
        )
        .await;
    assert!(pressed.to_string().contains("recorded"), "{pressed}");
    // The wait ends after 60 s of the injected clock: user2 has no response.
    clock.advance(Duration::from_secs(61));
    let r = responses(&env, &id, 10).await;
    assert_eq!(r["done"], true, "{r}");
    assert_eq!(
        r["counts"],
        json!({"waiting": 0, "answered": 1, "noResponse": 1})
    );
    assert_eq!(r["tally"], json!({"Got it": 1}));
    // A late answer is kept as history only, and told so.
    let late = env
        .control(
            "/users/user2@sandbox.example/actions",
            json!({"activityId": card2, "action": "ack"}),
        )
        .await;
    assert!(late.to_string().contains("closed"), "{late}");
    let r = responses(&env, &id, 0).await;
    assert_eq!(r["counts"]["noResponse"], 1);
    env.shutdown().await;
}
