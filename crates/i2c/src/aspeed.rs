//! The AST2600 I2C controller in the "old" per-bus register layout.
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
//! RX_DONE (QEMU `hw/i2c/aspeed_i2c.c` does the same). Buffer-pool and DMA transfers, slave
//! mode and the new register mode are not implemented: using them logs a warning once and the
//! command does nothing.

use std::cell::Cell;
use std::rc::Rc;

use bus::{subword, Device, IrqLine, UnimplementedLog};

use crate::{I2cBus, I2cBusError, SharedTarget};

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

/// Offset of bus `n`'s register block from the controller's base: `0x80 * (n + 1)`
/// (aspeed-g6.dtsi `i2c0: i2c-bus@80` .. `i2c15: i2c-bus@800`).
pub fn bus_block_offset(n: usize) -> u64 {
    BUS_BLOCK_SIZE.wrapping_mul(n as u64 + 1)
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
/// DMA buffer address (DMA transfers not implemented): QEMU `I2CD_DMA_ADDR`.
pub const REG_DMA_ADDR: u64 = 0x24;
/// DMA transfer length (DMA transfers not implemented): QEMU `I2CD_DMA_LEN`.
pub const REG_DMA_LEN: u64 = 0x28;

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
/// CMD: transmit from the buffer pool (not implemented): u-boot `I2CD_TX_BUFF_ENABLE`.
pub const CMD_TX_BUFF_EN: u32 = 1 << 6;
/// CMD: receive into the buffer pool (not implemented): u-boot `I2CD_RX_BUFF_ENABLE`.
pub const CMD_RX_BUFF_EN: u32 = 1 << 7;
/// CMD: transmit by DMA (not implemented): u-boot `I2CD_TX_DMA_ENABLE`.
pub const CMD_TX_DMA_EN: u32 = 1 << 8;
/// CMD: receive by DMA (not implemented): u-boot `I2CD_RX_DMA_ENABLE`.
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
/// GLOBAL_CTRL: select the new register layout (not implemented): QEMU `REG_MODE`.
pub const GLOBAL_CTRL_NEW_REG_MODE: u32 = 1 << 2;

// Warnings given once per device.
const WARN_SLAVE: u8 = 1 << 0;
const WARN_BUFFER: u8 = 1 << 1;
const WARN_MASTER_OFF: u8 = 1 << 2;

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

/// The registers of one I2C bus controller: a plain value that can be saved and restored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AspeedI2cBusState {
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
    /// Level the interrupt line was last driven to.
    pub irq_level: bool,
}

/// One bus controller of the AST2600 I2C block, with the I2C bus it drives.
pub struct AspeedI2cBus {
    state: AspeedI2cBusState,
    bus: I2cBus,
    irq: IrqLine,
    irq_status: BusIrqStatus,
    unimplemented: UnimplementedLog,
    name: String,
    warned: u8,
}

impl AspeedI2cBus {
    /// A bus controller in its reset state called `name` in logs (`i2c7`), driving `irq`
    /// (level: high while `INTR_STS & INTR_CTRL` is non-zero), with no targets.
    pub fn new(name: &str, irq: IrqLine) -> Self {
        Self::from_state(&AspeedI2cBusState::default(), name, irq)
    }

    /// A bus controller restored from `state`; the interrupt line is raised at once if the
    /// state has an enabled interrupt pending. Targets are attached afterwards; a transfer in
    /// progress in `state` has no target selected until the next START.
    pub fn from_state(state: &AspeedI2cBusState, name: &str, irq: IrqLine) -> Self {
        let mut dev = Self {
            state: state.clone(),
            bus: I2cBus::new(),
            irq,
            irq_status: BusIrqStatus::new(),
            unimplemented: UnimplementedLog::new(name),
            name: name.into(),
            warned: 0,
        };
        let level = dev.irq_pending();
        dev.state.irq_level = level;
        dev.irq_status.set(level);
        if level {
            dev.irq.raise();
        }
        dev
    }

