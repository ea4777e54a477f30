//! The vectored interrupt controller (VIC) of the Aspeed AST2400 and AST2500, the interrupt
//! controller in front of their ARM1176, as Linux `drivers/irqchip/irq-aspeed-vic.c` programs
//! it, QEMU `hw/intc/aspeed_vic.c` models it and the Aspeed SDK kernel (`plat-aspeed/irq.c`,
//! `mach-aspeed/include/mach/regs-intr.h`) names its registers.
//!
//! One [`Vic`] holds the controller's state behind `Rc<RefCell<..>>` and hands out:
//! - [`VicRegisters`]: the register block ([`REGS_SIZE`] bytes), to map on the bus;
//! - the input sink: the `Vic` itself is an [`IrqSink`] whose line numbers are VIC source
//!   numbers (0 to 50); [`Vic::input`] gives the [`IrqLine`] a device drives as source `n`;
//! - two outputs, the CPU's IRQ and FIQ, each driven only when its level changes.
//!
//! The crate knows neither where the SoC places the block nor which device is which source.
//!
//! # Register map
//!
//! The block is 256 bytes (the SDK's `ioremap(AST_VIC_BASE, SZ_256)`). The hardware has two
//! register sets: a legacy one at 0x00-0x7F and the "new mapping" at [`NEW_BASE`] (0x80)
//! onwards, which is the only one Linux and QEMU use: the device trees place the VIC node at
//! the block's base + 0x80 (`reg = <... 0x80>`, 0x80 bytes), so Linux's `AVIC_*` offsets are
//! relative to 0x80 (QEMU's `AVIC_NEW_BASE_OFFSET`). Every register of the new set is a
//! pair of words, low word (sources 0-31) at the offset, high word (sources 32-50, bits
//! 0-18; bits 19-31 read as zero and ignore writes) at the offset + 4:
//!
//! | offset | Linux | access | meaning |
//! |---|---|---|---|
//! | 0x80 | `AVIC_IRQ_STATUS` | R | raw & enable & !select |
//! | 0x88 | `AVIC_FIQ_STATUS` | R | raw & enable & select |
//! | 0x90 | `AVIC_RAW_STATUS` | R | every asserted source, enabled or not |
//! | 0x98 | `AVIC_INT_SELECT` | RW | 1 = FIQ, 0 = IRQ |
//! | 0xA0 | `AVIC_INT_ENABLE` | R, W1S | enable |
//! | 0xA8 | `AVIC_INT_ENABLE_CLR` | W1C | clears enable bits (reads 0) |
//! | 0xB0 | `AVIC_INT_TRIGGER` | R, W1S | software interrupt |
//! | 0xB8 | `AVIC_INT_TRIGGER_CLR` | W1C | clears software interrupts (reads 0) |
//! | 0xC0 | `AVIC_INT_SENSE` | R | 1 = level-sensitive, 0 = edge-triggered |
//! | 0xC8 | `AVIC_INT_DUAL_EDGE` | R | 1 = an edge source latches on both edges |
//! | 0xD0 | `AVIC_INT_EVENT` | R, W for sources 47-50 | 1 = high level / rising edge |
//! | 0xD8 | `AVIC_EDGE_CLR` | W1C | clears edge latches (reads 0) |
//! | 0xE0 | `AVIC_EDGE_STATUS` | R | the edge latches |
//!
//! # Behaviour
//!
//! The raw status of a source is
//! - for a level-sensitive source (sense 1): its input line at the polarity `INT_EVENT` names
//!   (1: high, 0: low), following the line;
//! - for an edge source: a latch, set by the edge `INT_EVENT` names (1: rising, 0: falling),
//!   or by either edge when its `INT_DUAL_EDGE` bit is set, and cleared only by `EDGE_CLR`;
//! - in both cases or'ed with its software trigger bit (`INT_TRIGGER`).
//!
//! An enabled source with raw status set is signalled on FIQ when its `INT_SELECT` bit is set
//! and on IRQ otherwise; each output is high while any source is signalled on it. There are
//! no priorities and no vector registers: Linux's handler reads `AVIC_IRQ_STATUS`, takes the
//! lowest set bit, and acknowledges edge sources through `AVIC_EDGE_CLR` (`handle_edge_irq`)
//! or masks level ones (`handle_level_irq`), choosing by the sense bits it read at init.
//!
//! Reset values (QEMU `aspeed_vic_reset`): `INT_SENSE` 0x1F07_FFF8_FFFF, `INT_DUAL_EDGE`
//! 0xF8_0007_0000, `INT_EVENT` 0x5F07_FFF8_FFFF, everything else zero. So sources 0-15, 19-34
//! and 40-44 are level-sensitive, active high; 16-18 and 35-39 (the eight timers of the
//! device trees) latch both edges; 46 latches rising edges; 45 and 47-50 falling edges. As in
//! QEMU, sense and dual edge are read-only and only the event bits of sources 47-50 (the
//! GPIO direct inputs) are writable; the level-sensitive sources are therefore all active high.
//! `INT_EDGE_STATUS` reads the edge latches only (QEMU: raw & !sense, which has no software
//! trigger to mix in).
//!
//! Accesses of 1, 2 and 4 bytes read and write the bytes of a word they touch (a partial write
//! of a write-1 register sets or clears only bits of the bytes written); 8-byte accesses are
//! the low word then the high word (the hardware and QEMU take 32-bit accesses only).
//!
//! # Differences and left out
//!
//! - Software interrupts are modelled (QEMU ignores `INT_TRIGGER` writes).
//! - A reset ([`Vic::reset`], [`Device::reset`]) returns every register to its reset value
//!   and keeps the input line levels (they are wires driven by the devices; QEMU forgets
//!   them), so a level-sensitive source whose line is high reads in the raw status at once.
//! - The legacy register set at 0x00-0x7F (the SDK's non-`NEW_VIC` mapping: 32 sources, IRQ
//!   status 0x00, FIQ 0x04, raw 0x08, select 0x0C, enable 0x10, disable 0x14, software 0x18 and
//!   0x1C, sense 0x24, both edge 0x28, event 0x2C, edge clear 0x38) is not modelled, as in QEMU:
//!   it reads as zero, ignores writes and is reported through [`UnimplementedLog`], like the
//!   reserved words 0xE8-0xFF and anything past the block.
//! - Sources 51-63 do not exist (QEMU: 51 sources, a 19-bit high word). The AST2500 device
//!   tree's `valid-sources = <0xfefff7ff 0x0807ffff>` also names source 59, which nothing
//!   documents; inputs past 50 are ignored with a warning.
//! - The coprocessor VIC (CVIC) is a different block and not part of this crate.
#![deny(missing_docs)]

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;

