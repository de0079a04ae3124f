//! Seeded fault draws: the n-th connector request of a run always gets the same fate.

use crate::config::FaultSpec;

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
