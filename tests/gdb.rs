//! The GDB stub: a scripted `gdb-multiarch` session on mainline u-boot and Linux (attach at
//! reset, step, break at the kernel entry, read registers and memory, monitor commands,
//! detach, the boot goes on), watchpoints on a bare-metal guest, each core as a thread (two
//! with `--smp 2`, stepped one at a time; one with `--smp 1`), and Ctrl-C on the remote
//! protocol itself.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use support::{free_port, shared_image, Emulator};

/// The kernel's load address and entry in both FIT images (firmware-fixtures/ast2600.its and
/// the reference images' ast2600-fit.its).
const KERNEL_ENTRY: u32 = 0x8000_1000;

/// The reference mainline fixture when `../shared` has it, else the project's own image (also
/// mainline u-boot and Linux 6.1). Returns the flash arguments and the ready line.
fn mainline_image() -> (Vec<String>, &'static str) {
    match shared_image("ast2600-mainline-fixture.img.xz") {
        Some(path) => (
            vec!["--flash".into(), path.to_string_lossy().into_owned()],
            "FIXTURE-READY",
        ),
        None => {
            eprintln!("(using the built-in image instead of the reference mainline fixture)");
            (vec![], "AST-EMU-READY")
        }
    }
}

fn gdb_multiarch() -> Option<PathBuf> {
    let found = Command::new("gdb-multiarch").arg("--version").output();
    match found {
        Ok(o) if o.status.success() => Some(PathBuf::from("gdb-multiarch")),
        _ => {
            eprintln!("SKIPPED: gdb-multiarch is not installed (make deps installs it)");
            None
        }
    }
}

/// The value GDB printed for `name` in an `info registers` listing after `after`.
fn register(out: &str, after: &str, name: &str) -> u32 {
    let tail = &out[out
        .find(after)
        .unwrap_or_else(|| panic!("{after:?} not in:\n{out}"))..];
    let line = tail
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no {name} after {after:?} in:\n{out}"));
    let hex = line.split_whitespace().nth(1).unwrap();
    u32::from_str_radix(hex.trim_start_matches("0x"), 16).unwrap()
}

/// Starts the emulator with `args`, its GDB stub on a free port and the CPU held at its first
/// instruction until GDB attaches (`-S`); returns it and the port.
/// Waits for GDB's detach and then for `needle` from the guest. The guest runs from the
/// moment GDB detaches and its console (stdout) and the emulator's notes (stderr) reach the
/// transcript on two streams, so a line the guest prints at once may come before the note.
fn expect_detached_then(emu: &mut Emulator, needle: &str) {
    emu.expect("GDB detached");
    if !emu.transcript().contains(needle) {
        emu.expect(needle);
    }
}

fn start_held_for_gdb(args: &[&str]) -> (Emulator, u16) {
    let port = free_port();
    let address = format!("tcp:127.0.0.1:{port}");
    let mut all = args.to_vec();
    all.extend(["--gdb", &address, "-S"]);
    let mut emu = Emulator::start(&all);
    emu.expect("waiting for GDB");
    (emu, port)
}

