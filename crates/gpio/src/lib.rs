//! The Aspeed parallel GPIO controllers, as Linux `drivers/gpio/gpio-aspeed.c` (the
//! `aspeed,ast2600-gpio` and `aspeed,ast2500-gpio` configurations), u-boot
//! `drivers/gpio/gpio-aspeed.c` and QEMU `hw/gpio/aspeed_gpio.c` see them.
//!
//! One [`AspeedGpio`] is one controller; the [`Variant`] picks which:
//! - [`Variant::Ast2600_3v3`]: the AST2600's 3.3 V controller, 208 lines A0..Z7 in 7 banks
//!   (`gpio0` at 0x1E78_0000 in `aspeed-g6.dtsi`);
//! - [`Variant::Ast2600_1v8`]: the AST2600's 1.8 V controller, 36 lines 18A0..18E3 in 2 banks
//!   (`gpio1` at 0x1E78_0800), with the same register layout as the first two banks of the
//!   3.3 V one;
//! - [`Variant::Ast2500`]: the AST2500's controller, 228 lines A0..AC7 in 8 banks with a hole at
//!   AB4..AB7 (`aspeed-g5.dtsi`).
//!
//! Lines are numbered as the Linux gpiochip numbers them: line = bank * 32 + bit, bank 0 being
//! A..D (bits 0-7 A0..A7, 8-15 B0..B7, ...). Per bank of 32 lines it models, at the offsets of
//! Linux's `aspeed_gpio_banks[]` table ([`BANKS`]): the data value register (reads the level of
//! each pin, which is the external level for an input line and the output latch for an output
//! line; writes set the output latch), the data read register (the latch), direction, interrupt
//! enable, interrupt type 0/1/2, interrupt status (write 1 to clear), reset tolerance, debounce
//! select 1/2 and command source 0/1; plus the three debounce timers. Only the lines a variant
//! has exist: their bits in every register; the others read 0 and ignore writes (input-only
//! lines, such as the AST2600's T and U groups, keep direction 0, as QEMU models them).
//!
//! Interrupts: each line's sampled level (what the data value register reads) is watched; an
//! enabled line latches its status bit on the edge or while the level its type selects
//! ([`IrqTrigger`]) holds, so a level interrupt re-asserts as soon as it is acknowledged while
//! its level still holds. The one interrupt output, given to [`AspeedGpio::new`], is high while
//! any line has both its status and its enable bit set (Linux's chained handler scans every
//! bank's status register).
//!
//! The host side (test harness, control socket) drives the pins with [`AspeedGpio::set_input`]
//! and reads them with [`AspeedGpio::line_level`]; every change of a pin's level the guest causes
//! (writing the latch of an output line, or its direction) is queued in order for
//! [`AspeedGpio::take_output_changes`].
//!
//! [`Device::reset`] (a SoC reset) returns every register to zero except for the lines marked
//! reset-tolerant, which keep their direction, output latch and tolerance bit; the external pin
//! levels are not registers and are kept.
//!
//! Left out: debouncing itself (inputs change at once; the select and timer registers are
//! plain storage), the command source gating (the registers are plain storage: writes from the
//! ARM are always obeyed, as no LPC or ColdFire master is modelled), the input mask registers
//! (0x1D0.., QEMU models them), the AST2600 index-mode register (0x2AC), the serial GPIO
//! (a separate controller, the `sgpio` crate), pin muxing and pull-downs (the SCU), and the
//! GPIO pass-through and watchdog-driven lines.
#![deny(missing_docs)]

use bus::{merge_subword, subword, Device, DeviceState, IrqLine, StateError, UnimplementedLog};
use serde::{Deserialize, Serialize};

/// Lines per bank, one bit each in a 32-bit register: Linux `GPIO_BANK(x) = x >> 5`.
pub const LINES_PER_BANK: u32 = 32;
/// Lines per lettered group (A0..A7): Linux `aspeed_gpio_bank.names`, four per bank.
pub const LINES_PER_GROUP: u32 = 8;
/// Banks of the largest variant (A..AC on the AST2500): Linux `ARRAY_SIZE(aspeed_gpio_banks)`.
pub const MAX_BANKS: usize = 8;

/// The kind of a GPIO controller's saved state ([`DeviceState::kind`]), every variant's.
pub const STATE_KIND: &str = "aspeed-gpio";
/// The format version of a GPIO controller's saved state: its [`Variant`] and its
/// [`GpioState`].
pub const STATE_VERSION: u32 = 1;

/// Data value register, within a bank's value pair: Linux `GPIO_VAL_VALUE`.
pub const GPIO_VAL_VALUE: u64 = 0x00;
/// Direction register (1 = output), within a bank's value pair: Linux `GPIO_VAL_DIR`.
pub const GPIO_VAL_DIR: u64 = 0x04;
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
/// Debounce select 1, within a bank's debounce pair: Linux `GPIO_DEBOUNCE_SEL1`.
pub const GPIO_DEBOUNCE_SEL1: u64 = 0x00;
/// Debounce select 2, within a bank's debounce pair: Linux `GPIO_DEBOUNCE_SEL2`.
pub const GPIO_DEBOUNCE_SEL2: u64 = 0x04;
/// Command source 0, within a bank's command source pair: Linux `GPIO_CMDSRC_0`.
pub const GPIO_CMDSRC_0: u64 = 0x00;
/// Command source 1, within a bank's command source pair: Linux `GPIO_CMDSRC_1`.
pub const GPIO_CMDSRC_1: u64 = 0x04;

/// Debounce timers 1, 2 and 3 (cycles of the APB clock), shared by all banks: Linux
/// `debounce_timers[1..=3]` (entry 0 of Linux's table means "no debounce").
pub const DEBOUNCE_TIMERS: [u64; 3] = [0x50, 0x54, 0x58];

/// Command source (bits of CMDSRC_1, CMDSRC_0) selecting the ARM: Linux `GPIO_CMDSRC_ARM`.
pub const GPIO_CMDSRC_ARM: u32 = 0;
/// Command source selecting the LPC bus: Linux `GPIO_CMDSRC_LPC`.
pub const GPIO_CMDSRC_LPC: u32 = 1;
/// Command source selecting the ColdFire coprocessor: Linux `GPIO_CMDSRC_COLDFIRE`.
pub const GPIO_CMDSRC_COLDFIRE: u32 = 2;
/// The reserved command source: Linux `GPIO_CMDSRC_RESERVED`.
pub const GPIO_CMDSRC_RESERVED: u32 = 3;
/// The command source registers' bits, one per group (bits 0, 8, 16, 24): Linux
/// `aspeed_gpio_change_cmd_source` (`BIT((bindex & 3) << 3)`), QEMU `ASPEED_CMD_SRC_MASK`.
pub const CMDSRC_MASK: u32 = 0x0101_0101;

/// One bank's register offsets: Linux `struct aspeed_gpio_bank`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BankRegs {
    /// Data value (+0) and direction (+4): Linux `val_regs`.
    pub val_regs: u64,
    /// Data read (the output latch): Linux `rdata_reg`.
    pub rdata_reg: u64,
    /// Interrupt enable, type 0/1/2 and status: Linux `irq_regs`.
    pub irq_regs: u64,
    /// Debounce select 1 and 2: Linux `debounce_regs`.
    pub debounce_regs: u64,
    /// Reset tolerance: Linux `tolerance_regs`.
    pub tolerance_regs: u64,
    /// Command source 0 and 1: Linux `cmdsrc_regs`.
    pub cmdsrc_regs: u64,
}

/// The per-bank registers: Linux `enum aspeed_gpio_reg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BankReg {
    /// Data value: Linux `reg_val`.
    Value,
    /// Data read (output latch, read-only): Linux `reg_rdata`.
    DataRead,
    /// Direction: Linux `reg_dir`.
    Direction,
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
    /// Debounce select 1: Linux `reg_debounce_sel1`.
    DebounceSel1,
    /// Debounce select 2: Linux `reg_debounce_sel2`.
    DebounceSel2,
    /// Reset tolerance: Linux `reg_tolerance`.
    Tolerance,
    /// Command source 0: Linux `reg_cmdsrc0`.
    CmdSrc0,
    /// Command source 1: Linux `reg_cmdsrc1`.
    CmdSrc1,
}

impl BankReg {
    /// Every per-bank register.
    pub const ALL: [BankReg; 13] = [
        BankReg::Value,
        BankReg::DataRead,
        BankReg::Direction,
        BankReg::IrqEnable,
        BankReg::IrqType0,
        BankReg::IrqType1,
        BankReg::IrqType2,
        BankReg::IrqStatus,
        BankReg::DebounceSel1,
        BankReg::DebounceSel2,
        BankReg::Tolerance,
        BankReg::CmdSrc0,
        BankReg::CmdSrc1,
    ];
}

