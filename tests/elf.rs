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

/// DACR writes take effect at once without TLB maintenance: privileged loads, user-mode
/// loads after the kernel turned the user's domain off and on again, LDRT, and more pages of
/// one domain than the CPU core lists (patch 0005 keeps TLB entries across DACR writes). The
/// counts are what qemu-system-arm prints for the same ELF.
#[test]
fn domain_changes_fault_at_once_in_every_mode() {
    run_elf(
        &scratch("domains.elf", bench_guests::DOMAINS),
        "DOMAINS a=00000001 b=00000010 c=00000002 d=00000001 fs=0000000b",
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

/// Guest stores to the read-only flash (the boot alias at 0 and the FMC window) are dropped as
/// by ROM: the guest reads its values back unchanged and goes on, and the log has one line for
/// each page written, though the guest stores to each page four times.
#[test]
fn stores_to_the_read_only_flash_are_dropped_and_each_page_is_logged_once() {
    let elf = scratch("rom_stores.elf", bench_guests::ROM_STORES);
    let log = elf.with_file_name("rom_stores.log");
    let mut emu = Emulator::start(&[
        "--elf",
        elf.to_str().unwrap(),
        "--log",
        "rom=warn",
        "--log-file",
        log.to_str().unwrap(),
    ]);
    emu.expect_within(
        "ROM stores dropped: the boot alias and the FMC window kept their values",
        TIMEOUT,
    );
    assert!(emu.quit().success());
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" rom]") && l.contains("read-only memory"))
        .collect();
    assert_eq!(lines.len(), 2, "one line per page written: {text}");
    for page in ["at 0x00000100", "at 0x20000100"] {
        assert_eq!(
            lines.iter().filter(|l| l.contains(page)).count(),
            1,
            "one line {page}: {text}"
        );
    }
    assert!(lines
        .iter()
        .all(|l| l.contains("WARN") && l.contains(", pc 0x8")));
}

/// Starts `elf` (written as `name`) on both cores, as `threads` says (`--threads`), with
/// `more` options, and waits for `report` on the console.
fn two_cores_with(name: &str, elf: &[u8], threads: &str, more: &[&str], report: &str) -> Emulator {
    // Tests run at once in one process: each writes a file of its own.
    let elf = scratch(&format!("{threads}-{name}"), elf);
    let path = elf.to_str().unwrap();
    let mut args = vec!["--elf", path, "--smp", "2", "--threads", threads];
    args.extend(more);
    let mut emu = Emulator::start(&args);
    emu.expect_within(report, TIMEOUT);
    emu
}

/// [`two_cores_with`] with no more options.
fn two_cores(name: &str, elf: &[u8], threads: &str, report: &str) -> Emulator {
    two_cores_with(name, elf, threads, &[], report)
}

/// Two cores (`--smp 2`) run the same ELF: a counter both increment 10^6 times with
/// LDREX/STREX ends at exactly 2x10^6, a spinlock-protected one at 2x200,000, and 200 SGIs go
/// from CPU0 to CPU1 and back, each answer naming CPU1 as its sender.
#[test]
fn two_cores_share_exclusives_a_spinlock_and_sgis() {
    let mut emu = two_cores(
        "smp.elf",
        bench_guests::SMP,
        "single",
        "SMP counter=001e8480 locked=00061a80 pings=000000c8 from=00000001",
    );
    // The monitor sees both cores, each with its own MPIDR, both parked in WFI at the end.
    emu.send("\x01cinfo cpus\r");
    emu.expect_within("CPU0 mpidr=0x80000f00", TIMEOUT);
    emu.expect_within("CPU1 mpidr=0x80000f01", TIMEOUT);
    emu.send("\x01ccpu 1\r");
    emu.expect_within("CPU1 selected", TIMEOUT);
    emu.send("\x01cinfo cpus\r");
    emu.expect_within("* CPU1", TIMEOUT);
    assert!(emu.quit().success());
}

/// What one core changes, the other sees at once: CPU0 rewrites a routine CPU1 has already
/// run (and translated) and broadcasts the instruction-cache invalidation, then remaps a
/// section CPU1 has already read through and broadcasts the TLB invalidation; CPU1 then runs
/// the new code and reads through the new mapping. The cores hand over with WFE and SEV.
#[test]
fn two_cores_see_each_others_code_and_mapping_changes() {
    let emu = two_cores(
        "smp_coherence.elf",
        bench_guests::SMP_COHERENCE,
        "single",
        "COHERENCE code=00000002 before=0000aaaa tlb=0000bbbb",
    );
    assert!(emu.quit().success());
}

