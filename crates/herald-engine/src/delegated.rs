//! Sending as a signed-in user: the OAuth 2.0 device-code sign-in (`herald login`), the user's
//! tokens sealed at rest with `HERALD_SECRET_KEY` (XChaCha20-Poly1305, the row's UPN as associated
//! data, so a sealed token cannot be moved to another user's row), refreshed before they expire,
//! and removed by `herald logout`.

use crate::config::{Config, Secret};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use herald_core::ids::{AadObjectId, TenantId, Upn};
use herald_core::SharedClock;
use herald_store::{Store, UserToken};
use parking_lot::Mutex;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The delegated permissions Herald asks for.
pub const SCOPES: &str =
    "https://graph.microsoft.com/Chat.Create https://graph.microsoft.com/ChatMessage.Send https://graph.microsoft.com/Chat.ReadWrite https://graph.microsoft.com/User.Read offline_access";
/// The delegated permission recalling or editing a message sent as a user needs (Graph's
/// `softDelete` and `PATCH` of a chat message); sign-ins before Herald asked for it lack it.
pub const CHANGE_SCOPE: &str = "Chat.ReadWrite";
/// An access token this close to expiry is refreshed before use.
pub const REFRESH_MARGIN_MS: u64 = 5 * 60 * 1000;
const SEALED_PREFIX: &str = "v1.";

#[derive(Debug, thiserror::Error)]
pub enum DelegatedError {
    #[error("HERALD_SECRET_KEY is not set: it encrypts signed-in users' tokens")]
    NoKey,
    #[error("HERALD_SECRET_KEY must be at least 32 characters")]
    WeakKey,
    #[error("`{0}` is not signed in: run `herald login` as them")]
    NotSignedIn(String),
    #[error("the stored tokens of `{0}` cannot be decrypted (another HERALD_SECRET_KEY?); sign in again")]
    Undecryptable(String),
    #[error("`{user}` signed in without the permission `{scope}`, which this needs: sign in again with `herald login`")]
    SignInAgain { user: String, scope: &'static str },
    #[error("the identity platform refused: {0}")]
    Refused(String),
    #[error("the sign-in expired before it was completed")]
    Expired,
    #[error("cannot reach the identity platform: {0}")]
    Transport(String),
    #[error("store: {0}")]
    Store(#[from] herald_store::StoreError),
}

/// Seals and opens tokens with a key derived from `HERALD_SECRET_KEY`.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl Sealer {
    pub fn new(secret: Option<&Secret>) -> Result<Self, DelegatedError> {
        let s = secret.ok_or(DelegatedError::NoKey)?;
        if s.expose().len() < 32 {
            return Err(DelegatedError::WeakKey);
        }
        let key = Sha256::digest(s.expose().as_bytes());
        Ok(Self {
            cipher: XChaCha20Poly1305::new(&key),
        })
    }

    pub fn seal(&self, upn: &str, plain: &str) -> String {
        let nonce_bytes: [u8; 24] = rand::random();
        let nonce = XNonce::from(nonce_bytes);
        let ct = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plain.as_bytes(),
                    aad: upn.to_ascii_lowercase().as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encryption does not fail");
        let mut out = nonce_bytes.to_vec();
        out.extend(ct);
        format!(
            "{SEALED_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)
        )
    }

    pub fn open(&self, upn: &str, sealed: &str) -> Option<String> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sealed.strip_prefix(SEALED_PREFIX)?)
            .ok()?;
        if raw.len() < 24 {
            return None;
        }
        let (nonce, ct) = raw.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().ok()?;
        let plain = self
            .cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ct,
                    aad: upn.to_ascii_lowercase().as_bytes(),
                },
            )
            .ok()?;
        String::from_utf8(plain).ok()
    }
}

/// A device code to show the person signing in.
#[derive(Debug, Clone)]
pub struct DeviceCode {
    pub user_code: String,
    pub verification_uri: String,
    /// The identity platform's own instruction.
    pub message: String,
    device_code: String,
    interval: Duration,
    expires_in: Duration,
}

struct Tokens {
    access: String,
    refresh: String,
    expires_in_s: u64,
    /// The permissions granted, as the answer lists them.
    scope: Option<String>,
}

/// The tenant to sign in to: the one given, else the configured one, else any organization.
fn tenant_or_default<'a>(cfg: &'a Config, tenant: Option<&'a str>) -> &'a str {
    tenant.unwrap_or(
        cfg.tenant_id
            .as_ref()
            .map_or("organizations", |t| t.as_str()),
    )
}

fn token_url(cfg: &Config, tenant: &str) -> String {
    format!(
        "{}/{tenant}/oauth2/v2.0/token",
        cfg.login_url.trim_end_matches('/')
    )
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("an HTTP client")
}

