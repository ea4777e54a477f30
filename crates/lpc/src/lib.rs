//! The Aspeed LPC controller (BMC side): the four KCS channels and the port 80 snoop, with the
//! host side of each, as Linux `drivers/char/ipmi/kcs_bmc_aspeed.c` (KCS registers and
//! enables), `kcs_bmc_cdev_ipmi.c` (the BMC's KCS state machine, `/dev/ipmi-kcsN`) and
//! `drivers/soc/aspeed/aspeed-lpc-snoop.c` (`/dev/aspeed-lpc-snoopN`) use it, and as the host's
//! `drivers/char/ipmi/ipmi_kcs_sm.c` talks to a KCS interface (IPMI 2.0 section 9).
//!
//! The block is 0x1000 bytes (device tree `lpc: lpc@1e789000`, `reg = <0x1e789000 0x1000>`),
//! one layout on the AST2500 and AST2600 (the same drivers and offsets serve both), so the model
//! takes no variant parameter. Every word of it is a plain register except those below: the
//! other LPC functions (iBT, LPC reset, UART routing, the host's LPC window) keep what the BMC
//! writes, and offsets no driver names are reported as unimplemented once.
//!
//! # KCS
//!
//! Channel N has an input data register (IDR: what the host wrote), an output data register
//! (ODR: what the BMC answers) and a status register (STR): [`KCS_REGS`]. The host writing its
//! data or command port sets IDR, IBF and C/D (set for the command port); the BMC reading IDR
//! clears IBF. The BMC writing ODR sets OBF; the host reading its data port clears it. The BMC
//! writes STR's state, OEM and SMS_ATN bits ([`STR_BMC_BITS`]); OBF, IBF and C/D are the
//! hardware's. Interrupt N is high while IBF is set, the channel is enabled ([`Kcs::enabled`])
//! and its IBF interrupt enable is set ([`Kcs::ibf_enable`]).
//!
//! The host side is [`AspeedLpc::kcs_request`]: a polling host driver (`ipmi_kcs_sm.c`'s write
//! and read phases) that sends a request (WRITE_START, the bytes, WRITE_END before the last)
//! and collects the BMC's reply (a READ byte after each data byte until the BMC reports IDLE).
//! It acts in [`AspeedLpc::poll`], which the SoC calls between CPU slices, one step per call
//! whenever the BMC has taken the last byte (IBF clear) and, where the protocol waits for it,
//! has answered (OBF set). A request ends with the reply, a protocol error (the BMC in the
//! ERROR state or in a state the protocol does not allow there), or its timeout in virtual
//! time ([`Device::next_deadline`]); [`AspeedLpc::take_replies`] hands the results over.
//!
//! # Snoop
//!
//! Two snoop channels capture the host's writes to an I/O port each (`SNPWADR`, enabled by
//! `HICR5` `EN_SNPnW`): the byte lands in `SNPWDR` and sets the channel's status bit in `HICR6`
//! (written 1 to clear), which raises the snoop interrupt where `HICR5` `ENINT_SNPnW` allows.
//! The host side is [`AspeedLpc::snoop_write`]: POST codes queued and written one at a time,
//! each once the BMC has acknowledged the one before and read it (a host writes port 80 far
//! slower than a BMC reads it), so none is lost.
#![deny(missing_docs)]

use std::collections::VecDeque;
use std::rc::Rc;

use bus::{
    merge_subword, subword, Clock, Device, DeviceState, IrqLine, StateError, UnimplementedLog,
};

/// Size of the register block.
pub const REGS_SIZE: u64 = 0x1000;
/// Kind of the controller's saved state ([`Device::save_state`]).
pub const STATE_KIND: &str = "aspeed-lpc";
/// Format version of the controller's saved state.
pub const STATE_VERSION: u32 = 1;

/// Host interface control 0 (channel enables): Linux `LPC_HICR0`.
pub const REG_HICR0: u64 = 0x000;
/// HICR0: KCS channel 1 enabled: Linux `LPC_HICR0_LPC1E`.
pub const HICR0_LPC1E: u32 = 1 << 5;
/// HICR0: KCS channel 2 enabled: Linux `LPC_HICR0_LPC2E`.
pub const HICR0_LPC2E: u32 = 1 << 6;
/// HICR0: KCS channel 3 enabled: Linux `LPC_HICR0_LPC3E`.
pub const HICR0_LPC3E: u32 = 1 << 7;
/// Host interface control 2 (IBF interrupt enables of channels 1-3): Linux `LPC_HICR2`.
pub const REG_HICR2: u64 = 0x008;
/// HICR2: channel 1 IBF interrupt enable: Linux `LPC_HICR2_IBFIE1`.
pub const HICR2_IBFIE1: u32 = 1 << 1;
/// HICR2: channel 2 IBF interrupt enable: Linux `LPC_HICR2_IBFIE2`.
pub const HICR2_IBFIE2: u32 = 1 << 2;
/// HICR2: channel 3 IBF interrupt enable: Linux `LPC_HICR2_IBFIE3`.
pub const HICR2_IBFIE3: u32 = 1 << 3;
/// Host interface control 4: Linux `LPC_HICR4`.
pub const REG_HICR4: u64 = 0x010;
/// HICR4: channel 3 in KCS mode: Linux `LPC_HICR4_KCSENBL`.
pub const HICR4_KCSENBL: u32 = 1 << 2;
/// Host interface control 5 (snoop enables; SerIRQ of channels 2 and 3): Linux `HICR5`.
pub const REG_HICR5: u64 = 0x080;
/// HICR5: snoop channel 0 enabled: Linux `HICR5_EN_SNP0W`.
pub const HICR5_EN_SNP0W: u32 = 1 << 0;
/// HICR5: snoop channel 0 interrupt enabled: Linux `HICR5_ENINT_SNP0W`.
pub const HICR5_ENINT_SNP0W: u32 = 1 << 1;
/// HICR5: snoop channel 1 enabled: Linux `HICR5_EN_SNP1W`.
pub const HICR5_EN_SNP1W: u32 = 1 << 2;
/// HICR5: snoop channel 1 interrupt enabled: Linux `HICR5_ENINT_SNP1W`.
pub const HICR5_ENINT_SNP1W: u32 = 1 << 3;
/// Host interface control 6 (snoop status, written 1 to clear): Linux `HICR6`.
pub const REG_HICR6: u64 = 0x084;
/// HICR6: snoop channel 0 captured a write: Linux `HICR6_STR_SNP0W`.
pub const HICR6_STR_SNP0W: u32 = 1 << 0;
/// HICR6: snoop channel 1 captured a write: Linux `HICR6_STR_SNP1W`.
pub const HICR6_STR_SNP1W: u32 = 1 << 1;
/// Snoop addresses (channel 0 in bits 0-15, channel 1 in 16-31): Linux `SNPWADR`.
pub const REG_SNPWADR: u64 = 0x090;
/// Snooped data (channel 0 in bits 0-7, channel 1 in 8-15; read only): Linux `SNPWDR`.
pub const REG_SNPWDR: u64 = 0x094;
/// Host interface control B (channel 4 enable and IBF interrupt enable): Linux `LPC_HICRB`.
pub const REG_HICRB: u64 = 0x100;
/// HICRB: channel 4 enabled: Linux `LPC_HICRB_LPC4E`.
pub const HICRB_LPC4E: u32 = 1 << 0;
/// HICRB: channel 4 IBF interrupt enable: Linux `LPC_HICRB_IBFIE4`.
pub const HICRB_IBFIE4: u32 = 1 << 1;

