//! AST2600 SCU register offsets, keys and bit fields.
//!
//! Offsets follow u-boot's `struct ast2600_scu` (`arch/arm/include/asm/arch-aspeed/scu_ast2600.h`),
//! QEMU's `hw/misc/aspeed_scu.c` (`AST2600_*` macros) and Linux's `drivers/clk/clk-ast2600.c`.
//! The AST2500's register file (a different layout) is in [`ast2500`]; the unlock key is shared.

pub mod ast2500;

/// Size of the SCU register block in bytes.
pub const SCU_BLOCK_SIZE: u64 = 0x1000;

/// SCU000 protection key 1 (`prot_key1`); writing [`SCU_UNLOCK_KEY`] unlocks, anything else locks.
pub const PROT_KEY1: u64 = 0x000;
/// SCU004 silicon revision ID 1 (`chip_id1` in u-boot, `AST2600_SILICON_REV` in QEMU).
pub const SILICON_REV1: u64 = 0x004;
/// SCU010 protection key 2 (`prot_key2`, QEMU `AST2600_PROT_KEY2`).
pub const PROT_KEY2: u64 = 0x010;
/// SCU014 silicon revision ID 2 (`chip_id2`, Linux `ASPEED_G6_SILICON_REV`).
pub const SILICON_REV2: u64 = 0x014;
/// SCU040 module reset control 1, write 1 to set (`modrst_ctrl1`, Linux `ASPEED_G6_RESET_CTRL`).
pub const SYS_RST_CTRL1: u64 = 0x040;
/// SCU044 module reset control 1, write 1 to clear (`modrst_clr1`).
pub const SYS_RST_CLR1: u64 = 0x044;
/// SCU050 module reset control 2, write 1 to set (`modrst_ctrl2`, Linux `ASPEED_G6_RESET_CTRL2`).
pub const SYS_RST_CTRL2: u64 = 0x050;
/// SCU054 module reset control 2, write 1 to clear (`modrst_clr2`).
pub const SYS_RST_CLR2: u64 = 0x054;
/// SCU060 external reset selection 1 (`extrst_sel1`).
pub const EXTRST_SEL1: u64 = 0x060;
/// SCU064..SCU06C system reset status 1 (`sysrst_sts1_1..3`).
pub const SYSRST_STATUS1: u64 = 0x064;
/// SCU070 external reset selection 2 (`extrst_sel2`).
pub const EXTRST_SEL2: u64 = 0x070;
/// SCU074..SCU07C system reset status 2 (`sysrst_sts2_1..3`).
pub const SYSRST_STATUS2: u64 = 0x074;
/// SCU080 clock stop control 1, write 1 to set (`clkgate_ctrl1`, Linux `ASPEED_G6_CLK_STOP_CTRL`).
pub const CLK_STOP_CTRL1: u64 = 0x080;
/// SCU084 clock stop control 1, write 1 to clear (`clkgate_clr1`).
pub const CLK_STOP_CLR1: u64 = 0x084;
/// SCU090 clock stop control 2, write 1 to set (`clkgate_ctrl2`, Linux `ASPEED_G6_CLK_STOP_CTRL2`).
pub const CLK_STOP_CTRL2: u64 = 0x090;
/// SCU094 clock stop control 2, write 1 to clear (`clkgate_clr2`).
pub const CLK_STOP_CLR2: u64 = 0x094;
/// SCU0C0 misc control 1 (`misc_ctrl1`, Linux `ASPEED_G6_MISC_CTRL`; bit 12 UART5 div13).
pub const MISC_CTRL1: u64 = 0x0C0;
/// SCU0C4 misc control 2 (`misc_ctrl2`).
pub const MISC_CTRL2: u64 = 0x0C4;
/// SCU0C8 debug control 1 (`debug_ctrl1`, QEMU `AST2600_DEBUG_CTRL`).
pub const DEBUG_CTRL1: u64 = 0x0C8;
/// SCU0D0 misc control 3 (`misc_ctrl3`).
pub const MISC_CTRL3: u64 = 0x0D0;
/// SCU0D4 misc control 4 (`misc_ctrl4`).
pub const MISC_CTRL4: u64 = 0x0D4;
/// SCU0D8 debug control 2 (`debug_ctrl2`, QEMU `AST2600_DEBUG_CTRL2`).
pub const DEBUG_CTRL2: u64 = 0x0D8;
/// SCU100 DRAM handshake (`dram_hdshk`, QEMU `AST2600_SDRAM_HANDSHAKE`).
pub const DRAM_HANDSHAKE: u64 = 0x100;
/// SCU104..SCU10C SoC scratch registers (`soc_scratch[3]`).
pub const SOC_SCRATCH: u64 = 0x104;
/// SCU120 CPU scratch write protection (`cpu_scratch_wp`).
pub const CPU_SCRATCH_WP: u64 = 0x120;
/// SCU180 SMP mailbox: entry address (u-boot `AST_SMP_MBOX_FIELD_ENTRY`, DT `smp-memram@180`).
pub const SMP_MAILBOX_ENTRY: u64 = 0x180;
/// SCU184 SMP mailbox: go signal, `0xABBAAB00 | cpu` (u-boot `AST_SMP_MBOX_FIELD_GOSIGN`).
pub const SMP_MAILBOX_GO: u64 = 0x184;
/// SCU188 SMP mailbox: ready signal `0xBABECAFE` (u-boot `AST_SMP_MBOX_FIELD_READY`).
pub const SMP_MAILBOX_READY: u64 = 0x188;
/// SCU18C SMP mailbox: polling instructions copied by u-boot (`AST_SMP_MBOX_FIELD_POLLINSN`).
pub const SMP_MAILBOX_POLL_INSN: u64 = 0x18C;
/// SCU1B0..SCU1FC CPU scratch registers (`cpu_scratch[20]`).
pub const CPU_SCRATCH: u64 = 0x1B0;
/// SCU200 H-PLL parameter (`hpll`, Linux `ASPEED_HPLL_PARAM`).
pub const HPLL_PARAM: u64 = 0x200;
/// SCU204 H-PLL extended parameter; bit 31 = locked (`hpll_ext`).
pub const HPLL_EXT: u64 = 0x204;
/// SCU210 A-PLL parameter (`apll`, Linux `ASPEED_APLL_PARAM`).
pub const APLL_PARAM: u64 = 0x210;
/// SCU214 A-PLL extended parameter; bit 31 = locked (`apll_ext`).
pub const APLL_EXT: u64 = 0x214;
/// SCU220 M-PLL parameter, the DRAM clock (`mpll`, Linux `ASPEED_MPLL_PARAM`).
pub const MPLL_PARAM: u64 = 0x220;
/// SCU224 M-PLL extended parameter; bit 31 = locked (`mpll_ext`).
pub const MPLL_EXT: u64 = 0x224;
/// SCU240 E-PLL parameter (`epll`, Linux `ASPEED_EPLL_PARAM`).
pub const EPLL_PARAM: u64 = 0x240;
/// SCU244 E-PLL extended parameter; bit 31 = locked (`epll_ext`).
pub const EPLL_EXT: u64 = 0x244;
/// SCU260 D-PLL parameter (`dpll`, Linux `ASPEED_DPLL_PARAM`).
pub const DPLL_PARAM: u64 = 0x260;
/// SCU264 D-PLL extended parameter; bit 31 = locked (`dpll_ext`).
pub const DPLL_EXT: u64 = 0x264;
/// SCU300 clock selection 1 (`clksrc1`, Linux `ASPEED_G6_CLK_SELECTION1`).
pub const CLK_SEL1: u64 = 0x300;
/// SCU304 clock selection 2 (`clksrc2`, Linux `ASPEED_G6_CLK_SELECTION2`).
pub const CLK_SEL2: u64 = 0x304;
/// SCU308 clock selection 3 (`clksrc3`).
pub const CLK_SEL3: u64 = 0x308;
/// SCU310 clock selection 4 (`clksrc4`, Linux `ASPEED_G6_CLK_SELECTION4`).
pub const CLK_SEL4: u64 = 0x310;
/// SCU314 clock selection 5 (`clksrc5`).
pub const CLK_SEL5: u64 = 0x314;
/// SCU320 frequency counter control 1 (`freq_counter_ctrl1`).
pub const FREQ_COUNTER_CTRL1: u64 = 0x320;
/// SCU324 frequency counter compare 1 (`freq_counter_cmp1`).
pub const FREQ_COUNTER_CMP1: u64 = 0x324;
/// SCU330 frequency counter control 2 (`freq_counter_ctrl2`).
pub const FREQ_COUNTER_CTRL2: u64 = 0x330;
/// SCU334 frequency counter compare 2 (`freq_counter_cmp2`).
pub const FREQ_COUNTER_CMP2: u64 = 0x334;
/// SCU338 UART 24 MHz reference UXCLK generator (`uart_clkgen`, QEMU `AST2600_UARTCLK`).
pub const UART_CLKGEN: u64 = 0x338;
/// SCU33C UART HUXCLK generator (`huart_clkgen`, QEMU `AST2600_HUARTCLK`).
pub const HUART_CLKGEN: u64 = 0x33C;
/// SCU340..SCU34C MAC1/2 clock delay (`mac12_clk_delay*`, Linux `ASPEED_MAC12_CLK_DLY`).
pub const MAC12_CLK_DELAY: u64 = 0x340;
/// SCU350..SCU35C MAC3/4 clock delay (`mac34_clk_delay*`, Linux `ASPEED_MAC34_CLK_DLY`).
pub const MAC34_CLK_DELAY: u64 = 0x350;
/// SCU360..SCU374 clock duty measurement (`clkduty_*`).
pub const CLK_DUTY: u64 = 0x360;
/// SCU400..SCU4FC multi-function pin control (`pinmux1..23`).
pub const PINMUX: u64 = 0x400;
/// SCU500 hardware strap 1; write 1 to set (`hwstrap1`, Linux `ASPEED_G6_STRAP1`).
pub const HW_STRAP1: u64 = 0x500;
/// SCU504 hardware strap 1, write 1 to clear (`hwstrap_clr1`).
pub const HW_STRAP1_CLR: u64 = 0x504;
/// SCU508 hardware strap 1 write-protection mask (`hwstrap_prot1`).
pub const HW_STRAP1_PROT: u64 = 0x508;
/// SCU510 hardware strap 2; write 1 to set (`hwstrap2`).
pub const HW_STRAP2: u64 = 0x510;
/// SCU514 hardware strap 2, write 1 to clear (`hwstrap_clr2`).
pub const HW_STRAP2_CLR: u64 = 0x514;
/// SCU518 hardware strap 2 write-protection mask (`hwstrap_prot2`).
pub const HW_STRAP2_PROT: u64 = 0x518;
/// SCU520 random number generator control (`rng_ctrl`).
pub const RNG_CTRL: u64 = 0x520;
/// SCU524 random number generator data (`rng_data`; Linux DT `hwrng@1e6e2524`, `timeriomem_rng`).
pub const RNG_DATA: u64 = 0x524;
/// SCU540..SCU554 power-save wake-up enable/control (`pwr_save_wakeup_*`).
pub const WAKEUP: u64 = 0x540;
/// SCU560 SCU interrupt controller 0 control/status (Linux `ASPEED_AST2600_SCU_IC0_REG`).
pub const SCU_IC0: u64 = 0x560;
/// SCU570 SCU interrupt controller 1 control/status (Linux `ASPEED_AST2600_SCU_IC1_REG`).
pub const SCU_IC1: u64 = 0x570;
/// SCU590 OTP control (`otp_ctrl`).
pub const OTP_CTRL: u64 = 0x590;
/// SCU594 eFuse data; bit 14 disables VGA (`efuse`, u-boot `SCU_EFUSE_DIS_VGA`).
pub const EFUSE: u64 = 0x594;
/// SCU5B0..SCU5CC chip unique ID (`chip_unique_id[8]`, QEMU `AST2600_CHIP_ID0/1`).
pub const CHIP_ID: u64 = 0x5B0;
/// SCU610..SCU63C GPIO input pull-down disable (`disgpio_in_pull_down*`).
pub const GPIO_PULL_DOWN_DISABLE: u64 = 0x610;
/// SCU650 SLI driving strength (`sli_driving_strength`).
pub const SLI_DRIVING: u64 = 0x650;
/// SCU800..SCU80C Cortex-A7 control (`ca7_ctrl1..4`).
pub const CA7_CTRL: u64 = 0x800;
/// SCU820 Cortex-A7 cache/SRAM parity check (`ca7_parity_chk`).
pub const CA7_PARITY_CHK: u64 = 0x820;
/// SCU824 Cortex-A7 parity status clear (`ca7_parity_clr`).
pub const CA7_PARITY_CLR: u64 = 0x824;
/// SCUA00..SCUA48 Cortex-M3 coprocessor control (`cm3_*`).
pub const CM3_CTRL: u64 = 0xA00;
/// SCUC00..SCUC64 PCIe/host configuration and MMIO decode (`pci_cfg`, `mmio_decode`, ...).
pub const PCI_CONFIG: u64 = 0xC00;
/// SCUE00..SCUE2C VGA scratch registers (`vga_scratch1..8`).
pub const VGA_SCRATCH: u64 = 0xE00;
/// SCUF00..SCUF60 register write protection (`wr_prot1..16`).
pub const WRITE_PROTECT: u64 = 0xF00;

