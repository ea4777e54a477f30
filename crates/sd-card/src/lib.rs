//! An SD memory card (SDSC, SDHC or SDXC) or an eMMC device, as an SD host controller (SDHCI)
//! sees it: commands in, responses out, and the bytes of data transfers in between.
//!
//! Sources of the facts (no code is taken from any of them):
//! - **SD**: the SD Physical Layer Simplified Specification 3.01 (and 6.00 for the SCR
//!   `CMD_SUPPORT` bits): card states and their transitions, the commands and application
//!   commands, the R1 card status bits and when they clear, R3 (OCR), R6 (RCA), R7 (interface
//!   condition), the CID, CSD version 1.0 and 2.0, SCR, SD Status and CMD6 switch status layouts,
//!   the CRC7 (including its worked examples: CMD0 gives 0x4A, CMD17 0x2A, its R1 0x33).
//! - **eMMC**: JEDEC JESD84-B51 (eMMC 5.1): CMD0 arguments, CMD1 and the OCR with its access
//!   mode bits, host-assigned RCA, CMD6 SWITCH access modes, the EXT_CSD byte indices and values,
//!   PARTITION_CONFIG, boot partitions in 128 KiB units, erase groups, trim and discard.
//! - **Linux** `drivers/mmc/core/{core.c,sd.c,mmc.c,sd_ops.c,mmc_ops.c,block.c}`: the sequences
//!   the unit tests replay (`mmc_rescan_try_freq`, `mmc_attach_sd` / `mmc_sd_init_card`,
//!   `mmc_attach_mmc` / `mmc_init_card`, `__mmc_switch`, `mmc_select_bus_width`'s EXT_CSD
//!   comparison), and what `mmc_decode_csd`, `mmc_decode_scr`, `mmc_read_ssr`, `mmc_read_switch`
//!   and `mmc_decode_ext_csd` read, so every field they look at has a sane value.
//! - **QEMU** `hw/sd/sd.c`, for comparison only (it too answers an illegal command with no
//!   response and reports `ILLEGAL_COMMAND` in the next status).
//!
//! # Model
//!
//! [`Card::command`] runs one command and returns its [`Response`] (None: the host sees a
//! command timeout). Data moves through [`Card::read_data`] and [`Card::write_data`], in any
//! number of bytes at a time. Every operation completes at once: the card is never busy after
//! an R1b command or a block write (so the `prg` and `dis` states are never visible), and
//! READY_FOR_DATA is always set. Each R1 reports CURRENT_STATE as it was when the command
//! arrived, as the specifications say; error bits detected while executing a command (or a
//! transfer) are reported by the next R1 and cleared by it. An illegal command (unknown, or not
//! legal in the current state) gets no response and sets ILLEGAL_COMMAND for the next R1.
//!
//! The bytes live in a [`Storage`]. SD cards use it from offset 0 (capacity rounded down to
//! what the CSD can express: 2 KiB to 512 KiB units for SDSC, 512 KiB for SDHC and SDXC; a
//! warning is logged for an unused tail). An eMMC with boot partitions lays it out as
//! `[boot0][boot1][user area]`. A storage error is logged once (`log::warn!`) and reported as
//! CARD_ECC_FAILED (reads) or ERROR (writes, erases) in the next R1; it never panics.
//!
//! Erased blocks read as zeros on both kinds (SCR `DATA_STAT_AFTER_ERASE` 0, EXT_CSD
//! `ERASED_MEM_CONT` 0), which is also what a sparse or freshly created image holds.
//!
//! # SD
//!
//! SDSC up to 2 GiB (byte addressing, CSD 1.0), SDHC above that up to 32 GiB and SDXC up to
//! 2 TiB (block addressing, CSD 2.0 with C_SIZE from the capacity). CMD8 echoes the check
//! pattern and the 2.7-3.6 V range (0x1AA); ACMD41 with no voltage bits is an inquiry, with
//! voltage bits it starts power-up, which completes (OCR bit 31, plus CCS bit 30 on SDHC/SDXC)
//! on the second such ACMD41. An SDHC/SDXC card never completes for a host that did not send a
//! valid CMD8 or does not set HCS. CMD3 publishes RCA 0x4567 (then 0x4568 and so on on later
//! CMD3s). The SCR says: spec 3.0x, bus widths 1 and 4, CMD23 supported, no security. CMD6
//! supports high speed in function group 1 and only the default function elsewhere. An
//! application command undefined after CMD55 runs as the standard command (without APP_CMD in
//! its R1). Not modelled: UHS-I (CMD11, CMD19 tuning), CMD42 lock/unlock and the security
//! commands (class 7 is not advertised), write protection, CMD20, CMD48/49, CMD56.
//!
//! # eMMC
//!
//! Up to 2 TiB - 512 bytes (SEC_COUNT is 32 bits), sector addressing above 2 GiB (OCR access
//! mode bits 30:29 = 10b). CMD0 with any argument goes to the idle state without a response;
//! 0xF0F0F0F0 (pre-idle) is treated as idle and 0xFFFFFFFA (boot initiation) does not start a
//! boot transfer. CMD1 with no voltage bits is an inquiry; power-up completes on the second CMD1
//! with voltage bits. EXT_CSD is revision 8 (eMMC 5.1) with high speed at 26 and 52 MHz; CMD6
//! (access modes write byte, set bits, clear bits) changes BUS_WIDTH, HS_TIMING,
//! PARTITION_CONFIG (bits 2:0 select user / boot0 / boot1 for later reads, writes and erases),
//! ERASE_GROUP_DEF, POWER_OFF_NOTIFICATION, POWER_CLASS, BOOT_BUS_CONDITIONS and
//! RST_n_FUNCTION; anything else (or a value the device does not support) sets SWITCH_ERROR
//! in the next status. Also modelled: CMD5 sleep / awake, CMD14 / CMD19 bus test, CMD23 block
//! counts, CMD35 / CMD36 / CMD38 erase (erase groups of 512 KiB), trim and discard. Not
//! modelled: boot mode, RPMB (RPMB_SIZE_MULT 0), general purpose and enhanced partitions
//! (PARTITIONING_SUPPORT 0), cache, HPI, background operations, command queueing, HS200 and
//! DDR modes, secure erase and trim, write protection, packed commands.
//!
//! # Snapshots
//!
//! [`Card::save_state`] saves the card's state ([`CardState`]: its registers, where it is in a
//! transfer) and [`Card::load_state`] takes it back into a card over the same storage; what the
//! storage holds is not part of it (the machine saves its images itself).
#![deny(missing_docs)]

use std::collections::HashMap;
use std::io;

use bus::{DeviceState, StateError};

/// Kind of a card's saved state ([`Card::save_state`]).
pub const STATE_KIND: &str = "sd-card";
/// Format version of a card's saved state.
pub const STATE_VERSION: u32 = 1;

/// Bytes per block: the only block length of SDHC, SDXC and eMMC data transfers, and the unit
/// of block addressing and of SEC_COUNT.
pub const BLOCK_SIZE: u64 = 512;
/// Largest SDSC card (SD 3.01 section 5.3.2: CSD 1.0 with READ_BL_LEN 10).
pub const SDSC_MAX: u64 = 2 << 30;
/// Largest SDHC card (SD 3.01 section 5.3.3).
pub const SDHC_MAX: u64 = 32 << 30;
/// Largest SDXC card (SD 3.01 section 5.3.3: 22-bit C_SIZE in 512 KiB units).
pub const SDXC_MAX: u64 = 2 << 40;
/// Largest eMMC user area: SEC_COUNT (EXT_CSD bytes 215:212) counts 512-byte sectors in 32 bits.
pub const EMMC_MAX: u64 = u32::MAX as u64 * BLOCK_SIZE;
/// Largest eMMC using byte addressing; bigger devices use sector addressing (JESD84-B51
/// section 6.2.4; Linux `mmc_decode_ext_csd`).
pub const EMMC_BYTE_MODE_MAX: u64 = 2 << 30;
/// Unit of the eMMC boot partition size, EXT_CSD BOOT_SIZE_MULT (JESD84-B51 section 7.4.41).
pub const BOOT_PARTITION_UNIT: u64 = 128 << 10;
/// Largest eMMC boot partition: BOOT_SIZE_MULT is one byte.
pub const BOOT_PARTITION_MAX: u64 = 255 * BOOT_PARTITION_UNIT;
/// Unit of the SDHC/SDXC C_SIZE field (CSD 2.0: capacity = (C_SIZE + 1) * 512 KiB).
pub const SDHC_SIZE_UNIT: u64 = 512 << 10;
/// The RCA an SD card publishes at its first CMD3 after power-up or CMD0 (any nonzero value
/// is allowed; this one is easy to spot in traces).
pub const SD_FIRST_RCA: u16 = 0x4567;
/// Size of the eMMC EXT_CSD register (CMD8 SEND_EXT_CSD data).
pub const EXT_CSD_SIZE: usize = 512;
/// Size of the SD Configuration Register (ACMD51 data).
pub const SCR_SIZE: usize = 8;
/// Size of the SD Status register (ACMD13 data) and of the CMD6 switch function status.
pub const SD_STATUS_SIZE: usize = 64;
/// eMMC erase group when EXT_CSD ERASE_GROUP_DEF is 1: HC_ERASE_GRP_SIZE (1) x 512 KiB; the
/// CSD's ERASE_GRP_SIZE and ERASE_GRP_MULT (31, 31) give 1024 write blocks, the same with
/// 512-byte blocks.
pub const EMMC_ERASE_GROUP: u64 = 512 << 10;

/// Command indices (SD 3.01 section 4.7.4, JESD84-B51 section 6.10.4). Where SD and eMMC give
/// one index different meanings both names exist.
pub mod cmd {
    /// CMD0: go to the idle state (no response). eMMC: argument 0xF0F0F0F0 goes to pre-idle,
    /// 0xFFFFFFFA initiates a boot.
    pub const GO_IDLE_STATE: u8 = 0;
    /// eMMC CMD1: send the OCR (R3), starting power-up.
    pub const SEND_OP_COND: u8 = 1;
    /// CMD2: every card in the ready state sends its CID (R2).
    pub const ALL_SEND_CID: u8 = 2;
    /// SD CMD3: the card publishes a new RCA (R6).
    pub const SEND_RELATIVE_ADDR: u8 = 3;
    /// eMMC CMD3: the host assigns the RCA in bits 31:16 (R1).
    pub const SET_RELATIVE_ADDR: u8 = 3;
    /// CMD4: program the DSR (no response).
    pub const SET_DSR: u8 = 4;
    /// eMMC CMD5: sleep (bit 15 set) or awake (R1b).
    pub const SLEEP_AWAKE: u8 = 5;
    /// SD CMD6: check (bit 31 clear) or switch a function (R1, 64 bytes of status); eMMC
    /// CMD6: change an EXT_CSD byte (R1b).
    pub const SWITCH: u8 = 6;
    /// CMD7: select the card with the RCA in bits 31:16, deselect the others (R1b).
    pub const SELECT_CARD: u8 = 7;
    /// SD CMD8: send interface condition (R7).
    pub const SEND_IF_COND: u8 = 8;
    /// eMMC CMD8: send the EXT_CSD (R1, 512 bytes).
    pub const SEND_EXT_CSD: u8 = 8;
    /// CMD9: send the CSD (R2).
    pub const SEND_CSD: u8 = 9;
    /// CMD10: send the CID (R2).
    pub const SEND_CID: u8 = 10;
    /// SD CMD11: switch to 1.8 V signalling (not modelled: no UHS-I).
    pub const VOLTAGE_SWITCH: u8 = 11;
    /// CMD12: end a multiple-block transfer (R1 after a read, R1b after a write).
    pub const STOP_TRANSMISSION: u8 = 12;
    /// CMD13: send the card status (R1); SD ACMD13 is SD_STATUS.
    pub const SEND_STATUS: u8 = 13;
    /// eMMC CMD14: read back the bus test pattern, inverted (R1, data).
    pub const BUS_TEST_R: u8 = 14;
    /// CMD15: go to the inactive state (no response).
    pub const GO_INACTIVE_STATE: u8 = 15;
    /// CMD16: set the block length (R1).
    pub const SET_BLOCKLEN: u8 = 16;
    /// CMD17: read one block (R1, data).
    pub const READ_SINGLE_BLOCK: u8 = 17;
    /// CMD18: read blocks until CMD12, the end of the card, or the CMD23 count (R1, data).
    pub const READ_MULTIPLE_BLOCK: u8 = 18;
    /// eMMC CMD19: send the bus test pattern (R1, data in); SD CMD19 (tuning) is not modelled.
    pub const BUS_TEST_W: u8 = 19;
    /// CMD23: block count of the next CMD18 or CMD25 (R1).
    pub const SET_BLOCK_COUNT: u8 = 23;
    /// CMD24: write one block (R1, data in).
    pub const WRITE_BLOCK: u8 = 24;
    /// CMD25: write blocks until CMD12 or the CMD23 count (R1, data in).
    pub const WRITE_MULTIPLE_BLOCK: u8 = 25;
    /// SD CMD32: first block to erase (R1).
    pub const ERASE_WR_BLK_START: u8 = 32;
    /// SD CMD33: last block to erase (R1).
    pub const ERASE_WR_BLK_END: u8 = 33;
    /// eMMC CMD35: first erase group (or block, for trim and discard) to erase (R1).
    pub const ERASE_GROUP_START: u8 = 35;
    /// eMMC CMD36: last erase group (or block) to erase (R1).
    pub const ERASE_GROUP_END: u8 = 36;
    /// CMD38: erase the range set before (R1b).
    pub const ERASE: u8 = 38;
    /// CMD42: lock / unlock (not modelled: no response).
    pub const LOCK_UNLOCK: u8 = 42;
    /// CMD55: the next command is an application command (R1 with APP_CMD).
    pub const APP_CMD: u8 = 55;
}

/// SD application commands, sent after CMD55 (SD 3.01 section 4.7.4, table 4-27).
pub mod acmd {
    /// ACMD6: bus width, argument bits 1:0 = 0 (1 bit) or 2 (4 bits) (R1).
    pub const SET_BUS_WIDTH: u8 = 6;
    /// ACMD13: send the SD Status register (R1, 64 bytes).
    pub const SD_STATUS: u8 = 13;
    /// ACMD22: number of blocks written by the last write (R1, 4 bytes big-endian).
    pub const SEND_NUM_WR_BLOCKS: u8 = 22;
    /// ACMD23: blocks to pre-erase before a multiple-block write (R1; a hint only).
    pub const SET_WR_BLK_ERASE_COUNT: u8 = 23;
    /// ACMD41: send the OCR, with the host capacity support (HCS) bit (R3).
    pub const SD_SEND_OP_COND: u8 = 41;
    /// ACMD42: connect or disconnect the DAT3 pull-up (R1).
    pub const SET_CLR_CARD_DETECT: u8 = 42;
    /// ACMD51: send the SD Configuration Register (R1, 8 bytes).
    pub const SEND_SCR: u8 = 51;
}

/// R1 card status bits (SD 3.01 section 4.10.1 table 4-42, JESD84-B51 section 6.13; Linux
/// `include/linux/mmc/mmc.h` names them `R1_*`).
pub mod status {
    /// The command's address or a transfer ran past the end of the card (or partition).
    pub const OUT_OF_RANGE: u32 = 1 << 31;
    /// A misaligned address (a block crossing a 512-byte boundary).
    pub const ADDRESS_ERROR: u32 = 1 << 30;
    /// A block length the card does not accept.
    pub const BLOCK_LEN_ERROR: u32 = 1 << 29;
    /// An erase command out of sequence.
    pub const ERASE_SEQ_ERROR: u32 = 1 << 28;
    /// An invalid erase range or argument.
    pub const ERASE_PARAM: u32 = 1 << 27;
    /// A write to a protected block (never set: no write protection is modelled).
    pub const WP_VIOLATION: u32 = 1 << 26;
    /// The card is locked (never set: CMD42 is not modelled).
    pub const CARD_IS_LOCKED: u32 = 1 << 25;
    /// The CRC of the previous command failed (never set: commands arrive intact).
    pub const COM_CRC_ERROR: u32 = 1 << 23;
    /// The previous command was not legal in the card's state (it got no response).
    pub const ILLEGAL_COMMAND: u32 = 1 << 22;
    /// The card could not read the data: here, the storage failed a read.
    pub const CARD_ECC_FAILED: u32 = 1 << 21;
    /// Internal card controller error.
    pub const CC_ERROR: u32 = 1 << 20;
    /// General error: here, the storage failed a write or an erase.
    pub const ERROR: u32 = 1 << 19;
    /// An erase sequence was cleared by a command out of the sequence.
    pub const ERASE_RESET: u32 = 1 << 13;
    /// CURRENT_STATE field (bits 12:9): the state when the command arrived.
    pub const CURRENT_STATE_SHIFT: u32 = 9;
    /// CURRENT_STATE field mask.
    pub const CURRENT_STATE_MASK: u32 = 0xF << CURRENT_STATE_SHIFT;
    /// The card can take data (always set: the model is never busy).
    pub const READY_FOR_DATA: u32 = 1 << 8;
    /// eMMC: the last CMD6 could not be done.
    pub const SWITCH_ERROR: u32 = 1 << 7;
    /// SD: the card takes (or took) the command as an application command.
    pub const APP_CMD: u32 = 1 << 5;
    /// Every error bit the model can report (for checking a status word).
    pub const ERRORS: u32 = OUT_OF_RANGE
        | ADDRESS_ERROR
        | BLOCK_LEN_ERROR
        | ERASE_SEQ_ERROR
        | ERASE_PARAM
        | WP_VIOLATION
        | CARD_IS_LOCKED
        | COM_CRC_ERROR
        | ILLEGAL_COMMAND
        | CARD_ECC_FAILED
        | CC_ERROR
        | ERROR
        | SWITCH_ERROR;
}

/// OCR (operating conditions register) bits: R3, the ACMD41 / CMD1 argument and response.
pub mod ocr {
    /// Power-up done (the "busy" bit: clear while the card is still initialising).
    pub const READY: u32 = 1 << 31;
    /// SD: card capacity status (response: SDHC/SDXC) and host capacity support (argument).
    pub const CCS: u32 = 1 << 30;
    /// eMMC: access mode 10b, sector addressing (response), host supports it (argument).
    pub const SECTOR_MODE: u32 = 1 << 30;
    /// SD: the card's voltage window, 2.7-3.6 V (bits 23:15).
    pub const SD_VOLTAGES: u32 = 0x00FF_8000;
    /// eMMC: 2.7-3.6 V (bits 23:15) and 1.70-1.95 V (bit 7): dual voltage, JESD84-B51 table 48.
    pub const EMMC_VOLTAGES: u32 = 0x00FF_8080;
    /// eMMC: every voltage bit a host may send (bits 23:7); none means an inquiry.
    pub const EMMC_ANY_VOLTAGE: u32 = 0x00FF_FF80;
}

/// SD CMD8 (SEND_IF_COND) argument and R7 fields (SD 3.01 section 4.3.13).
pub mod if_cond {
    /// Supply voltage field (bits 11:8).
    pub const VHS_MASK: u32 = 0xF00;
    /// VHS value 0001b: 2.7-3.6 V, the only range defined.
    pub const VHS_27_36: u32 = 0x100;
    /// Check pattern (bits 7:0), echoed.
    pub const PATTERN_MASK: u32 = 0xFF;
}

