//! `herald emulator` and `herald serve` as separate processes, driven like a user would.

mod common;

use common::{emulator, herald, serve};
use std::process::Stdio;

use reqwest::Method;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::time::Duration;

const TOKEN: &str = "e2e-api-token";

struct Run {
    http: reqwest::Client,
    origin: String,
    base: String,
}

impl Run {
    async fn control(&self, path: &str) -> reqwest::StatusCode {
        self.http
            .post(format!("{}/_emulator{path}", self.origin))
            .send()
            .await
            .unwrap()
            .status()
    }

    async fn welcomes(&self, upn: &str) -> usize {
        let v: Value = self
            .http
            .get(format!("{}/_emulator/users/{upn}/transcript", self.origin))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["activities"].as_array().map_or(0, |a| {
            a.iter()
                .filter(|x| x["from"]["id"].as_str().unwrap_or("").starts_with("28:"))
                .count()
        })
    }

    async fn installations(&self, state: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor = String::new();
        loop {
            let page: Value = self
                .http
                .request(
                    Method::GET,
                    format!(
                        "{}/v1/installations?limit=40&state={state}{cursor}",
                        self.base
                    ),
                )
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            out.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next"].as_str() {
                Some(n) => cursor = format!("&cursor={n}"),
                None => return out,
            }
        }
    }

    async fn wait_for_welcomes(&self, upns: &[String]) {
        for upn in upns {
            for _ in 0..400 {
                if self.welcomes(upn).await >= 1 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
    }
}

async fn installs_survive_repeats_uninstalls_and_restarts(database_url: String) {
    let (_emu, mut vars, origin) = emulator(120, &[]);
    vars.insert("HERALD_LISTEN".into(), "127.0.0.1:0".into());
    vars.insert("HERALD_DATABASE_URL".into(), database_url);
    vars.insert("HERALD_API_TOKENS".into(), TOKEN.into());
    let (server, base) = serve(&vars);
    let http = reqwest::Client::new();
    let r = http
        .put(format!("{origin}/_emulator/config"))
        .json(&json!({"botEndpoint": format!("{base}/api/messages")}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let run = Run { http, origin, base };
    let upns: Vec<String> = (1..=100)
        .map(|i| format!("user{i}@sandbox.example"))
        .collect();

    // 100 users install, ten at a time.
    for chunk in upns.chunks(10) {
        let calls = chunk
            .iter()
            .map(|u| run.control_owned(format!("/users/{u}/install")));
        for status in futures_join(calls).await {
            assert!(status.is_success());
        }
    }
    assert_eq!(
        run.installations("active").await.len(),
        100,
        "100 references"
    );
    run.wait_for_welcomes(&upns).await;
    for u in &upns {
        assert_eq!(run.welcomes(u).await, 1, "{u}: exactly one welcome");
    }

    // Ten reinstall at once (remove + add, and repeated adds): still one welcome each.
    let again: Vec<String> = upns[..10].to_vec();
    let mut calls = Vec::new();
    for u in &again {
        calls.push(run.control_owned(format!("/users/{u}/uninstall")));
        calls.push(run.control_owned(format!("/users/{u}/install")));
        calls.push(run.control_owned(format!("/users/{u}/install")));
    }
    futures_join(calls.into_iter()).await;
    for u in &again {
        run.control(&format!("/users/{u}/install")).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for u in &again {
        assert_eq!(
            run.welcomes(u).await,
            1,
            "{u}: a reinstall brings no second welcome"
        );
    }

    // Ten uninstall: kept, unreachable.
    for u in &upns[10..20] {
        assert!(run
            .control(&format!("/users/{u}/uninstall"))
            .await
            .is_success());
    }
    let unreachable = run.installations("unreachable").await;
    assert_eq!(unreachable.len(), 10);
    assert!(unreachable
        .iter()
        .all(|r| r["unreachableReason"] == "uninstalled"));
    let before: Vec<Value> = run.installations("").await;

    // A restart loses nothing and sends nothing again.
    server.stop();
    let (_server, base) = serve(&vars);
    let r = reqwest::Client::new()
        .put(format!("{}/_emulator/config", run.origin))
        .json(&json!({"botEndpoint": format!("{base}/api/messages")}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let run = Run { base, ..run };
    let after = run.installations("").await;
    assert_eq!(after, before, "every reference, as it was");
    assert_eq!(run.installations("unreachable").await.len(), 10);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    for u in &upns[..30] {
        assert_eq!(
            run.welcomes(u).await,
            1,
            "{u}: no welcome again after the restart"
        );
    }

    // The CLI reads the same store through the API.
    let out = herald()
        .args(["installations", "list", "--state", "unreachable"])
        .env("HERALD_SERVER", &run.base)
        .env("HERALD_API_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        listed.lines().filter(|l| l.contains("unreachable")).count(),
        10,
        "{listed}"
    );
    let out = herald()
        .args(["installations", "list"])
        .env("HERALD_SERVER", &run.base)
        .env("HERALD_API_TOKEN", "wrong")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "a refused token exits 3");
}

impl Run {
    fn control_owned(
        &self,
        path: String,
    ) -> impl std::future::Future<Output = reqwest::StatusCode> + 'static {
        let (http, url) = (
            self.http.clone(),
            format!("{}/_emulator{path}", self.origin),
        );
        async move { http.post(url).send().await.unwrap().status() }
    }
}

async fn futures_join<F>(futs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installs_repeats_uninstalls_and_a_restart_on_sqlite() {
    let path = std::env::temp_dir().join(format!(
        "herald-e2e-{}-{:x}.db",
        std::process::id(),
        rand::random::<u32>()
    ));
    installs_survive_repeats_uninstalls_and_restarts(format!("sqlite://{}", path.display())).await;
    for suffix in ["", "-wal", "-shm"] {
        std::fs::remove_file(format!("{}{suffix}", path.display())).ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installs_repeats_uninstalls_and_a_restart_on_postgres() {
    let Ok(url) = std::env::var("HERALD_TEST_POSTGRES_URL") else {
        eprintln!("SKIPPED on PostgreSQL: HERALD_TEST_POSTGRES_URL is not set");
        return;
    };
    let schema = format!("herald_e2e_{:x}", rand::random::<u32>());
    let store = herald_store::PgStore::connect_in_schema(&url, &schema)
        .await
        .unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    installs_survive_repeats_uninstalls_and_restarts(format!(
        "{url}{sep}options=-c%20search_path%3D{schema}"
    ))
    .await;
    store.drop_schema(&schema).await.unwrap();
}

#[test]
fn auth_disabled_warns_loudly_and_is_refused_off_loopback() {
    let base_env = [
        ("HERALD_APP_ID", "app"),
        ("HERALD_APP_PASSWORD", "pw"),
        ("HERALD_TENANT_ID", "tenant"),
        ("HERALD_AUTH_DISABLED", "1"),
        ("HERALD_DATABASE_URL", "sqlite::memory:"),
    ];
    let out = herald()
        .arg("serve")
        .envs(base_env)
        .env("HERALD_LISTEN", "0.0.0.0:0")
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("loopback"), "{err}");

    let mut child = herald()
        .arg("serve")
        .envs(base_env)
        .env("HERALD_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let mut line = String::new();
    while err.read_line(&mut line).unwrap() > 0 {
        seen.push_str(&line);
        if line.contains("AUTH_DISABLED") {
            break;
        }
        line.clear();
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.contains("WITHOUT checking"), "{seen}");
}

#[test]
fn missing_configuration_and_bad_files_are_explained() {
    let out = herald()
        .arg("serve")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("HERALD_APP_ID"), "{err}");

    let out = herald()
        .args(["installations", "import-teamsfx", "/nonexistent/store.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = herald()
        .args(["installations", "list"])
        .env("HERALD_SERVER", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "server unreachable exits 3");
}
