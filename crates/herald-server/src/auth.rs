//! Inbound authentication of `/api/messages` (docs/teams.md): keys from the
//! OpenID metadata's `jwks_uri`, refreshed daily and at most hourly on an unknown `kid`;
//! RS256/384/512 only; `iss` = Bot Framework; `aud` = the bot's app id; `exp`/`nbf` with 300 s of
//! skew; the `serviceurl` claim equal to the activity's `serviceUrl`; the key's endorsements
//! naming the activity's channel; and the `serviceUrl` inside `allowed_service_urls`.

use herald_connector::AllowList;
use herald_core::SharedClock;
use herald_wire::aad::{ALLOWED_ALGORITHMS, CLOCK_SKEW_SECS};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use parking_lot::RwLock;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

const DAY_MS: u64 = 24 * 3600 * 1000;
const HOUR_MS: u64 = 3600 * 1000;
/// After a fetch fails, the next waits this long (inbound requests do not retry it each).
const RETRY_MS: u64 = 60 * 1000;
const VERIFIED_CACHE_MAX: usize = 10_000;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("no bearer token")]
    MissingToken,
    #[error("the token is not a JWT")]
    Malformed,
    #[error("algorithm {0} is not accepted; only RS256, RS384 and RS512")]
    Algorithm(String),
    #[error("the token names no key (kid)")]
    NoKid,
    #[error("unknown signing key {0}")]
    UnknownKey(String),
    #[error("the signing keys could not be fetched: {0}")]
    KeysUnavailable(String),
    #[error("bad signature or claims: {0}")]
    Invalid(String),
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the serviceurl claim does not match the activity's serviceUrl")]
    ServiceUrlMismatch,
    #[error("the signing key does not endorse channel {0}")]
    NotEndorsed(String),
    #[error("serviceUrl is not in allowed_service_urls")]
    ServiceUrlNotAllowed,
}

#[derive(Clone)]
struct Key {
    decoding: DecodingKey,
    endorsements: Vec<String>,
}

#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Key>,
    fetched_at: Option<u64>,
    /// The last fetch started, whether or not it worked: a failing key endpoint is asked at
    /// most once a minute, not once per inbound request.
    attempted_at: Option<u64>,
}

#[derive(Clone)]
struct Verified {
    exp: u64,
    nbf: u64,
    serviceurl: String,
    endorsements: Vec<String>,
}

#[derive(Deserialize)]
struct Claims {
    /// Bot Framework's own validator takes only a string equal to the app id; jsonwebtoken
    /// would also take a list holding it, so it is checked here.
    aud: Option<Value>,
    exp: Option<u64>,
    nbf: Option<u64>,
    #[serde(default)]
    serviceurl: Option<String>,
}

pub struct InboundAuth {
    http: reqwest::Client,
    metadata_url: String,
    /// The `iss` the cloud's Bot Connector signs with (`CloudEndpoints::bot_issuer`).
    issuer: &'static str,
    app_id: String,
    allowed: AllowList,
    clock: SharedClock,
    keys: RwLock<KeySet>,
    refresh: tokio::sync::Mutex<()>,
    verified: RwLock<HashMap<String, Arc<Verified>>>,
}

fn trim(url: &str) -> &str {
    url.trim_end_matches('/')
}

impl InboundAuth {
    pub fn new(
        http: reqwest::Client,
        metadata_url: String,
        issuer: &'static str,
        app_id: String,
        allowed: AllowList,
        clock: SharedClock,
    ) -> Self {
        Self {
            http,
            metadata_url,
            issuer,
            app_id,
            allowed,
            clock,
            keys: RwLock::new(KeySet::default()),
            refresh: tokio::sync::Mutex::new(()),
            verified: RwLock::new(HashMap::new()),
        }
    }

    /// Whether a key set has been loaded (for `/readyz`).
    pub fn keys_loaded(&self) -> bool {
        self.keys.read().fetched_at.is_some()
    }

    /// Fetches the OpenID metadata and its key set.
    pub async fn refresh_keys(&self) -> Result<(), AuthError> {
        let _one = self.refresh.lock().await;
        self.fetch().await
    }

