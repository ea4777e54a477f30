//! Every board in boards/ boots the project's Linux 6.1 + that board's own device tree (built
//! from linux-source-6.1 by firmware-fixtures/board-image) + the project's initramfs, from a
//! flash of the board's size: named with `--machine`, and found from the image alone. Inside,
//! /proc/device-tree/model is the board's and the modelled I2C devices Linux instantiated from
//! the device tree have their drivers bound.

mod support;

use std::path::Path;

use aspeed_soc::board::{self, Board, Choice, TreeKind};
use support::{board_image, Emulator};

/// The model in the image's Linux device tree (what /proc/device-tree/model must say).
fn linux_model(image: &Path) -> String {
    let bytes = std::fs::read(image).unwrap();
    board::device_trees(&bytes)
        .into_iter()
        .find(|t| matches!(t.kind, TreeKind::Linux { .. }))
        .and_then(|t| t.model)
        .expect("a Linux device tree with a model in the image")
}

/// Boots `image` with `args` to a shell, checks the model and the I2C drivers, and quits.
fn boot_and_check(b: &Board, image: &Path, rootfs: bool, extra: &[&str]) {
    let mut args = vec!["--flash", image.to_str().unwrap()];
    // The images' u-boot is the EVB's: its console (and the kernel's, console=ttyS4) is UART5.
    if b.console != "uart5" {
        args.extend(["--console", "uart5"]);
    }
    args.extend(extra);
    let mut emu = Emulator::start(&args);
    // The line that says which board and why.
    let why = if extra.iter().any(|a| a.starts_with(&b.name)) {
        "(--machine)"
    } else {
        "(found "
    };
    emu.expect(&format!("ast-emu: board {} {why}", b.name));
    if rootfs {
        support::login_to_default_image(&mut emu);
    } else {
        emu.expect("no rofs/rwfs MTD partitions");
        emu.expect("rescue shell");
        emu.send("\r");
        emu.expect("# ");
    }
    let devices: Vec<String> = b
        .i2c
        .iter()
        .map(|d| format!("{}-{:04x}", d.bus, d.addr))
        .collect();
    let mut script = format!(
        "echo MODEL=$(tr -d '\\000' < /proc/device-tree/model); for d in {}; do \
         p=/sys/bus/i2c/devices/$d; [ -e $p ] && {{ [ -e $p/driver ] && echo I2C-BOUND=$d || \
         echo I2C-UNBOUND=$d; }}; done;",
        devices.join(" ")
    );
    // The marker is computed, so the echo of the command line does not match it.
    script.push_str(" echo CHECK-$((6*7))-DONE\r");
    emu.send(&script);
    let out = emu.expect("CHECK-42-DONE\r\n");
    let out = out.replace('\r', "");
    let model = linux_model(image);
    assert!(
        out.lines().any(|l| l == format!("MODEL={model}")),
        "{}: /proc/device-tree/model should be {model:?}: {out}",
        b.name
    );
    // Lines of the echoed command (wrapped at the terminal's width) hold a `$`; answers do not.
    let answers: Vec<&str> = out.lines().filter(|l| !l.contains('$')).collect();
    let unbound: Vec<&&str> = answers
        .iter()
        .filter(|l| l.starts_with("I2C-UNBOUND="))
        .collect();
    assert!(
        unbound.is_empty(),
        "{}: devices without a driver: {unbound:?}",
        b.name
    );
    let bound = answers
        .iter()
        .filter(|l| l.starts_with("I2C-BOUND="))
        .count();
    eprintln!(
        "{}: {bound} of the board's {} I2C devices bound",
        b.name,
        b.i2c.len()
    );
    let named = [
        "ast2600-evb",
        "tacoma-bmc",
        "rainier-bmc",
        "ast2500-evb",
        "witherspoon-bmc",
    ];
    if named.contains(&b.name.as_str()) {
        // These device trees name most of the modelled devices.
        assert!(
            bound * 2 >= b.i2c.len(),
            "{}: only {bound} bound: {out}",
            b.name
        );
    }
    assert!(emu.quit().success());
}

