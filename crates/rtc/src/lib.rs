//! The Aspeed real-time clock (AST2400, AST2500 and AST2600: one block, one layout), as Linux
//! `drivers/rtc/rtc-aspeed.c` (mainline, and AspeedTech's tree, which adds the alarm), the
//! Aspeed SDK's `rtc-ast.c` / `regs-rtc.h` (the control and alarm status bits) and QEMU
//! `hw/rtc/aspeed_rtc.c` see it. u-boot has no driver for it.
//!
//! The block is 0x18 bytes (device tree `reg = <0x1e781000 0x18>` on the AST2500 and AST2600).
//! The three SoC generations share it unchanged (Linux matches all three compatibles with one
//! driver and no per-SoC data), so the model takes no variant parameter.
//!
//! # The counter
//!
//! The calendar counter is computed from the injected [`Clock`] when read: the state holds an
//! anchor, a calendar time in seconds since the Unix epoch (UTC) that the counter held at a
//! given virtual time, and the counter ticks once every 10^9 virtual ns after it. `RTC_TIME`
//! reads the day of the month, hour, minute and second, `RTC_YEAR` the century, year of the
//! century and month, packed as Linux's `aspeed_rtc_read_time` unpacks them. The conversion
//! between seconds and the proleptic Gregorian calendar is this crate's own ([`DateTime`]),
//! exact for every year the registers can hold (0 to 3199) and beyond.
//!
//! While `RTC_CTRL` bit 0 (enable) is clear the counter stands still (Linux's `read_time`
//! then fails with `-EINVAL`); setting it starts the counter from the value it held.
//! `RTC_TIME` and `RTC_YEAR` take writes only while `RTC_CTRL` bit 1 (unlock) is set, as
//! Linux's `set_time` does it (unlock, write time, write year, lock and enable). Each write
//! loads the counter at once from the value written and, for the other register, the value
//! written since the unlock or else the counter's current value; out-of-range fields carry
//! over (day 31 of a 30-day month is the 1st of the next, month 0 is December of the year
//! before), as QEMU's `mktimegm` does. Locking after such writes queues the new time for the
//! host ([`AspeedRtc::take_guest_sets`]).
//!
//! # The alarm (AspeedTech's driver and the SDK; QEMU does not model it)
//!
//! `RTC_ALARM` holds a day / hour / minute / second pattern laid out as `RTC_TIME`. Control bits
//! 3 to 6 enable the comparison of each field. In independent mode (control bit 2 clear) each
//! enabled field sets its own status bit (0 second, 1 minute, 2 hour, 3 day) on every tick at
//! which the counter's field equals it; in combination mode (bit 2 set, the SDK's default) the
//! enabled fields must all match and set status bit 0 (AspeedTech's `RTC_ALARM_SEC_CB_STATUS`).
//! Control bit 7 enables the one-second interrupt: status bit 4 on every tick. Status bits are
//! written 1 to clear (both drivers' interrupt handlers write back what they read). The one
//! interrupt output, `irq`, is high while any status bit is set. Comparisons happen only at
//! ticks of a running counter (not at the instant a value is loaded) and are delivered through
//! [`Device::next_deadline`] / [`Device::on_time`] (and before every register access), so a
//! late delivery still latches a match that passed.
//!
//! The datasheet's exact comparison timing is not public: whether a field alarm fires on each
//! matching tick or only on entering the matching value is a guess (each tick: after clearing a
//! minute alarm's status during the matching minute, it fires again at the next second).
//!
//! # Left out
//!
//! The RTC sits in the battery-backed domain: a SoC reset ([`Device::reset`]) leaves it
//! unchanged (QEMU clears it instead). Register 0x0C is reserved (reads 0, reported as
//! unimplemented), and control bits above 7 and status bits above 4 read as zero. There is no
//! day-of-week field, no crystal trimming and no battery-loss flag.
#![deny(missing_docs)]

use std::rc::Rc;

use bus::{
    merge_subword, subword, Clock, Device, DeviceState, IrqLine, StateError, UnimplementedLog,
};
use serde::{Deserialize, Serialize};

/// Counter: day of month, hour, minute, second: Linux `RTC_TIME` (SDK `RTC_CNTR_STS_1`).
pub const REG_TIME: u64 = 0x00;
/// Counter: century, year of the century, month: Linux `RTC_YEAR` (SDK `RTC_CNTR_STS_2`).
pub const REG_YEAR: u64 = 0x04;
/// Alarm pattern, laid out as [`REG_TIME`]: AspeedTech Linux `RTC_ALARM`.
pub const REG_ALARM: u64 = 0x08;
/// Control: Linux `RTC_CTRL` (SDK `RTC_CONTROL`).
pub const REG_CTRL: u64 = 0x10;
/// Alarm and one-second interrupt status, write 1 to clear: AspeedTech Linux `RTC_ALARM_STATUS`.
pub const REG_ALARM_STATUS: u64 = 0x14;
/// Size of the register block: device tree `reg = <0x1e781000 0x18>`.
pub const REGS_SIZE: u64 = 0x18;

/// Control: the counter runs: Linux `RTC_ENABLE`.
pub const CTRL_ENABLE: u32 = 1 << 0;
/// Control: `RTC_TIME` and `RTC_YEAR` take writes: Linux `RTC_UNLOCK` (SDK `RTC_LOCK`).
pub const CTRL_UNLOCK: u32 = 1 << 1;
/// Control: combination alarm mode (all enabled fields must match): AspeedTech Linux
/// `RTC_ALARM_MODE` (SDK `ALARM_MODE_SELECT`).
pub const CTRL_ALARM_MODE: u32 = 1 << 2;
/// Control: compare the alarm's second: AspeedTech Linux `RTC_ALARM_SEC_ENABLE`.
pub const CTRL_ALARM_SEC_ENABLE: u32 = 1 << 3;
/// Control: compare the alarm's minute: AspeedTech Linux `RTC_ALARM_MIN_ENABLE`.
pub const CTRL_ALARM_MIN_ENABLE: u32 = 1 << 4;
/// Control: compare the alarm's hour: AspeedTech Linux `RTC_ALARM_HOUR_ENABLE`.
pub const CTRL_ALARM_HOUR_ENABLE: u32 = 1 << 5;
/// Control: compare the alarm's day of month: AspeedTech Linux `RTC_ALARM_MDAY_ENABLE`.
pub const CTRL_ALARM_MDAY_ENABLE: u32 = 1 << 6;
/// Control: interrupt every second: SDK `ENABLE_SEC_INTERRUPT`.
pub const CTRL_SEC_INTERRUPT: u32 = 1 << 7;
/// Control: the four alarm field enables: SDK `ENABLE_ALL_ALARM` less the mode bit.
pub const CTRL_ALARM_ENABLES: u32 =
    CTRL_ALARM_SEC_ENABLE | CTRL_ALARM_MIN_ENABLE | CTRL_ALARM_HOUR_ENABLE | CTRL_ALARM_MDAY_ENABLE;
/// Control: the bits the model keeps (the others read as zero).
pub const CTRL_MASK: u32 = 0xFF;

/// Status: second alarm, or the combined alarm in combination mode: AspeedTech Linux
/// `RTC_ALARM_SEC_CB_STATUS` (SDK `SEC_ALARM_STATUS`).
pub const STATUS_ALARM_SEC: u32 = 1 << 0;
/// Status: minute alarm: AspeedTech Linux `RTC_ALARM_MIN_STATUS`.
pub const STATUS_ALARM_MIN: u32 = 1 << 1;
/// Status: hour alarm: AspeedTech Linux `RTC_ALARM_HOUR_STATUS`.
pub const STATUS_ALARM_HOUR: u32 = 1 << 2;
/// Status: day-of-month alarm: AspeedTech Linux `RTC_ALARM_MDAY_STATUS`.
pub const STATUS_ALARM_MDAY: u32 = 1 << 3;
/// Status: one-second interrupt: SDK `SEC_INTERRUPT_STATUS`.
pub const STATUS_SEC_INTERRUPT: u32 = 1 << 4;
/// Status: the bits that exist.
pub const STATUS_MASK: u32 = 0x1F;

