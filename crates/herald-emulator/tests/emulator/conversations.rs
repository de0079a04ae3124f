//! Group chats with the bot, cleared chats, and the scheduled faults (one Retry-After, outages)
//! with the duplicate count.

use crate::helpers::*;
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn a_group_chat_tells_the_bot_of_its_install_and_of_mentions_only() {
    let env = Env::start(3).await;
    let r = env
        .control(
            "/_emulator/groupchats",
            json!({"members": ["user1@sandbox.example", "user2@sandbox.example"], "topic": "Crew"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let chat = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        chat.starts_with("19:") && chat.ends_with("@thread.v2"),
        "{chat}"
    );
    let r = env
        .control(&format!("/_emulator/groupchats/{chat}/install"), json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let got = env.bot.wait_for(2).await;
    assert_eq!(got[0]["type"], "installationUpdate");
    assert_eq!(got[1]["type"], "conversationUpdate");
    for a in &got {
        assert_eq!(a["conversation"]["conversationType"], "groupChat");
        assert_eq!(a["conversation"]["id"], chat.as_str());
        assert_eq!(a["conversation"]["isGroup"], true);
    }
    // Without a mention the bot hears nothing; with one it gets the message and the mention.
    let r: Value = env
        .control(
            &format!("/_emulator/groupchats/{chat}/messages"),
            json!({"from": "user2@sandbox.example", "text": "hi all", "mention": false}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["botHeard"], false);
    let r: Value = env
        .control(
            &format!("/_emulator/groupchats/{chat}/messages"),
            json!({"from": "user2@sandbox.example", "text": "status?"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["botHeard"], true);
    let got = env.bot.wait_for(3).await;
    assert_eq!(got.len(), 3);
    let m = &got[2];
    assert!(m["text"].as_str().unwrap().ends_with("status?"));
    assert!(m["entities"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["type"] == "mention"));
    // The bot can write there while it is in the chat, not after.
    let token = env.token().await;
    assert_eq!(env.send_text(&token, &chat, "pong").await.status(), 201);
    env.control(
        &format!("/_emulator/groupchats/{chat}/uninstall"),
        json!({}),
    )
    .await;
    let r = env.send_text(&token, &chat, "pong").await;
    assert_eq!(
        code_of(r).await,
        (403, "BotNotInConversationRoster".to_owned())
    );
    // Someone outside the chat cannot write in it.
    let r = env
        .control(
            &format!("/_emulator/groupchats/{chat}/messages"),
            json!({"from": "user3@sandbox.example", "text": "x"}),
        )
        .await;
    assert_eq!(r.status(), 422);
}

#[tokio::test]
async fn a_cleared_chat_is_gone_until_a_new_one_is_made() {
    let env = Env::start(2).await;
    let token = env.token().await;
    let (_, conv) = env.installed_conversation(&token, 1).await;
    let (_, _, member) = env.user(1).await;
    assert_eq!(env.send_text(&token, &conv, "before").await.status(), 201);
    env.control(
        "/_emulator/users/user1@sandbox.example/clear-history",
        json!({}),
    )
    .await;
    let r = env.send_text(&token, &conv, "after").await;
    assert_eq!(code_of(r).await, (404, "ConversationNotFound".to_owned()));
    let r = env.create_conversation(&token, &member).await;
    let fresh = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(fresh, conv, "a new conversation");
    assert_eq!(env.send_text(&token, &fresh, "after").await.status(), 201);
    let t = env.transcript("user1@sandbox.example").await;
    assert_eq!(t.len(), 1, "the cleared history is gone");
}

#[tokio::test]
async fn one_retry_after_and_outages_come_when_scheduled_and_duplicates_are_counted() {
    let env = Env::start(2).await;
    let token = env.token().await;
    let (_, conv) = env.installed_conversation(&token, 1).await;
    env.set_config(json!({"conversationLimits": false, "tenantRps": 0, "transcripts": false}))
        .await;
    env.set_config(json!({"faults": {"retryAfterOnce": {"afterRequests": 2, "seconds": 90}}}))
        .await;
    let mut statuses = Vec::new();
    for i in 0..4 {
        let r = env.send_text(&token, &conv, &format!("m{i}")).await;
        if r.status() == 429 {
            assert_eq!(r.headers()["retry-after"], "90");
        }
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [201, 201, 429, 201]);
    // The same message twice is a duplicate, counted with transcripts off.
    env.send_text(&token, &conv, "m0").await;
    assert_eq!(env.stats().await["duplicates"], 1);

    // refuse: answered 503 at once, nothing done.
    env.set_config(
        json!({"faults": {"outage": {"afterRequests": 0, "durationMs": 60000, "mode": "refuse"}}}),
    )
    .await;
    let r = env.send_text(&token, &conv, "refused").await;
    assert_eq!(r.status(), 503);
    // It ends with the clock.
    env.advance(61.0);
    assert_eq!(env.send_text(&token, &conv, "refused").await.status(), 201);
    assert_eq!(
        env.stats().await["duplicates"],
        1,
        "the refused one was never done"
    );

    // dropResponse: carried out, never answered.
    env.set_config(json!({"faults": {"outage": {"afterRequests": 0, "durationMs": 60000, "mode": "dropResponse"}}}))
        .await;
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let r = quick
        .post(env.url(&format!("/v3/conversations/{}/activities", enc(&conv))))
        .bearer_auth(&token)
        .json(&json!({"type": "message", "text": "dropped"}))
        .send()
        .await;
    assert!(r.is_err(), "no answer came");
    env.advance(61.0);
    assert_eq!(env.send_text(&token, &conv, "dropped").await.status(), 201);
    assert_eq!(
        env.stats().await["duplicates"],
        2,
        "the dropped one was done: sending it again is a duplicate"
    );
    // Bad schedules are named.
    let r = env
        .http
        .put(env.url("/_emulator/config"))
        .json(&json!({"faults": {"outage": {"afterRequests": 0, "durationMs": 0, "mode": "hold"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(
        r.json::<Value>().await.unwrap()["pointer"],
        "/faults/outage/durationMs"
    );
}
