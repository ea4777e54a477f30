//! The AST2600 MDIO controller (one 8-byte block per MDIO bus), as Linux's `mdio-aspeed` and
//! u-boot's `aspeed_mdio` drive it, and the PHYs on its bus ([`Phy`], a Realtek RTL8211E).
//!
//! A write to CTRL with FIRE set performs the whole clause-22 frame at once against the PHY at
//! PHYAD (a read of an address with no PHY returns 0xFFFF, the value of an undriven, pulled-up
//! MDIO line) and clears FIRE; DATA always reports IDLE. Linux polls CTRL for FIRE to clear and
//! then DATA for IDLE; u-boot polls only DATA for IDLE on reads: both see the result on their
//! first poll.
//!
//! Clause-45 frames (ST = 0) find no device (the RTL8211E is clause 22 only): reads return
//! 0xFFFF, writes are dropped, and the first one is logged.
#![deny(missing_docs)]

mod phy;

use std::cell::RefCell;
use std::rc::Rc;

use bus::{merge_subword, subword, Device, DeviceState, StateError, UnimplementedLog};
use serde::{Deserialize, Serialize};

pub use phy::*;

/// The kind of an MDIO controller's saved state ([`DeviceState::kind`]): [`AspeedMdioState`].
pub const MDIO_STATE_KIND: &str = "aspeed-mdio";
/// The format version of the states of [`MDIO_STATE_KIND`] and [`PHY_STATE_KIND`] as this
/// build serialises them.
pub const STATE_VERSION: u32 = 1;

/// Offset of the command register: Linux `ASPEED_MDIO_CTRL`.
pub const REG_CTRL: u64 = 0x0;
/// Offset of the data/status register: Linux `ASPEED_MDIO_DATA`.
pub const REG_DATA: u64 = 0x4;

/// CTRL: start the frame; reads 1 while busy: Linux `ASPEED_MDIO_CTRL_FIRE`.
pub const CTRL_FIRE: u32 = 1 << 31;
/// CTRL: start-of-frame code, 1 = clause 22, 0 = clause 45: Linux `ASPEED_MDIO_CTRL_ST`.
pub const CTRL_ST: u32 = 1 << 28;
/// CTRL: opcode field shift (bits 27:26): Linux `ASPEED_MDIO_CTRL_OP`.
pub const CTRL_OP_SHIFT: u32 = 26;
/// CTRL: opcode field mask (bits 27:26): Linux `ASPEED_MDIO_CTRL_OP`.
pub const CTRL_OP_MASK: u32 = 0x3 << CTRL_OP_SHIFT;
/// Clause-22 write opcode: Linux `MDIO_C22_OP_WRITE`.
pub const OP_C22_WRITE: u32 = 0b01;
/// Clause-22 read opcode: Linux `MDIO_C22_OP_READ`.
pub const OP_C22_READ: u32 = 0b10;
/// CTRL: PHY address field shift (bits 25:21): Linux `ASPEED_MDIO_CTRL_PHYAD`.
pub const CTRL_PHYAD_SHIFT: u32 = 21;
/// CTRL: register address field shift (bits 20:16): Linux `ASPEED_MDIO_CTRL_REGAD`.
pub const CTRL_REGAD_SHIFT: u32 = 16;
/// CTRL: data to write (bits 15:0): Linux `ASPEED_MDIO_CTRL_MIIWDATA`.
pub const CTRL_MIIWDATA_MASK: u32 = 0xFFFF;

/// DATA: MDC period threshold (bits 31:24): Linux `ASPEED_MDIO_DATA_MDC_THRES`.
pub const DATA_MDC_THRES_MASK: u32 = 0xFF << 24;
/// DATA: MDIO sampling edge: Linux `ASPEED_MDIO_DATA_MDIO_EDGE`.
pub const DATA_MDIO_EDGE: u32 = 1 << 23;
/// DATA: MDIO latch delay (bits 22:20): Linux `ASPEED_MDIO_DATA_MDIO_LATCH`.
pub const DATA_MDIO_LATCH_MASK: u32 = 0x7 << 20;
/// DATA: the controller is idle and MIIRDATA is valid: Linux `ASPEED_MDIO_DATA_IDLE`.
pub const DATA_IDLE: u32 = 1 << 16;
/// DATA: data read by the last read frame (bits 15:0): Linux `ASPEED_MDIO_DATA_MIIRDATA`.
pub const DATA_MIIRDATA_MASK: u32 = 0xFFFF;
/// DATA bits that hold a written value (the timing configuration).
pub const DATA_WRITABLE: u32 = DATA_MDC_THRES_MASK | DATA_MDIO_EDGE | DATA_MDIO_LATCH_MASK;

