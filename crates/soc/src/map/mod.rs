//! The SoCs' memory maps and interrupt numbers: the one place that knows them. Each SoC is a
//! [`SocMap`], data in the spirit of QEMU's `aspeed_soc_ast2600_memmap[]`/irqmap and Renode's
//! `.repl` platforms: its core, its interrupt controller, where memory is, and a table of
//! [`Placement`]s (block, base, size, interrupts) the SoC builds every device from.
//!
//! - [`ast2600`]: two Cortex-A7 cores and a GICv2 (Linux `aspeed-g6.dtsi`).
//! - [`ast2500`]: one ARM1176 and the Aspeed VIC (Linux `aspeed-g5.dtsi`).

pub mod ast2500;
pub mod ast2600;

/// The SoC's interrupt controller, and what it needs mapped besides its table entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterruptController {
    /// An ARM GICv2 (distributor and CPU interface in the table) in the Cortex-A7 MPCore
    /// private region `[private, private + private_size)`, mapped as registers; devices'
    /// interrupt numbers are shared peripheral interrupts (GIC ID = 32 + n), the generic
    /// timers drive private peripheral interrupts.
    Gic {
        /// The private region's base.
        private: u64,
        /// Its size.
        private_size: u64,
    },
    /// The Aspeed VIC (its table entry [`Block::Vic`]): devices' interrupt numbers are VIC
    /// sources; it drives the core's IRQ and FIQ.
    Vic,
}

/// The secondary cores' mailbox (AST2600: the SCU's SMP scratch registers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmpMailbox {
    /// The word holding the released core's entry address.
    pub entry: u64,
    /// The word holding the go signature | the core's number.
    pub go: u64,
    /// The go signature.
    pub signature: u32,
    /// Start of the wait loop the firmware copies into the mailbox (cores cannot fetch from
    /// MMIO: one that jumps there is parked until its go signature appears).
    pub wait_loop_start: u64,
    /// End (exclusive) of that wait loop.
    pub wait_loop_end: u64,
}

/// One SoC generation as data.
#[derive(Debug, Clone, Copy)]
pub struct SocMap {
    /// Which SoC it is.
    pub soc: board::Soc,
    /// Its core.
    pub cpu: cpu::CpuModel,
    /// How many cores it has.
    pub cpu_count: usize,
    /// The MPIDR affinity of core 0 (core n: + n), where the core has an MPIDR.
    pub cpu0_mpidr: Option<u32>,
    /// The mailbox that releases secondary cores, where there are any.
    pub smp: Option<SmpMailbox>,
    /// Where the boot flash (FMC CE0) is seen at reset (the CPU starts executing it).
    pub boot_alias: u64,
    /// On-chip SRAM.
    pub sram: u64,
    /// SRAM size, whole pages.
    pub sram_size: u64,
    /// The peripheral window served register by register (unmodelled registers read as zero,
    /// logged once); memory the table places inside it (SRAM) is cut out.
    pub peripherals: u64,
    /// Its size.
    pub peripherals_size: u64,
    /// The interrupt controller.
    pub intc: InterruptController,
    /// SDRAM base.
    pub dram: u64,
    /// The DRAM decode window: populated up to the board's size, the rest reads as zero.
    pub dram_window_size: u64,
    /// Every device of the SoC.
    pub placements: &'static [Placement],
    /// The timers' and watchdogs' external reference clock (Hz).
    pub external_clock_hz: u64,
    /// The APB clock at the straps the firmware keeps (Hz): the timer block's PCLK.
    pub apb_hz: u64,
}

