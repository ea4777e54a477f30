//! The switch's socket ports: stream listeners (each accepted connection a port) and UDP
//! sockets (each peer address a port), each on threads of their own that turn what arrives
//! into [`Event`]s for the switch's thread.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use crossbeam_channel::{Sender, TrySendError};

use crate::bridge::PortId;
use crate::wire::{self, StreamEnd};

/// How the switch's thread sends a port a frame (never blocking).
pub(crate) type PortSink = Box<dyn FnMut(&[u8]) + Send>;

/// What the port threads tell the switch's thread.
pub(crate) enum Event {
    /// A new port and how to send it a frame (never blocking).
    Attach(PortId, String, PortSink),
    /// A port went away (its peer closed the connection).
    Detach(PortId),
    /// A frame arrived on a port.
    Frame(PortId, Vec<u8>),
    /// The switch is stopping.
    Stop,
}

/// Frames waiting for a slow stream peer; more are dropped, as a full wire drops them.
const STREAM_QUEUE: usize = 512;

/// Hands out port numbers.
#[derive(Clone)]
pub(crate) struct PortNumbers(Arc<AtomicU32>);

impl PortNumbers {
    pub(crate) fn new(first: PortId) -> Self {
        PortNumbers(Arc::new(AtomicU32::new(first)))
    }

    pub(crate) fn next(&self) -> PortId {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}

/// A stream connection becomes a port: a reader thread sending its frames to the switch and a
/// writer thread draining a bounded queue, so a peer that stops reading slows nobody else.
fn attach_stream<S>(
    stream: S,
    writer: S,
    name: String,
    numbers: &PortNumbers,
    events: &Sender<Event>,
) -> bool
where
    S: io::Read + io::Write + Send + 'static,
{
    let id = numbers.next();
    let tx = match wire::spawn_stream_writer(
        writer,
        format!("switch-tx-{id}"),
        format!("switch: port {id} ({name})"),
        STREAM_QUEUE,
    ) {
        Ok(tx) => tx,
        Err(e) => {
            log::error!("switch: no thread for port {id}: {e}");
            return true;
        }
    };
    let mut dropped = 0u64;
    let sink = move |frame: &[u8]| match tx.try_send(frame.to_vec()) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => {
            dropped += 1;
            if dropped.is_power_of_two() {
                log::warn!("switch: port {id} is not reading; {dropped} frames dropped");
            }
        }
        Err(TrySendError::Disconnected(_)) => {}
    };
    if events
        .send(Event::Attach(id, name.clone(), Box::new(sink)))
        .is_err()
    {
        return false;
    }
    let frames = events.clone();
    let events = events.clone();
    let spawned = wire::spawn_stream_reader(
        stream,
        format!("switch-rx-{id}"),
        move |frame| frames.send(Event::Frame(id, frame)).is_ok(),
        move |why| {
            match why {
                // The switch is gone.
                None => return,
                Some(StreamEnd::Closed) => log::info!("switch: port {id} ({name}) closed"),
                Some(e) => log::warn!("switch: port {id} ({name}): {e}; closing it"),
            }
            let _ = events.send(Event::Detach(id));
        },
    );
    if let Err(e) = spawned {
        log::error!("switch: no reader thread for a port: {e}");
    }
    true
}

/// Listens on a Unix stream socket at `path`, each connection a port. A stale socket file
/// (nothing listening) is replaced; a live one is an error.
pub(crate) fn listen_unix(
    path: &Path,
    numbers: PortNumbers,
    events: Sender<Event>,
) -> Result<PathBuf, String> {
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(format!(
                "{}: another switch is listening there",
                path.display()
            ));
        }
        std::fs::remove_file(path)
            .map_err(|e| format!("{}: cannot replace the old socket: {e}", path.display()))?;
    }
    let listener =
        UnixListener::bind(path).map_err(|e| format!("{}: cannot listen: {e}", path.display()))?;
    let shown = path.to_path_buf();
    thread::Builder::new()
        .name("switch-unix".into())
        .spawn(move || {
            for conn in listener.incoming() {
                match conn.and_then(|c| c.try_clone().map(|w| (c, w))) {
                    Ok((c, w)) => {
                        let name = format!("unix:{}", shown.display());
                        if !attach_stream(c, w, name, &numbers, &events) {
                            return;
                        }
                    }
                    Err(e) => log::warn!("switch: accept on {}: {e}", shown.display()),
                }
            }
        })
        .map_err(|e| format!("switch: no listener thread: {e}"))?;
    Ok(path.to_path_buf())
}

