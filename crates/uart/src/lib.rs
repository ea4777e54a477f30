//! A 16550A-compatible UART with the Synopsys DesignWare APB extras (USR, CPR, UCV, CTR), as
//! Linux's `8250_dw` / `8250_port.c` and u-boot's `ns16550` drive it on the AST2600.
//!
//! Registers sit at `index << reg_shift` (the AST2600 device tree says `reg-shift = <2>`).
//! Bytes the guest transmits go straight to the output `W` (the transmitter is infinitely fast:
//! THR and the TX FIFO are always empty). Bytes from the host enter through
//! [`Uart::enqueue_rx`]; the RX FIFO holds 16 bytes (1 with FIFOs disabled) and
//! [`Uart::rx_space`] lets the host apply back-pressure instead of dropping input.
//!
//! The interrupt output is level-triggered and follows the 16550 pending state, in the 16550
//! priority order: receiver line status, RX data available / character timeout, THR empty,
//! modem status. The DesignWare "busy detect" interrupt (IIR = 0x7) never occurs because the
//! model is never busy.
//!
//! [`Variant::AspeedVuart`] is the BMC side of the Aspeed virtual UART (Linux
//! `8250_aspeed_vuart.c`, `aspeed,ast2500-vuart`): the same 16550 registers, no DesignWare
//! extras, and four byte registers after them ([`REG_GCRA`], [`REG_GCRB`], [`REG_ADDRL`],
//! [`REG_ADDRH`]: enable, host SIRQ polarity and number, host TX discard, LPC I/O address).
//! The host (LPC) side is the serial backend: what the BMC transmits goes to `W`, what the
//! host sends enters through [`Uart::enqueue_rx`], and is discarded (accepted and dropped)
//! while the VUART is disabled or host TX discard is on (the BMC has not opened the port).
#![deny(missing_docs)]

use std::collections::VecDeque;
use std::io::Write;

use bus::{subword, Device, DeviceState, IrqLine, StateError, UnimplementedLog};
use serde::{Deserialize, Serialize};

/// Register index of RBR (read) / THR (write), or DLL with LCR.DLAB set: Linux `UART_RX`, `UART_TX`, `UART_DLL`.
pub const REG_RBR_THR_DLL: u64 = 0;
/// Register index of IER, or DLH (DLM) with LCR.DLAB set: Linux `UART_IER`, `UART_DLM`.
pub const REG_IER_DLH: u64 = 1;
/// Register index of IIR (read) / FCR (write): Linux `UART_IIR`, `UART_FCR`.
pub const REG_IIR_FCR: u64 = 2;
/// Register index of the line control register: Linux `UART_LCR`.
pub const REG_LCR: u64 = 3;
/// Register index of the modem control register: Linux `UART_MCR`.
pub const REG_MCR: u64 = 4;
/// Register index of the line status register: Linux `UART_LSR`.
pub const REG_LSR: u64 = 5;
/// Register index of the modem status register: Linux `UART_MSR`.
pub const REG_MSR: u64 = 6;
/// Register index of the scratch register: Linux `UART_SCR`.
pub const REG_SCR: u64 = 7;
/// Register index of the DesignWare UART status register (offset 0x7C at reg_shift 2): Linux `DW_UART_USR`.
pub const REG_USR: u64 = 0x1F;
/// Register index of the DesignWare component parameter register (offset 0xF4): Linux `DW_UART_CPR`.
pub const REG_CPR: u64 = 0x3D;
/// Register index of the DesignWare UART component version (offset 0xF8): Linux `DW_UART_UCV`.
pub const REG_UCV: u64 = 0x3E;
/// Register index of the DesignWare component type register (offset 0xFC): DW_apb_uart `CTR`.
pub const REG_CTR: u64 = 0x3F;

/// IER: enable received data available interrupt: Linux `UART_IER_RDI`.
pub const IER_ERBFI: u8 = 0x01;
/// IER: enable THR empty interrupt: Linux `UART_IER_THRI`.
pub const IER_ETBEI: u8 = 0x02;
/// IER: enable receiver line status interrupt: Linux `UART_IER_RLSI`.
pub const IER_ELSI: u8 = 0x04;
/// IER: enable modem status interrupt: Linux `UART_IER_MSI`.
pub const IER_EDSSI: u8 = 0x08;
/// IER bits that exist on a 16550A (Linux `UART_IER_ALL`; autoconfig checks that bit 6 is not writable).
pub const IER_MASK: u8 = 0x0F;

/// IIR: no interrupt pending: Linux `UART_IIR_NO_INT`.
pub const IIR_NO_INT: u8 = 0x01;
/// IIR: modem status interrupt: Linux `UART_IIR_MSI`.
pub const IIR_MSI: u8 = 0x00;
/// IIR: THR empty interrupt: Linux `UART_IIR_THRI`.
pub const IIR_THRI: u8 = 0x02;
/// IIR: received data available (trigger level reached): Linux `UART_IIR_RDI`.
pub const IIR_RDI: u8 = 0x04;
/// IIR: receiver line status interrupt: Linux `UART_IIR_RLSI`.
pub const IIR_RLSI: u8 = 0x06;
/// IIR: character timeout (data below the trigger level): Linux `UART_IIR_RX_TIMEOUT`.
pub const IIR_RX_TIMEOUT: u8 = 0x0C;
/// IIR: DesignWare busy detect; never reported by this model: Linux `UART_IIR_BUSY`.
pub const IIR_BUSY: u8 = 0x07;
/// IIR: both FIFO-enabled bits (16550A): Linux `UART_IIR_FIFO_ENABLED_16550A`.
pub const IIR_FIFO_ENABLED: u8 = 0xC0;

/// FCR: enable the FIFOs: Linux `UART_FCR_ENABLE_FIFO`.
pub const FCR_ENABLE_FIFO: u8 = 0x01;
/// FCR: clear the receive FIFO: Linux `UART_FCR_CLEAR_RCVR`.
pub const FCR_CLEAR_RCVR: u8 = 0x02;
/// FCR: clear the transmit FIFO: Linux `UART_FCR_CLEAR_XMIT`.
pub const FCR_CLEAR_XMIT: u8 = 0x04;
/// FCR: DMA mode select: Linux `UART_FCR_DMA_SELECT`.
pub const FCR_DMA_SELECT: u8 = 0x08;
/// FCR: receive trigger level field (1, 4, 8 or 14 bytes): Linux `UART_FCR_TRIGGER_MASK`.
pub const FCR_TRIGGER_MASK: u8 = 0xC0;

/// LCR: divisor latch access bit: Linux `UART_LCR_DLAB`.
pub const LCR_DLAB: u8 = 0x80;

/// MCR: data terminal ready: Linux `UART_MCR_DTR`.
pub const MCR_DTR: u8 = 0x01;
/// MCR: request to send: Linux `UART_MCR_RTS`.
pub const MCR_RTS: u8 = 0x02;
/// MCR: OUT1: Linux `UART_MCR_OUT1`.
pub const MCR_OUT1: u8 = 0x04;
/// MCR: OUT2 (interrupt gate on PCs): Linux `UART_MCR_OUT2`.
pub const MCR_OUT2: u8 = 0x08;
/// MCR: local loopback: Linux `UART_MCR_LOOP`.
pub const MCR_LOOP: u8 = 0x10;
/// MCR bits that exist on a 16550A.
pub const MCR_MASK: u8 = 0x1F;

