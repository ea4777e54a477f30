//! Fuzz target for the FMC / SPI controllers: arbitrary sequences of reads and writes of any
//! width at any offset to the register block AND to the flash window (`window_read` /
//! `window_write`), with a [`SpiNor`] on CE0 (and one on CE1 of the FMC), user-mode commands
//! shifted through the window, DMA (copy both ways, checksum, calibration) with arbitrary
//! addresses and lengths into a small DRAM, grant magic, and resets, for the FMC and SPI1/2 of
//! the AST2600 and of the AST2500 (absolute 8 MiB segment registers, no SPI DMA).
//!
//! Checked after every operation: nothing panics, a read of N bytes fits in N bytes (window
//! reads too), each operation returns within [`OP_BUDGET`] (a hang fails the case through
//! proptest's per-case timeout), the interrupt line is high exactly when the controller says
//! so (`irq_level`) and when DMA status and enable are both set, and each chip is selected
//! exactly when the controller has its chip select asserted. Cases: `PROPTEST_CASES` (256 by
//! default) x [`OPS`] operations; see docs/fuzzing.md.

use std::cell::RefCell;
use std::rc::Rc;

use bus::{Device, LevelRecorder, MemoryBlock, VecMemory};
use mmio_fuzz::*;
use proptest::prelude::*;
use smc::*;
use spi_nor::{FlashModel, SpiNor};

// ---- the SMC ----

const DRAM: u64 = 0x8000_0000;
const DRAM_LEN: usize = 0x1_0000;
const FLASH_LEN: usize = 0x1_0000;
/// The AST2600 window size.
const WINDOW: u64 = 0x1000_0000;

#[derive(Clone, Debug)]
enum Op {
    Read(u64, u8),
    Write(u64, u8, u64),
    WindowRead(u64, u8),
    WindowWrite(u64, u8, u64),
    /// What a driver does for one command in user mode on `cs`: CE control to user mode and
    /// active, `out` shifted through the window, `read` bytes read back, CE stopped.
    UserCommand {
        cs: u64,
        out: Vec<u8>,
        read: u8,
    },
    /// A DMA: grant magic, addresses, length, then the control word.
    Dma {
        flash: u32,
        dram: u32,
        len: u32,
        ctrl: u32,
    },
    Reset,
}

fn window_offset() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => 0u64..0x200,
        3 => (0u64..0x200).prop_map(|o| (128 << 20) + o),
        2 => 0..WINDOW,
        1 => WINDOW..WINDOW + 0x100,
        1 => any::<u64>(),
        1 => (0u64..8).prop_map(|d| u64::MAX - d),
    ]
}

fn dma() -> impl Strategy<Value = Op> {
    // A checksum of the longest DMA (32 MiB) takes ~0.15 s: keep them rare so that a run
    // stays within seconds.
    let len = prop_oneof![240 => 0u32..0x400, 60 => 0u32..0x2_0000, 1 => any::<u32>()];
    let dram = prop_oneof![4 => 0u32..0x1_0000, 1 => any::<u32>()];
    let flash = prop_oneof![4 => 0u32..0x2_0000, 1 => (0u32..0x1000).prop_map(|o| 0x0800_0000 + o), 1 => any::<u32>()];
    let ctrl = prop_oneof![
        3 => prop::sample::select(vec![
            DMA_CTRL_ENABLE,
            DMA_CTRL_ENABLE | DMA_CTRL_WRITE,
            DMA_CTRL_ENABLE | DMA_CTRL_CKSUM,
            DMA_CTRL_ENABLE | DMA_CTRL_CKSUM | DMA_CTRL_CALIB | 0x5a0,
            0,
        ]),
        1 => any::<u32>(),
    ];
    (flash, dram, len, ctrl).prop_map(|(flash, dram, len, ctrl)| Op::Dma {
        flash,
        dram,
        len,
        ctrl,
    })
}

fn op() -> impl Strategy<Value = Op> {
    let magic = vec![
        u64::from(DMA_GET_REQ_MAGIC),
        u64::from(DMA_DISCARD_REQ_MAGIC),
        u64::from(MODE_USER),
        u64::from(MODE_USER | CE_CTRL_STOP_ACTIVE),
        u64::from(MODE_WRITE | 0x02u32 << CE_CTRL_CMD_SHIFT),
        u64::from(MODE_READ | 0x0bu32 << CE_CTRL_CMD_SHIFT),
        u64::from(0x7u32 << CONF_ENABLE_W0_SHIFT | 0x2a),
        u64::from(INTR_DMA_EN),
        u64::from(INTR_DMA_STATUS | INTR_DMA_EN),
        0x07f0_0000,
        0x0ff0_0800,
        0x05f0_0400,
        0x0010_0010,
        // AST2500 segments: defaults, Linux's and u-boot's windows, start == end, inverted.
        0x5040_0000,
        0x5854_0000,
        0x4440_0000,
        0x5444_0000,
        0x6f60_0000,
        0x706f_0000,
        0x8074_0000,
        0x4040_0000,
        0x5058_0000,
        3,
        0x0f,
    ];
    let flash_bytes = prop_oneof![
        3 => prop::sample::select(vec![0x06u8, 0x05, 0x9f, 0x03, 0x0b, 0x02, 0x20, 0xd8, 0xc7, 0xb7, 0xe9, 0x01]),
        2 => any::<u8>(),
    ];
    prop_oneof![
        8 => (offset(0x100), width()).prop_map(|(o, w)| Op::Read(o, w)),
        10 => (offset(0x100), width(), value(magic.clone())).prop_map(|(o, w, v)| Op::Write(o, w, v)),
        6 => (window_offset(), width()).prop_map(|(o, w)| Op::WindowRead(o, w)),
        6 => (window_offset(), width(), value(magic)).prop_map(|(o, w, v)| Op::WindowWrite(o, w, v)),
        6 => (0u64..=3, prop::collection::vec(flash_bytes, 1..8), 0u8..8)
            .prop_map(|(cs, out, read)| Op::UserCommand { cs, out, read }),
        4 => dma(),
        1 => Just(Op::Reset),
    ]
}

