//! The Aspeed SGPIO master (serial GPIO), as Linux `drivers/gpio/gpio-aspeed-sgpio.c` (the
//! `aspeed,ast2600-sgpiom` and `aspeed,ast2500-sgpio` configurations) and u-boot
//! `drivers/gpio/gpio-aspeed-sgpio.c` drive it. QEMU has no model of this generation's
//! controller (its `hw/gpio/aspeed_sgpio.c` is the AST2700's per-pin design, absent from its
//! 7.2/8.x trees), so the behaviour below is the drivers' reading of the hardware.
//!
//! The master clocks a chain of external shift registers: every frame it shifts each serial
//! slot's output bit out and each slot's input bit in. One [`AspeedSgpio`] is one master; the
//! [`Variant`] picks the generation:
//! - [`Variant::Ast2600`]: up to 128 slots in 4 banks (`sgpiom0` at 0x1E78_0500 and `sgpiom1`
//!   at 0x1E78_0600 in `aspeed-g6.dtsi`, each 0x100 bytes), a 5-bit pin-count field;
//! - [`Variant::Ast2500`]: up to 80 slots in 3 banks, the third half wide (`sgpio` at
//!   0x1E78_0200 in `aspeed-g5.dtsi`), a 4-bit pin-count field (Linux `ast2400_sgpio_pdata`).
//!
//! # Line numbering
//!
//! Lines are numbered as the Linux gpiochip (and so the device trees' `gpios = <&sgpiom0 N ..>`
//! and `gpio-line-names`) numbers them: slot `s` has input line `2s` (even) and output line
//! `2s + 1` (odd); slot `s` is bit `s % 32` of bank `s / 32` (Linux `GPIO_BANK(x) = x >> 6`,
//! `GPIO_BIT(x) = BIT((x & 63) >> 1)`). [`input_line`], [`output_line`] and [`slot_of`] convert.
//!
//! # Registers
//!
//! Per bank, at the offsets of Linux's `aspeed_sgpio_banks[]` ([`BANKS`]): the data value
//! register (reads the serial input data, writes the serial output data), the data read
//! register (reads the serial output data back), interrupt enable, type 0/1/2 and status (write
//! 1 to clear), and reset tolerance. Plus the configuration register [`ASPEED_SGPIO_CTRL`]:
//! enable (bit 0), the number of slots in units of 8 (bits 6.., [`Variant::pins_field_mask`]),
//! and the serial clock divider (bits 16..31: period = 2 * (divider + 1) / PCLK). The AST2600
//! has no per-pin register window (that is the AST2700's layout, Linux `version == 7`).
//!
//! # The serial link
//!
//! While the master is enabled, the first [`AspeedSgpio::active_pins`] slots (pin-count field
//! times 8, capped at [`Variant::max_pins`]) are shifted, and a frame is taken to happen at
//! once: their sampled inputs (the value register) follow the levels the host drives
//! ([`AspeedSgpio::set_input`]), and the external outputs follow the output data register.
//! Slots that are not shifted (the master disabled, or past the pin count) keep their last
//! sampled input and their external output level, as a stopped shift register chain does. Each
//! change of an external output level is queued, in order, for
//! [`AspeedSgpio::take_output_changes`].
//!
//! # Interrupts
//!
//! Each slot's sampled input is watched: an enabled slot latches its status bit on the edge or
//! while the level its type selects ([`IrqTrigger`]) holds, so a level interrupt re-asserts as
//! soon as it is acknowledged while the level still holds. The one interrupt output (level),
//! given to [`AspeedSgpio::new`], is high while any slot has both its status and enable bits
//! set (Linux's chained handler scans every bank's status register).
//!
//! # Reset
//!
//! [`Device::reset`] (a SoC reset) clears every register, which disables the master, except
//! that the reset-tolerant slots keep their output data and tolerance bit. The shift chain
//! stops, so the external outputs hold their levels (nothing is queued); once the guest enables
//! the master again the non-tolerant slots shift out 0 and the tolerant ones what they held.
//! The host's input levels are not registers and are kept.
//!
//! Left out: the timing of the serial frames (a frame takes slots x 2 (divider + 1) / PCLK; the
//! model shifts at once, so no [`bus::Clock`] is needed); the configuration register's other
//! bits (plain storage); the AST2600 limit of 80 slots on its second master, which Aspeed
//! documents but the register layout does not show (both masters take up to 128 here; the
//! device trees give the second `ngpios = <80>`); the SGPIO slave (`sgpios` at 0x1E78_0700);
//! the AST2700 per-pin layout; and pin muxing (the SCU).
#![deny(missing_docs)]

use bus::{merge_subword, subword, Device, DeviceState, IrqLine, StateError, UnimplementedLog};

/// Serial slots per bank, one bit each in a 32-bit register.
pub const SLOTS_PER_BANK: u32 = 32;
/// Banks of the largest variant (the AST2600's 128 slots): Linux `ARRAY_SIZE(aspeed_sgpio_banks)`.
pub const MAX_BANKS: usize = 4;
/// Size of the register block: `reg = <.. 0x100>` in `aspeed-g6.dtsi` and `aspeed-g5.dtsi`.
pub const REGS_SIZE: u64 = 0x100;
/// Kind of a master's saved state ([`Device::save_state`]).
pub const STATE_KIND: &str = "aspeed-sgpio";
/// Format version of a master's saved state.
pub const STATE_VERSION: u32 = 1;

/// What a master saves: its generation (checked on load) and its state.
#[derive(serde::Serialize, serde::Deserialize)]
struct SavedSgpio {
    variant: Variant,
    state: SgpioState,
}

/// Data value register, at a bank's `val_regs`: Linux `GPIO_VAL_VALUE`.
pub const GPIO_VAL_VALUE: u64 = 0x00;
/// Interrupt enable, within a bank's interrupt group: Linux `GPIO_IRQ_ENABLE`.
pub const GPIO_IRQ_ENABLE: u64 = 0x00;
/// Interrupt sensitivity type 0, within the interrupt group: Linux `GPIO_IRQ_TYPE0`.
pub const GPIO_IRQ_TYPE0: u64 = 0x04;
/// Interrupt sensitivity type 1, within the interrupt group: Linux `GPIO_IRQ_TYPE1`.
pub const GPIO_IRQ_TYPE1: u64 = 0x08;
/// Interrupt sensitivity type 2 (both edges), within the interrupt group: Linux `GPIO_IRQ_TYPE2`.
pub const GPIO_IRQ_TYPE2: u64 = 0x0c;
/// Interrupt status (write 1 to clear), within the interrupt group: Linux `GPIO_IRQ_STATUS`.
pub const GPIO_IRQ_STATUS: u64 = 0x10;

