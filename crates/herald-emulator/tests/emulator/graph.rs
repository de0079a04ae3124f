use crate::helpers::*;
use serde_json::{json, Value};
use std::collections::HashSet;

async fn gget(env: &Env, token: &str, path: &str) -> (u16, Value) {
    let url = if path.starts_with("http") {
        path.to_owned()
    } else {
        env.url(path)
    };
    let r = env.http.get(url).bearer_auth(token).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn gpost(env: &Env, token: &str, path: &str, body: Value) -> reqwest::Response {
    env.http
        .post(env.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn users_by_id_upn_and_mail() {
    let env = Env::start(10).await;
    let g = env.graph_token().await;
    let (upn, aad, _) = env.user(3).await;
    let (s, by_upn) = gget(&env, &g, &format!("/v1.0/users/{upn}")).await;
    assert_eq!(s, 200);
    assert_eq!(by_upn["id"], aad.as_str());
    assert_eq!(by_upn["userType"], "Member");
    let (_, by_id) = gget(&env, &g, &format!("/v1.0/users/{aad}")).await;
    assert_eq!(by_id["userPrincipalName"], upn.as_str());
    let (s, by_mail) = gget(
        &env,
        &g,
        "/v1.0/users?$filter=mail%20eq%20'guest1@partner.example'",
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(by_mail["value"][0]["userType"], "Guest");
    let (s, e) = gget(&env, &g, "/v1.0/users/nobody@sandbox.example").await;
    assert_eq!(
        (s, e["error"]["code"].as_str().unwrap()),
        (404, "Request_ResourceNotFound")
    );
    assert!(e["error"]["innerError"]["request-id"].is_string());
    let (s, _) = gget(&env, &g, "/v1.0/users?$filter=startswith(mail,'x')").await;
    assert_eq!(s, 400);
    let (s, e) = gget(&env, "not-a-token", "/v1.0/users").await;
    assert_eq!(
        (s, e["error"]["code"].as_str().unwrap()),
        (401, "InvalidAuthenticationToken")
    );
    let bot = env.token().await;
    assert_eq!(
        gget(&env, &bot, "/v1.0/users").await.0,
        401,
        "a connector token does not open Graph"
    );
}

#[tokio::test]
async fn transitive_members_walk_nested_groups_across_pages() {
    let env = Env::start(100).await;
    let g = env.graph_token().await;
    let t = env.tenant().await;
    let groups = t["groups"].as_array().unwrap();
    let by_name = |n: &str| {
        groups
            .iter()
            .find(|g| g["displayName"] == n)
            .unwrap()
            .clone()
    };
    let all = by_name("All Staff");
    // Expected: the users of All Staff and of every group nested in it, once each.
    let mut expected = HashSet::new();
    let mut stack = vec![all.clone()];
    while let Some(grp) = stack.pop() {
        expected.extend(
            grp["memberIds"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned()),
        );
        for sub in grp["groupIds"].as_array().unwrap() {
            stack.push(groups.iter().find(|g| g["id"] == *sub).unwrap().clone());
        }
    }
    assert!(expected.len() > 90, "{}", expected.len());

    let mut next = format!(
        "/v1.0/groups/{}/transitiveMembers?$top=7",
        all["id"].as_str().unwrap()
    );
    let (mut users, mut nested, mut pages) = (Vec::new(), Vec::new(), 0);
    loop {
        let (s, page) = gget(&env, &g, &next).await;
        assert_eq!(s, 200);
        pages += 1;
        for m in page["value"].as_array().unwrap() {
            match m["@odata.type"].as_str().unwrap() {
                "#microsoft.graph.user" => users.push(m["id"].as_str().unwrap().to_owned()),
                "#microsoft.graph.group" => {
                    nested.push(m["displayName"].as_str().unwrap().to_owned())
                }
                other => panic!("unexpected {other}"),
            }
        }
        match page["@odata.nextLink"].as_str() {
            Some(n) => next = n.to_owned(),
            None => break,
        }
    }
    assert!(pages > 10);
    let unique: HashSet<String> = users.iter().cloned().collect();
    assert_eq!(unique.len(), users.len(), "no user twice");
    assert_eq!(unique, expected);
    nested.sort();
    assert_eq!(
        nested,
        vec!["Engineering Group", "Platform Group", "Sales Group"]
    );
    let guest_in = users.iter().any(|u| {
        t["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["aadObjectId"] == u.as_str() && x["guest"] == true)
    });
    assert!(
        guest_in,
        "guests are members too: the client must filter them"
    );

    let (_, direct) = gget(
        &env,
        &g,
        &format!(
            "/v1.0/groups/{}/members?$top=999",
            all["id"].as_str().unwrap()
        ),
    )
    .await;
    let direct_groups = direct["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["@odata.type"] == "#microsoft.graph.group")
        .count();
    assert_eq!(direct_groups, 2, "direct members do not descend");
    let (s, _) = gget(
        &env,
        &g,
        "/v1.0/groups/00000000-0000-4000-8000-000000000000/transitiveMembers",
    )
    .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn team_members_list_users_with_roles() {
    let env = Env::start(20).await;
    let g = env.graph_token().await;
    let t = env.tenant().await;
    let eng = t["teams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Engineering")
        .unwrap();
    let (s, m) = gget(
        &env,
        &g,
        &format!(
            "/v1.0/teams/{}/members",
            eng["aadGroupId"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(s, 200);
    let members = m["value"].as_array().unwrap();
    assert_eq!(members.len(), eng["memberIds"].as_array().unwrap().len());
    assert_eq!(
        members[0]["@odata.type"],
        "#microsoft.graph.aadUserConversationMember"
    );
    assert_eq!(members[0]["roles"], json!(["owner"]));
    assert!(members.iter().any(|m| m["roles"] == json!(["guest"])));
}

#[tokio::test]
async fn proactive_install_through_graph_then_send_to_the_chat_id() {
    let env = Env::start(5).await;
    let g = env.graph_token().await;
    let t = env.tenant().await;
    let catalog_id = t["teamsAppId"].as_str().unwrap().to_owned();
    let manifest = t["manifestId"].as_str().unwrap();
    let (s, cat) = gget(
        &env,
        &g,
        &format!("/v1.0/appCatalogs/teamsApps?$filter=externalId%20eq%20'{manifest}'"),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(cat["value"][0]["id"], catalog_id.as_str());

    let (_, aad, _) = env.user(2).await;
    let installed = format!("/v1.0/users/{aad}/teamwork/installedApps?$expand=teamsApp&$filter=teamsApp/id%20eq%20'{catalog_id}'");
    let (s, v) = gget(&env, &g, &installed).await;
    assert_eq!((s, v["value"].as_array().unwrap().len()), (200, 0));
    let bind = json!({"teamsApp@odata.bind": format!("https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{catalog_id}")});
    let r = gpost(
        &env,
        &g,
        &format!("/v1.0/users/{aad}/teamwork/installedApps"),
        bind.clone(),
    )
    .await;
    assert_eq!(r.status(), 201);
    let got = env.bot.wait_for(2).await;
    assert_eq!(
        got[0]["type"], "installationUpdate",
        "Teams tells the bot about the install"
    );
    let r = gpost(
        &env,
        &g,
        &format!("/v1.0/users/{aad}/teamwork/installedApps"),
        bind,
    )
    .await;
    assert_eq!(r.status(), 409);
    let (_, v) = gget(&env, &g, &installed).await;
    let iid = v["value"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(v["value"][0]["teamsApp"]["id"], catalog_id.as_str());
    let (s, chat) = gget(
        &env,
        &g,
        &format!("/v1.0/users/{aad}/teamwork/installedApps/{iid}/chat"),
    )
    .await;
    assert_eq!(s, 200);
    let chat_id = chat["id"].as_str().unwrap();
    assert!(chat_id.starts_with("19:"));

    // The connector accepts Graph's chat id for the same 1:1 conversation.
    let token = env.token().await;
    assert_eq!(
        env.send_text(&token, chat_id, "via chat id").await.status(),
        201
    );
    let transcript = env.transcript("user2@sandbox.example").await;
    assert_eq!(transcript[0]["text"], "via chat id");
    assert_eq!(
        got[1]["conversation"]["id"],
        env.get("/_emulator/users/user2@sandbox.example/transcript")
            .await["conversationId"]
    );

    let r = env
        .http
        .delete(env.url(&format!("/v1.0/users/{aad}/teamwork/installedApps/{iid}")))
        .bearer_auth(&g)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let got = env.bot.wait_for(4).await;
    assert_eq!(got[2]["action"], "remove");
    let bad = gpost(&env, &g, &format!("/v1.0/users/{aad}/teamwork/installedApps"), json!({"teamsApp@odata.bind": "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/unknown"})).await;
    assert_eq!(bad.status(), 404);
}

#[tokio::test]
async fn chats_as_a_signed_in_user_and_app_tokens_refused_for_messages() {
    let env = Env::start(6).await;
    let me = env.user_token("user1@sandbox.example").await;
    let app = env.graph_token().await;
    let member = |upn: &str| json!({"@odata.type": "#microsoft.graph.aadUserConversationMember", "roles": ["owner"], "user@odata.bind": format!("https://graph.microsoft.com/v1.0/users('{upn}')")});
    let one = json!({"chatType": "oneOnOne", "members": [member("user1@sandbox.example"), member("user2@sandbox.example")]});
    let r = gpost(&env, &me, "/v1.0/chats", one.clone()).await;
    assert_eq!(r.status(), 201);
    let chat: Value = r.json().await.unwrap();
    let again: Value = gpost(&env, &me, "/v1.0/chats", one)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(chat["id"], again["id"], "the 1:1 chat is reused");

    let no_topic = json!({"chatType": "group", "members": [member("user1@sandbox.example"), member("user2@sandbox.example"), member("user3@sandbox.example")]});
    assert_eq!(
        gpost(&env, &me, "/v1.0/chats", no_topic).await.status(),
        400
    );
    let group = json!({"chatType": "group", "topic": "Launch", "members": [member("user1@sandbox.example"), member("user2@sandbox.example"), member("user3@sandbox.example")]});
    let r = gpost(&env, &me, "/v1.0/chats", group).await;
    assert_eq!(r.status(), 201);
    let without_me = json!({"chatType": "oneOnOne", "members": [member("user2@sandbox.example"), member("user3@sandbox.example")]});
    assert_eq!(
        gpost(&env, &me, "/v1.0/chats", without_me).await.status(),
        403
    );

    let path = format!("/v1.0/chats/{}/messages", chat["id"].as_str().unwrap());
    let msg = json!({"body": {"contentType": "html", "content": "<p>Hi from a person</p>"}});
    let r = gpost(&env, &app, &path, msg.clone()).await;
    assert_eq!(
        r.status(),
        403,
        "Graph refuses app-only tokens for chat messages"
    );
    let r = gpost(&env, &me, &path, msg).await;
    assert_eq!(r.status(), 201);
    let m: Value = r.json().await.unwrap();
    assert_eq!(m["from"]["user"]["id"], env.user(1).await.1.as_str());
    let outsider = env.user_token("user4@sandbox.example").await;
    assert_eq!(
        gpost(&env, &outsider, &path, json!({"body": {"content": "x"}}))
            .await
            .status(),
        403
    );
    let chats = env.get("/_emulator/chats").await;
    assert_eq!(
        chats["chats"][0]["messages"][0]["from"],
        "user1@sandbox.example"
    );
}

/// A sender changes (`PATCH`) and deletes (`softDelete`) their own chat message, and only with a
/// delegated token granting `Chat.ReadWrite`: a sign-in that did not ask for it, an app token and
/// another member are refused; a deleted message stays listed, marked, and cannot be changed.
#[tokio::test]
async fn a_sender_changes_and_deletes_their_message_only_with_chat_read_write() {
    let env = Env::start(4).await;
    let me = env.user_token("user1@sandbox.example").await;
    let narrow = env
        .user_token_with(
            "user1@sandbox.example",
            "https://graph.microsoft.com/Chat.Create https://graph.microsoft.com/ChatMessage.Send",
        )
        .await;
    let other = env.user_token("user2@sandbox.example").await;
    let app = env.graph_token().await;
    let member = |upn: &str| json!({"@odata.type": "#microsoft.graph.aadUserConversationMember", "roles": ["owner"], "user@odata.bind": format!("https://graph.microsoft.com/v1.0/users('{upn}')")});
    let one = json!({"chatType": "oneOnOne", "members": [member("user1@sandbox.example"), member("user2@sandbox.example")]});
    let chat: Value = gpost(&env, &narrow, "/v1.0/chats", one)
        .await
        .json()
        .await
        .unwrap();
    let chat = chat["id"].as_str().unwrap().to_owned();
    let r = gpost(
        &env,
        &narrow,
        &format!("/v1.0/chats/{chat}/messages"),
        json!({"body": {"contentType": "html", "content": "Lunch at 12"}}),
    )
    .await;
    assert_eq!(r.status(), 201, "posting needs only ChatMessage.Send");
    let m: Value = r.json().await.unwrap();
    let message = format!("/v1.0/chats/{chat}/messages/{}", m["id"].as_str().unwrap());
    let patch = |token: &str| {
        env.http
            .patch(env.url(&message))
            .bearer_auth(token)
            .json(&json!({"body": {"contentType": "html", "content": "Lunch at 1"}}))
            .send()
    };
    let r = patch(&narrow).await.unwrap();
    assert_eq!(r.status(), 403);
    let why = r.text().await.unwrap();
    assert!(
        why.contains("Chat.ReadWrite"),
        "the refusal names the scope: {why}"
    );
    assert_eq!(
        patch(&app).await.unwrap().status(),
        403,
        "app tokens cannot"
    );
    assert_eq!(
        patch(&other).await.unwrap().status(),
        403,
        "only the sender"
    );
    assert_eq!(patch(&me).await.unwrap().status(), 204);
    let (_, listed) = gget(&env, &me, &format!("/v1.0/chats/{chat}/messages")).await;
    assert_eq!(listed["value"][0]["body"]["content"], "Lunch at 1");
    assert!(listed["value"][0]["lastEditedDateTime"].is_string());
    assert!(listed["value"][0]["deletedDateTime"].is_null());

    let (user1, user2) = (env.user(1).await.1, env.user(2).await.1);
    let delete = |user: &str, token: &str| {
        env.http
            .post(env.url(&format!(
                "/v1.0/users/{user}/chats/{chat}/messages/{}/softDelete",
                m["id"].as_str().unwrap()
            )))
            .bearer_auth(token.to_owned())
            .send()
    };
    assert_eq!(delete(&user1, &narrow).await.unwrap().status(), 403);
    assert_eq!(
        delete(&user2, &me).await.unwrap().status(),
        403,
        "only one's own path"
    );
    assert_eq!(delete(&user1, &me).await.unwrap().status(), 204);
    let (_, listed) = gget(&env, &me, &format!("/v1.0/chats/{chat}/messages")).await;
    assert!(
        listed["value"][0]["deletedDateTime"].is_string(),
        "{listed}"
    );
    assert_eq!(
        delete(&user1, &me).await.unwrap().status(),
        404,
        "already gone"
    );
    assert_eq!(
        patch(&me).await.unwrap().status(),
        404,
        "a deleted message cannot change"
    );
    let chats = env.get("/_emulator/chats").await;
    assert_eq!(chats["chats"][0]["messages"][0]["deleted"], true);
    assert_eq!(chats["chats"][0]["messages"][0]["edited"], true);
}

#[tokio::test]
async fn activity_notifications_need_the_app_installed() {
    let env = Env::start(3).await;
    let g = env.graph_token().await;
    let body = json!({"topic": {"source": "text", "value": "Budget", "webUrl": "https://teams.microsoft.com/l/entity/x"}, "activityType": "taskCreated", "previewText": {"content": "New task"}});
    let r = gpost(
        &env,
        &g,
        "/v1.0/users/user1@sandbox.example/teamwork/sendActivityNotification",
        body.clone(),
    )
    .await;
    assert_eq!(r.status(), 403);
    env.install("user1@sandbox.example").await;
    let r = gpost(
        &env,
        &g,
        "/v1.0/users/user1@sandbox.example/teamwork/sendActivityNotification",
        body,
    )
    .await;
    assert_eq!(r.status(), 204);
    let feed = env.get("/_emulator/users/user1@sandbox.example/feed").await;
    assert_eq!(feed["notifications"][0]["activityType"], "taskCreated");
    let r = gpost(
        &env,
        &g,
        "/v1.0/users/user1@sandbox.example/teamwork/sendActivityNotification",
        json!({"topic": {}}),
    )
    .await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn batch_runs_up_to_twenty_and_each_part_may_be_throttled() {
    let env = Env::start(5).await;
    let g = env.graph_token().await;
    let req = |id: usize, url: &str| json!({"id": id.to_string(), "method": "GET", "url": url});
    let many: Vec<Value> = (0..21)
        .map(|i| req(i, "/users/user1@sandbox.example"))
        .collect();
    let r = gpost(&env, &g, "/v1.0/$batch", json!({"requests": many})).await;
    assert_eq!(r.status(), 400);
    let r = gpost(&env, &g, "/v1.0/$batch", json!({"requests": [req(1, "/users/user1@sandbox.example"), req(2, "users/nobody@x.example")]})).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["responses"][0]["status"], 200);
    assert_eq!(
        v["responses"][0]["body"]["userPrincipalName"],
        "user1@sandbox.example"
    );
    assert_eq!(v["responses"][1]["status"], 404);

    env.set_config(json!({"graphRps": 2})).await;
    env.advance(5.0);
    let parts: Vec<Value> = (0..4)
        .map(|i| req(i, "/users/user2@sandbox.example"))
        .collect();
    let v: Value = gpost(&env, &g, "/v1.0/$batch", json!({"requests": parts}))
        .await
        .json()
        .await
        .unwrap();
    let statuses: Vec<u64> = v["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, vec![200, 200, 429, 429]);
    assert_eq!(v["responses"][2]["headers"]["retry-after"], "1");
    let r = env
        .http
        .get(env.url("/v1.0/users/user3@sandbox.example"))
        .bearer_auth(&g)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429, "Graph's own throttle");
    assert_eq!(r.headers()["retry-after"], "1");
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "TooManyRequests");
    env.advance(1.0);
    assert_eq!(
        gget(&env, &g, "/v1.0/users/user3@sandbox.example").await.0,
        200
    );
}
