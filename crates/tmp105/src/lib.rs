//! A TMP105 / LM75-compatible I2C temperature sensor target whose temperature can be set while
//! the guest runs.
//!
//! Registers (TI TMP105 datasheet; Linux `drivers/hwmon/lm75.c`), chosen by the pointer
//! register, the first byte of every write transaction:
//! - 0 temperature (read-only), two bytes MSB first, left-justified two's complement with 9 to
//!   12 significant bits (config R1:R0), 1/16 degC per LSB at 12 bits;
//! - 1 configuration, one byte;
//! - 2 T_LOW (LM75: T_HYST), 3 T_HIGH (LM75: T_OS): two bytes, 12 significant bits; reset
//!   values 75 degC and 80 degC.
//!
//! A read returns the selected register's bytes from the first and 0xFF after them (QEMU
//! `hw/sensor/tmp105.c`). The temperature is converted when a read of the temperature register
//! starts, at the resolution then configured, rounded to the nearest step (halves upwards),
//! clamped to the register's range; in shutdown mode (SD) the last conversion is kept until a
//! one-shot (OS) is requested, and conversions finish at once so OS reads back 0.
//!
//! The ast2600-evb device tree names the part at bus 8, address 0x4d `national,lm75`: Linux's
//! `lm75` driver then assumes 9-bit resolution (0.5 degC), leaves R1:R0 at their reset value 0
//! (it only clears SD) and computes `((reg >> 7) * 1000) >> 1` millidegrees, so a temperature
//! set to 55.0 degC reads 55000 and 42.5 degC reads 42500. A `ti,tmp105` node would make the
//! driver set 12-bit resolution, which this model follows.
//!
//! The ALERT output (thermostat) is not modelled: the EVB does not wire it.
#![deny(missing_docs)]

use std::cell::Cell;
use std::rc::Rc;

use i2c::{DeviceState, I2cTarget, StateError};
use serde::{Deserialize, Serialize};

/// The kind of a sensor's saved state ([`DeviceState::kind`]).
pub const STATE_KIND: &str = "tmp105";
/// The format version of a sensor's saved state: [`Tmp105State`] as this build serialises it.
pub const STATE_VERSION: u32 = 1;

/// Pointer value of the temperature register: Linux `LM75_REG_TEMP`.
pub const REG_TEMPERATURE: u8 = 0x00;
/// Pointer value of the configuration register: Linux `LM75_REG_CONF`.
pub const REG_CONFIG: u8 = 0x01;
/// Pointer value of T_LOW (LM75 T_HYST): Linux `LM75_REG_HYST`.
pub const REG_T_LOW: u8 = 0x02;
/// Pointer value of T_HIGH (LM75 T_OS): Linux `LM75_REG_MAX`.
pub const REG_T_HIGH: u8 = 0x03;
/// Pointer register bits that select a register (TMP105 P1:P0).
pub const POINTER_MASK: u8 = 0x03;

/// Config: shutdown mode (SD): Linux `LM75_SHUTDOWN`.
pub const CONFIG_SD: u8 = 1 << 0;
/// Config: thermostat interrupt mode (TM).
pub const CONFIG_TM: u8 = 1 << 1;
/// Config: ALERT polarity (POL).
pub const CONFIG_POL: u8 = 1 << 2;
/// Config: fault queue (F1:F0), bits 4:3.
pub const CONFIG_FAULT_QUEUE: u8 = 3 << 3;
/// Config: converter resolution (R1:R0), bits 6:5: 9 + R bits.
pub const CONFIG_RESOLUTION: u8 = 3 << 5;
/// Config: shift of R1:R0.
pub const CONFIG_RESOLUTION_SHIFT: u8 = 5;
/// Config: one-shot (OS); reads back 0 (conversions finish at once).
pub const CONFIG_OS: u8 = 1 << 7;