    /// A copy of the registers.
    pub fn state(&self) -> AspeedI2cBusState {
        self.state.clone()
    }

    /// A handle on this bus's interrupt output, for [`AspeedI2cGlobal`].
    pub fn irq_status(&self) -> BusIrqStatus {
        self.irq_status.clone()
    }

    /// Makes `target` answer at 7-bit `address` on this bus.
    pub fn attach(&mut self, address: u8, target: SharedTarget) -> Result<(), I2cBusError> {
        self.bus.attach(address, target)
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
            REG_POOL_CTRL => s.pool_ctrl = merge(s.pool_ctrl, mask, value),
            REG_BYTE_BUF => {
                if mask & 0xFF != 0 {
                    s.tx_byte = value as u8;
                }
            }
            REG_DMA_ADDR => s.dma_addr = merge(s.dma_addr, mask, value),
            REG_DMA_LEN => s.dma_len = merge(s.dma_len, mask, value),
            _ => return false,
        }
        true
    }

    fn write_cmd(&mut self, value: u32) {
        self.state.cmd = value;
        if value & CMD_BUFFER_MODES != 0 {
            self.warn_once(
                WARN_BUFFER,
                "buffer-pool and DMA transfers are not implemented; command ignored",
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
        let s = &mut self.state;
        if s.cmd & CMD_M_START != 0 {
            let address_byte = s.tx_byte;
            // In byte mode the TX bit that comes with START sends the address byte itself.
            s.cmd &= !(CMD_M_START | CMD_M_TX);
            s.bus_busy = true;
            if self.bus.start(address_byte >> 1, address_byte & 1 != 0) {
                s.intr_sts |= INTR_TX_ACK;
            } else {
                // Nobody answered: the data phase is dropped; a STOP may still follow.
                s.intr_sts |= INTR_TX_NAK;
                s.cmd &= !(CMD_M_TX | CMD_M_RX | CMD_M_RX_LAST);
            }
        }
        if s.cmd & CMD_M_TX != 0 {
            s.cmd &= !CMD_M_TX;
            if self.bus.write(s.tx_byte) {
                s.intr_sts |= INTR_TX_ACK;
            } else {
                s.intr_sts |= INTR_TX_NAK;
            }
        }
        if s.cmd & (CMD_M_RX | CMD_M_RX_LAST) != 0 {
            if s.intr_sts & INTR_RX_DONE != 0 {
                // The previous byte is not acknowledged yet: wait (and keep the STOP queued).
                return;
            }
            s.cmd &= !(CMD_M_RX | CMD_M_RX_LAST);
            s.rx_byte = self.bus.read();
            s.intr_sts |= INTR_RX_DONE;
        }
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
            irq_level: self.state.irq_level,
            ..AspeedI2cBusState::default()
        };
        self.update_irq();
    }
}

/// The global registers of the I2C controller: a plain value that can be saved and restored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AspeedI2cGlobalState {
    /// Interrupt target assignment.
    pub intr_target: u32,
    /// Global control.
    pub ctrl: u32,
    /// New-mode clock divider.
    pub new_clk_divider: u32,
}