/// Boards whose test image carries another board's device tree (Linux 6.1 has none of theirs).
const BORROWED_TREES: [&str; 2] = ["fby35-bmc", "qcom-firework-bmc"];

/// Boots board `name`'s image by name and by detection. `options` are QEMU-style machine
/// options (`boot-emmc=off`) and `extra` further arguments, for both boots.
fn boots(name: &str, options: &str, extra: &[&str]) {
    let b = board::by_name(name).unwrap();
    let (image, rootfs) = board_image(b);
    let named = format!("{name}{options}");
    let mut args = vec!["--machine", named.as_str()];
    args.extend(extra);
    boot_and_check(b, &image, rootfs, &args);
    // Found from the image alone, when the image carries the board's own device tree (not
    // so for the boards whose test image borrows another board's).
    let bytes = std::fs::read(&image).unwrap();
    let own_tree = !b.compatible.is_empty() && !BORROWED_TREES.contains(&name);
    match board::detect(&bytes, board::built_in()) {
        Choice::Board { board: found, .. } if own_tree => {
            assert_eq!(found.name, b.name);
            let mut args = extra.to_vec();
            if !options.is_empty() {
                args.extend(["--machine", options]);
            }
            boot_and_check(b, &image, rootfs, &args);
        }
        other => assert!(!own_tree, "{name}: its image should name it: {other:?}"),
    }
}

macro_rules! board_tests {
    ($($test:ident: $name:literal $options:literal [$($extra:literal),*],)*) => {
        $(
            #[test]
            fn $test() {
                boots($name, $options, &[$($extra),*]);
            }
        )*

        #[test]
        fn every_board_has_a_boot_test() {
            let tested = [$($name),*];
            for b in board::built_in() {
                assert!(tested.contains(&b.name.as_str()), "no boot test for {}", b.name);
            }
        }
    };
}

// The images' u-boot is the EVB's: with 2 GiB it puts the device tree at the top of DRAM,
// beyond the kernel's lowmem, and the kernel dies early (on QEMU too), so the 2 GiB boards
// boot their test image with 1 GiB, as QEMU's -m would. Rainier's straps say "boot from eMMC",
// where the SPL finds nothing (see rainier_spl_follows_its_boot_from_emmc_strap), so its test
// image boots with QEMU's boot-emmc=off. Bletchley's w25q01jvq is an ID Linux 6.1 does not
// know (no MTD partitions, as on QEMU): its test uses QEMU's fmc-model=mx66l1g45g, the same
// size.
board_tests! {
    ast2600_evb: "ast2600-evb" "" [],
    tacoma_bmc: "tacoma-bmc" "" [],
    rainier_bmc: "rainier-bmc" ",boot-emmc=off" [],
    bletchley_bmc: "bletchley-bmc" ",fmc-model=mx66l1g45g" ["-m", "1G"],
    fuji_bmc: "fuji-bmc" "" ["-m", "1G"],
    qcom_dc_scm_v1_bmc: "qcom-dc-scm-v1-bmc" "" [],
    qcom_firework_bmc: "qcom-firework-bmc" "" [],
    fby35_bmc: "fby35-bmc" "" ["-m", "1G"],
    ast2500_evb: "ast2500-evb" "" [],
    romulus_bmc: "romulus-bmc" "" [],
    witherspoon_bmc: "witherspoon-bmc" "" [],
}

/// Rainier's SCU500 straps boot from eMMC: the SPL looks there (no card) and stops, as it
/// does on QEMU, instead of running from SPI.
#[test]
fn rainier_spl_follows_its_boot_from_emmc_strap() {
    let b = board::by_name("rainier-bmc").unwrap();
    let (image, _) = board_image(b);
    let mut emu = Emulator::start(&["--flash", image.to_str().unwrap()]);
    emu.expect("ast-emu: board rainier-bmc (found ");
    emu.expect("U-Boot SPL");
    emu.expect("SPL: failed to boot from all boot devices");
    let status = emu.wait();
    assert!(
        status.success(),
        "the SPL's halt is a clean stop: {status:?}"
    );
}
