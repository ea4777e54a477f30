//! Network backends for `--nic`: libslirp user-mode networking, a host TAP device, or a
//! socket to a virtual switch or another emulator (QEMU's `-netdev stream`/`-netdev dgram`
//! framing).

use std::net::UdpSocket;
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use aspeed_soc::AspeedSoc;

/// Keeps a backend alive while the SoC runs (the slirp thread, the TAP device).
pub type Network = Box<dyn std::any::Any>;

/// Connects the board's network MAC (MAC1, Linux eth0, on the EVB) to the backend `spec` names:
/// `user[,hostfwd=...]`, `tap,ifname=NAME` or `socket,connect=ADDRESS`; any of them may add
/// `mac=XX:XX:XX:XX:XX:XX`, the MAC's hardware address.
pub fn connect(soc: &mut AspeedSoc, spec: &str) -> Result<Network, String> {
    let (spec, mac) = take_mac(spec)?;
    if let Some(address) = mac {
        soc.set_mac_address(soc.nic_mac(), address)
            .map_err(|e| e.to_string())?;
    }
    let kind = spec.split(',').next().unwrap_or("");
    match kind {
        "user" => connect_user(soc, &spec),
        "tap" => connect_tap(soc, &spec),
        "socket" => connect_socket(soc, &spec),
        other => Err(format!(
            "unknown network type {other:?}: use user[,hostfwd=...], tap,ifname=NAME or socket,connect=unix:PATH"
        )),
    }
}

/// Takes `mac=ADDRESS` out of a `--nic` value: the value without it, and the address.
fn take_mac(spec: &str) -> Result<(String, Option<[u8; 6]>), String> {
    let mut rest = Vec::new();
    let mut mac = None;
    for part in spec.split(',') {
        match part.strip_prefix("mac=") {
            Some(text) => mac = Some(parse_mac(text)?),
            None => rest.push(part),
        }
    }
    Ok((rest.join(","), mac))
}

/// Parses `02:a5:7e:00:00:01`: a unicast address (a group address cannot be a NIC's).
pub fn parse_mac(text: &str) -> Result<[u8; 6], String> {
    let bad = || format!("mac={text}: expected six hex bytes, e.g. 02:a5:7e:00:00:01");
    let bytes: Vec<u8> = text
        .split(':')
        .map(|b| {
            (b.len() == 2)
                .then(|| u8::from_str_radix(b, 16).ok())
                .flatten()
                .ok_or_else(bad)
        })
        .collect::<Result<_, _>>()?;
    let mac: [u8; 6] = bytes.try_into().map_err(|_| bad())?;
    if mac[0] & 1 != 0 {
        return Err(format!("mac={text} is a multicast address, not a NIC's"));
    }
    Ok(mac)
}

/// Frames from a backend thread to the SoC: queued, and the CPU woken to take them.
fn frame_channel(
    soc: &AspeedSoc,
) -> (
    impl Fn(&[u8]) + Send + 'static,
    crossbeam_channel::Receiver<Vec<u8>>,
) {
    let (tx, rx) = crossbeam_channel::bounded::<Vec<u8>>(1024);
    let waker = soc.waker();
    let deliver = move |frame: &[u8]| {
        // A full queue drops the frame, as a full wire would.
        if tx.try_send(frame.to_vec()).is_ok() {
            waker.wake();
        }
    };
    (deliver, rx)
}

fn connect_user(soc: &mut AspeedSoc, spec: &str) -> Result<Network, String> {
    let config = usernet::parse_user_nic(spec)?;
    let (deliver, rx) = frame_channel(soc);
    let net = Arc::new(usernet::UserNet::start(
        config,
        Box::new(move |f: &[u8]| deliver(f)),
    )?);
    let out = net.clone();
    let mac = soc.nic_mac();
    soc.connect_nic(mac, Box::new(move |frame: &[u8]| out.send(frame)), rx)
        .map_err(|e| e.to_string())?;
    Ok(Box::new(net))
}

