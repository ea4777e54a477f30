//! The Aspeed timer block of the AST2600 and the AST2500: eight 32-bit down-counting channels
//! derived from the Faraday FTTMR010, as Linux `drivers/clocksource/timer-fttmr010.c` (the
//! `aspeed,ast2400-timer`/`aspeed,ast2500-timer` and `aspeed,ast2600-timer` paths) and QEMU
//! `hw/timer/aspeed_timer.c` (`aspeed.timer-ast2600`, `aspeed.timer-ast2500`) see it. The
//! [`Variant`] picks the generation; [`AspeedTimer::new`] builds an AST2600 block and
//! [`AspeedTimer::with_variant`] switches it (registers reset for that generation).
//!
//! Channel `n` (0-based) has four registers at `0x10 * n` for channels 0-2 (timers 1-3) and at
//! `0x40 + 0x10 * (n - 3)` for channels 3-7 (timers 4-8, 0x40..=0x8C): count, reload, match 1,
//! match 2 (QEMU `aspeed_timer_read`: `0x40 ... 0x8c` is `timers[(offset >> 4) - 1]`; the
//! control register occupies 0x30, where a fourth channel would otherwise sit). The control
//! register at 0x30 holds four bits per channel (enable, external 1 MHz clock, interrupt
//! enable, pulse), the same on both generations. What follows it differs:
//!
//! | offset | [`Variant::Ast2600`] | [`Variant::Ast2500`] |
//! |---|---|---|
//! | 0x34 | interrupt status, bit n = channel n, write 1 to clear | control register 2 (stored, no effect modelled) |
//! | 0x38 | reserved (stored, logged) | control register 3: writing command 0xAE enables, 0xEA disables the 0x3C clear function; reads 1 while enabled |
//! | 0x3C | write: clears the control bits written as 1 | the same, but only while control register 3 enables it (ignored otherwise) |
//!
//! (QEMU `aspeed_2600_timer_read/write`, `aspeed_2500_timer_read/write`; u-boot
//! `arch-aspeed/timer.h` names 0x34..0x3C `ctrl2`, `ctrl3`, `ctrl1_clr` on the AST2500.) QEMU
//! decodes the 0x38 command from bits 8:1 (`(value >> 1) & 0xff`); the model also accepts the
//! command in bits 7:0, as the shared AST2500 facts ask (the two encodings never collide).
//! Mainline Linux never touches 0x34-0x3C on the AST2500: it stops a channel by clearing its
//! bits in 0x30.
//!
//! Counting is computed from the injected [`Clock`] when read: nothing runs per tick. An
//! enabled channel loads its reload value and counts down one per tick; after reaching zero it
//! reloads on the next tick (period `reload + 1` ticks). A channel counts the external clock
//! (1 MHz on both SoCs, QEMU `TIMER_CLOCK_EXT_HZ`) when its clock bit is set and the APB clock
//! (PCLK) otherwise, identically on both generations; only the APB rate the SoC passes in
//! differs (Linux's AST2500 clocksource and clockevent use PCLK, `clock-names = "PCLK"` in
//! `aspeed-g5.dtsi`; u-boot's AST2500 tick timer sets the clock bit and counts at 1 MHz).
//! Which events interrupt follows QEMU: the counter reaching a match value `m` with
//! `0 < m < reload`, and the counter reaching zero when the channel's interrupt-enable bit is
//! set or either match register is zero.
//!
//! How an event reaches the interrupt controller is where the generations part:
//! - [`Variant::Ast2600`]: an event sets the channel's status bit, and each channel's
//!   [`IrqLine`] is high while its status bit is set (level-triggered; Linux's AST2600 handler
//!   clears the bit by writing it to 0x34).
//! - [`Variant::Ast2500`]: there is no status register; each event **toggles** the channel's
//!   line (QEMU `aspeed_timer_expire`: `t->level = !t->level`). The AST2500 VIC treats the
//!   timer sources (VIC 16-18, 35-39) as dual-edge (QEMU `aspeed_vic_reset` `dual_edge`;
//!   Linux `irq-aspeed-vic.c` acks them as edges), so every expiry is exactly one edge, rising
//!   or falling, and one interrupt; Linux's `fttmr010_timer_interrupt` acks nothing in the
//!   timer. The current level of each line is [`AspeedTimerState::irq_levels`].
//!
//! Late delivery (several periods passed before [`Device::on_time`]) delivers one event per
//! channel, on both generations: one status bit set, or one toggle.
#![deny(missing_docs)]

use std::rc::Rc;

use bus::{
    merge_subword, subword, Clock, Device, DeviceState, IrqLine, StateError, UnimplementedLog,
};
use serde::{Deserialize, Serialize};

/// Number of timer channels: QEMU `ASPEED_TIMER_NR_TIMERS`.
pub const CHANNELS: usize = 8;
/// Register within a channel: current count (status): QEMU `TIMER_REG_STATUS`, Linux `TIMER1_COUNT`.
pub const CHANNEL_COUNT: u64 = 0x0;
/// Register within a channel: reload value: QEMU `TIMER_REG_RELOAD`, Linux `TIMER1_LOAD`.
pub const CHANNEL_RELOAD: u64 = 0x4;
/// Register within a channel: first match value: QEMU `TIMER_REG_MATCH_FIRST`, Linux `TIMER1_MATCH1`.
pub const CHANNEL_MATCH1: u64 = 0x8;
/// Register within a channel: second match value: QEMU `TIMER_REG_MATCH_SECOND`, Linux `TIMER1_MATCH2`.
pub const CHANNEL_MATCH2: u64 = 0xC;
/// Offset of channel 0 (timer 1; channels 0-2 follow every 0x10): Linux `TIMER1_COUNT`.
pub const CHANNELS_0_2_BASE: u64 = 0x00;
/// Offset of channel 3 (timer 4; channels 3-7 follow every 0x10): QEMU `0x40 ... 0x8c`.
pub const CHANNELS_3_7_BASE: u64 = 0x40;
/// Control register (TMC30), four bits per channel: Linux `TIMER_CR`.
pub const REG_CTRL: u64 = 0x30;
/// AST2600 interrupt status (TMC34), bit n for channel n, write 1 to clear: Linux `TIMER_INTR_STATE`.
pub const REG_IRQ_STATUS: u64 = 0x34;
/// AST2500 control register 2 (TMC34; the AST2600's interrupt status offset): QEMU `ctrl2`, u-boot `struct ast_timer` `ctrl2`.
pub const REG_CTRL2: u64 = 0x34;
/// Reserved on the AST2600 (FTTMR010 interrupt mask; AST2500 control 3): Linux `TIMER_INTR_MASK`.
pub const REG_RESERVED_38: u64 = 0x38;
/// AST2500 control register 3 (TMC38), the clear-function switch: QEMU `ctrl3`, u-boot `struct ast_timer` `ctrl3`.
pub const REG_CTRL3: u64 = 0x38;
/// Control clear register (TMC3C): 1 bits clear the control bits: Linux `AST2600_TIMER_CR_CLR`,
/// u-boot `ctrl1_clr` (on the AST2500 only while [`REG_CTRL3`] enables it).
pub const REG_CTRL_CLEAR: u64 = 0x3C;
/// Size of the register block used by the channels: QEMU maps 0x1000, channels end at 0x90
/// (device tree `reg = <0x1e782000 0x90>` on the AST2500).
pub const REGS_END: u64 = 0x90;

/// Control bits per channel: QEMU `TIMER_CTRL_BITS`.
pub const CTRL_BITS_PER_CHANNEL: u32 = 4;
/// Control bit (shifted by 4 * channel): count enable: Linux `TIMER_1_CR_ASPEED_ENABLE`.
pub const CTRL_ENABLE: u32 = 1 << 0;
/// Control bit: count the external 1 MHz clock instead of the APB clock: Linux `TIMER_1_CR_ASPEED_CLOCK`, u-boot `AST_TMC_1MHZ`.
pub const CTRL_EXTERNAL_CLOCK: u32 = 1 << 1;
/// Control bit: interrupt when the counter reaches zero: Linux `TIMER_1_CR_ASPEED_INT`, QEMU `op_overflow_interrupt`.
pub const CTRL_INTERRUPT: u32 = 1 << 2;
/// Control bit: pulse output (timers 5-8): QEMU `op_pulse_enable`.
pub const CTRL_PULSE: u32 = 1 << 3;

