//! Bot Connector calls with Herald's rules: allow-listed service URLs only, the throttle before
//! each attempt, retries with jittered exponential backoff for what Teams calls transient — until
//! a deadline, not a number of tries, so that an outage delays messages instead of losing them —,
//! a tenant-wide pause on 429, a circuit that lets one request at a time probe a Teams that does
//! not answer, and a count of attempts (and of those whose answer never came).

use crate::allow::AllowList;
use crate::circuit::Circuit;
use crate::error::{ConnectorError, ErrorKind};
use crate::path::segment as encode;
use crate::throttle::{OpClass, Throttle};
use crate::token::{Credentials, TokenSource};
use herald_core::ids::ConversationId;
use herald_core::SharedClock;
use reqwest::Method;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// The one retry policy of both clients (Bot Connector and Graph): what is retried (what Teams or
/// Graph says is transient), how long to wait (`Retry-After` first, else jittered exponential
/// backoff) and until when (a number of attempts or a deadline, whichever comes first).
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (`u32::MAX`: only the deadline counts).
    pub max_attempts: u32,
    /// How long a connector call keeps retrying what is transient (`delivery_deadline_s`).
    pub deadline: Duration,
    pub base: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            deadline: Duration::from_secs(3600),
            base: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The connector's: a send keeps trying what is transient until `deadline`, however many
    /// attempts that takes (an outage delays messages, it does not lose them).
    pub fn until(deadline: Duration) -> Self {
        Self {
            max_attempts: u32::MAX,
            deadline,
            ..Self::default()
        }
    }

    /// How long to wait before trying again after `err`, the `attempts`-th failure in
    /// `elapsed`; `None` when it is not retried: not transient, or out of attempts or time.
    pub fn next_wait(
        &self,
        err: &ConnectorError,
        attempts: u32,
        elapsed: Duration,
    ) -> Option<Duration> {
        if !err.retryable() || attempts >= self.max_attempts || elapsed >= self.deadline {
            return None;
        }
        Some(
            err.retry_after
                .unwrap_or_else(|| self.backoff(attempts.min(16))),
        )
    }

    /// Exponential, capped, with full jitter around the middle (0.5×–1.5×).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let capped = exp.min(self.max_backoff);
        capped.mul_f64(0.5 + rand::random::<f64>())
    }
}

#[derive(Debug, Clone)]
pub struct ConnectorConfig {
    /// The scope of the bot's token (the cloud's Bot Framework: `CloudEndpoints::bot_scope`).
    pub token_scope: &'static str,
    pub allowed: AllowList,
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
}

/// A call's result, how many attempts it took, and how many of them got no answer after the
/// request may have reached Teams (a POST among those may have been delivered).
#[derive(Debug)]
pub struct Sent<T> {
    pub result: Result<T, ConnectorError>,
    pub attempts: u32,
    pub unanswered: u32,
}

pub struct Connector {
    http: reqwest::Client,
    tokens: TokenSource,
    throttle: Arc<Throttle>,
    circuit: Circuit,
    clock: SharedClock,
    cfg: ConnectorConfig,
}

impl Connector {
    pub fn new(
        creds: Credentials,
        clock: SharedClock,
        throttle: Arc<Throttle>,
        cfg: ConnectorConfig,
    ) -> Result<Self, ConnectorError> {
        let http = reqwest::Client::builder()
            .timeout(cfg.request_timeout)
            .pool_max_idle_per_host(256)
            .build()
            .map_err(|e| ConnectorError::configuration(format!("HTTP client: {e}")))?;
        Ok(Self {
            tokens: TokenSource::new(http.clone(), creds, cfg.token_scope, clock.clone()),
            http,
            throttle,
            circuit: Circuit::default(),
            clock,
            cfg,
        })
    }

    pub fn throttle(&self) -> &Arc<Throttle> {
        &self.throttle
    }

    pub fn allows(&self, service_url: &str) -> bool {
        self.cfg.allowed.allows(service_url)
    }

    /// Whether Teams stopped answering and only probes go out.
    pub fn circuit_open(&self) -> bool {
        self.circuit.is_open()
    }

