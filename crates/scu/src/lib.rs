//! The Aspeed System Control Unit (SCU): the AST2600 (silicon revision A3) and, chosen with
//! [`Scu::with_variant`] and [`Variant::Ast2500`], the AST2500 (revision A1).
//!
//! ## AST2600 (the default)
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
//!
//! ## AST2500
//!
//! One register file in the AST2400 layout ([`registers::ast2500`]; sources: QEMU
//! `aspeed_ast2500_scu_write` and `ast2500_a1_resets`, u-boot v2023.01 `struct ast2500_scu`,
//! `lowlevel_init.S`, `clk_ast2500.c`, `reset-ast2500.c`, `sdram_ast2500.c`, Linux 6.1
//! `clk-aspeed.c`, `irq-aspeed-scu-ic.c`, `aspeed-g5.dtsi`):
//! - one protection key at SCU00: [`registers::SCU_UNLOCK_KEY`] unlocks and reads back 1, any
//!   other value (u-boot's `ast_scu_lock` writes its complement) locks and reads 0. While
//!   locked, SCU04..SCU0FC ignore writes; from SCU100 on nothing is key-protected (u-boot's
//!   struct comment; QEMU also protects SCU100);
//! - silicon revision A1, 0x04010303, at SCU7C (read); the chip ID at SCU150/SCU154;
//! - the hardware strap at SCU70 reads the board's pins ([`ScuConfig::hw_strap1`]); a write
//!   sets the bits written and a write to SCU7C clears them (u-boot's lowlevel_init clears
//!   bit 14 that way in eSPI mode). What u-boot 2023.01 reads there is the board's: DDR4
//!   (bit 24, else "Unsupported DRAM3"), the VGA memory size (bits 3:2, taken off the DRAM
//!   size), CLKIN (bit 23), the AXI/AHB ratio (11:9) and the RGMII bits; bit 27 (fast reset
//!   for ICE) reads 0 unless the board straps it ([`ScuConfig::ast2500_evb`] does not);
//! - QEMU's A1 reset values: H-PLL SCU24 0x93000400 (792 MHz from 24 MHz), SCU08 0xF3F40000
//!   (PCLK = H-PLL / 32 = 24.75 MHz), SCU2C 0x10 / SCU4C 0x23 (UARTs at 24 MHz), so Linux's
//!   `aspeed_ast2500_cc` computes the usual rates; SCU40 0xC0, the DRAM-init handshake with
//!   bit 6 "SoC completed DRAM init" set (mainline u-boot only ORs in bit 7; SDK-style
//!   firmware skips DRAM training on bit 6);
//! - the PLL, clock-select, clock-stop and reset registers are plain storage, so u-boot's
//!   M-PLL/D2-PLL programming and the Linux/u-boot gate sequences (set reset, clear stop, clear
//!   reset) read back what they wrote; nothing polls a PLL lock bit on this generation;
//! - the SCU interrupt controller at SCU18 (`aspeed,ast2500-scu-ic`): enables in bits 6:0,
//!   status in 22:16 (write 1 to clear), driving the first [`IrqLine`] (VIC 21); the second
//!   line stays low and [`ScuInterruptController::Ic1`] does not exist here;
//! - the random number generator at SCU78 (`timeriomem_rng` at 0x1E6E2078), from the same
//!   [`RngSource`] as the AST2600's;
//! - read only, as QEMU: SCU14, the VGA scratch registers SCU50..SCU6C, SCU78, the free
//!   counters SCUE0/SCUE4 (0xFF) and the chip ID; everything else up to SCU1DC (u-boot writes
//!   `clk_duty_sel`) and beyond is plain storage.
#![deny(missing_docs)]

pub mod registers;

use bus::{merge_subword, subword, Device, DeviceState, IrqLine, StateError, UnimplementedLog};
use registers::*;
use serde::{Deserialize, Serialize};

/// Number of 32-bit registers in the SCU block.
pub const SCU_WORDS: usize = (SCU_BLOCK_SIZE / 4) as usize;

/// The kind of an SCU's saved state ([`DeviceState::kind`]), either generation's.
pub const STATE_KIND: &str = "aspeed-scu";
/// The format version of an SCU's saved state: [`ScuState`] as this build serialises it.
pub const STATE_VERSION: u32 = 1;

/// Which SoC generation's SCU this is; [`Scu::with_variant`] chooses it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Variant {
    /// The AST2600 SCU (`aspeed,ast2600-scu`), silicon revision A3.
    #[default]
    Ast2600,
    /// The AST2500 SCU (`aspeed,ast2500-scu`), silicon revision A1: AST2400 layout, one key.
    Ast2500,
}

impl Variant {
    /// The silicon revision the SCU reports: 0x05030303 (AST2600-A3, SCU004/SCU014) or
    /// 0x04010303 (AST2500-A1, SCU7C).
    pub const fn silicon_rev(self) -> u32 {
        match self {
            Variant::Ast2600 => AST2600_A3_SILICON_REV,
            Variant::Ast2500 => registers::ast2500::AST2500_A1_SILICON_REV,
        }
    }

    /// Offset of hardware strap 1: SCU500 or SCU70.
    pub const fn hw_strap1_offset(self) -> u64 {
        match self {
            Variant::Ast2600 => HW_STRAP1,
            Variant::Ast2500 => registers::ast2500::HW_STRAP1,
        }
    }

    /// Offset of hardware strap 2: SCU510 or SCUD0.
    pub const fn hw_strap2_offset(self) -> u64 {
        match self {
            Variant::Ast2600 => HW_STRAP2,
            Variant::Ast2500 => registers::ast2500::HW_STRAP2,
        }
    }

    /// Offset of the random number register: SCU524 or SCU78.
    pub const fn rng_data_offset(self) -> u64 {
        match self {
            Variant::Ast2600 => RNG_DATA,
            Variant::Ast2500 => registers::ast2500::RNG_DATA,
        }
    }
}

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

