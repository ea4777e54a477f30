//! AST2500 SCU register offsets, keys and bit fields.
//!
//! The AST2500 keeps the AST2400 layout: one register file from SCU00 to SCU1DC. Offsets follow
//! u-boot v2023.01's `struct ast2500_scu` (`arch/arm/include/asm/arch-aspeed/scu_ast2500.h`),
//! QEMU's `hw/misc/aspeed_scu.c` (the un-prefixed macros, `ast2500_a1_resets`) and Linux's
//! `drivers/clk/clk-aspeed.c` / `irq-aspeed-scu-ic.c` / `aspeed-g5.dtsi`.

/// SCU00 protection key (`protection_key`, QEMU `PROT_KEY`): writing
/// [`super::SCU_UNLOCK_KEY`] unlocks (reads 1), any other value locks (reads 0).
pub const PROT_KEY: u64 = 0x00;
/// SCU04 system reset control: bit set = module held in reset (`sysreset_ctrl1`, QEMU
/// `SYS_RST_CTRL`, Linux `ASPEED_RESET_CTRL`).
pub const SYS_RST_CTRL: u64 = 0x04;
/// SCU08 clock selection: PCLK divider 25:23, MAC divider 18:16, SDCLK divider 14:12
/// (`clk_sel1`, QEMU `CLK_SEL`, Linux `ASPEED_CLK_SELECTION`).
pub const CLK_SEL: u64 = 0x08;
/// SCU0C clock stop control: bit set = clock stopped (`clk_stop_ctrl1`, QEMU `CLK_STOP_CTRL`,
/// Linux `ASPEED_CLK_STOP_CTRL`).
pub const CLK_STOP_CTRL: u64 = 0x0C;
/// SCU10 frequency counter control (`freq_counter_ctrl`, QEMU `FREQ_CNTR_CTRL`).
pub const FREQ_CNTR_CTRL: u64 = 0x10;
/// SCU14 frequency counter result, read only (`freq_counter_cmp`, QEMU `FREQ_CNTR_EVAL`).
pub const FREQ_CNTR_EVAL: u64 = 0x14;
/// SCU18 SCU interrupt control/status: enables in 6:0, status in 22:16, write 1 to clear
/// (`intr_ctrl`, QEMU `IRQ_CTRL`, Linux `ASPEED_SCU_IC_REG`, DT `interrupt-controller@18`).
pub const IRQ_CTRL: u64 = 0x18;
/// SCU1C D2-PLL parameter (`d2_pll_param`, QEMU `D2PLL_PARAM`).
pub const D2PLL_PARAM: u64 = 0x1C;
/// SCU20 M-PLL parameter, the DRAM clock: M 12:5, N 4:0, P 18:13 (`m_pll_param`, QEMU
/// `MPLL_PARAM`, Linux `ASPEED_MPLL_PARAM`).
pub const MPLL_PARAM: u64 = 0x20;
/// SCU24 H-PLL parameter, the CPU clock; same fields as M-PLL, bit 20 bypass, bit 19 off
/// (`h_pll_param`, QEMU `HPLL_PARAM`, Linux `ASPEED_HPLL_PARAM`).
pub const HPLL_PARAM: u64 = 0x24;
/// SCU28 D-PLL parameter (`d_pll_param` in u-boot; QEMU calls it `FREQ_CNTR_RANGE`).
pub const DPLL_PARAM: u64 = 0x28;
/// SCU2C misc control 1: bit 12 UART clock /13, bit 4 D2-PLL off (`misc_ctrl1`, QEMU
/// `MISC_CTRL1`, Linux `ASPEED_MISC_CTRL`).
pub const MISC_CTRL1: u64 = 0x2C;
/// SCU30..SCU38 PCI configuration 1..3 (`pci_config[3]`, QEMU `PCI_CTRL1..3`).
pub const PCI_CTRL1: u64 = 0x30;
/// SCU34 PCI configuration 2 (`pci_config[1]`, QEMU `PCI_CTRL2`).
pub const PCI_CTRL2: u64 = 0x34;
/// SCU38 PCI configuration 3 (`pci_config[2]`, QEMU `PCI_CTRL3`).
pub const PCI_CTRL3: u64 = 0x38;
/// SCU3C system reset status (`sysreset_status`, QEMU `SYS_RST_STATUS`).
pub const SYS_RST_STATUS: u64 = 0x3C;
/// SCU40 SoC scratch 1 / VGA handshake 0: the DRAM-init handshake bits
/// (`vga_handshake[0]`, QEMU `SOC_SCRATCH1`, u-boot lowlevel_init `SCU_VGA_HANDSHAKE`).
pub const SOC_SCRATCH1: u64 = 0x40;
/// SCU44 SoC scratch 2 / VGA handshake 1 (`vga_handshake[1]`, QEMU `SOC_SCRATCH2`).
pub const SOC_SCRATCH2: u64 = 0x44;
/// SCU48 MAC interface clock delay (`mac_clk_delay`, QEMU `MAC_CLK_DELAY`).
pub const MAC_CLK_DELAY: u64 = 0x48;
/// SCU4C misc control 2: bit 24 + n selects 192 MHz for UART n+1 (`misc_ctrl2`, QEMU
/// `MISC_CTRL2`).
pub const MISC_CTRL2: u64 = 0x4C;
/// SCU50..SCU6C VGA scratch 1..8, written by the host side; read only here (`vga_scratch[8]`,
/// QEMU `VGA_SCRATCH1..8`).
pub const VGA_SCRATCH: u64 = 0x50;
/// SCU6C last VGA scratch register (QEMU `VGA_SCRATCH8`).
pub const VGA_SCRATCH_END: u64 = 0x6C;
/// SCU70 hardware strap 1: reads the strap pins; a write sets bits (`hwstrap`, QEMU
/// `HW_STRAP1`, Linux `ASPEED_STRAP`).
pub const HW_STRAP1: u64 = 0x70;
/// SCU74 random number generator control (`rng_ctrl`, QEMU `RNG_CTRL`).
pub const RNG_CTRL: u64 = 0x74;
/// SCU78 random number generator data, a new number on every read (`rng_data`, QEMU
/// `RNG_DATA`; aspeed-g5.dtsi `hwrng@1e6e2078`, `timeriomem_rng`).
pub const RNG_DATA: u64 = 0x78;
/// SCU7C silicon revision (read); a write clears the strap bits written (`rev_id`, QEMU
/// `SILICON_REV`, u-boot lowlevel_init `SCU_HW_STRAP_CLR`, DT `silicon-id@7c`).
pub const SILICON_REV: u64 = 0x7C;
/// SCU80..SCU94 multi-function pin control 1..6 (`pinmux_ctrl[6]`, QEMU `PINMUX_CTRL1..6`).
pub const PINMUX_CTRL1: u64 = 0x80;
/// SCU84 multi-function pin control 2 (QEMU `PINMUX_CTRL2`).
pub const PINMUX_CTRL2: u64 = 0x84;
/// SCU88 multi-function pin control 3 (QEMU `PINMUX_CTRL3`).
pub const PINMUX_CTRL3: u64 = 0x88;
/// SCU8C multi-function pin control 4 (QEMU `PINMUX_CTRL4`).
pub const PINMUX_CTRL4: u64 = 0x8C;
/// SCU90 multi-function pin control 5 (QEMU `PINMUX_CTRL5`).
pub const PINMUX_CTRL5: u64 = 0x90;
/// SCU94 multi-function pin control 6 (QEMU `PINMUX_CTRL6`).
pub const PINMUX_CTRL6: u64 = 0x94;
/// SCU9C watchdog reset / external reset selection (QEMU `WDT_RST_CTRL`, u-boot `extrst_sel`).
pub const WDT_RST_CTRL: u64 = 0x9C;
/// SCUA0..SCUAC multi-function pin control 7..10 (`pinmux_ctrl1[4]`, QEMU `PINMUX_CTRL7..9`).
pub const PINMUX_CTRL7: u64 = 0xA0;
/// SCUA4 multi-function pin control 8 (QEMU `PINMUX_CTRL8`).
pub const PINMUX_CTRL8: u64 = 0xA4;
/// SCUA8 multi-function pin control 9 (QEMU `PINMUX_CTRL9`).
pub const PINMUX_CTRL9: u64 = 0xA8;
/// SCUAC multi-function pin control 10 (`pinmux_ctrl1[3]`).
pub const PINMUX_CTRL10: u64 = 0xAC;
/// SCUB8 MAC clock delay for 100 Mb/s (`mac_clk_delay_100M`).
pub const MAC_CLK_DELAY_100M: u64 = 0xB8;
/// SCUBC MAC clock delay for 10 Mb/s (`mac_clk_delay_10M`).
pub const MAC_CLK_DELAY_10M: u64 = 0xBC;
/// SCUC0 wake-up enable (`wakeup_enable`, QEMU `WAKEUP_EN`).
pub const WAKEUP_EN: u64 = 0xC0;
/// SCUC4 wake-up control (`wakeup_control`, QEMU `WAKEUP_CTRL`).
pub const WAKEUP_CTRL: u64 = 0xC4;
/// SCUD0 hardware strap 2 (QEMU `HW_STRAP2`).
pub const HW_STRAP2: u64 = 0xD0;
/// SCUD4 system reset control 2, resets 32 and up (`sysreset_ctrl2`).
pub const SYS_RST_CTRL2: u64 = 0xD4;
/// SCUD8 clock selection 2: BCLK divider 1:0 (`clk_sel2`, Linux `ASPEED_CLK_SELECTION_2`).
pub const CLK_SEL2: u64 = 0xD8;
/// SCUDC clock stop control 2 (`clk_stop_ctrl2`).
pub const CLK_STOP_CTRL2: u64 = 0xDC;
/// SCUE0 free-running counter, read only (`freerun_counter`, QEMU `FREE_CNTR4`).
pub const FREE_CNTR4: u64 = 0xE0;
/// SCUE4 free-running counter extension, read only (`freerun_counter_ext`, QEMU
/// `FREE_CNTR4_EXT`).
pub const FREE_CNTR4_EXT: u64 = 0xE4;
/// SCUE8 clock duty measurement control (`clk_duty_meas_ctrl`).
pub const CLK_DUTY_MEAS_CTRL: u64 = 0xE8;
/// SCUEC clock duty measurement result (`clk_duty_meas_res`).
pub const CLK_DUTY_MEAS_RES: u64 = 0xEC;
/// SCU100 coprocessor (CPU2) control, the first register the key does not protect
/// (`cpu2.ctrl`, "The next registers are not key-protected"; QEMU `CPU2_CTRL`).
pub const CPU2_CTRL: u64 = 0x100;
/// SCU104..SCU124 coprocessor base address segments (`cpu2.base_addr[9]`, QEMU
/// `CPU2_BASE_SEG1..5`).
pub const CPU2_BASE_SEG1: u64 = 0x104;
/// SCU110 coprocessor base segment 4 (QEMU `CPU2_BASE_SEG4`).
pub const CPU2_BASE_SEG4: u64 = 0x110;
/// SCU114 coprocessor base segment 5 (QEMU `CPU2_BASE_SEG5`).
pub const CPU2_BASE_SEG5: u64 = 0x114;
/// SCU128 coprocessor cache control (`cpu2.cache_ctrl`, QEMU `CPU2_CACHE_CTRL`).
pub const CPU2_CACHE_CTRL: u64 = 0x128;
/// SCU130..SCU138 D-PLL extended parameters (`d_pll_ext_param[3]`).
pub const DPLL_EXT_PARAM: u64 = 0x130;
/// SCU13C..SCU144 D2-PLL extended parameters; u-boot's D2-PLL setup writes the first
/// (`d2_pll_ext_param[3]`).
pub const D2PLL_EXT_PARAM: u64 = 0x13C;
/// SCU148 M/H-PLL extended parameter (`mh_pll_ext_param`).
pub const MHPLL_EXT_PARAM: u64 = 0x148;
/// SCU150 chip unique ID, first word, read only (`chip_id[2]`, QEMU `CHIP_ID0/1`, DT
/// `silicon-id@7c` second range).
pub const CHIP_ID: u64 = 0x150;
/// SCU154 chip unique ID, second word, read only (`chip_id[1]`, QEMU `CHIP_ID1`).
pub const CHIP_ID_HIGH: u64 = 0x154;
/// SCU160 UART clock from H-PLL (`uart_clk_ctrl`, QEMU `UART_HPLL_CLK`).
pub const UART_HPLL_CLK: u64 = 0x160;
/// SCU180 PCIe configuration (`pcie_config`, QEMU `PCIE_CTRL`).
pub const PCIE_CTRL: u64 = 0x180;
/// SCU184 BMC MMIO decode (`mmio_decode`, QEMU `BMC_MMIO_CTRL`).
pub const BMC_MMIO_CTRL: u64 = 0x184;
/// SCU188/SCU18C relocation decode bases (`reloc_ctrl_decode[2]`, QEMU `RELOC_DECODE_BASE1/2`).
pub const RELOC_DECODE_BASE: u64 = 0x188;
/// SCU190 mailbox decode base (`mailbox_addr`, QEMU `MAILBOX_DECODE_BASE`).
pub const MAILBOX_DECODE_BASE: u64 = 0x190;
/// SCU194/SCU198 shared SRAM decode bases (`shared_sram_decode[2]`, QEMU `SRAM_DECODE_BASE1/2`).
pub const SRAM_DECODE_BASE: u64 = 0x194;
/// SCU19C BMC revision ID (`bmc_rev_id`, QEMU `BMC_REV`).
pub const BMC_REV: u64 = 0x19C;
/// SCU1A4 BMC device ID (`bmc_device_id`, QEMU `BMC_DEV_ID`).
pub const BMC_DEV_ID: u64 = 0x1A4;
/// SCU1DC clock duty selection, written by u-boot's MAC clock setup (`clk_duty_sel`,
/// `ast2500_configure_mac`).
pub const CLK_DUTY_SEL: u64 = 0x1DC;

