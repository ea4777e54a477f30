//! The command table: every command the control socket, the console monitor and GDB's
//! `monitor` understand. Later issues (GPIO, ADC, KCS, snapshots) add their rows here.

use std::fmt::Write as _;

use aspeed_soc::Reg;
use serde_json::{json, Value};

use crate::board_io;
use crate::table::{ArgType, Args, Command, CommandError, Context, Param};

const BUS: Param = Param {
    name: "bus",
    ty: ArgType::Int { min: 0, max: 15 },
    required: true,
    help: "I2C bus (0..15)",
};
const ADDR: Param = Param {
    name: "addr",
    ty: ArgType::Int { min: 0, max: 0x7f },
    required: true,
    help: "7-bit I2C address",
};

const PATH: Param = Param {
    name: "path",
    ty: ArgType::Str,
    required: true,
    help: "snapshot file",
};

/// Every command, in the order `help` lists them.
pub static COMMANDS: &[Command] = &[
    Command {
        name: "qmp_capabilities",
        changes_guest: false,
        aliases: &[],
        params: &[],
        help: "accepted for QMP clients; capabilities are on from the start",
        run: |_, _| Ok(json!({})),
        text: None,
    },
    Command {
        name: "query-commands",
        changes_guest: false,
        aliases: &["help", "?"],
        params: &[],
        help: "the commands, their arguments and what they do",
        run: query_commands,
        text: Some(help_text),
    },
    Command {
        name: "query-version",
        changes_guest: false,
        aliases: &["info version"],
        params: &[],
        help: "the emulator's version",
        run: |_, _| Ok(version()),
        text: Some(|v| format!("ast-emu {}\n", v["package"].as_str().unwrap_or("?"))),
    },
    Command {
        name: "query-status",
        changes_guest: false,
        aliases: &["info status"],
        params: &[],
        help: "running, paused or debugger; virtual time; uptime; resets; this boot's milestones",
        run: query_status,
        text: Some(status_text),
    },
    Command {
        name: "query-machine",
        changes_guest: false,
        aliases: &["info mtree", "info machine"],
        params: &[],
        help: "the board, its cores, DRAM, flash chips and every device with its addresses",
        run: query_machine,
        text: Some(machine_text),
    },
    Command {
        name: "query-cpus",
        changes_guest: false,
        aliases: &["info cpus"],
        params: &[],
        help: "the cores: MPIDR, PC, model (cortex-a7, arm1176), whether each waits in WFI, which the monitor looks at",
        run: query_cpus,
        text: Some(cpus_text),
    },
    Command {
        name: "cpu",
        changes_guest: false,
        aliases: &[],
        params: &[Param {
            name: "index",
            ty: ArgType::Int { min: 0, max: 7 },
            required: true,
            help: "core number (0 = CPU0)",
        }],
        help: "the core query-registers and memory-read look at",
        run: select_cpu,
        text: Some(|v| format!("CPU{} selected\n", v["index"])),
    },
    Command {
        name: "query-registers",
        changes_guest: false,
        aliases: &["info registers"],
        params: &[],
        help: "the core registers",
        run: query_registers,
        text: Some(registers_text),
    },
    Command {
        name: "query-banked-registers",
        changes_guest: false,
        aliases: &["info banked"],
        params: &[],
        help: "SP, LR and SPSR of every mode",
        run: query_banked,
        text: Some(banked_text),
    },
    Command {
        name: "query-stats",
        changes_guest: false,
        aliases: &["info stats"],
        params: &[],
        help: "what the run loop has done",
        run: query_stats,
        text: Some(|v| format!("{v}\n")),
    },
    Command {
        name: "memory-read",
        changes_guest: false,
        aliases: &["x"],
        params: &[
            Param {
                name: "addr",
                ty: ArgType::Int {
                    min: 0,
                    max: u32::MAX as i64,
                },
                required: true,
                help: "physical address",
            },
            Param {
                name: "count",
                ty: ArgType::Int { min: 1, max: 1024 },
                required: false,
                help: "32-bit words (default 1; text: x/N ADDR)",
            },
        ],
        help: "words of physical memory (null where nothing is mapped)",
        run: memory_read,
        text: Some(memory_text),
    },
    Command {
        name: "sensor-list",
        changes_guest: false,
        aliases: &[],
        params: &[],
        help: "the temperature sensors on the I2C buses",
        run: sensor_list,
        text: Some(sensor_list_text),
    },
    Command {
        name: "sensor-get",
        changes_guest: false,
        aliases: &[],
        params: &[BUS, ADDR],
        help: "what the sensor at bus, addr measures",
        run: sensor_get,
        text: Some(|v| format!("{}: {} C\n", str_of(&v["sensor"]), celsius(v))),
    },
    Command {
        name: "sensor-set",
        changes_guest: true,
        aliases: &[],
        params: &[
            BUS,
            ADDR,
            Param {
                name: "celsius",
                ty: ArgType::Number,
                required: true,
                help: "degrees Celsius (-55 to 150)",
            },
        ],
        help: "set what the sensor at bus, addr measures (text also: temp [BUS ADDR] C)",
        run: sensor_set,
        text: Some(|v| format!("{} now reads {} C\n", str_of(&v["sensor"]), celsius(v))),
    },
    board_io::GPIO_LIST,
    board_io::GPIO_GET,
    board_io::GPIO_SET,
    board_io::SGPIO_GET,
    board_io::SGPIO_SET,
    board_io::ADC_GET,
    board_io::ADC_SET,
    board_io::RTC_GET,
    board_io::RTC_SET,
    board_io::KCS_REQUEST,
    board_io::SNOOP_WRITE,
    Command {
        name: "console-send",
        changes_guest: true,
        aliases: &["sendkey"],
        params: &[Param {
            name: "data",
            ty: ArgType::Str,
            required: true,
            help: "text for the console UART (UTF-8; text: \\r \\n \\t \\xNN escapes)",
        }],
        help: "type on the console",
        run: console_send,
        text: Some(|v| format!("{} bytes queued\n", v["bytes"])),
    },
    Command {
        name: "console-watch",
        changes_guest: false,
        aliases: &[],
        params: &[Param {
            name: "enable",
            ty: ArgType::Bool,
            required: false,
            help: "true (default) sends CONSOLE events to this client, false stops",
        }],
        help: "console output as CONSOLE events, to this control-socket client",
        run: console_watch,
        text: None,
    },
    Command {
        name: "stop",
        changes_guest: false,
        aliases: &[],
        params: &[],
        help: "hold the guest: no code runs and virtual time stands still (STOP event)",
        run: stop,
        text: Some(|_| "stopped\n".into()),
    },
    Command {
        name: "cont",
        changes_guest: false,
        aliases: &["c"],
        params: &[],
        help: "let a held guest go on (RESUME event)",
        run: cont,
        text: Some(|_| "running\n".into()),
    },
    Command {
        name: "system-reset",
        changes_guest: true,
        aliases: &["system_reset", "reset"],
        params: &[],
        help:
            "reset the SoC as its watchdog does (RESET event); DRAM and flash keep their contents",
        run: system_reset,
        text: Some(|_| "system reset\n".into()),
    },
    Command {
        name: "snapshot-save",
        changes_guest: false,
        aliases: &["savevm"],
        params: &[PATH],
        help: "save the whole machine (cores, devices, RAM, flash changes, time) to a file; `ast-emu --restore FILE` starts from it",
        run: snapshot_save,
        text: Some(|v| {
            format!(
                "snapshot saved to {} ({} MiB of RAM, {} flash pages changed)\n",
                v["path"].as_str().unwrap_or("?"),
                v["dram-bytes"].as_u64().unwrap_or(0) >> 20,
                v["flash-pages"]
            )
        }),
    },
    Command {
        name: "snapshot-load",
        changes_guest: true,
        aliases: &["loadvm"],
        params: &[PATH],
        help: "put the machine into a saved state (same board and images); the guest goes on from there",
        run: snapshot_load,
        text: Some(|v| {
            format!(
                "snapshot {} loaded (virtual time {} ms)\n",
                v["path"].as_str().unwrap_or("?"),
                v["clock-ns"].as_u64().unwrap_or(0) / 1_000_000
            )
        }),
    },
    Command {
        name: "flash-save",
        changes_guest: false,
        aliases: &[],
        params: &[],
        help: "write the flash back to its file now (with --persist)",
        run: flash_save,
        text: Some(|v| {
            if v["written"] == json!(true) {
                "flash written back\n".into()
            } else {
                "flash unchanged or not persisted: nothing written\n".into()
            }
        }),
    },
    Command {
        name: "quit",
        changes_guest: false,
        aliases: &["q"],
        params: &[],
        help: "end the emulator (exit code 0; the reply comes first)",
        run: quit,
        text: Some(|_| "quitting\n".into()),
    },
];

