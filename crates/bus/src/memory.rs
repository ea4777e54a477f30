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
///
/// A block made by [`MemoryBlock::mapped`] is anonymous, page-aligned host memory: parts of it
/// can later be replaced in place by a file mapped private and copy-on-write
/// ([`MemoryBlock::map_file`]), which is how a snapshot's RAM is restored without reading it.
pub struct MemoryBlock {
    ptr: *mut u8,
    len: usize,
    backing: Backing,
}

/// Where a block's bytes live.
enum Backing {
    /// A heap allocation (kept alive here; `ptr` points into it).
    Heap(#[allow(dead_code)] Box<[UnsafeCell<u8>]>),
    /// An anonymous mapping of `len` bytes at `ptr`, unmapped on drop.
    Mapped,
}

// SAFETY: the block owns its bytes (a heap allocation or a mapping nobody else unmaps); the
// pointer is only an address, so the block may move to another thread like a Box.
unsafe impl Send for MemoryBlock {}

/// The host page size the mappings use.
pub const HOST_PAGE: usize = 4096;

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
        Self {
            ptr: bytes.as_ptr() as *mut u8,
            len,
            backing: Backing::Heap(bytes),
        }
    }

    /// A block holding `data` (taken over: no copy).
    pub fn from_vec(data: Vec<u8>) -> Self {
        let b = data.into_boxed_slice();
        let len = b.len();
        // SAFETY: UnsafeCell<u8> has the same layout as u8.
        let bytes = unsafe { Box::from_raw(Box::into_raw(b) as *mut [UnsafeCell<u8>]) };
        Self {
            ptr: bytes.as_ptr() as *mut u8,
            len,
            backing: Backing::Heap(bytes),
        }
    }

    /// A block of `len` bytes mapped private and copy-on-write from `file` (which must hold
    /// at least `len` bytes): reads come from the file, shared with every process mapping it;
    /// writes stay in this process. The file never changes through it.
    pub fn from_file(file: &std::fs::File, len: usize) -> std::io::Result<Self> {
        let block = Self::mapped(len)?;
        let pages = len.div_ceil(HOST_PAGE) * HOST_PAGE;
        if pages == len {
            // SAFETY: a fresh block nobody else uses yet.
            unsafe { block.map_file(0, len, file, 0)? };
        } else {
            let mut data = vec![0u8; len];
            std::os::unix::fs::FileExt::read_exact_at(file, &mut data, 0)?;
            block.write(0, &data);
        }
        Ok(block)
    }

    /// A block of `len` zero bytes in an anonymous, page-aligned mapping (pages cost host
    /// memory only once touched), which [`MemoryBlock::map_file`] can replace in place.
    pub fn mapped(len: usize) -> std::io::Result<Self> {
        if len == 0 {
            return Ok(Self::new(0, 0));
        }
        // SAFETY: a fresh anonymous mapping; nothing else refers to it.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Self {
            ptr: ptr as *mut u8,
            len,
            backing: Backing::Mapped,
        })
    }

    /// Replaces `len` bytes of the block at `offset` with `file`'s bytes at `file_offset`,
    /// mapped private and copy-on-write: reads come from the file (shared with every other
    /// process mapping it) until a write copies the page. The block's address stays the same.
    /// `offset`, `file_offset` and `len` must be multiples of [`HOST_PAGE`], the block made by
    /// [`MemoryBlock::mapped`], and the file at least `file_offset + len` bytes long.
    ///
    /// # Safety
    /// Nothing may access the block's bytes during the call (the CPU is not running); the
    /// file must not change while mapped (a snapshot file is written once, then renamed).
    pub unsafe fn map_file(
        &self,
        offset: usize,
        len: usize,
        file: &std::fs::File,
        file_offset: u64,
    ) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        let bad =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, what.to_string());
        if !matches!(self.backing, Backing::Mapped) {
            return Err(bad("the memory block is not a mapping"));
        }
        if !offset.is_multiple_of(HOST_PAGE)
            || !len.is_multiple_of(HOST_PAGE)
            || !file_offset.is_multiple_of(HOST_PAGE as u64)
        {
            return Err(bad("file mappings must be page-aligned"));
        }
        if offset.checked_add(len).is_none_or(|e| e > self.len) {
            return Err(bad("file mapping past the end of the memory block"));
        }
        if file.metadata()?.len() < file_offset + len as u64 {
            return Err(bad("the file is shorter than the mapping"));
        }
        if len == 0 {
            return Ok(());
        }
        // SAFETY: the range lies inside this block's own mapping (checked above), which
        // MAP_FIXED replaces atomically; the caller guarantees nothing touches it meanwhile.
        let got = unsafe {
            libc::mmap(
                self.ptr.add(offset) as *mut libc::c_void,
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_FIXED | libc::MAP_NORESERVE,
                file.as_raw_fd(),
                file_offset as libc::off_t,
            )
        };
        if got == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Calls `f` with the block's bytes at `offset..offset + len` (for writing them to a
    /// file without a copy). Panics when the range is outside the block.
    ///
    /// # Safety
    /// Nothing may write the block during the call (the CPU is not running, no DMA).
    pub unsafe fn with_bytes<R>(&self, offset: usize, len: usize, f: impl FnOnce(&[u8]) -> R) -> R {
        self.check(offset, len);
        // SAFETY: range checked; the caller guarantees no writer while the slice lives.
        f(unsafe { std::slice::from_raw_parts(self.ptr.add(offset), len) })
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the block holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Raw pointer to the first byte, for mapping the block into the guest.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
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

impl Drop for MemoryBlock {
    fn drop(&mut self) {
        if matches!(self.backing, Backing::Mapped) && self.len > 0 {
            // SAFETY: the block's own mapping; nothing uses it once the block is dropped.
            unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.len) };
        }
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
    fn a_file_mapped_into_a_block_reads_through_and_writes_stay_private() {
        use std::io::Write;
        let path = std::env::temp_dir().join(format!("bus-map-{}", std::process::id()));
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(&[0xab; 2 * HOST_PAGE]).unwrap();
        drop(f);
        let file = std::fs::File::open(&path).unwrap();
        let m = MemoryBlock::mapped(4 * HOST_PAGE).unwrap();
        m.write(0, &[1, 2, 3]);
        let ptr = m.as_ptr();
        // SAFETY: nothing else uses the block.
        unsafe { m.map_file(HOST_PAGE, 2 * HOST_PAGE, &file, 0).unwrap() };
        assert_eq!(m.as_ptr(), ptr, "the block stays where it was");
        assert_eq!(m.byte(0), 1, "pages outside the mapping keep their bytes");
        assert_eq!(m.byte(HOST_PAGE), 0xab);
        assert_eq!(m.byte(3 * HOST_PAGE - 1), 0xab);
        assert_eq!(m.byte(3 * HOST_PAGE), 0);
        m.write(HOST_PAGE, &[7]);
        assert_eq!(m.byte(HOST_PAGE), 7);
        assert_eq!(
            std::fs::read(&path).unwrap()[0],
            0xab,
            "the file is never written"
        );
        // SAFETY: as above.
        let e = unsafe { m.map_file(1, HOST_PAGE, &file, 0) }.unwrap_err();
        assert!(e.to_string().contains("page-aligned"), "{e}");
        // SAFETY: as above.
        let e = unsafe { m.map_file(0, 4 * HOST_PAGE, &file, 0) }.unwrap_err();
        assert!(e.to_string().contains("shorter"), "{e}");
        // SAFETY: as above.
        let e = unsafe { MemoryBlock::new(HOST_PAGE, 0).map_file(0, HOST_PAGE, &file, 0) };
        assert!(e.is_err(), "a heap block cannot take a file mapping");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn blocks_from_a_vector_and_from_a_file_hold_their_bytes() {
        let m = MemoryBlock::from_vec(vec![1, 2, 3]);
        assert_eq!(m.to_vec(), [1, 2, 3]);
        let path = std::env::temp_dir().join(format!("bus-from-file-{}", std::process::id()));
        std::fs::write(&path, [0x5a; 2 * HOST_PAGE]).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let m = MemoryBlock::from_file(&file, 2 * HOST_PAGE).unwrap();
        assert_eq!(m.byte(HOST_PAGE + 3), 0x5a);
        m.write(0, &[1]);
        assert_eq!(
            std::fs::read(&path).unwrap()[0],
            0x5a,
            "private: the file stays"
        );
        let m = MemoryBlock::from_file(&file, 100).unwrap();
        assert_eq!(
            m.to_vec(),
            vec![0x5a; 100],
            "a length that is no whole page is read"
        );
        std::fs::remove_file(&path).unwrap();
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