impl BankRegs {
    /// The offset of `reg` of this bank from the controller's base: Linux `bank_reg()`.
    pub const fn offset(&self, reg: BankReg) -> u64 {
        match reg {
            BankReg::Value => self.val_regs + GPIO_VAL_VALUE,
            BankReg::DataRead => self.rdata_reg,
            BankReg::Direction => self.val_regs + GPIO_VAL_DIR,
            BankReg::IrqEnable => self.irq_regs + GPIO_IRQ_ENABLE,
            BankReg::IrqType0 => self.irq_regs + GPIO_IRQ_TYPE0,
            BankReg::IrqType1 => self.irq_regs + GPIO_IRQ_TYPE1,
            BankReg::IrqType2 => self.irq_regs + GPIO_IRQ_TYPE2,
            BankReg::IrqStatus => self.irq_regs + GPIO_IRQ_STATUS,
            BankReg::DebounceSel1 => self.debounce_regs + GPIO_DEBOUNCE_SEL1,
            BankReg::DebounceSel2 => self.debounce_regs + GPIO_DEBOUNCE_SEL2,
            BankReg::Tolerance => self.tolerance_regs,
            BankReg::CmdSrc0 => self.cmdsrc_regs + GPIO_CMDSRC_0,
            BankReg::CmdSrc1 => self.cmdsrc_regs + GPIO_CMDSRC_1,
        }
    }
}

const fn bank(
    val_regs: u64,
    rdata_reg: u64,
    irq_regs: u64,
    debounce_regs: u64,
    tolerance_regs: u64,
    cmdsrc_regs: u64,
) -> BankRegs {
    BankRegs {
        val_regs,
        rdata_reg,
        irq_regs,
        debounce_regs,
        tolerance_regs,
        cmdsrc_regs,
    }
}

/// The banks' register offsets, bank 0 (A..D) first: Linux `aspeed_gpio_banks[]` (the same in
/// u-boot; the AST2600's 1.8 V controller uses the first two entries at its own base).
pub const BANKS: [BankRegs; MAX_BANKS] = [
    bank(0x000, 0x0c0, 0x008, 0x040, 0x01c, 0x060), // A B C D
    bank(0x020, 0x0c4, 0x028, 0x048, 0x03c, 0x068), // E F G H
    bank(0x070, 0x0c8, 0x098, 0x0b0, 0x0ac, 0x090), // I J K L
    bank(0x078, 0x0cc, 0x0e8, 0x100, 0x0fc, 0x0e0), // M N O P
    bank(0x080, 0x0d0, 0x118, 0x130, 0x12c, 0x110), // Q R S T
    bank(0x088, 0x0d4, 0x148, 0x160, 0x15c, 0x140), // U V W X
    bank(0x1e0, 0x0d8, 0x178, 0x190, 0x18c, 0x170), // Y Z AA AB
    bank(0x1e8, 0x0dc, 0x1a8, 0x1c0, 0x1bc, 0x1a0), // AC
];

/// Group names of the 3.3 V banks: Linux `aspeed_gpio_banks[].names`.
const NAMES_3V3: [[&str; 4]; MAX_BANKS] = [
    ["A", "B", "C", "D"],
    ["E", "F", "G", "H"],
    ["I", "J", "K", "L"],
    ["M", "N", "O", "P"],
    ["Q", "R", "S", "T"],
    ["U", "V", "W", "X"],
    ["Y", "Z", "AA", "AB"],
    ["AC", "", "", ""],
];

/// Group names of the AST2600 1.8 V banks: QEMU `ast2600_1_8v_set_props` (pinctrl GPIO18A0..).
const NAMES_1V8: [[&str; 4]; 2] = [["18A", "18B", "18C", "18D"], ["18E", "", "", ""]];

/// Which controller: the SoC generation and, on the AST2600, which of its two controllers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Variant {
    /// The AST2600 3.3 V controller: 208 lines A0..Z7 (Linux `ast2600_config`, `ngpios = <208>`).
    Ast2600_3v3,
    /// The AST2600 1.8 V controller: 36 lines 18A0..18E3 (`ngpios = <36>`).
    Ast2600_1v8,
    /// The AST2500 controller: 228 lines A0..AC7 less AB4..AB7 (Linux `ast2500_config`).
    Ast2500,
}

impl Variant {
    /// Span of line numbers (Linux `chip.ngpio`): 208, 36, or 232 (the AST2500's hole included).
    pub const fn ngpio(self) -> u32 {
        match self {
            Variant::Ast2600_3v3 => 208,
            Variant::Ast2600_1v8 => 36,
            Variant::Ast2500 => 232,
        }
    }

    /// Banks of 32 lines this controller has registers for.
    pub const fn banks(self) -> usize {
        self.ngpio().div_ceil(LINES_PER_BANK) as usize
    }

    /// Size of the register block as the device tree gives it (`reg`): 0x400 for the AST2600
    /// 3.3 V controller (its SGPIO masters follow at 0x1E78_0500), 0x800 for the 1.8 V one,
    /// 0x200 for the AST2500 (its SGPIO master follows at 0x1E78_0200). QEMU maps 0x800, 0x800
    /// and 0x1000; every register lies below 0x1F0, so either size reaches them all.
    pub const fn regs_size(self) -> u64 {
        match self {
            Variant::Ast2600_3v3 => 0x400,
            Variant::Ast2600_1v8 => 0x800,
            Variant::Ast2500 => 0x200,
        }
    }

    /// Lines of `bank` that can be inputs: Linux `aspeed_bank_props.input` (banks it does not
    /// list are all-input), limited to the variant's `ngpio`.
    pub const fn input_mask(self, bank: usize) -> u32 {
        match (self, bank) {
            (Variant::Ast2600_3v3, 0..=5) => u32::MAX,
            (Variant::Ast2600_3v3, 6) => 0x0000_ffff,
            (Variant::Ast2600_1v8, 0) => u32::MAX,
            (Variant::Ast2600_1v8, 1) => 0x0000_000f,
            (Variant::Ast2500, 0..=5) => u32::MAX,
            (Variant::Ast2500, 6) => 0x0fff_ffff,
            (Variant::Ast2500, 7) => 0x0000_00ff,
            _ => 0,
        }
    }

    /// Lines of `bank` that can be outputs: Linux `aspeed_bank_props.output` (the AST2600's
    /// T0..T7 and U0..U7 and the AST2500's W and X groups are input only).
    pub const fn output_mask(self, bank: usize) -> u32 {
        match (self, bank) {
            (Variant::Ast2600_3v3, 4) => 0x00ff_ffff,
            (Variant::Ast2600_3v3, 5) => 0xffff_ff00,
            (Variant::Ast2500, 5) => 0x0000_ffff,
            _ => self.input_mask(bank),
        }
    }

    /// Lines of `bank` that exist (input or output capable).
    pub const fn line_mask(self, bank: usize) -> u32 {
        self.input_mask(bank) | self.output_mask(bank)
    }

    /// How many lines exist: 208, 36 or 228.
    pub fn line_count(self) -> u32 {
        (0..self.banks())
            .map(|b| self.line_mask(b).count_ones())
            .sum()
    }

    /// Whether `line` exists: Linux `have_gpio()`.
    pub fn has_line(self, line: u32) -> bool {
        let (bank, bit) = split(line);
        bank < MAX_BANKS && self.line_mask(bank) & (1 << bit) != 0
    }

    fn group_names(self, bank: usize) -> [&'static str; 4] {
        match self {
            Variant::Ast2600_1v8 => NAMES_1V8.get(bank).copied().unwrap_or([""; 4]),
            _ => NAMES_3V3.get(bank).copied().unwrap_or([""; 4]),
        }
    }

    /// The name of `line` as the pin and the Linux device trees' `ASPEED_GPIO(group, n)` call it:
    /// "A0".."Z7" (and "AA0".."AC7" on the AST2500) for the 3.3 V controllers, "18A0".."18E3" for
    /// the AST2600 1.8 V one. Empty for a line that does not exist.
    pub fn line_name(self, line: u32) -> String {
        if !self.has_line(line) {
            return String::new();
        }
        let (bank, bit) = split(line);
        let group = self.group_names(bank)[(bit / LINES_PER_GROUP) as usize];
        format!("{}{}", group, bit % LINES_PER_GROUP)
    }

    /// The line called `name` ("P0", "ab7", "18E3", with or without a "GPIO" prefix, any case),
    /// if it exists on this variant.
    pub fn line_by_name(self, name: &str) -> Option<u32> {
        let name = name.trim().to_ascii_uppercase();
        let name = name.strip_prefix("GPIO").unwrap_or(&name);
        let digit = name.chars().last()?;
        let group = &name[..name.len() - digit.len_utf8()];
        let pin = digit.to_digit(10).filter(|p| *p < LINES_PER_GROUP)?;
        (0..self.banks()).find_map(|bank| {
            let g = self.group_names(bank).iter().position(|g| *g == group)?;
            let line = bank as u32 * LINES_PER_BANK + g as u32 * LINES_PER_GROUP + pin;
            self.has_line(line).then_some(line)
        })
    }
}

