//! An NXP PCA9552 16-bit I2C LED blinker, also used as a GPIO expander, and its 8- and 4-pin
//! siblings PCA9551 and PCA9553 ([`Pca955xKind`]), as Linux's `leds-pca955x` drives them.
//!
//! Sources: NXP PCA9552 datasheet (control register, register map, power-on values), PCA9551
//! and PCA9553 datasheets (their register maps, the 1/38 s blink prescaler of the PCA9551), NXP
//! application note AN264 (the blinkers' duty cycle runs from 0.4 % to 100 %), Linux 6.1
//! `drivers/leds/leds-pca955x.c` (register numbering: INPUT registers first, then PSC0, PWM0,
//! PSC1, PWM1, then the LED selectors), QEMU `hw/gpio/pca9552.c` (reserved registers read
//! 0xFF). Facts only; no code is taken from either.
//!
//! Registers (PCA9552): INPUT0/INPUT1 (read-only pin levels), PSC0, PWM0, PSC1, PWM1 (the two
//! blink rates), LS0..LS3 (a 2-bit selector per pin). The first byte of a write transaction is
//! the control register: the register number in its low bits (4 on the PCA9552, 3 on the
//! others) and the auto-increment flag AI (bit 4). With AI set, the register number advances
//! after every data byte read or written and rolls over to 0 after the last register; without
//! it, every byte goes to (or comes from) the same register. The control register keeps its
//! value across transactions, so a read without a command byte continues where the last
//! transfer left it. Writes to INPUT and to reserved register numbers are acknowledged and have
//! no effect; reserved registers read 0xFF (as QEMU).
//!
//! Pins: an LED selector of 00 drives the pin low (LED on); 01 leaves it high-impedance (LED
//! off), so it reads the level something outside applies ([`Pca9552::set_input_level`]; the
//! pull-up's high by default): that is how Linux uses a pin as a GPIO input, and as an output
//! it writes 00 for low and 01 for high. 10 and 11 blink at the BLINK0 / BLINK1 rate: the LED
//! is on (pin low) for `(256 - PWMx) / 256` of a `(PSCx + 1) / 44` s period (`/ 38` on the
//! PCA9551). There is no time in this model: a blinking pin reads low when the LED is on for at
//! least half of the period (`PWMx <= 0x80`) and like a high-impedance pin otherwise (a
//! modelling choice, not a datasheet fact). The host sees the selector itself through
//! [`Pca9552::pin_output`], and can follow each pin's level through an [`IrqLine`]
//! ([`Pca9552::connect_pin`]).
#![deny(missing_docs)]

use bus::{DeviceState, IrqLine, StateError};
use i2c::I2cTarget;
use serde::{Deserialize, Serialize};

/// The kind of a PCA955x's saved state ([`DeviceState::kind`]), every part's.
pub const STATE_KIND: &str = "pca955x";
/// The format version of a PCA955x's saved state: [`Pca9552State`] as this build serialises it.
pub const STATE_VERSION: u32 = 1;

/// Control register: auto-increment flag AI (datasheet figure "Control register", bit 4).
pub const CONTROL_AI: u8 = 0x10;

/// PCA9552 register: INPUT0, levels of pins 0..7 (read-only): Linux register 0.
pub const REG_INPUT0: u8 = 0x00;
/// PCA9552 register: INPUT1, levels of pins 8..15 (read-only).
pub const REG_INPUT1: u8 = 0x01;
/// PCA9552 register: PSC0, frequency prescaler 0: Linux `pca955x_write_psc(.., 0, ..)`.
pub const REG_PSC0: u8 = 0x02;
/// PCA9552 register: PWM0, duty cycle of BLINK0: Linux `pca955x_write_pwm(.., 0, ..)`.
pub const REG_PWM0: u8 = 0x03;
/// PCA9552 register: PSC1, frequency prescaler 1.
pub const REG_PSC1: u8 = 0x04;
/// PCA9552 register: PWM1, duty cycle of BLINK1.
pub const REG_PWM1: u8 = 0x05;
/// PCA9552 register: LS0, LED selectors of pins 0..3 (2 bits each, pin 0 in bits 1:0):
/// Linux `pca955x_write_ls(.., 0, ..)`.
pub const REG_LS0: u8 = 0x06;
/// PCA9552 register: LS1, LED selectors of pins 4..7.
pub const REG_LS1: u8 = 0x07;
/// PCA9552 register: LS2, LED selectors of pins 8..11.
pub const REG_LS2: u8 = 0x08;
/// PCA9552 register: LS3, LED selectors of pins 12..15.
pub const REG_LS3: u8 = 0x09;

/// PSC0 / PSC1 at power-on (datasheet: 1111 1111).
pub const PSC_RESET: u8 = 0xFF;
/// PWM0 / PWM1 at power-on (datasheet: 1000 0000, 50 % duty cycle).
pub const PWM_RESET: u8 = 0x80;
/// Every LS register at power-on: all pins 01, high-impedance (LED off).
pub const LS_RESET: u8 = 0x55;
/// What a reserved register number reads (QEMU `pca955x_read`).
pub const RESERVED_READ: u8 = 0xFF;