/// LSR: data ready: Linux `UART_LSR_DR`.
pub const LSR_DR: u8 = 0x01;
/// LSR: overrun error: Linux `UART_LSR_OE`.
pub const LSR_OE: u8 = 0x02;
/// LSR: parity error: Linux `UART_LSR_PE`.
pub const LSR_PE: u8 = 0x04;
/// LSR: framing error: Linux `UART_LSR_FE`.
pub const LSR_FE: u8 = 0x08;
/// LSR: break interrupt: Linux `UART_LSR_BI`.
pub const LSR_BI: u8 = 0x10;
/// LSR: transmit holding register empty: Linux `UART_LSR_THRE`.
pub const LSR_THRE: u8 = 0x20;
/// LSR: transmitter empty: Linux `UART_LSR_TEMT`.
pub const LSR_TEMT: u8 = 0x40;
/// LSR: error in the RX FIFO: Linux `UART_LSR_FIFOE`.
pub const LSR_FIFOE: u8 = 0x80;
/// LSR error bits that raise the receiver line status interrupt: Linux `UART_LSR_BRK_ERROR_BITS`.
pub const LSR_ERROR_BITS: u8 = LSR_OE | LSR_PE | LSR_FE | LSR_BI;

/// MSR: delta CTS: Linux `UART_MSR_DCTS`.
pub const MSR_DCTS: u8 = 0x01;
/// MSR: delta DSR: Linux `UART_MSR_DDSR`.
pub const MSR_DDSR: u8 = 0x02;
/// MSR: trailing edge of RI: Linux `UART_MSR_TERI`.
pub const MSR_TERI: u8 = 0x04;
/// MSR: delta DCD: Linux `UART_MSR_DDCD`.
pub const MSR_DDCD: u8 = 0x08;
/// MSR: clear to send: Linux `UART_MSR_CTS`.
pub const MSR_CTS: u8 = 0x10;
/// MSR: data set ready: Linux `UART_MSR_DSR`.
pub const MSR_DSR: u8 = 0x20;
/// MSR: ring indicator: Linux `UART_MSR_RI`.
pub const MSR_RI: u8 = 0x40;
/// MSR: data carrier detect: Linux `UART_MSR_DCD`.
pub const MSR_DCD: u8 = 0x80;
/// MSR delta bits, cleared by reading MSR: Linux `UART_MSR_ANY_DELTA`.
pub const MSR_ANY_DELTA: u8 = 0x0F;

/// USR: UART busy (never set here): DW_apb_uart `USR.BUSY`.
pub const USR_BUSY: u32 = 0x01;
/// USR: transmit FIFO not full: DW_apb_uart `USR.TFNF`.
pub const USR_TFNF: u32 = 0x02;
/// USR: transmit FIFO empty: DW_apb_uart `USR.TFE`.
pub const USR_TFE: u32 = 0x04;
/// USR: receive FIFO not empty: DW_apb_uart `USR.RFNE`.
pub const USR_RFNE: u32 = 0x08;
/// USR: receive FIFO full: DW_apb_uart `USR.RFF`.
pub const USR_RFF: u32 = 0x10;

/// Value of CPR. Zero, deliberately: `dw8250_setup_port` stops at UCV = 0 (and would ignore a
/// zero CPR), so Linux probes the port with `autoconfig()` exactly as on QEMU's ast2600-evb
/// (where these offsets read as zero) and reports "is a 16550A".
pub const CPR_VALUE: u32 = 0;
/// Value of UCV: zero means "no additional features" to Linux `dw8250_setup_port`, which then
/// does not probe DLF (fractional divisor) or CPR.
pub const UCV_VALUE: u32 = 0;
/// Value of CTR: the DesignWare peripheral id ("DW" 0x0110); no driver reads it.
pub const CTR_VALUE: u32 = 0x4457_0110;

/// VUART register index of general control register A (offset 0x20 at reg_shift 2): Linux
/// `ASPEED_VUART_GCRA`.
pub const REG_GCRA: u64 = 8;
/// VUART register index of general control register B (offset 0x24): Linux `ASPEED_VUART_GCRB`.
pub const REG_GCRB: u64 = 9;
/// VUART register index of the LPC I/O address, low byte (offset 0x28): Linux `ASPEED_VUART_ADDRL`.
pub const REG_ADDRL: u64 = 10;
/// VUART register index of the LPC I/O address, high byte (offset 0x2C): Linux `ASPEED_VUART_ADDRH`.
pub const REG_ADDRH: u64 = 11;
/// GCRA: the VUART is enabled: Linux `ASPEED_VUART_GCRA_VUART_EN`.
pub const GCRA_VUART_EN: u8 = 0x01;
/// GCRA: host SIRQ polarity (1 = level high): Linux `ASPEED_VUART_GCRA_HOST_SIRQ_POLARITY`.
pub const GCRA_HOST_SIRQ_POLARITY: u8 = 0x02;
/// GCRA: host TX discard is off (the BMC side is open and receives): Linux
/// `ASPEED_VUART_GCRA_DISABLE_HOST_TX_DISCARD`.
pub const GCRA_DISABLE_HOST_TX_DISCARD: u8 = 0x20;
/// GCRB: the host SIRQ number field (bits 7:4): Linux `ASPEED_VUART_GCRB_HOST_SIRQ_MASK`.
pub const GCRB_HOST_SIRQ_MASK: u8 = 0xF0;
/// Size of the VUART's register block (the device tree's `reg` size).
pub const VUART_REGS_SIZE: u64 = 0x40;

/// The kind of a UART's saved state ([`DeviceState::kind`]), DesignWare UART or VUART alike.
pub const STATE_KIND: &str = "uart";
/// The format version of a UART's saved state: its [`Variant`] and its [`UartState`].
pub const STATE_VERSION: u32 = 1;

/// Which UART the registers are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Variant {
    /// A 16550A with the DesignWare APB extras (USR, CPR, UCV, CTR): the AST2600's UART1..13.
    #[default]
    DesignWare,
    /// The BMC side of the Aspeed VUART: 16550A plus GCRA, GCRB, ADDRL, ADDRH.
    AspeedVuart,
}

/// The VUART's own registers (plain values; zero outside a VUART).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VuartRegs {
    /// General control register A ([`GCRA_VUART_EN`], [`GCRA_HOST_SIRQ_POLARITY`],
    /// [`GCRA_DISABLE_HOST_TX_DISCARD`]).
    pub gcra: u8,
    /// General control register B ([`GCRB_HOST_SIRQ_MASK`]).
    pub gcrb: u8,
    /// LPC I/O address, low byte.
    pub addrl: u8,
    /// LPC I/O address, high byte.
    pub addrh: u8,
}

impl VuartRegs {
    /// Whether host input reaches the receiver: enabled, host TX discard off.
    pub fn receives(&self) -> bool {
        self.gcra & GCRA_VUART_EN != 0 && self.gcra & GCRA_DISABLE_HOST_TX_DISCARD != 0
    }

    /// The LPC I/O address the host sees the VUART at (ADDRH:ADDRL).
    pub fn lpc_address(&self) -> u16 {
        u16::from(self.addrh) << 8 | u16::from(self.addrl)
    }

    /// The host SIRQ number (GCRB bits 7:4).
    pub fn sirq(&self) -> u8 {
        (self.gcrb & GCRB_HOST_SIRQ_MASK) >> 4
    }
}

/// Depth of the RX FIFO with FIFOs enabled (16550A).
pub const RX_FIFO_SIZE: usize = 16;
/// The modem status lines seen when not in loopback: the outside world is always ready.
pub const MSR_LINES_IDLE: u8 = MSR_CTS | MSR_DSR | MSR_DCD;

/// The registers of the UART: a plain value that can be saved and restored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UartState {
    /// Divisor latch low byte.
    pub dll: u8,
    /// Divisor latch high byte.
    pub dlh: u8,
    /// Interrupt enable register.
    pub ier: u8,
    /// FIFO control: the FIFO enable, DMA mode and trigger bits last written (self-clearing bits dropped).
    pub fcr: u8,
    /// Line control register.
    pub lcr: u8,
    /// Modem control register.
    pub mcr: u8,
    /// Sticky LSR error bits (cleared by reading LSR).
    pub lsr_errors: u8,
    /// Modem status register: line states in bits 7:4, deltas in bits 3:0.
    pub msr: u8,
    /// Scratch register.
    pub scr: u8,
    /// Received bytes not yet read by the guest, oldest first.
    pub rx_fifo: VecDeque<u8>,
    /// A THR-empty interrupt is pending (cleared by reading it from IIR).
    pub thre_pending: bool,
    /// Level the interrupt line was last driven to.
    pub irq_level: bool,
    /// LSR reads that found the receiver empty since the guest last transmitted a byte:
    /// a guest polling for a key (u-boot's `tstc` in its autoboot countdown) makes it grow,
    /// one printing (a read before each byte written) keeps it at 0 or 1.
    pub input_polls: u32,
    /// The VUART registers ([`Variant::AspeedVuart`] only).
    pub vuart: VuartRegs,
    /// Host bytes a VUART discarded (disabled or host TX discard on) since reset.
    pub discarded: u64,
}