impl SocMap {
    /// The map of `soc`.
    pub fn of(soc: board::Soc) -> &'static SocMap {
        match soc {
            board::Soc::Ast2600 => &ast2600::MAP,
            board::Soc::Ast2500 => &ast2500::MAP,
        }
    }

    /// The entry for `block`.
    pub fn placement(&self, block: Block) -> Option<&'static Placement> {
        self.placements.iter().find(|p| p.block == block)
    }

    /// The register block of a flash controller: (base, size).
    pub fn smc_registers(&self, c: board::Controller) -> Option<(u64, u64)> {
        self.placement(Block::Smc(c)).map(|p| (p.base, p.size))
    }

    /// A flash controller's window: (base, size).
    pub fn flash_window(&self, c: board::Controller) -> Option<(u64, u64)> {
        self.placement(Block::FlashWindow(c))
            .map(|p| (p.base, p.size))
    }

    /// How many of `block`'s kind the table has (by the predicate).
    pub fn count(&self, f: impl Fn(Block) -> bool) -> usize {
        self.placements.iter().filter(|p| f(p.block)).count()
    }

    /// The device behind interrupt `n` of the SoC's controller (for traces): `uart5`,
    /// `timer3`, `i2c7`.
    pub fn irq_name(&self, n: u32) -> String {
        let mut names = Vec::new();
        for p in self.placements {
            if let Some(i) = p.irqs.iter().position(|&irq| irq == n) {
                // One number for all of a block's lines (the AST2500's I2C buses, LPC): the
                // block's name.
                let one_line = p.irqs.iter().all(|&k| k == n);
                let name = match p.block {
                    _ if one_line && !matches!(p.block, Block::Adc(_)) => p.name.to_string(),
                    Block::Timer => format!("timer{}", i + 1),
                    Block::I2c => format!("i2c{i}"),
                    Block::Scu => format!("scu-ic{i}"),
                    Block::Adc(_) => "adc".into(),
                    Block::Lpc if i < 4 => format!("kcs{}", i + 1),
                    Block::Lpc => "lpc-snoop".into(),
                    _ => p.name.to_string(),
                };
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        if names.is_empty() {
            "?".into()
        } else {
            names.join("/")
        }
    }
}

/// What a block of the memory map is. Numbers count as the datasheet does: UART1..UART13,
/// MAC1..MAC4, WDT1..WDT4; MDIO controllers from 0 (one per MAC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    /// System control unit (two interrupt controllers: IRQs `[ic0, ic1]`).
    Scu,
    /// DRAM controller.
    Sdmc,
    /// An SPI flash controller's registers.
    Smc(board::Controller),
    /// An SPI flash controller's flash window.
    FlashWindow(board::Controller),
    /// A 16550-style UART.
    Uart(u8),
    /// The BMC side of a virtual UART (`vuart1`, `vuart2`: `aspeed,ast2500-vuart`).
    Vuart(u8),
    /// The timer block (IRQs: channels 1..8).
    Timer,
    /// A watchdog.
    Wdt(u8),
    /// An MDIO controller.
    Mdio(u8),
    /// An FTGMAC100 Ethernet MAC.
    Mac(u8),
    /// The I2C controller: global registers, 16 buses, buffer pool (IRQs: buses 0..15).
    I2c,
    /// A GPIO controller: 0 is the 3.3 V one (208 lines, the DT's `gpio0`), 1 the 1.8 V one
    /// (36 lines, `gpio1`).
    Gpio(u8),
    /// An SGPIO master (`sgpiom0`, `sgpiom1`).
    Sgpio(u8),
    /// An ADC engine (`adc0`, `adc1`: both raise one interrupt).
    Adc(u8),
    /// The real-time clock.
    Rtc,
    /// The hash and crypto engine (HACE): a DRAM master.
    Hace,
    /// The LPC controller, BMC side (IRQs: KCS channels 1..4, then the snoop).
    Lpc,
    /// The SD controller: two SDHCI slots (`sdhci0`, `sdhci1`), one interrupt.
    Sdc,
    /// The eMMC controller: one SDHCI slot (`emmc`).
    EmmcController,
    /// The vectored interrupt controller (AST2400/AST2500; `vic` at +0x80 in the device tree).
    Vic,
    /// GIC distributor.
    GicDistributor,
    /// GIC CPU interface.
    GicCpuInterface,
}

/// One entry of the SoC's memory map: a block, where it is, and its interrupts (numbers of the
/// SoC's interrupt controller: shared peripheral interrupts on the AST2600, GIC ID = 32 +
/// SPI; VIC sources on the AST2500), as QEMU's `aspeed_soc_ast2600_memmap[]` and
/// `aspeed_soc_ast2600_irqmap[]` together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// The block.
    pub block: Block,
    /// Its bus name (`info mtree`, `--trace mmio=`).
    pub name: &'static str,
    /// Base address.
    pub base: u64,
    /// Size of the decoded range.
    pub size: u64,
    /// Its interrupts.
    pub irqs: &'static [u32],
}

const fn at(
    block: Block,
    name: &'static str,
    base: u64,
    size: u64,
    irqs: &'static [u32],
) -> Placement {
    Placement {
        block,
        name,
        base,
        size,
        irqs,
    }
}