/// The parts of the family this model covers (the register layout follows from the pin count).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Pca955xKind {
    /// 8 pins, 7 registers, blink prescaler 1/38 s (Linux `nxp,pca9551`).
    Pca9551,
    /// 16 pins, 10 registers (Linux `nxp,pca9552`): the part QEMU puts on its Aspeed boards.
    #[default]
    Pca9552,
    /// 4 pins, 6 registers, fixed address 0x62 (/01) or 0x63 (/02) (Linux `nxp,pca9553`).
    Pca9553,
}

impl Pca955xKind {
    /// Every part, by pin count.
    pub const ALL: [Pca955xKind; 3] = [
        Pca955xKind::Pca9553,
        Pca955xKind::Pca9551,
        Pca955xKind::Pca9552,
    ];

    /// Number of LED / GPIO pins (Linux `pca955x_chipdef.bits`).
    pub fn pins(self) -> usize {
        match self {
            Pca955xKind::Pca9551 => 8,
            Pca955xKind::Pca9552 => 16,
            Pca955xKind::Pca9553 => 4,
        }
    }

    /// Number of INPUT registers, 8 pins each (Linux `pca95xx_num_input_regs`).
    pub fn input_registers(self) -> u8 {
        self.pins().div_ceil(8) as u8
    }

    /// Number of LED selector registers, 4 pins each (Linux `pca95xx_num_led_regs`).
    pub fn selector_registers(self) -> u8 {
        self.pins().div_ceil(4) as u8
    }

    /// The register number of PSC0; PWM0, PSC1 and PWM1 follow, then LS0.
    pub fn psc0(self) -> u8 {
        self.input_registers()
    }

    /// The register number of LS0.
    pub fn ls0(self) -> u8 {
        self.psc0() + 4
    }

    /// The highest register number, after which auto-increment rolls over to 0.
    pub fn last_register(self) -> u8 {
        self.ls0() + self.selector_registers() - 1
    }

    /// The control register bits that hold the register number (B3..B0 on the PCA9552,
    /// B2..B0 on the others).
    pub fn register_mask(self) -> u8 {
        match self {
            Pca955xKind::Pca9552 => 0x0F,
            Pca955xKind::Pca9551 | Pca955xKind::Pca9553 => 0x07,
        }
    }

    /// Divisor of the blink period, `(PSCx + 1) / divisor` seconds: 38 on the PCA9551, 44 on
    /// the PCA9552 and PCA9553 (datasheets, PSC0 description).
    pub fn blink_divisor(self) -> u32 {
        match self {
            Pca955xKind::Pca9551 => 38,
            Pca955xKind::Pca9552 | Pca955xKind::Pca9553 => 44,
        }
    }

    /// The 7-bit addresses the part can be strapped to (Linux `pca955x_chipdefs`: 1100xxx for
    /// the PCA9551/PCA9552, 110001x for the PCA9553).
    pub fn addresses(self) -> std::ops::RangeInclusive<u8> {
        match self {
            Pca955xKind::Pca9551 | Pca955xKind::Pca9552 => 0x60..=0x67,
            Pca955xKind::Pca9553 => 0x62..=0x63,
        }
    }

    /// The Linux device name (`"pca9552"`).
    pub fn name(self) -> &'static str {
        match self {
            Pca955xKind::Pca9551 => "pca9551",
            Pca955xKind::Pca9552 => "pca9552",
            Pca955xKind::Pca9553 => "pca9553",
        }
    }

    /// The part a Linux name designates: the I2C device id (`"pca9552"`) or the device tree
    /// compatible (`"nxp,pca9552"`), in any letter case.
    pub fn by_name(name: &str) -> Option<Self> {
        let name = name.to_ascii_lowercase();
        let name = name.strip_prefix("nxp,").unwrap_or(&name);
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// What an LED selector (2 bits of an LS register) makes a pin do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LedSelector {
    /// 00: output low, LED on (Linux `PCA955X_LS_LED_ON`; a GPIO driven low).
    On,
    /// 01: high-impedance, LED off (Linux `PCA955X_LS_LED_OFF`; a GPIO input or high).
    Off,
    /// 10: blinks at the BLINK0 rate (Linux `PCA955X_LS_BLINK0`).
    Blink0,
    /// 11: blinks at the BLINK1 rate (Linux `PCA955X_LS_BLINK1`).
    Blink1,
}

impl LedSelector {
    /// The selector of the 2-bit field `bits` (the upper bits are ignored).
    pub fn from_bits(bits: u8) -> Self {
        match bits & 3 {
            0 => LedSelector::On,
            1 => LedSelector::Off,
            2 => LedSelector::Blink0,
            _ => LedSelector::Blink1,
        }
    }
}