/// Reset value of T_LOW: 75 degC (TMP105 datasheet; QEMU `tmp105_reset`).
pub const T_LOW_RESET: u16 = 0x4B00;
/// Reset value of T_HIGH: 80 degC (TMP105 datasheet; QEMU `tmp105_reset`).
pub const T_HIGH_RESET: u16 = 0x5000;
/// Bits of T_LOW / T_HIGH that exist (12 significant bits).
pub const LIMIT_MASK: u16 = 0xFFF0;
/// Value read after the selected register's bytes.
pub const READ_PAST_REGISTER: u8 = 0xFF;

/// The register value for `millicelsius` at `bits` of resolution (9..=12): rounded to the
/// nearest step (halves upwards) and clamped to what the register can hold.
pub fn temperature_register(millicelsius: i32, bits: u8) -> u16 {
    let bits = u32::from(bits.clamp(9, 12));
    let steps_per_degree = 1i64 << (bits - 8);
    let steps = (i64::from(millicelsius) * steps_per_degree + 500).div_euclid(1000);
    let unused = 16 - bits;
    let max = i64::from(i16::MAX) >> unused;
    let min = i64::from(i16::MIN) >> unused;
    ((steps.clamp(min, max) << unused) as i16) as u16
}

/// The temperature in millidegrees that Linux `lm75_reg_to_mc` computes from `register` at
/// `bits` of resolution.
pub fn register_millicelsius(register: u16, bits: u8) -> i32 {
    let bits = u32::from(bits.clamp(9, 12));
    let steps = i32::from((register as i16) >> (16 - bits));
    (steps * 1000) >> (bits - 8)
}

/// A handle that sets the sensed temperature from outside the bus (the SoC's control channel,
/// a test). Cloning gives another handle to the same sensor.
#[derive(Clone, Debug, Default)]
pub struct TemperatureControl(Rc<Cell<i32>>);

impl TemperatureControl {
    /// Sets the temperature the sensor measures, in millidegrees Celsius.
    pub fn set_millicelsius(&self, millicelsius: i32) {
        self.0.set(millicelsius);
    }
    /// The temperature the sensor measures, in millidegrees Celsius.
    pub fn millicelsius(&self) -> i32 {
        self.0.get()
    }
}

/// The sensor's registers and transfer state: a plain value that can be saved and restored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tmp105State {
    /// The temperature being measured, millidegrees Celsius.
    pub millicelsius: i32,
    /// Pointer register.
    pub pointer: u8,
    /// Configuration register.
    pub config: u8,
    /// T_LOW (LM75 T_HYST).
    pub t_low: u16,
    /// T_HIGH (LM75 T_OS).
    pub t_high: u16,
    /// Temperature register as last converted.
    pub temperature: u16,
    /// Bytes received in the current write transaction (the first is the pointer).
    pub write_count: u8,
    /// First data byte of a two-byte register write.
    pub pending_msb: u8,
    /// Bytes already read in the current read transaction.
    pub read_count: u8,
}

impl Default for Tmp105State {
    fn default() -> Self {
        Self {
            millicelsius: 0,
            pointer: REG_TEMPERATURE,
            config: 0,
            t_low: T_LOW_RESET,
            t_high: T_HIGH_RESET,
            temperature: 0,
            write_count: 0,
            pending_msb: 0,
            read_count: 0,
        }
    }
}

/// A TMP105 / LM75-compatible temperature sensor.
#[derive(Debug)]
pub struct Tmp105 {
    state: Tmp105State,
    temperature: TemperatureControl,
}

impl Tmp105 {
    /// A sensor in its power-on state measuring `millicelsius`.
    pub fn new(millicelsius: i32) -> Self {
        Self::from_state(&Tmp105State {
            millicelsius,
            temperature: temperature_register(millicelsius, 9),
            ..Tmp105State::default()
        })
    }

    /// A sensor restored from `state`.
    pub fn from_state(state: &Tmp105State) -> Self {
        let temperature = TemperatureControl::default();
        temperature.set_millicelsius(state.millicelsius);
        Self {
            state: state.clone(),
            temperature,
        }
    }

