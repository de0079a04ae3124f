//! Read receipts that came before their row recorded its message: the store keeps each
//! conversation's furthest receipt, and this worker applies each again a few seconds after it
//! came and once more a minute after (a send whose answer was slow records its message id after
//! the recipient may already have read it). Applying is idempotent: a row is marked once.

use crate::worker::{self, Round};
use crate::Engine;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How old a receipt is when it is applied again.
const AGAIN_AFTER_MS: [u64; 2] = [3_000, 60_000];
/// Receipts read per pass.
const PAGE: u32 = 1_000;

pub(crate) async fn reapply(engine: Arc<Engine>, stop: watch::Receiver<bool>) {
    // After a restart, the receipts of the last two minutes are looked at again.
    let start = engine.clock.now_ms().saturating_sub(120_000);
    let after = Arc::new(Mutex::new([start; AGAIN_AFTER_MS.len()]));
    worker::run(stop, None, Duration::from_secs(1), || {
        let (engine, after) = (engine.clone(), after.clone());
        async move {
            let now = engine.clock.now_ms();
            let mut busy = false;
            for (i, delay) in AGAIN_AFTER_MS.iter().enumerate() {
                let from = after.lock()[i];
                match engine
                    .store
                    .reapply_reads(from, now.saturating_sub(*delay), PAGE)
                    .await
                {
                    Ok(r) => {
                        if let Some(t) = r.last_at {
                            after.lock()[i] = t;
                        }
                        engine.metrics.reads(r.rows);
                        busy |= r.marks == PAGE;
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot apply read receipts again"),
                }
            }
            if busy {
                Round::Busy
            } else {
                Round::Idle
            }
        }
    })
    .await
}
