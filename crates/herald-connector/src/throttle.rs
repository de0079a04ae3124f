//! Teams' rate limits applied *before* sending: a request waits until the tenant-wide budget and
//! its conversation's windows all admit it, so Teams rarely has to answer 429; when it does, the
//! whole tenant pauses for `Retry-After`, not just the one request.
//!
//! Teams counts requests as they *arrive*, and network latency varies from one request to the
//! next. A client that admits a full window at once and the next full window exactly one period
//! later will, with a little jitter, land more than the limit in some second. So the tenant budget
//! is paced — one slot every `1000 / rps` ms, never a burst — and the per-conversation windows are
//! kept with a safety margin added to each period.
//!
//! With several nodes the tenant's slots come from a [`SharedSlots`] schedule (kept in
//! PostgreSQL): a node reserves a few consecutive slots at a time and admits one request per
//! slot, so all nodes together keep the pace one node would. A slot that finds nobody ready
//! within the catch-up tolerance is let go rather than spent late.
//!
//! Requests wait in one of two lanes: an `Urgent` one (a high-priority or small notification)
//! takes the next slot before any `Bulk` one, so a send to one person overtakes a broadcast's
//! queue instead of waiting behind it.

use herald_core::limits::{SlidingLog, Window, THREAD_CREATE, THREAD_READ, THREAD_SEND};
use herald_core::SharedClock;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// A tenant's send schedule shared by every node (see the module's documentation).
#[async_trait::async_trait]
pub trait SharedSlots: Send + Sync {
    /// Reserves `count` consecutive slots `interval_us` apart, none earlier than
    /// `now_us - catch_up_us` nor than any slot reserved before; returns the first.
    async fn reserve(
        &self,
        now_us: u64,
        count: u32,
        interval_us: u64,
        catch_up_us: u64,
    ) -> Result<u64, String>;

    /// Nobody sends before `until_us`.
    async fn hold(&self, until_us: u64) -> Result<(), String>;
}

/// Which queue a request waits in for the tenant's slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lane {
    /// A high-priority or small notification: served before any `Bulk` request.
    Urgent,
    #[default]
    Bulk,
}

tokio::task_local! {
    static LANE: Lane;
}

/// Runs `f` with its connector requests in `lane` (the engine marks each delivery this way,
/// so the lane needs no parameter on every connector call).
pub async fn in_lane<F: std::future::Future>(lane: Lane, f: F) -> F::Output {
    LANE.scope(lane, f).await
}

fn current_lane() -> Lane {
    LANE.try_with(|l| *l).unwrap_or_default()
}

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

/// The windows Herald keeps to: each period padded, and the longest window's limit lowered by
/// `FORGET_BELOW` (for the conversations forgotten before it ends).
fn padded(windows: &[Window]) -> Vec<Window> {
    let longest = windows.iter().map(|w| w.period_ms).max().unwrap_or(0);
    windows
        .iter()
        .map(|w| Window {
            limit: if w.period_ms == longest {
                w.limit.saturating_sub(FORGET_BELOW).max(1)
            } else {
                w.limit
            },
            period_ms: w.period_ms + SAFETY_MARGIN_MS,
        })
        .collect()
}

/// (recent, long): a conversation silent for `recent` ms is seen by the longest window alone,
/// which ends `long` ms after its last request.
fn horizons(windows: &HashMap<OpClass, Vec<Window>>) -> (u64, u64) {
    let all = || windows.values().flatten().map(|w| w.period_ms);
    let long = all().max().unwrap_or(0);
    let recent = all().filter(|&p| p < long).max().unwrap_or(long);
    (recent, long)
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

/// A conversation whose last request is older than every window but the hour (30 s, plus the
/// margin) and that saw fewer than `FORGET_BELOW` requests in the hour is forgotten; the hour's
/// limit is lowered by as much, so a forgotten conversation can never exceed Teams' limit. A
/// broadcast to a million people thus keeps about 30 s of conversations (150,000 at 5,000/s)
/// instead of every one for an hour, and forgetting costs O(1) per admission.
const FORGET_BELOW: u32 = 8;

/// Which conversations were admitted when, in order, for forgetting them (see `FORGET_BELOW`).
#[derive(Default)]
struct Tracked {
    logs: HashMap<u64, SlidingLog>,
    /// (admitted at, conversation) of every admission of the last `recent_ms`.
    recent: VecDeque<(u64, u64)>,
    /// (last admitted at, conversation) of conversations too busy to forget early: they are
    /// looked at again an hour after.
    busy: VecDeque<(u64, u64)>,
}

impl Tracked {
    /// Forgets what can no longer matter at `now`.
    fn forget(
        &mut self,
        now: u64,
        recent_ms: u64,
        long_ms: u64,
        long_count: impl Fn(&SlidingLog) -> usize,
    ) {
        while let Some(&(at, key)) = self.recent.front() {
            if at + recent_ms >= now {
                break;
            }
            self.recent.pop_front();
            let Some(log) = self.logs.get(&key) else {
                continue;
            };
            // A later admission of this conversation is further back in the queue.
            if log.latest().is_some_and(|t| t > at) {
                continue;
            }
            if long_count(log) < FORGET_BELOW as usize {
                self.logs.remove(&key);
            } else {
                self.busy.push_back((at, key));
            }
        }
        while let Some(&(at, key)) = self.busy.front() {
            if at + long_ms >= now {
                break;
            }
            self.busy.pop_front();
            if self
                .logs
                .get(&key)
                .is_some_and(|log| log.latest().is_none_or(|t| t <= at))
            {
                self.logs.remove(&key);
            }
        }
    }
}

/// A conversation and operation as the key of its log: a hash (8 bytes, not the id's ~90). Two
/// conversations sharing a hash would share a log, which only makes them wait more.
fn thread_key(conversation: &str, op: OpClass) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    conversation.hash(&mut h);
    op.hash(&mut h);
    h.finish()
}

