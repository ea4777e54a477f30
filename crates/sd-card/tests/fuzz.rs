//! Fuzz target for the SD card / eMMC model: arbitrary sequences of commands (any index, with
//! arguments that are arbitrary, this card's RCA, addresses near the start and the end of the
//! selected area, CMD6 switch words and the protocol's magic values), application commands,
//! data reads and writes of any length, Linux-style initialisation, block writes read back,
//! power cycles, save / restore, and storage failures switched on and off. Cards are SDSC
//! (small images, also sizes the CSD must round), SDHC, SDXC, byte-mode eMMC with and without
//! boot partitions, and sector-mode eMMC up to the largest size (sparse storage).
//!
//! Checked after every operation: nothing panics; each operation returns within
//! [`OP_BUDGET`]; the card never touches storage outside the image; a read or write moves no
//! more bytes than offered and none without a transfer in that direction; the card state and
//! the transfer agree; only CMD2, CMD9 and CMD10 answer with R2; the capacity never changes.
//! An initialisation from any state but inactive ends in the transfer state, and a block write
//! followed by a read of the same blocks (with the storage working) returns the data written.
//! Save / restore gives back the same state. Cases: `PROPTEST_CASES` (256 by default) x
//! [`OPS`] operations; see docs/fuzzing.md.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;

use mmio_fuzz::*;
use proptest::prelude::*;
use sd_card::*;

/// What the checked storage saw.
#[derive(Default)]
struct Log {
    /// Accesses outside the storage.
    violations: Vec<String>,
    /// Fail every access.
    fail: bool,
}

/// A storage that records accesses outside it and fails on demand.
struct Checked {
    inner: Box<dyn Storage>,
    log: Rc<RefCell<Log>>,
}

impl Checked {
    fn check(&self, what: &str, offset: u64, n: u64) -> io::Result<()> {
        let mut log = self.log.borrow_mut();
        if offset.checked_add(n).is_none_or(|e| e > self.inner.len()) {
            log.violations
                .push(format!("{what} of {n} bytes at {offset:#x}"));
        }
        if log.fail {
            return Err(io::Error::other("injected failure"));
        }
        Ok(())
    }
}

impl Storage for Checked {
    fn len(&self) -> u64 {
        self.inner.len()
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.check("read", offset, buf.len() as u64)?;
        self.inner.read_at(offset, buf)
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.check("write", offset, data.len() as u64)?;
        self.inner.write_at(offset, data)
    }
    fn zero_range(&mut self, offset: u64, len: u64) -> io::Result<()> {
        self.check("zero", offset, len)?;
        self.inner.zero_range(offset, len)
    }
}

/// A card to build: kind, image size, boot partition size, sparse storage.
#[derive(Clone, Copy, Debug)]
struct Setup {
    kind: Kind,
    len: u64,
    boot: u64,
}

fn setup() -> impl Strategy<Value = Setup> {
    let sd = |len| Setup {
        kind: Kind::Sd,
        len,
        boot: 0,
    };
    let emmc = |len, boot| Setup {
        kind: Kind::Emmc,
        len,
        boot,
    };
    const K128: u64 = 128 << 10;
    prop_oneof![
        3 => prop::sample::select(vec![2048u64, 64 << 10, (64 << 10) + 512, 1 << 20, 4 << 20])
            .prop_map(sd),
        1 => prop::sample::select(vec![(2u64 << 30) + (512 << 10), 8 << 30, 64 << 30, 2 << 40])
            .prop_map(sd),
        3 => (prop::sample::select(vec![64u64 << 10, 1 << 20, (1 << 20) + 512]), 0u64..=2)
            .prop_map(move |(user, n)| emmc(user + 2 * n * K128, n * K128)),
        1 => prop::sample::select(vec![(4u64 << 30) + 2 * K128, u32::MAX as u64 * 512])
            .prop_map(move |len| emmc(len, if len < (1 << 40) { K128 } else { 0 })),
    ]
}

/// A command argument, resolved against the card when the operation runs.
#[derive(Clone, Debug)]
enum Arg {
    Raw(u32),
    /// This card's RCA in bits 31:16 and these low bits.
    Rca(u16),
    /// A data address `k` blocks from the start of the selected area (plus `byte` in byte
    /// mode).
    FromStart(u64, u16),
    /// A data address `k` blocks before the end of the selected area.
    FromEnd(u64, u16),
    /// An eMMC CMD6 word: access, index, value.
    Switch(u8, u8, u8),
}