use bus::{
    merge_subword, subword, Device, DeviceState, IrqLine, IrqSink, StateError, UnimplementedLog,
};

/// Number of interrupt sources: QEMU `ASPEED_VIC_NR_IRQS`.
pub const NUM_SOURCES: u32 = 51;
/// The bits of a 64-bit register pair that exist (sources 0-50).
pub const SOURCE_MASK: u64 = (1 << NUM_SOURCES) - 1;
/// The bits of a high word that exist (sources 32-50): QEMU `AVIC_H_MASK`.
pub const HIGH_WORD_MASK: u32 = 0x0007_FFFF;

/// Size of the register block (legacy and new sets): the SDK's `ioremap(AST_VIC_BASE, SZ_256)`.
/// QEMU maps 0x20000 bytes; everything past the new set reads as zero there too.
pub const REGS_SIZE: u64 = 0x100;
/// Kind of the VIC's saved state ([`Vic::save_state`]).
pub const STATE_KIND: &str = "aspeed-vic";
/// Format version of the VIC's saved state.
pub const STATE_VERSION: u32 = 1;
/// Offset of the "new mapping" register set, which Linux's `AVIC_*` offsets are relative to
/// (the device tree `reg` of the VIC node is the block's base + 0x80): QEMU
/// `AVIC_NEW_BASE_OFFSET`.
pub const NEW_BASE: u64 = 0x80;
/// Add to a register's offset for its high word (sources 32-50): Linux "add 4 to get to the
/// high one".
pub const HIGH_WORD: u64 = 4;

/// IRQ status (raw & enable & !select), read-only: Linux `AVIC_IRQ_STATUS`, SDK `AST_IRQ_STS`.
pub const REG_IRQ_STATUS: u64 = NEW_BASE;
/// FIQ status (raw & enable & select), read-only: Linux `AVIC_FIQ_STATUS`, SDK `AST_FIQ_STS`.
pub const REG_FIQ_STATUS: u64 = NEW_BASE + 0x08;
/// Raw interrupt status, read-only: Linux `AVIC_RAW_STATUS`, SDK `AST_RAW_STS`.
pub const REG_RAW_STATUS: u64 = NEW_BASE + 0x10;
/// Interrupt selection, 1 = FIQ: Linux `AVIC_INT_SELECT`, SDK `AST_INTR_SEL`.
pub const REG_INT_SELECT: u64 = NEW_BASE + 0x18;
/// Interrupt enable; writing 1 sets the bit: Linux `AVIC_INT_ENABLE`, SDK `AST_INTR_EN`.
pub const REG_INT_ENABLE: u64 = NEW_BASE + 0x20;
/// Interrupt enable clear, write 1 to clear, reads 0: Linux `AVIC_INT_ENABLE_CLR`, SDK
/// `AST_INTR_DIS`.
pub const REG_INT_ENABLE_CLR: u64 = NEW_BASE + 0x28;
/// Software interrupt; writing 1 sets the bit: Linux `AVIC_INT_TRIGGER`, SDK `AST_INTR_SW_EN`.
pub const REG_INT_TRIGGER: u64 = NEW_BASE + 0x30;
/// Software interrupt clear, write 1 to clear, reads 0: Linux `AVIC_INT_TRIGGER_CLR`, SDK
/// `AST_INTR_SW_CLR`.
pub const REG_INT_TRIGGER_CLR: u64 = NEW_BASE + 0x38;
/// Interrupt sensitivity, 1 = level, read-only: Linux `AVIC_INT_SENSE`, SDK `AST_INTR_SENSE`.
pub const REG_INT_SENSE: u64 = NEW_BASE + 0x40;
/// Both-edge trigger control, 1 = an edge source latches on both edges, read-only: Linux
/// `AVIC_INT_DUAL_EDGE`, SDK `AST_INTR_BOTH_EDGE`.
pub const REG_INT_DUAL_EDGE: u64 = NEW_BASE + 0x48;
/// Interrupt event, 1 = high level / rising edge; writable for sources 47-50 only: Linux
/// `AVIC_INT_EVENT`, SDK `AST_INTR_EVENT`.
pub const REG_INT_EVENT: u64 = NEW_BASE + 0x50;
/// Edge-triggered interrupt clear, write 1 to clear a latch, reads 0: Linux `AVIC_EDGE_CLR`,
/// SDK `AST_INTR_EDGE_CLR`.
pub const REG_EDGE_CLR: u64 = NEW_BASE + 0x58;
/// Edge-triggered interrupt status (the edge latches), read-only: Linux `AVIC_EDGE_STATUS`,
/// SDK `AST_INTR_EDGE_STS`.
pub const REG_EDGE_STATUS: u64 = NEW_BASE + 0x60;
/// End of the new register set (0xE8-0xFF are reserved).
pub const NEW_END: u64 = NEW_BASE + 0x68;

/// Reset value of the sensitivity pair (sources 16-18, 35-39 and 45-50 are edges): QEMU
/// `aspeed_vic_reset`.
pub const RESET_SENSE: u64 = 0x1F07_FFF8_FFFF;
/// Reset value of the both-edge pair (sources 16-18 and 35-39): QEMU `aspeed_vic_reset`.
pub const RESET_DUAL_EDGE: u64 = 0xF8_0007_0000;
/// Reset value of the event pair (every level source high, source 46 rising, 45 and 47-50
/// falling): QEMU `aspeed_vic_reset`.
pub const RESET_EVENT: u64 = 0x5F07_FFF8_FFFF;
/// The event bits a write changes (sources 47-50, the GPIO direct inputs): QEMU
/// `AVIC_EVENT_W_MASK`.
pub const EVENT_WRITABLE: u64 = 0x7_8000 << 32;

/// The VIC's registers and input levels: a plain value that can be saved and restored.
///
/// Bit `n` of every field is source `n`. `Default` is the power-on state (every input low).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VicState {
    /// Level of each input line, as last driven.
    pub level: u64,
    /// Edge latches of the edge-triggered sources (QEMU keeps them in `raw`).
    pub edge_latch: u64,
    /// `INT_SELECT`: 1 = FIQ.
    pub select: u64,
    /// `INT_ENABLE`.
    pub enable: u64,
    /// `INT_TRIGGER`: software interrupts.
    pub trigger: u64,
    /// `INT_SENSE`: 1 = level-sensitive, 0 = edge-triggered.
    pub sense: u64,
    /// `INT_DUAL_EDGE`: 1 = an edge source latches on both edges.
    pub dual_edge: u64,
    /// `INT_EVENT`: 1 = active high / rising edge, 0 = active low / falling edge.
    pub event: u64,
    /// Level the IRQ output was last driven to.
    pub irq_output: bool,
    /// Level the FIQ output was last driven to.
    pub fiq_output: bool,
}

