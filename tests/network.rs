//! User-mode networking: the guest gets DHCP and reaches the host; the host reaches the guest's
//! web server and SSH server through forwarded ports, with real clients.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{free_port, have, retry_until_ok, shared_image, ssh, Emulator, SSH_OPTIONS};

fn need(tool: &str) -> bool {
    let ok = have(tool);
    if !ok {
        eprintln!("SKIPPED: {tool} is not installed (make deps installs it)");
    }
    ok
}

#[test]
fn dhcp_ping_and_http_through_a_forwarded_port() {
    let Some(image) = shared_image("ast2600-fixture.img.xz") else {
        return;
    };
    if !need("curl") {
        return;
    }
    let port = free_port();
    let nic = format!("user,hostfwd=tcp:127.0.0.1:{port}-:80");
    let mut emu = Emulator::start(&["--flash", image.to_str().unwrap(), "--nic", &nic]);
    emu.expect("lease of 10.0.2.15 obtained");
    emu.expect("FIXTURE-READY");
    emu.send("\r");
    emu.expect("# ");
    emu.send("ping -c 3 10.0.2.2\r");
    emu.expect("3 packets transmitted, 3 packets received");
    emu.expect("# ");
    let out = retry_until_ok(Duration::from_secs(60), || {
        Command::new("curl")
            .args(["-s", "-m", "10", &format!("http://127.0.0.1:{port}/")])
            .output()
            .unwrap()
    });
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        page.contains("served by busybox httpd"),
        "the guest's page: {page:?}"
    );
    emu.send("poweroff -f\r");
    assert_eq!(emu.wait().code(), Some(0));
}

#[test]
fn ssh_and_scp_into_the_sdk_image() {
    let Some(image) = shared_image("ast2600-sdk.img.xz") else {
        return;
    };
    if !need("ssh") || !need("sshpass") || !need("scp") {
        return;
    }
    let port = free_port();
    let nic = format!("user,hostfwd=tcp:127.0.0.1:{port}-:22");
    let mut emu = Emulator::start(&["--flash", image.to_str().unwrap(), "--nic", &nic]);
    emu.expect("login:");
    let out = retry_until_ok(Duration::from_secs(90), || {
        ssh(port, "passw0rd", "uname -a")
    });
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("Linux"),
        "uname -a over ssh: {text:?} {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // 10 MiB in and out with scp: the same bytes come back.
    let dir = std::env::temp_dir().join(format!("ast-emu-scp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("random.bin");
    let back = dir.join("back.bin");
    let data: Vec<u8> = (0..10u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&src, &data).unwrap();
    let scp = |from: &str, to: &str| {
        Command::new("sshpass")
            .args(["-p", "passw0rd", "scp", "-O"])
            .args(SSH_OPTIONS)
            .args(["-P", &port.to_string(), from, to])
            .output()
            .unwrap()
    };
    let t = Instant::now();
    let up = scp(src.to_str().unwrap(), "root@127.0.0.1:/tmp/random.bin");
    assert!(
        up.status.success(),
        "scp in: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    let t_up = t.elapsed();
    let t = Instant::now();
    let down = scp("root@127.0.0.1:/tmp/random.bin", back.to_str().unwrap());
    assert!(
        down.status.success(),
        "scp out: {}",
        String::from_utf8_lossy(&down.stderr)
    );
    let t_down = t.elapsed();
    assert_eq!(
        std::fs::read(&back).unwrap(),
        data,
        "the file came back unchanged"
    );
    eprintln!(
        "scp 10 MiB: in {:.2} s, out {:.2} s",
        t_up.as_secs_f64(),
        t_down.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
    drop(emu);
}

/// A network namespace made for one test and removed when dropped.
struct Netns(String);

impl Netns {
    fn create() -> Option<Self> {
        let name = format!("astemu-test-{}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            eprintln!("SKIPPED: cannot create a network namespace (needs root and iproute2)");
            return None;
        }
        Some(Netns(name))
    }

    fn exec(&self, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn tap_bridges_the_guest_to_a_host_namespace() {
    let Some(image) = shared_image("ast2600-fixture.img.xz") else {
        return;
    };
    if !std::path::Path::new("/dev/net/tun").exists() {
        eprintln!("SKIPPED: /dev/net/tun is missing");
        return;
    }
    let Some(ns) = Netns::create() else { return };
    let mut emu = Emulator::start_wrapped(
        &["ip", "netns", "exec", &ns.0],
        &[
            "--flash",
            image.to_str().unwrap(),
            "--nic",
            "tap,ifname=astemu0",
        ],
    );
    emu.expect("U-Boot 2019.04");
    // The emulator made the TAP device inside the namespace: give the host side an address.
    let up = retry_until_ok(Duration::from_secs(30), || {
        ns.exec(&["ip", "link", "set", "astemu0", "up"])
    });
    assert!(
        up.status.success(),
        "tap device up: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    let addr = ns.exec(&["ip", "addr", "add", "192.168.77.1/24", "dev", "astemu0"]);
    assert!(
        addr.status.success(),
        "{}",
        String::from_utf8_lossy(&addr.stderr)
    );
    emu.expect("FIXTURE-READY");
    emu.send("\r");
    emu.expect("# ");
    // One warm-up ping resolves ARP while the host side settles; then three must all answer.
    emu.send("ip addr add 192.168.77.2/24 dev eth0; ip link set eth0 up; ping -c 1 -W 5 192.168.77.1 >/dev/null; ping -c 3 192.168.77.1\r");
    emu.expect("3 packets transmitted, 3 packets received");
    emu.expect("# ");
    let ping = ns.exec(&["ping", "-c", "3", "-W", "5", "192.168.77.2"]);
    let text = String::from_utf8_lossy(&ping.stdout);
    assert!(
        ping.status.success() && text.contains("3 received"),
        "namespace -> guest: {text}"
    );
    emu.send("poweroff -f\r");
    assert_eq!(emu.wait().code(), Some(0));
}
