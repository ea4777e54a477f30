//! The AST2600 and AST2500 watchdogs, as Linux `drivers/watchdog/aspeed_wdt.c`, u-boot
//! `drivers/watchdog/ast2600_wdt.c` / `drivers/watchdog/ast_wdt.c` and QEMU
//! `hw/watchdog/wdt_aspeed.c` (`aspeed.wdt-ast2600`, `aspeed.wdt-ast2500`) see them. The
//! [`Variant`] picks the generation; [`AspeedWdt::new`] builds an AST2600 watchdog and
//! [`AspeedWdt::with_variant`] switches it (registers reset for that generation).
//!
//! The two generations differ in:
//!
//! | | [`Variant::Ast2600`] | [`Variant::Ast2500`] |
//! |---|---|---|
//! | register block ([`Variant::regs_size`]) | 0x40: 0x00-0x2C | 0x20: 0x00-0x1C (no reset mask 2, no software reset) |
//! | control write | bits 9:7 read 0 | bits 11:8 read 0, bit 4 (1 MHz clock) always reads 1 |
//! | control at reset | 0 | 0x10 |
//! | reset mask 1 at reset | 0x030F_1FF1 | 0x023F_FFF3 |
//! | pre-timeout threshold | control bits 31:10, in counts | control bits 31:12 shifted down by 12, in counts |
//!
//! (QEMU `aspeed_2600_sanitize_ctrl` / `aspeed_2500_sanitize_ctrl`, the class `iosize`; Linux
//! dt-bindings `AST2600_WDT_RESET1_DEFAULT` / `AST2500_WDT_RESET_DEFAULT`, the latter equal to
//! u-boot's `WDT_RESET_DEFAULT`; Linux `ast2600_config` / `ast2500_config` `irq_shift` and
//! `irq_mask`.) QEMU never resets its 0x1C (it stays 0); the model uses the documented
//! default. Counting, restart, expiry, reset width and timeout status are the same on both.
//!
//! The counter runs at 1 MHz (both generations always count the 1 MHz clock: QEMU
//! `aspeed_wdt_reload_1mhz`; u-boot `ast_wdt.c` "On ast2500 watchdog timer clock is fixed at
//! 1MHz") and is computed from the injected [`Clock`] when read. Enabling the watchdog or
//! writing the restart magic 0x4755 loads the reload value. When the counter reaches zero the timeout status is set and, with
//! the reset-system bit set, `reset_out` is pulsed (raised then lowered) so the SoC resets;
//! the watchdog then stops (its enable bit clears). Without the reset bit it reloads and keeps
//! counting. The AST2600 software reset (0xAEEDF123 to 0x24 in SoC reset mode, used by recent
//! Linux `aspeed_wdt_restart`) pulses `reset_out` at once.
//!
//! `irq` is the pre-timeout interrupt (control bit 2, threshold in control bits 31:10, as
//! Linux `aspeed_wdt_set_pretimeout` programs it): it is raised, with timeout status bit 2,
//! when the counter falls to the threshold (zero threshold: at expiry) and lowered by a restart
//! or by clearing the timeout status. The AST2600 device tree wires no interrupt to the
//! watchdogs (nor does the AST2500 one; u-boot's gives VIC 27), so the SoC may leave it
//! disconnected.
//!
//! What the watchdog resets is the SoC's business: `reset_out` pulses whatever the reset mode
//! ([`AspeedWdt::reset_mode`]) and reset mask ([`WdtState::reset_mask`]) say. QEMU resets the
//! whole machine regardless of the mask, unless the SCU's SDRAM reset bit (bit 0 of SCU04 on
//! the AST2500, SCU40 on the AST2600) is set.
//!
//! Mainline u-boot v2023.01 on the AST2500 EVB (`evb-ast2500_defconfig`: `CONFIG_WDT`,
//! `WDT_ASPEED`, implied `WATCHDOG`, default `WATCHDOG_AUTOSTART`, 60 s
//! `WATCHDOG_TIMEOUT_MSECS`; `ast2500-evb.dts` enables wdt1-3) starts every watchdog in
//! `initr_watchdog` (`ast_wdt_start`: SoC mode, reset mask 0, reload 60 000 000, enable |
//! reset system | 1 MHz), services them once a second while it runs, and boots Linux with all
//! three still counting. Linux's `aspeed_wdt` takes over wdt1 and wdt2 (it sees the enable bit
//! and restarts them); `aspeed-g5.dtsi` disables wdt3, so nothing services it and it expires
//! 60 s after u-boot's last restart.
#![deny(missing_docs)]

use std::rc::Rc;

use bus::{
    merge_subword, subword, Clock, Device, DeviceState, IrqLine, StateError, UnimplementedLog,
};
use serde::{Deserialize, Serialize};

/// Counter status (current count, read-only): Linux `WDT_STATUS`.
pub const REG_STATUS: u64 = 0x00;
/// Counter reload value: Linux `WDT_RELOAD_VALUE`.
pub const REG_RELOAD_VALUE: u64 = 0x04;
/// Counter restart (write the magic to reload): Linux `WDT_RESTART`.
pub const REG_RESTART: u64 = 0x08;
/// Control: Linux `WDT_CTRL`.
pub const REG_CTRL: u64 = 0x0C;
/// Timeout status: Linux `WDT_TIMEOUT_STATUS`.
pub const REG_TIMEOUT_STATUS: u64 = 0x10;
/// Clear timeout status: Linux `WDT_CLEAR_TIMEOUT_STATUS`.
pub const REG_CLEAR_TIMEOUT_STATUS: u64 = 0x14;
/// Reset pulse width, polarity and drive of the external reset signal: Linux `WDT_RESET_WIDTH`.
pub const REG_RESET_WIDTH: u64 = 0x18;
/// Reset mask 1 (which blocks a SoC-mode reset resets): Linux `WDT_RESET_MASK1`.
pub const REG_RESET_MASK1: u64 = 0x1C;
/// Reset mask 2: Linux `WDT_RESET_MASK2`.
pub const REG_RESET_MASK2: u64 = 0x20;
/// AST2600 software reset control: Linux `WDT_SW_RESET_CTRL`.
pub const REG_SW_RESET_CTRL: u64 = 0x24;
/// AST2600 software reset mask 1: Linux `WDT_SW_RESET_MASK1`.
pub const REG_SW_RESET_MASK1: u64 = 0x28;
/// AST2600 software reset mask 2: Linux `WDT_SW_RESET_MASK2`.
pub const REG_SW_RESET_MASK2: u64 = 0x2C;
/// Size of one AST2600 watchdog's register block: device tree `reg = <0x1e785000 0x40>`.
pub const REGS_SIZE: u64 = 0x40;
/// Size of one AST2500 watchdog's register block (0x00-0x1C): `aspeed-g5.dtsi`
/// `reg = <0x1e785000 0x20>`, QEMU `aspeed_2500_wdt_class_init` (0x20).
pub const AST2500_REGS_SIZE: u64 = 0x20;

/// Magic that reloads the counter when written to RESTART: Linux `WDT_RESTART_MAGIC`.
pub const RESTART_MAGIC: u32 = 0x4755;
/// Software reset trigger written to SW_RESET_CTRL: Linux `WDT_SW_RESET_ENABLE`.
pub const SW_RESET_ENABLE: u32 = 0xAEED_F123;
/// Software reset counter clear written to SW_RESET_CTRL: Linux `WDT_SW_RESET_COUNT_CLEAR`.
pub const SW_RESET_COUNT_CLEAR: u32 = 0xDEAD_DEAD;