/// KCS status: the BMC wrote ODR and the host has not read it: Linux `KCS_BMC_STR_OBF`.
pub const STR_OBF: u8 = 1 << 0;
/// KCS status: the host wrote IDR and the BMC has not read it: Linux `KCS_BMC_STR_IBF`.
pub const STR_IBF: u8 = 1 << 1;
/// KCS status: the host's last write was to the command port: Linux `KCS_BMC_STR_CMD_DAT`.
pub const STR_CMD_DAT: u8 = 1 << 3;
/// KCS status: the bits the BMC writes (state 7-6, OEM 5-4, SMS_ATN 2).
pub const STR_BMC_BITS: u8 = !(STR_OBF | STR_IBF | STR_CMD_DAT);
/// KCS status: the state field, bits 7-6: Linux `KCS_STATUS_STATE_MASK`.
pub const STR_STATE_SHIFT: u8 = 6;

/// KCS control code: abort and report the status: IPMI `GET_STATUS/ABORT`.
pub const KCS_GET_STATUS_ABORT: u8 = 0x60;
/// KCS control code: the first byte of a request follows: IPMI `WRITE_START`.
pub const KCS_WRITE_START: u8 = 0x61;
/// KCS control code: the last byte of a request follows: IPMI `WRITE_END`.
pub const KCS_WRITE_END: u8 = 0x62;
/// KCS data byte asking for the next reply byte: IPMI `READ`.
pub const KCS_READ: u8 = 0x68;

/// The KCS interface's state (STR bits 7-6), IPMI 2.0 table 9-2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KcsState {
    /// Between transfers.
    Idle,
    /// The BMC has reply bytes for the host.
    Read,
    /// The BMC takes request bytes.
    Write,
    /// The transfer failed.
    Error,
}

impl KcsState {
    fn from_status(str: u8) -> Self {
        match str >> STR_STATE_SHIFT {
            0 => KcsState::Idle,
            1 => KcsState::Read,
            2 => KcsState::Write,
            _ => KcsState::Error,
        }
    }
}

/// The registers of one KCS channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kcs {
    /// Input data register offset (Linux `LPC_IDRn`).
    pub idr: u64,
    /// Output data register offset (Linux `LPC_ODRn`).
    pub odr: u64,
    /// Status register offset (Linux `LPC_STRn`).
    pub str: u64,
}

/// KCS channels 1-4: the device tree's `kcs1`..`kcs4` `reg` triples.
pub const KCS_REGS: [Kcs; 4] = [
    Kcs {
        idr: 0x024,
        odr: 0x030,
        str: 0x03C,
    },
    Kcs {
        idr: 0x028,
        odr: 0x034,
        str: 0x040,
    },
    Kcs {
        idr: 0x02C,
        odr: 0x038,
        str: 0x044,
    },
    Kcs {
        idr: 0x114,
        odr: 0x118,
        str: 0x11C,
    },
];

impl Kcs {
    /// Whether channel `n` (1-4) is enabled in `regs` (`aspeed_kcs_enable_channel`).
    pub fn enabled(n: usize, regs: &[u32]) -> bool {
        let r = |o: u64| regs[(o / 4) as usize];
        match n {
            1 => r(REG_HICR0) & HICR0_LPC1E != 0,
            2 => r(REG_HICR0) & HICR0_LPC2E != 0,
            3 => r(REG_HICR0) & HICR0_LPC3E != 0 && r(REG_HICR4) & HICR4_KCSENBL != 0,
            4 => r(REG_HICRB) & HICRB_LPC4E != 0,
            _ => false,
        }
    }

    /// Whether channel `n`'s IBF interrupt is enabled in `regs` (`aspeed_kcs_irq_mask_update`).
    pub fn ibf_enable(n: usize, regs: &[u32]) -> bool {
        let r = |o: u64| regs[(o / 4) as usize];
        match n {
            1 => r(REG_HICR2) & HICR2_IBFIE1 != 0,
            2 => r(REG_HICR2) & HICR2_IBFIE2 != 0,
            3 => r(REG_HICR2) & HICR2_IBFIE3 != 0,
            4 => r(REG_HICRB) & HICRB_IBFIE4 != 0,
            _ => false,
        }
    }
}

/// Longest request or reply (Linux `KCS_MSG_BUFSIZ`).
pub const KCS_MAX_MESSAGE: usize = 1000;
/// Most POST codes waiting for the BMC.
pub const SNOOP_QUEUE_LIMIT: usize = 4096;

