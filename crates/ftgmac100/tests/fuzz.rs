//! Fuzz target for the FTGMAC100: arbitrary sequences of register reads and writes of any
//! width at any offset, arbitrary descriptor contents and buffer bytes in a small guest RAM
//! (rings and buffers inside, at its edges and outside it), transmit poll demands, frames of
//! any length and kind offered to `receive` (runts, jumbo, oversized, VLAN, IPv4 with bogus
//! headers), link and backend changes, in-MAC MDIO commands in both PHYCR layouts with or
//! without an RTL8211E behind them (and its cable plugged or not), and resets. Half of the
//! cases start from what the
//! Linux driver programs (rings, RX buffer size, interrupts, MAC enabled), and the driver
//! programs it again now and then, so frames do flow.
//!
//! Checked after every operation: nothing panics, a read of N bytes fits in N bytes, each
//! operation returns within [`OP_BUDGET`] (a hang fails the case through proptest's per-case
//! timeout), the interrupt line is high exactly when `ISR & IER` is non-zero, `receive`
//! refuses frames while the receiver is off or there is no link, an MDIO command has completed
//! when PHYCR is next read, and no frame handed to the
//! backend is longer than the largest frame the MAC can send. Cases: `PROPTEST_CASES` (256 by
//! default) x [`OPS`] operations; see docs/fuzzing.md.

use std::cell::RefCell;
use std::rc::Rc;

use bus::{Device, GuestMemory, LevelRecorder, VecMemory};
use ftgmac100::*;
use mmio_fuzz::*;
use proptest::prelude::*;

// ---- the FTGMAC100 ----

/// Guest RAM: 64 KiB at 2 GiB.
const RAM: u32 = 0x8000_0000;
const RAM_LEN: u32 = 0x1_0000;
const TX_RING: u32 = RAM;
const RX_RING: u32 = RAM + 0x1000;
const BUFFERS: u32 = RAM + 0x4000;
const SLOTS: u32 = 32;
const OUR_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

#[derive(Clone, Debug)]
enum Op {
    Read(u64, u8),
    Write(u64, u8, u64),
    /// Writes a descriptor into slot `slot` of the TX (`rx` false) or RX ring.
    Descriptor {
        rx: bool,
        slot: u32,
        words: [u32; 4],
    },
    /// Writes bytes into guest memory at `addr` (possibly running off the end of RAM).
    Poke {
        addr: u32,
        bytes: Vec<u8>,
    },
    /// A transmit poll demand (NPTXPD).
    Kick,
    /// What a driver's transmit does: the frame into a buffer, `segments` descriptors from
    /// the MAC's current TX pointer (FTS on the first, LTS on the last) with TXDES1 `flags`,
    /// then a poll demand.
    Send {
        frame: Vec<u8>,
        segments: usize,
        flags: u32,
    },
    /// A frame from the network.
    Receive(Vec<u8>),
    /// REVR bit 31 set (`new`) or clear, then a PHYCR write: an MDIO command in that layout.
    Mdio {
        new: bool,
        phycr: u32,
    },
    /// Plugs or unplugs the PHY's cable (when a PHY is attached).
    PhyCable(bool),
    Link(bool),
    Backend(bool),
    /// The driver (re)initialises rings and registers.
    Setup,
    Reset,
}

/// Buffer addresses: mostly in the buffer area, sometimes at the end of RAM or anywhere.
fn buffer_addr() -> impl Strategy<Value = u32> {
    prop_oneof![
        6 => (0u32..24).prop_map(|k| BUFFERS + k * 0x800),
        1 => (0u32..64).prop_map(|d| RAM + RAM_LEN - d),
        1 => any::<u32>(),
    ]
}

