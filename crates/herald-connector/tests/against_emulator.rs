//! The connector client against the emulator, over real HTTP.

use herald_connector::*;
use herald_emulator::{Emulator, EmulatorOptions};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

struct Env {
    emu: Emulator,
    http: reqwest::Client,
}

impl Env {
    async fn start() -> Self {
        Self {
            emu: Emulator::start(EmulatorOptions::local(10)).await.unwrap(),
            http: reqwest::Client::new(),
        }
    }

    /// A connector that retries what is transient for `patience`.
    fn connector(&self, password: &str, allowed: &str, patience: Duration) -> Connector {
        let clock: herald_core::SharedClock = Arc::new(herald_core::SystemClock);
        Connector::new(
            Credentials {
                login_url: self.emu.origin().into(),
                tenant: self.emu.tenant_id(),
                app_id: self.emu.app_id(),
                app_password: password.into(),
            },
            clock.clone(),
            Arc::new(Throttle::new(clock, 50, true)),
            ConnectorConfig {
                token_scope: herald_wire::aad::SCOPE_BOT_FRAMEWORK,
                allowed: AllowList::parse(allowed).unwrap(),
                request_timeout: Duration::from_millis(500),
                retry: RetryPolicy {
                    max_attempts: u32::MAX,
                    deadline: patience,
                    base: Duration::from_millis(5),
                    max_backoff: Duration::from_millis(20),
                },
            },
        )
        .unwrap()
    }

    fn service_url(&self) -> String {
        format!("{}/", self.emu.origin())
    }

