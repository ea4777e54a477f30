//! The Faraday FTGMAC100 gigabit Ethernet MAC as the AST2600 and AST2500 have it, as Linux's
//! `ftgmac100` and u-boot's `ftgmac100` drive it.
//!
//! Descriptor rings live in guest DRAM and are walked through [`GuestMemory`]:
//! - TX: a write to NPTXPD (with TXDMA_EN and TXMAC_EN set) walks the normal-priority ring from
//!   the current descriptor, gathers the FTS..LTS segments of each frame, applies the checksum
//!   and VLAN offloads TXDES1 asks for, hands the frame to the [`NetBackend`], clears TXDMA_OWN
//!   and raises XPKT_ETH; it stops (raising NO_NPTXBUF) at the first descriptor the CPU owns.
//! - RX: the host offers frames through [`Ftgmac100::receive`]. A frame the address filter
//!   accepts is padded to 60 bytes if shorter, gets its FCS appended (as QEMU's model does;
//!   VDBC counts it), and is written across as many RXBUF_SIZE-sized buffers as it needs, with
//!   FRS/LRS, RXPKT_RDY and RPKT_BUF. Without enough free descriptors for the whole frame
//!   nothing is written: NO_RXBUF is raised and `receive` returns false so the host can offer
//!   the frame again later ([`Ftgmac100::can_receive`]).
//! - End of ring is the Aspeed bit 30 (`FTGMAC100_TXDES0_EDOTR_ASPEED`,
//!   `FTGMAC100_RXDES0_EDORR_ASPEED`), which both Linux and u-boot use when `is_aspeed`.
//!
//! Bad input never panics: descriptors or buffers outside DRAM raise AHB_ERR and are counted
//! and logged once; oversized frames are dropped and counted; runts are padded and counted.
//!
//! The interrupt output is one level: `(ISR & IER) != 0`. The link is the host's business (the
//! driver learns it from the PHY, over the separate MDIO controller on the AST2600 or over the
//! MAC's own PHYCR/PHYDATA on the AST2500); a MAC with no backend has no link: it still
//! completes TX descriptors but the frames go nowhere, and it receives nothing.
//!
//! ## In-MAC MDIO (PHYCR / PHYDATA)
//!
//! The AST2500 has no MDIO controller block: Linux (`ftgmac100_mdiobus_read/write` for
//! `aspeed,ast2400-mac`/`aspeed,ast2500-mac`, after clearing REVR bit 31) and u-boot
//! (`ftgmac100_mdio_read/write`) reach the PHY through PHYCR (0x60) and PHYDATA (0x64).
//! [`Ftgmac100::attach_phy`] puts an [`mdio::Phy`] behind them; each command then runs one
//! clause-22 frame against the PHY at its address at once and clears its busy bit, so the first
//! poll sees it done:
//!
//! - **Old layout** (REVR bit 31 clear): PHYCR bits 5:0 MDC cycle threshold, 20:16 PHY address,
//!   25:21 register, 26 MIIRD, 27 MIIWR. A write sends `PHYDATA[15:0]`; a read puts the value in
//!   `PHYDATA[31:16]` (`PHYDATA[15:0]` keeps the write data).
//! - **New layout** (REVR bit 31 set; QEMU `do_phy_new_ctl`, the Aspeed SDK drivers): PHYCR bit
//!   15 FIRE, 12 ST (1 = clause 22), 11:10 opcode (1 write, 2 read), 9:5 PHY address, 4:0
//!   register, 31:16 the data to write. A read puts the value in `PHYDATA[15:0]` (`PHYDATA[31:16]`
//!   is kept). A clause-45 frame (ST 0) finds no device: it reads 0xFFFF and writes nothing.
//!
//! An address with no PHY reads 0xFFFF (the pulled-up MDIO line) and ignores writes. With a PHY
//! attached, frames flow only while that PHY reports a link ([`Ftgmac100::link_up`]). A MAC
//! with no PHY attached (the AST2600's, whose PHYs are on the separate MDIO controller) keeps
//! the old behaviour: its in-MAC operations complete at once, read 0xFFFF and are logged once.
#![deny(missing_docs)]

use std::cell::RefCell;
use std::rc::Rc;

use bus::{
    merge_subword, subword, Device, DeviceState, GuestMemory, IrqLine, StateError, UnimplementedLog,
};
use serde::{Deserialize, Serialize};

/// The kind of a MAC's saved state ([`DeviceState::kind`]): [`Ftgmac100State`].
pub const STATE_KIND: &str = "ftgmac100";
/// The format version of a MAC's saved state: [`Ftgmac100State`] as this build serialises it.
pub const STATE_VERSION: u32 = 1;

/// Interrupt status register (write 1 to clear): Linux `FTGMAC100_OFFSET_ISR`.
pub const REG_ISR: u64 = 0x00;
/// Interrupt enable register: Linux `FTGMAC100_OFFSET_IER`.
pub const REG_IER: u64 = 0x04;
/// MAC address, bytes 0-1 (bits 15:0): Linux `FTGMAC100_OFFSET_MAC_MADR`.
pub const REG_MAC_MADR: u64 = 0x08;
/// MAC address, bytes 2-5: Linux `FTGMAC100_OFFSET_MAC_LADR`.
pub const REG_MAC_LADR: u64 = 0x0c;
/// Multicast address hash table, bits 0-31: Linux `FTGMAC100_OFFSET_MAHT0`.
pub const REG_MAHT0: u64 = 0x10;
/// Multicast address hash table, bits 32-63: Linux `FTGMAC100_OFFSET_MAHT1`.
pub const REG_MAHT1: u64 = 0x14;
/// Normal-priority TX poll demand: Linux `FTGMAC100_OFFSET_NPTXPD`.
pub const REG_NPTXPD: u64 = 0x18;
/// RX poll demand: Linux `FTGMAC100_OFFSET_RXPD`.
pub const REG_RXPD: u64 = 0x1c;
/// Normal-priority TX ring base address: Linux `FTGMAC100_OFFSET_NPTXR_BADR`.
pub const REG_NPTXR_BADR: u64 = 0x20;
/// RX ring base address: Linux `FTGMAC100_OFFSET_RXR_BADR`.
pub const REG_RXR_BADR: u64 = 0x24;
/// High-priority TX poll demand: Linux `FTGMAC100_OFFSET_HPTXPD`.
pub const REG_HPTXPD: u64 = 0x28;
/// High-priority TX ring base address: Linux `FTGMAC100_OFFSET_HPTXR_BADR`.
pub const REG_HPTXR_BADR: u64 = 0x2c;
/// Interrupt timer control: Linux `FTGMAC100_OFFSET_ITC`.
pub const REG_ITC: u64 = 0x30;
/// Automatic polling timer control: Linux `FTGMAC100_OFFSET_APTC`.
pub const REG_APTC: u64 = 0x34;
/// DMA burst length and arbitration control: Linux `FTGMAC100_OFFSET_DBLAC`.
pub const REG_DBLAC: u64 = 0x38;
/// DMA FIFO status: Linux `FTGMAC100_OFFSET_DMAFIFOS`.
pub const REG_DMAFIFOS: u64 = 0x3c;
/// Revision / feature register: Linux `FTGMAC100_OFFSET_REVR`.
pub const REG_REVR: u64 = 0x40;
/// Feature register (FIFO sizes): Linux `FTGMAC100_OFFSET_FEAR`.
pub const REG_FEAR: u64 = 0x44;
/// TX priority arbitration and FIFO control: Linux `FTGMAC100_OFFSET_TPAFCR`.
pub const REG_TPAFCR: u64 = 0x48;
/// RX buffer size: Linux `FTGMAC100_OFFSET_RBSR`.
pub const REG_RBSR: u64 = 0x4c;
/// MAC control register: Linux `FTGMAC100_OFFSET_MACCR`.
pub const REG_MACCR: u64 = 0x50;
/// MAC status register: Linux `FTGMAC100_OFFSET_MACSR`.
pub const REG_MACSR: u64 = 0x54;
/// Test mode register: Linux `FTGMAC100_OFFSET_TM`.
pub const REG_TM: u64 = 0x58;
/// In-MAC PHY control (old MDIO interface): Linux `FTGMAC100_OFFSET_PHYCR`.
pub const REG_PHYCR: u64 = 0x60;
/// In-MAC PHY data: Linux `FTGMAC100_OFFSET_PHYDATA`.
pub const REG_PHYDATA: u64 = 0x64;
/// Flow control register: Linux `FTGMAC100_OFFSET_FCR`.
pub const REG_FCR: u64 = 0x68;
/// Back pressure register: Linux `FTGMAC100_OFFSET_BPR`.
pub const REG_BPR: u64 = 0x6c;
/// Wake-on-LAN control: Linux `FTGMAC100_OFFSET_WOLCR`.
pub const REG_WOLCR: u64 = 0x70;
/// Wake-on-LAN status: Linux `FTGMAC100_OFFSET_WOLSR`.
pub const REG_WOLSR: u64 = 0x74;
/// Wake-up frame CRC: Linux `FTGMAC100_OFFSET_WFCRC`.
pub const REG_WFCRC: u64 = 0x78;
/// Wake-up frame byte masks 1-4 (0x80, 0x84, 0x88, 0x8c): Linux `FTGMAC100_OFFSET_WFBM1`.
pub const REG_WFBM1: u64 = 0x80;
/// Current normal-priority TX descriptor pointer: Linux `FTGMAC100_OFFSET_NPTXR_PTR`.
pub const REG_NPTXR_PTR: u64 = 0x90;
/// Current high-priority TX descriptor pointer: Linux `FTGMAC100_OFFSET_HPTXR_PTR`.
pub const REG_HPTXR_PTR: u64 = 0x94;
/// Current RX descriptor pointer: Linux `FTGMAC100_OFFSET_RXR_PTR`.
pub const REG_RXR_PTR: u64 = 0x98;

/// ISR/IER: frame moved to an RX buffer: Linux `FTGMAC100_INT_RPKT_BUF`.
pub const INT_RPKT_BUF: u32 = 1 << 0;
/// ISR/IER: frame received into the RX FIFO: Linux `FTGMAC100_INT_RPKT_FIFO`.
pub const INT_RPKT_FIFO: u32 = 1 << 1;
/// ISR/IER: no RX buffer available: Linux `FTGMAC100_INT_NO_RXBUF`.
pub const INT_NO_RXBUF: u32 = 1 << 2;
/// ISR/IER: received frame lost (RX FIFO full): Linux `FTGMAC100_INT_RPKT_LOST`.
pub const INT_RPKT_LOST: u32 = 1 << 3;
/// ISR/IER: frame transmitted to Ethernet: Linux `FTGMAC100_INT_XPKT_ETH`.
pub const INT_XPKT_ETH: u32 = 1 << 4;
/// ISR/IER: frame moved to the TX FIFO: Linux `FTGMAC100_INT_XPKT_FIFO`.
pub const INT_XPKT_FIFO: u32 = 1 << 5;
/// ISR/IER: normal-priority TX ring has no descriptor to send: Linux `FTGMAC100_INT_NO_NPTXBUF`.
pub const INT_NO_NPTXBUF: u32 = 1 << 6;
/// ISR/IER: transmitted frame lost: Linux `FTGMAC100_INT_XPKT_LOST`.
pub const INT_XPKT_LOST: u32 = 1 << 7;
/// ISR/IER: AHB (DMA) bus error: Linux `FTGMAC100_INT_AHB_ERR`.
pub const INT_AHB_ERR: u32 = 1 << 8;
/// ISR/IER: PHY status changed: Linux `FTGMAC100_INT_PHYSTS_CHG`.
pub const INT_PHYSTS_CHG: u32 = 1 << 9;
/// ISR/IER: high-priority TX ring has no descriptor: Linux `FTGMAC100_INT_NO_HPTXBUF`.
pub const INT_NO_HPTXBUF: u32 = 1 << 10;
/// Every ISR/IER bit that exists.
pub const INT_MASK: u32 = (1 << 11) - 1;

/// APTC: TX auto-poll counter field (bits 11:8): Linux `FTGMAC100_APTC_TXPOLL_CNT`.
pub const APTC_TXPOLL_CNT_MASK: u32 = 0xf << 8;

/// DBLAC: RX descriptor size field shift (bits 15:12, units of 8 bytes): Linux `FTGMAC100_DBLAC_RXDES_SIZE`.
pub const DBLAC_RXDES_SIZE_SHIFT: u32 = 12;
/// DBLAC: TX descriptor size field shift (bits 19:16, units of 8 bytes): Linux `FTGMAC100_DBLAC_TXDES_SIZE`.
pub const DBLAC_TXDES_SIZE_SHIFT: u32 = 16;

/// DMAFIFOS: RX FIFO empty: Linux `FTGMAC100_DMAFIFOS_RXFIFO_EMPTY`.
pub const DMAFIFOS_RXFIFO_EMPTY: u32 = 1 << 26;
/// DMAFIFOS: TX FIFO empty: Linux `FTGMAC100_DMAFIFOS_TXFIFO_EMPTY`.
pub const DMAFIFOS_TXFIFO_EMPTY: u32 = 1 << 27;

/// REVR: PHYCR uses the new MDIO layout: Linux `FTGMAC100_REVR_NEW_MDIO_INTERFACE`.
pub const REVR_NEW_MDIO_INTERFACE: u32 = 1 << 31;

/// RBSR: RX buffer size field: Linux `FTGMAC100_RBSR_SIZE`.
pub const RBSR_SIZE_MASK: u32 = 0x3fff;

