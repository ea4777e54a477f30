//! A virtual Ethernet switch for a rack of emulated BMCs.
//!
//! Emulators plug in over sockets as QEMU's do (`--nic socket,connect=unix:PATH` in ast-emu,
//! `-netdev stream`/`-netdev dgram` in QEMU); the switch learns where each MAC address is and
//! forwards frames between them. One uplink port leads to a user-mode network (libslirp,
//! through the `usernet` crate): the BMCs reach the host and the outside world through it, and
//! host ports forwarded into it reach any BMC by its address. The switch's own DHCP server
//! gives each BMC the address and host name reserved for its MAC, so forwards are known before
//! the BMCs boot (slirp's own DHCP is turned off: it keeps 16 leases, handed out in request
//! order).
//!
//! - [`wire`]: frames over sockets (QEMU's framing).
//! - [`bridge`]: the learning bridge.
//! - [`dhcp`]: the DHCP server.
//!
//! Each port has threads of its own; one thread owns the bridge and the DHCP server and moves
//! every frame. Sending to a port never blocks it: a port that stops reading loses frames, as a
//! full wire would.
#![deny(missing_docs)]

pub mod bridge;
pub mod dhcp;
mod ports;
pub mod wire;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use bridge::{Bridge, Forward, PortId};
use dhcp::{DhcpConfig, DhcpServer, Lease};
use ports::{Event, PortNumbers};
pub use wire::Endpoint;

/// The uplink's port number.
pub const UPLINK_PORT: PortId = 0;

/// The user-mode network the switch leads to.
pub struct Uplink {
    /// The network (its address, gateway, DNS, host forwards to the BMCs' addresses). Its own
    /// DHCP server is turned off when [`Uplink::dhcp`] is given.
    pub net: usernet::UserNetConfig,
    /// The switch's DHCP server, answering on every port.
    pub dhcp: Option<DhcpConfig>,
}

/// What a switch listens on and leads to.
#[derive(Default)]
pub struct SwitchConfig {
    /// Where emulators plug in: `unix:PATH` and `tcp:HOST:PORT` (each connection a port),
    /// `udp:HOST:PORT` (each peer address a port; port 0 picks one).
    pub listen: Vec<Endpoint>,
    /// Other switches (or QEMU `-netdev dgram` peers) reached from the first UDP socket, as
    /// `HOST:PORT`: a rack spanning machines.
    pub udp_peers: Vec<String>,
    /// The user-mode network, if any.
    pub uplink: Option<Uplink>,
    /// A host TAP device to plug in as one more port, by name.
    pub tap: Option<String>,
}

/// One port as [`Switch::ports`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    /// Its number ([`UPLINK_PORT`] for the uplink).
    pub id: PortId,
    /// What it is: `uplink`, `unix:PATH`, `tcp:PEER`, `udp:PEER`, `tap:NAME`.
    pub name: String,
    /// The MAC addresses learned behind it.
    pub macs: Vec<[u8; 6]>,
    /// Frames received from it.
    pub frames_in: u64,
    /// Frames sent to it.
    pub frames_out: u64,
}

struct Port {
    name: String,
    sink: ports::PortSink,
    frames_in: u64,
    frames_out: u64,
}

struct Hub {
    bridge: Bridge,
    dhcp: Option<DhcpServer>,
    ports: BTreeMap<PortId, Port>,
}

impl Hub {
    fn send(&mut self, to: PortId, frame: &[u8]) {
        if let Some(p) = self.ports.get_mut(&to) {
            p.frames_out += 1;
            (p.sink)(frame);
        }
    }

    fn frame(&mut self, from: PortId, frame: &[u8]) {
        let Some(p) = self.ports.get_mut(&from) else {
            return;
        };
        p.frames_in += 1;
        if let Some(dhcp) = &mut self.dhcp {
            if DhcpServer::is_dhcp_client_frame(frame) {
                if let Some(reply) = dhcp.handle(frame) {
                    self.send(from, &reply);
                }
                return;
            }
        }
        match self.bridge.forward(from, frame, Instant::now()) {
            Forward::Port(to) => self.send(to, frame),
            Forward::Flood => {
                let others: Vec<PortId> =
                    self.ports.keys().copied().filter(|&p| p != from).collect();
                for to in others {
                    self.send(to, frame);
                }
            }
            Forward::Drop => {}
        }
    }
}

/// A running switch. Dropping it stops it.
pub struct Switch {
    events: Sender<Event>,
    hub: Arc<Mutex<Hub>>,
    thread: Option<JoinHandle<()>>,
    listening: Vec<Endpoint>,
    uplink: Option<Arc<usernet::UserNet>>,
}

