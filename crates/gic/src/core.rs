//! Interrupt state machine shared by the distributor and CPU interface views: pending and
//! active state, prioritisation, acknowledge and end of interrupt, and the output lines.

use std::collections::HashSet;

use bus::{IrqLine, UnimplementedLog};

use crate::registers::*;
use crate::state::{GicState, InterruptState};
use crate::GicOutputs;

/// The highest priority pending interrupt found for one CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// Interrupt ID.
    pub id: u32,
    /// Its priority.
    pub priority: u8,
    /// True for a Group 1 interrupt.
    pub group1: bool,
}

/// Output line changes to make once the state is no longer borrowed.
pub(crate) type OutputChanges = Vec<(IrqLine, bool)>;

/// Everything behind the `Gic` handle.
pub(crate) struct GicCore {
    /// Registers and interrupt state.
    pub state: GicState,
    /// IRQ and FIQ output of each CPU interface.
    pub outputs: Vec<GicOutputs>,
    /// CPU interface whose banked registers the next access sees.
    pub current_cpu: usize,
    /// Unknown distributor registers.
    pub dist_log: UnimplementedLog,
    /// Unknown CPU interface registers.
    pub cpu_log: UnimplementedLog,
    /// Input lines outside the valid range already reported: (cpu or usize::MAX, line).
    pub bad_lines: HashSet<(usize, u32)>,
    /// Something changed that may move an output line.
    pub dirty: bool,
}

impl GicCore {
    pub fn new(state: GicState, outputs: Vec<GicOutputs>) -> Self {
        Self {
            state,
            outputs,
            current_cpu: 0,
            dist_log: UnimplementedLog::new("gic-distributor"),
            cpu_log: UnimplementedLog::new("gic-cpu-interface"),
            bad_lines: HashSet::new(),
            dirty: true,
        }
    }

    pub fn num_cpus(&self) -> usize {
        self.state.cpus.len()
    }

    pub fn num_irqs(&self) -> u32 {
        self.state.num_irqs()
    }

    /// Bit mask of the implemented CPU interfaces.
    pub fn cpu_mask(&self) -> u8 {
        let n = self.num_cpus().min(MAX_CPUS);
        ((1u32 << n) - 1) as u8
    }

    /// The state of interrupt `id` as `cpu` sees it; `None` when `id` is not implemented.
    pub fn irq(&self, id: u32, cpu: usize) -> Option<&InterruptState> {
        if id < NUM_PRIVATE {
            self.state.cpus.get(cpu)?.private.get(id as usize)
        } else {
            self.state.spis.get((id - NUM_PRIVATE) as usize)
        }
    }

    /// Mutable access to interrupt `id` as `cpu` sees it; `None` when not implemented.
    pub fn irq_mut(&mut self, id: u32, cpu: usize) -> Option<&mut InterruptState> {
        if id < NUM_PRIVATE {
            self.state.cpus.get_mut(cpu)?.private.get_mut(id as usize)
        } else {
            self.state.spis.get_mut((id - NUM_PRIVATE) as usize)
        }
    }

    /// Pending state of interrupt `id` for `cpu`.
    pub fn is_pending(&self, id: u32, cpu: usize) -> bool {
        if id < NUM_SGIS {
            return self
                .state
                .cpus
                .get(cpu)
                .is_some_and(|c| c.sgi_sources[id as usize] != 0);
        }
        self.irq(id, cpu)
            .is_some_and(|s| s.pending_latch || (!s.edge && s.line))
    }

    /// Whether SPI state `s` is routed to `cpu`. A uniprocessor GIC routes everything to CPU 0
    /// (its GICD_ITARGETSR are RAZ/WI).
    fn targets_cpu(&self, s: &InterruptState, cpu: usize) -> bool {
        self.num_cpus() == 1 || (s.targets >> cpu) & 1 != 0
    }

