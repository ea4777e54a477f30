//! Reporting of accesses to registers a model does not implement: once per register.

use std::cell::RefCell;
use std::collections::HashSet;

/// Logs each unimplemented register at `warn` level the first time the guest touches it.
///
/// Devices own one and call [`UnimplementedLog::read`] / [`UnimplementedLog::write`] from the
/// fallback arm of their register match.
#[derive(Debug)]
pub struct UnimplementedLog {
    device: String,
    seen: RefCell<HashSet<(u64, bool)>>,
}

impl UnimplementedLog {
    /// A log for the device called `device` (shown in every message).
    pub fn new(device: &str) -> Self {
        Self {
            device: device.into(),
            seen: RefCell::new(HashSet::new()),
        }
    }

    /// Reports a read of an unimplemented register at `offset`.
    pub fn read(&self, offset: u64, size: u8) {
        if self.seen.borrow_mut().insert((offset, false)) {
            log::warn!(target: "unimp", "{}: read of unimplemented register {:#x} (size {})", self.device, offset, size);
        }
    }

    /// Reports a write of `value` to an unimplemented register at `offset`.
    pub fn write(&self, offset: u64, size: u8, value: u64) {
        if self.seen.borrow_mut().insert((offset, true)) {
            log::warn!(
                target: "unimp",
                "{}: write of {:#x} to unimplemented register {:#x} (size {})",
                self.device,
                value,
                offset,
                size
            );
        }
    }

    /// How many distinct (register, direction) pairs have been reported.
    pub fn reported(&self) -> usize {
        self.seen.borrow().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_each_register_once_per_direction() {
        let log = UnimplementedLog::new("dev");
        log.read(4, 4);
        log.read(4, 4);
        log.write(4, 4, 1);
        log.write(8, 1, 1);
        assert_eq!(log.reported(), 3);
    }
}
