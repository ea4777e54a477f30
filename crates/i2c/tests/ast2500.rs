//! The AST2500's I2C controller put together as the SoC does (global block, 14 buses at their
//! AST2500 offsets behind one shared interrupt line, the 256-byte pool, all on one MMIO bus at
//! 0x1E78_A000), then driven the way Linux 6.1's `i2c-aspeed` + `irq-aspeed-i2c-ic` and u-boot
//! 2023.01's `ast_i2c` program it.

use std::cell::RefCell;
use std::rc::Rc;

use bus::{Bus, LevelRecorder, SharedIrq};
use i2c::*;

/// The controller's base (aspeed-g5.dtsi `i2c: bus@1e78a000`).
const BASE: u64 = 0x1E78_A000;
/// Its VIC interrupt (aspeed-g5.dtsi `i2c_ic: interrupts = <12>`).
const VIC_I2C: u32 = 12;

/// A register-file target (an LM75 or a 24C02 seen from the bus): the first byte written sets
/// the pointer, further bytes are stored at it, reads return bytes from it; both move it on.
struct RegisterTarget {
    regs: [u8; 256],
    pointer: u8,
    first: bool,
    events: Vec<String>,
}

impl RegisterTarget {
    fn new() -> Rc<RefCell<Self>> {
        let mut regs = [0u8; 256];
        for (i, r) in regs.iter_mut().enumerate() {
            *r = (i as u8).wrapping_mul(3) ^ 0x5A;
        }
        Rc::new(RefCell::new(Self {
            regs,
            pointer: 0,
            first: false,
            events: vec![],
        }))
    }
}

impl I2cTarget for RegisterTarget {
    fn start(&mut self, read: bool) -> bool {
        self.events
            .push(if read { "start-read" } else { "start-write" }.into());
        self.first = !read;
        true
    }
    fn write(&mut self, byte: u8) -> bool {
        self.events.push(format!("write {byte:#04x}"));
        if self.first {
            self.pointer = byte;
            self.first = false;
        } else {
            self.regs[usize::from(self.pointer)] = byte;
            self.pointer = self.pointer.wrapping_add(1);
        }
        true
    }
    fn read(&mut self) -> u8 {
        let b = self.regs[usize::from(self.pointer)];
        self.pointer = self.pointer.wrapping_add(1);
        self.events.push(format!("read {b:#04x}"));
        b
    }
    fn stop(&mut self) {
        self.events.push("stop".into());
    }
}

struct Soc {
    mmio: Bus,
    rec: Rc<LevelRecorder>,
    buses: Vec<Rc<RefCell<AspeedI2cBus>>>,
}

impl Soc {
    /// The AST2500 controller as `aspeed_soc_ast2500` wires it.
    fn new() -> Self {
        let v = Variant::Ast2500;
        let rec = LevelRecorder::new();
        let line = SharedIrq::new(rec.line(VIC_I2C));
        let pool = AspeedI2cPool::new().with_variant(v);
        let mut mmio = Bus::new();
        let mut buses = vec![];
        for n in 0..v.bus_count() {
            let mut b = AspeedI2cBus::new(&format!("i2c{n}"), line.input(n as u32)).with_variant(v);
            b.connect_pool(pool.memory(), n);
            let b = Rc::new(RefCell::new(b));
            mmio.insert(
                BASE + v.bus_block_offset(n),
                v.bus_block_size(),
                &format!("i2c{n}"),
                b.clone(),
            )
            .expect("bus blocks do not overlap");
            buses.push(b);
        }
        let global = AspeedI2cGlobal::new(buses.iter().map(|b| b.borrow().irq_status()).collect())
            .with_variant(v);
        for b in &buses {
            b.borrow_mut().connect_global(global.control());
        }
        mmio.insert(
            BASE,
            v.global_block_size(),
            "i2c-global",
            Rc::new(RefCell::new(global)),
        )
        .expect("the global block overlaps nothing");
        mmio.insert(
            BASE + v.pool_offset(),
            v.pool_size() as u64,
            "i2c-pool",
            Rc::new(RefCell::new(pool)),
        )
        .expect("the pool overlaps nothing");
        Self { mmio, rec, buses }
    }

    fn readl(&self, addr: u64) -> u32 {
        self.mmio.read(addr, 4).expect("mapped") as u32
    }

    fn writel(&self, value: u32, addr: u64) {
        assert!(
            self.mmio.write(addr, 4, u64::from(value)),
            "{addr:#x} mapped"
        );
    }

