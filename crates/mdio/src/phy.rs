//! A clause-22 Ethernet PHY: a Realtek RTL8211E as QEMU's ast2600-evb shows it and as Linux's
//! `realtek` driver ("RTL8211E Gigabit Ethernet", id 0x001cc915) and u-boot's `RTL8211E_driver`
//! drive it.
//!
//! The cable is a host-side wire: [`Phy::set_link`] plugs or unplugs it. Autonegotiation completes
//! the instant the link is up (or is restarted), against a link partner that advertises every
//! 10/100/1000 mode with pause; with the default advertisement the link resolves to 1000 Mb/s
//! full duplex. Link status in BMSR latches low as in IEEE 802.3 22.2.4.2.13: after a link
//! failure BMSR reads "down" once even if the link is back, and reading BMSR releases the latch.
//!
//! Registers 16..=29 on a non-zero page (PAGSEL, register 31) and the extension pages behind
//! page 7 (EPAGSR, register 30) are plain storage: the drivers only write RGMII delay, EEE LED
//! and clocking magic there, which has no effect on an emulated link.

use std::collections::BTreeMap;

use bus::{DeviceState, StateError};
use serde::{Deserialize, Serialize};

/// The kind of a PHY's saved state ([`DeviceState::kind`]).
pub const PHY_STATE_KIND: &str = "rtl8211e-phy";

/// Basic mode control register: Linux `MII_BMCR`.
pub const MII_BMCR: u8 = 0x00;
/// Basic mode status register: Linux `MII_BMSR`.
pub const MII_BMSR: u8 = 0x01;
/// PHY identifier, high half: Linux `MII_PHYSID1`.
pub const MII_PHYSID1: u8 = 0x02;
/// PHY identifier, low half: Linux `MII_PHYSID2`.
pub const MII_PHYSID2: u8 = 0x03;
/// Autonegotiation advertisement: Linux `MII_ADVERTISE`.
pub const MII_ADVERTISE: u8 = 0x04;
/// Link partner ability: Linux `MII_LPA`.
pub const MII_LPA: u8 = 0x05;
/// Autonegotiation expansion: Linux `MII_EXPANSION`.
pub const MII_EXPANSION: u8 = 0x06;
/// 1000BASE-T control: Linux `MII_CTRL1000` (Realtek GBCR).
pub const MII_CTRL1000: u8 = 0x09;
/// 1000BASE-T status: Linux `MII_STAT1000` (Realtek GBSR).
pub const MII_STAT1000: u8 = 0x0a;
/// Extended status: Linux `MII_ESTATUS`.
pub const MII_ESTATUS: u8 = 0x0f;
/// RTL8211E PHY specific control register: QEMU `RTL8211E_MII_PHYCR`.
pub const RTL8211E_PHYCR: u8 = 0x10;
/// RTL8211E PHY specific status register: u-boot `MIIM_RTL8211x_PHY_STATUS`, QEMU `RTL8211E_MII_PHYSR`.
pub const RTL8211E_PHYSR: u8 = 0x11;
/// RTL8211E interrupt enable register: Linux `RTL821x_INER`, u-boot `MIIM_RTL8211x_PHY_INER`.
pub const RTL8211E_INER: u8 = 0x12;
/// RTL8211E interrupt status register (clear on read): Linux `RTL821x_INSR`.
pub const RTL8211E_INSR: u8 = 0x13;
/// RTL8211E receive error counter: QEMU `RTL8211E_MII_RXERC`.
pub const RTL8211E_RXERC: u8 = 0x18;
/// RTL8211E link down power saving register: QEMU `RTL8211E_MII_LDPSR`.
pub const RTL8211E_LDPSR: u8 = 0x1b;
/// RTL8211E extension page select (used on page 7): Linux `RTL821x_EXT_PAGE_SELECT`.
pub const RTL8211E_EPAGSR: u8 = 0x1e;
/// RTL8211E page select: Linux `RTL821x_PAGE_SELECT`.
pub const RTL8211E_PAGSEL: u8 = 0x1f;
/// The page whose registers are selected by EPAGSR: Linux `rtl8211x_select_ext_page` (page 7).
pub const RTL8211E_EXT_PAGE: u16 = 7;
/// PAGSEL bits that select a page (RTL8211E datasheet: pages 0..=7).
pub const RTL8211E_PAGE_MASK: u16 = 0x7;
/// EPAGSR bits that select an extension page (0x00..=0xff).
pub const RTL8211E_EXT_PAGE_MASK: u16 = 0xff;

