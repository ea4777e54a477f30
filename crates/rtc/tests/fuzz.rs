//! Fuzz target for the RTC: arbitrary sequences of MMIO reads and writes of any width at any
//! offset (control, alarm and status words mixed in), interleaved with a [`ManualClock`]
//! advanced by arbitrary amounts, the SoC's deadline delivery (`next_deadline` / `on_time`),
//! resets, host time sets, and Linux `aspeed_rtc_set_time` / `aspeed_rtc_read_time` replays.
//!
//! Checked after every operation: nothing panics, a read of N bytes fits in N bytes, each
//! operation returns within [`OP_BUDGET`], the interrupt line is at the level of the status
//! bits, control and status keep only their defined bits, the counter stays within its clamp,
//! a write while locked (that does not touch the control register) leaves the time alone, and
//! once due events are delivered the next deadline lies in the future. Replays check that a
//! Linux set lands exactly (and is queued for the host when it locked the RTC) and that a Linux
//! read returns the counter's date; a check operation compares TIME and YEAR with
//! `date_time()`. Virtual time stays below 2^63 ns. Cases: `PROPTEST_CASES` (256 by default) x
//! [`OPS`] operations; see docs/fuzzing.md.

use std::rc::Rc;

use bus::{Clock, Device, LevelRecorder, ManualClock};
use mmio_fuzz::*;
use proptest::prelude::*;
use rtc::*;

#[derive(Clone, Debug)]
enum Op {
    Read(u64, u8),
    Write(u64, u8, u64),
    /// Moves virtual time forward by this many ns.
    Advance(u64),
    /// What the SoC does: `on_time(now)` if the device's deadline has come.
    Deliver,
    Reset,
    /// Control socket `rtc-set`.
    HostSet(i64),
    /// Linux `aspeed_rtc_set_time` of (year, month 1..=12, day, hour, minute, second).
    LinuxSet(i64, u32, u32, u32, u32, u32),
    /// Linux `aspeed_rtc_read_time`.
    LinuxRead,
    /// Reads TIME and YEAR and compares them with `date_time()`.
    Check,
}

fn op() -> impl Strategy<Value = Op> {
    let magic = vec![
        u64::from(CTRL_ENABLE),
        u64::from(CTRL_ENABLE | CTRL_UNLOCK),
        u64::from(CTRL_UNLOCK),
        u64::from(CTRL_ENABLE | CTRL_ALARM_ENABLES),
        u64::from(CTRL_ENABLE | CTRL_ALARM_MODE | CTRL_ALARM_ENABLES),
        u64::from(CTRL_ENABLE | CTRL_SEC_INTERRUPT),
        u64::from(CTRL_ENABLE | CTRL_ALARM_SEC_ENABLE),
        u64::from(STATUS_MASK),
        0x0101_0101,
        0x0013_4601,
        0x0F0C_2238,
        0x0014_1706,
        30,
        0x1F1F_3F3F,
    ];
    let unix = prop_oneof![
        4 => 0i64..7_258_118_400,
        1 => any::<i64>(),
        1 => -100_000i64..100_000,
    ];
    prop_oneof![
        8 => (offset(REGS_SIZE), width()).prop_map(|(o, w)| Op::Read(o, w)),
        10 => (offset(REGS_SIZE), width(), value(magic)).prop_map(|(o, w, v)| Op::Write(o, w, v)),
        5 => advance().prop_map(Op::Advance),
        5 => Just(Op::Deliver),
        1 => Just(Op::Reset),
        1 => unix.prop_map(Op::HostSet),
        2 => (1970i64..2200, 1u32..=12, 1u32..=28, 0u32..24, 0u32..60, 0u32..60)
            .prop_map(|(y, mo, d, h, mi, s)| Op::LinuxSet(y, mo, d, h, mi, s)),
        2 => Just(Op::LinuxRead),
        2 => Just(Op::Check),
    ]
}

/// The register words an access touches.
fn words(offset: u64, size: u8) -> Vec<u64> {
    let mut w = vec![offset & !3];
    if size == 8 {
        w.push(offset.wrapping_add(4) & !3);
    }
    w
}

fn linux_set_time(rtc: &mut AspeedRtc, d: &DateTime) {
    let (tm_year, tm_mon) = ((d.year - 1900) as u32, d.month - 1);
    let cent = (tm_year + 1900) / 100;
    let year = tm_year % 100;
    let reg1 = (d.day << 24) | (d.hour << 16) | (d.minute << 8) | d.second;
    let reg2 = ((cent & 0x1f) << 16) | ((year & 0x7f) << 8) | ((tm_mon + 1) & 0xf);
    let ctrl = rtc.read(REG_CTRL, 4);
    rtc.write(REG_CTRL, 4, ctrl | u64::from(CTRL_UNLOCK));
    rtc.write(REG_TIME, 4, u64::from(reg1));
    rtc.write(REG_YEAR, 4, u64::from(reg2));
    rtc.write(REG_CTRL, 4, ctrl | u64::from(CTRL_ENABLE));
}

