//! Fuzz target for the SCU: arbitrary sequences of MMIO reads and writes of any width at any
//! offset, with and without the protection key, and SoC resets in between.
//!
//! Checked after every operation, for the AST2600 and the AST2500 register files alike: nothing
//! panics, a read of N bytes fits in N bytes, each operation returns within [`OP_BUDGET`] (a hang
//! fails the case through proptest's per-case timeout), both SCU interrupt outputs are at the
//! level the interrupt controller registers (status & enable) say, and the variant survives. Cases: `PROPTEST_CASES` (256 by default) x [`OPS`]
//! operations; see docs/fuzzing.md.

use bus::{Device, LevelRecorder};
use mmio_fuzz::*;
use proptest::prelude::*;
use scu::registers::*;
use scu::{Scu, ScuConfig, Variant};

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
        // Unlock often, so the fuzzer gets past the protection key (SCU000 / SCU00 alike).
        2 => Just(Op::Write(PROT_KEY1, 4, u64::from(SCU_UNLOCK_KEY))),
        1 => Just(Op::Reset),
    ]
}

/// The level an SCU interrupt controller register says its output must have.
fn ic_level(reg: u32, enables: u32) -> bool {
    (reg >> SCU_IC_STATUS_SHIFT) & reg & enables != 0
}

/// The levels the two outputs must have: SCU560/SCU570 on the AST2600, SCU18 and low on the
/// AST2500.
fn expected_levels(variant: Variant, regs: &[u32]) -> (bool, bool) {
    let at = |offset: u64| regs[(offset / 4) as usize];
    match variant {
        Variant::Ast2600 => (
            ic_level(at(SCU_IC0), SCU_IC_ENABLE_MASK),
            ic_level(at(SCU_IC1), SCU_IC_ENABLE_MASK),
        ),
        Variant::Ast2500 => (
            ic_level(at(ast2500::IRQ_CTRL), ast2500::IRQ_CTRL_ENABLE_MASK),
            false,
        ),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn scu_survives_arbitrary_mmio(
        unlocked_at_reset in any::<bool>(),
        variant in prop::sample::select(vec![Variant::Ast2600, Variant::Ast2500]),
        ops in prop::collection::vec(op(), OPS),
    ) {
        let rec = LevelRecorder::new();
        let board = match variant {
            Variant::Ast2600 => ScuConfig::ast2600_evb(),
            Variant::Ast2500 => ScuConfig::ast2500_evb(),
        };
        let config = ScuConfig { unlocked_at_reset, ..board };
        let mut scu = Scu::new(config, rec.line(0), rec.line(1)).with_variant(variant);
        for op in &ops {
            match *op {
                Op::Read(offset, size) => {
                    let v = timed(op, || scu.read(offset, size))?;
                    prop_assert!(read_fits(v, size), "{:?} returned {:#x}", op, v);
                }
                Op::Write(offset, size, value) => timed(op, || scu.write(offset, size, value))?,
                Op::Reset => timed(op, || scu.reset())?,
            }
            let state = scu.state();
            prop_assert_eq!(state.variant, variant);
            let (ic0, ic1) = expected_levels(variant, &state.regs);
            prop_assert_eq!(rec.level(0), ic0, "IC0 after {:?}", op);
            prop_assert_eq!(rec.level(1), ic1, "IC1 after {:?}", op);
        }
    }
}
