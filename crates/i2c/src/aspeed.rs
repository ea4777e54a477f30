//! The AST2600 (and AST2500) I2C controller in the "old" per-bus register layout.
//!
//! Linux 6.1's `i2c-aspeed.c` binds `aspeed,ast2600-i2c-bus` with the same registers as the
//! AST2400/2500 (only the clock divider helper differs), and u-boot's `ast_i2c.c` does the same;
//! neither sets the global control register's new-register-mode bit. The controller's 0x1000
//! bytes hold the global registers at 0x000 ([`AspeedI2cGlobal`]), bus n's 0x80-byte block at
//! `0x80 * (n + 1)` ([`AspeedI2cBus`], see [`bus_block_offset`]) and the buffer pool at 0xC00
//! ([`AspeedI2cPool`]).
//!
//! Byte mode is complete: START with the address byte from the byte buffer, TX byte, RX byte
//! (with the NAK of the last byte), STOP, bus recovery, in any combination in one command
//! write, executed at once. An RX command waits while RX_DONE is still set and runs when the
//! guest clears RX_DONE: Linux's interrupt handler queues the next RX before it acknowledges
//! RX_DONE (QEMU `hw/i2c/aspeed_i2c.c` does the same).
//!
//! Buffer (pool) mode and DMA mode are modelled too, as the buffer/DMA patches of `i2c-aspeed`
//! (Aspeed SDK and OpenBMC kernels) and QEMU use them:
//!
//! - **Transmit stream.** With `TX_BUFF_EN` the bytes sent are bus n's buffer in the pool
//!   (32 bytes at `0x20 * n`, see [`AspeedI2cBus::connect_pool`]), bytes `0 ..= TX_COUNT` of
//!   [`REG_POOL_CTRL`]; with `TX_DMA_EN` they are the [`REG_DMA_LEN`] bytes of guest memory
//!   at [`REG_DMA_ADDR`] (see [`AspeedI2cBus::connect_dram`]); otherwise the byte buffer. A
//!   START takes its address byte from the front of that stream (the driver puts the address
//!   in pool byte 0 or the first DMA byte) and TX sends the rest. The whole stream (address and
//!   data) ends in one TX_ACK, or in TX_NAK at the first byte refused: nothing more is sent
//!   and any RX of the same command is dropped; a STOP still runs.
//! - **Receive.** With `RX_BUFF_EN`, `RX_SIZE + 1` bytes land in the bus's buffer (from byte 0,
//!   or byte 16 when the AST2600's `BUF_ORGANIZATION` bit splits it) and `RX_COUNT` says how
//!   many; with `RX_DMA_EN`, `DMA_LEN` bytes go to guest memory. One RX_DONE either way.
//! - **DMA registers** count as the hardware does: `DMA_ADDR` moves past each byte and
//!   `DMA_LEN` down to what is left (Linux computes the bytes received from it).
//! - **Guest errors** are logged once per bus and never panic: a buffer range past the bus's
//!   buffer or the pool is clamped, a DMA length of 0 moves nothing (a START with no DMA byte
//!   for its address reports TX_NAK), a DMA access outside guest memory stops the transfer
//!   (a TX then reports TX_NAK). Buffer or DMA commands on a bus with no pool / no guest
//!   memory connected are ignored with a warning.
//!
//! Slave mode and the new register mode are not implemented: using them logs a warning once.
//!
//! ## AST2500
//!
//! The AST2500's controller ([`Variant::Ast2500`], QEMU `aspeed_2500_i2c_class_init`) has the
//! same per-bus registers in the same old layout, arranged differently in its 0x1000 bytes:
//! global registers at 0x000 (0x40 bytes), 14 buses of 0x40 bytes at `0x40 * (n + 1)` for
//! buses 0-6 and `0x300 + 0x40 * (n - 7)` for buses 7-13, and a 256-byte buffer pool at 0x200
//! holding 16 bytes per bus (see [`Variant`]). What behaves differently is selected with
//! `with_variant` on [`AspeedI2cBus`], [`AspeedI2cGlobal`] and [`AspeedI2cPool`]:
//!
//! - **One interrupt line.** All buses share VIC 12; Linux's `irq-aspeed-i2c-ic`
//!   (`aspeed,ast2500-i2c-ic`) reads the global status at 0x00 to find which bus to service.
//!   Each bus still drives its own [`IrqLine`]: the SoC wires them into one line with
//!   [`bus::SharedIrq`] (see [`Variant::shared_irq`]).
//! - **SRAM enable.** Buffer-pool and DMA commands need `SRAM_EN` (bit 0) of the global control
//!   register (QEMU `aspeed_i2c_check_sram`; the buffer-mode patches of `i2c-aspeed` set it in
//!   `aspeed_i2c_25xx_enable_sram`); a bus sees that register once
//!   [`AspeedI2cBus::connect_global`] gave it [`AspeedI2cGlobal::control`]. Without it such a
//!   command is ignored with a warning, as on an unconnected bus.
//! - **Buffers** are 16 bytes (QEMU `aspeed_2500_i2c_bus_pool_base`: `id * 0x10`) and there is
//!   no `BUF_ORGANIZATION` split: received bytes always start at byte 0 of the bus's buffer.
//! - **No new register mode**: the global control register's bit 2 selects nothing and the
//!   new-mode clock divider register (0x10) does not exist.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::ops::Range;
use std::rc::Rc;

use bus::{subword, Device, DeviceState, GuestMemory, IrqLine, StateError, UnimplementedLog};
use serde::{Deserialize, Serialize};

use crate::{I2cBus, I2cBusError, SharedTarget};

/// The kind of a bus controller's saved state ([`DeviceState::kind`]): [`AspeedI2cBusState`].
pub const BUS_STATE_KIND: &str = "aspeed-i2c-bus";
/// The kind of the global register block's saved state: [`AspeedI2cGlobalState`].
pub const GLOBAL_STATE_KIND: &str = "aspeed-i2c-global";
/// The kind of the buffer pool's saved state: its variant and bytes.
pub const POOL_STATE_KIND: &str = "aspeed-i2c-pool";
/// The format version of the states of [`BUS_STATE_KIND`], [`GLOBAL_STATE_KIND`] and
/// [`POOL_STATE_KIND`] as this build serialises them.
pub const STATE_VERSION: u32 = 1;

/// Number of buses of the AST2600 controller (QEMU `aspeed_2600_i2c_class_init`).
pub const BUS_COUNT: usize = 16;
/// Size of one bus's register block (QEMU `aic->reg_size` for the AST2600; DT `reg = <0x80 0x80>`).
pub const BUS_BLOCK_SIZE: u64 = 0x80;
/// Size of the global register block at the start of the controller.
pub const GLOBAL_BLOCK_SIZE: u64 = 0x80;
/// Offset of the buffer pool from the controller's base (QEMU `aic->pool_base` for the AST2600).
pub const POOL_OFFSET: u64 = 0xC00;
/// Size of the buffer pool: 16 buses x 32 bytes (QEMU `aic->pool_size` for the AST2600).
pub const POOL_SIZE: usize = 0x200;
/// Size of one bus's buffer in the pool; bus n's starts at `0x20 * n` (QEMU
/// `aspeed_2600_i2c_bus_pool_base`; the buffer-mode bindings give bus 0 `reg = <0x80 0x80>,
/// <0xc00 0x20>`).
pub const POOL_BUS_BUFFER_SIZE: usize = 0x20;
/// Offset of the receive half of a bus's buffer when `POOL_CTRL_BUF_ORGANIZATION` splits it
/// (QEMU `aspeed_i2c_bus_recv`: `pool_base += 16`).
pub const POOL_SPLIT_RX_OFFSET: usize = 16;

/// Offset of bus `n`'s register block from the controller's base: `0x80 * (n + 1)`
/// (aspeed-g6.dtsi `i2c0: i2c-bus@80` .. `i2c15: i2c-bus@800`).
pub fn bus_block_offset(n: usize) -> u64 {
    BUS_BLOCK_SIZE.wrapping_mul(n as u64 + 1)
}

/// Which SoC generation's I2C controller: the layout of its 0x1000 bytes and the register
/// behaviour that differs (`src/aspeed.rs` describes it). The free constants ([`BUS_COUNT`],
/// [`bus_block_offset`], [`POOL_OFFSET`], [`POOL_SIZE`], [`GLOBAL_BLOCK_SIZE`], ...) are the
/// AST2600's values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Variant {
    /// The AST2600's controller (QEMU `aspeed_2600_i2c_class_init`): 16 buses, one interrupt
    /// line each.
    #[default]
    Ast2600,
    /// The AST2500's controller (QEMU `aspeed_2500_i2c_class_init`): 14 buses behind one
    /// interrupt line.
    Ast2500,
}

impl Variant {
    /// Number of buses: 16 on the AST2600, 14 on the AST2500 (QEMU `num_busses`; Linux
    /// `ASPEED_I2C_IC_NUM_BUS` for the AST2400/2500).
    pub const fn bus_count(self) -> usize {
        match self {
            Variant::Ast2600 => BUS_COUNT,
            Variant::Ast2500 => 14,
        }
    }

    /// Size of one bus's register block: 0x80, or 0x40 on the AST2500 (QEMU `reg_size`;
    /// aspeed-g5.dtsi `i2c0: i2c-bus@40 { reg = <0x40 0x40>; }`).
    pub const fn bus_block_size(self) -> u64 {
        match self {
            Variant::Ast2600 => BUS_BLOCK_SIZE,
            Variant::Ast2500 => 0x40,
        }
    }

    /// Offset of bus `n`'s register block from the controller's base. AST2600: `0x80 * (n + 1)`
    /// (as [`bus_block_offset`]). AST2500: `0x40 * (n + 1)` for buses 0-6, then past the
    /// buffer pool `0x300 + 0x40 * (n - 7)` for buses 7-13 (QEMU `aspeed_i2c_realize` with
    /// `gap = 7`: `reg_size * (n + 5)`; aspeed-g5.dtsi `i2c-bus@40` .. `i2c-bus@1c0`,
    /// `i2c-bus@300` .. `i2c-bus@480`).
    pub const fn bus_block_offset(self, n: usize) -> u64 {
        let n = n as u64;
        match self {
            Variant::Ast2600 => BUS_BLOCK_SIZE.wrapping_mul(n.wrapping_add(1)),
            Variant::Ast2500 => {
                let slot = if n < 7 {
                    n.wrapping_add(1)
                } else {
                    n.wrapping_add(5)
                };
                0x40u64.wrapping_mul(slot)
            }
        }
    }

    /// Size of the global register block at the controller's base: 0x80, or 0x40 on the
    /// AST2500 (bus 0 follows it; aspeed-g5.dtsi `i2c_ic: interrupt-controller@0 { reg =
    /// <0x0 0x40>; }`).
    pub const fn global_block_size(self) -> u64 {
        match self {
            Variant::Ast2600 => GLOBAL_BLOCK_SIZE,
            Variant::Ast2500 => 0x40,
        }
    }

    /// Offset of the buffer pool from the controller's base: 0xC00, or 0x200 on the AST2500
    /// (QEMU `pool_base`).
    pub const fn pool_offset(self) -> u64 {
        match self {
            Variant::Ast2600 => POOL_OFFSET,
            Variant::Ast2500 => 0x200,
        }
    }

    /// Size of the buffer pool in bytes: 0x200, or 0x100 on the AST2500 (QEMU `pool_size`;
    /// the pool spans 0x200..0x2FF, "Buffer Pool" in QEMU's AST2400/2500 address map).
    pub const fn pool_size(self) -> usize {
        match self {
            Variant::Ast2600 => POOL_SIZE,
            Variant::Ast2500 => 0x100,
        }
    }

    /// Size of one bus's buffer in the pool: 32 bytes, or 16 on the AST2500 (QEMU
    /// `bus_pool_base`: `id * 0x20` / `id * 0x10`).
    pub const fn pool_bus_buffer_size(self) -> usize {
        match self {
            Variant::Ast2600 => POOL_BUS_BUFFER_SIZE,
            Variant::Ast2500 => 0x10,
        }
    }

    /// Offset in the pool of bus `n`'s buffer: `n` times [`Variant::pool_bus_buffer_size`].
    pub const fn pool_bus_buffer_offset(self, n: usize) -> usize {
        n.saturating_mul(self.pool_bus_buffer_size())
    }

    /// Whether all buses share one interrupt line (AST2500: VIC 12, demultiplexed by the guest
    /// through [`GLOBAL_INTR_STS`]) rather than one line each (AST2600). With a
    /// shared line the SoC gives bus n input n of one [`bus::SharedIrq`].
    pub const fn shared_irq(self) -> bool {
        matches!(self, Variant::Ast2500)
    }

    /// Whether buffer-pool and DMA commands need [`GLOBAL_CTRL_SRAM_EN`] (AST2500: QEMU
    /// `check_sram`).
    pub const fn needs_sram_enable(self) -> bool {
        matches!(self, Variant::Ast2500)
    }

    /// Whether the controller has the new register mode (global control bit 2 and the clock
    /// divider at 0x10): the AST2600 only.
    pub const fn has_new_register_mode(self) -> bool {
        matches!(self, Variant::Ast2600)
    }

    /// Whether `POOL_CTRL_BUF_ORGANIZATION` can put received bytes in the second half of the
    /// bus's buffer (QEMU: "AST2600").
    pub const fn has_buffer_organization(self) -> bool {
        matches!(self, Variant::Ast2600)
    }
}

/// Function control register: Linux `ASPEED_I2C_FUN_CTRL_REG`.
pub const REG_FUN_CTRL: u64 = 0x00;
/// Clock and AC timing control #1: Linux `ASPEED_I2C_AC_TIMING_REG1`.
pub const REG_AC_TIMING1: u64 = 0x04;
/// Clock and AC timing control #2 (timeout): Linux `ASPEED_I2C_AC_TIMING_REG2`.
pub const REG_AC_TIMING2: u64 = 0x08;
/// Interrupt enable register: Linux `ASPEED_I2C_INTR_CTRL_REG`.
pub const REG_INTR_CTRL: u64 = 0x0C;
/// Interrupt status register, write 1 to clear: Linux `ASPEED_I2C_INTR_STS_REG`.
pub const REG_INTR_STS: u64 = 0x10;
/// Command / status register: Linux `ASPEED_I2C_CMD_REG`.
pub const REG_CMD: u64 = 0x14;
/// Slave device address register: Linux `ASPEED_I2C_DEV_ADDR_REG`.
pub const REG_DEV_ADDR: u64 = 0x18;
/// Buffer pool control register: u-boot `ast_i2c_regs.pbcr`, QEMU `I2CD_POOL_CTRL`.
pub const REG_POOL_CTRL: u64 = 0x1C;
/// Transmit (bits 7:0) / receive (bits 15:8) byte buffer: Linux `ASPEED_I2C_BYTE_BUF_REG`.
pub const REG_BYTE_BUF: u64 = 0x20;
/// DMA buffer address in guest memory: Linux `ASPEED_I2C_DMA_ADDR_REG`, QEMU `I2CD_DMA_ADDR`.
pub const REG_DMA_ADDR: u64 = 0x24;
/// DMA length, counting down as bytes move: Linux `ASPEED_I2C_DMA_LEN_REG`, QEMU `I2CD_DMA_LEN`.
pub const REG_DMA_LEN: u64 = 0x28;

