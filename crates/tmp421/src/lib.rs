//! A TI TMP421-compatible I2C temperature sensor (local channel), settable while the guest runs.
//! Sources: TI datasheet SBOS398C table 3, Linux 6.1 `drivers/hwmon/tmp421.c`.
#![deny(missing_docs)]

/// Local temperature, high byte: Linux `TMP421_TEMP_MSB[0]`.
pub const REG_LOCAL_HIGH: u8 = 0x00;
/// Local temperature, low byte: Linux `TMP421_TEMP_LSB[0]`.
pub const REG_LOCAL_LOW: u8 = 0x10;
/// Configuration register 1 (SD, RANGE): Linux `TMP421_CONFIG_REG_1`.
pub const REG_CONFIG1: u8 = 0x09;
/// Configuration register 2 (channel enables, RC): Linux `TMP421_CONFIG_REG_2`.
pub const REG_CONFIG2: u8 = 0x0A;
/// Manufacturer ID register: Linux `TMP421_MANUFACTURER_ID_REG`.
pub const REG_MANUFACTURER_ID: u8 = 0xFE;
/// Device ID register: Linux `TMP421_DEVICE_ID_REG`.
pub const REG_DEVICE_ID: u8 = 0xFF;
/// Texas Instruments: Linux `TMP421_MANUFACTURER_ID`.
pub const MANUFACTURER_ID: u8 = 0x55;
/// TMP421: Linux `TMP421_DEVICE_ID`.
pub const DEVICE_ID: u8 = 0x21;
/// Config 1 RANGE, extended range (offset by 64 degC): Linux `TMP421_CONFIG_RANGE`.
pub const CONFIG1_RANGE: u8 = 0x04;
/// Config 2 at power-on, LEN | REN | RC: datasheet table 3 (POR 1Ch).
pub const CONFIG2_RESET: u8 = 0x1C;

/// The (high, low) bytes for `millicelsius`: 1/16 degC steps, +64 degC if `extended`, clamped.
pub fn temperature_register(millicelsius: i32, extended: bool) -> [u8; 2] {
    let sixteenths = (i64::from(millicelsius) * 16 + 500).div_euclid(1000);
    let (offset, min) = if extended { (1024, 0) } else { (0, -0x800) };
    (((sixteenths + offset).clamp(min, min + 0xFFF) << 4) as u16).to_be_bytes()
}

/// Sets the sensed temperature (millidegrees Celsius) from outside the bus, as tmp105's does.
pub type TemperatureControl = std::rc::Rc<std::cell::Cell<i32>>;

/// The registers and transfer state: a plain value that can be saved and restored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tmp421State {
    /// The temperature being measured, millidegrees Celsius.
    pub millicelsius: i32,
    /// Pointer register.
    pub pointer: u8,
    /// Configuration registers 1 and 2.
    pub config: [u8; 2],
    /// Low byte latched by the last high-byte read: both bytes come from one conversion.
    pub latched_low: u8,
    /// Bytes written (the first is the pointer) or read in the current transaction.
    pub count: u8,
}

/// A TMP421-compatible temperature sensor.
pub struct Tmp421 {
    state: Tmp421State,
    temperature: TemperatureControl,
}

impl Tmp421 {
    /// A sensor in its power-on state measuring `millicelsius`.
    pub fn new(millicelsius: i32) -> Self {
        let mut state = Tmp421State::default();
        (state.millicelsius, state.config[1]) = (millicelsius, CONFIG2_RESET);
        Self::from_state(&state)
    }
    /// A sensor restored from `state`.
    pub fn from_state(state: &Tmp421State) -> Self {
        let temperature = TemperatureControl::new(state.millicelsius.into());
        let state = state.clone();
        Self { state, temperature }
    }
    /// A copy of the registers, with the temperature currently set.
    pub fn state(&self) -> Tmp421State {
        let mut state = self.state.clone();
        state.millicelsius = self.temperature.get();
        state
    }
    /// A handle to set the temperature while the sensor sits on a bus.
    pub fn temperature_control(&self) -> TemperatureControl {
        self.temperature.clone()
    }
}

impl i2c::I2cTarget for Tmp421 {
    fn start(&mut self, _read: bool) -> bool {
        self.state.count = 0;
        true
    }
    fn write(&mut self, byte: u8) -> bool {
        let s = &mut self.state;
        s.count = s.count.saturating_add(1);
        match (s.count, s.pointer) {
            (1, _) => s.pointer = byte,
            (2, p @ (REG_CONFIG1 | REG_CONFIG2)) => s.config[usize::from(p - REG_CONFIG1)] = byte,
            (_, p) => log::debug!("tmp421: write {byte:#04x} to register {p:#04x} ignored"),
        }
        true
    }
    fn read(&mut self) -> u8 {
        let s = &mut self.state;
        s.count = s.count.saturating_add(1);
        match (s.count, s.pointer) {
            (1, REG_LOCAL_HIGH) => {
                let extended = s.config[0] & CONFIG1_RANGE != 0;
                let [high, low] = temperature_register(self.temperature.get(), extended);
                s.latched_low = low;
                high
            }
            (1, REG_LOCAL_LOW) | (2, REG_LOCAL_HIGH) => s.latched_low,
            (1, p @ (REG_CONFIG1 | REG_CONFIG2)) => s.config[usize::from(p - REG_CONFIG1)],
            (1, REG_MANUFACTURER_ID) => MANUFACTURER_ID,
            (1, REG_DEVICE_ID) => DEVICE_ID,
            _ => 0, // status (never busy); not modelled: remote channels, rate, shutdown
        }
    }
    fn stop(&mut self) {
        self.state.count = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Linux's SMBus "read byte data" of each register in `regs`.
    fn read<const N: usize>(bus: &mut i2c::I2cBus, regs: [u8; N]) -> [u8; N] {
        regs.map(|reg| {
            assert!(bus.start(0x4c, false) && bus.write(reg) && bus.start(0x4c, true));
            bus.read()
        })
    }

    #[test]
    fn linux_reads_ids_config_and_a_temperature_set_while_running() {
        let (sensor, bus) = (Tmp421::new(42_500), &mut i2c::I2cBus::new());
        let control = sensor.temperature_control();
        let sensor = std::rc::Rc::new(std::cell::RefCell::new(sensor));
        bus.attach(0x4c, sensor.clone()).unwrap();
        assert_eq!(read(bus, [0xFE, 0xFF, 0x0A]), [0x55, 0x21, 0x1C]);
        assert_eq!(read(bus, [0x00, 0x10, 0x00]), [0x2A, 0x80, 0x2A]);
        control.set(60_000); // after a high-byte read: the low byte stays latched
        assert_eq!(read(bus, [0x10, 0x00, 0x10]), [0x80, 0x3C, 0x00]);
        assert!(bus.start(0x4c, false) && bus.write(0x09) && bus.write(0x04)); // RANGE: +64 degC
        assert_eq!(read(bus, [0x09, 0x00, 0x10]), [0x04, 0x7C, 0x00]);
        let saved = sensor.borrow().state();
        assert_eq!((saved.millicelsius, saved.latched_low), (60_000, 0x00));
        assert_eq!(Tmp421::from_state(&saved).state(), saved);
        assert_eq!(temperature_register(-20_000, false), [0xEC, 0x00]);
        assert_eq!(temperature_register(i32::MAX, false), [0x7F, 0xF0]);
    }
}
