//! `herald doctor`: what stands between this configuration and a working Herald, one check at a
//! time, each saying what it found or what to do. A check that cannot run because an earlier
//! one failed (no Graph token, no tenant) says so and is not counted as a second failure.

use herald_connector::{Credentials, TokenSource};
use herald_core::SharedClock;
use herald_engine::config::AllowedTenants;
use herald_engine::Config;
use serde_json::Value;
use std::time::Duration;

/// The Graph application permissions Herald's features use, and what each is for.
pub const GRAPH_PERMISSIONS: [(&str, &str); 5] = [
    ("User.Read.All", "find people named by UPN or mail"),
    ("GroupMember.Read.All", "send to a group's members"),
    ("TeamMember.Read.All", "send to a team's members"),
    (
        "TeamsAppInstallation.ReadWriteForUser.All",
        "install the app for people who do not have it",
    ),
    (
        "AppCatalog.Read.All",
        "find the app in the tenant's catalog",
    ),
];

/// Past this the identity platform's tokens are refused (their validity has five minutes' play).
const CLOCK_TOLERANCE_S: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    /// Not run: an earlier check failed (its line says which).
    NotRun,
}

#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub verdict: Verdict,
    /// What was found, or what to do.
    pub detail: String,
}

impl Check {
    fn pass(name: &'static str, detail: impl Into<String>) -> Self {
        Self {
            name,
            verdict: Verdict::Pass,
            detail: detail.into(),
        }
    }
    fn fail(name: &'static str, detail: impl Into<String>) -> Self {
        Self {
            name,
            verdict: Verdict::Fail,
            detail: detail.into(),
        }
    }
    fn not_run(name: &'static str, detail: impl Into<String>) -> Self {
        Self {
            name,
            verdict: Verdict::NotRun,
            detail: detail.into(),
        }
    }

    /// One line: `✓ name: detail`, `✗ …`, `– …`.
    pub fn line(&self) -> String {
        let mark = match self.verdict {
            Verdict::Pass => "✓",
            Verdict::Fail => "✗",
            Verdict::NotRun => "–",
        };
        format!("{mark} {}: {}", self.name, self.detail)
    }
}

/// Runs every check in order.
pub async fn examine(cfg: &Config, clock: SharedClock) -> Vec<Check> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client");
    let mut out = vec![configuration(cfg), public_url(cfg), tenants(cfg)];
    out.push(service_urls(cfg));
    out.push(openid(&http, &cfg.openid_metadata_url).await);
    out.push(clock_check(&http, cfg, &clock).await);
    let (credentials, graph_token) = credentials(&http, cfg, &clock).await;
    out.push(credentials);
    match &graph_token {
        Some(t) => out.push(permissions(t)),
        None => out.push(Check::not_run(
            "Graph permissions",
            "not checked: no Graph token (see credentials)",
        )),
    }
    out.push(catalog(&http, cfg, graph_token.as_deref()).await);
    out.push(database(cfg).await);
    out
}

fn configuration(cfg: &Config) -> Check {
    const NAME: &str = "configuration";
    let mut missing = Vec::new();
    if cfg.app_id.is_empty() {
        missing.push("app_id");
    }
    if cfg.app_password.is_empty() {
        missing.push("app_password");
    }
    if cfg.tenant_id.is_none() {
        missing.push("tenant_id");
    }
    if !missing.is_empty() {
        return Check::fail(
            NAME,
            format!(
                "set {} (the bot's Entra application id, a client secret's value, your tenant's id)",
                missing.join(", ")
            ),
        );
    }
    if !herald_core::ids::is_guid(&cfg.app_id) {
        return Check::fail(
            NAME,
            format!(
                "app_id `{}` is not a GUID: use the bot's Microsoft App ID (its Entra application id)",
                cfg.app_id
            ),
        );
    }
    let tenant = cfg.tenant_id.as_ref().map(ToString::to_string);
    Check::pass(
        NAME,
        format!(
            "bot {}, tenant {}, {} cloud, store {}",
            cfg.app_id,
            tenant.unwrap_or_default(),
            cfg.cloud.as_str(),
            cfg.database_url
        ),
    )
}

fn public_url(cfg: &Config) -> Check {
    const NAME: &str = "public URL";
    match &cfg.public_url {
        Some(u) => Check::pass(
            NAME,
            format!("Teams posts to {u}/api/messages (the Azure Bot's messaging endpoint must say the same)"),
        ),
        None => Check::fail(
            NAME,
            "set public_url to the https address Teams reaches Herald at, and the Azure Bot's messaging endpoint to it + /api/messages",
        ),
    }
}

fn tenants(cfg: &Config) -> Check {
    const NAME: &str = "allowed tenants";
    let Some(tenant) = &cfg.tenant_id else {
        return Check::not_run(NAME, "not checked: tenant_id is not set");
    };
    match &cfg.allowed_tenants {
        AllowedTenants::Any => Check::pass(NAME, "any tenant (`*`: a multi-tenant app)"),
        a if a.allows(tenant.as_ref()) => Check::pass(NAME, format!("{tenant} is allowed")),
        _ => Check::fail(
            NAME,
            format!("allowed_tenants leaves out tenant_id {tenant}: Herald would ignore its own tenant's activities; add it, or unset allowed_tenants"),
        ),
    }
}

