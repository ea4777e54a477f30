//! I2C buses, the targets (slave devices) on them, and the AST2600 (and AST2500) I2C controller.
//!
//! - [`I2cTarget`] is what a device on an I2C bus implements: it sees START conditions addressed
//!   to it, bytes written by the controller, bytes the controller reads, and STOP. An EEPROM or a
//!   temperature sensor is one small crate implementing this trait.
//! - [`I2cBus`] holds targets by 7-bit address and routes a controller's transfers to them.
//! - [`AspeedI2cBus`] is one bus controller of the AST2600 (a [`bus::Device`] over its 0x80-byte
//!   register block, with an interrupt line) in the register layout Linux 6.1's `i2c-aspeed`
//!   and u-boot's `ast_i2c` drive ("old" register mode). [`AspeedI2cGlobal`] is the controller's
//!   global register block (which bus interrupted) and [`AspeedI2cPool`] its buffer pool SRAM.
//!
//! Transfer modes modelled (master side): byte mode (one byte through `BYTE_BUF`), buffer
//! (pool) mode (up to 32 bytes through the bus's buffer in the pool, once
//! [`AspeedI2cBus::connect_pool`] gave it one) and DMA mode (up to 4 KiB to or from guest
//! memory, once [`AspeedI2cBus::connect_dram`] gave it some); `src/aspeed.rs` describes each.
//! Slave mode and the AST2600's new register mode are not modelled.
//!
//! The AST2500's controller is the same devices built for [`Variant::Ast2500`] (`with_variant`
//! on each): 14 buses of 0x40 bytes around a 256-byte pool, one interrupt line shared by all
//! buses and demultiplexed through the global status register, and buffer/DMA modes gated by
//! the global SRAM enable. [`Variant`] gives each generation's layout; the free constants are
//! the AST2600's.
//!
//! Transfers complete the moment the guest writes the command register: there is no bus timing.
#![deny(missing_docs)]

mod aspeed;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

pub use aspeed::*;
pub use bus::{DeviceState, StateError};

/// A device on an I2C bus, seen from the bus: the controller is the master, this is a target.
///
/// The bus calls [`I2cTarget::start_at`] when a START (or repeated START) carries one of the
/// target's addresses, then [`I2cTarget::write`] or [`I2cTarget::read`] once per data byte, and
/// [`I2cTarget::stop`] at the STOP condition that ends the transaction.
pub trait I2cTarget {
    /// A START or repeated START addressed this target, for reading (`read`, R/W bit 1) or
    /// writing. Returns true to acknowledge the address byte, false to NAK it.
    fn start(&mut self, read: bool) -> bool;

    /// The controller wrote `byte` to this target. Returns true to acknowledge it, false to NAK.
    fn write(&mut self, byte: u8) -> bool;

    /// The controller reads one byte from this target.
    fn read(&mut self) -> u8;

    /// A STOP condition ended the transaction.
    fn stop(&mut self);

    /// Like [`I2cTarget::start`], also telling which 7-bit `address` the START carried: for
    /// targets that answer on several addresses (a 24C08 EEPROM takes two bits of its memory
    /// address from the device address). The bus always calls this one; the default ignores
    /// the address.
    fn start_at(&mut self, address: u8, read: bool) -> bool {
        let _ = address;
        self.start(read)
    }

    /// The target's state for a snapshot (registers, memory, transfer progress, host-set
    /// inputs), as [`bus::Device::save_state`] gives a bus device's. A bus does not save the
    /// targets attached to it: the SoC saves each target itself, by (bus, address). The
    /// default is a target with no snapshot support.
    fn save_state(&self) -> Option<DeviceState> {
        None
    }

    /// Puts the target into a state [`I2cTarget::save_state`] returned, keeping its wiring
    /// (lines, host controls), and drives its outputs to that state's levels; as
    /// [`bus::Device::load_state`], a state of another kind or format is refused and leaves the
    /// target unchanged. The SoC loads each target by (bus, address) itself.
    fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        Err(StateError::unsupported(&state.kind))
    }
}

