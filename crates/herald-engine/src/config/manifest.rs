//! `[manifest]`: what the Teams app package says about the app (`herald manifest`). Every key is
//! optional; `herald manifest` fills the gaps from the rest of the configuration and checks the
//! result against Teams' limits, naming the key at fault.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The app's names and descriptions in one more language (`[manifest.localization.fr-fr]`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Localized {
    pub short_name: Option<String>,
    pub full_name: Option<String>,
    pub short_description: Option<String>,
    pub full_description: Option<String>,
    /// What the bot's `stop` and `start` commands are described as in that language.
    pub stop_description: Option<String>,
    pub start_description: Option<String>,
    /// The welcome (as `welcome_text`, `{user}` and `{bot}` filled in) for people whose Teams
    /// speaks this language: the tag matches their locale, else its language alone does.
    pub welcome_text: Option<String>,
}

/// `[manifest]`: as written in the file, then with the environment's say (each key also
/// `HERALD_MANIFEST_<KEY>`, except `localization`, which only a file can hold); empty values
/// count as unset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestSettings {
    /// The manifest's own id (a GUID); unset: derived from `app_id`, the same every time.
    pub id: Option<String>,
    pub version: Option<String>,
    pub short_name: Option<String>,
    pub full_name: Option<String>,
    pub short_description: Option<String>,
    pub full_description: Option<String>,
    pub developer_name: Option<String>,
    pub website_url: Option<String>,
    pub privacy_url: Option<String>,
    pub terms_url: Option<String>,
    pub accent_color: Option<String>,
    pub color_icon: Option<PathBuf>,
    pub outline_icon: Option<PathBuf>,
    /// Language tag → names in that language.
    #[serde(default)]
    pub localization: BTreeMap<String, Localized>,
}

impl ManifestSettings {
    /// `pick(key, file value)` answers the environment's value of `HERALD_<KEY>` first.
    pub(super) fn read(
        f: Option<ManifestSettings>,
        pick: &dyn Fn(&str, Option<String>) -> Option<String>,
    ) -> Self {
        let f = f.unwrap_or_default();
        let text = |key: &str, v: Option<String>| {
            pick(&format!("manifest_{key}"), v)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let path = |key: &str, v: Option<PathBuf>| {
            text(key, v.map(|p| p.display().to_string())).map(PathBuf::from)
        };
        Self {
            id: text("id", f.id),
            version: text("version", f.version),
            short_name: text("short_name", f.short_name),
            full_name: text("full_name", f.full_name),
            short_description: text("short_description", f.short_description),
            full_description: text("full_description", f.full_description),
            developer_name: text("developer_name", f.developer_name),
            website_url: text("website_url", f.website_url),
            privacy_url: text("privacy_url", f.privacy_url),
            terms_url: text("terms_url", f.terms_url),
            accent_color: text("accent_color", f.accent_color),
            color_icon: path("color_icon", f.color_icon),
            outline_icon: path("outline_icon", f.outline_icon),
            localization: f.localization,
        }
    }
}