/// AST2500 control register 3 bit 0: the 0x3C clear function is enabled (the only bit that
/// reads back): QEMU `aspeed_2500_timer_read` (`s->ctrl3 & BIT(0)`).
pub const CTRL3_CLEAR_ENABLED: u32 = 1 << 0;
/// AST2500 control register 3 command that enables the 0x3C clear function: QEMU `aspeed_2500_timer_write` (`0xAE`).
pub const CTRL3_CMD_ENABLE_CLEAR: u32 = 0xAE;
/// AST2500 control register 3 command that disables the 0x3C clear function: QEMU `aspeed_2500_timer_write` (`0xEA`).
pub const CTRL3_CMD_DISABLE_CLEAR: u32 = 0xEA;
/// Where QEMU reads the control register 3 command: bits 8:1 (`(value >> 1) & 0xff`).
pub const CTRL3_CMD_SHIFT: u32 = 1;

const NS_PER_S: u128 = 1_000_000_000;

/// The kind of a timer block's saved state ([`DeviceState::kind`]), either generation's.
pub const STATE_KIND: &str = "aspeed-timer";
/// The format version of a timer block's saved state: [`AspeedTimerState`] as this build
/// serialises it.
pub const STATE_VERSION: u32 = 1;

/// Which SoC generation's timer block: what 0x34-0x3C are and how expiries drive the lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Variant {
    /// The AST2600 block (`aspeed,ast2600-timer`, QEMU `aspeed.timer-ast2600`): interrupt
    /// status at 0x34, each line high while its status bit is set.
    #[default]
    Ast2600,
    /// The AST2500 block (`aspeed,ast2400-timer` in `aspeed-g5.dtsi`, QEMU
    /// `aspeed.timer-ast2500`): control registers 2 and 3 at 0x34/0x38, each expiry toggles
    /// the channel's line (one edge for the dual-edge VIC).
    Ast2500,
}

impl Variant {
    /// Whether each expiry toggles the channel's line (AST2500) rather than setting a status
    /// bit the line follows (AST2600).
    pub const fn toggles_lines(self) -> bool {
        matches!(self, Variant::Ast2500)
    }
}

/// One channel's registers and counting anchor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelState {
    /// Reload value.
    pub reload: u32,
    /// Match 1 and match 2 values.
    pub matches: [u32; 2],
    /// Virtual time (ns) at which the counter held `anchor_count` (start of a tick).
    pub anchor_ns: u64,
    /// Counter value at `anchor_ns`.
    pub anchor_count: u32,
    /// Ticks after the anchor whose events have already been delivered.
    pub ticks_done: u64,
}

/// The timer block's registers: a plain value that can be saved and restored. The default is
/// the AST2600 block in its reset state; [`AspeedTimerState::new`] gives either generation's.
///
/// Each channel counts from an anchor in virtual time, with the ticks whose events were
/// delivered, so a restored block counts and interrupts at the same virtual times as the saved
/// one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AspeedTimerState {
    /// Control register (0x30).
    pub ctrl: u32,
    /// AST2600 interrupt status (0x34), one bit per channel (always 0 on the AST2500).
    pub irq_status: u32,
    /// The AST2600's reserved register at 0x38 (stored, no effect).
    pub reserved_38: u32,
    /// The eight channels.
    pub channels: [ChannelState; CHANNELS],
    /// Which generation the registers belong to.
    pub variant: Variant,
    /// AST2500 control register 2 (0x34; stored, no effect).
    pub ctrl2: u32,
    /// AST2500 control register 3 (0x38): [`CTRL3_CLEAR_ENABLED`] or 0.
    pub ctrl3: u32,
    /// AST2500 interrupt line levels, bit n for channel n: each expiry flips its bit (always
    /// 0 on the AST2600, whose lines follow `irq_status`).
    pub irq_levels: u32,
}

impl AspeedTimerState {
    /// The reset state of `variant`'s timer block (everything zero).
    pub fn new(variant: Variant) -> Self {
        Self {
            variant,
            ..Self::default()
        }
    }

    /// The level each channel's line has in this state, bit n for channel n.
    pub fn line_levels(&self) -> u32 {
        if self.variant.toggles_lines() {
            self.irq_levels
        } else {
            self.irq_status
        }
    }
}

/// The AST2600 or AST2500 timer block.
pub struct AspeedTimer {
    state: AspeedTimerState,
    clock: Rc<dyn Clock>,
    external_hz: u64,
    apb_hz: u64,
    irqs: [IrqLine; CHANNELS],
    unimplemented: UnimplementedLog,
}

/// Where an offset falls: a channel register or a block register.
enum Target {
    Channel(usize, u64),
    Block(u64),
}

fn decode(offset: u64) -> Target {
    let reg = offset & !3;
    match reg {
        0x00..=0x2C => Target::Channel((reg >> 4) as usize, reg & 0xC),
        0x40..=0x8C => Target::Channel(((reg - CHANNELS_3_7_BASE) >> 4) as usize + 3, reg & 0xC),
        _ => Target::Block(reg),
    }
}

/// Ticks of a `rate_hz` clock in `ns` nanoseconds.
fn ticks_in(ns: u64, rate_hz: u64) -> u128 {
    u128::from(ns) * u128::from(rate_hz) / NS_PER_S
}

/// Nanoseconds until `ticks` ticks of a `rate_hz` clock have elapsed (rounded up).
fn ns_for(ticks: u128, rate_hz: u64) -> u128 {
    let rate = u128::from(rate_hz.max(1));
    (ticks * NS_PER_S).div_ceil(rate)
}

fn saturate(v: u128) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

impl ChannelState {
    /// Counter value `n` ticks after the anchor.
    fn count_at(&self, n: u128) -> u32 {
        let c0 = u128::from(self.anchor_count);
        if n <= c0 {
            return (c0 - n) as u32;
        }
        if self.reload == 0 {
            return 0;
        }
        let period = u128::from(self.reload) + 1;
        let into = (n - c0 - 1) % period;
        (u128::from(self.reload) - into) as u32
    }

    /// First tick after `after` (and after the anchor itself) at which the counter becomes `v`.
    fn next_hit(&self, v: u32, after: u128) -> Option<u128> {
        let c0 = u128::from(self.anchor_count);
        let v128 = u128::from(v);
        if v128 <= c0 {
            let n = c0 - v128;
            if n > after && n >= 1 {
                return Some(n);
            }
        }
        // With a zero reload the counter sits at zero after the first pass: no more events.
        if self.reload == 0 || v > self.reload {
            return None;
        }
        let period = u128::from(self.reload) + 1;
        let first = c0 + 1 + u128::from(self.reload - v);
        if first > after {
            return Some(first);
        }
        let k = (after - first) / period + 1;
        Some(first + k * period)
    }

    /// The counter values that interrupt (QEMU `aspeed_timer_expire` / `calculate_match`).
    fn irq_values(&self, irq_enabled: bool) -> impl Iterator<Item = u32> + '_ {
        let zero_fires = irq_enabled || self.matches.contains(&0);
        let reload = self.reload;
        self.matches
            .iter()
            .copied()
            .filter(move |&m| m != 0 && m < reload)
            .chain(zero_fires.then_some(0))
    }

    /// First interrupting tick after `ticks_done`.
    fn next_event_tick(&self, irq_enabled: bool) -> Option<u128> {
        let after = u128::from(self.ticks_done);
        self.irq_values(irq_enabled)
            .filter_map(|v| self.next_hit(v, after))
            .min()
    }
}

impl AspeedTimer {
    /// An AST2600 timer block in its reset state. `external_hz` is the external clock a
    /// channel counts when its external-clock bit is set (1 MHz on the AST2600 and the
    /// AST2500), `apb_hz` the APB (PCLK) rate it counts otherwise; `irqs[n]` is channel n's
    /// interrupt output. [`AspeedTimer::with_variant`] makes it an AST2500 block.
    pub fn new(clock: Rc<dyn Clock>, external_hz: u64, apb_hz: u64, irqs: [IrqLine; 8]) -> Self {
        Self::from_state(
            &AspeedTimerState::default(),
            clock,
            external_hz,
            apb_hz,
            irqs,
        )
    }

