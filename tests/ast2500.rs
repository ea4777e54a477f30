//! The AST2500 (one ARM1176, the VIC): the project's AST2500 image boots to a shell on the
//! ast2500-evb and on romulus-bmc, both found from the image; the core is an ARMv6; the VIC
//! delivers the timer tick and the UART interrupt (bare metal, and Linux's tick); SSH through
//! user networking; the watchdog reboot comes back; the EVB's EEPROM and temperature sensor
//! read; GDB attaches to the ARM1176 and steps; an AST2600 image with an AST2500 machine is
//! refused.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use support::{board_image, free_port, login_to_default_image, retry_until_ok, ssh, Emulator};

/// The project's AST2500 EVB image (firmware-fixtures/build).
fn evb_image() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../firmware-fixtures/ast2500-evb.img.xz")
}

/// The project's AST2600 EVB image.
fn ast2600_image() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../firmware-fixtures/ast2600-evb.img.xz")
}

fn scratch(name: &str, data: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ast-emu-ast2500-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

/// Runs `cmd` in the guest's shell and returns what it printed, between two markers the shell
/// computes (so the echoed command line, however the terminal wraps it, matches neither).
fn shell(emu: &mut Emulator, cmd: &str) -> String {
    emu.send(&format!(
        "echo BEGIN-$((6*6))-OUT; {cmd}; echo; echo END-$((6*7))-OUT\r"
    ));
    let out = emu.expect("END-42-OUT").replace('\r', "");
    let start = out
        .rfind("BEGIN-36-OUT\n")
        .map(|i| i + "BEGIN-36-OUT\n".len())
        .unwrap_or_else(|| panic!("no output marker in {out:?}"));
    out[start..out.len() - "END-42-OUT".len()].to_string()
}

#[test]
fn the_vic_delivers_timer_ticks_and_the_uart_interrupt_to_the_arm1176() {
    let elf = scratch("vic.elf", bench_guests::VIC);
    let mut emu = Emulator::start(&["--machine", "ast2500-evb", "--elf", elf.to_str().unwrap()]);
    emu.expect("ast-emu: board ast2500-evb (--machine)");
    emu.expect("VIC: timer ticks 10, UART interrupts 1");
    emu.expect(bench_guests::END_MARKER);
    assert!(emu.quit().success());
}

#[test]
fn an_ast2600_image_on_an_ast2500_board_is_refused() {
    let image = ast2600_image();
    let image = image.to_str().unwrap();
    support::assert_refused(
        &["--machine", "romulus-bmc", "--flash", image],
        "the image is for an AST2600",
    );
    // And the other way round: the AST2500 image on an AST2600 board.
    let evb = evb_image();
    support::assert_refused(
        &["--machine", "ast2600-evb", "--flash", evb.to_str().unwrap()],
        "the image is for an AST2500",
    );
}

/// The EVB image, found from its device tree: an ARMv6 core, Linux's tick on the Aspeed timer
/// through the VIC, the EEPROM and the LM75 on I2C, SSH through a host forward, and a reboot
/// (Linux's watchdog restart) that comes back to a login.
#[test]
fn the_ast2500_evb_image_boots_to_a_shell_and_serves_ssh() {
    let port = free_port();
    let nic = format!("user,hostfwd=tcp:127.0.0.1:{port}-:22");
    let image = evb_image();
    let mut emu = Emulator::start(&["--flash", image.to_str().unwrap(), "--nic", &nic]);
    emu.expect("ast-emu: board ast2500-evb (found ");
    emu.expect("U-Boot 2023.01");
    login_to_default_image(&mut emu);

    let cpuinfo = shell(&mut emu, "cat /proc/cpuinfo");
    assert!(
        cpuinfo.contains("ARMv6-compatible processor"),
        "an ARMv6 core: {cpuinfo}"
    );
    assert!(cpuinfo.contains("(v6l)"), "{cpuinfo}");

    // The tick: the FTTMR010 clock event on timer 1 (VIC 16) counts in /proc/interrupts.
    let irqs = |emu: &mut Emulator| -> u64 {
        let out = shell(emu, "grep FTTMR010-TIMER1 /proc/interrupts");
        out.lines()
            .find_map(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or_else(|| panic!("no timer line in /proc/interrupts: {out}"))
    };
    let before = irqs(&mut emu);
    shell(&mut emu, "sleep 1");
    let after = irqs(&mut emu);
    assert!(after > before, "the tick counts: {before} then {after}");
    // The console (ttyS4, UART5 on VIC 10) has taken interrupts: the shell's echo.
    let serial = shell(&mut emu, "grep ttyS4 /proc/interrupts");
    let taken: u64 = serial
        .lines()
        .find_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0);
    assert!(taken > 0, "UART5's interrupts: {serial}");
    assert!(
        serial.contains("AVIC  10"),
        "UART5 is VIC source 10: {serial}"
    );

    // The EVB's EEPROM (24C08 at 3-0050, contents from boards/ast2500-evb.toml) and LM75
    // (7-004d, 35.0 C).
    let eeprom = shell(&mut emu, "head -c 26 /sys/bus/i2c/devices/3-0050/eeprom");
    assert!(
        eeprom.contains("ast-emu ast2500-evb EEPROM"),
        "EEPROM: {eeprom}"
    );
    let temp = shell(
        &mut emu,
        "cat /sys/bus/i2c/devices/7-004d/hwmon/hwmon*/temp1_input",
    );
    assert!(temp.lines().any(|l| l.trim() == "35000"), "LM75: {temp}");

    if support::have("sshpass") {
        let out = retry_until_ok(Duration::from_secs(120), || {
            ssh(port, "ast-emu", "uname -m; cat /proc/device-tree/model")
        });
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "ssh: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("armv6l"), "uname -m over SSH: {text}");
        assert!(text.contains("AST2500 EVB"), "the model over SSH: {text}");
    } else {
        eprintln!("SKIPPED the SSH part: sshpass is not installed (make deps installs it)");
    }

    // Linux restarts through the watchdog: the machine comes back to u-boot and a login.
    emu.send("reboot\r");
    emu.expect("reboot: Restarting system");
    emu.expect("U-Boot 2023.01");
    login_to_default_image(&mut emu);
    emu.send("poweroff\r");
    assert_eq!(emu.wait().code(), Some(0));
}

/// Romulus (OpenBMC's CI machine): the project's AST2500 image with Romulus's device tree
/// (firmware-fixtures/board-image) is found from the image and boots to a shell.
#[test]
fn romulus_bmc_is_found_from_its_image_and_boots_to_a_shell() {
    let b = aspeed_soc::board::by_name("romulus-bmc").unwrap();
    let (image, rootfs) = board_image(b);
    assert!(rootfs, "romulus's device tree has rofs/rwfs partitions");
    let mut emu = Emulator::start(&["--flash", image.to_str().unwrap()]);
    emu.expect("ast-emu: board romulus-bmc (found \"ibm,romulus-bmc\"");
    login_to_default_image(&mut emu);
    let model = shell(&mut emu, "tr -d '\\000' < /proc/device-tree/model; echo");
    assert!(model.contains("Romulus BMC"), "{model}");
    assert!(emu.quit().success());
}

/// GDB on the ARM1176: attached at reset, steps, breaks in the bare-metal guest, detaches, and
/// the guest goes on.
#[test]
fn gdb_attaches_and_steps_on_the_arm1176() {
    let gdb = match Command::new("gdb-multiarch").arg("--version").output() {
        Ok(o) if o.status.success() => "gdb-multiarch",
        _ => {
            eprintln!("SKIPPED: gdb-multiarch is not installed (make deps installs it)");
            return;
        }
    };
    let elf = scratch("vic-gdb.elf", bench_guests::VIC);
    let port = free_port();
    let address = format!("tcp:127.0.0.1:{port}");
    let mut emu = Emulator::start(&[
        "--machine",
        "ast2500-evb",
        "--elf",
        elf.to_str().unwrap(),
        "--gdb",
        &address,
        "-S",
    ]);
    emu.expect("waiting for GDB");
    let script = format!(
        "set pagination off\nset confirm off\nset architecture arm\n\
         target remote 127.0.0.1:{port}\n\
         echo ==start==\\n\ninfo registers pc cpsr\n\
         stepi\nstepi\n\
         echo ==stepped==\\n\ninfo registers pc\n\
         info threads\n\
         monitor info cpus\n\
         detach\n"
    );
    let path = scratch("arm1176.gdb", script.as_bytes());
    let out = Command::new(gdb)
        .args(["-nx", "-batch", "-x"])
        .arg(&path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "gdb:\n{text}");
    let pc = |after: &str| -> u32 {
        let tail = &text[text
            .find(after)
            .unwrap_or_else(|| panic!("{after}: {text}"))..];
        let line = tail
            .lines()
            .find(|l| l.starts_with("pc"))
            .unwrap_or_else(|| panic!("no pc after {after}: {text}"));
        let hex = line.split_whitespace().nth(1).unwrap();
        u32::from_str_radix(hex.trim_start_matches("0x"), 16).unwrap()
    };
    let entry = pc("==start==");
    assert!(
        entry >= 0x8000_0000,
        "held at the ELF's entry in DRAM: {text}"
    );
    assert_eq!(pc("==stepped=="), entry + 8, "two instructions on: {text}");
    // One core: one thread.
    assert!(text.contains("* 1"), "{text}");
    assert!(
        !text.contains("Thread 2"),
        "one ARM1176, one thread: {text}"
    );
    // The monitor through GDB names the core.
    assert!(
        text.lines()
            .any(|l| l.contains("CPU0") && l.contains("arm1176")),
        "monitor info cpus: {text}"
    );
    emu.expect("GDB detached");
    emu.expect("VIC: timer ticks 10, UART interrupts 1");
    assert!(emu.quit().success());
}
