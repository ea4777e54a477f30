//! The glue between the CPU crate and the devices: interrupt inputs, reset requests, the
//! device clock and DRAM as DMA masters see it.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use bus::{GuestMemory, IrqSink, MemoryBlock, MemoryError};
use cpu::{CpuHandle, TimerOutputs, VirtualClock, TIMER_HYP, TIMER_PHYS, TIMER_SECURE, TIMER_VIRT};

use crate::map::ast2600::ppi;
use crate::map::SocMap;

/// Which core runs a slice right now (`None` between slices), shared by the run loop and the
/// cores' interrupt inputs.
pub(crate) type RunningCore = Rc<Cell<Option<usize>>>;

/// The CPU's IRQ (line 0) and FIQ (line 1) inputs, as the GIC drives them.
pub(crate) struct CpuIrqInput {
    /// The core these inputs belong to.
    index: usize,
    handle: RefCell<Option<CpuHandle>>,
    /// Atomics: a core on a thread of its own reads them while it sleeps in WFI.
    levels: [std::sync::atomic::AtomicBool; 2],
    /// Wakes the thread the core runs on when a line rises (cores on threads of their own).
    wake: RefCell<Option<Box<dyn Fn()>>>,
    /// The core that runs now, and a handle that stops its slice.
    running: RunningCore,
    running_kick: CpuHandle,
}

impl CpuIrqInput {
    /// Inputs of core `index`. An interrupt raised for it while another core runs (an SGI,
    /// a device) ends that core's slice, so it is taken now, not a slice later: the sender
    /// of an IPI usually spins until it is answered.
    pub(crate) fn new(index: usize, running: RunningCore, running_kick: CpuHandle) -> Self {
        Self {
            index,
            handle: RefCell::new(None),
            levels: Default::default(),
            wake: RefCell::new(None),
            running,
            running_kick,
        }
    }

    /// Connects the inputs once the CPU exists (the GIC is built before it).
    pub(crate) fn connect(&self, handle: CpuHandle) {
        for (line, level) in self.levels.iter().enumerate() {
            if level.load(std::sync::atomic::Ordering::SeqCst) {
                Self::drive(&handle, line as u32, true);
            }
        }
        *self.handle.borrow_mut() = Some(handle);
    }

    fn drive(handle: &CpuHandle, line: u32, level: bool) {
        if line == 0 {
            handle.set_irq(level);
        } else {
            handle.set_fiq(level);
        }
    }

    /// Whether IRQ or FIQ is asserted (what wakes the CPU from WFI). Any thread.
    pub(crate) fn pending(&self) -> bool {
        self.levels
            .iter()
            .any(|l| l.load(std::sync::atomic::Ordering::SeqCst))
    }

    /// Calls `wake` whenever a line rises (`None`: stop): the wake-up of the thread the core
    /// runs on, when it may sleep there.
    pub(crate) fn set_wake(&self, wake: Option<Box<dyn Fn()>>) {
        *self.wake.borrow_mut() = wake;
    }

    /// Drops both inputs (SoC reset).
    pub(crate) fn clear(&self) {
        self.set_irq(0, false);
        self.set_irq(1, false);
    }
}

impl IrqSink for CpuIrqInput {
    fn set_irq(&self, line: u32, level: bool) {
        let Some(slot) = self.levels.get(line as usize) else {
            return;
        };
        let was = slot.swap(level, std::sync::atomic::Ordering::SeqCst);
        let rose = level && !was;
        if let Some(h) = self.handle.borrow().as_ref() {
            Self::drive(h, line, level);
        }
        if rose {
            if let Some(wake) = self.wake.borrow().as_ref() {
                wake();
            }
        }
        if rose && self.running.get().is_some_and(|r| r != self.index) {
            self.running_kick.request_exit();
        }
    }
}

/// Latches reset requests from the watchdogs (line n: watchdog n + 1); the run loop performs
/// the reset once the device access that asked for it has returned.
pub(crate) struct ResetRequest {
    requested: Cell<u32>,
    handle: CpuHandle,
}

impl ResetRequest {
    pub(crate) fn new(handle: CpuHandle) -> Self {
        Self {
            requested: Cell::new(0),
            handle,
        }
    }

    /// The lines that requested a reset since the last call (bit n: line n).
    pub(crate) fn take(&self) -> u32 {
        self.requested.replace(0)
    }
}