    fn line(&self) -> bool {
        self.rec.level(VIC_I2C)
    }
}

// ---- Linux 6.1 i2c-aspeed on one bus ----

/// `ASPEED_I2CD_INTR_ALL`.
const INTR_ALL: u32 = 0x607F;
/// `ASPEED_I2CD_INTR_RECV_MASK`.
const INTR_RECV_MASK: u32 = 0xF000_FFFF;
/// `ASPEED_I2CD_INTR_MASTER_ERRORS`.
const MASTER_ERRORS: u32 = INTR_SDA_DL_TIMEOUT | INTR_SCL_TIMEOUT | INTR_ABNORMAL | INTR_ARBIT_LOSS;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MasterState {
    Inactive,
    Start,
    TxFirst,
    Tx,
    RxFirst,
    Rx,
    Stop,
}

struct Msg {
    addr: u8,
    read: bool,
    buf: Vec<u8>,
    len: usize,
}

/// The driver's `struct aspeed_i2c_bus` for bus `n`.
struct LinuxBus {
    n: usize,
    base: u64,
    state: MasterState,
    msgs: Vec<Msg>,
    msgs_index: usize,
    buf_index: usize,
    cmd_err: Option<&'static str>,
    complete: bool,
}

impl LinuxBus {
    fn new(n: usize) -> Self {
        Self {
            n,
            base: BASE + Variant::Ast2500.bus_block_offset(n),
            state: MasterState::Inactive,
            msgs: vec![],
            msgs_index: 0,
            buf_index: 0,
            cmd_err: None,
            complete: false,
        }
    }

    /// `aspeed_i2c_probe_bus` + `aspeed_i2c_init` for `aspeed,ast2500-i2c-bus` with
    /// `bus-frequency = <100000>` and APB at 24.75 MHz.
    fn probe(&self, soc: &Soc) {
        soc.writel(0, self.base + REG_INTR_CTRL);
        soc.writel(0xFFFF_FFFF, self.base + REG_INTR_STS);
        soc.writel(0, self.base + REG_FUN_CTRL);
        // aspeed_i2c_init_clk: keep tBUF/tHDSTA/tACST, aspeed_i2c_25xx_get_clk_reg_val(248):
        // base divisor 3, SCL high 15, low 14.
        let mut clk = soc.readl(self.base + REG_AC_TIMING1);
        clk &= 0xFFF0_0000;
        clk |= (15 << 16) | (14 << 12) | 3;
        soc.writel(clk, self.base + REG_AC_TIMING1);
        soc.writel(0, self.base + REG_AC_TIMING2);
        let fun = soc.readl(self.base + REG_FUN_CTRL);
        soc.writel(
            fun | FUN_MASTER_EN | FUN_MULTI_MASTER_DIS,
            self.base + REG_FUN_CTRL,
        );
        soc.writel(INTR_ALL, self.base + REG_INTR_CTRL);
    }

    fn do_start(&mut self, soc: &Soc) {
        let msg = &self.msgs[self.msgs_index];
        let mut command = CMD_M_START | CMD_M_TX;
        self.state = MasterState::Start;
        self.buf_index = 0;
        if msg.read {
            command |= CMD_M_RX;
            if msg.len == 1 {
                command |= CMD_M_RX_LAST;
            }
        }
        let addr = (msg.addr << 1) | u8::from(msg.read);
        soc.writel(u32::from(addr), self.base + REG_BYTE_BUF);
        soc.writel(command, self.base + REG_CMD);
    }

    fn do_stop(&mut self, soc: &Soc) {
        self.state = MasterState::Stop;
        soc.writel(CMD_M_STOP, self.base + REG_CMD);
    }

    fn next_msg_or_stop(&mut self, soc: &Soc) {
        if self.msgs_index + 1 < self.msgs.len() {
            self.msgs_index += 1;
            self.do_start(soc);
        } else {
            self.do_stop(soc);
        }
    }