/// AST2500 reset values of the registers that are not zero: QEMU's `ast2500_a1_resets` table
/// (SCU70, SCU7C, SCUD0 and SCU00 come from the configuration and the variant).
const AST2500_A1_RESET_VALUES: &[(u64, u32)] = {
    use registers::ast2500::*;
    &[
        (SYS_RST_CTRL, 0xFFCF_FEDC),
        (CLK_SEL, 0xF3F4_0000),
        (CLK_STOP_CTRL, 0x19FC_3E8B),
        (D2PLL_PARAM, 0x0002_6108),
        (MPLL_PARAM, 0x0003_0291),
        (HPLL_PARAM, 0x9300_0400),
        (MISC_CTRL1, 0x0000_0010),
        (PCI_CTRL1, 0x2000_1A03),
        (PCI_CTRL2, 0x2000_1A03),
        (PCI_CTRL3, 0x0400_0030),
        (SYS_RST_STATUS, 0x0000_0001),
        (
            SOC_SCRATCH1,
            SOC_SCRATCH1_BMC_DRAM_INIT | SOC_SCRATCH1_DRAM_INIT_DONE,
        ),
        (MISC_CTRL2, 0x0000_0023),
        (RNG_CTRL, 0x0000_000E),
        (PINMUX_CTRL2, 0x0000_F000),
        (PINMUX_CTRL3, 0x0300_0000),
        (PINMUX_CTRL5, 0x0000_A000),
        (WDT_RST_CTRL, 0x023F_FFF3),
        (PINMUX_CTRL8, 0xFFFF_0000),
        (PINMUX_CTRL9, 0x000F_FFFF),
        (FREE_CNTR4, 0x0000_00FF),
        (FREE_CNTR4_EXT, 0x0000_00FF),
        (CPU2_BASE_SEG1, 0x8000_0000),
        (CPU2_BASE_SEG4, 0x1E60_0000),
        (CPU2_BASE_SEG5, 0xC000_0000),
        (CHIP_ID, 0x1234_ABCD),
        (CHIP_ID_HIGH, 0x8888_4444),
        (UART_HPLL_CLK, 0x0000_1903),
        (PCIE_CTRL, 0x0000_007B),
        (BMC_DEV_ID, 0x0000_2402),
    ]
};

/// Seed of the seeded random number generator when the seed given is 0 (xorshift needs a
/// non-zero state).
const RNG_SEED: u32 = 0x2545_F491;

/// Where the random number register's numbers come from (SCU524 on the AST2600, SCU78 on the
/// AST2500).
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
    /// Hardware strap 1 latched from the strap pins at power-on (SCU500; SCU70 on the AST2500).
    pub hw_strap1: u32,
    /// Hardware strap 2 latched from the strap pins at power-on (SCU510; SCUD0 on the AST2500).
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

    /// The ast2500-evb straps (QEMU `AST2500_EVB_HW_STRAP1` = 0xF100C2C6, as
    /// `boards/ast2500-evb.toml`): SPI auto-fetch, GPIO strap mode, UART5 debug port, reserved
    /// bits 28 and 1, DDR4, 24 MHz CLKIN, VGA class code, LPC dedicated reset, AXI/AHB 2:1,
    /// MAC1/MAC2 RGMII, 16 MiB VGA memory; fast reset for ICE (bit 27) off. Strap 2 is 0; the
    /// SCU starts locked as on real hardware. Use with [`Variant::Ast2500`].
    pub const fn ast2500_evb() -> Self {
        Self {
            hw_strap1: 0xF100_C2C6,
            hw_strap2: 0,
            unlocked_at_reset: false,
            rng: RngSource::Host,
        }
    }
}

/// One of the interrupt controllers inside the SCU (two on the AST2600, one on the AST2500).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScuInterruptController {
    /// SCU560, `aspeed,ast2600-scu-ic0` (six sources, enable bits 5:0); on the AST2500 the one
    /// controller, SCU18, `aspeed,ast2500-scu-ic` (seven sources, enable bits 6:0).
    Ic0,
    /// SCU570, `aspeed,ast2600-scu-ic1` (two sources, enable bits 5:4); none on the AST2500.
    Ic1,
}

impl ScuInterruptController {
    /// The controller's register, if `variant` has this controller.
    fn offset(self, variant: Variant) -> Option<u64> {
        match (variant, self) {
            (Variant::Ast2600, ScuInterruptController::Ic0) => Some(SCU_IC0),
            (Variant::Ast2600, ScuInterruptController::Ic1) => Some(SCU_IC1),
            (Variant::Ast2500, ScuInterruptController::Ic0) => Some(registers::ast2500::IRQ_CTRL),
            (Variant::Ast2500, ScuInterruptController::Ic1) => None,
        }
    }
}

/// The enable bits of an SCU interrupt controller register of `variant` (status bits sit 16
/// above them).
fn ic_enable_mask(variant: Variant) -> u32 {
    match variant {
        Variant::Ast2600 => SCU_IC_ENABLE_MASK,
        Variant::Ast2500 => registers::ast2500::IRQ_CTRL_ENABLE_MASK,
    }
}

/// The SCU's registers as plain data, for snapshots (`Scu::state` / `Scu::from_state`):
/// everything the guest wrote or the SoC latched (straps, keys, SMP mailbox, scratch, interrupt
/// status) is a register. The configuration (straps at power-on, RNG source) is not state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScuState {
    /// Every 32-bit register, indexed by offset / 4. The protection keys hold 1 when unlocked;
    /// the clear registers (SCU044, SCU504, ...) hold nothing and read as zero.
    #[serde(with = "bus::register_words")]
    pub regs: [u32; SCU_WORDS],
    /// State of the xorshift generator behind the random number register (with
    /// [`RngSource::Seeded`]).
    pub rng: u32,
    /// The SoC generation whose register layout `regs` holds; [`Scu::from_state`] restores it.
    pub variant: Variant,
}

