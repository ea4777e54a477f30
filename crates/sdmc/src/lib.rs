//! The Aspeed SDRAM memory controller (SDMC): the AST2600's and, built with
//! [`Sdmc::with_variant`] and [`Variant::Ast2500`], the AST2500's.
//!
//! ## AST2600 (the default)
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
//!
//! ## AST2500
//!
//! Sources: QEMU `aspeed_2500_sdmc_write` / `aspeed_2500_sdmc_compute_conf`, u-boot v2023.01
//! `drivers/ram/aspeed/sdram_ast2500.c` and `sdram_ast2500.h` (register names in
//! [`registers::ast2500`]):
//! - MCR00: [`registers::SDRAM_UNLOCK_KEY`] unlocks (reads 1), any other value locks (reads 0;
//!   u-boot's lock writes the complement and waits for 0); no hard lock. While locked, every
//!   other write is ignored;
//! - MCR04: hardware version 1, VGA aperture 64 MiB, "cache init done" (bit 19) and the
//!   capacity (128 MiB = 0 ... 1 GiB = 3, from the size given to [`Sdmc::with_variant`]) are
//!   fixed; DDR4, scrambling, cache enable / init start and dual x8 are writable. Reset:
//!   0x1008000C | capacity;
//! - MCR60: the PHY never reads busy (bit 0 clears on every write); MCR70: every write reads
//!   back with "done" set and "fail" clear, so the Vref calibration (63 CBR tests of 9 runs each)
//!   passes everywhere and picks Vref 32;
//! - everything else u-boot writes (timings, mode registers, grant lengths, the DDR-PHY block
//!   at 0x200..0x3D0, ...) is plain storage; MCR14 and MCR04 read back for u-boot's
//!   read-modify-writes.
//!
//! The DRAM size u-boot reports does not come from here: `ast2500_sdrammc_calc_size` probes the
//! DRAM window itself (the SoC models it) and writes the result to MCR04 bits 1:0, which keep
//! the configured size whatever is written. The probe writes 0xDEADBEEF at 0xA010_0000,
//! 0xFDEADBEE at 0x9010_0000, 0xEFDEADBE at 0x8810_0000 (0x8010_0000 + size / 2 for 1 GiB,
//! 512 MiB, 256 MiB), then 0xEEFDEADB at 0x8010_0000; it reads the three back in that order and
//! the first that holds its own pattern gives the size (none: 128 MiB). Above the populated
//! size the window must therefore read back something else: zero (QEMU) or a wrap onto the
//! populated DRAM (each probe address then aliases 0x8010_0000, written last), never a store.
//! u-boot reports that size less the VGA memory, 8 MiB << SCU70 bits 3:2.
#![deny(missing_docs)]

pub mod registers;

use std::fmt;

use bus::{merge_subword, subword, Device, DeviceState, StateError, UnimplementedLog};
use registers::*;
use serde::{Deserialize, Serialize};

/// Number of 32-bit registers in the SDMC block.
pub const SDMC_WORDS: usize = (SDMC_BLOCK_SIZE / 4) as usize;

/// The kind of an SDMC's saved state ([`DeviceState::kind`]), either generation's.
pub const STATE_KIND: &str = "aspeed-sdmc";
/// The format version of an SDMC's saved state: [`SdmcState`] as this build serialises it.
pub const STATE_VERSION: u32 = 1;

/// DRAM sizes the AST2600 controller supports, in MCR04 capacity-field order (QEMU
/// `aspeed_2600_ram_sizes`, u-boot `SDRAM_CONF_CAP_256M..2048M`).
pub const SUPPORTED_RAM_SIZES: [u64; 4] = [256 << 20, 512 << 20, 1 << 30, 2 << 30];

/// DRAM sizes the AST2500 controller supports, in MCR04 capacity-field order (QEMU
/// `aspeed_2500_ram_sizes`, u-boot `SDRAM_CONF_CAP_128M..1024M`).
pub const AST2500_RAM_SIZES: [u64; 4] = [128 << 20, 256 << 20, 512 << 20, 1 << 30];

/// Which SoC generation's controller this is; [`Sdmc::with_variant`] chooses it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Variant {
    /// The AST2600 controller (`aspeed,ast2600-sdrammc` in u-boot): 256 MiB .. 2 GiB,
    /// hardware version 3.
    #[default]
    Ast2600,
    /// The AST2500 controller (`aspeed,ast2500-sdrammc`): 128 MiB .. 1 GiB, hardware version 1.
    Ast2500,
}

impl Variant {
    /// The DRAM sizes the controller supports, in MCR04 capacity-field order.
    pub const fn ram_sizes(self) -> [u64; 4] {
        match self {
            Variant::Ast2600 => SUPPORTED_RAM_SIZES,
            Variant::Ast2500 => AST2500_RAM_SIZES,
        }
    }

    /// The MCR04 capacity field (bits 1:0) for `ram_size` bytes, if this controller supports
    /// that size.
    pub fn capacity_field(self, ram_size: u64) -> Option<u32> {
        self.ram_sizes()
            .iter()
            .position(|&s| s == ram_size)
            .map(|i| i as u32)
    }

