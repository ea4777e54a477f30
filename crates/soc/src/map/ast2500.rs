//! The AST2500 memory map and interrupt numbers (VIC sources): the one place that knows them.
//! (Its [`MAP`] is the table the SoC is built from.)
//!
//! Sources: Linux `arch/arm/boot/dts/aspeed-g5.dtsi` (wins where sources disagree), QEMU
//! `hw/arm/aspeed_ast2400.c` (`aspeed_soc_ast2500_memmap[]`, the AST2400 irqmap it shares),
//! `docs/ast2500-facts.md`, `../shared/docs/ast2500-facts.md`.

use super::{at, Block, InterruptController, Placement, SocMap};
use board::Controller::{Fmc as FMC_, Spi1 as SPI1_, Spi2 as SPI2_};

/// Boot region: FMC CE0 seen at 0 (the ARM1176 starts executing the flash here).
pub const BOOT_ALIAS: u64 = 0x0000_0000;
/// On-chip SRAM (inside the peripheral window; u-boot's early stack and pre-console buffer).
pub const SRAM: u64 = 0x1E72_0000;
/// SRAM size: 36 KiB (QEMU `sram_size = 0x9000`).
pub const SRAM_SIZE: u64 = 0x9000;
/// Start of the peripheral window that is served register by register.
pub const PERIPHERALS: u64 = 0x1E60_0000;
/// Size of the peripheral window.
pub const PERIPHERALS_SIZE: u64 = 0x20_0000;
/// FMC register block.
pub const FMC: u64 = 0x1E62_0000;
/// VIC block (Linux's registers at +0x80, `vic` node `reg = <0x1e6c0080 0x80>`).
pub const VIC: u64 = 0x1E6C_0000;
/// DRAM controller.
pub const SDMC: u64 = 0x1E6E_0000;
/// System control unit.
pub const SCU: u64 = 0x1E6E_2000;
/// Timer block (8 channels).
pub const TIMER: u64 = 0x1E78_2000;
/// UART5, the boards' console (ttyS4).
pub const UART5: u64 = 0x1E78_4000;
/// Watchdog 1; watchdog n is at `WDT1 + 0x20 * (n - 1)`.
pub const WDT1: u64 = 0x1E78_5000;
/// One watchdog's register block (0x00-0x1C on the AST2500).
pub const WDT_SIZE: u64 = wdt::Variant::Ast2500.regs_size();
/// I2C controller: global registers, 14 buses, buffer pool.
pub const I2C: u64 = 0x1E78_A000;
/// FMC flash window (CE0 starts here).
pub const FMC_WINDOW: u64 = 0x2000_0000;
/// FMC window size.
pub const FMC_WINDOW_SIZE: u64 = 0x1000_0000;
/// SPI1 flash window.
pub const SPI1_WINDOW: u64 = 0x3000_0000;
/// SPI2 flash window.
pub const SPI2_WINDOW: u64 = 0x3800_0000;
/// SPI1 / SPI2 window size.
pub const SPI_WINDOW_SIZE: u64 = 0x0800_0000;
/// SDRAM.
pub const DRAM: u64 = 0x8000_0000;
/// The DRAM decode window (at most 1 GiB: QEMU `max_ram_size`); above the board's size reads
/// return zero, which u-boot's size probe (`ast2500_sdrammc_calc_size`) relies on.
pub const DRAM_WINDOW_SIZE: u64 = 0x4000_0000;

