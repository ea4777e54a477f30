//! The Aspeed static memory controllers of the AST2600 and the AST2500: the FMC (boot flash,
//! 3 chip selects, DMA) and the SPI1 / SPI2 host SPI controllers (AST2600: 2 / 3 chip selects
//! with DMA; AST2500: 2 chip selects each, no DMA), as Linux `spi-aspeed-smc`, mainline u-boot
//! `spi-aspeed-smc` and the Aspeed SDK u-boot `aspeed_spi` drive them, with QEMU's
//! `hw/ssi/aspeed_smc.c` as the reference for DMA, checksum and segment semantics.
//!
//! The controller has two faces:
//! - its register block ([`AspeedSmc`] implements [`Device`]);
//! - its flash window (256 MiB for the FMCs and the AST2600 SPIs, 128 MiB for the AST2500 SPIs),
//!   which the device knows only by offset. Each chip select (CE) decodes a segment of the
//!   window ([`AspeedSmc::segment`], always as an offset in the window, whatever the encoding of
//!   the segment registers of the [`SmcGeneration`]). While a CE is in a read mode
//!   ([`AspeedSmc::window_is_direct`]) the SoC should map the chip's bytes ([`SpiNor::memory`])
//!   read-only at the segment start (at most the chip's size; the rest of a larger segment
//!   wraps and can go through the slow path). Otherwise accesses must go through
//!   [`AspeedSmc::window_read`] / [`AspeedSmc::window_write`] (or the [`AspeedSmcWindow`]
//!   device), which in user mode shift bytes through [`SpiNor::transfer`].
//!   [`AspeedSmc::take_mapping_changed`] says when segments or modes changed.
//!
//! The AST2500's segment registers hold absolute bus addresses, so its configurations carry
//! the window's address ([`SmcConfig::window_base`]); the SoC still maps the window wherever
//! its memory map says and hands the device offsets.
//!
//! The single [`IrqLine`] is the controller's interrupt: high while the DMA-done status and
//! the DMA interrupt enable (register 0x08 bits 11 and 3) are both set.
#![deny(missing_docs)]

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use bus::{
    merge_subword, subword, Device, DeviceState, GuestMemory, IrqLine, StateError, UnimplementedLog,
};
use serde::{Deserialize, Serialize};
use spi_nor::SpiNor;

/// The kind of a controller's saved state ([`DeviceState::kind`]): [`AspeedSmcState`], every
/// controller's and generation's.
pub const STATE_KIND: &str = "aspeed-smc";
/// The format version of a controller's saved state: [`AspeedSmcState`] as this build
/// serialises it.
pub const STATE_VERSION: u32 = 1;
/// The kind of a flash window's state: [`DeviceState::stateless`], the window being a view of
/// its controller.
pub const WINDOW_STATE_KIND: &str = "aspeed-smc-window";

/// CE type setting register (QEMU `R_CONF`, u-boot `conf`).
pub const REG_CONF: u64 = 0x00;
/// CE control register: 4-byte address mode per CE (QEMU `R_CE_CTRL`, Linux `CE_CTRL_REG`).
pub const REG_CE_CTRL: u64 = 0x04;
/// Interrupt control and status register (QEMU `R_INTR_CTRL`, u-boot `intr_ctrl`).
pub const REG_INTR_CTRL: u64 = 0x08;
/// Command control register: address/data byte disables (QEMU `R_CE_CMD_CTRL`).
pub const REG_CMD_CTRL: u64 = 0x0c;
/// CE0 control register; CEn at `+4*n` (Linux `CE0_CTRL_REG`).
pub const REG_CE0_CTRL: u64 = 0x10;
/// CE0 segment (address decoding range) register; CEn at `+4*n` (Linux `CE0_SEGMENT_ADDR_REG`).
pub const REG_CE0_SEGMENT: u64 = 0x30;
/// Auto soft-reset command control (u-boot `soft_rst_cmd_ctrl`).
pub const REG_SOFT_RESET_CMD: u64 = 0x50;
/// SPI dummy cycle data (QEMU `R_DUMMY_DATA`).
pub const REG_DUMMY_DATA: u64 = 0x54;
/// FMC WDT2 control/status for alternate boot (QEMU `R_FMC_WDT2_CTRL`, FMC only).
pub const REG_WDT2_CTRL: u64 = 0x64;
/// DMA DRAM side address, high bits (SDK u-boot `DRAM_HI_ADDR`).
pub const REG_DMA_DRAM_HIGH: u64 = 0x7c;
/// DMA control/status register (QEMU `R_DMA_CTRL`).
pub const REG_DMA_CTRL: u64 = 0x80;
/// DMA flash side address, an offset in the flash window (QEMU `R_DMA_FLASH_ADDR`).
pub const REG_DMA_FLASH_ADDR: u64 = 0x84;
/// DMA DRAM side address, an offset in DRAM (QEMU `R_DMA_DRAM_ADDR`).
pub const REG_DMA_DRAM_ADDR: u64 = 0x88;
/// DMA length register (QEMU `R_DMA_LEN`).
pub const REG_DMA_LEN: u64 = 0x8c;
/// DMA checksum calculation result (QEMU `R_DMA_CHECKSUM`).
pub const REG_DMA_CHECKSUM: u64 = 0x90;
/// CE0 read timing compensation register; CEn at `+4*n` (Linux `CE0_TIMING_COMPENSATION_REG`).
pub const REG_CE0_TIMING: u64 = 0x94;

/// CE type setting: flash type field value for SPI (`CONF_FLASH_TYPE_SPI`), 2 bits per CE.
pub const CONF_FLASH_TYPE_SPI: u32 = 0x2;
/// CE type setting: mask of one CE's flash type field; CEn's is at bits `2n+1:2n` (QEMU
/// `CONF_FLASH_TYPE0..2`, Linux `aspeed_spi_chip_set_type` for the AST2500 FMC, `hastype`).
pub const CONF_FLASH_TYPE_MASK: u32 = 0x3;
/// CE type setting: bit of CE0's write enable; CEn is `+n` (`CONF_ENABLE_W0`).
pub const CONF_ENABLE_W0_SHIFT: u32 = 16;

/// Interrupt register: DMA done status (`INTR_CTRL_DMA_STATUS`).
pub const INTR_DMA_STATUS: u32 = 1 << 11;
/// Interrupt register: command abort status (`INTR_CTRL_CMD_ABORT_STATUS`).
pub const INTR_CMD_ABORT_STATUS: u32 = 1 << 10;
/// Interrupt register: write protect status (`INTR_CTRL_WRITE_PROTECT_STATUS`).
pub const INTR_WRITE_PROTECT_STATUS: u32 = 1 << 9;
/// Interrupt register: DMA interrupt enable (`INTR_CTRL_DMA_EN`).
pub const INTR_DMA_EN: u32 = 1 << 3;
/// Interrupt register: command abort interrupt enable (`INTR_CTRL_CMD_ABORT_EN`).
pub const INTR_CMD_ABORT_EN: u32 = 1 << 2;
/// Interrupt register: write protect interrupt enable (`INTR_CTRL_WRITE_PROTECT_EN`).
pub const INTR_WRITE_PROTECT_EN: u32 = 1 << 1;
const INTR_STATUS_MASK: u32 = INTR_DMA_STATUS | INTR_CMD_ABORT_STATUS | INTR_WRITE_PROTECT_STATUS;

/// CE control (0x04): 4-byte (32-bit) addressing of CE0; CEn is bit `n` (QEMU
/// `CTRL_EXTENDED0`, u-boot `ast2500_spi_chip_set_4byte`, Linux `CE_CTRL_REG`).
pub const CE_CTRL_EXTENDED0: u32 = 1 << 0;

/// Command control: bit of the first address-byte disable (`CTRL_ADDR_BYTE0_DISABLE_SHIFT`).
pub const CMD_CTRL_ADDR_BYTE0_DISABLE_SHIFT: u32 = 4;

/// CE control: I/O mode field, bits 31:28 (Linux `CTRL_IO_MODE_MASK`, SDK `CE_CTRL_IO_MODE_MASK`).
pub const CE_CTRL_IO_MODE_MASK: u32 = 0xf000_0000;
/// CE control: quad data I/O (`CTRL_IO_QUAD_DATA`).
pub const CE_CTRL_IO_QUAD_DATA: u32 = 1 << 30;
/// CE control: dual data I/O (`CTRL_IO_DUAL_DATA`).
pub const CE_CTRL_IO_DUAL_DATA: u32 = 1 << 29;
/// CE control: shift of the command byte used in read/write modes (`CTRL_COMMAND_SHIFT`).
pub const CE_CTRL_CMD_SHIFT: u32 = 16;
/// CE control: dummy cycles bit 2 (`CTRL_DUMMY_HIGH_SHIFT`).
pub const CE_CTRL_DUMMY_HIGH: u32 = 1 << 14;
/// CE control, AST2500: the clock divider counts in HCLK/4 steps (u-boot
/// `ast2500_get_clk_setting` `BIT(13)`; outside Linux's AST2500 `hclk_mask` 0xffffd0ff).
pub const AST2500_CE_CTRL_CLK_DIV4: u32 = 1 << 13;
/// CE control: shift of the clock divider field, bits 11:8 (`CTRL_FREQ_SEL_SHIFT`).
pub const CE_CTRL_FREQ_SHIFT: u32 = 8;
/// CE control: shift of dummy cycle bits 1:0, bits 7:6 (`CTRL_DUMMY_LOW_SHIFT`).
pub const CE_CTRL_DUMMY_LOW_SHIFT: u32 = 6;
/// CE control: chip select inactive while set (`CTRL_CE_STOP_ACTIVE`).
pub const CE_CTRL_STOP_ACTIVE: u32 = 1 << 2;
/// CE control: command mode field, bits 1:0 (`CTRL_IO_MODE_CMD_MASK`).
pub const CE_CTRL_MODE_MASK: u32 = 0x3;
/// Command mode: normal read, command 0x03 (`CTRL_IO_MODE_NORMAL`).
pub const MODE_NORMAL_READ: u32 = 0x0;
/// Command mode: read with the register's command (`CTRL_IO_MODE_READ`, "fast read").
pub const MODE_READ: u32 = 0x1;
/// Command mode: write with the register's command (`CTRL_IO_MODE_WRITE`).
pub const MODE_WRITE: u32 = 0x2;
/// Command mode: user mode, the window shifts raw bytes (`CTRL_IO_MODE_USER`).
pub const MODE_USER: u32 = 0x3;

/// Segment register: address bits 27:20 used for both start and end (`AST2600_SEG_ADDR_MASK`).
pub const SEGMENT_ADDR_MASK: u32 = 0x0ff0_0000;
/// Segment register: the bits that are stored (QEMU `segment_addr_mask` 0x0ff00ff0).
pub const SEGMENT_REG_MASK: u32 = 0x0ff0_0ff0;
/// Segment register unit: 1 MiB.
pub const SEGMENT_UNIT: u64 = 1 << 20;

/// AST2500 segment register: shift of the start field, bits 23:16 = address bits 30:23
/// (QEMU `SEG_START_SHIFT`, u-boot `ast2500_spi_segment_reg`, Linux `aspeed_spi_segment_reg`).
pub const AST2500_SEGMENT_START_SHIFT: u32 = 16;
/// AST2500 segment register: shift of the (exclusive) end field, bits 31:24 (QEMU
/// `SEG_END_SHIFT`).
pub const AST2500_SEGMENT_END_SHIFT: u32 = 24;
/// AST2500 segment register: width mask of the start and end fields (QEMU `SEG_START_MASK`).
pub const AST2500_SEGMENT_FIELD_MASK: u32 = 0xff;
/// AST2500 segment register: the bits that are stored (QEMU `segment_addr_mask` 0xffff0000).
pub const AST2500_SEGMENT_REG_MASK: u32 = 0xffff_0000;
/// AST2500 segment register unit: 8 MiB, also the smallest window a CE can decode (QEMU
/// "8MB units", u-boot `min_decoded_sz`, Linux `min_window_size`).
pub const AST2500_SEGMENT_UNIT: u64 = 8 << 20;

/// AST2500 FMC flash window address (QEMU `aspeed_2500_fmc_class_init` `flash_window_base`,
/// Linux aspeed-g5.dtsi `fmc` reg #2).
pub const AST2500_FMC_WINDOW_BASE: u64 = 0x2000_0000;
/// AST2500 FMC flash window size, 256 MiB.
pub const AST2500_FMC_WINDOW_SIZE: u64 = 0x1000_0000;
/// AST2500 SPI1 flash window address (QEMU `aspeed_2500_spi1_class_init`, DT `spi1` reg #2).
pub const AST2500_SPI1_WINDOW_BASE: u64 = 0x3000_0000;
/// AST2500 SPI2 flash window address (QEMU `aspeed_2500_spi2_class_init`, DT `spi2` reg #2).
pub const AST2500_SPI2_WINDOW_BASE: u64 = 0x3800_0000;
/// AST2500 SPI1 / SPI2 flash window size, 128 MiB.
pub const AST2500_SPI_WINDOW_SIZE: u64 = 0x0800_0000;

/// DMA control: request, AST2600 (`DMA_CTRL_REQUEST`).
pub const DMA_CTRL_REQUEST: u32 = 1 << 31;
/// DMA control: grant, AST2600 (`DMA_CTRL_GRANT`).
pub const DMA_CTRL_GRANT: u32 = 1 << 30;
/// DMA control: shift of the calibration delay field, bits 11:8 (`DMA_CTRL_DELAY_SHIFT`).
pub const DMA_CTRL_DELAY_SHIFT: u32 = 8;
/// DMA control: shift of the calibration clock field, bits 7:4 (`DMA_CTRL_FREQ_SHIFT`).
pub const DMA_CTRL_FREQ_SHIFT: u32 = 4;
/// DMA control: timing calibration mode (`DMA_CTRL_CALIB`).
pub const DMA_CTRL_CALIB: u32 = 1 << 3;
/// DMA control: checksum mode, no DRAM side (`DMA_CTRL_CKSUM`).
pub const DMA_CTRL_CKSUM: u32 = 1 << 2;
/// DMA control: direction DRAM to flash (`DMA_CTRL_WRITE`).
pub const DMA_CTRL_WRITE: u32 = 1 << 1;
/// DMA control: start / enable (`DMA_CTRL_ENABLE`).
pub const DMA_CTRL_ENABLE: u32 = 1 << 0;
/// DMA control: magic value asking for the DMA engine (SDK u-boot `DMA_GET_REQ_MAGIC`).
pub const DMA_GET_REQ_MAGIC: u32 = 0xaeed_0000;
/// DMA control: magic value giving the DMA engine back (SDK u-boot `DMA_DISCARD_REQ_MAGIC`).
pub const DMA_DISCARD_REQ_MAGIC: u32 = 0xdeea_0000;
/// DMA flash address bits kept (QEMU `dma_flash_mask`).
pub const DMA_FLASH_MASK: u32 = 0x0fff_fffc;
/// DMA DRAM address bits kept, an offset in DRAM (QEMU AST2600 `dma_dram_mask`).
pub const DMA_DRAM_MASK: u32 = 0x3fff_fffc;
/// DMA length bits kept; the transfer is `len + 1` bytes rounded up to 4 (QEMU `DMA_LENGTH`).
pub const DMA_LEN_MASK: u32 = 0x01ff_ffff;
/// AST2500 DMA length bits kept, bits 24:2 (QEMU 7.2 `DMA_LENGTH`); the transfer is `len + 4`
/// bytes (datasheet "0: 4 bytes", QEMU 9.1+ `dma_start_length = 4`).
pub const AST2500_DMA_LEN_MASK: u32 = 0x01ff_fffc;
/// FMC WDT2 control: enable, the only writable bit (QEMU `FMC_WDT2_CTRL_EN`).
pub const WDT2_CTRL_EN: u32 = 1 << 0;