/// Why a KCS request failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KcsError {
    /// No channel of that number (1-4).
    NoChannel(usize),
    /// The guest has not enabled the channel (no driver bound to it).
    Disabled(usize),
    /// The channel already carries a request.
    Busy(usize),
    /// The request is empty or longer than [`KCS_MAX_MESSAGE`].
    Length(usize),
    /// The BMC did not finish in time.
    Timeout {
        /// What the host was waiting for.
        waiting: &'static str,
        /// Reply bytes received before it.
        received: Vec<u8>,
    },
    /// The BMC broke the protocol (or reported an error).
    Protocol(String),
}

impl std::fmt::Display for KcsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KcsError::NoChannel(n) => write!(f, "no KCS channel {n} (channels 1-4)"),
            KcsError::Disabled(n) => write!(
                f,
                "KCS channel {n} is not enabled by the guest (no kcs_bmc driver bound to it)"
            ),
            KcsError::Busy(n) => write!(f, "KCS channel {n} is busy with another request"),
            KcsError::Length(n) => {
                write!(f, "a KCS request has 1 to {KCS_MAX_MESSAGE} bytes, not {n}")
            }
            KcsError::Timeout { waiting, received } => write!(
                f,
                "the BMC did not answer in time (waiting for {waiting}; {} reply bytes so far)",
                received.len()
            ),
            KcsError::Protocol(m) => write!(f, "KCS protocol error: {m}"),
        }
    }
}

/// Where the host side of a KCS request is (`ipmi_kcs_sm.c`'s states).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum HostPhase {
    /// WRITE_START is to be written once IBF is clear.
    Start,
    /// Request bytes go out (`next` is the next one), each once IBF is clear in WRITE state.
    Write {
        /// Index of the next request byte.
        next: usize,
    },
    /// WRITE_END was written; the last byte goes once IBF is clear.
    WriteEnd,
    /// Waiting for IBF clear, then reading by the state: a byte in READ, the end in IDLE.
    Read,
    /// In READ state, waiting for OBF (the BMC's next byte).
    ReadByte,
    /// In IDLE state, waiting for OBF (the BMC's closing dummy byte).
    ReadEnd,
}

/// One KCS request in flight: plain data.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HostRequest {
    /// The request bytes.
    pub request: Vec<u8>,
    /// The reply so far.
    pub reply: Vec<u8>,
    /// Where the transfer is.
    pub phase: HostPhase,
    /// Virtual time (ns) at which it fails.
    pub deadline_ns: u64,
}

/// The registers and the host side: plain data, for snapshots.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LpcState {
    /// Every word of the block.
    pub regs: Vec<u32>,
    /// The KCS request in flight on each channel.
    pub requests: [Option<HostRequest>; 4],
    /// POST codes waiting to be written: (port, byte).
    pub snoop_queue: VecDeque<(u16, u8)>,
    /// Each snoop channel's last byte has not been read from `SNPWDR` yet.
    pub snoop_unread: [bool; 2],
}

impl Default for LpcState {
    fn default() -> Self {
        Self {
            regs: vec![0; (REGS_SIZE / 4) as usize],
            requests: Default::default(),
            snoop_queue: VecDeque::new(),
            snoop_unread: [false; 2],
        }
    }
}

/// A finished KCS request: the channel (1-4) and the reply or what went wrong.
pub type KcsReply = (usize, Result<Vec<u8>, KcsError>);

/// The LPC controller.
pub struct AspeedLpc {
    clock: Rc<dyn Clock>,
    kcs_irqs: [IrqLine; 4],
    snoop_irq: IrqLine,
    state: LpcState,
    replies: Vec<KcsReply>,
    /// A snoop write found no channel listening (logged once).
    snoop_unheard: bool,
    unimp: UnimplementedLog,
}

/// Word offsets a driver names (the rest is reported as unimplemented).
fn known(offset: u64) -> bool {
    // HICR0..LSADR12 (KCS, BT, snoop, SerIRQ, LPC reset, UART routing) and the iBT block.
    offset < 0x124 || (0x140..0x158).contains(&offset)
}

impl AspeedLpc {
    /// An LPC controller raising `kcs_irqs` (channels 1-4) and `snoop_irq`, with timeouts in
    /// `clock`'s virtual time.
    pub fn new(clock: Rc<dyn Clock>, kcs_irqs: [IrqLine; 4], snoop_irq: IrqLine) -> Self {
        Self::from_state(clock, kcs_irqs, snoop_irq, &LpcState::default())
    }

    /// A controller restored from `state`.
    pub fn from_state(
        clock: Rc<dyn Clock>,
        kcs_irqs: [IrqLine; 4],
        snoop_irq: IrqLine,
        state: &LpcState,
    ) -> Self {
        let mut state = state.clone();
        state.regs.resize((REGS_SIZE / 4) as usize, 0);
        let lpc = Self {
            clock,
            kcs_irqs,
            snoop_irq,
            state,
            replies: Vec::new(),
            snoop_unheard: false,
            unimp: UnimplementedLog::new("lpc"),
        };
        lpc.update_irqs();
        lpc
    }

    /// The registers and the host side.
    pub fn state(&self) -> LpcState {
        self.state.clone()
    }

    fn reg(&self, offset: u64) -> u32 {
        self.state.regs[(offset / 4) as usize]
    }

    fn reg_mut(&mut self, offset: u64) -> &mut u32 {
        &mut self.state.regs[(offset / 4) as usize]
    }

    fn status(&self, n: usize) -> u8 {
        self.reg(KCS_REGS[n - 1].str) as u8
    }

    fn set_status(&mut self, n: usize, clear: u8, set: u8) {
        let r = self.reg_mut(KCS_REGS[n - 1].str);
        *r = u32::from((*r as u8 & !clear) | set);
    }

    fn update_irqs(&self) {
        for n in 1..=4 {
            let level = self.status(n) & STR_IBF != 0
                && Kcs::enabled(n, &self.state.regs)
                && Kcs::ibf_enable(n, &self.state.regs);
            self.kcs_irqs[n - 1].set(level);
        }
        let hicr5 = self.reg(REG_HICR5);
        let hicr6 = self.reg(REG_HICR6);
        let snoop = (hicr6 & HICR6_STR_SNP0W != 0 && hicr5 & HICR5_ENINT_SNP0W != 0)
            || (hicr6 & HICR6_STR_SNP1W != 0 && hicr5 & HICR5_ENINT_SNP1W != 0);
        self.snoop_irq.set(snoop);
    }

