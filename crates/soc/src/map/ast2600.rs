//! The AST2600 memory map and interrupt numbers: the one place that knows them.
//! (Its [`MAP`] is the table the SoC is built from.)
//!
//! Sources: Linux `arch/arm/boot/dts/aspeed-g6.dtsi` (wins where sources disagree), QEMU
//! `hw/arm/aspeed_ast2600.c`, `../shared/docs/ast2600-facts.md`.

/// MPIDR affinity of CPU0 (the DT's `cpu@f00`).
pub const CPU0_MPIDR_AFFINITY: u32 = 0xf00;
/// The SMP mailbox in the SCU's CPU scratch registers (Linux `aspeed,ast2600-smpmem`, SCU
/// 0x180): the secondary core's entry address, its go signature, u-boot's ready word, then the
/// five-instruction wait loop u-boot copies there and the parked core runs.
pub const SMP_MAILBOX: u64 = SCU + 0x180;
/// Mailbox word: the address the released core jumps to (Linux `BOOT_ADDR`).
pub const SMP_ENTRY: u64 = SMP_MAILBOX;
/// Mailbox word: [`SMP_GO_SIGNATURE`] | the core's Aff0 releases it (Linux `BOOT_SIG`).
pub const SMP_GO: u64 = SMP_MAILBOX + 0x4;
/// The go signature (Linux platsmp.c, u-boot lowlevel_init.S).
pub const SMP_GO_SIGNATURE: u32 = 0xABBA_AB00;
/// Where u-boot's copied wait loop runs (SCU 0x18C-0x19F); cores cannot fetch from the SCU, so
/// a core that jumps there is parked by the SoC until its go signature appears.
pub const SMP_WAIT_LOOP: std::ops::Range<u64> = SMP_MAILBOX + 0xC..SMP_MAILBOX + 0x20;
/// Cortex-A7 cores of the AST2600 (MPIDR affinity 0xF00 and 0xF01: `cpu@f00`, `cpu@f01`).
pub const CPU_COUNT: usize = 2;

/// Boot region: FMC CE0 seen at 0 (the CPU starts executing the flash here).
pub const BOOT_ALIAS: u64 = 0x0000_0000;
/// On-chip SRAM.
pub const SRAM: u64 = 0x1000_0000;
/// SRAM size (90 KiB), rounded up to whole pages for mapping.
pub const SRAM_SIZE: u64 = 0x1_7000;
/// Start of the peripheral window that is served register by register.
pub const PERIPHERALS: u64 = 0x1E60_0000;
/// Size of the peripheral window (unmodelled registers read as zero, logged once).
pub const PERIPHERALS_SIZE: u64 = 0x20_0000;
/// FMC register block.
pub const FMC: u64 = 0x1E62_0000;
/// Size of the FMC register block.
pub const FMC_SIZE: u64 = 0x1000;
/// SPI1 controller registers.
pub const SPI1: u64 = 0x1E63_0000;
/// SPI2 controller registers.
pub const SPI2: u64 = 0x1E63_1000;
/// DRAM controller.
pub const SDMC: u64 = 0x1E6E_0000;
/// System control unit.
pub const SCU: u64 = 0x1E6E_2000;
/// Timer block (8 channels).
pub const TIMER: u64 = 0x1E78_2000;
/// UART5, the EVB's console (ttyS4).
pub const UART5: u64 = 0x1E78_4000;
/// Watchdog 1; watchdog n is at `WDT1 + 0x40 * (n - 1)`.
pub const WDT1: u64 = 0x1E78_5000;
/// Number of watchdogs.
pub const WDT_COUNT: u64 = 4;
/// MDIO controller 0; controller n is at `MDIO0 + 8 * n`.
pub const MDIO0: u64 = 0x1E65_0000;
/// Number of MDIO controllers (one per MAC).
pub const MDIO_COUNT: u64 = 4;
/// The four FTGMAC100s in MAC1..MAC4 order (note the address order: MAC2 is above MAC3).
pub const MACS: [u64; 4] = [0x1E66_0000, 0x1E68_0000, 0x1E67_0000, 0x1E69_0000];
/// I2C controller: global registers, 16 buses at `+0x80 * (n + 1)`, buffer pool at +0xC00.
pub const I2C: u64 = 0x1E78_A000;
/// Cortex-A7 MPCore private region (GIC).
pub const MPCORE: u64 = 0x4046_0000;
/// Size of the private region mapped.
pub const MPCORE_SIZE: u64 = 0x8000;
/// GIC distributor.
pub const GIC_DIST: u64 = 0x4046_1000;
/// GIC CPU interface.
pub const GIC_CPU: u64 = 0x4046_2000;
/// FMC flash window (CE0 starts here).
pub const FMC_WINDOW: u64 = 0x2000_0000;
/// FMC window size.
pub const FMC_WINDOW_SIZE: u64 = 0x1000_0000;
/// SPI1 flash window.
pub const SPI1_WINDOW: u64 = 0x3000_0000;
/// SPI2 flash window.
pub const SPI2_WINDOW: u64 = 0x5000_0000;
/// SPI1 / SPI2 window size.
pub const SPI_WINDOW_SIZE: u64 = 0x1000_0000;
/// SDRAM.
pub const DRAM: u64 = 0x8000_0000;
/// The DRAM decode window: populated up to the configured size, the rest reads as zero.
pub const DRAM_WINDOW_SIZE: u64 = 0x8000_0000;

