//! The switch end to end: emulators' sockets plugged in, frames forwarded between them.

use std::io::Write;
use std::net::UdpSocket;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use super::*;
use crate::wire::{write_frame, FrameReader};

const A: [u8; 6] = [2, 0, 0, 0, 0, 0xa];
const B: [u8; 6] = [2, 0, 0, 0, 0, 0xb];
const BROADCAST: [u8; 6] = [0xff; 6];

fn frame(dst: [u8; 6], src: [u8; 6], tag: u8) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x88, 0xb5, tag]);
    f.resize(60, tag);
    f
}

fn socket_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("ast-emu-switch-{}-{name}.sock", std::process::id()))
}

/// A switch listening on a Unix socket of this test's own: the switch and the socket's path.
fn unix_switch(name: &str) -> (Switch, std::path::PathBuf) {
    let path = socket_path(name);
    let sw = Switch::start(SwitchConfig {
        listen: vec![Endpoint::Unix(path.clone())],
        ..SwitchConfig::default()
    })
    .unwrap();
    (sw, path)
}

/// A stream client: what an emulator's `--nic socket,connect=unix:PATH` is.
struct Client {
    tx: UnixStream,
    rx: FrameReader<UnixStream>,
}

impl Client {
    fn connect(path: &std::path::Path) -> Client {
        let tx = UnixStream::connect(path).unwrap();
        let rx = tx.try_clone().unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Client {
            tx,
            rx: FrameReader::new(rx),
        }
    }

    fn send(&mut self, f: &[u8]) {
        write_frame(&mut self.tx, f).unwrap();
    }

    fn recv(&mut self) -> Vec<u8> {
        self.rx.next_frame().map(|f| f.to_vec()).unwrap()
    }

    /// Nothing arrives within a short while.
    fn quiet(&mut self) -> bool {
        let s = self.rx_socket();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let quiet = self.rx.next_frame().is_err();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        quiet
    }

    fn rx_socket(&self) -> UnixStream {
        self.tx.try_clone().unwrap()
    }
}

