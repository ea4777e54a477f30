//! Fuzz target for the SDRAM controller: arbitrary sequences of MMIO reads and writes of any
//! width at any offset, with the unlock and hard-lock keys mixed in, and SoC resets.
//!
//! Checked after every operation: nothing panics, a read of N bytes fits in N bytes, each
//! operation returns within [`OP_BUDGET`] (a hang fails the case through proptest's per-case
//! timeout), and MCR04 keeps reporting the DRAM size the controller was built with whatever
//! the guest writes (u-boot sizes DRAM from it). Cases: `PROPTEST_CASES` (256 by default) x
//! [`OPS`] operations; see docs/fuzzing.md.

use std::fmt::Debug;
use std::time::{Duration, Instant};

use bus::Device;
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestCaseError};
use sdmc::registers::*;
use sdmc::{capacity_field, Sdmc, SUPPORTED_RAM_SIZES};

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

// ---- the SDMC ----

#[derive(Clone, Debug)]
enum Op {
    Read(u64, u8),
    Write(u64, u8, u64),
    Reset,
}

fn op() -> impl Strategy<Value = Op> {
    let magic = vec![
        u64::from(SDRAM_UNLOCK_KEY),
        u64::from(SDRAM_HARDLOCK_KEY),
        0xFFFF_FFFC,
    ];
    prop_oneof![
        10 => (offset(SDMC_BLOCK_SIZE), width()).prop_map(|(o, w)| Op::Read(o, w)),
        10 => (offset(SDMC_BLOCK_SIZE), width(), value(magic)).prop_map(|(o, w, v)| Op::Write(o, w, v)),
        // Unlock often, so the fuzzer gets past the protection key.
        2 => Just(Op::Write(PROT_KEY, 4, u64::from(SDRAM_UNLOCK_KEY))),
        1 => Just(Op::Reset),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sdmc_survives_arbitrary_mmio(
        ram_size in prop::sample::select(SUPPORTED_RAM_SIZES.to_vec()),
        ops in prop::collection::vec(op(), OPS),
    ) {
        let mut sdmc = Sdmc::new(ram_size).expect("a supported size");
        let capacity = capacity_field(ram_size).expect("a supported size");
        for op in &ops {
            match *op {
                Op::Read(offset, size) => {
                    let v = timed(op, || sdmc.read(offset, size))?;
                    prop_assert!(read_fits(v, size), "{:?} returned {:#x}", op, v);
                }
                Op::Write(offset, size, value) => timed(op, || sdmc.write(offset, size, value))?,
                Op::Reset => timed(op, || sdmc.reset())?,
            }
            let config = sdmc.state().regs[(CONFIG / 4) as usize];
            prop_assert_eq!(config & CONF_CAP_MASK, capacity, "MCR04 after {:?}", op);
            prop_assert_eq!(sdmc.ram_size(), ram_size);
        }
    }
}
