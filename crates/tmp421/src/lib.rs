//! A TI TMP421 / TMP422 / TMP423-compatible I2C temperature sensor ([`Tmp421Kind`]: the local
//! channel and one, two or three remote channels), each temperature settable while the guest
//! runs. Sources: TI datasheet SBOS398C table 3 (register map, power-on values, device IDs),
//! Linux 6.1 `drivers/hwmon/tmp421.c` (2, 3 or 4 channels; the IDs `tmp421_detect` checks).
//!
//! Not modelled: the status register reads 0 (never busy), conversion rate, one-shot,
//! shutdown, η-correction and software reset; the low bytes' PVLD and OPEN bits read 0 (a
//! diode on every remote channel, so Linux reports no fault).
#![deny(missing_docs)]

use i2c::{DeviceState, StateError};
use serde::{Deserialize, Serialize};

/// The kind of a sensor's saved state ([`DeviceState::kind`]), every part's.
pub const STATE_KIND: &str = "tmp421";
/// The format version of a sensor's saved state: [`Tmp421State`] as this build serialises it.
pub const STATE_VERSION: u32 = 1;

/// Local temperature, high byte: Linux `TMP421_TEMP_MSB[0]`.
pub const REG_LOCAL_HIGH: u8 = 0x00;
/// Local temperature, low byte: Linux `TMP421_TEMP_LSB[0]`.
pub const REG_LOCAL_LOW: u8 = 0x10;
/// Temperature high bytes of channels 0 (local) to 3 (remote 3): Linux `TMP421_TEMP_MSB`.
pub const REG_TEMP_HIGH: [u8; 4] = [0x00, 0x01, 0x02, 0x03];
/// Temperature low bytes of channels 0 to 3: Linux `TMP421_TEMP_LSB`.
pub const REG_TEMP_LOW: [u8; 4] = [0x10, 0x11, 0x12, 0x13];
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
/// TMP422: Linux `TMP422_DEVICE_ID`.
pub const TMP422_DEVICE_ID: u8 = 0x22;
/// TMP423: Linux `TMP423_DEVICE_ID`.
pub const TMP423_DEVICE_ID: u8 = 0x23;
/// Config 1 RANGE, extended range (offset by 64 degC): Linux `TMP421_CONFIG_RANGE`.
pub const CONFIG1_RANGE: u8 = 0x04;
/// TMP421 config 2 at power-on, LEN | REN | RC: datasheet table 3 (POR 1Ch).
pub const CONFIG2_RESET: u8 = 0x1C;
/// TMP422 config 2 at power-on, with REN2: datasheet table 3 (POR 3Ch).
pub const TMP422_CONFIG2_RESET: u8 = 0x3C;
/// TMP423 config 2 at power-on, with REN2 and REN3: datasheet table 3 (POR 7Ch).
pub const TMP423_CONFIG2_RESET: u8 = 0x7C;
/// Remote channels the largest part (TMP423) has.
pub const MAX_REMOTE_CHANNELS: usize = 3;

/// The parts of the family: they differ in the device ID, the number of remote channels and
/// the channel enables at power-on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Tmp421Kind {
    /// One remote channel (Linux `ti,tmp421`, 2 channels).
    #[default]
    Tmp421,
    /// Two remote channels (Linux `ti,tmp422`, 3 channels).
    Tmp422,
    /// Three remote channels (Linux `ti,tmp423`, 4 channels).
    Tmp423,
}

impl Tmp421Kind {
    /// Every part.
    pub const ALL: [Tmp421Kind; 3] = [Tmp421Kind::Tmp421, Tmp421Kind::Tmp422, Tmp421Kind::Tmp423];

    /// The device ID register's value.
    pub fn device_id(self) -> u8 {
        match self {
            Tmp421Kind::Tmp421 => DEVICE_ID,
            Tmp421Kind::Tmp422 => TMP422_DEVICE_ID,
            Tmp421Kind::Tmp423 => TMP423_DEVICE_ID,
        }
    }