/// EXT_CSD byte indices (JESD84-B51 section 7.4; Linux `EXT_CSD_*`).
pub mod ext_csd {
    /// FLUSH_CACHE (W/E_P).
    pub const FLUSH_CACHE: usize = 32;
    /// CACHE_CTRL (R/W/E_P): no cache, only 0 is accepted.
    pub const CACHE_CTRL: usize = 33;
    /// POWER_OFF_NOTIFICATION (R/W/E_P): 0..=4.
    pub const POWER_OFF_NOTIFICATION: usize = 34;
    /// PARTITION_SETTING_COMPLETED (R/W): 0, no partitioning.
    pub const PARTITION_SETTING_COMPLETED: usize = 155;
    /// PARTITIONING_SUPPORT (R): 0, no general purpose or enhanced partitions.
    pub const PARTITIONING_SUPPORT: usize = 160;
    /// HPI_MGMT (R/W/E_P): HPI is not supported, only 0 is accepted.
    pub const HPI_MGMT: usize = 161;
    /// RST_n_FUNCTION (R/W, one-time programmable): 0, then 1 or 2 once.
    pub const RST_N_FUNCTION: usize = 162;
    /// WR_REL_PARAM (R): bit 2, enhanced reliable write.
    pub const WR_REL_PARAM: usize = 166;
    /// RPMB_SIZE_MULT (R): 0, no RPMB partition.
    pub const RPMB_SIZE_MULT: usize = 168;
    /// ERASE_GROUP_DEF (R/W/E_P): bit 0 selects the high-capacity erase group.
    pub const ERASE_GROUP_DEF: usize = 175;
    /// BOOT_BUS_CONDITIONS (R/W/E): bits 4:0.
    pub const BOOT_BUS_CONDITIONS: usize = 177;
    /// PARTITION_CONFIG (R/W/E and R/W/E_P): bits 2:0 PARTITION_ACCESS (0 user, 1 boot0,
    /// 2 boot1), bits 5:3 BOOT_PARTITION_ENABLE, bit 6 BOOT_ACK.
    pub const PARTITION_CONFIG: usize = 179;
    /// ERASED_MEM_CONT (R): 0, erased memory reads as zeros.
    pub const ERASED_MEM_CONT: usize = 181;
    /// BUS_WIDTH (W/E_P): 0 (1 bit), 1 (4 bits), 2 (8 bits).
    pub const BUS_WIDTH: usize = 183;
    /// HS_TIMING (R/W/E_P): 0 (backward compatible), 1 (high speed).
    pub const HS_TIMING: usize = 185;
    /// POWER_CLASS (R/W/E_P).
    pub const POWER_CLASS: usize = 187;
    /// EXT_CSD_REV (R): 8, eMMC 5.1.
    pub const EXT_CSD_REV: usize = 192;
    /// CSD_STRUCTURE (R): 2, CSD version 1.2.
    pub const CSD_STRUCTURE: usize = 194;
    /// DEVICE_TYPE (Linux CARD_TYPE) (R): 0x03, high speed at 26 and 52 MHz.
    pub const DEVICE_TYPE: usize = 196;
    /// DRIVER_STRENGTH (R): bit 0, type 0.
    pub const DRIVER_STRENGTH: usize = 197;
    /// PARTITION_SWITCH_TIME (R), 10 ms units.
    pub const PARTITION_SWITCH_TIME: usize = 199;
    /// SEC_COUNT (R), bytes 215:212, little-endian: user area size in 512-byte sectors.
    pub const SEC_COUNT: usize = 212;
    /// S_A_TIMEOUT (R): sleep / awake timeout, 100 ns x 2^value.
    pub const S_A_TIMEOUT: usize = 217;
    /// S_C_VCCQ (R): sleep current on VCCQ.
    pub const S_C_VCCQ: usize = 219;
    /// S_C_VCC (R): sleep current on VCC.
    pub const S_C_VCC: usize = 220;
    /// HC_WP_GRP_SIZE (R): 1 erase group.
    pub const HC_WP_GRP_SIZE: usize = 221;
    /// REL_WR_SEC_C (R): 1 sector per reliable write.
    pub const REL_WR_SEC_C: usize = 222;
    /// ERASE_TIMEOUT_MULT (R), 300 ms units.
    pub const ERASE_TIMEOUT_MULT: usize = 223;
    /// HC_ERASE_GRP_SIZE (R): 1, 512 KiB erase groups.
    pub const HC_ERASE_GRP_SIZE: usize = 224;
    /// BOOT_SIZE_MULT (R): boot partition size in 128 KiB units.
    pub const BOOT_SIZE_MULT: usize = 226;
    /// BOOT_INFO (R): 0, no boot mode is modelled.
    pub const BOOT_INFO: usize = 228;
    /// SEC_FEATURE_SUPPORT (R): bit 4 SEC_GB_CL_EN (trim supported).
    pub const SEC_FEATURE_SUPPORT: usize = 231;
    /// TRIM_MULT (R), 300 ms units.
    pub const TRIM_MULT: usize = 232;
    /// INI_TIMEOUT_AP (R), 100 ms units.
    pub const INI_TIMEOUT_AP: usize = 241;
    /// POWER_OFF_LONG_TIME (R), 10 ms units.
    pub const POWER_OFF_LONG_TIME: usize = 247;
    /// GENERIC_CMD6_TIME (R), 10 ms units.
    pub const GENERIC_CMD6_TIME: usize = 248;
    /// CACHE_SIZE (R), bytes 252:249: 0, no cache.
    pub const CACHE_SIZE: usize = 249;
    /// FIRMWARE_VERSION (R), bytes 261:254.
    pub const FIRMWARE_VERSION: usize = 254;
    /// PRE_EOL_INFO (R): 1, normal.
    pub const PRE_EOL_INFO: usize = 267;
    /// DEVICE_LIFE_TIME_EST_TYP_A (R): 1, 0-10 % used.
    pub const DEVICE_LIFE_TIME_EST_TYP_A: usize = 268;
    /// DEVICE_LIFE_TIME_EST_TYP_B (R): 1, 0-10 % used.
    pub const DEVICE_LIFE_TIME_EST_TYP_B: usize = 269;
    /// S_CMD_SET (R): bit 0, the standard MMC command set.
    pub const S_CMD_SET: usize = 504;
}

/// CCC (card command classes) an SD card advertises: basic (0), block read (2), block write
/// (4), erase (5), application specific (8), switch (10). Class 7 (lock) is mandatory for SD
/// but CMD42 is not modelled, so it is left out.
pub const SD_CCC: u32 = (1 << 0) | (1 << 2) | (1 << 4) | (1 << 5) | (1 << 8) | (1 << 10);
/// CCC an eMMC advertises: basic (0, with CMD6 and CMD8), block read (2), block write (4),
/// erase (5).
pub const EMMC_CCC: u32 = (1 << 0) | (1 << 2) | (1 << 4) | (1 << 5);
/// CSD TAAC: 1 ms (time value 1.0, unit 1 ms); the value CSD 2.0 fixes.
pub const CSD_TAAC: u32 = 0x0E;
/// CSD TRAN_SPEED: 25 MHz for SD, 26 MHz for MMC (mantissa 2.5 / 2.6, unit 10 Mbit/s).
pub const CSD_TRAN_SPEED: u32 = 0x32;
/// SD SCR_STRUCTURE 0 / SD_SPEC 2 (version 2.00 or 3.0x, with SD_SPEC3).
pub const SCR_SD_SPEC: u32 = 2;
/// SD SCR SD_BUS_WIDTHS: 1 bit (bit 0) and 4 bits (bit 2).
pub const SCR_BUS_WIDTHS: u32 = 0b0101;
/// SD SCR CMD_SUPPORT (SD 6.00): bit 1, CMD23 (SET_BLOCK_COUNT) supported.
pub const SCR_CMD_SUPPORT: u32 = 0b0010;
/// SD Status SPEED_CLASS: 4, class 10.
pub const SSR_SPEED_CLASS: u32 = 4;
/// SD Status AU_SIZE: 9, 4 MiB allocation units.
pub const SSR_AU_SIZE: u32 = 9;
/// CMD6 function group 1 (access mode) function 1: high speed (Linux `SD_MODE_HIGH_SPEED` in
/// status byte 13).
pub const SD_FUNCTION_HIGH_SPEED: u32 = 1;
/// CMD6 switch status: maximum current consumption reported, in mA.
pub const SD_SWITCH_MAX_CURRENT: u32 = 100;
/// EXT_CSD DEVICE_TYPE: high speed at 26 MHz (bit 0) and 52 MHz (bit 1).
pub const EMMC_DEVICE_TYPE: u8 = 0x03;
/// EXT_CSD SEC_FEATURE_SUPPORT bit 4, SEC_GB_CL_EN: trim is supported.
pub const EMMC_SEC_GB_CL_EN: u8 = 1 << 4;
/// eMMC CMD0 argument: go to the pre-idle state.
pub const EMMC_GO_PRE_IDLE: u32 = 0xF0F0_F0F0;
/// eMMC CMD0 argument: boot initiation.
pub const EMMC_BOOT_INITIATION: u32 = 0xFFFF_FFFA;
/// eMMC CMD38 argument: erase whole erase groups.
pub const EMMC_ERASE_ARG: u32 = 0;
/// eMMC CMD38 argument: trim (write blocks).
pub const EMMC_TRIM_ARG: u32 = 1;
/// eMMC CMD38 argument: discard (write blocks).
pub const EMMC_DISCARD_ARG: u32 = 3;

/// CID manufacturer ID (not a registered one).
pub const CID_MID: u8 = 0x5A;
/// SD CID OEM / application ID ("AE").
pub const CID_SD_OID: u16 = 0x4145;
/// SD CID product name (5 characters).
pub const CID_SD_PNM: [u8; 5] = *b"EMUSD";
/// eMMC CID OEM ID ('A').
pub const CID_EMMC_OID: u8 = 0x41;
/// eMMC CID product name (6 characters).
pub const CID_EMMC_PNM: [u8; 6] = *b"EMUMMC";
/// CID product revision 1.0.
pub const CID_PRV: u8 = 0x10;
/// CID product serial number.
pub const CID_PSN: u32 = 0xA570_0001;
/// EXT_CSD FIRMWARE_VERSION.
pub const EMMC_FIRMWARE_VERSION: [u8; 8] = *b"ASTEMU01";

/// What the card is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Kind {
    /// An SD memory card: SDSC, SDHC or SDXC by size.
    Sd,
    /// An eMMC device.
    Emmc,
}

/// The SD capacity class, chosen from the size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SdClass {
    /// Standard capacity, up to 2 GiB: byte addressing, CSD 1.0.
    Sdsc,
    /// High capacity, above 2 GiB up to 32 GiB: block addressing, CSD 2.0.
    Sdhc,
    /// Extended capacity, above 32 GiB up to 2 TiB: block addressing, CSD 2.0.
    Sdxc,
}

/// An eMMC area the data commands reach (PARTITION_CONFIG bits 2:0). SD cards have only the
/// user area.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Partition {
    /// The user data area.
    User,
    /// Boot partition 1 (Linux `mmcblkNboot0`).
    Boot0,
    /// Boot partition 2 (Linux `mmcblkNboot1`).
    Boot1,
}

/// The card's state (SD 3.01 section 4.1, JESD84-B51 section 6.1). `prg` and `dis` never last
/// (writes complete at once), so they are not here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum State {
    /// `idle`: after power-up or CMD0.
    Idle,
    /// `ready`: power-up done (ACMD41 / CMD1 reported ready), waiting for CMD2.
    Ready,
    /// `ident`: CID sent, waiting for CMD3.
    Ident,
    /// `stby`: has an RCA, not selected.
    Standby,
    /// `tran`: selected, no data transfer.
    Transfer,
    /// `data`: sending data to the host.
    SendingData,
    /// `rcv`: receiving data from the host.
    ReceivingData,
    /// `btst` (eMMC): bus test, between CMD19 and CMD14.
    BusTest,
    /// `slp` (eMMC): asleep after CMD5.
    Sleep,
    /// `ina`: inactive; only a power cycle ([`Card::reset`]) brings the card back.
    Inactive,
}

impl State {
    /// CURRENT_STATE code in R1 bits 12:9 (the inactive state has none: it never responds).
    pub fn code(self) -> u32 {
        match self {
            State::Idle | State::Inactive => 0,
            State::Ready => 1,
            State::Ident => 2,
            State::Standby => 3,
            State::Transfer => 4,
            State::SendingData => 5,
            State::ReceivingData => 6,
            State::BusTest => 9,
            State::Sleep => 10,
        }
    }
}

/// The direction of a data transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Card to host ([`Card::read_data`]).
    Read,
    /// Host to card ([`Card::write_data`]).
    Write,
}

/// A command's response, as the card sends it (the controller's bus type).
pub use sdhci::Response;

/// Where the card's bytes live (the emulator backs it with an image file in memory / an
/// overlay). The card only reads and writes inside `0..len()`.
pub trait Storage {
    /// Size in bytes.
    fn len(&self) -> u64;
    /// Whether the storage holds no bytes (a card refuses it).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Reads `buf.len()` bytes at `offset`.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Writes `data` at `offset`.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Sets `len` bytes at `offset` to zero (erase, trim, discard). The default writes zeros
    /// 64 KiB at a time; a large storage should do better (Linux discards the whole device
    /// when a file system is made on it).
    fn zero_range(&mut self, offset: u64, len: u64) -> io::Result<()> {
        const CHUNK: u64 = 64 << 10;
        let zeros = vec![0u8; CHUNK.min(len) as usize];
        let mut done = 0;
        while done < len {
            let n = CHUNK.min(len - done);
            self.write_at(offset + done, &zeros[..n as usize])?;
            done += n;
        }
        Ok(())
    }
}

fn range_in(offset: u64, n: usize, len: u64) -> io::Result<std::ops::Range<usize>> {
    let end = offset.checked_add(n as u64).filter(|&e| e <= len);
    match end {
        Some(end) => Ok(offset as usize..end as usize),
        None => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("{n} bytes at {offset:#x} are past the end ({len:#x})"),
        )),
    }
}

impl Storage for Vec<u8> {
    fn len(&self) -> u64 {
        Vec::len(self) as u64
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let r = range_in(offset, buf.len(), Storage::len(self))?;
        buf.copy_from_slice(&self[r]);
        Ok(())
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let r = range_in(offset, data.len(), Storage::len(self))?;
        self[r].copy_from_slice(data);
        Ok(())
    }

    fn zero_range(&mut self, offset: u64, len: u64) -> io::Result<()> {
        let n = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let r = range_in(offset, n, Storage::len(self))?;
        self[r].fill(0);
        Ok(())
    }
}

/// A storage that holds only the 512-byte blocks written with nonzero data; every other byte
/// reads as zero. For blank cards of any size (and tests of big ones).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SparseStorage {
    len: u64,
    blocks: HashMap<u64, Vec<u8>>,
}

impl SparseStorage {
    /// A blank storage of `len` bytes.
    pub fn new(len: u64) -> Self {
        Self {
            len,
            blocks: HashMap::new(),
        }
    }

    /// How many 512-byte blocks are held (the others are zero).
    pub fn blocks_held(&self) -> usize {
        self.blocks.len()
    }

    fn check(&self, offset: u64, n: u64) -> io::Result<()> {
        if offset.checked_add(n).is_some_and(|e| e <= self.len) {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{n} bytes at {offset:#x} are past the end ({:#x})",
                    self.len
                ),
            ))
        }
    }

    /// Calls `f(block, range in block, range in the caller's buffer)` for each block `n` bytes
    /// at `offset` touch.
    fn split(
        offset: u64,
        n: usize,
        mut f: impl FnMut(u64, std::ops::Range<usize>, std::ops::Range<usize>),
    ) {
        let mut done = 0usize;
        while done < n {
            let at = offset + done as u64;
            let block = at / BLOCK_SIZE;
            let start = (at % BLOCK_SIZE) as usize;
            let take = (BLOCK_SIZE as usize - start).min(n - done);
            f(block, start..start + take, done..done + take);
            done += take;
        }
    }
}

impl Storage for SparseStorage {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.check(offset, buf.len() as u64)?;
        let blocks = &self.blocks;
        Self::split(offset, buf.len(), |block, within, out| {
            match blocks.get(&block) {
                Some(b) => buf[out].copy_from_slice(&b[within]),
                None => buf[out].fill(0),
            };
        });
        Ok(())
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.check(offset, data.len() as u64)?;
        let blocks = &mut self.blocks;
        Self::split(offset, data.len(), |block, within, from| {
            let src = &data[from];
            match blocks.get_mut(&block) {
                Some(b) => {
                    b[within].copy_from_slice(src);
                    if b.iter().all(|&x| x == 0) {
                        blocks.remove(&block);
                    }
                }
                None if src.iter().all(|&x| x == 0) => {}
                None => {
                    let mut b = vec![0u8; BLOCK_SIZE as usize];
                    b[within].copy_from_slice(src);
                    blocks.insert(block, b);
                }
            }
        });
        Ok(())
    }

    fn zero_range(&mut self, offset: u64, len: u64) -> io::Result<()> {
        self.check(offset, len)?;
        if len == 0 {
            return Ok(());
        }
        let end = offset + len;
        // Whole blocks go; partial ones at either end are zeroed in place.
        let first_whole = offset.div_ceil(BLOCK_SIZE);
        let end_whole = end / BLOCK_SIZE;
        self.blocks
            .retain(|&b, _| !(first_whole..end_whole).contains(&b));
        let zeros = [0u8; BLOCK_SIZE as usize];
        let head_end = (first_whole * BLOCK_SIZE).min(end);
        if offset < head_end {
            self.write_at(offset, &zeros[..(head_end - offset) as usize])?;
        }
        let tail_start = (end_whole * BLOCK_SIZE).max(head_end);
        if tail_start < end {
            self.write_at(tail_start, &zeros[..(end - tail_start) as usize])?;
        }
        Ok(())
    }
}

/// The CRC7 of SD and MMC commands and of the CID and CSD: polynomial x^7 + x^3 + 1, initial
/// value 0, bits most significant first (SD 3.01 section 4.5).
pub fn crc7(data: &[u8]) -> u8 {
    let mut crc = 0u8;
    for &byte in data {
        for i in (0..8).rev() {
            let feedback = ((byte >> i) & 1) ^ ((crc >> 6) & 1);
            crc = (crc << 1) & 0x7F;
            if feedback != 0 {
                crc ^= 0x09;
            }
        }
    }
    crc
}

/// A 128-bit register (bits 127:8 in `reg`) with its CRC7 and end bit in bits 7:0.
fn with_crc(reg: u128) -> [u8; 16] {
    let mut bytes = reg.to_be_bytes();
    bytes[15] = (crc7(&bytes[..15]) << 1) | 1;
    bytes
}

/// Puts `width` bits of `value` at bit `start` of a register held big-endian in `buf` (bit 0
/// is the least significant bit of the last byte).
fn put_bits(buf: &mut [u8], start: usize, width: usize, value: u64) {
    let total = buf.len() * 8;
    for i in 0..width {
        if (value >> i) & 1 == 1 {
            let bit = start + i;
            buf[(total - 1 - bit) / 8] |= 1 << (bit % 8);
        }
    }
}

/// CSD 1.0 (and eMMC CSD) size fields: capacity = (C_SIZE + 1) * 2^(C_SIZE_MULT + 2) *
/// 2^READ_BL_LEN. The finest unit whose 4096 multiples reach `len`, and `len` rounded down
/// to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct CsdSize {
    capacity: u64,
    c_size: u32,
    c_size_mult: u32,
    read_bl_len: u32,
}

fn csd_size(len: u64) -> CsdSize {
    // Units 2^11 (READ_BL_LEN 9, C_SIZE_MULT 0) to 2^19 (READ_BL_LEN 10, C_SIZE_MULT 7).
    for exp in 11..=19u32 {
        let unit = 1u64 << exp;
        let n = len / unit;
        if n <= 4096 {
            let read_bl_len = if exp <= 18 { 9 } else { 10 };
            return CsdSize {
                capacity: n * unit,
                c_size: n.saturating_sub(1) as u32,
                c_size_mult: exp - 2 - read_bl_len,
                read_bl_len,
            };
        }
    }
    // Only for len > 2 GiB, which callers never pass: the largest expressible size.
    CsdSize {
        capacity: SDSC_MAX,
        c_size: 4095,
        c_size_mult: 7,
        read_bl_len: 10,
    }
}

/// What a card is made of, derived from its kind and storage size (not state).
#[derive(Clone, Debug)]
struct Geometry {
    kind: Kind,
    class: Option<SdClass>,
    block_addressing: bool,
    capacity: u64,
    boot: u64,
    csd: [u8; 16],
    cid: [u8; 16],
    /// eMMC CSD write block length exponent (for the CSD erase group).
    write_bl_len: u32,
}

fn human(n: u64) -> String {
    if n >= 1 << 30 && n.is_multiple_of(1 << 30) {
        format!("{} GiB", n >> 30)
    } else if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else {
        format!("{n} bytes")
    }
}

impl Geometry {
    fn new(kind: Kind, len: u64, boot: u64) -> Result<Geometry, String> {
        let what = match kind {
            Kind::Sd => "SD card",
            Kind::Emmc => "eMMC",
        };
        if len == 0 {
            return Err(format!("{what} image is empty"));
        }
        if !len.is_multiple_of(BLOCK_SIZE) {
            return Err(format!(
                "{what} image is {len} bytes, not a multiple of {BLOCK_SIZE}-byte blocks"
            ));
        }
        match kind {
            Kind::Sd => Self::sd(len, boot),
            Kind::Emmc => Self::emmc(len, boot),
        }
    }

    fn sd(len: u64, boot: u64) -> Result<Geometry, String> {
        if boot != 0 {
            return Err(format!(
                "boot partitions exist on eMMC only; an SD card takes boot partition size 0, \
                 not {boot}"
            ));
        }
        if len > SDXC_MAX {
            return Err(format!(
                "SD card image is {}, more than the 2 TiB an SDXC card can hold",
                human(len)
            ));
        }
        let class = if len <= SDSC_MAX {
            SdClass::Sdsc
        } else if len <= SDHC_MAX {
            SdClass::Sdhc
        } else {
            SdClass::Sdxc
        };
        let (capacity, csd) = if class == SdClass::Sdsc {
            let size = csd_size(len);
            if size.capacity == 0 {
                return Err(format!(
                    "SD card image is {len} bytes; an SDSC card holds at least 2048 bytes"
                ));
            }
            (size.capacity, sd_csd_v1(&size))
        } else {
            let units = len / SDHC_SIZE_UNIT;
            (units * SDHC_SIZE_UNIT, sd_csd_v2(units as u32 - 1))
        };
        if capacity < len {
            log::warn!(
                "sd-card: the CSD can say {capacity} of the image's {len} bytes; the last {} \
                 bytes are not used",
                len - capacity
            );
        }
        Ok(Geometry {
            kind: Kind::Sd,
            class: Some(class),
            block_addressing: class != SdClass::Sdsc,
            capacity,
            boot: 0,
            csd,
            cid: sd_cid(),
            write_bl_len: 9,
        })
    }

