//! Fuzz target for the SCU: arbitrary sequences of MMIO reads and writes of any width at any
//! offset, with and without the protection key, and SoC resets in between.
//!
//! Checked after every operation: nothing panics, a read of N bytes fits in N bytes, each
//! operation returns within [`OP_BUDGET`] (a hang fails the case through proptest's per-case
//! timeout), and both SCU interrupt outputs are at the level the interrupt controller
//! registers (status & enable) say. Cases: `PROPTEST_CASES` (256 by default) x [`OPS`]
//! operations; see docs/fuzzing.md.

use std::fmt::Debug;
use std::time::{Duration, Instant};

use bus::{Device, LevelRecorder};
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestCaseError};
use scu::registers::*;
use scu::{Scu, ScuConfig};

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

// ---- the SCU ----

#[derive(Clone, Debug)]
enum Op {
    Read(u64, u8),
    Write(u64, u8, u64),
    Reset,
}

fn op() -> impl Strategy<Value = Op> {
    let magic = vec![
        u64::from(SCU_UNLOCK_KEY),
        0xFFFF_0000,
        0x0000_FFFF,
        0x003F_003F,
    ];
    prop_oneof![
        10 => (offset(SCU_BLOCK_SIZE), width()).prop_map(|(o, w)| Op::Read(o, w)),
        10 => (offset(SCU_BLOCK_SIZE), width(), value(magic)).prop_map(|(o, w, v)| Op::Write(o, w, v)),
        // Unlock often, so the fuzzer gets past the protection key.
        2 => Just(Op::Write(PROT_KEY1, 4, u64::from(SCU_UNLOCK_KEY))),
        1 => Just(Op::Reset),
    ]
}

/// The level an SCU interrupt controller register says its output must have.
fn ic_level(reg: u32) -> bool {
    (reg >> SCU_IC_STATUS_SHIFT) & reg & SCU_IC_ENABLE_MASK != 0
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn scu_survives_arbitrary_mmio(
        unlocked_at_reset in any::<bool>(),
        ops in prop::collection::vec(op(), OPS),
    ) {
        let rec = LevelRecorder::new();
        let config = ScuConfig { unlocked_at_reset, ..ScuConfig::ast2600_evb() };
        let mut scu = Scu::new(config, rec.line(0), rec.line(1));
        for op in &ops {
            match *op {
                Op::Read(offset, size) => {
                    let v = timed(op, || scu.read(offset, size))?;
                    prop_assert!(read_fits(v, size), "{:?} returned {:#x}", op, v);
                }
                Op::Write(offset, size, value) => timed(op, || scu.write(offset, size, value))?,
                Op::Reset => timed(op, || scu.reset())?,
            }
            let regs = scu.state().regs;
            prop_assert_eq!(rec.level(0), ic_level(regs[(SCU_IC0 / 4) as usize]), "IC0 after {:?}", op);
            prop_assert_eq!(rec.level(1), ic_level(regs[(SCU_IC1 / 4) as usize]), "IC1 after {:?}", op);
        }
    }
}
