//! `herald manifest` and `herald connector-definition`, checked by others' tools: the package is
//! unpacked by Python's `zipfile`, its PNGs decoded by Python's `zlib`, the manifest validated
//! by Microsoft's own schemas (npm `@microsoft/app-manifest`, offline), the connector validated
//! as Swagger 2.0 by npm `@apidevtools/swagger-parser` (`tests/setup`; `npm ci` there, which
//! `scripts/test` does). Without the npm packages the Node checks say loudly that they did not
//! run, and with `HERALD_CROSSCHECK_LIVE=1` (CI) they fail instead.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const BOT: &str = "8d4b3b4e-6f2a-4c1d-9e3f-5a7b9c1d3e5f";

fn setup_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/setup")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("herald-setup-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `herald ARGS` with only the configuration file `toml` (no HERALD_* from the test's own
/// environment) plus `env`.
fn herald(dir: &Path, toml: &str, env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let config = dir.join("herald.toml");
    std::fs::write(&config, toml).unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_herald"));
    c.env_clear().current_dir(dir).args(args);
    c.arg("--config").arg(&config);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn node_ready(package: &str) -> bool {
    if setup_dir().join("node_modules").join(package).exists() {
        return true;
    }
    if std::env::var("HERALD_CROSSCHECK_LIVE").as_deref() == Ok("1") {
        panic!("HERALD_CROSSCHECK_LIVE=1 but {package} is not installed: run `npm ci --prefix tests/setup`");
    }
    eprintln!("NOT CHECKED BY MICROSOFT'S TOOLS: {package} is not installed; run `npm ci --prefix tests/setup`");
    false
}

fn node(script: &str, arg: &Path) -> Value {
    let out = Command::new("node")
        .arg(setup_dir().join(script))
        .arg(arg)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the script prints JSON")
}

/// Unpacks `zip` into `dir` with Python's zipfile (after its CRC check of every entry) and
/// decodes each PNG with zlib, checking every chunk's CRC; answers the names and each PNG's size.
fn unpack(zip: &Path, dir: &Path) -> Value {
    let script = r#"
import json, struct, sys, zipfile, zlib
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None, "a bad CRC"
z.extractall(sys.argv[2])
out = {"names": z.namelist(), "png": {}}
for name in z.namelist():
    if not name.endswith(".png"):
        continue
    data = z.read(name)
    assert data[:8] == b"\x89PNG\r\n\x1a\n", name
    i, idat, size = 8, b"", None
    while i < len(data):
        n, kind = struct.unpack(">I4s", data[i:i + 8])
        body = data[i + 8:i + 8 + n]
        assert struct.unpack(">I", data[i + 8 + n:i + 12 + n])[0] == zlib.crc32(kind + body), (name, kind)
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        if kind == b"IDAT":
            idat += body
        i += 12 + n
    w, h = size
    assert len(zlib.decompress(idat)) == h * (1 + 4 * w), name
    out["png"][name] = [w, h]
print(json.dumps(out))
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(zip)
        .arg(dir)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "unpacking: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

const CONFIG: &str = r##"
app_id = "8d4b3b4e-6f2a-4c1d-9e3f-5a7b9c1d3e5f"
bot_name = "Contoso News"
public_url = "https://herald.contoso.com"
feed_activity_type = "announcement"

[manifest]
developer_name = "Contoso IT"
privacy_url = "https://contoso.com/privacy"
accent_color = "#0F6CBD"

[manifest.localization.fr-fr]
short_name = "Actualités Contoso"
short_description = "Les annonces de votre organisation, dans Teams."
stop_description = "stop CATÉGORIE, ou stop all : plus de notifications de ce genre"
"##;

#[test]
fn the_app_package_passes_microsofts_schema_and_asks_for_what_herald_uses() {
    let dir = scratch("package");
    let out = herald(&dir, CONFIG, &[], &["manifest", "--out", "app.zip"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("app.zip") && said.contains("1.17"), "{said}");

    let files = dir.join("unpacked");
    let unpacked = unpack(&dir.join("app.zip"), &files);
    assert_eq!(
        unpacked["names"],
        serde_json::json!(["manifest.json", "color.png", "outline.png", "fr-fr.json"])
    );
    assert_eq!(unpacked["png"]["color.png"], serde_json::json!([192, 192]));
    assert_eq!(unpacked["png"]["outline.png"], serde_json::json!([32, 32]));

    let m: Value =
        serde_json::from_slice(&std::fs::read(files.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["manifestVersion"], "1.17");
    assert_eq!(m["bots"][0]["botId"], BOT);
    assert_eq!(
        m["bots"][0]["scopes"],
        serde_json::json!(["personal", "team", "groupChat"])
    );
    assert_eq!(m["webApplicationInfo"]["id"], BOT);
    assert_eq!(
        m["authorization"]["permissions"]["resourceSpecific"][0]["name"],
        "ChatMessageReadReceipt.Read.Chat"
    );
    assert_eq!(m["activities"]["activityTypes"][0]["type"], "announcement");
    assert_eq!(m["validDomains"], serde_json::json!(["herald.contoso.com"]));
    assert_eq!(m["name"]["short"], "Contoso News");
    assert_eq!(m["developer"]["privacyUrl"], "https://contoso.com/privacy");
    assert_eq!(
        m["developer"]["termsOfUseUrl"],
        "https://herald.contoso.com/"
    );
    assert_eq!(m["accentColor"], "#0F6CBD");
    let fr: Value =
        serde_json::from_slice(&std::fs::read(files.join("fr-fr.json")).unwrap()).unwrap();
    assert_eq!(fr["name.short"], "Actualités Contoso");
    // What a language does not say is the default language's.
    assert_eq!(fr["name.full"], "Contoso News");

    // Built again: the same bytes (the manifest id is derived from the bot, not random).
    let again = herald(&dir, CONFIG, &[], &["manifest", "--out", "again.zip"]);
    assert!(again.status.success());
    assert_eq!(
        std::fs::read(dir.join("app.zip")).unwrap(),
        std::fs::read(dir.join("again.zip")).unwrap()
    );

    if node_ready("@microsoft/app-manifest") {
        let verdict = node("validate-package.js", &files);
        assert_eq!(verdict["schemaVersion"], "1.17");
        assert_eq!(verdict["manifest"], serde_json::json!([]), "{verdict}");
        assert_eq!(
            verdict["localization"],
            serde_json::json!({"fr-fr.json": []}),
            "{verdict}"
        );

        // A wrong bot id fails Microsoft's schema (so the check above can fail)…
        let mut wrong = m.clone();
        wrong["bots"][0]["botId"] = "contoso-news-bot".into();
        wrong.as_object_mut().unwrap().remove("localizationInfo");
        let bad = dir.join("wrong");
        std::fs::create_dir_all(&bad).unwrap();
        std::fs::write(bad.join("manifest.json"), wrong.to_string()).unwrap();
        let verdict = node("validate-package.js", &bad);
        let errors = verdict["manifest"].as_array().unwrap();
        assert!(
            errors
                .iter()
                .any(|e| e.as_str().unwrap_or("").contains("/bots/0/botId")),
            "{verdict}"
        );
    }
}

/// (configuration file, environment, the key the refusal must name)
type Refusal<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

#[test]
fn what_teams_would_refuse_is_refused_naming_the_key() {
    let dir = scratch("refused");
    let cases: &[Refusal] = &[
        (CONFIG, &[("HERALD_APP_ID", "contoso-news-bot")], "app_id"),
        (
            CONFIG,
            &[(
                "HERALD_MANIFEST_SHORT_NAME",
                "A name of more than thirty characters",
            )],
            "manifest.short_name",
        ),
        (
            CONFIG,
            &[("HERALD_MANIFEST_ACCENT_COLOR", "#12345")],
            "manifest.accent_color",
        ),
        (
            CONFIG,
            &[("HERALD_MANIFEST_ID", "not-a-guid")],
            "manifest.id",
        ),
        (
            CONFIG,
            &[("HERALD_MANIFEST_TERMS_URL", "http://contoso.com/terms")],
            "manifest.terms_url",
        ),
        (
            CONFIG,
            &[("HERALD_MANIFEST_COLOR_ICON", "missing.png")],
            "manifest.color_icon",
        ),
        (
            &format!("app_id = \"{BOT}\"\n"),
            &[],
            "manifest.website_url",
        ),
        (
            CONFIG,
            &[("HERALD_PUBLIC_URL", "http://herald.contoso.com")],
            "public_url",
        ),
        (
            CONFIG,
            &[("HERALD_FEED_ACTIVITY_TYPE", "new notification")],
            "feed_activity_type",
        ),
    ];
    for (toml, env, key) in cases {
        let out = herald(&dir, toml, env, &["manifest", "--out", "x.zip"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{key}: succeeded");
        assert!(err.contains(key), "{key}: {err}");
        assert!(!dir.join("x.zip").exists(), "{key}: a package was written");
    }
    // An icon of the wrong size is named with its size and Teams' own.
    let ok = herald(&dir, CONFIG, &[], &["manifest", "--out", "ok.zip"]);
    assert!(ok.status.success());
    let files = dir.join("ok");
    unpack(&dir.join("ok.zip"), &files);
    let outline = files.join("outline.png");
    let out = herald(
        &dir,
        CONFIG,
        &[("HERALD_MANIFEST_COLOR_ICON", outline.to_str().unwrap())],
        &["manifest", "--out", "x.zip"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("manifest.color_icon")
            && err.contains("32×32")
            && err.contains("192×192"),
        "{err}"
    );
    // The right sizes from files are taken as they are.
    let out = herald(
        &dir,
        CONFIG,
        &[
            (
                "HERALD_MANIFEST_COLOR_ICON",
                files.join("color.png").to_str().unwrap(),
            ),
            ("HERALD_MANIFEST_OUTLINE_ICON", outline.to_str().unwrap()),
        ],
        &["manifest", "--out", "files.zip"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_connector_definition_is_swagger_2_with_every_v1_operation() {
    let dir = scratch("connector");
    let out = herald(&dir, CONFIG, &[], &["connector-definition", "--out", "pa"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = dir.join("pa/apiDefinition.swagger.json");
    let def: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let props: Value =
        serde_json::from_slice(&std::fs::read(dir.join("pa/apiProperties.json")).unwrap()).unwrap();
    let api = herald_server::openapi_document();
    let expected: BTreeSet<String> = api["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(p, _)| p.starts_with("/v1"))
        .flat_map(|(p, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|m| ["get", "put", "post", "delete", "patch"].contains(&m.as_str()))
                .map(move |m| format!("{m} {p}"))
        })
        .collect();
    assert!(expected.len() >= 14, "{expected:?}");
    let got: BTreeSet<String> = def["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| format!("{m} {p}"))
        })
        .collect();
    assert_eq!(got, expected);
    assert_eq!(def["host"], "herald.contoso.com");
    assert_eq!(def["securityDefinitions"]["api_key"]["name"], "X-Api-Key");
    assert_eq!(
        def["paths"]["/v1/notifications"]["post"]["x-ms-visibility"],
        "important"
    );
    let id = def["paths"]["/v1/notifications/{id}"]["get"]["parameters"][0].clone();
    assert_eq!(
        id["x-ms-dynamic-values"]["operationId"],
        "listNotifications"
    );
    assert_eq!(
        props["properties"]["connectionParameters"]["api_key"]["type"],
        "securestring"
    );
    if node_ready("@apidevtools/swagger-parser") {
        let verdict = node("validate-swagger.js", &file);
        assert_eq!(verdict["valid"], true, "{verdict}");
        let operations: BTreeSet<String> = verdict["operations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(operations, expected);
        // The validator can fail: an operation with a path parameter it does not declare.
        let mut broken = def.clone();
        broken["paths"]["/v1/notifications/{id}"]["get"]["parameters"] = serde_json::json!([]);
        let bad = dir.join("broken.json");
        std::fs::write(&bad, broken.to_string()).unwrap();
        let verdict = node("validate-swagger.js", &bad);
        assert_eq!(verdict["valid"], false, "{verdict}");
    }
}
