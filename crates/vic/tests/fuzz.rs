//! Fuzz target for the VIC: arbitrary sequences of MMIO reads and writes of any width at any
//! offset (mostly the new register set at 0x80-0xE7, also the legacy window, the reserved
//! words and beyond), mixed with input lines (valid sources and ones that do not exist) going
//! up, down or toggling, resets, and replays of the Linux driver (`vic_init_hw`, unmask, and
//! the `avic_handle_irq` loop with `handle_edge_irq` / `handle_level_irq` acknowledges).
//!
//! Checked after every operation: nothing panics, a read of N bytes fits in N bytes, each
//! operation returns within [`OP_BUDGET`], the IRQ status reads raw & enable & !select and
//! the FIQ status raw & enable & select (word by word, through MMIO), the IRQ and FIQ lines
//! are at the levels of those statuses and of `output_levels`, and are driven only when their
//! level changes; high words keep only sources 32-50; write-only registers read zero; sense
//! and dual edge keep their reset values and event changes only for sources 47-50; edge
//! latches are only on edge sources; level sources follow their line at the event polarity;
//! an input edge the source is sensitive to latches, other input changes latch nothing;
//! reads change nothing; the Linux handler loop ends with nothing pending. Cases:
//! `PROPTEST_CASES` (256 by default) x [`OPS`] operations; see docs/fuzzing.md.

use bus::{Device, LevelRecorder};
use mmio_fuzz::*;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use vic::*;

#[derive(Clone, Debug)]
enum Op {
    Read(u64, u8),
    Write(u64, u8, u64),
    /// An input line to a level (any source number, valid or not).
    Input(u32, bool),
    /// An input line to the other level.
    Toggle(u32),
    Reset,
    /// Linux `vic_init_hw`.
    LinuxInit,
    /// Linux `avic_unmask_irq` of a source.
    LinuxUnmask(u32),
    /// Linux `avic_handle_irq`: take the lowest pending source, acknowledge it as its flow
    /// handler does (edge clear for edge sources, mask for level ones), until none is left.
    LinuxHandle,
}

/// Offsets of the new register set, both words, aligned or not.
fn new_offset() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => (0..(NEW_END - NEW_BASE) / 4).prop_map(|w| NEW_BASE + w * 4),
        1 => NEW_BASE..NEW_END,
    ]
}

fn any_offset() -> impl Strategy<Value = u64> {
    prop_oneof![3 => new_offset(), 1 => offset(REGS_SIZE)]
}

fn source() -> impl Strategy<Value = u32> {
    prop_oneof![8 => 0..NUM_SOURCES, 1 => NUM_SOURCES..70, 1 => any::<u32>()]
}

fn op() -> impl Strategy<Value = Op> {
    let magic = vec![
        0xFFFF_FFFF,
        u64::from(HIGH_WORD_MASK),
        RESET_SENSE,
        RESET_DUAL_EDGE,
        RESET_EVENT,
        EVENT_WRITABLE >> 32,
        0x0007_0000,
        0xF8,
        0x1F07,
        0x5F07,
        0xFFF8_FFFF,
        1 << 9,
        1 << 16,
    ];
    prop_oneof![
        6 => (any_offset(), width()).prop_map(|(o, w)| Op::Read(o, w)),
        8 => (any_offset(), width(), value(magic)).prop_map(|(o, w, v)| Op::Write(o, w, v)),
        8 => (source(), any::<bool>()).prop_map(|(n, l)| Op::Input(n, l)),
        4 => source().prop_map(Op::Toggle),
        1 => Just(Op::Reset),
        1 => Just(Op::LinuxInit),
        3 => (0..NUM_SOURCES).prop_map(Op::LinuxUnmask),
        3 => Just(Op::LinuxHandle),
    ]
}

fn rd(dev: &mut impl Device, off: u64) -> u32 {
    dev.read(off, 4) as u32
}

fn pair(dev: &mut impl Device, off: u64) -> u64 {
    u64::from(rd(dev, off)) | u64::from(rd(dev, off + HIGH_WORD)) << 32
}

fn bit_write(dev: &mut impl Device, reg: u64, n: u32) {
    dev.write(reg + u64::from(n >> 5) * 4, 4, 1 << (n & 31));
}