fn split(line: u32) -> (usize, u32) {
    ((line / LINES_PER_BANK) as usize, line % LINES_PER_BANK)
}

/// What an enabled line interrupts on: interrupt type bits (type2, type1, type0) of the line,
/// as Linux `aspeed_gpio_set_type` programs them and QEMU decodes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqTrigger {
    /// Type 000: falling edge (Linux `IRQ_TYPE_EDGE_FALLING`).
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

/// One bank's registers (one bit per line) and its pins' external levels.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GpioBankState {
    /// Output latch: written through the data value register, read back by the data read one.
    pub latch: u32,
    /// Direction (1 = output).
    pub direction: u32,
    /// Interrupt enable.
    pub irq_enable: u32,
    /// Interrupt type 0, 1 and 2.
    pub irq_type: [u32; 3],
    /// Interrupt status.
    pub irq_status: u32,
    /// Debounce select 1 and 2.
    pub debounce_sel: [u32; 2],
    /// Reset tolerance.
    pub reset_tolerance: u32,
    /// Command source 0 and 1.
    pub cmd_source: [u32; 2],
    /// The level the outside world drives on each pin (what an input line reads).
    pub input: u32,
}

/// The controller's registers and pin levels: a plain value that can be saved and restored.
/// Banks past the variant's [`Variant::banks`] stay zero.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GpioState {
    /// Banks 0.. (A..D first).
    pub banks: [GpioBankState; MAX_BANKS],
    /// Debounce timers 1..3.
    pub debounce_timers: [u32; 3],
}

impl GpioState {
    /// Drops the bits of lines `variant` lacks, and makes input-only lines inputs and
    /// output-only lines outputs.
    fn limit_to(&mut self, variant: Variant) {
        for (b, bank) in self.banks.iter_mut().enumerate() {
            let input = variant.input_mask(b);
            let output = variant.output_mask(b);
            let lines = input | output;
            bank.latch &= output;
            bank.direction = (bank.direction | !input) & output;
            bank.irq_enable &= input;
            for t in &mut bank.irq_type {
                *t &= input;
            }
            bank.irq_status &= input;
            for d in &mut bank.debounce_sel {
                *d &= input;
            }
            bank.reset_tolerance &= lines;
            for c in &mut bank.cmd_source {
                *c &= cmdsrc_mask(lines);
            }
            bank.input &= lines;
        }
    }
}

/// What a controller saves in a snapshot ([`STATE_KIND`], [`STATE_VERSION`]): its registers
/// and pin levels, and the variant, which gives the lines they are for.
#[derive(Serialize, Deserialize)]
struct SavedGpio {
    variant: Variant,
    state: GpioState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Bank(usize, BankReg),
    Timer(usize),
}

/// One Aspeed GPIO controller.
pub struct AspeedGpio {
    variant: Variant,
    state: GpioState,
    irq: IrqLine,
    irq_level: bool,
    output_changes: Vec<(u32, bool)>,
    unimplemented: UnimplementedLog,
}

impl AspeedGpio {
    /// A controller of `variant` in its reset state (every line an input, every pin low).
    /// `irq` is its interrupt output (level).
    pub fn new(variant: Variant, irq: IrqLine) -> Self {
        Self::from_state(&GpioState::default(), variant, irq)
    }

    /// A controller restored from `state` (bits of lines `variant` lacks are dropped); `irq`
    /// is raised if the state has an interrupt pending.
    pub fn from_state(state: &GpioState, variant: Variant, irq: IrqLine) -> Self {
        let mut state = state.clone();
        state.limit_to(variant);
        let mut gpio = Self {
            variant,
            state,
            irq,
            irq_level: false,
            output_changes: Vec::new(),
            unimplemented: UnimplementedLog::new("gpio"),
        };
        gpio.sense_levels();
        // The line is taken to start low, as every device's does.
        gpio.irq_level = gpio.irq_pending();
        if gpio.irq_level {
            gpio.irq.raise();
        }
        gpio
    }

    /// Latches the status of enabled level-triggered lines whose level holds.
    fn sense_levels(&mut self) {
        for b in 0..self.variant.banks() {
            let level = self.levels(b);
            self.sense(b, level, level);
        }
    }

    /// A copy of the registers and pin levels.
    pub fn state(&self) -> GpioState {
        self.state.clone()
    }

    /// Which controller this is.
    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// How many lines exist (208, 36 or 228); line numbers run up to [`Variant::ngpio`].
    pub fn line_count(&self) -> u32 {
        self.variant.line_count()
    }

    /// Whether `line` exists.
    pub fn has_line(&self, line: u32) -> bool {
        self.variant.has_line(line)
    }

    /// The name of `line` ("A0", "AB7", "18A0"); empty if it does not exist.
    pub fn line_name(&self, line: u32) -> String {
        self.variant.line_name(line)
    }

    /// The line called `name` ("P0", "GPIOP0", "18E3"), if it exists.
    pub fn line_by_name(&self, name: &str) -> Option<u32> {
        self.variant.line_by_name(name)
    }

    /// Host side: the outside world drives pin `line` to `high`. An input line's level (what
    /// the guest reads) follows, which may latch its interrupt as its type and enable say; an
    /// output line keeps driving its latch, and the level is remembered for when the guest makes
    /// it an input. Returns false (and does nothing) if the line does not exist.
    pub fn set_input(&mut self, line: u32, high: bool) -> bool {
        if !self.has_line(line) {
            return false;
        }
        let (b, bit) = split(line);
        let old = self.levels(b);
        let bank = &mut self.state.banks[b];
        if high {
            bank.input |= 1 << bit;
        } else {
            bank.input &= !(1 << bit);
        }
        let new = self.levels(b);
        self.sense(b, old, new);
        self.update_irq();
        true
    }

    /// The level the outside world drives on `line` (the last [`AspeedGpio::set_input`]).
    pub fn input_level(&self, line: u32) -> Option<bool> {
        self.has_line(line).then(|| {
            let (b, bit) = split(line);
            self.state.banks[b].input & (1 << bit) != 0
        })
    }

    /// What pin `line` is at: its output latch when it is an output, the external level when it
    /// is an input. None if the line does not exist.
    pub fn line_level(&self, line: u32) -> Option<bool> {
        self.has_line(line).then(|| {
            let (b, bit) = split(line);
            self.levels(b) & (1 << bit) != 0
        })
    }

    /// Whether the guest has made `line` an output (false for a line that does not exist).
    pub fn is_output(&self, line: u32) -> bool {
        self.has_line(line) && {
            let (b, bit) = split(line);
            self.state.banks[b].direction & (1 << bit) != 0
        }
    }

    /// What `line` interrupts on, if it exists and can interrupt (is input capable).
    pub fn irq_trigger(&self, line: u32) -> Option<IrqTrigger> {
        let (b, bit) = split(line);
        if !self.has_line(line) || self.variant.input_mask(b) & (1 << bit) == 0 {
            return None;
        }
        let t = self.state.banks[b].irq_type.map(|t| t & (1 << bit) != 0);
        Some(match t {
            [_, _, true] => IrqTrigger::BothEdges,
            [false, false, false] => IrqTrigger::FallingEdge,
            [true, false, false] => IrqTrigger::RisingEdge,
            [false, true, false] => IrqTrigger::LevelLow,
            [true, true, false] => IrqTrigger::LevelHigh,
        })
    }

    /// Whether the interrupt output is high: some line has status and enable set.
    pub fn irq_pending(&self) -> bool {
        self.state.banks[..self.variant.banks()]
            .iter()
            .any(|b| b.irq_status & b.irq_enable != 0)
    }

    /// Every change of a pin's level the guest (or a SoC reset) caused since the last call, in
    /// order: (line, new level). A write to an output line's latch, or a direction write that
    /// makes a line drive its latch or lets it follow the external level again, is a change
    /// when the pin's level differs from before.
    pub fn take_output_changes(&mut self) -> Vec<(u32, bool)> {
        std::mem::take(&mut self.output_changes)
    }

    /// Sampled level of each of `bank`'s lines: latch for outputs, external level for inputs.
    fn levels(&self, b: usize) -> u32 {
        let bank = &self.state.banks[b];
        ((bank.latch & bank.direction) | (bank.input & !bank.direction)) & self.variant.line_mask(b)
    }