/// POSTs a form to the identity platform; `Err((error code, description))` on refusal.
async fn form(url: &str, fields: &[(&str, &str)]) -> Result<Value, DelegatedError> {
    let res = http()
        .post(url)
        .form(fields)
        .send()
        .await
        .map_err(|e| DelegatedError::Transport(e.without_url().to_string()))?;
    let status = res.status();
    let v: Value = res.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(v);
    }
    // Only the error code and its description: never the request (it carries secrets).
    let code = v["error"].as_str().unwrap_or("error").to_owned();
    Err(DelegatedError::Refused(format!(
        "{code}: {}",
        v["error_description"]
            .as_str()
            .unwrap_or("")
            .split(" Trace ID")
            .next()
            .unwrap_or("")
    )))
}

fn tokens_of(v: &Value) -> Result<Tokens, DelegatedError> {
    match (v["access_token"].as_str(), v["refresh_token"].as_str()) {
        (Some(a), Some(r)) => Ok(Tokens {
            access: a.to_owned(),
            refresh: r.to_owned(),
            expires_in_s: v["expires_in"].as_u64().unwrap_or(3599),
            scope: v["scope"].as_str().map(str::to_owned),
        }),
        _ => Err(DelegatedError::Refused(
            "the answer carried no access and refresh token (is offline_access granted?)".into(),
        )),
    }
}

/// Step 1 of `herald login`: a code for the person to enter.
pub async fn begin_login(cfg: &Config, tenant: Option<&str>) -> Result<DeviceCode, DelegatedError> {
    let tenant = tenant_or_default(cfg, tenant);
    let url = format!(
        "{}/{tenant}/oauth2/v2.0/devicecode",
        cfg.login_url.trim_end_matches('/')
    );
    let v = form(&url, &[("client_id", &cfg.app_id), ("scope", SCOPES)]).await?;
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
    Ok(DeviceCode {
        user_code: s("user_code"),
        verification_uri: s("verification_uri"),
        message: s("message"),
        device_code: s("device_code"),
        interval: Duration::from_secs(v["interval"].as_u64().unwrap_or(5).max(1)),
        expires_in: Duration::from_secs(v["expires_in"].as_u64().unwrap_or(900)),
    })
}

/// Step 2: polls until the person has signed in, then keeps their tokens (sealed). Returns the UPN.
pub async fn finish_login(
    cfg: &Config,
    store: &dyn Store,
    clock: &SharedClock,
    tenant: Option<&str>,
    code: &DeviceCode,
) -> Result<Upn, DelegatedError> {
    let sealer = Sealer::new(cfg.secret_key.as_ref())?;
    let tenant = tenant_or_default(cfg, tenant);
    let url = token_url(cfg, tenant);
    let deadline = tokio::time::Instant::now() + code.expires_in;
    let tokens = loop {
        let r = form(
            &url,
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", &cfg.app_id),
                ("client_secret", cfg.app_password.expose()),
                ("device_code", &code.device_code),
            ],
        )
        .await;
        match r {
            Ok(v) => break tokens_of(&v)?,
            Err(DelegatedError::Refused(m))
                if m.starts_with("authorization_pending") || m.starts_with("slow_down") => {}
            Err(DelegatedError::Refused(m)) if m.starts_with("expired_token") => {
                return Err(DelegatedError::Expired)
            }
            Err(e) => return Err(e),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(DelegatedError::Expired);
        }
        tokio::time::sleep(code.interval).await;
    };
    // Who signed in: Graph's /me with the new token.
    let me: Value = http()
        .get(format!("{}/v1.0/me", cfg.graph_url.trim_end_matches('/')))
        .bearer_auth(&tokens.access)
        .send()
        .await
        .map_err(|e| DelegatedError::Transport(e.without_url().to_string()))?
        .json()
        .await
        .map_err(|e| DelegatedError::Transport(e.to_string()))?;
    let upn = me["userPrincipalName"]
        .as_str()
        .and_then(|u| Upn::parse(u).ok())
        .ok_or_else(|| DelegatedError::Refused("Graph's /me named no user".into()))?
        .to_lowercase();
    let aad = me["id"]
        .as_str()
        .and_then(|a| AadObjectId::parse(a).ok())
        .ok_or_else(|| DelegatedError::Refused("Graph's /me gave no object id".into()))?;
    let tenant = TenantId::parse(tenant)
        .map_err(|e| DelegatedError::Refused(format!("the tenant to sign in to: {e}")))?;
    let now = clock.now_ms();
    store
        .put_user_token(&UserToken {
            upn: upn.clone(),
            tenant_id: tenant,
            aad_object_id: aad,
            display_name: me["displayName"].as_str().map(str::to_owned),
            refresh_token_sealed: sealer.seal(&upn, &tokens.refresh),
            access_token_sealed: Some(sealer.seal(&upn, &tokens.access)),
            access_expires_at: now + tokens.expires_in_s * 1000,
            scopes: tokens.scope.clone(),
            created_at: now,
            updated_at: now,
        })
        .await?;
    Ok(upn)
}

/// Hands out signed-in users' access tokens, refreshing them shortly before they expire (one
/// refresh at a time per user).
pub struct UserTokenSource {
    cfg: Arc<Config>,
    /// `None` without a usable HERALD_SECRET_KEY (then every access says why).
    sealer: Option<Sealer>,
    store: Arc<dyn Store>,
    clock: SharedClock,
    locks: Mutex<HashMap<Upn, Arc<tokio::sync::Mutex<()>>>>,
    refreshes: std::sync::atomic::AtomicU64,
}

