//! The targets on the I2C controller's buses: the EVB's devices, sensors added at start-up
//! (`--i2c-dev`), and the handles that set sensor temperatures while the guest runs.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use i2c::{AspeedI2cBus, I2cBus};

use crate::SocError;

/// Lowest temperature the monitor and `--i2c-dev` accept, degrees Celsius (TMP105 range).
pub const MIN_CELSIUS: f64 = -55.0;
/// Highest temperature the monitor and `--i2c-dev` accept, degrees Celsius.
pub const MAX_CELSIUS: f64 = 150.0;
/// Most I2C buses a SoC has (the AST2600's 0..=15; the AST2500 has 0..=13).
pub const I2C_BUS_COUNT: usize = i2c::BUS_COUNT;
/// Temperature of a sensor added without one, millidegrees Celsius.
pub const DEFAULT_MILLICELSIUS: i32 = 25_000;

/// A temperature sensor model that can be placed on an I2C bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SensorKind {
    /// TMP105 / LM75-compatible (the `tmp105` crate; Linux `lm75` driver, names `lm75`, `tmp105`).
    Tmp105,
    /// TI TMP421-compatible (the `tmp421` crate; Linux `tmp421` driver).
    Tmp421,
    /// TI TMP422: the TMP421 with two remote channels.
    Tmp422,
    /// TI TMP423: the TMP421 with three remote channels.
    Tmp423,
}

impl SensorKind {
    /// Every model.
    pub const ALL: [SensorKind; 4] = [
        SensorKind::Tmp105,
        SensorKind::Tmp421,
        SensorKind::Tmp422,
        SensorKind::Tmp423,
    ];

    /// The model's name, as `--i2c-dev type=` and the monitor spell it.
    pub fn name(self) -> &'static str {
        match self {
            SensorKind::Tmp105 => "tmp105",
            SensorKind::Tmp421 => "tmp421",
            SensorKind::Tmp422 => "tmp422",
            SensorKind::Tmp423 => "tmp423",
        }
    }

    /// The model called `name`; `lm75` is another name of the TMP105 model.
    pub fn from_name(name: &str) -> Option<SensorKind> {
        match name {
            "lm75" => Some(SensorKind::Tmp105),
            _ => Self::ALL.into_iter().find(|k| k.name() == name),
        }
    }
}

impl fmt::Display for SensorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The crate-specific control a sensor hands out.
#[derive(Debug, Clone)]
enum Control {
    Tmp105(tmp105::TemperatureControl),
    Tmp421(tmp421::TemperatureControl),
}

/// Sets one placed sensor's temperature while the guest runs. Cloning gives another handle to
/// the same sensor. Not `Send`: use it on the thread that runs the SoC (the monitor does).
#[derive(Debug, Clone)]
pub struct TemperatureHandle {
    bus: usize,
    address: u8,
    kind: SensorKind,
    control: Control,
}

impl TemperatureHandle {
    /// Sets the temperature the sensor measures, in millidegrees Celsius.
    pub fn set_millicelsius(&self, millicelsius: i32) {
        match &self.control {
            Control::Tmp105(c) => c.set_millicelsius(millicelsius),
            Control::Tmp421(c) => c.set(millicelsius),
        }
    }

    /// The temperature the sensor measures, in millidegrees Celsius.
    pub fn millicelsius(&self) -> i32 {
        match &self.control {
            Control::Tmp105(c) => c.millicelsius(),
            Control::Tmp421(c) => c.get(),
        }
    }

    /// The I2C bus (0..=15) the sensor is on.
    pub fn bus(&self) -> usize {
        self.bus
    }

    /// The sensor's 7-bit address.
    pub fn address(&self) -> u8 {
        self.address
    }

    /// The sensor model.
    pub fn kind(&self) -> SensorKind {
        self.kind
    }
}

impl fmt::Display for TemperatureHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (i2c bus {}, {:#04x})",
            self.kind, self.bus, self.address
        )
    }
}