    /// Latches the interrupt status of `bank`'s enabled lines whose level went from `old` to
    /// `new` in a way their type selects, or whose level their level type selects holds.
    fn sense(&mut self, b: usize, old: u32, new: u32) {
        let capable = self.variant.input_mask(b);
        let bank = &mut self.state.banks[b];
        let [t0, t1, t2] = bank.irq_type;
        let rising = !old & new;
        let falling = old & !new;
        let edge =
            (t2 & (rising | falling)) | (!t2 & !t1 & t0 & rising) | (!t2 & !t1 & !t0 & falling);
        let level = !t2 & t1 & ((t0 & new) | (!t0 & !new));
        bank.irq_status |= (edge | level) & bank.irq_enable & capable;
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
            let line = b as u32 * LINES_PER_BANK + bit;
            self.output_changes.push((line, new & (1 << bit) != 0));
        }
    }

    fn decode(&self, reg: u64) -> Option<Target> {
        if let Some(i) = DEBOUNCE_TIMERS.iter().position(|t| *t == reg) {
            return Some(Target::Timer(i));
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
            BankReg::Value => self.levels(b),
            BankReg::DataRead => bank.latch,
            BankReg::Direction => bank.direction,
            BankReg::IrqEnable => bank.irq_enable,
            BankReg::IrqType0 => bank.irq_type[0],
            BankReg::IrqType1 => bank.irq_type[1],
            BankReg::IrqType2 => bank.irq_type[2],
            BankReg::IrqStatus => bank.irq_status,
            BankReg::DebounceSel1 => bank.debounce_sel[0],
            BankReg::DebounceSel2 => bank.debounce_sel[1],
            BankReg::Tolerance => bank.reset_tolerance,
            BankReg::CmdSrc0 => bank.cmd_source[0],
            BankReg::CmdSrc1 => bank.cmd_source[1],
        }
    }

    fn write_bank(&mut self, b: usize, reg: BankReg, offset: u64, size: u8, value: u64) {
        let input = self.variant.input_mask(b);
        let output = self.variant.output_mask(b);
        let lines = input | output;
        let old = self.levels(b);
        let bank = &mut self.state.banks[b];
        let merge = |current: u32| merge_subword(current, offset, size, value);
        match reg {
            // Writes set the latch; a partial write keeps the other bytes of the latch (what
            // the guest last wrote), not of the levels the register reads.
            BankReg::Value => bank.latch = merge(bank.latch) & output,
            BankReg::DataRead => {}
            // Input-only lines stay inputs, output-only ones outputs (QEMU).
            BankReg::Direction => bank.direction = (merge(bank.direction) | !input) & output,
            BankReg::IrqEnable => bank.irq_enable = merge(bank.irq_enable) & input,
            BankReg::IrqType0 => bank.irq_type[0] = merge(bank.irq_type[0]) & input,
            BankReg::IrqType1 => bank.irq_type[1] = merge(bank.irq_type[1]) & input,
            BankReg::IrqType2 => bank.irq_type[2] = merge(bank.irq_type[2]) & input,
            // Write 1 to clear: only the bytes written count.
            BankReg::IrqStatus => bank.irq_status &= !merge_subword(0, offset, size, value),
            BankReg::DebounceSel1 => bank.debounce_sel[0] = merge(bank.debounce_sel[0]) & input,
            BankReg::DebounceSel2 => bank.debounce_sel[1] = merge(bank.debounce_sel[1]) & input,
            BankReg::Tolerance => bank.reset_tolerance = merge(bank.reset_tolerance) & lines,
            BankReg::CmdSrc0 => bank.cmd_source[0] = merge(bank.cmd_source[0]) & cmdsrc_mask(lines),
            BankReg::CmdSrc1 => bank.cmd_source[1] = merge(bank.cmd_source[1]) & cmdsrc_mask(lines),
        }
        let new = self.levels(b);
        self.record_changes(b, old, new);
        self.sense(b, old, new);
        self.update_irq();
    }

    fn read32(&mut self, offset: u64, size: u8) -> u64 {
        match self.decode(offset & !3) {
            Some(Target::Bank(b, reg)) => subword(self.read_bank(b, reg), offset, size),
            Some(Target::Timer(i)) => subword(self.state.debounce_timers[i], offset, size),
            None => {
                self.unimplemented.read(offset, size);
                0
            }
        }
    }

    fn write32(&mut self, offset: u64, size: u8, value: u64) {
        match self.decode(offset & !3) {
            Some(Target::Bank(b, reg)) => self.write_bank(b, reg, offset, size, value),
            Some(Target::Timer(i)) => {
                let t = &mut self.state.debounce_timers[i];
                *t = merge_subword(*t, offset, size, value);
            }
            None => self.unimplemented.write(offset, size, value),
        }
    }
}

/// The command source bits of the groups that have lines.
fn cmdsrc_mask(lines: u32) -> u32 {
    (0..4)
        .filter(|g| (lines >> (g * LINES_PER_GROUP)) & 0xff != 0)
        .fold(0, |m, g| m | (1 << (g * LINES_PER_GROUP)))
}

impl Device for AspeedGpio {
    fn read(&mut self, offset: u64, size: u8) -> u64 {
        bus::split_read(offset, size, |o, s| self.read32(o, s))
    }

    fn write(&mut self, offset: u64, size: u8, value: u64) {
        bus::split_write(offset, size, value, |o, s, v| self.write32(o, s, v));
    }

    /// SoC reset: every register clears except that reset-tolerant lines keep their direction,
    /// latch and tolerance bit; the pins' external levels stay. Pins whose level changes are
    /// reported through [`AspeedGpio::take_output_changes`].
    fn reset(&mut self) {
        for b in 0..self.variant.banks() {
            let old = self.levels(b);
            let bank = &mut self.state.banks[b];
            let keep = bank.reset_tolerance;
            *bank = GpioBankState {
                latch: bank.latch & keep,
                direction: bank.direction & keep,
                reset_tolerance: keep,
                input: bank.input,
                ..GpioBankState::default()
            };
            let new = self.levels(b);
            self.record_changes(b, old, new);
        }
        self.state.debounce_timers = [0; 3];
        self.update_irq();
    }

    /// The registers and the levels the host drives on the pins ([`GpioState`]) with the
    /// variant. The line is wiring; pin changes not yet taken by the host
    /// ([`AspeedGpio::take_output_changes`]) are host notifications the SoC drains every step.
    fn save_state(&self) -> Option<DeviceState> {
        let saved = SavedGpio {
            variant: self.variant,
            state: self.state.clone(),
        };
        Some(DeviceState::new(STATE_KIND, STATE_VERSION, &saved))
    }

    /// Refuses another variant's state (other lines); drives the interrupt to the restored
    /// status and enable bits. The pins take the restored levels without queueing them as
    /// output changes (the queue is not state).
    fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        let saved: SavedGpio = state.decode(STATE_KIND, STATE_VERSION)?;
        if saved.variant != self.variant {
            return Err(StateError(format!(
                "aspeed-gpio: the state is of an {:?} controller ({} lines), this one is an \
                 {:?} ({} lines)",
                saved.variant,
                saved.variant.line_count(),
                self.variant,
                self.variant.line_count()
            )));
        }
        self.state = saved.state;
        self.state.limit_to(self.variant);
        self.sense_levels();
        self.irq_level = self.irq_pending();
        self.irq.set(self.irq_level);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bus::LevelRecorder;
    use std::rc::Rc;

    struct Rig {
        gpio: AspeedGpio,
        rec: Rc<LevelRecorder>,
    }

    fn rig(variant: Variant) -> Rig {
        let rec = LevelRecorder::new();
        let gpio = AspeedGpio::new(variant, rec.line(0));
        Rig { gpio, rec }
    }

    /// Offset of `reg` of the bank holding `line`, and the line's bit: Linux `bank_reg()` and
    /// `GPIO_BIT()`.
    fn reg_of(line: u32, reg: BankReg) -> (u64, u32) {
        let (b, bit) = split(line);
        (BANKS[b].offset(reg), 1 << bit)
    }

