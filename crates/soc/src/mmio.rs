//! The CPU's MMIO callbacks: the peripheral bus, and addresses where nothing is mapped.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;

use bus::Bus;
use cpu::{CpuHandle, MmioHandler};
use smc::AspeedSmc;

/// Log target of unassigned-address reports (`RUST_LOG=unassigned=warn`).
pub const MMIO_LOG_TARGET: &str = "unassigned";

/// Log target of `--trace mmio=DEVICE`: every access to a traced device.
pub const TRACE_MMIO_TARGET: &str = "trace::mmio";

/// The devices whose accesses are logged.
struct MmioTrace {
    /// `[start, end)` and the device's bus name.
    ranges: Vec<(u64, u64, String)>,
    io_pc: cpu::IoPc,
    clock: cpu::VirtualClock,
}

impl MmioTrace {
    /// Logs the access if it falls in a traced device.
    #[cold]
    fn log(&self, addr: u64, size: u8, value: u64, write: bool) {
        let Some((start, _, name)) = self
            .ranges
            .iter()
            .find(|(s, e, _)| (*s..*e).contains(&addr))
        else {
            return;
        };
        log::info!(
            target: TRACE_MMIO_TARGET,
            "{:>14} ns pc={:#010x} {name} {} {:#06x} = {value:#x} ({size} bytes)",
            self.clock.now_ns(),
            self.io_pc.pc(),
            if write { "write" } else { "read " },
            addr - start
        );
    }
}

/// Skipping busy waits on a timer block read over MMIO (the AST2500's cores have no generic
/// timer: u-boot's `udelay` and autoboot countdown poll the Aspeed timer's counter), as
/// `cpu`'s generic timer skips them on its counter: after [`POLL_STREAK`] reads in a row, each
/// within [`POLL_GAP_NS`] of the last, each further read moves virtual time ahead by
/// [`POLL_STEP_NS`], never past the SoC's next deadline; reaching it stops the CPU so the
/// deadline fires at once.
pub(crate) struct TimerPoll {
    /// The timer block's registers.
    range: std::ops::Range<u64>,
    clock: cpu::VirtualClock,
    last: u64,
    streak: u32,
    /// Virtual time skipped so far (ns).
    pub(crate) skipped: u64,
}

/// Reads closer together than this (virtual ns) count as one busy wait.
const POLL_GAP_NS: u64 = 2_000;
/// Reads in a row before time starts to move ahead.
const POLL_STREAK: u32 = 200;
/// How far each further read moves time ahead (ns).
const POLL_STEP_NS: u64 = 2_000;

impl TimerPoll {
    pub(crate) fn new(range: std::ops::Range<u64>, clock: cpu::VirtualClock) -> Self {
        Self {
            range,
            clock,
            last: 0,
            streak: 0,
            skipped: 0,
        }
    }

    /// A read of the timer block at `addr`: moves time ahead when it continues a poll. Returns
    /// whether the limit was reached (the CPU should stop).
    fn read(&mut self, addr: u64, limit: u64) -> bool {
        if !self.range.contains(&addr) {
            return false;
        }
        let mut now = self.clock.now_ns();
        let close = now.wrapping_sub(self.last) < POLL_GAP_NS;
        self.streak = if close {
            self.streak.saturating_add(1)
        } else {
            0
        };
        let mut reached = false;
        if self.streak >= POLL_STREAK {
            let target = now.saturating_add(POLL_STEP_NS).min(limit);
            if target > now {
                let after = self.clock.advance_to(target);
                self.skipped += after.saturating_sub(now);
                now = after;
            }
            reached = now >= limit;
        }
        self.last = now;
        reached
    }
}