/// Each core on a host thread of its own (`--threads multi`), at once: a counter both
/// increment 10^7 times with LDREX/STREX (host atomic operations now) ends at exactly 2x10^7,
/// the spinlock-protected one loses no update, and the SGIs cross threads both ways.
#[test]
fn cores_on_their_own_threads_share_exclusives_a_spinlock_and_sgis() {
    let mut emu = two_cores(
        "smp_long.elf",
        bench_guests::SMP_LONG,
        "multi",
        "SMP counter=01312d00 locked=00061a80 pings=000000c8 from=00000001",
    );
    // The monitor pauses the other core's thread to show it.
    emu.send("\x01cinfo cpus\r");
    emu.expect_within("CPU1 mpidr=0x80000f01", TIMEOUT);
    assert!(emu.quit().success());
}

/// Cross-modifying code and broadcast TLB maintenance with each core on its own thread: CPU0
/// rewrites a routine CPU1 has run and cleans it, signals, and CPU1 runs the new routine (the
/// store on CPU0's thread drops CPU1's translation before CPU0 goes on); the remapped section
/// reads through the new mapping on CPU1 after CPU0's TLBIMVAIS.
#[test]
fn cores_on_their_own_threads_see_each_others_code_and_mapping_changes() {
    let emu = two_cores(
        "smp_coherence.elf",
        bench_guests::SMP_COHERENCE,
        "multi",
        "COHERENCE code=00000002 before=0000aaaa tlb=0000bbbb",
    );
    assert!(emu.quit().success());
}

/// Runs the deadline guest on both cores (`--threads threads`, busy waits skipped) and returns
/// (period, earliest, latest, reads) as it prints them.
fn deadline_run(threads: &str) -> [u32; 4] {
    let mut emu = two_cores_with(
        "smp_deadline.elf",
        bench_guests::SMP_DEADLINE,
        threads,
        &["--skip-busy-waits=on"],
        "DEADLINE period=",
    );
    let line = format!("period={}", emu.expect_within("\r\n", TIMEOUT));
    assert!(emu.quit().success());
    let mut fields = [0u32; 4];
    for (i, key) in ["period=", "earliest=", "latest=", "reads="]
        .iter()
        .enumerate()
    {
        let at = line.find(key).map(|p| p + key.len());
        let hex = at.and_then(|p| line.get(p..p + 8));
        fields[i] = hex
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .unwrap_or_else(|| panic!("{key} in {line:?}"));
    }
    fields
}

/// While CPU1 busy-waits on the counter (virtual time skipped on each of its reads), CPU0's
/// timer still fires on time: no skip passes another core's deadline. Each of CPU0's 20 sleeps
/// of about 1 ms ends at most a quarter period late at least once (a skip past the deadline
/// makes every wake-up late by the skip's overshoot, tens of milliseconds); the reader made
/// counter reads all along. Virtual time only: no host timing is asserted.
fn a_deadline_holds_while_the_other_core_busy_waits(threads: &str) {
    let [period, earliest, latest, reads] = deadline_run(threads);
    assert!(period > 0, "{threads}: CNTFRQ / 1024");
    assert!(
        earliest < period / 4,
        "{threads}: CPU0 woke {earliest} ticks late at the least (latest {latest}, period {period})"
    );
    assert!(
        reads > 1000,
        "{threads}: CPU1 polled the counter ({reads} reads)"
    );
}

#[test]
fn a_deadline_holds_while_the_other_core_busy_waits_on_one_thread() {
    a_deadline_holds_while_the_other_core_busy_waits("single");
}

#[test]
fn a_deadline_holds_while_the_other_core_busy_waits_on_its_own_thread() {
    a_deadline_holds_while_the_other_core_busy_waits("multi");
}

/// More cores than the AST2600 has are refused with a clear error.
#[test]
fn more_cores_than_the_soc_has_are_refused() {
    let elf = scratch("hello.elf", bench_guests::HELLO);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ast-emu"))
        .args(["--elf", elf.to_str().unwrap(), "--smp", "3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("invalid value '3' for '--smp"), "{said}");
}
