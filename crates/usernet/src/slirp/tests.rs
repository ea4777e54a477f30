//! Tests that drive a real libslirp instance with hand-built frames.

use super::*;
use crate::config::{parse_user_nic, HostFwd};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::AtomicUsize;
use std::sync::mpsc::Receiver;
use std::time::Duration;

const GUEST_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
const BROADCAST_MAC: [u8; 6] = [0xff; 6];
const GUEST_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
const GATEWAY_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_ARP: u16 = 0x0806;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const TCP_SYN: u8 = 0x02;
const TCP_ACK: u8 = 0x10;
const TCP_PSH: u8 = 0x08;
const WAIT: Duration = Duration::from_secs(10);

// ---- frame building ----

fn ones_complement_sum(mut sum: u32, bytes: &[u8]) -> u32 {
    for chunk in bytes.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    sum
}

fn fold_checksum(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn ethernet(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(14 + payload.len());
    frame.extend_from_slice(&dst);
    frame.extend_from_slice(&src);
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut packet = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, proto, 0, 0];
    packet[2..4].copy_from_slice(&total.to_be_bytes());
    packet.extend_from_slice(&src.octets());
    packet.extend_from_slice(&dst.octets());
    let checksum = fold_checksum(ones_complement_sum(0, &packet));
    packet[10..12].copy_from_slice(&checksum.to_be_bytes());
    packet.extend_from_slice(payload);
    packet
}

/// A UDP datagram with no checksum (0 is allowed over IPv4).
fn udp(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut datagram = Vec::new();
    datagram.extend_from_slice(&src_port.to_be_bytes());
    datagram.extend_from_slice(&dst_port.to_be_bytes());
    datagram.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    datagram.extend_from_slice(&[0, 0]);
    datagram.extend_from_slice(payload);
    datagram
}

struct Segment<'a> {
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &'a [u8],
}

fn tcp(s: &Segment) -> Vec<u8> {
    let mut segment = Vec::new();
    segment.extend_from_slice(&s.src.1.to_be_bytes());
    segment.extend_from_slice(&s.dst.1.to_be_bytes());
    segment.extend_from_slice(&s.seq.to_be_bytes());
    segment.extend_from_slice(&s.ack.to_be_bytes());
    segment.extend_from_slice(&[0x50, s.flags, 0xff, 0xff, 0, 0, 0, 0]);
    segment.extend_from_slice(s.payload);
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&s.src.0.octets());
    pseudo.extend_from_slice(&s.dst.0.octets());
    pseudo.extend_from_slice(&[0, IPPROTO_TCP]);
    pseudo.extend_from_slice(&(segment.len() as u16).to_be_bytes());
    let checksum = fold_checksum(ones_complement_sum(
        ones_complement_sum(0, &pseudo),
        &segment,
    ));
    segment[16..18].copy_from_slice(&checksum.to_be_bytes());
    ipv4(s.src.0, s.dst.0, IPPROTO_TCP, &segment)
}

fn dhcp_discover(xid: u32) -> Vec<u8> {
    let mut bootp = vec![0u8; 236];
    bootp[0] = 1; // BOOTREQUEST
    bootp[1] = 1; // Ethernet
    bootp[2] = 6; // hardware address length
    bootp[4..8].copy_from_slice(&xid.to_be_bytes());
    bootp[10] = 0x80; // broadcast flag
    bootp[28..34].copy_from_slice(&GUEST_MAC);
    bootp.extend_from_slice(&[0x63, 0x82, 0x53, 0x63]); // magic cookie
    bootp.extend_from_slice(&[53, 1, 1]); // DHCP message type: DISCOVER
    bootp.push(255);
    bootp.resize(236 + 312, 0); // full BOOTP vendor area
    let ip = ipv4(
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::BROADCAST,
        IPPROTO_UDP,
        &udp(68, 67, &bootp),
    );
    ethernet(BROADCAST_MAC, GUEST_MAC, ETHERTYPE_IPV4, &ip)
}

