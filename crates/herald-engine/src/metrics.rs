//! Prometheus metrics, kept as atomics and rendered as text. No personal data: counts only.

use parking_lot::Mutex;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// The window over which `sends_per_second` is measured.
const RATE_WINDOW_MS: u64 = 10_000;

/// Upper bounds of the send-latency histogram, seconds.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Default)]
pub struct Metrics {
    pub delivered: AtomicU64,
    pub skipped: AtomicU64,
    pub failed: AtomicU64,
    pub canceled: AtomicU64,
    /// Connector requests made for deliveries (every attempt).
    pub attempts: AtomicU64,
    pub retries: AtomicU64,
    /// Answers to cards: counted (first), kept as history, replays, refused (forged).
    pub answers_first: AtomicU64,
    pub answers_later: AtomicU64,
    pub answers_replayed: AtomicU64,
    pub answers_refused: AtomicU64,
    pub callbacks_delivered: AtomicU64,
    pub callbacks_failed: AtomicU64,
    /// Outcomes not recorded because another claim had taken the row.
    pub leases_lost: AtomicU64,
    /// Delivered rows marked read by read receipts.
    pub read: AtomicU64,
    /// Reminders (`remindIfUnread`) sent, and not sent.
    pub reminders_sent: AtomicU64,
    pub reminders_failed: AtomicU64,
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
    recent: Mutex<VecDeque<(u64, u64)>>,
}