/// The most chip selects a controller has (FMC and SPI2).
pub const MAX_CS: usize = 3;

/// HCLK divider field values for HCLK/1 .. HCLK/16 (Linux `aspeed_spi_hclk_divs`).
const HCLK_DIVISORS: [u32; 16] = [15, 7, 14, 6, 13, 5, 12, 4, 11, 3, 10, 2, 9, 1, 8, 0];
/// Largest DMA chunk written to guest memory at once.
const DMA_CHUNK: usize = 64 << 10;

/// A chip select's address decoding range, as an offset and size within the flash window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Segment {
    /// Offset of the first byte in the controller's flash window.
    pub offset: u64,
    /// Length in bytes; 0 means the segment is closed.
    pub size: u64,
}

/// Decodes an AST2600 segment register (1 MiB units, start in bits 11:4 as address bits 27:20,
/// inclusive end in bits 27:20; a zero register is a closed segment).
pub fn reg_to_segment(reg: u32) -> Segment {
    if reg == 0 {
        return Segment::default();
    }
    let start = ((reg << 16) & SEGMENT_ADDR_MASK) as u64;
    let end = (reg & SEGMENT_ADDR_MASK) as u64;
    Segment {
        offset: start,
        size: (end + SEGMENT_UNIT).saturating_sub(start),
    }
}

/// Encodes a segment as an AST2600 segment register (inverse of [`reg_to_segment`]).
pub fn segment_to_reg(seg: Segment) -> u32 {
    if seg.size == 0 {
        return 0;
    }
    let start = (seg.offset as u32) & SEGMENT_ADDR_MASK;
    let end = (seg.offset.wrapping_add(seg.size).wrapping_sub(1) as u32) & SEGMENT_ADDR_MASK;
    (start >> 16) | end
}

/// Decodes an AST2500 segment register into the absolute bus range `[start, end)` it selects
/// (8 MiB units: start in bits 23:16, exclusive end in bits 31:24; QEMU
/// `aspeed_smc_reg_to_segment`, Linux `aspeed_spi_segment_start` / `_end`). `end <= start`
/// means the CE decodes nothing.
pub fn ast2500_reg_to_range(reg: u32) -> (u64, u64) {
    let field = |shift: u32| u64::from((reg >> shift) & AST2500_SEGMENT_FIELD_MASK) << 23;
    (
        field(AST2500_SEGMENT_START_SHIFT),
        field(AST2500_SEGMENT_END_SHIFT),
    )
}

/// Encodes the absolute bus range `[start, end)` as an AST2500 segment register (inverse of
/// [`ast2500_reg_to_range`] for 8 MiB aligned addresses below 2 GiB; QEMU
/// `aspeed_smc_segment_to_reg`, u-boot `ast2500_spi_segment_reg` without its `start == end`
/// case, Linux `aspeed_spi_segment_reg`).
pub fn ast2500_range_to_reg(start: u64, end: u64) -> u32 {
    let field = |addr: u64, shift: u32| ((addr >> 23) as u32 & AST2500_SEGMENT_FIELD_MASK) << shift;
    field(start, AST2500_SEGMENT_START_SHIFT) | field(end, AST2500_SEGMENT_END_SHIFT)
}

/// The register semantics of one SoC generation of the controllers: what differs in behaviour
/// rather than in a constant of [`SmcConfig`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SmcGeneration {
    /// AST2600: segment registers hold offsets in the window in 1 MiB units (start in bits
    /// 11:4, inclusive end in bits 27:20, zero = closed; [`reg_to_segment`]); the DMA length
    /// register counts `len + 1` bytes rounded up to words; DMA control takes the SDK u-boot's
    /// request / grant magic words and has the request / grant bits 31:30; register 0x7C holds
    /// the DMA DRAM address high bits.
    Ast2600,
    /// AST2500: segment registers hold absolute bus addresses in 8 MiB units (start in bits
    /// 23:16, exclusive end in bits 31:24; [`ast2500_reg_to_range`]), and a write that would
    /// put a segment wholly outside the window is ignored (QEMU); the DMA length register
    /// counts `len + 4` bytes (bits 24:2 kept); DMA control has no request / grant: the magic
    /// words are plain control values; no register 0x7C.
    Ast2500,
}

/// Which controller an [`AspeedSmc`] is, and how the SoC wires it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmcConfig {
    /// Name shown in logs (`fmc`, `spi1`, `spi2`).
    pub name: String,
    /// Register semantics of the SoC generation.
    pub generation: SmcGeneration,
    /// Number of chip selects (at most [`MAX_CS`]).
    pub num_cs: usize,
    /// Bus address of the flash window, as segment registers holding absolute addresses see
    /// it ([`SmcGeneration::Ast2500`]; informative only on the AST2600, whose segment
    /// registers hold offsets). The device itself is always accessed by window offset.
    pub window_base: u64,
    /// Size of the flash window in bytes.
    pub window_size: u64,
    /// Segment of each CE after reset, as an offset in the window.
    pub default_segments: [Segment; MAX_CS],
    /// CE type setting register after reset.
    pub conf_reset: u32,
    /// The DMA engine (registers 0x80..0x90) exists (QEMU `ASPEED_SMC_FEATURE_DMA`).
    pub has_dma: bool,
    /// DMA address/length writes and DMA starts need the grant bit (AST2600 SPI1/SPI2).
    pub dma_needs_grant: bool,
    /// The WDT2 alternate-boot register exists (AST2600 FMC).
    pub has_wdt2_ctrl: bool,
    /// Number of read timing compensation registers from 0x94 (QEMU `nregs_timings` is 1 on
    /// the AST2500; this crate gives the AST2600 one per CE).
    pub timing_regs: usize,
    /// Guest physical address that DMA DRAM offset 0 maps to (start of DRAM).
    pub dram_base: u64,
}

impl SmcConfig {
    /// The AST2600 FMC: 3 CEs, CE0 and CE1 segments open (128 MiB each, QEMU's defaults), CE
    /// types SPI. `dram_base` is where the SoC's DRAM starts.
    pub fn ast2600_fmc(dram_base: u64) -> Self {
        Self {
            name: "fmc".into(),
            generation: SmcGeneration::Ast2600,
            num_cs: 3,
            window_base: 0x2000_0000,
            window_size: 0x1000_0000,
            default_segments: [
                Segment {
                    offset: 0,
                    size: 128 << 20,
                },
                Segment {
                    offset: 128 << 20,
                    size: 128 << 20,
                },
                Segment::default(),
            ],
            conf_reset: CONF_FLASH_TYPE_SPI | CONF_FLASH_TYPE_SPI << 2 | CONF_FLASH_TYPE_SPI << 4,
            has_dma: true,
            dma_needs_grant: false,
            has_wdt2_ctrl: true,
            timing_regs: 3,
            dram_base,
        }
    }

    /// The AST2600 SPI1 controller: 2 CEs, CE0 segment 128 MiB.
    pub fn ast2600_spi1(dram_base: u64) -> Self {
        Self {
            name: "spi1".into(),
            generation: SmcGeneration::Ast2600,
            num_cs: 2,
            window_base: 0x3000_0000,
            window_size: 0x1000_0000,
            default_segments: [
                Segment {
                    offset: 0,
                    size: 128 << 20,
                },
                Segment::default(),
                Segment::default(),
            ],
            conf_reset: 0,
            has_dma: true,
            dma_needs_grant: true,
            has_wdt2_ctrl: false,
            timing_regs: 2,
            dram_base,
        }
    }

    /// The AST2600 SPI2 controller: 3 CEs, CE0 segment 128 MiB.
    pub fn ast2600_spi2(dram_base: u64) -> Self {
        Self {
            name: "spi2".into(),
            num_cs: 3,
            window_base: 0x5000_0000,
            timing_regs: 3,
            ..Self::ast2600_spi1(dram_base)
        }
    }

    /// The AST2500 FMC (QEMU `aspeed_2500_fmc_class_init`): 3 CEs, window
    /// [`AST2500_FMC_WINDOW_BASE`] of 256 MiB, default segments CE0 128 MiB at the window start,
    /// CE1 and CE2 32 MiB each after it (registers 0x50400000, 0x54500000, 0x58540000), CE0 and
    /// CE1 types SPI, DMA with checksum and calibration (no grant), one timing register, no
    /// WDT2 register. `dram_base` is where the SoC's DRAM starts (DMA DRAM addresses are
    /// offsets from it).
    pub fn ast2500_fmc(dram_base: u64) -> Self {
        Self {
            name: "fmc".into(),
            generation: SmcGeneration::Ast2500,
            num_cs: 3,
            window_base: AST2500_FMC_WINDOW_BASE,
            window_size: AST2500_FMC_WINDOW_SIZE,
            default_segments: [
                Segment {
                    offset: 0,
                    size: 128 << 20,
                },
                Segment {
                    offset: 128 << 20,
                    size: 32 << 20,
                },
                Segment {
                    offset: 160 << 20,
                    size: 32 << 20,
                },
            ],
            conf_reset: CONF_FLASH_TYPE_SPI | CONF_FLASH_TYPE_SPI << 2,
            has_dma: true,
            dma_needs_grant: false,
            has_wdt2_ctrl: false,
            timing_regs: 1,
            dram_base,
        }
    }

    /// The AST2500 SPI1 controller (QEMU `aspeed_2500_spi1_class_init`): 2 CEs, window
    /// [`AST2500_SPI1_WINDOW_BASE`] of 128 MiB, default segments CE0 32 MiB and CE1 the other
    /// 96 MiB (registers 0x64600000, 0x70640000), CE types 0, no DMA, one timing register.
    /// `dram_base` is kept for symmetry (there is no DMA).
    pub fn ast2500_spi1(dram_base: u64) -> Self {
        Self {
            name: "spi1".into(),
            generation: SmcGeneration::Ast2500,
            num_cs: 2,
            window_base: AST2500_SPI1_WINDOW_BASE,
            window_size: AST2500_SPI_WINDOW_SIZE,
            default_segments: [
                Segment {
                    offset: 0,
                    size: 32 << 20,
                },
                Segment {
                    offset: 32 << 20,
                    size: 96 << 20,
                },
                Segment::default(),
            ],
            conf_reset: 0,
            has_dma: false,
            dma_needs_grant: false,
            has_wdt2_ctrl: false,
            timing_regs: 1,
            dram_base,
        }
    }

    /// The AST2500 SPI2 controller (QEMU `aspeed_2500_spi2_class_init`): as SPI1 with the
    /// window at [`AST2500_SPI2_WINDOW_BASE`] (registers 0x74700000, 0x80740000).
    pub fn ast2500_spi2(dram_base: u64) -> Self {
        Self {
            name: "spi2".into(),
            window_base: AST2500_SPI2_WINDOW_BASE,
            ..Self::ast2500_spi1(dram_base)
        }
    }

    /// Decodes a segment register of this controller into a segment of its window (offset and
    /// size; size 0 when the CE decodes nothing). On the AST2500 the absolute range is clipped
    /// to the window.
    pub fn reg_to_segment(&self, reg: u32) -> Segment {
        match self.generation {
            SmcGeneration::Ast2600 => reg_to_segment(reg),
            SmcGeneration::Ast2500 => {
                let (start, end) = ast2500_reg_to_range(reg);
                let window_end = self.window_base.saturating_add(self.window_size);
                let start = start.max(self.window_base);
                let end = end.min(window_end);
                if end <= start {
                    return Segment::default();
                }
                Segment {
                    offset: start - self.window_base,
                    size: end - start,
                }
            }
        }
    }

    /// Encodes a segment of the window as this controller's segment register (a closed
    /// segment is 0).
    pub fn segment_to_reg(&self, seg: Segment) -> u32 {
        match self.generation {
            SmcGeneration::Ast2600 => segment_to_reg(seg),
            SmcGeneration::Ast2500 if seg.size == 0 => 0,
            SmcGeneration::Ast2500 => {
                let start = self.window_base.wrapping_add(seg.offset);
                ast2500_range_to_reg(start, start.wrapping_add(seg.size))
            }
        }
    }

    /// The bits of a segment register that are stored.
    fn segment_reg_mask(&self) -> u32 {
        match self.generation {
            SmcGeneration::Ast2600 => SEGMENT_REG_MASK,
            SmcGeneration::Ast2500 => AST2500_SEGMENT_REG_MASK,
        }
    }

    /// The bits of the DMA length register that are stored.
    fn dma_len_mask(&self) -> u32 {
        match self.generation {
            SmcGeneration::Ast2600 => DMA_LEN_MASK,
            SmcGeneration::Ast2500 => AST2500_DMA_LEN_MASK,
        }
    }
}

/// The controller's registers, plus which chip selects are asserted.
///
/// DMA transfers complete within the register write that starts them, so no transfer is ever
/// in progress beyond these registers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AspeedSmcState {
    /// The generation whose encoding the registers follow (the controller variant);
    /// [`AspeedSmc::from_state`] refuses registers of another generation than its config's.
    pub generation: SmcGeneration,
    /// 0x00 CE type setting.
    pub conf: u32,
    /// 0x04 CE control (4-byte address bits).
    pub ce_ctrl: u32,
    /// 0x08 interrupt control and status.
    pub intr_ctrl: u32,
    /// 0x0C command control.
    pub cmd_ctrl: u32,
    /// 0x10.. CEn control.
    pub ce_control: [u32; MAX_CS],
    /// 0x30.. CEn segment.
    pub segment: [u32; MAX_CS],
    /// 0x50 auto soft-reset command control.
    pub soft_reset_cmd: u32,
    /// 0x54 dummy cycle data.
    pub dummy_data: u32,
    /// 0x64 WDT2 control.
    pub wdt2_ctrl: u32,
    /// 0x7C DMA DRAM address high bits.
    pub dma_dram_high: u32,
    /// 0x80 DMA control.
    pub dma_ctrl: u32,
    /// 0x84 DMA flash address.
    pub dma_flash_addr: u32,
    /// 0x88 DMA DRAM address.
    pub dma_dram_addr: u32,
    /// 0x8C DMA length.
    pub dma_len: u32,
    /// 0x90 DMA checksum.
    pub dma_checksum: u32,
    /// 0x94.. CEn read timing compensation.
    pub timing: [u32; MAX_CS],
    /// Chip select n is asserted (user mode with CE_STOP_ACTIVE clear).
    pub selected: [bool; MAX_CS],
}