fn arp_request(sender_mac: [u8; 6], sender_ip: Ipv4Addr, target_ip: Ipv4Addr) -> Vec<u8> {
    let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 1];
    arp.extend_from_slice(&sender_mac);
    arp.extend_from_slice(&sender_ip.octets());
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&target_ip.octets());
    ethernet(BROADCAST_MAC, sender_mac, ETHERTYPE_ARP, &arp)
}

// ---- frame parsing ----

fn ethertype(frame: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]))
}

struct Ipv4View<'a> {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    payload: &'a [u8],
}

fn parse_ipv4(frame: &[u8]) -> Option<Ipv4View<'_>> {
    if ethertype(frame)? != ETHERTYPE_IPV4 {
        return None;
    }
    let ip = frame.get(14..)?;
    let header_len = usize::from(ip.first()? & 0xf) * 4;
    let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
    Some(Ipv4View {
        src: Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]),
        dst: Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]),
        proto: ip[9],
        payload: ip.get(header_len..total)?,
    })
}

struct TcpView<'a> {
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    seq: u32,
    flags: u8,
    payload: &'a [u8],
}

fn parse_tcp(frame: &[u8]) -> Option<TcpView<'_>> {
    let ip = parse_ipv4(frame)?;
    if ip.proto != IPPROTO_TCP {
        return None;
    }
    let t = ip.payload;
    let offset = usize::from(t.get(12)? >> 4) * 4;
    Some(TcpView {
        src: (ip.src, u16::from_be_bytes([t[0], t[1]])),
        dst: (ip.dst, u16::from_be_bytes([t[2], t[3]])),
        seq: u32::from_be_bytes([t[4], t[5], t[6], t[7]]),
        flags: t[13],
        payload: t.get(offset..)?,
    })
}

fn parse_udp(frame: &[u8]) -> Option<(Ipv4View<'_>, u16, u16, &[u8])> {
    let ip = parse_ipv4(frame)?;
    if ip.proto != IPPROTO_UDP {
        return None;
    }
    let u = ip.payload;
    let src_port = u16::from_be_bytes([*u.first()?, *u.get(1)?]);
    let dst_port = u16::from_be_bytes([*u.get(2)?, *u.get(3)?]);
    let payload = u.get(8..)?;
    Some((ip, src_port, dst_port, payload))
}

fn dhcp_option(bootp: &[u8], code: u8) -> Option<&[u8]> {
    let mut i = 240;
    while i < bootp.len() {
        match bootp[i] {
            0 => i += 1,
            255 => return None,
            c => {
                let len = usize::from(*bootp.get(i + 1)?);
                let value = bootp.get(i + 2..i + 2 + len)?;
                if c == code {
                    return Some(value);
                }
                i += 2 + len;
            }
        }
    }
    None
}

// ---- harness ----

fn collector() -> (ToGuest, Receiver<Vec<u8>>) {
    let (tx, rx) = mpsc::channel();
    (
        Box::new(move |frame: &[u8]| {
            let _ = tx.send(frame.to_vec());
        }),
        rx,
    )
}

/// Waits (up to [`WAIT`]) for a frame for which `pick` returns something.
fn wait_for<T>(rx: &Receiver<Vec<u8>>, what: &str, mut pick: impl FnMut(&[u8]) -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(frame) => {
                if let Some(found) = pick(&frame) {
                    return found;
                }
            }
            Err(_) => panic!("timed out waiting for {what}"),
        }
    }
}

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends an ARP request from the guest for the gateway and returns slirp's MAC from the reply.
/// Slirp also learns the guest's MAC from it, which it needs to send to 10.0.2.15.
fn arp_gateway(net: &UserNet, rx: &Receiver<Vec<u8>>) -> [u8; 6] {
    net.send(&arp_request(GUEST_MAC, GUEST_IP, GATEWAY_IP));
    wait_for(rx, "the ARP reply for 10.0.2.2", |f| {
        let arp = f.get(14..42)?;
        (ethertype(f)? == ETHERTYPE_ARP
            && arp[6..8] == [0, 2]
            && arp[14..18] == GATEWAY_IP.octets()
            && arp[18..24] == GUEST_MAC
            && arp[24..28] == GUEST_IP.octets()
            && f[0..6] == GUEST_MAC)
            .then(|| arp[8..14].try_into().unwrap())
    })
}

