//! Fuzz target for the timer block: arbitrary sequences of MMIO reads and writes of any width
//! at any offset, interleaved with a [`ManualClock`] advanced by arbitrary amounts and the
//! SoC's deadline delivery (`next_deadline` / `on_time`), at several clock rates, and resets.
//!
//! Checked after every operation: nothing panics, a read of N bytes fits in N bytes, each
//! operation returns within [`OP_BUDGET`] (a hang fails the case through proptest's per-case
//! timeout), each channel's interrupt line is at the level of its status bit, and once due
//! events are delivered the next deadline lies in the future: a deadline that stays at or
//! before `now` would make the SoC's idle loop spin forever. Virtual time stays below 2^63 ns
//! (292 years). Cases: `PROPTEST_CASES` (256 by default) x [`OPS`] operations; see
//! docs/fuzzing.md.

use std::fmt::Debug;
use std::rc::Rc;
use std::time::{Duration, Instant};

use aspeed_timer::*;
use bus::{Clock, Device, LevelRecorder, ManualClock};
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestCaseError};

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

// ---- the timer block ----

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
        0xFFFF_FFFF,
        0x1111_1111,
        0x5555_5555,
        0x7777_7777,
        1,
        2,
        0x0000_0005,
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
        ops in prop::collection::vec(op(), OPS),
    ) {
        let clock = Rc::new(ManualClock::new());
        let rec = LevelRecorder::new();
        let irqs = std::array::from_fn(|n| rec.line(n as u32));
        let mut timer = AspeedTimer::new(clock.clone(), external_hz, apb_hz, irqs);
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
            let status = timer.state().irq_status;
            for n in 0..CHANNELS {
                prop_assert_eq!(
                    rec.level(n as u32), status & (1 << n) != 0,
                    "channel {} line vs status {:#x} after {:?}", n, status, op
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
