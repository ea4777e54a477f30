//! Fuzz target for the GPIO controller, each case on one of the three variants: arbitrary
//! sequences of MMIO reads and writes of any width at any offset, register sequences of the
//! Linux driver (direction in/out, set, irq type, mask/unmask, ack) on random lines, the host
//! driving pins (`set_input`, on lines that exist and some that do not), and resets.
//!
//! Checked after every operation: nothing panics, a read of N bytes fits in N bytes, each
//! operation returns within [`OP_BUDGET`], the interrupt output is at the level the state
//! implies (some line with status and enable set), no register holds a bit for a line the
//! variant lacks, the data value register reads every line's `line_level` (the latch for an
//! output, the external level for an input), and the output change queue is exact: replaying
//! it (drained after every operation) onto the pin levels the host last saw gives the pin
//! levels now, and every entry changes the level it names. Cases: `PROPTEST_CASES` (256 by
//! default) x [`OPS`] operations; see docs/fuzzing.md.

use bus::{Device, LevelRecorder};
use gpio::*;
use mmio_fuzz::*;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Read(u64, u8),
    Write(u64, u8, u64),
    /// The host drives a pin.
    SetInput(u32, bool),
    /// Linux `aspeed_gpio_dir_out`: latch, then direction.
    DirOut(u32, bool),
    /// Linux `aspeed_gpio_dir_in`.
    DirIn(u32),
    /// Linux `aspeed_gpio_set_type` (type0, type1, type2 read-modify-written).
    SetType(u32, IrqTrigger),
    /// Linux `aspeed_gpio_irq_unmask` / `_mask`.
    Unmask(u32, bool),
    /// Linux `aspeed_gpio_irq_ack`.
    Ack(u32),
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
        u64::from(CMDSRC_MASK),
        0xffff_ffff,
        0x00ff_ffff,
        0xffff_ff00,
        0x0fff_ffff,
        0xffff,
        0xf,
        1,
    ];
    let size = variant.regs_size();
    // Mostly lines that exist, sometimes just past the end.
    let line = 0..variant.ngpio() + 8;
    prop_oneof![
        8 => (offset(size), width()).prop_map(|(o, w)| Op::Read(o, w)),
        10 => (offset(size), width(), value(magic)).prop_map(|(o, w, v)| Op::Write(o, w, v)),
        10 => (line.clone(), any::<bool>()).prop_map(|(l, h)| Op::SetInput(l, h)),
        3 => (line.clone(), any::<bool>()).prop_map(|(l, v)| Op::DirOut(l, v)),
        2 => line.clone().prop_map(Op::DirIn),
        3 => (line.clone(), trigger()).prop_map(|(l, t)| Op::SetType(l, t)),
        3 => (line.clone(), any::<bool>()).prop_map(|(l, on)| Op::Unmask(l, on)),
        3 => line.prop_map(Op::Ack),
        1 => Just(Op::Reset),
    ]
}

fn variant() -> impl Strategy<Value = Variant> {
    prop::sample::select(vec![
        Variant::Ast2600_3v3,
        Variant::Ast2600_1v8,
        Variant::Ast2500,
    ])
}

fn case() -> impl Strategy<Value = (Variant, Vec<Op>)> {
    variant().prop_flat_map(|v| (Just(v), prop::collection::vec(op(v), OPS)))
}

fn rmw(gpio: &mut AspeedGpio, line: u32, reg: BankReg, set: bool) {
    let bank = (line / LINES_PER_BANK) as usize;
    let bit = 1u64 << (line % LINES_PER_BANK);
    let Some(regs) = BANKS.get(bank) else { return };
    let off = regs.offset(reg);
    let v = gpio.read(off, 4);
    gpio.write(off, 4, if set { v | bit } else { v & !bit });
}