fn arg() -> impl Strategy<Value = Arg> {
    let magic = vec![
        0x1AA,
        0x2AA,
        0x4030_0000,
        0x40FF_8000,
        0x00FF_8080,
        0x4000_0080,
        0x0000_4000,
        0x80FF_FFF1,
        0x00FF_FFF0,
        0x80FF_FFF3,
        0x00FF_FFFF,
        EMMC_GO_PRE_IDLE,
        EMMC_BOOT_INITIATION,
        EMMC_TRIM_ARG,
        EMMC_DISCARD_ARG,
        0x8000_0000,
        2,
        512,
        16,
        1 << 16,
        (1 << 16) | (1 << 15),
    ];
    let writable = vec![
        32u8, 33, 34, 155, 160, 161, 162, 175, 177, 179, 183, 185, 187, 192, 200,
    ];
    prop_oneof![
        3 => any::<u32>().prop_map(Arg::Raw),
        2 => prop::sample::select(magic).prop_map(Arg::Raw),
        2 => (0u32..8).prop_map(Arg::Raw),
        4 => prop_oneof![Just(0u16), Just(1 << 15), any::<u16>()].prop_map(Arg::Rca),
        3 => (0u64..8, prop_oneof![Just(0u16), any::<u16>()]).prop_map(|(k, b)| Arg::FromStart(k, b)),
        3 => (0u64..8, prop_oneof![Just(0u16), any::<u16>()]).prop_map(|(k, b)| Arg::FromEnd(k, b)),
        3 => (0u8..4, prop::sample::select(writable), prop_oneof![2 => 0u8..4, 1 => 8u8..11, 1 => any::<u8>()])
            .prop_map(|(a, i, v)| Arg::Switch(a, i, v)),
    ]
}

fn index() -> impl Strategy<Value = u8> {
    let common = vec![
        0u8, 1, 2, 3, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 17, 18, 19, 23, 24, 25, 32, 33, 35,
        36, 38, 42, 55,
    ];
    prop_oneof![
        8 => prop::sample::select(common),
        2 => 0u8..64,
        1 => any::<u8>(),
    ]
}

#[derive(Clone, Debug)]
enum Op {
    Command(u8, Arg),
    /// CMD55 with this card's RCA, then the command.
    App(u8, Arg),
    Read(usize),
    Write(Vec<u8>),
    /// Linux-style initialisation up to the transfer state.
    Init,
    /// Blocks written at a position of the selected area, then read back.
    WriteRead {
        at: u64,
        blocks: u32,
        seed: u8,
        sbc: bool,
    },
    /// Power cycle.
    Reset,
    SaveRestore,
    /// Storage failures on or off.
    Faults(bool),
}

fn op() -> impl Strategy<Value = Op> {
    let app_index = prop_oneof![
        4 => prop::sample::select(vec![6u8, 13, 22, 23, 41, 42, 51]),
        1 => 0u8..64,
    ];
    prop_oneof![
        20 => (index(), arg()).prop_map(|(i, a)| Op::Command(i, a)),
        5 => (app_index, arg()).prop_map(|(i, a)| Op::App(i, a)),
        8 => prop_oneof![
            4 => 0usize..600,
            1 => 0usize..70_000,
        ]
        .prop_map(Op::Read),
        6 => prop_oneof![
            4 => prop::collection::vec(any::<u8>(), 0..1100),
            1 => (0usize..9000, any::<u8>()).prop_map(|(n, b)| vec![b; n]),
        ]
        .prop_map(Op::Write),
        2 => Just(Op::Init),
        4 => (any::<u64>(), 1u32..5, any::<u8>(), any::<bool>())
            .prop_map(|(at, blocks, seed, sbc)| Op::WriteRead { at, blocks, seed, sbc }),
        1 => Just(Op::Reset),
        1 => Just(Op::SaveRestore),
        1 => any::<bool>().prop_map(Op::Faults),
    ]
}

fn resolve(card: &Card, a: &Arg) -> u32 {
    let area = card.partition_len(card.partition()) / 512;
    let address = |block: u64, byte: u16| {
        if card.block_addressing() {
            block as u32
        } else {
            (block * 512 + u64::from(byte % 512)).min(u64::from(u32::MAX)) as u32
        }
    };
    match *a {
        Arg::Raw(v) => v,
        Arg::Rca(low) => (u32::from(card.rca()) << 16) | u32::from(low),
        Arg::FromStart(k, b) => address(k, b),
        Arg::FromEnd(k, b) => address(area.saturating_sub(k), b),
        Arg::Switch(access, index, value) => {
            (u32::from(access) << 24) | (u32::from(index) << 16) | (u32::from(value) << 8) | 1
        }
    }
}

