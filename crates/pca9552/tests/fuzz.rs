//! Fuzz target for the PCA955x LED blinkers (PCA9551, PCA9552, PCA9553): arbitrary sequences
//! of I2C bus conditions (START to the part or to nobody, for reading or writing, repeated
//! STARTs, STOP), written bytes (command bytes with and without auto-increment, reserved
//! register numbers, bits that must be 0, any value), reads, levels applied to any pin from
//! outside (also pins the part does not have) and resets.
//!
//! Checked after every operation: nothing panics, each operation returns within
//! [`OP_BUDGET`] (a hang fails the case through proptest's per-case timeout), every pin's
//! connected line is at the pin's level, the pin levels follow the LED selectors as the crate
//! documents them (00 low, 01 the outside level, blinking: low when on half the time or more),
//! a read returns the register the control register names (INPUT from the pin levels, 0xFF
//! for reserved numbers) and auto-increment moves to the next register or rolls over to 0,
//! a data byte lands in the register named, the control register never holds more bits than
//! the part has, and the state survives a save and restore. Cases: `PROPTEST_CASES` (256 by
//! default) x [`OPS`] operations; see docs/fuzzing.md.

use std::cell::RefCell;
use std::rc::Rc;

use bus::LevelRecorder;
use i2c::{I2cBus, I2cTarget};
use mmio_fuzz::*;
use pca9552::*;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    /// START (or repeated START) to the part (`to_part`) or to an empty address.
    Start {
        to_part: bool,
        read: bool,
    },
    Write(u8),
    Read,
    Stop,
    /// Apply a level from outside to a pin (0..=17: past the largest part too).
    Input {
        pin: usize,
        high: bool,
    },
    Reset,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (prop::bool::weighted(0.9), any::<bool>())
            .prop_map(|(to_part, read)| Op::Start { to_part, read }),
        6 => prop_oneof![
            3 => (0u8..0x20).prop_map(Op::Write),
            1 => prop::sample::select(vec![0x00u8, 0x55, 0xAA, 0xFF, 0x80, 0x7F, 0x81, 0xE4])
                .prop_map(Op::Write),
            2 => any::<u8>().prop_map(Op::Write),
        ],
        5 => Just(Op::Read),
        2 => Just(Op::Stop),
        3 => (0usize..18, any::<bool>()).prop_map(|(pin, high)| Op::Input { pin, high }),
        1 => Just(Op::Reset),
    ]
}

/// The level the crate documents for `pin` of a part in state `s`.
fn expected_level(s: &Pca9552State, pin: usize) -> bool {
    let external = s.external & (1 << pin) != 0;
    match (s.ls[pin / 4] >> ((pin % 4) * 2)) & 3 {
        0 => false,
        1 => external,
        bank => s.pwm[usize::from(bank - 2)] > 0x80 && external,
    }
}

/// What a read of register `reg` of a part in state `s` returns.
fn expected_read(s: &Pca9552State, reg: u8) -> u8 {
    let kind = s.kind;
    let (psc0, ls0) = (kind.psc0(), kind.ls0());
    if reg < psc0 {
        (0..8)
            .map(|bit| 8 * usize::from(reg) + bit)
            .filter(|&pin| pin < kind.pins() && expected_level(s, pin))
            .fold(0, |v, pin| v | 1 << (pin % 8))
    } else if reg < ls0 {
        let i = usize::from(reg - psc0);
        if i % 2 == 0 {
            s.psc[i / 2]
        } else {
            s.pwm[i / 2]
        }
    } else if reg <= kind.last_register() {
        s.ls[usize::from(reg - ls0)]
    } else {
        0xFF
    }
}

