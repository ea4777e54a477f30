//! `ast-emu`: boots Aspeed AST2600 BMC firmware from a SPI flash image.

#[macro_use]
mod notes;

mod cards;
mod console;
mod gdb;
mod i2c_dev;
mod image;
mod machine;
mod net;
mod persist;
mod serial;
mod signals;
mod storage;
mod timeline;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use aspeed_soc::{AspeedSoc, BoardConfig, HostEvent, Stop};
use clap::builder::BoolishValueParser;
use clap::Parser;

/// The project's own firmware (see firmware-fixtures/README.md: mainline u-boot, Linux 6.1, a
/// squashfs + jffs2 userland; root password `ast-emu`), embedded so a fresh build boots it.
static DEFAULT_IMAGE: &[u8] = include_bytes!("../../../firmware-fixtures/ast2600-evb.img.xz");

/// Emulates an Aspeed AST2600 BMC and boots its firmware from SPI flash. The board is found
/// from the device tree in the image (or named with --machine).
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = "Console: Ctrl-a x quits, Ctrl-a h lists the escapes."
)]
struct Args {
    /// A flash image (raw, or .xz compressed), exactly the size of its chip. Repeatable, in
    /// QEMU's `-drive if=mtd` order: the boot flash (FMC CE0) first, then FMC CE1, ..., SPI1
    /// CE0, ... (`--list-machines` shows each board's chips); chips without an image are
    /// erased. Without it, the project's own image (firmware-fixtures/ast2600-evb.img.xz,
    /// built into this binary) boots.
    #[arg(long, value_name = "PATH", env = "AST_EMU_FLASH")]
    flash: Vec<PathBuf>,

    /// Start from a snapshot (the `snapshot-save` command's file) instead of booting: the
    /// board, the cores and the time come from it, RAM is mapped from it copy-on-write, and
    /// the flash images are the ones it names (or --flash, which must be the same images).
    #[arg(long, value_name = "SNAPSHOT", conflicts_with_all = ["machine", "memory", "smp", "elf", "console"])]
    restore: Option<PathBuf>,

    /// The board: a name from --list-machines (QEMU's: ast2600-evb, rainier-bmc, ...) or a
    /// board description file (NAME.toml, the format of the boards/ folder), with QEMU's
    /// options: `NAME[,boot-emmc=on|off][,fmc-model=MODEL][,spi-model=MODEL]`. Without NAME the
    /// board is found from the device tree inside the boot image (an image without a known
    /// one boots as the ast2600-evb) and the options apply to it.
    #[arg(long, short = 'M', value_name = "NAME[,OPTION=VALUE..]", env = "AST_EMU_MACHINE", value_parser = machine::parse_spec)]
    machine: Option<machine::MachineSpec>,

    /// DRAM size instead of the board's: MiB, or with M or G (`1G`), as QEMU's -m. The
    /// AST2600 takes 256M, 512M, 1G or 2G.
    #[arg(long, short = 'm', value_name = "SIZE", value_parser = machine::parse_memory)]
    memory: Option<u64>,

    /// Cores to run: 1 or 2, at most the board's (the default: all of them, two on every
    /// AST2600 board). All start at the same place: the reset vector, where u-boot parks CPU1
    /// in the SCU's SMP mailbox until Linux releases it, or a bare-metal `--elf`'s entry (as
    /// QEMU starts them; the ELF tells the cores apart by MPIDR). The cores take turns on one
    /// host thread, in bounded slices. `1` runs CPU0 alone: Linux then reports that CPU1
    /// failed to come online.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=2))]
    smp: Option<u8>,

    /// How the cores share the host: `single` (they take turns on one host thread, round
    /// robin in bounded slices: no locks, the same order of events every run) or `multi`
    /// (each core on a host thread of its own, at once, as QEMU's multi-threaded TCG: faster
    /// when the guest keeps both cores busy). A GDB session runs the cores in turns either
    /// way. See docs/performance.md for the measurements behind the default.
    #[arg(long, value_name = "MODE", default_value = "single")]
    threads: aspeed_soc::Threads,

    /// A deterministic run: the guest's time comes from the instructions it executes (1 ns
    /// each), never from the host's clock; the cores take turns by instruction counts; idle
    /// time and busy waits are skipped; the RTC starts at 2026-01-01 00:00:00 UTC and the
    /// random number generator is seeded (`--seed`). Two runs of the same image with the same
    /// input print the same console bytes, kernel timestamps included. With `--threads
    /// single` only.
    #[arg(long)]
    deterministic: bool,

    /// The seed of the random number generator in a `--deterministic` run (default 0; a
    /// replay takes its record's).
    #[arg(long, value_name = "N")]
    seed: Option<u32>,

    /// A deterministic run that writes the host's input (console bytes, other UARTs' bytes,
    /// network frames) to FILE, each with the instruction count it was taken at, for
    /// `--replay`. Implies `--deterministic`.
    #[arg(long, value_name = "FILE", conflicts_with = "replay")]
    record: Option<PathBuf>,

    /// A deterministic run that feeds the input recorded in FILE back at the same
    /// instructions (the live console and network are ignored until it has all played), so
    /// a recorded run happens again exactly. Give the same image and options as when it was
    /// recorded. Implies `--deterministic`.
    #[arg(long, value_name = "FILE")]
    replay: Option<PathBuf>,