/// BMCR: software reset, self-clearing: Linux `BMCR_RESET`.
pub const BMCR_RESET: u16 = 0x8000;
/// BMCR: loopback: Linux `BMCR_LOOPBACK`.
pub const BMCR_LOOPBACK: u16 = 0x4000;
/// BMCR: speed select, LSB (100 Mb/s): Linux `BMCR_SPEED100`.
pub const BMCR_SPEED100: u16 = 0x2000;
/// BMCR: autonegotiation enable: Linux `BMCR_ANENABLE`.
pub const BMCR_ANENABLE: u16 = 0x1000;
/// BMCR: power down: Linux `BMCR_PDOWN`.
pub const BMCR_PDOWN: u16 = 0x0800;
/// BMCR: electrically isolate from the MII: Linux `BMCR_ISOLATE`.
pub const BMCR_ISOLATE: u16 = 0x0400;
/// BMCR: restart autonegotiation, self-clearing: Linux `BMCR_ANRESTART`.
pub const BMCR_ANRESTART: u16 = 0x0200;
/// BMCR: full duplex (forced mode): Linux `BMCR_FULLDPLX`.
pub const BMCR_FULLDPLX: u16 = 0x0100;
/// BMCR: collision test: Linux `BMCR_CTST`.
pub const BMCR_CTST: u16 = 0x0080;
/// BMCR: speed select, MSB (1000 Mb/s): Linux `BMCR_SPEED1000`.
pub const BMCR_SPEED1000: u16 = 0x0040;
/// BMCR bits that hold a written value (QEMU `MII_BMCR_MASK` plus ISOLATE).
pub const BMCR_WRITABLE: u16 = BMCR_LOOPBACK
    | BMCR_SPEED100
    | BMCR_ANENABLE
    | BMCR_PDOWN
    | BMCR_ISOLATE
    | BMCR_FULLDPLX
    | BMCR_CTST
    | BMCR_SPEED1000;
/// BMCR after reset: autonegotiation on, 1000 Mb/s full duplex (QEMU `phy_reset`, RTL8211E 0x1140).
pub const BMCR_RESET_VALUE: u16 = BMCR_ANENABLE | BMCR_FULLDPLX | BMCR_SPEED1000;

/// BMSR: extended register capability: Linux `BMSR_ERCAP`.
pub const BMSR_ERCAP: u16 = 0x0001;
/// BMSR: link status (latched low): Linux `BMSR_LSTATUS`.
pub const BMSR_LSTATUS: u16 = 0x0004;
/// BMSR: able to autonegotiate: Linux `BMSR_ANEGCAPABLE`.
pub const BMSR_ANEGCAPABLE: u16 = 0x0008;
/// BMSR: autonegotiation complete: Linux `BMSR_ANEGCOMPLETE`.
pub const BMSR_ANEGCOMPLETE: u16 = 0x0020;
/// BMSR: management frames with preamble suppressed accepted: QEMU `MII_BMSR_MFPS`.
pub const BMSR_MFPS: u16 = 0x0040;
/// BMSR: extended status in register 15: Linux `BMSR_ESTATEN`.
pub const BMSR_ESTATEN: u16 = 0x0100;
/// BMSR: 10BASE-T half duplex capable: Linux `BMSR_10HALF`.
pub const BMSR_10HALF: u16 = 0x0800;
/// BMSR: 10BASE-T full duplex capable: Linux `BMSR_10FULL`.
pub const BMSR_10FULL: u16 = 0x1000;
/// BMSR: 100BASE-TX half duplex capable: Linux `BMSR_100HALF`.
pub const BMSR_100HALF: u16 = 0x2000;
/// BMSR: 100BASE-TX full duplex capable: Linux `BMSR_100FULL`.
pub const BMSR_100FULL: u16 = 0x4000;
/// The BMSR capability bits, always set (QEMU `phy_reset`; RTL8211E reads 0x7949 without link).
pub const BMSR_CAPABILITIES: u16 = BMSR_100FULL
    | BMSR_100HALF
    | BMSR_10FULL
    | BMSR_10HALF
    | BMSR_ESTATEN
    | BMSR_MFPS
    | BMSR_ANEGCAPABLE
    | BMSR_ERCAP;

/// ANAR/LPA: IEEE 802.3 selector field value: Linux `ADVERTISE_CSMA`.
pub const ADVERTISE_CSMA: u16 = 0x0001;
/// ANAR/LPA: 10BASE-T half duplex: Linux `ADVERTISE_10HALF`.
pub const ADVERTISE_10HALF: u16 = 0x0020;
/// ANAR/LPA: 10BASE-T full duplex: Linux `ADVERTISE_10FULL`.
pub const ADVERTISE_10FULL: u16 = 0x0040;
/// ANAR/LPA: 100BASE-TX half duplex: Linux `ADVERTISE_100HALF`.
pub const ADVERTISE_100HALF: u16 = 0x0080;
/// ANAR/LPA: 100BASE-TX full duplex: Linux `ADVERTISE_100FULL`.
pub const ADVERTISE_100FULL: u16 = 0x0100;
/// ANAR/LPA: symmetric pause: Linux `ADVERTISE_PAUSE_CAP`.
pub const ADVERTISE_PAUSE_CAP: u16 = 0x0400;
/// ANAR/LPA: asymmetric pause: Linux `ADVERTISE_PAUSE_ASYM`.
pub const ADVERTISE_PAUSE_ASYM: u16 = 0x0800;
/// ANAR/LPA: remote fault: Linux `ADVERTISE_RFAULT`.
pub const ADVERTISE_RFAULT: u16 = 0x2000;
/// LPA: link partner acknowledged our code word: Linux `LPA_LPACK`.
pub const LPA_LPACK: u16 = 0x4000;
/// ANAR bits that hold a written value (the selector stays IEEE 802.3; no 100BASE-T4, no next page).
pub const ANAR_WRITABLE: u16 = ADVERTISE_RFAULT
    | ADVERTISE_PAUSE_ASYM
    | ADVERTISE_PAUSE_CAP
    | ADVERTISE_100FULL
    | ADVERTISE_100HALF
    | ADVERTISE_10FULL
    | ADVERTISE_10HALF;
