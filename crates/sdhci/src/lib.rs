//! An SD host controller slot, as the SD Host Controller Simplified Specification (version
//! 2.00 register set) defines it and Linux `drivers/mmc/host/sdhci.c` (with
//! `sdhci-of-aspeed.c`) and u-boot `drivers/mmc/sdhci.c` drive it, and the Aspeed SD/eMMC
//! controller that holds one or two slots ([`AspeedSdc`]).
//!
//! # Commands and transfers
//!
//! Writing the command register's upper byte ([`REG_COMMAND`] + 1) sends the command to the
//! card on the slot's bus ([`SdBus`]) and completes it at once: the response lands in the
//! response registers (an R2's bits 127:8 as the specification lays them out), command
//! complete is raised, or a command timeout error if the card does not answer (no card, or a
//! command the card ignores). A command with data moves it before the write returns where DMA
//! is on: SDMA from [`REG_SDMA_ADDRESS`] (pausing with a DMA interrupt at each buffer boundary
//! until the driver writes the next address) or ADMA2 ([`HOST_CTRL_DMA_ADMA32`]) through 32-bit
//! descriptor tables (transfer, link and nop entries, the end and interrupt attributes), then
//! transfer complete, with Auto CMD12 after a multi-block transfer when the transfer mode asks
//! for it. Without DMA the data goes through the buffer data port a block at a time (buffer
//! read/write ready). Status bits latch only where their status enable is set; the interrupt
//! output is high while a latched bit has its signal enable set.
//!
//! # Left out
//!
//! The version 3.00 additions (UHS modes, tuning, preset values, Auto CMD23, ADMA2 64-bit) are
//! not offered: the capabilities say version 2.00, so drivers do not use them. Card insertion
//! and removal after start-up (a card is present from the start or never), SDIO, block gaps and
//! the wake-up control are not modelled; their registers keep what is written.
//!
//! # Snapshots
//!
//! A slot saves its registers, the transfer in progress and its card's state
//! ([`SdBus::save_state`]: the card's own registers and transfer, never the bytes it stores,
//! which the machine saves with its images); a slot is loaded only with a card of the same
//! kind in it, or with none where none was saved.
#![deny(missing_docs)]

mod aspeed;

pub use aspeed::*;

use std::rc::Rc;

use bus::{Device, DeviceState, GuestMemory, StateError, UnimplementedLog};

/// Size of one slot's register block.
pub const SLOT_REGS_SIZE: u64 = 0x100;
/// Kind of a slot's saved state ([`Device::save_state`] of an [`Sdhci`]).
pub const SLOT_STATE_KIND: &str = "sdhci-slot";
/// Format version of a slot's saved state.
pub const SLOT_STATE_VERSION: u32 = 1;

/// SDMA system address (and ADMA-less argument 2): SDHCI `SDHCI_DMA_ADDRESS`.
pub const REG_SDMA_ADDRESS: u64 = 0x00;
/// Block size (bits 11:0) and SDMA buffer boundary (bits 14:12): `SDHCI_BLOCK_SIZE`.
pub const REG_BLOCK_SIZE: u64 = 0x04;
/// Block count: `SDHCI_BLOCK_COUNT`.
pub const REG_BLOCK_COUNT: u64 = 0x06;
/// Command argument: `SDHCI_ARGUMENT`.
pub const REG_ARGUMENT: u64 = 0x08;
/// Transfer mode: `SDHCI_TRANSFER_MODE`.
pub const REG_TRANSFER_MODE: u64 = 0x0C;
/// Command; writing its upper byte sends it: `SDHCI_COMMAND`.
pub const REG_COMMAND: u64 = 0x0E;
/// Response, 4 words: `SDHCI_RESPONSE`.
pub const REG_RESPONSE: u64 = 0x10;
/// Buffer data port: `SDHCI_BUFFER`.
pub const REG_BUFFER: u64 = 0x20;
/// Present state (read only): `SDHCI_PRESENT_STATE`.
pub const REG_PRESENT_STATE: u64 = 0x24;
/// Host control 1: `SDHCI_HOST_CONTROL`.
pub const REG_HOST_CONTROL: u64 = 0x28;
/// Power control: `SDHCI_POWER_CONTROL`.
pub const REG_POWER_CONTROL: u64 = 0x29;
/// Clock control: `SDHCI_CLOCK_CONTROL`.
pub const REG_CLOCK_CONTROL: u64 = 0x2C;
/// Software reset: `SDHCI_SOFTWARE_RESET`.
pub const REG_SOFTWARE_RESET: u64 = 0x2F;
/// Normal interrupt status (written 1 to clear): `SDHCI_INT_STATUS`.
pub const REG_INT_STATUS: u64 = 0x30;
/// Error interrupt status (written 1 to clear): the upper half of `SDHCI_INT_STATUS`.
pub const REG_ERR_STATUS: u64 = 0x32;
/// Normal and error interrupt status enables: `SDHCI_INT_ENABLE`.
pub const REG_INT_ENABLE: u64 = 0x34;
/// Normal and error interrupt signal enables: `SDHCI_SIGNAL_ENABLE`.
pub const REG_SIGNAL_ENABLE: u64 = 0x38;
/// Auto CMD12 error status: `SDHCI_AUTO_CMD_STATUS`.
pub const REG_AUTO_CMD_STATUS: u64 = 0x3C;
/// Capabilities (read only here; the Aspeed controller's mirror registers set them):
/// `SDHCI_CAPABILITIES`.
pub const REG_CAPABILITIES: u64 = 0x40;
/// Capabilities, upper word: `SDHCI_CAPABILITIES_1`.
pub const REG_CAPABILITIES_1: u64 = 0x44;
/// Maximum current capabilities: `SDHCI_MAX_CURRENT`.
pub const REG_MAX_CURRENT: u64 = 0x48;
/// Force event for error status (write only): `SDHCI_SET_ACMD12_ERROR`.
pub const REG_FORCE_EVENT: u64 = 0x50;
/// ADMA error status: `SDHCI_ADMA_ERROR`.
pub const REG_ADMA_ERROR: u64 = 0x54;
/// ADMA system address: `SDHCI_ADMA_ADDRESS`.
pub const REG_ADMA_ADDRESS: u64 = 0x58;
/// Slot interrupt status (read only): `SDHCI_SLOT_INT_STATUS`.
pub const REG_SLOT_INT_STATUS: u64 = 0xFC;
/// Host controller version (read only): `SDHCI_HOST_VERSION`.
pub const REG_HOST_VERSION: u64 = 0xFE;

/// Transfer mode: DMA enable: `SDHCI_TRNS_DMA`.
pub const TRNS_DMA: u16 = 1 << 0;
/// Transfer mode: block count enable: `SDHCI_TRNS_BLK_CNT_EN`.
pub const TRNS_BLK_CNT_EN: u16 = 1 << 1;
/// Transfer mode: Auto CMD12 after the transfer: `SDHCI_TRNS_AUTO_CMD12`.
pub const TRNS_AUTO_CMD12: u16 = 1 << 2;
/// Transfer mode: card to host: `SDHCI_TRNS_READ`.
pub const TRNS_READ: u16 = 1 << 4;
/// Transfer mode: multiple blocks: `SDHCI_TRNS_MULTI`.
pub const TRNS_MULTI: u16 = 1 << 5;