/// VIC sources (Linux `aspeed-g5.dtsi` `interrupts`, QEMU `aspeed_soc_ast2400_irqmap[]`).
pub mod vic {
    /// SDMC.
    pub const SDMC: u32 = 0;
    /// MAC1, MAC2 (`mac0`, `mac1`).
    pub const MACS: [u32; 2] = [2, 3];
    /// HACE.
    pub const HACE: u32 = 4;
    /// The LPC controller and the VUART: KCS, snoop, iBT all OR into one source.
    pub const LPC: u32 = 8;
    /// UART1.
    pub const UART1: u32 = 9;
    /// UART5 (console).
    pub const UART5: u32 = 10;
    /// Every I2C bus (the `i2c_ic` demultiplexes through the global status register).
    pub const I2C: u32 = 12;
    /// Timers 1-3.
    pub const TIMER1_3: [u32; 3] = [16, 17, 18];
    /// FMC.
    pub const FMC: u32 = 19;
    /// GPIO.
    pub const GPIO: u32 = 20;
    /// SCU interrupt controller.
    pub const SCU: u32 = 21;
    /// RTC (QEMU; no `interrupts` in the Linux DT).
    pub const RTC: u32 = 22;
    /// SD controller (both slots).
    pub const SDC: u32 = 26;
    /// ADC (QEMU; no `interrupts` in the Linux DT).
    pub const ADC: u32 = 31;
    /// UART2-UART4.
    pub const UART2_4: [u32; 3] = [32, 33, 34];
    /// Timers 4-8.
    pub const TIMER4_8: [u32; 5] = [35, 36, 37, 38, 39];
    /// SGPIO master.
    pub const SGPIO: u32 = 40;
}

const TIMER_IRQS: [u32; 8] = [
    vic::TIMER1_3[0],
    vic::TIMER1_3[1],
    vic::TIMER1_3[2],
    vic::TIMER4_8[0],
    vic::TIMER4_8[1],
    vic::TIMER4_8[2],
    vic::TIMER4_8[3],
    vic::TIMER4_8[4],
];

/// Every I2C bus raises the one I2C source (a wired OR, built from the repeated number).
const I2C_IRQS: [u32; 14] = [vic::I2C; 14];

/// KCS 1-4 and the snoop share the LPC source.
const LPC_IRQS: [u32; 5] = [vic::LPC; 5];

const GPIO_SIZE: u64 = gpio::Variant::Ast2500.regs_size();

