//! The seam between the SoC and its devices.
//!
//! A device model sees the world only through the types in this crate:
//! - [`Device`]: its register block, read and written at offsets (never absolute addresses);
//! - [`IrqLine`]: an interrupt output it drives to a level (it never knows the IRQ number);
//! - [`Clock`]: the guest's virtual time in nanoseconds, injected so tests can drive it;
//! - [`GuestMemory`]: DRAM as a DMA master sees it.
//!
//! The [`Bus`] places devices at non-overlapping address ranges and dispatches accesses.
#![deny(missing_docs)]

mod bus;
mod clock;
mod irq;
mod memory;
mod state;
mod unimplemented;

pub use bus::{Bus, BusError, Mapping};
pub use clock::{Clock, ManualClock};
pub use irq::{IrqLine, IrqSink, LevelRecorder, SharedIrq};
pub use memory::{GuestMemory, MemoryBlock, MemoryError, VecMemory, HOST_PAGE};
pub use state::{register_words, DeviceState, StateError};
pub use unimplemented::UnimplementedLog;

/// A memory-mapped device: a block of registers addressed by offset from its base.
///
/// Accesses are 1, 2, 4 or 8 bytes wide; `value` holds the data in its low `size` bytes
/// (little endian, as on the AST2600). Devices must accept every offset and width without
/// panicking: unknown registers read as zero and are reported through [`UnimplementedLog`].
pub trait Device {
    /// Reads `size` bytes at `offset` from the start of the device's block.
    fn read(&mut self, offset: u64, size: u8) -> u64;
    /// Writes the low `size` bytes of `value` at `offset`.
    fn write(&mut self, offset: u64, size: u8, value: u64);
    /// Returns the device to its power-on state (SoC reset).
    fn reset(&mut self) {}
    /// The virtual time (ns) at which the device next needs [`Device::on_time`], if any.
    fn next_deadline(&self) -> Option<u64> {
        None
    }
    /// Called by the SoC once virtual time has reached the device's deadline.
    fn on_time(&mut self, _now_ns: u64) {}
    /// The device's state for a snapshot: registers and internal state as plain data, never
    /// its wiring (interrupt lines, memory, clock, outputs). `None`: the device has no
    /// snapshot support, and a snapshot of the machine is refused, naming it.
    fn save_state(&self) -> Option<DeviceState> {
        None
    }
    /// Puts the device into a state [`Device::save_state`] returned, keeping its wiring, and
    /// drives its interrupt outputs to that state's levels. A state of another kind or format
    /// version is refused and the device is left unchanged.
    fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        Err(StateError::unsupported(&state.kind))
    }
}

/// Serves a read of `size` bytes with `read32`, a device's 32-bit register read: an 8-byte
/// access (LDRD, VLDR) becomes two word reads, low word first; other widths pass through.
pub fn split_read(offset: u64, size: u8, mut read32: impl FnMut(u64, u8) -> u64) -> u64 {
    if size == 8 {
        let lo = read32(offset, 4);
        let hi = read32(offset.wrapping_add(4), 4);
        return lo | (hi << 32);
    }
    read32(offset, size)
}

/// Serves a write of `size` bytes with `write32`: an 8-byte access becomes two word writes, low
/// word first; other widths pass through.
pub fn split_write(offset: u64, size: u8, value: u64, mut write32: impl FnMut(u64, u8, u64)) {
    if size == 8 {
        write32(offset, 4, value & 0xFFFF_FFFF);
        write32(offset.wrapping_add(4), 4, value >> 32);
        return;
    }
    write32(offset, size, value);
}

/// Extracts the bytes an access of `size` at byte `offset` touches within a 32-bit register,
/// shifted down to bit 0. Helps devices accept byte and half-word accesses to word registers.
pub fn subword(reg: u32, offset: u64, size: u8) -> u64 {
    let shift = (offset & 3) * 8;
    let v = (reg as u64) >> shift;
    match size {
        1 => v & 0xff,
        2 => v & 0xffff,
        _ => v & 0xffff_ffff,
    }
}

/// Merges a write of `size` bytes at byte `offset` into the 32-bit register value `reg`.
pub fn merge_subword(reg: u32, offset: u64, size: u8, value: u64) -> u32 {
    if size >= 4 {
        return value as u32;
    }
    let shift = (offset & 3) * 8;
    let mask: u64 = if size == 1 { 0xff } else { 0xffff };
    let mask = (mask << shift) as u32;
    (reg & !mask) | (((value << shift) as u32) & mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_accesses_split_into_two_words() {
        let mut seen = Vec::new();
        let v = split_read(0x10, 8, |o, s| {
            seen.push((o, s));
            o
        });
        assert_eq!(v, 0x10 | (0x14 << 32));
        assert_eq!(split_read(0x8, 2, |o, s| o + s as u64), 0xa);
        split_write(0x20, 8, 0x1111_2222_3333_4444, |o, s, v| {
            seen.push((o + v, s))
        });
        assert_eq!(
            seen,
            [
                (0x10, 4),
                (0x14, 4),
                (0x20 + 0x3333_4444, 4),
                (0x24 + 0x1111_2222, 4)
            ]
        );
    }

    #[test]
    fn subword_extracts_bytes_and_halves() {
        assert_eq!(subword(0x1122_3344, 0, 4), 0x1122_3344);
        assert_eq!(subword(0x1122_3344, 1, 1), 0x33);
        assert_eq!(subword(0x1122_3344, 2, 2), 0x1122);
    }

    #[test]
    fn merge_subword_replaces_only_the_written_bytes() {
        assert_eq!(merge_subword(0x1122_3344, 1, 1, 0xaa), 0x1122_aa44);
        assert_eq!(merge_subword(0x1122_3344, 2, 2, 0xbeef), 0xbeef_3344);
        assert_eq!(merge_subword(0x1122_3344, 0, 4, 0x5566_7788), 0x5566_7788);
    }
}
