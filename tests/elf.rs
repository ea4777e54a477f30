//! `--elf`: bare-metal ARM ELFs run at their entry point (the bench-guests crate's guests), and
//! a bad ELF gets one clear line and exit code 2.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use support::Emulator;

const TIMEOUT: Duration = Duration::from_secs(60);

fn scratch(name: &str, data: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ast-emu-elf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

fn run_elf(path: &std::path::Path, needle: &str) {
    let mut emu = Emulator::start(&["--elf", path.to_str().unwrap()]);
    emu.expect_within(needle, TIMEOUT);
    assert!(emu.quit().success());
}

#[test]
fn hello_in_arm_state_prints_on_the_console() {
    run_elf(
        &scratch("hello.elf", bench_guests::HELLO),
        "Hello from a bare-metal ARM ELF",
    );
}

#[test]
fn hello_in_thumb_state_prints_on_the_console() {
    run_elf(
        &scratch("hello_thumb.elf", bench_guests::HELLO_THUMB),
        "Hello from Thumb code",
    );
}

#[test]
fn every_benchmark_guest_runs_to_its_end_marker() {
    for g in bench_guests::ALL {
        let path = scratch(&format!("{}.elf", g.name), &g.with_iterations(100));
        let mut emu = Emulator::start(&["--elf", path.to_str().unwrap()]);
        emu.expect_within(bench_guests::START_MARKER, TIMEOUT);
        emu.expect_within(bench_guests::END_MARKER, TIMEOUT);
        assert!(emu.quit().success(), "{}", g.name);
    }
}

fn assert_clear_error(path: &std::path::Path, needle: &str) {
    support::assert_clear_error("--elf", path, needle);
}

fn le32(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize
}

#[test]
fn not_an_elf() {
    assert_clear_error(
        &scratch("text.elf", b"#!/bin/sh\necho hello\n"),
        "not an ELF file",
    );
}

#[test]
fn empty_and_missing_files() {
    assert_clear_error(&scratch("empty.elf", b""), "the file is empty");
    assert_clear_error(std::path::Path::new("/nonexistent/x.elf"), "no such file");
}

#[test]
fn a_64_bit_host_elf() {
    let me = std::env::current_exe().unwrap();
    assert_clear_error(&me, "not a 32-bit little-endian ELF");
}

#[test]
fn an_elf_for_another_machine() {
    let mut elf = bench_guests::HELLO.to_vec();
    elf[18..20].copy_from_slice(&3u16.to_le_bytes()); // e_machine = EM_386
    assert_clear_error(&scratch("x86.elf", &elf), "not an ARM ELF");
}

#[test]
fn a_segment_outside_ram() {
    let mut elf = bench_guests::HELLO.to_vec();
    let phdr = le32(&elf, 0x1c); // e_phoff; the first program header is the code's PT_LOAD
    elf[phdr + 12..phdr + 16].copy_from_slice(&0x4000_0000u32.to_le_bytes()); // p_paddr
    assert_clear_error(&scratch("outside.elf", &elf), "outside RAM");
}

#[test]
fn a_truncated_elf() {
    let elf = &bench_guests::HELLO[..80];
    assert_clear_error(&scratch("truncated.elf", elf), "corrupt or truncated ELF");
}
