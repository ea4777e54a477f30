//! An 8-bit I2C GPIO expander with interrupt in the PCA9554 register layout, shared by the
//! PCA9534, PCA9538 and TCA6408 ([`Pca9554Kind`]), as Linux's `gpio-pca953x` drives it.
//!
//! Sources: NXP PCA9554/PCA9554A and TI PCA9554 / PCA9554A datasheets (register descriptions,
//! power-on values, the interrupt output), TI TCA9554 datasheet (the command byte does not
//! increment), Linux `drivers/gpio/gpio-pca953x.c` (8-bit parts: registers 0 input, 1 output,
//! 2 invert, 3 direction, one SMBus byte transfer each; the interrupt handler reads the input
//! register). QEMU has a model (`hw/gpio/pca9554.c`) since 2023, after QEMU 7.2; its
//! register map agrees. Facts only; no code is taken from either.
//!
//! Registers, selected by the low two bits of the command byte (the first byte of a write
//! transaction; it is kept across transactions and never increments, so every further byte of
//! a transfer goes to, or comes from, the same register):
//! - 0 **Input port** (read-only): the level of every pin, whether input or output, with the
//!   bits of input pins inverted where the polarity register says so (the datasheets: the
//!   polarity register "allows polarity inversion of pins defined as inputs"; QEMU inverts
//!   every bit);
//! - 1 **Output port** (power-on 0xFF): the levels output pins drive; reads return the
//!   register, not the pins;
//! - 2 **Polarity inversion** (power-on 0x00);
//! - 3 **Configuration** (power-on 0xFF): 1 = input (high-impedance), 0 = output.
//!
//! An input pin is at the level applied from outside ([`Pca9554::set_input_level`]; high when
//! nothing drives it, as the PCA9554's pull-ups or the board's make it). The open-drain INT
//! output goes low when an input pin's level differs from what it was when the input port
//! register was last read, and is released when the guest reads the input port register or
//! the pins return to those levels; only pins configured as inputs count, so turning an output
//! into an input whose level differs also asserts it (the datasheets warn of exactly that).
//! [`Pca9554::connect_interrupt`] gives INT a line; [`Pca9554::connect_pin`] gives any pin one.
#![deny(missing_docs)]

use bus::{DeviceState, IrqLine, StateError};
use i2c::I2cTarget;
use serde::{Deserialize, Serialize};

/// The kind of an expander's saved state ([`DeviceState::kind`]), every part's.
pub const STATE_KIND: &str = "pca9554";
/// The format version of an expander's saved state: [`Pca9554State`] as this build serialises
/// it.
pub const STATE_VERSION: u32 = 1;

/// Input port register (read-only): Linux `PCA953X_INPUT`.
pub const REG_INPUT: u8 = 0x00;
/// Output port register: Linux `PCA953X_OUTPUT`.
pub const REG_OUTPUT: u8 = 0x01;
/// Polarity inversion register: Linux `PCA953X_INVERT`.
pub const REG_POLARITY: u8 = 0x02;
/// Configuration register (1 = input): Linux `PCA953X_DIRECTION`.
pub const REG_CONFIG: u8 = 0x03;
/// Command byte bits that select the register (B1:B0).
pub const COMMAND_MASK: u8 = 0x03;

/// Output port at power-on: all ones (datasheet register 1 default).
pub const OUTPUT_RESET: u8 = 0xFF;
/// Polarity inversion at power-on: none (datasheet register 2 default).
pub const POLARITY_RESET: u8 = 0x00;
/// Configuration at power-on: all inputs (datasheet register 3 default).
pub const CONFIG_RESET: u8 = 0xFF;
/// Number of I/O pins.
pub const PINS: usize = 8;

/// The parts with this register layout. They behave alike; the kind names the part and the
/// addresses it can be strapped to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Pca9554Kind {
    /// NXP/TI PCA9554 (0x20..0x27) or PCA9554A (0x38..0x3F): Linux `nxp,pca9554`.
    #[default]
    Pca9554,
    /// NXP/TI PCA9534 (0x20..0x27) or PCA9534A (0x38..0x3F): Linux `nxp,pca9534`.
    Pca9534,
    /// NXP/TI PCA9538 (0x70..0x73), with a RESET pin ([`Pca9554::reset`]): Linux
    /// `nxp,pca9538`.
    Pca9538,
    /// TI TCA6408 / TCA6408A (0x20, 0x21): Linux `ti,tca6408`.
    Tca6408,
}