fn driver_op(gpio: &mut AspeedGpio, op: &Op) {
    let bank = |l: u32| (l / LINES_PER_BANK) as usize;
    match *op {
        Op::DirOut(l, v) => {
            // The driver's latch copy (u-boot reads it from the data read register).
            if let Some(regs) = BANKS.get(bank(l)) {
                let bit = 1u64 << (l % LINES_PER_BANK);
                let latch = gpio.read(regs.offset(BankReg::DataRead), 4);
                let latch = if v { latch | bit } else { latch & !bit };
                gpio.write(regs.offset(BankReg::Value), 4, latch);
                rmw(gpio, l, BankReg::Direction, true);
            }
        }
        Op::DirIn(l) => rmw(gpio, l, BankReg::Direction, false),
        Op::SetType(l, t) => {
            let (t0, t1, t2) = match t {
                IrqTrigger::BothEdges => (true, false, true),
                IrqTrigger::RisingEdge => (true, false, false),
                IrqTrigger::FallingEdge => (false, false, false),
                IrqTrigger::LevelHigh => (true, true, false),
                IrqTrigger::LevelLow => (false, true, false),
            };
            rmw(gpio, l, BankReg::IrqType0, t0);
            rmw(gpio, l, BankReg::IrqType1, t1);
            rmw(gpio, l, BankReg::IrqType2, t2);
        }
        Op::Unmask(l, on) => rmw(gpio, l, BankReg::IrqEnable, on),
        Op::Ack(l) => {
            if let Some(regs) = BANKS.get(bank(l)) {
                gpio.write(
                    regs.offset(BankReg::IrqStatus),
                    4,
                    1 << (l % LINES_PER_BANK),
                );
            }
        }
        _ => unreachable!(),
    }
}

/// Every bit of `state` belongs to a line `variant` has (interrupt bits to input lines).
fn state_fits(variant: Variant, state: &GpioState) -> Result<(), String> {
    for (b, bank) in state.banks.iter().enumerate() {
        let lines = if b < variant.banks() {
            variant.line_mask(b)
        } else {
            0
        };
        let input = variant.input_mask(b) & lines;
        let outside = |v: u32, mask: u32| v & !mask != 0;
        let irq = bank
            .irq_type
            .iter()
            .chain([&bank.irq_enable, &bank.irq_status]);
        if outside(bank.latch | bank.direction, variant.output_mask(b) & lines)
            || irq.into_iter().any(|v| outside(*v, input))
            || bank.debounce_sel.iter().any(|v| outside(*v, input))
            || outside(bank.reset_tolerance | bank.input, lines)
            || bank.cmd_source.iter().any(|v| outside(*v, CMDSRC_MASK))
        {
            return Err(format!("bank {b} holds bits of missing lines: {bank:?}"));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn gpio_survives_arbitrary_mmio_and_pins((variant, ops) in case()) {
        let rec = LevelRecorder::new();
        let mut gpio = AspeedGpio::new(variant, rec.line(0));
        let lines: Vec<u32> = (0..variant.ngpio()).filter(|l| variant.has_line(*l)).collect();
        // The pin levels as the host knows them: what it drove, plus the changes it was told.
        let mut seen = vec![false; variant.ngpio() as usize];
        for op in &ops {
            match *op {
                Op::Read(offset, size) => {
                    let v = timed(op, || gpio.read(offset, size))?;
                    prop_assert!(read_fits(v, size), "{:?} returned {:#x}", op, v);
                }
                Op::Write(offset, size, value) => timed(op, || gpio.write(offset, size, value))?,
                Op::SetInput(line, high) => {
                    let follows = gpio.has_line(line) && !gpio.is_output(line);
                    let done = timed(op, || gpio.set_input(line, high))?;
                    prop_assert_eq!(done, gpio.has_line(line));
                    if follows {
                        seen[line as usize] = high;
                    }
                }
                Op::Reset => timed(op, || gpio.reset())?,
                _ => timed(op, || driver_op(&mut gpio, op))?,
            }
            for (line, level) in gpio.take_output_changes() {
                prop_assert!(variant.has_line(line), "change of missing line {} after {:?}", line, op);
                prop_assert_ne!(seen[line as usize], level, "line {} reported unchanged after {:?}", line, op);
                seen[line as usize] = level;
            }
            let state = gpio.state();
            if let Err(e) = state_fits(variant, &state) {
                prop_assert!(false, "{} after {:?}", e, op);
            }
            let pending = state.banks.iter().any(|b| b.irq_status & b.irq_enable != 0);
            prop_assert_eq!(rec.level(0), pending, "interrupt output after {:?}", op);
            prop_assert_eq!(gpio.irq_pending(), pending);
            for &line in &lines {
                let b = (line / LINES_PER_BANK) as usize;
                let bit = 1u32 << (line % LINES_PER_BANK);
                let bank = &state.banks[b];
                let driven = if bank.direction & bit != 0 { bank.latch } else { bank.input };
                let level = gpio.line_level(line);
                prop_assert_eq!(level, Some(driven & bit != 0), "line {} after {:?}", line, op);
                let value = gpio.read(BANKS[b].offset(BankReg::Value), 4) as u32;
                prop_assert_eq!(Some(value & bit != 0), level, "value register, line {}", line);
                prop_assert_eq!(seen[line as usize], level.unwrap_or(false),
                    "line {} level not reported after {:?}", line, op);
            }
        }
    }
}
