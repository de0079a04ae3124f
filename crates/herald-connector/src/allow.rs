//! `allowed_service_urls`: Herald sends its access token to a conversation's `serviceUrl`, so
//! only allow-listed hosts are ever stored or called. Each entry is a URL prefix; a trailing `*`
//! matches the rest. Scheme, host and port must match exactly; `http` only for loopback hosts.

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    scheme: String,
    host: String,
    port: u16,
    path: String,
    wildcard: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AllowList {
    entries: Vec<Entry>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AllowListError {
    #[error("`{0}` is not an absolute http(s) URL")]
    NotAUrl(String),
    #[error("`{0}` uses http for a host that is not loopback; use https")]
    PlainHttp(String),
}

/// Microsoft's public and government-cloud connector hosts.
pub const DEFAULT_ALLOWED: &str = "https://smba.trafficmanager.net/*,https://smba.infra.gcc.teams.microsoft.com/*,https://smba.infra.gov.teams.microsoft.us/*,https://smba.infra.dod.teams.microsoft.us/*";

struct Parts {
    scheme: String,
    host: String,
    port: u16,
    path: String,
}

/// A URL as a browser (and reqwest) would request it: parsed by the WHATWG rules, so that
/// `..`, `%2e%2e` and `\` segments are resolved before the path is compared. Credentials, a
/// query, a fragment, and encoded dots or slashes left in the path (which a server might decode
/// later) are refused: Teams' service URLs have none of them.
fn split(url: &str) -> Option<Parts> {
    let u = url::Url::parse(url).ok()?;
    let scheme = u.scheme().to_owned();
    if scheme != "https" && scheme != "http" {
        return None;
    }
    if !u.username().is_empty() || u.password().is_some() || u.query().is_some() {
        return None;
    }
    if u.fragment().is_some() {
        return None;
    }
    let host = u.host_str().filter(|h| !h.is_empty())?.to_owned();
    let path = u.path().to_owned();
    let lower = path.to_ascii_lowercase();
    if ["%2e", "%2f", "%5c", "%00"]
        .iter()
        .any(|e| lower.contains(e))
    {
        return None;
    }
    Some(Parts {
        port: u.port_or_known_default()?,
        scheme,
        host,
        path,
    })
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl AllowList {
    pub fn parse(spec: &str) -> Result<Self, AllowListError> {
        let mut entries = Vec::new();
        for raw in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (prefix, wildcard) = match raw.strip_suffix('*') {
                Some(p) => (p, true),
                None => (raw, false),
            };
            let p = split(prefix).ok_or_else(|| AllowListError::NotAUrl(raw.to_owned()))?;
            if p.scheme == "http" && !is_loopback(&p.host) {
                return Err(AllowListError::PlainHttp(raw.to_owned()));
            }
            entries.push(Entry {
                scheme: p.scheme,
                host: p.host,
                port: p.port,
                path: p.path,
                wildcard,
            });
        }
        Ok(Self { entries })
    }

    pub fn allows(&self, url: &str) -> bool {
        let Some(p) = split(url) else { return false };
        if p.scheme == "http" && !is_loopback(&p.host) {
            return false;
        }
        self.entries.iter().any(|e| {
            e.scheme == p.scheme
                && e.host == p.host
                && e.port == p.port
                && if e.wildcard {
                    p.path.starts_with(&e.path)
                } else {
                    p.path.trim_end_matches('/') == e.path.trim_end_matches('/')
                }
        })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_allow_microsoft_hosts_only() {
        let a = AllowList::parse(DEFAULT_ALLOWED).unwrap();
        assert!(a.allows("https://smba.trafficmanager.net/teams/"));
        assert!(a.allows("https://smba.trafficmanager.net/amer/"));
        assert!(a.allows("https://smba.infra.gov.teams.microsoft.us/gcch"));
        assert!(a.allows("https://smba.infra.dod.teams.microsoft.us/teams/"));
        assert!(!a.allows("https://smba.trafficmanager.net.evil.example/teams/"));
        assert!(!a.allows("https://evil.example/smba.trafficmanager.net/"));
        assert!(
            !a.allows("http://smba.trafficmanager.net/teams/"),
            "scheme must match"
        );
        assert!(
            !a.allows("https://smba.trafficmanager.net:8443/teams/"),
            "port must match"
        );
        assert!(!a.allows("https://user@smba.trafficmanager.net/teams/"));
        assert!(!a.allows("not a url"));
    }

    #[test]
    fn loopback_may_use_http_and_ports_must_match() {
        let a = AllowList::parse("http://127.0.0.1:3979/*").unwrap();
        assert!(a.allows("http://127.0.0.1:3979/"));
        assert!(a.allows("http://127.0.0.1:3979"));
        assert!(!a.allows("http://127.0.0.1:3980/"));
        assert!(!a.allows("http://127.0.0.2.evil:3979/"));
        assert_eq!(
            AllowList::parse("http://example.com/*"),
            Err(AllowListError::PlainHttp("http://example.com/*".into()))
        );
        assert!(AllowList::parse("ftp://x/*").is_err());
    }

    #[test]
    fn paths_are_compared_as_they_will_be_requested() {
        let a = AllowList::parse("https://h.example/teams/*").unwrap();
        for bad in [
            "https://h.example/teams/%2e%2e/admin/",
            "https://h.example/teams/%2E%2E/admin/",
            "https://h.example/teams/.%2e/admin/",
            "https://h.example/teams/..\\admin/",
            "https://h.example/teams/x%2f..%2f..%2fadmin",
            "https://h.example/teams/x?y=1",
            "https://h.example/teams/x#frag",
            "https://h.example:443@evil.example/teams/",
            "https://evil.example\\@h.example/teams/",
        ] {
            assert!(!a.allows(bad), "{bad}");
        }
        assert!(a.allows("https://h.example/teams/./x/"));
        assert!(a.allows("https://H.EXAMPLE:443/teams/a/../b/"));
    }

    #[test]
    fn exact_entries_and_path_prefixes() {
        let a = AllowList::parse("https://h.example/teams/*,https://x.example/only").unwrap();
        assert!(a.allows("https://h.example/teams/abc"));
        assert!(!a.allows("https://h.example/other/"));
        assert!(!a.allows("https://h.example/teams/../other/"));
        assert!(a.allows("https://x.example/only/"));
        assert!(!a.allows("https://x.example/only/more"));
        assert!(
            a.allows("HTTPS://H.EXAMPLE/teams/x"),
            "scheme and host are case-insensitive"
        );
    }
}