/// Command: response type field (0 none, 1 136 bits, 2 48 bits, 3 48 bits with busy):
/// `SDHCI_CMD_RESP_MASK`.
pub const CMD_RESP_MASK: u16 = 0x03;
/// Command: response type 136 bits: `SDHCI_CMD_RESP_LONG`.
pub const CMD_RESP_LONG: u16 = 0x01;
/// Command: response type 48 bits with busy (R1b): `SDHCI_CMD_RESP_SHORT_BUSY`.
pub const CMD_RESP_SHORT_BUSY: u16 = 0x03;
/// Command: data present: `SDHCI_CMD_DATA`.
pub const CMD_DATA: u16 = 1 << 5;
/// Command: command type abort (CMD12, CMD52 abort): `SDHCI_CMD_ABORTCMD`.
pub const CMD_TYPE_ABORT: u16 = 0xC0;

/// Present state: command inhibit (CMD): `SDHCI_CMD_INHIBIT`.
pub const PS_CMD_INHIBIT: u32 = 1 << 0;
/// Present state: command inhibit (DAT): `SDHCI_DATA_INHIBIT`.
pub const PS_DATA_INHIBIT: u32 = 1 << 1;
/// Present state: DAT line active: `SDHCI_DOING_WRITE` / `SDHCI_DOING_READ` summary.
pub const PS_DAT_ACTIVE: u32 = 1 << 2;
/// Present state: write transfer active: `SDHCI_DOING_WRITE`.
pub const PS_WRITE_ACTIVE: u32 = 1 << 8;
/// Present state: read transfer active: `SDHCI_DOING_READ`.
pub const PS_READ_ACTIVE: u32 = 1 << 9;
/// Present state: buffer write enable: `SDHCI_SPACE_AVAILABLE`.
pub const PS_BUFFER_WRITE: u32 = 1 << 10;
/// Present state: buffer read enable: `SDHCI_DATA_AVAILABLE`.
pub const PS_BUFFER_READ: u32 = 1 << 11;
/// Present state: card inserted: `SDHCI_CARD_PRESENT`.
pub const PS_CARD_INSERTED: u32 = 1 << 16;
/// Present state: card state stable: `SDHCI_CARD_STATE_STABLE`.
pub const PS_CARD_STABLE: u32 = 1 << 17;
/// Present state: card detect pin level: `SDHCI_CARD_DETECT_PIN_LEVEL`.
pub const PS_CARD_DETECT_PIN: u32 = 1 << 18;
/// Present state: write protect pin level (1: writable, unless the board inverts it):
/// `SDHCI_WRITE_PROTECT`.
pub const PS_WRITE_PROTECT_PIN: u32 = 1 << 19;
/// Present state: DAT[3:0] line levels: `SDHCI_DATA_LVL_MASK`.
pub const PS_DAT_LEVELS: u32 = 0xF << 20;
/// Present state: CMD line level: `SDHCI_CMD_LVL`.
pub const PS_CMD_LEVEL: u32 = 1 << 24;

/// Host control: DMA select field (bits 4:3): `SDHCI_CTRL_DMA_MASK`.
pub const HOST_CTRL_DMA_MASK: u8 = 0x18;
/// Host control: ADMA2 with 32-bit addresses: `SDHCI_CTRL_ADMA32`.
pub const HOST_CTRL_DMA_ADMA32: u8 = 0x10;

/// Clock control: internal clock enable: `SDHCI_CLOCK_INT_EN`.
pub const CLOCK_INT_EN: u16 = 1 << 0;
/// Clock control: internal clock stable: `SDHCI_CLOCK_INT_STABLE`.
pub const CLOCK_INT_STABLE: u16 = 1 << 1;

/// Software reset: all: `SDHCI_RESET_ALL`.
pub const RESET_ALL: u8 = 1 << 0;
/// Software reset: the CMD line: `SDHCI_RESET_CMD`.
pub const RESET_CMD: u8 = 1 << 1;
/// Software reset: the DAT line: `SDHCI_RESET_DATA`.
pub const RESET_DATA: u8 = 1 << 2;

/// Interrupt: command complete: `SDHCI_INT_RESPONSE`.
pub const INT_COMMAND_COMPLETE: u16 = 1 << 0;
/// Interrupt: transfer complete: `SDHCI_INT_DATA_END`.
pub const INT_TRANSFER_COMPLETE: u16 = 1 << 1;
/// Interrupt: DMA (an SDMA buffer boundary, an ADMA interrupt attribute): `SDHCI_INT_DMA_END`.
pub const INT_DMA: u16 = 1 << 3;
/// Interrupt: buffer write ready: `SDHCI_INT_SPACE_AVAIL`.
pub const INT_BUFFER_WRITE_READY: u16 = 1 << 4;
/// Interrupt: buffer read ready: `SDHCI_INT_DATA_AVAIL`.
pub const INT_BUFFER_READ_READY: u16 = 1 << 5;
/// Interrupt: card inserted: `SDHCI_INT_CARD_INSERT`.
pub const INT_CARD_INSERT: u16 = 1 << 6;
/// Interrupt: error summary (read only: any error status bit): `SDHCI_INT_ERROR`.
pub const INT_ERROR: u16 = 1 << 15;

/// Error: command timeout: `SDHCI_INT_TIMEOUT >> 16`.
pub const ERR_COMMAND_TIMEOUT: u16 = 1 << 0;
/// Error: data timeout: `SDHCI_INT_DATA_TIMEOUT >> 16`.
pub const ERR_DATA_TIMEOUT: u16 = 1 << 4;
/// Error: Auto CMD12: `SDHCI_INT_AUTO_CMD_ERR >> 16`.
pub const ERR_AUTO_CMD: u16 = 1 << 8;
/// Error: ADMA: `SDHCI_INT_ADMA_ERROR >> 16`.
pub const ERR_ADMA: u16 = 1 << 9;

/// ADMA2 descriptor attribute: valid.
pub const ADMA_VALID: u16 = 1 << 0;
/// ADMA2 descriptor attribute: the last descriptor.
pub const ADMA_END: u16 = 1 << 1;
/// ADMA2 descriptor attribute: raise the DMA interrupt when done.
pub const ADMA_INT: u16 = 1 << 2;
/// ADMA2 descriptor action field (bits 5:4): 0 nop, 2 transfer, 3 link.
pub const ADMA_ACT_MASK: u16 = 0x30;
/// ADMA2 action: transfer the data at the address.
pub const ADMA_ACT_TRAN: u16 = 0x20;
/// ADMA2 action: the address is the next descriptor table.
pub const ADMA_ACT_LINK: u16 = 0x30;

/// Host controller version 2.00 (`SDHCI_SPEC_200`), vendor 0.
pub const HOST_VERSION_200: u16 = 0x0001;
/// Most ADMA2 descriptors one transfer follows before it is refused as a loop.
pub const MAX_ADMA_DESCRIPTORS: usize = 1 << 16;

/// A command's response, as a card sends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Response {
    /// R1, R1b, R3, R6, R7: the 32-bit field.
    Short(u32),
    /// R2: the 128-bit CID or CSD (bits 127:0, CRC7 and end bit in the low byte),
    /// most significant byte first.
    Long([u8; 16]),
}

/// A card on a slot's bus (an SD card, an eMMC device).
pub trait SdBus {
    /// Runs command `index` with `arg`; `None` is no response (a command timeout).
    fn command(&mut self, index: u8, arg: u32) -> Option<Response>;
    /// Copies bytes of the current read transfer into `buf`; returns how many.
    fn read_data(&mut self, buf: &mut [u8]) -> usize;
    /// Takes bytes of the current write transfer; returns how many.
    fn write_data(&mut self, data: &[u8]) -> usize;
    /// The card's state for a snapshot (its registers and transfer, not the bytes it stores),
    /// as [`Device::save_state`] gives a device's. `None`: the card has no snapshot support,
    /// and neither has the slot holding it.
    fn save_state(&self) -> Option<DeviceState> {
        None
    }
    /// Puts the card into a state [`SdBus::save_state`] returned, keeping its storage. A state
    /// of another kind or format version, or one that does not fit the card (another size), is
    /// refused and the card is left unchanged.
    fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        Err(StateError::unsupported(&state.kind))
    }
}

