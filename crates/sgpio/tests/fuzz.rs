//! Fuzz target for the SGPIO master, each case on one of the two variants: arbitrary sequences
//! of MMIO reads and writes of any width at any offset (configuration values mixed in), the
//! Linux driver's register sequences (probe with a random slot count, set, irq type,
//! mask/unmask, ack, reset tolerance) on random lines, the host driving inputs (`set_input`,
//! on lines that exist and some that do not, inputs and outputs), and resets.
//!
//! Checked after every operation: nothing panics, a read of N bytes fits in N bytes, each
//! operation returns within [`OP_BUDGET`], the interrupt output is at the level the state
//! implies (some slot with status and enable set), no register or wire holds a bit for a slot
//! the variant lacks, every shifted slot's input data is the host's level and its output wire
//! its output data, the value register reads the input data, and the output change queue is
//! exact: replaying it (drained after every operation) onto the output levels the host last
//! saw gives the levels now, and every entry changes the level it names. Cases:
//! `PROPTEST_CASES` (256 by default) x [`OPS`] operations; see docs/fuzzing.md.

use bus::{Device, LevelRecorder};
use mmio_fuzz::*;
use proptest::prelude::*;
use sgpio::*;

#[derive(Clone, Debug)]
enum Op {
    Read(u64, u8),
    Write(u64, u8, u64),
    /// The host drives a line (inputs are even; odd ones must be refused).
    SetInput(u32, bool),
    /// Linux `aspeed_sgpio_probe` with `ngpios = 8 * n` and a divider.
    Probe(u32, u32),
    /// Linux `sgpio_set_value`: rdata read, bit changed, value register written.
    Set(u32, bool),
    /// Linux `aspeed_sgpio_set_type` (type0, type1, type2 read-modify-written).
    SetType(u32, IrqTrigger),
    /// Linux `aspeed_sgpio_irq_set_mask`.
    Unmask(u32, bool),
    /// Linux `aspeed_sgpio_irq_ack`.
    Ack(u32),
    /// Linux `aspeed_sgpio_reset_tolerance`.
    Persist(u32, bool),
    Reset,
}

fn trigger() -> impl Strategy<Value = IrqTrigger> {
    prop::sample::select(vec![
        IrqTrigger::FallingEdge,
        IrqTrigger::RisingEdge,
        IrqTrigger::LevelLow,
        IrqTrigger::LevelHigh,
        IrqTrigger::BothEdges,
    ])
}

fn op(variant: Variant) -> impl Strategy<Value = Op> {
    let magic = vec![
        u64::from(ASPEED_SGPIO_ENABLE),
        u64::from((16 << ASPEED_SGPIO_PINS_SHIFT) | ASPEED_SGPIO_ENABLE),
        u64::from((10 << ASPEED_SGPIO_PINS_SHIFT) | ASPEED_SGPIO_ENABLE | (3 << 16)),
        u64::from(AST2600_SGPIO_PINS_MASK | ASPEED_SGPIO_ENABLE),
        u64::from(AST2400_SGPIO_PINS_MASK),
        0xffff_ffff,
        0xffff,
        1,
    ];
    // Mostly lines that exist, sometimes just past the end.
    let line = 0..variant.ngpio() + 8;
    prop_oneof![
        8 => (offset(REGS_SIZE), width()).prop_map(|(o, w)| Op::Read(o, w)),
        10 => (offset(REGS_SIZE), width(), value(magic)).prop_map(|(o, w, v)| Op::Write(o, w, v)),
        10 => (line.clone(), any::<bool>()).prop_map(|(l, h)| Op::SetInput(l, h)),
        1 => (0u32..20, 0u32..0x10000).prop_map(|(n, d)| Op::Probe(n, d)),
        4 => (line.clone(), any::<bool>()).prop_map(|(l, v)| Op::Set(l | 1, v)),
        3 => (line.clone(), trigger()).prop_map(|(l, t)| Op::SetType(l & !1, t)),
        3 => (line.clone(), any::<bool>()).prop_map(|(l, on)| Op::Unmask(l & !1, on)),
        3 => line.clone().prop_map(|l| Op::Ack(l & !1)),
        1 => (line, any::<bool>()).prop_map(|(l, on)| Op::Persist(l, on)),
        1 => Just(Op::Reset),
    ]
}

fn variant() -> impl Strategy<Value = Variant> {
    prop::sample::select(vec![Variant::Ast2600, Variant::Ast2500])
}

fn case() -> impl Strategy<Value = (Variant, Vec<Op>)> {
    variant().prop_flat_map(|v| (Just(v), prop::collection::vec(op(v), OPS)))
}

/// Linux `bank_reg(.., to_bank(line), reg)` and `GPIO_BIT(line)`; None past the table (Linux
/// would WARN there).
fn reg_of(line: u32, reg: BankReg) -> Option<(u64, u64)> {
    let regs = BANKS.get((line >> 6) as usize)?;
    Some((regs.offset(reg), 1 << ((line & 63) >> 1)))
}

fn rmw(sgpio: &mut AspeedSgpio, line: u32, reg: BankReg, set: bool) {
    let Some((off, bit)) = reg_of(line, reg) else {
        return;
    };
    let v = sgpio.read(off, 4);
    sgpio.write(off, 4, if set { v | bit } else { v & !bit });
}