/// Key that unlocks the SCU, on the AST2600 and the AST2500 alike (u-boot `SCU_UNLOCK_KEY` /
/// `SCU_UNLOCK_VALUE`, QEMU `ASPEED_SCU_PROT_KEY`).
pub const SCU_UNLOCK_KEY: u32 = 0x1688_A8A8;
/// Silicon revision of an AST2600-A3 (QEMU `AST2600_A3_SILICON_REV`).
pub const AST2600_A3_SILICON_REV: u32 = 0x0503_0303;

/// PLL extended register bit 31: PLL locked (u-boot `ast2600_configure_pll` polls it).
pub const PLL_EXT_LOCKED: u32 = 1 << 31;
/// SCU100 bit 6: DRAM initialised (u-boot `SCU_DRAM_HDSHK_RDY` / `SCU_SDRAM_INIT_READY_MASK`).
pub const DRAM_HANDSHAKE_READY: u32 = 1 << 6;
/// SCU100 bit 7: DRAM initialised by the SoC (u-boot `SCU_DRAM_HDSHK_SOC_INIT`).
pub const DRAM_HANDSHAKE_SOC_INIT: u32 = 1 << 7;

/// SCU IC registers: the enable bits live in bits 15:0 (Linux `irq-aspeed-scu-ic.c`).
pub const SCU_IC_ENABLE_MASK: u32 = 0x0000_FFFF;
/// SCU IC registers: status bit n+16 belongs to enable bit n, write 1 to clear
/// (Linux `ASPEED_SCU_IC_STATUS_SHIFT`).
pub const SCU_IC_STATUS_SHIFT: u32 = 16;
