//! Trust II, the right conversation: group chats are references of their own and never serve a
//! 1:1 send; a cleared chat is opened again; a 404 from something in front of Teams says nothing
//! about the user.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

async fn installations(env: &Env, query: &str) -> Vec<Value> {
    let v = env.api_get(&format!("/v1/installations{query}")).await;
    v["items"].as_array().cloned().unwrap_or_default()
}

async fn group_transcript(env: &Env, chat: &str) -> Vec<Value> {
    let v = env
        .emulator_get(&format!("/groupchats/{chat}/transcript"))
        .await;
    v["activities"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_group_chat_is_its_own_reference_and_never_serves_a_one_to_one_send() {
    let env = Env::start(Backend::Sqlite, 5, &[("HERALD_WELCOME_TEXT", "")]).await;
    let user1 = "user1@sandbox.example";
    env.control(&format!("/users/{user1}/install"), json!({}))
        .await;
    let personal = env.transcript(user1).await;
    let _ = personal;
    let mine = installations(&env, "").await;
    assert_eq!(mine.len(), 1);
    let one_to_one = mine[0]["conversationId"].as_str().unwrap().to_owned();

    // user1 and user2 add the bot to a group chat, and user1 @mentions it there.
    let chat = env
        .control(
            "/groupchats",
            json!({"members": [user1, "user2@sandbox.example"], "topic": "Launch crew"}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    env.control(
        &format!("/groupchats/{chat}/install"),
        json!({"from": user1}),
    )
    .await;
    let heard = env
        .control(
            &format!("/groupchats/{chat}/messages"),
            json!({"from": user1, "text": "status?"}),
        )
        .await;
    assert_eq!(heard["botHeard"], true);
    // Without a mention the bot hears nothing, as in Teams.
    let unheard = env
        .control(
            &format!("/groupchats/{chat}/messages"),
            json!({"from": user1, "text": "lunch?", "mention": false}),
        )
        .await;
    assert_eq!(unheard["botHeard"], false);

    // user1's 1:1 reference is untouched; the chat is listed apart.
    let mine = installations(&env, "?type=personal").await;
    assert_eq!(
        mine.len(),
        1,
        "no reference made from the group chat: {mine:?}"
    );
    assert_eq!(mine[0]["conversationId"], one_to_one);
    assert_eq!(mine[0]["conversationType"], "personal");
    let chats = installations(&env, "?type=groupChat").await;
    assert_eq!(chats.len(), 1);
    assert_eq!(chats[0]["conversationId"], chat);
    assert_eq!(chats[0]["conversationType"], "groupChat");
    assert_eq!(chats[0]["name"], "Launch crew");
    assert_eq!(chats[0]["state"], "active");

    // A 1:1 send goes to the 1:1, never to the group chat.
    let before = group_transcript(&env, &chat).await.len();
    let n = notify(
        &env,
        json!({"to": {"users": [user1]}, "message": {"text": "Your payslip is ready"}}),
    )
    .await;
    let id = n["id"].as_str().unwrap();
    finished(&env, id).await;
    let row = &rows(&env, id).await[0];
    assert_eq!(row["outcome"], "delivered");
    assert_eq!(row["conversationId"], one_to_one);
    assert_eq!(group_transcript(&env, &chat).await.len(), before);
    assert!(env
        .bot_messages(user1)
        .await
        .iter()
        .any(|m| m["text"] == "Your payslip is ready"));

    // Removing the bot from the group chat marks the chat removed, not user1's 1:1.
    env.control(
        &format!("/groupchats/{chat}/uninstall"),
        json!({"from": user1}),
    )
    .await;
    let chats = installations(&env, "?type=groupChat&state=removed").await;
    assert_eq!(chats.len(), 1);
    let mine = installations(&env, "?type=personal&state=active").await;
    assert_eq!(mine.len(), 1, "the 1:1 stays reachable");

    // Teams are listed as channels; a wrong type is named.
    let r = env
        .api(Method::GET, "/v1/installations?type=meeting")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(r.json::<Value>().await.unwrap()["pointer"], "?type");
    env.shutdown().await;
}

#[tokio::test]
async fn a_cleared_chat_is_opened_again_and_gets_the_message() {
    let env = Env::start(Backend::Sqlite, 3, &[("HERALD_WELCOME_TEXT", "")]).await;
    let user1 = "user1@sandbox.example";
    env.control(&format!("/users/{user1}/install"), json!({}))
        .await;
    let old = installations(&env, "").await[0]["conversationId"]
        .as_str()
        .unwrap()
        .to_owned();
    // The user deletes the chat: sends to it get 404 ConversationNotFound.
    env.control(&format!("/users/{user1}/clear-history"), json!({}))
        .await;
    let n = notify(
        &env,
        json!({"to": {"users": [user1]}, "message": {"text": "After the clear"}}),
    )
    .await;
    let id = n["id"].as_str().unwrap();
    finished(&env, id).await;
    let row = &rows(&env, id).await[0];
    assert_eq!(row["outcome"], "delivered", "{row}");
    assert_ne!(row["conversationId"], old, "a new conversation");
    let refs = installations(&env, "").await;
    assert_eq!(refs[0]["state"], "active", "not marked unreachable");
    assert_eq!(
        refs[0]["conversationId"], row["conversationId"],
        "kept for next time"
    );
    let got = env.bot_messages(user1).await;
    assert_eq!(got.last().unwrap()["text"], "After the clear");
    env.shutdown().await;
}
