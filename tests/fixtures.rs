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

/// Boots a raw flash image on qemu-system-arm `-M machine` (`-snapshot`: the file is not
/// written) and collects QEMU's first serial port until `marker` appears or `timeout` passes.
fn qemu_console_until(
    machine: &str,
    img: &Path,
    marker: &str,
    timeout: Duration,
) -> (bool, String) {
    let mut qemu = Command::new("qemu-system-arm")
        .args(["-M", machine, "-nographic", "-snapshot", "-drive"])
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
    let deadline = Instant::now() + timeout;
    let mut console = Vec::new();
    let seen = loop {
        if String::from_utf8_lossy(&console).contains(marker) {
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
    (seen, String::from_utf8_lossy(&console).into_owned())
}

fn tail(text: &str) -> &str {
    let mut start = text.len().saturating_sub(3000);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
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
    let (ready, text) = qemu_console_until(
        "ast2600-evb",
        &img,
        "AST-EMU-READY",
        Duration::from_secs(300),
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        ready,
        "QEMU never printed AST-EMU-READY; console tail:\n{}",
        tail(&text)
    );
    assert!(text.contains("U-Boot SPL 2023.01") && text.contains("Starting kernel"));
}

/// What firmware-fixtures/board-image needs (it would apt-get what is missing; the tests only
/// run where `make deps` installed it). None when all is there.
fn board_image_missing() -> Option<String> {
    let tools = [
        "mkimage",
        "dumpimage",
        "fdtget",
        "mkfs.jffs2",
        "make",
        "gcc",
        "flex",
        "bison",
        "xz",
    ];
    if let Some(t) = tools.iter().find(|t| !have(t)) {
        return Some(format!(
            "{t} is not installed (make deps installs the fixture tools)"
        ));
    }
    if !Path::new("/usr/src/linux-source-6.1.tar.xz").exists() {
        return Some("linux-source-6.1 is not installed (the dtbs are built from it)".into());
    }
    None
}

/// Runs board-image (default cache: target/board-fixtures, shared by the tests, which may run
/// in parallel) and returns its one line of output.
fn board_image(dtb: &str, size: u64, out: &Path) -> String {
    let run = Command::new(fixtures().join("board-image"))
        .args(["--dtb", dtb, "--size", &size.to_string(), "--out"])
        .arg(out)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        run.status.success(),
        "board-image --dtb {dtb}:\n{text}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        text.lines().count(),
        1,
        "board-image prints one line: {text}"
    );
    text
}

fn board_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ast-emu-board-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)[..64].to_string()
}

#[test]
fn board_image_of_the_evb_is_the_committed_image() {
    if let Some(why) = board_image_missing() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let dir = board_dir("evb");
    let img = dir.join("evb.img");
    let line = board_image("aspeed-ast2600-evb.dtb", 64 << 20, &img);
    assert!(line.starts_with("board-image: made evb.img"), "{line}");
    assert!(
        line.contains("rofs squashfs at 0xa00000") && line.contains("rwfs jffs2 at 0x2a00000"),
        "{line}"
    );
    let manifest = std::fs::read_to_string(fixtures().join("manifest.txt")).unwrap();
    let want = manifest
        .lines()
        .find(|l| l.starts_with("sha256 ") && l.ends_with(" ast2600-evb.img"))
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .to_string();
    assert_eq!(
        sha256(&img),
        want,
        "the EVB's board image differs from the committed image"
    );
    // Same inputs: the output is kept.
    let again = board_image("aspeed-ast2600-evb.dtb", 64 << 20, &img);
    assert!(again.starts_with("board-image: kept evb.img"), "{again}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn board_image_of_a_128_mib_board_boots_on_qemu() {
    if let Some(why) = board_image_missing() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let dir = board_dir("tacoma");
    let img = dir.join("tacoma.img");
    let line = board_image("aspeed-bmc-opp-tacoma.dtb", 128 << 20, &img);
    // openbmc-flash-layout-128.dtsi: rofs 0xa00000 +0x5600000, rwfs 0x6000000 +0x2000000
    assert!(
        line.contains("rofs squashfs at 0xa00000") && line.contains("in 0x5600000)"),
        "{line}"
    );
    assert!(
        line.contains("rwfs jffs2 at 0x6000000 (padded to 0x2000000)"),
        "{line}"
    );
    let flash = std::fs::read(&img).unwrap();
    assert_eq!(flash.len(), 128 << 20);
    assert_eq!(
        &flash[0xa00000..0xa00004],
        b"hsqs",
        "squashfs magic at the rofs partition"
    );
    for eb in (0x6000000..0x8000000).step_by(0x10000) {
        assert_eq!(
            &flash[eb..eb + 2],
            &[0x85, 0x19],
            "jffs2 clean marker at {eb:#x}"
        );
    }
    assert_eq!(
        &flash[0x100000..0x100004],
        &[0xd0, 0x0d, 0xfe, 0xed],
        "FIT at 0x100000"
    );
    if !have("qemu-system-arm") {
        eprintln!("SKIPPED (boot): qemu-system-arm is not installed");
        return;
    }
    let (ready, text) = qemu_console_until(
        "tacoma-bmc",
        &img,
        "AST-EMU-READY",
        Duration::from_secs(300),
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        ready,
        "tacoma-bmc never printed AST-EMU-READY; console tail:\n{}",
        tail(&text)
    );
    assert!(
        text.contains("Description:  aspeed-bmc-opp-tacoma.dtb"),
        "{}",
        tail(&text)
    );
    assert!(
        text.contains("initramfs: rofs: squashfs on mtd4"),
        "{}",
        tail(&text)
    );
}

#[test]
fn board_image_says_when_the_dtb_has_no_rofs() {
    if let Some(why) = board_image_missing() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let dir = board_dir("fuji");
    let img = dir.join("fuji.img");
    let line = board_image("aspeed-bmc-facebook-fuji.dtb", 128 << 20, &img);
    assert!(
        line.contains("no rofs or rwfs partition") && line.contains("rescue shell"),
        "{line}"
    );
    let flash = std::fs::read(&img).unwrap();
    assert_eq!(flash.len(), 128 << 20);
    assert!(
        flash[0xa00000..].iter().all(|&b| b == 0xff),
        "nothing past the FIT"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