    /// List the boards and exit.
    #[arg(long)]
    list_machines: bool,

    /// The UART on the terminal (`uart1`..`uart13`) instead of the board's console UART.
    #[arg(long, value_name = "UART")]
    console: Option<String>,

    /// The image to boot when --flash is not given, if this file exists; otherwise the built-in
    /// image boots. The container image sets it to /flash/image.mtd, so mounting an image
    /// there is enough to boot it.
    #[arg(long, value_name = "PATH", env = "AST_EMU_DEFAULT_FLASH")]
    default_flash: Option<PathBuf>,

    /// Log filter (env_logger syntax). `unimp=warn,unassigned=warn` reports every
    /// unimplemented register and unassigned address once. Defaults to RUST_LOG, else `error`
    /// plus the note that the guest writes to a UART other than the console (`console=warn`).
    #[arg(long, value_name = "FILTER")]
    log: Option<String>,

    /// A network for MAC1 (Linux eth0), QEMU-style: `user` gives user-mode networking (DHCP
    /// 10.0.2.15, the host as 10.0.2.2, DNS at 10.0.2.3) with forwarded ports, e.g.
    /// `user,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=tcp::8080-:80`. Ports listen on 127.0.0.1
    /// unless an address is given. `tap,ifname=NAME` bridges to a host TAP device;
    /// `socket,connect=unix:PATH` (or `tcp:HOST:PORT`, QEMU's `-netdev stream` framing, or
    /// `udp:HOST:PORT[,local=HOST:PORT]`, one frame per datagram as `-netdev dgram`) plugs into
    /// a virtual switch (`ast-emu switch`, `ast-emu rack`) or another emulator. Each may add
    /// `mac=02:XX:XX:XX:XX:XX`, the NIC's hardware address (default 02:a5:7e:00:00:01). `none`
    /// (or an empty value) leaves the NIC unconnected, as no --nic does.
    #[arg(long, value_name = "SPEC", env = "AST_EMU_NIC")]
    nic: Option<String>,

    /// Write guest changes to the flash back into the --flash file, and to each card back into
    /// its --sd / --emmc image: atomically, at exit (including on SIGTERM/SIGINT/SIGHUP), on
    /// `Ctrl-a s` and before each guest reboot. Without it no file is ever modified. With the
    /// built-in flash image only the cards are written. The variable takes 1/true/yes/on or
    /// 0/false/no/off.
    #[arg(long, env = "AST_EMU_PERSIST", value_parser = BoolishValueParser::new())]
    persist: bool,

    /// An SD card image for slot 0 of the SD controller (given twice: slot 1 too): a raw image
    /// of any size a card has (a whole number of 512-byte blocks; SDSC up to 2 GiB, SDHC up to
    /// 32 GiB, SDXC up to 2 TiB). Guest writes stay in memory unless --persist. Linux on the
    /// EVB sees slot 0 as 1e740100.sdhci (mmcblk0 when it is the only card).
    #[arg(long = "sd", value_name = "IMG")]
    sd: Vec<PathBuf>,

    /// An eMMC image for the eMMC controller (the user area, a whole number of 512-byte
    /// blocks). Guest writes stay in memory unless --persist.
    #[arg(long, value_name = "IMG")]
    emmc: Option<PathBuf>,

    /// Accept an image smaller than the flash, filling the rest with 0xFF (erased NOR).
    #[arg(long, env = "AST_EMU_PAD", value_parser = BoolishValueParser::new())]
    pad: bool,

    /// Run a bare-metal 32-bit ARM ELF instead of booting the flash, as QEMU's `-kernel` does:
    /// its segments are loaded at their physical addresses (DRAM or SRAM) and the CPU starts
    /// at its entry point in SVC mode with interrupts masked. The flash is blank unless --flash
    /// is given. The console is UART5 (0x1E784000).
    #[arg(long, value_name = "FILE")]
    elf: Option<PathBuf>,

    /// Write the log to this file instead of stderr.
    #[arg(long, value_name = "PATH")]
    log_file: Option<PathBuf>,

    /// A temperature sensor on an I2C bus (repeatable): `bus=N,addr=0xNN,type=tmp105|lm75|tmp421`
    /// with an optional `,temp=C` (default 25). Naming the EVB's sensor (bus 8, 0x4d) sets its
    /// temperature. The monitor (`Ctrl-a c`) command `temp BUS ADDR C` changes it while running.
    #[arg(long = "i2c-dev", value_name = "SPEC", value_parser = i2c_dev::parse)]
    i2c_dev: Vec<i2c_dev::I2cDevSpec>,

    /// Connect a UART or VUART other than the console (repeatable): `NAME=BACKEND` with NAME
    /// `uart1`..`uart13`, `vuart1`, `vuart2` or a number N for uartN, and BACKEND `pty` (a new
    /// pseudo-terminal, raw mode; its name is printed), `unix:PATH` (a listening socket),
    /// `tcp:HOST:PORT` (a listening port; `tcp::PORT` is 127.0.0.1, port 0 picks one; the
    /// address is printed) or `file:PATH` (output appended; no input). A socket serves one
    /// client at a time: a new client replaces the old one; output without a client is
    /// dropped. The built-in image's Linux has vuart1 as /dev/ttyS5.
    #[arg(long, value_name = "NAME=BACKEND", value_parser = serial::parse)]
    serial: Vec<serial::SerialSpec>,

