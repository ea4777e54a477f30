//! A SPI NOR flash chip: the command set Linux `spi-nor` and u-boot `spi-nor-core` use on
//! the Macronix mx66u51235f / mx25u51245g and the Winbond w25q512jv.
//!
//! The chip owns its bytes in an `Rc<MemoryBlock>` so the SoC can map them straight into the
//! guest for direct (memory-mapped) reads; commands reach it through the chip-select interface
//! [`SpiNor::select`], [`SpiNor::transfer`] and [`SpiNor::deselect`]. A command ends at deselect.
//!
//! Program and erase complete instantly: the write-in-progress bit never reads as set.
//! Block protection bits are stored but do not protect anything.
//! SFDP (0x5A) answers 0xFF bytes, i.e. no valid `SFDP` signature: Linux and u-boot then fall back
//! to their ID tables, which is what they do on QEMU's model of these parts.
#![deny(missing_docs)]

use std::fmt;
use std::rc::Rc;

use bus::{DeviceState, MemoryBlock, StateError};
use serde::{Deserialize, Serialize};

/// The kind of a flash chip's saved state ([`DeviceState::kind`]), every model's.
pub const STATE_KIND: &str = "spi-nor";
/// The format version of a flash chip's saved state: the model's name and its
/// [`SpiNorState`] as this build serialises them.
pub const STATE_VERSION: u32 = 1;

/// Write status register 1 (Linux `SPINOR_OP_WRSR`).
pub const OP_WRSR: u8 = 0x01;
/// Page program, 3/4-byte address per mode (`SPINOR_OP_PP`).
pub const OP_PP: u8 = 0x02;
/// Read data, 3/4-byte address per mode (`SPINOR_OP_READ`).
pub const OP_READ: u8 = 0x03;
/// Write disable (`SPINOR_OP_WRDI`).
pub const OP_WRDI: u8 = 0x04;
/// Read status register 1 (`SPINOR_OP_RDSR`).
pub const OP_RDSR: u8 = 0x05;
/// Write enable (`SPINOR_OP_WREN`).
pub const OP_WREN: u8 = 0x06;
/// Fast read, one dummy byte (`SPINOR_OP_READ_FAST`).
pub const OP_FAST_READ: u8 = 0x0b;
/// Fast read with a 4-byte address (`SPINOR_OP_READ_FAST_4B`).
pub const OP_FAST_READ_4B: u8 = 0x0c;
/// Write status register 3 (Winbond `SPINOR_OP_WRSR3`).
pub const OP_WRSR3: u8 = 0x11;
/// Page program with a 4-byte address (`SPINOR_OP_PP_4B`).
pub const OP_PP_4B: u8 = 0x12;
/// Read data with a 4-byte address (`SPINOR_OP_READ_4B`).
pub const OP_READ_4B: u8 = 0x13;
/// Read configuration register (Macronix, `SPINOR_OP_RDCR`) / status register 3 (Winbond).
pub const OP_RDCR: u8 = 0x15;
/// Erase a 4 KiB sector (`SPINOR_OP_BE_4K`).
pub const OP_SE_4K: u8 = 0x20;
/// Erase a 4 KiB sector, 4-byte address (`SPINOR_OP_BE_4K_4B`).
pub const OP_SE_4K_4B: u8 = 0x21;
/// Write status register 2 (Winbond `SPINOR_OP_WRSR2`).
pub const OP_WRSR2: u8 = 0x31;
/// Quad input page program (`SPINOR_OP_PP_1_1_4`).
pub const OP_PP_1_1_4: u8 = 0x32;
/// Quad input page program, 4-byte address (`SPINOR_OP_PP_1_1_4_4B`).
pub const OP_PP_1_1_4_4B: u8 = 0x34;
/// Read status register 2 (`SPINOR_OP_RDSR2`).
pub const OP_RDSR2: u8 = 0x35;
/// Quad I/O page program (Macronix 4PP, `SPINOR_OP_PP_1_4_4`).
pub const OP_PP_1_4_4: u8 = 0x38;
/// Dual output read, one dummy byte (`SPINOR_OP_READ_1_1_2`).
pub const OP_READ_1_1_2: u8 = 0x3b;
/// Dual output read, 4-byte address (`SPINOR_OP_READ_1_1_2_4B`).
pub const OP_READ_1_1_2_4B: u8 = 0x3c;
/// Quad I/O page program, 4-byte address (`SPINOR_OP_PP_1_4_4_4B`).
pub const OP_PP_1_4_4_4B: u8 = 0x3e;
/// Volatile status register write enable (Winbond).
pub const OP_VSR_WREN: u8 = 0x50;
/// Erase a 32 KiB block (`SPINOR_OP_BE_32K`).
pub const OP_BE_32K: u8 = 0x52;
/// Erase a 32 KiB block, 4-byte address (`SPINOR_OP_BE_32K_4B`).
pub const OP_BE_32K_4B: u8 = 0x5c;
/// Read the SFDP table (`SPINOR_OP_RDSFDP`).
pub const OP_RDSFDP: u8 = 0x5a;
/// Chip erase, alternative opcode (`SPINOR_OP_CHIP_ERASE` is 0xC7).
pub const OP_CHIP_ERASE_ALT: u8 = 0x60;
/// Reset enable (`SPINOR_OP_SRSTEN`).
pub const OP_RSTEN: u8 = 0x66;
/// Quad output read, one dummy byte (`SPINOR_OP_READ_1_1_4`).
pub const OP_READ_1_1_4: u8 = 0x6b;
/// Quad output read, 4-byte address (`SPINOR_OP_READ_1_1_4_4B`).
pub const OP_READ_1_1_4_4B: u8 = 0x6c;
/// Read flag status register (Micron, `SPINOR_OP_RDFSR`).
pub const OP_RDFSR: u8 = 0x70;
/// Read JEDEC id (`SPINOR_OP_RDID`).
pub const OP_RDID: u8 = 0x9f;
/// Software reset, after reset enable (`SPINOR_OP_SRST`).
pub const OP_RST: u8 = 0x99;
/// Enter 4-byte address mode (`SPINOR_OP_EN4B`).
pub const OP_EN4B: u8 = 0xb7;
/// Chip erase (`SPINOR_OP_CHIP_ERASE`).
pub const OP_CHIP_ERASE: u8 = 0xc7;
/// Erase a 64 KiB block (`SPINOR_OP_SE`).
pub const OP_BE_64K: u8 = 0xd8;
/// Erase a 64 KiB block, 4-byte address (`SPINOR_OP_SE_4B`).
pub const OP_BE_64K_4B: u8 = 0xdc;
/// Exit 4-byte address mode (`SPINOR_OP_EX4B`).
pub const OP_EX4B: u8 = 0xe9;

