//! The configuration's tests: files, environment, precedence and the errors that name what is wrong.

use super::*;
use std::collections::HashMap;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let m: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| m.get(k).cloned()
}

fn bot() -> Vec<(&'static str, &'static str)> {
    vec![
        ("HERALD_APP_ID", "app"),
        ("HERALD_APP_PASSWORD", "pw"),
        ("HERALD_TENANT_ID", "t"),
    ]
}

#[test]
fn defaults_point_at_microsoft_and_env_wins_over_the_file() {
    let dir = std::env::temp_dir().join(format!("herald-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("herald.toml");
    std::fs::write(
        &file,
        "tenant_rps = 20\nlisten = \"127.0.0.1:4000\"\napi_tokens = [\"a\", \"b\"]\n",
    )
    .unwrap();
    let mut e = bot();
    e.push(("HERALD_TENANT_RPS", "30"));
    let c = Config::load(Some(&file), &env(&e), true).unwrap();
    assert_eq!(c.tenant_rps, 30, "the environment wins");
    assert_eq!(c.listen.port(), 4000);
    assert_eq!(c.api_tokens.len(), 2);
    assert_eq!(c.database_url.expose(), "sqlite://herald.db");
    assert_eq!(c.login_url, "https://login.microsoftonline.com");
    assert!(c
        .allowed_service_urls
        .allows("https://smba.trafficmanager.net/teams/"));
    assert!(!c.allowed_service_urls.allows("http://127.0.0.1:3979/"));
    assert!(
        !format!("{c:?}").contains("pw"),
        "secrets stay out of Debug"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn errors_name_what_is_wrong() {
    let err = Config::load(None, &env(&[]), true).unwrap_err().to_string();
    assert!(
        err.contains("HERALD_APP_ID")
            && err.contains("HERALD_APP_PASSWORD")
            && err.contains("HERALD_TENANT_ID"),
        "{err}"
    );
    let mut e = bot();
    e.push(("HERALD_TENANT_RPS", "fast"));
    let err = Config::load(None, &env(&e), true).unwrap_err().to_string();
    assert!(
        err.contains("HERALD_TENANT_RPS") && err.contains("fast"),
        "{err}"
    );
    let mut e = bot();
    e.push(("HERALD_ALLOWED_SERVICE_URLS", "http://evil.example/*"));
    let err = Config::load(None, &env(&e), true).unwrap_err().to_string();
    assert!(
        err.contains("allowed_service_urls") && err.contains("https"),
        "{err}"
    );

    let dir = std::env::temp_dir().join(format!("herald-config-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("herald.toml");
    std::fs::write(&file, "tenant_rsp = 20\n").unwrap();
    let err = Config::load(Some(&file), &env(&bot()), true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("tenant_rsp"), "an unknown key is named: {err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn debug_output_hides_every_secret() {
    let mut e = bot();
    e.push((
        "HERALD_DATABASE_URL",
        "postgres://herald:db-pass-9f2@db.internal:5432/herald",
    ));
    e.push(("HERALD_API_TOKENS", "ci:tok-secret-1:read,plain-secret-2"));
    e.push(("HERALD_CALLBACK_SECRET", "cb-secret-3"));
    let c = Config::load(None, &env(&e), true).unwrap();
    let shown = format!("{c:?}");
    for secret in [
        "db-pass-9f2",
        "tok-secret-1",
        "plain-secret-2",
        "cb-secret-3",
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(
        shown.contains("db.internal"),
        "the rest of the URL stays: {shown}"
    );
    assert_eq!(
        c.database_url.expose(),
        "postgres://herald:db-pass-9f2@db.internal:5432/herald"
    );
}

#[test]
fn new_limits_and_lists_are_read_and_checked() {
    let mut e = bot();
    e.push((
        "HERALD_ALLOWED_TENANTS",
        "72f988bf-86f1-41af-91ab-2d7cd011db47, *x",
    ));
    let err = Config::load(None, &env(&e), true).unwrap_err().to_string();
    assert!(
        err.contains("HERALD_ALLOWED_TENANTS") && err.contains("*x"),
        "{err}"
    );
    let mut e = bot();
    e.push(("HERALD_MAX_CONNECTIONS", "0"));
    let err = Config::load(None, &env(&e), true).unwrap_err().to_string();
    assert!(err.contains("max_connections"), "{err}");
    let mut e = bot();
    e.push((
        "HERALD_CALLBACK_ALLOWED_HOSTS",
        " Hooks.Internal. ,10.0.0.5",
    ));
    let c = Config::load(None, &env(&e), true).unwrap();
    assert_eq!(c.callback_allowed_hosts, vec!["hooks.internal", "10.0.0.5"]);
    assert!(c.allowed_tenants.allows("t"), "tenant_id alone by default");
    assert!(!c.allowed_tenants.allows("other"));
    assert_eq!(
        (
            c.http_header_timeout_s,
            c.http_request_timeout_s,
            c.max_body_mb
        ),
        (10, 60, 64)
    );
}

#[test]
fn auth_can_be_disabled_only_on_loopback() {
    let mut e = bot();
    e.push(("HERALD_AUTH_DISABLED", "1"));
    assert!(Config::load(None, &env(&e), true).unwrap().auth_disabled);
    e.push(("HERALD_LISTEN", "0.0.0.0:3978"));
    let err = Config::load(None, &env(&e), true).unwrap_err().to_string();
    assert!(err.contains("loopback"), "{err}");
}

#[test]
fn events_from_the_configuration_are_named_signed_and_have_somewhere_to_go() {
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut e = bot();
        e.extend_from_slice(extra);
        Config::load(None, &env(&e), true)
    };
    let c = with(&[
        ("HERALD_EVENTS", "delivered, read,delivered"),
        ("HERALD_EVENTS_URL", "https://hooks.example/herald"),
        ("HERALD_CALLBACK_SECRET", "s3cret-s3cret"),
    ])
    .unwrap();
    assert_eq!(c.events, vec![EventKind::Delivered, EventKind::Read]);
    assert_eq!(
        c.events_url.as_deref(),
        Some("https://hooks.example/herald")
    );
    assert!(with(&[]).unwrap().events.is_empty());
    for (extra, names) in [
        (
            vec![("HERALD_EVENTS", "delivered,seen")],
            ["HERALD_EVENTS", "`seen` is not an event"],
        ),
        (
            vec![("HERALD_EVENTS", "delivered")],
            ["events", "set it too"],
        ),
        (
            vec![("HERALD_EVENTS_URL", "https://hooks.example/")],
            ["events_url", "name the events"],
        ),
        (
            vec![
                ("HERALD_EVENTS", "read"),
                ("HERALD_EVENTS_URL", "https://hooks.example/"),
            ],
            ["events", "callback_secret"],
        ),
        (
            vec![
                ("HERALD_EVENTS", "read"),
                ("HERALD_EVENTS_URL", "ftp://hooks.example/"),
                ("HERALD_CALLBACK_SECRET", "s3cret-s3cret"),
            ],
            ["events_url", "not an http(s) URL"],
        ),
    ] {
        let err = with(&extra).unwrap_err().to_string();
        assert!(names.iter().all(|n| err.contains(n)), "{err}");
    }
}

#[test]
fn a_cloud_sets_the_defaults_of_its_endpoints_and_explicit_keys_win() {
    let mut e = bot();
    e.push(("HERALD_CLOUD", "gcch"));
    let c = Config::load(None, &env(&e), true).unwrap();
    assert_eq!(c.cloud, Cloud::Gcch);
    assert_eq!(c.login_url, "https://login.microsoftonline.us");
    assert_eq!(c.graph_url, "https://graph.microsoft.us");
    assert_eq!(
        c.openid_metadata_url,
        "https://login.botframework.azure.us/v1/.well-known/openidconfiguration"
    );
    assert_eq!(
        c.service_url,
        "https://smba.infra.gov.teams.microsoft.us/gcch/"
    );
    assert_eq!(
        c.cloud.endpoints().bot_scope,
        "https://api.botframework.us/.default"
    );
    assert_eq!(
        c.cloud.endpoints().bot_issuer,
        "https://api.botframework.us"
    );
    // Teams' government service URLs are in the default allow-list.
    assert!(c.allowed_service_urls.allows(&c.service_url));

    e.push(("HERALD_CLOUD", "DoD"));
    e.retain(|(k, v)| *k != "HERALD_CLOUD" || *v == "DoD");
    e.push(("HERALD_GRAPH_URL", "https://graph.example.test"));
    let c = Config::load(None, &env(&e), true).unwrap();
    assert_eq!(c.cloud, Cloud::Dod);
    assert_eq!(
        c.graph_url, "https://graph.example.test",
        "an explicit key wins"
    );
    assert_eq!(
        c.cloud.endpoints().graph_scope,
        "https://dod-graph.microsoft.us/.default"
    );
    assert!(c.allowed_service_urls.allows(&c.service_url));

    let mut e = bot();
    e.push(("HERALD_CLOUD", "gcc"));
    let c = Config::load(None, &env(&e), true).unwrap();
    assert_eq!(c.login_url, "https://login.microsoftonline.com");
    assert_eq!(
        c.service_url,
        "https://smba.infra.gcc.teams.microsoft.com/gcc/"
    );
    assert!(c.allowed_service_urls.allows(&c.service_url));

    let mut e = bot();
    e.push(("HERALD_CLOUD", "azure-china"));
    let err = Config::load(None, &env(&e), true).unwrap_err().to_string();
    assert!(
        err.contains("HERALD_CLOUD") && err.contains("gcch"),
        "{err}"
    );
    // No cloud named: the public one.
    assert_eq!(
        Config::load(None, &env(&bot()), true).unwrap().cloud,
        Cloud::Public
    );
}
