//! `herald doctor` against the emulator: every check passes with the emulator's settings, and
//! each fault injected alone (in the configuration, or in the emulator: the Graph token's roles,
//! the catalog, the clock) fails exactly its own check, with a line that names the fix.

mod common;

use common::{emulator, herald};
use std::collections::{BTreeSet, HashMap};

/// Runs `herald doctor` with `vars` (and only them) changed by `changes`; answers whether it
/// exited 0, the names of the checks that failed (✗) and its output.
fn doctor(
    dir: &std::path::Path,
    vars: &HashMap<String, String>,
    changes: &[(&str, &str)],
) -> (bool, BTreeSet<String>, String) {
    let mut c = herald();
    c.env_clear().current_dir(dir).arg("doctor").envs(vars);
    for (k, v) in changes {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let failed = text
        .lines()
        .filter_map(|l| l.strip_prefix("✗ "))
        .map(|l| l.split(':').next().unwrap().to_owned())
        .collect();
    (out.status.success(), failed, text)
}

fn set_emulator(origin: &str, body: &str) {
    let ok = std::process::Command::new("curl")
        .args([
            "-sf",
            "-X",
            "PUT",
            "-H",
            "content-type: application/json",
            "-d",
            body,
        ])
        .arg(format!("{origin}/_emulator/config"))
        .output()
        .unwrap()
        .status
        .success();
    assert!(ok, "PUT /_emulator/config {body}");
}

/// (configuration changed, emulator changed, the one check that fails, words its line must hold)
type Fault<'a> = (Vec<(&'a str, &'a str)>, Option<&'a str>, &'a str, &'a str);

#[test]
fn doctor_passes_on_the_emulator_and_names_each_injected_fault() {
    let (emu, mut vars, origin) = emulator(5, &[]);
    let dir = std::env::temp_dir().join(format!("herald-doctor-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("herald.db");
    vars.insert(
        "HERALD_DATABASE_URL".into(),
        format!("sqlite://{}", db.display()),
    );
    vars.insert(
        "HERALD_PUBLIC_URL".into(),
        "https://herald.contoso.com".into(),
    );
    let migrated = herald()
        .env_clear()
        .current_dir(&dir)
        .arg("migrate")
        .envs(&vars)
        .output()
        .unwrap();
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );

    let (ok, failed, text) = doctor(&dir, &vars, &[]);
    assert!(ok && failed.is_empty(), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("✓ ")).count(),
        10,
        "{text}"
    );
    assert!(text.contains("all 10 checks passed"), "{text}");

    let missing_db = dir.join("nowhere.db");
    let other_tenant = "11111111-2222-3333-4444-555555555555";
    let openid = format!("{origin}/nope/openidconfiguration");
    let missing_db_url = format!("sqlite://{}", missing_db.display());
    let faults: Vec<Fault> = vec![
        (
            vec![("HERALD_APP_PASSWORD", "not-the-secret")],
            None,
            "credentials",
            "app_password",
        ),
        (vec![("HERALD_APP_ID", "")], None, "configuration", "app_id"),
        (
            vec![],
            Some(
                r#"{"graphRoles": ["User.Read.All", "GroupMember.Read.All", "TeamMember.Read.All", "AppCatalog.Read.All"]}"#,
            ),
            "Graph permissions",
            "TeamsAppInstallation.ReadWriteForUser.All",
        ),
        (
            vec![],
            Some(r#"{"catalogHidden": true}"#),
            "Teams app in the catalog",
            "herald manifest",
        ),
        (
            vec![("HERALD_TEAMS_APP_ID", "")],
            None,
            "Teams app in the catalog",
            "set teams_app_id",
        ),
        (vec![], Some(r#"{"dateSkewS": 600}"#), "clock", "-600 s"),
        (
            vec![("HERALD_OPENID_METADATA_URL", openid.as_str())],
            None,
            "OpenID metadata",
            "openid_metadata_url",
        ),
        (
            vec![(
                "HERALD_ALLOWED_SERVICE_URLS",
                "https://smba.trafficmanager.net/*",
            )],
            None,
            "service URLs",
            "allowed_service_urls",
        ),
        (
            vec![("HERALD_ALLOWED_TENANTS", other_tenant)],
            None,
            "allowed tenants",
            "tenant_id",
        ),
        (
            vec![("HERALD_DATABASE_URL", missing_db_url.as_str())],
            None,
            "database",
            "herald migrate",
        ),
        (
            vec![("HERALD_PUBLIC_URL", "")],
            None,
            "public URL",
            "messaging endpoint",
        ),
    ];
    let restore = r#"{"graphRoles": null, "catalogHidden": false, "dateSkewS": 0}"#;
    for (changes, emulator_change, check, words) in &faults {
        if let Some(body) = emulator_change {
            set_emulator(&origin, body);
        }
        let (ok, failed, text) = doctor(&dir, &vars, changes);
        set_emulator(&origin, restore);
        assert!(!ok, "{check}: exit 0\n{text}");
        assert_eq!(
            failed,
            BTreeSet::from([check.to_string()]),
            "{check}\n{text}"
        );
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("✗ {check}:")))
            .unwrap();
        assert!(line.contains(words), "{check}: `{words}` not in {line}");
    }
    // The doctor changes nothing: no database was created where there was none.
    assert!(!missing_db.exists());
    // And with everything put back, all pass again.
    let (ok, _, text) = doctor(&dir, &vars, &[]);
    assert!(ok, "{text}");
    emu.stop();
}
