//! `herald recall` and `herald edit` against `herald serve` and the emulator as processes: a
//! recall survives `kill -9` of the server and finishes after the restart, with no message left.

mod common;

use common::{emulator, herald, serve};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const TOKEN: &str = "ops-secret";

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn api(base: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut r = http()
        .request(method, format!("{base}{path}"))
        .bearer_auth(TOKEN);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

async fn status(base: &str, id: &str) -> Value {
    api(
        base,
        reqwest::Method::GET,
        &format!("/v1/notifications/{id}"),
        None,
    )
    .await
}

async fn until(what: &str, secs: u64, mut cond: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

fn cli(base: &str, args: &[&str]) -> String {
    let out = herald()
        .args(args)
        .env("HERALD_SERVER", base)
        .env("HERALD_API_TOKEN", TOKEN)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{args:?}: {text}");
    text
}

/// The bot's messages with `text` in `upn`'s chat: (left, deleted).
async fn messages(origin: &str, upn: &str, text: &str) -> (usize, usize) {
    let t: Value = http()
        .get(format!("{origin}/_emulator/users/{upn}/transcript"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mine: Vec<&Value> = t["activities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["text"] == text || a["history"].to_string().contains(text))
        .collect();
    let deleted = mine.iter().filter(|a| a["deleted"] == true).count();
    (mine.len() - deleted, deleted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recall_killed_half_way_finishes_after_the_restart_and_edit_fixes_a_message() {
    let (_emu, mut vars, origin) = emulator(400, &["--all-installed"]);
    let dir = std::env::temp_dir().join(format!("herald-recall-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let extra: HashMap<&str, String> = HashMap::from([
        ("HERALD_LISTEN", "127.0.0.1:0".into()),
        (
            "HERALD_DATABASE_URL",
            format!("sqlite://{}/herald.db", dir.display()),
        ),
        ("HERALD_API_TOKENS", format!("ops:{TOKEN}:read+send+admin")),
        ("HERALD_WELCOME_TEXT", String::new()),
        ("HERALD_TENANT_RPS", "50".into()),
    ]);
    for (k, v) in extra {
        vars.insert(k.to_owned(), v);
    }
    let (server, base) = serve(&vars);

    // The people the emulator has installed, imported as a Teams Toolkit store.
    let tenant: Value = http()
        .get(format!("{origin}/_emulator/tenant"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut store = serde_json::Map::new();
    let mut upns = Vec::new();
    for u in tenant["users"].as_array().unwrap() {
        let Some(conv) = u["conversationId"].as_str() else {
            continue;
        };
        upns.push(u["upn"].as_str().unwrap().to_owned());
        store.insert(
            format!("_{}_{conv}", tenant["tenantId"].as_str().unwrap()),
            json!({"user": {"id": u["id"], "aadObjectId": u["aadObjectId"], "name": u["displayName"]},
                   "bot": {"id": tenant["botId"], "name": tenant["appName"]},
                   "conversation": {"conversationType": "personal", "tenantId": tenant["tenantId"], "id": conv},
                   "channelId": "msteams", "serviceUrl": tenant["serviceUrl"]}),
        );
    }
    assert_eq!(upns.len(), 400);
    api(
        &base,
        reqwest::Method::POST,
        "/v1/installations/import",
        Some(Value::Object(store)),
    )
    .await;

    // An edit from the command line.
    let fix = api(
        &base,
        reqwest::Method::POST,
        "/v1/notifications",
        Some(json!({"to": {"users": upns[..3]}, "message": {"text": "Parking closes at 6"}})),
    )
    .await;
    let fix_id = fix["id"].as_str().unwrap().to_owned();
    until("the first send", 30, async || {
        status(&base, &fix_id).await["state"] == "completed"
    })
    .await;
    let out = cli(&base, &["edit", &fix_id, "--text", "Parking closes at 7"]);
    assert!(out.contains("editing"), "{out}");
    until("the edit", 30, async || {
        status(&base, &fix_id).await["edit"]["done"] == 3
    })
    .await;
    for u in &upns[..3] {
        let t: Value = http()
            .get(format!("{origin}/_emulator/users/{u}/transcript"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            t["activities"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["text"] == "Parking closes at 7" && a["updated"] == true),
            "{u}: {t}"
        );
    }

    // A broadcast, recalled from the command line, and the server killed while it deletes.
    let text = "Quarterly numbers (draft)";
    let n = api(
        &base,
        reqwest::Method::POST,
        "/v1/notifications",
        Some(json!({"to": {"allInstalled": true}, "message": {"text": text}})),
    )
    .await;
    let id = n["id"].as_str().unwrap().to_owned();
    until("the broadcast", 60, async || {
        status(&base, &id).await["state"] == "completed"
    })
    .await;
    let out = cli(&base, &["recall", &id]);
    assert!(out.contains("recalling"), "{out}");
    until("a quarter recalled", 60, async || {
        status(&base, &id).await["recall"]["done"]
            .as_u64()
            .unwrap_or(0)
            >= 100
    })
    .await;
    drop(server); // SIGKILL
    let s_at_kill = {
        let (_s, b) = serve(&vars);
        let s = status(&b, &id).await;
        until("the recall after the restart", 90, async || {
            status(&b, &id).await["recall"]["state"] == "done"
        })
        .await;
        let done = status(&b, &id).await;
        assert_eq!(done["recall"]["done"], 400, "{done}");
        assert_eq!(done["counts"]["recalled"], 400, "{done}");
        s
    };
    assert_eq!(
        s_at_kill["recall"]["state"], "running",
        "killed half-way: {s_at_kill}"
    );
    let mut left = 0;
    for u in &upns {
        let (l, d) = messages(&origin, u, text).await;
        assert_eq!(l + d, 1, "{u} got it once");
        left += l;
    }
    assert_eq!(left, 0, "no message left after the restart");
    std::fs::remove_dir_all(&dir).ok();
}