/// `RTC_TIME` / `RTC_ALARM`: day of month field shift (5 bits): SDK `SET_DAY_VAL`.
pub const TIME_MDAY_SHIFT: u32 = 24;
/// `RTC_TIME` / `RTC_ALARM`: hour field shift (5 bits): SDK `SET_HOUR_VAL`.
pub const TIME_HOUR_SHIFT: u32 = 16;
/// `RTC_TIME` / `RTC_ALARM`: minute field shift (6 bits): SDK `SET_MIN_VAL`.
pub const TIME_MIN_SHIFT: u32 = 8;
/// `RTC_TIME` / `RTC_ALARM`: second field shift (6 bits): SDK `SET_SEC_VAL`.
pub const TIME_SEC_SHIFT: u32 = 0;
/// `RTC_TIME` / `RTC_ALARM`: the field bits (day and hour 0x1f, minute and second 0x3f).
pub const TIME_MASK: u32 = 0x1F1F_3F3F;
/// `RTC_YEAR`: century field shift (5 bits): SDK `SET_CENT_VAL`.
pub const YEAR_CENTURY_SHIFT: u32 = 16;
/// `RTC_YEAR`: year of the century field shift (7 bits): SDK `SET_YEAR_VAL`.
pub const YEAR_YEAR_SHIFT: u32 = 8;
/// `RTC_YEAR`: month field shift (4 bits, 1 = January): SDK `SET_MON_VAL`.
pub const YEAR_MONTH_SHIFT: u32 = 0;
/// `RTC_YEAR`: the field bits.
pub const YEAR_MASK: u32 = 0x001F_7F0F;

/// Virtual nanoseconds per counter tick.
pub const NS_PER_SEC: u64 = 1_000_000_000;
/// Times set by the host or loaded by the guest are clamped to ± this many seconds from the
/// epoch (about 142 million years), which keeps every calculation far from overflow.
pub const MAX_UNIX_TIME: i64 = 1 << 52;

/// The kind of an RTC's saved state ([`DeviceState::kind`]).
pub const STATE_KIND: &str = "aspeed-rtc";
/// The format version of an RTC's saved state: [`RtcState`] as this build serialises it.
pub const STATE_VERSION: u32 = 1;

const SECS_PER_DAY: i64 = 86_400;

/// Days from 1970-01-01 to `year`-`month`-`day` in the proleptic Gregorian calendar. The month
/// carries into the year when outside 1..=12 (0 is December of the year before) and the day is
/// counted from the 1st (day 0 is the last day of the month before, 32 spills into the next).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let m0 = i64::from(month) - 1;
    let mut y = year + m0.div_euclid(12);
    let m = m0.rem_euclid(12); // 0 = January
                               // Count years from March, so the leap day is the last day of the (shifted) year.
    if m < 2 {
        y -= 1;
    }
    let from_march = (m + 10) % 12; // March 0 ... February 11
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    // Days from March 1 to the first of the month: the month lengths 31 30 31 30 31 31 30 31
    // 30 31 31 (28/29) follow (153 * m + 2) / 5.
    let day_of_year = (153 * from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    // 719468 days from 0000-03-01 to 1970-01-01.
    era * 146_097 + day_of_era - 719_468
}

/// The proleptic Gregorian date (year, month 1..=12, day 1..=31) `days` after 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097; // 0..=146096
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let from_march = (5 * day_of_year + 2) / 153; // March 0 ... February 11
    let day = day_of_year - (153 * from_march + 2) / 5 + 1;
    let month = if from_march < 10 {
        from_march + 3
    } else {
        from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

/// A UTC calendar date and time. From [`DateTime::from_unix`] the fields are in range; from
/// [`DateTime::from_regs`] they are the raw register fields, which [`DateTime::to_unix`]
/// carries over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime {
    /// Year (full, e.g. 2024).
    pub year: i64,
    /// Month, 1 = January.
    pub month: u32,
    /// Day of the month, from 1.
    pub day: u32,
    /// Hour, 0..=23.
    pub hour: u32,
    /// Minute, 0..=59.
    pub minute: u32,
    /// Second, 0..=59.
    pub second: u32,
}

impl DateTime {
    /// The calendar time `secs` seconds after 1970-01-01 00:00:00 UTC.
    pub fn from_unix(secs: i64) -> Self {
        let days = secs.div_euclid(SECS_PER_DAY);
        let sod = secs.rem_euclid(SECS_PER_DAY) as u32;
        let (year, month, day) = civil_from_days(days);
        Self {
            year,
            month,
            day,
            hour: sod / 3600,
            minute: sod / 60 % 60,
            second: sod % 60,
        }
    }

    /// Seconds since the Unix epoch, carrying out-of-range fields over.
    pub fn to_unix(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * SECS_PER_DAY
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }

    /// The raw fields of an `RTC_TIME` and an `RTC_YEAR` value.
    pub fn from_regs(time: u32, year: u32) -> Self {
        let century = (year >> YEAR_CENTURY_SHIFT) & 0x1F;
        let year_of_century = (year >> YEAR_YEAR_SHIFT) & 0x7F;
        Self {
            year: i64::from(century * 100 + year_of_century),
            month: (year >> YEAR_MONTH_SHIFT) & 0xF,
            day: (time >> TIME_MDAY_SHIFT) & 0x1F,
            hour: (time >> TIME_HOUR_SHIFT) & 0x1F,
            minute: (time >> TIME_MIN_SHIFT) & 0x3F,
            second: (time >> TIME_SEC_SHIFT) & 0x3F,
        }
    }

    /// The `RTC_TIME` value for this time (fields masked to their widths).
    pub fn time_reg(&self) -> u32 {
        ((self.day & 0x1F) << TIME_MDAY_SHIFT)
            | ((self.hour & 0x1F) << TIME_HOUR_SHIFT)
            | ((self.minute & 0x3F) << TIME_MIN_SHIFT)
            | ((self.second & 0x3F) << TIME_SEC_SHIFT)
    }

    /// The `RTC_YEAR` value for this date; the century wraps modulo 32 outside 0..=3199.
    pub fn year_reg(&self) -> u32 {
        let century = self.year.div_euclid(100).rem_euclid(32) as u32;
        let year_of_century = self.year.rem_euclid(100) as u32;
        (century << YEAR_CENTURY_SHIFT)
            | (year_of_century << YEAR_YEAR_SHIFT)
            | ((self.month & 0xF) << YEAR_MONTH_SHIFT)
    }
}

/// The RTC's registers and counter anchor: a plain value that can be saved and restored.
///
/// `Default` is an RTC that was never set: stopped at 1970-01-01 00:00:00.
///
/// The anchor is in virtual time, so a restored RTC (the virtual clock restored with it) reads
/// the same calendar time at the same virtual time as the saved one, and its alarms fire at the
/// same virtual times.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RtcState {
    /// Seconds since the Unix epoch the counter held at `anchor_ns` (while the counter is
    /// stopped: its value).
    pub anchor_secs: i64,
    /// Virtual time (ns) of the anchor; the counter ticks at `anchor_ns + k * 10^9`.
    pub anchor_ns: u64,
    /// Control register (bits 7:0).
    pub ctrl: u32,
    /// Alarm pattern register.
    pub alarm: u32,
    /// Alarm status register (bits 4:0).
    pub alarm_status: u32,
    /// `RTC_TIME` value written since the last unlock, if any.
    pub pending_time: Option<u32>,
    /// `RTC_YEAR` value written since the last unlock, if any.
    pub pending_year: Option<u32>,
    /// Virtual time (ns) up to which alarm matches have been checked.
    pub checked_ns: u64,
}

impl RtcState {
    /// An RTC counting from `unix_time` at virtual time `now_ns`, enabled and locked.
    pub fn running(unix_time: i64, now_ns: u64) -> Self {
        Self {
            anchor_secs: unix_time.clamp(-MAX_UNIX_TIME, MAX_UNIX_TIME),
            anchor_ns: now_ns,
            ctrl: CTRL_ENABLE,
            checked_ns: now_ns,
            ..Self::default()
        }
    }
}

