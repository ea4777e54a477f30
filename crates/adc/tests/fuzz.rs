//! Fuzz target for the ADC engine, each case on one of the two variants: arbitrary sequences of
//! MMIO reads and writes of any width at any offset (control, reference, battery, bounds and
//! hysteresis words mixed in), Linux `aspeed_adc.c` sequences (probe: reference selection,
//! trimming, enable and ready poll, compensation, channel enable; `in_voltageN_raw` reads;
//! interrupt acknowledges), the host setting channel inputs (on channels that exist and some
//! that do not) and the external reference, and resets.
//!
//! Checked after every operation: nothing panics, a read of N bytes fits in N bytes, each
//! operation returns within [`OP_BUDGET`], the interrupt output is at the level the state
//! implies (some channel with status and enable set), no register holds a bit for a channel the
//! variant lacks, every channel's data field reads its `reading` (0 unless the engine is
//! enabled in normal mode and the channel on, never above 1023), the probe's ready poll
//! succeeds at once and its compensation finds 0, and every queued threshold event names an
//! existing channel whose status bit is set. Cases: `PROPTEST_CASES` (256 by default) x
//! [`OPS`] operations; see docs/fuzzing.md.

use adc::*;
use bus::{Device, LevelRecorder};
use mmio_fuzz::*;
use proptest::prelude::*;

const NORMAL_ENABLE: u32 = (OP_MODE_NORMAL << CTRL_OP_MODE_SHIFT) | CTRL_ENGINE_ENABLE;

#[derive(Clone, Debug)]
enum Op {
    Read(u64, u8),
    Write(u64, u8, u64),
    /// The host sets a channel's input.
    SetMillivolts(usize, u32),
    /// The host sets the external reference pin.
    SetExternalVref(u32),
    /// Linux `aspeed_adc_probe` with this reference select (AST2600) and trimming value.
    Probe(u32, u32),
    /// Linux `in_voltageN_raw`: `readw` of the channel's half of its data word.
    ReadRaw(usize),
    /// Enable channel n's threshold interrupt with these bounds (lower, upper).
    Arm(usize, u32, u32),
    /// Acknowledge channel n's status bit (write 1, enables written back).
    Ack(usize),
    Reset,
}

fn op(variant: Variant) -> impl Strategy<Value = Op> {
    let magic = vec![
        u64::from(NORMAL_ENABLE | CTRL_CHANNEL_MASK),
        u64::from(NORMAL_ENABLE | CTRL_COMPENSATION | (1 << CTRL_CHANNEL_SHIFT)),
        u64::from(NORMAL_ENABLE | CTRL_CHANNEL_MASK | CTRL_CH7_MODE | CTRL_BAT_SENSING_ENABLE),
        u64::from(NORMAL_ENABLE | CTRL_CHANNEL_MASK | (REF_VOLTAGE_1200MV << 6)),
        u64::from(NORMAL_ENABLE | CTRL_CHANNEL_MASK | (REF_VOLTAGE_EXT_HIGH << 6)),
        u64::from(NORMAL_ENABLE | CTRL_CHANNEL_MASK | (REF_VOLTAGE_EXT_LOW << 6)),
        u64::from((OP_MODE_STANDBY << CTRL_OP_MODE_SHIFT) | CTRL_ENGINE_ENABLE),
        0xFFFF_0000,
        0xFFFF_FFFF,
        0x0000_FFFF,
        (800 << 16) | 100,
        u64::from(HYSTERESIS_ENABLE) | (700 << 16) | 200,
        8,
    ];
    let chans = variant.channels();
    let channel = 0..chans + 4;
    let mv = prop_oneof![4 => 0u32..3000, 1 => any::<u32>()];
    let bound = prop_oneof![3 => 0u32..1024, 1 => any::<u32>()];
    prop_oneof![
        8 => (offset(REGS_SIZE), width()).prop_map(|(o, w)| Op::Read(o, w)),
        10 => (offset(REGS_SIZE), width(), value(magic)).prop_map(|(o, w, v)| Op::Write(o, w, v)),
        10 => (channel.clone(), mv).prop_map(|(c, v)| Op::SetMillivolts(c, v)),
        2 => prop_oneof![3 => 0u32..3000, 1 => any::<u32>()].prop_map(Op::SetExternalVref),
        2 => (0u32..4, 0u32..16).prop_map(|(r, t)| Op::Probe(r, t)),
        5 => channel.clone().prop_map(Op::ReadRaw),
        4 => (channel.clone(), bound.clone(), bound).prop_map(|(c, l, u)| Op::Arm(c, l, u)),
        3 => channel.prop_map(Op::Ack),
        1 => Just(Op::Reset),
    ]
}

