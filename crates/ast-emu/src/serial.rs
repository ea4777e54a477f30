//! `--serial NAME=BACKEND`: a UART or VUART other than the console connected to a pty, a Unix
//! socket, a TCP port or a file.
//!
//! The SoC thread never blocks on the host: what the guest transmits is collected per CPU
//! slice and handed to the backend's writer thread through a bounded channel; when that is
//! full (the host side does not read), the bytes are dropped and counted in a log line. What
//! the host sends is read on the backend's own threads and reaches the SoC as
//! [`HostEvent::SerialInput`] (the SoC queues it for the receiver, bounded at 64 KiB).
//!
//! A Unix socket or TCP port serves one client at a time: a new client replaces the old one
//! (whose connection is closed). Without a client, what the guest transmits is dropped.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aspeed_soc::{AspeedSoc, HostEvent};
use crossbeam_channel::{Receiver, Sender, TrySendError};

/// Chunks of guest output waiting for a backend's writer thread.
const OUTPUT_CHUNKS: usize = 256;
/// Guest output collected in one slice beyond which it is handed over before the slice ends.
const CHUNK_BYTES: usize = 16 * 1024;

/// Where a UART is connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// A new pseudo-terminal (its name printed on stderr).
    Pty,
    /// A listening Unix socket.
    Unix(PathBuf),
    /// A listening TCP socket.
    Tcp(SocketAddr),
    /// A file the guest's output is appended to (no input).
    File(PathBuf),
}

/// One `--serial` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialSpec {
    /// The UART's bus name: `uart1`..`uart13`, `vuart1`, `vuart2`.
    pub uart: String,
    /// Where it goes.
    pub backend: Backend,
}

const SYNTAX: &str = "expected NAME=pty|unix:PATH|tcp:HOST:PORT|file:PATH, NAME uart1..uart13, vuart1, vuart2 or a number 1..13";

/// Parses `NAME=BACKEND` (clap's value parser for `--serial`).
pub fn parse(spec: &str) -> Result<SerialSpec, String> {
    let (name, backend) = spec
        .split_once('=')
        .ok_or_else(|| format!("{spec:?}: {SYNTAX}"))?;
    Ok(SerialSpec {
        uart: parse_name(name)?,
        backend: parse_backend(backend)?,
    })
}

fn parse_name(name: &str) -> Result<String, String> {
    let uart = |n: &str| n.parse::<u8>().ok().filter(|n| (1..=13).contains(n));
    if let Some(n) = uart(name) {
        return Ok(format!("uart{n}"));
    }
    if let Some(n) = name.strip_prefix("uart").and_then(uart) {
        return Ok(format!("uart{n}"));
    }
    if name == "vuart1" || name == "vuart2" {
        return Ok(name.to_string());
    }
    Err(format!(
        "no UART called {name:?}: expected uart1..uart13, vuart1, vuart2 or a number 1..13"
    ))
}

fn parse_backend(s: &str) -> Result<Backend, String> {
    let path = |p: &str, what: &str| {
        if p.is_empty() {
            Err(format!("{s:?}: {what} needs a path ({what}:PATH)"))
        } else {
            Ok(PathBuf::from(p))
        }
    };
    if s == "pty" {
        Ok(Backend::Pty)
    } else if let Some(p) = s.strip_prefix("unix:") {
        path(p, "unix").map(Backend::Unix)
    } else if let Some(p) = s.strip_prefix("file:") {
        path(p, "file").map(Backend::File)
    } else if let Some(rest) = s.strip_prefix("tcp:") {
        let addr = crate::gdb::parse_address(rest).map_err(|_| {
            format!("{s:?}: expected tcp:HOST:PORT (tcp:127.0.0.1:5000; port 0 picks one)")
        })?;
        addr.parse()
            .map_err(|_| format!("{s:?}: HOST must be an IP address (tcp:127.0.0.1:PORT)"))
            .map(Backend::Tcp)
    } else {
        Err(format!(
            "unknown serial backend {s:?}: expected pty, unix:PATH, tcp:HOST:PORT or file:PATH"
        ))
    }
}

