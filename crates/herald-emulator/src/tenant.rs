//! The simulated directory: users (some of them guests from another tenant), teams and nested
//! groups — seeded from `--users N` or loaded from a JSON file shaped like
//! `GET /_emulator/tenant`.

use anyhow::{bail, Context as _};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;

pub const DEFAULT_TENANT_ID: &str = "5d2e6f1a-8c3b-4e7d-9a0f-1b2c3d4e5f60";
pub const DEFAULT_DOMAIN: &str = "sandbox.example";
pub const DEFAULT_APP_ID: &str = "8d4b3b4e-6f2a-4c1d-9e3f-5a7b9c1d3e5f";
/// A sandbox-only secret: the emulator is a local test double, not an identity provider.
pub const DEFAULT_APP_PASSWORD: &str = "sandbox-app-password";
pub const DEFAULT_TEAMS_APP_ID: &str = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f";
pub const DEFAULT_MANIFEST_ID: &str = "b5e6f7a8-9b0c-4d1e-8f2a-3b4c5d6e7f80";
pub const DEFAULT_USER_PASSWORD: &str = "sandbox-user-password";
const GUEST_TENANT_ID: &str = "9e8d7c6b-5a49-4382-a1f0-e9d8c7b6a594";
const GUEST_DOMAIN: &str = "partner.example";

/// Where the tenant comes from.
#[derive(Debug, Clone)]
pub enum TenantSpec {
    Seeded {
        users: usize,
    },
    /// Seeded, every member (not the guests) with the bot already installed.
    SeededInstalled {
        users: usize,
    },
    File(PathBuf),
    Inline(Box<TenantFile>),
}

