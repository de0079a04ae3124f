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
async fn a_broadcast_to_many_people_keeps_only_the_last_half_minute_of_conversations() {
    let (t, _clock) = throttle(0);
    // 300,000 people at 5,000 a second (a minute), and one person written to 9 times.
    for i in 0..300_000u32 {
        if i % 30_000 == 0 {
            t.acquire("busy", OpClass::Send).await;
        }
        t.acquire(&format!("a:{i}"), OpClass::Send).await;
        if i % 50 == 49 {
            tokio::time::advance(Duration::from_millis(10)).await;
        }
    }
    let tracked = t.state.lock().threads.logs.len();
    // 30.1 s at 5,000/s (one step of 50 more), and the busy conversation.
    assert!(tracked <= 150_600, "{tracked} conversations tracked");
    assert!(
        tracked >= 140_000,
        "{tracked}: the recent ones must be kept"
    );
    // The busy one is remembered past the half minute: ten a minute and it stays.
    tokio::time::advance(Duration::from_secs(40)).await;
    t.acquire("other", OpClass::Send).await;
    let st = t.state.lock();
    assert_eq!(
        st.threads.logs.len(),
        2,
        "all but `busy` and `other` forgotten"
    );
    assert!(st
        .threads
        .logs
        .contains_key(&thread_key("busy", OpClass::Send)));
}