    /// `aspeed_i2c_master_irq`.
    fn master_irq(&mut self, soc: &Soc, status: u32) {
        if status & INTR_BUS_RECOVER_DONE != 0 {
            self.state = MasterState::Inactive;
            self.complete = true;
            return;
        }
        if status & MASTER_ERRORS != 0 && self.state != MasterState::Inactive {
            self.cmd_err = Some("error interrupt");
            self.state = MasterState::Inactive;
            self.complete = true;
            return;
        }
        if self.state == MasterState::Start {
            if status & INTR_TX_ACK == 0 {
                self.cmd_err = Some("ENXIO");
                if status & INTR_TX_NAK == 0 {
                    self.state = MasterState::Inactive;
                    self.complete = true;
                } else {
                    self.do_stop(soc);
                }
                return;
            }
            let msg = &self.msgs[self.msgs_index];
            if msg.len == 0 {
                self.do_stop(soc);
                return;
            }
            self.state = if msg.read {
                MasterState::RxFirst
            } else {
                MasterState::TxFirst
            };
        }
        match self.state {
            MasterState::Tx | MasterState::TxFirst => {
                if self.state == MasterState::Tx && status & INTR_TX_ACK == 0 {
                    self.cmd_err = Some("EIO");
                    self.do_stop(soc);
                    return;
                }
                let msg = &self.msgs[self.msgs_index];
                if self.buf_index < msg.len {
                    self.state = MasterState::Tx;
                    let b = msg.buf[self.buf_index];
                    self.buf_index += 1;
                    soc.writel(u32::from(b), self.base + REG_BYTE_BUF);
                    soc.writel(CMD_M_TX, self.base + REG_CMD);
                } else {
                    self.next_msg_or_stop(soc);
                }
            }
            MasterState::RxFirst | MasterState::Rx => {
                if status & INTR_RX_DONE == 0 {
                    if self.state == MasterState::Rx {
                        self.cmd_err = Some("master failed to RX");
                        self.do_stop(soc);
                    }
                    return;
                }
                let byte = (soc.readl(self.base + REG_BYTE_BUF) >> 8) as u8;
                let idx = self.buf_index;
                self.msgs[self.msgs_index].buf[idx] = byte;
                self.buf_index += 1;
                let len = self.msgs[self.msgs_index].len;
                if self.buf_index < len {
                    self.state = MasterState::Rx;
                    let mut command = CMD_M_RX;
                    if self.buf_index + 1 == len {
                        command |= CMD_M_RX_LAST;
                    }
                    soc.writel(command, self.base + REG_CMD);
                } else {
                    self.next_msg_or_stop(soc);
                }
            }
            MasterState::Stop => {
                if status & INTR_NORMAL_STOP == 0 {
                    self.cmd_err = Some("master failed to STOP");
                }
                self.state = MasterState::Inactive;
                self.complete = true;
            }
            MasterState::Inactive | MasterState::Start => {
                self.cmd_err = Some("interrupt while inactive");
                self.complete = true;
            }
        }
    }

    /// `aspeed_i2c_bus_irq`.
    fn bus_irq(&mut self, soc: &Soc) {
        let received = soc.readl(self.base + REG_INTR_STS);
        soc.writel(received & !INTR_RX_DONE, self.base + REG_INTR_STS);
        soc.readl(self.base + REG_INTR_STS);
        self.master_irq(soc, received & INTR_RECV_MASK);
        if received & INTR_RX_DONE != 0 {
            soc.writel(INTR_RX_DONE, self.base + REG_INTR_STS);
            soc.readl(self.base + REG_INTR_STS);
        }
    }

    /// `aspeed_i2c_master_xfer`, with the VIC delivering IRQ 12 to `aspeed_i2c_ic_irq_handler`
    /// whenever the shared line is high. Returns the messages' buffers.
    fn master_xfer(&mut self, soc: &Soc, msgs: Vec<Msg>) -> Result<Vec<Vec<u8>>, &'static str> {
        assert_eq!(
            soc.readl(self.base + REG_CMD) & CMD_BUS_BUSY_STS,
            0,
            "bus idle (no recovery needed)"
        );
        self.msgs = msgs;
        self.msgs_index = 0;
        self.cmd_err = None;
        self.complete = false;
        self.do_start(soc);
        let mut interrupts = 0;
        while !self.complete {
            assert!(soc.line(), "the transfer stalled with VIC 12 low");
            interrupts += 1;
            assert!(interrupts < 100, "interrupt storm");
            // aspeed_i2c_ic_irq_handler: the global status says which buses to service.
            let status = soc.readl(BASE + GLOBAL_INTR_STS);
            assert_eq!(status, 1 << self.n, "only bus {} interrupts", self.n);
            for bit in 0..14 {
                if status & (1 << bit) != 0 {
                    self.bus_irq(soc);
                }
            }
        }
        assert!(!soc.line(), "everything acknowledged: the line is low");
        match self.cmd_err {
            Some(e) => Err(e),
            None => Ok(self.msgs.drain(..).map(|m| m.buf).collect()),
        }
    }
}

