//! A rack of emulated BMCs (`ast-emu rack`): N emulator processes, each with its own control
//! socket, MAC, address and host name, plugged into one virtual switch (the `switch` crate)
//! whose uplink is a user-mode network: DHCP for every BMC from the switch, host forwards to
//! each BMC's SSH, HTTPS and HTTP at a base port + its number. A live table (or, off a
//! terminal, one line per change) shows each BMC's state, uptime and address, and
//! `status.json` in the rack's folder holds the same for tools. Ctrl-C or SIGTERM stops every
//! BMC cleanly (each writes its persisted flash back) and then the switch.
#![deny(missing_docs)]

pub mod bmc;
pub mod config;
mod control_client;
mod dashboard;
mod switch_command;

pub use switch_command::switch_main;
pub mod status;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;

use bmc::{Bmc, BmcState};
use config::{BmcPlan, RackFile};

/// `ast-emu rack`: many BMCs on one virtual network.
#[derive(Parser, Debug)]
#[command(
    name = "ast-emu rack",
    about = "Runs a rack of emulated BMCs on one virtual switch, with DHCP, host forwards and a status table"
)]
pub struct RackArgs {
    /// The rack's description (TOML: count or [[bmc]] tables, flash, snapshot, ports, network;
    /// see docs/rack.md). Without it, --count makes one.
    pub config: Option<PathBuf>,
    /// How many BMCs (shorthand for a file with `count = N`).
    #[arg(long, short = 'n', conflicts_with = "config")]
    pub count: Option<usize>,
    /// At most N BMCs boot cold at once, the others waiting their turn (0: no limit; default
    /// 4 per host CPU).
    #[arg(long, value_name = "N")]
    pub boot_at_once: Option<usize>,
    /// Every BMC's flash image (default: the emulator's built-in image).
    #[arg(long, conflicts_with = "config")]
    pub flash: Option<PathBuf>,
    /// Start every BMC from this snapshot (`snapshot-save`'s file) instead of booting.
    #[arg(long, conflicts_with = "config")]
    pub snapshot: Option<PathBuf>,
    /// A console line typed into each BMC restored from --snapshot (repeatable), so clones take
    /// their own identity: `{name}`, `{mac}`, `{address}`, `{index}` are replaced (docs/rack.md
    /// has the line for the built-in image).
    #[arg(long, value_name = "LINE", requires = "snapshot")]
    pub after_restore: Vec<String>,
    /// BMC k's SSH is forwarded from 127.0.0.1:PORT+k.
    #[arg(long, value_name = "PORT")]
    pub ssh_port: Option<u16>,
    /// BMC k's HTTPS is forwarded from 127.0.0.1:PORT+k.
    #[arg(long, value_name = "PORT")]
    pub https_port: Option<u16>,
    /// BMC k's HTTP is forwarded from 127.0.0.1:PORT+k (default: not forwarded).
    #[arg(long, value_name = "PORT")]
    pub http_port: Option<u16>,
    /// The rack's folder: the switch's socket, each BMC's control socket, console and log,
    /// status.json. Default: a new folder in the temporary folder.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Status output: `table` (a live table), `lines` (a line per change), or `auto` (the
    /// table on a terminal).
    #[arg(long, default_value = "auto", value_parser = ["auto", "table", "lines"])]
    pub status: String,
    /// Also listen for emulators and other switches on UDP at HOST:PORT (one frame per
    /// datagram, QEMU's `-netdev dgram`), so the rack's network can span machines.
    #[arg(long, value_name = "HOST:PORT")]
    pub udp: Option<String>,
    /// Another machine's switch (its `--udp` address), reached over UDP (repeatable; needs
    /// --udp).
    #[arg(long, value_name = "HOST:PORT", requires = "udp")]
    pub peer: Vec<String>,
    /// Plug a host TAP device into the switch too (needs CAP_NET_ADMIN).
    #[arg(long, value_name = "NAME")]
    pub tap: Option<String>,
    /// Serve the web dashboard at this address (default 127.0.0.1 on a free port; `off` for
    /// none). Its address, with the access token, is printed at start.
    #[arg(long, value_name = "HOST:PORT|off")]
    pub dashboard: Option<String>,
}

/// Runs `ast-emu rack ARGS` (`args` without the program name and `rack`), starting
/// `emulator` for each BMC. Returns when the rack has stopped.
pub fn main(emulator: PathBuf, args: Vec<OsString>) -> ExitCode {
    run_command("ast-emu rack", args, |a: RackArgs| run(&emulator, &a))
}

