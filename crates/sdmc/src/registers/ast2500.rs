//! AST2500 SDMC register offsets and bit fields.
//!
//! Offsets follow u-boot v2023.01's `struct ast2500_sdrammc_regs` and `struct ast2500_ddr_phy`
//! (`arch/arm/include/asm/arch-aspeed/sdram_ast2500.h`, `drivers/ram/aspeed/sdram_ast2500.c`)
//! and QEMU's `hw/misc/aspeed_sdmc.c` (`aspeed_2500_sdmc_*`); the PHY region is the second range
//! of u-boot's `aspeed,ast2500-sdrammc` node (`reg = <0x1e6e0000 0x174 0x1e6e0200 0x1d4>`).
//! The unlock key is the AST2600's, [`super::SDRAM_UNLOCK_KEY`]; there is no hard lock.

/// MCR00 protection key (`protection_key`, QEMU `R_PROT`): the key unlocks (reads 1), any other
/// value locks (reads 0).
pub const PROT_KEY: u64 = 0x00;
/// MCR04 configuration: capacity 1:0, DDR4 4, scrambling 8/9, cache 10/12/19 (`config`, QEMU
/// `R_CONF`).
pub const CONFIG: u64 = 0x04;
/// MCR08 graphics memory protection key; u-boot writes `SDRAM_VIDEO_UNLOCK_KEY`
/// (`gm_protection_key`).
pub const GM_PROT_KEY: u64 = 0x08;
/// MCR0C refresh timing: cycles 3:0, ZQCS 7, period 15:8 (`refresh_timing`).
pub const REFRESH_TIMING: u64 = 0x0C;
/// MCR10..MCR18 AC timing; MCR14 bits 7:0 are tRFC, set by the size probe (`ac_timing[3]`).
pub const AC_TIMING: u64 = 0x10;
/// MCR1C misc control: bit 3 DDR4 refresh (`misc_control`, `SDRAM_MISC_DDR4_TREFRESH`).
pub const MISC_CONTROL: u64 = 0x1C;
/// MCR20 DDR4 MR4/MR6 mode setting (`mr46_mode_setting`).
pub const MR46_MODE: u64 = 0x20;
/// MCR24 DDR4 MR5 mode setting (`mr5_mode_setting`).
pub const MR5_MODE: u64 = 0x24;
/// MCR28 mode setting control (`mode_setting_control`).
pub const MODE_SETTING_CONTROL: u64 = 0x28;
/// MCR2C DDR4 MR0/MR2 mode setting (`mr02_mode_setting`).
pub const MR02_MODE: u64 = 0x2C;
/// MCR30 DDR4 MR1/MR3 mode setting (`mr13_mode_setting`).
pub const MR13_MODE: u64 = 0x30;
/// MCR34 power control (`power_control`, `SDRAM_PCR_*`).
pub const POWER_CTRL: u64 = 0x34;
/// MCR38 request limit mask (`req_limit_mask`, `SDRAM_REQ_*`).
pub const REQ_LIMIT_MASK: u64 = 0x38;
/// MCR3C priority group setting (`pri_group_setting`).
pub const PRI_GROUP_SETTING: u64 = 0x3C;
/// MCR40..MCR4C maximum grant length (`max_grant_len[4]`).
pub const MAX_GRANT_LEN: u64 = 0x40;
/// MCR50 interrupt control; bit 31 resets all (`intr_ctrl`, `SDRAM_ICR_RESET_ALL`).
pub const INTR_CTRL: u64 = 0x50;
/// MCR54 ECC range control (`ecc_range_ctrl`).
pub const ECC_RANGE_CTRL: u64 = 0x54;
/// MCR58 first ECC error address (`first_ecc_err_addr`).
pub const FIRST_ECC_ERR_ADDR: u64 = 0x58;
/// MCR5C last ECC error address (`last_ecc_err_addr`).
pub const LAST_ECC_ERR_ADDR: u64 = 0x5C;
/// MCR60 PHY control 0: bit 0 init (busy), 1 auto update, 2 reset release (`phy_ctrl[0]`,
/// QEMU `R_STATUS1`).
pub const PHY_CTRL0: u64 = 0x60;
/// MCR64..MCR6C PHY control 1..3 (`phy_ctrl[1..3]`).
pub const PHY_CTRL1: u64 = 0x64;
/// MCR70 ECC / self-test control: enable 0, mode 2:1, pattern 5:3, done 12, fail 13
/// (`ecc_test_ctrl`, QEMU `R_ECC_TEST_CTRL`).
pub const ECC_TEST_CTRL: u64 = 0x70;
/// MCR74 test start address and length (`test_addr`).
pub const TEST_ADDR: u64 = 0x74;
/// MCR78 test failing DQ bits (`test_fail_dq_bit`).
pub const TEST_FAIL_DQ: u64 = 0x78;
/// MCR7C test initial value (`test_init_val`).
pub const TEST_INIT_VAL: u64 = 0x7C;
/// MCR80 PHY debug control (`phy_debug_ctrl`).
pub const PHY_DEBUG_CTRL: u64 = 0x80;
/// MCR84 PHY debug data (`phy_debug_data`).
pub const PHY_DEBUG_DATA: u64 = 0x84;
/// MCR100 SCU password shadow, unused by the driver (`scu_passwd`).
pub const SCU_PASSWD: u64 = 0x100;
/// MCR120 SCU M-PLL shadow, unused by the driver (`scu_mpll`).
pub const SCU_MPLL: u64 = 0x120;
/// MCR170 SCU strap shadow, unused by the driver (`scu_hwstrap`).
pub const SCU_HWSTRAP: u64 = 0x170;
/// DDR-PHY register 0 (`struct ast2500_ddr_phy`, `phy[0]`, DT reg #1 at 0x1E6E0200).
pub const PHY: u64 = 0x200;
/// Last word of the DDR-PHY range (`phy[116]`, DT size 0x1D4).
pub const PHY_END: u64 = 0x3D0;

