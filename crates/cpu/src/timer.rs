//! The ARM generic timer as the patched core reports it.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

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
    /// Held while the outputs are driven, when the cores run on threads of their own (the
    /// outputs reach the interrupt controller, a device).
    pub(crate) lock: Option<std::sync::Arc<crate::DeviceLock>>,
    /// The counter: shared by every core of the machine (CNTPCT is one system counter), which
    /// may run on threads of their own.
    base: std::sync::Arc<CounterBase>,
    /// Whether this core's CNTFRQ sets the counter's rate (the first core's does; the
    /// others count at the rate it set, whatever their own CNTFRQ holds).
    sets_rate: bool,
    /// The level each output was last driven to; `None`: not known to what it is wired to
    /// (after a state load, which restored the GIC's PPI levels on its own), so the next
    /// reported level is driven whatever it is.
    levels: [Cell<Option<bool>>; 4],
    deadlines: [Cell<u64>; 4],
    /// This core's slot in the counter's published deadlines, if it got one.
    slot: Option<usize>,
    busy: BusyWait,
    /// A counting core's run: the virtual time its budget ends at (`u64::MAX` otherwise). A
    /// timer set to fire before then ends the run at the block boundary.
    pub(crate) run_end: Cell<u64>,
}

/// Counter rate (Hz) and the point (ns, count) from which it counts. Atomics, as the cores
/// reading it may run on threads of their own; only the first core's CNTFRQ write changes
/// them (the firmware sets the rate once, before it starts the other cores).
struct CounterBase {
    freq: AtomicU64,
    ns: AtomicU64,
    count: AtomicU64,
    /// Each core's earliest timer deadline (a count; `u64::MAX`: none), published by its
    /// timer whenever one changes, so that a busy-wait skip on one core never passes another
    /// core's deadline (a core asleep in WFI waiting for its timer, which may be on another
    /// host thread).
    deadlines: [AtomicU64; DEADLINE_SLOTS],
    /// Slots of `deadlines` handed out.
    slots: std::sync::atomic::AtomicUsize,
}

/// Cores whose deadlines bound each other's busy-wait skips (the AST2600 has two); a further
/// core's deadlines bound only its own skips.
const DEADLINE_SLOTS: usize = 4;

/// Skipping busy waits: a guest that reads the counter over and over (u-boot's `udelay` and
/// autoboot countdown, Linux's `udelay`) is waiting for time to pass, so time is moved ahead
/// on each of its reads, never past the next deadline of any timer or device.
#[derive(Default)]
struct BusyWait {
    enabled: Cell<bool>,
    /// Virtual time of the previous counter read.
    last_read: Cell<u64>,
    /// Reads in a row, each within [`BUSY_GAP_NS`] of the one before.
    streak: Cell<u32>,
    /// No skipping past this virtual time (the SoC's next deadline), shared with the SoC.
    limit: std::rc::Rc<Cell<u64>>,
    /// Virtual time skipped so far (ns).
    skipped: Cell<u64>,
    /// The engine, to stop the CPU when a skip reaches the limit.
    engine: Cell<Option<ffi::EnginePtr>>,
    /// A skip reached the limit since [`GenericTimer::take_busy_wait_limit_reached`] last
    /// looked: a deadline, maybe another core's, is due.
    reached: Cell<bool>,
}

/// Reads closer together than this (virtual ns) count as one busy wait.
const BUSY_GAP_NS: u64 = 2_000;
/// Reads in a row before time starts to move ahead (a few microseconds of polling: not a
/// burst of timestamp reads).
const BUSY_STREAK: u32 = 200;
/// How far each further read moves time ahead (ns).
const BUSY_STEP_NS: u64 = 2_000;

const NS_PER_S: u128 = 1_000_000_000;

impl GenericTimer {
    /// The clock the timer counts on.
    pub(crate) fn clock(&self) -> &VirtualClock {
        &self.clock
    }