use super::{at, Block, InterruptController, Placement, SmpMailbox, SocMap};
use board::Controller::{Fmc as FMC_, Spi1 as SPI1_, Spi2 as SPI2_};

/// The AST2600's devices (Linux `aspeed-g6.dtsi`; QEMU `hw/arm/aspeed_ast2600.c`). The SoC
/// builds every entry; a board adds what sits outside the chip.
pub const AST2600: &[Placement] = &[
    at(
        Block::Scu,
        "scu",
        SCU,
        0x1000,
        &[spi::SCU_IC0, spi::SCU_IC1],
    ),
    at(Block::Sdmc, "sdmc", SDMC, 0x1000, &[spi::SDMC]),
    at(Block::Smc(FMC_), "fmc", FMC, FMC_SIZE, &[spi::FMC]),
    at(Block::Smc(SPI1_), "spi1", SPI1, 0x1000, &[]),
    at(Block::Smc(SPI2_), "spi2", SPI2, 0x1000, &[]),
    at(Block::Uart(1), "uart1", 0x1E78_3000, 0x1000, &[47]),
    at(Block::Uart(2), "uart2", 0x1E78_D000, 0x1000, &[48]),
    at(Block::Uart(3), "uart3", 0x1E78_E000, 0x1000, &[49]),
    at(Block::Uart(4), "uart4", 0x1E78_F000, 0x1000, &[50]),
    at(Block::Uart(5), "uart5", UART5, 0x1000, &[spi::UART5]),
    at(Block::Uart(6), "uart6", 0x1E79_0000, 0x100, &[57]),
    at(Block::Uart(7), "uart7", 0x1E79_0100, 0x100, &[58]),
    at(Block::Uart(8), "uart8", 0x1E79_0200, 0x100, &[59]),
    at(Block::Uart(9), "uart9", 0x1E79_0300, 0x100, &[60]),
    at(Block::Uart(10), "uart10", 0x1E79_0400, 0x100, &[61]),
    at(Block::Uart(11), "uart11", 0x1E79_0500, 0x100, &[62]),
    at(Block::Uart(12), "uart12", 0x1E79_0600, 0x100, &[63]),
    at(Block::Uart(13), "uart13", 0x1E79_0700, 0x100, &[64]),
    at(
        Block::Vuart(1),
        "vuart1",
        0x1E78_7000,
        uart::VUART_REGS_SIZE,
        &[147],
    ),
    at(
        Block::Vuart(2),
        "vuart2",
        0x1E78_8000,
        uart::VUART_REGS_SIZE,
        &[148],
    ),
    at(
        Block::Timer,
        "timer",
        TIMER,
        0x1000,
        &[16, 17, 18, 19, 20, 21, 22, 23],
    ),
    at(Block::Wdt(1), "wdt1", WDT1, wdt::REGS_SIZE, &[]),
    at(Block::Wdt(2), "wdt2", WDT1 + 0x40, wdt::REGS_SIZE, &[]),
    at(Block::Wdt(3), "wdt3", WDT1 + 0x80, wdt::REGS_SIZE, &[]),
    at(Block::Wdt(4), "wdt4", WDT1 + 0xC0, wdt::REGS_SIZE, &[]),
    at(Block::Mdio(0), "mdio0", MDIO0, 8, &[]),
    at(Block::Mdio(1), "mdio1", MDIO0 + 8, 8, &[]),
    at(Block::Mdio(2), "mdio2", MDIO0 + 16, 8, &[]),
    at(Block::Mdio(3), "mdio3", MDIO0 + 24, 8, &[]),
    at(Block::Mac(1), "mac1", MACS[0], 0x1000, &[spi::MACS[0]]),
    at(Block::Mac(2), "mac2", MACS[1], 0x1000, &[spi::MACS[1]]),
    at(Block::Mac(3), "mac3", MACS[2], 0x1000, &[spi::MACS[2]]),
    at(Block::Mac(4), "mac4", MACS[3], 0x1000, &[spi::MACS[3]]),
    at(Block::I2c, "i2c", I2C, 0x1000, &I2C_IRQS),
    at(
        Block::Adc(0),
        "adc0",
        0x1E6E_9000,
        adc::REGS_SIZE,
        &[spi::ADC],
    ),
    at(
        Block::Adc(1),
        "adc1",
        0x1E6E_9100,
        adc::REGS_SIZE,
        &[spi::ADC],
    ),
    at(Block::Gpio(0), "gpio0", 0x1E78_0000, GPIO0_SIZE, &[40]),
    at(
        Block::Sgpio(0),
        "sgpiom0",
        0x1E78_0500,
        sgpio::REGS_SIZE,
        &[51],
    ),
    at(
        Block::Sgpio(1),
        "sgpiom1",
        0x1E78_0600,
        sgpio::REGS_SIZE,
        &[70],
    ),
    at(Block::Gpio(1), "gpio1", 0x1E78_0800, GPIO1_SIZE, &[11]),
    at(Block::Rtc, "rtc", 0x1E78_1000, rtc::REGS_SIZE, &[13]),
    at(Block::Hace, "hace", 0x1E6D_0000, hace::REGS_SIZE, &[4]),
    at(Block::Sdc, "sdc", 0x1E74_0000, 0x300, &[43]),
    at(Block::EmmcController, "emmc", 0x1E75_0000, 0x200, &[15]),
    at(
        Block::Lpc,
        "lpc",
        0x1E78_9000,
        lpc::REGS_SIZE,
        &[138, 139, 140, 141, 144],
    ),
    at(
        Block::GicDistributor,
        "gic-dist",
        GIC_DIST,
        gic::GICD_SIZE,
        &[],
    ),
    at(
        Block::GicCpuInterface,
        "gic-cpu",
        GIC_CPU,
        gic::GICC_SIZE,
        &[],
    ),
    at(
        Block::FlashWindow(FMC_),
        "fmc-window",
        FMC_WINDOW,
        FMC_WINDOW_SIZE,
        &[],
    ),
    at(
        Block::FlashWindow(SPI1_),
        "spi1-window",
        SPI1_WINDOW,
        SPI_WINDOW_SIZE,
        &[],
    ),
    at(
        Block::FlashWindow(SPI2_),
        "spi2-window",
        SPI2_WINDOW,
        SPI_WINDOW_SIZE,
        &[],
    ),
];

