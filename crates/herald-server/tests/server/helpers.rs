use herald_core::ids::*;
use herald_core::SharedClock;
use herald_emulator::{Emulator, EmulatorOptions};
use herald_server::{Config, Server};
use herald_store::{PgStore, Store, StoredReference};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub const API_TOKEN: &str = "test-api-token";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// In `extra`: a TOML configuration file for the server (what only a file can say), besides
/// the variables.
pub const CONFIG_FILE: &str = "test:config-file";

pub struct Env {
    pub emu: Emulator,
    pub server: Option<Server>,
    pub http: reqwest::Client,
    pub vars: HashMap<String, String>,
    pub clock: SharedClock,
    pub base: String,
    cleanup: Option<(Arc<PgStore>, String)>,
    sqlite_path: Option<std::path::PathBuf>,
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{:x}",
        std::process::id(),
        rand::random::<u64>()
    )
}

/// The PostgreSQL URL, or a loud skip.
pub fn postgres_url() -> Option<String> {
    let url = std::env::var("HERALD_TEST_POSTGRES_URL").ok();
    if url.is_none() {
        eprintln!("SKIPPED on PostgreSQL: HERALD_TEST_POSTGRES_URL is not set");
    }
    url
}

impl Env {
    pub async fn start(backend: Backend, users: usize, extra: &[(&str, &str)]) -> Self {
        Self::start_with_clock(backend, users, extra, Arc::new(herald_core::SystemClock)).await
    }

    pub async fn start_with_clock(
        backend: Backend,
        users: usize,
        extra: &[(&str, &str)],
        clock: SharedClock,
    ) -> Self {
        Self::start_with_options(backend, EmulatorOptions::local(users), extra, clock).await
    }

    /// `users` people, every member with the bot installed in the emulator from the start (Herald
    /// learns them from an import: see `import_installed`).
    pub async fn start_installed_with_clock(
        backend: Backend,
        users: usize,
        extra: &[(&str, &str)],
        clock: SharedClock,
    ) -> Self {
        let mut opts = EmulatorOptions::local(users);
        opts.tenant = herald_emulator::TenantSpec::SeededInstalled { users };
        Self::start_with_options(backend, opts, extra, clock).await
    }

