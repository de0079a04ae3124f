//! Requests to URLs a caller names (answer callbacks): never to this machine or its private
//! network unless the operator allowed the host (`callback_allowed_hosts`). Otherwise whoever may
//! create a notification could make Herald POST to `https://169.254.169.254/…`, an admin port on
//! localhost, or a service behind the firewall (server-side request forgery).
//!
//! The rule is checked twice: when the notification is accepted (the host is resolved, and a
//! private address is a 422), and when each callback connects — through a resolver that drops
//! private addresses, so a name that resolved to a public address at accept and to a private one
//! later (DNS rebinding) is still refused. Redirects are not followed and no proxy is used, so
//! the address checked is the address connected to.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// How long resolving a callback host may take when a notification is accepted.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

/// Loopback, private, link-local, shared, reserved, multicast and the like: anything that is not
/// a public unicast address on the internet.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => is_private_v4(a),
        IpAddr::V6(a) => {
            if let Some(v4) = a.to_ipv4_mapped() {
                return is_private_v4(v4);
            }
            let s = a.segments();
            a.is_loopback()
                || a.is_unspecified()
                || a.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address.
                || (s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0]
                    && is_private_v4(embedded_v4(s[6], s[7])))
                || (s[0] == 0x2002 && is_private_v4(embedded_v4(s[1], s[2])))
                // IPv4-compatible (::a.b.c.d, deprecated).
                || (s[..6] == [0, 0, 0, 0, 0, 0] && is_private_v4(embedded_v4(s[6], s[7])))
        }
    }
}

fn embedded_v4(hi: u16, lo: u16) -> Ipv4Addr {
    let [a, b] = hi.to_be_bytes();
    let [c, d] = lo.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

fn is_private_v4(a: Ipv4Addr) -> bool {
    let o = a.octets();
    a.is_private()
        || a.is_loopback()
        || a.is_link_local()
        || a.is_unspecified()
        || a.is_broadcast()
        || a.is_multicast()
        || a.is_documentation()
        || o[0] == 0 // "this network"
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space 100.64/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
        || o[0] >= 240 // reserved
}

/// A host as compared with `callback_allowed_hosts`: lower case, no brackets, no final dot.
pub fn normalize_host(h: &str) -> String {
    h.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// The hosts a callback may reach even on private addresses.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts(Arc<Vec<String>>);

impl AllowedHosts {
    pub fn new(hosts: &[String]) -> Self {
        Self(Arc::new(hosts.iter().map(|h| normalize_host(h)).collect()))
    }

    pub fn allows(&self, host: &str) -> bool {
        let h = normalize_host(host);
        self.0.contains(&h)
    }
}

/// Checks a callback URL when a notification is accepted; the error says what to change.
pub async fn check_callback_url(url: &str, allowed: &AllowedHosts) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    let Some(host) = parsed.host_str().filter(|h| !h.is_empty()) else {
        return Err(format!("`{url}` names no host"));
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("a callback URL carries no user name or password (callbacks are signed with HERALD_CALLBACK_SECRET)".into());
    }
    let listed = allowed.allows(host);
    match parsed.scheme() {
        "https" => {}
        "http" if listed => {}
        "http" => {
            return Err(format!(
                "`{url}`: callbacks go over https (plain http only to a host in callback_allowed_hosts)"
            ))
        }
        other => return Err(format!("`{url}`: the scheme must be https, not {other}")),
    }
    if listed {
        return Ok(());
    }
    let port = parsed.port_or_known_default().unwrap_or(443);
    let addrs: Vec<IpAddr> = match parsed.host() {
        Some(url::Host::Ipv4(a)) => vec![IpAddr::V4(a)],
        Some(url::Host::Ipv6(a)) => vec![IpAddr::V6(a)],
        _ => match tokio::time::timeout(
            RESOLVE_TIMEOUT,
            tokio::net::lookup_host((host.to_owned(), port)),
        )
        .await
        {
            Ok(Ok(found)) => found.map(|a| a.ip()).collect(),
            Ok(Err(_)) | Err(_) => {
                return Err(format!("the callback host `{host}` does not resolve"));
            }
        },
    };
    if let Some(ip) = addrs.iter().find(|ip| is_private(**ip)) {
        return Err(format!(
            "the callback host `{host}` is a private, loopback or link-local address ({ip}); \
             add it to callback_allowed_hosts if Herald should call it"
        ));
    }
    if addrs.is_empty() {
        return Err(format!("the callback host `{host}` does not resolve"));
    }
    Ok(())
}

/// At connect time: an address literal in the URL (which skips the resolver) must be public
/// unless its host is allowed.
pub fn check_literal(url: &reqwest::Url, allowed: &AllowedHosts) -> Result<(), String> {
    let ip = match url.host() {
        Some(url::Host::Ipv4(a)) => IpAddr::V4(a),
        Some(url::Host::Ipv6(a)) => IpAddr::V6(a),
        _ => return Ok(()),
    };
    if is_private(ip) && !allowed.allows(&ip.to_string()) {
        return Err(format!("{ip} is a private address"));
    }
    Ok(())
}

/// A resolver that drops private addresses of hosts that are not allowed.
struct Guarded {
    allowed: AllowedHosts,
}

impl Resolve for Guarded {
    fn resolve(&self, name: Name) -> Resolving {
        let allowed = self.allowed.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if allowed.allows(&host) {
                return Ok(Box::new(found.into_iter()) as Addrs);
            }
            let public: Vec<SocketAddr> =
                found.into_iter().filter(|a| !is_private(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host} resolves only to private addresses").into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// The HTTP client for callbacks: private addresses refused at connect time, no redirects, no
/// proxy, a 10 s timeout.
pub fn callback_client(allowed: &AllowedHosts) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(Guarded {
            allowed: allowed.clone(),
        }))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "::7f00:1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "52.96.1.1", "2a01:111::1", "::ffff:8.8.8.8"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn callback_urls_at_accept() {
        let none = AllowedHosts::default();
        for (url, needle) in [
            ("https://127.0.0.1/hook", "private"),
            ("https://[::1]:8443/hook", "private"),
            ("https://169.254.169.254/latest/meta-data", "private"),
            ("https://localhost/hook", "private"),
            ("http://example.com/hook", "https"),
            ("https://user:pw@example.com/hook", "password"),
            ("ftp://example.com/", "scheme"),
            ("https://no-such-host.invalid/hook", "does not resolve"),
            ("not a url", "not a URL"),
        ] {
            let e = check_callback_url(url, &none).await.unwrap_err();
            assert!(e.contains(needle), "{url}: {e}");
        }
        let local = AllowedHosts::new(&["127.0.0.1".into(), "LOCALHOST".into(), "[::1]".into()]);
        for url in [
            "http://127.0.0.1:9000/hook",
            "http://localhost/hook",
            "https://[::1]/x",
        ] {
            check_callback_url(url, &local).await.unwrap();
        }
        let u = reqwest::Url::parse("https://10.0.0.1/x").unwrap();
        assert!(check_literal(&u, &none).is_err());
        assert!(check_literal(&u, &AllowedHosts::new(&["10.0.0.1".into()])).is_ok());
    }
}
