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
pub const DEFAULT_ALLOWED: &str = "https://smba.trafficmanager.net/*,https://smba.infra.gcc.teams.microsoft.com/*,https://smba.infra.gov.teams.microsoft.us/*";

struct Parts {
    scheme: String,
    host: String,
    port: u16,
    path: String,
}

fn split(url: &str) -> Option<Parts> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => 443,
        "http" => 80,
        _ => return None,
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => match p.parse::<u16>() {
            Ok(p) => (h, p),
            Err(_) => return None,
        },
        _ => (authority, default_port),
    };
    Some(Parts {
        scheme,
        host: host.to_ascii_lowercase(),
        port,
        path: path.to_owned(),
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
        // A path that climbs out of the allowed prefix is not inside it.
        if p.path.contains("/../") || p.path.ends_with("/..") {
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