impl Pca9554Kind {
    /// Every part.
    pub const ALL: [Pca9554Kind; 4] = [
        Pca9554Kind::Pca9554,
        Pca9554Kind::Pca9534,
        Pca9554Kind::Pca9538,
        Pca9554Kind::Tca6408,
    ];

    /// The Linux device name (`"pca9554"`).
    pub fn name(self) -> &'static str {
        match self {
            Pca9554Kind::Pca9554 => "pca9554",
            Pca9554Kind::Pca9534 => "pca9534",
            Pca9554Kind::Pca9538 => "pca9538",
            Pca9554Kind::Tca6408 => "tca6408",
        }
    }

    /// The part a Linux name designates: the I2C device id (`"pca9554"`) or the device tree
    /// compatible (`"nxp,pca9554"`, `"ti,tca6408"`), in any letter case.
    pub fn by_name(name: &str) -> Option<Self> {
        let name = name.to_ascii_lowercase();
        let name = ["nxp,", "ti,"]
            .iter()
            .find_map(|vendor| name.strip_prefix(vendor))
            .unwrap_or(&name);
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether the part (or its "A" variant) can be strapped to 7-bit `address` (datasheets,
    /// device address: 0100 A2 A1 A0 and 0111 A2 A1 A0; 1110 0 A1 A0; 0100 00 ADDR).
    pub fn accepts_address(self, address: u8) -> bool {
        match self {
            Pca9554Kind::Pca9554 | Pca9554Kind::Pca9534 => {
                (0x20..=0x27).contains(&address) || (0x38..=0x3F).contains(&address)
            }
            Pca9554Kind::Pca9538 => (0x70..=0x73).contains(&address),
            Pca9554Kind::Tca6408 => (0x20..=0x21).contains(&address),
        }
    }
}

/// What a pin's driver does, for the host (a GPIO socket).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinOutput {
    /// An input: the pin is at the level applied from outside.
    HighImpedance,
    /// An output driving high.
    High,
    /// An output driving low.
    Low,
}

/// The registers, transfer state and externally applied levels: a plain value that can be
/// saved and restored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pca9554State {
    /// Which part.
    pub kind: Pca9554Kind,
    /// The command byte (B1:B0 select the register).
    pub command: u8,
    /// Bytes written in the current transaction (the first is the command byte).
    pub count: u8,
    /// Output port register.
    pub output: u8,
    /// Polarity inversion register.
    pub polarity: u8,
    /// Configuration register (1 = input).
    pub config: u8,
    /// The level applied to each pin from outside, bit N for pin N, 1 = high (undriven).
    pub external: u8,
    /// The pin levels when the input port register was last read (or at reset): INT is
    /// asserted while an input pin differs from this.
    pub input_latch: u8,
}

impl Pca9554State {
    /// The power-on state of `kind`, nothing outside driving its pins.
    pub fn power_on(kind: Pca9554Kind) -> Self {
        Self {
            kind,
            command: 0,
            count: 0,
            output: OUTPUT_RESET,
            polarity: POLARITY_RESET,
            config: CONFIG_RESET,
            external: 0xFF,
            input_latch: 0xFF,
        }
    }

    /// Every pin's level, bit N for pin N: the output register on outputs, the outside level
    /// on inputs.
    pub fn pin_levels(&self) -> u8 {
        (self.output & !self.config) | (self.external & self.config)
    }

    /// The input port register: the pin levels, inverted on input pins with polarity set.
    pub fn input_register(&self) -> u8 {
        self.pin_levels() ^ (self.polarity & self.config)
    }

    /// Whether INT is asserted: an input pin differs from the last read of the input port.
    pub fn interrupt_pending(&self) -> bool {
        (self.pin_levels() ^ self.input_latch) & self.config != 0
    }
}

