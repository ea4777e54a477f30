//! A bus of non-overlapping address ranges, each served by one device.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

use crate::Device;

/// One device placed on the bus.
#[derive(Clone)]
pub struct Mapping {
    /// First address of the range.
    pub base: u64,
    /// Length of the range in bytes.
    pub size: u64,
    /// Name shown in logs and memory-map listings (`uart5`, `fmc`).
    pub name: String,
    /// The device that serves the range.
    pub device: Rc<RefCell<dyn Device>>,
}

/// Why a device could not be placed on the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusError {
    /// The range has zero length or wraps around the address space.
    EmptyRange {
        /// Name of the device being inserted.
        name: String,
    },
    /// The new range overlaps one already on the bus.
    Overlap {
        /// Name of the device being inserted.
        name: String,
        /// Name of the device already there.
        existing: String,
    },
}

impl fmt::Display for BusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BusError::EmptyRange { name } => write!(f, "device {name}: empty or wrapping range"),
            BusError::Overlap { name, existing } => {
                write!(f, "device {name} overlaps {existing} on the bus")
            }
        }
    }
}

impl std::error::Error for BusError {}

/// The device a hot loop hits again and again: `(base, size, device)`.
type LastHit = Option<(u64, u64, Rc<RefCell<dyn Device>>)>;

/// The memory-mapped I/O bus: a `BTreeMap` from base address to [`Mapping`], with the last
/// device accessed remembered (a guest polls one register far more often than it moves on).
#[derive(Default)]
pub struct Bus {
    ranges: BTreeMap<u64, Mapping>,
    last: RefCell<LastHit>,
}

impl Bus {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    /// Places `device` at `[base, base + size)`, refusing overlaps with devices already there.
    pub fn insert(
        &mut self,
        base: u64,
        size: u64,
        name: &str,
        device: Rc<RefCell<dyn Device>>,
    ) -> Result<(), BusError> {
        let end = base.checked_add(size).filter(|_| size > 0);
        let Some(end) = end else {
            return Err(BusError::EmptyRange { name: name.into() });
        };
        let clash = self
            .ranges
            .range(..end)
            .next_back()
            .filter(|(_, m)| m.base + m.size > base);
        if let Some((_, m)) = clash {
            return Err(BusError::Overlap {
                name: name.into(),
                existing: m.name.clone(),
            });
        }
        self.last.replace(None);
        self.ranges.insert(
            base,
            Mapping {
                base,
                size,
                name: name.into(),
                device,
            },
        );
        Ok(())
    }

    /// The mapping that contains `addr`, if any.
    pub fn find(&self, addr: u64) -> Option<&Mapping> {
        self.ranges
            .range(..=addr)
            .next_back()
            .map(|(_, m)| m)
            .filter(|m| addr - m.base < m.size)
    }

    /// The name of the device the last access went to (for fault reports), if any.
    pub fn last_device(&self) -> Option<String> {
        let base = self.last.borrow().as_ref().map(|(base, _, _)| *base)?;
        self.find(base).map(|m| m.name.clone())
    }

    /// The device serving `addr` and its base: the last one hit, else a lookup.
    fn device_at(&self, addr: u64) -> Option<(u64, Rc<RefCell<dyn Device>>)> {
        if let Some((base, size, dev)) = &*self.last.borrow() {
            if addr.wrapping_sub(*base) < *size {
                return Some((*base, dev.clone()));
            }
        }
        let m = self.find(addr)?;
        self.last.replace(Some((m.base, m.size, m.device.clone())));
        Some((m.base, m.device.clone()))
    }

    /// Reads from the device at `addr`; `None` when no device is mapped there.
    pub fn read(&self, addr: u64, size: u8) -> Option<u64> {
        let (base, dev) = self.device_at(addr)?;
        let value = dev.borrow_mut().read(addr - base, size);
        Some(value)
    }

    /// Writes to the device at `addr`; returns false when no device is mapped there.
    pub fn write(&self, addr: u64, size: u8, value: u64) -> bool {
        match self.device_at(addr) {
            Some((base, dev)) => {
                dev.borrow_mut().write(addr - base, size, value);
                true
            }
            None => false,
        }
    }

    /// Every mapping in address order.
    pub fn mappings(&self) -> impl Iterator<Item = &Mapping> {
        self.ranges.values()
    }

    /// Resets every device on the bus.
    pub fn reset(&self) {
        for m in self.ranges.values() {
            m.device.borrow_mut().reset();
        }
    }

    /// The deadline of the device serving `addr`, if it has one: after a write there, what
    /// that write may have set (the last device hit answers without a lookup).
    pub fn deadline_at(&self, addr: u64) -> Option<u64> {
        let (_, device) = self.device_at(addr)?;
        let deadline = device.borrow().next_deadline();
        deadline
    }

    /// The earliest deadline any device asked for.
    pub fn next_deadline(&self) -> Option<u64> {
        self.ranges
            .values()
            .filter_map(|m| m.device.borrow().next_deadline())
            .min()
    }