/// ANAR after reset: every 10/100 mode and both pause bits (QEMU `phy_reset`).
pub const ANAR_RESET_VALUE: u16 = ADVERTISE_PAUSE_ASYM
    | ADVERTISE_PAUSE_CAP
    | ADVERTISE_100FULL
    | ADVERTISE_100HALF
    | ADVERTISE_10FULL
    | ADVERTISE_10HALF
    | ADVERTISE_CSMA;
/// The link partner's base page once negotiated: every 10/100 mode, pause, acknowledge (QEMU's ANLPAR).
pub const LINK_PARTNER_ABILITY: u16 = LPA_LPACK
    | ADVERTISE_PAUSE_CAP
    | ADVERTISE_100FULL
    | ADVERTISE_100HALF
    | ADVERTISE_10FULL
    | ADVERTISE_10HALF
    | ADVERTISE_CSMA;

/// ANER: link partner is autonegotiation able: Linux `EXPANSION_NWAY`.
pub const EXPANSION_NWAY: u16 = 0x0001;

/// GBCR: advertise 1000BASE-T half duplex: Linux `ADVERTISE_1000HALF`.
pub const ADVERTISE_1000HALF: u16 = 0x0100;
/// GBCR: advertise 1000BASE-T full duplex: Linux `ADVERTISE_1000FULL`.
pub const ADVERTISE_1000FULL: u16 = 0x0200;
/// GBCR bits that hold a written value: test mode, master/slave config, port type, 1000 adverts.
pub const CTRL1000_WRITABLE: u16 = 0xFF00;
/// GBCR after reset: advertise 1000BASE-T full and half duplex (QEMU's MII_CTRL1000).
pub const CTRL1000_RESET_VALUE: u16 = ADVERTISE_1000FULL | ADVERTISE_1000HALF;

/// GBSR: link partner can do 1000BASE-T half duplex: Linux `LPA_1000HALF`.
pub const LPA_1000HALF: u16 = 0x0400;
/// GBSR: link partner can do 1000BASE-T full duplex: Linux `LPA_1000FULL`.
pub const LPA_1000FULL: u16 = 0x0800;
/// GBSR: remote receiver OK: Linux `LPA_1000REMRXOK`.
pub const LPA_1000REMRXOK: u16 = 0x1000;
/// GBSR: local receiver OK: Linux `LPA_1000LOCALRXOK`.
pub const LPA_1000LOCALRXOK: u16 = 0x2000;
/// GBSR once negotiated: both receivers OK, partner capable of 1000BASE-T full and half duplex.
pub const STAT1000_LINKED: u16 = LPA_1000LOCALRXOK | LPA_1000REMRXOK | LPA_1000FULL | LPA_1000HALF;

/// Extended status: 1000BASE-T half duplex capable: Linux `ESTATUS_1000_THALF`.
pub const ESTATUS_1000_THALF: u16 = 0x1000;
/// Extended status: 1000BASE-T full duplex capable: Linux `ESTATUS_1000_TFULL`.
pub const ESTATUS_1000_TFULL: u16 = 0x2000;

/// PHYSR: resolved speed field, 1000 Mb/s: u-boot `MIIM_RTL8211x_PHYSTAT_GBIT`.
pub const PHYSR_SPEED_1000: u16 = 0x8000;
/// PHYSR: resolved speed field, 100 Mb/s: u-boot `MIIM_RTL8211x_PHYSTAT_100`.
pub const PHYSR_SPEED_100: u16 = 0x4000;
/// PHYSR: resolved full duplex: u-boot `MIIM_RTL8211x_PHYSTAT_DUPLEX`.
pub const PHYSR_DUPLEX: u16 = 0x2000;
/// PHYSR: speed and duplex resolved: u-boot `MIIM_RTL8211x_PHYSTAT_SPDDONE`.
pub const PHYSR_SPDDONE: u16 = 0x0800;
/// PHYSR: real-time link status: u-boot `MIIM_RTL8211x_PHYSTAT_LINK`.
pub const PHYSR_LINK: u16 = 0x0400;

/// INER/INSR: autonegotiation completed: QEMU `PHY_INT_AUTONEG_COMPLETE`.
pub const INT_AUTONEG_COMPLETE: u16 = 1 << 11;
/// INER/INSR: link status changed: Linux `RTL8211E_INER_LINK_STATUS`, QEMU `PHY_INT_LINK_STATUS`.
pub const INT_LINK_STATUS: u16 = 1 << 10;