    /// A timer block restored from `state` (its generation included); interrupt lines whose
    /// level is high in the state (AST2600: status bit set; AST2500: level bit set) are raised.
    pub fn from_state(
        state: &AspeedTimerState,
        clock: Rc<dyn Clock>,
        external_hz: u64,
        apb_hz: u64,
        irqs: [IrqLine; 8],
    ) -> Self {
        let timer = Self {
            state: state.clone(),
            clock,
            external_hz,
            apb_hz,
            irqs,
            unimplemented: UnimplementedLog::new("timer"),
        };
        let levels = timer.state.line_levels();
        for (n, line) in timer.irqs.iter().enumerate() {
            if levels & (1 << n) != 0 {
                line.raise();
            }
        }
        timer
    }

    /// This block as `variant`'s, with the registers in that generation's reset state (lines
    /// that were high are lowered).
    pub fn with_variant(mut self, variant: Variant) -> Self {
        let old = self.state.line_levels();
        self.state = AspeedTimerState::new(variant);
        self.drive_lines(old);
        self
    }

    /// The SoC generation of this block.
    pub fn variant(&self) -> Variant {
        self.state.variant
    }

    /// A copy of the registers.
    pub fn state(&self) -> AspeedTimerState {
        self.state.clone()
    }

    fn ctrl_bits(&self, n: usize) -> u32 {
        (self.state.ctrl >> (n as u32 * CTRL_BITS_PER_CHANNEL)) & 0xF
    }

    fn enabled(&self, n: usize) -> bool {
        self.ctrl_bits(n) & CTRL_ENABLE != 0
    }

    fn irq_enabled(&self, n: usize) -> bool {
        self.ctrl_bits(n) & CTRL_INTERRUPT != 0
    }

    fn rate_for(&self, ctrl_bits: u32) -> u64 {
        if ctrl_bits & CTRL_EXTERNAL_CLOCK != 0 {
            self.external_hz
        } else {
            self.apb_hz
        }
    }

    fn rate(&self, n: usize) -> u64 {
        self.rate_for(self.ctrl_bits(n))
    }

    /// Ticks of channel `n` since its anchor at `now`.
    fn ticks_since_anchor(&self, n: usize, now: u64) -> u128 {
        let ch = &self.state.channels[n];
        ticks_in(now.saturating_sub(ch.anchor_ns), self.rate(n))
    }

    /// The current counter value of channel `n` (the reload value while disabled, as QEMU).
    fn count(&self, n: usize, now: u64) -> u32 {
        if !self.enabled(n) {
            return self.state.channels[n].reload;
        }
        self.state.channels[n].count_at(self.ticks_since_anchor(n, now))
    }

    /// Virtual time of channel `n`'s next interrupting event.
    fn channel_deadline(&self, n: usize) -> Option<u64> {
        if !self.enabled(n) || self.rate(n) == 0 {
            return None;
        }
        let ch = &self.state.channels[n];
        let tick = ch.next_event_tick(self.irq_enabled(n))?;
        let at = u128::from(ch.anchor_ns) + ns_for(tick, self.rate(n));
        Some(saturate(at))
    }

    /// Restarts channel `n`'s count at `count`, `now` (the counting phase is kept when
    /// `keep_phase`, i.e. the anchor moves to the start of the current tick).
    fn anchor(&mut self, n: usize, now: u64, count: u32, keep_phase: bool) {
        let rate = self.rate(n);
        let ch = &mut self.state.channels[n];
        let start = if keep_phase && rate != 0 {
            let ticks = ticks_in(now.saturating_sub(ch.anchor_ns), rate);
            saturate(u128::from(ch.anchor_ns) + ns_for(ticks, rate)).min(now)
        } else {
            now
        };
        ch.anchor_ns = start;
        ch.anchor_count = count;
        ch.ticks_done = 0;
    }

    /// Re-anchors channel `n` at its current count so later changes (reload, clock) only
    /// affect the future.
    fn reanchor(&mut self, n: usize, now: u64) {
        let count = self.count(n, now);
        self.anchor(n, now, count, true);
    }

    /// Sets every line whose level differs from `old` (bit n = channel n) to its new level.
    fn drive_lines(&self, old: u32) {
        let levels = self.state.line_levels();
        let changed = old ^ levels;
        for (n, line) in self.irqs.iter().enumerate() {
            if changed & (1 << n) != 0 {
                line.set(levels & (1 << n) != 0);
            }
        }
    }

    /// Delivers every event due at `now`: each channel with a due event sets its status bit
    /// (AST2600) or toggles its line (AST2500) once, however many periods have passed.
    fn run_until(&mut self, now: u64) {
        let old = self.state.line_levels();
        for n in 0..CHANNELS {
            let Some(deadline) = self.channel_deadline(n) else {
                continue;
            };
            if deadline <= now {
                if self.state.variant.toggles_lines() {
                    self.state.irq_levels ^= 1 << n;
                } else {
                    self.state.irq_status |= 1 << n;
                }
                match u64::try_from(self.ticks_since_anchor(n, now)) {
                    Ok(done) => self.state.channels[n].ticks_done = done,
                    // More ticks than `ticks_done` holds (a clock above 1 GHz after 2^63 ns):
                    // count on from the current tick instead, so the next deadline is after
                    // `now` rather than stuck in the past.
                    Err(_) => self.reanchor(n, now),
                }
            }
        }
        self.drive_lines(old);
    }

    fn write_ctrl(&mut self, value: u32, now: u64) {
        for n in 0..CHANNELS {
            let shift = n as u32 * CTRL_BITS_PER_CHANNEL;
            let old = self.ctrl_bits(n);
            let new = (value >> shift) & 0xF;
            let was_on = old & CTRL_ENABLE != 0;
            let on = new & CTRL_ENABLE != 0;
            if was_on && on && (old ^ new) & CTRL_EXTERNAL_CLOCK != 0 {
                // Keep the count across a clock switch; the new rate applies from here.
                self.reanchor(n, now);
                self.state.channels[n].anchor_ns = now;
            }
            if !was_on && on {
                // Enabling loads the reload value into the counter.
                let reload = self.state.channels[n].reload;
                self.state.channels[n].anchor_ns = now;
                self.state.channels[n].anchor_count = reload;
                self.state.channels[n].ticks_done = 0;
            }
        }
        self.state.ctrl = value;
    }

    /// AST2500 control register 3: the command in bits 8:1 (QEMU) or 7:0 switches the 0x3C
    /// clear function; any other value changes nothing.
    fn write_ctrl3(&mut self, value: u32) {
        let commands = [(value >> CTRL3_CMD_SHIFT) & 0xFF, value & 0xFF];
        if commands.contains(&CTRL3_CMD_ENABLE_CLEAR) {
            self.state.ctrl3 = CTRL3_CLEAR_ENABLED;
        } else if commands.contains(&CTRL3_CMD_DISABLE_CLEAR) {
            self.state.ctrl3 = 0;
        }
    }

    fn write_channel(&mut self, n: usize, reg: u64, value: u32, now: u64) {
        match reg {
            CHANNEL_COUNT => {
                // Only a running counter can be set (QEMU); enabling reloads it anyway.
                if self.enabled(n) {
                    self.anchor(n, now, value, true);
                }
            }
            CHANNEL_RELOAD => {
                let old = self.state.channels[n].reload;
                if self.enabled(n) {
                    if old == 0 && value != 0 {
                        // A counter stuck at zero starts from the new reload (QEMU).
                        self.anchor(n, now, value, true);
                    } else {
                        self.reanchor(n, now);
                    }
                }
                self.state.channels[n].reload = value;
            }
            CHANNEL_MATCH1 => self.state.channels[n].matches[0] = value,
            _ => self.state.channels[n].matches[1] = value,
        }
    }

    /// The value a read of the block register `reg` (0x30..=0x3C and beyond) returns.
    fn read_block(&self, reg: u64) -> Option<u32> {
        let s = &self.state;
        let ast2500 = s.variant == Variant::Ast2500;
        Some(match reg {
            REG_CTRL => s.ctrl,
            REG_IRQ_STATUS if ast2500 => s.ctrl2,
            REG_IRQ_STATUS => s.irq_status,
            REG_RESERVED_38 if ast2500 => s.ctrl3 & CTRL3_CLEAR_ENABLED,
            REG_RESERVED_38 => s.reserved_38,
            // Write-only on both generations.
            REG_CTRL_CLEAR => 0,
            _ => return None,
        })
    }