/// The configuration register: Linux `ast2600_sgpiom_pdata.ctrl_reg` / `ast2400_sgpio_pdata`
/// (0x54), u-boot `ASPEED_SGPIO_CTRL`; the datasheet's GPIO254 on the AST2500.
pub const ASPEED_SGPIO_CTRL: u64 = 0x54;
/// Configuration: the master is enabled (shifts): Linux `ASPEED_SGPIO_ENABLE`.
pub const ASPEED_SGPIO_ENABLE: u32 = 1 << 0;
/// Configuration: shift of the number of slots / 8: Linux `ASPEED_SGPIO_PINS_SHIFT`.
pub const ASPEED_SGPIO_PINS_SHIFT: u32 = 6;
/// Configuration: the AST2600's slot count field, bits 10:6: Linux `ast2600_sgpiom_pdata.pin_mask`.
pub const AST2600_SGPIO_PINS_MASK: u32 = 0x1f << ASPEED_SGPIO_PINS_SHIFT;
/// Configuration: the AST2400/AST2500 slot count field, bits 9:6: Linux
/// `ast2400_sgpio_pdata.pin_mask`.
pub const AST2400_SGPIO_PINS_MASK: u32 = 0xf << ASPEED_SGPIO_PINS_SHIFT;
/// Configuration: the serial clock divider, bits 31:16: Linux `ASPEED_SGPIO_CLK_DIV_MASK`.
pub const ASPEED_SGPIO_CLK_DIV_MASK: u32 = 0xffff << ASPEED_SGPIO_CLK_DIV_SHIFT;
/// Configuration: shift of the clock divider field (`FIELD_PREP(ASPEED_SGPIO_CLK_DIV_MASK, ..)`).
pub const ASPEED_SGPIO_CLK_DIV_SHIFT: u32 = 16;

/// The input line (Linux gpiochip offset, even) of serial slot `slot`.
pub const fn input_line(slot: u32) -> u32 {
    slot * 2
}

/// The output line (Linux gpiochip offset, odd) of serial slot `slot`.
pub const fn output_line(slot: u32) -> u32 {
    slot * 2 + 1
}

/// The serial slot of `line`, and whether `line` is its input (Linux `aspeed_sgpio_is_input`:
/// even lines are inputs).
pub const fn slot_of(line: u32) -> (u32, bool) {
    (line / 2, line.is_multiple_of(2))
}

/// One bank's register offsets: Linux `struct aspeed_sgpio_bank`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BankRegs {
    /// Data value: Linux `val_regs`.
    pub val_regs: u64,
    /// Data read (the serial output data): Linux `rdata_reg`.
    pub rdata_reg: u64,
    /// Interrupt enable, type 0/1/2 and status: Linux `irq_regs`.
    pub irq_regs: u64,
    /// Reset tolerance: Linux `tolerance_regs`.
    pub tolerance_regs: u64,
}

/// The per-bank registers: Linux `enum aspeed_sgpio_reg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BankReg {
    /// Data value (reads serial input data, writes serial output data): Linux `reg_val`.
    Value,
    /// Data read (serial output data, read-only): Linux `reg_rdata`.
    DataRead,
    /// Interrupt enable: Linux `reg_irq_enable`.
    IrqEnable,
    /// Interrupt type 0: Linux `reg_irq_type0`.
    IrqType0,
    /// Interrupt type 1: Linux `reg_irq_type1`.
    IrqType1,
    /// Interrupt type 2: Linux `reg_irq_type2`.
    IrqType2,
    /// Interrupt status: Linux `reg_irq_status`.
    IrqStatus,
    /// Reset tolerance: Linux `reg_tolerance`.
    Tolerance,
}

impl BankReg {
    /// Every per-bank register.
    pub const ALL: [BankReg; 8] = [
        BankReg::Value,
        BankReg::DataRead,
        BankReg::IrqEnable,
        BankReg::IrqType0,
        BankReg::IrqType1,
        BankReg::IrqType2,
        BankReg::IrqStatus,
        BankReg::Tolerance,
    ];
}

impl BankRegs {
    /// The offset of `reg` of this bank from the master's base: Linux `bank_reg()`.
    pub const fn offset(&self, reg: BankReg) -> u64 {
        match reg {
            BankReg::Value => self.val_regs + GPIO_VAL_VALUE,
            BankReg::DataRead => self.rdata_reg,
            BankReg::IrqEnable => self.irq_regs + GPIO_IRQ_ENABLE,
            BankReg::IrqType0 => self.irq_regs + GPIO_IRQ_TYPE0,
            BankReg::IrqType1 => self.irq_regs + GPIO_IRQ_TYPE1,
            BankReg::IrqType2 => self.irq_regs + GPIO_IRQ_TYPE2,
            BankReg::IrqStatus => self.irq_regs + GPIO_IRQ_STATUS,
            BankReg::Tolerance => self.tolerance_regs,
        }
    }
}

const fn bank(val_regs: u64, rdata_reg: u64, irq_regs: u64, tolerance_regs: u64) -> BankRegs {
    BankRegs {
        val_regs,
        rdata_reg,
        irq_regs,
        tolerance_regs,
    }
}

/// The banks' register offsets, bank 0 (slots 0..31, Linux's "A".."D") first: Linux and
/// u-boot `aspeed_sgpio_banks[]`.
pub const BANKS: [BankRegs; MAX_BANKS] = [
    bank(0x00, 0x70, 0x04, 0x18), // A B C D
    bank(0x1c, 0x74, 0x20, 0x34), // E F G H
    bank(0x38, 0x78, 0x3c, 0x50), // I J K L
    bank(0x90, 0x7c, 0x94, 0xa8), // M N O P
];

/// Which SoC generation's master.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Variant {
    /// An AST2600 SGPIO master (`aspeed,ast2600-sgpiom`): up to 128 slots.
    Ast2600,
    /// The AST2500 SGPIO master (`aspeed,ast2500-sgpio`): up to 80 slots.
    Ast2500,
}

impl Variant {
    /// The most serial slots the master shifts: 128 or 80.
    pub const fn max_pins(self) -> u32 {
        match self {
            Variant::Ast2600 => 128,
            Variant::Ast2500 => 80,
        }
    }

    /// Lines the Linux gpiochip has with `ngpios` at the maximum (`chip.ngpio = ngpios * 2`).
    pub const fn ngpio(self) -> u32 {
        self.max_pins() * 2
    }

    /// Banks of 32 slots this master has registers for: 4 or 3.
    pub const fn banks(self) -> usize {
        self.max_pins().div_ceil(SLOTS_PER_BANK) as usize
    }

    /// The slots of `bank` that exist (their bits in every bank register).
    pub const fn pin_mask(self, bank: usize) -> u32 {
        slots_below(bank, self.max_pins())
    }

    /// The configuration register's slot count field: [`AST2600_SGPIO_PINS_MASK`] or
    /// [`AST2400_SGPIO_PINS_MASK`] (Linux `pin_mask`).
    pub const fn pins_field_mask(self) -> u32 {
        match self {
            Variant::Ast2600 => AST2600_SGPIO_PINS_MASK,
            Variant::Ast2500 => AST2400_SGPIO_PINS_MASK,
        }
    }

    /// Size of the register block: [`REGS_SIZE`].
    pub const fn regs_size(self) -> u64 {
        REGS_SIZE
    }

    /// Whether `line` (Linux numbering) belongs to a slot this master has.
    pub const fn has_line(self, line: u32) -> bool {
        line < self.ngpio()
    }
}

/// The bits of `bank` whose slot numbers are below `count`.
const fn slots_below(bank: usize, count: u32) -> u32 {
    let first = bank as u32 * SLOTS_PER_BANK;
    if count <= first {
        0
    } else if count - first >= SLOTS_PER_BANK {
        u32::MAX
    } else {
        (1 << (count - first)) - 1
    }
}

/// What an enabled slot interrupts on: interrupt type bits (type2, type1, type0) of the slot,
/// as Linux `aspeed_sgpio_set_type` programs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqTrigger {
    /// Type 000: falling edge (Linux `IRQ_TYPE_EDGE_FALLING`, the probe's default).
    FallingEdge,
    /// Type 001: rising edge (Linux `IRQ_TYPE_EDGE_RISING`).
    RisingEdge,
    /// Type 010: low level (Linux `IRQ_TYPE_LEVEL_LOW`).
    LevelLow,
    /// Type 011: high level (Linux `IRQ_TYPE_LEVEL_HIGH`).
    LevelHigh,
    /// Type 1xx: both edges (Linux `IRQ_TYPE_EDGE_BOTH` writes 101).
    BothEdges,
}