#[test]
fn linux_reads_a_register_pair_from_an_lm75_on_bus_7() {
    let soc = Soc::new();
    // ast2500-evb: i2c7 (0x1E78A300) national,lm75 at 0x4D.
    let lm75 = RegisterTarget::new();
    soc.buses[7]
        .borrow_mut()
        .attach(0x4D, lm75.clone())
        .unwrap();
    let mut bus = LinuxBus::new(7);
    assert_eq!(bus.base, BASE + 0x300);
    bus.probe(&soc);
    assert_eq!(
        soc.readl(bus.base + REG_FUN_CTRL),
        FUN_MASTER_EN | FUN_MULTI_MASTER_DIS
    );
    assert_eq!(soc.readl(bus.base + REG_AC_TIMING1), 0x000F_E003);
    assert!(!soc.line());
    // lm75_read: i2c_smbus_read_word_swapped(reg 0) = write pointer, repeated START, read 2.
    let got = bus
        .master_xfer(
            &soc,
            vec![
                Msg {
                    addr: 0x4D,
                    read: false,
                    buf: vec![0x00],
                    len: 1,
                },
                Msg {
                    addr: 0x4D,
                    read: true,
                    buf: vec![0; 2],
                    len: 2,
                },
            ],
        )
        .expect("the transfer succeeds");
    let regs = lm75.borrow().regs;
    assert_eq!(got[1], regs[0..2]);
    assert_eq!(
        lm75.borrow().events,
        [
            "start-write",
            "write 0x00",
            "start-read",
            &format!("read {:#04x}", regs[0]),
            &format!("read {:#04x}", regs[1]),
            "stop"
        ]
    );
    assert_eq!(soc.readl(BASE + GLOBAL_INTR_STS), 0);

    // A one-byte read (RX_LAST with the START) and an absent address (ENXIO, then STOP).
    let got = bus
        .master_xfer(
            &soc,
            vec![Msg {
                addr: 0x4D,
                read: true,
                buf: vec![0],
                len: 1,
            }],
        )
        .unwrap();
    assert_eq!(got[0], [regs[2]]);
    let absent = bus.master_xfer(
        &soc,
        vec![Msg {
            addr: 0x4E,
            read: true,
            buf: vec![0],
            len: 1,
        }],
    );
    assert_eq!(absent.err(), Some("ENXIO"));
    assert_eq!(soc.readl(bus.base + REG_CMD) & CMD_BUS_BUSY_STS, 0);
}

// ---- u-boot 2023.01 ast_i2c on one bus ----

/// u-boot `ast_i2c` for one bus: it polls the status and never takes the interrupt.
struct UbootBus {
    base: u64,
}

const TIMEOUT_POLLS: usize = 5000;

impl UbootBus {
    /// `ast_i2c_probe` (`ast_i2c_init_bus`) and `ast_i2c_set_speed(100000)` with the APB clock.
    fn probe(n: usize, soc: &Soc) -> Self {
        let base = BASE + Variant::Ast2500.bus_block_offset(n);
        soc.writel(0, base + REG_FUN_CTRL);
        soc.writel(
            FUN_MASTER_EN | (1 << 16) | FUN_MULTI_MASTER_DIS,
            base + REG_FUN_CTRL,
        );
        soc.writel(
            INTR_TX_ACK
                | INTR_TX_NAK
                | INTR_RX_DONE
                | INTR_BUS_RECOVER_DONE
                | INTR_NORMAL_STOP
                | INTR_ABNORMAL,
            base + REG_INTR_CTRL,
        );
        soc.writel(0, base + REG_AC_TIMING2);
        // get_clk_reg_val(24750000 / 100000 = 247): I2CD_CACTC_BASE, high 7, low 7, div 4.
        soc.writel(0xFFF7_7304, base + REG_AC_TIMING1);
        soc.writel(!0, base + REG_INTR_STS);
        Self { base }
    }

    fn clear(&self, soc: &Soc) {
        soc.writel(!0, self.base + REG_INTR_STS);
    }

