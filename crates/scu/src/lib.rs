//! The AST2600 System Control Unit (SCU), silicon revision A3.
//!
//! What it models (sources: QEMU `hw/misc/aspeed_scu.c` AST2600 handlers and its
//! `ast2600_a3_resets` table, u-boot `scu_ast2600.h` / `clk_ast2600.c` / `platform.S`, Linux
//! `clk-ast2600.c` and `irq-aspeed-scu-ic.c`):
//! - the protection keys at SCU000/SCU010: writing [`registers::SCU_UNLOCK_KEY`] to SCU000 unlocks
//!   (both keys), other values lock; they read back 1 (unlocked) or 0. While locked every
//!   other register ignores writes, as QEMU does;
//! - silicon revision A3 at SCU004/SCU014, chip ID at SCU5B0 (read only);
//! - the write-1-to-set / write-1-to-clear pairs: module resets (SCU040/044, SCU050/054), clock
//!   stops (SCU080/084, SCU090/094) and the hardware straps (SCU500/504, SCU510/514), the straps
//!   honouring their write-protection masks (SCU508/518);
//! - the PLLs with QEMU's reset values (HPLL 1.2 GHz, MPLL 400 MHz, ...) and their lock bit
//!   (bit 31 of the extended registers) always set;
//! - the two SCU interrupt controllers (SCU560, SCU570): enables in bits 15:0, status in bits
//!   31:16 (write 1 to clear), each driving one [`IrqLine`];
//! - a random number generator at SCU524 (Linux's `timeriomem_rng` node);
//! - plain storage for everything else (SMP mailbox, pin mux, clock selection, scratch ...).
//!
//! SoC reset: the AST2600 SCU has no register that resets the SoC (QEMU models none; u-boot's
//! `reset_cpu` and Linux's `reboot` use the watchdog), so this device has no reset output. The
//! module-reset bits of SCU040/SCU050 are stored and read back but reset nothing.
#![deny(missing_docs)]

pub mod registers;

use bus::{merge_subword, subword, Device, IrqLine, UnimplementedLog};
use registers::*;

/// Number of 32-bit registers in the SCU block.
pub const SCU_WORDS: usize = (SCU_BLOCK_SIZE / 4) as usize;

/// Reset values of the registers that are not zero: QEMU's `ast2600_a3_resets` table.
const A3_RESET_VALUES: &[(u64, u32)] = &[
    (SYS_RST_CTRL1, 0xF7C3_FED8),
    (SYS_RST_CTRL2, 0x0DFF_FFFC),
    (CLK_STOP_CTRL1, 0xFFFF_7F8A),
    (CLK_STOP_CTRL2, 0xFFF0_FFF0),
    (DEBUG_CTRL1, 0x0000_0FFF),
    (DEBUG_CTRL2, 0x0000_00FF),
    (HPLL_PARAM, 0x1000_408F),
    (APLL_PARAM, 0x1000_405F),
    (MPLL_PARAM, 0x1008_405F),
    (EPLL_PARAM, 0x1004_077F),
    (DPLL_PARAM, 0x1078_405F),
    (CLK_SEL1, 0xF394_0000),
    (CLK_SEL2, 0x0070_0000),
    (CLK_SEL4, 0xF3F4_0000),
    (CLK_SEL5, 0x3000_0000),
    (UART_CLKGEN, 0x0001_4506),
    (HUART_CLKGEN, 0x0001_45C0),
    (CHIP_ID, 0x1234_ABCD),
    (CHIP_ID + 4, 0x8888_4444),
];

/// Seed of the seeded random number generator when the seed given is 0 (xorshift needs a
/// non-zero state).
const RNG_SEED: u32 = 0x2545_F491;

/// Where SCU524's random numbers come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RngSource {
    /// The host's random numbers (`getrandom`): every emulated BMC makes its own keys, as
    /// hardware does.
    Host,
    /// A fixed sequence from this seed, the same after every reset (deterministic runs).
    Seeded(u32),
}

/// Board-level configuration of the SCU: what the strap pins and the boot flow provide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScuConfig {
    /// SCU500 value latched from the strap pins at power-on.
    pub hw_strap1: u32,
    /// SCU510 value latched from the strap pins at power-on.
    pub hw_strap2: u32,
    /// Start unlocked (QEMU does this only when it boots a kernel directly, without u-boot).
    pub unlocked_at_reset: bool,
    /// Where the random number generator's numbers come from.
    pub rng: RngSource,
}

