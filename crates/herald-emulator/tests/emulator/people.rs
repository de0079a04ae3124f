use crate::helpers::*;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};

/// Verifies a token the way a bot must (docs/teams.md), against the JWKS.
async fn verify(env: &Env, authorization: &str) -> Value {
    let token = authorization
        .strip_prefix("Bearer ")
        .expect("a bearer token");
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    let keys = env.get("/v1/.well-known/keys").await;
    let kid = header.kid.unwrap();
    let key = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("the kid is published");
    assert!(key["endorsements"]
        .as_array()
        .unwrap()
        .contains(&json!("msteams")));
    let dk =
        DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap())
            .unwrap();
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[APP_ID]);
    v.set_issuer(&["https://api.botframework.com"]);
    v.leeway = 300;
    jsonwebtoken::decode::<Value>(token, &dk, &v)
        .unwrap()
        .claims
}

#[tokio::test]
async fn install_sends_signed_installation_and_conversation_updates() {
    let env = Env::start(3).await;
    let (upn, aad, id) = env.user(1).await;
    let r = env.install(&upn).await;
    assert_eq!(r["alreadyInstalled"], false);
    let conv = r["conversationId"].as_str().unwrap();
    assert_eq!(r["botResponses"].as_array().unwrap().len(), 2);

    let got = env.bot.received.lock().clone();
    assert_eq!(got.len(), 2);
    let (install, update) = (&got[0].activity, &got[1].activity);
    assert_eq!(install["type"], "installationUpdate");
    assert_eq!(install["action"], "add");
    assert_eq!(update["type"], "conversationUpdate");
    let added: Vec<&str> = update["membersAdded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(added, vec![format!("28:{APP_ID}").as_str(), id.as_str()]);
    assert_eq!(update["membersAdded"][1]["aadObjectId"], aad.as_str());
    for a in [install, update] {
        assert_eq!(a["conversation"]["id"], conv);
        assert_eq!(a["conversation"]["conversationType"], "personal");
        assert_eq!(a["conversation"]["tenantId"], env.emu.tenant_id().as_str());
        assert_eq!(
            a["channelData"]["tenant"]["id"],
            env.emu.tenant_id().as_str()
        );
        assert_eq!(a["channelId"], "msteams");
        assert_eq!(a["recipient"]["id"], format!("28:{APP_ID}"));
        assert_eq!(a["from"]["aadObjectId"], aad.as_str());
        assert_eq!(a["serviceUrl"], format!("{}/", env.emu.origin()));
    }
    for g in &got {
        let claims = verify(&env, &g.authorization).await;
        assert_eq!(
            claims["serviceurl"].as_str().unwrap().trim_end_matches('/'),
            g.activity["serviceUrl"]
                .as_str()
                .unwrap()
                .trim_end_matches('/'),
        );
        assert_eq!(g.headers["x-ms-conversation-id"], conv);
    }
    assert_eq!(
        got[0].authorization, got[1].authorization,
        "the channel reuses its token"
    );

    // A repeated install re-delivers the same events, as Teams may; the conversation is the same.
    let again = env.install(&upn).await;
    assert_eq!(again["alreadyInstalled"], true);
    assert_eq!(again["conversationId"], conv);
    assert_eq!(env.bot.count(), 4);
    let t = env.tenant().await;
    assert_eq!(t["users"][0]["installed"], true);
}

#[tokio::test]
async fn uninstall_tells_the_bot_but_blocking_tells_it_nothing() {
    let env = Env::start(3).await;
    let token = env.token().await;
    let (upn, conv) = env.installed_conversation(&token, 1).await;
    assert_eq!(env.send_text(&token, &conv, "before").await.status(), 201);

    let before = env.bot.count();
    let r = env
        .control(&format!("/_emulator/users/{upn}/block"), json!({}))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        env.bot.count(),
        before,
        "Teams tells the bot nothing about a block"
    );
    assert_eq!(
        code_of(env.send_text(&token, &conv, "blocked?").await).await,
        (403, "ConversationBlockedByUser".into())
    );
    env.set_config(json!({"legacyBlockedErrors": true})).await;
    let r = env.send_text(&token, &conv, "blocked?").await;
    assert_eq!(r.status(), 403);
    let legacy: Value = r.json().await.unwrap();
    assert_eq!(legacy["errorCode"], 209);
    assert!(legacy["message"]
        .as_str()
        .unwrap()
        .contains("MessageWritesBlocked"));
    env.set_config(json!({"legacyBlockedErrors": false})).await;
    env.control(&format!("/_emulator/users/{upn}/unblock"), json!({}))
        .await;
    assert_eq!(
        env.send_text(&token, &conv, "unblocked").await.status(),
        201
    );

    let r = env
        .control(&format!("/_emulator/users/{upn}/uninstall"), json!({}))
        .await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["wasInstalled"], true);
    let got = env.bot.activities();
    let n = got.len();
    assert_eq!(got[n - 2]["type"], "installationUpdate");
    assert_eq!(got[n - 2]["action"], "remove");
    assert_eq!(
        got[n - 1]["membersRemoved"][0]["id"],
        format!("28:{APP_ID}")
    );
    assert_eq!(
        code_of(env.send_text(&token, &conv, "gone").await).await,
        (403, "BotNotInConversationRoster".into())
    );
    // Reinstalling brings the same conversation back.
    let r = env.install(&upn).await;
    assert_eq!(r["conversationId"], conv.as_str());
    assert_eq!(env.send_text(&token, &conv, "back").await.status(), 201);
    let texts: Vec<Value> = env
        .transcript(&upn)
        .await
        .iter()
        .map(|a| a["text"].clone())
        .collect();
    assert_eq!(
        texts,
        vec![json!("before"), json!("unblocked"), json!("back")]
    );
}