/// A PCA9554-style 8-bit GPIO expander.
#[derive(Debug)]
pub struct Pca9554 {
    state: Pca9554State,
    pin_lines: [Option<IrqLine>; PINS],
    interrupt: Option<IrqLine>,
    /// The pin levels and INT pending state last driven on the lines.
    levels: u8,
    pending: bool,
}

impl Pca9554 {
    /// A part of `kind` in its power-on state: all pins inputs, undriven (high), INT released.
    pub fn new(kind: Pca9554Kind) -> Self {
        Self::from_state(&Pca9554State::power_on(kind))
    }

    /// A part restored from `state`.
    pub fn from_state(state: &Pca9554State) -> Self {
        let mut state = state.clone();
        state.command &= COMMAND_MASK;
        Self {
            levels: state.pin_levels(),
            pending: state.interrupt_pending(),
            state,
            pin_lines: Default::default(),
            interrupt: None,
        }
    }

    /// A copy of the registers, transfer state and external levels.
    pub fn state(&self) -> Pca9554State {
        self.state.clone()
    }

    /// Which part this is.
    pub fn kind(&self) -> Pca9554Kind {
        self.state.kind
    }

    /// Power-on reset (or the PCA9538's RESET pin): the registers return to their power-on
    /// values and INT is released. The levels applied from outside and the lines stay.
    pub fn reset(&mut self) {
        let external = self.state.external;
        self.state = Pca9554State {
            external,
            input_latch: external,
            ..Pca9554State::power_on(self.state.kind)
        };
        self.update_lines();
    }

    /// Applies level `high` to `pin` from outside (true: high, or undriven; false: driven
    /// low). An input pin takes it (and may assert INT); an output pin keeps driving its
    /// register value. Returns false if there is no such pin.
    pub fn set_input_level(&mut self, pin: usize, high: bool) -> bool {
        if pin >= PINS {
            return false;
        }
        let bit = 1u8 << pin;
        if high {
            self.state.external |= bit;
        } else {
            self.state.external &= !bit;
        }
        self.update_lines();
        true
    }

    /// The level applied to `pin` from outside, as last set (high by default).
    pub fn input_level(&self, pin: usize) -> Option<bool> {
        (pin < PINS).then(|| self.state.external & (1 << pin) != 0)
    }

    /// The level on `pin` (true: high): its output register bit if it is an output, the
    /// outside level if it is an input.
    pub fn pin_level(&self, pin: usize) -> Option<bool> {
        (pin < PINS).then(|| self.state.pin_levels() & (1 << pin) != 0)
    }

    /// What `pin`'s driver does.
    pub fn pin_output(&self, pin: usize) -> Option<PinOutput> {
        if pin >= PINS {
            return None;
        }
        let bit = 1u8 << pin;
        Some(if self.state.config & bit != 0 {
            PinOutput::HighImpedance
        } else if self.state.output & bit != 0 {
            PinOutput::High
        } else {
            PinOutput::Low
        })
    }

    /// Whether INT is asserted (driven low).
    pub fn interrupt_asserted(&self) -> bool {
        self.state.interrupt_pending()
    }

    /// Makes `line` follow `pin`'s level (true: high), driving it now and at every change.
    /// The line's sink must not borrow this device. Returns false if there is no such pin.
    pub fn connect_pin(&mut self, pin: usize, line: IrqLine) -> bool {
        let Some(slot) = self.pin_lines.get_mut(pin) else {
            return false;
        };
        line.set(self.levels & (1 << pin) != 0);
        *slot = Some(line);
        true
    }

    /// Makes `line` follow the INT pin's electrical level: high (true) while released, low
    /// (false) while asserted, as a GPIO input of the SoC would see the open-drain output
    /// with its pull-up. Driven now and at every change; the sink must not borrow this device.
    pub fn connect_interrupt(&mut self, line: IrqLine) {
        line.set(!self.pending);
        self.interrupt = Some(line);
    }