impl Default for UartState {
    fn default() -> Self {
        Self {
            dll: 0,
            dlh: 0,
            ier: 0,
            fcr: 0,
            lcr: 0,
            mcr: 0,
            lsr_errors: 0,
            msr: MSR_LINES_IDLE,
            scr: 0,
            rx_fifo: VecDeque::with_capacity(RX_FIFO_SIZE),
            thre_pending: false,
            input_polls: 0,
            irq_level: false,
            vuart: VuartRegs::default(),
            discarded: 0,
        }
    }
}

/// What a UART saves in a snapshot ([`STATE_KIND`], [`STATE_VERSION`]): its registers and the
/// variant that decodes them, so a VUART's state is never loaded into a DesignWare UART.
#[derive(Serialize, Deserialize)]
struct SavedUart {
    variant: Variant,
    state: UartState,
}

/// A 16550A UART with DesignWare APB extras, transmitting into `W`.
pub struct Uart<W: Write> {
    state: UartState,
    reg_shift: u8,
    variant: Variant,
    out: W,
    irq: IrqLine,
    unimplemented: UnimplementedLog,
}

impl<W: Write> Uart<W> {
    /// A UART in its reset state whose registers sit at `index << reg_shift` (2 on the
    /// AST2600), transmitting into `out` and driving `irq`.
    pub fn new(out: W, irq: IrqLine, reg_shift: u8) -> Self {
        Self::from_state(&UartState::default(), out, irq, reg_shift)
    }

    /// A UART restored from `state`; the interrupt line is raised at once if an interrupt is
    /// pending in that state.
    pub fn from_state(state: &UartState, out: W, irq: IrqLine, reg_shift: u8) -> Self {
        let mut uart = Self {
            state: state.clone(),
            reg_shift: reg_shift.min(8),
            variant: Variant::DesignWare,
            out,
            irq,
            unimplemented: UnimplementedLog::new("uart"),
        };
        let level = uart.interrupt_id() != IIR_NO_INT;
        uart.state.irq_level = level;
        if level {
            uart.irq.raise();
        }
        uart
    }

    /// The same UART as another [`Variant`] (registers decoded that way from now on).
    pub fn with_variant(mut self, variant: Variant) -> Self {
        self.variant = variant;
        self
    }

    /// Which UART this is.
    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// Whether host input is discarded rather than received: a VUART that is disabled or has
    /// host TX discard on. Never for a DesignWare UART.
    pub fn discarding(&self) -> bool {
        self.variant == Variant::AspeedVuart && !self.state.vuart.receives()
    }

    /// Whether the guest is polling the receiver for input: two or more LSR reads found it
    /// empty since the guest last transmitted (see [`UartState::input_polls`]). A guest that
    /// only prints never polls twice in a row: it writes a byte after each LSR read.
    pub fn polled_for_input(&self) -> bool {
        self.state.input_polls >= 2
    }

    /// A copy of the registers.
    pub fn state(&self) -> UartState {
        self.state.clone()
    }

    /// The output the guest transmits into.
    pub fn output(&self) -> &W {
        &self.out
    }

    /// The output the guest transmits into, mutably.
    pub fn output_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Bytes of room in the RX FIFO: how many bytes [`Uart::enqueue_rx`] would accept now.
    /// Zero in loopback mode, where the receiver is disconnected from the serial input.
    /// A discarding VUART ([`Uart::discarding`]) takes (and drops) a FIFO's worth at a time.
    pub fn rx_space(&self) -> usize {
        if self.discarding() {
            RX_FIFO_SIZE
        } else if self.loopback() {
            0
        } else {
            self.rx_capacity().saturating_sub(self.state.rx_fifo.len())
        }
    }

    /// Offers host input to the receiver; returns how many leading bytes of `data` were
    /// accepted (the rest must be offered again later: nothing is dropped).
    pub fn enqueue_rx(&mut self, data: &[u8]) -> usize {
        let n = self.rx_space().min(data.len());
        if self.discarding() {
            self.state.discarded += n as u64;
            return n;
        }
        self.state.rx_fifo.extend(&data[..n]);
        self.update_irq();
        n
    }

    /// The IIR interrupt identification the guest would read now (without side effects).
    pub fn interrupt_id(&self) -> u8 {
        let s = &self.state;
        if s.ier & IER_ELSI != 0 && s.lsr_errors & LSR_ERROR_BITS != 0 {
            IIR_RLSI
        } else if s.ier & IER_ERBFI != 0 && !s.rx_fifo.is_empty() {
            if self.fifo_enabled() && s.rx_fifo.len() < self.rx_trigger() {
                IIR_RX_TIMEOUT
            } else {
                IIR_RDI
            }
        } else if s.ier & IER_ETBEI != 0 && s.thre_pending {
            IIR_THRI
        } else if s.ier & IER_EDSSI != 0 && s.msr & MSR_ANY_DELTA != 0 {
            IIR_MSI
        } else {
            IIR_NO_INT
        }
    }

    fn fifo_enabled(&self) -> bool {
        self.state.fcr & FCR_ENABLE_FIFO != 0
    }

    fn loopback(&self) -> bool {
        self.state.mcr & MCR_LOOP != 0
    }

    fn dlab(&self) -> bool {
        self.state.lcr & LCR_DLAB != 0
    }

    fn rx_capacity(&self) -> usize {
        if self.fifo_enabled() {
            RX_FIFO_SIZE
        } else {
            1
        }
    }

    /// The RX FIFO trigger level selected by FCR[7:6].
    fn rx_trigger(&self) -> usize {
        match self.state.fcr >> 6 {
            0 => 1,
            1 => 4,
            2 => 8,
            _ => 14,
        }
    }

    /// The modem status lines (MSR bits 7:4) for a given MCR: the loopback mapping in loopback
    /// mode, otherwise an always-ready peer.
    fn modem_lines(mcr: u8) -> u8 {
        if mcr & MCR_LOOP == 0 {
            return MSR_LINES_IDLE;
        }
        let mut lines = 0;
        if mcr & MCR_RTS != 0 {
            lines |= MSR_CTS;
        }
        if mcr & MCR_DTR != 0 {
            lines |= MSR_DSR;
        }
        if mcr & MCR_OUT1 != 0 {
            lines |= MSR_RI;
        }
        if mcr & MCR_OUT2 != 0 {
            lines |= MSR_DCD;
        }
        lines
    }

    fn update_irq(&mut self) {
        let level = self.interrupt_id() != IIR_NO_INT;
        if level != self.state.irq_level {
            self.state.irq_level = level;
            self.irq.set(level);
        }
    }

    fn lsr(&self) -> u8 {
        let mut lsr = LSR_THRE | LSR_TEMT | self.state.lsr_errors;
        if !self.state.rx_fifo.is_empty() {
            lsr |= LSR_DR;
        }
        lsr
    }

    fn usr(&self) -> u32 {
        let mut usr = USR_TFNF | USR_TFE;
        let len = self.state.rx_fifo.len();
        if len > 0 {
            usr |= USR_RFNE;
        }
        if len >= self.rx_capacity() {
            usr |= USR_RFF;
        }
        usr
    }

