//! Building a machine from the SoC's memory map (a [`map::SocMap`]) and a board description:
//! every entry of the table becomes a device on the bus; the board adds DRAM, straps, the flash
//! chips on each chip select, the I2C devices, how the MACs are wired and which UART is the
//! console. Nothing here is specific to one board.

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

use board::{Board, Controller};
use bus::{Bus, IrqLine, MemoryBlock};
use smc::{AspeedSmc, AspeedSmcWindow, SmcConfig};
use spi_nor::{FlashModel, SpiNor};
use uart::Uart;

use crate::board_io::{BoardIo, Controller as IoController};
use crate::i2c_devices::I2cDevices;
use crate::map::{self, Block, SocMap};
use crate::{Intc, SocError};

/// Where a UART's transmitted bytes go.
pub(crate) type UartOut = Box<dyn Write>;

/// The devices the SoC keeps handles to after building.
pub(crate) struct Devices {
    pub(crate) bus: Bus,
    pub(crate) smcs: Vec<(Controller, Rc<RefCell<AspeedSmc>>)>,
    /// The flash chips in the board's `--flash` order (FMC CE0 first).
    pub(crate) flashes: Vec<Rc<RefCell<SpiNor>>>,
    pub(crate) console: Rc<RefCell<Uart<UartOut>>>,
    /// Every UART and VUART of the table by bus name (`uart1`, `vuart1`), console included.
    pub(crate) uarts: Vec<(&'static str, Rc<RefCell<Uart<UartOut>>>)>,
    pub(crate) macs: Vec<Rc<RefCell<ftgmac100::Ftgmac100>>>,

    /// Each MAC's PHY (`None`: wired to NC-SI).
    pub(crate) phys: Vec<Option<Rc<RefCell<mdio::Phy>>>>,
    pub(crate) i2c: I2cDevices,
    pub(crate) io: BoardIo,
}

/// What the devices are connected to.
pub(crate) struct Wiring<'a> {
    /// The SoC's table.
    pub(crate) map: &'static SocMap,
    /// The interrupt controller's input `n` (the table's numbers).
    pub(crate) irq: &'a dyn Fn(u32) -> IrqLine,
    pub(crate) dram: Rc<dyn bus::GuestMemory>,
    pub(crate) clock: Rc<dyn bus::Clock>,
    pub(crate) reset: Rc<dyn bus::IrqSink>,
    pub(crate) intc: &'a Intc,
    /// The RTC's time at power-on (seconds since the Unix epoch).
    pub(crate) unix_time: i64,
    /// Where the SCU's random numbers come from.
    pub(crate) rng: scu::RngSource,
}

/// Log target of the note that the guest writes to a UART other than the console.
pub const STRAY_UART_TARGET: &str = "console";

/// Where a UART that is not the console sends its bytes: nowhere, with one note the first time
/// the guest writes (its firmware may expect another console: `--console` shows that UART).
struct StrayOutput {
    uart: &'static str,
    console: String,
    noted: bool,
}