/// PHY identifier register 1 of the RTL8211E: QEMU `RTL8211E_PHYID1`.
pub const RTL8211E_PHYID1: u16 = 0x001C;
/// PHY identifier register 2 of the RTL8211E: QEMU `RTL8211E_PHYID2` (Linux matches 0x001cc915).
pub const RTL8211E_PHYID2: u16 = 0xC915;

/// A link speed the PHY resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkSpeed {
    /// 10 Mb/s.
    Mbps10,
    /// 100 Mb/s.
    Mbps100,
    /// 1000 Mb/s.
    Mbps1000,
}

/// The registers of the PHY and the cable: a plain value that can be saved and restored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhyState {
    /// Basic mode control register (self-clearing bits dropped).
    pub bmcr: u16,
    /// Autonegotiation advertisement register.
    pub anar: u16,
    /// 1000BASE-T control register.
    pub ctrl1000: u16,
    /// PHY specific control register (page 0, register 16).
    pub phycr: u16,
    /// Interrupt enable register.
    pub iner: u16,
    /// Interrupt status register (cleared by reading it).
    pub insr: u16,
    /// Link down power saving register.
    pub ldpsr: u16,
    /// Page select register.
    pub page: u16,
    /// Extension page select register.
    pub ext_page: u16,
    /// Registers written on pages other than 0, keyed by (page, extension page on page 7 or 0, register).
    #[serde(with = "paged_registers")]
    pub paged: BTreeMap<(u16, u16, u8), u16>,
    /// The cable is plugged in and the partner is up.
    pub cable: bool,
    /// Whether the link was up at the last evaluation (for change detection).
    pub link_was_up: bool,
    /// BMSR link status is latched low until BMSR is read.
    pub link_latched_low: bool,
}

/// [`PhyState::paged`] serialised as a list of `(page, extension page, register, value)`: a
/// snapshot's JSON maps take string keys only.
mod paged_registers {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serializer};

    /// The paged storage: value by (page, extension page, register).
    type Paged = BTreeMap<(u16, u16, u8), u16>;

    pub fn serialize<S: Serializer>(paged: &Paged, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(
            paged
                .iter()
                .map(|(&(page, ext_page, reg), &value)| (page, ext_page, reg, value)),
        )
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Paged, D::Error> {
        let entries = Vec::<(u16, u16, u8, u16)>::deserialize(deserializer)?;
        Ok(entries
            .into_iter()
            .map(|(page, ext_page, reg, value)| ((page, ext_page, reg), value))
            .collect())
    }
}

impl PhyState {
    /// The registers after a hardware reset, with the cable as given.
    pub fn new(cable: bool) -> Self {
        Self {
            bmcr: BMCR_RESET_VALUE,
            anar: ANAR_RESET_VALUE,
            ctrl1000: CTRL1000_RESET_VALUE,
            phycr: 0,
            iner: 0,
            insr: 0,
            ldpsr: 0,
            page: 0,
            ext_page: 0,
            paged: BTreeMap::new(),
            cable,
            // With the default advertisements a plugged cable always negotiates a link.
            link_was_up: cable,
            link_latched_low: false,
        }
    }
}

/// A Realtek RTL8211E gigabit PHY on an MDIO bus.
#[derive(Debug)]
pub struct Phy {
    state: PhyState,
}

impl Phy {
    /// A PHY just out of reset with the cable plugged in (`cable`) or not. With a cable the link
    /// is up and negotiated at once.
    pub fn new(cable: bool) -> Self {
        Self::from_state(&PhyState::new(cable))
    }

    /// A PHY restored from `state`.
    pub fn from_state(state: &PhyState) -> Self {
        Self {
            state: state.clone(),
        }
    }

    /// A copy of the registers.
    pub fn state(&self) -> PhyState {
        self.state.clone()
    }

    /// The PHY's state for a snapshot: its registers, paged storage, link latch and the cable
    /// the host plugged ([`PhyState`]). A PHY is not a bus device: the SoC saves each PHY
    /// itself, and the MDIO controller or MAC it sits behind does not.
    pub fn save_state(&self) -> DeviceState {
        DeviceState::new(PHY_STATE_KIND, crate::STATE_VERSION, &self.state)
    }