/// Control: watchdog enable: Linux `WDT_CTRL_ENABLE`.
pub const CTRL_ENABLE: u32 = 1 << 0;
/// Control: reset the system on timeout: Linux `WDT_CTRL_RESET_SYSTEM`.
pub const CTRL_RESET_SYSTEM: u32 = 1 << 1;
/// Control: pre-timeout interrupt enable: Linux `WDT_CTRL_WDT_INTR`.
pub const CTRL_INTERRUPT: u32 = 1 << 2;
/// Control: drive the external reset signal on timeout: Linux `WDT_CTRL_WDT_EXT`.
pub const CTRL_EXTERNAL_SIGNAL: u32 = 1 << 3;
/// Control: 1 MHz clock select (the AST2600 always counts at 1 MHz): Linux `WDT_CTRL_1MHZ_CLK`.
pub const CTRL_1MHZ_CLK: u32 = 1 << 4;
/// Control: reset mode field shift (bits 6:5): u-boot `WDT_CTRL_RESET_MODE_SHIFT`.
pub const CTRL_RESET_MODE_SHIFT: u32 = 5;
/// Control: reset mode field mask (after shifting): u-boot `WDT_CTRL_RESET_MODE_MASK`.
pub const CTRL_RESET_MODE_MASK: u32 = 3;
/// Control: boot from the secondary flash after the timeout: Linux `WDT_CTRL_BOOT_SECONDARY`, u-boot `WDT_CTRL_2ND_BOOT`.
pub const CTRL_BOOT_SECONDARY: u32 = 1 << 7;
/// Control bits 9:7 (boot-secondary and friends) read as zero on the AST2600: QEMU `aspeed_2600_sanitize_ctrl`.
pub const CTRL_AST2600_CLEARED: u32 = 0x7 << 7;
/// Control: pre-timeout interrupt threshold field (bits 31:10): Linux `ast2600_config.irq_mask`.
pub const CTRL_IRQ_THRESHOLD_MASK: u32 = 0xFFFF_FC00;
/// Control bits 11:8 read as zero on the AST2500: QEMU `aspeed_2500_sanitize_ctrl`.
pub const CTRL_AST2500_CLEARED: u32 = 0xF << 8;
/// AST2500 control: pre-timeout interrupt threshold field (bits 31:12): Linux `ast2500_config.irq_mask`.
pub const AST2500_CTRL_IRQ_THRESHOLD_MASK: u32 = 0xFFFF_F000;
/// AST2500 control: shift of the threshold (in counts) into its field: Linux `ast2500_config.irq_shift`.
pub const AST2500_CTRL_IRQ_THRESHOLD_SHIFT: u32 = 12;

/// Timeout status: a timeout occurred: Linux `WDT_TIMEOUT_STATUS_EVENT`.
pub const STATUS_EVENT: u32 = 1 << 0;
/// Timeout status: booted from the secondary flash: Linux `WDT_TIMEOUT_STATUS_BOOT_SECONDARY`.
pub const STATUS_BOOT_SECONDARY: u32 = 1 << 1;
/// Timeout status: pre-timeout interrupt: Linux `WDT_TIMEOUT_STATUS_IRQ`.
pub const STATUS_IRQ: u32 = 1 << 2;
/// Clear timeout status: clear the status and boot code selection: Linux `WDT_CLEAR_TIMEOUT_AND_BOOT_CODE_SELECTION`.
pub const CLEAR_TIMEOUT_AND_BOOT_CODE: u32 = 1 << 0;

/// Reset width: external signal active high (read): Linux `WDT_RESET_WIDTH_ACTIVE_HIGH`.
pub const RESET_WIDTH_ACTIVE_HIGH: u32 = 1 << 31;
/// Reset width: external signal push-pull (read): Linux `WDT_RESET_WIDTH_PUSH_PULL`.
pub const RESET_WIDTH_PUSH_PULL: u32 = 1 << 30;
/// Reset width: top byte magic selecting active high: Linux `WDT_ACTIVE_HIGH_MAGIC`.
pub const ACTIVE_HIGH_MAGIC: u32 = 0xA5 << 24;
/// Reset width: top byte magic selecting active low: Linux `WDT_ACTIVE_LOW_MAGIC`.
pub const ACTIVE_LOW_MAGIC: u32 = 0x5A << 24;
/// Reset width: top byte magic selecting push-pull: Linux `WDT_PUSH_PULL_MAGIC`.
pub const PUSH_PULL_MAGIC: u32 = 0xA8 << 24;
/// Reset width: top byte magic selecting open drain: Linux `WDT_OPEN_DRAIN_MAGIC`.
pub const OPEN_DRAIN_MAGIC: u32 = 0x8A << 24;
/// Reset width: pulse width field on the AST2500/AST2600: QEMU `ext_pulse_width_mask`.
pub const RESET_WIDTH_PULSE_MASK: u32 = 0xF_FFFF;

/// Reset value of the counter and of the reload register: QEMU `default_reload_value` (AST2500/2600).
pub const DEFAULT_RELOAD: u32 = 0x014F_B180;
/// Reset value of the reset width register: QEMU `aspeed_wdt_reset`.
pub const DEFAULT_RESET_WIDTH: u32 = 0xFF;
/// Reset value of reset mask 1: Linux dt-bindings `AST2600_WDT_RESET1_DEFAULT`.
pub const DEFAULT_RESET_MASK1: u32 = 0x030F_1FF1;
/// Reset value of reset mask 2: Linux dt-bindings `AST2600_WDT_RESET2_DEFAULT`.
pub const DEFAULT_RESET_MASK2: u32 = 0x03FF_FFF1;
/// Reset value of the AST2500 reset mask (0x1C): Linux dt-bindings `AST2500_WDT_RESET_DEFAULT`,
/// u-boot `WDT_RESET_DEFAULT` (what `ast_wdt_stop` writes back).
pub const AST2500_DEFAULT_RESET_MASK: u32 = 0x023F_FFF3;

/// Nanoseconds per count of the 1 MHz counter.
pub const NS_PER_TICK: u64 = 1_000;

/// The kind of a watchdog's saved state ([`DeviceState::kind`]), either generation's.
pub const STATE_KIND: &str = "aspeed-wdt";
/// The format version of a watchdog's saved state: [`WdtState`] as this build serialises it.
pub const STATE_VERSION: u32 = 1;

/// Which SoC generation's watchdog: register range, control sanitising, reset values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Variant {
    /// An AST2600 watchdog (`aspeed,ast2600-wdt`, QEMU `aspeed.wdt-ast2600`), 0x40 apart.
    #[default]
    Ast2600,
    /// An AST2500 watchdog (`aspeed,ast2500-wdt`, QEMU `aspeed.wdt-ast2500`), 0x20 apart.
    Ast2500,
}

impl Variant {
    /// Size of one watchdog's register block: [`REGS_SIZE`] (0x40) or [`AST2500_REGS_SIZE`]
    /// (0x20). Offsets at or above it are not registers.
    pub const fn regs_size(self) -> u64 {
        match self {
            Variant::Ast2600 => REGS_SIZE,
            Variant::Ast2500 => AST2500_REGS_SIZE,
        }
    }

    /// The control register value a write of `value` leaves: QEMU `aspeed_2600_sanitize_ctrl`
    /// (bits 9:7 cleared) or `aspeed_2500_sanitize_ctrl` (bits 11:8 cleared, the 1 MHz clock
    /// bit forced on).
    pub const fn sanitize_ctrl(self, value: u32) -> u32 {
        match self {
            Variant::Ast2600 => value & !CTRL_AST2600_CLEARED,
            Variant::Ast2500 => (value & !CTRL_AST2500_CLEARED) | CTRL_1MHZ_CLK,
        }
    }

    /// The control register at reset: the sanitised 0 (QEMU `aspeed_wdt_reset`), 0x10 on the
    /// AST2500.
    pub const fn default_ctrl(self) -> u32 {
        self.sanitize_ctrl(0)
    }

