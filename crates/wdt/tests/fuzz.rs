//! Fuzz target for the watchdog: arbitrary sequences of MMIO reads and writes of any width at
//! any offset (restart magic and software-reset keys mixed in), interleaved with a
//! [`ManualClock`] advanced by arbitrary amounts and the SoC's deadline delivery
//! (`next_deadline` / `on_time`), and resets, for both the AST2600 and the AST2500 watchdog.
//!
//! Checked after every operation: nothing panics, a read of N bytes fits in N bytes, each
//! operation returns within [`OP_BUDGET`] (a hang fails the case through proptest's per-case
//! timeout), the pre-timeout interrupt is at the level of timeout status bit 2, the reset
//! output only ever pulses (it is low between operations), and once due events are delivered
//! the next deadline lies in the future: a deadline that stays at or before `now` would make
//! the SoC's idle loop spin forever. On the AST2500 the control register's 1 MHz clock bit
//! always reads 1 and the state keeps its generation. Virtual time stays below 2^63 ns (292 years). Cases:
//! `PROPTEST_CASES` (256 by default) x [`OPS`] operations; see docs/fuzzing.md.

use std::rc::Rc;

use bus::{Clock, Device, LevelRecorder, ManualClock};
use mmio_fuzz::*;
use proptest::prelude::*;
use wdt::*;

// ---- the watchdog ----

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
        u64::from(RESTART_MAGIC),
        u64::from(SW_RESET_ENABLE),
        u64::from(SW_RESET_COUNT_CLEAR),
        u64::from(CTRL_ENABLE | CTRL_RESET_SYSTEM | CTRL_INTERRUPT),
        u64::from(CTRL_ENABLE | CTRL_INTERRUPT | 0x400),
        u64::from(CTRL_ENABLE),
        u64::from(CTRL_ENABLE | CTRL_INTERRUPT | (3 << AST2500_CTRL_IRQ_THRESHOLD_SHIFT)),
        u64::from(ACTIVE_HIGH_MAGIC | 0xFF),
        u64::from(PUSH_PULL_MAGIC),
        1,
        10,
    ];
    prop_oneof![
        8 => (offset(REGS_SIZE), width()).prop_map(|(o, w)| Op::Read(o, w)),
        10 => (offset(REGS_SIZE), width(), value(magic)).prop_map(|(o, w, v)| Op::Write(o, w, v)),
        5 => advance().prop_map(Op::Advance),
        5 => Just(Op::Deliver),
        1 => Just(Op::Reset),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn wdt_survives_arbitrary_mmio_and_time(
        ast2500 in any::<bool>(),
        ops in prop::collection::vec(op(), OPS),
    ) {
        let variant = if ast2500 { Variant::Ast2500 } else { Variant::Ast2600 };
        let clock = Rc::new(ManualClock::new());
        let rec = LevelRecorder::new();
        // Line 0: reset output; line 1: pre-timeout interrupt.
        let mut wdt =
            AspeedWdt::new(clock.clone(), rec.line(0), rec.line(1)).with_variant(variant);
        for op in &ops {
            match *op {
                Op::Read(offset, size) => {
                    let v = timed(op, || wdt.read(offset, size))?;
                    prop_assert!(read_fits(v, size), "{:?} returned {:#x}", op, v);
                }
                Op::Write(offset, size, value) => timed(op, || wdt.write(offset, size, value))?,
                Op::Advance(ns) => clock.set(clock.now_ns().saturating_add(ns).min(END_OF_TIME)),
                Op::Deliver => {
                    let now = clock.now_ns();
                    let due = timed(op, || wdt.next_deadline())?.is_some_and(|d| d <= now);
                    if due {
                        timed(op, || wdt.on_time(now))?;
                        let next = timed(op, || wdt.next_deadline())?;
                        prop_assert!(
                            next.is_none_or(|d| d > now),
                            "deadline {:?} still due at {} after on_time", next, now
                        );
                    }
                }
                Op::Reset => timed(op, || wdt.reset())?,
            }
            prop_assert!(!rec.level(0), "reset output left high after {:?}", op);
            prop_assert_eq!(
                rec.level(1), wdt.state().timeout_status & STATUS_IRQ != 0,
                "pre-timeout line after {:?}", op
            );
            let state = wdt.state();
            prop_assert_eq!(state.variant, variant);
            if ast2500 {
                prop_assert_ne!(state.ctrl & CTRL_1MHZ_CLK, 0, "1 MHz bit after {:?}", op);
                prop_assert_eq!(state.reset_mask[1], 0);
                prop_assert_eq!(state.sw_reset_mask, [0, 0]);
            }
        }
    }
}