/// Which counter fields an alarm event compares (None: any value).
#[derive(Clone, Copy, Debug, Default)]
struct Pattern {
    mday: Option<u32>,
    hour: Option<u32>,
    minute: Option<u32>,
    second: Option<u32>,
}

impl Pattern {
    fn possible(&self) -> bool {
        self.second.is_none_or(|s| s < 60)
            && self.minute.is_none_or(|m| m < 60)
            && self.hour.is_none_or(|h| h < 24)
            && self.mday.is_none_or(|d| (1..=31).contains(&d))
    }

    /// The first second of the day at or after second `from` (0..86400) that matches the hour,
    /// minute and second.
    fn first_in_day(&self, from: i64) -> Option<i64> {
        let (h0, m0, s0) = (from / 3600, from / 60 % 60, from % 60);
        for h in h0..24 {
            if self.hour.is_some_and(|x| i64::from(x) != h) {
                continue;
            }
            for m in if h == h0 { m0 } else { 0 }..60 {
                if self.minute.is_some_and(|x| i64::from(x) != m) {
                    continue;
                }
                let s_from = if h == h0 && m == m0 { s0 } else { 0 };
                let s = match self.second {
                    Some(x) if i64::from(x) >= s_from => i64::from(x),
                    Some(_) => continue,
                    None => s_from,
                };
                return Some(h * 3600 + m * 60 + s);
            }
        }
        None
    }

    /// The first calendar second at or after `from` (Unix seconds) that matches.
    fn next_match(&self, from: i64) -> Option<i64> {
        if !self.possible() {
            return None;
        }
        let first_day = from.div_euclid(SECS_PER_DAY);
        // A day of month up to 31 recurs within 62 days.
        for day in first_day..first_day + 64 {
            if let Some(mday) = self.mday {
                if civil_from_days(day).2 != mday {
                    continue;
                }
            }
            let start = day.checked_mul(SECS_PER_DAY)?;
            let from_in_day = if day == first_day { from - start } else { 0 };
            if let Some(sod) = self.first_in_day(from_in_day) {
                return start.checked_add(sod);
            }
        }
        None
    }
}

/// The Aspeed RTC.
pub struct AspeedRtc {
    state: RtcState,
    clock: Rc<dyn Clock>,
    irq: IrqLine,
    irq_level: bool,
    guest_sets: Vec<i64>,
    unimplemented: UnimplementedLog,
}

impl AspeedRtc {
    /// An RTC at power-on: enabled, locked, counting from `unix_time` (seconds since the Unix
    /// epoch, UTC; the host's wall-clock time, or a fixed one for deterministic runs) at the
    /// clock's current time. `irq` is the alarm / one-second interrupt (level).
    pub fn new(clock: Rc<dyn Clock>, irq: IrqLine, unix_time: i64) -> Self {
        let now = clock.now_ns();
        Self::from_state(&RtcState::running(unix_time, now), clock, irq)
    }

    /// An RTC restored from `state` (the interrupt is raised if a status bit is set).
    pub fn from_state(state: &RtcState, clock: Rc<dyn Clock>, irq: IrqLine) -> Self {
        let mut rtc = Self {
            state: state.clone(),
            clock,
            irq,
            irq_level: false,
            guest_sets: Vec::new(),
            unimplemented: UnimplementedLog::new("rtc"),
        };
        rtc.state.anchor_secs = rtc.state.anchor_secs.clamp(-MAX_UNIX_TIME, MAX_UNIX_TIME);
        rtc.update_irq();
        rtc
    }

    /// A copy of the registers and the anchor.
    pub fn state(&self) -> RtcState {
        self.state.clone()
    }

    /// Host side (control socket `rtc-set`): sets the counter to `secs` seconds since the Unix
    /// epoch (clamped to ±[`MAX_UNIX_TIME`]), counting from now if the RTC is enabled. Alarm
    /// matches due before now are latched first; a half-done guest write sequence is forgotten.
    pub fn set_unix_time(&mut self, secs: i64) {
        let now = self.clock.now_ns();
        self.run_until(now);
        self.anchor(secs, now);
        self.state.pending_time = None;
        self.state.pending_year = None;
    }

    /// Host side: the counter's value now, in seconds since the Unix epoch.
    pub fn unix_time(&self) -> i64 {
        self.secs_at(self.clock.now_ns())
    }

    /// Host side: the counter's value now as a calendar date and time.
    pub fn date_time(&self) -> DateTime {
        DateTime::from_unix(self.unix_time())
    }

    /// Whether the counter runs (control bit 0).
    pub fn enabled(&self) -> bool {
        self.state.ctrl & CTRL_ENABLE != 0
    }

    /// Whether the interrupt output is high (some alarm status bit is set).
    pub fn irq_pending(&self) -> bool {
        self.state.alarm_status & STATUS_MASK != 0
    }

    /// Host side: every time the guest set (seconds since the Unix epoch, as the counter held
    /// it when the guest locked the RTC after writing it), oldest first, since the last call.
    pub fn take_guest_sets(&mut self) -> Vec<i64> {
        std::mem::take(&mut self.guest_sets)
    }

    fn secs_at(&self, now: u64) -> i64 {
        if !self.enabled() {
            return self.state.anchor_secs;
        }
        let elapsed = now.saturating_sub(self.state.anchor_ns) / NS_PER_SEC;
        // At most 2^64 / 10^9 (about 1.8e10) seconds: no overflow near MAX_UNIX_TIME.
        self.state.anchor_secs + elapsed as i64
    }

    fn anchor(&mut self, secs: i64, now: u64) {
        self.state.anchor_secs = secs.clamp(-MAX_UNIX_TIME, MAX_UNIX_TIME);
        self.state.anchor_ns = now;
        self.state.checked_ns = now;
    }

    fn update_irq(&mut self) {
        let level = self.irq_pending();
        if level != self.irq_level {
            self.irq_level = level;
            self.irq.set(level);
        }
    }

    /// The alarm events that are armed (enabled, status clear), with their status bits.
    fn armed_events(&self) -> Vec<(u32, Pattern)> {
        let ctrl = self.state.ctrl;
        let mut events = Vec::new();
        if !self.enabled() {
            return events;
        }
        let a = DateTime::from_regs(self.state.alarm, 0);
        let fields = [
            (CTRL_ALARM_SEC_ENABLE, STATUS_ALARM_SEC),
            (CTRL_ALARM_MIN_ENABLE, STATUS_ALARM_MIN),
            (CTRL_ALARM_HOUR_ENABLE, STATUS_ALARM_HOUR),
            (CTRL_ALARM_MDAY_ENABLE, STATUS_ALARM_MDAY),
        ];
        let only = |enable: u32| {
            let on = |bit: u32, v: u32| (enable & bit != 0).then_some(v);
            Pattern {
                second: on(CTRL_ALARM_SEC_ENABLE, a.second),
                minute: on(CTRL_ALARM_MIN_ENABLE, a.minute),
                hour: on(CTRL_ALARM_HOUR_ENABLE, a.hour),
                mday: on(CTRL_ALARM_MDAY_ENABLE, a.day),
            }
        };
        if ctrl & CTRL_ALARM_MODE != 0 {
            if ctrl & CTRL_ALARM_ENABLES != 0 {
                events.push((STATUS_ALARM_SEC, only(ctrl & CTRL_ALARM_ENABLES)));
            }
        } else {
            for (enable, status) in fields {
                if ctrl & enable != 0 {
                    events.push((status, only(enable)));
                }
            }
        }
        if ctrl & CTRL_SEC_INTERRUPT != 0 {
            events.push((STATUS_SEC_INTERRUPT, Pattern::default()));
        }
        events.retain(|(status, _)| self.state.alarm_status & status == 0);
        events
    }

    /// Virtual time of the first tick after `checked_ns` at which `pattern` matches.
    fn event_time(&self, pattern: &Pattern) -> Option<u64> {
        let s = &self.state;
        let k0 = s.checked_ns.saturating_sub(s.anchor_ns) / NS_PER_SEC + 1;
        let from = s.anchor_secs.checked_add(i64::try_from(k0).ok()?)?;
        let secs = pattern.next_match(from)?;
        let ticks = u128::try_from(secs - s.anchor_secs).ok()?;
        u64::try_from(u128::from(s.anchor_ns) + ticks * u128::from(NS_PER_SEC)).ok()
    }