    /// A copy of the registers (with the temperature currently set).
    pub fn state(&self) -> Tmp105State {
        Tmp105State {
            millicelsius: self.temperature.millicelsius(),
            ..self.state.clone()
        }
    }

    /// A handle to set the temperature while the sensor sits on a bus.
    pub fn temperature_control(&self) -> TemperatureControl {
        self.temperature.clone()
    }

    /// Sets the temperature the sensor measures, in millidegrees Celsius.
    pub fn set_temperature_millicelsius(&self, millicelsius: i32) {
        self.temperature.set_millicelsius(millicelsius);
    }

    /// The temperature the sensor measures, in millidegrees Celsius.
    pub fn temperature_millicelsius(&self) -> i32 {
        self.temperature.millicelsius()
    }

    /// The converter resolution in bits (9..=12) selected by config R1:R0.
    pub fn resolution_bits(&self) -> u8 {
        9 + ((self.state.config & CONFIG_RESOLUTION) >> CONFIG_RESOLUTION_SHIFT)
    }

    fn convert(&mut self) {
        self.state.temperature =
            temperature_register(self.temperature.millicelsius(), self.resolution_bits());
    }

    fn register_bytes(&self) -> ([u8; 2], usize) {
        let s = &self.state;
        let word = |v: u16| (v.to_be_bytes(), 2);
        match s.pointer & POINTER_MASK {
            REG_TEMPERATURE => word(s.temperature),
            REG_CONFIG => ([s.config, 0], 1),
            REG_T_LOW => word(s.t_low),
            _ => word(s.t_high),
        }
    }

    fn write_config(&mut self, value: u8) {
        self.state.config = value & !CONFIG_OS;
        if value & CONFIG_OS != 0 && value & CONFIG_SD != 0 {
            self.convert();
        }
    }
}

impl I2cTarget for Tmp105 {
    fn start(&mut self, read: bool) -> bool {
        self.state.write_count = 0;
        self.state.read_count = 0;
        if read
            && self.state.pointer & POINTER_MASK == REG_TEMPERATURE
            && self.state.config & CONFIG_SD == 0
        {
            self.convert();
        }
        true
    }

    fn write(&mut self, byte: u8) -> bool {
        let s = &mut self.state;
        let index = s.write_count;
        s.write_count = s.write_count.saturating_add(1);
        if index == 0 {
            if byte & !POINTER_MASK != 0 {
                log::warn!("tmp105: pointer {byte:#04x} has reserved bits set");
            }
            s.pointer = byte & POINTER_MASK;
            return true;
        }
        match (s.pointer, index) {
            (REG_CONFIG, 1) => self.write_config(byte),
            (REG_T_LOW | REG_T_HIGH, 1) => s.pending_msb = byte,
            (REG_T_LOW, 2) => s.t_low = u16::from_be_bytes([s.pending_msb, byte]) & LIMIT_MASK,
            (REG_T_HIGH, 2) => s.t_high = u16::from_be_bytes([s.pending_msb, byte]) & LIMIT_MASK,
            // The temperature register is read-only; extra bytes are ignored.
            _ => {}
        }
        true
    }

    fn read(&mut self) -> u8 {
        let (bytes, len) = self.register_bytes();
        let i = usize::from(self.state.read_count);
        self.state.read_count = self.state.read_count.saturating_add(1);
        if i < len {
            bytes[i]
        } else {
            READ_PAST_REGISTER
        }
    }

    fn stop(&mut self) {
        self.state.write_count = 0;
        self.state.read_count = 0;
    }

    /// The registers, the transfer progress and the temperature the host set
    /// ([`Tmp105State`]).
    fn save_state(&self) -> Option<DeviceState> {
        Some(DeviceState::new(STATE_KIND, STATE_VERSION, &self.state()))
    }