/// Parses `tap,ifname=NAME`.
fn tap_name(spec: &str) -> Result<String, String> {
    let mut name = None;
    for opt in spec.split(',').skip(1) {
        match opt.split_once('=') {
            Some(("ifname", v)) if !v.is_empty() && v.len() < 16 => name = Some(v.to_string()),
            Some(("ifname", v)) => {
                return Err(format!("bad interface name {v:?} (1 to 15 characters)"))
            }
            _ => return Err(format!("unknown tap option {opt:?}: tap takes ifname=NAME")),
        }
    }
    name.ok_or_else(|| "tap needs ifname=NAME".to_string())
}

fn connect_tap(soc: &mut AspeedSoc, spec: &str) -> Result<Network, String> {
    let name = tap_name(spec)?;
    let iface = tun_tap::Iface::without_packet_info(&name, tun_tap::Mode::Tap).map_err(|e| {
        format!("cannot open TAP device {name}: {e} (needs CAP_NET_ADMIN and /dev/net/tun)")
    })?;
    let iface = Arc::new(iface);
    let (deliver, rx) = frame_channel(soc);
    let reader = iface.clone();
    std::thread::Builder::new()
        .name("ast-emu-tap".into())
        .spawn(move || {
            let mut buf = vec![0u8; 65536];
            loop {
                match reader.recv(&mut buf) {
                    Ok(n) => deliver(&buf[..n]),
                    Err(e) => {
                        log::error!("tap: read failed: {e}");
                        return;
                    }
                }
            }
        })
        .map_err(|e| format!("tap reader thread: {e}"))?;
    let out = iface.clone();
    let to_tap = move |frame: &[u8]| {
        if let Err(e) = out.send(frame) {
            log::warn!("tap: write failed: {e}");
        }
    };
    let mac = soc.nic_mac();
    soc.connect_nic(mac, Box::new(to_tap), rx)
        .map_err(|e| e.to_string())?;
    Ok(Box::new(iface))
}

/// Parses `socket,connect=ADDRESS[,local=HOST:PORT]`.
fn socket_options(spec: &str) -> Result<(switch::Endpoint, Option<String>), String> {
    let mut connect = None;
    let mut local = None;
    for opt in spec.split(',').skip(1) {
        match opt.split_once('=') {
            Some(("connect", v)) => connect = Some(switch::Endpoint::parse(v)?),
            Some(("local", v)) => local = Some(v.to_string()),
            _ => {
                return Err(format!(
                    "unknown socket option {opt:?}: socket takes connect=unix:PATH|tcp:HOST:PORT|udp:HOST:PORT and, for udp, local=HOST:PORT"
                ))
            }
        }
    }
    let connect =
        connect.ok_or("socket needs connect=unix:PATH, tcp:HOST:PORT or udp:HOST:PORT")?;
    if local.is_some() && !matches!(connect, switch::Endpoint::Udp(_)) {
        return Err("local= is for udp: addresses".into());
    }
    Ok((connect, local))
}

/// A frame stream to a switch or another emulator: a reader thread delivering the peer's
/// frames, a writer thread sending the guest's (a bounded queue: a peer that stops reading
/// loses frames, never stalls the guest).
fn stream_backend<S>(soc: &mut AspeedSoc, stream: S, writer: S, peer: String) -> Result<(), String>
where
    S: std::io::Read + std::io::Write + Send + 'static,
{
    let (deliver, rx) = frame_channel(soc);
    let tx = switch::wire::spawn_stream_writer(
        writer,
        "ast-emu-net-tx".into(),
        format!("network: {peer}"),
        1024,
    )
    .map_err(|e| format!("network thread: {e}"))?;
    switch::wire::spawn_stream_reader(
        stream,
        "ast-emu-net-rx".into(),
        move |frame| {
            if frame.len() >= switch::wire::MIN_FRAME_LEN {
                deliver(&frame);
            }
            true
        },
        move |why| {
            if let Some(e) = why {
                log::warn!("network: {peer}: {e}; the NIC's cable is unplugged");
            }
        },
    )
    .map_err(|e| format!("network thread: {e}"))?;
    let to_peer = move |frame: &[u8]| {
        let _ = tx.try_send(frame.to_vec());
    };
    let mac = soc.nic_mac();
    soc.connect_nic(mac, Box::new(to_peer), rx)
        .map_err(|e| e.to_string())
}