/// The AST2500's devices (Linux `aspeed-g5.dtsi`; QEMU `hw/arm/aspeed_ast2400.c`). The SoC
/// builds every entry; a board adds what sits outside the chip.
pub const AST2500: &[Placement] = &[
    at(Block::Scu, "scu", SCU, 0x1000, &[vic::SCU]),
    at(Block::Sdmc, "sdmc", SDMC, 0x1000, &[vic::SDMC]),
    at(Block::Smc(FMC_), "fmc", FMC, 0x1000, &[vic::FMC]),
    at(Block::Smc(SPI1_), "spi1", 0x1E63_0000, 0x1000, &[]),
    at(Block::Smc(SPI2_), "spi2", 0x1E63_1000, 0x1000, &[]),
    at(Block::Vic, "vic", VIC, ::vic::REGS_SIZE, &[]),
    at(Block::Uart(1), "uart1", 0x1E78_3000, 0x1000, &[vic::UART1]),
    at(
        Block::Uart(2),
        "uart2",
        0x1E78_D000,
        0x1000,
        &[vic::UART2_4[0]],
    ),
    at(
        Block::Uart(3),
        "uart3",
        0x1E78_E000,
        0x1000,
        &[vic::UART2_4[1]],
    ),
    at(
        Block::Uart(4),
        "uart4",
        0x1E78_F000,
        0x1000,
        &[vic::UART2_4[2]],
    ),
    at(Block::Uart(5), "uart5", UART5, 0x1000, &[vic::UART5]),
    at(
        Block::Vuart(1),
        "vuart1",
        0x1E78_7000,
        uart::VUART_REGS_SIZE,
        &[vic::LPC],
    ),
    at(Block::Timer, "timer", TIMER, 0x1000, &TIMER_IRQS),
    at(Block::Wdt(1), "wdt1", WDT1, WDT_SIZE, &[]),
    at(Block::Wdt(2), "wdt2", WDT1 + WDT_SIZE, WDT_SIZE, &[]),
    at(Block::Wdt(3), "wdt3", WDT1 + 2 * WDT_SIZE, WDT_SIZE, &[]),
    at(Block::Mac(1), "mac1", 0x1E66_0000, 0x1000, &[vic::MACS[0]]),
    at(Block::Mac(2), "mac2", 0x1E68_0000, 0x1000, &[vic::MACS[1]]),
    at(Block::I2c, "i2c", I2C, 0x1000, &I2C_IRQS),
    at(
        Block::Adc(0),
        "adc",
        0x1E6E_9000,
        adc::REGS_SIZE,
        &[vic::ADC],
    ),
    at(Block::Gpio(0), "gpio", 0x1E78_0000, GPIO_SIZE, &[vic::GPIO]),
    at(
        Block::Sgpio(0),
        "sgpiom",
        0x1E78_0200,
        sgpio::REGS_SIZE,
        &[vic::SGPIO],
    ),
    at(Block::Rtc, "rtc", 0x1E78_1000, rtc::REGS_SIZE, &[vic::RTC]),
    at(
        Block::Hace,
        "hace",
        0x1E6E_3000,
        hace::REGS_SIZE,
        &[vic::HACE],
    ),
    at(Block::Sdc, "sdc", 0x1E74_0000, 0x300, &[vic::SDC]),
    at(Block::Lpc, "lpc", 0x1E78_9000, lpc::REGS_SIZE, &LPC_IRQS),
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

/// The AST2500's clocks.
pub mod clocks {
    /// The timer and watchdog reference (external 1 MHz).
    pub const EXTERNAL_1MHZ: u64 = 1_000_000;
    /// APB (PCLK) at reset: HPLL 792 MHz / (4 * (SCU08[25:23] + 1)) with the field at 7;
    /// mainline u-boot keeps it. Linux's clock source and clock event count PCLK.
    pub const APB: u64 = 24_750_000;
}

/// The AST2500 as the SoC layer builds it.
pub const MAP: SocMap = SocMap {
    soc: board::Soc::Ast2500,
    cpu: cpu::CpuModel::Arm1176,
    cpu_count: 1,
    cpu0_mpidr: None,
    smp: None,
    boot_alias: BOOT_ALIAS,
    sram: SRAM,
    sram_size: SRAM_SIZE,
    peripherals: PERIPHERALS,
    peripherals_size: PERIPHERALS_SIZE,
    intc: InterruptController::Vic,
    dram: DRAM,
    dram_window_size: DRAM_WINDOW_SIZE,
    placements: AST2500,
    external_clock_hz: clocks::EXTERNAL_1MHZ,
    apb_hz: clocks::APB,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placements_do_not_overlap_and_sit_in_their_windows() {
        let mut ranges: Vec<_> = AST2500
            .iter()
            .map(|p| (p.base, p.base + p.size, p.name))
            .collect();
        ranges.sort();
        for w in ranges.windows(2) {
            assert!(w[0].1 <= w[1].0, "{} overlaps {}", w[0].2, w[1].2);
        }
        for p in AST2500 {
            let in_io = p.base >= PERIPHERALS && p.base + p.size <= PERIPHERALS + PERIPHERALS_SIZE;
            let window = matches!(p.block, Block::FlashWindow(_));
            assert!(in_io || window, "{} outside the peripheral window", p.name);
            assert!(
                !(p.base < SRAM + SRAM_SIZE && SRAM < p.base + p.size),
                "{} overlaps SRAM",
                p.name
            );
        }
    }

    #[test]
    fn interrupt_names_follow_the_table() {
        assert_eq!(MAP.irq_name(vic::UART5), "uart5");
        assert_eq!(MAP.irq_name(17), "timer2");
        assert_eq!(MAP.irq_name(36), "timer5");
        assert_eq!(MAP.irq_name(vic::I2C), "i2c");
        assert_eq!(MAP.irq_name(vic::LPC), "vuart1/lpc");
        assert_eq!(MAP.irq_name(50), "?");
    }
}
