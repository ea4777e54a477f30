//! Snapshots: the whole machine in one file, restored in place of a cold boot.
//!
//! A snapshot holds every core (the patched core's architectural state, its generic timer's
//! counter, whether it waits), the interrupt controller, every device on the bus by its name
//! (each device's `save_state`, tagged with its kind and format version), the PHYs and the I2C
//! targets, the flash chips (their models' state, and the 4 KiB pages the guest changed over
//! the image they came from, which is named and identified by its SHA-256), SRAM, DRAM, the
//! virtual time and the board description.
//!
//! The file (format [`FORMAT`]):
//!
//! | offset | what |
//! |---|---|
//! | 0 | [`MAGIC`] (8 bytes) |
//! | 8 | the format version, u32 little endian, then 4 zero bytes |
//! | 16 | the header's offset, u64 little endian |
//! | 24 | the header's length, u64 little endian |
//! | 4096... | sections, each at a multiple of 4096: DRAM, SRAM, each flash's changed pages |
//! | header offset | the header: JSON ([`Header`]), naming each section's offset and length |
//!
//! DRAM is written as it is, except that pages of zeros are left out (holes of a sparse file),
//! and restoring maps it private and copy-on-write ([`bus::MemoryBlock::map_file`]) instead of
//! reading it: a restore costs no copy, and BMCs restored from one snapshot share the pages
//! none of them wrote. The file is written to a temporary name beside its path and renamed
//! over it, so a machine mapping an older snapshot of that name keeps its pages.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bus::{DeviceState, HOST_PAGE};
use cpu::CpuState;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{AspeedSoc, Intc, SocError, Threads, Wait};

/// The first 8 bytes of a snapshot file.
pub const MAGIC: &[u8; 8] = b"ASTSNAP\n";

/// The snapshot format this build writes and reads; another is refused.
pub const FORMAT: u32 = 1;

/// The origin of a flash chip given no image: erased NOR flash (0xFF).
pub const ERASED_ORIGIN: &str = "erased";

/// The granule of flash page diffs.
const FLASH_PAGE: usize = 4096;

/// Where a flash chip's contents came from at power-on: a snapshot stores only the guest's
/// changes over them.
pub struct FlashOrigin {
    /// What to call the image, and where `--restore` looks for it: a path, or `built-in`.
    pub source: String,
    /// The image file, if it is one: its identity (device, inode, size, modification time)
    /// is recorded, and a restore whose image file has the same one trusts the SHA-256 the
    /// snapshot recorded instead of hashing the image again (as `make` and git trust a file
    /// whose size and time are unchanged).
    pub path: Option<PathBuf>,
    /// Reads the image again, as the machine was given it (padded to the chip's size).
    pub load: Box<dyn Fn() -> Result<Vec<u8>, String>>,
}

/// A byte range of the snapshot file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    /// Offset in the file (a multiple of 4096).
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
}

/// What a snapshot says about one flash chip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlashSnapshot {
    /// Where its image came from ([`FlashOrigin::source`]; `erased` when nothing was given).
    pub origin: String,
    /// SHA-256 of that image (hex).
    pub image_sha256: String,
    /// The image file's identity when the SHA-256 was taken, if the image is a file.
    pub image_file: Option<FileIdentity>,
    /// The chip's size in bytes.
    pub size: u64,
    /// Index of each 4 KiB page the guest changed, in order.
    pub pages: Vec<u32>,
    /// Those pages' bytes, back to back.
    pub data: Section,
    /// The chip's own state (mode, status, command in progress).
    pub state: DeviceState,
}

/// A file's identity: what changes when the file is replaced or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIdentity {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time (ns since the epoch).
    pub mtime_ns: i128,
}

impl FileIdentity {
    /// The identity of the file at `path`, if it can be read.
    pub fn of(path: &Path) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(Self {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        })
    }
}

/// What a core waits for, saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SavedWait {
    /// It runs.
    Nothing,
    /// An interrupt (WFI).
    Interrupt,
    /// An event (WFE), since this virtual time (ns).
    Event(u64),
}

/// One core, saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreSnapshot {
    /// The core itself.
    pub cpu: CpuState,
    /// What it waits for.
    pub wait: SavedWait,
    /// It waits in u-boot's SMP mailbox for its go signature.
    pub parked: bool,
}