    fn transmit(&mut self, byte: u8) {
        if self.loopback() {
            if self.state.rx_fifo.len() < self.rx_capacity() {
                self.state.rx_fifo.push_back(byte);
            } else {
                self.state.lsr_errors |= LSR_OE;
            }
        } else if let Err(e) = self.out.write_all(&[byte]) {
            log::warn!("uart: output error: {e}");
        }
        // The transmitter is infinitely fast: THR is empty again at once, which is a new
        // THR-empty event (this is what keeps Linux's `serial8250_tx_chars` going).
        self.state.thre_pending = true;
        self.state.input_polls = 0;
    }

    fn write_ier(&mut self, value: u8) {
        let value = value & IER_MASK;
        let changed = self.state.ier ^ value;
        self.state.ier = value;
        if changed & IER_ETBEI != 0 {
            // Enabling ETBEI while THR is empty raises THRE even if an IIR read had cleared it
            // (8250_port.c `serial8250_start_tx` and its `UART_BUG_THRE` test rely on this).
            self.state.thre_pending = value & IER_ETBEI != 0;
        }
    }

    fn write_fcr(&mut self, value: u8) {
        let was_enabled = self.fifo_enabled();
        let enable = value & FCR_ENABLE_FIFO != 0;
        if was_enabled != enable || value & FCR_CLEAR_RCVR != 0 {
            self.state.rx_fifo.clear();
        }
        // Bits other than FCR0 are only programmed while FCR0 is set (16550 datasheet).
        self.state.fcr = if enable {
            value & (FCR_ENABLE_FIFO | FCR_DMA_SELECT | FCR_TRIGGER_MASK)
        } else {
            0
        };
    }

    fn write_mcr(&mut self, value: u8) {
        let old = Self::modem_lines(self.state.mcr);
        self.state.mcr = value & MCR_MASK;
        let new = Self::modem_lines(self.state.mcr);
        let changed = old ^ new;
        let mut deltas = self.state.msr & MSR_ANY_DELTA;
        if changed & MSR_CTS != 0 {
            deltas |= MSR_DCTS;
        }
        if changed & MSR_DSR != 0 {
            deltas |= MSR_DDSR;
        }
        if old & MSR_RI != 0 && new & MSR_RI == 0 {
            deltas |= MSR_TERI;
        }
        if changed & MSR_DCD != 0 {
            deltas |= MSR_DDCD;
        }
        self.state.msr = new | deltas;
    }

    /// Reads an 8-bit 16550 register (index 0..=7), with its read side effects.
    fn read_reg(&mut self, index: u64) -> u8 {
        match index {
            REG_RBR_THR_DLL if self.dlab() => self.state.dll,
            REG_RBR_THR_DLL => self.state.rx_fifo.pop_front().unwrap_or(0),
            REG_IER_DLH if self.dlab() => self.state.dlh,
            REG_IER_DLH => self.state.ier,
            REG_IIR_FCR => {
                let id = self.interrupt_id();
                if id == IIR_THRI {
                    self.state.thre_pending = false;
                }
                let fifo = if self.fifo_enabled() {
                    IIR_FIFO_ENABLED
                } else {
                    0
                };
                id | fifo
            }
            REG_LCR => self.state.lcr,
            REG_MCR => self.state.mcr,
            REG_LSR => {
                let lsr = self.lsr();
                self.state.lsr_errors = 0;
                if lsr & LSR_DR == 0 {
                    self.state.input_polls = self.state.input_polls.saturating_add(1);
                }
                lsr
            }
            REG_MSR => {
                let msr = self.state.msr;
                self.state.msr &= !MSR_ANY_DELTA;
                msr
            }
            _ => self.state.scr,
        }
    }

    /// Writes an 8-bit 16550 register (index 0..=7).
    fn write_reg(&mut self, index: u64, value: u8) {
        match index {
            REG_RBR_THR_DLL if self.dlab() => self.state.dll = value,
            REG_RBR_THR_DLL => self.transmit(value),
            REG_IER_DLH if self.dlab() => self.state.dlh = value,
            REG_IER_DLH => self.write_ier(value),
            REG_IIR_FCR => self.write_fcr(value),
            REG_LCR => self.state.lcr = value,
            REG_MCR => self.write_mcr(value),
            // LSR and MSR are read-only (writes are a factory test mode on some parts).
            REG_LSR | REG_MSR => {}
            _ => self.state.scr = value,
        }
    }

    /// The VUART register at `index` (one of [`REG_GCRA`]..=[`REG_ADDRH`]).
    fn vuart_reg(&mut self, index: u64) -> &mut u8 {
        let v = &mut self.state.vuart;
        match index {
            REG_GCRA => &mut v.gcra,
            REG_GCRB => &mut v.gcrb,
            REG_ADDRL => &mut v.addrl,
            _ => &mut v.addrh,
        }
    }

    /// Splits an offset into register index and byte lane within the register's stride.
    fn decode(&self, offset: u64) -> (u64, u64) {
        let index = offset >> self.reg_shift;
        let lane = offset & ((1u64 << self.reg_shift) - 1);
        (index, lane)
    }

    fn read32(&mut self, offset: u64, size: u8) -> u64 {
        let (index, lane) = self.decode(offset);
        let value = match index {
            // 8-bit registers: only lane 0 holds data; the upper lanes read as zero.
            0..=7 if lane == 0 => u64::from(self.read_reg(index)),
            0..=7 => 0,
            REG_GCRA..=REG_ADDRH if self.variant == Variant::AspeedVuart => {
                if lane == 0 {
                    u64::from(*self.vuart_reg(index))
                } else {
                    0
                }
            }
            REG_USR if self.variant == Variant::DesignWare => subword(self.usr(), lane, size),
            REG_CPR if self.variant == Variant::DesignWare => subword(CPR_VALUE, lane, size),
            REG_UCV if self.variant == Variant::DesignWare => subword(UCV_VALUE, lane, size),
            REG_CTR if self.variant == Variant::DesignWare => subword(CTR_VALUE, lane, size),
            _ => {
                self.unimplemented.read(offset, size);
                0
            }
        };
        self.update_irq();
        value
    }

    fn write32(&mut self, offset: u64, size: u8, value: u64) {
        let (index, lane) = self.decode(offset);
        match index {
            0..=7 if lane == 0 => self.write_reg(index, value as u8),
            REG_GCRA..=REG_ADDRH if self.variant == Variant::AspeedVuart => {
                if lane == 0 {
                    *self.vuart_reg(index) = value as u8;
                }
            }
            // Upper lanes of an 8-bit register and the read-only DesignWare registers.
            0..=7 => {}
            REG_USR | REG_CPR | REG_UCV | REG_CTR if self.variant == Variant::DesignWare => {}
            _ => self.unimplemented.write(offset, size, value),
        }
        self.update_irq();
    }
}

impl<W: Write> Device for Uart<W> {
    fn read(&mut self, offset: u64, size: u8) -> u64 {
        bus::split_read(offset, size, |o, s| self.read32(o, s))
    }

    fn write(&mut self, offset: u64, size: u8, value: u64) {
        bus::split_write(offset, size, value, |o, s, v| self.write32(o, s, v));
    }

    fn reset(&mut self) {
        self.state = UartState {
            irq_level: self.state.irq_level,
            ..UartState::default()
        };
        self.update_irq();
    }

    /// The registers and the RX FIFO ([`UartState`]) with the variant; the output `W`, the
    /// interrupt line and the register stride are wiring.
    fn save_state(&self) -> Option<DeviceState> {
        let saved = SavedUart {
            variant: self.variant,
            state: self.state.clone(),
        };
        Some(DeviceState::new(STATE_KIND, STATE_VERSION, &saved))
    }