/// Status register 1: write in progress (`SR_WIP`).
pub const SR_WIP: u8 = 1 << 0;
/// Status register 1: write enable latch (`SR_WEL`).
pub const SR_WEL: u8 = 1 << 1;
/// Status register 1: Macronix quad enable (`SR1_QUAD_EN_BIT6`).
pub const SR1_QUAD_EN_BIT6: u8 = 1 << 6;
/// Status register 2: Winbond quad enable (`SR2_QUAD_EN_BIT1`).
pub const SR2_QUAD_EN_BIT1: u8 = 1 << 1;
/// Winbond status register 3: current address mode is 4 bytes (ADS).
pub const SR3_ADS: u8 = 1 << 0;
/// Flag status register: ready (`FSR_READY`).
pub const FSR_READY: u8 = 1 << 7;
/// Flag status register: 4-byte address mode (Micron "addressing" bit).
pub const FSR_4B: u8 = 1 << 0;

/// Status register 1 bits a WRSR can change (BP0-3, TB, QE/SRWD); WIP and WEL are read-only.
const SR1_WRITABLE: u8 = 0xfc;
/// The byte the SFDP command answers: an unprogrammed table (no `SFDP` signature).
const SFDP_FILL: u8 = 0xff;

/// Which vendor's status-register layout the chip follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vendor {
    /// Macronix: quad enable is SR1 bit 6; the second WRSR byte is the configuration register,
    /// read back with RDCR (0x15).
    Macronix,
    /// Winbond: quad enable is SR2 bit 1; RDSR2 (0x35) / RDSR3 (0x15), WRSR2 (0x31) / WRSR3 (0x11).
    Winbond,
    /// Micron (Numonyx): no quad-enable bit; Linux polls the flag status register (RDFSR 0x70,
    /// `USE_FSR`). Its other status registers behave as Winbond's here.
    Micron,
}

/// What kind of flash chip this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlashModel {
    /// Name as Linux / u-boot print it.
    pub name: &'static str,
    /// JEDEC id (manufacturer, memory type, capacity) answered by RDID.
    pub jedec_id: [u8; 3],
    /// Capacity in bytes.
    pub size: u64,
    /// Smallest erase unit (4 KiB sector).
    pub sector_size: u64,
    /// Large erase block (64 KiB).
    pub block_size: u64,
    /// Program page (256 bytes).
    pub page_size: u64,
    /// Status register layout.
    pub vendor: Vendor,
}

impl FlashModel {
    /// Macronix MX66U51235F / MX25U51245G, 64 MiB (JEDEC C2 25 3A): the AST2600 EVB boot flash.
    pub const MX66U51235F: FlashModel = FlashModel {
        name: "mx66u51235f",
        jedec_id: [0xc2, 0x25, 0x3a],
        size: 64 << 20,
        sector_size: 4 << 10,
        block_size: 64 << 10,
        page_size: 256,
        vendor: Vendor::Macronix,
    };
    /// Winbond W25Q512JV, 64 MiB (JEDEC EF 40 20).
    pub const W25Q512JV: FlashModel = FlashModel {
        name: "w25q512jv",
        jedec_id: [0xef, 0x40, 0x20],
        size: 64 << 20,
        sector_size: 4 << 10,
        block_size: 64 << 10,
        page_size: 256,
        vendor: Vendor::Winbond,
    };

    /// Macronix MX66L1G45G, 128 MiB (JEDEC C2 20 1B): the tacoma, rainier and fuji boot flash.
    pub const MX66L1G45G: FlashModel = FlashModel {
        name: "mx66l1g45g",
        jedec_id: [0xc2, 0x20, 0x1b],
        size: 128 << 20,
        ..Self::MX66U51235F
    };
    /// Winbond W25Q01JV-Q, 128 MiB (JEDEC EF 40 21): bletchley's boot flash in QEMU 7.2. Linux
    /// 6.1's spi-nor tables do not know this ID.
    pub const W25Q01JVQ: FlashModel = FlashModel {
        name: "w25q01jvq",
        jedec_id: [0xef, 0x40, 0x21],
        size: 128 << 20,
        ..Self::W25Q512JV
    };
    /// Micron N25Q512A, 64 MiB (JEDEC 20 BA 20; Linux 6.1 calls this ID `n25q512ax3`).
    pub const N25Q512A: FlashModel = FlashModel {
        name: "n25q512a",
        jedec_id: [0x20, 0xba, 0x20],
        size: 64 << 20,
        sector_size: 4 << 10,
        block_size: 64 << 10,
        page_size: 256,
        vendor: Vendor::Micron,
    };
    /// Micron N25Q00, 128 MiB (JEDEC 20 BA 21).
    pub const N25Q00: FlashModel = FlashModel {
        name: "n25q00",
        jedec_id: [0x20, 0xba, 0x21],
        size: 128 << 20,
        ..Self::N25Q512A
    };

