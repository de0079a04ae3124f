//! What `PUT /_emulator/config` and the command line can change while the emulator runs.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Status codes a fault may inject: the transient ones Teams documents, and 500.
pub const FAULT_STATUSES: [u16; 5] = [412, 500, 502, 503, 504];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeConfig {
    /// Connector requests per second per app per tenant; 0 = no limit.
    pub tenant_rps: u32,
    /// Whether the per-conversation windows (7/1 s, 8/2 s, 60/30 s, 1800/3600 s) apply.
    pub conversation_limits: bool,
    /// Every connector call gets 403 `BotDisabledByAdmin`.
    pub bot_disabled: bool,
    /// Off: the Azure bot registration is gone, connector calls get 401 `BotNotRegistered`.
    pub bot_registered: bool,
    /// Keep every activity, update and delete per conversation (off for load tests).
    pub transcripts: bool,
    /// Graph requests per second per app; 0 = no limit. Graph answers 429 past it.
    pub graph_rps: u32,
    /// Blocked conversations answer with the older `{"errorCode":209,…MessageWritesBlocked…}`
    /// body instead of `ConversationBlockedByUser`, so clients can prove they parse both.
    pub legacy_blocked_errors: bool,
    pub faults: FaultSpec,
    /// The application permissions (`roles`) the app's Graph tokens carry; unset: every one
    /// Herald uses (`aad::APP_ROLES`). For `herald doctor`'s tests.
    #[serde(default)]
    pub graph_roles: Option<Vec<String>>,
    /// The app is missing from the tenant's catalog (`GET /appCatalogs/teamsApps` finds nothing).
    #[serde(default)]
    pub catalog_hidden: bool,
    /// Seconds added to the `Date` header of every answer, as a server with a wrong clock.
    #[serde(default)]
    pub date_skew_s: i64,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            tenant_rps: herald_core::limits::TENANT_RPS_DEFAULT,
            conversation_limits: true,
            bot_disabled: false,
            bot_registered: true,
            transcripts: true,
            graph_rps: 0,
            legacy_blocked_errors: false,
            faults: FaultSpec::default(),
            graph_roles: None,
            catalog_hidden: false,
            date_skew_s: 0,
        }
    }
}

/// Injected trouble on connector requests, drawn from a seeded sequence so that a failing run
/// replays identically.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultSpec {
    /// Probability of answering with each status, e.g. {"502": 0.02}.
    #[serde(default)]
    pub status_rates: BTreeMap<u16, f64>,
    /// Probability of holding a request without ever answering (a timeout for the client).
    #[serde(default)]
    pub rate_timeout: f64,
    /// Latency added to every connector request.
    #[serde(default)]
    pub latency_ms: u64,
    #[serde(default)]
    pub seed: u64,
    /// One connector request, the `afterRequests`-th from now, gets 429 with this Retry-After.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_once: Option<RetryAfterOnce>,
    /// From the `afterRequests`-th connector request on, for `durationMs`, Teams is down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outage: Option<Outage>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetryAfterOnce {
    pub after_requests: u64,
    pub seconds: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Outage {
    pub after_requests: u64,
    pub duration_ms: u64,
    pub mode: OutageMode,
}

/// How Teams is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OutageMode {
    /// Requests are refused at once (503), and nothing is done.
    Refuse,
    /// Requests are held unanswered (the client times out), and nothing is done.
    Hold,
    /// Requests are carried out, but their answers never come: the client times out on a
    /// message that was delivered.
    DropResponse,
}