    /// Calls [`Device::on_time`] on every device whose deadline is at or before `now_ns`.
    pub fn run_deadlines(&self, now_ns: u64) {
        for m in self.ranges.values() {
            let due = m
                .device
                .borrow()
                .next_deadline()
                .is_some_and(|d| d <= now_ns);
            if due {
                m.device.borrow_mut().on_time(now_ns);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Reg(u64);
    impl Device for Reg {
        fn read(&mut self, offset: u64, _size: u8) -> u64 {
            self.0 + offset
        }
        fn write(&mut self, _offset: u64, _size: u8, value: u64) {
            self.0 = value;
        }
    }

    fn dev(v: u64) -> Rc<RefCell<dyn Device>> {
        Rc::new(RefCell::new(Reg(v)))
    }

    #[test]
    fn dispatches_by_range_with_offsets() {
        let mut bus = Bus::new();
        bus.insert(0x1000, 0x100, "a", dev(0)).unwrap();
        bus.insert(0x1100, 0x100, "b", dev(0x50)).unwrap();
        assert_eq!(bus.read(0x1004, 4), Some(4));
        assert_eq!(bus.read(0x1108, 4), Some(0x58));
        assert!(bus.write(0x10ff, 1, 7));
        assert_eq!(bus.read(0x1000, 4), Some(7));
        assert_eq!(bus.read(0x1200, 4), None);
        assert_eq!(bus.read(0xfff, 4), None);
        assert!(!bus.write(0x1200, 4, 1));
    }

    #[test]
    fn the_remembered_device_never_serves_an_address_outside_it() {
        let mut bus = Bus::new();
        bus.insert(0x1000, 0x100, "a", dev(0)).unwrap();
        assert_eq!(bus.read(0x1010, 4), Some(0x10));
        // Just past a's end, then back, then below it, then a new device placed later.
        assert_eq!(bus.read(0x1100, 4), None);
        assert_eq!(bus.read(0x10fc, 4), Some(0xfc));
        assert_eq!(bus.read(0x0ffc, 4), None);
        assert_eq!(bus.read(0x1000, 4), Some(0));
        bus.insert(0x1100, 0x100, "b", dev(0x50)).unwrap();
        assert_eq!(bus.read(0x1100, 4), Some(0x50));
        assert_eq!(bus.read(0x1000, 4), Some(0));
        for i in 0..64u64 {
            // Alternating between the two: each answer comes from the right one.
            assert_eq!(bus.read(0x1000 + i, 1), Some(i));
            assert_eq!(bus.read(0x1100 + i, 1), Some(0x50 + i));
        }
    }

    /// A device whose deadline is its register's value (0: none).
    struct Alarm(u64);
    impl Device for Alarm {
        fn read(&mut self, _offset: u64, _size: u8) -> u64 {
            self.0
        }
        fn write(&mut self, _offset: u64, _size: u8, value: u64) {
            self.0 = value;
        }
        fn next_deadline(&self) -> Option<u64> {
            (self.0 != 0).then_some(self.0)
        }
    }

    #[test]
    fn deadlines_come_from_the_device_at_an_address_or_the_earliest_of_all() {
        let mut bus = Bus::new();
        bus.insert(0x1000, 0x100, "a", Rc::new(RefCell::new(Alarm(0))))
            .unwrap();
        bus.insert(0x2000, 0x100, "b", Rc::new(RefCell::new(Alarm(500))))
            .unwrap();
        bus.insert(0x3000, 0x100, "plain", dev(0)).unwrap();
        assert_eq!(bus.deadline_at(0x1010), None);
        assert_eq!(bus.deadline_at(0x2010), Some(500));
        assert_eq!(bus.deadline_at(0x3000), None);
        assert_eq!(bus.deadline_at(0x4000), None, "nothing mapped");
        assert!(bus.write(0x1004, 4, 300));
        assert_eq!(bus.deadline_at(0x1004), Some(300));
        assert_eq!(bus.next_deadline(), Some(300));
    }

    #[test]
    fn rejects_overlaps_and_empty_ranges() {
        let mut bus = Bus::new();
        bus.insert(0x1000, 0x100, "a", dev(0)).unwrap();
        for (base, size) in [
            (0x1000, 0x10),
            (0xff0, 0x20),
            (0x10f0, 0x100),
            (0x800, 0x1000),
        ] {
            let err = bus.insert(base, size, "x", dev(0)).unwrap_err();
            assert_eq!(
                err,
                BusError::Overlap {
                    name: "x".into(),
                    existing: "a".into()
                }
            );
        }
        assert!(matches!(
            bus.insert(0x5000, 0, "z", dev(0)),
            Err(BusError::EmptyRange { .. })
        ));
        assert!(matches!(
            bus.insert(u64::MAX, 2, "w", dev(0)),
            Err(BusError::EmptyRange { .. })
        ));
        bus.insert(0x1100, 0x10, "adjacent", dev(0)).unwrap();
        bus.insert(0xf00, 0x100, "below", dev(0)).unwrap();
        let names: Vec<_> = bus.mappings().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["below", "a", "adjacent"]);
    }
}