    /// Serve the GDB remote protocol at `tcp:HOST:PORT` (`tcp::1234` is 127.0.0.1:1234).
    /// GDB (`gdb-multiarch`, `target remote :1234`) may attach at any time; it stops the
    /// guest, and virtual time with it, until it continues or detaches.
    #[arg(long, value_name = "tcp:HOST:PORT", value_parser = gdb::parse_address)]
    gdb: Option<String>,

    /// Serve the control socket (QMP-style JSON: commands such as query-status, sensor-set,
    /// console-send, system-reset, quit, and events for console milestones and resets) at
    /// `unix:PATH` (created with mode 0600) or `tcp:127.0.0.1:PORT` (loopback only; port 0
    /// picks one). The address is printed on stderr. See README.md "Control socket".
    #[arg(long, value_name = "unix:PATH|tcp:127.0.0.1:PORT", env = "AST_EMU_CONTROL", value_parser = control::ControlAddress::parse)]
    control: Option<control::ControlAddress>,

    /// Start held: no guest code runs (and virtual time stands still) until `cont` on the
    /// control socket or the monitor (`Ctrl-a c cont`), so a test client misses nothing.
    #[arg(long)]
    stopped: bool,

    /// Shorthand for `--gdb tcp:127.0.0.1:1234`.
    #[arg(short = 's')]
    gdb_default: bool,

    /// Wait for GDB before the first instruction (at reset). Implies `-s` without `--gdb`.
    #[arg(short = 'S')]
    wait_gdb: bool,

    /// Trace what the guest touches (repeatable), to the log (stderr, or --log-file):
    /// `unimp` (unimplemented registers and unassigned addresses, once each),
    /// `mmio=DEVICE[,DEVICE..]` (every access to the devices `info mtree` names, with PC,
    /// offset, value and width; `i2c*` matches a prefix), `irq` (interrupt line changes).
    #[arg(long, value_name = "WHAT", value_parser = parse_trace)]
    trace: Vec<TraceSpec>,

    /// At exit, print when each console milestone appeared (u-boot banner, `Starting
    /// kernel`, `Linux version`, the ready line, `login:`) in wall and virtual time, and the
    /// shares of wall time spent in the CPU, in device work and idle.
    #[arg(long)]
    timeline: bool,

    /// Skip busy waits (`auto`, `on`, `console` or `off`; the flag alone means `on`): while
    /// the guest polls the timer counter in a tight loop (u-boot's udelay and autoboot
    /// countdown, Linux's udelay), move virtual time ahead on each read, never past the next
    /// timer or device deadline. `console` skips them except while the guest polls the
    /// console for a key (u-boot's autoboot countdown), which then takes its real time.
    /// `auto` (the default) is `console` when stdin is a terminal (a person can press a key
    /// in the countdown) and `on` otherwise (a script, CI or a detached container gets the
    /// faster boot). Give `console` or `off` to a script that waits for "Hit any key" before
    /// it sends one.
    #[arg(
        long,
        env = "AST_EMU_SKIP_BUSY_WAITS",
        value_name = "WHEN",
        num_args = 0..=1,
        require_equals = true,
        default_value = "auto",
        default_missing_value = "on",
        value_parser = parse_skip_busy_waits
    )]
    skip_busy_waits: SkipBusyWaits,
}

/// When `--skip-busy-waits` applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SkipBusyWaits {
    /// Unless stdin is a terminal.
    Auto,
    /// Always.
    On,
    /// Except while the guest polls the console for a key.
    Console,
    /// Never: busy waits take their time, as on hardware.
    Off,
}

impl SkipBusyWaits {
    /// When to skip, given whether stdin is a terminal.
    fn resolve(self, stdin_is_terminal: bool) -> aspeed_soc::BusyWaitSkip {
        use aspeed_soc::BusyWaitSkip::*;
        match self {
            SkipBusyWaits::Auto if stdin_is_terminal => ExceptConsoleInput,
            SkipBusyWaits::Auto | SkipBusyWaits::On => Always,
            SkipBusyWaits::Console => ExceptConsoleInput,
            SkipBusyWaits::Off => Never,
        }
    }
}

fn parse_skip_busy_waits(s: &str) -> Result<SkipBusyWaits, String> {
    match s.to_ascii_lowercase().as_str() {
        "auto" => Ok(SkipBusyWaits::Auto),
        "console" => Ok(SkipBusyWaits::Console),
        "1" | "true" | "yes" | "on" => Ok(SkipBusyWaits::On),
        "0" | "false" | "no" | "off" => Ok(SkipBusyWaits::Off),
        _ => Err(format!("{s:?}: expected auto, on, console or off")),
    }
}

/// One `--trace` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TraceSpec {
    Unimp,
    Mmio(Vec<String>),
    Irq,
}