/// POOL_CTRL: RX in the second 16 bytes of the bus's buffer (AST2600): QEMU `BUF_ORGANIZATION`.
pub const POOL_CTRL_BUF_ORGANIZATION: u32 = 1 << 0;
/// POOL_CTRL: shift of TX_COUNT (bytes to send minus one): Linux `ASPEED_I2CD_BUF_TX_COUNT_MASK`.
pub const POOL_CTRL_TX_COUNT_SHIFT: u32 = 8;
/// POOL_CTRL: TX_COUNT, 5 bits on the AST2600: QEMU `TX_COUNT` (8, 5).
pub const POOL_CTRL_TX_COUNT: u32 = 0x1F << POOL_CTRL_TX_COUNT_SHIFT;
/// POOL_CTRL: shift of RX_SIZE (bytes to receive minus one): Linux `ASPEED_I2CD_BUF_RX_SIZE_MASK`.
pub const POOL_CTRL_RX_SIZE_SHIFT: u32 = 16;
/// POOL_CTRL: RX_SIZE, 5 bits on the AST2600: QEMU `RX_SIZE` (16, 5).
pub const POOL_CTRL_RX_SIZE: u32 = 0x1F << POOL_CTRL_RX_SIZE_SHIFT;
/// POOL_CTRL: shift of RX_COUNT (bytes received): Linux `ASPEED_I2CD_BUF_RX_COUNT_MASK`.
pub const POOL_CTRL_RX_COUNT_SHIFT: u32 = 24;
/// POOL_CTRL: RX_COUNT, 6 bits, set by the controller: QEMU `RX_COUNT` (24, 6).
pub const POOL_CTRL_RX_COUNT: u32 = 0x3F << POOL_CTRL_RX_COUNT_SHIFT;
/// POOL_CTRL: the bits the guest writes (QEMU keeps bits 23:0 of a write).
pub const POOL_CTRL_WRITABLE: u32 = 0x00FF_FFFF;
/// DMA_ADDR: the address bits, word aligned: Linux `ASPEED_I2CD_DMA_ADDR_MASK` (31:2).
pub const DMA_ADDR_MASK: u32 = 0xFFFF_FFFC;
/// DMA_LEN: the length bits (under 4 KiB): Linux `ASPEED_I2CD_DMA_LEN_MASK` (11:0).
pub const DMA_LEN_MASK: u32 = 0xFFF;

/// FUN_CTRL: master enable: Linux `ASPEED_I2CD_MASTER_EN`.
pub const FUN_MASTER_EN: u32 = 1 << 0;
/// FUN_CTRL: slave enable (slave mode not implemented): Linux `ASPEED_I2CD_SLAVE_EN`.
pub const FUN_SLAVE_EN: u32 = 1 << 1;
/// FUN_CTRL: multi-master disable: Linux `ASPEED_I2CD_MULTI_MASTER_DIS`.
pub const FUN_MULTI_MASTER_DIS: u32 = 1 << 15;

/// Interrupt: the address or data byte sent was acknowledged: Linux `ASPEED_I2CD_INTR_TX_ACK`.
pub const INTR_TX_ACK: u32 = 1 << 0;
/// Interrupt: the address or data byte sent was not acknowledged: Linux `ASPEED_I2CD_INTR_TX_NAK`.
pub const INTR_TX_NAK: u32 = 1 << 1;
/// Interrupt: a byte was received into `BYTE_BUF[15:8]`: Linux `ASPEED_I2CD_INTR_RX_DONE`.
pub const INTR_RX_DONE: u32 = 1 << 2;
/// Interrupt: arbitration lost (never: single master): Linux `ASPEED_I2CD_INTR_ARBIT_LOSS`.
pub const INTR_ARBIT_LOSS: u32 = 1 << 3;
/// Interrupt: STOP condition sent: Linux `ASPEED_I2CD_INTR_NORMAL_STOP`.
pub const INTR_NORMAL_STOP: u32 = 1 << 4;
/// Interrupt: abnormal STOP/START (here: STOP with no transfer active): Linux `ASPEED_I2CD_INTR_ABNORMAL`.
pub const INTR_ABNORMAL: u32 = 1 << 5;
/// Interrupt: SCL low timeout (never: no bus timing): Linux `ASPEED_I2CD_INTR_SCL_TIMEOUT`.
pub const INTR_SCL_TIMEOUT: u32 = 1 << 6;
/// Interrupt: slave address match (slave mode not implemented): Linux `ASPEED_I2CD_INTR_SLAVE_MATCH`.
pub const INTR_SLAVE_MATCH: u32 = 1 << 7;
/// Interrupt: bus recovery command finished: Linux `ASPEED_I2CD_INTR_BUS_RECOVER_DONE`.
pub const INTR_BUS_RECOVER_DONE: u32 = 1 << 13;
/// Interrupt: SDA data-low timeout (never: no bus timing): Linux `ASPEED_I2CD_INTR_SDA_DL_TIMEOUT`.
pub const INTR_SDA_DL_TIMEOUT: u32 = 1 << 14;
/// Interrupt status bits that exist in `INTR_STS[15:0]` (QEMU masks status writes with 0x7FFF).
pub const INTR_STS_MASK: u32 = 0x7FFF;

/// CMD: send a START and the address byte from `BYTE_BUF[7:0]`: Linux `ASPEED_I2CD_M_START_CMD`.
pub const CMD_M_START: u32 = 1 << 0;
/// CMD: send `BYTE_BUF[7:0]` (with START: the address byte itself): Linux `ASPEED_I2CD_M_TX_CMD`.
pub const CMD_M_TX: u32 = 1 << 1;
/// CMD: slave transmit (slave mode not implemented): Linux `ASPEED_I2CD_S_TX_CMD`.
pub const CMD_S_TX: u32 = 1 << 2;
/// CMD: receive one byte and ACK it: Linux `ASPEED_I2CD_M_RX_CMD`.
pub const CMD_M_RX: u32 = 1 << 3;
/// CMD: receive one byte and NAK it (the last byte of a read): Linux `ASPEED_I2CD_M_S_RX_CMD_LAST`.
pub const CMD_M_RX_LAST: u32 = 1 << 4;
/// CMD: send a STOP: Linux `ASPEED_I2CD_M_STOP_CMD`.
pub const CMD_M_STOP: u32 = 1 << 5;
/// CMD: the TX stream is the bus's pool buffer: Linux `ASPEED_I2CD_TX_BUFF_ENABLE`.
pub const CMD_TX_BUFF_EN: u32 = 1 << 6;
/// CMD: receive into the bus's pool buffer: Linux `ASPEED_I2CD_RX_BUFF_ENABLE`.
pub const CMD_RX_BUFF_EN: u32 = 1 << 7;
/// CMD: the TX stream is guest memory, by DMA: Linux `ASPEED_I2CD_TX_DMA_ENABLE`.
pub const CMD_TX_DMA_EN: u32 = 1 << 8;
/// CMD: receive into guest memory, by DMA: Linux `ASPEED_I2CD_RX_DMA_ENABLE`.
pub const CMD_RX_DMA_EN: u32 = 1 << 9;
/// CMD: bus recovery (clock SCL until SDA is released): Linux `ASPEED_I2CD_BUS_RECOVER_CMD`.
pub const CMD_BUS_RECOVER: u32 = 1 << 11;
/// CMD status: a START was sent and no STOP yet: Linux `ASPEED_I2CD_BUS_BUSY_STS`.
pub const CMD_BUS_BUSY_STS: u32 = 1 << 16;
/// CMD status: SDA line is high: Linux `ASPEED_I2CD_SDA_LINE_STS`.
pub const CMD_SDA_LINE_STS: u32 = 1 << 17;
/// CMD status: SCL line is high: Linux `ASPEED_I2CD_SCL_LINE_STS`.
pub const CMD_SCL_LINE_STS: u32 = 1 << 18;
/// CMD status: shift of the 4-bit transfer state machine field: QEMU `TX_STATE` (19, 4).
pub const CMD_TX_STATE_SHIFT: u32 = 19;
/// Transfer state: idle: u-boot `I2CD_IDLE`.
pub const TX_STATE_IDLE: u32 = 0x0;
/// Transfer state: master active: u-boot `I2CD_MACTIVE`.
pub const TX_STATE_MACTIVE: u32 = 0x8;
/// The master command bits of CMD: Linux `ASPEED_I2CD_MASTER_CMDS_MASK`.
pub const CMD_MASTER_CMDS: u32 = CMD_M_START | CMD_M_TX | CMD_M_RX | CMD_M_RX_LAST | CMD_M_STOP;
/// The buffer-pool and DMA enable bits of CMD.
pub const CMD_BUFFER_MODES: u32 = CMD_TX_BUFF_EN | CMD_RX_BUFF_EN | CMD_TX_DMA_EN | CMD_RX_DMA_EN;
/// The transmit-mode bits of CMD.
const CMD_TX_MODES: u32 = CMD_TX_BUFF_EN | CMD_TX_DMA_EN;
/// The receive-mode bits of CMD.
const CMD_RX_MODES: u32 = CMD_RX_BUFF_EN | CMD_RX_DMA_EN;
/// The bits of CMD the guest writes (the rest are status): QEMU keeps `CMD[15:0]`.
pub const CMD_WRITABLE: u32 = 0xFFFF;

/// BYTE_BUF: shift of the received byte: u-boot `I2CD_RX_DATA_SHIFT`.
pub const BYTE_BUF_RX_SHIFT: u32 = 8;

/// Global interrupt status: bit n set while bus n interrupts (Linux comment "0x00 : I2C
/// Interrupt Status Register"; QEMU `I2C_CTRL_STATUS`).
pub const GLOBAL_INTR_STS: u64 = 0x00;
/// Global interrupt target assignment (Linux comment "0x08 : I2C Interrupt Target Assignment").
pub const GLOBAL_INTR_TARGET: u64 = 0x08;
/// Global control register: QEMU `I2C_CTRL_GLOBAL`.
pub const GLOBAL_CTRL: u64 = 0x0C;
/// New-mode clock divider register: QEMU `I2C_CTRL_NEW_CLK_DIVIDER`.
pub const GLOBAL_NEW_CLK_DIVIDER: u64 = 0x10;
/// GLOBAL_CTRL: select the new register layout (AST2600; not implemented): QEMU `REG_MODE`.
pub const GLOBAL_CTRL_NEW_REG_MODE: u32 = 1 << 2;
/// GLOBAL_CTRL: enable the buffer SRAM, needed by buffer-pool and DMA commands on the AST2500:
/// QEMU `SRAM_EN`, Linux (buffer-mode patches) `ASPEED_I2CG_SRAM_BUFFER_EN`.
pub const GLOBAL_CTRL_SRAM_EN: u32 = 1 << 0;

// Warnings given once per device.
const WARN_SLAVE: u8 = 1 << 0;
const WARN_NO_POOL: u8 = 1 << 1;
const WARN_MASTER_OFF: u8 = 1 << 2;
const WARN_NO_DRAM: u8 = 1 << 3;
const WARN_POOL_CLAMP: u8 = 1 << 4;
const WARN_DMA_EMPTY: u8 = 1 << 5;
const WARN_DMA_FAULT: u8 = 1 << 6;
const WARN_SRAM_OFF: u8 = 1 << 7;

/// Mask of the bytes an access of `size` at `offset` touches in its 32-bit register, and the
/// written value moved into place.
fn lanes(offset: u64, size: u8, value: u64) -> (u32, u32) {
    let shift = (offset & 3) * 8;
    let width: u64 = match size {
        1 => 0xFF,
        2 => 0xFFFF,
        _ => 0xFFFF_FFFF,
    };
    let mask = ((width << shift) & 0xFFFF_FFFF) as u32;
    let value = (((value & width) << shift) & 0xFFFF_FFFF) as u32;
    (mask, value)
}

fn merge(old: u32, mask: u32, value: u32) -> u32 {
    (old & !mask) | (value & mask)
}

/// A shared view of one bus's interrupt output, read by [`AspeedI2cGlobal`].
#[derive(Clone, Debug, Default)]
pub struct BusIrqStatus(Rc<Cell<bool>>);

impl BusIrqStatus {
    /// A handle that reads "no interrupt" until a bus drives it.
    pub fn new() -> Self {
        Self::default()
    }
    /// Whether the bus's interrupt line is high.
    pub fn pending(&self) -> bool {
        self.0.get()
    }
    fn set(&self, level: bool) {
        self.0.set(level);
    }
}

/// A shared view of the controller's global control register, written by [`AspeedI2cGlobal`]
/// and read by the buses it is given to ([`AspeedI2cBus::connect_global`]).
#[derive(Clone, Debug, Default)]
pub struct GlobalControl(Rc<Cell<u32>>);

impl GlobalControl {
    /// A handle that reads 0 (SRAM disabled) until a global block drives it.
    pub fn new() -> Self {
        Self::default()
    }
    /// The global control register's value.
    pub fn value(&self) -> u32 {
        self.0.get()
    }
    /// Whether [`GLOBAL_CTRL_SRAM_EN`] is set.
    pub fn sram_enabled(&self) -> bool {
        self.value() & GLOBAL_CTRL_SRAM_EN != 0
    }
    fn set(&self, value: u32) {
        self.0.set(value);
    }
}

/// The registers of one I2C bus controller: a plain value that can be saved and restored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AspeedI2cBusState {
    /// Which SoC generation's bus this is ([`Variant::Ast2600`] by default).
    pub variant: Variant,
    /// Function control.
    pub fun_ctrl: u32,
    /// Clock and AC timing #1.
    pub ac_timing1: u32,
    /// Clock and AC timing #2.
    pub ac_timing2: u32,
    /// Interrupt enables.
    pub intr_ctrl: u32,
    /// Interrupt status.
    pub intr_sts: u32,
    /// `CMD[15:0]`: control bits as written, minus the commands already executed (an RX command
    /// stays here while RX_DONE is set).
    pub cmd: u32,
    /// Slave device address.
    pub dev_addr: u32,
    /// Buffer pool control.
    pub pool_ctrl: u32,
    /// Byte to transmit (`BYTE_BUF[7:0]`).
    pub tx_byte: u8,
    /// Byte last received (`BYTE_BUF[15:8]`).
    pub rx_byte: u8,
    /// DMA buffer address.
    pub dma_addr: u32,
    /// DMA transfer length.
    pub dma_len: u32,
    /// A START was sent and no STOP since.
    pub bus_busy: bool,
    /// The 7-bit address of the target the current transaction talks to (it acknowledged the
    /// last START and no STOP came since), if any: [`I2cBus::selected`].
    pub selected: Option<u8>,
    /// Level the interrupt line was last driven to.
    pub irq_level: bool,
}

/// One bus controller of the AST2600 (or, [`AspeedI2cBus::with_variant`], AST2500) I2C block,
/// with the I2C bus it drives.
pub struct AspeedI2cBus {
    state: AspeedI2cBusState,
    bus: I2cBus,
    irq: IrqLine,
    irq_status: BusIrqStatus,
    unimplemented: UnimplementedLog,
    name: String,
    warned: u8,
    /// The pool holding this bus's buffer, and the bus index that places the buffer in it.
    pool: Option<(PoolMemory, usize)>,
    /// Guest memory for DMA transfers.
    dram: Option<Rc<dyn GuestMemory>>,
    /// The global control register (SRAM enable), if connected.
    global: Option<GlobalControl>,
}

/// Where a command's transmit stream or received bytes live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The byte buffer register.
    Byte,
    /// The bus's buffer in the pool.
    Buffer,
    /// Guest memory, by DMA.
    Dma,
}

impl Mode {
    /// The transmit mode of command `cmd` (buffer mode wins over DMA, as in QEMU).
    fn tx(cmd: u32) -> Self {
        if cmd & CMD_TX_BUFF_EN != 0 {
            Mode::Buffer
        } else if cmd & CMD_TX_DMA_EN != 0 {
            Mode::Dma
        } else {
            Mode::Byte
        }
    }

    /// The receive mode of command `cmd`.
    fn rx(cmd: u32) -> Self {
        if cmd & CMD_RX_BUFF_EN != 0 {
            Mode::Buffer
        } else if cmd & CMD_RX_DMA_EN != 0 {
            Mode::Dma
        } else {
            Mode::Byte
        }
    }
}

impl AspeedI2cBus {
    /// A bus controller in its reset state called `name` in logs (`i2c7`), driving `irq`
    /// (level: high while `INTR_STS & INTR_CTRL` is non-zero), with no targets.
    pub fn new(name: &str, irq: IrqLine) -> Self {
        Self::from_state(&AspeedI2cBusState::default(), name, irq)
    }