// ---- tests ----

#[test]
fn dhcp_discover_is_answered_with_an_offer_of_10_0_2_15() {
    let (to_guest, rx) = collector();
    let net = UserNet::start(UserNetConfig::default(), to_guest).unwrap();
    net.send(&dhcp_discover(0xdead_beef));
    let (yiaddr, router, dns, hostname) = wait_for(&rx, "a DHCPOFFER", |f| {
        let (ip, src_port, dst_port, bootp) = parse_udp(f)?;
        (src_port == 67
            && dst_port == 68
            && ip.src == GATEWAY_IP
            && bootp.first() == Some(&2)
            && bootp.get(4..8)? == 0xdead_beef_u32.to_be_bytes()
            && dhcp_option(bootp, 53)? == [2])
        .then(|| {
            (
                Ipv4Addr::new(bootp[16], bootp[17], bootp[18], bootp[19]),
                dhcp_option(bootp, 3).map(<[u8]>::to_vec),
                dhcp_option(bootp, 6).map(<[u8]>::to_vec),
                dhcp_option(bootp, 12).map(<[u8]>::to_vec),
            )
        })
    });
    assert_eq!(yiaddr, GUEST_IP);
    assert_eq!(router.as_deref(), Some(&GATEWAY_IP.octets()[..]));
    assert_eq!(dns.as_deref(), Some(&[10, 0, 2, 3][..]));
    assert_eq!(hostname.as_deref(), Some(&b"ast-emu-bmc"[..]));
    let stats = net.stats();
    assert_eq!(stats.frames_from_guest, 1);
    assert!(stats.frames_to_guest >= 1);
}

#[test]
fn arp_for_the_gateway_and_the_dns_address_is_answered() {
    let (to_guest, rx) = collector();
    let net = UserNet::start(UserNetConfig::default(), to_guest).unwrap();
    let slirp_mac = arp_gateway(&net, &rx);
    assert_ne!(slirp_mac, GUEST_MAC);
    assert_ne!(slirp_mac, [0; 6]);
    net.send(&arp_request(
        GUEST_MAC,
        GUEST_IP,
        Ipv4Addr::new(10, 0, 2, 3),
    ));
    wait_for(&rx, "the ARP reply for 10.0.2.3", |f| {
        let arp = f.get(14..42)?;
        (ethertype(f)? == ETHERTYPE_ARP && arp[6..8] == [0, 2] && arp[14..18] == [10, 0, 2, 3])
            .then_some(())
    });
}

#[test]
fn host_forwarded_tcp_port_reaches_the_guest_both_ways() {
    let port = free_tcp_port();
    let config = parse_user_nic(&format!("user,hostfwd=tcp:127.0.0.1:{port}-:22")).unwrap();
    let (to_guest, rx) = collector();
    let net = UserNet::start(config, to_guest).unwrap();
    let slirp_mac = arp_gateway(&net, &rx);

    let mut host = TcpStream::connect(("127.0.0.1", port)).unwrap();
    host.set_read_timeout(Some(WAIT)).unwrap();
    host.write_all(b"hello from the host").unwrap();

    let (peer, syn_seq) = wait_for(&rx, "slirp's SYN towards 10.0.2.15:22", |f| {
        let t = parse_tcp(f)?;
        (f[0..6] == GUEST_MAC
            && t.dst == (GUEST_IP, 22)
            && t.flags & TCP_SYN != 0
            && t.flags & TCP_ACK == 0)
            .then_some((t.src, t.seq))
    });

    // The guest accepts: SYN-ACK.
    let guest_seq: u32 = 1000;
    let syn_ack = tcp(&Segment {
        src: (GUEST_IP, 22),
        dst: peer,
        seq: guest_seq,
        ack: syn_seq.wrapping_add(1),
        flags: TCP_SYN | TCP_ACK,
        payload: &[],
    });
    net.send(&ethernet(slirp_mac, GUEST_MAC, ETHERTYPE_IPV4, &syn_ack));

    let data_seq = wait_for(&rx, "the host's data towards the guest", |f| {
        let t = parse_tcp(f)?;
        (t.dst == (GUEST_IP, 22) && t.payload == b"hello from the host").then_some(t.seq)
    });
    assert_eq!(data_seq, syn_seq.wrapping_add(1));

    let reply = tcp(&Segment {
        src: (GUEST_IP, 22),
        dst: peer,
        seq: guest_seq.wrapping_add(1),
        ack: data_seq.wrapping_add(b"hello from the host".len() as u32),
        flags: TCP_ACK | TCP_PSH,
        payload: b"hello from the guest",
    });
    net.send(&ethernet(slirp_mac, GUEST_MAC, ETHERTYPE_IPV4, &reply));
    let mut got = [0u8; 20];
    host.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hello from the guest");
}

