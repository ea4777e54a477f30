//! Fuzz target for the UART: arbitrary sequences of MMIO reads and writes of any width at any
//! offset (for the AST2600's register shift of 2 and for other shifts), host input offered at
//! random, an output that sometimes fails, and resets.
//!
//! Checked after every operation: nothing panics, a read of N bytes fits in N bytes, each
//! operation returns within [`OP_BUDGET`] (a hang fails the case through proptest's per-case
//! timeout), the interrupt line is high exactly when IIR reports a pending interrupt, the RX
//! FIFO never holds more than 16 bytes and `rx_space` never offers more room than it has.
//! Cases: `PROPTEST_CASES` (256 by default) x [`OPS`] operations; see docs/fuzzing.md.

use std::fmt::Debug;
use std::io;
use std::time::{Duration, Instant};

use bus::{Device, LevelRecorder};
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestCaseError};
use uart::*;

// ---- harness shared by every device's tests/fuzz.rs (kept identical) ----

/// Operations per case: 256 cases (proptest's default) x 400 = 102 400 operations.
const OPS: usize = 400;
/// The longest one operation may take, in wall time. Operations take microseconds (the
/// slowest, a 32 MiB SMC checksum DMA, about 0.2 s); the margin absorbs a loaded machine.
const OP_BUDGET: Duration = Duration::from_secs(5);

/// Case count from `PROPTEST_CASES` (default 256). A case running longer than 30 s fails as a
/// hang (proptest then runs the cases in a child process it can kill). Failing cases are kept
/// in `tests/fuzz.proptest-regressions` and replayed first on every run.
fn config() -> ProptestConfig {
    ProptestConfig {
        timeout: 30_000,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

/// Access widths: those the CPU makes (1, 2, 4, 8) and some it never makes.
fn width() -> impl Strategy<Value = u8> {
    prop_oneof![
        8 => prop::sample::select(vec![1u8, 2, 4, 8]),
        1 => prop::sample::select(vec![0u8, 3, 5, 6, 7, 9, 16, 255]),
    ]
}

/// Offsets: mostly the registers of a `block`-byte block (aligned or not), sometimes just
/// past its end, anywhere at all, or at the top of the address space.
fn offset(block: u64) -> impl Strategy<Value = u64> {
    prop_oneof![
        8 => (0..block / 4).prop_map(|w| w * 4),
        2 => 0..block,
        1 => block..block.saturating_add(0x100),
        1 => any::<u64>(),
        1 => (0u64..8).prop_map(|d| u64::MAX - d),
    ]
}

/// Values: anything, 32-bit, single bits, all zeros or ones, and the device's magic numbers.
fn value(magic: Vec<u64>) -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => any::<u64>(),
        3 => any::<u32>().prop_map(u64::from),
        2 => (0u32..64).prop_map(|b| 1u64 << b),
        1 => prop::sample::select(vec![0, u64::from(u32::MAX), u64::MAX]),
        3 => prop::sample::select(magic),
    ]
}

/// Whether `value` fits the width of a read of `size` bytes. Invalid widths 0 and 3 must stay
/// within one 32-bit word; the other invalid widths are only checked for not panicking.
fn read_fits(value: u64, size: u8) -> bool {
    let bytes: u32 = match size {
        1 | 2 | 4 => u32::from(size),
        0 | 3 => 4,
        _ => 8,
    };
    bytes >= 8 || value >> (8 * bytes) == 0
}

/// Runs `f` (operation `op`), failing the case if it takes longer than [`OP_BUDGET`].
fn timed<R>(op: &dyn Debug, f: impl FnOnce() -> R) -> Result<R, TestCaseError> {
    let start = Instant::now();
    let r = f();
    let took = start.elapsed();
    prop_assert!(took < OP_BUDGET, "{:?} took {:?}", op, took);
    Ok(r)
}

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