    /// A bus controller restored from `state`; the interrupt line is raised at once if the
    /// state has an enabled interrupt pending. Targets are attached afterwards; a transfer in
    /// progress in `state` continues with the target attached at its selected address (which
    /// restores its own transfer state), without a new START.
    pub fn from_state(state: &AspeedI2cBusState, name: &str, irq: IrqLine) -> Self {
        let mut bus = I2cBus::new();
        bus.restore_selected(state.selected);
        let mut dev = Self {
            state: state.clone(),
            bus,
            irq,
            irq_status: BusIrqStatus::new(),
            unimplemented: UnimplementedLog::new(name),
            name: name.into(),
            warned: 0,
            pool: None,
            dram: None,
            global: None,
        };
        let level = dev.irq_pending();
        dev.state.irq_level = level;
        dev.irq_status.set(level);
        if level {
            dev.irq.raise();
        }
        dev
    }

    /// A copy of the registers, with the address of the target in the current transaction.
    pub fn state(&self) -> AspeedI2cBusState {
        AspeedI2cBusState {
            selected: self.bus.selected(),
            ..self.state.clone()
        }
    }

    /// This bus as `variant`'s. The registers keep their values (every one resets to 0 on
    /// both generations); what changes is the buffer in the pool ([`Self::connect_pool`]), the
    /// SRAM-enable check and the RX buffer split.
    pub fn with_variant(mut self, variant: Variant) -> Self {
        self.state.variant = variant;
        self
    }

    /// The SoC generation of this bus.
    pub fn variant(&self) -> Variant {
        self.state.variant
    }

    /// Lets this bus see the controller's global control register (from
    /// [`AspeedI2cGlobal::control`]). On the AST2500 buffer-pool and DMA commands then need
    /// [`GLOBAL_CTRL_SRAM_EN`]; without a connection the bus does not check it.
    pub fn connect_global(&mut self, control: GlobalControl) {
        self.global = Some(control);
    }

    /// A handle on this bus's interrupt output, for [`AspeedI2cGlobal`].
    pub fn irq_status(&self) -> BusIrqStatus {
        self.irq_status.clone()
    }

    /// Makes `target` answer at 7-bit `address` on this bus.
    pub fn attach(&mut self, address: u8, target: SharedTarget) -> Result<(), I2cBusError> {
        self.bus.attach(address, target)
    }

    /// Gives buffer-mode transfers bus `index`'s buffer in `pool`: the
    /// [`Variant::pool_bus_buffer_size`] bytes (32, [`POOL_BUS_BUFFER_SIZE`], on the AST2600;
    /// 16 on the AST2500) at [`Variant::pool_bus_buffer_offset`]`(index)` (the part of them
    /// inside the pool). Without it, buffer-mode commands are ignored with a warning.
    pub fn connect_pool(&mut self, pool: PoolMemory, index: usize) {
        self.pool = Some((pool, index));
    }

    /// Gives DMA transfers guest memory; `DMA_ADDR` is a physical address in it. Without it,
    /// DMA commands are ignored with a warning.
    pub fn connect_dram(&mut self, dram: Rc<dyn GuestMemory>) {
        self.dram = Some(dram);
    }

    /// The I2C bus with its targets.
    pub fn i2c_bus(&self) -> &I2cBus {
        &self.bus
    }

    /// The I2C bus with its targets, mutably (to attach multi-address targets).
    pub fn i2c_bus_mut(&mut self) -> &mut I2cBus {
        &mut self.bus
    }

    fn irq_pending(&self) -> bool {
        self.state.intr_sts & self.state.intr_ctrl != 0
    }

    fn update_irq(&mut self) {
        let level = self.irq_pending();
        self.irq_status.set(level);
        if level != self.state.irq_level {
            self.state.irq_level = level;
            self.irq.set(level);
        }
    }

    fn warn_once(&mut self, flag: u8, what: &str) {
        if self.warned & flag == 0 {
            self.warned |= flag;
            log::warn!(target: "unimp", "{}: {what}", self.name);
        }
    }

    /// Logs a guest programming error, once per kind (`flag`) for this bus.
    fn guest_error_once(&mut self, flag: u8, what: fmt::Arguments<'_>) {
        if self.warned & flag == 0 {
            self.warned |= flag;
            log::warn!("{}: {what} (further such errors are not logged)", self.name);
        }
    }

    fn cmd_value(&self) -> u32 {
        let s = &self.state;
        let mut v = s.cmd & CMD_WRITABLE;
        // Transfers finish at once, so both lines are always released between commands.
        v |= CMD_SDA_LINE_STS | CMD_SCL_LINE_STS;
        if s.bus_busy {
            v |= CMD_BUS_BUSY_STS | (TX_STATE_MACTIVE << CMD_TX_STATE_SHIFT);
        } else {
            v |= TX_STATE_IDLE << CMD_TX_STATE_SHIFT;
        }
        v
    }

    fn read_reg(&self, reg: u64) -> Option<u32> {
        let s = &self.state;
        Some(match reg {
            REG_FUN_CTRL => s.fun_ctrl,
            REG_AC_TIMING1 => s.ac_timing1,
            REG_AC_TIMING2 => s.ac_timing2,
            REG_INTR_CTRL => s.intr_ctrl,
            REG_INTR_STS => s.intr_sts,
            REG_CMD => self.cmd_value(),
            REG_DEV_ADDR => s.dev_addr,
            REG_POOL_CTRL => s.pool_ctrl,
            REG_BYTE_BUF => u32::from(s.tx_byte) | (u32::from(s.rx_byte) << BYTE_BUF_RX_SHIFT),
            REG_DMA_ADDR => s.dma_addr,
            REG_DMA_LEN => s.dma_len,
            _ => return None,
        })
    }

    /// Writes the bytes of `value` selected by `mask` into register `reg`; false when `reg`
    /// is not a register.
    fn write_reg(&mut self, reg: u64, mask: u32, value: u32) -> bool {
        let s = &mut self.state;
        match reg {
            REG_FUN_CTRL => {
                s.fun_ctrl = merge(s.fun_ctrl, mask, value);
                if s.fun_ctrl & FUN_SLAVE_EN != 0 {
                    self.warn_once(WARN_SLAVE, "slave mode is not implemented");
                }
            }
            REG_AC_TIMING1 => s.ac_timing1 = merge(s.ac_timing1, mask, value),
            REG_AC_TIMING2 => s.ac_timing2 = merge(s.ac_timing2, mask, value),
            REG_INTR_CTRL => s.intr_ctrl = merge(s.intr_ctrl, mask, value),
            REG_INTR_STS => {
                let clear = value & mask & INTR_STS_MASK;
                let rx_acked = s.intr_sts & clear & INTR_RX_DONE != 0;
                s.intr_sts &= !clear;
                if rx_acked && s.cmd & (CMD_M_RX | CMD_M_RX_LAST) != 0 {
                    // The RX queued while RX_DONE was set runs now.
                    self.run_commands();
                }
            }
            REG_CMD => {
                if mask & CMD_WRITABLE != 0 {
                    let cmd = merge(s.cmd, mask, value) & CMD_WRITABLE;
                    // Command bits in untouched lanes are not re-issued.
                    self.write_cmd(cmd & (mask | !CMD_MASTER_CMDS));
                }
            }
            REG_DEV_ADDR => s.dev_addr = merge(s.dev_addr, mask, value),
            REG_POOL_CTRL => s.pool_ctrl = merge(s.pool_ctrl, mask & POOL_CTRL_WRITABLE, value),
            REG_BYTE_BUF => {
                if mask & 0xFF != 0 {
                    s.tx_byte = value as u8;
                }
            }
            REG_DMA_ADDR => s.dma_addr = merge(s.dma_addr, mask, value) & DMA_ADDR_MASK,
            REG_DMA_LEN => s.dma_len = merge(s.dma_len, mask, value) & DMA_LEN_MASK,
            _ => return false,
        }
        true
    }

    fn write_cmd(&mut self, value: u32) {
        self.state.cmd = value;
        let unconnected = if value & (CMD_TX_BUFF_EN | CMD_RX_BUFF_EN) != 0 && self.pool.is_none() {
            Some((
                WARN_NO_POOL,
                "buffer-pool transfer on a bus with no buffer pool connected; command ignored",
            ))
        } else if value & (CMD_TX_DMA_EN | CMD_RX_DMA_EN) != 0 && self.dram.is_none() {
            Some((
                WARN_NO_DRAM,
                "DMA transfer on a bus with no guest memory connected; command ignored",
            ))
        } else {
            None
        };
        if let Some((flag, what)) = unconnected {
            self.warn_once(flag, what);
            self.state.cmd &= !(CMD_BUFFER_MODES | CMD_MASTER_CMDS | CMD_BUS_RECOVER);
            return;
        }
        let sram_off = self.state.variant.needs_sram_enable()
            && self.global.as_ref().is_some_and(|g| !g.sram_enabled());
        if value & CMD_BUFFER_MODES != 0 && sram_off {
            self.guest_error_once(
                WARN_SRAM_OFF,
                format_args!(
                    "buffer-pool or DMA command {value:#x} with the I2C SRAM disabled \
                     (global control SRAM_EN clear); command ignored"
                ),
            );
            self.state.cmd &= !(CMD_BUFFER_MODES | CMD_MASTER_CMDS | CMD_BUS_RECOVER);
            return;
        }
        if value & CMD_S_TX != 0 {
            self.warn_once(WARN_SLAVE, "slave mode is not implemented");
            self.state.cmd &= !CMD_S_TX;
        }
        if value & CMD_BUS_RECOVER != 0 {
            self.recover_bus();
        }
        if value & CMD_MASTER_CMDS != 0 && self.state.fun_ctrl & FUN_MASTER_EN == 0 {
            self.warn_once(
                WARN_MASTER_OFF,
                "master command with master mode disabled; ignored",
            );
            self.state.cmd &= !CMD_MASTER_CMDS;
            return;
        }
        self.run_commands();
    }

    /// Bus recovery: the controller clocks SCL until SDA is free and ends with a STOP. The
    /// lines are never stuck here, so it always succeeds at once.
    fn recover_bus(&mut self) {
        if self.state.bus_busy {
            self.bus.stop();
            self.state.bus_busy = false;
        }
        self.state.cmd &= !CMD_BUS_RECOVER;
        self.state.intr_sts |= INTR_BUS_RECOVER_DONE;
    }

    /// Executes the queued master commands in bus order: START (+ address), TX, RX, STOP.
    fn run_commands(&mut self) {
        let tx_mode = Mode::tx(self.state.cmd);
        let transmits = self.state.cmd & (CMD_M_START | CMD_M_TX) != 0;
        // Buffer mode: the stream is bytes 0 ..= TX_COUNT of the bus's buffer, read up front.
        let mut stream = Vec::new();
        if transmits && tx_mode == Mode::Buffer {
            let count = ((self.state.pool_ctrl & POOL_CTRL_TX_COUNT) >> POOL_CTRL_TX_COUNT_SHIFT)
                as usize
                + 1;
            if let Some((pool, range)) = self.pool_window(0, count) {
                stream = pool.read(range);
            }
        }
        if transmits && tx_mode == Mode::Dma && self.state.dma_len == 0 {
            self.guest_error_once(
                WARN_DMA_EMPTY,
                format_args!("DMA transfer with DMA_LEN 0: no bytes to send"),
            );
        }
        // Next byte of `stream` to send.
        let mut next = 0;
        if self.state.cmd & CMD_M_START != 0 {
            let address_byte = match tx_mode {
                Mode::Byte => Some(self.state.tx_byte),
                Mode::Buffer => {
                    next = 1;
                    stream.first().copied()
                }
                Mode::Dma => self.dma_read_byte(),
            };
            let s = &mut self.state;
            s.cmd &= !CMD_M_START;
            if tx_mode == Mode::Byte {
                // In byte mode the TX bit that comes with START sends the address byte itself.
                s.cmd &= !CMD_M_TX;
            }
            s.bus_busy = true;
            // No address byte (an empty DMA stream or pool window): nobody is addressed.
            let ack = address_byte.is_some_and(|b| self.bus.start(b >> 1, b & 1 != 0));
            if !ack {
                // Nobody answered: the data phase is dropped; a STOP may still follow.
                self.tx_nak();
            } else if self.state.cmd & CMD_M_TX == 0 {
                self.state.intr_sts |= INTR_TX_ACK;
            }
        }
        if self.state.cmd & CMD_M_TX != 0 {
            self.state.cmd &= !CMD_M_TX;
            let ack = match tx_mode {
                Mode::Byte => self.bus.write(self.state.tx_byte),
                Mode::Buffer => {
                    let data = stream.get(next..).unwrap_or_default();
                    data.iter().all(|&b| self.bus.write(b))
                }
                Mode::Dma => self.dma_send(),
            };
            if ack {
                self.state.intr_sts |= INTR_TX_ACK;
            } else {
                self.tx_nak();
            }
        }
        if transmits {
            self.state.cmd &= !CMD_TX_MODES;
        }
        let s = &mut self.state;
        if s.cmd & (CMD_M_RX | CMD_M_RX_LAST) != 0 {
            if s.intr_sts & INTR_RX_DONE != 0 {
                // The previous byte is not acknowledged yet: wait (and keep the STOP queued).
                return;
            }
            let rx_mode = Mode::rx(s.cmd);
            s.cmd &= !(CMD_M_RX | CMD_M_RX_LAST | CMD_RX_MODES);
            match rx_mode {
                Mode::Byte => self.state.rx_byte = self.bus.read(),
                Mode::Buffer => self.receive_into_pool(),
                Mode::Dma => self.receive_by_dma(),
            }
            self.state.intr_sts |= INTR_RX_DONE;
        }
        let s = &mut self.state;
        if s.cmd & CMD_M_STOP != 0 {
            s.cmd &= !CMD_M_STOP;
            if s.bus_busy {
                self.bus.stop();
                s.bus_busy = false;
                s.intr_sts |= INTR_NORMAL_STOP;
            } else {
                // QEMU: a STOP outside a transfer is abnormal.
                s.intr_sts |= INTR_ABNORMAL;
            }
        }
    }

    /// A byte sent was refused (or there was no address to send): TX_NAK, and the rest of the
    /// data phase (more TX, any RX) is dropped. A STOP may still follow.
    fn tx_nak(&mut self) {
        let s = &mut self.state;
        s.intr_sts |= INTR_TX_NAK;
        s.cmd &= !(CMD_M_TX | CMD_M_RX | CMD_M_RX_LAST | CMD_RX_MODES);
    }

    /// The pool and the range of pool bytes that are bytes `offset .. offset + len` of this
    /// bus's buffer, cut to the buffer and to the pool (a cut is a guest error, logged).
    /// `None` (logged) when no pool is connected.
    fn pool_window(&mut self, offset: usize, len: usize) -> Option<(PoolMemory, Range<usize>)> {
        let Some((pool, index)) = self.pool.clone() else {
            self.warn_once(
                WARN_NO_POOL,
                "buffer-pool transfer on a bus with no buffer pool connected; command ignored",
            );
            return None;
        };
        let variant = self.state.variant;
        let base = variant.pool_bus_buffer_offset(index);
        let buffer_end = base
            .saturating_add(variant.pool_bus_buffer_size())
            .min(pool.len());
        let start = base.saturating_add(offset).min(buffer_end);
        let end = start.saturating_add(len).min(buffer_end);
        if end - start < len {
            self.guest_error_once(
                WARN_POOL_CLAMP,
                format_args!(
                    "buffer bytes {offset}..{} of the buffer at pool offset {base:#x} are past \
                     the buffer; cut to {} bytes",
                    offset.saturating_add(len),
                    end - start
                ),
            );
        }
        Some((pool, start..end))
    }

