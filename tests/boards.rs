//! Every board in boards/ boots the project's Linux 6.1 + that board's own device tree (built
//! from linux-source-6.1 by firmware-fixtures/board-image) + the project's initramfs, from a
//! flash of the board's size: named with `--machine`, and found from the image alone. Inside,
//! /proc/device-tree/model is the board's and the modelled I2C devices Linux instantiated from
//! the device tree have their drivers bound.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use ast2600::board::{self, Board, Choice, TreeKind};
use support::Emulator;

/// A board's test image: (path, whether its device tree has rofs/rwfs partitions).
fn board_image(b: &Board) -> (PathBuf, bool) {
    let dtb = b
        .linux_dtb
        .as_deref()
        .unwrap_or_else(|| panic!("{} names no linux-dtb for its boot test", b.name));
    let size = ast2600::flash_sizes(b).unwrap()[0];
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = root.join(format!("target/board-fixtures/images/{}.img", b.name));
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let made = Command::new(root.join("firmware-fixtures/board-image"))
        .args(["--dtb", dtb, "--size", &size.to_string(), "--out"])
        .arg(&out)
        .output()
        .expect("run firmware-fixtures/board-image");
    let said = String::from_utf8_lossy(&made.stdout).into_owned();
    assert!(
        made.status.success(),
        "board-image for {}: {said}{}",
        b.name,
        String::from_utf8_lossy(&made.stderr)
    );
    (out, !said.contains("rescue shell"))
}

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
    let line = emu.expect("\n");
    assert!(
        line.contains(&format!("board {} (", b.name)),
        "the first line names the board: {line:?}"
    );
    if rootfs {
        support::login_to_default_image(&mut emu);
    } else {
        emu.expect("no rofs/rwfs MTD partitions");
        emu.expect("rescue shell");
        emu.send("\r");
        emu.expect("# ");
    }
    let mut script = String::from("echo MODEL=$(tr -d '\\000' < /proc/device-tree/model);");
    for d in &b.i2c {
        let dev = format!("{}-{:04x}", d.bus, d.addr);
        script.push_str(&format!(
            " p=/sys/bus/i2c/devices/{dev}; [ -e $p ] && {{ [ -e $p/driver ] && echo I2C-BOUND={dev} || echo I2C-UNBOUND={dev}; }};"
        ));
    }
    script.push_str(" echo CHECK-DONE\r");
    emu.send(&script);
    let out = emu.expect("CHECK-DONE\r\n");
    let out = out.replace('\r', "");
    let model = linux_model(image);
    assert!(
        out.lines().any(|l| l == format!("MODEL={model}")),
        "{}: /proc/device-tree/model should be {model:?}: {out}",
        b.name
    );
    let unbound: Vec<&str> = out.lines().filter(|l| l.starts_with("I2C-UNBOUND=")).collect();
    assert!(unbound.is_empty(), "{}: devices without a driver: {unbound:?}", b.name);
    let bound = out.lines().filter(|l| l.starts_with("I2C-BOUND=")).count();
    eprintln!("{}: {bound} of the board's {} I2C devices bound", b.name, b.i2c.len());
    if b.name == "ast2600-evb" || b.name == "tacoma-bmc" || b.name == "rainier-bmc" {
        // These device trees name most of the modelled devices.
        assert!(bound * 2 >= b.i2c.len(), "{}: only {bound} bound: {out}", b.name);
    }
    assert!(emu.quit().success());
}

fn boots(name: &str) {
    let b = board::by_name(name).unwrap();
    let (image, rootfs) = board_image(b);
    boot_and_check(b, &image, rootfs, &["--machine", name]);
    // Found from the image alone, when Linux has the board's own device tree.
    let bytes = std::fs::read(&image).unwrap();
    match board::detect(&bytes, board::built_in()) {
        Choice::Board { board: found, .. } if !b.compatible.is_empty() => {
            assert_eq!(found.name, b.name);
            boot_and_check(b, &image, rootfs, &[]);
        }
        other => assert!(
            b.compatible.is_empty(),
            "{name}: its image should name it: {other:?}"
        ),
    }
}

macro_rules! board_tests {
    ($($test:ident: $name:literal,)*) => {
        $(
            #[test]
            fn $test() {
                boots($name);
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

board_tests! {
    ast2600_evb: "ast2600-evb",
    tacoma_bmc: "tacoma-bmc",
    rainier_bmc: "rainier-bmc",
    bletchley_bmc: "bletchley-bmc",
    fuji_bmc: "fuji-bmc",
    qcom_dc_scm_v1_bmc: "qcom-dc-scm-v1-bmc",
    qcom_firework_bmc: "qcom-firework-bmc",
    fby35_bmc: "fby35-bmc",
}
