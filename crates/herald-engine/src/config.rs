//! `herald serve`'s configuration (docs/reference.md): a TOML file and `HERALD_*` environment variables,
//! the environment winning. Secrets never reach `Debug` output or error messages.

use crate::access::{parse_tokens, ApiToken};
use crate::request::EventKind;
pub use crate::secret::Secret;
use herald_connector::{AllowList, DEFAULT_ALLOWED};
use herald_core::ids::TenantId;
pub use herald_wire::aad::Cloud;
use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

mod manifest;
pub use manifest::{Localized, ManifestSettings};

/// A database URL: its password never reaches `Debug` output, logs or error messages.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", herald_store::redact(&self.0))
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&herald_store::redact(&self.0))
    }
}

/// `allowed_tenants`: whose activities Herald acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedTenants {
    /// `*`: a multi-tenant app.
    Any,
    /// Tenant ids (GUIDs, compared without case).
    Only(Vec<TenantId>),
}

impl AllowedTenants {
    pub fn allows(&self, tenant: &str) -> bool {
        match self {
            AllowedTenants::Any => true,
            AllowedTenants::Only(ids) => ids.iter().any(|t| t.eq_ignore_ascii_case(tenant)),
        }
    }
}

/// The host name and the process id: unique among the nodes of one database unless two hosts
/// share a name.
pub fn default_node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "herald".into());
    format!("{host}-{}", std::process::id())
}

pub const DEFAULT_WELCOME: &str = "Hi {user}, I'm {bot}. I'll deliver notifications from your organization here. You don't need to reply.";

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: DatabaseUrl,
    pub app_id: String,
    pub app_password: Secret,
    /// The home tenant (`HERALD_TENANT_ID`); required to serve.
    pub tenant_id: Option<TenantId>,
    /// This node's name among the nodes sharing one database (`HERALD_NODE_ID`; default: the
    /// host name and the process id).
    pub node_id: String,
    pub teams_app_id: Option<String>,
    /// The bot's display name, for "Notification via {bot}" and welcomes; else the name Teams
    /// gave in the user's activities.
    pub bot_name: Option<String>,
    pub login_url: String,
    pub openid_metadata_url: String,
    pub graph_url: String,
    pub allowed_service_urls: AllowList,
    pub service_url: String,
    pub tenant_rps: u32,
    pub max_in_flight: u32,
    /// `{user}` and `{bot}` are replaced by the user's first name and the bot's name.
    pub welcome_text: String,
    pub welcome_card: Option<serde_json::Value>,
    pub active_chat_window_s: u64,
    pub callback_secret: Option<Secret>,
    pub secret_key: Option<Secret>,
    pub api_tokens: Vec<ApiToken>,
    pub auth_disabled: bool,
    /// `herald sandbox` only: the API answers without a token (it listens on loopback).
    pub sandbox: bool,
    /// Tenants whose activities Herald acts on (default: `tenant_id` alone).
    pub allowed_tenants: AllowedTenants,
    /// Hosts a `callbackUrl` may name even though they resolve to a private, loopback or
    /// link-local address (lower case).
    pub callback_allowed_hosts: Vec<String>,
    /// Events every notification that names none reports (`events`), and where they go
    /// (`events_url`): a notification's own `options.events` / `callbackUrl` win.
    pub events: Vec<EventKind>,
    pub events_url: Option<String>,
    /// A client must send a request's headers within this (slowloris).
    pub http_header_timeout_s: u64,
    /// A request must be answered within this; long polls and `?sync=true` have their own caps.
    pub http_request_timeout_s: u64,
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// The largest API request body, in MiB (`/api/messages` takes at most 1 MB).
    pub max_body_mb: u64,
    /// Recipients a notification may name in `to.users`.
    pub max_inline_users: usize,
    /// Recipients a notification's `to.csv` may hold.
    pub max_csv_rows: u64,
    /// How long a send keeps retrying what is transient (timeouts, 5xx, 429) before its row
    /// fails: an outage shorter than this delays messages, it does not lose them.
    pub delivery_deadline_s: u64,
    /// Notifications finished more than this many days ago are purged with their rows, answers
    /// and counts (`None`, the default: kept).
    pub retention_days: Option<u64>,
    /// The time zone of recipients who chose none and whose Teams client never reported one
    /// (`recipientLocalTime`): an IANA name, UTC by default.
    pub default_time_zone: String,
    /// `public_url`: where Teams reaches Herald (`https://…`), for the app package's valid
    /// domains and the connector definition's host.
    pub public_url: Option<String>,
    /// `feed_activity_type`: the activity type feed notifications use, declared in the manifest.
    pub feed_activity_type: String,
    /// `[manifest]`: the Teams app package's names, URLs and icons.
    pub manifest: ManifestSettings,
    /// `cloud`: whose identity platform, Graph and Bot Framework (`public`, `gcc`, `gcch`,
    /// `dod`): the defaults of the URL keys, the scope of the bot's token, the issuer of Teams'.
    pub cloud: Cloud,
}