    /// Buffer-mode receive: `RX_SIZE + 1` bytes into the bus's buffer (its second half when
    /// the AST2600's `BUF_ORGANIZATION` splits it), and their number in `RX_COUNT`.
    fn receive_into_pool(&mut self) {
        let ctrl = self.state.pool_ctrl;
        let size = ((ctrl & POOL_CTRL_RX_SIZE) >> POOL_CTRL_RX_SIZE_SHIFT) as usize + 1;
        let split = self.state.variant.has_buffer_organization();
        let offset = if split && ctrl & POOL_CTRL_BUF_ORGANIZATION != 0 {
            POOL_SPLIT_RX_OFFSET
        } else {
            0
        };
        let mut count = 0;
        if let Some((pool, range)) = self.pool_window(offset, size) {
            let bytes: Vec<u8> = range.clone().map(|_| self.bus.read()).collect();
            pool.write(range.start, &bytes);
            count = bytes.len() as u32;
        }
        self.state.pool_ctrl = (ctrl & !POOL_CTRL_RX_COUNT)
            | ((count << POOL_CTRL_RX_COUNT_SHIFT) & POOL_CTRL_RX_COUNT);
    }

    /// The most bytes one DMA transfer moves (a restored state may hold a longer length).
    fn dma_budget(&self) -> u32 {
        self.state.dma_len.min(DMA_LEN_MASK)
    }

    /// Reads the next byte of the DMA stream, moving `DMA_ADDR` on and `DMA_LEN` down. `None`
    /// when `DMA_LEN` is 0 or the address is outside guest memory (logged).
    fn dma_read_byte(&mut self) -> Option<u8> {
        if self.state.dma_len == 0 {
            return None;
        }
        let addr = self.state.dma_addr;
        let mut b = [0u8];
        let ok = self
            .dram
            .as_ref()
            .is_some_and(|d| d.read(u64::from(addr), &mut b).is_ok());
        if !ok {
            self.dma_fault(addr, "read");
            return None;
        }
        self.dma_advance();
        Some(b[0])
    }

    /// DMA transmit: the rest of the DMA stream. False when a byte is refused or guest memory
    /// faults.
    fn dma_send(&mut self) -> bool {
        for _ in 0..self.dma_budget() {
            match self.dma_read_byte() {
                Some(b) if self.bus.write(b) => {}
                _ => return false,
            }
        }
        true
    }

    /// DMA receive: `DMA_LEN` bytes from the target into guest memory at `DMA_ADDR`.
    fn receive_by_dma(&mut self) {
        let len = self.dma_budget();
        if len == 0 {
            self.guest_error_once(
                WARN_DMA_EMPTY,
                format_args!("DMA receive with DMA_LEN 0: no bytes received"),
            );
        }
        for _ in 0..len {
            let byte = self.bus.read();
            let addr = self.state.dma_addr;
            let ok = self
                .dram
                .as_ref()
                .is_some_and(|d| d.write(u64::from(addr), &[byte]).is_ok());
            if !ok {
                self.dma_fault(addr, "write");
                return;
            }
            self.dma_advance();
        }
    }

    fn dma_advance(&mut self) {
        let s = &mut self.state;
        s.dma_addr = s.dma_addr.wrapping_add(1);
        s.dma_len = s.dma_len.saturating_sub(1);
    }

    fn dma_fault(&mut self, addr: u32, what: &str) {
        self.guest_error_once(
            WARN_DMA_FAULT,
            format_args!("DMA {what} at {addr:#x} is outside guest memory; transfer stopped"),
        );
    }

    fn read32(&mut self, offset: u64, size: u8) -> u64 {
        match self.read_reg(offset & !3) {
            Some(v) => subword(v, offset, size),
            None => {
                self.unimplemented.read(offset, size);
                0
            }
        }
    }

    fn write32(&mut self, offset: u64, size: u8, value: u64) {
        let (mask, lanes_value) = lanes(offset, size, value);
        if !self.write_reg(offset & !3, mask, lanes_value) {
            self.unimplemented.write(offset, size, value);
        }
        self.update_irq();
    }
}

impl Device for AspeedI2cBus {
    fn read(&mut self, offset: u64, size: u8) -> u64 {
        bus::split_read(offset, size, |o, s| self.read32(o, s))
    }

    fn write(&mut self, offset: u64, size: u8, value: u64) {
        bus::split_write(offset, size, value, |o, s, v| self.write32(o, s, v));
    }

    /// SoC reset: registers to zero and any transfer ended. The targets are board devices and
    /// keep their own state.
    fn reset(&mut self) {
        if self.state.bus_busy {
            self.bus.stop();
        }
        self.state = AspeedI2cBusState {
            variant: self.state.variant,
            irq_level: self.state.irq_level,
            ..AspeedI2cBusState::default()
        };
        self.update_irq();
    }

    /// The registers and the address of the target in the current transaction
    /// ([`AspeedI2cBusState`]). The targets, the pool, guest memory and the lines are wiring:
    /// the SoC saves each target itself.
    fn save_state(&self) -> Option<DeviceState> {
        Some(DeviceState::new(
            BUS_STATE_KIND,
            STATE_VERSION,
            &self.state(),
        ))
    }

    /// Refuses another generation's state. The targets stay attached and are not told anything
    /// (each restores its own state); the line and the global block's view of it follow the
    /// restored status and enables.
    fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        let s: AspeedI2cBusState = state.decode(BUS_STATE_KIND, STATE_VERSION)?;
        if s.variant != self.state.variant {
            return Err(StateError(format!(
                "{BUS_STATE_KIND}: the state is of an {:?} bus, {} is an {:?} one",
                s.variant, self.name, self.state.variant
            )));
        }
        if s.selected.is_some_and(|a| a > crate::MAX_ADDRESS) {
            return Err(StateError(format!(
                "{BUS_STATE_KIND}: selected address {:?} is not a 7-bit address",
                s.selected
            )));
        }
        self.bus.restore_selected(s.selected);
        self.state = s;
        let level = self.irq_pending();
        self.state.irq_level = level;
        self.irq_status.set(level);
        self.irq.set(level);
        Ok(())
    }
}

/// The global registers of the I2C controller: a plain value that can be saved and restored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AspeedI2cGlobalState {
    /// Which SoC generation's controller this is ([`Variant::Ast2600`] by default).
    pub variant: Variant,
    /// Interrupt target assignment.
    pub intr_target: u32,
    /// Global control.
    pub ctrl: u32,
    /// New-mode clock divider (AST2600 only).
    pub new_clk_divider: u32,
}

/// The global register block at the start of the I2C controller: which bus interrupted, and
/// the global control register.
pub struct AspeedI2cGlobal {
    state: AspeedI2cGlobalState,
    buses: Vec<BusIrqStatus>,
    control: GlobalControl,
    unimplemented: UnimplementedLog,
    warned_new_mode: bool,
}

impl AspeedI2cGlobal {
    /// The global block reading bus n's interrupt from `buses[n]` (at most 32 buses are seen).
    pub fn new(buses: Vec<BusIrqStatus>) -> Self {
        Self::from_state(&AspeedI2cGlobalState::default(), buses)
    }

    /// The global block restored from `state`.
    pub fn from_state(state: &AspeedI2cGlobalState, buses: Vec<BusIrqStatus>) -> Self {
        let control = GlobalControl::new();
        control.set(state.ctrl);
        Self {
            state: state.clone(),
            buses,
            control,
            unimplemented: UnimplementedLog::new("i2c-global"),
            warned_new_mode: false,
        }
    }

    /// This global block as `variant`'s: its status register covers that generation's buses
    /// ([`Variant::bus_count`]) and, on the AST2500, there is no new register mode (GLOBAL_CTRL
    /// bit 2 selects nothing; the new-mode clock divider at 0x10 does not exist and is cleared).
    pub fn with_variant(mut self, variant: Variant) -> Self {
        self.state.variant = variant;
        if !variant.has_new_register_mode() {
            self.state.new_clk_divider = 0;
        }
        self
    }

    /// The SoC generation of this controller.
    pub fn variant(&self) -> Variant {
        self.state.variant
    }

    /// A copy of the registers.
    pub fn state(&self) -> AspeedI2cGlobalState {
        self.state.clone()
    }

    /// A handle on the global control register for the buses ([`AspeedI2cBus::connect_global`]).
    pub fn control(&self) -> GlobalControl {
        self.control.clone()
    }

    /// The interrupt status register: bit n set while bus n's interrupt line is high (for the
    /// variant's [`Variant::bus_count`] buses at most). Linux's `irq-aspeed-i2c-ic` reads it to
    /// find which bus raised the AST2500's shared line.
    pub fn interrupt_status(&self) -> u32 {
        self.buses
            .iter()
            .take(self.state.variant.bus_count().min(32))
            .enumerate()
            .filter(|(_, b)| b.pending())
            .fold(0, |acc, (n, _)| acc | (1 << n))
    }

    fn read_reg(&self, reg: u64) -> Option<u32> {
        Some(match reg {
            GLOBAL_INTR_STS => self.interrupt_status(),
            GLOBAL_INTR_TARGET => self.state.intr_target,
            GLOBAL_CTRL => self.state.ctrl,
            GLOBAL_NEW_CLK_DIVIDER if self.state.variant.has_new_register_mode() => {
                self.state.new_clk_divider
            }
            _ => return None,
        })
    }

    fn read32(&mut self, offset: u64, size: u8) -> u64 {
        match self.read_reg(offset & !3) {
            Some(v) => subword(v, offset, size),
            None => {
                self.unimplemented.read(offset, size);
                0
            }
        }
    }

    fn write32(&mut self, offset: u64, size: u8, value: u64) {
        let (mask, v) = lanes(offset, size, value);
        let new_mode = self.state.variant.has_new_register_mode();
        let s = &mut self.state;
        match offset & !3 {
            GLOBAL_INTR_STS => {} // read-only: follows the buses
            GLOBAL_INTR_TARGET => s.intr_target = merge(s.intr_target, mask, v),
            GLOBAL_CTRL => {
                s.ctrl = merge(s.ctrl, mask, v);
                self.control.set(s.ctrl);
                if new_mode && s.ctrl & GLOBAL_CTRL_NEW_REG_MODE != 0 && !self.warned_new_mode {
                    self.warned_new_mode = true;
                    log::warn!(target: "unimp", "i2c-global: the new register mode is not implemented");
                }
            }
            GLOBAL_NEW_CLK_DIVIDER if new_mode => {
                s.new_clk_divider = merge(s.new_clk_divider, mask, v)
            }
            _ => self.unimplemented.write(offset, size, value),
        }
    }
}

impl Device for AspeedI2cGlobal {
    fn read(&mut self, offset: u64, size: u8) -> u64 {
        bus::split_read(offset, size, |o, s| self.read32(o, s))
    }

    fn write(&mut self, offset: u64, size: u8, value: u64) {
        bus::split_write(offset, size, value, |o, s, v| self.write32(o, s, v));
    }

    fn reset(&mut self) {
        self.state = AspeedI2cGlobalState {
            variant: self.state.variant,
            ..AspeedI2cGlobalState::default()
        };
        self.control.set(self.state.ctrl);
    }

    /// The global registers ([`AspeedI2cGlobalState`]); the interrupt status is not state: it
    /// follows the buses' lines.
    fn save_state(&self) -> Option<DeviceState> {
        Some(DeviceState::new(
            GLOBAL_STATE_KIND,
            STATE_VERSION,
            &self.state,
        ))
    }

    /// Refuses another generation's state; the buses' handle on the global control register
    /// ([`AspeedI2cGlobal::control`]) sees the restored value.
    fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        let s: AspeedI2cGlobalState = state.decode(GLOBAL_STATE_KIND, STATE_VERSION)?;
        if s.variant != self.state.variant {
            return Err(StateError(format!(
                "{GLOBAL_STATE_KIND}: the state is of an {:?} controller, this one is an {:?}",
                s.variant, self.state.variant
            )));
        }
        self.state = s;
        self.control.set(self.state.ctrl);
        Ok(())
    }
}

/// The bytes of the controller's buffer pool, shared by [`AspeedI2cPool`] (the guest's view)
/// and the buses that transfer through it ([`AspeedI2cBus::connect_pool`]). Cloning gives
/// another handle on the same bytes.
#[derive(Clone, Debug)]
pub struct PoolMemory(Rc<RefCell<Vec<u8>>>);

impl PoolMemory {
    /// A pool holding `bytes` (cut or zero-padded to [`POOL_SIZE`]).
    pub fn new(bytes: &[u8]) -> Self {
        let mut v = bytes.to_vec();
        v.resize(POOL_SIZE, 0);
        Self(Rc::new(RefCell::new(v)))
    }

    /// Size in bytes ([`POOL_SIZE`], or the variant's [`Variant::pool_size`] once the pool
    /// went through [`AspeedI2cPool::with_variant`]).
    pub fn len(&self) -> usize {
        self.0.borrow().len()
    }

    /// Always false: the pool has [`POOL_SIZE`] (or [`Variant::pool_size`]) bytes.
    pub fn is_empty(&self) -> bool {
        self.0.borrow().is_empty()
    }

    /// A copy of all the bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        self.0.borrow().clone()
    }

    /// A copy of the bytes in `range` (the part of it inside the pool).
    pub fn read(&self, range: Range<usize>) -> Vec<u8> {
        let bytes = self.0.borrow();
        let end = range.end.min(bytes.len());
        bytes
            .get(range.start.min(end)..end)
            .unwrap_or_default()
            .to_vec()
    }

    /// Copies `data` into the pool at `offset` (the part of it that fits).
    pub fn write(&self, offset: usize, data: &[u8]) {
        let mut bytes = self.0.borrow_mut();
        let start = offset.min(bytes.len());
        let n = data.len().min(bytes.len() - start);
        bytes[start..start + n].copy_from_slice(&data[..n]);
    }

    /// Cuts or zero-pads the pool to `len` bytes.
    fn resize(&self, len: usize) {
        self.0.borrow_mut().resize(len, 0);
    }

    fn byte(&self, offset: u64) -> Option<u8> {
        let i = usize::try_from(offset).ok()?;
        self.0.borrow().get(i).copied()
    }

    fn set_byte(&self, offset: u64, value: u8) -> bool {
        let Ok(i) = usize::try_from(offset) else {
            return false;
        };
        match self.0.borrow_mut().get_mut(i) {
            Some(b) => {
                *b = value;
                true
            }
            None => false,
        }
    }
}

/// The controller's buffer pool: SRAM (32 bytes per bus; 16 on the AST2500) the guest reads
/// and writes, and that buffer-mode transfers send from and receive into.
pub struct AspeedI2cPool {
    bytes: PoolMemory,
    variant: Variant,
    unimplemented: UnimplementedLog,
}

impl Default for AspeedI2cPool {
    fn default() -> Self {
        Self::new()
    }
}

impl AspeedI2cPool {
    /// A pool of [`POOL_SIZE`] zero bytes.
    pub fn new() -> Self {
        Self::from_state(&[])
    }

    /// A pool holding `bytes` (cut or zero-padded to [`POOL_SIZE`]).
    pub fn from_state(bytes: &[u8]) -> Self {
        Self {
            bytes: PoolMemory::new(bytes),
            variant: Variant::Ast2600,
            unimplemented: UnimplementedLog::new("i2c-pool"),
        }
    }

    /// This pool as `variant`'s: cut or zero-padded to [`Variant::pool_size`] bytes (0x100 on
    /// the AST2500), keeping the bytes that fit. Restore an AST2500 pool with
    /// `AspeedI2cPool::from_state(&bytes).with_variant(Variant::Ast2500)`.
    pub fn with_variant(mut self, variant: Variant) -> Self {
        self.variant = variant;
        self.bytes.resize(variant.pool_size());
        self
    }

    /// The SoC generation of this pool.
    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// A copy of the pool's bytes ([`Variant::pool_size`] of them).
    pub fn state(&self) -> Vec<u8> {
        self.bytes.to_vec()
    }

    /// A handle on the pool's bytes, for [`AspeedI2cBus::connect_pool`].
    pub fn memory(&self) -> PoolMemory {
        self.bytes.clone()
    }
}

