//! The Aspeed ADC engines, as Linux `drivers/iio/adc/aspeed_adc.c` (the `aspeed,ast2600-adc0`,
//! `aspeed,ast2600-adc1` and `aspeed,ast2500-adc` configurations, with the register layout of
//! Aspeed's own AST2600 register description and SDK `regs-adc.h`) and QEMU
//! `hw/adc/aspeed_adc.c` see them.
//!
//! One [`AspeedAdc`] is one engine; the [`Variant`] picks which:
//! - [`Variant::Ast2600`]: one of the AST2600's two engines (`adc0` at 0x1E6E_9000 and `adc1`
//!   at 0x1E6E_9100 in `aspeed-g6.dtsi`, 0x100 bytes each), 8 channels, reference voltage
//!   selected by the guest (internal 2.5 V or 1.2 V, or the external reference pin), channel 7
//!   battery sensing;
//! - [`Variant::Ast2500`]: the AST2500's single engine (`adc` at 0x1E6E_9000), 16 channels,
//!   fixed 1.8 V reference (Linux `vref_fixed_mv = 1800`).
//!
//! Registers ([`REGS_SIZE`] bytes; the AST2500 device tree says 0xb0, but its driver writes the
//! trimming register at 0xC4, so the block is mapped whole): engine control (enable, operation
//! mode, compensation, reference select, battery sensing, channel enables), interrupt control
//! (per-channel status, write 1 to clear, and enables), VGA detect and clock control (plain
//! storage), the channel data registers (two 10-bit channels per word, read-only), per-channel
//! bounds (lower in bits 9:0, upper in 25:16) and hysteresis (the same, plus its enable in bit
//! 31), interrupt source select (plain storage) and the compensation/trimming register. 0xC8
//! and 0xCC read as zero (Linux: "can be read and won't affect the hardware logic").
//!
//! Conversion: the converter is ideal and instantaneous. The host sets each channel's input in
//! millivolts ([`AspeedAdc::set_millivolts`]); the code is
//! `raw = min(mv * 1024 / vref_mv, 1023)` (integer division, see [`raw_code`]) with the
//! reference the guest has selected ([`AspeedAdc::vref_mv`]). The millivolts are kept, so a
//! later change of reference converts again. A channel's data field reads its code only while
//! the engine is enabled in normal mode and the channel is enabled; otherwise it reads 0. In
//! compensation mode (control bit 4) every converting channel reads half scale, 0x200, as the
//! hardware forces its input to half the reference: Linux's `aspeed_adc_compensation` then
//! computes a compensating value of 0. On the AST2600, channel 7 in battery mode (control bits
//! 12 and 13 both set) converts its input through the divider control bit 6 selects, 2/3 or
//! 1/3, which Linux multiplies back by 3/2 or 3.
//!
//! The ready bit Linux polls after enabling the engine (control bit 8, `ASPEED_ADC_CTRL_INIT_RDY`)
//! reads 1 whenever the engine enable bit is set, as in QEMU: the initial sequence completes at
//! once, so probe never times out. The auto-compensation bit (5) reads 0, as in QEMU.
//!
//! Thresholds: a channel whose interrupt enable (interrupt control bit 16 + n) is set, and
//! which is converting, is compared with its bounds each time anything it depends on changes
//! (its input, the reference, the control, bounds, hysteresis or interrupt registers). When its
//! code leaves the bounds (below the lower or above the upper bound, as QEMU compares) its
//! status bit (interrupt control bit n) is set, a [`ThresholdEvent`] is queued for
//! [`AspeedAdc::take_threshold_events`], and the channel is tripped: it does not set its status
//! again until its code has come back within its bounds, or, with hysteresis enabled, within
//! its hysteresis bounds. The interrupt output given to [`AspeedAdc::new`] is a level, high
//! while any channel has both its status and its enable bit set; writing 1 to a status bit
//! clears it. On the AST2600 both engines share one interrupt (SPI 46 in `aspeed-g6.dtsi`), so
//! the SoC ORs their outputs.
//!
//! [`Device::reset`] (a SoC reset, or the SCU's ADC reset) returns the registers to their reset
//! values (QEMU `aspeed_adc_resets`); the host's inputs (millivolts, external reference) are
//! not registers and are kept.
//!
//! Left out: conversion timing and sampling noise (values are ready at once; the clock control
//! register is plain storage, so the sampling rate does not matter), the AST2600's global
//! interrupt status at 0xCC (it reads 0: an engine does not know the other engine), the
//! meaning of interrupt source select (plain storage), the auto-compensation result field of
//! 0xC4 (bits 25:16, read 0: an ideal converter needs no compensation), the AST2500's
//! temperature sensing channels at 0xD0/0xD4, the VGA detect function, and the AST2400.
#![deny(missing_docs)]

use bus::{merge_subword, subword, Device, DeviceState, IrqLine, StateError, UnimplementedLog};
use serde::{Deserialize, Serialize};

/// Engine control: Linux `ASPEED_REG_ENGINE_CONTROL`.
pub const REG_ENGINE_CONTROL: u64 = 0x00;
/// Interrupt control (status bits 15:0, enables 31:16): Linux `ASPEED_REG_INTERRUPT_CONTROL`.
pub const REG_INTERRUPT_CONTROL: u64 = 0x04;
/// VGA detect control: Linux `ASPEED_REG_VGA_DETECT_CONTROL`.
pub const REG_VGA_DETECT_CONTROL: u64 = 0x08;
/// Clock control (the sampling clock dividers): Linux `ASPEED_REG_CLOCK_CONTROL`.
pub const REG_CLOCK_CONTROL: u64 = 0x0C;
/// First channel data register, channels 1 and 0 (Linux `aspeed_adc_iio_channels[]` reads
/// channel n at 0x10 + 2n with `readw`): QEMU `DATA_CHANNEL_1_AND_0`.
pub const REG_DATA_BASE: u64 = 0x10;
/// First bounds register, channel 0 (one word per channel): QEMU `BOUNDS_CHANNEL_0`, Aspeed
/// SDK `AST_ADC_BOUND0`.
pub const REG_BOUNDS_BASE: u64 = 0x30;
/// First hysteresis register, channel 0 (one word per channel): QEMU `HYSTERESIS_CHANNEL_0`,
/// Aspeed SDK `AST_ADC_HYSTER0`.
pub const REG_HYSTERESIS_BASE: u64 = 0x70;
/// Interrupt source select: QEMU `INTERRUPT_SOURCE`, Aspeed SDK `AST_ADC_INTR_SEL`.
pub const REG_INTERRUPT_SOURCE: u64 = 0xC0;
/// Compensation and trimming (trimming value in bits 3:0): Linux `ASPEED_REG_COMPENSATION_TRIM`.
pub const REG_COMPENSATION_TRIM: u64 = 0xC4;
/// Reserved word Linux's debugfs may read (reads 0): below Linux `ASPEED_REG_MAX`.
pub const REG_RESERVED_C8: u64 = 0xC8;
/// AST2600 global interrupt status (reads 0 in this model): below Linux `ASPEED_REG_MAX`.
pub const REG_GLOBAL_INTERRUPT: u64 = 0xCC;
/// Size of one engine's register block: QEMU `ASPEED_ADC_ENGINE_MEMORY_REGION_SIZE`, device
/// tree `reg = <0x1e6e9000 0x100>` (AST2600).
pub const REGS_SIZE: u64 = 0x100;