    impl Rig {
        fn rd(&mut self, off: u64) -> u32 {
            self.gpio.read(off, 4) as u32
        }
        fn wr(&mut self, off: u64, v: u32) {
            self.gpio.write(off, 4, u64::from(v))
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
        fn line(&self, name: &str) -> u32 {
            self.gpio.line_by_name(name).expect(name)
        }

        /// Linux `aspeed_gpio_dir_out`: the latch (from the driver's `dcache`, read from rdata
        /// at probe) written to the value register first, then the direction bit set.
        fn linux_dir_out(&mut self, dcache: &mut [u32], line: u32, val: bool) {
            let (dir, bit) = reg_of(line, BankReg::Direction);
            let d = self.rd(dir) | bit;
            self.linux_set(dcache, line, val);
            self.wr(dir, d);
        }
        /// Linux `__aspeed_gpio_set`: dcache updated, written whole to the value register.
        fn linux_set(&mut self, dcache: &mut [u32], line: u32, val: bool) {
            let (b, bit) = split(line);
            if val {
                dcache[b] |= 1 << bit;
            } else {
                dcache[b] &= !(1 << bit);
            }
            self.wr(BANKS[b].offset(BankReg::Value), dcache[b]);
        }
        /// Linux `aspeed_gpio_get`.
        fn linux_get(&mut self, line: u32) -> bool {
            let (off, bit) = reg_of(line, BankReg::Value);
            self.rd(off) & bit != 0
        }
        /// Linux probe: dcache from each bank's rdata.
        fn linux_dcache(&mut self) -> Vec<u32> {
            (0..self.gpio.variant().banks())
                .map(|b| self.rd(BANKS[b].offset(BankReg::DataRead)))
                .collect()
        }
        /// Linux `aspeed_gpio_set_type`: type0, type1, type2 read-modify-written in turn.
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
        /// Linux `aspeed_gpio_irq_unmask` / `_mask`.
        fn linux_unmask(&mut self, line: u32, on: bool) {
            self.rmw(line, BankReg::IrqEnable, on);
        }
        /// Linux `aspeed_gpio_irq_ack`: the line's bit written to the status register.
        fn linux_ack(&mut self, line: u32) {
            let (off, bit) = reg_of(line, BankReg::IrqStatus);
            self.wr(off, bit);
        }
        fn status(&mut self, line: u32) -> bool {
            let (off, bit) = reg_of(line, BankReg::IrqStatus);
            self.rd(off) & bit != 0
        }
        fn irq(&self) -> bool {
            self.rec.level(0)
        }
        /// What Linux's chained `aspeed_gpio_irq_handler` finds: every set status bit.
        fn linux_pending_lines(&mut self) -> Vec<u32> {
            let mut lines = Vec::new();
            let banks = self.gpio.variant().banks();
            for (b, regs) in BANKS.iter().enumerate().take(banks) {
                let reg = self.rd(regs.offset(BankReg::IrqStatus));
                for p in 0..32 {
                    if reg & (1 << p) != 0 {
                        lines.push(b as u32 * 32 + p);
                    }
                }
            }
            lines
        }
    }

    #[test]
    fn variants_have_the_lines_linux_and_the_device_trees_give() {
        assert_eq!(Variant::Ast2600_3v3.line_count(), 208);
        assert_eq!(Variant::Ast2600_3v3.ngpio(), 208);
        assert_eq!(Variant::Ast2600_3v3.banks(), 7);
        assert_eq!(Variant::Ast2600_1v8.line_count(), 36);
        assert_eq!(Variant::Ast2600_1v8.banks(), 2);
        assert_eq!(Variant::Ast2500.line_count(), 228);
        assert_eq!(Variant::Ast2500.ngpio(), 232);
        assert_eq!(Variant::Ast2500.banks(), 8);
        assert_eq!(Variant::Ast2600_3v3.regs_size(), 0x400);
        assert_eq!(Variant::Ast2600_1v8.regs_size(), 0x800);
        assert_eq!(Variant::Ast2500.regs_size(), 0x200);
        // Every register lies inside every block.
        for v in [Variant::Ast2600_3v3, Variant::Ast2600_1v8, Variant::Ast2500] {
            for regs in &BANKS[..v.banks()] {
                for r in BankReg::ALL {
                    assert!(regs.offset(r) + 4 <= v.regs_size(), "{v:?} {r:?}");
                }
            }
        }
    }

    #[test]
    fn line_names_follow_the_banks_groups() {
        let v = Variant::Ast2600_3v3;
        assert_eq!(v.line_name(0), "A0");
        assert_eq!(v.line_name(7), "A7");
        assert_eq!(v.line_name(8), "B0");
        assert_eq!(v.line_name(31), "D7");
        assert_eq!(v.line_name(32), "E0");
        assert_eq!(v.line_name(120), "P0");
        assert_eq!(v.line_name(207), "Z7");
        assert_eq!(v.line_name(208), "");
        assert_eq!(v.line_by_name("P0"), Some(120));
        assert_eq!(v.line_by_name("gpiop0"), Some(120));
        assert_eq!(v.line_by_name("Y0"), Some(192));
        assert_eq!(v.line_by_name("AA0"), None, "no AA on the AST2600");
        assert_eq!(v.line_by_name("A8"), None);
        assert_eq!(v.line_by_name("18A0"), None);
        assert_eq!(v.line_by_name(""), None);
        for line in 0..v.ngpio() {
            assert_eq!(v.line_by_name(&v.line_name(line)), Some(line));
        }

        let v = Variant::Ast2500;
        assert_eq!(v.line_name(216), "AB0");
        assert_eq!(v.line_name(219), "AB3");
        assert_eq!(v.line_name(220), "", "AB4..AB7 are a hole");
        assert_eq!(v.line_name(224), "AC0");
        assert_eq!(v.line_name(231), "AC7");
        assert_eq!(v.line_by_name("AA7"), Some(215));
        assert_eq!(v.line_by_name("AB4"), None);
        assert_eq!(v.line_by_name("ac7"), Some(231));
    }

    #[test]
    fn registers_reset_to_zero() {
        let mut r = rig(Variant::Ast2600_3v3);
        for (b, regs) in BANKS.iter().enumerate().take(7) {
            for reg in BankReg::ALL {
                assert_eq!(r.rd(regs.offset(reg)), 0, "bank {b} {reg:?}");
            }
        }
        for t in DEBOUNCE_TIMERS {
            assert_eq!(r.rd(t), 0);
        }
        assert!(!r.irq());
        assert_eq!(r.gpio.line_level(0), Some(false));
        assert!(!r.gpio.is_output(0));
    }

    #[test]
    fn probe_switches_every_group_to_the_arm() {
        // Linux probe: aspeed_gpio_change_cmd_source(.., ARM) for groups 0..3 of every bank,
        // source 1 first; each writes back what it read with the group's bit cleared.
        let mut r = rig(Variant::Ast2600_3v3);
        let c0 = BANKS[2].offset(BankReg::CmdSrc0);
        let c1 = BANKS[2].offset(BankReg::CmdSrc1);
        r.wr(c0, 0xffff_ffff);
        assert_eq!(r.rd(c0), CMDSRC_MASK, "one bit per group");
        // The ColdFire (source 2) for group 1 of bank I..L: bit 8 of source 1 set.
        r.wr(c0, 0);
        r.wr(c1, 1 << 8);
        assert_eq!(r.rd(c1), 0x100);
        for bindex in 0..4 {
            let bit = 1 << ((bindex & 3) << 3);
            let v = r.rd(c1) & !bit;
            r.wr(c1, v);
            let v = r.rd(c0) & !bit;
            r.wr(c0, v);
        }
        assert_eq!((r.rd(c0), r.rd(c1)), (0, 0));
        // Bank Y/Z has only two groups on the AST2600.
        let c0 = BANKS[6].offset(BankReg::CmdSrc0);
        r.wr(c0, 0xffff_ffff);
        assert_eq!(r.rd(c0), 0x0101);
    }

    #[test]
    fn linux_direction_output_drives_the_pin_and_reads_back() {
        let mut r = rig(Variant::Ast2600_3v3);
        let mut dcache = r.linux_dcache();
        let line = r.line("H3"); // bank 1, bit 27
        assert_eq!(line, 59);
        r.linux_dir_out(&mut dcache, line, true);
        assert!(r.gpio.is_output(line));
        assert_eq!(r.gpio.line_level(line), Some(true));
        assert_eq!(r.rd_reg(line, BankReg::Direction), 1 << 27);
        assert_eq!(r.rd_reg(line, BankReg::DataRead), 1 << 27);
        assert_eq!(r.rd_reg(line, BankReg::Value), 1 << 27);
        assert!(r.linux_get(line));
        // The value was written while still an input (no change), then the direction: one
        // change, to high.
        assert_eq!(r.gpio.take_output_changes(), vec![(59, true)]);
        assert_eq!(r.gpio.take_output_changes(), vec![]);

        // gpio_set_value 0, 1, 1: two changes (the repeated 1 changes nothing).
        r.linux_set(&mut dcache, line, false);
        r.linux_set(&mut dcache, line, true);
        r.linux_set(&mut dcache, line, true);
        assert_eq!(r.gpio.take_output_changes(), vec![(59, false), (59, true)]);
        // Another line's write to the same bank leaves H3 alone.
        let e0 = r.line("E0");
        r.linux_dir_out(&mut dcache, e0, false);
        assert_eq!(r.gpio.take_output_changes(), vec![]);
        assert_eq!(r.rd_reg(line, BankReg::Value), 1 << 27);
        // The host driving an output pin changes nothing the guest sees.
        r.gpio.set_input(line, false);
        assert!(r.linux_get(line));
        assert_eq!(r.gpio.line_level(line), Some(true));
        assert_eq!(r.gpio.take_output_changes(), vec![]);
        // Back to an input (aspeed_gpio_dir_in): the pin follows the host's level again.
        r.rmw(line, BankReg::Direction, false);
        assert!(!r.gpio.is_output(line));
        assert!(!r.linux_get(line));
        assert_eq!(r.gpio.take_output_changes(), vec![(59, false)]);
        assert_eq!(r.rd_reg(line, BankReg::DataRead), 1 << 27, "latch kept");
    }