impl Device for AspeedI2cPool {
    fn read(&mut self, offset: u64, size: u8) -> u64 {
        let n = u64::from(size.clamp(1, 8));
        let mut v = 0u64;
        for i in 0..n {
            match offset.checked_add(i).and_then(|a| self.bytes.byte(a)) {
                Some(b) => v |= u64::from(b) << (8 * i),
                None => {
                    self.unimplemented.read(offset, size);
                    return 0;
                }
            }
        }
        v
    }

    fn write(&mut self, offset: u64, size: u8, value: u64) {
        let n = u64::from(size.clamp(1, 8));
        for i in 0..n {
            let written = offset
                .checked_add(i)
                .is_some_and(|a| self.bytes.set_byte(a, (value >> (8 * i)) as u8));
            if !written {
                self.unimplemented.write(offset, size, value);
                return;
            }
        }
    }

    fn reset(&mut self) {
        self.bytes.0.borrow_mut().fill(0);
    }

    /// The generation and the pool's bytes ([`Variant::pool_size`] of them).
    fn save_state(&self) -> Option<DeviceState> {
        let state = PoolState {
            variant: self.variant,
            bytes: self.state(),
        };
        Some(DeviceState::new(POOL_STATE_KIND, STATE_VERSION, &state))
    }

    /// Refuses another generation's pool (or bytes of another size); the bytes are copied into
    /// the memory the buses share ([`AspeedI2cPool::memory`]).
    fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        let s: PoolState = state.decode(POOL_STATE_KIND, STATE_VERSION)?;
        if s.variant != self.variant || s.bytes.len() != self.bytes.len() {
            return Err(StateError(format!(
                "{POOL_STATE_KIND}: the state is {} bytes of an {:?} pool, this one is {} bytes \
                 of an {:?} pool",
                s.bytes.len(),
                s.variant,
                self.bytes.len(),
                self.variant
            )));
        }
        self.bytes.write(0, &s.bytes);
        Ok(())
    }
}

/// What [`AspeedI2cPool`] saves: its generation and bytes.
#[derive(Serialize, Deserialize)]
struct PoolState {
    variant: Variant,
    bytes: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::I2cTarget;
    use bus::{LevelRecorder, VecMemory};

    /// A target that answers from a script and records every bus event.
    #[derive(Default)]
    struct Scripted {
        events: Vec<String>,
        reads: Vec<u8>,
        nak_writes: Vec<u8>,
        /// The 7-bit address of each START this target saw.
        addresses: Vec<u8>,
    }

    impl I2cTarget for Scripted {
        fn start(&mut self, read: bool) -> bool {
            self.events
                .push(if read { "start-read" } else { "start-write" }.into());
            true
        }
        fn write(&mut self, byte: u8) -> bool {
            self.events.push(format!("write {byte:#04x}"));
            !self.nak_writes.contains(&byte)
        }
        fn read(&mut self) -> u8 {
            let b = if self.reads.is_empty() {
                0xEE
            } else {
                self.reads.remove(0)
            };
            self.events.push(format!("read {b:#04x}"));
            b
        }
        fn stop(&mut self) {
            self.events.push("stop".into());
        }
        fn start_at(&mut self, address: u8, read: bool) -> bool {
            self.addresses.push(address);
            self.start(read)
        }
    }

    const ADDR: u8 = 0x4D;
    /// Linux `ASPEED_I2CD_INTR_ALL`.
    const INTR_ALL: u32 = 0x607F;

    fn setup() -> (AspeedI2cBus, Rc<RefCell<Scripted>>, Rc<LevelRecorder>) {
        let rec = LevelRecorder::new();
        let mut dev = AspeedI2cBus::new("i2c-test", rec.line(3));
        let t = Rc::new(RefCell::new(Scripted::default()));
        dev.attach(ADDR, t.clone()).unwrap();
        // aspeed_i2c_init: master enable, single master, all interrupts.
        dev.write(
            REG_FUN_CTRL,
            4,
            u64::from(FUN_MASTER_EN | FUN_MULTI_MASTER_DIS),
        );
        dev.write(REG_INTR_CTRL, 4, u64::from(INTR_ALL));
        (dev, t, rec)
    }

    fn sts(d: &mut AspeedI2cBus) -> u32 {
        d.read(REG_INTR_STS, 4) as u32
    }

    fn cmd(d: &mut AspeedI2cBus, c: u32) {
        d.write(REG_CMD, 4, u64::from(c));
    }

    fn ack_all(d: &mut AspeedI2cBus) {
        d.write(REG_INTR_STS, 4, 0xFFFF_FFFF);
    }

    #[test]
    fn reset_values_report_an_idle_bus() {
        let rec = LevelRecorder::new();
        let mut d = AspeedI2cBus::new("i2c-test", rec.line(0));
        for reg in [REG_FUN_CTRL, REG_AC_TIMING1, REG_INTR_CTRL, REG_INTR_STS] {
            assert_eq!(d.read(reg, 4), 0, "reg {reg:#x}");
        }
        let c = d.read(REG_CMD, 4) as u32;
        assert_eq!(
            c,
            CMD_SDA_LINE_STS | CMD_SCL_LINE_STS,
            "lines high, not busy"
        );
        assert!(!rec.level(0));
    }

    #[test]
    fn write_transaction_with_acks_then_stop() {
        let (mut d, t, rec) = setup();
        d.write(REG_BYTE_BUF, 4, u64::from(ADDR << 1));
        cmd(&mut d, CMD_M_START | CMD_M_TX);
        assert_eq!(sts(&mut d), INTR_TX_ACK);
        assert!(rec.level(3));
        assert_ne!(d.read(REG_CMD, 4) as u32 & CMD_BUS_BUSY_STS, 0, "bus busy");
        for byte in [0x12u8, 0x34] {
            ack_all(&mut d);
            assert!(!rec.level(3));
            d.write(REG_BYTE_BUF, 4, u64::from(byte));
            cmd(&mut d, CMD_M_TX);
            assert_eq!(sts(&mut d), INTR_TX_ACK);
            assert!(rec.level(3));
        }
        ack_all(&mut d);
        cmd(&mut d, CMD_M_STOP);
        assert_eq!(sts(&mut d), INTR_NORMAL_STOP);
        assert!(rec.level(3));
        assert_eq!(d.read(REG_CMD, 4) as u32 & CMD_BUS_BUSY_STS, 0);
        assert_eq!(
            d.read(REG_CMD, 4) as u32 & CMD_MASTER_CMDS,
            0,
            "commands done"
        );
        assert_eq!(
            t.borrow().events,
            ["start-write", "write 0x12", "write 0x34", "stop"]
        );
    }

    #[test]
    fn read_transaction_as_linux_drives_it_naks_the_last_byte() {
        let (mut d, t, rec) = setup();
        t.borrow_mut().reads = vec![0xA1, 0xB2, 0xC3];
        // aspeed_i2c_do_start for a 3-byte read: START | TX | RX in one command.
        d.write(REG_BYTE_BUF, 4, u64::from((ADDR << 1) | 1));
        cmd(&mut d, CMD_M_START | CMD_M_TX | CMD_M_RX);
        assert_eq!(sts(&mut d), INTR_TX_ACK | INTR_RX_DONE);
        assert_eq!(d.read(REG_BYTE_BUF, 4) >> 8, 0xA1);
        for (expected, last) in [(0xB2u64, false), (0xC3, true)] {
            // The handler acks everything but RX_DONE, queues the next RX, then acks RX_DONE.
            let s = sts(&mut d);
            d.write(REG_INTR_STS, 4, u64::from(s & !INTR_RX_DONE));
            let c = if last {
                CMD_M_RX | CMD_M_RX_LAST
            } else {
                CMD_M_RX
            };
            cmd(&mut d, c);
            assert_eq!(sts(&mut d), INTR_RX_DONE, "RX waits for RX_DONE to clear");
            assert_ne!(d.read(REG_CMD, 4) as u32 & CMD_M_RX, 0, "still queued");
            d.write(REG_INTR_STS, 4, u64::from(INTR_RX_DONE));
            assert_eq!(sts(&mut d), INTR_RX_DONE, "the queued RX ran");
            assert!(rec.level(3));
            assert_eq!(d.read(REG_BYTE_BUF, 4) >> 8, expected);
        }
        // Last byte: do_stop before RX_DONE is acked; STOP does not wait.
        cmd(&mut d, CMD_M_STOP);
        d.write(REG_INTR_STS, 4, u64::from(INTR_RX_DONE));
        assert_eq!(sts(&mut d), INTR_NORMAL_STOP);
        assert_eq!(
            t.borrow().events,
            ["start-read", "read 0xa1", "read 0xb2", "read 0xc3", "stop"]
        );
    }

    #[test]
    fn repeated_start_switches_direction() {
        let (mut d, t, _) = setup();
        t.borrow_mut().reads = vec![0x37, 0x00];
        d.write(REG_BYTE_BUF, 4, u64::from(ADDR << 1));
        cmd(&mut d, CMD_M_START | CMD_M_TX);
        ack_all(&mut d);
        d.write(REG_BYTE_BUF, 4, 0);
        cmd(&mut d, CMD_M_TX);
        ack_all(&mut d);
        d.write(REG_BYTE_BUF, 4, u64::from((ADDR << 1) | 1));
        cmd(&mut d, CMD_M_START | CMD_M_TX | CMD_M_RX);
        assert_eq!(sts(&mut d), INTR_TX_ACK | INTR_RX_DONE);
        assert_eq!(d.read(REG_BYTE_BUF, 4) >> 8, 0x37);
        ack_all(&mut d);
        cmd(&mut d, CMD_M_RX | CMD_M_RX_LAST | CMD_M_STOP);
        assert_eq!(sts(&mut d), INTR_RX_DONE | INTR_NORMAL_STOP);
        assert_eq!(
            t.borrow().events,
            [
                "start-write",
                "write 0x00",
                "start-read",
                "read 0x37",
                "read 0x00",
                "stop"
            ]
        );
    }

    #[test]
    fn absent_address_naks_and_the_stop_is_normal() {
        let (mut d, t, rec) = setup();
        d.write(REG_BYTE_BUF, 4, u64::from((0x33u8 << 1) | 1));
        cmd(&mut d, CMD_M_START | CMD_M_TX | CMD_M_RX | CMD_M_RX_LAST);
        assert_eq!(sts(&mut d), INTR_TX_NAK, "no TX_ACK and no RX after a NAK");
        assert!(rec.level(3));
        assert_eq!(d.read(REG_CMD, 4) as u32 & CMD_MASTER_CMDS, 0);
        ack_all(&mut d);
        cmd(&mut d, CMD_M_STOP);
        assert_eq!(
            sts(&mut d),
            INTR_NORMAL_STOP,
            "Linux expects NORMAL_STOP here"
        );
        assert!(t.borrow().events.is_empty());
    }

    #[test]
    fn target_nak_of_a_data_byte() {
        let (mut d, t, _) = setup();
        t.borrow_mut().nak_writes = vec![0x99];
        d.write(REG_BYTE_BUF, 4, u64::from(ADDR << 1));
        cmd(&mut d, CMD_M_START | CMD_M_TX);
        ack_all(&mut d);
        d.write(REG_BYTE_BUF, 4, 0x99);
        cmd(&mut d, CMD_M_TX);
        assert_eq!(sts(&mut d), INTR_TX_NAK);
    }

    #[test]
    fn stop_outside_a_transfer_is_abnormal() {
        let (mut d, _, _) = setup();
        cmd(&mut d, CMD_M_STOP);
        assert_eq!(sts(&mut d), INTR_ABNORMAL);
    }

    #[test]
    fn status_is_write_one_to_clear_per_bit_and_per_byte_lane() {
        let (mut d, _, rec) = setup();
        d.write(REG_BYTE_BUF, 4, u64::from(ADDR << 1));
        cmd(&mut d, CMD_M_START | CMD_M_TX);
        cmd(&mut d, CMD_M_STOP);
        cmd(&mut d, CMD_M_STOP);
        assert_eq!(sts(&mut d), INTR_TX_ACK | INTR_NORMAL_STOP | INTR_ABNORMAL);
        d.write(REG_INTR_STS, 4, 0);
        assert_eq!(sts(&mut d), INTR_TX_ACK | INTR_NORMAL_STOP | INTR_ABNORMAL);
        d.write(REG_INTR_STS, 4, u64::from(INTR_NORMAL_STOP));
        assert_eq!(sts(&mut d), INTR_TX_ACK | INTR_ABNORMAL);
        d.write(REG_INTR_STS + 1, 1, 0xFF);
        assert_eq!(sts(&mut d), INTR_TX_ACK | INTR_ABNORMAL, "upper lane only");
        d.write(REG_INTR_STS, 1, u64::from(INTR_TX_ACK));
        assert_eq!(sts(&mut d), INTR_ABNORMAL);
        assert!(rec.level(3));
        d.write(REG_INTR_STS, 4, u64::from(INTR_ABNORMAL));
        assert!(!rec.level(3));
    }

    #[test]
    fn irq_line_follows_status_and_enables() {
        let (mut d, _, rec) = setup();
        d.write(REG_INTR_CTRL, 4, 0);
        d.write(REG_BYTE_BUF, 4, u64::from(ADDR << 1));
        cmd(&mut d, CMD_M_START | CMD_M_TX);
        assert_eq!(
            sts(&mut d),
            INTR_TX_ACK,
            "status set while disabled (u-boot polls)"
        );
        assert!(!rec.level(3));
        assert!(!d.irq_status().pending());
        d.write(REG_INTR_CTRL, 4, u64::from(INTR_TX_NAK));
        assert!(!rec.level(3), "another bit enabled");
        d.write(REG_INTR_CTRL, 4, u64::from(INTR_TX_ACK));
        assert!(rec.level(3));
        assert!(d.irq_status().pending());
        d.write(REG_INTR_CTRL, 4, 0);
        assert!(!rec.level(3));
        assert_eq!(rec.changes(), vec![(3, true), (3, false)]);
    }

    #[test]
    fn bus_recovery_ends_the_transfer_and_reports_done() {
        let (mut d, t, _) = setup();
        d.write(REG_BYTE_BUF, 4, u64::from(ADDR << 1));
        cmd(&mut d, CMD_M_START | CMD_M_TX);
        ack_all(&mut d);
        cmd(&mut d, CMD_BUS_RECOVER);
        assert_eq!(sts(&mut d), INTR_BUS_RECOVER_DONE);
        let c = d.read(REG_CMD, 4) as u32;
        assert_eq!(c & (CMD_BUS_BUSY_STS | CMD_BUS_RECOVER), 0);
        assert_eq!(c & (CMD_SDA_LINE_STS | CMD_SCL_LINE_STS), 0x6_0000);
        assert_eq!(t.borrow().events, ["start-write", "stop"]);
    }

    #[test]
    fn commands_need_master_mode_and_buffer_modes_need_a_pool_or_memory() {
        let (mut d, t, _) = setup();
        d.write(REG_FUN_CTRL, 4, 0);
        d.write(REG_BYTE_BUF, 4, u64::from(ADDR << 1));
        cmd(&mut d, CMD_M_START | CMD_M_TX);
        assert_eq!(sts(&mut d), 0);
        d.write(REG_FUN_CTRL, 4, u64::from(FUN_MASTER_EN));
        cmd(&mut d, CMD_M_START | CMD_M_TX | CMD_TX_BUFF_EN);
        assert_eq!(sts(&mut d), 0, "no pool connected: nothing happens");
        assert_eq!(d.read(REG_CMD, 4) as u32 & 0xFFFF, 0);
        d.write(REG_DMA_LEN, 4, 4);
        cmd(&mut d, CMD_M_START | CMD_M_TX | CMD_TX_DMA_EN);
        assert_eq!(sts(&mut d), 0, "no guest memory connected: nothing happens");
        assert_eq!(d.read(REG_CMD, 4) as u32 & 0xFFFF, 0);
        assert_eq!(
            d.warned & (WARN_NO_POOL | WARN_NO_DRAM),
            WARN_NO_POOL | WARN_NO_DRAM
        );
        assert!(t.borrow().events.is_empty());
    }