/// `text` in degrees Celsius (`42.5`) as millidegrees, if it is a number from
/// [`MIN_CELSIUS`] to [`MAX_CELSIUS`].
pub fn parse_celsius(text: &str) -> Result<i32, String> {
    match text.parse::<f64>() {
        Ok(c) => celsius_to_millicelsius(c),
        Err(_) => Err(format!("{text:?} is not a temperature in degrees Celsius")),
    }
}

/// `celsius` as millidegrees, if it is from [`MIN_CELSIUS`] to [`MAX_CELSIUS`] (NaN is not).
pub fn celsius_to_millicelsius(celsius: f64) -> Result<i32, String> {
    if (MIN_CELSIUS..=MAX_CELSIUS).contains(&celsius) {
        Ok((celsius * 1000.0).round() as i32)
    } else {
        Err(format!(
            "{celsius} C is out of range ({MIN_CELSIUS} to {MAX_CELSIUS})"
        ))
    }
}

/// The I2C controller's buses, and the sensors placed on them.
pub(crate) struct I2cDevices {
    buses: Vec<Rc<RefCell<AspeedI2cBus>>>,
    sensors: Vec<TemperatureHandle>,
    /// The SoC's name for errors.
    soc: &'static str,
}

impl I2cDevices {
    /// Devices on `buses` (bus n at index n), none placed yet.
    pub(crate) fn new(buses: Vec<Rc<RefCell<AspeedI2cBus>>>) -> Self {
        Self {
            buses,
            sensors: Vec::new(),
            soc: "AST2600",
        }
    }

    /// Names the SoC in errors (`the AST2500 has I2C buses 0 to 13`).
    pub(crate) fn with_soc(mut self, soc: &'static str) -> Self {
        self.soc = soc;
        self
    }

    /// How many I2C buses the controller has.
    pub(crate) fn bus_count(&self) -> usize {
        self.buses.len()
    }

    /// Runs `f` on the I2C bus `bus` (to attach a target that is not a sensor).
    pub(crate) fn with_bus<T>(
        &self,
        bus: usize,
        f: impl FnOnce(&mut I2cBus) -> T,
    ) -> Result<T, SocError> {
        let ctrl = self
            .buses
            .get(bus)
            .ok_or_else(|| no_such_bus(self.soc, bus, self.buses.len()))?;
        let mut ctrl = ctrl.borrow_mut();
        Ok(f(ctrl.i2c_bus_mut()))
    }

    /// Places a `kind` sensor at 7-bit `address` on `bus` measuring `millicelsius` (25.0 C if
    /// `None`). If a sensor of that kind is already there (the EVB's own), sets its temperature
    /// instead (when given) and returns its handle.
    pub(crate) fn add(
        &mut self,
        (bus, address): (usize, u8),
        kind: SensorKind,
        millicelsius: Option<i32>,
    ) -> Result<TemperatureHandle, SocError> {
        if let Some(existing) = self.sensor(bus, address) {
            if existing.kind != kind {
                return Err(SocError(format!(
                    "i2c bus {bus} address {address:#04x} already holds a {}, not a {kind}",
                    existing.kind
                )));
            }
            let existing = existing.clone();
            if let Some(mc) = millicelsius {
                existing.set_millicelsius(mc);
            }
            return Ok(existing);
        }
        let mc = millicelsius.unwrap_or(DEFAULT_MILLICELSIUS);
        let (target, control): (i2c::SharedTarget, Control) = match kind {
            SensorKind::Tmp105 => {
                let sensor = tmp105::Tmp105::new(mc);
                let control = Control::Tmp105(sensor.temperature_control());
                (Rc::new(RefCell::new(sensor)), control)
            }
            SensorKind::Tmp421 | SensorKind::Tmp422 | SensorKind::Tmp423 => {
                let part = tmp421::Tmp421Kind::by_name(kind.name()).expect("a TMP42x part");
                let sensor = tmp421::Tmp421::with_kind(part, mc);
                let control = Control::Tmp421(sensor.temperature_control());
                (Rc::new(RefCell::new(sensor)), control)
            }
        };
        self.with_bus(bus, |b| b.attach(address, target))?
            .map_err(|e| SocError(format!("i2c bus {bus}: {e}")))?;
        let handle = TemperatureHandle {
            bus,
            address,
            kind,
            control,
        };
        self.sensors.push(handle.clone());
        Ok(handle)
    }

