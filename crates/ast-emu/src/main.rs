//! `ast-emu`: boots Aspeed AST2600 BMC firmware from a SPI flash image.

mod console;
mod i2c_dev;
mod image;
mod net;
mod persist;

use std::path::PathBuf;
use std::process::ExitCode;

use ast2600::{Ast2600, BoardConfig, HostEvent, Stop};
use clap::Parser;

/// The project's own firmware (see firmware-fixtures/README.md: mainline u-boot, Linux 6.1, a
/// squashfs + jffs2 userland; root password `ast-emu`), embedded so a fresh build boots it.
static DEFAULT_IMAGE: &[u8] = include_bytes!("../../../firmware-fixtures/ast2600-evb.img.xz");

/// Emulates an Aspeed AST2600 BMC (ast2600-evb) and boots its firmware from SPI flash.
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = "Console: Ctrl-a x quits, Ctrl-a h lists the escapes."
)]
struct Args {
    /// The boot flash image (raw, or .xz compressed); 64 MiB. Without it, the project's own
    /// image (firmware-fixtures/ast2600-evb.img.xz, built into this binary) boots.
    #[arg(long, value_name = "PATH")]
    flash: Option<PathBuf>,

    /// Log filter (env_logger syntax). `unimp=warn,unassigned=warn` reports every
    /// unimplemented register and unassigned address once. Defaults to RUST_LOG, else `error`.
    #[arg(long, value_name = "FILTER")]
    log: Option<String>,

    /// A network for MAC1 (Linux eth0), QEMU-style: `user` gives user-mode networking (DHCP
    /// 10.0.2.15, the host as 10.0.2.2, DNS at 10.0.2.3) with forwarded ports, e.g.
    /// `user,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=tcp::8080-:80`. Ports listen on 127.0.0.1
    /// unless an address is given. `tap,ifname=NAME` bridges to a host TAP device.
    #[arg(long, value_name = "SPEC")]
    nic: Option<String>,

    /// Write guest changes to the flash back into the --flash file: atomically, at exit, on
    /// `Ctrl-a s` and before each guest reboot. Without it the file is never modified.
    #[arg(long)]
    persist: bool,

    /// Accept an image smaller than the flash, filling the rest with 0xFF (erased NOR).
    #[arg(long)]
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
}

fn init_logging(args: &Args) -> Result<(), String> {
    let filter = args
        .log
        .clone()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "error".into());
    let mut builder = env_logger::Builder::new();
    builder.parse_filters(&filter);
    if let Some(path) = &args.log_file {
        let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
        builder.target(env_logger::Target::Pipe(Box::new(file)));
    }
    builder.init();
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(e) = init_logging(&args) {
        eprintln!("ast-emu: log file: {e}");
        return ExitCode::from(2);
    }
    if args.persist {
        match &args.flash {
            None => {
                eprintln!(
                    "ast-emu: --persist needs --flash FILE (the built-in image cannot be written)"
                );
                return ExitCode::from(2);
            }
            Some(p) if p.extension().is_some_and(|e| e == "xz") => {
                eprintln!(
                    "ast-emu: {}: a .xz image cannot be persisted; decompress it first (xz -dk {})",
                    p.display(),
                    p.display()
                );
                return ExitCode::from(2);
            }
            Some(_) => {}
        }
    }
    let loaded = match &args.flash {
        Some(path) => image::load_padded(path, args.pad),
        // A bare-metal ELF needs no firmware: blank (erased) flash.
        None if args.elf.is_some() => Ok(vec![0xff; image::ACCEPTED_SIZES[0]]),
        None => image::decode(
            std::path::Path::new("(built-in ast2600-evb.img.xz)"),
            DEFAULT_IMAGE.to_vec(),
        ),
    };
    let flash = match loaded {
        Ok(f) => f,
        Err(e) => {
            eprintln!("ast-emu: {e}");
            return ExitCode::from(2);
        }
    };
    let mut soc = match Ast2600::new(
        BoardConfig {
            flash,
            dram_size: 1 << 30,
        },
        Box::new(console::ConsoleOut),
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ast-emu: cannot build the SoC: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(path) = &args.elf {
        let loaded = image::read_file(path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                soc.load_elf(&bytes)
                    .map_err(|e| format!("{}: {e}", path.display()))
            });
        if let Err(e) = loaded {
            eprintln!("ast-emu: --elf {e}");
            return ExitCode::from(2);
        }
    }
    if let Err(e) = i2c_dev::add_all(&mut soc, &args.i2c_dev) {
        eprintln!("ast-emu: {e}");
        return ExitCode::from(2);
    }
    // Keep the network running for as long as the SoC runs.
    let _network = match &args.nic {
        Some(spec) => match net::connect(&mut soc, spec) {
            Ok(net) => Some(net),
            Err(e) => {
                eprintln!("ast-emu: --nic {spec}: {e}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    if args.persist {
        if let Some(path) = args.flash.clone() {
            soc.set_flash_sink(Box::new(move |bytes: &[u8]| {
                persist::write_atomically(&path, bytes)
            }));
        }
    }
    let terminal = console::RawTerminal::enable();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // Leave the terminal usable even if something goes badly wrong.
        // SAFETY: resetting fd 0 to sane cooked mode is harmless when it is not a terminal.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) == 0 {
                t.c_lflag |= libc::ICANON | libc::ECHO | libc::ISIG;
                t.c_oflag |= libc::OPOST;
                libc::tcsetattr(0, libc::TCSANOW, &t);
            }
        }
        default_hook(info);
    }));
    if terminal.is_raw() {
        eprint!("ast-emu: console on UART5; Ctrl-a x quits, Ctrl-a h for help\r\n");
    }
    let (tx, rx) = crossbeam_channel::unbounded::<HostEvent>();
    let wake = soc.cpu_handle();
    console::spawn_input(tx, move || wake.request_exit());
    let stop = soc.run(&rx);
    drop(terminal);
    if let Err(e) = soc.save_flash() {
        eprintln!("ast-emu: {e}");
    }
    match stop {
        Stop::Quit => ExitCode::SUCCESS,
        Stop::Halted => {
            eprintln!("\nast-emu: the guest halted (power off); exiting");
            ExitCode::SUCCESS
        }
        Stop::Fault(e) => {
            eprintln!("\nast-emu: the CPU stopped: {e}");
            ExitCode::from(1)
        }
    }
}