    #[test]
    fn byte_buffer_holds_tx_low_and_rx_high() {
        let (mut d, t, _) = setup();
        t.borrow_mut().reads = vec![0x5A];
        d.write(REG_BYTE_BUF, 4, 0xFFFF_FF00 | u64::from((ADDR << 1) | 1));
        assert_eq!(
            d.read(REG_BYTE_BUF, 4),
            u64::from((ADDR << 1) | 1),
            "RX read-only"
        );
        cmd(&mut d, CMD_M_START | CMD_M_TX | CMD_M_RX | CMD_M_RX_LAST);
        assert_eq!(d.read(REG_BYTE_BUF + 1, 1), 0x5A);
        assert_eq!(d.read(REG_BYTE_BUF, 2), 0x5A9B);
    }

    #[test]
    fn uboot_style_polling_with_clear_all() {
        let (mut d, t, _) = setup();
        t.borrow_mut().reads = vec![1, 2];
        // ast_i2c_start_txn + ast_i2c_read_data: each step waits and writes ~0 to isr.
        d.write(REG_BYTE_BUF, 4, u64::from((ADDR << 1) | 1));
        cmd(&mut d, CMD_M_START | CMD_M_TX);
        assert_eq!(sts(&mut d) & (INTR_TX_ACK | INTR_TX_NAK), INTR_TX_ACK);
        ack_all(&mut d);
        let mut got = vec![];
        for c in [CMD_M_RX, CMD_M_RX | CMD_M_RX_LAST] {
            cmd(&mut d, c);
            assert_ne!(sts(&mut d) & INTR_RX_DONE, 0);
            ack_all(&mut d);
            got.push(d.read(REG_BYTE_BUF, 4) >> 8);
        }
        cmd(&mut d, CMD_M_STOP);
        assert_ne!(sts(&mut d) & INTR_NORMAL_STOP, 0);
        assert_eq!(got, [1, 2]);
    }

    #[test]
    fn plain_registers_read_back() {
        let (mut d, _, _) = setup();
        d.write(REG_AC_TIMING1, 4, 0xFFF5_5306);
        d.write(REG_AC_TIMING2, 4, 3);
        d.write(REG_DEV_ADDR, 4, 0x10);
        d.write(REG_POOL_CTRL, 4, 0x1F00);
        d.write(REG_AC_TIMING1, 1, 0x07);
        assert_eq!(d.read(REG_AC_TIMING1, 4), 0xFFF5_5307);
        assert_eq!(d.read(REG_AC_TIMING2, 4), 3);
        assert_eq!(d.read(REG_DEV_ADDR, 4), 0x10);
        assert_eq!(d.read(REG_POOL_CTRL, 4), 0x1F00);
    }

    #[test]
    fn unknown_registers_read_zero_and_are_logged() {
        let (mut d, _, _) = setup();
        assert_eq!(d.read(0x40, 4), 0);
        d.write(0x7C, 4, 5);
        assert_eq!(d.read(0x7C, 4), 0);
        assert_eq!(d.unimplemented.reported(), 3);
    }

    #[test]
    fn every_offset_and_width_is_accepted() {
        let (mut d, _, _) = setup();
        let mut g = AspeedI2cGlobal::new(vec![d.irq_status()]);
        let mut p = AspeedI2cPool::new();
        for offset in (0..0x90u64).chain([0x1FF, 0x200, u64::MAX - 3, u64::MAX]) {
            for size in [1u8, 2, 4, 8] {
                d.read(offset, size);
                d.write(offset, size, u64::MAX);
                g.read(offset, size);
                g.write(offset, size, u64::MAX);
                p.read(offset, size);
                p.write(offset, size, u64::MAX);
            }
        }
    }

    #[test]
    fn eight_byte_access_covers_two_registers() {
        let (mut d, _, _) = setup();
        d.write(REG_AC_TIMING1, 8, 0x0000_0002_0000_0001);
        assert_eq!(d.read(REG_AC_TIMING1, 4), 1);
        assert_eq!(d.read(REG_AC_TIMING2, 4), 2);
        assert_eq!(d.read(REG_AC_TIMING1, 8), 0x0000_0002_0000_0001);
    }

    #[test]
    fn reset_ends_the_transfer_and_lowers_the_line() {
        let (mut d, t, rec) = setup();
        d.write(REG_BYTE_BUF, 4, u64::from(ADDR << 1));
        cmd(&mut d, CMD_M_START | CMD_M_TX);
        assert!(rec.level(3));
        d.reset();
        assert!(!rec.level(3));
        assert_eq!(d.state(), AspeedI2cBusState::default());
        assert_eq!(t.borrow().events, ["start-write", "stop"]);
        assert_eq!(d.i2c_bus().addresses(), vec![ADDR], "targets stay attached");
    }

    #[test]
    fn state_round_trips_and_restores_the_line() {
        let (mut d, _, _) = setup();
        d.write(REG_AC_TIMING1, 4, 0x1234);
        d.write(REG_BYTE_BUF, 4, u64::from(ADDR << 1));
        cmd(&mut d, CMD_M_START | CMD_M_TX);
        let s = d.state();
        assert!(s.bus_busy);
        let rec = LevelRecorder::new();
        let mut e = AspeedI2cBus::from_state(&s, "i2c-copy", rec.line(1));
        assert!(rec.level(1));
        assert_eq!(e.state(), s);
        assert_eq!(e.read(REG_AC_TIMING1, 4), 0x1234);
    }

    #[test]
    fn global_status_shows_which_bus_interrupts() {
        let rec = LevelRecorder::new();
        let mut buses: Vec<AspeedI2cBus> = (0..BUS_COUNT)
            .map(|n| AspeedI2cBus::new(&format!("i2c{n}"), rec.line(n as u32)))
            .collect();
        let mut g = AspeedI2cGlobal::new(buses.iter().map(|b| b.irq_status()).collect());
        assert_eq!(g.read(GLOBAL_INTR_STS, 4), 0);
        for n in [3usize, 8] {
            let b = &mut buses[n];
            b.write(REG_FUN_CTRL, 4, u64::from(FUN_MASTER_EN));
            b.write(REG_INTR_CTRL, 4, u64::from(INTR_ALL));
            b.write(REG_CMD, 4, u64::from(CMD_M_STOP));
        }
        assert_eq!(g.read(GLOBAL_INTR_STS, 4), (1 << 3) | (1 << 8));
        g.write(GLOBAL_INTR_STS, 4, 0xFFFF_FFFF);
        assert_eq!(g.read(GLOBAL_INTR_STS, 4), (1 << 3) | (1 << 8), "read-only");
        buses[3].write(REG_INTR_STS, 4, 0xFFFF_FFFF);
        assert_eq!(g.read(GLOBAL_INTR_STS, 4), 1 << 8);
        g.write(GLOBAL_CTRL, 4, 1);
        g.write(GLOBAL_INTR_TARGET, 4, 0xABCD);
        assert_eq!(g.read(GLOBAL_CTRL, 4), 1);
        assert_eq!(g.read(GLOBAL_INTR_TARGET, 2), 0xABCD);
        assert_eq!(g.state().ctrl, 1);
        g.reset();
        assert_eq!(g.read(GLOBAL_CTRL, 4), 0);
        assert_eq!(bus_block_offset(0), 0x80);
        assert_eq!(bus_block_offset(15), 0x800);
    }

    #[test]
    fn pool_is_byte_addressable_sram() {
        let mut p = AspeedI2cPool::new();
        p.write(0x20, 4, 0x4433_2211);
        assert_eq!(p.read(0x21, 1), 0x22);
        assert_eq!(p.read(0x20, 8), 0x4433_2211);
        assert_eq!(p.read(POOL_SIZE as u64 - 1, 2), 0, "crosses the end");
        assert_eq!(p.state()[0x23], 0x44);
        p.reset();
        assert_eq!(p.read(0x20, 4), 0);
    }

    // ---- buffer (pool) mode and DMA mode ----

    /// The bus under test is bus 3: its buffer is pool bytes 0x60..0x80.
    const BUS_INDEX: usize = 3;
    const BUF: usize = BUS_INDEX * POOL_BUS_BUFFER_SIZE;
    /// Where the fake guest memory starts (the AST2600's DRAM base).
    const DRAM: u64 = 0x8000_0000;
    const DRAM_SIZE: usize = 0x1000;

    /// A bus as [`setup`] makes it, with bus 3's buffer in a pool (all 0xAA, so bytes the
    /// controller writes stand out) and 4 KiB of guest memory at [`DRAM`].
    fn setup_buffered() -> (
        AspeedI2cBus,
        Rc<RefCell<Scripted>>,
        AspeedI2cPool,
        Rc<VecMemory>,
    ) {
        let (mut d, t, _) = setup();
        let pool = AspeedI2cPool::from_state(&[0xAA; POOL_SIZE]);
        d.connect_pool(pool.memory(), BUS_INDEX);
        let dram = Rc::new(VecMemory::new(DRAM, DRAM_SIZE));
        d.connect_dram(dram.clone());
        (d, t, pool, dram)
    }

    /// Writes `bytes` into the pool at `offset` the way the guest does, through the pool's
    /// registers.
    fn fill_pool(p: &mut AspeedI2cPool, offset: usize, bytes: &[u8]) {
        for (i, b) in bytes.iter().enumerate() {
            p.write((offset + i) as u64, 1, u64::from(*b));
        }
    }

    fn pool_ctrl(d: &mut AspeedI2cBus) -> u32 {
        d.read(REG_POOL_CTRL, 4) as u32
    }

    fn rx_count(d: &mut AspeedI2cBus) -> u32 {
        (pool_ctrl(d) & POOL_CTRL_RX_COUNT) >> POOL_CTRL_RX_COUNT_SHIFT
    }

    fn dram_bytes(m: &VecMemory, addr: u64, n: usize) -> Vec<u8> {
        let mut v = vec![0; n];
        m.read(addr, &mut v).unwrap();
        v
    }

    #[test]
    fn buffer_mode_write_sends_the_address_and_data_from_the_bus_buffer() {
        let (mut d, t, mut p, _) = setup_buffered();
        // Linux aspeed_i2c_prepare_tx_buf for a 3-byte write: the address byte, then the data,
        // TX_COUNT = 3 (4 bytes less one), START | TX | TX_BUFF_EN; no BYTE_BUF write.
        fill_pool(&mut p, 0, &[0x99; 4]); // bus 0's buffer: must not be sent
        fill_pool(&mut p, BUF, &[ADDR << 1, 0x11, 0x22, 0x33]);
        d.write(
            REG_POOL_CTRL,
            4,
            u64::from(3u32 << POOL_CTRL_TX_COUNT_SHIFT),
        );
        cmd(&mut d, CMD_M_START | CMD_M_TX | CMD_TX_BUFF_EN);
        assert_eq!(sts(&mut d), INTR_TX_ACK, "one TX_ACK for the whole buffer");
        assert_eq!(
            d.read(REG_CMD, 4) as u32 & CMD_WRITABLE,
            0,
            "commands and mode bits done"
        );
        assert_eq!(
            pool_ctrl(&mut d) & POOL_CTRL_TX_COUNT,
            3 << POOL_CTRL_TX_COUNT_SHIFT,
            "TX_COUNT reads back"
        );
        // The next chunk (aspeed_i2c_master_handle_tx_first): data from byte 0, no START.
        ack_all(&mut d);
        fill_pool(&mut p, BUF, &[0x44, 0x55]);
        d.write(
            REG_POOL_CTRL,
            4,
            u64::from(1u32 << POOL_CTRL_TX_COUNT_SHIFT),
        );
        cmd(&mut d, CMD_M_TX | CMD_TX_BUFF_EN);
        assert_eq!(sts(&mut d), INTR_TX_ACK);
        ack_all(&mut d);
        cmd(&mut d, CMD_M_STOP);
        assert_eq!(sts(&mut d), INTR_NORMAL_STOP);
        let t = t.borrow();
        assert_eq!(t.addresses, [ADDR]);
        assert_eq!(
            t.events,
            [
                "start-write",
                "write 0x11",
                "write 0x22",
                "write 0x33",
                "write 0x44",
                "write 0x55",
                "stop"
            ]
        );
    }

    #[test]
    fn buffer_mode_read_fills_the_bus_buffer_and_sets_rx_count() {
        let (mut d, t, mut p, _) = setup_buffered();
        t.borrow_mut().reads = vec![1, 2, 3, 4, 5, 6, 7];
        // Linux aspeed_i2c_prepare_rx_buf for a 5-byte read: RX_SIZE = 4, the address in
        // BYTE_BUF, START | TX | RX | RX_BUFF_EN | RX_LAST.
        d.write(REG_BYTE_BUF, 4, u64::from((ADDR << 1) | 1));
        d.write(REG_POOL_CTRL, 4, u64::from(4u32 << POOL_CTRL_RX_SIZE_SHIFT));
        cmd(
            &mut d,
            CMD_M_START | CMD_M_TX | CMD_M_RX | CMD_RX_BUFF_EN | CMD_M_RX_LAST,
        );
        assert_eq!(sts(&mut d), INTR_TX_ACK | INTR_RX_DONE);
        assert_eq!(rx_count(&mut d), 5);
        let pool = p.state();
        assert_eq!(pool[BUF..BUF + 5], [1, 2, 3, 4, 5]);
        assert_eq!(
            pool[BUF - 1],
            0xAA,
            "the previous bus's buffer is untouched"
        );
        assert_eq!(pool[BUF + 5], 0xAA, "nothing past RX_SIZE + 1");
        assert_eq!(p.read((BUF + 1) as u64, 2), 0x0302, "the guest reads them");
        assert_eq!(
            pool_ctrl(&mut d) & !POOL_CTRL_RX_COUNT,
            4 << POOL_CTRL_RX_SIZE_SHIFT,
            "RX_SIZE kept"
        );
        // A second chunk queued before RX_DONE is acknowledged (as Linux does) waits for it;
        // the split buffer puts it in the second half.
        d.write(
            REG_POOL_CTRL,
            4,
            u64::from((1u32 << POOL_CTRL_RX_SIZE_SHIFT) | POOL_CTRL_BUF_ORGANIZATION),
        );
        assert_eq!(rx_count(&mut d), 5, "RX_COUNT is read-only");
        cmd(&mut d, CMD_M_RX | CMD_RX_BUFF_EN | CMD_M_RX_LAST);
        assert_eq!(p.state()[BUF + POOL_SPLIT_RX_OFFSET], 0xAA, "waiting");
        d.write(REG_INTR_STS, 4, u64::from(INTR_TX_ACK | INTR_RX_DONE));
        assert_eq!(sts(&mut d), INTR_RX_DONE, "the queued RX ran");
        assert_eq!(rx_count(&mut d), 2);
        let at = BUF + POOL_SPLIT_RX_OFFSET;
        assert_eq!(p.state()[at..at + 3], [6, 7, 0xAA]);
        cmd(&mut d, CMD_M_STOP);
        assert_ne!(sts(&mut d) & INTR_NORMAL_STOP, 0);
        assert_eq!(t.borrow().events.last().map(String::as_str), Some("stop"));
        assert_eq!(t.borrow().events.len(), 1 + 7 + 1);
    }