/// A sensor result's temperature as the monitor prints it (`55`, `42.5`).
fn celsius(v: &Value) -> f64 {
    v["celsius"].as_f64().unwrap_or(f64::NAN)
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or("?")
}

/// `{"major", "minor", "micro", "package"}` of this build.
pub fn version() -> Value {
    let v = env!("CARGO_PKG_VERSION");
    let mut parts = v.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    json!({
        "major": parts.next().unwrap_or(0),
        "minor": parts.next().unwrap_or(0),
        "micro": parts.next().unwrap_or(0),
        "package": format!("ast-emu {v}"),
    })
}

fn query_commands(_: &mut Context<'_>, _: &Args) -> Result<Value, CommandError> {
    Ok(Value::Array(
        COMMANDS
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "aliases": c.aliases,
                    "help": c.help,
                    "changes-guest": c.changes_guest,
                    "arguments": c.params.iter().map(|p| json!({
                        "name": p.name,
                        "type": crate::table::type_name(p.ty),
                        "required": p.required,
                        "help": p.help,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect(),
    ))
}

fn help_text(v: &Value) -> String {
    let mut out = String::from("commands (NAME ARG.. or NAME name=value ..):\n");
    for c in v.as_array().into_iter().flatten() {
        let mut usage = str_of(&c["name"]).to_string();
        for a in c["arguments"].as_array().into_iter().flatten() {
            let name = str_of(&a["name"]);
            if a["required"] == json!(true) {
                let _ = write!(usage, " {}", name.to_uppercase());
            } else {
                let _ = write!(usage, " [{}]", name.to_uppercase());
            }
        }
        let aliases: Vec<&str> = c["aliases"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let also = if aliases.is_empty() {
            String::new()
        } else {
            format!(" [also: {}]", aliases.join(", "))
        };
        let _ = writeln!(out, "  {usage:<28} {}{also}", str_of(&c["help"]));
    }
    out.push_str("  temp [BUS ADDR] C            set a sensor (temp alone lists them)\n");
    out.push_str("  x/N ADDR                     N words of physical memory at ADDR\n");
    out
}

fn query_status(ctx: &mut Context<'_>, _: &Args) -> Result<Value, CommandError> {
    let status = if ctx.soc.in_debugger() {
        "debugger"
    } else if ctx.soc.is_stopped() {
        "paused"
    } else {
        "running"
    };
    Ok(json!({
        "status": status,
        "running": status == "running",
        "virtual_ns": ctx.soc.clock().now_ns(),
        "uptime_s": ctx.hub.uptime_s(),
        "resets": ctx.hub.resets(),
        "milestones": ctx.hub.milestones(),
    }))
}

fn status_text(v: &Value) -> String {
    let milestones: Vec<&str> = v["milestones"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| str_of(&m["name"]))
        .collect();
    format!(
        "status: {}; virtual time {:.6} s; up {:.1} s; resets {}; milestones: {}\n",
        str_of(&v["status"]),
        v["virtual_ns"].as_u64().unwrap_or(0) as f64 / 1e9,
        v["uptime_s"].as_f64().unwrap_or(0.0),
        v["resets"],
        if milestones.is_empty() {
            "none yet".to_string()
        } else {
            milestones.join(", ")
        }
    )
}

fn query_machine(ctx: &mut Context<'_>, _: &Args) -> Result<Value, CommandError> {
    let board = ctx.soc.board();
    let sizes = aspeed_soc::flash_sizes(board).unwrap_or_default();
    let flashes: Vec<Value> = board
        .flash_order()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({
                "index": i,
                "controller": c.controller.name(),
                "cs": c.cs,
                "model": c.model,
                "size": sizes.get(i).copied().unwrap_or(0),
            })
        })
        .collect();
    let devices: Vec<Value> = ctx
        .soc
        .memory_map()
        .into_iter()
        .map(|(base, size, name)| json!({"name": name, "base": base, "size": size}))
        .collect();
    Ok(json!({
        "board": board.name,
        "description": board.description,
        "soc": board.soc.name(),
        "cores": board.cpus,
        "cores_running": ctx.soc.core_count(),
        "dram_bytes": ctx.soc.dram_size(),
        "console": board.console,
        "flashes": flashes,
        "devices": devices,
    }))
}

fn machine_text(v: &Value) -> String {
    let mut out = format!(
        "board {} ({}), {} cores ({} running), {} MiB DRAM, console {}\n",
        str_of(&v["board"]),
        str_of(&v["soc"]),
        v["cores"],
        v["cores_running"],
        v["dram_bytes"].as_u64().unwrap_or(0) >> 20,
        str_of(&v["console"]),
    );
    for f in v["flashes"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "flash {}: {} cs{} {} ({} MiB)",
            f["index"],
            str_of(&f["controller"]),
            f["cs"],
            str_of(&f["model"]),
            f["size"].as_u64().unwrap_or(0) >> 20
        );
    }
    for d in v["devices"].as_array().into_iter().flatten() {
        let base = d["base"].as_u64().unwrap_or(0);
        let size = d["size"].as_u64().unwrap_or(1);
        let _ = writeln!(
            out,
            "{base:#010x}-{:#010x} {}",
            base + size - 1,
            str_of(&d["name"])
        );
    }
    out
}

const REGISTER_NAMES: [&str; 17] = [
    "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "sp", "lr",
    "pc", "cpsr",
];

fn query_cpus(ctx: &mut Context<'_>, _: &Args) -> Result<Value, CommandError> {
    let current = ctx.soc.current_core();
    let mut cpus = Vec::new();
    for i in 0..ctx.soc.core_count() {
        let waiting = ctx.soc.core_waiting(i);
        let cpu = ctx.soc.core_mut(i).expect("in range");
        cpus.push(json!({
            "index": i,
            "mpidr": cpu.cp15(aspeed_soc::Cp15::MPIDR).unwrap_or(0),
            "model": cpu.model().name(),
            "pc": cpu.reg(Reg::Pc),
            "waiting": waiting,
            "current": i == current,
        }));
    }
    Ok(Value::Array(cpus))
}

fn cpus_text(v: &Value) -> String {
    let mut out = String::new();
    for c in v.as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "{} CPU{} mpidr={:#010x} pc={:#010x} {}{}",
            if c["current"] == json!(true) {
                "*"
            } else {
                " "
            },
            c["index"],
            c["mpidr"].as_u64().unwrap_or(0),
            c["pc"].as_u64().unwrap_or(0),
            c["model"].as_str().unwrap_or("?"),
            if c["waiting"] == json!(true) {
                " (WFI)"
            } else {
                ""
            }
        );
    }
    out
}

