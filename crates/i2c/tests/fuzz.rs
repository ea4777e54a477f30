//! Fuzz target for the AST2600 and AST2500 I2C controllers (the [`Variant`] is part of the
//! case): arbitrary sequences of reads and writes of any width at any offset to one bus's
//! registers, the global registers and the buffer pool, with
//! master commands (START / TX / RX / STOP / recovery, in byte, buffer-pool and DMA mode) aimed
//! at scripted targets that acknowledge or refuse at random, and resets. The bus's buffer is a
//! random one of the pool's (or one past its end) and DMA reaches a small guest memory (or
//! misses it).
//!
//! Checked after every operation: nothing panics, a read of N bytes fits in N bytes, each
//! operation returns within [`OP_BUDGET`] (a hang fails the case through proptest's per-case
//! timeout), the bus's interrupt line is high exactly when `INTR_STS & INTR_CTRL` is non-zero
//! and the global status register and `BusIrqStatus` agree with it, and targets only see
//! bytes inside a transaction they acknowledged. Cases: `PROPTEST_CASES` (256 by default) x
//! [`OPS`] operations; see docs/fuzzing.md.

use std::cell::RefCell;
use std::rc::Rc;

use bus::{Device, LevelRecorder, VecMemory};
use i2c::*;
use mmio_fuzz::*;
use proptest::prelude::*;

// ---- the I2C controller ----

/// A target that answers from a script and notes protocol violations.
struct ScriptedTarget {
    /// Acknowledge (true) or refuse each START / written byte, in turn, cycling.
    acks: Vec<bool>,
    /// Bytes returned to reads, cycling.
    data: Vec<u8>,
    step: usize,
    /// Inside a transaction this target acknowledged.
    active: bool,
    /// Bytes written or read, or STOPs, outside such a transaction.
    violations: Vec<&'static str>,
}

impl ScriptedTarget {
    fn next_ack(&mut self) -> bool {
        self.step += 1;
        self.acks[self.step % self.acks.len()]
    }
}

impl I2cTarget for ScriptedTarget {
    fn start(&mut self, _read: bool) -> bool {
        let ack = self.next_ack();
        self.active = ack;
        ack
    }
    fn write(&mut self, _byte: u8) -> bool {
        if !self.active {
            self.violations.push("write outside a transaction");
        }
        self.next_ack()
    }
    fn read(&mut self) -> u8 {
        if !self.active {
            self.violations.push("read outside a transaction");
        }
        self.step += 1;
        self.data[self.step % self.data.len()]
    }
    fn stop(&mut self) {
        if !self.active {
            self.violations.push("stop outside a transaction");
        }
        self.active = false;
    }
}

#[derive(Clone, Debug)]
enum Op {
    BusRead(u64, u8),
    BusWrite(u64, u8, u64),
    GlobalRead(u64, u8),
    GlobalWrite(u64, u8, u64),
    PoolRead(u64, u8),
    PoolWrite(u64, u8, u64),
    /// Load `address byte` into BYTE_BUF, then write CMD: a driver's transfer step.
    Command {
        byte: u8,
        cmd: u32,
    },
    Reset,
}

/// Address bytes of the targets (7-bit address << 1 | R/W) and of nobody.
fn address_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => prop::sample::select(vec![0xA0u8, 0xA1, 0xA2, 0xA3, 0x90, 0x91, 0x20, 0x21]),
        1 => any::<u8>(),
    ]
}

/// Where the fuzzed bus's guest memory starts, and its size.
const DRAM: u64 = 0x8000_0000;
const DRAM_SIZE: usize = 0x400;

