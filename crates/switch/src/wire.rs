//! Ethernet frames over sockets, as QEMU carries them between emulators.
//!
//! - A stream (Unix or TCP socket, QEMU's `-netdev stream` and the older `-netdev socket`):
//!   each frame follows its length, 4 bytes big-endian.
//! - A datagram socket (UDP, QEMU's `-netdev dgram`): one frame per datagram, nothing added.
//!
//! So an ast-emu NIC or switch port can talk to a QEMU machine as well as to another ast-emu.

use std::io::{self, Read, Write};

/// The shortest frame carried: an Ethernet header (destination, source, EtherType).
pub const MIN_FRAME_LEN: usize = 14;
/// The longest frame carried: the largest IPv4 packet behind an Ethernet header with one VLAN
/// tag (QEMU's stream backend accepts up to 69632 bytes, `NET_BUFSIZE`).
pub const MAX_FRAME_LEN: usize = 14 + 4 + 65535;

/// Writes one frame on a stream: its length (4 bytes, big-endian) then its bytes, in one
/// write so two writers never interleave inside a frame.
pub fn write_frame(out: &mut impl Write, frame: &[u8]) -> io::Result<()> {
    if frame.len() > MAX_FRAME_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a {}-byte frame is too long", frame.len()),
        ));
    }
    let mut buf = Vec::with_capacity(4 + frame.len());
    buf.extend_from_slice(&(frame.len() as u32).to_be_bytes());
    buf.extend_from_slice(frame);
    out.write_all(&buf)
}

/// Why a stream stopped yielding frames.
#[derive(Debug)]
pub enum StreamEnd {
    /// The peer closed the stream between frames.
    Closed,
    /// The peer sent a length no frame can have: the stream is out of step and must be
    /// closed (its data can no longer be told apart).
    BadLength(usize),
    /// Reading failed, or the stream ended inside a frame.
    Io(io::Error),
}

impl std::fmt::Display for StreamEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamEnd::Closed => f.write_str("closed by the peer"),
            StreamEnd::BadLength(n) => write!(
                f,
                "malformed stream: a frame length of {n} bytes (valid: 1..={MAX_FRAME_LEN})"
            ),
            StreamEnd::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Reads length-prefixed frames from a stream.
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
}

impl<R: Read> FrameReader<R> {
    /// Reads from `inner` (a blocking stream).
    pub fn new(inner: R) -> Self {
        FrameReader {
            inner,
            buf: vec![0; MAX_FRAME_LEN],
        }
    }

    /// The next frame. Frames shorter than an Ethernet header are returned too (the caller
    /// counts and drops them); a zero or oversized length ends the stream.
    pub fn next_frame(&mut self) -> Result<&[u8], StreamEnd> {
        let mut len = [0u8; 4];
        match read_full(&mut self.inner, &mut len) {
            Ok(true) => {}
            Ok(false) => return Err(StreamEnd::Closed),
            Err(e) => return Err(StreamEnd::Io(e)),
        }
        let n = u32::from_be_bytes(len) as usize;
        if n == 0 || n > MAX_FRAME_LEN {
            return Err(StreamEnd::BadLength(n));
        }
        match read_full(&mut self.inner, &mut self.buf[..n]) {
            Ok(true) => Ok(&self.buf[..n]),
            Ok(false) => Err(StreamEnd::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the stream ended inside a {n}-byte frame"),
            ))),
            Err(e) => Err(StreamEnd::Io(e)),
        }
    }
}

/// Fills `buf`: `Ok(false)` when the stream ends before the first byte, an error when it ends
/// after it.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the stream ended inside a frame",
                ))
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// The sending half of a stream peer on a thread of its own ([`spawn_stream_writer`]): frames
/// queued here are written in order. The queue is bounded: `try_send` on a full one drops the
/// frame, as a full wire would, so a peer that stops reading slows nobody else.
pub type FrameQueue = crossbeam_channel::Sender<Vec<u8>>;

/// Writes the frames queued on the returned [`FrameQueue`] (at most `queue` waiting) to
/// `writer` on a thread called `thread`, until the queue is dropped or a write fails (logged
/// with `name`).
pub fn spawn_stream_writer<W: Write + Send + 'static>(
    mut writer: W,
    thread: String,
    name: String,
    queue: usize,
) -> io::Result<FrameQueue> {
    let (tx, rx) = crossbeam_channel::bounded::<Vec<u8>>(queue);
    std::thread::Builder::new().name(thread).spawn(move || {
        for frame in rx {
            if let Err(e) = write_frame(&mut writer, &frame) {
                log::info!("{name}: {e}; no more frames sent");
                return;
            }
        }
    })?;
    Ok(tx)
}