/// Parses `args` as command `name`'s (help and version are printed, exit 0; a usage error
/// exits 2) and runs it; an error is printed with the command's name, exit 2.
pub(crate) fn run_command<T: Parser>(
    name: &str,
    args: Vec<OsString>,
    run: impl FnOnce(T) -> Result<(), String>,
) -> ExitCode {
    let parsed = match T::try_parse_from(std::iter::once(OsString::from(name)).chain(args)) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(parsed) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::from(2)
        }
    }
}

/// The rack's description from the arguments.
fn rack_file(args: &RackArgs) -> Result<RackFile, String> {
    let mut file = match (&args.config, args.count) {
        (Some(path), _) => RackFile::load(path)?,
        (None, Some(n)) => {
            let mut f = RackFile::shorthand(n, args.flash.clone(), args.snapshot.clone());
            f.after_restore = args.after_restore.clone();
            f
        }
        (None, None) => return Err("give a rack file (ast-emu rack rack.toml) or --count N".into()),
    };
    if let Some(p) = args.ssh_port {
        file.ssh_port = p;
    }
    if let Some(p) = args.https_port {
        file.https_port = p;
    }
    if let Some(p) = args.http_port {
        file.http_port = p;
    }
    if args.boot_at_once.is_some() {
        file.boot_at_once = args.boot_at_once;
    }
    for path in [&file.flash, &file.snapshot].into_iter().flatten().chain(
        file.bmc
            .iter()
            .flat_map(|b| [&b.flash, &b.snapshot])
            .flatten(),
    ) {
        if !path.is_file() {
            return Err(format!("{}: no such file", path.display()));
        }
    }
    Ok(file)
}