    #[test]
    fn buffer_mode_write_stops_at_a_nak() {
        let (mut d, t, mut p, _) = setup_buffered();
        t.borrow_mut().nak_writes = vec![0x22];
        fill_pool(&mut p, BUF, &[ADDR << 1, 0x11, 0x22, 0x33, 0x44]);
        d.write(
            REG_POOL_CTRL,
            4,
            u64::from(4u32 << POOL_CTRL_TX_COUNT_SHIFT),
        );
        cmd(&mut d, CMD_M_START | CMD_M_TX | CMD_TX_BUFF_EN);
        assert_eq!(sts(&mut d), INTR_TX_NAK, "NAK, and no TX_ACK");
        assert_ne!(
            d.read(REG_CMD, 4) as u32 & CMD_BUS_BUSY_STS,
            0,
            "the driver sends the STOP"
        );
        ack_all(&mut d);
        cmd(&mut d, CMD_M_STOP);
        assert_eq!(sts(&mut d), INTR_NORMAL_STOP);
        assert_eq!(
            t.borrow().events,
            ["start-write", "write 0x11", "write 0x22", "stop"],
            "nothing after the refused byte"
        );
        // A refused address: no data at all, and an RX in the same command is dropped.
        t.borrow_mut().events.clear();
        ack_all(&mut d);
        fill_pool(&mut p, BUF, &[0x33 << 1, 0x11]);
        d.write(
            REG_POOL_CTRL,
            4,
            u64::from(1u32 << POOL_CTRL_TX_COUNT_SHIFT),
        );
        cmd(
            &mut d,
            CMD_M_START | CMD_M_TX | CMD_TX_BUFF_EN | CMD_M_RX | CMD_RX_BUFF_EN | CMD_M_STOP,
        );
        assert_eq!(sts(&mut d), INTR_TX_NAK | INTR_NORMAL_STOP);
        assert_eq!(d.read(REG_CMD, 4) as u32 & CMD_WRITABLE, 0);
        assert!(t.borrow().events.is_empty());
    }

    #[test]
    fn dma_write_sends_guest_memory() {
        let (mut d, t, _, dram) = setup_buffered();
        // Linux aspeed_i2c_prepare_tx_buf in DMA mode: the address byte then the data in the
        // DMA buffer, DMA_LEN counting both.
        let at = DRAM + 0x100;
        dram.write(at, &[ADDR << 1, 0xA1, 0xB2, 0xC3]).unwrap();
        d.write(REG_DMA_ADDR, 4, at);
        d.write(REG_DMA_LEN, 4, 4);
        cmd(&mut d, CMD_M_START | CMD_M_TX | CMD_TX_DMA_EN | CMD_M_STOP);
        assert_eq!(sts(&mut d), INTR_TX_ACK | INTR_NORMAL_STOP);
        assert_eq!(d.read(REG_DMA_ADDR, 4), at + 4, "the address moved on");
        assert_eq!(d.read(REG_DMA_LEN, 4), 0, "nothing left");
        assert_eq!(d.read(REG_CMD, 4) as u32 & CMD_WRITABLE, 0);
        assert_eq!(t.borrow().addresses, [ADDR]);
        assert_eq!(
            t.borrow().events,
            [
                "start-write",
                "write 0xa1",
                "write 0xb2",
                "write 0xc3",
                "stop"
            ]
        );
        // A NAK stops the DMA; DMA_LEN says how much was not sent.
        t.borrow_mut().events.clear();
        t.borrow_mut().nak_writes = vec![0xB2];
        ack_all(&mut d);
        d.write(REG_DMA_ADDR, 4, at);
        d.write(REG_DMA_LEN, 4, 4);
        cmd(&mut d, CMD_M_START | CMD_M_TX | CMD_TX_DMA_EN);
        assert_eq!(sts(&mut d), INTR_TX_NAK);
        assert_eq!(d.read(REG_DMA_LEN, 4), 1);
        assert_eq!(
            t.borrow().events,
            ["start-write", "write 0xa1", "write 0xb2"]
        );
    }

    #[test]
    fn dma_read_lands_in_guest_memory() {
        let (mut d, t, _, dram) = setup_buffered();
        t.borrow_mut().reads = vec![0x10, 0x20, 0x30, 0x40];
        let at = DRAM + 0x200;
        // Linux aspeed_i2c_prepare_rx_buf in DMA mode: address in BYTE_BUF, DMA_LEN = length.
        d.write(REG_BYTE_BUF, 4, u64::from((ADDR << 1) | 1));
        d.write(REG_DMA_ADDR, 4, at);
        d.write(REG_DMA_LEN, 4, 3);
        cmd(
            &mut d,
            CMD_M_START | CMD_M_TX | CMD_M_RX | CMD_RX_DMA_EN | CMD_M_RX_LAST,
        );
        assert_eq!(sts(&mut d), INTR_TX_ACK | INTR_RX_DONE);
        assert_eq!(dram_bytes(&dram, at, 4), [0x10, 0x20, 0x30, 0]);
        assert_eq!(
            d.read(REG_DMA_LEN, 4),
            0,
            "Linux: received = length - DMA_LEN"
        );
        assert_eq!(d.read(REG_DMA_ADDR, 4), at + 3);
        ack_all(&mut d);
        cmd(&mut d, CMD_M_STOP);
        assert_eq!(sts(&mut d), INTR_NORMAL_STOP);
        assert_eq!(
            t.borrow().events,
            ["start-read", "read 0x10", "read 0x20", "read 0x30", "stop"]
        );
    }

    #[test]
    fn empty_and_out_of_range_transfers_are_cut_and_logged() {
        let (mut d, t, mut p, dram) = setup_buffered();
        // DMA registers keep only their bits.
        d.write(REG_DMA_ADDR, 4, 0x8000_0203);
        d.write(REG_DMA_LEN, 4, 0xFFFF_FFFF);
        assert_eq!(d.read(REG_DMA_ADDR, 4), 0x8000_0200);
        assert_eq!(d.read(REG_DMA_LEN, 4), u64::from(DMA_LEN_MASK));

        // DMA_LEN 0: a START has no address byte (NAK, nobody addressed); an RX gets nothing.
        d.write(REG_DMA_LEN, 4, 0);
        cmd(&mut d, CMD_M_START | CMD_M_TX | CMD_TX_DMA_EN);
        assert_eq!(sts(&mut d), INTR_TX_NAK);
        assert_ne!(d.warned & WARN_DMA_EMPTY, 0, "logged");
        ack_all(&mut d);
        cmd(&mut d, CMD_M_STOP);
        assert_eq!(sts(&mut d), INTR_NORMAL_STOP);
        ack_all(&mut d);
        d.write(REG_BYTE_BUF, 4, u64::from((ADDR << 1) | 1));
        cmd(&mut d, CMD_M_START | CMD_M_TX | CMD_M_RX | CMD_RX_DMA_EN);
        assert_eq!(
            sts(&mut d),
            INTR_TX_ACK | INTR_RX_DONE,
            "done, with no bytes"
        );
        assert_eq!(t.borrow().events, ["start-read"]);
        ack_all(&mut d);

        // DMA past the end of guest memory: stops at the last byte inside, logged.
        let last = DRAM + DRAM_SIZE as u64 - 4;
        d.write(REG_DMA_ADDR, 4, last);
        d.write(REG_DMA_LEN, 4, 8);
        cmd(&mut d, CMD_M_RX | CMD_RX_DMA_EN);
        assert_eq!(sts(&mut d), INTR_RX_DONE);
        assert_eq!(dram_bytes(&dram, last, 4), [0xEE; 4]);
        assert_eq!(d.read(REG_DMA_LEN, 4), 4, "four bytes never moved");
        assert_ne!(d.warned & WARN_DMA_FAULT, 0, "logged");
        ack_all(&mut d);
        d.write(REG_DMA_ADDR, 4, 0x1000);
        d.write(REG_DMA_LEN, 4, 2);
        cmd(&mut d, CMD_M_TX | CMD_TX_DMA_EN | CMD_M_STOP);
        assert_eq!(
            sts(&mut d),
            INTR_TX_NAK | INTR_NORMAL_STOP,
            "TX from outside RAM"
        );

        // A split buffer leaves 16 bytes for RX: a 32-byte RX is cut there, logged.
        ack_all(&mut d);
        t.borrow_mut().events.clear();
        d.write(REG_BYTE_BUF, 4, u64::from((ADDR << 1) | 1));
        d.write(
            REG_POOL_CTRL,
            4,
            u64::from(POOL_CTRL_RX_SIZE | POOL_CTRL_BUF_ORGANIZATION),
        );
        cmd(&mut d, CMD_M_START | CMD_M_TX | CMD_M_RX | CMD_RX_BUFF_EN);
        assert_eq!(sts(&mut d), INTR_TX_ACK | INTR_RX_DONE);
        assert_eq!(rx_count(&mut d), 16);
        assert_eq!(t.borrow().events.len(), 1 + 16);
        let next_bus = BUF + POOL_BUS_BUFFER_SIZE;
        assert_eq!(
            p.state()[next_bus],
            0xAA,
            "the next bus's buffer is untouched"
        );
        assert_ne!(d.warned & WARN_POOL_CLAMP, 0, "logged");
        ack_all(&mut d);
        cmd(&mut d, CMD_M_STOP);

        // A bus whose buffer would be past the end of the pool sends and receives nothing.
        let (mut e, u, _) = setup();
        e.connect_pool(p.memory(), POOL_SIZE / POOL_BUS_BUFFER_SIZE);
        fill_pool(&mut p, POOL_SIZE - 1, &[ADDR << 1]);
        e.write(
            REG_POOL_CTRL,
            4,
            u64::from(POOL_CTRL_TX_COUNT | POOL_CTRL_RX_SIZE),
        );
        cmd(&mut e, CMD_M_START | CMD_M_TX | CMD_TX_BUFF_EN);
        assert_eq!(sts(&mut e), INTR_TX_NAK, "no address byte");
        ack_all(&mut e);
        cmd(&mut e, CMD_M_RX | CMD_RX_BUFF_EN | CMD_M_STOP);
        assert_eq!(sts(&mut e), INTR_RX_DONE | INTR_NORMAL_STOP);
        assert_eq!(rx_count(&mut e), 0);
        assert!(u.borrow().events.is_empty());
        assert_ne!(e.warned & WARN_POOL_CLAMP, 0, "logged");
    }

    // ---- the AST2500 ----

    #[test]
    fn variant_layouts() {
        let v = Variant::Ast2600;
        assert_eq!(v, Variant::default());
        assert_eq!(v.bus_count(), BUS_COUNT);
        assert_eq!(v.bus_block_size(), BUS_BLOCK_SIZE);
        assert_eq!(v.global_block_size(), GLOBAL_BLOCK_SIZE);
        assert_eq!(v.pool_offset(), POOL_OFFSET);
        assert_eq!(v.pool_size(), POOL_SIZE);
        assert_eq!(v.pool_bus_buffer_size(), POOL_BUS_BUFFER_SIZE);
        for n in 0..=BUS_COUNT {
            assert_eq!(v.bus_block_offset(n), bus_block_offset(n), "bus {n}");
        }
        assert!(!v.shared_irq() && !v.needs_sram_enable());
        assert!(v.has_new_register_mode() && v.has_buffer_organization());

        // QEMU aspeed_2500_i2c_class_init and aspeed-g5.dtsi.
        let v = Variant::Ast2500;
        assert_eq!(v.bus_count(), 14);
        assert_eq!(v.bus_block_size(), 0x40);
        assert_eq!(v.global_block_size(), 0x40);
        assert_eq!((v.pool_offset(), v.pool_size()), (0x200, 0x100));
        assert_eq!(v.pool_bus_buffer_size(), 0x10);
        assert_eq!(v.pool_bus_buffer_offset(13), 0xD0);
        let offsets: Vec<u64> = (0..v.bus_count()).map(|n| v.bus_block_offset(n)).collect();
        assert_eq!(
            offsets,
            [
                0x040, 0x080, 0x0C0, 0x100, 0x140, 0x180, 0x1C0, 0x300, 0x340, 0x380, 0x3C0, 0x400,
                0x440, 0x480
            ]
        );
        // Nothing overlaps: global, buses 0-6, pool, buses 7-13, all inside 0x1000.
        let mut spans: Vec<(u64, u64)> = offsets.iter().map(|&o| (o, 0x40)).collect();
        spans.push((0, v.global_block_size()));
        spans.push((v.pool_offset(), v.pool_size() as u64));
        spans.sort();
        for w in spans.windows(2) {
            assert!(w[0].0 + w[0].1 <= w[1].0, "{w:x?}");
        }
        assert!(spans.last().is_some_and(|&(o, n)| o + n <= 0x1000));
        assert!(v.shared_irq() && v.needs_sram_enable());
        assert!(!v.has_new_register_mode() && !v.has_buffer_organization());
    }

    /// An AST2500 bus as [`setup`] makes it, bus 3's 16-byte buffer in an AST2500 pool (all
    /// 0xAA), guest memory, and the global block with SRAM enabled (as the buffer-mode driver's
    /// `aspeed_i2c_25xx_enable_sram` leaves it).
    fn setup_ast2500() -> (
        AspeedI2cBus,
        Rc<RefCell<Scripted>>,
        AspeedI2cPool,
        AspeedI2cGlobal,
    ) {
        let (d, t, _) = setup();
        let mut d = d.with_variant(Variant::Ast2500);
        let pool = AspeedI2cPool::from_state(&[0xAA; POOL_SIZE]).with_variant(Variant::Ast2500);
        d.connect_pool(pool.memory(), BUS_INDEX);
        d.connect_dram(Rc::new(VecMemory::new(DRAM, DRAM_SIZE)));
        let mut g = AspeedI2cGlobal::new(vec![d.irq_status()]).with_variant(Variant::Ast2500);
        d.connect_global(g.control());
        g.write(GLOBAL_CTRL, 4, u64::from(GLOBAL_CTRL_SRAM_EN));
        (d, t, pool, g)
    }

    #[test]
    fn ast2500_pool_is_256_bytes_and_buffers_16() {
        let (mut d, t, mut p, _) = setup_ast2500();
        assert_eq!(p.variant(), Variant::Ast2500);
        assert_eq!(p.state().len(), 0x100);
        assert_eq!(p.read(0xFF, 1), 0xAA);
        assert_eq!(p.read(0x100, 1), 0, "past the pool");
        let buf = Variant::Ast2500.pool_bus_buffer_offset(BUS_INDEX);
        assert_eq!(buf, 0x30);
        // A write from bus 3's buffer: address byte and 3 data bytes.
        fill_pool(&mut p, buf, &[ADDR << 1, 1, 2, 3]);
        d.write(
            REG_POOL_CTRL,
            4,
            u64::from(3u32 << POOL_CTRL_TX_COUNT_SHIFT),
        );
        cmd(&mut d, CMD_M_START | CMD_M_TX | CMD_TX_BUFF_EN);
        assert_eq!(sts(&mut d), INTR_TX_ACK);
        ack_all(&mut d);
        // A 32-byte read is cut to the 16-byte buffer; BUF_ORGANIZATION does not split it.
        t.borrow_mut().reads = (0x40..0x60).collect();
        d.write(REG_BYTE_BUF, 4, u64::from((ADDR << 1) | 1));
        d.write(
            REG_POOL_CTRL,
            4,
            u64::from(POOL_CTRL_RX_SIZE | POOL_CTRL_BUF_ORGANIZATION),
        );
        cmd(&mut d, CMD_M_START | CMD_M_TX | CMD_M_RX | CMD_RX_BUFF_EN);
        assert_eq!(sts(&mut d), INTR_TX_ACK | INTR_RX_DONE);
        assert_eq!(rx_count(&mut d), 16);
        let pool = p.state();
        let expected: Vec<u8> = (0x40..0x50).collect();
        assert_eq!(
            pool[buf..buf + 16],
            expected[..],
            "from byte 0 of the buffer"
        );
        assert_eq!(pool[buf + 16], 0xAA, "bus 4's buffer is untouched");
        assert_eq!(pool[buf - 1], 0xAA, "bus 2's buffer is untouched");
        assert_ne!(d.warned & WARN_POOL_CLAMP, 0, "the cut is logged");
        ack_all(&mut d);
        cmd(&mut d, CMD_M_STOP);
        assert_eq!(
            t.borrow().events[..5],
            [
                "start-write",
                "write 0x01",
                "write 0x02",
                "write 0x03",
                "start-read"
            ]
        );
    }

