//! Fuzz target for the AT24C EEPROMs, every size from the 24C01 to the 24C512: arbitrary
//! sequences of I2C bus conditions (START to any of the part's device addresses or to the
//! address after them, for reading or writing, repeated STARTs, STOP), written bytes (word
//! addresses, one or two, near the page and memory ends, and data), reads, and save / restore.
//!
//! The test keeps its own model of the part, written from the datasheet rules (one-byte word
//! address plus block bits from the device address up to the 24C16, two-byte word address
//! from the 24C32, page wrap on writes, whole-memory wrap on reads), and checks after every
//! operation: nothing panics, each operation returns within [`OP_BUDGET`] (a hang fails the
//! case through proptest's per-case timeout), every read returns the model's byte, and the
//! part's contents and address counter equal the model's. Cases: `PROPTEST_CASES` (256 by
//! default) x [`OPS`] operations; see docs/fuzzing.md.

use std::cell::RefCell;
use std::rc::Rc;

use at24::*;
use i2c::I2cBus;
use mmio_fuzz::*;
use proptest::prelude::*;

const BASE: u8 = 0x50;

#[derive(Clone, Debug)]
enum Op {
    /// START to device address `BASE + offset` (past the part's addresses: nobody).
    Start {
        offset: u8,
        read: bool,
    },
    Write(u8),
    Read,
    Stop,
    /// Replace the part by one restored from its state.
    Restore,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..9, prop::bool::weighted(0.4)).prop_map(|(offset, read)| Op::Start { offset, read }),
        8 => prop_oneof![
            2 => any::<u8>().prop_map(Op::Write),
            1 => prop::sample::select(vec![0x00u8, 0x0F, 0x1F, 0x3F, 0x7F, 0xFE, 0xFF, 0x10, 0x20, 0x80])
                .prop_map(Op::Write),
        ],
        6 => Just(Op::Read),
        2 => Just(Op::Stop),
        1 => Just(Op::Restore),
    ]
}

/// The part as the datasheets describe it.
struct Model {
    kind: At24Kind,
    data: Vec<u8>,
    counter: usize,
    /// The transaction the part is in: `Some(true)` reading, `Some(false)` writing.
    reading: Option<bool>,
    /// Of the write transaction: its block and the word address bytes received so far
    /// (the high one kept for two-byte addresses).
    block: usize,
    address_bytes: usize,
    high: u8,
}

impl Model {
    fn two_byte(&self) -> bool {
        self.kind.size() > 2048
    }
    fn write(&mut self, byte: u8) {
        let size = self.kind.size();
        let page = self.kind.page_size();
        match (self.two_byte(), self.address_bytes) {
            (false, 0) => self.counter = (self.block * 256 + usize::from(byte)) % size,
            (true, 0) => self.high = byte,
            (true, 1) => self.counter = (usize::from(self.high) << 8 | usize::from(byte)) % size,
            _ => {
                self.data[self.counter] = byte;
                let start = self.counter / page * page;
                self.counter = start + (self.counter + 1 - start) % page;
            }
        }
        self.address_bytes += 1;
    }
    fn read(&mut self) -> u8 {
        let v = self.data[self.counter];
        self.counter = (self.counter + 1) % self.kind.size();
        v
    }
}

fn place(part: At24, bus: &mut I2cBus) -> Rc<RefCell<At24>> {
    let count = part.kind().address_count() as u8;
    for a in BASE..BASE + count {
        bus.detach(a);
    }
    let part = Rc::new(RefCell::new(part));
    At24::attach(&part, bus, BASE).expect("free addresses");
    part
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn at24_matches_its_model(
        kind in prop::sample::select(At24Kind::ALL.to_vec()),
        seed in any::<u8>(),
        ops in prop::collection::vec(op(), OPS),
    ) {
        let size = kind.size();
        let contents: Vec<u8> = (0..size).map(|i| (i as u8) ^ seed ^ (i >> 8) as u8).collect();
        let mut bus = I2cBus::new();
        let mut part = place(At24::new(kind, contents.clone()), &mut bus);
        let count = kind.address_count();
        let mut m = Model {
            kind,
            data: contents,
            counter: 0,
            reading: None,
            block: 0,
            address_bytes: 0,
            high: 0,
        };
        for op in &ops {
            match *op {
                Op::Start { offset, read } => {
                    let ack = timed(op, || bus.start(BASE + offset, read))?;
                    let ours = usize::from(offset) < count;
                    prop_assert_eq!(ack, ours);
                    m.reading = ours.then_some(read);
                    if ours && !read {
                        (m.block, m.address_bytes) = (usize::from(offset), 0);
                    }
                }
                Op::Write(byte) => {
                    let ack = timed(op, || bus.write(byte))?;
                    prop_assert_eq!(ack, m.reading.is_some());
                    match m.reading {
                        Some(false) => m.write(byte),
                        // No master writes in a read transaction: only check that the part
                        // survives it, and follow what it did.
                        Some(true) => {
                            let p = part.borrow();
                            m.data.copy_from_slice(p.contents());
                            m.counter = p.state().address;
                        }
                        None => {}
                    }
                }
                Op::Read => {
                    let v = timed(op, || bus.read())?;
                    match m.reading {
                        Some(true) => prop_assert_eq!(v, m.read(), "read"),
                        None => prop_assert_eq!(v, 0xFF, "nobody drives SDA"),
                        // Nor reads in a write transaction: follow the part.
                        Some(false) => {
                            m.counter = part.borrow().state().address;
                        }
                    }
                }
                Op::Stop => {
                    timed(op, || bus.stop())?;
                    m.reading = None;
                }
                Op::Restore => {
                    let s = part.borrow().state();
                    part = timed(op, || place(At24::from_state(kind, &s), &mut bus))?;
                    m.reading = None;
                }
            }
            let p = part.borrow();
            prop_assert_eq!(p.contents(), &m.data[..], "contents after {:?}", op);
            prop_assert_eq!(p.state().address, m.counter, "counter after {:?}", op);
        }
    }
}
