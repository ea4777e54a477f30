//! `--sd IMG` and `--emmc IMG`: a card's bytes come from the user's image file and the
//! guest's writes stay in an overlay in memory (only the 64 KiB chunks the guest wrote), so
//! the file changes only with `--persist`, and then atomically: a copy of the file with the
//! changes applied replaces it by a rename ([`crate::persist::patch_atomically`]), at exit,
//! before a guest reboot and on `Ctrl-a s`, as the flash is persisted.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Bytes per overlay chunk.
const CHUNK: u64 = 64 * 1024;

/// An image file with the guest's writes over it.
pub struct ImageOverlay {
    path: PathBuf,
    file: File,
    len: u64,
    /// Written chunks; `None`: all zeros (an erase or discard, which costs no memory).
    chunks: BTreeMap<u64, Option<Box<[u8]>>>,
    /// Chunks written since the last persist.
    dirty: bool,
}

impl ImageOverlay {
    /// Opens `path` for a card: a regular file, not empty, a whole number of 512-byte blocks.
    pub fn open(path: &Path, what: &str) -> Result<Self, String> {
        let shown = path.display();
        let meta = std::fs::metadata(path).map_err(|e| format!("{what} {shown}: {e}"))?;
        if meta.is_dir() {
            return Err(format!("{what} {shown}: a directory, not an image file"));
        }
        let file = File::open(path).map_err(|e| format!("{what} {shown}: {e}"))?;
        let len = meta.len();
        if len == 0 {
            return Err(format!("{what} {shown}: the image is empty"));
        }
        if len % 512 != 0 {
            return Err(format!(
                "{what} {shown}: {len} bytes is not a whole number of 512-byte blocks \
                 (a card's size is; pad it, e.g. truncate -s 64M {shown})"
            ));
        }
        Ok(Self {
            path: path.to_path_buf(),
            file,
            len,
            chunks: BTreeMap::new(),
            dirty: false,
        })
    }

    /// The image's size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    fn check(&self, offset: u64, n: usize) -> std::io::Result<()> {
        if offset
            .checked_add(n as u64)
            .is_none_or(|end| end > self.len)
        {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("{} bytes at {offset:#x} are past the image's end", n),
            ));
        }
        Ok(())
    }

    /// Copies `buf.len()` bytes at `offset` (the guest's writes over the file).
    pub fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.check(offset, buf.len())?;
        let mut done = 0;
        while done < buf.len() {
            let at = offset + done as u64;
            let (index, within) = (at / CHUNK, (at % CHUNK) as usize);
            let n = (CHUNK as usize - within).min(buf.len() - done);
            match self.chunks.get(&index) {
                Some(Some(chunk)) => {
                    buf[done..done + n].copy_from_slice(&chunk[within..within + n])
                }
                Some(None) => buf[done..done + n].fill(0),
                None => self.file.read_exact_at(&mut buf[done..done + n], at)?,
            }
            done += n;
        }
        Ok(())
    }

    /// Writes `data` at `offset` into the overlay.
    pub fn write_at(&mut self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.check(offset, data.len())?;
        let mut done = 0;
        while done < data.len() {
            let at = offset + done as u64;
            let (index, within) = (at / CHUNK, (at % CHUNK) as usize);
            let n = (CHUNK as usize - within).min(data.len() - done);
            let start = index * CHUNK;
            let size = CHUNK.min(self.len - start) as usize;
            let slot = match self.chunks.get_mut(&index) {
                Some(slot) => slot,
                None => {
                    let mut chunk = vec![0u8; size].into_boxed_slice();
                    self.file.read_exact_at(&mut chunk, start)?;
                    self.chunks.entry(index).or_insert(Some(chunk))
                }
            };
            let chunk = slot.get_or_insert_with(|| vec![0u8; size].into_boxed_slice());
            chunk[within..within + n].copy_from_slice(&data[done..done + n]);
            done += n;
        }
        self.dirty = true;
        Ok(())
    }

    /// Sets `len` bytes at `offset` to zero: whole chunks become zero chunks (no memory),
    /// the ends are written.
    pub fn zero_range(&mut self, offset: u64, len: u64) -> std::io::Result<()> {
        self.check(offset, usize::try_from(len).unwrap_or(usize::MAX))?;
        let end = offset + len;
        let mut at = offset;
        while at < end {
            let index = at / CHUNK;
            let start = index * CHUNK;
            let chunk_end = (start + CHUNK).min(self.len);
            if at == start && end >= chunk_end {
                self.chunks.insert(index, None);
                self.dirty = true;
                at = chunk_end;
            } else {
                let n = (chunk_end.min(end) - at) as usize;
                self.write_at(at, &vec![0u8; n])?;
                at += n as u64;
            }
        }
        Ok(())
    }

    /// Bytes of memory the guest's changes take.
    #[cfg(test)]
    pub fn overlay_bytes(&self) -> u64 {
        self.chunks.values().flatten().map(|c| c.len() as u64).sum()
    }

    /// Writes the guest's changes into the image file, atomically; false if there were none.
    pub fn persist(&mut self) -> Result<bool, String> {
        if !self.dirty {
            return Ok(false);
        }
        let zeros = vec![0u8; CHUNK as usize];
        let patches: Vec<(u64, &[u8])> = self
            .chunks
            .iter()
            .map(|(i, c)| {
                let start = i * CHUNK;
                match c {
                    Some(c) => (start, &c[..]),
                    None => (start, &zeros[..CHUNK.min(self.len - start) as usize]),
                }
            })
            .collect();
        crate::persist::patch_atomically(&self.path, &patches)?;
        // The file is the new one now: read it from there.
        self.file = File::open(&self.path).map_err(|e| format!("{}: {e}", self.path.display()))?;
        self.dirty = false;
        Ok(true)
    }
}