    /// Reset masks 1 and 2 at reset (the AST2500 has no mask 2: 0).
    pub const fn default_reset_masks(self) -> [u32; 2] {
        match self {
            Variant::Ast2600 => [DEFAULT_RESET_MASK1, DEFAULT_RESET_MASK2],
            Variant::Ast2500 => [AST2500_DEFAULT_RESET_MASK, 0],
        }
    }

    /// The counter value at which the pre-timeout interrupt fires, from the control register:
    /// bits 31:10 as they are (AST2600), bits 31:12 shifted down by 12 (AST2500), the inverse
    /// of Linux `aspeed_wdt_set_pretimeout`.
    pub const fn irq_threshold(self, ctrl: u32) -> u32 {
        match self {
            Variant::Ast2600 => ctrl & CTRL_IRQ_THRESHOLD_MASK,
            Variant::Ast2500 => {
                (ctrl & AST2500_CTRL_IRQ_THRESHOLD_MASK) >> AST2500_CTRL_IRQ_THRESHOLD_SHIFT
            }
        }
    }
}

/// What a watchdog-triggered reset resets: control bits 6:5.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetMode {
    /// SoC reset, restricted by the reset masks: Linux `WDT_CTRL_RESET_MODE_SOC`.
    Soc,
    /// Full chip reset: Linux `WDT_CTRL_RESET_MODE_FULL_CHIP`.
    FullChip,
    /// ARM CPU only: u-boot `WDT_CTRL_RESET_CPU`.
    ArmCpu,
    /// The reserved encoding 3.
    Reserved,
}

/// The watchdog's registers: a plain value that can be saved and restored. The default is an
/// AST2600 watchdog in its reset state; [`WdtState::new`] gives either generation's.
///
/// The counter is an anchor in virtual time (`count` at `anchor_ns`), so a restored watchdog
/// counts, interrupts and expires at the same virtual times as the saved one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WdtState {
    /// Counter value at `anchor_ns` (while disabled: the frozen counter value).
    pub count: u32,
    /// Virtual time (ns) at which the counter held `count`.
    pub anchor_ns: u64,
    /// Reload value.
    pub reload: u32,
    /// Control register.
    pub ctrl: u32,
    /// Timeout status.
    pub timeout_status: u32,
    /// Reset width register.
    pub reset_width: u32,
    /// Reset masks 1 and 2 (the AST2500 has mask 1 only, at 0x1C; mask 2 stays 0).
    pub reset_mask: [u32; 2],
    /// AST2600 software reset masks 1 and 2 (0 on the AST2500).
    pub sw_reset_mask: [u32; 2],
    /// Which generation the registers belong to.
    pub variant: Variant,
}

impl WdtState {
    /// The reset state of a `variant` watchdog.
    pub fn new(variant: Variant) -> Self {
        Self {
            count: DEFAULT_RELOAD,
            anchor_ns: 0,
            reload: DEFAULT_RELOAD,
            ctrl: variant.default_ctrl(),
            timeout_status: 0,
            reset_width: DEFAULT_RESET_WIDTH,
            reset_mask: variant.default_reset_masks(),
            sw_reset_mask: [0, 0],
            variant,
        }
    }
}

impl Default for WdtState {
    fn default() -> Self {
        Self::new(Variant::Ast2600)
    }
}

/// One AST2600 or AST2500 watchdog.
pub struct AspeedWdt {
    state: WdtState,
    clock: Rc<dyn Clock>,
    reset_out: IrqLine,
    irq: IrqLine,
    unimplemented: UnimplementedLog,
}

fn saturate(v: u128) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

impl AspeedWdt {
    /// An AST2600 watchdog in its reset state. `reset_out` is pulsed (raised, then lowered)
    /// when the watchdog resets the SoC; `irq` is the pre-timeout interrupt (level).
    /// [`AspeedWdt::with_variant`] makes it an AST2500 watchdog.
    pub fn new(clock: Rc<dyn Clock>, reset_out: IrqLine, irq: IrqLine) -> Self {
        Self::from_state(&WdtState::default(), clock, reset_out, irq)
    }

    /// A watchdog restored from `state`, its generation included (the pre-timeout interrupt is
    /// raised if pending).
    pub fn from_state(
        state: &WdtState,
        clock: Rc<dyn Clock>,
        reset_out: IrqLine,
        irq: IrqLine,
    ) -> Self {
        let wdt = Self {
            state: state.clone(),
            clock,
            reset_out,
            irq,
            unimplemented: UnimplementedLog::new("wdt"),
        };
        if wdt.state.timeout_status & STATUS_IRQ != 0 {
            wdt.irq.raise();
        }
        wdt
    }

    /// This watchdog as `variant`'s, with the registers in that generation's reset state (a
    /// pending pre-timeout interrupt is lowered).
    pub fn with_variant(mut self, variant: Variant) -> Self {
        self.clear_irq_status();
        self.state = WdtState::new(variant);
        self
    }

    /// The SoC generation of this watchdog.
    pub fn variant(&self) -> Variant {
        self.state.variant
    }

    /// A copy of the registers.
    pub fn state(&self) -> WdtState {
        self.state.clone()
    }

    /// The reset mode selected in the control register (meaningful when `reset_out` pulses).
    pub fn reset_mode(&self) -> ResetMode {
        match (self.state.ctrl >> CTRL_RESET_MODE_SHIFT) & CTRL_RESET_MODE_MASK {
            0 => ResetMode::Soc,
            1 => ResetMode::FullChip,
            2 => ResetMode::ArmCpu,
            _ => ResetMode::Reserved,
        }
    }

    fn enabled(&self) -> bool {
        self.state.ctrl & CTRL_ENABLE != 0
    }

    /// The counter value at `now`.
    fn count(&self, now: u64) -> u32 {
        if !self.enabled() {
            return self.state.count;
        }
        let ticks = now.saturating_sub(self.state.anchor_ns) / NS_PER_TICK;
        let ticks = u32::try_from(ticks).unwrap_or(u32::MAX);
        self.state.count.saturating_sub(ticks)
    }

    /// Time at which the counter falls to `value` (at once if it already has).
    fn time_of_count(&self, value: u32) -> u64 {
        let ticks = self.state.count.saturating_sub(value);
        saturate(u128::from(self.state.anchor_ns) + u128::from(ticks) * u128::from(NS_PER_TICK))
    }

    fn expiry(&self) -> Option<u64> {
        self.enabled().then(|| self.time_of_count(0))
    }

    fn pretimeout(&self) -> Option<u64> {
        let armed = self.enabled()
            && self.state.ctrl & CTRL_INTERRUPT != 0
            && self.state.timeout_status & STATUS_IRQ == 0;
        let threshold = self.state.variant.irq_threshold(self.state.ctrl);
        armed.then(|| self.time_of_count(threshold))
    }

    /// Loads the reload value into the counter at `now`.
    fn restart(&mut self, now: u64) {
        self.state.count = self.state.reload;
        self.state.anchor_ns = now;
        self.clear_irq_status();
    }

    fn clear_irq_status(&mut self) {
        if self.state.timeout_status & STATUS_IRQ != 0 {
            self.state.timeout_status &= !STATUS_IRQ;
            self.irq.lower();
        }
    }

    fn pulse_reset(&self) {
        log::info!("wdt: resetting the system ({:?} mode)", self.reset_mode());
        self.reset_out.raise();
        self.reset_out.lower();
    }