    fn read_reg(&self, reg: u64, now: u64) -> Option<u32> {
        match decode(reg) {
            Target::Channel(n, CHANNEL_COUNT) => Some(self.count(n, now)),
            Target::Channel(n, CHANNEL_RELOAD) => Some(self.state.channels[n].reload),
            Target::Channel(n, CHANNEL_MATCH1) => Some(self.state.channels[n].matches[0]),
            Target::Channel(n, _) => Some(self.state.channels[n].matches[1]),
            Target::Block(reg) => self.read_block(reg),
        }
    }

    /// Whether `reg` is the AST2600's reserved 0x38, whose accesses are logged.
    fn is_reserved(&self, reg: u64) -> bool {
        reg == REG_RESERVED_38 && self.state.variant == Variant::Ast2600
    }

    fn read32(&mut self, offset: u64, size: u8) -> u64 {
        let now = self.clock.now_ns();
        self.run_until(now);
        let reg = offset & !3;
        if self.is_reserved(reg) {
            self.unimplemented.read(offset, size);
        }
        match self.read_reg(reg, now) {
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
        let ast2500 = self.state.variant == Variant::Ast2500;
        let command = match reg {
            REG_IRQ_STATUS => !ast2500,
            REG_CTRL3 => ast2500,
            REG_CTRL_CLEAR => true,
            _ => false,
        };
        // Command registers: unwritten bytes are zero, not the register's value.
        let current = if command {
            0
        } else {
            self.read_reg(reg, now).unwrap_or(0)
        };
        let v = merge_subword(current, offset, size, value);
        match decode(reg) {
            Target::Channel(n, r) => self.write_channel(n, r, v, now),
            Target::Block(REG_CTRL) => self.write_ctrl(v, now),
            Target::Block(REG_CTRL_CLEAR) => {
                if !ast2500 || self.state.ctrl3 & CTRL3_CLEAR_ENABLED != 0 {
                    self.write_ctrl(self.state.ctrl & !v, now);
                }
            }
            Target::Block(REG_CTRL2) if ast2500 => self.state.ctrl2 = v,
            Target::Block(REG_IRQ_STATUS) => {
                let old = self.state.line_levels();
                self.state.irq_status &= !v;
                self.drive_lines(old);
            }
            Target::Block(REG_CTRL3) if ast2500 => self.write_ctrl3(v),
            Target::Block(REG_RESERVED_38) => {
                self.unimplemented.write(offset, size, value);
                self.state.reserved_38 = v;
            }
            Target::Block(_) => self.unimplemented.write(offset, size, value),
        }
    }
}

impl Device for AspeedTimer {
    fn read(&mut self, offset: u64, size: u8) -> u64 {
        bus::split_read(offset, size, |o, s| self.read32(o, s))
    }

    fn write(&mut self, offset: u64, size: u8, value: u64) {
        bus::split_write(offset, size, value, |o, s, v| self.write32(o, s, v));
    }

    fn reset(&mut self) {
        let old = self.state.line_levels();
        self.state = AspeedTimerState::new(self.state.variant);
        self.drive_lines(old);
    }

    fn next_deadline(&self) -> Option<u64> {
        (0..CHANNELS).filter_map(|n| self.channel_deadline(n)).min()
    }

    fn on_time(&mut self, now_ns: u64) {
        self.run_until(now_ns);
    }

    /// The registers and the channels' counting anchors ([`AspeedTimerState`]); the clock, the
    /// clock rates and the lines are wiring.
    fn save_state(&self) -> Option<DeviceState> {
        Some(DeviceState::new(STATE_KIND, STATE_VERSION, &self.state))
    }