    fn emmc(len: u64, boot: u64) -> Result<Geometry, String> {
        if !boot.is_multiple_of(BOOT_PARTITION_UNIT) || boot > BOOT_PARTITION_MAX {
            return Err(format!(
                "eMMC boot partition size {boot} is not a multiple of 128 KiB up to 255 x 128 KiB"
            ));
        }
        if 2 * boot >= len {
            return Err(format!(
                "eMMC image is {}, which leaves no user area after two {} boot partitions",
                human(len),
                human(boot)
            ));
        }
        let user = len - 2 * boot;
        if user > EMMC_MAX {
            return Err(format!(
                "eMMC user area is {}, more than the 2 TiB - 512 bytes SEC_COUNT can say",
                human(user)
            ));
        }
        let block_addressing = user > EMMC_BYTE_MODE_MAX;
        let size = if block_addressing {
            // C_SIZE saturated: the size is in SEC_COUNT (JESD84-B51 section 7.3.12).
            CsdSize {
                capacity: user,
                c_size: 0xFFF,
                c_size_mult: 7,
                read_bl_len: 9,
            }
        } else {
            csd_size(user)
        };
        if size.capacity == 0 {
            return Err(format!(
                "eMMC user area is {user} bytes; it must hold at least 2048 bytes"
            ));
        }
        if size.capacity < user {
            log::warn!(
                "sd-card: the eMMC CSD can say {} of the user area's {user} bytes; the last {} \
                 bytes are not used",
                size.capacity,
                user - size.capacity
            );
        }
        Ok(Geometry {
            kind: Kind::Emmc,
            class: None,
            block_addressing,
            capacity: size.capacity,
            boot,
            csd: emmc_csd(&size),
            cid: emmc_cid(),
            write_bl_len: size.read_bl_len,
        })
    }

    /// (first byte, end) of `p` in the storage.
    fn area(&self, p: Partition) -> (u64, u64) {
        match (self.kind, p) {
            (Kind::Emmc, Partition::Boot0) => (0, self.boot),
            (Kind::Emmc, Partition::Boot1) => (self.boot, 2 * self.boot),
            (Kind::Emmc, Partition::User) => (2 * self.boot, 2 * self.boot + self.capacity),
            (Kind::Sd, _) => (0, self.capacity),
        }
    }
}

fn field(value: u32, start: u32) -> u128 {
    u128::from(value) << start
}

/// SD CID: MID [127:120], OID [119:104], PNM [103:64], PRV [63:56], PSN [55:24], MDT [19:8]
/// (year - 2000 [19:12], month [11:8]): January 2024.
fn sd_cid() -> [u8; 16] {
    let mut r = field(u32::from(CID_MID), 120) | field(u32::from(CID_SD_OID), 104);
    for (i, &c) in CID_SD_PNM.iter().enumerate() {
        r |= field(u32::from(c), 96 - 8 * i as u32);
    }
    r |= field(u32::from(CID_PRV), 56) | field(CID_PSN, 24);
    r |= field(24, 12) | field(1, 8);
    with_crc(r)
}

/// eMMC CID: MID [127:120], CBX [113:112] (01b, BGA), OID [111:104], PNM [103:56], PRV
/// [55:48], PSN [47:16], MDT [15:8] (month [15:12], year [11:8]: 11 is 2024 for EXT_CSD_REV
/// above 4): January 2024.
fn emmc_cid() -> [u8; 16] {
    let mut r =
        field(u32::from(CID_MID), 120) | field(1, 112) | field(u32::from(CID_EMMC_OID), 104);
    for (i, &c) in CID_EMMC_PNM.iter().enumerate() {
        r |= field(u32::from(c), 96 - 8 * i as u32);
    }
    r |= field(u32::from(CID_PRV), 48) | field(CID_PSN, 16);
    r |= field(1, 12) | field(11, 8);
    with_crc(r)
}

/// SD CSD 1.0 (SD 3.01 section 5.3.2).
fn sd_csd_v1(size: &CsdSize) -> [u8; 16] {
    let r = field(CSD_TAAC, 112) // [119:112] TAAC
        | field(CSD_TRAN_SPEED, 96) // [103:96] TRAN_SPEED
        | field(SD_CCC, 84) // [95:84] CCC
        | field(size.read_bl_len, 80) // [83:80] READ_BL_LEN
        | field(1, 79) // [79] READ_BL_PARTIAL: always 1 on SD
        | field(size.c_size, 62) // [73:62] C_SIZE
        | field(0b110_110_110_110, 50) // [61:50] VDD_R/W_CURR_MIN/MAX: 60 mA / 80 mA
        | field(size.c_size_mult, 47) // [49:47] C_SIZE_MULT
        | field(1, 46) // [46] ERASE_BLK_EN: erase by write block
        | field(0x7F, 39) // [45:39] SECTOR_SIZE: 128 blocks
        | field(0b010, 26) // [28:26] R2W_FACTOR: 4
        | field(size.read_bl_len, 22); // [25:22] WRITE_BL_LEN
    with_crc(r)
}

/// SD CSD 2.0 (SD 3.01 section 5.3.3): capacity = (C_SIZE + 1) * 512 KiB.
fn sd_csd_v2(c_size: u32) -> [u8; 16] {
    let r = field(1, 126) // [127:126] CSD_STRUCTURE 1
        | field(CSD_TAAC, 112)
        | field(CSD_TRAN_SPEED, 96)
        | field(SD_CCC, 84)
        | field(9, 80) // [83:80] READ_BL_LEN: 512
        | field(c_size, 48) // [69:48] C_SIZE
        | field(1, 46) // [46] ERASE_BLK_EN
        | field(0x7F, 39) // [45:39] SECTOR_SIZE
        | field(0b010, 26) // [28:26] R2W_FACTOR
        | field(9, 22); // [25:22] WRITE_BL_LEN
    with_crc(r)
}

/// eMMC CSD (JESD84-B51 section 7.3): CSD_STRUCTURE 3 (version in EXT_CSD), SPEC_VERS 4.
fn emmc_csd(size: &CsdSize) -> [u8; 16] {
    let partial = u32::from(size.read_bl_len > 9);
    let r = field(3, 126) // [127:126] CSD_STRUCTURE
        | field(4, 122) // [125:122] SPEC_VERS: 4.1 and later
        | field(CSD_TAAC, 112)
        | field(CSD_TRAN_SPEED, 96)
        | field(EMMC_CCC, 84)
        | field(size.read_bl_len, 80) // [83:80] READ_BL_LEN
        | field(partial, 79) // [79] READ_BL_PARTIAL: 512-byte reads of 1 KiB blocks
        | field(size.c_size, 62)
        | field(0b110_110_110_110, 50)
        | field(size.c_size_mult, 47)
        | field(31, 42) // [46:42] ERASE_GRP_SIZE
        | field(31, 37) // [41:37] ERASE_GRP_MULT: 32 x 32 write blocks
        | field(0b010, 26) // [28:26] R2W_FACTOR
        | field(size.read_bl_len, 22) // [25:22] WRITE_BL_LEN
        | field(partial, 21); // [21] WRITE_BL_PARTIAL
    with_crc(r)
}

/// The EXT_CSD bytes the host may change with CMD6, kept in [`CardState::ext_csd`]; the others
/// are derived from the geometry.
const EXT_CSD_WRITABLE: [usize; 10] = [
    ext_csd::FLUSH_CACHE,
    ext_csd::CACHE_CTRL,
    ext_csd::POWER_OFF_NOTIFICATION,
    ext_csd::RST_N_FUNCTION,
    ext_csd::ERASE_GROUP_DEF,
    ext_csd::BOOT_BUS_CONDITIONS,
    ext_csd::PARTITION_CONFIG,
    ext_csd::BUS_WIDTH,
    ext_csd::HS_TIMING,
    ext_csd::POWER_CLASS,
];

/// The eMMC's EXT_CSD at power-up.
fn build_ext_csd(g: &Geometry) -> Vec<u8> {
    use ext_csd::*;
    let mut e = vec![0u8; EXT_CSD_SIZE];
    e[S_CMD_SET] = 1;
    e[DEVICE_LIFE_TIME_EST_TYP_B] = 1;
    e[DEVICE_LIFE_TIME_EST_TYP_A] = 1;
    e[PRE_EOL_INFO] = 1;
    e[FIRMWARE_VERSION..FIRMWARE_VERSION + 8].copy_from_slice(&EMMC_FIRMWARE_VERSION);
    e[GENERIC_CMD6_TIME] = 10; // 100 ms
    e[POWER_OFF_LONG_TIME] = 10;
    e[INI_TIMEOUT_AP] = 10; // 1 s
    e[TRIM_MULT] = 1; // 300 ms
    e[SEC_FEATURE_SUPPORT] = EMMC_SEC_GB_CL_EN;
    e[BOOT_INFO] = 0;
    e[BOOT_SIZE_MULT] = (g.boot / BOOT_PARTITION_UNIT) as u8;
    e[HC_ERASE_GRP_SIZE] = 1; // 512 KiB
    e[ERASE_TIMEOUT_MULT] = 1;
    e[REL_WR_SEC_C] = 1;
    e[HC_WP_GRP_SIZE] = 1;
    e[S_C_VCC] = 7;
    e[S_C_VCCQ] = 7;
    e[S_A_TIMEOUT] = 0x10; // 6.5 ms
    let sectors = (g.capacity / BLOCK_SIZE) as u32;
    e[SEC_COUNT..SEC_COUNT + 4].copy_from_slice(&sectors.to_le_bytes());
    e[PARTITION_SWITCH_TIME] = 1;
    e[DRIVER_STRENGTH] = 1;
    e[DEVICE_TYPE] = EMMC_DEVICE_TYPE;
    e[CSD_STRUCTURE] = 2;
    e[EXT_CSD_REV] = 8;
    e[WR_REL_PARAM] = 1 << 2;
    e
}

/// A data transfer in progress, as plain data.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TransferState {
    /// Card to host: a register or status block; `data[pos..]` is still to be sent.
    Register {
        /// The whole block.
        data: Vec<u8>,
        /// Bytes sent so far.
        pos: usize,
    },
    /// Card to host: blocks of the storage.
    ReadBlocks {
        /// Storage offset of the next block to load.
        next: u64,
        /// End of the area (partition) being read.
        end: u64,
        /// Bytes per block (CMD16).
        block_len: u32,
        /// Blocks still to load (None: until CMD12 or the end of the area).
        blocks_left: Option<u32>,
        /// The block being sent.
        block: Vec<u8>,
        /// Bytes of `block` sent.
        pos: usize,
        /// No more data will come (the end of the area was passed or the storage failed);
        /// the card waits for CMD12.
        stopped: bool,
    },
    /// Host to card: 512-byte blocks to the storage.
    WriteBlocks {
        /// Storage offset of the block being received.
        next: u64,
        /// End of the area (partition) being written.
        end: u64,
        /// Blocks still to receive, counting the current one (None: until CMD12).
        blocks_left: Option<u32>,
        /// Bytes of the current block received so far.
        block: Vec<u8>,
    },
    /// Host to card: the eMMC bus test pattern (CMD19).
    BusTest {
        /// Bytes expected: 1, 4 or 8 by BUS_WIDTH.
        len: usize,
        /// Bytes received so far.
        data: Vec<u8>,
    },
}

impl TransferState {
    fn direction(&self) -> Direction {
        match self {
            TransferState::Register { .. } | TransferState::ReadBlocks { .. } => Direction::Read,
            TransferState::WriteBlocks { .. } | TransferState::BusTest { .. } => Direction::Write,
        }
    }
}

/// The card's state as plain data (not the storage): what [`Card::state`] returns and
/// [`Card::from_state`] takes back.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CardState {
    /// What the card is.
    pub kind: Kind,
    /// User area bytes (checked against the storage on restore).
    pub capacity: u64,
    /// Bytes of each eMMC boot partition (0: none; always 0 on SD).
    pub boot_partition_size: u64,
    /// The card state.
    pub state: State,
    /// The relative card address (0 until CMD3).
    pub rca: u16,
    /// ACMD41 / CMD1 calls with voltage bits since CMD0; power-up completes at the second.
    pub power_up_calls: u8,
    /// SD: a valid CMD8 arrived since CMD0 (the card may then honour HCS).
    pub if_cond: bool,
    /// SD: CMD55 arrived; the next command is an application command.
    pub app_cmd: bool,
    /// Error bits for the next R1.
    pub pending_status: u32,
    /// Block length (CMD16).
    pub block_len: u32,
    /// CMD23 block count for the next CMD18 / CMD25.
    pub block_count: Option<u32>,
    /// First byte (within the area) of the erase range.
    pub erase_start: Option<u64>,
    /// Last block's first byte (within the area) of the erase range.
    pub erase_end: Option<u64>,
    /// SD: data bus width (ACMD6), 1 or 4.
    pub bus_width: u8,
    /// SD: high speed selected (CMD6 function group 1).
    pub high_speed: bool,
    /// eMMC: the EXT_CSD as it reads now (512 bytes); empty for SD. Only the bytes CMD6 can
    /// change are taken back on restore.
    pub ext_csd: Vec<u8>,
    /// The data transfer in progress.
    pub transfer: Option<TransferState>,
    /// Blocks the last write stored (SD ACMD22).
    pub written_blocks: u32,
    /// eMMC: the bus test pattern received by CMD19.
    pub bus_test: Vec<u8>,
    /// A storage error was already logged.
    pub io_error_logged: bool,
}

/// What a command handler answers (turned into a [`Response`] by `Card::respond`).
enum Reply {
    /// No response, not an error (CMD0, CMD4, CMD15, deselection, another card's address).
    Silent,
    /// No response; ILLEGAL_COMMAND in the next R1.
    Illegal,
    /// R1 / R1b with these error bits besides the pending ones.
    R1(u32),
    /// R2: CID or CSD.
    R2([u8; 16]),
    /// R3: OCR.
    R3(u32),
    /// R6: published RCA.
    R6(u16),
    /// R7: interface condition.
    R7(u32),
}

/// An SD memory card or an eMMC device.
pub struct Card {
    storage: Box<dyn Storage>,
    g: Geometry,
    s: CardState,
}

impl std::fmt::Debug for Card {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Card")
            .field("kind", &self.g.kind)
            .field("class", &self.g.class)
            .field("capacity", &self.g.capacity)
            .field("boot_partition_size", &self.g.boot)
            .field("state", &self.s.state)
            .field("rca", &self.s.rca)
            .finish_non_exhaustive()
    }
}

impl Card {
    /// A card of `kind` over `storage`, powered up (idle). Fails with a clear message for an
    /// unusable size: not a multiple of 512 bytes, empty, or larger than the kind allows (SD:
    /// SDSC up to 2 GiB, SDHC up to 32 GiB, SDXC up to 2 TiB, picked by size; eMMC: up to
    /// 2 TiB - 512 bytes, sector addressing above 2 GiB). `boot_partition_size` is the size of
    /// each of the two eMMC boot partitions at the start of the storage (a multiple of
    /// 128 KiB, at most 255 x 128 KiB; 0: none); it must be 0 for SD.
    pub fn new(
        kind: Kind,
        storage: Box<dyn Storage>,
        boot_partition_size: u64,
    ) -> Result<Card, String> {
        let g = Geometry::new(kind, storage.len(), boot_partition_size)?;
        let ext_csd = if kind == Kind::Emmc {
            build_ext_csd(&g)
        } else {
            Vec::new()
        };
        let s = CardState {
            kind,
            capacity: g.capacity,
            boot_partition_size: g.boot,
            state: State::Idle,
            rca: 0,
            power_up_calls: 0,
            if_cond: false,
            app_cmd: false,
            pending_status: 0,
            block_len: BLOCK_SIZE as u32,
            block_count: None,
            erase_start: None,
            erase_end: None,
            bus_width: 1,
            high_speed: false,
            ext_csd,
            transfer: None,
            written_blocks: 0,
            bus_test: Vec::new(),
            io_error_logged: false,
        };
        Ok(Card { storage, g, s })
    }

    /// A card restored from `state` over `storage`, which must be the same size as when the
    /// state was taken. Fails on a size mismatch or an inconsistent state.
    pub fn from_state(storage: Box<dyn Storage>, state: &CardState) -> Result<Card, String> {
        let mut card = Card::new(state.kind, storage, state.boot_partition_size)?;
        card.take_state(state)?;
        Ok(card)
    }

    /// The card's state for a snapshot ([`CardState`], not the storage), as
    /// `bus::Device::save_state` gives a device's: always `Some`.
    pub fn save_state(&self) -> Option<DeviceState> {
        Some(DeviceState::new(STATE_KIND, STATE_VERSION, &self.s))
    }