/// The control register after a data byte at `control`.
fn advanced(kind: Pca955xKind, control: u8) -> u8 {
    if control & CONTROL_AI == 0 {
        return control;
    }
    let reg = control & kind.register_mask();
    CONTROL_AI
        | if reg >= kind.last_register() {
            0
        } else {
            reg + 1
        }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn pca955x_survives_arbitrary_transfers(
        kind in prop::sample::select(Pca955xKind::ALL.to_vec()),
        ops in prop::collection::vec(op(), OPS),
    ) {
        let address = *kind.addresses().start();
        let chip = Rc::new(RefCell::new(Pca9552::new(kind)));
        let mut bus = I2cBus::new();
        bus.attach(address, chip.clone()).expect("free address");
        let rec = LevelRecorder::new();
        for pin in 0..kind.pins() {
            prop_assert!(chip.borrow_mut().connect_pin(pin, rec.line(pin as u32)));
        }
        prop_assert!(!chip.borrow_mut().connect_pin(kind.pins(), rec.line(99)));
        for op in &ops {
            let before = chip.borrow().state();
            let selected = bus.selected() == Some(address);
            match *op {
                Op::Start { to_part, read } => {
                    let target = if to_part { address } else { 0x10 };
                    let ack = timed(op, || bus.start(target, read))?;
                    prop_assert_eq!(ack, to_part);
                }
                Op::Write(byte) => {
                    let ack = timed(op, || bus.write(byte))?;
                    prop_assert_eq!(ack, selected, "only the selected part acknowledges");
                    let after = chip.borrow().state();
                    if selected && before.count == 0 {
                        let kept = CONTROL_AI | kind.register_mask();
                        prop_assert_eq!(after.control, byte & kept, "command byte");
                    } else if selected {
                        let reg = before.control & kind.register_mask();
                        let mut written = after.clone();
                        written.control = before.control;
                        written.count = before.count;
                        let mut plain = before.clone();
                        if reg >= kind.psc0() && reg <= kind.last_register() {
                            let i = usize::from(reg - kind.psc0());
                            match i {
                                0 | 2 => plain.psc[i / 2] = byte,
                                1 | 3 => plain.pwm[i / 2] = byte,
                                _ => plain.ls[i - 4] = byte,
                            }
                        }
                        prop_assert_eq!(written, plain, "data byte to register {:#x}", reg);
                        prop_assert_eq!(after.control, advanced(kind, before.control));
                    } else {
                        prop_assert_eq!(&after, &before, "a byte to nobody changed the part");
                    }
                }
                Op::Read => {
                    let v = timed(op, || bus.read())?;
                    let after = chip.borrow().state();
                    if selected {
                        let reg = before.control & kind.register_mask();
                        prop_assert_eq!(v, expected_read(&before, reg), "register {:#x}", reg);
                        prop_assert_eq!(after.control, advanced(kind, before.control));
                    } else {
                        prop_assert_eq!(v, 0xFF, "nobody drives SDA");
                        prop_assert_eq!(&after, &before);
                    }
                }
                Op::Stop => timed(op, || bus.stop())?,
                Op::Input { pin, high } => {
                    let ok = timed(op, || chip.borrow_mut().set_input_level(pin, high))?;
                    prop_assert_eq!(ok, pin < kind.pins());
                    if ok {
                        prop_assert_eq!(chip.borrow().input_level(pin), Some(high));
                    }
                }
                Op::Reset => timed(op, || chip.borrow_mut().reset())?,
            }
            let c = chip.borrow();
            let s = c.state();
            prop_assert_eq!(s.control & !(CONTROL_AI | kind.register_mask()), 0);
            prop_assert_eq!(u32::from(s.external) >> kind.pins(), 0);
            for pin in 0..kind.pins() {
                let level = expected_level(&s, pin);
                prop_assert_eq!(c.pin_level(pin), Some(level), "pin {} after {:?}", pin, op);
                prop_assert_eq!(rec.level(pin as u32), level, "line {} after {:?}", pin, op);
                let output = c.pin_output(pin).expect("a pin of the part");
                let low_selected = matches!(output, PinOutput::Low);
                prop_assert!(!low_selected || !level, "driven low but reads high");
            }
            prop_assert_eq!(c.pin_level(kind.pins()), None);
            prop_assert_eq!(Pca9552::from_state(&s).state(), s);
        }
        // The target API directly, outside a bus: START, command, then data, as a bus does.
        let mut c = chip.borrow_mut();
        prop_assert!(c.start(false));
        prop_assert!(c.write(CONTROL_AI | kind.ls0()));
        prop_assert!(c.write(0x00));
        c.stop();
        prop_assert_eq!(c.pin_output(0), Some(PinOutput::Low));
    }
}
