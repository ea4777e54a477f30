//! Bare-metal ARM guests for benchmarks and device tests.
//!
//! The sources are in `guests/` (GNU assembler syntax), assembled and linked by the build
//! script with Debian's `binutils-arm-none-eabi`. Every guest is an ELF linked at DRAM
//! (0x8000_0000) that runs as it is under `ast-emu --elf` and under
//! `qemu-system-arm -M ast2600-evb -kernel`: it prints [`START_MARKER`] on UART5, runs its
//! loop [`Guest::iterations`] times, prints [`END_MARKER`] and waits in WFI with interrupts
//! masked. [`Guest::with_iterations`] sets the loop count in a copy of the ELF.
#![deny(missing_docs)]

use goblin::elf::Elf;

/// Printed on the console just before the measured loop.
pub const START_MARKER: &str = "BENCH_START";
/// Printed on the console just after the measured loop.
pub const END_MARKER: &str = "BENCH_END";

/// What one iteration of a guest's loop counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Guest instructions executed.
    Instructions,
    /// MMIO accesses (loads and stores to a device register).
    MmioAccesses,
    /// Interrupts raised, taken and acknowledged.
    Interrupts,
    /// Bytes read from the SPI NOR flash.
    Bytes,
}

impl Unit {
    /// The unit's name in reports (plural).
    pub fn name(self) -> &'static str {
        match self {
            Unit::Instructions => "instructions",
            Unit::MmioAccesses => "mmio-accesses",
            Unit::Interrupts => "interrupts",
            Unit::Bytes => "bytes",
        }
    }

    /// One of the unit (for "ns per ...").
    pub fn singular(self) -> &'static str {
        match self {
            Unit::Instructions => "instruction",
            Unit::MmioAccesses => "MMIO access",
            Unit::Interrupts => "interrupt",
            Unit::Bytes => "byte",
        }
    }
}

/// One benchmark guest.
#[derive(Debug, Clone, Copy)]
pub struct Guest {
    /// Short name (also the ELF's file name without `.elf`).
    pub name: &'static str,
    /// What `per_iteration` counts.
    pub unit: Unit,
    /// The linked ELF.
    pub elf: &'static [u8],
}

macro_rules! elf {
    ($name:literal) => {
        include_bytes!(concat!(env!("OUT_DIR"), "/", $name, ".elf"))
    };
}

/// The guest built as `$name.elf`, counting in `$unit`.
macro_rules! guest {
    ($name:literal, $unit:expr) => {
        Guest {
            name: $name,
            unit: $unit,
            elf: elf!($name),
        }
    };
}

/// Register-only ALU loop: 16 data-processing instructions and subs/bne.
pub const ALU: Guest = guest!("alu", Unit::Instructions);
/// Load/store loop with its buffer on a data page of its own.
pub const LDST: Guest = guest!("ldst", Unit::Instructions);
/// The same load/store loop with its buffer on the code's page.
pub const LDST_SAME_PAGE: Guest = guest!("ldst_same", Unit::Instructions);
/// Memory copy (LDM/STM), 256 KiB per pass: 512 KiB of data touched.
pub const COPY: Guest = guest!("copy", Unit::Instructions);
/// Loads and stores to UART5's scratch register.
pub const MMIO: Guest = guest!("mmio", Unit::MmioAccesses);
/// UART5 THR-empty interrupts raised, taken through the GIC and acknowledged.
pub const IRQ: Guest = guest!("irq", Unit::Interrupts);
/// SPI NOR reads through the FMC window in read mode (LDM).
pub const SPI_READ: Guest = guest!("spi_read", Unit::Bytes);
/// SPI NOR reads in FMC user mode: READ command, then 4 KiB through the window.
pub const SPI_USER: Guest = guest!("spi_user", Unit::Bytes);

/// Every benchmark guest.
pub const ALL: &[Guest] = &[
    ALU,
    LDST,
    LDST_SAME_PAGE,
    COPY,
    MMIO,
    IRQ,
    SPI_READ,
    SPI_USER,
];

/// Two cores: a counter both increment with LDREX/STREX, one under a spinlock, and an SGI
/// ping-pong; CPU0 prints the results (`SMP counter=001e8480 locked=00061a80 pings=000000c8
/// from=00000001`). Needs `--smp 2`.
pub const SMP: &[u8] = elf!("smp");

/// [`SMP`] with 10^7 LDREX/STREX increments per core: CPU0 prints `SMP counter=01312d00
/// locked=00061a80 pings=000000c8 from=00000001`. Needs `--smp 2`.
pub const SMP_LONG: &[u8] = elf!("smp_long");

/// Two cores: CPU0 rewrites a routine CPU1 has run and remaps a section CPU1 has read
/// through (broadcast TLB and instruction-cache maintenance); CPU0 prints what CPU1 saw
/// afterwards (`COHERENCE code=00000002 before=0000aaaa tlb=0000bbbb`). Needs `--smp 2`.
pub const SMP_COHERENCE: &[u8] = elf!("smp_coherence");

