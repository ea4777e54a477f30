//! Fuzz target for the PCA9554-style GPIO expander: arbitrary sequences of I2C bus conditions
//! (START to the part or to nobody, for reading or writing, repeated STARTs, STOP), written
//! bytes (command bytes in and out of range, any value), reads, levels applied to any pin from
//! outside (also pins past the eighth), resets and save / restore.
//!
//! The test keeps its own model of the part, written from the datasheet rules rather than the
//! crate's helpers, and checks after every operation: nothing panics, each operation returns
//! within [`OP_BUDGET`] (a hang fails the case through proptest's per-case timeout), the
//! part's state equals the model's, every read returns what the model says (the input port
//! from the pin levels and the polarity of input pins), the pin lines are at the pin levels
//! and the INT line is low exactly while an input pin differs from its level at the last read
//! of the input port. Cases: `PROPTEST_CASES` (256 by default) x [`OPS`] operations; see
//! docs/fuzzing.md.

use std::cell::RefCell;
use std::rc::Rc;

use bus::LevelRecorder;
use i2c::I2cBus;
use mmio_fuzz::*;
use pca9554::*;
use proptest::prelude::*;

const ADDR: u8 = 0x20;

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
    /// Apply a level from outside to a pin (0..=9: past the eighth too).
    Input {
        pin: usize,
        high: bool,
    },
    Reset,
    /// Replace the part by one restored from its state (lines reconnected).
    Restore,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (prop::bool::weighted(0.9), any::<bool>())
            .prop_map(|(to_part, read)| Op::Start { to_part, read }),
        6 => prop_oneof![
            3 => (0u8..8).prop_map(Op::Write),
            1 => prop::sample::select(vec![0x00u8, 0x0F, 0xF0, 0xFF, 0x55, 0xAA]).prop_map(Op::Write),
            2 => any::<u8>().prop_map(Op::Write),
        ],
        5 => Just(Op::Read),
        2 => Just(Op::Stop),
        4 => (0usize..10, any::<bool>()).prop_map(|(pin, high)| Op::Input { pin, high }),
        1 => Just(Op::Reset),
        1 => Just(Op::Restore),
    ]
}

/// The part as the datasheets describe it.
#[derive(Clone, Debug)]
struct Model {
    selected: bool,
    command: u8,
    count: u8,
    output: u8,
    polarity: u8,
    config: u8,
    external: u8,
    latch: u8,
}

impl Model {
    fn new() -> Self {
        Self {
            selected: false,
            command: 0,
            count: 0,
            output: 0xFF,
            polarity: 0,
            config: 0xFF,
            external: 0xFF,
            latch: 0xFF,
        }
    }
    fn pin(&self, n: u8) -> bool {
        let bit = 1 << n;
        if self.config & bit != 0 {
            self.external & bit != 0
        } else {
            self.output & bit != 0
        }
    }
    fn pins(&self) -> u8 {
        (0..8).filter(|&n| self.pin(n)).fold(0, |v, n| v | 1 << n)
    }
    fn int_low(&self) -> bool {
        (0..8).any(|n| self.config & (1 << n) != 0 && self.pin(n) != (self.latch & (1 << n) != 0))
    }
    fn as_state(&self, kind: Pca9554Kind) -> Pca9554State {
        Pca9554State {
            kind,
            command: self.command,
            count: self.count,
            output: self.output,
            polarity: self.polarity,
            config: self.config,
            external: self.external,
            input_latch: self.latch,
        }
    }
}

type Chip = Rc<RefCell<Pca9554>>;

fn place(chip: Pca9554, bus: &mut I2cBus, rec: &Rc<LevelRecorder>) -> Chip {
    let chip = Rc::new(RefCell::new(chip));
    bus.detach(ADDR);
    bus.attach(ADDR, chip.clone()).expect("free address");
    let mut c = chip.borrow_mut();
    for pin in 0..PINS {
        assert!(c.connect_pin(pin, rec.line(pin as u32)));
    }
    c.connect_interrupt(rec.line(8));
    drop(c);
    chip
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn pca9554_matches_its_model(
        kind in prop::sample::select(Pca9554Kind::ALL.to_vec()),
        ops in prop::collection::vec(op(), OPS),
    ) {
        let mut bus = I2cBus::new();
        let rec = LevelRecorder::new();
        let mut chip = place(Pca9554::new(kind), &mut bus, &rec);
        let mut m = Model::new();
        for op in &ops {
            match *op {
                Op::Start { to_part, read } => {
                    let ack = timed(op, || bus.start(if to_part { ADDR } else { 0x21 }, read))?;
                    prop_assert_eq!(ack, to_part);
                    // A START to the part begins a transaction; one elsewhere ends the
                    // part's (if it had one) with a STOP. Either way the next byte the part
                    // sees is a command byte.
                    if to_part || m.selected {
                        m.count = 0;
                    }
                    m.selected = to_part;
                }
                Op::Write(byte) => {
                    let ack = timed(op, || bus.write(byte))?;
                    prop_assert_eq!(ack, m.selected);
                    if m.selected {
                        if m.count == 0 {
                            m.command = byte & 3;
                        } else {
                            match m.command {
                                1 => m.output = byte,
                                2 => m.polarity = byte,
                                3 => m.config = byte,
                                _ => {}
                            }
                        }
                        m.count = m.count.saturating_add(1);
                    }
                }
                Op::Read => {
                    let v = timed(op, || bus.read())?;
                    let expected = if !m.selected {
                        0xFF
                    } else {
                        match m.command {
                            0 => {
                                m.latch = m.pins();
                                m.pins() ^ (m.polarity & m.config)
                            }
                            1 => m.output,
                            2 => m.polarity,
                            _ => m.config,
                        }
                    };
                    prop_assert_eq!(v, expected, "read after {:?}", m);
                }
                Op::Stop => {
                    timed(op, || bus.stop())?;
                    if m.selected {
                        m.count = 0;
                    }
                    m.selected = false;
                }
                Op::Input { pin, high } => {
                    let ok = timed(op, || chip.borrow_mut().set_input_level(pin, high))?;
                    prop_assert_eq!(ok, pin < PINS);
                    if ok {
                        if high {
                            m.external |= 1 << pin;
                        } else {
                            m.external &= !(1 << pin);
                        }
                    }
                }
                Op::Reset => {
                    timed(op, || chip.borrow_mut().reset())?;
                    let (external, selected) = (m.external, m.selected);
                    m = Model { external, latch: external, selected, ..Model::new() };
                }
                Op::Restore => {
                    let s = chip.borrow().state();
                    chip = timed(op, || place(Pca9554::from_state(&s), &mut bus, &rec))?;
                    // The bus's transaction ended with the old part (detached); the new
                    // one keeps the saved byte count until its next START.
                    m.selected = false;
                }
            }
            let c = chip.borrow();
            prop_assert_eq!(c.state(), m.as_state(kind), "after {:?}", op);
            for pin in 0..PINS {
                prop_assert_eq!(rec.level(pin as u32), m.pin(pin as u8), "pin {} after {:?}", pin, op);
                prop_assert_eq!(c.pin_level(pin), Some(m.pin(pin as u8)));
            }
            prop_assert_eq!(rec.level(8), !m.int_low(), "INT after {:?}: {:?}", op, m);
            prop_assert_eq!(c.interrupt_asserted(), m.int_low());
            prop_assert_eq!(c.pin_level(PINS), None);
        }
    }
}