/// One bank's registers (one bit per slot) and its slots' wire levels.
#[derive(Clone, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct SgpioBankState {
    /// Serial output data: written through the data value register, read by the data read one.
    pub output_data: u32,
    /// Serial input data as last shifted in: what the data value register reads.
    pub input_data: u32,
    /// Interrupt enable.
    pub irq_enable: u32,
    /// Interrupt type 0, 1 and 2.
    pub irq_type: [u32; 3],
    /// Interrupt status.
    pub irq_status: u32,
    /// Reset tolerance.
    pub reset_tolerance: u32,
    /// The level the outside world drives on each slot's input (not a register).
    pub input_pins: u32,
    /// The level each slot's output has on the external shift registers (not a register).
    pub output_pins: u32,
}

/// The master's registers and wire levels: a plain value that can be saved and restored.
/// Banks past the variant's [`Variant::banks`] stay zero.
#[derive(Clone, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct SgpioState {
    /// Banks 0.. (slots 0..31 first).
    pub banks: [SgpioBankState; MAX_BANKS],
    /// The configuration register ([`ASPEED_SGPIO_CTRL`]).
    pub control: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Bank(usize, BankReg),
    Control,
}

/// One Aspeed SGPIO master.
pub struct AspeedSgpio {
    variant: Variant,
    state: SgpioState,
    irq: IrqLine,
    irq_level: bool,
    output_changes: Vec<(u32, bool)>,
    unimplemented: UnimplementedLog,
}

impl AspeedSgpio {
    /// A master of `variant` in its reset state (disabled, every wire low). `irq` is its
    /// interrupt output (level).
    pub fn new(variant: Variant, irq: IrqLine) -> Self {
        Self::from_state(&SgpioState::default(), variant, irq)
    }

    /// A master restored from `state` (bits of slots `variant` lacks are dropped); `irq` is
    /// raised if the state has an interrupt pending. A state taken with
    /// [`AspeedSgpio::state`] comes back as it was; one whose shifted slots disagree with their
    /// wires is brought in line as a frame would (output changes queued).
    pub fn from_state(state: &SgpioState, variant: Variant, irq: IrqLine) -> Self {
        let mut state = state.clone();
        for (b, bank) in state.banks.iter_mut().enumerate() {
            let mask = if b < variant.banks() {
                variant.pin_mask(b)
            } else {
                0
            };
            bank.output_data &= mask;
            bank.input_data &= mask;
            bank.irq_enable &= mask;
            for t in &mut bank.irq_type {
                *t &= mask;
            }
            bank.irq_status &= mask;
            bank.reset_tolerance &= mask;
            bank.input_pins &= mask;
            bank.output_pins &= mask;
        }
        let mut sgpio = Self {
            variant,
            state,
            irq,
            irq_level: false,
            output_changes: Vec::new(),
            unimplemented: UnimplementedLog::new("sgpio"),
        };
        sgpio.shift();
        // The line is taken to start low, as every device's does.
        sgpio.irq_level = sgpio.irq_pending();
        if sgpio.irq_level {
            sgpio.irq.raise();
        }
        sgpio
    }

    /// A copy of the registers and wire levels.
    pub fn state(&self) -> SgpioState {
        self.state.clone()
    }

    /// Which generation this master is.
    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// Whether the guest has enabled the master ([`ASPEED_SGPIO_ENABLE`]).
    pub fn enabled(&self) -> bool {
        self.state.control & ASPEED_SGPIO_ENABLE != 0
    }

    /// The slot count the configuration register asks for: its field times 8, capped at
    /// [`Variant::max_pins`] (whether or not the master is enabled).
    pub fn configured_pins(&self) -> u32 {
        let field =
            (self.state.control & self.variant.pins_field_mask()) >> ASPEED_SGPIO_PINS_SHIFT;
        (field * 8).min(self.variant.max_pins())
    }

    /// How many slots are being shifted: [`AspeedSgpio::configured_pins`] while enabled, else 0.
    pub fn active_pins(&self) -> u32 {
        if self.enabled() {
            self.configured_pins()
        } else {
            0
        }
    }

    /// The serial clock divider (configuration bits 31:16).
    pub fn clock_divider(&self) -> u32 {
        (self.state.control & ASPEED_SGPIO_CLK_DIV_MASK) >> ASPEED_SGPIO_CLK_DIV_SHIFT
    }

    /// The serial clock the divider gives from a `pclk_hz` APB clock: PCLK / (2 * (divider +
    /// 1)), the datasheet's formula that Linux and u-boot invert.
    pub fn serial_clock_hz(&self, pclk_hz: u64) -> u64 {
        pclk_hz / (2 * (u64::from(self.clock_divider()) + 1))
    }

    /// Host side: the outside world drives the input of the slot whose input line (even,
    /// Linux numbering: [`input_line`]) is `line` to `high`. A slot being shifted samples it at
    /// once, which may latch its interrupt as its type and enable say; other slots see it once
    /// the guest shifts them. Returns false (and does nothing) for an output line or a line
    /// past the variant's slots.
    pub fn set_input(&mut self, line: u32, high: bool) -> bool {
        let (slot, is_input) = slot_of(line);
        if !is_input || !self.variant.has_line(line) {
            return false;
        }
        let (b, bit) = split(slot);
        let bank = &mut self.state.banks[b];
        if high {
            bank.input_pins |= 1 << bit;
        } else {
            bank.input_pins &= !(1 << bit);
        }
        self.shift();
        true
    }

    /// The level the outside world drives on input `line` (the last [`AspeedSgpio::set_input`]);
    /// None for an output line or a line past the variant's slots.
    pub fn input_level(&self, line: u32) -> Option<bool> {
        let (slot, is_input) = slot_of(line);
        (is_input && self.variant.has_line(line)).then(|| {
            let (b, bit) = split(slot);
            self.state.banks[b].input_pins & (1 << bit) != 0
        })
    }

    /// The level output `line` (odd, Linux numbering: [`output_line`]) has on the external
    /// shift registers: the output data last shifted out. None for an input line or a line past
    /// the variant's slots.
    pub fn output_level(&self, line: u32) -> Option<bool> {
        let (slot, is_input) = slot_of(line);
        (!is_input && self.variant.has_line(line)).then(|| {
            let (b, bit) = split(slot);
            self.state.banks[b].output_pins & (1 << bit) != 0
        })
    }

    /// What input `line` interrupts on, if it is an input line of this variant.
    pub fn irq_trigger(&self, line: u32) -> Option<IrqTrigger> {
        let (slot, is_input) = slot_of(line);
        if !is_input || !self.variant.has_line(line) {
            return None;
        }
        let (b, bit) = split(slot);
        let t = self.state.banks[b].irq_type.map(|t| t & (1 << bit) != 0);
        Some(match t {
            [_, _, true] => IrqTrigger::BothEdges,
            [false, false, false] => IrqTrigger::FallingEdge,
            [true, false, false] => IrqTrigger::RisingEdge,
            [false, true, false] => IrqTrigger::LevelLow,
            [true, true, false] => IrqTrigger::LevelHigh,
        })
    }

    /// Whether the interrupt output is high: some slot has status and enable set.
    pub fn irq_pending(&self) -> bool {
        self.state.banks[..self.variant.banks()]
            .iter()
            .any(|b| b.irq_status & b.irq_enable != 0)
    }

