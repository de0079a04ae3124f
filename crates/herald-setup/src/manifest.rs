//! `herald manifest`: the Teams app package for this configuration — `manifest.json` (schema
//! 1.17), the colour and outline icons, and one file per extra language — as a zip that can be
//! uploaded to Teams' app catalog.
//!
//! What Herald uses decides what the manifest asks for: the bot in personal, team and group-chat
//! scopes (1:1 notifications; stored group chats and channels), `webApplicationInfo` with the
//! bot's Entra app id (Graph installs the app for people who do not have it), the
//! resource-specific permission `ChatMessageReadReceipt.Read.Chat` (read receipts), the feed's
//! activity type, and the bot's `stop` / `start` commands (opt-outs by category).

use crate::{fail, png, zip, SetupError};
use herald_engine::config::{Localized, ManifestSettings};
use herald_engine::Config;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// The manifest schema the package is written for (Microsoft's `MicrosoftTeams.schema.json`).
pub const SCHEMA_VERSION: &str = "1.17";
const SCHEMA_URL: &str =
    "https://developer.microsoft.com/en-us/json-schemas/teams/v1.17/MicrosoftTeams.schema.json";
const LOCALIZATION_SCHEMA_URL: &str = "https://developer.microsoft.com/en-us/json-schemas/teams/v1.17/MicrosoftTeams.Localization.schema.json";
/// Read receipts in 1:1 chats (`counts.seen`) need this resource-specific permission.
pub const READ_RECEIPTS_RSC: &str = "ChatMessageReadReceipt.Read.Chat";
const DEFAULT_ACCENT: &str = "#4F46E5";

/// The package: its files (name, bytes) and the zip of them.
#[derive(Debug)]
pub struct Package {
    pub manifest: Value,
    pub files: Vec<(String, Vec<u8>)>,
    pub zip: Vec<u8>,
}

