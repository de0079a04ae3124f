use crate::helpers::*;
use serde_json::json;
use std::time::{Duration, Instant};

async fn setup() -> (Env, String, String) {
    let env = Env::start(2).await;
    let token = env.token().await;
    let (_, conv) = env.installed_conversation(&token, 1).await;
    env.set_config(json!({"conversationLimits": false, "tenantRps": 0}))
        .await;
    env.http
        .delete(env.url("/_emulator/stats"))
        .send()
        .await
        .unwrap();
    (env, token, conv)
}

#[tokio::test]
async fn each_injectable_status_is_answered_with_its_body() {
    let (env, token, conv) = setup().await;
    for (status, code) in [
        (412, "PreconditionFailed"),
        (500, "ServiceError"),
        (502, "ServiceError"),
        (503, "ServiceUnavailable"),
        (504, "GatewayTimeout"),
    ] {
        env.set_config(json!({"faults": {"statusRates": {status.to_string(): 1.0}}}))
            .await;
        let r = env.send_text(&token, &conv, "x").await;
        assert_eq!(code_of(r).await, (status, code.to_string()));
    }
    env.set_config(json!({"faults": {}})).await;
    assert_eq!(env.send_text(&token, &conv, "x").await.status(), 201);
    assert_eq!(
        env.transcript("user1@sandbox.example").await.len(),
        1,
        "a faulted send delivers nothing"
    );
}

#[tokio::test]
async fn a_seeded_fault_run_replays_identically() {
    let (env, token, conv) = setup().await;
    let spec = json!({"faults": {"statusRates": {"502": 0.2, "503": 0.1}, "seed": 7}});
    let mut runs = Vec::new();
    for _ in 0..2 {
        env.set_config(spec.clone()).await;
        let mut run = Vec::new();
        for _ in 0..60 {
            run.push(env.send_text(&token, &conv, "x").await.status().as_u16());
        }
        runs.push(run);
    }
    assert_eq!(runs[0], runs[1]);
    let faulted = runs[0].iter().filter(|s| **s != 201).count();
    assert!(
        (8..=32).contains(&faulted),
        "about 30 % faulted: {faulted} of 60"
    );
    assert!(runs[0].contains(&502) && runs[0].contains(&503));
    env.set_config(json!({"faults": {"statusRates": {"502": 0.2, "503": 0.1}, "seed": 8}}))
        .await;
    let mut other = Vec::new();
    for _ in 0..60 {
        other.push(env.send_text(&token, &conv, "x").await.status().as_u16());
    }
    assert_ne!(runs[0], other, "another seed, another run");
}

#[tokio::test]
async fn latency_is_added_to_connector_requests() {
    let (env, token, conv) = setup().await;
    env.set_config(json!({"faults": {"latencyMs": 150}})).await;
    let t = Instant::now();
    assert_eq!(env.send_text(&token, &conv, "slow").await.status(), 201);
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn held_requests_time_out_and_still_count_as_received() {
    let (env, token, conv) = setup().await;
    env.set_config(json!({"faults": {"rateTimeout": 1.0}}))
        .await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let r = impatient
        .post(env.url(&format!("/v3/conversations/{}/activities", enc(&conv))))
        .bearer_auth(&token)
        .json(&json!({"type": "message", "text": "never answered"}))
        .send()
        .await;
    assert!(r.unwrap_err().is_timeout());
    let stats = env.stats().await;
    let route = &stats["requests"]["POST /v3/conversations/{cid}/activities"];
    assert_eq!(route["received"], 1);
    assert!(
        route.get("201").is_none() && route.get("504").is_none(),
        "{route}"
    );
    assert_eq!(stats["maxRequestsIn1s"]["perConversation"], 1);
    assert!(env.transcript("user1@sandbox.example").await.is_empty());
}

#[tokio::test]
async fn invalid_fault_specs_are_refused_with_the_field() {
    let env = Env::start(1).await;
    let r = env
        .http
        .put(env.url("/_emulator/config"))
        .json(&json!({"faults": {"statusRates": {"404": 0.5}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let p: serde_json::Value = r.json().await.unwrap();
    assert_eq!(p["pointer"], "/faults/statusRates/404");
    let r = env
        .http
        .put(env.url("/_emulator/config"))
        .json(&json!({"faults": {"statusRates": {"502": 0.7}, "rateTimeout": 0.5}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = env
        .http
        .put(env.url("/_emulator/config"))
        .json(&json!({"tenantRPS": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "unknown fields are named, not ignored");
    let cfg = env.get("/_emulator/config").await;
    assert_eq!(cfg["tenantRps"], 50, "a refused change changes nothing");
}