    /// Highest priority interrupt that is enabled, pending, not active, routed to `cpu` and of a
    /// group enabled both in GICD_CTLR and GICC_CTLR. Ties go to the lowest ID.
    pub fn best_pending(&self, cpu: usize) -> Option<Candidate> {
        let c = self.state.cpus.get(cpu)?;
        let groups =
            self.state.dist_ctlr & c.ctlr & (GICC_CTLR_ENABLE_GRP0 | GICC_CTLR_ENABLE_GRP1);
        if groups == 0 {
            return None;
        }
        let mut best: Option<Candidate> = None;
        let mut consider = |id: u32, s: &InterruptState, pending: bool| {
            if !s.enabled || s.active || !pending {
                return;
            }
            if groups & (1 << u32::from(s.group1)) == 0 {
                return;
            }
            if let Some(b) = best {
                if s.priority >= b.priority {
                    return;
                }
            }
            best = Some(Candidate {
                id,
                priority: s.priority,
                group1: s.group1,
            });
        };
        for (id, s) in c.private.iter().enumerate() {
            let id = id as u32;
            let pending = if id < NUM_SGIS {
                c.sgi_sources[id as usize] != 0
            } else {
                s.pending_latch || (!s.edge && s.line)
            };
            consider(id, s, pending);
        }
        for (n, s) in self.state.spis.iter().enumerate() {
            if !self.targets_cpu(s, cpu) {
                continue;
            }
            let pending = s.pending_latch || (!s.edge && s.line);
            consider(NUM_PRIVATE + n as u32, s, pending);
        }
        best
    }

    /// The highest priority pending interrupt that passes the priority mask (GICC_HPPIR's view).
    pub fn highest_unmasked(&self, cpu: usize) -> Option<Candidate> {
        let pmr = self.state.cpus.get(cpu)?.pmr;
        self.best_pending(cpu).filter(|c| c.priority < pmr)
    }

    /// Group priority of an interrupt: its priority with the subpriority bits cleared, as the
    /// binary point register that applies to its group says.
    pub fn group_priority(&self, cpu: usize, priority: u8, group1: bool) -> u8 {
        let Some(c) = self.state.cpus.get(cpu) else {
            return priority;
        };
        let mask = if group1 && c.ctlr & GICC_CTLR_CBPR == 0 {
            // Group 1 binary point n: group priority field is bits [7:n].
            0xFFu32 << (c.abpr & 7)
        } else {
            // Group 0 binary point n: group priority field is bits [7:n+1].
            0xFFu32 << ((c.bpr & 7) + 1)
        };
        priority & (mask as u8)
    }

    /// Running priority of `cpu`: the group priority of its highest priority active interrupt,
    /// 0x100 when none is active (so that every priority can preempt idle).
    pub fn running_priority(&self, cpu: usize) -> u16 {
        match self.state.cpus.get(cpu) {
            Some(c) if c.apr | c.nsapr != 0 => ((c.apr | c.nsapr).trailing_zeros() << 3) as u16,
            _ => 0x100,
        }
    }

    /// The interrupt `cpu` would take now: highest pending, unmasked, and able to preempt.
    pub fn signalled(&self, cpu: usize) -> Option<Candidate> {
        let c = self.highest_unmasked(cpu)?;
        let gp = self.group_priority(cpu, c.priority, c.group1);
        (u16::from(gp) < self.running_priority(cpu)).then_some(c)
    }

    /// GICC_IAR (`alias` false) or GICC_AIAR (`alias` true) read.
    pub fn acknowledge(&mut self, cpu: usize, alias: bool) -> u32 {
        let Some(c) = self.signalled(cpu) else {
            return SPURIOUS;
        };
        let ack_ctl = self
            .state
            .cpus
            .get(cpu)
            .is_some_and(|s| s.ctlr & GICC_CTLR_ACK_CTL != 0);
        if alias && !c.group1 {
            return SPURIOUS;
        }
        if !alias && c.group1 && !ack_ctl {
            return SPURIOUS_GROUP1;
        }
        let gp = self.group_priority(cpu, c.priority, c.group1);
        self.dirty = true;
        let mut value = c.id;
        if c.id < NUM_SGIS {
            let Some(cs) = self.state.cpus.get_mut(cpu) else {
                return SPURIOUS;
            };
            let sources = &mut cs.sgi_sources[c.id as usize];
            let src = sources.trailing_zeros();
            *sources &= !(1u8 << (src & 7));
            value |= (src & 7) << GICC_IAR_CPUID_SHIFT;
        }
        if let Some(s) = self.irq_mut(c.id, cpu) {
            // A level-sensitive interrupt whose line is still high stays pending.
            s.pending_latch = false;
            s.active = true;
        }
        if let Some(cs) = self.state.cpus.get_mut(cpu) {
            let bit = 1u32 << (gp >> 3);
            if c.group1 {
                cs.nsapr |= bit;
            } else {
                cs.apr |= bit;
            }
        }
        value
    }