/// Refuses plans in which two BMCs would write their flash back into one file.
fn check_persist(plans: &[BmcPlan]) -> Result<(), String> {
    let persist = |p: &BmcPlan| {
        p.args
            .iter()
            .any(|a| a == "--persist" || a.starts_with("--persist="))
    };
    for (i, a) in plans.iter().enumerate() {
        for b in &plans[i + 1..] {
            match (&a.flash, &b.flash) {
                (Some(fa), Some(fb)) if persist(a) && persist(b) && fa == fb => {
                    return Err(format!(
                        "{} and {} would both write their flash back into {}: with --persist give each BMC its own image ([[bmc]] flash = ...)",
                        a.name,
                        b.name,
                        fa.display()
                    ));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// The switch for `plans`: listening at `socket`, its uplink forwarding each BMC's ports and
/// its DHCP server reserving each BMC's address and host name.
fn start_switch(
    file: &RackFile,
    plans: &[BmcPlan],
    socket: &Path,
    args: &RackArgs,
) -> Result<switch::Switch, String> {
    use switch::dhcp::{DhcpConfig, Reservation};
    use usernet::{HostFwd, Proto};
    let gateway = file.gateway()?;
    let mut net = usernet::UserNetConfig {
        network: file.network_address()?,
        prefix_len: 24,
        host: gateway,
        dns: file.dns()?,
        dhcp_start: plans[0].address,
        dhcp: false,
        ..usernet::UserNetConfig::default()
    };
    for p in plans {
        let ports = [(p.ssh_port, 22), (p.https_port, 443)]
            .into_iter()
            .chain(p.http_port.map(|h| (h, 80)));
        for (host_port, guest_port) in ports {
            net.hostfwd.push(HostFwd {
                proto: Proto::Tcp,
                host_addr: std::net::Ipv4Addr::LOCALHOST,
                host_port,
                guest_addr: Some(p.address),
                guest_port,
            });
        }
    }
    let g = gateway.octets();
    let first = plans[0].address.octets()[3];
    let last = plans[plans.len() - 1].address.octets()[3];
    // Addresses for anything else plugged in (a QEMU machine, a host tool): below the BMCs'
    // if there is room, else above.
    let (pool_start, pool_end) = if first > 10 {
        (4, first - 1)
    } else if last < 250 {
        (last + 1, 254)
    } else {
        return Err("no addresses left for the DHCP pool; lower first-address".into());
    };
    let dhcp = DhcpConfig {
        server_ip: gateway,
        // slirp answers for the gateway with 52:55 followed by its address.
        server_mac: [0x52, 0x55, g[0], g[1], g[2], g[3]],
        netmask: std::net::Ipv4Addr::new(255, 255, 255, 0),
        router: gateway,
        dns: vec![file.dns()?],
        domain: None,
        lease_secs: 3600,
        pool_start: std::net::Ipv4Addr::new(g[0], g[1], g[2], pool_start),
        pool_end: std::net::Ipv4Addr::new(g[0], g[1], g[2], pool_end),
        reservations: plans
            .iter()
            .map(|p| Reservation {
                mac: p.mac,
                ip: p.address,
                hostname: Some(p.name.clone()),
            })
            .collect(),
    };
    switch::Switch::start(switch::SwitchConfig {
        listen: std::iter::once(switch::Endpoint::Unix(socket.to_path_buf()))
            .chain(args.udp.iter().map(|a| switch::Endpoint::Udp(a.clone())))
            .collect(),
        udp_peers: args.peer.clone(),
        tap: args.tap.clone(),
        uplink: Some(switch::Uplink {
            net,
            dhcp: Some(dhcp),
        }),
    })
}

/// A running rack, shared by the status loop and the dashboard.
pub struct Rack {
    /// The BMCs, in order, each behind its own lock (stopping one waits for it alone).
    pub bmcs: Vec<Mutex<Bmc>>,
    switch: Mutex<switch::Switch>,
    emulator: PathBuf,
    socket: PathBuf,
    /// At most this many cold boots at once ([`RackFile::boot_limit`]).
    boot_limit: usize,
}

impl Rack {
    /// Starts waiting BMCs, in order, while fewer than the limit boot cold (a BMC from a
    /// snapshot starts at once: it does not boot). A BMC that cannot start is stopped with
    /// the reason.
    fn start_waiting(&self) {
        let mut booting = self
            .bmcs
            .iter()
            .filter(|b| lock_bmc(b).is_booting_cold())
            .count();
        for b in &self.bmcs {
            let mut b = lock_bmc(b);
            if !b.is_waiting() {
                continue;
            }
            let cold = b.plan.snapshot.is_none();
            if cold && booting >= self.boot_limit && !b.start_asked() {
                continue;
            }
            if let Err(e) = b.restart(&self.emulator, &self.socket) {
                log::error!("rack: {e}");
                b.set_stopped(e);
                continue;
            }
            if cold {
                booting += 1;
            }
        }
    }

    /// The status rows now.
    pub fn rows(&self) -> Vec<status::Row> {
        let leases = self
            .switch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .leases();
        status::rows(&self.bmcs, &leases)
    }

    /// BMC `name`.
    pub fn bmc(&self, name: &str) -> Option<&Mutex<Bmc>> {
        self.bmcs.iter().find(|b| lock_bmc(b).plan.name == name)
    }

    /// Stops BMC `name` cleanly (SIGTERM, then a kill after the grace time).
    pub fn stop(&self, name: &str) -> Result<(), String> {
        let b = self.bmc(name).ok_or_else(|| format!("no BMC {name:?}"))?;
        let mut b = lock_bmc(b);
        b.request_stop();
        b.finish_stop(Instant::now() + bmc::STOP_GRACE);
        Ok(())
    }

    /// Starts stopped or waiting BMC `name` again: within half a second, from the rack's main
    /// loop, whatever the boot limit.
    pub fn start(&self, name: &str) -> Result<(), String> {
        let b = self.bmc(name).ok_or_else(|| format!("no BMC {name:?}"))?;
        let mut b = lock_bmc(b);
        b.poll();
        b.ask_start()
    }

    /// The rack's connection to BMC `name`'s control socket.
    pub fn control(&self, name: &str) -> Result<Arc<control_client::Control>, String> {
        let b = self.bmc(name).ok_or_else(|| format!("no BMC {name:?}"))?;
        let b = lock_bmc(b);
        Ok(b.commands.clone())
    }

    /// Stops every BMC: all asked at once, then each waited for.
    fn stop_all(&self) {
        for b in &self.bmcs {
            lock_bmc(b).request_stop();
        }
        let deadline = Instant::now() + bmc::STOP_GRACE;
        for b in &self.bmcs {
            lock_bmc(b).finish_stop(deadline);
        }
    }
}

fn run(emulator: &Path, args: &RackArgs) -> Result<(), String> {
    let file = rack_file(args)?;
    let plans = file.plan()?;
    check_persist(&plans)?;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("ast-emu-rack-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let socket = dir.join("switch.sock");
    let stop = signals::StopSignal::install()?;
    let switch = start_switch(&file, &plans, &socket, args)?;
    let bmcs: Vec<Mutex<Bmc>> = plans
        .into_iter()
        .map(|plan| Mutex::new(Bmc::waiting(plan, &dir)))
        .collect();
    let rack = Arc::new(Rack {
        bmcs,
        switch: Mutex::new(switch),
        emulator: emulator.to_path_buf(),
        socket: socket.clone(),
        boot_limit: file.boot_limit(),
    });
    // The first: an emulator that cannot be started at all is an error of the rack's.
    if let Err(e) = lock_bmc(&rack.bmcs[0]).restart(emulator, &socket) {
        rack.stop_all();
        return Err(e);
    }
    rack.start_waiting();
    let dashboard = match &args.dashboard {
        Some(addr) if addr == "off" => None,
        addr => match dashboard::start(rack.clone(), addr.as_deref().unwrap_or("127.0.0.1:0")) {
            Ok(url) => Some(url),
            Err(e) => {
                rack.stop_all();
                return Err(e);
            }
        },
    };
    let table = match args.status.as_str() {
        "table" => true,
        "lines" => false,
        _ => status::stdout_is_terminal(),
    };
    let mut out = status::Status::new(&dir, table);
    out.dashboard = dashboard.clone();
    out.header(&rack.bmcs, &socket, dashboard.as_deref());
    let signal = loop {
        rack.start_waiting();
        out.show(&rack.rows());
        if let Some(sig) = stop.wait(Duration::from_millis(500)) {
            break sig;
        }
    };
    out.note(&format!("{signal}: stopping {} BMCs", rack.bmcs.len()));
    rack.stop_all();
    out.show(&rack.rows());
    rack.switch.lock().unwrap_or_else(|e| e.into_inner()).stop();
    let _ = std::fs::remove_file(&socket);
    out.note("stopped");
    Ok(())
}

fn lock_bmc(b: &Mutex<Bmc>) -> std::sync::MutexGuard<'_, Bmc> {
    b.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether a BMC counts as up in the status.
pub fn is_up(state: &BmcState) -> bool {
    matches!(state, BmcState::Booting | BmcState::Ready)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_bmcs_never_persist_into_one_image() {
        let mut file = RackFile::shorthand(2, Some("/x/image.mtd".into()), None);
        assert!(check_persist(&file.plan().unwrap()).is_ok(), "no --persist");
        file.args = vec!["--persist".into()];
        let err = check_persist(&file.plan().unwrap()).unwrap_err();
        assert!(err.contains("bmc1 and bmc2"), "{err}");
        file.flash = None;
        file.bmc = vec![
            config::BmcEntry {
                flash: Some("/x/a".into()),
                ..Default::default()
            },
            config::BmcEntry {
                flash: Some("/x/b".into()),
                ..Default::default()
            },
        ];
        file.count = None;
        assert!(check_persist(&file.plan().unwrap()).is_ok(), "own images");
    }
}

pub(crate) mod signals {
    //! SIGINT, SIGTERM and SIGHUP stop the rack (the emulator's `main` has blocked them in
    //! every thread; a dedicated thread takes them with sigwait).

    use std::time::Duration;

    use crossbeam_channel::Receiver;

    /// Delivers the first quit signal's name.
    pub struct StopSignal(Receiver<&'static str>);

    impl StopSignal {
        pub fn install() -> Result<Self, String> {
            let (tx, rx) = crossbeam_channel::bounded(1);
            // SAFETY: a zeroed sigset_t filled by sigemptyset/sigaddset, then blocked in this
            // thread (and inherited by the threads it starts from now on).
            let set = unsafe {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                    libc::sigaddset(&mut set, s);
                }
                libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
                set
            };
            std::thread::Builder::new()
                .name("rack-signals".into())
                .spawn(move || {
                    let mut asked: Option<std::time::Instant> = None;
                    loop {
                        let mut sig = 0;
                        // SAFETY: waits for a signal of `set`, blocked in every thread.
                        if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
                            return;
                        }
                        let name = match sig {
                            libc::SIGINT => "SIGINT",
                            libc::SIGTERM => "SIGTERM",
                            _ => "SIGHUP",
                        };
                        if let Some(first) = asked {
                            // Copies that came with the first (`timeout` signals the process
                            // and its group) count once.
                            if first.elapsed() < Duration::from_secs(1) {
                                continue;
                            }
                            // A second signal while stopping: the user insists. The emulators
                            // still get their SIGTERM, so none runs on without the rack.
                            eprintln!("ast-emu rack: {name} again; exiting now");
                            crate::bmc::stop_running_now();
                            std::process::exit(128 + sig);
                        }
                        asked = Some(std::time::Instant::now());
                        let _ = tx.try_send(name);
                    }
                })
                .map_err(|e| format!("signal thread: {e}"))?;
            Ok(StopSignal(rx))
        }

        pub fn wait(&self, timeout: Duration) -> Option<&'static str> {
            self.0.recv_timeout(timeout).ok()
        }
    }
}
