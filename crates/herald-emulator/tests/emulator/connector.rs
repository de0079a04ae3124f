use crate::helpers::*;
use serde_json::{json, Value};

#[tokio::test]
async fn create_conversation_takes_ids_not_upns_and_needs_the_bot_installed() {
    let env = Env::start(5).await;
    let token = env.token().await;
    let (upn, aad, id) = env.user(1).await;

    assert_eq!(
        code_of(env.create_conversation(&token, &upn).await).await,
        (400, "BadArgument".into())
    );
    assert_eq!(
        code_of(env.create_conversation(&token, &id).await).await,
        (403, "BotNotInConversationRoster".into()),
        "neither installed nor in a team with the bot"
    );
    env.install(&upn).await;
    let r = env.create_conversation(&token, &id).await;
    assert_eq!(r.status(), 200, "the install already made the conversation");
    let conv: Value = r.json().await.unwrap();
    let conv = conv["id"].as_str().unwrap().to_owned();
    let r = env.create_conversation(&token, &aad).await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["id"],
        conv.as_str(),
        "same user, same conversation"
    );

    // A fresh conversation for a user who never had one answers 201.
    let (upn2, _, id2) = env.user(2).await;
    env.install(&upn2).await;
    let r = env.create_conversation(&token, &id2).await;
    assert!(r.status() == 200 || r.status() == 201);

    let post = |body: Value| {
        env.http
            .post(env.url("/v3/conversations"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let no_tenant = json!({"bot": {"id": format!("28:{APP_ID}")}, "members": [{"id": id}]});
    let (s, c) = code_of(post(no_tenant).await.unwrap()).await;
    assert_eq!((s, c.as_str()), (400, "BadArgument"));
    let tenant_id_field = json!({"members": [{"id": id}], "tenantId": env.emu.tenant_id()});
    assert!(
        post(tenant_id_field).await.unwrap().status().is_success(),
        "tenantId is accepted too"
    );
    let two = json!({"members": [{"id": id}, {"id": id2}], "channelData": {"tenant": {"id": env.emu.tenant_id()}}});
    assert_eq!(post(two).await.unwrap().status(), 400);
    let group = json!({"isGroup": true, "members": [{"id": id}], "channelData": {"tenant": {"id": env.emu.tenant_id()}}});
    assert_eq!(post(group).await.unwrap().status(), 400);
    let other_tenant = json!({"members": [{"id": id}], "channelData": {"tenant": {"id": "11111111-1111-4111-8111-111111111111"}}});
    assert_eq!(post(other_tenant).await.unwrap().status(), 400);
    let unknown = json!({"members": [{"id": "29:1nobody"}], "channelData": {"tenant": {"id": env.emu.tenant_id()}}});
    assert_eq!(post(unknown).await.unwrap().status(), 400);

    // CreateConversation may carry the first message.
    let with_activity = json!({"members": [{"id": id}], "channelData": {"tenant": {"id": env.emu.tenant_id()}}, "activity": {"type": "message", "text": "first"}});
    let r: Value = post(with_activity).await.unwrap().json().await.unwrap();
    assert_eq!(r["id"], conv.as_str());
    assert!(r["activityId"].is_string());
    assert_eq!(env.transcript(&upn).await.last().unwrap()["text"], "first");
}

#[tokio::test]
async fn send_reply_update_delete_keep_a_faithful_transcript() {
    let env = Env::start(3).await;
    let token = env.token().await;
    let (upn, conv) = env.installed_conversation(&token, 1).await;
    env.set_config(json!({"conversationLimits": false})).await;
    let r = env
        .send(&token, &conv, &json!({"type": "message", "text": "v1", "channelData": {"notification": {"alert": true}}}))
        .await;
    assert_eq!(r.status(), 201);
    let aid = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let url = |aid: &str| {
        env.url(&format!(
            "/v3/conversations/{}/activities/{}",
            enc(&conv),
            enc(aid)
        ))
    };
    let r = env
        .http
        .post(url(&aid))
        .bearer_auth(&token)
        .json(&json!({"type": "message", "text": "reply"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = env
        .http
        .post(url("404404"))
        .bearer_auth(&token)
        .json(&json!({"type": "message", "text": "reply"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        code_of(r).await,
        (404, "ActivityNotFoundInConversation".into())
    );

    let r = env
        .http
        .put(url(&aid))
        .bearer_auth(&token)
        .json(&json!({"type": "message", "text": "v2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["id"], aid.as_str());
    let r = env
        .http
        .put(url("404404"))
        .bearer_auth(&token)
        .json(&json!({"type": "message", "text": "v2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let t = env.transcript(&upn).await;
    assert_eq!(t.len(), 2);
    assert_eq!(t[0]["text"], "v2");
    assert_eq!(t[0]["updated"], true);
    assert_eq!(t[0]["history"][0]["text"], "v1");
    assert_eq!(
        t[0]["history"][0]["channelData"]["notification"]["alert"],
        true
    );
    assert_eq!(t[0]["from"]["id"], format!("28:{APP_ID}"));
    assert_eq!(t[1]["replyToId"], aid.as_str());

    let r = env
        .http
        .delete(url(&aid))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(env.transcript(&upn).await[0]["deleted"], true);
    let r = env
        .http
        .put(url(&aid))
        .bearer_auth(&token)
        .json(&json!({"type": "message", "text": "v3"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "a deleted activity cannot be updated");

    // The bot cannot edit what the user wrote.
    let r = env
        .control(
            &format!("/_emulator/users/{upn}/messages"),
            json!({"text": "mine"}),
        )
        .await;
    let user_msg = r.json::<Value>().await.unwrap()["activityId"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = env
        .http
        .put(url(&user_msg))
        .bearer_auth(&token)
        .json(&json!({"type": "message", "text": "edited"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        code_of(r).await,
        (403, "ForbiddenOperationException".into())
    );

    let r = env.send_text(&token, "a:1doesnotexist", "hi").await;
    assert_eq!(code_of(r).await, (404, "ConversationNotFound".into()));
}

#[tokio::test]
async fn activities_over_28_kb_are_refused_with_413() {
    let env = Env::start(2).await;
    let token = env.token().await;
    let (_, conv) = env.installed_conversation(&token, 1).await;
    let limit = herald_wire::activity::MAX_ACTIVITY_BYTES;
    let frame = json!({"type": "message", "text": ""}).to_string().len();
    let exact = json!({"type": "message", "text": "a".repeat(limit - frame)}).to_string();
    assert_eq!(exact.len(), limit);
    let post = |b: String| {
        env.http
            .post(env.url(&format!("/v3/conversations/{}/activities", enc(&conv))))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(b)
            .send()
    };
    assert_eq!(
        post(exact).await.unwrap().status(),
        201,
        "exactly 28 KB passes"
    );
    // Fewer characters than the limit, more UTF-8 bytes: bytes count.
    let chars = (limit - frame) / 2 + 1;
    let over = json!({"type": "message", "text": "é".repeat(chars)}).to_string();
    assert!(over.chars().count() < limit && over.len() > limit);
    let (status, code) = code_of(post(over).await.unwrap()).await;
    assert_eq!((status, code.as_str()), (413, "MessageSizeTooBig"));
}

#[tokio::test]
async fn members_paged_members_and_team_channels() {
    let env = Env::start(120).await;
    let token = env.token().await;
    let (_, conv) = env.installed_conversation(&token, 1).await;
    let m: Value = env
        .http
        .get(env.url(&format!("/v3/conversations/{}/members", enc(&conv))))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m.as_array().unwrap().len(), 1);
    for field in [
        "id",
        "aadObjectId",
        "givenName",
        "surname",
        "email",
        "userPrincipalName",
        "tenantId",
        "userRole",
    ] {
        assert!(m[0][field].is_string(), "member field {field}");
    }

    let t = env.tenant().await;
    let team = t["teams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "All Company")
        .unwrap()
        .clone();
    let team_id = team["id"].as_str().unwrap().to_owned();
    let paged = |q: String| {
        env.http
            .get(env.url(&format!(
                "/v3/conversations/{}/pagedmembers{q}",
                enc(&team_id)
            )))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(
        code_of(paged(String::new()).await.unwrap()).await.0,
        403,
        "the bot is not in the team yet"
    );
    env.control(
        &format!("/_emulator/teams/{}/install", enc(&team_id)),
        json!({}),
    )
    .await;

    let mut seen = Vec::new();
    let mut token_param = String::new();
    let mut pages = 0;
    loop {
        let r: Value = paged(format!("?pageSize=10{token_param}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        pages += 1;
        let members = r["members"].as_array().unwrap();
        assert!(members.len() <= 50);
        seen.extend(
            members
                .iter()
                .map(|m| m["aadObjectId"].as_str().unwrap().to_owned()),
        );
        match r["continuationToken"].as_str() {
            Some(c) => token_param = format!("&continuationToken={}", enc(c)),
            None => break,
        }
    }
    assert_eq!(pages, 3, "120 members in pages clamped to 50");
    let expected: Vec<&str> = team["memberIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(seen, expected);
    assert_eq!(
        code_of(paged("?continuationToken=bogus".into()).await.unwrap()).await,
        (400, "BadArgument".into())
    );

    let aad = expected[5];
    let one = env
        .http
        .get(env.url(&format!(
            "/v3/conversations/{}/members/{aad}",
            enc(&team_id)
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(one.json::<Value>().await.unwrap()["aadObjectId"], aad);
    let guest = t["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["guest"] == true)
        .unwrap()["aadObjectId"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = env
        .http
        .get(env.url(&format!(
            "/v3/conversations/{}/members/{guest}",
            enc(&team_id)
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        code_of(r).await,
        (404, "MemberNotFoundInConversation".into())
    );

    let ch: Value = env
        .http
        .get(env.url(&format!("/v3/teams/{}/conversations", enc(&team_id))))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ch["conversations"][0]["id"], team_id.as_str());
    assert!(
        ch["conversations"][0]["name"].is_null(),
        "General has no name"
    );
}
