//! The guest's virtual time.

use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Virtual time in nanoseconds since power-on: host time while the guest runs, plus every
/// jump made while it idled, minus the time it stood paused (in a debugger). Monotonic.
/// Cloning gives another view of the same clock.
///
/// A clock made by [`VirtualClock::counting`] never reads the host's: its time is the
/// instructions the cores executed at a fixed rate, plus the jumps (deterministic runs).
#[derive(Clone, Debug)]
pub struct VirtualClock {
    start: Instant,
    /// Time from instructions executed instead of host time.
    counted: Option<Arc<InstructionTime>>,
    skipped: Arc<AtomicU64>,
    /// Host time spent paused, taken off the virtual time.
    paused_total: Arc<AtomicU64>,
    /// While paused: the frozen virtual time plus one; 0 while running.
    frozen: Arc<AtomicU64>,
}

impl Default for VirtualClock {
    fn default() -> Self {
        Self::new()
    }
}

/// The instruction side of a counting clock.
#[derive(Debug)]
struct InstructionTime {
    /// Virtual nanoseconds per instruction.
    ns_per_insn: u64,
    /// Instructions every core executed in runs that have ended.
    retired: AtomicU64,
    /// The engine running now, if one is: what it has executed so far counts too (a device
    /// or the counter read from inside its run).
    running: AtomicPtr<unicorn_engine::uc_engine>,
}

impl VirtualClock {
    /// A clock at zero now.
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            counted: None,
            skipped: Arc::new(AtomicU64::new(0)),
            paused_total: Arc::new(AtomicU64::new(0)),
            frozen: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A clock at zero whose time is the instructions executed by the cores that run on it
    /// ([`crate::Cpu::set_counting`]), `ns_per_insn` virtual nanoseconds each, plus the time
    /// skipped while idle: the same on every run of the same guest.
    pub fn counting(ns_per_insn: u64) -> Self {
        Self {
            counted: Some(Arc::new(InstructionTime {
                ns_per_insn: ns_per_insn.max(1),
                retired: AtomicU64::new(0),
                running: AtomicPtr::new(std::ptr::null_mut()),
            })),
            ..Self::new()
        }
    }

    /// Whether time comes from instructions executed.
    pub fn is_counting(&self) -> bool {
        self.counted.is_some()
    }

    /// A counting clock: `uc` runs from now on; what it executes counts as it goes.
    pub(crate) fn run_begins(&self, uc: *mut unicorn_engine::uc_engine) {
        if let Some(c) = &self.counted {
            c.running.store(uc, Ordering::Release);
        }
    }

    /// A counting clock: the run [`VirtualClock::run_begins`] announced has ended after
    /// `executed` instructions.
    pub(crate) fn run_ends(&self, executed: u64) {
        if let Some(c) = &self.counted {
            c.retired.fetch_add(executed, Ordering::AcqRel);
            c.running.store(std::ptr::null_mut(), Ordering::Release);
        }
    }

    /// A counting clock: the instructions the cores have executed (0 for a host-time clock).
    pub fn instructions(&self) -> u64 {
        let Some(c) = &self.counted else {
            return 0;
        };
        let mut insns = c.retired.load(Ordering::Acquire);
        let uc = c.running.load(Ordering::Acquire);
        if !uc.is_null() {
            // SAFETY: as in running_ns.
            insns += unsafe { crate::ffi::uc_ast_executed(uc) };
        }
        insns
    }

    /// A counting clock: the virtual time `insns` instructions from now.
    pub(crate) fn after_instructions(&self, insns: u64) -> u64 {
        let per = self.counted.as_ref().map_or(0, |c| c.ns_per_insn);
        self.now_ns().saturating_add(insns.saturating_mul(per))
    }

    /// A counting clock: how many instructions take the clock to `target_ns` from now
    /// (at least 1), for a run's budget; `None` for a host-time clock or a past target.
    pub fn instructions_until(&self, target_ns: u64) -> Option<u64> {
        let c = self.counted.as_ref()?;
        let now = self.now_ns();
        (target_ns > now).then(|| (target_ns - now).div_ceil(c.ns_per_insn))
    }