    /// One attempt: throttle, token, request, classification.
    async fn attempt(
        &self,
        method: &Method,
        url: &str,
        key: &str,
        op: OpClass,
        body: Option<&Value>,
    ) -> Result<Value, ConnectorError> {
        // The token first (a round trip when it must be fetched), so that nothing stands between
        // the throttle's admission and the request leaving: Teams counts arrivals.
        self.tokens.token().await?;
        let pass = self.circuit.enter().await;
        self.throttle.acquire(key, op).await;
        let token = self.tokens.token().await?;
        let mut req = self.http.request(method.clone(), url).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                self.circuit.unanswered(pass);
                return Err(ConnectorError::transport(&e));
            }
        };
        self.circuit.answered();
        let status = res.status().as_u16();
        let retry_after = res
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = res.text().await;
        if (200..300).contains(&status) {
            // Teams took it: whatever happens to the body, it is never sent again. Without a
            // body the new activity's id is unknown.
            let text = text.unwrap_or_default();
            return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
        }
        let text = text.map_err(|e| ConnectorError::transport(&e))?;
        let err = ConnectorError::from_response(
            status,
            retry_after.as_deref(),
            &text,
            self.clock.now_ms(),
        );
        match err.kind {
            ErrorKind::Throttled => self
                .throttle
                .pause(err.retry_after.unwrap_or(Duration::from_secs(1))),
            ErrorKind::Unauthorized => self.tokens.invalidate(),
            _ => {}
        }
        Err(err)
    }

    async fn call(
        &self,
        method: Method,
        service_url: &str,
        path: &str,
        key: &str,
        op: OpClass,
        body: Option<&Value>,
    ) -> Sent<Value> {
        if !self.cfg.allowed.allows(service_url) {
            return Sent {
                result: Err(ConnectorError::configuration(
                    "the service URL is not in allowed_service_urls; Herald does not send its token there",
                )),
                attempts: 0,
                unanswered: 0,
            };
        }
        let url = format!("{}{path}", service_url.trim_end_matches('/'));
        let started = self.clock.now_ms();
        let (mut attempts, mut unanswered) = (0, 0);
        loop {
            attempts += 1;
            match self.attempt(&method, &url, key, op, body).await {
                Ok(v) => {
                    return Sent {
                        result: Ok(v),
                        attempts,
                        unanswered,
                    }
                }
                Err(e) => {
                    if e.maybe_processed {
                        unanswered += 1;
                    }
                    let elapsed =
                        Duration::from_millis(self.clock.now_ms().saturating_sub(started));
                    let Some(wait) = self.cfg.retry.next_wait(&e, attempts, elapsed) else {
                        return Sent {
                            result: Err(e),
                            attempts,
                            unanswered,
                        };
                    };
                    // A 429 already paused the whole tenant for Retry-After: the throttle waits
                    // for it. An unanswered request waits at the circuit instead.
                    if e.kind != ErrorKind::Throttled && !self.circuit.is_open() {
                        tokio::time::sleep(wait).await;
                    }
                    tracing::debug!(attempts, error = %e, "retrying a connector call");
                }
            }
        }
    }

    /// SendToConversation; the result is the new activity's id.
    pub async fn send(
        &self,
        service_url: &str,
        conversation_id: &str,
        activity: &Value,
    ) -> Sent<String> {
        let path = format!("/v3/conversations/{}/activities", encode(conversation_id));
        let s = self
            .call(
                Method::POST,
                service_url,
                &path,
                conversation_id,
                OpClass::Send,
                Some(activity),
            )
            .await;
        Sent {
            result: s
                .result
                .map(|v| v["id"].as_str().unwrap_or_default().to_owned()),
            attempts: s.attempts,
            unanswered: s.unanswered,
        }
    }

    /// CreateConversation for a 1:1 with `user_id` in `tenant_id`; the result is the
    /// conversation id.
    pub async fn create_conversation(
        &self,
        service_url: &str,
        bot_id: &str,
        user_id: &str,
        tenant_id: &str,
    ) -> Sent<ConversationId> {
        let body = serde_json::json!({
            "bot": {"id": bot_id},
            "members": [{"id": user_id}],
            "channelData": {"tenant": {"id": tenant_id}},
            "isGroup": false,
            "tenantId": tenant_id,
        });
        let key = format!("create:{user_id}");
        let s = self
            .call(
                Method::POST,
                service_url,
                "/v3/conversations",
                &key,
                OpClass::Create,
                Some(&body),
            )
            .await;
        Sent {
            result: s.result.and_then(|v| {
                ConversationId::parse(v["id"].as_str().unwrap_or_default()).map_err(|e| {
                    ConnectorError::bad_answer(format!(
                        "CreateConversation answered without a usable id: {e}"
                    ))
                })
            }),
            attempts: s.attempts,
            unanswered: s.unanswered,
        }
    }

    /// DeleteActivity: removes a message the bot sent. Teams answers 404 for one already gone.
    pub async fn delete_activity(
        &self,
        service_url: &str,
        conversation_id: &str,
        activity_id: &str,
    ) -> Sent<()> {
        self.change_activity(
            Method::DELETE,
            service_url,
            conversation_id,
            activity_id,
            None,
        )
        .await
    }

    /// UpdateActivity: replaces a message the bot sent.
    pub async fn update_activity(
        &self,
        service_url: &str,
        conversation_id: &str,
        activity_id: &str,
        activity: &Value,
    ) -> Sent<()> {
        self.change_activity(
            Method::PUT,
            service_url,
            conversation_id,
            activity_id,
            Some(activity),
        )
        .await
    }

    async fn change_activity(
        &self,
        method: Method,
        service_url: &str,
        conversation_id: &str,
        activity_id: &str,
        body: Option<&Value>,
    ) -> Sent<()> {
        let path = format!(
            "/v3/conversations/{}/activities/{}",
            encode(conversation_id),
            encode(activity_id)
        );
        let s = self
            .call(
                method,
                service_url,
                &path,
                conversation_id,
                OpClass::Send,
                body,
            )
            .await;
        Sent {
            result: s.result.map(|_| ()),
            attempts: s.attempts,
            unanswered: s.unanswered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversation_ids_are_one_path_segment() {
        assert_eq!(encode("a:1x/y?z"), "a%3A1x%2Fy%3Fz");
        assert_eq!(
            encode("19:ab_cd@unq.gbl.spaces"),
            "19%3Aab_cd%40unq.gbl.spaces"
        );
    }

    /// Both clients ask the same question of the same policy: Retry-After first, then backoff,
    /// within attempts and a deadline; never what is not transient.
    #[test]
    fn one_policy_decides_every_retry() {
        let p = RetryPolicy {
            max_attempts: 3,
            deadline: Duration::from_secs(60),
            ..RetryPolicy::default()
        };
        let throttled = ConnectorError::from_response(429, Some("7"), "", 0);
        assert_eq!(
            p.next_wait(&throttled, 1, Duration::ZERO),
            Some(Duration::from_secs(7))
        );
        // An HTTP date is read against the clock.
        let dated =
            ConnectorError::from_response(503, Some("Thu, 01 Jan 1970 00:00:30 GMT"), "", 10_000);
        assert_eq!(
            p.next_wait(&dated, 1, Duration::ZERO),
            Some(Duration::from_secs(20))
        );
        let transient = ConnectorError::from_response(502, None, "", 0);
        assert!(p.next_wait(&transient, 1, Duration::ZERO).unwrap() <= p.max_backoff.mul_f64(1.5));
        assert_eq!(
            p.next_wait(&transient, 3, Duration::ZERO),
            None,
            "out of attempts"
        );
        assert_eq!(
            p.next_wait(&transient, 1, Duration::from_secs(60)),
            None,
            "out of time"
        );
        let refused = ConnectorError::from_response(400, None, "", 0);
        assert_eq!(
            p.next_wait(&refused, 1, Duration::ZERO),
            None,
            "never retried"
        );
        let send = RetryPolicy::until(Duration::from_secs(60));
        assert!(send
            .next_wait(&transient, 1_000, Duration::from_secs(59))
            .is_some());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        for attempt in 1..20 {
            let d = p.backoff(attempt);
            assert!(d <= p.max_backoff.mul_f64(1.5), "{attempt}: {d:?}");
        }
        assert!(p.backoff(1) <= Duration::from_millis(375));
        assert!(p.backoff(5) >= Duration::from_millis(2000));
    }
}
