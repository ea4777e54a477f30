//! The AST2600 SDRAM memory controller (SDMC).
//!
//! There is no DRAM to train in an emulator: the model reports what u-boot waits for and keeps
//! the bits QEMU's `aspeed_2600_sdmc_write` forces (sources: QEMU `hw/misc/aspeed_sdmc.c`,
//! u-boot `drivers/ram/aspeed/sdram_ast2600.c` in the Aspeed SDK 2019.04 and mainline 2023.01,
//! `arch/arm/mach-aspeed/ast2600/board_common.c`):
//! - MCR00 protection key: [`registers::SDRAM_UNLOCK_KEY`] unlocks (reads 1), `0xDEADDEAD`
//!   locks until reset (reads 0x10), anything else locks (reads 0). While locked, writes are
//!   ignored except to the registers QEMU leaves unprotected (MCR50, 6C, 74, 78, 7C, 88, 8C, B4);
//! - MCR04 configuration: hardware version 3, VGA aperture 64 MiB and the DRAM capacity
//!   (256 MiB = 0 ... 2 GiB = 3, from the RAM size given to [`Sdmc::new`]) are fixed; the other
//!   bits (ECC enable, DDR4, ...) are writable;
//! - MCR34 self-refresh status reads idle, MCR60 PHY init never busy and PLL locked, MCR70
//!   self-test always done without failure;
//! - the DDR-PHY status block (0x400..0x5FF) is read only and reports "PHY ready" and non-empty
//!   eye/gate training windows, as QEMU's reset does.
//!
//! The "already initialized" decision of u-boot is not made here: it tests the SCU's DRAM
//! handshake bit (SCU100 bit 6), which is clear at reset, so u-boot (or mainline's SPL) runs
//! the full init sequence against this model, then sets that bit and locks the controller.
#![deny(missing_docs)]

pub mod registers;

use std::fmt;

use bus::{merge_subword, subword, Device, UnimplementedLog};
use registers::*;

/// Number of 32-bit registers in the SDMC block.
pub const SDMC_WORDS: usize = (SDMC_BLOCK_SIZE / 4) as usize;

/// DRAM sizes the AST2600 controller supports, in MCR04 capacity-field order (QEMU
/// `aspeed_2600_ram_sizes`, u-boot `SDRAM_CONF_CAP_256M..2048M`).
pub const SUPPORTED_RAM_SIZES: [u64; 4] = [256 << 20, 512 << 20, 1 << 30, 2 << 30];

/// MCR04 bits that writes cannot change (QEMU `ASPEED_SDMC_AST2500_READONLY_MASK`, which it
/// uses for the AST2600 too), plus the capacity field this model derives from the RAM size.
const CONF_FIXED_MASK: u32 = CONF_HW_VERSION_MASK
    | CONF_CACHE_INITIAL_DONE
    | CONF_RESERVED_MASK
    | CONF_VGA_COMPAT
    | CONF_VGA_SIZE_MASK
    | CONF_CAP_MASK;

/// Why an SDMC could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SdmcError {
    /// The AST2600 controller supports 256 MiB, 512 MiB, 1 GiB or 2 GiB only.
    UnsupportedRamSize(u64),
}

impl fmt::Display for SdmcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SdmcError::UnsupportedRamSize(size) => write!(
                f,
                "unsupported AST2600 DRAM size {size:#x} (256 MiB, 512 MiB, 1 GiB or 2 GiB)"
            ),
        }
    }
}

impl std::error::Error for SdmcError {}

/// The MCR04 capacity field (bits 1:0) for `ram_size` bytes, if the AST2600 supports that size.
pub fn capacity_field(ram_size: u64) -> Option<u32> {
    SUPPORTED_RAM_SIZES
        .iter()
        .position(|&s| s == ram_size)
        .map(|i| i as u32)
}

/// The SDMC's registers as plain data, for snapshots (`Sdmc::state` / `Sdmc::from_state`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdmcState {
    /// Every 32-bit register, indexed by offset / 4; MCR00 holds the lock state
    /// (1 unlocked, 0 locked, 0x10 locked until reset).
    pub regs: [u32; SDMC_WORDS],
}

