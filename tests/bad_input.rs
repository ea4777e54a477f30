//! A bad image gets one clear line and a non-zero exit code, never a panic.

mod support;

use std::path::PathBuf;
use std::process::Command;

fn scratch(name: &str, data: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ast-emu-bad-input-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

fn assert_clear_error(path: &std::path::Path, needle: &str) {
    support::assert_clear_error("--flash", path, needle);
}

#[test]
fn empty_file() {
    assert_clear_error(&scratch("empty.img", b""), "the file is empty");
}

#[test]
fn one_kib_file() {
    assert_clear_error(&scratch("small.img", &[0x5a; 1024]), "image is 1024 bytes");
}

#[test]
fn missing_file() {
    assert_clear_error(
        std::path::Path::new("/nonexistent/flash.img"),
        "no such file",
    );
}

#[test]
fn corrupt_xz() {
    let mut data = vec![0xfd, b'7', b'z', b'X', b'Z', 0x00];
    data.extend([0xa5; 200]);
    assert_clear_error(
        &scratch("corrupt.img.xz", &data),
        "corrupt or truncated .xz",
    );
}

#[test]
fn truncated_xz() {
    // A valid .xz of a real-size blank image, cut in half.
    let image = vec![0u8; 64 << 20];
    let mut xz = Vec::new();
    let mut enc = xz2_free_compress(&image);
    xz.append(&mut enc);
    xz.truncate(xz.len() / 2);
    assert_clear_error(
        &scratch("truncated.img.xz", &xz),
        "corrupt or truncated .xz",
    );
}

fn xz2_free_compress(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new("xz")
        .args(["-c", "-0"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    out.stdout
}

#[test]
fn blank_flash_has_no_boot_loader() {
    assert_clear_error(
        &scratch("blank.img", &vec![0xff; 64 << 20]),
        "no boot loader at offset 0",
    );
}

#[test]
fn directory_instead_of_file() {
    assert_clear_error(&std::env::temp_dir(), "is a directory");
}

#[test]
fn zeroed_flash_has_no_boot_loader() {
    assert_clear_error(
        &scratch("zero.img", &vec![0x00; 64 << 20]),
        "no boot loader at offset 0",
    );
}

#[test]
fn larger_than_the_flash() {
    assert_clear_error(
        &scratch("big.img", &vec![0x5a; (64 << 20) + 4096]),
        "needs exactly 67108864 bytes",
    );
}

#[test]
fn unreadable_file() {
    // A file that exists but cannot be read: the emulator's own /proc/self/mem (EIO at 0).
    assert_clear_error(std::path::Path::new("/proc/self/mem"), "cannot read");
}
