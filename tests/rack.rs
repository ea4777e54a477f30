//! `ast-emu rack`: three BMCs of the project's image on one virtual switch. Each gets its own
//! DHCP address; BMC 1 pings BMC 2 and logs into it over SSH through the switch; the host
//! reaches every BMC's SSH forward; killing one emulator leaves the others running and the
//! status shows it stopped; the dashboard, in headless chromium, shows the states and BMC 1's
//! console, runs a typed command, sets a sensor the guest reads, and starts BMC 2 again;
//! SIGTERM stops the rack cleanly.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::client::{guest, login, Client, BOOT};
use support::{have, retry_until_ok, ssh};

const BMCS: usize = 3;

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ast-emu-rack-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A base port with base+1..=base+BMCS free for SSH and base+11.. for HTTPS (`salt` keeps
/// two tests of one run apart).
fn free_base(salt: u16) -> u16 {
    let seed = (std::process::id() as u16).wrapping_add(salt.wrapping_mul(7919));
    (0..200u16)
        .map(|i| 20000 + (seed.wrapping_add(i * 37) % 30000))
        .find(|&b| {
            (1..=BMCS as u16)
                .flat_map(|k| [b + k, b + 10 + k])
                .all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
        })
        .expect("free ports")
}

fn status_file(dir: &Path) -> Value {
    std::fs::read(dir.join("status.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .unwrap_or_default()
}

fn status(dir: &Path) -> Vec<Value> {
    status_file(dir)["bmcs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Whether Debian's chromium, its driver and Selenium are installed.
fn browser_tools() -> bool {
    Path::new("/usr/bin/chromium").exists()
        && Path::new("/usr/bin/chromedriver").exists()
        && Command::new("/usr/bin/python3")
            .args(["-c", "import selenium"])
            .status()
            .is_ok_and(|s| s.success())
}

/// Waits until `pred` holds for the status file.
fn wait_status(dir: &Path, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + BOOT;
    loop {
        let s = status(dir);
        if pred(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "no {what}: {s:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A child process (a rack, a switch, QEMU) stopped with SIGTERM when dropped.
struct Rack(Child);

impl Drop for Rack {
    fn drop(&mut self) {
        // Only a child not yet reaped: its pid is still its own.
        if let Ok(None) = self.0.try_wait() {
            // SAFETY: signals our own child.
            unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
            let _ = self.0.wait();
        }
    }
}

/// `ast-emu rack --count 3 ARGS` with its folder `dir` (its output in rack.out there).
fn start_rack(dir: &Path, salt: u16, args: &[&str]) -> Rack {
    let base = free_base(salt);
    Rack(
        Command::new(env!("CARGO_BIN_EXE_ast-emu"))
            .args(["rack", "--count", &BMCS.to_string(), "--status", "lines"])
            .arg("--dir")
            .arg(dir)
            .args(["--ssh-port", &base.to_string()])
            .args(["--https-port", &(base + 10).to_string()])
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("rack.out")).unwrap())
            .stderr(std::fs::File::create(dir.join("rack.err")).unwrap())
            .spawn()
            .unwrap(),
    )
}

/// Waits for every BMC ready with a DHCP address; their rows.
fn wait_ready(dir: &Path) -> Vec<Value> {
    wait_status(dir, "three ready BMCs with addresses", |s| {
        s.len() == BMCS
            && s.iter()
                .all(|b| b["state"] == "ready" && b["address"].is_string())
    })
}

#[test]
fn three_bmcs_share_a_switch_with_dhcp_ssh_and_forwards() {
    let dir = scratch("cold");
    let mut rack = start_rack(&dir, 0, &["--boot-at-once", "2"]);
    // Two boot at once: BMC 3 waits until one of them has its login prompt.
    let saw_waiting = std::cell::Cell::new(false);
    let up = wait_status(&dir, "three ready BMCs with addresses", |s| {
        let booting = s.iter().filter(|b| b["state"] == "booting").count();
        assert!(booting <= 2, "more than two BMCs boot at once: {s:?}");
        if s.len() == BMCS && s[2]["state"] == "waiting" {
            saw_waiting.set(true);
        }
        s.len() == BMCS
            && s.iter()
                .all(|b| b["state"] == "ready" && b["address"].is_string())
    });
    assert!(saw_waiting.get(), "BMC 3 never waited for its turn");
    let addresses: Vec<&str> = up.iter().map(|b| b["address"].as_str().unwrap()).collect();
    assert_eq!(addresses, ["10.0.2.101", "10.0.2.102", "10.0.2.103"]);

    // BMC 1's shell: the address DHCP gave it, a ping to BMC 2, and BMC 2's own answer over
    // SSH through the switch (its MAC, so it is BMC 2 that answered).
    let mut c = Client::connect(Path::new(up[0]["control"].as_str().unwrap()));
    c.execute("console-watch", json!({}));
    c.execute("console-send", json!({"data": "\r"}));
    login(&mut c);
    let own = guest(
        &mut c,
        "ADDR",
        "ip -4 -o addr show eth0 | grep -o 'inet [0-9.]*'",
    );
    assert_eq!(own, "inet 10.0.2.101", "BMC 1's DHCP address");
    let ping = guest(
        &mut c,
        "PING",
        "ping -c 2 -W 5 10.0.2.102 | grep -c 'bytes from'",
    );
    assert_eq!(ping, "2", "BMC 1 pings BMC 2");
    let remote = guest(
        &mut c,
        "REMOTE",
        "DROPBEAR_PASSWORD=ast-emu dbclient -y -y root@10.0.2.102 cat /sys/class/net/eth0/address 2>/dev/null",
    );
    assert_eq!(
        remote,
        up[1]["mac"].as_str().unwrap(),
        "SSH from BMC 1 reached BMC 2"
    );

    // The host reaches each BMC's SSH forward, and each answer is that BMC's.
    if have("sshpass") && have("ssh") {
        for b in &up {
            let port = b["ssh_port"].as_u64().unwrap() as u16;
            let out = retry_until_ok(Duration::from_secs(120), || {
                ssh(port, "ast-emu", "cat /sys/class/net/eth0/address")
            });
            assert!(out.status.success(), "ssh to port {port}: {out:?}");
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim(),
                b["mac"].as_str().unwrap()
            );
        }
    } else {
        eprintln!("skipping the host SSH checks: ssh or sshpass is missing");
    }

    // One emulator dies: the status says so, the others run on and still talk.
    let pid = up[1]["pid"].as_u64().unwrap() as i32;
    // SAFETY: kills the rack's second emulator, a process of this test's making.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let after = wait_status(&dir, "BMC 2 stopped", |s| {
        s.len() == BMCS && s[1]["state"] == "stopped"
    });
    assert_eq!(after[0]["state"], "ready");
    assert_eq!(after[2]["state"], "ready");
    let ping = guest(
        &mut c,
        "PING3",
        "ping -c 1 -W 5 10.0.2.103 | grep -c 'bytes from'",
    );
    assert_eq!(ping, "1", "BMC 1 still pings BMC 3");
    drop(c);

    // The dashboard in a real browser (tests/rack_dashboard.py): the states, BMC 1's console
    // with a command typed on the page, a sensor and a GPIO input set from the page and read by the guest,
    // BMC 2 started again from its button.
    let url = status_file(&dir)["dashboard"].as_str().unwrap().to_string();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.contains("?token="),
        "{url}"
    );
    if browser_tools() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/rack_dashboard.py");
        let out = Command::new("/usr/bin/python3")
            .arg(script)
            .arg(&url)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the dashboard in chromium:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("dashboard: ok"));
        wait_status(&dir, "BMC 2 started from the page", |s| {
            s.len() == BMCS && s[1]["state"] != "stopped"
        });
        // Without the token the dashboard answers nothing.
        let bare = url.split('?').next().unwrap().to_string() + "api/bmcs";
        let code = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &bare])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&code.stdout), "403");
    } else {
        eprintln!(
            "skipping the browser checks: /usr/bin/chromium, /usr/bin/chromedriver or python3-selenium is missing (make deps installs them)"
        );
    }

    // SIGTERM: every BMC stops cleanly, then the rack.
    // SAFETY: signals our own child.
    unsafe { libc::kill(rack.0.id() as i32, libc::SIGTERM) };
    let code = rack.0.wait().unwrap();
    assert!(code.success(), "the rack exited with {code}");
    let end = status(&dir);
    assert!(end.iter().all(|b| b["state"] == "stopped"), "{end:?}");
    assert_eq!(end[0]["exit"], "exit 0", "BMC 1 quit cleanly");
    assert_eq!(end[2]["exit"], "exit 0", "BMC 3 quit cleanly");
    let out = std::fs::read_to_string(dir.join("rack.out")).unwrap();
    assert!(out.contains("bmc2 stopped (signal 9)"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The built-in image's console line that gives a clone its own identity (docs/rack.md).
const AFTER_RESTORE: &str = "killall udhcpc; ip link set eth0 down; ip link set eth0 address {mac}; ip link set eth0 up; hostname {name}; (udhcpc -i eth0 -f -S -s /etc/udhcpc/default.script -x hostname:{name} </dev/null >/dev/null 2>&1 &)";

#[test]
fn bmcs_restored_from_one_snapshot_take_their_own_identity() {
    let dir = scratch("snapshot");
    // One machine booted, logged in, saved at its shell prompt.
    let snap = dir.join("warm.snap");
    {
        let sock = dir.join("source.control");
        let address = format!("unix:{}", sock.display());
        let mut emu = support::Emulator::start(&["--control", &address]);
        emu.expect(&format!("control socket on {address}"));
        let mut c = Client::connect(&sock);
        c.execute("console-watch", json!({}));
        login(&mut c);
        c.execute("snapshot-save", json!({"path": snap.to_str().unwrap()}));
        c.execute("quit", json!({}));
        assert_eq!(emu.wait().code(), Some(0));
    }
    let rack = start_rack(
        &dir,
        1,
        &[
            "--snapshot",
            snap.to_str().unwrap(),
            "--after-restore",
            AFTER_RESTORE,
            "--dashboard",
            "off",
        ],
    );
    let up = wait_ready(&dir);
    let addresses: Vec<&str> = up.iter().map(|b| b["address"].as_str().unwrap()).collect();
    assert_eq!(addresses, ["10.0.2.101", "10.0.2.102", "10.0.2.103"]);
    // Each clone has its own name and MAC, and they reach each other.
    let mut c = Client::connect(Path::new(up[2]["control"].as_str().unwrap()));
    c.execute("console-watch", json!({}));
    c.execute("console-send", json!({"data": "\r"}));
    c.console_expect("# ", BOOT);
    assert_eq!(guest(&mut c, "NAME", "hostname"), "bmc3");
    assert_eq!(
        guest(&mut c, "MAC", "cat /sys/class/net/eth0/address"),
        up[2]["mac"].as_str().unwrap()
    );
    let ping = guest(
        &mut c,
        "PING",
        "ping -c 2 -W 5 10.0.2.101 | grep -c 'bytes from'",
    );
    assert_eq!(ping, "2", "BMC 3 pings BMC 1");
    drop(c);

    // The rack killed outright: its emulators are told to quit (SIGTERM), and do, cleanly.
    let mut rack = rack;
    rack.0.kill().unwrap();
    rack.0.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    for b in &up {
        let pid = b["pid"].as_u64().unwrap();
        // Gone, or a zombie its new parent has not reaped yet.
        let running = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
                !st.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
        };
        while running() {
            assert!(
                Instant::now() < deadline,
                "{} (pid {pid}) outlived its rack",
                b["name"]
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(dir.join(format!("{}.log", b["name"].as_str().unwrap())))
            .unwrap();
        assert!(log.contains("SIGTERM; quitting"), "{}: {log}", b["name"]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `ast-emu switch` on its own, with a QEMU machine and an ast-emu plugged in: QEMU's
/// `-netdev stream` framing is the switch's, so both get DHCP from the uplink and reach each
/// other.
#[test]
fn qemu_and_ast_emu_share_a_standalone_switch() {
    if !have("qemu-system-arm") {
        eprintln!("skipping: qemu-system-arm is missing (make deps installs it)");
        return;
    }
    let dir = scratch("switch");
    let sock = dir.join("switch.sock");
    let mut switch = Rack(
        Command::new(env!("CARGO_BIN_EXE_ast-emu"))
            .args(["switch", "--uplink", "user", "--listen"])
            .arg(format!("unix:{}", sock.display()))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("switch.out")).unwrap())
            .stderr(std::fs::File::create(dir.join("switch.err")).unwrap())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sock.exists() {
        assert!(Instant::now() < deadline, "the switch never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    // QEMU boots the project's image (decompressed) on the same switch.
    let img = dir.join("flash.img");
    let xz =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../firmware-fixtures/ast2600-evb.img.xz");
    let raw = Command::new("xz").arg("-dc").arg(&xz).output().unwrap();
    std::fs::write(&img, raw.stdout).unwrap();
    let qemu_log = dir.join("qemu.out");
    let _qemu = Rack(
        Command::new("qemu-system-arm")
            .args(["-M", "ast2600-evb", "-nographic", "-drive"])
            .arg(format!("file={},if=mtd,format=raw", img.display()))
            .arg("-netdev")
            .arg(format!(
                "stream,id=n0,server=off,addr.type=unix,addr.path={}",
                sock.display()
            ))
            .args([
                "-net",
                "nic,model=ftgmac100,netdev=n0,macaddr=02:00:00:00:00:51",
            ])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&qemu_log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let control = dir.join("emu.control");
    let address = format!("unix:{}", control.display());
    let nic = format!(
        "socket,connect=unix:{},mac=02:00:00:00:00:52",
        sock.display()
    );
    let mut emu = support::Emulator::start(&["--control", &address, "--nic", &nic]);
    emu.expect(&format!("control socket on {address}"));
    let mut c = Client::connect(&control);
    c.execute("console-watch", json!({}));
    login(&mut c);
    let deadline = Instant::now() + BOOT;
    while !std::fs::read_to_string(&qemu_log).is_ok_and(|t| t.contains("login:")) {
        assert!(Instant::now() < deadline, "QEMU never booted");
        std::thread::sleep(Duration::from_millis(200));
    }
    // slirp's DHCP gives .15 and .16 in request order: QEMU has the one this guest has not.
    let own = guest(
        &mut c,
        "OWN",
        "ip -4 -o addr show eth0 | grep -o '10.0.2.1[56]'",
    );
    let other = if own == "10.0.2.15" {
        "10.0.2.16"
    } else {
        "10.0.2.15"
    };
    let cmd = format!(
        "for i in $(seq 60); do ping -c 1 -W 2 {other} >/dev/null && break; done; ping -c 3 -W 5 {other} | grep -c 'bytes from'"
    );
    assert_eq!(guest(&mut c, "PING", &cmd), "3", "ast-emu pings QEMU");
    c.execute("quit", json!({}));
    assert_eq!(emu.wait().code(), Some(0));
    // SAFETY: signals our own child.
    unsafe { libc::kill(switch.0.id() as i32, libc::SIGINT) };
    assert!(switch.0.wait().unwrap().success());
    let report = std::fs::read_to_string(dir.join("switch.out")).unwrap();
    assert!(report.contains("02:00:00:00:00:51"), "QEMU's MAC: {report}");
    assert!(!sock.exists(), "the switch removes its socket");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_rack_is_refused_with_a_clear_message_before_anything_starts() {
    let dir = scratch("bad");
    let cases: [(&str, &str); 4] = [
        ("count = 2\nsize = 3\n", "unknown field `size`"),
        ("count = 2\nnetwork = \"10.0.0.0/16\"\n", "a /24 network"),
        ("[[bmc]]\nname = \"a b\"\n", "is not a host name"),
        (
            "count = 2\nflash = \"missing.mtd\"\n",
            "missing.mtd: no such file",
        ),
    ];
    for (i, (text, needle)) in cases.iter().enumerate() {
        let file = dir.join(format!("rack{i}.toml"));
        std::fs::write(&file, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_ast-emu"))
            .arg("rack")
            .arg(&file)
            .arg("--dir")
            .arg(dir.join(format!("run{i}")))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {err}");
        assert!(err.contains(needle), "{text}: {err}");
        assert!(
            !dir.join(format!("run{i}/switch.sock")).exists(),
            "{text}: a switch started"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
