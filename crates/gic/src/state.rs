//! The plain, copyable state of the whole GIC: what `Gic::state` returns and `Gic::from_state`
//! takes back.

use crate::registers::{MIN_ABPR, MIN_BPR, NUM_PRIVATE, NUM_SGIS};

/// The state the distributor keeps for one interrupt ID.
///
/// SGIs and PPIs (IDs 0-31) have one copy per CPU interface (banked); SPIs have one copy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InterruptState {
    /// Forwarding enabled (GICD_ISENABLER bit). Always true for SGIs.
    pub enabled: bool,
    /// Latched pending state: set by a rising edge or a GICD_ISPENDR write, cleared by an
    /// acknowledge or a GICD_ICPENDR write. A level-sensitive interrupt is also pending while
    /// its line is high, whatever this latch says. Unused for SGIs (see `CpuState::sgi_sources`).
    pub pending_latch: bool,
    /// Active: acknowledged and not yet deactivated.
    pub active: bool,
    /// Group 1 (GICD_IGROUPR bit set); Group 0 when false.
    pub group1: bool,
    /// Edge-triggered (GICD_ICFGR Int_config[1] set); level-sensitive when false.
    pub edge: bool,
    /// Current level of the interrupt's input line (PPIs and SPIs).
    pub line: bool,
    /// Priority (GICD_IPRIORITYR byte; the low 3 bits are always zero). Lower is more urgent.
    pub priority: u8,
    /// CPU targets (GICD_ITARGETSR byte), bit n = CPU interface n. SPIs only.
    pub targets: u8,
}

/// One CPU interface's registers plus the distributor state banked for that CPU.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CpuState {
    /// GICC_CTLR.
    pub ctlr: u32,
    /// GICC_PMR: interrupts signal only if their priority is lower (more urgent) than this.
    pub pmr: u8,
    /// GICC_BPR (2..=7).
    pub bpr: u8,
    /// GICC_ABPR (3..=7), used for Group 1 interrupts while GICC_CTLR.CBPR is clear.
    pub abpr: u8,
    /// GICC_APR0: bit n set = a Group 0 interrupt of group priority n*8 is active.
    pub apr: u32,
    /// GICC_NSAPR0: bit n set = a Group 1 interrupt of group priority n*8 is active.
    pub nsapr: u32,
    /// SGIs and PPIs (IDs 0-31) as this CPU sees them.
    pub private: [InterruptState; NUM_PRIVATE as usize],
    /// Pending SGIs: entry n is the set of CPUs (bit per CPU) that sent SGI n to this CPU.
    pub sgi_sources: [u8; NUM_SGIS as usize],
    /// Level this CPU's IRQ output was last driven to.
    pub irq_output: bool,
    /// Level this CPU's FIQ output was last driven to.
    pub fiq_output: bool,
}

impl CpuState {
    /// A CPU interface and its banked interrupts at reset.
    pub fn new() -> Self {
        let private = std::array::from_fn(|id| InterruptState {
            // SGIs are permanently enabled and edge-triggered (GIC-400, Cortex-A7).
            enabled: id < NUM_SGIS as usize,
            edge: id < NUM_SGIS as usize,
            ..InterruptState::default()
        });
        Self {
            ctlr: 0,
            pmr: 0,
            bpr: MIN_BPR,
            abpr: MIN_ABPR,
            apr: 0,
            nsapr: 0,
            private,
            sgi_sources: [0; NUM_SGIS as usize],
            irq_output: false,
            fiq_output: false,
        }
    }
}

impl Default for CpuState {
    fn default() -> Self {
        Self::new()
    }
}

/// The whole GIC: distributor, every CPU interface, every interrupt.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GicState {
    /// GICD_CTLR.
    pub dist_ctlr: u32,
    /// One entry per CPU interface (1 to 8).
    pub cpus: Vec<CpuState>,
    /// SPIs: entry n is interrupt ID 32 + n.
    pub spis: Vec<InterruptState>,
}

impl GicState {
    /// The reset state of a GIC with `num_cpus` CPU interfaces and `num_irqs` interrupt IDs
    /// (including the 32 private ones).
    pub fn new(num_cpus: usize, num_irqs: u32) -> Self {
        let num_spis = num_irqs.saturating_sub(NUM_PRIVATE) as usize;
        Self {
            dist_ctlr: 0,
            cpus: vec![CpuState::new(); num_cpus],
            spis: vec![InterruptState::default(); num_spis],
        }
    }

    /// Number of interrupt IDs, private ones included.
    pub fn num_irqs(&self) -> u32 {
        NUM_PRIVATE.saturating_add(u32::try_from(self.spis.len()).unwrap_or(u32::MAX))
    }

    /// Returns every register to its reset value. Input line levels are kept: they are wires
    /// driven by the devices, not GIC state.
    pub fn reset(&mut self) {
        let mut fresh = Self::new(self.cpus.len(), self.num_irqs());
        for (new, old) in fresh.cpus.iter_mut().zip(&self.cpus) {
            for (n, o) in new.private.iter_mut().zip(&old.private) {
                n.line = o.line;
            }
            // The outputs keep their last driven level until the next update lowers them.
            new.irq_output = old.irq_output;
            new.fiq_output = old.fiq_output;
        }
        for (n, o) in fresh.spis.iter_mut().zip(&self.spis) {
            n.line = o.line;
        }
        *self = fresh;
    }
}
