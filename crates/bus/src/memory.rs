//! Host memory that the CPU maps directly, and guest memory as DMA masters see it.

use std::cell::UnsafeCell;
use std::fmt;

/// Why a guest-memory access failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryError {
    /// Guest physical address of the refused access.
    pub addr: u64,
    /// Its length in bytes.
    pub len: usize,
}

impl fmt::Display for MemoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "guest memory access of {} bytes at {:#x} is outside RAM",
            self.len, self.addr
        )
    }
}

impl std::error::Error for MemoryError {}

/// Guest RAM as a DMA-capable device sees it (physical addresses).
///
/// Writes through this trait are visible to the CPU, including code it already translated.
pub trait GuestMemory {
    /// Copies guest memory at `addr` into `buf`.
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemoryError>;
    /// Copies `buf` into guest memory at `addr`.
    fn write(&self, addr: u64, buf: &[u8]) -> Result<(), MemoryError>;
}

/// A fixed block of host memory that may also be mapped into the guest by the CPU.
///
/// The bytes never move, so the CPU can keep a raw pointer to them; every Rust-side access is
/// a copy (never a reference), so the CPU reading or writing the same bytes is sound.
pub struct MemoryBlock {
    bytes: Box<[UnsafeCell<u8>]>,
}

impl MemoryBlock {
    /// A block of `len` bytes, all `fill`.
    pub fn new(len: usize, fill: u8) -> Self {
        let bytes: Box<[UnsafeCell<u8>]> = if fill == 0 {
            // Zeroed allocations come lazily from the OS: 1 GiB of DRAM costs only what is touched.
            let v: Vec<u8> = vec![0; len];
            let b = v.into_boxed_slice();
            // SAFETY: UnsafeCell<u8> has the same layout as u8.
            unsafe { Box::from_raw(Box::into_raw(b) as *mut [UnsafeCell<u8>]) }
        } else {
            (0..len).map(|_| UnsafeCell::new(fill)).collect()
        };
        Self { bytes }
    }

    /// A block holding a copy of `data`.
    pub fn from_bytes(data: &[u8]) -> Self {
        let block = Self::new(data.len(), 0);
        block.write(0, data);
        block
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True when the block holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Raw pointer to the first byte, for mapping the block into the guest.
    pub fn as_ptr(&self) -> *mut u8 {
        self.bytes.as_ptr() as *mut u8
    }

    fn check(&self, offset: usize, len: usize) {
        assert!(
            offset.checked_add(len).is_some_and(|e| e <= self.len()),
            "MemoryBlock access out of range"
        );
    }

    /// Copies bytes at `offset` into `buf`. Panics when the range is outside the block.
    pub fn read(&self, offset: usize, buf: &mut [u8]) {
        self.check(offset, buf.len());
        // SAFETY: range checked; the bytes live in UnsafeCells and no reference to them escapes.
        unsafe {
            std::ptr::copy_nonoverlapping(self.as_ptr().add(offset), buf.as_mut_ptr(), buf.len())
        }
    }

    /// Copies `data` into the block at `offset`. Panics when the range is outside the block.
    pub fn write(&self, offset: usize, data: &[u8]) {
        self.check(offset, data.len());
        // SAFETY: as in `read`.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.as_ptr().add(offset), data.len())
        }
    }

    /// Sets `len` bytes at `offset` to `value`.
    pub fn fill(&self, offset: usize, len: usize, value: u8) {
        self.check(offset, len);
        // SAFETY: as in `read`.
        unsafe { std::ptr::write_bytes(self.as_ptr().add(offset), value, len) }
    }

    /// One byte.
    pub fn byte(&self, offset: usize) -> u8 {
        let mut b = [0u8];
        self.read(offset, &mut b);
        b[0]
    }

    /// A copy of the whole block.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0; self.len()];
        self.read(0, &mut v);
        v
    }
}

impl fmt::Debug for MemoryBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MemoryBlock({} bytes)", self.len())
    }
}

/// Guest memory backed by a plain vector starting at `base`: for device tests.
#[derive(Debug)]
pub struct VecMemory {
    base: u64,
    bytes: std::cell::RefCell<Vec<u8>>,
}

impl VecMemory {
    /// `len` zero bytes at guest address `base`.
    pub fn new(base: u64, len: usize) -> Self {
        Self {
            base,
            bytes: std::cell::RefCell::new(vec![0; len]),
        }
    }

    fn range(&self, addr: u64, len: usize) -> Result<std::ops::Range<usize>, MemoryError> {
        let err = MemoryError { addr, len };
        let start = addr.checked_sub(self.base).ok_or(err)? as usize;
        let end = start.checked_add(len).ok_or(err)?;
        if end > self.bytes.borrow().len() {
            return Err(err);
        }
        Ok(start..end)
    }
}

impl GuestMemory for VecMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        let r = self.range(addr, buf.len())?;
        buf.copy_from_slice(&self.bytes.borrow()[r]);
        Ok(())
    }
    fn write(&self, addr: u64, buf: &[u8]) -> Result<(), MemoryError> {
        let r = self.range(addr, buf.len())?;
        self.bytes.borrow_mut()[r].copy_from_slice(buf);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_copies_in_and_out() {
        let m = MemoryBlock::new(16, 0xff);
        assert_eq!(m.byte(15), 0xff);
        m.write(4, &[1, 2, 3]);
        let mut b = [0; 5];
        m.read(3, &mut b);
        assert_eq!(b, [0xff, 1, 2, 3, 0xff]);
        m.fill(0, 2, 0);
        assert_eq!(&m.to_vec()[..3], &[0, 0, 0xff]);
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn block_refuses_out_of_range() {
        MemoryBlock::new(4, 0).write(3, &[1, 2]);
    }

    #[test]
    fn vec_memory_refuses_outside_ram() {
        let m = VecMemory::new(0x8000_0000, 0x100);
        m.write(0x8000_00f0, &[1; 16]).unwrap();
        assert!(m.write(0x8000_00f1, &[1; 16]).is_err());
        assert!(m.read(0x7fff_ffff, &mut [0; 2]).is_err());
        let mut b = [0; 2];
        m.read(0x8000_00fe, &mut b).unwrap();
        assert_eq!(b, [1, 1]);
    }
}
