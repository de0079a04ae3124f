//! Teams' rate limits applied *before* sending: a request waits until the tenant-wide budget and
//! its conversation's windows all admit it, so Teams rarely has to answer 429; when it does, the
//! whole tenant pauses for `Retry-After`, not just the one request.
//!
//! Teams counts requests as they *arrive*, and network latency varies from one request to the
//! next. A client that admits a full window at once and the next full window exactly one period
//! later will, with a little jitter, land more than the limit in some second. So the tenant budget
//! is paced — one slot every `1000 / rps` ms, never a burst — and the per-conversation windows are
//! kept with a safety margin added to each period.

use herald_core::limits::{SlidingLog, Window, THREAD_CREATE, THREAD_READ, THREAD_SEND};
use herald_core::SharedClock;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::Duration;

/// Which per-conversation budget an operation draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpClass {
    Send,
    Create,
    Read,
}

impl OpClass {
    fn windows(self) -> &'static [Window] {
        match self {
            OpClass::Send => &THREAD_SEND,
            OpClass::Create => &THREAD_CREATE,
            OpClass::Read => &THREAD_READ,
        }
    }
}

/// Added to each per-conversation window's period, so arrival jitter cannot squeeze one more
/// request into Teams' window than Teams allows.
pub const SAFETY_MARGIN_MS: u64 = 100;

fn padded(windows: &[Window]) -> Vec<Window> {
    windows
        .iter()
        .map(|w| Window {
            limit: w.limit,
            period_ms: w.period_ms + SAFETY_MARGIN_MS,
        })
        .collect()
}

/// Added to the tenant budget's second: slots open every `(1000 + margin) / rps` ms, so the
/// arrivals of `rps + 1` consecutive requests span more than a second even when the first is a
/// few milliseconds slower than the last. It costs 1 % of the ceiling (49.5 of 50 RPS).
pub const TENANT_MARGIN_MS: u64 = 10;

/// A wake-up this late still counts as on time: the tokio timer rounds to the millisecond and
/// wakes a little late, and resetting the schedule on every late wake-up would drift the rate
/// below the budget (measured: 47.4 of 49.5 RPS). Kept under the margin above, so that late
/// admissions plus arrival jitter still fit Teams' window.
const CATCH_UP_US: u64 = 4_000;

/// Past this many tracked conversations, those idle for an hour are forgotten — at most once a
/// minute: in a fan-out every conversation is recent, and pruning on each admission would make
/// every send walk them all.
const PRUNE_AT: usize = 50_000;
const PRUNE_EVERY_MS: u64 = 60_000;
const HOUR_MS: u64 = 3_600_000;

pub struct Throttle {
    clock: SharedClock,
    tenant_rps: u32,
    conversation_limits: bool,
    windows: HashMap<OpClass, Vec<Window>>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// When the next tenant slot opens, in microseconds.
    next_slot_us: u64,
    threads: HashMap<(String, OpClass), SlidingLog>,
    paused_until: u64,
    pauses: u64,
    last_prune: u64,
}

impl Throttle {
    /// `tenant_rps == 0` disables the tenant budget.
    pub fn new(clock: SharedClock, tenant_rps: u32, conversation_limits: bool) -> Self {
        let windows = [OpClass::Send, OpClass::Create, OpClass::Read]
            .into_iter()
            .map(|op| (op, padded(op.windows())))
            .collect();
        Self {
            clock,
            tenant_rps,
            conversation_limits,
            windows,
            state: Mutex::new(State::default()),
        }
    }