    /// Channels, the local one included (Linux `tmp421_id` driver data).
    pub fn channels(self) -> usize {
        match self {
            Tmp421Kind::Tmp421 => 2,
            Tmp421Kind::Tmp422 => 3,
            Tmp421Kind::Tmp423 => 4,
        }
    }

    /// Configuration register 2 at power-on (the part's channel enables and RC).
    pub fn config2_reset(self) -> u8 {
        match self {
            Tmp421Kind::Tmp421 => CONFIG2_RESET,
            Tmp421Kind::Tmp422 => TMP422_CONFIG2_RESET,
            Tmp421Kind::Tmp423 => TMP423_CONFIG2_RESET,
        }
    }

    /// The Linux device name (`"tmp422"`).
    pub fn name(self) -> &'static str {
        match self {
            Tmp421Kind::Tmp421 => "tmp421",
            Tmp421Kind::Tmp422 => "tmp422",
            Tmp421Kind::Tmp423 => "tmp423",
        }
    }

    /// The part a Linux name designates: the I2C device id (`"tmp422"`) or the device tree
    /// compatible (`"ti,tmp422"`), in any letter case.
    pub fn by_name(name: &str) -> Option<Self> {
        let name = name.to_ascii_lowercase();
        let name = name.strip_prefix("ti,").unwrap_or(&name);
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// The (high, low) bytes for `millicelsius`: 1/16 degC steps, +64 degC if `extended`, clamped.
pub fn temperature_register(millicelsius: i32, extended: bool) -> [u8; 2] {
    let sixteenths = (i64::from(millicelsius) * 16 + 500).div_euclid(1000);
    let (offset, min) = if extended { (1024, 0) } else { (0, -0x800) };
    (((sixteenths + offset).clamp(min, min + 0xFFF) << 4) as u16).to_be_bytes()
}

/// Sets the sensed temperature (millidegrees Celsius) from outside the bus, as tmp105's does.
pub type TemperatureControl = std::rc::Rc<std::cell::Cell<i32>>;

/// The registers and transfer state: a plain value that can be saved and restored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tmp421State {
    /// Which part.
    pub kind: Tmp421Kind,
    /// The temperature the local channel measures, millidegrees Celsius.
    pub millicelsius: i32,
    /// The temperatures remote channels 1 to 3 measure (those the part has), millidegrees.
    pub remote_millicelsius: [i32; MAX_REMOTE_CHANNELS],
    /// Pointer register.
    pub pointer: u8,
    /// Configuration registers 1 and 2.
    pub config: [u8; 2],
    /// Low byte latched by the last high-byte read: both bytes come from one conversion.
    pub latched_low: u8,
    /// The channel whose high byte was read last, if no other register was read since: a
    /// read of its low byte returns `latched_low`.
    pub latched_channel: Option<u8>,
    /// Bytes written (the first is the pointer) or read in the current transaction.
    pub count: u8,
}

/// A TMP421 / TMP422 / TMP423-compatible temperature sensor.
pub struct Tmp421 {
    state: Tmp421State,
    /// One control per channel the part has, the local one first.
    temperatures: Vec<TemperatureControl>,
}

