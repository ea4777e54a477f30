//! The text front end: the console monitor (`Ctrl-a c`) and GDB's `monitor` type a line,
//! [`run_line`] finds the command in the same table the control socket uses, fills its
//! arguments (positional in the table's order, or `name=value`) and formats its result.
//!
//! Besides the table's names and aliases it keeps the monitor's older shapes: `temp` (list),
//! `temp C` (the board's first sensor), `temp BUS ADDR C`, and `x/N ADDR`.

use serde_json::{Map, Value};

use crate::commands::COMMANDS;
use crate::table::{self, ArgType, Command, Context};

/// Runs one monitor line on `soc` for the console monitor or GDB's `monitor` (no socket
/// client): its reply, and the stop it asks for (`quit`).
pub fn run_monitor_line(
    soc: &mut aspeed_soc::AspeedSoc,
    hub: &std::sync::Arc<crate::events::Hub>,
    line: &str,
) -> (String, Option<aspeed_soc::Stop>) {
    let mut ctx = Context::without_client(soc, hub);
    let text = run_line(&mut ctx, line);
    (text, ctx.stop)
}

/// Runs one monitor line and returns its reply (ending in a newline, or empty). A command
/// that ends the run sets `ctx.stop`.
pub fn run_line(ctx: &mut Context<'_>, line: &str) -> String {
    let line = line.trim();
    if line.is_empty() {
        return String::new();
    }
    let (command, args) = match parse(ctx, line) {
        Ok(found) => found,
        Err(e) => return format!("{e}\n"),
    };
    let args = match command.check(Some(&Value::Object(args))) {
        Ok(a) => a,
        Err(e) => return format!("{}\n", e.desc),
    };
    match table::execute(ctx, command, &args) {
        Ok(value) => match command.text {
            Some(format) => format(&value),
            None if value == Value::Object(Map::new()) => String::new(),
            None => format!("{value}\n"),
        },
        Err(e) => format!("{}: {}\n", command.name, e.desc),
    }
}

/// The command a line names and its arguments (not yet checked).
fn parse(ctx: &Context<'_>, line: &str) -> Result<(&'static Command, Map<String, Value>), String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let find = |name: &str| COMMANDS.iter().find(|c| c.name == name);
    if words[0] == "temp" {
        return temp(ctx, &words[1..])
            .map(|(name, args)| (find(name).expect("in the table"), args));
    }
    if let Some(count) = words[0].strip_prefix("x/") {
        let count = count.trim_end_matches(['x', 'w']);
        let mut args = Map::new();
        args.insert("count".into(), int_value(count, "count")?);
        if let Some(addr) = words.get(1) {
            args.insert("addr".into(), int_value(addr, "addr")?);
        }
        return Ok((find("memory-read").expect("in the table"), args));
    }
    // Two-word aliases (`info registers`) first, then names and one-word aliases.
    let (command, used) = words
        .get(1)
        .and_then(|second| {
            let two = format!("{} {second}", words[0]);
            COMMANDS
                .iter()
                .find(|c| c.aliases.contains(&two.as_str()))
                .map(|c| (c, 2))
        })
        .or_else(|| {
            COMMANDS
                .iter()
                .find(|c| c.name == words[0] || c.aliases.contains(&words[0]))
                .map(|c| (c, 1))
        })
        .ok_or_else(|| format!("unknown command {line:?}; try help"))?;
    let rest = skip_words(line, used);
    let mut args = Map::new();
    if let [p] = command.params {
        if p.ty == ArgType::Str && !rest.is_empty() {
            let text = rest.strip_prefix(&format!("{}=", p.name)).unwrap_or(rest);
            args.insert(p.name.into(), Value::String(unescape(text)));
            return Ok((command, args));
        }
    }
    let mut positional = command.params.iter();
    for word in rest.split_whitespace() {
        let (param, value) = match word.split_once('=') {
            Some((name, value)) => match command.params.iter().find(|p| p.name == name) {
                Some(p) => (p, value),
                None => return Err(format!("{}: unexpected argument {name:?}", command.name)),
            },
            None => match positional.next() {
                Some(p) => (p, word),
                None => return Err(format!("{}: too many arguments", command.name)),
            },
        };
        let value = match param.ty {
            ArgType::Int { .. } => int_value(value, param.name)?,
            ArgType::Number => value
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| format!("{}: {value:?} is not a number", param.name))?,
            ArgType::Str => Value::String(unescape(value)),
            ArgType::Bool => match value {
                "on" | "true" | "1" | "yes" => Value::Bool(true),
                "off" | "false" | "0" | "no" => Value::Bool(false),
                _ => return Err(format!("{}: {value:?} is not on or off", param.name)),
            },
            ArgType::Bytes => hex_bytes(value)
                .map(|b| Value::Array(b.into_iter().map(Value::from).collect()))
                .ok_or_else(|| {
                    format!("{}: {value:?} is not hex bytes (18:01 or 1801)", param.name)
                })?,
        };
        args.insert(param.name.into(), value);
    }
    Ok((command, args))
}

