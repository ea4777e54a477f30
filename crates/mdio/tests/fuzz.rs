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
use std::rc::Rc;

use bus::Device;
use mdio::*;
use mmio_fuzz::*;
use proptest::prelude::*;

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