    async fn start_with_options(
        backend: Backend,
        mut opts: EmulatorOptions,
        extra: &[(&str, &str)],
        clock: SharedClock,
    ) -> Self {
        opts.clock = clock.clone();
        let emu = Emulator::start(opts).await.unwrap();
        let mut vars: HashMap<String, String> = emu
            .bot_settings()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        vars.insert("HERALD_LISTEN".into(), "127.0.0.1:0".into());
        vars.insert("HERALD_API_TOKENS".into(), API_TOKEN.into());
        let (mut cleanup, mut sqlite_path) = (None, None);
        match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("{}.db", unique("herald_server")));
                vars.insert(
                    "HERALD_DATABASE_URL".into(),
                    format!("sqlite://{}", path.display()),
                );
                sqlite_path = Some(path);
            }
            Backend::Postgres => {
                let url = postgres_url().expect("checked by the caller");
                let schema = unique("herald_srv");
                let store = Arc::new(PgStore::connect_in_schema(&url, &schema).await.unwrap());
                let sep = if url.contains('?') { '&' } else { '?' };
                vars.insert(
                    "HERALD_DATABASE_URL".into(),
                    format!("{url}{sep}options=-c%20search_path%3D{schema}"),
                );
                cleanup = Some((store, schema));
            }
        }
        for (k, v) in extra {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        let mut env = Self {
            emu,
            server: None,
            http: reqwest::Client::new(),
            vars,
            clock,
            base: String::new(),
            cleanup,
            sqlite_path,
        };
        env.start_server().await;
        env
    }

    pub fn config(&self) -> Config {
        let vars = self.vars.clone();
        let file = vars.get(CONFIG_FILE).map(std::path::PathBuf::from);
        Config::load(file.as_deref(), &move |k| vars.get(k).cloned(), true).unwrap()
    }

    pub async fn start_server(&mut self) {
        let server = Server::start(self.config(), self.clock.clone())
            .await
            .unwrap();
        self.base = format!("http://{}", server.addr());
        self.emu
            .set_bot_endpoint(&format!("{}/api/messages", self.base));
        self.server = Some(server);
    }

    pub async fn restart(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
        self.start_server().await;
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.server.as_ref().unwrap().store()
    }

    /// `GET {path}` on the emulator's control API (`/_emulator/…`), as JSON.
    pub async fn emulator_get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}/_emulator{path}", self.emu.origin()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `GET {path}` on Herald's API with the test token, as JSON.
    pub async fn api_get(&self, path: &str) -> Value {
        self.api_get_at(&self.base, path).await
    }

    /// `GET {path}` with the test token on another node at `base`, as JSON.
    pub async fn api_get_at(&self, base: &str, path: &str) -> Value {
        self.http
            .get(format!("{base}{path}"))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The emulator's request statistics (`/_emulator/stats`).
    pub async fn emulator_stats(&self) -> Value {
        self.emulator_get("/stats").await
    }

    pub async fn tenant(&self) -> Value {
        self.emulator_get("/tenant").await
    }

    pub async fn control(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}/_emulator{path}", self.emu.origin()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    /// Changes an emulated person's settings (`readReceipts`, `timeZone`).
    pub async fn user_settings(&self, upn: &str, body: Value) {
        let r = self
            .http
            .put(format!(
                "{}/_emulator/users/{upn}/settings",
                self.emu.origin()
            ))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            200,
            "{upn}: {}",
            r.text().await.unwrap_or_default()
        );
    }

    pub async fn transcript(&self, upn: &str) -> Vec<Value> {
        let v = self.emulator_get(&format!("/users/{upn}/transcript")).await;
        v["activities"].as_array().cloned().unwrap_or_default()
    }

    /// Messages the bot sent to `upn` (from the emulator's transcript).
    pub async fn bot_messages(&self, upn: &str) -> Vec<Value> {
        self.transcript(upn)
            .await
            .into_iter()
            .filter(|a| {
                a["from"]["id"]
                    .as_str()
                    .is_some_and(|id| id.starts_with("28:"))
            })
            .collect()
    }

    /// Waits (bounded, real time) for `cond` on the store.
    pub async fn eventually<F, Fut>(&self, what: &str, mut cond: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        for _ in 0..500 {
            if cond().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("timed out waiting for {what}");
    }

    pub async fn reference(&self, aad: &str) -> Option<StoredReference> {
        self.store()
            .get_reference(
                &TenantId::parse(self.emu.tenant_id()).unwrap(),
                &AadObjectId::parse(aad).unwrap(),
            )
            .await
            .unwrap()
    }

    /// POSTs an activity to the server's /api/messages with `token` (None: no Authorization).
    pub async fn post_activity(&self, token: Option<&str>, activity: &Value) -> reqwest::Response {
        let mut r = self
            .http
            .post(format!("{}/api/messages", self.base))
            .json(activity);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().await.unwrap()
    }

    pub fn api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(API_TOKEN)
    }

    pub async fn shutdown(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
        if let Some((store, schema)) = self.cleanup.take() {
            store.drop_schema(&schema).await.unwrap();
        }
        if let Some(p) = self.sqlite_path.take() {
            for suffix in ["", "-wal", "-shm"] {
                std::fs::remove_file(format!("{}{suffix}", p.display())).ok();
            }
        }
    }
}

/// A personal install activity as the emulator would send it, for a made-up user `n`.
pub fn install_activity(env: &Env, n: u64) -> Value {
    let tenant = env.emu.tenant_id();
    let conv = format!("a:1forged{n}");
    json!({
        "type": "installationUpdate",
        "action": "add",
        "id": format!("f:{n}"),
        "channelId": "msteams",
        "serviceUrl": env.emu.service_url(),
        "from": {"id": format!("29:1forged{n}"), "aadObjectId": format!("00000000-0000-4000-8000-{n:012}")},
        "recipient": {"id": format!("28:{}", env.emu.app_id()), "name": "Herald Sandbox"},
        "conversation": {"id": conv, "conversationType": "personal", "tenantId": tenant},
        "channelData": {"tenant": {"id": tenant}},
    })
}