    /// Refuses another generation's state; drives every channel's line to the level the
    /// restored state gives (AST2600: its status bit; AST2500: its level bit).
    fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        let s: AspeedTimerState = state.decode(STATE_KIND, STATE_VERSION)?;
        if s.variant != self.state.variant {
            return Err(StateError(format!(
                "aspeed-timer: the state is of an {:?} timer block, this one is an {:?}",
                s.variant, self.state.variant
            )));
        }
        self.state = s;
        let levels = self.state.line_levels();
        for (n, line) in self.irqs.iter().enumerate() {
            line.set(levels & (1 << n) != 0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bus::{LevelRecorder, ManualClock};

    const EXT_HZ: u64 = 1_000_000;
    const APB_HZ: u64 = 50_000_000;
    const US: u64 = 1_000;

    struct Rig {
        timer: AspeedTimer,
        clock: Rc<ManualClock>,
        rec: Rc<LevelRecorder>,
    }

    fn rig() -> Rig {
        let clock = Rc::new(ManualClock::new());
        let rec = LevelRecorder::new();
        let irqs = std::array::from_fn(|n| rec.line(n as u32));
        let timer = AspeedTimer::new(clock.clone(), EXT_HZ, APB_HZ, irqs);
        Rig { timer, clock, rec }
    }

    fn chan(n: u64) -> u64 {
        if n < 3 {
            CHANNELS_0_2_BASE + 0x10 * n
        } else {
            CHANNELS_3_7_BASE + 0x10 * (n - 3)
        }
    }

    fn ctrl(n: u32, bits: u32) -> u64 {
        u64::from(bits << (4 * n))
    }

    impl Rig {
        fn rd(&mut self, off: u64) -> u64 {
            self.timer.read(off, 4)
        }
        fn wr(&mut self, off: u64, v: u64) {
            self.timer.write(off, 4, v)
        }
        /// Moves time to `t` and delivers what is due, as the SoC would.
        fn run_to(&mut self, t: u64) {
            self.clock.set(t);
            if self.timer.next_deadline().is_some_and(|d| d <= t) {
                self.timer.on_time(t);
            }
        }
    }

    #[test]
    fn reset_values_are_zero() {
        let mut r = rig();
        for off in (0..0x90).step_by(4) {
            assert_eq!(r.rd(off), 0, "offset {off:#x}");
        }
        assert_eq!(r.timer.next_deadline(), None);
    }

    #[test]
    fn counts_down_at_1mhz_and_reloads_after_zero() {
        let mut r = rig();
        r.wr(chan(0) + CHANNEL_RELOAD, 1000);
        assert_eq!(
            r.rd(chan(0)),
            1000,
            "a stopped channel reads its reload value"
        );
        r.clock.set(5 * US);
        r.wr(REG_CTRL, ctrl(0, CTRL_ENABLE | CTRL_EXTERNAL_CLOCK));
        assert_eq!(r.rd(chan(0)), 1000);
        r.clock.set(5 * US + 250 * US + 999);
        assert_eq!(r.rd(chan(0)), 750);
        r.clock.set(5 * US + 1000 * US);
        assert_eq!(r.rd(chan(0)), 0);
        r.clock.set(5 * US + 1001 * US);
        assert_eq!(r.rd(chan(0)), 1000, "reloaded one tick after zero");
        r.clock.set(5 * US + 1001 * US + 1001 * US);
        assert_eq!(r.rd(chan(0)), 1000, "period is reload + 1 ticks");
    }

    #[test]
    fn apb_clock_counts_at_the_apb_rate() {
        let mut r = rig();
        r.wr(chan(1) + CHANNEL_RELOAD, 0xFFFF_FFFF);
        r.wr(REG_CTRL, ctrl(1, CTRL_ENABLE));
        r.clock.set(1_000_000); // 1 ms at 50 MHz = 50_000 ticks
        assert_eq!(r.rd(chan(1)), 0xFFFF_FFFF - 50_000);
    }

    #[test]
    fn zero_with_interrupt_enabled_sets_status_and_raises_the_line() {
        let mut r = rig();
        r.wr(chan(0) + CHANNEL_MATCH1, 5000); // >= reload: ignored (QEMU calculate_match)
        r.wr(chan(0) + CHANNEL_MATCH2, 7000);
        r.wr(chan(0) + CHANNEL_RELOAD, 1000);
        assert_eq!(r.timer.next_deadline(), None, "disabled channel");
        r.wr(REG_CTRL, ctrl(0, CTRL_ENABLE | CTRL_EXTERNAL_CLOCK));
        assert_eq!(
            r.timer.next_deadline(),
            None,
            "interrupt disabled, no zero match"
        );
        r.wr(
            REG_CTRL,
            ctrl(0, CTRL_ENABLE | CTRL_EXTERNAL_CLOCK | CTRL_INTERRUPT),
        );
        assert_eq!(r.timer.next_deadline(), Some(1000 * US));
        r.run_to(1000 * US - 1);
        assert!(!r.rec.level(0));
        r.run_to(1000 * US);
        assert!(r.rec.level(0));
        assert_eq!(r.rd(REG_IRQ_STATUS), 1);
        assert_eq!(r.timer.next_deadline(), Some(2001 * US));
        r.wr(REG_IRQ_STATUS, 0xFE);
        assert!(
            r.rec.level(0),
            "writing 0 to a status bit does not clear it"
        );
        r.wr(REG_IRQ_STATUS, 1);
        assert!(!r.rec.level(0), "write 1 to clear lowers the line");
        assert_eq!(r.rd(REG_IRQ_STATUS), 0);
    }

    #[test]
    fn match_values_interrupt_even_without_the_interrupt_bit() {
        let mut r = rig();
        r.wr(chan(2) + CHANNEL_RELOAD, 1000);
        r.wr(chan(2) + CHANNEL_MATCH1, 600);
        r.wr(chan(2) + CHANNEL_MATCH2, 800);
        r.wr(REG_CTRL, ctrl(2, CTRL_ENABLE | CTRL_EXTERNAL_CLOCK));
        assert_eq!(
            r.timer.next_deadline(),
            Some(200 * US),
            "counter reaches 800"
        );
        r.run_to(200 * US);
        assert!(r.rec.level(2));
        r.wr(REG_IRQ_STATUS, 1 << 2);
        assert_eq!(
            r.timer.next_deadline(),
            Some(400 * US),
            "counter reaches 600"
        );
        r.run_to(400 * US);
        assert!(r.rec.level(2));
        r.wr(REG_IRQ_STATUS, 1 << 2);
        assert_eq!(
            r.timer.next_deadline(),
            Some((1001 + 200) * US),
            "zero does not interrupt: next period's 800"
        );
    }

    #[test]
    fn a_zero_match_makes_zero_interrupt() {
        let mut r = rig();
        // Linux's free-running clocksource channel: reload ~0, matches 0, interrupt bit clear.
        r.wr(chan(1) + CHANNEL_RELOAD, 9);
        r.wr(chan(1) + CHANNEL_MATCH1, 0);
        r.wr(chan(1) + CHANNEL_MATCH2, 0);
        r.wr(REG_CTRL, ctrl(1, CTRL_ENABLE | CTRL_EXTERNAL_CLOCK));
        assert_eq!(r.timer.next_deadline(), Some(9 * US));
    }

    #[test]
    fn linux_one_shot_sequence_fires_after_the_requested_cycles() {
        let mut r = rig();
        let t1 = u64::from(CTRL_ENABLE | CTRL_INTERRUPT);
        // fttmr010_common_init: channel 1 free running, channel 0 zeroed.
        r.wr(REG_CTRL, ctrl(1, CTRL_ENABLE));
        r.wr(chan(0) + CHANNEL_RELOAD, 0);
        r.wr(chan(0) + CHANNEL_MATCH1, 0);
        r.wr(chan(0) + CHANNEL_MATCH2, 0);
        r.clock.set(1_000_000);
        // set_next_event(500): stop via 0x3C, LOAD = cycles, CR |= enable | int.
        r.wr(REG_CTRL_CLEAR, t1);
        r.wr(chan(0) + CHANNEL_RELOAD, 500);
        let cr = r.rd(REG_CTRL);
        r.wr(REG_CTRL, cr | t1);
        assert_eq!(r.rd(REG_CTRL), cr | t1);
        // 500 ticks at APB 50 MHz = 10 us.
        assert_eq!(r.timer.next_deadline(), Some(1_000_000 + 10_000));
        r.run_to(1_010_000);
        assert!(r.rec.level(0));
        // ast2600_timer_interrupt: status has bit 0; write it back; shutdown via 0x3C.
        assert_eq!(r.rd(REG_IRQ_STATUS) & 1, 1);
        r.wr(REG_IRQ_STATUS, 1);
        r.wr(REG_CTRL_CLEAR, t1);
        assert!(!r.rec.level(0));
        assert_eq!(
            r.rd(REG_CTRL),
            ctrl(1, CTRL_ENABLE),
            "0x3C cleared only channel 0's bits"
        );
        assert_eq!(r.timer.next_deadline(), None);
    }

    #[test]
    fn control_clear_reads_zero_and_stops_channels() {
        let mut r = rig();
        r.wr(chan(3) + CHANNEL_RELOAD, 100);
        r.wr(REG_CTRL, ctrl(3, 0xF) | ctrl(0, 0x7));
        r.wr(REG_CTRL_CLEAR, ctrl(3, CTRL_ENABLE));
        assert_eq!(r.rd(REG_CTRL_CLEAR), 0);
        assert_eq!(r.rd(REG_CTRL), ctrl(3, 0xE) | ctrl(0, 0x7));
    }

    #[test]
    fn timers_4_to_8_live_from_0x40() {
        let mut r = rig();
        r.wr(0x44, 7); // timer 4 = channel 3
        assert_eq!(r.timer.state().channels[3].reload, 7);
        r.wr(0x80 + CHANNEL_RELOAD, 40); // timer 8 = channel 7
        r.wr(0x80 + CHANNEL_MATCH2, 0x1234);
        assert_eq!(r.rd(0x84), 40);
        assert_eq!(r.rd(0x8C), 0x1234);
        assert_eq!(r.timer.state().channels[7].reload, 40);
        r.wr(
            REG_CTRL,
            ctrl(7, CTRL_ENABLE | CTRL_EXTERNAL_CLOCK | CTRL_INTERRUPT),
        );
        assert_eq!(r.timer.next_deadline(), Some(40 * US));
        r.run_to(40 * US);
        assert!(r.rec.level(7));
        assert_eq!(r.rd(REG_IRQ_STATUS), 0x80);
        for n in 0..7 {
            assert!(!r.rec.level(n));
        }
    }

    #[test]
    fn writing_the_count_of_a_running_channel_moves_it() {
        let mut r = rig();
        r.wr(chan(0) + CHANNEL_RELOAD, 1000);
        r.wr(chan(0), 123);
        assert_eq!(r.rd(chan(0)), 1000, "ignored while stopped");
        r.wr(
            REG_CTRL,
            ctrl(0, CTRL_ENABLE | CTRL_EXTERNAL_CLOCK | CTRL_INTERRUPT),
        );
        r.clock.set(100 * US);
        r.wr(chan(0), 50);
        assert_eq!(r.rd(chan(0)), 50);
        assert_eq!(r.timer.next_deadline(), Some(150 * US));
    }

    #[test]
    fn a_new_reload_applies_from_the_next_period() {
        let mut r = rig();
        r.wr(chan(0) + CHANNEL_RELOAD, 1000);
        r.wr(
            REG_CTRL,
            ctrl(0, CTRL_ENABLE | CTRL_EXTERNAL_CLOCK | CTRL_INTERRUPT),
        );
        r.clock.set(300 * US);
        r.wr(chan(0) + CHANNEL_RELOAD, 100);
        assert_eq!(r.rd(chan(0)), 700, "current pass unchanged");
        assert_eq!(r.timer.next_deadline(), Some(1000 * US));
        r.run_to(1000 * US);
        r.clock.set(1001 * US);
        assert_eq!(r.rd(chan(0)), 100);
        assert_eq!(r.timer.next_deadline(), Some(1101 * US));
    }

    #[test]
    fn switching_clock_keeps_the_count() {
        let mut r = rig();
        r.wr(chan(0) + CHANNEL_RELOAD, 1_000_000);
        r.wr(REG_CTRL, ctrl(0, CTRL_ENABLE | CTRL_EXTERNAL_CLOCK));
        r.clock.set(100 * US);
        assert_eq!(r.rd(chan(0)), 999_900);
        r.wr(REG_CTRL, ctrl(0, CTRL_ENABLE));
        assert_eq!(r.rd(chan(0)), 999_900);
        r.clock.set(101 * US);
        assert_eq!(r.rd(chan(0)), 999_850, "now 50 ticks per microsecond");
    }

    #[test]
    fn late_delivery_raises_once_and_schedules_the_future() {
        let mut r = rig();
        r.wr(chan(0) + CHANNEL_RELOAD, 9);
        r.wr(
            REG_CTRL,
            ctrl(0, CTRL_ENABLE | CTRL_EXTERNAL_CLOCK | CTRL_INTERRUPT),
        );
        r.run_to(1_000 * US + 5 * US);
        assert!(r.rec.level(0));
        assert_eq!(r.rec.changes(), vec![(0, true)]);
        let next = r.timer.next_deadline().unwrap();
        assert!(next > 1_005 * US);
        assert_eq!(next, 1_009 * US, "zero every 10 ticks: 9, 19, ..., 1009");
    }

    #[test]
    fn status_is_caught_up_when_polled() {
        let mut r = rig();
        r.wr(chan(0) + CHANNEL_RELOAD, 10);
        r.wr(
            REG_CTRL,
            ctrl(0, CTRL_ENABLE | CTRL_EXTERNAL_CLOCK | CTRL_INTERRUPT),
        );
        r.clock.set(50 * US); // no on_time call
        assert_eq!(r.rd(REG_IRQ_STATUS), 1);
    }

    #[test]
    fn zero_reload_does_not_storm() {
        let mut r = rig();
        r.wr(
            REG_CTRL,
            ctrl(0, CTRL_ENABLE | CTRL_EXTERNAL_CLOCK | CTRL_INTERRUPT),
        );
        assert_eq!(r.timer.next_deadline(), None);
        r.wr(chan(0) + CHANNEL_RELOAD, 3);
        assert_eq!(
            r.timer.next_deadline(),
            Some(3 * US),
            "a reload starts a stuck counter"
        );
    }

    #[test]
    fn unknown_offsets_read_zero_and_every_width_is_accepted() {
        let mut r = rig();
        r.wr(REG_RESERVED_38, 0x55);
        assert_eq!(r.rd(REG_RESERVED_38), 0x55);
        assert_eq!(r.rd(0x90), 0);
        r.wr(0x100, 1);
        assert_eq!(r.timer.unimplemented.reported(), 4);
        r.wr(chan(0) + CHANNEL_RELOAD, 0x1122_3344);
        assert_eq!(r.timer.read(chan(0) + CHANNEL_RELOAD + 2, 2), 0x1122);
        r.timer.write(chan(0) + CHANNEL_RELOAD + 1, 1, 0xAA);
        assert_eq!(r.rd(chan(0) + CHANNEL_RELOAD), 0x1122_AA44);
        for off in (0..0x120u64).chain([u64::MAX - 2]) {
            for size in [1u8, 2, 4, 8] {
                r.timer.read(off, size);
                r.timer.write(off, size, u64::MAX);
            }
        }
        r.clock.set(u64::MAX);
        r.timer.next_deadline();
        r.timer.on_time(u64::MAX);
        r.timer.read(0, 4);
    }

    #[test]
    fn reset_lowers_lines_and_state_round_trips() {
        let mut r = rig();
        r.wr(chan(0) + CHANNEL_RELOAD, 5);
        r.wr(REG_CTRL, ctrl(0, 0x7));
        r.run_to(5 * US);
        assert!(r.rec.level(0));
        let s = r.timer.state();
        let rec = LevelRecorder::new();
        let irqs = std::array::from_fn(|n| rec.line(n as u32));
        let copy = AspeedTimer::from_state(&s, r.clock.clone(), EXT_HZ, APB_HZ, irqs);
        assert_eq!(copy.state(), s);
        assert_eq!(copy.next_deadline(), r.timer.next_deadline());
        assert!(rec.level(0), "restored status raises the line");
        r.timer.reset();
        assert!(!r.rec.level(0));
        assert_eq!(r.timer.state(), AspeedTimerState::default());
    }

    // ---- AST2500 ----

    /// The AST2500's APB clock at reset: HPLL 792 MHz / (4 * (SCU08[25:23] + 1)) = / 32.
    const AST2500_APB_HZ: u64 = 24_750_000;
    /// Linux `TIMER_1_CR_ASPEED_ENABLE | TIMER_1_CR_ASPEED_INT` (`t1_enable_val`).
    const T1_ENABLE_VAL: u64 = (CTRL_ENABLE | CTRL_INTERRUPT) as u64;
    /// Linux's clock event period: `DIV_ROUND_CLOSEST(tick_rate, HZ)`, HZ = 100.
    const PERIOD: u64 = 247_500;

    fn rig2500() -> Rig {
        let clock = Rc::new(ManualClock::new());
        let rec = LevelRecorder::new();
        let irqs = std::array::from_fn(|n| rec.line(n as u32));
        let timer = AspeedTimer::new(clock.clone(), EXT_HZ, AST2500_APB_HZ, irqs)
            .with_variant(Variant::Ast2500);
        Rig { timer, clock, rec }
    }

    /// Nanoseconds for `ticks` AST2500 APB ticks, rounded up as the model rounds.
    fn apb_ns(ticks: u64) -> u64 {
        (u128::from(ticks) * NS_PER_S).div_ceil(u128::from(AST2500_APB_HZ)) as u64
    }

    impl Rig {
        /// Levels line `n` took, in order.
        fn edges(&self, n: u32) -> Vec<bool> {
            self.rec
                .changes()
                .into_iter()
                .filter(|&(line, _)| line == n)
                .map(|(_, level)| level)
                .collect()
        }

        /// Linux `fttmr010_common_init` on the `aspeed,ast2400-timer` path (AST2500 DT):
        /// timer 2 free running from ~0 as the clocksource, timer 1 zeroed for clock events.
        fn linux_aspeed_init(&mut self) {
            self.wr(REG_CTRL, ctrl(1, CTRL_ENABLE)); // TIMER_2_CR_ASPEED_ENABLE
            self.wr(chan(1), 0);
            self.wr(chan(1) + CHANNEL_MATCH1, 0);
            self.wr(chan(1) + CHANNEL_MATCH2, 0);
            self.wr(chan(1) + CHANNEL_RELOAD, 0xFFFF_FFFF);
            for reg in [
                CHANNEL_COUNT,
                CHANNEL_RELOAD,
                CHANNEL_MATCH1,
                CHANNEL_MATCH2,
            ] {
                self.wr(chan(0) + reg, 0);
            }
        }

        /// `fttmr010_timer_shutdown`: clear timer 1's bits by read-modify-write of 0x30.
        fn linux_shutdown(&mut self) {
            let cr = self.rd(REG_CTRL);
            self.wr(REG_CTRL, cr & !T1_ENABLE_VAL);
        }

        /// `fttmr010_timer_set_next_event` on Aspeed: stop, LOAD = cycles, start.
        fn linux_set_next_event(&mut self, cycles: u64) {
            self.linux_shutdown();
            self.wr(chan(0) + CHANNEL_RELOAD, cycles);
            let cr = self.rd(REG_CTRL);
            self.wr(REG_CTRL, cr | T1_ENABLE_VAL);
        }
    }

    #[test]
    fn ast2500_resets_to_zero_with_control_registers_2_and_3() {
        let mut r = rig2500();
        assert_eq!(r.timer.variant(), Variant::Ast2500);
        assert_eq!(r.timer.state(), AspeedTimerState::new(Variant::Ast2500));
        for off in (0..REGS_END).step_by(4) {
            assert_eq!(r.rd(off), 0, "offset {off:#x}");
        }
        // 0x34 is a plain read/write register, not a write-1-to-clear status.
        r.wr(REG_CTRL2, 0x1234_5678);
        assert_eq!(r.rd(REG_CTRL2), 0x1234_5678);
        r.timer.write(REG_CTRL2 + 1, 1, 0xAB);
        assert_eq!(r.rd(REG_CTRL2), 0x1234_AB78);
        assert_eq!(r.timer.state().ctrl2, 0x1234_AB78);
        assert_eq!(r.timer.state().irq_status, 0);
        assert_eq!(r.rd(REG_CTRL3), 0);
        assert_eq!(
            r.timer.unimplemented.reported(),
            0,
            "0x34 and 0x38 are implemented"
        );
        assert_eq!(r.timer.next_deadline(), None);
    }

    #[test]
    fn ast2500_control_register_3_gates_the_control_clear() {
        let mut r = rig2500();
        let both = ctrl(0, 0x7) | ctrl(1, CTRL_ENABLE);
        r.wr(REG_CTRL, both);
        r.wr(REG_CTRL_CLEAR, ctrl(0, CTRL_ENABLE));
        assert_eq!(
            r.rd(REG_CTRL),
            both,
            "0x3C ignored while the clear function is off"
        );
        // QEMU's encoding: the command in bits 8:1.
        r.wr(
            REG_CTRL3,
            u64::from(CTRL3_CMD_ENABLE_CLEAR << CTRL3_CMD_SHIFT),
        );
        assert_eq!(r.rd(REG_CTRL3), u64::from(CTRL3_CLEAR_ENABLED));
        r.wr(REG_CTRL_CLEAR, ctrl(0, CTRL_ENABLE));
        assert_eq!(r.rd(REG_CTRL), ctrl(0, 0x6) | ctrl(1, CTRL_ENABLE));
        assert_eq!(r.rd(REG_CTRL_CLEAR), 0, "write-only");
        r.wr(REG_CTRL3, 0x1234);
        assert_eq!(r.rd(REG_CTRL3), 1, "other values are no command");
        r.wr(
            REG_CTRL3,
            u64::from(CTRL3_CMD_DISABLE_CLEAR << CTRL3_CMD_SHIFT),
        );
        assert_eq!(r.rd(REG_CTRL3), 0);
        r.wr(REG_CTRL_CLEAR, ctrl(1, CTRL_ENABLE));
        assert_eq!(r.rd(REG_CTRL), ctrl(0, 0x6) | ctrl(1, CTRL_ENABLE));
        // The plain byte values are accepted too.
        r.wr(REG_CTRL3, u64::from(CTRL3_CMD_ENABLE_CLEAR));
        assert_eq!(r.rd(REG_CTRL3), 1);
        r.wr(REG_CTRL_CLEAR, ctrl(1, CTRL_ENABLE));
        assert_eq!(r.rd(REG_CTRL), ctrl(0, 0x6));
        r.wr(REG_CTRL3, u64::from(CTRL3_CMD_DISABLE_CLEAR));
        assert_eq!(r.rd(REG_CTRL3), 0);
        assert_eq!(r.timer.state().ctrl3, 0);
    }

    #[test]
    fn linux_ast2500_periodic_clockevent_toggles_the_line_per_tick() {
        let mut r = rig2500();
        r.linux_aspeed_init();
        let t0 = 1_000_000;
        r.clock.set(t0);
        // fttmr010_timer_set_periodic: stop, LOAD = period, start (no match registers).
        r.linux_shutdown();
        r.wr(chan(0) + CHANNEL_RELOAD, PERIOD);
        let cr = r.rd(REG_CTRL);
        r.wr(REG_CTRL, cr | T1_ENABLE_VAL);
        assert_eq!(r.rd(REG_CTRL), ctrl(0, 0x5) | ctrl(1, CTRL_ENABLE));
        // The first tick after PERIOD counts (10 ms at 24.75 MHz), then every PERIOD + 1.
        let ticks = [PERIOD, 2 * PERIOD + 1, 3 * PERIOD + 2, 4 * PERIOD + 3];
        assert_eq!(apb_ns(PERIOD), 10_000_000);
        for (i, &t) in ticks.iter().enumerate() {
            let due = t0 + apb_ns(t);
            assert_eq!(r.timer.next_deadline(), Some(due), "tick {i}");
            r.run_to(due - 1);
            assert_eq!(r.edges(0).len(), i, "nothing before tick {i}");
            r.run_to(due);
            // fttmr010_timer_interrupt acks nothing in the timer block.
        }
        assert_eq!(
            r.edges(0),
            vec![true, false, true, false],
            "one edge per expiry"
        );
        assert!(!r.rec.level(0));
        assert_eq!(r.timer.state().irq_status, 0, "no status register");
        assert_eq!(r.rd(REG_CTRL2), 0);
        assert!(
            r.edges(1).is_empty(),
            "the clocksource channel is far from zero"
        );
    }

    #[test]
    fn linux_ast2500_oneshot_clockevent_and_clocksource() {
        let mut r = rig2500();
        r.linux_aspeed_init();
        // fttmr010_timer_set_oneshot: stop, COUNT = 0 (ignored while stopped), LOAD = ~0.
        r.linux_shutdown();
        r.wr(chan(0), 0);
        r.wr(chan(0) + CHANNEL_RELOAD, 0xFFFF_FFFF);
        assert_eq!(
            r.timer.next_deadline().map(|d| d > 100_000_000_000),
            Some(true)
        );
        let t0 = 2_000_000;
        r.clock.set(t0);
        r.linux_set_next_event(1000);
        assert_eq!(r.timer.next_deadline(), Some(t0 + apb_ns(1000)));
        let t1 = t0 + apb_ns(1000);
        r.run_to(t1);
        assert_eq!(r.edges(0), vec![true]);
        // The handler programs the next event: no edge of its own.
        r.linux_set_next_event(5000);
        assert_eq!(r.edges(0), vec![true]);
        assert_eq!(r.timer.next_deadline(), Some(t1 + apb_ns(5000)));
        r.run_to(t1 + apb_ns(5000));
        assert_eq!(
            r.edges(0),
            vec![true, false],
            "the next expiry is the falling edge"
        );
        // Shut down: only the clocksource's wrap, 2^32 ticks (173 s) after it started, is left.
        r.linux_shutdown();
        let wrap = r
            .timer
            .next_deadline()
            .expect("timer 2 reaches zero eventually");
        assert_eq!(wrap, apb_ns(0xFFFF_FFFF));
        // Clocksource / sched_clock: ~TIMER2_COUNT counts PCLK ticks since LOAD = ~0 at t = 0.
        let now = 3_000_000_000;
        r.clock.set(now);
        let elapsed = !(r.rd(chan(1)) as u32);
        assert_eq!(u64::from(elapsed), now * AST2500_APB_HZ / 1_000_000_000);
    }

    #[test]
    fn ast2500_late_delivery_toggles_once() {
        let mut r = rig2500();
        r.wr(chan(0) + CHANNEL_RELOAD, 9);
        r.wr(
            REG_CTRL,
            ctrl(0, CTRL_ENABLE | CTRL_EXTERNAL_CLOCK | CTRL_INTERRUPT),
        );
        r.run_to(1_000 * US + 5 * US);
        assert_eq!(r.edges(0), vec![true], "100 periods passed, one edge");
        assert_eq!(r.timer.next_deadline(), Some(1_009 * US));
        r.run_to(1_009 * US);
        assert_eq!(r.edges(0), vec![true, false]);
        // Nothing the AST2600 would use to clear it does anything here.
        r.wr(REG_IRQ_STATUS, 1);
        r.wr(REG_CTRL_CLEAR, 0xF);
        r.run_to(1_019 * US);
        assert!(r.rec.level(0));
        assert_eq!(r.timer.state().irq_levels, 1);
    }

    #[test]
    fn uboot_ast2500_tick_timer_counts_the_1mhz_clock() {
        let mut r = rig2500();
        // ast_timer_probe: timer 1 reload ~0, stop, start on the fixed 1 MHz clock.
        r.wr(chan(0) + CHANNEL_RELOAD, 0xFFFF_FFFF);
        let cr = r.rd(REG_CTRL);
        r.wr(REG_CTRL, cr & !u64::from(CTRL_ENABLE));
        let cr = r.rd(REG_CTRL);
        r.wr(REG_CTRL, cr | u64::from(CTRL_ENABLE | CTRL_EXTERNAL_CLOCK));
        r.clock.set(1234 * US + 999);
        // ast_timer_get_count: AST_TMC_RELOAD_VAL - status.
        assert_eq!(0xFFFF_FFFF - r.rd(chan(0)), 1234);
        r.run_to(3_600_000_000_000);
        assert!(r.rec.changes().is_empty(), "no interrupt within an hour");
    }

    #[test]
    fn clock_select_is_the_same_on_both_generations() {
        for variant in [Variant::Ast2600, Variant::Ast2500] {
            let mut r = rig();
            r.timer = AspeedTimer::new(
                r.clock.clone(),
                EXT_HZ,
                APB_HZ,
                std::array::from_fn(|n| r.rec.line(n as u32)),
            )
            .with_variant(variant);
            r.wr(chan(0) + CHANNEL_RELOAD, 0xFFFF_FFFF);
            r.wr(chan(1) + CHANNEL_RELOAD, 0xFFFF_FFFF);
            r.wr(
                REG_CTRL,
                ctrl(0, CTRL_ENABLE | CTRL_EXTERNAL_CLOCK) | ctrl(1, CTRL_ENABLE),
            );
            r.clock.set(1_000_000);
            assert_eq!(
                r.rd(chan(0)),
                0xFFFF_FFFF - 1_000,
                "{variant:?} external 1 MHz"
            );
            assert_eq!(r.rd(chan(1)), 0xFFFF_FFFF - 50_000, "{variant:?} APB");
        }
    }

    #[test]
    fn ast2500_state_round_trips_and_reset_keeps_the_generation() {
        let mut r = rig2500();
        r.wr(chan(0) + CHANNEL_RELOAD, 5);
        r.wr(REG_CTRL2, 0x55);
        r.wr(REG_CTRL3, u64::from(CTRL3_CMD_ENABLE_CLEAR << 1));
        r.wr(REG_CTRL, ctrl(0, 0x7));
        r.run_to(5 * US);
        assert!(r.rec.level(0));
        let s = r.timer.state();
        assert_eq!(
            (s.variant, s.irq_levels, s.ctrl2, s.ctrl3),
            (Variant::Ast2500, 1, 0x55, 1)
        );
        let rec = LevelRecorder::new();
        let irqs = std::array::from_fn(|n| rec.line(n as u32));
        let mut copy = AspeedTimer::from_state(&s, r.clock.clone(), EXT_HZ, APB_HZ, irqs);
        assert_eq!(copy.variant(), Variant::Ast2500);
        assert_eq!(copy.state(), s);
        assert!(rec.level(0), "a high level is restored");
        assert_eq!(copy.next_deadline(), r.timer.next_deadline());
        copy.on_time(11 * US);
        assert!(!rec.level(0), "the copy toggles on");
        r.timer.reset();
        assert!(!r.rec.level(0));
        assert_eq!(r.timer.state(), AspeedTimerState::new(Variant::Ast2500));
        assert_eq!(r.timer.variant(), Variant::Ast2500);
    }

    #[test]
    fn with_variant_resets_registers_and_lowers_lines() {
        let mut r = rig();
        assert_eq!(r.timer.variant(), Variant::Ast2600);
        r.wr(chan(0) + CHANNEL_RELOAD, 5);
        r.wr(REG_CTRL, ctrl(0, 0x7));
        r.run_to(5 * US);
        assert!(r.rec.level(0));
        r.timer = AspeedTimer::from_state(
            &r.timer.state(),
            r.clock.clone(),
            EXT_HZ,
            APB_HZ,
            std::array::from_fn(|n| r.rec.line(n as u32)),
        )
        .with_variant(Variant::Ast2500);
        assert!(!r.rec.level(0));
        assert_eq!(r.timer.state(), AspeedTimerState::new(Variant::Ast2500));
        r.timer = AspeedTimer::from_state(
            &r.timer.state(),
            r.clock.clone(),
            EXT_HZ,
            APB_HZ,
            std::array::from_fn(|n| r.rec.line(n as u32)),
        )
        .with_variant(Variant::Ast2600);
        assert_eq!(r.timer.state(), AspeedTimerState::default());
    }

    // ---- Snapshots ----

    /// Every register of the block (0x00..0x90) as a driver reads it.
    fn registers(r: &mut Rig) -> Vec<u64> {
        (0..REGS_END).step_by(4).map(|off| r.rd(off)).collect()
    }

    fn line_levels(r: &Rig) -> Vec<bool> {
        (0..CHANNELS as u32).map(|n| r.rec.level(n)).collect()
    }

    /// The next `events` deadlines: when each comes, what the status register and the lines
    /// show, after which the status is acknowledged as Linux's handler does.
    fn trace(r: &mut Rig, events: usize) -> Vec<(u64, u64, Vec<bool>)> {
        (0..events)
            .map(|_| {
                let t = r.timer.next_deadline().expect("a channel is armed");
                r.run_to(t);
                let status = r.rd(REG_IRQ_STATUS);
                let levels = line_levels(r);
                r.wr(REG_IRQ_STATUS, status);
                (t, status, levels)
            })
            .collect()
    }

    /// An AST2600 block with three channels running at 1.5 ms: channel 0 a 1 MHz periodic
    /// interrupt that has fired, channel 1 an APB-clocked match that has fired, channel 4 a
    /// match yet to come.
    fn running_block() -> Rig {
        let mut r = rig();
        r.wr(chan(0) + CHANNEL_RELOAD, 1000);
        r.wr(chan(1) + CHANNEL_RELOAD, 0xFFFF_FFFF);
        r.wr(chan(1) + CHANNEL_MATCH1, 0xFFFF_FFFF - 50_000);
        r.wr(chan(4) + CHANNEL_RELOAD, 5000);
        r.wr(chan(4) + CHANNEL_MATCH2, 2000);
        r.wr(
            REG_CTRL,
            ctrl(0, CTRL_ENABLE | CTRL_EXTERNAL_CLOCK | CTRL_INTERRUPT)
                | ctrl(1, CTRL_ENABLE)
                | ctrl(4, CTRL_ENABLE | CTRL_EXTERNAL_CLOCK),
        );
        r.run_to(1000 * US);
        r.run_to(1500 * US);
        assert_eq!(r.rd(REG_IRQ_STATUS), 0b11, "channels 0 and 1 fired");
        r
    }

    #[test]
    fn saved_state_counts_and_fires_at_the_same_times() {
        let mut r = running_block();
        let saved = r
            .timer
            .save_state()
            .expect("the timer block saves its state");
        assert_eq!(
            (saved.kind.as_str(), saved.version),
            (STATE_KIND, STATE_VERSION)
        );
        let mut t = rig();
        t.clock.set(1500 * US);
        t.timer.load_state(&saved).unwrap();
        assert_eq!(line_levels(&t), line_levels(&r));
        assert!(t.rec.level(0) && t.rec.level(1) && !t.rec.level(4));
        assert_eq!(t.timer.save_state(), Some(saved));
        let regs = registers(&mut r);
        assert_eq!(regs[0], 1000 - 499, "reloaded at 1001 us, 499 ticks ago");
        assert_eq!(registers(&mut t), regs);
        let original = trace(&mut r, 6);
        assert!(original
            .iter()
            .any(|(at, status, _)| *at == 3000 * US && status & 0x10 != 0));
        assert_eq!(trace(&mut t, 6), original);
    }

    #[test]
    fn saved_ast2500_state_toggles_at_the_same_times() {
        let mut r = rig2500();
        r.wr(chan(2) + CHANNEL_RELOAD, 24_750);
        r.wr(REG_CTRL2, 0x55);
        r.wr(REG_CTRL3, u64::from(CTRL3_CMD_ENABLE_CLEAR));
        r.wr(REG_CTRL, ctrl(2, T1_ENABLE_VAL as u32));
        r.run_to(apb_ns(24_750));
        assert!(r.rec.level(2), "the first expiry raised the line");
        let saved = r.timer.save_state().unwrap();
        let mut t = rig2500();
        t.clock.set(r.clock.now_ns());
        t.timer.load_state(&saved).unwrap();
        assert!(t.rec.level(2));
        assert_eq!(t.timer.save_state(), Some(saved));
        assert_eq!(registers(&mut t), registers(&mut r));
        for _ in 0..3 {
            let at = r.timer.next_deadline();
            assert_eq!(t.timer.next_deadline(), at);
            r.run_to(at.unwrap());
            t.run_to(at.unwrap());
            assert_eq!(line_levels(&t), line_levels(&r));
        }
        assert!(!t.rec.level(2), "four expiries: back low");
    }

    #[test]
    fn a_state_of_another_kind_version_or_generation_is_refused() {
        let saved = running_block().timer.save_state().unwrap();
        let mut r = rig2500();
        r.wr(chan(0) + CHANNEL_RELOAD, 77);
        let before = r.timer.state();
        let changes = r.rec.changes();
        let wrong_kind = DeviceState {
            kind: "aspeed-wdt".into(),
            ..saved.clone()
        };
        let wrong_version = DeviceState {
            version: STATE_VERSION + 1,
            ..saved.clone()
        };
        for bad in [&wrong_kind, &wrong_version] {
            assert!(r.timer.load_state(bad).is_err());
        }
        let e = r.timer.load_state(&saved).unwrap_err();
        assert!(e.0.contains("Ast2600"), "{e}");
        assert_eq!(r.timer.state(), before, "left unchanged");
        assert_eq!(r.rec.changes(), changes, "the lines are not touched");
        // Loading an idle state lowers lines the old state had high.
        let mut t = running_block();
        t.timer
            .load_state(&rig().timer.save_state().unwrap())
            .unwrap();
        assert_eq!(line_levels(&t), vec![false; CHANNELS]);
    }
}