    #[test]
    fn ast2500_buffer_and_dma_commands_need_the_sram_enabled() {
        let (mut d, t, mut p, mut g) = setup_ast2500();
        g.write(GLOBAL_CTRL, 4, 0);
        assert!(!g.control().sram_enabled());
        let buf = Variant::Ast2500.pool_bus_buffer_offset(BUS_INDEX);
        fill_pool(&mut p, buf, &[ADDR << 1, 0x11]);
        d.write(
            REG_POOL_CTRL,
            4,
            u64::from(1u32 << POOL_CTRL_TX_COUNT_SHIFT),
        );
        cmd(&mut d, CMD_M_START | CMD_M_TX | CMD_TX_BUFF_EN | CMD_M_STOP);
        assert_eq!(sts(&mut d), 0, "ignored");
        assert_eq!(d.read(REG_CMD, 4) as u32 & CMD_WRITABLE, 0);
        d.write(REG_DMA_ADDR, 4, DRAM);
        d.write(REG_DMA_LEN, 4, 2);
        cmd(&mut d, CMD_M_START | CMD_M_TX | CMD_TX_DMA_EN);
        assert_eq!(sts(&mut d), 0, "DMA too");
        assert_ne!(d.warned & WARN_SRAM_OFF, 0, "logged");
        assert!(t.borrow().events.is_empty());
        // Byte mode does not need the SRAM.
        d.write(REG_BYTE_BUF, 4, u64::from(ADDR << 1));
        cmd(&mut d, CMD_M_START | CMD_M_TX | CMD_M_STOP);
        assert_eq!(sts(&mut d), INTR_TX_ACK | INTR_NORMAL_STOP);
        ack_all(&mut d);
        // SRAM_EN set (a byte write to the global control register): buffer mode runs.
        g.write(GLOBAL_CTRL, 1, u64::from(GLOBAL_CTRL_SRAM_EN));
        cmd(&mut d, CMD_M_START | CMD_M_TX | CMD_TX_BUFF_EN | CMD_M_STOP);
        assert_eq!(sts(&mut d), INTR_TX_ACK | INTR_NORMAL_STOP);
        assert_eq!(
            t.borrow().events[2..],
            ["start-write", "write 0x11", "stop"]
        );
        // A global reset disables the SRAM again.
        g.reset();
        assert!(!g.control().sram_enabled());
        // The AST2600 never checks it.
        let (mut e, u, _) = setup();
        let pool = AspeedI2cPool::new();
        e.connect_pool(pool.memory(), 0);
        e.connect_global(GlobalControl::new());
        pool.memory().write(0, &[ADDR << 1]);
        cmd(&mut e, CMD_M_START | CMD_M_TX | CMD_TX_BUFF_EN | CMD_M_STOP);
        assert_eq!(sts(&mut e), INTR_TX_ACK | INTR_NORMAL_STOP);
        assert_eq!(u.borrow().events, ["start-write", "stop"]);
    }

    #[test]
    fn ast2500_global_block_has_no_new_mode_and_fourteen_status_bits() {
        let rec = LevelRecorder::new();
        let mut buses: Vec<AspeedI2cBus> = (0..BUS_COUNT)
            .map(|n| {
                AspeedI2cBus::new(&format!("i2c{n}"), rec.line(n as u32))
                    .with_variant(Variant::Ast2500)
            })
            .collect();
        let mut g = AspeedI2cGlobal::new(buses.iter().map(|b| b.irq_status()).collect())
            .with_variant(Variant::Ast2500);
        assert_eq!(g.variant(), Variant::Ast2500);
        for n in [0usize, 13, 14, 15] {
            let b = &mut buses[n];
            b.write(REG_FUN_CTRL, 4, u64::from(FUN_MASTER_EN));
            b.write(REG_INTR_CTRL, 4, u64::from(INTR_ALL));
            b.write(REG_CMD, 4, u64::from(CMD_M_STOP));
        }
        assert_eq!(
            g.read(GLOBAL_INTR_STS, 4),
            1 | (1 << 13),
            "only the AST2500's 14 buses"
        );
        // GLOBAL_CTRL bit 2 is no register-mode switch, and 0x10 is no register.
        g.write(
            GLOBAL_CTRL,
            4,
            u64::from(GLOBAL_CTRL_NEW_REG_MODE | GLOBAL_CTRL_SRAM_EN),
        );
        assert!(!g.warned_new_mode);
        assert_eq!(
            g.control().value(),
            GLOBAL_CTRL_NEW_REG_MODE | GLOBAL_CTRL_SRAM_EN
        );
        g.write(GLOBAL_NEW_CLK_DIVIDER, 4, 0x1234);
        assert_eq!(g.read(GLOBAL_NEW_CLK_DIVIDER, 4), 0);
        assert_eq!(g.state().new_clk_divider, 0);
        assert_eq!(g.unimplemented.reported(), 2);
        // The state carries the variant through a save and restore, and through reset.
        let s = g.state();
        assert_eq!(s.variant, Variant::Ast2500);
        let r = AspeedI2cGlobal::from_state(&s, vec![]);
        assert_eq!(r.variant(), Variant::Ast2500);
        assert!(
            r.control().sram_enabled(),
            "the handle follows the restored register"
        );
        g.reset();
        assert_eq!(g.variant(), Variant::Ast2500);
        // The AST2600 keeps both.
        let mut a = AspeedI2cGlobal::new(vec![]);
        a.write(GLOBAL_NEW_CLK_DIVIDER, 4, 0x1234);
        assert_eq!(a.read(GLOBAL_NEW_CLK_DIVIDER, 4), 0x1234);
        a.write(GLOBAL_CTRL, 4, u64::from(GLOBAL_CTRL_NEW_REG_MODE));
        assert!(a.warned_new_mode);
    }

    #[test]
    fn ast2500_bus_state_round_trips_and_reset_keeps_the_variant() {
        let (mut d, _, _, _) = setup_ast2500();
        assert_eq!(d.variant(), Variant::Ast2500);
        d.write(REG_AC_TIMING1, 4, 0x7766_5544);
        let s = d.state();
        assert_eq!(s.variant, Variant::Ast2500);
        let rec = LevelRecorder::new();
        let e = AspeedI2cBus::from_state(&s, "i2c-copy", rec.line(0));
        assert_eq!(e.variant(), Variant::Ast2500);
        assert_eq!(e.state(), s);
        d.reset();
        assert_eq!(
            d.state(),
            AspeedI2cBusState {
                variant: Variant::Ast2500,
                ..AspeedI2cBusState::default()
            }
        );
    }

    // ---- snapshots ----

    /// Every register of bus block `d` as the driver reads it.
    fn bus_registers(d: &mut AspeedI2cBus) -> Vec<u64> {
        (0..=REG_DMA_LEN).step_by(4).map(|r| d.read(r, 4)).collect()
    }

    /// A state of another kind and one of another format version than `saved`.
    fn foreign_states(saved: &DeviceState) -> [DeviceState; 2] {
        [
            DeviceState {
                kind: "aspeed-i2c-other".into(),
                ..saved.clone()
            },
            DeviceState {
                version: STATE_VERSION + 1,
                ..saved.clone()
            },
        ]
    }

    /// A bus in the middle of Linux's 3-byte read: the first byte received (RX_DONE pending,
    /// the line high), the next RX queued behind RX_DONE, timing and DMA registers set. The
    /// target has two bytes left to give.
    fn bus_mid_read() -> (AspeedI2cBus, Rc<RefCell<Scripted>>, Rc<LevelRecorder>) {
        let (mut d, t, rec) = setup();
        t.borrow_mut().reads = vec![0xA1, 0xB2, 0xC3];
        d.write(REG_AC_TIMING1, 4, 0x7766_5544);
        d.write(REG_AC_TIMING2, 4, 0x0000_0011);
        d.write(REG_DMA_ADDR, 4, 0x8000_0100);
        d.write(REG_DMA_LEN, 4, 0x20);
        d.write(REG_BYTE_BUF, 4, u64::from((ADDR << 1) | 1));
        cmd(&mut d, CMD_M_START | CMD_M_TX | CMD_M_RX);
        d.write(REG_INTR_STS, 4, u64::from(INTR_TX_ACK));
        cmd(&mut d, CMD_M_RX);
        assert_eq!(sts(&mut d), INTR_RX_DONE);
        assert_ne!(d.read(REG_CMD, 4) as u32 & CMD_M_RX, 0, "RX queued");
        assert!(rec.level(3));
        (d, t, rec)
    }

    #[test]
    fn a_restored_bus_continues_the_transfer_with_the_selected_target() {
        let (mut d, t, _) = bus_mid_read();
        let saved = d.save_state().expect("a bus saves its state");
        assert_eq!(
            (saved.kind.as_str(), saved.version),
            (BUS_STATE_KIND, STATE_VERSION)
        );
        // The same wiring: a fresh bus and a target with the same bytes left to give (the
        // target's own state is the SoC's to save).
        let (mut e, u, rec) = setup();
        u.borrow_mut().reads = t.borrow().reads.clone();
        e.load_state(&saved).unwrap();
        assert!(rec.level(3), "the pending RX_DONE raises the line");
        assert!(e.irq_status().pending());
        assert_eq!(bus_registers(&mut e), bus_registers(&mut d));
        assert_eq!(e.i2c_bus().selected(), Some(ADDR));
        assert_eq!(e.save_state(), Some(saved));
        // Acknowledging RX_DONE runs the queued RX against the selected target on both, with
        // no new START; then the STOP reaches it.
        t.borrow_mut().events.clear();
        for bus in [&mut d, &mut e] {
            bus.write(REG_INTR_STS, 4, u64::from(INTR_RX_DONE));
            assert_eq!(sts(bus), INTR_RX_DONE);
            assert_eq!(bus.read(REG_BYTE_BUF, 4) >> 8, 0xB2);
            ack_all(bus);
            cmd(bus, CMD_M_STOP);
            assert_eq!(sts(bus), INTR_NORMAL_STOP);
        }
        assert_eq!(u.borrow().events, ["read 0xb2", "stop"]);
        assert_eq!(u.borrow().events, t.borrow().events);
        assert_eq!(bus_registers(&mut e), bus_registers(&mut d));
    }

    #[test]
    fn a_bus_refuses_a_state_of_another_kind_version_or_generation() {
        let (d, _, _) = bus_mid_read();
        let saved = d.save_state().unwrap();
        let (mut e, _, rec) = setup();
        e.write(REG_AC_TIMING1, 4, 0x1234);
        let before = e.state();
        let regs = bus_registers(&mut e);
        let changes = rec.changes();
        for bad in foreign_states(&saved) {
            assert!(e.load_state(&bad).is_err());
        }
        let mut f = AspeedI2cBus::new("i2c-2500", rec.line(5)).with_variant(Variant::Ast2500);
        let err = f.load_state(&saved).unwrap_err();
        assert!(err.0.contains("Ast2600"), "{err}");
        assert_eq!(f.state().variant, Variant::Ast2500);
        assert_eq!(e.state(), before, "left unchanged");
        assert_eq!(bus_registers(&mut e), regs);
        assert_eq!(rec.changes(), changes, "no line touched");
        // An idle state loads over a busy bus and drops its interrupt and selection.
        let idle = AspeedI2cBus::new("idle", IrqLine::disconnected())
            .save_state()
            .unwrap();
        let (mut g, _, rec) = bus_mid_read();
        g.load_state(&idle).unwrap();
        assert!(!rec.level(3));
        assert_eq!(g.i2c_bus().selected(), None);
        assert_eq!(g.state(), AspeedI2cBusState::default());
    }

    #[test]
    fn a_restored_global_block_drives_the_buses_sram_enable() {
        let (mut d, _, _, mut g) = setup_ast2500();
        g.write(GLOBAL_INTR_TARGET, 4, 0xABCD);
        d.write(REG_CMD, 4, u64::from(CMD_M_STOP)); // abnormal STOP: bus 3 interrupts
        let saved = g.save_state().expect("the global block saves its state");
        assert_eq!(
            (saved.kind.as_str(), saved.version),
            (GLOBAL_STATE_KIND, STATE_VERSION)
        );
        let global_registers = |g: &mut AspeedI2cGlobal| [0x00, 0x08, 0x0C].map(|r| g.read(r, 4));
        // A fresh global block (SRAM disabled) seeing the same bus, and a bus connected to it.
        let (e, _, _) = setup();
        let mut e = e.with_variant(Variant::Ast2500);
        let mut h = AspeedI2cGlobal::new(vec![d.irq_status()]).with_variant(Variant::Ast2500);
        e.connect_global(h.control());
        assert!(!h.control().sram_enabled());
        h.load_state(&saved).unwrap();
        assert!(h.control().sram_enabled(), "the buses' handle follows");
        assert_eq!(global_registers(&mut h), global_registers(&mut g));
        assert_eq!(h.read(GLOBAL_INTR_STS, 4), 1, "status follows the bus");
        assert_eq!(h.save_state(), Some(saved.clone()));
        // A buffer-mode command on the bus connected to it now runs.
        let pool = AspeedI2cPool::new().with_variant(Variant::Ast2500);
        e.connect_pool(pool.memory(), 0);
        pool.memory().write(0, &[ADDR << 1]);
        cmd(&mut e, CMD_M_START | CMD_M_TX | CMD_TX_BUFF_EN | CMD_M_STOP);
        assert_eq!(sts(&mut e), INTR_TX_ACK | INTR_NORMAL_STOP);
        // Another kind, version or generation is refused and leaves it unchanged.
        let mut a = AspeedI2cGlobal::new(vec![]);
        a.write(GLOBAL_CTRL, 4, 0x10);
        for bad in foreign_states(&saved) {
            assert!(h.load_state(&bad).is_err());
        }
        assert!(a.load_state(&saved).unwrap_err().0.contains("Ast2500"));
        assert_eq!(a.state().ctrl, 0x10);
        assert_eq!(a.control().value(), 0x10);
        assert_eq!(h.save_state(), Some(saved));
    }

    #[test]
    fn a_restored_pool_holds_the_bytes_the_buses_send() {
        let (mut d, t, mut p, _) = setup_buffered();
        fill_pool(&mut p, BUF, &[ADDR << 1, 0x5A, 0xA5]);
        fill_pool(&mut p, 0, &[1, 2, 3, 4]);
        let saved = p.save_state().expect("the pool saves its bytes");
        assert_eq!(
            (saved.kind.as_str(), saved.version),
            (POOL_STATE_KIND, STATE_VERSION)
        );
        let (mut e, u, mut q, _) = setup_buffered();
        q.reset(); // all zero, unlike the saved 0xAA fill
        q.load_state(&saved).unwrap();
        assert_eq!(q.state(), p.state());
        for offset in (0..POOL_SIZE as u64).step_by(4) {
            assert_eq!(q.read(offset, 4), p.read(offset, 4), "{offset:#x}");
        }
        assert_eq!(q.save_state(), Some(saved.clone()));
        // The bus connected before the load sends the restored bytes.
        for (bus, target) in [(&mut d, &t), (&mut e, &u)] {
            bus.write(
                REG_POOL_CTRL,
                4,
                u64::from(2u32 << POOL_CTRL_TX_COUNT_SHIFT),
            );
            cmd(bus, CMD_M_START | CMD_M_TX | CMD_TX_BUFF_EN | CMD_M_STOP);
            assert_eq!(sts(bus), INTR_TX_ACK | INTR_NORMAL_STOP);
            assert_eq!(
                target.borrow().events,
                ["start-write", "write 0x5a", "write 0xa5", "stop"]
            );
        }
        // Another kind, version or generation is refused and leaves the bytes alone.
        let mut small = AspeedI2cPool::from_state(&[7; 0x100]).with_variant(Variant::Ast2500);
        for bad in foreign_states(&saved) {
            assert!(q.load_state(&bad).is_err());
        }
        assert!(small.load_state(&saved).unwrap_err().0.contains("Ast2600"));
        assert_eq!(small.state(), vec![7; 0x100]);
        assert_eq!(q.state(), p.state());
    }
}