    /// Places one of a board's devices: a temperature sensor (`tmp105`, `lm75`, `tmp421`) or
    /// an EEPROM (`24c02`...).
    pub(crate) fn place(&mut self, d: &board::I2cDevice) -> Result<(), SocError> {
        let at = (usize::from(d.bus), d.addr);
        if let Some(kind) = SensorKind::from_name(&d.device) {
            let mc = d.celsius.map(|c| (c * 1000.0).round() as i32);
            self.add(at, kind, mc)?;
            return Ok(());
        }
        let place_err = |e: String| SocError(format!("i2c bus {} {:#04x}: {e}", d.bus, d.addr));
        if let Some(kind) = at24::At24Kind::by_name(&d.device) {
            let mut contents = d.contents.clone().unwrap_or_default().into_bytes();
            contents.resize(kind.size(), 0xff);
            let eeprom = Rc::new(RefCell::new(at24::At24::new(kind, contents)));
            return self
                .with_bus(at.0, |b| at24::At24::attach(&eeprom, b, d.addr))?
                .map_err(|e| place_err(e.to_string()));
        }
        // The board decides the address (IBM's pca9552 variant answers at 0x30-0x37).
        let target: i2c::SharedTarget = if let Some(kind) = pca9552::Pca955xKind::by_name(&d.device)
        {
            Rc::new(RefCell::new(pca9552::Pca9552::new(kind)))
        } else if let Some(kind) = pca9554::Pca9554Kind::by_name(&d.device) {
            Rc::new(RefCell::new(pca9554::Pca9554::new(kind)))
        } else {
            return Err(place_err(format!(
                "no model of a {:?} (there are {})",
                d.device,
                MODELS.join(", ")
            )));
        };
        self.with_bus(at.0, |b| b.attach(d.addr, target))?
            .map_err(|e| place_err(e.to_string()))
    }

    /// The sensor at `address` on `bus`, if one was placed there.
    pub(crate) fn sensor(&self, bus: usize, address: u8) -> Option<&TemperatureHandle> {
        self.sensors
            .iter()
            .find(|s| s.bus == bus && s.address == address)
    }

    /// Every sensor placed, in the order they were.
    pub(crate) fn sensors(&self) -> &[TemperatureHandle] {
        &self.sensors
    }
}

/// The device models a board can place (EEPROMs also by their size: 24c02 ... 24c512).
const MODELS: &[&str] = &[
    "tmp105",
    "lm75",
    "tmp421",
    "tmp422",
    "tmp423",
    "24c01...24c512",
    "pca9551",
    "pca9552",
    "pca9553",
    "pca9554",
    "pca9534",
    "pca9538",
    "tca6408",
];

