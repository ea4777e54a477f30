//! ARM Generic Interrupt Controller version 2, as integrated in the Cortex-A7 MPCore of the
//! AST2600 (the same programmer's model as the GIC-400).
//!
//! One [`Gic`] holds the state of the whole controller behind `Rc<RefCell<..>>` and hands out:
//! - [`GicDistributor`]: the distributor register block (GICD_*, 4 KiB);
//! - [`GicCpuInterface`]: the CPU interface block (GICC_*, 8 KiB; GICC_DIR at 0x1000);
//! - input sinks: the `Gic` itself (an [`IrqSink`] whose line numbers are SPI interrupt IDs,
//!   32 and up) and [`Gic::ppi_sink`] for each CPU's private peripheral inputs (IDs 16-31);
//! - per CPU, an IRQ and a FIQ output ([`GicOutputs`]), driven only when their level changes.
//!
//! Banked registers (SGI/PPI state, GICD_ITARGETSR0-7, every GICC register) are those of the
//! CPU named by [`Gic::set_current_cpu`].
//!
//! Implementation choices (Cortex-A7 / GIC-400 where the architecture leaves a choice):
//! - no Security Extensions: GICD_TYPER.SecurityExtn is 0, accesses behave as Secure ones on a
//!   GIC that has them; interrupt groups exist (GICD_IGROUPR, GICC_CTLR.EnableGrp1, AckCtl,
//!   FIQEn, CBPR, GICC_ABPR/AIAR/AEOIR/AHPPIR) but nothing is hidden from anyone;
//! - 5 priority bits (32 levels): priority and mask bytes read back with bits [2:0] clear,
//!   GICC_BPR is at least 2 and GICC_ABPR at least 3;
//! - SGIs are permanently enabled and edge-triggered; PPIs and SPIs can be either;
//! - an interrupt that is active (even if also pending) is not forwarded again until it is
//!   deactivated; ties between equal priorities go to the lowest ID;
//! - the legacy bypass (nIRQ/nFIQ) inputs and GICD_PPISR/SPISR are not modelled.
#![deny(missing_docs)]

mod core;
mod cpu_interface;
mod distributor;
pub mod registers;
mod state;

use std::cell::RefCell;
use std::rc::Rc;

use bus::{Device, DeviceState, IrqLine, IrqSink, StateError};

use crate::core::{GicCore, OutputChanges};
use crate::registers::{CPU_INTERFACE_SIZE, DISTRIBUTOR_SIZE, MAX_CPUS, MAX_IRQS, NUM_PRIVATE};
pub use crate::state::{CpuState, GicState, InterruptState};

/// Size in bytes of the distributor block (for the SoC's bus map).
pub const GICD_SIZE: u64 = DISTRIBUTOR_SIZE;
/// Kind of the GIC's saved state ([`Gic::save_state`]).
pub const STATE_KIND: &str = "gicv2";
/// Format version of the GIC's saved state.
pub const STATE_VERSION: u32 = 1;
/// Size in bytes of the CPU interface block (for the SoC's bus map).
pub const GICC_SIZE: u64 = CPU_INTERFACE_SIZE;

/// The two interrupt outputs of one CPU interface.
#[derive(Clone, Debug)]
pub struct GicOutputs {
    /// The CPU's IRQ input: high while an interrupt is signalled as IRQ.
    pub irq: IrqLine,
    /// The CPU's FIQ input: high while a Group 0 interrupt is signalled with GICC_CTLR.FIQEn.
    pub fiq: IrqLine,
}

/// The GICv2: a cheap, cloneable handle to the shared controller state.
#[derive(Clone)]
pub struct Gic {
    core: Rc<RefCell<GicCore>>,
}

impl Gic {
    /// A GIC with one CPU interface per entry of `outputs` (1 to 8) and `num_irqs` interrupt
    /// IDs, SGIs and PPIs included (the AST2600 has 256). `num_irqs` is rounded up to a
    /// multiple of 32 and kept within 32..=1024 (IDs 1020 and up are never implemented).
    ///
    /// # Panics
    /// When `outputs` is empty or has more than 8 entries.
    pub fn new(num_irqs: u32, outputs: Vec<GicOutputs>) -> Self {
        assert!(
            (1..=MAX_CPUS).contains(&outputs.len()),
            "a GICv2 has 1 to 8 CPU interfaces, not {}",
            outputs.len()
        );
        let num_irqs = num_irqs.clamp(NUM_PRIVATE, MAX_IRQS).div_ceil(32) * 32;
        Self::from_state(GicState::new(outputs.len(), num_irqs), outputs)
    }

    /// A GIC restored from `state`, driving `outputs`; every output is driven once to the level
    /// recorded in the state.
    ///
    /// # Panics
    /// When `outputs` does not have one entry per CPU of `state`, or `state` has no CPU, more
    /// than 8, or a number of SPIs that is not a multiple of 32 (up to 1024 IDs in all).
    pub fn from_state(state: GicState, outputs: Vec<GicOutputs>) -> Self {
        assert_eq!(
            state.cpus.len(),
            outputs.len(),
            "one GicOutputs per CPU interface"
        );
        assert!(
            (1..=MAX_CPUS).contains(&state.cpus.len()),
            "1 to 8 CPU interfaces"
        );
        assert!(
            state.spis.len().is_multiple_of(32) && state.spis.len() <= 992,
            "SPIs come in groups of 32, up to ID 1023"
        );
        let core = GicCore::new(state, outputs);
        let initial = core.all_outputs();
        let gic = Self {
            core: Rc::new(RefCell::new(core)),
        };
        drive(initial);
        gic.with_core(|_| ());
        gic
    }

