//! Injected trouble on connector requests. Seeded draws — the n-th request of a run always gets
//! the same fate — and scheduled events: one `Retry-After`, an outage of some length (refused,
//! held, or carried out with its answer dropped), decided on arrival by `scheduled`.

use crate::config::{FaultSpec, OutageMode};
use crate::Shared;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use herald_wire::connector::codes;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// How long a held request waits before the emulator gives up on it.
pub const HOLD: Duration = Duration::from_secs(300);

/// What the schedule holds for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheduled {
    None,
    RetryAfter(u64),
    Outage(OutageMode),
}

/// The scheduled fault of the `seq`-th connector request (counted from when the faults were
/// set) at `now_ms`; `outage_started` remembers when the outage began.
pub fn scheduled(
    spec: &FaultSpec,
    seq: u64,
    now_ms: u64,
    outage_started: &mut Option<u64>,
) -> Scheduled {
    if let Some(r) = &spec.retry_after_once {
        if seq == r.after_requests {
            return Scheduled::RetryAfter(r.seconds);
        }
    }
    if let Some(o) = &spec.outage {
        if seq >= o.after_requests {
            let start = *outage_started.get_or_insert(now_ms);
            if now_ms < start + o.duration_ms {
                return Scheduled::Outage(o.mode);
            }
        }
    }
    Scheduled::None
}

/// Middleware on the connector's routes: the scheduled faults, before anything else is done.
pub async fn schedule(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let fate = {
        let c = s.config.read();
        let seq = s.scheduled_seq.fetch_add(1, Ordering::Relaxed);
        scheduled(
            &c.faults,
            seq,
            s.clock.now_ms(),
            &mut s.outage_started.lock(),
        )
    };
    let failure = |status: StatusCode, code: &str, message: &str| {
        crate::error::connector(status, code, message)
    };
    match fate {
        Scheduled::None => next.run(req).await,
        Scheduled::RetryAfter(secs) => crate::error::throttled(
            failure(
                StatusCode::TOO_MANY_REQUESTS,
                codes::THROTTLED,
                "The app is being throttled.",
            ),
            secs * 1000,
        ),
        Scheduled::Outage(OutageMode::Refuse) => failure(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::SERVICE_ERROR,
            "The service is unavailable.",
        ),
        Scheduled::Outage(OutageMode::Hold) => {
            tokio::time::sleep(HOLD).await;
            failure(
                StatusCode::GATEWAY_TIMEOUT,
                codes::GATEWAY_TIMEOUT,
                "The request timed out.",
            )
        }
        Scheduled::Outage(OutageMode::DropResponse) => {
            let _carried_out = next.run(req).await;
            tokio::time::sleep(HOLD).await;
            failure(
                StatusCode::GATEWAY_TIMEOUT,
                codes::GATEWAY_TIMEOUT,
                "The request timed out.",
            )
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    Status(u16),
    /// Never answer: the client times out.
    Hold,
}

/// The fate of request number `seq` under `spec`.
pub fn draw(spec: &FaultSpec, seq: u64) -> Fault {
    if spec.status_rates.is_empty() && spec.rate_timeout <= 0.0 {
        return Fault::None;
    }
    let u = unit(spec.seed, seq);
    let mut acc = 0.0;
    for (&code, &rate) in &spec.status_rates {
        acc += rate;
        if u < acc {
            return Fault::Status(code);
        }
    }
    acc += spec.rate_timeout;
    if u < acc {
        return Fault::Hold;
    }
    Fault::None
}

/// A uniform number in [0, 1) from (seed, seq), by SplitMix64.
fn unit(seed: u64, seq: u64) -> f64 {
    let mut z = seed
        .wrapping_add(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(seq.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_fates_and_rates_are_respected() {
        let spec = FaultSpec::parse("502=0.05,503=0.05,timeout=0.01,seed=42").unwrap();
        let a: Vec<Fault> = (0..20_000).map(|i| draw(&spec, i)).collect();
        let b: Vec<Fault> = (0..20_000).map(|i| draw(&spec, i)).collect();
        assert_eq!(a, b);
        let n502 = a.iter().filter(|f| **f == Fault::Status(502)).count();
        let holds = a.iter().filter(|f| **f == Fault::Hold).count();
        assert!((800..1200).contains(&n502), "{n502}");
        assert!((120..300).contains(&holds), "{holds}");
        let other = FaultSpec { seed: 43, ..spec };
        let c: Vec<Fault> = (0..20_000).map(|i| draw(&other, i)).collect();
        assert_ne!(a, c);
    }

    #[test]
    fn no_faults_configured_means_none() {
        assert_eq!(draw(&FaultSpec::default(), 7), Fault::None);
    }
}