/// Control: engine enable: Linux `ASPEED_ADC_ENGINE_ENABLE`.
pub const CTRL_ENGINE_ENABLE: u32 = 1 << 0;
/// Control: operation mode field (bits 3:1): Linux `ASPEED_ADC_OP_MODE`.
pub const CTRL_OP_MODE_MASK: u32 = 0x7 << 1;
/// Control: operation mode field shift.
pub const CTRL_OP_MODE_SHIFT: u32 = 1;
/// Operation mode: power down: Linux `ASPEED_ADC_OP_MODE_PWR_DOWN`.
pub const OP_MODE_POWER_DOWN: u32 = 0;
/// Operation mode: standby: Linux `ASPEED_ADC_OP_MODE_STANDBY`.
pub const OP_MODE_STANDBY: u32 = 1;
/// Operation mode: normal (converting): Linux `ASPEED_ADC_OP_MODE_NORMAL`.
pub const OP_MODE_NORMAL: u32 = 7;
/// Control: compensating sensing mode (inputs forced to half the reference): Linux
/// `ASPEED_ADC_CTRL_COMPENSATION`.
pub const CTRL_COMPENSATION: u32 = 1 << 4;
/// Control: auto compensating sensing mode (reads 0, as QEMU): Linux
/// `ASPEED_ADC_AUTO_COMPENSATION`.
pub const CTRL_AUTO_COMPENSATION: u32 = 1 << 5;
/// Control: AST2600 reference voltage select field (bits 7:6): Linux `ASPEED_ADC_REF_VOLTAGE`.
pub const CTRL_REF_VOLTAGE_MASK: u32 = 0x3 << 6;
/// Control: reference voltage select field shift.
pub const CTRL_REF_VOLTAGE_SHIFT: u32 = 6;
/// Reference select: internal 2.5 V: Linux `ASPEED_ADC_REF_VOLTAGE_2500mV`.
pub const REF_VOLTAGE_2500MV: u32 = 0;
/// Reference select: internal 1.2 V: Linux `ASPEED_ADC_REF_VOLTAGE_1200mV`.
pub const REF_VOLTAGE_1200MV: u32 = 1;
/// Reference select: external reference, 1.55 V to 2.7 V: Linux `ASPEED_ADC_REF_VOLTAGE_EXT_HIGH`.
pub const REF_VOLTAGE_EXT_HIGH: u32 = 2;
/// Reference select: external reference, 0.9 V to 1.65 V: Linux `ASPEED_ADC_REF_VOLTAGE_EXT_LOW`.
pub const REF_VOLTAGE_EXT_LOW: u32 = 3;
/// Control: AST2600 battery sensing divider, shared with the reference select's low bit
/// (0 = 2/3, 1 = 1/3): Linux `ASPEED_ADC_BAT_SENSING_DIV`.
pub const CTRL_BAT_SENSING_DIV: u32 = 1 << 6;
/// Control: initial sequence complete (read-only): Linux `ASPEED_ADC_CTRL_INIT_RDY`.
pub const CTRL_INIT_RDY: u32 = 1 << 8;
/// Control: AST2600 channel 7 mode, 1 = battery: Linux `ASPEED_ADC_CH7_MODE`.
pub const CTRL_CH7_MODE: u32 = 1 << 12;
/// Control: AST2600 battery sensing enable: Linux `ASPEED_ADC_BAT_SENSING_ENABLE`.
pub const CTRL_BAT_SENSING_ENABLE: u32 = 1 << 13;
/// Control: channel enable field (bit 16 + n enables channel n): Linux `ASPEED_ADC_CTRL_CHANNEL`.
pub const CTRL_CHANNEL_MASK: u32 = 0xFFFF_0000;
/// Control: channel enable field shift.
pub const CTRL_CHANNEL_SHIFT: u32 = 16;

/// Interrupt control: interrupt enable of channel n is bit `INT_ENABLE_SHIFT + n`: Aspeed SDK
/// `AST_ADC_IER_CH0`.
pub const INT_ENABLE_SHIFT: u32 = 16;
/// Interrupt control: the status bits (bit n = channel n, write 1 to clear): Aspeed SDK
/// `AST_ADC_STS_CH0`..`AST_ADC_STS_CH15`.
pub const INT_STATUS_MASK: u32 = 0xFFFF;

/// Data, bounds and hysteresis registers: the low field (bits 9:0): QEMU `ASPEED_ADC_L_MASK`.
pub const FIELD_MASK: u32 = 0x3FF;
/// Data, bounds and hysteresis registers: the high field's shift (bits 25:16): QEMU `ASPEED_ADC_H`.
pub const HIGH_FIELD_SHIFT: u32 = 16;
/// Bounds and data registers: both fields: QEMU `ASPEED_ADC_LH_MASK`.
pub const LH_MASK: u32 = (FIELD_MASK << HIGH_FIELD_SHIFT) | FIELD_MASK;
/// Hysteresis register: hysteresis enable: QEMU `ASPEED_ADC_HYST_EN`, Aspeed SDK `AST_ADC_HYSTER_EN`.
pub const HYSTERESIS_ENABLE: u32 = 1 << 31;
/// Compensation/trimming register: the writable trimming value (bits 3:0): QEMU mask 0xf.
pub const TRIM_MASK: u32 = 0xF;

/// Largest code of the 10-bit converter: Linux `ASPEED_RESOLUTION_BITS`.
pub const MAX_RAW: u16 = 0x3FF;
/// Half scale, what compensating sensing mode reads: Linux `BIT(ASPEED_RESOLUTION_BITS - 1)`.
pub const HALF_SCALE: u16 = 0x200;
/// Channels of the largest engine (the AST2500's).
pub const MAX_CHANNELS: usize = 16;

/// Reset value of the VGA detect control register: QEMU `aspeed_adc_resets`.
pub const DEFAULT_VGA_DETECT: u32 = 0x0000_000F;
/// Reset value of the clock control register: QEMU `aspeed_adc_resets`.
pub const DEFAULT_CLOCK_CONTROL: u32 = 0x0000_000F;
/// External reference voltage the host supplies until told otherwise, in millivolts.
pub const DEFAULT_EXTERNAL_VREF_MV: u32 = 2500;

/// The kind of an ADC engine's saved state ([`DeviceState::kind`]), either generation's.
pub const STATE_KIND: &str = "aspeed-adc";
/// The format version of an ADC engine's saved state: its [`Variant`] and its [`AdcState`].
pub const STATE_VERSION: u32 = 1;

/// The code an ideal 10-bit converter gives for `mv` millivolts with a `vref_mv` reference:
/// `mv * 1024 / vref_mv` (integer division), clamped to 0..=1023. A zero reference counts as
/// 1 mV.
pub fn raw_code(mv: u32, vref_mv: u32) -> u16 {
    let code = u64::from(mv) * 1024 / u64::from(vref_mv.max(1));
    code.min(u64::from(MAX_RAW)) as u16
}

/// Which engine: the SoC generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Variant {
    /// An AST2600 engine (`aspeed,ast2600-adc0` or `-adc1`): 8 channels, selectable reference,
    /// battery sensing on channel 7.
    Ast2600,
    /// The AST2500 engine (`aspeed,ast2500-adc`): 16 channels, fixed 1.8 V reference.
    Ast2500,
}

impl Variant {
    /// Channels of the engine: Linux `num_channels` (8 or 16).
    pub const fn channels(self) -> usize {
        match self {
            Variant::Ast2600 => 8,
            Variant::Ast2500 => 16,
        }
    }

    /// The fixed reference voltage, if the guest cannot select one: Linux `vref_fixed_mv`.
    pub const fn fixed_vref_mv(self) -> Option<u32> {
        match self {
            Variant::Ast2600 => None,
            Variant::Ast2500 => Some(1800),
        }
    }

    /// Bit n set for each channel n the engine has.
    pub const fn channel_mask(self) -> u32 {
        (1 << self.channels()) - 1
    }

    /// Engine control bits that hold what is written (bit 8 is read-only, bit 5 reads 0).
    const fn control_writable(self) -> u32 {
        let common = CTRL_ENGINE_ENABLE | CTRL_OP_MODE_MASK | CTRL_COMPENSATION;
        match self {
            Variant::Ast2600 => {
                common
                    | CTRL_REF_VOLTAGE_MASK
                    | CTRL_CH7_MODE
                    | CTRL_BAT_SENSING_ENABLE
                    | (self.channel_mask() << CTRL_CHANNEL_SHIFT)
            }
            Variant::Ast2500 => {
                common | CTRL_REF_VOLTAGE_MASK | (self.channel_mask() << CTRL_CHANNEL_SHIFT)
            }
        }
    }

    /// Clock control bits that hold what is written: the AST2600's divisor (15:0); the
    /// AST2500's prescaler (31:17) and divisor (9:0) (Linux's clock formula comment).
    const fn clock_writable(self) -> u32 {
        match self {
            Variant::Ast2600 => 0x0000_FFFF,
            Variant::Ast2500 => 0xFFFE_03FF,
        }
    }
}

/// VGA detect control bits that hold what is written: enable (16) and divisor (9:0), Aspeed SDK
/// `AST_ADC_VGA_EN`, `AST_ADC_VGA_DIV_MASK`.
const VGA_WRITABLE: u32 = (1 << 16) | 0x3FF;

/// A channel's code left its bounds (queued for [`AspeedAdc::take_threshold_events`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThresholdEvent {
    /// The channel.
    pub channel: usize,
    /// Its code when it left the bounds.
    pub raw: u16,
    /// True if above the upper bound, false if below the lower one.
    pub above: bool,
}

/// The engine's registers and the host's inputs: a plain value that can be saved and restored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdcState {
    /// Engine control, as stored (bit 8 is computed when read).
    pub engine_control: u32,
    /// Interrupt control: status bits 15:0, enables 31:16.
    pub interrupt_control: u32,
    /// VGA detect control.
    pub vga_detect: u32,
    /// Clock control.
    pub clock_control: u32,
    /// Bounds registers, one per channel: lower in bits 9:0, upper in 25:16.
    pub bounds: [u32; MAX_CHANNELS],
    /// Hysteresis registers, one per channel: lower, upper, enable in bit 31.
    pub hysteresis: [u32; MAX_CHANNELS],
    /// Interrupt source select.
    pub interrupt_source: u32,
    /// Compensation and trimming register.
    pub compensation_trim: u32,
    /// Channels that left their bounds and have not come back (bit n = channel n).
    pub tripped: u32,
    /// Host side: each channel's input in millivolts.
    pub millivolts: [u32; MAX_CHANNELS],
    /// Host side: the voltage on the external reference pin, in millivolts.
    pub external_vref_mv: u32,
}