/// MACCR: TX DMA enable: Linux `FTGMAC100_MACCR_TXDMA_EN`.
pub const MACCR_TXDMA_EN: u32 = 1 << 0;
/// MACCR: RX DMA enable: Linux `FTGMAC100_MACCR_RXDMA_EN`.
pub const MACCR_RXDMA_EN: u32 = 1 << 1;
/// MACCR: transmitter enable: Linux `FTGMAC100_MACCR_TXMAC_EN`.
pub const MACCR_TXMAC_EN: u32 = 1 << 2;
/// MACCR: receiver enable: Linux `FTGMAC100_MACCR_RXMAC_EN`.
pub const MACCR_RXMAC_EN: u32 = 1 << 3;
/// MACCR: strip the VLAN tag of received frames: Linux `FTGMAC100_MACCR_RM_VLAN`.
pub const MACCR_RM_VLAN: u32 = 1 << 4;
/// MACCR: high-priority TX ring enable: Linux `FTGMAC100_MACCR_HPTXR_EN`.
pub const MACCR_HPTXR_EN: u32 = 1 << 5;
/// MACCR: internal loopback: Linux `FTGMAC100_MACCR_LOOP_EN`.
pub const MACCR_LOOP_EN: u32 = 1 << 6;
/// MACCR: full duplex: Linux `FTGMAC100_MACCR_FULLDUP`.
pub const MACCR_FULLDUP: u32 = 1 << 8;
/// MACCR: 1000 Mb/s: Linux `FTGMAC100_MACCR_GIGA_MODE`.
pub const MACCR_GIGA_MODE: u32 = 1 << 9;
/// MACCR: append CRC to transmitted frames: Linux `FTGMAC100_MACCR_CRC_APD`.
pub const MACCR_CRC_APD: u32 = 1 << 10;
/// MACCR: receive runt frames: Linux `FTGMAC100_MACCR_RX_RUNT`.
pub const MACCR_RX_RUNT: u32 = 1 << 12;
/// MACCR: jumbo frames (9216 bytes): Linux `FTGMAC100_MACCR_JUMBO_LF`.
pub const MACCR_JUMBO_LF: u32 = 1 << 13;
/// MACCR: promiscuous: Linux `FTGMAC100_MACCR_RX_ALL`.
pub const MACCR_RX_ALL: u32 = 1 << 14;
/// MACCR: multicast hash filter enable: Linux `FTGMAC100_MACCR_HT_MULTI_EN`.
pub const MACCR_HT_MULTI_EN: u32 = 1 << 15;
/// MACCR: receive all multicast: Linux `FTGMAC100_MACCR_RX_MULTIPKT`.
pub const MACCR_RX_MULTIPKT: u32 = 1 << 16;
/// MACCR: receive broadcast: Linux `FTGMAC100_MACCR_RX_BROADPKT`.
pub const MACCR_RX_BROADPKT: u32 = 1 << 17;
/// MACCR: 100 Mb/s: Linux `FTGMAC100_MACCR_FAST_MODE`.
pub const MACCR_FAST_MODE: u32 = 1 << 19;
/// MACCR: software reset, self-clearing: Linux `FTGMAC100_MACCR_SW_RST`.
pub const MACCR_SW_RST: u32 = 1 << 31;

/// PHYCR (old layout): MDC cycle threshold (bits 5:0): Linux `FTGMAC100_PHYCR_MDC_CYCTHR_MASK`.
pub const PHYCR_MDC_CYCTHR_MASK: u32 = 0x3f;
/// PHYCR (old layout): PHY address field shift (bits 20:16): Linux `FTGMAC100_PHYCR_PHYAD`.
pub const PHYCR_PHYAD_SHIFT: u32 = 16;
/// PHYCR (old layout): register address field shift (bits 25:21): Linux `FTGMAC100_PHYCR_REGAD`.
pub const PHYCR_REGAD_SHIFT: u32 = 21;
/// PHYCR (old layout): read command: Linux `FTGMAC100_PHYCR_MIIRD`.
pub const PHYCR_MIIRD: u32 = 1 << 26;
/// PHYCR (old layout): write command: Linux `FTGMAC100_PHYCR_MIIWR`.
pub const PHYCR_MIIWR: u32 = 1 << 27;
/// PHYCR (new layout, REVR bit 31): start the frame: QEMU `FTGMAC100_PHYCR_NEW_FIRE`.
pub const PHYCR_NEW_FIRE: u32 = 1 << 15;
/// PHYCR (new layout): start-of-frame code, 1 = clause 22: QEMU `FTGMAC100_PHYCR_NEW_ST_22`.
pub const PHYCR_NEW_ST_22: u32 = 1 << 12;
/// PHYCR (new layout): opcode field shift (bits 11:10): QEMU `FTGMAC100_PHYCR_NEW_OP`.
pub const PHYCR_NEW_OP_SHIFT: u32 = 10;
/// PHYCR (new layout): write opcode: QEMU `FTGMAC100_PHYCR_NEW_OP_WRITE`.
pub const PHYCR_NEW_OP_WRITE: u32 = 0b01;
/// PHYCR (new layout): read opcode: QEMU `FTGMAC100_PHYCR_NEW_OP_READ`.
pub const PHYCR_NEW_OP_READ: u32 = 0b10;
/// PHYCR (new layout): PHY address field shift (bits 9:5): QEMU `FTGMAC100_PHYCR_NEW_DEV`.
pub const PHYCR_NEW_PHYAD_SHIFT: u32 = 5;
/// PHYCR (new layout): register address field shift (bits 4:0): QEMU `FTGMAC100_PHYCR_NEW_REG`.
pub const PHYCR_NEW_REGAD_SHIFT: u32 = 0;
/// PHYCR (new layout): data-to-write field shift (bits 31:16): QEMU `FTGMAC100_PHYCR_NEW_DATA`.
pub const PHYCR_NEW_DATA_SHIFT: u32 = 16;
/// PHYDATA (old layout): read data field shift (bits 31:16): Linux `FTGMAC100_PHYDATA_MIIRDATA`.
pub const PHYDATA_MIIRDATA_SHIFT: u32 = 16;

/// TXDES0: buffer size field: Linux `FTGMAC100_TXDES0_TXBUF_SIZE`.
pub const TXDES0_TXBUF_SIZE_MASK: u32 = 0x3fff;
/// TXDES0: last segment of a frame: Linux `FTGMAC100_TXDES0_LTS`.
pub const TXDES0_LTS: u32 = 1 << 28;
/// TXDES0: first segment of a frame: Linux `FTGMAC100_TXDES0_FTS`.
pub const TXDES0_FTS: u32 = 1 << 29;
/// TXDES0: end of TX ring, Aspeed position: QEMU `FTGMAC100_TXDES0_EDOTR_ASPEED`, Linux `BIT(30)`.
pub const TXDES0_EDOTR: u32 = 1 << 30;
/// TXDES0: owned by the MAC: Linux `FTGMAC100_TXDES0_TXDMA_OWN`.
pub const TXDES0_TXDMA_OWN: u32 = 1 << 31;
/// TXDES1: VLAN tag control information to insert: Linux `FTGMAC100_TXDES1_VLANTAG_CI`.
pub const TXDES1_VLANTAG_CI_MASK: u32 = 0xffff;
/// TXDES1: insert a VLAN tag: Linux `FTGMAC100_TXDES1_INS_VLANTAG`.
pub const TXDES1_INS_VLANTAG: u32 = 1 << 16;
/// TXDES1: compute the TCP checksum: Linux `FTGMAC100_TXDES1_TCP_CHKSUM`.
pub const TXDES1_TCP_CHKSUM: u32 = 1 << 17;
/// TXDES1: compute the UDP checksum: Linux `FTGMAC100_TXDES1_UDP_CHKSUM`.
pub const TXDES1_UDP_CHKSUM: u32 = 1 << 18;
/// TXDES1: compute the IPv4 header checksum: Linux `FTGMAC100_TXDES1_IP_CHKSUM`.
pub const TXDES1_IP_CHKSUM: u32 = 1 << 19;
/// TXDES1: raise XPKT_FIFO when the frame is in the FIFO: Linux `FTGMAC100_TXDES1_TX2FIC`.
pub const TXDES1_TX2FIC: u32 = 1 << 30;

/// RXDES0: valid data byte count of this buffer: Linux `FTGMAC100_RXDES0_VDBC`.
pub const RXDES0_VDBC_MASK: u32 = 0x3fff;
/// RXDES0: multicast frame: Linux `FTGMAC100_RXDES0_MULTICAST`.
pub const RXDES0_MULTICAST: u32 = 1 << 16;
/// RXDES0: broadcast frame: Linux `FTGMAC100_RXDES0_BROADCAST`.
pub const RXDES0_BROADCAST: u32 = 1 << 17;
/// RXDES0: last segment of a frame: Linux `FTGMAC100_RXDES0_LRS`.
pub const RXDES0_LRS: u32 = 1 << 28;
/// RXDES0: first segment of a frame: Linux `FTGMAC100_RXDES0_FRS`.
pub const RXDES0_FRS: u32 = 1 << 29;
/// RXDES0: end of RX ring, Aspeed position: QEMU `FTGMAC100_RXDES0_EDORR_ASPEED`, Linux `BIT(30)`.
pub const RXDES0_EDORR: u32 = 1 << 30;
/// RXDES0: frame ready, owned by the CPU: Linux `FTGMAC100_RXDES0_RXPKT_RDY`.
pub const RXDES0_RXPKT_RDY: u32 = 1 << 31;
/// RXDES1: VLAN tag control information: Linux `FTGMAC100_RXDES1_VLANTAG_CI`.
pub const RXDES1_VLANTAG_CI_MASK: u32 = 0xffff;
/// RXDES1: the frame carried a VLAN tag: Linux `FTGMAC100_RXDES1_VLANTAG_AVAIL`.
pub const RXDES1_VLANTAG_AVAIL: u32 = 1 << 24;

/// RBSR reset value: u-boot `FTGMAC100_RBSR_DEFAULT` ("HW default is 0x640"), QEMU reset.
pub const RBSR_RESET_VALUE: u32 = 0x640;
/// APTC reset value (QEMU `ftgmac100_do_reset`).
pub const APTC_RESET_VALUE: u32 = 1;
/// DBLAC reset value: 16-byte descriptors (QEMU `ftgmac100_do_reset`).
pub const DBLAC_RESET_VALUE: u32 = 0x0002_2f00;
/// TPAFCR reset value (QEMU `ftgmac100_do_reset`).
pub const TPAFCR_RESET_VALUE: u32 = 0xf1;
/// FCR reset value (QEMU `ftgmac100_do_reset`).
pub const FCR_RESET_VALUE: u32 = 0x400;

/// Smallest descriptor (four 32-bit words): QEMU refuses DBLAC values below it.
pub const DESCRIPTOR_SIZE: u32 = 16;
/// Minimum Ethernet frame without FCS; shorter received frames are padded: u-boot `ETH_ZLEN`.
pub const MIN_FRAME_LEN: usize = 60;
/// Length of the frame check sequence appended to received frames.
pub const FCS_LEN: usize = 4;
/// Largest frame (with FCS) without jumbo frames (QEMU `ftgmac100_max_frame_size`).
pub const MAX_FRAME_LEN: usize = 1518;
/// Largest frame (with FCS) with MACCR.JUMBO_LF (QEMU `ftgmac100_max_frame_size`).
pub const MAX_JUMBO_FRAME_LEN: usize = 9216;
/// Extra length allowed for a VLAN-tagged frame.
pub const VLAN_TAG_LEN: usize = 4;
/// Largest frame the TX DMA gathers: QEMU `FTGMAC100_MAX_FRAME_SIZE`.
pub const MAX_TX_FRAME_LEN: usize = 9220;
/// Most TX descriptors walked per poll demand (Linux rings have at most 1024).
pub const TX_WALK_LIMIT: usize = 65536;
/// Most RX descriptors one frame may span.
pub const RX_SEGMENT_LIMIT: usize = 1024;

const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_IPV4: u16 = 0x0800;

/// Where transmitted frames go: a host network backend.
///
/// Frames start with the destination MAC address and carry no FCS. Any `FnMut(&[u8])` closure
/// is a backend.
pub trait NetBackend {
    /// Sends one frame the guest transmitted.
    fn send(&mut self, frame: &[u8]);
}

impl<F: FnMut(&[u8])> NetBackend for F {
    fn send(&mut self, frame: &[u8]) {
        self(frame)
    }
}

/// Counters of what the MAC did with frames: host-side statistics, not guest registers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ftgmac100Stats {
    /// Frames handed to the backend.
    pub tx_frames: u64,
    /// Bytes handed to the backend.
    pub tx_bytes: u64,
    /// Transmitted frames that went nowhere: no link or no backend.
    pub tx_no_link: u64,
    /// Transmitted frames dropped for exceeding the TX frame buffer.
    pub tx_oversized: u64,
    /// Frames written to the RX ring.
    pub rx_frames: u64,
    /// Bytes of frames written to the RX ring (without padding and FCS).
    pub rx_bytes: u64,
    /// Times `receive` refused a frame for want of free RX descriptors.
    pub rx_no_buffer: u64,
    /// Frames the address filter dropped.
    pub rx_filtered: u64,
    /// Frames dropped for being longer than the maximum frame length.
    pub rx_oversized: u64,
    /// Frames shorter than 60 bytes that were padded.
    pub rx_runts: u64,
    /// Descriptors or buffers the DMA could not reach (outside DRAM).
    pub bad_descriptors: u64,
}

/// The registers of the MAC: a plain value that can be saved and restored.
///
/// It is the whole of the MAC's state: TX descriptors are walked to the end within the
/// NPTXPD write, and received frames are written to the ring within [`Ftgmac100::receive`]
/// (a frame the ring has no room for is left with the host to offer again), so no frame is
/// ever held inside the MAC.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ftgmac100State {
    /// Interrupt status.
    pub isr: u32,
    /// Interrupt enable.
    pub ier: u32,
    /// MAC address bytes 0-1 (bits 15:0).
    pub madr: u32,
    /// MAC address bytes 2-5.
    pub ladr: u32,
    /// Multicast hash table, bits 0-31.
    pub maht0: u32,
    /// Multicast hash table, bits 32-63.
    pub maht1: u32,
    /// Normal-priority TX ring base.
    pub nptxr_badr: u32,
    /// RX ring base.
    pub rxr_badr: u32,
    /// High-priority TX ring base.
    pub hptxr_badr: u32,
    /// Interrupt timer control.
    pub itc: u32,
    /// Automatic polling timer control.
    pub aptc: u32,
    /// DMA burst length and arbitration control.
    pub dblac: u32,
    /// Revision / feature register.
    pub revr: u32,
    /// Feature register.
    pub fear: u32,
    /// TX priority arbitration and FIFO control.
    pub tpafcr: u32,
    /// RX buffer size.
    pub rbsr: u32,
    /// MAC control (SW_RST never stored).
    pub maccr: u32,
    /// Test mode register.
    pub tm: u32,
    /// In-MAC PHY control.
    pub phycr: u32,
    /// In-MAC PHY data.
    pub phydata: u32,
    /// Flow control.
    pub fcr: u32,
    /// Back pressure.
    pub bpr: u32,
    /// Wake-on-LAN control.
    pub wolcr: u32,
    /// Wake-on-LAN status.
    pub wolsr: u32,
    /// Wake-up frame CRC.
    pub wfcrc: u32,
    /// Wake-up frame byte masks 1-4.
    pub wfbm: [u32; 4],
    /// Address of the next TX descriptor the DMA looks at.
    pub tx_pointer: u32,
    /// Address of the next RX descriptor the DMA fills.
    pub rx_pointer: u32,
    /// The host says the link is up (effective only with a backend).
    pub link_up: bool,
    /// Level the interrupt line was last driven to.
    pub irq_level: bool,
}