impl AspeedSmcState {
    /// The registers after reset for `config`.
    pub fn reset_value(config: &SmcConfig) -> Self {
        let num_cs = config.num_cs.min(MAX_CS);
        let mut ce_control = [0; MAX_CS];
        let mut segment = [0; MAX_CS];
        for cs in 0..num_cs {
            ce_control[cs] = CE_CTRL_STOP_ACTIVE;
            segment[cs] =
                config.segment_to_reg(config.default_segments[cs]) & config.segment_reg_mask();
        }
        Self {
            generation: config.generation,
            conf: config.conf_reset,
            ce_ctrl: 0,
            intr_ctrl: 0,
            cmd_ctrl: 0,
            ce_control,
            segment,
            soft_reset_cmd: 0,
            dummy_data: 0,
            wdt2_ctrl: 0,
            dma_dram_high: 0,
            dma_ctrl: 0,
            dma_flash_addr: 0,
            dma_dram_addr: 0,
            dma_len: 0,
            dma_checksum: 0,
            timing: [0; MAX_CS],
            selected: [false; MAX_CS],
        }
    }
}

/// Guest errors reported once each.
#[derive(Clone, Copy)]
enum GuestError {
    OutsideSegments = 0,
    NotWritable,
    ReadInWriteMode,
    WriteInReadMode,
    NoWriteCommand,
    DmaNotGranted,
    DmaBusy,
    DmaFlashFault,
    DmaDramFault,
    ChecksumDirection,
    SegmentBadStart,
    SegmentOverlap,
    SegmentUnaligned,
    SegmentInverted,
    SegmentOutsideWindow,
    StateGeneration,
}

/// An AST2600 or AST2500 FMC / SPI controller.
pub struct AspeedSmc {
    config: SmcConfig,
    state: AspeedSmcState,
    flashes: [Option<Rc<RefCell<SpiNor>>>; MAX_CS],
    irq: IrqLine,
    irq_level: bool,
    dram: Rc<dyn GuestMemory>,
    unimp: UnimplementedLog,
    reported: u32,
    mapping: [(u32, bool); MAX_CS],
    mapping_generation: u64,
    mapping_changed: bool,
}

impl fmt::Debug for AspeedSmc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AspeedSmc")
            .field("config", &self.config)
            .field("state", &self.state)
            .finish()
    }
}

impl AspeedSmc {
    /// A controller in its reset state with no flash attached. `irq` is its interrupt output,
    /// `dram` the memory its DMA engine reads and writes.
    pub fn new(config: SmcConfig, irq: IrqLine, dram: Rc<dyn GuestMemory>) -> Self {
        let state = AspeedSmcState::reset_value(&config);
        Self::from_state(config, irq, dram, state)
    }

    /// A controller restored from `state` (attach the flashes again afterwards). Registers
    /// saved by a controller of another [`SmcGeneration`] than `config`'s would decode
    /// differently: they are refused with a warning and the controller starts from reset.
    pub fn from_state(
        mut config: SmcConfig,
        irq: IrqLine,
        dram: Rc<dyn GuestMemory>,
        mut state: AspeedSmcState,
    ) -> Self {
        config.num_cs = config.num_cs.min(MAX_CS);
        config.timing_regs = config.timing_regs.min(MAX_CS);
        let mut reported = 0;
        if state.generation != config.generation {
            log::warn!(
                "{}: state of an {:?} controller refused by an {:?} one: reset",
                config.name,
                state.generation,
                config.generation
            );
            reported |= 1 << GuestError::StateGeneration as u32;
            state = AspeedSmcState::reset_value(&config);
        }
        let unimp = UnimplementedLog::new(&config.name);
        let mut smc = Self {
            config,
            state,
            flashes: Default::default(),
            irq,
            irq_level: false,
            dram,
            unimp,
            reported,
            mapping: [(0, false); MAX_CS],
            mapping_generation: 0,
            mapping_changed: true,
        };
        smc.irq_level = smc.irq_wanted();
        smc.irq.set(smc.irq_level);
        smc.mapping = smc.mapping_signature();
        smc
    }

    /// Connects `flash` to chip select `cs`; refused (returned) when `cs` does not exist.
    pub fn attach_flash(
        &mut self,
        cs: usize,
        flash: Rc<RefCell<SpiNor>>,
    ) -> Result<(), Rc<RefCell<SpiNor>>> {
        if cs >= self.config.num_cs {
            return Err(flash);
        }
        self.flashes[cs] = Some(flash);
        self.check_mapping();
        Ok(())
    }

    /// The flash on chip select `cs`, if any.
    pub fn flash(&self, cs: usize) -> Option<&Rc<RefCell<SpiNor>>> {
        self.flashes.get(cs).and_then(|f| f.as_ref())
    }

    /// The registers.
    pub fn state(&self) -> AspeedSmcState {
        self.state.clone()
    }

    /// How this controller was configured.
    pub fn config(&self) -> &SmcConfig {
        &self.config
    }

    /// The current level of the interrupt output.
    pub fn irq_level(&self) -> bool {
        self.irq_level
    }

    /// Chip select `cs`'s segment of the flash window, `None` when closed or absent.
    pub fn segment(&self, cs: usize) -> Option<Segment> {
        if cs >= self.config.num_cs {
            return None;
        }
        let seg = self.config.reg_to_segment(self.state.segment[cs]);
        (seg.size != 0).then_some(seg)
    }

    /// The command mode (`MODE_*`) of chip select `cs`.
    pub fn mode(&self, cs: usize) -> u32 {
        self.state
            .ce_control
            .get(cs)
            .map_or(MODE_NORMAL_READ, |c| c & CE_CTRL_MODE_MASK)
    }

    /// True when reads of `cs`'s segment may be served straight from the flash bytes: the CE is
    /// in a read mode, its segment is open and a flash is attached. Writes never are.
    pub fn window_is_direct(&self, cs: usize) -> bool {
        matches!(self.mode(cs), MODE_NORMAL_READ | MODE_READ)
            && self.segment(cs).is_some()
            && self.flash(cs).is_some()
    }

    /// A counter that moves whenever a segment, a direct-read flag or an attached flash changes.
    pub fn mapping_generation(&self) -> u64 {
        self.mapping_generation
    }

    /// True (once) when the window's mapping changed since the last call (also true at first).
    pub fn take_mapping_changed(&mut self) -> bool {
        std::mem::replace(&mut self.mapping_changed, false)
    }

    fn report(&mut self, kind: GuestError, msg: fmt::Arguments<'_>) {
        let bit = 1u32 << kind as u32;
        if self.reported & bit == 0 {
            self.reported |= bit;
            log::warn!("{}: {}", self.config.name, msg);
        }
    }

    fn mapping_signature(&self) -> [(u32, bool); MAX_CS] {
        let mut sig = [(0, false); MAX_CS];
        for (cs, s) in sig.iter_mut().enumerate() {
            *s = (self.state.segment[cs], self.window_is_direct(cs));
        }
        sig
    }

    fn check_mapping(&mut self) {
        let sig = self.mapping_signature();
        if sig != self.mapping {
            self.mapping = sig;
            self.mapping_generation = self.mapping_generation.wrapping_add(1);
            self.mapping_changed = true;
        }
    }

    /// Why `state` cannot be this controller's, if it cannot: another generation, or chip
    /// selects or timing registers this controller does not have in use.
    fn state_mismatch(&self, state: &AspeedSmcState) -> Option<String> {
        let name = &self.config.name;
        if state.generation != self.config.generation {
            return Some(format!(
                "{STATE_KIND}: the state is of an {:?} controller, {name} is an {:?} one",
                state.generation, self.config.generation
            ));
        }
        let num_cs = self.config.num_cs;
        let extra_cs = (num_cs..MAX_CS)
            .any(|cs| state.ce_control[cs] != 0 || state.segment[cs] != 0 || state.selected[cs]);
        let extra_timing = state.timing[self.config.timing_regs..]
            .iter()
            .any(|&t| t != 0);
        (extra_cs || extra_timing).then(|| {
            format!(
                "{STATE_KIND}: the state uses chip selects or timing registers past {name}'s \
                 {num_cs} chip selects and {} timing registers",
                self.config.timing_regs
            )
        })
    }

    fn irq_wanted(&self) -> bool {
        self.state.intr_ctrl & INTR_DMA_STATUS != 0 && self.state.intr_ctrl & INTR_DMA_EN != 0
    }

    fn update_irq(&mut self) {
        let level = self.irq_wanted();
        if level != self.irq_level {
            self.irq_level = level;
            self.irq.set(level);
        }
    }

    fn set_selected(&mut self, cs: usize, selected: bool) {
        if self.state.selected[cs] == selected {
            return;
        }
        self.state.selected[cs] = selected;
        if let Some(flash) = &self.flashes[cs] {
            let mut flash = flash.borrow_mut();
            if selected {
                flash.select();
            } else {
                flash.deselect();
            }
        }
    }

    fn write_ce_control(&mut self, cs: usize, value: u32) {
        self.state.ce_control[cs] = value;
        let active = value & CE_CTRL_MODE_MASK == MODE_USER && value & CE_CTRL_STOP_ACTIVE == 0;
        self.set_selected(cs, active);
        self.check_mapping();
    }

    fn write_segment(&mut self, cs: usize, value: u32) {
        if value == self.state.segment[cs] {
            return;
        }
        let value = match self.config.generation {
            SmcGeneration::Ast2600 => self.fix_segment_ast2600(cs, value),
            SmcGeneration::Ast2500 => match self.fix_segment_ast2500(cs, value) {
                Some(value) => value,
                None => return,
            },
        };
        let seg = self.config.reg_to_segment(value);
        if seg.offset.checked_rem(seg.size).is_some_and(|r| r != 0) {
            self.report(
                GuestError::SegmentUnaligned,
                format_args!("CE{cs} segment {seg:?} is not aligned on its size"),
            );
        }
        for other in 0..self.config.num_cs {
            let o = self.config.reg_to_segment(self.state.segment[other]);
            if other != cs
                && seg.size != 0
                && o.size != 0
                && seg.offset < o.offset + o.size
                && o.offset < seg.offset + seg.size
            {
                self.report(
                    GuestError::SegmentOverlap,
                    format_args!("CE{cs} segment {seg:?} overlaps CE{other} {o:?}"),
                );
            }
        }
        self.state.segment[cs] = value & self.config.segment_reg_mask();
        self.check_mapping();
    }

    /// An AST2600 segment register value as the hardware takes it: CE0's start is read-only
    /// (the end is kept relative to a zero start).
    fn fix_segment_ast2600(&mut self, cs: usize, mut value: u32) -> u32 {
        let mut seg = reg_to_segment(value);
        if value != 0 && seg.size == 0 {
            self.report(
                GuestError::SegmentInverted,
                format_args!("CE{cs} segment {value:#010x} ends before it starts: closed"),
            );
        }
        if cs == 0 && seg.offset != 0 {
            self.report(
                GuestError::SegmentBadStart,
                format_args!("CE0 segment start is read-only (tried {:#x})", seg.offset),
            );
            seg.offset = 0;
            value = segment_to_reg(seg);
        }
        value
    }

    /// An AST2500 segment register value as QEMU takes it: CE0's start is read-only (forced
    /// to the window base, the size kept), and a segment wholly outside the window is
    /// refused (`None`: the register keeps its value). `start == end` is a closed segment.
    fn fix_segment_ast2500(&mut self, cs: usize, mut value: u32) -> Option<u32> {
        let (mut start, end) = ast2500_reg_to_range(value);
        if end < start {
            self.report(
                GuestError::SegmentInverted,
                format_args!("CE{cs} segment {value:#010x} ends before it starts: closed"),
            );
        }
        let size = end.saturating_sub(start);
        let base = self.config.window_base;
        if cs == 0 && start != base {
            self.report(
                GuestError::SegmentBadStart,
                format_args!("CE0 segment start is read-only (tried {start:#x})"),
            );
            start = base;
            value = ast2500_range_to_reg(start, start + size);
        }
        let window_end = base.saturating_add(self.config.window_size);
        if size != 0 && (start + size <= base || start >= window_end) {
            self.report(
                GuestError::SegmentOutsideWindow,
                format_args!(
                    "CE{cs} segment [{start:#x}, {:#x}) is outside the window: ignored",
                    start + size
                ),
            );
            return None;
        }
        Some(value)
    }

    fn write_intr_ctrl(&mut self, value: u32) {
        // Enables are plain bits; a status bit is cleared by writing 0 and kept by writing 1
        // (QEMU stores the value, the SDK u-boot clears the DMA status by writing 0), and can
        // never be set by software.
        let status = self.state.intr_ctrl & value & INTR_STATUS_MASK;
        self.state.intr_ctrl = (value & !INTR_STATUS_MASK) | status;
        self.update_irq();
    }

    fn dma_granted(&self) -> bool {
        !self.config.dma_needs_grant || self.state.dma_ctrl & DMA_CTRL_GRANT != 0
    }

    fn write_dma_ctrl(&mut self, value: u32) {
        if self.config.generation == SmcGeneration::Ast2500 {
            // No request / grant handshake (QEMU `aspeed_smc_dma_ctrl`): every value is a
            // command, the magic words included.
            self.dma_command(value);
            return;
        }
        let value = value | (self.state.dma_ctrl & (DMA_CTRL_REQUEST | DMA_CTRL_GRANT));
        if value == DMA_GET_REQ_MAGIC {
            // The engine is free at once: request and grant.
            self.state.dma_ctrl |= DMA_CTRL_REQUEST | DMA_CTRL_GRANT;
            return;
        }
        if value == DMA_DISCARD_REQ_MAGIC {
            self.state.dma_ctrl &= !(DMA_CTRL_REQUEST | DMA_CTRL_GRANT);
            return;
        }
        if !self.dma_granted() {
            self.report(
                GuestError::DmaNotGranted,
                format_args!("DMA control written without a grant"),
            );
            return;
        }
        self.dma_command(value);
        self.state.dma_ctrl &= !(DMA_CTRL_REQUEST | DMA_CTRL_GRANT);
    }

    fn dma_command(&mut self, value: u32) {
        if value & DMA_CTRL_ENABLE == 0 {
            // Stop: the engine is idle, the checksum is cleared.
            self.state.dma_ctrl = value;
            self.state.intr_ctrl &= !INTR_DMA_STATUS;
            self.state.dma_checksum = 0;
            self.update_irq();
            return;
        }
        let in_progress = self.state.dma_ctrl & DMA_CTRL_ENABLE != 0
            && self.state.intr_ctrl & INTR_DMA_STATUS == 0;
        if in_progress {
            self.report(
                GuestError::DmaBusy,
                format_args!("DMA started while the previous one is not stopped"),
            );
            return;
        }
        self.state.dma_ctrl = value;
        if value & DMA_CTRL_CKSUM != 0 {
            self.dma_checksum();
        } else {
            self.dma_copy();
        }
        self.state.intr_ctrl |= INTR_DMA_STATUS;
        self.update_irq();
    }