    /// Macronix MX25L25635E, 32 MiB (JEDEC C2 20 19): the AST2500 EVB's boot flash in QEMU 7.2.
    pub const MX25L25635E: FlashModel = FlashModel {
        name: "mx25l25635e",
        jedec_id: [0xc2, 0x20, 0x19],
        size: 32 << 20,
        ..Self::MX66U51235F
    };
    /// Macronix MX25L25635F, 32 MiB (JEDEC C2 20 19, as the E part: QEMU's m25p80 and Linux
    /// tell them apart only by SFDP): witherspoon's boot flashes and the AST2500 EVB's SPI1.
    pub const MX25L25635F: FlashModel = FlashModel {
        name: "mx25l25635f",
        ..Self::MX25L25635E
    };
    /// Micron N25Q256A, 32 MiB (JEDEC 20 BA 19; Linux 6.1 `n25q256a`): romulus's boot flashes.
    pub const N25Q256A: FlashModel = FlashModel {
        name: "n25q256a",
        jedec_id: [0x20, 0xba, 0x19],
        size: 32 << 20,
        ..Self::N25Q512A
    };

    /// Every model, by QEMU's m25p80 name.
    pub const ALL: [FlashModel; 9] = [
        Self::MX66U51235F,
        Self::MX66L1G45G,
        Self::W25Q512JV,
        Self::W25Q01JVQ,
        Self::N25Q512A,
        Self::N25Q00,
        Self::MX25L25635E,
        Self::MX25L25635F,
        Self::N25Q256A,
    ];

    /// The model called `name` (QEMU's names: `mx66u51235f`, `mx66l1g45g`, `w25q512jv`,
    /// `w25q01jvq`, `n25q512a`, `n25q00`, `mx25l25635e`, `mx25l25635f`, `n25q256a`; `mx25u51245g` is another name of the first).
    pub fn by_name(name: &str) -> Option<FlashModel> {
        match name {
            "mx25u51245g" => Some(Self::MX66U51235F),
            _ => Self::ALL.into_iter().find(|m| m.name == name),
        }
    }
}

impl Default for FlashModel {
    fn default() -> Self {
        Self::MX66U51235F
    }
}

/// Where the chip is within the current command (between select and deselect).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Not selected.
    Deselected,
    /// Selected, the next byte is an opcode.
    Opcode,
    /// Collecting `need` address bytes for `op`; `have` so far.
    Address {
        /// The command.
        op: u8,
        /// Address bytes collected so far (big endian).
        addr: u32,
        /// How many were collected.
        have: u8,
        /// How many the command takes (3 or 4).
        need: u8,
    },
    /// Skipping dummy bytes before data.
    Dummy {
        /// The command.
        op: u8,
        /// Its address.
        addr: u64,
        /// Dummy bytes still to skip.
        left: u8,
    },
    /// Shifting out array data from `addr` (wraps at the end of the chip).
    ReadData {
        /// Next byte's offset.
        addr: u64,
    },
    /// Shifting out SFDP data.
    SfdpData,
    /// Accepting page-program data; `addr` is the next byte's offset (wraps within the page).
    Program {
        /// Next byte's offset.
        addr: u64,
    },
    /// An erase whose address is complete: runs at deselect.
    EraseReady {
        /// The erase command.
        op: u8,
        /// Its address.
        addr: u64,
    },
    /// Chip erase: runs at deselect.
    ChipErase,
    /// Shifting out the JEDEC id; `index` is the next byte.
    ReadId {
        /// Next id byte.
        index: u8,
    },
    /// Shifting out a status register, repeatedly (`op` says which).
    ReadStatus {
        /// The read-register command.
        op: u8,
    },
    /// Collecting status-register bytes for a WRSR-type `op`: applied at deselect.
    WriteStatus {
        /// The write-register command.
        op: u8,
        /// Bytes collected.
        bytes: [u8; 2],
        /// How many.
        count: u8,
    },
    /// Ignoring everything until deselect (unknown command, or refused program/erase).
    Ignore,
}

/// The chip's registers and command progress (everything but the array bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpiNorState {
    /// Status register 1's non-volatile bits (WIP and WEL live elsewhere).
    pub sr1: u8,
    /// Status register 2 (Winbond) / configuration register (Macronix).
    pub sr2: u8,
    /// Status register 3 (Winbond), without the ADS bit.
    pub sr3: u8,
    /// Write enable latch.
    pub write_enable: bool,
    /// Winbond volatile-SR write enable (0x50) seen.
    pub volatile_sr_enable: bool,
    /// 4-byte address mode (EN4B).
    pub four_byte: bool,
    /// The previous command was reset enable (0x66).
    pub reset_enabled: bool,
    /// Command progress.
    pub phase: Phase,
}

impl Default for SpiNorState {
    fn default() -> Self {
        Self {
            sr1: 0,
            sr2: 0,
            sr3: 0,
            write_enable: false,
            volatile_sr_enable: false,
            four_byte: false,
            reset_enabled: false,
            phase: Phase::Deselected,
        }
    }
}

/// What [`SpiNor::save_state`] saves: which model, and the registers and command progress.
#[derive(Serialize, Deserialize)]
struct SavedSpiNor {
    /// [`FlashModel::name`].
    model: String,
    state: SpiNorState,
}

/// A SPI NOR flash chip.
pub struct SpiNor {
    memory: Rc<MemoryBlock>,
    model: FlashModel,
    state: SpiNorState,
    modified: Option<(u64, u64)>,
    dirty: bool,
    reported_ops: [u64; 4],
}

impl fmt::Debug for SpiNor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpiNor")
            .field("model", &self.model.name)
            .field("size", &self.memory.len())
            .field("state", &self.state)
            .finish()
    }
}