/// Reads frames from `stream` on a thread called `thread`, handing each to `frame` until it
/// returns false or the stream ends; then calls `ended` with why it ended (`None`: `frame`
/// asked to stop).
pub fn spawn_stream_reader<R: Read + Send + 'static>(
    stream: R,
    thread: String,
    mut frame: impl FnMut(Vec<u8>) -> bool + Send + 'static,
    ended: impl FnOnce(Option<StreamEnd>) + Send + 'static,
) -> io::Result<()> {
    std::thread::Builder::new().name(thread).spawn(move || {
        let mut reader = FrameReader::new(stream);
        let why = loop {
            match reader.next_frame() {
                Ok(f) => {
                    if !frame(f.to_vec()) {
                        break None;
                    }
                }
                Err(e) => break Some(e),
            }
        };
        ended(why);
    })?;
    Ok(())
}

/// Where a frame socket connects: `unix:PATH`, `tcp:HOST:PORT` or `udp:HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A Unix stream socket.
    Unix(std::path::PathBuf),
    /// A TCP stream (`HOST:PORT`).
    Tcp(String),
    /// UDP datagrams (`HOST:PORT`).
    Udp(String),
}

impl Endpoint {
    /// Parses `unix:PATH`, `tcp:HOST:PORT` or `udp:HOST:PORT`.
    pub fn parse(s: &str) -> Result<Endpoint, String> {
        let bad = || format!("bad address {s:?}: use unix:PATH, tcp:HOST:PORT or udp:HOST:PORT");
        let (kind, rest) = s.split_once(':').ok_or_else(bad)?;
        if rest.is_empty() {
            return Err(bad());
        }
        let host_port = |rest: &str| -> Result<String, String> {
            match rest.rsplit_once(':') {
                Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p != 0) => {
                    Ok(rest.to_string())
                }
                _ => Err(bad()),
            }
        };
        match kind {
            "unix" => Ok(Endpoint::Unix(rest.into())),
            "tcp" => Ok(Endpoint::Tcp(host_port(rest)?)),
            "udp" => Ok(Endpoint::Udp(host_port(rest)?)),
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix:{}", p.display()),
            Endpoint::Tcp(a) => write!(f, "tcp:{a}"),
            Endpoint::Udp(a) => write!(f, "udp:{a}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: usize, fill: u8) -> Vec<u8> {
        vec![fill; n]
    }

    #[test]
    fn frames_round_trip_with_a_big_endian_length() {
        let mut wire = Vec::new();
        write_frame(&mut wire, &frame(60, 1)).unwrap();
        write_frame(&mut wire, &frame(1514, 2)).unwrap();
        assert_eq!(&wire[..4], &[0, 0, 0, 60], "QEMU's stream framing");
        let mut r = FrameReader::new(&wire[..]);
        assert_eq!(r.next_frame().unwrap(), &frame(60, 1)[..]);
        assert_eq!(r.next_frame().unwrap(), &frame(1514, 2)[..]);
        assert!(matches!(r.next_frame(), Err(StreamEnd::Closed)));
    }

    #[test]
    fn a_stream_out_of_step_is_ended_not_misread() {
        let mut wire = vec![0xff, 0xff, 0xff, 0xff];
        wire.extend_from_slice(&[0; 64]);
        let mut r = FrameReader::new(&wire[..]);
        assert!(matches!(
            r.next_frame(),
            Err(StreamEnd::BadLength(0xffff_ffff))
        ));
        let mut r = FrameReader::new(&[0u8, 0, 0, 0][..]);
        assert!(matches!(r.next_frame(), Err(StreamEnd::BadLength(0))));
        // Ended inside a frame, and inside a length.
        let mut r = FrameReader::new(&[0u8, 0, 0, 60, 1, 2, 3][..]);
        assert!(matches!(r.next_frame(), Err(StreamEnd::Io(_))));
        let mut r = FrameReader::new(&[0u8, 0][..]);
        assert!(matches!(r.next_frame(), Err(StreamEnd::Io(_))));
        assert!(write_frame(&mut Vec::new(), &frame(MAX_FRAME_LEN + 1, 0)).is_err());
    }

    #[test]
    fn endpoints_parse() {
        assert_eq!(
            Endpoint::parse("unix:/run/sw.sock").unwrap(),
            Endpoint::Unix("/run/sw.sock".into())
        );
        assert_eq!(
            Endpoint::parse("udp:127.0.0.1:5000").unwrap(),
            Endpoint::Udp("127.0.0.1:5000".into())
        );
        assert_eq!(
            Endpoint::parse("tcp:host:1").unwrap().to_string(),
            "tcp:host:1"
        );
        for bad in [
            "",
            "unix:",
            "udp:1.2.3.4",
            "udp:1.2.3.4:0",
            "tcp::5",
            "pipe:x",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }
}