/// Where a data transfer is.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Transfer {
    /// Card to host.
    pub read: bool,
    /// Bytes per block.
    pub block_size: usize,
    /// Blocks still to move (`None`: until CMD12).
    pub blocks_left: Option<u32>,
    /// The block in the buffer (PIO) and how far the host is in it.
    pub buffer: Vec<u8>,
    /// Position in `buffer`.
    pub pos: usize,
    /// Auto CMD12 at the end.
    pub auto_cmd12: bool,
    /// DMA paused at an SDMA boundary (resumes at the next address write).
    pub sdma_paused: bool,
    /// DMA transfer (else PIO).
    pub dma: bool,
}

/// One slot's registers and transfer: plain data, for snapshots.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SlotState {
    /// The register bytes.
    pub regs: Vec<u8>,
    /// The transfer in progress.
    pub transfer: Option<Transfer>,
}

/// What a slot saves ([`SLOT_STATE_KIND`]; also each slot of an [`AspeedSdc`]'s state).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct SavedSlot {
    /// The registers and the transfer in progress.
    registers: SlotState,
    /// The capabilities register pair.
    capabilities: u64,
    /// The card in the slot, if there was one.
    card: Option<SavedCard>,
}

/// A card in a saved slot.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct SavedCard {
    /// Its write-protect tab (checked on load: it is how the card was inserted).
    read_only: bool,
    /// Its own state ([`SdBus::save_state`]).
    state: DeviceState,
}

/// One SDHCI slot.
pub struct Sdhci {
    name: String,
    regs: [u8; SLOT_REGS_SIZE as usize],
    capabilities: u64,
    card: Option<Box<dyn SdBus>>,
    write_protected: bool,
    write_protect_inverted: bool,
    memory: Rc<dyn GuestMemory>,
    transfer: Option<Transfer>,
    dma_error_logged: bool,
    unimp: UnimplementedLog,
}

/// The bytes a register write stores where it is written (the rest are read only,
/// written 1 to clear, or act on write).
fn plain_byte(offset: usize) -> bool {
    matches!(offset, 0x00..=0x0F | 0x28..=0x2E | 0x34..=0x3B | 0x3E..=0x3F | 0x58..=0x5F)
}

impl Sdhci {
    /// A slot called `name` (for logs) whose DMA reaches `memory`, with `capabilities`.
    pub fn new(name: &str, capabilities: u64, memory: Rc<dyn GuestMemory>) -> Self {
        let mut s = Self {
            name: name.to_string(),
            regs: [0; SLOT_REGS_SIZE as usize],
            capabilities,
            card: None,
            write_protected: false,
            write_protect_inverted: false,
            memory,
            transfer: None,
            dma_error_logged: false,
            unimp: UnimplementedLog::new(name),
        };
        s.reset_all();
        s
    }

    /// Puts `card` in the slot (present from power-on); `read_only` is its write-protect tab.
    pub fn insert(&mut self, card: Box<dyn SdBus>, read_only: bool) {
        self.card = Some(card);
        self.write_protected = read_only;
    }

    /// Whether a card is in the slot.
    pub fn has_card(&self) -> bool {
        self.card.is_some()
    }

    /// The board wires the write-protect pin inverted (the device tree's `sdhci,wp-inverted`):
    /// the pin reads high for a write-protected card.
    pub fn set_write_protect_inverted(&mut self, inverted: bool) {
        self.write_protect_inverted = inverted;
    }

    /// The capabilities register pair (the Aspeed controller's mirror writes them).
    pub fn capabilities(&self) -> u64 {
        self.capabilities
    }

    /// Sets the capabilities register pair.
    pub fn set_capabilities(&mut self, caps: u64) {
        self.capabilities = caps;
    }

    /// The registers and transfer.
    pub fn state(&self) -> SlotState {
        SlotState {
            regs: self.regs.to_vec(),
            transfer: self.transfer.clone(),
        }
    }

    /// Restores the registers and transfer from `state`.
    pub fn restore(&mut self, state: &SlotState) {
        let n = state.regs.len().min(self.regs.len());
        self.regs[..n].copy_from_slice(&state.regs[..n]);
        self.transfer = state.transfer.clone();
    }

    /// The slot's saved form with its card's state; `None` if the card cannot be saved.
    pub(crate) fn saved(&self) -> Option<SavedSlot> {
        let card = match &self.card {
            Some(card) => Some(SavedCard {
                read_only: self.write_protected,
                state: card.save_state()?,
            }),
            None => None,
        };
        Some(SavedSlot {
            registers: self.state(),
            capabilities: self.capabilities,
            card,
        })
    }

    /// Whether `saved` fits this slot: its register block, its transfer, and a card inserted
    /// as it was saved (or none where none was).
    pub(crate) fn check_saved(&self, saved: &SavedSlot) -> Result<(), StateError> {
        let name = &self.name;
        let regs = &saved.registers.regs;
        if regs.len() != self.regs.len() {
            return Err(StateError(format!(
                "{name}: the saved slot has {} register bytes, this one {}",
                regs.len(),
                self.regs.len()
            )));
        }
        if let Some(t) = &saved.registers.transfer {
            // What the transfer code relies on: a block of 1 to 4095 bytes, the buffer one
            // block long, the position inside it.
            if !(1..=0xFFF).contains(&t.block_size)
                || t.buffer.len() != t.block_size
                || t.pos > t.block_size
            {
                return Err(StateError(format!(
                    "{name}: the saved transfer is inconsistent (block of {} bytes, buffer of \
                     {}, position {})",
                    t.block_size,
                    t.buffer.len(),
                    t.pos
                )));
            }
        }
        let tab = |read_only: bool| if read_only { "read-only" } else { "writable" };
        match (&saved.card, &self.card) {
            (Some(card), None) => Err(StateError(format!(
                "{name}: the saved state has a card in this slot ({}), but no card is \
                 inserted here",
                card.state.kind
            ))),
            (None, Some(_)) => Err(StateError(format!(
                "{name}: the saved state has this slot empty, but a card is inserted here"
            ))),
            (Some(card), Some(_)) if card.read_only != self.write_protected => {
                Err(StateError(format!(
                    "{name}: the saved card was inserted {}, this one is {}",
                    tab(card.read_only),
                    tab(self.write_protected)
                )))
            }
            _ => Ok(()),
        }
    }

    /// Loads the saved card's state into the inserted card ([`Sdhci::check_saved`] first); on
    /// an error the card is unchanged.
    pub(crate) fn load_card(&mut self, saved: &SavedSlot) -> Result<(), StateError> {
        if let (Some(s), Some(card)) = (&saved.card, self.card.as_mut()) {
            card.load_state(&s.state)
                .map_err(|e| StateError(format!("{}: the card: {e}", self.name)))?;
        }
        Ok(())
    }

    /// The inserted card's current state, to put it back with [`Sdhci::reload_card`].
    pub(crate) fn card_state(&self) -> Option<DeviceState> {
        self.card.as_ref().and_then(|c| c.save_state())
    }

    /// Puts the inserted card back into `state`, which it gave ([`Sdhci::card_state`]).
    pub(crate) fn reload_card(&mut self, state: &DeviceState) {
        if let Some(card) = self.card.as_mut() {
            if let Err(e) = card.load_state(state) {
                log::warn!("{}: the card refused its own state back: {e}", self.name);
            }
        }
    }

    /// Takes the registers, transfer and capabilities of `saved` ([`Sdhci::check_saved`]
    /// first).
    pub(crate) fn apply_saved(&mut self, saved: &SavedSlot) {
        self.restore(&saved.registers);
        self.capabilities = saved.capabilities;
    }