    #[test]
    fn uboot_direction_output_sets_direction_before_value() {
        // u-boot aspeed_gpio_direction_output: direction first, then rdata | bit to the value
        // register; with the pin pulled high outside and the latch low the pin glitches low.
        let mut r = rig(Variant::Ast2600_3v3);
        let line = r.line("P0");
        r.gpio.set_input(line, true);
        let (dir, bit) = reg_of(line, BankReg::Direction);
        let (val, _) = reg_of(line, BankReg::Value);
        let (rdata, _) = reg_of(line, BankReg::DataRead);
        let d = r.rd(dir) | bit;
        let out = r.rd(rdata) | bit;
        r.wr(dir, d);
        r.wr(val, out);
        assert_eq!(
            r.gpio.take_output_changes(),
            vec![(120, false), (120, true)]
        );
        // u-boot aspeed_gpio_get_function.
        assert_ne!(r.rd(dir) & bit, 0);
        // u-boot aspeed_gpio_set_value 0.
        let out = r.rd(rdata) & !bit;
        r.wr(val, out);
        assert_eq!(r.gpio.line_level(line), Some(false));
        assert_eq!(r.rd(val) & bit, 0);
        assert_eq!(r.gpio.take_output_changes(), vec![(120, false)]);
    }

    #[test]
    fn inputs_read_the_host_level_and_remember_it_while_output() {
        let mut r = rig(Variant::Ast2600_3v3);
        let line = r.line("D5"); // bank 0 bit 29
        assert!(!r.linux_get(line));
        assert!(r.gpio.set_input(line, true));
        assert!(r.linux_get(line));
        assert_eq!(r.gpio.line_level(line), Some(true));
        assert_eq!(r.gpio.input_level(line), Some(true));
        assert_eq!(r.rd(0), 1 << 29);
        // The data read register shows the latch, not the pin.
        assert_eq!(r.rd_reg(line, BankReg::DataRead), 0);
        // Output low, then the host changes its level: remembered, shown once an input again.
        let mut dcache = r.linux_dcache();
        r.linux_dir_out(&mut dcache, line, false);
        assert!(!r.linux_get(line));
        r.gpio.set_input(line, true);
        r.gpio.set_input(line, false);
        r.gpio.set_input(line, true);
        assert!(!r.linux_get(line));
        r.rmw(line, BankReg::Direction, false);
        assert!(r.linux_get(line));
        assert_eq!(r.gpio.take_output_changes(), vec![(29, false), (29, true)]);
        // Lines that do not exist.
        assert!(!r.gpio.set_input(208, true));
        assert_eq!(r.gpio.line_level(208), None);
        assert_eq!(r.gpio.input_level(208), None);
        assert!(!r.gpio.is_output(208));
    }

    #[test]
    fn input_only_lines_stay_inputs() {
        // AST2600 T0..T7 (bank 4 bits 24-31) and U0..U7 (bank 5 bits 0-7) are input only.
        let mut r = rig(Variant::Ast2600_3v3);
        r.wr(BANKS[4].offset(BankReg::Direction), 0xffff_ffff);
        assert_eq!(r.rd(BANKS[4].offset(BankReg::Direction)), 0x00ff_ffff);
        r.wr(BANKS[5].offset(BankReg::Direction), 0xffff_ffff);
        assert_eq!(r.rd(BANKS[5].offset(BankReg::Direction)), 0xffff_ff00);
        r.wr(BANKS[4].offset(BankReg::Value), 0xffff_ffff);
        assert_eq!(r.rd(BANKS[4].offset(BankReg::DataRead)), 0x00ff_ffff);
        let t0 = r.line("T0");
        assert!(!r.gpio.is_output(t0));
        assert_eq!(r.gpio.line_level(t0), Some(false));
        // Bank Y/Z has no AA/AB: only 16 bits.
        r.wr(BANKS[6].offset(BankReg::Direction), 0xffff_ffff);
        assert_eq!(r.rd(BANKS[6].offset(BankReg::Direction)), 0xffff);
        r.wr(BANKS[6].offset(BankReg::IrqEnable), 0xffff_ffff);
        assert_eq!(r.rd(BANKS[6].offset(BankReg::IrqEnable)), 0xffff);
        // Only the value write to bank 4 moved pins: its 24 outputs went high (the other
        // direction writes made outputs of lines whose latch and external level were both 0).
        let changes = r.gpio.take_output_changes();
        assert_eq!(changes.len(), 24);
        assert!(changes.iter().all(|&(l, v)| (128..152).contains(&l) && v));
    }

    fn edge_rig(trigger: IrqTrigger, start_high: bool) -> (Rig, u32) {
        let mut r = rig(Variant::Ast2600_3v3);
        let line = r.line("M2"); // bank 3 bit 2
        r.gpio.set_input(line, start_high);
        r.linux_set_type(line, trigger);
        assert_eq!(r.gpio.irq_trigger(line), Some(trigger));
        r.linux_unmask(line, true);
        (r, line)
    }

    #[test]
    fn irq_set_type_falling_edge() {
        let (mut r, line) = edge_rig(IrqTrigger::FallingEdge, true);
        assert_eq!(r.rd_reg(line, BankReg::IrqType0), 0);
        assert_eq!(r.rd_reg(line, BankReg::IrqType1), 0);
        assert_eq!(r.rd_reg(line, BankReg::IrqType2), 0);
        assert!(!r.status(line) && !r.irq());
        r.gpio.set_input(line, true);
        assert!(!r.irq(), "no edge");
        r.gpio.set_input(line, false);
        assert!(r.status(line) && r.irq());
        assert_eq!(r.linux_pending_lines(), vec![98]);
        r.linux_ack(line);
        assert!(!r.status(line) && !r.irq());
        r.gpio.set_input(line, true);
        assert!(!r.irq(), "rising edge ignored");
        r.gpio.set_input(line, false);
        assert!(r.irq());
        assert_eq!(r.rec.changes(), vec![(0, true), (0, false), (0, true)]);
    }

    #[test]
    fn irq_set_type_rising_edge() {
        let (mut r, line) = edge_rig(IrqTrigger::RisingEdge, false);
        assert_eq!(r.rd_reg(line, BankReg::IrqType0), 1 << 2);
        assert_eq!(r.rd_reg(line, BankReg::IrqType1), 0);
        assert_eq!(r.rd_reg(line, BankReg::IrqType2), 0);
        r.gpio.set_input(line, false);
        assert!(!r.irq());
        r.gpio.set_input(line, true);
        assert!(r.status(line) && r.irq());
        // Edge status stays latched after the level goes away, until acked.
        r.gpio.set_input(line, false);
        assert!(r.irq());
        r.linux_ack(line);
        assert!(!r.irq());
    }

    #[test]
    fn irq_both_edges() {
        let (mut r, line) = edge_rig(IrqTrigger::BothEdges, false);
        assert_eq!(r.rd_reg(line, BankReg::IrqType0), 1 << 2);
        assert_eq!(r.rd_reg(line, BankReg::IrqType1), 0);
        assert_eq!(r.rd_reg(line, BankReg::IrqType2), 1 << 2);
        r.gpio.set_input(line, true);
        assert!(r.irq());
        r.linux_ack(line);
        assert!(!r.irq());
        r.gpio.set_input(line, false);
        assert!(r.irq());
        r.linux_ack(line);
        r.gpio.set_input(line, false);
        assert!(!r.irq());
    }

    #[test]
    fn irq_level_high_reasserts_while_the_level_holds() {
        let (mut r, line) = edge_rig(IrqTrigger::LevelHigh, false);
        assert_eq!(r.rd_reg(line, BankReg::IrqType0), 1 << 2);
        assert_eq!(r.rd_reg(line, BankReg::IrqType1), 1 << 2);
        assert_eq!(r.rd_reg(line, BankReg::IrqType2), 0);
        assert!(!r.irq());
        r.gpio.set_input(line, true);
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
        r.gpio.set_input(line, false);
        assert!(r.irq(), "status stays until acked");
        r.linux_ack(line);
        assert!(!r.status(line) && !r.irq());
    }

    #[test]
    fn irq_level_low_is_pending_at_unmask() {
        // Low already when unmasked (request_irq): pending at once.
        let (mut r, line) = edge_rig(IrqTrigger::LevelLow, false);
        assert_eq!(r.rd_reg(line, BankReg::IrqType0), 0);
        assert_eq!(r.rd_reg(line, BankReg::IrqType1), 1 << 2);
        assert_eq!(r.rd_reg(line, BankReg::IrqType2), 0);
        assert!(r.status(line) && r.irq());
        r.gpio.set_input(line, true);
        r.linux_ack(line);
        assert!(!r.irq());
        r.gpio.set_input(line, false);
        assert!(r.irq());
    }

