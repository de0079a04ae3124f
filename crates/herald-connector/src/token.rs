//! The bot's access token for the Bot Connector: client credentials against the identity
//! platform, cached and refreshed five minutes before it expires, one refresh at a time.

use crate::error::{ConnectorError, ErrorKind};
use herald_core::SharedClock;
use parking_lot::RwLock;
use serde_json::Value;
use std::fmt;

#[derive(Clone)]
pub struct Credentials {
    /// `https://login.microsoftonline.com` or the emulator's origin.
    pub login_url: String,
    /// The tenant to ask (the bot's tenant id, or `botframework.com` for multi-tenant bots).
    pub tenant: String,
    pub app_id: String,
    pub app_password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("login_url", &self.login_url)
            .field("tenant", &self.tenant)
            .field("app_id", &self.app_id)
            .field("app_password", &"<redacted>")
            .finish()
    }
}

const REFRESH_BEFORE_MS: u64 = 5 * 60 * 1000;

#[derive(Clone)]
struct Cached {
    token: String,
    expires_at: u64,
}

pub struct TokenSource {
    http: reqwest::Client,
    creds: Credentials,
    scope: String,
    clock: SharedClock,
    cached: RwLock<Option<Cached>>,
    refresh: tokio::sync::Mutex<()>,
}

impl TokenSource {
    pub fn new(http: reqwest::Client, creds: Credentials, scope: &str, clock: SharedClock) -> Self {
        Self {
            http,
            creds,
            scope: scope.to_owned(),
            clock,
            cached: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    fn fresh(&self) -> Option<String> {
        let now = self.clock.now_ms();
        self.cached
            .read()
            .as_ref()
            .filter(|c| c.expires_at > now + REFRESH_BEFORE_MS)
            .map(|c| c.token.clone())
    }

    pub async fn token(&self) -> Result<String, ConnectorError> {
        if let Some(t) = self.fresh() {
            return Ok(t);
        }
        let _one_at_a_time = self.refresh.lock().await;
        if let Some(t) = self.fresh() {
            return Ok(t);
        }
        let url = format!(
            "{}/{}/oauth2/v2.0/token",
            self.creds.login_url.trim_end_matches('/'),
            self.creds.tenant
        );
        let res = self
            .http
            .post(&url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.creds.app_id.as_str()),
                ("client_secret", self.creds.app_password.as_str()),
                ("scope", self.scope.as_str()),
            ])
            .send()
            .await
            .map_err(|e| ConnectorError::transport(&e))?;
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if status != 200 {
            // The identity platform's own words, never the secret.
            let code = body["error"].as_str().unwrap_or("token_error").to_owned();
            let desc = body["error_description"]
                .as_str()
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or("");
            return Err(ConnectorError {
                kind: if status >= 500 {
                    ErrorKind::Transient
                } else {
                    ErrorKind::Unauthorized
                },
                status: Some(status),
                code: Some(code),
                message: format!("the identity platform refused the bot's credentials: {desc}"),
                retry_after: None,
                maybe_processed: false,
            });
        }
        let token = body["access_token"].as_str().unwrap_or_default().to_owned();
        if token.is_empty() {
            return Err(ConnectorError::configuration(
                "the token response had no access_token",
            ));
        }
        let expires_in = body["expires_in"].as_u64().unwrap_or(3599);
        *self.cached.write() = Some(Cached {
            token: token.clone(),
            expires_at: self.clock.now_ms() + expires_in * 1000,
        });
        Ok(token)
    }

    /// Forgets the cached token (Teams answered 401).
    pub fn invalidate(&self) {
        *self.cached.write() = None;
    }
}