    /// Bytes the programmed DMA moves: AST2600 `len + 1` rounded up to whole words, AST2500
    /// `len + 4` (a whole number of words).
    fn dma_bytes(&self) -> u64 {
        let len = u64::from(self.state.dma_len & self.config.dma_len_mask());
        match self.config.generation {
            SmcGeneration::Ast2600 => (len + 1 + 3) & !3,
            SmcGeneration::Ast2500 => len + 4,
        }
    }

    /// One little-endian word of the flash window, as the DMA engine reads it.
    fn dma_flash_word(&mut self, offset: u32) -> Option<u32> {
        let offset = offset as u64;
        if offset + 4 > self.config.window_size {
            let addr = self.state.dma_flash_addr;
            self.report(
                GuestError::DmaFlashFault,
                format_args!("DMA flash address {addr:#x} is outside the window"),
            );
            return None;
        }
        Some(self.window_read(offset, 4) as u32)
    }

    fn dma_calibration(&mut self) {
        let delay = (self.state.dma_ctrl >> DMA_CTRL_DELAY_SHIFT) & 0xf;
        let mask = (self.state.dma_ctrl >> DMA_CTRL_FREQ_SHIFT) & 0xf;
        let div = HCLK_DIVISORS
            .iter()
            .position(|&m| m == mask)
            .map_or(16, |i| i as u32 + 1);
        if div < 6 {
            let shift = (div - 1) * 4;
            self.state.timing[0] = (self.state.timing[0] & !(0xf << shift)) | (delay << shift);
        }
        let ctrl = &mut self.state.ce_control[0];
        *ctrl = (*ctrl & !(0xf << CE_CTRL_FREQ_SHIFT)) | ((div & 0xf) << CE_CTRL_FREQ_SHIFT);
    }

    fn dma_checksum(&mut self) {
        if self.state.dma_ctrl & DMA_CTRL_WRITE != 0 {
            self.report(
                GuestError::ChecksumDirection,
                format_args!("DMA checksum with the write direction"),
            );
            return;
        }
        if self.state.dma_ctrl & DMA_CTRL_CALIB != 0 {
            self.dma_calibration();
        }
        let mut left = self.dma_bytes();
        while left > 0 {
            let Some(word) = self.dma_flash_word(self.state.dma_flash_addr) else {
                return;
            };
            self.state.dma_checksum = self.state.dma_checksum.wrapping_add(word);
            self.state.dma_flash_addr = self.state.dma_flash_addr.wrapping_add(4);
            left -= 4;
            self.state.dma_len = left as u32;
        }
    }

    fn dram_addr(&self) -> u64 {
        self.config
            .dram_base
            .wrapping_add(self.state.dma_dram_addr as u64)
    }

    fn dma_dram_fault(&mut self) {
        let addr = self.dram_addr();
        self.report(
            GuestError::DmaDramFault,
            format_args!("DMA DRAM address {addr:#x} is outside memory"),
        );
    }

    fn dma_advance(&mut self, bytes: u32, left: &mut u64, words: &[u32]) {
        self.state.dma_flash_addr = self.state.dma_flash_addr.wrapping_add(bytes);
        self.state.dma_dram_addr = self.state.dma_dram_addr.wrapping_add(bytes);
        *left -= bytes as u64;
        self.state.dma_len = *left as u32;
        for &w in words {
            self.state.dma_checksum = self.state.dma_checksum.wrapping_add(w);
        }
    }

    fn dma_copy(&mut self) {
        let mut left = self.dma_bytes();
        if self.state.dma_ctrl & DMA_CTRL_WRITE != 0 {
            // DRAM to flash: each word goes through the window, as the CE's mode says.
            while left > 0 {
                let mut b = [0u8; 4];
                if self.dram.read(self.dram_addr(), &mut b).is_err() {
                    self.dma_dram_fault();
                    return;
                }
                let word = u32::from_le_bytes(b);
                let flash = self.state.dma_flash_addr as u64;
                if flash + 4 > self.config.window_size {
                    self.report(
                        GuestError::DmaFlashFault,
                        format_args!("DMA flash address {flash:#x} is outside the window"),
                    );
                    return;
                }
                self.window_write(flash, 4, word as u64);
                self.dma_advance(4, &mut left, &[word]);
            }
            return;
        }
        // Flash to DRAM, in chunks.
        while left > 0 {
            let want = (left as usize).min(DMA_CHUNK) / 4;
            let mut words = Vec::with_capacity(want);
            let mut flash = self.state.dma_flash_addr;
            let mut flash_fault = false;
            for _ in 0..want {
                match self.dma_flash_word(flash) {
                    Some(w) => words.push(w),
                    None => {
                        flash_fault = true;
                        break;
                    }
                }
                flash = flash.wrapping_add(4);
            }
            let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            if self.dram.write(self.dram_addr(), &bytes).is_ok() {
                self.dma_advance(bytes.len() as u32, &mut left, &words);
            } else {
                // Find the exact word that faults, as the hardware would stop there.
                for &w in &words {
                    if self.dram.write(self.dram_addr(), &w.to_le_bytes()).is_err() {
                        self.dma_dram_fault();
                        return;
                    }
                    self.dma_advance(4, &mut left, &[w]);
                }
            }
            if flash_fault {
                return;
            }
        }
    }

    fn decode_window(&self, offset: u64) -> Option<(usize, u64)> {
        (0..self.config.num_cs).find_map(|cs| {
            let seg = self.segment(cs)?;
            let rel = offset.checked_sub(seg.offset)?;
            (rel < seg.size).then_some((cs, rel))
        })
    }

    fn writable(&self, cs: usize) -> bool {
        self.state.conf & (1 << (CONF_ENABLE_W0_SHIFT + cs as u32)) != 0
    }

    /// Reads `size` bytes (little endian) at `offset` in the flash window: user mode shifts
    /// bytes out of the selected chip, read modes return the chip's bytes through the segment
    /// decode (the slow path of a direct mapping).
    pub fn window_read(&mut self, offset: u64, size: u8) -> u64 {
        let n = (size as usize).min(8);
        let Some((cs, rel)) = self.decode_window(offset) else {
            self.report(
                GuestError::OutsideSegments,
                format_args!("window access at {offset:#x} outside every CE segment"),
            );
            return 0;
        };
        let Some(flash) = self.flashes[cs].clone() else {
            return 0;
        };
        let mut bytes = [0u8; 8];
        match self.mode(cs) {
            MODE_USER => {
                if self.state.selected[cs] {
                    let mut flash = flash.borrow_mut();
                    for b in bytes.iter_mut().take(n) {
                        *b = flash.transfer(0);
                    }
                }
            }
            MODE_WRITE => {
                self.report(
                    GuestError::ReadInWriteMode,
                    format_args!("window read of CE{cs} in write mode"),
                );
            }
            _ => flash.borrow().read(rel, &mut bytes[..n]),
        }
        u64::from_le_bytes(bytes)
    }

    /// Writes `size` bytes (little endian) at `offset` in the flash window: user mode shifts
    /// them into the selected chip, write mode sends the CE's command, address and data. Needs
    /// the CE's write enable bit in the type setting register.
    pub fn window_write(&mut self, offset: u64, size: u8, value: u64) {
        let n = (size as usize).min(8);
        let Some((cs, rel)) = self.decode_window(offset) else {
            self.report(
                GuestError::OutsideSegments,
                format_args!("window access at {offset:#x} outside every CE segment"),
            );
            return;
        };
        if !self.writable(cs) {
            self.report(
                GuestError::NotWritable,
                format_args!("window write to CE{cs} without its write enable"),
            );
            return;
        }
        let Some(flash) = self.flashes[cs].clone() else {
            return;
        };
        let data = value.to_le_bytes();
        match self.mode(cs) {
            MODE_USER => {
                if self.state.selected[cs] {
                    let mut flash = flash.borrow_mut();
                    for &b in data.iter().take(n) {
                        flash.transfer(b);
                    }
                }
            }
            MODE_WRITE => {
                let cmd = (self.state.ce_control[cs] >> CE_CTRL_CMD_SHIFT) as u8;
                if cmd == 0 {
                    self.report(
                        GuestError::NoWriteCommand,
                        format_args!("CE{cs} write mode without a command"),
                    );
                }
                let width = if self.state.ce_ctrl & (CE_CTRL_EXTENDED0 << cs) != 0 {
                    4
                } else {
                    3
                };
                let mut flash = flash.borrow_mut();
                flash.select();
                flash.transfer(cmd);
                for i in (0..width).rev() {
                    let disabled =
                        self.state.cmd_ctrl & (1 << (CMD_CTRL_ADDR_BYTE0_DISABLE_SHIFT + i));
                    if disabled == 0 {
                        flash.transfer((rel >> (i * 8)) as u8);
                    }
                }
                for &b in data.iter().take(n) {
                    flash.transfer(b);
                }
                flash.deselect();
            }
            _ => {
                self.report(
                    GuestError::WriteInReadMode,
                    format_args!("window write to CE{cs} in a read mode ignored"),
                );
            }
        }
    }

    /// The CE index a per-CE register at `reg` (relative to `base`) addresses, if it exists.
    fn ce_index(&self, reg: u64, base: u64) -> Option<usize> {
        Self::reg_index(reg, base, self.config.num_cs)
    }

    /// The index of register `reg` in a bank of `count` registers from `base`, if it is one.
    fn reg_index(reg: u64, base: u64, count: usize) -> Option<usize> {
        let idx = reg.checked_sub(base)? / 4;
        (idx < count as u64).then_some(idx as usize)
    }

    /// The read timing compensation register `reg` addresses, if it exists.
    fn timing_index(&self, reg: u64) -> Option<usize> {
        Self::reg_index(reg, REG_CE0_TIMING, self.config.timing_regs)
    }

    /// True when the DMA register `reg` (0x7C..0x90) exists on this controller.
    fn has_dma_reg(&self, reg: u64) -> bool {
        match reg {
            REG_DMA_DRAM_HIGH => {
                self.config.has_dma && self.config.generation == SmcGeneration::Ast2600
            }
            REG_DMA_CTRL..=REG_DMA_CHECKSUM => self.config.has_dma,
            _ => true,
        }
    }

    fn read_reg(&self, reg: u64) -> Option<u32> {
        let s = &self.state;
        if let Some(cs) = self.ce_index(reg, REG_CE0_CTRL) {
            return Some(s.ce_control[cs]);
        }
        if let Some(cs) = self.ce_index(reg, REG_CE0_SEGMENT) {
            return Some(s.segment[cs]);
        }
        if let Some(i) = self.timing_index(reg) {
            return Some(s.timing[i]);
        }
        if !self.has_dma_reg(reg) {
            return None;
        }
        Some(match reg {
            REG_CONF => s.conf,
            REG_CE_CTRL => s.ce_ctrl,
            REG_INTR_CTRL => s.intr_ctrl,
            REG_CMD_CTRL => s.cmd_ctrl,
            REG_SOFT_RESET_CMD => s.soft_reset_cmd,
            REG_DUMMY_DATA => s.dummy_data,
            REG_WDT2_CTRL if self.config.has_wdt2_ctrl => s.wdt2_ctrl,
            REG_DMA_DRAM_HIGH => s.dma_dram_high,
            REG_DMA_CTRL => s.dma_ctrl,
            REG_DMA_FLASH_ADDR => s.dma_flash_addr,
            REG_DMA_DRAM_ADDR => s.dma_dram_addr,
            REG_DMA_LEN => s.dma_len,
            REG_DMA_CHECKSUM => s.dma_checksum,
            _ => return None,
        })
    }

    /// Writes a whole register; false when it is not implemented.
    fn write_reg(&mut self, reg: u64, value: u32) -> bool {
        if let Some(cs) = self.ce_index(reg, REG_CE0_CTRL) {
            self.write_ce_control(cs, value);
            return true;
        }
        if let Some(cs) = self.ce_index(reg, REG_CE0_SEGMENT) {
            self.write_segment(cs, value);
            return true;
        }
        if let Some(i) = self.timing_index(reg) {
            self.state.timing[i] = value;
            return true;
        }
        if !self.has_dma_reg(reg) {
            return false;
        }
        let granted = self.dma_granted();
        match reg {
            REG_CONF => self.state.conf = value,
            REG_CE_CTRL => self.state.ce_ctrl = value,
            REG_INTR_CTRL => self.write_intr_ctrl(value),
            REG_CMD_CTRL => self.state.cmd_ctrl = value & 0xff,
            REG_SOFT_RESET_CMD => self.state.soft_reset_cmd = value,
            REG_DUMMY_DATA => self.state.dummy_data = value & 0xff,
            REG_WDT2_CTRL if self.config.has_wdt2_ctrl => {
                self.state.wdt2_ctrl = value & WDT2_CTRL_EN
            }
            REG_DMA_DRAM_HIGH => self.state.dma_dram_high = value,
            REG_DMA_CTRL => self.write_dma_ctrl(value),
            REG_DMA_FLASH_ADDR | REG_DMA_DRAM_ADDR | REG_DMA_LEN if !granted => {
                self.report(
                    GuestError::DmaNotGranted,
                    format_args!("DMA register {reg:#x} written without a grant"),
                );
            }
            REG_DMA_FLASH_ADDR => self.state.dma_flash_addr = value & DMA_FLASH_MASK,
            REG_DMA_DRAM_ADDR => self.state.dma_dram_addr = value & DMA_DRAM_MASK,
            REG_DMA_LEN => self.state.dma_len = value & self.config.dma_len_mask(),
            _ => return false,
        }
        true
    }

    fn read32(&mut self, offset: u64, size: u8) -> u64 {
        let reg = offset & !3;
        match self.read_reg(reg) {
            Some(v) => subword(v, offset, size),
            None => {
                self.unimp.read(offset, size);
                0
            }
        }
    }

    fn write32(&mut self, offset: u64, size: u8, value: u64) {
        let reg = offset & !3;
        let current = self.read_reg(reg).unwrap_or(0);
        let merged = merge_subword(current, offset, size, value);
        if !self.write_reg(reg, merged) {
            self.unimp.write(offset, size, value);
        }
    }
}

impl Device for AspeedSmc {
    fn read(&mut self, offset: u64, size: u8) -> u64 {
        if size >= 8 {
            let lo = self.read32(offset, 4);
            let hi = self.read32(offset.wrapping_add(4), 4);
            lo | (hi << 32)
        } else {
            self.read32(offset, size)
        }
    }

