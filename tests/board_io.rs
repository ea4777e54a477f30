//! Board I/O on the project's image, driven through the control socket as a test harness
//! drives a BMC: GPIO inputs the guest reads (by device-tree line name and by number), a GPIO
//! output the guest drives reported as an event, a power-button edge that reaches the guest
//! as a gpio-keys input event, SGPIO inputs, ADC voltages read back as `in_voltageN_raw`, and
//! the RTC set from the host (`hwclock -r`) and from the guest (`hwclock -w`, `RTC_SET`).

mod support;

use serde_json::{json, Value};
use support::client::{guest, login, socket_path, Client, BOOT};
use support::Emulator;

/// The sysfs GPIO number of line `line` of the chip whose label is `label`.
fn sysfs_gpio(c: &mut Client, label: &str, line: u32, marker: &str) -> u32 {
    let base = guest(
        c,
        marker,
        &format!(
            "for g in /sys/class/gpio/gpiochip*; do [ \"$(cat $g/label)\" = {label} ] && cat $g/base; done"
        ),
    );
    base.parse::<u32>()
        .unwrap_or_else(|_| panic!("no gpiochip labelled {label}: {base:?}"))
        + line
}

#[test]
fn gpio_adc_rtc_driven_from_the_control_socket() {
    let path = socket_path("board-io");
    let address = format!("unix:{}", path.display());
    let mut emu = Emulator::start(&["--control", &address]);
    emu.expect(&format!("control socket on {address}"));
    let mut c = Client::connect(&path);
    c.execute("console-watch", json!({}));
    login(&mut c);

    // A GPIO input by its device-tree name (gpio-line-names: M3 is "presence-psu0").
    let got = c.execute("gpio-get", json!({"name": "presence-psu0"}));
    assert_eq!(
        (
            got["controller"].clone(),
            got["line"].clone(),
            got["pin"].clone()
        ),
        (json!(0), json!(99), json!("M3")),
        "{got}"
    );
    let m3 = sysfs_gpio(&mut c, "1e780000.gpio", 99, "B1");
    guest(&mut c, "X1", &format!("echo {m3} > /sys/class/gpio/export"));
    for value in [1, 0, 1] {
        c.execute("gpio-set", json!({"name": "presence-psu0", "value": value}));
        let read = guest(
            &mut c,
            &format!("V{value}"),
            &format!("cat /sys/class/gpio/gpio{m3}/value"),
        );
        assert_eq!(
            read,
            value.to_string(),
            "the guest reads what the host drives"
        );
    }

    // An output the guest drives ("led-identify", M1) comes back as GPIO_OUTPUT.
    let m1 = sysfs_gpio(&mut c, "1e780000.gpio", 97, "B2");
    c.execute(
        "console-send",
        json!({"data": format!("echo {m1} > /sys/class/gpio/export; echo out > /sys/class/gpio/gpio{m1}/direction; echo 1 > /sys/class/gpio/gpio{m1}/value\r")}),
    );
    let e = c.wait_event(
        "GPIO_OUTPUT",
        json!({"controller": 0, "line": 97, "value": 1}),
        BOOT,
    );
    assert_eq!(e["data"]["name"], "led-identify", "{e}");
    let got = c.execute("gpio-get", json!({"controller": 0, "line": 97}));
    assert_eq!(
        (got["direction"].clone(), got["value"].clone()),
        (json!("out"), json!(1)),
        "{got}"
    );

    // The power button (gpio-keys on P0, active low, pulled up by the board): pressing it is
    // a falling edge whose interrupt produces EV_KEY KEY_POWER 1 on /dev/input/event0. The
    // shell opens the device itself (fd 5) before the press, so the event is buffered for the
    // background reader however late it is scheduled.
    c.execute(
        "console-send",
        json!({"data": "rm -f /tmp/ev; exec 5</dev/input/event0; (dd bs=16 count=1 <&5 2>/dev/null | od -An -tx1 > /tmp/ev.part && mv /tmp/ev.part /tmp/ev) &\r"}),
    );
    guest(&mut c, "W1", "echo waiting");
    c.execute("gpio-set", json!({"name": "P0", "value": 0}));
    let ev = guest(
        &mut c,
        "K1",
        "while [ ! -s /tmp/ev ]; do sleep 1; done; cat /tmp/ev",
    );
    // struct input_event on 32-bit ARM: 8 bytes of time, type 1 (EV_KEY), code 116, value 1.
    assert!(
        ev.ends_with("01 00 74 00 01 00 00 00"),
        "a KEY_POWER press: {ev:?}"
    );
    c.execute("gpio-set", json!({"name": "P0", "value": 1}));
    guest(&mut c, "X3", "exec 5<&-; echo closed");

    // An SGPIO serial input (slot 2's input is line 4 of sgpiom0).
    let s4 = sysfs_gpio(&mut c, "1e780500.sgpiom", 4, "B3");
    guest(&mut c, "X2", &format!("echo {s4} > /sys/class/gpio/export"));
    c.execute("sgpio-set", json!({"master": 0, "line": 4, "value": 1}));
    assert_eq!(
        guest(&mut c, "S1", &format!("cat /sys/class/gpio/gpio{s4}/value")),
        "1"
    );

    // ADC: 2000 mV on engine 1 channel 5 at the 2.5 V reference reads 2000 * 1024 / 2500.
    let set = c.execute(
        "adc-set",
        json!({"engine": 1, "channel": 5, "millivolts": 2000}),
    );
    assert_eq!(set["millivolts"], 2000, "{set}");
    let raw = guest(
        &mut c,
        "A1",
        "for d in /sys/bus/iio/devices/iio:device*; do case $(readlink -f $d) in *1e6e9100*) cat $d/in_voltage5_raw;; esac; done",
    );
    assert_eq!(raw, "819", "in_voltage5_raw of adc1");
    c.execute(
        "adc-set",
        json!({"engine": 0, "channel": 0, "millivolts": 625}),
    );
    let raw = guest(
        &mut c,
        "A2",
        "for d in /sys/bus/iio/devices/iio:device*; do case $(readlink -f $d) in *1e6e9000*) cat $d/in_voltage0_raw;; esac; done",
    );
    assert_eq!(raw, "256", "in_voltage0_raw of adc0");

    // RTC from the host: hwclock -r follows rtc-set (2023-11-14 22:13:20 UTC).
    let set = c.execute("rtc-set", json!({"time": 1_700_000_000}));
    assert_eq!(set["utc"], "2023-11-14 22:13:20", "{set}");
    let read = guest(&mut c, "R1", "hwclock -r -u");
    assert!(
        read.contains("Nov 14 22:13:") && read.contains("2023"),
        "hwclock -r: {read:?}"
    );
    // And from the guest: hwclock -w is reported, and rtc-get reads it.
    c.execute(
        "console-send",
        json!({"data": "date -u -s '2030-01-02 03:04:05' >/dev/null && hwclock -w -u\r"}),
    );
    let e = c.wait_event("RTC_SET", json!({}), BOOT);
    let t = e["data"]["time"].as_i64().unwrap_or(0);
    assert!(
        (1_893_553_445..1_893_553_445 + 10).contains(&t),
        "the guest's hwclock -w time: {e}"
    );
    let now: Value = c.execute("rtc-get", json!({}));
    assert!(
        now["utc"].as_str().unwrap_or("").starts_with("2030-01-02"),
        "{now}"
    );

    assert_eq!(c.execute("quit", json!({})), json!({}));
    assert_eq!(emu.wait().code(), Some(0), "{}", emu.transcript());
}