/// The byte offset of DDR-PHY register `i` (u-boot `&phy->phy[i]`).
pub const fn phy(i: u64) -> u64 {
    PHY + 4 * i
}

/// MCR04 bits 1:0: capacity, 0 = 128 MiB ... 3 = 1 GiB (u-boot `SDRAM_CONF_CAP_MASK`,
/// QEMU `ASPEED_SDMC_AST2500_128MB..1024MB`).
pub const CONF_CAP_MASK: u32 = 0x3;
/// MCR04 bits 3:2: VGA aperture, read only 64 MiB (QEMU `ASPEED_SDMC_VGA_APERTURE`).
pub const CONF_VGA_SIZE_MASK: u32 = 0x3 << 2;
/// MCR04 bit 4: DDR4 (u-boot `SDRAM_CONF_DDR4`, QEMU `ASPEED_SDMC_DRAM_TYPE`).
pub const CONF_DDR4: u32 = 1 << 4;
/// MCR04 bit 6: VGA compatibility, read only (QEMU `ASPEED_SDMC_VGA_COMPAT`).
pub const CONF_VGA_COMPAT: u32 = 1 << 6;
/// MCR04 bit 8: data scrambling (u-boot `SDRAM_CONF_SCRAMBLE`).
pub const CONF_SCRAMBLE: u32 = 1 << 8;
/// MCR04 bit 9: scrambling pattern 2 (u-boot `SDRAM_CONF_SCRAMBLE_PAT2`).
pub const CONF_SCRAMBLE_PAT2: u32 = 1 << 9;
/// MCR04 bit 10: cache enable (u-boot `SDRAM_CONF_CACHE_EN`, QEMU `ASPEED_SDMC_CACHE_ENABLE`).
pub const CONF_CACHE_EN: u32 = 1 << 10;
/// MCR04 bit 12: cache initialisation start (u-boot `SDRAM_CONF_CACHE_INIT_EN`, QEMU
/// `ASPEED_SDMC_CACHE_INITIAL`).
pub const CONF_CACHE_INIT_EN: u32 = 1 << 12;
/// MCR04 bit 13: dual x8 DDR4 (u-boot `SDRAM_CONF_DUALX8`, QEMU `ASPEED_SDMC_CACHE_DDR4_CONF`).
pub const CONF_DUALX8: u32 = 1 << 13;
/// MCR04 bits 18:14: reserved, read only (QEMU `ASPEED_SDMC_AST2500_RESERVED`).
pub const CONF_RESERVED_MASK: u32 = 0x0007_C000;
/// MCR04 bit 19: cache initialisation done, read only, always 1 here; u-boot polls it after
/// setting [`CONF_CACHE_INIT_EN`] (u-boot `SDRAM_CONF_CACHE_INIT_DONE`, QEMU
/// `ASPEED_SDMC_CACHE_INITIAL_DONE`).
pub const CONF_CACHE_INIT_DONE: u32 = 1 << 19;
/// MCR04 bits 31:28: hardware version, read only, 1 on the AST2500 (QEMU
/// `ASPEED_SDMC_HW_VERSION`).
pub const CONF_HW_VERSION_MASK: u32 = 0xF << 28;
/// MCR04 bits writes cannot change (QEMU `ASPEED_SDMC_AST2500_READONLY_MASK`).
pub const CONF_READONLY_MASK: u32 = CONF_HW_VERSION_MASK
    | CONF_CACHE_INIT_DONE
    | CONF_RESERVED_MASK
    | CONF_VGA_COMPAT
    | CONF_VGA_SIZE_MASK;

/// MCR60 bit 0: PHY initialisation in progress, reads 0 (u-boot `SDRAM_PHYCTRL0_INIT`, QEMU
/// `PHY_BUSY_STATE`).
pub const PHY_CTRL0_INIT: u32 = 1 << 0;
/// MCR60 bit 1: PHY auto update (u-boot `SDRAM_PHYCTRL0_AUTO_UPDATE`).
pub const PHY_CTRL0_AUTO_UPDATE: u32 = 1 << 1;
/// MCR60 bit 2: PHY reset released (u-boot `SDRAM_PHYCTRL0_NRST`).
pub const PHY_CTRL0_NRST: u32 = 1 << 2;

/// MCR70 bit 0: start the test (u-boot `SDRAM_TEST_EN`).
pub const TEST_EN: u32 = 1 << 0;
/// MCR70 bit 12: test done, set by every write (u-boot `SDRAM_TEST_DONE`, QEMU
/// `ECC_TEST_FINISHED`).
pub const TEST_DONE: u32 = 1 << 12;
/// MCR70 bit 13: test failed, cleared by every write (u-boot `SDRAM_TEST_FAIL`, QEMU
/// `ECC_TEST_FAIL`).
pub const TEST_FAIL: u32 = 1 << 13;

/// MCR50 bit 31: reset all interrupt state (u-boot `SDRAM_ICR_RESET_ALL`).
pub const ICR_RESET_ALL: u32 = 1 << 31;
/// MCR08 value u-boot writes (u-boot `SDRAM_VIDEO_UNLOCK_KEY`).
pub const VIDEO_UNLOCK_KEY: u32 = 0x2003_000F;

/// DDR4 tRFC per capacity, one byte each: bits 7:0 for 1 GiB, then 512 MiB, 256 MiB and 128 MiB
/// in bits 31:24; the size probe writes the found capacity's byte to MCR14 bits 7:0 (u-boot
/// `DDR4_TRFC`).
pub const DDR4_TRFC: u32 = 0x4545_7188;
