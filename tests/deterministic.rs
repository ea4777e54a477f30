//! Deterministic runs (`--deterministic`): the guest's time comes from the instructions it
//! executes, so two boots of the project's image print the same bytes to the login prompt,
//! kernel timestamps included, while two ordinary boots do not.

mod support;

use serde_json::json;
use support::client::{socket_path, Client};
use support::{assert_refused, Emulator};

/// The console of a boot of the built-in image with `args`, up to its first login prompt.
fn console_to_login(args: &'static [&'static str]) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut emu = Emulator::start(args);
        emu.expect("login:");
        let text = emu.transcript();
        let end = text.find("login:").expect("seen") + "login:".len();
        text[..end].to_string()
    })
}

/// The lines of `text` that differ from `other`'s, for the failure message.
fn first_difference(text: &str, other: &str) -> String {
    text.lines()
        .zip(other.lines())
        .find(|(a, b)| a != b)
        .map_or_else(
            || "one console is a prefix of the other".into(),
            |(a, b)| format!("{a:?} vs {b:?}"),
        )
}

#[test]
fn two_deterministic_boots_print_the_same_bytes_and_two_ordinary_ones_do_not() {
    // Both at once: the host's load must not matter.
    let a = console_to_login(&["--deterministic"]);
    let b = console_to_login(&["--deterministic"]);
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    assert!(
        a.contains("Linux version") && a.contains("Run /init as init process"),
        "a whole boot: {a}"
    );
    assert!(
        a == b,
        "deterministic consoles differ ({} and {} bytes): {}",
        a.len(),
        b.len(),
        first_difference(&a, &b)
    );

    // The same comparison can fail: ordinary boots take their time from the host's clock,
    // and at least the kernel's timestamps differ.
    let c = console_to_login(&[]);
    let d = console_to_login(&[]);
    let (c, d) = (c.join().unwrap(), d.join().unwrap());
    assert_ne!(c, d, "two ordinary boots printed the same console");
}

#[test]
fn a_deterministic_run_keeps_the_cores_on_one_thread() {
    assert_refused(
        &["--deterministic", "--threads", "multi"],
        "a deterministic run keeps the cores on one thread",
    );
}

#[test]
fn a_seed_needs_a_deterministic_run() {
    assert_refused(&["--seed", "7"], "--deterministic");
}

/// Logs in, pings the user-mode network's gateway, powers off; returns the whole console.
fn session(args: &[&str], typed: bool) -> String {
    let mut emu = Emulator::start(args);
    if typed {
        support::login_to_default_image(&mut emu);
        // The quotes keep the marker out of the echoed command line.
        emu.send("echo SUM''=$((6*7)); ping -c 2 10.0.2.2\r");
        emu.expect("SUM=42");
        emu.expect("packets received");
        emu.expect("# ");
        emu.send("poweroff -f\r");
    }
    assert_eq!(emu.wait().code(), Some(0), "{}", emu.transcript());
    emu.transcript()
}

#[test]
fn a_recorded_session_replays_to_the_same_console() {
    let record = std::env::temp_dir().join(format!("ast-emu-record-{}.jsonl", std::process::id()));
    let path = record.to_str().unwrap();
    let recorded = session(&["--nic", "user", "--record", path], true);
    assert!(
        recorded.contains("2 packets transmitted, 2 packets received"),
        "{recorded}"
    );
    let log = std::fs::read_to_string(&record).unwrap();
    assert!(
        log.contains("\"console\"") && log.contains("\"frame\""),
        "{log}"
    );
    // Nothing typed this time: the record types it, and the network's frames come from it.
    let replayed = session(&["--nic", "user", "--replay", path], false);
    let _ = std::fs::remove_file(&record);
    assert!(
        recorded == replayed,
        "the replay differs: {}",
        first_difference(&recorded, &replayed)
    );
}

#[test]
fn a_file_that_is_not_a_record_is_refused() {
    let bad = std::env::temp_dir().join(format!("ast-emu-not-a-record-{}", std::process::id()));
    std::fs::write(&bad, "hello\n").unwrap();
    assert_refused(
        &["--replay", bad.to_str().unwrap()],
        "not an ast-emu record",
    );
    let _ = std::fs::remove_file(&bad);
}

/// The built-in image held (`--stopped`) with a control socket at `socket` and `args`; returns
/// once a client is connected.
fn held_with_control(socket: &std::path::Path, args: &[&str]) -> (Emulator, Client) {
    let address = format!("unix:{}", socket.display());
    let mut all = vec!["--control", &address, "--stopped"];
    all.extend_from_slice(args);
    let mut emu = Emulator::start(&all);
    emu.expect(&format!("control socket on {address}"));
    let c = Client::connect(socket);
    (emu, c)
}

/// A console without the emulator's own lines about its control socket and the replay.
fn guest_console(text: &str) -> String {
    text.lines()
        .filter(|l| !l.contains("control socket") && !l.contains("replay:"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn commands_from_the_control_socket_are_recorded_and_replayed() {
    let record =
        std::env::temp_dir().join(format!("ast-emu-record-cmd-{}.jsonl", std::process::id()));
    let path = record.to_str().unwrap();
    let socket = socket_path("record-commands");

    // Recorded: log in on the console; the host sets a sensor and types a command through the
    // socket; the guest reads the sensor.
    let (mut emu, mut c) = held_with_control(&socket, &["--record", path]);
    assert_eq!(c.execute("cont", json!({})), json!({}));
    support::login_to_default_image(&mut emu);
    c.execute(
        "sensor-set",
        json!({"bus": 8, "addr": 0x4d, "celsius": 61.5}),
    );
    c.execute(
        "console-send",
        json!({"data": "echo T''=$(cat /sys/bus/i2c/devices/8-004d/hwmon/hwmon*/temp1_input)\r"}),
    );
    emu.expect("T=61500");
    emu.expect("# ");
    c.execute("console-send", json!({"data": "poweroff -f\r"}));
    assert_eq!(emu.wait().code(), Some(0), "{}", emu.transcript());
    let recorded = guest_console(&emu.transcript());
    let log = std::fs::read_to_string(&record).unwrap();
    assert!(
        log.contains("\"command\":\"sensor-set\"") && log.contains("\"command\":\"console-send\""),
        "{log}"
    );
    assert!(
        !log.contains("\"command\":\"cont\""),
        "cont changes nothing the guest sees: {log}"
    );

    // Replayed: nothing typed and nothing set; a live command that would change the machine is
    // refused while the record plays.
    let _ = std::fs::remove_file(&socket);
    let (mut emu, mut c) = held_with_control(&socket, &["--replay", path]);
    let refused = c.error(
        "sensor-set",
        json!({"bus": 8, "addr": 0x4d, "celsius": 20.0}),
    );
    assert!(
        refused["desc"]
            .as_str()
            .unwrap()
            .contains("a record is being replayed"),
        "{refused}"
    );
    assert_eq!(c.execute("cont", json!({})), json!({}));
    assert_eq!(emu.wait().code(), Some(0), "{}", emu.transcript());
    let replayed = guest_console(&emu.transcript());
    let _ = std::fs::remove_file(&record);
    assert!(replayed.contains("T=61500"), "{replayed}");
    assert!(
        recorded == replayed,
        "the replay differs: {}",
        first_difference(&recorded, &replayed)
    );
}