impl Tmp421 {
    /// A TMP421 in its power-on state measuring `millicelsius` on both channels.
    pub fn new(millicelsius: i32) -> Self {
        Self::with_kind(Tmp421Kind::Tmp421, millicelsius)
    }
    /// A part of `kind` in its power-on state measuring `millicelsius` on every channel.
    pub fn with_kind(kind: Tmp421Kind, millicelsius: i32) -> Self {
        let mut state = Tmp421State {
            kind,
            millicelsius,
            remote_millicelsius: [millicelsius; MAX_REMOTE_CHANNELS],
            ..Tmp421State::default()
        };
        state.config[1] = kind.config2_reset();
        Self::from_state(&state)
    }
    /// A sensor restored from `state`.
    pub fn from_state(state: &Tmp421State) -> Self {
        let state = state.clone();
        let temperatures = std::iter::once(state.millicelsius)
            .chain(state.remote_millicelsius)
            .take(state.kind.channels())
            .map(|mc| TemperatureControl::new(mc.into()))
            .collect();
        Self {
            state,
            temperatures,
        }
    }
    /// A copy of the registers, with the temperatures currently set.
    pub fn state(&self) -> Tmp421State {
        let mut state = self.state.clone();
        state.millicelsius = self.temperatures[0].get();
        for (remote, control) in state
            .remote_millicelsius
            .iter_mut()
            .zip(&self.temperatures[1..])
        {
            *remote = control.get();
        }
        state
    }
    /// Which part this is.
    pub fn kind(&self) -> Tmp421Kind {
        self.state.kind
    }
    /// A handle to set the local temperature while the sensor sits on a bus.
    pub fn temperature_control(&self) -> TemperatureControl {
        self.temperatures[0].clone()
    }
    /// A handle to set channel `channel`'s temperature (0 local, 1..=3 remote), if the part
    /// has that channel.
    pub fn channel_control(&self, channel: usize) -> Option<TemperatureControl> {
        self.temperatures.get(channel).cloned()
    }

    /// The (high, low) bytes channel `channel` converts now.
    fn convert(&self, channel: usize) -> [u8; 2] {
        let extended = self.state.config[0] & CONFIG1_RANGE != 0;
        temperature_register(self.temperatures[channel].get(), extended)
    }

    /// The channel whose temperature high (`REG_TEMP_HIGH`) or low byte `reg` is, if the
    /// part has it.
    fn channel_of(&self, reg: u8, bytes: &[u8; 4]) -> Option<usize> {
        bytes
            .iter()
            .take(self.state.kind.channels())
            .position(|&r| r == reg)
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
        self.state.count = self.state.count.saturating_add(1);
        let (count, pointer) = (self.state.count, self.state.pointer);
        let high = self.channel_of(pointer, &REG_TEMP_HIGH);
        let low = self.channel_of(pointer, &REG_TEMP_LOW);
        let latched = self.state.latched_channel.map(usize::from);
        match (count, high, low) {
            (1, Some(channel), _) => {
                let [high, low] = self.convert(channel);
                self.state.latched_low = low;
                self.state.latched_channel = Some(channel as u8);
                return high;
            }
            // A two-byte read of a high byte, or the low byte after its high byte.
            (2, Some(_), _) => return self.state.latched_low,
            (1, _, Some(channel)) if latched == Some(channel) => return self.state.latched_low,
            (1, _, Some(channel)) => {
                self.state.latched_channel = None;
                return self.convert(channel)[1];
            }
            _ => {}
        }
        let s = &mut self.state;
        s.latched_channel = None;
        match (count, pointer) {
            (1, p @ (REG_CONFIG1 | REG_CONFIG2)) => s.config[usize::from(p - REG_CONFIG1)],
            (1, REG_MANUFACTURER_ID) => MANUFACTURER_ID,
            (1, REG_DEVICE_ID) => s.kind.device_id(),
            _ => 0, // status (never busy); not modelled: rate, shutdown, η-correction
        }
    }
    fn stop(&mut self) {
        self.state.count = 0;
    }

    /// The registers, the latched low byte, the transfer progress and the temperatures the
    /// host set ([`Tmp421State`]).
    fn save_state(&self) -> Option<DeviceState> {
        Some(DeviceState::new(STATE_KIND, STATE_VERSION, &self.state()))
    }

    /// Refuses another part's state; sets the restored temperatures through the sensor's
    /// controls, so the handles the host holds stay connected.
    fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        let s: Tmp421State = state.decode(STATE_KIND, STATE_VERSION)?;
        if s.kind != self.state.kind {
            return Err(StateError(format!(
                "{STATE_KIND}: the state is of a {}, this sensor is a {}",
                s.kind.name(),
                self.state.kind.name()
            )));
        }
        let channels = self.state.kind.channels();
        if s.latched_channel
            .is_some_and(|c| usize::from(c) >= channels)
        {
            return Err(StateError(format!(
                "{STATE_KIND}: latched channel {:?} does not exist on a {}",
                s.latched_channel,
                s.kind.name()
            )));
        }
        let temperatures = std::iter::once(s.millicelsius).chain(s.remote_millicelsius);
        for (control, mc) in self.temperatures.iter().zip(temperatures) {
            control.set(mc);
        }
        self.state = s;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use i2c::I2cTarget;

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