    fn running_ns(&self) -> u64 {
        if let Some(c) = &self.counted {
            let mut insns = c.retired.load(Ordering::Acquire);
            let uc = c.running.load(Ordering::Acquire);
            if !uc.is_null() {
                // SAFETY: a running engine is live until run_ends clears the pointer, and
                // only its own thread reads the clock while it runs (counting is for one
                // host thread).
                insns += unsafe { crate::ffi::uc_ast_executed(uc) };
            }
            return insns * c.ns_per_insn + self.skipped.load(Ordering::Relaxed);
        }
        (self.start.elapsed().as_nanos() as u64 + self.skipped.load(Ordering::Relaxed))
            .saturating_sub(self.paused_total.load(Ordering::Relaxed))
    }

    /// Current virtual time (ns).
    pub fn now_ns(&self) -> u64 {
        match self.frozen.load(Ordering::Acquire) {
            0 => self.running_ns(),
            f => f - 1,
        }
    }

    /// Stops virtual time (the guest is stopped in a debugger): timers do not fire behind a
    /// debugger's back.
    pub fn pause(&self) {
        if self.frozen.load(Ordering::Acquire) == 0 {
            self.frozen.store(self.running_ns() + 1, Ordering::Release);
        }
    }

    /// Lets virtual time run again from where [`VirtualClock::pause`] stopped it.
    pub fn resume(&self) {
        let f = self.frozen.load(Ordering::Acquire);
        if f != 0 && self.counted.is_some() {
            // Instructions do not run while paused: nothing to take off.
            self.frozen.store(0, Ordering::Release);
        } else if f != 0 {
            let behind = self.running_ns().saturating_sub(f - 1);
            self.paused_total.fetch_add(behind, Ordering::Relaxed);
            self.frozen.store(0, Ordering::Release);
        }
    }

    /// Pauses the clock at exactly `target_ns` (a loaded snapshot's time), moving it ahead
    /// if it is behind; [`VirtualClock::resume`] goes on from there. A target in the past
    /// pauses it where it is (time never goes back). Returns the time it stands at.
    pub fn pause_at(&self, target_ns: u64) -> u64 {
        let now = self.now_ns();
        let at = target_ns.max(now);
        // Running time is moved so that, paused or not, it reads `at` now; resume then takes
        // off whatever host time passes while paused.
        self.skipped.fetch_add(at - now, Ordering::Relaxed);
        self.frozen.store(at + 1, Ordering::Release);
        at
    }

    /// Whether time is paused.
    pub fn is_paused(&self) -> bool {
        self.frozen.load(Ordering::Acquire) != 0
    }

    /// Moves virtual time forward to `target_ns` if it is in the future (idle skip). Does
    /// nothing while paused. Returns the virtual time it leaves (saves the caller a read).
    pub fn advance_to(&self, target_ns: u64) -> u64 {
        let now = self.now_ns();
        if self.is_paused() || target_ns <= now {
            return now;
        }
        self.skipped.fetch_add(target_ns - now, Ordering::Relaxed);
        target_ns
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
    fn a_clock_paused_at_a_time_stands_there_and_goes_on_from_it() {
        let c = VirtualClock::new();
        assert_eq!(c.pause_at(5_000_000_000), 5_000_000_000);
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert_eq!(c.now_ns(), 5_000_000_000, "paused exactly there");
        c.resume();
        let t = c.now_ns();
        assert!((5_000_000_000..5_001_000_000).contains(&t), "{t}");
        assert_eq!(c.pause_at(1), c.now_ns(), "never back");
        let counted = VirtualClock::counting(1);
        counted.pause_at(700);
        counted.resume();
        assert_eq!(counted.now_ns(), 700);
    }

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

    #[test]
    fn paused_time_stands_still_and_resumes_where_it_stopped() {
        let c = VirtualClock::new();
        c.advance_to(1_000_000_000);
        c.pause();
        let frozen = c.now_ns();
        std::thread::sleep(std::time::Duration::from_millis(30));
        assert_eq!(c.now_ns(), frozen, "time moved while paused");
        c.advance_to(frozen + 5_000_000_000);
        assert_eq!(c.now_ns(), frozen, "an idle skip moved paused time");
        c.resume();
        let after = c.now_ns();
        assert!(after >= frozen, "time went backwards");
        assert!(
            after - frozen < 20_000_000,
            "the 30 ms pause was not taken off: {} ns ahead",
            after - frozen
        );
    }
}