/// What a read frame returns when no PHY answers at the address (MDIO is pulled up).
pub const ABSENT_PHY_DATA: u16 = 0xFFFF;
/// Number of PHY addresses on an MDIO bus.
pub const PHY_ADDRESSES: usize = 32;

/// The registers of the MDIO controller: a plain value that can be saved and restored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AspeedMdioState {
    /// CTRL as last written, with FIRE cleared (the frame has completed).
    pub ctrl: u32,
    /// DATA timing configuration bits (31:20) as last written.
    pub data_config: u32,
    /// Data returned by the last read frame.
    pub read_data: u16,
}

/// One AST2600 MDIO bus controller with the PHYs attached to it.
pub struct AspeedMdio {
    state: AspeedMdioState,
    phys: [Option<Rc<RefCell<Phy>>>; PHY_ADDRESSES],
    unimplemented: UnimplementedLog,
    clause45_logged: bool,
}

impl Default for AspeedMdio {
    fn default() -> Self {
        Self::new()
    }
}

impl AspeedMdio {
    /// A controller in its reset state with no PHY on its bus.
    pub fn new() -> Self {
        Self::from_state(&AspeedMdioState::default())
    }

    /// A controller restored from `state`, with no PHY on its bus.
    pub fn from_state(state: &AspeedMdioState) -> Self {
        Self {
            state: state.clone(),
            phys: Default::default(),
            unimplemented: UnimplementedLog::new("mdio"),
            clause45_logged: false,
        }
    }

    /// A copy of the registers.
    pub fn state(&self) -> AspeedMdioState {
        self.state.clone()
    }

    /// Puts `phy` on the bus at address `addr` (0..=31; other values are ignored with a warning),
    /// replacing whatever was there. The PHY is shared: the SoC keeps a handle to drive its link.
    pub fn attach_phy(&mut self, addr: u8, phy: Rc<RefCell<Phy>>) {
        match self.phys.get_mut(usize::from(addr)) {
            Some(slot) => *slot = Some(phy),
            None => log::warn!("mdio: no PHY address {addr} on an MDIO bus"),
        }
    }

    /// The PHY at address `addr`, if any.
    pub fn phy(&self, addr: u8) -> Option<Rc<RefCell<Phy>>> {
        self.phys.get(usize::from(addr)).cloned().flatten()
    }

    fn data(&self) -> u32 {
        self.state.data_config | DATA_IDLE | u32::from(self.state.read_data)
    }

    /// Runs the frame described by `ctrl` (FIRE set).
    fn fire(&mut self, ctrl: u32) {
        let op = (ctrl & CTRL_OP_MASK) >> CTRL_OP_SHIFT;
        let addr = ((ctrl >> CTRL_PHYAD_SHIFT) & 0x1f) as u8;
        let reg = ((ctrl >> CTRL_REGAD_SHIFT) & 0x1f) as u8;
        if ctrl & CTRL_ST == 0 {
            if !self.clause45_logged {
                self.clause45_logged = true;
                log::warn!("mdio: clause-45 frame (op {op}, port {addr}, device {reg}): no clause-45 device on the bus");
            }
            self.state.read_data = ABSENT_PHY_DATA;
            return;
        }
        let phy = self.phy(addr);
        match op {
            OP_C22_READ => {
                self.state.read_data = match phy {
                    Some(phy) => phy.borrow_mut().read(reg),
                    None => ABSENT_PHY_DATA,
                };
            }
            OP_C22_WRITE => {
                if let Some(phy) = phy {
                    phy.borrow_mut()
                        .write(reg, (ctrl & CTRL_MIIWDATA_MASK) as u16);
                }
            }
            _ => log::warn!("mdio: invalid clause-22 opcode {op} in CTRL {ctrl:#010x}"),
        }
    }

    fn write_ctrl(&mut self, value: u32) {
        if value & CTRL_FIRE != 0 {
            self.fire(value);
        }
        self.state.ctrl = value & !CTRL_FIRE;
    }

    fn read32(&mut self, offset: u64, size: u8) -> u64 {
        match offset & !3 {
            REG_CTRL => subword(self.state.ctrl, offset, size),
            REG_DATA => subword(self.data(), offset, size),
            _ => {
                self.unimplemented.read(offset, size);
                0
            }
        }
    }