impl Default for AdcState {
    fn default() -> Self {
        Self {
            engine_control: 0,
            interrupt_control: 0,
            vga_detect: DEFAULT_VGA_DETECT,
            clock_control: DEFAULT_CLOCK_CONTROL,
            bounds: [0; MAX_CHANNELS],
            hysteresis: [0; MAX_CHANNELS],
            interrupt_source: 0,
            compensation_trim: 0,
            tripped: 0,
            millivolts: [0; MAX_CHANNELS],
            external_vref_mv: DEFAULT_EXTERNAL_VREF_MV,
        }
    }
}

impl AdcState {
    /// The registers at reset, keeping the host's inputs of `self`.
    fn reset_keeping_inputs(&self) -> Self {
        Self {
            millivolts: self.millivolts,
            external_vref_mv: self.external_vref_mv,
            ..Self::default()
        }
    }

    /// Drops the bits and values of channels `variant` lacks.
    fn limit_to(&mut self, variant: Variant) {
        let chans = variant.channel_mask();
        self.engine_control &= variant.control_writable();
        self.interrupt_control &= chans | (chans << INT_ENABLE_SHIFT);
        self.tripped &= chans;
        let n = variant.channels();
        self.bounds[n..].fill(0);
        self.hysteresis[n..].fill(0);
        self.millivolts[n..].fill(0);
    }
}

/// What an engine saves in a snapshot ([`STATE_KIND`], [`STATE_VERSION`]): its registers and
/// inputs, and the variant, which gives the number of channels they are for.
#[derive(Serialize, Deserialize)]
struct SavedAdc {
    variant: Variant,
    state: AdcState,
}

/// The registers a word offset names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reg {
    EngineControl,
    InterruptControl,
    VgaDetect,
    ClockControl,
    /// Data of channels 2n and 2n + 1.
    Data(usize),
    Bounds(usize),
    Hysteresis(usize),
    InterruptSource,
    CompensationTrim,
    /// Reads 0, ignores writes.
    Reserved,
}

/// One Aspeed ADC engine.
pub struct AspeedAdc {
    variant: Variant,
    state: AdcState,
    irq: IrqLine,
    irq_level: bool,
    events: Vec<ThresholdEvent>,
    unimplemented: UnimplementedLog,
}

impl AspeedAdc {
    /// An engine of `variant` in its reset state, every input at 0 mV. `irq` is its interrupt
    /// output (level).
    pub fn new(variant: Variant, irq: IrqLine) -> Self {
        Self::from_state(&AdcState::default(), variant, irq)
    }

    /// An engine restored from `state` (the interrupt is raised if pending). Bits for channels
    /// the variant lacks are dropped.
    pub fn from_state(state: &AdcState, variant: Variant, irq: IrqLine) -> Self {
        let mut adc = Self {
            variant,
            state: state.clone(),
            irq,
            irq_level: false,
            events: Vec::new(),
            unimplemented: UnimplementedLog::new("adc"),
        };
        adc.state.limit_to(variant);
        adc.update_irq();
        adc
    }

    /// A copy of the registers and inputs.
    pub fn state(&self) -> AdcState {
        self.state.clone()
    }

    /// Which engine this is.
    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// Host side: sets channel `channel`'s input to `mv` millivolts. Its code follows at once
    /// (`min(mv * 1024 / vref_mv, 1023)` with the reference the guest selected, see
    /// [`raw_code`]), which may trip its threshold. Returns false (and does nothing) if the
    /// engine has no such channel.
    pub fn set_millivolts(&mut self, channel: usize, mv: u32) -> bool {
        if channel >= self.variant.channels() {
            return false;
        }
        self.state.millivolts[channel] = mv;
        self.evaluate();
        true
    }

    /// Host side: channel `channel`'s input in millivolts (the last [`AspeedAdc::set_millivolts`]).
    pub fn millivolts(&self, channel: usize) -> Option<u32> {
        (channel < self.variant.channels()).then(|| self.state.millivolts[channel])
    }

    /// Host side: the code channel `channel`'s input converts to with the reference now
    /// selected (through the battery divider if channel 7 is in battery mode), whether or not
    /// the channel is converting. None if the engine has no such channel.
    pub fn raw(&self, channel: usize) -> Option<u16> {
        (channel < self.variant.channels()).then(|| self.input_code(channel))
    }

    /// What channel `channel`'s data field reads now: its code while converting, half scale in
    /// compensation mode, 0 while the engine is off, not in normal mode, or the channel is
    /// disabled. None if the engine has no such channel.
    pub fn reading(&self, channel: usize) -> Option<u16> {
        (channel < self.variant.channels()).then(|| self.conversion(channel).unwrap_or(0))
    }

    /// Host side: sets the voltage on the external reference pin (used when the AST2600 guest
    /// selects an external reference). Returns false (and does nothing) for 0 mV or on the
    /// AST2500, whose reference is fixed.
    pub fn set_external_vref_mv(&mut self, mv: u32) -> bool {
        if mv == 0 || self.variant.fixed_vref_mv().is_some() {
            return false;
        }
        self.state.external_vref_mv = mv;
        self.evaluate();
        true
    }

    /// The reference voltage in millivolts the conversions use now: the AST2500's fixed 1800,
    /// or on the AST2600 what control bits 7:6 select (2500, 1200, or the external pin's).
    pub fn vref_mv(&self) -> u32 {
        if let Some(mv) = self.variant.fixed_vref_mv() {
            return mv;
        }
        match (self.state.engine_control & CTRL_REF_VOLTAGE_MASK) >> CTRL_REF_VOLTAGE_SHIFT {
            REF_VOLTAGE_2500MV => 2500,
            REF_VOLTAGE_1200MV => 1200,
            _ => self.state.external_vref_mv,
        }
    }

    /// Whether the interrupt output is high: some channel has its status and enable bits set.
    pub fn irq_pending(&self) -> bool {
        let ic = self.state.interrupt_control;
        ic & (ic >> INT_ENABLE_SHIFT) & INT_STATUS_MASK != 0
    }

    /// Every threshold crossing since the last call, in order.
    pub fn take_threshold_events(&mut self) -> Vec<ThresholdEvent> {
        std::mem::take(&mut self.events)
    }

    fn control(&self) -> u32 {
        self.state.engine_control
    }

    /// Whether channel 7 converts through the battery divider (AST2600, bits 12 and 13).
    fn battery_mode(&self, channel: usize) -> bool {
        let both = CTRL_CH7_MODE | CTRL_BAT_SENSING_ENABLE;
        self.variant == Variant::Ast2600 && channel == 7 && self.control() & both == both
    }

    /// The code of `channel`'s input at the selected reference.
    fn input_code(&self, channel: usize) -> u16 {
        let mv = self.state.millivolts[channel];
        if self.battery_mode(channel) {
            // Divider 2/3 (bit 6 clear) or 1/3 (set): Linux multiplies back by 3/2 or 3/1.
            let num = if self.control() & CTRL_BAT_SENSING_DIV != 0 {
                1
            } else {
                2
            };
            let divided = u64::from(mv) * num / 3;
            return raw_code(divided as u32, self.vref_mv());
        }
        raw_code(mv, self.vref_mv())
    }

    /// `channel`'s code if it is converting.
    fn conversion(&self, channel: usize) -> Option<u16> {
        let ctrl = self.control();
        let mode = (ctrl & CTRL_OP_MODE_MASK) >> CTRL_OP_MODE_SHIFT;
        let on = ctrl & CTRL_ENGINE_ENABLE != 0
            && mode == OP_MODE_NORMAL
            && ctrl & (1 << (CTRL_CHANNEL_SHIFT as usize + channel)) != 0;
        if !on {
            return None;
        }
        if ctrl & CTRL_COMPENSATION != 0 {
            return Some(HALF_SCALE);
        }
        Some(self.input_code(channel))
    }

    /// Compares every interrupt-enabled converting channel with its bounds, then drives the
    /// interrupt output.
    fn evaluate(&mut self) {
        for ch in 0..self.variant.channels() {
            let bit = 1u32 << ch;
            let enabled = self.state.interrupt_control & (bit << INT_ENABLE_SHIFT) != 0;
            let code = match self.conversion(ch) {
                Some(code) if enabled => u32::from(code),
                _ => {
                    self.state.tripped &= !bit;
                    continue;
                }
            };
            let bounds = self.state.bounds[ch];
            let (lower, upper) = (
                bounds & FIELD_MASK,
                (bounds >> HIGH_FIELD_SHIFT) & FIELD_MASK,
            );
            if self.state.tripped & bit != 0 {
                let hyst = self.state.hysteresis[ch];
                let (lo, hi) = if hyst & HYSTERESIS_ENABLE != 0 {
                    (hyst & FIELD_MASK, (hyst >> HIGH_FIELD_SHIFT) & FIELD_MASK)
                } else {
                    (lower, upper)
                };
                if (lo..=hi).contains(&code) {
                    self.state.tripped &= !bit;
                }
            }
            if self.state.tripped & bit == 0 && !(lower..=upper).contains(&code) {
                self.state.tripped |= bit;
                self.state.interrupt_control |= bit;
                self.events.push(ThresholdEvent {
                    channel: ch,
                    raw: code as u16,
                    above: code > upper,
                });
            }
        }
        self.update_irq();
    }