/// What a pin's driver does, for the host (an LED panel, a GPIO socket).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinOutput {
    /// Driven low: the LED is on.
    Low,
    /// Not driven: the LED is off and the pin is at the level applied from outside.
    HighImpedance,
    /// Blinking at one of the two rates.
    Blink {
        /// 0 for BLINK0 (PSC0/PWM0), 1 for BLINK1.
        bank: u8,
        /// The period, `(PSCx + 1) / divisor` seconds, in microseconds (rounded).
        period_us: u32,
        /// How long the LED is on, in 256ths of the period: `256 - PWMx` (1..=256).
        on_256ths: u16,
    },
}

/// The registers, transfer state and externally applied levels: a plain value that can be
/// saved and restored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pca9552State {
    /// Which part.
    pub kind: Pca955xKind,
    /// The control register: register number and AI.
    pub control: u8,
    /// Bytes written in the current transaction (the first is the control register).
    pub count: u8,
    /// PSC0 and PSC1.
    pub psc: [u8; 2],
    /// PWM0 and PWM1.
    pub pwm: [u8; 2],
    /// LS0..LS3 (the PCA9551 uses two, the PCA9553 one; the others keep their reset value).
    pub ls: [u8; 4],
    /// The level applied to each pin from outside, bit N for pin N, 1 = high (not driven low:
    /// the pull-up). Seen in INPUT only while the pin is not driven.
    pub external: u16,
}

impl Pca9552State {
    /// The power-on state of `kind`, nothing outside driving its pins.
    pub fn power_on(kind: Pca955xKind) -> Self {
        Self {
            kind,
            control: 0,
            count: 0,
            psc: [PSC_RESET; 2],
            pwm: [PWM_RESET; 2],
            ls: [LS_RESET; 4],
            external: pin_mask(kind),
        }
    }
}

fn pin_mask(kind: Pca955xKind) -> u16 {
    (((1u32 << kind.pins()) - 1) & 0xFFFF) as u16
}

/// A register number decoded for one part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Register {
    Input(usize),
    Psc(usize),
    Pwm(usize),
    Ls(usize),
    Reserved,
}

/// A PCA9552-family LED blinker / GPIO expander.
#[derive(Debug)]
pub struct Pca9552 {
    state: Pca9552State,
    /// A line per pin that follows its level, once connected.
    lines: Vec<Option<IrqLine>>,
    /// The pin levels last driven on `lines`.
    levels: u16,
}

impl Pca9552 {
    /// A part of `kind` in its power-on state (all pins high-impedance, pulled high).
    pub fn new(kind: Pca955xKind) -> Self {
        Self::from_state(&Pca9552State::power_on(kind))
    }

    /// A part restored from `state`.
    pub fn from_state(state: &Pca9552State) -> Self {
        let mut state = state.clone();
        let kind = state.kind;
        state.control &= CONTROL_AI | kind.register_mask();
        state.external &= pin_mask(kind);
        for ls in &mut state.ls[usize::from(kind.selector_registers())..] {
            *ls = LS_RESET;
        }
        let mut device = Self {
            state,
            lines: vec![None; kind.pins()],
            levels: 0,
        };
        device.levels = device.pin_levels();
        device
    }

    /// A copy of the registers, transfer state and external levels.
    pub fn state(&self) -> Pca9552State {
        self.state.clone()
    }

    /// Which part this is.
    pub fn kind(&self) -> Pca955xKind {
        self.state.kind
    }

    /// Power-on reset (or the RESET pin): the registers return to their power-on values. The
    /// levels applied from outside and the connected lines stay.
    pub fn reset(&mut self) {
        let external = self.state.external;
        self.state = Pca9552State {
            external,
            ..Pca9552State::power_on(self.state.kind)
        };
        self.update_lines();
    }

    /// Applies level `high` to `pin` from outside (true: high, or not driven at all, the
    /// pull-up's level; false: driven low). The guest reads it in INPUT while the pin's
    /// selector leaves it high-impedance. Returns false if the part has no such pin.
    pub fn set_input_level(&mut self, pin: usize, high: bool) -> bool {
        if pin >= self.state.kind.pins() {
            return false;
        }
        let bit = 1u16 << pin;
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
        (pin < self.state.kind.pins()).then(|| self.state.external & (1 << pin) != 0)
    }

    /// The level on `pin`, what the guest reads in its INPUT bit (true: high).
    pub fn pin_level(&self, pin: usize) -> Option<bool> {
        (pin < self.state.kind.pins()).then(|| self.pin_levels() & (1 << pin) != 0)
    }

    /// The LED selector of `pin`.
    pub fn led_selector(&self, pin: usize) -> Option<LedSelector> {
        (pin < self.state.kind.pins()).then(|| self.selector(pin))
    }

