//! The AST2600 memory map and interrupt numbers: the one place that knows them.
//!
//! Sources: Linux `arch/arm/boot/dts/aspeed-g6.dtsi` (wins where sources disagree), QEMU
//! `hw/arm/aspeed_ast2600.c`, `../shared/docs/ast2600-facts.md`.

/// MPIDR affinity of CPU0 (the DT's `cpu@f00`).
pub const CPU0_MPIDR_AFFINITY: u32 = 0xf00;

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
/// UART5, the console (ttyS4).
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
/// The EVB's EEPROM: I2C bus 7, address 0x50 (24C08).
pub const EEPROM_BUS: usize = 7;
/// The EEPROM's first address.
pub const EEPROM_ADDR: u8 = 0x50;
/// The EVB's temperature sensor: I2C bus 8, address 0x4D (LM75 in the DT).
pub const TEMP_SENSOR_BUS: usize = 8;
/// The sensor's address.
pub const TEMP_SENSOR_ADDR: u8 = 0x4d;
/// A TMP421 (docs/adding-a-device.md): I2C bus 9, 0x4C. Not in the EVB device tree, whose
/// bus 9 is enabled and empty; 0x4C is a TMP421 strap address. Linux binds it on request.
pub const TMP421_SENSOR: (usize, u8) = (9, 0x4c);
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
}

/// The device behind shared peripheral interrupt `n` (for traces).
pub fn spi_name(n: u32) -> String {
    match n {
        spi::SDMC => "sdmc".into(),
        spi::UART5 => "uart5".into(),
        spi::SCU_IC0 => "scu-ic0".into(),
        spi::SCU_IC1 => "scu-ic1".into(),
        spi::FMC => "fmc".into(),
        n if (spi::TIMER1..spi::TIMER1 + aspeed_timer::CHANNELS as u32).contains(&n) => {
            format!("timer{}", n - spi::TIMER1 + 1)
        }
        n if (spi::I2C0..spi::I2C0 + i2c::BUS_COUNT as u32).contains(&n) => {
            format!("i2c{}", n - spi::I2C0)
        }
        n => match spi::MACS.iter().position(|&m| m == n) {
            Some(i) => format!("mac{}", i + 1),
            None => "?".into(),
        },
    }
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