    fn r16(&self, offset: u64) -> u16 {
        let o = offset as usize;
        u16::from_le_bytes([self.regs[o], self.regs[o + 1]])
    }

    fn w16(&mut self, offset: u64, v: u16) {
        let o = offset as usize;
        self.regs[o..o + 2].copy_from_slice(&v.to_le_bytes());
    }

    fn r32(&self, offset: u64) -> u32 {
        let o = offset as usize;
        u32::from_le_bytes(self.regs[o..o + 4].try_into().unwrap())
    }

    fn w32(&mut self, offset: u64, v: u32) {
        let o = offset as usize;
        self.regs[o..o + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// Whether the interrupt output is high.
    pub fn irq_level(&self) -> bool {
        let normal = self.r16(REG_INT_STATUS) & self.r16(REG_SIGNAL_ENABLE) & !INT_ERROR;
        let error = self.r16(REG_ERR_STATUS) & self.r16(REG_SIGNAL_ENABLE + 2);
        normal != 0 || error != 0
    }

    /// Latches normal interrupt status bits (where their status enable is set).
    fn raise(&mut self, bits: u16) {
        let v = self.r16(REG_INT_STATUS) | (bits & self.r16(REG_INT_ENABLE));
        self.w16(REG_INT_STATUS, v);
        self.update_summary();
    }

    /// Latches error interrupt status bits (where their status enable is set).
    fn raise_error(&mut self, bits: u16) {
        let v = self.r16(REG_ERR_STATUS) | (bits & self.r16(REG_INT_ENABLE + 2));
        self.w16(REG_ERR_STATUS, v);
        self.update_summary();
    }

    fn update_summary(&mut self) {
        let mut n = self.r16(REG_INT_STATUS) & !INT_ERROR;
        if self.r16(REG_ERR_STATUS) != 0 {
            n |= INT_ERROR;
        }
        self.w16(REG_INT_STATUS, n);
    }

    fn reset_all(&mut self) {
        self.regs = [0; SLOT_REGS_SIZE as usize];
        self.w16(REG_HOST_VERSION, HOST_VERSION_200);
        self.transfer = None;
    }

    fn present_state(&self) -> u32 {
        let mut ps = PS_DAT_LEVELS | PS_CMD_LEVEL | PS_CARD_STABLE;
        if self.card.is_some() {
            ps |= PS_CARD_INSERTED | PS_CARD_DETECT_PIN;
        }
        // The pin is high for a writable card, unless the board inverts it.
        if self.write_protected == self.write_protect_inverted {
            ps |= PS_WRITE_PROTECT_PIN;
        }
        if let Some(t) = &self.transfer {
            ps |= PS_DATA_INHIBIT | PS_DAT_ACTIVE;
            ps |= if t.read {
                PS_READ_ACTIVE
            } else {
                PS_WRITE_ACTIVE
            };
            if !t.dma {
                if t.read && t.pos < t.buffer.len() {
                    ps |= PS_BUFFER_READ;
                }
                if !t.read && t.pos < t.block_size {
                    ps |= PS_BUFFER_WRITE;
                }
            }
        }
        ps
    }

    fn read_byte(&mut self, offset: usize) -> u8 {
        match offset {
            0x24..=0x27 => self.present_state().to_le_bytes()[offset - 0x24],
            0x40..=0x47 => self.capabilities.to_le_bytes()[offset - 0x40],
            0xFC..=0xFD => u16::from(self.irq_level()).to_le_bytes()[offset - 0xFC],
            0x50..=0x53 => 0,
            0x00..=0x5F | 0xFE..=0xFF => self.regs[offset],
            _ => {
                self.unimp.read(offset as u64, 1);
                0
            }
        }
    }

    /// The next `size` bytes of the buffer data port (PIO reads).
    fn read_buffer(&mut self, size: u8) -> u64 {
        let Some(t) = self.transfer.as_mut().filter(|t| t.read && !t.dma) else {
            return 0;
        };
        let mut v = 0u64;
        for i in 0..usize::from(size.min(8)) {
            if t.pos < t.buffer.len() {
                v |= u64::from(t.buffer[t.pos]) << (8 * i);
                t.pos += 1;
            }
        }
        if t.pos >= t.buffer.len() {
            self.next_read_block();
        }
        v
    }

    /// Takes `size` bytes into the buffer data port (PIO writes).
    fn write_buffer(&mut self, size: u8, value: u64) {
        let Some(t) = self.transfer.as_mut().filter(|t| !t.read && !t.dma) else {
            return;
        };
        for i in 0..usize::from(size.min(8)) {
            if t.pos < t.block_size {
                t.buffer[t.pos] = (value >> (8 * i)) as u8;
                t.pos += 1;
            }
        }
        if t.pos >= t.block_size {
            let block = std::mem::take(&mut t.buffer);
            let taken = self.card.as_mut().map_or(0, |c| c.write_data(&block));
            if taken < block.len() {
                self.data_error();
                return;
            }
            let t = self.transfer.as_mut().expect("a write transfer");
            t.blocks_left = t.blocks_left.map(|n| n.saturating_sub(1));
            if t.blocks_left == Some(0) {
                self.finish_transfer();
            } else {
                t.buffer = vec![0; t.block_size];
                t.pos = 0;
                self.raise(INT_BUFFER_WRITE_READY);
            }
        }
    }

    /// Loads the next block of a PIO read, or ends the transfer.
    fn next_read_block(&mut self) {
        let Some(t) = self.transfer.as_mut() else {
            return;
        };
        if t.blocks_left == Some(0) {
            self.finish_transfer();
            return;
        }
        let mut block = vec![0; t.block_size];
        let got = self.card.as_mut().map_or(0, |c| c.read_data(&mut block));
        if got < block.len() {
            self.data_error();
            return;
        }
        let t = self.transfer.as_mut().expect("a read transfer");
        t.blocks_left = t.blocks_left.map(|n| n - 1);
        t.buffer = block;
        t.pos = 0;
        self.raise(INT_BUFFER_READ_READY);
    }

    fn data_error(&mut self) {
        self.transfer = None;
        self.raise_error(ERR_DATA_TIMEOUT);
    }

    fn finish_transfer(&mut self) {
        let auto = self.transfer.as_ref().is_some_and(|t| t.auto_cmd12);
        self.transfer = None;
        if auto {
            match self.card.as_mut().and_then(|c| c.command(12, 0)) {
                Some(Response::Short(r)) => self.w32(REG_RESPONSE + 12, r),
                _ => {
                    self.w16(REG_AUTO_CMD_STATUS, 1);
                    self.raise_error(ERR_AUTO_CMD);
                }
            }
        }
        self.raise(INT_TRANSFER_COMPLETE);
    }

    fn send_command(&mut self) {
        let cmd = self.r16(REG_COMMAND);
        let index = ((cmd >> 8) & 0x3F) as u8;
        let arg = self.r32(REG_ARGUMENT);
        let mode = self.r16(REG_TRANSFER_MODE);
        if cmd & CMD_TYPE_ABORT == CMD_TYPE_ABORT {
            self.transfer = None;
        }
        let Some(resp) = self.card.as_mut().and_then(|c| c.command(index, arg)) else {
            self.raise_error(ERR_COMMAND_TIMEOUT);
            return;
        };
        match resp {
            Response::Short(r) => self.w32(REG_RESPONSE, r),
            Response::Long(r2) => {
                // Bits 127:8 of the register (no CRC) in the 120 low bits of the four words.
                for i in 0..15 {
                    self.regs[REG_RESPONSE as usize + i] = r2[14 - i];
                }
                self.regs[REG_RESPONSE as usize + 15] = 0;
            }
        }
        if cmd & CMD_RESP_MASK != CMD_RESP_LONG && matches!(resp, Response::Long(_)) {
            log::debug!(
                "{}: CMD{index} answered R2 to a short response type",
                self.name
            );
        }
        self.raise(INT_COMMAND_COMPLETE);
        if cmd & CMD_DATA == 0 {
            // R1b: the card's busy ends at once, and the controller says so with transfer
            // complete (Linux waits for it: `host->data_cmd` with MMC_RSP_BUSY).
            if cmd & CMD_RESP_MASK == CMD_RESP_SHORT_BUSY {
                self.raise(INT_TRANSFER_COMPLETE);
            }
            return;
        }
        let block_size = usize::from(self.r16(REG_BLOCK_SIZE) & 0xFFF).max(1);
        let count = self.r16(REG_BLOCK_COUNT);
        let blocks = if mode & TRNS_MULTI == 0 {
            Some(1)
        } else if mode & TRNS_BLK_CNT_EN != 0 {
            Some(u32::from(count))
        } else {
            None
        };
        if blocks == Some(0) {
            self.raise(INT_TRANSFER_COMPLETE);
            return;
        }
        let read = mode & TRNS_READ != 0;
        self.transfer = Some(Transfer {
            read,
            block_size,
            blocks_left: blocks,
            buffer: vec![0; block_size],
            pos: if read && mode & TRNS_DMA == 0 {
                block_size
            } else {
                0
            },
            auto_cmd12: mode & TRNS_AUTO_CMD12 != 0 && mode & TRNS_MULTI != 0,
            sdma_paused: false,
            dma: mode & TRNS_DMA != 0,
        });
        if mode & TRNS_DMA != 0 {
            if self.regs[REG_HOST_CONTROL as usize] & HOST_CTRL_DMA_MASK == HOST_CTRL_DMA_ADMA32 {
                self.run_adma();
            } else if self.regs[REG_HOST_CONTROL as usize] & HOST_CTRL_DMA_MASK == 0 {
                self.run_sdma();
            } else {
                log::warn!(target: "guest_errors", "{}: DMA select {:#x} is not offered (ADMA2 32-bit and SDMA are)", self.name, self.regs[REG_HOST_CONTROL as usize] & HOST_CTRL_DMA_MASK);
                self.transfer = None;
                self.raise_error(ERR_ADMA);
            }
        } else if read {
            self.next_read_block();
        } else {
            self.raise(INT_BUFFER_WRITE_READY);
        }
    }

    /// Moves one block between the card and guest memory at `addr`; false on an error (the
    /// transfer has ended).
    fn dma_block(&mut self, addr: u64, len: usize) -> bool {
        let Some(t) = self.transfer.as_ref() else {
            return false;
        };
        let read = t.read;
        let mut buf = vec![0u8; len];
        let ok = if read {
            let got = self.card.as_mut().map_or(0, |c| c.read_data(&mut buf));
            got == len && self.memory.write(addr, &buf).is_ok()
        } else {
            self.memory.read(addr, &mut buf).is_ok()
                && self.card.as_mut().map_or(0, |c| c.write_data(&buf)) == len
        };
        if !ok {
            if !self.dma_error_logged {
                self.dma_error_logged = true;
                log::warn!(target: "guest_errors", "{}: DMA of {len} bytes at {addr:#x} failed (memory or card)", self.name);
            }
            self.data_error();
        }
        ok
    }

    /// SDMA: blocks from the system address until the end or the next buffer boundary.
    fn run_sdma(&mut self) {
        let boundary = 4096u64 << ((self.r16(REG_BLOCK_SIZE) >> 12) & 7);
        loop {
            let Some(t) = self.transfer.as_ref() else {
                return;
            };
            if t.blocks_left == Some(0) {
                self.finish_transfer();
                return;
            }
            let len = t.block_size;
            let addr = u64::from(self.r32(REG_SDMA_ADDRESS));
            if !self.dma_block(addr, len) {
                return;
            }
            let next = addr + len as u64;
            self.w32(REG_SDMA_ADDRESS, next as u32);
            let t = self.transfer.as_mut().expect("a DMA transfer");
            t.blocks_left = t.blocks_left.map(|n| n - 1);
            if t.blocks_left == Some(0) {
                self.finish_transfer();
                return;
            }
            if next.is_multiple_of(boundary) {
                t.sdma_paused = true;
                self.raise(INT_DMA);
                return;
            }
        }
    }

    /// ADMA2 (32-bit): the descriptor table at the ADMA system address.
    fn run_adma(&mut self) {
        let mut desc = u64::from(self.r32(REG_ADMA_ADDRESS));
        let mut interrupt = false;
        for _ in 0..MAX_ADMA_DESCRIPTORS {
            let mut raw = [0u8; 8];
            if self.memory.read(desc, &mut raw).is_err() {
                return self.adma_error(desc);
            }
            let attr = u16::from_le_bytes([raw[0], raw[1]]);
            let len = match u16::from_le_bytes([raw[2], raw[3]]) {
                0 => 65536usize,
                n => usize::from(n),
            };
            let addr = u64::from(u32::from_le_bytes(raw[4..8].try_into().unwrap()));
            if attr & ADMA_VALID == 0 {
                return self.adma_error(desc);
            }
            interrupt |= attr & ADMA_INT != 0;
            match attr & ADMA_ACT_MASK {
                ADMA_ACT_TRAN => {
                    // The data of one descriptor is whole blocks or the rest of the transfer.
                    // A descriptor may end inside a block: `pos` is how far into it we are.
                    let mut off = 0;
                    while off < len {
                        let Some(t) = self.transfer.as_ref() else {
                            return;
                        };
                        if t.blocks_left == Some(0) {
                            break;
                        }
                        let n = (t.block_size - t.pos).min(len - off);
                        if !self.dma_block(addr + off as u64, n) {
                            return;
                        }
                        off += n;
                        let t = self.transfer.as_mut().expect("a DMA transfer");
                        t.pos += n;
                        if t.pos == t.block_size {
                            t.pos = 0;
                            t.blocks_left = t.blocks_left.map(|b| b - 1);
                        }
                    }
                    desc += 8;
                }
                ADMA_ACT_LINK => desc = addr,
                _ => desc += 8,
            }
            self.w32(REG_ADMA_ADDRESS, desc as u32);
            let done = self
                .transfer
                .as_ref()
                .is_none_or(|t| t.blocks_left == Some(0));
            if attr & ADMA_END != 0 || done {
                if interrupt {
                    self.raise(INT_DMA);
                }
                if self.transfer.is_some() {
                    self.finish_transfer();
                }
                return;
            }
        }
        self.adma_error(desc);
    }

    fn adma_error(&mut self, desc: u64) {
        if !self.dma_error_logged {
            self.dma_error_logged = true;
            log::warn!(target: "guest_errors", "{}: ADMA descriptor at {desc:#x} is invalid or unreadable", self.name);
        }
        self.w32(REG_ADMA_ERROR, 1);
        self.transfer = None;
        self.raise_error(ERR_ADMA);
    }

    fn write_byte(&mut self, offset: usize, v: u8) {
        match offset {
            0x30..=0x33 => {
                // Written 1 to clear (the error summary follows the error bits).
                self.regs[offset] &= !v;
            }
            0x3C..=0x3D => self.regs[offset] &= !v,
            0x2F => {
                // Software reset: acts and clears itself.
                if v & RESET_ALL != 0 {
                    self.reset_all();
                    return;
                }
                if v & RESET_DATA != 0 {
                    self.transfer = None;
                    self.regs[0x30] &= !(INT_TRANSFER_COMPLETE
                        | INT_BUFFER_READ_READY
                        | INT_BUFFER_WRITE_READY
                        | INT_DMA) as u8;
                }
            }
            0x50..=0x53 => {
                // Force event: sets error status bits as if they happened.
                if offset >= 0x52 {
                    let bit = u16::from(v) << (8 * (offset - 0x52));
                    self.raise_error(bit);
                }
            }
            o if plain_byte(o) => self.regs[o] = v,
            0x10..=0x1F | 0x24..=0x27 | 0x40..=0x4F | 0x54..=0x57 | 0xFC..=0xFF => {}
            o => self.unimp.write(o as u64, 1, u64::from(v)),
        }
    }
}

impl Device for Sdhci {
    /// The registers, the transfer in progress, the capabilities and the card's state (not
    /// its storage); `None` if the card has no snapshot support.
    fn save_state(&self) -> Option<DeviceState> {
        Some(DeviceState::new(
            SLOT_STATE_KIND,
            SLOT_STATE_VERSION,
            &self.saved()?,
        ))
    }

    /// Refuses a state whose card does not match the slot's (a card saved and none inserted,
    /// or the reverse, another write-protect tab, a card state the card refuses). The slot
    /// has no interrupt line of its own: its controller's follows [`Sdhci::irq_level`].
    fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        let saved: SavedSlot = state.decode(SLOT_STATE_KIND, SLOT_STATE_VERSION)?;
        self.check_saved(&saved)?;
        self.load_card(&saved)?;
        self.apply_saved(&saved);
        Ok(())
    }

    fn read(&mut self, offset: u64, size: u8) -> u64 {
        if offset >= SLOT_REGS_SIZE {
            self.unimp.read(offset, size);
            return 0;
        }
        if offset & !3 == REG_BUFFER {
            return self.read_buffer(size);
        }
        let mut v = 0u64;
        for i in 0..u64::from(size.min(8)) {
            let o = offset + i;
            if o < SLOT_REGS_SIZE {
                v |= u64::from(self.read_byte(o as usize)) << (8 * i);
            }
        }
        v
    }

    fn write(&mut self, offset: u64, size: u8, value: u64) {
        if offset >= SLOT_REGS_SIZE {
            self.unimp.write(offset, size, value);
            return;
        }
        if offset & !3 == REG_BUFFER {
            self.write_buffer(size, value);
            return;
        }
        let mut command = false;
        let mut sdma_address = false;
        for i in 0..u64::from(size.min(8)) {
            let o = offset + i;
            if o >= SLOT_REGS_SIZE {
                break;
            }
            self.write_byte(o as usize, (value >> (8 * i)) as u8);
            command |= o == REG_COMMAND + 1;
            sdma_address |= o == REG_SDMA_ADDRESS + 3;
        }
        // The clock is stable as soon as it is enabled.
        let clk = self.r16(REG_CLOCK_CONTROL);
        let stable = if clk & CLOCK_INT_EN != 0 {
            clk | CLOCK_INT_STABLE
        } else {
            clk & !CLOCK_INT_STABLE
        };
        self.w16(REG_CLOCK_CONTROL, stable);
        // A status bit whose status enable is clear does not stay latched.
        let normal = self.r16(REG_INT_STATUS) & self.r16(REG_INT_ENABLE);
        self.w16(REG_INT_STATUS, normal);
        let error = self.r16(REG_ERR_STATUS) & self.r16(REG_INT_ENABLE + 2);
        self.w16(REG_ERR_STATUS, error);
        self.update_summary();
        if command {
            self.send_command();
        } else if sdma_address && self.transfer.as_ref().is_some_and(|t| t.sdma_paused) {
            if let Some(t) = self.transfer.as_mut() {
                t.sdma_paused = false;
            }
            self.run_sdma();
        }
    }

    fn reset(&mut self) {
        self.reset_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bus::{LevelRecorder, VecMemory};
    use std::cell::RefCell;

    const DRAM: u64 = 0x8000_0000;

    /// A card of 16 blocks: block-addressed reads and writes, every command logged. Its state
    /// is where it is in its data (saved as a `kind` state).
    pub(crate) struct FakeCard {
        data: Vec<u8>,
        pos: usize,
        log: CommandLog,
        kind: &'static str,
    }

    impl FakeCard {
        /// A card of kind `kind` over 16 blocks whose byte `i` is `block ^ i`.
        pub(crate) fn new(kind: &'static str, log: CommandLog) -> Self {
            Self {
                data: (0..16 * 512).map(|i| (i / 512) as u8 ^ (i as u8)).collect(),
                pos: 0,
                log,
                kind,
            }
        }
    }

    impl SdBus for FakeCard {
        fn command(&mut self, index: u8, arg: u32) -> Option<Response> {
            self.log.borrow_mut().push((index, arg));
            match index {
                2 | 9 => Some(Response::Long(std::array::from_fn(|i| i as u8 + 1))),
                17 | 18 | 24 | 25 => {
                    self.pos = arg as usize * 512;
                    Some(Response::Short(0x900))
                }
                5 => None,
                _ => Some(Response::Short(0x900)),
            }
        }
        fn read_data(&mut self, buf: &mut [u8]) -> usize {
            let n = buf.len().min(self.data.len().saturating_sub(self.pos));
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            n
        }
        fn write_data(&mut self, data: &[u8]) -> usize {
            let n = data.len().min(self.data.len().saturating_sub(self.pos));
            self.data[self.pos..self.pos + n].copy_from_slice(&data[..n]);
            self.pos += n;
            n
        }
        fn save_state(&self) -> Option<DeviceState> {
            Some(DeviceState::new(self.kind, 1, &self.pos))
        }
        fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
            self.pos = state.decode(self.kind, 1)?;
            Ok(())
        }
    }

    /// A card without snapshot support.
    struct MuteCard;
    impl SdBus for MuteCard {
        fn command(&mut self, _index: u8, _arg: u32) -> Option<Response> {
            None
        }
        fn read_data(&mut self, _buf: &mut [u8]) -> usize {
            0
        }
        fn write_data(&mut self, data: &[u8]) -> usize {
            data.len()
        }
    }

    pub(crate) type CommandLog = Rc<RefCell<Vec<(u8, u32)>>>;

    /// A slot as `sdhci_init` leaves it, with a card of kind `kind` (read only with
    /// `read_only`) or none.
    fn slot_with(
        card: Option<&'static str>,
        read_only: bool,
    ) -> (Sdhci, Rc<VecMemory>, CommandLog) {
        let memory = Rc::new(VecMemory::new(DRAM, 1 << 20));
        let mut s = Sdhci::new("sd", ASPEED_SDHCI_CAPABILITIES, memory.clone());
        let log = Rc::new(RefCell::new(Vec::new()));
        if let Some(kind) = card {
            s.insert(Box::new(FakeCard::new(kind, log.clone())), read_only);
        }
        // sdhci_init: reset, every interrupt status enabled, the ones Linux signals.
        s.write(REG_SOFTWARE_RESET, 1, u64::from(RESET_ALL));
        s.write(REG_INT_ENABLE, 4, 0x027F_00FB);
        s.write(REG_SIGNAL_ENABLE, 4, 0x027F_00FB);
        s.write(REG_CLOCK_CONTROL, 2, u64::from(CLOCK_INT_EN));
        (s, memory, log)
    }

    fn slot() -> (Sdhci, Rc<VecMemory>, CommandLog) {
        slot_with(Some("fake-card"), false)
    }

    fn cmd(s: &mut Sdhci, index: u8, arg: u32, flags: u16, mode: u16) {
        s.write(REG_ARGUMENT, 4, u64::from(arg));
        s.write(REG_TRANSFER_MODE, 2, u64::from(mode));
        s.write(REG_COMMAND, 2, u64::from((u16::from(index) << 8) | flags));
    }

    fn status(s: &mut Sdhci) -> u32 {
        s.read(REG_INT_STATUS, 4) as u32
    }

    fn ack(s: &mut Sdhci) {
        let v = status(s);
        s.write(REG_INT_STATUS, 4, u64::from(v));
    }

    #[test]
    fn reset_values_and_the_clock_as_linux_reads_them() {
        let (mut s, _, _) = slot();
        assert_eq!(s.read(REG_HOST_VERSION, 2), u64::from(HOST_VERSION_200));
        assert_eq!(s.read(REG_CAPABILITIES, 4), ASPEED_SDHCI_CAPABILITIES);
        assert_ne!(
            s.read(REG_CLOCK_CONTROL, 2) as u16 & CLOCK_INT_STABLE,
            0,
            "stable once enabled"
        );
        let ps = s.read(REG_PRESENT_STATE, 4) as u32;
        assert_ne!(ps & PS_CARD_INSERTED, 0);
        assert_ne!(ps & PS_WRITE_PROTECT_PIN, 0, "a writable card");
        s.set_write_protect_inverted(true);
        assert_eq!(
            s.read(REG_PRESENT_STATE, 4) as u32 & PS_WRITE_PROTECT_PIN,
            0,
            "sdhci,wp-inverted: low for a writable card"
        );
        s.write(REG_SOFTWARE_RESET, 1, u64::from(RESET_ALL));
        assert_eq!(s.read(REG_SOFTWARE_RESET, 1), 0, "the reset clears itself");
        assert_eq!(s.read(REG_INT_ENABLE, 4), 0);
    }

    #[test]
    fn responses_and_a_command_timeout() {
        let (mut s, _, log) = slot();
        cmd(&mut s, 13, 0x4567_0000, 0x1A, 0);
        assert_eq!(s.read(REG_RESPONSE, 4), 0x900);
        assert_eq!(status(&mut s) & 0xFFFF, u32::from(INT_COMMAND_COMPLETE));
        ack(&mut s);
        // R2: bits 127:8 in the 120 low bits of the response words.
        cmd(&mut s, 2, 0, 0x09, 0);
        assert_eq!(s.read(REG_RESPONSE + 12, 4), 0x0001_0203);
        assert_eq!(s.read(REG_RESPONSE, 4), 0x0C0D_0E0F);
        ack(&mut s);
        // R1b (CMD7): transfer complete marks the end of the busy.
        cmd(&mut s, 7, 0x4567_0000, 0x1B, 0);
        assert_eq!(
            status(&mut s) as u16,
            INT_COMMAND_COMPLETE | INT_TRANSFER_COMPLETE
        );
        ack(&mut s);
        cmd(&mut s, 5, 0, 0x02, 0);
        let st = status(&mut s);
        assert_eq!(st >> 16, u32::from(ERR_COMMAND_TIMEOUT));
        assert_ne!(st & u32::from(INT_ERROR), 0, "the error summary");
        ack(&mut s);
        assert_eq!(status(&mut s), 0);
        assert_eq!(
            log.borrow().iter().map(|c| c.0).collect::<Vec<_>>(),
            [13, 2, 7, 5]
        );
    }

    #[test]
    fn pio_read_and_write_through_the_buffer_port() {
        let (mut s, _, _) = slot();
        s.write(REG_BLOCK_SIZE, 2, 512);
        s.write(REG_BLOCK_COUNT, 2, 1);
        cmd(&mut s, 17, 3, 0x3A, TRNS_READ);
        assert_ne!(status(&mut s) & u32::from(INT_BUFFER_READ_READY), 0);
        assert_ne!(s.read(REG_PRESENT_STATE, 4) as u32 & PS_BUFFER_READ, 0);
        ack(&mut s);
        let mut block = Vec::new();
        for _ in 0..128 {
            block.extend_from_slice(&(s.read(REG_BUFFER, 4) as u32).to_le_bytes());
        }
        assert_eq!(block[0], 3);
        assert_eq!(block[5], 3 ^ 5);
        assert_ne!(status(&mut s) & u32::from(INT_TRANSFER_COMPLETE), 0);
        assert_eq!(s.read(REG_PRESENT_STATE, 4) as u32 & PS_DATA_INHIBIT, 0);
        ack(&mut s);
        // Two blocks written by PIO, then read back by DMA below.
        s.write(REG_BLOCK_COUNT, 2, 2);
        cmd(
            &mut s,
            25,
            4,
            0x3A,
            TRNS_MULTI | TRNS_BLK_CNT_EN | TRNS_AUTO_CMD12,
        );
        for _ in 0..2 {
            assert_ne!(status(&mut s) & u32::from(INT_BUFFER_WRITE_READY), 0);
            ack(&mut s);
            for _ in 0..128 {
                s.write(REG_BUFFER, 4, 0xA5A5_A5A5);
            }
        }
        assert_ne!(status(&mut s) & u32::from(INT_TRANSFER_COMPLETE), 0);
    }

    #[test]
    fn adma2_multi_block_read_with_a_link_and_auto_cmd12() {
        let (mut s, memory, log) = slot();
        s.write(REG_HOST_CONTROL, 1, u64::from(HOST_CTRL_DMA_ADMA32));
        // Table 1 at 0x1000: 512 bytes to 0x10000, then a link to table 2 at 0x2000: 1024
        // bytes to 0x20000, end, interrupt.
        let desc = |attr: u16, len: u16, addr: u32| {
            let mut d = attr.to_le_bytes().to_vec();
            d.extend_from_slice(&len.to_le_bytes());
            d.extend_from_slice(&addr.to_le_bytes());
            d
        };
        let mut t1 = desc(ADMA_VALID | ADMA_ACT_TRAN, 512, 0x8001_0000);
        t1.extend(desc(ADMA_VALID | ADMA_ACT_LINK, 0, 0x8000_2000));
        memory.write(DRAM + 0x1000, &t1).unwrap();
        let t2 = desc(
            ADMA_VALID | ADMA_ACT_TRAN | ADMA_END | ADMA_INT,
            1024,
            0x8002_0000,
        );
        memory.write(DRAM + 0x2000, &t2).unwrap();
        s.write(REG_ADMA_ADDRESS, 4, 0x8000_1000);
        s.write(REG_BLOCK_SIZE, 2, 512);
        s.write(REG_BLOCK_COUNT, 2, 3);
        cmd(
            &mut s,
            18,
            1,
            0x3A,
            TRNS_DMA | TRNS_READ | TRNS_MULTI | TRNS_BLK_CNT_EN | TRNS_AUTO_CMD12,
        );
        let st = status(&mut s) as u16;
        assert_eq!(
            st,
            INT_COMMAND_COMPLETE | INT_TRANSFER_COMPLETE | INT_DMA,
            "{st:#x}"
        );
        let mut b = [0u8; 2];
        memory.read(DRAM + 0x10000, &mut b).unwrap();
        assert_eq!(b, [1, 1 ^ 1]);
        memory.read(DRAM + 0x20000 + 512, &mut b).unwrap();
        assert_eq!(b, [3, 3 ^ 1], "block 3 after the link");
        assert_eq!(log.borrow().last(), Some(&(12, 0)), "Auto CMD12");
    }

    #[test]
    fn sdma_pauses_at_each_boundary_until_the_next_address() {
        let (mut s, memory, _) = slot();
        memory.write(DRAM + 0x0F00, &[0x11; 0x200]).unwrap();
        memory.write(DRAM + 0x1100, &[0x22; 0x200]).unwrap();
        // 4 KiB boundary (field 0); the first block ends at 0x1000 + 0x100 - crosses? It starts
        // at 0xE00 and ends at 0x1000: a boundary.
        s.write(REG_BLOCK_SIZE, 2, 512);
        s.write(REG_BLOCK_COUNT, 2, 2);
        s.write(REG_SDMA_ADDRESS, 4, DRAM + 0xE00);
        cmd(&mut s, 25, 0, 0x3A, TRNS_DMA | TRNS_MULTI | TRNS_BLK_CNT_EN);
        let st = status(&mut s) as u16;
        assert_eq!(st, INT_COMMAND_COMPLETE | INT_DMA, "paused: {st:#x}");
        assert_ne!(s.read(REG_PRESENT_STATE, 4) as u32 & PS_DATA_INHIBIT, 0);
        ack(&mut s);
        s.write(REG_SDMA_ADDRESS, 4, DRAM + 0x1100);
        assert_eq!(status(&mut s) as u16, INT_TRANSFER_COMPLETE);
    }

    #[test]
    fn the_interrupt_follows_status_and_signal_enables() {
        let (mut s, _, _) = slot();
        let irq = LevelRecorder::new();
        let memory = Rc::new(VecMemory::new(DRAM, 4096));
        let mut sdc = AspeedSdc::new("sdc", 2, irq.line(0), memory);
        let log = Rc::new(RefCell::new(Vec::new()));
        sdc.insert(1, Box::new(FakeCard::new("fake-card", log)), false);
        assert_eq!(
            sdc.read(REG_SDC_INFO, 4) as u32,
            SDC_INFO_SLOT0 | SDC_INFO_SLOT1
        );
        // Linux's 1.8 V capability for slot 1 through the mirror.
        let caps = sdc.read(0x200 + REG_CAPABILITIES, 4);
        sdc.write(REG_SDC_SLOT1_CAP, 4, caps | 1 << 26);
        assert_eq!(sdc.read(0x200 + REG_CAPABILITIES, 4), caps | 1 << 26);
        sdc.write(0x200 + REG_INT_ENABLE, 4, 0x027F_00FB);
        sdc.write(0x200 + REG_ARGUMENT, 4, 0);
        sdc.write(0x200 + REG_COMMAND, 2, 0x0D1A);
        assert!(!irq.level(0), "not signalled yet");
        sdc.write(0x200 + REG_SIGNAL_ENABLE, 4, 0x027F_00FB);
        assert!(irq.level(0));
        assert_eq!(sdc.read(REG_SDC_IRQ_STATUS, 4), 0b10);
        sdc.write(0x200 + REG_INT_STATUS, 4, 1);
        assert!(!irq.level(0));
        // A slot without a card: a command times out.
        s.card = None;
        cmd(&mut s, 0, 0, 0, 0);
        assert_eq!(status(&mut s) >> 16, u32::from(ERR_COMMAND_TIMEOUT));
    }

    /// Reads `words` words from the buffer port.
    fn pio_words(s: &mut Sdhci, words: usize) -> Vec<u8> {
        (0..words)
            .flat_map(|_| (s.read(REG_BUFFER, 4) as u32).to_le_bytes())
            .collect()
    }

    #[test]
    fn a_saved_slot_loads_into_a_fresh_one_mid_transfer_with_its_card() {
        let (mut s, _, _) = slot();
        s.write(REG_BLOCK_SIZE, 2, 512);
        s.write(REG_BLOCK_COUNT, 2, 3);
        s.set_capabilities(ASPEED_SDHCI_CAPABILITIES | 1 << 26);
        // CMD18 from block 2 by PIO, half of the first block read; buffer read ready and
        // command complete are pending and signalled.
        cmd(
            &mut s,
            18,
            2,
            0x3A,
            TRNS_READ | TRNS_MULTI | TRNS_BLK_CNT_EN,
        );
        let first = pio_words(&mut s, 64);
        assert!(s.irq_level());
        let saved = s.save_state().unwrap();
        assert_eq!(saved.kind, SLOT_STATE_KIND);

        let (mut twin, _, twin_log) = slot();
        twin.load_state(&saved).unwrap();
        assert!(
            twin_log.borrow().is_empty(),
            "loading sends the card nothing"
        );
        for off in (0..SLOT_REGS_SIZE).step_by(4) {
            if off != REG_BUFFER {
                assert_eq!(twin.read(off, 4), s.read(off, 4), "register {off:#x}");
            }
        }
        assert!(twin.irq_level(), "the pending interrupt comes back");
        assert_eq!(twin.save_state().unwrap(), saved);
        // Both go on alike: the rest of block 2 from the slot's buffer, blocks 3 and 4 from
        // where the card was.
        let rest = pio_words(&mut s, 64 + 256);
        assert_eq!(pio_words(&mut twin, 64 + 256), rest);
        let expected: Vec<u8> = (2 * 512..5 * 512)
            .map(|i| (i / 512) as u8 ^ (i as u8))
            .collect();
        assert_eq!([first, rest].concat(), expected);
        assert_ne!(status(&mut twin) & u32::from(INT_TRANSFER_COMPLETE), 0);
        for off in (0..SLOT_REGS_SIZE).step_by(4) {
            assert_eq!(twin.read(off, 4), s.read(off, 4), "register {off:#x} after");
        }
    }

    #[test]
    fn a_slot_refuses_a_state_of_another_kind_or_with_another_card() {
        let (mut s, _, _) = slot();
        s.write(REG_BLOCK_SIZE, 2, 512);
        cmd(&mut s, 17, 1, 0x3A, TRNS_READ);
        let saved = s.save_state().unwrap();
        let (mut twin, _, _) = slot();
        cmd(&mut twin, 13, 0, 0x1A, 0);
        let before = twin.save_state().unwrap();
        let refused = |twin: &mut Sdhci, state: &DeviceState| {
            let e = twin.load_state(state).unwrap_err();
            assert_eq!(
                twin.save_state().unwrap(),
                before,
                "{e}: the slot is unchanged"
            );
            e.0
        };
        let mut wrong = saved.clone();
        wrong.kind = SDC_STATE_KIND.into();
        refused(&mut twin, &wrong);
        let mut wrong = saved.clone();
        wrong.version = SLOT_STATE_VERSION + 1;
        assert!(refused(&mut twin, &wrong).contains("format version"));
        // The card refuses a state of another kind of card.
        let (mut other, _, _) = slot_with(Some("other-card"), false);
        let other_before = other.save_state();
        let e = other.load_state(&saved).unwrap_err();
        assert!(e.0.contains("sd: the card: a fake-card state"), "{e}");
        assert_eq!(other.save_state(), other_before);
        // A transfer the slot could not go on with.
        let mut bad: SavedSlot = saved.decode(SLOT_STATE_KIND, SLOT_STATE_VERSION).unwrap();
        bad.registers
            .transfer
            .as_mut()
            .unwrap()
            .buffer
            .truncate(100);
        let bad = DeviceState::new(SLOT_STATE_KIND, SLOT_STATE_VERSION, &bad);
        assert!(refused(&mut twin, &bad).contains("inconsistent"));
        // A card saved, none inserted; none saved, one inserted; another write-protect tab.
        let (mut empty, _, _) = slot_with(None, false);
        let e = empty.load_state(&saved).unwrap_err();
        assert!(e.0.contains("no card is inserted"), "{e}");
        let empty_state = empty.save_state().unwrap();
        assert!(refused(&mut twin, &empty_state).contains("a card is inserted here"));
        let (mut read_only, _, _) = slot_with(Some("fake-card"), true);
        let e = read_only.load_state(&saved).unwrap_err();
        assert!(
            e.0.contains("inserted writable, this one is read-only"),
            "{e}"
        );
        // A card without snapshot support: the slot has none either.
        empty.insert(Box::new(MuteCard), false);
        assert_eq!(empty.save_state(), None);
    }
}