    /// Delivers the pre-timeout and the timeout if they are due at `now`.
    fn run_until(&mut self, now: u64) {
        if self.pretimeout().is_some_and(|t| t <= now) {
            self.state.timeout_status |= STATUS_IRQ;
            self.irq.raise();
        }
        match self.expiry() {
            Some(t) if t <= now => {}
            _ => return,
        }
        self.state.timeout_status |= STATUS_EVENT;
        if self.state.ctrl & CTRL_RESET_SYSTEM != 0 {
            // The SoC resets; the watchdog stops with its counter at zero (u-boot's
            // `expire_now` polls for the enable bit to clear).
            self.state.ctrl &= !CTRL_ENABLE;
            self.state.count = 0;
            self.state.anchor_ns = now;
            self.pulse_reset();
        } else {
            // No reset: reload and keep counting (at least one count, so a zero reload
            // cannot expire on every call).
            self.state.count = self.state.reload.max(1);
            self.state.anchor_ns = now;
        }
    }

    fn write_ctrl(&mut self, value: u32, now: u64) {
        let value = self.state.variant.sanitize_ctrl(value);
        let was_on = self.enabled();
        let on = value & CTRL_ENABLE != 0;
        if was_on && !on {
            self.state.count = self.count(now);
            self.state.anchor_ns = now;
        }
        self.state.ctrl = value;
        if !was_on && on {
            // Enabling loads the reload value (QEMU `aspeed_wdt_reload_1mhz`).
            self.restart(now);
        }
    }

    fn write_reset_width(&mut self, value: u32) {
        let mut reg = self.state.reset_width;
        match value & 0xFF00_0000 {
            ACTIVE_HIGH_MAGIC => reg |= RESET_WIDTH_ACTIVE_HIGH,
            ACTIVE_LOW_MAGIC => reg &= !RESET_WIDTH_ACTIVE_HIGH,
            PUSH_PULL_MAGIC => reg |= RESET_WIDTH_PUSH_PULL,
            OPEN_DRAIN_MAGIC => reg &= !RESET_WIDTH_PUSH_PULL,
            _ => {}
        }
        self.state.reset_width = (reg & !RESET_WIDTH_PULSE_MASK) | (value & RESET_WIDTH_PULSE_MASK);
    }

    fn read_reg(&self, reg: u64, now: u64) -> Option<u32> {
        let s = &self.state;
        if reg >= s.variant.regs_size() {
            return None;
        }
        Some(match reg {
            REG_STATUS => self.count(now),
            REG_RELOAD_VALUE => s.reload,
            REG_CTRL => s.ctrl,
            REG_TIMEOUT_STATUS => s.timeout_status,
            REG_RESET_WIDTH => s.reset_width,
            REG_RESET_MASK1 => s.reset_mask[0],
            REG_RESET_MASK2 => s.reset_mask[1],
            REG_SW_RESET_MASK1 => s.sw_reset_mask[0],
            REG_SW_RESET_MASK2 => s.sw_reset_mask[1],
            // Write-only command registers.
            REG_RESTART | REG_CLEAR_TIMEOUT_STATUS | REG_SW_RESET_CTRL => 0,
            _ => return None,
        })
    }

    fn write_reg(&mut self, reg: u64, value: u32, now: u64) {
        match reg {
            REG_STATUS => {}
            REG_RELOAD_VALUE => self.state.reload = value,
            REG_RESTART => {
                if value & 0xFFFF == RESTART_MAGIC {
                    self.restart(now);
                }
            }
            REG_CTRL => self.write_ctrl(value, now),
            REG_TIMEOUT_STATUS => {}
            REG_CLEAR_TIMEOUT_STATUS => {
                if value & CLEAR_TIMEOUT_AND_BOOT_CODE != 0 {
                    self.state.timeout_status &= STATUS_IRQ;
                    self.clear_irq_status();
                }
            }
            REG_RESET_WIDTH => self.write_reset_width(value),
            REG_RESET_MASK1 => self.state.reset_mask[0] = value,
            REG_RESET_MASK2 => self.state.reset_mask[1] = value,
            REG_SW_RESET_CTRL => {
                // Software reset works only in SoC reset mode (QEMU, Linux ast2600 restart).
                if value == SW_RESET_ENABLE && self.reset_mode() == ResetMode::Soc {
                    self.pulse_reset();
                }
            }
            REG_SW_RESET_MASK1 => self.state.sw_reset_mask[0] = value,
            _ => self.state.sw_reset_mask[1] = value,
        }
    }

    fn read32(&mut self, offset: u64, size: u8) -> u64 {
        let now = self.clock.now_ns();
        self.run_until(now);
        match self.read_reg(offset & !3, now) {
            Some(v) => subword(v, offset, size),
            None => {
                self.unimplemented.read(offset, size);
                0
            }
        }
    }

    fn write32(&mut self, offset: u64, size: u8, value: u64) {
        let now = self.clock.now_ns();
        self.run_until(now);
        let reg = offset & !3;
        let Some(current) = self.read_reg(reg, now) else {
            self.unimplemented.write(offset, size, value);
            return;
        };
        let v = merge_subword(current, offset, size, value);
        self.write_reg(reg, v, now);
    }
}

impl Device for AspeedWdt {
    fn read(&mut self, offset: u64, size: u8) -> u64 {
        bus::split_read(offset, size, |o, s| self.read32(o, s))
    }

    fn write(&mut self, offset: u64, size: u8, value: u64) {
        bus::split_write(offset, size, value, |o, s, v| self.write32(o, s, v));
    }

    fn reset(&mut self) {
        self.clear_irq_status();
        self.state = WdtState::new(self.state.variant);
    }

