//! `--trace`: what the guest touches, written to the log file.

mod support;

use support::{have, Emulator};

#[test]
fn traces_show_uart_thr_writes_interrupt_changes_and_unimplemented_registers() {
    let dir = std::env::temp_dir().join(format!("ast-emu-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("trace.log");
    let mut emu = Emulator::start(&[
        "--trace",
        "mmio=uart5",
        "--trace",
        "irq",
        "--trace",
        "unimp",
        "--log-file",
        log.to_str().unwrap(),
    ]);
    emu.expect("U-Boot");
    emu.expect("AST-EMU-READY");
    emu.quit();
    let text = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let lines: Vec<&str> = text.lines().collect();
    // u-boot's banner went out through THR (offset 0): "U" is 0x55.
    assert!(
        lines
            .iter()
            .any(|l| l.contains("trace::mmio") && l.contains("uart5 write 0x0000 = 0x55 (")),
        "no THR write of 'U' in {} lines",
        lines.len()
    );
    // Every MMIO line names the instruction: a PC in the boot flash, SRAM or DRAM.
    let mmio: Vec<&&str> = lines.iter().filter(|l| l.contains("trace::mmio")).collect();
    assert!(
        mmio.len() > 100,
        "only {} uart5 accesses traced",
        mmio.len()
    );
    assert!(mmio.iter().all(|l| l.contains(" pc=0x")));
    // Interrupts: the kernel's timer (PPI 29) and the console UART (SPI 8) went up and down.
    for line in [
        "gic 29 (ppi/sgi) raised",
        "gic 40 (spi 8 uart5) raised",
        "cpu0 IRQ lowered",
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.contains("trace::irq") && l.contains(line)),
            "no {line:?} in the irq trace"
        );
    }
    // Unimplemented registers are reported, each once.
    let unimp: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("unimplemented register") || l.contains("unmodelled register"))
        .collect();
    assert!(!unimp.is_empty(), "no unimplemented register reported");
    let unique: std::collections::HashSet<_> =
        unimp.iter().map(|l| l.split_once(']').unwrap().1).collect();
    assert_eq!(unique.len(), unimp.len(), "a register was reported twice");
}

#[test]
fn an_unknown_trace_device_is_a_clear_error() {
    let mut emu = Emulator::start(&["--trace", "mmio=uart14"]);
    let status = emu.wait();
    assert_eq!(status.code(), Some(2));
    let out = emu.transcript();
    assert!(out.contains("no device called \"uart14\""), "{out}");
    assert!(out.contains("uart5"), "the error lists the devices: {out}");
}

#[test]
fn timeline_reports_boot_milestones_in_order_and_where_the_time_went() {
    let mut emu = Emulator::start(&["--timeline"]);
    emu.expect("AST-EMU-READY");
    emu.expect("login:");
    emu.send("\x01x");
    emu.expect("skipped while idle");
    assert!(emu.wait().success());
    let out = emu.transcript();
    let report = &out[out.rfind("timeline ").expect("no timeline report")..];
    let row = |label: &str| -> (f64, f64) {
        let line = report
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap_or_else(|| panic!("no {label:?} row in:\n{report}"));
        let nums: Vec<f64> = line
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        (nums[nums.len() - 2], nums[nums.len() - 1])
    };
    let order = [
        "u-boot banner",
        "Starting kernel",
        "Linux version",
        "ready line",
        "login prompt",
        "exit",
    ];
    let rows: Vec<(f64, f64)> = order.iter().map(|l| row(l)).collect();
    for pair in rows.windows(2) {
        assert!(pair[0].0 <= pair[1].0, "wall times out of order:\n{report}");
        assert!(
            pair[0].1 <= pair[1].1,
            "virtual times out of order:\n{report}"
        );
    }
    // The kernel's sleeps were skipped: virtual time ran ahead of the wall clock.
    let (wall, virt) = rows[rows.len() - 1];
    assert!(virt > wall, "no idle time skipped:\n{report}");
    assert!(report.contains("MMIO accesses at"), "{report}");
    assert!(report.contains("skipped while idle"), "{report}");
}

/// Seconds of busy waits skipped, from the timeline's "..., 2.030 s in busy waits" line.
fn busy_wait_seconds(line: &str) -> f64 {
    line.rsplit_once(", ")
        .and_then(|(_, tail)| tail.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no busy-wait figure in {line:?}"))
}

/// With a script at the console (stdin a pipe), `--skip-busy-waits` is `auto` = on by default.
#[test]
fn a_scripted_console_skips_busy_waits_by_default_and_still_boots() {
    let mut emu = Emulator::start(&["--timeline"]);
    emu.expect("Hit any key to stop autoboot");
    emu.expect("Starting kernel");
    emu.expect("AST-EMU-READY");
    emu.expect("login:");
    emu.send("\x01x");
    let line = emu.expect("in busy waits");
    assert!(emu.wait().success());
    // u-boot's 2 s countdown polls the counter.
    let skipped = busy_wait_seconds(&line);
    assert!(skipped >= 1.0, "only {skipped} s of busy waits skipped");
}

/// `--skip-busy-waits=off`: the countdown takes its virtual seconds.
#[test]
fn busy_waits_take_their_time_when_skipping_is_off() {
    let mut emu = Emulator::start(&["--timeline", "--skip-busy-waits=off"]);
    // The countdown's second step (" 2", backspaces, " 1"): a second of it has passed.
    emu.expect("Hit any key to stop autoboot:  2 \u{8}\u{8}\u{8} 1");
    emu.send("\x01x");
    let line = emu.expect("in busy waits");
    assert!(emu.wait().success());
    assert_eq!(busy_wait_seconds(&line), 0.0, "{line}");
}

/// A terminal on stdin is a person who may want to stop autoboot: `auto` keeps the countdown
/// (the guest polling the console for a key) in real time and skips only the busy waits
/// before it (u-boot's early delays: a fraction of a second).
#[test]
fn a_terminal_at_the_console_gets_the_countdown_in_real_time() {
    if !have("script") {
        eprintln!("SKIPPED: no `script` (util-linux) to give the emulator a terminal");
        return;
    }
    // script(1) runs the emulator on a new pseudo-terminal and copies our pipe to it.
    let mut emu = Emulator::start_wrapped(
        &["sh", "-c", "exec script -qfec \"$0 $*\" /dev/null"],
        &["--timeline"],
    );
    emu.expect("Hit any key to stop autoboot:  2 \u{8}\u{8}\u{8} 1");
    emu.send("\x01x");
    let line = emu.expect("in busy waits");
    assert!(emu.wait().success());
    // A second of the countdown has passed; it was not skipped.
    let skipped = busy_wait_seconds(&line);
    assert!(skipped < 0.5, "the countdown was skipped: {line}");
}