impl ScuConfig {
    /// The ast2600-evb straps QEMU uses (`AST2600_EVB_HW_STRAP1/2` in `hw/arm/aspeed.c`):
    /// MAC1/MAC2 RGMII, CPU at 1.2 GHz; the SCU starts locked as on real hardware.
    pub const fn ast2600_evb() -> Self {
        Self {
            hw_strap1: 0x0000_00C0,
            hw_strap2: 0x0000_0003,
            unlocked_at_reset: false,
            rng: RngSource::Host,
        }
    }
}

/// One of the two interrupt controllers inside the SCU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScuInterruptController {
    /// SCU560, `aspeed,ast2600-scu-ic0` (six sources, enable bits 5:0).
    Ic0,
    /// SCU570, `aspeed,ast2600-scu-ic1` (two sources, enable bits 5:4).
    Ic1,
}

impl ScuInterruptController {
    fn offset(self) -> u64 {
        match self {
            ScuInterruptController::Ic0 => SCU_IC0,
            ScuInterruptController::Ic1 => SCU_IC1,
        }
    }
}

/// The SCU's registers as plain data, for snapshots (`Scu::state` / `Scu::from_state`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScuState {
    /// Every 32-bit register, indexed by offset / 4. The protection keys hold 1 when unlocked;
    /// the clear registers (SCU044, SCU504, ...) hold nothing and read as zero.
    pub regs: [u32; SCU_WORDS],
    /// State of the xorshift generator behind SCU524 (with [`RngSource::Seeded`]).
    pub rng: u32,
}

/// The AST2600 System Control Unit.
pub struct Scu {
    config: ScuConfig,
    state: ScuState,
    ic0_irq: IrqLine,
    ic1_irq: IrqLine,
    unimplemented: UnimplementedLog,
    /// Host random bytes not yet read ([`RngSource::Host`]).
    host_random: Vec<u8>,
}

fn index(offset: u64) -> usize {
    (offset / 4) as usize
}

/// Registers this model knows about (named in u-boot's `struct ast2600_scu` or QEMU); others are
/// still stored but reported once through [`UnimplementedLog`].
fn is_known(offset: u64) -> bool {
    matches!(
        offset,
        PROT_KEY1
            | SILICON_REV1
            | PROT_KEY2
            | SILICON_REV2
            | SYS_RST_CTRL1
            | SYS_RST_CLR1
            | SYS_RST_CTRL2
            | SYS_RST_CLR2
            | 0x060..=0x07C
            | CLK_STOP_CTRL1
            | CLK_STOP_CLR1
            | CLK_STOP_CTRL2
            | CLK_STOP_CLR2
            | MISC_CTRL1
            | MISC_CTRL2
            | DEBUG_CTRL1
            | MISC_CTRL3
            | MISC_CTRL4
            | DEBUG_CTRL2
            | 0x100..=0x10C
            | CPU_SCRATCH_WP
            | 0x180..=0x1FC
            | HPLL_PARAM
            | HPLL_EXT
            | APLL_PARAM
            | APLL_EXT
            | MPLL_PARAM
            | MPLL_EXT
            | EPLL_PARAM
            | EPLL_EXT
            | DPLL_PARAM
            | DPLL_EXT
            | CLK_SEL1
            | CLK_SEL2
            | CLK_SEL3
            | CLK_SEL4
            | CLK_SEL5
            | 0x320..=0x374
            | 0x400..=0x4FC
            | HW_STRAP1
            | HW_STRAP1_CLR
            | HW_STRAP1_PROT
            | HW_STRAP2
            | HW_STRAP2_CLR
            | HW_STRAP2_PROT
            | RNG_CTRL
            | RNG_DATA
            | 0x540..=0x554
            | SCU_IC0
            | SCU_IC1
            | OTP_CTRL
            | EFUSE
            | 0x5B0..=0x5CC
            | 0x610..=0x63C
            | SLI_DRIVING
            | 0x800..=0x80C
            | CA7_PARITY_CHK
            | CA7_PARITY_CLR
            | 0xA00..=0xA48
            | 0xC00..=0xC64
            | 0xE00..=0xE2C
            | 0xF00..=0xF60
    )
}

/// Registers the guest cannot write.
fn is_read_only(offset: u64) -> bool {
    matches!(
        offset,
        SILICON_REV1 | SILICON_REV2 | RNG_DATA | 0x5B0..=0x5CC
    )
}

fn next_random(x: u32) -> u32 {
    let mut x = if x == 0 { RNG_SEED } else { x };
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    x
}