/// Dispatches CPU accesses to the devices on the bus.
pub(crate) struct SocMmio {
    bus: Rc<Bus>,
    fmc: Rc<RefCell<AspeedSmc>>,
    /// The FMC's registers: a write there may switch its window.
    fmc_registers: std::ops::Range<u64>,
    cpu: CpuHandle,
    /// Each core's handle, by core index, and the core making the access being served
    /// ([`CoreMmio`] sets it): with cores on threads of their own, the core that switched
    /// the FMC's window must stop too, not only the SoC's thread.
    core_kicks: Vec<CpuHandle>,
    current_core: usize,
    /// Set with `window_changed` and cleared once the window is remapped: a core on a
    /// thread of its own waits for it before it runs on.
    pub(crate) remap_pending: std::sync::Arc<std::sync::atomic::AtomicBool>,
    window_changed: bool,
    seen: HashSet<(u64, bool)>,
    trace: Option<MmioTrace>,
    /// While timing: wall ns spent in accesses and their count.
    timing: Option<(u64, u64)>,
    /// While busy waits are skipped: the limit they may not pass, lowered to any device
    /// deadline a write sets.
    deadline_limit: Option<std::rc::Rc<std::cell::Cell<u64>>>,
    /// Busy-wait skipping on the timer block, on SoCs without a generic timer.
    pub(crate) timer_poll: Option<TimerPoll>,
    /// A deterministic run: the virtual time at which the current run's budget ends
    /// (`u64::MAX` otherwise). A write that sets a device deadline before it ends the run
    /// at the block boundary, so the deadline fires at its time, not whenever the run ends.
    pub(crate) run_end: std::cell::Cell<u64>,
}

impl SocMmio {
    pub(crate) fn new(
        bus: Rc<Bus>,
        fmc: Rc<RefCell<AspeedSmc>>,
        fmc_registers: std::ops::Range<u64>,
        cpu: CpuHandle,
    ) -> Self {
        Self {
            bus,
            fmc,
            fmc_registers,
            cpu,
            core_kicks: Vec::new(),
            current_core: 0,
            remap_pending: Default::default(),
            window_changed: false,
            seen: HashSet::new(),
            trace: None,
            timing: None,
            deadline_limit: None,
            timer_poll: None,
            run_end: std::cell::Cell::new(u64::MAX),
        }
    }

    /// Keeps `limit` at or below every device deadline after each write (busy-wait skipping).
    pub(crate) fn set_deadline_limit(&mut self, limit: Option<std::rc::Rc<std::cell::Cell<u64>>>) {
        self.deadline_limit = limit;
    }

    /// Starts or stops timing accesses (the totals so far are kept while on).
    pub(crate) fn set_timing(&mut self, on: bool) {
        self.timing = match (on, self.timing) {
            (true, Some(t)) => Some(t),
            (true, None) => Some((0, 0)),
            (false, _) => None,
        };
    }

    /// Wall ns spent in timed accesses, and how many there were.
    pub(crate) fn timing(&self) -> (u64, u64) {
        self.timing.unwrap_or((0, 0))
    }

    fn timed<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        if self.timing.is_none() {
            return f(self);
        }
        let start = std::time::Instant::now();
        let out = f(self);
        if let Some((ns, n)) = &mut self.timing {
            *ns += start.elapsed().as_nanos() as u64;
            *n += 1;
        }
        out
    }

    /// Logs every access to `ranges` from now on (none: tracing off).
    pub(crate) fn set_trace(
        &mut self,
        ranges: Vec<(u64, u64, String)>,
        io_pc: cpu::IoPc,
        clock: cpu::VirtualClock,
    ) {
        self.trace = (!ranges.is_empty()).then_some(MmioTrace {
            ranges,
            io_pc,
            clock,
        });
    }

    /// The cores' handles, by core index.
    pub(crate) fn set_core_kicks(&mut self, kicks: Vec<CpuHandle>) {
        self.core_kicks = kicks;
    }

    /// Whether the FMC asked for its window to be remapped since the last call.
    pub(crate) fn take_window_changed(&mut self) -> bool {
        std::mem::take(&mut self.window_changed)
    }

    fn unassigned(&mut self, addr: u64, write: bool, value: u64) {
        if self.seen.insert((addr, write)) {
            if write {
                log::warn!(target: MMIO_LOG_TARGET, "write of {value:#x} to unmodelled register {addr:#010x}");
            } else {
                log::warn!(target: MMIO_LOG_TARGET, "read of unmodelled register {addr:#010x} (reads as 0)");
            }
        }
    }
}

impl MmioHandler for SocMmio {
    fn read(&mut self, addr: u64, size: u8) -> u64 {
        self.timed(|m| m.read_untimed(addr, size))
    }

    fn write(&mut self, addr: u64, size: u8, value: u64) {
        self.timed(|m| m.write_untimed(addr, size, value))
    }
}

impl SocMmio {
    fn read_untimed(&mut self, addr: u64, size: u8) -> u64 {
        if let (Some(limit), Some(poll)) = (&self.deadline_limit, &mut self.timer_poll) {
            if poll.read(addr, limit.get()) {
                self.cpu.request_exit();
            }
        }
        let value = match self.bus.read(addr, size) {
            Some(v) => v,
            None => {
                self.unassigned(addr, false, 0);
                0
            }
        };
        if let Some(t) = &self.trace {
            t.log(addr, size, value, false);
        }
        value
    }