fn connect_socket(soc: &mut AspeedSoc, spec: &str) -> Result<Network, String> {
    let (endpoint, local) = socket_options(spec)?;
    let refused = |e: std::io::Error| format!("cannot connect to {endpoint}: {e}");
    match &endpoint {
        switch::Endpoint::Unix(path) => {
            let s = UnixStream::connect(path).map_err(refused)?;
            let w = s.try_clone().map_err(refused)?;
            stream_backend(soc, s, w, endpoint.to_string())?;
        }
        switch::Endpoint::Tcp(addr) => {
            let s = std::net::TcpStream::connect(addr).map_err(refused)?;
            let _ = s.set_nodelay(true);
            let w = s.try_clone().map_err(refused)?;
            stream_backend(soc, s, w, endpoint.to_string())?;
        }
        switch::Endpoint::Udp(peer) => {
            let local = local.unwrap_or_else(|| "0.0.0.0:0".into());
            let socket = UdpSocket::bind(&local).map_err(|e| format!("udp local={local}: {e}"))?;
            socket.connect(peer).map_err(refused)?;
            let socket = Arc::new(socket);
            let (deliver, rx) = frame_channel(soc);
            let reader = socket.clone();
            std::thread::Builder::new()
                .name("ast-emu-net-rx".into())
                .spawn(move || {
                    let mut buf = vec![0u8; switch::wire::MAX_FRAME_LEN + 1];
                    loop {
                        match reader.recv(&mut buf) {
                            Ok(n)
                                if (switch::wire::MIN_FRAME_LEN..=switch::wire::MAX_FRAME_LEN)
                                    .contains(&n) =>
                            {
                                deliver(&buf[..n])
                            }
                            Ok(_) => {}
                            // Nobody at the peer's port yet (ICMP unreachable): keep listening.
                            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
                            Err(e) => {
                                log::error!("network: udp: {e}");
                                return;
                            }
                        }
                    }
                })
                .map_err(|e| format!("network thread: {e}"))?;
            let out = socket.clone();
            let mac = soc.nic_mac();
            soc.connect_nic(
                mac,
                Box::new(move |frame: &[u8]| {
                    let _ = out.send(frame);
                }),
                rx,
            )
            .map_err(|e| e.to_string())?;
        }
    }
    log::info!("network: MAC{} connected to {endpoint}", soc.nic_mac() + 1);
    Ok(Box::new(endpoint))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_and_socket_options_are_checked() {
        let (rest, mac) = take_mac("socket,connect=unix:/x,mac=02:a5:7e:00:01:02").unwrap();
        assert_eq!(rest, "socket,connect=unix:/x");
        assert_eq!(mac, Some([2, 0xa5, 0x7e, 0, 1, 2]));
        assert_eq!(take_mac("user").unwrap(), ("user".to_string(), None));
        for bad in [
            "mac=1:2:3:4:5:6",
            "mac=02:00:00:00:00",
            "mac=03:00:00:00:00:01",
            "mac=zz:00:00:00:00:01",
        ] {
            assert!(take_mac(&format!("user,{bad}")).is_err(), "{bad}");
        }
        let (ep, local) =
            socket_options("socket,connect=udp:127.0.0.1:9,local=127.0.0.1:8").unwrap();
        assert_eq!(ep, switch::Endpoint::Udp("127.0.0.1:9".into()));
        assert_eq!(local.as_deref(), Some("127.0.0.1:8"));
        assert!(socket_options("socket").unwrap_err().contains("connect="));
        assert!(socket_options("socket,connect=unix:/x,local=1.2.3.4:5").is_err());
        assert!(socket_options("socket,listen=unix:/x")
            .unwrap_err()
            .contains("unknown"));
    }

    #[test]
    fn tap_specs_are_checked() {
        assert_eq!(tap_name("tap,ifname=tap0").unwrap(), "tap0");
        assert!(tap_name("tap").unwrap_err().contains("ifname"));
        assert!(tap_name("tap,ifname=").is_err());
        assert!(tap_name("tap,ifname=a-very-long-interface-name").is_err());
        assert!(tap_name("tap,script=no")
            .unwrap_err()
            .contains("unknown tap option"));
    }
}