impl TenantSpec {
    pub fn build(&self) -> anyhow::Result<Tenant> {
        match self {
            TenantSpec::Seeded { users } => Ok(Tenant::seeded(*users)),
            TenantSpec::SeededInstalled { users } => {
                let mut t = Tenant::seeded(*users);
                t.preinstalled = (0..*users).collect();
                Ok(t)
            }
            TenantSpec::File(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read tenant file {}", path.display()))?;
                let file: TenantFile = serde_json::from_str(&text)
                    .with_context(|| format!("{} is not a tenant file", path.display()))?;
                Tenant::from_file(file)
            }
            TenantSpec::Inline(file) => Tenant::from_file((**file).clone()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub aad: String,
    pub upn: String,
    pub mail: String,
    pub display_name: String,
    pub given_name: String,
    pub surname: String,
    /// The Teams id, `29:…`.
    pub teams_id: String,
    pub guest: bool,
    pub home_tenant: String,
}

#[derive(Debug, Clone)]
pub struct Team {
    /// The team's Graph id (its Microsoft 365 group).
    pub group_id: String,
    /// The team's Bot Framework id, also its General channel's conversation id.
    pub thread_id: String,
    pub name: String,
    pub members: Vec<usize>,
    pub bot_installed: bool,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    pub display_name: String,
    pub members: Vec<usize>,
    pub groups: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct Tenant {
    pub tenant_id: String,
    pub domain: String,
    pub app_id: String,
    pub app_password: String,
    pub app_name: String,
    pub teams_app_id: String,
    pub manifest_id: String,
    pub user_password: String,
    pub users: Vec<User>,
    pub teams: Vec<Team>,
    pub groups: Vec<Group>,
    /// Users installed (personal scope) when the emulator starts.
    pub preinstalled: Vec<usize>,
    pub preblocked: Vec<usize>,
}

/// The file form of a tenant; also what `GET /_emulator/tenant` returns.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantFile {
    #[serde(default)]
    pub tenant_id: Option<String>,
    #[serde(default)]
    pub domain: Option<String>,
    #[serde(default)]
    pub app_id: Option<String>,
    #[serde(default, skip_serializing)]
    pub app_password: Option<String>,
    #[serde(default)]
    pub app_name: Option<String>,
    #[serde(default)]
    pub teams_app_id: Option<String>,
    #[serde(default)]
    pub manifest_id: Option<String>,
    #[serde(default, skip_serializing)]
    pub user_password: Option<String>,
    pub users: Vec<UserEntry>,
    #[serde(default)]
    pub teams: Vec<TeamEntry>,
    #[serde(default)]
    pub groups: Vec<GroupEntry>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserEntry {
    pub upn: String,
    #[serde(default)]
    pub aad_object_id: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub surname: Option<String>,
    #[serde(default)]
    pub mail: Option<String>,
    #[serde(default)]
    pub guest: bool,
    #[serde(default)]
    pub installed: bool,
    #[serde(default)]
    pub blocked: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamEntry {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub aad_group_id: Option<String>,
    pub name: String,
    /// AAD object ids or UPNs.
    #[serde(default)]
    pub member_ids: Vec<String>,
    #[serde(default)]
    pub bot_installed: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupEntry {
    #[serde(default)]
    pub id: Option<String>,
    pub display_name: String,
    /// AAD object ids or UPNs of direct user members.
    #[serde(default)]
    pub member_ids: Vec<String>,
    /// Ids or display names of direct member groups.
    #[serde(default)]
    pub group_ids: Vec<String>,
}

/// SplitMix64 over a label: stable pseudo-random bits for stable ids.
pub fn stable_bits(label: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in label.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    let mut z = h.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A version-4-shaped GUID derived from `label`.
pub fn stable_guid(label: &str) -> String {
    let a = stable_bits(label);
    let b = stable_bits(&format!("{label}#2"));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

/// An opaque id in Teams' base64-ish alphabet.
pub fn stable_token(label: &str, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(len);
    let mut i = 0u64;
    while out.len() < len {
        let mut bits = stable_bits(&format!("{label}/{i}"));
        for _ in 0..10 {
            if out.len() == len {
                break;
            }
            out.push(ALPHABET[(bits & 63) as usize] as char);
            bits >>= 6;
        }
        i += 1;
    }
    out
}

const GIVEN: [&str; 24] = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "Ken",
    "Margaret",
    "Dennis",
    "Radia",
    "Tim",
    "Hedy",
    "Linus",
    "Katherine",
    "John",
    "Shafi",
    "Leslie",
    "Annie",
    "Niklaus",
    "Sophie",
    "Yukihiro",
    "Karen",
    "Guido",
];
const SURNAMES: [&str; 20] = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Thompson",
    "Hamilton",
    "Ritchie",
    "Perlman",
    "Berners",
    "Lamarr",
    "Torvalds",
    "Johnson",
    "Backus",
    "Goldwasser",
    "Lamport",
    "Easley",
    "Wirth",
];

impl Tenant {
    fn empty() -> Self {
        Self {
            tenant_id: DEFAULT_TENANT_ID.into(),
            domain: DEFAULT_DOMAIN.into(),
            app_id: DEFAULT_APP_ID.into(),
            app_password: DEFAULT_APP_PASSWORD.into(),
            app_name: "Herald Sandbox".into(),
            teams_app_id: DEFAULT_TEAMS_APP_ID.into(),
            manifest_id: DEFAULT_MANIFEST_ID.into(),
            user_password: DEFAULT_USER_PASSWORD.into(),
            users: Vec::new(),
            teams: Vec::new(),
            groups: Vec::new(),
            preinstalled: Vec::new(),
            preblocked: Vec::new(),
        }
    }

    fn make_user(&self, upn: &str, display: Option<String>, guest: bool, n: usize) -> User {
        let aad = stable_guid(&format!("{}/user/{upn}", self.tenant_id));
        let given = GIVEN[n % GIVEN.len()].to_owned();
        let surname = SURNAMES[(n / GIVEN.len() + n) % SURNAMES.len()].to_owned();
        User {
            teams_id: format!("29:1{}", stable_token(&aad, 43)),
            display_name: display.unwrap_or_else(|| format!("{given} {surname}")),
            given_name: given,
            surname,
            mail: upn.to_owned(),
            upn: upn.to_owned(),
            aad,
            guest,
            home_tenant: if guest {
                GUEST_TENANT_ID.into()
            } else {
                self.tenant_id.clone()
            },
        }
    }

    /// `user1@sandbox.example` … `userN@sandbox.example`, a few guests from partner.example,
    /// four teams (none with the bot installed) and nested groups.
    pub fn seeded(n: usize) -> Self {
        let mut t = Self::empty();
        for i in 1..=n {
            let upn = format!("user{i}@{}", t.domain);
            let u = t.make_user(&upn, None, false, i - 1);
            t.users.push(u);
        }
        let guests = (n / 50).clamp(2, 50);
        for k in 1..=guests {
            let mail = format!("guest{k}@{GUEST_DOMAIN}");
            let upn = format!("guest{k}_{GUEST_DOMAIN}#EXT#@{}", t.domain);
            let mut u = t.make_user(&upn, Some(format!("Guest {k} (Partner)")), true, k);
            u.mail = mail;
            t.users.push(u);
        }
        let members: Vec<usize> = (0..n).collect();
        let guest_ids: Vec<usize> = (n..n + guests).collect();
        let slice = |from: f64, to: f64| -> Vec<usize> {
            let a = (n as f64 * from) as usize;
            let b = ((n as f64 * to) as usize).max(a.min(n));
            members[a.min(n)..b.min(n)].to_vec()
        };
        let engineering = slice(0.0, 0.4);
        let platform = slice(0.0, 0.15);
        let sales = slice(0.4, 0.7);
        let leadership: Vec<usize> = members.iter().copied().take(5).collect();
        let with_guest = |mut v: Vec<usize>, g: usize| {
            if let Some(&id) = guest_ids.get(g) {
                v.push(id);
            }
            v
        };
        for (name, m) in [
            ("All Company", members.clone()),
            ("Engineering", with_guest(engineering.clone(), 0)),
            ("Sales", with_guest(sales.clone(), 1)),
            ("Leadership", leadership),
        ] {
            t.add_team(name, m, false);
        }
        // Groups nest: All Staff ⊃ {Engineering Group ⊃ Platform Group, Sales Group}.
        let platform_g = t.add_group("Platform Group", platform, vec![]);
        let eng_g = t.add_group(
            "Engineering Group",
            with_guest(engineering, 0),
            vec![platform_g],
        );
        let sales_g = t.add_group("Sales Group", sales, vec![]);
        let rest = slice(0.7, 1.0);
        t.add_group("All Staff", rest, vec![eng_g, sales_g]);
        t.add_group("Partners", guest_ids, vec![]);
        t
    }

    fn add_team(&mut self, name: &str, members: Vec<usize>, bot_installed: bool) -> usize {
        let group_id = stable_guid(&format!("{}/team/{name}", self.tenant_id));
        self.teams.push(Team {
            thread_id: format!("19:{}@thread.tacv2", stable_token(&group_id, 32)),
            group_id,
            name: name.to_owned(),
            members,
            bot_installed,
        });
        self.teams.len() - 1
    }

    fn add_group(&mut self, name: &str, members: Vec<usize>, groups: Vec<usize>) -> usize {
        self.groups.push(Group {
            id: stable_guid(&format!("{}/group/{name}", self.tenant_id)),
            display_name: name.to_owned(),
            members,
            groups,
        });
        self.groups.len() - 1
    }

    pub fn from_file(f: TenantFile) -> anyhow::Result<Self> {
        let mut t = Self::empty();
        macro_rules! take {
            ($($field:ident),*) => { $( if let Some(v) = f.$field { t.$field = v; } )* };
        }
        take!(
            tenant_id,
            domain,
            app_id,
            app_password,
            app_name,
            teams_app_id,
            manifest_id,
            user_password
        );
        let mut index: HashMap<String, usize> = HashMap::new();
        for (n, e) in f.users.into_iter().enumerate() {
            if e.upn.trim().is_empty() {
                bail!("users[{n}] has no upn");
            }
            let mut u = t.make_user(&e.upn, e.display_name, e.guest, n);
            if let Some(aad) = e.aad_object_id {
                u.aad = aad;
            }
            if let Some(id) = e.id {
                u.teams_id = id;
            }
            if let Some(v) = e.given_name {
                u.given_name = v;
            }
            if let Some(v) = e.surname {
                u.surname = v;
            }
            if let Some(v) = e.mail {
                u.mail = v;
            }
            for key in [&u.aad, &u.upn] {
                if index.insert(key.to_lowercase(), n).is_some() {
                    bail!("users[{n}]: `{key}` is used by two users");
                }
            }
            if e.installed {
                t.preinstalled.push(n);
            }
            if e.blocked {
                t.preblocked.push(n);
            }
            t.users.push(u);
        }
        let resolve = |what: &str, ids: &[String]| -> anyhow::Result<Vec<usize>> {
            ids.iter()
                .map(|id| {
                    index
                        .get(&id.to_lowercase())
                        .copied()
                        .with_context(|| format!("{what}: no user `{id}`"))
                })
                .collect()
        };
        for (i, team) in f.teams.into_iter().enumerate() {
            let members = resolve(&format!("teams[{i}]"), &team.member_ids)?;
            let k = t.add_team(&team.name, members, team.bot_installed);
            if let Some(id) = team.id {
                t.teams[k].thread_id = id;
            }
            if let Some(id) = team.aad_group_id {
                t.teams[k].group_id = id;
            }
        }
        let mut pending = Vec::new();
        for (i, g) in f.groups.into_iter().enumerate() {
            let members = resolve(&format!("groups[{i}]"), &g.member_ids)?;
            let k = t.add_group(&g.display_name, members, vec![]);
            if let Some(id) = g.id {
                t.groups[k].id = id;
            }
            pending.push((k, g.group_ids));
        }
        for (k, refs) in pending {
            for r in refs {
                let j = t
                    .groups
                    .iter()
                    .position(|g| g.id.eq_ignore_ascii_case(&r) || g.display_name == r)
                    .with_context(|| {
                        format!(
                            "group `{}`: no member group `{r}`",
                            t.groups[k].display_name
                        )
                    })?;
                t.groups[k].groups.push(j);
            }
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_tenant_is_stable_and_shaped_as_documented() {
        let a = Tenant::seeded(100);
        let b = Tenant::seeded(100);
        assert_eq!(a.users[0].aad, b.users[0].aad);
        assert_eq!(a.users[0].upn, "user1@sandbox.example");
        assert!(a.users[0].teams_id.starts_with("29:1"));
        assert!(herald_core::ids::is_guid(&a.users[0].aad));
        assert_eq!(a.users.iter().filter(|u| u.guest).count(), 2);
        assert_eq!(a.users.len(), 102);
        assert_eq!(a.teams.len(), 4);
        let eng = a
            .groups
            .iter()
            .find(|g| g.display_name == "Engineering Group")
            .unwrap();
        assert_eq!(eng.groups.len(), 1, "Engineering nests Platform");
        let ids: std::collections::HashSet<_> = a.users.iter().map(|u| &u.aad).collect();
        assert_eq!(ids.len(), a.users.len(), "ids are unique");
    }

    #[test]
    fn file_with_unknown_member_is_refused_with_its_place() {
        let f: TenantFile = serde_json::from_str(
            r#"{"users":[{"upn":"a@x.example"}],"teams":[{"name":"T","memberIds":["b@x.example"]}]}"#,
        )
        .unwrap();
        let err = Tenant::from_file(f).unwrap_err().to_string();
        assert!(
            err.contains("teams[0]") && err.contains("b@x.example"),
            "{err}"
        );
    }
}