/// Boots the built-in image and returns 16 bytes of the SCU's random number generator as the
/// guest reads them (`/dev/hwrng`) and the fingerprint of a host key made the way dropbear
/// makes its own.
fn fresh_randomness(test: &str) -> (String, String) {
    let path = socket_path(test);
    let address = format!("unix:{}", path.display());
    let mut emu = Emulator::start(&["--control", &address]);
    emu.expect(&format!("control socket on {address}"));
    let mut c = Client::connect(&path);
    c.execute("console-watch", json!({}));
    login(&mut c);
    let hwrng = guest(&mut c, "H1", "od -An -tx1 -N16 /dev/hwrng | tr -d ' '");
    let key = guest(
        &mut c,
        "F1",
        "dropbearkey -t ed25519 -f /tmp/hostkey 2>/dev/null | grep -i fingerprint",
    );
    assert_eq!(c.execute("quit", json!({})), json!({}));
    assert_eq!(emu.wait().code(), Some(0), "{}", emu.transcript());
    (hwrng, key)
}

#[test]
fn two_fresh_boots_make_different_ssh_host_keys() {
    let (rng1, key1) = fresh_randomness("rng-1");
    let (rng2, key2) = fresh_randomness("rng-2");
    assert_eq!(rng1.len(), 32, "16 bytes from /dev/hwrng: {rng1:?}");
    assert_ne!(
        rng1, rng2,
        "the SCU's generator gives each boot its own numbers"
    );
    assert!(
        key1.contains("ssh-ed25519") || key1.contains("SHA256"),
        "{key1:?}"
    );
    assert_ne!(key1, key2, "two BMCs, two host keys");
}