/// Hex bytes as the monitor takes them: `18:01`, `18,01` or `1801`.
fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    let digits: String = text.chars().filter(|c| !matches!(c, ':' | ',')).collect();
    if !digits.len().is_multiple_of(2) || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).ok())
        .collect()
}

/// The monitor's `temp`: no argument lists, `C` sets the first sensor, `BUS ADDR C` one.
fn temp(ctx: &Context<'_>, args: &[&str]) -> Result<(&'static str, Map<String, Value>), String> {
    const USAGE: &str = "usage: temp [BUS ADDR] C  (C from -55 to 150; no argument lists)";
    let mut map = Map::new();
    let celsius = match args {
        [] => return Ok(("sensor-list", map)),
        [c] => {
            let Some(first) = ctx.soc.temperature_sensors().first() else {
                return Err("temp: the board has no temperature sensor".into());
            };
            map.insert("bus".into(), first.bus().into());
            map.insert("addr".into(), first.address().into());
            c
        }
        [bus, addr, c] => {
            map.insert("bus".into(), int_value(bus, "bus")?);
            map.insert("addr".into(), int_value(addr, "addr")?);
            c
        }
        _ => return Err(format!("temp: {USAGE}")),
    };
    let c = aspeed_soc::parse_celsius(celsius).map_err(|e| format!("temp: {e}"))?;
    map.insert("celsius".into(), (f64::from(c) / 1000.0).into());
    Ok(("sensor-set", map))
}

/// A number as the monitor and the command line write it: decimal, or hex with `0x`.
pub fn parse_number(text: &str) -> Option<i64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => i64::from_str_radix(&hex.replace('_', ""), 16).ok(),
        None => text.parse::<i64>().ok(),
    }
}

fn int_value(text: &str, name: &str) -> Result<Value, String> {
    parse_number(text)
        .map(Value::from)
        .ok_or_else(|| format!("{name}: {text:?} is not a number (decimal or 0x hex)"))
}

/// `line` after its first `n` words and the blanks after them.
fn skip_words(line: &str, n: usize) -> &str {
    let mut rest = line.trim_start();
    for _ in 0..n {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        rest = rest[end..].trim_start();
    }
    rest
}