    /// GICC_EOIR / GICC_AEOIR write: priority drop, and deactivation unless GICC_CTLR.EOImode.
    pub fn end_of_interrupt(&mut self, cpu: usize, value: u32) {
        let id = value & GICC_INT_ID_MASK;
        if id >= self.num_irqs() {
            // Spurious IDs (1020-1023) are ignored, and so are IDs the GIC does not implement.
            return;
        }
        let group1 = self.irq(id, cpu).is_some_and(|s| s.group1);
        let Some(cs) = self.state.cpus.get_mut(cpu) else {
            return;
        };
        let active = cs.apr | cs.nsapr;
        if active == 0 {
            log::debug!("gic: EOI of interrupt {id} on CPU {cpu} with no active priority");
            return;
        }
        // Drop the highest active priority (the lowest set bit).
        let bit = active & active.wrapping_neg();
        if (group1 && cs.nsapr & bit != 0) || cs.apr & bit == 0 {
            cs.nsapr &= !bit;
        } else {
            cs.apr &= !bit;
        }
        let split = cs.ctlr & GICC_CTLR_EOI_MODE != 0;
        if !split {
            if let Some(s) = self.irq_mut(id, cpu) {
                s.active = false;
            }
        }
        self.dirty = true;
    }

    /// GICC_DIR write: deactivate, meaningful only with GICC_CTLR.EOImode set.
    pub fn deactivate(&mut self, cpu: usize, value: u32) {
        let id = value & GICC_INT_ID_MASK;
        let split = self
            .state
            .cpus
            .get(cpu)
            .is_some_and(|c| c.ctlr & GICC_CTLR_EOI_MODE != 0);
        if !split {
            log::debug!("gic: GICC_DIR write for {id} with EOImode clear ignored");
            return;
        }
        if let Some(s) = self.irq_mut(id, cpu) {
            s.active = false;
            self.dirty = true;
        }
    }

    /// An input line changed. `cpu` is `Some` for a PPI input, `None` for an SPI.
    pub fn set_line(&mut self, cpu: Option<usize>, id: u32, level: bool) {
        let valid = match cpu {
            Some(c) => (NUM_SGIS..NUM_PRIVATE).contains(&id) && c < self.num_cpus(),
            None => (NUM_PRIVATE..self.num_irqs()).contains(&id),
        };
        if !valid {
            if self.bad_lines.insert((cpu.unwrap_or(usize::MAX), id)) {
                log::warn!("gic: input line {id} (cpu {cpu:?}) does not exist; ignored");
            }
            return;
        }
        let Some(s) = self.irq_mut(id, cpu.unwrap_or(0)) else {
            return;
        };
        if s.line == level {
            return;
        }
        s.line = level;
        if level && s.edge {
            s.pending_latch = true;
        }
        self.dirty = true;
    }

    /// Sends SGI `id` from `source` to every CPU in `targets`.
    pub fn send_sgi(&mut self, source: usize, id: u32, targets: u8) {
        let id = (id & GICD_SGIR_INTID_MASK) as usize;
        let targets = targets & self.cpu_mask();
        for (n, c) in self.state.cpus.iter_mut().enumerate() {
            if (targets >> n) & 1 != 0 {
                c.sgi_sources[id] |= 1u8 << (source & 7);
            }
        }
        self.dirty = true;
    }

    /// Recomputes every CPU's IRQ/FIQ level and returns the lines whose level must change.
    pub fn update_outputs(&mut self) -> OutputChanges {
        let mut changes = OutputChanges::new();
        if !self.dirty {
            return changes;
        }
        self.dirty = false;
        for cpu in 0..self.num_cpus() {
            let (irq, fiq) = match self.signalled(cpu) {
                Some(c) => {
                    let fiq_en = self.state.cpus[cpu].ctlr & GICC_CTLR_FIQ_EN != 0;
                    if !c.group1 && fiq_en {
                        (false, true)
                    } else {
                        (true, false)
                    }
                }
                None => (false, false),
            };
            let cs = &mut self.state.cpus[cpu];
            let out = self.outputs.get(cpu);
            if cs.irq_output != irq {
                cs.irq_output = irq;
                if let Some(o) = out {
                    changes.push((o.irq.clone(), irq));
                }
            }
            if cs.fiq_output != fiq {
                cs.fiq_output = fiq;
                if let Some(o) = out {
                    changes.push((o.fiq.clone(), fiq));
                }
            }
        }
        changes
    }

    /// Every output line at its recorded level (after a state restore).
    pub fn all_outputs(&self) -> OutputChanges {
        let mut v = OutputChanges::new();
        for (cs, o) in self.state.cpus.iter().zip(&self.outputs) {
            v.push((o.irq.clone(), cs.irq_output));
            v.push((o.fiq.clone(), cs.fiq_output));
        }
        v
    }
}