/// The kernel's crypto manager tests every algorithm it registers when it registers it: the
/// HACE's 14 hash and HMAC drivers must all report `selftest: passed` (a wrong digest fails
/// the test and the algorithm reads `unknown`; an engine that never completes hangs the boot).
#[test]
fn hace_hashes_pass_the_kernels_self_tests() {
    let path = socket_path("hace");
    let address = format!("unix:{}", path.display());
    let mut emu = Emulator::start(&["--control", &address]);
    emu.expect(&format!("control socket on {address}"));
    let mut c = Client::connect(&path);
    c.execute("console-watch", json!({}));
    login(&mut c);
    let bound = guest(&mut c, "D1", "ls /sys/bus/platform/drivers/aspeed_crypto");
    assert!(
        bound.contains("1e6d0000.crypto"),
        "the driver binds: {bound:?}"
    );
    // One line per aspeed driver: "aspeed-sha256 passed".
    let tests = guest(
        &mut c,
        "T1",
        "awk '/^driver/ {d=$3} /^selftest/ && d ~ /^aspeed-/ {printf \"%s %s,\", d, $3}' /proc/crypto",
    );
    let results: Vec<&str> = tests.split(',').filter(|s| !s.is_empty()).collect();
    for name in [
        "sha1",
        "sha224",
        "sha256",
        "sha384",
        "sha512",
        "sha512_224",
        "sha512_256",
    ] {
        for driver in [format!("aspeed-{name}"), format!("aspeed-hmac-{name}")] {
            assert!(
                results.contains(&format!("{driver} passed").as_str()),
                "{driver} passes its self-test: {results:?}"
            );
        }
    }
    assert_eq!(results.len(), 14, "{results:?}");
    let failures = guest(&mut c, "F1", "dmesg | grep -c 'alg: .*failed'");
    assert_eq!(failures, "0", "no self-test failure in dmesg");
    assert_eq!(c.execute("quit", json!({})), json!({}));
    assert_eq!(emu.wait().code(), Some(0), "{}", emu.transcript());
}

