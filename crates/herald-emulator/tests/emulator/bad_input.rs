use crate::helpers::*;
use serde_json::{json, Value};

#[tokio::test]
async fn connector_bad_input_gets_teams_error_bodies() {
    let env = Env::start(2).await;
    let token = env.token().await;
    let (_, conv) = env.installed_conversation(&token, 1).await;
    let url = env.url(&format!("/v3/conversations/{}/activities", enc(&conv)));
    let raw = |ct: &'static str, body: &'static str| {
        env.http
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let (s, c) = code_of(
        raw("application/json", "{\"type\": \"message\", ")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, c.as_str()), (400, "BadArgument"));
    let (s, c) = code_of(raw("text/plain", "hello").await.unwrap()).await;
    assert_eq!((s, c.as_str()), (415, "UnsupportedMediaType"));
    let (s, c) = code_of(raw("application/json", "[]").await.unwrap()).await;
    assert_eq!((s, c.as_str()), (400, "BadArgument"));
    let (s, _) = code_of(
        raw("application/json", "{\"type\":\"message\"}")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 400, "a message with neither text nor attachments");
    let r = env.send_text(&token, "19:unknown@thread.tacv2", "x").await;
    assert_eq!(code_of(r).await, (404, "ConversationNotFound".into()));
    let r = env
        .http
        .post(env.url("/v3/conversations"))
        .bearer_auth(&token)
        .json(&json!({"members": [{"id": env.user(1).await.2}]}))
        .send()
        .await
        .unwrap();
    let (s, body) = (r.status(), r.json::<Value>().await.unwrap());
    assert_eq!(s, 400);
    assert_eq!(body["error"]["code"], "BadArgument");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("tenant"));
    let r = env
        .http
        .get(env.url("/v3/nonsense"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.json::<Value>().await.unwrap()["error"]["code"].is_string());
}

#[tokio::test]
async fn graph_and_control_bad_input_get_their_own_error_shapes() {
    let env = Env::start(2).await;
    let g = env.graph_token().await;
    let r = env
        .http
        .post(env.url("/v1.0/chats"))
        .bearer_auth(&g)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "BadRequest"
    );
    let r = env
        .http
        .get(env.url("/v1.0/users?$top=5000"))
        .bearer_auth(&g)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let r = env
        .http
        .post(env.url("/_emulator/users/user1@sandbox.example/messages"))
        .header("content-type", "application/json")
        .body("{\"text\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = env
        .control("/_emulator/users/nobody@sandbox.example/install", json!({}))
        .await;
    assert_eq!(r.status(), 404);
    let p: Value = r.json().await.unwrap();
    assert!(p["detail"]
        .as_str()
        .unwrap()
        .contains("nobody@sandbox.example"));
    let r = env
        .control(
            "/_emulator/users/user1@sandbox.example/messages",
            json!({"txt": "typo"}),
        )
        .await;
    assert_eq!(r.status(), 422, "an unknown field is named");
    let r = env
        .http
        .get(env.url("/_emulator/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

/// Seeded random bodies and headers at every route: the emulator answers each with a 4xx or a
/// success, never a 5xx and never a dropped connection.
#[tokio::test]
async fn random_input_never_gets_a_5xx() {
    let env = Env::start(3).await;
    let token = env.token().await;
    let g = env.graph_token().await;
    let (upn, conv) = env.installed_conversation(&token, 1).await;
    env.set_config(json!({"conversationLimits": false, "tenantRps": 0}))
        .await;
    let c = enc(&conv);
    let routes: Vec<(&str, String, &str)> = vec![
        ("POST", "/v3/conversations".into(), &token),
        ("POST", format!("/v3/conversations/{c}/activities"), &token),
        ("PUT", format!("/v3/conversations/{c}/activities/1"), &token),
        (
            "POST",
            format!("/v3/conversations/{c}/activities/1"),
            &token,
        ),
        (
            "GET",
            format!("/v3/conversations/{c}/pagedmembers?pageSize=abc"),
            &token,
        ),
        ("POST", "/botframework.com/oauth2/v2.0/token".into(), ""),
        ("POST", "/v1.0/chats".into(), &g),
        ("POST", "/v1.0/$batch".into(), &g),
        (
            "POST",
            "/v1.0/users/user1@sandbox.example/teamwork/installedApps".into(),
            &g,
        ),
        (
            "POST",
            "/v1.0/users/user1@sandbox.example/teamwork/sendActivityNotification".into(),
            &g,
        ),
        ("PUT", "/_emulator/config".into(), ""),
        ("POST", format!("/_emulator/users/{upn}/actions"), ""),
        ("POST", format!("/_emulator/users/{upn}/messages"), ""),
        ("POST", "/_emulator/teams/x/members".into(), ""),
    ];
    let samples = [
        json!(null),
        json!(1),
        json!("s"),
        json!([]),
        json!({}),
        json!({"type": 5}),
        json!({"type": "message", "text": ["a"]}),
        json!({"members": "x"}),
        json!({"members": [{}]}),
        json!({"requests": [{"id": "1"}]}),
        json!({"requests": [{"id": "1", "method": "GET", "url": "/users/user1@sandbox.example/../../x"}]}),
        json!({"requests": [{"id": "1", "method": "Ü", "url": "\u{0}"}]}),
        json!({"chatType": "group", "members": [{"user@odata.bind": "users('')"}]}),
        json!({"teamsApp@odata.bind": 7}),
        json!({"faults": {"statusRates": {"abc": 1}}}),
        json!({"activityId": "", "action": "", "inputs": 5}),
        json!({"text": "\u{0}\u{ffff}"}),
        json!({"topic": {"source": "text"}, "activityType": "x"}),
    ];
    let mut seed: u64 = 0x5EED;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for (method, path, auth) in &routes {
        for sample in &samples {
            for variant in 0..3 {
                let body = match variant {
                    0 => sample.to_string(),
                    1 => {
                        let s = sample.to_string();
                        let mut cut = (next() as usize) % (s.len() + 1);
                        while !s.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        s[..cut].to_owned()
                    }
                    _ => (0..(next() % 64))
                        .map(|_| char::from(b' ' + (next() % 95) as u8))
                        .collect(),
                };
                let ct = if next() % 4 == 0 {
                    "text/plain"
                } else {
                    "application/json"
                };
                let mut req = env
                    .http
                    .request(method.parse().unwrap(), env.url(path))
                    .header("content-type", ct)
                    .body(body.clone());
                if !auth.is_empty() {
                    req = req.bearer_auth(auth);
                }
                let r = req
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{method} {path} {body:?}: {e}"));
                assert!(
                    r.status().as_u16() < 500,
                    "{method} {path} {body:?} → {}",
                    r.status()
                );
            }
        }
    }
}