fn flash() -> Rc<RefCell<SpiNor>> {
    let memory = Rc::new(MemoryBlock::new(FLASH_LEN, 0xFF));
    for i in 0..FLASH_LEN / 2 {
        memory.write(i, &[(i as u8) ^ (i >> 8) as u8]);
    }
    let model = FlashModel {
        size: FLASH_LEN as u64,
        ..FlashModel::MX66U51235F
    };
    Rc::new(RefCell::new(SpiNor::new(memory, model)))
}

fn run(smc: &mut AspeedSmc, op: &Op) -> Result<(), TestCaseError> {
    match *op {
        Op::Read(offset, size) => {
            let v = timed(op, || smc.read(offset, size))?;
            prop_assert!(read_fits(v, size), "{:?} returned {:#x}", op, v);
        }
        Op::Write(offset, size, value) => timed(op, || smc.write(offset, size, value))?,
        Op::WindowRead(offset, size) => {
            let v = timed(op, || smc.window_read(offset, size))?;
            prop_assert!(read_fits(v, size), "{:?} returned {:#x}", op, v);
        }
        Op::WindowWrite(offset, size, value) => {
            timed(op, || smc.window_write(offset, size, value))?
        }
        Op::UserCommand { cs, ref out, read } => timed(op, || {
            let ctrl = REG_CE0_CTRL + 4 * cs;
            let base = smc.segment(cs as usize).map_or(0, |s| s.offset);
            let conf = smc.read(REG_CONF, 4);
            smc.write(REG_CONF, 4, conf | 1 << (CONF_ENABLE_W0_SHIFT as u64 + cs));
            smc.write(ctrl, 4, u64::from(MODE_USER | CE_CTRL_STOP_ACTIVE));
            smc.write(ctrl, 4, u64::from(MODE_USER));
            for &b in out {
                smc.window_write(base, 1, u64::from(b));
            }
            for _ in 0..read {
                smc.window_read(base, 1);
            }
            smc.write(ctrl, 4, u64::from(MODE_USER | CE_CTRL_STOP_ACTIVE));
            smc.write(ctrl, 4, u64::from(MODE_READ));
        })?,
        Op::Dma {
            flash,
            dram,
            len,
            ctrl,
        } => timed(op, || {
            smc.write(REG_DMA_CTRL, 4, u64::from(DMA_GET_REQ_MAGIC));
            smc.write(REG_DMA_FLASH_ADDR, 4, u64::from(flash));
            smc.write(REG_DMA_DRAM_ADDR, 4, u64::from(dram));
            smc.write(REG_DMA_LEN, 4, u64::from(len));
            smc.write(REG_INTR_CTRL, 4, u64::from(INTR_DMA_EN));
            smc.write(REG_DMA_CTRL, 4, u64::from(ctrl));
        })?,
        Op::Reset => timed(op, || smc.reset())?,
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn smc_survives_arbitrary_registers_window_and_dma(
        controller in 0usize..6,
        ops in prop::collection::vec(op(), OPS),
    ) {
        let config = match controller {
            0 => SmcConfig::ast2600_fmc(DRAM),
            1 => SmcConfig::ast2600_spi1(DRAM),
            2 => SmcConfig::ast2600_spi2(DRAM),
            3 => SmcConfig::ast2500_fmc(DRAM),
            4 => SmcConfig::ast2500_spi1(DRAM),
            _ => SmcConfig::ast2500_spi2(DRAM),
        };
        let rec = LevelRecorder::new();
        let dram = Rc::new(VecMemory::new(DRAM, DRAM_LEN));
        let mut smc = AspeedSmc::new(config, rec.line(0), dram);
        let chips = [flash(), flash()];
        smc.attach_flash(0, chips[0].clone()).expect("CE0 exists");
        if controller != 1 && controller != 4 {
            smc.attach_flash(1, chips[1].clone()).expect("CE1 exists");
        }
        // Chip selects past the last are refused, not a panic.
        prop_assert!(smc.attach_flash(3, flash()).is_err());
        for op in &ops {
            run(&mut smc, op)?;
            let s = smc.state();
            let wanted = s.intr_ctrl & INTR_DMA_STATUS != 0 && s.intr_ctrl & INTR_DMA_EN != 0;
            prop_assert_eq!(smc.irq_level(), wanted, "irq_level after {:?}", op);
            prop_assert_eq!(rec.level(0), wanted, "line after {:?}", op);
            for (cs, chip) in chips.iter().enumerate() {
                if smc.flash(cs).is_some() {
                    prop_assert_eq!(
                        chip.borrow().is_selected(), s.selected[cs],
                        "CE{} select after {:?}", cs, op
                    );
                }
            }
        }
    }
}
