//! Fuzz target for the GICv2: arbitrary sequences of distributor and CPU interface reads and
//! writes of any width at any offset, for any current CPU, mixed with interrupt input lines
//! (SPIs and PPIs, valid and invalid IDs) going up and down, acknowledges and EOIs, and resets.
//! Half of the cases start from the configuration a driver sets up (both groups enabled,
//! every interrupt enabled, a priority mask that lets them through) so interrupts do flow.
//!
//! Checked after every operation: nothing panics, a read of N bytes fits in N bytes, each
//! operation returns within [`OP_BUDGET`] (a hang fails the case through proptest's per-case
//! timeout), each CPU's IRQ and FIQ lines are at the levels the GIC reports
//! (`output_levels`), never both high, and are driven only when their level changes. Cases:
//! `PROPTEST_CASES` (256 by default) x [`OPS`] operations; see docs/fuzzing.md.

use bus::{Device, LevelRecorder};
use gic::registers::*;
use gic::{Gic, GicOutputs, GICC_SIZE, GICD_SIZE};
use mmio_fuzz::*;
use proptest::prelude::*;

// ---- the GIC ----

#[derive(Clone, Debug)]
enum Op {
    DistRead(u64, u8),
    DistWrite(u64, u8, u64),
    CpuRead(u64, u8),
    CpuWrite(u64, u8, u64),
    /// `Gic::set_current_cpu` (numbers past the last CPU included).
    SetCpu(usize),
    /// An SPI input (any ID, valid or not).
    Spi(u32, bool),
    /// A PPI input of a CPU (any ID and CPU, valid or not).
    Ppi(usize, u32, bool),
    /// Read GICC_IAR, then write the value back to GICC_EOIR: a driver's interrupt handler.
    AckEoi,
    Reset,
}

fn interrupt_id() -> impl Strategy<Value = u32> {
    prop_oneof![4 => 0u32..288, 1 => any::<u32>(), 1 => 1016u32..1030]
}

fn op() -> impl Strategy<Value = Op> {
    let magic = vec![
        3,
        0xFFFF_FFFF,
        0xA0A0_A0A0,
        0x0101_0101,
        0x5555_5555,
        0xF0,
        u64::from(GICC_CTLR_MASK),
        u64::from(GICC_CTLR_EOI_MODE | GICC_CTLR_FIQ_EN | 3),
        u64::from(0x3u32 << GICD_SGIR_TARGET_LIST_SHIFT | 1),
        u64::from(SGIR_FILTER_OTHERS << GICD_SGIR_FILTER_SHIFT | 2),
        u64::from(SGIR_FILTER_SELF << GICD_SGIR_FILTER_SHIFT | 15),
        35,
        1023,
    ];
    prop_oneof![
        6 => (offset(GICD_SIZE), width()).prop_map(|(o, w)| Op::DistRead(o, w)),
        8 => (offset(GICD_SIZE), width(), value(magic.clone())).prop_map(|(o, w, v)| Op::DistWrite(o, w, v)),
        6 => (offset(GICC_SIZE), width()).prop_map(|(o, w)| Op::CpuRead(o, w)),
        6 => (offset(GICC_SIZE), width(), value(magic)).prop_map(|(o, w, v)| Op::CpuWrite(o, w, v)),
        2 => (0usize..3).prop_map(Op::SetCpu),
        6 => (interrupt_id(), any::<bool>()).prop_map(|(id, l)| Op::Spi(id, l)),
        3 => (0usize..3, interrupt_id(), any::<bool>()).prop_map(|(c, id, l)| Op::Ppi(c, id, l)),
        4 => Just(Op::AckEoi),
        1 => Just(Op::Reset),
    ]
}