    fn next_deadline(&self) -> Option<u64> {
        match (self.pretimeout(), self.expiry()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn on_time(&mut self, now_ns: u64) {
        self.run_until(now_ns);
    }

    /// The registers and the counter's anchor ([`WdtState`]); the clock and both lines are
    /// wiring.
    fn save_state(&self) -> Option<DeviceState> {
        Some(DeviceState::new(STATE_KIND, STATE_VERSION, &self.state))
    }

    /// Refuses another generation's state; drives the pre-timeout interrupt to the restored
    /// timeout status (`reset_out` only pulses, so it stays low).
    fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        let s: WdtState = state.decode(STATE_KIND, STATE_VERSION)?;
        if s.variant != self.state.variant {
            return Err(StateError(format!(
                "aspeed-wdt: the state is of an {:?} watchdog, this one is an {:?}",
                s.variant, self.state.variant
            )));
        }
        self.state = s;
        self.irq.set(self.state.timeout_status & STATUS_IRQ != 0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bus::{LevelRecorder, ManualClock};

    const MS: u64 = 1_000_000;

    struct Rig {
        wdt: AspeedWdt,
        clock: Rc<ManualClock>,
        rec: Rc<LevelRecorder>,
    }

    /// Line 0 is reset_out, line 1 the pre-timeout interrupt.
    fn rig() -> Rig {
        let clock = Rc::new(ManualClock::new());
        let rec = LevelRecorder::new();
        let wdt = AspeedWdt::new(clock.clone(), rec.line(0), rec.line(1));
        Rig { wdt, clock, rec }
    }

    impl Rig {
        fn rd(&mut self, off: u64) -> u64 {
            self.wdt.read(off, 4)
        }
        fn wr(&mut self, off: u64, v: u64) {
            self.wdt.write(off, 4, v)
        }
        fn run_to(&mut self, t: u64) {
            self.clock.set(t);
            if self.wdt.next_deadline().is_some_and(|d| d <= t) {
                self.wdt.on_time(t);
            }
        }
        fn resets(&self) -> usize {
            self.rec
                .changes()
                .iter()
                .filter(|c| **c == (0, true))
                .count()
        }
    }

    #[test]
    fn reset_values_match_the_ast2600() {
        let mut r = rig();
        assert_eq!(r.rd(REG_STATUS), 0x014F_B180);
        assert_eq!(r.rd(REG_RELOAD_VALUE), 0x014F_B180);
        assert_eq!(r.rd(REG_RESTART), 0);
        assert_eq!(r.rd(REG_CTRL), 0);
        assert_eq!(r.rd(REG_TIMEOUT_STATUS), 0);
        assert_eq!(r.rd(REG_RESET_WIDTH), 0xFF);
        assert_eq!(r.rd(REG_RESET_MASK1), 0x030F_1FF1);
        assert_eq!(r.rd(REG_RESET_MASK2), 0x03FF_FFF1);
        assert_eq!(r.wdt.next_deadline(), None);
        assert_eq!(r.wdt.reset_mode(), ResetMode::Soc);
    }

    #[test]
    fn counter_counts_down_at_1mhz() {
        let mut r = rig();
        r.wr(REG_RELOAD_VALUE, 1_000_000);
        r.clock.set(7 * MS);
        r.wr(REG_CTRL, u64::from(CTRL_ENABLE | CTRL_1MHZ_CLK));
        assert_eq!(r.rd(REG_STATUS), 1_000_000);
        r.clock.set(7 * MS + 250 * MS + 999);
        assert_eq!(r.rd(REG_STATUS), 750_000);
        assert_eq!(r.wdt.next_deadline(), Some(1007 * MS));
    }

    #[test]
    fn restart_magic_reloads_and_wrong_magic_is_ignored() {
        let mut r = rig();
        r.wr(REG_RELOAD_VALUE, 1_000_000);
        r.wr(REG_CTRL, u64::from(CTRL_ENABLE | CTRL_RESET_SYSTEM));
        r.clock.set(600 * MS);
        assert_eq!(r.rd(REG_STATUS), 400_000);
        r.wr(REG_RESTART, 0x4756);
        r.wr(REG_RESTART, 0x1234);
        assert_eq!(r.rd(REG_STATUS), 400_000, "wrong magic ignored");
        r.wr(REG_RESTART, 0x4755);
        assert_eq!(r.rd(REG_STATUS), 1_000_000);
        assert_eq!(r.wdt.next_deadline(), Some(1600 * MS));
        r.run_to(1000 * MS);
        assert_eq!(r.resets(), 0, "the restart postponed expiry");
    }

    #[test]
    fn expiry_with_reset_bit_pulses_reset_out() {
        let mut r = rig();
        r.wr(REG_RELOAD_VALUE, 2000);
        r.wr(REG_RESTART, u64::from(RESTART_MAGIC));
        r.wr(
            REG_CTRL,
            u64::from(CTRL_ENABLE | CTRL_RESET_SYSTEM | CTRL_1MHZ_CLK),
        );
        assert_eq!(r.wdt.next_deadline(), Some(2 * MS));
        r.run_to(2 * MS - 1);
        assert!(r.rec.changes().is_empty());
        r.run_to(2 * MS);
        assert_eq!(r.rec.changes(), vec![(0, true), (0, false)]);
        assert_eq!(r.rd(REG_TIMEOUT_STATUS) & 1, 1);
        assert_eq!(r.rd(REG_CTRL) & 1, 0, "stopped after resetting");
        assert_eq!(r.rd(REG_STATUS), 0);
        assert_eq!(r.wdt.next_deadline(), None);
        r.wr(REG_CLEAR_TIMEOUT_STATUS, 1);
        assert_eq!(r.rd(REG_TIMEOUT_STATUS), 0);
    }

    #[test]
    fn disabled_watchdog_never_fires() {
        let mut r = rig();
        r.wr(REG_RELOAD_VALUE, 10);
        r.wr(REG_CTRL, u64::from(CTRL_RESET_SYSTEM | CTRL_INTERRUPT));
        assert_eq!(r.wdt.next_deadline(), None);
        r.clock.set(u64::MAX / 2);
        r.wdt.on_time(u64::MAX / 2);
        assert_eq!(r.rd(REG_STATUS), 0x014F_B180, "frozen");
        assert_eq!(r.rd(REG_TIMEOUT_STATUS), 0);
        assert!(r.rec.changes().is_empty());
    }

    #[test]
    fn disabling_freezes_and_enabling_reloads() {
        let mut r = rig();
        r.wr(REG_RELOAD_VALUE, 5000);
        r.wr(REG_CTRL, u64::from(CTRL_ENABLE));
        r.clock.set(2 * MS);
        r.wr(REG_CTRL, 0);
        r.clock.set(100 * MS);
        assert_eq!(r.rd(REG_STATUS), 3000, "frozen while disabled");
        r.wr(REG_CTRL, u64::from(CTRL_ENABLE));
        assert_eq!(r.rd(REG_STATUS), 5000);
    }

    #[test]
    fn linux_reboot_resets_within_128ms() {
        let mut r = rig();
        // u-boot left it running with a 60 s timeout; Linux pings it.
        r.wr(REG_RELOAD_VALUE, 60_000_000);
        r.wr(REG_RESTART, 0x4755);
        r.wr(REG_CTRL, u64::from(CTRL_ENABLE | CTRL_RESET_SYSTEM));
        r.clock.set(30_000 * MS);
        // aspeed_wdt_restart -> aspeed_wdt_enable(wdt, 128 * WDT_RATE_1MHZ / 1000).
        r.wr(REG_CTRL, 0);
        r.wr(REG_RELOAD_VALUE, 128_000);
        r.wr(REG_RESTART, 0x4755);
        r.wr(
            REG_CTRL,
            u64::from(CTRL_1MHZ_CLK | CTRL_RESET_SYSTEM | CTRL_ENABLE),
        );
        assert_eq!(r.wdt.next_deadline(), Some(30_128 * MS));
        r.run_to(30_128 * MS);
        assert_eq!(r.resets(), 1);
    }

    #[test]
    fn software_reset_is_immediate_in_soc_mode_only() {
        let mut r = rig();
        // Recent Linux aspeed_ast2600_wdt_restart.
        let (mask1, mask2) = (r.rd(REG_RESET_MASK1), r.rd(REG_RESET_MASK2));
        r.wr(REG_SW_RESET_MASK1, mask1);
        r.wr(REG_SW_RESET_MASK2, mask2);
        r.wr(REG_CTRL, u64::from(CTRL_RESET_SYSTEM)); // SoC mode
        r.wr(REG_SW_RESET_CTRL, u64::from(SW_RESET_COUNT_CLEAR));
        assert_eq!(r.resets(), 0);
        r.wr(REG_SW_RESET_CTRL, u64::from(SW_RESET_ENABLE));
        assert_eq!(r.rec.changes(), vec![(0, true), (0, false)]);
        assert_eq!(r.rd(REG_SW_RESET_MASK1), 0x030F_1FF1);
        assert_eq!(r.rd(REG_SW_RESET_CTRL), 0);
        r.wr(
            REG_CTRL,
            u64::from(CTRL_RESET_SYSTEM | (1 << CTRL_RESET_MODE_SHIFT)),
        );
        assert_eq!(r.wdt.reset_mode(), ResetMode::FullChip);
        r.wr(REG_SW_RESET_CTRL, u64::from(SW_RESET_ENABLE));
        assert_eq!(r.resets(), 1, "not in full-chip mode");
    }

    #[test]
    fn expiry_without_reset_sets_status_and_reloads() {
        let mut r = rig();
        r.wr(REG_RELOAD_VALUE, 1000);
        r.wr(REG_CTRL, u64::from(CTRL_ENABLE));
        r.run_to(MS);
        assert_eq!(r.resets(), 0);
        assert_eq!(r.rd(REG_TIMEOUT_STATUS), u64::from(STATUS_EVENT));
        assert_eq!(r.rd(REG_STATUS), 1000, "reloaded");
        assert_eq!(r.wdt.next_deadline(), Some(2 * MS));
        r.wr(REG_CLEAR_TIMEOUT_STATUS, 0);
        assert_eq!(r.rd(REG_TIMEOUT_STATUS), 1, "bit 0 must be written");
        r.wr(REG_CLEAR_TIMEOUT_STATUS, 1);
        assert_eq!(r.rd(REG_TIMEOUT_STATUS), 0);
    }

    #[test]
    fn pretimeout_interrupt_fires_at_the_threshold() {
        let mut r = rig();
        r.wr(REG_RELOAD_VALUE, 30_000_000);
        // aspeed_wdt_set_pretimeout(10 s) on the AST2600: threshold in bits 31:10.
        let threshold = 10_000_000u32 & CTRL_IRQ_THRESHOLD_MASK;
        let ctrl = CTRL_ENABLE | CTRL_RESET_SYSTEM | CTRL_INTERRUPT | threshold;
        r.wr(REG_CTRL, u64::from(ctrl));
        assert_eq!(r.rd(REG_CTRL), u64::from(ctrl));
        let at = u64::from(30_000_000 - threshold) * 1000;
        assert_eq!(r.wdt.next_deadline(), Some(at));
        r.run_to(at);
        assert!(r.rec.level(1));
        assert_eq!(r.rd(REG_TIMEOUT_STATUS), u64::from(STATUS_IRQ));
        assert_eq!(r.resets(), 0);
        assert_eq!(r.wdt.next_deadline(), Some(30_000 * MS), "then the expiry");
        r.wr(REG_RESTART, 0x4755);
        assert!(!r.rec.level(1), "a restart re-arms the pre-timeout");
        assert_eq!(r.rd(REG_TIMEOUT_STATUS), 0);
    }

    #[test]
    fn ast2600_control_bits_9_7_read_as_zero() {
        let mut r = rig();
        r.wr(REG_CTRL, 0x3F0);
        assert_eq!(r.rd(REG_CTRL), 0x070);
    }

    #[test]
    fn reset_width_keeps_pulse_width_and_honours_magic() {
        let mut r = rig();
        r.wr(REG_RESET_WIDTH, u64::from(PUSH_PULL_MAGIC | 0x1234));
        assert_eq!(
            r.rd(REG_RESET_WIDTH),
            u64::from(RESET_WIDTH_PUSH_PULL | 0x1234)
        );
        r.wr(REG_RESET_WIDTH, u64::from(ACTIVE_HIGH_MAGIC | 0x1234));
        assert_eq!(
            r.rd(REG_RESET_WIDTH),
            u64::from(RESET_WIDTH_PUSH_PULL | RESET_WIDTH_ACTIVE_HIGH | 0x1234)
        );
        r.wr(REG_RESET_WIDTH, u64::from(OPEN_DRAIN_MAGIC | 0xFF));
        r.wr(REG_RESET_WIDTH, u64::from(ACTIVE_LOW_MAGIC | 0xFF));
        assert_eq!(r.rd(REG_RESET_WIDTH), 0xFF);
        r.wr(REG_RESET_WIDTH, 0x1200_0042);
        assert_eq!(
            r.rd(REG_RESET_WIDTH),
            0x42,
            "other top bytes change nothing"
        );
    }

    #[test]
    fn unknown_offsets_and_every_width_are_accepted() {
        let mut r = rig();
        assert_eq!(r.rd(0x30), 0);
        r.wr(0x3C, 5);
        assert_eq!(r.wdt.unimplemented.reported(), 2);
        r.wr(REG_RESET_MASK1, 0);
        r.wdt.write(REG_RESET_MASK1 + 1, 1, 0xAB);
        assert_eq!(r.rd(REG_RESET_MASK1), 0xAB00);
        assert_eq!(r.wdt.read(REG_RESET_MASK2 + 2, 2), 0x03FF);
        for off in (0..0x60u64).chain([u64::MAX - 1]) {
            for size in [1u8, 2, 4, 8] {
                r.wdt.read(off, size);
                r.wdt.write(off, size, u64::MAX);
            }
        }
        r.clock.set(u64::MAX);
        r.wdt.next_deadline();
        r.wdt.on_time(u64::MAX);
        r.wdt.read(0, 4);
    }

    #[test]
    fn reset_and_state_round_trip() {
        let mut r = rig();
        r.wr(REG_RELOAD_VALUE, 3000);
        r.wr(REG_CTRL, u64::from(CTRL_ENABLE | CTRL_INTERRUPT));
        r.run_to(3 * MS);
        assert!(r.rec.level(1));
        let s = r.wdt.state();
        let rec = LevelRecorder::new();
        let copy = AspeedWdt::from_state(&s, r.clock.clone(), rec.line(0), rec.line(1));
        assert_eq!(copy.state(), s);
        assert_eq!(copy.next_deadline(), r.wdt.next_deadline());
        assert!(rec.level(1));
        r.wdt.reset();
        assert!(!r.rec.level(1));
        assert_eq!(r.wdt.state(), WdtState::default());
    }

    // ---- AST2500 ----

    /// Line 0 is reset_out, line 1 the pre-timeout interrupt.
    fn rig2500() -> Rig {
        let mut r = rig();
        r.wdt = AspeedWdt::new(r.clock.clone(), r.rec.line(0), r.rec.line(1))
            .with_variant(Variant::Ast2500);
        r
    }

    impl Rig {
        /// Linux `aspeed_wdt_enable(wdt, count)` with the `wdt->ctrl` Linux builds for an
        /// `aspeed,ast2500-wdt` without `aspeed,reset-type`: 1 MHz, SoC mode, reset system.
        fn linux_enable(&mut self, count: u64) {
            self.wr(REG_CTRL, 0);
            self.wr(REG_RELOAD_VALUE, count);
            self.wr(REG_RESTART, u64::from(RESTART_MAGIC));
            self.wr(
                REG_CTRL,
                u64::from(CTRL_1MHZ_CLK | CTRL_RESET_SYSTEM | CTRL_ENABLE),
            );
        }

        /// u-boot v2023.01 `ast_wdt_stop`.
        fn uboot_stop(&mut self) {
            let ctrl = self.rd(REG_CTRL);
            self.wr(REG_CTRL, ctrl & !u64::from(CTRL_ENABLE));
            self.wr(REG_RESET_MASK1, u64::from(AST2500_DEFAULT_RESET_MASK));
        }

        /// u-boot v2023.01 `ast_wdt_start(dev, timeout_ms, flags)` (flags: reset mode in
        /// bits 1:0, reset mask above).
        fn uboot_start(&mut self, timeout_ms: u64, flags: u64) {
            let mode = flags & 3;
            let ctrl = self.rd(REG_CTRL);
            let mask = u64::from(CTRL_RESET_MODE_MASK << CTRL_RESET_MODE_SHIFT);
            self.wr(REG_CTRL, (ctrl & !mask) | (mode << CTRL_RESET_MODE_SHIFT));
            if mode == 0 {
                self.wr(REG_RESET_MASK1, flags >> 2);
            }
            self.wr(REG_RELOAD_VALUE, timeout_ms.min(4_294_967) * 1000);
            self.wr(REG_RESTART, u64::from(RESTART_MAGIC));
            let ctrl = self.rd(REG_CTRL);
            self.wr(
                REG_CTRL,
                ctrl | u64::from(CTRL_ENABLE | CTRL_RESET_SYSTEM | CTRL_1MHZ_CLK),
            );
        }
    }

    #[test]
    fn ast2500_reset_values_and_register_range() {
        let mut r = rig2500();
        assert_eq!(r.wdt.variant(), Variant::Ast2500);
        assert_eq!(Variant::Ast2500.regs_size(), 0x20);
        assert_eq!(Variant::Ast2600.regs_size(), REGS_SIZE);
        assert_eq!(r.rd(REG_STATUS), 0x014F_B180);
        assert_eq!(r.rd(REG_RELOAD_VALUE), 0x014F_B180);
        assert_eq!(r.rd(REG_CTRL), 0x10, "the 1 MHz clock bit reads 1");
        assert_eq!(r.rd(REG_TIMEOUT_STATUS), 0);
        assert_eq!(r.rd(REG_RESET_WIDTH), 0xFF);
        assert_eq!(r.rd(REG_RESET_MASK1), 0x023F_FFF3);
        assert_eq!(r.wdt.state(), WdtState::new(Variant::Ast2500));
        assert_eq!(r.wdt.next_deadline(), None);
        assert_eq!(r.wdt.unimplemented.reported(), 0);
        // No reset mask 2 and no software reset registers: 0x20.. are not registers.
        for off in [
            REG_RESET_MASK2,
            REG_SW_RESET_CTRL,
            REG_SW_RESET_MASK1,
            REG_SW_RESET_MASK2,
        ] {
            r.wr(off, 0xFFFF_FFFF);
            assert_eq!(r.rd(off), 0, "offset {off:#x}");
        }
        assert_eq!(r.wdt.unimplemented.reported(), 8);
        assert_eq!(r.wdt.state().reset_mask[1], 0);
        assert_eq!(r.wdt.state().sw_reset_mask, [0, 0]);
        // The AST2600 software reset key does nothing there.
        r.wr(REG_CTRL, u64::from(CTRL_RESET_SYSTEM));
        r.wr(REG_SW_RESET_CTRL, u64::from(SW_RESET_ENABLE));
        assert_eq!(r.resets(), 0);
    }

    #[test]
    fn ast2500_control_writes_force_the_1mhz_clock() {
        let mut r = rig2500();
        r.wr(REG_CTRL, 0);
        assert_eq!(r.rd(REG_CTRL), u64::from(CTRL_1MHZ_CLK));
        // Bits 11:8 read 0; boot-secondary (7) and 31:12 are kept, unlike the AST2600.
        r.wr(REG_CTRL, 0xFFFF_FFEE);
        assert_eq!(r.rd(REG_CTRL), 0xFFFF_F0FE);
        assert_ne!(r.rd(REG_CTRL) & u64::from(CTRL_BOOT_SECONDARY), 0);
        r.wdt.write(REG_CTRL + 1, 1, 0xFF);
        assert_eq!(r.rd(REG_CTRL) & 0xF00, 0);
        // Counting is at 1 MHz whether the guest wrote the bit or not.
        r.wr(REG_RELOAD_VALUE, 1_000);
        r.wr(REG_CTRL, u64::from(CTRL_ENABLE));
        assert_eq!(r.rd(REG_CTRL), u64::from(CTRL_ENABLE | CTRL_1MHZ_CLK));
        assert_eq!(r.wdt.next_deadline(), Some(MS));
    }

    #[test]
    fn uboot_2023_01_leaves_the_watchdog_running_and_linux_takes_it_over() {
        let mut r = rig2500();
        // lowlevel_init (WDT3 only): ctrl = 0.
        r.wr(REG_CTRL, 0);
        // initr_watchdog: probe = ast_wdt_stop, then autostart with the 60 s default and
        // flags 0: SoC mode and reset mask 0.
        r.uboot_stop();
        assert_eq!(r.rd(REG_RESET_MASK1), u64::from(AST2500_DEFAULT_RESET_MASK));
        r.uboot_start(60_000, 0);
        assert_eq!(r.rd(REG_RESET_MASK1), 0);
        assert_eq!(r.wdt.reset_mode(), ResetMode::Soc);
        assert_eq!(
            r.rd(REG_CTRL),
            u64::from(CTRL_ENABLE | CTRL_RESET_SYSTEM | CTRL_1MHZ_CLK)
        );
        assert_eq!(r.wdt.next_deadline(), Some(60_000 * MS));
        // The cyclic servicing pings it every second while u-boot runs...
        for s in 1..=5u64 {
            r.run_to(s * 1_000 * MS);
            r.wr(REG_RESTART, u64::from(RESTART_MAGIC));
        }
        // ...and bootm does not stop it: 60 s after the last ping it resets the system, as
        // it does for WDT3, which aspeed-g5.dtsi disables in Linux.
        let last_ping = 5_000 * MS;
        let mut unattended = Rig {
            wdt: AspeedWdt::from_state(
                &r.wdt.state(),
                r.clock.clone(),
                r.rec.line(0),
                r.rec.line(1),
            ),
            clock: r.clock.clone(),
            rec: r.rec.clone(),
        };
        assert_eq!(
            unattended.wdt.next_deadline(),
            Some(last_ping + 60_000 * MS)
        );
        unattended.run_to(last_ping + 60_000 * MS);
        assert_eq!(unattended.resets(), 1);
        // Linux aspeed_wdt_probe sees the enable bit and restarts it with its own 30 s.
        let probe = last_ping + 2_000 * MS;
        r.clock.set(probe);
        assert_ne!(r.rd(REG_CTRL) & u64::from(CTRL_ENABLE), 0);
        r.linux_enable(30_000_000);
        assert_eq!(r.wdt.next_deadline(), Some(probe + 30_000 * MS));
        assert_eq!(
            r.rd(REG_RESET_MASK1),
            0,
            "Linux leaves u-boot's mask without aspeed,reset-mask"
        );
    }

    #[test]
    fn linux_ast2500_restart_resets_the_system_within_128ms() {
        let mut r = rig2500();
        r.linux_enable(30_000_000);
        r.clock.set(10_000 * MS);
        // aspeed_wdt_restart: ctrl &= ~BOOT_SECONDARY; aspeed_wdt_enable(128 ms); mdelay(1000).
        r.linux_enable(128_000);
        assert_eq!(r.wdt.next_deadline(), Some(10_128 * MS));
        r.run_to(10_127 * MS);
        assert_eq!(r.resets(), 0);
        r.run_to(10_128 * MS);
        assert_eq!(r.rec.changes(), vec![(0, true), (0, false)]);
        assert_eq!(r.wdt.reset_mode(), ResetMode::Soc);
        assert_eq!(r.rd(REG_TIMEOUT_STATUS) & u64::from(STATUS_EVENT), 1);
        assert_eq!(r.rd(REG_CTRL) & u64::from(CTRL_ENABLE), 0);
        // The SoC's reset resets the watchdog as an AST2500 one.
        r.wdt.reset();
        assert_eq!(r.wdt.state(), WdtState::new(Variant::Ast2500));
    }

    #[test]
    fn uboot_ast2500_sysreset_expires_at_once_in_cpu_mode() {
        let mut r = rig2500();
        r.uboot_stop();
        // ast_sysreset_request(SYSRESET_WARM) -> wdt_expire_now(wdt, WDT_CTRL_RESET_CPU):
        // start(1 ms, mode 2; the mask is left alone), then poll for the enable bit to clear.
        r.uboot_start(1, 2);
        assert_eq!(r.wdt.reset_mode(), ResetMode::ArmCpu);
        assert_eq!(r.rd(REG_RESET_MASK1), u64::from(AST2500_DEFAULT_RESET_MASK));
        r.run_to(MS);
        assert_eq!(r.resets(), 1);
        assert_eq!(r.rd(REG_CTRL) & u64::from(CTRL_ENABLE), 0, "the poll ends");
    }

    #[test]
    fn ast2500_pretimeout_uses_bits_31_12() {
        let mut r = rig2500();
        r.wr(REG_RELOAD_VALUE, 3_000_000);
        // Linux aspeed_wdt_set_pretimeout(1 s) with ast2500_config: (cycles << 12) & 31:12.
        let field =
            (1_000_000u32 << AST2500_CTRL_IRQ_THRESHOLD_SHIFT) & AST2500_CTRL_IRQ_THRESHOLD_MASK;
        let ctrl = CTRL_ENABLE | CTRL_RESET_SYSTEM | CTRL_INTERRUPT | CTRL_1MHZ_CLK | field;
        r.wr(REG_CTRL, u64::from(ctrl));
        assert_eq!(r.rd(REG_CTRL), u64::from(ctrl));
        assert_eq!(Variant::Ast2500.irq_threshold(ctrl), 1_000_000);
        assert_eq!(r.wdt.next_deadline(), Some(2_000 * MS));
        r.run_to(2_000 * MS);
        assert!(r.rec.level(1));
        assert_eq!(r.rd(REG_TIMEOUT_STATUS), u64::from(STATUS_IRQ));
        assert_eq!(r.wdt.next_deadline(), Some(3_000 * MS));
    }

    #[test]
    fn ast2500_reset_width_and_mask_are_read_write() {
        let mut r = rig2500();
        // aspeed_wdt_probe for ast2500: pulse width kept, open drain then active low.
        let width = r.rd(REG_RESET_WIDTH) as u32 & RESET_WIDTH_PULSE_MASK;
        r.wr(REG_RESET_WIDTH, u64::from(width | OPEN_DRAIN_MAGIC));
        r.wr(REG_RESET_WIDTH, u64::from(width | ACTIVE_LOW_MAGIC));
        assert_eq!(r.rd(REG_RESET_WIDTH), 0xFF);
        r.wr(REG_RESET_WIDTH, u64::from(PUSH_PULL_MAGIC | 0xF_FFFF));
        assert_eq!(
            r.rd(REG_RESET_WIDTH),
            u64::from(RESET_WIDTH_PUSH_PULL | 0xF_FFFF)
        );
        // aspeed,reset-mask = <(AST2500_WDT_RESET_DEFAULT & ~AST2500_WDT_RESET_LPC)>.
        r.wr(
            REG_RESET_MASK1,
            u64::from(AST2500_DEFAULT_RESET_MASK & !(1 << 13)),
        );
        assert_eq!(r.wdt.state().reset_mask[0], 0x023F_DFF3);
    }

    #[test]
    fn ast2500_state_round_trips_and_with_variant_resets() {
        let mut r = rig2500();
        r.wr(REG_RELOAD_VALUE, 3000);
        let ctrl = CTRL_ENABLE | CTRL_INTERRUPT | (1000 << AST2500_CTRL_IRQ_THRESHOLD_SHIFT);
        r.wr(REG_CTRL, u64::from(ctrl));
        r.run_to(2 * MS);
        assert!(r.rec.level(1));
        let s = r.wdt.state();
        assert_eq!(s.variant, Variant::Ast2500);
        let rec = LevelRecorder::new();
        let copy = AspeedWdt::from_state(&s, r.clock.clone(), rec.line(0), rec.line(1));
        assert_eq!(copy.variant(), Variant::Ast2500);
        assert_eq!(copy.state(), s);
        assert_eq!(copy.next_deadline(), r.wdt.next_deadline());
        assert!(rec.level(1));
        let back = copy.with_variant(Variant::Ast2600);
        assert!(!rec.level(1), "with_variant lowers a pending pre-timeout");
        assert_eq!(back.state(), WdtState::default());
        r.wdt.reset();
        assert!(!r.rec.level(1));
        assert_eq!(r.wdt.state(), WdtState::new(Variant::Ast2500));
    }

    /// Every register of `r`'s watchdog as a driver reads it.
    fn registers(r: &mut Rig) -> Vec<u64> {
        let size = r.wdt.variant().regs_size();
        (0..size).step_by(4).map(|off| r.rd(off)).collect()
    }

    /// An AST2600 watchdog Linux has set up: 3 s timeout with the reset bit, a pre-timeout
    /// interrupt at 1 s left that has fired, reset masks and width programmed; at 2.5 s.
    fn serviced_watchdog() -> Rig {
        let mut r = rig();
        r.wr(REG_RESET_WIDTH, u64::from(PUSH_PULL_MAGIC | 0x0FF0));
        r.wr(REG_RESET_MASK1, 0x0000_1234);
        r.wr(REG_RESET_MASK2, 0x0000_5678);
        r.wr(REG_SW_RESET_MASK1, 0x9ABC);
        r.clock.set(10 * MS);
        r.wr(REG_RELOAD_VALUE, 3_000_000);
        let ctrl = CTRL_ENABLE
            | CTRL_RESET_SYSTEM
            | CTRL_INTERRUPT
            | (1_000_000 & CTRL_IRQ_THRESHOLD_MASK);
        r.wr(REG_CTRL, u64::from(ctrl));
        r.run_to(2_500 * MS);
        assert!(r.rec.level(1), "the pre-timeout interrupt fired");
        r
    }

    #[test]
    fn saved_state_counts_interrupts_and_expires_at_the_same_times() {
        let mut r = serviced_watchdog();
        let saved = r.wdt.save_state().expect("a watchdog saves its state");
        assert_eq!(
            (saved.kind.as_str(), saved.version),
            (STATE_KIND, STATE_VERSION)
        );
        let mut t = rig();
        t.clock.set(2_500 * MS);
        t.wdt.load_state(&saved).unwrap();
        assert!(
            t.rec.level(1),
            "the restored watchdog raises its pending interrupt"
        );
        assert_eq!(t.wdt.save_state(), Some(saved));
        assert_eq!(t.wdt.next_deadline(), r.wdt.next_deadline());
        let regs = registers(&mut r);
        assert_eq!(regs[(REG_STATUS / 4) as usize], 3_000_000 - 2_490_000);
        assert_eq!(registers(&mut t), regs);

        // Both expire at 3.01 s, not before.
        let expiry = 3_010 * MS;
        for rig in [&mut r, &mut t] {
            rig.run_to(expiry - 1);
            assert_eq!(rig.resets(), 0);
            rig.run_to(expiry);
            assert_eq!(rig.resets(), 1, "reset_out pulsed at expiry");
        }
        assert_eq!(registers(&mut t), registers(&mut r));
        // Clearing the status lowers both interrupts.
        r.wr(REG_CLEAR_TIMEOUT_STATUS, 1);
        t.wr(REG_CLEAR_TIMEOUT_STATUS, 1);
        assert!(!r.rec.level(1) && !t.rec.level(1));
    }

    #[test]
    fn a_state_of_another_kind_version_or_generation_is_refused() {
        let saved = serviced_watchdog().wdt.save_state().unwrap();
        let mut r = rig2500();
        r.wr(REG_RELOAD_VALUE, 1234);
        let before = r.wdt.state();
        let changes = r.rec.changes();
        let wrong_kind = DeviceState {
            kind: "aspeed-timer".into(),
            ..saved.clone()
        };
        let wrong_version = DeviceState {
            version: STATE_VERSION + 1,
            ..saved.clone()
        };
        for bad in [&wrong_kind, &wrong_version] {
            assert!(r.wdt.load_state(bad).is_err());
        }
        let e = r.wdt.load_state(&saved).unwrap_err();
        assert!(e.0.contains("Ast2600"), "{e}");
        assert_eq!(r.wdt.state(), before, "left unchanged");
        assert_eq!(r.rec.changes(), changes, "the lines are not touched");
        // Its own generation's state loads, and drops a pending interrupt the state lacks.
        let mut t = serviced_watchdog();
        let idle = rig().wdt.save_state().unwrap();
        t.wdt.load_state(&idle).unwrap();
        assert!(!t.rec.level(1));
        assert_eq!(t.wdt.state(), WdtState::default());
    }
}