impl Switch {
    /// Starts the switch: binds every listening address, starts the uplink. Fails with a
    /// readable message when an address cannot be bound or the uplink cannot start.
    pub fn start(config: SwitchConfig) -> Result<Switch, String> {
        let (events, rx) = crossbeam_channel::unbounded();
        let dhcp = match config.uplink.as_ref().and_then(|u| u.dhcp.clone()) {
            Some(c) => Some(DhcpServer::new(c)?),
            None => None,
        };
        let hub = Arc::new(Mutex::new(Hub {
            bridge: Bridge::new(bridge::DEFAULT_AGEING),
            dhcp,
            ports: BTreeMap::new(),
        }));
        let numbers = PortNumbers::new(UPLINK_PORT + 1);
        let mut listening = Vec::new();
        let mut peers = Some(config.udp_peers);
        for endpoint in &config.listen {
            let bound = match endpoint {
                Endpoint::Unix(path) => {
                    Endpoint::Unix(ports::listen_unix(path, numbers.clone(), events.clone())?)
                }
                Endpoint::Tcp(addr) => Endpoint::Tcp(
                    ports::listen_tcp(addr, numbers.clone(), events.clone())?.to_string(),
                ),
                Endpoint::Udp(addr) => {
                    let peers = peers.take().unwrap_or_default();
                    Endpoint::Udp(
                        ports::listen_udp(addr, &peers, numbers.clone(), events.clone())?
                            .to_string(),
                    )
                }
            };
            listening.push(bound);
        }
        if peers.is_some_and(|p| !p.is_empty()) {
            return Err("UDP peers need a UDP address to listen on (udp:HOST:PORT)".into());
        }
        if let Some(tap) = &config.tap {
            ports::attach_tap(tap, &numbers, &events)?;
        }
        let uplink = match config.uplink {
            Some(up) => {
                let mut net = up.net;
                if up.dhcp.is_some() {
                    net.dhcp = false;
                }
                let to_switch = events.clone();
                let net = Arc::new(usernet::UserNet::start(
                    net,
                    Box::new(move |f: &[u8]| {
                        let _ = to_switch.send(Event::Frame(UPLINK_PORT, f.to_vec()));
                    }),
                )?);
                let out = net.clone();
                let _ = events.send(Event::Attach(
                    UPLINK_PORT,
                    "uplink".into(),
                    Box::new(move |f: &[u8]| out.send(f)),
                ));
                Some(net)
            }
            None => None,
        };
        let thread = std::thread::Builder::new()
            .name("switch".into())
            .spawn({
                let hub = hub.clone();
                move || run(&hub, &rx)
            })
            .map_err(|e| format!("switch: no thread: {e}"))?;
        Ok(Switch {
            events,
            hub,
            thread: Some(thread),
            listening,
            uplink,
        })
    }

    /// The addresses listened on, with the ports the system picked for port 0.
    pub fn listening(&self) -> &[Endpoint] {
        &self.listening
    }

    fn hub(&self) -> MutexGuard<'_, Hub> {
        self.hub.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The ports and what they carried.
    pub fn ports(&self) -> Vec<PortInfo> {
        let hub = self.hub();
        let table = hub.bridge.table(Instant::now());
        hub.ports
            .iter()
            .map(|(&id, p)| PortInfo {
                id,
                name: p.name.clone(),
                macs: table
                    .iter()
                    .filter(|(_, port)| *port == id)
                    .map(|(m, _)| *m)
                    .collect(),
                frames_in: p.frames_in,
                frames_out: p.frames_out,
            })
            .collect()
    }

    /// The DHCP server's bindings (none without one).
    pub fn leases(&self) -> Vec<Lease> {
        self.hub()
            .dhcp
            .as_ref()
            .map(|d| d.leases())
            .unwrap_or_default()
    }

    /// Stops moving frames and closes the uplink (its forwarded ports). Idempotent.
    pub fn stop(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = self.events.send(Event::Stop);
            let _ = t.join();
        }
        self.hub().ports.clear();
        self.uplink = None;
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(hub: &Mutex<Hub>, events: &Receiver<Event>) {
    for event in events {
        let mut hub = hub.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::Attach(id, name, sink) => {
                log::info!("switch: port {id}: {name}");
                hub.bridge.add_port(id);
                hub.ports.insert(
                    id,
                    Port {
                        name,
                        sink,
                        frames_in: 0,
                        frames_out: 0,
                    },
                );
            }
            Event::Detach(id) => {
                hub.bridge.remove_port(id);
                hub.ports.remove(&id);
            }
            Event::Frame(id, frame) => hub.frame(id, &frame),
            Event::Stop => return,
        }
    }
}

#[cfg(test)]
mod tests;
