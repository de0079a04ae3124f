//! A circuit for one tenant's connector: when Teams stops answering (timeouts, refused or reset
//! connections), only one request at a time goes out — a probe — until one is answered (with
//! any status); then everyone goes again, at the throttle's pace. Without it, every request in
//! flight and every one started after would time out on its own and be retried, and each retry
//! of a POST whose answer never came may deliver a message twice.

use parking_lot::Mutex;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// The longest wait between two probes while Teams does not answer.
const MAX_PROBE_GAP: Duration = Duration::from_secs(10);

#[derive(Debug)]
enum State {
    Closed,
    Open {
        probing: bool,
        next_probe: Instant,
        failures: u32,
    },
}

#[derive(Debug)]
pub struct Circuit {
    state: Mutex<State>,
    changed: Notify,
}

/// What `enter` lets a request be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// The circuit is closed: go.
    Normal,
    /// The circuit is open and this request is the one probe.
    Probe,
}

impl Default for Circuit {
    fn default() -> Self {
        Self {
            state: Mutex::new(State::Closed),
            changed: Notify::new(),
        }
    }
}

impl Circuit {
    /// Waits until a request may go out.
    pub async fn enter(&self) -> Pass {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let wait = {
                let mut s = self.state.lock();
                match &mut *s {
                    State::Closed => return Pass::Normal,
                    State::Open {
                        probing: probing @ false,
                        next_probe,
                        ..
                    } if Instant::now() >= *next_probe => {
                        *probing = true;
                        return Pass::Probe;
                    }
                    State::Open { next_probe, .. } => {
                        (*next_probe).max(Instant::now() + Duration::from_millis(50))
                    }
                }
            };
            tokio::select! {
                _ = &mut changed => {}
                _ = tokio::time::sleep_until(wait) => {}
            }
        }
    }

    /// Teams answered (any status): the circuit closes, and everyone waiting goes.
    pub fn answered(&self) {
        let mut s = self.state.lock();
        if !matches!(*s, State::Closed) {
            *s = State::Closed;
            tracing::info!("Teams answers again; sends resume");
            self.changed.notify_waiters();
        }
    }

    /// A request got no answer. The circuit opens (or stays open); a failed probe lets the next
    /// one go after a growing gap.
    pub fn unanswered(&self, pass: Pass) {
        let mut s = self.state.lock();
        match &mut *s {
            State::Closed => {
                tracing::warn!("Teams does not answer; one request at a time until it does");
                *s = State::Open {
                    probing: false,
                    next_probe: Instant::now(),
                    failures: 0,
                };
            }
            State::Open {
                probing,
                next_probe,
                failures,
            } if pass == Pass::Probe => {
                *probing = false;
                *failures += 1;
                let gap = Duration::from_millis(250)
                    .saturating_mul(1 << (*failures).min(8))
                    .min(MAX_PROBE_GAP);
                *next_probe = Instant::now() + gap;
            }
            // A request that was already out when the circuit opened: nothing new to learn.
            State::Open { .. } => {}
        }
        self.changed.notify_waiters();
    }

    pub fn is_open(&self) -> bool {
        !matches!(*self.state.lock(), State::Closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn one_probe_at_a_time_until_an_answer() {
        let c = Arc::new(Circuit::default());
        assert_eq!(c.enter().await, Pass::Normal);
        c.unanswered(Pass::Normal);
        assert!(c.is_open());
        assert_eq!(c.enter().await, Pass::Probe);
        // A second request waits while the probe is out.
        let waiter = {
            let c = c.clone();
            tokio::spawn(async move { c.enter().await })
        };
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!waiter.is_finished(), "no second request while probing");
        // The probe fails: after a gap, the waiter becomes the next probe.
        c.unanswered(Pass::Probe);
        assert_eq!(waiter.await.unwrap(), Pass::Probe);
        // It is answered: everyone goes.
        c.answered();
        assert!(!c.is_open());
        assert_eq!(c.enter().await, Pass::Normal);
    }
}