/// The AST2600 SDRAM memory controller.
pub struct Sdmc {
    ram_size: u64,
    capacity: u32,
    state: SdmcState,
    unimplemented: UnimplementedLog,
}

fn index(offset: u64) -> usize {
    (offset / 4) as usize
}

/// Registers named by u-boot's `struct ast2600_sdrammc_regs`, QEMU, or the PHY regions.
fn is_known(offset: u64) -> bool {
    matches!(offset, 0x00..=0x9C | ECC_ERR_INJECT | PHY_SETTING..=PHY_STATUS_END)
}

/// Registers QEMU lets the guest write even while the controller is locked.
fn is_unprotected(offset: u64) -> bool {
    matches!(
        offset,
        INTR_CTRL
            | PHY_CTRL3
            | TEST_ADDR
            | TEST_FAIL_DQ
            | TEST_INIT_VAL
            | DRAM_SW
            | DRAM_TIME
            | ECC_ERR_INJECT
    )
}

impl Sdmc {
    /// A controller in its power-on state for `ram_size` bytes of DRAM (1 GiB on the EVB).
    pub fn new(ram_size: u64) -> Result<Self, SdmcError> {
        let capacity = capacity_field(ram_size).ok_or(SdmcError::UnsupportedRamSize(ram_size))?;
        Ok(Self {
            ram_size,
            capacity,
            state: Self::power_on_state(capacity),
            unimplemented: UnimplementedLog::new("sdmc"),
        })
    }

    /// A controller restored from a snapshot taken with [`Sdmc::state`].
    pub fn from_state(ram_size: u64, state: SdmcState) -> Result<Self, SdmcError> {
        let mut sdmc = Self::new(ram_size)?;
        sdmc.state = state;
        Ok(sdmc)
    }

    /// A copy of the registers.
    pub fn state(&self) -> SdmcState {
        self.state.clone()
    }

    /// The DRAM size the controller reports, in bytes.
    pub fn ram_size(&self) -> u64 {
        self.ram_size
    }

    /// True when MCR00 holds the unlocked state.
    pub fn is_unlocked(&self) -> bool {
        self.reg(PROT_KEY) == PROT_UNLOCKED
    }

    fn power_on_state(capacity: u32) -> SdmcState {
        let mut regs = [0u32; SDMC_WORDS];
        regs[index(CONFIG)] = Self::fixed_config(capacity, 0);
        // QEMU aspeed_sdmc_reset: PHY ready, calibration OK, all eye/gate windows passing.
        regs[index(PHY_STATUS)] = PHY_STATUS_READY;
        regs[index(PHY_STATUS_READ_EYE)] = 0xFF;
        regs[index(PHY_STATUS_WRITE_EYE)] = 0xFF;
        regs[index(PHY_STATUS_GATE_WINDOW)] = 0x0FFF_FFFF;
        SdmcState { regs }
    }

    /// MCR04 as QEMU's `aspeed_2600_sdmc_compute_conf` makes it: hardware version 3, 64 MiB VGA
    /// aperture, and (here) the capacity field replaced rather than OR-ed in.
    fn fixed_config(capacity: u32, data: u32) -> u32 {
        (data & !CONF_FIXED_MASK) | (3 << 28) | (3 << 2) | (capacity & CONF_CAP_MASK)
    }

    fn reg(&self, offset: u64) -> u32 {
        self.state.regs[index(offset)]
    }

    fn read_word(&mut self, offset: u64) -> u32 {
        if !is_known(offset) {
            self.unimplemented.read(offset, 4);
        }
        self.reg(offset)
    }

