//! Herald's domain core: id shapes, an injectable clock, the sliding-window arithmetic of
//! Teams' rate limits, the CSV audience format, and notification categories.
//!
//! Nothing here does I/O; the emulator, the server and the delivery engine all build on it.

pub mod audience;
pub mod category;
pub mod clock;
pub mod ids;
pub mod limits;
pub mod reason;

pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