    fn write32(&mut self, offset: u64, size: u8, value: u64) {
        match offset & !3 {
            REG_CTRL => {
                let v = merge_subword(self.state.ctrl, offset, size, value);
                // A byte or half-word write fires only if it covers bit 31 with it set.
                let fire_lane = (offset & 3) + u64::from(size.min(4)) >= 4;
                self.write_ctrl(if fire_lane { v } else { v & !CTRL_FIRE });
            }
            REG_DATA => {
                let v = merge_subword(self.data(), offset, size, value);
                self.state.data_config = v & DATA_WRITABLE;
            }
            _ => self.unimplemented.write(offset, size, value),
        }
    }
}

impl Device for AspeedMdio {
    fn read(&mut self, offset: u64, size: u8) -> u64 {
        bus::split_read(offset, size, |o, s| self.read32(o, s))
    }

    fn write(&mut self, offset: u64, size: u8, value: u64) {
        bus::split_write(offset, size, value, |o, s, v| self.write32(o, s, v));
    }

    fn reset(&mut self) {
        self.state = AspeedMdioState::default();
    }

    /// The registers ([`AspeedMdioState`]); frames complete at once, so none is in progress.
    /// The PHYs on the bus are not saved here: the SoC saves each [`Phy`] itself.
    fn save_state(&self) -> Option<DeviceState> {
        Some(DeviceState::new(
            MDIO_STATE_KIND,
            STATE_VERSION,
            &self.state,
        ))
    }

    /// Restores the registers; the attached PHYs stay attached and untouched.
    fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        self.state = state.decode(MDIO_STATE_KIND, STATE_VERSION)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c22(op: u32, addr: u32, reg: u32, data: u32) -> u64 {
        u64::from(
            CTRL_FIRE
                | CTRL_ST
                | (op << CTRL_OP_SHIFT)
                | (addr << CTRL_PHYAD_SHIFT)
                | (reg << CTRL_REGAD_SHIFT)
                | data,
        )
    }

    /// `aspeed_mdio_read` from Linux: fire, poll CTRL until FIRE clears, poll DATA for IDLE.
    fn linux_read(m: &mut AspeedMdio, addr: u32, reg: u32) -> u16 {
        m.write(REG_CTRL, 4, c22(OP_C22_READ, addr, reg, 0));
        let mut polls = 0;
        while m.read(REG_CTRL, 4) & u64::from(CTRL_FIRE) != 0 {
            polls += 1;
            assert!(polls < 10, "FIRE never cleared");
        }
        let data = m.read(REG_DATA, 4);
        assert_ne!(data & u64::from(DATA_IDLE), 0, "IDLE on the first poll");
        (data & 0xFFFF) as u16
    }

    /// `aspeed_mdio_write` from Linux: fire with the data, poll CTRL until FIRE clears.
    fn linux_write(m: &mut AspeedMdio, addr: u32, reg: u32, value: u16) {
        m.write(REG_CTRL, 4, c22(OP_C22_WRITE, addr, reg, u32::from(value)));
        assert_eq!(m.read(REG_CTRL, 4) & u64::from(CTRL_FIRE), 0);
    }

    fn bus_with_phy() -> (AspeedMdio, Rc<RefCell<Phy>>) {
        let mut m = AspeedMdio::new();
        let phy = Rc::new(RefCell::new(Phy::new(true)));
        m.attach_phy(0, phy.clone());
        (m, phy)
    }

    #[test]
    fn reset_values() {
        let mut m = AspeedMdio::new();
        assert_eq!(m.read(REG_CTRL, 4), 0);
        assert_eq!(m.read(REG_DATA, 4), u64::from(DATA_IDLE), "idle, no data");
    }

    #[test]
    fn linux_reads_the_phy_id() {
        let (mut m, _) = bus_with_phy();
        assert_eq!(linux_read(&mut m, 0, 2), 0x001C);
        assert_eq!(linux_read(&mut m, 0, 3), 0xC915);
        assert_eq!(
            m.read(REG_CTRL, 4),
            u64::from(CTRL_ST | (OP_C22_READ << CTRL_OP_SHIFT) | (3 << CTRL_REGAD_SHIFT)),
            "CTRL keeps the frame with FIRE cleared"
        );
    }

    #[test]
    fn uboot_read_polls_only_idle() {
        let (mut m, _) = bus_with_phy();
        m.write(REG_CTRL, 4, c22(OP_C22_READ, 0, 1, 0));
        let data = m.read(REG_DATA, 4);
        assert_ne!(data & u64::from(DATA_IDLE), 0);
        assert_eq!(data & 0xFFFF, 0x796D, "BMSR with link");
    }