impl FaultSpec {
    /// Checks codes and probabilities; the error names the offending field.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let mut total = 0.0;
        for (code, rate) in &self.status_rates {
            let at = format!("/faults/statusRates/{code}");
            if !FAULT_STATUSES.contains(code) {
                return Err((
                    at,
                    format!("status {code} cannot be injected; use one of 412, 500, 502, 503, 504"),
                ));
            }
            if !(0.0..=1.0).contains(rate) {
                return Err((at, format!("rate {rate} is not between 0 and 1")));
            }
            total += rate;
        }
        if !(0.0..=1.0).contains(&self.rate_timeout) {
            return Err((
                "/faults/rateTimeout".into(),
                format!("rate {} is not between 0 and 1", self.rate_timeout),
            ));
        }
        total += self.rate_timeout;
        if let Some(r) = &self.retry_after_once {
            if r.seconds == 0 || r.seconds > 3600 {
                return Err((
                    "/faults/retryAfterOnce/seconds".into(),
                    format!("{} s is not 1 to 3600", r.seconds),
                ));
            }
        }
        if let Some(o) = &self.outage {
            if o.duration_ms == 0 || o.duration_ms > 24 * 3_600_000 {
                return Err((
                    "/faults/outage/durationMs".into(),
                    format!("{} ms is not 1 ms to a day", o.duration_ms),
                ));
            }
        }
        if total > 1.0 + 1e-9 {
            return Err((
                "/faults".into(),
                format!("the rates add up to {total}, more than 1"),
            ));
        }
        Ok(())
    }

    /// Parses the command-line form: `502=0.05,503=0.02,timeout=0.01,latency=20ms,seed=7`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut out = Self::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not KEY=VALUE"))?;
            let rate = || {
                v.parse::<f64>()
                    .map_err(|_| format!("`{v}` in `{part}` is not a number"))
            };
            match k.trim() {
                "timeout" => out.rate_timeout = rate()?,
                "latency" => {
                    let ms = v.trim_end_matches("ms");
                    out.latency_ms = ms
                        .parse()
                        .map_err(|_| format!("`{v}` in `{part}` is not milliseconds"))?;
                }
                "seed" => {
                    out.seed = v
                        .parse()
                        .map_err(|_| format!("`{v}` in `{part}` is not an integer"))?
                }
                code => {
                    let code: u16 = code.parse().map_err(|_| {
                        format!(
                            "unknown fault `{code}`: use a status code, timeout, latency or seed"
                        )
                    })?;
                    out.status_rates.insert(code, rate()?);
                }
            }
        }
        out.validate().map_err(|(at, why)| format!("{at}: {why}"))?;
        Ok(out)
    }
}

/// A partial update: absent fields keep their value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigPatch {
    pub tenant_rps: Option<u32>,
    pub conversation_limits: Option<bool>,
    pub bot_disabled: Option<bool>,
    pub bot_registered: Option<bool>,
    pub transcripts: Option<bool>,
    pub graph_rps: Option<u32>,
    pub legacy_blocked_errors: Option<bool>,
    pub faults: Option<FaultSpec>,
    /// `[]` or a list; `null` restores every role.
    #[serde(default, deserialize_with = "present")]
    pub graph_roles: Option<Option<Vec<String>>>,
    pub catalog_hidden: Option<bool>,
    pub date_skew_s: Option<i64>,
    /// Where Teams posts activities from now on.
    pub bot_endpoint: Option<String>,
}

impl ConfigPatch {
    pub fn apply(self, c: &mut RuntimeConfig) -> Result<(), (String, String)> {
        if let Some(f) = &self.faults {
            f.validate()?;
        }
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = self.$f { c.$f = v; } )* };
        }
        set!(
            tenant_rps,
            conversation_limits,
            bot_disabled,
            bot_registered,
            transcripts,
            graph_rps,
            legacy_blocked_errors,
            faults,
            graph_roles,
            catalog_hidden,
            date_skew_s
        );
        Ok(())
    }
}

/// A field that may be `null` on purpose: present-and-null is `Some(None)`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_command_line_form() {
        let f = FaultSpec::parse("502=0.05, 503=0.02,timeout=0.01,latency=20ms,seed=7").unwrap();
        assert_eq!(f.status_rates[&502], 0.05);
        assert_eq!(f.status_rates[&503], 0.02);
        assert_eq!(f.rate_timeout, 0.01);
        assert_eq!(f.latency_ms, 20);
        assert_eq!(f.seed, 7);
    }

    #[test]
    fn refuses_what_cannot_be_injected() {
        assert!(FaultSpec::parse("404=0.1")
            .unwrap_err()
            .contains("412, 500"));
        assert!(FaultSpec::parse("502=1.5")
            .unwrap_err()
            .contains("between 0 and 1"));
        assert!(FaultSpec::parse("502=0.6,503=0.6")
            .unwrap_err()
            .contains("more than 1"));
        assert!(FaultSpec::parse("bogus").unwrap_err().contains("KEY=VALUE"));
        assert!(FaultSpec::parse("flaky=0.1")
            .unwrap_err()
            .contains("unknown fault"));
    }
}
