//! Teams' throttling as the emulator applies it: one tenant-wide budget for the app, and per
//! conversation one budget per kind of operation (sends, creates, reads).

use herald_core::limits::{SlidingLog, Throttled, Window, THREAD_CREATE, THREAD_READ, THREAD_SEND};
use std::collections::HashMap;

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

#[derive(Default)]
pub struct Limits {
    tenant: SlidingLog,
    graph: SlidingLog,
    threads: HashMap<(String, OpClass), SlidingLog>,
}

fn per_second(rps: u32) -> [Window; 1] {
    [Window {
        limit: rps,
        period_ms: 1000,
    }]
}

impl Limits {
    /// The app's tenant-wide budget; `rps == 0` means unlimited.
    pub fn tenant(&mut self, rps: u32, now_ms: u64) -> Result<(), Throttled> {
        if rps == 0 {
            return Ok(());
        }
        self.tenant.try_acquire(&per_second(rps), now_ms)
    }

    pub fn graph(&mut self, rps: u32, now_ms: u64) -> Result<(), Throttled> {
        if rps == 0 {
            return Ok(());
        }
        self.graph.try_acquire(&per_second(rps), now_ms)
    }

    pub fn thread(
        &mut self,
        conversation: &str,
        op: OpClass,
        now_ms: u64,
    ) -> Result<(), Throttled> {
        self.threads
            .entry((conversation.to_owned(), op))
            .or_default()
            .try_acquire(op.windows(), now_ms)
    }
}