/// Builds the package, or says which key to change (Teams' own limits: lengths, GUIDs, https
/// URLs, icon sizes).
pub fn package(cfg: &Config) -> Result<Package, SetupError> {
    let m = &cfg.manifest;
    let bot_id = cfg.app_id.trim();
    if !herald_core::ids::is_guid(bot_id) {
        return Err(fail(
            "app_id",
            format!("`{bot_id}` is not a Microsoft App ID (a GUID): it is the bot's Entra application (client) id"),
        ));
    }
    let id = match &m.id {
        Some(id) if herald_core::ids::is_guid(id) => id.to_ascii_lowercase(),
        Some(id) => return Err(fail("manifest.id", format!("`{id}` is not a GUID"))),
        None => derived_id(bot_id),
    };
    let version = m.version.clone().unwrap_or_else(|| "1.0.0".into());
    if !is_version(&version) {
        return Err(fail(
            "manifest.version",
            format!("`{version}` is not a version like 1.0.0 (three whole numbers)"),
        ));
    }
    let short_name = m
        .short_name
        .clone()
        .or_else(|| cfg.bot_name.clone())
        .unwrap_or_else(|| "Herald".into());
    let names = Names {
        full_name: m.full_name.clone().unwrap_or_else(|| short_name.clone()),
        short_description: m.short_description.clone().unwrap_or_else(|| {
            "Notifications from your organization, delivered in Teams.".into()
        }),
        full_description: m.full_description.clone().unwrap_or_else(|| {
            format!(
                "{short_name} delivers your organization's announcements and notifications to you in Teams. \
                 Write `stop` and a category to the bot to stop that kind (`stop all` for every kind), \
                 `start` and the category to have it again."
            )
        }),
        stop: "stop CATEGORY, or stop all: no more notifications of that kind".into(),
        start: "start CATEGORY, or start all: receive them again".into(),
        short_name,
    };
    names.check("manifest")?;
    let developer = m
        .developer_name
        .clone()
        .unwrap_or_else(|| names.short_name.clone());
    check_len("manifest.developer_name", &developer, 32)?;
    let website = match (&m.website_url, &cfg.public_url) {
        (Some(u), _) => u.clone(),
        (None, Some(u)) => format!("{u}/"),
        (None, None) => {
            return Err(fail(
                "manifest.website_url",
                "Teams requires the app's website, privacy and terms-of-use pages: set manifest.website_url (and privacy_url, terms_url), or public_url",
            ))
        }
    };
    let privacy = m.privacy_url.clone().unwrap_or_else(|| website.clone());
    let terms = m.terms_url.clone().unwrap_or_else(|| website.clone());
    for (key, url) in [
        ("manifest.website_url", &website),
        ("manifest.privacy_url", &privacy),
        ("manifest.terms_url", &terms),
    ] {
        if !url.starts_with("https://") || url::Url::parse(url).is_err() || url.len() > 2048 {
            return Err(fail(key, format!("`{url}` is not an https URL")));
        }
    }
    let accent = m
        .accent_color
        .clone()
        .unwrap_or_else(|| DEFAULT_ACCENT.into());
    let rgb = hex_colour(&accent).ok_or_else(|| {
        fail(
            "manifest.accent_color",
            format!("`{accent}` is not a colour like #4F46E5"),
        )
    })?;
    let colour = icon(m, "manifest.color_icon", 192, || png::colour_icon(rgb))?;
    let outline = icon(m, "manifest.outline_icon", 32, png::outline_icon)?;

    let mut manifest = json!({
        "$schema": SCHEMA_URL,
        "manifestVersion": SCHEMA_VERSION,
        "version": version,
        "id": id,
        "developer": {
            "name": developer,
            "websiteUrl": website,
            "privacyUrl": privacy,
            "termsOfUseUrl": terms,
        },
        "name": {"short": names.short_name, "full": names.full_name},
        "description": {"short": names.short_description, "full": names.full_description},
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": accent,
        "bots": [{
            "botId": bot_id,
            "scopes": ["personal", "team", "groupChat"],
            "isNotificationOnly": false,
            "supportsFiles": false,
            "commandLists": [{
                "scopes": ["personal"],
                "commands": [
                    {"title": "stop", "description": names.stop},
                    {"title": "start", "description": names.start},
                ],
            }],
        }],
        "permissions": ["identity", "messageTeamMembers"],
        "webApplicationInfo": {"id": bot_id},
        "authorization": {"permissions": {"resourceSpecific": [
            {"name": READ_RECEIPTS_RSC, "type": "Application"},
        ]}},
        "activities": {"activityTypes": [{
            "type": cfg.feed_activity_type,
            "description": format!("A notification from {}", names.short_name),
            "templateText": "{actor} has a notification for you",
        }]},
    });
    let doc = manifest.as_object_mut().expect("an object");
    if let Some(host) = cfg
        .public_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
        .and_then(|u| u.host_str().map(str::to_owned))
    {
        doc.insert("validDomains".into(), json!([host]));
    }
    let mut files = Vec::new();
    if !m.localization.is_empty() {
        let mut extra = Vec::new();
        for (tag, l) in &m.localization {
            let key = format!("manifest.localization.{tag}");
            if !is_language_tag(tag) || tag.eq_ignore_ascii_case("en-us") {
                return Err(fail(
                    &key,
                    format!("`{tag}` is not a language tag like fr-fr other than en-us (the manifest's own language)"),
                ));
            }
            let file = format!("{}.json", tag.to_ascii_lowercase());
            files.push((file.clone(), localization(&names.with(l), &key)?));
            extra.push(json!({"languageTag": tag, "file": file}));
        }
        doc.insert(
            "localizationInfo".into(),
            json!({"defaultLanguageTag": "en-us", "additionalLanguages": extra}),
        );
    }
    let text = serde_json::to_vec_pretty(&manifest).expect("JSON");
    files.insert(0, ("manifest.json".into(), text));
    files.insert(1, ("color.png".into(), colour));
    files.insert(2, ("outline.png".into(), outline));
    let entries: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let zip = zip::stored(&entries);
    Ok(Package {
        manifest,
        files,
        zip,
    })
}

/// The strings a language has, with Teams' length limits.
#[derive(Debug, Clone)]
struct Names {
    short_name: String,
    full_name: String,
    short_description: String,
    full_description: String,
    stop: String,
    start: String,
}

impl Names {
    fn check(&self, prefix: &str) -> Result<(), SetupError> {
        check_len(&format!("{prefix}.short_name"), &self.short_name, 30)?;
        check_len(&format!("{prefix}.full_name"), &self.full_name, 100)?;
        check_len(
            &format!("{prefix}.short_description"),
            &self.short_description,
            80,
        )?;
        check_len(
            &format!("{prefix}.full_description"),
            &self.full_description,
            4000,
        )?;
        check_len(&format!("{prefix}.stop_description"), &self.stop, 128)?;
        check_len(&format!("{prefix}.start_description"), &self.start, 128)
    }

