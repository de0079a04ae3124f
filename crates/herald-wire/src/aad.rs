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
/// Microsoft's clouds Teams runs in. GCC uses the public cloud's identity platform, Graph and
/// Bot Framework with a Teams service of its own; GCC High and DoD have their own of each
/// (Microsoft's Bot Framework SDKs: `GovernmentAuthenticationConstants`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cloud {
    #[default]
    Public,
    Gcc,
    Gcch,
    Dod,
}

/// Where a cloud's services are, and what its tokens say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloudEndpoints {
    pub login_url: &'static str,
    pub graph_url: &'static str,
    /// Scope of an app token for this cloud's Graph.
    pub graph_scope: &'static str,
    pub openid_metadata_url: &'static str,
    /// For CreateConversation when no reference holds a service URL.
    pub service_url: &'static str,
    /// Scope of a bot's token for this cloud's Bot Connector.
    pub bot_scope: &'static str,
    /// `iss` of the tokens this cloud's Bot Connector signs for calls to a bot.
    pub bot_issuer: &'static str,
}

impl Cloud {
    pub const NAMES: [&'static str; 4] = ["public", "gcc", "gcch", "dod"];

    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "public" => Some(Self::Public),
            "gcc" => Some(Self::Gcc),
            "gcch" => Some(Self::Gcch),
            "dod" => Some(Self::Dod),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub fn endpoints(self) -> CloudEndpoints {
        const PUBLIC: CloudEndpoints = CloudEndpoints {
            login_url: "https://login.microsoftonline.com",
            graph_url: "https://graph.microsoft.com",
            graph_scope: SCOPE_GRAPH,
            openid_metadata_url:
                "https://login.botframework.com/v1/.well-known/openidconfiguration",
            service_url: "https://smba.trafficmanager.net/teams/",
            bot_scope: SCOPE_BOT_FRAMEWORK,
            bot_issuer: ISSUER_BOT_FRAMEWORK,
        };
        const GCCH: CloudEndpoints = CloudEndpoints {
            login_url: "https://login.microsoftonline.us",
            graph_url: "https://graph.microsoft.us",
            graph_scope: "https://graph.microsoft.us/.default",
            openid_metadata_url:
                "https://login.botframework.azure.us/v1/.well-known/openidconfiguration",
            service_url: "https://smba.infra.gov.teams.microsoft.us/gcch/",
            bot_scope: "https://api.botframework.us/.default",
            bot_issuer: "https://api.botframework.us",
        };
        match self {
            Self::Public => PUBLIC,
            Self::Gcc => CloudEndpoints {
                service_url: "https://smba.infra.gcc.teams.microsoft.com/gcc/",
                ..PUBLIC
            },
            Self::Gcch => GCCH,
            Self::Dod => CloudEndpoints {
                graph_url: "https://dod-graph.microsoft.us",
                graph_scope: "https://dod-graph.microsoft.us/.default",
                service_url: "https://smba.infra.dod.teams.microsoft.us/dod/",
                ..GCCH
            },
        }
    }
}

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