fn command() -> impl Strategy<Value = u32> {
    prop_oneof![
        4 => prop::sample::select(vec![
            CMD_M_START | CMD_M_TX,
            CMD_M_TX,
            CMD_M_RX,
            CMD_M_RX_LAST | CMD_M_STOP,
            CMD_M_STOP,
            CMD_M_START | CMD_M_TX | CMD_M_RX_LAST | CMD_M_STOP,
            CMD_M_START | CMD_M_TX | CMD_M_STOP,
            CMD_BUS_RECOVER,
            CMD_S_TX,
        ]),
        3 => prop::sample::select(vec![
            CMD_M_START | CMD_TX_BUFF_EN,
            CMD_M_START | CMD_M_TX | CMD_TX_BUFF_EN,
            CMD_M_TX | CMD_TX_BUFF_EN | CMD_M_STOP,
            CMD_M_START | CMD_M_TX | CMD_M_RX | CMD_RX_BUFF_EN,
            CMD_M_RX | CMD_RX_BUFF_EN | CMD_M_RX_LAST | CMD_M_STOP,
            CMD_M_START | CMD_M_TX | CMD_TX_DMA_EN | CMD_M_STOP,
            CMD_M_TX | CMD_TX_DMA_EN,
            CMD_M_START | CMD_M_TX | CMD_M_RX | CMD_RX_DMA_EN | CMD_M_RX_LAST,
            CMD_M_RX | CMD_RX_DMA_EN | CMD_M_STOP,
            CMD_M_START | CMD_M_TX | CMD_TX_BUFF_EN | CMD_M_RX | CMD_RX_DMA_EN,
        ]),
        1 => any::<u32>(),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let magic = vec![
        u64::from(FUN_MASTER_EN),
        u64::from(FUN_MASTER_EN | FUN_SLAVE_EN),
        u64::from(INTR_STS_MASK),
        u64::from(INTR_RX_DONE),
        u64::from(CMD_M_START | CMD_M_TX),
        u64::from(CMD_M_RX | CMD_M_STOP),
        u64::from(GLOBAL_CTRL_NEW_REG_MODE),
        u64::from(GLOBAL_CTRL_SRAM_EN),
        0xA0,
        0xA1,
        u64::from(POOL_CTRL_TX_COUNT | POOL_CTRL_RX_SIZE | POOL_CTRL_BUF_ORGANIZATION),
        u64::from(POOL_CTRL_RX_SIZE),
        DRAM,
        DRAM + DRAM_SIZE as u64 - 2,
        u64::from(DMA_LEN_MASK),
    ];
    prop_oneof![
        8 => (offset(BUS_BLOCK_SIZE), width()).prop_map(|(o, w)| Op::BusRead(o, w)),
        8 => (offset(BUS_BLOCK_SIZE), width(), value(magic.clone())).prop_map(|(o, w, v)| Op::BusWrite(o, w, v)),
        2 => (offset(GLOBAL_BLOCK_SIZE), width()).prop_map(|(o, w)| Op::GlobalRead(o, w)),
        2 => (offset(GLOBAL_BLOCK_SIZE), width(), value(magic)).prop_map(|(o, w, v)| Op::GlobalWrite(o, w, v)),
        1 => (offset(POOL_SIZE as u64), width()).prop_map(|(o, w)| Op::PoolRead(o, w)),
        1 => (offset(POOL_SIZE as u64), width(), any::<u64>()).prop_map(|(o, w, v)| Op::PoolWrite(o, w, v)),
        8 => (address_byte(), command()).prop_map(|(byte, cmd)| Op::Command { byte, cmd }),
        2 => Just(Op::BusWrite(REG_FUN_CTRL, 4, u64::from(FUN_MASTER_EN))),
        2 => (any::<u8>(), any::<u8>(), any::<bool>()).prop_map(|(tx, rx, split)| {
            let v = (u32::from(tx) << POOL_CTRL_TX_COUNT_SHIFT)
                | (u32::from(rx) << POOL_CTRL_RX_SIZE_SHIFT)
                | u32::from(split);
            Op::BusWrite(REG_POOL_CTRL, 4, u64::from(v))
        }),
        1 => (0u64..DRAM_SIZE as u64 + 8).prop_map(|o| Op::BusWrite(REG_DMA_ADDR, 4, DRAM + o)),
        1 => (0u64..64).prop_map(|n| Op::BusWrite(REG_DMA_LEN, 4, n)),
        2 => Just(Op::BusWrite(REG_INTR_CTRL, 4, u64::from(INTR_STS_MASK))),
        3 => Just(Op::BusWrite(REG_INTR_STS, 4, u64::from(INTR_STS_MASK))),
        1 => Just(Op::Reset),
    ]
}

fn target() -> impl Strategy<Value = (Vec<bool>, Vec<u8>)> {
    (
        prop::collection::vec(prop::bool::weighted(0.8), 1..8),
        prop::collection::vec(any::<u8>(), 1..8),
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn i2c_survives_arbitrary_mmio(
        eeprom in target(),
        sensor in target(),
        variant in prop::sample::select(vec![Variant::Ast2600, Variant::Ast2500]),
        // A bus's buffer in the pool; 16 is one past the end of either variant's pool.
        buffer in 0..=16usize,
        ops in prop::collection::vec(op(), OPS),
    ) {
        let rec = LevelRecorder::new();
        let mut bus = AspeedI2cBus::new("i2c-fuzz", rec.line(0)).with_variant(variant);
        let mut pool = AspeedI2cPool::new().with_variant(variant);
        bus.connect_pool(pool.memory(), buffer);
        bus.connect_dram(Rc::new(VecMemory::new(DRAM, DRAM_SIZE)));
        let scripted = |(acks, data): (Vec<bool>, Vec<u8>)| {
            Rc::new(RefCell::new(ScriptedTarget { acks, data, step: 0, active: false, violations: vec![] }))
        };
        let eeprom = scripted(eeprom);
        let sensor = scripted(sensor);
        // One target on two addresses (as a 24C08 EEPROM), another on one.
        bus.attach(0x50, eeprom.clone()).expect("free address");
        bus.attach(0x51, eeprom.clone()).expect("free address");
        bus.attach(0x48, sensor.clone()).expect("free address");
        let mut global = AspeedI2cGlobal::new(vec![BusIrqStatus::new(), bus.irq_status()])
            .with_variant(variant);
        bus.connect_global(global.control());
        for op in &ops {
            match *op {
                Op::BusRead(offset, size) => {
                    let v = timed(op, || bus.read(offset, size))?;
                    prop_assert!(read_fits(v, size), "{:?} returned {:#x}", op, v);
                }
                Op::BusWrite(offset, size, value) => timed(op, || bus.write(offset, size, value))?,
                Op::GlobalRead(offset, size) => {
                    let v = timed(op, || global.read(offset, size))?;
                    prop_assert!(read_fits(v, size), "{:?} returned {:#x}", op, v);
                }
                Op::GlobalWrite(offset, size, value) => timed(op, || global.write(offset, size, value))?,
                Op::PoolRead(offset, size) => {
                    let v = timed(op, || pool.read(offset, size))?;
                    prop_assert!(read_fits(v, size), "{:?} returned {:#x}", op, v);
                }
                Op::PoolWrite(offset, size, value) => timed(op, || pool.write(offset, size, value))?,
                Op::Command { byte, cmd } => timed(op, || {
                    bus.write(REG_BYTE_BUF, 4, u64::from(byte));
                    bus.write(REG_CMD, 4, u64::from(cmd));
                })?,
                Op::Reset => timed(op, || {
                    bus.reset();
                    global.reset();
                })?,
            }
            let s = bus.state();
            let pending = s.intr_sts & s.intr_ctrl != 0;
            prop_assert_eq!(rec.level(0), pending, "line vs status {:#x} & enable {:#x} after {:?}", s.intr_sts, s.intr_ctrl, op);
            prop_assert_eq!(bus.irq_status().pending(), pending);
            prop_assert_eq!(global.interrupt_status(), u32::from(pending) << 1);
            for t in [&eeprom, &sensor] {
                let t = t.borrow();
                prop_assert!(t.violations.is_empty(), "{:?} after {:?}", t.violations, op);
            }
        }
    }
}