    /// A copy of the whole controller state.
    pub fn state(&self) -> GicState {
        self.core.borrow().state.clone()
    }

    /// The whole controller's state for a snapshot (kind [`STATE_KIND`]).
    pub fn save_state(&self) -> DeviceState {
        DeviceState::new(STATE_KIND, STATE_VERSION, &self.state())
    }

    /// Puts the controller into a saved state (registers, pending, active, input levels)
    /// and drives every output to the level recorded in it; the CPU whose banked registers
    /// accesses see goes back to CPU 0. A state of another kind or version, or of a GIC
    /// with another number of CPU interfaces or interrupts, is refused, the GIC unchanged.
    pub fn load_state(&self, state: &DeviceState) -> Result<(), StateError> {
        let s: GicState = state.decode(STATE_KIND, STATE_VERSION)?;
        let initial = {
            let mut core = self.core.borrow_mut();
            if s.cpus.len() != core.num_cpus() || s.num_irqs() != core.num_irqs() {
                return Err(StateError(format!(
                    "the saved GIC has {} CPU interfaces and {} interrupts, this one {} and {}",
                    s.cpus.len(),
                    s.num_irqs(),
                    core.num_cpus(),
                    core.num_irqs()
                )));
            }
            core.state = s;
            core.current_cpu = 0;
            core.dirty = true;
            core.all_outputs()
        };
        drive(initial);
        self.with_core(|_| ());
        Ok(())
    }

    /// Number of CPU interfaces.
    pub fn num_cpus(&self) -> usize {
        self.core.borrow().num_cpus()
    }

    /// Number of interrupt IDs (a multiple of 32), SGIs and PPIs included.
    pub fn num_irqs(&self) -> u32 {
        self.core.borrow().num_irqs()
    }

    /// Tells the GIC which CPU makes the next register accesses (for banked registers).
    /// A CPU number the GIC does not have is ignored with a warning.
    pub fn set_current_cpu(&self, cpu: usize) {
        let mut core = self.core.borrow_mut();
        if cpu < core.num_cpus() {
            core.current_cpu = cpu;
        } else {
            log::warn!(
                "gic: CPU {cpu} has no CPU interface; staying on {}",
                core.current_cpu
            );
        }
    }

    /// The CPU whose banked registers accesses currently see.
    pub fn current_cpu(&self) -> usize {
        self.core.borrow().current_cpu
    }

    /// Level of `cpu`'s IRQ and FIQ outputs, as last driven.
    pub fn output_levels(&self, cpu: usize) -> (bool, bool) {
        self.core
            .borrow()
            .state
            .cpus
            .get(cpu)
            .map_or((false, false), |c| (c.irq_output, c.fiq_output))
    }

    /// Drives the input of SPI `id` (32 <= id < num_irqs) to `level`; same as [`IrqSink::set_irq`].
    pub fn set_irq(&self, id: u32, level: bool) {
        self.with_core(|core| core.set_line(None, id, level));
    }

    /// Drives PPI `id` (16..=31) of `cpu` to `level`.
    pub fn set_ppi(&self, cpu: usize, id: u32, level: bool) {
        self.with_core(|core| core.set_line(Some(cpu), id, level));
    }

    /// An input sink for SPIs: line numbers are GIC interrupt IDs (32 and up).
    pub fn spi_sink(&self) -> Rc<dyn IrqSink> {
        Rc::new(self.clone())
    }

    /// An input sink for `cpu`'s PPIs: line numbers are interrupt IDs 16-31 (for instance the
    /// generic timer: 26 hypervisor, 27 virtual, 29 secure physical, 30 non-secure physical).
    pub fn ppi_sink(&self, cpu: usize) -> Rc<dyn IrqSink> {
        Rc::new(PpiInput {
            gic: self.clone(),
            cpu,
        })
    }

    /// The distributor register block, to map on the bus ([`GICD_SIZE`] bytes).
    pub fn distributor(&self) -> GicDistributor {
        GicDistributor { gic: self.clone() }
    }

    /// The CPU interface register block, to map on the bus ([`GICC_SIZE`] bytes).
    pub fn cpu_interface(&self) -> GicCpuInterface {
        GicCpuInterface { gic: self.clone() }
    }

    /// Returns every register to its reset value (input line levels are kept) and lowers the
    /// outputs.
    pub fn reset(&self) {
        self.with_core(|core| {
            core.state.reset();
            core.dirty = true;
        });
    }

    /// Runs `f` on the core, then drives the outputs that changed once the core is released
    /// (so a CPU model reacting to its IRQ line may touch the GIC again).
    fn with_core<R>(&self, f: impl FnOnce(&mut GicCore) -> R) -> R {
        let (result, changes) = {
            let mut core = self.core.borrow_mut();
            let result = f(&mut core);
            (result, core.update_outputs())
        };
        drive(changes);
        result
    }
}

fn drive(changes: OutputChanges) {
    for (line, level) in changes {
        line.set(level);
    }
}

impl IrqSink for Gic {
    fn set_irq(&self, line: u32, level: bool) {
        Gic::set_irq(self, line, level);
    }
}

/// The PPI inputs of one CPU interface.
struct PpiInput {
    gic: Gic,
    cpu: usize,
}

