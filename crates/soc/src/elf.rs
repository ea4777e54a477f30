//! Bare-metal ARM ELF images (`--elf`): parsing and the checks that give clear errors.

use goblin::elf::header::{EI_CLASS, EI_DATA, ELFCLASS32, ELFDATA2LSB, EM_ARM};
use goblin::elf::program_header::PT_LOAD;
use goblin::elf::Elf;

/// A PT_LOAD segment: `file_bytes` at physical address `addr`, zero-filled up to `mem_size`.
pub struct Segment<'a> {
    /// Physical load address.
    pub addr: u64,
    /// The bytes the file holds for it.
    pub file_bytes: &'a [u8],
    /// Its size in memory (the rest after `file_bytes` is zeros).
    pub mem_size: u64,
}

impl Segment<'_> {
    /// What memory holds from `addr` on once loaded: the file bytes, then zeros.
    pub fn contents(&self) -> Vec<u8> {
        let mut bytes = self.file_bytes.to_vec();
        bytes.resize(self.mem_size as usize, 0);
        bytes
    }
}

/// What loading an ELF needs: its entry point and loadable segments.
pub struct ElfImage<'a> {
    /// Physical entry address (bit 0 set for Thumb).
    pub entry: u32,
    /// The PT_LOAD segments.
    pub segments: Vec<Segment<'a>>,
}

/// Parses `bytes` as a 32-bit little-endian ARM executable. Errors are one line for a user.
pub fn parse(bytes: &[u8]) -> Result<ElfImage<'_>, String> {
    if bytes.len() < 16 || &bytes[..4] != b"\x7fELF" {
        return Err("not an ELF file".into());
    }
    if bytes[EI_CLASS] != ELFCLASS32 || bytes[EI_DATA] != ELFDATA2LSB {
        return Err(format!(
            "not a 32-bit little-endian ELF ({}-bit, {} endian): the AST2600 runs 32-bit ARM code",
            if bytes[EI_CLASS] == ELFCLASS32 {
                32
            } else {
                64
            },
            if bytes[EI_DATA] == ELFDATA2LSB {
                "little"
            } else {
                "big"
            },
        ));
    }
    let elf = Elf::parse(bytes).map_err(|e| format!("corrupt or truncated ELF: {e}"))?;
    if elf.header.e_machine != EM_ARM {
        return Err(format!(
            "not an ARM ELF (machine {}, {})",
            elf.header.e_machine,
            goblin::elf::header::machine_to_str(elf.header.e_machine)
        ));
    }
    // The entry point is a virtual address; the image runs with the MMU off, so it is moved
    // into the physical address of the segment that holds it (as QEMU's ELF loader does).
    let entry = elf.entry;
    let mut phys_entry = None;
    let mut segments = Vec::new();
    for ph in elf.program_headers.iter().filter(|p| p.p_type == PT_LOAD) {
        if ph.p_memsz == 0 {
            continue;
        }
        if phys_entry.is_none() && (ph.p_vaddr..ph.p_vaddr + ph.p_memsz).contains(&(entry & !1)) {
            phys_entry =
                Some((ph.p_paddr + ((entry & !1) - ph.p_vaddr)) as u32 | (entry & 1) as u32);
        }
        let start = ph.p_offset as usize;
        let file_bytes = start
            .checked_add(ph.p_filesz as usize)
            .and_then(|end| bytes.get(start..end))
            .ok_or_else(|| {
                format!(
                    "corrupt ELF: the segment at {:#x} lies beyond the end of the file",
                    ph.p_paddr
                )
            })?;
        if ph.p_filesz > ph.p_memsz {
            return Err(format!(
                "corrupt ELF: the segment at {:#x} has more file bytes than memory",
                ph.p_paddr
            ));
        }
        segments.push(Segment {
            addr: ph.p_paddr,
            file_bytes,
            mem_size: ph.p_memsz,
        });
    }
    if segments.is_empty() {
        return Err("the ELF has no loadable segment".into());
    }
    match phys_entry {
        Some(entry) => Ok(ElfImage { entry, segments }),
        None => Err(format!(
            "the entry point {entry:#010x} is not in a loadable segment"
        )),
    }
}
