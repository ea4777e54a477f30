//! Linux on every reference image: a shell, the kernel's view of the SoC, time, and poweroff.

mod support;

use std::time::Instant;

use support::{shared_image, Emulator};

/// Boots `image` to a root shell; `login` says whether it asks for root/passw0rd.
fn boot_to_shell(image: &str, login: bool) -> Option<Emulator> {
    let image = shared_image(image)?;
    let mut emu = Emulator::start(&["--flash", image.to_str().unwrap()]);
    if login {
        emu.expect("login:");
        emu.send("root\r");
        emu.expect("Password:");
        emu.send("passw0rd\r");
    } else {
        emu.expect("FIXTURE-READY");
        emu.send("\r");
    }
    emu.expect("# ");
    Some(emu)
}

/// Runs `cmd` in the guest shell and returns its output. The end marker is spelled with a
/// quote in the command (`@@DO''NE@@`), so only the shell's output contains it as
/// `@@DONE@@`: the command line may be echoed twice (by the tty, then by the shell's line
/// editor, when it is typed while the shell is still busy), and the output starts after the
/// last echo.
fn shell(emu: &mut Emulator, cmd: &str) -> String {
    const ECHOED: &str = "@@DO''NE@@";
    emu.send(&format!("{cmd}; echo {ECHOED}\r"));
    let out = emu.expect("@@DONE@@");
    emu.expect("# ");
    let out = out.trim_end_matches("@@DONE@@");
    let out = out.rsplit_once(ECHOED).map_or(out, |(_, after)| after);
    out.replace('\r', "")
}

fn arch_timer_count(emu: &mut Emulator) -> u64 {
    // The line is "NN:   COUNT GIC-0  29 Level  arch_timer": the count follows "NN:".
    let line = shell(emu, "grep ' 29 Level' /proc/interrupts");
    let fields: Vec<&str> = line.split_whitespace().collect();
    let idx = fields
        .iter()
        .position(|f| f.ends_with(':'))
        .expect("an interrupt line");
    fields[idx + 1].parse().expect("a count")
}

fn check_linux(mut emu: Emulator, poweroff: &str) {
    let release = shell(&mut emu, "uname -r");
    assert!(release.contains("6.1.192"), "uname -r: {release:?}");
    let mtd = shell(&mut emu, "cat /proc/mtd");
    for part in [
        "\"bmc\"",
        "\"u-boot\"",
        "\"u-boot-env\"",
        "\"kernel\"",
        "\"rofs\"",
        "\"rwfs\"",
    ] {
        assert!(mtd.contains(part), "/proc/mtd lists {part}: {mtd}");
    }
    let lines: u64 = shell(&mut emu, "grep -c . /proc/interrupts")
        .trim()
        .lines()
        .last()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(lines > 5, "/proc/interrupts has lines");
    let before = arch_timer_count(&mut emu);
    shell(&mut emu, "sleep 1");
    let after = arch_timer_count(&mut emu);
    assert!(
        after > before,
        "the arch timer interrupt count grows: {before} -> {after}"
    );

    // `sleep 2` takes two seconds of guest time.
    let wall = Instant::now();
    let out = shell(
        &mut emu,
        "a=$(date +%s); sleep 2; b=$(date +%s); echo elapsed=$((b-a))",
    );
    let wall = wall.elapsed();
    let elapsed: u64 = out
        .split("elapsed=")
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        (2..=3).contains(&elapsed),
        "sleep 2 took {elapsed} guest seconds"
    );
    eprintln!(
        "sleep 2: {elapsed} guest seconds in {:.2} s of host time",
        wall.as_secs_f64()
    );

    let bad = shell(&mut emu, "dmesg | grep -cE 'Oops|BUG:|Kernel panic'");
    assert_eq!(
        bad.trim().lines().last().unwrap().trim(),
        "0",
        "dmesg is clean"
    );

    emu.send(&format!("{poweroff}\r"));
    let status = emu.wait();
    assert_eq!(
        status.code(),
        Some(0),
        "poweroff ends the emulator with exit code 0"
    );
}

#[test]
fn sdk_image_boots_to_a_login_shell() {
    if let Some(emu) = boot_to_shell("ast2600-sdk.img.xz", true) {
        check_linux(emu, "poweroff");
    }
}

#[test]
fn mainline_image_boots_to_a_login_shell() {
    if let Some(emu) = boot_to_shell("ast2600-mainline.img.xz", true) {
        check_linux(emu, "poweroff");
    }
}

#[test]
fn fixture_image_boots_to_a_shell() {
    if let Some(emu) = boot_to_shell("ast2600-fixture.img.xz", false) {
        check_linux(emu, "poweroff -f");
    }
}

#[test]
fn mainline_fixture_image_boots_to_a_shell() {
    if let Some(emu) = boot_to_shell("ast2600-mainline-fixture.img.xz", false) {
        check_linux(emu, "poweroff -f");
    }
}

#[test]
fn the_kernel_reads_the_flash_through_the_spi_controller() {
    let Some(path) = shared_image("ast2600-fixture.img.xz") else {
        return;
    };
    let head = support::image_head(&path, 0xe0000);
    let want = sha256_hex(&head);
    let mut emu = boot_to_shell("ast2600-fixture.img.xz", false).unwrap();
    let got = shell(&mut emu, "sha256sum /dev/mtd1");
    assert!(
        got.contains(&want),
        "u-boot partition read in the guest ({got}) equals the file ({want})"
    );
    emu.send("poweroff -f\r");
    assert_eq!(emu.wait().code(), Some(0));
}

fn sha256_hex(data: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn long_output_is_complete_and_reboot_boots_again() {
    let Some(mut emu) = boot_to_shell("ast2600-fixture.img.xz", false) else {
        return;
    };
    // 3000 lines through the interrupt-driven console: none may be lost.
    let out = shell(
        &mut emu,
        "i=1; while [ $i -le 3000 ]; do echo line$i; i=$((i+1)); done",
    );
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("line")).collect();
    assert_eq!(lines.len(), 3000, "every line arrived");
    for (n, l) in lines.iter().enumerate() {
        assert_eq!(*l, format!("line{}", n + 1));
    }
    // `reboot` goes through the watchdog: the SoC resets and the flash boots again.
    emu.send("reboot -f\r");
    emu.expect("Restarting system");
    emu.expect("U-Boot 2019.04");
    emu.expect("FIXTURE-READY");
    emu.send("\r");
    emu.expect("# ");
    emu.send("poweroff -f\r");
    assert_eq!(emu.wait().code(), Some(0));
}
