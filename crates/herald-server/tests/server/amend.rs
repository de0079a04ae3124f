//! Recall and edit over the emulator: a recall while sending deletes every delivered message and
//! sends nothing more; an edit re-renders each card for its own recipient and leaves answered
//! cards alone.

use crate::helpers::*;
use serde_json::{json, Value};
use std::time::Duration;

async fn status(env: &Env, id: &str) -> Value {
    env.api_get(&format!("/v1/notifications/{id}")).await
}

async fn post(env: &Env, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = env.api(reqwest::Method::POST, path);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

async fn emulator_sends(env: &Env) -> u64 {
    let s: Value = env.emulator_stats().await;
    s["requests"]["POST /v3/conversations/{cid}/activities"]
        .as_object()
        .map(|by| by.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0)
}

fn upns(n: usize) -> Vec<String> {
    (1..=n)
        .map(|i| format!("user{i}@sandbox.example"))
        .collect()
}

/// 1,000 recipients at the tenant's 50 a second, recalled a few seconds in: what was delivered
/// is deleted, nothing pending is sent afterwards, and the counts say so.
async fn recall_while_sending(backend: Backend) {
    let env = Env::start(backend, 1000, &[("HERALD_WELCOME_TEXT", "")]).await;
    let all = upns(1000);
    install_and_wait(&env, &all.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let text = "The all-hands moved to Friday";
    let n = notify(
        &env,
        json!({"to": {"users": all}, "message": {"text": text}}),
    )
    .await;
    let id = n["id"].as_str().unwrap().to_owned();
    env.eventually("a hundred delivered", || async {
        status(&env, &id).await["counts"]["delivered"]
            .as_u64()
            .unwrap()
            >= 100
    })
    .await;
    let (code, r) = post(&env, &format!("/v1/notifications/{id}/recall"), None).await;
    assert_eq!(code, 202, "{r}");
    assert_eq!(r["recall"]["state"], "running", "{r}");
    assert_eq!(r["recall"]["requestedBy"], "default");
    let (code, again) = post(&env, &format!("/v1/notifications/{id}/recall"), None).await;
    assert_eq!(code, 409, "{again}");
    let (code, edit) = post(
        &env,
        &format!("/v1/notifications/{id}/edit"),
        Some(json!({"message": {"text": "too late"}})),
    )
    .await;
    assert_eq!(code, 409, "an edit after a recall: {edit}");

    env.eventually("the recall done", || async {
        status(&env, &id).await["recall"]["state"] == "done"
    })
    .await;
    let s = status(&env, &id).await;
    let c = &s["counts"];
    let delivered = c["delivered"].as_u64().unwrap();
    assert!((100..1000).contains(&delivered), "{s}");
    assert_eq!(c["recalled"], delivered, "{s}");
    assert_eq!(s["recall"]["done"], delivered, "{s}");
    assert_eq!(s["recall"]["failed"], 0, "{s}");
    assert_eq!(c["canceled"].as_u64().unwrap() + delivered, 1000, "{s}");
    assert_eq!(s["state"], "canceled");
    // Nothing is sent after the recall, and no message is left in anyone's chat.
    let sent = emulator_sends(&env).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(emulator_sends(&env).await, sent);
    let mut left = 0;
    let mut deleted = 0;
    for u in &all {
        for m in env
            .bot_messages(u)
            .await
            .iter()
            .filter(|m| m["text"] == text)
        {
            if m["deleted"] == true {
                deleted += 1;
            } else {
                left += 1;
            }
        }
    }
    assert_eq!(
        (left, deleted),
        (0, delivered),
        "every delivered message deleted"
    );
    let rows = rows(&env, &id).await;
    let recalled = rows.iter().filter(|r| r["recalledAt"].is_string()).count() as u64;
    assert_eq!(recalled, delivered);
    assert!(rows
        .iter()
        .filter(|r| r["recalledAt"].is_string())
        .all(|r| r["recalledBy"] == "default" && r["outcome"] == "delivered"));
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recall_while_sending_deletes_what_was_delivered_and_sends_nothing_more_sqlite() {
    recall_while_sending(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recall_while_sending_deletes_what_was_delivered_and_sends_nothing_more_postgres() {
    if postgres_url().is_some() {
        recall_while_sending(Backend::Postgres).await;
    }
}

fn card(text: &str) -> Value {
    json!({
        "type": "AdaptiveCard", "version": "1.5",
        "body": [{"type": "TextBlock", "text": text, "wrap": true}],
        "actions": [{"type": "Action.Submit", "title": "Got it", "data": {"ack": true}}]
    })
}

fn card_text(m: &Value) -> String {
    m["attachments"][0]["content"]["body"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// 1,000 templated cards edited: each recipient's card is rendered again with their own data;
/// a card already answered keeps what its answer made of it.
async fn edit_templated_cards(backend: Backend) {
    let env = Env::start(
        backend,
        1000,
        &[("HERALD_WELCOME_TEXT", ""), ("HERALD_TENANT_RPS", "0")],
    )
    .await;
    let r = env
        .http
        .put(format!("{}/_emulator/config", env.emu.origin()))
        .json(&json!({"tenantRps": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let all = upns(1000);
    install_and_wait(&env, &all.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let n = notify(
        &env,
        json!({"to": {"users": all}, "message": {"card": card("Hello ${displayName}, lunch is at noon")},
               "options": {"waitForResponse": {"timeoutSeconds": 3600}}}),
    )
    .await;
    let id = n["id"].as_str().unwrap().to_owned();
    finished(&env, &id).await;
    // user1 answers before the edit.
    let first = env.bot_messages("user1@sandbox.example").await;
    let pressed = env
        .control(
            "/users/user1@sandbox.example/actions",
            json!({"activityId": first[0]["id"], "action": "Got it"}),
        )
        .await;
    assert_eq!(pressed["botResponse"]["status"], 200, "{pressed}");
    env.eventually("the answer kept", || async {
        env.api_get(&format!("/v1/notifications/{id}/responses"))
            .await["counts"]["answered"]
            == 1
    })
    .await;

    // A bad card is refused where it is wrong; an edit of an unknown notification is a 404.
    let (code, bad) = post(
        &env,
        &format!("/v1/notifications/{id}/edit"),
        Some(json!({"message": {"card": {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock"}]}}})),
    )
    .await;
    assert_eq!(code, 422, "{bad}");
    assert!(
        bad["pointer"]
            .as_str()
            .unwrap()
            .starts_with("/message/card"),
        "{bad}"
    );
    let (code, _) = post(
        &env,
        "/v1/notifications/ntf_unknown0000000000000/edit",
        Some(json!({"message": {"text": "x"}})),
    )
    .await;
    assert_eq!(code, 404);

    let (code, r) = post(
        &env,
        &format!("/v1/notifications/{id}/edit"),
        Some(json!({"message": {"card": card("Hello ${displayName}, lunch moved to 1 pm")}})),
    )
    .await;
    assert_eq!(code, 202, "{r}");
    env.eventually("the edit done", || async {
        status(&env, &id).await["edit"]["state"] == "done"
    })
    .await;
    let s = status(&env, &id).await;
    assert_eq!(s["edit"]["done"], 999, "all but the answered card: {s}");
    assert_eq!(s["edit"]["failed"], 0, "{s}");
    let t = env.tenant().await;
    let names: std::collections::HashMap<String, String> = t["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["upn"].as_str().unwrap().to_owned(),
                u["displayName"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for u in &all {
        let m = env.bot_messages(u).await;
        let card = m.iter().find(|m| m["attachments"].is_array()).unwrap();
        let name = &names[u];
        if u == "user1@sandbox.example" {
            assert!(
                !card_text(card).contains("1 pm"),
                "the answered card is left alone: {card}"
            );
        } else {
            assert_eq!(card["updated"], true, "{u}");
            assert_eq!(
                card_text(card),
                format!("Hello {name}, lunch moved to 1 pm"),
                "{u}"
            );
        }
    }
    let rows = rows(&env, &id).await;
    assert_eq!(
        rows.iter()
            .filter(|r| r["editedAt"].is_string() && r["editedBy"] == "default")
            .count(),
        999
    );
    let csv = report_csv(&env, &id).await;
    assert_eq!(
        csv.lines().filter(|l| l.contains(",default,")).count(),
        999,
        "editedBy in the CSV"
    );
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_renders_each_card_again_for_its_recipient_sqlite() {
    edit_templated_cards(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_renders_each_card_again_for_its_recipient_postgres() {
    if postgres_url().is_some() {
        edit_templated_cards(Backend::Postgres).await;
    }
}
