//! `ast-emu switch`: a virtual switch on its own, for emulators (ast-emu `--nic socket,...`,
//! QEMU `-netdev stream`/`-netdev dgram`) that are not one rack's, or for the part of a rack
//! on another machine (joined to the rack's `--udp` address with `--peer`).

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// `ast-emu switch`: a learning bridge between emulators.
#[derive(Parser, Debug)]
#[command(
    name = "ast-emu switch",
    about = "Runs a virtual Ethernet switch (learning bridge) for emulators on sockets"
)]
pub struct SwitchArgs {
    /// Where emulators plug in (repeatable): `unix:PATH` or `tcp:HOST:PORT` (each connection a
    /// port, QEMU's stream framing), `udp:HOST:PORT` (each peer address a port).
    #[arg(long, value_name = "ADDRESS", required = true, value_parser = switch::Endpoint::parse)]
    pub listen: Vec<switch::Endpoint>,
    /// Another switch reached over UDP from the first `udp:` address (repeatable).
    #[arg(long, value_name = "HOST:PORT")]
    pub peer: Vec<String>,
    /// A user-mode network as one more port: `user[,hostfwd=...,net=...]` as `--nic user`
    /// takes it (its own DHCP server hands out addresses, up to 16 clients).
    #[arg(long, value_name = "user[,OPTION=VALUE..]")]
    pub uplink: Option<String>,
    /// A host TAP device as one more port (needs CAP_NET_ADMIN).
    #[arg(long, value_name = "NAME")]
    pub tap: Option<String>,
}

/// Runs `ast-emu switch ARGS` (`args` without the program name and `switch`) until SIGINT,
/// SIGTERM or SIGHUP.
pub fn switch_main(args: Vec<OsString>) -> ExitCode {
    crate::run_command("ast-emu switch", args, run)
}

fn run(args: SwitchArgs) -> Result<(), String> {
    let stop = crate::signals::StopSignal::install()?;
    let uplink = match &args.uplink {
        Some(spec) => Some(switch::Uplink {
            net: usernet::parse_user_nic(spec).map_err(|e| format!("--uplink {spec}: {e}"))?,
            dhcp: None,
        }),
        None => None,
    };
    let mut sw = switch::Switch::start(switch::SwitchConfig {
        listen: args.listen,
        udp_peers: args.peer,
        uplink,
        tap: args.tap,
    })?;
    let listening: Vec<String> = sw.listening().iter().map(|e| e.to_string()).collect();
    println!(
        "ast-emu switch: listening on {} (Ctrl-C stops it)",
        listening.join(", ")
    );
    let signal = loop {
        if let Some(sig) = stop.wait(Duration::from_secs(3600)) {
            break sig;
        }
    };
    println!("ast-emu switch: {signal}; ports at the end:");
    for p in sw.ports() {
        let macs: Vec<String> = p
            .macs
            .iter()
            .map(|m| {
                m.iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(":")
            })
            .collect();
        println!(
            "  port {} {}: {} frames in, {} out; {}",
            p.id,
            p.name,
            p.frames_in,
            p.frames_out,
            if macs.is_empty() {
                "no addresses".to_string()
            } else {
                macs.join(", ")
            }
        );
    }
    sw.stop();
    for e in sw.listening() {
        if let switch::Endpoint::Unix(path) = e {
            let _ = std::fs::remove_file(path);
        }
    }
    Ok(())
}
