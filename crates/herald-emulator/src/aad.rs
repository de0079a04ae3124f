//! The identity platform: the token endpoint (client credentials for the bot, a password grant
//! for simulated people), OpenID metadata and the JWKS; and the check of bearer tokens on
//! connector and Graph calls.

use crate::error;
use crate::Shared;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use herald_wire::aad::{
    OpenIdConfiguration, AUDIENCE_BOT_FRAMEWORK, AUDIENCE_GRAPH, ISSUER_BOT_FRAMEWORK,
    SCOPE_BOT_FRAMEWORK, SCOPE_GRAPH, TENANT_BOT_FRAMEWORK,
};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

/// Access tokens live an hour, as the identity platform's do.
pub const TOKEN_LIFETIME_SECS: u64 = 3599;
/// The delegated permissions the app may be granted; a sign-in gets those it asks for.
pub const DELEGATED_SCOPES: &str =
    "Chat.Create Chat.ReadWrite ChatMessage.Send User.Read offline_access";

/// The delegated permissions a request for `requested` gets, out of `allowed`: each asked-for
/// scope (with or without its resource, `https://graph.microsoft.com/Chat.ReadWrite`) the app may
/// have, in `allowed`'s spelling; nothing asked for, or `.default`, gets all of `allowed`.
pub fn granted(requested: &str, allowed: &str) -> String {
    let asked: Vec<&str> = requested
        .split_whitespace()
        .map(|s| s.rsplit('/').next().unwrap_or(s))
        .collect();
    if asked.is_empty() || asked.iter().any(|s| s.eq_ignore_ascii_case(".default")) {
        return allowed.to_owned();
    }
    allowed
        .split_whitespace()
        .filter(|a| asked.iter().any(|s| s.eq_ignore_ascii_case(a)))
        .collect::<Vec<_>>()
        .join(" ")
}
/// Application permissions granted to the bot's app for Graph.
pub const APP_ROLES: [&str; 7] = [
    "User.Read.All",
    "GroupMember.Read.All",
    "TeamMember.Read.All",
    "TeamsAppInstallation.ReadWriteForUser.All",
    "AppCatalog.Read.All",
    "TeamsActivity.Send",
    "Chat.Create",
];

/// How long a device code may wait for its user (the identity platform's 15 minutes).
pub const DEVICE_CODE_LIFETIME_SECS: u64 = 900;
/// How often a client may poll with a device code.
pub const DEVICE_CODE_INTERVAL_SECS: u64 = 5;
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The signed-in users' side: device codes waiting for their user, refresh tokens, and every
/// delegated token issued (so a test can look for them where they must not be).
#[derive(Default)]
pub struct Delegated {
    device: HashMap<String, DeviceCode>,
    /// Refresh token → the user and the scopes they consented to at sign-in (a refresh cannot
    /// widen them: a new permission needs a new sign-in).
    refresh: HashMap<String, (usize, String)>,
    pub issued: Vec<String>,
}

struct DeviceCode {
    user_code: String,
    expires_ms: u64,
    user: Option<usize>,
    /// What the sign-in asked for and gets.
    scopes: String,
}

impl Delegated {
    /// The user approves a device code (what they do in the browser); false if no such code.
    pub fn approve(&mut self, user_code: &str, user: usize, now_ms: u64) -> bool {
        let code = user_code.trim().replace('-', "").to_ascii_uppercase();
        match self
            .device
            .values_mut()
            .find(|d| d.user_code == code && d.expires_ms > now_ms)
        {
            Some(d) => {
                d.user = Some(user);
                true
            }
            None => false,
        }
    }
}

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/{tenant}/oauth2/v2.0/devicecode", post(device_code))
        .route("/v1/.well-known/openidconfiguration", get(openid))
        .route("/v1/.well-known/keys", get(jwks))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(openid),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(jwks))
}

/// Claims of the access tokens the emulator issues.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuedClaims {
    pub aud: String,
    pub iss: String,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
    pub appid: String,
    pub tid: String,
    /// `app` or `user`.
    pub idtyp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
}

/// Verified tokens, so the signature is checked once per token, not once per request.
#[derive(Default)]
pub struct TokenCache {
    verified: RwLock<HashMap<String, Arc<IssuedClaims>>>,
}

const TOKEN_CACHE_MAX: usize = 100_000;

#[derive(Debug)]
pub enum TokenProblem {
    Missing,
    Invalid(String),
    Expired,
}

impl Shared {
    /// The bearer token of a request, verified and unexpired.
    pub fn bearer(&self, headers: &HeaderMap) -> Result<Arc<IssuedClaims>, TokenProblem> {
        let token = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(TokenProblem::Missing)?;
        let cached = self.tokens.verified.read().get(token).cloned();
        let claims = match cached {
            Some(c) => c,
            None => {
                let c: IssuedClaims = self
                    .keys
                    .verify(token)
                    .map_err(|e| TokenProblem::Invalid(e.to_string()))?;
                let c = Arc::new(c);
                let mut map = self.tokens.verified.write();
                if map.len() >= TOKEN_CACHE_MAX {
                    map.clear();
                }
                map.insert(token.to_owned(), c.clone());
                c
            }
        };
        let now = self.clock.now_secs();
        if now >= claims.exp || now + 300 < claims.nbf {
            return Err(TokenProblem::Expired);
        }
        Ok(claims)
    }