    /// Refuses the state of another variant or with more bytes in the RX FIFO than it holds;
    /// drives the interrupt line to the level the restored registers give.
    fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        let saved: SavedUart = state.decode(STATE_KIND, STATE_VERSION)?;
        if saved.variant != self.variant {
            return Err(StateError(format!(
                "uart: the state is of a {:?} UART, this one is a {:?}",
                saved.variant, self.variant
            )));
        }
        if saved.state.rx_fifo.len() > RX_FIFO_SIZE {
            return Err(StateError(format!(
                "uart: the state holds {} bytes in the RX FIFO, which holds {RX_FIFO_SIZE}",
                saved.state.rx_fifo.len()
            )));
        }
        self.state = saved.state;
        let level = self.interrupt_id() != IIR_NO_INT;
        self.state.irq_level = level;
        self.irq.set(level);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bus::LevelRecorder;
    use std::rc::Rc;

    const SHIFT: u8 = 2;

    #[test]
    fn polling_the_receiver_is_told_from_printing() {
        let (mut u, _) = uart();
        let lsr = REG_LSR << SHIFT;
        // Printing: an LSR read before each byte.
        for b in b"Hit any key" {
            u.read(lsr, 4);
            u.write(0, 4, u64::from(*b));
            assert!(!u.polled_for_input());
        }
        u.read(lsr, 4);
        assert!(
            !u.polled_for_input(),
            "one read after the last byte is still printing"
        );
        // Polling for a key: reads with no byte written between them.
        u.read(lsr, 4);
        assert!(u.polled_for_input());
        // A byte that arrives is not a poll; printing again ends it.
        u.enqueue_rx(b"x");
        u.read(lsr, 4);
        assert!(u.polled_for_input());
        u.write(0, 4, u64::from(b'x'));
        assert!(!u.polled_for_input());
    }

    fn uart() -> (Uart<Vec<u8>>, Rc<LevelRecorder>) {
        let rec = LevelRecorder::new();
        (Uart::new(Vec::new(), rec.line(0), SHIFT), rec)
    }

    fn rd(u: &mut Uart<Vec<u8>>, index: u64) -> u64 {
        u.read(index << SHIFT, 4)
    }

    fn wr(u: &mut Uart<Vec<u8>>, index: u64, value: u64) {
        u.write(index << SHIFT, 4, value)
    }

    #[test]
    fn reset_values_follow_the_16550() {
        let (mut u, rec) = uart();
        assert_eq!(rd(&mut u, REG_IER_DLH), 0);
        assert_eq!(rd(&mut u, REG_IIR_FCR), 0x01);
        assert_eq!(rd(&mut u, REG_LCR), 0);
        assert_eq!(rd(&mut u, REG_MCR), 0);
        assert_eq!(rd(&mut u, REG_LSR), 0x60);
        assert_eq!(rd(&mut u, REG_MSR), 0xB0, "CTS, DSR and DCD asserted");
        assert_eq!(rd(&mut u, REG_SCR), 0);
        assert_eq!(rd(&mut u, REG_USR), u64::from(USR_TFNF | USR_TFE));
        assert_eq!(u.read(0x7C, 4), 0x06, "USR at offset 0x7C, not busy");
        assert_eq!(u.read(0xF4, 4), 0, "CPR");
        assert_eq!(u.read(0xF8, 4), 0, "UCV");
        assert_eq!(u.read(0xFC, 4), 0x4457_0110, "CTR");
        assert!(!rec.level(0));
    }

    #[test]
    fn transmitted_bytes_reach_the_output() {
        let (mut u, _) = uart();
        for b in b"ok\n" {
            wr(&mut u, REG_RBR_THR_DLL, u64::from(*b));
        }
        u.write(0, 1, u64::from(b'!'));
        assert_eq!(u.output(), b"ok\n!");
        assert_eq!(
            rd(&mut u, REG_LSR) & 0x60,
            0x60,
            "THR and transmitter empty"
        );
    }

    #[test]
    fn divisor_latch_is_behind_dlab() {
        let (mut u, _) = uart();
        wr(&mut u, REG_LCR, 0x83);
        wr(&mut u, REG_RBR_THR_DLL, 0x0D);
        wr(&mut u, REG_IER_DLH, 0x01);
        assert_eq!(rd(&mut u, REG_RBR_THR_DLL), 0x0D);
        assert_eq!(rd(&mut u, REG_IER_DLH), 0x01);
        assert_eq!(
            rd(&mut u, REG_LCR),
            0x83,
            "LCR reads back (dw8250_check_lcr)"
        );
        wr(&mut u, REG_LCR, 0x03);
        assert_eq!(rd(&mut u, REG_IER_DLH), 0, "IER untouched");
        assert!(u.output().is_empty(), "DLL writes are not transmitted");
        assert_eq!(u.state().dll, 0x0D);
        assert_eq!(u.state().dlh, 0x01);
    }

    #[test]
    fn ier_keeps_only_the_16550_bits() {
        let (mut u, _) = uart();
        wr(&mut u, REG_IER_DLH, 0xFF);
        assert_eq!(rd(&mut u, REG_IER_DLH), 0x0F);
        wr(&mut u, REG_IER_DLH, 0x40);
        assert_eq!(rd(&mut u, REG_IER_DLH), 0, "no XScale UUE bit");
    }

    #[test]
    fn rx_fifo_holds_16_bytes_and_applies_back_pressure() {
        let (mut u, _) = uart();
        assert_eq!(u.rx_space(), 1, "FIFOs disabled: a single holding register");
        assert_eq!(u.enqueue_rx(b"ab"), 1);
        assert_eq!(u.enqueue_rx(b"b"), 0);
        assert_eq!(rd(&mut u, REG_RBR_THR_DLL), u64::from(b'a'));
        wr(&mut u, REG_IIR_FCR, 0x07);
        assert_eq!(u.rx_space(), 16);
        let data: Vec<u8> = (0..20).collect();
        assert_eq!(u.enqueue_rx(&data), 16);
        assert_eq!(u.rx_space(), 0);
        assert_eq!(
            rd(&mut u, REG_USR),
            u64::from(USR_TFNF | USR_TFE | USR_RFNE | USR_RFF)
        );
        assert_eq!(rd(&mut u, REG_LSR) & 0x03, 0x01, "DR set, no overrun");
        for i in 0..16 {
            assert_eq!(rd(&mut u, REG_RBR_THR_DLL), i);
        }
        assert_eq!(rd(&mut u, REG_LSR) & 0x01, 0);
        assert_eq!(rd(&mut u, REG_USR), u64::from(USR_TFNF | USR_TFE));
    }

    #[test]
    fn fifo_reset_and_fifo_toggle_clear_the_rx_fifo() {
        let (mut u, _) = uart();
        wr(&mut u, REG_IIR_FCR, 0x01);
        u.enqueue_rx(b"abc");
        wr(&mut u, REG_IIR_FCR, 0x01 | 0x02);
        assert_eq!(rd(&mut u, REG_LSR) & 0x01, 0, "RX FIFO reset");
        u.enqueue_rx(b"abc");
        wr(&mut u, REG_IIR_FCR, 0x00);
        assert_eq!(
            rd(&mut u, REG_LSR) & 0x01,
            0,
            "disabling the FIFOs clears them"
        );
        assert_eq!(rd(&mut u, REG_IIR_FCR), 0x01, "IIR FIFO bits clear");
        wr(&mut u, REG_IIR_FCR, 0x01);
        assert_eq!(rd(&mut u, REG_IIR_FCR), 0xC1, "IIR FIFO bits 0xC0");
    }

    #[test]
    fn rx_interrupt_is_timeout_below_trigger_and_data_available_at_trigger() {
        let (mut u, rec) = uart();
        wr(&mut u, REG_IIR_FCR, 0x41); // FIFO on, trigger 4
        wr(&mut u, REG_IER_DLH, u64::from(IER_ERBFI));
        assert!(!rec.level(0));
        u.enqueue_rx(b"ab");
        assert!(rec.level(0));
        assert_eq!(rd(&mut u, REG_IIR_FCR), 0xCC, "character timeout");
        u.enqueue_rx(b"cd");
        assert_eq!(rd(&mut u, REG_IIR_FCR), 0xC4, "trigger level reached");
        assert!(rec.level(0), "reading IIR does not clear RX interrupts");
        for _ in 0..3 {
            rd(&mut u, REG_RBR_THR_DLL);
        }
        assert_eq!(rd(&mut u, REG_IIR_FCR), 0xCC);
        rd(&mut u, REG_RBR_THR_DLL);
        assert_eq!(rd(&mut u, REG_IIR_FCR), 0xC1);
        assert!(!rec.level(0));
    }

