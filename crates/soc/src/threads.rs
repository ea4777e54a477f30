//! Cores on threads of their own (`Threads::Multi`): the secondary cores' threads and how the
//! SoC's thread pauses them.
//!
//! The SoC's thread runs core 0, the devices, host events and deadlines, as with one thread;
//! every other core runs on a thread of its own. Device state is guarded by one lock (QEMU's
//! big lock, [`cpu::DeviceLock`]): a core takes it for each MMIO access and timer output
//! change; the SoC's thread holds it except while core 0 runs guest code or it waits. What
//! touches a secondary core itself (its registers, mappings, reset) happens only while that
//! core's thread is paused ([`Secondaries::pause`]), which the SoC does around host events,
//! resets, remapping the FMC window and whenever its run loop is not running.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use bus::Bus;
use cpu::{CpuHandle, DeviceLock, Exit, Reg, VirtualClock};

use crate::map::SmpMailbox;
use crate::{Core, Wait};

/// How the cores share the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Threads {
    /// All cores take turns on the SoC's thread, round robin in bounded slices: no locks, and
    /// the order of events is the same on every run.
    #[default]
    Single,
    /// Each core on a host thread of its own, at once (QEMU's multi-threaded TCG): for guests
    /// that keep both cores busy.
    Multi,
}

impl std::str::FromStr for Threads {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "single" => Ok(Threads::Single),
            "multi" => Ok(Threads::Multi),
            other => Err(format!("--threads {other}: expected single or multi")),
        }
    }
}

/// What a secondary core's thread and the SoC's thread share (under `state`'s mutex).
pub(crate) struct CoreShared {
    pub(crate) state: Mutex<SecondaryState>,
    pub(crate) changed: Condvar,
    /// The core's handle (kicks end its run at the next block boundary).
    pub(crate) handle: CpuHandle,
}

/// A secondary core as the SoC's thread sees it.
#[derive(Debug, Default)]
pub(crate) struct SecondaryState {
    /// The SoC lets it run (false: pause).
    pub(crate) run: bool,
    /// It has stopped and touches nothing of its core until `run` is set again.
    pub(crate) paused: bool,
    /// Its thread is to end.
    pub(crate) quit: bool,
    /// It sleeps (WFI, or parked in the SMP mailbox) until this virtual time at the latest
    /// (`u64::MAX`: until an interrupt). `None`: it runs.
    pub(crate) waiting: Option<u64>,
    /// It waits in the SMP mailbox for its go signature.
    pub(crate) parked: bool,
    /// It could not go on (the fault, as one line); it stays stopped until reset.
    pub(crate) fault: Option<String>,
    /// At its last look it spun on itself or had interrupts masked (for halt detection).
    pub(crate) settled: bool,
    /// Slices it ran and WFIs it entered.
    pub(crate) slices: u64,
    pub(crate) wfi: u64,
}

impl CoreShared {
    pub(crate) fn new(handle: CpuHandle) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(SecondaryState::default()),
            changed: Condvar::new(),
            handle,
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, SecondaryState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes the core's thread to look at its state again (an interrupt, time skipped).
    pub(crate) fn notify(&self) {
        let _st = self.lock();
        self.changed.notify_all();
    }
}

/// The longest a sleeping secondary waits before it looks at its state again on its own (it
/// is normally woken: an interrupt, a pause, time skipped).
const NAP: Duration = Duration::from_millis(2);
/// How often a parked core looks at the SMP mailbox for its go signature.
const MAILBOX_POLL: Duration = Duration::from_micros(100);

/// A secondary core's thread: what it needs, moved onto the thread.
pub(crate) struct Secondary {
    pub(crate) index: usize,
    /// The core, in the SoC's `cores`, which is never resized while threads run.
    pub(crate) core: *mut Core,
    pub(crate) shared: Arc<CoreShared>,
    pub(crate) lock: Arc<DeviceLock>,
    pub(crate) clock: VirtualClock,
    /// The SoC's bus (read under `lock`: the mailbox, the next device deadline).
    pub(crate) bus: *const Bus,
    pub(crate) smp: Option<SmpMailbox>,
    /// The FMC window is being remapped: wait until it is.
    pub(crate) remap_pending: Arc<AtomicBool>,
    /// Wakes the SoC's thread (a fault here, a deadline it must look at).
    pub(crate) wake_soc: crossbeam_channel::Sender<()>,
}

// SAFETY: the secondary's `Core` (its engine, whose callbacks reach devices) and the `Bus` are
// reached from this thread only under the protocol of this module: the core only while the
// SoC does not hold it paused (the state mutex orders the hand-over), the devices and the bus
// only under the device lock, which every other thread that touches them holds too. No `Rc`
// of the device graph is cloned or dropped here.
unsafe impl Send for Secondary {}

