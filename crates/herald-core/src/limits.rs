//! Teams' rate limits as sliding windows.
//!
//! Teams enforces several windows at once on each thread (a 1:1 chat is a thread): a request is
//! allowed only if, for every window, fewer than `limit` requests were accepted in the last
//! `period`. The same arithmetic serves the emulator (which refuses with 429) and the delivery
//! engine (which waits so that Teams never has to refuse).

use std::collections::VecDeque;

/// At most `limit` accepted operations in any `period_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub limit: u32,
    pub period_ms: u64,
}

const fn w(limit: u32, secs: u64) -> Window {
    Window {
        limit,
        period_ms: secs * 1000,
    }
}

/// Per bot per thread: send, reply, update, delete (msteams-docs `rate-limit.md`).
pub const THREAD_SEND: [Window; 4] = [w(7, 1), w(8, 2), w(60, 30), w(1800, 3600)];
/// Per bot per thread: create conversation, counted apart from sends.
pub const THREAD_CREATE: [Window; 4] = THREAD_SEND;
/// Per bot per thread: get members / get conversations.
pub const THREAD_READ: [Window; 4] = [w(14, 1), w(16, 2), w(120, 30), w(3600, 3600)];
/// The global limit per app per tenant, in requests per second, of the current docs revision.
pub const TENANT_RPS_DEFAULT: u32 = 50;

/// Why a request may not go now, and when it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// The window that refused.
    pub window: Window,
    /// Milliseconds until that window admits one more.
    pub retry_after_ms: u64,
}

/// The accepted timestamps (ms) of one budget, oldest first, kept for the longest window only.
#[derive(Debug, Default, Clone)]
pub struct SlidingLog {
    times: VecDeque<u64>,
}

impl SlidingLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many accepted operations lie in `(now - period, now]`.
    pub fn count_in(&self, period_ms: u64, now_ms: u64) -> usize {
        self.times.len() - self.first_in(period_ms, now_ms)
    }

    /// Index of the oldest entry inside `(now - period, now]`.
    fn first_in(&self, period_ms: u64, now_ms: u64) -> usize {
        match now_ms.checked_sub(period_ms) {
            Some(start) => self.times.partition_point(|&t| t <= start),
            None => 0,
        }
    }

    /// Would one more operation at `now` fit every window? If not, the longest wait among the
    /// refusing windows (waiting less would only be refused again).
    pub fn check(&self, windows: &[Window], now_ms: u64) -> Result<(), Throttled> {
        let mut worst: Option<Throttled> = None;
        for &window in windows {
            let first = self.first_in(window.period_ms, now_ms);
            let count = self.times.len() - first;
            if count >= window.limit as usize {
                // The oldest entries must leave until only limit-1 remain in the window.
                let must_expire = self.times[first + (count - window.limit as usize)];
                let retry_after_ms = (must_expire + window.period_ms).saturating_sub(now_ms);
                if worst.is_none_or(|w| retry_after_ms > w.retry_after_ms) {
                    worst = Some(Throttled {
                        window,
                        retry_after_ms,
                    });
                }
            }
        }
        worst.map_or(Ok(()), Err)
    }

    /// Records an accepted operation at `now` and forgets what no window of `windows` can see.
    pub fn record(&mut self, windows: &[Window], now_ms: u64) {
        // Time never runs backwards for the log, even if a clock does.
        let now_ms = self.times.back().map_or(now_ms, |&last| last.max(now_ms));
        self.times.push_back(now_ms);
        let longest = windows.iter().map(|w| w.period_ms).max().unwrap_or(0);
        if let Some(horizon) = now_ms.checked_sub(longest) {
            while self.times.front().is_some_and(|&t| t <= horizon) {
                self.times.pop_front();
            }
        }
    }

    /// [`check`](Self::check) then [`record`](Self::record).
    pub fn try_acquire(&mut self, windows: &[Window], now_ms: u64) -> Result<(), Throttled> {
        self.check(windows, now_ms)?;
        self.record(windows, now_ms);
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// The newest accepted operation, if any.
    pub fn latest(&self) -> Option<u64> {
        self.times.back().copied()
    }
}

/// The largest number of events seen in any window of `period_ms` (sliding, exact).
#[derive(Debug, Clone)]
pub struct PeakCounter {
    period_ms: u64,
    recent: VecDeque<u64>,
    peak: usize,
}

impl PeakCounter {
    pub fn new(period_ms: u64) -> Self {
        Self {
            period_ms,
            recent: VecDeque::new(),
            peak: 0,
        }
    }

    pub fn observe(&mut self, now_ms: u64) {
        if let Some(start) = now_ms.checked_sub(self.period_ms) {
            while self.recent.front().is_some_and(|&t| t <= start) {
                self.recent.pop_front();
            }
        }
        self.recent.push_back(now_ms);
        self.peak = self.peak.max(self.recent.len());
    }

    pub fn peak(&self) -> usize {
        self.peak
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seven_per_second_then_retry_after_the_oldest_leaves() {
        let mut log = SlidingLog::new();
        for i in 0..7 {
            assert!(log.try_acquire(&THREAD_SEND, 1_000 + i * 10).is_ok());
        }
        let t = log.try_acquire(&THREAD_SEND, 1_070).unwrap_err();
        assert_eq!(t.window, w(7, 1));
        // The first one (t=1000) leaves the 1 s window at 2000.
        assert_eq!(t.retry_after_ms, 930);
        assert!(log.try_acquire(&THREAD_SEND, 2_000).is_ok());
    }

    #[test]
    fn two_second_window_refuses_the_ninth() {
        let mut log = SlidingLog::new();
        for _ in 0..7 {
            log.try_acquire(&THREAD_SEND, 0).unwrap();
        }
        assert!(log.try_acquire(&THREAD_SEND, 1_000).is_ok());
        let t = log.try_acquire(&THREAD_SEND, 1_000).unwrap_err();
        assert_eq!(t.window, w(8, 2));
        assert_eq!(t.retry_after_ms, 1_000);
    }

    #[test]
    fn the_longest_refusing_window_decides_the_wait() {
        let mut log = SlidingLog::new();
        // 60 in 15 s at 4/s fits the 1 s and 2 s windows; the 61st is refused by the 30 s one.
        for s in 0..15u64 {
            for _ in 0..4 {
                log.try_acquire(&THREAD_SEND, s * 1000).unwrap();
            }
        }
        let t = log.try_acquire(&THREAD_SEND, 15_000).unwrap_err();
        assert_eq!(t.window, w(60, 30));
        assert_eq!(t.retry_after_ms, 15_000);
    }

    #[test]
    fn log_keeps_only_the_longest_window() {
        let mut log = SlidingLog::new();
        log.record(&THREAD_SEND, 0);
        log.record(&THREAD_SEND, 3_600_001);
        assert_eq!(log.count_in(10_000_000, 3_600_001), 1);
    }

    #[test]
    fn peak_counter_finds_the_busiest_second() {
        let mut p = PeakCounter::new(1000);
        for t in [0, 100, 200, 1100, 1150, 1190, 1199, 2500] {
            p.observe(t);
        }
        // (199, 1199] holds 200, 1100, 1150, 1190, 1199.
        assert_eq!(p.peak(), 5);
    }
}