    /// What `pin`'s driver does: low (LED on), high-impedance (LED off) or blinking.
    pub fn pin_output(&self, pin: usize) -> Option<PinOutput> {
        let bank = match self.led_selector(pin)? {
            LedSelector::On => return Some(PinOutput::Low),
            LedSelector::Off => return Some(PinOutput::HighImpedance),
            LedSelector::Blink0 => 0,
            LedSelector::Blink1 => 1,
        };
        let divisor = u64::from(self.state.kind.blink_divisor());
        let period_us = (u64::from(self.state.psc[bank]) + 1) * 1_000_000;
        Some(PinOutput::Blink {
            bank: bank as u8,
            period_us: ((period_us + divisor / 2) / divisor) as u32,
            on_256ths: 256 - u16::from(self.state.pwm[bank]),
        })
    }

    /// Makes `line` follow `pin`'s level (true: high), driving it with the current level now
    /// and again at every change (a selector written, a level applied from outside, a reset).
    /// The line's sink must not borrow this device. Returns false if the part has no such pin.
    pub fn connect_pin(&mut self, pin: usize, line: IrqLine) -> bool {
        let Some(slot) = self.lines.get_mut(pin) else {
            return false;
        };
        line.set(self.levels & (1 << pin) != 0);
        *slot = Some(line);
        true
    }

    fn selector(&self, pin: usize) -> LedSelector {
        LedSelector::from_bits(self.state.ls[pin / 4] >> ((pin % 4) * 2))
    }

    /// Every pin's level, bit N for pin N.
    fn pin_levels(&self) -> u16 {
        let s = &self.state;
        (0..s.kind.pins())
            .map(|pin| {
                let external = s.external & (1 << pin) != 0;
                let high = match self.selector(pin) {
                    LedSelector::On => false,
                    LedSelector::Off => external,
                    // On for (256 - PWM) / 256 of the period: low when that is half or more.
                    LedSelector::Blink0 => s.pwm[0] > 0x80 && external,
                    LedSelector::Blink1 => s.pwm[1] > 0x80 && external,
                };
                u16::from(high) << pin
            })
            .fold(0, |a, b| a | b)
    }

    fn update_lines(&mut self) {
        let levels = self.pin_levels();
        let changed = levels ^ self.levels;
        self.levels = levels;
        for (pin, line) in self.lines.iter().enumerate() {
            if let Some(line) = line.as_ref().filter(|_| changed & (1 << pin) != 0) {
                line.set(levels & (1 << pin) != 0);
            }
        }
    }

    fn decode(&self, reg: u8) -> Register {
        let kind = self.state.kind;
        let (psc0, ls0) = (kind.psc0(), kind.ls0());
        match reg {
            r if r < psc0 => Register::Input(usize::from(r)),
            r if r < ls0 => {
                let bank = usize::from(r - psc0) / 2;
                if (r - psc0) % 2 == 0 {
                    Register::Psc(bank)
                } else {
                    Register::Pwm(bank)
                }
            }
            r if r <= kind.last_register() => Register::Ls(usize::from(r - ls0)),
            _ => Register::Reserved,
        }
    }

    fn register(&self) -> u8 {
        self.state.control & self.state.kind.register_mask()
    }

    fn read_register(&self, reg: u8) -> u8 {
        let s = &self.state;
        match self.decode(reg) {
            Register::Input(n) => (self.pin_levels() >> (8 * n)) as u8,
            Register::Psc(n) => s.psc[n],
            Register::Pwm(n) => s.pwm[n],
            Register::Ls(n) => s.ls[n],
            Register::Reserved => {
                log::debug!("{}: read of reserved register {reg:#04x}", s.kind.name());
                RESERVED_READ
            }
        }
    }

    fn write_register(&mut self, reg: u8, value: u8) {
        let register = self.decode(reg);
        let s = &mut self.state;
        match register {
            Register::Psc(n) => s.psc[n] = value,
            Register::Pwm(n) => s.pwm[n] = value,
            Register::Ls(n) => s.ls[n] = value,
            Register::Input(_) | Register::Reserved => {
                log::debug!(
                    "{}: write {value:#04x} to register {reg:#04x} ignored",
                    s.kind.name()
                );
                return;
            }
        }
        self.update_lines();
    }

    /// After a data byte: with AI, the next register, rolling over to 0 after the last.
    fn advance(&mut self) {
        if self.state.control & CONTROL_AI != 0 {
            let reg = self.register();
            let next = if reg >= self.state.kind.last_register() {
                0
            } else {
                reg + 1
            };
            self.state.control = CONTROL_AI | next;
        }
    }
}

impl I2cTarget for Pca9552 {
    fn start(&mut self, _read: bool) -> bool {
        self.state.count = 0;
        true
    }

