//! Fuzz target for the LPC controller: arbitrary MMIO reads and writes of any width at any
//! offset (KCS and snoop registers and their enable bits mixed in), host-side KCS requests of
//! any length on any channel, host port writes, polls, virtual time and its deadlines, resets.
//!
//! Checked after every operation: nothing panics, a read of N bytes fits in N bytes, each
//! operation returns within the operation budget, each KCS interrupt is high exactly while its
//! channel's IBF, enable and IBF interrupt enable are set, the snoop interrupt exactly while a
//! captured status bit has its interrupt enabled, every reply belongs to a request that was in
//! flight, a request is refused only for its documented reasons, and once due events are
//! delivered no request is left past its deadline. Cases: `PROPTEST_CASES` (256 by default) x
//! [`OPS`] operations; see docs/fuzzing.md.

use std::rc::Rc;

use bus::{Clock, Device, LevelRecorder, ManualClock};
use lpc::*;
use mmio_fuzz::*;
use proptest::prelude::*;

const OPS: usize = 64;

#[derive(Clone, Debug)]
enum Op {
    Read(u64, u8),
    Write(u64, u8, u64),
    Request(usize, Vec<u8>, u64),
    Snoop(u16, Vec<u8>),
    Poll,
    Advance(u64),
    Deliver,
    Reset,
}

fn op() -> impl Strategy<Value = Op> {
    let magic: Vec<u64> = vec![
        u64::from(HICR0_LPC1E | HICR0_LPC2E | HICR0_LPC3E),
        u64::from(HICR2_IBFIE1 | HICR2_IBFIE2 | HICR2_IBFIE3),
        u64::from(HICR4_KCSENBL),
        u64::from(HICRB_LPC4E | HICRB_IBFIE4),
        u64::from(HICR5_EN_SNP0W | HICR5_ENINT_SNP0W | HICR5_EN_SNP1W | HICR5_ENINT_SNP1W),
        u64::from(HICR6_STR_SNP0W | HICR6_STR_SNP1W),
        0x0081_0080,
        0x80,
        0x40,
        0x80 | 0x40,
    ];
    let kcs_offsets = prop::sample::select(
        KCS_REGS
            .iter()
            .flat_map(|k| [k.idr, k.odr, k.str])
            .chain([
                REG_HICR0,
                REG_HICR2,
                REG_HICR4,
                REG_HICR5,
                REG_HICR6,
                REG_SNPWADR,
                REG_SNPWDR,
                REG_HICRB,
            ])
            .collect::<Vec<_>>(),
    );
    prop_oneof![
        6 => (prop_oneof![offset(REGS_SIZE), kcs_offsets.clone()], width()).prop_map(|(o, w)| Op::Read(o, w)),
        8 => (prop_oneof![offset(REGS_SIZE), kcs_offsets], width(), value(magic)).prop_map(|(o, w, v)| Op::Write(o, w, v)),
        2 => (0usize..6, prop::collection::vec(any::<u8>(), 0..8), advance()).prop_map(|(n, b, t)| Op::Request(n, b, t)),
        2 => (prop_oneof![Just(0x80u16), any::<u16>()], prop::collection::vec(any::<u8>(), 0..8)).prop_map(|(p, b)| Op::Snoop(p, b)),
        4 => Just(Op::Poll),
        3 => advance().prop_map(Op::Advance),
        3 => Just(Op::Deliver),
        1 => Just(Op::Reset),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn lpc_survives_arbitrary_mmio_and_host_traffic(ops in prop::collection::vec(op(), OPS)) {
        let clock = Rc::new(ManualClock::new());
        let rec = LevelRecorder::new();
        let mut lpc = AspeedLpc::new(
            clock.clone(),
            [rec.line(1), rec.line(2), rec.line(3), rec.line(4)],
            rec.line(0),
        );
        for op in &ops {
            let busy: Vec<bool> = (1..=4).map(|n| lpc.kcs_busy(n)).collect();
            match op {
                Op::Read(offset, size) => {
                    let v = timed(op, || lpc.read(*offset, *size))?;
                    prop_assert!(read_fits(v, *size), "{:?} returned {:#x}", op, v);
                }
                Op::Write(offset, size, value) => timed(op, || lpc.write(*offset, *size, *value))?,
                Op::Request(n, bytes, timeout) => {
                    let enabled = (1..=4).contains(n) && lpc.kcs_enabled(*n);
                    let r = timed(op, || lpc.kcs_request(*n, bytes, *timeout))?;
                    match r {
                        Ok(()) => prop_assert!(enabled && !busy[*n - 1] && !bytes.is_empty()),
                        Err(KcsError::NoChannel(_)) => prop_assert!(!(1..=4).contains(n)),
                        Err(KcsError::Disabled(_)) => prop_assert!(!enabled),
                        Err(KcsError::Busy(_)) => prop_assert!(busy[*n - 1]),
                        Err(KcsError::Length(l)) => prop_assert_eq!(l, bytes.len()),
                        Err(e) => prop_assert!(false, "{:?}: {}", op, e),
                    }
                }
                Op::Snoop(port, bytes) => {
                    let queued = timed(op, || lpc.snoop_write(*port, bytes))?;
                    prop_assert!(queued <= bytes.len());
                    prop_assert!(lpc.snoop_pending() <= SNOOP_QUEUE_LIMIT);
                }
                Op::Poll => timed(op, || lpc.poll())?,
                Op::Advance(ns) => clock.set(clock.now_ns().saturating_add(*ns).min(u64::MAX / 2)),
                Op::Deliver => {
                    let now = clock.now_ns();
                    if lpc.next_deadline().is_some_and(|d| d <= now) {
                        timed(op, || lpc.on_time(now))?;
                    }
                    prop_assert!(lpc.next_deadline().is_none_or(|d| d > now));
                }
                Op::Reset => timed(op, || lpc.reset())?,
            }
            for (n, _) in lpc.take_replies() {
                prop_assert!((1..=4).contains(&n));
                prop_assert!(busy[n - 1] || matches!(op, Op::Request(..)), "a reply on idle channel {} after {:?}", n, op);
                prop_assert!(!lpc.kcs_busy(n) || matches!(op, Op::Request(..)));
            }
            let s = lpc.state();
            let r = |o: u64| s.regs[(o / 4) as usize];
            for (i, k) in KCS_REGS.iter().enumerate() {
                let n = i + 1;
                let want = r(k.str) as u8 & STR_IBF != 0
                    && Kcs::enabled(n, &s.regs)
                    && Kcs::ibf_enable(n, &s.regs);
                prop_assert_eq!(rec.level(n as u32), want, "KCS {} interrupt after {:?}", n, op);
            }
            let (h5, h6) = (r(REG_HICR5), r(REG_HICR6));
            let snoop = (h6 & HICR6_STR_SNP0W != 0 && h5 & HICR5_ENINT_SNP0W != 0)
                || (h6 & HICR6_STR_SNP1W != 0 && h5 & HICR5_ENINT_SNP1W != 0);
            prop_assert_eq!(rec.level(0), snoop, "snoop interrupt after {:?}", op);
        }
    }
}
