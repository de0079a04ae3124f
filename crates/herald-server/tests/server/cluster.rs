//! Several nodes on one PostgreSQL database (CI always has one; without it these skip loudly).

use crate::helpers::*;
use herald_server::Server;
use reqwest::Method;
use serde_json::{json, Value};

async fn cluster_of(env: &Env, base: &str) -> Value {
    env.api_get_at(base, "/v1/cluster").await
}

fn alive(v: &Value) -> Vec<String> {
    v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["alive"] == true)
        .map(|n| n["nodeId"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_on_one_database_share_the_work_and_know_each_other() {
    if postgres_url().is_none() {
        return;
    }
    let mut env = Env::start(
        Backend::Postgres,
        4,
        &[("HERALD_NODE_ID", "node-a"), ("HERALD_WELCOME_TEXT", "")],
    )
    .await;
    let mut cfg = env.config();
    cfg.node_id = "node-b".into();
    let b = Server::start(cfg, env.clock.clone()).await.unwrap();
    let b_base = format!("http://{}", b.addr());
    for n in 1..=4 {
        env.control(
            &format!("/users/user{n}@sandbox.example/install"),
            json!({}),
        )
        .await;
    }
    for _ in 0..250 {
        if alive(&cluster_of(&env, &env.base).await).len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let seen_from_b = cluster_of(&env, &b_base).await;
    assert_eq!(seen_from_b["nodeId"], "node-b", "{seen_from_b}");
    assert_eq!(seen_from_b["backend"], "postgres");
    assert_eq!(seen_from_b["shared"], true);
    assert_eq!(alive(&seen_from_b), ["node-a", "node-b"]);

    // Accepted on A, finished (by whichever node), and the same on B.
    let n = notify(
        &env,
        json!({"to": {"users": ["user1@sandbox.example", "user2@sandbox.example", "user3@sandbox.example", "user4@sandbox.example"]},
               "message": {"text": "from any node"}}),
    )
    .await;
    let id = n["id"].as_str().unwrap();
    let done = finished(&env, id).await;
    assert_eq!(done["counts"]["delivered"], 4, "{done}");
    let on_b = env
        .api_get_at(&b_base, &format!("/v1/notifications/{id}"))
        .await;
    assert_eq!(on_b["counts"], done["counts"]);
    for n in 1..=4 {
        let got = env.bot_messages(&format!("user{n}@sandbox.example")).await;
        assert_eq!(
            got.iter().filter(|a| a["text"] == "from any node").count(),
            1,
            "user{n} got it once"
        );
    }

    // A node that stops leaves the cluster; the other carries on alone.
    env.server.take().unwrap().shutdown().await;
    let after = cluster_of(&env, &b_base).await;
    assert_eq!(alive(&after), ["node-b"], "{after}");
    assert_eq!(after["nodes"].as_array().unwrap().len(), 1, "node-a left");
    let r = env
        .http
        .request(Method::POST, format!("{b_base}/v1/notifications"))
        .bearer_auth(API_TOKEN)
        .json(&json!({"to": {"users": ["user1@sandbox.example"]}, "message": {"text": "after A"}, "options": {"priority": "high"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    b.shutdown().await;
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_view_needs_admin_and_a_bad_priority_is_refused() {
    let env = Env::start(
        Backend::Sqlite,
        1,
        &[(
            "HERALD_API_TOKENS",
            "reader:read-secret:read,ops:ops-secret:read+send+admin",
        )],
    )
    .await;
    let get = |secret: &'static str| {
        env.http
            .get(format!("{}/v1/cluster", env.base))
            .bearer_auth(secret)
            .send()
    };
    let r = get("read-secret").await.unwrap();
    assert_eq!(r.status(), 403);
    let mut v = Value::Null;
    for _ in 0..250 {
        v = get("ops-secret").await.unwrap().json().await.unwrap();
        if v["nodes"].as_array().is_some_and(|n| !n.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        (v["backend"].as_str(), v["shared"].as_bool()),
        (Some("sqlite"), Some(false))
    );
    assert_eq!(
        alive(&v),
        [v["nodeId"].as_str().unwrap()],
        "one node, alive: {v}"
    );
    let r = env
        .http
        .post(format!("{}/v1/notifications", env.base))
        .bearer_auth("ops-secret")
        .json(&json!({"to": {"users": ["user1@sandbox.example"]}, "message": {"text": "x"}, "options": {"priority": "urgent"}}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    let p: Value = r.json().await.unwrap();
    assert!(
        p["pointer"].as_str().unwrap_or("").starts_with("/options"),
        "{p}"
    );
    env.shutdown().await;
}
