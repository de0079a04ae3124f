//! Herald's domain core: id shapes, an injectable clock, and the
//! sliding-window arithmetic of Teams' rate limits.
//!
//! Nothing here does I/O; the emulator, the server and the delivery engine all build on it.

pub mod clock;
pub mod ids;
pub mod limits;

pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