    fn update_irq(&mut self) {
        let level = self.irq_pending();
        if level != self.irq_level {
            self.irq_level = level;
            self.irq.set(level);
        }
    }

    /// The register at word offset `reg`, if the variant has one there.
    fn decode(&self, reg: u64) -> Option<Reg> {
        let n = self.variant.channels() as u64;
        let index = |base: u64| ((reg - base) / 4) as usize;
        Some(match reg {
            REG_ENGINE_CONTROL => Reg::EngineControl,
            REG_INTERRUPT_CONTROL => Reg::InterruptControl,
            REG_VGA_DETECT_CONTROL => Reg::VgaDetect,
            REG_CLOCK_CONTROL => Reg::ClockControl,
            r if (REG_DATA_BASE..REG_DATA_BASE + 2 * n).contains(&r) => {
                Reg::Data(index(REG_DATA_BASE))
            }
            r if (REG_BOUNDS_BASE..REG_BOUNDS_BASE + 4 * n).contains(&r) => {
                Reg::Bounds(index(REG_BOUNDS_BASE))
            }
            r if (REG_HYSTERESIS_BASE..REG_HYSTERESIS_BASE + 4 * n).contains(&r) => {
                Reg::Hysteresis(index(REG_HYSTERESIS_BASE))
            }
            REG_INTERRUPT_SOURCE => Reg::InterruptSource,
            REG_COMPENSATION_TRIM => Reg::CompensationTrim,
            REG_RESERVED_C8 | REG_GLOBAL_INTERRUPT => Reg::Reserved,
            _ => return None,
        })
    }

    fn read_reg(&self, reg: Reg) -> u32 {
        let s = &self.state;
        match reg {
            Reg::EngineControl => {
                let ready = if s.engine_control & CTRL_ENGINE_ENABLE != 0 {
                    CTRL_INIT_RDY
                } else {
                    0
                };
                s.engine_control | ready
            }
            Reg::InterruptControl => s.interrupt_control,
            Reg::VgaDetect => s.vga_detect,
            Reg::ClockControl => s.clock_control,
            Reg::Data(pair) => {
                let lo = self.conversion(2 * pair).unwrap_or(0);
                let hi = self.conversion(2 * pair + 1).unwrap_or(0);
                u32::from(lo) | (u32::from(hi) << HIGH_FIELD_SHIFT)
            }
            Reg::Bounds(ch) => s.bounds[ch],
            Reg::Hysteresis(ch) => s.hysteresis[ch],
            Reg::InterruptSource => s.interrupt_source,
            Reg::CompensationTrim => s.compensation_trim,
            Reg::Reserved => 0,
        }
    }

    /// Writes `merged` (the register with the written bytes replaced) to `reg`; `written` holds
    /// only the written bytes (the rest zero), for the write-1-to-clear status bits.
    fn write_reg(&mut self, reg: Reg, merged: u32, written: u32) {
        let chans = self.variant.channel_mask();
        let s = &mut self.state;
        match reg {
            Reg::EngineControl => s.engine_control = merged & self.variant.control_writable(),
            Reg::InterruptControl => {
                let enable_mask = chans << INT_ENABLE_SHIFT;
                let status = s.interrupt_control & chans & !(written & chans);
                s.interrupt_control = status | (merged & enable_mask);
            }
            Reg::VgaDetect => s.vga_detect = merged & VGA_WRITABLE,
            Reg::ClockControl => s.clock_control = merged & self.variant.clock_writable(),
            // Read-only conversion results.
            Reg::Data(_) | Reg::Reserved => return,
            Reg::Bounds(ch) => s.bounds[ch] = merged & LH_MASK,
            Reg::Hysteresis(ch) => s.hysteresis[ch] = merged & (HYSTERESIS_ENABLE | LH_MASK),
            Reg::InterruptSource => s.interrupt_source = merged & chans,
            Reg::CompensationTrim => s.compensation_trim = merged & TRIM_MASK,
        }
        self.evaluate();
    }

    fn read32(&mut self, offset: u64, size: u8) -> u64 {
        match self.decode(offset & !3) {
            Some(reg) => subword(self.read_reg(reg), offset, size),
            None => {
                self.unimplemented.read(offset, size);
                0
            }
        }
    }

    fn write32(&mut self, offset: u64, size: u8, value: u64) {
        let Some(reg) = self.decode(offset & !3) else {
            self.unimplemented.write(offset, size, value);
            return;
        };
        let merged = merge_subword(self.read_reg(reg), offset, size, value);
        let written = merge_subword(0, offset, size, value);
        self.write_reg(reg, merged, written);
    }
}

impl Device for AspeedAdc {
    fn read(&mut self, offset: u64, size: u8) -> u64 {
        bus::split_read(offset, size, |o, s| self.read32(o, s))
    }

    fn write(&mut self, offset: u64, size: u8, value: u64) {
        bus::split_write(offset, size, value, |o, s, v| self.write32(o, s, v));
    }

    fn reset(&mut self) {
        self.state = self.state.reset_keeping_inputs();
        self.update_irq();
    }

    /// The registers, the tripped channels and the host's inputs ([`AdcState`]) with the
    /// variant. The line is wiring; threshold events not yet taken by the host
    /// ([`AspeedAdc::take_threshold_events`]) are host notifications the SoC drains every step.
    fn save_state(&self) -> Option<DeviceState> {
        let saved = SavedAdc {
            variant: self.variant,
            state: self.state.clone(),
        };
        Some(DeviceState::new(STATE_KIND, STATE_VERSION, &saved))
    }

    /// Refuses another variant's state (another number of channels); drives the interrupt to
    /// the restored status and enable bits. Nothing is converted or compared anew: the tripped
    /// channels are restored with the registers.
    fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        let saved: SavedAdc = state.decode(STATE_KIND, STATE_VERSION)?;
        if saved.variant != self.variant {
            return Err(StateError(format!(
                "aspeed-adc: the state is of an {:?} engine ({} channels), this one is an {:?} \
                 engine ({} channels)",
                saved.variant,
                saved.variant.channels(),
                self.variant,
                self.variant.channels()
            )));
        }
        self.state = saved.state;
        self.state.limit_to(self.variant);
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

    const NORMAL_ENABLE: u32 = (OP_MODE_NORMAL << CTRL_OP_MODE_SHIFT) | CTRL_ENGINE_ENABLE;

    struct Rig {
        adc: AspeedAdc,
        rec: Rc<LevelRecorder>,
    }

    fn rig(variant: Variant) -> Rig {
        let rec = LevelRecorder::new();
        let adc = AspeedAdc::new(variant, rec.line(0));
        Rig { adc, rec }
    }

    impl Rig {
        fn readl(&mut self, off: u64) -> u32 {
            self.adc.read(off, 4) as u32
        }
        fn writel(&mut self, off: u64, v: u32) {
            self.adc.write(off, 4, u64::from(v))
        }
        fn readw(&mut self, off: u64) -> u16 {
            self.adc.read(off, 2) as u16
        }
        /// Linux `in_voltageN_raw` without events enabled: `readw(base + 0x10 + 2 * n)`.
        fn in_voltage_raw(&mut self, ch: u64) -> u16 {
            self.readw(REG_DATA_BASE + 2 * ch)
        }

        /// Linux `aspeed_adc_probe` for `aspeed,ast2600-adc0` with internal reference `vref_mv`
        /// (`aspeed,int-vref-microvolt`) and OTP trimming value `trim`; returns the
        /// compensating value the driver computes and its `required_eoc_num`.
        fn linux_probe_ast2600(&mut self, vref_mv: u32, trim: u32) -> (i32, u32) {
            // aspeed_adc_vref_config: no regulator, internal reference.
            let ctrl = self.readl(REG_ENGINE_CONTROL);
            let sel = match vref_mv {
                2500 => REF_VOLTAGE_2500MV,
                1200 => REF_VOLTAGE_1200MV,
                _ => panic!("Linux rejects {vref_mv} mV"),
            };
            self.writel(REG_ENGINE_CONTROL, ctrl | (sel << CTRL_REF_VOLTAGE_SHIFT));
            // aspeed_adc_set_trim_data: SCU 0x5D0 bits 3:0 (0 becomes 8).
            self.writel(REG_COMPENSATION_TRIM, if trim == 0 { 8 } else { trim });
            // clk_prepare_enable + aspeed_adc_set_sampling_rate(65000): the 16-bit scaler
            // divider at bits 15:0 is read-modify-written by the clk framework.
            let clk = self.readl(REG_CLOCK_CONTROL);
            self.writel(REG_CLOCK_CONTROL, (clk & !0xFFFF) | 0x0180);
            // Enable engine in normal mode.
            let ctrl = self.readl(REG_ENGINE_CONTROL) | NORMAL_ENABLE;
            self.writel(REG_ENGINE_CONTROL, ctrl);
            self.poll_init_ready();
            let cv = self.linux_compensation();
            // Start all channels in normal mode.
            let ctrl = self.readl(REG_ENGINE_CONTROL) | CTRL_CHANNEL_MASK;
            self.writel(REG_ENGINE_CONTROL, ctrl);
            let channels = self.readl(REG_ENGINE_CONTROL) >> CTRL_CHANNEL_SHIFT;
            let mut eoc = channels.count_ones();
            // require_extra_eoc on the AST2600 when the last channel is enabled.
            if channels & (1 << 7) != 0 {
                eoc += 12;
            }
            (cv, eoc)
        }