/// Two cores: CPU1 busy-waits on the counter while CPU0 sleeps in WFI for its timer, 20 times
/// about 1 ms (CNTFRQ / 1024 ticks); CPU0 prints the period and how late it woke at the least
/// and at the most, in ticks, and CPU1's counter reads (`DEADLINE period=0000f424
/// earliest=... latest=... reads=...`). Needs `--smp 2`.
pub const SMP_DEADLINE: &[u8] = elf!("smp_deadline");

/// Domains and the TLB: DACR writes take effect at once, with no TLB maintenance, for
/// privileged loads, user-mode loads and LDRT, one page or more than the CPU core tracks per
/// domain; prints `DOMAINS a=00000001 b=00000010 c=00000002 d=00000001 fs=0000000b` (the
/// faults of each phase, the last fault's status: a domain fault on a page).
pub const DOMAINS: &[u8] = elf!("domains");

/// Prints "Hello from a bare-metal ARM ELF" on UART5 and parks (ARM state).
pub const HELLO: &[u8] = elf!("hello");
/// The AST2500's VIC delivering timer 1's ticks and UART5's interrupt to the ARM1176 (run with
/// `--machine ast2500-evb`): prints `VIC: timer ticks 10, UART interrupts 1` between the
/// markers.
pub const VIC: &[u8] = elf!("vic");
/// Prints "Hello from Thumb code" on UART5 and parks (Thumb entry, bit 0 of e_entry set).
pub const HELLO_THUMB: &[u8] = elf!("hello_thumb");
/// Stores to the read-only flash, at the boot alias (0x100) and in the FMC window
/// (0x2000_0100), with STR, STRB, STRH and STM to each, reads both back and prints "ROM stores
/// dropped: the boot alias and the FMC window kept their values" on UART5 if they did (else
/// "ROM stores landed: ..."), then parks.
pub const ROM_STORES: &[u8] = elf!("rom_stores");

/// Looks up `name` in `elf`'s symbol table: its address, and its offset in the file (if the
/// symbol lies in a loaded segment's file bytes).
pub fn symbol(elf: &[u8], name: &str) -> Option<(u32, Option<usize>)> {
    let parsed = Elf::parse(elf).ok()?;
    let sym = parsed
        .syms
        .iter()
        .find(|s| parsed.strtab.get_at(s.st_name) == Some(name))?;
    let addr = sym.st_value;
    let offset = parsed.program_headers.iter().find_map(|ph| {
        (ph.p_type == goblin::elf::program_header::PT_LOAD
            && (ph.p_vaddr..ph.p_vaddr + ph.p_filesz).contains(&addr))
        .then(|| (ph.p_offset + (addr - ph.p_vaddr)) as usize)
    });
    Some((addr as u32, offset))
}

fn word_at(elf: &[u8], name: &str) -> u32 {
    let (_, offset) = symbol(elf, name).unwrap_or_else(|| panic!("guest has no `{name}`"));
    let o = offset.unwrap_or_else(|| panic!("guest's `{name}` is not initialised data"));
    u32::from_le_bytes(elf[o..o + 4].try_into().expect("4 bytes"))
}

impl Guest {
    /// The loop count built into the ELF (the default for scripts/bench-guest).
    pub fn iterations(&self) -> u32 {
        word_at(self.elf, "iterations")
    }

    /// What one iteration counts, in [`Guest::unit`]s.
    pub fn per_iteration(&self) -> u32 {
        word_at(self.elf, "per_iteration")
    }

    /// The guest physical address of the loop count (to change it in a loaded guest).
    pub fn iterations_addr(&self) -> u32 {
        symbol(self.elf, "iterations")
            .expect("guest has `iterations`")
            .0
    }

    /// A copy of the ELF whose loop runs `n` times.
    pub fn with_iterations(&self, n: u32) -> Vec<u8> {
        let mut elf = self.elf.to_vec();
        let (_, offset) = symbol(self.elf, "iterations").expect("guest has `iterations`");
        let o = offset.expect("`iterations` is initialised data");
        elf[o..o + 4].copy_from_slice(&n.to_le_bytes());
        elf
    }

    /// Finds a guest by name.
    pub fn by_name(name: &str) -> Option<Guest> {
        ALL.iter().copied().find(|g| g.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_guest_has_its_parameters() {
        for g in ALL {
            assert!(g.iterations() > 0, "{}", g.name);
            assert!(g.per_iteration() > 0, "{}", g.name);
            let copy = Guest {
                elf: Box::leak(g.with_iterations(7).into_boxed_slice()),
                ..*g
            };
            assert_eq!(copy.iterations(), 7, "{}", g.name);
            assert_eq!(copy.iterations_addr(), g.iterations_addr());
        }
        assert_eq!(ALU.per_iteration(), 18);
        assert_eq!(LDST.per_iteration(), 18);
    }

    #[test]
    fn the_console_guests_are_arm_elfs_at_dram() {
        for (elf, thumb) in [(HELLO, false), (HELLO_THUMB, true), (ROM_STORES, false)] {
            let e = Elf::parse(elf).unwrap();
            assert_eq!(e.header.e_machine, goblin::elf::header::EM_ARM);
            assert_eq!(e.entry & !1, 0x8000_0000);
            assert_eq!(e.entry & 1 == 1, thumb);
        }
    }
}