fn rca_arg(card: &Card) -> u32 {
    u32::from(card.rca()) << 16
}

fn drain(card: &mut Card, n: usize) {
    let mut buf = vec![0u8; n];
    card.read_data(&mut buf);
}

/// The SD (mmc_sd_init_card) or eMMC (mmc_init_card) initialisation, results unchecked.
fn init(card: &mut Card) {
    card.command(0, 0);
    match card.kind() {
        Kind::Sd => {
            card.command(8, 0x1AA);
            for _ in 0..4 {
                card.command(55, 0);
                if let Some(Response::Short(ocr)) = card.command(41, 0x4030_0000) {
                    if ocr & ocr::READY != 0 {
                        break;
                    }
                }
            }
            card.command(2, 0);
            card.command(3, 0);
            card.command(9, rca_arg(card));
            card.command(7, rca_arg(card));
            card.command(55, rca_arg(card));
            card.command(51, 0);
            drain(card, 8);
            card.command(6, 0x80FF_FFF1);
            drain(card, 64);
            card.command(55, rca_arg(card));
            card.command(6, 2);
        }
        Kind::Emmc => {
            for _ in 0..4 {
                if let Some(Response::Short(ocr)) = card.command(1, 0x40FF_8080) {
                    if ocr & ocr::READY != 0 {
                        break;
                    }
                }
            }
            card.command(2, 0);
            card.command(3, 1 << 16);
            card.command(9, 1 << 16);
            card.command(7, 1 << 16);
            card.command(8, 0);
            drain(card, 512);
            card.command(6, (3 << 24) | (185 << 16) | (1 << 8) | 1);
            card.command(6, (3 << 24) | (183 << 16) | (2 << 8) | 1);
        }
    }
}

fn clean_r1(r: Option<Response>, what: &str) -> Result<u32, TestCaseError> {
    match r {
        Some(Response::Short(st)) => {
            prop_assert_eq!(st & status::ERRORS, 0, "{}: status {:#x}", what, st);
            Ok(st)
        }
        other => Err(TestCaseError::fail(format!("{what}: {other:?}"))),
    }
}

/// Writes `blocks` blocks at `at` (a position in the selected area) and reads them back as
/// Linux's block driver does. With `check`, every response must be a clean R1 and the data
/// must come back.
fn write_read(
    card: &mut Card,
    at: u64,
    blocks: u32,
    seed: u8,
    sbc: bool,
    check: bool,
) -> Result<(), TestCaseError> {
    let area = card.partition_len(card.partition()) / 512;
    if area == 0 {
        return Ok(());
    }
    let first = at % area;
    let n = u64::from(blocks).min(area - first) as u32;
    let addr = if card.block_addressing() {
        first as u32
    } else {
        (first * 512) as u32
    };
    let data: Vec<u8> = (0..n as usize * 512)
        .map(|i| (i as u8).wrapping_mul(seed | 1) ^ seed ^ (i >> 9) as u8)
        .collect();
    let r = card.command(16, 512);
    if check && !matches!(r, Some(Response::Short(_))) {
        return Err(TestCaseError::fail(format!("CMD16: {r:?}")));
    }
    let multi = n > 1;
    if multi && sbc {
        let r = card.command(23, n);
        if check {
            clean_r1(r, "CMD23 before the write")?;
        }
    }
    let r = card.command(if multi { 25 } else { 24 }, addr);
    if check {
        clean_r1(r, "write command")?;
    }
    let taken = card.write_data(&data);
    if check {
        prop_assert_eq!(
            taken,
            data.len(),
            "write_data took {} of {}",
            taken,
            data.len()
        );
    }
    if multi && !sbc {
        let r = card.command(12, 0);
        if check {
            clean_r1(r, "CMD12 after the write")?;
        }
    }
    let r = card.command(13, rca_arg(card));
    if check {
        let st = clean_r1(r, "CMD13 after the write")?;
        prop_assert_eq!((st >> 9) & 0xF, 4, "tran after the write");
    }
    if multi && sbc {
        let r = card.command(23, n);
        if check {
            clean_r1(r, "CMD23 before the read")?;
        }
    }
    let r = card.command(if multi { 18 } else { 17 }, addr);
    if check {
        clean_r1(r, "read command")?;
    }
    let mut back = vec![0u8; data.len()];
    let got = card.read_data(&mut back);
    if multi && !sbc {
        let r = card.command(12, 0);
        if check {
            clean_r1(r, "CMD12 after the read")?;
        }
    }
    if check {
        prop_assert_eq!(got, data.len());
        prop_assert!(back == data, "blocks at {} read back differently", addr);
        prop_assert_eq!(card.current_state(), State::Transfer);
    }
    Ok(())
}