fn select_cpu(ctx: &mut Context<'_>, args: &Args) -> Result<Value, CommandError> {
    let index = args.int("index").unwrap_or(0) as usize;
    ctx.soc
        .select_core(index)
        .map_err(|e| CommandError::generic(e.0))?;
    Ok(json!({"index": index}))
}

fn query_registers(ctx: &mut Context<'_>, _: &Args) -> Result<Value, CommandError> {
    let cpu = ctx.soc.cpu_mut();
    let mut map = serde_json::Map::new();
    for (i, name) in REGISTER_NAMES.iter().enumerate() {
        let reg = match i {
            0..=12 => Reg::R(i as u8),
            13 => Reg::Sp,
            14 => Reg::Lr,
            15 => Reg::Pc,
            _ => Reg::Cpsr,
        };
        map.insert(name.to_string(), json!(cpu.reg(reg)));
    }
    Ok(Value::Object(map))
}

fn registers_text(v: &Value) -> String {
    let word = |name: &str| v[name].as_u64().unwrap_or(0);
    let mut out = String::new();
    for (n, name) in REGISTER_NAMES.iter().take(13).enumerate() {
        let _ = write!(
            out,
            "r{n:<2} = {:#010x}{}",
            word(name),
            if n % 4 == 3 { "\n" } else { "  " }
        );
    }
    let _ = writeln!(
        out,
        "sp  = {:#010x}  lr  = {:#010x}  pc  = {:#010x}  cpsr = {:#010x}",
        word("sp"),
        word("lr"),
        word("pc"),
        word("cpsr")
    );
    out
}