impl IrqSink for PpiInput {
    fn set_irq(&self, line: u32, level: bool) {
        self.gic.set_ppi(self.cpu, line, level);
    }
}

/// The distributor register block (GICD_*), a view of a [`Gic`].
pub struct GicDistributor {
    gic: Gic,
}

impl Device for GicDistributor {
    /// A view of the [`Gic`], which the SoC saves as a whole ([`Gic::save_state`]).
    fn save_state(&self) -> Option<DeviceState> {
        Some(DeviceState::stateless("gic-distributor"))
    }

    fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        state.check("gic-distributor", 0)
    }

    fn read(&mut self, offset: u64, size: u8) -> u64 {
        self.gic.with_core(|core| core.dist_read(offset, size))
    }

    fn write(&mut self, offset: u64, size: u8, value: u64) {
        self.gic
            .with_core(|core| core.dist_write(offset, size, value));
    }

    /// Resets the whole GIC (harmless when the CPU interface block is reset too).
    fn reset(&mut self) {
        self.gic.reset();
    }
}

/// The CPU interface register block (GICC_*), a view of a [`Gic`], banked by current CPU.
pub struct GicCpuInterface {
    gic: Gic,
}

impl Device for GicCpuInterface {
    /// A view of the [`Gic`], which the SoC saves as a whole ([`Gic::save_state`]).
    fn save_state(&self) -> Option<DeviceState> {
        Some(DeviceState::stateless("gic-cpu-interface"))
    }

    fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        state.check("gic-cpu-interface", 0)
    }

    fn read(&mut self, offset: u64, size: u8) -> u64 {
        self.gic.with_core(|core| core.cpu_read(offset, size))
    }

    fn write(&mut self, offset: u64, size: u8, value: u64) {
        self.gic
            .with_core(|core| core.cpu_write(offset, size, value));
    }

    /// Resets the whole GIC (harmless when the distributor block is reset too).
    fn reset(&mut self) {
        self.gic.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::registers::*;
    use super::*;
    use bus::LevelRecorder;

    /// A GIC with `cpus` interfaces and 256 IDs; CPU n's IRQ is recorder line 2n, FIQ 2n+1.
    struct Rig {
        gic: Gic,
        rec: Rc<LevelRecorder>,
        d: GicDistributor,
        c: GicCpuInterface,
    }

    impl Rig {
        fn new(cpus: usize) -> Self {
            let rec = LevelRecorder::new();
            let outputs = (0..cpus as u32)
                .map(|n| GicOutputs {
                    irq: rec.line(2 * n),
                    fiq: rec.line(2 * n + 1),
                })
                .collect();
            let gic = Gic::new(256, outputs);
            let d = gic.distributor();
            let c = gic.cpu_interface();
            Self { gic, rec, d, c }
        }
        fn irq(&self, cpu: u32) -> bool {
            self.rec.level(2 * cpu)
        }
        fn fiq(&self, cpu: u32) -> bool {
            self.rec.level(2 * cpu + 1)
        }
        fn dr(&mut self, off: u64) -> u64 {
            self.d.read(off, 4)
        }
        fn dw(&mut self, off: u64, v: u64) {
            self.d.write(off, 4, v);
        }
        fn cr(&mut self, off: u64) -> u64 {
            self.c.read(off, 4)
        }
        fn cw(&mut self, off: u64, v: u64) {
            self.c.write(off, 4, v);
        }
        /// Distributor and current CPU interface on, PMR open, as Linux leaves them.
        fn enable(&mut self) {
            self.dw(GICD_CTLR, 1);
            self.cw(GICC_PMR, 0xF0);
            self.cw(GICC_CTLR, 1);
        }
        /// Enables `id` with `prio`, targeted at CPU 0.
        fn route(&mut self, id: u64, prio: u8) {
            self.d.write(GICD_IPRIORITYR + id, 1, prio as u64);
            if id >= 32 {
                self.d.write(GICD_ITARGETSR + id, 1, 1);
            }
            self.dw(GICD_ISENABLER + (id / 32) * 4, 1 << (id % 32));
        }
        fn ack(&mut self) -> u64 {
            self.cr(GICC_IAR)
        }
        fn eoi(&mut self, v: u64) {
            self.cw(GICC_EOIR, v);
        }
    }

    #[test]
    fn a_saved_gic_loads_into_a_fresh_one_and_signals_the_same() {
        let mut r = Rig::new(2);
        r.enable();
        r.route(40, 0x80);
        r.route(41, 0x40);
        r.gic.set_irq(40, true);
        r.gic.set_irq(41, true);
        assert!(r.irq(0));
        let saved = r.gic.save_state();

        let mut t = Rig::new(2);
        assert!(!t.irq(0));
        t.gic.load_state(&saved).unwrap();
        assert!(t.irq(0), "the output is driven to the saved level");
        assert_eq!(
            t.gic.save_state(),
            saved,
            "saving it again gives the same state"
        );
        for off in [
            GICD_CTLR,
            GICD_ISENABLER + 4,
            GICD_ISPENDR + 4,
            GICD_ISACTIVER + 4,
        ] {
            assert_eq!(t.dr(off), r.dr(off), "GICD {off:#x}");
        }
        // Both go on alike: 41 first, then 40.
        for g in [&mut r, &mut t] {
            assert_eq!(g.ack(), 41, "the more urgent one first");
            g.gic.set_irq(41, false);
            g.eoi(41);
            assert_eq!(g.ack(), 40);
            g.eoi(40);
        }
        assert_eq!(t.gic.save_state(), r.gic.save_state());

        let other = Rig::new(1);
        let e = other.gic.load_state(&saved).unwrap_err();
        assert!(e.0.contains("2 CPU interfaces"), "{e}");
        let mut wrong = saved.clone();
        wrong.version = 9;
        assert!(t.gic.load_state(&wrong).is_err());
        assert!(
            t.d.save_state().unwrap().data.is_null(),
            "the register views keep nothing"
        );
    }

    #[test]
    fn reset_and_identification_values() {
        let mut r = Rig::new(2);
        assert_eq!(r.dr(GICD_CTLR), 0);
        // ITLinesNumber 7 (256 IDs), CPUNumber 1 (2 CPUs), no Security Extensions.
        assert_eq!(r.dr(GICD_TYPER), 0x27);
        assert_eq!(r.dr(GICD_IIDR), 0x0200_143B);
        let gicc_iidr = r.cr(GICC_IIDR);
        assert_eq!(gicc_iidr, 0x0202_143B);
        assert_eq!(gicc_iidr & 0xff0fff, 0x02043B, "Linux gic_check_gicv2");
        let ids: Vec<u64> = (0..12).map(|i| r.dr(0xFD0 + 4 * i)).collect();
        assert_eq!(
            ids,
            [0x04, 0, 0, 0, 0x90, 0xB4, 0x2B, 0, 0x0D, 0xF0, 0x05, 0xB1]
        );
        assert_eq!(r.dr(GICD_ISENABLER), 0x0000_FFFF, "SGIs always enabled");
        assert_eq!(r.dr(GICD_ISENABLER + 4), 0);
        assert_eq!(r.dr(GICD_ICFGR), 0xAAAA_AAAA, "SGIs edge-triggered");
        assert_eq!(r.dr(GICD_ICFGR + 4), 0);
        assert_eq!(r.dr(GICD_ITARGETSR), 0x0101_0101);
        assert_eq!(r.dr(GICD_ITARGETSR + 0x1C), 0x0101_0101);
        assert_eq!(r.dr(GICD_ITARGETSR + 0x20), 0, "SPI targets reset to none");
        r.gic.set_current_cpu(1);
        assert_eq!(r.dr(GICD_ITARGETSR + 4), 0x0202_0202);
        assert_eq!(r.cr(GICC_CTLR), 0);
        assert_eq!(r.cr(GICC_PMR), 0);
        assert_eq!(r.cr(GICC_BPR), 2);
        assert_eq!(r.cr(GICC_ABPR), 3);
        assert_eq!(r.cr(GICC_RPR), 0xFF);
        assert_eq!(r.cr(GICC_IAR), 1023);
        assert_eq!(r.cr(GICC_HPPIR), 1023);
        // ICENABLER cannot disable SGIs; ICFGR cannot make them level.
        r.dw(GICD_ICENABLER, 0xFFFF_FFFF);
        r.dw(GICD_ICFGR, 0);
        assert_eq!(r.dr(GICD_ISENABLER), 0x0000_FFFF);
        assert_eq!(r.dr(GICD_ICFGR), 0xAAAA_AAAA);
    }

    #[test]
    fn uniprocessor_targets_read_as_zero_and_everything_goes_to_cpu0() {
        let mut r = Rig::new(1);
        assert_eq!(r.dr(GICD_TYPER), 7);
        assert_eq!(r.dr(GICD_ITARGETSR), 0);
        r.enable();
        r.route(40, 0xA0);
        assert_eq!(r.dr(GICD_ITARGETSR + 40), 0, "RAZ/WI");
        r.gic.set_irq(40, true);
        assert!(r.irq(0));
        assert_eq!(r.ack(), 40);
    }

    #[test]
    fn enable_pend_ack_eoi_drives_the_irq_line_once_each_way() {
        let mut r = Rig::new(2);
        r.enable();
        r.route(40, 0xA0);
        let before = r.rec.changes().len();
        let sink = r.gic.spi_sink();
        sink.set_irq(40, true);
        sink.set_irq(40, true); // a redundant level is not a new edge or a new output set
        assert!(r.irq(0));
        assert!(!r.irq(1), "not targeted at CPU 1");
        assert_eq!(r.dr(GICD_ISPENDR + 4), 1 << 8);
        assert_eq!(r.cr(GICC_HPPIR), 40);
        assert_eq!(r.ack(), 40);
        assert!(!r.irq(0), "active interrupt no longer signalled");
        assert_eq!(r.cr(GICC_RPR), 0xA0);
        assert_eq!(r.dr(GICD_ISACTIVER + 4), 1 << 8);
        // Level-sensitive and still high: pending and active.
        assert_eq!(r.dr(GICD_ISPENDR + 4), 1 << 8);
        sink.set_irq(40, false);
        assert_eq!(r.dr(GICD_ISPENDR + 4), 0);
        r.eoi(40);
        assert_eq!(r.dr(GICD_ISACTIVER + 4), 0);
        assert_eq!(r.cr(GICC_RPR), 0xFF);
        assert!(!r.irq(0));
        assert_eq!(r.ack(), 1023);
        assert_eq!(&r.rec.changes()[before..], &[(0, true), (0, false)]);
    }

    #[test]
    fn disabled_distributor_interface_or_interrupt_does_not_signal() {
        let mut r = Rig::new(1);
        r.route(40, 0xA0);
        r.gic.set_irq(40, true);
        r.cw(GICC_PMR, 0xF0);
        r.cw(GICC_CTLR, 1);
        assert!(!r.irq(0), "distributor off");
        r.dw(GICD_CTLR, 1);
        assert!(r.irq(0));
        r.cw(GICC_CTLR, 0);
        assert!(!r.irq(0), "CPU interface off");
        assert_eq!(r.ack(), 1023);
        r.cw(GICC_CTLR, 1);
        r.dw(GICD_ICENABLER + 4, 1 << 8);
        assert!(!r.irq(0), "interrupt disabled");
        assert_eq!(
            r.dr(GICD_ISPENDR + 4),
            1 << 8,
            "still pending while disabled"
        );
        r.dw(GICD_ISENABLER + 4, 1 << 8);
        assert!(r.irq(0));
    }

    #[test]
    fn priority_order_and_priority_mask() {
        let mut r = Rig::new(1);
        r.enable();
        r.route(40, 0x80);
        r.route(41, 0x40);
        r.route(42, 0x40);
        // 5 priority bits: the low 3 bits read as zero.
        r.d.write(GICD_IPRIORITYR + 43, 1, 0xFF);
        assert_eq!(r.d.read(GICD_IPRIORITYR + 43, 1), 0xF8);
        assert_eq!(r.dr(GICD_IPRIORITYR + 40), 0xF840_4080);
        r.cw(GICC_PMR, 0xFF);
        assert_eq!(r.cr(GICC_PMR), 0xF8);
        for id in [40, 41, 42] {
            r.gic.set_irq(id, true);
        }
        // Mask at 0x40: priority 0x40 is not higher than the mask.
        r.cw(GICC_PMR, 0x40);
        assert!(!r.irq(0));
        assert_eq!(r.cr(GICC_HPPIR), 1023);
        assert_eq!(r.ack(), 1023);
        r.cw(GICC_PMR, 0x48);
        assert!(r.irq(0));
        assert_eq!(r.cr(GICC_HPPIR), 41, "equal priorities: lowest ID first");
        assert_eq!(r.ack(), 41);
        r.gic.set_irq(41, false);
        r.eoi(41);
        assert_eq!(r.ack(), 42);
        r.gic.set_irq(42, false);
        r.eoi(42);
        assert_eq!(r.ack(), 1023, "0x80 is masked by 0x48");
        r.cw(GICC_PMR, 0xF0);
        assert_eq!(r.ack(), 40);
    }

    #[test]
    fn higher_priority_preempts_equal_does_not() {
        let mut r = Rig::new(1);
        r.enable();
        r.route(41, 0x40);
        r.route(42, 0x40);
        r.route(43, 0x20);
        r.gic.set_irq(41, true);
        assert_eq!(r.ack(), 41);
        assert_eq!(r.cr(GICC_RPR), 0x40);
        assert_eq!(r.cr(GICC_APR0), 1 << 8);
        r.gic.set_irq(42, true);
        assert!(!r.irq(0), "equal priority does not preempt");
        assert_eq!(r.cr(GICC_HPPIR), 42, "HPPIR ignores the running priority");
        assert_eq!(r.ack(), 1023);
        r.gic.set_irq(43, true);
        assert!(r.irq(0), "higher priority preempts");
        assert_eq!(r.ack(), 43);
        assert_eq!(r.cr(GICC_RPR), 0x20);
        assert!(!r.irq(0));
        r.gic.set_irq(43, false);
        r.eoi(43);
        assert_eq!(r.cr(GICC_RPR), 0x40);
        assert!(!r.irq(0), "42 still cannot preempt 41");
        r.gic.set_irq(41, false);
        r.eoi(41);
        assert_eq!(r.cr(GICC_RPR), 0xFF);
        assert!(r.irq(0));
        assert_eq!(r.ack(), 42);
    }

    #[test]
    fn binary_point_groups_priorities_for_preemption() {
        let mut r = Rig::new(1);
        r.enable();
        r.cw(GICC_BPR, 0);
        assert_eq!(
            r.cr(GICC_BPR),
            2,
            "minimum binary point with 5 priority bits"
        );
        r.cw(GICC_BPR, 4); // group priority = bits [7:5]
        r.route(41, 0x48);
        r.route(42, 0x40);
        r.gic.set_irq(41, true);
        assert_eq!(r.ack(), 41);
        assert_eq!(r.cr(GICC_RPR), 0x40);
        r.gic.set_irq(42, true);
        assert!(!r.irq(0), "same group priority 0x40: no preemption");
    }

    #[test]
    fn level_repends_after_eoi_edge_does_not() {
        let mut r = Rig::new(1);
        r.enable();
        r.route(40, 0xA0);
        r.route(41, 0xA0);
        // ID 41: ICFGR2 field 9, Int_config[1] is bit 19.
        r.dw(GICD_ICFGR + 8, 1 << 19);
        assert_eq!(r.dr(GICD_ICFGR + 8), 1 << 19);

        r.gic.set_irq(40, true);
        assert_eq!(r.ack(), 40);
        r.eoi(40);
        assert!(r.irq(0), "level still high: pending again");
        assert_eq!(r.ack(), 40);
        // Clearing pending does not help while the line is high.
        r.dw(GICD_ICPENDR + 4, 1 << 8);
        assert_eq!(r.dr(GICD_ISPENDR + 4), 1 << 8);
        r.gic.set_irq(40, false);
        r.eoi(40);
        assert!(!r.irq(0));

        r.gic.set_irq(41, true);
        assert!(r.irq(0));
        assert_eq!(r.ack(), 41);
        r.eoi(41);
        assert!(!r.irq(0), "edge: no new edge, no new interrupt");
        assert_eq!(r.ack(), 1023);
        r.gic.set_irq(41, false);
        assert!(!r.irq(0), "falling edge does nothing");
        r.gic.set_irq(41, true);
        assert!(r.irq(0), "new rising edge");
        // An edge that arrives while active is latched and taken after EOI.
        assert_eq!(r.ack(), 41);
        r.gic.set_irq(41, false);
        r.gic.set_irq(41, true);
        assert!(!r.irq(0));
        r.eoi(41);
        assert!(r.irq(0));
        assert_eq!(r.ack(), 41);
        r.eoi(41);
        // Software pending of a level interrupt latches until acknowledged.
        r.dw(GICD_ISPENDR + 4, 1 << 8);
        assert!(r.irq(0));
        assert_eq!(r.ack(), 40);
        r.eoi(40);
        assert!(!r.irq(0));
    }

    #[test]
    fn sgi_carries_its_source_cpu() {
        let mut r = Rig::new(2);
        r.enable();
        r.gic.set_current_cpu(1);
        r.cw(GICC_PMR, 0xF0);
        r.cw(GICC_CTLR, 1);
        // CPU 1 sends SGI 3 to CPU 0 through the target list.
        r.dw(GICD_SGIR, (1 << 16) | 3);
        assert!(r.irq(0));
        assert!(!r.irq(1));
        r.gic.set_current_cpu(0);
        assert_eq!(r.d.read(GICD_SPENDSGIR + 3, 1), 0b10, "source CPU 1");
        assert_eq!(r.dr(GICD_ISPENDR) & 0xFFFF, 1 << 3);
        assert_eq!(r.cr(GICC_HPPIR), 0x403);
        assert_eq!(r.ack(), 0x403, "SGI 3 from CPU 1");
        assert!(!r.irq(0));
        r.eoi(0x403);
        assert_eq!(r.dr(GICD_ISACTIVER), 0);
        // CPU 0 sends SGI 5 to everyone else, then SGI 6 to itself.
        r.dw(GICD_SGIR, (1 << 24) | 5);
        assert!(r.irq(1));
        assert!(!r.irq(0));
        r.dw(GICD_SGIR, (2 << 24) | 6);
        assert!(r.irq(0));
        assert_eq!(r.ack(), 6);
        r.eoi(6);
        r.gic.set_current_cpu(1);
        assert_eq!(r.ack(), 5);
        r.eoi(5);
        assert!(!r.irq(1));
        // Two sources of the same SGI: taken once per source, lowest CPU first.
        r.gic.set_current_cpu(0);
        r.dw(GICD_SGIR, (2 << 16) | 1);
        r.gic.set_current_cpu(1);
        r.dw(GICD_SGIR, (2 << 24) | 1);
        assert_eq!(r.d.read(GICD_SPENDSGIR + 1, 1), 0b11);
        assert_eq!(r.ack(), 1);
        r.eoi(1);
        assert_eq!(r.ack(), 0x401);
        r.eoi(0x401);
        assert_eq!(r.ack(), 1023);
        // SPENDSGIR/CPENDSGIR set and clear source bits of the current CPU.
        r.d.write(GICD_SPENDSGIR + 2, 1, 0b01);
        assert!(r.irq(1));
        r.d.write(GICD_CPENDSGIR + 2, 1, 0b01);
        assert!(!r.irq(1));
        assert_eq!(r.dr(GICD_SPENDSGIR), 0);
        // ISPENDR cannot pend an SGI.
        r.dw(GICD_ISPENDR, 0xFFFF);
        assert_eq!(r.dr(GICD_ISPENDR), 0);
        // Reserved filter 3 sends nothing.
        r.dw(GICD_SGIR, (3 << 24) | 7);
        assert!(!r.irq(0) && !r.irq(1));
    }

    #[test]
    fn ppis_are_banked_per_cpu() {
        let mut r = Rig::new(2);
        r.dw(GICD_CTLR, 1);
        for cpu in 0..2 {
            r.gic.set_current_cpu(cpu);
            r.cw(GICC_PMR, 0xF0);
            r.cw(GICC_CTLR, 1);
        }
        // CPU 0 configures PPI 29 (secure physical timer); CPU 1's copy is untouched.
        r.gic.set_current_cpu(0);
        r.d.write(GICD_IPRIORITYR + 29, 1, 0x10);
        r.dw(GICD_ISENABLER, 1 << 29);
        r.gic.set_current_cpu(1);
        assert_eq!(r.d.read(GICD_IPRIORITYR + 29, 1), 0);
        assert_eq!(r.dr(GICD_ISENABLER), 0xFFFF);

        let timer1 = r.gic.ppi_sink(1);
        timer1.set_irq(29, true);
        assert_eq!(r.dr(GICD_ISPENDR), 1 << 29, "pending on CPU 1");
        assert!(!r.irq(1), "but not enabled there");
        r.gic.set_current_cpu(0);
        assert_eq!(r.dr(GICD_ISPENDR), 0, "CPU 0's PPI 29 is low");
        assert!(!r.irq(0));

        r.gic.ppi_sink(0).set_irq(29, true);
        assert!(r.irq(0));
        assert!(!r.irq(1));
        assert_eq!(r.ack(), 29);
        assert_eq!(r.cr(GICC_RPR), 0x10);
        r.gic.set_current_cpu(1);
        assert_eq!(r.cr(GICC_RPR), 0xFF, "CPU interfaces are banked too");
        assert_eq!(r.dr(GICD_ISACTIVER), 0);
        r.dw(GICD_ISENABLER, 1 << 29);
        assert!(r.irq(1));
        assert_eq!(r.ack(), 29);
        // SGI numbers and SPI numbers are not PPI inputs.
        let before = r.gic.state();
        timer1.set_irq(3, true);
        timer1.set_irq(40, true);
        r.gic.ppi_sink(7).set_irq(29, true);
        r.gic.set_irq(20, true);
        r.gic.set_irq(256, true);
        assert_eq!(r.gic.state(), before);
    }

    #[test]
    fn spi_targets_pick_the_cpu() {
        let mut r = Rig::new(2);
        r.dw(GICD_CTLR, 1);
        for cpu in 0..2 {
            r.gic.set_current_cpu(cpu);
            r.cw(GICC_PMR, 0xF0);
            r.cw(GICC_CTLR, 1);
        }
        r.route(50, 0xA0);
        r.d.write(GICD_ITARGETSR + 50, 1, 0xFE);
        assert_eq!(r.d.read(GICD_ITARGETSR + 50, 1), 0x02, "only 2 CPUs");
        r.gic.set_irq(50, true);
        assert!(r.irq(1));
        assert!(!r.irq(0));
        r.d.write(GICD_ITARGETSR + 50, 1, 0x03);
        assert!(r.irq(0) && r.irq(1));
        r.gic.set_current_cpu(0);
        assert_eq!(r.ack(), 50);
        // Active now: neither CPU is signalled, and CPU 1 cannot take it too.
        assert!(!r.irq(0) && !r.irq(1));
        r.gic.set_current_cpu(1);
        assert_eq!(r.ack(), 1023);
    }

    #[test]
    fn groups_fiq_and_aliased_registers() {
        let mut r = Rig::new(1);
        r.dw(GICD_CTLR, 3);
        r.cw(GICC_PMR, 0xF0);
        // Group 0 on FIQ, Group 1 on IRQ.
        r.cw(GICC_CTLR, 0b1011);
        r.route(40, 0x80);
        r.route(41, 0x40);
        r.dw(GICD_IGROUPR + 4, 1 << 9); // 41 is Group 1
        assert_eq!(r.dr(GICD_IGROUPR + 4), 1 << 9);
        r.gic.set_irq(40, true);
        assert!(r.fiq(0));
        assert!(!r.irq(0));
        r.gic.set_irq(41, true);
        assert!(r.irq(0) && !r.fiq(0), "41 is the more urgent, and Group 1");
        assert_eq!(r.cr(GICC_HPPIR), 1022);
        assert_eq!(r.ack(), 1022, "AckCtl clear: IAR does not take Group 1");
        assert_eq!(r.cr(GICC_AHPPIR), 41);
        assert_eq!(r.cr(GICC_AIAR), 41);
        assert_eq!(r.cr(GICC_NSAPR0), 1 << 8);
        assert_eq!(r.cr(GICC_APR0), 0);
        assert_eq!(r.cr(GICC_RPR), 0x40);
        assert!(!r.irq(0) && !r.fiq(0));
        r.gic.set_irq(41, false);
        r.cw(GICC_AEOIR, 41);
        assert!(r.fiq(0));
        assert_eq!(r.cr(GICC_AIAR), 1023, "Group 0 is not taken through AIAR");
        assert_eq!(r.ack(), 40);
    }

    #[test]
    fn eoi_mode_splits_priority_drop_and_deactivation() {
        let mut r = Rig::new(1);
        r.dw(GICD_CTLR, 1);
        r.cw(GICC_PMR, 0xF0);
        r.cw(GICC_CTLR, 1 | GICC_CTLR_EOI_MODE as u64);
        r.route(40, 0xA0);
        r.gic.set_irq(40, true);
        r.cw(GICC_DIR, 40); // nothing active: harmless
        assert_eq!(r.ack(), 40);
        r.eoi(40);
        assert_eq!(r.cr(GICC_RPR), 0xFF, "priority dropped");
        assert_eq!(r.dr(GICD_ISACTIVER + 4), 1 << 8, "still active");
        assert!(!r.irq(0));
        r.cw(GICC_DIR, 40);
        assert_eq!(r.dr(GICD_ISACTIVER + 4), 0);
        assert!(r.irq(0), "line still high");
    }

    #[test]
    fn spurious_and_stray_writes() {
        let mut r = Rig::new(1);
        r.enable();
        assert_eq!(r.ack(), 1023);
        r.eoi(1023);
        r.eoi(40); // nothing active
        assert_eq!(r.cr(GICC_RPR), 0xFF);
        // Set/clear active by software.
        r.dw(GICD_ISACTIVER + 4, 1 << 8);
        assert_eq!(r.dr(GICD_ISACTIVER + 4), 1 << 8);
        assert_eq!(r.dr(GICD_ICACTIVER + 4), 1 << 8);
        r.dw(GICD_ICACTIVER + 4, 1 << 8);
        assert_eq!(r.dr(GICD_ISACTIVER + 4), 0);
        // Beyond the implemented IDs: RAZ/WI.
        r.dw(GICD_ISENABLER + 0x7C, u32::MAX as u64);
        assert_eq!(r.dr(GICD_ISENABLER + 0x7C), 0);
        r.dw(GICD_IPRIORITYR + 0x3F8, u32::MAX as u64);
        assert_eq!(r.dr(GICD_IPRIORITYR + 0x3F8), 0);
    }

    #[test]
    fn sub_word_accesses() {
        let mut r = Rig::new(2);
        // A half-word write to ISENABLER1's upper half enables only IDs 48-63.
        r.d.write(GICD_ISENABLER + 6, 2, 0x0003);
        assert_eq!(r.dr(GICD_ISENABLER + 4), 0x0003_0000);
        assert_eq!(r.d.read(GICD_ISENABLER + 6, 2), 3);
        // Priority word written by bytes and read as a word.
        for (i, p) in [0x10u64, 0x20, 0x30, 0x40].into_iter().enumerate() {
            r.d.write(GICD_IPRIORITYR + 32 + i as u64, 1, p);
        }
        assert_eq!(r.dr(GICD_IPRIORITYR + 32), 0x4030_2010);
        assert_eq!(r.d.read(GICD_IPRIORITYR + 33, 2), 0x3020);
        // Byte write of GICD_CTLR.
        r.d.write(GICD_CTLR, 1, 3);
        assert_eq!(r.dr(GICD_CTLR), 3);
        // 8-byte access is two words.
        r.d.write(GICD_IPRIORITYR + 40, 8, 0x8877_6655_4433_2211);
        assert_eq!(r.d.read(GICD_IPRIORITYR + 40, 8), 0x8870_6050_4030_2010);
        // CPU interface: byte write merges into PMR; a byte read of IAR acknowledges nothing.
        r.c.write(GICC_PMR, 1, 0xF0);
        assert_eq!(r.cr(GICC_PMR), 0xF0);
        r.cw(GICC_CTLR, 1);
        r.route(40, 0x10);
        r.gic.set_irq(40, true);
        assert_eq!(r.c.read(GICC_IAR, 1), 0);
        assert_eq!(r.c.read(GICC_IAR, 2), 0);
        assert!(r.irq(0));
        assert_eq!(r.ack(), 40);
        r.c.write(GICC_EOIR, 2, 40); // ignored: word-only
        assert_eq!(r.cr(GICC_RPR), 0x10);
        r.c.write(GICC_EOIR, 8, 40);
        assert_eq!(r.cr(GICC_RPR), 0xFF);
        // A partial GICD_SGIR write sends nothing.
        r.d.write(GICD_SGIR, 2, 3);
        assert_eq!(r.dr(GICD_SPENDSGIR), 0);
    }

    #[test]
    fn every_offset_and_width_is_safe() {
        let mut r = Rig::new(2);
        r.enable();
        for size in [1u8, 2, 3, 4, 5, 8, 16] {
            for off in (0..0x1100u64).chain([u64::MAX - 3, u64::MAX]) {
                r.d.read(off, size);
                r.c.read(off, size);
                r.c.read(off.wrapping_add(0x1000), size);
            }
        }
        for size in [1u8, 2, 4, 8, 0] {
            for off in (0..0x1100u64).step_by(3).chain([u64::MAX - 3, u64::MAX]) {
                r.d.write(off, size, u64::MAX);
                r.c.write(off, size, 0x5A5A_5A5A_5A5A_5A5A);
                r.c.write(off.wrapping_add(0x1000), size, u64::MAX);
            }
        }
        r.gic.set_current_cpu(9);
        assert_eq!(r.gic.current_cpu(), 0);
    }

    #[test]
    fn reset_restores_registers_and_keeps_input_levels() {
        let mut r = Rig::new(1);
        r.enable();
        r.route(40, 0xA0);
        r.gic.set_irq(40, true);
        assert_eq!(r.ack(), 40);
        r.gic.set_irq(40, false);
        r.gic.set_irq(40, true);
        r.eoi(40);
        assert!(r.irq(0));
        r.d.reset();
        assert!(!r.irq(0), "outputs lowered");
        assert_eq!(r.gic.state().dist_ctlr, 0);
        assert_eq!(r.dr(GICD_ISENABLER + 4), 0);
        assert_eq!(r.dr(GICD_IPRIORITYR + 40), 0);
        assert_eq!(r.cr(GICC_BPR), 2);
        // The line is still high: pending again as soon as it is enabled.
        assert_eq!(r.dr(GICD_ISPENDR + 4), 1 << 8);
        r.c.reset();
        r.enable();
        r.route(40, 0xA0);
        assert!(r.irq(0));
    }

    #[test]
    fn state_round_trip_redrives_outputs() {
        let mut r = Rig::new(2);
        r.enable();
        r.route(40, 0xA0);
        r.gic.set_irq(40, true);
        assert!(r.irq(0));
        let snapshot = r.gic.state();
        let rec = LevelRecorder::new();
        let outputs = (0..2)
            .map(|n| GicOutputs {
                irq: rec.line(2 * n),
                fiq: rec.line(2 * n + 1),
            })
            .collect();
        let copy = Gic::from_state(snapshot.clone(), outputs);
        assert_eq!(copy.state(), snapshot);
        assert!(rec.level(0));
        assert_eq!(copy.output_levels(0), (true, false));
        let mut c = copy.cpu_interface();
        assert_eq!(c.read(GICC_IAR, 4), 40);
        assert!(!rec.level(0));
        assert!(r.irq(0), "the original is independent");
    }
}