/// Only CMD2, CMD9 and CMD10 answer with R2; an R1 reports the state the card was in when
/// the command arrived.
fn check_response(
    card: &Card,
    index: u8,
    app: bool,
    before: State,
    r: Option<Response>,
) -> Result<(), TestCaseError> {
    match r {
        Some(Response::Long(_)) => {
            prop_assert!(
                matches!(index, 2 | 9 | 10),
                "R2 for CMD{} (app {})",
                index,
                app
            );
        }
        Some(Response::Short(v)) => {
            let not_r1 = match card.kind() {
                Kind::Sd => matches!(index, 3 | 8) || (app && index == 41),
                Kind::Emmc => index == 1,
            };
            if !not_r1 {
                prop_assert_eq!((v >> 9) & 0xF, before.code(), "CMD{} R1 {:#x}", index, v);
                prop_assert_ne!(v & status::READY_FOR_DATA, 0);
            }
        }
        None => {}
    }
    Ok(())
}

fn build(s: Setup, log: &Rc<RefCell<Log>>) -> Card {
    let inner: Box<dyn Storage> = if s.len > (8 << 20) {
        Box::new(SparseStorage::new(s.len))
    } else {
        Box::new(vec![0u8; s.len as usize])
    };
    let storage = Checked {
        inner,
        log: log.clone(),
    };
    Card::new(s.kind, Box::new(storage), s.boot).expect("a usable size")
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn card_survives_arbitrary_commands_and_data(
        s in setup(),
        ops in prop::collection::vec(op(), OPS),
    ) {
        let log = Rc::new(RefCell::new(Log::default()));
        let mut card = build(s, &log);
        let capacity = card.capacity();
        for op in &ops {
            let before = card.transfer();
            let state_before = card.current_state();
            match op {
                Op::Command(index, a) => {
                    let arg = resolve(&card, a);
                    let app = card.state().app_cmd;
                    let r = timed(op, || card.command(*index, arg))?;
                    check_response(&card, *index, app, state_before, r)?;
                }
                Op::App(index, a) => {
                    let rca = rca_arg(&card);
                    timed(op, || card.command(55, rca))?;
                    let arg = resolve(&card, a);
                    let app = card.state().app_cmd;
                    let r = timed(op, || card.command(*index, arg))?;
                    check_response(&card, *index, app, state_before, r)?;
                }
                Op::Read(n) => {
                    let mut buf = vec![0u8; *n];
                    let got = timed(op, || card.read_data(&mut buf))?;
                    prop_assert!(got <= *n);
                    if before != Some(Direction::Read) {
                        prop_assert_eq!(got, 0, "read without a read transfer");
                    }
                }
                Op::Write(data) => {
                    let took = timed(op, || card.write_data(data))?;
                    prop_assert!(took <= data.len());
                    if before != Some(Direction::Write) {
                        prop_assert_eq!(took, 0, "write without a write transfer");
                    }
                }
                Op::Init => {
                    timed(op, || init(&mut card))?;
                    if state_before != State::Inactive {
                        prop_assert_eq!(card.current_state(), State::Transfer, "after init");
                    }
                }
                Op::WriteRead { at, blocks, seed, sbc } => {
                    if matches!(card.current_state(), State::SendingData | State::ReceivingData) {
                        card.command(12, 0);
                    }
                    let check = card.current_state() == State::Transfer && !log.borrow().fail;
                    timed(op, || write_read(&mut card, *at, *blocks, *seed, *sbc, check))??;
                }
                Op::Reset => timed(op, || card.reset())?,
                Op::SaveRestore => {
                    let saved = card.state();
                    let storage = card.into_storage();
                    card = Card::from_state(storage, &saved)
                        .map_err(|e| TestCaseError::fail(format!("restore: {e}")))?;
                    prop_assert_eq!(card.state(), saved);
                }
                Op::Faults(on) => log.borrow_mut().fail = *on,
            }
            let v = &log.borrow().violations;
            prop_assert!(v.is_empty(), "outside the storage after {:?}: {:?}", op, v);
            let t = card.transfer();
            match card.current_state() {
                State::SendingData => prop_assert_eq!(t, Some(Direction::Read)),
                State::ReceivingData => prop_assert_eq!(t, Some(Direction::Write)),
                State::BusTest => prop_assert!(t.is_none() || t == Some(Direction::Write)),
                other => prop_assert_eq!(t, None, "transfer in state {:?}", other),
            }
            prop_assert_eq!(card.capacity(), capacity);
        }
    }
}
