//! Virtual time as devices see it.

use std::cell::Cell;

/// The guest's virtual clock: nanoseconds since SoC power-on, monotonic.
///
/// The SoC owns the real clock (it follows host time while the CPU runs and jumps ahead when
/// the CPU idles); devices get it injected so tests can use a [`ManualClock`].
pub trait Clock {
    /// Current virtual time in nanoseconds.
    fn now_ns(&self) -> u64;
}

/// A clock that moves only when told to: for tests.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: Cell<u64>,
}

impl ManualClock {
    /// A clock at time zero.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the time (ns).
    pub fn set(&self, now_ns: u64) {
        self.now.set(now_ns);
    }
    /// Moves the time forward by `ns`.
    pub fn advance(&self, ns: u64) {
        self.now.set(self.now.get() + ns);
    }
}

impl Clock for ManualClock {
    fn now_ns(&self) -> u64 {
        self.now.get()
    }
}