impl SpiNor {
    /// A chip of kind `model` whose array is `memory` (usually `model.size` bytes of image).
    /// If `memory`'s length differs from `model.size`, the memory's length wins.
    pub fn new(memory: Rc<MemoryBlock>, model: FlashModel) -> Self {
        if memory.len() as u64 != model.size {
            log::warn!(
                "spi-nor {}: image is {} bytes, the part has {}; using the image size",
                model.name,
                memory.len(),
                model.size
            );
        }
        Self {
            memory,
            model,
            state: SpiNorState::default(),
            modified: None,
            dirty: false,
            reported_ops: [0; 4],
        }
    }

    /// A chip restored from a saved `state`.
    pub fn from_state(memory: Rc<MemoryBlock>, model: FlashModel, state: SpiNorState) -> Self {
        let mut chip = Self::new(memory, model);
        chip.state = state;
        chip
    }

    /// The registers and command progress.
    pub fn state(&self) -> SpiNorState {
        self.state
    }

    /// The chip's state for a snapshot: its model's name and [`SpiNorState`] (status
    /// registers, latches, address mode, the command in progress). The array bytes are not
    /// part of it: the SoC saves the flash contents ([`SpiNor::memory`]) separately. The
    /// host-side bookkeeping of what changed ([`SpiNor::dirty`], [`SpiNor::take_modified`])
    /// is not saved either.
    pub fn save_state(&self) -> DeviceState {
        let saved = SavedSpiNor {
            model: self.model.name.into(),
            state: self.state,
        };
        DeviceState::new(STATE_KIND, STATE_VERSION, &saved)
    }

