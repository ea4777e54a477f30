//! The ARM generic timer as the patched core reports it.

use std::cell::Cell;

use crate::clock::VirtualClock;
use crate::ffi;

/// Index of the non-secure physical timer (CNTP_*, PPI 14 on GICv2).
pub const TIMER_PHYS: usize = 0;
/// Index of the virtual timer (CNTV_*, PPI 11).
pub const TIMER_VIRT: usize = 1;
/// Index of the hypervisor timer (CNTHP_*, PPI 10).
pub const TIMER_HYP: usize = 2;
/// Index of the secure physical timer (CNTP_* in Secure state, PPI 13).
pub const TIMER_SECURE: usize = 3;

/// Where the timers' output levels go (the SoC wires them to GIC PPIs).
pub trait TimerOutputs {
    /// Timer `timer` (one of the `TIMER_*` indices) now drives `level`.
    fn set_level(&mut self, timer: usize, level: bool);
}

/// The counter and the four timers' deadlines.
pub struct GenericTimer {
    clock: VirtualClock,
    outputs: Box<dyn TimerOutputs>,
    /// Counter rate (Hz) and the point (ns, count) from which it counts.
    freq: Cell<u64>,
    base_ns: Cell<u64>,
    base_count: Cell<u64>,
    levels: [Cell<bool>; 4],
    deadlines: [Cell<u64>; 4],
}

const NS_PER_S: u128 = 1_000_000_000;

impl GenericTimer {
    pub(crate) fn new(clock: VirtualClock, outputs: Box<dyn TimerOutputs>) -> Self {
        let now = clock.now_ns();
        Self {
            clock,
            outputs,
            // The core's CNTFRQ reset value until the firmware writes its own.
            freq: Cell::new(62_500_000),
            base_ns: Cell::new(now),
            base_count: Cell::new(0),
            levels: Default::default(),
            deadlines: [const { Cell::new(u64::MAX) }; 4],
        }
    }

    /// # Safety
    /// `self` must stay at this address for as long as the engine lives.
    pub(crate) unsafe fn install(&mut self, uc: *mut unicorn_engine::uc_engine) {
        let opaque = self as *mut GenericTimer as *mut std::ffi::c_void;
        // SAFETY: forwarded from the caller.
        unsafe { ffi::uc_ast_set_timer_callbacks(uc, counter_cb, timer_cb, opaque) };
    }

    fn count_at(&self, now_ns: u64) -> u64 {
        let elapsed = now_ns.saturating_sub(self.base_ns.get()) as u128;
        self.base_count.get() + (elapsed * self.freq.get() as u128 / NS_PER_S) as u64
    }

    /// The counter (CNTPCT) now, for `cntfrq` Hz; a new rate takes effect from this moment.
    fn counter(&self, cntfrq: u64) -> u64 {
        let now = self.clock.now_ns();
        if cntfrq != self.freq.get() && cntfrq != 0 {
            let count = self.count_at(now);
            self.base_ns.set(now);
            self.base_count.set(count);
            self.freq.set(cntfrq);
        }
        self.count_at(now)
    }

    /// The counter rate in use (Hz).
    pub fn frequency(&self) -> u64 {
        self.freq.get()
    }

    /// Virtual time (ns) at which the counter reaches `count`.
    fn ns_for_count(&self, count: u64) -> u64 {
        let ahead = count.saturating_sub(self.base_count.get()) as u128;
        let ns = (ahead * NS_PER_S).div_ceil(self.freq.get().max(1) as u128);
        self.base_ns
            .get()
            .saturating_add(ns.min(u64::MAX as u128) as u64)
    }

    /// The earliest virtual time (ns) at which a timer output will change, if any.
    pub fn next_deadline_ns(&self) -> Option<u64> {
        let d = self.deadlines.iter().map(Cell::get).min()?;
        (d != u64::MAX).then(|| self.ns_for_count(d))
    }

    /// The output level of timer `timer`.
    pub fn level(&self, timer: usize) -> bool {
        self.levels.get(timer).is_some_and(Cell::get)
    }

    fn report(&mut self, timer: usize, level: bool, deadline: u64) {
        if timer >= 4 {
            return;
        }
        self.deadlines[timer].set(deadline);
        if self.levels[timer].replace(level) != level {
            self.outputs.set_level(timer, level);
        }
    }
}

unsafe extern "C" fn counter_cb(opaque: *mut std::ffi::c_void, cntfrq: u64) -> u64 {
    // SAFETY: `opaque` is the installed GenericTimer, alive while the engine runs; the core
    // calls back on the emulation thread only.
    let timer = unsafe { &*(opaque as *const GenericTimer) };
    timer.counter(cntfrq)
}

unsafe extern "C" fn timer_cb(
    opaque: *mut std::ffi::c_void,
    timer: i32,
    level: i32,
    deadline: u64,
) {
    // SAFETY: as in `counter_cb`; no other reference to the timer is live during a callback.
    let t = unsafe { &mut *(opaque as *mut GenericTimer) };
    t.report(timer as usize, level != 0, deadline);
}