fn parse_trace(s: &str) -> Result<TraceSpec, String> {
    match s.split_once('=') {
        None if s == "unimp" => Ok(TraceSpec::Unimp),
        None if s == "irq" => Ok(TraceSpec::Irq),
        Some(("mmio", devices)) if !devices.is_empty() => Ok(TraceSpec::Mmio(
            devices.split(',').map(str::to_string).collect(),
        )),
        _ => Err(format!(
            "{s:?}: expected unimp, irq or mmio=DEVICE[,DEVICE..] (e.g. mmio=uart5)"
        )),
    }
}

/// The log directives `--trace` adds, and what the SoC traces.
fn trace_settings(specs: &[TraceSpec]) -> (Vec<&'static str>, aspeed_soc::Trace) {
    let mut directives = Vec::new();
    let mut trace = aspeed_soc::Trace::default();
    for spec in specs {
        match spec {
            TraceSpec::Unimp => directives.extend(["unimp=warn", "unassigned=warn"]),
            TraceSpec::Mmio(devices) => {
                directives.push("trace::mmio=info");
                trace.mmio.extend(devices.iter().cloned());
            }
            TraceSpec::Irq => {
                directives.push("trace::irq=info");
                trace.irq = true;
            }
        }
    }
    (directives, trace)
}

fn init_logging(args: &Args, trace_directives: &[&str]) -> Result<(), String> {
    let filter = args
        .log
        .clone()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| format!("error,{}=warn", aspeed_soc::STRAY_UART_TARGET));
    let mut builder = env_logger::Builder::new();
    builder.parse_filters(&filter);
    for directive in trace_directives {
        builder.parse_filters(directive);
    }
    if let Some(path) = &args.log_file {
        let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
        builder.target(env_logger::Target::Pipe(Box::new(file)));
    }
    builder.init();
    Ok(())
}

/// The image to boot: the first --flash, else --default-flash when that file exists, else the
/// built-in image (`None`). Says which on stderr when --default-flash is given (the container
/// log).
fn flash_path(args: &Args) -> Option<PathBuf> {
    if let Some(p) = args.flash.first() {
        return Some(p.clone());
    }
    let fallback = args.default_flash.as_ref()?;
    if fallback.exists() {
        note!("ast-emu: booting {}", fallback.display());
        Some(fallback.clone())
    } else {
        // With --persist, main refuses the built-in image next: no "booting" line before that.
        if !args.persist {
            note!(
                "ast-emu: no {}; booting the built-in image",
                fallback.display()
            );
        }
        None
    }
}

/// With --persist: the image files to write back to (the flashes given or found, in flash
/// order), or why they cannot be written. Without: none.
fn persist_targets(args: &Args, boot: Option<&PathBuf>) -> Result<Vec<PathBuf>, String> {
    if !args.persist {
        return Ok(Vec::new());
    }
    let Some(boot) = boot else {
        // The built-in flash stays in memory; the cards are written back.
        if !args.sd.is_empty() || args.emmc.is_some() {
            return Ok(Vec::new());
        }
        return Err(match &args.default_flash {
            Some(p) => format!(
                "--persist needs an image file: give --flash FILE or put the image at {} (the \
                 built-in image cannot be written)",
                p.display()
            ),
            None => "--persist needs --flash FILE (the built-in image cannot be written)".into(),
        });
    };
    let mut targets = vec![boot.clone()];
    targets.extend(args.flash.iter().skip(1).cloned());
    for p in &targets {
        if p.extension().is_some_and(|e| e == "xz") {
            return Err(format!(
                "{}: a .xz image cannot be persisted; decompress it first (xz -dk {})",
                p.display(),
                p.display()
            ));
        }
    }
    Ok(targets)
}

