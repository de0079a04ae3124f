//! Calls from the simulated Teams to the bot's endpoint, signed as the Bot Connector signs them:
//! RS256 with the emulator's current key, `iss` = Bot Framework, `aud` = the bot's app id and a
//! `serviceurl` claim. Like Teams, the token is reused until it nears expiry.

use crate::Shared;
use herald_wire::aad::{ChannelClaims, ISSUER_BOT_FRAMEWORK};
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;

/// Teams waits this long for a bot to answer.
const BOT_TIMEOUT: Duration = Duration::from_secs(15);
const CHANNEL_TOKEN_SECS: u64 = 3600;

pub struct BotClient {
    http: reqwest::Client,
    endpoint: parking_lot::RwLock<String>,
    token: Mutex<Option<CachedToken>>,
}

struct CachedToken {
    token: String,
    kid: String,
    exp: u64,
}

/// What the bot answered.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BotReply {
    #[serde(rename = "type")]
    pub kind: String,
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl BotClient {
    pub fn new(endpoint: String) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(BOT_TIMEOUT)
                .pool_idle_timeout(Duration::from_secs(30))
                .build()?,
            endpoint: parking_lot::RwLock::new(endpoint),
            token: Mutex::new(None),
        })
    }

    pub fn endpoint(&self) -> String {
        self.endpoint.read().clone()
    }

    pub fn set_endpoint(&self, endpoint: String) {
        *self.endpoint.write() = endpoint;
    }

    /// The channel token Teams would put on the next activity (reused until near expiry).
    pub fn token(&self, shared: &Shared) -> String {
        let now = shared.clock.now_secs();
        let kid = shared.keys.current().kid.clone();
        let mut cached = self.token.lock();
        if let Some(t) = cached.as_ref() {
            if t.kid == kid && t.exp > now + 300 {
                return t.token.clone();
            }
        }
        let app_id = shared.world.lock().tenant.app_id.clone();
        let claims = ChannelClaims {
            iss: ISSUER_BOT_FRAMEWORK.into(),
            aud: app_id,
            exp: now + CHANNEL_TOKEN_SECS,
            nbf: now,
            iat: now,
            serviceurl: shared.service_url(),
        };
        let (token, kid) = shared.keys.sign(&claims);
        *cached = Some(CachedToken {
            token: token.clone(),
            kid,
            exp: claims.exp,
        });
        token
    }

    /// Posts one activity to the bot and reports its answer; never fails.
    pub async fn deliver(&self, shared: &Shared, activity: &Value) -> BotReply {
        let kind = activity["type"].as_str().unwrap_or_default().to_owned();
        let endpoint = self.endpoint();
        let mut req = self
            .http
            .post(&endpoint)
            .bearer_auth(self.token(shared))
            .json(activity);
        if let Some(c) = activity["conversation"]["id"].as_str() {
            req = req.header("x-ms-conversation-id", c);
        }
        if let Some(t) = activity["conversation"]["tenantId"].as_str() {
            req = req.header("x-ms-tenant-id", t);
        }
        match req.send().await {
            Ok(res) => {
                let status = res.status().as_u16();
                let text = res.text().await.unwrap_or_default();
                let body = if text.is_empty() {
                    None
                } else {
                    Some(serde_json::from_str(&text).unwrap_or(Value::String(text)))
                };
                BotReply {
                    kind,
                    status: Some(status),
                    body,
                    error: None,
                }
            }
            Err(e) => {
                tracing::warn!(%endpoint, error = %e, "the bot did not answer");
                BotReply {
                    kind,
                    status: None,
                    body: None,
                    error: Some(format!("the bot at {endpoint} did not answer: {e}")),
                }
            }
        }
    }
}