/// What a snapshot says about one SD or eMMC card's storage (the card's own state is in its
/// controller's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardSnapshot {
    /// The slot (`SD slot 0`, `the eMMC slot`).
    pub slot: String,
    /// The image file.
    pub image: String,
    /// SHA-256 of the image file (hex).
    pub image_sha256: String,
    /// The image file's identity when hashed.
    pub image_file: Option<FileIdentity>,
    /// The card's size in bytes.
    pub size: u64,
    /// Bytes per chunk of `chunks`.
    pub chunk_size: u64,
    /// Each chunk the guest changed: its index, and whether it is all zeros (then it has no
    /// bytes in `data`).
    pub chunks: Vec<(u64, bool)>,
    /// The changed chunks' bytes, back to back.
    pub data: Section,
}

/// SHA-256 of a file's bytes, read in pieces.
fn sha256_file(path: &Path) -> Result<String, SocError> {
    let mut file = File::open(path).map_err(|e| io_error(path, "cannot open", e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| io_error(path, "cannot read", e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// An I2C target's state, by where it sits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct I2cTargetSnapshot {
    /// The bus (0..).
    pub bus: usize,
    /// The 7-bit address.
    pub address: u8,
    /// The target's state.
    pub state: DeviceState,
}

/// A snapshot's header: everything but the memory contents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// [`FORMAT`].
    pub format: u32,
    /// The version of ast-emu that wrote it.
    pub emulator: String,
    /// The build of the patched core that saved the cores ([`cpu::UNICORN_BUILD`]).
    pub unicorn_build: String,
    /// The board, as the machine was built (DRAM, straps, flash chips, I2C devices).
    pub board: board::Board,
    /// How many cores run.
    pub cores: usize,
    /// The seed of a deterministic run, if it was one.
    pub deterministic_seed: Option<u32>,
    /// Virtual time (ns).
    pub clock_ns: u64,
    /// DRAM (zero pages are holes).
    pub dram: Section,
    /// SRAM.
    pub sram: Section,
    /// The flash chips in the board's flash order.
    pub flashes: Vec<FlashSnapshot>,
    /// The cores.
    pub cpus: Vec<CoreSnapshot>,
    /// The interrupt controller (GIC or VIC).
    pub intc: DeviceState,
    /// Every device on the bus, by its bus name, in address order.
    pub devices: Vec<(String, DeviceState)>,
    /// Each MAC's PHY (`None`: the MAC has none).
    pub phys: Vec<Option<DeviceState>>,
    /// The I2C targets.
    pub i2c: Vec<I2cTargetSnapshot>,
    /// The SD and eMMC cards' storage.
    #[serde(default)]
    pub cards: Vec<CardSnapshot>,
    /// The core the run loop ran last.
    pub current_core: usize,
    /// Console input not yet taken by the UART.
    pub console_input: Vec<u8>,
    /// Input waiting for other UARTs, by name.
    pub serial_input: Vec<(String, Vec<u8>)>,
    /// The firmware's start race was over: every secondary had parked in the SMP mailbox
    /// since the last reset (a machine restored with `--threads multi` then runs them on their
    /// threads at once).
    #[serde(default)]
    pub race_over: bool,
    /// What the firmware's device trees named besides the board
    /// ([`AspeedSoc::set_tree_facts`]; `None` in a snapshot from before it was kept).
    #[serde(default)]
    pub tree_facts: Option<board::TreeFacts>,
}

/// What [`AspeedSoc::save_snapshot`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The file.
    pub path: PathBuf,
    /// Its length (DRAM's zero pages are holes and take no disk space).
    pub bytes: u64,
    /// DRAM bytes stored (pages that are not all zeros).
    pub dram_bytes: u64,
    /// Flash pages stored (changed by the guest).
    pub flash_pages: usize,
    /// Virtual time of the machine (ns).
    pub clock_ns: u64,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// SHA-256 of a memory block's bytes, hashed in place.
fn sha256_of(memory: &bus::MemoryBlock) -> String {
    // SAFETY: called between slices: nothing writes the block meanwhile.
    unsafe { memory.with_bytes(0, memory.len(), sha256_hex) }
}

fn io_error(path: &Path, what: &str, e: std::io::Error) -> SocError {
    SocError(format!("{}: {what}: {e}", path.display()))
}

/// Reads a snapshot's header, checking that the file is one and of this format.
pub fn read_header(path: &Path) -> Result<Header, SocError> {
    let mut file = File::open(path).map_err(|e| io_error(path, "cannot open", e))?;
    read_header_from(&mut file, path)
}

fn read_header_from(file: &mut File, path: &Path) -> Result<Header, SocError> {
    let not_one = || SocError(format!("{}: not an ast-emu snapshot", path.display()));
    let mut fixed = [0u8; 32];
    file.read_exact(&mut fixed).map_err(|_| not_one())?;
    if &fixed[..8] != MAGIC {
        return Err(not_one());
    }
    let format = u32::from_le_bytes(fixed[8..12].try_into().expect("4 bytes"));
    if format != FORMAT {
        return Err(SocError(format!(
            "{}: snapshot format {format}; this ast-emu reads format {FORMAT}",
            path.display()
        )));
    }
    let offset = u64::from_le_bytes(fixed[16..24].try_into().expect("8 bytes"));
    let len = u64::from_le_bytes(fixed[24..32].try_into().expect("8 bytes"));
    let file_len = file
        .metadata()
        .map_err(|e| io_error(path, "cannot read", e))?
        .len();
    if offset.checked_add(len).is_none_or(|end| end > file_len) || len > 1 << 30 {
        return Err(SocError(format!(
            "{}: the snapshot is truncated (its header lies past the end)",
            path.display()
        )));
    }
    let mut text = vec![0u8; len as usize];
    file.read_exact_at(&mut text, offset)
        .map_err(|e| io_error(path, "cannot read the header", e))?;
    let header: Header = serde_json::from_slice(&text).map_err(|e| {
        SocError(format!(
            "{}: malformed snapshot header: {e}",
            path.display()
        ))
    })?;
    if header.format != FORMAT {
        return Err(SocError(format!(
            "{}: snapshot format {}; this ast-emu reads format {FORMAT}",
            path.display(),
            header.format
        )));
    }
    for s in [header.dram, header.sram]
        .into_iter()
        .chain(header.flashes.iter().map(|f| f.data))
        .chain(header.cards.iter().map(|c| c.data))
    {
        if s.offset.checked_add(s.len).is_none_or(|end| end > file_len) {
            return Err(SocError(format!(
                "{}: the snapshot is truncated",
                path.display()
            )));
        }
    }
    Ok(header)
}

/// Writes the sections of a snapshot at page-aligned offsets of a file.
struct SectionWriter<'a> {
    file: &'a File,
    path: &'a Path,
    next: u64,
}

impl SectionWriter<'_> {
    fn align(n: u64) -> u64 {
        n.div_ceil(HOST_PAGE as u64) * HOST_PAGE as u64
    }

    /// Writes `bytes` as the next section.
    fn put(&mut self, bytes: &[u8]) -> Result<Section, SocError> {
        let offset = self.next;
        self.file
            .write_all_at(bytes, offset)
            .map_err(|e| io_error(self.path, "cannot write", e))?;
        self.next = Self::align(offset + bytes.len() as u64);
        Ok(Section {
            offset,
            len: bytes.len() as u64,
        })
    }

    /// Writes `bytes` as the next section, leaving pages of zeros out (holes). Returns the
    /// section and how many bytes it wrote.
    fn put_sparse(&mut self, bytes: &[u8]) -> Result<(Section, u64), SocError> {
        let offset = self.next;
        let mut written = 0u64;
        // Runs of non-zero pages, written in one call each.
        let mut run: Option<usize> = None;
        let pages = bytes.len().div_ceil(HOST_PAGE);
        for page in 0..=pages {
            let zero = page == pages || {
                let start = page * HOST_PAGE;
                let chunk = &bytes[start..(start + HOST_PAGE).min(bytes.len())];
                all_bytes_are(chunk, 0)
            };
            match (zero, run) {
                (false, None) => run = Some(page),
                (true, Some(first)) => {
                    let start = first * HOST_PAGE;
                    let end = (page * HOST_PAGE).min(bytes.len());
                    self.file
                        .write_all_at(&bytes[start..end], offset + start as u64)
                        .map_err(|e| io_error(self.path, "cannot write", e))?;
                    written += (end - start) as u64;
                    run = None;
                }
                _ => {}
            }
        }
        self.next = Self::align(offset + bytes.len() as u64);
        Ok((
            Section {
                offset,
                len: bytes.len() as u64,
            },
            written,
        ))
    }
}