    fn write(&mut self, offset: u64, size: u8, value: u64) {
        if size >= 8 {
            self.write32(offset, 4, value & 0xffff_ffff);
            self.write32(offset.wrapping_add(4), 4, value >> 32);
        } else {
            self.write32(offset, size, value);
        }
    }

    /// SoC reset: registers to their defaults, chip selects released, and the attached flashes
    /// reset too (the AST2600 returns its boot flash to 3-byte mode on reset).
    fn reset(&mut self) {
        for cs in 0..MAX_CS {
            self.set_selected(cs, false);
        }
        self.state = AspeedSmcState::reset_value(&self.config);
        for flash in self.flashes.iter().flatten() {
            flash.borrow_mut().reset();
        }
        self.update_irq();
        self.check_mapping();
    }

    /// The registers and the asserted chip selects ([`AspeedSmcState`]). The attached flash
    /// chips are not saved here (the SoC saves each [`SpiNor`] and its contents itself);
    /// DRAM, the line and the config are wiring.
    fn save_state(&self) -> Option<DeviceState> {
        Some(DeviceState::new(STATE_KIND, STATE_VERSION, &self.state))
    }

    /// Refuses another generation's state, or one using chip selects or timing registers this
    /// controller lacks. The flashes are not selected or deselected (each restores its own
    /// command progress); the line follows the restored DMA status and enable, and the
    /// window's mapping is reported changed ([`AspeedSmc::take_mapping_changed`]) so the SoC
    /// maps the restored segments.
    fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        let s: AspeedSmcState = state.decode(STATE_KIND, STATE_VERSION)?;
        if let Some(why) = self.state_mismatch(&s) {
            return Err(StateError(why));
        }
        self.state = s;
        self.irq_level = self.irq_wanted();
        self.irq.set(self.irq_level);
        self.mapping = self.mapping_signature();
        self.mapping_generation = self.mapping_generation.wrapping_add(1);
        self.mapping_changed = true;
        Ok(())
    }
}

/// The controller's flash window as a [`Device`] (offsets within the window), sharing the
/// controller: for the SoC's MMIO path while a CE is not directly mapped.
#[derive(Clone)]
pub struct AspeedSmcWindow {
    smc: Rc<RefCell<AspeedSmc>>,
}

impl AspeedSmcWindow {
    /// The window of `smc`.
    pub fn new(smc: Rc<RefCell<AspeedSmc>>) -> Self {
        Self { smc }
    }
}

impl Device for AspeedSmcWindow {
    fn read(&mut self, offset: u64, size: u8) -> u64 {
        self.smc.borrow_mut().window_read(offset, size)
    }

    fn write(&mut self, offset: u64, size: u8, value: u64) {
        self.smc.borrow_mut().window_write(offset, size, value)
    }

    /// Nothing of its own: the window is a view of the controller, which saves the state.
    fn save_state(&self) -> Option<DeviceState> {
        Some(DeviceState::stateless(WINDOW_STATE_KIND))
    }

