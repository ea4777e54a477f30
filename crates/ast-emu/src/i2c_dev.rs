//! `--i2c-dev bus=N,addr=0xNN,type=tmp105|lm75|tmp421[,temp=C]`: a temperature sensor on an I2C
//! bus of the SoC, or a new temperature for one already there (the EVB's own at bus 8, 0x4d).

use std::fmt;

use aspeed_soc::{AspeedSoc, SensorKind, I2C_BUS_COUNT};

/// The form of a spec, for error messages.
const FORM: &str = "bus=N,addr=0xNN,type=tmp105|lm75|tmp421[,temp=C]";

/// One `--i2c-dev` flag, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct I2cDevSpec {
    /// I2C bus, 0..=15.
    pub bus: usize,
    /// 7-bit address, 0x08..=0x77.
    pub address: u8,
    /// Sensor model (`lm75` is the TMP105 model).
    pub kind: SensorKind,
    /// Temperature in millidegrees Celsius, if given.
    pub millicelsius: Option<i32>,
    /// The spec as written.
    pub text: String,
}

impl fmt::Display for I2cDevSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn number(text: &str) -> Option<u64> {
    control::text::parse_number(text).and_then(|n| u64::try_from(n).ok())
}

/// Parses one spec (clap's value parser for `--i2c-dev`: an error exits with code 2).
pub fn parse(spec: &str) -> Result<I2cDevSpec, String> {
    let (mut bus, mut address, mut kind, mut millicelsius) = (None, None, None, None);
    for field in spec.split(',') {
        let Some((key, value)) = field.split_once('=') else {
            return Err(format!("{field:?} is not key=value (expected {FORM})"));
        };
        let duplicate = match key {
            "bus" => bus.replace(value).is_some(),
            "addr" => address.replace(value).is_some(),
            "type" => kind.replace(value).is_some(),
            "temp" => millicelsius.replace(value).is_some(),
            _ => return Err(format!("unknown key {key:?} (expected {FORM})")),
        };
        if duplicate {
            return Err(format!("{key}= is given twice"));
        }
    }
    let missing = |key: &str| format!("{key}= is missing (expected {FORM})");
    let bus_text = bus.ok_or_else(|| missing("bus"))?;
    let bus = number(bus_text)
        .and_then(|b| usize::try_from(b).ok())
        .filter(|&b| b < I2C_BUS_COUNT)
        .ok_or_else(|| {
            let last = I2C_BUS_COUNT - 1;
            format!("bus={bus_text}: the AST2600 has I2C buses 0 to {last}")
        })?;
    let address_text = address.ok_or_else(|| missing("addr"))?;
    let address = number(address_text)
        .and_then(|a| u8::try_from(a).ok())
        .filter(|a| (0x08..=0x77).contains(a))
        .ok_or_else(|| {
            format!("addr={address_text}: a 7-bit I2C device address is 0x08 to 0x77")
        })?;
    let kind_text = kind.ok_or_else(|| missing("type"))?;
    let kind = SensorKind::from_name(kind_text).ok_or_else(|| {
        let known: Vec<&str> = SensorKind::ALL.iter().map(|k| k.name()).collect();
        let known = known.join(", ");
        format!("type={kind_text}: known types are {known} (lm75 is tmp105)")
    })?;
    let millicelsius = match millicelsius {
        Some(t) => Some(aspeed_soc::parse_celsius(t).map_err(|e| format!("temp={t}: {e}"))?),
        None => None,
    };
    Ok(I2cDevSpec {
        bus,
        address,
        kind,
        millicelsius,
        text: spec.to_string(),
    })
}

/// Places every sensor `specs` asks for, in order. The error names the spec that failed.
pub fn add_all(soc: &mut AspeedSoc, specs: &[I2cDevSpec]) -> Result<(), String> {
    for spec in specs {
        soc.add_temperature_sensor(spec.bus, spec.address, spec.kind, spec.millicelsius)
            .map_err(|e| format!("--i2c-dev {spec}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_specs() {
        let s = parse("bus=8,addr=0x4c,type=tmp421,temp=42.5").unwrap();
        assert_eq!(
            (s.bus, s.address, s.kind, s.millicelsius),
            (8, 0x4c, SensorKind::Tmp421, Some(42_500))
        );
        assert_eq!(s.to_string(), "bus=8,addr=0x4c,type=tmp421,temp=42.5");
        let s = parse("type=lm75,addr=77,bus=0x0f").unwrap();
        assert_eq!(
            (s.bus, s.address, s.kind, s.millicelsius),
            (15, 77, SensorKind::Tmp105, None)
        );
        let s = parse("bus=8,addr=0x4D,type=tmp105,temp=-12").unwrap();
        assert_eq!((s.address, s.millicelsius), (0x4d, Some(-12_000)));
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        for (spec, message) in [
            ("", "\"\" is not key=value"),
            ("bus=8,addr=0x4c", "type= is missing"),
            ("addr=0x4c,type=tmp421", "bus= is missing"),
            ("bus=8,type=tmp421", "addr= is missing"),
            (
                "bus=16,addr=0x4c,type=tmp421",
                "bus=16: the AST2600 has I2C buses 0 to 15",
            ),
            (
                "bus=-1,addr=0x4c,type=tmp421",
                "bus=-1: the AST2600 has I2C buses 0 to 15",
            ),
            (
                "bus=8,addr=0x80,type=tmp421",
                "addr=0x80: a 7-bit I2C device address is 0x08",
            ),
            ("bus=8,addr=0x03,type=tmp421", "addr=0x03: a 7-bit"),
            ("bus=8,addr=4c,type=tmp421", "addr=4c: a 7-bit"),
            (
                "bus=8,addr=0x4c,type=adt7490",
                "type=adt7490: known types are tmp105",
            ),
            (
                "bus=8,addr=0x4c,type=tmp421,temp=hot",
                "temp=hot: \"hot\" is not a temperature",
            ),
            (
                "bus=8,addr=0x4c,type=tmp421,temp=151",
                "temp=151: 151 C is out of range",
            ),
            ("bus=8,bus=9,addr=0x4c,type=tmp421", "bus= is given twice"),
            (
                "bus=8,addr=0x4c,type=tmp421,speed=1",
                "unknown key \"speed\"",
            ),
            ("bus=8,addr=0x4c,type=tmp421,", "\"\" is not key=value"),
        ] {
            let err = parse(spec).unwrap_err();
            assert!(err.starts_with(message), "{spec:?}: {err:?}");
        }
    }
}