fn driver_op(sgpio: &mut AspeedSgpio, op: &Op) {
    match *op {
        Op::Probe(n, div) => {
            let count = ((n) << ASPEED_SGPIO_PINS_SHIFT) & sgpio.variant().pins_field_mask();
            sgpio.write(
                ASPEED_SGPIO_CTRL,
                4,
                u64::from((div << 16) | count | ASPEED_SGPIO_ENABLE),
            );
            for regs in BANKS {
                sgpio.write(regs.offset(BankReg::IrqEnable), 4, 0);
                sgpio.write(regs.offset(BankReg::IrqStatus), 4, 0xffff_ffff);
            }
            for regs in BANKS {
                for reg in [BankReg::IrqType0, BankReg::IrqType1, BankReg::IrqType2] {
                    sgpio.write(regs.offset(reg), 4, 0);
                }
            }
        }
        Op::Set(l, v) => {
            if let (Some((rdata, bit)), Some((value, _))) =
                (reg_of(l, BankReg::DataRead), reg_of(l, BankReg::Value))
            {
                let d = sgpio.read(rdata, 4);
                sgpio.write(value, 4, if v { d | bit } else { d & !bit });
            }
        }
        Op::SetType(l, t) => {
            let (t0, t1, t2) = match t {
                IrqTrigger::BothEdges => (true, false, true),
                IrqTrigger::RisingEdge => (true, false, false),
                IrqTrigger::FallingEdge => (false, false, false),
                IrqTrigger::LevelHigh => (true, true, false),
                IrqTrigger::LevelLow => (false, true, false),
            };
            rmw(sgpio, l, BankReg::IrqType0, t0);
            rmw(sgpio, l, BankReg::IrqType1, t1);
            rmw(sgpio, l, BankReg::IrqType2, t2);
        }
        Op::Unmask(l, on) => rmw(sgpio, l, BankReg::IrqEnable, on),
        Op::Ack(l) => {
            if let Some((off, bit)) = reg_of(l, BankReg::IrqStatus) {
                sgpio.write(off, 4, bit);
            }
        }
        Op::Persist(l, on) => rmw(sgpio, l, BankReg::Tolerance, on),
        _ => unreachable!(),
    }
}

/// Every bit of `state` belongs to a slot `variant` has.
fn state_fits(variant: Variant, state: &SgpioState) -> Result<(), String> {
    for (b, bank) in state.banks.iter().enumerate() {
        let mask = if b < variant.banks() {
            variant.pin_mask(b)
        } else {
            0
        };
        let all = [
            bank.output_data,
            bank.input_data,
            bank.irq_enable,
            bank.irq_type[0],
            bank.irq_type[1],
            bank.irq_type[2],
            bank.irq_status,
            bank.reset_tolerance,
            bank.input_pins,
            bank.output_pins,
        ];
        if all.iter().any(|v| v & !mask != 0) {
            return Err(format!("bank {b} holds bits of missing slots: {bank:?}"));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sgpio_survives_arbitrary_mmio_and_pins((variant, ops) in case()) {
        let rec = LevelRecorder::new();
        let mut sgpio = AspeedSgpio::new(variant, rec.line(0));
        // The output levels as the host knows them: the changes it was told.
        let mut seen = vec![false; variant.max_pins() as usize];
        for op in &ops {
            match *op {
                Op::Read(offset, size) => {
                    let v = timed(op, || sgpio.read(offset, size))?;
                    prop_assert!(read_fits(v, size), "{:?} returned {:#x}", op, v);
                }
                Op::Write(offset, size, value) => timed(op, || sgpio.write(offset, size, value))?,
                Op::SetInput(line, high) => {
                    let done = timed(op, || sgpio.set_input(line, high))?;
                    prop_assert_eq!(done, line % 2 == 0 && line < variant.ngpio());
                    if done {
                        prop_assert_eq!(sgpio.input_level(line), Some(high));
                    }
                }
                Op::Reset => timed(op, || sgpio.reset())?,
                _ => timed(op, || driver_op(&mut sgpio, op))?,
            }
            for (line, level) in sgpio.take_output_changes() {
                let (slot, is_input) = slot_of(line);
                prop_assert!(!is_input && slot < variant.max_pins(),
                    "change of line {} after {:?}", line, op);
                prop_assert_ne!(seen[slot as usize], level,
                    "line {} reported unchanged after {:?}", line, op);
                seen[slot as usize] = level;
            }
            let state = sgpio.state();
            if let Err(e) = state_fits(variant, &state) {
                prop_assert!(false, "{} after {:?}", e, op);
            }
            let pending = state.banks.iter().any(|b| b.irq_status & b.irq_enable != 0);
            prop_assert_eq!(rec.level(0), pending, "interrupt output after {:?}", op);
            prop_assert_eq!(sgpio.irq_pending(), pending);
            prop_assert!(sgpio.active_pins() <= variant.max_pins());
            let active = sgpio.active_pins();
            for (b, (bank, regs)) in state.banks.iter().zip(BANKS).enumerate().take(variant.banks()) {
                let value = sgpio.read(regs.offset(BankReg::Value), 4) as u32;
                prop_assert_eq!(value, bank.input_data, "value register, bank {}", b);
                let rdata = sgpio.read(regs.offset(BankReg::DataRead), 4) as u32;
                prop_assert_eq!(rdata, bank.output_data, "data read register, bank {}", b);
            }
            for slot in 0..variant.max_pins() {
                let b = (slot / SLOTS_PER_BANK) as usize;
                let bit = 1u32 << (slot % SLOTS_PER_BANK);
                let bank = &state.banks[b];
                let level = sgpio.output_level(output_line(slot));
                prop_assert_eq!(level, Some(bank.output_pins & bit != 0));
                prop_assert_eq!(seen[slot as usize], bank.output_pins & bit != 0,
                    "slot {} output level not reported after {:?}", slot, op);
                if slot < active {
                    prop_assert_eq!(bank.input_data & bit, bank.input_pins & bit,
                        "shifted slot {} input after {:?}", slot, op);
                    prop_assert_eq!(bank.output_pins & bit, bank.output_data & bit,
                        "shifted slot {} output after {:?}", slot, op);
                }
            }
        }
    }
}