    async fn control(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}/_emulator{path}", self.emu.origin()))
            .json(&body)
            .send()
            .await
            .unwrap();
        r.json().await.unwrap_or(Value::Null)
    }

    async fn config(&self, body: Value) {
        self.http
            .put(format!("{}/_emulator/config", self.emu.origin()))
            .json(&body)
            .send()
            .await
            .unwrap();
    }

    async fn user_id(&self, n: usize) -> String {
        let t: Value = self
            .http
            .get(format!("{}/_emulator/tenant", self.emu.origin()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        t["users"][n - 1]["id"].as_str().unwrap().to_owned()
    }
}

fn text(t: &str) -> Value {
    json!({"type": "message", "text": t})
}

#[tokio::test]
async fn creates_sends_and_classifies_what_teams_refuses() {
    let env = Env::start().await;
    let c = env.connector(
        &env.emu.app_password(),
        &format!("{}/*", env.emu.origin()),
        Duration::from_secs(3),
    );
    let bot = format!("28:{}", env.emu.app_id());
    let user = env.user_id(1).await;
    let refused = c
        .create_conversation(&env.service_url(), &bot, &user, &env.emu.tenant_id())
        .await;
    assert_eq!(refused.result.unwrap_err().kind, ErrorKind::NotInstalled);
    assert_eq!(refused.attempts, 1, "403 is never retried");

    env.control("/users/user1@sandbox.example/install", json!({}))
        .await;
    let conv = c
        .create_conversation(&env.service_url(), &bot, &user, &env.emu.tenant_id())
        .await
        .result
        .unwrap();
    let sent = c.send(&env.service_url(), &conv, &text("hello")).await;
    assert!(!sent.result.unwrap().is_empty());
    assert_eq!(sent.attempts, 1);

    env.control("/users/user1@sandbox.example/block", json!({}))
        .await;
    let e = c
        .send(&env.service_url(), &conv, &text("x"))
        .await
        .result
        .unwrap_err();
    assert_eq!(
        (e.kind, e.unreachable_reason()),
        (
            ErrorKind::Blocked,
            Some(herald_core::reason::Reason::Blocked)
        )
    );
    env.config(json!({"legacyBlockedErrors": true})).await;
    let e = c
        .send(&env.service_url(), &conv, &text("x"))
        .await
        .result
        .unwrap_err();
    assert_eq!(
        e.kind,
        ErrorKind::Blocked,
        "the older errorCode-209 shape too"
    );

    let big = text(&"x".repeat(30_000));
    let e = c
        .send(&env.service_url(), "a:1whatever", &big)
        .await
        .result
        .unwrap_err();
    assert_eq!(
        e.kind,
        ErrorKind::ConversationNotFound,
        "unknown conversation"
    );
}

#[tokio::test]
async fn transient_failures_are_retried_and_counted_and_500_is_not() {
    let env = Env::start().await;
    let c = env.connector(
        &env.emu.app_password(),
        &format!("{}/*", env.emu.origin()),
        Duration::from_secs(4),
    );
    let conv = env
        .control("/users/user2@sandbox.example/install", json!({}))
        .await["conversationId"]
        .as_str()
        .unwrap()
        .to_owned();
    env.config(json!({"faults": {"statusRates": {"502": 1.0}}}))
        .await;
    // Retried until the deadline (4 s here), then given up.
    let s = c.send(&env.service_url(), &conv, &text("x")).await;
    assert_eq!(s.result.unwrap_err().kind, ErrorKind::Transient);
    assert!(s.attempts > 4, "{} attempts", s.attempts);
    assert_eq!(s.unanswered, 0, "every attempt was answered");
    env.config(json!({"faults": {"statusRates": {"500": 1.0}}}))
        .await;
    let s = c.send(&env.service_url(), &conv, &text("x")).await;
    assert_eq!(
        (s.result.unwrap_err().kind, s.attempts),
        (ErrorKind::ServiceError, 1)
    );
    // 30 % 503 and 10 % held: retried for as long as it takes.
    env.config(json!({"faults": {"statusRates": {"503": 0.3}, "rateTimeout": 0.1, "seed": 3}}))
        .await;
    let patient = env.connector(
        &env.emu.app_password(),
        &format!("{}/*", env.emu.origin()),
        Duration::from_secs(8),
    );
    let mut retried = 0;
    for _ in 0..10 {
        let s = patient.send(&env.service_url(), &conv, &text("x")).await;
        assert!(s.result.is_ok(), "every send gets through in the end");
        retried += u32::from(s.attempts > 1);
    }
    assert!(retried > 0);
}

#[tokio::test]
async fn a_429_pauses_the_tenant_and_is_retried() {
    let env = Env::start().await;
    // The client believes in 50/s; the emulator allows 2/s: Teams' 429s must be absorbed.
    env.config(json!({"tenantRps": 2, "conversationLimits": false}))
        .await;
    let c = env.connector(
        &env.emu.app_password(),
        &format!("{}/*", env.emu.origin()),
        Duration::from_secs(8),
    );
    let conv = env
        .control("/users/user3@sandbox.example/install", json!({}))
        .await["conversationId"]
        .as_str()
        .unwrap()
        .to_owned();
    for i in 0..5 {
        let s = c
            .send(&env.service_url(), &conv, &text(&format!("m{i}")))
            .await;
        assert!(s.result.is_ok());
    }
    assert!(c.throttle().pauses() >= 1, "Retry-After paused everyone");
}

#[tokio::test]
async fn refuses_service_urls_off_the_allow_list_and_reports_bad_credentials() {
    let env = Env::start().await;
    let strict = env.connector(
        &env.emu.app_password(),
        "https://smba.trafficmanager.net/*",
        Duration::from_secs(3),
    );
    let s = strict.send(&env.service_url(), "a:1x", &text("x")).await;
    assert_eq!(
        (s.result.unwrap_err().kind, s.attempts),
        (ErrorKind::Configuration, 0)
    );

    let wrong = env.connector(
        "not-the-password",
        &format!("{}/*", env.emu.origin()),
        Duration::from_secs(3),
    );
    let e = wrong
        .send(&env.service_url(), "a:1x", &text("x"))
        .await
        .result
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unauthorized);
    assert_eq!(e.code.as_deref(), Some("invalid_client"));
    assert!(!e.to_string().contains("not-the-password"));
}