    #[test]
    fn disabled_lines_latch_nothing() {
        let mut r = rig(Variant::Ast2600_3v3);
        let line = r.line("A1");
        r.linux_set_type(line, IrqTrigger::BothEdges);
        r.gpio.set_input(line, true);
        r.gpio.set_input(line, false);
        assert!(!r.status(line));
        r.linux_unmask(line, true);
        assert!(!r.irq(), "edges while disabled are not remembered");
        // Masking hides a pending status from the output but keeps it.
        r.gpio.set_input(line, true);
        assert!(r.irq());
        r.linux_unmask(line, false);
        assert!(!r.irq() && r.status(line));
        r.linux_unmask(line, true);
        assert!(r.irq());
    }

    #[test]
    fn ack_clears_only_the_bits_written() {
        let mut r = rig(Variant::Ast2600_3v3);
        let lines = ["A0", "B1", "C2", "D3"].map(|n| r.line(n));
        for l in lines {
            r.linux_set_type(l, IrqTrigger::RisingEdge);
            r.linux_unmask(l, true);
            r.gpio.set_input(l, true);
        }
        let status = BANKS[0].offset(BankReg::IrqStatus);
        assert_eq!(r.rd(status), 0x0804_0201);
        // Writing 0 clears nothing; byte writes clear only their byte.
        r.wr(status, 0);
        assert_eq!(r.rd(status), 0x0804_0201);
        r.gpio.write(status + 1, 1, 0xff);
        assert_eq!(r.rd(status), 0x0804_0001);
        r.gpio.write(status + 2, 2, 0x0800);
        assert_eq!(r.rd(status), 0x0004_0001);
        r.linux_ack(lines[0]);
        assert!(r.irq());
        r.linux_ack(lines[2]);
        assert_eq!(r.rd(status), 0);
        assert!(!r.irq());
    }

    #[test]
    fn the_irq_output_stays_high_until_every_bank_is_acked() {
        let mut r = rig(Variant::Ast2600_3v3);
        let a = r.line("A0");
        let y = r.line("Y7");
        for l in [a, y] {
            r.linux_set_type(l, IrqTrigger::FallingEdge);
            r.linux_unmask(l, true);
            r.gpio.set_input(l, true);
            r.gpio.set_input(l, false);
        }
        assert_eq!(r.linux_pending_lines(), vec![0, 199]);
        r.linux_ack(a);
        assert!(r.irq());
        r.linux_ack(y);
        assert!(!r.irq());
        assert_eq!(r.rec.changes(), vec![(0, true), (0, false)]);
    }

    #[test]
    fn debounce_is_plain_storage() {
        // Linux enable_debounce: timer 1 (0x50) gets the cycles, then configure_timer sets
        // SEL1 = bit 1 of the timer index, SEL2 = bit 0.
        let mut r = rig(Variant::Ast2600_3v3);
        let line = r.line("S6"); // bank 4 bit 22
        r.wr(DEBOUNCE_TIMERS[0], 2_500_000);
        let timer = 1u32;
        let (sel1, bit) = reg_of(line, BankReg::DebounceSel1);
        let (sel2, _) = reg_of(line, BankReg::DebounceSel2);
        let v = r.rd(sel1) & !bit;
        r.wr(sel1, v | if timer & 2 != 0 { bit } else { 0 });
        let v = r.rd(sel2) & !bit;
        r.wr(sel2, v | if timer & 1 != 0 { bit } else { 0 });
        assert_eq!(r.rd(DEBOUNCE_TIMERS[0]), 2_500_000);
        assert_eq!((r.rd(sel1), r.rd(sel2)), (0, 1 << 22));
        r.wr(DEBOUNCE_TIMERS[2], 0xdead_beef);
        assert_eq!(r.rd(DEBOUNCE_TIMERS[2]), 0xdead_beef);
        // Inputs still change at once.
        r.gpio.set_input(line, true);
        assert!(r.linux_get(line));
    }

    #[test]
    fn reset_keeps_the_reset_tolerant_lines() {
        let mut r = rig(Variant::Ast2600_3v3);
        let mut dcache = r.linux_dcache();
        let keep = r.line("R1"); // bank 4 bit 9
        let lose = r.line("R2");
        r.linux_dir_out(&mut dcache, keep, true);
        r.linux_dir_out(&mut dcache, lose, true);
        // aspeed_gpio_reset_tolerance(.., true).
        r.rmw(keep, BankReg::Tolerance, true);
        r.linux_set_type(lose, IrqTrigger::RisingEdge);
        r.wr(DEBOUNCE_TIMERS[1], 7);
        r.gpio.take_output_changes();
        r.gpio.set_input(keep, false);
        r.gpio.set_input(lose, false);
        r.gpio.reset();
        assert!(r.gpio.is_output(keep));
        assert_eq!(r.gpio.line_level(keep), Some(true));
        assert!(!r.gpio.is_output(lose));
        assert_eq!(r.gpio.line_level(lose), Some(false));
        assert_eq!(r.gpio.take_output_changes(), vec![(lose, false)]);
        assert_eq!(r.rd_reg(keep, BankReg::Tolerance), 1 << 9);
        assert_eq!(r.rd_reg(keep, BankReg::DataRead), 1 << 9);
        assert_eq!(r.rd_reg(lose, BankReg::IrqType0), 0);
        assert_eq!(r.rd(DEBOUNCE_TIMERS[1]), 0);
        assert_eq!(r.gpio.input_level(lose), Some(false));
    }

    #[test]
    fn reset_drops_a_pending_interrupt() {
        let (mut r, line) = edge_rig(IrqTrigger::LevelHigh, true);
        assert!(r.irq());
        r.gpio.reset();
        assert!(!r.irq());
        assert!(!r.status(line));
    }

    #[test]
    fn the_1v8_controller_has_two_banks_and_36_lines() {
        let mut r = rig(Variant::Ast2600_1v8);
        assert_eq!(r.gpio.line_count(), 36);
        assert_eq!(r.gpio.line_name(0), "18A0");
        assert_eq!(r.gpio.line_name(31), "18D7");
        assert_eq!(r.gpio.line_name(32), "18E0");
        assert_eq!(r.gpio.line_name(35), "18E3");
        assert_eq!(r.gpio.line_name(36), "");
        assert_eq!(r.gpio.line_by_name("18E3"), Some(35));
        assert_eq!(r.gpio.line_by_name("GPIO18B4"), Some(12));
        assert_eq!(r.gpio.line_by_name("18E4"), None);
        assert_eq!(r.gpio.line_by_name("A0"), None);
        // Bank 18A..18D at 0x00, 18E at 0x20 (Linux's first two banks), 4 bits.
        r.wr(0x04, 0xffff_ffff);
        assert_eq!(r.rd(0x04), 0xffff_ffff);
        r.wr(0x24, 0xffff_ffff);
        assert_eq!(r.rd(0x24), 0xf);
        r.wr(0x20, 0xffff_ffff);
        assert_eq!(r.rd(0x20), 0xf);
        assert_eq!(r.rd(0xc4), 0xf);
        assert_eq!(r.rd(0x68), 0, "cmdsrc of 18E");
        r.wr(0x68, 0xffff_ffff);
        assert_eq!(r.rd(0x68), 1, "one group");
        // The 3.3 V controller's I..L bank is not here.
        r.wr(0x74, 0xffff_ffff);
        assert_eq!(r.rd(0x74), 0);
        assert_eq!(r.gpio.unimplemented.reported(), 2);
        // An interrupt on 18E2, with the first output change list.
        let changes = r.gpio.take_output_changes();
        assert_eq!(changes.len(), 4);
        assert_eq!(changes[0], (32, true));
        let line = 34;
        r.rmw(line, BankReg::Direction, false);
        r.linux_set_type(line, IrqTrigger::RisingEdge);
        r.linux_unmask(line, true);
        assert_eq!(r.rd(0x28), 1 << 2);
        r.gpio.set_input(line, true);
        assert!(r.irq());
        assert_eq!(r.linux_pending_lines(), vec![34]);
        assert_eq!(r.rd(0x38), 1 << 2);
        r.linux_ack(line);
        assert!(!r.irq());
    }

    #[test]
    fn the_ast2500_has_bank_ac_and_a_hole_in_ab() {
        let mut r = rig(Variant::Ast2500);
        let ac = BANKS[7];
        assert_eq!(ac.offset(BankReg::Value), 0x1e8);
        r.wr(ac.offset(BankReg::Direction), 0xffff_ffff);
        assert_eq!(r.rd(0x1ec), 0xff);
        r.wr(BANKS[6].offset(BankReg::Direction), 0xffff_ffff);
        assert_eq!(r.rd(0x1e4), 0x0fff_ffff);
        // W and X are input only on the AST2500.
        r.wr(BANKS[5].offset(BankReg::Direction), 0xffff_ffff);
        assert_eq!(r.rd(0x8c), 0x0000_ffff);
        let ac7 = r.line("AC7");
        r.gpio.set_input(ac7, true);
        assert_eq!(r.gpio.line_level(ac7), Some(false), "output low");
        r.rmw(ac7, BankReg::Direction, false);
        assert_eq!(r.rd(0x1e8), 0x80);
        // The AC registers are absent on the AST2600.
        let mut r = rig(Variant::Ast2600_3v3);
        r.wr(0x1ec, 0xff);
        assert_eq!(r.rd(0x1ec), 0);
        assert_eq!(r.rd(0xdc), 0);
    }