impl Metrics {
    pub fn observe_send(&self, seconds: f64, attempts: u32) {
        self.attempts
            .fetch_add(u64::from(attempts), Ordering::Relaxed);
        self.retries
            .fetch_add(u64::from(attempts.saturating_sub(1)), Ordering::Relaxed);
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    /// `n` delivered rows were marked read.
    pub fn reads(&self, n: u64) {
        self.read.fetch_add(n, Ordering::Relaxed);
    }

    /// A reminder was sent (`true`) or could not be.
    pub fn reminder(&self, sent: bool) {
        let c = if sent {
            &self.reminders_sent
        } else {
            &self.reminders_failed
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// `n` deliveries finished at `now_ms`.
    pub fn finished(&self, now_ms: u64, n: u64) {
        let mut r = self.recent.lock();
        r.push_back((now_ms, n));
        while r.front().is_some_and(|(t, _)| t + RATE_WINDOW_MS < now_ms) {
            r.pop_front();
        }
    }

    /// Deliveries finished per second over the last ten seconds.
    pub fn rate(&self, now_ms: u64) -> f64 {
        let r = self.recent.lock();
        let n: u64 = r
            .iter()
            .filter(|(t, _)| t + RATE_WINDOW_MS >= now_ms)
            .map(|(_, n)| n)
            .sum();
        n as f64 / (RATE_WINDOW_MS as f64 / 1000.0)
    }

    /// The text exposition format. `queue_depth` (and how old that count is) and `throttled`
    /// come from elsewhere.
    pub fn render(&self, queue_depth: (u64, f64), throttled: u64, sends_per_second: f64) -> String {
        let (queue_depth, depth_age) = queue_depth;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# HELP herald_deliveries_total Deliveries finished, by outcome."
        );
        let _ = writeln!(s, "# TYPE herald_deliveries_total counter");
        for (outcome, v) in [
            ("delivered", &self.delivered),
            ("skipped", &self.skipped),
            ("failed", &self.failed),
            ("canceled", &self.canceled),
        ] {
            let _ = writeln!(
                s,
                "herald_deliveries_total{{outcome=\"{outcome}\"}} {}",
                g(v)
            );
        }
        let _ = writeln!(s, "# HELP herald_connector_requests_total Bot Connector requests made for deliveries, retries included.");
        let _ = writeln!(s, "# TYPE herald_connector_requests_total counter");
        let _ = writeln!(s, "herald_connector_requests_total {}", g(&self.attempts));
        let _ = writeln!(
            s,
            "# HELP herald_retries_total Delivery attempts after the first."
        );
        let _ = writeln!(s, "# TYPE herald_retries_total counter");
        let _ = writeln!(
            s,
            "# HELP herald_answers_total Answers to cards, by what became of them."
        );
        let _ = writeln!(s, "# TYPE herald_answers_total counter");
        for (kind, c) in [
            ("counted", &self.answers_first),
            ("history", &self.answers_later),
            ("replay", &self.answers_replayed),
            ("refused", &self.answers_refused),
        ] {
            let _ = writeln!(s, "herald_answers_total{{kind=\"{kind}\"}} {}", g(c));
        }
        let _ = writeln!(
            s,
            "# HELP herald_callbacks_total Response callbacks, by result."
        );
        let _ = writeln!(s, "# TYPE herald_callbacks_total counter");
        let _ = writeln!(
            s,
            "herald_callbacks_total{{result=\"delivered\"}} {}",
            g(&self.callbacks_delivered)
        );
        let _ = writeln!(
            s,
            "herald_callbacks_total{{result=\"failed\"}} {}",
            g(&self.callbacks_failed)
        );
        let _ = writeln!(s, "herald_retries_total {}", g(&self.retries));
        let _ = writeln!(
            s,
            "# HELP herald_throttled_total 429 answers from Teams (each paused the tenant)."
        );
        let _ = writeln!(s, "# TYPE herald_throttled_total counter");
        let _ = writeln!(s, "herald_throttled_total {throttled}");
        let _ = writeln!(
            s,
            "# HELP herald_sends_per_second Deliveries finished per second, over the last seconds."
        );
        let _ = writeln!(s, "# TYPE herald_sends_per_second gauge");
        let _ = writeln!(s, "herald_sends_per_second {sends_per_second:.2}");
        let _ = writeln!(
            s,
            "# HELP herald_leases_lost_total Outcomes not recorded because another worker had taken the delivery (a possible duplicate)."
        );
        let _ = writeln!(s, "# TYPE herald_leases_lost_total counter");
        let _ = writeln!(s, "herald_leases_lost_total {}", g(&self.leases_lost));
        let _ = writeln!(
            s,
            "# HELP herald_reads_total Delivered messages the recipient read (Teams' read receipts)."
        );
        let _ = writeln!(s, "# TYPE herald_reads_total counter");
        let _ = writeln!(s, "herald_reads_total {}", g(&self.read));
        let _ = writeln!(
            s,
            "# HELP herald_reminders_total Reminders to recipients who had not read a notification (remindIfUnread), by outcome."
        );
        let _ = writeln!(s, "# TYPE herald_reminders_total counter");
        let _ = writeln!(
            s,
            "herald_reminders_total{{outcome=\"sent\"}} {}",
            g(&self.reminders_sent)
        );
        let _ = writeln!(
            s,
            "herald_reminders_total{{outcome=\"failed\"}} {}",
            g(&self.reminders_failed)
        );
        let _ = writeln!(
            s,
            "# HELP herald_queue_depth Deliveries waiting or in flight."
        );
        let _ = writeln!(s, "# TYPE herald_queue_depth gauge");
        let _ = writeln!(s, "herald_queue_depth {queue_depth}");
        let _ = writeln!(
            s,
            "# HELP herald_queue_depth_age_seconds How old herald_queue_depth is (it is counted at most every 10 s)."
        );
        let _ = writeln!(s, "# TYPE herald_queue_depth_age_seconds gauge");
        let _ = writeln!(s, "herald_queue_depth_age_seconds {depth_age:.1}");
        let _ = writeln!(
            s,
            "# HELP herald_send_latency_seconds Time to send one delivery, retries included."
        );
        let _ = writeln!(s, "# TYPE herald_send_latency_seconds histogram");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                s,
                "herald_send_latency_seconds_bucket{{le=\"{b}\"}} {}",
                g(&self.latency_buckets[i])
            );
        }
        let count = g(&self.latency_count);
        let _ = writeln!(
            s,
            "herald_send_latency_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            s,
            "herald_send_latency_seconds_sum {:.6}",
            g(&self.latency_sum_us) as f64 / 1e6
        );
        let _ = writeln!(s, "herald_send_latency_seconds_count {count}");
        s
    }
}

/// `herald_queue_depth`: counting waiting deliveries walks all of them, so the count is made at
/// most every [`DEPTH_FRESH_MS`], by one scrape at a time; other scrapes get the last count.
#[derive(Default)]
pub struct DepthGauge {
    /// (when counted, the count)
    last: Mutex<Option<(u64, u64)>>,
    counting: tokio::sync::Mutex<()>,
}

/// How long a queue-depth count is served before it is made again.
pub const DEPTH_FRESH_MS: u64 = 10_000;

impl DepthGauge {
    /// The depth and its age in seconds; `count` is asked only when the last one is stale.
    pub async fn read<F, Fut>(&self, now: u64, count: F) -> (u64, f64)
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Option<u64>>,
    {
        let last = *self.last.lock();
        let stale = last.is_none_or(|(at, _)| now.saturating_sub(at) >= DEPTH_FRESH_MS);
        if stale {
            if let Ok(_one) = self.counting.try_lock() {
                if let Some(n) = count().await {
                    *self.last.lock() = Some((now, n));
                }
            }
        }
        match *self.last.lock() {
            Some((at, n)) => (n, now.saturating_sub(at) as f64 / 1000.0),
            None => (0, 0.0),
        }
    }
}