/// Silicon revision of an AST2500-A1 (QEMU `AST2500_A1_SILICON_REV`).
pub const AST2500_A1_SILICON_REV: u32 = 0x0401_0303;

/// SCU40 bit 6: the SoC completed DRAM init (QEMU's reset value 0xC0, "SoC completed DRAM
/// init"; Aspeed SDK-style firmware skips DRAM training when it is set).
pub const SOC_SCRATCH1_DRAM_INIT_DONE: u32 = 1 << 6;
/// SCU40 bit 7: BMC firmware is the DRAM initialiser (u-boot lowlevel_init "set BMC FW as DRAM
/// initializer").
pub const SOC_SCRATCH1_BMC_DRAM_INIT: u32 = 1 << 7;

/// SCU04 bit 0: SDRAM (and watchdog) reset (u-boot `SCU_SYSRESET_SDRAM_WDT`,
/// `ASPEED_RESET_SDRAM`).
pub const SYS_RST_SDRAM_WDT: u32 = 1 << 0;

/// SCU70 bit 0: disable CPU boot (QEMU `SCU_AST2500_HW_STRAP_DIS_BOOT`).
pub const STRAP_DISABLE_CPU_BOOT: u32 = 1 << 0;
/// SCU70 bit 1: reserved, reads 1 (QEMU `SCU_AST2500_HW_STRAP_RESERVED1`).
pub const STRAP_RESERVED1: u32 = 1 << 1;
/// SCU70 bits 3:2: VGA memory, 8 MiB << field (u-boot `SCU_HWSTRAP_VGAMEM_MASK`).
pub const STRAP_VGA_MEM_MASK: u32 = 0x3 << 2;
/// SCU70 bit 6: MAC1 RGMII (u-boot `SCU_HWSTRAP_MAC1_RGMII`).
pub const STRAP_MAC1_RGMII: u32 = 1 << 6;
/// SCU70 bit 7: MAC2 RGMII (u-boot `SCU_HWSTRAP_MAC2_RGMII`).
pub const STRAP_MAC2_RGMII: u32 = 1 << 7;
/// SCU70 bits 11:9: AXI/AHB ratio, HCLK = HPLL / (2 * (field + 1)) (u-boot
/// `SCU_HWSTRAP_AXIAHB_DIV_MASK`, Linux `aspeed_ast2500_cc`).
pub const STRAP_AXI_AHB_RATIO_MASK: u32 = 0x7 << 9;
/// SCU70 bit 14: LPC dedicated reset pin; u-boot clears it (through SCU7C) in eSPI mode.
pub const STRAP_LPC_RESET_PIN: u32 = 1 << 14;
/// SCU70 bit 17: second boot watchdog (QEMU `SCU_HW_STRAP_2ND_BOOT_WDT`).
pub const STRAP_2ND_BOOT_WDT: u32 = 1 << 17;
/// SCU70 bit 23: CLKIN is 25 MHz, else 24 MHz (u-boot `SCU_HWSTRAP_CLKIN_25MHZ`, Linux
/// `CLKIN_25MHZ_EN`).
pub const STRAP_CLKIN_25MHZ: u32 = 1 << 23;
/// SCU70 bit 24: DDR4 SDRAM; u-boot's DRAM init refuses DDR3 without it (u-boot
/// `SCU_HWSTRAP_DDR4`).
pub const STRAP_DDR4: u32 = 1 << 24;
/// SCU70 bit 25: eSPI mode (u-boot lowlevel_init tests it).
pub const STRAP_ESPI: u32 = 1 << 25;
/// SCU70 bit 27: fast reset for the ICE debugger, a watchdog reset mode; 0 on every board
/// (QEMU `SCU_AST2500_HW_STRAP_FAST_RESET_DBG`).
pub const STRAP_FAST_RESET_DBG: u32 = 1 << 27;
/// SCU70 bit 29: debug UART is UART5 (QEMU `SCU_AST2500_HW_STRAP_UART_DEBUG`).
pub const STRAP_UART_DEBUG_UART5: u32 = 1 << 29;

/// SCU18 enable bits of the seven SCU interrupt sources (Linux `ASPEED_SCU_IC_ENABLE`).
pub const IRQ_CTRL_ENABLE_MASK: u32 = 0x7F;

/// Size of the register file QEMU models (`ASPEED_SCU_NR_REGS` * 4 for the AST2400/2500);
/// u-boot also writes SCU1DC, which this model accepts too.
pub const QEMU_REGS_SIZE: u64 = 0x1A8;