    pub(crate) fn new(clock: VirtualClock, outputs: Box<dyn TimerOutputs>) -> Self {
        let now = clock.now_ns();
        Self {
            clock,
            outputs,
            lock: None,
            base: std::sync::Arc::new(CounterBase {
                // The core's CNTFRQ reset value until the firmware writes its own.
                freq: AtomicU64::new(62_500_000),
                ns: AtomicU64::new(now),
                count: AtomicU64::new(0),
                deadlines: [const { AtomicU64::new(u64::MAX) }; DEADLINE_SLOTS],
                slots: std::sync::atomic::AtomicUsize::new(1),
            }),
            sets_rate: true,
            levels: [const { Cell::new(Some(false)) }; 4],
            deadlines: [const { Cell::new(u64::MAX) }; 4],
            slot: Some(0),
            busy: BusyWait {
                limit: std::rc::Rc::new(Cell::new(u64::MAX)),
                ..BusyWait::default()
            },
            run_end: Cell::new(u64::MAX),
        }
    }

    /// Counts on `primary`'s counter from now on (a second core of the same machine): the
    /// same CNTPCT values, at the rate `primary`'s CNTFRQ sets.
    pub(crate) fn share_counter(&mut self, primary: &GenericTimer) {
        self.base = primary.base.clone();
        self.sets_rate = false;
        let slot = self.base.slots.fetch_add(1, Ordering::AcqRel);
        self.slot = (slot < DEADLINE_SLOTS).then_some(slot);
        self.publish_deadline();
    }

    /// Publishes this core's earliest deadline for the other cores' busy-wait skips.
    fn publish_deadline(&self) {
        if let Some(slot) = self.slot {
            self.base.deadlines[slot].store(self.own_deadline(), Ordering::Release);
        }
    }

    /// This core's earliest timer deadline (a count; `u64::MAX`: none).
    fn own_deadline(&self) -> u64 {
        self.deadlines
            .iter()
            .map(Cell::get)
            .min()
            .unwrap_or(u64::MAX)
    }

    /// The earliest virtual time (ns) at which a timer output of any core counting on this
    /// counter will change, as each core last published it (its own included).
    fn machine_next_deadline_ns(&self) -> Option<u64> {
        let d = self
            .base
            .deadlines
            .iter()
            .map(|d| d.load(Ordering::Acquire))
            .fold(self.own_deadline(), u64::min);
        (d != u64::MAX).then(|| self.ns_for_count(d))
    }

    /// Turns busy-wait skipping on or off (see [`GenericTimer::busy_wait_limit`]).
    pub fn set_busy_wait_skip(&self, on: bool) {
        self.busy.enabled.set(on);
        self.busy.streak.set(0);
    }

    /// Whether busy waits are skipped.
    pub fn busy_wait_skip(&self) -> bool {
        self.busy.enabled.get()
    }

    /// The virtual time (ns) a skip may not pass: the SoC's next device deadline, which the
    /// SoC keeps up to date through this shared cell. The generic timers' deadlines, this
    /// core's and every other core's on the same counter, are always respected.
    pub fn busy_wait_limit(&self) -> std::rc::Rc<Cell<u64>> {
        self.busy.limit.clone()
    }

    /// Whether a busy-wait skip has reached its limit (a deadline of a device or of any core's
    /// timer) since the last call: the thread that owns that deadline, which may wait in host
    /// time, should look at once.
    pub fn take_busy_wait_limit_reached(&self) -> bool {
        self.busy.reached.replace(false)
    }

    /// Virtual time skipped in busy waits so far (ns).
    pub fn busy_wait_skipped_ns(&self) -> u64 {
        self.busy.skipped.get()
    }

    /// Moves time ahead when the guest is polling the counter; returns the time to count at.
    fn skip_busy_wait(&self, now: u64) -> u64 {
        let b = &self.busy;
        let close = now.wrapping_sub(b.last_read.get()) < BUSY_GAP_NS;
        b.streak.set(if close {
            b.streak.get().saturating_add(1)
        } else {
            0
        });
        let mut now = now;
        if b.streak.get() >= BUSY_STREAK {
            // Never past a deadline of this core or of another one (which may sleep in WFI
            // for it, on this host thread or its own).
            let limit = b
                .limit
                .get()
                .min(self.machine_next_deadline_ns().unwrap_or(u64::MAX));
            let target = now.saturating_add(BUSY_STEP_NS).min(limit);
            if target > now {
                let after = self.clock.advance_to(target);
                b.skipped.set(b.skipped.get() + after.saturating_sub(now));
                now = after;
            }
            if now >= limit {
                b.reached.set(true);
                // A deadline is due: let the run loop fire it now rather than at its next tick.
                if let Some(p) = b.engine.get() {
                    // SAFETY: the engine is alive while it calls back into this timer.
                    unsafe { ffi::uc_ast_request_exit(p.0) };
                }
            }
        }
        b.last_read.set(now);
        now
    }

