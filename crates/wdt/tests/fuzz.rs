//! Fuzz target for the watchdog: arbitrary sequences of MMIO reads and writes of any width at
//! any offset (restart magic and software-reset keys mixed in), interleaved with a
//! [`ManualClock`] advanced by arbitrary amounts and the SoC's deadline delivery
//! (`next_deadline` / `on_time`), and resets.
//!
//! Checked after every operation: nothing panics, a read of N bytes fits in N bytes, each
//! operation returns within [`OP_BUDGET`] (a hang fails the case through proptest's per-case
//! timeout), the pre-timeout interrupt is at the level of timeout status bit 2, the reset
//! output only ever pulses (it is low between operations), and once due events are delivered
//! the next deadline lies in the future: a deadline that stays at or before `now` would make
//! the SoC's idle loop spin forever. Virtual time stays below 2^63 ns (292 years). Cases:
//! `PROPTEST_CASES` (256 by default) x [`OPS`] operations; see docs/fuzzing.md.

use std::fmt::Debug;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bus::{Clock, Device, LevelRecorder, ManualClock};
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestCaseError};
use wdt::*;

// ---- harness shared by every device's tests/fuzz.rs (kept identical) ----

/// Operations per case: 256 cases (proptest's default) x 400 = 102 400 operations.
const OPS: usize = 400;
/// The longest one operation may take, in wall time. Operations take microseconds (the
/// slowest, a 32 MiB SMC checksum DMA, about 0.2 s); the margin absorbs a loaded machine.
const OP_BUDGET: Duration = Duration::from_secs(5);

/// Case count from `PROPTEST_CASES` (default 256). A case running longer than 30 s fails as a
/// hang (proptest then runs the cases in a child process it can kill). Failing cases are kept
/// in `tests/fuzz.proptest-regressions` and replayed first on every run.
fn config() -> ProptestConfig {
    ProptestConfig {
        timeout: 30_000,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

/// Access widths: those the CPU makes (1, 2, 4, 8) and some it never makes.
fn width() -> impl Strategy<Value = u8> {
    prop_oneof![
        8 => prop::sample::select(vec![1u8, 2, 4, 8]),
        1 => prop::sample::select(vec![0u8, 3, 5, 6, 7, 9, 16, 255]),
    ]
}

/// Offsets: mostly the registers of a `block`-byte block (aligned or not), sometimes just
/// past its end, anywhere at all, or at the top of the address space.
fn offset(block: u64) -> impl Strategy<Value = u64> {
    prop_oneof![
        8 => (0..block / 4).prop_map(|w| w * 4),
        2 => 0..block,
        1 => block..block.saturating_add(0x100),
        1 => any::<u64>(),
        1 => (0u64..8).prop_map(|d| u64::MAX - d),
    ]
}

/// Values: anything, 32-bit, single bits, all zeros or ones, and the device's magic numbers.
fn value(magic: Vec<u64>) -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => any::<u64>(),
        3 => any::<u32>().prop_map(u64::from),
        2 => (0u32..64).prop_map(|b| 1u64 << b),
        1 => prop::sample::select(vec![0, u64::from(u32::MAX), u64::MAX]),
        3 => prop::sample::select(magic),
    ]
}

/// Whether `value` fits the width of a read of `size` bytes. Invalid widths 0 and 3 must stay
/// within one 32-bit word; the other invalid widths are only checked for not panicking.
fn read_fits(value: u64, size: u8) -> bool {
    let bytes: u32 = match size {
        1 | 2 | 4 => u32::from(size),
        0 | 3 => 4,
        _ => 8,
    };
    bytes >= 8 || value >> (8 * bytes) == 0
}

/// Runs `f` (operation `op`), failing the case if it takes longer than [`OP_BUDGET`].
fn timed<R>(op: &dyn Debug, f: impl FnOnce() -> R) -> Result<R, TestCaseError> {
    let start = Instant::now();
    let r = f();
    let took = start.elapsed();
    prop_assert!(took < OP_BUDGET, "{:?} took {:?}", op, took);
    Ok(r)
}

// ---- the watchdog ----

/// Virtual time never goes past this (292 years).
const END_OF_TIME: u64 = 1 << 63;

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

fn advance() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..2_000,
        3 => 0u64..2_000_000,
        2 => 0u64..(1 << 40),
        1 => any::<u64>(),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let magic = vec![
        u64::from(RESTART_MAGIC),
        u64::from(SW_RESET_ENABLE),
        u64::from(SW_RESET_COUNT_CLEAR),
        u64::from(CTRL_ENABLE | CTRL_RESET_SYSTEM | CTRL_INTERRUPT),
        u64::from(CTRL_ENABLE | CTRL_INTERRUPT | 0x400),
        u64::from(CTRL_ENABLE),
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
    fn wdt_survives_arbitrary_mmio_and_time(ops in prop::collection::vec(op(), OPS)) {
        let clock = Rc::new(ManualClock::new());
        let rec = LevelRecorder::new();
        // Line 0: reset output; line 1: pre-timeout interrupt.
        let mut wdt = AspeedWdt::new(clock.clone(), rec.line(0), rec.line(1));
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
        }
    }
}