    async fn fetch(&self) -> Result<(), AuthError> {
        self.keys.write().attempted_at = Some(self.clock.now_ms());
        let unavailable = |e: String| AuthError::KeysUnavailable(e);
        let meta: Value = self
            .http
            .get(&self.metadata_url)
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?
            .error_for_status()
            .map_err(|e| unavailable(e.to_string()))?
            .json()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let jwks_uri = meta["jwks_uri"]
            .as_str()
            .ok_or_else(|| unavailable("the OpenID metadata has no jwks_uri".into()))?;
        let jwks: Value = self
            .http
            .get(jwks_uri)
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?
            .error_for_status()
            .map_err(|e| unavailable(e.to_string()))?
            .json()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let mut keys = HashMap::new();
        for k in jwks["keys"].as_array().into_iter().flatten() {
            let (Some(kid), Some(n), Some(e)) =
                (k["kid"].as_str(), k["n"].as_str(), k["e"].as_str())
            else {
                continue;
            };
            if k["kty"].as_str().is_some_and(|t| t != "RSA") {
                continue;
            }
            let Ok(decoding) = DecodingKey::from_rsa_components(n, e) else {
                continue;
            };
            let endorsements = k["endorsements"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            keys.insert(
                kid.to_owned(),
                Key {
                    decoding,
                    endorsements,
                },
            );
        }
        let mut set = self.keys.write();
        set.keys = keys;
        set.fetched_at = Some(self.clock.now_ms());
        tracing::info!(keys = set.keys.len(), "bot framework signing keys loaded");
        Ok(())
    }

    /// The key for `kid`: refreshed when the set is a day old, and on an unknown kid at most
    /// once an hour (so forged kids cannot make Herald hammer the key endpoint); after a failed
    /// fetch, at most once a minute whatever arrives.
    async fn key(&self, kid: &str) -> Result<Key, AuthError> {
        let now = self.clock.now_ms();
        let (found, stale, may_refresh, backing_off) = {
            let set = self.keys.read();
            let age = set.fetched_at.map(|t| now.saturating_sub(t));
            (
                set.keys.get(kid).cloned(),
                age.is_none_or(|a| a >= DAY_MS),
                age.is_none_or(|a| a >= HOUR_MS),
                set.attempted_at
                    .is_some_and(|t| now.saturating_sub(t) < RETRY_MS),
            )
        };
        match found {
            Some(k) if !stale || backing_off => return Ok(k),
            None if !may_refresh => return Err(AuthError::UnknownKey(kid.to_owned())),
            None if backing_off => {
                return Err(AuthError::KeysUnavailable(
                    "the last fetch failed; the next is at most a minute away".into(),
                ))
            }
            _ => {}
        }
        let _one = self.refresh.lock().await;
        // Someone else may have refreshed (or tried) while we waited.
        let fresh = {
            let set = self.keys.read();
            set.fetched_at
                .is_some_and(|t| now.saturating_sub(t) < HOUR_MS)
                || set
                    .attempted_at
                    .is_some_and(|t| now.saturating_sub(t) < RETRY_MS)
        };
        if !fresh {
            if let Err(e) = self.fetch().await {
                if let Some(k) = found {
                    tracing::warn!(error = %e, "key refresh failed; using the cached key");
                    return Ok(k);
                }
                return Err(e);
            }
        }
        self.keys
            .read()
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| AuthError::UnknownKey(kid.to_owned()))
    }

    async fn verify(&self, token: &str) -> Result<Arc<Verified>, AuthError> {
        if let Some(v) = self.verified.read().get(token) {
            return Ok(v.clone());
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        let alg = format!("{:?}", header.alg);
        if !ALLOWED_ALGORITHMS.contains(&alg.as_str()) {
            return Err(AuthError::Algorithm(alg));
        }
        let kid = header.kid.ok_or(AuthError::NoKid)?;
        let key = self.key(&kid).await?;
        let mut v = Validation::new(header.alg);
        v.algorithms = vec![Algorithm::RS256, Algorithm::RS384, Algorithm::RS512];
        v.set_issuer(&[self.issuer]);
        v.validate_aud = false;
        // exp and nbf are checked against Herald's own clock below.
        v.validate_exp = false;
        v.validate_nbf = false;
        v.required_spec_claims = ["iss", "aud"].iter().map(|s| s.to_string()).collect();
        let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding, &v)
            .map_err(|e| AuthError::Invalid(e.to_string()))?
            .claims;
        if claims.aud.as_ref().and_then(Value::as_str) != Some(self.app_id.as_str()) {
            return Err(AuthError::Invalid(
                "the aud claim is not the bot's app id (a single string)".into(),
            ));
        }
        let verified = Arc::new(Verified {
            exp: claims
                .exp
                .ok_or_else(|| AuthError::Invalid("no exp claim".into()))?,
            nbf: claims.nbf.unwrap_or(0),
            serviceurl: claims.serviceurl.unwrap_or_default(),
            endorsements: key.endorsements,
        });
        let mut cache = self.verified.write();
        if cache.len() >= VERIFIED_CACHE_MAX {
            cache.clear();
        }
        cache.insert(token.to_owned(), verified.clone());
        Ok(verified)
    }

    /// Checks a request to `/api/messages` whose activity names `channel_id` and `service_url`.
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
        channel_id: Option<&str>,
        service_url: Option<&str>,
    ) -> Result<(), AuthError> {
        let token = authorization
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::MissingToken)?;
        let v = self.verify(token).await?;
        let now = self.clock.now_secs();
        if now >= v.exp + CLOCK_SKEW_SECS {
            return Err(AuthError::Expired);
        }
        if now + CLOCK_SKEW_SECS < v.nbf {
            return Err(AuthError::NotYetValid);
        }
        let service_url = service_url.unwrap_or_default();
        if v.serviceurl.is_empty() || trim(&v.serviceurl) != trim(service_url) {
            return Err(AuthError::ServiceUrlMismatch);
        }
        if !v.endorsements.is_empty() {
            let channel = channel_id.unwrap_or_default();
            if !v.endorsements.iter().any(|e| e == channel) {
                return Err(AuthError::NotEndorsed(channel.to_owned()));
            }
        }
        if !self.allowed.allows(service_url) {
            return Err(AuthError::ServiceUrlNotAllowed);
        }
        Ok(())
    }
}