const GPIO0_SIZE: u64 = gpio::Variant::Ast2600_3v3.regs_size();
const GPIO1_SIZE: u64 = gpio::Variant::Ast2600_1v8.regs_size();

const I2C_IRQS: [u32; 16] = {
    let mut irqs = [0; 16];
    let mut n = 0;
    while n < 16 {
        irqs[n] = spi::I2C0 + n as u32;
        n += 1;
    }
    irqs
};

/// The entry for `block`.
pub fn placement(block: Block) -> Option<&'static Placement> {
    MAP.placement(block)
}

/// The AST2600 as the SoC layer builds it.
pub const MAP: SocMap = SocMap {
    soc: board::Soc::Ast2600,
    cpu: cpu::CpuModel::CortexA7,
    cpu_count: CPU_COUNT,
    cpu0_mpidr: Some(CPU0_MPIDR_AFFINITY),
    smp: Some(SmpMailbox {
        entry: SMP_ENTRY,
        go: SMP_GO,
        signature: SMP_GO_SIGNATURE,
        wait_loop_start: SMP_WAIT_LOOP.start,
        wait_loop_end: SMP_WAIT_LOOP.end,
    }),
    boot_alias: BOOT_ALIAS,
    sram: SRAM,
    sram_size: SRAM_SIZE,
    peripherals: PERIPHERALS,
    peripherals_size: PERIPHERALS_SIZE,
    intc: InterruptController::Gic {
        private: MPCORE,
        private_size: MPCORE_SIZE,
    },
    dram: DRAM,
    dram_window_size: DRAM_WINDOW_SIZE,
    placements: AST2600,
    external_clock_hz: clocks::EXTERNAL_1MHZ,
    apb_hz: clocks::APB,
};

