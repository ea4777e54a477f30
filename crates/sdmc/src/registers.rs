//! AST2600 SDMC register offsets, keys and bit fields.
//!
//! Offsets follow u-boot's `struct ast2600_sdrammc_regs` (`arch/arm/include/asm/arch-aspeed/
//! sdram_ast2600.h`) and QEMU's `hw/misc/aspeed_sdmc.c`; the PHY regions come from the
//! `aspeed,ast2600-sdrammc` device-tree node (`reg = <0x1e6e0000 0x100>, <0x1e6e0100 0x300>,
//! <0x1e6e0400 0x200>`). The AST2500's layout, which differs from MCR1C on, is in [`ast2500`].

pub mod ast2500;

/// Size of the SDMC register block in bytes.
pub const SDMC_BLOCK_SIZE: u64 = 0x1000;

/// MCR00 protection key (`protection_key`, QEMU `R_PROT`).
pub const PROT_KEY: u64 = 0x00;
/// MCR04 configuration: DRAM size, VGA size, ECC, DDR4 (`config`, QEMU `R_CONF`).
pub const CONFIG: u64 = 0x04;
/// MCR08 graphics memory protection key (`gm_protection_key`).
pub const GM_PROT_KEY: u64 = 0x08;
/// MCR0C refresh timing (`refresh_timing`).
pub const REFRESH_TIMING: u64 = 0x0C;
/// MCR10..MCR1C AC timing (`ac_timing[4]`).
pub const AC_TIMING: u64 = 0x10;
/// MCR20 DDR4 MR0/MR1 mode setting (`mr01_mode_setting`).
pub const MR01_MODE: u64 = 0x20;
/// MCR24 DDR4 MR2/MR3 mode setting (`mr23_mode_setting`).
pub const MR23_MODE: u64 = 0x24;
/// MCR28 DDR4 MR4/MR5 mode setting (`mr45_mode_setting`).
pub const MR45_MODE: u64 = 0x28;
/// MCR2C DDR4 MR6 mode setting (`mr6_mode_setting`).
pub const MR6_MODE: u64 = 0x2C;
/// MCR30 mode setting control (`mode_setting_control`).
pub const MODE_SETTING_CONTROL: u64 = 0x30;
/// MCR34 power control (`power_ctrl`); bits 30:28 are the self-refresh status.
pub const POWER_CTRL: u64 = 0x34;
/// MCR38 arbitration control (`arbitration_ctrl`).
pub const ARBITRATION_CTRL: u64 = 0x38;
/// MCR3C request limit mask (`req_limit_mask`).
pub const REQ_LIMIT_MASK: u64 = 0x3C;
/// MCR40..MCR4C maximum grant length (`max_grant_len[4]`).
pub const MAX_GRANT_LEN: u64 = 0x40;
/// MCR50 interrupt control/status (`intr_ctrl`, QEMU `R_ISR`; not key-protected).
pub const INTR_CTRL: u64 = 0x50;
/// MCR54 ECC range control (`ecc_range_ctrl`).
pub const ECC_RANGE_CTRL: u64 = 0x54;
/// MCR58 first ECC error address (`first_ecc_err_addr`).
pub const FIRST_ECC_ERR_ADDR: u64 = 0x58;
/// MCR5C last ECC error address (`last_ecc_err_addr`).
pub const LAST_ECC_ERR_ADDR: u64 = 0x5C;
/// MCR60 PHY control 0 (`phy_ctrl[0]`, QEMU `R_STATUS1`): bit 0 init/busy, bit 4 PLL locked.
pub const PHY_CTRL0: u64 = 0x60;
/// MCR64 PHY control 1 (`phy_ctrl[1]`).
pub const PHY_CTRL1: u64 = 0x64;
/// MCR68 PHY control 2 (`phy_ctrl[2]`).
pub const PHY_CTRL2: u64 = 0x68;
/// MCR6C PHY control 3 (`phy_ctrl[3]`, QEMU `R_MCR6C`; not key-protected).
pub const PHY_CTRL3: u64 = 0x6C;
/// MCR70 ECC/self-test control (`ecc_test_ctrl`, QEMU `R_ECC_TEST_CTRL`).
pub const ECC_TEST_CTRL: u64 = 0x70;
/// MCR74 test start address and length (`test_addr`, QEMU `R_TEST_START_LEN`; not protected).
pub const TEST_ADDR: u64 = 0x74;
/// MCR78 test failing DQ bits (`test_fail_dq_bit`, QEMU `R_TEST_FAIL_DQ`; not protected).
pub const TEST_FAIL_DQ: u64 = 0x78;
/// MCR7C test initial value (`test_init_val`, QEMU `R_TEST_INIT_VAL`; not protected).
pub const TEST_INIT_VAL: u64 = 0x7C;
/// MCR80 request input control (`req_input_ctrl`).
pub const REQ_INPUT_CTRL: u64 = 0x80;
/// MCR84 request high-priority control (`req_high_pri_ctrl`).
pub const REQ_HIGH_PRI_CTRL: u64 = 0x84;
/// MCR88 DRAM software scratch (QEMU `R_DRAM_SW`; not protected).
pub const DRAM_SW: u64 = 0x88;
/// MCR8C DRAM time (QEMU `R_DRAM_TIME`; not protected).
pub const DRAM_TIME: u64 = 0x8C;
/// MCRB4 ECC error injection (QEMU `R_ECC_ERR_INJECT`; not protected).
pub const ECC_ERR_INJECT: u64 = 0xB4;
/// First DDR-PHY setting register (u-boot `phy_setting`, DT reg #1).
pub const PHY_SETTING: u64 = 0x100;
/// Last DDR-PHY setting register.
pub const PHY_SETTING_END: u64 = 0x3FC;
/// DDR-PHY status 0x00: bit 1 PHY ready, bit 3 PVT calibration failed, bit 5 runtime calibration
/// failed (u-boot `phy_status`, DT reg #2; `ast2600_sdramphy_check_status`).
pub const PHY_STATUS: u64 = 0x400;
/// DDR-PHY status 0x30: pull-up/pull-down calibration result.
pub const PHY_STATUS_PU_PD: u64 = 0x430;
/// DDR-PHY status 0x50: gate training pass window; both halves must be non-zero.
pub const PHY_STATUS_GATE_WINDOW: u64 = 0x450;
/// DDR-PHY status 0x68: read data eye, rising edge; bits 7:0 must be non-zero.
pub const PHY_STATUS_READ_EYE: u64 = 0x468;
/// DDR-PHY status 0x7C: write data eye, rising edge; bits 7:0 must be non-zero.
pub const PHY_STATUS_WRITE_EYE: u64 = 0x47C;
/// Last DDR-PHY status register.
pub const PHY_STATUS_END: u64 = 0x5FC;