/// Wakes the SoC's run loop after an event was sent.
pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// Connects every `--serial` UART; what it prints (pty names, addresses) goes to stderr.
pub fn connect_all(
    soc: &mut AspeedSoc,
    specs: &[SerialSpec],
    events: &Sender<HostEvent>,
    wake: &Wake,
) -> Result<(), String> {
    for (i, spec) in specs.iter().enumerate() {
        if specs[..i].iter().any(|s| s.uart == spec.uart) {
            return Err(format!("--serial: {} is given twice", spec.uart));
        }
        connect(soc, spec, events.clone(), wake.clone())
            .map_err(|e| format!("--serial {}: {e}", spec.uart))?;
    }
    Ok(())
}

fn connect(
    soc: &mut AspeedSoc,
    spec: &SerialSpec,
    events: Sender<HostEvent>,
    wake: Wake,
) -> Result<(), String> {
    // Refuse the console or an unknown name before opening anything.
    soc.set_serial_output(&spec.uart, Box::new(std::io::sink()))
        .map_err(|e| e.0)?;
    let (tx, rx) = crossbeam_channel::bounded::<Vec<u8>>(OUTPUT_CHUNKS);
    let input = Input {
        uart: spec.uart.clone(),
        events,
        wake,
    };
    let name = spec.uart.clone();
    match &spec.backend {
        Backend::File(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            spawn_writer(&name, rx, move |chunk| {
                let mut f = &file;
                f.write_all(chunk)
            });
        }
        Backend::Pty => {
            let (master, path) = open_pty()?;
            note!("serial {name}: {path}");
            let mut reader = File::from(master.try_clone().map_err(|e| e.to_string())?);
            let writer = File::from(master);
            spawn_writer(&name, rx, move |chunk| {
                let mut w = &writer;
                w.write_all(chunk)
            });
            std::thread::Builder::new()
                .name(format!("serial-{name}-in"))
                .spawn(move || input.pump(&mut reader))
                .map_err(|e| e.to_string())?;
        }
        Backend::Unix(path) => {
            if std::fs::symlink_metadata(path)
                .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()))
            {
                // A stale socket from an earlier run.
                let _ = std::fs::remove_file(path);
            }
            let listener =
                UnixListener::bind(path).map_err(|e| format!("{}: {e}", path.display()))?;
            note!("serial {name}: unix socket {}", path.display());
            serve(&name, rx, input, move || {
                listener.accept().map(|(s, _)| Client::Unix(s))
            })?;
        }
        Backend::Tcp(addr) => {
            let listener = TcpListener::bind(addr).map_err(|e| format!("{addr}: {e}"))?;
            let local = listener.local_addr().map_err(|e| e.to_string())?;
            note!("serial {name}: tcp {local}");
            serve(&name, rx, input, move || {
                listener.accept().map(|(s, _)| {
                    let _ = s.set_nodelay(true);
                    Client::Tcp(s)
                })
            })?;
        }
    }
    soc.set_serial_output(&spec.uart, Box::new(ChannelOut::new(&spec.uart, tx)))
        .map_err(|e| e.0)
}

/// Host input for one UART: read on a thread, sent to the SoC.
#[derive(Clone)]
struct Input {
    uart: String,
    events: Sender<HostEvent>,
    wake: Wake,
}

impl Input {
    /// Forwards what `r` reads until it ends or fails (or the SoC is gone).
    fn pump(&self, r: &mut dyn Read) {
        let mut buf = [0u8; 4096];
        loop {
            match r.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    let event = HostEvent::SerialInput {
                        uart: self.uart.clone(),
                        bytes: buf[..n].to_vec(),
                    };
                    if self.events.send(event).is_err() {
                        return;
                    }
                    (self.wake)();
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }
}

/// A connected socket client.
enum Client {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Client {
    fn try_clone(&self) -> std::io::Result<Client> {
        Ok(match self {
            Client::Unix(s) => Client::Unix(s.try_clone()?),
            Client::Tcp(s) => Client::Tcp(s.try_clone()?),
        })
    }