    fn write_untimed(&mut self, addr: u64, size: u8, value: u64) {
        if let Some(t) = &self.trace {
            t.log(addr, size, value, true);
        }
        if !self.bus.write(addr, size, value) {
            self.unassigned(addr, true, value);
            return;
        }
        if self.deadline_limit.is_some() || self.run_end.get() != u64::MAX {
            // Only the device written can have moved its deadline.
            if let Some(d) = self.bus.deadline_at(addr) {
                if let Some(limit) = &self.deadline_limit {
                    limit.set(limit.get().min(d));
                }
                if d < self.run_end.get() {
                    self.cpu.request_exit();
                }
            }
        }
        if self.fmc_registers.contains(&addr) && self.fmc.borrow_mut().take_mapping_changed() {
            // The window must switch before the guest touches it: stop at the block boundary.
            self.window_changed = true;
            self.remap_pending
                .store(true, std::sync::atomic::Ordering::SeqCst);
            self.cpu.request_exit();
            if let Some(k) = self.core_kicks.get(self.current_core) {
                k.request_exit();
            }
        }
    }
}

/// Addresses where the SoC decodes nothing: reads are zero, writes are dropped, and each page
/// is reported once.
#[derive(Default)]
pub(crate) struct Unassigned {
    seen: HashSet<u64>,
}

impl MmioHandler for Unassigned {
    fn read(&mut self, addr: u64, _size: u8) -> u64 {
        if self.seen.insert(addr & !0xfff) {
            log::warn!(target: MMIO_LOG_TARGET, "read of unassigned address {addr:#010x} (reads as 0)");
        }
        0
    }

    fn write(&mut self, addr: u64, _size: u8, value: u64) {
        if self.seen.insert(addr & !0xfff) {
            log::warn!(target: MMIO_LOG_TARGET, "write of {value:#x} to unassigned address {addr:#010x} (dropped)");
        }
    }
}

/// One core's view of the SoC's registers: it tells the GIC (banked registers) and the
/// [`SocMmio`] which core makes each access, so that cores running at once on threads of
/// their own each see their own bank.
pub(crate) struct CoreMmio {
    pub(crate) core: usize,
    pub(crate) gic: Option<gic::Gic>,
    pub(crate) inner: Rc<RefCell<SocMmio>>,
}

impl CoreMmio {
    fn select(&self) -> std::cell::RefMut<'_, SocMmio> {
        if let Some(gic) = &self.gic {
            gic.set_current_cpu(self.core);
        }
        let mut m = self.inner.borrow_mut();
        m.current_core = self.core;
        m
    }
}

impl MmioHandler for CoreMmio {
    fn read(&mut self, addr: u64, size: u8) -> u64 {
        self.select().read(addr, size)
    }

    fn write(&mut self, addr: u64, size: u8, value: u64) {
        self.select().write(addr, size, value)
    }
}

#[cfg(test)]
mod timer_poll_tests {
    use super::*;

    #[test]
    fn a_timer_poll_moves_time_ahead_up_to_the_limit_and_other_reads_do_not() {
        // A clock that host time does not move (no CPU counts on it): a preempted test thread
        // must not break the poll's streak (it did, under CI load).
        let clock = cpu::VirtualClock::counting(1);
        let mut poll = TimerPoll::new(0x1E78_2000..0x1E78_3000, clock.clone());
        let start = clock.now_ns();
        let limit = start + 1_000_000_000;
        for _ in 0..(POLL_STREAK * 2) {
            assert!(!poll.read(0x1E78_4000, limit), "the UART is no timer");
        }
        assert_eq!(poll.skipped, 0);
        let mut reached = false;
        for _ in 0..(POLL_STREAK + 1000) {
            reached |= poll.read(0x1E78_2010, limit);
        }
        assert!(
            poll.skipped >= 900 * POLL_STEP_NS,
            "skipped {}",
            poll.skipped
        );
        assert!(!reached);
        // Close to the limit: time stops there and the CPU is told to stop.
        let near = clock.now_ns() + POLL_STEP_NS / 2;
        assert!(poll.read(0x1E78_2010, near));
        assert!(clock.now_ns() >= near && clock.now_ns() < near + POLL_STEP_NS);
    }
}
