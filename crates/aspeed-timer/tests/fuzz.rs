//! Fuzz target for the timer block: arbitrary sequences of MMIO reads and writes of any width
//! at any offset, interleaved with a [`ManualClock`] advanced by arbitrary amounts and the
//! SoC's deadline delivery (`next_deadline` / `on_time`), at several clock rates, and resets.
//!
//! Checked after every operation: nothing panics, a read of N bytes fits in N bytes, each
//! operation returns within [`OP_BUDGET`] (a hang fails the case through proptest's per-case
//! timeout), each channel's interrupt line is at the level of its status bit (AST2600) or of
//! its toggled level bit (AST2500; both generations are fuzzed), and once due
//! events are delivered the next deadline lies in the future: a deadline that stays at or
//! before `now` would make the SoC's idle loop spin forever. Virtual time stays below 2^63 ns
//! (292 years). Cases: `PROPTEST_CASES` (256 by default) x [`OPS`] operations; see
//! docs/fuzzing.md.

use std::rc::Rc;

use aspeed_timer::*;
use bus::{Clock, Device, LevelRecorder, ManualClock};
use mmio_fuzz::*;
use proptest::prelude::*;

// ---- the timer block ----

#[derive(Clone, Debug)]
enum Op {
    Read(u64, u8),
    Write(u64, u8, u64),
    /// Moves virtual time forward by this many ns.
    Advance(u64),
    /// What the SoC does: `on_time(now)` if the device's deadline has come.
    Deliver,
    Reset,
}

fn op() -> impl Strategy<Value = Op> {
    let magic = vec![
        0xFFFF_FFFF,
        0x1111_1111,
        0x5555_5555,
        0x7777_7777,
        1,
        2,
        0x0000_0005,
        // AST2500 control register 3 commands, in QEMU's bits 8:1 and as plain bytes.
        u64::from(CTRL3_CMD_ENABLE_CLEAR << CTRL3_CMD_SHIFT),
        u64::from(CTRL3_CMD_DISABLE_CLEAR << CTRL3_CMD_SHIFT),
        u64::from(CTRL3_CMD_ENABLE_CLEAR),
        u64::from(CTRL3_CMD_DISABLE_CLEAR),
    ];
    prop_oneof![
        8 => (offset(0x100), width()).prop_map(|(o, w)| Op::Read(o, w)),
        10 => (offset(0x100), width(), value(magic)).prop_map(|(o, w, v)| Op::Write(o, w, v)),
        5 => advance().prop_map(Op::Advance),
        5 => Just(Op::Deliver),
        1 => Just(Op::Reset),
    ]
}

fn rate() -> impl Strategy<Value = u64> {
    prop::sample::select(vec![
        0u64,
        1,
        1_000_000,
        50_000_000,
        200_000_000,
        1_000_000_000,
        u64::from(u32::MAX),
    ])
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn timer_survives_arbitrary_mmio_and_time(
        external_hz in rate(),
        apb_hz in rate(),
        ast2500 in any::<bool>(),
        ops in prop::collection::vec(op(), OPS),
    ) {
        let clock = Rc::new(ManualClock::new());
        let rec = LevelRecorder::new();
        let irqs = std::array::from_fn(|n| rec.line(n as u32));
        let variant = if ast2500 { Variant::Ast2500 } else { Variant::Ast2600 };
        let mut timer =
            AspeedTimer::new(clock.clone(), external_hz, apb_hz, irqs).with_variant(variant);
        for op in &ops {
            match *op {
                Op::Read(offset, size) => {
                    let v = timed(op, || timer.read(offset, size))?;
                    prop_assert!(read_fits(v, size), "{:?} returned {:#x}", op, v);
                }
                Op::Write(offset, size, value) => timed(op, || timer.write(offset, size, value))?,
                Op::Advance(ns) => clock.set(clock.now_ns().saturating_add(ns).min(END_OF_TIME)),
                Op::Deliver => {
                    let now = clock.now_ns();
                    let due = timed(op, || timer.next_deadline())?.is_some_and(|d| d <= now);
                    if due {
                        timed(op, || timer.on_time(now))?;
                        let next = timed(op, || timer.next_deadline())?;
                        prop_assert!(
                            next.is_none_or(|d| d > now),
                            "deadline {:?} still due at {} after on_time", next, now
                        );
                    }
                }
                Op::Reset => timed(op, || timer.reset())?,
            }
            let state = timer.state();
            prop_assert_eq!(state.variant, variant);
            let levels = if ast2500 { state.irq_levels } else { state.irq_status };
            prop_assert_eq!(if ast2500 { state.irq_status } else { state.irq_levels }, 0);
            for n in 0..CHANNELS {
                prop_assert_eq!(
                    rec.level(n as u32), levels & (1 << n) != 0,
                    "channel {} line vs levels {:#x} after {:?}", n, levels, op
                );
            }
        }
    }
}

/// Found by the fuzzer: with a clock faster than 1 GHz, more ticks than a u64 holds had
/// passed since the channel's anchor after 2^63 ns, `ticks_done` saturated, and the next
/// deadline stayed in the past after `on_time`: the SoC's idle loop would have spun forever.
#[test]
fn deadline_moves_past_now_after_more_than_u64_max_ticks() {
    let clock = Rc::new(ManualClock::new());
    let rec = LevelRecorder::new();
    let irqs = std::array::from_fn(|n| rec.line(n as u32));
    let mut timer = AspeedTimer::new(clock.clone(), u64::from(u32::MAX), 0, irqs);
    timer.write(CHANNEL_RELOAD, 4, 1000);
    timer.write(
        REG_CTRL,
        4,
        u64::from(CTRL_ENABLE | CTRL_EXTERNAL_CLOCK | CTRL_INTERRUPT),
    );
    let now = END_OF_TIME;
    clock.set(now);
    let due = timer
        .next_deadline()
        .expect("an enabled channel with a reload has a deadline");
    assert!(due <= now);
    timer.on_time(now);
    assert!(rec.level(0), "the event was delivered");
    let next = timer.next_deadline().expect("the channel keeps counting");
    assert!(next > now, "next deadline {next} is not after {now}");
    // And it keeps working from there.
    timer.write(REG_IRQ_STATUS, 4, 1);
    clock.set(next);
    timer.on_time(next);
    assert!(rec.level(0));
    assert!(timer.next_deadline().is_some_and(|d| d > next));
}