/// What a driver writes before it expects interrupts: every ID enabled and let through.
fn driver_setup(gic: &Gic) {
    let mut d = gic.distributor();
    let mut c = gic.cpu_interface();
    d.write(GICD_CTLR, 4, 3);
    for n in 0..u64::from(gic.num_irqs() / 32) {
        d.write(GICD_ISENABLER + 4 * n, 4, 0xFFFF_FFFF);
    }
    for n in 0..u64::from(gic.num_irqs() / 4) {
        d.write(GICD_IPRIORITYR + 4 * n, 4, 0xA0A0_A0A0);
        d.write(GICD_ITARGETSR + 4 * n, 4, 0x0101_0101);
    }
    for cpu in 0..gic.num_cpus() {
        gic.set_current_cpu(cpu);
        c.write(GICC_PMR, 4, 0xF0);
        c.write(GICC_CTLR, 4, 3);
    }
    gic.set_current_cpu(0);
}

/// Checks every CPU's output lines against the levels the GIC reports; `seen` is how many
/// line changes were already checked for redundancy.
fn check_outputs(
    gic: &Gic,
    rec: &LevelRecorder,
    seen: &mut usize,
    op: &Op,
) -> Result<(), TestCaseError> {
    let changes = rec.changes();
    for &(line, level) in &changes[*seen..] {
        let before = changes[..*seen]
            .iter()
            .rev()
            .find(|c| c.0 == line)
            .map(|c| c.1);
        prop_assert!(
            before != Some(level),
            "line {} driven to {} twice, after {:?}",
            line,
            level,
            op
        );
        *seen += 1;
    }
    for cpu in 0..gic.num_cpus() {
        let (irq, fiq) = gic.output_levels(cpu);
        prop_assert_eq!(
            rec.level(2 * cpu as u32),
            irq,
            "CPU {} IRQ after {:?}",
            cpu,
            op
        );
        prop_assert_eq!(
            rec.level(2 * cpu as u32 + 1),
            fiq,
            "CPU {} FIQ after {:?}",
            cpu,
            op
        );
        prop_assert!(
            !(irq && fiq),
            "CPU {} has IRQ and FIQ both high after {:?}",
            cpu,
            op
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn gic_survives_arbitrary_mmio_and_lines(
        cpus in 1usize..=2,
        num_irqs in prop::sample::select(vec![32u32, 64, 256, 1020]),
        set_up in any::<bool>(),
        ops in prop::collection::vec(op(), OPS),
    ) {
        let rec = LevelRecorder::new();
        let outputs = (0..cpus as u32)
            .map(|n| GicOutputs { irq: rec.line(2 * n), fiq: rec.line(2 * n + 1) })
            .collect();
        let gic = Gic::new(num_irqs, outputs);
        let mut dist = gic.distributor();
        let mut cpu_if = gic.cpu_interface();
        if set_up {
            driver_setup(&gic);
        }
        // The construction drives every line once (low); later changes must all be edges.
        let mut seen = 2 * cpus;
        prop_assert_eq!(rec.changes().len(), seen);
        for op in &ops {
            match *op {
                Op::DistRead(offset, size) => {
                    let v = timed(op, || dist.read(offset, size))?;
                    prop_assert!(read_fits(v, size), "{:?} returned {:#x}", op, v);
                }
                Op::DistWrite(offset, size, value) => timed(op, || dist.write(offset, size, value))?,
                Op::CpuRead(offset, size) => {
                    let v = timed(op, || cpu_if.read(offset, size))?;
                    prop_assert!(read_fits(v, size), "{:?} returned {:#x}", op, v);
                }
                Op::CpuWrite(offset, size, value) => timed(op, || cpu_if.write(offset, size, value))?,
                Op::SetCpu(cpu) => timed(op, || gic.set_current_cpu(cpu))?,
                Op::Spi(id, level) => timed(op, || gic.set_irq(id, level))?,
                Op::Ppi(cpu, id, level) => timed(op, || gic.set_ppi(cpu, id, level))?,
                Op::AckEoi => timed(op, || {
                    let iar = cpu_if.read(GICC_IAR, 4);
                    cpu_if.write(GICC_EOIR, 4, iar);
                })?,
                Op::Reset => timed(op, || gic.reset())?,
            }
            check_outputs(&gic, &rec, &mut seen, op)?;
        }
    }
}