/// The host side of the LPC: an IPMI request over KCS answered by a program on the guest's
/// `/dev/ipmi-kcs3` (the reply comes back to the control socket), the clear errors of a
/// channel the guest does not serve, and POST codes written to port 80 read by the guest from
/// `/dev/aspeed-lpc-snoop0`.
#[test]
fn kcs_requests_and_post_codes_reach_the_guest() {
    let path = socket_path("lpc");
    let address = format!("unix:{}", path.display());
    let mut emu = Emulator::start(&["--control", &address]);
    emu.expect(&format!("control socket on {address}"));
    let mut c = Client::connect(&path);
    c.execute("console-watch", json!({}));
    login(&mut c);

    // A responder as an IPMI daemon would be: it keeps the device open, reads each request
    // (one read is one message) and writes one reply (one write), here Get Device ID's.
    c.execute(
        "console-send",
        json!({"data": "printf '\\034\\001\\000\\042\\002\\001' > /tmp/resp; (exec 4<>/dev/ipmi-kcs3; while r=$(dd bs=1000 count=1 <&4 2>/dev/null | od -An -tx1 | tr -d ' \\n'); [ -n \"$r\" ]; do echo KCS''REQ=$r; dd if=/tmp/resp bs=1000 count=1 >&4 2>/dev/null; done) &\r"}),
    );
    guest(&mut c, "W1", "echo started");
    // Get Device ID: NetFn App (0x06 << 2 = 0x18), command 0x01.
    let reply = c.execute("kcs-request", json!({"channel": 3, "data": [0x18, 0x01]}));
    assert_eq!(
        reply,
        json!({"channel": 3, "reply": [0x1C, 0x01, 0x00, 0x22, 0x02, 0x01]}),
        "the guest's reply"
    );
    c.console_expect("KCSREQ=1801", BOOT);
    let e = c.wait_event("KCS_REPLY", json!({"channel": 3}), BOOT);
    assert_eq!(
        e["data"]["reply"],
        json!([0x1C, 0x01, 0x00, 0x22, 0x02, 0x01])
    );
    // A second request on the same open device: a longer one (Get Sensor Reading 0x2d, 7).
    let reply = c.execute(
        "kcs-request",
        json!({"channel": 3, "data": [0x10, 0x2D, 0x07, 0xAA, 0x55]}),
    );
    assert_eq!(reply["reply"][0], 0x1C, "{reply}");
    c.console_expect("KCSREQ=102d07aa55", BOOT);

    // KCS1 is not in the device tree: refused at once. KCS2 is, but nobody has it open: its
    // request times out in virtual time.
    let err = c.error("kcs-request", json!({"channel": 1, "data": [0x18, 0x01]}));
    assert!(
        err["desc"]
            .as_str()
            .unwrap_or("")
            .contains("not enabled by the guest"),
        "{err}"
    );
    let err = c.error(
        "kcs-request",
        json!({"channel": 2, "data": [0x18, 0x01], "timeout_ms": 300}),
    );
    assert!(
        err["desc"]
            .as_str()
            .unwrap_or("")
            .contains("did not answer in time"),
        "{err}"
    );
    let err = c.error("kcs-request", json!({"channel": 3, "data": [300]}));
    assert!(
        err["desc"]
            .as_str()
            .unwrap_or("")
            .contains("array of bytes"),
        "{err}"
    );

    // POST codes: the guest reads four bytes from the snoop device as the host writes them.
    c.execute(
        "console-send",
        json!({"data": "rm -f /tmp/post; (dd if=/dev/aspeed-lpc-snoop0 bs=1 count=4 2>/dev/null | od -An -tx1 > /tmp/post.part && mv /tmp/post.part /tmp/post) &\r"}),
    );
    guest(&mut c, "W2", "echo waiting");
    let queued = c.execute("snoop-write", json!({"data": [0x12, 0x34, 0xAB, 0xEF]}));
    assert_eq!(queued, json!({"port": 0x80, "queued": 4}));
    let post = guest(
        &mut c,
        "P1",
        "while [ ! -s /tmp/post ]; do sleep 1; done; cat /tmp/post",
    );
    assert_eq!(post, "12 34 ab ef", "every POST code, in order");
    let err = c.error("snoop-write", json!({"port": 0x81, "data": [1]}));
    assert!(
        err["desc"]
            .as_str()
            .unwrap_or("")
            .contains("no snoop channel captures port 0x81"),
        "{err}"
    );

    assert_eq!(c.execute("quit", json!({})), json!({}));
    assert_eq!(emu.wait().code(), Some(0), "{}", emu.transcript());
}