    /// Restores the registers and sets the restored temperature through the sensor's
    /// [`TemperatureControl`], so the handles the host holds stay connected.
    fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        let s: Tmp105State = state.decode(STATE_KIND, STATE_VERSION)?;
        self.temperature.set_millicelsius(s.millicelsius);
        self.state = s;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bus::{Device, LevelRecorder};
    use i2c::{
        AspeedI2cBus, I2cBus, CMD_M_RX, CMD_M_RX_LAST, CMD_M_START, CMD_M_STOP, CMD_M_TX,
        FUN_MASTER_EN, INTR_NORMAL_STOP, INTR_RX_DONE, INTR_TX_ACK, REG_BYTE_BUF, REG_CMD,
        REG_FUN_CTRL, REG_INTR_CTRL, REG_INTR_STS,
    };
    use std::cell::RefCell;

    const ADDR: u8 = 0x4D;

    fn sensor(mc: i32) -> (Rc<RefCell<Tmp105>>, I2cBus) {
        let t = Rc::new(RefCell::new(Tmp105::new(mc)));
        let mut bus = I2cBus::new();
        bus.attach(ADDR, t.clone()).unwrap();
        (t, bus)
    }

    /// SMBus "read word data" as Linux's regmap does it: pointer, repeated START, two bytes.
    fn read_word(bus: &mut I2cBus, reg: u8) -> u16 {
        assert!(bus.start(ADDR, false));
        assert!(bus.write(reg));
        assert!(bus.start(ADDR, true));
        let v = u16::from_be_bytes([bus.read(), bus.read()]);
        bus.stop();
        v
    }

    fn read_byte(bus: &mut I2cBus, reg: u8) -> u8 {
        assert!(bus.start(ADDR, false));
        assert!(bus.write(reg));
        assert!(bus.start(ADDR, true));
        let v = bus.read();
        bus.stop();
        v
    }

    fn write_bytes(bus: &mut I2cBus, bytes: &[u8]) {
        assert!(bus.start(ADDR, false));
        for b in bytes {
            assert!(bus.write(*b));
        }
        bus.stop();
    }

    #[test]
    fn register_encoding_follows_the_datasheet() {
        // TMP105 datasheet table: 12-bit values.
        assert_eq!(
            temperature_register(128_000, 12),
            0x7FF0,
            "clamped to 127.9375"
        );
        assert_eq!(temperature_register(127_937, 12), 0x7FF0);
        assert_eq!(temperature_register(100_000, 12), 0x6400);
        assert_eq!(temperature_register(80_000, 12), 0x5000);
        assert_eq!(temperature_register(75_000, 12), 0x4B00);
        assert_eq!(temperature_register(50_000, 12), 0x3200);
        assert_eq!(temperature_register(25_000, 12), 0x1900);
        assert_eq!(temperature_register(250, 12), 0x0040);
        assert_eq!(temperature_register(0, 12), 0x0000);
        assert_eq!(temperature_register(-250, 12), 0xFFC0);
        assert_eq!(temperature_register(-25_000, 12), 0xE700);
        assert_eq!(temperature_register(-55_000, 12), 0xC900);
        assert_eq!(temperature_register(-200_000, 12), 0x8000, "clamped");
        // 9 bits: 0.5 degC steps, rounded to nearest.
        assert_eq!(temperature_register(42_500, 9), 0x2A80);
        assert_eq!(temperature_register(42_700, 9), 0x2A80);
        assert_eq!(temperature_register(42_800, 9), 0x2B00);
        assert_eq!(temperature_register(-600, 9), 0xFF80, "-0.5");
        assert_eq!(temperature_register(i32::MIN, 9), 0x8000);
        assert_eq!(temperature_register(i32::MAX, 10), 0x7FC0);
    }

    #[test]
    fn linux_lm75_conversion_gives_back_the_set_value() {
        for mc in [55_000, 42_500, 0, -12_500, 125_000, -40_000] {
            assert_eq!(
                register_millicelsius(temperature_register(mc, 9), 9),
                mc,
                "{mc}"
            );
        }
        assert_eq!(
            register_millicelsius(temperature_register(21_062, 12), 12),
            21_062
        );
        assert_eq!(
            register_millicelsius(temperature_register(42_300, 9), 9),
            42_500
        );
    }