    fn shutdown(&self) {
        let _ = match self {
            Client::Unix(s) => s.shutdown(std::net::Shutdown::Both),
            Client::Tcp(s) => s.shutdown(std::net::Shutdown::Both),
        };
    }
}

impl Read for Client {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Client::Unix(s) => s.read(buf),
            Client::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Client {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Client::Unix(s) => s.write(buf),
            Client::Tcp(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The client of a listening socket: the latest to connect.
type Current = Arc<Mutex<Option<(u64, Client)>>>;

/// Accepts clients on a thread (each replacing the one before), reads each on its own thread
/// and writes the guest's output to whichever is connected.
fn serve(
    name: &str,
    rx: Receiver<Vec<u8>>,
    input: Input,
    accept: impl FnMut() -> std::io::Result<Client> + Send + 'static,
) -> Result<(), String> {
    let current: Current = Arc::new(Mutex::new(None));
    {
        let current = current.clone();
        spawn_writer(name, rx, move |chunk| {
            let mut guard = current.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((_, client)) = guard.as_mut() {
                if client.write_all(chunk).is_err() {
                    // The client went away: the next one gets what follows.
                    *guard = None;
                }
            }
            Ok(())
        });
    }
    let mut accept = accept;
    let thread_name = format!("serial-{name}-accept");
    std::thread::Builder::new()
        .name(thread_name)
        .spawn(move || {
            let mut generation = 0u64;
            loop {
                let client = match accept() {
                    Ok(c) => c,
                    Err(e) => {
                        log::warn!("serial {}: accept: {e}", input.uart);
                        continue;
                    }
                };
                generation += 1;
                let Ok(mut reader) = client.try_clone() else {
                    continue;
                };
                let old = current
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .replace((generation, client));
                if let Some((_, old)) = old {
                    log::info!("serial {}: a new client replaces the old one", input.uart);
                    old.shutdown();
                }
                let input = input.clone();
                let current = current.clone();
                let me = generation;
                let _ = std::thread::Builder::new()
                    .name(format!("serial-{}-in", input.uart))
                    .spawn(move || {
                        input.pump(&mut reader);
                        let mut guard = current.lock().unwrap_or_else(|e| e.into_inner());
                        if guard.as_ref().is_some_and(|(g, _)| *g == me) {
                            *guard = None;
                        }
                    });
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Writes each chunk of guest output on a thread of its own.
fn spawn_writer(
    name: &str,
    rx: Receiver<Vec<u8>>,
    mut write: impl FnMut(&[u8]) -> std::io::Result<()> + Send + 'static,
) {
    let uart = name.to_string();
    let spawned = std::thread::Builder::new()
        .name(format!("serial-{name}-out"))
        .spawn(move || {
            for chunk in rx {
                if let Err(e) = write(&chunk) {
                    log::warn!("serial {uart}: {e}");
                }
            }
        });
    if let Err(e) = spawned {
        log::error!("serial {name}: cannot start the writer: {e}");
    }
}

/// A new pty in raw mode: the master and the slave's path. The slave stays open (leaked) so
/// that the master keeps working while no program has it open.
fn open_pty() -> Result<(OwnedFd, String), String> {
    let mut master: libc::c_int = -1;
    let mut slave: libc::c_int = -1;
    // SAFETY: openpty writes two descriptors; the name, termios and winsize are optional.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(format!("openpty: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: openpty succeeded: both are open descriptors we own.
    let master = unsafe { OwnedFd::from_raw_fd(master) };
    // SAFETY: a zeroed termios is a valid buffer for tcgetattr to fill.
    let mut tio: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: slave is open; tio is a valid termios.
    unsafe {
        if libc::tcgetattr(slave, &mut tio) == 0 {
            libc::cfmakeraw(&mut tio);
            libc::tcsetattr(slave, libc::TCSANOW, &tio);
        }
    }
    let mut name = [0 as libc::c_char; 128];
    // SAFETY: name is a writable buffer of the given length.
    let rc = unsafe { libc::ttyname_r(slave, name.as_mut_ptr(), name.len()) };
    if rc != 0 {
        return Err(format!(
            "ttyname: {}",
            std::io::Error::from_raw_os_error(rc)
        ));
    }
    // SAFETY: ttyname_r wrote a NUL-terminated string.
    let path = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    Ok((master, path))
}

/// The guest's output for a backend: collected as the UART sends it, handed to the writer
/// thread on each flush (once per CPU slice) without blocking.
struct ChannelOut {
    uart: String,
    buf: Vec<u8>,
    tx: Sender<Vec<u8>>,
    dropped: Arc<AtomicU64>,
    /// The last hand-over failed (logged once until one succeeds again).
    dropping: bool,
}

impl ChannelOut {
    fn new(uart: &str, tx: Sender<Vec<u8>>) -> Self {
        Self {
            uart: uart.to_string(),
            buf: Vec::new(),
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            dropping: false,
        }
    }

    fn hand_over(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let chunk = std::mem::take(&mut self.buf);
        match self.tx.try_send(chunk) {
            Ok(()) => self.dropping = false,
            Err(TrySendError::Full(chunk) | TrySendError::Disconnected(chunk)) => {
                let total = self
                    .dropped
                    .fetch_add(chunk.len() as u64, Ordering::Relaxed)
                    + chunk.len() as u64;
                if !self.dropping {
                    log::warn!(
                        "serial {}: the host side does not keep up: output dropped ({total} bytes in all)",
                        self.uart
                    );
                }
                self.dropping = true;
            }
        }
    }
}

impl Write for ChannelOut {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK_BYTES {
            self.hand_over();
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.hand_over();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_backends_parse() {
        let p = |s: &str| parse(s);
        assert_eq!(
            p("vuart1=unix:/tmp/v.sock").unwrap(),
            SerialSpec {
                uart: "vuart1".into(),
                backend: Backend::Unix("/tmp/v.sock".into())
            }
        );
        assert_eq!(p("3=pty").unwrap().uart, "uart3");
        assert_eq!(p("uart13=file:/tmp/x").unwrap().uart, "uart13");
        assert_eq!(
            p("uart1=tcp::5000").unwrap().backend,
            Backend::Tcp("127.0.0.1:5000".parse().unwrap())
        );
        assert_eq!(
            p("uart1=tcp:0.0.0.0:0").unwrap().backend,
            Backend::Tcp("0.0.0.0:0".parse().unwrap())
        );
        assert!(p("uart14=pty")
            .unwrap_err()
            .contains("no UART called \"uart14\""));
        assert!(p("vuart3=pty").unwrap_err().contains("no UART"));
        assert!(p("0=pty").is_err());
        assert!(p("uart1").unwrap_err().contains("expected NAME="));
        assert!(p("uart1=serial")
            .unwrap_err()
            .contains("unknown serial backend"));
        assert!(p("uart1=unix:").unwrap_err().contains("needs a path"));
        assert!(p("uart1=tcp:localhost:x").is_err());
        assert!(p("uart1=tcp:localhost:5000")
            .unwrap_err()
            .contains("IP address"));
    }

    #[test]
    fn a_full_channel_drops_and_counts_without_blocking() {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let mut out = ChannelOut::new("uart1", tx);
        out.write_all(b"one").unwrap();
        out.flush().unwrap();
        out.write_all(b"two!").unwrap();
        out.flush().unwrap();
        out.flush().unwrap();
        assert_eq!(out.dropped.load(Ordering::Relaxed), 4);
        assert!(out.dropping);
        assert_eq!(rx.recv().unwrap(), b"one");
        out.write_all(b"3").unwrap();
        out.flush().unwrap();
        assert!(!out.dropping);
        assert_eq!(rx.recv().unwrap(), b"3");
    }
}