    #[test]
    fn rx_interrupt_without_fifo_is_data_available() {
        let (mut u, rec) = uart();
        wr(&mut u, REG_IER_DLH, u64::from(IER_ERBFI));
        u.enqueue_rx(b"x");
        assert_eq!(rd(&mut u, REG_IIR_FCR), 0x04);
        assert!(rec.level(0));
        rd(&mut u, REG_RBR_THR_DLL);
        assert!(!rec.level(0));
    }

    #[test]
    fn thre_interrupt_follows_linux_expectations() {
        let (mut u, rec) = uart();
        wr(&mut u, REG_IIR_FCR, 0x01);
        // serial8250_do_startup's UART_BUG_THRE test.
        wr(&mut u, REG_IER_DLH, u64::from(IER_ETBEI));
        assert!(rec.level(0));
        let iir1 = rd(&mut u, REG_IIR_FCR);
        assert_eq!(iir1, 0xC2);
        assert!(!rec.level(0), "reading IIR cleared THRE");
        assert_eq!(rd(&mut u, REG_IIR_FCR), 0xC1);
        wr(&mut u, REG_IER_DLH, 0);
        wr(&mut u, REG_IER_DLH, u64::from(IER_ETBEI));
        let iir = rd(&mut u, REG_IIR_FCR);
        assert_eq!(iir, 0xC2, "THRE re-raised when ETBEI is re-enabled");
        assert_eq!(iir & u64::from(IIR_NO_INT), 0, "no UART_BUG_THRE");
        // Writing THR: the byte leaves at once and THR is empty again: a new THRE event.
        assert!(!rec.level(0));
        wr(&mut u, REG_RBR_THR_DLL, u64::from(b'x'));
        assert!(rec.level(0));
        assert_eq!(rd(&mut u, REG_IIR_FCR), 0xC2);
        // Rewriting IER with ETBEI still set does not re-raise.
        wr(&mut u, REG_IER_DLH, u64::from(IER_ETBEI | IER_ERBFI));
        assert_eq!(rd(&mut u, REG_IIR_FCR), 0xC1);
        // Disabling ETBEI drops a pending THRE.
        wr(&mut u, REG_RBR_THR_DLL, u64::from(b'y'));
        assert!(rec.level(0));
        wr(&mut u, REG_IER_DLH, u64::from(IER_ERBFI));
        assert!(!rec.level(0));
    }

    #[test]
    fn loopback_passes_autoconfig_and_echoes_bytes() {
        let (mut u, _) = uart();
        // autoconfig(): MCR = LOOP | OUT2 | RTS, then MSR & 0xF0 must be DCD | CTS.
        wr(&mut u, REG_MCR, u64::from(MCR_LOOP | MCR_OUT2 | MCR_RTS));
        assert_eq!(rd(&mut u, REG_MSR) & 0xF0, 0x90);
        wr(&mut u, REG_MCR, u64::from(MCR_LOOP | MCR_DTR | MCR_OUT1));
        assert_eq!(rd(&mut u, REG_MSR) & 0xF0, u64::from(MSR_DSR | MSR_RI));
        assert_eq!(u.rx_space(), 0, "serial input disconnected in loopback");
        assert_eq!(u.enqueue_rx(b"z"), 0);
        wr(&mut u, REG_RBR_THR_DLL, 0x5A);
        assert!(u.output().is_empty(), "loopback does not transmit");
        assert_eq!(rd(&mut u, REG_LSR) & 0x01, 0x01);
        assert_eq!(rd(&mut u, REG_RBR_THR_DLL), 0x5A);
        wr(&mut u, REG_MCR, 0);
        assert_eq!(rd(&mut u, REG_MSR) & 0xF0, 0xB0);
        wr(&mut u, REG_RBR_THR_DLL, 0x41);
        assert_eq!(u.output(), b"A");
    }

    #[test]
    fn loopback_overrun_sets_oe_and_raises_line_status_first() {
        let (mut u, rec) = uart();
        wr(&mut u, REG_MCR, u64::from(MCR_LOOP));
        rd(&mut u, REG_MSR);
        wr(
            &mut u,
            REG_IER_DLH,
            u64::from(IER_ERBFI | IER_ELSI | IER_ETBEI),
        );
        wr(&mut u, REG_RBR_THR_DLL, 1);
        wr(&mut u, REG_RBR_THR_DLL, 2); // holding register full: overrun
        assert!(rec.level(0));
        assert_eq!(rd(&mut u, REG_IIR_FCR), u64::from(IIR_RLSI));
        let lsr = rd(&mut u, REG_LSR);
        assert_eq!(lsr & 0x03, 0x03, "DR and OE");
        assert_eq!(rd(&mut u, REG_LSR) & 0x02, 0, "reading LSR clears OE");
        assert_eq!(rd(&mut u, REG_IIR_FCR), u64::from(IIR_RDI), "then RX data");
        assert_eq!(rd(&mut u, REG_RBR_THR_DLL), 1);
        assert_eq!(rd(&mut u, REG_IIR_FCR), u64::from(IIR_THRI), "then THRE");
        assert_eq!(rd(&mut u, REG_IIR_FCR), u64::from(IIR_NO_INT));
        assert!(!rec.level(0));
    }

    #[test]
    fn modem_status_deltas_raise_the_lowest_priority_interrupt() {
        let (mut u, rec) = uart();
        wr(&mut u, REG_IER_DLH, u64::from(IER_EDSSI));
        assert!(!rec.level(0), "no deltas at reset");
        wr(&mut u, REG_MCR, u64::from(MCR_LOOP)); // CTS, DSR, DCD all drop
        assert!(rec.level(0));
        assert_eq!(rd(&mut u, REG_IIR_FCR), u64::from(IIR_MSI));
        assert_eq!(
            rd(&mut u, REG_MSR),
            u64::from(MSR_DCTS | MSR_DDSR | MSR_DDCD)
        );
        assert!(!rec.level(0), "reading MSR clears the deltas");
        wr(&mut u, REG_MCR, u64::from(MCR_LOOP | MCR_OUT1));
        assert_eq!(
            rd(&mut u, REG_MSR),
            u64::from(MSR_RI),
            "RI rising is no delta"
        );
        wr(&mut u, REG_MCR, u64::from(MCR_LOOP));
        assert_eq!(
            rd(&mut u, REG_MSR),
            u64::from(MSR_TERI),
            "trailing edge of RI"
        );
    }

    #[test]
    fn iir_never_reports_busy_and_lcr_always_reads_back() {
        let (mut u, _) = uart();
        wr(&mut u, REG_IIR_FCR, 0x07);
        wr(&mut u, REG_IER_DLH, 0x0F);
        for lcr in [0x03u64, 0x83, 0xBF, 0x1B] {
            u.enqueue_rx(b"q");
            wr(&mut u, REG_LCR, lcr);
            assert_eq!(rd(&mut u, REG_LCR), lcr);
            assert_ne!(rd(&mut u, REG_IIR_FCR) & 0x0F, u64::from(IIR_BUSY));
            assert_eq!(rd(&mut u, REG_USR) & u64::from(USR_BUSY), 0);
        }
    }