    /// Whether KCS channel `n` (1-4) is enabled by the guest.
    pub fn kcs_enabled(&self, n: usize) -> bool {
        Kcs::enabled(n, &self.state.regs)
    }

    /// The host reads channel `n`'s status port.
    pub fn host_read_status(&self, n: usize) -> u8 {
        self.status(n)
    }

    /// The host reads channel `n`'s data port (ODR; clears OBF).
    pub fn host_read_data(&mut self, n: usize) -> u8 {
        let v = self.reg(KCS_REGS[n - 1].odr) as u8;
        self.set_status(n, STR_OBF, 0);
        v
    }

    /// The host writes channel `n`'s data port (IDR; sets IBF, clears C/D).
    pub fn host_write_data(&mut self, n: usize, byte: u8) {
        *self.reg_mut(KCS_REGS[n - 1].idr) = u32::from(byte);
        self.set_status(n, STR_CMD_DAT, STR_IBF);
        self.update_irqs();
    }

    /// The host writes channel `n`'s command port (IDR; sets IBF and C/D).
    pub fn host_write_command(&mut self, n: usize, byte: u8) {
        *self.reg_mut(KCS_REGS[n - 1].idr) = u32::from(byte);
        self.set_status(n, 0, STR_IBF | STR_CMD_DAT);
        self.update_irqs();
    }

    /// Starts sending `request` on KCS channel `n` (1-4); the reply arrives through
    /// [`AspeedLpc::take_replies`] or the request fails after `timeout_ns` of virtual time.
    pub fn kcs_request(
        &mut self,
        n: usize,
        request: &[u8],
        timeout_ns: u64,
    ) -> Result<(), KcsError> {
        if !(1..=4).contains(&n) {
            return Err(KcsError::NoChannel(n));
        }
        if !self.kcs_enabled(n) {
            return Err(KcsError::Disabled(n));
        }
        if self.state.requests[n - 1].is_some() {
            return Err(KcsError::Busy(n));
        }
        if request.is_empty() || request.len() > KCS_MAX_MESSAGE {
            return Err(KcsError::Length(request.len()));
        }
        self.state.requests[n - 1] = Some(HostRequest {
            request: request.to_vec(),
            reply: Vec::new(),
            phase: HostPhase::Start,
            deadline_ns: self.clock.now_ns().saturating_add(timeout_ns),
        });
        self.poll();
        Ok(())
    }

    /// Whether a KCS request is in flight on channel `n`.
    pub fn kcs_busy(&self, n: usize) -> bool {
        self.state
            .requests
            .get(n.wrapping_sub(1))
            .is_some_and(|r| r.is_some())
    }

    /// Requests that finished since the last call.
    pub fn take_replies(&mut self) -> Vec<KcsReply> {
        std::mem::take(&mut self.replies)
    }

    /// Queues `bytes` for the host to write to I/O port `port`, one at a time as the BMC
    /// takes them; returns how many are queued (the rest, past [`SNOOP_QUEUE_LIMIT`], is
    /// dropped). Bytes for a port no enabled snoop channel captures go nowhere, as on the bus.
    pub fn snoop_write(&mut self, port: u16, bytes: &[u8]) -> usize {
        let room = SNOOP_QUEUE_LIMIT.saturating_sub(self.state.snoop_queue.len());
        let take = room.min(bytes.len());
        self.state
            .snoop_queue
            .extend(bytes[..take].iter().map(|&b| (port, b)));
        self.poll();
        take
    }

    /// The snoop channel (0, 1) enabled for `port`, if any.
    pub fn snoop_channel(&self, port: u16) -> Option<usize> {
        let hicr5 = self.reg(REG_HICR5);
        let adr = self.reg(REG_SNPWADR);
        if hicr5 & HICR5_EN_SNP0W != 0 && adr as u16 == port {
            Some(0)
        } else if hicr5 & HICR5_EN_SNP1W != 0 && (adr >> 16) as u16 == port {
            Some(1)
        } else {
            None
        }
    }

    /// POST codes still waiting for the BMC.
    pub fn snoop_pending(&self) -> usize {
        self.state.snoop_queue.len()
    }

    fn poll_snoop(&mut self) {
        while let Some(&(port, byte)) = self.state.snoop_queue.front() {
            let Some(ch) = self.snoop_channel(port) else {
                if !self.snoop_unheard {
                    log::info!(
                        "lpc: no snoop channel captures port {port:#x}: the host's write goes nowhere"
                    );
                    self.snoop_unheard = true;
                }
                self.state.snoop_queue.pop_front();
                continue;
            };
            let str_bit = if ch == 0 {
                HICR6_STR_SNP0W
            } else {
                HICR6_STR_SNP1W
            };
            if self.reg(REG_HICR6) & str_bit != 0 || self.state.snoop_unread[ch] {
                // The BMC has not taken the last one: Linux acknowledges HICR6 before it
                // reads SNPWDR, so the next byte waits for both.
                return;
            }
            self.state.snoop_queue.pop_front();
            let shift = 8 * ch as u32;
            let data = self.reg_mut(REG_SNPWDR);
            *data = (*data & !(0xFF << shift)) | (u32::from(byte) << shift);
            *self.reg_mut(REG_HICR6) |= str_bit;
            self.state.snoop_unread[ch] = true;
            self.update_irqs();
        }
    }

    /// Moves every host-side transfer on as far as the BMC lets it: the SoC calls this between
    /// CPU slices.
    pub fn poll(&mut self) {
        self.poll_snoop();
        for n in 1..=4 {
            // Each step either waits (the BMC has not caught up) or acts and looks again.
            for _ in 0..4 {
                if !self.kcs_step(n) {
                    break;
                }
            }
        }
    }

    fn finish(&mut self, n: usize, result: Result<Vec<u8>, KcsError>) {
        self.state.requests[n - 1] = None;
        self.replies.push((n, result));
    }