    /// The hardware version in MCR04 bits 31:28: 3 or 1.
    pub const fn hw_version(self) -> u32 {
        match self {
            Variant::Ast2600 => 3,
            Variant::Ast2500 => 1,
        }
    }

    fn unsupported(self, ram_size: u64) -> SdmcError {
        match self {
            Variant::Ast2600 => SdmcError::UnsupportedRamSize(ram_size),
            Variant::Ast2500 => SdmcError::UnsupportedAst2500RamSize(ram_size),
        }
    }
}

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
    /// The AST2500 controller supports 128 MiB, 256 MiB, 512 MiB or 1 GiB only.
    UnsupportedAst2500RamSize(u64),
}

impl fmt::Display for SdmcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SdmcError::UnsupportedRamSize(size) => write!(
                f,
                "unsupported AST2600 DRAM size {size:#x} (256 MiB, 512 MiB, 1 GiB or 2 GiB)"
            ),
            SdmcError::UnsupportedAst2500RamSize(size) => write!(
                f,
                "unsupported AST2500 DRAM size {size:#x} (128 MiB, 256 MiB, 512 MiB or 1 GiB)"
            ),
        }
    }
}

impl std::error::Error for SdmcError {}

/// The MCR04 capacity field (bits 1:0) for `ram_size` bytes, if the AST2600 supports that size
/// (for either generation: [`Variant::capacity_field`]).
pub fn capacity_field(ram_size: u64) -> Option<u32> {
    Variant::Ast2600.capacity_field(ram_size)
}

/// The SDMC's registers as plain data, for snapshots (`Sdmc::state` / `Sdmc::from_state`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SdmcState {
    /// Every 32-bit register, indexed by offset / 4; MCR00 holds the lock state
    /// (1 unlocked, 0 locked, 0x10 locked until reset, AST2600 only).
    #[serde(with = "bus::register_words")]
    pub regs: [u32; SDMC_WORDS],
    /// The SoC generation whose register layout `regs` holds; [`Sdmc::from_state`] restores it.
    pub variant: Variant,
}