fn main() -> ExitCode {
    // Before any thread starts, so that they all leave these signals to the signal thread.
    signals::block();
    if std::env::args_os().nth(1).is_some_and(|a| a == "rack") {
        let emulator = std::env::current_exe()
            .unwrap_or_else(|_| PathBuf::from(std::env::args_os().next().unwrap_or_default()));
        return rack::main(emulator, std::env::args_os().skip(2).collect());
    }
    if std::env::args_os().nth(1).is_some_and(|a| a == "switch") {
        return rack::switch_main(std::env::args_os().skip(2).collect());
    }
    let args = Args::parse();
    let (trace_directives, trace) = trace_settings(&args.trace);
    if let Err(e) = init_logging(&args, &trace_directives) {
        note!("ast-emu: log file: {e}");
        return ExitCode::from(2);
    }
    if args.list_machines {
        print!("{}", machine::list());
        return ExitCode::SUCCESS;
    }
    // Bound first, before any thread exists (the Unix socket's mode is set with the umask).
    let control_server = match &args.control {
        Some(address) => match control::ControlServer::bind(address) {
            Ok(server) => Some(server),
            Err(e) => {
                note!("ast-emu: --control: {e}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let hub = control::Hub::new();
    let boot_path = flash_path(&args);
    // The files guest writes go back to (--persist), checked before anything boots.
    let persist_paths = match persist_targets(&args, boot_path.as_ref()) {
        Ok(p) => p,
        Err(e) => {
            note!("ast-emu: {e}");
            return ExitCode::from(2);
        }
    };
    let boot = match &boot_path {
        Some(path) => machine::BootImage::File(path.clone()),
        // A bare-metal ELF needs no firmware: blank (erased) flash.
        None if args.elf.is_some() => machine::BootImage::Blank,
        None => machine::BootImage::BuiltIn("(built-in ast2600-evb.img.xz)", DEFAULT_IMAGE),
    };
    let extra: &[PathBuf] = args.flash.get(1..).unwrap_or(&[]);
    let spec = args.machine.clone().unwrap_or_default();
    let adjust = |board: &mut aspeed_soc::board::Board| {
        if let Some(uart) = &args.console {
            board.console = uart.clone();
        }
        if let Some(mib) = args.memory {
            board.dram_mib = mib;
        }
    };
    let restore = match &args.restore {
        Some(path) => match aspeed_soc::snapshot::read_header(path) {
            Ok(h) => Some((path.clone(), h)),
            Err(e) => {
                note!("ast-emu: --restore: {e}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let chosen = match &restore {
        Some((path, header)) => snapshot_machine(path, header, &args).map(|(m, f)| (m, Some(f))),
        None => machine::choose(&boot, extra, &spec, &adjust, args.pad).map(|m| (m, None)),
    };
    let (chosen, restore_files) = match chosen {
        Ok(m) => m,
        Err(e) => {
            note!("ast-emu: {e}");
            return ExitCode::from(2);
        }
    };
    // Where each flash image came from, so that a snapshot stores only the guest's changes.
    let origins: Vec<Option<FlashSource>> = match &restore {
        Some((_, header)) => header
            .flashes
            .iter()
            .enumerate()
            .map(|(i, f)| snapshot_flash_source(&f.origin, args.flash.get(i)))
            .collect(),
        None => (0..chosen.flashes.len())
            .map(|i| match i {
                0 => match &boot {
                    machine::BootImage::File(p) => Some(FlashSource::File(p.clone())),
                    machine::BootImage::BuiltIn(..) => Some(FlashSource::BuiltIn),
                    machine::BootImage::Blank => None,
                },
                i => extra.get(i - 1).cloned().map(FlashSource::File),
            })
            .collect(),
    };
    let board = chosen.board;
    // Restoring without --sd or --emmc: the cards the snapshot was saved with.
    let (restore_sd, restore_emmc) = match &restore {
        Some((_, h)) if args.sd.is_empty() && args.emmc.is_none() => {
            let mut sd = Vec::new();
            let mut emmc = None;
            for c in &h.cards {
                if c.slot == aspeed_soc::CardSlot::Emmc.to_string() {
                    emmc = Some(PathBuf::from(&c.image));
                } else {
                    sd.push((c.slot.clone(), PathBuf::from(&c.image)));
                }
            }
            sd.sort();
            (sd.into_iter().map(|(_, p)| p).collect(), emmc)
        }
        _ => (args.sd.clone(), args.emmc.clone()),
    };
    let cards = cards::CardImages {
        sd: &restore_sd,
        emmc: restore_emmc.as_ref(),
    };
    let card_paths = if args.persist {
        cards.paths()
    } else {
        Vec::new()
    };
    for path in persist_paths.iter().chain(&card_paths) {
        if let Err(e) = persist::check(path) {
            note!("ast-emu: {e}");
            return ExitCode::from(2);
        }
    }
    let timeline = args.timeline.then(timeline::Timeline::new);
    let console: Box<dyn std::io::Write> = match &timeline {
        Some(t) => Box::new(timeline::TimelineWriter {
            inner: console::ConsoleOut,
            timeline: t.clone(),
        }),
        None => Box::new(console::ConsoleOut),
    };
    // Milestones and console events for control-socket clients.
    let console: Box<dyn std::io::Write> = if control_server.is_some() {
        Box::new(console::ControlTap {
            inner: console,
            hub: hub.clone(),
        })
    } else {
        console
    };
    let cores = match &restore {
        Some((_, h)) => h.cores,
        None => args.smp.map_or(board.cpus as usize, usize::from),
    };
    // What the firmware's device tree calls its GPIO lines (gpio-set name=...).
    let replay = match &args.replay {
        Some(path) => match aspeed_soc::journal::Replayer::open(path) {
            Ok(r) => Some(r),
            Err(e) => {
                note!("ast-emu: {e}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let deterministic = args.deterministic || args.record.is_some() || replay.is_some();
    if args.seed.is_some() && !deterministic {
        note!("ast-emu: --seed: only in a --deterministic run");
        return ExitCode::from(2);
    }
    let seed = args
        .seed
        .or(replay.as_ref().map(|r| r.header().seed))
        .unwrap_or(0);
    if deterministic && args.threads == aspeed_soc::Threads::Multi {
        note!("ast-emu: --deterministic: a deterministic run keeps the cores on one thread (--threads single)");
        return ExitCode::from(2);
    }
    let flash_sizes: Vec<usize> = aspeed_soc::flash_sizes(&board)
        .map(|v| v.into_iter().map(|n| n as usize).collect())
        .unwrap_or_default();
    // Restoring, raw image files and erased chips are mapped, not copied (the SoC checks
    // each file is its chip's size), so that machines restored from one snapshot share them.
    // A boot copies its images: the user may rewrite one in place while it runs (a mapped
    // file truncated under a running machine would stop it with SIGBUS).
    let flash_files = restore_files.unwrap_or_default();
    let mut soc = match AspeedSoc::new(
        BoardConfig {
            board,
            flashes: chosen.flashes,
            flash_files,
            cores,
            deterministic: deterministic.then_some(aspeed_soc::Deterministic { seed }),
        },
        console,
    ) {
        Ok(s) => s,
        Err(e) => {
            note!("ast-emu: cannot build the SoC: {e}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = soc.set_threads(args.threads) {
        note!("ast-emu: --threads: {e}");
        return ExitCode::from(1);
    }
    hub.set_clock(soc.clock().clone());
    // What the firmware's device tree calls its GPIO lines (gpio-set name=...), and which SD
    // slots it wires write-protect inverted: read from the boot flash as the chip holds it,
    // or kept in the snapshot restored.
    let facts = match restore.as_ref().and_then(|(_, h)| h.tree_facts.clone()) {
        Some(facts) => facts,
        None => soc
            .with_flash(0, aspeed_soc::board::tree_facts)
            .unwrap_or_default(),
    };
    soc.set_tree_facts(&facts);
    if cards.any() {
        if let Err(e) = cards::insert_all(&mut soc, &cards, args.persist) {
            note!("ast-emu: {e}");
            return ExitCode::from(2);
        }
    }
    soc.set_stopped(args.stopped);
    {
        let hub = hub.clone();
        soc.set_event_sink(Box::new(move |event| hub.soc_event(event)));
    }
    // A deterministic run does not depend on whether stdin is a terminal: `auto` is `on`.
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stdin()) && !deterministic;
    if let Some(path) = &args.record {
        if let Err(e) = soc.record_to(path) {
            note!("ast-emu: {e}");
            return ExitCode::from(2);
        }
    }
    if let Some(r) = replay {
        if let Err(e) = soc.replay(r) {
            note!("ast-emu: --replay: {e}");
            return ExitCode::from(2);
        }
        let hub = hub.clone();
        soc.set_command_replayer(Box::new(move |soc, name, arguments| {
            control::table::replay(soc, &hub, name, arguments)
        }));
    }
    soc.set_busy_wait_mode(args.skip_busy_waits.resolve(terminal));
    if let Some(t) = &timeline {
        t.borrow_mut().set_clock(soc.clock().clone());
        soc.set_timing(true);
    }
    if let Err(e) = soc.set_trace(&trace) {
        note!("ast-emu: --trace: {e}");
        return ExitCode::from(2);
    }
    if let Some(path) = &args.elf {
        let loaded = image::read_file(path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                soc.load_elf(&bytes)
                    .map_err(|e| format!("{}: {e}", path.display()))
            });
        if let Err(e) = loaded {
            note!("ast-emu: --elf {e}");
            return ExitCode::from(2);
        }
    }
    if let Err(e) = i2c_dev::add_all(&mut soc, &args.i2c_dev) {
        note!("ast-emu: {e}");
        return ExitCode::from(2);
    }
    for (index, source) in origins.into_iter().enumerate() {
        if let Some(source) = source {
            let size = flash_sizes.get(index).copied().unwrap_or(0);
            let origin = source.origin(size, args.pad);
            if let Err(e) = soc.set_flash_origin(index, origin) {
                note!("ast-emu: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if let Some((path, _)) = &restore {
        if let Err(e) = soc.load_snapshot(path) {
            note!("ast-emu: --restore: {e}");
            return ExitCode::from(2);
        }
    }
    let (tx, rx) = crossbeam_channel::unbounded::<HostEvent>();
    {
        let wake = soc.cpu_handle();
        let wake: serial::Wake = Arc::new(move || wake.request_exit());
        if let Err(e) = serial::connect_all(&mut soc, &args.serial, &tx, &wake) {
            note!("ast-emu: {e}");
            return ExitCode::from(2);
        }
    }
    // Keep the network running for as long as the SoC runs.
    let _network = match args.nic.as_deref() {
        None | Some("" | "none") => None,
        Some(spec) => match net::connect(&mut soc, spec) {
            Ok(net) => Some(net),
            Err(e) => {
                note!("ast-emu: --nic {spec}: {e}");
                return ExitCode::from(2);
            }
        },
    };
    for (index, path) in persist_paths.into_iter().enumerate() {
        let sink = Box::new(move |bytes: &[u8]| persist::write_atomically(&path, bytes));
        if let Err(e) = soc.set_flash_sink(index, sink) {
            note!("ast-emu: --persist: {e}");
            return ExitCode::from(2);
        }
    }
    note!("ast-emu: {}", chosen.reason);
    let terminal = console::RawTerminal::enable();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // Leave the terminal usable even if something goes badly wrong.
        console::restore_terminal();
        default_hook(info);
    }));
    if terminal.is_raw() {
        note_text!(
            "ast-emu: console on {}; Ctrl-a x quits, Ctrl-a h for help\r\n",
            soc.board().console
        );
    }
    let wake = soc.cpu_handle();
    console::spawn_input(tx.clone(), move || wake.request_exit(), hub.clone());
    let _control_file = match control_server {
        Some(server) => {
            let address = server.address().to_string();
            let wake = soc.cpu_handle();
            match server.spawn(
                hub.clone(),
                tx.clone(),
                Arc::new(move || wake.request_exit()),
            ) {
                Ok(file) => {
                    note_text!("ast-emu: control socket on {address}\r\n");
                    Some(file)
                }
                Err(e) => {
                    drop(terminal);
                    note!("ast-emu: --control: {e}");
                    return ExitCode::from(1);
                }
            }
        }
        None => None,
    };
    let gdb_address = args
        .gdb
        .clone()
        .or_else(|| (args.gdb_default || args.wait_gdb).then(|| "127.0.0.1:1234".to_string()));
    let mut gdb_now = None;
    let gdb_later = match gdb_address {
        Some(address) => {
            let listener = match gdb::GdbListener::bind(&address) {
                Ok(l) => l,
                Err(e) => {
                    drop(terminal);
                    note!("ast-emu: --gdb: {e}");
                    return ExitCode::from(2);
                }
            };
            if args.wait_gdb {
                note_text!(
                    "ast-emu: waiting for GDB on {} (target remote {})\r\n",
                    listener.address(),
                    listener.address()
                );
                match listener.accept() {
                    Ok(stream) => gdb_now = Some(stream),
                    Err(e) => {
                        drop(terminal);
                        note!("ast-emu: --gdb: {e}");
                        return ExitCode::from(1);
                    }
                }
            } else {
                note_text!("ast-emu: GDB stub on {}\r\n", listener.address());
            }
            Some(listener.spawn(tx.clone(), soc.waker()))
        }
        None => None,
    };
    let wake = soc.cpu_handle();
    signals::forward(tx, move || wake.request_exit());
    let stop = loop {
        if let Some(stream) = gdb_now.take() {
            match gdb::session(&mut soc, &rx, stream, &hub) {
                gdb::SessionEnd::Detached => {}
                gdb::SessionEnd::Stop(stop) => break stop,
            }
        }
        match soc.run(&rx) {
            Stop::Paused => gdb_now = gdb_later.as_ref().and_then(|r| r.try_recv().ok()),
            stop => break stop,
        }
    };
    // The console's last bytes (the SoC flushes once per slice).
    let _ = std::io::Write::flush(&mut std::io::stdout());
    drop(terminal);
    if let Some(t) = &timeline {
        note_text!("\n{}", t.borrow().report(&soc.stats()));
    }
    if let Err(e) = soc.save_flash() {
        note!("ast-emu: {e}");
    }
    // Control clients hear why the emulator ends, and get their last replies.
    let (guest, reason) = match &stop {
        Stop::Halted => (true, "guest-shutdown"),
        Stop::Fault(_) => (false, "cpu-fault"),
        Stop::Quit | Stop::Paused => (false, "host-qmp-quit"),
    };
    hub.emit(
        "SHUTDOWN",
        serde_json::json!({"guest": guest, "reason": reason}),
    );
    hub.drain(std::time::Duration::from_secs(2));
    match stop {
        Stop::Quit | Stop::Paused => ExitCode::SUCCESS,
        Stop::Halted => {
            note!("\nast-emu: the guest halted (power off); exiting");
            ExitCode::SUCCESS
        }
        Stop::Fault(e) => {
            note!("\nast-emu: the CPU stopped: {e}");
            ExitCode::from(1)
        }
    }
}

/// The name a snapshot gives the built-in image.
const BUILT_IN_ORIGIN: &str = "built-in";

/// Where a flash image came from.
enum FlashSource {
    /// A file (raw or `.xz`).
    File(PathBuf),
    /// The image built into this binary.
    BuiltIn,
}

impl FlashSource {
    /// The origin the SoC reads the image again from, for a snapshot: `size` bytes (an
    /// image smaller than the chip is padded with 0xFF only with `pad`, as at boot).
    fn origin(self, size: usize, pad: bool) -> aspeed_soc::FlashOrigin {
        match self {
            FlashSource::BuiltIn => aspeed_soc::FlashOrigin {
                source: BUILT_IN_ORIGIN.into(),
                path: None,
                load: Box::new(|| {
                    image::decode(
                        std::path::Path::new(BUILT_IN_ORIGIN),
                        DEFAULT_IMAGE.to_vec(),
                    )
                    .map_err(|e| e.to_string())
                }),
            },
            FlashSource::File(path) => {
                let path = std::fs::canonicalize(&path).unwrap_or(path);
                aspeed_soc::FlashOrigin {
                    source: path.display().to_string(),
                    path: Some(path.clone()),
                    load: Box::new(move || {
                        let mut bytes = image::load(&path).map_err(|e| e.to_string())?;
                        if pad && bytes.len() < size {
                            bytes.resize(size, 0xff);
                        }
                        Ok(bytes)
                    }),
                }
            }
        }
    }
}

/// The flash image a snapshot names for one chip: `--flash` if given for it, else the
/// snapshot's origin (`None`: erased flash).
fn snapshot_flash_source(origin: &str, given: Option<&PathBuf>) -> Option<FlashSource> {
    match (given, origin) {
        (Some(p), _) => Some(FlashSource::File(p.clone())),
        (None, aspeed_soc::snapshot::ERASED_ORIGIN) => None,
        (None, BUILT_IN_ORIGIN) => Some(FlashSource::BuiltIn),
        (None, path) => Some(FlashSource::File(PathBuf::from(path))),
    }
}

/// The machine a snapshot was taken of: its board, and its flash chips loaded from the
/// images it names (checked against their SHA-256 when the snapshot is loaded).
fn snapshot_machine(
    path: &std::path::Path,
    header: &aspeed_soc::snapshot::Header,
    args: &Args,
) -> Result<(machine::Machine, Vec<Option<std::fs::File>>), String> {
    let mut flashes = Vec::new();
    let mut files = Vec::new();
    for (i, f) in header.flashes.iter().enumerate() {
        let size = f.size as usize;
        // A raw image of the chip's size, and erased flash, are mapped, not read
        // (BoardConfig::flash_files): restored machines share them.
        let source = snapshot_flash_source(&f.origin, args.flash.get(i));
        let file = match &source {
            None => erased_file(f.size),
            Some(FlashSource::File(p))
                if !p.to_string_lossy().ends_with(".xz")
                    && std::fs::metadata(p).is_ok_and(|m| m.len() == f.size) =>
            {
                std::fs::File::open(p).ok()
            }
            Some(_) => None,
        };
        let mapped = file.is_some();
        files.push(file);
        if mapped {
            flashes.push(Vec::new());
            continue;
        }
        let bytes = match source {
            None => vec![0xff; size],
            Some(source) => (source.origin(size, true).load)().map_err(|e| {
                format!(
                    "--restore {}: flash {i}: {e} (give the image with --flash)",
                    path.display()
                )
            })?,
        };
        if bytes.len() != size {
            return Err(format!(
                "--restore {}: flash {i}: the image holds {} bytes, the snapshot's chip {size}",
                path.display(),
                bytes.len()
            ));
        }
        flashes.push(bytes);
    }
    Ok((
        machine::Machine {
            board: header.board.clone(),
            flashes,
            reason: format!(
                "board {}, restored from {}",
                header.board.name,
                path.display()
            ),
        },
        files,
    ))
}

/// A file of `size` erased bytes (0xFF) in the temporary folder, made once (written to a
/// temporary name, made read-only and renamed) and never changed: restored machines map their
/// erased flash chips from it and share its pages, and trust it to be erased (the snapshot
/// code does not read 64 MiB to check), so a file of that name is only taken when this user
/// owns it and nobody may write it. `None` if it cannot be made (the chip is then a copy).
fn erased_file(size: u64) -> Option<std::fs::File> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    // SAFETY: geteuid has no preconditions and cannot fail.
    let user = unsafe { libc::geteuid() };
    let path = std::env::temp_dir().join(format!("ast-emu-erased-{size}"));
    if let Ok(f) = std::fs::File::open(&path) {
        if f.metadata().is_ok_and(|m| {
            m.is_file() && m.len() == size && m.uid() == user && m.mode() & 0o222 == 0
        }) {
            return Some(f);
        }
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let made = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        let chunk = vec![0xffu8; 1 << 20];
        let mut left = size;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            std::io::Write::write_all(&mut f, &chunk[..n])?;
            left -= n as u64;
        }
        f.set_permissions(std::fs::Permissions::from_mode(0o444))?;
        std::fs::rename(&tmp, &path)
    })();
    if made.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return None;
    }
    std::fs::File::open(&path).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_busy_waits_takes_auto_on_off_and_the_flag_alone_means_on() {
        let parse = |argv: &[&str]| Args::try_parse_from(argv).map(|a| a.skip_busy_waits);
        assert_eq!(parse(&["ast-emu"]).unwrap(), SkipBusyWaits::Auto);
        assert_eq!(
            parse(&["ast-emu", "--skip-busy-waits"]).unwrap(),
            SkipBusyWaits::On
        );
        assert_eq!(
            parse(&["ast-emu", "--skip-busy-waits=off"]).unwrap(),
            SkipBusyWaits::Off
        );
        assert_eq!(
            parse(&["ast-emu", "--skip-busy-waits=yes"]).unwrap(),
            SkipBusyWaits::On
        );
        // The flag alone does not swallow the next argument.
        let args = Args::try_parse_from(["ast-emu", "--skip-busy-waits", "--pad"]).unwrap();
        assert_eq!(args.skip_busy_waits, SkipBusyWaits::On);
        assert!(args.pad);
        assert!(parse(&["ast-emu", "--skip-busy-waits=sometimes"]).is_err());
    }

    #[test]
    fn auto_skips_busy_waits_but_the_console_countdown_at_a_terminal() {
        use aspeed_soc::BusyWaitSkip::*;
        assert_eq!(SkipBusyWaits::Auto.resolve(false), Always);
        assert_eq!(SkipBusyWaits::Auto.resolve(true), ExceptConsoleInput);
        assert_eq!(SkipBusyWaits::On.resolve(true), Always);
        assert_eq!(SkipBusyWaits::Console.resolve(false), ExceptConsoleInput);
        assert_eq!(SkipBusyWaits::Off.resolve(false), Never);
        assert_eq!(
            parse_skip_busy_waits("console").unwrap(),
            SkipBusyWaits::Console
        );
    }
}