        /// `readl_poll_timeout(..., val & ASPEED_ADC_CTRL_INIT_RDY, 500, 500000)`: at most
        /// 1000 polls. Returns how many reads it took.
        fn poll_init_ready(&mut self) -> u32 {
            for n in 1..=1000 {
                if self.readl(REG_ENGINE_CONTROL) & CTRL_INIT_RDY != 0 {
                    return n;
                }
            }
            panic!("probe timed out waiting for INIT_RDY");
        }

        /// Linux `aspeed_adc_compensation`: half-scale input on channel 0, 16 samples.
        fn linux_compensation(&mut self) -> i32 {
            let mut ctrl = self.readl(REG_ENGINE_CONTROL);
            ctrl &= !CTRL_OP_MODE_MASK;
            ctrl |= NORMAL_ENABLE;
            self.writel(
                REG_ENGINE_CONTROL,
                ctrl | CTRL_COMPENSATION | (1 << CTRL_CHANNEL_SHIFT),
            );
            let sum: u32 = (0..16).map(|_| u32::from(self.in_voltage_raw(0))).sum();
            self.writel(REG_ENGINE_CONTROL, ctrl);
            512 - (sum >> 4) as i32
        }
    }

    #[test]
    fn reset_values_match_qemu() {
        for variant in [Variant::Ast2600, Variant::Ast2500] {
            let mut r = rig(variant);
            assert_eq!(r.readl(REG_ENGINE_CONTROL), 0);
            assert_eq!(r.readl(REG_INTERRUPT_CONTROL), 0);
            assert_eq!(r.readl(REG_VGA_DETECT_CONTROL), 0xF);
            assert_eq!(r.readl(REG_CLOCK_CONTROL), 0xF);
            assert_eq!(r.readl(REG_DATA_BASE), 0);
            assert_eq!(r.readl(REG_BOUNDS_BASE), 0);
            assert_eq!(r.readl(REG_COMPENSATION_TRIM), 0);
            assert!(!r.adc.irq_pending());
            assert!(r.rec.changes().is_empty());
        }
        assert_eq!(rig(Variant::Ast2600).adc.vref_mv(), 2500);
        assert_eq!(rig(Variant::Ast2500).adc.vref_mv(), 1800);
    }

    #[test]
    fn raw_code_divides_by_the_reference_and_clamps() {
        assert_eq!(raw_code(0, 2500), 0);
        assert_eq!(raw_code(1250, 2500), 512);
        assert_eq!(raw_code(1000, 2500), 409);
        assert_eq!(raw_code(2500, 2500), 1023, "full scale clamps to 1023");
        assert_eq!(raw_code(u32::MAX, 1200), 1023);
        assert_eq!(raw_code(600, 1200), 512);
        assert_eq!(raw_code(900, 1800), 512);
        assert_eq!(raw_code(5, 0), 1023, "no division by zero");
    }

    #[test]
    fn linux_ast2600_probe_at_2500mv_then_in_voltage_raw() {
        let mut r = rig(Variant::Ast2600);
        r.adc.set_millivolts(0, 1000);
        r.adc.set_millivolts(3, 1250);
        r.adc.set_millivolts(7, 3000);
        let (cv, eoc) = r.linux_probe_ast2600(2500, 0);
        assert_eq!(cv, 0, "an ideal converter needs no compensation");
        assert_eq!(eoc, 8 + 12, "8 channels read back, bits 31:24 reserved");
        assert_eq!(r.readl(REG_COMPENSATION_TRIM), 8);
        assert_eq!(r.readl(REG_CLOCK_CONTROL), 0x0180);
        assert_eq!(
            r.readl(REG_ENGINE_CONTROL),
            0x00FF_0000 | CTRL_INIT_RDY | NORMAL_ENABLE
        );
        assert_eq!(r.adc.vref_mv(), 2500);
        assert_eq!(r.in_voltage_raw(0), 409);
        assert_eq!(r.in_voltage_raw(1), 0);
        assert_eq!(r.in_voltage_raw(3), 512);
        assert_eq!(r.in_voltage_raw(7), 1023, "3 V is above a 2.5 V reference");
        // Both channels of a word at once.
        assert_eq!(r.readl(REG_DATA_BASE + 4), 512 << 16);
        // in_voltage_scale = 2500 / 2^10 mV per code: 409 codes are 998.5 mV.
        assert_eq!(u32::from(r.in_voltage_raw(0)) * 2500 / 1024, 998);
        assert_eq!(r.adc.raw(0), Some(409));
        assert_eq!(r.adc.millivolts(0), Some(1000));
        assert_eq!(r.adc.reading(3), Some(512));
    }

    #[test]
    fn linux_ast2600_probe_at_1200mv() {
        let mut r = rig(Variant::Ast2600);
        r.adc.set_millivolts(2, 600);
        r.adc.set_millivolts(5, 1000);
        let (cv, _) = r.linux_probe_ast2600(1200, 5);
        assert_eq!(cv, 0);
        assert_eq!(r.readl(REG_COMPENSATION_TRIM), 5);
        assert_eq!(
            r.readl(REG_ENGINE_CONTROL) & CTRL_REF_VOLTAGE_MASK,
            REF_VOLTAGE_1200MV << CTRL_REF_VOLTAGE_SHIFT
        );
        assert_eq!(r.adc.vref_mv(), 1200);
        assert_eq!(r.in_voltage_raw(2), 512);
        assert_eq!(r.in_voltage_raw(5), 853);
        // Linux reads bit 6 for the battery divider: set by the 1.2 V selection, so 1/3.
        assert_ne!(r.readl(REG_ENGINE_CONTROL) & CTRL_BAT_SENSING_DIV, 0);
    }

    #[test]
    fn a_reference_change_converts_the_kept_millivolts_again() {
        let mut r = rig(Variant::Ast2600);
        r.linux_probe_ast2600(2500, 8);
        assert!(r.adc.set_millivolts(4, 1000));
        assert_eq!(r.in_voltage_raw(4), 409);
        let ctrl = r.readl(REG_ENGINE_CONTROL) & !CTRL_REF_VOLTAGE_MASK;
        r.writel(
            REG_ENGINE_CONTROL,
            ctrl | (REF_VOLTAGE_1200MV << CTRL_REF_VOLTAGE_SHIFT),
        );
        assert_eq!(r.in_voltage_raw(4), 853);
        // External reference, high range, from a 1.8 V regulator.
        assert!(r.adc.set_external_vref_mv(1800));
        r.writel(
            REG_ENGINE_CONTROL,
            ctrl | (REF_VOLTAGE_EXT_HIGH << CTRL_REF_VOLTAGE_SHIFT),
        );
        assert_eq!(r.adc.vref_mv(), 1800);
        assert_eq!(r.in_voltage_raw(4), 568);
        // External, low range, from a 1.0 V regulator: 1 V is full scale.
        r.adc.set_external_vref_mv(1000);
        r.writel(
            REG_ENGINE_CONTROL,
            ctrl | (REF_VOLTAGE_EXT_LOW << CTRL_REF_VOLTAGE_SHIFT),
        );
        assert_eq!(r.in_voltage_raw(4), 1023);
        r.adc.set_millivolts(4, 250);
        assert_eq!(r.in_voltage_raw(4), 256);
        assert_eq!(r.adc.millivolts(4), Some(250));
        assert!(!r.adc.set_external_vref_mv(0));
        assert_eq!(r.adc.vref_mv(), 1000);
    }