/// A target shared between the bus and whoever else holds it (the SoC, a test).
pub type SharedTarget = Rc<RefCell<dyn I2cTarget>>;

/// Highest 7-bit I2C address.
pub const MAX_ADDRESS: u8 = 0x7F;

/// Why a target could not be attached to a bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum I2cBusError {
    /// The address does not fit in 7 bits.
    AddressOutOfRange(u8),
    /// Another target already answers at this address.
    AddressInUse(u8),
}

impl fmt::Display for I2cBusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            I2cBusError::AddressOutOfRange(a) => write!(f, "I2C address {a:#x} is not 7-bit"),
            I2cBusError::AddressInUse(a) => write!(f, "I2C address {a:#04x} is already in use"),
        }
    }
}

impl std::error::Error for I2cBusError {}

/// One I2C bus: targets by 7-bit address, and the one the current transaction addresses.
///
/// The same target may be attached at several addresses (pass clones of one `Rc`).
#[derive(Default)]
pub struct I2cBus {
    targets: BTreeMap<u8, SharedTarget>,
    selected: Option<u8>,
}

impl fmt::Debug for I2cBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("I2cBus")
            .field("addresses", &self.targets.keys().collect::<Vec<_>>())
            .field("selected", &self.selected)
            .finish()
    }
}

fn same_target(a: &SharedTarget, b: &SharedTarget) -> bool {
    std::ptr::addr_eq(Rc::as_ptr(a), Rc::as_ptr(b))
}

impl I2cBus {
    /// A bus with no targets.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes `target` answer at 7-bit `address`.
    pub fn attach(&mut self, address: u8, target: SharedTarget) -> Result<(), I2cBusError> {
        if address > MAX_ADDRESS {
            return Err(I2cBusError::AddressOutOfRange(address));
        }
        if self.targets.contains_key(&address) {
            return Err(I2cBusError::AddressInUse(address));
        }
        self.targets.insert(address, target);
        Ok(())
    }

    /// Removes the target at `address` (ending its transaction if it is selected).
    pub fn detach(&mut self, address: u8) -> Option<SharedTarget> {
        if self.selected == Some(address) {
            self.stop();
        }
        self.targets.remove(&address)
    }

    /// The addresses that have a target, in increasing order.
    pub fn addresses(&self) -> Vec<u8> {
        self.targets.keys().copied().collect()
    }

    /// The target at `address`, if any.
    pub fn target(&self, address: u8) -> Option<SharedTarget> {
        self.targets.get(&address).cloned()
    }

    /// The address of the target the current transaction talks to (it acknowledged the last
    /// START and no STOP came since).
    pub fn selected(&self) -> Option<u8> {
        self.selected
    }

    /// A START (or repeated START) with 7-bit `address` and direction `read`. Returns whether a
    /// target acknowledged. On a repeated START to a different target, the previous target's
    /// transaction ends as if by STOP.
    pub fn start(&mut self, address: u8, read: bool) -> bool {
        let next = self.targets.get(&address).cloned();
        if let Some(prev) = self.selected.and_then(|a| self.targets.get(&a)).cloned() {
            if !next.as_ref().is_some_and(|n| same_target(n, &prev)) {
                prev.borrow_mut().stop();
            }
        }
        self.selected = None;
        let Some(target) = next else {
            return false;
        };
        let ack = target.borrow_mut().start_at(address, read);
        if ack {
            self.selected = Some(address);
        }
        ack
    }

    /// Writes `byte` to the selected target; false (NAK) when no target is selected.
    pub fn write(&mut self, byte: u8) -> bool {
        match self.selected_target() {
            Some(t) => t.borrow_mut().write(byte),
            None => false,
        }
    }

    /// Reads a byte from the selected target; 0xFF (SDA left high) when none is selected.
    pub fn read(&mut self) -> u8 {
        match self.selected_target() {
            Some(t) => t.borrow_mut().read(),
            None => 0xFF,
        }
    }