    #[test]
    fn scratch_register_and_upper_byte_lanes() {
        let (mut u, _) = uart();
        wr(&mut u, REG_SCR, 0x1234_56A5);
        assert_eq!(rd(&mut u, REG_SCR), 0xA5, "8-bit register in a 32-bit slot");
        u.write((REG_SCR << SHIFT) + 1, 1, 0xFF);
        assert_eq!(
            rd(&mut u, REG_SCR),
            0xA5,
            "upper lanes are not the register"
        );
        assert_eq!(u.read((REG_SCR << SHIFT) + 1, 1), 0);
        assert_eq!(u.read(0x7D, 1), 0, "USR upper byte");
        assert_eq!(u.read(0xFE, 2), 0x4457, "CTR upper half");
    }

    #[test]
    fn unknown_registers_read_zero_and_are_logged() {
        let (mut u, _) = uart();
        assert_eq!(u.read(0xC0, 4), 0, "DLF");
        u.write(0xB4, 4, 1); // RE_EN probe from dw8250_detect_rs485_hw
        assert_eq!(u.read(0xB4, 4), 0, "no RS-485 hardware");
        assert_eq!(u.unimplemented.reported(), 3);
    }

    #[test]
    fn every_offset_and_width_is_accepted() {
        let (mut u, _) = uart();
        for offset in (0..0x110u64).chain([u64::MAX - 3, u64::MAX]) {
            for size in [1u8, 2, 4, 8] {
                u.read(offset, size);
                u.write(offset, size, 0);
            }
        }
        let mut u = Uart::new(Vec::new(), IrqLine::disconnected(), 200);
        u.write(u64::MAX, 8, u64::MAX);
        u.read(u64::MAX, 8);
    }

    #[test]
    fn eight_byte_access_covers_two_registers() {
        let (mut u, _) = uart();
        u.write(REG_LCR << SHIFT, 8, 0x0000_0003_0000_0003);
        assert_eq!(rd(&mut u, REG_LCR), 3);
        assert_eq!(rd(&mut u, REG_MCR), 3);
        assert_eq!(u.read(REG_LCR << SHIFT, 8), 0x0000_0003_0000_0003);
    }

    #[test]
    fn reset_lowers_the_line_and_restores_defaults() {
        let (mut u, rec) = uart();
        wr(&mut u, REG_IER_DLH, u64::from(IER_ETBEI));
        wr(&mut u, REG_LCR, 0x03);
        assert!(rec.level(0));
        u.reset();
        assert!(!rec.level(0));
        assert_eq!(u.state(), UartState::default());
    }

    #[test]
    fn state_round_trips() {
        let (mut u, _) = uart();
        wr(&mut u, REG_IIR_FCR, 0x81);
        wr(&mut u, REG_IER_DLH, 0x05);
        wr(&mut u, REG_SCR, 0x77);
        u.enqueue_rx(b"hello");
        let s = u.state();
        let rec = LevelRecorder::new();
        let mut v = Uart::from_state(&s, Vec::new(), rec.line(1), SHIFT);
        assert!(rec.level(1), "pending interrupt raised on restore");
        assert_eq!(v.state(), s);
        assert_eq!(rd(&mut v, REG_IIR_FCR), 0xCC);
        assert_eq!(rd(&mut v, REG_RBR_THR_DLL), u64::from(b'h'));
    }

    fn vuart() -> (Uart<Vec<u8>>, Rc<LevelRecorder>) {
        let rec = LevelRecorder::new();
        let u = Uart::new(Vec::new(), rec.line(0), SHIFT).with_variant(Variant::AspeedVuart);
        (u, rec)
    }

    /// `readb`/`writeb` at a VUART register's byte offset, as the driver's helpers do.
    fn vrd(u: &mut Uart<Vec<u8>>, index: u64) -> u8 {
        u.read(index << SHIFT, 1) as u8
    }

    fn vwr(u: &mut Uart<Vec<u8>>, index: u64, value: u8) {
        u.write(index << SHIFT, 1, u64::from(value))
    }

    #[test]
    fn vuart_registers_sit_after_the_16550_ones() {
        assert_eq!(REG_GCRA << SHIFT, 0x20);
        assert_eq!(REG_GCRB << SHIFT, 0x24);
        assert_eq!(REG_ADDRL << SHIFT, 0x28);
        assert_eq!(REG_ADDRH << SHIFT, 0x2C);
        assert_eq!(REG_ADDRH << SHIFT, VUART_REGS_SIZE - 0x14);
        let (mut u, _) = vuart();
        for index in [REG_GCRA, REG_GCRB, REG_ADDRL, REG_ADDRH] {
            assert_eq!(vrd(&mut u, index), 0, "reset value");
            vwr(&mut u, index, 0xA5);
            assert_eq!(vrd(&mut u, index), 0xA5, "plain byte register");
            assert_eq!(u.read((index << SHIFT) + 1, 1), 0, "upper lanes");
        }
        assert_eq!(u.variant(), Variant::AspeedVuart);
        assert_eq!(u.read(0x7C, 4), 0, "no DesignWare USR");
        assert_eq!(u.read(0xFC, 4), 0, "no DesignWare CTR");
        u.reset();
        assert_eq!(u.state().vuart, VuartRegs::default());
        // A DesignWare UART has nothing at 0x20..0x2C.
        let (mut d, _) = uart();
        d.write(0x20, 1, 0xA5);
        assert_eq!(d.read(0x20, 1), 0);
    }

    #[test]
    fn vuart_probe_and_open_follow_the_driver() {
        let (mut u, rec) = vuart();
        // aspeed_vuart_probe: LPC address 0x3f8 (ADDRH first), SIRQ 4, polarity low.
        vwr(&mut u, REG_ADDRH, 0x03);
        vwr(&mut u, REG_ADDRL, 0xF8);
        let gcrb = vrd(&mut u, REG_GCRB) & !GCRB_HOST_SIRQ_MASK;
        vwr(&mut u, REG_GCRB, gcrb | 4 << 4);
        let gcra = vrd(&mut u, REG_GCRA) & !GCRA_HOST_SIRQ_POLARITY;
        vwr(&mut u, REG_GCRA, gcra);
        let gcra = vrd(&mut u, REG_GCRA);
        vwr(&mut u, REG_GCRA, gcra | GCRA_VUART_EN);
        let gcra = vrd(&mut u, REG_GCRA);
        vwr(&mut u, REG_GCRA, gcra & !GCRA_DISABLE_HOST_TX_DISCARD);
        let regs = u.state().vuart;
        assert_eq!(regs.lpc_address(), 0x3F8);
        assert_eq!(regs.sirq(), 4);
        assert_eq!(regs.gcra, GCRA_VUART_EN);
        // Nobody has the port open: the host's bytes are discarded, not held back.
        assert!(u.discarding());
        assert_eq!(u.rx_space(), RX_FIFO_SIZE);
        assert_eq!(u.enqueue_rx(b"lost"), 4);
        assert_eq!(u.state().discarded, 4);
        assert_eq!(vrd(&mut u, REG_LSR) & LSR_DR, 0);
        // aspeed_vuart_startup: serial8250_do_startup, then host TX discard off.
        vwr(&mut u, REG_IIR_FCR, FCR_ENABLE_FIFO);
        vwr(
            &mut u,
            REG_IIR_FCR,
            FCR_ENABLE_FIFO | FCR_CLEAR_RCVR | FCR_CLEAR_XMIT,
        );
        vwr(&mut u, REG_IIR_FCR, 0);
        vwr(&mut u, REG_IER_DLH, 0);
        vrd(&mut u, REG_LSR);
        vrd(&mut u, REG_RBR_THR_DLL);
        vrd(&mut u, REG_IIR_FCR);
        vrd(&mut u, REG_MSR);
        vwr(&mut u, REG_LCR, 0x03);
        vwr(&mut u, REG_MCR, MCR_DTR | MCR_RTS | MCR_OUT2);
        vwr(&mut u, REG_IIR_FCR, FCR_ENABLE_FIFO);
        vwr(&mut u, REG_IER_DLH, IER_ERBFI | IER_ELSI);
        let gcra = vrd(&mut u, REG_GCRA);
        vwr(&mut u, REG_GCRA, gcra | GCRA_DISABLE_HOST_TX_DISCARD);
        assert!(!u.discarding());
        assert_eq!(u.enqueue_rx(b"hi\n"), 3);
        assert!(rec.level(0), "RX interrupt");
        assert_eq!(vrd(&mut u, REG_IIR_FCR), 0xC0 | IIR_RDI, "trigger level 1");
        let got: Vec<u8> = (0..3).map(|_| vrd(&mut u, REG_RBR_THR_DLL)).collect();
        assert_eq!(got, b"hi\n");
        assert!(!rec.level(0));
        vwr(&mut u, REG_RBR_THR_DLL, b'x');
        assert_eq!(u.output(), b"x", "the BMC's bytes reach the host side");
        // aspeed_vuart_shutdown: host TX discard on again.
        let gcra = vrd(&mut u, REG_GCRA);
        vwr(&mut u, REG_GCRA, gcra & !GCRA_DISABLE_HOST_TX_DISCARD);
        assert!(u.discarding());
        assert_eq!(u.enqueue_rx(b"zz"), 2);
        assert_eq!(vrd(&mut u, REG_LSR) & LSR_DR, 0);
        // aspeed_vuart_remove: disabled; discard off alone does not receive.
        vwr(&mut u, REG_GCRA, GCRA_DISABLE_HOST_TX_DISCARD);
        assert!(u.discarding(), "disabled");
        assert!(!uart().0.discarding(), "a DesignWare UART never discards");
    }