    /// Puts the chip into a state [`SpiNor::save_state`] returned, keeping its array and
    /// model. A state of another kind or format, or of another flash model, is refused and
    /// leaves the chip unchanged.
    pub fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        let saved: SavedSpiNor = state.decode(STATE_KIND, STATE_VERSION)?;
        if saved.model != self.model.name {
            return Err(StateError(format!(
                "{STATE_KIND}: the state is of a {} flash, this chip is a {}",
                saved.model, self.model.name
            )));
        }
        self.state = saved.state;
        Ok(())
    }

    /// The array bytes, for mapping them into the guest.
    pub fn memory(&self) -> &Rc<MemoryBlock> {
        &self.memory
    }

    /// What kind of chip this is.
    pub fn model(&self) -> &FlashModel {
        &self.model
    }

    /// Capacity in bytes (the length of the backing memory).
    pub fn size(&self) -> u64 {
        self.memory.len() as u64
    }

    /// True in 4-byte address mode (after EN4B).
    pub fn four_byte_mode(&self) -> bool {
        self.state.four_byte
    }

    /// How many address bytes the 3/4-byte commands (READ, PP, SE...) currently take.
    pub fn address_bytes(&self) -> u8 {
        if self.state.four_byte {
            4
        } else {
            3
        }
    }

    /// True while chip select is asserted.
    pub fn is_selected(&self) -> bool {
        self.state.phase != Phase::Deselected
    }

    /// Power-on (or SoC reset) state: deselected, 3-byte mode, write enable latch clear.
    /// Non-volatile status bits (block protection, quad enable) are kept.
    pub fn reset(&mut self) {
        self.state.phase = Phase::Deselected;
        self.state.write_enable = false;
        self.state.volatile_sr_enable = false;
        self.state.four_byte = false;
        self.state.reset_enabled = false;
    }

    /// Copies array bytes from `offset` (wrapping at the end of the chip) into `buf`: the
    /// controller's direct-read and DMA path.
    pub fn read(&self, offset: u64, buf: &mut [u8]) {
        let size = self.size();
        if size == 0 {
            buf.fill(0xff);
            return;
        }
        let mut pos = offset % size;
        let mut done = 0;
        while done < buf.len() {
            let run = ((size - pos) as usize).min(buf.len() - done);
            self.memory.read(pos as usize, &mut buf[done..done + run]);
            done += run;
            pos = 0;
        }
    }

    /// The byte range `[start, end)` changed by program/erase since the last call, if any.
    pub fn take_modified(&mut self) -> Option<(u64, u64)> {
        self.modified.take()
    }

    /// True once anything was programmed or erased since creation or [`SpiNor::mark_clean`].
    pub fn dirty(&self) -> bool {
        self.dirty
    }

    /// Forgets that the array changed (after the SoC saved it).
    pub fn mark_clean(&mut self) {
        self.dirty = false;
    }

    /// Asserts chip select: the next byte is an opcode.
    pub fn select(&mut self) {
        self.state.phase = Phase::Opcode;
    }

    /// Deasserts chip select: finishes the command (erase, status write, program).
    pub fn deselect(&mut self) {
        match self.state.phase {
            Phase::EraseReady { op, addr } => {
                let unit = match op {
                    OP_SE_4K | OP_SE_4K_4B => self.model.sector_size,
                    OP_BE_32K | OP_BE_32K_4B => 32 << 10,
                    _ => self.model.block_size,
                };
                let unit = unit.max(1);
                let start = addr - addr % unit;
                self.erase(start, unit);
                self.state.write_enable = false;
            }
            Phase::ChipErase => {
                self.erase(0, self.size());
                self.state.write_enable = false;
            }
            Phase::Program { .. } => self.state.write_enable = false,
            Phase::WriteStatus { op, bytes, count } => self.write_status(op, bytes, count),
            _ => {}
        }
        self.state.phase = Phase::Deselected;
    }

    /// Shifts one byte out to the chip and returns the byte it shifts back.
    pub fn transfer(&mut self, out: u8) -> u8 {
        match self.state.phase {
            Phase::Deselected => {
                log::debug!(
                    "spi-nor {}: byte {out:#04x} while deselected",
                    self.model.name
                );
                0
            }
            Phase::Opcode => {
                self.start_command(out);
                0
            }
            Phase::Address {
                op,
                addr,
                have,
                need,
            } => {
                let addr = (addr << 8) | out as u32;
                let have = have + 1;
                if have < need {
                    self.state.phase = Phase::Address {
                        op,
                        addr,
                        have,
                        need,
                    };
                } else {
                    self.address_complete(op, addr as u64);
                }
                0
            }
            Phase::Dummy { op, addr, left } => {
                self.state.phase = if left > 1 {
                    Phase::Dummy {
                        op,
                        addr,
                        left: left - 1,
                    }
                } else if op == OP_RDSFDP {
                    Phase::SfdpData
                } else {
                    Phase::ReadData { addr }
                };
                0
            }
            Phase::ReadData { addr } => {
                let mut b = [0u8];
                self.read(addr, &mut b);
                let next = addr.wrapping_add(1);
                let next = if next >= self.size() { 0 } else { next };
                self.state.phase = Phase::ReadData { addr: next };
                b[0]
            }
            Phase::SfdpData => SFDP_FILL,
            Phase::Program { addr } => {
                self.program_byte(addr, out);
                let page = self.model.page_size.max(1);
                let base = addr - addr % page;
                let next = base + (addr + 1 - base) % page;
                self.state.phase = Phase::Program { addr: next };
                0
            }
            Phase::ReadId { index } => {
                self.state.phase = Phase::ReadId {
                    index: index.saturating_add(1),
                };
                self.model
                    .jedec_id
                    .get(index as usize)
                    .copied()
                    .unwrap_or(0)
            }
            Phase::ReadStatus { op } => self.read_status(op),
            Phase::WriteStatus {
                op,
                mut bytes,
                count,
            } => {
                if let Some(slot) = bytes.get_mut(count as usize) {
                    *slot = out;
                }
                self.state.phase = Phase::WriteStatus {
                    op,
                    bytes,
                    count: count.saturating_add(1).min(2),
                };
                0
            }
            Phase::EraseReady { .. } | Phase::ChipErase | Phase::Ignore => 0,
        }
    }

    fn address_len(&self, op: u8) -> u8 {
        match op {
            OP_READ_4B | OP_FAST_READ_4B | OP_READ_1_1_2_4B | OP_READ_1_1_4_4B | OP_PP_4B
            | OP_PP_1_1_4_4B | OP_PP_1_4_4_4B | OP_SE_4K_4B | OP_BE_32K_4B | OP_BE_64K_4B => 4,
            OP_RDSFDP => 3,
            _ => self.address_bytes(),
        }
    }

    fn start_command(&mut self, op: u8) {
        let reset_enabled = std::mem::replace(&mut self.state.reset_enabled, false);
        let address = |s: &Self| Phase::Address {
            op,
            addr: 0,
            have: 0,
            need: s.address_len(op),
        };
        self.state.phase = match op {
            OP_READ | OP_READ_4B | OP_FAST_READ | OP_FAST_READ_4B | OP_READ_1_1_2
            | OP_READ_1_1_2_4B | OP_READ_1_1_4 | OP_READ_1_1_4_4B | OP_RDSFDP => address(self),
            OP_PP | OP_PP_4B | OP_PP_1_1_4 | OP_PP_1_1_4_4B | OP_PP_1_4_4 | OP_PP_1_4_4_4B
            | OP_SE_4K | OP_SE_4K_4B | OP_BE_32K | OP_BE_32K_4B | OP_BE_64K | OP_BE_64K_4B => {
                if self.state.write_enable {
                    address(self)
                } else {
                    log::debug!(
                        "spi-nor {}: program/erase {op:#04x} without WREN ignored",
                        self.model.name
                    );
                    Phase::Ignore
                }
            }
            OP_CHIP_ERASE | OP_CHIP_ERASE_ALT => {
                if self.state.write_enable {
                    Phase::ChipErase
                } else {
                    Phase::Ignore
                }
            }
            OP_RDID => Phase::ReadId { index: 0 },
            OP_RDSR | OP_RDSR2 | OP_RDCR | OP_RDFSR => Phase::ReadStatus { op },
            OP_WRSR | OP_WRSR2 | OP_WRSR3 => Phase::WriteStatus {
                op,
                bytes: [0; 2],
                count: 0,
            },
            OP_WREN => {
                self.state.write_enable = true;
                Phase::Ignore
            }
            OP_WRDI => {
                self.state.write_enable = false;
                self.state.volatile_sr_enable = false;
                Phase::Ignore
            }
            OP_VSR_WREN => {
                self.state.volatile_sr_enable = true;
                Phase::Ignore
            }
            OP_EN4B => {
                self.state.four_byte = true;
                Phase::Ignore
            }
            OP_EX4B => {
                self.state.four_byte = false;
                Phase::Ignore
            }
            OP_RSTEN => {
                self.state.reset_enabled = true;
                Phase::Ignore
            }
            OP_RST => {
                if reset_enabled {
                    self.soft_reset();
                }
                Phase::Ignore
            }
            _ => {
                self.report_unknown(op);
                Phase::Ignore
            }
        };
    }

    fn address_complete(&mut self, op: u8, addr: u64) {
        let size = self.size().max(1);
        let addr = addr % size;
        self.state.phase = match op {
            OP_READ | OP_READ_4B => Phase::ReadData { addr },
            OP_FAST_READ | OP_FAST_READ_4B | OP_READ_1_1_2 | OP_READ_1_1_2_4B | OP_READ_1_1_4
            | OP_READ_1_1_4_4B | OP_RDSFDP => Phase::Dummy { op, addr, left: 1 },
            OP_PP | OP_PP_4B | OP_PP_1_1_4 | OP_PP_1_1_4_4B | OP_PP_1_4_4 | OP_PP_1_4_4_4B => {
                Phase::Program { addr }
            }
            _ => Phase::EraseReady { op, addr },
        };
    }

    fn read_status(&self, op: u8) -> u8 {
        match op {
            OP_RDSR => {
                let wel = if self.state.write_enable { SR_WEL } else { 0 };
                (self.state.sr1 & SR1_WRITABLE) | wel
            }
            OP_RDSR2 => self.state.sr2,
            OP_RDCR => match self.model.vendor {
                Vendor::Macronix => self.state.sr2,
                Vendor::Winbond | Vendor::Micron => {
                    let ads = if self.state.four_byte { SR3_ADS } else { 0 };
                    (self.state.sr3 & !SR3_ADS) | ads
                }
            },
            _ => FSR_READY | if self.state.four_byte { FSR_4B } else { 0 },
        }
    }

    fn write_status(&mut self, op: u8, bytes: [u8; 2], count: u8) {
        if !(self.state.write_enable || self.state.volatile_sr_enable) {
            log::debug!(
                "spi-nor {}: status write without WREN ignored",
                self.model.name
            );
            return;
        }
        if count > 0 {
            match op {
                OP_WRSR => {
                    self.state.sr1 = bytes[0] & SR1_WRITABLE;
                    if count > 1 {
                        self.state.sr2 = bytes[1];
                    }
                }
                OP_WRSR2 => self.state.sr2 = bytes[0],
                _ => self.state.sr3 = bytes[0] & !SR3_ADS,
            }
        }
        self.state.write_enable = false;
        self.state.volatile_sr_enable = false;
    }

    fn soft_reset(&mut self) {
        self.state.write_enable = false;
        self.state.volatile_sr_enable = false;
        self.state.four_byte = false;
    }

    fn note_modified(&mut self, start: u64, end: u64) {
        self.dirty = true;
        self.modified = Some(match self.modified {
            Some((s, e)) => (s.min(start), e.max(end)),
            None => (start, end),
        });
    }

    fn program_byte(&mut self, addr: u64, value: u8) {
        if addr >= self.size() {
            return;
        }
        let old = self.memory.byte(addr as usize);
        let new = old & value;
        if new != old {
            self.memory.write(addr as usize, &[new]);
            self.note_modified(addr, addr + 1);
        }
    }

    fn erase(&mut self, start: u64, len: u64) {
        let size = self.size();
        if start >= size {
            return;
        }
        let end = start.saturating_add(len).min(size);
        self.memory
            .fill(start as usize, (end - start) as usize, 0xff);
        self.note_modified(start, end);
    }

    fn report_unknown(&mut self, op: u8) {
        let (word, bit) = ((op >> 6) as usize, op & 63);
        if self.reported_ops[word] & (1 << bit) == 0 {
            self.reported_ops[word] |= 1 << bit;
            log::warn!(
                target: "unimp",
                "spi-nor {}: unimplemented command {op:#04x}",
                self.model.name
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chip(size: usize) -> SpiNor {
        let mem = Rc::new(MemoryBlock::new(size, 0xff));
        for i in 0..size.min(0x2000) {
            mem.write(i, &[(i as u8).wrapping_mul(7)]);
        }
        let model = FlashModel {
            size: size as u64,
            ..FlashModel::MX66U51235F
        };
        SpiNor::new(mem, model)
    }

    /// One command: select, shift `out`, then `read` extra zero bytes, deselect.
    fn cmd(f: &mut SpiNor, out: &[u8], read: usize) -> Vec<u8> {
        f.select();
        for &b in out {
            f.transfer(b);
        }
        let v = (0..read).map(|_| f.transfer(0)).collect();
        f.deselect();
        v
    }

    #[test]
    fn rdid_answers_the_jedec_id() {
        let mut f = chip(1 << 20);
        assert_eq!(cmd(&mut f, &[OP_RDID], 5), vec![0xc2, 0x25, 0x3a, 0, 0]);
        let mut w = SpiNor::new(Rc::new(MemoryBlock::new(4096, 0xff)), FlashModel::W25Q512JV);
        assert_eq!(cmd(&mut w, &[OP_RDID], 3), vec![0xef, 0x40, 0x20]);
        assert_eq!(
            FlashModel::by_name("mx25u51245g"),
            Some(FlashModel::MX66U51235F)
        );
    }

    #[test]
    fn read_in_3_and_4_byte_modes() {
        let mut f = chip(1 << 20);
        assert_eq!(f.address_bytes(), 3);
        assert_eq!(cmd(&mut f, &[OP_READ, 0, 0x01, 0x02], 2), vec![0x0e, 0x15]);
        cmd(&mut f, &[OP_EN4B], 0);
        assert!(f.four_byte_mode());
        assert_eq!(f.address_bytes(), 4);
        assert_eq!(
            cmd(&mut f, &[OP_READ, 0, 0, 0x01, 0x02], 2),
            vec![0x0e, 0x15]
        );
        cmd(&mut f, &[OP_EX4B], 0);
        assert!(!f.four_byte_mode());
        // READ_4B always takes four address bytes.
        assert_eq!(cmd(&mut f, &[OP_READ_4B, 0, 0, 0, 0x03], 1), vec![0x15]);
        // Reads wrap at the end of the chip.
        assert_eq!(
            cmd(&mut f, &[OP_READ, 0x0f, 0xff, 0xff], 2),
            vec![0xff, 0x00]
        );
    }

    #[test]
    fn fast_read_skips_one_dummy_byte() {
        let mut f = chip(1 << 20);
        assert_eq!(
            cmd(&mut f, &[OP_FAST_READ, 0, 0, 0x02, 0xaa], 1),
            vec![0x0e]
        );
        assert_eq!(
            cmd(&mut f, &[OP_FAST_READ_4B, 0, 0, 0, 0x02, 0], 1),
            vec![0x0e]
        );
        assert_eq!(
            cmd(&mut f, &[OP_READ_1_1_4_4B, 0, 0, 0, 0x03, 0], 1),
            vec![0x15]
        );
        assert_eq!(cmd(&mut f, &[OP_READ_1_1_2, 0, 0, 0x03, 0], 1), vec![0x15]);
    }

    #[test]
    fn page_program_ands_bits_and_wraps_in_its_page() {
        let mut f = chip(1 << 20);
        f.memory().fill(0x100, 0x100, 0xf0);
        cmd(&mut f, &[OP_WREN], 0);
        assert_eq!(cmd(&mut f, &[OP_RDSR], 1), vec![SR_WEL]);
        // Two bytes at the end of page 0x100 and one that wraps to its start.
        cmd(&mut f, &[OP_PP, 0, 0x01, 0xfe, 0x3c, 0xff, 0x0f], 0);
        assert_eq!(f.memory().byte(0x1fe), 0x30);
        assert_eq!(f.memory().byte(0x1ff), 0xf0);
        assert_eq!(f.memory().byte(0x100), 0x00);
        assert_eq!(f.memory().byte(0x1fd), 0xf0);
        // WEL is cleared when the program ends; WIP is never seen set.
        assert_eq!(cmd(&mut f, &[OP_RDSR], 2), vec![0, 0]);
        assert!(f.dirty());
        assert_eq!(f.take_modified(), Some((0x100, 0x1ff)));
        assert_eq!(f.take_modified(), None);
    }

    #[test]
    fn program_without_wren_is_ignored() {
        let mut f = chip(1 << 20);
        let before = f.memory().byte(0x10);
        cmd(&mut f, &[OP_PP, 0, 0, 0x10, 0x00], 0);
        cmd(&mut f, &[OP_SE_4K, 0, 0, 0], 0);
        assert_eq!(f.memory().byte(0x10), before);
        assert!(!f.dirty());
        assert_eq!(f.take_modified(), None);
        // WRDI cancels WREN.
        cmd(&mut f, &[OP_WREN], 0);
        cmd(&mut f, &[OP_WRDI], 0);
        cmd(&mut f, &[OP_PP_4B, 0, 0, 0, 0x10, 0x00], 0);
        assert_eq!(f.memory().byte(0x10), before);
    }

    #[test]
    fn erase_sizes() {
        let mut f = chip(1 << 20);
        let erased = |f: &SpiNor, start: usize, len: usize| {
            let mut b = vec![0; len];
            f.read(start as u64, &mut b);
            b.iter().all(|&x| x == 0xff)
        };
        f.memory().fill(0, 1 << 20, 0);
        cmd(&mut f, &[OP_WREN], 0);
        cmd(&mut f, &[OP_SE_4K, 0x00, 0x12, 0x34], 0);
        assert!(erased(&f, 0x1000, 0x1000));
        assert_eq!(f.memory().byte(0xfff), 0);
        assert_eq!(f.memory().byte(0x2000), 0);
        assert_eq!(f.take_modified(), Some((0x1000, 0x2000)));
        // Needs a new WREN.
        cmd(&mut f, &[OP_BE_32K, 0x00, 0x80, 0x00], 0);
        assert_eq!(f.memory().byte(0x8000), 0);
        cmd(&mut f, &[OP_WREN], 0);
        cmd(&mut f, &[OP_BE_32K, 0x00, 0x8f, 0x00], 0);
        assert!(erased(&f, 0x8000, 0x8000));
        assert_eq!(f.memory().byte(0x10000), 0);
        cmd(&mut f, &[OP_WREN], 0);
        cmd(&mut f, &[OP_BE_64K_4B, 0, 0x02, 0x11, 0x00], 0);
        assert!(erased(&f, 0x20000, 0x10000));
        assert_eq!(f.memory().byte(0x1ffff), 0);
        assert_eq!(f.memory().byte(0x30000), 0);
        // An erase cut short before its address is complete does nothing.
        cmd(&mut f, &[OP_WREN], 0);
        cmd(&mut f, &[OP_BE_64K, 0x05, 0x00], 0);
        assert_eq!(f.memory().byte(0x50000), 0);
        cmd(&mut f, &[OP_WREN], 0);
        cmd(&mut f, &[OP_CHIP_ERASE], 0);
        assert!(erased(&f, 0, 1 << 20));
        assert_eq!(f.take_modified(), Some((0, 1 << 20)));
    }

    #[test]
    fn status_registers_and_quad_enable() {
        let mut f = chip(4096);
        // WRSR without WREN does nothing.
        cmd(&mut f, &[OP_WRSR, SR1_QUAD_EN_BIT6], 0);
        assert_eq!(cmd(&mut f, &[OP_RDSR], 1), vec![0]);
        cmd(&mut f, &[OP_WREN], 0);
        // WIP/WEL are read-only; the second byte is Macronix's configuration register.
        cmd(&mut f, &[OP_WRSR, SR1_QUAD_EN_BIT6 | SR_WIP, 0x20], 0);
        assert_eq!(cmd(&mut f, &[OP_RDSR], 1), vec![SR1_QUAD_EN_BIT6]);
        assert_eq!(cmd(&mut f, &[OP_RDCR], 1), vec![0x20]);
        assert_eq!(cmd(&mut f, &[OP_RDFSR], 1), vec![FSR_READY]);

        let mut w = SpiNor::new(Rc::new(MemoryBlock::new(4096, 0xff)), FlashModel::W25Q512JV);
        cmd(&mut w, &[OP_WREN], 0);
        cmd(&mut w, &[OP_WRSR, 0, SR2_QUAD_EN_BIT1], 0);
        assert_eq!(cmd(&mut w, &[OP_RDSR2], 1), vec![SR2_QUAD_EN_BIT1]);
        cmd(&mut w, &[OP_EN4B], 0);
        assert_eq!(cmd(&mut w, &[OP_RDCR], 1), vec![SR3_ADS]);
    }

    #[test]
    fn soft_reset_needs_reset_enable() {
        let mut f = chip(4096);
        cmd(&mut f, &[OP_EN4B], 0);
        cmd(&mut f, &[OP_RST], 0);
        assert!(f.four_byte_mode());
        cmd(&mut f, &[OP_RSTEN], 0);
        cmd(&mut f, &[OP_RST], 0);
        assert!(!f.four_byte_mode());
        cmd(&mut f, &[OP_EN4B], 0);
        f.reset();
        assert!(!f.four_byte_mode());
        assert!(!f.is_selected());
    }

    #[test]
    fn sfdp_reads_as_unprogrammed_and_unknown_commands_read_zero() {
        let mut f = chip(4096);
        assert_eq!(cmd(&mut f, &[OP_RDSFDP, 0, 0, 0, 0], 4), vec![0xff; 4]);
        assert_eq!(cmd(&mut f, &[0xab], 3), vec![0, 0, 0]);
        // Bytes while deselected do nothing.
        assert_eq!(f.transfer(OP_RDID), 0);
        assert_eq!(cmd(&mut f, &[OP_READ, 0, 0, 1], 1), vec![7]);
    }

    #[test]
    fn state_round_trips() {
        let mut f = chip(4096);
        f.select();
        f.transfer(OP_READ);
        f.transfer(0);
        let s = f.state();
        let mut g = SpiNor::from_state(f.memory().clone(), *f.model(), s);
        g.transfer(0);
        g.transfer(2);
        assert_eq!(g.transfer(0), 14);
        assert_eq!(g.state().phase, Phase::ReadData { addr: 3 });
    }

    /// A chip like [`chip`] whose array is a copy of `f`'s: the same flash contents, as the
    /// SoC restores them next to the chip's state.
    fn same_contents(f: &SpiNor) -> SpiNor {
        let mut bytes = vec![0u8; f.size() as usize];
        f.read(0, &mut bytes);
        let mem = Rc::new(MemoryBlock::new(bytes.len(), 0xff));
        mem.write(0, &bytes);
        SpiNor::new(mem, *f.model())
    }

    #[test]
    fn a_restored_chip_finishes_the_program_in_progress() {
        let mut f = chip(1 << 16);
        cmd(&mut f, &[OP_WREN], 0);
        cmd(&mut f, &[OP_WRSR, SR1_QUAD_EN_BIT6, 0x07], 0);
        cmd(&mut f, &[OP_EN4B], 0);
        cmd(&mut f, &[OP_WREN], 0);
        // A page program near the end of page 0x300, two bytes shifted in.
        f.memory().fill(0x300, 0x100, 0xff);
        f.select();
        for b in [OP_PP, 0, 0, 0x03, 0xfd, 0x11, 0x22] {
            f.transfer(b);
        }
        let saved = f.save_state();
        assert_eq!(
            (saved.kind.as_str(), saved.version),
            (STATE_KIND, STATE_VERSION)
        );
        let mut g = same_contents(&f);
        g.load_state(&saved).unwrap();
        assert_eq!(g.state(), f.state());
        assert!(g.is_selected() && g.four_byte_mode());
        assert_eq!(g.save_state(), saved);
        // Both go on: two more bytes, the last wrapping to the page start, then deselect.
        for chip in [&mut f, &mut g] {
            chip.transfer(0x33);
            chip.transfer(0x44);
            chip.deselect();
        }
        let mut page = [[0u8; 0x100]; 2];
        f.read(0x300, &mut page[0]);
        g.read(0x300, &mut page[1]);
        assert_eq!(page[0], page[1]);
        assert_eq!(page[1][0xfd..], [0x11, 0x22, 0x33]);
        assert_eq!(page[1][0], 0x44);
        // The status registers and the address mode read alike afterwards.
        for op in [OP_RDSR, OP_RDCR, OP_RDFSR] {
            assert_eq!(cmd(&mut g, &[op], 1), cmd(&mut f, &[op], 1), "{op:#04x}");
        }
        assert_eq!(
            cmd(&mut g, &[OP_RDSR], 1),
            vec![SR1_QUAD_EN_BIT6],
            "WEL cleared"
        );
        assert_eq!(
            cmd(&mut g, &[OP_READ, 0, 0, 0x03, 0xfe], 2),
            cmd(&mut f, &[OP_READ, 0, 0, 0x03, 0xfe], 2)
        );
    }

    #[test]
    fn a_chip_refuses_a_state_of_another_kind_version_or_model() {
        let mut f = chip(4096);
        cmd(&mut f, &[OP_EN4B], 0);
        let saved = f.save_state();
        let mut w = SpiNor::new(Rc::new(MemoryBlock::new(4096, 0xff)), FlashModel::W25Q512JV);
        cmd(&mut w, &[OP_WREN], 0);
        let before = w.state();
        let wrong_kind = DeviceState {
            kind: "aspeed-smc".into(),
            ..saved.clone()
        };
        let wrong_version = DeviceState {
            version: STATE_VERSION + 1,
            ..saved.clone()
        };
        for bad in [&wrong_kind, &wrong_version] {
            assert!(w.load_state(bad).is_err());
        }
        let err = w.load_state(&saved).unwrap_err();
        assert!(
            err.0.contains("mx66u51235f") && err.0.contains("w25q512jv"),
            "{err}"
        );
        assert_eq!(w.state(), before, "left unchanged");
        // The right model loads, the array untouched.
        let mut g = chip(4096);
        g.load_state(&saved).unwrap();
        assert!(g.four_byte_mode());
        assert!(!g.dirty());
    }
}
