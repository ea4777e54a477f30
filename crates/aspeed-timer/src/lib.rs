//! The AST2600 timer block: eight 32-bit down-counting channels derived from the Faraday
//! FTTMR010, as Linux `drivers/clocksource/timer-fttmr010.c` (aspeed/ast2600 variants) and
//! QEMU `hw/timer/aspeed_timer.c` (`aspeed.timer-ast2600`) see it.
//!
//! Channel `n` (0-based) has four registers at `0x10 * n` for channels 0-2 (timers 1-3) and at
//! `0x40 + 0x10 * (n - 3)` for channels 3-7 (timers 4-8, 0x40..=0x8C): count, reload, match 1,
//! match 2 (QEMU `aspeed_timer_read`: `0x40 ... 0x8c` is `timers[(offset >> 4) - 1]`; the
//! control register occupies 0x30, where a fourth channel would otherwise sit). The control
//! register at 0x30 holds four bits per channel (enable, external 1 MHz clock, interrupt
//! enable, pulse); 0x34 is the AST2600 interrupt status (one bit per channel, write 1 to
//! clear); a write to 0x3C clears the control bits written as 1.
//!
//! Counting is computed from the injected [`Clock`] when read: nothing runs per tick. An
//! enabled channel loads its reload value and counts down one per tick; after reaching zero it
//! reloads on the next tick (period `reload + 1` ticks). Which events interrupt follows QEMU:
//! the counter reaching a match value `m` with `0 < m < reload`, and the counter reaching zero
//! when the channel's interrupt-enable bit is set or either match register is zero. An event
//! sets the channel's status bit, and each channel's [`IrqLine`] is high while its status bit
//! is set (level-triggered; Linux's AST2600 handler clears the bit by writing it to 0x34).
#![deny(missing_docs)]

use std::rc::Rc;

use bus::{merge_subword, subword, Clock, Device, IrqLine, UnimplementedLog};

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
/// Reserved on the AST2600 (FTTMR010 interrupt mask; AST2500 control 3): Linux `TIMER_INTR_MASK`.
pub const REG_RESERVED_38: u64 = 0x38;
/// AST2600 control clear register (TMC3C): 1 bits clear the control bits: Linux `AST2600_TIMER_CR_CLR`.
pub const REG_CTRL_CLEAR: u64 = 0x3C;
/// Size of the register block used by the channels: QEMU maps 0x1000, channels end at 0x90.
pub const REGS_END: u64 = 0x90;

/// Control bits per channel: QEMU `TIMER_CTRL_BITS`.
pub const CTRL_BITS_PER_CHANNEL: u32 = 4;
/// Control bit (shifted by 4 * channel): count enable: Linux `TIMER_1_CR_ASPEED_ENABLE`.
pub const CTRL_ENABLE: u32 = 1 << 0;
/// Control bit: count the external 1 MHz clock instead of the APB clock: Linux `TIMER_1_CR_ASPEED_CLOCK`.
pub const CTRL_EXTERNAL_CLOCK: u32 = 1 << 1;
/// Control bit: interrupt when the counter reaches zero: Linux `TIMER_1_CR_ASPEED_INT`, QEMU `op_overflow_interrupt`.
pub const CTRL_INTERRUPT: u32 = 1 << 2;
/// Control bit: pulse output (timers 5-8): QEMU `op_pulse_enable`.
pub const CTRL_PULSE: u32 = 1 << 3;

const NS_PER_S: u128 = 1_000_000_000;

/// One channel's registers and counting anchor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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

/// The timer block's registers: a plain value that can be saved and restored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AspeedTimerState {
    /// Control register (0x30).
    pub ctrl: u32,
    /// Interrupt status (0x34), one bit per channel.
    pub irq_status: u32,
    /// The reserved register at 0x38 (stored, no effect).
    pub reserved_38: u32,
    /// The eight channels.
    pub channels: [ChannelState; CHANNELS],
}

/// The AST2600 timer block.
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
    /// A timer block in its reset state. `external_hz` is the external clock a channel counts
    /// when its external-clock bit is set (1 MHz on the AST2600), `apb_hz` the APB (PCLK) rate
    /// it counts otherwise; `irqs[n]` is channel n's interrupt output.
    pub fn new(clock: Rc<dyn Clock>, external_hz: u64, apb_hz: u64, irqs: [IrqLine; 8]) -> Self {
        Self::from_state(
            &AspeedTimerState::default(),
            clock,
            external_hz,
            apb_hz,
            irqs,
        )
    }

    /// A timer block restored from `state`; interrupt lines whose status bit is set are raised.
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
        for (n, line) in timer.irqs.iter().enumerate() {
            if timer.state.irq_status & (1 << n) != 0 {
                line.raise();
            }
        }
        timer
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

    fn drive_lines(&self, old_status: u32) {
        let changed = old_status ^ self.state.irq_status;
        for (n, line) in self.irqs.iter().enumerate() {
            if changed & (1 << n) != 0 {
                line.set(self.state.irq_status & (1 << n) != 0);
            }
        }
    }

    /// Delivers every event due at `now`: each channel with a due event sets its status bit
    /// once (however many periods have passed).
    fn run_until(&mut self, now: u64) {
        let old = self.state.irq_status;
        for n in 0..CHANNELS {
            let Some(deadline) = self.channel_deadline(n) else {
                continue;
            };
            if deadline <= now {
                self.state.irq_status |= 1 << n;
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

    fn read_reg(&self, reg: u64, now: u64) -> Option<u32> {
        match decode(reg) {
            Target::Channel(n, CHANNEL_COUNT) => Some(self.count(n, now)),
            Target::Channel(n, CHANNEL_RELOAD) => Some(self.state.channels[n].reload),
            Target::Channel(n, CHANNEL_MATCH1) => Some(self.state.channels[n].matches[0]),
            Target::Channel(n, _) => Some(self.state.channels[n].matches[1]),
            Target::Block(REG_CTRL) => Some(self.state.ctrl),
            Target::Block(REG_IRQ_STATUS) => Some(self.state.irq_status),
            Target::Block(REG_CTRL_CLEAR) => Some(0),
            Target::Block(REG_RESERVED_38) => Some(self.state.reserved_38),
            Target::Block(_) => None,
        }
    }

    fn read32(&mut self, offset: u64, size: u8) -> u64 {
        let now = self.clock.now_ns();
        self.run_until(now);
        let reg = offset & !3;
        if reg == REG_RESERVED_38 {
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
        let current = match reg {
            // Command registers: unwritten bytes are zero, not the register's value.
            REG_IRQ_STATUS | REG_CTRL_CLEAR => 0,
            _ => self.read_reg(reg, now).unwrap_or(0),
        };
        let v = merge_subword(current, offset, size, value);
        match decode(reg) {
            Target::Channel(n, r) => self.write_channel(n, r, v, now),
            Target::Block(REG_CTRL) => self.write_ctrl(v, now),
            Target::Block(REG_CTRL_CLEAR) => self.write_ctrl(self.state.ctrl & !v, now),
            Target::Block(REG_IRQ_STATUS) => {
                let old = self.state.irq_status;
                self.state.irq_status &= !v;
                self.drive_lines(old);
            }
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
        let old = self.state.irq_status;
        self.state = AspeedTimerState::default();
        self.drive_lines(old);
    }

    fn next_deadline(&self) -> Option<u64> {
        (0..CHANNELS).filter_map(|n| self.channel_deadline(n)).min()
    }

    fn on_time(&mut self, now_ns: u64) {
        self.run_until(now_ns);
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
}