#[tokio::test]
async fn a_user_message_reaches_the_bot_and_the_transcript() {
    let env = Env::start(3).await;
    let r = env
        .control(
            "/_emulator/users/user2@sandbox.example/messages",
            json!({"text": "hello bot"}),
        )
        .await;
    assert_eq!(r.status(), 409, "a user without the bot cannot write to it");
    env.install("user2@sandbox.example").await;
    let r = env
        .control(
            "/_emulator/users/user2@sandbox.example/messages",
            json!({"text": "hello bot"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["botResponse"]["status"], 200);
    let m = env.bot.activities().last().unwrap().clone();
    assert_eq!(m["type"], "message");
    assert_eq!(m["text"], "hello bot");
    assert_eq!(m["from"]["id"], env.user(2).await.2.as_str());
    let t = env.transcript("user2@sandbox.example").await;
    assert_eq!(t.len(), 1);
    assert_eq!(t[0]["text"], "hello bot");
    assert_eq!(t[0]["id"], v["activityId"]);
}

fn approval_card() -> Value {
    json!({"type": "AdaptiveCard", "version": "1.5", "body": [
        {"type": "TextBlock", "text": "Approve the budget?"},
        {"type": "Input.Text", "id": "comment", "isRequired": true},
        {"type": "ActionSet", "actions": [
            {"type": "Action.Execute", "title": "Approve", "verb": "approve", "data": {"request": 42}}
        ]}
    ], "actions": [{"type": "Action.Submit", "title": "Reject", "data": {"request": 42}}]})
}

#[tokio::test]
async fn card_buttons_submit_and_execute_as_teams_does() {
    let env = Env::start(3).await;
    let token = env.token().await;
    let (upn, conv) = env.installed_conversation(&token, 1).await;
    let r = env
        .send(&token, &conv, &json!({"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": approval_card()}]}))
        .await;
    assert_eq!(r.status(), 201);
    let card_id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let actions = format!("/_emulator/users/{upn}/actions");
    let press = |action: &str, inputs: Value, activity: &str| {
        env.control(
            &actions,
            json!({"activityId": activity, "action": action, "inputs": inputs}),
        )
    };
    // Submit: a message with empty text, the data merged with the inputs, replyToId = the card.
    let r = press("Reject", json!({"comment": "too much"}), &card_id).await;
    assert_eq!(r.status(), 200);
    let m = env.bot.activities().last().unwrap().clone();
    assert_eq!(m["type"], "message");
    assert_eq!(m["text"], "");
    assert_eq!(m["replyToId"], card_id.as_str());
    assert_eq!(m["value"], json!({"request": 42, "comment": "too much"}));

    // Execute: an adaptiveCard/action invoke; the bot's card replaces the pressed one.
    let refreshed = json!({"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "Approved"}]});
    *env.bot.invoke_response.lock() = Some(
        json!({"statusCode": 200, "type": "application/vnd.microsoft.card.adaptive", "value": refreshed}),
    );
    let r = press("approve", json!({"comment": "ok"}), &card_id).await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["actionType"], "Action.Execute");
    assert_eq!(v["cardReplaced"], true);
    let inv = env.bot.activities().last().unwrap().clone();
    assert_eq!(inv["type"], "invoke");
    assert_eq!(inv["name"], "adaptiveCard/action");
    assert_eq!(inv["value"]["action"]["verb"], "approve");
    assert_eq!(
        inv["value"]["action"]["data"],
        json!({"request": 42, "comment": "ok"})
    );
    let t = env.transcript(&upn).await;
    let card = t.iter().find(|a| a["id"] == card_id.as_str()).unwrap();
    assert_eq!(card["updated"], true);
    assert_eq!(card["attachments"][0]["content"], refreshed);
    assert_eq!(card["history"].as_array().unwrap().len(), 1);
    assert_eq!(
        card["history"][0]["attachments"][0]["content"],
        approval_card()
    );

    // What a person cannot press is refused, saying where.
    let r = press("Escalate", json!({}), &card_id).await;
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["pointer"], "/action");
    assert_eq!(
        press("Reject", json!({}), &card_id).await.status(),
        422,
        "comment is required"
    );
    assert_eq!(
        press("Reject", json!({"comment": "x", "nope": 1}), &card_id)
            .await
            .status(),
        422
    );
    assert_eq!(
        press("Reject", json!({"comment": "x"}), "no-such-activity")
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn team_install_makes_members_reachable_and_team_events_reach_the_bot() {
    let env = Env::start(10).await;
    let token = env.token().await;
    let t = env.tenant().await;
    let team = t["teams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Leadership")
        .unwrap()
        .clone();
    let team_id = team["id"].as_str().unwrap();
    let (_, _, member_id) = env.user(1).await;
    assert_eq!(
        code_of(env.create_conversation(&token, &member_id).await).await,
        (403, "BotNotInConversationRoster".into())
    );
    let r = env
        .control(
            &format!("/_emulator/teams/{}/install", enc(team_id)),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let got = env.bot.activities();
    let update = got.last().unwrap();
    assert_eq!(update["conversation"]["conversationType"], "channel");
    assert_eq!(update["channelData"]["team"]["id"], team_id);
    assert_eq!(update["channelData"]["eventType"], "teamMemberAdded");
    assert_eq!(
        env.create_conversation(&token, &member_id).await.status(),
        201,
        "a team member is reachable"
    );

    let r = env
        .control(
            &format!("/_emulator/teams/{}/members", enc(team_id)),
            json!({"user": "user9@sandbox.example"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let added = env.bot.activities().last().unwrap().clone();
    assert_eq!(added["channelData"]["eventType"], "teamMemberAdded");
    assert_eq!(added["membersAdded"][0]["id"], env.user(9).await.2.as_str());

    env.control(
        &format!("/_emulator/teams/{}/delete", enc(team_id)),
        json!({}),
    )
    .await;
    assert_eq!(
        env.bot.activities().last().unwrap()["channelData"]["eventType"],
        "teamDeleted"
    );
    env.control(
        &format!("/_emulator/teams/{}/restore", enc(team_id)),
        json!({}),
    )
    .await;
    assert_eq!(
        env.bot.activities().last().unwrap()["channelData"]["eventType"],
        "teamRestored"
    );
}

#[tokio::test]
async fn reading_and_reacting_reach_the_bot_as_teams_sends_them() {
    let env = Env::start(3).await;
    let token = env.token().await;
    let (upn, conv) = env.installed_conversation(&token, 2).await;
    let upn = upn.as_str();
    let before = env.bot.count();
    let r = env
        .control(&format!("/_emulator/users/{upn}/read"), json!({}))
        .await;
    assert_eq!(r.status(), 409, "nothing from the bot to read yet");
    let sent: Value = env
        .send_text(&token, &conv, "first")
        .await
        .json()
        .await
        .unwrap();
    let first = sent["id"].as_str().unwrap().to_owned();
    let sent: Value = env
        .send_text(&token, &conv, "second")
        .await
        .json()
        .await
        .unwrap();
    let second = sent["id"].as_str().unwrap().to_owned();
    assert!(
        second.parse::<u64>().unwrap() > first.parse::<u64>().unwrap(),
        "ids grow"
    );

    // Read (the latest by default): Teams' read-receipt event.
    let r: Value = env
        .control(&format!("/_emulator/users/{upn}/read"), json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["activityId"], second.as_str());
    let e = env.bot.wait_for(before + 1).await.last().unwrap().clone();
    assert_eq!(e["type"], "event");
    assert_eq!(e["name"], "application/vnd.microsoft.readReceipt");
    assert_eq!(e["value"]["lastReadMessageId"], second.as_str());
    assert_eq!(e["conversation"]["id"], conv.as_str());
    assert_eq!(e["conversation"]["conversationType"], "personal");
    let r = env
        .control(
            &format!("/_emulator/users/{upn}/read"),
            json!({"activityId": "999999"}),
        )
        .await;
    assert_eq!(r.status(), 404);

    // A reaction to the first message.
    let r = env
        .control(
            &format!("/_emulator/users/{upn}/react"),
            json!({"activityId": first, "reaction": "like"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let m = env.bot.wait_for(before + 2).await.last().unwrap().clone();
    assert_eq!(m["type"], "messageReaction");
    assert_eq!(m["replyToId"], first.as_str());
    assert_eq!(m["reactionsAdded"], json!([{"type": "like"}]));
    let r = env
        .control(
            &format!("/_emulator/users/{upn}/react"),
            json!({"activityId": first, "reaction": "like", "remove": true}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let m = env.bot.wait_for(before + 3).await.last().unwrap().clone();
    assert_eq!(m["reactionsRemoved"], json!([{"type": "like"}]));
    let r = env
        .control(
            &format!("/_emulator/users/{upn}/react"),
            json!({"activityId": first, "reaction": ""}),
        )
        .await;
    assert_eq!(r.status(), 422);

    // Receipts off: reading sends nothing. The time zone goes into what the user sends.
    let settings = |body: Value| {
        env.http
            .put(env.url(&format!("/_emulator/users/{upn}/settings")))
            .json(&body)
            .send()
    };
    let r: Value = settings(json!({"readReceipts": false, "timeZone": "Europe/Paris"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        r,
        json!({"readReceipts": false, "timeZone": "Europe/Paris", "locale": "en-US"})
    );
    let r: Value = env
        .control(&format!("/_emulator/users/{upn}/read"), json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert!(r["botResponse"].is_null(), "{r}");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(env.bot.count(), before + 3, "no receipt with receipts off");
    env.control(
        &format!("/_emulator/users/{upn}/messages"),
        json!({"text": "hello"}),
    )
    .await;
    let m = env.bot.wait_for(before + 4).await.last().unwrap().clone();
    assert_eq!(m["localTimezone"], "Europe/Paris");
    assert_eq!(m["entities"][0]["timezone"], "Europe/Paris");
    let r = settings(json!({"timeZone": "Not A Zone"})).await.unwrap();
    assert_eq!(r.status(), 422);
}