    #[test]
    fn absent_phy_reads_all_ones() {
        let (mut m, _) = bus_with_phy();
        for addr in 1..32 {
            assert_eq!(linux_read(&mut m, addr, 2), 0xFFFF, "address {addr}");
        }
        // A write to an absent PHY completes and changes nothing.
        linux_write(&mut m, 5, 0, 0x8000);
        assert_eq!(linux_read(&mut m, 0, 0), BMCR_RESET_VALUE);
    }

    #[test]
    fn writes_reach_the_phy() {
        let (mut m, phy) = bus_with_phy();
        linux_write(&mut m, 0, u32::from(MII_ADVERTISE), 0x01E1);
        assert_eq!(phy.borrow_mut().read(MII_ADVERTISE), 0x01E1);
        assert_eq!(linux_read(&mut m, 0, u32::from(MII_ADVERTISE)), 0x01E1);
        // Soft reset through MDIO: genphy_soft_reset polls BMCR until RESET clears.
        linux_write(&mut m, 0, u32::from(MII_BMCR), BMCR_RESET | BMCR_ANENABLE);
        assert_eq!(linux_read(&mut m, 0, u32::from(MII_BMCR)) & BMCR_RESET, 0);
        assert_eq!(
            linux_read(&mut m, 0, u32::from(MII_ADVERTISE)),
            ANAR_RESET_VALUE
        );
    }

    #[test]
    fn link_changes_are_seen_through_the_bus() {
        let (mut m, phy) = bus_with_phy();
        phy.borrow_mut().set_link(false);
        let bmsr = linux_read(&mut m, 0, u32::from(MII_BMSR));
        assert_eq!(bmsr & (BMSR_LSTATUS | BMSR_ANEGCOMPLETE), 0);
        phy.borrow_mut().set_link(true);
        let bmsr = linux_read(&mut m, 0, u32::from(MII_BMSR));
        assert_eq!(bmsr & BMSR_LSTATUS, BMSR_LSTATUS);
    }

    #[test]
    fn a_write_frame_keeps_the_last_read_data() {
        let (mut m, _) = bus_with_phy();
        linux_read(&mut m, 0, 3);
        linux_write(&mut m, 0, u32::from(RTL8211E_INER), 0);
        assert_eq!(m.read(REG_DATA, 4) & 0xFFFF, 0xC915);
    }

    #[test]
    fn data_timing_bits_are_writable_and_the_rest_read_only() {
        let mut m = AspeedMdio::new();
        m.write(REG_DATA, 4, 0xFFFF_FFFF);
        assert_eq!(
            m.read(REG_DATA, 4),
            u64::from(DATA_WRITABLE | DATA_IDLE),
            "MIIRDATA and IDLE are not writable"
        );
        m.write(REG_DATA + 3, 1, 0x12);
        assert_eq!(m.read(REG_DATA + 3, 1), 0x12);
    }

    #[test]
    fn ctrl_without_fire_does_nothing() {
        let (mut m, phy) = bus_with_phy();
        let frame = c22(OP_C22_WRITE, 0, u32::from(MII_ADVERTISE), 0x0021) & !u64::from(CTRL_FIRE);
        m.write(REG_CTRL, 4, frame);
        assert_eq!(m.read(REG_CTRL, 4), frame);
        assert_eq!(phy.borrow_mut().read(MII_ADVERTISE), ANAR_RESET_VALUE);
        // A byte write to the low lanes never fires, even with FIRE already in CTRL's image.
        m.write(REG_CTRL, 2, 0x0021);
        assert_eq!(phy.borrow_mut().read(MII_ADVERTISE), ANAR_RESET_VALUE);
        // Writing the top byte with FIRE set fires the assembled frame.
        m.write(
            REG_CTRL + 3,
            1,
            u64::from((CTRL_FIRE | CTRL_ST | (OP_C22_WRITE << CTRL_OP_SHIFT)) >> 24),
        );
        assert_eq!(phy.borrow_mut().read(MII_ADVERTISE), 0x0021);
    }

