//! Teams' rate limits applied *before* sending: a request waits until the tenant-wide budget and
//! its conversation's windows all admit it, so Teams rarely has to answer 429; when it does, the
//! whole tenant pauses for `Retry-After`, not just the one request.

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

/// Past this many tracked conversations, those idle for an hour are forgotten.
const PRUNE_AT: usize = 50_000;
const HOUR_MS: u64 = 3_600_000;

pub struct Throttle {
    clock: SharedClock,
    tenant_rps: u32,
    conversation_limits: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    tenant: SlidingLog,
    threads: HashMap<(String, OpClass), SlidingLog>,
    paused_until: u64,
    pauses: u64,
}

impl Throttle {
    /// `tenant_rps == 0` disables the tenant budget.
    pub fn new(clock: SharedClock, tenant_rps: u32, conversation_limits: bool) -> Self {
        Self {
            clock,
            tenant_rps,
            conversation_limits,
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
        let tenant_window = [Window {
            limit: self.tenant_rps,
            period_ms: 1000,
        }];
        let tenant_wait = if self.tenant_rps > 0 {
            st.tenant
                .check(&tenant_window, now)
                .err()
                .map_or(0, |t| t.retry_after_ms)
        } else {
            0
        };
        let key = (conversation.to_owned(), op);
        let thread_wait = if self.conversation_limits {
            st.threads
                .get(&key)
                .and_then(|log| log.check(op.windows(), now).err())
                .map_or(0, |t| t.retry_after_ms)
        } else {
            0
        };
        let wait = tenant_wait.max(thread_wait);
        if wait > 0 {
            return wait;
        }
        if self.tenant_rps > 0 {
            st.tenant.record(&tenant_window, now);
        }
        if self.conversation_limits {
            if st.threads.len() >= PRUNE_AT {
                st.threads
                    .retain(|_, log| log.latest().is_some_and(|t| t + HOUR_MS > now));
            }
            st.threads.entry(key).or_default().record(op.windows(), now);
        }
        0
    }

    /// Waits until one more request to `conversation` fits every budget, then counts it.
    pub async fn acquire(&self, conversation: &str, op: OpClass) {
        loop {
            let wait = self.try_admit(conversation, op);
            if wait == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(wait)).await;
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
            at[7], 1000,
            "the 8th waits for the 2 s window's room at 1 s: {at:?}"
        );
        // No 1 s window holds more than 7, no 2 s window more than 8.
        for (i, &t0) in at.iter().enumerate() {
            assert!(at[i..].iter().take_while(|&&t| t < t0 + 1000).count() <= 7);
            assert!(at[i..].iter().take_while(|&&t| t < t0 + 2000).count() <= 8);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_tenant_budget_spans_conversations_and_a_429_pauses_everyone() {
        let (t, clock) = throttle(50);
        let start = herald_core::Clock::now_ms(&clock);
        for i in 0..100 {
            t.acquire(&format!("a:{i}"), OpClass::Send).await;
        }
        assert_eq!(
            herald_core::Clock::now_ms(&clock) - start,
            1000,
            "100 at 50/s: the second 50 at 1 s"
        );
        t.pause(Duration::from_secs(3));
        let before = herald_core::Clock::now_ms(&clock);
        t.acquire("a:other", OpClass::Send).await;
        assert_eq!(herald_core::Clock::now_ms(&clock) - before, 3000);
        assert_eq!(t.pauses(), 1);
    }
}