    /// Puts the card into a state [`Card::save_state`] returned, keeping its storage. Refused,
    /// with the card left unchanged: a state of another kind or format version, one of another
    /// kind of card (SD or eMMC), capacity or boot partition size, or an inconsistent one.
    pub fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        let saved: CardState = state.decode(STATE_KIND, STATE_VERSION)?;
        self.take_state(&saved).map_err(StateError)
    }

    /// Takes `state` if it fits this card (its kind, size and geometry); unchanged if not.
    fn take_state(&mut self, state: &CardState) -> Result<(), String> {
        let what = |kind: Kind| match kind {
            Kind::Sd => "an SD card",
            Kind::Emmc => "an eMMC",
        };
        if state.kind != self.g.kind {
            return Err(format!(
                "the state is of {}, this card is {}",
                what(state.kind),
                what(self.g.kind)
            ));
        }
        if state.boot_partition_size != self.g.boot {
            return Err(format!(
                "the card's boot partitions were {} bytes each, this one's are {}",
                state.boot_partition_size, self.g.boot
            ));
        }
        if state.capacity != self.g.capacity {
            return Err(format!(
                "the card's capacity was {} bytes, the storage now gives {}",
                state.capacity, self.g.capacity
            ));
        }
        self.check_state(state)?;
        // The EXT_CSD bytes CMD6 cannot change come from the geometry, not the state.
        let mut ext_csd = std::mem::take(&mut self.s.ext_csd);
        if self.g.kind == Kind::Emmc {
            for i in EXT_CSD_WRITABLE {
                ext_csd[i] = state.ext_csd[i];
            }
        }
        self.s = state.clone();
        self.s.ext_csd = ext_csd;
        Ok(())
    }

    fn check_state(&self, s: &CardState) -> Result<(), String> {
        let bad = |what: &str| Err(format!("inconsistent card state: {what}"));
        let block_len_ok = if self.g.class == Some(SdClass::Sdsc) {
            (1..=BLOCK_SIZE as u32).contains(&s.block_len)
        } else {
            u64::from(s.block_len) == BLOCK_SIZE
        };
        if !block_len_ok {
            return bad("block length");
        }
        match self.g.kind {
            Kind::Sd => {
                if !s.ext_csd.is_empty() || matches!(s.state, State::BusTest | State::Sleep) {
                    return bad("eMMC state on an SD card");
                }
                if s.bus_width != 1 && s.bus_width != 4 {
                    return bad("bus width");
                }
            }
            Kind::Emmc => {
                if s.ext_csd.len() != EXT_CSD_SIZE {
                    return bad("EXT_CSD size");
                }
                let mut probe = self.s.ext_csd.clone();
                for i in EXT_CSD_WRITABLE {
                    probe[i] = 0;
                }
                for i in EXT_CSD_WRITABLE {
                    if i != ext_csd::FLUSH_CACHE
                        && !ext_csd_value_ok(&self.g, &probe, i, s.ext_csd[i])
                    {
                        return bad("EXT_CSD value");
                    }
                }
            }
        }
        if s.bus_test.len() > 8 {
            return bad("bus test pattern");
        }
        let storage_len = self.storage.len();
        let direction = match &s.transfer {
            None => None,
            Some(t) => {
                let ok = match t {
                    TransferState::Register { data, pos } => *pos <= data.len(),
                    TransferState::ReadBlocks {
                        next,
                        end,
                        block_len,
                        block,
                        pos,
                        ..
                    } => {
                        *end <= storage_len
                            && *next <= *end
                            && *block_len >= 1
                            && *block_len <= BLOCK_SIZE as u32
                            && block.len() <= BLOCK_SIZE as usize
                            && *pos <= block.len()
                    }
                    TransferState::WriteBlocks {
                        next, end, block, ..
                    } => *end <= storage_len && *next <= *end && block.len() < BLOCK_SIZE as usize,
                    TransferState::BusTest { len, data } => *len <= 8 && data.len() < *len,
                };
                if !ok {
                    return bad("transfer");
                }
                Some((t.direction(), matches!(t, TransferState::BusTest { .. })))
            }
        };
        let consistent = match s.state {
            State::SendingData => matches!(direction, Some((Direction::Read, _))),
            State::ReceivingData => matches!(direction, Some((Direction::Write, false))),
            State::BusTest => direction.is_none() || matches!(direction, Some((_, true))),
            _ => direction.is_none(),
        };
        if !consistent {
            return bad("transfer and state disagree");
        }
        Ok(())
    }

    /// A copy of the card's state (not the storage).
    pub fn state(&self) -> CardState {
        self.s.clone()
    }

    /// What the card is.
    pub fn kind(&self) -> Kind {
        self.g.kind
    }

    /// The SD capacity class (None for eMMC).
    pub fn sd_class(&self) -> Option<SdClass> {
        self.g.class
    }

    /// User area bytes.
    pub fn capacity(&self) -> u64 {
        self.g.capacity
    }

    /// Bytes of each eMMC boot partition (0: none).
    pub fn boot_partition_size(&self) -> u64 {
        self.g.boot
    }

    /// Whether data addresses count 512-byte blocks (SDHC, SDXC, eMMC above 2 GiB) rather than
    /// bytes.
    pub fn block_addressing(&self) -> bool {
        self.g.block_addressing
    }

    /// The card state.
    pub fn current_state(&self) -> State {
        self.s.state
    }

    /// The relative card address (0 until CMD3).
    pub fn rca(&self) -> u16 {
        self.s.rca
    }

    /// The CID register as CMD2 / CMD10 send it.
    pub fn cid(&self) -> [u8; 16] {
        self.g.cid
    }

    /// The CSD register as CMD9 sends it.
    pub fn csd(&self) -> [u8; 16] {
        self.g.csd
    }

    /// The eMMC EXT_CSD as CMD8 sends it now (None for SD).
    pub fn ext_csd(&self) -> Option<Vec<u8>> {
        (self.g.kind == Kind::Emmc).then(|| self.s.ext_csd.clone())
    }

    /// The area data commands reach: PARTITION_CONFIG bits 2:0 on eMMC, the user area on SD.
    pub fn partition(&self) -> Partition {
        if self.g.kind == Kind::Sd {
            return Partition::User;
        }
        match self.s.ext_csd[ext_csd::PARTITION_CONFIG] & 7 {
            1 => Partition::Boot0,
            2 => Partition::Boot1,
            _ => Partition::User,
        }
    }

    /// Bytes in `p` (0 for a boot partition the card lacks).
    pub fn partition_len(&self, p: Partition) -> u64 {
        let (start, end) = self.g.area(p);
        end - start
    }

    /// The storage.
    pub fn storage(&self) -> &dyn Storage {
        self.storage.as_ref()
    }

    /// The storage, for the host side (flushing, inspecting).
    pub fn storage_mut(&mut self) -> &mut dyn Storage {
        self.storage.as_mut()
    }

    /// Gives the storage back.
    pub fn into_storage(self) -> Box<dyn Storage> {
        self.storage
    }

    /// Power cycle (power off and on, or the card taken out and put back): idle, no RCA, bus
    /// and timing back to their defaults. Kept: the storage and the eMMC's non-volatile
    /// EXT_CSD bytes (boot configuration, RST_n_FUNCTION).
    pub fn reset(&mut self) {
        self.go_idle();
    }

    /// Whether a data transfer is in progress, and its direction. A read that stopped at the
    /// end of the card stays in progress (with no more data) until CMD12.
    pub fn transfer(&self) -> Option<Direction> {
        self.s.transfer.as_ref().map(TransferState::direction)
    }

    /// Runs command `index` (CMD0..CMD63; after CMD55 an SD card takes the next command as an
    /// application command) with `arg`. None: no response (the host sees a command timeout):
    /// an unknown command, a command illegal in the current state (ILLEGAL_COMMAND is then
    /// reported in the next R1), CMD0, CMD4, CMD15, or a command addressed to another RCA.
    pub fn command(&mut self, index: u8, arg: u32) -> Option<Response> {
        if self.s.state == State::Inactive {
            return None;
        }
        if index == cmd::GO_IDLE_STATE {
            if self.g.kind == Kind::Emmc && arg == EMMC_BOOT_INITIATION {
                log::debug!("sd-card: eMMC boot initiation (boot mode is not modelled)");
            }
            self.go_idle();
            return None;
        }
        let app = std::mem::take(&mut self.s.app_cmd);
        let before = self.s.state;
        let reported = std::mem::take(&mut self.s.pending_status);
        let count = self.s.block_count.take();
        let mut extra = 0;
        if index == cmd::SEND_STATUS && !app {
            self.s.block_count = count;
        }
        let erase_cmds = match self.g.kind {
            Kind::Sd => [cmd::ERASE_WR_BLK_START, cmd::ERASE_WR_BLK_END, cmd::ERASE],
            Kind::Emmc => [cmd::ERASE_GROUP_START, cmd::ERASE_GROUP_END, cmd::ERASE],
        };
        if self.s.erase_start.is_some() && !erase_cmds.contains(&index) && index != cmd::SEND_STATUS
        {
            self.s.erase_start = None;
            self.s.erase_end = None;
            extra |= status::ERASE_RESET;
        }
        let (reply, as_app) = if index > 63 {
            (Reply::Illegal, false)
        } else {
            match self.g.kind {
                Kind::Sd => self.sd_command(index, arg, app, count),
                Kind::Emmc => (self.emmc_command(index, arg, count), false),
            }
        };
        let app_bit = if as_app { status::APP_CMD } else { 0 };
        let base = (before.code() << status::CURRENT_STATE_SHIFT) | status::READY_FOR_DATA;
        match reply {
            Reply::Silent => {
                self.s.pending_status |= reported;
                None
            }
            Reply::Illegal => {
                log::debug!("sd-card: CMD{index} ({arg:#010x}) is illegal in state {before:?}");
                self.s.pending_status |= reported | status::ILLEGAL_COMMAND;
                None
            }
            Reply::R1(bits) => Some(Response::Short(reported | bits | extra | base | app_bit)),
            Reply::R2(r) => {
                self.s.pending_status |= reported;
                Some(Response::Long(r))
            }
            Reply::R3(v) | Reply::R7(v) => {
                self.s.pending_status |= reported;
                Some(Response::Short(v))
            }
            Reply::R6(rca) => {
                // R6 carries status bits 23, 22, 19 in 15, 14, 13 and bits 12:0 as they are.
                let st = reported | extra | base | app_bit;
                let shown = status::COM_CRC_ERROR | status::ILLEGAL_COMMAND | status::ERROR;
                self.s.pending_status |= reported & !shown;
                let low = ((st >> 8) & 0xC000) | ((st >> 6) & 0x2000) | (st & 0x1FFF);
                Some(Response::Short((u32::from(rca) << 16) | low))
            }
        }
    }

    /// Bytes of the current read transfer (card to host): read blocks (CMD17; CMD18 until
    /// CMD12, the end of the card or the CMD23 count), SCR (ACMD51, 8 bytes), SD Status
    /// (ACMD13, 64 bytes), CMD6 switch status (SD, 64 bytes), ACMD22 (4 bytes), EXT_CSD (eMMC
    /// CMD8, 512 bytes), the bus test pattern (eMMC CMD14). Returns how many bytes were copied
    /// (0: no read transfer pending, or no more data). A caller may ask for any number of
    /// bytes at a time.
    pub fn read_data(&mut self, buf: &mut [u8]) -> usize {
        let mut copied = 0;
        while copied < buf.len() {
            let Some(t) = self.s.transfer.as_mut() else {
                break;
            };
            match t {
                TransferState::Register { data, pos } => {
                    let n = (data.len() - *pos).min(buf.len() - copied);
                    buf[copied..copied + n].copy_from_slice(&data[*pos..*pos + n]);
                    *pos += n;
                    copied += n;
                    if *pos == data.len() {
                        self.finish_transfer();
                    }
                }
                TransferState::ReadBlocks {
                    block,
                    pos,
                    blocks_left,
                    stopped,
                    ..
                } => {
                    if *pos < block.len() {
                        let n = (block.len() - *pos).min(buf.len() - copied);
                        buf[copied..copied + n].copy_from_slice(&block[*pos..*pos + n]);
                        *pos += n;
                        copied += n;
                        if *pos == block.len() && *blocks_left == Some(0) {
                            self.finish_transfer();
                        }
                    } else if *stopped {
                        break;
                    } else if *blocks_left == Some(0) {
                        self.finish_transfer();
                    } else {
                        self.load_block();
                    }
                }
                TransferState::WriteBlocks { .. } | TransferState::BusTest { .. } => break,
            }
        }
        copied
    }

    /// Bytes of the current write transfer (host to card): CMD24, CMD25 (until CMD12 or the
    /// CMD23 count), the eMMC bus test pattern (CMD19). Each completed 512-byte block goes to
    /// the storage. Returns how many bytes were taken (fewer than offered at the end of the
    /// transfer or of the card; 0: no write transfer pending).
    pub fn write_data(&mut self, data: &[u8]) -> usize {
        let mut taken = 0;
        while taken < data.len() {
            let Some(t) = self.s.transfer.as_mut() else {
                break;
            };
            match t {
                TransferState::WriteBlocks {
                    next,
                    end,
                    blocks_left,
                    block,
                } => {
                    if block.is_empty() && next.saturating_add(BLOCK_SIZE) > *end {
                        // Past the end of the area: the card takes no more.
                        self.s.pending_status |= status::OUT_OF_RANGE;
                        break;
                    }
                    let n = (BLOCK_SIZE as usize - block.len()).min(data.len() - taken);
                    block.extend_from_slice(&data[taken..taken + n]);
                    taken += n;
                    if block.len() == BLOCK_SIZE as usize {
                        let at = *next;
                        let full = std::mem::take(block);
                        *next += BLOCK_SIZE;
                        if let Some(left) = blocks_left.as_mut() {
                            *left = left.saturating_sub(1);
                        }
                        let done = *blocks_left == Some(0);
                        match self.storage.write_at(at, &full) {
                            Ok(()) => {
                                self.s.written_blocks = self.s.written_blocks.saturating_add(1)
                            }
                            Err(e) => self.io_error("write", at, &e, status::ERROR),
                        }
                        if done {
                            self.finish_transfer();
                        }
                    }
                }
                TransferState::BusTest { len, data: got } => {
                    let n = (*len - got.len()).min(data.len() - taken);
                    got.extend_from_slice(&data[taken..taken + n]);
                    taken += n;
                    if got.len() == *len {
                        self.s.bus_test = std::mem::take(got);
                        self.s.transfer = None;
                    }
                }
                TransferState::Register { .. } | TransferState::ReadBlocks { .. } => break,
            }
        }
        taken
    }

    // ---- common helpers ----

    fn go_idle(&mut self) {
        let s = &mut self.s;
        s.state = State::Idle;
        s.rca = 0;
        s.power_up_calls = 0;
        s.if_cond = false;
        s.app_cmd = false;
        s.pending_status = 0;
        s.block_len = BLOCK_SIZE as u32;
        s.block_count = None;
        s.erase_start = None;
        s.erase_end = None;
        s.bus_width = 1;
        s.high_speed = false;
        s.transfer = None;
        s.written_blocks = 0;
        s.bus_test.clear();
        if self.g.kind == Kind::Emmc {
            // The volatile (E_P) bytes return to their defaults; PARTITION_CONFIG keeps its
            // boot configuration (bits 6:3) but selects the user area again.
            let e = &mut s.ext_csd;
            e[ext_csd::FLUSH_CACHE] = 0;
            e[ext_csd::CACHE_CTRL] = 0;
            e[ext_csd::POWER_OFF_NOTIFICATION] = 0;
            e[ext_csd::ERASE_GROUP_DEF] = 0;
            e[ext_csd::PARTITION_CONFIG] &= !7;
            e[ext_csd::BUS_WIDTH] = 0;
            e[ext_csd::HS_TIMING] = 0;
            e[ext_csd::POWER_CLASS] = 0;
        }
    }

    fn finish_transfer(&mut self) {
        self.s.transfer = None;
        self.s.state = State::Transfer;
    }

    fn io_error(&mut self, what: &str, offset: u64, e: &io::Error, bit: u32) {
        if !self.s.io_error_logged {
            self.s.io_error_logged = true;
            log::warn!(
                "sd-card: storage {what} at byte {offset:#x} failed: {e}; the card reports an \
                 error to the host (later storage errors are not logged)"
            );
        }
        self.s.pending_status |= bit;
    }

    /// Loads the next block of a ReadBlocks transfer (or stops it).
    fn load_block(&mut self) {
        let Some(TransferState::ReadBlocks {
            next,
            end,
            block_len,
            blocks_left,
            ..
        }) = self.s.transfer.as_ref()
        else {
            return;
        };
        let (at, end, len, bounded) = (*next, *end, u64::from(*block_len), blocks_left.is_some());
        let mut error = 0;
        let mut data = Vec::new();
        if at.saturating_add(len) > end {
            error = status::OUT_OF_RANGE;
        } else if at % BLOCK_SIZE + len > BLOCK_SIZE {
            error = status::ADDRESS_ERROR;
        } else {
            data = vec![0u8; len as usize];
            if let Err(e) = self.storage.read_at(at, &mut data) {
                self.io_error("read", at, &e, status::CARD_ECC_FAILED);
                error = status::CARD_ECC_FAILED;
            }
        }
        if error != 0 {
            self.s.pending_status |= error;
            if bounded {
                // A counted (or single-block) read ends: the card goes back to tran.
                self.finish_transfer();
            } else if let Some(TransferState::ReadBlocks {
                stopped,
                block,
                pos,
                ..
            }) = self.s.transfer.as_mut()
            {
                *stopped = true;
                block.clear();
                *pos = 0;
            }
            return;
        }
        if let Some(TransferState::ReadBlocks {
            next,
            blocks_left,
            block,
            pos,
            ..
        }) = self.s.transfer.as_mut()
        {
            *next += len;
            if let Some(left) = blocks_left.as_mut() {
                *left = left.saturating_sub(1);
            }
            *block = data;
            *pos = 0;
        }
    }

    /// Whether an addressed command's RCA (bits 31:16) is this card's.
    fn addressed(&self, arg: u32) -> bool {
        (arg >> 16) as u16 == self.s.rca
    }

    /// The area data commands reach now: (first byte, end) in the storage.
    fn area(&self) -> (u64, u64) {
        self.g.area(self.partition())
    }

    /// The data address in `arg` as a byte offset within the area.
    fn data_offset(&self, arg: u32) -> u64 {
        if self.g.block_addressing {
            u64::from(arg) * BLOCK_SIZE
        } else {
            u64::from(arg)
        }
    }

    fn send_register(&mut self, data: Vec<u8>) -> Reply {
        self.s.transfer = Some(TransferState::Register { data, pos: 0 });
        self.s.state = State::SendingData;
        Reply::R1(0)
    }

    fn select(&mut self, arg: u32) -> Reply {
        let rca = (arg >> 16) as u16;
        let ours = rca != 0 && rca == self.s.rca;
        match self.s.state {
            State::Standby if ours => {
                self.s.state = State::Transfer;
                Reply::R1(0)
            }
            State::Standby => Reply::Silent,
            State::Transfer if ours => Reply::R1(0),
            State::Transfer | State::SendingData if !ours => {
                self.s.transfer = None;
                self.s.state = State::Standby;
                Reply::Silent
            }
            _ if ours => Reply::Illegal,
            _ => Reply::Silent,
        }
    }

    fn send_cxd(&mut self, index: u8, arg: u32) -> Reply {
        if !self.addressed(arg) {
            Reply::Silent
        } else if self.s.state != State::Standby {
            Reply::Illegal
        } else if index == cmd::SEND_CSD {
            Reply::R2(self.g.csd)
        } else {
            Reply::R2(self.g.cid)
        }
    }

    fn stop(&mut self) -> Reply {
        match self.s.state {
            State::SendingData | State::ReceivingData => {
                // A partly received block is dropped.
                self.finish_transfer();
                Reply::R1(0)
            }
            _ => Reply::Illegal,
        }
    }

    fn send_status(&mut self, arg: u32) -> Reply {
        if !self.addressed(arg) {
            return Reply::Silent;
        }
        match self.s.state {
            State::Standby
            | State::Transfer
            | State::SendingData
            | State::ReceivingData
            | State::BusTest => Reply::R1(0),
            _ => Reply::Illegal,
        }
    }

    fn go_inactive(&mut self, arg: u32) -> Reply {
        if !self.addressed(arg) {
            return Reply::Silent;
        }
        match self.s.state {
            State::Idle | State::Ready | State::Ident => Reply::Illegal,
            _ => {
                self.s.transfer = None;
                self.s.state = State::Inactive;
                Reply::Silent
            }
        }
    }

    fn set_blocklen(&mut self, arg: u32) -> Reply {
        if self.s.state != State::Transfer {
            return Reply::Illegal;
        }
        let ok = if self.g.class == Some(SdClass::Sdsc) {
            (1..=BLOCK_SIZE as u32).contains(&arg)
        } else {
            arg == BLOCK_SIZE as u32
        };
        if ok {
            self.s.block_len = arg;
            Reply::R1(0)
        } else {
            Reply::R1(status::BLOCK_LEN_ERROR)
        }
    }

    fn set_block_count(&mut self, count: u32) -> Reply {
        if self.s.state != State::Transfer {
            return Reply::Illegal;
        }
        self.s.block_count = (count != 0).then_some(count);
        Reply::R1(0)
    }

    fn start_read(&mut self, arg: u32, multi: bool, count: Option<u32>) -> Reply {
        if self.s.state != State::Transfer {
            return Reply::Illegal;
        }
        let (base, end) = self.area();
        let off = self.data_offset(arg);
        let len = u64::from(self.s.block_len);
        if off.saturating_add(len) > end - base {
            return Reply::R1(status::OUT_OF_RANGE);
        }
        if off % BLOCK_SIZE + len > BLOCK_SIZE {
            return Reply::R1(status::ADDRESS_ERROR);
        }
        self.s.transfer = Some(TransferState::ReadBlocks {
            next: base + off,
            end,
            block_len: self.s.block_len,
            blocks_left: if multi { count } else { Some(1) },
            block: Vec::new(),
            pos: 0,
            stopped: false,
        });
        self.s.state = State::SendingData;
        Reply::R1(0)
    }

    fn start_write(&mut self, arg: u32, multi: bool, count: Option<u32>) -> Reply {
        if self.s.state != State::Transfer {
            return Reply::Illegal;
        }
        if u64::from(self.s.block_len) != BLOCK_SIZE {
            return Reply::R1(status::BLOCK_LEN_ERROR);
        }
        let (base, end) = self.area();
        let off = self.data_offset(arg);
        if off.saturating_add(BLOCK_SIZE) > end - base {
            return Reply::R1(status::OUT_OF_RANGE);
        }
        if !off.is_multiple_of(BLOCK_SIZE) {
            return Reply::R1(status::ADDRESS_ERROR);
        }
        self.s.transfer = Some(TransferState::WriteBlocks {
            next: base + off,
            end,
            blocks_left: if multi { count } else { Some(1) },
            block: Vec::new(),
        });
        self.s.written_blocks = 0;
        self.s.state = State::ReceivingData;
        Reply::R1(0)
    }

    /// CMD32 / CMD35 (start), CMD33 / CMD36 (end), CMD38 (erase).
    fn erase_command(&mut self, index: u8, arg: u32) -> Reply {
        if self.s.state != State::Transfer {
            return Reply::Illegal;
        }
        let (base, end) = self.area();
        let area_len = end - base;
        let off = self.data_offset(arg);
        match index {
            cmd::ERASE_WR_BLK_START | cmd::ERASE_GROUP_START => {
                self.s.erase_end = None;
                if off >= area_len {
                    self.s.erase_start = None;
                    return Reply::R1(status::OUT_OF_RANGE);
                }
                self.s.erase_start = Some(off - off % BLOCK_SIZE);
                Reply::R1(0)
            }
            cmd::ERASE_WR_BLK_END | cmd::ERASE_GROUP_END => {
                if self.s.erase_start.is_none() {
                    return Reply::R1(status::ERASE_SEQ_ERROR);
                }
                if off >= area_len {
                    self.s.erase_start = None;
                    self.s.erase_end = None;
                    return Reply::R1(status::OUT_OF_RANGE);
                }
                self.s.erase_end = Some(off - off % BLOCK_SIZE);
                Reply::R1(0)
            }
            _ => {
                let (Some(first), Some(last)) =
                    (self.s.erase_start.take(), self.s.erase_end.take())
                else {
                    self.s.erase_start = None;
                    self.s.erase_end = None;
                    return Reply::R1(status::ERASE_SEQ_ERROR);
                };
                if first > last {
                    return Reply::R1(status::ERASE_PARAM);
                }
                let (from, to) = match (self.g.kind, arg) {
                    // SD: every argument (erase, discard, FULE) erases the write blocks.
                    (Kind::Sd, _) | (Kind::Emmc, EMMC_TRIM_ARG | EMMC_DISCARD_ARG) => {
                        (first, last + BLOCK_SIZE)
                    }
                    (Kind::Emmc, EMMC_ERASE_ARG) => {
                        let group = self.erase_group();
                        (first - first % group, (last / group + 1) * group)
                    }
                    _ => return Reply::R1(status::ERASE_PARAM),
                };
                let (from, to) = (base + from, base + to.min(area_len));
                if let Err(e) = self.storage.zero_range(from, to - from) {
                    self.io_error("erase", from, &e, status::ERROR);
                }
                Reply::R1(0)
            }
        }
    }

    /// eMMC erase group in bytes: EXT_CSD HC_ERASE_GRP_SIZE with ERASE_GROUP_DEF set, else the
    /// CSD's ERASE_GRP_SIZE x ERASE_GRP_MULT write blocks.
    fn erase_group(&self) -> u64 {
        if self.s.ext_csd[ext_csd::ERASE_GROUP_DEF] & 1 != 0 {
            EMMC_ERASE_GROUP
        } else {
            (32 * 32) << self.g.write_bl_len
        }
    }

    // ---- SD ----

    /// Returns the reply and whether the command ran as an application command.
    fn sd_command(&mut self, index: u8, arg: u32, app: bool, count: Option<u32>) -> (Reply, bool) {
        if app {
            if let Some(r) = self.sd_app_command(index, arg) {
                return (r, true);
            }
        }
        (self.sd_standard(index, arg, count), false)
    }

    fn sd_standard(&mut self, index: u8, arg: u32, count: Option<u32>) -> Reply {
        let st = self.s.state;
        match index {
            cmd::ALL_SEND_CID if st == State::Ready => {
                self.s.state = State::Ident;
                Reply::R2(self.g.cid)
            }
            cmd::SEND_RELATIVE_ADDR if matches!(st, State::Ident | State::Standby) => {
                let next = if self.s.rca == 0 {
                    SD_FIRST_RCA
                } else {
                    self.s.rca.wrapping_add(1).max(1)
                };
                self.s.rca = next;
                self.s.state = State::Standby;
                Reply::R6(next)
            }
            cmd::SET_DSR if st == State::Standby => Reply::Silent,
            cmd::SWITCH if st == State::Transfer => self.sd_switch(arg),
            cmd::SELECT_CARD => self.select(arg),
            cmd::SEND_IF_COND if st == State::Idle => {
                if arg & if_cond::VHS_MASK == if_cond::VHS_27_36 {
                    self.s.if_cond = true;
                    Reply::R7(arg & (if_cond::VHS_MASK | if_cond::PATTERN_MASK))
                } else {
                    // A voltage the card does not support: no response, still idle.
                    Reply::Silent
                }
            }
            cmd::SEND_CSD | cmd::SEND_CID => self.send_cxd(index, arg),
            cmd::STOP_TRANSMISSION => self.stop(),
            cmd::SEND_STATUS => self.send_status(arg),
            cmd::GO_INACTIVE_STATE => self.go_inactive(arg),
            cmd::SET_BLOCKLEN => self.set_blocklen(arg),
            cmd::READ_SINGLE_BLOCK | cmd::READ_MULTIPLE_BLOCK => {
                self.start_read(arg, index == cmd::READ_MULTIPLE_BLOCK, count)
            }
            cmd::SET_BLOCK_COUNT => self.set_block_count(arg),
            cmd::WRITE_BLOCK | cmd::WRITE_MULTIPLE_BLOCK => {
                self.start_write(arg, index == cmd::WRITE_MULTIPLE_BLOCK, count)
            }
            cmd::ERASE_WR_BLK_START | cmd::ERASE_WR_BLK_END | cmd::ERASE => {
                self.erase_command(index, arg)
            }
            cmd::APP_CMD => {
                if !self.addressed(arg) {
                    return Reply::Silent;
                }
                match st {
                    State::Ready | State::Ident => Reply::Illegal,
                    _ => {
                        self.s.app_cmd = true;
                        Reply::R1(status::APP_CMD)
                    }
                }
            }
            _ => Reply::Illegal,
        }
    }

    /// An application command; None: not one, run it as a standard command.
    fn sd_app_command(&mut self, index: u8, arg: u32) -> Option<Reply> {
        let tran = self.s.state == State::Transfer;
        let reply = match index {
            acmd::SET_BUS_WIDTH if tran => {
                match arg & 3 {
                    0 => self.s.bus_width = 1,
                    2 => self.s.bus_width = 4,
                    _ => log::debug!("sd-card: ACMD6 with reserved bus width {}", arg & 3),
                }
                Reply::R1(0)
            }
            acmd::SD_STATUS if tran => {
                let ssr = self.sd_status();
                self.send_register(ssr)
            }
            acmd::SEND_NUM_WR_BLOCKS if tran => {
                let n = self.s.written_blocks.to_be_bytes().to_vec();
                self.send_register(n)
            }
            acmd::SET_WR_BLK_ERASE_COUNT | acmd::SET_CLR_CARD_DETECT if tran => Reply::R1(0),
            acmd::SEND_SCR if tran => self.send_register(sd_scr()),
            acmd::SD_SEND_OP_COND => self.sd_op_cond(arg),
            acmd::SET_BUS_WIDTH
            | acmd::SD_STATUS
            | acmd::SEND_NUM_WR_BLOCKS
            | acmd::SET_WR_BLK_ERASE_COUNT
            | acmd::SET_CLR_CARD_DETECT
            | acmd::SEND_SCR => Reply::Illegal,
            // Security (CPRM) commands: not modelled.
            18 | 25 | 26 | 38 | 43..=49 => Reply::Illegal,
            _ => return None,
        };
        Some(reply)
    }

    fn sd_op_cond(&mut self, arg: u32) -> Reply {
        if self.s.state != State::Idle {
            return Reply::Illegal;
        }
        let ocr = ocr::SD_VOLTAGES;
        if arg & ocr::SD_VOLTAGES == 0 {
            // An inquiry (Linux mmc_attach_sd's first ACMD41): the card stays idle.
            return Reply::R3(ocr);
        }
        let high_capacity = self.g.class != Some(SdClass::Sdsc);
        if high_capacity && !(self.s.if_cond && arg & ocr::CCS != 0) {
            log::debug!("sd-card: SDHC/SDXC stays busy: the host sent no CMD8 or no HCS");
            return Reply::R3(ocr);
        }
        self.s.power_up_calls = self.s.power_up_calls.saturating_add(1);
        if self.s.power_up_calls < 2 {
            return Reply::R3(ocr);
        }
        self.s.state = State::Ready;
        let ccs = if high_capacity { ocr::CCS } else { 0 };
        Reply::R3(ocr | ocr::READY | ccs)
    }

    /// CMD6 (SD 3.01 section 4.3.10): mode 0 checks, mode 1 switches; 64 bytes of status.
    fn sd_switch(&mut self, arg: u32) -> Reply {
        let switch = arg >> 31 == 1;
        let current = |g: u32, hs: bool| {
            if g == 1 && hs {
                SD_FUNCTION_HIGH_SPEED
            } else {
                0
            }
        };
        let supported = |g: u32, f: u32| f == 0 || (g == 1 && f == SD_FUNCTION_HIGH_SPEED);
        let mut result = [0u32; 7];
        let mut failed = false;
        for g in 1..=6u32 {
            let f = (arg >> ((g - 1) * 4)) & 0xF;
            result[g as usize] = if f == 0xF {
                current(g, self.s.high_speed)
            } else if supported(g, f) {
                f
            } else {
                failed = true;
                0xF
            };
        }
        if switch && !failed {
            self.s.high_speed = result[1] == SD_FUNCTION_HIGH_SPEED;
        } else if switch {
            for g in 1..=6u32 {
                if result[g as usize] != 0xF {
                    result[g as usize] = current(g, self.s.high_speed);
                }
            }
        }
        let mut st = vec![0u8; SD_STATUS_SIZE];
        put_bits(&mut st, 496, 16, u64::from(SD_SWITCH_MAX_CURRENT));
        for (g, &selected) in result.iter().enumerate().skip(1) {
            let support = if g == 1 { 0b11 } else { 0b1 };
            put_bits(&mut st, 400 + (g - 1) * 16, 16, support);
            put_bits(&mut st, 376 + (g - 1) * 4, 4, u64::from(selected));
        }
        put_bits(&mut st, 368, 8, 1); // data structure version 1: busy bits defined (all 0)
        self.send_register(st)
    }

    /// The SD Status register (SD 3.01 section 4.10.2).
    fn sd_status(&self) -> Vec<u8> {
        let mut ssr = vec![0u8; SD_STATUS_SIZE];
        let width = if self.s.bus_width == 4 { 2 } else { 0 };
        put_bits(&mut ssr, 510, 2, width); // DAT_BUS_WIDTH
        put_bits(&mut ssr, 440, 8, u64::from(SSR_SPEED_CLASS));
        put_bits(&mut ssr, 428, 4, u64::from(SSR_AU_SIZE));
        put_bits(&mut ssr, 408, 16, 1); // ERASE_SIZE: 1 AU
        put_bits(&mut ssr, 402, 6, 1); // ERASE_TIMEOUT: 1 s
        put_bits(&mut ssr, 400, 2, 1); // ERASE_OFFSET: 1 s
        ssr
    }

    // ---- eMMC ----

    fn emmc_command(&mut self, index: u8, arg: u32, count: Option<u32>) -> Reply {
        let st = self.s.state;
        if st == State::Sleep && index != cmd::SLEEP_AWAKE {
            return Reply::Illegal;
        }
        match index {
            cmd::SEND_OP_COND => self.emmc_op_cond(arg),
            cmd::ALL_SEND_CID if st == State::Ready => {
                self.s.state = State::Ident;
                Reply::R2(self.g.cid)
            }
            cmd::SET_RELATIVE_ADDR if st == State::Ident && arg >> 16 != 0 => {
                self.s.rca = (arg >> 16) as u16;
                self.s.state = State::Standby;
                Reply::R1(0)
            }
            cmd::SET_DSR if st == State::Standby => Reply::Silent,
            cmd::SLEEP_AWAKE => self.sleep_awake(arg),
            cmd::SWITCH if st == State::Transfer => self.emmc_switch(arg),
            cmd::SELECT_CARD => self.select(arg),
            cmd::SEND_EXT_CSD if st == State::Transfer => {
                let e = self.s.ext_csd.clone();
                self.send_register(e)
            }
            cmd::SEND_CSD | cmd::SEND_CID => self.send_cxd(index, arg),
            cmd::STOP_TRANSMISSION => self.stop(),
            cmd::SEND_STATUS => self.send_status(arg),
            cmd::BUS_TEST_R if st == State::BusTest && self.s.transfer.is_none() => {
                let inverted = self.s.bus_test.iter().map(|b| !b).collect();
                self.s.bus_test.clear();
                self.send_register(inverted)
            }
            cmd::GO_INACTIVE_STATE => self.go_inactive(arg),
            cmd::SET_BLOCKLEN => self.set_blocklen(arg),
            cmd::READ_SINGLE_BLOCK | cmd::READ_MULTIPLE_BLOCK => {
                self.start_read(arg, index == cmd::READ_MULTIPLE_BLOCK, count)
            }
            cmd::BUS_TEST_W if st == State::Transfer => {
                let len = match self.s.ext_csd[ext_csd::BUS_WIDTH] {
                    1 => 4,
                    2 => 8,
                    _ => 1,
                };
                self.s.bus_test.clear();
                self.s.transfer = Some(TransferState::BusTest {
                    len,
                    data: Vec::new(),
                });
                self.s.state = State::BusTest;
                Reply::R1(0)
            }
            // Bits 31:16 are flags (reliable write, packed, tag, context, forced programming).
            cmd::SET_BLOCK_COUNT => self.set_block_count(arg & 0xFFFF),
            cmd::WRITE_BLOCK | cmd::WRITE_MULTIPLE_BLOCK => {
                self.start_write(arg, index == cmd::WRITE_MULTIPLE_BLOCK, count)
            }
            cmd::ERASE_GROUP_START | cmd::ERASE_GROUP_END | cmd::ERASE => {
                self.erase_command(index, arg)
            }
            _ => Reply::Illegal,
        }
    }

    fn emmc_ocr(&self) -> u32 {
        let mode = if self.g.block_addressing {
            ocr::SECTOR_MODE
        } else {
            0
        };
        ocr::EMMC_VOLTAGES | mode
    }

    fn emmc_op_cond(&mut self, arg: u32) -> Reply {
        if self.s.state != State::Idle {
            return Reply::Illegal;
        }
        let ocr = self.emmc_ocr();
        if arg & ocr::EMMC_ANY_VOLTAGE == 0 {
            // An inquiry (Linux mmc_attach_mmc, U-Boot's first CMD1): still idle.
            return Reply::R3(ocr);
        }
        if arg & ocr::EMMC_VOLTAGES == 0 {
            log::debug!("sd-card: eMMC CMD1 with voltages {arg:#x} it cannot take: inactive");
            self.s.state = State::Inactive;
            return Reply::Silent;
        }
        self.s.power_up_calls = self.s.power_up_calls.saturating_add(1);
        if self.s.power_up_calls < 2 {
            return Reply::R3(ocr);
        }
        self.s.state = State::Ready;
        Reply::R3(ocr | ocr::READY)
    }

    fn sleep_awake(&mut self, arg: u32) -> Reply {
        if !self.addressed(arg) {
            return Reply::Silent;
        }
        let sleep = arg & (1 << 15) != 0;
        match (self.s.state, sleep) {
            (State::Standby, true) => {
                self.s.state = State::Sleep;
                Reply::R1(0)
            }
            (State::Sleep, false) => {
                self.s.state = State::Standby;
                Reply::R1(0)
            }
            _ => Reply::Illegal,
        }
    }

    /// CMD6 (JESD84-B51 section 6.6.1): bits 25:24 access (0 command set, 1 set bits, 2 clear
    /// bits, 3 write byte), 23:16 index, 15:8 value, 2:0 command set.
    fn emmc_switch(&mut self, arg: u32) -> Reply {
        let access = (arg >> 24) & 3;
        let index = ((arg >> 16) & 0xFF) as usize;
        let value = (arg >> 8) as u8;
        let ok = if access == 0 {
            // Only the standard command set exists (Linux EXT_CSD_CMD_SET_NORMAL is 1).
            arg & 7 <= 1
        } else {
            let old = self.s.ext_csd[index];
            let new = match access {
                1 => old | value,
                2 => old & !value,
                _ => value,
            };
            let ok = EXT_CSD_WRITABLE.contains(&index)
                && ext_csd_value_ok(&self.g, &self.s.ext_csd, index, new);
            if ok {
                // FLUSH_CACHE clears itself: there is no cache to flush.
                self.s.ext_csd[index] = if index == ext_csd::FLUSH_CACHE {
                    0
                } else {
                    new
                };
            }
            ok
        };
        if !ok {
            log::debug!("sd-card: eMMC CMD6 {arg:#010x} refused: SWITCH_ERROR");
            self.s.pending_status |= status::SWITCH_ERROR;
        }
        Reply::R1(0)
    }
}