/// Key that unlocks the controller, AST2600 and AST2500 alike (u-boot `SDRAM_UNLOCK_KEY`, QEMU
/// `PROT_KEY_UNLOCK`).
pub const SDRAM_UNLOCK_KEY: u32 = 0xFC60_0309;
/// Key that locks the controller until the next reset (QEMU `PROT_KEY_HARDLOCK`).
pub const SDRAM_HARDLOCK_KEY: u32 = 0xDEAD_DEAD;
/// MCR00 read value when unlocked (QEMU `PROT_UNLOCKED`).
pub const PROT_UNLOCKED: u32 = 0x01;
/// MCR00 read value when locked until reset (QEMU `PROT_HARDLOCKED`).
pub const PROT_HARDLOCKED: u32 = 0x10;
/// MCR00 read value when locked (QEMU `PROT_SOFTLOCKED`).
pub const PROT_SOFTLOCKED: u32 = 0x00;

/// MCR04 bits 1:0: DRAM capacity, 0 = 256 MiB ... 3 = 2 GiB (u-boot `SDRAM_CONF_CAP_MASK`).
pub const CONF_CAP_MASK: u32 = 0x3;
/// MCR04 bits 3:2: VGA memory, 0 = 8 MiB ... 3 = 64 MiB (u-boot `SDRAM_CONF_VGA_SIZE_MASK`).
pub const CONF_VGA_SIZE_MASK: u32 = 0x3 << 2;
/// MCR04 bit 7: ECC enabled (u-boot `SDRAM_CONF_ECC_EN`).
pub const CONF_ECC_EN: u32 = 1 << 7;
/// MCR04 bits 31:28: hardware version, 3 on the AST2600 (QEMU `ASPEED_SDMC_HW_VERSION`).
pub const CONF_HW_VERSION_MASK: u32 = 0xF << 28;
/// MCR04 bit 19: cache initial done, read only (QEMU `ASPEED_SDMC_CACHE_INITIAL_DONE`).
pub const CONF_CACHE_INITIAL_DONE: u32 = 1 << 19;
/// MCR04 bits 18:14: reserved, read only (QEMU `ASPEED_SDMC_AST2500_RESERVED`).
pub const CONF_RESERVED_MASK: u32 = 0x0007_C000;
/// MCR04 bit 6: VGA compatibility, read only (QEMU `ASPEED_SDMC_VGA_COMPAT`).
pub const CONF_VGA_COMPAT: u32 = 1 << 6;

/// MCR34 bits 30:28: self-refresh status; u-boot waits for 0 (`MCR34_SELF_REFRESH_STATUS_MASK`).
pub const POWER_SELF_REFRESH_STATUS_MASK: u32 = 0x7 << 28;
/// MCR60 bit 0: PHY initialisation in progress (u-boot `SDRAM_PHYCTRL0_INIT`, QEMU
/// `PHY_BUSY_STATE`).
pub const PHY_CTRL0_INIT: u32 = 1 << 0;
/// MCR60 bit 4: PHY PLL locked (u-boot `SDRAM_PHYCTRL0_PLL_LOCKED`, QEMU `PHY_PLL_LOCK_STATUS`).
pub const PHY_CTRL0_PLL_LOCKED: u32 = 1 << 4;
/// MCR70 bit 12: self-test done (u-boot `SDRAM_TEST_DONE`, QEMU `ECC_TEST_FINISHED`).
pub const ECC_TEST_DONE: u32 = 1 << 12;
/// MCR70 bit 13: self-test failed (u-boot `SDRAM_TEST_FAIL`, QEMU `ECC_TEST_FAIL`).
pub const ECC_TEST_FAIL: u32 = 1 << 13;
/// PHY status bit 1: PHY ready, polled by u-boot after training.
pub const PHY_STATUS_READY: u32 = 1 << 1;