    /// Puts the PHY into a state [`Phy::save_state`] returned. A state of another kind or
    /// format is refused and leaves the PHY unchanged.
    pub fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        self.state = state.decode(PHY_STATE_KIND, crate::STATE_VERSION)?;
        Ok(())
    }

    /// Hardware reset (the PHY's reset pin): registers to their defaults; the cable stays as it is.
    pub fn reset(&mut self) {
        self.state = PhyState::new(self.state.cable);
    }

    /// Plugs (`true`) or unplugs the cable. A link failure latches BMSR link status low and both
    /// edges set the link-change bit in INSR.
    pub fn set_link(&mut self, up: bool) {
        self.state.cable = up;
        self.update_link();
    }

    /// Whether the link is up now: cable plugged, not powered down, and (with autonegotiation)
    /// a mode in common with the partner.
    pub fn link_up(&self) -> bool {
        self.resolved().is_some()
    }

    /// The negotiated (or forced) speed and full-duplex flag, or `None` without link.
    pub fn resolved(&self) -> Option<(LinkSpeed, bool)> {
        let s = &self.state;
        if !s.cable || s.bmcr & BMCR_PDOWN != 0 {
            return None;
        }
        if s.bmcr & BMCR_ANENABLE == 0 {
            let speed = match (s.bmcr & BMCR_SPEED1000 != 0, s.bmcr & BMCR_SPEED100 != 0) {
                (true, false) => LinkSpeed::Mbps1000,
                (false, true) => LinkSpeed::Mbps100,
                _ => LinkSpeed::Mbps10,
            };
            return Some((speed, s.bmcr & BMCR_FULLDPLX != 0));
        }
        let partner_1000 = STAT1000_LINKED >> 2;
        let common_1000 = s.ctrl1000 & partner_1000;
        let common = s.anar & LINK_PARTNER_ABILITY;
        if common_1000 & ADVERTISE_1000FULL != 0 {
            Some((LinkSpeed::Mbps1000, true))
        } else if common_1000 & ADVERTISE_1000HALF != 0 {
            Some((LinkSpeed::Mbps1000, false))
        } else if common & ADVERTISE_100FULL != 0 {
            Some((LinkSpeed::Mbps100, true))
        } else if common & ADVERTISE_100HALF != 0 {
            Some((LinkSpeed::Mbps100, false))
        } else if common & ADVERTISE_10FULL != 0 {
            Some((LinkSpeed::Mbps10, true))
        } else if common & ADVERTISE_10HALF != 0 {
            Some((LinkSpeed::Mbps10, false))
        } else {
            None
        }
    }

    /// The PHY's interrupt output (not wired on the EVB: Linux polls): INSR & INER.
    pub fn interrupt_pending(&self) -> bool {
        self.state.insr & self.state.iner != 0
    }

    fn autoneg(&self) -> bool {
        self.state.bmcr & BMCR_ANENABLE != 0
    }

    fn update_link(&mut self) {
        let up = self.link_up();
        if up != self.state.link_was_up {
            self.state.insr |= INT_LINK_STATUS;
            if up {
                if self.autoneg() {
                    self.state.insr |= INT_AUTONEG_COMPLETE;
                }
            } else {
                self.state.link_latched_low = true;
            }
            self.state.link_was_up = up;
        }
    }

    fn paged_key(&self, reg: u8) -> (u16, u16, u8) {
        let ext = if self.state.page == RTL8211E_EXT_PAGE {
            self.state.ext_page
        } else {
            0
        };
        (self.state.page, ext, reg)
    }

    fn bmsr(&mut self) -> u16 {
        let up = self.link_up();
        let mut bmsr = BMSR_CAPABILITIES;
        if up && !self.state.link_latched_low {
            bmsr |= BMSR_LSTATUS;
        }
        if up && self.autoneg() {
            bmsr |= BMSR_ANEGCOMPLETE;
        }
        self.state.link_latched_low = false;
        bmsr
    }

    fn physr(&self) -> u16 {
        match self.resolved() {
            None => 0,
            Some((speed, full)) => {
                let mut v = PHYSR_SPDDONE | PHYSR_LINK;
                v |= match speed {
                    LinkSpeed::Mbps1000 => PHYSR_SPEED_1000,
                    LinkSpeed::Mbps100 => PHYSR_SPEED_100,
                    LinkSpeed::Mbps10 => 0,
                };
                if full {
                    v |= PHYSR_DUPLEX;
                }
                v
            }
        }
    }

    /// Reads register `reg` (0..=31) as an MDIO read frame would, with its side effects
    /// (BMSR releases the link latch, INSR clears).
    pub fn read(&mut self, reg: u8) -> u16 {
        let reg = reg & 0x1f;
        match reg {
            RTL8211E_PAGSEL => return self.state.page,
            RTL8211E_EPAGSR => return self.state.ext_page,
            _ => {}
        }
        if self.state.page != 0 {
            return self
                .state
                .paged
                .get(&self.paged_key(reg))
                .copied()
                .unwrap_or(0);
        }
        let negotiated = self.link_up() && self.autoneg();
        match reg {
            MII_BMCR => self.state.bmcr,
            MII_BMSR => self.bmsr(),
            MII_PHYSID1 => RTL8211E_PHYID1,
            MII_PHYSID2 => RTL8211E_PHYID2,
            MII_ADVERTISE => self.state.anar,
            MII_LPA if negotiated => LINK_PARTNER_ABILITY,
            MII_EXPANSION if negotiated => EXPANSION_NWAY,
            MII_CTRL1000 => self.state.ctrl1000,
            MII_STAT1000 if negotiated => STAT1000_LINKED,
            MII_LPA | MII_EXPANSION | MII_STAT1000 => 0,
            MII_ESTATUS => ESTATUS_1000_TFULL | ESTATUS_1000_THALF,
            RTL8211E_PHYCR => self.state.phycr,
            RTL8211E_PHYSR => self.physr(),
            RTL8211E_INER => self.state.iner,
            RTL8211E_INSR => std::mem::take(&mut self.state.insr),
            RTL8211E_LDPSR => self.state.ldpsr,
            // Next page registers, the receive error counter, and the reserved registers.
            _ => 0,
        }
    }

    /// Writes `value` to register `reg` (0..=31) as an MDIO write frame would.
    pub fn write(&mut self, reg: u8, value: u16) {
        let reg = reg & 0x1f;
        match reg {
            // Only the selecting bits are kept, which also bounds the paged storage.
            RTL8211E_PAGSEL => {
                self.state.page = value & RTL8211E_PAGE_MASK;
                return;
            }
            RTL8211E_EPAGSR => {
                self.state.ext_page = value & RTL8211E_EXT_PAGE_MASK;
                return;
            }
            _ => {}
        }
        if self.state.page != 0 {
            let key = self.paged_key(reg);
            self.state.paged.insert(key, value);
            return;
        }
        match reg {
            MII_BMCR => {
                if value & BMCR_RESET != 0 {
                    // Soft reset: every register back to its default, done at once.
                    let cable = self.state.cable;
                    let was_up = self.state.link_was_up;
                    let latched = self.state.link_latched_low;
                    self.state = PhyState::new(cable);
                    self.state.link_was_up = was_up;
                    self.state.link_latched_low = latched;
                } else {
                    // ANRESTART: autonegotiation restarts and completes immediately.
                    self.state.bmcr = value & BMCR_WRITABLE;
                }
            }
            MII_ADVERTISE => self.state.anar = (value & ANAR_WRITABLE) | ADVERTISE_CSMA,
            MII_CTRL1000 => self.state.ctrl1000 = value & CTRL1000_WRITABLE,
            RTL8211E_PHYCR => self.state.phycr = value,
            RTL8211E_INER => self.state.iner = value,
            RTL8211E_LDPSR => self.state.ldpsr = value,
            // Read-only registers.
            _ => {}
        }
        self.update_link();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifies_as_rtl8211e() {
        let mut phy = Phy::new(true);
        let id = (u32::from(phy.read(MII_PHYSID1)) << 16) | u32::from(phy.read(MII_PHYSID2));
        assert_eq!(id, 0x001c_c915, "Linux PHY_ID_MATCH_EXACT(0x001cc915)");
    }

    #[test]
    fn reset_values() {
        let mut phy = Phy::new(true);
        assert_eq!(phy.read(MII_BMCR), 0x1140);
        assert_eq!(
            phy.read(MII_BMSR),
            0x796D,
            "RTL8211E 0x7949 plus link and AN complete"
        );
        assert_eq!(phy.read(MII_ADVERTISE), 0x0DE1);
        assert_eq!(phy.read(MII_CTRL1000), 0x0300);
        assert_eq!(phy.read(MII_ESTATUS), 0x3000);
        assert_eq!(phy.read(RTL8211E_PAGSEL), 0);
    }

    #[test]
    fn negotiates_gigabit_full_duplex_with_default_adverts() {
        let mut phy = Phy::new(true);
        assert_eq!(phy.resolved(), Some((LinkSpeed::Mbps1000, true)));
        assert_eq!(phy.read(MII_LPA), LINK_PARTNER_ABILITY);
        assert_eq!(phy.read(MII_STAT1000) & LPA_1000FULL, LPA_1000FULL);
        assert_eq!(
            phy.read(MII_STAT1000) & 0x8000,
            0,
            "no master/slave failure"
        );
        assert_eq!(phy.read(MII_EXPANSION), EXPANSION_NWAY);
        assert_eq!(
            phy.read(RTL8211E_PHYSR),
            PHYSR_SPEED_1000 | PHYSR_DUPLEX | PHYSR_SPDDONE | PHYSR_LINK
        );
    }

    #[test]
    fn advertising_only_100_resolves_to_100_full() {
        let mut phy = Phy::new(true);
        phy.write(MII_CTRL1000, 0);
        phy.write(
            MII_ADVERTISE,
            ADVERTISE_100FULL | ADVERTISE_10FULL | ADVERTISE_CSMA,
        );
        phy.write(MII_BMCR, BMCR_ANENABLE | BMCR_ANRESTART);
        assert_eq!(phy.read(MII_BMCR), BMCR_ANENABLE, "ANRESTART self-clears");
        assert_eq!(phy.resolved(), Some((LinkSpeed::Mbps100, true)));
        assert_eq!(
            phy.read(RTL8211E_PHYSR),
            PHYSR_SPEED_100 | PHYSR_DUPLEX | PHYSR_SPDDONE | PHYSR_LINK
        );
        assert_ne!(phy.read(MII_BMSR) & BMSR_LSTATUS, 0);
    }

    #[test]
    fn no_common_mode_means_no_link() {
        let mut phy = Phy::new(true);
        phy.write(MII_CTRL1000, 0);
        phy.write(MII_ADVERTISE, ADVERTISE_CSMA);
        assert!(!phy.link_up());
        let bmsr = phy.read(MII_BMSR);
        assert_eq!(bmsr & (BMSR_LSTATUS | BMSR_ANEGCOMPLETE), 0);
    }

    #[test]
    fn forced_mode_follows_bmcr() {
        let mut phy = Phy::new(true);
        phy.write(MII_BMCR, BMCR_SPEED100);
        assert_eq!(phy.resolved(), Some((LinkSpeed::Mbps100, false)));
        let bmsr = phy.read(MII_BMSR);
        assert_eq!(bmsr & BMSR_ANEGCOMPLETE, 0, "no autonegotiation");
        assert_eq!(phy.read(MII_LPA), 0);
    }

    #[test]
    fn soft_reset_self_clears_and_restores_defaults() {
        let mut phy = Phy::new(true);
        phy.write(MII_ADVERTISE, ADVERTISE_10HALF | ADVERTISE_CSMA);
        phy.write(RTL8211E_INER, 0x0400);
        phy.write(MII_BMCR, BMCR_RESET | BMCR_LOOPBACK);
        assert_eq!(phy.read(MII_BMCR) & BMCR_RESET, 0, "reset bit self-clears");
        assert_eq!(phy.read(MII_BMCR), BMCR_RESET_VALUE);
        assert_eq!(phy.read(MII_ADVERTISE), ANAR_RESET_VALUE);
        assert_eq!(phy.read(RTL8211E_INER), 0);
        assert!(phy.link_up());
    }

    #[test]
    fn link_status_latches_low_until_bmsr_is_read() {
        let mut phy = Phy::new(true);
        assert_ne!(phy.read(MII_BMSR) & BMSR_LSTATUS, 0);
        phy.set_link(false);
        phy.set_link(true);
        assert!(phy.link_up());
        let first = phy.read(MII_BMSR);
        assert_eq!(first & BMSR_LSTATUS, 0, "the failure is latched");
        let second = phy.read(MII_BMSR);
        assert_ne!(second & BMSR_LSTATUS, 0, "reading released the latch");
        assert_ne!(second & BMSR_ANEGCOMPLETE, 0);
    }

    #[test]
    fn unplugged_cable_reads_link_down() {
        let mut phy = Phy::new(false);
        let bmsr = phy.read(MII_BMSR);
        assert_eq!(bmsr, BMSR_CAPABILITIES, "no link, no AN complete");
        assert_eq!(phy.read(MII_LPA), 0);
        assert_eq!(phy.read(MII_STAT1000), 0);
        assert_eq!(phy.read(RTL8211E_PHYSR), 0);
        phy.set_link(true);
        assert_ne!(
            phy.read(MII_BMSR) & BMSR_LSTATUS,
            0,
            "never up before: no latch"
        );
    }

    #[test]
    fn power_down_drops_the_link() {
        let mut phy = Phy::new(true);
        phy.read(MII_BMSR);
        phy.write(MII_BMCR, BMCR_RESET_VALUE | BMCR_PDOWN);
        assert!(!phy.link_up());
        assert_eq!(phy.read(MII_BMSR) & BMSR_LSTATUS, 0);
        phy.write(MII_BMCR, BMCR_RESET_VALUE);
        phy.read(MII_BMSR);
        assert_ne!(phy.read(MII_BMSR) & BMSR_LSTATUS, 0);
    }

    #[test]
    fn link_changes_set_insr_which_clears_on_read() {
        let mut phy = Phy::new(true);
        phy.write(RTL8211E_INER, INT_LINK_STATUS);
        assert!(!phy.interrupt_pending());
        phy.set_link(false);
        assert!(phy.interrupt_pending());
        assert_eq!(phy.read(RTL8211E_INSR), INT_LINK_STATUS);
        assert_eq!(phy.read(RTL8211E_INSR), 0);
        phy.set_link(true);
        assert_eq!(
            phy.read(RTL8211E_INSR),
            INT_LINK_STATUS | INT_AUTONEG_COMPLETE
        );
    }

    #[test]
    fn pages_isolate_vendor_registers() {
        let mut phy = Phy::new(true);
        // Linux rtl8211e_config_init: page 7, extension page 0xa4, modify register 0x1c.
        assert_eq!(phy.read(RTL8211E_PAGSEL), 0);
        phy.write(RTL8211E_PAGSEL, 7);
        phy.write(RTL8211E_EPAGSR, 0xa4);
        assert_eq!(phy.read(0x1c), 0);
        phy.write(0x1c, 0x1800);
        assert_eq!(phy.read(0x1c), 0x1800);
        phy.write(RTL8211E_EPAGSR, 0xa0);
        assert_eq!(phy.read(0x1c), 0, "another extension page");
        phy.write(RTL8211E_PAGSEL, 5);
        phy.write(MII_ADVERTISE, 0x052b); // EEE LED magic on page 5
        phy.write(RTL8211E_PAGSEL, 0);
        assert_eq!(
            phy.read(MII_ADVERTISE),
            ANAR_RESET_VALUE,
            "page 0 untouched"
        );
        assert_eq!(phy.read(0x1c), 0);
        phy.write(RTL8211E_PAGSEL, 7);
        phy.write(RTL8211E_EPAGSR, 0xa4);
        assert_eq!(phy.read(0x1c), 0x1800, "kept");
    }

    #[test]
    fn a_hostile_guest_cannot_grow_the_paged_storage_without_bound() {
        let mut phy = Phy::new(true);
        for page in 0..=u16::MAX {
            phy.write(RTL8211E_PAGSEL, page);
            phy.write(RTL8211E_EPAGSR, page);
            phy.write(0x10, page);
            phy.write(0x1c, page);
        }
        // Pages 1..=7 (page 0 is the IEEE registers), 256 extension pages on page 7.
        assert!(
            phy.state.paged.len() <= 6 * 2 + 256 * 2,
            "{}",
            phy.state.paged.len()
        );
        phy.write(RTL8211E_PAGSEL, 0x0f);
        assert_eq!(phy.read(RTL8211E_PAGSEL), 7, "only the page bits are kept");
    }

    #[test]
    fn read_only_registers_ignore_writes() {
        let mut phy = Phy::new(true);
        phy.write(MII_PHYSID1, 0x1234);
        phy.write(MII_BMSR, 0);
        phy.write(MII_LPA, 0);
        assert_eq!(phy.read(MII_PHYSID1), RTL8211E_PHYID1);
        assert_ne!(phy.read(MII_BMSR) & BMSR_LSTATUS, 0);
        assert_eq!(phy.read(MII_LPA), LINK_PARTNER_ABILITY);
    }

    #[test]
    fn state_round_trips() {
        let mut phy = Phy::new(true);
        phy.write(MII_ADVERTISE, ADVERTISE_100FULL);
        phy.set_link(false);
        let s = phy.state();
        let mut q = Phy::from_state(&s);
        assert_eq!(q.state(), s);
        q.set_link(true);
        assert_eq!(
            q.read(MII_BMSR) & BMSR_LSTATUS,
            0,
            "latch survived the restore"
        );
        q.reset();
        assert_eq!(q.state(), PhyState::new(true));
    }

    #[test]
    fn a_restored_phy_reads_alike_and_keeps_its_link_latch() {
        let mut phy = Phy::new(true);
        phy.write(MII_ADVERTISE, ADVERTISE_100FULL | ADVERTISE_PAUSE_CAP);
        phy.write(MII_CTRL1000, 0);
        phy.write(RTL8211E_INER, INT_LINK_STATUS | INT_AUTONEG_COMPLETE);
        phy.write(RTL8211E_PAGSEL, RTL8211E_EXT_PAGE);
        phy.write(RTL8211E_EPAGSR, 0xA4);
        phy.write(0x1c, 0x1234);
        phy.write(RTL8211E_PAGSEL, 5);
        phy.write(0x10, 0xBEEF);
        phy.write(RTL8211E_PAGSEL, 0);
        phy.set_link(false); // latches BMSR link status low, sets INSR
        phy.set_link(true);
        assert!(phy.interrupt_pending());
        let saved = phy.save_state();
        assert_eq!(
            (saved.kind.as_str(), saved.version),
            (PHY_STATE_KIND, crate::STATE_VERSION)
        );
        let mut copy = Phy::new(false);
        copy.load_state(&saved).unwrap();
        assert_eq!(copy.state(), phy.state());
        assert_eq!(copy.save_state(), saved);
        assert_eq!(copy.resolved(), Some((LinkSpeed::Mbps100, true)));
        // Every register, read twice in the same order (BMSR's latch and INSR clear on read),
        // then the paged ones.
        for _ in 0..2 {
            for reg in 0..32 {
                assert_eq!(copy.read(reg), phy.read(reg), "register {reg:#x}");
            }
        }
        for (page, ext) in [(5, 0), (RTL8211E_EXT_PAGE, 0xA4)] {
            for p in [&mut phy, &mut copy] {
                p.write(RTL8211E_PAGSEL, page);
                p.write(RTL8211E_EPAGSR, ext);
            }
            for reg in 0x10..0x1e {
                assert_eq!(
                    copy.read(reg),
                    phy.read(reg),
                    "page {page} register {reg:#x}"
                );
            }
        }
        assert_eq!(copy.read(0x1c), 0x1234);
        // Unplugging both reports the same change.
        phy.set_link(false);
        copy.set_link(false);
        assert_eq!(copy.state(), phy.state());
    }

    #[test]
    fn a_phy_refuses_a_state_of_another_kind_or_version() {
        let mut phy = Phy::new(true);
        phy.write(MII_ADVERTISE, ADVERTISE_10HALF);
        let saved = phy.save_state();
        let mut other = Phy::new(false);
        other.write(RTL8211E_PHYCR, 0x55);
        let before = other.state();
        let wrong_kind = DeviceState {
            kind: "aspeed-mdio".into(),
            ..saved.clone()
        };
        let wrong_version = DeviceState {
            version: crate::STATE_VERSION + 1,
            ..saved.clone()
        };
        for bad in [&wrong_kind, &wrong_version] {
            assert!(other.load_state(bad).is_err());
        }
        assert_eq!(other.state(), before, "left unchanged");
    }
}