impl VicState {
    /// The power-on state: every register at its reset value, every input and output low.
    pub fn new() -> Self {
        Self {
            level: 0,
            edge_latch: 0,
            select: 0,
            enable: 0,
            trigger: 0,
            sense: RESET_SENSE,
            dual_edge: RESET_DUAL_EDGE,
            event: RESET_EVENT,
            irq_output: false,
            fiq_output: false,
        }
    }

    /// `RAW_STATUS`: level sources at their active level, latched edges, software triggers.
    pub fn raw(&self) -> u64 {
        let level_active = self.sense & !(self.level ^ self.event);
        let edges = self.edge_latch & !self.sense;
        (level_active | edges | self.trigger) & SOURCE_MASK
    }

    /// `IRQ_STATUS`: raw & enable & !select.
    pub fn irq_status(&self) -> u64 {
        self.raw() & self.enable & !self.select
    }

    /// `FIQ_STATUS`: raw & enable & select.
    pub fn fiq_status(&self) -> u64 {
        self.raw() & self.enable & self.select
    }

    /// `EDGE_STATUS`: the edge latches.
    pub fn edge_status(&self) -> u64 {
        self.edge_latch & !self.sense & SOURCE_MASK
    }

    /// Returns every register to its reset value. Input levels are kept (they are wires
    /// driven by the devices), and so are the output levels until the next update.
    pub fn reset(&mut self) {
        *self = Self {
            level: self.level,
            irq_output: self.irq_output,
            fiq_output: self.fiq_output,
            ..Self::new()
        };
    }

    /// Input `source` (below [`NUM_SOURCES`]) is now at `level`: follows it for a level
    /// source, latches an edge the source is sensitive to.
    fn set_input(&mut self, source: u32, level: bool) {
        let bit = 1u64 << source;
        let old = self.level & bit != 0;
        if self.sense & bit == 0 && old != level {
            let rising = level;
            let latches = self.dual_edge & bit != 0 || (self.event & bit != 0) == rising;
            if latches {
                self.edge_latch |= bit;
            }
        }
        if level {
            self.level |= bit;
        } else {
            self.level &= !bit;
        }
    }

    /// The same state with bits of sources that do not exist cleared.
    fn masked(mut self) -> Self {
        for field in [
            &mut self.level,
            &mut self.edge_latch,
            &mut self.select,
            &mut self.enable,
            &mut self.trigger,
            &mut self.sense,
            &mut self.dual_edge,
            &mut self.event,
        ] {
            *field &= SOURCE_MASK;
        }
        self
    }
}

impl Default for VicState {
    fn default() -> Self {
        Self::new()
    }
}

/// A register pair of the new set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reg {
    IrqStatus,
    FiqStatus,
    RawStatus,
    Select,
    Enable,
    EnableClr,
    Trigger,
    TriggerClr,
    Sense,
    DualEdge,
    Event,
    EdgeClr,
    EdgeStatus,
}

/// The register pair an access at `offset` touches, and whether it is the high word.
fn decode(offset: u64) -> Option<(Reg, bool)> {
    let word = offset & !3;
    if !(NEW_BASE..NEW_END).contains(&word) {
        return None;
    }
    let high = word & HIGH_WORD != 0;
    let reg = match word & !HIGH_WORD {
        REG_IRQ_STATUS => Reg::IrqStatus,
        REG_FIQ_STATUS => Reg::FiqStatus,
        REG_RAW_STATUS => Reg::RawStatus,
        REG_INT_SELECT => Reg::Select,
        REG_INT_ENABLE => Reg::Enable,
        REG_INT_ENABLE_CLR => Reg::EnableClr,
        REG_INT_TRIGGER => Reg::Trigger,
        REG_INT_TRIGGER_CLR => Reg::TriggerClr,
        REG_INT_SENSE => Reg::Sense,
        REG_INT_DUAL_EDGE => Reg::DualEdge,
        REG_INT_EVENT => Reg::Event,
        REG_EDGE_CLR => Reg::EdgeClr,
        REG_EDGE_STATUS => Reg::EdgeStatus,
        _ => return None,
    };
    Some((reg, high))
}

/// The bits of a register pair that the low or the high word holds.
fn word_mask(high: bool) -> u64 {
    if high {
        u64::from(HIGH_WORD_MASK) << 32
    } else {
        0xFFFF_FFFF
    }
}

/// The low or high word of a register pair.
fn word_of(pair: u64, high: bool) -> u32 {
    if high {
        ((pair >> 32) as u32) & HIGH_WORD_MASK
    } else {
        pair as u32
    }
}

/// A word written to the low or high half, placed in its register pair.
fn place(word: u32, high: bool) -> u64 {
    if high {
        u64::from(word & HIGH_WORD_MASK) << 32
    } else {
        u64::from(word)
    }
}

/// Output lines to drive once the core is released.
type OutputChanges = Vec<(IrqLine, bool)>;

/// Everything behind the `Vic` handle.
struct VicCore {
    state: VicState,
    irq: IrqLine,
    fiq: IrqLine,
    unimplemented: UnimplementedLog,
    bad_sources: HashSet<u32>,
}

impl VicCore {
    /// Recomputes both outputs; returns those whose level changed.
    fn update(&mut self) -> OutputChanges {
        let mut changes = OutputChanges::new();
        let irq = self.state.irq_status() != 0;
        let fiq = self.state.fiq_status() != 0;
        if irq != self.state.irq_output {
            self.state.irq_output = irq;
            changes.push((self.irq.clone(), irq));
        }
        if fiq != self.state.fiq_output {
            self.state.fiq_output = fiq;
            changes.push((self.fiq.clone(), fiq));
        }
        changes
    }

    fn set_input(&mut self, source: u32, level: bool) {
        if source >= NUM_SOURCES {
            if self.bad_sources.insert(source) {
                log::warn!("vic: input {source} does not exist (sources 0-50); ignored");
            }
            return;
        }
        self.state.set_input(source, level);
    }

    /// The value of register pair `reg`; `None` for the write-only ones.
    fn pair(&self, reg: Reg) -> Option<u64> {
        let s = &self.state;
        Some(match reg {
            Reg::IrqStatus => s.irq_status(),
            Reg::FiqStatus => s.fiq_status(),
            Reg::RawStatus => s.raw(),
            Reg::Select => s.select,
            Reg::Enable => s.enable,
            Reg::Trigger => s.trigger,
            Reg::Sense => s.sense,
            Reg::DualEdge => s.dual_edge,
            Reg::Event => s.event,
            Reg::EdgeStatus => s.edge_status(),
            Reg::EnableClr | Reg::TriggerClr | Reg::EdgeClr => return None,
        })
    }