/// Waits until the switch has exactly `n` ports.
fn wait_ports(sw: &Switch, n: usize) {
    let end = Instant::now() + Duration::from_secs(5);
    while sw.ports().len() != n {
        assert!(Instant::now() < end, "not {n} ports: {:?}", sw.ports());
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn frames_between_stream_ports_are_flooded_then_switched() {
    let (sw, path) = unix_switch("stream");
    let mut a = Client::connect(&path);
    let mut b = Client::connect(&path);
    let mut c = Client::connect(&path);
    wait_ports(&sw, 3);
    // A broadcasts: B and C hear it. B answers A: only A hears it.
    a.send(&frame(BROADCAST, A, 1));
    assert_eq!(b.recv(), frame(BROADCAST, A, 1));
    assert_eq!(c.recv(), frame(BROADCAST, A, 1));
    b.send(&frame(A, B, 2));
    assert_eq!(a.recv(), frame(A, B, 2));
    assert!(c.quiet(), "a frame for A reached C");
    // A to B, now learned, and a runt is dropped without closing the port.
    a.send(&[1, 2, 3]);
    a.send(&frame(B, A, 3));
    assert_eq!(b.recv(), frame(B, A, 3));
    assert!(c.quiet());
    let ports = sw.ports();
    assert!(ports.iter().any(|p| p.macs == vec![A]), "{ports:?}");
    // C leaves; the others go on.
    drop(c);
    wait_ports(&sw, 2);
    b.send(&frame(A, B, 4));
    assert_eq!(a.recv(), frame(A, B, 4));
    drop(sw);
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_malformed_stream_closes_only_its_own_port() {
    let (sw, path) = unix_switch("malformed");
    let mut a = Client::connect(&path);
    let mut b = Client::connect(&path);
    wait_ports(&sw, 2);
    let mut bad = UnixStream::connect(&path).unwrap();
    wait_ports(&sw, 3);
    bad.write_all(&[0xff, 0xff, 0xff, 0xff, 0, 0]).unwrap();
    wait_ports(&sw, 2);
    a.send(&frame(BROADCAST, A, 5));
    assert_eq!(b.recv(), frame(BROADCAST, A, 5));
    drop(sw);
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_live_socket_is_not_taken_over() {
    let (_sw, path) = unix_switch("live");
    let err = Switch::start(SwitchConfig {
        listen: vec![Endpoint::Unix(path.clone())],
        ..SwitchConfig::default()
    })
    .err()
    .unwrap();
    assert!(err.contains("another switch"), "{err}");
    let _ = std::fs::remove_file(path);
}

#[test]
fn udp_peers_are_ports_as_qemu_dgram_netdevs_are() {
    let sw = Switch::start(SwitchConfig {
        listen: vec![Endpoint::Udp("127.0.0.1:0".into())],
        ..SwitchConfig::default()
    })
    .unwrap();
    let Endpoint::Udp(addr) = &sw.listening()[0] else {
        panic!()
    };
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    for s in [&a, &b] {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    }
    // B makes itself known; A's broadcast then reaches it, one frame per datagram.
    b.send_to(&frame(BROADCAST, B, 6), addr).unwrap();
    wait_ports(&sw, 1);
    a.send_to(&frame(BROADCAST, A, 7), addr).unwrap();
    let mut buf = [0u8; 2048];
    let n = b.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], &frame(BROADCAST, A, 7)[..]);
    a.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    assert!(a.recv(&mut buf).is_err(), "echoed to its sender");
}

#[test]
fn two_switches_joined_over_udp_carry_frames_between_their_ports() {
    // Switch 1 listens on UDP; switch 2 has it as a peer (another machine's switch, here on
    // loopback). A port on each side talks to the other.
    let p1 = socket_path("span1");
    let p2 = socket_path("span2");
    let one = Switch::start(SwitchConfig {
        listen: vec![
            Endpoint::Unix(p1.clone()),
            Endpoint::Udp("127.0.0.1:0".into()),
        ],
        ..SwitchConfig::default()
    })
    .unwrap();
    let Endpoint::Udp(one_udp) = one.listening()[1].clone() else {
        panic!()
    };
    let two = Switch::start(SwitchConfig {
        listen: vec![
            Endpoint::Unix(p2.clone()),
            Endpoint::Udp("127.0.0.1:0".into()),
        ],
        udp_peers: vec![one_udp],
        ..SwitchConfig::default()
    })
    .unwrap();
    let mut a = Client::connect(&p1);
    let mut b = Client::connect(&p2);
    wait_ports(&one, 1);
    wait_ports(&two, 2);
    // B broadcasts first: switch 1 learns switch 2 as a peer from it.
    b.send(&frame(BROADCAST, B, 8));
    assert_eq!(a.recv(), frame(BROADCAST, B, 8));
    a.send(&frame(B, A, 9));
    assert_eq!(b.recv(), frame(B, A, 9));
    assert!(
        one.ports()
            .iter()
            .any(|p| p.name.starts_with("udp:") && p.macs == vec![B]),
        "{:?}",
        one.ports()
    );
    assert!(Switch::start(SwitchConfig {
        udp_peers: vec!["127.0.0.1:9".into()],
        ..SwitchConfig::default()
    })
    .err()
    .unwrap()
    .contains("UDP address"));
    drop((one, two));
    let _ = std::fs::remove_file(p1);
    let _ = std::fs::remove_file(p2);
}

/// An ARP request from `mac` at `from` for `to`.
fn arp_request(mac: [u8; 6], from: [u8; 4], to: [u8; 4]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&BROADCAST);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&from);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&to);
    f
}

#[test]
fn a_tap_port_joins_the_host_to_the_switch() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || !std::path::Path::new("/dev/net/tun").exists() {
        eprintln!("SKIPPED: a TAP device needs root and /dev/net/tun");
        return;
    }
    let name = format!("astsw{}", std::process::id() % 100_000);
    let path = socket_path("tap");
    let sw = Switch::start(SwitchConfig {
        listen: vec![Endpoint::Unix(path.clone())],
        tap: Some(name.clone()),
        ..SwitchConfig::default()
    })
    .unwrap();
    // The host's side of the TAP gets an address of a network nothing else uses.
    let ip = |args: &[&str]| {
        let out = std::process::Command::new("ip")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "ip {args:?}: {out:?}");
    };
    ip(&["addr", "add", "10.213.7.1/24", "dev", &name]);
    ip(&["link", "set", &name, "up"]);
    let mut a = Client::connect(&path);
    wait_ports(&sw, 2);
    // The host's kernel answers an ARP request sent into the switch.
    a.send(&arp_request(A, [10, 213, 7, 2], [10, 213, 7, 1]));
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(
            Instant::now() < end,
            "no ARP reply from the host through the TAP"
        );
        let f = a.recv();
        // To A, ARP, a reply, for 10.213.7.1.
        if f[..6] == A && f[12..14] == [0x08, 0x06] && f[20..22] == [0, 2] {
            assert_eq!(f[28..32], [10, 213, 7, 1], "{f:02x?}");
            break;
        }
    }
    drop(sw);
}