    #[test]
    fn data_reads_zero_unless_enabled_normal_and_channel_on() {
        let mut r = rig(Variant::Ast2600);
        r.adc.set_millivolts(1, 1250);
        assert_eq!(r.in_voltage_raw(1), 0, "engine off");
        assert_eq!(r.adc.raw(1), Some(512), "the input still converts to 512");
        assert_eq!(r.adc.reading(1), Some(0));
        r.writel(
            REG_ENGINE_CONTROL,
            NORMAL_ENABLE | (1 << (CTRL_CHANNEL_SHIFT + 1)),
        );
        assert_eq!(r.in_voltage_raw(1), 512);
        r.writel(
            REG_ENGINE_CONTROL,
            NORMAL_ENABLE | (1 << CTRL_CHANNEL_SHIFT),
        );
        assert_eq!(r.in_voltage_raw(1), 0, "channel disabled");
        let standby = (OP_MODE_STANDBY << CTRL_OP_MODE_SHIFT) | CTRL_ENGINE_ENABLE;
        r.writel(REG_ENGINE_CONTROL, standby | CTRL_CHANNEL_MASK);
        assert_eq!(r.in_voltage_raw(1), 0, "standby");
        r.writel(
            REG_ENGINE_CONTROL,
            (OP_MODE_NORMAL << CTRL_OP_MODE_SHIFT) | CTRL_CHANNEL_MASK,
        );
        assert_eq!(r.in_voltage_raw(1), 0, "engine disabled");
        assert_eq!(r.readl(REG_ENGINE_CONTROL) & CTRL_INIT_RDY, 0);
        // aspeed_adc_power_down (driver removal).
        r.writel(REG_ENGINE_CONTROL, NORMAL_ENABLE | CTRL_CHANNEL_MASK);
        assert_eq!(r.in_voltage_raw(1), 512);
        r.writel(REG_ENGINE_CONTROL, OP_MODE_POWER_DOWN << CTRL_OP_MODE_SHIFT);
        assert_eq!(r.in_voltage_raw(1), 0);
        assert_eq!(r.readl(REG_ENGINE_CONTROL), 0);
    }

    #[test]
    fn data_registers_are_read_only() {
        let mut r = rig(Variant::Ast2600);
        r.writel(REG_ENGINE_CONTROL, NORMAL_ENABLE | CTRL_CHANNEL_MASK);
        r.adc.set_millivolts(0, 100);
        r.writel(REG_DATA_BASE, 0x0155_0155);
        assert_eq!(r.readl(REG_DATA_BASE), 40);
        assert_eq!(r.adc.unimplemented.reported(), 0);
    }

    #[test]
    fn compensation_mode_reads_half_scale() {
        let mut r = rig(Variant::Ast2500);
        r.adc.set_millivolts(0, 1700);
        r.adc.set_millivolts(9, 100);
        r.writel(
            REG_ENGINE_CONTROL,
            NORMAL_ENABLE | CTRL_COMPENSATION | (1 << CTRL_CHANNEL_SHIFT) | (1 << 25),
        );
        assert_eq!(r.in_voltage_raw(0), HALF_SCALE);
        assert_eq!(r.in_voltage_raw(9), HALF_SCALE);
        assert_eq!(r.in_voltage_raw(1), 0, "disabled channels stay 0");
        r.writel(
            REG_ENGINE_CONTROL,
            NORMAL_ENABLE | (1 << CTRL_CHANNEL_SHIFT),
        );
        assert_eq!(r.in_voltage_raw(0), raw_code(1700, 1800));
    }

    #[test]
    fn auto_compensation_reads_zero_and_ready_is_read_only() {
        let mut r = rig(Variant::Ast2600);
        r.writel(REG_ENGINE_CONTROL, CTRL_AUTO_COMPENSATION | CTRL_INIT_RDY);
        assert_eq!(r.readl(REG_ENGINE_CONTROL), 0);
        r.writel(REG_ENGINE_CONTROL, CTRL_ENGINE_ENABLE);
        assert_eq!(r.poll_init_ready(), 1, "ready at the first poll");
        assert_eq!(
            r.readl(REG_ENGINE_CONTROL),
            CTRL_ENGINE_ENABLE | CTRL_INIT_RDY
        );
    }

    #[test]
    fn linux_ast2500_probe_and_sixteen_channels() {
        let mut r = rig(Variant::Ast2500);
        for ch in 0..16 {
            assert!(r.adc.set_millivolts(ch, 100 * ch as u32 + 50));
        }
        assert!(!r.adc.set_millivolts(16, 5));
        // aspeed_adc_vref_config: fixed 1800 mV, no register access.
        // aspeed_adc_set_trim_data: SCU 0x154 bits 31:28.
        r.writel(REG_COMPENSATION_TRIM, 0x3);
        // clk: prescaler bits 31:17 and scaler bits 9:0.
        let clk = r.readl(REG_CLOCK_CONTROL);
        r.writel(REG_CLOCK_CONTROL, (clk & !0xFFFE_03FF) | (4 << 17) | 0x3F);
        assert_eq!(r.readl(REG_CLOCK_CONTROL), (4 << 17) | 0x3F);
        let ctrl = r.readl(REG_ENGINE_CONTROL) | NORMAL_ENABLE;
        r.writel(REG_ENGINE_CONTROL, ctrl);
        r.poll_init_ready();
        assert_eq!(r.linux_compensation(), 0);
        let ctrl = r.readl(REG_ENGINE_CONTROL) | CTRL_CHANNEL_MASK;
        r.writel(REG_ENGINE_CONTROL, ctrl);
        assert_eq!(r.readl(REG_ENGINE_CONTROL) >> 16, 0xFFFF);
        assert_eq!(r.readl(REG_COMPENSATION_TRIM), 3);
        for ch in 0..16u64 {
            let mv = 100 * ch as u32 + 50;
            assert_eq!(r.in_voltage_raw(ch), raw_code(mv, 1800), "channel {ch}");
        }
        assert_eq!(r.in_voltage_raw(8), 483, "850 mV at 1.8 V");
        assert_eq!(r.in_voltage_raw(15), 881, "1550 mV at 1.8 V");
        // The AST2500 has no reference select: bits 7:6 do not change the reference.
        r.writel(REG_ENGINE_CONTROL, ctrl | (1 << 6));
        assert_eq!(r.adc.vref_mv(), 1800);
        assert!(!r.adc.set_external_vref_mv(2500));
    }

    #[test]
    fn old_linux_ast2500_probe() {
        // The 4.x driver: NORMAL | ENABLE, poll, then GENMASK(31, 16) | NORMAL | ENABLE.
        let mut r = rig(Variant::Ast2500);
        r.adc.set_millivolts(15, 900);
        r.writel(REG_ENGINE_CONTROL, NORMAL_ENABLE);
        r.poll_init_ready();
        r.writel(REG_ENGINE_CONTROL, 0xFFFF_0000 | NORMAL_ENABLE);
        assert_eq!(r.readw(0x2E), 512);
        assert_eq!(r.readl(0x2C), 512 << 16);
    }

    #[test]
    fn ast2600_has_only_eight_channels() {
        let mut r = rig(Variant::Ast2600);
        assert!(!r.adc.set_millivolts(8, 100));
        assert_eq!(r.adc.millivolts(8), None);
        assert_eq!(r.adc.raw(8), None);
        r.writel(REG_ENGINE_CONTROL, 0xFFFF_0000 | NORMAL_ENABLE);
        assert_eq!(r.readl(REG_ENGINE_CONTROL) >> 16, 0xFF);
        // Data 8..15, bounds 8..15 and hysteresis 8..15 do not exist.
        for off in [0x20, 0x2C, 0x50, 0x6C, 0x90, 0xAC] {
            assert_eq!(r.readl(off), 0);
        }
        assert_eq!(r.adc.unimplemented.reported(), 6);
        r.writel(REG_INTERRUPT_CONTROL, 0xFFFF_FFFF);
        assert_eq!(r.readl(REG_INTERRUPT_CONTROL), 0x00FF_0000);
        r.writel(REG_INTERRUPT_SOURCE, 0xFFFF);
        assert_eq!(r.readl(REG_INTERRUPT_SOURCE), 0xFF);
    }

    #[test]
    fn battery_sensing_divides_channel_7() {
        let mut r = rig(Variant::Ast2600);
        r.linux_probe_ast2600(2500, 8);
        r.adc.set_millivolts(7, 3000);
        assert_eq!(r.in_voltage_raw(7), 1023);
        // aspeed_adc_read_raw for the battery channel: bits 12 and 13, 1 ms, read, restore.
        let saved = r.readl(REG_ENGINE_CONTROL);
        r.writel(
            REG_ENGINE_CONTROL,
            saved | CTRL_CH7_MODE | CTRL_BAT_SENSING_ENABLE,
        );
        let raw = r.in_voltage_raw(7);
        assert_eq!(raw, 819, "2/3 of 3 V at 2.5 V");
        assert_eq!(
            u32::from(raw) * 3 / 2,
            1228,
            "Linux's battery_mode_gain 3/2"
        );
        assert_eq!(r.adc.raw(7), Some(819));
        assert_eq!(r.in_voltage_raw(6), 0, "other channels unaffected");
        r.writel(REG_ENGINE_CONTROL, saved);
        assert_eq!(r.in_voltage_raw(7), 1023);
        // With the 1.2 V reference bit 6 is set: divider 1/3.
        let mut r = rig(Variant::Ast2600);
        r.linux_probe_ast2600(1200, 8);
        r.adc.set_millivolts(7, 3000);
        let saved = r.readl(REG_ENGINE_CONTROL);
        r.writel(
            REG_ENGINE_CONTROL,
            saved | CTRL_CH7_MODE | CTRL_BAT_SENSING_ENABLE,
        );
        assert_eq!(r.in_voltage_raw(7), 853, "1/3 of 3 V at 1.2 V");
        // Only one of the two bits: no battery mode.
        r.writel(REG_ENGINE_CONTROL, saved | CTRL_BAT_SENSING_ENABLE);
        assert_eq!(r.in_voltage_raw(7), 1023);
    }