impl IrqSink for ResetRequest {
    fn set_irq(&self, line: u32, level: bool) {
        if level {
            self.requested
                .set(self.requested.get() | 1u32.checked_shl(line).unwrap_or(0));
            self.handle.request_exit();
        }
    }
}

/// Virtual time for the devices.
pub(crate) struct SocClock(pub(crate) VirtualClock);

impl bus::Clock for SocClock {
    fn now_ns(&self) -> u64 {
        self.0.now_ns()
    }
}

/// The generic timer outputs, wired to the GIC's private peripheral interrupts of CPU0.
pub(crate) struct TimerToGic {
    ppis: Rc<dyn IrqSink>,
}

impl TimerToGic {
    pub(crate) fn new(ppis: Rc<dyn IrqSink>) -> Self {
        Self { ppis }
    }
}

impl TimerOutputs for TimerToGic {
    fn set_level(&mut self, timer: usize, level: bool) {
        let id = match timer {
            TIMER_SECURE => ppi::SECURE_PHYS_TIMER,
            TIMER_PHYS => ppi::PHYS_TIMER,
            TIMER_VIRT => ppi::VIRT_TIMER,
            TIMER_HYP => ppi::HYP_TIMER,
            _ => return,
        };
        self.ppis.set_irq(id, level);
    }
}

/// An interrupt sink seen through a fixed offset: the SoC table's SPI number n is GIC ID
/// n + 32.
pub(crate) struct Offset(pub(crate) Rc<dyn IrqSink>, pub(crate) u32);

impl IrqSink for Offset {
    fn set_irq(&self, line: u32, level: bool) {
        self.0.set_irq(line + self.1, level);
    }
}

/// The timer outputs of a core without a generic timer (the ARM1176): nothing to drive.
pub(crate) struct NoTimer;

impl TimerOutputs for NoTimer {
    fn set_level(&mut self, _timer: usize, _level: bool) {}
}

/// DRAM as DMA masters see it, by physical address.
pub(crate) struct DramView {
    base: u64,
    memory: Rc<MemoryBlock>,
    /// The physical ranges DMA wrote since the run loop last looked, merged where they touch
    /// (translated code from them must go, on every core).
    written: RefCell<Vec<(u64, u64)>>,
}

impl DramView {
    /// The most ranges kept apart; past that, later writes merge into the last one.
    const MAX_RANGES: usize = 64;

    pub(crate) fn new(base: u64, memory: Rc<MemoryBlock>) -> Self {
        Self {
            base,
            memory,
            written: RefCell::new(Vec::new()),
        }
    }

    /// Takes the ranges (start, end) written since the last call.
    pub(crate) fn take_written(&self) -> Vec<(u64, u64)> {
        std::mem::take(&mut *self.written.borrow_mut())
    }

    fn note_written(&self, start: u64, end: u64) {
        let mut written = self.written.borrow_mut();
        if let Some(last) = written.last_mut() {
            if start <= last.1 && end >= last.0 {
                *last = (last.0.min(start), last.1.max(end));
                return;
            }
        }
        if written.len() < Self::MAX_RANGES {
            written.push((start, end));
        } else if let Some(last) = written.last_mut() {
            *last = (last.0.min(start), last.1.max(end));
        }
    }

    fn offset(&self, addr: u64, len: usize) -> Result<usize, MemoryError> {
        let err = MemoryError { addr, len };
        let off = addr.checked_sub(self.base).ok_or(err)?;
        let end = off.checked_add(len as u64).ok_or(err)?;
        if end > self.memory.len() as u64 {
            return Err(err);
        }
        Ok(off as usize)
    }
}

impl GuestMemory for DramView {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        let off = self.offset(addr, buf.len())?;
        self.memory.read(off, buf);
        Ok(())
    }

    fn write(&self, addr: u64, buf: &[u8]) -> Result<(), MemoryError> {
        let off = self.offset(addr, buf.len())?;
        self.memory.write(off, buf);
        if !buf.is_empty() {
            self.note_written(addr, addr + buf.len() as u64);
        }
        Ok(())
    }
}

/// Log target of `--trace irq`: every level change of an interrupt line.
pub const TRACE_IRQ_TARGET: &str = "trace::irq";

/// Whether `--trace irq` is on, shared by every traced sink.
pub(crate) struct IrqTrace {
    pub(crate) on: Cell<bool>,
    clock: VirtualClock,
}