fn query_banked(ctx: &mut Context<'_>, _: &Args) -> Result<Value, CommandError> {
    Ok(Value::Array(
        ctx.soc
            .cpu_mut()
            .banked_registers()
            .into_iter()
            .map(|(mode, sp, lr, spsr)| json!({"mode": mode, "sp": sp, "lr": lr, "spsr": spsr}))
            .collect(),
    ))
}

fn banked_text(v: &Value) -> String {
    let mut out = String::from("mode     sp          lr          spsr\n");
    for m in v.as_array().into_iter().flatten() {
        let spsr = m["spsr"]
            .as_u64()
            .map_or("-".to_string(), |s| format!("{s:#010x}"));
        let _ = writeln!(
            out,
            "{:<8} {:#010x}  {:#010x}  {spsr}",
            str_of(&m["mode"]),
            m["sp"].as_u64().unwrap_or(0),
            m["lr"].as_u64().unwrap_or(0)
        );
    }
    out
}

fn query_stats(ctx: &mut Context<'_>, _: &Args) -> Result<Value, CommandError> {
    let s = ctx.soc.stats();
    Ok(json!({
        "virtual_ns": ctx.soc.clock().now_ns(),
        "slices": s.slices,
        "wfi": s.wfi,
        "idle_skips": s.idle_skips,
        "resets": s.resets,
        "window_switches": s.window_switches,
        "skipped_ns": s.skipped_ns,
        "waited_ns": s.waited_ns,
        "idle_wall_ns": s.idle_wall_ns,
        "device_wall_ns": s.device_wall_ns,
        "mmio_accesses": s.mmio_accesses,
        "busy_skipped_ns": s.busy_skipped_ns,
    }))
}

