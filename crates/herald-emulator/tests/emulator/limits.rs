use crate::helpers::*;
use serde_json::{json, Value};

async fn statuses(env: &Env, token: &str, conv: &str, n: usize) -> Vec<(u16, Option<String>)> {
    let mut out = Vec::new();
    for i in 0..n {
        let r = env.send_text(token, conv, &format!("m{i}")).await;
        let retry = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        out.push((r.status().as_u16(), retry));
    }
    out
}

fn count(v: &[(u16, Option<String>)], status: u16) -> usize {
    v.iter().filter(|(s, _)| *s == status).count()
}

#[tokio::test]
async fn one_second_window_passes_seven_of_nine() {
    let env = Env::start(2).await;
    let token = env.token().await;
    let (_, conv) = env.installed_conversation(&token, 1).await;
    env.advance(3600.0); // let the create/installation fall out of every window
    let token = env.token().await;
    let got = statuses(&env, &token, &conv, 9).await;
    assert_eq!(count(&got, 201), 7);
    assert_eq!(count(&got, 429), 2);
    for (s, retry) in &got[7..] {
        assert_eq!((*s, retry.as_deref()), (429, Some("1")));
    }
    let r = env.send_text(&token, &conv, "x").await;
    assert_eq!(code_of(r).await, (429, "Throttled".into()));
    let stats = env.stats().await;
    assert_eq!(
        stats["maxRequestsIn1s"]["perConversation"], 10,
        "every request received counts, 429s included"
    );
    assert_eq!(stats["throttled"], 3);
    env.advance(1.0);
    assert_eq!(env.send_text(&token, &conv, "later").await.status(), 201);
}

#[tokio::test]
async fn two_second_window_allows_eight() {
    let env = Env::start(2).await;
    let token = env.token().await;
    let (_, conv) = env.installed_conversation(&token, 1).await;
    env.advance(3600.0);
    let token = env.token().await;
    assert_eq!(count(&statuses(&env, &token, &conv, 7).await, 201), 7);
    env.advance(1.0);
    let got = statuses(&env, &token, &conv, 2).await;
    assert_eq!(got[0].0, 201, "the 8th in 2 s passes");
    assert_eq!(
        got[1],
        (429, Some("1".into())),
        "the 9th waits for the first second to leave"
    );
    env.advance(1.0);
    assert_eq!(env.send_text(&token, &conv, "ok").await.status(), 201);
}

#[tokio::test]
async fn thirty_second_window_allows_sixty() {
    let env = Env::start(2).await;
    let token = env.token().await;
    let (_, conv) = env.installed_conversation(&token, 1).await;
    env.advance(3600.0);
    let token = env.token().await;
    for _ in 0..15 {
        assert_eq!(count(&statuses(&env, &token, &conv, 4).await, 201), 4);
        env.advance(1.0);
    }
    let r = env.send_text(&token, &conv, "61st").await;
    assert_eq!(r.headers()["retry-after"], "15");
    assert_eq!(code_of(r).await, (429, "Throttled".into()));
    env.advance(15.0);
    assert_eq!(env.send_text(&token, &conv, "ok").await.status(), 201);
}

#[tokio::test]
async fn hour_window_allows_eighteen_hundred() {
    let env = Env::start(2).await;
    let token = env.token().await;
    let (_, conv) = env.installed_conversation(&token, 1).await;
    env.advance(3600.0);
    let token = env.token().await;
    // Two a second stays inside 7/1 s, 8/2 s and 60/30 s; the hour window ends it at 1800.
    for _ in 0..900 {
        assert_eq!(count(&statuses(&env, &token, &conv, 2).await, 201), 2);
        env.advance(1.0);
    }
    let r = env.send_text(&token, &conv, "1801st").await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "2700");
    env.advance(2700.0);
    let token = env.token().await;
    assert_eq!(env.send_text(&token, &conv, "ok").await.status(), 201);
}

#[tokio::test]
async fn create_conversation_and_reads_have_their_own_budgets() {
    let env = Env::start(2).await;
    let token = env.token().await;
    let (_, conv) = env.installed_conversation(&token, 1).await;
    env.advance(3600.0);
    let token = env.token().await;
    let (_, _, id) = env.user(1).await;
    let mut created = Vec::new();
    for _ in 0..8 {
        created.push(env.create_conversation(&token, &id).await.status().as_u16());
    }
    assert_eq!(created.iter().filter(|s| **s == 200).count(), 7);
    assert_eq!(created[7], 429);
    assert_eq!(
        env.send_text(&token, &conv, "sends are counted apart")
            .await
            .status(),
        201
    );
    let mut reads = Vec::new();
    for _ in 0..15 {
        let r = env
            .http
            .get(env.url(&format!("/v3/conversations/{}/members", enc(&conv))))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        reads.push(r.status().as_u16());
    }
    assert_eq!(
        reads.iter().filter(|s| **s == 200).count(),
        14,
        "reads: 14 a second"
    );
}

#[tokio::test]
async fn tenant_limit_caps_the_app_across_conversations() {
    let env = Env::start(8).await;
    let token = env.token().await;
    let mut convs = Vec::new();
    for n in 1..=6 {
        convs.push(env.installed_conversation(&token, n).await.1);
    }
    env.set_config(json!({"tenantRps": 5})).await;
    env.advance(10.0);
    env.get("/_emulator/stats").await;
    let r = env
        .http
        .delete(env.url("/_emulator/stats"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let mut got = Vec::new();
    for c in &convs {
        got.push(env.send_text(&token, c, "hi").await);
    }
    let codes: Vec<u16> = got.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(codes, vec![201, 201, 201, 201, 201, 429]);
    assert_eq!(got[5].headers()["retry-after"], "1");
    let stats = env.stats().await;
    assert_eq!(stats["maxRequestsIn1s"]["tenant"], 6);
    assert_eq!(stats["maxRequestsIn1s"]["perConversation"], 1);
    assert_eq!(stats["throttled"], 1);
    env.advance(1.0);
    assert_eq!(env.send_text(&token, &convs[5], "hi").await.status(), 201);

    env.set_config(json!({"tenantRps": 0, "conversationLimits": false}))
        .await;
    let burst = statuses(&env, &token, &convs[0], 30).await;
    assert_eq!(count(&burst, 201), 30, "limits off: nothing is throttled");
}

#[tokio::test]
async fn stats_count_requests_by_route_and_status() {
    let env = Env::start(2).await;
    let token = env.token().await;
    let (_, conv) = env.installed_conversation(&token, 1).await;
    env.send_text(&token, &conv, "a").await;
    env.send_text(&token, "a:1missing", "b").await;
    let s: Value = env.stats().await;
    let route = &s["requests"]["POST /v3/conversations/{cid}/activities"];
    assert_eq!(route["received"], 2);
    assert_eq!(route["201"], 1);
    assert_eq!(route["404"], 1);
    assert_eq!(s["requests"]["POST /v3/conversations"]["200"], 1);
}