impl aspeed_soc::CardStorage for ImageOverlay {
    fn image(&self) -> &Path {
        &self.path
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn chunk_size(&self) -> u64 {
        CHUNK
    }

    fn changes(&self) -> Vec<(u64, Option<Vec<u8>>)> {
        self.chunks
            .iter()
            .map(|(&i, c)| (i, c.as_ref().map(|b| b.to_vec())))
            .collect()
    }

    fn set_changes(&mut self, changes: Vec<(u64, Option<Vec<u8>>)>) -> Result<(), String> {
        let mut chunks = BTreeMap::new();
        for (index, bytes) in changes {
            let start = index
                .checked_mul(CHUNK)
                .filter(|&s| s < self.len)
                .ok_or_else(|| format!("chunk {index} is past the card's end"))?;
            let size = CHUNK.min(self.len - start) as usize;
            if bytes.as_ref().is_some_and(|b| b.len() != size) {
                return Err(format!("chunk {index} does not hold {size} bytes"));
            }
            chunks.insert(index, bytes.map(Vec::into_boxed_slice));
        }
        self.chunks = chunks;
        self.dirty = true;
        Ok(())
    }
}

/// An overlay shared by the card (which reads and writes it) and the host (which persists it).
pub type SharedOverlay = Rc<RefCell<ImageOverlay>>;

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str, bytes: &[u8]) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ast-emu-storage-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("card.img");
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn writes_stay_in_memory_until_persisted() {
        let original: Vec<u8> = (0..3 * CHUNK as usize + 512).map(|i| i as u8).collect();
        let p = temp("overlay", &original);
        let mut o = ImageOverlay::open(&p, "--sd").unwrap();
        let mut b = [0u8; 4];
        o.read_at(CHUNK - 2, &mut b).unwrap();
        assert_eq!(b, [254, 255, 0, 1]);
        o.write_at(CHUNK - 2, &[9; 4]).unwrap();
        o.read_at(CHUNK - 3, &mut b).unwrap();
        assert_eq!(b, [253, 9, 9, 9]);
        assert_eq!(
            std::fs::read(&p).unwrap(),
            original,
            "the file is untouched"
        );
        assert_eq!(o.overlay_bytes(), 2 * CHUNK);
        assert!(o.write_at(o.len() - 1, &[0, 0]).is_err(), "past the end");
        assert!(o.persist().unwrap());
        let mut want = original.clone();
        want[CHUNK as usize - 2..CHUNK as usize + 2].fill(9);
        assert_eq!(std::fs::read(&p).unwrap(), want);
        assert!(!o.persist().unwrap(), "nothing new");
        o.read_at(CHUNK - 3, &mut b).unwrap();
        assert_eq!(b, [253, 9, 9, 9], "read from the new file");
        // A discard of everything but the first and last bytes: zero chunks, no memory.
        let all = o.len();
        o.zero_range(1, all - 2).unwrap();
        assert!(o.overlay_bytes() <= 2 * CHUNK, "{}", o.overlay_bytes());
        let mut ends = [0u8; 3];
        o.read_at(0, &mut ends).unwrap();
        assert_eq!(ends, [0, 0, 0]);
        o.read_at(all - 1, &mut ends[..1]).unwrap();
        assert_eq!(ends[0], original[all as usize - 1]);
        assert!(o.persist().unwrap());
        let on_disk = std::fs::read(&p).unwrap();
        assert!(on_disk[1..all as usize - 1].iter().all(|&b| b == 0));
        assert_eq!(on_disk[0], 0);
        let _ = std::fs::remove_dir_all(p.parent().unwrap());
    }

    #[test]
    fn unusable_images_are_refused() {
        let p = temp("bad", b"");
        assert!(ImageOverlay::open(&p, "--sd")
            .err()
            .unwrap()
            .contains("empty"));
        std::fs::write(&p, [0u8; 1000]).unwrap();
        assert!(ImageOverlay::open(&p, "--sd")
            .err()
            .unwrap()
            .contains("512-byte blocks"));
        assert!(ImageOverlay::open(p.parent().unwrap(), "--sd")
            .err()
            .unwrap()
            .contains("directory"));
        assert!(ImageOverlay::open(&p.with_file_name("none"), "--sd").is_err());
        let _ = std::fs::remove_dir_all(p.parent().unwrap());
    }
}
