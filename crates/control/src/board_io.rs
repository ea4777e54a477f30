//! The board I/O rows of the command table: GPIO and SGPIO lines, ADC channels, the RTC, the
//! host side of the LPC (KCS requests, port 80 POST codes).

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
    changes_guest: false,
    aliases: &["info gpio"],
    params: &[CONTROLLER],
    help: "every line of a GPIO controller: pin, name, direction, level",
    run: gpio_list,
    text: Some(gpio_list_text),
};

/// `gpio-get`.
pub const GPIO_GET: Command = Command {
    name: "gpio-get",
    changes_guest: false,
    aliases: &[],
    params: &[CONTROLLER, LINE, NAME],
    help: "one GPIO line: its level, and whether the guest drives it",
    run: gpio_get,
    text: Some(|v| format!("{}\n", gpio_line_text(v))),
};

/// `gpio-set`.
pub const GPIO_SET: Command = Command {
    name: "gpio-set",
    changes_guest: true,
    aliases: &[],
    params: &[CONTROLLER, LINE, VALUE, NAME],
    help: "drive a GPIO input from the board (the guest reads it; an edge may interrupt it)",
    run: gpio_set,
    text: Some(|v| format!("{}\n", gpio_line_text(v))),
};

/// `sgpio-get`.
pub const SGPIO_GET: Command = Command {
    name: "sgpio-get",
    changes_guest: false,
    aliases: &[],
    params: &[MASTER, SGPIO_LINE],
    help: "one serial GPIO line (even: the board's input, odd: the guest's output)",
    run: sgpio_get,
    text: Some(sgpio_text),
};

/// `sgpio-set`.
pub const SGPIO_SET: Command = Command {
    name: "sgpio-set",
    changes_guest: true,
    aliases: &[],
    params: &[MASTER, SGPIO_LINE, VALUE],
    help: "drive a serial GPIO input (an even line) from the board",
    run: sgpio_set,
    text: Some(sgpio_text),
};

/// `adc-get`.
pub const ADC_GET: Command = Command {
    name: "adc-get",
    changes_guest: false,
    aliases: &[],
    params: &[ENGINE, CHANNEL],
    help: "an ADC channel: the voltage on it and the code the guest reads",
    run: adc_get,
    text: Some(adc_text),
};

/// `adc-set`.
pub const ADC_SET: Command = Command {
    name: "adc-set",
    changes_guest: true,
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
    changes_guest: false,
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
    changes_guest: true,
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

fn soc_error(e: aspeed_soc::SocError) -> CommandError {
    CommandError::no_device(e.0)
}

fn gpio_json(l: &aspeed_soc::GpioLine) -> Value {
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

fn sgpio_json(l: &aspeed_soc::SgpioLine) -> Value {
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

fn adc_json(c: &aspeed_soc::AdcChannel) -> Value {
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

/// `kcs-request`.
pub const KCS_REQUEST: Command = Command {
    name: "kcs-request",
    changes_guest: true,
    aliases: &[],
    params: &[
        Param {
            name: "channel",
            ty: ArgType::Int { min: 1, max: 4 },
            required: true,
            help: "KCS channel 1..4 (the device tree's kcs1..kcs4; the guest's /dev/ipmi-kcsN)",
        },
        Param {
            name: "data",
            ty: ArgType::Bytes,
            required: true,
            help: "the IPMI request: NetFn/LUN, command, data ([24, 1] is Get Device ID)",
        },
        Param {
            name: "timeout_ms",
            ty: ArgType::Int {
                min: 1,
                max: 3_600_000,
            },
            required: false,
            help: "virtual milliseconds the BMC has to answer (default 5000)",
        },
    ],
    help: "send an IPMI request to the BMC over KCS as the host would; answers with the reply",
    run: kcs_request,
    text: Some(|v| match v.get("reply") {
        Some(r) => format!("KCS{} reply: {}\n", v["channel"], hex_text(r)),
        None => format!(
            "KCS{}: request sent; the reply is the control socket's KCS_REPLY event\n",
            v["channel"]
        ),
    }),
};

fn hex_text(bytes: &Value) -> String {
    bytes
        .as_array()
        .map(|a| {
            a.iter()
                .map(|b| format!("{:02x}", b.as_u64().unwrap_or(0)))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

fn kcs_request(ctx: &mut Context<'_>, args: &Args) -> Result<Value, CommandError> {
    let channel = args.int("channel").unwrap_or(1) as usize;
    let data = args.bytes("data").unwrap_or_default();
    let timeout_ns = args
        .int("timeout_ms")
        .map_or(aspeed_soc::KCS_TIMEOUT_NS, |ms| ms as u64 * 1_000_000);
    let done: Option<aspeed_soc::KcsCallback> = ctx.responder.take().map(|respond| {
        Box::new(move |reply: Result<Vec<u8>, String>| {
            respond(
                reply
                    .map(|bytes| json!({"channel": channel, "reply": bytes}))
                    .map_err(|e| CommandError::generic(format!("kcs-request: {e}"))),
            )
        }) as aspeed_soc::KcsCallback
    });
    let answers_later = done.is_some();
    // On an error the responder (if taken) has answered already; what is returned then goes
    // to the monitor only.
    match ctx.soc.kcs_request(channel, &data, timeout_ns, done) {
        Ok(()) if answers_later => Ok(Value::Null),
        Ok(()) => Ok(json!({"channel": channel, "queued": true})),
        Err(e) => Err(CommandError::generic(format!("kcs-request: {}", e.0))),
    }
}

/// `snoop-write`.
pub const SNOOP_WRITE: Command = Command {
    name: "snoop-write",
    changes_guest: true,
    aliases: &["post-code"],
    params: &[
        Param {
            name: "data",
            ty: ArgType::Bytes,
            required: true,
            help: "the bytes the host writes, one at a time (POST codes)",
        },
        Param {
            name: "port",
            ty: ArgType::Int {
                min: 0,
                max: 0xFFFF,
            },
            required: false,
            help: "the host I/O port (default 0x80)",
        },
    ],
    help: "the host writes POST codes to port 80 (or another snooped port): /dev/aspeed-lpc-snoop0",
    run: snoop_write,
    text: Some(|v| {
        format!(
            "{} bytes queued for port {:#x}\n",
            v["queued"],
            v["port"].as_u64().unwrap_or(0)
        )
    }),
};

fn snoop_write(ctx: &mut Context<'_>, args: &Args) -> Result<Value, CommandError> {
    let port = args.int("port").unwrap_or(0x80) as u16;
    let data = args.bytes("data").unwrap_or_default();
    let queued = ctx
        .soc
        .snoop_write(port, &data)
        .map_err(|e| CommandError::generic(format!("snoop-write: {}", e.0)))?;
    if queued < data.len() {
        return Err(CommandError::generic(format!(
            "snoop-write: only {queued} of {} bytes queued: the guest does not read its POST codes",
            data.len()
        )));
    }
    Ok(json!({"port": port, "queued": queued}))
}