impl Ftgmac100State {
    /// The registers at power-on, with the MAC address registers holding `mac`.
    pub fn power_on(mac: [u8; 6]) -> Self {
        Self {
            isr: 0,
            ier: 0,
            madr: u32::from(u16::from_be_bytes([mac[0], mac[1]])),
            ladr: u32::from_be_bytes([mac[2], mac[3], mac[4], mac[5]]),
            maht0: 0,
            maht1: 0,
            nptxr_badr: 0,
            rxr_badr: 0,
            hptxr_badr: 0,
            itc: 0,
            aptc: APTC_RESET_VALUE,
            dblac: DBLAC_RESET_VALUE,
            revr: 0,
            fear: 0,
            tpafcr: TPAFCR_RESET_VALUE,
            rbsr: RBSR_RESET_VALUE,
            maccr: 0,
            tm: 0,
            phycr: 0,
            phydata: 0,
            fcr: FCR_RESET_VALUE,
            bpr: 0,
            wolcr: 0,
            wolsr: 0,
            wfcrc: 0,
            wfbm: [0; 4],
            tx_pointer: 0,
            rx_pointer: 0,
            link_up: false,
            irq_level: false,
        }
    }
}

/// One FTGMAC100 Ethernet MAC.
pub struct Ftgmac100 {
    state: Ftgmac100State,
    mem: Rc<dyn GuestMemory>,
    irq: IrqLine,
    backend: Option<Box<dyn NetBackend>>,
    reset_mac: [u8; 6],
    stats: Ftgmac100Stats,
    unimplemented: UnimplementedLog,
    dma_error_logged: bool,
    mdio_logged: bool,
    mdio_frame_logged: bool,
    /// The PHYs behind PHYCR/PHYDATA, by MDIO address.
    phys: [Option<Rc<RefCell<mdio::Phy>>>; mdio::PHY_ADDRESSES],
}

/// A DMA descriptor: four little-endian words.
type Descriptor = [u32; 4];

impl Ftgmac100 {
    /// A MAC at power-on whose address registers hold `mac`, doing DMA into `mem` and driving
    /// `irq`; it has no backend and no link.
    pub fn new(mem: Rc<dyn GuestMemory>, irq: IrqLine, mac: [u8; 6]) -> Self {
        Self::from_state(&Ftgmac100State::power_on(mac), mem, irq, mac)
    }

    /// A MAC restored from `state` (`reset_mac` is what a hardware reset puts back in the
    /// address registers); the interrupt line is raised at once if an interrupt is pending.
    pub fn from_state(
        state: &Ftgmac100State,
        mem: Rc<dyn GuestMemory>,
        irq: IrqLine,
        reset_mac: [u8; 6],
    ) -> Self {
        let mut mac = Self {
            state: state.clone(),
            mem,
            irq,
            backend: None,
            reset_mac,
            stats: Ftgmac100Stats::default(),
            unimplemented: UnimplementedLog::new("ftgmac100"),
            dma_error_logged: false,
            mdio_logged: false,
            mdio_frame_logged: false,
            phys: Default::default(),
        };
        let level = mac.interrupt_pending();
        mac.state.irq_level = level;
        if level {
            mac.irq.raise();
        }
        mac
    }

    /// A copy of the registers.
    pub fn state(&self) -> Ftgmac100State {
        self.state.clone()
    }

    /// The frame counters.
    pub fn stats(&self) -> Ftgmac100Stats {
        self.stats
    }

    /// Connects (`Some`) or disconnects the host network backend.
    pub fn set_backend(&mut self, backend: Option<Box<dyn NetBackend>>) {
        self.backend = backend;
    }

    /// Whether a backend is connected.
    pub fn has_backend(&self) -> bool {
        self.backend.is_some()
    }

    /// Tells the MAC whether the link is up (the PHY's view of the cable, set by the SoC).
    pub fn set_link(&mut self, up: bool) {
        self.state.link_up = up;
    }

    /// Whether frames can flow: the link is up, a backend is connected and, if PHYs are
    /// attached ([`Self::attach_phy`]), one of them reports a link (cable plugged, not powered
    /// down, a mode negotiated).
    pub fn link_up(&self) -> bool {
        let phy_link = !self.has_phy() || self.attached_phys().any(|p| p.borrow().link_up());
        self.state.link_up && self.backend.is_some() && phy_link
    }

    /// Puts `phy` behind the MAC's own MDIO (PHYCR/PHYDATA) at address `addr` (0..=31; other
    /// values are ignored with a warning), replacing whatever was there, as
    /// [`mdio::AspeedMdio::attach_phy`] does on the AST2600's MDIO controller. The PHY is
    /// shared: the SoC keeps a handle to drive its cable.
    pub fn attach_phy(&mut self, addr: u8, phy: Rc<RefCell<mdio::Phy>>) {
        match self.phys.get_mut(usize::from(addr)) {
            Some(slot) => *slot = Some(phy),
            None => log::warn!("ftgmac100: no PHY address {addr} on the in-MAC MDIO bus"),
        }
    }

    /// The PHY attached at MDIO address `addr`, if any.
    pub fn phy(&self, addr: u8) -> Option<Rc<RefCell<mdio::Phy>>> {
        self.phys.get(usize::from(addr)).cloned().flatten()
    }

    fn has_phy(&self) -> bool {
        self.phys.iter().any(Option::is_some)
    }

    fn attached_phys(&self) -> impl Iterator<Item = &Rc<RefCell<mdio::Phy>>> {
        self.phys.iter().flatten()
    }

    /// Sets the address a reset puts in MADR/LADR (the board's, as a NIC's EEPROM holds it),
    /// and puts it there now. Firmware that programs its own address (u-boot's `ethaddr`)
    /// still overrides it.
    pub fn set_power_on_address(&mut self, mac: [u8; 6]) {
        self.reset_mac = mac;
        let fresh = Ftgmac100State::power_on(mac);
        self.state.madr = fresh.madr;
        self.state.ladr = fresh.ladr;
    }

    /// The MAC address the guest programmed (MADR/LADR).
    pub fn mac_address(&self) -> [u8; 6] {
        let m = (self.state.madr as u16).to_be_bytes();
        let l = self.state.ladr.to_be_bytes();
        [m[0], m[1], l[0], l[1], l[2], l[3]]
    }

    /// Whether the interrupt output is asserted: `(ISR & IER) != 0`.
    pub fn interrupt_pending(&self) -> bool {
        self.state.isr & self.state.ier != 0
    }

    fn update_irq(&mut self) {
        let level = self.interrupt_pending();
        if level != self.state.irq_level {
            self.state.irq_level = level;
            self.irq.set(level);
        }
    }

    fn rx_enabled(&self) -> bool {
        let both = MACCR_RXDMA_EN | MACCR_RXMAC_EN;
        self.state.maccr & both == both
    }

    fn tx_enabled(&self) -> bool {
        let both = MACCR_TXDMA_EN | MACCR_TXMAC_EN;
        self.state.maccr & both == both
    }

    fn txdes_size(&self) -> u32 {
        ((self.state.dblac >> DBLAC_TXDES_SIZE_SHIFT) & 0xf) * 8
    }

    fn rxdes_size(&self) -> u32 {
        ((self.state.dblac >> DBLAC_RXDES_SIZE_SHIFT) & 0xf) * 8
    }

    fn dma_error(&mut self, what: &str, addr: u64) {
        self.stats.bad_descriptors += 1;
        self.state.isr |= INT_AHB_ERR;
        if !self.dma_error_logged {
            self.dma_error_logged = true;
            log::warn!("ftgmac100: DMA to {what} at {addr:#x} is outside RAM (further errors counted, not logged)");
        }
    }

    fn read_descriptor(&self, addr: u32) -> Option<Descriptor> {
        let mut bytes = [0u8; 16];
        self.mem.read(u64::from(addr), &mut bytes).ok()?;
        let word =
            |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        Some([word(0), word(4), word(8), word(12)])
    }

    fn write_words(&self, addr: u32, words: &[u32]) -> bool {
        let mut bytes = Vec::with_capacity(words.len() * 4);
        for w in words {
            bytes.extend_from_slice(&w.to_le_bytes());
        }
        self.mem.write(u64::from(addr), &bytes).is_ok()
    }

    // ---------------------------------------------------------------- TX

    /// Walks the normal-priority TX ring (NPTXPD).
    fn transmit(&mut self) {
        let mut frame: Vec<u8> = Vec::new();
        let mut flags = 0u32;
        let mut oversized = false;
        let mut addr = self.state.tx_pointer;
        for _ in 0..TX_WALK_LIMIT {
            let Some(des) = self.read_descriptor(addr) else {
                self.dma_error("a TX descriptor", u64::from(addr));
                break;
            };
            let des0 = des[0];
            if des0 & TXDES0_TXDMA_OWN == 0 {
                self.state.isr |= INT_NO_NPTXBUF;
                break;
            }
            if des0 & TXDES0_FTS != 0 {
                frame.clear();
                flags = des[1];
                oversized = false;
            }
            let len = (des0 & TXDES0_TXBUF_SIZE_MASK) as usize;
            if frame.len() + len > MAX_TX_FRAME_LEN {
                oversized = true;
            } else if len > 0 {
                let start = frame.len();
                frame.resize(start + len, 0);
                if self
                    .mem
                    .read(u64::from(des[3]), &mut frame[start..])
                    .is_err()
                {
                    // The descriptor stays owned by the MAC: the next poll demand retries it.
                    frame.truncate(start);
                    self.dma_error("a TX buffer", u64::from(des[3]));
                    break;
                }
            }
            if des0 & TXDES0_LTS != 0 {
                if oversized {
                    self.stats.tx_oversized += 1;
                    self.state.isr |= INT_XPKT_LOST;
                    log::debug!("ftgmac100: dropped an oversized TX frame");
                } else {
                    self.send_frame(&mut frame, flags);
                }
                if flags & TXDES1_TX2FIC != 0 {
                    self.state.isr |= INT_XPKT_FIFO;
                }
                self.state.isr |= INT_XPKT_ETH;
                frame.clear();
                oversized = false;
            }
            if !self.write_words(addr, &[des0 & !TXDES0_TXDMA_OWN]) {
                self.dma_error("a TX descriptor", u64::from(addr));
                break;
            }
            addr = if des0 & TXDES0_EDOTR != 0 {
                self.state.nptxr_badr
            } else {
                addr.wrapping_add(self.txdes_size())
            };
        }
        self.state.tx_pointer = addr;
    }

    fn send_frame(&mut self, frame: &mut Vec<u8>, flags: u32) {
        offload_checksums(frame, flags);
        if flags & TXDES1_INS_VLANTAG != 0
            && frame.len() >= 14
            && ethertype(frame) != ETHERTYPE_VLAN
        {
            let tci = (flags & TXDES1_VLANTAG_CI_MASK) as u16;
            let mut tag = [0u8; 4];
            tag[..2].copy_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
            tag[2..].copy_from_slice(&tci.to_be_bytes());
            frame.splice(12..12, tag);
        }
        if self.state.maccr & MACCR_LOOP_EN != 0 {
            // Internal loopback: the frame comes straight back to the receiver.
            self.stats.tx_frames += 1;
            self.stats.tx_bytes += frame.len() as u64;
            if self.rx_enabled() {
                self.receive_frame(frame);
            }
            return;
        }
        if !self.link_up() {
            self.stats.tx_no_link += 1;
            return;
        }
        if let Some(backend) = self.backend.as_mut() {
            backend.send(frame);
            self.stats.tx_frames += 1;
            self.stats.tx_bytes += frame.len() as u64;
        }
    }

    // ---------------------------------------------------------------- RX

    /// Whether [`Ftgmac100::receive`] would take a (single-buffer) frame now: the receiver is
    /// enabled, the link is up, and the current RX descriptor is free.
    pub fn can_receive(&self) -> bool {
        self.rx_enabled()
            && self.link_up()
            && self
                .read_descriptor(self.state.rx_pointer)
                .is_some_and(|d| d[0] & RXDES0_RXPKT_RDY == 0)
    }

    /// Offers a frame from the network (destination MAC first, no FCS).
    ///
    /// Returns true when the MAC is done with the frame: written to the RX ring, or dropped by
    /// the address filter or for being oversized. Returns false when it did not take the frame:
    /// the receiver is disabled, there is no link, the ring has no room for it (NO_RXBUF is
    /// raised), or the ring points outside RAM (AHB_ERR); the caller may offer it again later.
    pub fn receive(&mut self, frame: &[u8]) -> bool {
        if !self.rx_enabled() || !self.link_up() {
            return false;
        }
        let taken = self.receive_frame(frame);
        self.update_irq();
        taken
    }

    fn max_frame_len(&self, frame: &[u8]) -> usize {
        let base = if self.state.maccr & MACCR_JUMBO_LF != 0 {
            MAX_JUMBO_FRAME_LEN
        } else {
            MAX_FRAME_LEN
        };
        if frame.len() >= 14 && ethertype(frame) == ETHERTYPE_VLAN {
            base + VLAN_TAG_LEN
        } else {
            base
        }
    }

    /// The MAC's address filter (QEMU `ftgmac100_filter`).
    fn accepts(&self, frame: &[u8]) -> bool {
        let maccr = self.state.maccr;
        if maccr & MACCR_RX_ALL != 0 {
            return true;
        }
        let dst = &frame[..6];
        if dst == [0xff; 6] {
            maccr & MACCR_RX_BROADPKT != 0
        } else if dst[0] & 1 != 0 {
            if maccr & MACCR_RX_MULTIPKT != 0 {
                return true;
            }
            if maccr & MACCR_HT_MULTI_EN == 0 {
                return false;
            }
            let index = multicast_hash_index(dst);
            let table = if index >= 32 {
                self.state.maht1
            } else {
                self.state.maht0
            };
            table & (1 << (index % 32)) != 0
        } else {
            dst == self.mac_address()
        }
    }