    #[test]
    fn tmp422_and_tmp423_have_their_ids_channels_and_enables() {
        // Datasheet table 3: device ID 22h / 23h; config 2 POR 3Ch / 7Ch (REN2, REN3).
        for (kind, id, config2, channels) in [
            (Tmp421Kind::Tmp421, 0x21, 0x1C, 2),
            (Tmp421Kind::Tmp422, 0x22, 0x3C, 3),
            (Tmp421Kind::Tmp423, 0x23, 0x7C, 4),
        ] {
            let bus = &mut i2c::I2cBus::new();
            let sensor = Tmp421::with_kind(kind, 25_000);
            assert_eq!(sensor.kind(), kind);
            assert!(sensor.channel_control(channels - 1).is_some());
            assert!(sensor.channel_control(channels).is_none(), "{kind:?}");
            bus.attach(0x4c, std::rc::Rc::new(std::cell::RefCell::new(sensor)))
                .unwrap();
            assert_eq!(
                read(bus, [0xFE, 0xFF, 0x0A]),
                [0x55, id, config2],
                "{kind:?}"
            );
            // Every channel the part has reads 25 degC (19h); the others read 0.
            let highs = read(bus, [0x00, 0x01, 0x02, 0x03]);
            let expected: Vec<u8> = (0..4)
                .map(|c| if c < channels { 0x19 } else { 0 })
                .collect();
            assert_eq!(highs.to_vec(), expected, "{kind:?}");
            assert_eq!(Tmp421Kind::by_name(kind.name()), Some(kind));
        }
        assert_eq!(Tmp421Kind::by_name("ti,tmp423"), Some(Tmp421Kind::Tmp423));
        assert_eq!(Tmp421Kind::by_name("TMP422"), Some(Tmp421Kind::Tmp422));
        assert_eq!(Tmp421Kind::by_name("tmp441"), None);
    }

    #[test]
    fn remote_channels_are_set_and_latched_one_by_one() {
        let (sensor, bus) = (
            Tmp421::with_kind(Tmp421Kind::Tmp423, 30_000),
            &mut i2c::I2cBus::new(),
        );
        let [local, r1, r2, r3] = [0, 1, 2, 3].map(|c| sensor.channel_control(c).unwrap());
        let sensor = std::rc::Rc::new(std::cell::RefCell::new(sensor));
        bus.attach(0x4d, sensor.clone()).unwrap();
        r1.set(-10_250);
        r2.set(100_500);
        r3.set(55_062);
        // -10.25 degC: F5h C0h; 100.5: 64h 80h; 55.0625: 37h 10h (1/16 degC steps).
        let read_at = |bus: &mut i2c::I2cBus, regs: [u8; 2]| {
            regs.map(|reg| {
                assert!(bus.start(0x4d, false) && bus.write(reg) && bus.start(0x4d, true));
                bus.read()
            })
        };
        assert_eq!(read_at(bus, [0x01, 0x11]), [0xF5, 0xC0]);
        assert_eq!(read_at(bus, [0x02, 0x12]), [0x64, 0x80]);
        assert_eq!(read_at(bus, [0x03, 0x13]), [0x37, 0x10]);
        assert_eq!(read_at(bus, [0x00, 0x10]), [0x1E, 0x00]);
        // The low byte stays with its high byte's conversion ...
        assert_eq!(read_at(bus, [0x02, 0x02]), [0x64, 0x64]);
        r2.set(100_750);
        assert_eq!(read_at(bus, [0x12, 0x12]), [0x80, 0x80], "latched at 100.5");
        // ... until another register is read: then a low byte is converted afresh.
        assert_eq!(read_at(bus, [0x0A, 0x12]), [0x7C, 0xC0], "100.75");
        // A low byte of another channel than the latched one is converted afresh too.
        assert_eq!(read_at(bus, [0x01, 0x12]), [0xF5, 0xC0]);
        local.set(-1_000);
        let state = sensor.borrow().state();
        assert_eq!(state.millicelsius, -1_000);
        assert_eq!(state.remote_millicelsius, [-10_250, 100_750, 55_062]);
        assert_eq!(state.latched_channel, None);
        assert_eq!(Tmp421::from_state(&state).state(), state);
    }