fn descriptor() -> impl Strategy<Value = Op> {
    let flags = prop::sample::select(vec![
        TXDES0_TXDMA_OWN | TXDES0_FTS | TXDES0_LTS,
        TXDES0_TXDMA_OWN | TXDES0_FTS,
        TXDES0_TXDMA_OWN | TXDES0_LTS,
        TXDES0_TXDMA_OWN,
        TXDES0_TXDMA_OWN | TXDES0_FTS | TXDES0_LTS | TXDES0_EDOTR,
        RXDES0_EDORR,
        0,
    ]);
    let size = prop_oneof![4 => 0u32..2048, 1 => 0u32..=TXDES0_TXBUF_SIZE_MASK];
    let des0 = prop_oneof![4 => (flags, size).prop_map(|(f, s)| f | s), 1 => any::<u32>()];
    let des1 = prop_oneof![
        2 => Just(0u32),
        2 => prop::sample::select(vec![
            TXDES1_IP_CHKSUM | TXDES1_TCP_CHKSUM | TXDES1_UDP_CHKSUM,
            TXDES1_INS_VLANTAG | 0x123,
            TXDES1_TX2FIC,
        ]),
        1 => any::<u32>(),
    ];
    let slot = prop_oneof![3 => 0u32..4, 1 => 0u32..SLOTS];
    (any::<bool>(), slot, des0, des1, any::<u32>(), buffer_addr()).prop_map(
        |(rx, slot, d0, d1, d2, d3)| Op::Descriptor {
            rx,
            slot,
            words: [d0, d1, d2, d3],
        },
    )
}

/// Frames: runts to oversized, to us / broadcast / multicast / others, plain, VLAN-tagged or
/// IPv4 (TCP, UDP, fragments) with arbitrary header fields.
fn frame() -> impl Strategy<Value = Vec<u8>> {
    let dst = prop_oneof![
        Just(OUR_MAC.to_vec()),
        Just(vec![0xFF; 6]),
        Just(vec![0x01, 0x00, 0x5E, 0x00, 0x00, 0x01]),
        prop::collection::vec(any::<u8>(), 6),
    ];
    let ethertype =
        prop::sample::select(vec![[0x08, 0x00], [0x81, 0x00], [0x86, 0xDD], [0x08, 0x06]]);
    let len = prop_oneof![6 => 0usize..200, 3 => 0usize..1600, 1 => 1500usize..10_000];
    let ip = (
        prop_oneof![3 => Just(0x45u8), 1 => any::<u8>()],
        any::<u16>(),
        prop::sample::select(vec![6u8, 17, 1, 0]),
        prop_oneof![3 => Just(0u16), 1 => any::<u16>()],
    );
    (dst, ethertype, len, ip, any::<u8>()).prop_map(|(dst, ethertype, len, ip, fill)| {
        let mut f = dst;
        f.extend_from_slice(&[0x02, 0, 0, 0, 0, 1]);
        f.extend_from_slice(&ethertype);
        if ethertype == [0x81, 0x00] {
            f.extend_from_slice(&[0x00, 0x05, 0x08, 0x00]);
        }
        let (version_ihl, total, protocol, fragment) = ip;
        let mut header = [0u8; 20];
        header[0] = version_ihl;
        header[2..4].copy_from_slice(&total.to_be_bytes());
        header[6..8].copy_from_slice(&fragment.to_be_bytes());
        header[9] = protocol;
        f.extend_from_slice(&header);
        f.resize(len.max(f.len()), fill);
        f.truncate(len);
        f
    })
}

