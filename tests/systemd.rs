//! The systemd userland on the eMMC (`firmware-fixtures/systemd/build` makes the image from
//! Debian bookworm armhf packages; it is cached outside the tree): the project's flash boots it
//! (`setenv bootargs ... root=/dev/mmcblk0 rootwait rw; boot` at the u-boot prompt), systemd reaches multi-user
//! (`systemctl is-system-running`: running, or degraded only by the units docs/storage.md
//! explains), SSH logs in through a forwarded port, HTTPS serves the page through a forwarded
//! 443, and `reboot` comes back with a file written before it still on the eMMC.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use support::client::{guest, socket_path, Client, BOOT};
use support::{free_port, have, retry_until_ok, ssh, Emulator};

/// Units that may fail in the emulator, each explained in docs/storage.md.
const EXPLAINED_FAILURES: &[&str] = &[];

/// Where the build puts the image ($AST_EMU_SYSTEMD_IMAGE overrides).
fn image() -> Option<PathBuf> {
    let p = std::env::var_os("AST_EMU_SYSTEMD_IMAGE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/ast-emu-systemd/systemd-emmc.img"));
    if p.exists() {
        return Some(p);
    }
    let msg = format!(
        "no systemd eMMC image at {}: build it with firmware-fixtures/systemd/build (make test does)",
        p.display()
    );
    assert!(std::env::var_os("CI").is_none(), "{msg}");
    eprintln!("skipped: {msg}");
    None
}

/// Stops u-boot's countdown and boots the eMMC's root file system.
fn boot_emmc(c: &mut Client) {
    c.console_expect("Hit any key", BOOT);
    c.execute("console-send", json!({"data": "\r"}));
    c.console_expect("=> ", BOOT);
    c.execute(
        "console-send",
        json!({"data": "setenv bootargs console=ttyS4,115200n8 root=/dev/mmcblk0 rootwait rw; boot\r"}),
    );
}

fn login(c: &mut Client) {
    c.console_expect("ast-emu-systemd login:", BOOT);
    c.execute("console-send", json!({"data": "root\r"}));
    c.console_expect("Password:", BOOT);
    c.execute("console-send", json!({"data": "ast-emu\r"}));
    c.console_expect("root@ast-emu-systemd:~#", BOOT);
}

#[test]
fn systemd_on_the_emmc_serves_ssh_and_https_and_survives_a_reboot() {
    let Some(img) = image() else { return };
    assert!(
        have("sshpass") && have("curl"),
        "make deps installs sshpass and curl"
    );
    let (ssh_port, https_port) = (free_port(), free_port());
    let nic = format!(
        "user,hostfwd=tcp:127.0.0.1:{ssh_port}-:22,hostfwd=tcp:127.0.0.1:{https_port}-:443"
    );
    let path = socket_path("systemd");
    let address = format!("unix:{}", path.display());
    let img = img.display().to_string();
    let mut emu = Emulator::start(&[
        "--control",
        &address,
        "--stopped",
        "--emmc",
        &img,
        "--nic",
        &nic,
        // The countdown in real time, so a key stops it.
        "--skip-busy-waits=console",
    ]);
    emu.expect(&format!("control socket on {address}"));
    let mut c = Client::connect(&path);
    c.execute("console-watch", json!({}));
    c.execute("cont", json!({}));
    boot_emmc(&mut c);
    c.console_expect("systemd", BOOT);
    login(&mut c);

    let state = guest(&mut c, "S1", "systemctl is-system-running --wait");
    let failed = guest(
        &mut c,
        "F1",
        "systemctl --failed --plain --no-legend | cut -d' ' -f1 | tr '\\n' ' '",
    );
    let unexplained: Vec<&str> = failed
        .split_whitespace()
        .filter(|u| !EXPLAINED_FAILURES.contains(u))
        .collect();
    assert!(
        (state == "running" || state == "degraded") && unexplained.is_empty(),
        "multi-user: {state}; failed units not explained in docs/storage.md: {unexplained:?}"
    );
    assert_eq!(
        guest(&mut c, "T1", "systemctl is-active multi-user.target"),
        "active"
    );

    let out = retry_until_ok(Duration::from_secs(120), || {
        ssh(
            ssh_port,
            "ast-emu",
            "cat /etc/hostname; systemctl is-active ssh",
        )
    });
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ast-emu-systemd\nactive\n",
        "ssh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = retry_until_ok(Duration::from_secs(60), || {
        Command::new("curl")
            .args(["-sk", "--max-time", "20"])
            .arg(format!("https://127.0.0.1:{https_port}/"))
            .output()
            .unwrap()
    });
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ast-emu systemd BMC"),
        "the page over HTTPS: {out:?}"
    );

    // Data written before a reboot is on the eMMC after it (the overlay lives as long as the
    // emulator: no --persist needed, and the cached image stays as built).
    guest(
        &mut c,
        "W1",
        "echo kept-across-reboot > /root/note; sync; echo ok",
    );
    c.execute("console-send", json!({"data": "reboot\r"}));
    c.wait_event("RESET", json!({"guest": true}), BOOT);
    boot_emmc(&mut c);
    login(&mut c);
    assert_eq!(guest(&mut c, "N1", "cat /root/note"), "kept-across-reboot");

    assert_eq!(c.execute("quit", json!({})), json!({}));
    assert_eq!(emu.wait().code(), Some(0));
}
