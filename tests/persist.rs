//! The flash file is the user's: untouched by default, written back (atomically) with
//! --persist, and a .xz image cannot be persisted.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{login_to_default_image, Emulator};

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// The project's own image, decompressed into a scratch file the test may change.
fn scratch_image() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ast-emu-persist-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let img = dir.join("flash.img");
    let xz =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../firmware-fixtures/ast2600-evb.img.xz");
    let out = Command::new("xz").arg("-dc").arg(&xz).output().unwrap();
    assert!(out.status.success());
    std::fs::write(&img, out.stdout).unwrap();
    img
}

/// Boots `img`, runs `cmd` in the guest, syncs and powers off.
fn boot_and_run(img: &Path, persist: bool, cmd: &str, expect: Option<&str>) {
    let mut args = vec!["--flash", img.to_str().unwrap()];
    if persist {
        args.push("--persist");
    }
    let mut emu = Emulator::start(&args);
    login_to_default_image(&mut emu);
    emu.send(&format!("{cmd}; sync\r"));
    if let Some(text) = expect {
        emu.expect(text);
    }
    emu.expect("# ");
    emu.send("poweroff\r");
    assert_eq!(emu.wait().code(), Some(0));
}

#[test]
fn guest_writes_reach_the_file_only_with_persist() {
    let img = scratch_image();
    let original = sha256(&img);
    boot_and_run(&img, false, "echo not-saved > /root/mark", None);
    assert_eq!(
        sha256(&img),
        original,
        "without --persist the image file is untouched"
    );

    boot_and_run(&img, true, "echo saved-$((6*7)) > /root/mark", None);
    let persisted = sha256(&img);
    assert_ne!(
        persisted, original,
        "--persist wrote the guest's changes back"
    );

    // The next boot (no --persist) sees the file the guest wrote on the jffs2 rwfs.
    boot_and_run(&img, false, "cat /root/mark", Some("saved-42"));
    assert_eq!(sha256(&img), persisted, "and leaves the file as it was");
    let _ = std::fs::remove_dir_all(img.parent().unwrap());
}

#[test]
fn an_xz_image_cannot_be_persisted() {
    let xz =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../firmware-fixtures/ast2600-evb.img.xz");
    let out = Command::new(env!("CARGO_BIN_EXE_ast-emu"))
        .arg("--flash")
        .arg(&xz)
        .arg("--persist")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot be persisted") && !err.contains("panicked"),
        "{err}"
    );
}

/// The container's case: --persist with --default-flash naming no file is refused up front,
/// without first announcing the built-in image.
#[test]
fn persist_without_an_image_file_is_refused_before_anything_boots() {
    let out = Command::new(env!("CARGO_BIN_EXE_ast-emu"))
        .args(["--default-flash", "/nonexistent/image.mtd", "--persist"])
        .env_remove("AST_EMU_FLASH")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--persist needs an image file") && !err.contains("booting"),
        "{err}"
    );
}

#[test]
fn pad_fills_a_short_image() {
    let dir = std::env::temp_dir().join(format!("ast-emu-pad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let img = dir.join("short.img");
    // A real boot loader, cut to 1 MiB: refused without --pad, boots u-boot with it.
    let xz =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../firmware-fixtures/ast2600-evb.img.xz");
    let out = Command::new("xz").arg("-dc").arg(&xz).output().unwrap();
    std::fs::write(&img, &out.stdout[..1 << 20]).unwrap();
    let refused = Command::new(env!("CARGO_BIN_EXE_ast-emu"))
        .arg("--flash")
        .arg(&img)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--pad"));
    let mut emu = Emulator::start(&["--flash", img.to_str().unwrap(), "--pad"]);
    emu.expect("U-Boot SPL 2023.01");
    assert!(emu.quit().success());
    let _ = std::fs::remove_dir_all(&dir);
}