impl IrqTrace {
    pub(crate) fn new(clock: VirtualClock) -> Rc<Self> {
        Rc::new(Self {
            on: Cell::new(false),
            clock,
        })
    }
}

/// Passes lines on to `inner`, logging each level change while the trace is on.
pub(crate) struct TracedSink {
    inner: Rc<dyn IrqSink>,
    trace: Rc<IrqTrace>,
    levels: Vec<Cell<bool>>,
    names: LineNames,
}

/// What a traced sink's lines are, for their names in the trace.
#[derive(Clone, Copy)]
pub(crate) enum LineNames {
    /// The GIC's shared peripheral interrupts (line = GIC ID), named from the SoC's table.
    Spi(&'static SocMap),
    /// A core's private peripheral interrupts (its generic timer), as GIC IDs.
    Ppi(usize, &'static SocMap),
    /// The VIC's sources, named from the SoC's table.
    Vic(&'static SocMap),
    /// A core's IRQ (0) and FIQ (1) inputs.
    Core(usize),
}

impl LineNames {
    fn name(self, line: u32) -> String {
        match self {
            LineNames::Spi(m) => gic_line_name(m, line),
            LineNames::Ppi(core, m) => format!("cpu{core} {}", gic_line_name(m, line)),
            LineNames::Vic(m) => format!("vic {line} ({})", m.irq_name(line)),
            LineNames::Core(core) => format!("cpu{core} {}", if line == 0 { "IRQ" } else { "FIQ" }),
        }
    }
}

impl TracedSink {
    pub(crate) fn wrap(
        inner: Rc<dyn IrqSink>,
        trace: &Rc<IrqTrace>,
        lines: usize,
        names: LineNames,
    ) -> Rc<dyn IrqSink> {
        Rc::new(Self {
            inner,
            trace: trace.clone(),
            levels: (0..lines).map(|_| Cell::new(false)).collect(),
            names,
        })
    }
}

impl IrqSink for TracedSink {
    fn set_irq(&self, line: u32, level: bool) {
        if let Some(slot) = self.levels.get(line as usize) {
            if slot.replace(level) != level && self.trace.on.get() {
                log::info!(
                    target: TRACE_IRQ_TARGET,
                    "{:>14} ns {} {}",
                    self.trace.clock.now_ns(),
                    self.names.name(line),
                    if level { "raised" } else { "lowered" }
                );
            }
        }
        self.inner.set_irq(line, level);
    }
}

/// Names a GIC interrupt ID for traces: `gic 40 (spi 8 uart5)`.
fn gic_line_name(m: &SocMap, id: u32) -> String {
    match id.checked_sub(32) {
        Some(spi) => format!("gic {id} (spi {spi} {})", m.irq_name(spi)),
        None => format!("gic {id} (ppi/sgi)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dma_writes_are_kept_as_merged_ranges_until_taken() {
        let view = DramView::new(0x8000_0000, Rc::new(MemoryBlock::new(0x10000, 0)));
        view.write(0x8000_0100, &[1; 0x10]).unwrap();
        view.write(0x8000_0110, &[2; 0x10]).unwrap();
        view.write(0x8000_4000, &[3; 4]).unwrap();
        view.write(0x8000_00f8, &[]).unwrap();
        assert!(view.write(0x8001_0000, &[4]).is_err());
        assert_eq!(
            view.take_written(),
            vec![(0x8000_0100, 0x8000_0120), (0x8000_4000, 0x8000_4004)]
        );
        assert!(view.take_written().is_empty());
        let mut byte = [0];
        view.read(0x8000_0110, &mut byte).unwrap();
        assert_eq!(byte, [2]);
    }

    #[test]
    fn dma_ranges_past_the_limit_merge_into_the_last() {
        let view = DramView::new(0, Rc::new(MemoryBlock::new(0x100000, 0)));
        for i in 0..(DramView::MAX_RANGES as u64 + 2) {
            view.write(i * 0x100, &[0; 4]).unwrap();
        }
        let written = view.take_written();
        assert_eq!(written.len(), DramView::MAX_RANGES);
        let last = DramView::MAX_RANGES as u64 - 1;
        assert_eq!(
            written[written.len() - 1],
            (last * 0x100, (last + 2) * 0x100 + 4)
        );
    }
}