/// Whether the eMMC takes `value` into writable EXT_CSD byte `index` (`e` holds the current
/// bytes).
fn ext_csd_value_ok(g: &Geometry, e: &[u8], index: usize, value: u8) -> bool {
    match index {
        ext_csd::FLUSH_CACHE => value <= 1,
        ext_csd::CACHE_CTRL => value == 0,
        ext_csd::POWER_OFF_NOTIFICATION => value <= 4,
        ext_csd::RST_N_FUNCTION => value == e[index] || (e[index] == 0 && value <= 2),
        ext_csd::ERASE_GROUP_DEF => value <= 1,
        ext_csd::BOOT_BUS_CONDITIONS => value & !0x1F == 0,
        ext_csd::PARTITION_CONFIG => {
            let access_ok = match value & 7 {
                0 => true,
                1 | 2 => g.boot != 0,
                _ => false,
            };
            let enable_ok =
                matches!((value >> 3) & 7, 0 | 7) || g.boot != 0 && (value >> 3) & 7 <= 2;
            access_ok && enable_ok && value & 0x80 == 0
        }
        ext_csd::BUS_WIDTH => value <= 2,
        ext_csd::HS_TIMING => value <= 1,
        ext_csd::POWER_CLASS => value <= 15,
        _ => false,
    }
}

/// The SCR (SD 3.01 section 5.6, SD 6.00 for CMD_SUPPORT): structure 0, SD_SPEC 2 with
/// SD_SPEC3, DATA_STAT_AFTER_ERASE 0, no security, bus widths 1 and 4, CMD23 supported.
fn sd_scr() -> Vec<u8> {
    let mut scr = vec![0u8; SCR_SIZE];
    put_bits(&mut scr, 56, 4, u64::from(SCR_SD_SPEC));
    put_bits(&mut scr, 48, 4, u64::from(SCR_BUS_WIDTHS));
    put_bits(&mut scr, 47, 1, 1); // SD_SPEC3
    put_bits(&mut scr, 32, 4, u64::from(SCR_CMD_SUPPORT));
    scr
}

