//! Fuzz target for the UART: arbitrary sequences of MMIO reads and writes of any width at any
//! offset (for the AST2600's register shift of 2 and for other shifts), host input offered at
//! random, an output that sometimes fails, and resets.
//!
//! Checked after every operation: nothing panics, a read of N bytes fits in N bytes, each
//! operation returns within [`OP_BUDGET`] (a hang fails the case through proptest's per-case
//! timeout), the interrupt line is high exactly when IIR reports a pending interrupt, the RX
//! FIFO never holds more than 16 bytes and `rx_space` never offers more room than it has.
//! Cases: `PROPTEST_CASES` (256 by default) x [`OPS`] operations; see docs/fuzzing.md.

use std::io;

use bus::{Device, LevelRecorder};
use mmio_fuzz::*;
use proptest::prelude::*;
use uart::*;

// ---- the UART ----

/// An output that fails every other write when `flaky` (a closed terminal, a full pipe).
struct Output {
    bytes: Vec<u8>,
    flaky: bool,
    calls: u64,
}

impl io::Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.flaky && self.calls.is_multiple_of(2) {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "fuzz"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Clone, Debug)]
enum Op {
    Read(u64, u8),
    Write(u64, u8, u64),
    /// A 32-bit read (`None`) or write of one of the eight 16550 registers, as drivers do.
    Reg(u64, Option<u8>),
    /// Host input offered to the receiver.
    Input(Vec<u8>),
    Reset,
}

fn op(block: u64, shift: u8) -> impl Strategy<Value = Op> {
    let reg_value = prop_oneof![
        3 => prop::sample::select(vec![0x03u8, LCR_DLAB | 3, IER_MASK, IER_ETBEI, IER_ERBFI | IER_ELSI, 0xC7, 0x01, MCR_LOOP | 0x0B, 0x0B, 0x0D]),
        2 => any::<u8>(),
    ];
    let index_shift = shift.min(8);
    let magic = vec![
        u64::from(LCR_DLAB | 3),
        u64::from(MCR_LOOP | MCR_MASK),
        u64::from(IER_MASK),
        u64::from(FCR_ENABLE_FIFO | FCR_CLEAR_RCVR | FCR_TRIGGER_MASK),
        0x0D,
    ];
    prop_oneof![
        10 => (offset(block), width()).prop_map(|(o, w)| Op::Read(o, w)),
        10 => (offset(block), width(), value(magic)).prop_map(|(o, w, v)| Op::Write(o, w, v)),
        12 => (0u64..8, prop::option::of(reg_value))
            .prop_map(move |(index, value)| Op::Reg(index << index_shift, value)),
        3 => prop::collection::vec(any::<u8>(), 0..=20).prop_map(Op::Input),
        1 => Just(Op::Reset),
    ]
}

/// A register shift, then operations on a block of the 64 registers at that shift.
fn shift_and_ops() -> impl Strategy<Value = (u8, Vec<Op>)> {
    prop_oneof![4 => Just(2u8), 1 => 0u8..=12].prop_flat_map(|shift| {
        let block = 64u64 << shift.min(8);
        (Just(shift), prop::collection::vec(op(block, shift), OPS))
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn uart_survives_arbitrary_mmio(
        (shift, ops) in shift_and_ops(),
        flaky in any::<bool>(),
    ) {
        let rec = LevelRecorder::new();
        let out = Output { bytes: Vec::new(), flaky, calls: 0 };
        let mut uart = Uart::new(out, rec.line(0), shift);
        for op in &ops {
            match op {
                Op::Read(offset, size) => {
                    let v = timed(op, || uart.read(*offset, *size))?;
                    prop_assert!(read_fits(v, *size), "{:?} returned {:#x}", op, v);
                }
                Op::Write(offset, size, value) => timed(op, || uart.write(*offset, *size, *value))?,
                Op::Reg(offset, None) => {
                    let v = timed(op, || uart.read(*offset, 4))?;
                    prop_assert!(v <= 0xFF, "{:?} returned {:#x}", op, v);
                }
                Op::Reg(offset, Some(value)) => timed(op, || uart.write(*offset, 4, u64::from(*value)))?,
                Op::Input(data) => {
                    let space = uart.rx_space();
                    let taken = timed(op, || uart.enqueue_rx(data))?;
                    prop_assert_eq!(taken, space.min(data.len()));
                }
                Op::Reset => timed(op, || uart.reset())?,
            }
            let pending = uart.interrupt_id() != IIR_NO_INT;
            prop_assert_eq!(rec.level(0), pending, "line vs IIR {:#x} after {:?}", uart.interrupt_id(), op);
            prop_assert_eq!(uart.state().irq_level, pending);
            let queued = uart.state().rx_fifo.len();
            prop_assert!(queued <= RX_FIFO_SIZE, "{} bytes queued", queued);
            prop_assert!(queued + uart.rx_space() <= RX_FIFO_SIZE);
        }
    }
}
