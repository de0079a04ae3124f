use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installations_are_listed_behind_a_token_with_paging_and_filters() {
    let env = Env::start(Backend::Sqlite, 12, &[("HERALD_WELCOME_TEXT", "")]).await;
    for n in 1..=12 {
        env.control(
            &format!("/users/user{n}@sandbox.example/install"),
            json!({}),
        )
        .await;
    }
    for n in [2, 5] {
        env.control(
            &format!("/users/user{n}@sandbox.example/uninstall"),
            json!({}),
        )
        .await;
    }
    let r = env
        .http
        .get(format!("{}/v1/installations", env.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = env
        .http
        .get(format!("{}/v1/installations", env.base))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let mut seen = Vec::new();
    let mut path = "/v1/installations?limit=5".to_owned();
    loop {
        let page: Value = env
            .api(Method::GET, &path)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["aadObjectId"].as_str().unwrap().to_owned()),
        );
        match page["next"].as_str() {
            Some(n) => path = format!("/v1/installations?limit=5&cursor={n}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 12);
    let page: Value = env
        .api(Method::GET, "/v1/installations?state=unreachable")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["state"], "unreachable");
    assert_eq!(items[0]["unreachableReason"], "uninstalled");
    for field in [
        "tenantId",
        "aadObjectId",
        "userId",
        "botId",
        "conversationId",
        "serviceUrl",
        "channelId",
        "conversationType",
    ] {
        assert!(items[0][field].is_string(), "{field}");
    }
    for bad in ["state=gone", "limit=0", "limit=5000", "cursor=abc"] {
        let r = env
            .api(Method::GET, &format!("/v1/installations?{bad}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{bad}");
        let p: Value = r.json().await.unwrap();
        assert!(p["pointer"].as_str().unwrap().starts_with('?'), "{p}");
    }
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teams_toolkit_store_imports_and_its_references_are_used_as_is() {
    let env = Env::start(Backend::Sqlite, 5, &[("HERALD_WELCOME_TEXT", "")]).await;
    let t = env.tenant().await;
    let tenant = env.emu.tenant_id();
    // user3 has the bot (installed before Herald existed): Teams has a conversation for them.
    let installed = env
        .control("/users/user3@sandbox.example/install", json!({}))
        .await;
    let conv = installed["conversationId"].as_str().unwrap().to_owned();
    let user = &t["users"][2];
    let doc = json!({
        format!("_{tenant}_{conv}"): {
            "activityId": "f:1", "user": {"id": user["id"], "name": user["displayName"], "aadObjectId": "imported-aad-1"},
            "bot": {"id": format!("28:{}", env.emu.app_id()), "name": "Old bot"},
            "conversation": {"conversationType": "personal", "tenantId": tenant, "id": conv},
            "channelId": "msteams", "locale": "en-US", "serviceUrl": env.emu.service_url()
        },
        format!("_{tenant}_a:1elsewhere"): {
            "user": {"id": "29:x", "aadObjectId": "imported-aad-2"}, "bot": {"id": "28:x"},
            "conversation": {"conversationType": "personal", "tenantId": tenant, "id": "a:1elsewhere"},
            "serviceUrl": "https://attacker.example/teams/"
        },
        format!("_{tenant}_19:group"): {
            "bot": {"id": "28:x"}, "serviceUrl": env.emu.service_url(),
            "conversation": {"conversationType": "groupChat", "tenantId": tenant, "id": "19:group@thread.v2"}
        }
    });
    let r = env
        .api(Method::POST, "/v1/installations/import")
        .json(&doc)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["importedUsers"], 1);
    assert_eq!(report["skipped"].as_array().unwrap().len(), 2);
    assert!(report.to_string().contains("allowed_service_urls"));
    assert!(
        env.reference("imported-aad-2").await.is_none(),
        "a foreign host is never stored"
    );
    let r = env.reference("imported-aad-1").await.unwrap();
    assert_eq!(r.reference.conversation_id.as_deref(), Some(conv.as_str()));

    let r = env
        .api(Method::POST, "/v1/installations/import")
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = env
        .api(Method::POST, "/v1/installations/import")
        .json(&json!(42))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    env.shutdown().await;
}
