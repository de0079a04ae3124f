//! The Microsoft identity platform: OpenID metadata, JWKS, and
//! the claims of the tokens Bot Framework puts on the activities it sends to a bot.

use serde::{Deserialize, Serialize};

/// Scope of a bot's token for the Bot Connector.
pub const SCOPE_BOT_FRAMEWORK: &str = "https://api.botframework.com/.default";
/// Scope of an app token for Graph.
pub const SCOPE_GRAPH: &str = "https://graph.microsoft.com/.default";
/// `aud` of a connector token.
pub const AUDIENCE_BOT_FRAMEWORK: &str = "https://api.botframework.com";
/// `aud` of a Graph token.
pub const AUDIENCE_GRAPH: &str = "https://graph.microsoft.com";
/// `iss` of the tokens the Bot Connector signs for calls to a bot.
pub const ISSUER_BOT_FRAMEWORK: &str = "https://api.botframework.com";
/// The tenant a multi-tenant bot asks for its connector token.
pub const TENANT_BOT_FRAMEWORK: &str = "botframework.com";
/// Algorithms Bot Framework accepts on inbound tokens.
pub const ALLOWED_ALGORITHMS: [&str; 3] = ["RS256", "RS384", "RS512"];
/// Clock skew allowed on `exp` / `nbf`, seconds.
pub const CLOCK_SKEW_SECS: u64 = 300;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenIdConfiguration {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub jwks_uri: String,
    pub id_token_signing_alg_values_supported: Vec<String>,
    pub token_endpoint_auth_methods_supported: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// An RSA signing key, with the channels that endorse it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    pub kid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x5t: Option<String>,
    pub n: String,
    pub e: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endorsements: Vec<String>,
}

/// Claims of the token the Bot Connector puts on the activities it sends to a bot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelClaims {
    pub iss: String,
    pub aud: String,
    pub exp: u64,
    pub nbf: u64,
    #[serde(default)]
    pub iat: u64,
    #[serde(default)]
    pub serviceurl: String,
}