/// Whether every byte of `memory` is 0xFF (erased NOR flash).
fn is_erased(memory: &bus::MemoryBlock) -> bool {
    // SAFETY: called between slices: nothing writes the block meanwhile.
    unsafe { memory.with_bytes(0, memory.len(), |b| all_bytes_are(b, 0xff)) }
}

/// Whether every byte of `bytes` is `value` (compared a word at a time).
fn all_bytes_are(bytes: &[u8], value: u8) -> bool {
    let word = u64::from_ne_bytes([value; 8]);
    // SAFETY: u64 has no invalid bit patterns; align_to splits at aligned boundaries.
    let (head, words, tail) = unsafe { bytes.align_to::<u64>() };
    head.iter().all(|&b| b == value)
        && words.iter().all(|&w| w == word)
        && tail.iter().all(|&b| b == value)
}

impl AspeedSoc {
    /// Names where flash chip `index` (the board's flash order) came from, so a snapshot
    /// stores only the guest's changes over it. Without an origin, a snapshot stores the
    /// chip's pages that are not erased (0xFF).
    pub fn set_flash_origin(&mut self, index: usize, origin: FlashOrigin) -> Result<(), SocError> {
        if index >= self.flashes.len() {
            return Err(SocError(format!(
                "the board has {} flash chips, not {}",
                self.flashes.len(),
                index + 1
            )));
        }
        self.flash_origins.retain(|(i, _)| *i != index);
        self.flash_origins.push((index, origin));
        Ok(())
    }