/// The bytes an access of `size` at `offset` covers within its 32-bit word, as a mask, and the
/// data moved into place.
fn lane(offset: u64, size: u8, value: u64) -> (u32, u32) {
    let full = merge_subword(0, offset, size, u64::from(u32::MAX));
    let data = merge_subword(0, offset, size, value);
    (data, full)
}

impl Scu {
    /// An SCU in its power-on state. `ic0_irq` / `ic1_irq` are the outputs of the SCU interrupt
    /// controllers (GIC SPI 12 and 41 on the AST2600; the SoC wires them).
    pub fn new(config: ScuConfig, ic0_irq: IrqLine, ic1_irq: IrqLine) -> Self {
        let scu = Self {
            config,
            state: Self::power_on_state(&config),
            ic0_irq,
            ic1_irq,
            unimplemented: UnimplementedLog::new("scu"),
            host_random: Vec::new(),
        };
        scu.update_irqs();
        scu
    }

    /// An SCU restored from a snapshot taken with [`Scu::state`].
    pub fn from_state(
        config: ScuConfig,
        state: ScuState,
        ic0_irq: IrqLine,
        ic1_irq: IrqLine,
    ) -> Self {
        let mut scu = Self::new(config, ic0_irq, ic1_irq);
        scu.state = state;
        scu.update_irqs();
        scu
    }

    /// The next number of the random number generator (SCU524).
    fn random(&mut self) -> u32 {
        if self.config.rng == RngSource::Host {
            if self.host_random.len() < 4 {
                let mut buf = vec![0u8; 256];
                match getrandom::fill(&mut buf) {
                    Ok(()) => self.host_random = buf,
                    Err(e) => {
                        // Never a fixed sequence silently: say so, then use the seeded one.
                        log::error!("scu: no host randomness ({e}); SCU524 falls back to xorshift");
                        self.config.rng = RngSource::Seeded(RNG_SEED);
                    }
                }
            }
            if self.host_random.len() >= 4 {
                let tail = self.host_random.split_off(self.host_random.len() - 4);
                return u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
            }
        }
        self.state.rng = next_random(self.state.rng);
        self.state.rng
    }

    /// A copy of the registers.
    pub fn state(&self) -> ScuState {
        self.state.clone()
    }

    /// The configuration the SCU was built with.
    pub fn config(&self) -> ScuConfig {
        self.config
    }

    /// True when both protection keys are unlocked.
    pub fn is_unlocked(&self) -> bool {
        self.reg(PROT_KEY1) != 0 && self.reg(PROT_KEY2) != 0
    }

    /// Current SCU500 value (the CPU-clock strap decides CNTFRQ, the VGA strap the VGA memory).
    pub fn hw_strap1(&self) -> u32 {
        self.reg(HW_STRAP1)
    }

    /// Current SCU510 value.
    pub fn hw_strap2(&self) -> u32 {
        self.reg(HW_STRAP2)
    }

    /// Latches interrupt status bits (bit n = source n) of one SCU interrupt controller, as the
    /// hardware event behind that source would; the output rises if the source is enabled.
    pub fn assert_interrupt_status(&mut self, ic: ScuInterruptController, sources: u16) {
        let i = index(ic.offset());
        self.state.regs[i] |= u32::from(sources) << SCU_IC_STATUS_SHIFT;
        self.update_irqs();
    }

    fn power_on_state(config: &ScuConfig) -> ScuState {
        let mut regs = [0u32; SCU_WORDS];
        for &(offset, value) in A3_RESET_VALUES {
            regs[index(offset)] = value;
        }
        regs[index(SILICON_REV1)] = AST2600_A3_SILICON_REV;
        regs[index(SILICON_REV2)] = AST2600_A3_SILICON_REV;
        regs[index(HW_STRAP1)] = config.hw_strap1;
        regs[index(HW_STRAP2)] = config.hw_strap2;
        let key = u32::from(config.unlocked_at_reset);
        regs[index(PROT_KEY1)] = key;
        regs[index(PROT_KEY2)] = key;
        let rng = match config.rng {
            RngSource::Seeded(seed) if seed != 0 => seed,
            _ => RNG_SEED,
        };
        ScuState { regs, rng }
    }

    fn reg(&self, offset: u64) -> u32 {
        self.state.regs[index(offset)]
    }

    fn reg_mut(&mut self, offset: u64) -> &mut u32 {
        &mut self.state.regs[index(offset)]
    }

    fn ic_level(&self, ic: ScuInterruptController) -> bool {
        let v = self.reg(ic.offset());
        (v >> SCU_IC_STATUS_SHIFT) & v & SCU_IC_ENABLE_MASK != 0
    }