/// The global register block at the start of the I2C controller: which bus interrupted, and
/// the global control register.
pub struct AspeedI2cGlobal {
    state: AspeedI2cGlobalState,
    buses: Vec<BusIrqStatus>,
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
        Self {
            state: state.clone(),
            buses,
            unimplemented: UnimplementedLog::new("i2c-global"),
            warned_new_mode: false,
        }
    }

    /// A copy of the registers.
    pub fn state(&self) -> AspeedI2cGlobalState {
        self.state.clone()
    }

    /// The interrupt status register: bit n set while bus n's interrupt line is high.
    pub fn interrupt_status(&self) -> u32 {
        self.buses
            .iter()
            .take(32)
            .enumerate()
            .filter(|(_, b)| b.pending())
            .fold(0, |acc, (n, _)| acc | (1 << n))
    }

    fn read_reg(&self, reg: u64) -> Option<u32> {
        Some(match reg {
            GLOBAL_INTR_STS => self.interrupt_status(),
            GLOBAL_INTR_TARGET => self.state.intr_target,
            GLOBAL_CTRL => self.state.ctrl,
            GLOBAL_NEW_CLK_DIVIDER => self.state.new_clk_divider,
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
        let s = &mut self.state;
        match offset & !3 {
            GLOBAL_INTR_STS => {} // read-only: follows the buses
            GLOBAL_INTR_TARGET => s.intr_target = merge(s.intr_target, mask, v),
            GLOBAL_CTRL => {
                s.ctrl = merge(s.ctrl, mask, v);
                if s.ctrl & GLOBAL_CTRL_NEW_REG_MODE != 0 && !self.warned_new_mode {
                    self.warned_new_mode = true;
                    log::warn!(target: "unimp", "i2c-global: the new register mode is not implemented");
                }
            }
            GLOBAL_NEW_CLK_DIVIDER => s.new_clk_divider = merge(s.new_clk_divider, mask, v),
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
        self.state = AspeedI2cGlobalState::default();
    }
}

/// The controller's buffer pool: plain SRAM (32 bytes per bus) the guest can read and write.
/// No transfer uses it yet (buffer-pool mode is not implemented).
pub struct AspeedI2cPool {
    bytes: Vec<u8>,
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
        let mut v = bytes.to_vec();
        v.resize(POOL_SIZE, 0);
        Self {
            bytes: v,
            unimplemented: UnimplementedLog::new("i2c-pool"),
        }
    }

    /// A copy of the pool's bytes.
    pub fn state(&self) -> Vec<u8> {
        self.bytes.clone()
    }
}

impl Device for AspeedI2cPool {
    fn read(&mut self, offset: u64, size: u8) -> u64 {
        let n = usize::from(size.clamp(1, 8));
        let mut v = 0u64;
        for i in 0..n {
            let addr = offset.checked_add(i as u64).map(|a| a as usize);
            match addr.and_then(|a| self.bytes.get(a)) {
                Some(b) => v |= u64::from(*b) << (8 * i),
                None => {
                    self.unimplemented.read(offset, size);
                    return 0;
                }
            }
        }
        v
    }

    fn write(&mut self, offset: u64, size: u8, value: u64) {
        let n = usize::from(size.clamp(1, 8));
        for i in 0..n {
            let addr = offset.checked_add(i as u64).map(|a| a as usize);
            match addr.and_then(|a| self.bytes.get_mut(a)) {
                Some(b) => *b = (value >> (8 * i)) as u8,
                None => {
                    self.unimplemented.write(offset, size, value);
                    return;
                }
            }
        }
    }

    fn reset(&mut self) {
        self.bytes.fill(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::I2cTarget;
    use bus::LevelRecorder;
    use std::cell::RefCell;

    /// A target that answers from a script and records every bus event.
    #[derive(Default)]
    struct Scripted {
        events: Vec<String>,
        reads: Vec<u8>,
        nak_writes: Vec<u8>,
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
    fn commands_need_master_mode_and_buffer_modes_are_refused() {
        let (mut d, t, _) = setup();
        d.write(REG_FUN_CTRL, 4, 0);
        d.write(REG_BYTE_BUF, 4, u64::from(ADDR << 1));
        cmd(&mut d, CMD_M_START | CMD_M_TX);
        assert_eq!(sts(&mut d), 0);
        d.write(REG_FUN_CTRL, 4, u64::from(FUN_MASTER_EN));
        cmd(&mut d, CMD_M_START | CMD_TX_BUFF_EN);
        assert_eq!(sts(&mut d), 0, "buffer mode: nothing happens");
        assert_eq!(d.read(REG_CMD, 4) as u32 & 0xFFFF, 0);
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
}