    #[test]
    fn reset_registers_and_pointer_selection() {
        let (_, mut bus) = sensor(25_000);
        assert_eq!(read_word(&mut bus, REG_TEMPERATURE), 0x1900);
        assert_eq!(read_byte(&mut bus, REG_CONFIG), 0x00);
        assert_eq!(read_word(&mut bus, REG_T_LOW), T_LOW_RESET);
        assert_eq!(read_word(&mut bus, REG_T_HIGH), T_HIGH_RESET);
        assert_eq!(read_word(&mut bus, 0x07), T_HIGH_RESET, "pointer is 2 bits");
        // The pointer is kept: a plain read returns the last selected register.
        assert!(bus.start(ADDR, true));
        assert_eq!(
            [bus.read(), bus.read(), bus.read()],
            [0x50, 0x00, READ_PAST_REGISTER]
        );
        bus.stop();
    }

    #[test]
    fn limits_and_config_are_writable_temperature_is_not() {
        let (t, mut bus) = sensor(30_000);
        write_bytes(&mut bus, &[REG_T_HIGH, 0x5A, 0x5F]);
        assert_eq!(
            read_word(&mut bus, REG_T_HIGH),
            0x5A50,
            "low nibble does not exist"
        );
        write_bytes(&mut bus, &[REG_T_LOW, 0x1E, 0x00]);
        assert_eq!(read_word(&mut bus, REG_T_LOW), 0x1E00);
        write_bytes(&mut bus, &[REG_TEMPERATURE, 0x12, 0x34]);
        assert_eq!(read_word(&mut bus, REG_TEMPERATURE), 0x1E00);
        write_bytes(&mut bus, &[REG_CONFIG, 0x60 | CONFIG_OS]);
        assert_eq!(read_byte(&mut bus, REG_CONFIG), 0x60, "OS reads 0");
        assert_eq!(t.borrow().resolution_bits(), 12);
        t.borrow().set_temperature_millicelsius(30_062);
        assert_eq!(read_word(&mut bus, REG_TEMPERATURE), 0x1E10, "12-bit");
    }

    #[test]
    fn set_while_running_is_seen_by_the_next_read() {
        let (t, mut bus) = sensor(42_500);
        let control = t.borrow().temperature_control();
        assert_eq!(read_word(&mut bus, REG_TEMPERATURE), 0x2A80);
        control.set_millicelsius(55_000);
        assert_eq!(read_word(&mut bus, REG_TEMPERATURE), 0x3700);
        control.set_millicelsius(-10_500);
        assert_eq!(read_word(&mut bus, REG_TEMPERATURE), 0xF580, "-10.5");
        assert_eq!(t.borrow().temperature_millicelsius(), -10_500);
        assert_eq!(t.borrow().state().millicelsius, -10_500);
    }

    #[test]
    fn a_read_in_progress_keeps_its_conversion() {
        let (t, mut bus) = sensor(20_000);
        assert!(bus.start(ADDR, false));
        assert!(bus.write(REG_TEMPERATURE));
        assert!(bus.start(ADDR, true));
        let msb = bus.read();
        t.borrow().set_temperature_millicelsius(-1_000);
        let lsb = bus.read();
        bus.stop();
        assert_eq!([msb, lsb], [0x14, 0x00], "bytes of one conversion");
    }

    #[test]
    fn shutdown_freezes_the_reading_until_one_shot() {
        let (t, mut bus) = sensor(20_000);
        assert_eq!(read_word(&mut bus, REG_TEMPERATURE), 0x1400);
        write_bytes(&mut bus, &[REG_CONFIG, CONFIG_SD]);
        t.borrow().set_temperature_millicelsius(30_000);
        assert_eq!(
            read_word(&mut bus, REG_TEMPERATURE),
            0x1400,
            "no conversion"
        );
        write_bytes(&mut bus, &[REG_CONFIG, CONFIG_SD | CONFIG_OS]);
        assert_eq!(read_word(&mut bus, REG_TEMPERATURE), 0x1E00, "one-shot");
        // lm75_probe clears SD: conversions resume.
        write_bytes(&mut bus, &[REG_CONFIG, 0]);
        t.borrow().set_temperature_millicelsius(31_000);
        assert_eq!(read_word(&mut bus, REG_TEMPERATURE), 0x1F00);
    }