    fn update_irqs(&self) {
        self.ic0_irq.set(self.ic_level(ScuInterruptController::Ic0));
        self.ic1_irq.set(self.ic_level(ScuInterruptController::Ic1));
    }

    /// Reads the 32-bit register at the word-aligned `offset`.
    fn read_word(&mut self, offset: u64) -> u32 {
        if !is_known(offset) {
            self.unimplemented.read(offset, 4);
        }
        match offset {
            HPLL_EXT | APLL_EXT | MPLL_EXT | EPLL_EXT | DPLL_EXT => {
                self.reg(offset) | PLL_EXT_LOCKED
            }
            RNG_DATA => self.random(),
            _ => self.reg(offset),
        }
    }

    /// Writes the bytes selected by `mask` of `data` to the word-aligned `offset`.
    fn write_word(&mut self, offset: u64, data: u32, mask: u32) {
        if !is_known(offset) {
            self.unimplemented.write(offset, 4, u64::from(data));
        }
        match offset {
            PROT_KEY1 => {
                let unlocked = u32::from(mask == u32::MAX && data == SCU_UNLOCK_KEY);
                *self.reg_mut(PROT_KEY1) = unlocked;
                *self.reg_mut(PROT_KEY2) = unlocked;
                return;
            }
            PROT_KEY2 => {
                *self.reg_mut(PROT_KEY2) = u32::from(mask == u32::MAX && data == SCU_UNLOCK_KEY);
                return;
            }
            _ => {}
        }
        if !self.is_unlocked() {
            log::debug!(target: "scu", "write of {data:#x} to {offset:#x} ignored: SCU is locked");
            return;
        }
        let bits = data & mask;
        match offset {
            _ if is_read_only(offset) => {
                log::debug!(target: "scu", "write to read-only register {offset:#x} ignored");
            }
            SYS_RST_CTRL1 | SYS_RST_CTRL2 | CLK_STOP_CTRL1 | CLK_STOP_CTRL2 => {
                *self.reg_mut(offset) |= bits;
            }
            SYS_RST_CLR1 | SYS_RST_CLR2 | CLK_STOP_CLR1 | CLK_STOP_CLR2 => {
                *self.reg_mut(offset - 4) &= !bits;
            }
            HW_STRAP1 | HW_STRAP2 => {
                let writable = !self.reg(offset + 8);
                *self.reg_mut(offset) |= bits & writable;
            }
            HW_STRAP1_CLR | HW_STRAP2_CLR => {
                let writable = !self.reg(offset + 4);
                *self.reg_mut(offset - 4) &= !(bits & writable);
            }
            SCU_IC0 | SCU_IC1 => {
                let old = self.reg(offset);
                let enables_mask = mask & SCU_IC_ENABLE_MASK;
                let enables = ((old & !enables_mask) | (data & enables_mask)) & SCU_IC_ENABLE_MASK;
                let status = old & !SCU_IC_ENABLE_MASK & !bits;
                *self.reg_mut(offset) = status | enables;
                self.update_irqs();
            }
            _ => {
                let old = self.reg(offset);
                *self.reg_mut(offset) = (old & !mask) | bits;
            }
        }
    }
}

impl Device for Scu {
    fn read(&mut self, offset: u64, size: u8) -> u64 {
        if offset >= SCU_BLOCK_SIZE {
            self.unimplemented.read(offset, size);
            return 0;
        }
        let word = offset & !3;
        if size == 8 {
            let low = u64::from(self.read_word(word));
            let high = if word + 4 < SCU_BLOCK_SIZE {
                u64::from(self.read_word(word + 4))
            } else {
                0
            };
            return low | (high << 32);
        }
        subword(self.read_word(word), offset, size)
    }

    fn write(&mut self, offset: u64, size: u8, value: u64) {
        if offset >= SCU_BLOCK_SIZE {
            self.unimplemented.write(offset, size, value);
            return;
        }
        let word = offset & !3;
        if size == 8 {
            self.write_word(word, value as u32, u32::MAX);
            if word + 4 < SCU_BLOCK_SIZE {
                self.write_word(word + 4, (value >> 32) as u32, u32::MAX);
            }
            return;
        }
        let (data, mask) = lane(offset, size, value);
        self.write_word(word, data, mask);
    }