impl Write for StrayOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !self.noted && !buf.is_empty() {
            self.noted = true;
            log::warn!(
                target: STRAY_UART_TARGET,
                "the guest writes to {}, but the console is {}: --console {} shows it",
                self.uart,
                self.console,
                self.uart
            );
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The flash model a board names, with a clear error for a name the `spi-nor` crate lacks.
pub(crate) fn flash_model(name: &str) -> Result<FlashModel, SocError> {
    FlashModel::by_name(name).ok_or_else(|| {
        SocError(format!(
            "no flash model called {name:?} (models: {})",
            FlashModel::ALL
                .iter()
                .map(|m| m.name)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

/// Builds every device of the SoC's table for `board`; `flashes` are the chips' contents in
/// the board's flash order (each exactly its model's size), `console` takes the console
/// UART's bytes.
pub(crate) fn devices(
    board: &Board,
    flashes: Vec<Rc<MemoryBlock>>,
    console: UartOut,
    w: &Wiring<'_>,
) -> Result<Devices, SocError> {
    let mut console = Some(console);
    let mut bus = Bus::new();
    let mut smcs = Vec::new();
    let mut console_uart = None;
    let mut uarts = Vec::new();
    let mut macs = Vec::new();
    let m = w.map;
    let ast2500 = m.soc == board::Soc::Ast2500;
    let mac_count = m.count(|b| matches!(b, Block::Mac(_))) as u8;
    let has_mdio_blocks = m.count(|b| matches!(b, Block::Mdio(_))) > 0;
    let phy_places: Vec<_> = (1..=mac_count).map(|m| board.phy_place(m)).collect();
    let mut phys = vec![None; mac_count.into()];
    let mut i2c = None;
    let mut io = BoardIo::default();
    let shared = SharedLines::new(m);
    for p in m.placements {
        let irq = |i: usize| {
            p.irqs
                .get(i)
                .map_or_else(IrqLine::disconnected, |&n| shared.line(n, w.irq))
        };
        let device: Rc<RefCell<dyn bus::Device>> = match p.block {
            Block::Scu => {
                let config = scu::ScuConfig {
                    hw_strap1: board.hw_strap1,
                    hw_strap2: board.hw_strap2,
                    unlocked_at_reset: false,
                    rng: w.rng,
                };
                let scu = scu::Scu::new(config, irq(0), irq(1));
                Rc::new(RefCell::new(if ast2500 {
                    scu.with_variant(scu::Variant::Ast2500)
                } else {
                    scu
                }))
            }
            Block::Sdmc => {
                let variant = if ast2500 {
                    sdmc::Variant::Ast2500
                } else {
                    sdmc::Variant::Ast2600
                };
                let sdmc = sdmc::Sdmc::with_variant(variant, board.dram_bytes())
                    .map_err(|e| SocError(format!("board {}: {e}", board.name)))?;
                Rc::new(RefCell::new(sdmc))
            }
            Block::Smc(c) => {
                let config = match (ast2500, c) {
                    (false, Controller::Fmc) => SmcConfig::ast2600_fmc(m.dram),
                    (false, Controller::Spi1) => SmcConfig::ast2600_spi1(m.dram),
                    (false, Controller::Spi2) => SmcConfig::ast2600_spi2(m.dram),
                    (true, Controller::Fmc) => SmcConfig::ast2500_fmc(m.dram),
                    (true, Controller::Spi1) => SmcConfig::ast2500_spi1(m.dram),
                    (true, Controller::Spi2) => SmcConfig::ast2500_spi2(m.dram),
                };
                let smc = Rc::new(RefCell::new(AspeedSmc::new(config, irq(0), w.dram.clone())));
                smcs.push((c, smc.clone()));
                smc
            }
            Block::FlashWindow(c) => {
                let smc = smcs
                    .iter()
                    .find(|(k, _)| *k == c)
                    .map(|(_, s)| s.clone())
                    .ok_or_else(|| SocError(format!("{}: window before controller", p.name)))?;
                Rc::new(RefCell::new(AspeedSmcWindow::new(smc)))
            }
            Block::Uart(_) | Block::Vuart(_) => {
                let out: UartOut = if p.name == board.console {
                    console.take().expect("one console UART")
                } else {
                    Box::new(StrayOutput {
                        uart: p.name,
                        console: board.console.clone(),
                        noted: false,
                    })
                };
                let variant = match p.block {
                    Block::Vuart(_) => uart::Variant::AspeedVuart,
                    _ => uart::Variant::DesignWare,
                };
                let uart = Uart::new(out, irq(0), 2).with_variant(variant);
                let uart = Rc::new(RefCell::new(uart));
                if p.name == board.console {
                    console_uart = Some(uart.clone());
                }
                uarts.push((p.name, uart.clone()));
                uart
            }
            Block::Timer => {
                let irqs: [IrqLine; aspeed_timer::CHANNELS] = std::array::from_fn(irq);
                let timer = aspeed_timer::AspeedTimer::new(
                    w.clock.clone(),
                    m.external_clock_hz,
                    m.apb_hz,
                    irqs,
                );
                Rc::new(RefCell::new(if ast2500 {
                    timer.with_variant(aspeed_timer::Variant::Ast2500)
                } else {
                    timer
                }))
            }
            Block::Wdt(n) => {
                let wdt = wdt::AspeedWdt::new(
                    w.clock.clone(),
                    IrqLine::new(w.reset.clone(), u32::from(n) - 1),
                    IrqLine::disconnected(),
                );
                Rc::new(RefCell::new(if ast2500 {
                    wdt.with_variant(wdt::Variant::Ast2500)
                } else {
                    wdt
                }))
            }
            Block::Mdio(n) => {
                // An RTL8211E wherever the board puts a MAC's PHY (MAC n's own MDIO n-1, address
                // 0, by default); none for a MAC wired to NC-SI.
                let mut mdio = mdio::AspeedMdio::new();
                for (mac, place) in phy_places.iter().enumerate() {
                    if let Some((bus, addr)) = *place {
                        if bus == n {
                            let phy = Rc::new(RefCell::new(mdio::Phy::new(false)));
                            mdio.attach_phy(addr, phy.clone());
                            phys[mac] = Some(phy);
                        }
                    }
                }
                Rc::new(RefCell::new(mdio))
            }
            Block::Mac(n) => {
                #[allow(unused_mut)]
                let mut mac = ftgmac100::Ftgmac100::new(w.dram.clone(), irq(0), board_mac(n));
                // Without MDIO controllers (AST2500) the PHY answers the MAC's own PHYCR.
                if !has_mdio_blocks {
                    if let Some((_, addr)) = phy_places[usize::from(n) - 1] {
                        let phy = Rc::new(RefCell::new(mdio::Phy::new(false)));
                        mac.attach_phy(addr, phy.clone());
                        phys[usize::from(n) - 1] = Some(phy);
                    }
                }
                let mac = Rc::new(RefCell::new(mac));
                macs.push(mac.clone());
                mac
            }
            Block::I2c => {
                let variant = if ast2500 {
                    i2c::Variant::Ast2500
                } else {
                    i2c::Variant::Ast2600
                };
                let soc = if ast2500 { "AST2500" } else { "AST2600" };
                i2c = Some(place_i2c(&mut bus, p, variant, &irq, &w.dram)?.with_soc(soc));
                continue;
            }
            Block::Gpio(n) => {
                let variant = gpio_variant(m.soc, n);
                let mut dev = gpio::AspeedGpio::new(variant, irq(0));
                // Pins the board pulls up: the idle level of active-low inputs (a power button
                // on P0 reads released until the host presses it).
                for pin in &board.gpio_pull_ups {
                    if let Some(line) = variant.line_by_name(pin) {
                        dev.set_input(line, true);
                    }
                }
                let dev = Rc::new(RefCell::new(dev));
                io.gpios.push(IoController {
                    name: p.name,
                    device: dev.clone(),
                    names: Vec::new(),
                });
                dev
            }
            Block::Sgpio(_) => {
                let variant = if ast2500 {
                    sgpio::Variant::Ast2500
                } else {
                    sgpio::Variant::Ast2600
                };
                let dev = Rc::new(RefCell::new(sgpio::AspeedSgpio::new(variant, irq(0))));
                io.sgpios.push(IoController {
                    name: p.name,
                    device: dev.clone(),
                    names: Vec::new(),
                });
                dev
            }
            Block::Adc(_) => {
                let variant = if ast2500 {
                    adc::Variant::Ast2500
                } else {
                    adc::Variant::Ast2600
                };
                let dev = Rc::new(RefCell::new(adc::AspeedAdc::new(variant, irq(0))));
                io.adcs.push(dev.clone());
                dev
            }
            Block::Rtc => {
                let dev = Rc::new(RefCell::new(rtc::AspeedRtc::new(
                    w.clock.clone(),
                    irq(0),
                    w.unix_time,
                )));
                io.rtc = Some(dev.clone());
                dev
            }
            Block::Hace => Rc::new(RefCell::new(hace::AspeedHace::new(
                if ast2500 {
                    hace::Variant::Ast2500
                } else {
                    hace::Variant::Ast2600
                },
                irq(0),
                w.dram.clone(),
                m.dram,
            ))),
            Block::Sdc | Block::EmmcController => {
                let slots = if p.block == Block::Sdc { 2 } else { 1 };
                let dev = Rc::new(RefCell::new(sdhci::AspeedSdc::new(
                    p.name,
                    slots,
                    irq(0),
                    w.dram.clone(),
                )));
                io.sd_controllers.push((p.base, dev.clone()));
                dev
            }
            Block::Lpc => {
                let dev = Rc::new(RefCell::new(lpc::AspeedLpc::new(
                    w.clock.clone(),
                    [irq(0), irq(1), irq(2), irq(3)],
                    irq(4),
                )));
                io.lpc = Some(dev.clone());
                dev
            }
            Block::GicDistributor | Block::GicCpuInterface | Block::Vic => {
                match (p.block, w.intc) {
                    (Block::GicDistributor, Intc::Gic(gic)) => {
                        Rc::new(RefCell::new(gic.distributor()))
                    }
                    (Block::GicCpuInterface, Intc::Gic(gic)) => {
                        Rc::new(RefCell::new(gic.cpu_interface()))
                    }
                    (Block::Vic, Intc::Vic(vic)) => Rc::new(RefCell::new(vic.registers())),
                    _ => {
                        return Err(SocError(format!(
                            "{}: not the SoC's interrupt controller",
                            p.name
                        )))
                    }
                }
            }
        };
        bus.insert(p.base, p.size, p.name, device)?;
    }
    for pin in &board.gpio_pull_ups {
        let known = m.placements.iter().any(|p| match p.block {
            Block::Gpio(n) => gpio_variant(m.soc, n).line_by_name(pin).is_some(),
            _ => false,
        });
        if !known {
            let pins = if ast2500 {
                "A0..AC7"
            } else {
                "A0..Z7, 18A0..18E3"
            };
            return Err(SocError(format!(
                "board {}: gpio-pull-ups names {pin:?}, no GPIO pin of the {} ({pins})",
                board.name,
                m.soc.name()
            )));
        }
    }
    let console = console_uart.ok_or_else(|| {
        let names: Vec<_> = m
            .placements
            .iter()
            .filter(|p| matches!(p.block, Block::Uart(_) | Block::Vuart(_)))
            .map(|p| p.name)
            .collect();
        SocError(format!(
            "board {}: the console {:?} is no UART of the {} ({})",
            board.name,
            board.console,
            m.soc.name(),
            names.join(", ")
        ))
    })?;
    let flashes = attach_flashes(board, flashes, &smcs)?;
    let mut i2c = i2c.ok_or_else(|| SocError("the SoC table has no I2C controller".into()))?;
    for d in &board.i2c {
        i2c.place(d)
            .map_err(|e| SocError(format!("board {}: {e}", board.name)))?;
    }
    Ok(Devices {
        bus,
        smcs,
        flashes,
        console,
        uarts,
        macs,
        phys,
        i2c,
        io,
    })
}

/// Interrupt lines of the table: a number the table names more than once (both ADC engines of
/// the AST2600; every I2C bus, the LPC's channels and the VUART on the AST2500) becomes a
/// wired OR of their outputs, so one lowering its output cannot hide another's.
struct SharedLines {
    map: &'static SocMap,
    shared: RefCell<Vec<(u32, Rc<bus::SharedIrq>, u32)>>,
}

impl SharedLines {
    fn new(map: &'static SocMap) -> Self {
        Self {
            map,
            shared: RefCell::new(Vec::new()),
        }
    }

    fn line(&self, n: u32, spi: &dyn Fn(u32) -> IrqLine) -> IrqLine {
        let users = self
            .map
            .placements
            .iter()
            .flat_map(|p| p.irqs.iter())
            .filter(|&&k| k == n)
            .count();
        if users < 2 {
            return spi(n);
        }
        let mut shared = self.shared.borrow_mut();
        if let Some(entry) = shared.iter_mut().find(|(k, _, _)| *k == n) {
            entry.2 += 1;
            return entry.1.input(entry.2 - 1);
        }
        let line = bus::SharedIrq::new(spi(n));
        shared.push((n, line.clone(), 1));
        line.input(0)
    }
}

/// Puts each of the board's flash chips on its controller's chip select.
fn attach_flashes(
    board: &Board,
    contents: Vec<Rc<MemoryBlock>>,
    smcs: &[(Controller, Rc<RefCell<AspeedSmc>>)],
) -> Result<Vec<Rc<RefCell<SpiNor>>>, SocError> {
    let order = board.flash_order();
    if contents.len() != order.len() {
        return Err(SocError(format!(
            "board {} has {} flash chips; {} images given",
            board.name,
            order.len(),
            contents.len()
        )));
    }
    let mut flashes = Vec::new();
    for (chip, memory) in order.into_iter().zip(contents) {
        let model = flash_model(&chip.model)?;
        if memory.len() as u64 != model.size {
            return Err(SocError(format!(
                "{} CE{}: {} holds {} bytes, not {}",
                chip.controller.name(),
                chip.cs,
                model.name,
                model.size,
                memory.len()
            )));
        }
        let flash = Rc::new(RefCell::new(SpiNor::new(memory, model)));
        let (_, smc) = smcs
            .iter()
            .find(|(c, _)| *c == chip.controller)
            .ok_or_else(|| SocError(format!("no controller {}", chip.controller.name())))?;
        smc.borrow_mut()
            .attach_flash(chip.cs.into(), flash.clone())
            .map_err(|_| {
                SocError(format!(
                    "board {}: {} has no chip select {}",
                    board.name,
                    chip.controller.name(),
                    chip.cs
                ))
            })?;
        flashes.push(flash);
    }
    Ok(flashes)
}

/// Builds the I2C controller of `variant` (global registers at the block's base, bus n's
/// registers at [`i2c::Variant::bus_block_offset`], the buffer pool at
/// [`i2c::Variant::pool_offset`]); bus n raises the block's IRQ n (one number repeated in
/// the table is a wired OR: every AST2500 bus on VIC 12). Buffer-mode transfers use the
/// pool, DMA transfers `dram`.
pub(crate) fn place_i2c(
    bus: &mut Bus,
    p: &map::Placement,
    variant: i2c::Variant,
    irq: &dyn Fn(usize) -> IrqLine,
    dram: &Rc<dyn bus::GuestMemory>,
) -> Result<I2cDevices, SocError> {
    use i2c::{AspeedI2cBus, AspeedI2cGlobal, AspeedI2cPool};
    let pool = AspeedI2cPool::new().with_variant(variant);
    let mut statuses = Vec::new();
    let mut buses = Vec::new();
    for n in 0..variant.bus_count() {
        let mut ctrl = AspeedI2cBus::new(&format!("i2c{n}"), irq(n)).with_variant(variant);
        ctrl.connect_pool(pool.memory(), n);
        ctrl.connect_dram(dram.clone());
        statuses.push(ctrl.irq_status());
        buses.push(ctrl);
    }
    let global = AspeedI2cGlobal::new(statuses).with_variant(variant);
    let mut placed = Vec::new();
    for (n, mut ctrl) in buses.into_iter().enumerate() {
        ctrl.connect_global(global.control());
        let ctrl = Rc::new(RefCell::new(ctrl));
        placed.push(ctrl.clone());
        let name = format!("i2c{n}");
        bus.insert(
            p.base + variant.bus_block_offset(n),
            variant.bus_block_size(),
            &name,
            ctrl,
        )?;
    }
    bus.insert(
        p.base,
        variant.global_block_size(),
        "i2c-global",
        Rc::new(RefCell::new(global)),
    )?;
    bus.insert(
        p.base + variant.pool_offset(),
        variant.pool_size() as u64,
        "i2c-pool",
        Rc::new(RefCell::new(pool)),
    )?;
    Ok(I2cDevices::new(placed))
}

/// The GPIO controller `n` of `soc` (AST2600: 0 the 3.3 V one, 1 the 1.8 V one).
fn gpio_variant(soc: board::Soc, n: u8) -> gpio::Variant {
    match (soc, n) {
        (board::Soc::Ast2500, _) => gpio::Variant::Ast2500,
        (_, 0) => gpio::Variant::Ast2600_3v3,
        _ => gpio::Variant::Ast2600_1v8,
    }
}

/// The stable, locally administered MAC address of MAC `n` (from 1), so DHCP leases and port
/// forwards survive reboots.
fn board_mac(n: u8) -> [u8; 6] {
    [0x02, 0xa5, 0x7e, 0x00, 0x00, n]
}
