//! `--trace`: what the guest touches, written to the log file.

mod support;

use support::Emulator;

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
    let mut emu = Emulator::start(&["--trace", "mmio=uart9"]);
    let status = emu.wait();
    assert_eq!(status.code(), Some(2));
    let out = emu.transcript();
    assert!(out.contains("no device called \"uart9\""), "{out}");
    assert!(out.contains("uart5"), "the error lists the devices: {out}");
}