    /// Enables channel `ch`'s threshold interrupt with bounds `lo..=hi`.
    fn arm(r: &mut Rig, ch: u32, lo: u32, hi: u32) {
        r.writel(REG_BOUNDS_BASE + 4 * u64::from(ch), (hi << 16) | lo);
        let ic = r.readl(REG_INTERRUPT_CONTROL) & !INT_STATUS_MASK;
        r.writel(REG_INTERRUPT_CONTROL, ic | (1 << (16 + ch)));
    }

    #[test]
    fn threshold_interrupt_when_a_channel_leaves_its_bounds() {
        let mut r = rig(Variant::Ast2600);
        r.linux_probe_ast2600(2500, 8);
        r.adc.set_millivolts(3, 1250); // 512
        arm(&mut r, 3, 100, 800);
        assert_eq!(r.readl(REG_BOUNDS_BASE + 12), (800 << 16) | 100);
        assert!(!r.rec.level(0));
        assert!(r.adc.take_threshold_events().is_empty());
        r.adc.set_millivolts(3, 2200); // 901
        assert!(r.rec.level(0));
        assert_eq!(r.readl(REG_INTERRUPT_CONTROL), (1 << 19) | (1 << 3));
        assert_eq!(
            r.adc.take_threshold_events(),
            vec![ThresholdEvent {
                channel: 3,
                raw: 901,
                above: true
            }]
        );
        // Acknowledge: write 1 to the status bit (enables written back unchanged).
        r.writel(REG_INTERRUPT_CONTROL, (1 << 19) | (1 << 3));
        assert!(!r.rec.level(0));
        assert_eq!(r.readl(REG_INTERRUPT_CONTROL), 1 << 19);
        // Still out of bounds: no new interrupt until it has come back.
        r.adc.set_millivolts(3, 2300);
        assert!(!r.rec.level(0));
        r.adc.set_millivolts(3, 1000); // 409, back inside
        assert!(!r.rec.level(0));
        r.adc.set_millivolts(3, 200); // 81, below the lower bound
        assert!(r.rec.level(0));
        assert_eq!(
            r.adc.take_threshold_events(),
            vec![ThresholdEvent {
                channel: 3,
                raw: 81,
                above: false
            }]
        );
        // Writing 0 to the status bit does not clear it.
        r.writel(REG_INTERRUPT_CONTROL, 1 << 19);
        assert!(r.rec.level(0));
        // Masking the enable lowers the line and keeps the status.
        r.writel(REG_INTERRUPT_CONTROL, 0);
        assert!(!r.rec.level(0));
        assert_eq!(r.readl(REG_INTERRUPT_CONTROL), 1 << 3);
        r.writel(REG_INTERRUPT_CONTROL, 1 << 3);
        assert_eq!(r.readl(REG_INTERRUPT_CONTROL), 0);
        assert_eq!(
            r.rec.changes(),
            vec![(0, true), (0, false), (0, true), (0, false)]
        );
    }

    #[test]
    fn a_reference_change_can_trip_a_threshold() {
        let mut r = rig(Variant::Ast2600);
        r.linux_probe_ast2600(2500, 8);
        r.adc.set_millivolts(0, 1000); // 409 at 2.5 V, 853 at 1.2 V
        arm(&mut r, 0, 0, 600);
        assert!(!r.adc.irq_pending());
        let ctrl = r.readl(REG_ENGINE_CONTROL);
        r.writel(
            REG_ENGINE_CONTROL,
            ctrl | (REF_VOLTAGE_1200MV << CTRL_REF_VOLTAGE_SHIFT),
        );
        assert!(r.adc.irq_pending());
        assert_eq!(r.adc.take_threshold_events()[0].raw, 853);
    }

    #[test]
    fn no_status_without_the_interrupt_enable_or_while_not_converting() {
        let mut r = rig(Variant::Ast2600);
        r.adc.set_millivolts(2, 2400);
        r.writel(REG_BOUNDS_BASE + 8, 100 << 16);
        r.writel(REG_INTERRUPT_CONTROL, 1 << 18);
        assert_eq!(r.readl(REG_INTERRUPT_CONTROL), 1 << 18, "engine off");
        r.writel(REG_ENGINE_CONTROL, NORMAL_ENABLE | (1 << 16));
        assert_eq!(r.readl(REG_INTERRUPT_CONTROL), 1 << 18, "channel 2 off");
        r.writel(REG_INTERRUPT_CONTROL, 0);
        r.writel(REG_ENGINE_CONTROL, NORMAL_ENABLE | CTRL_CHANNEL_MASK);
        assert_eq!(r.readl(REG_INTERRUPT_CONTROL), 0, "interrupt not enabled");
        r.writel(REG_INTERRUPT_CONTROL, 1 << 18);
        assert_eq!(r.readl(REG_INTERRUPT_CONTROL), (1 << 18) | (1 << 2));
        assert!(r.rec.level(0));
    }

    #[test]
    fn hysteresis_delays_rearming() {
        let mut r = rig(Variant::Ast2500);
        r.writel(REG_ENGINE_CONTROL, NORMAL_ENABLE | CTRL_CHANNEL_MASK);
        let code = |c: u32| c * 1800 / 1024 + 1; // mV that converts to code c
        r.adc.set_millivolts(12, code(500));
        arm(&mut r, 12, 100, 800);
        r.writel(
            REG_HYSTERESIS_BASE + 48,
            HYSTERESIS_ENABLE | (700 << 16) | 200,
        );
        assert_eq!(
            r.readl(REG_HYSTERESIS_BASE + 48),
            HYSTERESIS_ENABLE | (700 << 16) | 200
        );
        r.adc.set_millivolts(12, code(900));
        assert_eq!(r.adc.take_threshold_events().len(), 1);
        r.writel(REG_INTERRUPT_CONTROL, (1 << 28) | (1 << 12));
        assert!(!r.adc.irq_pending());
        r.adc.set_millivolts(12, code(750)); // inside the bounds, outside the hysteresis
        r.adc.set_millivolts(12, code(900));
        assert!(!r.adc.irq_pending(), "not re-armed at 750");
        r.adc.set_millivolts(12, code(650)); // inside the hysteresis: re-armed
        r.adc.set_millivolts(12, code(900));
        assert!(r.adc.irq_pending());
        let ev = r.adc.take_threshold_events();
        assert_eq!(ev.len(), 1);
        assert_eq!((ev[0].channel, ev[0].raw, ev[0].above), (12, 900, true));
    }

    #[test]
    fn byte_writes_to_interrupt_control_clear_only_what_they_write() {
        let mut r = rig(Variant::Ast2600);
        r.writel(REG_ENGINE_CONTROL, NORMAL_ENABLE | CTRL_CHANNEL_MASK);
        for ch in [0u32, 5] {
            r.adc.set_millivolts(ch as usize, 2000);
            arm(&mut r, ch, 0, 10);
        }
        assert_eq!(r.readl(REG_INTERRUPT_CONTROL), 0x0021_0021);
        // Byte 2 (the enables) rewritten: the status bits in byte 0 are not written.
        r.adc.write(REG_INTERRUPT_CONTROL + 2, 1, 0x21);
        assert_eq!(r.readl(REG_INTERRUPT_CONTROL), 0x0021_0021);
        r.adc.write(REG_INTERRUPT_CONTROL, 1, 0x20);
        assert_eq!(r.readl(REG_INTERRUPT_CONTROL), 0x0021_0001);
        assert!(r.rec.level(0));
        r.adc.write(REG_INTERRUPT_CONTROL, 2, 0x01);
        assert_eq!(r.readl(REG_INTERRUPT_CONTROL), 0x0021_0000);
        assert!(!r.rec.level(0));
    }