#[test]
fn the_hour_limit_leaves_room_for_forgotten_conversations() {
    let w = padded(&THREAD_SEND);
    assert_eq!(w[3].limit, 1800 - FORGET_BELOW);
    assert_eq!(w[0].limit, 7);
    let t = Throttle::new(Arc::new(TokioClock::new()), 0, true);
    assert_eq!(
        t.horizons,
        (30_000 + SAFETY_MARGIN_MS, 3_600_000 + SAFETY_MARGIN_MS)
    );
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

/// The schedule a database keeps for every node, kept in memory for the test.
#[derive(Default)]
struct Ledger {
    next_us: Mutex<u64>,
    held: Mutex<u64>,
}

#[async_trait::async_trait]
impl SharedSlots for Ledger {
    async fn reserve(
        &self,
        now_us: u64,
        count: u32,
        interval_us: u64,
        catch_up_us: u64,
    ) -> Result<u64, String> {
        let mut next = self.next_us.lock();
        let first = (*next)
            .max(now_us.saturating_sub(catch_up_us))
            .max(*self.held.lock());
        *next = first + u64::from(count) * interval_us;
        Ok(first)
    }
    async fn hold(&self, until_us: u64) -> Result<(), String> {
        let mut h = self.held.lock();
        *h = (*h).max(until_us);
        Ok(())
    }
}

/// Two nodes share one tenant budget: together they keep one node's pace and never exceed
/// Teams' second; when one dies, the other takes the whole budget at once.
#[tokio::test(start_paused = true)]
async fn nodes_share_the_tenant_budget_and_a_dead_nodes_share_comes_back() {
    let clock = TokioClock::new();
    let ledger = Arc::new(Ledger::default());
    let node =
        |_: u8| Arc::new(Throttle::new(Arc::new(clock.clone()), 50, true).shared(ledger.clone()));
    let (a, b) = (node(0), node(1));
    let start = herald_core::Clock::now_ms(&clock);
    let log: Arc<Mutex<Vec<(u8, u64)>>> = Arc::default();
    let run = |n: u8, t: Arc<Throttle>| {
        let (log, clock) = (log.clone(), clock.clone());
        tokio::spawn(async move {
            for i in 0u64.. {
                t.acquire(&format!("a:{n}:{i}"), OpClass::Send).await;
                log.lock()
                    .push((n, herald_core::Clock::now_ms(&clock) - start));
            }
        })
    };
    let ta = run(0, a.clone());
    let tb = run(1, b.clone());
    tokio::time::sleep(Duration::from_secs(5)).await;
    tb.abort(); // node B dies at 5 s
    tokio::time::sleep(Duration::from_secs(5)).await;
    ta.abort();
    let log = log.lock().clone();
    let at: Vec<u64> = log.iter().map(|&(_, t)| t).collect();
    for (i, &t0) in at.iter().enumerate() {
        let n = at[i..].iter().take_while(|&&t| t < t0 + 1000).count();
        assert!(n <= 50, "{n} requests in the second from {t0} ms");
    }
    let in_range = |node: Option<u8>, from: u64, to: u64| {
        log.iter()
            .filter(|&&(n, t)| node.is_none_or(|x| x == n) && t >= from && t < to)
            .count()
    };
    // 49.5 slots a second (the 1 % margin); both nodes sent while both lived.
    let both = in_range(None, 0, 5000);
    assert!(both >= 240, "{both} in the first 5 s");
    assert!(
        in_range(Some(0), 0, 5000) >= 80 && in_range(Some(1), 0, 5000) >= 80,
        "both had a share"
    );
    // Node A alone after B died: the whole budget, from within a fraction of a second.
    let alone = in_range(Some(0), 5300, 10_000);
    assert!(
        alone >= 228,
        "{alone} in 4.7 s after B died (49.5/s would be 232)"
    );
    let (reserved, unused) = a.slots();
    assert!(
        unused <= reserved / 20,
        "slots reserved {reserved}, let go {unused}"
    );
}

/// A 429 on one node holds every node's sends for the `Retry-After`.
#[tokio::test(start_paused = true)]
async fn a_429_on_one_node_holds_the_others() {
    let clock = TokioClock::new();
    let ledger = Arc::new(Ledger::default());
    let a = Throttle::new(Arc::new(clock.clone()), 50, true).shared(ledger.clone());
    let b = Throttle::new(Arc::new(clock.clone()), 50, true).shared(ledger.clone());
    a.acquire("a:1", OpClass::Send).await;
    b.acquire("a:2", OpClass::Send).await;
    a.pause(Duration::from_secs(2));
    tokio::task::yield_now().await;
    // B's slots reserved before the 429 may still go; none reserved after it.
    let before = herald_core::Clock::now_ms(&clock);
    for i in 0..10 {
        b.acquire(&format!("a:b{i}"), OpClass::Send).await;
    }
    assert!(
        herald_core::Clock::now_ms(&clock) - before >= 2000,
        "B waited for A's Retry-After"
    );
}

/// An urgent request takes the next slot before the bulk requests queued ahead of it.
#[tokio::test(start_paused = true)]
async fn an_urgent_request_overtakes_a_bulk_queue() {
    let (t, clock) = throttle(50);
    let start = herald_core::Clock::now_ms(&clock);
    for i in 0..100 {
        let t = t.clone();
        tokio::spawn(async move { t.acquire(&format!("a:bulk{i}"), OpClass::Send).await });
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    in_lane(Lane::Urgent, t.acquire("a:urgent", OpClass::Send)).await;
    let waited = herald_core::Clock::now_ms(&clock) - start - 100;
    assert!(
        waited <= 50,
        "the urgent request waited {waited} ms behind 2 s of bulk requests"
    );
}

/// An urgent request held back by its own conversation's window does not stop the others.
#[tokio::test(start_paused = true)]
async fn an_urgent_request_waiting_for_its_conversation_does_not_hold_back_the_others() {
    let (t, clock) = throttle(50);
    for _ in 0..7 {
        in_lane(Lane::Urgent, t.acquire("a:oncall", OpClass::Send)).await;
    }
    let t2 = t.clone();
    let blocked =
        tokio::spawn(
            async move { in_lane(Lane::Urgent, t2.acquire("a:oncall", OpClass::Send)).await },
        );
    tokio::task::yield_now().await;
    let start = herald_core::Clock::now_ms(&clock);
    for i in 0..20 {
        t.acquire(&format!("a:bulk{i}"), OpClass::Send).await;
    }
    let took = herald_core::Clock::now_ms(&clock) - start;
    assert!(
        took < 600,
        "20 bulk requests took {took} ms behind an urgent one's window"
    );
    blocked.await.unwrap();
}