/// Runs GDB's `commands` with `gdb -batch`, attached to the stub on `port`; returns what GDB
/// printed (also echoed for failures).
fn run_gdb_session(gdb: &std::path::Path, name: &str, port: u16, commands: &str) -> String {
    let script = format!(
        "set pagination off\n\
         set confirm off\n\
         set architecture arm\n\
         target remote 127.0.0.1:{port}\n\
         {commands}"
    );
    // One folder per session: tests run in parallel, and two sessions of one name (the two
    // `smp` tests) must not write, run or remove each other's script.
    let dir =
        std::env::temp_dir().join(format!("ast-emu-gdb-{name}-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script_path = dir.join(format!("{name}.gdb"));
    std::fs::write(&script_path, &script).unwrap();
    let out = Command::new(gdb)
        .args(["-nx", "-batch", "-x"])
        .arg(&script_path)
        .output()
        .expect("run gdb-multiarch");
    let _ = std::fs::remove_dir_all(&dir);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    assert!(out.status.success(), "gdb failed:\n{text}");
    text
}

#[test]
fn gdb_breaks_at_the_kernel_entry_steps_reads_and_detaches_and_the_boot_goes_on() {
    let Some(gdb) = gdb_multiarch() else {
        return;
    };
    let (args, ready) = mainline_image();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (mut emu, port) = start_held_for_gdb(&args);

    let commands = format!(
        "echo ==reset==\\n\n\
         info registers pc cpsr\n\
         stepi\n\
         echo ==first-step==\\n\n\
         info registers pc\n\
         break *{KERNEL_ENTRY:#x}\n\
         continue\n\
         echo ==entry==\\n\n\
         info registers\n\
         echo ==memory==\\n\n\
         x/2xw {KERNEL_ENTRY:#x}\n\
         stepi\n\
         echo ==stepped==\\n\n\
         info registers pc\n\
         echo ==monitor==\\n\n\
         monitor info registers\n\
         monitor x/2 {KERNEL_ENTRY:#x}\n\
         monitor info mtree\n\
         monitor info banked\n\
         delete\n\
         detach\n"
    );
    let text = run_gdb_session(&gdb, "session", port, &commands);

    // Attached at reset: PC 0, Secure SVC with IRQs and FIQs masked.
    assert_eq!(register(&text, "==reset==", "pc"), 0);
    assert_eq!(register(&text, "==reset==", "cpsr") & 0x1ff, 0x1d3);
    // u-boot's first instruction (before relocation) moved the PC.
    assert_ne!(register(&text, "==first-step==", "pc"), 0);
    // The breakpoint at the kernel entry was hit after u-boot relocated itself and loaded
    // the kernel; r2 holds the device tree address u-boot passes in DRAM.
    assert!(
        text.contains(&format!("Breakpoint 1, {KERNEL_ENTRY:#x}")),
        "breakpoint not reported:\n{text}"
    );
    assert_eq!(register(&text, "==entry==", "pc"), KERNEL_ENTRY);
    let r2 = register(&text, "==entry==", "r2");
    assert!(r2 >= 0x8000_0000, "r2 {r2:#x} is not a DRAM address");
    // Memory through GDB (virtual, MMU off here) equals the monitor's physical read.
    let mem_line = text[text.find("==memory==").unwrap()..]
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    let gdb_words: Vec<u32> = mem_line
        .split_whitespace()
        .skip(1)
        .map(|w| u32::from_str_radix(w.trim_start_matches("0x"), 16).unwrap())
        .collect();
    assert_eq!(gdb_words.len(), 2, "memory line {mem_line:?}");
    let monitor_line = text
        .lines()
        .find(|l| l.starts_with(&format!("{KERNEL_ENTRY:#010x}:")))
        .unwrap_or_else(|| panic!("no monitor x/2 output in:\n{text}"));
    let monitor_words: Vec<u32> = monitor_line
        .split_whitespace()
        .skip(1)
        .map(|w| u32::from_str_radix(w.trim_start_matches("0x"), 16).unwrap())
        .collect();
    assert_eq!(gdb_words, monitor_words);
    // One instruction further.
    assert_eq!(register(&text, "==stepped==", "pc"), KERNEL_ENTRY + 4);
    // The monitor through `monitor`: a register block and the memory map with device names.
    assert!(
        text.contains(&format!("pc  = {:#010x}", KERNEL_ENTRY + 4)),
        "monitor info registers:\n{text}"
    );
    assert!(text.contains("uart5") && text.contains("fmc-window"));
    // Banked registers of the other modes (the kernel starts in SVC; u-boot set up others).
    assert!(
        text.lines()
            .any(|l| l.starts_with("svc ") && l.contains("0x")),
        "monitor info banked:\n{text}"
    );

    // Detached: the boot carries on to the shell.
    expect_detached_then(&mut emu, ready);
    emu.quit();
}

/// A minimal remote-protocol client: enough to continue the guest and interrupt it.
struct Rsp(TcpStream);

impl Rsp {
    fn send(&mut self, body: &str) {
        let sum = body.bytes().fold(0u8, |a, b| a.wrapping_add(b));
        write!(self.0, "${body}#{sum:02x}").unwrap();
    }

    /// The next packet's body (acknowledging it), skipping acks.
    fn packet(&mut self) -> String {
        let mut byte = [0u8; 1];
        loop {
            self.0.read_exact(&mut byte).unwrap();
            if byte[0] == b'$' {
                break;
            }
        }
        let mut body = Vec::new();
        loop {
            self.0.read_exact(&mut byte).unwrap();
            if byte[0] == b'#' {
                break;
            }
            body.push(byte[0]);
        }
        let mut sum = [0u8; 2];
        self.0.read_exact(&mut sum).unwrap();
        self.0.write_all(b"+").unwrap();
        // Run-length encoding: `X*N` repeats X (N - 29) more times.
        let mut out: Vec<u8> = Vec::new();
        let mut i = 0;
        while i < body.len() {
            if body[i] == b'*' && i + 1 < body.len() {
                let last = *out.last().unwrap();
                out.extend(std::iter::repeat_n(last, (body[i + 1] - 29) as usize));
                i += 2;
            } else {
                out.push(body[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }
}

#[test]
fn ctrl_c_stops_a_running_guest_and_detach_lets_it_go_on() {
    let port = free_port();
    let gdb = format!("tcp:127.0.0.1:{port}");
    let mut emu = Emulator::start(&["--gdb", &gdb]);
    emu.expect("GDB stub on");
    emu.expect("U-Boot");
    // Attach while u-boot runs: the guest stops.
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let mut rsp = Rsp(stream);
    rsp.send("?");
    let stop = rsp.packet();
    assert!(stop.starts_with('T') || stop.starts_with('S'), "{stop}");
    emu.expect("GDB attached");
    // Continue into the kernel, then interrupt: the stub answers with SIGINT (2).
    rsp.send("c");
    emu.expect("Starting kernel");
    rsp.0.write_all(&[0x03]).unwrap();
    let stop = rsp.packet();
    assert!(
        stop.starts_with("T02") || stop.starts_with("S02"),
        "reply to Ctrl-C: {stop}"
    );
    // Registers while stopped: r0-r12, sp, lr, pc, FPA padding, CPSR (little-endian hex).
    rsp.send("g");
    let regs = rsp.packet();
    let word = |n: usize| {
        u32::from_str_radix(&regs[n * 8..n * 8 + 8], 16)
            .unwrap()
            .swap_bytes()
    };
    assert!(
        regs.len() >= 16 * 8 + 8 * 24 + 8 + 8,
        "g reply too short: {regs}"
    );
    let pc = word(15);
    assert!(pc >= 0x8000_0000, "stopped in the kernel, not at {pc:#x}");
    rsp.send("D");
    assert_eq!(rsp.packet(), "OK");
    expect_detached_then(&mut emu, "AST-EMU-READY");
    emu.quit();
}

/// Watchpoints on a bare-metal guest (the load/store benchmark loop, three iterations): a
/// write watchpoint stops right after each store to the watched word, with the value stored;
/// a read watchpoint stops after the load of another word.
#[test]
fn gdb_watchpoints_stop_after_the_accesses_to_the_watched_words() {
    let Some(gdb) = gdb_multiarch() else {
        return;
    };
    let guest = bench_guests::LDST;
    let elf = guest.with_iterations(3);
    let buffer = bench_guests::symbol(&elf, "buffer")
        .expect("ldst has `buffer`")
        .0;
    let loop_start = bench_guests::symbol(&elf, "loop_start")
        .expect("ldst has `loop_start`")
        .0;
    let dir = std::env::temp_dir().join(format!("ast-emu-gdb-elf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let elf_path = dir.join("ldst.elf");
    std::fs::write(&elf_path, &elf).unwrap();
    let (mut emu, port) = start_held_for_gdb(&["--elf", elf_path.to_str().unwrap()]);

    let commands = format!(
        "watch *(unsigned int *){buffer:#x}\n\
         continue\n\
         echo ==first-store==\\n\n\
         info registers pc r2\n\
         continue\n\
         echo ==second-store==\\n\n\
         info registers pc r2\n\
         delete\n\
         rwatch *(unsigned int *){:#x}\n\
         continue\n\
         echo ==load==\\n\n\
         info registers pc r10\n\
         delete\n\
         detach\n",
        buffer + 32
    );
    let text = run_gdb_session(&gdb, "watch", port, &commands);
    let _ = std::fs::remove_dir_all(&dir);

    // GDB used the stub's watchpoints (a software one would say "Watchpoint 1").
    assert!(text.contains("Hardware watchpoint 1"), "{text}");
    assert!(text.contains("Old value = 0\nNew value = 1"), "{text}");
    assert!(text.contains("Old value = 1\nNew value = 2"), "{text}");
    // Stopped after `str r2, [r1]` (the loop's third instruction), before the next load.
    assert_eq!(register(&text, "==first-store==", "pc"), loop_start + 12);
    assert_eq!(register(&text, "==first-store==", "r2"), 1);
    assert_eq!(register(&text, "==second-store==", "pc"), loop_start + 12);
    assert_eq!(register(&text, "==second-store==", "r2"), 2);
    // `ldr r10, [r1, #32]` is the loop's 13th instruction.
    assert!(text.contains("Hardware read watchpoint 2"), "{text}");
    assert_eq!(register(&text, "==load==", "pc"), loop_start + 13 * 4);
    // Detached: the guest finishes its loop.
    emu.expect(bench_guests::END_MARKER);
    assert!(emu.quit().success());
}

/// The lines of GDB's output between the `==from==` and `==to==` markers.
fn between<'a>(out: &'a str, from: &str, to: &str) -> &'a str {
    let start = out
        .find(from)
        .unwrap_or_else(|| panic!("{from:?} not in:\n{out}"))
        + from.len();
    let len = out[start..]
        .find(to)
        .unwrap_or_else(|| panic!("{to:?} not after {from:?} in:\n{out}"));
    &out[start..start + len]
}

/// Writes `elf` to a scratch file named `name` in `dir`.
fn scratch_elf(dir: &std::path::Path, name: &str, elf: &[u8]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, elf).unwrap();
    path
}

/// Each core is a thread: the two-core bare-metal guest (`--smp 2`), held at reset, shows
/// two threads named by core and MPIDR; stepping thread 2 moves CPU1 alone and stepping
/// thread 1 CPU0 alone; each thread has its own registers (r11 is the core number, read from
/// MPIDR); a breakpoint only CPU1 reaches reports thread 2, also after GDB stepped CPU1 over
/// it; after detaching, both cores finish and CPU0 prints the result.
#[test]
fn gdb_shows_each_core_as_a_thread_and_steps_one_core_at_a_time() {
    gdb_steps_each_core(&[]);
}

/// The same with `--threads multi`: GDB still sees two threads and steps one core at a time
/// (a debugger runs the cores in turns); once it detaches, each core goes on on its own host
/// thread and both finish.
#[test]
fn gdb_shows_each_core_as_a_thread_with_the_cores_on_their_own_threads() {
    gdb_steps_each_core(&["--threads", "multi"]);
}

fn gdb_steps_each_core(extra: &[&str]) {
    let Some(gdb) = gdb_multiarch() else {
        return;
    };
    let elf = bench_guests::SMP;
    let entry = bench_guests::symbol(elf, "_start")
        .expect("smp has `_start`")
        .0;
    let pong = bench_guests::symbol(elf, "pong").expect("smp has `pong`").0;
    let dir = std::env::temp_dir().join(format!(
        "ast-emu-gdb-smp-{}-{}",
        std::process::id(),
        extra.len()
    ));
    let elf_path = scratch_elf(&dir, "smp.elf", elf);
    let mut args = vec!["--elf", elf_path.to_str().unwrap(), "--smp", "2"];
    args.extend_from_slice(extra);
    let (mut emu, port) = start_held_for_gdb(&args);

    // Three instructions reach past `and r11, r11, #0xff` (r11: the core number).
    let commands = format!(
        "echo ==threads==\\n\n\
         info threads\n\
         echo ==end-threads==\\n\n\
         thread 2\n\
         stepi\n\
         stepi\n\
         stepi\n\
         echo ==cpu1-stepped==\\n\n\
         info registers pc r11\n\
         thread 1\n\
         echo ==cpu0-before==\\n\n\
         info registers pc\n\
         stepi\n\
         stepi\n\
         stepi\n\
         echo ==cpu0-stepped==\\n\n\
         info registers pc r11\n\
         thread 2\n\
         echo ==cpu1-after==\\n\n\
         info registers pc r11\n\
         break *{pong:#x}\n\
         continue\n\
         echo ==pong==\\n\n\
         info registers pc r11\n\
         continue\n\
         echo ==pong-again==\\n\n\
         info registers pc r11\n\
         delete\n\
         detach\n"
    );
    let text = run_gdb_session(&gdb, "smp", port, &commands);
    let _ = std::fs::remove_dir_all(&dir);

    // Two threads, one per core, named by GDB as the stub describes them.
    assert_threads(
        &text,
        &[
            "Thread 1.1 (CPU0 mpidr=0x80000f00)",
            "Thread 1.2 (CPU1 mpidr=0x80000f01)",
        ],
    );
    // Thread 2's steps moved CPU1 only: CPU0 is still at the entry.
    assert_eq!(register(&text, "==cpu1-stepped==", "pc"), entry + 12);
    assert_eq!(register(&text, "==cpu1-stepped==", "r11"), 1);
    assert_eq!(register(&text, "==cpu0-before==", "pc"), entry);
    // Thread 1's steps moved CPU0 only; each thread has its own r11.
    assert_eq!(register(&text, "==cpu0-stepped==", "pc"), entry + 12);
    assert_eq!(register(&text, "==cpu0-stepped==", "r11"), 0);
    assert_eq!(register(&text, "==cpu1-after==", "pc"), entry + 12);
    assert_eq!(register(&text, "==cpu1-after==", "r11"), 1);
    // `pong` is CPU1's alone: both hits name thread 2 (the second after GDB stepped thread 2
    // over the breakpoint with the other thread held).
    let hit = format!("Thread 2 hit Breakpoint 1, {pong:#x}");
    assert_eq!(text.matches(&hit).count(), 2, "{hit:?} twice in:\n{text}");
    assert_eq!(register(&text, "==pong==", "pc"), pong);
    assert_eq!(register(&text, "==pong==", "r11"), 1);
    assert_eq!(register(&text, "==pong-again==", "pc"), pong);

    // Detached: both cores finish their work and CPU0 reports it.
    expect_detached_then(
        &mut emu,
        "SMP counter=001e8480 locked=00061a80 pings=000000c8 from=00000001",
    );
    assert!(emu.quit().success());
}

/// The `info threads` output between the session's markers lists exactly these threads.
fn assert_threads(text: &str, expected: &[&str]) {
    let threads = between(text, "==threads==", "==end-threads==");
    assert_eq!(
        threads.matches("Thread 1.").count(),
        expected.len(),
        "info threads:\n{threads}"
    );
    for thread in expected {
        assert!(threads.contains(thread), "info threads:\n{threads}");
    }
}

/// With `--smp 1` GDB sees one thread, CPU0.
#[test]
fn gdb_shows_one_thread_with_one_core() {
    let Some(gdb) = gdb_multiarch() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("ast-emu-gdb-one-{}", std::process::id()));
    let elf_path = scratch_elf(&dir, "hello.elf", bench_guests::HELLO);
    let (mut emu, port) = start_held_for_gdb(&["--elf", elf_path.to_str().unwrap(), "--smp", "1"]);
    let commands = "echo ==threads==\\n\n\
                    info threads\n\
                    echo ==end-threads==\\n\n\
                    stepi\n\
                    detach\n";
    let text = run_gdb_session(&gdb, "one-core", port, commands);
    let _ = std::fs::remove_dir_all(&dir);

    assert_threads(&text, &["Thread 1.1 (CPU0 mpidr=0x80000f00)"]);
    expect_detached_then(&mut emu, "Hello from a bare-metal ARM ELF");
    assert!(emu.quit().success());
}