    #[test]
    fn narrow_and_wide_accesses() {
        let mut r = rig(Variant::Ast2600_3v3);
        // Direction of A..D by bytes, then read as halves and as one 8-byte access with the
        // interrupt enable above it.
        r.gpio.write(0x04, 1, 0x12);
        r.gpio.write(0x05, 1, 0x34);
        r.gpio.write(0x06, 2, 0x5678);
        assert_eq!(r.rd(0x04), 0x5678_3412);
        assert_eq!(r.gpio.read(0x06, 2), 0x5678);
        assert_eq!(r.gpio.read(0x05, 1), 0x34);
        r.wr(0x08, 0xa5a5);
        assert_eq!(r.gpio.read(0x04, 8), 0x0000_a5a5_5678_3412);
        // A byte write to the value register changes only that byte of the latch.
        r.wr(0x00, 0xffff_ffff);
        r.gpio.write(0x01, 1, 0);
        assert_eq!(r.rd(0xc0), 0xffff_00ff);
        // Unknown offsets read zero and are reported once per direction.
        assert_eq!(r.rd(0x300), 0);
        assert_eq!(r.rd(0x300), 0);
        r.wr(0x300, 1);
        assert_eq!(r.gpio.unimplemented.reported(), 2);
        assert_eq!(r.gpio.read(u64::MAX - 7, 8), 0);
    }

    #[test]
    fn state_round_trips() {
        let (mut r, line) = edge_rig(IrqTrigger::LevelHigh, true);
        let mut dcache = r.linux_dcache();
        r.linux_dir_out(&mut dcache, 5, true);
        r.wr(DEBOUNCE_TIMERS[0], 99);
        let state = r.gpio.state();
        assert_eq!(state.banks[3].irq_status, 1 << 2);
        assert_eq!(state.banks[0].latch, 1 << 5);
        let rec = LevelRecorder::new();
        let mut copy = AspeedGpio::from_state(&state, Variant::Ast2600_3v3, rec.line(0));
        assert_eq!(copy.state(), state);
        assert!(rec.level(0), "pending interrupt restored");
        assert_eq!(copy.line_level(5), Some(true));
        assert_eq!(copy.read(0x50, 4), 99);
        assert!(copy.line_level(line).unwrap());
        // Bits a variant lacks are dropped.
        let mut junk = GpioState::default();
        junk.banks[7].direction = u32::MAX;
        junk.banks[6].latch = u32::MAX;
        let copy = AspeedGpio::from_state(&junk, Variant::Ast2600_3v3, IrqLine::disconnected());
        assert_eq!(copy.state().banks[7], GpioBankState::default());
        assert_eq!(copy.state().banks[6].latch, 0xffff);
    }

    // ---- Snapshots ----

    /// Every register of the block as the guest reads it.
    fn registers(r: &mut Rig) -> Vec<u32> {
        let size = r.gpio.variant().regs_size();
        (0..size).step_by(4).map(|off| r.rd(off)).collect()
    }

    /// What each line is at, as the host sees it.
    fn pins(r: &Rig) -> Vec<Option<bool>> {
        (0..r.gpio.variant().ngpio())
            .map(|l| r.gpio.line_level(l))
            .collect()
    }

    /// An AST2600 3.3 V controller Linux has set up: two outputs driven (one reset tolerant),
    /// inputs the host pulls high, a falling-edge interrupt on M2 latched and a level-high one
    /// on Y0 holding, debounce and command source programmed.
    fn busy_controller() -> Rig {
        let (mut r, m2) = edge_rig(IrqTrigger::FallingEdge, true);
        let mut dcache = r.linux_dcache();
        r.linux_dir_out(&mut dcache, 5, true);
        let b7 = r.line("B7");
        r.linux_dir_out(&mut dcache, b7, false);
        r.rmw(5, BankReg::Tolerance, true);
        for name in ["E0", "Q3", "V7"] {
            let line = r.line(name);
            r.gpio.set_input(line, true);
        }
        let y0 = r.line("Y0");
        r.gpio.set_input(y0, true);
        r.linux_set_type(y0, IrqTrigger::LevelHigh);
        r.linux_unmask(y0, true);
        r.rmw(m2, BankReg::DebounceSel1, true);
        r.rmw(y0, BankReg::CmdSrc0, true);
        r.wr(DEBOUNCE_TIMERS[1], 0x1234);
        r.gpio.set_input(m2, false);
        assert!(r.status(m2) && r.status(y0) && r.irq());
        r.gpio.take_output_changes();
        r
    }

    #[test]
    fn saved_state_restores_registers_pins_and_interrupts() {
        let mut r = busy_controller();
        let saved = r
            .gpio
            .save_state()
            .expect("a GPIO controller saves its state");
        assert_eq!(
            (saved.kind.as_str(), saved.version),
            (STATE_KIND, STATE_VERSION)
        );
        let mut t = rig(Variant::Ast2600_3v3);
        t.gpio.load_state(&saved).unwrap();
        assert!(
            t.irq(),
            "the restored controller raises its pending interrupt"
        );
        assert_eq!(t.gpio.save_state(), Some(saved));
        assert!(t.gpio.take_output_changes().is_empty());
        assert_eq!(pins(&t), pins(&r));
        assert_eq!(
            t.gpio.input_level(r.line("Q3")),
            Some(true),
            "host pull-up kept"
        );
        let regs = registers(&mut r);
        let value_a_to_d = regs[(BANKS[0].offset(BankReg::Value) / 4) as usize];
        assert_eq!(value_a_to_d & 0x8020, 0x20, "A5 driven high, B7 driven low");
        assert_eq!(registers(&mut t), regs);
        // Afterwards: acknowledging re-latches the level interrupt that holds, in both; the
        // pins the guest drives change alike.
        let (m2, y0, b7) = (r.line("M2"), r.line("Y0"), r.line("B7"));
        for c in [&mut r, &mut t] {
            c.linux_ack(m2);
            c.linux_ack(y0);
            assert!(!c.status(m2) && c.status(y0) && c.irq());
            c.gpio.set_input(y0, false);
            c.linux_ack(y0);
            assert!(!c.irq());
            c.gpio.set_input(m2, true);
            c.gpio.set_input(m2, false);
            assert!(c.status(m2) && c.irq(), "the falling edge is still armed");
            let mut dcache = c.linux_dcache();
            c.linux_set(&mut dcache, b7, true);
            assert_eq!(c.gpio.take_output_changes(), vec![(b7, true)]);
            Device::reset(&mut c.gpio);
            assert_eq!(c.gpio.line_level(5), Some(true), "reset tolerant");
        }
        assert_eq!(t.gpio.state(), r.gpio.state());
    }

    #[test]
    fn a_state_of_another_kind_version_or_controller_is_refused() {
        let saved = busy_controller().gpio.save_state().unwrap();
        let mut r = rig(Variant::Ast2600_1v8);
        r.gpio.set_input(3, true);
        let before = r.gpio.state();
        let changes = r.rec.changes();
        let wrong_kind = DeviceState {
            kind: "aspeed-sgpio".into(),
            ..saved.clone()
        };
        let wrong_version = DeviceState {
            version: STATE_VERSION + 1,
            ..saved.clone()
        };
        for bad in [&wrong_kind, &wrong_version] {
            assert!(r.gpio.load_state(bad).is_err());
        }
        let e = r.gpio.load_state(&saved).unwrap_err();
        assert!(e.0.contains("208 lines") && e.0.contains("36 lines"), "{e}");
        assert_eq!(r.gpio.state(), before, "left unchanged");
        assert_eq!(r.rec.changes(), changes, "the line is not touched");
        // An AST2500 state restores into an AST2500 controller, its AC group included.
        let mut g5 = rig(Variant::Ast2500);
        let ac7 = g5.line("AC7");
        g5.gpio.set_input(ac7, true);
        let mut t = rig(Variant::Ast2500);
        t.gpio.load_state(&g5.gpio.save_state().unwrap()).unwrap();
        assert_eq!(t.gpio.line_level(ac7), Some(true));
        assert_eq!(registers(&mut t), registers(&mut g5));
        // A state without pending interrupts lowers a line that was high.
        let mut high = busy_controller();
        high.gpio
            .load_state(&rig(Variant::Ast2600_3v3).gpio.save_state().unwrap())
            .unwrap();
        assert!(!high.irq());
    }
}