fn no_such_bus(soc: &str, bus: usize, count: usize) -> SocError {
    SocError(format!(
        "the {soc} has I2C buses 0 to {}, not {bus}",
        count.saturating_sub(1)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bus::IrqLine;

    fn devices() -> I2cDevices {
        let buses = (0..i2c::BUS_COUNT)
            .map(|n| {
                let ctrl = AspeedI2cBus::new(&format!("i2c{n}"), IrqLine::disconnected());
                Rc::new(RefCell::new(ctrl))
            })
            .collect();
        let mut d = I2cDevices::new(buses);
        d.add((8, 0x4d), SensorKind::Tmp105, Some(35_000)).unwrap();
        d
    }

    /// SMBus "read byte data" on `bus` at `address`.
    fn read_byte(d: &I2cDevices, bus: usize, address: u8, reg: u8) -> u8 {
        d.with_bus(bus, |b| {
            assert!(b.start(address, false) && b.write(reg) && b.start(address, true));
            let v = b.read();
            b.stop();
            v
        })
        .unwrap()
    }

    #[test]
    fn an_added_sensor_answers_on_its_bus_and_its_handle_sets_it() {
        let mut d = devices();
        let h = d.add((8, 0x4c), SensorKind::Tmp421, Some(42_500)).unwrap();
        assert_eq!(
            (h.bus(), h.address(), h.kind()),
            (8, 0x4c, SensorKind::Tmp421)
        );
        assert_eq!(read_byte(&d, 8, 0x4c, tmp421::REG_DEVICE_ID), 0x21);
        assert_eq!(read_byte(&d, 8, 0x4c, tmp421::REG_LOCAL_HIGH), 42);
        d.sensor(8, 0x4c).unwrap().set_millicelsius(60_000);
        assert_eq!(read_byte(&d, 8, 0x4c, tmp421::REG_LOCAL_HIGH), 60);
        assert_eq!(h.millicelsius(), 60_000);
        assert_eq!(
            d.sensor(8, 0x4c).unwrap().to_string(),
            "tmp421 (i2c bus 8, 0x4c)"
        );
        let listed: Vec<String> = d.sensors().iter().map(|s| s.to_string()).collect();
        assert_eq!(
            listed,
            ["tmp105 (i2c bus 8, 0x4d)", "tmp421 (i2c bus 8, 0x4c)"]
        );
        assert!(d.sensor(8, 0x4e).is_none());
    }

    #[test]
    fn naming_an_existing_sensor_sets_it_instead_of_adding_one() {
        let mut d = devices();
        let h = d.add((8, 0x4d), SensorKind::Tmp105, Some(42_500)).unwrap();
        assert_eq!(h.millicelsius(), 42_500);
        assert_eq!(d.sensors().len(), 1);
        let h = d.add((8, 0x4d), SensorKind::Tmp105, None).unwrap();
        assert_eq!(h.millicelsius(), 42_500, "no temperature given: unchanged");
        let err = d.add((8, 0x4d), SensorKind::Tmp421, None).unwrap_err();
        assert_eq!(
            err.0,
            "i2c bus 8 address 0x4d already holds a tmp105, not a tmp421"
        );
    }

    #[test]
    fn bad_places_are_refused_with_a_reason() {
        let mut d = devices();
        let err = d.add((16, 0x4c), SensorKind::Tmp421, None).unwrap_err();
        assert_eq!(err.0, "the AST2600 has I2C buses 0 to 15, not 16");
        let err = d.add((8, 0x80), SensorKind::Tmp421, None).unwrap_err();
        assert_eq!(err.0, "i2c bus 8: I2C address 0x80 is not 7-bit");
        d.with_bus(7, |b| {
            b.attach(0x50, Rc::new(RefCell::new(tmp421::Tmp421::new(0))))
        })
        .unwrap()
        .unwrap();
        let err = d.add((7, 0x50), SensorKind::Tmp105, None).unwrap_err();
        assert_eq!(err.0, "i2c bus 7: I2C address 0x50 is already in use");
        assert_eq!(d.sensors().len(), 1, "nothing added");
        let h = d.add((3, 0x48), SensorKind::Tmp105, None).unwrap();
        assert_eq!(h.millicelsius(), DEFAULT_MILLICELSIUS);
    }

    #[test]
    fn kinds_by_name() {
        assert_eq!(SensorKind::from_name("tmp421"), Some(SensorKind::Tmp421));
        assert_eq!(SensorKind::from_name("tmp105"), Some(SensorKind::Tmp105));
        assert_eq!(SensorKind::from_name("lm75"), Some(SensorKind::Tmp105));
        assert_eq!(SensorKind::from_name("TMP421"), None);
    }

    #[test]
    fn celsius_parsing() {
        assert_eq!(parse_celsius("42.5"), Ok(42_500));
        assert_eq!(parse_celsius("-55"), Ok(-55_000));
        assert_eq!(parse_celsius("0.0625"), Ok(63));
        assert!(parse_celsius("150.1").is_err());
        assert!(parse_celsius("NaN").is_err());
        assert!(parse_celsius("").is_err());
        assert!(parse_celsius("hot")
            .unwrap_err()
            .contains("not a temperature"));
        assert!(celsius_to_millicelsius(151.0)
            .unwrap_err()
            .contains("out of range"));
        assert!(celsius_to_millicelsius(f64::NAN).is_err());
        assert_eq!(celsius_to_millicelsius(55.0), Ok(55_000));
    }
}
