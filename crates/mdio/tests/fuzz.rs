//! Fuzz target for the MDIO controller and its RTL8211E PHYs: arbitrary sequences of reads and
//! writes of any width at any offset, clause-22 and clause-45 frames of every opcode to present
//! and absent PHY addresses (any register, page and extension page), cable plugs and unplugs,
//! and resets.
//!
//! Checked after every operation: nothing panics, a read of N bytes fits in N bytes, each
//! operation returns within [`OP_BUDGET`] (a hang fails the case through proptest's per-case
//! timeout), and the controller keeps the contract its drivers poll for: FIRE reads as clear
//! and DATA reports IDLE (a frame never stays busy). The block has no interrupt. Cases:
//! `PROPTEST_CASES` (256 by default) x [`OPS`] operations; see docs/fuzzing.md.

use std::cell::RefCell;
use std::fmt::Debug;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bus::Device;
use mdio::*;
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

// ---- the MDIO controller ----

#[derive(Clone, Debug)]
enum Op {
    Read(u64, u8),
    Write(u64, u8, u64),
    /// A whole frame written to CTRL with FIRE set, as the drivers do.
    Frame {
        clause22: bool,
        op: u32,
        phy: u32,
        reg: u32,
        data: u16,
    },
    /// Plug or unplug PHY 0's cable.
    Cable(bool),
    Reset,
}

fn frame() -> impl Strategy<Value = Op> {
    (
        prop::bool::weighted(0.9),
        prop_oneof![3 => prop::sample::select(vec![OP_C22_READ, OP_C22_WRITE]), 1 => 0u32..4],
        prop_oneof![3 => 0u32..2, 1 => 0u32..32],
        prop_oneof![
            3 => prop::sample::select(vec![0u32, 1, 2, 3, 4, 9, 0x10, 0x11, 0x12, 0x13, 0x1e, 0x1f]),
            1 => 0u32..32,
        ],
        prop_oneof![2 => any::<u16>(), 1 => prop::sample::select(vec![0u16, 7, 0x8000, 0x1200, 0x0040])],
    )
        .prop_map(|(clause22, op, phy, reg, data)| Op::Frame { clause22, op, phy, reg, data })
}

fn op() -> impl Strategy<Value = Op> {
    let magic = vec![
        u64::from(CTRL_FIRE | CTRL_ST | (OP_C22_READ << CTRL_OP_SHIFT)),
        u64::from(CTRL_FIRE | CTRL_ST | (OP_C22_WRITE << CTRL_OP_SHIFT) | 0x8000),
        u64::from(CTRL_FIRE),
    ];
    prop_oneof![
        6 => (offset(8), width()).prop_map(|(o, w)| Op::Read(o, w)),
        6 => (offset(8), width(), value(magic)).prop_map(|(o, w, v)| Op::Write(o, w, v)),
        10 => frame(),
        1 => any::<bool>().prop_map(Op::Cable),
        1 => Just(Op::Reset),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn mdio_survives_arbitrary_mmio_and_frames(
        cable in any::<bool>(),
        ops in prop::collection::vec(op(), OPS),
    ) {
        let mut mdio = AspeedMdio::new();
        let phy0 = Rc::new(RefCell::new(Phy::new(cable)));
        mdio.attach_phy(0, phy0.clone());
        mdio.attach_phy(1, Rc::new(RefCell::new(Phy::new(true))));
        // Addresses past the bus are refused, not a panic.
        mdio.attach_phy(32, Rc::new(RefCell::new(Phy::new(true))));
        mdio.attach_phy(255, Rc::new(RefCell::new(Phy::new(true))));
        for op in &ops {
            match *op {
                Op::Read(offset, size) => {
                    let v = timed(op, || mdio.read(offset, size))?;
                    prop_assert!(read_fits(v, size), "{:?} returned {:#x}", op, v);
                }
                Op::Write(offset, size, value) => timed(op, || mdio.write(offset, size, value))?,
                Op::Frame { clause22, op: code, phy, reg, data } => {
                    let st = if clause22 { CTRL_ST } else { 0 };
                    let ctrl = CTRL_FIRE
                        | st
                        | (code << CTRL_OP_SHIFT)
                        | (phy << CTRL_PHYAD_SHIFT)
                        | (reg << CTRL_REGAD_SHIFT)
                        | u32::from(data);
                    timed(op, || mdio.write(REG_CTRL, 4, u64::from(ctrl)))?;
                }
                Op::Cable(up) => timed(op, || phy0.borrow_mut().set_link(up))?,
                Op::Reset => timed(op, || {
                    mdio.reset();
                    phy0.borrow_mut().reset();
                })?,
            }
            prop_assert_eq!(mdio.state().ctrl & CTRL_FIRE, 0, "FIRE stuck after {:?}", op);
            let ctrl = mdio.read(REG_CTRL, 4);
            prop_assert_eq!(ctrl & u64::from(CTRL_FIRE), 0, "FIRE reads set after {:?}", op);
            let data = mdio.read(REG_DATA, 4);
            prop_assert_ne!(data & u64::from(DATA_IDLE), 0, "DATA not IDLE after {:?}", op);
        }
    }
}