fn op() -> impl Strategy<Value = Op> {
    let magic = vec![
        u64::from(
            MACCR_TXDMA_EN
                | MACCR_RXDMA_EN
                | MACCR_TXMAC_EN
                | MACCR_RXMAC_EN
                | MACCR_RX_BROADPKT
                | MACCR_GIGA_MODE
                | MACCR_FULLDUP,
        ),
        u64::from(
            MACCR_TXDMA_EN
                | MACCR_RXDMA_EN
                | MACCR_TXMAC_EN
                | MACCR_RXMAC_EN
                | MACCR_LOOP_EN
                | MACCR_RX_ALL,
        ),
        u64::from(
            MACCR_TXDMA_EN
                | MACCR_RXDMA_EN
                | MACCR_TXMAC_EN
                | MACCR_RXMAC_EN
                | MACCR_JUMBO_LF
                | MACCR_RM_VLAN
                | MACCR_HT_MULTI_EN,
        ),
        u64::from(MACCR_SW_RST),
        u64::from(INT_MASK),
        u64::from(TX_RING),
        u64::from(RX_RING),
        u64::from(RAM + RAM_LEN - 16),
        0x600,
        1,
        0x0002_2f00,
        0x00ff_ff00,
        u64::from(PHYCR_MIIRD),
        u64::from(PHYCR_MIIWR),
        u64::from(PHYCR_NEW_FIRE | PHYCR_NEW_ST_22 | (PHYCR_NEW_OP_READ << PHYCR_NEW_OP_SHIFT)),
        u64::from(REVR_NEW_MDIO_INTERFACE),
    ];
    // MDIO commands: reads and writes of any register at address 0 or anywhere, BMCR power
    // down / reset / autonegotiation restart, and garbage.
    let old_mdio = (
        0u32..32,
        prop_oneof![1 => Just(0u32), 1 => 0u32..32],
        any::<bool>(),
        0u32..0x40,
    )
        .prop_map(|(reg, addr, write, mdc)| {
            let op = if write { PHYCR_MIIWR } else { PHYCR_MIIRD };
            mdc | (addr << PHYCR_PHYAD_SHIFT) | (reg << PHYCR_REGAD_SHIFT) | op
        });
    let data = prop_oneof![
        prop::sample::select(vec![0x0800u32, 0x8000, 0x1200, 0x1140, 0]),
        any::<u16>().prop_map(u32::from),
    ];
    let new_mdio = (
        0u32..32,
        prop_oneof![1 => Just(0u32), 1 => 0u32..32],
        0u32..4,
        any::<bool>(),
        data,
    )
        .prop_map(|(reg, addr, op, st22, data)| {
            let st = if st22 { PHYCR_NEW_ST_22 } else { 0 };
            (data << PHYCR_NEW_DATA_SHIFT)
                | PHYCR_NEW_FIRE
                | st
                | (op << PHYCR_NEW_OP_SHIFT)
                | (addr << PHYCR_NEW_PHYAD_SHIFT)
                | reg
        });
    let mdio = prop_oneof![
        2 => old_mdio.prop_map(|phycr| Op::Mdio { new: false, phycr }),
        2 => new_mdio.prop_map(|phycr| Op::Mdio { new: true, phycr }),
        1 => (any::<bool>(), any::<u32>()).prop_map(|(new, phycr)| Op::Mdio { new, phycr }),
    ];
    prop_oneof![
        6 => (offset(0x100), width()).prop_map(|(o, w)| Op::Read(o, w)),
        8 => (offset(0x100), width(), value(magic)).prop_map(|(o, w, v)| Op::Write(o, w, v)),
        8 => descriptor(),
        3 => (buffer_addr(), frame()).prop_map(|(addr, bytes)| Op::Poke { addr, bytes }),
        3 => Just(Op::Kick),
        5 => (frame(), 1usize..=3, prop_oneof![2 => Just(0u32), 1 => any::<u32>()])
            .prop_map(|(frame, segments, flags)| Op::Send { frame, segments, flags }),
        6 => frame().prop_map(Op::Receive),
        3 => mdio,
        1 => prop::bool::weighted(0.75).prop_map(Op::PhyCable),
        1 => prop::bool::weighted(0.75).prop_map(Op::Link),
        1 => prop::bool::weighted(0.75).prop_map(Op::Backend),
        2 => Just(Op::Setup),
        1 => Just(Op::Reset),
    ]
}