    /// Every change of an external output level since the last call, in order: (output line,
    /// new level). A change happens when a shifted slot's output data changes (a data value
    /// write), or when a slot starts being shifted (enable, a larger pin count) with output
    /// data that differs from what its shift register holds.
    pub fn take_output_changes(&mut self) -> Vec<(u32, bool)> {
        std::mem::take(&mut self.output_changes)
    }

    /// A frame: the shifted slots sample their inputs and drive their outputs; then the
    /// interrupt output follows the status.
    fn shift(&mut self) {
        let active = self.active_pins();
        for b in 0..self.variant.banks() {
            let shifted = slots_below(b, active);
            let bank = &mut self.state.banks[b];
            let old_in = bank.input_data;
            let new_in = (old_in & !shifted) | (bank.input_pins & shifted);
            bank.input_data = new_in;
            let old_out = bank.output_pins;
            let new_out = (old_out & !shifted) | (bank.output_data & shifted);
            bank.output_pins = new_out;
            self.record_changes(b, old_out, new_out);
            self.sense(b, old_in, new_in);
        }
        self.update_irq();
    }

    /// Latches the interrupt status of `bank`'s enabled slots whose sampled input went from
    /// `old` to `new` in a way their type selects, or whose level their level type selects holds.
    fn sense(&mut self, b: usize, old: u32, new: u32) {
        let bank = &mut self.state.banks[b];
        let [t0, t1, t2] = bank.irq_type;
        let rising = !old & new;
        let falling = old & !new;
        let edge =
            (t2 & (rising | falling)) | (!t2 & !t1 & t0 & rising) | (!t2 & !t1 & !t0 & falling);
        let level = !t2 & t1 & ((t0 & new) | (!t0 & !new));
        bank.irq_status |= (edge | level) & bank.irq_enable & self.variant.pin_mask(b);
    }

    fn update_irq(&mut self) {
        let pending = self.irq_pending();
        if pending != self.irq_level {
            self.irq_level = pending;
            self.irq.set(pending);
        }
    }

    fn record_changes(&mut self, b: usize, old: u32, new: u32) {
        let mut diff = old ^ new;
        while diff != 0 {
            let bit = diff.trailing_zeros();
            diff &= diff - 1;
            let slot = b as u32 * SLOTS_PER_BANK + bit;
            self.output_changes
                .push((output_line(slot), new & (1 << bit) != 0));
        }
    }

    fn decode(&self, reg: u64) -> Option<Target> {
        if reg == ASPEED_SGPIO_CTRL {
            return Some(Target::Control);
        }
        BANKS[..self.variant.banks()]
            .iter()
            .enumerate()
            .find_map(|(b, regs)| {
                BankReg::ALL
                    .iter()
                    .find(|r| regs.offset(**r) == reg)
                    .map(|r| Target::Bank(b, *r))
            })
    }

    fn read_bank(&self, b: usize, reg: BankReg) -> u32 {
        let bank = &self.state.banks[b];
        match reg {
            BankReg::Value => bank.input_data,
            BankReg::DataRead => bank.output_data,
            BankReg::IrqEnable => bank.irq_enable,
            BankReg::IrqType0 => bank.irq_type[0],
            BankReg::IrqType1 => bank.irq_type[1],
            BankReg::IrqType2 => bank.irq_type[2],
            BankReg::IrqStatus => bank.irq_status,
            BankReg::Tolerance => bank.reset_tolerance,
        }
    }

    fn write_bank(&mut self, b: usize, reg: BankReg, offset: u64, size: u8, value: u64) {
        let mask = self.variant.pin_mask(b);
        let bank = &mut self.state.banks[b];
        let merge = |current: u32| merge_subword(current, offset, size, value) & mask;
        match reg {
            // A partial write keeps the other bytes of the output data (what the guest last
            // wrote), not of the input data the register reads.
            BankReg::Value => bank.output_data = merge(bank.output_data),
            BankReg::DataRead => {}
            BankReg::IrqEnable => bank.irq_enable = merge(bank.irq_enable),
            BankReg::IrqType0 => bank.irq_type[0] = merge(bank.irq_type[0]),
            BankReg::IrqType1 => bank.irq_type[1] = merge(bank.irq_type[1]),
            BankReg::IrqType2 => bank.irq_type[2] = merge(bank.irq_type[2]),
            // Write 1 to clear: only the bytes written count.
            BankReg::IrqStatus => bank.irq_status &= !merge_subword(0, offset, size, value),
            BankReg::Tolerance => bank.reset_tolerance = merge(bank.reset_tolerance),
        }
        // The frame also re-evaluates the level types on the held inputs (after a type,
        // enable or acknowledge write).
        self.shift();
    }

    fn read32(&mut self, offset: u64, size: u8) -> u64 {
        match self.decode(offset & !3) {
            Some(Target::Bank(b, reg)) => subword(self.read_bank(b, reg), offset, size),
            Some(Target::Control) => subword(self.state.control, offset, size),
            None => {
                self.unimplemented.read(offset, size);
                0
            }
        }
    }

    fn write32(&mut self, offset: u64, size: u8, value: u64) {
        match self.decode(offset & !3) {
            Some(Target::Bank(b, reg)) => self.write_bank(b, reg, offset, size, value),
            Some(Target::Control) => {
                self.state.control = merge_subword(self.state.control, offset, size, value);
                self.shift();
            }
            None => self.unimplemented.write(offset, size, value),
        }
    }
}

fn split(slot: u32) -> (usize, u32) {
    ((slot / SLOTS_PER_BANK) as usize, slot % SLOTS_PER_BANK)
}

impl Device for AspeedSgpio {
    fn save_state(&self) -> Option<DeviceState> {
        Some(DeviceState::new(
            STATE_KIND,
            STATE_VERSION,
            &SavedSgpio {
                variant: self.variant,
                state: self.state.clone(),
            },
        ))
    }