    #[test]
    fn state_round_trips() {
        let (t, mut bus) = sensor(33_000);
        write_bytes(&mut bus, &[REG_CONFIG, 0x20]);
        write_bytes(&mut bus, &[REG_T_LOW, 0x10, 0x00]);
        let s = t.borrow().state();
        let copy = Tmp105::from_state(&s);
        assert_eq!(copy.state(), s);
        assert_eq!(copy.resolution_bits(), 10);
        assert_eq!(copy.temperature_millicelsius(), 33_000);
    }

    /// SMBus read word data, step by step as Linux's i2c-aspeed interrupt handler does it.
    fn smbus_read_word(ctl: &mut AspeedI2cBus, reg: u8) -> u16 {
        let sts = |c: &mut AspeedI2cBus| c.read(REG_INTR_STS, 4) as u32;
        ctl.write(REG_BYTE_BUF, 4, u64::from(ADDR << 1));
        ctl.write(REG_CMD, 4, u64::from(CMD_M_START | CMD_M_TX));
        assert_eq!(sts(ctl), INTR_TX_ACK);
        ctl.write(REG_INTR_STS, 4, u64::from(INTR_TX_ACK));
        ctl.write(REG_BYTE_BUF, 4, u64::from(reg));
        ctl.write(REG_CMD, 4, u64::from(CMD_M_TX));
        assert_eq!(sts(ctl), INTR_TX_ACK);
        ctl.write(REG_INTR_STS, 4, u64::from(INTR_TX_ACK));
        ctl.write(REG_BYTE_BUF, 4, u64::from((ADDR << 1) | 1));
        ctl.write(REG_CMD, 4, u64::from(CMD_M_START | CMD_M_TX | CMD_M_RX));
        assert_eq!(sts(ctl), INTR_TX_ACK | INTR_RX_DONE);
        let msb = (ctl.read(REG_BYTE_BUF, 4) >> 8) as u8;
        ctl.write(REG_INTR_STS, 4, u64::from(INTR_TX_ACK));
        ctl.write(REG_CMD, 4, u64::from(CMD_M_RX | CMD_M_RX_LAST));
        ctl.write(REG_INTR_STS, 4, u64::from(INTR_RX_DONE));
        let lsb = (ctl.read(REG_BYTE_BUF, 4) >> 8) as u8;
        ctl.write(REG_CMD, 4, u64::from(CMD_M_STOP));
        ctl.write(REG_INTR_STS, 4, u64::from(INTR_RX_DONE));
        assert_eq!(sts(ctl), INTR_NORMAL_STOP);
        ctl.write(REG_INTR_STS, 4, u64::from(INTR_NORMAL_STOP));
        u16::from_be_bytes([msb, lsb])
    }

    /// The whole path: Linux's i2c-aspeed sequence on the AST2600 controller, and lm75's
    /// conversion, for a temperature set while the sensor is on the bus.
    #[test]
    fn guest_reads_the_set_temperature_through_the_controller() {
        let rec = LevelRecorder::new();
        let mut ctl = AspeedI2cBus::new("i2c8", rec.line(0));
        let t = Rc::new(RefCell::new(Tmp105::new(42_500)));
        let control = t.borrow().temperature_control();
        ctl.attach(ADDR, t.clone()).unwrap();
        ctl.write(REG_FUN_CTRL, 4, u64::from(FUN_MASTER_EN));
        ctl.write(REG_INTR_CTRL, 4, 0x607F);
        let temp1_input = |raw: u16| register_millicelsius(raw, 9);
        assert_eq!(
            temp1_input(smbus_read_word(&mut ctl, REG_TEMPERATURE)),
            42_500
        );
        control.set_millicelsius(55_000);
        assert_eq!(
            temp1_input(smbus_read_word(&mut ctl, REG_TEMPERATURE)),
            55_000
        );
        assert_eq!(temp1_input(smbus_read_word(&mut ctl, REG_T_HIGH)), 80_000);
        assert!(!rec.level(0), "every interrupt acknowledged");
    }

