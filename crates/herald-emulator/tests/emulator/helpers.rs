use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use herald_core::ManualClock;
use herald_emulator::{Emulator, EmulatorOptions, RuntimeConfig, TenantSpec};
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

pub const APP_ID: &str = "8d4b3b4e-6f2a-4c1d-9e3f-5a7b9c1d3e5f";
pub const APP_PASSWORD: &str = "sandbox-app-password";
pub const USER_PASSWORD: &str = "sandbox-user-password";

/// One request the bot received.
#[derive(Debug, Clone)]
pub struct Received {
    pub authorization: String,
    pub headers: HeaderMap,
    pub activity: Value,
}

/// A bot that records what Teams sends and answers invokes with what the test set.
#[derive(Clone, Default)]
pub struct TestBot {
    pub received: Arc<Mutex<Vec<Received>>>,
    pub invoke_response: Arc<Mutex<Option<Value>>>,
}

impl TestBot {
    async fn start() -> (Self, String) {
        let bot = TestBot::default();
        let app = Router::new()
            .route("/api/messages", post(record))
            .with_state(bot.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        (bot, format!("http://{addr}/api/messages"))
    }

    pub fn activities(&self) -> Vec<Value> {
        self.received
            .lock()
            .iter()
            .map(|r| r.activity.clone())
            .collect()
    }

    pub fn count(&self) -> usize {
        self.received.lock().len()
    }

    /// Waits (real time, bounded) until the bot has received `n` requests.
    pub async fn wait_for(&self, n: usize) -> Vec<Value> {
        for _ in 0..200 {
            if self.count() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.activities()
    }
}

async fn record(
    State(bot): State<TestBot>,
    headers: HeaderMap,
    Json(activity): Json<Value>,
) -> Json<Value> {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let is_invoke = activity["type"] == "invoke";
    bot.received.lock().push(Received {
        authorization,
        headers,
        activity,
    });
    if is_invoke {
        if let Some(r) = bot.invoke_response.lock().clone() {
            return Json(r);
        }
    }
    Json(json!({}))
}

pub struct Env {
    pub emu: Emulator,
    pub clock: Arc<ManualClock>,
    pub http: reqwest::Client,
    pub bot: TestBot,
}

impl Env {
    pub async fn start(users: usize) -> Self {
        Self::start_with(users, RuntimeConfig::default()).await
    }

    pub async fn start_with(users: usize, config: RuntimeConfig) -> Self {
        let (bot, endpoint) = TestBot::start().await;
        let clock = ManualClock::starting_now();
        let mut opts = EmulatorOptions::local(users);
        opts.bot_endpoint = endpoint;
        opts.clock = clock.clone();
        opts.config = config;
        opts.tenant = TenantSpec::Seeded { users };
        let emu = Emulator::start(opts).await.unwrap();
        Self {
            emu,
            clock,
            http: reqwest::Client::new(),
            bot,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emu.origin())
    }

    pub fn advance(&self, secs: f64) {
        self.clock.advance(Duration::from_secs_f64(secs));
    }

    pub async fn token_for(&self, scope: &str) -> String {
        let r = self
            .http
            .post(self.url(&format!("/{}/oauth2/v2.0/token", "botframework.com")))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", APP_ID),
                ("client_secret", APP_PASSWORD),
                ("scope", scope),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        v["access_token"].as_str().unwrap().to_owned()
    }

    /// A Bot Connector token for the registered bot.
    pub async fn token(&self) -> String {
        self.token_for("https://api.botframework.com/.default")
            .await
    }

    /// An application token for Graph.
    pub async fn graph_token(&self) -> String {
        self.token_for("https://graph.microsoft.com/.default").await
    }

    /// A delegated Graph token for a simulated user (password grant), with every permission.
    pub async fn user_token(&self, upn: &str) -> String {
        self.user_token_with(upn, "https://graph.microsoft.com/.default offline_access")
            .await
    }

    /// A delegated Graph token granting only what `scope` asks for.
    pub async fn user_token_with(&self, upn: &str, scope: &str) -> String {
        let tenant = self.emu.tenant_id();
        let r = self
            .http
            .post(self.url(&format!("/{tenant}/oauth2/v2.0/token")))
            .form(&[
                ("grant_type", "password"),
                ("client_id", APP_ID),
                ("username", upn),
                ("password", USER_PASSWORD),
                ("scope", scope),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        v["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn get(&self, path: &str) -> Value {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.unwrap()
    }

    pub async fn control(&self, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn tenant(&self) -> Value {
        self.get("/_emulator/tenant").await
    }

    /// A user of the seeded tenant: (upn, aadObjectId, teams id).
    pub async fn user(&self, n: usize) -> (String, String, String) {
        let t = self.tenant().await;
        let u = &t["users"][n - 1];
        (
            u["upn"].as_str().unwrap().to_owned(),
            u["aadObjectId"].as_str().unwrap().to_owned(),
            u["id"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn install(&self, upn: &str) -> Value {
        let r = self
            .control(&format!("/_emulator/users/{upn}/install"), json!({}))
            .await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    pub async fn set_config(&self, patch: Value) -> Value {
        let r = self
            .http
            .put(self.url("/_emulator/config"))
            .json(&patch)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
        r.json().await.unwrap()
    }

    pub async fn stats(&self) -> Value {
        self.get("/_emulator/stats").await
    }

    pub async fn transcript(&self, upn: &str) -> Vec<Value> {
        self.get(&format!("/_emulator/users/{upn}/transcript"))
            .await["activities"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub async fn create_conversation(&self, token: &str, member_id: &str) -> reqwest::Response {
        let body = json!({
            "bot": {"id": format!("28:{APP_ID}")},
            "members": [{"id": member_id}],
            "channelData": {"tenant": {"id": self.emu.tenant_id()}},
            "isGroup": false,
        });
        self.http
            .post(self.url("/v3/conversations"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Installs user `n` and returns (upn, conversation id).
    pub async fn installed_conversation(&self, token: &str, n: usize) -> (String, String) {
        let (upn, _, id) = self.user(n).await;
        self.install(&upn).await;
        let r = self.create_conversation(token, &id).await;
        assert!(r.status().is_success(), "{}", r.status());
        let v: Value = r.json().await.unwrap();
        (upn, v["id"].as_str().unwrap().to_owned())
    }

    pub async fn send(&self, token: &str, conv: &str, activity: &Value) -> reqwest::Response {
        self.http
            .post(self.url(&format!("/v3/conversations/{}/activities", enc(conv))))
            .bearer_auth(token)
            .json(activity)
            .send()
            .await
            .unwrap()
    }

    pub async fn send_text(&self, token: &str, conv: &str, text: &str) -> reqwest::Response {
        self.send(token, conv, &json!({"type": "message", "text": text}))
            .await
    }
}

/// Percent-encodes a path segment the way the SDKs do.
pub fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The error code of a Bot Connector `ErrorResponse`.
pub async fn code_of(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    (
        status,
        v["error"]["code"].as_str().unwrap_or_default().to_owned(),
    )
}