/// A usable delegated token and whose it is.
pub struct UserAccess {
    pub token: String,
    pub aad_object_id: AadObjectId,
}

/// Whether a signed-in user's tokens may change the messages they sent (recall, edit): they need
/// [`CHANGE_SCOPE`], which sign-ins before Herald asked for it do not have.
pub fn may_change(t: &UserToken) -> Result<(), DelegatedError> {
    if t.grants(CHANGE_SCOPE) {
        Ok(())
    } else {
        Err(DelegatedError::SignInAgain {
            user: t.upn.to_string(),
            scope: CHANGE_SCOPE,
        })
    }
}

impl UserTokenSource {
    pub fn new(cfg: Arc<Config>, store: Arc<dyn Store>, clock: SharedClock) -> Self {
        Self {
            sealer: Sealer::new(cfg.secret_key.as_ref()).ok(),
            cfg,
            store,
            clock,
            locks: Mutex::new(HashMap::new()),
            refreshes: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Refreshes made so far.
    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub async fn access(&self, upn: &Upn) -> Result<UserAccess, DelegatedError> {
        self.access_with(upn, false).await
    }

    /// A token that may change the messages the user sent (see [`may_change`]).
    pub async fn access_to_change(&self, upn: &Upn) -> Result<UserAccess, DelegatedError> {
        self.access_with(upn, true).await
    }

    async fn access_with(&self, upn: &Upn, to_change: bool) -> Result<UserAccess, DelegatedError> {
        let upn = upn.to_lowercase();
        let lock = self
            .locks
            .lock()
            .entry(upn.clone())
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(())))
            .clone();
        let _one_at_a_time = lock.lock().await;
        let sealer = match &self.sealer {
            Some(s) => s,
            None => {
                return Err(Sealer::new(self.cfg.secret_key.as_ref())
                    .err()
                    .unwrap_or(DelegatedError::NoKey))
            }
        };
        let row = self
            .store
            .get_user_token(&upn)
            .await?
            .ok_or_else(|| DelegatedError::NotSignedIn(upn.to_string()))?;
        if to_change {
            may_change(&row)?;
        }
        let now = self.clock.now_ms();
        if row.access_expires_at > now + REFRESH_MARGIN_MS {
            if let Some(t) = row
                .access_token_sealed
                .as_deref()
                .and_then(|s| sealer.open(&upn, s))
            {
                return Ok(UserAccess {
                    token: t,
                    aad_object_id: row.aad_object_id,
                });
            }
        }
        let refresh = sealer
            .open(&upn, &row.refresh_token_sealed)
            .ok_or_else(|| DelegatedError::Undecryptable(upn.to_string()))?;
        let v = form(
            &token_url(&self.cfg, &row.tenant_id),
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &self.cfg.app_id),
                ("client_secret", self.cfg.app_password.expose()),
                ("refresh_token", &refresh),
                ("scope", SCOPES),
            ],
        )
        .await?;
        let t = tokens_of(&v)?;
        self.refreshes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.store
            .put_user_token(&UserToken {
                refresh_token_sealed: sealer.seal(&upn, &t.refresh),
                access_token_sealed: Some(sealer.seal(&upn, &t.access)),
                access_expires_at: now + t.expires_in_s * 1000,
                scopes: t.scope.clone().or_else(|| row.scopes.clone()),
                updated_at: now,
                ..row.clone()
            })
            .await?;
        tracing::info!(user = %upn, "refreshed a signed-in user's access token");
        Ok(UserAccess {
            token: t.access,
            aad_object_id: row.aad_object_id,
        })
    }
}

/// The message as Graph's chat message body: HTML, the text escaped, line breaks kept.
pub fn html_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("<br>"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_tokens_open_only_with_their_key_and_row() {
        let key = Secret::new("k".repeat(40));
        let s = Sealer::new(Some(&key)).unwrap();
        let sealed = s.seal("ada@x.example", "refresh-token-value");
        assert!(!sealed.contains("refresh-token-value"));
        assert_ne!(
            sealed,
            s.seal("ada@x.example", "refresh-token-value"),
            "a fresh nonce each time"
        );
        assert_eq!(
            s.open("ADA@x.example", &sealed).as_deref(),
            Some("refresh-token-value")
        );
        assert_eq!(s.open("bob@x.example", &sealed), None, "bound to its row");
        let other = Sealer::new(Some(&Secret::new("o".repeat(40)))).unwrap();
        assert_eq!(other.open("ada@x.example", &sealed), None);
        assert!(matches!(
            Sealer::new(Some(&Secret::new("short"))),
            Err(DelegatedError::WeakKey)
        ));
        assert!(matches!(Sealer::new(None), Err(DelegatedError::NoKey)));
    }

    #[test]
    fn text_becomes_safe_html() {
        assert_eq!(
            html_of("a < b & \"c\"\nd"),
            "a &lt; b &amp; &quot;c&quot;<br>d"
        );
    }
}