    fn read32(&mut self, offset: u64, size: u8) -> u64 {
        let Some((reg, high)) = decode(offset) else {
            self.unimplemented.read(offset, size);
            return 0;
        };
        match self.pair(reg) {
            Some(pair) => subword(word_of(pair, high), offset, size),
            None => {
                log::debug!("vic: read of write-only register {offset:#x}");
                0
            }
        }
    }

    fn write32(&mut self, offset: u64, size: u8, value: u64) {
        let Some((reg, high)) = decode(offset) else {
            self.unimplemented.write(offset, size, value);
            return;
        };
        // Plain registers merge a partial write into their word; write-1 registers act on
        // the bits of the bytes written only.
        let current = match reg {
            Reg::Select => word_of(self.state.select, high),
            Reg::Event => word_of(self.state.event, high),
            _ => 0,
        };
        let bits = place(merge_subword(current, offset, size, value), high);
        let mask = word_mask(high);
        let s = &mut self.state;
        match reg {
            Reg::Select => s.select = (s.select & !mask) | bits,
            Reg::Enable => s.enable |= bits,
            Reg::EnableClr => s.enable &= !bits,
            Reg::Trigger => s.trigger |= bits,
            Reg::TriggerClr => s.trigger &= !bits,
            Reg::Event => {
                let writable = EVENT_WRITABLE & mask;
                s.event = (s.event & !writable) | (bits & writable);
            }
            Reg::EdgeClr => s.edge_latch &= !bits,
            Reg::IrqStatus
            | Reg::FiqStatus
            | Reg::RawStatus
            | Reg::Sense
            | Reg::DualEdge
            | Reg::EdgeStatus => {
                log::debug!("vic: write of {value:#x} to read-only register {offset:#x}");
            }
        }
    }
}

fn drive(changes: OutputChanges) {
    for (line, level) in changes {
        line.set(level);
    }
}

/// The VIC: a cheap, cloneable handle to the shared controller state.
#[derive(Clone)]
pub struct Vic {
    core: Rc<RefCell<VicCore>>,
}

impl Vic {
    /// A VIC at power-on driving `irq` and `fiq` (the CPU's IRQ and FIQ inputs); both are
    /// driven low once.
    pub fn new(irq: IrqLine, fiq: IrqLine) -> Self {
        Self::from_state(VicState::new(), irq, fiq)
    }

    /// A VIC restored from `state` (bits of sources past 50 are dropped), driving `irq` and
    /// `fiq`; each output is driven once, to the level the registers give.
    pub fn from_state(state: VicState, irq: IrqLine, fiq: IrqLine) -> Self {
        let mut state = state.masked();
        state.irq_output = state.irq_status() != 0;
        state.fiq_output = state.fiq_status() != 0;
        let initial = vec![
            (irq.clone(), state.irq_output),
            (fiq.clone(), state.fiq_output),
        ];
        let vic = Self {
            core: Rc::new(RefCell::new(VicCore {
                state,
                irq,
                fiq,
                unimplemented: UnimplementedLog::new("vic"),
                bad_sources: HashSet::new(),
            })),
        };
        drive(initial);
        vic
    }

    /// A copy of the registers and input levels.
    pub fn state(&self) -> VicState {
        self.core.borrow().state.clone()
    }

    /// The registers and input levels for a snapshot (kind [`STATE_KIND`]).
    pub fn save_state(&self) -> DeviceState {
        DeviceState::new(STATE_KIND, STATE_VERSION, &self.state())
    }

    /// Puts the VIC into a saved state and drives both outputs to the levels its registers
    /// give. A state of another kind or version is refused, the VIC unchanged.
    pub fn load_state(&self, state: &DeviceState) -> Result<(), StateError> {
        let s: VicState = state.decode(STATE_KIND, STATE_VERSION)?;
        let initial = {
            let mut core = self.core.borrow_mut();
            let mut s = s.masked();
            s.irq_output = s.irq_status() != 0;
            s.fiq_output = s.fiq_status() != 0;
            let initial = vec![
                (core.irq.clone(), s.irq_output),
                (core.fiq.clone(), s.fiq_output),
            ];
            core.state = s;
            initial
        };
        drive(initial);
        Ok(())
    }

    /// Levels of the IRQ and FIQ outputs, as last driven.
    pub fn output_levels(&self) -> (bool, bool) {
        let core = self.core.borrow();
        (core.state.irq_output, core.state.fiq_output)
    }

    /// Drives input `source` (0 to 50) to `level`; same as [`IrqSink::set_irq`]. Sources past
    /// 50 are ignored (with a warning, once per source).
    pub fn set_irq(&self, source: u32, level: bool) {
        self.with_core(|core| core.set_input(source, level));
    }

    /// The input sink: line numbers are VIC source numbers.
    pub fn sink(&self) -> Rc<dyn IrqSink> {
        Rc::new(self.clone())
    }

    /// The line a device drives as source `source`.
    ///
    /// # Panics
    /// When `source` is not below [`NUM_SOURCES`] (a wiring mistake).
    pub fn input(&self, source: u32) -> IrqLine {
        assert!(
            source < NUM_SOURCES,
            "the VIC has sources 0-50, not {source}"
        );
        IrqLine::new(self.sink(), source)
    }

    /// The register block, to map on the bus ([`REGS_SIZE`] bytes).
    pub fn registers(&self) -> VicRegisters {
        VicRegisters { vic: self.clone() }
    }

    /// Returns every register to its reset value (input levels are kept); the outputs follow
    /// (low, as nothing is enabled).
    pub fn reset(&self) {
        self.with_core(|core| core.state.reset());
    }

    /// Runs `f` on the core, then drives the outputs that changed once the core is released
    /// (so a CPU model reacting to its IRQ line may touch the VIC again).
    fn with_core<R>(&self, f: impl FnOnce(&mut VicCore) -> R) -> R {
        let (result, changes) = {
            let mut core = self.core.borrow_mut();
            let result = f(&mut core);
            (result, core.update())
        };
        drive(changes);
        result
    }
}

impl IrqSink for Vic {
    fn set_irq(&self, line: u32, level: bool) {
        Vic::set_irq(self, line, level);
    }
}

/// The VIC register block, a view of a [`Vic`].
pub struct VicRegisters {
    vic: Vic,
}

impl Device for VicRegisters {
    /// A view of the [`Vic`], which the SoC saves as a whole ([`Vic::save_state`]).
    fn save_state(&self) -> Option<DeviceState> {
        Some(DeviceState::stateless("vic-registers"))
    }

    fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        state.check("vic-registers", 0)
    }

    fn read(&mut self, offset: u64, size: u8) -> u64 {
        bus::split_read(offset, size, |o, s| {
            self.vic.with_core(|core| core.read32(o, s))
        })
    }

    fn write(&mut self, offset: u64, size: u8, value: u64) {
        bus::split_write(offset, size, value, |o, s, v| {
            self.vic.with_core(|core| core.write32(o, s, v))
        });
    }

    fn reset(&mut self) {
        self.vic.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bus::LevelRecorder;

    /// A VIC whose IRQ is recorder line 0 and FIQ line 1.
    struct Rig {
        vic: Vic,
        rec: Rc<LevelRecorder>,
        regs: VicRegisters,
    }

    #[test]
    fn a_saved_vic_loads_into_a_fresh_one_and_signals_the_same() {
        let mut r = rig();
        let [_, _] = linux_init(&mut r.regs);
        r.regs.write(REG_INT_ENABLE, 4, 1 << 5 | 1 << 7);
        r.vic.set_irq(5, true);
        r.vic.set_irq(7, true);
        assert!(r.rec.level(0));
        let saved = r.vic.save_state();
        let mut t = rig();
        t.vic.load_state(&saved).unwrap();
        assert!(
            t.rec.level(0),
            "the IRQ output is driven to the saved level"
        );
        assert_eq!(t.vic.save_state(), saved);
        assert_eq!(linux_next_irq(&mut t.regs), linux_next_irq(&mut r.regs));
        let mut wrong = saved.clone();
        wrong.kind = "gicv2".into();
        assert!(t.vic.load_state(&wrong).is_err());
    }

    fn rig() -> Rig {
        let rec = LevelRecorder::new();
        let vic = Vic::new(rec.line(0), rec.line(1));
        let regs = vic.registers();
        Rig { vic, rec, regs }
    }

    impl Rig {
        fn rd(&mut self, off: u64) -> u32 {
            self.regs.read(off, 4) as u32
        }
        fn wr(&mut self, off: u64, v: u32) {
            self.regs.write(off, 4, u64::from(v));
        }
        /// Both words of a register pair.
        fn pair(&mut self, off: u64) -> u64 {
            u64::from(self.rd(off)) | u64::from(self.rd(off + HIGH_WORD)) << 32
        }
        /// Writes `bit` of source `n` to the pair at `off`, as Linux's `sidx * 4` does.
        fn wr_source(&mut self, off: u64, n: u32) {
            self.wr(off + u64::from(n >> 5) * 4, 1 << (n & 31));
        }
        fn irq(&self) -> bool {
            self.rec.level(0)
        }
        fn fiq(&self) -> bool {
            self.rec.level(1)
        }
    }

    /// The register accesses of Linux `vic_init_hw`; returns `edge_sources`.
    fn linux_init(dev: &mut impl Device) -> [u32; 2] {
        dev.write(REG_INT_ENABLE_CLR, 4, 0xffff_ffff);
        dev.write(REG_INT_ENABLE_CLR + 4, 4, 0xffff_ffff);
        dev.write(REG_INT_TRIGGER_CLR, 4, 0xffff_ffff);
        dev.write(REG_INT_TRIGGER_CLR + 4, 4, 0xffff_ffff);
        dev.write(REG_INT_SELECT, 4, 0);
        dev.write(REG_INT_SELECT + 4, 4, 0);
        let edge = [
            !(dev.read(REG_INT_SENSE, 4) as u32),
            !(dev.read(REG_INT_SENSE + 4, 4) as u32),
        ];
        dev.write(REG_EDGE_CLR, 4, 0xffff_ffff);
        dev.write(REG_EDGE_CLR + 4, 4, 0xffff_ffff);
        edge
    }

    /// Linux `avic_handle_irq`'s choice: the lowest pending source, low word first.
    fn linux_next_irq(dev: &mut impl Device) -> Option<u32> {
        let mut stat = dev.read(REG_IRQ_STATUS, 4) as u32;
        let mut irq = 0;
        if stat == 0 {
            stat = dev.read(REG_IRQ_STATUS + 4, 4) as u32;
            irq = 32;
        }
        (stat != 0).then(|| irq + stat.trailing_zeros())
    }

    #[test]
    fn reset_values_read_back_exactly() {
        let mut r = rig();
        assert_eq!(r.rd(REG_INT_SENSE), 0xFFF8_FFFF);
        assert_eq!(r.rd(REG_INT_SENSE + 4), 0x0000_1F07);
        assert_eq!(r.rd(REG_INT_DUAL_EDGE), 0x0007_0000);
        assert_eq!(r.rd(REG_INT_DUAL_EDGE + 4), 0x0000_00F8);
        assert_eq!(r.rd(REG_INT_EVENT), 0xFFF8_FFFF);
        assert_eq!(r.rd(REG_INT_EVENT + 4), 0x0000_5F07);
        assert_eq!(r.pair(REG_INT_SENSE), RESET_SENSE);
        assert_eq!(r.pair(REG_INT_DUAL_EDGE), RESET_DUAL_EDGE);
        assert_eq!(r.pair(REG_INT_EVENT), RESET_EVENT);
        for reg in [
            REG_IRQ_STATUS,
            REG_FIQ_STATUS,
            REG_RAW_STATUS,
            REG_INT_SELECT,
            REG_INT_ENABLE,
            REG_INT_ENABLE_CLR,
            REG_INT_TRIGGER,
            REG_INT_TRIGGER_CLR,
            REG_EDGE_CLR,
            REG_EDGE_STATUS,
        ] {
            assert_eq!(r.pair(reg), 0, "register {reg:#x}");
        }
        assert_eq!(r.vic.state(), VicState::default());
        assert_eq!(r.vic.output_levels(), (false, false));
        // Construction drives each output once, low.
        assert_eq!(r.rec.changes(), [(0, false), (1, false)]);
        // Linux's init finds the timers (16-18, 35-39) and 45-50 to be edge sources.
        let edge = linux_init(&mut r.regs);
        assert_eq!(edge, [0x0007_0000, 0xFFFF_E0F8]);
    }

    #[test]
    fn legacy_and_reserved_words_read_zero_and_are_reported() {
        let mut r = rig();
        r.vic.set_irq(0, true);
        r.wr(REG_INT_ENABLE, 1);
        for off in [
            0x00,
            0x10,
            0x24,
            0x7C,
            NEW_END,
            0xFC,
            REGS_SIZE,
            u64::MAX - 3,
        ] {
            assert_eq!(r.rd(off), 0, "offset {off:#x}");
            r.wr(off, 0xFFFF_FFFF);
        }
        assert_eq!(r.pair(REG_INT_ENABLE), 1, "legacy writes go nowhere");
        assert_eq!(r.vic.core.borrow().unimplemented.reported(), 16);
    }

    #[test]
    fn enable_and_enable_clear_set_and_clear_bits() {
        let mut r = rig();
        r.wr(REG_INT_ENABLE, 0x0000_0201);
        r.wr(REG_INT_ENABLE, 0x0000_0004);
        assert_eq!(r.rd(REG_INT_ENABLE), 0x0000_0205, "writing 1 sets, 0 keeps");
        r.wr(REG_INT_ENABLE + 4, 0xFFFF_FFFF);
        assert_eq!(
            r.rd(REG_INT_ENABLE + 4),
            HIGH_WORD_MASK,
            "sources 32-50 only"
        );
        r.wr(REG_INT_ENABLE_CLR, 0x0000_0001);
        assert_eq!(r.rd(REG_INT_ENABLE), 0x0000_0204);
        assert_eq!(r.rd(REG_INT_ENABLE_CLR), 0, "write-only");
        r.wr(REG_INT_ENABLE_CLR + 4, 1 << 2);
        assert_eq!(r.rd(REG_INT_ENABLE + 4), HIGH_WORD_MASK & !(1 << 2));
        // A disabled source is in the raw status but not the IRQ status.
        r.vic.set_irq(0, true);
        assert_eq!(r.rd(REG_RAW_STATUS), 1);
        assert_eq!(r.rd(REG_IRQ_STATUS), 0);
        assert!(!r.irq());
        r.wr(REG_INT_ENABLE, 1);
        assert_eq!(r.rd(REG_IRQ_STATUS), 1);
        assert!(r.irq());
        r.wr(REG_INT_ENABLE_CLR, 1);
        assert!(!r.irq());
    }

    #[test]
    fn level_sources_follow_their_line() {
        let mut r = rig();
        let uart = r.vic.input(9);
        let high = r.vic.input(33);
        r.wr(REG_INT_ENABLE, 1 << 9);
        r.wr(REG_INT_ENABLE + 4, 1 << 1);
        uart.raise();
        assert_eq!(r.rd(REG_RAW_STATUS), 1 << 9);
        assert_eq!(r.rd(REG_IRQ_STATUS), 1 << 9);
        assert_eq!(r.rd(REG_EDGE_STATUS), 0, "level sources latch nothing");
        assert!(r.irq());
        // Edge clear does not clear a level source.
        r.wr(REG_EDGE_CLR, 0xFFFF_FFFF);
        assert_eq!(r.rd(REG_IRQ_STATUS), 1 << 9);
        uart.lower();
        assert_eq!(r.rd(REG_RAW_STATUS), 0);
        assert!(!r.irq());
        high.raise();
        assert_eq!(r.rd(REG_IRQ_STATUS + 4), 1 << 1);
        assert_eq!(r.rd(REG_IRQ_STATUS), 0);
        assert!(r.irq());
        high.lower();
        assert!(!r.irq());
    }

    #[test]
    fn edge_sources_latch_until_edge_clear() {
        let mut r = rig();
        r.wr(REG_INT_ENABLE + 4, (1 << 13) | (1 << 14));
        // Source 46 latches rising edges.
        r.vic.set_irq(46, true);
        assert_eq!(r.rd(REG_EDGE_STATUS + 4), 1 << 14);
        assert_eq!(r.rd(REG_RAW_STATUS + 4), 1 << 14);
        assert!(r.irq());
        r.vic.set_irq(46, false);
        assert!(r.irq(), "the latch holds after the line falls");
        r.wr(REG_EDGE_CLR + 4, 1 << 14);
        assert_eq!(r.rd(REG_EDGE_STATUS + 4), 0);
        assert!(!r.irq());
        assert_eq!(r.rd(REG_EDGE_CLR + 4), 0, "write-only");
        // A falling edge does not latch a rising-edge source; a repeated level is no edge.
        r.vic.set_irq(46, true);
        r.wr(REG_EDGE_CLR + 4, 1 << 14);
        r.vic.set_irq(46, true);
        assert!(!r.irq());
        r.vic.set_irq(46, false);
        assert!(!r.irq());
        // Source 45 latches falling edges only.
        r.vic.set_irq(45, true);
        assert!(!r.irq());
        r.vic.set_irq(45, false);
        assert_eq!(r.rd(REG_EDGE_STATUS + 4), 1 << 13);
        assert!(r.irq());
        // Clearing a latch while its line stays put leaves it clear.
        r.wr(REG_EDGE_CLR + 4, 1 << 13);
        assert!(!r.irq());
        // Edges latch while the source is disabled, and signal when it is enabled.
        r.wr(REG_INT_ENABLE_CLR + 4, 1 << 13);
        r.vic.set_irq(45, true);
        r.vic.set_irq(45, false);
        assert!(!r.irq());
        r.wr(REG_INT_ENABLE + 4, 1 << 13);
        assert!(r.irq());
    }

    #[test]
    fn dual_edge_sources_latch_both_edges() {
        let mut r = rig();
        let timer = r.vic.input(16);
        r.wr(REG_INT_ENABLE, 1 << 16);
        timer.raise();
        assert_eq!(r.rd(REG_EDGE_STATUS), 1 << 16);
        assert!(r.irq());
        r.wr(REG_EDGE_CLR, 1 << 16);
        assert!(!r.irq());
        timer.lower();
        assert_eq!(
            r.rd(REG_EDGE_STATUS),
            1 << 16,
            "the falling edge latches too"
        );
        assert!(r.irq());
        r.wr(REG_EDGE_CLR, 1 << 16);
        timer.lower();
        assert!(!r.irq(), "no change, no edge");
        // The high-word timers (35-39) are dual-edge too.
        r.wr(REG_INT_ENABLE + 4, 1 << 7);
        r.vic.set_irq(39, true);
        r.vic.set_irq(39, false);
        assert_eq!(r.rd(REG_EDGE_STATUS + 4), 1 << 7);
        assert!(r.irq());
    }

    #[test]
    fn event_polarity_is_writable_for_sources_47_to_50_only() {
        let mut r = rig();
        r.wr(REG_INT_EVENT, 0);
        assert_eq!(r.rd(REG_INT_EVENT), 0xFFF8_FFFF, "low word is read-only");
        r.wr(REG_INT_EVENT + 4, 0xFFFF_FFFF);
        assert_eq!(r.rd(REG_INT_EVENT + 4), 0x0007_DF07);
        r.wr(REG_INT_EVENT + 4, 0);
        assert_eq!(
            r.rd(REG_INT_EVENT + 4),
            0x0000_5F07,
            "46 and the levels stay"
        );
        // Sense and dual edge are read-only.
        r.wr(REG_INT_SENSE, 0);
        r.wr(REG_INT_SENSE + 4, 0xFFFF_FFFF);
        r.wr(REG_INT_DUAL_EDGE, 0xFFFF_FFFF);
        assert_eq!(r.pair(REG_INT_SENSE), RESET_SENSE);
        assert_eq!(r.pair(REG_INT_DUAL_EDGE), RESET_DUAL_EDGE);
        // Source 47 latches falling edges at reset, rising ones once its event bit is set.
        r.wr(REG_INT_ENABLE + 4, 1 << 15);
        r.vic.set_irq(47, true);
        assert!(!r.irq());
        r.vic.set_irq(47, false);
        assert!(r.irq());
        r.wr(REG_EDGE_CLR + 4, 1 << 15);
        r.wr(REG_INT_EVENT + 4, 0x5F07 | (1 << 15));
        r.vic.set_irq(47, true);
        assert!(r.irq());
        r.wr(REG_EDGE_CLR + 4, 1 << 15);
        r.vic.set_irq(47, false);
        assert!(!r.irq());
    }

    #[test]
    fn level_polarity_follows_the_event_bit() {
        // Active-low level sources cannot be programmed, but a restored state can hold one.
        let rec = LevelRecorder::new();
        let state = VicState {
            event: RESET_EVENT & !(1 << 5),
            enable: 1 << 5,
            ..VicState::new()
        };
        let vic = Vic::from_state(state, rec.line(0), rec.line(1));
        assert!(rec.level(0), "line low = active");
        assert_eq!(vic.state().raw(), 1 << 5);
        vic.set_irq(5, true);
        assert!(!rec.level(0));
        vic.set_irq(5, false);
        assert!(rec.level(0));
    }

    #[test]
    fn select_routes_sources_to_fiq() {
        let mut r = rig();
        r.wr(REG_INT_ENABLE, (1 << 2) | (1 << 3));
        r.wr(REG_INT_SELECT, 1 << 3);
        assert_eq!(r.rd(REG_INT_SELECT), 1 << 3);
        r.vic.set_irq(3, true);
        assert!(r.fiq() && !r.irq());
        assert_eq!(r.rd(REG_FIQ_STATUS), 1 << 3);
        assert_eq!(r.rd(REG_IRQ_STATUS), 0);
        r.vic.set_irq(2, true);
        assert!(r.fiq() && r.irq());
        assert_eq!(r.rd(REG_IRQ_STATUS), 1 << 2);
        // Moving source 3 back to IRQ drops FIQ.
        r.wr(REG_INT_SELECT, 0);
        assert!(!r.fiq() && r.irq());
        assert_eq!(r.rd(REG_IRQ_STATUS), (1 << 2) | (1 << 3));
        // The high word of select is separate and 19 bits wide.
        r.wr(REG_INT_SELECT + 4, 0xFFFF_FFFF);
        assert_eq!(r.pair(REG_INT_SELECT), u64::from(HIGH_WORD_MASK) << 32);
        assert_eq!(r.vic.output_levels(), (true, false));
    }

    #[test]
    fn software_triggers_set_and_clear() {
        let mut r = rig();
        r.wr(REG_INT_ENABLE, 1 << 16);
        r.wr(REG_INT_TRIGGER, 1 << 16);
        r.wr(REG_INT_TRIGGER, 1 << 1);
        assert_eq!(r.rd(REG_INT_TRIGGER), (1 << 16) | (1 << 1));
        assert_eq!(r.rd(REG_RAW_STATUS), (1 << 16) | (1 << 1));
        assert_eq!(r.rd(REG_EDGE_STATUS), 0, "a trigger is not an edge latch");
        assert!(r.irq());
        // Edge clear does not clear a software trigger.
        r.wr(REG_EDGE_CLR, 0xFFFF_FFFF);
        assert!(r.irq());
        r.wr(REG_INT_TRIGGER_CLR, 1 << 16);
        assert!(!r.irq());
        assert_eq!(r.rd(REG_INT_TRIGGER), 1 << 1);
        assert_eq!(r.rd(REG_INT_TRIGGER_CLR), 0, "write-only");
        r.wr(REG_INT_TRIGGER + 4, 0xFFFF_FFFF);
        assert_eq!(r.rd(REG_RAW_STATUS + 4), HIGH_WORD_MASK);
        r.wr(REG_INT_TRIGGER_CLR + 4, 0xFFFF_FFFF);
        assert_eq!(r.rd(REG_RAW_STATUS + 4), 0);
    }

    #[test]
    fn outputs_are_driven_only_when_their_level_changes() {
        let mut r = rig();
        let before = r.rec.changes().len();
        r.wr(REG_INT_ENABLE, 0b111);
        for n in 0..3 {
            r.vic.set_irq(n, true);
        }
        r.vic.set_irq(1, true);
        r.vic.set_irq(0, false);
        r.vic.set_irq(1, false);
        r.rd(REG_IRQ_STATUS);
        r.vic.set_irq(2, false);
        r.wr(REG_INT_SELECT, 0b1);
        r.vic.set_irq(0, true);
        r.vic.set_irq(1, true);
        r.wr(REG_INT_ENABLE_CLR, 0b111);
        assert_eq!(
            &r.rec.changes()[before..],
            &[
                (0, true),
                (0, false),
                (1, true),
                (0, true),
                (0, false),
                (1, false)
            ]
        );
    }

    #[test]
    fn linux_driver_replay() {
        let mut r = rig();
        let edge = linux_init(&mut r.regs);
        // avic_map: edge sources get handle_edge_irq, the rest handle_level_irq.
        let is_edge = |n: u32| edge[(n >> 5) as usize] & (1 << (n & 31)) != 0;
        assert!(is_edge(16) && is_edge(39) && !is_edge(9) && !is_edge(32));
        // request_irq unmasks: the UART (9, level) and timer 0 (16, dual edge).
        r.wr_source(REG_INT_ENABLE, 9);
        r.wr_source(REG_INT_ENABLE, 16);
        let timer = r.vic.input(16);
        // QEMU's timer toggles its line on each expiry; both toggles are interrupts.
        for level in [true, false, true] {
            timer.set(level);
            assert!(r.irq());
            assert_eq!(linux_next_irq(&mut r.regs), Some(16));
            // handle_edge_irq: irq_ack clears the latch.
            r.wr_source(REG_EDGE_CLR, 16);
            assert_eq!(linux_next_irq(&mut r.regs), None);
            assert!(!r.irq());
        }
        // handle_level_irq: mask_ack, run the handler (the device drops its line), unmask.
        r.vic.set_irq(9, true);
        r.vic.set_irq(16, false);
        assert_eq!(linux_next_irq(&mut r.regs), Some(9));
        r.wr_source(REG_INT_ENABLE_CLR, 9);
        assert_eq!(linux_next_irq(&mut r.regs), Some(16));
        r.wr_source(REG_EDGE_CLR, 16);
        assert_eq!(linux_next_irq(&mut r.regs), None);
        assert!(!r.irq());
        r.vic.set_irq(9, false);
        r.wr_source(REG_INT_ENABLE, 9);
        assert!(!r.irq());
        // A level line still high when unmasked interrupts again.
        r.vic.set_irq(9, true);
        r.wr_source(REG_INT_ENABLE_CLR, 9);
        r.wr_source(REG_INT_ENABLE, 9);
        assert_eq!(linux_next_irq(&mut r.regs), Some(9));
        // A high-word source: sidx 1.
        r.wr_source(REG_INT_ENABLE, 34);
        r.wr_source(REG_INT_ENABLE_CLR, 9);
        r.vic.set_irq(34, true);
        assert_eq!(linux_next_irq(&mut r.regs), Some(34));
    }

    #[test]
    fn sub_word_and_wide_accesses() {
        let mut r = rig();
        // A byte write to the enable register sets only bits of that byte.
        r.regs.write(REG_INT_ENABLE + 1, 1, 0x02);
        assert_eq!(r.rd(REG_INT_ENABLE), 1 << 9);
        r.regs.write(REG_INT_ENABLE_CLR + 1, 1, 0xFF);
        assert_eq!(r.rd(REG_INT_ENABLE), 0);
        // A half-word write to select keeps the other half.
        r.wr(REG_INT_SELECT, 0x1234_5678);
        r.regs.write(REG_INT_SELECT + 2, 2, 0xBEEF);
        assert_eq!(r.rd(REG_INT_SELECT), 0xBEEF_5678);
        assert_eq!(r.regs.read(REG_INT_SELECT + 1, 1), 0x56);
        assert_eq!(r.regs.read(REG_INT_SENSE + 4 + 1, 1), 0x1F);
        // 8-byte accesses are the low word, then the high word.
        assert_eq!(r.regs.read(REG_INT_SENSE, 8), RESET_SENSE);
        r.regs.write(REG_INT_ENABLE, 8, u64::MAX);
        assert_eq!(r.pair(REG_INT_ENABLE), SOURCE_MASK);
        r.regs.write(REG_INT_ENABLE_CLR, 8, 1 << 40);
        assert_eq!(r.regs.read(REG_INT_ENABLE, 8), SOURCE_MASK & !(1 << 40));
    }

    #[test]
    fn inputs_that_do_not_exist_are_ignored() {
        let r = rig();
        let before = r.vic.state();
        let sink = r.vic.sink();
        for n in [51, 59, 63, 64, u32::MAX] {
            sink.set_irq(n, true);
        }
        assert_eq!(r.vic.state(), before);
        assert_eq!(r.vic.core.borrow().bad_sources.len(), 5);
    }

    #[test]
    #[should_panic(expected = "sources 0-50")]
    fn wiring_a_source_that_does_not_exist_panics() {
        rig().vic.input(NUM_SOURCES);
    }

    #[test]
    fn every_offset_and_width_is_safe() {
        let mut r = rig();
        for size in [0u8, 1, 2, 3, 4, 5, 8, 16] {
            for off in (0..0x110u64).chain([u64::MAX - 7, u64::MAX - 3, u64::MAX]) {
                let v = r.regs.read(off, size);
                if matches!(size, 1 | 2 | 4) {
                    assert!(v >> (8 * size) == 0, "read {off:#x}/{size} = {v:#x}");
                }
                r.regs.write(off, size, u64::MAX);
            }
        }
        let s = r.vic.state();
        assert_eq!(s.sense, RESET_SENSE);
        assert_eq!(s.dual_edge, RESET_DUAL_EDGE);
        assert_eq!(s.event & !EVENT_WRITABLE, RESET_EVENT & !EVENT_WRITABLE);
    }

    #[test]
    fn reset_restores_registers_and_keeps_input_levels() {
        let mut r = rig();
        r.wr(REG_INT_ENABLE, u32::MAX);
        r.wr(REG_INT_SELECT, 1 << 16);
        r.wr(REG_INT_TRIGGER, 1 << 1);
        r.wr(REG_INT_EVENT + 4, 0xFFFF_FFFF);
        r.vic.set_irq(9, true);
        r.vic.set_irq(16, true);
        assert!(r.irq() && r.fiq());
        r.regs.reset();
        assert!(!r.irq() && !r.fiq(), "nothing enabled after reset");
        assert_eq!(r.pair(REG_INT_ENABLE), 0);
        assert_eq!(r.pair(REG_INT_SELECT), 0);
        assert_eq!(r.pair(REG_INT_TRIGGER), 0);
        assert_eq!(r.pair(REG_EDGE_STATUS), 0);
        assert_eq!(r.pair(REG_INT_EVENT), RESET_EVENT);
        // Source 9's line is still high.
        assert_eq!(r.pair(REG_RAW_STATUS), 1 << 9);
        assert_eq!(r.vic.state().level, (1 << 9) | (1 << 16));
        r.wr(REG_INT_ENABLE, 1 << 9);
        assert!(r.irq());
    }

    #[test]
    fn state_round_trip_redrives_outputs() {
        let mut r = rig();
        r.wr(REG_INT_ENABLE, (1 << 9) | (1 << 16));
        r.wr(REG_INT_SELECT, 1 << 16);
        r.wr(REG_INT_EVENT + 4, 1 << 16);
        r.vic.set_irq(9, true);
        r.vic.set_irq(16, true);
        r.vic.set_irq(48, true);
        let snapshot = r.vic.state();
        assert_eq!(
            snapshot.edge_latch,
            (1 << 16) | (1 << 48),
            "48 is rising now"
        );
        let rec = LevelRecorder::new();
        let copy = Vic::from_state(snapshot.clone(), rec.line(0), rec.line(1));
        assert_eq!(copy.state(), snapshot);
        assert_eq!(rec.changes(), [(0, true), (1, true)]);
        assert_eq!(copy.output_levels(), (true, true));
        let mut regs = copy.registers();
        regs.write(REG_EDGE_CLR, 4, 1 << 16);
        assert_eq!(copy.output_levels(), (true, false));
        assert!(!rec.level(1));
        assert!(r.fiq(), "the original is independent");
        // Bits of sources that do not exist are dropped.
        let rec = LevelRecorder::new();
        let wide = VicState {
            enable: u64::MAX,
            trigger: 1 << 60,
            ..VicState::new()
        };
        let vic = Vic::from_state(wide, rec.line(0), rec.line(1));
        assert_eq!(vic.state().enable, SOURCE_MASK);
        assert_eq!(vic.state().trigger, 0);
        assert_eq!(vic.output_levels(), (false, false));
    }
}
