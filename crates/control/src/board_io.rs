//! The board I/O rows of the command table: GPIO and SGPIO lines, ADC channels, the RTC.

use serde_json::{json, Value};

use crate::table::{ArgType, Args, Command, CommandError, Context, Param};

const CONTROLLER: Param = Param {
    name: "controller",
    ty: ArgType::Int { min: 0, max: 1 },
    required: false,
    help: "GPIO controller: 0 = gpio0 (3.3 V, default), 1 = gpio1 (1.8 V)",
};
const LINE: Param = Param {
    name: "line",
    ty: ArgType::Int { min: 0, max: 255 },
    required: false,
    help: "the line as Linux numbers it in its chip (P0 of gpio0 is 120)",
};
const NAME: Param = Param {
    name: "name",
    ty: ArgType::Str,
    required: false,
    help: "instead of controller and line: the device tree's gpio-line-names name, or a pin (P0)",
};
const VALUE: Param = Param {
    name: "value",
    ty: ArgType::Int { min: 0, max: 1 },
    required: true,
    help: "0 (low) or 1 (high)",
};
const MASTER: Param = Param {
    name: "master",
    ty: ArgType::Int { min: 0, max: 1 },
    required: false,
    help: "SGPIO master: 0 = sgpiom0 (default), 1 = sgpiom1",
};
const SGPIO_LINE: Param = Param {
    name: "line",
    ty: ArgType::Int { min: 0, max: 255 },
    required: true,
    help: "the line as Linux numbers it: slot s has input 2s and output 2s+1",
};
const ENGINE: Param = Param {
    name: "engine",
    ty: ArgType::Int { min: 0, max: 1 },
    required: true,
    help: "ADC engine: 0 (adc0) or 1 (adc1)",
};
const CHANNEL: Param = Param {
    name: "channel",
    ty: ArgType::Int { min: 0, max: 15 },
    required: true,
    help: "the engine's channel (0..7 on the AST2600)",
};

/// `gpio-list`.
pub const GPIO_LIST: Command = Command {
    name: "gpio-list",
    aliases: &["info gpio"],
    params: &[CONTROLLER],
    help: "every line of a GPIO controller: pin, name, direction, level",
    run: gpio_list,
    text: Some(gpio_list_text),
};

/// `gpio-get`.
pub const GPIO_GET: Command = Command {
    name: "gpio-get",
    aliases: &[],
    params: &[CONTROLLER, LINE, NAME],
    help: "one GPIO line: its level, and whether the guest drives it",
    run: gpio_get,
    text: Some(|v| format!("{}\n", gpio_line_text(v))),
};

/// `gpio-set`.
pub const GPIO_SET: Command = Command {
    name: "gpio-set",
    aliases: &[],
    params: &[CONTROLLER, LINE, VALUE, NAME],
    help: "drive a GPIO input from the board (the guest reads it; an edge may interrupt it)",
    run: gpio_set,
    text: Some(|v| format!("{}\n", gpio_line_text(v))),
};

/// `sgpio-get`.
pub const SGPIO_GET: Command = Command {
    name: "sgpio-get",
    aliases: &[],
    params: &[MASTER, SGPIO_LINE],
    help: "one serial GPIO line (even: the board's input, odd: the guest's output)",
    run: sgpio_get,
    text: Some(sgpio_text),
};

/// `sgpio-set`.
pub const SGPIO_SET: Command = Command {
    name: "sgpio-set",
    aliases: &[],
    params: &[MASTER, SGPIO_LINE, VALUE],
    help: "drive a serial GPIO input (an even line) from the board",
    run: sgpio_set,
    text: Some(sgpio_text),
};

/// `adc-get`.
pub const ADC_GET: Command = Command {
    name: "adc-get",
    aliases: &[],
    params: &[ENGINE, CHANNEL],
    help: "an ADC channel: the voltage on it and the code the guest reads",
    run: adc_get,
    text: Some(adc_text),
};