/// The `avic_handle_irq` loop; returns how many interrupts it handled.
fn linux_handle(dev: &mut impl Device) -> Result<usize, TestCaseError> {
    let edge = !pair(dev, REG_INT_SENSE);
    for handled in 0..=2 * NUM_SOURCES as usize {
        let mut stat = rd(dev, REG_IRQ_STATUS);
        let mut irq = 0;
        if stat == 0 {
            stat = rd(dev, REG_IRQ_STATUS + HIGH_WORD);
            irq = 32;
        }
        if stat == 0 {
            return Ok(handled);
        }
        let n = irq + stat.trailing_zeros();
        prop_assert!(n < NUM_SOURCES, "pending source {} does not exist", n);
        if edge & (1 << n) != 0 {
            // handle_edge_irq: irq_ack.
            bit_write(dev, REG_EDGE_CLR, n);
            // A software trigger outlives the ack: the handler's device would be asked, and
            // Linux never sets triggers; mask it so the loop ends.
            if pair(dev, REG_IRQ_STATUS) & (1 << n) != 0 {
                bit_write(dev, REG_INT_ENABLE_CLR, n);
            }
        } else {
            // handle_level_irq: irq_mask_ack.
            bit_write(dev, REG_INT_ENABLE_CLR, n);
        }
        prop_assert_eq!(
            pair(dev, REG_IRQ_STATUS) & (1 << n),
            0,
            "source {} still pending",
            n
        );
    }
    Err(TestCaseError::fail("avic_handle_irq did not finish"))
}

fn linux_init(dev: &mut impl Device) {
    for off in [0, HIGH_WORD] {
        dev.write(REG_INT_ENABLE_CLR + off, 4, 0xffff_ffff);
        dev.write(REG_INT_TRIGGER_CLR + off, 4, 0xffff_ffff);
        dev.write(REG_INT_SELECT + off, 4, 0);
        dev.read(REG_INT_SENSE + off, 4);
        dev.write(REG_EDGE_CLR + off, 4, 0xffff_ffff);
    }
}