fn service_urls(cfg: &Config) -> Check {
    const NAME: &str = "service URLs";
    if cfg.allowed_service_urls.allows(&cfg.service_url) {
        Check::pass(
            NAME,
            format!("{} is in allowed_service_urls", cfg.service_url),
        )
    } else {
        Check::fail(
            NAME,
            format!(
                "service_url {} is not in allowed_service_urls: Herald would refuse to send there; add its host, or leave allowed_service_urls at Teams' default",
                cfg.service_url
            ),
        )
    }
}

async fn get_json(http: &reqwest::Client, url: &str, token: Option<&str>) -> Result<Value, String> {
    let mut req = http.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req
        .send()
        .await
        .map_err(|e| format!("cannot reach {url}: {e}"))?;
    let status = res.status().as_u16();
    if status != 200 {
        return Err(format!("{url} answered {status}"));
    }
    res.json()
        .await
        .map_err(|e| format!("{url} did not answer JSON: {e}"))
}

async fn openid(http: &reqwest::Client, url: &str) -> Check {
    const NAME: &str = "OpenID metadata";
    const FIX: &str = "openid_metadata_url is where Teams' signing keys are described (public cloud: https://login.botframework.com/v1/.well-known/openidconfiguration)";
    let meta = match get_json(http, url, None).await {
        Ok(m) => m,
        Err(e) => return Check::fail(NAME, format!("{e}; {FIX}")),
    };
    let Some(jwks) = meta["jwks_uri"].as_str() else {
        return Check::fail(NAME, format!("{url} names no jwks_uri; {FIX}"));
    };
    match get_json(http, jwks, None).await {
        Ok(k) if k["keys"].as_array().is_some_and(|a| !a.is_empty()) => {
            let n = k["keys"].as_array().map_or(0, Vec::len);
            let s = if n == 1 { "" } else { "s" };
            Check::pass(NAME, format!("{n} signing key{s} for Teams' requests"))
        }
        Ok(_) => Check::fail(NAME, format!("{jwks} lists no keys; {FIX}")),
        Err(e) => Check::fail(NAME, format!("{e}; {FIX}")),
    }
}