    /// Latches every alarm match due by `now`.
    fn run_until(&mut self, now: u64) {
        let mut fired = 0;
        for (status, pattern) in self.armed_events() {
            if self.event_time(&pattern).is_some_and(|t| t <= now) {
                fired |= status;
            }
        }
        self.state.alarm_status |= fired;
        self.state.checked_ns = self.state.checked_ns.max(now);
        self.update_irq();
    }

    /// Loads the counter from the values written since the unlock (the current counter for
    /// the register not written).
    fn load(&mut self, now: u64) {
        let current = DateTime::from_unix(self.secs_at(now));
        let time = self.state.pending_time.unwrap_or(current.time_reg());
        let year = self.state.pending_year.unwrap_or(current.year_reg());
        self.anchor(DateTime::from_regs(time, year).to_unix(), now);
    }

    fn write_ctrl(&mut self, value: u32, now: u64) {
        let value = value & CTRL_MASK;
        let old = self.state.ctrl;
        if old & CTRL_ENABLE != 0 && value & CTRL_ENABLE == 0 {
            // Stop: freeze the counter at its value.
            self.state.anchor_secs = self.secs_at(now);
            self.state.anchor_ns = now;
        }
        if old & CTRL_ENABLE == 0 && value & CTRL_ENABLE != 0 {
            // Start: tick one second from now.
            self.state.anchor_ns = now;
            self.state.checked_ns = now;
        }
        self.state.ctrl = value;
        if (old ^ value) & CTRL_UNLOCK != 0 {
            let written = self.state.pending_time.is_some() || self.state.pending_year.is_some();
            if old & CTRL_UNLOCK != 0 && written {
                let secs = self.secs_at(now);
                log::info!("rtc: guest set the time to {:?}", DateTime::from_unix(secs));
                self.guest_sets.push(secs);
            }
            self.state.pending_time = None;
            self.state.pending_year = None;
        }
    }

    fn read_reg(&self, reg: u64, now: u64) -> Option<u32> {
        let s = &self.state;
        Some(match reg {
            REG_TIME => DateTime::from_unix(self.secs_at(now)).time_reg(),
            REG_YEAR => DateTime::from_unix(self.secs_at(now)).year_reg(),
            REG_ALARM => s.alarm,
            REG_CTRL => s.ctrl,
            REG_ALARM_STATUS => s.alarm_status,
            _ => return None,
        })
    }

    fn write_reg(&mut self, reg: u64, value: u32, now: u64) {
        let unlocked = self.state.ctrl & CTRL_UNLOCK != 0;
        match reg {
            REG_TIME if unlocked => {
                self.state.pending_time = Some(value & TIME_MASK);
                self.load(now);
            }
            REG_YEAR if unlocked => {
                self.state.pending_year = Some(value & YEAR_MASK);
                self.load(now);
            }
            REG_TIME | REG_YEAR => log::debug!("rtc: write of {value:#x} to {reg:#x} while locked"),
            REG_ALARM => self.state.alarm = value & TIME_MASK,
            REG_CTRL => self.write_ctrl(value, now),
            REG_ALARM_STATUS => self.state.alarm_status &= !value,
            _ => {}
        }
        self.update_irq();
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
        // A partial write of the status register clears only the bits it writes.
        let base = if reg == REG_ALARM_STATUS { 0 } else { current };
        let v = merge_subword(base, offset, size, value);
        self.write_reg(reg, v, now);
    }
}

impl Device for AspeedRtc {
    fn read(&mut self, offset: u64, size: u8) -> u64 {
        bus::split_read(offset, size, |o, s| self.read32(o, s))
    }

    fn write(&mut self, offset: u64, size: u8, value: u64) {
        bus::split_write(offset, size, value, |o, s, v| self.write32(o, s, v));
    }

    /// The RTC is battery-backed: a SoC reset leaves its time, control and alarm as they are.
    fn reset(&mut self) {}

    fn next_deadline(&self) -> Option<u64> {
        self.armed_events()
            .iter()
            .filter_map(|(_, p)| self.event_time(p))
            .min()
    }

    fn on_time(&mut self, now_ns: u64) {
        self.run_until(now_ns);
    }

    /// The registers, the counter's anchor, a half-done guest time write and how far alarms
    /// were checked ([`RtcState`]). The clock and the line are wiring; the guest's time sets
    /// not yet taken by the host ([`AspeedRtc::take_guest_sets`]) are host notifications the
    /// SoC drains every step, not device state.
    fn save_state(&self) -> Option<DeviceState> {
        Some(DeviceState::new(STATE_KIND, STATE_VERSION, &self.state))
    }

    /// Refuses a counter beyond ±[`MAX_UNIX_TIME`]; drives the interrupt to the restored
    /// status.
    fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        let s: RtcState = state.decode(STATE_KIND, STATE_VERSION)?;
        if !(-MAX_UNIX_TIME..=MAX_UNIX_TIME).contains(&s.anchor_secs) {
            return Err(StateError(format!(
                "aspeed-rtc: the state's counter ({} s) is beyond ±{MAX_UNIX_TIME} s",
                s.anchor_secs
            )));
        }
        self.state = s;
        self.irq_level = self.irq_pending();
        self.irq.set(self.irq_level);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bus::{LevelRecorder, ManualClock};
    use std::cell::Cell;

    const S: u64 = NS_PER_SEC;

    struct Rig {
        rtc: AspeedRtc,
        clock: Rc<ManualClock>,
        rec: Rc<LevelRecorder>,
    }

    fn rig(unix: i64) -> Rig {
        let clock = Rc::new(ManualClock::new());
        let rec = LevelRecorder::new();
        let rtc = AspeedRtc::new(clock.clone(), rec.line(0), unix);
        Rig { rtc, clock, rec }
    }

    impl Rig {
        fn rd(&mut self, off: u64) -> u32 {
            self.rtc.read(off, 4) as u32
        }
        fn wr(&mut self, off: u64, v: u32) {
            self.rtc.write(off, 4, u64::from(v))
        }
        fn run_to(&mut self, t: u64) {
            self.clock.set(t);
            if self.rtc.next_deadline().is_some_and(|d| d <= t) {
                self.rtc.on_time(t);
            }
        }
        fn irq(&self) -> bool {
            self.rec.level(0)
        }
    }