fn memory_read(ctx: &mut Context<'_>, args: &Args) -> Result<Value, CommandError> {
    let addr = args.int("addr").unwrap_or(0) as u64;
    let count = args.int("count").unwrap_or(1) as u64;
    let cpu = ctx.soc.cpu_mut();
    let words: Vec<Value> = (0..count)
        .map(|i| {
            let mut word = [0u8; 4];
            match cpu.read_memory(addr + 4 * i, &mut word) {
                Ok(()) => json!(u32::from_le_bytes(word)),
                Err(_) => Value::Null,
            }
        })
        .collect();
    Ok(json!({"addr": addr, "words": words}))
}

fn memory_text(v: &Value) -> String {
    let addr = v["addr"].as_u64().unwrap_or(0);
    let words = v["words"].as_array().cloned().unwrap_or_default();
    let mut out = String::new();
    for (i, w) in words.iter().enumerate() {
        if i % 4 == 0 {
            let _ = write!(out, "{:#010x}:", addr + 4 * i as u64);
        }
        match w.as_u64() {
            Some(w) => {
                let _ = write!(out, " {w:#010x}");
            }
            None => out.push_str(" (not memory)"),
        }
        if i % 4 == 3 || i + 1 == words.len() {
            out.push('\n');
        }
    }
    out
}

fn sensor_json(s: &aspeed_soc::TemperatureHandle) -> Value {
    json!({
        "sensor": s.to_string(),
        "model": s.kind().to_string(),
        "bus": s.bus(),
        "addr": s.address(),
        "celsius": f64::from(s.millicelsius()) / 1000.0,
    })
}

fn sensor_list(ctx: &mut Context<'_>, _: &Args) -> Result<Value, CommandError> {
    Ok(Value::Array(
        ctx.soc
            .temperature_sensors()
            .iter()
            .map(sensor_json)
            .collect(),
    ))
}

fn sensor_list_text(v: &Value) -> String {
    let list = v.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        return "no temperature sensors\n".into();
    }
    list.iter()
        .map(|s| format!("{}: {} C\n", str_of(&s["sensor"]), celsius(s)))
        .collect()
}