/// Valid Bot Connector claims for this emulator and bot, `exp` an hour away.
pub fn channel_claims(env: &Env) -> Value {
    let now = herald_core::SystemClock.now_secs();
    json!({
        "iss": "https://api.botframework.com",
        "aud": env.emu.app_id(),
        "exp": now + 3600,
        "nbf": now - 10,
        "iat": now - 10,
        "serviceurl": env.emu.service_url(),
    })
}

use herald_core::Clock as _;

/// POSTs a notification; it must be accepted.
pub async fn notify(env: &Env, body: Value) -> Value {
    let r = env
        .api(Method::POST, "/v1/notifications")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    r.json().await.unwrap()
}

/// Polls until the notification completes or is canceled.
pub async fn finished(env: &Env, id: &str) -> Value {
    for _ in 0..1500 {
        let s = env.api_get(&format!("/v1/notifications/{id}")).await;
        if s["state"] == "completed" || s["state"] == "canceled" {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("notification {id} did not finish");
}

/// Installs the bot for each of `upns` and waits until every installation is stored.
pub async fn install_and_wait(env: &Env, upns: &[&str]) {
    for u in upns {
        env.control(&format!("/users/{u}/install"), json!({})).await;
    }
    env.eventually("every installation stored", || async {
        env.api_get("/v1/installations?limit=1000").await["items"]
            .as_array()
            .is_some_and(|i| i.len() == upns.len())
    })
    .await;
}

/// Teaches Herald every person the emulator has the bot installed for, as a Teams Toolkit store
/// import in chunks of 5,000; returns their UPNs in the tenant's order.
pub async fn import_installed(env: &Env) -> Vec<String> {
    let t = env.tenant().await;
    let installed: Vec<&Value> = t["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["conversationId"].is_string())
        .collect();
    for chunk in installed.chunks(5000) {
        let mut doc = serde_json::Map::new();
        for u in chunk {
            doc.insert(
                format!("_{}_{}", t["tenantId"].as_str().unwrap(), u["conversationId"].as_str().unwrap()),
                json!({
                    "user": {"id": u["id"], "aadObjectId": u["aadObjectId"], "name": u["displayName"]},
                    "bot": {"id": t["botId"], "name": t["appName"]},
                    "conversation": {"conversationType": "personal", "tenantId": t["tenantId"], "id": u["conversationId"]},
                    "channelId": "msteams",
                    "serviceUrl": t["serviceUrl"],
                }),
            );
        }
        let r = env
            .api(Method::POST, "/v1/installations/import")
            .json(&Value::Object(doc))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    installed
        .iter()
        .map(|u| u["upn"].as_str().unwrap().to_owned())
        .collect()
}

/// The delivery report as CSV (`Accept: text/csv`).
pub async fn report_csv(env: &Env, id: &str) -> String {
    env.api(Method::GET, &format!("/v1/notifications/{id}/deliveries"))
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The first 1,000 delivery rows.
pub async fn rows(env: &Env, id: &str) -> Vec<Value> {
    let v = env
        .api_get(&format!("/v1/notifications/{id}/deliveries?limit=1000"))
        .await;
    v["items"].as_array().unwrap().clone()
}

/// Every row, page after page.
pub async fn all_rows(env: &Env, id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut path = format!("/v1/notifications/{id}/deliveries?limit=1000");
    loop {
        let v = env.api_get(&path).await;
        out.extend(v["items"].as_array().unwrap().iter().cloned());
        match v["next"].as_str() {
            Some(next) => {
                path = format!("/v1/notifications/{id}/deliveries?limit=1000&cursor={next}")
            }
            None => return out,
        }
    }
}

/// The Prometheus text of `/metrics`.
pub async fn metrics(env: &Env) -> String {
    env.http
        .get(format!("{}/metrics", env.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