    fn issue(&self, claims: &IssuedClaims) -> String {
        self.keys.sign(claims).0
    }
}

/// The identity platform's metadata for the Bot Framework channel.
async fn openid(State(s): State<Arc<Shared>>) -> axum::Json<OpenIdConfiguration> {
    axum::Json(OpenIdConfiguration {
        issuer: ISSUER_BOT_FRAMEWORK.into(),
        authorization_endpoint: format!("{}/common/oauth2/v2.0/authorize", s.origin),
        jwks_uri: format!("{}/v1/.well-known/keys", s.origin),
        id_token_signing_alg_values_supported: vec!["RS256".into()],
        token_endpoint_auth_methods_supported: vec!["private_key_jwt".into()],
    })
}

async fn jwks(State(s): State<Arc<Shared>>) -> axum::Json<herald_wire::aad::Jwks> {
    axum::Json(s.keys.jwks())
}

/// Starts the device-code flow: a code for the user to enter at the verification page.
async fn device_code(
    State(s): State<Arc<Shared>>,
    Path(_tenant): Path<String>,
    body: Bytes,
) -> Response {
    let now = s.clock.now_ms();
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let app_id = s.world.lock().tenant.app_id.clone();
    let client_id = form.get("client_id").map(String::as_str).unwrap_or("");
    if client_id.is_empty() {
        return error::aad(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
            now,
        );
    }
    if !client_id.eq_ignore_ascii_case(&app_id) {
        return error::aad(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!("Application with identifier '{client_id}' was not found in the directory."),
            now,
        );
    }
    let device_code = format!(
        "DAQABAAEAAA{}",
        crate::tenant::stable_guid(&format!("dc/{now}/{}", rand::random::<u64>())).replace('-', "")
    );
    let user_code: String = (0..9)
        .map(|_| b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789"[rand::random::<usize>() % 32] as char)
        .collect();
    s.delegated.lock().device.insert(
        device_code.clone(),
        DeviceCode {
            user_code: user_code.clone(),
            expires_ms: now + DEVICE_CODE_LIFETIME_SECS * 1000,
            user: None,
            scopes: granted(
                form.get("scope").map(String::as_str).unwrap_or(""),
                DELEGATED_SCOPES,
            ),
        },
    );
    let uri = format!("{}/devicelogin", s.origin);
    error::json_response(
        StatusCode::OK,
        &json!({
            "user_code": user_code,
            "device_code": device_code,
            "verification_uri": uri,
            "expires_in": DEVICE_CODE_LIFETIME_SECS,
            "interval": DEVICE_CODE_INTERVAL_SECS,
            "message": format!("To sign in, use a web browser to open the page {uri} and enter the code {user_code} to authenticate."),
        }),
    )
}

async fn token(
    State(s): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = s.clock.now_ms();
    let bad = |error: &str, code: u32, desc: &str| {
        error::aad(StatusCode::BAD_REQUEST, error, code, desc, now)
    };
    let form_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_type {
        return bad(
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
        );
    }
    let form: HashMap<String, String> = match serde_urlencoded::from_bytes(&body) {
        Ok(f) => f,
        Err(_) => {
            return bad(
                "invalid_request",
                900144,
                "The request body is not a valid form.",
            )
        }
    };
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let (tenant_id, domain, app_id, app_password, user_password) = {
        let w = s.world.lock();
        let t = &w.tenant;
        (
            t.tenant_id.clone(),
            t.domain.clone(),
            t.app_id.clone(),
            t.app_password.clone(),
            t.user_password.clone(),
        )
    };
    let known_tenant = [
        tenant_id.as_str(),
        domain.as_str(),
        TENANT_BOT_FRAMEWORK,
        "common",
        "organizations",
    ]
    .iter()
    .any(|t| t.eq_ignore_ascii_case(&tenant));
    if !known_tenant {
        return bad(
            "invalid_request",
            90002,
            &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
        );
    }
    let grant = field("grant_type");
    if grant.is_empty() {
        return bad(
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
        );
    }
    let client_id = field("client_id");
    if client_id.is_empty() {
        return bad(
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    }
    if !client_id.eq_ignore_ascii_case(&app_id) {
        return bad(
            "unauthorized_client",
            700016,
            &format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant."),
        );
    }
    let scope = field("scope");
    let iat = now / 1000;
    let base = |aud: &str, idtyp: &str| IssuedClaims {
        aud: aud.into(),
        iss: format!("https://sts.windows.net/{tenant_id}/"),
        iat,
        nbf: iat,
        exp: iat + TOKEN_LIFETIME_SECS,
        appid: app_id.clone(),
        tid: tenant_id.clone(),
        idtyp: idtyp.into(),
        roles: None,
        scp: None,
        oid: None,
        upn: None,
    };
    let claims = match grant {
        "client_credentials" => {
            if field("client_secret") != app_password {
                return error::aad(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app.",
                    now,
                );
            }
            match scope {
                SCOPE_BOT_FRAMEWORK => base(AUDIENCE_BOT_FRAMEWORK, "app"),
                SCOPE_GRAPH => IssuedClaims {
                    roles: Some(s.config.read().graph_roles.clone().unwrap_or_else(|| {
                        APP_ROLES.iter().map(|r| r.to_string()).collect()
                    })),
                    ..base(AUDIENCE_GRAPH, "app")
                },
                "" => {
                    return bad(
                        "invalid_request",
                        900144,
                        "The request body must contain the following parameter: 'scope'.",
                    )
                }
                other => {
                    return bad(
                        "invalid_scope",
                        1002012,
                        &format!("The provided value for scope {other} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."),
                    )
                }
            }
        }
        "password" => {
            let upn = field("username");
            let user = {
                let w = s.world.lock();
                w.find_user(upn).map(|u| w.tenant.users[u].clone())
            };
            let Some(user) = user.filter(|_| field("password") == user_password) else {
                return bad(
                    "invalid_grant",
                    50126,
                    "Error validating credentials due to invalid username or password.",
                );
            };
            IssuedClaims {
                scp: Some(granted(scope, DELEGATED_SCOPES)),
                oid: Some(user.aad.clone()),
                upn: Some(user.upn.clone()),
                ..base(AUDIENCE_GRAPH, "user")
            }
        }
        DEVICE_CODE_GRANT | "refresh_token" => {
            let secret = field("client_secret");
            if !secret.is_empty() && secret != app_password {
                return error::aad(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided.",
                    now,
                );
            }
            let (user, scopes) = {
                let mut d = s.delegated.lock();
                if grant == DEVICE_CODE_GRANT {
                    let code = field("device_code").to_owned();
                    match d.device.get(&code) {
                        None => {
                            return bad("invalid_grant", 70000, "The provided value for the input parameter 'device_code' is not valid.")
                        }
                        Some(dc) if dc.expires_ms <= now => {
                            d.device.remove(&code);
                            return bad("expired_token", 70020, "The provided value for the input parameter 'device_code' is not valid. This device code has expired.");
                        }
                        Some(DeviceCode { user: None, .. }) => {
                            return bad("authorization_pending", 70016, "OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
                        }
                        Some(DeviceCode {
                            user: Some(u),
                            scopes,
                            ..
                        }) => {
                            let granted = (*u, scopes.clone());
                            d.device.remove(&code);
                            granted
                        }
                    }
                } else {
                    match d.refresh.get(field("refresh_token")) {
                        Some((u, consented)) => (*u, granted(scope, consented)),
                        None => {
                            return bad("invalid_grant", 9002313, "Invalid request. Request is malformed or invalid: the refresh token is not valid.")
                        }
                    }
                }
            };
            let user = s.world.lock().tenant.users[user].clone();
            let claims = IssuedClaims {
                scp: Some(scopes.clone()),
                oid: Some(user.aad.clone()),
                upn: Some(user.upn.clone()),
                ..base(AUDIENCE_GRAPH, "user")
            };
            let access_token = s.issue(&claims);
            let refresh_token = format!(
                "0.AAAA{}",
                crate::tenant::stable_guid(&format!("rt/{now}/{}", rand::random::<u64>()))
                    .replace('-', "")
            );
            {
                let mut d = s.delegated.lock();
                let index = s.world.lock().find_user(&user.aad).unwrap_or_default();
                d.refresh
                    .insert(refresh_token.clone(), (index, scopes.clone()));
                d.issued.push(access_token.clone());
                d.issued.push(refresh_token.clone());
            }
            return error::json_response(
                StatusCode::OK,
                &json!({
                    "token_type": "Bearer",
                    "expires_in": TOKEN_LIFETIME_SECS,
                    "ext_expires_in": TOKEN_LIFETIME_SECS,
                    "access_token": access_token,
                    "refresh_token": refresh_token,
                    "scope": scopes,
                }),
            );
        }
        other => {
            return bad(
                "unsupported_grant_type",
                70003,
                &format!("The app requested an unsupported grant type '{other}'."),
            )
        }
    };
    let access_token = s.issue(&claims);
    let body = json!({
        "token_type": "Bearer",
        "expires_in": TOKEN_LIFETIME_SECS,
        "ext_expires_in": TOKEN_LIFETIME_SECS,
        "access_token": access_token,
        "scope": claims.scp.clone().unwrap_or_else(|| scope.to_owned()),
    });
    error::json_response(StatusCode::OK, &body)
}