    /// # Safety
    /// `self` must stay at this address for as long as the engine lives.
    pub(crate) unsafe fn install(&mut self, uc: *mut unicorn_engine::uc_engine) {
        self.busy.engine.set(Some(ffi::EnginePtr(uc)));
        let opaque = self as *mut GenericTimer as *mut std::ffi::c_void;
        // SAFETY: forwarded from the caller.
        unsafe { ffi::uc_ast_set_timer_callbacks(uc, counter_cb, timer_cb, opaque) };
    }

    fn count_at(&self, now_ns: u64) -> u64 {
        let b = &self.base;
        let elapsed = now_ns.saturating_sub(b.ns.load(Ordering::Acquire)) as u128;
        b.count.load(Ordering::Acquire)
            + (elapsed * b.freq.load(Ordering::Acquire) as u128 / NS_PER_S) as u64
    }

    /// The counter (CNTPCT) now, for `cntfrq` Hz; a new rate takes effect from this moment.
    fn counter(&self, cntfrq: u64) -> u64 {
        let mut now = self.clock.now_ns();
        if self.busy.enabled.get() {
            now = self.skip_busy_wait(now);
        }
        if self.sets_rate && cntfrq != self.base.freq.load(Ordering::Acquire) && cntfrq != 0 {
            let count = self.count_at(now);
            self.base.ns.store(now, Ordering::Release);
            self.base.count.store(count, Ordering::Release);
            self.base.freq.store(cntfrq, Ordering::Release);
        }
        self.count_at(now)
    }

    /// The counter's rate (Hz) and the point (virtual ns, count) it counts from, for a snapshot.
    pub(crate) fn counter_base(&self) -> [u64; 3] {
        let b = &self.base;
        [
            b.freq.load(Ordering::Acquire),
            b.ns.load(Ordering::Acquire),
            b.count.load(Ordering::Acquire),
        ]
    }

    /// Puts back what [`GenericTimer::counter_base`] returned.
    pub(crate) fn set_counter_base(&self, [freq, ns, count]: [u64; 3]) {
        let b = &self.base;
        b.ns.store(ns, Ordering::Release);
        b.count.store(count, Ordering::Release);
        b.freq.store(freq, Ordering::Release);
    }

    /// The counter rate in use (Hz).
    pub fn frequency(&self) -> u64 {
        self.base.freq.load(Ordering::Acquire)
    }

    /// Virtual time (ns) at which the counter reaches `count`.
    fn ns_for_count(&self, count: u64) -> u64 {
        let ahead = count.saturating_sub(self.base.count.load(Ordering::Acquire)) as u128;
        let freq = self.base.freq.load(Ordering::Acquire).max(1);
        let ns = (ahead * NS_PER_S).div_ceil(freq as u128);
        self.base
            .ns
            .load(Ordering::Acquire)
            .saturating_add(ns.min(u64::MAX as u128) as u64)
    }

    /// The earliest virtual time (ns) at which a timer output will change, if any.
    pub fn next_deadline_ns(&self) -> Option<u64> {
        let d = self.own_deadline();
        (d != u64::MAX).then(|| self.ns_for_count(d))
    }

    /// Has every timer's next reported level driven to its output, changed or not (before
    /// a saved state is loaded: the outputs' far end was restored separately).
    pub(crate) fn drive_next_levels(&self) {
        for level in &self.levels {
            level.set(None);
        }
    }

    /// The output level of timer `timer`.
    pub fn level(&self, timer: usize) -> bool {
        self.levels
            .get(timer)
            .is_some_and(|l| l.get() == Some(true))
    }

    fn report(&mut self, timer: usize, level: bool, deadline: u64) {
        if timer >= 4 {
            return;
        }
        let old = self.deadlines[timer].replace(deadline);
        if old != deadline {
            self.publish_deadline();
        }
        if old != deadline
            && deadline != u64::MAX
            && self.run_end.get() != u64::MAX
            && self.ns_for_count(deadline) < self.run_end.get()
        {
            if let Some(p) = self.busy.engine.get() {
                // SAFETY: the engine is alive while it calls back into this timer.
                unsafe { ffi::uc_ast_request_exit(p.0) };
            }
        }
        if self.levels[timer].replace(Some(level)) != Some(level) {
            let _held = self.lock.as_ref().map(|l| l.hold());
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