    fn receive_frame(&mut self, frame: &[u8]) -> bool {
        if frame.len() + FCS_LEN > self.max_frame_len(frame) {
            self.stats.rx_oversized += 1;
            log::debug!(
                "ftgmac100: dropped an oversized RX frame of {} bytes",
                frame.len()
            );
            return true;
        }
        let mut wire = Vec::with_capacity(frame.len().max(MIN_FRAME_LEN) + FCS_LEN);
        wire.extend_from_slice(frame);
        if wire.len() < MIN_FRAME_LEN {
            wire.resize(MIN_FRAME_LEN, 0);
            self.stats.rx_runts += 1;
        }
        if !self.accepts(&wire) {
            self.stats.rx_filtered += 1;
            return true;
        }
        let fcs = ethernet_fcs(&wire);
        let mut status = 0;
        if wire[..6] == [0xff; 6] {
            status |= RXDES0_BROADCAST;
        } else if wire[0] & 1 != 0 {
            status |= RXDES0_MULTICAST;
        }
        let mut des1 = 0;
        if ethertype(&wire) == ETHERTYPE_VLAN {
            des1 = u32::from(u16::from_be_bytes([wire[14], wire[15]])) | RXDES1_VLANTAG_AVAIL;
            if self.state.maccr & MACCR_RM_VLAN != 0 {
                wire.drain(12..16);
            }
        }
        wire.extend_from_slice(&fcs.to_le_bytes());

        // Find free descriptors for the whole frame before touching any.
        let rbsr = (self.state.rbsr & RBSR_SIZE_MASK) as usize;
        let needed = if rbsr == 0 {
            usize::MAX
        } else {
            wire.len().div_ceil(rbsr)
        };
        if needed > RX_SEGMENT_LIMIT {
            log::debug!(
                "ftgmac100: RX buffer size {rbsr} too small for a {} byte frame",
                wire.len()
            );
            return self.no_rx_buffer();
        }
        let mut plan: Vec<(u32, Descriptor)> = Vec::with_capacity(needed);
        let mut addr = self.state.rx_pointer;
        for _ in 0..needed {
            let Some(des) = self.read_descriptor(addr) else {
                self.dma_error("an RX descriptor", u64::from(addr));
                return false;
            };
            if des[0] & RXDES0_RXPKT_RDY != 0 || plan.iter().any(|(a, _)| *a == addr) {
                return self.no_rx_buffer();
            }
            plan.push((addr, des));
            addr = if des[0] & RXDES0_EDORR != 0 {
                self.state.rxr_badr
            } else {
                addr.wrapping_add(self.rxdes_size())
            };
        }

        // Data first, then the descriptors from last to first: the first one, which the driver
        // polls, becomes ready last.
        for (chunk, (_, des)) in wire.chunks(rbsr).zip(&plan) {
            if self.mem.write(u64::from(des[3]), chunk).is_err() {
                self.dma_error("an RX buffer", u64::from(des[3]));
                return false;
            }
        }
        let last = plan.len() - 1;
        for (i, ((daddr, des), chunk)) in plan.iter().zip(wire.chunks(rbsr)).enumerate().rev() {
            let mut des0 = (des[0] & RXDES0_EDORR) | RXDES0_RXPKT_RDY | chunk.len() as u32;
            if i == 0 {
                des0 |= RXDES0_FRS;
            }
            if i == last {
                des0 |= RXDES0_LRS | status;
            }
            let d1 = if i == 0 { des1 } else { 0 };
            if !self.write_words(*daddr, &[des0, d1]) {
                self.dma_error("an RX descriptor", u64::from(*daddr));
                return false;
            }
        }
        self.state.rx_pointer = addr;
        self.state.isr |= INT_RPKT_FIFO | INT_RPKT_BUF;
        self.stats.rx_frames += 1;
        self.stats.rx_bytes += frame.len() as u64;
        true
    }

    fn no_rx_buffer(&mut self) -> bool {
        self.state.isr |= INT_NO_RXBUF;
        self.stats.rx_no_buffer += 1;
        false
    }

    // ---------------------------------------------------------------- registers

    /// MACCR.SW_RST: every register back to its reset value except the MAC address and the
    /// speed bits (QEMU `ftgmac100_do_reset(s, true)`); SW_RST reads back as 0.
    fn software_reset(&mut self) {
        let mut fresh = Ftgmac100State::power_on([0; 6]);
        fresh.madr = self.state.madr;
        fresh.ladr = self.state.ladr;
        fresh.maccr = self.state.maccr & (MACCR_GIGA_MODE | MACCR_FAST_MODE);
        fresh.link_up = self.state.link_up;
        fresh.irq_level = self.state.irq_level;
        self.state = fresh;
    }

    /// PHYCR write: runs the MDIO frame it starts against the attached PHYs; with none
    /// attached (the AST2600) it completes with no PHY behind it.
    fn write_phycr(&mut self, value: u32) {
        if !self.has_phy() {
            self.write_phycr_no_phy(value);
        } else if self.state.revr & REVR_NEW_MDIO_INTERFACE != 0 {
            if value & PHYCR_NEW_FIRE != 0 {
                self.mdio_new_frame(value);
            }
            self.state.phycr = value & !PHYCR_NEW_FIRE;
        } else {
            if value & (PHYCR_MIIRD | PHYCR_MIIWR) != 0 {
                self.mdio_old_frame(value);
            }
            self.state.phycr = value & !(PHYCR_MIIRD | PHYCR_MIIWR);
        }
    }

    /// Clause-22 read of register `reg` of the PHY at `addr`: 0xFFFF if there is none.
    fn mdio_read(&self, addr: u32, reg: u32) -> u16 {
        match self.phy((addr & 0x1f) as u8) {
            Some(phy) => phy.borrow_mut().read((reg & 0x1f) as u8),
            None => mdio::ABSENT_PHY_DATA,
        }
    }

    /// Clause-22 write of register `reg` of the PHY at `addr` (dropped if there is none).
    fn mdio_write(&self, addr: u32, reg: u32, value: u16) {
        if let Some(phy) = self.phy((addr & 0x1f) as u8) {
            phy.borrow_mut().write((reg & 0x1f) as u8, value);
        }
    }

    /// An old-layout command (MIIWR wins if both bits are set, as in QEMU `do_phy_ctl`).
    fn mdio_old_frame(&mut self, phycr: u32) {
        let addr = phycr >> PHYCR_PHYAD_SHIFT;
        let reg = phycr >> PHYCR_REGAD_SHIFT;
        if phycr & PHYCR_MIIWR != 0 {
            self.mdio_write(addr, reg, self.state.phydata as u16);
        } else {
            let data = u32::from(self.mdio_read(addr, reg));
            self.state.phydata = (data << PHYDATA_MIIRDATA_SHIFT) | (self.state.phydata & 0xffff);
        }
    }

    /// A new-layout frame (FIRE set).
    fn mdio_new_frame(&mut self, phycr: u32) {
        let op = (phycr >> PHYCR_NEW_OP_SHIFT) & 0x3;
        let addr = phycr >> PHYCR_NEW_PHYAD_SHIFT;
        let reg = phycr >> PHYCR_NEW_REGAD_SHIFT;
        let read_result = if phycr & PHYCR_NEW_ST_22 == 0 {
            self.mdio_frame_error(format_args!(
                "clause-45 frame (PHYCR {phycr:#010x}): no clause-45 device on the bus"
            ));
            (op == PHYCR_NEW_OP_READ).then_some(mdio::ABSENT_PHY_DATA)
        } else {
            match op {
                PHYCR_NEW_OP_WRITE => {
                    self.mdio_write(addr, reg, (phycr >> PHYCR_NEW_DATA_SHIFT) as u16);
                    None
                }
                PHYCR_NEW_OP_READ => Some(self.mdio_read(addr, reg)),
                _ => {
                    self.mdio_frame_error(format_args!(
                        "invalid clause-22 opcode {op} in PHYCR {phycr:#010x}"
                    ));
                    None
                }
            }
        };
        if let Some(data) = read_result {
            self.state.phydata = (self.state.phydata & 0xffff_0000) | u32::from(data);
        }
    }

    fn mdio_frame_error(&mut self, what: std::fmt::Arguments<'_>) {
        if !self.mdio_frame_logged {
            self.mdio_frame_logged = true;
            log::warn!("ftgmac100: in-MAC MDIO {what} (further such frames are not logged)");
        }
    }

    /// PHYCR write with no PHY attached: commands complete at once and reads return 0xFFFF.
    fn write_phycr_no_phy(&mut self, value: u32) {
        let (busy, data_mask) = if self.state.revr & REVR_NEW_MDIO_INTERFACE != 0 {
            (PHYCR_NEW_FIRE, 0x0000_ffff)
        } else {
            (PHYCR_MIIRD | PHYCR_MIIWR, 0xffff_0000)
        };
        if value & busy != 0 {
            if !self.mdio_logged {
                self.mdio_logged = true;
                log::warn!("ftgmac100: in-MAC MDIO used (PHYCR {value:#010x}); the AST2600's PHYs are on the separate MDIO controller");
            }
            if value & (PHYCR_MIIRD | PHYCR_NEW_FIRE) != 0 {
                self.state.phydata |= data_mask;
            }
        }
        self.state.phycr = value & !busy;
    }

    fn read_register(&self, reg: u64) -> Option<u32> {
        let s = &self.state;
        Some(match reg {
            REG_ISR => s.isr,
            REG_IER => s.ier,
            REG_MAC_MADR => s.madr,
            REG_MAC_LADR => s.ladr,
            REG_MAHT0 => s.maht0,
            REG_MAHT1 => s.maht1,
            REG_NPTXPD | REG_RXPD | REG_HPTXPD => 0,
            REG_NPTXR_BADR => s.nptxr_badr,
            REG_RXR_BADR => s.rxr_badr,
            REG_HPTXR_BADR => s.hptxr_badr,
            REG_ITC => s.itc,
            REG_APTC => s.aptc,
            REG_DBLAC => s.dblac,
            REG_DMAFIFOS => DMAFIFOS_RXFIFO_EMPTY | DMAFIFOS_TXFIFO_EMPTY,
            REG_REVR => s.revr,
            REG_FEAR => s.fear,
            REG_TPAFCR => s.tpafcr,
            REG_RBSR => s.rbsr,
            REG_MACCR => s.maccr,
            // No collision or error status to report on an emulated link.
            REG_MACSR => 0,
            REG_TM => s.tm,
            REG_PHYCR => s.phycr,
            REG_PHYDATA => s.phydata,
            REG_FCR => s.fcr,
            REG_BPR => s.bpr,
            REG_WOLCR => s.wolcr,
            REG_WOLSR => s.wolsr,
            REG_WFCRC => s.wfcrc,
            0x80..=0x8c => s.wfbm[((reg - REG_WFBM1) / 4) as usize],
            REG_NPTXR_PTR => s.tx_pointer,
            REG_HPTXR_PTR => s.hptxr_badr,
            REG_RXR_PTR => s.rx_pointer,
            _ => return None,
        })
    }

    /// Writes a whole 32-bit register; returns false for an unknown one.
    fn write_register(&mut self, reg: u64, v: u32) -> bool {
        let s = &mut self.state;
        match reg {
            REG_IER => s.ier = v & INT_MASK,
            REG_MAC_MADR => s.madr = v & 0xffff,
            REG_MAC_LADR => s.ladr = v,
            REG_MAHT0 => s.maht0 = v,
            REG_MAHT1 => s.maht1 = v,
            REG_NPTXPD => {
                if self.tx_enabled() {
                    self.transmit();
                }
            }
            // The RX DMA is fed by `receive`; the host polls `can_receive`.
            REG_RXPD => {}
            REG_NPTXR_BADR | REG_RXR_BADR => {
                if v & (DESCRIPTOR_SIZE - 1) != 0 {
                    log::warn!("ftgmac100: unaligned ring base {v:#x} ignored");
                } else if reg == REG_NPTXR_BADR {
                    s.nptxr_badr = v;
                    s.tx_pointer = v;
                } else {
                    s.rxr_badr = v;
                    s.rx_pointer = v;
                }
            }
            REG_HPTXR_BADR => s.hptxr_badr = v,
            REG_HPTXPD => self.unimplemented.write(reg, 4, u64::from(v)),
            REG_ITC => s.itc = v,
            REG_APTC => {
                s.aptc = v;
                if v & APTC_TXPOLL_CNT_MASK != 0 {
                    self.unimplemented.write(reg, 4, u64::from(v));
                }
            }
            REG_DBLAC => {
                let tx = ((v >> DBLAC_TXDES_SIZE_SHIFT) & 0xf) * 8;
                let rx = ((v >> DBLAC_RXDES_SIZE_SHIFT) & 0xf) * 8;
                if tx < DESCRIPTOR_SIZE || rx < DESCRIPTOR_SIZE {
                    log::warn!(
                        "ftgmac100: DBLAC {v:#x} ignored: descriptors smaller than 16 bytes"
                    );
                } else {
                    s.dblac = v;
                }
            }
            REG_DMAFIFOS | REG_MACSR | REG_NPTXR_PTR | REG_HPTXR_PTR | REG_RXR_PTR => {}
            REG_REVR => s.revr = v,
            REG_FEAR => s.fear = v,
            REG_TPAFCR => s.tpafcr = v,
            REG_RBSR => s.rbsr = v & RBSR_SIZE_MASK,
            REG_MACCR => {
                s.maccr = v & !MACCR_SW_RST;
                if v & MACCR_SW_RST != 0 {
                    self.software_reset();
                }
            }
            REG_TM => s.tm = v,
            REG_PHYCR => self.write_phycr(v),
            REG_PHYDATA => s.phydata = v,
            REG_FCR => s.fcr = v,
            REG_BPR => s.bpr = v,
            REG_WOLCR => s.wolcr = v,
            REG_WOLSR => s.wolsr = v,
            REG_WFCRC => s.wfcrc = v,
            0x80..=0x8c => s.wfbm[((reg - REG_WFBM1) / 4) as usize] = v,
            _ => return false,
        }
        true
    }

    fn read32(&mut self, offset: u64, size: u8) -> u64 {
        let reg = offset & !3;
        let value = match self.read_register(reg) {
            Some(v) => subword(v, offset, size),
            None => {
                self.unimplemented.read(offset, size);
                0
            }
        };
        self.update_irq();
        value
    }

    fn write32(&mut self, offset: u64, size: u8, value: u64) {
        let reg = offset & !3;
        if reg == REG_ISR {
            // Write 1 to clear, only in the bytes written.
            let cleared = merge_subword(0, offset, size, value);
            self.state.isr &= !cleared;
        } else {
            let current = self.read_register(reg).unwrap_or(0);
            let v = merge_subword(current, offset, size, value);
            if !self.write_register(reg, v) {
                self.unimplemented.write(offset, size, value);
            }
        }
        self.update_irq();
    }
}

impl Device for Ftgmac100 {
    fn read(&mut self, offset: u64, size: u8) -> u64 {
        bus::split_read(offset, size, |o, s| self.read32(o, s))
    }

    fn write(&mut self, offset: u64, size: u8, value: u64) {
        bus::split_write(offset, size, value, |o, s, v| self.write32(o, s, v));
    }

    fn reset(&mut self) {
        let mut fresh = Ftgmac100State::power_on(self.reset_mac);
        fresh.link_up = self.state.link_up;
        fresh.irq_level = self.state.irq_level;
        self.state = fresh;
        self.update_irq();
    }

    /// The registers, the ring pointers, the MAC address and the link the host set
    /// ([`Ftgmac100State`]). DRAM (rings and buffers), the backend, the PHYs behind PHYCR (the
    /// SoC saves each PHY itself), the power-on MAC address and the host-side counters
    /// ([`Ftgmac100::stats`]) are not part of it.
    fn save_state(&self) -> Option<DeviceState> {
        Some(DeviceState::new(STATE_KIND, STATE_VERSION, &self.state))
    }

    /// Restores the registers, keeping the wiring (DRAM, line, backend, PHYs, power-on MAC
    /// address), and drives the line to the restored `ISR & IER`.
    fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        let s: Ftgmac100State = state.decode(STATE_KIND, STATE_VERSION)?;
        self.state = s;
        let level = self.interrupt_pending();
        self.state.irq_level = level;
        self.irq.set(level);
        Ok(())
    }
}