    #[test]
    fn clause45_and_bad_opcodes_complete_without_effect() {
        let (mut m, phy) = bus_with_phy();
        m.write(
            REG_CTRL,
            4,
            u64::from(CTRL_FIRE | (0b11 << CTRL_OP_SHIFT) | (1 << CTRL_REGAD_SHIFT)),
        );
        assert_eq!(m.read(REG_CTRL, 4) & u64::from(CTRL_FIRE), 0);
        assert_eq!(m.read(REG_DATA, 4) & 0xFFFF, 0xFFFF, "no clause-45 device");
        m.write(REG_CTRL, 4, c22(0b11, 0, u32::from(MII_BMCR), 0x8000));
        m.write(REG_CTRL, 4, c22(0b00, 0, u32::from(MII_BMCR), 0x0800));
        assert_eq!(phy.borrow_mut().read(MII_BMCR), BMCR_RESET_VALUE);
    }

    #[test]
    fn unknown_offsets_read_zero_and_every_width_is_accepted() {
        let (mut m, _) = bus_with_phy();
        assert_eq!(m.read(0x8, 4), 0);
        m.write(0xC, 4, 1);
        assert_eq!(m.unimplemented.reported(), 2);
        for offset in (0..0x20u64).chain([u64::MAX - 3, u64::MAX]) {
            for size in [1u8, 2, 4, 8] {
                m.read(offset, size);
                m.write(offset, size, 0);
            }
        }
        m.write(0, 8, u64::MAX);
        assert_eq!(m.read(0, 8) >> 32, u64::from(DATA_WRITABLE | DATA_IDLE));
    }

    #[test]
    fn attach_phy_ignores_bad_addresses() {
        let mut m = AspeedMdio::new();
        m.attach_phy(32, Rc::new(RefCell::new(Phy::new(true))));
        assert!(m.phy(32).is_none());
        m.attach_phy(31, Rc::new(RefCell::new(Phy::new(true))));
        assert_eq!(linux_read(&mut m, 31, 2), RTL8211E_PHYID1);
    }

    #[test]
    fn reset_and_state_round_trip() {
        let (mut m, _) = bus_with_phy();
        m.write(REG_DATA, 4, 0x3400_0000);
        linux_read(&mut m, 0, 2);
        let s = m.state();
        let mut n = AspeedMdio::from_state(&s);
        assert_eq!(n.state(), s);
        assert_eq!(n.read(REG_DATA, 4), 0x3401_001C);
        m.reset();
        assert_eq!(m.state(), AspeedMdioState::default());
        assert!(m.phy(0).is_some(), "reset keeps the wiring");
    }

    #[test]
    fn a_restored_controller_reads_alike_and_runs_frames_on_its_phys() {
        let (mut m, phy) = bus_with_phy();
        m.write(REG_DATA, 4, 0x3400_0000);
        linux_read(&mut m, 0, 3); // MIIRDATA holds PHYSID2
        m.write(
            REG_CTRL,
            4,
            c22(OP_C22_READ, 5, 1, 0) & !u64::from(CTRL_FIRE),
        );
        let saved = m.save_state().expect("an MDIO controller saves its state");
        assert_eq!(
            (saved.kind.as_str(), saved.version),
            (MDIO_STATE_KIND, STATE_VERSION)
        );
        let (mut n, other) = bus_with_phy();
        n.load_state(&saved).unwrap();
        for reg in [REG_CTRL, REG_DATA] {
            assert_eq!(n.read(reg, 4), m.read(reg, 4), "{reg:#x}");
        }
        assert_eq!(n.read(REG_DATA, 4), 0x3401_C915);
        assert_eq!(n.save_state(), Some(saved.clone()));
        assert!(
            n.phy(0).is_some_and(|p| Rc::ptr_eq(&p, &other)),
            "wiring kept"
        );
        // A frame on each reaches its own PHY and leaves the same registers.
        phy.borrow_mut().set_link(false);
        other.borrow_mut().set_link(false);
        assert_eq!(linux_read(&mut n, 0, 1), linux_read(&mut m, 0, 1));
        for reg in [REG_CTRL, REG_DATA] {
            assert_eq!(n.read(reg, 4), m.read(reg, 4), "{reg:#x}");
        }
        // Another kind or version is refused and leaves the controller unchanged.
        let mut fresh = AspeedMdio::new();
        let wrong_kind = DeviceState {
            kind: PHY_STATE_KIND.into(),
            ..saved.clone()
        };
        let wrong_version = DeviceState {
            version: STATE_VERSION + 1,
            ..saved
        };
        for bad in [&wrong_kind, &wrong_version] {
            assert!(fresh.load_state(bad).is_err());
        }
        assert_eq!(fresh.state(), AspeedMdioState::default());
    }
}
