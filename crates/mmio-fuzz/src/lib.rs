//! The harness every device crate's `tests/fuzz.rs` shares (a dev-dependency only): the
//! proptest configuration, strategies for MMIO access widths, offsets and values, the check
//! that a read fits its width, and the per-operation time budget. Each fuzz target adds its
//! device's operations, magic numbers and invariants; see docs/fuzzing.md.
#![deny(missing_docs)]

use std::fmt::Debug;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestCaseError};

/// Operations per case: 256 cases (proptest's default) x 400 = 102 400 operations.
pub const OPS: usize = 400;
/// The longest one operation may take, in wall time. Operations take microseconds (the
/// slowest, a 32 MiB SMC checksum DMA, about 0.2 s); the margin absorbs a loaded machine.
pub const OP_BUDGET: Duration = Duration::from_secs(5);

/// Case count from `PROPTEST_CASES` (default 256). A case running longer than 30 s fails as a
/// hang (proptest then runs the cases in a child process it can kill). Failing cases are kept
/// in `tests/fuzz.proptest-regressions` and replayed first on every run.
pub fn config() -> ProptestConfig {
    ProptestConfig {
        timeout: 30_000,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

/// Access widths: those the CPU makes (1, 2, 4, 8) and some it never makes.
pub fn width() -> impl Strategy<Value = u8> {
    prop_oneof![
        8 => prop::sample::select(vec![1u8, 2, 4, 8]),
        1 => prop::sample::select(vec![0u8, 3, 5, 6, 7, 9, 16, 255]),
    ]
}

/// Offsets: mostly the registers of a `block`-byte block (aligned or not), sometimes just
/// past its end, anywhere at all, or at the top of the address space.
pub fn offset(block: u64) -> impl Strategy<Value = u64> {
    prop_oneof![
        8 => (0..block / 4).prop_map(|w| w * 4),
        2 => 0..block,
        1 => block..block.saturating_add(0x100),
        1 => any::<u64>(),
        1 => (0u64..8).prop_map(|d| u64::MAX - d),
    ]
}

/// Values: anything, 32-bit, single bits, all zeros or ones, and the device's magic numbers.
pub fn value(magic: Vec<u64>) -> impl Strategy<Value = u64> {
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
pub fn read_fits(value: u64, size: u8) -> bool {
    let bytes: u32 = match size {
        1 | 2 | 4 => u32::from(size),
        0 | 3 => 4,
        _ => 8,
    };
    bytes >= 8 || value >> (8 * bytes) == 0
}

/// Runs `f` (operation `op`), failing the case if it takes longer than [`OP_BUDGET`].
pub fn timed<R>(op: &dyn Debug, f: impl FnOnce() -> R) -> Result<R, TestCaseError> {
    let start = Instant::now();
    let r = f();
    let took = start.elapsed();
    prop_assert!(took < OP_BUDGET, "{:?} took {:?}", op, took);
    Ok(r)
}

/// Virtual time never goes past this (292 years): for devices with deadlines.
pub const END_OF_TIME: u64 = 1 << 63;

/// How far to move virtual time in one step: mostly short (a register poll), sometimes a
/// timer period, sometimes hours, sometimes anything.
pub fn advance() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..2_000,
        3 => 0u64..2_000_000,
        2 => 0u64..(1 << 40),
        1 => any::<u64>(),
    ]
}