fn linux_read_time(rtc: &mut AspeedRtc) -> Option<DateTime> {
    if rtc.read(REG_CTRL, 4) as u32 & CTRL_ENABLE == 0 {
        return None;
    }
    loop {
        let reg2 = rtc.read(REG_YEAR, 4) as u32;
        let reg1 = rtc.read(REG_TIME, 4) as u32;
        if reg2 == rtc.read(REG_YEAR, 4) as u32 {
            return Some(DateTime::from_regs(reg1, reg2));
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn rtc_survives_arbitrary_mmio_and_time(
        start in prop_oneof![0i64..7_258_118_400, any::<i64>()],
        ops in prop::collection::vec(op(), OPS),
    ) {
        let clock = Rc::new(ManualClock::new());
        let rec = LevelRecorder::new();
        let mut rtc = AspeedRtc::new(clock.clone(), rec.line(0), start);
        for op in &ops {
            let before = rtc.state();
            let time_before = rtc.unix_time();
            match *op {
                Op::Read(offset, size) => {
                    let v = timed(op, || rtc.read(offset, size))?;
                    prop_assert!(read_fits(v, size), "{:?} returned {:#x}", op, v);
                }
                Op::Write(offset, size, value) => {
                    timed(op, || rtc.write(offset, size, value))?;
                    let locked = before.ctrl & CTRL_UNLOCK == 0;
                    if locked && !words(offset, size).contains(&REG_CTRL) {
                        prop_assert_eq!(rtc.unix_time(), time_before, "locked {:?} moved the time", op);
                    }
                }
                Op::Advance(ns) => clock.set(clock.now_ns().saturating_add(ns).min(END_OF_TIME)),
                Op::Deliver => {
                    let now = clock.now_ns();
                    let due = timed(op, || rtc.next_deadline())?.is_some_and(|d| d <= now);
                    if due {
                        timed(op, || rtc.on_time(now))?;
                        let next = timed(op, || rtc.next_deadline())?;
                        prop_assert!(
                            next.is_none_or(|d| d > now),
                            "deadline {:?} still due at {} after on_time", next, now
                        );
                    }
                }
                Op::Reset => {
                    timed(op, || rtc.reset())?;
                    prop_assert_eq!(rtc.unix_time(), time_before, "reset moved the time");
                }
                Op::HostSet(secs) => {
                    timed(op, || rtc.set_unix_time(secs))?;
                    prop_assert_eq!(rtc.unix_time(), secs.clamp(-MAX_UNIX_TIME, MAX_UNIX_TIME));
                }
                Op::LinuxSet(year, month, day, hour, minute, second) => {
                    let d = DateTime { year, month, day, hour, minute, second };
                    rtc.take_guest_sets();
                    timed(op, || linux_set_time(&mut rtc, &d))?;
                    prop_assert_eq!(rtc.unix_time(), d.to_unix(), "{:?}", op);
                    prop_assert!(rtc.enabled());
                    let sets = rtc.take_guest_sets();
                    if before.ctrl & CTRL_UNLOCK == 0 {
                        prop_assert_eq!(sets, vec![d.to_unix()], "{:?}", op);
                    } else {
                        prop_assert!(sets.is_empty(), "no lock, no report: {:?}", sets);
                    }
                }
                Op::LinuxRead => {
                    let got = timed(op, || linux_read_time(&mut rtc))?;
                    if rtc.enabled() {
                        let want = rtc.date_time();
                        prop_assert_eq!(got.map(|d| (d.year.rem_euclid(3200), d.month, d.day)),
                            Some((want.year.rem_euclid(3200), want.month, want.day)));
                        let got = got.unwrap();
                        prop_assert_eq!((got.hour, got.minute, got.second),
                            (want.hour, want.minute, want.second));
                    } else {
                        prop_assert!(got.is_none());
                    }
                }
                Op::Check => {
                    let (time, year) = (rtc.read(REG_TIME, 4), rtc.read(REG_YEAR, 4));
                    let d = rtc.date_time();
                    prop_assert_eq!(time, u64::from(d.time_reg()));
                    prop_assert_eq!(year, u64::from(d.year_reg()));
                }
            }
            let s = rtc.state();
            prop_assert_eq!(rec.level(0), s.alarm_status != 0, "interrupt line after {:?}", op);
            prop_assert_eq!(rtc.irq_pending(), s.alarm_status != 0);
            prop_assert_eq!(s.ctrl & !CTRL_MASK, 0);
            prop_assert_eq!(s.alarm_status & !STATUS_MASK, 0);
            prop_assert_eq!(s.alarm & !TIME_MASK, 0);
            let t = rtc.unix_time();
            prop_assert!(t.abs() <= MAX_UNIX_TIME + (1 << 35), "counter {} out of range", t);
        }
    }
}