/// The file form: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    database_url: Option<String>,
    app_id: Option<String>,
    app_password: Option<Secret>,
    tenant_id: Option<String>,
    node_id: Option<String>,
    teams_app_id: Option<String>,
    bot_name: Option<String>,
    login_url: Option<String>,
    openid_metadata_url: Option<String>,
    graph_url: Option<String>,
    allowed_service_urls: Option<StringOrList>,
    service_url: Option<String>,
    tenant_rps: Option<u32>,
    max_in_flight: Option<u32>,
    welcome_text: Option<String>,
    welcome_card: Option<PathBuf>,
    active_chat_window_s: Option<u64>,
    callback_secret: Option<Secret>,
    secret_key: Option<Secret>,
    api_tokens: Option<StringOrList>,
    auth_disabled: Option<bool>,
    allowed_tenants: Option<StringOrList>,
    callback_allowed_hosts: Option<StringOrList>,
    events: Option<StringOrList>,
    events_url: Option<String>,
    http_header_timeout_s: Option<u64>,
    http_request_timeout_s: Option<u64>,
    max_connections: Option<u64>,
    max_body_mb: Option<u64>,
    max_inline_users: Option<u64>,
    max_csv_rows: Option<u64>,
    delivery_deadline_s: Option<u64>,
    retention_days: Option<u64>,
    default_time_zone: Option<String>,
    public_url: Option<String>,
    feed_activity_type: Option<String>,
    manifest: Option<ManifestSettings>,
    cloud: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StringOrList {
    One(String),
    Many(Vec<String>),
}

impl StringOrList {
    fn joined(self) -> String {
        match self {
            StringOrList::One(s) => s,
            StringOrList::Many(v) => v.join(","),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not valid configuration: {message}")]
    File { path: String, message: String },
    #[error("{key} is not valid: {message}")]
    Value { key: String, message: String },
    #[error(
        "missing configuration: {0} (set them in the config file or as environment variables)"
    )]
    Missing(String),
}

fn value_err(key: &str, message: impl fmt::Display) -> ConfigError {
    ConfigError::Value {
        key: key.to_owned(),
        message: message.to_string(),
    }
}

/// Where a value came from, for messages: the environment variable or the file key.
/// `events`: a comma-separated list of `delivered`, `read`, `reacted`, `opted_out`.
fn parse_events(v: &str) -> Result<Vec<EventKind>, String> {
    let mut out = Vec::new();
    for name in v.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let e: EventKind = serde_json::from_value(serde_json::Value::String(name.to_owned()))
            .map_err(|_| {
                format!("`{name}` is not an event: use delivered, read, reacted, opted_out")
            })?;
        if !out.contains(&e) {
            out.push(e);
        }
    }
    Ok(out)
}

fn key_name(key: &str, from_env: bool) -> String {
    if from_env {
        format!("HERALD_{}", key.to_ascii_uppercase())
    } else {
        key.to_owned()
    }
}