    fn update_lines(&mut self) {
        let levels = self.state.pin_levels();
        let changed = levels ^ self.levels;
        self.levels = levels;
        for (pin, line) in self.pin_lines.iter().enumerate() {
            if let Some(line) = line.as_ref().filter(|_| changed & (1 << pin) != 0) {
                line.set(levels & (1 << pin) != 0);
            }
        }
        let pending = self.state.interrupt_pending();
        if pending != self.pending {
            self.pending = pending;
            if let Some(line) = &self.interrupt {
                line.set(!pending);
            }
        }
    }

    fn read_register(&mut self) -> u8 {
        let s = &mut self.state;
        match s.command & COMMAND_MASK {
            REG_INPUT => {
                // Reading the input port releases INT: this is now the latched state.
                s.input_latch = s.pin_levels();
                let value = s.input_register();
                self.update_lines();
                value
            }
            REG_OUTPUT => s.output,
            REG_POLARITY => s.polarity,
            _ => s.config,
        }
    }

    fn write_register(&mut self, value: u8) {
        let s = &mut self.state;
        match s.command & COMMAND_MASK {
            REG_INPUT => {
                log::debug!(
                    "{}: write {value:#04x} to the input port ignored",
                    s.kind.name()
                );
                return;
            }
            REG_OUTPUT => s.output = value,
            REG_POLARITY => s.polarity = value,
            _ => s.config = value,
        }
        self.update_lines();
    }
}

impl I2cTarget for Pca9554 {
    fn start(&mut self, _read: bool) -> bool {
        self.state.count = 0;
        true
    }

    fn write(&mut self, byte: u8) -> bool {
        let s = &mut self.state;
        if s.count == 0 {
            s.count = 1;
            if byte & !COMMAND_MASK != 0 {
                log::debug!("{}: command byte {byte:#04x} out of range", s.kind.name());
            }
            s.command = byte & COMMAND_MASK;
            return true;
        }
        s.count = s.count.saturating_add(1);
        self.write_register(byte);
        true
    }

    fn read(&mut self) -> u8 {
        self.read_register()
    }

    fn stop(&mut self) {
        self.state.count = 0;
    }

    /// The registers, the transfer progress, the levels applied from outside and the input
    /// latch INT compares against ([`Pca9554State`]); the lines are wiring.
    fn save_state(&self) -> Option<DeviceState> {
        Some(DeviceState::new(STATE_KIND, STATE_VERSION, &self.state))
    }