    /// One step of channel `n`'s host: true if it acted.
    fn kcs_step(&mut self, n: usize) -> bool {
        let Some(req) = self.state.requests[n - 1].clone() else {
            return false;
        };
        let str = self.status(n);
        if !self.kcs_enabled(n) {
            self.finish(n, Err(KcsError::Disabled(n)));
            return false;
        }
        let ibf = str & STR_IBF != 0;
        let obf = str & STR_OBF != 0;
        let state = KcsState::from_status(str);
        let protocol = |what: &str| {
            Err(KcsError::Protocol(format!(
                "{what} (status {str:#04x}, {} reply bytes so far)",
                req.reply.len()
            )))
        };
        let next_phase = match req.phase {
            HostPhase::Start => {
                if ibf {
                    return false;
                }
                if obf {
                    self.host_read_data(n);
                }
                self.host_write_command(n, KCS_WRITE_START);
                HostPhase::Write { next: 0 }
            }
            HostPhase::Write { next } => {
                if ibf {
                    return false;
                }
                if state != KcsState::Write {
                    self.finish(n, protocol("the BMC left the WRITE state during a request"));
                    return false;
                }
                if obf {
                    self.host_read_data(n);
                }
                if next + 1 == req.request.len() {
                    self.host_write_command(n, KCS_WRITE_END);
                    HostPhase::WriteEnd
                } else {
                    self.host_write_data(n, req.request[next]);
                    HostPhase::Write { next: next + 1 }
                }
            }
            HostPhase::WriteEnd => {
                if ibf {
                    return false;
                }
                if state != KcsState::Write {
                    self.finish(n, protocol("the BMC left the WRITE state at WRITE_END"));
                    return false;
                }
                if obf {
                    self.host_read_data(n);
                }
                let last = *req.request.last().expect("requests are not empty");
                self.host_write_data(n, last);
                HostPhase::Read
            }
            HostPhase::Read => {
                if ibf {
                    return false;
                }
                match state {
                    KcsState::Read => HostPhase::ReadByte,
                    KcsState::Idle => HostPhase::ReadEnd,
                    KcsState::Write => {
                        // The BMC has not taken up the request yet (its handler runs later).
                        return false;
                    }
                    KcsState::Error => {
                        self.finish(n, protocol("the BMC reported an error"));
                        return false;
                    }
                }
            }
            HostPhase::ReadByte => {
                if !obf {
                    return false;
                }
                let byte = self.host_read_data(n);
                let mut r = req.clone();
                r.reply.push(byte);
                if r.reply.len() > KCS_MAX_MESSAGE {
                    self.finish(n, protocol("the reply is longer than a KCS message"));
                    return false;
                }
                r.phase = HostPhase::Read;
                self.state.requests[n - 1] = Some(r);
                self.host_write_data(n, KCS_READ);
                return true;
            }
            HostPhase::ReadEnd => {
                if !obf {
                    return false;
                }
                self.host_read_data(n);
                self.finish(n, Ok(req.reply.clone()));
                return true;
            }
        };
        if let Some(r) = self.state.requests[n - 1].as_mut() {
            r.phase = next_phase;
        }
        true
    }

    /// What a request in `phase` waits for (timeout messages).
    fn waiting(phase: &HostPhase) -> &'static str {
        match phase {
            HostPhase::Start | HostPhase::Write { .. } | HostPhase::WriteEnd => {
                "the BMC to take a request byte"
            }
            HostPhase::Read => "the BMC's reply (a driver and a program reading /dev/ipmi-kcs*)",
            HostPhase::ReadByte | HostPhase::ReadEnd => "the next reply byte",
        }
    }
}

impl Device for AspeedLpc {
    fn save_state(&self) -> Option<DeviceState> {
        Some(DeviceState::new(STATE_KIND, STATE_VERSION, &self.state))
    }