/// Checks the output lines against the statuses; `seen` is how many line changes were
/// already checked for redundancy.
fn check(
    vic: &Vic,
    regs: &mut VicRegisters,
    rec: &LevelRecorder,
    seen: &mut usize,
    levels: u64,
    op: &Op,
) -> Result<(), TestCaseError> {
    let changes = rec.changes();
    for &(line, level) in &changes[*seen..] {
        let before = changes[..*seen]
            .iter()
            .rev()
            .find(|c| c.0 == line)
            .map_or(Some(false), |c| Some(c.1));
        prop_assert!(
            before != Some(level),
            "line {} driven to {} twice, after {:?}",
            line,
            level,
            op
        );
        *seen += 1;
    }
    let raw = pair(regs, REG_RAW_STATUS);
    let enable = pair(regs, REG_INT_ENABLE);
    let select = pair(regs, REG_INT_SELECT);
    let irq = pair(regs, REG_IRQ_STATUS);
    let fiq = pair(regs, REG_FIQ_STATUS);
    prop_assert_eq!(irq, raw & enable & !select, "IRQ status after {:?}", op);
    prop_assert_eq!(fiq, raw & enable & select, "FIQ status after {:?}", op);
    prop_assert_eq!(rec.level(0), irq != 0, "IRQ line after {:?}", op);
    prop_assert_eq!(rec.level(1), fiq != 0, "FIQ line after {:?}", op);
    prop_assert_eq!(vic.output_levels(), (irq != 0, fiq != 0));
    for reg in [
        REG_RAW_STATUS,
        REG_INT_ENABLE,
        REG_INT_SELECT,
        REG_INT_TRIGGER,
        REG_INT_EVENT,
        REG_EDGE_STATUS,
    ] {
        prop_assert_eq!(
            rd(regs, reg + HIGH_WORD) & !HIGH_WORD_MASK,
            0,
            "high word of {:#x}",
            reg
        );
    }
    for reg in [REG_INT_ENABLE_CLR, REG_INT_TRIGGER_CLR, REG_EDGE_CLR] {
        prop_assert_eq!(pair(regs, reg), 0, "write-only {:#x} read back", reg);
    }
    let sense = pair(regs, REG_INT_SENSE);
    let event = pair(regs, REG_INT_EVENT);
    prop_assert_eq!(sense, RESET_SENSE);
    prop_assert_eq!(pair(regs, REG_INT_DUAL_EDGE), RESET_DUAL_EDGE);
    prop_assert_eq!(event & !EVENT_WRITABLE, RESET_EVENT & !EVENT_WRITABLE);
    let edges = pair(regs, REG_EDGE_STATUS);
    prop_assert_eq!(edges & sense, 0, "edge latch on a level source");
    prop_assert_eq!(edges & !raw, 0, "edge latch not in the raw status");
    let trigger = pair(regs, REG_INT_TRIGGER);
    prop_assert_eq!(trigger & !raw, 0, "software trigger not in the raw status");
    let s = vic.state();
    prop_assert_eq!(s.level, levels, "input levels after {:?}", op);
    let level_active = sense & !(levels ^ event);
    prop_assert_eq!(
        raw & sense & !trigger,
        level_active & !trigger,
        "level sources after {:?}",
        op
    );
    prop_assert_eq!(raw & !sense, (edges | trigger) & !sense);
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn vic_survives_arbitrary_mmio_and_lines(
        set_up in any::<bool>(),
        ops in prop::collection::vec(op(), OPS),
    ) {
        let rec = LevelRecorder::new();
        let vic = Vic::new(rec.line(0), rec.line(1));
        let mut regs = vic.registers();
        // The construction drives both lines once (low); later changes must all be edges.
        let mut seen = 2;
        prop_assert_eq!(rec.changes(), vec![(0, false), (1, false)]);
        if set_up {
            linux_init(&mut regs);
            regs.write(REG_INT_ENABLE, 8, u64::MAX);
        }
        let mut levels = 0u64;
        for op in &ops {
            let before = vic.state();
            match *op {
                Op::Read(offset, size) => {
                    let v = timed(op, || regs.read(offset, size))?;
                    prop_assert!(read_fits(v, size), "{:?} returned {:#x}", op, v);
                    prop_assert_eq!(vic.state(), before, "{:?} changed the state", op);
                }
                Op::Write(offset, size, value) => timed(op, || regs.write(offset, size, value))?,
                Op::Input(..) | Op::Toggle(_) => {
                    let (n, level) = match *op {
                        Op::Input(n, level) => (n, level),
                        Op::Toggle(n) => (n, n >= NUM_SOURCES || levels & (1 << n) == 0),
                        _ => unreachable!(),
                    };
                    timed(op, || vic.set_irq(n, level))?;
                    let after = vic.state();
                    if n < NUM_SOURCES {
                        let bit = 1u64 << n;
                        let old = levels & bit != 0;
                        levels = if level { levels | bit } else { levels & !bit };
                        let edge_source = before.sense & bit == 0;
                        let sensitive = before.dual_edge & bit != 0 || (before.event & bit != 0) == level;
                        if edge_source && old != level && sensitive {
                            prop_assert_eq!(after.edge_latch, before.edge_latch | bit, "{:?}", op);
                        } else {
                            prop_assert_eq!(after.edge_latch, before.edge_latch, "{:?}", op);
                        }
                    } else {
                        prop_assert_eq!(after, before, "{:?} of a source that does not exist", op);
                    }
                }
                Op::Reset => {
                    timed(op, || vic.reset())?;
                    let s = vic.state();
                    prop_assert_eq!((s.enable, s.select, s.trigger, s.edge_latch), (0, 0, 0, 0));
                    prop_assert_eq!(s.event, RESET_EVENT);
                }
                Op::LinuxInit => {
                    timed(op, || linux_init(&mut regs))?;
                    let s = vic.state();
                    prop_assert_eq!((s.enable, s.select, s.trigger, s.edge_latch), (0, 0, 0, 0));
                }
                Op::LinuxUnmask(n) => {
                    timed(op, || bit_write(&mut regs, REG_INT_ENABLE, n))?;
                    prop_assert_eq!(vic.state().enable, before.enable | 1 << n);
                }
                Op::LinuxHandle => {
                    timed(op, || linux_handle(&mut regs))??;
                    prop_assert!(!rec.level(0), "IRQ still high after the handler");
                }
            }
            check(&vic, &mut regs, &rec, &mut seen, levels, op)?;
        }
    }
}
