//! Both reference u-boots on the emulated ast2600-evb: banners, flash, the prompt, autoboot.

mod support;

use support::{image_head, shared_image, Emulator};

/// `md.l 20000000 4` prints the flash's first 4 words: they must be the image's bytes.
fn expected_md_line(image: &std::path::Path) -> String {
    let head = image_head(image, 16);
    let words: Vec<String> = head
        .chunks(4)
        .map(|c| format!("{:08x}", u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
        .collect();
    format!("20000000: {}", words.join(" "))
}

/// The console here is a pipe, so busy waits would be skipped (`auto`) and the autoboot
/// countdown would pass before the key below is sent: these tests stand in for a person, who
/// gets the countdown in real time.
const PERSON_AT_THE_CONSOLE: &str = "--skip-busy-waits=off";

fn interrupt_autoboot_and_query(
    emu: &mut Emulator,
    prompt: &str,
    version: &str,
    bootcmd: &str,
    image: &std::path::Path,
) {
    emu.expect("Hit any key to stop autoboot");
    emu.send(" ");
    emu.expect(prompt);
    emu.send("version\r");
    emu.expect(version);
    emu.expect(prompt);
    emu.send("printenv bootcmd\r");
    emu.expect(bootcmd);
    emu.expect(prompt);
    emu.send("md.l 20000000 4\r");
    emu.expect(&expected_md_line(image));
    emu.expect(prompt);
    emu.send("sf probe\r");
    emu.expect("SF: Detected");
    emu.expect(prompt);
}

#[test]
fn sdk_uboot_prompt_answers() {
    let Some(image) = shared_image("ast2600-sdk.img.xz") else {
        return;
    };
    let mut emu = Emulator::start(&["--flash", image.to_str().unwrap(), PERSON_AT_THE_CONSOLE]);
    emu.expect("U-Boot 2019.04");
    emu.expect("SOC: AST2600-A3");
    emu.expect("DRAM:");
    emu.expect("SF: Detected mx66u51235f");
    interrupt_autoboot_and_query(
        &mut emu,
        "ast#",
        "U-Boot 2019.04",
        "bootcmd=bootm 20100000",
        &image,
    );
    assert!(emu.quit().success());
}

#[test]
fn sdk_uboot_autoboots_to_the_kernel() {
    let Some(image) = shared_image("ast2600-sdk.img.xz") else {
        return;
    };
    let mut emu = Emulator::start(&["--flash", image.to_str().unwrap()]);
    emu.expect("U-Boot 2019.04");
    emu.expect("Hit any key to stop autoboot");
    emu.expect("Verifying Hash Integrity ... sha256+ OK");
    emu.expect("Starting kernel ...");
    assert!(emu.quit().success());
}

#[test]
fn mainline_uboot_prompt_answers() {
    let Some(image) = shared_image("ast2600-mainline.img.xz") else {
        return;
    };
    let mut emu = Emulator::start(&["--flash", image.to_str().unwrap(), PERSON_AT_THE_CONSOLE]);
    emu.expect("U-Boot SPL 2023.01");
    emu.expect("U-Boot 2023.01");
    emu.expect("DRAM:");
    interrupt_autoboot_and_query(
        &mut emu,
        "=>",
        "U-Boot 2023.01",
        "bootcmd=run bootspi",
        &image,
    );
    assert!(emu.quit().success());
}

#[test]
fn mainline_uboot_autoboots_to_the_kernel() {
    let Some(image) = shared_image("ast2600-mainline.img.xz") else {
        return;
    };
    let mut emu = Emulator::start(&["--flash", image.to_str().unwrap()]);
    emu.expect("U-Boot SPL 2023.01");
    emu.expect("U-Boot 2023.01");
    emu.expect("Hit any key to stop autoboot");
    emu.expect("Verifying Hash Integrity ... sha256+ OK");
    emu.expect("Starting kernel ...");
    assert!(emu.quit().success());
}

/// `--skip-busy-waits=console` (what `auto` is at a terminal): the busy waits before the
/// countdown are skipped, but the countdown, which polls the console for a key, is not (it
/// takes its real time: with `on`, its 2 s would be skipped, as the stats would show).
#[test]
fn the_countdown_waits_in_real_time_while_other_busy_waits_are_skipped() {
    let Some(image) = shared_image("ast2600-mainline.img.xz") else {
        return;
    };
    let mut emu = Emulator::start(&[
        "--flash",
        image.to_str().unwrap(),
        "--skip-busy-waits=console",
    ]);
    emu.expect("Hit any key to stop autoboot");
    let before = busy_skipped_ns(&mut emu);
    assert!(before > 0, "u-boot's early busy waits were skipped");
    emu.expect("Working FDT set");
    let after = busy_skipped_ns(&mut emu);
    assert!(
        after - before < 500_000_000,
        "the 2 s countdown was not skipped: {before} -> {after} ns skipped"
    );
    assert!(emu.quit().success());
}

/// Virtual time skipped in busy waits so far, from the monitor's `query-stats`.
fn busy_skipped_ns(emu: &mut Emulator) -> u64 {
    emu.send("\x01cquery-stats\r");
    emu.expect("\"busy_skipped_ns\":");
    let number = emu.expect(",");
    number
        .trim_end_matches(',')
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("busy_skipped_ns: {number:?}"))
}