impl Secondary {
    /// The thread's body: runs the core until told to quit.
    pub(crate) fn run(self) {
        // SAFETY: see the `Send` impl: the core is this thread's while it is not paused.
        let core = unsafe { &mut *self.core };
        while self.wait_turn(core) {
            {
                let _held = self.lock.hold();
                let now = self.clock.now_ns();
                let timer = core.cpu.timer();
                if timer.next_deadline_ns().is_some_and(|d| d <= now) {
                    core.cpu.timer_tick();
                }
                let timer = core.cpu.timer();
                if timer.busy_wait_skip() {
                    // SAFETY: the bus outlives the threads; read under the device lock.
                    let bus = unsafe { &*self.bus };
                    timer
                        .busy_wait_limit()
                        .set(bus.next_deadline().unwrap_or(u64::MAX));
                }
            }
            let exit = core.cpu.run();
            if core.cpu.timer().take_busy_wait_limit_reached() {
                // A busy-wait skip here took time to a deadline, maybe another core's: the
                // SoC's thread, which may wait in host time for it, looks at once.
                let _ = self.wake_soc.try_send(());
            }
            let mut fault = None;
            match exit {
                Exit::WaitForInterrupt => core.wait = Wait::Interrupt,
                Exit::Fault(f) if parks_at(self.smp, &f) => {
                    log::info!("soc: CPU{} waits in the SMP mailbox", self.index);
                    core.parked = true;
                }
                Exit::Fault(f) => fault = Some(format!("CPU{}: {f}", self.index)),
                Exit::Requested | Exit::Breakpoint(_) | Exit::Watchpoint(_) => {}
            }
            let settled = core.cpu.is_stuck() || core.cpu.interrupts_masked();
            let mut st = self.shared.lock();
            st.slices += 1;
            if core.wait == Wait::Interrupt {
                st.wfi += 1;
            }
            st.settled = settled;
            if fault.is_some() {
                st.fault = fault;
                drop(st);
                let _ = self.wake_soc.try_send(());
            }
        }
    }

    /// Waits until the core may run: not paused, the window not being remapped, released
    /// from the mailbox, woken from WFI. Returns false when the thread is to end.
    fn wait_turn(&self, core: &mut Core) -> bool {
        let mut st = self.shared.lock();
        loop {
            if st.quit {
                st.paused = true;
                self.shared.changed.notify_all();
                return false;
            }
            if !st.run || st.fault.is_some() {
                if !st.paused {
                    st.paused = true;
                    self.shared.changed.notify_all();
                }
                st = self.wait(st, None);
                continue;
            }
            st.paused = false;
            if self.remap_pending.load(Ordering::SeqCst) {
                st.waiting = None;
                st = self.wait(st, Some(MAILBOX_POLL));
                continue;
            }
            if core.parked {
                drop(st);
                {
                    let _held = self.lock.hold();
                    self.release_if_signalled(core);
                }
                st = self.shared.lock();
                st.parked = core.parked;
                if core.parked {
                    st.waiting = Some(u64::MAX);
                    st = self.wait(st, Some(MAILBOX_POLL));
                    continue;
                }
            }
            if core.wait == Wait::Interrupt {
                if core.irq.pending() {
                    core.wait = Wait::Nothing;
                } else {
                    let now = self.clock.now_ns();
                    let deadline = core.cpu.timer().next_deadline_ns();
                    if deadline.is_some_and(|d| d <= now) {
                        // Its timer is due: the tick raises its interrupt.
                        drop(st);
                        {
                            let _held = self.lock.hold();
                            core.cpu.timer_tick();
                        }
                        st = self.shared.lock();
                        continue;
                    }
                    st.waiting = Some(deadline.unwrap_or(u64::MAX));
                    let nap = deadline.map_or(NAP, |d| Duration::from_nanos(d - now).min(NAP));
                    st = self.wait(st, Some(nap));
                    continue;
                }
            }
            st.waiting = None;
            return true;
        }
    }