    /// Refuses another part's state; keeps the connected lines and drives each pin line and
    /// INT to the restored levels.
    fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        let s: Pca9554State = state.decode(STATE_KIND, STATE_VERSION)?;
        if s.kind != self.state.kind {
            return Err(StateError(format!(
                "{STATE_KIND}: the state is of a {}, this part is a {}",
                s.kind.name(),
                self.state.kind.name()
            )));
        }
        let restored = Self::from_state(&s);
        self.state = restored.state;
        self.levels = restored.levels;
        self.pending = restored.pending;
        for (pin, line) in self.pin_lines.iter().enumerate() {
            if let Some(line) = line {
                line.set(self.levels & (1 << pin) != 0);
            }
        }
        if let Some(line) = &self.interrupt {
            line.set(!self.pending);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bus::LevelRecorder;
    use i2c::I2cBus;
    use std::cell::RefCell;
    use std::rc::Rc;

    const ADDR: u8 = 0x27;

    fn on_bus() -> (Rc<RefCell<Pca9554>>, I2cBus) {
        let chip = Rc::new(RefCell::new(Pca9554::new(Pca9554Kind::Pca9554)));
        let mut bus = I2cBus::new();
        bus.attach(ADDR, chip.clone()).unwrap();
        (chip, bus)
    }

    /// Linux's `i2c_smbus_read_byte_data`.
    fn read_byte(bus: &mut I2cBus, reg: u8) -> u8 {
        assert!(bus.start(ADDR, false) && bus.write(reg) && bus.start(ADDR, true));
        let v = bus.read();
        bus.stop();
        v
    }

    /// Linux's `i2c_smbus_write_byte_data`.
    fn write_byte(bus: &mut I2cBus, reg: u8, value: u8) {
        assert!(bus.start(ADDR, false) && bus.write(reg) && bus.write(value));
        bus.stop();
    }

    #[test]
    fn power_on_values_are_the_datasheet_ones() {
        let (_, mut bus) = on_bus();
        // Input (undriven pins read 1), output 1s, polarity 0s, configuration 1s (inputs).
        assert_eq!(
            [0, 1, 2, 3].map(|r| read_byte(&mut bus, r)),
            [0xFF, 0xFF, 0x00, 0xFF]
        );
    }

    #[test]
    fn linux_probe_then_outputs_and_inputs() {
        let (chip, mut bus) = on_bus();
        // device_pca953x_init: read output and direction, write invert = 0.
        assert_eq!(read_byte(&mut bus, 1), 0xFF);
        assert_eq!(read_byte(&mut bus, 3), 0xFF);
        write_byte(&mut bus, 2, 0x00);
        // direction_output(pin 0, 0) then (pin 6, 1): output first, then direction.
        write_byte(&mut bus, 1, 0xFE);
        write_byte(&mut bus, 3, 0xFE);
        write_byte(&mut bus, 1, 0xFE);
        write_byte(&mut bus, 3, 0xBE);
        let c = chip.borrow();
        assert_eq!(c.pin_output(0), Some(PinOutput::Low));
        assert_eq!(c.pin_output(6), Some(PinOutput::High));
        assert_eq!(c.pin_output(1), Some(PinOutput::HighImpedance));
        assert_eq!(c.pin_output(8), None);
        drop(c);
        // Outside levels reach input pins only.
        chip.borrow_mut().set_input_level(0, true);
        chip.borrow_mut().set_input_level(6, false);
        chip.borrow_mut().set_input_level(1, false);
        chip.borrow_mut().set_input_level(7, false);
        assert_eq!(
            read_byte(&mut bus, 0),
            0b0111_1100,
            "pin 0 out low, 6 out high"
        );
        assert_eq!(chip.borrow().pin_level(6), Some(true));
        assert_eq!(chip.borrow().input_level(6), Some(false));
    }

    #[test]
    fn polarity_inverts_input_pins_only() {
        let (chip, mut bus) = on_bus();
        write_byte(&mut bus, 3, 0x0F); // pins 0..3 inputs, 4..7 outputs
        write_byte(&mut bus, 1, 0x50); // outputs: 4 and 6 high
        chip.borrow_mut().set_input_level(1, false);
        write_byte(&mut bus, 2, 0xFF);
        // Inputs 0, 2, 3 high and 1 low, inverted: 0b0010; outputs as driven: 0b0101.
        assert_eq!(read_byte(&mut bus, 0), 0b0101_0010);
        assert_eq!(read_byte(&mut bus, 2), 0xFF, "the register reads back");
        assert_eq!(read_byte(&mut bus, 1), 0x50);
    }

    #[test]
    fn command_byte_and_multi_byte_transfers() {
        let (chip, mut bus) = on_bus();
        // No auto-increment: three data bytes all go to the output port.
        assert!(bus.start(ADDR, false) && bus.write(1));
        for b in [0x11u8, 0x22, 0x33] {
            assert!(bus.write(b));
        }
        bus.stop();
        assert_eq!(chip.borrow().state().output, 0x33);
        assert_eq!(chip.borrow().state().polarity, 0x00);
        // Only B1:B0 count: 0x07 is the configuration register.
        write_byte(&mut bus, 0x07, 0xF0);
        assert_eq!(chip.borrow().state().config, 0xF0);
        // Reads repeat the register; the command is kept for the next transaction.
        assert!(bus.start(ADDR, false) && bus.write(3) && bus.start(ADDR, true));
        assert_eq!([bus.read(), bus.read()], [0xF0, 0xF0]);
        bus.stop();
        assert!(bus.start(ADDR, true));
        assert_eq!(bus.read(), 0xF0);
        bus.stop();
        // The input port takes no writes.
        write_byte(&mut bus, 0, 0x00);
        assert_eq!(chip.borrow().state().config, 0xF0);
        assert_eq!(
            read_byte(&mut bus, 0),
            0xF3,
            "outputs 0..3 drive 0x33's low bits"
        );
    }

    #[test]
    fn int_goes_low_on_an_input_change_and_a_read_releases_it() {
        let (chip, mut bus) = on_bus();
        let rec = LevelRecorder::new();
        chip.borrow_mut().connect_interrupt(rec.line(0));
        assert!(rec.level(0), "released: high");
        chip.borrow_mut().set_input_level(2, false);
        assert!(!rec.level(0), "asserted: low");
        assert!(chip.borrow().interrupt_asserted());
        // Back to the latched level: released without a read.
        chip.borrow_mut().set_input_level(2, true);
        assert!(rec.level(0));
        chip.borrow_mut().set_input_level(2, false);
        assert_eq!(read_byte(&mut bus, 0), 0xFB);
        assert!(rec.level(0), "reading the input port releases INT");
        assert_eq!(
            rec.changes(),
            [(0, true), (0, false), (0, true), (0, false), (0, true)]
        );
        // Reading another register does not.
        chip.borrow_mut().set_input_level(2, true);
        assert_eq!(read_byte(&mut bus, 1), 0xFF);
        assert!(!rec.level(0));
        assert_eq!(read_byte(&mut bus, 0), 0xFF);
        assert!(rec.level(0));
        // Output pins do not interrupt; an output turned input with another level does.
        write_byte(&mut bus, 1, 0xFE);
        write_byte(&mut bus, 3, 0xFE);
        chip.borrow_mut().set_input_level(0, false);
        assert!(rec.level(0), "pin 0 is an output");
        assert_eq!(read_byte(&mut bus, 0), 0xFE);
        chip.borrow_mut().set_input_level(0, true);
        write_byte(&mut bus, 3, 0xFF);
        assert!(!rec.level(0), "pin 0 input now, high, latched low");
        chip.borrow_mut().reset();
        assert!(rec.level(0), "reset releases INT");
        assert_eq!(chip.borrow().state().config, 0xFF);
    }

    #[test]
    fn pin_lines_follow_levels() {
        let (chip, mut bus) = on_bus();
        let rec = LevelRecorder::new();
        assert!(chip.borrow_mut().connect_pin(3, rec.line(3)));
        assert!(!chip.borrow_mut().connect_pin(8, rec.line(8)));
        write_byte(&mut bus, 1, 0xF7); // output 3 low, still an input
        assert_eq!(rec.changes(), [(3, true)]);
        write_byte(&mut bus, 3, 0xF7); // now an output
        chip.borrow_mut().set_input_level(3, true); // no change
        write_byte(&mut bus, 2, 0x08); // polarity changes no level
        assert_eq!(rec.changes(), [(3, true), (3, false)]);
    }

    #[test]
    fn names_addresses_and_state() {
        assert_eq!(
            Pca9554Kind::by_name("nxp,pca9554"),
            Some(Pca9554Kind::Pca9554)
        );
        assert_eq!(Pca9554Kind::by_name("pca9538"), Some(Pca9554Kind::Pca9538));
        assert_eq!(
            Pca9554Kind::by_name("ti,tca6408"),
            Some(Pca9554Kind::Tca6408)
        );
        assert_eq!(Pca9554Kind::by_name("PCA9534"), Some(Pca9554Kind::Pca9534));
        assert_eq!(Pca9554Kind::by_name("pca9555"), None);
        // QEMU places a PCA9554 at 0x27; the PCA9554A range starts at 0x38.
        assert!(Pca9554Kind::Pca9554.accepts_address(0x27));
        assert!(Pca9554Kind::Pca9554.accepts_address(0x38));
        assert!(!Pca9554Kind::Pca9554.accepts_address(0x28));
        assert!(Pca9554Kind::Pca9538.accepts_address(0x73));
        assert!(!Pca9554Kind::Tca6408.accepts_address(0x22));
        let (chip, mut bus) = on_bus();
        write_byte(&mut bus, 3, 0x0F);
        chip.borrow_mut().set_input_level(1, false);
        assert!(bus.start(ADDR, false) && bus.write(2));
        let s = chip.borrow().state();
        assert_eq!((s.command, s.count, s.external), (2, 1, 0xFD));
        assert!(s.interrupt_pending());
        assert_eq!(Pca9554::from_state(&s).state(), s);
        let restored = Pca9554::from_state(&Pca9554State { command: 0xFF, ..s });
        assert_eq!(restored.state().command, 3);
        assert!(restored.interrupt_asserted());
    }

    #[test]
    fn a_restored_expander_keeps_int_asserted_and_its_latch() {
        let (chip, mut bus) = on_bus();
        let rec = LevelRecorder::new();
        chip.borrow_mut().connect_interrupt(rec.line(0));
        chip.borrow_mut().connect_pin(1, rec.line(1));
        chip.borrow_mut().connect_pin(6, rec.line(6));
        // Linux: pins 0..3 outputs (pin 1 low), pins 4..7 inputs, pin 6 inverted.
        write_byte(&mut bus, REG_OUTPUT, 0xFD);
        write_byte(&mut bus, REG_CONFIG, 0xF0);
        write_byte(&mut bus, REG_POLARITY, 0x40);
        read_byte(&mut bus, REG_INPUT); // latch the inputs
        chip.borrow_mut().set_input_level(6, false); // INT asserted (low)
        assert!(!rec.level(0) && !rec.level(1) && !rec.level(6));
        let saved = chip
            .borrow()
            .save_state()
            .expect("an expander saves its state");
        assert_eq!(
            (saved.kind.as_str(), saved.version),
            (STATE_KIND, STATE_VERSION)
        );
        let (copy, mut bus2) = on_bus();
        let rec2 = LevelRecorder::new();
        copy.borrow_mut().connect_interrupt(rec2.line(0));
        copy.borrow_mut().connect_pin(1, rec2.line(1));
        copy.borrow_mut().connect_pin(6, rec2.line(6));
        assert!(
            rec2.level(0) && rec2.level(1) && rec2.level(6),
            "power-on levels"
        );
        copy.borrow_mut().load_state(&saved).unwrap();
        for line in [0, 1, 6] {
            assert_eq!(rec2.level(line), rec.level(line), "line {line}");
        }
        assert!(copy.borrow().interrupt_asserted());
        assert_eq!(copy.borrow().state(), chip.borrow().state());
        assert_eq!(copy.borrow().save_state(), Some(saved));
        for reg in [REG_OUTPUT, REG_POLARITY, REG_CONFIG] {
            assert_eq!(read_byte(&mut bus2, reg), read_byte(&mut bus, reg));
        }
        // Reading the input port returns the same value and releases INT on both.
        assert_eq!(
            read_byte(&mut bus2, REG_INPUT),
            read_byte(&mut bus, REG_INPUT)
        );
        assert!(rec2.level(0) && rec.level(0));
        // The pin going back high asserts INT again on both: the latch moved alike.
        copy.borrow_mut().set_input_level(6, true);
        chip.borrow_mut().set_input_level(6, true);
        assert!(!rec2.level(0) && !rec.level(0));
        assert!(rec2.level(6));
    }

    #[test]
    fn an_expander_refuses_a_state_of_another_kind_version_or_part() {
        let (chip, mut bus) = on_bus();
        write_byte(&mut bus, REG_CONFIG, 0x0F);
        let saved = chip.borrow().save_state().unwrap();
        let mut other = Pca9554::new(Pca9554Kind::Tca6408);
        let rec = LevelRecorder::new();
        other.connect_interrupt(rec.line(0));
        let before = other.state();
        let changes = rec.changes();
        let wrong_kind = DeviceState {
            kind: "pca955x".into(),
            ..saved.clone()
        };
        let wrong_version = DeviceState {
            version: STATE_VERSION + 1,
            ..saved.clone()
        };
        for bad in [&wrong_kind, &wrong_version] {
            assert!(other.load_state(bad).is_err());
        }
        let err = other.load_state(&saved).unwrap_err();
        assert!(
            err.0.contains("pca9554") && err.0.contains("tca6408"),
            "{err}"
        );
        assert_eq!(other.state(), before, "left unchanged");
        assert_eq!(rec.changes(), changes, "the line is not touched");
    }
}