    /// Accepts only the stateless state [`AspeedSmcWindow::save_state`] gives.
    fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        state.check(WINDOW_STATE_KIND, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bus::{LevelRecorder, MemoryBlock, VecMemory};
    use spi_nor::FlashModel;

    const DRAM: u64 = 0x8000_0000;
    const FLASH_SIZE: usize = 1 << 20;

    fn flash() -> Rc<RefCell<SpiNor>> {
        let mem = Rc::new(MemoryBlock::new(FLASH_SIZE, 0xff));
        for i in 0..0x4000 {
            mem.write(i, &[(i as u8) ^ (i >> 8) as u8]);
        }
        Rc::new(RefCell::new(SpiNor::new(mem, FlashModel::MX66U51235F)))
    }

    struct Rig {
        smc: AspeedSmc,
        rec: Rc<LevelRecorder>,
        mem: Rc<VecMemory>,
        flash: Rc<RefCell<SpiNor>>,
    }

    fn fmc() -> Rig {
        let rec = LevelRecorder::new();
        let mem = Rc::new(VecMemory::new(DRAM, 0x10000));
        let mut smc = AspeedSmc::new(SmcConfig::ast2600_fmc(DRAM), rec.line(39), mem.clone());
        let flash = flash();
        smc.attach_flash(0, flash.clone()).unwrap();
        Rig {
            smc,
            rec,
            mem,
            flash,
        }
    }

    #[test]
    fn reset_values_follow_qemu() {
        let mut r = fmc();
        assert_eq!(r.smc.read(REG_CONF, 4), 0x2a);
        assert_eq!(r.smc.read(REG_CE0_CTRL, 4), CE_CTRL_STOP_ACTIVE as u64);
        assert_eq!(r.smc.read(REG_CE0_CTRL + 8, 4), CE_CTRL_STOP_ACTIVE as u64);
        assert_eq!(r.smc.read(REG_CE0_SEGMENT, 4), 0x07f0_0000);
        assert_eq!(r.smc.read(REG_CE0_SEGMENT + 4, 4), 0x0ff0_0800);
        assert_eq!(r.smc.read(REG_CE0_SEGMENT + 8, 4), 0);
        assert_eq!(r.smc.read(REG_CE0_TIMING, 4), 0);
        assert_eq!(
            r.smc.segment(0),
            Some(Segment {
                offset: 0,
                size: 128 << 20
            })
        );
        assert_eq!(r.smc.segment(2), None);
        assert!(r.smc.window_is_direct(0));
        assert!(!r.smc.window_is_direct(1), "no flash on CE1");
        assert!(!r.rec.level(39));
        // Byte access to a word register.
        assert_eq!(r.smc.read(REG_CE0_SEGMENT + 3, 1), 0x07);
        // SPI1 has two CEs, types zero, CE1 closed.
        let spi1 = AspeedSmc::new(
            SmcConfig::ast2600_spi1(DRAM),
            IrqLine::disconnected(),
            r.mem.clone(),
        );
        assert_eq!(spi1.state().conf, 0);
        assert_eq!(spi1.state().segment, [0x07f0_0000, 0, 0]);
    }

    #[test]
    fn segment_encoding_round_trips() {
        for (offset, size) in [
            (0, 128u64 << 20),
            (128 << 20, 128 << 20),
            (0x0020_0000, 0x0020_0000),
            (0x0ff0_0000, 1 << 20),
        ] {
            let seg = Segment { offset, size };
            assert_eq!(reg_to_segment(segment_to_reg(seg)), seg);
        }
        assert_eq!(
            segment_to_reg(Segment {
                offset: 0,
                size: 64 << 20
            }),
            0x03f0_0000
        );
        assert_eq!(
            segment_to_reg(Segment {
                offset: 64 << 20,
                size: 0
            }),
            0
        );
        // Linux's encoding of CE1 at [0x24000000, 0x26000000) in a 0x20000000 window.
        assert_eq!(
            reg_to_segment(0x05f0_0400),
            Segment {
                offset: 0x0400_0000,
                size: 0x0200_0000
            }
        );
        let mut r = fmc();
        r.smc.take_mapping_changed();
        r.smc.write(REG_CE0_SEGMENT + 4, 4, 0x05f0_0400);
        assert_eq!(r.smc.read(REG_CE0_SEGMENT + 4, 4), 0x05f0_0400);
        assert!(r.smc.take_mapping_changed());
        // CE0's start is read-only: the end is kept relative to a zero start.
        r.smc.write(REG_CE0_SEGMENT, 4, 0x03f0_0010);
        assert_eq!(r.smc.segment(0).unwrap().offset, 0);
        // Unused bits are not stored.
        r.smc.write(REG_CE0_SEGMENT + 8, 4, 0xffff_ffff);
        assert_eq!(r.smc.read(REG_CE0_SEGMENT + 8, 4), 0x0ff0_0ff0);
    }

    /// The SDK u-boot / Linux JEDEC id read: user mode, CE active, opcode, 3 bytes, stop.
    #[test]
    fn user_mode_jedec_id_through_the_window() {
        let mut r = fmc();
        r.smc.write(REG_CONF, 4, 0x2a | 1 << CONF_ENABLE_W0_SHIFT);
        let base = 0x0000_0600; // clock divider bits as the drivers leave them
        r.smc.write(
            REG_CE0_CTRL,
            4,
            (base | MODE_USER | CE_CTRL_STOP_ACTIVE) as u64,
        );
        assert!(!r.flash.borrow().is_selected());
        assert!(!r.smc.window_is_direct(0));
        r.smc.write(REG_CE0_CTRL, 4, (base | MODE_USER) as u64);
        assert!(r.flash.borrow().is_selected());
        r.smc.window_write(0, 1, 0x9f);
        let id: Vec<u64> = (0..3).map(|_| r.smc.window_read(0, 1)).collect();
        assert_eq!(id, vec![0xc2, 0x25, 0x3a]);
        r.smc.write(
            REG_CE0_CTRL,
            4,
            (base | MODE_USER | CE_CTRL_STOP_ACTIVE) as u64,
        );
        assert!(!r.flash.borrow().is_selected());
        r.smc.write(
            REG_CE0_CTRL,
            4,
            (base | MODE_READ | 0x0b << CE_CTRL_CMD_SHIFT) as u64,
        );
        assert!(r.smc.window_is_direct(0));
        // A multi-byte user-mode access: the opcode and address in one little-endian word.
        r.smc
            .write(REG_CE0_CTRL, 4, (MODE_USER | CE_CTRL_STOP_ACTIVE) as u64);
        r.smc.write(REG_CE0_CTRL, 4, MODE_USER as u64);
        r.smc
            .window_write(0, 4, u32::from_le_bytes([0x03, 0x00, 0x01, 0x02]) as u64);
        assert_eq!(r.smc.window_read(0, 4), 0x0101_0101 ^ 0x0504_0302);
    }

    #[test]
    fn window_writes_need_the_write_enable_bit() {
        let mut r = fmc();
        r.smc
            .write(REG_CE0_CTRL, 4, (MODE_USER | CE_CTRL_STOP_ACTIVE) as u64);
        r.smc.write(REG_CE0_CTRL, 4, MODE_USER as u64);
        r.smc.window_write(0, 1, 0x9f);
        assert_eq!(r.smc.window_read(0, 1), 0, "RDID was dropped");
    }

    #[test]
    fn read_mode_window_reads_and_direct_flag() {
        let mut r = fmc();
        assert!(r.smc.take_mapping_changed());
        assert!(!r.smc.take_mapping_changed());
        let g = r.smc.mapping_generation();
        assert_eq!(r.smc.window_read(0x102, 2), 0x0203);
        // Past the 1 MiB chip, CE0's 128 MiB segment wraps onto the chip.
        assert_eq!(r.smc.window_read(FLASH_SIZE as u64 + 0x102, 1), 0x03);
        r.smc
            .write(REG_CE0_CTRL, 4, (MODE_USER | CE_CTRL_STOP_ACTIVE) as u64);
        assert!(!r.smc.window_is_direct(0));
        assert!(r.smc.take_mapping_changed());
        assert_ne!(r.smc.mapping_generation(), g);
        // Rewriting the same mode changes nothing.
        r.smc
            .write(REG_CE0_CTRL, 4, (MODE_USER | CE_CTRL_STOP_ACTIVE) as u64);
        assert!(!r.smc.take_mapping_changed());
        r.smc.write(REG_CE0_CTRL, 4, MODE_NORMAL_READ as u64);
        assert!(r.smc.window_is_direct(0));
        assert!(r.smc.take_mapping_changed());
        // Closing the segment ends direct reads.
        r.smc.write(REG_CE0_SEGMENT, 4, 0);
        assert!(!r.smc.window_is_direct(0));
        assert_eq!(r.smc.window_read(0, 4), 0);
    }

    #[test]
    fn dma_copies_flash_to_memory_and_raises_the_irq() {
        let mut r = fmc();
        r.smc.write(REG_INTR_CTRL, 4, INTR_DMA_EN as u64);
        r.smc.write(REG_DMA_FLASH_ADDR, 4, 0x2000_0100); // absolute address: masked to 0x100
        r.smc.write(REG_DMA_DRAM_ADDR, 4, 0x8000_0040); // masked to DRAM offset 0x40
        r.smc.write(REG_DMA_LEN, 4, 0x0f); // 16 bytes
        r.smc.write(REG_DMA_CTRL, 4, DMA_CTRL_ENABLE as u64);
        let mut got = [0u8; 20];
        r.mem.read(DRAM + 0x40, &mut got).unwrap();
        let mut want = [0u8; 16];
        r.flash.borrow().read(0x100, &mut want);
        assert_eq!(&got[..16], &want);
        assert_eq!(&got[16..], &[0; 4]);
        let s = r.smc.state();
        assert_eq!(s.dma_len, 0);
        assert_eq!(s.dma_flash_addr, 0x110);
        assert_eq!(s.dma_dram_addr, 0x50);
        assert_ne!(s.intr_ctrl & INTR_DMA_STATUS, 0);
        assert!(r.rec.level(39));
        // Writing the status back as 1 keeps it; writing 0 clears it and lowers the line.
        r.smc
            .write(REG_INTR_CTRL, 4, (INTR_DMA_STATUS | INTR_DMA_EN) as u64);
        assert!(r.rec.level(39));
        r.smc.write(REG_INTR_CTRL, 4, INTR_DMA_EN as u64);
        assert!(!r.rec.level(39));
        assert_eq!(r.smc.read(REG_INTR_CTRL, 4), INTR_DMA_EN as u64);
        // Software cannot set the status.
        r.smc
            .write(REG_INTR_CTRL, 4, (INTR_DMA_STATUS | INTR_DMA_EN) as u64);
        assert!(!r.rec.level(39));
        assert_eq!(r.smc.read(REG_INTR_CTRL, 4), INTR_DMA_EN as u64);
    }

    #[test]
    fn dma_stop_clears_status_and_checksum() {
        let mut r = fmc();
        r.smc.write(REG_INTR_CTRL, 4, INTR_DMA_EN as u64);
        r.smc.write(REG_DMA_DRAM_ADDR, 4, 0);
        r.smc.write(REG_DMA_LEN, 4, 3);
        r.smc.write(REG_DMA_CTRL, 4, DMA_CTRL_ENABLE as u64);
        assert!(r.rec.level(39));
        assert_ne!(r.smc.read(REG_DMA_CHECKSUM, 4), 0);
        r.smc.write(REG_DMA_CTRL, 4, 0);
        assert!(!r.rec.level(39));
        assert_eq!(r.smc.read(REG_DMA_CHECKSUM, 4), 0);
        assert_eq!(r.smc.read(REG_INTR_CTRL, 4), INTR_DMA_EN as u64);
    }

    #[test]
    fn dma_to_a_bad_address_is_refused_without_panic() {
        let mut r = fmc();
        // DRAM offset 0x10000 is past the 64 KiB test memory.
        r.smc.write(REG_DMA_DRAM_ADDR, 4, 0xfff8);
        r.smc.write(REG_DMA_LEN, 4, 0xff);
        r.smc.write(REG_DMA_CTRL, 4, DMA_CTRL_ENABLE as u64);
        let s = r.smc.state();
        // The first two words landed, then the engine stopped at the fault and reported done.
        assert_eq!(s.dma_dram_addr, 0x1_0000);
        assert_eq!(s.dma_len, 0x100 - 8);
        assert_ne!(s.intr_ctrl & INTR_DMA_STATUS, 0);
        let mut got = [0u8; 8];
        r.mem.read(DRAM + 0xfff8, &mut got).unwrap();
        let mut want = [0u8; 8];
        r.flash.borrow().read(0, &mut want);
        assert_eq!(got, want);
        // A flash address beyond the window, and a huge DRAM offset: no panic either.
        r.smc.write(REG_DMA_CTRL, 4, 0);
        r.smc.write(REG_DMA_FLASH_ADDR, 4, 0x0fff_fffc);
        r.smc.write(REG_DMA_DRAM_ADDR, 4, 0xffff_ffff);
        r.smc.write(REG_DMA_LEN, 4, 0x01ff_ffff);
        r.smc
            .write(REG_DMA_CTRL, 4, (DMA_CTRL_ENABLE | DMA_CTRL_WRITE) as u64);
        r.smc.write(REG_DMA_CTRL, 4, 0);
        r.smc.write(REG_DMA_CTRL, 4, DMA_CTRL_ENABLE as u64);
        assert_ne!(r.smc.state().intr_ctrl & INTR_DMA_STATUS, 0);
    }

    /// The SDK u-boot's calibration: request the engine, checksum 0x400 (+1) bytes at the
    /// window start, read the checksum, stop, give the engine back.
    #[test]
    fn checksum_is_the_sum_of_flash_words() {
        let mut r = fmc();
        let checksum = |r: &mut Rig, timing: u32| {
            r.smc.write(REG_DMA_CTRL, 4, DMA_GET_REQ_MAGIC as u64);
            assert_ne!(r.smc.read(REG_DMA_CTRL, 4) as u32 & DMA_CTRL_GRANT, 0);
            r.smc.write(REG_DMA_FLASH_ADDR, 4, 0x2000_0000);
            r.smc.write(REG_DMA_LEN, 4, 0x400);
            let ctrl = DMA_CTRL_ENABLE | DMA_CTRL_CKSUM | DMA_CTRL_CALIB | timing;
            r.smc.write(REG_DMA_CTRL, 4, ctrl as u64);
            assert_ne!(r.smc.read(REG_INTR_CTRL, 4) as u32 & INTR_DMA_STATUS, 0);
            let sum = r.smc.read(REG_DMA_CHECKSUM, 4) as u32;
            r.smc.write(REG_INTR_CTRL, 4, 0);
            r.smc.write(REG_DMA_CTRL, 4, 0);
            r.smc.write(REG_DMA_CTRL, 4, DMA_DISCARD_REQ_MAGIC as u64);
            assert_eq!(r.smc.read(REG_DMA_CTRL, 4) as u32 & DMA_CTRL_GRANT, 0);
            sum
        };
        let mut bytes = vec![0u8; 0x404];
        r.flash.borrow().read(0, &mut bytes);
        let want = bytes
            .chunks(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .fold(0u32, |a, w| a.wrapping_add(w));
        let gold = checksum(&mut r, 0);
        assert_eq!(gold, want);
        // Every timing setting reads the same data, so calibration passes everywhere.
        assert_eq!(
            checksum(&mut r, (0xd << DMA_CTRL_FREQ_SHIFT) | (0x3 << 8)),
            gold
        );
        // The calibration programmed HCLK/5's delay into the timing register (QEMU).
        assert_eq!(r.smc.read(REG_CE0_TIMING, 4), 0x3 << 16);
    }

    #[test]
    fn spi_controllers_need_the_dma_grant() {
        let mem = Rc::new(VecMemory::new(DRAM, 0x1000));
        let mut spi = AspeedSmc::new(SmcConfig::ast2600_spi1(DRAM), IrqLine::disconnected(), mem);
        spi.write(REG_DMA_LEN, 4, 0x10);
        assert_eq!(spi.read(REG_DMA_LEN, 4), 0);
        spi.write(REG_DMA_CTRL, 4, DMA_GET_REQ_MAGIC as u64);
        spi.write(REG_DMA_LEN, 4, 0x10);
        assert_eq!(spi.read(REG_DMA_LEN, 4), 0x10);
    }

    #[test]
    fn write_mode_sends_command_address_and_data() {
        let mut r = fmc();
        r.smc
            .write(REG_CONF, 4, (0x2a | 1 << CONF_ENABLE_W0_SHIFT) as u64);
        // WREN in user mode, then a page program through write mode.
        r.smc
            .write(REG_CE0_CTRL, 4, (MODE_USER | CE_CTRL_STOP_ACTIVE) as u64);
        r.smc.write(REG_CE0_CTRL, 4, MODE_USER as u64);
        r.smc.window_write(0, 1, 0x06);
        r.smc
            .write(REG_CE0_CTRL, 4, (MODE_USER | CE_CTRL_STOP_ACTIVE) as u64);
        r.smc.write(
            REG_CE0_CTRL,
            4,
            (MODE_WRITE | 0x02 << CE_CTRL_CMD_SHIFT) as u64,
        );
        r.smc.window_write(0x8000, 4, 0x1234_5678);
        let mut b = [0u8; 4];
        r.flash.borrow().read(0x8000, &mut b);
        assert_eq!(u32::from_le_bytes(b), 0x1234_5678);
        assert_eq!(r.flash.borrow_mut().take_modified(), Some((0x8000, 0x8004)));
    }

    #[test]
    fn any_offset_and_width_is_accepted() {
        let mut r = fmc();
        for offset in [
            0u64,
            1,
            3,
            0x1c,
            0x40,
            0x98,
            0x9e,
            0xfc,
            0x1000,
            u64::MAX - 2,
        ] {
            for size in [1u8, 2, 4, 8] {
                r.smc.read(offset, size);
                r.smc.write(offset, size, u64::MAX);
                r.smc.window_read(offset, size);
                r.smc.window_write(offset, size, u64::MAX);
            }
        }
        // 8-byte access covers two registers.
        r.smc.write(REG_DMA_FLASH_ADDR, 8, 0x0000_0100_0000_0200);
        assert_eq!(r.smc.read(REG_DMA_FLASH_ADDR, 8), 0x0000_0100_0000_0200);
    }

    #[test]
    fn reset_releases_chip_selects_and_restores_state() {
        let mut r = fmc();
        r.flash.borrow_mut().select();
        r.flash.borrow_mut().transfer(spi_nor::OP_EN4B);
        r.flash.borrow_mut().deselect();
        r.smc.write(REG_CE0_CTRL, 4, MODE_USER as u64);
        assert!(r.flash.borrow().is_selected());
        let saved = r.smc.state();
        r.smc.reset();
        assert!(!r.flash.borrow().is_selected());
        assert!(!r.flash.borrow().four_byte_mode());
        assert_eq!(r.smc.state(), AspeedSmcState::reset_value(r.smc.config()));
        let restored = AspeedSmc::from_state(
            SmcConfig::ast2600_fmc(DRAM),
            IrqLine::disconnected(),
            r.mem.clone(),
            saved.clone(),
        );
        assert_eq!(restored.state(), saved);
    }

    #[test]
    fn window_device_shares_the_controller() {
        let r = fmc();
        let flash = r.flash.clone();
        let smc = Rc::new(RefCell::new(r.smc));
        let mut window = AspeedSmcWindow::new(smc.clone());
        let mut b = [0u8; 1];
        flash.borrow().read(0x42, &mut b);
        assert_eq!(window.read(0x42, 1), b[0] as u64);
        assert_eq!(
            smc.borrow().flash(0).map(|f| Rc::ptr_eq(f, &flash)),
            Some(true)
        );
    }
    // ---- AST2500 ----

    const MIB: u64 = 1 << 20;

    /// A 32 MiB MX25L25635E (the AST2500 EVB's boot flash) with a pattern in its first
    /// 128 KiB and a marker word at every 8 MiB.
    fn flash_2500() -> Rc<RefCell<SpiNor>> {
        let mem = Rc::new(MemoryBlock::new(32 << 20, 0xff));
        for i in 0..0x2_0000usize {
            mem.write(i, &[(i as u8) ^ (i >> 8) as u8 ^ (i >> 16) as u8]);
        }
        for n in 1..4usize {
            mem.write(n * (8 << 20), &[0xa0 + n as u8, 0x55, 0xaa, n as u8]);
        }
        Rc::new(RefCell::new(SpiNor::new(mem, FlashModel::MX25L25635E)))
    }

    fn rig_2500(config: SmcConfig) -> Rig {
        let rec = LevelRecorder::new();
        let mem = Rc::new(VecMemory::new(DRAM, 0x10000));
        let mut smc = AspeedSmc::new(config, rec.line(19), mem.clone());
        let flash = flash_2500();
        smc.attach_flash(0, flash.clone()).unwrap();
        Rig {
            smc,
            rec,
            mem,
            flash,
        }
    }

    fn seg_regs(smc: &mut AspeedSmc) -> Vec<u32> {
        (0..smc.config().num_cs as u64)
            .map(|cs| smc.read(REG_CE0_SEGMENT + 4 * cs, 4) as u32)
            .collect()
    }

    /// The sum of the little-endian words of the flash bytes `[offset, offset + len)`.
    fn flash_sum(flash: &Rc<RefCell<SpiNor>>, offset: u64, len: usize) -> u32 {
        let mut bytes = vec![0u8; len];
        flash.borrow().read(offset, &mut bytes);
        bytes
            .chunks(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .fold(0u32, |a, w| a.wrapping_add(w))
    }

    #[test]
    fn ast2500_reset_values_follow_qemu() {
        let mut r = rig_2500(SmcConfig::ast2500_fmc(DRAM));
        assert_eq!(r.smc.config().generation, SmcGeneration::Ast2500);
        assert_eq!(r.smc.state().generation, SmcGeneration::Ast2500);
        // CE0 and CE1 types SPI, CE2 0; no write enables.
        assert_eq!(r.smc.read(REG_CONF, 4), 0x0a);
        for cs in 0..3 {
            assert_eq!(
                r.smc.read(REG_CE0_CTRL + 4 * cs, 4),
                CE_CTRL_STOP_ACTIVE as u64
            );
        }
        assert_eq!(
            seg_regs(&mut r.smc),
            [0x5040_0000, 0x5450_0000, 0x5854_0000]
        );
        let segs: Vec<_> = (0..3).map(|cs| r.smc.segment(cs).unwrap()).collect();
        assert_eq!(
            segs,
            [
                Segment {
                    offset: 0,
                    size: 128 * MIB
                },
                Segment {
                    offset: 128 * MIB,
                    size: 32 * MIB
                },
                Segment {
                    offset: 160 * MIB,
                    size: 32 * MIB
                },
            ]
        );
        assert!(r.smc.window_is_direct(0));
        // One timing register; no 0x98, no WDT2 register, no DMA DRAM high register.
        r.smc.write(REG_CE0_TIMING, 4, 0x1234);
        assert_eq!(r.smc.read(REG_CE0_TIMING, 4), 0x1234);
        for reg in [REG_CE0_TIMING + 4, REG_WDT2_CTRL, REG_DMA_DRAM_HIGH] {
            r.smc.write(reg, 4, 0xffff_ffff);
            assert_eq!(r.smc.read(reg, 4), 0, "register {reg:#x}");
        }
        // Reading flash through the boot segment.
        let mut b = [0u8; 4];
        r.flash.borrow().read(0x123, &mut b);
        assert_eq!(r.smc.window_read(0x123, 4), u32::from_le_bytes(b) as u64);

        // SPI1 / SPI2: two CEs, 128 MiB windows, CE types 0.
        let mem: Rc<dyn GuestMemory> = r.mem.clone();
        for (config, regs, base) in [
            (
                SmcConfig::ast2500_spi1(DRAM),
                [0x6460_0000, 0x7064_0000],
                AST2500_SPI1_WINDOW_BASE,
            ),
            (
                SmcConfig::ast2500_spi2(DRAM),
                [0x7470_0000, 0x8074_0000],
                AST2500_SPI2_WINDOW_BASE,
            ),
        ] {
            assert_eq!(config.window_base, base);
            assert_eq!(config.window_size, 128 * MIB);
            let mut spi = AspeedSmc::new(config, IrqLine::disconnected(), mem.clone());
            assert_eq!(spi.read(REG_CONF, 4), 0);
            assert_eq!(seg_regs(&mut spi), regs);
            assert_eq!(spi.state().segment[2], 0);
            assert_eq!(
                spi.segment(1),
                Some(Segment {
                    offset: 32 * MIB,
                    size: 96 * MIB
                })
            );
            assert_eq!(spi.segment(2), None);
            assert!(spi.attach_flash(2, flash_2500()).is_err());
        }
    }

    #[test]
    fn ast2500_segment_encoding() {
        // QEMU's defaults and u-boot's / Linux's encodings of absolute ranges.
        assert_eq!(ast2500_range_to_reg(0x2000_0000, 0x2800_0000), 0x5040_0000);
        assert_eq!(ast2500_range_to_reg(0x2000_0000, 0x2200_0000), 0x4440_0000);
        assert_eq!(ast2500_range_to_reg(0x3000_0000, 0x3780_0000), 0x6f60_0000);
        assert_eq!(
            ast2500_reg_to_range(0x5854_0000),
            (0x2a00_0000, 0x2c00_0000)
        );
        assert_eq!(
            ast2500_reg_to_range(0x8074_0000),
            (0x3a00_0000, 0x4000_0000)
        );
        assert_eq!(ast2500_reg_to_range(0), (0, 0));
        for (start, end) in [
            (0x2000_0000u64, 0x3000_0000u64),
            (0x2a00_0000, 0x2a80_0000),
            (0x3800_0000, 0x4000_0000),
        ] {
            assert_eq!(
                ast2500_reg_to_range(ast2500_range_to_reg(start, end)),
                (start, end)
            );
        }
        let fmc = SmcConfig::ast2500_fmc(DRAM);
        let seg = Segment {
            offset: 32 * MIB,
            size: 8 * MIB,
        };
        assert_eq!(fmc.segment_to_reg(seg), 0x4544_0000);
        assert_eq!(fmc.reg_to_segment(0x4544_0000), seg);
        assert_eq!(fmc.segment_to_reg(Segment::default()), 0);
        assert_eq!(fmc.reg_to_segment(0), Segment::default());
        // start == end decodes nothing.
        assert_eq!(fmc.reg_to_segment(0x4040_0000).size, 0);
        // A range running past the window is clipped to it.
        let spi2 = SmcConfig::ast2500_spi2(DRAM);
        assert_eq!(
            spi2.reg_to_segment(ast2500_range_to_reg(0x3c00_0000, 0x4400_0000)),
            Segment {
                offset: 64 * MIB,
                size: 64 * MIB
            }
        );
        // The AST2600 encoding is untouched.
        let fmc6 = SmcConfig::ast2600_fmc(DRAM);
        assert_eq!(fmc6.generation, SmcGeneration::Ast2600);
        assert_eq!(fmc6.segment_to_reg(seg), segment_to_reg(seg));
        assert_eq!(
            fmc6.reg_to_segment(0x05f0_0400),
            reg_to_segment(0x05f0_0400)
        );
    }

    /// Linux 6.1 `aspeed_spi_chip_adjust_window` for a 32 MiB chip on FMC CE0: read the
    /// windows back from the segment registers, write CE0's, check the read back, then move
    /// CE1's start to CE0's end keeping its end; the flashes are then read at the new places.
    #[test]
    fn linux_ast2500_fmc_window_programming() {
        let mut r = rig_2500(SmcConfig::ast2500_fmc(DRAM));
        let ce1 = flash_2500();
        r.smc.attach_flash(1, ce1.clone()).unwrap();
        let base = AST2500_FMC_WINDOW_BASE;
        // aspeed_spi_get_windows: (offset, size) of each CE from its register.
        let windows = |smc: &mut AspeedSmc| -> Vec<(u64, u64)> {
            seg_regs(smc)
                .into_iter()
                .map(|reg| {
                    let (start, end) = ast2500_reg_to_range(reg);
                    (start - base, end - start)
                })
                .collect()
        };
        assert_eq!(
            windows(&mut r.smc),
            [(0, 128 * MIB), (128 * MIB, 32 * MIB), (160 * MIB, 32 * MIB)]
        );
        // Linux sets the CE type and write enable of each chip it sets up.
        let conf = r.smc.read(REG_CONF, 4) as u32;
        let conf = (conf & !(CONF_FLASH_TYPE_MASK << 2)) | CONF_FLASH_TYPE_SPI << 2;
        let conf = conf | 0x3 << CONF_ENABLE_W0_SHIFT;
        r.smc.write(REG_CONF, 4, conf as u64);
        assert_eq!(r.smc.read(REG_CONF, 4), 0x0003_000a);
        // Before the change CE1's chip is at 128 MiB in the window.
        r.smc.write(REG_CE0_CTRL + 4, 4, MODE_READ as u64);
        assert_eq!(r.smc.window_read(128 * MIB + 8 * MIB, 1), 0xa1);

        r.smc.take_mapping_changed();
        let size = 32 * MIB;
        let ce0 = ast2500_range_to_reg(base, base + size);
        r.smc.write(REG_CE0_SEGMENT, 4, ce0 as u64);
        assert_eq!(r.smc.read(REG_CE0_SEGMENT, 4) as u32, ce0, "read back");
        let (next_off, next_size) = windows(&mut r.smc)[1];
        let end = next_off + next_size;
        let ce1_reg = ast2500_range_to_reg(base + size, base + end);
        assert_eq!(ce1_reg, 0x5444_0000);
        r.smc.write(REG_CE0_SEGMENT + 4, 4, ce1_reg as u64);
        assert_eq!(r.smc.read(REG_CE0_SEGMENT + 4, 4) as u32, ce1_reg);
        assert!(r.smc.take_mapping_changed());
        assert_eq!(
            r.smc.segment(1),
            Some(Segment {
                offset: 32 * MIB,
                size: 128 * MIB
            })
        );
        // CE0's window ends at 32 MiB now; CE1's chip starts there.
        assert_eq!(r.smc.window_read(32 * MIB + 8 * MIB, 1), 0xa1);
        assert_eq!(r.smc.window_read(32 * MIB + 0x1234, 1), {
            let mut b = [0u8];
            ce1.borrow().read(0x1234, &mut b);
            b[0] as u64
        });
        // The old place of CE1 (128 MiB) is inside CE1's window still, 96 MiB in: it wraps
        // onto the 32 MiB chip.
        assert_eq!(r.smc.window_read(128 * MIB + 8 * MIB, 1), 0xa1);
        // CE0 in read mode: direct; its chip's 8 MiB marker through the window.
        r.smc.write(
            REG_CE0_CTRL,
            4,
            (MODE_READ | 0x0b << CE_CTRL_CMD_SHIFT | 1 << CE_CTRL_DUMMY_LOW_SHIFT) as u64,
        );
        assert!(r.smc.window_is_direct(0));
        assert_eq!(
            r.smc.window_read(8 * MIB, 4),
            u64::from(u32::from_le_bytes([0xa1, 0x55, 0xaa, 0x01]))
        );

        // A JEDEC id read on CE1 in user mode at its new window start (Linux read_reg).
        r.smc.write(
            REG_CE0_CTRL + 4,
            4,
            (MODE_USER | CE_CTRL_STOP_ACTIVE) as u64,
        );
        r.smc.write(REG_CE0_CTRL + 4, 4, MODE_USER as u64);
        r.smc.window_write(32 * MIB, 1, 0x9f);
        let id = r.smc.window_read(32 * MIB, 4) as u32;
        assert_eq!(id.to_le_bytes()[..3], [0xc2, 0x20, 0x19]);
        r.smc.write(
            REG_CE0_CTRL + 4,
            4,
            (MODE_USER | CE_CTRL_STOP_ACTIVE) as u64,
        );
        assert!(!ce1.borrow().is_selected());
    }

    /// Linux 6.1's AST2500 SPI quirk: a 128 MiB chip on CE0 gets a 120 MiB window, CE1 the
    /// last 8 MiB.
    #[test]
    fn linux_ast2500_spi_ce0_window_quirk() {
        let mut r = rig_2500(SmcConfig::ast2500_spi1(DRAM));
        let base = AST2500_SPI1_WINDOW_BASE;
        let ce0 = ast2500_range_to_reg(base, base + 120 * MIB);
        assert_eq!(ce0, 0x6f60_0000);
        r.smc.write(REG_CE0_SEGMENT, 4, ce0 as u64);
        assert_eq!(r.smc.read(REG_CE0_SEGMENT, 4) as u32, ce0);
        // CE1 kept its end (0x38000000): 8 MiB after CE0.
        let ce1 = ast2500_range_to_reg(base + 120 * MIB, base + 128 * MIB);
        assert_eq!(ce1, 0x706f_0000);
        r.smc.write(REG_CE0_SEGMENT + 4, 4, ce1 as u64);
        assert_eq!(r.smc.read(REG_CE0_SEGMENT + 4, 4) as u32, ce1);
        assert_eq!(
            r.smc.segment(0),
            Some(Segment {
                offset: 0,
                size: 120 * MIB
            })
        );
        assert_eq!(
            r.smc.segment(1),
            Some(Segment {
                offset: 120 * MIB,
                size: 8 * MIB
            })
        );
        // Reads past 120 MiB are CE1's (no chip there): zero.
        assert_eq!(r.smc.window_read(120 * MIB, 4), 0);
        assert_eq!(r.smc.window_read(8 * MIB, 1), 0xa1);
    }

    /// u-boot 2023.01 `aspeed_spi_ctrl_init` / `aspeed_spi_dirmap_create` on the AST2500 FMC
    /// (`num-cs = <3>`, one 32 MiB chip on CE0): write enables for every CE, decoded sizes read
    /// back from the segment registers (at least 8 MiB), contiguous windows rewritten, then
    /// CE0 resized to the chip and read through its window in command read mode.
    #[test]
    fn uboot_ast2500_ctrl_init_and_dirmap() {
        let mut r = rig_2500(SmcConfig::ast2500_fmc(DRAM));
        let base = AST2500_FMC_WINDOW_BASE;
        let min = AST2500_SEGMENT_UNIT;
        // The driver's segment start / end: register fields as offsets from the AHB base.
        let size_of = |reg: u32| {
            let start = u64::from((reg >> 16) & 0xff) << 23;
            let end = u64::from((reg >> 24) & 0xff) << 23;
            let start = if start == 0 { base } else { base + start };
            let end = if end == 0 { base } else { base + end };
            end.saturating_sub(start).max(min)
        };
        let program = |smc: &mut AspeedSmc, sizes: &[u64]| {
            let mut start = base;
            for (cs, &size) in sizes.iter().enumerate() {
                let reg = if size == 0 {
                    0
                } else {
                    ast2500_range_to_reg(start, start + size)
                };
                smc.write(REG_CE0_SEGMENT + 4 * cs as u64, 4, reg as u64);
                start += size;
            }
        };
        let max_cs = r.smc.config().num_cs;
        let conf = r.smc.read(REG_CONF, 4);
        r.smc.write(
            REG_CONF,
            4,
            conf | ((1 << max_cs) - 1) << CONF_ENABLE_W0_SHIFT,
        );
        assert_eq!(r.smc.read(REG_CONF, 4), 0x0007_000a);
        let mut sizes: Vec<u64> = seg_regs(&mut r.smc).into_iter().map(size_of).collect();
        assert_eq!(sizes, [128 * MIB, 32 * MIB, 32 * MIB]);
        // Unused CEs (here CE1, CE2) get the minimum.
        for size in sizes.iter_mut().skip(1) {
            *size = min;
        }
        program(&mut r.smc, &sizes);
        assert_eq!(
            seg_regs(&mut r.smc),
            [0x5040_0000, 0x5150_0000, 0x5251_0000]
        );

        // JEDEC id in user mode (ce_ctrl_user = user | stop active, then active).
        let user = 0x0000_0600 | MODE_USER;
        r.smc
            .write(REG_CE0_CTRL, 4, (user | CE_CTRL_STOP_ACTIVE) as u64);
        r.smc.write(REG_CE0_CTRL, 4, user as u64);
        r.smc.window_write(0, 1, 0x9f);
        let id = r.smc.window_read(0, 4) as u32;
        assert_eq!(id.to_le_bytes()[..3], [0xc2, 0x20, 0x19]);
        r.smc
            .write(REG_CE0_CTRL, 4, (user | CE_CTRL_STOP_ACTIVE) as u64);
        // EN4B through user mode, and the controller's 4-byte bit for CE0.
        r.smc.write(REG_CE0_CTRL, 4, user as u64);
        r.smc.window_write(0, 1, u64::from(spi_nor::OP_EN4B));
        r.smc
            .write(REG_CE0_CTRL, 4, (user | CE_CTRL_STOP_ACTIVE) as u64);
        let ctrl = r.smc.read(REG_CE_CTRL, 4);
        r.smc
            .write(REG_CE_CTRL, 4, ctrl | u64::from(CE_CTRL_EXTENDED0));
        assert!(r.flash.borrow().four_byte_mode());

        // dirmap_create: CE0 decodes the chip, the others keep their sizes.
        sizes[0] = 32 * MIB;
        r.smc.take_mapping_changed();
        program(&mut r.smc, &sizes);
        assert!(r.smc.take_mapping_changed());
        assert_eq!(
            seg_regs(&mut r.smc),
            [0x4440_0000, 0x4544_0000, 0x4645_0000]
        );
        assert_eq!(
            r.smc.segment(2),
            Some(Segment {
                offset: 40 * MIB,
                size: 8 * MIB
            })
        );
        // Command read mode with the u-boot HCLK/4 clock bit and fast read.
        let read = AST2500_CE_CTRL_CLK_DIV4
            | 0x0b << CE_CTRL_CMD_SHIFT
            | 1 << CE_CTRL_DUMMY_LOW_SHIFT
            | MODE_READ;
        r.smc.write(REG_CE0_CTRL, 4, read as u64);
        assert!(r.smc.window_is_direct(0));
        let mut want = [0u8; 8];
        r.flash.borrow().read(0x10000, &mut want);
        let got: Vec<u8> = (0..2)
            .flat_map(|i| (r.smc.window_read(0x10000 + 4 * i, 4) as u32).to_le_bytes())
            .collect();
        assert_eq!(got, want);
        assert_eq!(r.smc.window_read(24 * MIB, 1), 0xa3);
        // Past CE0's 32 MiB is CE1 (no chip).
        assert_eq!(r.smc.window_read(32 * MIB, 4), 0);
    }

    #[test]
    fn ast2500_segment_writes_are_checked_as_qemu() {
        let mut r = rig_2500(SmcConfig::ast2500_fmc(DRAM));
        // CE0's start is read-only: forced to the window base, the size kept.
        r.smc.write(REG_CE0_SEGMENT, 4, 0x4800_0000); // [0, 0x24000000): 576 MiB
        assert_eq!(r.smc.read(REG_CE0_SEGMENT, 4), 0x8840_0000);
        assert_eq!(r.smc.segment(0).unwrap().offset, 0);
        assert_eq!(r.smc.segment(0).unwrap().size, 256 * MIB, "clipped");
        // A segment wholly outside the window is refused.
        r.smc.write(REG_CE0_SEGMENT + 4, 4, 0x0800_0000); // [0, 0x04000000)
        assert_eq!(r.smc.read(REG_CE0_SEGMENT + 4, 4), 0x5450_0000);
        r.smc.write(REG_CE0_SEGMENT + 4, 4, 0x6860_0000); // [0x30000000, 0x34000000)
        assert_eq!(r.smc.read(REG_CE0_SEGMENT + 4, 4), 0x5450_0000);
        // Low bits are not stored; start == end and zero close the segment.
        r.smc.write(REG_CE0_SEGMENT + 4, 4, 0x5450_ffff);
        assert_eq!(r.smc.read(REG_CE0_SEGMENT + 4, 4), 0x5450_0000);
        r.smc.write(REG_CE0_SEGMENT + 8, 4, 0x5454_0000);
        assert_eq!(r.smc.read(REG_CE0_SEGMENT + 8, 4), 0x5454_0000);
        assert_eq!(r.smc.segment(2), None);
        r.smc.write(REG_CE0_SEGMENT + 4, 4, 0);
        assert_eq!(r.smc.read(REG_CE0_SEGMENT + 4, 4), 0);
        assert_eq!(r.smc.segment(1), None);
        // An inverted one is stored and closed.
        r.smc.write(REG_CE0_SEGMENT + 4, 4, 0x5058_0000);
        assert_eq!(r.smc.read(REG_CE0_SEGMENT + 4, 4), 0x5058_0000);
        assert_eq!(r.smc.segment(1), None);
        // Closing CE0 (start == end at the base) ends direct reads.
        r.smc.write(REG_CE0_SEGMENT, 4, 0);
        assert_eq!(r.smc.read(REG_CE0_SEGMENT, 4), 0x4040_0000);
        assert!(!r.smc.window_is_direct(0));
        assert_eq!(r.smc.window_read(0, 4), 0);
    }

    /// The SDK / pre-2022 mainline u-boot AST2500 read timing calibration
    /// (`aspeed_spi_fmc_checksum`): no DMA grant, flash address CE0 + 64 KiB (absolute), 0x400
    /// length, checksum + calibration mode with HCLK mask and delay in bits 11:4, poll the DMA
    /// status, clear the interrupt register, read the checksum, stop.
    #[test]
    fn ast2500_dma_checksum_as_uboot_calibration_uses_it() {
        let mut r = rig_2500(SmcConfig::ast2500_fmc(DRAM));
        let checksum = |r: &mut Rig, div: u32, delay: u32| {
            r.smc
                .write(REG_DMA_FLASH_ADDR, 4, AST2500_FMC_WINDOW_BASE + 0x10000);
            r.smc.write(REG_DMA_LEN, 4, 0x400);
            let ctrl = DMA_CTRL_ENABLE
                | DMA_CTRL_CKSUM
                | DMA_CTRL_CALIB
                | (delay & 0xf) << DMA_CTRL_DELAY_SHIFT
                | (div & 0xf) << DMA_CTRL_FREQ_SHIFT;
            r.smc.write(REG_DMA_CTRL, 4, ctrl as u64);
            let mut polls = 0;
            while r.smc.read(REG_INTR_CTRL, 4) as u32 & INTR_DMA_STATUS == 0 {
                polls += 1;
                assert!(polls < 10, "DMA never completes");
            }
            r.smc.write(REG_INTR_CTRL, 4, 0);
            let sum = r.smc.read(REG_DMA_CHECKSUM, 4) as u32;
            r.smc.write(REG_DMA_CTRL, 4, 0);
            assert_eq!(
                r.smc.read(REG_DMA_CHECKSUM, 4),
                0,
                "stop clears the checksum"
            );
            sum
        };
        // The driver reads the timing register first and calibrates only when it is 0.
        assert_eq!(r.smc.read(REG_CE0_TIMING, 4), 0);
        let gold = checksum(&mut r, 0, 0);
        // LEN + 4 bytes from flash offset 0x10000 (the window address masked).
        assert_eq!(gold, flash_sum(&r.flash, 0x10000, 0x404));
        assert_ne!(gold, flash_sum(&r.flash, 0x10000, 0x400));
        // HCLK/5 .. HCLK/1, HCLK cycles 0..=5 with and without the 4 ns DI delay.
        let masks = [13u32, 6, 14, 7, 15];
        let mut timing = 0u32;
        for (i, &mask) in masks.iter().enumerate() {
            let hdiv = 5 - i as u32;
            for hcycle in 0..=5 {
                if checksum(&mut r, mask, 0x8 | hcycle) != gold {
                    continue;
                }
                // QEMU programs the delay of the HCLK divisor under test.
                assert_eq!(
                    (r.smc.read(REG_CE0_TIMING, 4) as u32 >> ((hdiv - 1) * 4)) & 0xf,
                    0x8 | hcycle
                );
                if checksum(&mut r, mask, hcycle) == gold {
                    timing = (timing & !(0xf << ((hdiv - 1) * 4))) | hcycle << ((hdiv - 1) * 4);
                    break;
                }
            }
        }
        r.smc.write(REG_CE0_TIMING, 4, timing as u64);
        assert_eq!(
            r.smc.read(REG_CE0_TIMING, 4),
            0,
            "every setting passes at once"
        );
        assert!(!r.rec.level(19), "the DMA interrupt was never enabled");
    }

    #[test]
    fn ast2500_dma_copy_moves_len_plus_4_and_raises_the_irq() {
        let mut r = rig_2500(SmcConfig::ast2500_fmc(DRAM));
        // The request / grant magic words are plain control values here (no grant bit).
        r.smc.write(REG_DMA_CTRL, 4, DMA_GET_REQ_MAGIC as u64);
        assert_eq!(r.smc.read(REG_DMA_CTRL, 4) as u32 & DMA_CTRL_GRANT, 0);
        r.smc.write(REG_DMA_CTRL, 4, 0);
        r.smc.write(REG_INTR_CTRL, 4, INTR_DMA_EN as u64);
        r.smc.write(REG_DMA_FLASH_ADDR, 4, 0x2000_0100);
        r.smc.write(REG_DMA_DRAM_ADDR, 4, 0x8000_0040);
        r.smc.write(REG_DMA_LEN, 4, 0x0f);
        assert_eq!(r.smc.read(REG_DMA_LEN, 4), 0x0c, "bits 1:0 are not stored");
        r.smc.write(REG_DMA_CTRL, 4, DMA_CTRL_ENABLE as u64);
        let mut got = [0u8; 20];
        r.mem.read(DRAM + 0x40, &mut got).unwrap();
        let mut want = [0u8; 16];
        r.flash.borrow().read(0x100, &mut want);
        assert_eq!(&got[..16], &want);
        assert_eq!(&got[16..], &[0; 4]);
        let s = r.smc.state();
        assert_eq!(
            (s.dma_len, s.dma_flash_addr, s.dma_dram_addr),
            (0, 0x110, 0x50)
        );
        assert!(r.rec.level(19));
        r.smc.write(REG_DMA_CTRL, 4, 0);
        assert!(!r.rec.level(19));
        // Zero length moves one word.
        r.smc.write(REG_DMA_DRAM_ADDR, 4, 0x100);
        r.smc.write(REG_DMA_LEN, 4, 0);
        r.smc.write(REG_DMA_CTRL, 4, DMA_CTRL_ENABLE as u64);
        assert_eq!(r.smc.state().dma_dram_addr, 0x104);
    }

    #[test]
    fn ast2500_spi_controllers_have_no_dma() {
        let mut r = rig_2500(SmcConfig::ast2500_spi1(DRAM));
        assert!(!r.smc.config().has_dma);
        r.smc.write(REG_INTR_CTRL, 4, INTR_DMA_EN as u64);
        for reg in [REG_DMA_FLASH_ADDR, REG_DMA_DRAM_ADDR, REG_DMA_LEN] {
            r.smc.write(reg, 4, 0x10);
            assert_eq!(r.smc.read(reg, 4), 0);
        }
        r.smc.write(REG_DMA_CTRL, 4, DMA_CTRL_ENABLE as u64);
        assert_eq!(r.smc.read(REG_DMA_CTRL, 4), 0);
        assert_eq!(r.smc.read(REG_INTR_CTRL, 4), INTR_DMA_EN as u64);
        assert!(!r.smc.irq_level());
        let mut b = [0xaau8; 4];
        r.mem.read(DRAM, &mut b).unwrap();
        assert_eq!(b, [0; 4], "nothing was copied");
    }

    #[test]
    fn ast2500_state_round_trip_keeps_the_generation() {
        let mut r = rig_2500(SmcConfig::ast2500_fmc(DRAM));
        r.smc.write(REG_CE0_SEGMENT, 4, 0x4440_0000);
        r.smc.write(REG_CE0_TIMING, 4, 0x44);
        let saved = r.smc.state();
        assert_eq!(saved.generation, SmcGeneration::Ast2500);
        let restored = AspeedSmc::from_state(
            SmcConfig::ast2500_fmc(DRAM),
            IrqLine::disconnected(),
            r.mem.clone(),
            saved.clone(),
        );
        assert_eq!(restored.state(), saved);
        assert_eq!(
            restored.segment(0),
            Some(Segment {
                offset: 0,
                size: 32 * MIB
            })
        );
        // AST2500 registers handed to an AST2600 controller are refused: it starts from reset.
        let other = AspeedSmc::from_state(
            SmcConfig::ast2600_fmc(DRAM),
            IrqLine::disconnected(),
            r.mem.clone(),
            saved,
        );
        assert_eq!(
            other.state(),
            AspeedSmcState::reset_value(&SmcConfig::ast2600_fmc(DRAM))
        );
        assert_eq!(other.state().generation, SmcGeneration::Ast2600);
        // Reset restores QEMU's defaults.
        r.smc.reset();
        assert_eq!(
            seg_regs(&mut r.smc),
            [0x5040_0000, 0x5450_0000, 0x5854_0000]
        );
        assert_eq!(r.smc.read(REG_CE0_TIMING, 4), 0);
    }

    // ---- snapshots ----

    /// Every register of the block as the driver reads it.
    fn registers(smc: &mut AspeedSmc) -> Vec<u64> {
        (0..0xa0).step_by(4).map(|r| smc.read(r, 4)).collect()
    }

    /// A rig like [`fmc`] whose flash has a copy of `r`'s flash contents and state: what the
    /// SoC restores next to the controller.
    fn fmc_with_flash_of(r: &Rig) -> Rig {
        let t = fmc();
        let mut bytes = vec![0u8; FLASH_SIZE];
        r.flash.borrow().read(0, &mut bytes);
        t.flash.borrow().memory().write(0, &bytes);
        let flash_state = r.flash.borrow().save_state();
        t.flash.borrow_mut().load_state(&flash_state).unwrap();
        t
    }

    /// An FMC as drivers leave it mid-work: CE1's segment moved, timing and 4-byte bits set,
    /// a DMA done with its interrupt pending (the line high), and CE0 in user mode halfway
    /// through a JEDEC id read.
    fn busy_fmc() -> Rig {
        let mut r = fmc();
        r.smc.write(REG_CONF, 4, 0x2a | 1 << CONF_ENABLE_W0_SHIFT);
        r.smc.write(REG_CE_CTRL, 4, 0x1);
        r.smc.write(REG_CE0_SEGMENT + 4, 4, 0x05f0_0400);
        r.smc.write(REG_CE0_TIMING, 4, 0x0004_4000);
        r.smc.write(REG_INTR_CTRL, 4, INTR_DMA_EN as u64);
        r.smc.write(REG_DMA_FLASH_ADDR, 4, 0x100);
        r.smc.write(REG_DMA_DRAM_ADDR, 4, 0x40);
        r.smc.write(REG_DMA_LEN, 4, 0x0f);
        r.smc.write(REG_DMA_CTRL, 4, DMA_CTRL_ENABLE as u64);
        r.smc
            .write(REG_CE0_CTRL, 4, (MODE_USER | CE_CTRL_STOP_ACTIVE) as u64);
        r.smc.write(REG_CE0_CTRL, 4, MODE_USER as u64);
        r.smc.window_write(0, 1, 0x9f);
        assert_eq!(r.smc.window_read(0, 1), 0xc2);
        assert!(r.rec.level(39));
        r
    }

    #[test]
    fn a_restored_controller_continues_the_command_and_keeps_its_interrupt() {
        let mut r = busy_fmc();
        let saved = r.smc.save_state().expect("a controller saves its state");
        assert_eq!(
            (saved.kind.as_str(), saved.version),
            (STATE_KIND, STATE_VERSION)
        );
        let mut t = fmc_with_flash_of(&r);
        t.smc.take_mapping_changed();
        let generation = t.smc.mapping_generation();
        t.smc.load_state(&saved).unwrap();
        assert!(t.rec.level(39), "the pending DMA interrupt raises the line");
        assert!(t.smc.irq_level());
        assert!(t.smc.take_mapping_changed(), "the SoC remaps the window");
        assert_ne!(t.smc.mapping_generation(), generation);
        assert_eq!(registers(&mut t.smc), registers(&mut r.smc));
        assert_eq!(t.smc.segment(1), r.smc.segment(1));
        assert_eq!(t.smc.window_is_direct(0), r.smc.window_is_direct(0));
        assert_eq!(t.smc.save_state(), Some(saved));
        assert!(t.flash.borrow().is_selected(), "the flash's own state");
        // Both go on with the id read, then release the chip select and the interrupt.
        for rig in [&mut r, &mut t] {
            let id: Vec<u64> = (0..2).map(|_| rig.smc.window_read(0, 1)).collect();
            assert_eq!(id, [0x25, 0x3a]);
            rig.smc
                .write(REG_CE0_CTRL, 4, (MODE_USER | CE_CTRL_STOP_ACTIVE) as u64);
            assert!(!rig.flash.borrow().is_selected());
            rig.smc.write(REG_INTR_CTRL, 4, INTR_DMA_EN as u64);
            assert!(!rig.rec.level(39));
        }
        assert_eq!(registers(&mut t.smc), registers(&mut r.smc));
        // Another DMA (from CE0, now deselected in user mode) behaves alike too.
        for rig in [&mut r, &mut t] {
            rig.smc.write(REG_DMA_CTRL, 4, 0);
            rig.smc.write(REG_DMA_CTRL, 4, DMA_CTRL_ENABLE as u64);
            assert!(rig.rec.level(39));
        }
        assert_eq!(registers(&mut t.smc), registers(&mut r.smc));
    }

    #[test]
    fn a_controller_refuses_a_state_of_another_kind_version_or_controller() {
        let r = busy_fmc();
        let saved = r.smc.save_state().unwrap();
        let mut t = fmc();
        t.smc.write(REG_CE0_TIMING, 4, 0x1234);
        let before = t.smc.state();
        let changes = t.rec.changes();
        let wrong_kind = DeviceState {
            kind: WINDOW_STATE_KIND.into(),
            ..saved.clone()
        };
        let wrong_version = DeviceState {
            version: STATE_VERSION + 1,
            ..saved.clone()
        };
        for bad in [&wrong_kind, &wrong_version] {
            assert!(t.smc.load_state(bad).is_err());
        }
        assert_eq!(t.smc.state(), before, "left unchanged");
        assert_eq!(t.rec.changes(), changes, "the line is not touched");
        // Another generation's registers decode differently.
        let mut g = rig_2500(SmcConfig::ast2500_fmc(DRAM));
        let err = g.smc.load_state(&saved).unwrap_err();
        assert!(
            err.0.contains("Ast2600") && err.0.contains("Ast2500"),
            "{err}"
        );
        // SPI1 has two chip selects: the FMC's CE2 is not its own.
        let mut spi1 = AspeedSmc::new(
            SmcConfig::ast2600_spi1(DRAM),
            IrqLine::disconnected(),
            r.mem.clone(),
        );
        let err = spi1.load_state(&saved).unwrap_err();
        assert!(err.0.contains("2 chip selects"), "{err}");
        assert_eq!(
            spi1.state(),
            AspeedSmcState::reset_value(&SmcConfig::ast2600_spi1(DRAM))
        );
        // A state with nothing asserted loads over a busy controller and drops its interrupt,
        // without touching the flash's chip select.
        let mut b = busy_fmc();
        let idle = fmc().smc.save_state().unwrap();
        b.smc.load_state(&idle).unwrap();
        assert!(!b.rec.level(39));
        assert!(
            b.flash.borrow().is_selected(),
            "the flash restores its own state"
        );
    }

    #[test]
    fn the_window_is_stateless() {
        let r = fmc();
        let smc = Rc::new(RefCell::new(r.smc));
        let mut window = AspeedSmcWindow::new(smc.clone());
        let saved = window.save_state().expect("the window has a state");
        assert_eq!(saved, DeviceState::stateless(WINDOW_STATE_KIND));
        window.load_state(&saved).unwrap();
        let controller = smc.borrow().save_state().unwrap();
        assert!(
            window.load_state(&controller).is_err(),
            "not a controller's"
        );
        assert!(window
            .load_state(&DeviceState::stateless("aspeed-smc-other"))
            .is_err());
        assert_eq!(smc.borrow().save_state(), Some(controller));
    }
}