/// `adc-set`.
pub const ADC_SET: Command = Command {
    name: "adc-set",
    aliases: &[],
    params: &[
        ENGINE,
        CHANNEL,
        Param {
            name: "millivolts",
            ty: ArgType::Int { min: 0, max: 5000 },
            required: true,
            help: "the voltage on the channel's pin (codes clamp at the reference)",
        },
    ],
    help: "put a voltage on an ADC channel (the guest's in_voltageN_raw follows)",
    run: adc_set,
    text: Some(adc_text),
};

/// `rtc-get`.
pub const RTC_GET: Command = Command {
    name: "rtc-get",
    aliases: &["info rtc"],
    params: &[],
    help: "the RTC's time (seconds since 1970, UTC)",
    run: rtc_get,
    text: Some(|v| {
        format!(
            "RTC: {} ({})\n",
            v["time"],
            v["utc"].as_str().unwrap_or("?")
        )
    }),
};

/// `rtc-set`.
pub const RTC_SET: Command = Command {
    name: "rtc-set",
    aliases: &[],
    params: &[Param {
        name: "time",
        ty: ArgType::Int {
            min: 0,
            max: i64::MAX,
        },
        required: true,
        help: "seconds since 1970-01-01 00:00:00 UTC",
    }],
    help: "set the RTC (the guest's hwclock -r reads it from now on)",
    run: rtc_set,
    text: Some(|v| {
        format!(
            "RTC: {} ({})\n",
            v["time"],
            v["utc"].as_str().unwrap_or("?")
        )
    }),
};

fn soc_error(e: ast2600::SocError) -> CommandError {
    CommandError::no_device(e.0)
}

fn gpio_json(l: &ast2600::GpioLine) -> Value {
    json!({
        "controller": l.index,
        "chip": l.controller,
        "line": l.line,
        "pin": l.pin,
        "name": l.name,
        "direction": if l.output { "out" } else { "in" },
        "value": u8::from(l.level),
    })
}

fn gpio_line_text(v: &Value) -> String {
    let name = match v["name"].as_str() {
        Some(n) => format!(" {n:?}"),
        None => String::new(),
    };
    format!(
        "{} line {} ({}{name}): {} {}",
        v["chip"].as_str().unwrap_or("?"),
        v["line"],
        v["pin"].as_str().unwrap_or("?"),
        v["direction"].as_str().unwrap_or("?"),
        v["value"]
    )
}

fn gpio_list_text(v: &Value) -> String {
    v.as_array()
        .map(|lines| lines.iter().map(|l| gpio_line_text(l) + "\n").collect())
        .unwrap_or_default()
}

/// The line a request names: `name`, or `controller` (default 0) and `line`.
fn gpio_line_of(ctx: &Context<'_>, args: &Args) -> Result<(usize, u32), CommandError> {
    match (args.str("name"), args.int("line")) {
        (Some(_), Some(_)) => Err(CommandError::generic(
            "give either name or line (with controller), not both",
        )),
        (Some(name), None) => ctx.soc.gpio_find(name).map_err(soc_error),
        (None, Some(line)) => Ok((args.int("controller").unwrap_or(0) as usize, line as u32)),
        (None, None) => Err(CommandError::generic(
            "which line? give line (with controller) or name",
        )),
    }
}

fn gpio_list(ctx: &mut Context<'_>, args: &Args) -> Result<Value, CommandError> {
    let index = args.int("controller").unwrap_or(0) as usize;
    let lines = ctx.soc.gpio_lines(index).map_err(soc_error)?;
    Ok(Value::Array(lines.iter().map(gpio_json).collect()))
}

fn gpio_get(ctx: &mut Context<'_>, args: &Args) -> Result<Value, CommandError> {
    let (index, line) = gpio_line_of(ctx, args)?;
    ctx.soc
        .gpio_get(index, line)
        .map(|l| gpio_json(&l))
        .map_err(soc_error)
}

