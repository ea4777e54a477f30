//! The control socket (`--control`): a boot of the project's image driven entirely through
//! it (milestone events, console-send and CONSOLE events, sensor-set read back in the guest,
//! system-reset and the milestones again, quit with exit code 0), and malformed input that
//! gets errors while the connection and the guest go on.

mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::client::{login, socket_path, Client, BOOT};
use support::Emulator;

/// The built-in image with a control socket at `path`, held (`--stopped`) until a client says
/// `cont`; returns once it listens.
fn start(path: &Path) -> Emulator {
    let address = format!("unix:{}", path.display());
    let mut emu = Emulator::start(&["--control", &address, "--stopped"]);
    emu.expect(&format!("control socket on {address}"));
    emu
}

#[test]
fn a_boot_driven_through_the_control_socket() {
    let path = socket_path("boot");
    let mut emu = start(&path);
    let mut c = Client::connect(&path);
    assert_eq!(c.execute("qmp_capabilities", json!({})), json!({}));
    assert_eq!(
        c.execute("console-watch", json!({"enable": true})),
        json!({})
    );
    let held = c.execute("query-status", json!({}));
    assert_eq!(held["status"], "paused");
    assert_eq!(
        held["milestones"],
        json!([]),
        "held from the start: nothing ran"
    );
    assert_eq!(c.execute("cont", json!({})), json!({}));
    c.wait_event("RESUME", json!({}), BOOT);
    for milestone in [
        "u-boot",
        "starting-kernel",
        "linux-version",
        "ready",
        "login",
    ] {
        let e = c.wait_event("MILESTONE", json!({"name": milestone, "boot": 0}), BOOT);
        assert!(e["timestamp"]["virtual_ns"].as_u64().unwrap() > 0, "{e}");
    }
    let status = c.execute("query-status", json!({}));
    assert_eq!(status["status"], "running");
    assert_eq!(
        status["milestones"].as_array().unwrap().len(),
        5,
        "{status}"
    );

    // Log in over the console, through the socket.
    login(&mut c);

    let set = c.execute(
        "sensor-set",
        json!({"bus": 8, "addr": 0x4d, "celsius": 55.0}),
    );
    assert_eq!(set["celsius"], 55.0);
    assert!(set["sensor"]
        .as_str()
        .unwrap()
        .contains("(i2c bus 8, 0x4d)"));
    let got = c.execute("sensor-get", json!({"bus": 8, "addr": 0x4d}));
    assert_eq!(got["celsius"], 55.0);
    // The quotes keep the marker out of the echoed command line.
    c.execute(
        "console-send",
        json!({"data": "echo T''=$(cat /sys/bus/i2c/devices/8-004d/hwmon/hwmon*/temp1_input)\r"}),
    );
    c.console_expect("T=55000", BOOT);

    // A reset from the socket: RESET, then the milestones of a second boot. Sent while the
    // guest idles at its prompt (it has skipped idle time since the command ran), which is
    // where the run loop takes host requests between interrupts: the reset must wake the cores.
    c.console_expect("# ", BOOT);
    let skips = |c: &mut Client| {
        c.execute("query-stats", json!({}))["idle_skips"]
            .as_u64()
            .unwrap()
    };
    let before = skips(&mut c);
    let deadline = Instant::now() + BOOT;
    while skips(&mut c) < before + 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the guest never idled"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(c.execute("system-reset", json!({})), json!({}));
    c.wait_event(
        "RESET",
        json!({"guest": false, "reason": "host-qmp-system-reset"}),
        BOOT,
    );
    c.wait_event("MILESTONE", json!({"name": "u-boot", "boot": 1}), BOOT);
    c.wait_event("MILESTONE", json!({"name": "login", "boot": 1}), BOOT);
    assert_eq!(c.execute("query-status", json!({}))["resets"], 1);

    assert_eq!(c.execute("quit", json!({})), json!({}));
    c.wait_event("SHUTDOWN", json!({"reason": "host-qmp-quit"}), BOOT);
    assert_eq!(emu.wait().code(), Some(0), "{}", emu.transcript());
    assert!(!path.exists(), "the socket file is removed at exit");
}