    fn wait<'a>(
        &'a self,
        st: MutexGuard<'a, SecondaryState>,
        timeout: Option<Duration>,
    ) -> MutexGuard<'a, SecondaryState> {
        match timeout {
            Some(t) => {
                self.shared
                    .changed
                    .wait_timeout(st, t)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
            None => self
                .shared
                .changed
                .wait(st)
                .unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// The parked core goes to its entry address once the mailbox holds its go signature.
    fn release_if_signalled(&self, core: &mut Core) {
        let Some(smp) = self.smp else {
            return;
        };
        // SAFETY: the bus outlives the threads; read under the device lock.
        let bus = unsafe { &*self.bus };
        let go = bus.read(smp.go, 4).unwrap_or(0) as u32;
        if go != smp.signature | self.index as u32 {
            return;
        }
        let entry = bus.read(smp.entry, 4).unwrap_or(0) as u32;
        log::info!("soc: CPU{} released to {entry:#010x}", self.index);
        core.cpu.set_reg(Reg::Pc, entry & !1);
        core.parked = false;
    }
}

/// Whether a fault is a core jumping into u-boot's wait loop in the SMP mailbox.
pub(crate) fn parks_at(smp: Option<SmpMailbox>, fault: &cpu::Fault) -> bool {
    smp.is_some_and(|smp| {
        !fault.thumb && (smp.wait_loop_start..smp.wait_loop_end).contains(&u64::from(fault.pc))
    })
}

/// The secondary cores' threads.
#[derive(Default)]
pub(crate) struct Secondaries {
    pub(crate) cores: Vec<Arc<CoreShared>>,
    pub(crate) threads: Vec<std::thread::JoinHandle<()>>,
}

impl Secondaries {
    /// Whether the threads exist.
    pub(crate) fn started(&self) -> bool {
        !self.threads.is_empty()
    }

    /// Lets every secondary run.
    pub(crate) fn resume(&self) {
        for c in &self.cores {
            let mut st = c.lock();
            st.run = true;
            c.changed.notify_all();
        }
    }

    /// Stops every secondary and waits until each has (with the device lock released
    /// meanwhile: a core may be waiting for it to finish an access).
    pub(crate) fn pause(&self, lock: &DeviceLock) {
        if !self.started() {
            return;
        }
        for c in &self.cores {
            let mut st = c.lock();
            st.run = false;
            c.changed.notify_all();
            drop(st);
            c.handle.request_exit();
        }
        lock.released(|| {
            for c in &self.cores {
                let mut st = c.lock();
                while !st.paused {
                    st = c
                        .changed
                        .wait_timeout(st, Duration::from_millis(1))
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                    if !st.paused {
                        c.handle.request_exit();
                    }
                }
            }
        });
    }

    /// Ends the threads (paused first).
    pub(crate) fn quit(&mut self, lock: &DeviceLock) {
        for c in &self.cores {
            let mut st = c.lock();
            st.quit = true;
            c.changed.notify_all();
            drop(st);
            c.handle.request_exit();
        }
        lock.released(|| {
            for t in self.threads.drain(..) {
                let _ = t.join();
            }
        });
    }

    /// Wakes every secondary to look at its deadlines again (virtual time jumped).
    pub(crate) fn notify_all(&self) {
        for c in &self.cores {
            c.notify();
        }
    }

    /// If every secondary sleeps: the earliest time one of them must wake (`u64::MAX`: only
    /// an interrupt wakes them). `None` if one runs, or if `released(core)` says a parked one
    /// has its go signature (it is about to run: the firmware that released it waits for it
    /// with a timeout that skipped time would pass).
    pub(crate) fn all_waiting_until(&self, released: impl Fn(usize) -> bool) -> Option<u64> {
        let mut until = u64::MAX;
        for (i, c) in self.cores.iter().enumerate() {
            let st = c.lock();
            if st.fault.is_some() || (st.paused && !st.run) {
                continue;
            }
            if st.paused {
                // Resumed, and its thread has not looked yet: it may be about to run, and
                // what `waiting` says is from before the pause.
                return None;
            }
            if st.parked && released(i + 1) {
                c.changed.notify_all();
                return None;
            }
            until = until.min(st.waiting?);
        }
        Some(until)
    }

    /// The first fault a secondary met, if any.
    pub(crate) fn fault(&self) -> Option<String> {
        self.cores.iter().find_map(|c| c.lock().fault.clone())
    }

    /// Whether every secondary sleeps, spins on itself or runs with interrupts masked.
    pub(crate) fn all_settled(&self) -> bool {
        self.cores.iter().all(|c| {
            let st = c.lock();
            st.waiting.is_some() || st.settled || st.fault.is_some()
        })
    }

    /// Clears what a reset makes stale (faults, last looks).
    pub(crate) fn reset(&self) {
        for c in &self.cores {
            let mut st = c.lock();
            st.fault = None;
            st.settled = false;
            st.waiting = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(st: SecondaryState) -> Secondaries {
        let core = CoreShared::new(CpuHandle::detached());
        *core.lock() = st;
        Secondaries {
            cores: vec![core],
            threads: Vec::new(),
        }
    }

    #[test]
    fn time_is_skipped_only_while_every_secondary_is_known_to_sleep() {
        let never = |_| false;
        let sleeping = SecondaryState {
            run: true,
            waiting: Some(5_000),
            ..Default::default()
        };
        assert_eq!(one(sleeping).all_waiting_until(never), Some(5_000));
        let running = SecondaryState {
            run: true,
            ..Default::default()
        };
        assert_eq!(one(running).all_waiting_until(never), None);
        // Held by the SoC: it does not run, whatever it did before.
        let held = SecondaryState {
            paused: true,
            waiting: None,
            ..Default::default()
        };
        assert_eq!(one(held).all_waiting_until(never), Some(u64::MAX));
        // Let go and not yet awake: it may be about to run; its old `waiting` says nothing.
        let resumed = SecondaryState {
            run: true,
            paused: true,
            waiting: Some(u64::MAX),
            ..Default::default()
        };
        assert_eq!(one(resumed).all_waiting_until(never), None);
        // Parked with its go signature in the mailbox: about to run.
        let released = SecondaryState {
            run: true,
            parked: true,
            waiting: Some(u64::MAX),
            ..Default::default()
        };
        assert_eq!(one(released).all_waiting_until(|_| true), None);
    }
}