pub struct Throttle {
    clock: SharedClock,
    tenant_rps: u32,
    conversation_limits: bool,
    windows: HashMap<OpClass, Vec<Window>>,
    horizons: (u64, u64),
    state: Mutex<State>,
    shared: Option<Arc<dyn SharedSlots>>,
    /// One reservation at a time.
    refilling: tokio::sync::Mutex<()>,
}

/// What `try_admit` decided.
enum Admit {
    Now,
    /// `for_slot`: nothing but the tenant's schedule holds it back (not its conversation's
    /// windows), so an urgent request may make bulk ones yield.
    Wait {
        ms: u64,
        for_slot: bool,
    },
    /// The shared schedule must be asked for slots first.
    Refill,
}

#[derive(Default)]
struct State {
    /// When the next tenant slot opens, in microseconds (one node's own pace).
    next_slot_us: u64,
    /// Slots reserved from the shared schedule and not used yet, in order (µs).
    slots: VecDeque<u64>,
    /// Slots reserved, and slots let go unused, since the start.
    reserved: u64,
    unused: u64,
    /// Requests in the `Urgent` lane waiting for a slot.
    urgent_waiting: u64,
    threads: Tracked,
    paused_until: u64,
    pauses: u64,
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
            horizons: horizons(&windows),
            windows,
            state: Mutex::new(State::default()),
            shared: None,
            refilling: tokio::sync::Mutex::new(()),
        }
    }

    /// The tenant's slots come from `slots`, shared with other nodes.
    pub fn shared(mut self, slots: Arc<dyn SharedSlots>) -> Self {
        self.shared = Some(slots);
        self
    }

    fn interval_us(&self) -> u64 {
        (1000 + TENANT_MARGIN_MS) * 1000 / u64::from(self.tenant_rps.max(1))
    }

    /// Slots reserved at a time from the shared schedule: 40 ms' worth (2 at 50 RPS). The nodes
    /// together reserve `rps / batch` times a second whatever their number (25 small updates of
    /// one row); a node waits for its next slot at most about `nodes × 40 ms`, which is what an
    /// urgent request on a busy node waits; a node that dies strands at most one batch.
    fn batch(&self) -> u32 {
        (self.tenant_rps / 25).clamp(1, 20)
    }

    /// Decides for a request to `conversation` now: admitted and counted, wait, or refill.
    fn try_admit(&self, conversation: &str, op: OpClass, lane: Lane) -> Admit {
        let now = self.clock.now_ms();
        let mut st = self.state.lock();
        if st.paused_until > now {
            return Admit::Wait {
                ms: st.paused_until - now,
                for_slot: true,
            };
        }
        let now_us = now * 1000;
        let tenant_wait = if self.tenant_rps == 0 {
            0
        } else if self.shared.is_some() {
            // A slot that nobody took in time is let go: spent late, it could join the next
            // second's requests at Teams.
            while st.slots.front().is_some_and(|&s| s + CATCH_UP_US < now_us) {
                st.slots.pop_front();
                st.unused += 1;
            }
            match st.slots.front() {
                None => return Admit::Refill,
                Some(&s) => s.saturating_sub(now_us).div_ceil(1000),
            }
        } else {
            st.next_slot_us.saturating_sub(now_us).div_ceil(1000)
        };
        // The urgent lane goes first: a bulk request leaves a due slot to a waiting urgent one.
        let yield_wait = if lane == Lane::Bulk && st.urgent_waiting > 0 && self.tenant_rps > 0 {
            1
        } else {
            0
        };
        let key = thread_key(conversation, op);
        let windows = &self.windows[&op];
        let thread_wait = if self.conversation_limits {
            st.threads
                .logs
                .get(&key)
                .and_then(|log| log.check(windows, now).err())
                .map_or(0, |t| t.retry_after_ms)
        } else {
            0
        };
        let wait = tenant_wait.max(thread_wait).max(yield_wait);
        if wait > 0 {
            return Admit::Wait {
                ms: wait,
                for_slot: thread_wait == 0,
            };
        }
        if self.tenant_rps > 0 {
            if self.shared.is_some() {
                st.slots.pop_front();
            } else {
                // Schedule from the slot, not from the (slightly late) wake-up.
                st.next_slot_us =
                    st.next_slot_us.max(now_us.saturating_sub(CATCH_UP_US)) + self.interval_us();
            }
        }
        if self.conversation_limits {
            let (recent_ms, long_ms) = self.horizons;
            let long = windows.iter().find(|w| w.period_ms == long_ms).copied();
            st.threads.forget(now, recent_ms, long_ms, |log| {
                long.map_or(0, |w| log.count_in(w.period_ms, now))
            });
            st.threads.logs.entry(key).or_default().record(windows, now);
            st.threads.recent.push_back((now, key));
        }
        Admit::Now
    }

    /// Waits until one more request to `conversation` fits every budget, then counts it. A long
    /// wait (a `Retry-After`) looks at the clock again every second, so it follows the clock
    /// rather than assuming it. The request waits in the lane its task runs in ([`in_lane`]).
    pub async fn acquire(&self, conversation: &str, op: OpClass) {
        let lane = current_lane();
        // Counted as waiting only while the schedule alone holds it back: an urgent request
        // that waits for its conversation's window must not stop the bulk ones meanwhile.
        let mut urgent: Option<UrgentWaiter> = None;
        loop {
            match self.try_admit(conversation, op, lane) {
                Admit::Now => return,
                Admit::Wait { ms, for_slot } => {
                    if lane == Lane::Urgent {
                        if !for_slot {
                            urgent = None;
                        } else if urgent.is_none() {
                            urgent = Some(UrgentWaiter::new(&self.state));
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(ms.min(1000))).await
                }
                Admit::Refill => self.refill().await,
            }
        }
    }

    /// Reserves the next few slots from the shared schedule (one caller at a time; the others
    /// find the slots it brought).
    async fn refill(&self) {
        let Some(shared) = &self.shared else { return };
        let _one = self.refilling.lock().await;
        if !self.state.lock().slots.is_empty() {
            return;
        }
        let now_us = self.clock.now_ms() * 1000;
        let (count, interval) = (self.batch(), self.interval_us());
        match shared.reserve(now_us, count, interval, CATCH_UP_US).await {
            Ok(first) => {
                let mut st = self.state.lock();
                st.reserved += u64::from(count);
                st.slots
                    .extend((0..u64::from(count)).map(|i| first + i * interval));
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot reserve send slots; trying again");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    /// Teams said 429: nobody in the tenant sends until `for_` has passed — on every node,
    /// when the schedule is shared.
    pub fn pause(&self, for_: Duration) {
        let until = self.clock.now_ms() + for_.as_millis() as u64;
        {
            let mut st = self.state.lock();
            st.pauses += 1;
            st.paused_until = st.paused_until.max(until);
            st.unused += st.slots.len() as u64;
            st.slots.clear();
        }
        if let Some(shared) = self.shared.clone() {
            tokio::spawn(async move {
                if let Err(e) = shared.hold(until * 1000).await {
                    tracing::warn!(error = %e, "cannot hold the other nodes' sends after a 429");
                }
            });
        }
    }

    /// Slots reserved from the shared schedule so far, and those let go unused.
    pub fn slots(&self) -> (u64, u64) {
        let st = self.state.lock();
        (st.reserved, st.unused)
    }

    /// How many times Teams made the tenant pause.
    pub fn pauses(&self) -> u64 {
        self.state.lock().pauses
    }
}

/// Counts an urgent request as waiting for as long as it waits (also when its future is dropped).
struct UrgentWaiter<'a>(&'a Mutex<State>);

impl<'a> UrgentWaiter<'a> {
    fn new(state: &'a Mutex<State>) -> Self {
        state.lock().urgent_waiting += 1;
        Self(state)
    }
}

impl Drop for UrgentWaiter<'_> {
    fn drop(&mut self) {
        self.0.lock().urgent_waiting -= 1;
    }
}

#[cfg(test)]
mod tests;
