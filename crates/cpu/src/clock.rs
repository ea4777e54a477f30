//! The guest's virtual time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Virtual time in nanoseconds since power-on: host time while the guest runs, plus every
/// jump made while it idled. Monotonic. Cloning gives another view of the same clock.
#[derive(Clone, Debug)]
pub struct VirtualClock {
    start: Instant,
    skipped: Arc<AtomicU64>,
}

impl Default for VirtualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl VirtualClock {
    /// A clock at zero now.
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            skipped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Current virtual time (ns).
    pub fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64 + self.skipped.load(Ordering::Relaxed)
    }

    /// Moves virtual time forward to `target_ns` if it is in the future (idle skip).
    pub fn advance_to(&self, target_ns: u64) {
        let now = self.now_ns();
        if target_ns > now {
            self.skipped.fetch_add(target_ns - now, Ordering::Relaxed);
        }
    }

    /// Total time skipped while idle (ns).
    pub fn skipped_ns(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_jumps_forward_only() {
        let c = VirtualClock::new();
        let t0 = c.now_ns();
        c.advance_to(t0 + 5_000_000_000);
        let t1 = c.now_ns();
        assert!(t1 >= t0 + 5_000_000_000);
        c.advance_to(t0);
        assert!(c.now_ns() >= t1);
        assert!(c.skipped_ns() >= 4_900_000_000);
    }
}