    /// These names with a language's own where it has them.
    fn with(&self, l: &Localized) -> Names {
        let pick = |v: &Option<String>, d: &String| v.clone().unwrap_or_else(|| d.clone());
        Names {
            short_name: pick(&l.short_name, &self.short_name),
            full_name: pick(&l.full_name, &self.full_name),
            short_description: pick(&l.short_description, &self.short_description),
            full_description: pick(&l.full_description, &self.full_description),
            stop: pick(&l.stop_description, &self.stop),
            start: pick(&l.start_description, &self.start),
        }
    }
}

fn localization(n: &Names, key: &str) -> Result<Vec<u8>, SetupError> {
    n.check(key)?;
    let mut doc = Map::new();
    doc.insert("$schema".into(), json!(LOCALIZATION_SCHEMA_URL));
    doc.insert("name.short".into(), json!(n.short_name));
    doc.insert("name.full".into(), json!(n.full_name));
    doc.insert("description.short".into(), json!(n.short_description));
    doc.insert("description.full".into(), json!(n.full_description));
    doc.insert(
        "bots[0].commandLists[0].commands[0].description".into(),
        json!(n.stop),
    );
    doc.insert(
        "bots[0].commandLists[0].commands[1].description".into(),
        json!(n.start),
    );
    Ok(serde_json::to_vec_pretty(&Value::Object(doc)).expect("JSON"))
}

fn check_len(key: &str, value: &str, max: usize) -> Result<(), SetupError> {
    let n = value.chars().count();
    if n == 0 || n > max {
        return Err(fail(
            key,
            format!("Teams allows 1 to {max} characters, this is {n}"),
        ));
    }
    Ok(())
}

/// The icon file the configuration names (a PNG of `side` × `side`), or the generated one.
fn icon(
    m: &ManifestSettings,
    key: &str,
    side: u32,
    generated: impl FnOnce() -> Vec<u8>,
) -> Result<Vec<u8>, SetupError> {
    let path = if key.ends_with("color_icon") {
        &m.color_icon
    } else {
        &m.outline_icon
    };
    let Some(path) = path else {
        return Ok(generated());
    };
    let bytes = std::fs::read(path)
        .map_err(|e| fail(key, format!("cannot read {}: {e}", path.display())))?;
    match png::dimensions(&bytes) {
        Some((w, h)) if w == side && h == side => Ok(bytes),
        Some((w, h)) => Err(fail(
            key,
            format!("{} is {w}×{h}: Teams wants {side}×{side}", path.display()),
        )),
        None => Err(fail(key, format!("{} is not a PNG", path.display()))),
    }
}

/// A GUID of the bot's app id, the same every time (SHA-256, shaped as a version-8 UUID), so
/// that a package built again updates the app instead of adding another.
fn derived_id(bot_id: &str) -> String {
    let h = Sha256::digest(format!("herald teams app {}", bot_id.to_ascii_lowercase()));
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0F) | 0x80;
    b[8] = (b[8] & 0x3F) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn is_version(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 9
                && p.bytes().all(|b| b.is_ascii_digit())
                && !(p.len() > 1 && p.starts_with('0'))
        })
}

fn is_language_tag(t: &str) -> bool {
    let parts: Vec<&str> = t.split('-').collect();
    parts.len() <= 3
        && parts
            .iter()
            .all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn hex_colour(c: &str) -> Option<[u8; 3]> {
    let h = c.strip_prefix('#')?;
    if h.len() != 6 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_derived_id_is_a_stable_guid_of_the_bot() {
        let a = derived_id("8d4b3b4e-6f2a-4c1d-9e3f-5a7b9c1d3e5f");
        assert!(herald_core::ids::is_guid(&a), "{a}");
        assert_eq!(a, derived_id("8D4B3B4E-6F2A-4C1D-9E3F-5A7B9C1D3E5F"));
        assert_ne!(a, derived_id("00000000-6f2a-4c1d-9e3f-5a7b9c1d3e5f"));
    }

    #[test]
    fn versions_tags_and_colours_are_checked_as_teams_does() {
        assert!(is_version("1.0.0") && is_version("10.20.3"));
        assert!(!is_version("1.0") && !is_version("1.0.0-beta") && !is_version("01.0.0"));
        assert!(is_language_tag("fr-fr") && is_language_tag("zh-Hant-TW"));
        assert!(!is_language_tag("fr_FR") && !is_language_tag("a-b-c-d"));
        assert_eq!(hex_colour("#4F46e5"), Some([0x4F, 0x46, 0xE5]));
        assert_eq!(hex_colour("4F46E5"), None);
        assert_eq!(hex_colour("#4F46E"), None);
    }
}