    /// Why the machine cannot be saved or loaded now, if it cannot.
    fn snapshot_blocker(&self) -> Option<String> {
        if self.cards_inserted > self.card_storages.len() {
            return Some("a card's storage is not registered for snapshots".into());
        }
        if self.debugging {
            return Some("not while a debugger holds the machine".into());
        }
        None
    }

    /// The image flash chip `index` came from (its origin's bytes, or erased flash), and
    /// what to call it.
    fn flash_base(
        &self,
        index: usize,
    ) -> Result<(String, Option<FileIdentity>, Vec<u8>), SocError> {
        let size = self.flashes[index].borrow().memory().len();
        match self.flash_origins.iter().find(|(i, _)| *i == index) {
            Some((_, origin)) => {
                let identity = origin.path.as_deref().and_then(FileIdentity::of);
                let bytes = (origin.load)().map_err(|e| {
                    SocError(format!("flash {index}: cannot read {}: {e}", origin.source))
                })?;
                if bytes.len() != size {
                    return Err(SocError(format!(
                        "flash {index}: {} now holds {} bytes, the chip {size}",
                        origin.source,
                        bytes.len()
                    )));
                }
                Ok((origin.source.clone(), identity, bytes))
            }
            None => Ok((ERASED_ORIGIN.into(), None, vec![0xff; size])),
        }
    }

    /// Saves the whole machine to `path` (replacing it atomically). Call between slices,
    /// with the machine held (a control command does).
    pub fn save_snapshot(&mut self, path: &Path) -> Result<SnapshotInfo, SocError> {
        if let Some(why) = self.snapshot_blocker() {
            return Err(SocError(format!("cannot save a snapshot: {why}")));
        }
        // Cores on their own threads stand still meanwhile (a host event has paused them
        // already; the caller resumes them).
        self.secondaries.pause(&self.lock);
        // The machine is saved as of one instant: its time stands still while it is written
        // (a second or so), and what was due by then has happened, every core's timer and
        // every device deadline, as the run loop would have done before the next slice. So
        // the file holds what a restore of it comes back to, and saves again the same.
        let held = self.clock.is_paused();
        self.clock.pause();
        let saved = self.save_snapshot_now(path);
        if !held {
            self.clock.resume();
        }
        saved
    }