/// The Aspeed System Control Unit (AST2600 unless built [`Scu::with_variant`]).
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
            state: Self::power_on_state(&config, Variant::Ast2600),
            ic0_irq,
            ic1_irq,
            unimplemented: UnimplementedLog::new("scu"),
            host_random: Vec::new(),
        };
        scu.update_irqs();
        scu
    }

    /// The same SCU as another SoC generation's, its registers at that variant's power-on values
    /// (the board's straps, QEMU's reset table for the generation):
    /// `Scu::new(config, ic0, ic1).with_variant(Variant::Ast2500)`. On the AST2500 `ic0_irq` is
    /// the SCU18 interrupt controller's output (VIC 21) and `ic1_irq` is never raised.
    pub fn with_variant(mut self, variant: Variant) -> Self {
        self.state = Self::power_on_state(&self.config, variant);
        self.update_irqs();
        self
    }

    /// The SoC generation this SCU models.
    pub fn variant(&self) -> Variant {
        self.state.variant
    }

    /// An SCU restored from a snapshot taken with [`Scu::state`], of the snapshot's variant.
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

    /// The next number of the random number generator (SCU524 / SCU78).
    fn random(&mut self) -> u32 {
        if self.config.rng == RngSource::Host {
            if self.host_random.len() < 4 {
                let mut buf = vec![0u8; 256];
                match getrandom::fill(&mut buf) {
                    Ok(()) => self.host_random = buf,
                    Err(e) => {
                        // Never a fixed sequence silently: say so, then use the seeded one.
                        log::error!(
                            "scu: no host randomness ({e}); the RNG falls back to xorshift"
                        );
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

    /// True when the protection keys are unlocked (both on the AST2600, SCU00 on the AST2500).
    pub fn is_unlocked(&self) -> bool {
        match self.variant() {
            Variant::Ast2600 => self.reg(PROT_KEY1) != 0 && self.reg(PROT_KEY2) != 0,
            Variant::Ast2500 => self.reg(registers::ast2500::PROT_KEY) != 0,
        }
    }

    /// Current hardware strap 1: SCU500 on the AST2600 (the CPU-clock strap decides CNTFRQ, the
    /// VGA strap the VGA memory), SCU70 on the AST2500 (CLKIN, AXI/AHB ratio, DDR4, VGA memory).
    pub fn hw_strap1(&self) -> u32 {
        self.reg(self.variant().hw_strap1_offset())
    }

    /// Current hardware strap 2: SCU510 on the AST2600, SCUD0 on the AST2500.
    pub fn hw_strap2(&self) -> u32 {
        self.reg(self.variant().hw_strap2_offset())
    }

    /// Latches interrupt status bits (bit n = source n) of one SCU interrupt controller, as the
    /// hardware event behind that source would; the output rises if the source is enabled.
    /// Sources the controller lacks (and [`ScuInterruptController::Ic1`] on the AST2500) are
    /// ignored.
    pub fn assert_interrupt_status(&mut self, ic: ScuInterruptController, sources: u16) {
        let variant = self.variant();
        let Some(offset) = ic.offset(variant) else {
            log::debug!(target: "scu", "{ic:?} does not exist on the {variant:?}");
            return;
        };
        let sources = u32::from(sources) & ic_enable_mask(variant);
        *self.reg_mut(offset) |= sources << SCU_IC_STATUS_SHIFT;
        self.update_irqs();
    }

    fn power_on_state(config: &ScuConfig, variant: Variant) -> ScuState {
        let mut regs = [0u32; SCU_WORDS];
        let key = u32::from(config.unlocked_at_reset);
        match variant {
            Variant::Ast2600 => {
                for &(offset, value) in A3_RESET_VALUES {
                    regs[index(offset)] = value;
                }
                regs[index(SILICON_REV1)] = AST2600_A3_SILICON_REV;
                regs[index(SILICON_REV2)] = AST2600_A3_SILICON_REV;
                regs[index(PROT_KEY1)] = key;
                regs[index(PROT_KEY2)] = key;
            }
            Variant::Ast2500 => {
                for &(offset, value) in AST2500_A1_RESET_VALUES {
                    regs[index(offset)] = value;
                }
                regs[index(registers::ast2500::SILICON_REV)] = variant.silicon_rev();
                regs[index(registers::ast2500::PROT_KEY)] = key;
            }
        }
        regs[index(variant.hw_strap1_offset())] = config.hw_strap1;
        regs[index(variant.hw_strap2_offset())] = config.hw_strap2;
        let rng = match config.rng {
            RngSource::Seeded(seed) if seed != 0 => seed,
            _ => RNG_SEED,
        };
        ScuState { regs, rng, variant }
    }

    fn reg(&self, offset: u64) -> u32 {
        self.state.regs[index(offset)]
    }

    fn reg_mut(&mut self, offset: u64) -> &mut u32 {
        &mut self.state.regs[index(offset)]
    }

    fn ic_level(&self, ic: ScuInterruptController) -> bool {
        let variant = self.variant();
        ic.offset(variant).is_some_and(|offset| {
            let v = self.reg(offset);
            (v >> SCU_IC_STATUS_SHIFT) & v & ic_enable_mask(variant) != 0
        })
    }

    fn update_irqs(&self) {
        self.ic0_irq.set(self.ic_level(ScuInterruptController::Ic0));
        self.ic1_irq.set(self.ic_level(ScuInterruptController::Ic1));
    }

    /// Reads the 32-bit register at the word-aligned `offset`.
    fn read_word(&mut self, offset: u64) -> u32 {
        if self.variant() == Variant::Ast2500 {
            return self.read_word_ast2500(offset);
        }
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
        if self.variant() == Variant::Ast2500 {
            self.write_word_ast2500(offset, data, mask);
            return;
        }
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

    /// [`Scu::read_word`] of the AST2500 register file.
    fn read_word_ast2500(&mut self, offset: u64) -> u32 {
        use registers::ast2500::RNG_DATA;
        if !is_known_ast2500(offset) {
            self.unimplemented.read(offset, 4);
        }
        match offset {
            RNG_DATA => self.random(),
            _ => self.reg(offset),
        }
    }

    /// [`Scu::write_word`] of the AST2500 register file (QEMU `aspeed_ast2500_scu_write`).
    fn write_word_ast2500(&mut self, offset: u64, data: u32, mask: u32) {
        use registers::ast2500::{CPU2_CTRL, HW_STRAP1, IRQ_CTRL, PROT_KEY, SILICON_REV};
        if !is_known_ast2500(offset) {
            self.unimplemented.write(offset, 4, u64::from(data));
        }
        if offset == PROT_KEY {
            *self.reg_mut(PROT_KEY) = u32::from(mask == u32::MAX && data == SCU_UNLOCK_KEY);
            return;
        }
        if offset < CPU2_CTRL && !self.is_unlocked() {
            log::debug!(target: "scu", "write of {data:#x} to {offset:#x} ignored: SCU is locked");
            return;
        }
        let bits = data & mask;
        match offset {
            _ if is_read_only_ast2500(offset) => {
                log::debug!(target: "scu", "write to read-only register {offset:#x} ignored");
            }
            // The strap register: a write sets bits, a write to the revision register clears them.
            HW_STRAP1 => *self.reg_mut(HW_STRAP1) |= bits,
            SILICON_REV => *self.reg_mut(HW_STRAP1) &= !bits,
            IRQ_CTRL => {
                let enable = ic_enable_mask(Variant::Ast2500);
                let old = self.reg(offset);
                let enables = ((old & !mask) | bits) & enable;
                let status = old & (enable << SCU_IC_STATUS_SHIFT) & !bits;
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

/// AST2500 registers named in u-boot's `struct ast2500_scu` or QEMU; others are still stored
/// but reported once through [`UnimplementedLog`].
fn is_known_ast2500(offset: u64) -> bool {
    use registers::ast2500::*;
    matches!(
        offset,
        PROT_KEY..=PINMUX_CTRL6
            | WDT_RST_CTRL..=PINMUX_CTRL10
            | MAC_CLK_DELAY_100M
            | MAC_CLK_DELAY_10M
            | WAKEUP_EN
            | WAKEUP_CTRL
            | HW_STRAP2..=CLK_DUTY_MEAS_RES
            | CPU2_CTRL..=CPU2_CACHE_CTRL
            | DPLL_EXT_PARAM..=MHPLL_EXT_PARAM
            | CHIP_ID
            | CHIP_ID_HIGH
            | UART_HPLL_CLK
            | PCIE_CTRL..=BMC_REV
            | BMC_DEV_ID
            | CLK_DUTY_SEL
    )
}

/// AST2500 registers the guest cannot write (QEMU `aspeed_ast2500_scu_write`).
fn is_read_only_ast2500(offset: u64) -> bool {
    use registers::ast2500::*;
    matches!(
        offset,
        FREQ_CNTR_EVAL | VGA_SCRATCH
            ..=VGA_SCRATCH_END | RNG_DATA | FREE_CNTR4 | FREE_CNTR4_EXT | CHIP_ID | CHIP_ID_HIGH
    )
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
        self.state = Self::power_on_state(&self.config, self.variant());
        self.update_irqs();
    }

    /// The register file and the seeded generator's state ([`ScuState`]); the configuration
    /// and the interrupt lines are wiring, and host random bytes not yet read are not saved.
    fn save_state(&self) -> Option<DeviceState> {
        Some(DeviceState::new(STATE_KIND, STATE_VERSION, &self.state))
    }

    /// Refuses another generation's state; drives both interrupt controllers' outputs to the
    /// restored status and enable bits.
    fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        let s: ScuState = state.decode(STATE_KIND, STATE_VERSION)?;
        if s.variant != self.variant() {
            return Err(StateError(format!(
                "aspeed-scu: the state is of an {:?} SCU, this one is an {:?}",
                s.variant,
                self.variant()
            )));
        }
        self.state = s;
        self.update_irqs();
        Ok(())
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

    // ---- AST2500 ----

    mod g5 {
        pub use crate::registers::ast2500::*;
    }

    fn ast2500_with(config: ScuConfig) -> (Scu, Rc<LevelRecorder>) {
        let rec = LevelRecorder::new();
        let scu = Scu::new(config, rec.line(0), rec.line(1)).with_variant(Variant::Ast2500);
        (scu, rec)
    }

    fn ast2500() -> (Scu, Rc<LevelRecorder>) {
        ast2500_with(ScuConfig::ast2500_evb())
    }

    fn r32(s: &mut Scu, offset: u64) -> u32 {
        s.read(offset, 4) as u32
    }

    fn w32(s: &mut Scu, offset: u64, value: u32) {
        s.write(offset, 4, u64::from(value));
    }

    /// u-boot `ast_scu_unlock`: write the key, wait for SCU00 to read non-zero (bounded here).
    fn g5_unlock(s: &mut Scu) {
        w32(s, g5::PROT_KEY, SCU_UNLOCK_KEY);
        assert!(
            (0..10).any(|_| r32(s, g5::PROT_KEY) != 0),
            "unlock poll hangs"
        );
    }

    /// u-boot `ast_scu_lock`: write the key's complement, wait for SCU00 to read 0.
    fn g5_lock(s: &mut Scu) {
        w32(s, g5::PROT_KEY, !SCU_UNLOCK_KEY);
        assert!(
            (0..10).any(|_| r32(s, g5::PROT_KEY) == 0),
            "lock poll hangs"
        );
    }

    /// F = CLKIN * ((M + 1) / (N + 1)) / (P + 1), integer ratio: Linux `aspeed_ast2500_calc_pll`
    /// and u-boot `ast2500_get_hpll_rate` (bypass: CLKIN).
    fn g5_pll_hz(clkin: u64, reg: u32) -> u64 {
        if reg & (1 << 20) != 0 {
            return clkin;
        }
        let p = u64::from((reg >> 13) & 0x3f);
        let m = u64::from((reg >> 5) & 0xff);
        let n = u64::from(reg & 0x1f);
        clkin * ((m + 1) / (n + 1)) / (p + 1)
    }

    #[test]
    fn ast2500_reset_values_match_qemu_a1_table() {
        let (mut s, _) = ast2500();
        assert_eq!(s.variant(), Variant::Ast2500);
        assert_eq!(r32(&mut s, g5::PROT_KEY), 0, "locked at power-on");
        assert!(!s.is_unlocked());
        assert_eq!(r32(&mut s, g5::SILICON_REV), 0x0401_0303);
        assert_eq!(r32(&mut s, g5::HW_STRAP1), 0xF100_C2C6);
        assert_eq!(r32(&mut s, g5::HW_STRAP2), 0);
        for (offset, value) in [
            (g5::SYS_RST_CTRL, 0xFFCF_FEDC),
            (g5::CLK_SEL, 0xF3F4_0000),
            (g5::CLK_STOP_CTRL, 0x19FC_3E8B),
            (g5::D2PLL_PARAM, 0x0002_6108),
            (g5::MPLL_PARAM, 0x0003_0291),
            (g5::HPLL_PARAM, 0x9300_0400),
            (g5::MISC_CTRL1, 0x10),
            (g5::PCI_CTRL1, 0x2000_1A03),
            (g5::PCI_CTRL2, 0x2000_1A03),
            (g5::PCI_CTRL3, 0x0400_0030),
            (g5::SYS_RST_STATUS, 1),
            (g5::SOC_SCRATCH1, 0xC0),
            (g5::MISC_CTRL2, 0x23),
            (g5::RNG_CTRL, 0xE),
            (g5::PINMUX_CTRL2, 0xF000),
            (g5::PINMUX_CTRL3, 0x0300_0000),
            (g5::PINMUX_CTRL4, 0),
            (g5::PINMUX_CTRL5, 0xA000),
            (g5::WDT_RST_CTRL, 0x023F_FFF3),
            (g5::PINMUX_CTRL8, 0xFFFF_0000),
            (g5::PINMUX_CTRL9, 0x000F_FFFF),
            (g5::FREE_CNTR4, 0xFF),
            (g5::FREE_CNTR4_EXT, 0xFF),
            (g5::CPU2_BASE_SEG1, 0x8000_0000),
            (g5::CPU2_BASE_SEG4, 0x1E60_0000),
            (g5::CPU2_BASE_SEG5, 0xC000_0000),
            (g5::CHIP_ID, 0x1234_ABCD),
            (g5::CHIP_ID_HIGH, 0x8888_4444),
            (g5::UART_HPLL_CLK, 0x1903),
            (g5::PCIE_CTRL, 0x7B),
            (g5::BMC_DEV_ID, 0x2402),
            (g5::IRQ_CTRL, 0),
            (g5::CLK_DUTY_SEL, 0),
        ] {
            assert_eq!(r32(&mut s, offset), value, "SCU{offset:02X}");
        }
        // None of the AST2600 layout is there.
        assert_eq!(r32(&mut s, HW_STRAP1), 0);
        assert_eq!(r32(&mut s, CHIP_ID), 0);
        assert_eq!(r32(&mut s, HPLL_PARAM), 0);
        assert_eq!(s.hw_strap1(), 0xF100_C2C6);
        assert_eq!(s.hw_strap2(), 0);
        // The EVB strap: DDR4, 16 MiB VGA, 24 MHz, AXI/AHB 2:1, fast reset for ICE off.
        let strap = s.hw_strap1();
        assert_ne!(strap & g5::STRAP_DDR4, 0);
        assert_eq!(strap & g5::STRAP_FAST_RESET_DBG, 0, "bit 27 must read 0");
        assert_eq!(strap & g5::STRAP_CLKIN_25MHZ, 0);
        assert_eq!((strap & g5::STRAP_VGA_MEM_MASK) >> 2, 1);
        assert_eq!((strap & g5::STRAP_AXI_AHB_RATIO_MASK) >> 9, 1);
    }

    #[test]
    fn ast2500_reset_values_give_the_linux_g5_clock_rates() {
        let (mut s, _) = ast2500();
        // Linux aspeed_ast2500_cc / aspeed_clk_probe, u-boot ast2500_clk_get_rate.
        let strap = r32(&mut s, g5::HW_STRAP1);
        let clkin = if strap & (1 << 23) != 0 {
            25_000_000
        } else {
            24_000_000
        };
        assert_eq!(clkin, 24_000_000);
        let hpll = g5_pll_hz(clkin, r32(&mut s, g5::HPLL_PARAM));
        assert_eq!(hpll, 792_000_000, "CPU clock");
        let ahb = hpll / (2 * u64::from(((strap >> 9) & 7) + 1));
        assert_eq!(ahb, 198_000_000);
        let apb = hpll / (4 * u64::from(((r32(&mut s, g5::CLK_SEL) >> 23) & 7) + 1));
        assert_eq!(apb, 24_750_000, "PCLK, the Linux timer's rate");
        let uart = if r32(&mut s, g5::MISC_CTRL1) & (1 << 12) != 0 {
            24_000_000 / 13
        } else {
            24_000_000
        };
        assert_eq!(uart, 24_000_000);
        // u-boot: UART5 at 24 MHz unless SCU4C bit 28 selects 192 MHz.
        assert_eq!(r32(&mut s, g5::MISC_CTRL2) & (1 << 28), 0);
        // The 25 MHz strap of other boards is honoured.
        let (mut t, _) = ast2500_with(ScuConfig {
            hw_strap1: 0xF100_C2C6 | g5::STRAP_CLKIN_25MHZ,
            ..ScuConfig::ast2500_evb()
        });
        assert_ne!(r32(&mut t, g5::HW_STRAP1) & (1 << 23), 0);
        assert_eq!(
            g5_pll_hz(25_000_000, r32(&mut t, g5::HPLL_PARAM)),
            825_000_000
        );
    }

    #[test]
    fn ast2500_one_key_unlocks_and_locks() {
        let (mut s, _) = ast2500();
        w32(&mut s, g5::CLK_SEL, 0);
        w32(&mut s, g5::SOC_SCRATCH2, 0x1234);
        assert_eq!(
            r32(&mut s, g5::CLK_SEL),
            0xF3F4_0000,
            "locked write ignored"
        );
        assert_eq!(r32(&mut s, g5::SOC_SCRATCH2), 0);

        g5_unlock(&mut s);
        assert_eq!(r32(&mut s, g5::PROT_KEY), 1);
        assert!(s.is_unlocked());
        w32(&mut s, g5::SOC_SCRATCH2, 0x1234);
        assert_eq!(r32(&mut s, g5::SOC_SCRATCH2), 0x1234);
        // The AST2600's second key does not exist: SCU10 is the frequency counter control.
        w32(&mut s, PROT_KEY2, 0);
        assert!(s.is_unlocked());
        assert_eq!(r32(&mut s, g5::FREQ_CNTR_CTRL), 0);

        g5_lock(&mut s);
        assert!(!s.is_unlocked());
        w32(&mut s, g5::SOC_SCRATCH2, 0);
        w32(&mut s, g5::CLK_DUTY_MEAS_RES, 5);
        assert_eq!(r32(&mut s, g5::SOC_SCRATCH2), 0x1234);
        assert_eq!(r32(&mut s, g5::CLK_DUTY_MEAS_RES), 0);
        // From SCU100 on, nothing is key-protected (u-boot struct ast2500_scu).
        w32(&mut s, g5::CPU2_CTRL, 0x1);
        w32(&mut s, g5::CLK_DUTY_SEL, 0x0066_6400);
        assert_eq!(r32(&mut s, g5::CPU2_CTRL), 1);
        assert_eq!(r32(&mut s, g5::CLK_DUTY_SEL), 0x0066_6400);
        // Neither a byte of the key nor another value unlocks.
        s.write(g5::PROT_KEY, 1, 0xA8);
        assert!(!s.is_unlocked());
        w32(&mut s, g5::PROT_KEY, 0x1688_A8A9);
        assert_eq!(r32(&mut s, g5::PROT_KEY), 0);
        // unlocked_at_reset holds for this generation too.
        let (mut t, _) = ast2500_with(ScuConfig {
            unlocked_at_reset: true,
            ..ScuConfig::ast2500_evb()
        });
        assert_eq!(r32(&mut t, g5::PROT_KEY), 1);
    }

    #[test]
    fn ast2500_strap_write_sets_bits_and_revision_write_clears_them() {
        // The EVB strap (LPC reset pin, bit 14, included) with eSPI mode on.
        let pins = 0xF100_C2C6 | g5::STRAP_ESPI;
        assert_eq!(pins, 0xF300_C2C6);
        let (mut s, _) = ast2500_with(ScuConfig {
            hw_strap1: pins,
            ..ScuConfig::ast2500_evb()
        });
        // Locked: both ignored.
        w32(&mut s, g5::SILICON_REV, g5::STRAP_LPC_RESET_PIN);
        w32(&mut s, g5::HW_STRAP1, 1 << 19);
        assert_eq!(r32(&mut s, g5::HW_STRAP1), pins);
        // u-boot lowlevel_init: in eSPI mode, write bit 14 to SCU7C to clear it from the strap.
        g5_unlock(&mut s);
        assert_ne!(r32(&mut s, g5::HW_STRAP1) & (1 << 25), 0);
        w32(&mut s, g5::SILICON_REV, 1 << 14);
        assert_eq!(r32(&mut s, g5::HW_STRAP1), 0xF300_82C6);
        assert_eq!(
            r32(&mut s, g5::SILICON_REV),
            0x0401_0303,
            "revision unchanged"
        );
        // A write to SCU70 sets bits and clears none.
        w32(&mut s, g5::HW_STRAP1, 1 << 19);
        assert_eq!(r32(&mut s, g5::HW_STRAP1), 0xF308_82C6);
        w32(&mut s, g5::HW_STRAP1, 0);
        assert_eq!(r32(&mut s, g5::HW_STRAP1), 0xF308_82C6);
        // Byte lanes: a byte write to SCU7C+1 clears only bits of 15:8.
        s.write(g5::SILICON_REV + 1, 1, 0xC2);
        assert_eq!(r32(&mut s, g5::HW_STRAP1), 0xF308_00C6);
        assert_eq!(s.hw_strap1(), 0xF308_00C6);
        // HW strap 2 is plain storage.
        w32(&mut s, g5::HW_STRAP2, 0x3);
        assert_eq!(r32(&mut s, g5::HW_STRAP2), 0x3);
        // A SoC reset relatches the pins.
        s.reset();
        assert_eq!(r32(&mut s, g5::HW_STRAP1), pins);
        assert_eq!(r32(&mut s, g5::HW_STRAP2), 0);
        assert_eq!(s.variant(), Variant::Ast2500, "reset keeps the generation");
    }

    /// What u-boot v2023.01 does to the SCU before relocation: `lowlevel_init`, the M-PLL
    /// programming and SDRAM reset of `ast2500_sdrammc_probe`, and the strap reads of
    /// `sdram_ast2500.c`; every poll must end and every check must pass.
    #[test]
    fn ast2500_uboot_lowlevel_init_and_dram_probe_pass() {
        let (mut s, _) = ast2500();
        // lowlevel_init: unlock (no poll), SCU40 |= 0x80, eSPI test, WDT3 elsewhere.
        w32(&mut s, g5::PROT_KEY, SCU_UNLOCK_KEY);
        let handshake = r32(&mut s, g5::SOC_SCRATCH1);
        w32(&mut s, g5::SOC_SCRATCH1, handshake | 0x80);
        assert_eq!(r32(&mut s, g5::SOC_SCRATCH1), 0xC0, "DRAM-init handshake");
        assert_eq!(r32(&mut s, g5::HW_STRAP1) & (1 << 25), 0, "EVB: no eSPI");
        // ast2500_configure_ddr: 400 MHz = 24 MHz * ((100 + 1) / (1 + 1)) / (2 + 1).
        let mpll = r32(&mut s, g5::MPLL_PARAM) & !0x7FFFF;
        let mpll = mpll | (2 << 13) | (100 << 5) | 1;
        g5_unlock(&mut s);
        w32(&mut s, g5::MPLL_PARAM, mpll);
        g5_lock(&mut s);
        assert_eq!(
            g5_pll_hz(24_000_000, r32(&mut s, g5::MPLL_PARAM)),
            400_000_000
        );
        // reset_assert(ASPEED_RESET_SDRAM): setbits SCU04 bit 0 -- the SCU is locked by now, so
        // the write is dropped, as on the hardware and QEMU.
        let rst = r32(&mut s, g5::SYS_RST_CTRL);
        w32(&mut s, g5::SYS_RST_CTRL, rst | g5::SYS_RST_SDRAM_WDT);
        assert_eq!(r32(&mut s, g5::SYS_RST_CTRL) & g5::SYS_RST_SDRAM_WDT, 0);
        // ast2500_sdrammc_probe: DDR4 strap, else "Unsupported DRAM3".
        assert_ne!(r32(&mut s, g5::HW_STRAP1) & g5::STRAP_DDR4, 0);
        // ast2500_sdrammc_get_vga_mem_size: 8 MiB << SCU70[3:2] = 16 MiB on the EVB.
        let vga = (8u64 << 20) << ((r32(&mut s, g5::HW_STRAP1) >> 2) & 3);
        assert_eq!(vga, 16 << 20);
    }

    /// u-boot `ast2500_configure_mac` / `ast2500_configure_d2pll` and Linux `aspeed_clk_enable`:
    /// every field they write reads back.
    #[test]
    fn ast2500_clock_and_reset_sequences_read_back() {
        let (mut s, _) = ast2500();
        g5_unlock(&mut s);
        // MAC clock divider (SCU08[18:16]) for RGMII: 792 MHz / 100 MHz = 7 -> field 2.
        let sel = r32(&mut s, g5::CLK_SEL);
        w32(&mut s, g5::CLK_SEL, (sel & !(7 << 16)) | (2 << 16));
        assert_eq!(r32(&mut s, g5::CLK_SEL), 0xF3F2_0000);
        // Reset MAC1, start its clock, release the reset.
        let rst = r32(&mut s, g5::SYS_RST_CTRL);
        w32(&mut s, g5::SYS_RST_CTRL, rst | (1 << 11));
        let stop = r32(&mut s, g5::CLK_STOP_CTRL);
        w32(&mut s, g5::CLK_STOP_CTRL, stop & !(1 << 20));
        let rst = r32(&mut s, g5::SYS_RST_CTRL);
        w32(&mut s, g5::SYS_RST_CTRL, rst & !(1 << 11));
        assert_eq!(
            r32(&mut s, g5::CLK_STOP_CTRL) & (1 << 20),
            0,
            "MAC1 clock running"
        );
        assert_eq!(
            r32(&mut s, g5::SYS_RST_CTRL),
            0xFFCF_F6DC,
            "MAC1 out of reset"
        );
        w32(&mut s, g5::CLK_DUTY_SEL, (0x66 << 16) | (0x64 << 8));
        assert_eq!(r32(&mut s, g5::CLK_DUTY_SEL), 0x0066_6400);
        // D2-PLL and the MAC clock delays.
        w32(&mut s, g5::D2PLL_EXT_PARAM, (0x2C << 5) | 0b101);
        w32(&mut s, g5::D2PLL_PARAM, 0x8C1E_3A7C);
        let ext = r32(&mut s, g5::D2PLL_EXT_PARAM);
        w32(&mut s, g5::D2PLL_EXT_PARAM, ext & !0b101);
        assert_eq!(r32(&mut s, g5::D2PLL_EXT_PARAM), 0x2C << 5);
        assert_eq!(r32(&mut s, g5::D2PLL_PARAM), 0x8C1E_3A7C);
        for offset in [
            g5::MAC_CLK_DELAY,
            g5::MAC_CLK_DELAY_100M,
            g5::MAC_CLK_DELAY_10M,
        ] {
            w32(&mut s, offset, 0x0082_0208);
            assert_eq!(r32(&mut s, offset), 0x0082_0208);
        }
        // Resets 32 and up (SCUD4) and the second clock registers are storage too.
        w32(&mut s, g5::SYS_RST_CTRL2, 1 << 5);
        w32(&mut s, g5::CLK_SEL2, 0x2);
        assert_eq!(r32(&mut s, g5::SYS_RST_CTRL2), 1 << 5);
        assert_eq!(r32(&mut s, g5::CLK_SEL2), 0x2);
        g5_lock(&mut s);
    }

    #[test]
    fn ast2500_interrupt_controller_is_scu18() {
        let (mut s, rec) = ast2500();
        g5_unlock(&mut s);
        s.assert_interrupt_status(ScuInterruptController::Ic0, 0b100_0001);
        assert!(!rec.level(0), "sources not enabled yet");
        assert_eq!(r32(&mut s, g5::IRQ_CTRL), 0x0041_0000);
        // Linux unmask: enable bit set, status bits written as 0.
        w32(&mut s, g5::IRQ_CTRL, 0x01);
        assert!(rec.level(0));
        assert_eq!(r32(&mut s, g5::IRQ_CTRL), 0x0041_0001);
        // Write 1 to clear one status bit; the other stays latched.
        w32(&mut s, g5::IRQ_CTRL, 0x0001_0001);
        assert!(!rec.level(0));
        assert_eq!(r32(&mut s, g5::IRQ_CTRL), 0x0040_0001);
        w32(&mut s, g5::IRQ_CTRL, 0x41);
        assert!(rec.level(0));
        // Linux mask: enable bit and status bits written as 0.
        w32(&mut s, g5::IRQ_CTRL, 0x01);
        assert!(!rec.level(0));
        // Seven sources only; no second controller.
        w32(&mut s, g5::IRQ_CTRL, 0xFFFF);
        assert_eq!(r32(&mut s, g5::IRQ_CTRL), 0x0040_007F);
        s.assert_interrupt_status(ScuInterruptController::Ic0, 0xFF80);
        assert_eq!(r32(&mut s, g5::IRQ_CTRL), 0x0040_007F);
        s.assert_interrupt_status(ScuInterruptController::Ic1, 0x10);
        assert!(!rec.level(1));
        assert_eq!(r32(&mut s, SCU_IC1), 0);
        // The AST2600 IC registers are plain storage here.
        w32(&mut s, SCU_IC0, 0x0001_0001);
        assert_eq!(r32(&mut s, SCU_IC0), 0x0001_0001);
        // Locked, the controller ignores writes; a reset clears it.
        g5_lock(&mut s);
        w32(&mut s, g5::IRQ_CTRL, 0);
        assert!(rec.level(0));
        s.reset();
        assert!(!rec.level(0));
        assert_eq!(r32(&mut s, g5::IRQ_CTRL), 0);
    }

    #[test]
    fn ast2500_rng_is_scu78_from_the_same_sources() {
        let rec = LevelRecorder::new();
        let read8 = |config: ScuConfig| {
            let mut s = Scu::new(config, rec.line(0), rec.line(1)).with_variant(Variant::Ast2500);
            (0..8)
                .map(|_| r32(&mut s, g5::RNG_DATA))
                .collect::<Vec<_>>()
        };
        let host = ScuConfig::ast2500_evb();
        assert_ne!(read8(host), read8(host), "two BMCs, two sequences");
        let seeded = ScuConfig {
            rng: RngSource::Seeded(42),
            ..host
        };
        assert_eq!(read8(seeded), read8(seeded), "a seed gives one sequence");
        let (mut s, _) = ast2500();
        let a = r32(&mut s, g5::RNG_DATA);
        let b = r32(&mut s, g5::RNG_DATA);
        assert_ne!(a, b, "timeriomem_rng reads a new number each time");
        assert_eq!(Variant::Ast2500.rng_data_offset(), g5::RNG_DATA);
        assert_eq!(r32(&mut s, RNG_DATA), 0, "SCU524 is not the RNG here");
        assert_eq!(r32(&mut s, g5::RNG_CTRL), 0xE);
    }

    #[test]
    fn ast2500_read_only_registers_ignore_writes() {
        let (mut s, _) = ast2500();
        g5_unlock(&mut s);
        for offset in [
            g5::FREQ_CNTR_EVAL,
            g5::VGA_SCRATCH,
            g5::VGA_SCRATCH_END,
            g5::FREE_CNTR4,
            g5::FREE_CNTR4_EXT,
            g5::CHIP_ID,
            g5::CHIP_ID_HIGH,
        ] {
            let before = r32(&mut s, offset);
            w32(&mut s, offset, 0x5A5A_5A5A);
            assert_eq!(r32(&mut s, offset), before, "SCU{offset:02X}");
        }
        w32(&mut s, g5::RNG_DATA, 0);
        assert_eq!(r32(&mut s, g5::SILICON_REV), 0x0401_0303);
        assert_eq!(r32(&mut s, g5::CHIP_ID), 0x1234_ABCD);
    }

    #[test]
    fn ast2500_every_offset_and_width_is_accepted() {
        let (mut s, _) = ast2500();
        g5_unlock(&mut s);
        for offset in (0..SCU_BLOCK_SIZE + 16).step_by(3) {
            for size in [1u8, 2, 4, 8] {
                s.read(offset, size);
                if offset & !3 != g5::PROT_KEY {
                    s.write(offset, size, u64::MAX);
                }
            }
        }
        assert!(s.is_unlocked());
        assert_eq!(r32(&mut s, g5::SILICON_REV), 0x0401_0303);
        assert_eq!(
            r32(&mut s, g5::HW_STRAP1),
            0,
            "SCU7C writes cleared every strap bit"
        );
        assert_eq!(s.read(SCU_BLOCK_SIZE, 4), 0);
    }

    #[test]
    fn with_variant_sets_the_generation_and_its_reset_values() {
        let (mut six, _) = scu();
        assert_eq!(six.variant(), Variant::Ast2600);
        assert_eq!(Variant::default(), Variant::Ast2600);
        let rec = LevelRecorder::new();
        let again = Scu::new(ScuConfig::ast2600_evb(), rec.line(0), rec.line(1))
            .with_variant(Variant::Ast2600);
        assert_eq!(again.state(), six.state(), "Ast2600 is what new() builds");
        // Switching generation replaces every register, unlocked-ness included.
        let mut s = Scu::new(ScuConfig::ast2600_evb(), rec.line(0), rec.line(1));
        s.write(PROT_KEY1, 4, u64::from(SCU_UNLOCK_KEY));
        s.write(DRAM_HANDSHAKE, 4, 0x40);
        let mut s = s.with_variant(Variant::Ast2500);
        assert!(!s.is_unlocked());
        assert_eq!(r32(&mut s, DRAM_HANDSHAKE), 0);
        assert_eq!(r32(&mut s, g5::SILICON_REV), Variant::Ast2500.silicon_rev());
        assert_eq!(r32(&mut six, SILICON_REV1), Variant::Ast2600.silicon_rev());
        assert_eq!(Variant::Ast2500.hw_strap1_offset(), 0x70);
        assert_eq!(Variant::Ast2600.hw_strap1_offset(), 0x500);
        assert_eq!(Variant::Ast2500.hw_strap2_offset(), 0xD0);
    }

    #[test]
    fn ast2500_state_round_trips_with_its_variant() {
        let rec = LevelRecorder::new();
        let config = ScuConfig {
            rng: RngSource::Seeded(9),
            ..ScuConfig::ast2500_evb()
        };
        let mut s = Scu::new(config, rec.line(0), rec.line(1)).with_variant(Variant::Ast2500);
        g5_unlock(&mut s);
        w32(&mut s, g5::SOC_SCRATCH2, 0x55);
        w32(&mut s, g5::IRQ_CTRL, 0x2);
        s.assert_interrupt_status(ScuInterruptController::Ic0, 0x2);
        r32(&mut s, g5::RNG_DATA);
        let snapshot = s.state();
        assert_eq!(snapshot.variant, Variant::Ast2500);
        let rec2 = LevelRecorder::new();
        let mut t = Scu::from_state(config, snapshot.clone(), rec2.line(0), rec2.line(1));
        assert_eq!(t.variant(), Variant::Ast2500);
        assert_eq!(t.state(), snapshot);
        assert!(t.is_unlocked());
        assert!(rec2.level(0), "restored pending interrupt drives the line");
        assert_eq!(r32(&mut t, g5::SOC_SCRATCH2), 0x55);
        assert_eq!(r32(&mut t, g5::RNG_DATA), r32(&mut s, g5::RNG_DATA));
        Device::reset(&mut t);
        assert_eq!(t.state(), ast2500_with(config).0.state());
    }

    // ---- Snapshots ----

    /// Every word of the block as the guest reads it, in order (the random number register
    /// included: a seeded generator gives the same numbers from the same state).
    fn all_words(s: &mut Scu) -> Vec<u32> {
        (0..SCU_BLOCK_SIZE)
            .step_by(4)
            .map(|off| r32(s, off))
            .collect()
    }

    fn seeded() -> ScuConfig {
        ScuConfig {
            rng: RngSource::Seeded(0x1234_5678),
            ..ScuConfig::ast2600_evb()
        }
    }

    /// An AST2600 SCU as u-boot and Linux leave it: unlocked, DRAM handshake and SMP mailbox
    /// written, a strap set, a clock ungated, random numbers drawn and an SCU IC0 interrupt
    /// pending.
    fn booted_scu(rec: &Rc<LevelRecorder>) -> Scu {
        let mut s = Scu::new(seeded(), rec.line(0), rec.line(1));
        w32(&mut s, PROT_KEY1, SCU_UNLOCK_KEY);
        w32(&mut s, DRAM_HANDSHAKE, 0x40);
        w32(&mut s, SMP_MAILBOX_ENTRY, 0x8000_0000);
        w32(&mut s, SMP_MAILBOX_GO, 0xABBA_AB01);
        w32(&mut s, SMP_MAILBOX_READY, 0xBABE_CAFE);
        w32(&mut s, HW_STRAP1, 0x0000_0100);
        w32(&mut s, CLK_STOP_CLR1, 0x0000_0001);
        for _ in 0..3 {
            r32(&mut s, RNG_DATA);
        }
        w32(&mut s, SCU_IC0, 0x0000_0003);
        s.assert_interrupt_status(ScuInterruptController::Ic0, 0x2);
        assert!(rec.level(0), "IC0 interrupt pending");
        s
    }

    #[test]
    fn saved_state_restores_every_register_and_the_interrupt() {
        let rec = LevelRecorder::new();
        let mut s = booted_scu(&rec);
        let saved = s.save_state().expect("the SCU saves its state");
        assert_eq!(
            (saved.kind.as_str(), saved.version),
            (STATE_KIND, STATE_VERSION)
        );
        let rec2 = LevelRecorder::new();
        let mut t = Scu::new(seeded(), rec2.line(0), rec2.line(1));
        assert!(!t.is_unlocked());
        t.load_state(&saved).unwrap();
        assert!(t.is_unlocked(), "the keys are registers");
        assert!(rec2.level(0) && !rec2.level(1), "IC0 pending, IC1 not");
        assert_eq!(t.save_state(), Some(saved));
        let words = all_words(&mut s);
        assert_eq!(words[index(SMP_MAILBOX_GO)], 0xABBA_AB01);
        assert_eq!(words[index(HW_STRAP1)], 0x0000_01C0);
        assert_eq!(all_words(&mut t), words);
        // Afterwards: the same random numbers, and acknowledging lowers both outputs.
        assert_eq!(r32(&mut t, RNG_DATA), r32(&mut s, RNG_DATA));
        w32(&mut s, SCU_IC0, 0x0002_0003);
        w32(&mut t, SCU_IC0, 0x0002_0003);
        assert!(!rec.level(0) && !rec2.level(0));
        assert_eq!(t.state(), s.state());
    }

    #[test]
    fn a_state_of_another_kind_version_or_generation_is_refused() {
        let saved = booted_scu(&LevelRecorder::new()).save_state().unwrap();
        let (mut s, rec) = ast2500_with(ScuConfig::ast2500_evb());
        g5_unlock(&mut s);
        w32(&mut s, g5::SOC_SCRATCH2, 0x55);
        let before = s.state();
        let changes = rec.changes();
        let wrong_kind = DeviceState {
            kind: "aspeed-sdmc".into(),
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
        assert!(e.0.contains("Ast2600"), "{e}");
        let mut short = saved;
        short.data["regs"] = vec![0u32; 4].into();
        short.data["variant"] = "Ast2500".into();
        let e = s.load_state(&short).unwrap_err();
        assert!(e.0.contains("1024 registers"), "{e}");
        assert_eq!(s.state(), before, "left unchanged");
        assert_eq!(rec.changes(), changes, "the lines are not touched");
    }

    #[test]
    fn an_ast2500_state_restores_into_an_ast2500_scu() {
        let config = ScuConfig {
            rng: RngSource::Seeded(9),
            ..ScuConfig::ast2500_evb()
        };
        let (mut s, rec) = ast2500_with(config);
        g5_unlock(&mut s);
        w32(&mut s, g5::SOC_SCRATCH2, 0x55);
        w32(&mut s, g5::IRQ_CTRL, 0x2);
        s.assert_interrupt_status(ScuInterruptController::Ic0, 0x2);
        assert!(rec.level(0));
        let saved = s.save_state().unwrap();
        let (mut t, rec2) = ast2500_with(config);
        t.load_state(&saved).unwrap();
        assert!(rec2.level(0));
        assert_eq!(t.save_state(), Some(saved));
        assert_eq!(all_words(&mut t), all_words(&mut s));
    }
}