/// `\r`, `\n`, `\t`, `\\`, `\e` and `\xNN` in monitor text, as bytes in a string.
fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('e') => out.push('\x1b'),
            Some('\\') => out.push('\\'),
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                match u8::from_str_radix(&hex, 16) {
                    Ok(b) if b < 0x80 => out.push(char::from(b)),
                    _ => {
                        out.push_str("\\x");
                        out.push_str(&hex);
                    }
                }
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use aspeed_soc::{AspeedSoc, BoardConfig};

    use crate::events::Hub;

    /// The EVB with erased flash (no guest code runs in these tests).
    fn soc() -> AspeedSoc {
        let board = aspeed_soc::board::default_board().clone();
        let size = aspeed_soc::flash_sizes(&board).unwrap()[0] as usize;
        let config = BoardConfig::with_boot_flash(board, vec![0xff; size]).unwrap();
        AspeedSoc::new(config, Box::new(std::io::sink())).unwrap()
    }

    #[test]
    fn the_monitor_reaches_the_table_in_old_and_new_shapes() {
        let mut soc = soc();
        let hub = Hub::new();
        let mut say = |line: &str| run_monitor_line(&mut soc, &hub, line).0;
        assert_eq!(say("temp 55"), "tmp105 (i2c bus 8, 0x4d) now reads 55 C\n");
        assert_eq!(
            say("sensor-set 8 0x4d 42.5"),
            "tmp105 (i2c bus 8, 0x4d) now reads 42.5 C\n"
        );
        assert_eq!(
            say("sensor-set celsius=40 bus=8 addr=77"),
            "tmp105 (i2c bus 8, 0x4d) now reads 40 C\n"
        );
        assert!(say("temp").contains("tmp105 (i2c bus 8, 0x4d): 40 C"));
        assert_eq!(say("sensor-get 8 0x4d"), "tmp105 (i2c bus 8, 0x4d): 40 C\n");
        assert!(say("info mtree").contains("0x1e784000-0x1e784fff uart5"));
        assert!(say("query-machine").starts_with("board ast2600-evb (ast2600)"));
        assert!(say("info registers").contains("cpsr ="));
        assert!(say("info banked").contains("svc"));
        assert!(say("info status").starts_with("status: running; virtual time"));
        // DRAM reads back what was written; unmapped space is reported as such.
        soc_write(
            &mut soc,
            0x8000_0000,
            &[0x78, 0x56, 0x34, 0x12, 0xef, 0xbe, 0xad, 0xde],
        );
        let mut say = |line: &str| run_monitor_line(&mut soc, &hub, line).0;
        assert_eq!(say("x/2 0x80000000"), "0x80000000: 0x12345678 0xdeadbeef\n");
        assert_eq!(say("memory-read 0x80000004"), "0x80000004: 0xdeadbeef\n");
        assert!(say("help").contains("sensor-set BUS ADDR CELSIUS"));
        assert!(say("stop").contains("stopped"));
        assert!(say("query-status").starts_with("status: paused"));
        assert!(say("cont").contains("running"));
        assert_eq!(say(""), "");
    }

    fn soc_write(soc: &mut AspeedSoc, addr: u64, bytes: &[u8]) {
        soc.write_physical(addr, bytes).unwrap();
    }

    #[test]
    fn monitor_errors_say_what_is_wrong_and_change_nothing() {
        let mut soc = soc();
        let hub = Hub::new();
        let mut say = |line: &str| run_monitor_line(&mut soc, &hub, line).0;
        assert!(say("frobnicate").starts_with("unknown command \"frobnicate\"; try help"));
        assert!(say("temp 8 0x4c 1")
            .starts_with("sensor-set: no temperature sensor at i2c bus 8, address 0x4c"));
        assert!(say("temp 151").contains("out of range"));
        assert!(say("temp hot").contains("not a temperature"));
        assert!(say("temp x 0x4d 1").contains("not a number"));
        assert!(say("temp 8 1").contains("usage: temp [BUS ADDR] C"));
        assert!(say("sensor-set 16 0x4d 1").contains("out of range (0 to 15)"));
        assert!(say("sensor-set 8 0x4d").contains("missing argument \"celsius\""));
        assert!(say("sensor-set 8 0x4d 1 2").contains("too many arguments"));
        assert!(say("sensor-set colour=red").contains("unexpected argument \"colour\""));
        assert!(say("console-watch").contains("control-socket clients"));
        assert!(
            say("sensor-get 8 0x4d").contains(": 35 C"),
            "unchanged (the EVB board file says 35)"
        );
    }

    #[test]
    fn board_io_from_the_monitor() {
        let mut soc = soc();
        let hub = Hub::new();
        let mut say = |line: &str| run_monitor_line(&mut soc, &hub, line).0;
        // The EVB's board file pulls P0 up; the host drives it low and back.
        assert_eq!(say("gpio-get name=P0"), "gpio0 line 120 (P0): in 1\n");
        assert_eq!(
            say("gpio-set name=P0 value=0"),
            "gpio0 line 120 (P0): in 0\n"
        );
        assert_eq!(say("gpio-set 1 3 1"), "gpio1 line 3 (18A3): in 1\n");
        assert!(say("gpio-get 1 36").contains("gpio1 has no line 36"));
        assert!(say("gpio-get name=nowhere").contains("no GPIO line called \"nowhere\""));
        assert!(say("gpio-get name=P0 line=1").contains("either name or line"));
        assert!(say("gpio-list 1").lines().count() == 36);
        assert_eq!(say("sgpio-set 0 4 1"), "sgpiom0 line 4: in 1\n");
        assert!(say("sgpio-set 0 5 1").contains("no serial input"));
        // The engine is off until the guest turns it on: the code reads 0 meanwhile.
        assert_eq!(
            say("adc-set 1 7 1250"),
            "adc1 channel 7: 1250 mV, reads 0 (reference 2500 mV)\n"
        );
        assert!(say("adc-get 0 8").contains("has no channel 8"));
        assert_eq!(say("rtc-set 86400"), "RTC: 86400 (1970-01-02 00:00:00)\n");
        assert!(say("rtc-get").starts_with("RTC: 86400"));
        assert!(say("rtc-set 99999999999999").contains("out of range"));
        // The guest has bound no KCS or snoop driver on a machine that has not run.
        assert!(say("kcs-request 3 18:01").contains("KCS channel 3 is not enabled by the guest"));
        assert!(say("kcs-request 3 1g").contains("not hex bytes"));
        assert!(say("kcs-request 5 1801").contains("out of range (1 to 4)"));
        assert!(say("snoop-write 12,34").contains("no snoop channel captures port 0x80"));
    }

    #[test]
    fn hex_bytes_in_text() {
        assert_eq!(hex_bytes("18:01"), Some(vec![0x18, 0x01]));
        assert_eq!(hex_bytes("1801ff"), Some(vec![0x18, 0x01, 0xFF]));
        assert_eq!(hex_bytes("12,34"), Some(vec![0x12, 0x34]));
        assert_eq!(hex_bytes("123"), None);
        assert_eq!(hex_bytes("zz"), None);
    }

    #[test]
    fn quit_and_reset_from_the_monitor() {
        let mut soc = soc();
        let hub = Hub::new();
        let (id, queue) = hub.add_client("hello".into());
        soc.set_event_sink(Box::new({
            let hub = hub.clone();
            move |e| hub.soc_event(e)
        }));
        assert_eq!(
            run_monitor_line(&mut soc, &hub, "reset").0,
            "system reset\n"
        );
        let events: Vec<Value> = queue
            .rx
            .try_iter()
            .skip(1)
            .map(|l| serde_json::from_str(&l).unwrap())
            .collect();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["event"], "RESET");
        assert_eq!(events[0]["data"]["reason"], "host-qmp-system-reset");
        assert_eq!(hub.resets(), 1);
        let (text, stop) = run_monitor_line(&mut soc, &hub, "q");
        assert_eq!(
            (text.as_str(), stop),
            ("quitting\n", Some(aspeed_soc::Stop::Quit))
        );
        hub.remove_client(id);
    }

    #[test]
    fn escapes_in_monitor_text() {
        assert_eq!(unescape(r"ls\r"), "ls\r");
        assert_eq!(unescape(r"a\x03b\\c\q"), "a\x03b\\c\\q");
        assert_eq!(unescape(r"\xZZ"), r"\xZZ");
    }

    #[test]
    fn words_are_skipped_with_their_blanks() {
        assert_eq!(skip_words("  console-send   echo  hi ", 1), "echo  hi ");
        assert_eq!(skip_words("info registers", 2), "");
    }

    #[test]
    fn numbers_in_decimal_or_hex() {
        assert_eq!(int_value("0x4d", "addr"), Ok(Value::from(0x4d)));
        assert_eq!(int_value("8", "bus"), Ok(Value::from(8)));
        assert!(int_value("eight", "bus")
            .unwrap_err()
            .contains("not a number"));
    }
}
