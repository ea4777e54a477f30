//! Fuzz target for the Aspeed SD controller and its SDHCI slots: arbitrary MMIO reads and
//! writes of any width at any offset of the global registers and both slots (commands with and
//! without data, every transfer mode, SDMA and ADMA2, resets, the buffer port mixed in),
//! arbitrary guest memory (ADMA descriptor tables with any attributes, lengths, links and
//! loops), and a card that answers, refuses or runs out of data.
//!
//! Checked after every operation: nothing panics, a read of N bytes fits in N bytes, each
//! operation returns within the operation budget (ADMA tables that loop end at
//! `MAX_ADMA_DESCRIPTORS`), the interrupt line is high exactly while a slot's latched status
//! has its signal enable set (the global status register says which), and no status bit is
//! latched whose status enable is clear. Cases: `PROPTEST_CASES` (256 by default) x
//! [`OPS`] operations; see docs/fuzzing.md.

use std::rc::Rc;

use bus::{Device, GuestMemory, LevelRecorder, VecMemory};
use mmio_fuzz::*;
use proptest::prelude::*;
use sdhci::*;

const OPS: usize = 64;
const DRAM: u64 = 0x8000_0000;
const MEM: usize = 64 * 1024;

/// A card of 8 blocks that answers every command but CMD5 and serves data from `pos`.
struct Card {
    data: Vec<u8>,
    pos: usize,
}

impl SdBus for Card {
    fn command(&mut self, index: u8, arg: u32) -> Option<Response> {
        match index {
            5 => None,
            2 | 9 => Some(Response::Long([0x5A; 16])),
            _ => {
                self.pos = (arg as usize % 9) * 512;
                Some(Response::Short(0x900))
            }
        }
    }
    fn read_data(&mut self, buf: &mut [u8]) -> usize {
        let n = buf
            .len()
            .min(self.data.len() - self.pos.min(self.data.len()));
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        n
    }
    fn write_data(&mut self, data: &[u8]) -> usize {
        let n = data
            .len()
            .min(self.data.len() - self.pos.min(self.data.len()));
        self.data[self.pos..self.pos + n].copy_from_slice(&data[..n]);
        self.pos += n;
        n
    }
}

#[derive(Clone, Debug)]
enum Op {
    Read(u64, u8),
    Write(u64, u8, u64),
    Store(u32, Vec<u8>),
    Reset,
}

fn op() -> impl Strategy<Value = Op> {
    let magic: Vec<u64> = vec![
        0x027F_00FB,
        u64::from(HOST_CTRL_DMA_ADMA32),
        0x113A,
        0x123A,
        0x193A,
        0x0502,
        u64::from(TRNS_DMA | TRNS_READ | TRNS_MULTI | TRNS_BLK_CNT_EN | TRNS_AUTO_CMD12),
        u64::from(TRNS_MULTI | TRNS_BLK_CNT_EN),
        512,
        0x7200,
        DRAM,
        DRAM + 0x1000,
        u64::from(RESET_ALL | RESET_CMD | RESET_DATA),
        u64::from(CLOCK_INT_EN),
    ];
    let descriptor = (
        any::<u16>(),
        any::<u16>(),
        prop_oneof![0u32..MEM as u32, any::<u32>()],
    )
        .prop_map(|(attr, len, addr)| {
            let addr = if addr < MEM as u32 {
                DRAM as u32 + addr
            } else {
                addr
            };
            let mut d = (attr & 0x37).to_le_bytes().to_vec();
            d.extend_from_slice(&(len % 2048).to_le_bytes());
            d.extend_from_slice(&addr.to_le_bytes());
            d
        });
    prop_oneof![
        6 => (offset(0x300), width()).prop_map(|(o, w)| Op::Read(o, w)),
        10 => (offset(0x300), width(), value(magic)).prop_map(|(o, w, v)| Op::Write(o, w, v)),
        3 => (0u32..MEM as u32, prop::collection::vec(descriptor, 1..8))
            .prop_map(|(a, d)| Op::Store(a, d.concat())),
        1 => Just(Op::Reset),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sdc_survives_arbitrary_mmio_and_descriptors(ops in prop::collection::vec(op(), OPS)) {
        let memory = Rc::new(VecMemory::new(DRAM, MEM));
        let rec = LevelRecorder::new();
        let mut sdc = AspeedSdc::new("sdc", 2, rec.line(0), memory.clone());
        sdc.insert(0, Box::new(Card { data: vec![0x33; 8 * 512], pos: 0 }), false);
        for op in &ops {
            match op {
                Op::Read(offset, size) => {
                    let v = timed(op, || sdc.read(*offset, *size))?;
                    prop_assert!(read_fits(v, *size), "{:?} returned {:#x}", op, v);
                }
                Op::Write(offset, size, value) => timed(op, || sdc.write(*offset, *size, *value))?,
                Op::Store(at, bytes) => {
                    let n = bytes.len().min(MEM - *at as usize);
                    memory.write(DRAM + u64::from(*at), &bytes[..n]).unwrap();
                }
                Op::Reset => timed(op, || sdc.reset())?,
            }
            let state = sdc.state();
            let mut any = false;
            for slot in &state.slots {
                let r16 = |o: usize| u16::from_le_bytes([slot.regs[o], slot.regs[o + 1]]);
                let (ns, es) = (r16(0x30) & 0x7FFF, r16(0x32));
                prop_assert_eq!(ns & !r16(0x34), 0, "normal status latched without its enable after {:?}", op);
                prop_assert_eq!(es & !r16(0x36), 0, "error status latched without its enable after {:?}", op);
                any |= ns & r16(0x38) != 0 || es & r16(0x3A) != 0;
            }
            prop_assert_eq!(rec.level(0), any, "interrupt level after {:?}", op);
            prop_assert_eq!(state.regs[(REG_SDC_IRQ_STATUS / 4) as usize] != 0, any);
        }
    }
}