fn find_sensor<'s>(
    ctx: &'s Context<'_>,
    args: &Args,
) -> Result<&'s aspeed_soc::TemperatureHandle, CommandError> {
    let bus = args.int("bus").unwrap_or(0) as usize;
    let addr = args.int("addr").unwrap_or(0) as u8;
    ctx.soc.temperature_sensor(bus, addr).ok_or_else(|| {
        let known: Vec<String> = ctx
            .soc
            .temperature_sensors()
            .iter()
            .map(|s| format!("bus {} addr {:#04x}", s.bus(), s.address()))
            .collect();
        CommandError::no_device(format!(
            "no temperature sensor at i2c bus {bus}, address {addr:#04x} (sensors: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ))
    })
}

fn sensor_get(ctx: &mut Context<'_>, args: &Args) -> Result<Value, CommandError> {
    find_sensor(ctx, args).map(sensor_json)
}

fn sensor_set(ctx: &mut Context<'_>, args: &Args) -> Result<Value, CommandError> {
    let celsius = args.number("celsius").unwrap_or(f64::NAN);
    let milli = aspeed_soc::celsius_to_millicelsius(celsius).map_err(CommandError::generic)?;
    let sensor = find_sensor(ctx, args)?;
    sensor.set_millicelsius(milli);
    Ok(sensor_json(sensor))
}

fn console_send(ctx: &mut Context<'_>, args: &Args) -> Result<Value, CommandError> {
    let data = args.str("data").unwrap_or("");
    ctx.soc.console_input(data.as_bytes());
    Ok(json!({"bytes": data.len()}))
}

fn console_watch(ctx: &mut Context<'_>, args: &Args) -> Result<Value, CommandError> {
    let Some(client) = ctx.client else {
        return Err(CommandError::generic(
            "console-watch is for control-socket clients (the console is already here)",
        ));
    };
    ctx.hub
        .set_console_watch(client, args.bool("enable").unwrap_or(true));
    Ok(json!({}))
}

fn stop(ctx: &mut Context<'_>, _: &Args) -> Result<Value, CommandError> {
    if !ctx.soc.is_stopped() {
        ctx.soc.set_stopped(true);
        ctx.hub.emit("STOP", json!({}));
    }
    Ok(json!({}))
}

fn cont(ctx: &mut Context<'_>, _: &Args) -> Result<Value, CommandError> {
    if ctx.soc.is_stopped() {
        ctx.soc.set_stopped(false);
        ctx.hub.emit("RESUME", json!({}));
    }
    Ok(json!({}))
}

fn system_reset(ctx: &mut Context<'_>, _: &Args) -> Result<Value, CommandError> {
    // The SoC reports the reset to its event sink (the hub), which sends RESET.
    ctx.soc
        .reset()
        .map_err(|e| CommandError::generic(format!("reset failed: {e}")))?;
    Ok(json!({}))
}

fn snapshot_save(ctx: &mut Context<'_>, args: &Args) -> Result<Value, CommandError> {
    let path = std::path::Path::new(args.str("path").unwrap_or_default());
    let info = ctx
        .soc
        .save_snapshot(path)
        .map_err(|e| CommandError::generic(e.to_string()))?;
    Ok(json!({
        "path": info.path.display().to_string(),
        "bytes": info.bytes,
        "dram-bytes": info.dram_bytes,
        "flash-pages": info.flash_pages,
        "clock-ns": info.clock_ns,
    }))
}

fn snapshot_load(ctx: &mut Context<'_>, args: &Args) -> Result<Value, CommandError> {
    let path = std::path::Path::new(args.str("path").unwrap_or_default());
    let header = ctx
        .soc
        .load_snapshot(path)
        .map_err(|e| CommandError::generic(e.to_string()))?;
    Ok(json!({
        "path": path.display().to_string(),
        "board": header.board.name,
        "clock-ns": header.clock_ns,
    }))
}

fn flash_save(ctx: &mut Context<'_>, _: &Args) -> Result<Value, CommandError> {
    match ctx.soc.save_flash() {
        Ok(written) => Ok(json!({"written": written})),
        Err(e) => Err(CommandError::generic(format!(
            "flash write-back failed: {e}"
        ))),
    }
}

fn quit(ctx: &mut Context<'_>, _: &Args) -> Result<Value, CommandError> {
    ctx.stop = Some(aspeed_soc::Stop::Quit);
    Ok(json!({}))
}