    /// A STOP condition: the selected target's transaction ends.
    pub fn stop(&mut self) {
        if let Some(t) = self.selected_target() {
            t.borrow_mut().stop();
        }
        self.selected = None;
    }

    /// Takes the target at `address` (if any, or attached later) to be in the current
    /// transaction without sending it a START: restoring a snapshot, where the target restores
    /// its own transfer state. `None` ends the selection without a STOP.
    pub fn restore_selected(&mut self, address: Option<u8>) {
        self.selected = address.filter(|&a| a <= MAX_ADDRESS);
    }

    fn selected_target(&self) -> Option<SharedTarget> {
        self.selected.and_then(|a| self.targets.get(&a)).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A target that records what it sees and answers from a script.
    #[derive(Default)]
    struct Recorder {
        events: Vec<String>,
        nak_address: bool,
        next_read: u8,
    }

    impl I2cTarget for Recorder {
        fn start(&mut self, read: bool) -> bool {
            self.events.push(format!("start {read}"));
            !self.nak_address
        }
        fn write(&mut self, byte: u8) -> bool {
            self.events.push(format!("write {byte:#x}"));
            true
        }
        fn read(&mut self) -> u8 {
            self.next_read = self.next_read.wrapping_add(1);
            self.next_read
        }
        fn stop(&mut self) {
            self.events.push("stop".into());
        }
    }

    #[test]
    fn attach_refuses_bad_and_duplicate_addresses() {
        let mut bus = I2cBus::new();
        let t = Rc::new(RefCell::new(Recorder::default()));
        bus.attach(0x50, t.clone()).unwrap();
        assert_eq!(
            bus.attach(0x50, t.clone()),
            Err(I2cBusError::AddressInUse(0x50))
        );
        assert_eq!(
            bus.attach(0x80, t.clone()),
            Err(I2cBusError::AddressOutOfRange(0x80))
        );
        bus.attach(0x51, t).unwrap();
        assert_eq!(bus.addresses(), vec![0x50, 0x51]);
    }

    #[test]
    fn transfers_reach_the_addressed_target_only() {
        let mut bus = I2cBus::new();
        let a = Rc::new(RefCell::new(Recorder::default()));
        let b = Rc::new(RefCell::new(Recorder::default()));
        bus.attach(0x10, a.clone()).unwrap();
        bus.attach(0x20, b.clone()).unwrap();
        assert!(!bus.start(0x30, false), "nobody at 0x30");
        assert_eq!(bus.selected(), None);
        assert!(!bus.write(1), "no target selected: NAK");
        assert_eq!(bus.read(), 0xFF);
        assert!(bus.start(0x10, false));
        assert!(bus.write(0xAB));
        assert!(bus.start(0x10, true), "repeated start, same target");
        assert_eq!(bus.read(), 1);
        assert!(bus.start(0x20, true), "repeated start, other target");
        assert_eq!(bus.read(), 1);
        bus.stop();
        assert_eq!(
            a.borrow().events,
            ["start false", "write 0xab", "start true", "stop"]
        );
        assert_eq!(b.borrow().events, ["start true", "stop"]);
        assert_eq!(bus.selected(), None);
    }

    #[test]
    fn a_target_that_naks_its_address_is_not_selected() {
        let mut bus = I2cBus::new();
        let a = Rc::new(RefCell::new(Recorder {
            nak_address: true,
            ..Recorder::default()
        }));
        bus.attach(0x10, a.clone()).unwrap();
        assert!(!bus.start(0x10, false));
        assert!(!bus.write(5));
        bus.stop();
        assert_eq!(a.borrow().events, ["start false"], "no STOP delivered");
    }

    #[test]
    fn detach_ends_the_transaction() {
        let mut bus = I2cBus::new();
        let a = Rc::new(RefCell::new(Recorder::default()));
        bus.attach(0x10, a.clone()).unwrap();
        bus.start(0x10, false);
        assert!(bus.detach(0x10).is_some());
        assert_eq!(a.borrow().events, ["start false", "stop"]);
        assert!(bus.detach(0x10).is_none());
    }
}
