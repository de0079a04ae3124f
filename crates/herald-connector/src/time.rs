//! A [`Clock`] that follows tokio's clock, so that components which both read the time and
//! sleep (the throttle, token refresh) can be tested with tokio's paused time: sleeps return at
//! once and the clock moves by exactly as much.

use herald_core::Clock;
use tokio::time::Instant;

#[derive(Debug, Clone)]
pub struct TokioClock {
    start: Instant,
    start_ms: u64,
}

impl TokioClock {
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            start_ms: herald_core::SystemClock.now_ms(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    fn now_ms(&self) -> u64 {
        self.start_ms + self.start.elapsed().as_millis() as u64
    }
}