fn variant() -> impl Strategy<Value = Variant> {
    prop::sample::select(vec![Variant::Ast2600, Variant::Ast2500])
}

fn readl(adc: &mut AspeedAdc, off: u64) -> u32 {
    adc.read(off, 4) as u32
}

fn writel(adc: &mut AspeedAdc, off: u64, v: u32) {
    adc.write(off, 4, u64::from(v))
}

/// Linux `aspeed_adc_probe`; returns the reads the ready poll took and the compensating value.
fn probe(adc: &mut AspeedAdc, variant: Variant, sel: u32, trim: u32) -> (u32, i32) {
    if variant == Variant::Ast2600 {
        let ctrl = readl(adc, REG_ENGINE_CONTROL);
        writel(
            adc,
            REG_ENGINE_CONTROL,
            ctrl | (sel << CTRL_REF_VOLTAGE_SHIFT),
        );
    }
    writel(adc, REG_COMPENSATION_TRIM, trim);
    let ctrl = readl(adc, REG_ENGINE_CONTROL) | NORMAL_ENABLE;
    writel(adc, REG_ENGINE_CONTROL, ctrl);
    let mut polls = 0;
    while polls < 1000 {
        polls += 1;
        if readl(adc, REG_ENGINE_CONTROL) & CTRL_INIT_RDY != 0 {
            break;
        }
    }
    let ctrl = (readl(adc, REG_ENGINE_CONTROL) & !CTRL_OP_MODE_MASK) | NORMAL_ENABLE;
    writel(
        adc,
        REG_ENGINE_CONTROL,
        ctrl | CTRL_COMPENSATION | (1 << CTRL_CHANNEL_SHIFT),
    );
    let sum: u32 = (0..16).map(|_| adc.read(REG_DATA_BASE, 2) as u32).sum();
    writel(adc, REG_ENGINE_CONTROL, ctrl);
    let ctrl = readl(adc, REG_ENGINE_CONTROL) | CTRL_CHANNEL_MASK;
    writel(adc, REG_ENGINE_CONTROL, ctrl);
    (polls, 512 - (sum >> 4) as i32)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn adc_survives_arbitrary_mmio_and_inputs(
        (variant, ops) in variant().prop_flat_map(|v| (Just(v), prop::collection::vec(op(v), OPS)))
    ) {
        let rec = LevelRecorder::new();
        let mut adc = AspeedAdc::new(variant, rec.line(0));
        let n = variant.channels();
        let chans = variant.channel_mask();
        for op in &ops {
            match *op {
                Op::Read(offset, size) => {
                    let v = timed(op, || adc.read(offset, size))?;
                    prop_assert!(read_fits(v, size), "{:?} returned {:#x}", op, v);
                }
                Op::Write(offset, size, value) => timed(op, || adc.write(offset, size, value))?,
                Op::SetMillivolts(ch, mv) => {
                    let ok = timed(op, || adc.set_millivolts(ch, mv))?;
                    prop_assert_eq!(ok, ch < n);
                    prop_assert_eq!(adc.millivolts(ch), (ch < n).then_some(mv));
                }
                Op::SetExternalVref(mv) => {
                    let ok = timed(op, || adc.set_external_vref_mv(mv))?;
                    prop_assert_eq!(ok, mv != 0 && variant == Variant::Ast2600);
                }
                Op::Probe(sel, trim) => {
                    let (polls, cv) = timed(op, || probe(&mut adc, variant, sel, trim))?;
                    prop_assert_eq!(polls, 1, "INIT_RDY at the first poll");
                    prop_assert_eq!(cv, 0, "compensation reads half scale");
                    prop_assert_eq!(readl(&mut adc, REG_COMPENSATION_TRIM), trim & TRIM_MASK);
                }
                Op::ReadRaw(ch) => {
                    let off = REG_DATA_BASE + 2 * ch as u64;
                    let v = timed(op, || adc.read(off, 2))?;
                    if ch < n {
                        prop_assert_eq!(Some(v as u16), adc.reading(ch));
                    }
                }
                Op::Arm(ch, lower, upper) => {
                    if ch < n {
                        let off = REG_BOUNDS_BASE + 4 * ch as u64;
                        timed(op, || writel(&mut adc, off, (upper << 16) | lower))?;
                        let ic = readl(&mut adc, REG_INTERRUPT_CONTROL) & !INT_STATUS_MASK;
                        timed(op, || writel(&mut adc, REG_INTERRUPT_CONTROL, ic | (1 << (16 + ch))))?;
                        prop_assert_eq!(readl(&mut adc, off), ((upper << 16) | lower) & LH_MASK);
                    }
                }
                Op::Ack(ch) => {
                    let ic = readl(&mut adc, REG_INTERRUPT_CONTROL) & !INT_STATUS_MASK;
                    let bit = 1u32.checked_shl(ch as u32).unwrap_or(0) & 0xFFFF;
                    timed(op, || writel(&mut adc, REG_INTERRUPT_CONTROL, ic | bit))?;
                }
                Op::Reset => timed(op, || adc.reset())?,
            }

            let s = adc.state();
            prop_assert_eq!(rec.level(0), adc.irq_pending(), "interrupt line after {:?}", op);
            prop_assert_eq!(
                adc.irq_pending(),
                s.interrupt_control & (s.interrupt_control >> 16) & 0xFFFF != 0
            );
            prop_assert_eq!(s.interrupt_control & !(chans | (chans << 16)), 0, "after {:?}", op);
            prop_assert_eq!(s.engine_control & CTRL_CHANNEL_MASK & !(chans << 16), 0);
            prop_assert_eq!(s.engine_control & (CTRL_INIT_RDY | CTRL_AUTO_COMPENSATION), 0);
            prop_assert_eq!(s.tripped & !chans, 0);
            prop_assert_eq!(s.interrupt_source & !chans, 0);
            prop_assert!(s.millivolts[n..].iter().all(|&mv| mv == 0));
            let ctrl = readl(&mut adc, REG_ENGINE_CONTROL);
            prop_assert_eq!(ctrl & CTRL_INIT_RDY != 0, ctrl & CTRL_ENGINE_ENABLE != 0);
            for ch in 0..n {
                let reading = adc.reading(ch).unwrap();
                prop_assert!(reading <= MAX_RAW);
                if ctrl & CTRL_ENGINE_ENABLE == 0 {
                    prop_assert_eq!(reading, 0);
                }
                let word = readl(&mut adc, REG_DATA_BASE + 4 * (ch as u64 / 2));
                let field = (word >> (16 * (ch as u32 % 2))) & 0x3FF;
                prop_assert_eq!(field, u32::from(reading), "channel {} after {:?}", ch, op);
                prop_assert!(adc.raw(ch).unwrap() <= MAX_RAW);
            }
            prop_assert_eq!(adc.reading(n), None);
            // Operations of several register writes may trip a channel and then clear its
            // status or stop it converting; the host's single changes and Arm may not.
            let single = matches!(op, Op::SetMillivolts(..) | Op::SetExternalVref(_) | Op::Arm(..));
            for ev in adc.take_threshold_events() {
                prop_assert!(ev.channel < n, "{:?}", ev);
                prop_assert!(ev.raw <= MAX_RAW);
                if single {
                    let bit = 1 << ev.channel;
                    prop_assert!(s.interrupt_control & bit != 0, "{:?} after {:?}", ev, op);
                    prop_assert!(s.tripped & bit != 0, "{:?} after {:?}", ev, op);
                    prop_assert_eq!(ev.above, u32::from(ev.raw) > (s.bounds[ev.channel] >> 16) & 0x3FF);
                }
            }
        }
    }
}