    fn write(&mut self, byte: u8) -> bool {
        let s = &mut self.state;
        if s.count == 0 {
            s.count = 1;
            let kept = CONTROL_AI | s.kind.register_mask();
            if byte & !kept != 0 {
                log::debug!(
                    "{}: control byte {byte:#04x} has bits that must be 0",
                    s.kind.name()
                );
            }
            s.control = byte & kept;
            return true;
        }
        s.count = s.count.saturating_add(1);
        self.write_register(self.register(), byte);
        self.advance();
        true
    }

    fn read(&mut self) -> u8 {
        let value = self.read_register(self.register());
        self.advance();
        value
    }

    fn stop(&mut self) {
        self.state.count = 0;
    }

    /// The registers, the transfer progress and the levels applied from outside
    /// ([`Pca9552State`]); the pin lines are wiring.
    fn save_state(&self) -> Option<DeviceState> {
        Some(DeviceState::new(STATE_KIND, STATE_VERSION, &self.state))
    }

    /// Refuses another part's state; keeps the connected lines and drives each to its pin's
    /// restored level.
    fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        let s: Pca9552State = state.decode(STATE_KIND, STATE_VERSION)?;
        if s.kind != self.state.kind {
            return Err(StateError(format!(
                "{STATE_KIND}: the state is of a {}, this part is a {}",
                s.kind.name(),
                self.state.kind.name()
            )));
        }
        let lines = std::mem::take(&mut self.lines);
        *self = Self::from_state(&s);
        self.lines = lines;
        for (pin, line) in self.lines.iter().enumerate() {
            if let Some(line) = line {
                line.set(self.levels & (1 << pin) != 0);
            }
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

    const ADDR: u8 = 0x60;

    fn on_bus(kind: Pca955xKind, address: u8) -> (Rc<RefCell<Pca9552>>, I2cBus) {
        let chip = Rc::new(RefCell::new(Pca9552::new(kind)));
        let mut bus = I2cBus::new();
        bus.attach(address, chip.clone()).unwrap();
        (chip, bus)
    }

    /// Linux's `i2c_smbus_read_byte_data`: command byte, repeated START, one byte, STOP.
    fn read_byte(bus: &mut I2cBus, address: u8, reg: u8) -> u8 {
        assert!(bus.start(address, false) && bus.write(reg) && bus.start(address, true));
        let v = bus.read();
        bus.stop();
        v
    }

    /// Linux's `i2c_smbus_write_byte_data`, or a longer write with `bytes` after the command.
    fn write(bus: &mut I2cBus, address: u8, command: u8, bytes: &[u8]) {
        assert!(bus.start(address, false) && bus.write(command));
        for &b in bytes {
            assert!(bus.write(b));
        }
        bus.stop();
    }

    #[test]
    fn power_on_values_are_the_datasheet_ones() {
        let (_, mut bus) = on_bus(Pca955xKind::Pca9552, ADDR);
        // INPUT0, INPUT1, PSC0, PWM0, PSC1, PWM1, LS0..LS3 (datasheet register table).
        let regs: Vec<u8> = (0..10).map(|r| read_byte(&mut bus, ADDR, r)).collect();
        assert_eq!(
            regs,
            [0xFF, 0xFF, 0xFF, 0x80, 0xFF, 0x80, 0x55, 0x55, 0x55, 0x55]
        );
        for reserved in 0x0A..=0x0F {
            assert_eq!(read_byte(&mut bus, ADDR, reserved), 0xFF);
        }
    }

    #[test]
    fn linux_probe_and_led_writes() {
        let (chip, mut bus) = on_bus(Pca955xKind::Pca9552, 0x61);
        // pca955x_probe: PWM0 = 255 - LED_HALF, PWM1 = 0, PSC0 = PSC1 = 0, at
        // num_input_regs (2) + 1, + 3, + 0, + 2.
        write(&mut bus, 0x61, 3, &[128]);
        write(&mut bus, 0x61, 5, &[0]);
        write(&mut bus, 0x61, 2, &[0]);
        write(&mut bus, 0x61, 4, &[0]);
        // pca955x_led_set(LED 9, LED_FULL): read LS2 (2 + 4 + 2), set bits 3:2 to 00.
        let ls2 = read_byte(&mut bus, 0x61, 8);
        assert_eq!(ls2, 0x55);
        write(&mut bus, 0x61, 8, &[ls2 & !0x0C]);
        assert_eq!(read_byte(&mut bus, 0x61, 8), 0x51);
        let c = chip.borrow();
        assert_eq!(c.led_selector(9), Some(LedSelector::On));
        assert_eq!(c.pin_output(9), Some(PinOutput::Low));
        assert_eq!(c.pin_level(9), Some(false));
        assert_eq!(c.pin_output(8), Some(PinOutput::HighImpedance));
        drop(c);
        // INPUT1 bit 1 is pin 9, now driven low.
        assert_eq!(read_byte(&mut bus, 0x61, 1), 0xFD);
        assert_eq!(read_byte(&mut bus, 0x61, 0), 0xFF);
    }

    #[test]
    fn a_high_impedance_pin_reads_the_external_level() {
        let (chip, mut bus) = on_bus(Pca955xKind::Pca9552, ADDR);
        // Linux gpio direction_input: selector 01 (the reset value).
        assert!(chip.borrow_mut().set_input_level(3, false));
        assert!(chip.borrow_mut().set_input_level(12, false));
        assert_eq!(read_byte(&mut bus, ADDR, 0), 0xF7);
        assert_eq!(read_byte(&mut bus, ADDR, 1), 0xEF);
        assert!(chip.borrow_mut().set_input_level(3, true));
        assert_eq!(read_byte(&mut bus, ADDR, 0), 0xFF);
        assert_eq!(chip.borrow().input_level(12), Some(false));
        // A pin driven low by the chip reads low whatever is applied outside.
        write(&mut bus, ADDR, 6, &[0x54]); // pin 0 selector 00
        assert_eq!(read_byte(&mut bus, ADDR, 0), 0xFE);
        assert!(!chip.borrow_mut().set_input_level(16, false), "no pin 16");
        assert_eq!(chip.borrow().pin_level(16), None);
    }

    #[test]
    fn auto_increment_programs_every_register_and_rolls_over() {
        let (chip, mut bus) = on_bus(Pca955xKind::Pca9552, ADDR);
        // AI | PSC0, then PSC0, PWM0, PSC1, PWM1, LS0..LS3, then past LS3: INPUT0, INPUT1
        // (ignored) and PSC0 again.
        let bytes = [
            0x2B, 0x40, 0x0A, 0xC0, 0x00, 0x55, 0xAA, 0xFF, 0x11, 0x22, 0x07,
        ];
        write(&mut bus, ADDR, 0x12, &bytes);
        let s = chip.borrow().state();
        assert_eq!(s.psc, [0x07, 0x0A]);
        assert_eq!(s.pwm, [0x40, 0xC0]);
        assert_eq!(s.ls, [0x00, 0x55, 0xAA, 0xFF]);
        assert_eq!(s.control, 0x13, "stopped at PWM0");
        // An auto-increment read from PSC0 through LS3 and over to INPUT0.
        assert!(bus.start(ADDR, false) && bus.write(0x12) && bus.start(ADDR, true));
        let v: Vec<u8> = (0..9).map(|_| bus.read()).collect();
        bus.stop();
        // Pins 0..3 driven low; 4..7 high-impedance (high); 8..11 blink at BLINK0 with
        // PWM0 = 0x40 (on 75 %: low); 12..15 at BLINK1, PWM1 = 0xC0 (on 25 %: high).
        assert_eq!(v, [0x07, 0x40, 0x0A, 0xC0, 0x00, 0x55, 0xAA, 0xFF, 0xF0]);
        // The control register is kept: a read without a command byte continues.
        assert!(bus.start(ADDR, true));
        assert_eq!(bus.read(), 0xF0, "INPUT1");
        bus.stop();
    }

    #[test]
    fn without_auto_increment_every_byte_goes_to_one_register() {
        let (chip, mut bus) = on_bus(Pca955xKind::Pca9552, ADDR);
        write(&mut bus, ADDR, REG_PWM1, &[1, 2, 3]);
        assert_eq!(chip.borrow().state().pwm, [0x80, 3]);
        assert!(bus.start(ADDR, true));
        assert_eq!([bus.read(), bus.read()], [3, 3]);
        bus.stop();
        // Bits 7:5 of the command must be 0 and are ignored; INPUT and reserved registers
        // take no writes.
        write(&mut bus, ADDR, 0xE0 | REG_PSC1, &[0x33]);
        assert_eq!(chip.borrow().state().psc, [0xFF, 0x33]);
        write(&mut bus, ADDR, REG_INPUT0, &[0x00]);
        write(&mut bus, ADDR, 0x0C, &[0x00]);
        assert_eq!(read_byte(&mut bus, ADDR, REG_INPUT0), 0xFF);
        // Auto-increment from a reserved register rolls over to 0.
        assert!(bus.start(ADDR, false) && bus.write(0x1F) && bus.start(ADDR, true));
        assert_eq!([bus.read(), bus.read()], [0xFF, 0xFF]);
        assert_eq!(bus.read(), 0xFF, "INPUT1");
        assert_eq!(bus.read(), 0xFF, "PSC0");
        assert_eq!(bus.read(), 0x80, "PWM0");
        bus.stop();
    }

    #[test]
    fn pca9553_datasheet_programming_example() {
        // PCA9553 datasheet "Programming example": C4h 11h 2Bh 80h 0Ah C0h E4h: PSC0 = 43
        // (1 s), PWM0 = 128 (50 %), PSC1 = 10 (0.25 s), PWM1 = 192 (25 %), LED0 on, LED1
        // off, LED2 at BLINK0, LED3 at BLINK1.
        let (chip, mut bus) = on_bus(Pca955xKind::Pca9553, 0x62);
        assert!(bus.start(0xC4 >> 1, false));
        for b in [0x11u8, 0x2B, 0x80, 0x0A, 0xC0, 0xE4] {
            assert!(bus.write(b));
        }
        bus.stop();
        let c = chip.borrow();
        assert_eq!(c.pin_output(0), Some(PinOutput::Low));
        assert_eq!(c.pin_output(1), Some(PinOutput::HighImpedance));
        let blink = |bank, period_us, on_256ths| PinOutput::Blink {
            bank,
            period_us,
            on_256ths,
        };
        assert_eq!(c.pin_output(2), Some(blink(0, 1_000_000, 128)));
        assert_eq!(c.pin_output(3), Some(blink(1, 250_000, 64)));
        assert_eq!(c.pin_output(4), None, "4 pins");
        drop(c);
        // INPUT: bits 7:4 read 0 (datasheet default); LED0 low, LED1 high, LED2 on half the
        // time (low), LED3 on a quarter (high).
        assert_eq!(read_byte(&mut bus, 0x62, 0), 0b1010);
        // Registers: INPUT, PSC0, PWM0, PSC1, PWM1, LS0; 6 and 7 are reserved.
        let regs: Vec<u8> = (0..8).map(|r| read_byte(&mut bus, 0x62, r)).collect();
        assert_eq!(regs, [0x0A, 0x2B, 0x80, 0x0A, 0xC0, 0xE4, 0xFF, 0xFF]);
        // Three register bits: bit 3 of the command is ignored (0x0D is LS0).
        assert_eq!(read_byte(&mut bus, 0x62, 0x0D), 0xE4);
    }

    #[test]
    fn pca9551_layout_and_its_38_divisor() {
        let (chip, mut bus) = on_bus(Pca955xKind::Pca9551, 0x67);
        // INPUT, PSC0, PWM0, PSC1, PWM1, LS0, LS1; 7 is reserved.
        let regs: Vec<u8> = (0..8).map(|r| read_byte(&mut bus, 0x67, r)).collect();
        assert_eq!(regs, [0xFF, 0xFF, 0x80, 0xFF, 0x80, 0x55, 0x55, 0xFF]);
        // PCA9550/1 datasheets: PSC0 = 37 gives 1 s at 1/38; pin 7 (LS1 bits 7:6) at BLINK0.
        write(&mut bus, 0x67, 0x11, &[37, 0xFF]);
        write(&mut bus, 0x67, 6, &[0x95]);
        let blink = PinOutput::Blink {
            bank: 0,
            period_us: 1_000_000,
            on_256ths: 1,
        };
        assert_eq!(chip.borrow().pin_output(7), Some(blink));
        assert_eq!(read_byte(&mut bus, 0x67, 0), 0xFF, "on 1/256: reads high");
        // AN264: PWM 0 is 100 % on.
        write(&mut bus, 0x67, 2, &[0]);
        assert_eq!(read_byte(&mut bus, 0x67, 0), 0x7F);
    }

    #[test]
    fn connected_lines_follow_the_pins() {
        let (chip, mut bus) = on_bus(Pca955xKind::Pca9552, ADDR);
        let rec = LevelRecorder::new();
        assert!(chip.borrow_mut().connect_pin(0, rec.line(0)));
        assert!(chip.borrow_mut().connect_pin(5, rec.line(5)));
        assert!(!chip.borrow_mut().connect_pin(16, rec.line(16)));
        assert_eq!(
            rec.changes(),
            [(0, true), (5, true)],
            "current levels at once"
        );
        write(&mut bus, ADDR, REG_LS0, &[0x54]); // pin 0 low
        write(&mut bus, ADDR, REG_LS0, &[0x54]); // no change, no event
        write(&mut bus, ADDR, REG_LS1, &[0x55]); // pin 5 unchanged
        chip.borrow_mut().set_input_level(5, false);
        chip.borrow_mut().set_input_level(1, false); // not connected
        assert_eq!(
            rec.changes(),
            [(0, true), (5, true), (0, false), (5, false)]
        );
        chip.borrow_mut().reset();
        assert!(rec.level(0), "reset: high-impedance again");
        assert!(!rec.level(5), "still driven low from outside");
        assert_eq!(chip.borrow().state().ls, [0x55; 4]);
    }

    #[test]
    fn names_addresses_and_state() {
        assert_eq!(
            Pca955xKind::by_name("nxp,pca9552"),
            Some(Pca955xKind::Pca9552)
        );
        assert_eq!(Pca955xKind::by_name("pca9551"), Some(Pca955xKind::Pca9551));
        assert_eq!(Pca955xKind::by_name("PCA9553"), Some(Pca955xKind::Pca9553));
        assert_eq!(Pca955xKind::by_name("pca9550"), None);
        assert_eq!(Pca955xKind::by_name("pca9554"), None);
        // QEMU's rainier-bmc places PCA9552s at 0x60 and 0x61.
        assert!(Pca955xKind::Pca9552.addresses().contains(&0x61));
        assert!(!Pca955xKind::Pca9553.addresses().contains(&0x61));
        let (chip, mut bus) = on_bus(Pca955xKind::Pca9552, ADDR);
        write(&mut bus, ADDR, 0x16, &[0xE4, 0x1B]);
        chip.borrow_mut().set_input_level(15, false);
        assert!(bus.start(ADDR, false) && bus.write(0x13));
        let s = chip.borrow().state();
        assert_eq!((s.control, s.count, s.external), (0x13, 1, 0x7FFF));
        assert_eq!(Pca9552::from_state(&s).state(), s);
        // Restoring sanitises what the part cannot hold.
        let odd = Pca9552State {
            control: 0xFF,
            external: 0xFFFF,
            ls: [0; 4],
            ..Pca9552State::power_on(Pca955xKind::Pca9553)
        };
        let s = Pca9552::from_state(&odd).state();
        assert_eq!(
            (s.control, s.external, s.ls),
            (0x17, 0x000F, [0, 0x55, 0x55, 0x55])
        );
    }

    #[test]
    fn a_restored_part_drives_its_lines_and_continues_the_transfer() {
        let (chip, mut bus) = on_bus(Pca955xKind::Pca9552, ADDR);
        let rec = LevelRecorder::new();
        for pin in [0, 5, 9] {
            chip.borrow_mut().connect_pin(pin, rec.line(pin as u32));
        }
        write(
            &mut bus,
            ADDR,
            REG_PSC0 | CONTROL_AI,
            &[0x2B, 0x40, 0x0A, 0xC0],
        );
        write(&mut bus, ADDR, REG_LS0, &[0x56]); // pin 0 blinks at BLINK0 (on 75 %): low
        chip.borrow_mut().set_input_level(5, false);
        // An auto-increment write of LS2, LS3 stopped after LS2 (pin 9 on).
        assert!(bus.start(ADDR, false) && bus.write(REG_LS2 | CONTROL_AI) && bus.write(0x51));
        let saved = chip
            .borrow()
            .save_state()
            .expect("a PCA9552 saves its state");
        assert_eq!(
            (saved.kind.as_str(), saved.version),
            (STATE_KIND, STATE_VERSION)
        );
        let (copy, mut bus2) = on_bus(Pca955xKind::Pca9552, ADDR);
        let rec2 = LevelRecorder::new();
        for pin in [0, 5, 9] {
            copy.borrow_mut().connect_pin(pin, rec2.line(pin as u32));
        }
        assert!(
            rec2.level(0) && rec2.level(5) && rec2.level(9),
            "power-on: all high"
        );
        copy.borrow_mut().load_state(&saved).unwrap();
        bus2.restore_selected(Some(ADDR));
        for pin in [0u32, 5, 9] {
            assert_eq!(rec2.level(pin), rec.level(pin), "pin {pin}");
        }
        assert!(!rec2.level(0) && !rec2.level(5) && !rec2.level(9));
        assert_eq!(copy.borrow().state(), chip.borrow().state());
        assert_eq!(copy.borrow().save_state(), Some(saved));
        // The next byte of the transfer goes to LS3 on both; then every register reads alike.
        for b in [&mut bus, &mut bus2] {
            assert!(b.write(0x44));
            b.stop();
        }
        for reg in 0..16 {
            assert_eq!(
                read_byte(&mut bus2, ADDR, reg),
                read_byte(&mut bus, ADDR, reg),
                "register {reg:#x}"
            );
        }
        assert_eq!(read_byte(&mut bus2, ADDR, REG_LS3), 0x44);
        assert_eq!(copy.borrow().pin_output(0), chip.borrow().pin_output(0));
        // A pin released from outside rises on both.
        copy.borrow_mut().set_input_level(5, true);
        chip.borrow_mut().set_input_level(5, true);
        assert!(rec2.level(5) && rec.level(5));
    }

    #[test]
    fn a_part_refuses_a_state_of_another_kind_version_or_part() {
        let (chip, mut bus) = on_bus(Pca955xKind::Pca9552, ADDR);
        write(&mut bus, ADDR, REG_LS0, &[0x00]);
        let saved = chip.borrow().save_state().unwrap();
        let mut other = Pca9552::new(Pca955xKind::Pca9551);
        let rec = LevelRecorder::new();
        other.connect_pin(0, rec.line(0));
        let before = other.state();
        let changes = rec.changes();
        let wrong_kind = DeviceState {
            kind: "pca9554".into(),
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
            err.0.contains("pca9552") && err.0.contains("pca9551"),
            "{err}"
        );
        assert_eq!(other.state(), before, "left unchanged");
        assert_eq!(rec.changes(), changes, "the line is not touched");
    }
}