#[test]
fn host_forwarded_udp_port_reaches_the_guest() {
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = parse_user_nic(&format!("user,hostfwd=udp::{port}-10.0.2.15:53")).unwrap();
    let (to_guest, rx) = collector();
    let net = UserNet::start(config, to_guest).unwrap();
    arp_gateway(&net, &rx);
    let host = UdpSocket::bind("127.0.0.1:0").unwrap();
    host.send_to(b"query", ("127.0.0.1", port)).unwrap();
    wait_for(&rx, "the datagram at 10.0.2.15:53", |f| {
        let (ip, _, dst_port, payload) = parse_udp(f)?;
        (ip.dst == GUEST_IP && dst_port == 53 && payload == b"query").then_some(())
    });
}

#[test]
fn guest_connection_to_the_gateway_reaches_host_loopback() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (accepted_tx, accepted_rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = accepted_tx.send(listener.accept().map(|(_, peer)| peer));
    });
    let (to_guest, rx) = collector();
    let net = UserNet::start(UserNetConfig::default(), to_guest).unwrap();
    let slirp_mac = arp_gateway(&net, &rx);
    let syn = tcp(&Segment {
        src: (GUEST_IP, 40000),
        dst: (GATEWAY_IP, port),
        seq: 5000,
        ack: 0,
        flags: TCP_SYN,
        payload: &[],
    });
    net.send(&ethernet(slirp_mac, GUEST_MAC, ETHERTYPE_IPV4, &syn));
    let peer = accepted_rx
        .recv_timeout(WAIT)
        .expect("the host listener was not reached")
        .unwrap();
    assert!(peer.ip().is_loopback());
    wait_for(&rx, "the SYN-ACK from 10.0.2.2", |f| {
        let t = parse_tcp(f)?;
        (t.src == (GATEWAY_IP, port)
            && t.dst == (GUEST_IP, 40000)
            && t.flags & (TCP_SYN | TCP_ACK) == TCP_SYN | TCP_ACK)
            .then_some(())
    });
}

#[test]
fn forwarded_port_already_in_use_is_an_error_not_a_panic() {
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let config = parse_user_nic(&format!("user,hostfwd=tcp::{port}-:22")).unwrap();
    let (to_guest, _rx) = collector();
    let err = UserNet::start(config, to_guest).unwrap_err();
    assert!(err.contains(&port.to_string()), "{err}");
    assert!(err.to_lowercase().contains("in use"), "{err}");
    eprintln!("port in use gives: {err}");

    let busy_udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = busy_udp.local_addr().unwrap().port();
    let config = parse_user_nic(&format!("user,hostfwd=udp::{port}-:53")).unwrap();
    let (to_guest, _rx) = collector();
    let err = UserNet::start(config, to_guest).unwrap_err();
    assert!(err.contains(&port.to_string()), "{err}");
}