    #[test]
    fn register_masks() {
        let mut r = rig(Variant::Ast2600);
        r.writel(REG_BOUNDS_BASE, 0xFFFF_FFFF);
        assert_eq!(r.readl(REG_BOUNDS_BASE), LH_MASK);
        r.writel(REG_HYSTERESIS_BASE + 28, 0xFFFF_FFFF);
        assert_eq!(r.readl(REG_HYSTERESIS_BASE + 28), 0x83FF_03FF);
        r.writel(REG_COMPENSATION_TRIM, 0xFFFF_FFFF);
        assert_eq!(r.readl(REG_COMPENSATION_TRIM), 0xF);
        r.writel(REG_CLOCK_CONTROL, 0xFFFF_FFFF);
        assert_eq!(r.readl(REG_CLOCK_CONTROL), 0xFFFF);
        r.writel(REG_VGA_DETECT_CONTROL, 0xFFFF_FFFF);
        assert_eq!(r.readl(REG_VGA_DETECT_CONTROL), 0x0001_03FF);
        r.writel(REG_ENGINE_CONTROL, 0xFFFF_FFFF);
        assert_eq!(r.readl(REG_ENGINE_CONTROL), 0x00FF_31DF);
        let mut r = rig(Variant::Ast2500);
        r.writel(REG_ENGINE_CONTROL, 0xFFFF_FFFF);
        assert_eq!(r.readl(REG_ENGINE_CONTROL), 0xFFFF_01DF);
        r.writel(REG_CLOCK_CONTROL, 0xFFFF_FFFF);
        assert_eq!(r.readl(REG_CLOCK_CONTROL), 0xFFFE_03FF);
        r.writel(REG_HYSTERESIS_BASE + 60, 0xFFFF_FFFF);
        assert_eq!(r.readl(REG_HYSTERESIS_BASE + 60), 0x83FF_03FF);
    }

    #[test]
    fn unknown_offsets_and_every_width_are_accepted() {
        let mut r = rig(Variant::Ast2600);
        assert_eq!(r.readl(0xC8), 0);
        assert_eq!(r.readl(0xCC), 0);
        r.writel(0xCC, 3);
        assert_eq!(r.adc.unimplemented.reported(), 0, "0xC8..0xCC are known");
        assert_eq!(r.readl(0xD0), 0);
        r.writel(0xFC, 5);
        assert_eq!(r.adc.unimplemented.reported(), 2);
        r.adc.write(REG_BOUNDS_BASE + 2, 2, 0x3FF);
        assert_eq!(r.readl(REG_BOUNDS_BASE), 0x03FF_0000);
        assert_eq!(r.adc.read(REG_BOUNDS_BASE + 2, 1), 0xFF);
        assert_eq!(
            r.adc.read(REG_BOUNDS_BASE, 8),
            0x03FF_0000,
            "8 bytes: bounds 0 and 1"
        );
        for off in (0..0x140u64).chain([u64::MAX - 1]) {
            for size in [0u8, 1, 2, 3, 4, 8, 16] {
                r.adc.read(off, size);
                r.adc.write(off, size, u64::MAX);
            }
        }
    }

    #[test]
    fn reset_keeps_the_inputs_and_state_round_trips() {
        let mut r = rig(Variant::Ast2600);
        r.linux_probe_ast2600(1200, 8);
        r.adc.set_millivolts(6, 1100);
        r.adc.set_external_vref_mv(1500);
        arm(&mut r, 6, 0, 100);
        assert!(r.rec.level(0));
        let s = r.adc.state();
        let rec = LevelRecorder::new();
        let mut copy = AspeedAdc::from_state(&s, Variant::Ast2600, rec.line(0));
        assert_eq!(copy.state(), s);
        assert!(rec.level(0));
        assert_eq!(copy.read(REG_DATA_BASE + 0xC, 2), 938);
        r.adc.reset();
        assert!(!r.rec.level(0));
        let after = r.adc.state();
        assert_eq!(
            after,
            AdcState {
                millivolts: s.millivolts,
                external_vref_mv: 1500,
                ..AdcState::default()
            }
        );
        assert_eq!(r.adc.millivolts(6), Some(1100));
        assert_eq!(r.in_voltage_raw(6), 0, "engine off after reset");
        // A 16-channel state given to an 8-channel engine loses channels 8..15.
        let big = AdcState {
            millivolts: [7; MAX_CHANNELS],
            interrupt_control: 0xFFFF_FFFF,
            ..AdcState::default()
        };
        let adc = AspeedAdc::from_state(&big, Variant::Ast2600, IrqLine::disconnected());
        assert_eq!(adc.state().millivolts[8..], [0; 8]);
        assert_eq!(adc.state().interrupt_control, 0x00FF_00FF);
    }

    // ---- Snapshots ----

    /// Every register of the block as Linux reads it.
    fn registers(r: &mut Rig) -> Vec<u32> {
        (0..REGS_SIZE).step_by(4).map(|off| r.readl(off)).collect()
    }

    /// An AST2600 engine converting channels 0-3 at 1.2 V, with channel 2's threshold
    /// (100..=500, hysteresis 150..=450) tripped by 800 mV and its interrupt pending.
    fn tripped_engine() -> Rig {
        let mut r = rig(Variant::Ast2600);
        let ctrl = NORMAL_ENABLE
            | (REF_VOLTAGE_1200MV << CTRL_REF_VOLTAGE_SHIFT)
            | (0xF << CTRL_CHANNEL_SHIFT);
        r.writel(REG_ENGINE_CONTROL, ctrl);
        r.writel(REG_COMPENSATION_TRIM, 0x8);
        r.writel(REG_CLOCK_CONTROL, 0x40);
        r.writel(REG_BOUNDS_BASE + 8, (500 << HIGH_FIELD_SHIFT) | 100);
        r.writel(
            REG_HYSTERESIS_BASE + 8,
            HYSTERESIS_ENABLE | (450 << HIGH_FIELD_SHIFT) | 150,
        );
        r.adc.set_millivolts(0, 300);
        r.adc.set_millivolts(2, 300);
        r.adc.set_external_vref_mv(1800);
        r.writel(REG_INTERRUPT_CONTROL, 1 << (INT_ENABLE_SHIFT + 2));
        r.adc.set_millivolts(2, 800);
        assert!(r.rec.level(0), "channel 2 left its bounds");
        assert_eq!(r.adc.take_threshold_events().len(), 1);
        r
    }

    #[test]
    fn saved_state_restores_registers_inputs_and_the_tripped_threshold() {
        let mut r = tripped_engine();
        let saved = r.adc.save_state().expect("an ADC engine saves its state");
        assert_eq!(
            (saved.kind.as_str(), saved.version),
            (STATE_KIND, STATE_VERSION)
        );
        let mut t = rig(Variant::Ast2600);
        t.adc.load_state(&saved).unwrap();
        assert!(
            t.rec.level(0),
            "the restored engine raises its pending interrupt"
        );
        assert_eq!(t.adc.save_state(), Some(saved));
        assert!(
            t.adc.take_threshold_events().is_empty(),
            "nothing compared anew"
        );
        let regs = registers(&mut r);
        assert_eq!(
            regs[(REG_DATA_BASE / 4) as usize + 1] & FIELD_MASK,
            682,
            "800 mV at 1.2 V"
        );
        assert_eq!(registers(&mut t), regs);
        assert_eq!(t.adc.millivolts(2), Some(800));
        // Afterwards both keep channel 2 tripped until it is back within its hysteresis.
        for c in [&mut r, &mut t] {
            c.writel(REG_INTERRUPT_CONTROL, (1 << (INT_ENABLE_SHIFT + 2)) | 0b100);
            assert!(!c.rec.level(0));
            c.adc.set_millivolts(2, 700);
            assert!(c.adc.take_threshold_events().is_empty(), "still tripped");
            c.adc.set_millivolts(2, 300);
            c.adc.set_millivolts(2, 800);
            let events = c.adc.take_threshold_events();
            assert_eq!(
                events,
                vec![ThresholdEvent {
                    channel: 2,
                    raw: 682,
                    above: true
                }]
            );
            assert!(c.rec.level(0));
        }
        assert_eq!(t.adc.state(), r.adc.state());
    }

    #[test]
    fn a_state_of_another_kind_version_or_engine_is_refused() {
        let saved = tripped_engine().adc.save_state().unwrap();
        let mut r = rig(Variant::Ast2500);
        r.adc.set_millivolts(12, 900);
        r.writel(REG_ENGINE_CONTROL, NORMAL_ENABLE);
        let before = r.adc.state();
        let changes = r.rec.changes();
        let wrong_kind = DeviceState {
            kind: "aspeed-gpio".into(),
            ..saved.clone()
        };
        let wrong_version = DeviceState {
            version: STATE_VERSION + 1,
            ..saved.clone()
        };
        for bad in [&wrong_kind, &wrong_version] {
            assert!(r.adc.load_state(bad).is_err());
        }
        let e = r.adc.load_state(&saved).unwrap_err();
        assert!(
            e.0.contains("8 channels") && e.0.contains("16 channels"),
            "{e}"
        );
        assert_eq!(r.adc.state(), before, "left unchanged");
        assert_eq!(r.rec.changes(), changes, "the line is not touched");
        // An AST2500 state restores its sixteen channels into an AST2500 engine.
        let saved = r.adc.save_state().unwrap();
        let mut t = rig(Variant::Ast2500);
        t.adc.load_state(&saved).unwrap();
        assert_eq!(t.adc.millivolts(12), Some(900));
        assert_eq!(registers(&mut t), registers(&mut r));
        // A state without pending interrupts lowers a line that was high.
        let mut high = tripped_engine();
        high.adc
            .load_state(&rig(Variant::Ast2600).adc.save_state().unwrap())
            .unwrap();
        assert!(!high.rec.level(0));
    }
}