/// What Linux's `ftgmac100_init_rings`, `ftgmac100_init_hw` and `ftgmac100_start_hw` do:
/// an empty TX ring, an RX ring of free descriptors with buffers, and the MAC enabled.
fn driver_setup(mac: &mut Ftgmac100, mem: &VecMemory, rbsr: u32) {
    for slot in 0..SLOTS {
        let last = slot == SLOTS - 1;
        let tx = [if last { TXDES0_EDOTR } else { 0 }, 0, 0, 0];
        let rx = [
            if last { RXDES0_EDORR } else { 0 },
            0,
            0,
            BUFFERS + (slot % 24) * 0x800,
        ];
        for (ring, words) in [(TX_RING, tx), (RX_RING, rx)] {
            let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            mem.write(u64::from(ring + slot * 16), &bytes)
                .expect("rings are inside RAM");
        }
    }
    mac.write(REG_NPTXR_BADR, 4, u64::from(TX_RING));
    mac.write(REG_RXR_BADR, 4, u64::from(RX_RING));
    mac.write(REG_RBSR, 4, u64::from(rbsr));
    mac.write(REG_IER, 4, u64::from(INT_MASK));
    let maccr = MACCR_TXDMA_EN
        | MACCR_RXDMA_EN
        | MACCR_TXMAC_EN
        | MACCR_RXMAC_EN
        | MACCR_RX_BROADPKT
        | MACCR_GIGA_MODE
        | MACCR_FULLDUP
        | MACCR_CRC_APD;
    mac.write(REG_MACCR, 4, u64::from(maccr));
}

type Sent = Rc<RefCell<Vec<usize>>>;