#[test]
fn address_that_is_not_local_is_an_error() {
    let config = UserNetConfig {
        hostfwd: vec![HostFwd {
            proto: Proto::Tcp,
            host_addr: Ipv4Addr::new(192, 0, 2, 1), // TEST-NET-1, never ours
            host_port: 2222,
            guest_addr: None,
            guest_port: 22,
        }],
        ..UserNetConfig::default()
    };
    let (to_guest, _rx) = collector();
    let err = UserNet::start(config, to_guest).unwrap_err();
    assert!(err.contains("192.0.2.1"), "{err}");
}

#[test]
fn invalid_config_is_refused_by_start() {
    let config = UserNetConfig {
        dns: Ipv4Addr::new(10, 9, 9, 9),
        ..UserNetConfig::default()
    };
    let (to_guest, _rx) = collector();
    assert!(UserNet::start(config, to_guest)
        .unwrap_err()
        .contains("outside the network"));
}

/// A small deterministic generator for junk frames.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn malformed_frames_are_counted_and_the_network_carries_on() {
    let (to_guest, rx) = collector();
    let net = UserNet::start(UserNetConfig::default(), to_guest).unwrap();
    net.send(&[]);
    net.send(&[0xff; 13]);
    net.send(&vec![0u8; MAX_FRAME_LEN + 1]);
    assert_eq!(net.stats().malformed_from_guest, 3);

    let mut rng = XorShift(0x1234_5678_9abc_def1);
    let mut sent = 0;
    for round in 0..600 {
        let len = 14 + (rng.next() % 200) as usize;
        let mut frame: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        frame[12..14].copy_from_slice(match round % 4 {
            0 => &[0x08, 0x00],
            1 => &[0x08, 0x06],
            2 => &[0x86, 0xdd],
            _ => &[0x12, 0x34],
        });
        if round % 8 == 0 && len > 34 {
            // A plausible IPv4 header with junk lengths, aimed at slirp's own addresses.
            frame[14] = 0x45;
            frame[30..34].copy_from_slice(&GATEWAY_IP.octets());
        }
        net.send(&frame);
        sent += 1;
    }
    // A truncated IPv4 frame whose header claims more than it carries.
    let mut truncated = dhcp_discover(1);
    truncated.truncate(40);
    net.send(&truncated);
    sent += 1;

    // Still alive: ARP is still answered, and every queued frame got to slirp first.
    arp_gateway(&net, &rx);
    let stats = net.stats();
    assert_eq!(stats.malformed_from_guest, 3);
    assert_eq!(stats.frames_from_guest, sent + 1);
    assert!(net.is_running());
}

#[test]
fn a_panicking_to_guest_callback_loses_the_frame_only() {
    let (tx, rx) = mpsc::channel();
    let mut calls = 0;
    let to_guest = Box::new(move |frame: &[u8]| {
        calls += 1;
        if calls == 1 {
            panic!("deliberate test panic in to_guest");
        }
        let _ = tx.send(frame.to_vec());
    });
    let net = UserNet::start(UserNetConfig::default(), to_guest).unwrap();
    net.send(&arp_request(GUEST_MAC, GUEST_IP, GATEWAY_IP));
    net.send(&arp_request(
        GUEST_MAC,
        GUEST_IP,
        Ipv4Addr::new(10, 0, 2, 3),
    ));
    wait_for(&rx, "the second ARP reply", |f| {
        (ethertype(f)? == ETHERTYPE_ARP && f.get(28..32)? == [10, 0, 2, 3]).then_some(())
    });
    assert_eq!(net.stats().callback_panics, 1);
    assert!(net.is_running());
}

#[test]
fn stop_is_prompt_and_later_frames_are_dropped() {
    let (to_guest, _rx) = collector();
    let mut net = UserNet::start(UserNetConfig::default(), to_guest).unwrap();
    assert!(net.is_running());
    let begin = Instant::now();
    net.stop();
    // The eventfd wakes the loop: no need to wait out a poll timeout.
    assert!(begin.elapsed() < Duration::from_millis(MAX_POLL_MS as u64 / 2));
    assert!(!net.is_running());
    net.send(&arp_request(GUEST_MAC, GUEST_IP, GATEWAY_IP));
    assert_eq!(net.stats().dropped_from_guest, 1);
    net.stop();
}