impl Config {
    /// Loads `file` (when given) and the environment through `env`, the environment winning.
    /// `require_bot` demands what `serve` needs (app id, password, tenant).
    pub fn load(
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        require_bot: bool,
    ) -> Result<Self, ConfigError> {
        let f = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                toml::from_str::<FileConfig>(&text).map_err(|e| ConfigError::File {
                    path: path.display().to_string(),
                    message: e.message().to_owned(),
                })?
            }
            None => FileConfig::default(),
        };
        // (value, whether it came from the environment)
        let pick = |key: &str, file_value: Option<String>| -> Option<(String, bool)> {
            match env(&format!("HERALD_{}", key.to_ascii_uppercase())) {
                Some(v) => Some((v, true)),
                None => file_value.map(|v| (v, false)),
            }
        };
        let text = |key: &str, file_value: Option<String>, default: &str| -> String {
            pick(key, file_value).map_or_else(|| default.to_owned(), |(v, _)| v)
        };
        let number =
            |key: &str, file_value: Option<u64>, default: u64| -> Result<u64, ConfigError> {
                match pick(key, file_value.map(|n| n.to_string())) {
                    None => Ok(default),
                    Some((v, from_env)) => v.trim().parse::<u64>().map_err(|_| {
                        value_err(
                            &key_name(key, from_env),
                            format!("`{v}` is not a whole number"),
                        )
                    }),
                }
            };
        let secret = |key: &str, file_value: Option<Secret>| -> Option<Secret> {
            pick(key, file_value.map(|s| s.expose().to_owned()))
                .map(|(v, _)| Secret::new(v))
                .filter(|s| !s.is_empty())
        };

        let listen_raw = text("listen", f.listen, "127.0.0.1:3978");
        let listen: SocketAddr = listen_raw.parse().map_err(|_| {
            value_err(
                "listen",
                format!("`{listen_raw}` is not an address like 127.0.0.1:3978"),
            )
        })?;
        let allowed_raw = text(
            "allowed_service_urls",
            f.allowed_service_urls.map(StringOrList::joined),
            DEFAULT_ALLOWED,
        );
        let allowed_service_urls =
            AllowList::parse(&allowed_raw).map_err(|e| value_err("allowed_service_urls", e))?;
        let welcome_card = match pick(
            "welcome_card",
            f.welcome_card.map(|p| p.display().to_string()),
        ) {
            None => None,
            Some((path, _)) if path.is_empty() => None,
            Some((path, from_env)) => {
                let key = key_name("welcome_card", from_env);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| value_err(&key, format!("cannot read {path}: {e}")))?;
                let card: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| value_err(&key, format!("{path} is not JSON: {e}")))?;
                if card["type"] != "AdaptiveCard" {
                    return Err(value_err(
                        &key,
                        format!(
                            "{path} is not an Adaptive Card (its type is not \"AdaptiveCard\")"
                        ),
                    ));
                }
                Some(card)
            }
        };
        let positive = |key: &str, file_value: Option<u64>, default: u64| {
            let n = number(key, file_value, default)?;
            if n == 0 {
                return Err(value_err(key, "must be at least 1"));
            }
            Ok(n)
        };
        let cloud = match pick("cloud", f.cloud) {
            None => Cloud::Public,
            Some((v, from_env)) => Cloud::parse(&v).ok_or_else(|| {
                value_err(
                    &key_name("cloud", from_env),
                    format!("`{v}` is not a cloud: use {}", Cloud::NAMES.join(", ")),
                )
            })?,
        };
        let endpoints = cloud.endpoints();
        let tenant_id = match pick("tenant_id", f.tenant_id) {
            Some((v, _)) if v.trim().is_empty() => None,
            Some((v, from_env)) => Some(
                TenantId::parse(v.trim())
                    .map_err(|e| value_err(&key_name("tenant_id", from_env), e.to_string()))?,
            ),
            None => None,
        };
        let allowed_tenants = match pick(
            "allowed_tenants",
            f.allowed_tenants.map(StringOrList::joined),
        ) {
            Some((v, _)) if v.trim() == "*" => AllowedTenants::Any,
            Some((v, from_env)) => {
                let mut ids = Vec::new();
                for t in v.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                    match TenantId::parse(t) {
                        Ok(id) if herald_core::ids::is_guid(t) => ids.push(id),
                        _ => {
                            return Err(value_err(
                                &key_name("allowed_tenants", from_env),
                                format!("`{t}` is not a tenant id (a GUID), nor `*`"),
                            ))
                        }
                    }
                }
                AllowedTenants::Only(ids)
            }
            None => AllowedTenants::Only(tenant_id.iter().cloned().collect()),
        };
        let auth_disabled = match pick("auth_disabled", f.auth_disabled.map(|b| b.to_string())) {
            None => false,
            Some((v, from_env)) => match v.trim() {
                "1" | "true" | "yes" => true,
                "0" | "false" | "no" | "" => false,
                other => {
                    return Err(value_err(
                        &key_name("auth_disabled", from_env),
                        format!("`{other}` is not 1 or 0"),
                    ))
                }
            },
        };
        let cfg = Config {
            listen,
            database_url: DatabaseUrl(text("database_url", f.database_url, "sqlite://herald.db")),
            app_id: text("app_id", f.app_id, ""),
            app_password: secret("app_password", f.app_password).unwrap_or_default(),
            tenant_id,
            node_id: match pick("node_id", f.node_id) {
                Some((v, _)) if !v.trim().is_empty() => v.trim().to_owned(),
                _ => default_node_id(),
            },
            teams_app_id: pick("teams_app_id", f.teams_app_id)
                .map(|(v, _)| v)
                .filter(|v| !v.is_empty()),
            bot_name: pick("bot_name", f.bot_name)
                .map(|(v, _)| v)
                .filter(|v| !v.is_empty()),
            login_url: text("login_url", f.login_url, endpoints.login_url),
            openid_metadata_url: text(
                "openid_metadata_url",
                f.openid_metadata_url,
                endpoints.openid_metadata_url,
            ),
            graph_url: text("graph_url", f.graph_url, endpoints.graph_url),
            allowed_service_urls,
            service_url: text("service_url", f.service_url, endpoints.service_url),
            tenant_rps: number("tenant_rps", f.tenant_rps.map(u64::from), 50)?
                .min(u64::from(u32::MAX)) as u32,
            max_in_flight: number("max_in_flight", f.max_in_flight.map(u64::from), 64)?
                .clamp(1, 10_000) as u32,
            welcome_text: text("welcome_text", f.welcome_text, DEFAULT_WELCOME),
            welcome_card,
            active_chat_window_s: number("active_chat_window_s", f.active_chat_window_s, 300)?,
            callback_secret: secret("callback_secret", f.callback_secret),
            secret_key: secret("secret_key", f.secret_key),
            api_tokens: match pick("api_tokens", f.api_tokens.map(StringOrList::joined)) {
                None => Vec::new(),
                Some((v, from_env)) => {
                    parse_tokens(&v).map_err(|e| value_err(&key_name("api_tokens", from_env), e))?
                }
            },
            auth_disabled,
            sandbox: false,
            allowed_tenants,
            callback_allowed_hosts: pick(
                "callback_allowed_hosts",
                f.callback_allowed_hosts.map(StringOrList::joined),
            )
            .map(|(v, _)| {
                v.split(',')
                    .map(|h| h.trim().trim_end_matches('.').to_ascii_lowercase())
                    .filter(|h| !h.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
            events: match pick("events", f.events.map(StringOrList::joined)) {
                None => Vec::new(),
                Some((v, from_env)) => {
                    parse_events(&v).map_err(|e| value_err(&key_name("events", from_env), e))?
                }
            },
            events_url: pick("events_url", f.events_url)
                .map(|(v, _)| v.trim().to_owned())
                .filter(|v| !v.is_empty()),
            http_header_timeout_s: positive("http_header_timeout_s", f.http_header_timeout_s, 10)?,
            http_request_timeout_s: positive(
                "http_request_timeout_s",
                f.http_request_timeout_s,
                60,
            )?,
            max_connections: positive("max_connections", f.max_connections, 1024)? as usize,
            max_body_mb: positive("max_body_mb", f.max_body_mb, 64)?.min(4096),
            max_inline_users: positive("max_inline_users", f.max_inline_users, 10_000)? as usize,
            max_csv_rows: positive("max_csv_rows", f.max_csv_rows, 1_000_000)?,
            delivery_deadline_s: positive("delivery_deadline_s", f.delivery_deadline_s, 3600)?,
            retention_days: match number("retention_days", f.retention_days, 0)? {
                0 => None,
                // A hundred years is forever enough, and keeps the cutoff's arithmetic in range.
                n => Some(n.min(36_500)),
            },
            default_time_zone: match pick("default_time_zone", f.default_time_zone) {
                None => "UTC".to_owned(),
                Some((v, from_env)) => {
                    let v = v.trim().to_owned();
                    crate::local_time::zone(&v)
                        .map_err(|e| value_err(&key_name("default_time_zone", from_env), e))?;
                    v
                }
            },
            public_url: pick("public_url", f.public_url)
                .map(|(v, _)| v.trim().trim_end_matches('/').to_owned())
                .filter(|v| !v.is_empty()),
            feed_activity_type: text("feed_activity_type", f.feed_activity_type, "herald")
                .trim()
                .to_owned(),
            manifest: ManifestSettings::read(f.manifest, &|k, v| pick(k, v).map(|(v, _)| v)),
            cloud,
        };
        cfg.validate(require_bot)?;
        Ok(cfg)
    }

    fn validate(&self, require_bot: bool) -> Result<(), ConfigError> {
        if require_bot {
            let missing: Vec<&str> = [
                ("HERALD_APP_ID", self.app_id.is_empty()),
                ("HERALD_APP_PASSWORD", self.app_password.is_empty()),
                ("HERALD_TENANT_ID", self.tenant_id.is_none()),
            ]
            .iter()
            .filter(|(_, m)| *m)
            .map(|(k, _)| *k)
            .collect();
            if !missing.is_empty() {
                return Err(ConfigError::Missing(missing.join(", ")));
            }
        }
        if self.auth_disabled && !self.listen.ip().is_loopback() {
            return Err(value_err(
                "HERALD_AUTH_DISABLED",
                format!(
                    "inbound authentication can be turned off only when Herald listens on loopback, not on {}",
                    self.listen
                ),
            ));
        }
        match (self.events.is_empty(), &self.events_url) {
            (false, None) => {
                return Err(value_err(
                    "events",
                    "events are POSTed to events_url: set it too",
                ))
            }
            (true, Some(_)) => {
                return Err(value_err(
                    "events_url",
                    "name the events it receives in `events` (delivered, read, reacted, opted_out)",
                ))
            }
            (false, Some(_)) if self.callback_secret.is_none() => {
                return Err(value_err(
                    "events",
                    "events are signed with HMAC-SHA256: set callback_secret too",
                ))
            }
            _ => {}
        }
        let t = &self.feed_activity_type;
        if t.is_empty()
            || t.len() > 64
            || !t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(value_err(
                "feed_activity_type",
                format!("`{t}` is not an activity type: 1 to 64 letters, digits or `_`"),
            ));
        }
        if let Some(url) = &self.public_url {
            if !url.starts_with("https://") || url::Url::parse(url).is_err() {
                return Err(value_err(
                    "public_url",
                    format!("`{url}` is not an https URL: Teams reaches bots only over https"),
                ));
            }
        }
        for (key, url) in [
            ("login_url", &self.login_url),
            ("openid_metadata_url", &self.openid_metadata_url),
            ("graph_url", &self.graph_url),
            ("service_url", &self.service_url),
            (
                "events_url",
                self.events_url.as_ref().unwrap_or(&self.service_url),
            ),
        ] {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(value_err(key, format!("`{url}` is not an http(s) URL")));
            }
        }
        Ok(())
    }

    /// The process environment.
    pub fn from_env() -> impl Fn(&str) -> Option<String> {
        |k| std::env::var(k).ok()
    }
}

#[cfg(test)]
mod tests;