    #[test]
    fn a_restored_sensor_reads_alike_and_keeps_its_host_control() {
        let (t, mut bus) = sensor(20_000);
        write_bytes(&mut bus, &[REG_CONFIG, 0x60 | CONFIG_SD]); // 12 bits, shutdown
        write_bytes(&mut bus, &[REG_T_HIGH, 0x5A, 0x50]);
        t.borrow().set_temperature_millicelsius(30_062);
        write_bytes(&mut bus, &[REG_CONFIG, 0x60 | CONFIG_SD | CONFIG_OS]); // one-shot
        t.borrow().set_temperature_millicelsius(-7_250); // not converted: shut down
                                                         // Halfway through a T_HIGH read.
        assert!(bus.start(ADDR, false) && bus.write(REG_T_HIGH) && bus.start(ADDR, true));
        assert_eq!(bus.read(), 0x5A);
        let saved = t.borrow().save_state().expect("a sensor saves its state");
        assert_eq!(
            (saved.kind.as_str(), saved.version),
            (STATE_KIND, STATE_VERSION)
        );
        let (u, mut bus2) = sensor(99_000);
        let control = u.borrow().temperature_control();
        u.borrow_mut().load_state(&saved).unwrap();
        bus2.restore_selected(Some(ADDR));
        assert_eq!(u.borrow().state(), t.borrow().state());
        assert_eq!(control.millicelsius(), -7_250, "the host's handle sees it");
        assert_eq!(u.borrow().save_state(), Some(saved));
        // The read goes on with the second byte, then every register reads alike.
        assert_eq!([bus.read(), bus2.read()], [0x50, 0x50]);
        bus.stop();
        bus2.stop();
        for reg in [REG_TEMPERATURE, REG_T_LOW, REG_T_HIGH] {
            assert_eq!(read_word(&mut bus2, reg), read_word(&mut bus, reg), "{reg}");
        }
        assert_eq!(
            read_word(&mut bus2, REG_TEMPERATURE),
            0x1E10,
            "frozen at 30.0625"
        );
        assert_eq!(
            read_byte(&mut bus2, REG_CONFIG),
            read_byte(&mut bus, REG_CONFIG)
        );
        // Leaving shutdown converts the host-set temperature on both.
        write_bytes(&mut bus, &[REG_CONFIG, 0x60]);
        write_bytes(&mut bus2, &[REG_CONFIG, 0x60]);
        assert_eq!(read_word(&mut bus2, REG_TEMPERATURE), 0xF8C0);
        assert_eq!(read_word(&mut bus, REG_TEMPERATURE), 0xF8C0);
        control.set_millicelsius(1_000);
        assert_eq!(read_word(&mut bus2, REG_TEMPERATURE), 0x0100);
    }

    #[test]
    fn a_sensor_refuses_a_state_of_another_kind_or_version() {
        let (t, mut bus) = sensor(20_000);
        write_bytes(&mut bus, &[REG_T_LOW, 0x10, 0x00]);
        let saved = t.borrow().save_state().unwrap();
        let mut u = Tmp105::new(55_000);
        let before = u.state();
        let wrong_kind = DeviceState {
            kind: "tmp421".into(),
            ..saved.clone()
        };
        let wrong_version = DeviceState {
            version: STATE_VERSION + 1,
            ..saved.clone()
        };
        for bad in [&wrong_kind, &wrong_version] {
            assert!(u.load_state(bad).is_err());
        }
        assert_eq!(u.state(), before, "left unchanged");
        assert_eq!(u.temperature_millicelsius(), 55_000);
    }
}