fn backend(sent: &Sent) -> Box<dyn NetBackend> {
    let sent = sent.clone();
    Box::new(move |frame: &[u8]| sent.borrow_mut().push(frame.len()))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn ftgmac100_survives_arbitrary_mmio_descriptors_and_frames(
        set_up in any::<bool>(),
        rbsr in prop_oneof![3 => Just(0x600u32), 1 => 0u32..=0x3fff],
        ram in prop::collection::vec(any::<u8>(), 0..512),
        // The AST2500's PHY behind PHYCR, at some address; or none (the AST2600).
        phy_addr in prop::option::weighted(0.5, prop_oneof![3 => Just(0u8), 1 => 0u8..32]),
        ops in prop::collection::vec(op(), OPS),
    ) {
        let mem = Rc::new(VecMemory::new(u64::from(RAM), RAM_LEN as usize));
        // Garbage in both rings to start with.
        mem.write(u64::from(TX_RING), &ram).expect("inside RAM");
        mem.write(u64::from(RX_RING), &ram).expect("inside RAM");
        let rec = LevelRecorder::new();
        let mut mac = Ftgmac100::new(mem.clone(), rec.line(0), OUR_MAC);
        let phy = phy_addr.map(|addr| {
            let phy = Rc::new(RefCell::new(mdio::Phy::new(true)));
            mac.attach_phy(addr, phy.clone());
            phy
        });
        let sent: Sent = Rc::default();
        if set_up {
            mac.set_backend(Some(backend(&sent)));
            mac.set_link(true);
            driver_setup(&mut mac, &mem, rbsr);
        }
        for op in &ops {
            match op {
                Op::Read(offset, size) => {
                    let v = timed(op, || mac.read(*offset, *size))?;
                    prop_assert!(read_fits(v, *size), "{:?} returned {:#x}", op, v);
                }
                Op::Write(offset, size, value) => timed(op, || mac.write(*offset, *size, *value))?,
                Op::Descriptor { rx, slot, words } => {
                    let ring = if *rx { RX_RING } else { TX_RING };
                    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
                    mem.write(u64::from(ring + slot * 16), &bytes).expect("rings are inside RAM");
                }
                Op::Poke { addr, bytes } => {
                    // Writes running off RAM are cut, as a guest's would fault.
                    let room = (RAM + RAM_LEN).saturating_sub(*addr) as usize;
                    if *addr >= RAM && room > 0 {
                        mem.write(u64::from(*addr), &bytes[..bytes.len().min(room)]).expect("inside RAM");
                    }
                }
                Op::Kick => timed(op, || mac.write(REG_NPTXPD, 4, 1))?,
                Op::Send { frame, segments, flags } => {
                    let buffer = BUFFERS + 0x2000;
                    mem.write(u64::from(buffer), frame).expect("the frame fits in the buffer area");
                    let mut des = mac.read(REG_NPTXR_PTR, 4) as u32;
                    let chunk = frame.len().div_ceil(*segments).max(1);
                    let pieces: Vec<&[u8]> = if frame.is_empty() { vec![&[]] } else { frame.chunks(chunk).collect() };
                    let mut at = buffer;
                    for (i, piece) in pieces.iter().enumerate() {
                        if !(TX_RING..TX_RING + SLOTS * 16).contains(&des) {
                            break;
                        }
                        let mut des0 = TXDES0_TXDMA_OWN | piece.len() as u32;
                        if i == 0 {
                            des0 |= TXDES0_FTS;
                        }
                        if i == pieces.len() - 1 {
                            des0 |= TXDES0_LTS;
                        }
                        let last_slot = des == TX_RING + (SLOTS - 1) * 16;
                        if last_slot {
                            des0 |= TXDES0_EDOTR;
                        }
                        let words = [des0, *flags, 0, at];
                        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
                        mem.write(u64::from(des), &bytes).expect("the ring is inside RAM");
                        at += piece.len() as u32;
                        des = if last_slot { TX_RING } else { des + 16 };
                    }
                    timed(op, || mac.write(REG_NPTXPD, 4, 1))?;
                }
                Op::Receive(frame) => {
                    let open = mac.state().maccr & (MACCR_RXDMA_EN | MACCR_RXMAC_EN)
                        == MACCR_RXDMA_EN | MACCR_RXMAC_EN
                        && mac.link_up();
                    let taken = timed(op, || mac.receive(frame))?;
                    prop_assert!(open || !taken, "a frame was taken with the receiver off or no link");
                }
                Op::Mdio { new, phycr } => {
                    let revr = if *new { REVR_NEW_MDIO_INTERFACE } else { 0 };
                    timed(op, || {
                        mac.write(REG_REVR, 4, u64::from(revr));
                        mac.write(REG_PHYCR, 4, u64::from(*phycr));
                    })?;
                    let busy = if *new { PHYCR_NEW_FIRE } else { PHYCR_MIIRD | PHYCR_MIIWR };
                    let now = mac.read(REG_PHYCR, 4) as u32;
                    prop_assert_eq!(now & busy, 0, "PHYCR {:#x} still busy after {:?}", now, op);
                }
                Op::PhyCable(up) => {
                    if let Some(phy) = &phy {
                        phy.borrow_mut().set_link(*up);
                    }
                }
                Op::Link(up) => mac.set_link(*up),
                Op::Backend(on) => mac.set_backend(on.then(|| backend(&sent))),
                Op::Setup => timed(op, || driver_setup(&mut mac, &mem, rbsr))?,
                Op::Reset => timed(op, || mac.reset())?,
            }
            let pending = mac.interrupt_pending();
            prop_assert_eq!(pending, mac.state().isr & mac.state().ier != 0);
            prop_assert_eq!(rec.level(0), pending, "line vs ISR {:#x} & IER {:#x} after {:?}", mac.state().isr, mac.state().ier, op);
            prop_assert_eq!(mac.state().irq_level, pending);
            if let Some(phy) = &phy {
                prop_assert!(phy.borrow().link_up() || !mac.link_up(), "MAC link without the PHY's");
            }
            if let Some(&len) = sent.borrow().iter().max() {
                prop_assert!(len <= MAX_TX_FRAME_LEN + VLAN_TAG_LEN, "a {} byte frame was sent", len);
            }
        }
    }
}