/// A small deterministic generator for the random bytes.
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
fn malformed_requests_get_errors_and_the_guest_keeps_running() {
    let path = socket_path("fuzz");
    let mut emu = start(&path);
    let mut c = Client::connect(&path);
    // The console too (for logging in at the end), from before the guest prints anything.
    c.execute("console-watch", json!({}));
    assert_eq!(c.execute("query-status", json!({}))["status"], "paused");
    c.execute("cont", json!({}));

    // Random bytes, in lines: every answer is a JSON error object, then a request works.
    let mut rng = XorShift(0x5eed_1234_abcd_ef01);
    let mut lines = 0;
    for _ in 0..200 {
        let len = (rng.next() % 300) as usize;
        let mut junk: Vec<u8> = (0..len)
            .map(|_| (rng.next() & 0xff) as u8)
            .filter(|&b| b != b'\n')
            .collect();
        if junk.iter().all(|b| b.is_ascii_whitespace()) {
            junk.push(b'x');
        }
        junk.push(b'\n');
        c.send_raw(&junk);
        lines += 1;
    }
    for _ in 0..lines {
        let reply = c.anonymous_reply();
        assert_eq!(reply["error"]["class"], "GenericError", "{reply}");
    }
    assert_eq!(c.execute("query-status", json!({}))["status"], "running");

    // Truncated JSON, deep nesting, a line past the limit.
    let mut bad_line = |bytes: Vec<u8>, needle: &str| {
        c.send_raw(&bytes);
        c.send_raw(b"\n");
        let reply = c.anonymous_reply();
        let desc = reply["error"]["desc"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(desc.contains(needle), "{needle:?} in {reply}");
    };
    bad_line(
        br#"{"execute": "query-status", "argu"#.to_vec(),
        "JSON parse error",
    );
    bad_line([b'['; 5000].to_vec(), "JSON parse error");
    bad_line(
        format!("{}{}", "{\"a\":".repeat(3000), "1").into_bytes(),
        "JSON parse error",
    );
    bad_line(vec![b'x'; 200 * 1024], "longer than");
    bad_line(br#"["execute", "quit"]"#.to_vec(), "JSON object");
    bad_line(
        br#"{"execute": "sensor-set", "arguments": {"bus": 1e999}}"#.to_vec(),
        "JSON parse error",
    );

    // Wrong types and names get errors with the id echoed.
    let e = c.error("no-such-command", json!({}));
    assert_eq!(e["class"], "CommandNotFound");
    let e = c.error(
        "sensor-set",
        json!({"bus": 123456789012345678901234567890.0, "addr": 77, "celsius": 1}),
    );
    assert!(
        e["desc"].as_str().unwrap().contains("must be an integer"),
        "{e}"
    );
    let e = c.error(
        "sensor-set",
        json!({"bus": 8, "addr": 77, "celsius": 1e300}),
    );
    assert!(e["desc"].as_str().unwrap().contains("out of range"), "{e}");
    let e = c.error(
        "sensor-set",
        json!({"bus": 8, "addr": 77, "celsius": "hot"}),
    );
    assert!(
        e["desc"].as_str().unwrap().contains("must be a number"),
        "{e}"
    );
    let long_name = "q".repeat(50_000);
    assert_eq!(c.error(&long_name, json!({}))["class"], "CommandNotFound");
    let e = c.error("console-send", json!({"data": {"nested": [1, 2, 3]}}));
    assert!(
        e["desc"].as_str().unwrap().contains("must be a string"),
        "{e}"
    );
    c.send_raw(b"{\"execute\": \"query-status\", \"id\": {\"any\": [\"thing\"]}}\n");
    let reply = c.reply(json!({"any": ["thing"]}));
    assert_eq!(reply["return"]["status"], "running", "any id is echoed");
    // Unknown members are refused, with the id.
    c.send_raw(b"{\"execute\": \"quit\", \"id\": 7, \"please\": true}\n");
    let reply = c.reply(json!(7));
    assert!(reply["error"]["desc"].as_str().unwrap().contains("please"));

    // A client that goes away in the middle of a request changes nothing.
    {
        let mut gone = Client::connect(&path);
        gone.send_raw(br#"{"execute": "quit", "id": 1"#);
    }
    // Clients up to the limit are served at once; one more is told so.
    let mut others: Vec<Client> = (0..7).map(|_| Client::connect(&path)).collect();
    for o in &mut others {
        assert_eq!(o.execute("query-status", json!({}))["status"], "running");
    }
    let refused = retry_refusal(&path);
    assert!(
        refused["error"]["desc"]
            .as_str()
            .unwrap()
            .contains("too many control clients"),
        "{refused}"
    );
    drop(others);

    // The guest kept running through all of it: it reaches the login prompt, and the
    // emulator did not quit.
    let first = c.execute("query-status", json!({}))["virtual_ns"]
        .as_u64()
        .unwrap();
    c.wait_event("MILESTONE", json!({"name": "login", "boot": 0}), BOOT);
    let later = c.execute("query-status", json!({}))["virtual_ns"]
        .as_u64()
        .unwrap();
    assert!(later > first);

    // The guest's own reboot goes through a watchdog; its poweroff ends the emulator.
    login(&mut c);
    c.execute("console-send", json!({"data": "reboot\r"}));
    c.wait_event("WATCHDOG", json!({"action": "reset"}), BOOT);
    c.wait_event("RESET", json!({"guest": true, "reason": "watchdog"}), BOOT);
    c.wait_event("MILESTONE", json!({"name": "login", "boot": 1}), BOOT);
    login(&mut c);
    c.execute("console-send", json!({"data": "poweroff -f\r"}));
    c.wait_event(
        "SHUTDOWN",
        json!({"guest": true, "reason": "guest-shutdown"}),
        BOOT,
    );
    assert_eq!(emu.wait().code(), Some(0), "{}", emu.transcript());
}

/// Connects one client past the limit and returns what it was told. (A client that just
/// went may still be counted for a moment, so an accepted connection is retried.)
fn retry_refusal(path: &Path) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stream = UnixStream::connect(path).unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let first: Value = serde_json::from_str(&line).unwrap();
        if first.get("error").is_some() {
            return first;
        }
        assert!(
            Instant::now() < deadline,
            "a 9th client was never refused: {first}"
        );
    }
}