    /// Registers and wire levels as saved (output changes queued for the host before are
    /// dropped: they were the old machine's); the interrupt line follows.
    fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        let saved: SavedSgpio = state.decode(STATE_KIND, STATE_VERSION)?;
        if saved.variant != self.variant {
            return Err(StateError(format!(
                "an {:?} SGPIO master's state cannot be loaded into an {:?} one",
                saved.variant, self.variant
            )));
        }
        self.state = saved.state;
        self.output_changes.clear();
        self.irq_level = self.irq_pending();
        self.irq.set(self.irq_level);
        Ok(())
    }

    fn read(&mut self, offset: u64, size: u8) -> u64 {
        bus::split_read(offset, size, |o, s| self.read32(o, s))
    }

    fn write(&mut self, offset: u64, size: u8, value: u64) {
        bus::split_write(offset, size, value, |o, s, v| self.write32(o, s, v));
    }

    /// SoC reset: every register clears (the master stops) except that reset-tolerant slots
    /// keep their output data and tolerance bit. The wires keep their levels.
    fn reset(&mut self) {
        for bank in &mut self.state.banks {
            let keep = bank.reset_tolerance;
            *bank = SgpioBankState {
                output_data: bank.output_data & keep,
                reset_tolerance: keep,
                input_pins: bank.input_pins,
                output_pins: bank.output_pins,
                ..SgpioBankState::default()
            };
        }
        self.state.control = 0;
        self.shift();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bus::LevelRecorder;
    use std::rc::Rc;

    /// The AST2600's APB2 clock as u-boot leaves it (the SGPIO masters' `clocks`), and the
    /// device trees' `bus-frequency`.
    const APB2_HZ: u64 = 100_000_000;
    const BUS_HZ: u64 = 12_000_000;

    struct Rig {
        sgpio: AspeedSgpio,
        rec: Rc<LevelRecorder>,
    }

    fn rig(variant: Variant) -> Rig {
        let rec = LevelRecorder::new();
        let sgpio = AspeedSgpio::new(variant, rec.line(0));
        Rig { sgpio, rec }
    }

    /// A rig probed by Linux with `ngpios` slots.
    fn probed(variant: Variant, ngpios: u32) -> Rig {
        let mut r = rig(variant);
        r.linux_probe(ngpios, APB2_HZ, BUS_HZ);
        r
    }

    /// Offset of `reg` of the bank holding `line`, and the line's bit: Linux `bank_reg(..,
    /// to_bank(offset), ..)` and `GPIO_BIT()`.
    fn reg_of(line: u32, reg: BankReg) -> (u64, u32) {
        let bank = (line >> 6) as usize;
        (BANKS[bank].offset(reg), 1 << ((line & 63) >> 1))
    }

    impl Rig {
        fn rd(&mut self, off: u64) -> u32 {
            self.sgpio.read(off, 4) as u32
        }
        fn wr(&mut self, off: u64, v: u32) {
            self.sgpio.write(off, 4, u64::from(v))
        }
        fn rd_reg(&mut self, line: u32, reg: BankReg) -> u32 {
            let (off, _) = reg_of(line, reg);
            self.rd(off)
        }
        fn rmw(&mut self, line: u32, reg: BankReg, set: bool) {
            let (off, bit) = reg_of(line, reg);
            let v = self.rd(off);
            self.wr(off, if set { v | bit } else { v & !bit });
        }

        /// Linux `aspeed_sgpio_probe`: the divider from PCLK and `bus-frequency`, the slot
        /// count masked by the variant's field, and the enable bit in one write to the
        /// configuration register; then `aspeed_sgpio_setup_irqs`: every bank's enable
        /// cleared and status written with ones, then its types cleared.
        fn linux_probe(&mut self, ngpios: u32, apb_hz: u64, bus_hz: u64) {
            assert_eq!(ngpios % 8, 0, "the driver rejects it");
            let div = (apb_hz / (bus_hz * 2)) as u32 - 1;
            let count =
                ((ngpios / 8) << ASPEED_SGPIO_PINS_SHIFT) & self.sgpio.variant().pins_field_mask();
            self.wr(
                ASPEED_SGPIO_CTRL,
                (div << ASPEED_SGPIO_CLK_DIV_SHIFT) | count | ASPEED_SGPIO_ENABLE,
            );
            for regs in BANKS {
                self.wr(regs.offset(BankReg::IrqEnable), 0);
                self.wr(regs.offset(BankReg::IrqStatus), 0xffff_ffff);
            }
            for regs in BANKS {
                self.wr(regs.offset(BankReg::IrqType0), 0);
                self.wr(regs.offset(BankReg::IrqType1), 0);
                self.wr(regs.offset(BankReg::IrqType2), 0);
            }
        }
        /// Linux `sgpio_set_value` (and u-boot `aspeed_g4_reg_bit_set(.., reg_val, ..)`): the
        /// output data read from rdata, the bit changed, written to the value register.
        fn linux_set(&mut self, line: u32, val: bool) {
            assert_eq!(line % 2, 1, "-EINVAL for an input");
            let (rdata, bit) = reg_of(line, BankReg::DataRead);
            let (value, _) = reg_of(line, BankReg::Value);
            let v = self.rd(rdata);
            self.wr(value, if val { v | bit } else { v & !bit });
        }
        /// Linux `aspeed_sgpio_get` (and u-boot `aspeed_sgpio_get_value`): the value register
        /// for an input line, rdata for an output line.
        fn linux_get(&mut self, line: u32) -> bool {
            let reg = if line.is_multiple_of(2) {
                BankReg::Value
            } else {
                BankReg::DataRead
            };
            self.rd_reg(line, reg) & reg_of(line, reg).1 != 0
        }
        /// Linux `aspeed_sgpio_set_type`: type0, type1, type2 read-modify-written in turn.
        fn linux_set_type(&mut self, line: u32, trigger: IrqTrigger) {
            let (t0, t1, t2) = match trigger {
                IrqTrigger::BothEdges => (true, false, true),
                IrqTrigger::RisingEdge => (true, false, false),
                IrqTrigger::FallingEdge => (false, false, false),
                IrqTrigger::LevelHigh => (true, true, false),
                IrqTrigger::LevelLow => (false, true, false),
            };
            self.rmw(line, BankReg::IrqType0, t0);
            self.rmw(line, BankReg::IrqType1, t1);
            self.rmw(line, BankReg::IrqType2, t2);
        }
        /// Linux `aspeed_sgpio_irq_set_mask`.
        fn linux_unmask(&mut self, line: u32, on: bool) {
            self.rmw(line, BankReg::IrqEnable, on);
        }
        /// Linux `aspeed_sgpio_irq_ack`: the line's bit written to the status register.
        fn linux_ack(&mut self, line: u32) {
            let (off, bit) = reg_of(line, BankReg::IrqStatus);
            self.wr(off, bit);
        }
        /// Linux `aspeed_sgpio_reset_tolerance`.
        fn linux_persist(&mut self, line: u32, on: bool) {
            self.rmw(line, BankReg::Tolerance, on);
        }
        fn status(&mut self, line: u32) -> bool {
            let (off, bit) = reg_of(line, BankReg::IrqStatus);
            self.rd(off) & bit != 0
        }
        fn irq(&self) -> bool {
            self.rec.level(0)
        }
        /// What Linux's chained `aspeed_sgpio_irq_handler` dispatches: for every bank of the
        /// table, each set status bit p as hwirq (bank * 32 + p) * 2.
        fn linux_pending_lines(&mut self) -> Vec<u32> {
            let mut lines = Vec::new();
            for (i, regs) in BANKS.iter().enumerate() {
                let reg = self.rd(regs.offset(BankReg::IrqStatus));
                for p in 0..32 {
                    if reg & (1 << p) != 0 {
                        lines.push((i as u32 * 32 + p) * 2);
                    }
                }
            }
            lines
        }
    }

    #[test]
    fn a_saved_master_loads_into_a_fresh_one_and_goes_on_alike() {
        let mut r = probed(Variant::Ast2600, 128);
        r.linux_set(1, true);
        r.linux_set_type(2, IrqTrigger::LevelHigh);
        r.linux_unmask(2, true);
        r.sgpio.set_input(2, true);
        r.sgpio.set_input(4, true);
        assert!(r.irq(), "a level-high input pending");
        let saved = r.sgpio.save_state().unwrap();

        let mut t = rig(Variant::Ast2600);
        t.sgpio.load_state(&saved).unwrap();
        assert!(t.irq(), "the restored master raises its line");
        assert_eq!(t.sgpio.save_state().unwrap(), saved);
        for off in (0..REGS_SIZE).step_by(4) {
            assert_eq!(t.rd(off), r.rd(off), "register {off:#x}");
        }
        // Both go on alike: the level source stays pending after an ack until it drops.
        for g in [&mut r, &mut t] {
            g.linux_ack(2);
            assert!(g.irq());
            g.sgpio.set_input(2, false);
            g.linux_ack(2);
            assert!(!g.irq());
            assert!(g.linux_get(4));
        }

        let mut other = rig(Variant::Ast2500);
        let e = other.sgpio.load_state(&saved).unwrap_err();
        assert!(e.0.contains("Ast2600"), "{e}");
        let before = t.sgpio.save_state();
        let mut wrong = saved.clone();
        wrong.version = STATE_VERSION + 1;
        let e = t.sgpio.load_state(&wrong).unwrap_err();
        assert!(e.0.contains("format version"), "{e}");
        let mut wrong = saved.clone();
        wrong.kind = "aspeed-gpio".into();
        let e = t.sgpio.load_state(&wrong).unwrap_err();
        assert!(e.0.contains("cannot be loaded into a aspeed-sgpio"), "{e}");
        assert_eq!(
            t.sgpio.save_state(),
            before,
            "a refused state changes nothing"
        );
    }

    #[test]
    fn variants_and_register_map() {
        assert_eq!(Variant::Ast2600.max_pins(), 128);
        assert_eq!(Variant::Ast2600.ngpio(), 256);
        assert_eq!(Variant::Ast2600.banks(), 4);
        assert_eq!(Variant::Ast2500.max_pins(), 80);
        assert_eq!(Variant::Ast2500.ngpio(), 160);
        assert_eq!(Variant::Ast2500.banks(), 3);
        assert_eq!(Variant::Ast2500.pin_mask(2), 0xffff);
        assert_eq!(Variant::Ast2500.pin_mask(3), 0);
        assert_eq!(Variant::Ast2600.pin_mask(3), u32::MAX);
        assert_eq!(Variant::Ast2600.regs_size(), 0x100);
        assert_eq!(AST2600_SGPIO_PINS_MASK, 0x7c0);
        assert_eq!(AST2400_SGPIO_PINS_MASK, 0x3c0);
        assert_eq!(ASPEED_SGPIO_CLK_DIV_MASK, 0xffff_0000);
        // Linux's table: the M..P bank of the AST2600 sits above the configuration register.
        assert_eq!(BANKS[0].offset(BankReg::IrqStatus), 0x14);
        assert_eq!(BANKS[1].offset(BankReg::IrqType2), 0x2c);
        assert_eq!(BANKS[2].offset(BankReg::Tolerance), 0x50);
        assert_eq!(BANKS[3].offset(BankReg::IrqStatus), 0xa4);
        assert_eq!(BANKS[3].offset(BankReg::DataRead), 0x7c);
        // Every register lies inside the block and no two collide.
        let mut offs: Vec<u64> = BANKS
            .iter()
            .flat_map(|b| BankReg::ALL.map(|r| b.offset(r)))
            .chain([ASPEED_SGPIO_CTRL])
            .collect();
        assert!(offs.iter().all(|o| *o < REGS_SIZE && o % 4 == 0));
        offs.sort();
        offs.dedup();
        assert_eq!(offs.len(), 4 * 8 + 1);
        assert_eq!((input_line(5), output_line(5)), (10, 11));
        assert_eq!(slot_of(11), (5, false));
        assert_eq!(slot_of(10), (5, true));
    }

    #[test]
    fn linux_probe_programs_count_divider_and_enable() {
        let mut r = rig(Variant::Ast2600);
        assert!(!r.sgpio.enabled());
        assert_eq!(r.sgpio.active_pins(), 0);
        r.linux_probe(128, APB2_HZ, BUS_HZ);
        // div = 100 MHz / 24 MHz - 1 = 3; count = 16 << 6.
        assert_eq!(r.rd(ASPEED_SGPIO_CTRL), (3 << 16) | (16 << 6) | 1);
        assert!(r.sgpio.enabled());
        assert_eq!(r.sgpio.configured_pins(), 128);
        assert_eq!(r.sgpio.active_pins(), 128);
        assert_eq!(r.sgpio.clock_divider(), 3);
        assert_eq!(r.sgpio.serial_clock_hz(APB2_HZ), 12_500_000);
        for regs in BANKS {
            for reg in BankReg::ALL {
                assert_eq!(r.rd(regs.offset(reg)), 0, "{reg:?} after probe");
            }
        }
        assert!(!r.irq());
        assert_eq!(r.sgpio.irq_trigger(0), Some(IrqTrigger::FallingEdge));
        assert_eq!(r.sgpio.irq_trigger(1), None, "outputs do not interrupt");
        assert_eq!(r.sgpio.unimplemented.reported(), 0);
        // The second master of a board (ngpios = <80>).
        let r = probed(Variant::Ast2600, 80);
        assert_eq!(r.sgpio.active_pins(), 80);
    }

    #[test]
    fn output_set_shifts_out_and_reads_back() {
        let mut r = probed(Variant::Ast2600, 128);
        let line = output_line(37); // bank 1 bit 5
        assert_eq!(line, 75);
        assert_eq!(r.sgpio.output_level(line), Some(false));
        r.linux_set(line, true);
        assert_eq!(r.rd(0x74), 1 << 5, "rdata of E..H");
        assert!(r.linux_get(line));
        assert_eq!(r.sgpio.output_level(line), Some(true));
        assert_eq!(r.sgpio.take_output_changes(), vec![(75, true)]);
        // Setting it again is no change; a neighbour is its own change.
        r.linux_set(line, true);
        r.linux_set(output_line(36), true);
        r.linux_set(line, false);
        assert_eq!(r.sgpio.take_output_changes(), vec![(73, true), (75, false)]);
        assert_eq!(r.rd(0x74), 1 << 4);
        // The value register reads inputs, not the outputs written.
        assert_eq!(r.rd(0x1c), 0);
        // The last bank (M..P) at 0x90, 0x7c.
        r.linux_set(output_line(127), true);
        assert_eq!(r.rd(0x7c), 1 << 31);
        assert_eq!(r.sgpio.take_output_changes(), vec![(255, true)]);
        // Input and out-of-range lines are not outputs.
        assert_eq!(r.sgpio.output_level(74), None);
        assert_eq!(r.sgpio.output_level(257), None);
    }

    #[test]
    fn input_get_reads_the_shifted_in_level() {
        let mut r = probed(Variant::Ast2600, 128);
        let line = input_line(70); // bank 2 bit 6
        assert!(r.sgpio.set_input(line, true));
        assert!(r.linux_get(line));
        assert_eq!(r.rd(0x38), 1 << 6);
        assert_eq!(r.sgpio.input_level(line), Some(true));
        r.sgpio.set_input(line, false);
        assert!(!r.linux_get(line));
        // Output lines and lines past the slots are not inputs.
        assert!(!r.sgpio.set_input(line + 1, true));
        assert!(!r.sgpio.set_input(256, true));
        assert_eq!(r.sgpio.input_level(line + 1), None);
        assert!(r.sgpio.take_output_changes().is_empty());
        // Inputs of slot 0 and 127.
        r.sgpio.set_input(0, true);
        r.sgpio.set_input(254, true);
        assert_eq!(r.rd(0x00), 1);
        assert_eq!(r.rd(0x90), 1 << 31);
    }

    #[test]
    fn nothing_shifts_while_disabled_or_past_the_pin_count() {
        let mut r = rig(Variant::Ast2600);
        // Before the probe: the host's levels are not sampled, the outputs not driven.
        r.sgpio.set_input(input_line(3), true);
        r.wr(0x00, 0xffff_ffff);
        assert_eq!(r.rd(0x00), 0);
        assert_eq!(r.rd(0x70), 0xffff_ffff);
        assert_eq!(r.sgpio.output_level(output_line(3)), Some(false));
        assert!(r.sgpio.take_output_changes().is_empty());
        // Enabled with 16 slots: slots 0..15 shift (their outputs change in slot order).
        r.wr(ASPEED_SGPIO_CTRL, (2 << 6) | 1);
        assert_eq!(r.sgpio.active_pins(), 16);
        assert_eq!(r.rd(0x00), 1 << 3);
        let changes = r.sgpio.take_output_changes();
        assert_eq!(
            changes,
            (0..16).map(|s| (output_line(s), true)).collect::<Vec<_>>()
        );
        r.sgpio.set_input(input_line(16), true);
        assert_eq!(r.rd(0x00), 1 << 3, "slot 16 not shifted");
        // Disabling freezes everything.
        r.wr(ASPEED_SGPIO_CTRL, 2 << 6);
        r.sgpio.set_input(input_line(3), false);
        r.wr(0x00, 0);
        assert_eq!(r.rd(0x00), 1 << 3);
        assert_eq!(r.sgpio.output_level(output_line(0)), Some(true));
        assert!(r.sgpio.take_output_changes().is_empty());
        // A larger count with the enable: everything catches up.
        r.wr(ASPEED_SGPIO_CTRL, (3 << 6) | 1);
        assert_eq!(r.rd(0x00), 1 << 16);
        assert_eq!(r.sgpio.take_output_changes().len(), 16);
        // A count field above the maximum is capped.
        r.wr(ASPEED_SGPIO_CTRL, (31 << 6) | 1);
        assert_eq!(r.sgpio.active_pins(), 128);
    }

    fn edge_rig(trigger: IrqTrigger, start_high: bool) -> (Rig, u32) {
        let mut r = probed(Variant::Ast2600, 128);
        let line = input_line(98); // bank 3 bit 2: the registers above 0x54
        r.sgpio.set_input(line, start_high);
        r.linux_set_type(line, trigger);
        assert_eq!(r.sgpio.irq_trigger(line), Some(trigger));
        r.linux_unmask(line, true);
        (r, line)
    }

    #[test]
    fn irq_falling_edge() {
        let (mut r, line) = edge_rig(IrqTrigger::FallingEdge, true);
        assert_eq!(r.rd(0x98) | r.rd(0x9c) | r.rd(0xa0), 0, "types 000");
        assert_eq!(r.rd(0x94), 1 << 2, "enable");
        assert!(!r.status(line) && !r.irq());
        r.sgpio.set_input(line, true);
        assert!(!r.irq(), "no edge");
        r.sgpio.set_input(line, false);
        assert!(r.status(line) && r.irq());
        assert_eq!(r.rd(0xa4), 1 << 2);
        assert_eq!(r.linux_pending_lines(), vec![196]);
        r.linux_ack(line);
        assert!(!r.status(line) && !r.irq());
        r.sgpio.set_input(line, true);
        assert!(!r.irq(), "rising edge ignored");
        r.sgpio.set_input(line, false);
        assert!(r.irq());
        assert_eq!(r.rec.changes(), vec![(0, true), (0, false), (0, true)]);
    }

    #[test]
    fn irq_rising_edge() {
        let (mut r, line) = edge_rig(IrqTrigger::RisingEdge, false);
        assert_eq!((r.rd(0x98), r.rd(0x9c), r.rd(0xa0)), (1 << 2, 0, 0));
        r.sgpio.set_input(line, true);
        assert!(r.status(line) && r.irq());
        // Edge status stays latched after the level goes away, until acked.
        r.sgpio.set_input(line, false);
        assert!(r.irq());
        r.linux_ack(line);
        assert!(!r.irq());
        r.sgpio.set_input(line, false);
        assert!(!r.irq());
    }

    #[test]
    fn irq_both_edges() {
        let (mut r, line) = edge_rig(IrqTrigger::BothEdges, false);
        assert_eq!((r.rd(0x98), r.rd(0x9c), r.rd(0xa0)), (1 << 2, 0, 1 << 2));
        r.sgpio.set_input(line, true);
        assert!(r.irq());
        r.linux_ack(line);
        assert!(!r.irq());
        r.sgpio.set_input(line, false);
        assert!(r.irq());
        r.linux_ack(line);
        r.sgpio.set_input(line, false);
        assert!(!r.irq());
    }

    #[test]
    fn irq_level_high_reasserts_while_the_level_holds() {
        let (mut r, line) = edge_rig(IrqTrigger::LevelHigh, false);
        assert_eq!((r.rd(0x98), r.rd(0x9c), r.rd(0xa0)), (1 << 2, 1 << 2, 0));
        assert!(!r.irq());
        r.sgpio.set_input(line, true);
        assert!(r.irq());
        // handle_level_irq: mask, ack, handler, unmask. The level still holds: back at once.
        r.linux_unmask(line, false);
        assert!(!r.irq(), "masked");
        r.linux_ack(line);
        assert!(!r.status(line));
        r.linux_unmask(line, true);
        assert!(r.status(line) && r.irq(), "re-asserted at unmask");
        r.linux_ack(line);
        assert!(r.status(line) && r.irq(), "re-asserted at ack");
        // The device lets go of the line: the next ack sticks.
        r.sgpio.set_input(line, false);
        assert!(r.irq(), "status stays until acked");
        r.linux_ack(line);
        assert!(!r.status(line) && !r.irq());
    }

    #[test]
    fn irq_level_low_is_pending_at_unmask() {
        let (mut r, line) = edge_rig(IrqTrigger::LevelLow, false);
        assert_eq!((r.rd(0x98), r.rd(0x9c), r.rd(0xa0)), (0, 1 << 2, 0));
        assert!(r.status(line) && r.irq());
        r.sgpio.set_input(line, true);
        r.linux_ack(line);
        assert!(!r.irq());
        r.sgpio.set_input(line, false);
        assert!(r.irq());
    }

    #[test]
    fn no_interrupt_from_a_slot_not_shifted() {
        // ngpios = 80: slot 98 is past the count; its level never reaches the register.
        let mut r = probed(Variant::Ast2600, 80);
        let line = input_line(98);
        r.linux_set_type(line, IrqTrigger::BothEdges);
        r.linux_unmask(line, true);
        r.sgpio.set_input(line, true);
        assert!(!r.irq());
        assert_eq!(r.rd(0x90), 0);
    }

    #[test]
    fn ack_clears_only_the_bits_written_and_all_banks_count() {
        let mut r = probed(Variant::Ast2600, 128);
        let lines = [0, 2, 66, 130, 254].map(|s| s as u32);
        for l in lines {
            r.linux_set_type(l, IrqTrigger::RisingEdge);
            r.linux_unmask(l, true);
            r.sgpio.set_input(l, true);
        }
        assert_eq!(r.linux_pending_lines(), lines.to_vec());
        assert_eq!(r.rd(0x14), 0b11);
        // Writing 0 clears nothing; a byte write clears only its byte.
        r.wr(0x14, 0);
        assert_eq!(r.rd(0x14), 0b11);
        r.sgpio.write(0x15, 1, 0xff);
        assert_eq!(r.rd(0x14), 0b11);
        r.sgpio.write(0x14, 1, 0x02);
        assert_eq!(r.rd(0x14), 0b01);
        for l in lines {
            assert!(r.irq(), "{l} still pending");
            r.linux_ack(l);
        }
        assert!(!r.irq());
        assert_eq!(r.rec.changes(), vec![(0, true), (0, false)]);
    }

    #[test]
    fn masked_slots_latch_nothing() {
        let mut r = probed(Variant::Ast2600, 128);
        let line = input_line(1);
        r.linux_set_type(line, IrqTrigger::BothEdges);
        r.sgpio.set_input(line, true);
        r.sgpio.set_input(line, false);
        assert!(!r.status(line));
        r.linux_unmask(line, true);
        assert!(!r.irq(), "edges while masked are not remembered");
        r.sgpio.set_input(line, true);
        assert!(r.irq());
        // Masking hides a pending status from the output but keeps it.
        r.linux_unmask(line, false);
        assert!(!r.irq() && r.status(line));
        r.linux_unmask(line, true);
        assert!(r.irq());
    }

    #[test]
    fn reset_keeps_the_reset_tolerant_outputs() {
        let mut r = probed(Variant::Ast2600, 128);
        let keep = output_line(9);
        let lose = output_line(10);
        r.linux_set(keep, true);
        r.linux_set(lose, true);
        r.linux_persist(keep, true);
        let line = input_line(4);
        r.sgpio.set_input(line, true);
        r.linux_set_type(line, IrqTrigger::LevelHigh);
        r.linux_unmask(line, true);
        assert!(r.irq());
        r.sgpio.take_output_changes();
        r.sgpio.reset();
        assert!(!r.irq());
        assert!(!r.status(line));
        assert!(!r.sgpio.enabled());
        assert_eq!(r.rd(ASPEED_SGPIO_CTRL), 0);
        assert_eq!(r.rd(0x70), 1 << 9);
        assert_eq!(r.rd(0x18), 1 << 9);
        assert_eq!(r.rd(0x00), 0, "input data cleared");
        // The chain stopped: both outputs still high, nothing reported.
        assert_eq!(r.sgpio.output_level(keep), Some(true));
        assert_eq!(r.sgpio.output_level(lose), Some(true));
        assert!(r.sgpio.take_output_changes().is_empty());
        assert_eq!(r.sgpio.input_level(line), Some(true));
        // Probed again: the tolerant slot stays high, the other shifts out 0.
        r.linux_probe(128, APB2_HZ, BUS_HZ);
        assert_eq!(r.sgpio.take_output_changes(), vec![(lose, false)]);
        assert_eq!(r.sgpio.output_level(keep), Some(true));
        assert!(r.linux_get(line));
    }

    #[test]
    fn the_ast2500_has_80_slots_and_a_4_bit_count() {
        let mut r = probed(Variant::Ast2500, 80);
        // Its APB clock and the same divider formula.
        assert_eq!(r.rd(ASPEED_SGPIO_CTRL) & 0xffff, (10 << 6) | 1);
        assert_eq!(r.sgpio.active_pins(), 80);
        // Bank 2 (I, J) is 16 bits wide.
        r.wr(0x40, 0xffff_ffff);
        assert_eq!(r.rd(0x40), 0xffff);
        r.wr(0x38, 0xffff_ffff);
        assert_eq!(r.rd(0x78), 0xffff);
        assert_eq!(r.sgpio.take_output_changes().len(), 16);
        let last = input_line(79);
        r.linux_set_type(last, IrqTrigger::RisingEdge);
        r.linux_unmask(last, true);
        r.sgpio.set_input(last, true);
        assert!(r.irq());
        assert_eq!(r.linux_pending_lines(), vec![158]);
        r.linux_ack(last);
        assert!(!r.irq());
        assert!(!r.sgpio.set_input(160, true));
        // There is no M..P bank: it reads 0 (the probe's writes to it were reported).
        assert_eq!(r.rd(0x90), 0);
        assert!(r.sgpio.unimplemented.reported() > 0);
        // The 4-bit field: ngpios = <128> masks to 0 slots, as Linux computes it.
        let r = probed(Variant::Ast2500, 128);
        assert_eq!(r.sgpio.configured_pins(), 0);
        assert!(r.sgpio.enabled());
        // A count field above the maximum is capped at 80.
        let mut r = rig(Variant::Ast2500);
        r.wr(ASPEED_SGPIO_CTRL, (15 << 6) | 1);
        assert_eq!(r.sgpio.active_pins(), 80);
    }

    #[test]
    fn uboot_probe_set_and_get() {
        // u-boot's probe writes the configuration register just as Linux's; its set and get
        // go through rdata and the value register the same way.
        let mut r = rig(Variant::Ast2600);
        let div = (APB2_HZ / (BUS_HZ * 2)) as u32 - 1;
        let count = ((64 / 8) << ASPEED_SGPIO_PINS_SHIFT) & AST2600_SGPIO_PINS_MASK;
        r.wr(ASPEED_SGPIO_CTRL, (div << 16) | count | ASPEED_SGPIO_ENABLE);
        assert_eq!(r.sgpio.active_pins(), 64);
        r.linux_set(output_line(63), true);
        assert!(r.linux_get(output_line(63)));
        assert_eq!(r.sgpio.take_output_changes(), vec![(127, true)]);
        r.sgpio.set_input(input_line(63), true);
        assert!(r.linux_get(input_line(63)));
        assert_eq!(r.rd(0x1c), 1 << 31);
    }

    #[test]
    fn narrow_and_wide_accesses() {
        let mut r = probed(Variant::Ast2600, 128);
        // Output data by bytes; the value register keeps reading inputs.
        r.sgpio.write(0x00, 1, 0x12);
        r.sgpio.write(0x01, 1, 0x34);
        r.sgpio.write(0x02, 2, 0x5678);
        assert_eq!(r.rd(0x70), 0x5678_3412);
        assert_eq!(r.sgpio.read(0x72, 2), 0x5678);
        assert_eq!(r.sgpio.read(0x71, 1), 0x34);
        // An 8-byte read of rdata A..D and E..H.
        r.wr(0x1c, 0xa5a5);
        assert_eq!(r.sgpio.read(0x70, 8), 0x0000_a5a5_5678_3412);
        // The configuration register by halves.
        r.sgpio.write(0x56, 2, 7);
        assert_eq!(r.sgpio.clock_divider(), 7);
        assert!(r.sgpio.enabled());
        // rdata is read-only.
        r.wr(0x70, 0);
        assert_eq!(r.rd(0x70), 0x5678_3412);
        // Unknown offsets read zero and are reported once per direction.
        assert_eq!(r.rd(0x58), 0);
        assert_eq!(r.rd(0x58), 0);
        r.wr(0x58, 1);
        assert_eq!(r.sgpio.unimplemented.reported(), 2);
        assert_eq!(r.sgpio.read(u64::MAX - 7, 8), 0);
        assert_eq!(r.sgpio.read(0x100, 4), 0);
    }

    #[test]
    fn state_round_trips() {
        let (mut r, line) = edge_rig(IrqTrigger::LevelHigh, true);
        r.linux_set(output_line(5), true);
        let state = r.sgpio.state();
        assert_eq!(state.banks[3].irq_status, 1 << 2);
        assert_eq!(state.banks[0].output_data, 1 << 5);
        assert_eq!(state.banks[0].output_pins, 1 << 5);
        let rec = LevelRecorder::new();
        let mut copy = AspeedSgpio::from_state(&state, Variant::Ast2600, rec.line(0));
        assert_eq!(copy.state(), state);
        assert!(rec.level(0), "pending interrupt restored");
        assert!(copy.take_output_changes().is_empty());
        assert_eq!(copy.output_level(output_line(5)), Some(true));
        assert_eq!(copy.read(0x54, 4), u64::from(state.control));
        assert_eq!(copy.input_level(line), Some(true));
        // Bits a variant lacks are dropped.
        let mut junk = SgpioState::default();
        junk.banks[3].output_data = u32::MAX;
        junk.banks[2].irq_enable = u32::MAX;
        let copy = AspeedSgpio::from_state(&junk, Variant::Ast2500, IrqLine::disconnected());
        assert_eq!(copy.state().banks[3], SgpioBankState::default());
        assert_eq!(copy.state().banks[2].irq_enable, 0xffff);
    }
}