async fn clock_check(http: &reqwest::Client, cfg: &Config, clock: &SharedClock) -> Check {
    const NAME: &str = "clock";
    let tenant = cfg
        .tenant_id
        .as_ref()
        .map_or_else(|| "common".to_owned(), ToString::to_string);
    let url = format!(
        "{}/{tenant}/v2.0/.well-known/openid-configuration",
        cfg.login_url.trim_end_matches('/')
    );
    let res = match http.get(&url).send().await {
        Ok(r) => r,
        Err(e) => {
            return Check::fail(
                NAME,
                format!(
                "cannot reach the identity platform at {}: {e}; check login_url and the network",
                cfg.login_url
            ),
            )
        }
    };
    let Some(theirs) = res
        .headers()
        .get(reqwest::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(herald_core::clock::parse_http_date)
    else {
        return Check::fail(
            NAME,
            format!(
                "{} sent no Date to compare with; check login_url",
                cfg.login_url
            ),
        );
    };
    let ours = (clock.now_ms() / 1000) as i64;
    let skew = ours - theirs as i64;
    if skew.abs() >= CLOCK_TOLERANCE_S {
        Check::fail(
            NAME,
            format!(
                "this machine's clock is {skew:+} s off the identity platform's: tokens are refused past {CLOCK_TOLERANCE_S} s; synchronise it (NTP, chrony)"
            ),
        )
    } else {
        Check::pass(NAME, format!("{skew:+} s from the identity platform's"))
    }
}

/// Both tokens; answers the check and the Graph token.
async fn credentials(
    http: &reqwest::Client,
    cfg: &Config,
    clock: &SharedClock,
) -> (Check, Option<String>) {
    const NAME: &str = "credentials";
    let Some(tenant) = &cfg.tenant_id else {
        return (
            Check::not_run(NAME, "not checked: tenant_id is not set"),
            None,
        );
    };
    if cfg.app_id.is_empty() || cfg.app_password.is_empty() {
        return (
            Check::not_run(NAME, "not checked: app_id or app_password is not set"),
            None,
        );
    }
    let creds = Credentials {
        login_url: cfg.login_url.clone(),
        tenant: tenant.to_string(),
        app_id: cfg.app_id.clone(),
        app_password: cfg.app_password.expose().to_owned(),
    };
    let fix = "check app_id, app_password (a client secret's value, not its id, and not expired) and tenant_id";
    let cloud = cfg.cloud.endpoints();
    let bot = TokenSource::new(http.clone(), creds.clone(), cloud.bot_scope, clock.clone());
    if let Err(e) = bot.token().await {
        return (
            Check::fail(
                NAME,
                format!("no token for the Bot Connector: {}; {fix}", e.message),
            ),
            None,
        );
    }
    let graph = TokenSource::new(http.clone(), creds, cloud.graph_scope, clock.clone());
    match graph.token().await {
        Ok(t) => (
            Check::pass(NAME, "tokens for the Bot Connector and for Graph"),
            Some(t),
        ),
        Err(e) => (
            Check::fail(NAME, format!("no token for Graph: {}; {fix}", e.message)),
            None,
        ),
    }
}

/// The `roles` claim of an access token (read, not verified: it is our own, just issued).
fn roles(token: &str) -> Vec<String> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap_or("");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .unwrap_or_default();
    let claims: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    claims["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str().map(str::to_owned))
        .collect()
}

fn permissions(graph_token: &str) -> Check {
    const NAME: &str = "Graph permissions";
    let granted = roles(graph_token);
    let missing: Vec<String> = GRAPH_PERMISSIONS
        .iter()
        .filter(|(p, _)| !granted.iter().any(|g| g.eq_ignore_ascii_case(p)))
        .map(|(p, why)| format!("{p} ({why})"))
        .collect();
    if missing.is_empty() {
        Check::pass(
            NAME,
            format!("the token has all {} Herald uses", GRAPH_PERMISSIONS.len()),
        )
    } else {
        Check::fail(
            NAME,
            format!(
                "the app lacks {}: in Entra ID, App registrations → the bot's app → API permissions → Microsoft Graph → Application permissions, add them, then Grant admin consent",
                missing.join(", ")
            ),
        )
    }
}

async fn catalog(http: &reqwest::Client, cfg: &Config, graph_token: Option<&str>) -> Check {
    const NAME: &str = "Teams app in the catalog";
    let Some(id) = &cfg.teams_app_id else {
        return Check::fail(
            NAME,
            "teams_app_id is not set: upload `herald manifest`'s package to the catalog (Teams admin center → Teams apps → Manage apps → Upload new app), then set teams_app_id to the catalog id it shows",
        );
    };
    let Some(token) = graph_token else {
        return Check::not_run(NAME, "not checked: no Graph token (see credentials)");
    };
    if !herald_core::ids::is_guid(id) {
        return Check::fail(
            NAME,
            format!("teams_app_id `{id}` is not a GUID: use the catalog id the Teams admin center shows"),
        );
    }
    let url = format!(
        "{}/v1.0/appCatalogs/teamsApps?$filter=id eq '{id}'",
        cfg.graph_url.trim_end_matches('/')
    );
    match get_json(http, &url, Some(token)).await {
        Ok(v) => match v["value"].as_array().and_then(|a| a.first()) {
            Some(app) => Check::pass(
                NAME,
                format!(
                    "{} ({id})",
                    app["displayName"].as_str().unwrap_or("the app")
                ),
            ),
            None => Check::fail(
                NAME,
                format!("the tenant's catalog has no app {id}: upload `herald manifest`'s package (Teams admin center → Teams apps → Manage apps → Upload new app) and set teams_app_id to the catalog id, not the manifest's id"),
            ),
        },
        Err(e) => Check::fail(
            NAME,
            format!("{e}: Graph needs AppCatalog.Read.All to read the catalog"),
        ),
    }
}

async fn database(cfg: &Config) -> Check {
    const NAME: &str = "database";
    let url = cfg.database_url.expose();
    let shown = &cfg.database_url;
    // Opening a SQLite file creates it: ask first, so the doctor changes nothing.
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .map(|p| p.split('?').next().unwrap_or(p))
    {
        if !path.contains(":memory:") && !std::path::Path::new(path).exists() {
            return Check::fail(
                NAME,
                format!("there is no database at {path}: run `herald migrate`"),
            );
        }
    }
    let store = match herald_store::open(url).await {
        Ok(s) => s,
        Err(e) => return Check::fail(NAME, format!("cannot open {shown}: {e}")),
    };
    if let Err(e) = store.ping().await {
        return Check::fail(NAME, format!("{shown} does not answer: {e}"));
    }
    match store.pending_migrations().await {
        Ok(p) if p.is_empty() => Check::pass(
            NAME,
            format!("{} ({}), every migration applied", shown, store.backend()),
        ),
        Ok(p) => {
            Check::fail(
                NAME,
                format!(
                "{} migration(s) not applied ({}): run `herald migrate` (serve also does at start)",
                p.len(),
                p.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            ),
            )
        }
        Err(e) => Check::fail(NAME, format!("cannot read the migrations of {shown}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_read_from_the_token() {
        use base64::Engine as _;
        let claims = serde_json::json!({"roles": ["User.Read.All", "AppCatalog.Read.All"]});
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
        let token = format!("e30.{body}.sig");
        assert_eq!(roles(&token), ["User.Read.All", "AppCatalog.Read.All"]);
        assert!(roles("not a token").is_empty());
        let c = permissions(&token);
        assert_eq!(c.verdict, Verdict::Fail);
        assert!(c
            .detail
            .contains("TeamsAppInstallation.ReadWriteForUser.All"));
        assert!(!c.detail.contains("AppCatalog.Read.All"), "{}", c.detail);
    }
}
