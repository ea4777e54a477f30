//! Fuzz target for the SDRAM controller: arbitrary sequences of MMIO reads and writes of any
//! width at any offset, with the unlock and hard-lock keys mixed in, and SoC resets.
//!
//! Checked after every operation: nothing panics, a read of N bytes fits in N bytes, each
//! operation returns within [`OP_BUDGET`] (a hang fails the case through proptest's per-case
//! timeout), and MCR04 keeps reporting the DRAM size the controller was built with whatever
//! the guest writes (u-boot sizes DRAM from it), for the AST2600 and the AST2500 alike. Cases: `PROPTEST_CASES` (256 by default) x
//! [`OPS`] operations; see docs/fuzzing.md.

use bus::Device;
use mmio_fuzz::*;
use proptest::prelude::*;
use sdmc::registers::*;
use sdmc::{Sdmc, Variant, AST2500_RAM_SIZES, SUPPORTED_RAM_SIZES};

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
        (variant, ram_size) in prop_oneof![
            prop::sample::select(SUPPORTED_RAM_SIZES.to_vec()).prop_map(|s| (Variant::Ast2600, s)),
            prop::sample::select(AST2500_RAM_SIZES.to_vec()).prop_map(|s| (Variant::Ast2500, s)),
        ],
        ops in prop::collection::vec(op(), OPS),
    ) {
        let mut sdmc = Sdmc::with_variant(variant, ram_size).expect("a supported size");
        let capacity = variant.capacity_field(ram_size).expect("a supported size");
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
            prop_assert_eq!(sdmc.variant(), variant);
            prop_assert_eq!(config >> 28, variant.hw_version(), "MCR04 after {:?}", op);
        }
    }
}