    /// Writes the bytes selected by `mask` of `data` to the word-aligned `offset`.
    fn write_word(&mut self, offset: u64, data: u32, mask: u32) {
        if !is_known(offset) {
            self.unimplemented.write(offset, 4, u64::from(data));
        }
        let i = index(offset);
        let merged = (self.state.regs[i] & !mask) | (data & mask);
        if is_unprotected(offset) {
            self.state.regs[i] = merged;
            return;
        }
        let prot = self.reg(PROT_KEY);
        if prot == PROT_HARDLOCKED {
            log::debug!(target: "sdmc", "write to {offset:#x} ignored: locked until reset");
            return;
        }
        if offset != PROT_KEY && prot == PROT_SOFTLOCKED {
            log::debug!(target: "sdmc", "write of {data:#x} to {offset:#x} ignored: SDMC is locked");
            return;
        }
        let full = mask == u32::MAX;
        self.state.regs[i] = match offset {
            PROT_KEY if full && data == SDRAM_UNLOCK_KEY => PROT_UNLOCKED,
            PROT_KEY if full && data == SDRAM_HARDLOCK_KEY => PROT_HARDLOCKED,
            PROT_KEY => PROT_SOFTLOCKED,
            CONFIG => Self::fixed_config(self.capacity, merged),
            POWER_CTRL => merged & !POWER_SELF_REFRESH_STATUS_MASK,
            PHY_CTRL0 => (merged & !PHY_CTRL0_INIT) | PHY_CTRL0_PLL_LOCKED,
            ECC_TEST_CTRL => (merged | ECC_TEST_DONE) & !ECC_TEST_FAIL,
            PHY_STATUS..=PHY_STATUS_END => {
                log::debug!(target: "sdmc", "write to read-only PHY status {offset:#x} ignored");
                return;
            }
            _ => merged,
        };
    }
}

impl Device for Sdmc {
    fn read(&mut self, offset: u64, size: u8) -> u64 {
        if offset >= SDMC_BLOCK_SIZE {
            self.unimplemented.read(offset, size);
            return 0;
        }
        let word = offset & !3;
        if size == 8 {
            let low = u64::from(self.read_word(word));
            let high = if word + 4 < SDMC_BLOCK_SIZE {
                u64::from(self.read_word(word + 4))
            } else {
                0
            };
            return low | (high << 32);
        }
        subword(self.read_word(word), offset, size)
    }

    fn write(&mut self, offset: u64, size: u8, value: u64) {
        if offset >= SDMC_BLOCK_SIZE {
            self.unimplemented.write(offset, size, value);
            return;
        }
        let word = offset & !3;
        if size == 8 {
            self.write_word(word, value as u32, u32::MAX);
            if word + 4 < SDMC_BLOCK_SIZE {
                self.write_word(word + 4, (value >> 32) as u32, u32::MAX);
            }
            return;
        }
        let mask = merge_subword(0, offset, size, u64::from(u32::MAX));
        let data = merge_subword(0, offset, size, value);
        self.write_word(word, data, mask);
    }