/// Listens for TCP connections at `addr`, each connection a port.
pub(crate) fn listen_tcp(
    addr: &str,
    numbers: PortNumbers,
    events: Sender<Event>,
) -> Result<SocketAddr, String> {
    let listener =
        TcpListener::bind(addr).map_err(|e| format!("tcp:{addr}: cannot listen: {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("tcp:{addr}: {e}"))?;
    thread::Builder::new()
        .name("switch-tcp".into())
        .spawn(move || {
            for conn in listener.incoming() {
                match conn.and_then(|c| c.try_clone().map(|w| (c, w))) {
                    Ok((c, w)) => {
                        let peer = c.peer_addr().map(|a| a.to_string()).unwrap_or_default();
                        let _ = c.set_nodelay(true);
                        if !attach_stream(c, w, format!("tcp:{peer}"), &numbers, &events) {
                            return;
                        }
                    }
                    Err(e) => log::warn!("switch: accept on tcp:{local}: {e}"),
                }
            }
        })
        .map_err(|e| format!("switch: no listener thread: {e}"))?;
    Ok(local)
}

/// A UDP socket at `addr`: each address frames come from is a port (QEMU's `-netdev dgram`
/// peers, other switches), and `peers` are ports from the start, so this switch can reach a
/// switch on another machine before it has heard from it.
pub(crate) fn listen_udp(
    addr: &str,
    peers: &[String],
    numbers: PortNumbers,
    events: Sender<Event>,
) -> Result<SocketAddr, String> {
    let socket =
        Arc::new(UdpSocket::bind(addr).map_err(|e| format!("udp:{addr}: cannot bind: {e}"))?);
    let local = socket
        .local_addr()
        .map_err(|e| format!("udp:{addr}: {e}"))?;
    let known: Arc<Mutex<HashMap<SocketAddr, PortId>>> = Arc::default();
    let attach = {
        let socket = socket.clone();
        let known = known.clone();
        let events = events.clone();
        move |peer: SocketAddr| -> Option<PortId> {
            let mut known = known.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(id) = known.get(&peer) {
                return Some(*id);
            }
            let id = numbers.next();
            let socket = socket.clone();
            let sink = move |frame: &[u8]| {
                if let Err(e) = socket.send_to(frame, peer) {
                    log::debug!("switch: udp:{peer}: {e}");
                }
            };
            events
                .send(Event::Attach(id, format!("udp:{peer}"), Box::new(sink)))
                .ok()?;
            known.insert(peer, id);
            Some(id)
        }
    };
    for p in peers {
        let mut resolved = std::net::ToSocketAddrs::to_socket_addrs(p.as_str())
            .map_err(|e| format!("udp peer {p}: {e}"))?;
        let peer = resolved
            .next()
            .ok_or_else(|| format!("udp peer {p}: no address"))?;
        attach(peer);
    }
    thread::Builder::new()
        .name("switch-udp".into())
        .spawn(move || {
            let mut buf = vec![0u8; wire::MAX_FRAME_LEN + 1];
            loop {
                match socket.recv_from(&mut buf) {
                    Ok((n, peer)) => {
                        let Some(id) = attach(peer) else { return };
                        if n > wire::MAX_FRAME_LEN {
                            continue;
                        }
                        if events.send(Event::Frame(id, buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        log::error!("switch: udp:{local}: {e}");
                        return;
                    }
                }
            }
        })
        .map_err(|e| format!("switch: no udp thread: {e}"))?;
    Ok(local)
}

/// A host TAP device as a port (created if missing; needs CAP_NET_ADMIN): the host, or a
/// bridge on it, is then on the rack's network.
pub(crate) fn attach_tap(
    name: &str,
    numbers: &PortNumbers,
    events: &Sender<Event>,
) -> Result<(), String> {
    let iface = Arc::new(
        tun_tap::Iface::without_packet_info(name, tun_tap::Mode::Tap).map_err(|e| {
            format!("cannot open TAP device {name}: {e} (needs CAP_NET_ADMIN and /dev/net/tun)")
        })?,
    );
    let id = numbers.next();
    let out = iface.clone();
    let sink = move |frame: &[u8]| {
        if let Err(e) = out.send(frame) {
            log::debug!("switch: tap: {e}");
        }
    };
    events
        .send(Event::Attach(id, format!("tap:{name}"), Box::new(sink)))
        .map_err(|_| "switch: stopped".to_string())?;
    let events = events.clone();
    let tap = name.to_string();
    thread::Builder::new()
        .name("switch-tap".into())
        .spawn(move || {
            let mut buf = vec![0u8; wire::MAX_FRAME_LEN];
            loop {
                match iface.recv(&mut buf) {
                    Ok(n) => {
                        if events.send(Event::Frame(id, buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        log::error!("switch: tap {tap}: {e}");
                        let _ = events.send(Event::Detach(id));
                        return;
                    }
                }
            }
        })
        .map_err(|e| format!("switch: no tap thread: {e}"))?;
    Ok(())
}