#[test]
fn dropping_closes_the_forwarded_port() {
    let port = free_tcp_port();
    let config = parse_user_nic(&format!("user,hostfwd=tcp::{port}-:22")).unwrap();
    let (to_guest, _rx) = collector();
    let net = UserNet::start(config.clone(), to_guest).unwrap();
    assert!(TcpListener::bind(("127.0.0.1", port)).is_err());
    drop(net);
    TcpListener::bind(("127.0.0.1", port)).expect("the port was not released");
    // And a new network can take it again.
    let (to_guest, _rx) = collector();
    UserNet::start(config, to_guest).unwrap();
}

// ---- the timer callbacks, driven directly ----

unsafe extern "C" fn count_fire(opaque: *mut c_void) {
    (*opaque.cast::<AtomicUsize>()).fetch_add(1, Ordering::SeqCst);
}

#[test]
fn timers_fire_once_when_due_and_can_be_rearmed_and_freed() {
    let (to_guest, _rx) = collector();
    let state = LoopState::new(to_guest, Arc::new(Counters::default()));
    let opaque = (&state as *const LoopState).cast_mut().cast::<c_void>();
    let fired = AtomicUsize::new(0);
    let fired_ptr = (&fired as *const AtomicUsize).cast_mut().cast::<c_void>();
    unsafe {
        let timer = cb_timer_new(Some(count_fire), fired_ptr, opaque);
        assert_eq!(state.next_timer_in_ms(), None, "a new timer is not armed");
        state.run_due_timers();
        assert_eq!(fired.load(Ordering::SeqCst), 0);

        cb_timer_mod(timer, state.now_ms() - 1, opaque);
        assert_eq!(state.next_timer_in_ms(), Some(0));
        state.run_due_timers();
        assert_eq!(fired.load(Ordering::SeqCst), 1);
        state.run_due_timers();
        assert_eq!(fired.load(Ordering::SeqCst), 1, "fires once per arming");

        cb_timer_mod(timer, state.now_ms() + 60_000, opaque);
        let wait = state.next_timer_in_ms().unwrap();
        assert!((59_000..=60_000).contains(&wait), "{wait}");
        state.run_due_timers();
        assert_eq!(fired.load(Ordering::SeqCst), 1, "not due yet");

        cb_timer_free(timer, opaque);
        assert!(state.timers.borrow().is_empty());
        assert_eq!(state.next_timer_in_ms(), None);
    }
}

#[test]
fn poll_flags_translate_both_ways_and_bad_indices_are_ignored() {
    let (to_guest, _rx) = collector();
    let state = LoopState::new(to_guest, Arc::new(Counters::default()));
    let opaque = (&state as *const LoopState).cast_mut().cast::<c_void>();
    unsafe {
        let index = cb_add_poll(7, ffi::SLIRP_POLL_IN | ffi::SLIRP_POLL_PRI, opaque);
        assert_eq!(index, 0);
        assert_eq!(
            state.pollfds.borrow()[0].events,
            libc::POLLIN | libc::POLLPRI
        );
        state.pollfds.borrow_mut()[0].revents = libc::POLLIN | libc::POLLHUP;
        assert_eq!(
            cb_get_revents(0, opaque),
            ffi::SLIRP_POLL_IN | ffi::SLIRP_POLL_HUP
        );
        assert_eq!(cb_get_revents(1, opaque), 0);
        assert_eq!(cb_get_revents(-1, opaque), 0);
    }
}

#[test]
fn clock_is_monotonic_nanoseconds() {
    let (to_guest, _rx) = collector();
    let state = LoopState::new(to_guest, Arc::new(Counters::default()));
    let opaque = (&state as *const LoopState).cast_mut().cast::<c_void>();
    let a = unsafe { cb_clock_get_ns(opaque) };
    let b = unsafe { cb_clock_get_ns(opaque) };
    assert!(a >= 0 && b >= a);
}

#[test]
fn the_handle_can_move_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<UserNet>();
}
