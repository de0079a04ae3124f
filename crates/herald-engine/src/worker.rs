//! The one loop every worker runs: a round of work (claim what is due, with a lease, and start
//! it); after a round that found nothing, wait for a wake-up, the poll interval (the fallback when
//! a wake-up is missed, or came from another process) or the stop. What a worker claims, how it
//! leases and what it does after the stop (let work in flight finish) are its own; the loop is
//! this one.

use std::future::Future;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// What a round found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// It did work: there may be more, look again at once.
    Busy,
    /// Nothing was due: wait.
    Idle,
}

/// Runs `round` until `stop` turns true (or its sender is gone).
pub async fn run<F, Fut>(
    mut stop: watch::Receiver<bool>,
    wake: Option<&Notify>,
    poll: Duration,
    mut round: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Round>,
{
    loop {
        if *stop.borrow() {
            return;
        }
        if round().await == Round::Busy {
            continue;
        }
        let woken = async {
            match wake {
                Some(n) => n.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = woken => {}
            _ = tokio::time::sleep(poll) => {}
            changed = stop.changed() => if changed.is_err() { return },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn busy_rounds_run_back_to_back_idle_ones_wait_and_stop_ends_it() {
        let (tx, rx) = watch::channel(false);
        let wake = Arc::new(Notify::new());
        let rounds = Arc::new(AtomicU32::new(0));
        let task = {
            let (wake, rounds) = (wake.clone(), rounds.clone());
            tokio::spawn(async move {
                run(rx, Some(&wake), Duration::from_secs(10), || {
                    let n = rounds.fetch_add(1, Ordering::SeqCst) + 1;
                    async move {
                        if n < 3 {
                            Round::Busy
                        } else {
                            Round::Idle
                        }
                    }
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(
            rounds.load(Ordering::SeqCst),
            3,
            "two busy rounds, then an idle one"
        );
        wake.notify_one();
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(rounds.load(Ordering::SeqCst), 4, "a wake-up starts a round");
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(
            rounds.load(Ordering::SeqCst),
            5,
            "so does the poll interval"
        );
        tx.send(true).unwrap();
        task.await.unwrap();
        drop(tx);
    }
}
