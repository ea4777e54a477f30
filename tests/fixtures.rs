//! The project's own firmware: the committed image matches its manifest, the assembly step
//! reproduces it byte for byte, and it also boots on QEMU's ast2600-evb (the reference model).

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::have;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../firmware-fixtures")
}

#[test]
fn committed_image_matches_the_manifest() {
    let out = Command::new(fixtures().join("check")).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "firmware-fixtures/check:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("ok   ast2600-evb.img sha256"), "{text}");
}

#[test]
fn assembly_reproduces_the_image() {
    let tools = [
        "mkimage",
        "dumpimage",
        "mkenvimage",
        "mksquashfs",
        "unsquashfs",
        "mkfs.jffs2",
        "cpio",
        "gcc",
    ];
    if let Some(missing) = tools.iter().find(|t| !have(t)) {
        eprintln!("SKIPPED: {missing} is not installed (make deps installs the fixture tools)");
        return;
    }
    if !Path::new("/usr/src/linux-source-6.1.tar.xz").exists()
        && !Path::new("/var/tmp/ast-emu-fixtures/components/gen_init_cpio").exists()
    {
        eprintln!("SKIPPED: linux-source-6.1 is not installed (gen_init_cpio comes from it)");
        return;
    }
    let out = Command::new(fixtures().join("check"))
        .arg("--reproduce")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "check --reproduce:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("FAIL"), "{text}");
}

#[test]
fn fixture_boots_on_qemu_too() {
    if !have("qemu-system-arm") {
        eprintln!("SKIPPED: qemu-system-arm is not installed");
        return;
    }
    let dir = std::env::temp_dir().join(format!("ast-emu-qemu-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let img = dir.join("flash.img");
    let raw = Command::new("xz")
        .arg("-dc")
        .arg(fixtures().join("ast2600-evb.img.xz"))
        .output()
        .unwrap();
    std::fs::write(&img, raw.stdout).unwrap();
    let mut qemu = Command::new("qemu-system-arm")
        .args(["-M", "ast2600-evb", "-nographic", "-snapshot", "-drive"])
        .arg(format!("file={},format=raw,if=mtd", img.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = qemu.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut console = Vec::new();
    let ready = loop {
        if String::from_utf8_lossy(&console).contains("AST-EMU-READY") {
            break true;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(chunk) => console.extend(chunk),
            Err(_) => break false,
        }
    };
    let _ = qemu.kill();
    let _ = qemu.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&console);
    assert!(
        ready,
        "QEMU never printed AST-EMU-READY; console tail:\n{}",
        &text[text.len().saturating_sub(3000)..]
    );
    assert!(text.contains("U-Boot SPL 2023.01") && text.contains("Starting kernel"));
}