fn gpio_set(ctx: &mut Context<'_>, args: &Args) -> Result<Value, CommandError> {
    let (index, line) = gpio_line_of(ctx, args)?;
    let high = args.int("value") == Some(1);
    ctx.soc
        .gpio_set(index, line, high)
        .map(|l| gpio_json(&l))
        .map_err(soc_error)
}

fn sgpio_json(l: &ast2600::SgpioLine) -> Value {
    json!({
        "master": l.master,
        "line": l.line,
        "name": l.name,
        "direction": if l.line % 2 == 1 { "out" } else { "in" },
        "value": u8::from(l.level),
    })
}

fn sgpio_text(v: &Value) -> String {
    format!(
        "{} line {}: {} {}\n",
        v["master"].as_str().unwrap_or("?"),
        v["line"],
        v["direction"].as_str().unwrap_or("?"),
        v["value"]
    )
}

fn sgpio_get(ctx: &mut Context<'_>, args: &Args) -> Result<Value, CommandError> {
    let master = args.int("master").unwrap_or(0) as usize;
    let line = args.int("line").unwrap_or(0) as u32;
    ctx.soc
        .sgpio_get(master, line)
        .map(|l| sgpio_json(&l))
        .map_err(soc_error)
}

fn sgpio_set(ctx: &mut Context<'_>, args: &Args) -> Result<Value, CommandError> {
    let master = args.int("master").unwrap_or(0) as usize;
    let line = args.int("line").unwrap_or(0) as u32;
    let high = args.int("value") == Some(1);
    ctx.soc
        .sgpio_set(master, line, high)
        .map(|l| sgpio_json(&l))
        .map_err(soc_error)
}

fn adc_json(c: &ast2600::AdcChannel) -> Value {
    json!({
        "engine": c.engine,
        "channel": c.channel,
        "millivolts": c.millivolts,
        "vref_mv": c.vref_mv,
        "raw": c.reading,
    })
}

fn adc_text(v: &Value) -> String {
    format!(
        "adc{} channel {}: {} mV, reads {} (reference {} mV)\n",
        v["engine"], v["channel"], v["millivolts"], v["raw"], v["vref_mv"]
    )
}

fn adc_get(ctx: &mut Context<'_>, args: &Args) -> Result<Value, CommandError> {
    let engine = args.int("engine").unwrap_or(0) as usize;
    let channel = args.int("channel").unwrap_or(0) as usize;
    ctx.soc
        .adc_get(engine, channel)
        .map(|c| adc_json(&c))
        .map_err(soc_error)
}

fn adc_set(ctx: &mut Context<'_>, args: &Args) -> Result<Value, CommandError> {
    let engine = args.int("engine").unwrap_or(0) as usize;
    let channel = args.int("channel").unwrap_or(0) as usize;
    let mv = args.int("millivolts").unwrap_or(0) as u32;
    ctx.soc
        .adc_set(engine, channel, mv)
        .map(|c| adc_json(&c))
        .map_err(soc_error)
}

/// `{"time", "utc"}`: seconds and the UTC date as `YYYY-MM-DD HH:MM:SS`.
fn rtc_json(secs: i64) -> Value {
    let days = secs.div_euclid(86_400);
    let rest = secs.rem_euclid(86_400);
    let (y, m, d) = rtc::civil_from_days(days);
    json!({
        "time": secs,
        "utc": format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
            rest / 3600,
            rest / 60 % 60,
            rest % 60
        ),
    })
}

fn rtc_get(ctx: &mut Context<'_>, _: &Args) -> Result<Value, CommandError> {
    ctx.soc.rtc_get().map(rtc_json).map_err(soc_error)
}

fn rtc_set(ctx: &mut Context<'_>, args: &Args) -> Result<Value, CommandError> {
    let secs = args.int("time").unwrap_or(0);
    ctx.soc
        .rtc_set(secs)
        .map(rtc_json)
        .map_err(|e| CommandError::generic(e.0))
}