    /// Registers, the host side's requests in flight and its POST code queue as saved;
    /// replies finished before and not yet taken are dropped (they answered the old machine's
    /// host). The interrupt lines follow.
    fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        let mut saved: LpcState = state.decode(STATE_KIND, STATE_VERSION)?;
        if saved.regs.len() != (REGS_SIZE / 4) as usize {
            return Err(StateError(format!(
                "the saved LPC block holds {} words, this one {}",
                saved.regs.len(),
                REGS_SIZE / 4
            )));
        }
        for (n, r) in saved.requests.iter().enumerate() {
            let Some(r) = r else { continue };
            let in_request = match r.phase {
                HostPhase::Write { next } => next < r.request.len(),
                _ => true,
            };
            if r.request.is_empty()
                || r.request.len() > KCS_MAX_MESSAGE
                || r.reply.len() > KCS_MAX_MESSAGE
                || !in_request
            {
                return Err(StateError(format!(
                    "the saved KCS request on channel {} is inconsistent ({} request bytes, \
                     {} reply bytes, {:?})",
                    n + 1,
                    r.request.len(),
                    r.reply.len(),
                    r.phase
                )));
            }
        }
        saved.regs.shrink_to_fit();
        self.state = saved;
        self.replies.clear();
        self.update_irqs();
        Ok(())
    }

    fn read(&mut self, offset: u64, size: u8) -> u64 {
        let reg = offset & !3;
        if reg >= REGS_SIZE {
            self.unimp.read(offset, size);
            return 0;
        }
        if !known(reg) {
            self.unimp.read(offset, size);
        }
        let v = self.reg(reg);
        if reg == REG_SNPWDR {
            // Channel n's byte is byte lane n of the word.
            let lanes = (offset - reg)..(offset - reg + u64::from(size));
            for (ch, unread) in self.state.snoop_unread.iter_mut().enumerate() {
                if lanes.contains(&(ch as u64)) {
                    *unread = false;
                }
            }
        }
        if let Some(n) = KCS_REGS.iter().position(|k| k.idr == reg) {
            // The BMC takes the host's byte.
            self.set_status(n + 1, STR_IBF, 0);
            self.update_irqs();
        }
        subword(v, offset, size)
    }

    fn write(&mut self, offset: u64, size: u8, value: u64) {
        let reg = offset & !3;
        if reg >= REGS_SIZE {
            self.unimp.write(offset, size, value);
            return;
        }
        if !known(reg) {
            self.unimp.write(offset, size, value);
        }
        let old = self.reg(reg);
        let v = merge_subword(old, offset, size, value);
        if let Some(n) = KCS_REGS.iter().position(|k| k.odr == reg) {
            *self.reg_mut(reg) = v & 0xFF;
            self.set_status(n + 1, 0, STR_OBF);
        } else if KCS_REGS.iter().any(|k| k.idr == reg) || reg == REG_SNPWDR {
            // The host's side: read only for the BMC.
        } else if KCS_REGS.iter().any(|k| k.str == reg) {
            *self.reg_mut(reg) = u32::from((old as u8 & !STR_BMC_BITS) | (v as u8 & STR_BMC_BITS));
        } else if reg == REG_HICR6 {
            let w1c = HICR6_STR_SNP0W | HICR6_STR_SNP1W;
            *self.reg_mut(reg) = (old & !(v & w1c)) | (v & !w1c);
        } else {
            *self.reg_mut(reg) = v;
        }
        self.update_irqs();
    }

    fn reset(&mut self) {
        let requests = std::mem::take(&mut self.state.requests);
        for (i, r) in requests.into_iter().enumerate() {
            if r.is_some() {
                self.replies
                    .push((i + 1, Err(KcsError::Protocol("the BMC was reset".into()))));
            }
        }
        self.state = LpcState::default();
        self.update_irqs();
    }

    fn next_deadline(&self) -> Option<u64> {
        self.state
            .requests
            .iter()
            .flatten()
            .map(|r| r.deadline_ns)
            .min()
    }

    fn on_time(&mut self, now_ns: u64) {
        for n in 1..=4 {
            let expired = self.state.requests[n - 1]
                .as_ref()
                .filter(|r| r.deadline_ns <= now_ns)
                .map(|r| (Self::waiting(&r.phase), r.reply.clone()));
            if let Some((waiting, received)) = expired {
                self.finish(n, Err(KcsError::Timeout { waiting, received }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bus::{LevelRecorder, ManualClock};

    fn lpc() -> (AspeedLpc, Rc<LevelRecorder>, Rc<ManualClock>) {
        let rec = LevelRecorder::new();
        let clock = Rc::new(ManualClock::new());
        let lpc = AspeedLpc::new(
            clock.clone(),
            [rec.line(1), rec.line(2), rec.line(3), rec.line(4)],
            rec.line(0),
        );
        (lpc, rec, clock)
    }

    /// `aspeed_kcs_probe` for channel 3 (the device tree's `kcs3`): address, enable, IBF
    /// interrupt on.
    fn probe_kcs3(lpc: &mut AspeedLpc) {
        let rmw = |lpc: &mut AspeedLpc, reg: u64, mask: u32, val: u32| {
            let v = lpc.read(reg, 4) as u32;
            lpc.write(reg, 4, u64::from((v & !mask) | val));
        };
        lpc.write(0x014, 4, 0x0C); // LADR3H
        lpc.write(0x018, 4, 0xA2); // LADR3L
        rmw(lpc, REG_HICR0, HICR0_LPC3E, HICR0_LPC3E);
        rmw(lpc, REG_HICR4, HICR4_KCSENBL, HICR4_KCSENBL);
        rmw(lpc, REG_HICR2, HICR2_IBFIE3, HICR2_IBFIE3);
    }

    /// The BMC side as `kcs_bmc_cdev_ipmi.c` runs it: the interrupt handler and the replies of
    /// a program reading `/dev/ipmi-kcs3`.
    struct Bmc {
        phase: u8, // 0 idle, 1 write data, 2 write end, 3 done, 4 read
        data_in: Vec<u8>,
        data_out: Vec<u8>,
        out_idx: usize,
    }

    impl Bmc {
        const STR: u64 = 0x044;
        const IDR: u64 = 0x02C;
        const ODR: u64 = 0x038;

        fn set_state(lpc: &mut AspeedLpc, state: u8) {
            let s = lpc.read(Self::STR, 4) as u8;
            lpc.write(Self::STR, 4, u64::from((s & 0x3F) | (state << 6)));
        }

        fn event(&mut self, lpc: &mut AspeedLpc) {
            let status = lpc.read(Self::STR, 4) as u8;
            if status & STR_IBF == 0 {
                return;
            }
            if status & STR_CMD_DAT != 0 {
                Self::set_state(lpc, 2);
                lpc.write(Self::ODR, 4, 0);
                match lpc.read(Self::IDR, 4) as u8 {
                    KCS_WRITE_START => {
                        self.phase = 1;
                        self.data_in.clear();
                    }
                    KCS_WRITE_END => self.phase = 2,
                    _ => Self::set_state(lpc, 3),
                }
                return;
            }
            match self.phase {
                1 => {
                    Self::set_state(lpc, 2);
                    lpc.write(Self::ODR, 4, 0);
                    self.data_in.push(lpc.read(Self::IDR, 4) as u8);
                }
                2 => {
                    Self::set_state(lpc, 1);
                    self.data_in.push(lpc.read(Self::IDR, 4) as u8);
                    self.phase = 3;
                }
                4 => {
                    if self.out_idx == self.data_out.len() {
                        Self::set_state(lpc, 0);
                    }
                    let b = lpc.read(Self::IDR, 4) as u8;
                    assert_eq!(b, KCS_READ);
                    if self.out_idx == self.data_out.len() {
                        lpc.write(Self::ODR, 4, 0);
                        self.phase = 0;
                    } else {
                        lpc.write(Self::ODR, 4, u64::from(self.data_out[self.out_idx]));
                        self.out_idx += 1;
                    }
                }
                _ => {}
            }
        }

        /// `kcs_bmc_ipmi_write`: the program's reply.
        fn reply(&mut self, lpc: &mut AspeedLpc, bytes: &[u8]) {
            self.data_out = bytes.to_vec();
            self.phase = 4;
            lpc.write(Self::ODR, 4, u64::from(bytes[0]));
            self.out_idx = 1;
        }
    }

    #[test]
    fn an_ipmi_request_reaches_the_bmc_and_the_reply_comes_back() {
        let (mut lpc, rec, _) = lpc();
        assert_eq!(
            lpc.kcs_request(3, &[0x18, 0x01], 1_000),
            Err(KcsError::Disabled(3))
        );
        probe_kcs3(&mut lpc);
        let mut bmc = Bmc {
            phase: 0,
            data_in: Vec::new(),
            data_out: Vec::new(),
            out_idx: 0,
        };
        // Get Device ID: NetFn App (0x06 << 2), command 0x01.
        lpc.kcs_request(3, &[0x18, 0x01], 1_000_000_000).unwrap();
        assert_eq!(lpc.kcs_request(3, &[1], 1), Err(KcsError::Busy(3)));
        let mut steps = 0;
        while bmc.phase != 3 {
            assert!(rec.level(3), "IBF raises channel 3's interrupt");
            bmc.event(&mut lpc);
            assert!(!rec.level(3), "reading IDR clears it");
            lpc.poll();
            steps += 1;
            assert!(steps < 20);
        }
        assert_eq!(bmc.data_in, [0x18, 0x01]);
        lpc.poll();
        assert!(lpc.take_replies().is_empty(), "waiting for the program");
        bmc.reply(&mut lpc, &[0x1C, 0x01, 0x00, 0x20]);
        for _ in 0..20 {
            lpc.poll();
            bmc.event(&mut lpc);
        }
        assert_eq!(
            lpc.take_replies(),
            vec![(3, Ok(vec![0x1C, 0x01, 0x00, 0x20]))]
        );
        assert!(!lpc.kcs_busy(3));
        assert_eq!(
            KcsState::from_status(lpc.host_read_status(3)),
            KcsState::Idle
        );
    }

    #[test]
    fn a_request_in_flight_survives_a_save_and_load() {
        let (mut lpc, rec, _) = lpc();
        probe_kcs3(&mut lpc);
        let mut bmc = Bmc {
            phase: 0,
            data_in: Vec::new(),
            data_out: Vec::new(),
            out_idx: 0,
        };
        lpc.kcs_request(3, &[0x18, 0x01], 1_000_000_000).unwrap();
        bmc.event(&mut lpc);
        lpc.poll();
        assert!(rec.level(3), "the next request byte waits for the BMC");
        let saved = lpc.save_state().unwrap();

        let (mut twin, twin_rec, _) = super::tests::lpc();
        twin.load_state(&saved).unwrap();
        assert!(
            twin_rec.level(3),
            "the restored controller raises IBF's interrupt"
        );
        assert_eq!(twin.save_state().unwrap(), saved);
        // Registers without read side effects (IDR reads are the BMC's).
        for off in [REG_HICR0, REG_HICR2, REG_HICR4, Bmc::STR, Bmc::ODR] {
            assert_eq!(twin.read(off, 4), lpc.read(off, 4), "register {off:#x}");
        }
        assert_eq!(twin.next_deadline(), lpc.next_deadline());
        // The BMC finishes the transfer with the restored controller.
        let mut steps = 0;
        while bmc.phase != 3 {
            bmc.event(&mut twin);
            twin.poll();
            steps += 1;
            assert!(steps < 20);
        }
        assert_eq!(bmc.data_in, [0x18, 0x01]);
        bmc.reply(&mut twin, &[0x1C, 0x01, 0x00]);
        for _ in 0..20 {
            twin.poll();
            bmc.event(&mut twin);
        }
        assert_eq!(twin.take_replies(), vec![(3, Ok(vec![0x1C, 0x01, 0x00]))]);

        let mut wrong = saved.clone();
        wrong.kind = "uart".into();
        let before = lpc.save_state();
        assert!(lpc.load_state(&wrong).is_err());
        assert_eq!(lpc.save_state(), before);
    }

    #[test]
    fn post_codes_and_a_request_timeout_survive_a_save_and_load() {
        let (mut lpc, rec, clock) = lpc();
        lpc.write(REG_SNPWADR, 4, 0x80);
        lpc.write(REG_HICR5, 4, u64::from(HICR5_EN_SNP0W | HICR5_ENINT_SNP0W));
        lpc.snoop_write(0x80, &[0xAA, 0xBB, 0xCC]);
        probe_kcs3(&mut lpc);
        clock.set(1_000);
        lpc.kcs_request(3, &[0x06, 0x01], 5_000).unwrap();
        assert!(rec.level(0) && rec.level(3));
        let saved = lpc.save_state().unwrap();
        assert_eq!(
            (saved.kind.as_str(), saved.version),
            (STATE_KIND, STATE_VERSION)
        );

        let (mut twin, twin_rec, twin_clock) = super::tests::lpc();
        twin_clock.set(1_000);
        twin.load_state(&saved).unwrap();
        assert_eq!(twin.save_state().unwrap(), saved);
        for line in 0..=4 {
            assert_eq!(twin_rec.level(line), rec.level(line), "line {line}");
        }
        for off in [
            REG_HICR0,
            REG_HICR2,
            REG_HICR4,
            REG_HICR5,
            REG_HICR6,
            REG_SNPWADR,
            REG_SNPWDR,
            Bmc::STR,
        ] {
            assert_eq!(twin.read(off, 4), lpc.read(off, 4), "register {off:#x}");
        }
        assert_eq!(twin.snoop_pending(), 2);
        assert_eq!(twin.next_deadline(), Some(6_000));
        // Both go on alike: the snoop handler takes the codes one at a time, and the request
        // nobody answers times out at the same virtual time.
        for (lpc, rec, clock) in [
            (&mut lpc, &rec, &clock),
            (&mut twin, &twin_rec, &twin_clock),
        ] {
            let mut got = Vec::new();
            while rec.level(0) {
                lpc.write(REG_HICR6, 4, u64::from(HICR6_STR_SNP0W));
                got.push(lpc.read(REG_SNPWDR, 4) as u8);
                lpc.poll();
            }
            assert_eq!(got, [0xAA, 0xBB, 0xCC]);
            clock.set(5_999);
            lpc.on_time(5_999);
            assert!(lpc.take_replies().is_empty());
            clock.set(6_000);
            lpc.on_time(6_000);
            let replies = lpc.take_replies();
            assert!(
                matches!(&replies[..], [(3, Err(KcsError::Timeout { .. }))]),
                "{replies:?}"
            );
        }
        assert_eq!(twin.save_state(), lpc.save_state());
    }

    #[test]
    fn a_state_of_another_kind_version_or_size_is_refused_and_changes_nothing() {
        let (mut lpc, _, _) = lpc();
        probe_kcs3(&mut lpc);
        lpc.kcs_request(3, &[0x06, 0x01], 5_000).unwrap();
        let saved = lpc.save_state().unwrap();
        let (mut twin, _, _) = super::tests::lpc();
        let before = twin.save_state();
        let mut wrong = saved.clone();
        wrong.kind = "aspeed-sgpio".into();
        assert!(twin
            .load_state(&wrong)
            .unwrap_err()
            .0
            .contains("cannot be loaded"));
        let mut wrong = saved.clone();
        wrong.version = STATE_VERSION + 1;
        assert!(twin
            .load_state(&wrong)
            .unwrap_err()
            .0
            .contains("format version"));
        let mut short = lpc.state();
        short.regs.truncate(16);
        let short = DeviceState::new(STATE_KIND, STATE_VERSION, &short);
        assert!(twin.load_state(&short).unwrap_err().0.contains("16 words"));
        let mut bad = lpc.state();
        if let Some(r) = bad.requests[2].as_mut() {
            r.phase = HostPhase::Write { next: 2 };
        }
        let bad = DeviceState::new(STATE_KIND, STATE_VERSION, &bad);
        let e = twin.load_state(&bad).unwrap_err();
        assert!(e.0.contains("request on channel 3 is inconsistent"), "{e}");
        assert_eq!(twin.save_state(), before);
    }

    #[test]
    fn a_request_nobody_answers_times_out_in_virtual_time() {
        let (mut lpc, _, clock) = lpc();
        probe_kcs3(&mut lpc);
        lpc.kcs_request(3, &[0x18, 0x01], 5_000).unwrap();
        assert_eq!(lpc.next_deadline(), Some(5_000));
        clock.set(5_000);
        lpc.on_time(5_000);
        let replies = lpc.take_replies();
        assert!(
            matches!(&replies[..], [(3, Err(KcsError::Timeout { .. }))]),
            "{replies:?}"
        );
        assert_eq!(lpc.next_deadline(), None);
        assert!(lpc.kcs_request(0, &[1], 1).is_err());
        assert!(lpc.kcs_request(3, &[], 1).is_err());
    }

    #[test]
    fn bmc_owned_status_bits_and_host_owned_ones() {
        let (mut lpc, _, _) = lpc();
        probe_kcs3(&mut lpc);
        lpc.host_write_command(3, KCS_WRITE_START);
        lpc.write(Bmc::STR, 4, 0xFF);
        // State, OEM and SMS_ATN written; IBF and C/D still the host's, OBF not set by STR.
        assert_eq!(lpc.read(Bmc::STR, 4) as u8, 0xF4 | STR_IBF | STR_CMD_DAT);
        lpc.write(Bmc::IDR, 4, 0x55);
        assert_eq!(lpc.read(Bmc::IDR, 4), u64::from(KCS_WRITE_START));
        assert_eq!(lpc.read(Bmc::STR, 4) as u8 & STR_IBF, 0);
    }

    /// `aspeed_lpc_enable_snoop` for channel 0 on port 0x80, then its interrupt handler.
    #[test]
    fn post_codes_reach_the_snoop_one_at_a_time() {
        let (mut lpc, rec, _) = lpc();
        assert_eq!(lpc.snoop_write(0x80, &[0x11]), 1);
        assert_eq!(lpc.snoop_pending(), 0, "nobody listens: dropped");
        lpc.write(REG_SNPWADR, 4, 0x80);
        let v = lpc.read(REG_HICR5, 4);
        lpc.write(
            REG_HICR5,
            4,
            v | u64::from(HICR5_EN_SNP0W | HICR5_ENINT_SNP0W),
        );
        lpc.snoop_write(0x80, &[0xAA, 0xBB, 0xCC]);
        let mut got = Vec::new();
        while rec.level(0) {
            let reg = lpc.read(REG_HICR6, 4) as u32 & (HICR6_STR_SNP0W | HICR6_STR_SNP1W);
            lpc.write(REG_HICR6, 4, u64::from(reg));
            got.push(lpc.read(REG_SNPWDR, 4) as u8);
            lpc.poll();
        }
        assert_eq!(got, [0xAA, 0xBB, 0xCC]);
        assert_eq!(lpc.snoop_pending(), 0);
    }

    /// The SoC polls between CPU slices, which may fall between the handler's acknowledgement
    /// and its read of SNPWDR: the next code must not overwrite the one not yet read.
    #[test]
    fn a_poll_between_acknowledge_and_read_keeps_the_byte() {
        let (mut lpc, rec, _) = lpc();
        lpc.write(REG_SNPWADR, 4, 0x80);
        lpc.write(REG_HICR5, 4, u64::from(HICR5_EN_SNP0W | HICR5_ENINT_SNP0W));
        lpc.snoop_write(0x80, &[0x12, 0x34]);
        let mut got = Vec::new();
        while rec.level(0) {
            lpc.write(REG_HICR6, 4, u64::from(HICR6_STR_SNP0W));
            lpc.poll();
            got.push(lpc.read(REG_SNPWDR, 4) as u8);
            lpc.poll();
        }
        assert_eq!(got, [0x12, 0x34]);
    }

    #[test]
    fn state_round_trips_with_a_request_in_flight() {
        let (mut lpc, _, clock) = lpc();
        probe_kcs3(&mut lpc);
        lpc.kcs_request(3, &[1, 2, 3], 1_000).unwrap();
        let state = lpc.state();
        let rec = LevelRecorder::new();
        let restored = AspeedLpc::from_state(
            clock,
            [rec.line(1), rec.line(2), rec.line(3), rec.line(4)],
            rec.line(0),
            &state,
        );
        assert_eq!(restored.state(), state);
        assert!(rec.level(3), "IBF from WRITE_START keeps the line high");
    }
}