/// The EtherType (or TPID) at bytes 12-13; 0 for frames too short to have one.
fn ethertype(frame: &[u8]) -> u16 {
    match frame.get(12..14) {
        Some(b) => u16::from_be_bytes([b[0], b[1]]),
        None => 0,
    }
}

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320) lookup table.
const CRC32_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// The raw little-endian CRC-32 register after `data`, starting from `crc`, without the final
/// inversion: Linux `crc32_le`.
fn crc32_le(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc = CRC32_TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

/// The Ethernet frame check sequence of `frame` (sent least significant byte first).
pub fn ethernet_fcs(frame: &[u8]) -> u32 {
    !crc32_le(!0, frame)
}

/// The bit of MAHT0:MAHT1 a multicast address hashes to: Linux `ftgmac100_calc_mc_hash`
/// (`ether_crc_le`, then the inverted bits 7:2).
pub fn multicast_hash_index(addr: &[u8]) -> u32 {
    let crc = crc32_le(!0, &addr[..addr.len().min(6)]);
    (!(crc >> 2)) & 0x3f
}

/// The one's complement sum of `data` as 16-bit big-endian words, not yet folded.
fn ones_sum(data: &[u8], mut sum: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum = sum.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
    }
    if let [last] = chunks.remainder() {
        sum = sum.wrapping_add(u32::from(*last) << 8);
    }
    sum
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The TX checksum offloads of TXDES1 on an IPv4 frame (optionally VLAN-tagged); other frames
/// pass untouched (Linux computes their checksums in software).
fn offload_checksums(frame: &mut [u8], flags: u32) {
    if flags & (TXDES1_IP_CHKSUM | TXDES1_TCP_CHKSUM | TXDES1_UDP_CHKSUM) == 0 {
        return;
    }
    let mut l3 = 14;
    let mut etype = ethertype(frame);
    if etype == ETHERTYPE_VLAN {
        l3 = 18;
        etype = frame
            .get(16..18)
            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    }
    if etype != ETHERTYPE_IPV4 {
        return;
    }
    let Some(ip) = frame.get_mut(l3..) else {
        return;
    };
    if ip.len() < 20 || ip[0] >> 4 != 4 {
        return;
    }
    let ihl = usize::from(ip[0] & 0xf) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if ihl < 20 || total < ihl || total > ip.len() {
        return;
    }
    if flags & TXDES1_IP_CHKSUM != 0 {
        ip[10] = 0;
        ip[11] = 0;
        let c = !fold(ones_sum(&ip[..ihl], 0));
        ip[10..12].copy_from_slice(&c.to_be_bytes());
    }
    let fragment = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff;
    if fragment != 0 {
        return;
    }
    let protocol = ip[9];
    let checksum_at = match protocol {
        6 if flags & TXDES1_TCP_CHKSUM != 0 && total - ihl >= 20 => 16,
        17 if flags & TXDES1_UDP_CHKSUM != 0 && total - ihl >= 8 => 6,
        _ => return,
    };
    let l4_len = total - ihl;
    let mut pseudo = [0u8; 12];
    pseudo[..8].copy_from_slice(&ip[12..20]);
    pseudo[9] = protocol;
    pseudo[10..].copy_from_slice(&(l4_len as u16).to_be_bytes());
    let l4 = &mut ip[ihl..total];
    l4[checksum_at] = 0;
    l4[checksum_at + 1] = 0;
    let mut c = !fold(ones_sum(l4, ones_sum(&pseudo, 0)));
    if protocol == 17 && c == 0 {
        c = 0xffff;
    }
    l4[checksum_at..checksum_at + 2].copy_from_slice(&c.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use bus::{LevelRecorder, VecMemory};
    use std::cell::RefCell;

    const RAM: u64 = 0x8000_0000;
    const TX_RING: u32 = 0x8000_0000;
    const RX_RING: u32 = 0x8000_1000;
    const TX_BUF: u32 = 0x8000_4000;
    const RX_BUF: u32 = 0x8000_8000;
    const OUR_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
    /// `FTGMAC100_INT_ALL` of Linux.
    const INT_ALL: u32 =
        INT_RPKT_LOST | INT_XPKT_ETH | INT_XPKT_LOST | INT_AHB_ERR | INT_RPKT_BUF | INT_NO_RXBUF;
    /// `FTGMAC100_INT_BAD` of Linux.
    const INT_BAD: u32 = INT_RPKT_LOST | INT_AHB_ERR | INT_NO_RXBUF;

    struct Rig {
        mac: Ftgmac100,
        mem: Rc<VecMemory>,
        irq: Rc<LevelRecorder>,
        sent: Rc<RefCell<Vec<Vec<u8>>>>,
    }

    impl Rig {
        fn rd(&mut self, reg: u64) -> u32 {
            self.mac.read(reg, 4) as u32
        }
        fn wr(&mut self, reg: u64, v: u32) {
            self.mac.write(reg, 4, u64::from(v));
        }
        fn set_bits(&mut self, reg: u64, bits: u32) {
            let v = self.rd(reg);
            self.wr(reg, v | bits);
        }
        fn clear_bits(&mut self, reg: u64, bits: u32) {
            let v = self.rd(reg);
            self.wr(reg, v & !bits);
        }
        fn put(&self, addr: u32, bytes: &[u8]) {
            self.mem.write(u64::from(addr), bytes).unwrap();
        }
        fn get(&self, addr: u32, len: usize) -> Vec<u8> {
            let mut b = vec![0; len];
            self.mem.read(u64::from(addr), &mut b).unwrap();
            b
        }
        fn put_des(&self, addr: u32, des: [u32; 4]) {
            let bytes: Vec<u8> = des.iter().flat_map(|w| w.to_le_bytes()).collect();
            self.put(addr, &bytes);
        }
        fn des(&self, addr: u32) -> [u32; 4] {
            let b = self.get(addr, 16);
            let w = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
            [w(0), w(4), w(8), w(12)]
        }
        /// An RX ring of `n` free descriptors with 1536-byte buffers, as Linux builds it.
        fn rx_ring(&self, n: u32) {
            for i in 0..n {
                let edorr = if i == n - 1 { RXDES0_EDORR } else { 0 };
                self.put_des(RX_RING + 16 * i, [edorr, 0, 0, RX_BUF + 0x800 * i]);
            }
        }
    }

    /// A MAC with a backend and link, programmed as Linux's `ftgmac100_init_hw` and
    /// `ftgmac100_start_hw` do.
    fn rig() -> Rig {
        let mem = Rc::new(VecMemory::new(RAM, 0x10_0000));
        let irq = LevelRecorder::new();
        let mut mac = Ftgmac100::new(mem.clone(), irq.line(0), OUR_MAC);
        let sent = Rc::new(RefCell::new(Vec::new()));
        let sink = sent.clone();
        mac.set_backend(Some(Box::new(move |f: &[u8]| {
            sink.borrow_mut().push(f.to_vec())
        })));
        mac.set_link(true);
        let mut r = Rig {
            mac,
            mem,
            irq,
            sent,
        };
        r.rx_ring(4);
        for i in 0..4 {
            let edotr = if i == 3 { TXDES0_EDOTR } else { 0 };
            r.put_des(TX_RING + 16 * i, [edotr, 0, 0, 0]);
        }
        let isr = r.rd(REG_ISR);
        r.wr(REG_ISR, isr);
        r.wr(REG_RXR_BADR, RX_RING);
        r.wr(REG_NPTXR_BADR, TX_RING);
        r.wr(REG_RBSR, 1536);
        r.wr(REG_APTC, 1);
        r.wr(REG_MAC_MADR, 0x5254);
        r.wr(REG_MAC_LADR, 0x0012_3456);
        r.wr(
            REG_DBLAC,
            (2 << 12) | (2 << 16) | (3 << 8) | (3 << 10) | (1 << 6) | (6 << 3) | 2,
        );
        r.wr(REG_ITC, (1 << 4) | (1 << 12));
        r.wr(
            REG_MACCR,
            MACCR_TXDMA_EN
                | MACCR_RXDMA_EN
                | MACCR_TXMAC_EN
                | MACCR_RXMAC_EN
                | MACCR_CRC_APD
                | MACCR_RX_RUNT
                | MACCR_RX_BROADPKT
                | MACCR_FULLDUP
                | MACCR_GIGA_MODE,
        );
        r.wr(REG_IER, INT_ALL);
        r
    }

    fn unicast_frame(len: usize) -> Vec<u8> {
        let mut f: Vec<u8> = (0..len).map(|i| i as u8).collect();
        f[..6].copy_from_slice(&OUR_MAC);
        f[6..12].copy_from_slice(&[0x52, 0x55, 0x0a, 0x00, 0x02, 0x02]);
        f[12..14].copy_from_slice(&[0x08, 0x06]);
        f
    }

    #[test]
    fn a_power_on_address_is_there_now_and_after_a_reset() {
        let mem = Rc::new(VecMemory::new(RAM, 0x100));
        let mut mac = Ftgmac100::new(mem, IrqLine::disconnected(), OUR_MAC);
        let board = [0x02, 0x52, 0x41, 0x43, 0x4b, 0x03];
        mac.set_power_on_address(board);
        assert_eq!(mac.mac_address(), board);
        mac.write(REG_MAC_MADR, 4, 0x1234);
        assert_ne!(mac.mac_address(), board, "the guest's own address wins");
        Device::reset(&mut mac);
        assert_eq!(mac.mac_address(), board);
    }

    #[test]
    fn reset_values() {
        let mem = Rc::new(VecMemory::new(RAM, 0x100));
        let mut mac = Ftgmac100::new(mem, IrqLine::disconnected(), OUR_MAC);
        let mut rd = |reg| mac.read(reg, 4);
        assert_eq!(rd(REG_ISR), 0);
        assert_eq!(rd(REG_IER), 0);
        assert_eq!(
            rd(REG_MAC_MADR),
            0x5254,
            "power-on MAC address, read by u-boot"
        );
        assert_eq!(rd(REG_MAC_LADR), 0x0012_3456);
        assert_eq!(rd(REG_RBSR), 0x640);
        assert_eq!(rd(REG_APTC), 1);
        assert_eq!(rd(REG_DBLAC), 0x0002_2f00);
        assert_eq!(rd(REG_TPAFCR), 0xf1);
        assert_eq!(rd(REG_FCR), 0x400);
        assert_eq!(rd(REG_MACCR), 0);
        assert_eq!(
            rd(REG_DMAFIFOS),
            u64::from(DMAFIFOS_RXFIFO_EMPTY | DMAFIFOS_TXFIFO_EMPTY)
        );
        assert!(!mac.link_up(), "no backend, no link");
        assert_eq!(mac.mac_address(), OUR_MAC);
    }

    #[test]
    fn transmits_a_two_segment_frame() {
        let mut r = rig();
        let head: Vec<u8> = (0..20).collect();
        let tail: Vec<u8> = (100..144).collect();
        r.put(TX_BUF, &head);
        r.put(TX_BUF + 0x100, &tail);
        // ftgmac100_hard_start_xmit: fragments first, then OWN on the first descriptor.
        r.put_des(
            TX_RING + 16,
            [TXDES0_TXDMA_OWN | TXDES0_LTS | 44, 0, 0, TX_BUF + 0x100],
        );
        r.put_des(TX_RING, [TXDES0_TXDMA_OWN | TXDES0_FTS | 20, 0, 0, TX_BUF]);
        assert!(!r.irq.level(0));
        r.wr(REG_NPTXPD, 1);
        let sent = r.sent.borrow().clone();
        assert_eq!(sent.len(), 1);
        let expected: Vec<u8> = head.iter().chain(&tail).copied().collect();
        assert_eq!(sent[0], expected, "the segments concatenated");
        assert_eq!(
            r.des(TX_RING)[0],
            TXDES0_FTS | 20,
            "OWN cleared, the rest kept"
        );
        assert_eq!(r.des(TX_RING + 16)[0], TXDES0_LTS | 44);
        let isr = r.rd(REG_ISR);
        assert_eq!(
            isr & (INT_XPKT_ETH | INT_NO_NPTXBUF),
            INT_XPKT_ETH | INT_NO_NPTXBUF
        );
        assert!(r.irq.level(0), "XPKT_ETH is in Linux's INT_ALL");
        assert_eq!(r.rd(REG_NPTXR_PTR), TX_RING + 32);
        r.wr(REG_ISR, INT_XPKT_ETH);
        assert_eq!(r.rd(REG_ISR) & INT_XPKT_ETH, 0, "write 1 to clear");
        assert_ne!(r.rd(REG_ISR) & INT_NO_NPTXBUF, 0, "other bits untouched");
        assert!(!r.irq.level(0), "NO_NPTXBUF is not enabled");
        assert_eq!(r.mac.stats().tx_frames, 1);
        assert_eq!(r.mac.stats().tx_bytes, 64);
    }

    #[test]
    fn tx_ring_wraps_at_edotr_and_stops_at_cpu_owned_descriptors() {
        let mut r = rig();
        r.put(TX_BUF, &[0xAA; 60]);
        for round in 0..6u32 {
            let slot = TX_RING + 16 * (round % 4);
            let edotr = if round % 4 == 3 { TXDES0_EDOTR } else { 0 };
            r.put_des(
                slot,
                [
                    edotr | TXDES0_TXDMA_OWN | TXDES0_FTS | TXDES0_LTS | 60,
                    0,
                    0,
                    TX_BUF,
                ],
            );
            r.wr(REG_NPTXPD, 1);
            assert_eq!(r.sent.borrow().len() as u32, round + 1);
            assert_eq!(r.des(slot)[0] & TXDES0_TXDMA_OWN, 0);
        }
        assert_eq!(r.rd(REG_NPTXR_PTR), TX_RING + 32, "wrapped once");
        // A poll demand with nothing owned sends nothing.
        r.wr(REG_NPTXPD, 1);
        assert_eq!(r.sent.borrow().len(), 6);
    }

    #[test]
    fn tx_needs_both_enable_bits() {
        let mut r = rig();
        r.put(TX_BUF, &[1; 60]);
        r.put_des(
            TX_RING,
            [
                TXDES0_TXDMA_OWN | TXDES0_FTS | TXDES0_LTS | 60,
                0,
                0,
                TX_BUF,
            ],
        );
        r.wr(REG_MACCR, MACCR_TXDMA_EN);
        r.wr(REG_NPTXPD, 1);
        assert!(r.sent.borrow().is_empty());
        assert_ne!(r.des(TX_RING)[0] & TXDES0_TXDMA_OWN, 0);
        r.wr(REG_MACCR, MACCR_TXDMA_EN | MACCR_TXMAC_EN);
        r.wr(REG_NPTXPD, 1);
        assert_eq!(r.sent.borrow().len(), 1);
    }

    #[test]
    fn tx_without_link_completes_descriptors_but_sends_nothing() {
        let mut r = rig();
        r.mac.set_link(false);
        r.put(TX_BUF, &[1; 60]);
        r.put_des(
            TX_RING,
            [
                TXDES0_TXDMA_OWN | TXDES0_FTS | TXDES0_LTS | 60,
                0,
                0,
                TX_BUF,
            ],
        );
        r.wr(REG_NPTXPD, 1);
        assert!(r.sent.borrow().is_empty());
        assert_eq!(
            r.des(TX_RING)[0] & TXDES0_TXDMA_OWN,
            0,
            "the driver gets its skb back"
        );
        assert_ne!(r.rd(REG_ISR) & INT_XPKT_ETH, 0);
        assert_eq!(r.mac.stats().tx_no_link, 1);
        assert_eq!(r.mac.stats().tx_frames, 0);
    }

    fn udp_frame() -> Vec<u8> {
        let mut f = vec![0u8; 14];
        f[..6].copy_from_slice(&[0x52, 0x55, 0x0a, 0x00, 0x02, 0x02]);
        f[6..12].copy_from_slice(&OUR_MAC);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        // IPv4 header (checksum zero), UDP 10.0.2.15:68 -> 10.0.2.2:67, 8 bytes of payload.
        f.extend_from_slice(&[
            0x45, 0x00, 0x00, 36, 0x12, 0x34, 0x40, 0x00, 64, 17, 0, 0, 10, 0, 2, 15, 10, 0, 2, 2,
        ]);
        f.extend_from_slice(&[0, 68, 0, 67, 0, 16, 0xAB, 0xCD, 1, 2, 3, 4, 5, 6, 7, 8]);
        f.resize(60, 0); // eth_skb_pad
        f
    }

    #[test]
    fn ip_header_checksum_matches_a_known_answer() {
        let mut f = vec![0u8; 14];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&[
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ]);
        f.resize(14 + 0x73, 0);
        offload_checksums(&mut f, TXDES1_IP_CHKSUM);
        assert_eq!(&f[24..26], &[0xb8, 0x61]);
    }

    #[test]
    fn tx_checksum_offload_fills_ip_and_udp_checksums() {
        let mut r = rig();
        let frame = udp_frame();
        r.put(TX_BUF, &frame);
        let flags = TXDES1_IP_CHKSUM | TXDES1_UDP_CHKSUM;
        r.put_des(
            TX_RING,
            [
                TXDES0_TXDMA_OWN | TXDES0_FTS | TXDES0_LTS | 60,
                flags,
                0,
                TX_BUF,
            ],
        );
        r.wr(REG_NPTXPD, 1);
        let out = r.sent.borrow()[0].clone();
        assert_eq!(out.len(), 60);
        let ip = &out[14..34];
        assert_eq!(fold(ones_sum(ip, 0)), 0xffff, "IP header sums to all ones");
        let udp = &out[34..50];
        let mut pseudo = ip[12..20].to_vec();
        pseudo.extend_from_slice(&[0, 17, 0, 16]);
        assert_ne!(&udp[6..8], &[0, 0]);
        assert_eq!(
            fold(ones_sum(udp, ones_sum(&pseudo, 0))),
            0xffff,
            "UDP sums to all ones"
        );
        assert_eq!(&out[50..], &[0; 10], "padding untouched");
    }

    #[test]
    fn tx_tcp_checksum_and_vlan_insertion() {
        let mut r = rig();
        let mut f = udp_frame();
        f.truncate(34);
        f[14 + 9] = 6; // TCP
        f[16..18].copy_from_slice(&[0, 44]); // 20 IP + 24 TCP
        let mut tcp = vec![0u8; 24];
        tcp[12] = 0x60; // data offset 6 words
        tcp[16..18].copy_from_slice(&[0x12, 0x34]); // a partial pseudo-header sum from Linux
        f.extend_from_slice(&tcp);
        f.resize(60, 0);
        r.put(TX_BUF, &f);
        let flags = TXDES1_IP_CHKSUM | TXDES1_TCP_CHKSUM | TXDES1_INS_VLANTAG | 0x0123;
        r.put_des(
            TX_RING,
            [
                TXDES0_TXDMA_OWN | TXDES0_FTS | TXDES0_LTS | 60,
                flags,
                0,
                TX_BUF,
            ],
        );
        r.wr(REG_NPTXPD, 1);
        let out = r.sent.borrow()[0].clone();
        assert_eq!(out.len(), 64, "tag inserted");
        assert_eq!(&out[12..16], &[0x81, 0x00, 0x01, 0x23]);
        assert_eq!(&out[16..18], &[0x08, 0x00]);
        let ip = &out[18..38];
        let mut pseudo = ip[12..20].to_vec();
        pseudo.extend_from_slice(&[0, 6, 0, 24]);
        assert_eq!(fold(ones_sum(&out[38..62], ones_sum(&pseudo, 0))), 0xffff);
    }

    #[test]
    fn tx_buffer_outside_ram_is_counted_not_fatal() {
        let mut r = rig();
        r.put_des(
            TX_RING,
            [
                TXDES0_TXDMA_OWN | TXDES0_FTS | TXDES0_LTS | 60,
                0,
                0,
                0x1000,
            ],
        );
        r.wr(REG_NPTXPD, 1);
        assert!(r.sent.borrow().is_empty());
        assert_eq!(r.mac.stats().bad_descriptors, 1);
        assert_ne!(r.rd(REG_ISR) & INT_AHB_ERR, 0);
        assert!(r.irq.level(0), "AHB_ERR is in INT_ALL");
        assert_ne!(
            r.des(TX_RING)[0] & TXDES0_TXDMA_OWN,
            0,
            "left for the retry"
        );
        // The ring itself outside RAM.
        r.wr(REG_NPTXR_BADR, 0x10);
        r.wr(REG_NPTXPD, 1);
        assert_eq!(r.mac.stats().bad_descriptors, 2);
    }

    #[test]
    fn tx_oversized_frame_is_dropped_with_xpkt_lost() {
        let mut r = rig();
        r.put(TX_BUF, &[7; 0x3fff]);
        r.put_des(
            TX_RING,
            [TXDES0_TXDMA_OWN | TXDES0_FTS | 0x3fff, 0, 0, TX_BUF],
        );
        r.put_des(
            TX_RING + 16,
            [TXDES0_TXDMA_OWN | TXDES0_LTS | 10, 0, 0, TX_BUF],
        );
        r.wr(REG_NPTXPD, 1);
        assert!(r.sent.borrow().is_empty());
        assert_eq!(r.mac.stats().tx_oversized, 1);
        assert_ne!(r.rd(REG_ISR) & INT_XPKT_LOST, 0);
        assert_eq!(r.des(TX_RING + 16)[0] & TXDES0_TXDMA_OWN, 0);
    }

    #[test]
    fn receives_into_the_ring() {
        let mut r = rig();
        assert!(r.mac.can_receive());
        let frame = unicast_frame(100);
        assert!(r.mac.receive(&frame));
        let des = r.des(RX_RING);
        assert_eq!(
            des[0],
            RXDES0_RXPKT_RDY | RXDES0_FRS | RXDES0_LRS | 104,
            "length counts the FCS"
        );
        assert_eq!(des[1], 0);
        assert_eq!(des[3], RX_BUF, "buffer address untouched");
        assert_eq!(r.get(RX_BUF, 100), frame);
        assert_eq!(r.get(RX_BUF + 100, 4), ethernet_fcs(&frame).to_le_bytes());
        assert_eq!(
            r.rd(REG_ISR) & (INT_RPKT_BUF | INT_RPKT_FIFO),
            INT_RPKT_BUF | INT_RPKT_FIFO
        );
        assert!(r.irq.level(0));
        assert_eq!(r.rd(REG_RXR_PTR), RX_RING + 16);
        assert_eq!(r.mac.stats().rx_frames, 1);
        assert_eq!(r.mac.stats().rx_bytes, 100);
        // Broadcast: flagged.
        let mut b = unicast_frame(64);
        b[..6].copy_from_slice(&[0xff; 6]);
        assert!(r.mac.receive(&b));
        assert_ne!(r.des(RX_RING + 16)[0] & RXDES0_BROADCAST, 0);
    }

    #[test]
    fn rx_ring_wraps_at_edorr() {
        let mut r = rig();
        for i in 0..4 {
            assert!(r.mac.receive(&unicast_frame(60 + i)));
        }
        assert_eq!(r.rd(REG_RXR_PTR), RX_RING, "back to the base");
        assert_eq!(
            r.des(RX_RING + 48)[0] & RXDES0_EDORR,
            RXDES0_EDORR,
            "EDORR kept"
        );
        assert!(!r.mac.can_receive());
        // Linux's ftgmac100_alloc_rx_buf hands the first one back.
        r.put_des(RX_RING, [0, 0, 0, RX_BUF]);
        assert!(r.mac.can_receive());
        assert!(r.mac.receive(&unicast_frame(70)));
        assert_eq!(r.des(RX_RING)[0] & RXDES0_VDBC_MASK, 74);
    }

    #[test]
    fn a_frame_larger_than_rbsr_spans_descriptors() {
        let mut r = rig();
        r.wr(REG_RBSR, 64);
        let frame = unicast_frame(100);
        assert!(r.mac.receive(&frame));
        assert_eq!(r.des(RX_RING)[0], RXDES0_RXPKT_RDY | RXDES0_FRS | 64);
        assert_eq!(r.des(RX_RING + 16)[0], RXDES0_RXPKT_RDY | RXDES0_LRS | 40);
        assert_eq!(r.get(RX_BUF, 64), frame[..64]);
        assert_eq!(r.get(RX_BUF + 0x800, 36), frame[64..]);
        assert_eq!(r.rd(REG_RXR_PTR), RX_RING + 32);
    }

    #[test]
    fn no_free_descriptor_refuses_the_frame_with_no_rxbuf() {
        let mut r = rig();
        for i in 0..4 {
            let edorr = if i == 3 { RXDES0_EDORR } else { 0 };
            r.put_des(
                RX_RING + 16 * i,
                [edorr | RXDES0_RXPKT_RDY | 60, 0, 0, RX_BUF],
            );
        }
        r.wr(REG_IER, INT_BAD); // Linux while NAPI runs
        assert!(!r.mac.can_receive());
        assert!(!r.mac.receive(&unicast_frame(80)));
        assert_ne!(r.rd(REG_ISR) & INT_NO_RXBUF, 0);
        assert!(r.irq.level(0), "NO_RXBUF is in INT_BAD");
        assert_eq!(r.mac.stats().rx_no_buffer, 1);
        assert_eq!(r.rd(REG_RXR_PTR), RX_RING, "pointer unchanged");
        assert_eq!(
            r.des(RX_RING)[0],
            RXDES0_RXPKT_RDY | 60,
            "descriptor untouched"
        );
        r.put_des(RX_RING, [0, 0, 0, RX_BUF]);
        assert!(r.mac.receive(&unicast_frame(80)), "the retry succeeds");
    }

    #[test]
    fn a_frame_that_does_not_fit_in_the_free_descriptors_is_not_split() {
        let mut r = rig();
        r.wr(REG_RBSR, 64);
        r.put_des(RX_RING + 16, [RXDES0_RXPKT_RDY, 0, 0, RX_BUF + 0x800]);
        assert!(r.mac.can_receive(), "one descriptor is free");
        assert!(
            !r.mac.receive(&unicast_frame(100)),
            "but the frame needs two"
        );
        assert_eq!(r.des(RX_RING)[0], 0, "nothing written");
        assert_eq!(r.get(RX_BUF, 4), [0; 4]);
        // A one-entry ring can never hold a two-buffer frame.
        r.put_des(RX_RING, [RXDES0_EDORR, 0, 0, RX_BUF]);
        assert!(!r.mac.receive(&unicast_frame(100)));
        assert_eq!(r.mac.stats().rx_no_buffer, 2);
    }

    #[test]
    fn runts_are_padded_to_60_bytes() {
        let mut r = rig();
        let frame = unicast_frame(20);
        assert!(r.mac.receive(&frame));
        assert_eq!(r.des(RX_RING)[0] & RXDES0_VDBC_MASK, 64);
        let data = r.get(RX_BUF, 64);
        assert_eq!(&data[..20], &frame[..]);
        assert_eq!(&data[20..60], &[0; 40]);
        assert_eq!(r.mac.stats().rx_runts, 1);
        // Even a frame shorter than a MAC header does no harm.
        r.set_bits(REG_MACCR, MACCR_RX_ALL);
        assert!(r.mac.receive(&[0x52]));
        assert!(r.mac.receive(&[]));
        assert_eq!(r.mac.stats().rx_runts, 3);
    }

    #[test]
    fn oversized_frames_are_dropped_and_counted() {
        let mut r = rig();
        assert!(r.mac.receive(&unicast_frame(1515)), "consumed");
        assert_eq!(r.mac.stats().rx_oversized, 1);
        assert_eq!(r.des(RX_RING)[0], 0, "not written");
        assert!(
            r.mac.receive(&unicast_frame(1514)),
            "1514 + FCS = 1518 fits"
        );
        assert_eq!(r.des(RX_RING)[0] & RXDES0_VDBC_MASK, 1518);
        let mut tagged = unicast_frame(1518);
        tagged[12..14].copy_from_slice(&[0x81, 0x00]);
        assert!(r.mac.receive(&tagged));
        assert_eq!(
            r.des(RX_RING + 16)[0] & RXDES0_VDBC_MASK,
            1522,
            "VLAN allowance"
        );
        assert_eq!(r.mac.stats().rx_oversized, 1);
        r.set_bits(REG_MACCR, MACCR_JUMBO_LF);
        r.wr(REG_RBSR, 0x3fff);
        assert!(r.mac.receive(&unicast_frame(9000)));
        assert_eq!(r.mac.stats().rx_oversized, 1, "jumbo frames allowed");
        assert!(r.mac.receive(&unicast_frame(9213)));
        assert_eq!(r.mac.stats().rx_oversized, 2);
    }

    #[test]
    fn address_filter() {
        let mut r = rig();
        let mut other = unicast_frame(60);
        other[5] ^= 1;
        assert!(r.mac.receive(&other), "consumed");
        assert_eq!(r.mac.stats().rx_filtered, 1);
        assert_eq!(r.des(RX_RING)[0], 0);
        let mut mcast = unicast_frame(60);
        mcast[..6].copy_from_slice(&[0x01, 0x00, 0x5e, 0x00, 0x00, 0x01]);
        assert!(r.mac.receive(&mcast));
        assert_eq!(r.mac.stats().rx_filtered, 2, "multicast off");
        let index = multicast_hash_index(&mcast[..6]);
        let (reg, bit) = if index >= 32 {
            (REG_MAHT1, index - 32)
        } else {
            (REG_MAHT0, index)
        };
        r.wr(reg, 1 << bit);
        r.set_bits(REG_MACCR, MACCR_HT_MULTI_EN);
        assert!(r.mac.receive(&mcast));
        assert_eq!(r.mac.stats().rx_frames, 1, "hash hit");
        assert_ne!(r.des(RX_RING)[0] & RXDES0_MULTICAST, 0);
        r.wr(reg, 0);
        assert!(r.mac.receive(&mcast));
        assert_eq!(r.mac.stats().rx_filtered, 3, "hash miss");
        r.clear_bits(REG_MACCR, MACCR_RX_BROADPKT);
        let mut bcast = unicast_frame(60);
        bcast[..6].copy_from_slice(&[0xff; 6]);
        assert!(r.mac.receive(&bcast));
        assert_eq!(r.mac.stats().rx_filtered, 4, "broadcast off");
        r.set_bits(REG_MACCR, MACCR_RX_ALL);
        assert!(r.mac.receive(&other));
        assert_eq!(r.mac.stats().rx_frames, 2, "promiscuous");
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(ethernet_fcs(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn rx_descriptors_outside_ram_are_refused_and_counted() {
        let mut r = rig();
        r.wr(REG_RXR_BADR, 0x1000);
        assert!(!r.mac.can_receive());
        assert!(!r.mac.receive(&unicast_frame(60)));
        assert_eq!(r.mac.stats().bad_descriptors, 1);
        assert_ne!(r.rd(REG_ISR) & INT_AHB_ERR, 0);
        // A good descriptor pointing at a buffer outside RAM.
        r.wr(REG_RXR_BADR, RX_RING);
        r.put_des(RX_RING, [0, 0, 0, 0xFFFF_FFF0]);
        assert!(!r.mac.receive(&unicast_frame(60)));
        assert_eq!(r.mac.stats().bad_descriptors, 2);
        assert_eq!(r.des(RX_RING)[0], 0, "not handed to the CPU");
        // A ring running off the end of RAM.
        r.wr(REG_RXR_BADR, (RAM + 0x10_0000 - 16) as u32);
        r.wr(REG_RBSR, 64);
        r.put_des((RAM + 0x10_0000 - 16) as u32, [0, 0, 0, RX_BUF]);
        assert!(!r.mac.receive(&unicast_frame(100)));
        assert_eq!(r.mac.stats().bad_descriptors, 3);
    }

    #[test]
    fn nothing_is_received_when_disabled_or_without_link() {
        let mut r = rig();
        r.wr(REG_MACCR, MACCR_RXDMA_EN | MACCR_TXDMA_EN);
        assert!(!r.mac.can_receive());
        assert!(!r.mac.receive(&unicast_frame(60)));
        r.wr(REG_MACCR, MACCR_RXDMA_EN | MACCR_RXMAC_EN);
        assert!(r.mac.can_receive());
        r.mac.set_link(false);
        assert!(!r.mac.can_receive());
        assert!(!r.mac.receive(&unicast_frame(60)));
        r.mac.set_link(true);
        r.mac.set_backend(None);
        assert!(!r.mac.link_up(), "no backend, no link");
        assert!(!r.mac.receive(&unicast_frame(60)));
        assert_eq!(r.mac.stats(), Ftgmac100Stats::default());
        assert_eq!(r.rd(REG_ISR), 0, "no interrupt either");
    }

    #[test]
    fn vlan_tag_is_reported_and_stripped_with_rm_vlan() {
        let mut r = rig();
        let mut f = unicast_frame(80);
        f[12..16].copy_from_slice(&[0x81, 0x00, 0x20, 0x05]);
        assert!(r.mac.receive(&f));
        assert_eq!(r.des(RX_RING)[1], RXDES1_VLANTAG_AVAIL | 0x2005);
        assert_eq!(r.des(RX_RING)[0] & RXDES0_VDBC_MASK, 84, "tag kept");
        r.set_bits(REG_MACCR, MACCR_RM_VLAN);
        assert!(r.mac.receive(&f));
        assert_eq!(r.des(RX_RING + 16)[1], RXDES1_VLANTAG_AVAIL | 0x2005);
        assert_eq!(
            r.des(RX_RING + 16)[0] & RXDES0_VDBC_MASK,
            80,
            "tag stripped"
        );
        let data = r.get(RX_BUF + 0x800, 76);
        assert_eq!(&data[..12], &f[..12]);
        assert_eq!(&data[12..], &f[16..]);
    }

    #[test]
    fn interrupts_latch_while_masked() {
        let mut r = rig();
        r.wr(REG_IER, INT_BAD); // ftgmac100_interrupt while NAPI polls
        assert!(r.mac.receive(&unicast_frame(60)));
        assert!(!r.irq.level(0), "RPKT_BUF masked");
        assert_ne!(r.rd(REG_ISR) & INT_RPKT_BUF, 0, "but latched");
        r.wr(REG_IER, INT_ALL);
        assert!(r.irq.level(0));
        r.wr(REG_ISR, INT_RPKT_BUF | INT_RPKT_FIFO);
        assert!(!r.irq.level(0));
    }

    #[test]
    fn software_reset_self_clears_and_restores_defaults() {
        let mut r = rig();
        r.wr(REG_RBSR, 64);
        r.wr(REG_MAHT0, 0xffff);
        assert!(r.mac.receive(&unicast_frame(60)));
        assert!(r.irq.level(0));
        let maccr = MACCR_GIGA_MODE | MACCR_FULLDUP;
        // ftgmac100_reset_mac: write MACCR, then MACCR | SW_RST, then poll SW_RST.
        r.wr(REG_MACCR, maccr);
        r.wr(REG_MACCR, maccr | MACCR_SW_RST);
        assert_eq!(r.rd(REG_MACCR) & MACCR_SW_RST, 0, "self-clearing");
        assert_eq!(r.rd(REG_MACCR), MACCR_GIGA_MODE, "speed bits kept");
        assert_eq!(r.rd(REG_ISR), 0);
        assert_eq!(r.rd(REG_IER), 0);
        assert!(!r.irq.level(0));
        assert_eq!(r.rd(REG_RBSR), RBSR_RESET_VALUE);
        assert_eq!(r.rd(REG_MAHT0), 0);
        assert_eq!(r.rd(REG_RXR_BADR), 0);
        assert_eq!(r.rd(REG_RXR_PTR), 0);
        assert_eq!(r.rd(REG_NPTXR_PTR), 0);
        assert_eq!(r.rd(REG_DBLAC), DBLAC_RESET_VALUE);
        assert_eq!(r.mac.mac_address(), OUR_MAC, "the address survives");
        assert!(!r.mac.can_receive(), "receiver off");
        assert!(r.mac.link_up(), "the link is not the MAC's");
    }

    #[test]
    fn register_validation() {
        let mut r = rig();
        r.wr(REG_DBLAC, 0x0001_1000);
        assert_ne!(r.rd(REG_DBLAC), 0x0001_1000, "8-byte descriptors refused");
        r.wr(REG_RXR_BADR, RX_RING + 8);
        assert_eq!(r.rd(REG_RXR_BADR), RX_RING, "unaligned ring refused");
        r.wr(REG_IER, 0xffff_ffff);
        assert_eq!(r.rd(REG_IER), INT_MASK);
        r.wr(REG_RBSR, 0xffff_ffff);
        assert_eq!(r.rd(REG_RBSR), 0x3fff);
        r.wr(REG_MAC_MADR, 0xffff_0203);
        assert_eq!(r.rd(REG_MAC_MADR), 0x0203);
        r.wr(REG_TM, 0x1800_0000); // FTGMAC100_TM_DEFAULT
        assert_eq!(r.rd(REG_TM), 0x1800_0000);
    }

    #[test]
    fn in_mac_mdio_completes_with_no_phy() {
        let mut r = rig();
        // ftgmac100_mdiobus_read: PHYCR = PHYAD | REGAD | MIIRD, poll MIIRD, read PHYDATA[31:16].
        r.wr(REG_PHYCR, 0x34 | (2 << 21) | PHYCR_MIIRD);
        assert_eq!(r.rd(REG_PHYCR) & PHYCR_MIIRD, 0);
        assert_eq!(r.rd(REG_PHYDATA) >> 16, 0xffff);
        r.wr(REG_PHYDATA, 0x1234);
        r.wr(REG_PHYCR, 0x34 | PHYCR_MIIWR);
        assert_eq!(r.rd(REG_PHYCR) & PHYCR_MIIWR, 0);
        r.wr(REG_REVR, REVR_NEW_MDIO_INTERFACE);
        r.wr(REG_PHYCR, PHYCR_NEW_FIRE | (1 << 12) | (2 << 10));
        assert_eq!(r.rd(REG_PHYCR) & PHYCR_NEW_FIRE, 0);
        assert_eq!(r.rd(REG_PHYDATA) & 0xffff, 0xffff);
    }

    // ---- in-MAC MDIO with a PHY (the AST2500) ----

    /// The rig's MAC with an RTL8211E (cable plugged) at MDIO address `addr`.
    fn rig_with_phy(addr: u8) -> (Rig, Rc<RefCell<mdio::Phy>>) {
        let mut r = rig();
        let phy = Rc::new(RefCell::new(mdio::Phy::new(true)));
        r.mac.attach_phy(addr, phy.clone());
        (r, phy)
    }

    /// Linux `ftgmac100_setup_mdio` for `aspeed,ast2500-mac`: the old MDIO interface.
    fn linux_setup_mdio(r: &mut Rig) {
        r.clear_bits(REG_REVR, REVR_NEW_MDIO_INTERFACE);
    }

    /// Linux `ftgmac100_mdiobus_read`: keep the MDC threshold, PHYAD | REGAD | MIIRD, poll
    /// MIIRD (10 tries), PHYDATA[31:16].
    fn linux_mdiobus_read(r: &mut Rig, addr: u32, reg: u8) -> Option<u16> {
        let mut phycr = r.rd(REG_PHYCR) & PHYCR_MDC_CYCTHR_MASK;
        phycr |= (addr << PHYCR_PHYAD_SHIFT) | (u32::from(reg) << PHYCR_REGAD_SHIFT) | PHYCR_MIIRD;
        r.wr(REG_PHYCR, phycr);
        (0..10)
            .find(|_| r.rd(REG_PHYCR) & PHYCR_MIIRD == 0)
            .map(|_| (r.rd(REG_PHYDATA) >> PHYDATA_MIIRDATA_SHIFT) as u16)
    }

    /// Linux `ftgmac100_mdiobus_write`: PHYDATA = value, then PHYAD | REGAD | MIIWR, poll MIIWR.
    fn linux_mdiobus_write(r: &mut Rig, addr: u32, reg: u8, value: u16) -> bool {
        let mut phycr = r.rd(REG_PHYCR) & PHYCR_MDC_CYCTHR_MASK;
        phycr |= (addr << PHYCR_PHYAD_SHIFT) | (u32::from(reg) << PHYCR_REGAD_SHIFT) | PHYCR_MIIWR;
        r.wr(REG_PHYDATA, u32::from(value));
        r.wr(REG_PHYCR, phycr);
        (0..10).any(|_| r.rd(REG_PHYCR) & PHYCR_MIIWR == 0)
    }

    /// The new-layout read of the Aspeed SDK drivers: FIRE | ST_22 | READ | PHYAD | REGAD, poll
    /// FIRE, PHYDATA[15:0].
    fn new_mdio_read(r: &mut Rig, addr: u32, reg: u8) -> Option<u16> {
        r.wr(
            REG_PHYCR,
            PHYCR_NEW_FIRE
                | PHYCR_NEW_ST_22
                | (PHYCR_NEW_OP_READ << PHYCR_NEW_OP_SHIFT)
                | (addr << PHYCR_NEW_PHYAD_SHIFT)
                | u32::from(reg),
        );
        (0..10)
            .find(|_| r.rd(REG_PHYCR) & PHYCR_NEW_FIRE == 0)
            .map(|_| r.rd(REG_PHYDATA) as u16)
    }

    /// The new-layout write: the data in PHYCR[31:16], FIRE | ST_22 | WRITE, poll FIRE.
    fn new_mdio_write(r: &mut Rig, addr: u32, reg: u8, value: u16) -> bool {
        r.wr(
            REG_PHYCR,
            (u32::from(value) << PHYCR_NEW_DATA_SHIFT)
                | PHYCR_NEW_FIRE
                | PHYCR_NEW_ST_22
                | (PHYCR_NEW_OP_WRITE << PHYCR_NEW_OP_SHIFT)
                | (addr << PHYCR_NEW_PHYAD_SHIFT)
                | u32::from(reg),
        );
        (0..10).any(|_| r.rd(REG_PHYCR) & PHYCR_NEW_FIRE == 0)
    }

    #[test]
    fn linux_reads_the_phy_id_through_phycr_old_layout() {
        let (mut r, _) = rig_with_phy(0);
        r.wr(REG_REVR, REVR_NEW_MDIO_INTERFACE);
        linux_setup_mdio(&mut r);
        assert_eq!(r.rd(REG_REVR) & REVR_NEW_MDIO_INTERFACE, 0);
        // u-boot left the MDC threshold in PHYCR; Linux keeps it.
        r.wr(REG_PHYCR, 0x34);
        assert_eq!(
            linux_mdiobus_read(&mut r, 0, mdio::MII_PHYSID1),
            Some(mdio::RTL8211E_PHYID1)
        );
        assert_eq!(
            linux_mdiobus_read(&mut r, 0, mdio::MII_PHYSID2),
            Some(mdio::RTL8211E_PHYID2)
        );
        assert_eq!(
            r.rd(REG_PHYCR),
            0x34 | (u32::from(mdio::MII_PHYSID2) << PHYCR_REGAD_SHIFT),
            "the command done, the rest as written"
        );
        // mdiobus_scan: every other address reads all ones (no PHY there).
        for addr in 1..32 {
            assert_eq!(
                linux_mdiobus_read(&mut r, addr, mdio::MII_PHYSID1),
                Some(0xFFFF),
                "address {addr}"
            );
        }
        // BMSR shows the PHY's link.
        let bmsr = linux_mdiobus_read(&mut r, 0, mdio::MII_BMSR).unwrap();
        assert_ne!(bmsr & mdio::BMSR_LSTATUS, 0);
        assert_ne!(bmsr & mdio::BMSR_ANEGCOMPLETE, 0);
        assert!(
            !r.mac.mdio_logged,
            "no 'no PHY' warning with a PHY attached"
        );
    }

    #[test]
    fn linux_reads_the_phy_id_through_phycr_new_layout() {
        let (mut r, _) = rig_with_phy(1);
        r.wr(REG_REVR, REVR_NEW_MDIO_INTERFACE);
        r.wr(REG_PHYDATA, 0xABCD_0000);
        assert_eq!(
            new_mdio_read(&mut r, 1, mdio::MII_PHYSID1),
            Some(mdio::RTL8211E_PHYID1)
        );
        assert_eq!(r.rd(REG_PHYDATA) >> 16, 0xABCD, "the high half is kept");
        assert_eq!(
            new_mdio_read(&mut r, 1, mdio::MII_PHYSID2),
            Some(mdio::RTL8211E_PHYID2)
        );
        assert_eq!(new_mdio_read(&mut r, 0, mdio::MII_PHYSID1), Some(0xFFFF));
        // Clause 45 (ST 0) and an invalid opcode complete too.
        r.wr(
            REG_PHYCR,
            PHYCR_NEW_FIRE | (PHYCR_NEW_OP_READ << PHYCR_NEW_OP_SHIFT) | (1 << 5) | 2,
        );
        assert_eq!(r.rd(REG_PHYCR) & PHYCR_NEW_FIRE, 0);
        assert_eq!(r.rd(REG_PHYDATA) & 0xffff, 0xFFFF);
        r.wr(REG_PHYCR, PHYCR_NEW_FIRE | PHYCR_NEW_ST_22 | (1 << 5));
        assert_eq!(r.rd(REG_PHYCR) & PHYCR_NEW_FIRE, 0);
        assert!(r.mac.mdio_frame_logged);
        // Switching back to the old layout: the same PHY answers there.
        linux_setup_mdio(&mut r);
        assert_eq!(
            linux_mdiobus_read(&mut r, 1, mdio::MII_PHYSID1),
            Some(mdio::RTL8211E_PHYID1)
        );
    }

    #[test]
    fn bmcr_writes_reach_the_phy_and_its_link_gates_the_mac() {
        let (mut r, phy) = rig_with_phy(0);
        linux_setup_mdio(&mut r);
        assert!(r.mac.link_up());
        // genphy_soft_reset: BMCR_RESET | ANENABLE, poll until RESET clears.
        assert!(linux_mdiobus_write(
            &mut r,
            0,
            mdio::MII_BMCR,
            mdio::BMCR_RESET | mdio::BMCR_ANENABLE
        ));
        let bmcr = linux_mdiobus_read(&mut r, 0, mdio::MII_BMCR).unwrap();
        assert_eq!(bmcr & mdio::BMCR_RESET, 0);
        assert_eq!(bmcr, mdio::BMCR_RESET_VALUE);
        // genphy_suspend: power down. The PHY loses the link, and so does the MAC.
        assert!(linux_mdiobus_write(
            &mut r,
            0,
            mdio::MII_BMCR,
            bmcr | mdio::BMCR_PDOWN
        ));
        assert_eq!(
            phy.borrow().state().bmcr & mdio::BMCR_PDOWN,
            mdio::BMCR_PDOWN
        );
        assert!(!r.mac.link_up());
        let bmsr = linux_mdiobus_read(&mut r, 0, mdio::MII_BMSR).unwrap();
        assert_eq!(bmsr & mdio::BMSR_LSTATUS, 0);
        r.wr(REG_MACCR, MACCR_RXDMA_EN | MACCR_RXMAC_EN);
        assert!(!r.mac.can_receive());
        assert!(!r.mac.receive(&unicast_frame(60)), "no link: not taken");
        // Powered up again with a new-layout write: the link is back.
        r.wr(REG_REVR, REVR_NEW_MDIO_INTERFACE);
        assert!(new_mdio_write(&mut r, 0, mdio::MII_BMCR, bmcr));
        assert_eq!(phy.borrow().state().bmcr & mdio::BMCR_PDOWN, 0);
        assert!(r.mac.link_up());
        assert!(r.mac.can_receive());
        // The cable the SoC unplugs is seen the same way.
        phy.borrow_mut().set_link(false);
        assert!(!r.mac.link_up());
        // A write to an empty address changes nothing.
        assert!(new_mdio_write(&mut r, 7, mdio::MII_BMCR, mdio::BMCR_PDOWN));
        assert_eq!(phy.borrow().state().bmcr & mdio::BMCR_PDOWN, 0);
    }

    #[test]
    fn uboot_mdio_read_and_write_through_phycr() {
        let (mut r, phy) = rig_with_phy(0);
        // u-boot ftgmac100_mdio_read: MDC_CYCTHR(0x34) | PHYAD | REGAD | MIIRD, poll MIIRD.
        let read = |r: &mut Rig, reg: u8| {
            r.wr(
                REG_PHYCR,
                0x34 | (u32::from(reg) << PHYCR_REGAD_SHIFT) | PHYCR_MIIRD,
            );
            assert_eq!(r.rd(REG_PHYCR) & PHYCR_MIIRD, 0, "done at the first poll");
            (r.rd(REG_PHYDATA) >> 16) as u16
        };
        assert_eq!(read(&mut r, mdio::MII_PHYSID1), mdio::RTL8211E_PHYID1);
        assert_eq!(read(&mut r, mdio::MII_PHYSID2), mdio::RTL8211E_PHYID2);
        // ftgmac100_mdio_write: PHYDATA first, then MIIWR.
        r.wr(
            REG_PHYDATA,
            u32::from(mdio::ADVERTISE_CSMA | mdio::ADVERTISE_100FULL),
        );
        r.wr(
            REG_PHYCR,
            0x34 | (u32::from(mdio::MII_ADVERTISE) << PHYCR_REGAD_SHIFT) | PHYCR_MIIWR,
        );
        assert_eq!(r.rd(REG_PHYCR) & PHYCR_MIIWR, 0);
        assert_eq!(
            phy.borrow_mut().read(mdio::MII_ADVERTISE),
            mdio::ADVERTISE_CSMA | mdio::ADVERTISE_100FULL
        );
        assert_eq!(
            r.mac.phy(0).map(|p| Rc::ptr_eq(&p, &phy)),
            Some(true),
            "the attached PHY"
        );
        assert!(r.mac.phy(1).is_none());
        // An out-of-range address is refused; the PHY at 0 stays.
        r.mac
            .attach_phy(32, Rc::new(RefCell::new(mdio::Phy::new(false))));
        assert!(r.mac.phy(0).is_some());
        // A MAC reset leaves the PHY attached and its registers alone.
        r.mac.reset();
        assert_eq!(read(&mut r, mdio::MII_PHYSID1), mdio::RTL8211E_PHYID1);
        assert_eq!(
            phy.borrow_mut().read(mdio::MII_ADVERTISE),
            mdio::ADVERTISE_CSMA | mdio::ADVERTISE_100FULL
        );
    }

    #[test]
    fn loopback_returns_transmitted_frames_to_the_receiver() {
        let mut r = rig();
        r.set_bits(REG_MACCR, MACCR_LOOP_EN);
        let frame = unicast_frame(60);
        r.put(TX_BUF, &frame);
        r.put_des(
            TX_RING,
            [
                TXDES0_TXDMA_OWN | TXDES0_FTS | TXDES0_LTS | 60,
                0,
                0,
                TX_BUF,
            ],
        );
        r.wr(REG_NPTXPD, 1);
        assert!(r.sent.borrow().is_empty(), "not on the wire");
        assert_eq!(r.get(RX_BUF, 60), frame);
        assert_ne!(r.des(RX_RING)[0] & RXDES0_RXPKT_RDY, 0);
    }

    #[test]
    fn sub_word_and_wide_accesses() {
        let mut r = rig();
        r.mac.write(REG_MAHT0 + 1, 1, 0xAB);
        assert_eq!(r.rd(REG_MAHT0), 0xAB00);
        assert_eq!(r.mac.read(REG_MAHT0 + 1, 1), 0xAB);
        r.mac.write(REG_MAHT0, 8, 0x1111_2222_3333_4444);
        assert_eq!(r.rd(REG_MAHT1), 0x1111_2222);
        assert_eq!(r.mac.read(REG_MAHT0, 8), 0x1111_2222_3333_4444);
        assert!(r.mac.receive(&unicast_frame(60)));
        r.wr(REG_IER, 0);
        r.mac.write(REG_ISR + 1, 1, 0xff);
        assert_ne!(
            r.rd(REG_ISR) & INT_RPKT_BUF,
            0,
            "a byte write clears only its byte"
        );
        r.mac.write(REG_ISR, 1, u64::from(INT_RPKT_BUF));
        assert_eq!(r.rd(REG_ISR) & INT_RPKT_BUF, 0);
    }

    #[test]
    fn every_offset_and_width_is_accepted_and_unknown_ones_logged() {
        let mut r = rig();
        assert_eq!(r.rd(0xa0), 0, "TX counter");
        r.wr(0xfc, 1);
        assert_eq!(r.mac.unimplemented.reported(), 2);
        for offset in (0..0x110u64).chain([u64::MAX - 3, u64::MAX]) {
            for size in [1u8, 2, 4, 8] {
                r.mac.read(offset, size);
                r.mac.write(offset, size, u64::MAX);
            }
        }
    }

    #[test]
    fn hardware_reset_and_state_round_trip() {
        let mut r = rig();
        r.wr(REG_MAC_LADR, 0xdead_beef);
        assert!(r.mac.receive(&unicast_frame(60)));
        r.wr(REG_MAC_MADR, 0x0002);
        let s = r.mac.state();
        let rec = LevelRecorder::new();
        let m2 = Ftgmac100::from_state(&s, r.mem.clone(), rec.line(3), OUR_MAC);
        assert_eq!(m2.state(), s);
        assert_eq!(m2.mac_address(), [0, 2, 0xde, 0xad, 0xbe, 0xef]);
        r.mac.reset();
        let mut expected = Ftgmac100State::power_on(OUR_MAC);
        expected.link_up = true;
        assert_eq!(r.mac.state(), expected);
        assert!(!r.irq.level(0));
    }

    #[test]
    fn restored_pending_interrupt_raises_the_line() {
        let r = rig();
        let mut s = r.mac.state();
        s.isr = INT_RPKT_BUF;
        s.irq_level = false;
        let rec = LevelRecorder::new();
        let m = Ftgmac100::from_state(&s, r.mem.clone(), rec.line(1), OUR_MAC);
        assert!(rec.level(1));
        assert!(m.interrupt_pending());
    }

    // ---- snapshots ----

    /// Every register of the MAC as the driver reads it.
    fn registers(r: &mut Rig) -> Vec<u32> {
        (0..=REG_RXR_PTR).step_by(4).map(|reg| r.rd(reg)).collect()
    }

    /// A MAC in the middle of traffic: two frames received and one sent (ring pointers
    /// moved), RPKT_BUF pending with the line high, a multicast filter and a guest-set
    /// MAC address.
    fn busy_mac() -> Rig {
        let mut r = rig();
        r.wr(REG_MAHT0, 0x0000_8001);
        r.wr(REG_MAC_LADR, 0x0012_3457);
        let mut ours = unicast_frame(80);
        ours[5] = 0x57;
        assert!(r.mac.receive(&ours));
        assert!(r.mac.receive(&ours[..70]));
        r.put(TX_BUF, &unicast_frame(64));
        r.put_des(
            TX_RING,
            [
                TXDES0_TXDMA_OWN | TXDES0_FTS | TXDES0_LTS | 64,
                0,
                0,
                TX_BUF,
            ],
        );
        r.wr(REG_NPTXPD, 1);
        assert_eq!(r.sent.borrow().len(), 1);
        r.wr(REG_ISR, INT_XPKT_ETH | INT_NO_NPTXBUF);
        assert!(r.irq.level(0));
        r
    }

    /// A rig like [`rig`] holding a copy of `r`'s DRAM (which the SoC restores next to the
    /// MAC), its link down.
    fn rig_with_dram_of(r: &Rig) -> Rig {
        let mut t = rig();
        t.mac.set_link(false);
        let bytes = r.get(TX_RING, 0x10_0000);
        t.put(TX_RING, &bytes);
        t
    }

    #[test]
    fn a_restored_mac_continues_its_rings_and_keeps_its_interrupt() {
        let mut r = busy_mac();
        let saved = r.mac.save_state().expect("a MAC saves its state");
        assert_eq!(
            (saved.kind.as_str(), saved.version),
            (STATE_KIND, STATE_VERSION)
        );
        let mut t = rig_with_dram_of(&r);
        t.wr(REG_ISR, INT_MASK);
        assert!(!t.irq.level(0));
        t.mac.load_state(&saved).unwrap();
        assert!(t.irq.level(0), "the pending RPKT_BUF raises the line");
        assert!(t.mac.link_up(), "the host-set link is restored");
        assert_eq!(registers(&mut t), registers(&mut r));
        assert_eq!(t.mac.mac_address(), r.mac.mac_address());
        assert_eq!(t.mac.save_state(), Some(saved));
        // The next frame lands in the third RX descriptor on both, the next TX is the second.
        let mut ours = unicast_frame(90);
        ours[5] = 0x57;
        for rig in [&mut r, &mut t] {
            assert!(rig.mac.receive(&ours));
            assert_eq!(
                rig.des(RX_RING + 32)[0] & RXDES0_RXPKT_RDY,
                RXDES0_RXPKT_RDY
            );
            rig.put(TX_BUF, &unicast_frame(100));
            rig.put_des(
                TX_RING + 16,
                [
                    TXDES0_TXDMA_OWN | TXDES0_FTS | TXDES0_LTS | 100,
                    0,
                    0,
                    TX_BUF,
                ],
            );
            rig.wr(REG_NPTXPD, 1);
        }
        assert_eq!(t.sent.borrow()[..], r.sent.borrow()[1..]);
        assert_eq!(t.get(TX_RING, 0x10_0000), r.get(TX_RING, 0x10_0000));
        assert_eq!(registers(&mut t), registers(&mut r));
        // Acknowledging everything lowers both lines.
        for rig in [&mut r, &mut t] {
            rig.wr(REG_ISR, INT_MASK);
            assert!(!rig.irq.level(0));
        }
    }

    #[test]
    fn a_mac_refuses_a_state_of_another_kind_or_version() {
        let r = busy_mac();
        let saved = r.mac.save_state().unwrap();
        let mut t = rig();
        let before = t.mac.state();
        let changes = t.irq.changes();
        let wrong_kind = DeviceState {
            kind: "aspeed-mdio".into(),
            ..saved.clone()
        };
        let wrong_version = DeviceState {
            version: STATE_VERSION + 1,
            ..saved.clone()
        };
        for bad in [&wrong_kind, &wrong_version] {
            assert!(t.mac.load_state(bad).is_err());
        }
        assert_eq!(t.mac.state(), before, "left unchanged");
        assert_eq!(t.irq.changes(), changes, "the line is not touched");
        // A quiet state loads over a busy MAC and lowers its line.
        let quiet = rig().mac.save_state().unwrap();
        let mut b = busy_mac();
        b.mac.load_state(&quiet).unwrap();
        assert!(!b.irq.level(0));
        assert_eq!(b.mac.state(), before);
    }
}