/// The Aspeed SDRAM memory controller (AST2600 unless built [`Sdmc::with_variant`]).
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
    /// An AST2600 controller in its power-on state for `ram_size` bytes of DRAM (1 GiB on the
    /// EVB): `Sdmc::with_variant(Variant::Ast2600, ram_size)`.
    pub fn new(ram_size: u64) -> Result<Self, SdmcError> {
        Self::with_variant(Variant::Ast2600, ram_size)
    }

    /// A controller of `variant` in its power-on state for `ram_size` bytes of DRAM: 256 MiB
    /// .. 2 GiB on the AST2600, 128 MiB .. 1 GiB on the AST2500 (512 MiB on the ast2500-evb);
    /// any other size is an error.
    pub fn with_variant(variant: Variant, ram_size: u64) -> Result<Self, SdmcError> {
        let capacity = variant
            .capacity_field(ram_size)
            .ok_or(variant.unsupported(ram_size))?;
        Ok(Self {
            ram_size,
            capacity,
            state: Self::power_on_state(variant, capacity),
            unimplemented: UnimplementedLog::new("sdmc"),
        })
    }

    /// A controller restored from a snapshot taken with [`Sdmc::state`], of the snapshot's
    /// variant; `ram_size` must be one that variant supports.
    pub fn from_state(ram_size: u64, state: SdmcState) -> Result<Self, SdmcError> {
        let mut sdmc = Self::with_variant(state.variant, ram_size)?;
        sdmc.state = state;
        Ok(sdmc)
    }

    /// The SoC generation this controller models.
    pub fn variant(&self) -> Variant {
        self.state.variant
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

    fn power_on_state(variant: Variant, capacity: u32) -> SdmcState {
        let mut regs = [0u32; SDMC_WORDS];
        if variant == Variant::Ast2500 {
            regs[index(ast2500::CONFIG)] = Self::fixed_config_ast2500(capacity, 0);
            return SdmcState { regs, variant };
        }
        regs[index(CONFIG)] = Self::fixed_config(capacity, 0);
        // QEMU aspeed_sdmc_reset: PHY ready, calibration OK, all eye/gate windows passing.
        regs[index(PHY_STATUS)] = PHY_STATUS_READY;
        regs[index(PHY_STATUS_READ_EYE)] = 0xFF;
        regs[index(PHY_STATUS_WRITE_EYE)] = 0xFF;
        regs[index(PHY_STATUS_GATE_WINDOW)] = 0x0FFF_FFFF;
        SdmcState { regs, variant }
    }

    /// MCR04 as QEMU's `aspeed_2600_sdmc_compute_conf` makes it: hardware version 3, 64 MiB VGA
    /// aperture, and (here) the capacity field replaced rather than OR-ed in.
    fn fixed_config(capacity: u32, data: u32) -> u32 {
        (data & !CONF_FIXED_MASK) | (3 << 28) | (3 << 2) | (capacity & CONF_CAP_MASK)
    }

    /// MCR04 as QEMU's `aspeed_2500_sdmc_compute_conf` makes it: hardware version 1, 64 MiB VGA
    /// aperture, cache init done, and (here) the capacity field replaced rather than OR-ed in.
    fn fixed_config_ast2500(capacity: u32, data: u32) -> u32 {
        use registers::ast2500::*;
        (data & !(CONF_READONLY_MASK | CONF_CAP_MASK))
            | (Variant::Ast2500.hw_version() << 28)
            | CONF_CACHE_INIT_DONE
            | CONF_VGA_SIZE_MASK
            | (capacity & CONF_CAP_MASK)
    }

    fn reg(&self, offset: u64) -> u32 {
        self.state.regs[index(offset)]
    }

    fn read_word(&mut self, offset: u64) -> u32 {
        let known = match self.variant() {
            Variant::Ast2600 => is_known(offset),
            Variant::Ast2500 => is_known_ast2500(offset),
        };
        if !known {
            self.unimplemented.read(offset, 4);
        }
        self.reg(offset)
    }

    /// Writes the bytes selected by `mask` of `data` to the word-aligned `offset`.
    fn write_word(&mut self, offset: u64, data: u32, mask: u32) {
        if self.variant() == Variant::Ast2500 {
            self.write_word_ast2500(offset, data, mask);
            return;
        }
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

    /// [`Sdmc::write_word`] of the AST2500 controller (QEMU `aspeed_2500_sdmc_write`).
    fn write_word_ast2500(&mut self, offset: u64, data: u32, mask: u32) {
        use registers::ast2500::*;
        if !is_known_ast2500(offset) {
            self.unimplemented.write(offset, 4, u64::from(data));
        }
        let i = index(offset);
        if offset == PROT_KEY {
            let unlocked = mask == u32::MAX && data == SDRAM_UNLOCK_KEY;
            self.state.regs[i] = if unlocked {
                PROT_UNLOCKED
            } else {
                PROT_SOFTLOCKED
            };
            return;
        }
        if !self.is_unlocked() {
            log::debug!(target: "sdmc", "write of {data:#x} to {offset:#x} ignored: SDMC is locked");
            return;
        }
        let merged = (self.state.regs[i] & !mask) | (data & mask);
        self.state.regs[i] = match offset {
            CONFIG => Self::fixed_config_ast2500(self.capacity, merged),
            PHY_CTRL0 => merged & !PHY_CTRL0_INIT,
            ECC_TEST_CTRL => (merged | TEST_DONE) & !TEST_FAIL,
            _ => merged,
        };
    }
}

/// AST2500 registers named by u-boot's `struct ast2500_sdrammc_regs` / `ast2500_ddr_phy`.
fn is_known_ast2500(offset: u64) -> bool {
    use registers::ast2500::*;
    matches!(
        offset,
        PROT_KEY..=PHY_DEBUG_DATA | SCU_PASSWD | SCU_MPLL | SCU_HWSTRAP | PHY..=PHY_END
    )
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
        self.state = Self::power_on_state(self.variant(), self.capacity);
    }

    /// The register file ([`SdmcState`]); the DRAM size is configuration (MCR04 records it).
    fn save_state(&self) -> Option<DeviceState> {
        Some(DeviceState::new(STATE_KIND, STATE_VERSION, &self.state))
    }

    /// Refuses another generation's state, and one whose MCR04 capacity field is not this
    /// controller's DRAM size. The SDMC has no interrupt output.
    fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        let s: SdmcState = state.decode(STATE_KIND, STATE_VERSION)?;
        if s.variant != self.variant() {
            return Err(StateError(format!(
                "aspeed-sdmc: the state is of an {:?} controller, this one is an {:?}",
                s.variant,
                self.variant()
            )));
        }
        // MCR04 bits 1:0 on both generations.
        let capacity = s.regs[index(CONFIG)] & CONF_CAP_MASK;
        if capacity != self.capacity {
            let saved_size = self.variant().ram_sizes()[capacity as usize];
            return Err(StateError(format!(
                "aspeed-sdmc: the state is of a controller with {} MiB of DRAM, this one has {} MiB",
                saved_size >> 20,
                self.ram_size >> 20
            )));
        }
        self.state = s;
        Ok(())
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

    // ---- AST2500 ----

    use registers::ast2500 as g5;
    use std::collections::HashMap;

    const MIB: u64 = 1 << 20;

    fn g5_evb() -> Sdmc {
        Sdmc::with_variant(Variant::Ast2500, 512 * MIB).unwrap()
    }

    /// A bounded poll: u-boot spins forever, the test gives up after 100 reads.
    fn poll(s: &mut Sdmc, offset: u64, done: &dyn Fn(u32) -> bool) {
        assert!(
            (0..100).any(|_| done(r(s, offset))),
            "poll of {offset:#x} hangs"
        );
    }

    /// The DRAM window as the SoC may model it above the populated size.
    #[derive(Clone, Copy, Debug)]
    enum Above {
        /// QEMU's "ram-empty": reads 0, writes dropped.
        ReadsZero,
        /// Address bits above the size ignored: the window repeats the populated DRAM.
        Wraps,
        /// A broken model: the full 1 GiB window stores whatever is written.
        Stores,
    }

    struct Dram {
        size: u64,
        above: Above,
        words: HashMap<u32, u32>,
    }

    impl Dram {
        fn at(&self, addr: u32) -> Option<u32> {
            let off = u64::from(addr - 0x8000_0000);
            match self.above {
                _ if off < self.size => Some(addr),
                Above::ReadsZero => None,
                Above::Wraps => Some(0x8000_0000 + (off % self.size) as u32),
                Above::Stores => Some(addr),
            }
        }
        fn write(&mut self, addr: u32, v: u32) {
            if let Some(a) = self.at(addr) {
                self.words.insert(a, v);
            }
        }
        fn read(&self, addr: u32) -> u32 {
            self.at(addr)
                .and_then(|a| self.words.get(&a).copied())
                .unwrap_or(0)
        }
    }

    /// `ast2500_sdrammc_calc_size` of u-boot v2023.01 against `dram`, with `s` for MCR04 and
    /// MCR14; returns (DRAM size found, the capacity field written, the tRFC byte written).
    fn uboot_calc_size(s: &mut Sdmc, dram: &mut Dram) -> (u64, u32, u32) {
        let base: u32 = 0x8000_0000 + 0x10_0000;
        let rotate = |p: u32| p.rotate_right(4);
        let mut pattern = 0xDEAD_BEEFu32;
        let mut size = 1u64 << 30;
        while size > 128 * MIB {
            dram.write(base + (size >> 1) as u32, pattern);
            pattern = rotate(pattern);
            size >>= 1;
        }
        dram.write(base, pattern);
        let mut pattern = 0xDEAD_BEEFu32;
        let mut cap = 3u32;
        let mut trfc = g5::DDR4_TRFC;
        let mut size = 1u64 << 30;
        while size > 128 * MIB {
            if dram.read(base + (size >> 1) as u32) == pattern {
                break;
            }
            cap -= 1;
            trfc >>= 8;
            pattern = rotate(pattern);
            size >>= 1;
        }
        let ac1 = r(s, g5::AC_TIMING + 4);
        w(s, g5::AC_TIMING + 4, (ac1 & !0xFF) | (trfc & 0xFF));
        let conf = r(s, g5::CONFIG);
        w(
            s,
            g5::CONFIG,
            (conf & !g5::CONF_CAP_MASK) | (cap & g5::CONF_CAP_MASK),
        );
        (size, cap, trfc & 0xFF)
    }

    /// u-boot v2023.01 `ast2500_sdrammc_probe` against `s` (the SCU side is crates/scu's):
    /// every write, poll and read-modify-write it does, polls bounded. Returns what
    /// `ast2500_sdrammc_calc_size` found.
    fn uboot_ast2500_probe(s: &mut Sdmc, dram: &mut Dram) -> (u64, u32, u32) {
        // ast2500_sdrammc_unlock
        w(s, g5::PROT_KEY, SDRAM_UNLOCK_KEY);
        poll(s, g5::PROT_KEY, &|v| v != 0);
        w(s, g5::POWER_CTRL, (1 << 17) | (1 << 7));
        w(s, g5::GM_PROT_KEY, g5::VIDEO_UNLOCK_KEY);
        w(s, g5::REQ_LIMIT_MASK, !((1 << 10) | (1 << 12)));
        for (i, v) in [0x8844_8844u32, 0x2442_2288, 0x2222_2222, 0x2222_2222]
            .into_iter()
            .enumerate()
        {
            w(s, g5::MAX_GRANT_LEN + 4 * i as u64, v);
        }
        let icr = r(s, g5::INTR_CTRL);
        w(s, g5::INTR_CTRL, icr | g5::ICR_RESET_ALL);
        // ast2500_sdrammc_init_phy
        for i in [2, 6, 8, 10, 12, 42, 44] {
            w(s, g5::phy(i), 0);
        }
        for (i, v) in [
            (16, 0x8600_0000u32),
            (17, 0x8600),
            (18, 0x8000_0000),
            (19, 0x8080_8080),
        ] {
            w(s, g5::phy(i), v);
        }
        // ast2500_sdrammc_init_ddr4 (the SCU70 DDR4 strap was checked on the SCU side)
        let conf = 3 | g5::CONF_SCRAMBLE | g5::CONF_SCRAMBLE_PAT2 | g5::CONF_DDR4;
        w(s, g5::CONFIG, conf);
        for (i, v) in [0x6360_4E37u32, 0xE97A_FA99, 0x0001_9000]
            .into_iter()
            .enumerate()
        {
            w(s, g5::AC_TIMING + 4 * i as u64, v);
        }
        w(s, g5::MR46_MODE, 0x0800_0000);
        w(s, g5::MR5_MODE, 0x400);
        w(s, g5::MR02_MODE, 0x410);
        w(s, g5::MR13_MODE, 0x101);
        let phy_cfg: [(u64, u32); 15] = [
            (0, 0x4249_2AAE),
            (1, 0x0900_2000),
            (3, 0x55E0_0B0B),
            (4, 0x2000_0000),
            (5, 0x24),
            (56, 0x0300_2900),
            (57, 0x0E00_00A0),
            (58, 0x000E_001C),
            (59, 0x35B8_C106),
            (60, 0x0808_0607),
            (61, 0x9B00_0900),
            (62, 0x0E40_0A00),
            (36, 0x0010_0008),
            (49, 0x3C18_3C3C),
            (50, 0x0063_1E0E),
        ];
        for (i, v) in phy_cfg {
            w(s, g5::phy(i), v);
        }
        let pcr = 1 | (1 << 4) | (2 << 12) | (1 << 7) | (1 << 15) | (1 << 8) | (1 << 11);
        w(s, g5::POWER_CTRL, pcr);
        let phy_init = |s: &mut Sdmc| {
            w(s, g5::PHY_CTRL0, 0);
            w(s, g5::phy(51), 0x4040);
            w(s, g5::PHY_CTRL0, g5::PHY_CTRL0_NRST | g5::PHY_CTRL0_INIT);
            poll(s, g5::PHY_CTRL0, &|v| v & g5::PHY_CTRL0_INIT == 0);
            w(
                s,
                g5::PHY_CTRL0,
                g5::PHY_CTRL0_NRST | g5::PHY_CTRL0_AUTO_UPDATE,
            );
        };
        phy_init(s);
        // ast2500_sdrammc_ddr4_calibrate_vref: a CBR test per Vref 1..63, then the middle.
        let (mut vmin, mut vmax, mut range) = (0xFF, 0, 0);
        for vref in 1..0x40u32 {
            w(s, g5::PHY_CTRL0, 0);
            w(s, g5::phy(48), (vref << 8) | 6);
            phy_init(s);
            // ast2500_ddr_cbr_test
            w(s, g5::REFRESH_TIMING, 1 | (0x5C << 8));
            w(s, g5::TEST_ADDR, 0xFFF << 4);
            w(s, g5::TEST_INIT_VAL, 0xFF00_FF00);
            w(s, g5::ECC_TEST_CTRL, g5::TEST_EN | (2 << 1) | (1 << 7));
            poll(s, g5::ECC_TEST_CTRL, &|v| v & g5::TEST_DONE != 0);
            let mut ok = r(s, g5::ECC_TEST_CTRL) & g5::TEST_FAIL == 0;
            if ok {
                for mode in 0..=7u32 {
                    w(s, g5::ECC_TEST_CTRL, (mode << 3) | 0xC1);
                    poll(s, g5::ECC_TEST_CTRL, &|v| v & g5::TEST_DONE != 0);
                    if r(s, g5::ECC_TEST_CTRL) & g5::TEST_FAIL != 0 {
                        ok = false;
                        break;
                    }
                }
            }
            w(s, g5::REFRESH_TIMING, 0);
            w(s, g5::ECC_TEST_CTRL, 0);
            if ok {
                range += 1;
                vmin = vmin.min(vref);
                vmax = vmax.max(vref);
            } else if range > 0 {
                break;
            }
        }
        assert_eq!((vmin, vmax, range), (1, 63, 63), "every Vref passes");
        // u-boot's (vref_min + vref_max + 1) / 2
        let vref = (vmin + vmax).div_ceil(2);
        assert_eq!(vref, 32);
        w(s, g5::PHY_CTRL0, 0);
        w(s, g5::phy(48), (vref << 8) | 6);
        phy_init(s);
        assert_eq!(r(s, g5::phy(48)), 0x2006);
        w(s, g5::REFRESH_TIMING, 1 | (1 << 7) | (0x2F << 8));
        let pcr = r(s, g5::POWER_CTRL);
        w(s, g5::POWER_CTRL, pcr | (1 << 1) | (1 << 10));
        let found = uboot_calc_size(s, dram);
        let conf = r(s, g5::CONFIG);
        w(s, g5::CONFIG, conf | g5::CONF_CACHE_INIT_EN);
        poll(s, g5::CONFIG, &|v| v & g5::CONF_CACHE_INIT_DONE != 0);
        let conf = r(s, g5::CONFIG);
        w(s, g5::CONFIG, conf | g5::CONF_CACHE_EN);
        w(s, g5::MISC_CONTROL, 1 << 3);
        // Every request but video and display: EHCI1/2, CPU, AHB2, AHB, MACs, PCIe, XDMA, ...
        w(s, g5::REQ_LIMIT_MASK, 0x7027_7F00);
        let icr = r(s, g5::INTR_CTRL);
        w(s, g5::INTR_CTRL, icr & !g5::ICR_RESET_ALL);
        // ast2500_sdrammc_lock
        w(s, g5::PROT_KEY, !SDRAM_UNLOCK_KEY);
        poll(s, g5::PROT_KEY, &|v| v == 0);
        found
    }

    #[test]
    fn ast2500_reset_values() {
        for (cap, size) in AST2500_RAM_SIZES.iter().enumerate() {
            let mut s = Sdmc::with_variant(Variant::Ast2500, *size).unwrap();
            assert_eq!(s.variant(), Variant::Ast2500);
            assert_eq!(s.ram_size(), *size);
            assert_eq!(r(&mut s, g5::PROT_KEY), 0, "locked at power-on");
            assert_eq!(r(&mut s, g5::CONFIG), 0x1008_000C | cap as u32);
            // No AST2600 PHY status block here.
            assert_eq!(r(&mut s, PHY_STATUS), 0);
        }
        assert_eq!(r(&mut g5_evb(), g5::CONFIG), 0x1008_000E, "512 MiB");
        assert_eq!(Variant::Ast2500.capacity_field(128 * MIB), Some(0));
        assert_eq!(Variant::Ast2500.capacity_field(GIB), Some(3));
        assert_eq!(Variant::Ast2600.capacity_field(GIB), Some(2));
        assert_eq!(Variant::Ast2500.hw_version(), 1);
        assert_eq!(Variant::Ast2600.ram_sizes(), SUPPORTED_RAM_SIZES);
        assert_eq!(Variant::default(), Variant::Ast2600);
    }

    #[test]
    fn ast2500_supports_128m_to_1g_only() {
        for bad in [0, 64 * MIB, 2 * GIB, 768 * MIB, GIB + 1] {
            let err = Sdmc::with_variant(Variant::Ast2500, bad).err();
            assert_eq!(err, Some(SdmcError::UnsupportedAst2500RamSize(bad)));
            assert!(err.unwrap().to_string().contains("AST2500"));
        }
        assert_eq!(
            Sdmc::with_variant(Variant::Ast2600, 128 * MIB).err(),
            Some(SdmcError::UnsupportedRamSize(128 * MIB))
        );
        assert_eq!(
            Sdmc::new(128 * MIB).err(),
            Some(SdmcError::UnsupportedRamSize(128 * MIB))
        );
    }

    #[test]
    fn ast2500_key_protection() {
        let mut s = g5_evb();
        w(&mut s, g5::AC_TIMING, 0x6360_4E37);
        w(&mut s, g5::INTR_CTRL, 1 << 31);
        assert_eq!(r(&mut s, g5::AC_TIMING), 0, "locked write ignored");
        assert_eq!(r(&mut s, g5::INTR_CTRL), 0, "nothing is unprotected here");
        w(&mut s, g5::PROT_KEY, SDRAM_UNLOCK_KEY);
        assert_eq!(r(&mut s, g5::PROT_KEY), 1);
        assert!(s.is_unlocked());
        w(&mut s, g5::AC_TIMING, 0x6360_4E37);
        assert_eq!(r(&mut s, g5::AC_TIMING), 0x6360_4E37);
        // No hard lock on this generation: 0xDEADDEAD locks like any other value.
        w(&mut s, g5::PROT_KEY, SDRAM_HARDLOCK_KEY);
        assert_eq!(r(&mut s, g5::PROT_KEY), 0);
        w(&mut s, g5::PROT_KEY, SDRAM_UNLOCK_KEY);
        assert_eq!(r(&mut s, g5::PROT_KEY), 1);
        // u-boot lock: the complement, then wait for 0.
        w(&mut s, g5::PROT_KEY, !SDRAM_UNLOCK_KEY);
        assert_eq!(r(&mut s, g5::PROT_KEY), 0);
        s.write(g5::PROT_KEY, 2, 0x0309);
        assert_eq!(r(&mut s, g5::PROT_KEY), 0, "a partial key does not unlock");
    }

    #[test]
    fn ast2500_config_keeps_fixed_bits() {
        let mut s = g5_evb();
        w(&mut s, g5::PROT_KEY, SDRAM_UNLOCK_KEY);
        // init_ddr4 writes capacity 1 GiB | scramble | pattern 2 | DDR4 = 0x313.
        w(&mut s, g5::CONFIG, 0x313);
        assert_eq!(r(&mut s, g5::CONFIG), 0x1008_031E, "capacity stays 512 MiB");
        w(&mut s, g5::CONFIG, 0xFFFF_FFFF);
        assert_eq!(r(&mut s, g5::CONFIG), 0x1FF8_3FBE);
        w(&mut s, g5::CONFIG, 0);
        assert_eq!(r(&mut s, g5::CONFIG), 0x1008_000E);
        assert_ne!(r(&mut s, g5::CONFIG) & g5::CONF_CACHE_INIT_DONE, 0);
    }

    #[test]
    fn ast2500_polled_bits_answer_done() {
        let mut s = g5_evb();
        w(&mut s, g5::PROT_KEY, SDRAM_UNLOCK_KEY);
        w(
            &mut s,
            g5::PHY_CTRL0,
            g5::PHY_CTRL0_NRST | g5::PHY_CTRL0_INIT,
        );
        assert_eq!(
            r(&mut s, g5::PHY_CTRL0),
            g5::PHY_CTRL0_NRST,
            "never busy, no PLL bit"
        );
        w(&mut s, g5::ECC_TEST_CTRL, 0x85 | g5::TEST_FAIL);
        assert_eq!(r(&mut s, g5::ECC_TEST_CTRL), 0x85 | g5::TEST_DONE);
        w(&mut s, g5::ECC_TEST_CTRL, 0);
        assert_eq!(r(&mut s, g5::ECC_TEST_CTRL), g5::TEST_DONE);
        // The DDR-PHY block and the AST2600 status offsets are plain storage.
        w(&mut s, g5::phy(48), 0x2006);
        w(&mut s, g5::PHY_END, 7);
        w(&mut s, PHY_STATUS, 9);
        assert_eq!(r(&mut s, g5::phy(48)), 0x2006);
        assert_eq!(r(&mut s, g5::PHY_END), 7);
        assert_eq!(r(&mut s, PHY_STATUS), 9);
        // The power control register keeps what is written (no self-refresh status here).
        w(&mut s, g5::POWER_CTRL, 0x7000_8993);
        assert_eq!(r(&mut s, g5::POWER_CTRL), 0x7000_8993);
    }

    /// u-boot v2023.01's full AST2500 DRAM init completes against every supported size, and the
    /// size probe then finds the configured size when the DRAM window reads zero or wraps above
    /// it; MCR04/MCR14 end with that size's capacity and tRFC, and the controller locked.
    #[test]
    fn ast2500_uboot_dram_init_completes_and_finds_the_size() {
        let trfc = [0x45, 0x45, 0x71, 0x88];
        for (cap, &size) in AST2500_RAM_SIZES.iter().enumerate() {
            for above in [Above::ReadsZero, Above::Wraps] {
                let mut s = Sdmc::with_variant(Variant::Ast2500, size).unwrap();
                let mut dram = Dram {
                    size,
                    above,
                    words: HashMap::new(),
                };
                let (found, field, t) = uboot_ast2500_probe(&mut s, &mut dram);
                assert_eq!(found, size, "{above:?}");
                assert_eq!(field, cap as u32);
                assert_eq!(t, trfc[cap]);
                assert!(!s.is_unlocked());
                let conf = r(&mut s, g5::CONFIG);
                assert_eq!(conf & g5::CONF_CAP_MASK, cap as u32);
                assert_eq!(conf, 0x1008_171C | cap as u32, "DDR4, scrambled, cache on");
                assert_eq!(r(&mut s, g5::AC_TIMING + 4), 0xE97A_FA00 | trfc[cap]);
                assert_eq!(r(&mut s, g5::MISC_CONTROL), 1 << 3);
                assert_eq!(r(&mut s, g5::INTR_CTRL) & g5::ICR_RESET_ALL, 0);
                assert_eq!(r(&mut s, g5::REQ_LIMIT_MASK), 0x7027_7F00);
            }
        }
        // The probe needs the window not to keep writes above the size: a 512 MiB board whose
        // window stores them all would be sized 1 GiB (MCR04 still says 512 MiB).
        let mut s = g5_evb();
        let mut dram = Dram {
            size: 512 * MIB,
            above: Above::Stores,
            words: HashMap::new(),
        };
        let (found, field, _) = uboot_ast2500_probe(&mut s, &mut dram);
        assert_eq!((found, field), (GIB, 3));
        assert_eq!(r(&mut s, g5::CONFIG) & g5::CONF_CAP_MASK, 2);
    }

    #[test]
    fn ast2500_unknown_registers_store_and_are_reported_once() {
        let mut s = g5_evb();
        w(&mut s, g5::PROT_KEY, SDRAM_UNLOCK_KEY);
        w(&mut s, 0x500, 0x1234);
        assert_eq!(r(&mut s, 0x500), 0x1234);
        assert_eq!(s.unimplemented.reported(), 2);
        r(&mut s, g5::SCU_HWSTRAP);
        w(&mut s, g5::phy(100), 1);
        r(&mut s, g5::PHY_DEBUG_DATA);
        assert_eq!(
            s.unimplemented.reported(),
            2,
            "named registers are not reported"
        );
    }

    #[test]
    fn ast2500_every_offset_and_width_is_accepted() {
        let mut s = g5_evb();
        w(&mut s, g5::PROT_KEY, SDRAM_UNLOCK_KEY);
        for offset in (4..SDMC_BLOCK_SIZE + 16).step_by(3) {
            for size in [1u8, 2, 4, 8] {
                s.read(offset, size);
                s.write(offset, size, u64::MAX);
            }
        }
        assert!(s.is_unlocked());
        assert_eq!(r(&mut s, g5::CONFIG), 0x1FF8_3FBE);
        assert_eq!(s.read(SDMC_BLOCK_SIZE + 4, 4), 0);
    }

    #[test]
    fn ast2500_state_round_trips_with_its_variant() {
        let mut s = g5_evb();
        w(&mut s, g5::PROT_KEY, SDRAM_UNLOCK_KEY);
        w(&mut s, g5::MR02_MODE, 0x410);
        let snap = s.state();
        assert_eq!(snap.variant, Variant::Ast2500);
        let mut t = Sdmc::from_state(512 * MIB, snap.clone()).unwrap();
        assert_eq!(t.variant(), Variant::Ast2500);
        assert_eq!(t.state(), snap);
        assert_eq!(r(&mut t, g5::MR02_MODE), 0x410);
        // The restored controller keeps AST2500 behaviour (no hard lock, its own MCR04).
        w(&mut t, g5::CONFIG, 0);
        assert_eq!(r(&mut t, g5::CONFIG), 0x1008_000E);
        t.reset();
        assert_eq!(t.state(), g5_evb().state());
        // A 128 MiB AST2500 snapshot restores; the AST2600 does not know that size.
        let small = Sdmc::with_variant(Variant::Ast2500, 128 * MIB)
            .unwrap()
            .state();
        assert!(Sdmc::from_state(128 * MIB, small).is_ok());
        assert_eq!(
            Sdmc::from_state(128 * MIB, Sdmc::new(GIB).unwrap().state()).err(),
            Some(SdmcError::UnsupportedRamSize(128 * MIB))
        );
    }

    // ---- Snapshots ----

    /// Every word of the block as the guest reads it.
    fn all_words(s: &mut Sdmc) -> Vec<u32> {
        (0..SDMC_BLOCK_SIZE)
            .step_by(4)
            .map(|off| r(s, off))
            .collect()
    }

    /// An AST2600 controller after u-boot's DRAM init: ECC on, mode registers and PHY
    /// programmed, self-test run, then locked until reset.
    fn initialised() -> Sdmc {
        let mut s = evb();
        w(&mut s, PROT_KEY, SDRAM_UNLOCK_KEY);
        w(&mut s, CONFIG, CONF_ECC_EN);
        w(&mut s, MR01_MODE, 0x0301_0510);
        w(&mut s, PHY_CTRL0, 0x0000_0005);
        w(&mut s, ECC_TEST_CTRL, 0x0000_0085);
        w(&mut s, PROT_KEY, SDRAM_HARDLOCK_KEY);
        assert_eq!(r(&mut s, PROT_KEY), PROT_HARDLOCKED);
        s
    }

    #[test]
    fn saved_state_restores_every_register_and_the_lock() {
        let mut s = initialised();
        let saved = s.save_state().expect("the SDMC saves its state");
        assert_eq!(
            (saved.kind.as_str(), saved.version),
            (STATE_KIND, STATE_VERSION)
        );
        let mut t = evb();
        t.load_state(&saved).unwrap();
        assert_eq!(t.save_state(), Some(saved));
        let words = all_words(&mut s);
        assert_eq!(words[index(CONFIG)] & CONF_ECC_EN, CONF_ECC_EN);
        assert_eq!(all_words(&mut t), words);
        // Both stay locked until reset; the unprotected registers still take writes.
        for c in [&mut s, &mut t] {
            w(c, PROT_KEY, SDRAM_UNLOCK_KEY);
            w(c, MR01_MODE, 0);
            w(c, INTR_CTRL, 0x1234);
        }
        assert_eq!(r(&mut t, PROT_KEY), PROT_HARDLOCKED);
        assert_eq!(r(&mut t, MR01_MODE), 0x0301_0510);
        assert_eq!(all_words(&mut t), all_words(&mut s));
    }

    #[test]
    fn a_state_of_another_kind_version_generation_or_size_is_refused() {
        let saved = initialised().save_state().unwrap();
        let mut s = Sdmc::new(512 * MIB).unwrap();
        w(&mut s, PROT_KEY, SDRAM_UNLOCK_KEY);
        w(&mut s, MR01_MODE, 0x42);
        let before = s.state();
        let wrong_kind = DeviceState {
            kind: "aspeed-scu".into(),
            ..saved.clone()
        };
        let wrong_version = DeviceState {
            version: STATE_VERSION + 1,
            ..saved.clone()
        };
        for bad in [&wrong_kind, &wrong_version] {
            assert!(s.load_state(bad).is_err());
        }
        let e = s.load_state(&saved).unwrap_err();
        assert!(e.0.contains("1024 MiB") && e.0.contains("512 MiB"), "{e}");
        let e = s.load_state(&g5_evb().save_state().unwrap()).unwrap_err();
        assert!(e.0.contains("Ast2500"), "{e}");
        assert_eq!(s.state(), before, "left unchanged");
    }

    #[test]
    fn an_ast2500_state_restores_into_an_ast2500_controller() {
        let mut s = g5_evb();
        w(&mut s, g5::PROT_KEY, SDRAM_UNLOCK_KEY);
        w(&mut s, g5::MR02_MODE, 0x410);
        w(&mut s, g5::PROT_KEY, 0);
        let saved = s.save_state().unwrap();
        let mut t = g5_evb();
        t.load_state(&saved).unwrap();
        assert_eq!(t.save_state(), Some(saved));
        assert!(!t.is_unlocked());
        assert_eq!(all_words(&mut t), all_words(&mut s));
    }
}
