//! Network backends for `--nic`: libslirp user-mode networking, or a host TAP device.

use std::sync::Arc;

use aspeed_soc::AspeedSoc;

/// Keeps a backend alive while the SoC runs (the slirp thread, the TAP device).
pub type Network = Box<dyn std::any::Any>;

/// Connects the board's network MAC (MAC1, Linux eth0, on the EVB) to the backend `spec` names:
/// `user[,hostfwd=...]` or `tap,ifname=NAME`.
pub fn connect(soc: &mut AspeedSoc, spec: &str) -> Result<Network, String> {
    let kind = spec.split(',').next().unwrap_or("");
    match kind {
        "user" => connect_user(soc, spec),
        "tap" => connect_tap(soc, spec),
        other => Err(format!(
            "unknown network type {other:?}: use user[,hostfwd=...] or tap,ifname=NAME"
        )),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