    fn wait_isr(&self, soc: &Soc, flag: u32) -> Result<(), &'static str> {
        let ok = (0..TIMEOUT_POLLS).any(|_| soc.readl(self.base + REG_INTR_STS) & flag != 0);
        self.clear(soc);
        ok.then_some(()).ok_or("ETIMEDOUT")
    }

    fn wait_tx(&self, soc: &Soc) -> Result<(), &'static str> {
        let flag = INTR_TX_ACK | INTR_TX_NAK;
        let status = (0..TIMEOUT_POLLS)
            .map(|_| soc.readl(self.base + REG_INTR_STS) & flag)
            .find(|&s| s != 0);
        self.clear(soc);
        match status {
            None => Err("ETIMEDOUT"),
            Some(s) if s == INTR_TX_NAK => Err("EREMOTEIO"),
            Some(_) => Ok(()),
        }
    }

    fn start_txn(&self, soc: &Soc, devaddr: u8) -> Result<(), &'static str> {
        soc.writel(u32::from(devaddr), self.base + REG_BYTE_BUF);
        soc.writel(CMD_M_START | CMD_M_TX, self.base + REG_CMD);
        self.wait_tx(soc)
    }

    fn send_stop(&self, soc: &Soc) -> Result<(), &'static str> {
        soc.writel(CMD_M_STOP, self.base + REG_CMD);
        self.wait_isr(soc, INTR_NORMAL_STOP)
    }

    /// `ast_i2c_deblock`: only an idle bus (SDA and SCL high) needs nothing.
    fn deblock(&self, soc: &Soc) {
        let csr = soc.readl(self.base + REG_CMD);
        assert_eq!(
            csr & (CMD_SDA_LINE_STS | CMD_SCL_LINE_STS),
            CMD_SDA_LINE_STS | CMD_SCL_LINE_STS
        );
    }

    /// `ast_i2c_xfer` of "write `offset`, then read `len` bytes" (`i2c md` / `dm_i2c_read`).
    fn read_at(
        &self,
        soc: &Soc,
        chip: u8,
        offset: u8,
        len: usize,
    ) -> Result<Vec<u8>, &'static str> {
        self.deblock(soc);
        // ast_i2c_write_data, not the last message: no STOP.
        self.start_txn(soc, chip << 1)?;
        soc.writel(u32::from(offset), self.base + REG_BYTE_BUF);
        soc.writel(CMD_M_TX, self.base + REG_CMD);
        self.wait_tx(soc)?;
        // ast_i2c_read_data, the last message: STOP at the end.
        self.start_txn(soc, (chip << 1) | 1)?;
        let mut out = vec![];
        for left in (1..=len).rev() {
            let mut cmd = CMD_M_RX;
            if left == 1 {
                cmd |= CMD_M_RX_LAST;
            }
            soc.writel(cmd, self.base + REG_CMD);
            self.wait_isr(soc, INTR_RX_DONE)?;
            out.push(((soc.readl(self.base + REG_BYTE_BUF) & 0xFF00) >> 8) as u8);
        }
        self.clear(soc);
        self.send_stop(soc)?;
        Ok(out)
    }
}

#[test]
fn uboot_reads_the_eeprom_on_bus_3_by_polling() {
    let soc = Soc::new();
    // ast2500-evb: i2c3 (0x1E78A100) atmel,24c08 at 0x50.
    let eeprom = RegisterTarget::new();
    soc.buses[3]
        .borrow_mut()
        .attach(0x50, eeprom.clone())
        .unwrap();
    let bus = UbootBus::probe(3, &soc);
    assert_eq!(bus.base, BASE + 0x100);
    assert_eq!(soc.readl(bus.base + REG_AC_TIMING1), 0xFFF7_7304);
    let got = bus.read_at(&soc, 0x50, 0x10, 4).expect("read");
    let regs = eeprom.borrow().regs;
    assert_eq!(got, regs[0x10..0x14]);
    let events = eeprom.borrow().events.clone();
    assert_eq!(events[..3], ["start-write", "write 0x10", "start-read"]);
    assert_eq!(events.len(), 3 + 4 + 1);
    assert_eq!(events.last().map(String::as_str), Some("stop"));
    // u-boot clears everything it waited for: nothing pending, the shared line is low.
    assert_eq!(soc.readl(BASE + GLOBAL_INTR_STS), 0);
    assert!(!soc.line());
    // `i2c probe` of an empty address: the START is refused.
    assert_eq!(bus.start_txn(&soc, 0x51 << 1), Err("EREMOTEIO"));
    bus.send_stop(&soc).unwrap();
}