    /// A UART a driver has set up and left busy: divisor latched, FIFOs on at trigger level 4,
    /// every interrupt enabled, an overrun latched by a loopback test, three bytes left in the
    /// RX FIFO, modem status deltas and a THR-empty event pending.
    fn busy_uart() -> (Uart<Vec<u8>>, Rc<LevelRecorder>) {
        let (mut u, rec) = uart();
        wr(&mut u, REG_LCR, u64::from(LCR_DLAB | 0x03));
        wr(&mut u, REG_RBR_THR_DLL, 0x0D);
        wr(&mut u, REG_IER_DLH, 0x01);
        wr(&mut u, REG_LCR, 0x03);
        wr(&mut u, REG_IIR_FCR, u64::from(FCR_ENABLE_FIFO | 0x40));
        wr(&mut u, REG_MCR, u64::from(MCR_LOOP));
        for b in 0..=RX_FIFO_SIZE as u64 {
            wr(&mut u, REG_RBR_THR_DLL, 0x30 + b);
        }
        for _ in 0..RX_FIFO_SIZE - 3 {
            rd(&mut u, REG_RBR_THR_DLL);
        }
        wr(&mut u, REG_MCR, u64::from(MCR_DTR | MCR_RTS | MCR_OUT2));
        wr(&mut u, REG_IER_DLH, u64::from(IER_MASK));
        wr(&mut u, REG_SCR, 0x5A);
        assert!(rec.level(0), "line status interrupt pending");
        (u, rec)
    }

    /// Reads every register in an order whose side effects walk down the interrupt priorities.
    fn drain_registers(u: &mut Uart<Vec<u8>>) -> Vec<u64> {
        let plain = [REG_LCR, REG_MCR, REG_IER_DLH, REG_SCR, REG_USR];
        let walk = [
            REG_IIR_FCR,
            REG_LSR,
            REG_IIR_FCR,
            REG_RBR_THR_DLL,
            REG_RBR_THR_DLL,
            REG_RBR_THR_DLL,
            REG_IIR_FCR,
            REG_IIR_FCR,
            REG_MSR,
            REG_IIR_FCR,
        ];
        plain.iter().chain(&walk).map(|&i| rd(u, i)).collect()
    }

    #[test]
    fn saved_state_restores_registers_fifo_and_interrupt() {
        let (mut u, rec) = busy_uart();
        let saved = u.save_state().expect("a UART saves its state");
        assert_eq!(
            (saved.kind.as_str(), saved.version),
            (STATE_KIND, STATE_VERSION)
        );
        let rec2 = LevelRecorder::new();
        let mut v = Uart::new(Vec::new(), rec2.line(0), SHIFT);
        v.load_state(&saved).unwrap();
        assert!(
            rec2.level(0),
            "the restored UART raises its pending interrupt"
        );
        assert_eq!(
            v.save_state(),
            Some(saved),
            "saving the restored UART gives the same state"
        );
        assert_eq!(v.state(), u.state());

        let original = drain_registers(&mut u);
        assert_eq!(original[5], u64::from(IIR_FIFO_ENABLED | IIR_RLSI));
        assert_eq!(original[8..11], [0x30 + 13, 0x30 + 14, 0x30 + 15]);
        assert_eq!(drain_registers(&mut v), original);
        assert!(
            !rec.level(0) && !rec2.level(0),
            "every interrupt acknowledged"
        );

        // Afterwards both behave alike: the same FIFO room, trigger level and interrupt.
        assert_eq!(u.enqueue_rx(b"0123456789"), v.enqueue_rx(b"0123456789"));
        assert_eq!(rd(&mut u, REG_IIR_FCR), rd(&mut v, REG_IIR_FCR));
        assert!(rec.level(0) && rec2.level(0));
        wr(&mut v, REG_RBR_THR_DLL, u64::from(b'k'));
        assert_eq!(
            v.output(),
            b"k",
            "the restored UART transmits into its own output"
        );
    }

    #[test]
    fn a_state_of_another_kind_version_or_variant_is_refused() {
        let (busy, _) = busy_uart();
        let saved = busy.save_state().unwrap();
        let (mut u, rec) = uart();
        wr(&mut u, REG_SCR, 0x11);
        let before = u.state();
        let changes = rec.changes();
        let wrong_kind = DeviceState {
            kind: "aspeed-wdt".into(),
            ..saved.clone()
        };
        let wrong_version = DeviceState {
            version: STATE_VERSION + 1,
            ..saved.clone()
        };
        for bad in [&wrong_kind, &wrong_version] {
            assert!(u.load_state(bad).is_err());
            assert_eq!(u.state(), before, "left unchanged");
            assert_eq!(rec.changes(), changes, "the line is not touched");
        }
        let (vuart, _) = vuart();
        let e = u.load_state(&vuart.save_state().unwrap()).unwrap_err();
        assert!(e.0.contains("AspeedVuart"), "{e}");
        assert_eq!(u.state(), before);
        let mut overfull = saved;
        overfull.data["state"]["rx_fifo"] = (0..17).collect::<Vec<u8>>().into();
        assert!(u.load_state(&overfull).unwrap_err().0.contains("RX FIFO"));
        assert_eq!(u.state(), before);
    }

    #[test]
    fn a_vuart_state_restores_its_vuart_registers() {
        let (mut u, rec) = vuart();
        vwr(&mut u, REG_ADDRH, 0x03);
        vwr(&mut u, REG_ADDRL, 0xF8);
        vwr(&mut u, REG_GCRB, 4 << 4);
        vwr(
            &mut u,
            REG_GCRA,
            GCRA_VUART_EN | GCRA_DISABLE_HOST_TX_DISCARD,
        );
        vwr(&mut u, REG_IER_DLH, IER_ERBFI);
        u.enqueue_rx(b"x");
        assert!(rec.level(0));
        let saved = u.save_state().unwrap();
        let (mut v, rec2) = vuart();
        v.load_state(&saved).unwrap();
        assert!(rec2.level(0));
        for index in [REG_GCRA, REG_GCRB, REG_ADDRL, REG_ADDRH, REG_IIR_FCR] {
            assert_eq!(vrd(&mut v, index), vrd(&mut u, index), "register {index}");
        }
        assert_eq!(v.discarding(), u.discarding());
        assert_eq!(v.save_state(), Some(saved));
        assert_eq!(vrd(&mut v, REG_RBR_THR_DLL), b'x');
        assert_eq!(vrd(&mut u, REG_RBR_THR_DLL), b'x');
        assert!(!rec.level(0) && !rec2.level(0));
    }
}