    /// Linux `struct rtc_time` (the fields the driver touches).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct RtcTime {
        year: i32, // since 1900
        mon: i32,  // 0 = January
        mday: u32,
        hour: u32,
        min: u32,
        sec: u32,
    }

    fn tm(year: i32, month: i32, mday: u32, hour: u32, min: u32, sec: u32) -> RtcTime {
        RtcTime {
            year: year - 1900,
            mon: month - 1,
            mday,
            hour,
            min,
            sec,
        }
    }

    const EINVAL: i32 = -22;

    /// The register accesses of Linux `aspeed_rtc_read_time`.
    fn linux_read_time(dev: &mut impl Device) -> Result<RtcTime, i32> {
        if dev.read(REG_CTRL, 4) as u32 & CTRL_ENABLE == 0 {
            return Err(EINVAL);
        }
        let (reg1, reg2) = loop {
            let reg2 = dev.read(REG_YEAR, 4) as u32;
            let reg1 = dev.read(REG_TIME, 4) as u32;
            if reg2 == dev.read(REG_YEAR, 4) as u32 {
                break (reg1, reg2);
            }
        };
        let cent = ((reg2 >> 16) & 0x1f) as i32;
        let year = ((reg2 >> 8) & 0x7f) as i32;
        Ok(RtcTime {
            mday: (reg1 >> 24) & 0x1f,
            hour: (reg1 >> 16) & 0x1f,
            min: (reg1 >> 8) & 0x3f,
            sec: reg1 & 0x3f,
            mon: (reg2 & 0x0f) as i32 - 1,
            year: year + cent * 100 - 1900,
        })
    }

    /// The register accesses of Linux `aspeed_rtc_set_time` (what `hwclock -w` ends in).
    fn linux_set_time(dev: &mut impl Device, t: RtcTime) {
        let cent = ((t.year + 1900) / 100) as u32;
        let year = (t.year % 100) as u32;
        let reg1 = (t.mday << 24) | (t.hour << 16) | (t.min << 8) | t.sec;
        let reg2 = ((cent & 0x1f) << 16) | ((year & 0x7f) << 8) | ((t.mon + 1) as u32 & 0xf);
        let ctrl = dev.read(REG_CTRL, 4) as u32;
        dev.write(REG_CTRL, 4, u64::from(ctrl | CTRL_UNLOCK));
        dev.write(REG_TIME, 4, u64::from(reg1));
        dev.write(REG_YEAR, 4, u64::from(reg2));
        dev.write(REG_CTRL, 4, u64::from(ctrl | CTRL_ENABLE));
    }

    #[test]
    fn civil_conversion_matches_a_day_by_day_count_from_1900_to_3199() {
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let mut days = days_from_civil(1900, 1, 1);
        assert_eq!(days, -25_567);
        for year in 1900..3200 {
            for month in 1..=12u32 {
                let len = match month {
                    2 if leap(year) => 29,
                    2 => 28,
                    4 | 6 | 9 | 11 => 30,
                    _ => 31,
                };
                for day in 1..=len {
                    assert_eq!(civil_from_days(days), (year, month, day));
                    assert_eq!(days_from_civil(year, month, day), days);
                    days += 1;
                }
            }
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn out_of_range_fields_carry_over() {
        // Day 31 of April is May 1; month 0 is December of the year before; day 0 is the
        // last day of the month before; month 13 is January of the next year.
        assert_eq!(days_from_civil(2025, 4, 31), days_from_civil(2025, 5, 1));
        assert_eq!(days_from_civil(2025, 0, 15), days_from_civil(2024, 12, 15));
        assert_eq!(days_from_civil(2024, 3, 0), days_from_civil(2024, 2, 29));
        assert_eq!(days_from_civil(2024, 13, 1), days_from_civil(2025, 1, 1));
        let t = DateTime::from_regs(0x1F1F_3F3F, 0x0014_1800 | 2).to_unix();
        // 2024-02-31 31:63:63 = 2024-03-02 + 31 h 63 min 63 s.
        assert_eq!(t, 1_709_337_600 + 31 * 3600 + 63 * 60 + 63);
    }

    #[test]
    fn register_packing_is_the_drivers() {
        let d = DateTime::from_unix(1_686_832_496); // 2023-06-15 12:34:56
        assert_eq!(
            d,
            DateTime {
                year: 2023,
                month: 6,
                day: 15,
                hour: 12,
                minute: 34,
                second: 56
            }
        );
        assert_eq!(d.time_reg(), 0x0F0C_2238);
        assert_eq!(d.year_reg(), 0x0014_1706);
        assert_eq!(DateTime::from_regs(0x0F0C_2238, 0x0014_1706), d);
        assert_eq!(DateTime::from_unix(-1).year_reg(), 0x0013_450C); // 1969-12
        assert_eq!(DateTime::from_unix(i64::MIN / 2).second, 56);
    }

    #[test]
    fn power_on_counts_from_the_given_time() {
        let mut r = rig(1_686_832_496);
        assert_eq!(r.rd(REG_CTRL), CTRL_ENABLE);
        assert_eq!(r.rd(REG_TIME), 0x0F0C_2238);
        assert_eq!(r.rd(REG_YEAR), 0x0014_1706);
        assert_eq!(r.rd(REG_ALARM), 0);
        assert_eq!(r.rd(REG_ALARM_STATUS), 0);
        assert_eq!(r.rtc.unix_time(), 1_686_832_496);
        assert_eq!(linux_read_time(&mut r.rtc), Ok(tm(2023, 6, 15, 12, 34, 56)));
        assert_eq!(r.rtc.next_deadline(), None);
        assert!(r.rec.changes().is_empty());
    }

    #[test]
    fn time_advances_with_the_virtual_clock() {
        let mut r = rig(1_686_832_496);
        r.clock.set(S - 1);
        assert_eq!(r.rtc.unix_time(), 1_686_832_496, "not yet a second");
        r.clock.set(S);
        assert_eq!(linux_read_time(&mut r.rtc), Ok(tm(2023, 6, 15, 12, 34, 57)));
        r.clock.set(3 * S + S / 2);
        assert_eq!(linux_read_time(&mut r.rtc), Ok(tm(2023, 6, 15, 12, 34, 59)));
        r.clock.set(4 * S);
        assert_eq!(linux_read_time(&mut r.rtc), Ok(tm(2023, 6, 15, 12, 35, 0)));
        r.clock.set((3600 * 11 + 25 * 60 + 4) * S);
        assert_eq!(linux_read_time(&mut r.rtc), Ok(tm(2023, 6, 16, 0, 0, 0)));
        r.clock.set(86_400 * 365 * S);
        assert_eq!(linux_read_time(&mut r.rtc), Ok(tm(2024, 6, 14, 12, 34, 56)));
    }

    #[test]
    fn leap_years_follow_the_gregorian_rules() {
        // 2024 (divisible by 4): Feb 29 exists.
        let mut r = rig(1_709_164_799); // 2024-02-28 23:59:59
        r.clock.set(S);
        assert_eq!(linux_read_time(&mut r.rtc), Ok(tm(2024, 2, 29, 0, 0, 0)));
        r.clock.set(86_401 * S);
        assert_eq!(linux_read_time(&mut r.rtc), Ok(tm(2024, 3, 1, 0, 0, 0)));
        // 2000 (divisible by 400): leap.
        let mut r = rig(951_782_399); // 2000-02-28 23:59:59
        r.clock.set(S);
        assert_eq!(linux_read_time(&mut r.rtc), Ok(tm(2000, 2, 29, 0, 0, 0)));
        // 2100 (divisible by 100, not 400): not leap.
        let mut r = rig(4_107_542_399); // 2100-02-28 23:59:59
        r.clock.set(S);
        assert_eq!(linux_read_time(&mut r.rtc), Ok(tm(2100, 3, 1, 0, 0, 0)));
        // A whole leap year is 366 days.
        let mut r = rig(1_704_067_200); // 2024-01-01
        r.clock.set(366 * 86_400 * S);
        assert_eq!(linux_read_time(&mut r.rtc), Ok(tm(2025, 1, 1, 0, 0, 0)));
    }

    #[test]
    fn century_rolls_over() {
        let mut r = rig(4_102_444_799); // 2099-12-31 23:59:59
        assert_eq!(r.rd(REG_YEAR), (20 << 16) | (99 << 8) | 12);
        assert_eq!(r.rd(REG_TIME), (31 << 24) | (23 << 16) | (59 << 8) | 59);
        r.clock.set(S);
        assert_eq!(r.rd(REG_YEAR), (21 << 16) | 1);
        assert_eq!(r.rd(REG_TIME), 1 << 24);
        assert_eq!(linux_read_time(&mut r.rtc), Ok(tm(2100, 1, 1, 0, 0, 0)));
        // The last second of 2199 and the first of 2200.
        let mut r = rig(7_258_118_399);
        assert_eq!(
            linux_read_time(&mut r.rtc),
            Ok(tm(2199, 12, 31, 23, 59, 59))
        );
        r.clock.set(S);
        assert_eq!(r.rd(REG_YEAR), (22 << 16) | 1);
        // 1999 -> 2000.
        let mut r = rig(946_684_799);
        assert_eq!(r.rd(REG_YEAR), (19 << 16) | (99 << 8) | 12);
        r.clock.set(S);
        assert_eq!(linux_read_time(&mut r.rtc), Ok(tm(2000, 1, 1, 0, 0, 0)));
    }

    #[test]
    fn month_and_day_boundaries() {
        for (start, after) in [
            (1_746_057_599, tm(2025, 5, 1, 0, 0, 0)), // Apr 30 (30 days)
            (1_738_367_999, tm(2025, 2, 1, 0, 0, 0)), // Jan 31
            (1_740_787_199, tm(2025, 3, 1, 0, 0, 0)), // Feb 28, 2025
            (1_767_225_599, tm(2026, 1, 1, 0, 0, 0)), // Dec 31
            (1_751_327_999, tm(2025, 7, 1, 0, 0, 0)), // Jun 30
            (1_754_006_399, tm(2025, 8, 1, 0, 0, 0)), // Jul 31
            (1_686_873_599, tm(2023, 6, 16, 0, 0, 0)), // an ordinary midnight
        ] {
            let mut r = rig(start);
            r.clock.set(S);
            assert_eq!(linux_read_time(&mut r.rtc), Ok(after), "from {start}");
        }
    }

    /// A clock that moves `step` ns on every read: the calendar rolls over between the
    /// driver's register reads.
    struct SteppingClock {
        now: Cell<u64>,
        step: Cell<u64>,
    }

    impl Clock for SteppingClock {
        fn now_ns(&self) -> u64 {
            let t = self.now.get();
            self.now.set(t + self.step.get());
            t
        }
    }

    #[test]
    fn read_time_retries_when_the_year_register_changes_under_it() {
        let clock = Rc::new(SteppingClock {
            now: Cell::new(0),
            step: Cell::new(0),
        });
        let mut rtc = AspeedRtc::new(clock.clone(), IrqLine::disconnected(), 4_102_444_799);
        // CTRL at 1 s - 1.5 ms, YEAR at - 0.5 ms (2099-12), TIME at + 0.5 ms (the 1st,
        // 00:00:00), YEAR at + 1.5 ms (2100-01): retry.
        clock.now.set(S - 1_500_000);
        clock.step.set(1_000_000);
        assert_eq!(linux_read_time(&mut rtc), Ok(tm(2100, 1, 1, 0, 0, 0)));
        assert_eq!(
            clock.now.get(),
            S + 5_500_000,
            "seven register reads: one retry"
        );
    }

    #[test]
    fn read_time_fails_while_disabled_and_the_counter_stands_still() {
        let mut r = rig(1_686_832_496);
        r.clock.set(10 * S + S / 2);
        r.wr(REG_CTRL, 0);
        assert_eq!(linux_read_time(&mut r.rtc), Err(EINVAL));
        r.clock.set(1000 * S);
        assert_eq!(r.rtc.unix_time(), 1_686_832_506, "stopped");
        assert_eq!(r.rd(REG_TIME), 0x0F0C_2306, "12:35:06");
        assert!(!r.rtc.enabled());
        // Enabling starts it from where it stopped, a full second later.
        r.wr(REG_CTRL, CTRL_ENABLE);
        r.clock.set(1001 * S - 1);
        assert_eq!(r.rtc.unix_time(), 1_686_832_506);
        r.clock.set(1001 * S);
        assert_eq!(linux_read_time(&mut r.rtc), Ok(tm(2023, 6, 15, 12, 35, 7)));
    }

    #[test]
    fn set_time_replay_reanchors_and_is_reported() {
        let mut r = rig(1_686_832_496);
        r.clock.set(5 * S);
        linux_set_time(&mut r.rtc, tm(2038, 1, 19, 3, 14, 8));
        assert_eq!(r.rtc.unix_time(), 2_147_483_648);
        assert_eq!(r.rd(REG_CTRL), CTRL_ENABLE, "locked again, enabled");
        assert_eq!(r.rtc.take_guest_sets(), vec![2_147_483_648]);
        assert!(r.rtc.take_guest_sets().is_empty());
        r.clock.set(7 * S);
        assert_eq!(linux_read_time(&mut r.rtc), Ok(tm(2038, 1, 19, 3, 14, 10)));
    }

    #[test]
    fn set_time_works_from_any_current_date() {
        // Writing TIME first with day 31 while the counter is in February must not spoil the
        // date once YEAR follows: the loads use the written values, not the carried-over ones.
        let mut r = rig(1_707_523_200); // 2024-02-10
        linux_set_time(&mut r.rtc, tm(2025, 1, 31, 10, 0, 0));
        assert_eq!(linux_read_time(&mut r.rtc), Ok(tm(2025, 1, 31, 10, 0, 0)));
        linux_set_time(&mut r.rtc, tm(1999, 12, 31, 23, 59, 59));
        r.clock.advance(S);
        assert_eq!(linux_read_time(&mut r.rtc), Ok(tm(2000, 1, 1, 0, 0, 0)));
    }

    #[test]
    fn set_time_enables_a_stopped_rtc() {
        let clock = Rc::new(ManualClock::new());
        let mut rtc =
            AspeedRtc::from_state(&RtcState::default(), clock.clone(), IrqLine::disconnected());
        assert_eq!(linux_read_time(&mut rtc), Err(EINVAL));
        clock.set(3 * S);
        linux_set_time(&mut rtc, tm(2024, 2, 29, 23, 59, 58));
        assert!(rtc.enabled());
        assert_eq!(rtc.take_guest_sets(), vec![1_709_251_198]);
        clock.set(5 * S);
        assert_eq!(linux_read_time(&mut rtc), Ok(tm(2024, 3, 1, 0, 0, 0)));
    }

    #[test]
    fn locked_writes_do_nothing() {
        let mut r = rig(1_686_832_496);
        r.wr(REG_TIME, 0x0101_0101);
        r.wr(REG_YEAR, 0x0013_4601);
        r.rtc.write(REG_TIME, 8, 0);
        r.rtc.write(REG_TIME, 1, 0);
        assert_eq!(r.rtc.unix_time(), 1_686_832_496);
        assert_eq!(r.rd(REG_TIME), 0x0F0C_2238);
        // Unlocking and locking again without writes reports nothing.
        r.wr(REG_CTRL, CTRL_ENABLE | CTRL_UNLOCK);
        r.wr(REG_CTRL, CTRL_ENABLE);
        assert!(r.rtc.take_guest_sets().is_empty());
        // Locked while stopped: still nothing.
        r.wr(REG_CTRL, 0);
        r.wr(REG_TIME, 0);
        assert_eq!(r.rtc.unix_time(), 1_686_832_496);
    }

    #[test]
    fn aspeedtech_probe_initialises_to_1970_01_01_01_01_01() {
        // AspeedTech's driver probe: unlock and enable, write 01 01:01:01 and 1970-01, lock.
        let mut r = rig(1_686_832_496);
        let ctrl = r.rd(REG_CTRL);
        r.wr(REG_CTRL, ctrl | CTRL_UNLOCK | CTRL_ENABLE);
        r.wr(REG_TIME, 0x0101_0101);
        r.wr(REG_YEAR, 0x0013_4601);
        r.wr(REG_CTRL, ctrl | CTRL_ENABLE);
        assert_eq!(r.rtc.unix_time(), 3661);
        assert_eq!(linux_read_time(&mut r.rtc), Ok(tm(1970, 1, 1, 1, 1, 1)));
        assert_eq!(r.rtc.take_guest_sets(), vec![3661]);
    }

    #[test]
    fn partial_writes_change_only_their_bytes() {
        let mut r = rig(1_686_832_496); // 2023-06-15 12:34:56
        r.wr(REG_CTRL, CTRL_ENABLE | CTRL_UNLOCK);
        r.rtc.write(REG_TIME, 1, 5); // seconds
        r.rtc.write(REG_TIME + 3, 1, 20); // day of month
        r.rtc.write(REG_YEAR, 1, 7); // month
        assert_eq!(r.rd(REG_TIME), 0x140C_2205);
        assert_eq!(r.rtc.date_time().month, 7);
        assert_eq!(r.rtc.read(REG_TIME + 1, 1), 0x22);
        assert_eq!(r.rtc.read(REG_YEAR + 2, 2), 20);
        // An 8-byte store writes TIME and YEAR.
        r.rtc
            .write(REG_TIME, 8, (0x0014_1801u64 << 32) | 0x0100_0000);
        assert_eq!(r.rtc.unix_time(), 1_704_067_200); // 2024-01-01 00:00:00
        assert_eq!(
            r.rtc.read(REG_TIME, 8),
            (0x0014_1801u64 << 32) | 0x0100_0000
        );
    }

    #[test]
    fn host_sets_and_reads_the_time() {
        let mut r = rig(0);
        r.clock.set(42 * S + 7);
        assert_eq!(r.rtc.unix_time(), 42);
        r.rtc.set_unix_time(1_686_832_496);
        assert_eq!(linux_read_time(&mut r.rtc), Ok(tm(2023, 6, 15, 12, 34, 56)));
        r.clock.set(43 * S + 6);
        assert_eq!(
            r.rtc.unix_time(),
            1_686_832_496,
            "a full second from the set"
        );
        r.clock.set(43 * S + 7);
        assert_eq!(r.rtc.unix_time(), 1_686_832_497);
        assert!(
            r.rtc.take_guest_sets().is_empty(),
            "host sets are not echoed"
        );
        // While stopped the host sets the value the counter holds.
        r.wr(REG_CTRL, 0);
        r.rtc.set_unix_time(2_147_483_648);
        r.clock.set(100 * S);
        assert_eq!(r.rtc.unix_time(), 2_147_483_648);
        r.rtc.set_unix_time(i64::MAX);
        assert_eq!(r.rtc.unix_time(), MAX_UNIX_TIME);
        let _ = r.rd(REG_TIME);
    }

    #[test]
    fn state_round_trips() {
        let mut r = rig(1_686_832_496);
        r.wr(REG_ALARM, 0x0000_000A);
        r.wr(REG_CTRL, CTRL_ENABLE | CTRL_ALARM_SEC_ENABLE);
        r.run_to(14 * S);
        let state = r.rtc.state();
        assert_eq!(state.alarm_status, STATUS_ALARM_SEC);
        let rec = LevelRecorder::new();
        let rtc = AspeedRtc::from_state(&state, r.clock.clone(), rec.line(0));
        assert!(rec.level(0), "pending status raises the line");
        assert_eq!(rtc.state(), state);
        assert_eq!(rtc.unix_time(), r.rtc.unix_time());
    }

    #[test]
    fn second_alarm_in_independent_mode() {
        let mut r = rig(1_686_832_496); // 12:34:56
        r.wr(REG_ALARM, 10); // second 10
        r.wr(REG_CTRL, CTRL_ENABLE | CTRL_ALARM_SEC_ENABLE);
        assert_eq!(r.rtc.next_deadline(), Some(14 * S));
        r.run_to(14 * S - 1);
        assert!(!r.irq());
        r.run_to(14 * S);
        assert!(r.irq());
        assert_eq!(r.rd(REG_ALARM_STATUS), STATUS_ALARM_SEC);
        assert_eq!(r.rd(REG_TIME) & 0xFFFF, 0x230A, "12:35:10");
        assert_eq!(r.rtc.next_deadline(), None, "latched: nothing more to do");
        r.wr(REG_ALARM_STATUS, STATUS_ALARM_MIN); // the wrong bit
        assert!(r.irq());
        r.wr(REG_ALARM_STATUS, STATUS_ALARM_SEC);
        assert!(!r.irq());
        assert_eq!(r.rd(REG_ALARM_STATUS), 0);
        assert_eq!(r.rtc.next_deadline(), Some(74 * S));
        assert_eq!(r.rec.changes(), vec![(0, true), (0, false)]);
    }

    #[test]
    fn combination_mode_needs_every_enabled_field() {
        let mut r = rig(1_686_832_496); // 2023-06-15 12:34:56
        r.wr(REG_ALARM, (16 << 24) | (8 << 16)); // day 16, 08:00:00
        r.wr(REG_CTRL, CTRL_ENABLE | CTRL_ALARM_MODE | CTRL_ALARM_ENABLES);
        let due = (1_686_902_400 - 1_686_832_496) * S; // 2023-06-16 08:00:00
        assert_eq!(r.rtc.next_deadline(), Some(due));
        r.run_to(due - S);
        assert_eq!(r.rd(REG_ALARM_STATUS), 0);
        r.run_to(due);
        assert_eq!(
            r.rd(REG_ALARM_STATUS),
            STATUS_ALARM_SEC,
            "combined status only"
        );
        assert!(r.irq());
        r.wr(REG_ALARM_STATUS, STATUS_MASK);
        // Next: 16 July, 08:00:00.
        let next = (1_689_494_400 - 1_686_832_496) * S;
        assert_eq!(r.rtc.next_deadline(), Some(next));
    }

    #[test]
    fn independent_fields_fire_on_each_matching_tick() {
        let mut r = rig(1_686_832_496); // 12:34:56
        r.wr(REG_ALARM, 13 << 16); // 13:00:00
        r.wr(
            REG_CTRL,
            CTRL_ENABLE | CTRL_ALARM_MIN_ENABLE | CTRL_ALARM_HOUR_ENABLE,
        );
        let due = (1_686_834_000 - 1_686_832_496) * S; // 13:00:00
        assert_eq!(r.rtc.next_deadline(), Some(due));
        r.run_to(due);
        assert_eq!(r.rd(REG_ALARM_STATUS), STATUS_ALARM_MIN | STATUS_ALARM_HOUR);
        r.clock.set(due + 5 * S + 1);
        r.wr(REG_ALARM_STATUS, STATUS_ALARM_MIN);
        // Still minute 0: fires again at the next tick; the hour holds until 14:00.
        assert_eq!(r.rtc.next_deadline(), Some(due + 6 * S));
        r.run_to(due + 6 * S);
        assert_eq!(r.rd(REG_ALARM_STATUS), STATUS_ALARM_MIN | STATUS_ALARM_HOUR);
    }

    #[test]
    fn one_second_interrupt() {
        let mut r = rig(1_686_832_496);
        r.clock.set(S / 4);
        r.wr(REG_CTRL, CTRL_ENABLE | CTRL_SEC_INTERRUPT);
        assert_eq!(r.rtc.next_deadline(), Some(S));
        r.run_to(S);
        assert_eq!(r.rd(REG_ALARM_STATUS), STATUS_SEC_INTERRUPT);
        r.clock.set(S + S / 2);
        r.wr(REG_ALARM_STATUS, STATUS_SEC_INTERRUPT);
        assert_eq!(r.rtc.next_deadline(), Some(2 * S));
    }

    #[test]
    fn aspeedtech_alarm_irq_and_handler_sequence() {
        let mut r = rig(1_686_832_496); // 12:34:56
                                        // set_alarm: write the alarm, then alarm_irq_enable's read-modify-write of CTRL.
        r.wr(REG_ALARM, 30);
        let ctrl = r.rd(REG_CTRL);
        r.wr(REG_CTRL, ctrl | CTRL_ALARM_ENABLES);
        r.run_to(34 * S); // 12:35:30: the second alarm
        assert!(r.irq());
        // read_alarm reports pending from the status bits.
        assert_ne!(r.rd(REG_ALARM_STATUS) & 0xF, 0);
        // aspeed_rtc_irq: disable the alarm interrupts, write back the status.
        let ctrl = r.rd(REG_CTRL);
        r.wr(REG_CTRL, ctrl & !CTRL_ALARM_ENABLES);
        let status = r.rd(REG_ALARM_STATUS);
        r.wr(REG_ALARM_STATUS, status);
        assert!(!r.irq());
        assert_eq!(r.rd(REG_CTRL), CTRL_ENABLE);
        assert_eq!(r.rtc.next_deadline(), None);
    }

    #[test]
    fn a_late_delivery_still_latches_the_match() {
        let mut r = rig(1_686_832_496);
        r.wr(REG_ALARM, 10);
        r.wr(REG_CTRL, CTRL_ENABLE | CTRL_ALARM_SEC_ENABLE);
        r.clock.set(1000 * S); // the SoC slept past 14 s
        assert_eq!(
            r.rd(REG_ALARM_STATUS),
            STATUS_ALARM_SEC,
            "latched on access"
        );
        assert!(r.irq());
    }

    #[test]
    fn no_alarm_while_stopped_or_impossible() {
        let mut r = rig(1_686_832_496);
        r.wr(REG_ALARM, 10);
        r.wr(REG_CTRL, CTRL_ALARM_SEC_ENABLE | CTRL_SEC_INTERRUPT);
        assert_eq!(r.rtc.next_deadline(), None);
        r.run_to(100 * S);
        assert_eq!(r.rd(REG_ALARM_STATUS), 0);
        // Second 60 and day 0 never come.
        r.wr(REG_ALARM, 60);
        r.wr(REG_CTRL, CTRL_ENABLE | CTRL_ALARM_SEC_ENABLE);
        assert_eq!(r.rtc.next_deadline(), None);
        r.wr(REG_ALARM, 0);
        r.wr(
            REG_CTRL,
            CTRL_ENABLE | CTRL_ALARM_MODE | CTRL_ALARM_MDAY_ENABLE,
        );
        assert_eq!(r.rtc.next_deadline(), None);
        // Day 31 from 15 June: 31 July, 00:00:00.
        r.wr(REG_ALARM, 31 << 24);
        let due = r.rtc.next_deadline().unwrap();
        let at = 1_686_832_496 + ((due - 100 * S) / S) as i64;
        assert_eq!(DateTime::from_unix(at).time_reg(), 31 << 24);
        assert_eq!(DateTime::from_unix(at).month, 7);
    }

    #[test]
    fn loading_a_matching_time_does_not_fire_and_reset_keeps_everything() {
        let mut r = rig(1_686_832_496);
        r.wr(REG_ALARM, 0x0F0C_2238); // the current time
        r.wr(REG_CTRL, CTRL_ENABLE | CTRL_ALARM_MODE | CTRL_ALARM_ENABLES);
        r.wr(
            REG_CTRL,
            CTRL_ENABLE | CTRL_UNLOCK | CTRL_ALARM_MODE | CTRL_ALARM_ENABLES,
        );
        r.wr(REG_TIME, 0x0F0C_2238);
        assert_eq!(r.rd(REG_ALARM_STATUS), 0);
        let before = r.rtc.state();
        r.rtc.reset();
        assert_eq!(r.rtc.state(), before);
    }

    #[test]
    fn unknown_registers_read_zero() {
        let mut r = rig(1_686_832_496);
        assert_eq!(r.rd(0x0C), 0);
        r.wr(0x0C, 0xFFFF_FFFF);
        assert_eq!(r.rd(0x0C), 0);
        assert_eq!(r.rd(REGS_SIZE), 0);
        assert_eq!(r.rtc.read(u64::MAX - 3, 4), 0);
        r.wr(REG_CTRL, 0xFFFF_FFFF);
        assert_eq!(r.rd(REG_CTRL), 0xFF);
        r.wr(REG_ALARM, 0xFFFF_FFFF);
        assert_eq!(r.rd(REG_ALARM), TIME_MASK);
    }

    // ---- Snapshots ----

    /// Every register as Linux reads it.
    fn registers(r: &mut Rig) -> Vec<u32> {
        (0..REGS_SIZE).step_by(4).map(|off| r.rd(off)).collect()
    }

    /// The state of `saved` loaded into an RTC built for another time, at `now`.
    fn restored(saved: &DeviceState, now: u64) -> Rig {
        let mut t = rig(0);
        t.clock.set(now);
        t.rtc.load_state(saved).unwrap();
        t
    }

    /// 2023-06-15 12:34:56 at virtual 0, one-second interrupt and a combined 12:36:00 alarm
    /// on, saved at 3.5 s with the one-second status pending.
    fn alarmed() -> Rig {
        let mut r = rig(1_686_832_496);
        r.wr(REG_ALARM, 36 << TIME_MIN_SHIFT);
        let alarm = CTRL_ALARM_MODE | CTRL_ALARM_MIN_ENABLE | CTRL_ALARM_SEC_ENABLE;
        r.wr(REG_CTRL, CTRL_ENABLE | alarm | CTRL_SEC_INTERRUPT);
        r.run_to(3 * S + S / 2);
        assert!(r.irq(), "one-second interrupt pending");
        r
    }

    #[test]
    fn saved_state_reads_the_same_time_and_alarms_at_the_same_time() {
        let mut r = alarmed();
        let saved = r.rtc.save_state().expect("the RTC saves its state");
        assert_eq!(
            (saved.kind.as_str(), saved.version),
            (STATE_KIND, STATE_VERSION)
        );
        let mut t = restored(&saved, 3 * S + S / 2);
        assert!(t.irq(), "the restored RTC raises its pending interrupt");
        assert_eq!(t.rtc.save_state(), Some(saved));
        assert_eq!(t.rtc.unix_time(), 1_686_832_499);
        let regs = registers(&mut r);
        assert_eq!(regs[0] & 0xFFFF, 0x223B, "12:34:59");
        assert_eq!(registers(&mut t), regs);
        assert_eq!(t.rtc.next_deadline(), r.rtc.next_deadline());
        // Turn the one-second interrupt off and acknowledge: the alarm comes at 64 s in both.
        for c in [&mut r, &mut t] {
            let ctrl = c.rd(REG_CTRL);
            c.wr(REG_CTRL, ctrl & !CTRL_SEC_INTERRUPT);
            c.wr(REG_ALARM_STATUS, STATUS_MASK);
            assert!(!c.irq());
            assert_eq!(c.rtc.next_deadline(), Some(64 * S));
            c.run_to(64 * S - 1);
            assert!(!c.irq());
            c.run_to(64 * S);
            assert!(c.irq(), "12:36:00 alarm");
        }
        assert_eq!(registers(&mut t), registers(&mut r));
    }

    #[test]
    fn a_half_done_guest_time_write_continues_after_a_restore() {
        let mut r = rig(1_686_832_496);
        // Linux aspeed_rtc_set_time, interrupted after the year: unlock, write RTC_YEAR.
        r.wr(REG_CTRL, CTRL_ENABLE | CTRL_UNLOCK);
        r.wr(
            REG_YEAR,
            (20 << YEAR_CENTURY_SHIFT) | (30 << YEAR_YEAR_SHIFT) | 1,
        );
        r.clock.set(S / 4);
        let saved = r.rtc.save_state().unwrap();
        let mut t = restored(&saved, S / 4);
        for c in [&mut r, &mut t] {
            c.wr(REG_TIME, (2 << TIME_MDAY_SHIFT) | (3 << TIME_HOUR_SHIFT));
            c.wr(REG_CTRL, CTRL_ENABLE);
        }
        let sets = r.rtc.take_guest_sets();
        assert_eq!(
            sets,
            vec![DateTime {
                year: 2030,
                month: 1,
                day: 2,
                hour: 3,
                minute: 0,
                second: 0
            }
            .to_unix()]
        );
        assert_eq!(
            t.rtc.take_guest_sets(),
            sets,
            "the year written before the save counts"
        );
        assert_eq!(t.rtc.state(), r.rtc.state());
    }

    #[test]
    fn a_state_of_another_kind_or_version_or_out_of_range_is_refused() {
        let saved = alarmed().rtc.save_state().unwrap();
        let mut r = rig(1_000);
        r.wr(REG_ALARM, 5);
        let before = r.rtc.state();
        let changes = r.rec.changes();
        let wrong_kind = DeviceState {
            kind: "aspeed-wdt".into(),
            ..saved.clone()
        };
        let wrong_version = DeviceState {
            version: STATE_VERSION + 1,
            ..saved.clone()
        };
        let mut far = saved.clone();
        far.data["anchor_secs"] = (MAX_UNIX_TIME + 1).into();
        for bad in [&wrong_kind, &wrong_version, &far] {
            assert!(r.rtc.load_state(bad).is_err());
        }
        assert_eq!(r.rtc.state(), before, "left unchanged");
        assert_eq!(r.rec.changes(), changes, "the line is not touched");
        // A state without pending status lowers a line that was high.
        let mut t = alarmed();
        t.rtc.load_state(&rig(5).rtc.save_state().unwrap()).unwrap();
        assert!(!t.irq());
    }
}