/// The card on an SD host controller slot's bus.
impl sdhci::SdBus for Card {
    fn command(&mut self, index: u8, arg: u32) -> Option<Response> {
        Card::command(self, index, arg)
    }
    fn read_data(&mut self, buf: &mut [u8]) -> usize {
        Card::read_data(self, buf)
    }
    fn write_data(&mut self, data: &[u8]) -> usize {
        Card::write_data(self, data)
    }
    fn save_state(&self) -> Option<DeviceState> {
        Card::save_state(self)
    }
    fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        Card::load_state(self, state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;

    fn short(r: Option<Response>) -> u32 {
        match r {
            Some(Response::Short(v)) => v,
            other => panic!("expected a short response, got {other:?}"),
        }
    }

    fn long(r: Option<Response>) -> [u8; 16] {
        match r {
            Some(Response::Long(v)) => v,
            other => panic!("expected a long response, got {other:?}"),
        }
    }

    /// An R1 without error bits.
    fn r1(card: &mut Card, index: u8, arg: u32) -> u32 {
        let v = short(card.command(index, arg));
        assert_eq!(
            v & status::ERRORS,
            0,
            "CMD{index} {arg:#x}: status {v:#010x}"
        );
        v
    }

    fn state_of(r1: u32) -> State {
        let code = (r1 & status::CURRENT_STATE_MASK) >> status::CURRENT_STATE_SHIFT;
        [
            State::Idle,
            State::Ready,
            State::Ident,
            State::Standby,
            State::Transfer,
            State::SendingData,
            State::ReceivingData,
            State::Transfer,
            State::Transfer,
            State::BusTest,
            State::Sleep,
        ][code as usize]
    }

    /// CMD55 (with APP_CMD in its R1) and then `index`.
    fn acmd(card: &mut Card, rca: u16, index: u8, arg: u32) -> Option<Response> {
        let v = r1(card, cmd::APP_CMD, u32::from(rca) << 16);
        assert_ne!(v & status::APP_CMD, 0);
        card.command(index, arg)
    }

    fn read(card: &mut Card, n: usize) -> Vec<u8> {
        let mut b = vec![0u8; n];
        assert_eq!(card.read_data(&mut b), n, "read of {n} bytes");
        b
    }

    fn pattern(seed: u8, n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 9) as u8)
            .collect()
    }

    /// Linux `UNSTUFF_BITS` over the four response words (`resp[0]` holds bits 127:96).
    fn unstuff(resp: &[u32; 4], start: u32, size: u32) -> u32 {
        let mask = if size < 32 {
            (1u32 << size) - 1
        } else {
            u32::MAX
        };
        let off = 3 - (start / 32) as usize;
        let shft = start & 31;
        let mut res = resp[off] >> shft;
        if size + shft > 32 {
            res |= resp[off - 1] << ((32 - shft) % 32);
        }
        res & mask
    }

    fn words(r: [u8; 16]) -> [u32; 4] {
        let w = |i: usize| u32::from_be_bytes([r[4 * i], r[4 * i + 1], r[4 * i + 2], r[4 * i + 3]]);
        [w(0), w(1), w(2), w(3)]
    }

    /// Linux sd.c `mmc_decode_csd` and the block driver's size: (512-byte sectors, block
    /// addressed, CCC).
    fn linux_sd_csd(csd: [u8; 16]) -> (u64, bool, u32) {
        let r = words(csd);
        let ccc = unstuff(&r, 84, 12);
        match unstuff(&r, 126, 2) {
            0 => {
                let e = unstuff(&r, 47, 3);
                let m = unstuff(&r, 62, 12);
                let capacity = u64::from(1 + m) << (e + 2);
                let read_blkbits = unstuff(&r, 80, 4);
                (capacity << (read_blkbits - 9), false, ccc)
            }
            1 => (u64::from(1 + unstuff(&r, 48, 22)) << 10, true, ccc),
            v => panic!("unrecognised CSD structure version {v}"),
        }
    }

    fn crc_ok(reg: [u8; 16]) -> bool {
        reg[15] == (crc7(&reg[..15]) << 1) | 1
    }

    /// What Linux learns about an SD card.
    struct SdInfo {
        rca: u16,
        ocr: u32,
        cid: [u8; 16],
        csd: [u8; 16],
        scr: Vec<u8>,
        ssr: Vec<u8>,
    }

    /// `mmc_rescan_try_freq` for an SD card: `sdio_reset`, `mmc_go_idle`, `mmc_send_if_cond`,
    /// `mmc_attach_sdio` (CMD5), then `mmc_attach_sd` and `mmc_sd_init_card` for a host with
    /// a 4-bit bus and SD high speed but no UHS-I.
    fn linux_sd_init(card: &mut Card) -> SdInfo {
        assert_eq!(card.command(52, 0x8000_0C08), None, "sdio_reset");
        assert_eq!(card.command(cmd::GO_IDLE_STATE, 0), None);
        assert_eq!(short(card.command(cmd::SEND_IF_COND, 0x1AA)), 0x1AA);
        assert_eq!(card.command(5, 0), None, "mmc_attach_sdio");
        // mmc_attach_sd: mmc_send_app_op_cond(host, 0, &ocr) probes once. mmc_app_cmd looks
        // only at APP_CMD: this R1 also reports the CMD5 above as illegal.
        let st = short(card.command(cmd::APP_CMD, 0));
        assert_eq!(
            st & (status::APP_CMD | status::ILLEGAL_COMMAND),
            status::APP_CMD | status::ILLEGAL_COMMAND
        );
        let ocr = short(card.command(acmd::SD_SEND_OP_COND, 0));
        assert_eq!(ocr & ocr::SD_VOLTAGES, ocr::SD_VOLTAGES);
        assert_eq!(ocr & ocr::READY, 0, "an inquiry does not power up");
        // mmc_select_voltage: the lowest shared window bit and the one above it.
        let rocr = 3 << (ocr & 0x00FF_8080).trailing_zeros();
        // mmc_sd_get_cid: go idle again, CMD8, then ACMD41 with CCS until ready.
        assert_eq!(card.command(cmd::GO_IDLE_STATE, 0), None);
        assert_eq!(short(card.command(cmd::SEND_IF_COND, 0x1AA)), 0x1AA);
        let mut tries = 0;
        let ocr = loop {
            tries += 1;
            assert!(tries <= 100, "card never left busy state");
            let r = short(acmd(card, 0, acmd::SD_SEND_OP_COND, rocr | ocr::CCS));
            if r & ocr::READY != 0 {
                break r;
            }
        };
        assert_eq!(tries, 2, "power-up completes at the second ACMD41");
        let cid = long(card.command(cmd::ALL_SEND_CID, 0));
        // mmc_send_relative_addr: R6.
        let r6 = short(card.command(cmd::SEND_RELATIVE_ADDR, 0));
        let rca = (r6 >> 16) as u16;
        assert_ne!(rca, 0);
        assert_eq!(
            r6 & 0xFFFF,
            (2 << 9) | status::READY_FOR_DATA,
            "ident state in R6"
        );
        let csd = long(card.command(cmd::SEND_CSD, u32::from(rca) << 16));
        assert_eq!(
            state_of(r1(card, cmd::SELECT_CARD, u32::from(rca) << 16)),
            State::Standby
        );
        // mmc_sd_setup_card: SCR, SD Status, switch capabilities.
        r1_of(acmd(card, rca, acmd::SEND_SCR, 0));
        let scr = read(card, SCR_SIZE);
        assert_eq!(card.transfer(), None);
        r1_of(acmd(card, rca, acmd::SD_STATUS, 0));
        let ssr = read(card, SD_STATUS_SIZE);
        // mmc_read_switch: mode 0, group 0 function 0.
        r1(card, cmd::SWITCH, 0x00FF_FFF0);
        let caps = read(card, SD_STATUS_SIZE);
        assert_ne!(caps[13] & 0x02, 0, "SD_MODE_HIGH_SPEED");
        // mmc_sd_switch_hs.
        r1(card, cmd::SWITCH, 0x80FF_FFF1);
        let sw = read(card, SD_STATUS_SIZE);
        assert_eq!(sw[16] & 0xF, 1, "switched to high speed");
        // mmc_app_set_bus_width(card, MMC_BUS_WIDTH_4).
        r1_of(acmd(card, rca, acmd::SET_BUS_WIDTH, 2));
        assert_eq!(card.current_state(), State::Transfer);
        SdInfo {
            rca,
            ocr,
            cid,
            csd,
            scr,
            ssr,
        }
    }

    fn r1_of(r: Option<Response>) -> u32 {
        let v = short(r);
        assert_eq!(v & status::ERRORS, 0, "status {v:#010x}");
        v
    }

    /// Checks what `mmc_decode_scr` and `mmc_read_ssr` read.
    fn check_scr_ssr(info: &SdInfo) {
        let scr = &info.scr;
        let resp = [
            0,
            0,
            u32::from_be_bytes([scr[0], scr[1], scr[2], scr[3]]),
            u32::from_be_bytes([scr[4], scr[5], scr[6], scr[7]]),
        ];
        assert_eq!(unstuff(&resp, 60, 4), 0, "SCR structure");
        assert_eq!(unstuff(&resp, 56, 4), 2, "SCR_SPEC_VER_2");
        assert_eq!(unstuff(&resp, 48, 4) & 0b0101, 0b0101, "bus widths 1 and 4");
        assert_eq!(unstuff(&resp, 47, 1), 1, "sda_spec3");
        assert_eq!(unstuff(&resp, 55, 1), 0, "erased byte 0");
        assert_eq!(unstuff(&resp, 32, 2) & 2, 2, "SD_SCR_CMD23_SUPPORT");
        let ssr: Vec<u32> = info
            .ssr
            .chunks(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let top = [ssr[0], ssr[1], ssr[2], ssr[3]];
        assert_eq!(unstuff(&top, 428 - 384, 4), SSR_AU_SIZE);
        assert_ne!(unstuff(&top, 408 - 384, 16), 0, "erase size");
        assert_ne!(unstuff(&top, 402 - 384, 6), 0, "erase timeout");
        assert_eq!(unstuff(&top, 510 - 384, 2), 0, "1-bit bus when ACMD13 ran");
    }

    /// Linux sd.c `mmc_decode_cid`: (manfid, product name, year, month).
    fn linux_sd_cid(cid: [u8; 16]) -> (u32, String, u32, u32) {
        let r = words(cid);
        let name = (0..5)
            .map(|i| unstuff(&r, 96 - 8 * i, 8) as u8 as char)
            .collect();
        (
            unstuff(&r, 120, 8),
            name,
            unstuff(&r, 12, 8) + 2000,
            unstuff(&r, 8, 4),
        )
    }

    fn status_of(card: &mut Card, rca: u16) -> u32 {
        short(card.command(cmd::SEND_STATUS, u32::from(rca) << 16))
    }

    /// The block driver's read: CMD17, or CMD23 + CMD18, or CMD18 + CMD12; then CMD13.
    fn read_blocks(card: &mut Card, rca: u16, addr: u32, n: u32, sbc: bool) -> Vec<u8> {
        let data = if n == 1 {
            r1(card, cmd::READ_SINGLE_BLOCK, addr);
            read(card, 512)
        } else {
            if sbc {
                r1(card, cmd::SET_BLOCK_COUNT, n);
            }
            r1(card, cmd::READ_MULTIPLE_BLOCK, addr);
            let d = read(card, 512 * n as usize);
            if !sbc {
                assert_eq!(
                    state_of(r1(card, cmd::STOP_TRANSMISSION, 0)),
                    State::SendingData
                );
            }
            d
        };
        let st = status_of(card, rca);
        assert_eq!(st & status::ERRORS, 0, "status {st:#x}");
        assert_eq!(state_of(st), State::Transfer);
        data
    }

    /// The block driver's write: CMD24, or CMD23 + CMD25, or CMD25 + CMD12; then CMD13 until
    /// ready for data in tran (`card_busy_detect`).
    fn write_blocks(card: &mut Card, rca: u16, addr: u32, data: &[u8], sbc: bool) {
        let n = (data.len() / 512) as u32;
        if n == 1 {
            r1(card, cmd::WRITE_BLOCK, addr);
        } else {
            if sbc {
                r1(card, cmd::SET_BLOCK_COUNT, n);
            }
            r1(card, cmd::WRITE_MULTIPLE_BLOCK, addr);
        }
        assert_eq!(card.transfer(), Some(Direction::Write));
        // A host controller moves the data a FIFO at a time.
        for chunk in data.chunks(100) {
            assert_eq!(card.write_data(chunk), chunk.len());
        }
        if n > 1 && !sbc {
            assert_eq!(
                card.transfer(),
                Some(Direction::Write),
                "open-ended until CMD12"
            );
            assert_eq!(
                state_of(r1(card, cmd::STOP_TRANSMISSION, 0)),
                State::ReceivingData
            );
        }
        assert_eq!(card.transfer(), None);
        let st = status_of(card, rca);
        assert_eq!(st & status::ERRORS, 0, "status {st:#x}");
        assert_ne!(st & status::READY_FOR_DATA, 0);
        assert_eq!(state_of(st), State::Transfer);
    }

    /// A storage that counts accesses and fails them while `fail` is set.
    struct Flaky {
        inner: Vec<u8>,
        fail: Rc<Cell<bool>>,
    }

    impl Storage for Flaky {
        fn len(&self) -> u64 {
            Storage::len(&self.inner)
        }
        fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
            if self.fail.get() {
                return Err(io::Error::other("injected read error"));
            }
            self.inner.read_at(offset, buf)
        }
        fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
            if self.fail.get() {
                return Err(io::Error::other("injected write error"));
            }
            self.inner.write_at(offset, data)
        }
    }

    #[test]
    fn crc7_matches_the_spec_examples() {
        // SD 3.01 section 4.5: CMD0, CMD17 and CMD17's response; and CMD8 with 0x1AA (the
        // well-known 0x87 command byte).
        assert_eq!(crc7(&[0x40, 0, 0, 0, 0]), 0b100_1010);
        assert_eq!(crc7(&[0x51, 0, 0, 0, 0]), 0b010_1010);
        assert_eq!(crc7(&[0x11, 0, 0, 0x09, 0]), 0b011_0011);
        assert_eq!((crc7(&[0x48, 0, 0, 0x01, 0xAA]) << 1) | 1, 0x87);
    }

    #[test]
    fn crc7_of_real_card_registers() {
        // A SanDisk 8 GB SDHC card's CID and CSD as a host that keeps the CRC byte reads them
        // (end bit cleared by that host), and a Kingston-style SanDisk 2 GB SDSC CSD.
        for hex in [
            "0353445355303847800204968f00c560",
            "400e00325b5900003b377f800a4040ae",
            "002600325f5a83aefefbcfff928040de",
        ] {
            let b: Vec<u8> = (0..16)
                .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
                .collect();
            assert_eq!(crc7(&b[..15]), b[15] >> 1, "{hex}");
            let mut reg = u128::from_be_bytes(b.try_into().unwrap());
            reg &= !0xFF;
            assert_eq!(with_crc(reg)[15], (crc7(&reg.to_be_bytes()[..15]) << 1) | 1);
        }
        // Linux's decoding of those CSDs, the helper the other tests trust.
        let csd8 = 0x400e00325b5900003b377f800a4040afu128.to_be_bytes();
        assert_eq!(linux_sd_csd(csd8).0, 15_523_840);
        let csd2 = 0x002600325f5a83aefefbcfff928040dfu128.to_be_bytes();
        assert_eq!(linux_sd_csd(csd2).0, 3_862_528);
    }

    #[test]
    fn linux_initialises_a_64_mib_sdsc_card() {
        let mut card = Card::new(Kind::Sd, Box::new(vec![0u8; 64 << 20]), 0).unwrap();
        assert_eq!(card.sd_class(), Some(SdClass::Sdsc));
        let info = linux_sd_init(&mut card);
        assert_eq!(info.rca, SD_FIRST_RCA);
        assert_eq!(info.ocr & ocr::CCS, 0, "SDSC: no CCS");
        assert!(crc_ok(info.cid) && crc_ok(info.csd));
        let (sectors, blockaddr, ccc) = linux_sd_csd(info.csd);
        assert_eq!(sectors * 512, 64 * MIB);
        assert!(!blockaddr);
        assert_eq!(
            ccc & ((1 << 8) | (1 << 10) | (1 << 5)),
            (1 << 8) | (1 << 10) | (1 << 5)
        );
        check_scr_ssr(&info);
        assert_eq!(linux_sd_cid(info.cid), (0x5A, "EMUSD".to_string(), 2024, 1));
    }

    #[test]
    fn sd_cid_in_transfer_state_is_illegal() {
        let mut card = Card::new(Kind::Sd, Box::new(vec![0u8; 4 << 20]), 0).unwrap();
        let rca = linux_sd_init(&mut card).rca;
        assert_eq!(card.command(cmd::SEND_CID, u32::from(rca) << 16), None);
        let st = status_of(&mut card, rca);
        assert_ne!(st & status::ILLEGAL_COMMAND, 0, "reported in the next R1");
        assert_eq!(state_of(st), State::Transfer);
        assert_eq!(
            status_of(&mut card, rca) & status::ILLEGAL_COMMAND,
            0,
            "and cleared"
        );
    }

    #[test]
    fn linux_initialises_an_8_gib_sdhc_card_and_moves_blocks() {
        let mut card = Card::new(Kind::Sd, Box::new(SparseStorage::new(8 * GIB)), 0).unwrap();
        assert_eq!(card.sd_class(), Some(SdClass::Sdhc));
        let info = linux_sd_init(&mut card);
        assert_ne!(info.ocr & ocr::CCS, 0, "SDHC: CCS");
        let (sectors, blockaddr, _) = linux_sd_csd(info.csd);
        assert_eq!(sectors, 8 * GIB / 512);
        assert!(blockaddr);
        check_scr_ssr(&info);
        // Block addressing, near the end of the card; CMD23 and CMD12 styles.
        let last = (8 * GIB / 512) as u32 - 1;
        let data = pattern(7, 4 * 512);
        write_blocks(&mut card, info.rca, last - 3, &data, true);
        assert_eq!(read_blocks(&mut card, info.rca, last - 3, 4, true), data);
        assert_eq!(read_blocks(&mut card, info.rca, last - 3, 4, false), data);
        let other = pattern(9, 3 * 512);
        write_blocks(&mut card, info.rca, 1000, &other, false);
        assert_eq!(
            read_blocks(&mut card, info.rca, 1001, 1, false),
            other[512..1024]
        );
        let mut raw = vec![0u8; 512];
        card.storage_mut().read_at(1002 * 512, &mut raw).unwrap();
        assert_eq!(raw, other[1024..]);
        // CMD16 takes only 512 on SDHC.
        assert_ne!(
            short(card.command(cmd::SET_BLOCKLEN, 16)) & status::BLOCK_LEN_ERROR,
            0
        );
        r1(&mut card, cmd::SET_BLOCKLEN, 512);
    }

    #[test]
    fn sdxc_sizes_up_to_2_tib() {
        let mut card = Card::new(Kind::Sd, Box::new(SparseStorage::new(64 * GIB)), 0).unwrap();
        assert_eq!(card.sd_class(), Some(SdClass::Sdxc));
        let info = linux_sd_init(&mut card);
        let r = words(info.csd);
        assert!(
            unstuff(&r, 48, 22) >= 0xFFFF,
            "Linux takes C_SIZE >= 0xFFFF as SDXC"
        );
        assert_eq!(linux_sd_csd(info.csd).0, 64 * GIB / 512);
        let card = Card::new(Kind::Sd, Box::new(SparseStorage::new(2 << 40)), 0).unwrap();
        assert_eq!(linux_sd_csd(card.csd()).0, 1 << 32);
        let err = Card::new(Kind::Sd, Box::new(SparseStorage::new((2 << 40) + 512)), 0);
        assert!(err.unwrap_err().contains("2 TiB"));
    }

    #[test]
    fn sdhc_needs_cmd8_and_hcs() {
        let mut card = Card::new(Kind::Sd, Box::new(SparseStorage::new(4 * GIB)), 0).unwrap();
        for _ in 0..5 {
            let ocr = short(acmd(
                &mut card,
                0,
                acmd::SD_SEND_OP_COND,
                0x0030_0000 | ocr::CCS,
            ));
            assert_eq!(ocr & ocr::READY, 0, "no CMD8: busy forever");
        }
        assert_eq!(short(card.command(cmd::SEND_IF_COND, 0x1AA)), 0x1AA);
        for _ in 0..5 {
            let ocr = short(acmd(&mut card, 0, acmd::SD_SEND_OP_COND, 0x0030_0000));
            assert_eq!(ocr & ocr::READY, 0, "no HCS: busy forever");
        }
        short(acmd(
            &mut card,
            0,
            acmd::SD_SEND_OP_COND,
            0x0030_0000 | ocr::CCS,
        ));
        let ocr = short(acmd(
            &mut card,
            0,
            acmd::SD_SEND_OP_COND,
            0x0030_0000 | ocr::CCS,
        ));
        assert_eq!(ocr & (ocr::READY | ocr::CCS), ocr::READY | ocr::CCS);
        // An SDSC card works for a host that knows no CMD8.
        let mut card = Card::new(Kind::Sd, Box::new(vec![0u8; 1 << 20]), 0).unwrap();
        short(acmd(&mut card, 0, acmd::SD_SEND_OP_COND, 0x0030_0000));
        let ocr = short(acmd(&mut card, 0, acmd::SD_SEND_OP_COND, 0x0030_0000));
        assert_eq!(ocr & (ocr::READY | ocr::CCS), ocr::READY);
        // A CMD8 voltage the card lacks: no response.
        let mut card = Card::new(Kind::Sd, Box::new(vec![0u8; 1 << 20]), 0).unwrap();
        assert_eq!(card.command(cmd::SEND_IF_COND, 0x2AA), None);
    }

    #[test]
    fn sdsc_byte_addressing_and_partial_blocks() {
        let mut image = vec![0u8; 4 << 20];
        image[..8192].copy_from_slice(&pattern(3, 8192));
        let mut card = Card::new(Kind::Sd, Box::new(image), 0).unwrap();
        let rca = linux_sd_init(&mut card).rca;
        assert_eq!(
            read_blocks(&mut card, rca, 1024, 2, true),
            pattern(3, 8192)[1024..2048]
        );
        let data = pattern(4, 1024);
        write_blocks(&mut card, rca, 4096, &data, true);
        assert_eq!(read_blocks(&mut card, rca, 4096, 2, false), data);
        // A misaligned write, then partial reads (READ_BL_PARTIAL).
        assert_ne!(
            short(card.command(cmd::WRITE_BLOCK, 100)) & status::ADDRESS_ERROR,
            0
        );
        r1(&mut card, cmd::SET_BLOCKLEN, 16);
        r1(&mut card, cmd::READ_SINGLE_BLOCK, 4096 + 496);
        assert_eq!(read(&mut card, 16), data[496..512]);
        assert_eq!(card.current_state(), State::Transfer);
        let st = short(card.command(cmd::READ_SINGLE_BLOCK, 4096 + 500));
        assert_ne!(
            st & status::ADDRESS_ERROR,
            0,
            "a block may not cross 512 bytes"
        );
        let st = short(card.command(cmd::WRITE_BLOCK, 0));
        assert_ne!(st & status::BLOCK_LEN_ERROR, 0, "writes are whole blocks");
        assert_ne!(
            short(card.command(cmd::SET_BLOCKLEN, 513)) & status::BLOCK_LEN_ERROR,
            0
        );
        // ACMD22 counts the blocks of the last write.
        r1(&mut card, cmd::SET_BLOCKLEN, 512);
        write_blocks(&mut card, rca, 0, &pattern(5, 1536), false);
        r1_of(acmd(&mut card, rca, acmd::SEND_NUM_WR_BLOCKS, 0));
        assert_eq!(read(&mut card, 4), [0, 0, 0, 3]);
    }

    #[test]
    fn out_of_range_read_gives_an_error_bit_and_no_data() {
        let mut card = Card::new(Kind::Sd, Box::new(vec![0u8; 64 << 20]), 0).unwrap();
        let rca = linux_sd_init(&mut card).rca;
        let end = (64 * MIB) as u32;
        let st = short(card.command(cmd::READ_SINGLE_BLOCK, end));
        assert_ne!(st & status::OUT_OF_RANGE, 0);
        assert_eq!(state_of(st), State::Transfer);
        assert_eq!(card.transfer(), None);
        assert_eq!(card.read_data(&mut [0u8; 512]), 0, "no data");
        assert_eq!(
            status_of(&mut card, rca) & status::ERRORS,
            0,
            "reported once"
        );
        let st = short(card.command(cmd::WRITE_MULTIPLE_BLOCK, end - 256));
        assert_ne!(st & status::OUT_OF_RANGE, 0, "a block past the end");
        // An open-ended read of the last block, then beyond it.
        r1(&mut card, cmd::READ_MULTIPLE_BLOCK, end - 512);
        assert_eq!(card.read_data(&mut [0u8; 1024]), 512, "only the last block");
        assert_eq!(card.read_data(&mut [0u8; 512]), 0);
        assert_eq!(
            card.transfer(),
            Some(Direction::Read),
            "still in data until CMD12"
        );
        let st = short(card.command(cmd::STOP_TRANSMISSION, 0));
        assert_ne!(st & status::OUT_OF_RANGE, 0);
        assert_eq!(state_of(status_of(&mut card, rca)), State::Transfer);
        // Exactly up to the end is fine.
        assert_eq!(
            read_blocks(&mut card, rca, end - 1024, 2, false).len(),
            1024
        );
        // An open-ended write stops taking data at the end.
        r1(&mut card, cmd::WRITE_MULTIPLE_BLOCK, end - 512);
        assert_eq!(card.write_data(&[0xAB; 1024]), 512);
        let st = short(card.command(cmd::STOP_TRANSMISSION, 0));
        assert_ne!(st & status::OUT_OF_RANGE, 0);
        assert_eq!(
            read_blocks(&mut card, rca, end - 512, 1, false),
            [0xAB; 512]
        );
    }

    #[test]
    fn unusable_sizes_are_refused_with_a_clear_message() {
        let err = |kind, len: u64, boot| {
            Card::new(kind, Box::new(SparseStorage::new(len)), boot).unwrap_err()
        };
        assert!(err(Kind::Sd, 0, 0).contains("empty"));
        assert!(err(Kind::Emmc, 0, 0).contains("empty"));
        assert!(err(Kind::Sd, 1000, 0).contains("not a multiple of 512"));
        assert!(err(Kind::Emmc, MIB + 1, 0).contains("not a multiple of 512"));
        assert!(err(Kind::Sd, 512, 0).contains("at least 2048"));
        assert!(err(Kind::Sd, 3 << 40, 0).contains("2 TiB"));
        assert!(err(Kind::Sd, MIB, 128 << 10).contains("eMMC only"));
        assert!(err(Kind::Emmc, 2 << 40, 0).contains("2 TiB - 512"));
        assert!(err(Kind::Emmc, 4 * MIB, 1000).contains("128 KiB"));
        assert!(err(Kind::Emmc, 4 * MIB, 256 * (128 << 10)).contains("128 KiB"));
        assert!(err(Kind::Emmc, 256 << 10, 128 << 10).contains("no user area"));
        // The largest of each is fine.
        assert!(Card::new(Kind::Emmc, Box::new(SparseStorage::new(EMMC_MAX)), 0).is_ok());
        assert!(Card::new(Kind::Sd, Box::new(SparseStorage::new(SDSC_MAX)), 0).is_ok());
        // An odd SDSC size is rounded down to what the CSD can say.
        let card = Card::new(Kind::Sd, Box::new(SparseStorage::new(64 * MIB + 512)), 0).unwrap();
        assert_eq!(card.capacity(), 64 * MIB);
        assert_eq!(linux_sd_csd(card.csd()).0 * 512, card.capacity());
        let card = Card::new(Kind::Sd, Box::new(SparseStorage::new(SDSC_MAX)), 0).unwrap();
        assert_eq!(linux_sd_csd(card.csd()).0 * 512, SDSC_MAX, "READ_BL_LEN 10");
    }

    /// `__mmc_switch` with `send_status`: CMD6 (R1b), then CMD13 until not programming;
    /// returns that status.
    fn mmc_switch(card: &mut Card, rca: u16, index: usize, value: u8) -> u32 {
        let arg = (3 << 24) | ((index as u32) << 16) | (u32::from(value) << 8) | 1;
        assert_eq!(state_of(r1(card, cmd::SWITCH, arg)), State::Transfer);
        let st = status_of(card, rca);
        assert_eq!(state_of(st), State::Transfer);
        st
    }

    fn mmc_switch_ok(card: &mut Card, rca: u16, index: usize, value: u8) {
        let st = mmc_switch(card, rca, index, value);
        assert_eq!(
            st & status::ERRORS,
            0,
            "switch {index} = {value}: status {st:#x}"
        );
    }

    /// Linux `mmc_rescan_try_freq` on an eMMC (the SDIO and SD probes get no response), then
    /// `mmc_attach_mmc` / `mmc_init_card` for a host with an 8-bit bus and high speed. Returns
    /// (OCR, EXT_CSD as read first).
    fn linux_mmc_init(card: &mut Card) -> (u32, Vec<u8>) {
        let rca = 1u16;
        assert_eq!(card.command(52, 0x8000_0C08), None, "sdio_reset");
        assert_eq!(card.command(cmd::GO_IDLE_STATE, 0), None);
        assert_eq!(
            card.command(cmd::SEND_IF_COND, 0x1AA),
            None,
            "eMMC CMD8 is not for idle"
        );
        assert_eq!(card.command(5, 0), None, "mmc_attach_sdio");
        // mmc_attach_sd: mmc_wait_for_app_cmd tries CMD55 MMC_CMD_RETRIES + 1 times.
        for _ in 0..4 {
            assert_eq!(card.command(cmd::APP_CMD, 0), None);
        }
        // mmc_attach_mmc: mmc_send_op_cond(host, 0, &ocr), one pass.
        let ocr = short(card.command(cmd::SEND_OP_COND, 0));
        assert_eq!(ocr & ocr::EMMC_VOLTAGES, ocr::EMMC_VOLTAGES);
        assert_eq!(ocr & ocr::READY, 0);
        let rocr = 3 << (ocr & 0x00FF_8080).trailing_zeros();
        // mmc_init_card.
        assert_eq!(card.command(cmd::GO_IDLE_STATE, 0), None);
        let mut tries = 0;
        let rocr = loop {
            tries += 1;
            assert!(tries <= 100);
            let r = short(card.command(cmd::SEND_OP_COND, rocr | (1 << 30)));
            if r & ocr::READY != 0 {
                break r;
            }
        };
        assert_eq!(tries, 2);
        let cid = long(card.command(cmd::ALL_SEND_CID, 0));
        assert!(crc_ok(cid));
        assert_eq!(
            state_of(r1(card, cmd::SET_RELATIVE_ADDR, u32::from(rca) << 16)),
            State::Ident
        );
        let csd = long(card.command(cmd::SEND_CSD, u32::from(rca) << 16));
        assert!(crc_ok(csd));
        // mmc.c mmc_decode_csd / mmc_decode_cid.
        let r = words(csd);
        assert_eq!(unstuff(&r, 126, 2), 3, "CSD structure: version in EXT_CSD");
        assert_eq!(unstuff(&r, 122, 4), 4, "mmca_vsn 4: mmc_can_ext_csd");
        assert_ne!(unstuff(&r, 84, 12) & (1 << 5), 0, "CCC_ERASE");
        let write_blkbits = unstuff(&r, 22, 4);
        assert!(write_blkbits >= 9);
        let erase_size = (unstuff(&r, 42, 5) + 1) * (unstuff(&r, 37, 5) + 1);
        assert_eq!(
            u64::from(erase_size << (write_blkbits - 9)) * 512,
            card.erase_group()
        );
        let c = words(cid);
        assert_eq!(unstuff(&c, 120, 8), u32::from(CID_MID));
        let name: String = (0..6)
            .map(|i| unstuff(&c, 96 - 8 * i, 8) as u8 as char)
            .collect();
        assert_eq!(name, "EMUMMC");
        assert_eq!(unstuff(&c, 12, 4), 1, "month");
        assert_eq!(
            unstuff(&c, 8, 4) + 1997 + 16,
            2024,
            "year, EXT_CSD_REV >= 5"
        );
        assert_eq!(
            state_of(r1(card, cmd::SELECT_CARD, u32::from(rca) << 16)),
            State::Standby
        );
        // mmc_read_ext_csd.
        assert_eq!(state_of(r1(card, cmd::SEND_EXT_CSD, 0)), State::Transfer);
        let ext = read(card, EXT_CSD_SIZE);
        assert_eq!(card.transfer(), None);
        // mmc_decode_ext_csd.
        assert!(ext[ext_csd::CSD_STRUCTURE] <= 2);
        assert_eq!(ext[ext_csd::EXT_CSD_REV], 8);
        let sectors = u32::from_le_bytes(ext[212..216].try_into().unwrap());
        assert_eq!(u64::from(sectors) * 512, card.capacity());
        assert_eq!(
            u64::from(sectors) > EMMC_BYTE_MODE_MAX / 512,
            rocr & ocr::SECTOR_MODE != 0,
            "OCR access mode and SEC_COUNT agree"
        );
        assert_eq!(ext[ext_csd::DEVICE_TYPE] & 0x03, 0x03, "HS 26 and 52 MHz");
        assert_eq!(ext[ext_csd::DEVICE_TYPE] & !0x03, 0, "no DDR, HS200, HS400");
        assert_eq!(
            u64::from(ext[ext_csd::BOOT_SIZE_MULT]) << 17,
            card.boot_partition_size()
        );
        assert_eq!(ext[ext_csd::PARTITION_CONFIG] & 7, 0);
        assert_eq!(ext[ext_csd::ERASED_MEM_CONT], 0);
        assert_eq!(ext[ext_csd::PARTITION_SETTING_COMPLETED], 0);
        assert_eq!(ext[ext_csd::PARTITIONING_SUPPORT], 0);
        assert_eq!(ext[ext_csd::HC_ERASE_GRP_SIZE], 1);
        assert_ne!(ext[ext_csd::GENERIC_CMD6_TIME], 0);
        assert_ne!(ext[ext_csd::PARTITION_SWITCH_TIME], 0);
        assert!((1..=0x17).contains(&ext[ext_csd::S_A_TIMEOUT]));
        assert_eq!(ext[503] & 1, 0, "no HPI");
        assert_eq!(&ext[249..253], &[0; 4], "no cache");
        assert_eq!(ext[61], 0, "DATA_SECTOR_SIZE 512");
        assert_eq!(ext[ext_csd::RPMB_SIZE_MULT], 0);
        assert_eq!(ext[ext_csd::S_CMD_SET], 1);
        // POWER_OFF_NOTIFICATION (rev >= 6), mmc_select_hs, mmc_select_bus_width (8 bits,
        // then the comparison of the read-only bytes).
        mmc_switch_ok(card, rca, ext_csd::POWER_OFF_NOTIFICATION, 1);
        mmc_switch_ok(card, rca, ext_csd::HS_TIMING, 1);
        mmc_switch_ok(card, rca, ext_csd::BUS_WIDTH, 2);
        r1(card, cmd::SEND_EXT_CSD, 0);
        let again = read(card, EXT_CSD_SIZE);
        for i in (0..EXT_CSD_SIZE).filter(|i| !EXT_CSD_WRITABLE.contains(i)) {
            assert_eq!(again[i], ext[i], "read-only EXT_CSD byte {i} changed");
        }
        assert_eq!(again[ext_csd::BUS_WIDTH], 2);
        assert_eq!(again[ext_csd::HS_TIMING], 1);
        assert_eq!(again[ext_csd::POWER_OFF_NOTIFICATION], 1);
        (rocr, ext)
    }

    #[test]
    fn linux_initialises_an_emmc_in_byte_mode() {
        let len = 2 * (128 << 10) + 16 * MIB;
        let mut card = Card::new(Kind::Emmc, Box::new(vec![0u8; len as usize]), 128 << 10).unwrap();
        let (ocr, _) = linux_mmc_init(&mut card);
        assert_eq!(ocr & ocr::SECTOR_MODE, 0);
        assert!(!card.block_addressing());
        assert_eq!(card.capacity(), 16 * MIB);
        // Byte addresses; Linux uses CMD23 on eMMC.
        let data = pattern(11, 3 * 512);
        write_blocks(&mut card, 1, 5 * 512, &data, true);
        assert_eq!(read_blocks(&mut card, 1, 5 * 512, 3, true), data);
        let mut raw = vec![0u8; 1536];
        card.storage_mut()
            .read_at(2 * (128 << 10) + 5 * 512, &mut raw)
            .unwrap();
        assert_eq!(raw, data, "after the two boot partitions");
        // CMD23's flags (reliable write) do not count.
        r1(&mut card, cmd::SET_BLOCK_COUNT, (1 << 31) | 2);
        r1(&mut card, cmd::WRITE_MULTIPLE_BLOCK, 0);
        assert_eq!(card.write_data(&[0x11; 2048]), 1024);
        assert_eq!(card.transfer(), None);
        // CMD16: only 512.
        assert_ne!(
            short(card.command(cmd::SET_BLOCKLEN, 8)) & status::BLOCK_LEN_ERROR,
            0
        );
    }

    #[test]
    fn linux_initialises_an_emmc_in_sector_mode() {
        let boot = 4 * (128 << 10);
        let len = 2 * boot + 8 * GIB;
        let mut card = Card::new(Kind::Emmc, Box::new(SparseStorage::new(len)), boot).unwrap();
        let (ocr, ext) = linux_mmc_init(&mut card);
        assert_ne!(ocr & ocr::SECTOR_MODE, 0);
        assert_eq!(
            u32::from_le_bytes(ext[212..216].try_into().unwrap()),
            (8 * GIB / 512) as u32
        );
        let last = (8 * GIB / 512) as u32 - 1;
        let data = pattern(13, 2 * 512);
        write_blocks(&mut card, 1, last - 1, &data, true);
        assert_eq!(read_blocks(&mut card, 1, last - 1, 2, false), data);
        let st = short(card.command(cmd::READ_SINGLE_BLOCK, last + 1));
        assert_ne!(st & status::OUT_OF_RANGE, 0);
        assert_eq!(card.read_data(&mut [0u8; 16]), 0);
    }

    #[test]
    fn boot_partitions_are_reached_through_partition_config() {
        let boot = 128u64 << 10;
        let len = 2 * boot + 4 * MIB;
        let mut card = Card::new(Kind::Emmc, Box::new(vec![0u8; len as usize]), boot).unwrap();
        linux_mmc_init(&mut card);
        // mmc_blk_part_switch: PARTITION_CONFIG access bits, keeping the boot configuration.
        mmc_switch_ok(&mut card, 1, ext_csd::PARTITION_CONFIG, (1 << 3) | 1);
        assert_eq!(card.partition(), Partition::Boot0);
        write_blocks(&mut card, 1, 0, &pattern(1, 1024), true);
        // The last block of boot0, and past it.
        write_blocks(&mut card, 1, (boot - 512) as u32, &pattern(2, 512), false);
        let st = short(card.command(cmd::READ_SINGLE_BLOCK, boot as u32));
        assert_ne!(st & status::OUT_OF_RANGE, 0, "boot0 ends at its size");
        mmc_switch_ok(&mut card, 1, ext_csd::PARTITION_CONFIG, (1 << 3) | 2);
        assert_eq!(card.partition(), Partition::Boot1);
        write_blocks(&mut card, 1, 0, &pattern(3, 512), false);
        mmc_switch_ok(&mut card, 1, ext_csd::PARTITION_CONFIG, 1 << 3);
        assert_eq!(card.partition(), Partition::User);
        write_blocks(&mut card, 1, 0, &pattern(4, 512), false);
        assert_eq!(read_blocks(&mut card, 1, 0, 1, false), pattern(4, 512));
        mmc_switch_ok(&mut card, 1, ext_csd::PARTITION_CONFIG, (1 << 3) | 1);
        assert_eq!(read_blocks(&mut card, 1, 0, 2, true), pattern(1, 1024));
        // The storage layout: [boot0][boot1][user].
        let mut raw = vec![0u8; 512];
        let mut at = |card: &mut Card, off: u64| {
            card.storage_mut().read_at(off, &mut raw).unwrap();
            raw.clone()
        };
        assert_eq!(at(&mut card, 0), pattern(1, 512));
        assert_eq!(at(&mut card, boot - 512), pattern(2, 512));
        assert_eq!(at(&mut card, boot), pattern(3, 512));
        assert_eq!(at(&mut card, 2 * boot), pattern(4, 512));
        // The boot configuration stays and the access bits return to the user area on CMD0.
        card.command(cmd::GO_IDLE_STATE, 0);
        assert_eq!(card.partition(), Partition::User);
        assert_eq!(card.ext_csd().unwrap()[ext_csd::PARTITION_CONFIG], 1 << 3);
        // Without boot partitions, selecting one fails.
        let mut card = Card::new(Kind::Emmc, Box::new(vec![0u8; 1 << 20]), 0).unwrap();
        linux_mmc_init(&mut card);
        let st = mmc_switch(&mut card, 1, ext_csd::PARTITION_CONFIG, 1);
        assert_ne!(st & status::SWITCH_ERROR, 0);
        assert_eq!(card.partition(), Partition::User);
        assert_eq!(card.partition_len(Partition::Boot0), 0);
    }

    #[test]
    fn switch_errors_are_reported_in_the_next_status_once() {
        let mut card = Card::new(Kind::Emmc, Box::new(vec![0u8; 1 << 20]), 0).unwrap();
        linux_mmc_init(&mut card);
        for (index, value) in [
            (200, 1),                 // read-only (properties segment)
            (ext_csd::BUS_WIDTH, 6),  // DDR 8 bits: not supported
            (ext_csd::HS_TIMING, 2),  // HS200
            (ext_csd::CACHE_CTRL, 1), // no cache
            (ext_csd::PARTITION_SETTING_COMPLETED, 1),
            (ext_csd::HPI_MGMT, 1),
        ] {
            let st = mmc_switch(&mut card, 1, index, value);
            assert_ne!(st & status::SWITCH_ERROR, 0, "EXT_CSD[{index}] = {value}");
            assert_eq!(status_of(&mut card, 1) & status::SWITCH_ERROR, 0, "cleared");
        }
        // Set and clear bits; the command-set access.
        r1(
            &mut card,
            cmd::SWITCH,
            (1 << 24) | (175 << 16) | (1 << 8) | 1,
        );
        assert_eq!(card.ext_csd().unwrap()[ext_csd::ERASE_GROUP_DEF], 1);
        r1(
            &mut card,
            cmd::SWITCH,
            (2 << 24) | (175 << 16) | (1 << 8) | 1,
        );
        assert_eq!(card.ext_csd().unwrap()[ext_csd::ERASE_GROUP_DEF], 0);
        r1(&mut card, cmd::SWITCH, 1);
        assert_eq!(status_of(&mut card, 1) & status::SWITCH_ERROR, 0);
        // RST_n_FUNCTION is one-time programmable.
        mmc_switch_ok(&mut card, 1, ext_csd::RST_N_FUNCTION, 1);
        assert_ne!(
            mmc_switch(&mut card, 1, ext_csd::RST_N_FUNCTION, 2) & status::SWITCH_ERROR,
            0
        );
        // CMD6 outside tran is illegal.
        assert_eq!(card.command(cmd::SELECT_CARD, 0), None);
        assert_eq!(card.command(cmd::SWITCH, 0x03B7_0100), None);
    }

    #[test]
    fn emmc_cmd0_arguments_sleep_and_bus_test() {
        let mut card = Card::new(Kind::Emmc, Box::new(vec![0u8; 1 << 20]), 0).unwrap();
        linux_mmc_init(&mut card);
        // Bus test at the 8-bit width: the pattern comes back inverted.
        assert_eq!(state_of(r1(&mut card, cmd::BUS_TEST_W, 0)), State::Transfer);
        assert_eq!(card.transfer(), Some(Direction::Write));
        assert_eq!(card.write_data(&[0x55, 0xAA, 0, 0, 0, 0, 0, 0, 9]), 8);
        assert_eq!(state_of(r1(&mut card, cmd::BUS_TEST_R, 0)), State::BusTest);
        assert_eq!(
            read(&mut card, 8),
            [0xAA, 0x55, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        );
        assert_eq!(card.current_state(), State::Transfer);
        // Sleep (mmc_sleep: deselect, CMD5 with bit 15) and awake.
        assert_eq!(card.command(cmd::SELECT_CARD, 0), None);
        assert_eq!(
            state_of(r1(&mut card, cmd::SLEEP_AWAKE, (1 << 16) | (1 << 15))),
            State::Standby
        );
        assert_eq!(card.current_state(), State::Sleep);
        assert_eq!(
            card.command(cmd::SEND_STATUS, 1 << 16),
            None,
            "not while asleep"
        );
        let st = r1_any(&mut card, cmd::SLEEP_AWAKE, 1 << 16);
        assert_eq!(state_of(st), State::Sleep);
        assert_ne!(st & status::ILLEGAL_COMMAND, 0, "the CMD13 while asleep");
        assert_eq!(
            state_of(r1(&mut card, cmd::SELECT_CARD, 1 << 16)),
            State::Standby
        );
        // Pre-idle and boot initiation: no response, idle.
        for arg in [EMMC_GO_PRE_IDLE, EMMC_BOOT_INITIATION, 0] {
            assert_eq!(card.command(cmd::GO_IDLE_STATE, arg), None);
            assert_eq!(card.current_state(), State::Idle);
            assert_eq!(card.rca(), 0);
            assert_eq!(card.ext_csd().unwrap()[ext_csd::BUS_WIDTH], 0);
            linux_mmc_init(&mut card);
        }
        // A voltage the device cannot take makes it inactive until a power cycle.
        card.command(cmd::GO_IDLE_STATE, 0);
        assert_eq!(card.command(cmd::SEND_OP_COND, 0x0000_4000), None);
        assert_eq!(card.current_state(), State::Inactive);
        assert_eq!(card.command(cmd::GO_IDLE_STATE, 0), None);
        assert_eq!(card.command(cmd::SEND_OP_COND, 0), None);
        card.reset();
        linux_mmc_init(&mut card);
    }

    /// A short response, error bits or not.
    fn r1_any(card: &mut Card, index: u8, arg: u32) -> u32 {
        short(card.command(index, arg))
    }

    #[test]
    fn sd_erase_writes_zeros_and_checks_the_sequence() {
        let mut card = Card::new(Kind::Sd, Box::new(vec![0xEEu8; 1 << 20]), 0).unwrap();
        let rca = linux_sd_init(&mut card).rca;
        // mmc_erase on SDSC: byte addresses, CMD32, CMD33 (last block), CMD38 arg 0, CMD13.
        r1(&mut card, cmd::ERASE_WR_BLK_START, 12 * 512);
        r1(&mut card, cmd::ERASE_WR_BLK_END, 15 * 512);
        r1(&mut card, cmd::ERASE, 0);
        assert_eq!(state_of(status_of(&mut card, rca)), State::Transfer);
        let d = read_blocks(&mut card, rca, 11 * 512, 6, true);
        assert!(d[..512].iter().all(|&b| b == 0xEE));
        assert!(d[512..5 * 512].iter().all(|&b| b == 0));
        assert!(d[5 * 512..].iter().all(|&b| b == 0xEE));
        // Out of sequence.
        assert_ne!(
            short(card.command(cmd::ERASE, 0)) & status::ERASE_SEQ_ERROR,
            0
        );
        assert_ne!(
            short(card.command(cmd::ERASE_WR_BLK_END, 0)) & status::ERASE_SEQ_ERROR,
            0
        );
        r1(&mut card, cmd::ERASE_WR_BLK_START, 0);
        let st = short(card.command(cmd::READ_SINGLE_BLOCK, 0));
        assert_ne!(
            st & status::ERASE_RESET,
            0,
            "another command clears the sequence"
        );
        assert_eq!(read(&mut card, 512), [0xEE; 512]);
        assert_ne!(
            short(card.command(cmd::ERASE_WR_BLK_END, 512)) & status::ERASE_SEQ_ERROR,
            0
        );
        assert_ne!(
            short(card.command(cmd::ERASE_WR_BLK_START, 1 << 20)) & status::OUT_OF_RANGE,
            0
        );
        r1(&mut card, cmd::ERASE_WR_BLK_START, 4 * 512);
        r1(&mut card, cmd::ERASE_WR_BLK_END, 2 * 512);
        assert_ne!(short(card.command(cmd::ERASE, 0)) & status::ERASE_PARAM, 0);
    }

    #[test]
    fn emmc_erase_groups_trim_and_discard() {
        let mut card = Card::new(Kind::Emmc, Box::new(vec![0xEEu8; 2 << 20]), 0).unwrap();
        linux_mmc_init(&mut card);
        let blocks = |card: &mut Card, first: u32, n: usize| {
            let mut out = vec![0u8; n * 512];
            card.storage_mut()
                .read_at(u64::from(first) * 512, &mut out)
                .unwrap();
            out
        };
        // Trim: just the blocks (byte addresses in byte mode).
        r1(&mut card, cmd::ERASE_GROUP_START, 3 * 512);
        r1(&mut card, cmd::ERASE_GROUP_END, 4 * 512);
        r1(&mut card, cmd::ERASE, EMMC_TRIM_ARG);
        let d = blocks(&mut card, 2, 4);
        assert!(d[..512].iter().all(|&b| b == 0xEE) && d[1536..].iter().all(|&b| b == 0xEE));
        assert!(d[512..1536].iter().all(|&b| b == 0));
        // Discard likewise; erase takes whole 512 KiB groups.
        r1(&mut card, cmd::ERASE_GROUP_START, 1500 * 512);
        r1(&mut card, cmd::ERASE_GROUP_END, 1500 * 512);
        r1(&mut card, cmd::ERASE, EMMC_ERASE_ARG);
        assert!(blocks(&mut card, 1023, 1).iter().all(|&b| b == 0xEE));
        assert!(blocks(&mut card, 1024, 1024).iter().all(|&b| b == 0));
        assert!(blocks(&mut card, 2048, 1).iter().all(|&b| b == 0xEE));
        r1(&mut card, cmd::ERASE_GROUP_START, 0);
        r1(&mut card, cmd::ERASE_GROUP_END, 0);
        assert_ne!(
            short(card.command(cmd::ERASE, 0x8000_0000)) & status::ERASE_PARAM,
            0
        );
    }

    #[test]
    fn storage_errors_are_reported_not_panicked() {
        let fail = Rc::new(Cell::new(false));
        let storage = Flaky {
            inner: vec![0u8; 1 << 20],
            fail: fail.clone(),
        };
        let mut card = Card::new(Kind::Sd, Box::new(storage), 0).unwrap();
        let rca = linux_sd_init(&mut card).rca;
        fail.set(true);
        r1(&mut card, cmd::READ_SINGLE_BLOCK, 0);
        assert_eq!(card.read_data(&mut [0u8; 512]), 0);
        let st = status_of(&mut card, rca);
        assert_ne!(st & status::CARD_ECC_FAILED, 0);
        assert_eq!(state_of(st), State::Transfer, "a single-block read ends");
        r1(&mut card, cmd::WRITE_MULTIPLE_BLOCK, 0);
        assert_eq!(card.write_data(&[1u8; 1024]), 1024);
        let st = short(card.command(cmd::STOP_TRANSMISSION, 0));
        assert_ne!(st & status::ERROR, 0);
        r1(&mut card, cmd::ERASE_WR_BLK_START, 0);
        r1(&mut card, cmd::ERASE_WR_BLK_END, 0);
        r1(&mut card, cmd::ERASE, 0);
        assert_ne!(status_of(&mut card, rca) & status::ERROR, 0);
        assert!(card.state().io_error_logged);
        fail.set(false);
        assert_eq!(status_of(&mut card, rca) & status::ERRORS, 0);
        assert_eq!(
            read_blocks(&mut card, rca, 0, 2, false),
            [0u8; 1024],
            "nothing written"
        );
    }

    #[test]
    fn state_survives_save_and_restore_mid_transfer() {
        let mut card = Card::new(Kind::Emmc, Box::new(vec![0u8; 1 << 20]), 128 << 10).unwrap();
        linux_mmc_init(&mut card);
        mmc_switch_ok(&mut card, 1, ext_csd::PARTITION_CONFIG, 2);
        write_blocks(&mut card, 1, 0, &pattern(21, 2048), true);
        r1(&mut card, cmd::READ_MULTIPLE_BLOCK, 0);
        let first = read(&mut card, 700);
        let saved = card.state();
        let mut restored = Card::from_state(card.into_storage(), &saved).unwrap();
        assert_eq!(restored.state(), saved);
        assert_eq!(restored.partition(), Partition::Boot1);
        let rest = read(&mut restored, 2048 - 700);
        assert_eq!([first, rest].concat(), pattern(21, 2048));
        // A different size, or nonsense, is refused.
        assert!(Card::from_state(Box::new(vec![0u8; 2 << 20]), &saved).is_err());
        let mut bad = saved.clone();
        bad.transfer = None;
        assert!(Card::from_state(Box::new(vec![0u8; 1 << 20]), &bad).is_err());
        let mut bad = saved;
        bad.block_len = 0;
        assert!(Card::from_state(Box::new(vec![0u8; 1 << 20]), &bad).is_err());
    }

    #[test]
    fn application_commands_and_their_fallback() {
        let mut card = Card::new(Kind::Sd, Box::new(vec![0u8; 1 << 20]), 0).unwrap();
        let rca = linux_sd_init(&mut card).rca;
        // An undefined ACMD runs as the standard command, without APP_CMD.
        let st = r1_of(acmd(&mut card, rca, cmd::READ_SINGLE_BLOCK, 0));
        assert_eq!(st & status::APP_CMD, 0);
        assert_eq!(read(&mut card, 512).len(), 512);
        // ACMD13 is SD Status, CMD13 is status; APP_CMD shows in the ACMD's R1.
        let st = r1_of(acmd(&mut card, rca, acmd::SD_STATUS, 0));
        assert_ne!(st & status::APP_CMD, 0);
        let ssr = read(&mut card, 64);
        assert_eq!(ssr[0] >> 6, 2, "4-bit bus now");
        assert_eq!(status_of(&mut card, rca) & status::APP_CMD, 0);
        // CMD55 for another card: silence, and no application command follows.
        assert_eq!(card.command(cmd::APP_CMD, 0x1234 << 16), None);
        assert_eq!(state_of(status_of(&mut card, rca)), State::Transfer);
        // ACMD41 outside idle, security commands, lock: illegal.
        assert_eq!(
            acmd(&mut card, rca, acmd::SD_SEND_OP_COND, 0x0030_0000),
            None
        );
        assert_ne!(status_of(&mut card, rca) & status::ILLEGAL_COMMAND, 0);
        assert_eq!(acmd(&mut card, rca, 18, 0), None);
        assert_ne!(status_of(&mut card, rca) & status::ILLEGAL_COMMAND, 0);
        assert_eq!(card.command(cmd::LOCK_UNLOCK, 0), None);
        assert_ne!(status_of(&mut card, rca) & status::ILLEGAL_COMMAND, 0);
        // CMD6 mode 0 with an unsupported function answers 0xF for its group.
        r1(&mut card, cmd::SWITCH, 0x00FF_FFF3);
        let sw = read(&mut card, 64);
        assert_eq!(sw[16] & 0xF, 0xF);
        r1(&mut card, cmd::SWITCH, 0x80FF_FFF3);
        let sw = read(&mut card, 64);
        assert_eq!(sw[16] & 0xF, 0xF);
        assert!(card.state().high_speed, "a failed switch changes nothing");
        // A new RCA on a second CMD3, deselection by another RCA.
        assert_eq!(card.command(cmd::SELECT_CARD, 0x9999 << 16), None);
        assert_eq!(card.current_state(), State::Standby);
        let r6 = short(card.command(cmd::SEND_RELATIVE_ADDR, 0));
        assert_eq!((r6 >> 16) as u16, rca + 1);
        assert_eq!(state_of(r6 & 0x1FFF), State::Standby);
        assert_eq!(
            card.command(cmd::SEND_CSD, u32::from(rca) << 16),
            None,
            "old RCA"
        );
        long(card.command(cmd::SEND_CSD, u32::from(rca + 1) << 16));
        // CMD15: inactive until a power cycle.
        assert_eq!(
            card.command(cmd::GO_INACTIVE_STATE, u32::from(rca + 1) << 16),
            None
        );
        assert_eq!(card.command(cmd::GO_IDLE_STATE, 0), None);
        assert_eq!(card.command(cmd::SEND_IF_COND, 0x1AA), None);
        card.reset();
        linux_sd_init(&mut card);
    }

    #[test]
    fn sparse_storage_reads_zeros_and_forgets_zeroed_blocks() {
        let mut s = SparseStorage::new(1 << 40);
        let mut buf = [1u8; 1000];
        s.read_at(12345, &mut buf).unwrap();
        assert_eq!(buf, [0; 1000]);
        s.write_at(1000, &[7u8; 2000]).unwrap();
        assert_eq!(s.blocks_held(), 5);
        s.read_at(999, &mut buf).unwrap();
        assert_eq!(buf[0], 0);
        assert!(buf[1..].iter().all(|&b| b == 7));
        s.zero_range(1500, 1000).unwrap();
        let mut all = vec![0u8; 3000];
        s.read_at(0, &mut all).unwrap();
        for (i, &b) in all.iter().enumerate() {
            let want = if (1000..1500).contains(&i) || (2500..3000).contains(&i) {
                7
            } else {
                0
            };
            assert_eq!(b, want, "byte {i}");
        }
        s.zero_range(0, 1 << 40).unwrap();
        assert_eq!(s.blocks_held(), 0);
        assert!(s.write_at((1 << 40) - 1, &[1, 2]).is_err());
        assert!(s.read_at(u64::MAX, &mut buf).is_err());
        let mut v = vec![0u8; 100];
        assert!(v.write_at(99, &[1, 2]).is_err());
        assert!(v.zero_range(50, 51).is_err());
    }

    /// The bytes of `card`'s storage (what the machine saves with its images).
    fn storage_copy(card: &mut Card) -> Vec<u8> {
        let mut bytes = vec![0u8; card.storage().len() as usize];
        card.storage_mut().read_at(0, &mut bytes).unwrap();
        bytes
    }

    #[test]
    fn a_saved_card_loads_into_a_fresh_card_over_the_same_bytes_and_goes_on_alike() {
        let mut card = Card::new(Kind::Sd, Box::new(vec![0u8; 4 * MIB as usize]), 0).unwrap();
        let rca = linux_sd_init(&mut card).rca;
        // An open-ended CMD25 with one block and a part of the next received, and an error
        // waiting for the next R1.
        r1(&mut card, cmd::WRITE_MULTIPLE_BLOCK, 8 * 512);
        let data = pattern(5, 3 * 512);
        assert_eq!(card.write_data(&data[..700]), 700);
        assert_eq!(card.command(60, 0), None);
        let saved = card.save_state().unwrap();
        assert_eq!(
            (saved.kind.as_str(), saved.version),
            (STATE_KIND, STATE_VERSION)
        );

        let mut twin = Card::new(Kind::Sd, Box::new(storage_copy(&mut card)), 0).unwrap();
        twin.load_state(&saved).unwrap();
        assert_eq!(twin.state(), card.state());
        assert_eq!(twin.save_state().unwrap(), saved);
        assert_eq!(twin.current_state(), State::ReceivingData);
        assert_eq!(twin.rca(), rca);
        assert_eq!(twin.transfer(), Some(Direction::Write));
        // Both go on alike: the rest of the blocks, the stop, the status with the pending
        // error, the blocks read back.
        for c in [&mut card, &mut twin] {
            assert_eq!(c.write_data(&data[700..]), data.len() - 700);
            let st = short(c.command(cmd::STOP_TRANSMISSION, 0));
            assert_ne!(st & status::ILLEGAL_COMMAND, 0, "the pending error");
            assert_eq!(read_blocks(c, rca, 8 * 512, 3, false), data);
        }
        assert_eq!(twin.state(), card.state());
        assert_eq!(storage_copy(&mut twin), storage_copy(&mut card));
    }

    #[test]
    fn a_card_refuses_a_state_of_another_kind_size_or_card_and_stays_as_it_was() {
        let mut emmc = Card::new(Kind::Emmc, Box::new(vec![0u8; 2 << 20]), 128 << 10).unwrap();
        linux_mmc_init(&mut emmc);
        r1(&mut emmc, cmd::READ_MULTIPLE_BLOCK, 0);
        read(&mut emmc, 100);
        let saved = emmc.save_state().unwrap();
        let refused = |card: &mut Card, state: &DeviceState| {
            let before = card.save_state();
            let e = card.load_state(state).unwrap_err();
            assert_eq!(card.save_state(), before, "{e}: the card is unchanged");
            e.0
        };
        let mut twin = Card::new(Kind::Emmc, Box::new(vec![0u8; 2 << 20]), 128 << 10).unwrap();
        let mut wrong = saved.clone();
        wrong.kind = "sdhci-slot".into();
        assert!(refused(&mut twin, &wrong).contains("a sdhci-slot state cannot be loaded"));
        let mut wrong = saved.clone();
        wrong.version = STATE_VERSION + 1;
        assert!(refused(&mut twin, &wrong).contains("format version"));
        let mut sd = Card::new(Kind::Sd, Box::new(vec![0u8; 2 << 20]), 0).unwrap();
        let e = refused(&mut sd, &saved);
        assert_eq!(e, "the state is of an eMMC, this card is an SD card");
        let mut bigger = Card::new(Kind::Emmc, Box::new(vec![0u8; 4 << 20]), 128 << 10).unwrap();
        assert!(refused(&mut bigger, &saved).contains("capacity was"));
        let mut other_boot = Card::new(Kind::Emmc, Box::new(vec![0u8; 2 << 20]), 0).unwrap();
        assert!(refused(&mut other_boot, &saved).contains("boot partitions were 131072 bytes"));
        let mut bad = emmc.state();
        bad.transfer = None;
        let bad = DeviceState::new(STATE_KIND, STATE_VERSION, &bad);
        assert!(refused(&mut twin, &bad).contains("inconsistent card state"));
        // The state loads where it fits.
        twin.load_state(&saved).unwrap();
        assert_eq!(twin.state(), emmc.state());
    }

    /// Bytes shared by a card and the test (the machine's image overlay).
    struct SharedBytes(Rc<std::cell::RefCell<Vec<u8>>>);

    impl Storage for SharedBytes {
        fn len(&self) -> u64 {
            self.0.borrow().len() as u64
        }
        fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
            self.0.borrow_mut().read_at(offset, buf)
        }
        fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
            self.0.borrow_mut().write_at(offset, data)
        }
    }

    /// An SD controller with `card` in slot 0 and the interrupts Linux enables on.
    fn sd_controller(card: Option<Card>) -> (sdhci::AspeedSdc, Rc<bus::LevelRecorder>) {
        use bus::Device;
        let rec = bus::LevelRecorder::new();
        let memory = Rc::new(bus::VecMemory::new(0x8000_0000, 0x1000));
        let mut sdc = sdhci::AspeedSdc::new("sdc", 2, rec.line(0), memory);
        if let Some(card) = card {
            sdc.insert(0, Box::new(card), false);
        }
        let slot = sdhci::SDC_REGS_SIZE;
        sdc.write(slot + sdhci::REG_INT_ENABLE, 4, 0x027F_00FB);
        sdc.write(slot + sdhci::REG_SIGNAL_ENABLE, 4, 0x027F_00FB);
        sdc.write(slot + sdhci::REG_CLOCK_CONTROL, 2, 1);
        (sdc, rec)
    }

    #[test]
    fn a_card_in_an_sd_controller_is_saved_and_loaded_with_it() {
        use bus::Device;
        use sdhci::{REG_ARGUMENT, REG_BUFFER, REG_COMMAND, REG_RESPONSE, REG_TRANSFER_MODE};
        let slot = sdhci::SDC_REGS_SIZE;
        let command = |sdc: &mut sdhci::AspeedSdc, index: u8, arg: u32, flags: u16, mode: u16| {
            sdc.write(slot + REG_ARGUMENT, 4, u64::from(arg));
            sdc.write(slot + REG_TRANSFER_MODE, 2, u64::from(mode));
            sdc.write(
                slot + REG_COMMAND,
                2,
                u64::from(u16::from(index) << 8 | flags),
            );
        };
        let words = |sdc: &mut sdhci::AspeedSdc, n: usize| -> Vec<u8> {
            (0..n)
                .flat_map(|_| (sdc.read(slot + REG_BUFFER, 4) as u32).to_le_bytes())
                .collect()
        };
        let bytes = Rc::new(std::cell::RefCell::new(pattern(7, MIB as usize)));
        let mut card = Card::new(Kind::Sd, Box::new(SharedBytes(bytes.clone())), 0).unwrap();
        let rca = linux_sd_init(&mut card).rca;
        let (mut sdc, rec) = sd_controller(Some(card));
        // CMD18 by PIO from block 3, four blocks with Auto CMD12; half of the first read.
        sdc.write(slot + sdhci::REG_BLOCK_SIZE, 2, 512);
        sdc.write(slot + sdhci::REG_BLOCK_COUNT, 2, 4);
        let mode = sdhci::TRNS_READ | sdhci::TRNS_MULTI | sdhci::TRNS_BLK_CNT_EN;
        command(&mut sdc, 18, 3 * 512, 0x3A, mode | sdhci::TRNS_AUTO_CMD12);
        let first = words(&mut sdc, 64);
        assert!(rec.level(0), "buffer read ready");
        let saved = sdc.save_state().unwrap();

        // The machine restores the card's bytes itself; the card comes up idle and takes
        // its state from the controller's.
        let copy = Rc::new(std::cell::RefCell::new(bytes.borrow().clone()));
        let twin_card = Card::new(Kind::Sd, Box::new(SharedBytes(copy.clone())), 0).unwrap();
        let (mut twin, twin_rec) = sd_controller(Some(twin_card));
        twin.load_state(&saved).unwrap();
        assert!(twin_rec.level(0));
        assert_eq!(twin.save_state().unwrap(), saved);
        for off in (0..twin.regs_size()).step_by(4) {
            if off != slot + REG_BUFFER {
                assert_eq!(twin.read(off, 4), sdc.read(off, 4), "register {off:#x}");
            }
        }
        let rest = words(&mut sdc, 64 + 3 * 128);
        assert_eq!(words(&mut twin, 64 + 3 * 128), rest);
        assert_eq!([first, rest].concat(), bytes.borrow()[3 * 512..7 * 512]);
        for c in [&mut sdc, &mut twin] {
            command(c, cmd::SEND_STATUS, u32::from(rca) << 16, 0x1A, 0);
            let st = c.read(slot + REG_RESPONSE, 4) as u32;
            assert_eq!(state_of(st), State::Transfer, "Auto CMD12 stopped the read");
        }
        assert_eq!(twin.save_state(), sdc.save_state());

        // A machine without the card, or with an eMMC there, refuses the state.
        let (mut empty, _) = sd_controller(None);
        let e = empty.load_state(&saved).unwrap_err();
        assert!(
            e.0.contains("sdc.slot0: the saved state has a card in this slot (sd-card)"),
            "{e}"
        );
        let emmc = Card::new(Kind::Emmc, Box::new(vec![0u8; MIB as usize]), 0).unwrap();
        let (mut other, _) = sd_controller(Some(emmc));
        let e = other.load_state(&saved).unwrap_err();
        assert_eq!(
            e.0,
            "sdc.slot0: the card: the state is of an SD card, this card is an eMMC"
        );
    }
}
