//! Fuzz target for the SPI NOR chip: arbitrary select / transfer / deselect sequences (raw
//! bytes, and whole commands built from the chip's opcodes with random addresses and data),
//! direct reads at any offset, and resets, on arrays of odd sizes (0 bytes up to 8 KiB + 3).
//!
//! Checked after every operation: nothing panics, each operation returns within
//! [`OP_BUDGET`] (a hang fails the case through proptest's per-case timeout), the chip is
//! selected exactly when the last select was not followed by a deselect or reset, the array
//! changes only while the write enable latch is set and only as flash can change (program
//! clears bits, erase sets bytes to 0xFF), `take_modified` covers every changed byte, and
//! direct reads return the array bytes (wrapping at the end of the chip). Cases:
//! `PROPTEST_CASES` (256 by default) x [`OPS`] operations; see docs/fuzzing.md.

use std::rc::Rc;

use bus::MemoryBlock;
use mmio_fuzz::*;
use proptest::prelude::*;
use spi_nor::*;

// ---- the SPI NOR chip ----

/// Every opcode the chip implements, and a few it does not.
const OPCODES: &[u8] = &[
    OP_WRSR,
    OP_PP,
    OP_READ,
    OP_WRDI,
    OP_RDSR,
    OP_WREN,
    OP_FAST_READ,
    OP_FAST_READ_4B,
    OP_WRSR3,
    OP_PP_4B,
    OP_READ_4B,
    OP_RDCR,
    OP_SE_4K,
    OP_SE_4K_4B,
    OP_WRSR2,
    OP_PP_1_1_4,
    OP_PP_1_1_4_4B,
    OP_RDSR2,
    OP_PP_1_4_4,
    OP_READ_1_1_2,
    OP_READ_1_1_2_4B,
    OP_PP_1_4_4_4B,
    OP_VSR_WREN,
    OP_BE_32K,
    OP_BE_32K_4B,
    OP_RDSFDP,
    OP_CHIP_ERASE_ALT,
    OP_RSTEN,
    OP_READ_1_1_4,
    OP_READ_1_1_4_4B,
    OP_RDFSR,
    OP_RDID,
    OP_RST,
    OP_EN4B,
    OP_CHIP_ERASE,
    OP_BE_64K,
    OP_BE_64K_4B,
    OP_EX4B,
    0x00,
    0xFF,
    0xAB,
    0x9E,
];

#[derive(Clone, Debug)]
enum Op {
    Select,
    Deselect,
    Transfer(u8),
    /// Select, opcode, address bytes, then data bytes out (each also shifting one in), deselect.
    Command {
        op: u8,
        address: Vec<u8>,
        data: Vec<u8>,
    },
    /// The controller's direct-read path.
    Read {
        offset: u64,
        len: usize,
    },
    Reset,
    TakeModified,
}

fn byte() -> impl Strategy<Value = u8> {
    prop_oneof![3 => prop::sample::select(OPCODES), 2 => any::<u8>()]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Select),
        3 => Just(Op::Deselect),
        10 => byte().prop_map(Op::Transfer),
        6 => (
            prop::sample::select(OPCODES),
            prop::collection::vec(any::<u8>(), 0..=5),
            prop::collection::vec(any::<u8>(), 0..=300),
        )
            .prop_map(|(op, address, data)| Op::Command { op, address, data }),
        2 => Just(Op::Command { op: OP_WREN, address: vec![], data: vec![] }),
        2 => (any::<u64>(), 0usize..=64).prop_map(|(offset, len)| Op::Read { offset, len }),
        1 => Just(Op::Reset),
        1 => Just(Op::TakeModified),
    ]
}

/// Checks that `after` is a possible result of flash operations on `before`: program only
/// clears bits, erase sets bytes to 0xFF.
fn check_array(before: &[u8], after: &[u8]) -> Result<(), TestCaseError> {
    for (i, (&old, &new)) in before.iter().zip(after).enumerate() {
        prop_assert!(
            new == old || new == 0xFF || new & !old == 0,
            "byte {:#x} went from {:#04x} to {:#04x}: neither program nor erase",
            i,
            old,
            new
        );
    }
    Ok(())
}

fn chip(size: usize, winbond: bool) -> SpiNor {
    let memory = Rc::new(MemoryBlock::new(size, 0xFF));
    for i in 0..size {
        memory.write(i, &[(i as u8).wrapping_mul(37) ^ 0x5A]);
    }
    let base = if winbond {
        FlashModel::W25Q512JV
    } else {
        FlashModel::MX66U51235F
    };
    SpiNor::new(
        memory,
        FlashModel {
            size: size as u64,
            ..base
        },
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn spi_nor_survives_arbitrary_commands(
        size in prop::sample::select(vec![0usize, 1, 3, 255, 256, 4096, 8192 + 3]),
        winbond in any::<bool>(),
        ops in prop::collection::vec(op(), OPS),
    ) {
        let mut flash = chip(size, winbond);
        let mut selected = false;
        // The range modified since the last TakeModified, as the chip should report it.
        let mut modified: Option<(u64, u64)> = None;
        for op in &ops {
            let before = flash.memory().to_vec();
            let write_enabled = flash.state().write_enable;
            match op {
                Op::Select => {
                    timed(op, || flash.select())?;
                    selected = true;
                }
                Op::Deselect => {
                    timed(op, || flash.deselect())?;
                    selected = false;
                }
                Op::Transfer(b) => {
                    timed(op, || flash.transfer(*b))?;
                }
                Op::Command { op: opcode, address, data } => {
                    timed(op, || {
                        flash.select();
                        flash.transfer(*opcode);
                        for &b in address.iter().chain(data) {
                            flash.transfer(b);
                        }
                        flash.deselect();
                    })?;
                    selected = false;
                }
                Op::Read { offset, len } => {
                    let mut buf = vec![0u8; *len];
                    timed(op, || flash.read(*offset, &mut buf))?;
                    for (i, b) in buf.iter().enumerate() {
                        let want = if size == 0 {
                            0xFF
                        } else {
                            before[((offset % size as u64) as usize + i) % size]
                        };
                        prop_assert_eq!(*b, want, "byte {} of {:?}", i, op);
                    }
                }
                Op::Reset => {
                    timed(op, || flash.reset())?;
                    selected = false;
                }
                Op::TakeModified => {
                    let got = flash.take_modified();
                    if let Some((s, e)) = modified.take() {
                        let (gs, ge) = got.unwrap_or((0, 0));
                        prop_assert!(
                            gs <= s && e <= ge,
                            "take_modified gave {:?}, but bytes {:#x}..{:#x} changed", got, s, e
                        );
                    }
                }
            }
            let after = flash.memory().to_vec();
            if before != after {
                prop_assert!(write_enabled, "{:?} changed the array without the write enable latch", op);
                prop_assert!(flash.dirty());
                let first = before.iter().zip(&after).position(|(a, b)| a != b).unwrap_or(0) as u64;
                let last = before.iter().zip(&after).rposition(|(a, b)| a != b).unwrap_or(0) as u64;
                modified = Some(match modified {
                    Some((s, e)) => (s.min(first), e.max(last + 1)),
                    None => (first, last + 1),
                });
            }
            check_array(&before, &after)?;
            prop_assert_eq!(flash.is_selected(), selected, "after {:?}", op);
            prop_assert!(matches!(flash.address_bytes(), 3 | 4));
        }
    }
}