#[test]
fn global_status_demultiplexes_the_shared_line() {
    let soc = Soc::new();
    let a = LinuxBus::new(0);
    let b = LinuxBus::new(13);
    assert_eq!(b.base, BASE + 0x480);
    a.probe(&soc);
    b.probe(&soc);
    assert_eq!(soc.readl(BASE + GLOBAL_INTR_STS), 0);
    // A STOP with no transfer on each: ABNORMAL on buses 0 and 13.
    soc.writel(CMD_M_STOP, a.base + REG_CMD);
    assert!(soc.line());
    assert_eq!(soc.readl(BASE + GLOBAL_INTR_STS), 1);
    soc.writel(CMD_M_STOP, b.base + REG_CMD);
    assert_eq!(soc.readl(BASE + GLOBAL_INTR_STS), 1 | (1 << 13));
    assert_eq!(
        soc.rec.changes(),
        [(VIC_I2C, true)],
        "one edge for both buses"
    );
    // The status register is read-only, and sub-word reads see the high byte.
    soc.writel(!0, BASE + GLOBAL_INTR_STS);
    assert_eq!(soc.readl(BASE + GLOBAL_INTR_STS), 1 | (1 << 13));
    assert_eq!(soc.mmio.read(BASE + 1, 1), Some(1 << 5));
    // Bus 0's handler acknowledges: the line stays high for bus 13.
    soc.writel(!0, a.base + REG_INTR_STS);
    assert_eq!(soc.readl(BASE + GLOBAL_INTR_STS), 1 << 13);
    assert!(soc.line());
    soc.writel(!0, b.base + REG_INTR_STS);
    assert_eq!(soc.readl(BASE + GLOBAL_INTR_STS), 0);
    assert!(!soc.line());
    // A masked status does not interrupt (u-boot polls with the enables it chose).
    soc.writel(0, a.base + REG_INTR_CTRL);
    soc.writel(CMD_M_STOP, a.base + REG_CMD);
    assert_eq!(soc.readl(a.base + REG_INTR_STS), INTR_ABNORMAL);
    assert_eq!(soc.readl(BASE + GLOBAL_INTR_STS), 0);
    assert!(!soc.line());
    // The global control register: SRAM enable for buffer/DMA modes, no new-mode divider.
    soc.writel(GLOBAL_CTRL_SRAM_EN, BASE + GLOBAL_CTRL);
    assert_eq!(soc.readl(BASE + GLOBAL_CTRL), GLOBAL_CTRL_SRAM_EN);
    soc.writel(0x1234, BASE + GLOBAL_NEW_CLK_DIVIDER);
    assert_eq!(soc.readl(BASE + GLOBAL_NEW_CLK_DIVIDER), 0);
    // The pool sits between bus 6 and bus 7.
    soc.writel(0x4433_2211, BASE + 0x2FC);
    assert_eq!(soc.mmio.read(BASE + 0x2FF, 1), Some(0x44));
    assert!(
        soc.mmio.read(BASE + 0x4C0, 4).is_none(),
        "nothing past bus 13"
    );
}

#[test]
fn buffer_mode_after_sram_enable_uses_the_bus_16_bytes() {
    let soc = Soc::new();
    let t = RegisterTarget::new();
    soc.buses[8].borrow_mut().attach(0x20, t.clone()).unwrap();
    let bus = LinuxBus::new(8);
    bus.probe(&soc);
    let buffer = BASE + Variant::Ast2500.pool_offset() + 0x80;
    // The buffer-mode driver: address byte and data in the bus's buffer, TX_COUNT = 2.
    soc.writel(u32::from_le_bytes([0x20 << 1, 0x05, 0xEE, 0]), buffer);
    soc.writel(2 << POOL_CTRL_TX_COUNT_SHIFT, bus.base + REG_POOL_CTRL);
    let command = CMD_M_START | CMD_M_TX | CMD_TX_BUFF_EN | CMD_M_STOP;
    soc.writel(command, bus.base + REG_CMD);
    assert_eq!(
        soc.readl(bus.base + REG_INTR_STS),
        0,
        "SRAM disabled: ignored"
    );
    assert!(t.borrow().events.is_empty());
    // aspeed_i2c_25xx_enable_sram.
    let ctrl = soc.readl(BASE + GLOBAL_CTRL);
    soc.writel(ctrl | GLOBAL_CTRL_SRAM_EN, BASE + GLOBAL_CTRL);
    soc.writel(command, bus.base + REG_CMD);
    assert_eq!(
        soc.readl(bus.base + REG_INTR_STS),
        INTR_TX_ACK | INTR_NORMAL_STOP
    );
    assert_eq!(t.borrow().regs[5], 0xEE);
    assert_eq!(soc.readl(BASE + GLOBAL_INTR_STS), 1 << 8);
}