    fn reset(&mut self) {
        self.state = Self::power_on_state(&self.config);
        self.update_irqs();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bus::LevelRecorder;
    use std::rc::Rc;

    fn scu() -> (Scu, Rc<LevelRecorder>) {
        let rec = LevelRecorder::new();
        let scu = Scu::new(ScuConfig::ast2600_evb(), rec.line(0), rec.line(1));
        (scu, rec)
    }

    fn unlocked() -> (Scu, Rc<LevelRecorder>) {
        let (mut s, rec) = scu();
        s.write(PROT_KEY1, 4, u64::from(SCU_UNLOCK_KEY));
        (s, rec)
    }

    /// 25 MHz * (M + 1) / (N + 1) / (P + 1), the formula of Linux `ast2600_calc_pll`.
    fn pll_hz(reg: u32) -> u64 {
        let m = u64::from(reg & 0x1fff);
        let n = u64::from((reg >> 13) & 0x3f);
        let p = u64::from((reg >> 19) & 0xf);
        25_000_000 * ((m + 1) / (n + 1)) / (p + 1)
    }

    #[test]
    fn reset_values_match_qemu_a3_table() {
        let (mut s, _) = scu();
        assert_eq!(s.read(PROT_KEY1, 4), 0, "locked at power-on");
        assert_eq!(s.read(SILICON_REV1, 4), 0x0503_0303);
        assert_eq!(s.read(SILICON_REV2, 4), 0x0503_0303);
        assert_eq!(s.read(HW_STRAP1, 4), 0xC0);
        assert_eq!(s.read(HW_STRAP2, 4), 0x03);
        assert_eq!(s.read(SYS_RST_CTRL1, 4), 0xF7C3_FED8);
        assert_eq!(s.read(SYS_RST_CTRL2, 4), 0x0DFF_FFFC);
        assert_eq!(s.read(CLK_STOP_CTRL1, 4), 0xFFFF_7F8A);
        assert_eq!(s.read(CLK_STOP_CTRL2, 4), 0xFFF0_FFF0);
        assert_eq!(s.read(HPLL_PARAM, 4), 0x1000_408F);
        assert_eq!(s.read(MPLL_PARAM, 4), 0x1008_405F);
        assert_eq!(s.read(CLK_SEL1, 4), 0xF394_0000);
        assert_eq!(s.read(CLK_SEL4, 4), 0xF3F4_0000);
        assert_eq!(s.read(UART_CLKGEN, 4), 0x0001_4506);
        assert_eq!(s.read(CHIP_ID, 4), 0x1234_ABCD);
        assert_eq!(s.read(CHIP_ID + 4, 4), 0x8888_4444);
        assert_eq!(s.read(DRAM_HANDSHAKE, 4), 0, "DRAM not initialised yet");
        assert_eq!(s.read(MISC_CTRL1, 4) & (1 << 12), 0, "UART5 at 24 MHz");
    }

    #[test]
    fn pll_reset_values_give_sane_rates_and_report_lock() {
        let (mut s, _) = scu();
        assert_eq!(pll_hz(s.read(HPLL_PARAM, 4) as u32), 1_200_000_000);
        assert_eq!(pll_hz(s.read(MPLL_PARAM, 4) as u32), 400_000_000);
        for ext in [HPLL_EXT, APLL_EXT, MPLL_EXT, EPLL_EXT, DPLL_EXT] {
            assert_ne!(s.read(ext, 4) as u32 & PLL_EXT_LOCKED, 0, "{ext:#x}");
        }
        // Reprogramming a PLL (as u-boot's ast2600_configure_pll does) keeps it locked.
        s.write(PROT_KEY1, 4, u64::from(SCU_UNLOCK_KEY));
        s.write(MPLL_PARAM, 4, 0x0200_405F | (1 << 25));
        s.write(MPLL_EXT, 4, 0x31);
        assert_eq!(s.read(MPLL_EXT, 4), 0x8000_0031);
        assert_eq!(s.read(MPLL_PARAM, 4), 0x0200_405F | (1 << 25));
    }

    #[test]
    fn locked_writes_are_ignored_and_unlocked_writes_kept() {
        let (mut s, _) = scu();
        s.write(DRAM_HANDSHAKE, 4, 0x40);
        s.write(SMP_MAILBOX_GO, 4, 0xABBA_AB01);
        s.write(CLK_SEL2, 4, 0x1234);
        assert_eq!(s.read(DRAM_HANDSHAKE, 4), 0);
        assert_eq!(s.read(SMP_MAILBOX_GO, 4), 0);
        assert_eq!(s.read(CLK_SEL2, 4), 0x0070_0000);

        s.write(PROT_KEY1, 4, u64::from(SCU_UNLOCK_KEY));
        assert_eq!(s.read(PROT_KEY1, 4), 1);
        assert_eq!(s.read(PROT_KEY2, 4), 1);
        assert!(s.is_unlocked());
        s.write(DRAM_HANDSHAKE, 4, 0x40);
        s.write(SMP_MAILBOX_GO, 4, 0xABBA_AB01);
        assert_eq!(s.read(DRAM_HANDSHAKE, 4), 0x40);
        assert_eq!(s.read(SMP_MAILBOX_GO, 4), 0xABBA_AB01);

        // Any other value locks both keys again.
        s.write(PROT_KEY1, 4, 0);
        assert_eq!(s.read(PROT_KEY1, 4), 0);
        assert!(!s.is_unlocked());
        s.write(DRAM_HANDSHAKE, 4, 0);
        assert_eq!(s.read(DRAM_HANDSHAKE, 4), 0x40);
    }

    #[test]
    fn key2_alone_locks_and_relocks_the_upper_key() {
        let (mut s, _) = unlocked();
        s.write(PROT_KEY2, 4, 0);
        assert_eq!(s.read(PROT_KEY1, 4), 1);
        assert_eq!(s.read(PROT_KEY2, 4), 0);
        s.write(CPU_SCRATCH, 4, 7);
        assert_eq!(s.read(CPU_SCRATCH, 4), 0, "needs both keys");
        s.write(PROT_KEY2, 4, u64::from(SCU_UNLOCK_KEY));
        s.write(CPU_SCRATCH, 4, 7);
        assert_eq!(s.read(CPU_SCRATCH, 4), 7);
        // A byte write cannot carry the key.
        s.write(PROT_KEY1, 1, 0xA8);
        assert!(!s.is_unlocked());
    }

    #[test]
    fn unlocked_at_reset_config_starts_unlocked() {
        let rec = LevelRecorder::new();
        let config = ScuConfig {
            unlocked_at_reset: true,
            ..ScuConfig::ast2600_evb()
        };
        let mut s = Scu::new(config, rec.line(0), rec.line(1));
        s.write(SOC_SCRATCH, 4, 5);
        assert_eq!(s.read(SOC_SCRATCH, 4), 5);
    }

    #[test]
    fn read_only_registers_ignore_writes() {
        let (mut s, _) = unlocked();
        s.write(SILICON_REV1, 4, 0);
        s.write(SILICON_REV2, 4, 0);
        s.write(CHIP_ID, 4, 0);
        assert_eq!(s.read(SILICON_REV1, 4), 0x0503_0303);
        assert_eq!(s.read(SILICON_REV2, 4), 0x0503_0303);
        assert_eq!(s.read(CHIP_ID, 4), 0x1234_ABCD);
    }

    #[test]
    fn reset_and_clock_stop_registers_set_and_clear() {
        let (mut s, _) = unlocked();
        // Linux aspeed_g6_clk_enable: assert reset, un-gate the clock, release reset.
        s.write(SYS_RST_CLR1, 4, 0xFFFF_FFFF);
        assert_eq!(s.read(SYS_RST_CTRL1, 4), 0);
        s.write(SYS_RST_CTRL1, 4, 1 << 11);
        s.write(SYS_RST_CTRL1, 4, 1 << 12);
        assert_eq!(s.read(SYS_RST_CTRL1, 4), (1 << 11) | (1 << 12));
        s.write(SYS_RST_CLR1, 4, 1 << 11);
        assert_eq!(s.read(SYS_RST_CTRL1, 4), 1 << 12);
        assert_eq!(s.read(SYS_RST_CLR1, 4), 0, "clear registers read as zero");

        s.write(CLK_STOP_CLR1, 4, 1 << 20);
        assert_eq!(s.read(CLK_STOP_CTRL1, 4), 0xFFEF_7F8A);
        s.write(CLK_STOP_CTRL2, 4, 0x0F);
        assert_eq!(s.read(CLK_STOP_CTRL2, 4), 0xFFF0_FFFF);
        s.write(CLK_STOP_CLR2, 4, 0xFFFF_0000);
        assert_eq!(s.read(CLK_STOP_CTRL2, 4), 0x0000_FFFF);
        s.write(SYS_RST_CLR2, 4, 0x0DFF_0000);
        assert_eq!(s.read(SYS_RST_CTRL2, 4), 0x0000_FFFC);
    }

    #[test]
    fn byte_writes_to_set_registers_touch_only_their_byte() {
        let (mut s, _) = unlocked();
        s.write(SYS_RST_CLR1, 4, 0xFFFF_FFFF);
        s.write(SYS_RST_CTRL1 + 2, 1, 0x01);
        assert_eq!(s.read(SYS_RST_CTRL1, 4), 0x0001_0000);
        s.write(SCU_IC0 + 1, 1, 0x3F);
        assert_eq!(s.read(SCU_IC0, 4), 0x3F00);
        assert_eq!(s.read(HPLL_PARAM + 1, 1), 0x40);
        assert_eq!(s.read(HPLL_PARAM + 2, 2), 0x1000);
    }

    #[test]
    fn straps_set_clear_and_honour_protection() {
        let (mut s, _) = unlocked();
        // u-boot get_vga_mem_size writes 1 << 13 to SCU500 when the VGA strap is zero.
        s.write(HW_STRAP1, 4, 1 << 13);
        assert_eq!(s.read(HW_STRAP1, 4), 0xC0 | (1 << 13));
        s.write(HW_STRAP1_CLR, 4, 0x40);
        assert_eq!(s.read(HW_STRAP1, 4), 0x80 | (1 << 13));
        assert_eq!(s.read(HW_STRAP1_CLR, 4), 0);
        // SDK platform.S sets SCU510 bit 6 (LPC mode) by read-modify-write.
        s.write(HW_STRAP2, 4, 0x03 | 0x40);
        assert_eq!(s.read(HW_STRAP2, 4), 0x43);
        s.write(HW_STRAP2_CLR, 4, 0x41);
        assert_eq!(s.read(HW_STRAP2, 4), 0x02);

        // Protected bits can be neither set nor cleared; the others still can.
        s.write(HW_STRAP1_PROT, 4, 0x80 | 0x1);
        s.write(HW_STRAP1_CLR, 4, 0x80 | (1 << 13));
        assert_eq!(s.read(HW_STRAP1, 4), 0x80);
        s.write(HW_STRAP1, 4, 0x1 | 0x4);
        assert_eq!(s.read(HW_STRAP1, 4), 0x84);
        assert_eq!(s.hw_strap1(), 0x84);

        s.reset();
        assert_eq!(s.read(HW_STRAP1, 4), 0xC0);
        assert_eq!(s.read(HW_STRAP1_PROT, 4), 0);
    }

    #[test]
    fn interrupt_status_is_write_one_to_clear_and_drives_the_lines() {
        let (mut s, rec) = unlocked();
        s.assert_interrupt_status(ScuInterruptController::Ic0, 0b10_0001);
        assert!(!rec.level(0), "sources not enabled yet");
        assert_eq!(s.read(SCU_IC0, 4), 0x0021_0000);

        // Linux unmask: set the enable bit, write status bits as 0 (they must survive).
        s.write(SCU_IC0, 4, 0x01);
        assert!(rec.level(0));
        assert_eq!(s.read(SCU_IC0, 4), 0x0021_0001);

        // Writing 1 to the status bit clears it; the other pending source stays latched.
        s.write(SCU_IC0, 4, 0x0001_0001);
        assert_eq!(s.read(SCU_IC0, 4), 0x0020_0001);
        assert!(!rec.level(0));
        s.write(SCU_IC0, 4, 0x0000_0021);
        assert!(rec.level(0));
        s.write(SCU_IC0, 4, 0x0020_0021);
        assert!(!rec.level(0));
        assert_eq!(s.read(SCU_IC0, 4), 0x21);

        // IC1 uses status bits 21:20 for enables 5:4 and its own line.
        s.write(SCU_IC1, 4, 0x30);
        s.assert_interrupt_status(ScuInterruptController::Ic1, 0x10);
        assert!(rec.level(1));
        assert!(!rec.level(0));
        s.write(SCU_IC1, 4, 0x0010_0030);
        assert!(!rec.level(1));
    }

    #[test]
    fn interrupt_registers_are_protected_by_the_key() {
        let (mut s, rec) = unlocked();
        s.write(SCU_IC0, 4, 0x01);
        s.assert_interrupt_status(ScuInterruptController::Ic0, 1);
        s.write(PROT_KEY1, 4, 0);
        s.write(SCU_IC0, 4, 0x0001_0001);
        assert!(rec.level(0), "locked: the clear is ignored");
        s.reset();
        assert!(!rec.level(0));
        assert_eq!(s.read(SCU_IC0, 4), 0);
    }

    #[test]
    fn smp_mailbox_is_plain_storage() {
        let (mut s, _) = unlocked();
        s.write(SMP_MAILBOX_READY, 4, 0xBABE_CAFE);
        s.write(SMP_MAILBOX_ENTRY, 4, 0x8010_0000);
        for (i, insn) in [0xE320_F002u32, 0xE590_4000, 0xE152_0004]
            .iter()
            .enumerate()
        {
            s.write(SMP_MAILBOX_POLL_INSN + 4 * i as u64, 4, u64::from(*insn));
        }
        assert_eq!(s.read(SMP_MAILBOX_READY, 4), 0xBABE_CAFE);
        assert_eq!(s.read(SMP_MAILBOX_ENTRY, 4), 0x8010_0000);
        assert_eq!(s.read(SMP_MAILBOX_POLL_INSN + 4, 4), 0xE590_4000);
        assert_eq!(s.read(SMP_MAILBOX_ENTRY, 8), 0x0000_0000_8010_0000);
    }

    #[test]
    fn rng_from_the_host_differs_between_machines_and_a_seed_repeats() {
        let rec = LevelRecorder::new();
        let host = ScuConfig::ast2600_evb();
        let read8 = |config: ScuConfig| {
            let mut s = Scu::new(config, rec.line(0), rec.line(1));
            (0..8).map(|_| s.read(RNG_DATA, 4)).collect::<Vec<_>>()
        };
        // 256 random bits alike in two machines: never, in practice.
        assert_ne!(read8(host), read8(host), "two BMCs, two sequences");
        let seeded = ScuConfig {
            rng: RngSource::Seeded(42),
            ..host
        };
        assert_eq!(read8(seeded), read8(seeded), "a seed gives one sequence");
        let mut s = Scu::new(seeded, rec.line(0), rec.line(1));
        let first = s.read(RNG_DATA, 4);
        s.read(RNG_DATA, 4);
        Device::reset(&mut s);
        assert_eq!(
            s.read(RNG_DATA, 4),
            first,
            "a reset restarts the seeded sequence"
        );
    }

    #[test]
    fn rng_data_changes_on_every_read() {
        let (mut s, _) = scu();
        let a = s.read(RNG_DATA, 4);
        let b = s.read(RNG_DATA, 4);
        let c = s.read(RNG_DATA, 4);
        assert_ne!(a, b);
        assert_ne!(b, c);
        assert_ne!(a, 0);
    }

    #[test]
    fn unknown_registers_store_and_are_reported_once() {
        let (mut s, _) = unlocked();
        s.write(0x008, 4, 0x55);
        assert_eq!(s.read(0x008, 4), 0x55);
        s.read(0x008, 4);
        assert_eq!(s.unimplemented.reported(), 2, "one read and one write");
        s.read(CLK_SEL3, 4);
        s.write(PINMUX + 0x1C, 4, 0xF);
        assert_eq!(
            s.unimplemented.reported(),
            2,
            "known registers are not reported"
        );
    }

    #[test]
    fn every_offset_and_width_is_accepted() {
        let (mut s, _) = unlocked();
        for offset in (0..SCU_BLOCK_SIZE + 16).step_by(3) {
            for size in [1u8, 2, 4, 8] {
                s.read(offset, size);
                if offset != PROT_KEY1 && offset != PROT_KEY2 {
                    s.write(offset, size, u64::MAX);
                }
            }
        }
        assert_eq!(s.read(SCU_BLOCK_SIZE, 4), 0);
        assert_eq!(s.read(SCU_BLOCK_SIZE - 4, 8) >> 32, 0);
    }

    #[test]
    fn state_round_trips() {
        let rec = LevelRecorder::new();
        let config = ScuConfig {
            unlocked_at_reset: true,
            rng: RngSource::Seeded(7),
            ..ScuConfig::ast2600_evb()
        };
        let mut s = Scu::new(config, rec.line(0), rec.line(1));
        s.write(DRAM_HANDSHAKE, 4, 0x40);
        s.write(SCU_IC1, 4, 0x10);
        s.assert_interrupt_status(ScuInterruptController::Ic1, 0x10);
        let snapshot = s.state();
        let rec2 = LevelRecorder::new();
        let mut t = Scu::from_state(s.config(), snapshot.clone(), rec2.line(0), rec2.line(1));
        assert_eq!(t.state(), snapshot);
        assert_eq!(t.read(DRAM_HANDSHAKE, 4), 0x40);
        assert!(rec2.level(1), "restored pending interrupt drives the line");
        assert!(rec.level(1));
        assert_eq!(t.read(RNG_DATA, 4), s.read(RNG_DATA, 4));
    }
}