    fn save_snapshot_now(&mut self, path: &Path) -> Result<SnapshotInfo, SocError> {
        // The secondaries' timers too, paused: from this thread, as a load sets their state.
        self.fire_deadlines_of(self.cores.len());
        let mut devices = Vec::new();
        let mut unsupported = Vec::new();
        for m in self.bus.mappings() {
            match m.device.borrow().save_state() {
                Some(state) => devices.push((m.name.clone(), state)),
                None => unsupported.push(m.name.clone()),
            }
        }
        let mut i2c = Vec::new();
        for bus in 0..self.i2c.bus_count() {
            let targets = self.i2c.with_bus(bus, |b| {
                b.addresses()
                    .into_iter()
                    .filter_map(|a| b.target(a).map(|t| (a, t)))
                    .collect::<Vec<_>>()
            })?;
            for (address, target) in targets {
                match target.borrow().save_state() {
                    Some(state) => i2c.push(I2cTargetSnapshot {
                        bus,
                        address,
                        state,
                    }),
                    None => unsupported.push(format!("i2c{bus} target {address:#04x}")),
                }
            }
        }
        if !unsupported.is_empty() {
            return Err(SocError(format!(
                "cannot save a snapshot: no snapshot support in {}",
                unsupported.join(", ")
            )));
        }
        let cpus = self
            .cores
            .iter()
            .map(|c| {
                Ok(CoreSnapshot {
                    cpu: c.cpu.save_state()?,
                    wait: match c.wait {
                        Wait::Nothing => SavedWait::Nothing,
                        Wait::Interrupt => SavedWait::Interrupt,
                        Wait::Event(since) => SavedWait::Event(since),
                    },
                    parked: c.parked,
                })
            })
            .collect::<Result<Vec<_>, cpu::CpuError>>()?;
        let intc = match &self.intc {
            Intc::Gic(gic) => gic.save_state(),
            Intc::Vic(vic) => vic.save_state(),
        };
        let phys = self
            .phys
            .iter()
            .map(|p| p.as_ref().map(|p| p.borrow().save_state()))
            .collect();

        let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
        let name = path
            .file_name()
            .ok_or_else(|| SocError(format!("{}: not a file name", path.display())))?;
        let tmp = dir.unwrap_or(Path::new(".")).join(format!(
            ".{}.tmp-{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        let result = self.write_snapshot(&tmp, path, cpus, intc, devices, phys, i2c);
        match result {
            Ok(mut info) => {
                std::fs::rename(&tmp, path).map_err(|e| {
                    let _ = std::fs::remove_file(&tmp);
                    io_error(path, "cannot rename the new snapshot into place", e)
                })?;
                info.path = path.to_path_buf();
                Ok(info)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn write_snapshot(
        &self,
        tmp: &Path,
        path: &Path,
        cpus: Vec<CoreSnapshot>,
        intc: DeviceState,
        devices: Vec<(String, DeviceState)>,
        phys: Vec<Option<DeviceState>>,
        i2c: Vec<I2cTargetSnapshot>,
    ) -> Result<SnapshotInfo, SocError> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(tmp)
            .map_err(|e| io_error(tmp, "cannot create", e))?;
        let mut w = SectionWriter {
            file: &file,
            path,
            next: HOST_PAGE as u64,
        };
        // SAFETY: the cores are not running (between slices, secondaries paused) and no
        // device writes DRAM outside a slice.
        let (dram, dram_bytes) = unsafe {
            self.dram
                .with_bytes(0, self.dram.len(), |b| w.put_sparse(b))
        }?;
        let sram = w.put(&self.sram.to_vec())?;
        let mut flashes = Vec::new();
        let mut flash_pages = 0;
        for (index, flash) in self.flashes.iter().enumerate() {
            let (origin, image_file, base) = self.flash_base(index)?;
            let memory = flash.borrow().memory().clone();
            let mut pages = Vec::new();
            let mut data = Vec::new();
            // SAFETY: nothing runs while the snapshot is written.
            unsafe {
                memory.with_bytes(0, memory.len(), |now| {
                    for (i, (a, b)) in now
                        .chunks(FLASH_PAGE)
                        .zip(base.chunks(FLASH_PAGE))
                        .enumerate()
                    {
                        if a != b {
                            pages.push(i as u32);
                            data.extend_from_slice(a);
                        }
                    }
                })
            };
            flash_pages += pages.len();
            flashes.push(FlashSnapshot {
                origin,
                image_sha256: sha256_hex(&base),
                image_file,
                size: memory.len() as u64,
                pages,
                data: w.put(&data)?,
                state: flash.borrow().save_state(),
            });
        }
        let mut cards = Vec::new();
        for (slot, storage) in &self.card_storages {
            let storage = storage.borrow();
            let image = storage.image().to_path_buf();
            let image_file = FileIdentity::of(&image);
            let image_sha256 = sha256_file(&image)?;
            let mut chunks = Vec::new();
            let mut data = Vec::new();
            for (index, bytes) in storage.changes() {
                chunks.push((index, bytes.is_none()));
                if let Some(b) = bytes {
                    data.extend_from_slice(&b);
                }
            }
            cards.push(CardSnapshot {
                slot: slot.to_string(),
                image: image.display().to_string(),
                image_sha256,
                image_file,
                size: storage.len(),
                chunk_size: storage.chunk_size(),
                chunks,
                data: w.put(&data)?,
            });
        }
        let clock_ns = self.clock.now_ns();
        let header = Header {
            format: FORMAT,
            emulator: env!("CARGO_PKG_VERSION").into(),
            unicorn_build: cpu::UNICORN_BUILD.into(),
            board: self.board.clone(),
            cores: self.cores.len(),
            deterministic_seed: self.deterministic.map(|d| d.seed),
            clock_ns,
            dram,
            sram,
            flashes,
            cpus,
            intc,
            devices,
            phys,
            i2c,
            cards,
            current_core: self.current,
            console_input: self.pending_input.clone(),
            serial_input: self
                .serial
                .iter()
                .filter(|s| !s.pending.is_empty())
                .map(|s| (s.name.to_string(), s.pending.iter().copied().collect()))
                .collect(),
            race_over: self.race_over,
            tree_facts: Some(self.tree_facts.clone()),
        };
        let text = serde_json::to_vec(&header)
            .map_err(|e| SocError(format!("the snapshot header does not serialise: {e}")))?;
        let header_at = w.next;
        let mut fixed = [0u8; 32];
        fixed[..8].copy_from_slice(MAGIC);
        fixed[8..12].copy_from_slice(&FORMAT.to_le_bytes());
        fixed[16..24].copy_from_slice(&header_at.to_le_bytes());
        fixed[24..32].copy_from_slice(&(text.len() as u64).to_le_bytes());
        file.write_all_at(&text, header_at)
            .and_then(|_| file.write_all_at(&fixed, 0))
            .and_then(|_| (&file).flush())
            .and_then(|_| file.sync_data())
            .map_err(|e| io_error(tmp, "cannot write", e))?;
        Ok(SnapshotInfo {
            path: tmp.to_path_buf(),
            bytes: header_at + text.len() as u64,
            dram_bytes,
            flash_pages,
            clock_ns,
        })
    }

    /// Puts the machine into the state saved in `path`: the same board (the same DRAM, flash
    /// chips, cores) built from the same images. DRAM is mapped from the file, copy-on-write.
    /// A snapshot of another board, another image, another format or another build of the
    /// core is refused before anything changes. Virtual time stands still until the guest
    /// next runs.
    pub fn load_snapshot(&mut self, path: &Path) -> Result<Header, SocError> {
        if let Some(why) = self.snapshot_blocker() {
            return Err(SocError(format!("cannot load a snapshot: {why}")));
        }
        self.secondaries.pause(&self.lock);
        let mut file = File::open(path).map_err(|e| io_error(path, "cannot open", e))?;
        let h = read_header_from(&mut file, path)?;
        let refuse = |why: String| Err(SocError(format!("{}: {why}", path.display())));
        if h.unicorn_build != cpu::UNICORN_BUILD {
            return refuse(format!(
                "saved by another build of the core ({}; this is {}): its cores cannot be loaded",
                h.unicorn_build,
                cpu::UNICORN_BUILD
            ));
        }
        if h.board != self.board {
            return refuse(format!(
                "a snapshot of board {}, this machine is a {} built otherwise",
                h.board.name, self.board.name
            ));
        }
        if h.cores != self.cores.len() || h.cpus.len() != h.cores {
            return refuse(format!(
                "a snapshot with {} cores, this machine runs {}",
                h.cores,
                self.cores.len()
            ));
        }
        if h.dram.len != self.dram.len() as u64 || h.sram.len != self.sram.len() as u64 {
            return refuse("its DRAM or SRAM size differs from this machine's".into());
        }
        if h.flashes.len() != self.flashes.len() {
            return refuse(format!(
                "a snapshot with {} flash chips, this machine has {}",
                h.flashes.len(),
                self.flashes.len()
            ));
        }
        // The flash images: each must be the one the snapshot was taken over.
        let mut bases = Vec::new();
        for (index, (f, flash)) in h.flashes.iter().zip(&self.flashes).enumerate() {
            let size = flash.borrow().memory().len();
            if f.size != size as u64
                || f.data.len != f.pages.len() as u64 * FLASH_PAGE as u64
                || f.pages
                    .iter()
                    .any(|&p| (p as usize + 1) * FLASH_PAGE > size)
            {
                return refuse(format!("flash {index}: malformed page list"));
            }
            // A machine that has not run holds its images as given; a running one may have
            // changed them: start from the image again.
            let origin = self.flash_origins.iter().find(|(i, _)| *i == index);
            let pristine = self.stats.slices == 0 && !self.loaded_snapshot;
            let (sha, base) = match origin {
                Some((_, o)) if pristine => {
                    let same_file = o.path.as_deref().and_then(FileIdentity::of);
                    if same_file.is_some() && same_file == f.image_file {
                        (f.image_sha256.clone(), None)
                    } else {
                        (sha256_of(&flash.borrow().memory().clone()), None)
                    }
                }
                Some(_) => {
                    let (_, _, b) = self.flash_base(index)?;
                    (sha256_hex(&b), Some(b))
                }
                // Erased flash (no image): a machine that has not run holds it as built,
                // erased; a running one is checked for 0xFF, faster than hashing it.
                None if f.origin == ERASED_ORIGIN
                    && (pristine || is_erased(&flash.borrow().memory().clone())) =>
                {
                    (f.image_sha256.clone(), None)
                }
                None => (sha256_of(&flash.borrow().memory().clone()), None),
            };
            if sha != f.image_sha256 {
                return refuse(format!(
                    "taken over another flash image ({} with SHA-256 {}; this machine's flash {index} has {sha})",
                    f.origin, f.image_sha256
                ));
            }
            bases.push(base);
        }
        // The cards: the same slots, each over the image it was saved over.
        if h.cards.len() != self.card_storages.len() {
            return refuse(format!(
                "a snapshot with {} cards, this machine has {}",
                h.cards.len(),
                self.card_storages.len()
            ));
        }
        let mut card_changes = Vec::new();
        for c in &h.cards {
            let Some((_, storage)) = self
                .card_storages
                .iter()
                .find(|(slot, _)| slot.to_string() == c.slot)
            else {
                return refuse(format!(
                    "it has a card in {}, this machine has none",
                    c.slot
                ));
            };
            let storage = storage.borrow();
            let image = storage.image().to_path_buf();
            if storage.len() != c.size || storage.chunk_size() != c.chunk_size {
                return refuse(format!(
                    "its card in {} holds {} bytes, {} here",
                    c.slot,
                    c.size,
                    storage.len()
                ));
            }
            let same_file = FileIdentity::of(&image);
            if !(same_file.is_some() && same_file == c.image_file)
                && sha256_file(&image)? != c.image_sha256
            {
                return refuse(format!(
                    "its card in {} was saved over another image ({} with SHA-256 {}; {} differs)",
                    c.slot,
                    c.image,
                    c.image_sha256,
                    image.display()
                ));
            }
            let mut data = vec![0u8; c.data.len as usize];
            file.read_exact_at(&mut data, c.data.offset)
                .map_err(|e| io_error(path, "cannot read card chunks", e))?;
            let mut at = 0usize;
            let mut changes = Vec::new();
            for &(index, zero) in &c.chunks {
                if zero {
                    changes.push((index, None));
                    continue;
                }
                let start = index.saturating_mul(c.chunk_size);
                let len = c.chunk_size.min(c.size.saturating_sub(start)) as usize;
                let Some(bytes) = data.get(at..at + len) else {
                    return refuse(format!("its card in {}: malformed chunk list", c.slot));
                };
                changes.push((index, Some(bytes.to_vec())));
                at += len;
            }
            card_changes.push((c.slot.clone(), changes));
        }
        let mut names: Vec<&str> = self.bus.mappings().map(|m| m.name.as_str()).collect();
        let mut saved: Vec<&str> = h.devices.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        saved.sort_unstable();
        if names != saved {
            return refuse("its devices are not this machine's".into());
        }

        // From here on the machine changes.
        self.loaded_snapshot = true;
        let at = self.clock.pause_at(h.clock_ns);
        if at != h.clock_ns {
            log::warn!(
                "snapshot: the machine's time ({at} ns) is past the snapshot's ({} ns); it stays",
                h.clock_ns
            );
        }
        self.restore_holds_clock = true;
        // SAFETY: nothing runs (between slices, secondaries paused); the file is not
        // changed while mapped (snapshots are written to a new file and renamed).
        unsafe {
            self.dram
                .map_file(
                    0,
                    (h.dram.len as usize).div_ceil(HOST_PAGE) * HOST_PAGE,
                    &file,
                    h.dram.offset,
                )
                .map_err(|e| io_error(path, "cannot map the DRAM", e))?
        };
        let mut sram = vec![0u8; h.sram.len as usize];
        file.read_exact_at(&mut sram, h.sram.offset)
            .map_err(|e| io_error(path, "cannot read SRAM", e))?;
        self.sram.write(0, &sram);
        for ((f, flash), base) in h.flashes.iter().zip(&self.flashes).zip(bases) {
            let flash_ref = flash.borrow();
            let memory = flash_ref.memory();
            if let Some(base) = base {
                memory.write(0, &base);
            }
            let mut data = vec![0u8; f.data.len as usize];
            file.read_exact_at(&mut data, f.data.offset)
                .map_err(|e| io_error(path, "cannot read flash pages", e))?;
            for (&page, bytes) in f.pages.iter().zip(data.chunks(FLASH_PAGE)) {
                memory.write(page as usize * FLASH_PAGE, bytes);
            }
            drop(flash_ref);
            flash
                .borrow_mut()
                .load_state(&f.state)
                .map_err(state_error)?;
        }
        match &self.intc {
            Intc::Gic(gic) => gic.load_state(&h.intc),
            Intc::Vic(vic) => vic.load_state(&h.intc),
        }
        .map_err(state_error)?;
        for m in self.bus.mappings() {
            let (_, state) = h
                .devices
                .iter()
                .find(|(n, _)| *n == m.name)
                .expect("names checked");
            m.device
                .borrow_mut()
                .load_state(state)
                .map_err(|e| SocError(format!("{}: {}: {e}", path.display(), m.name)))?;
        }
        for (phy, state) in self.phys.iter().zip(&h.phys) {
            match (phy, state) {
                (Some(phy), Some(state)) => {
                    phy.borrow_mut().load_state(state).map_err(state_error)?
                }
                (None, None) => {}
                _ => return refuse("its PHYs are not this machine's".into()),
            }
        }
        for t in &h.i2c {
            let target = self
                .i2c
                .with_bus(t.bus, |b| b.target(t.address))?
                .ok_or_else(|| {
                    SocError(format!(
                        "{}: i2c{} has no target at {:#04x} here",
                        path.display(),
                        t.bus,
                        t.address
                    ))
                })?;
            target
                .borrow_mut()
                .load_state(&t.state)
                .map_err(state_error)?;
        }
        for (slot, changes) in card_changes {
            if let Some((_, storage)) = self
                .card_storages
                .iter()
                .find(|(s, _)| s.to_string() == slot)
            {
                storage
                    .borrow_mut()
                    .set_changes(changes)
                    .map_err(|e| SocError(format!("{}: {slot}: {e}", path.display())))?;
            }
        }
        for (core, saved) in self.cores.iter_mut().zip(&h.cpus) {
            core.cpu.load_state(&saved.cpu)?;
            core.wait = match saved.wait {
                SavedWait::Nothing => Wait::Nothing,
                SavedWait::Interrupt => Wait::Interrupt,
                SavedWait::Event(since) => Wait::Event(since),
            };
            core.parked = saved.parked;
            // Restored past its start: no head start.
            core.head_start = 0;
        }
        self.race_over = h.race_over;
        if self.threads == Threads::Multi && self.cores.len() > 1 {
            // Past the firmware's start race, the secondaries go to their threads at once.
            self.handed_off = self.race_over;
            if self.handed_off {
                for core in &mut self.cores[1..] {
                    // Their threads do not wait in WFE; waking from it early is allowed.
                    if matches!(core.wait, Wait::Event(_)) {
                        core.wait = Wait::Nothing;
                    }
                }
            }
            if self.secondaries.started() {
                // Loaded while they ran: their threads look at their cores afresh.
                self.secondaries.reset();
                self.local = if self.handed_off { 1 } else { self.cores.len() };
            }
        }
        let current = if self.local == 1 {
            0
        } else {
            h.current_core.min(self.cores.len() - 1)
        };
        // Make the GIC's banked view and the host's kicks follow the saved current core.
        self.current = usize::MAX;
        self.switch_to(current);
        self.pending_input = h.console_input.clone();
        for s in &mut self.serial {
            s.pending = h
                .serial_input
                .iter()
                .find(|(n, _)| n == s.name)
                .map(|(_, b)| b.iter().copied().collect())
                .unwrap_or_default();
        }
        self.sync_fmc_window()?;
        self.stuck_exits = 0;
        self.turn_left = 0;
        Ok(h)
    }
}

fn state_error(e: bus::StateError) -> SocError {
    SocError(format!("snapshot: {e}"))
}
