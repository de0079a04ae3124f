//! Bot Connector calls with Herald's rules: allow-listed service URLs only, the throttle before
//! each attempt, retries with jittered exponential backoff for what Teams calls transient, a
//! tenant-wide pause on 429, and a count of attempts.

use crate::allow::AllowList;
use crate::error::{ConnectorError, ErrorKind};
use crate::path::segment as encode;
use crate::throttle::{OpClass, Throttle};
use crate::token::{Credentials, TokenSource};
use herald_core::SharedClock;
use herald_wire::aad::SCOPE_BOT_FRAMEWORK;
use reqwest::Method;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub base: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
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
    pub allowed: AllowList,
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
}

/// A call's result and how many attempts it took.
#[derive(Debug)]
pub struct Sent<T> {
    pub result: Result<T, ConnectorError>,
    pub attempts: u32,
}

pub struct Connector {
    http: reqwest::Client,
    tokens: TokenSource,
    throttle: Arc<Throttle>,
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
            tokens: TokenSource::new(http.clone(), creds, SCOPE_BOT_FRAMEWORK, clock),
            http,
            throttle,
            cfg,
        })
    }

    pub fn throttle(&self) -> &Arc<Throttle> {
        &self.throttle
    }

    pub fn allows(&self, service_url: &str) -> bool {
        self.cfg.allowed.allows(service_url)
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
        self.throttle.acquire(key, op).await;
        let token = self.tokens.token().await?;
        let mut req = self.http.request(method.clone(), url).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req
            .send()
            .await
            .map_err(|e| ConnectorError::transport(&e))?;
        let status = res.status().as_u16();
        let retry_after = res
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = res
            .text()
            .await
            .map_err(|e| ConnectorError::transport(&e))?;
        if (200..300).contains(&status) {
            return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
        }
        let err = ConnectorError::from_response(status, retry_after.as_deref(), &text);
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
            };
        }
        let url = format!("{}{path}", service_url.trim_end_matches('/'));
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.attempt(&method, &url, key, op, body).await {
                Ok(v) => {
                    return Sent {
                        result: Ok(v),
                        attempts,
                    }
                }
                Err(e) if e.retryable() && attempts < self.cfg.retry.max_attempts => {
                    // A 429 already paused the tenant for Retry-After; the throttle waits for it.
                    if e.kind != ErrorKind::Throttled {
                        tokio::time::sleep(self.cfg.retry.backoff(attempts)).await;
                    }
                    tracing::debug!(attempts, error = %e, "retrying a connector call");
                }
                Err(e) => {
                    return Sent {
                        result: Err(e),
                        attempts,
                    }
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
    ) -> Sent<String> {
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
            result: s
                .result
                .map(|v| v["id"].as_str().unwrap_or_default().to_owned()),
            attempts: s.attempts,
        }
    }

    pub async fn update_activity(
        &self,
        service_url: &str,
        conversation_id: &str,
        activity_id: &str,
        activity: &Value,
    ) -> Sent<()> {
        let path = format!(
            "/v3/conversations/{}/activities/{}",
            encode(conversation_id),
            encode(activity_id)
        );
        let s = self
            .call(
                Method::PUT,
                service_url,
                &path,
                conversation_id,
                OpClass::Send,
                Some(activity),
            )
            .await;
        Sent {
            result: s.result.map(|_| ()),
            attempts: s.attempts,
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