    fn reset(&mut self) {
        self.state = Self::power_on_state(self.capacity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn evb() -> Sdmc {
        Sdmc::new(GIB).unwrap()
    }

    fn r(s: &mut Sdmc, offset: u64) -> u32 {
        s.read(offset, 4) as u32
    }

    fn w(s: &mut Sdmc, offset: u64, value: u32) {
        s.write(offset, 4, u64::from(value));
    }

    /// What the SDK's `board_add_ram_info` prints: capacity, VGA and ECC from MCR04.
    fn board_ram_info(s: &mut Sdmc) -> (u32, u32, bool) {
        let conf = r(s, CONFIG);
        (
            256 << (conf & 3),
            8 << ((conf >> 2) & 3),
            conf & CONF_ECC_EN != 0,
        )
    }

    #[test]
    fn reset_values() {
        let mut s = evb();
        assert_eq!(r(&mut s, PROT_KEY), 0, "locked at power-on");
        assert_eq!(r(&mut s, CONFIG), 0x3000_000E, "HW v3, VGA 64 MiB, 1 GiB");
        assert_eq!(r(&mut s, PHY_STATUS), PHY_STATUS_READY);
        assert_eq!(r(&mut s, PHY_STATUS_READ_EYE), 0xFF);
        assert_eq!(r(&mut s, PHY_STATUS_WRITE_EYE), 0xFF);
        assert_eq!(r(&mut s, PHY_STATUS_GATE_WINDOW), 0x0FFF_FFFF);
        assert_eq!(r(&mut s, PHY_CTRL0), 0);
        assert_eq!(r(&mut s, ECC_TEST_CTRL), 0);
        assert_eq!(board_ram_info(&mut s), (1024, 64, false));
    }

    #[test]
    fn capacity_field_encodes_256m_to_2g() {
        for (field, size) in SUPPORTED_RAM_SIZES.iter().enumerate() {
            let mut s = Sdmc::new(*size).unwrap();
            assert_eq!(r(&mut s, CONFIG) & CONF_CAP_MASK, field as u32);
            assert_eq!(u64::from(board_ram_info(&mut s).0) << 20, *size);
            assert_eq!(s.ram_size(), *size);
        }
        assert_eq!(capacity_field(512 << 20), Some(1));
        for bad in [0, 128 << 20, 3 * GIB, 4 * GIB, GIB + 1] {
            assert_eq!(
                Sdmc::new(bad).err(),
                Some(SdmcError::UnsupportedRamSize(bad))
            );
        }
    }

    #[test]
    fn key_protection() {
        let mut s = evb();
        w(&mut s, ECC_RANGE_CTRL, 0x07FF_FFFF);
        w(&mut s, CONFIG, CONF_ECC_EN);
        assert_eq!(r(&mut s, ECC_RANGE_CTRL), 0, "locked write ignored");
        assert_eq!(r(&mut s, CONFIG), 0x3000_000E);

        w(&mut s, PROT_KEY, SDRAM_UNLOCK_KEY);
        assert_eq!(r(&mut s, PROT_KEY), PROT_UNLOCKED);
        assert!(s.is_unlocked());
        w(&mut s, ECC_RANGE_CTRL, 0x07FF_FFFF);
        assert_eq!(r(&mut s, ECC_RANGE_CTRL), 0x07FF_FFFF);

        // u-boot ast2600_sdrammc_lock writes ~key and waits for MCR00 to read 0.
        w(&mut s, PROT_KEY, !SDRAM_UNLOCK_KEY);
        assert_eq!(r(&mut s, PROT_KEY), PROT_SOFTLOCKED);
        w(&mut s, ECC_RANGE_CTRL, 0);
        assert_eq!(r(&mut s, ECC_RANGE_CTRL), 0x07FF_FFFF);

        // A partial write of the key does not unlock.
        s.write(PROT_KEY, 2, 0x0309);
        assert_eq!(r(&mut s, PROT_KEY), PROT_SOFTLOCKED);
    }

    #[test]
    fn hard_lock_holds_until_reset() {
        let mut s = evb();
        w(&mut s, PROT_KEY, SDRAM_UNLOCK_KEY);
        w(&mut s, PROT_KEY, SDRAM_HARDLOCK_KEY);
        assert_eq!(r(&mut s, PROT_KEY), PROT_HARDLOCKED);
        w(&mut s, PROT_KEY, SDRAM_UNLOCK_KEY);
        assert_eq!(
            r(&mut s, PROT_KEY),
            PROT_HARDLOCKED,
            "the key no longer works"
        );
        w(&mut s, REFRESH_TIMING, 0x5F00);
        assert_eq!(r(&mut s, REFRESH_TIMING), 0);
        s.reset();
        w(&mut s, PROT_KEY, SDRAM_UNLOCK_KEY);
        assert_eq!(r(&mut s, PROT_KEY), PROT_UNLOCKED);
    }

    #[test]
    fn unprotected_registers_are_writable_while_locked() {
        let mut s = evb();
        for offset in [
            INTR_CTRL,
            PHY_CTRL3,
            TEST_ADDR,
            TEST_FAIL_DQ,
            TEST_INIT_VAL,
            DRAM_SW,
            DRAM_TIME,
            ECC_ERR_INJECT,
        ] {
            w(&mut s, offset, 0x8000_0001);
            assert_eq!(r(&mut s, offset), 0x8000_0001, "{offset:#x}");
        }
        w(&mut s, MR01_MODE, 1);
        assert_eq!(r(&mut s, MR01_MODE), 0);
    }

    #[test]
    fn config_keeps_hardware_fixed_bits() {
        let mut s = evb();
        w(&mut s, PROT_KEY, SDRAM_UNLOCK_KEY);
        // u-boot common_init writes 0x17 (DDR4, capacity 3); calc_size then sets the capacity.
        w(&mut s, CONFIG, 0x17);
        assert_eq!(r(&mut s, CONFIG), 0x3000_001E);
        // get_vga_mem_size sets VGA 16 MiB: QEMU keeps the aperture at 64 MiB.
        w(&mut s, CONFIG, 0x3000_0016);
        assert_eq!(r(&mut s, CONFIG), 0x3000_001E);
        w(&mut s, CONFIG, 0xFFFF_FFFF);
        assert_eq!(
            r(&mut s, CONFIG),
            0x3FF0_3FBE,
            "only the fixed fields resist"
        );
        assert_eq!(board_ram_info(&mut s), (1024, 64, true));
        w(&mut s, CONFIG, 0);
        assert_eq!(r(&mut s, CONFIG), 0x3000_000E);
    }

    #[test]
    fn polled_status_bits_read_ready() {
        let mut s = evb();
        w(&mut s, PROT_KEY, SDRAM_UNLOCK_KEY);
        // PHY control 0: never busy, PLL locked.
        w(&mut s, PHY_CTRL0, 0x5);
        assert_eq!(r(&mut s, PHY_CTRL0), 0x4 | PHY_CTRL0_PLL_LOCKED);
        // Self-refresh status reads idle whatever is written.
        w(&mut s, POWER_CTRL, 0x7000_03A3);
        assert_eq!(r(&mut s, POWER_CTRL), 0x0000_03A3);
        // Self-test: always done, never failed.
        w(&mut s, ECC_TEST_CTRL, 0x85 | ECC_TEST_FAIL);
        assert_eq!(r(&mut s, ECC_TEST_CTRL), 0x85 | ECC_TEST_DONE);
        // PHY status cannot be cleared by the guest.
        w(&mut s, PHY_STATUS, 0);
        w(&mut s, PHY_STATUS_READ_EYE, 0);
        assert_eq!(r(&mut s, PHY_STATUS), PHY_STATUS_READY);
        assert_eq!(r(&mut s, PHY_STATUS_READ_EYE), 0xFF);
        // PHY setting registers are storage.
        w(&mut s, PHY_SETTING + 0x84, 0x0642_0C30);
        assert_eq!(r(&mut s, PHY_SETTING + 0x84), 0x0642_0C30);
    }

    /// The register traffic of u-boot's `ast2600_sdrammc_probe` full-init path, with every
    /// poll bounded: it must finish and leave MCR04 reporting 1 GiB, VGA 64 MiB, ECC off.
    #[test]
    fn uboot_full_init_sequence_completes() {
        let mut s = evb();
        let poll = |s: &mut Sdmc, offset: u64, done: &dyn Fn(u32) -> bool| {
            assert!(
                (0..100).any(|_| done(r(s, offset))),
                "poll of {offset:#x} hangs"
            );
        };
        // ast2600_sdrammc_unlock
        w(&mut s, PROT_KEY, SDRAM_UNLOCK_KEY);
        poll(&mut s, PROT_KEY, &|v| v != 0);
        // ast2600_sdrammc_common_init
        w(&mut s, POWER_CTRL, (1 << 6) | (1 << 7));
        w(&mut s, GM_PROT_KEY, 0x0044_0003);
        w(&mut s, ARBITRATION_CTRL, 0x10 << 16);
        w(&mut s, REQ_LIMIT_MASK, 0xFFBB_FFF4);
        w(&mut s, INTR_CTRL, 1 << 31);
        w(&mut s, ECC_RANGE_CTRL, 0x07FF_FFFF);
        w(&mut s, ECC_TEST_CTRL, 0);
        w(&mut s, TEST_ADDR, 0x8000_0001);
        w(&mut s, CONFIG, 0x17);
        // ast2600_sdramphy_init + kick_training
        w(&mut s, PHY_CTRL0, 0);
        w(&mut s, PHY_SETTING, 0);
        w(&mut s, PHY_CTRL0, 1 << 2);
        w(&mut s, PHY_CTRL0, (1 << 2) | 1);
        poll(&mut s, PHY_CTRL0, &|v| v & PHY_CTRL0_INIT == 0);
        // init_ddr4: refresh, then wait for self-refresh idle
        w(&mut s, REFRESH_TIMING, 0x5F41);
        poll(&mut s, POWER_CTRL, &|v| {
            v & POWER_SELF_REFRESH_STATUS_MASK == 0
        });
        // wait for the DDR-PHY, then ast2600_sdramphy_check_status must not ask for a retrain
        poll(&mut s, PHY_STATUS, &|v| v & PHY_STATUS_READY != 0);
        assert_ne!(r(&mut s, PHY_STATUS_READ_EYE) & 0xFF, 0);
        assert_ne!(r(&mut s, PHY_STATUS_WRITE_EYE) & 0xFF, 0);
        let gate = r(&mut s, PHY_STATUS_GATE_WINDOW);
        assert!(gate & 0xFFFF != 0 && gate >> 16 != 0);
        // ast2600_sdrammc_calc_size found 1 GiB: capacity field 2
        let conf = r(&mut s, CONFIG);
        w(&mut s, CONFIG, (conf & !CONF_CAP_MASK) | 2);
        // ast2600_sdrammc_dg_test: done without failure
        w(&mut s, ECC_TEST_CTRL, 0);
        w(&mut s, ECC_TEST_CTRL, 0x85);
        let v = r(&mut s, ECC_TEST_CTRL) & (ECC_TEST_DONE | ECC_TEST_FAIL);
        assert_eq!(v, ECC_TEST_DONE);
        // unlock-free interrupt clear, then ast2600_sdrammc_lock
        let intr = r(&mut s, INTR_CTRL);
        w(&mut s, INTR_CTRL, intr & !(1 << 31));
        w(&mut s, PROT_KEY, !SDRAM_UNLOCK_KEY);
        poll(&mut s, PROT_KEY, &|v| v == 0);
        assert_eq!(board_ram_info(&mut s), (1024, 64, false));
    }

    #[test]
    fn unknown_registers_store_and_are_reported_once() {
        let mut s = evb();
        w(&mut s, PROT_KEY, SDRAM_UNLOCK_KEY);
        w(&mut s, 0xC00, 0x1234);
        assert_eq!(r(&mut s, 0xC00), 0x1234);
        r(&mut s, 0xC00);
        assert_eq!(s.unimplemented.reported(), 2);
        r(&mut s, REQ_HIGH_PRI_CTRL);
        r(&mut s, PHY_SETTING + 0x200);
        assert_eq!(s.unimplemented.reported(), 2);
    }

    #[test]
    fn every_offset_and_width_is_accepted() {
        let mut s = evb();
        w(&mut s, PROT_KEY, SDRAM_UNLOCK_KEY);
        for offset in (4..SDMC_BLOCK_SIZE + 16).step_by(3) {
            for size in [1u8, 2, 4, 8] {
                s.read(offset, size);
                s.write(offset, size, u64::MAX);
            }
        }
        assert_eq!(s.read(SDMC_BLOCK_SIZE + 4, 4), 0);
        assert_eq!(r(&mut s, CONFIG) & CONF_CAP_MASK, 2);
        assert_eq!(s.read(CONFIG + 2, 2), 0x3FF0);
        assert_eq!(s.read(CONFIG, 1) & 0xF, 0xE);
    }

    #[test]
    fn state_round_trips() {
        let mut s = evb();
        w(&mut s, PROT_KEY, SDRAM_UNLOCK_KEY);
        w(&mut s, MR01_MODE, 0x0301_0510);
        let snap = s.state();
        let mut t = Sdmc::from_state(GIB, snap.clone()).unwrap();
        assert_eq!(t.state(), snap);
        assert_eq!(r(&mut t, MR01_MODE), 0x0301_0510);
        assert!(t.is_unlocked());
        t.reset();
        assert_eq!(t.state(), Sdmc::new(GIB).unwrap().state());
    }
}