    /// How long a request to `conversation` must wait now; zero means it was admitted and counted.
    fn try_admit(&self, conversation: &str, op: OpClass) -> u64 {
        let now = self.clock.now_ms();
        let mut st = self.state.lock();
        if st.paused_until > now {
            return st.paused_until - now;
        }
        let now_us = now * 1000;
        let tenant_wait = if self.tenant_rps > 0 {
            st.next_slot_us.saturating_sub(now_us).div_ceil(1000)
        } else {
            0
        };
        let key = (conversation.to_owned(), op);
        let windows = &self.windows[&op];
        let thread_wait = if self.conversation_limits {
            st.threads
                .get(&key)
                .and_then(|log| log.check(windows, now).err())
                .map_or(0, |t| t.retry_after_ms)
        } else {
            0
        };
        let wait = tenant_wait.max(thread_wait);
        if wait > 0 {
            return wait;
        }
        if self.tenant_rps > 0 {
            let interval_us = (1000 + TENANT_MARGIN_MS) * 1000 / u64::from(self.tenant_rps);
            // Schedule from the slot, not from the (slightly late) wake-up.
            st.next_slot_us = st.next_slot_us.max(now_us.saturating_sub(CATCH_UP_US)) + interval_us;
        }
        if self.conversation_limits {
            if st.threads.len() >= PRUNE_AT && now >= st.last_prune + PRUNE_EVERY_MS {
                st.last_prune = now;
                st.threads
                    .retain(|_, log| log.latest().is_some_and(|t| t + HOUR_MS > now));
            }
            st.threads.entry(key).or_default().record(windows, now);
        }
        0
    }

    /// Waits until one more request to `conversation` fits every budget, then counts it. A long
    /// wait (a `Retry-After`) looks at the clock again every second, so it follows the clock
    /// rather than assuming it.
    pub async fn acquire(&self, conversation: &str, op: OpClass) {
        loop {
            let wait = self.try_admit(conversation, op);
            if wait == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(wait.min(1000))).await;
        }
    }

    /// Teams said 429: nobody in the tenant sends until `for_` has passed.
    pub fn pause(&self, for_: Duration) {
        let until = self.clock.now_ms() + for_.as_millis() as u64;
        let mut st = self.state.lock();
        st.pauses += 1;
        st.paused_until = st.paused_until.max(until);
    }

    /// How many times Teams made the tenant pause.
    pub fn pauses(&self) -> u64 {
        self.state.lock().pauses
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TokioClock;
    use std::sync::Arc;

    fn throttle(rps: u32) -> (Arc<Throttle>, TokioClock) {
        let clock = TokioClock::new();
        (
            Arc::new(Throttle::new(Arc::new(clock.clone()), rps, true)),
            clock,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_conversation_gets_seven_in_the_first_second_and_never_more_than_any_window() {
        let (t, clock) = throttle(0);
        let start = herald_core::Clock::now_ms(&clock);
        let mut at = Vec::new();
        for _ in 0..20 {
            t.acquire("a:1", OpClass::Send).await;
            at.push(herald_core::Clock::now_ms(&clock) - start);
        }
        assert!(at[..7].iter().all(|&ms| ms == 0), "{at:?}");
        assert_eq!(
            at[7],
            1000 + SAFETY_MARGIN_MS,
            "the 8th waits for the 1 s window and its margin: {at:?}"
        );
        // No window holds more than Teams allows, even with the margin's worth of arrival jitter.
        for (i, &t0) in at.iter().enumerate() {
            let within = |p: u64| at[i..].iter().take_while(|&&t| t < t0 + p).count();
            assert!(within(1000 + SAFETY_MARGIN_MS) <= 7, "{at:?}");
            assert!(within(2000 + SAFETY_MARGIN_MS) <= 8, "{at:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_tenant_budget_is_paced_across_conversations_and_a_429_pauses_everyone() {
        let (t, clock) = throttle(50);
        let start = herald_core::Clock::now_ms(&clock);
        let mut at = Vec::new();
        for i in 0..100 {
            t.acquire(&format!("a:{i}"), OpClass::Send).await;
            at.push(herald_core::Clock::now_ms(&clock) - start);
        }
        // (1000 + 10) / 50 = 20.2 ms a slot (99 × 20.2 = 1999.8); the catch-up tolerance may
        // open a slot up to 4 ms early after an idle spell, never more.
        assert!(
            (1995..=2000).contains(&at[99]),
            "paced, never a burst: {at:?}"
        );
        assert!(at.windows(2).all(|w| w[1] - w[0] >= 16), "{at:?}");
        for (i, &t0) in at.iter().enumerate() {
            assert!(at[i..].iter().take_while(|&&t| t < t0 + 1000).count() <= 50);
        }
        t.pause(Duration::from_secs(3));
        let before = herald_core::Clock::now_ms(&clock);
        t.acquire("a:other", OpClass::Send).await;
        assert_eq!(herald_core::Clock::now_ms(&clock) - before, 3000);
        assert_eq!(t.pauses(), 1);
    }
}