/// Shared peripheral interrupts (GIC ID = 32 + SPI).
pub mod spi {
    /// SDMC.
    pub const SDMC: u32 = 0;
    /// UART5 (console).
    pub const UART5: u32 = 8;
    /// SCU interrupt controller 0.
    pub const SCU_IC0: u32 = 12;
    /// Timer channel 1; channel n raises `TIMER1 + n - 1`.
    pub const TIMER1: u32 = 16;
    /// FMC.
    pub const FMC: u32 = 39;
    /// SCU interrupt controller 1.
    pub const SCU_IC1: u32 = 41;
    /// MAC1..MAC4 (FTGMAC100).
    pub const MACS: [u32; 4] = [2, 3, 32, 33];
    /// I2C bus 0; bus n raises `I2C0 + n`.
    pub const I2C0: u32 = 110;
    /// Both ADC engines (one line: the DT gives `adc0` and `adc1` the same interrupt).
    pub const ADC: u32 = 46;
}

/// The device behind shared peripheral interrupt `n` (for traces): `uart5`, `timer3`, `i2c7`.
pub fn spi_name(n: u32) -> String {
    MAP.irq_name(n)
}

/// GIC interrupt ID of a shared peripheral interrupt.
pub const fn gic_spi(spi: u32) -> u32 {
    32 + spi
}

/// Private peripheral interrupts of the generic timer (GIC IDs).
pub mod ppi {
    /// Secure physical timer (Linux uses this one on the AST2600).
    pub const SECURE_PHYS_TIMER: u32 = 29;
    /// Non-secure physical timer.
    pub const PHYS_TIMER: u32 = 30;
    /// Virtual timer.
    pub const VIRT_TIMER: u32 = 27;
    /// Hypervisor timer.
    pub const HYP_TIMER: u32 = 26;
}

/// The EVB's clocks.
pub mod clocks {
    /// The timer and watchdog reference (external 1 MHz).
    pub const EXTERNAL_1MHZ: u64 = 1_000_000;
    /// APB clock with the EVB straps.
    pub const APB: u64 = 100_000_000;
}