    #[test]
    fn a_restored_sensor_keeps_its_latch_and_host_controls() {
        let sensor = Tmp421::with_kind(Tmp421Kind::Tmp422, 30_000);
        let r2 = sensor.channel_control(2).unwrap();
        let sensor = std::rc::Rc::new(std::cell::RefCell::new(sensor));
        let bus = &mut i2c::I2cBus::new();
        bus.attach(0x4c, sensor.clone()).unwrap();
        assert!(bus.start(0x4c, false) && bus.write(0x09) && bus.write(CONFIG1_RANGE));
        bus.stop();
        r2.set(100_500);
        assert_eq!(read(bus, [0x02]), [0xA4], "latches 100.5 + 64 degC");
        r2.set(-3_000); // the low byte stays latched at 100.5
        let saved = sensor
            .borrow()
            .save_state()
            .expect("a sensor saves its state");
        assert_eq!(
            (saved.kind.as_str(), saved.version),
            (STATE_KIND, STATE_VERSION)
        );
        let copy = Tmp421::with_kind(Tmp421Kind::Tmp422, 0);
        let controls: Vec<_> = (0..3).map(|c| copy.channel_control(c).unwrap()).collect();
        let copy = std::rc::Rc::new(std::cell::RefCell::new(copy));
        let bus2 = &mut i2c::I2cBus::new();
        bus2.attach(0x4c, copy.clone()).unwrap();
        copy.borrow_mut().load_state(&saved).unwrap();
        assert_eq!(copy.borrow().state(), sensor.borrow().state());
        assert_eq!(
            controls.iter().map(|c| c.get()).collect::<Vec<_>>(),
            [30_000, 30_000, -3_000],
            "the host's handles see the restored temperatures"
        );
        assert_eq!(copy.borrow().save_state(), Some(saved));
        // The latched low byte, then fresh conversions, read alike.
        let regs = [0x12, 0x02, 0x12, 0x00, 0x10, 0x01, 0x09, 0x0A, 0xFF];
        let values = read(bus2, regs);
        assert_eq!(values, read(bus, regs));
        assert_eq!(
            values[..3],
            [0x80, 0x3D, 0x00],
            "latched 100.5, then -3.0 + 64"
        );
        controls[1].set(12_500);
        assert_eq!(read(bus2, [0x01]), [0x4C], "12.5 + 64 degC");
    }

    #[test]
    fn a_sensor_refuses_a_state_of_another_kind_version_or_part() {
        let saved = Tmp421::with_kind(Tmp421Kind::Tmp423, 40_000)
            .save_state()
            .unwrap();
        let mut sensor = Tmp421::with_kind(Tmp421Kind::Tmp421, 25_000);
        let before = sensor.state();
        let wrong_kind = DeviceState {
            kind: "tmp105".into(),
            ..saved.clone()
        };
        let wrong_version = DeviceState {
            version: STATE_VERSION + 1,
            ..saved.clone()
        };
        for bad in [&wrong_kind, &wrong_version] {
            assert!(sensor.load_state(bad).is_err());
        }
        let err = sensor.load_state(&saved).unwrap_err();
        assert!(
            err.0.contains("tmp423") && err.0.contains("tmp421"),
            "{err}"
        );
        assert_eq!(sensor.state(), before, "left unchanged");
        assert_eq!(sensor.temperature_control().get(), 25_000);
    }
}
