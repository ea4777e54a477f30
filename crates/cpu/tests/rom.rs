//! Memory mapped `Access::ReadExec` is ROM: guest stores of every kind are dropped, memory stays
//! as it was, the CPU carries on with the next instruction, and each 4 KiB page written is
//! logged once. (Encodings as assembled by `arm-none-eabi-as -march=armv7-a`, the source
//! beside each word.)

use std::rc::Rc;
use std::sync::{Mutex, Once};
use std::thread::ThreadId;

use cpu::{Access, Cp15, Cpu, Exit, Reg, TimerOutputs, VirtualClock, ROM_LOG_TARGET};

const RAM: u64 = 0;
const RAM_LEN: u64 = 0x10_0000;
/// Two pages of ROM, section-aligned so the MMU test can map it with one section entry.
const ROM: u64 = 0x20_0000;
const ROM_LEN: u64 = 0x2000;
/// Where the ARM and Thumb programs are loaded in RAM.
const CODE: u64 = 0x100;

/// Stores of every kind to the ROM at r0 (set by the test), after a load from it (which fills
/// the page's TLB entry for reads: the store must still not get through), then a store to the
/// second page and loads of what is there.
const ARM_STORES: &[u32] = &[
    0xe5901000, // 0x100 ldr r1, [r0]
    0xe1e02001, // 0x104 mvn r2, r1
    0xe5802000, // 0x108 str r2, [r0]
    0xe5c02005, // 0x10c strb r2, [r0, #5]
    0xe1c020ba, // 0x110 strh r2, [r0, #10]
    0xe1a03002, // 0x114 mov r3, r2
    0xe1c021f0, // 0x118 strd r2, r3, [r0, #16]
    0xe880001c, // 0x11c stm r0, {r2, r3, r4}
    0xe280a020, // 0x120 add r10, r0, #32
    0xe19a4f9f, // 0x124 ldrex r4, [r10]
    0xe1e04004, // 0x128 mvn r4, r4
    0xe18a5f94, // 0x12c strex r5, r4, [r10]
    0xe2806a01, // 0x130 add r6, r0, #0x1000
    0xe5862100, // 0x134 str r2, [r6, #0x100]
    0xe5907000, // 0x138 ldr r7, [r0]
    0xe5968100, // 0x13c ldr r8, [r6, #0x100]
    0xe3a09001, // 0x140 mov r9, #1
    0xe320f003, // 0x144 wfi
];
/// The first store to each ROM page in [`ARM_STORES`] (what the log names).
const ARM_FIRST_STORES: [u32; 2] = [0x108, 0x134];

/// The same in Thumb (halfwords in memory order).
const THUMB_STORES: &[u16] = &[
    0x6801, // 0x100 ldr r1, [r0]
    0xea6f, 0x0201, // 0x102 mvn.w r2, r1
    0x6002, // 0x106 str r2, [r0]
    0x7142, // 0x108 strb r2, [r0, #5]
    0x8142, // 0x10a strh r2, [r0, #10]
    0x4613, // 0x10c mov r3, r2
    0xe9c0, 0x2304, // 0x10e strd r2, r3, [r0, #16]
    0xe880, 0x001c, // 0x112 stmia.w r0, {r2, r3, r4}
    0xe850, 0x4f08, // 0x116 ldrex r4, [r0, #32]
    0xea6f, 0x0404, // 0x11a mvn.w r4, r4
    0xe840, 0x4508, // 0x11e strex r5, r4, [r0, #32]
    0xf500, 0x5680, // 0x122 add.w r6, r0, #0x1000
    0xf8c6, 0x2100, // 0x126 str.w r2, [r6, #0x100]
    0x6807, // 0x12a ldr r7, [r0]
    0xf8d6, 0x8100, // 0x12c ldr.w r8, [r6, #0x100]
    0xf04f, 0x0901, // 0x130 mov.w r9, #1
    0xbf30, // 0x134 wfi
];
const THUMB_FIRST_STORES: [u32; 2] = [0x106, 0x126];
const THUMB_END: u32 = 0x136;

/// The stores both programs make: one per element stored (STRD stores two words, STM three),
/// as ARMv7 defines them (single-copy atomic word accesses).
const STORES: u64 = 1 + 1 + 1 + 2 + 3 + 1 + 1;

/// Code running from ROM that overwrites its own first instruction, then reads it back.
const SELF_STORE: &[u32] = &[
    0xe24f0008, // sub r0, pc, #8   (r0 = this instruction)
    0xe5901000, // ldr r1, [r0]
    0xe1e02001, // mvn r2, r1
    0xe5802000, // str r2, [r0]
    0xe5903000, // ldr r3, [r0]
    0xe3a09001, // mov r9, #1
    0xe320f003, // wfi
];

fn words(w: &[u32]) -> Vec<u8> {
    w.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn halfwords(h: &[u16]) -> Vec<u8> {
    h.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The log records with the ROM target, by the thread that logged them (each test runs its
/// CPU on its own thread, so parallel tests do not see each other's lines).
static ROM_LOG: Mutex<Vec<(ThreadId, String)>> = Mutex::new(Vec::new());

struct RomLogCapture;

impl log::Log for RomLogCapture {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.target() == ROM_LOG_TARGET
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            let line = format!("{} {}", record.level(), record.args());
            ROM_LOG
                .lock()
                .unwrap()
                .push((std::thread::current().id(), line));
        }
    }

    fn flush(&self) {}
}

fn capture_rom_log() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        log::set_logger(&RomLogCapture).expect("the only logger of this test binary");
        log::set_max_level(log::LevelFilter::Trace);
    });
}

/// The ROM lines this test's thread logged.
fn rom_log_lines() -> Vec<String> {
    let me = std::thread::current().id();
    ROM_LOG
        .lock()
        .unwrap()
        .iter()
        .filter(|(thread, _)| *thread == me)
        .map(|(_, line)| line.clone())
        .collect()
}

/// Plain zeroed host memory (the bus crate is not a dependency of the CPU).
struct Block(std::cell::UnsafeCell<Vec<u8>>);

impl Block {
    fn new(bytes: Vec<u8>) -> Rc<Block> {
        Rc::new(Block(std::cell::UnsafeCell::new(bytes)))
    }

    fn as_mut_ptr(&self) -> *mut u8 {
        // SAFETY: only the pointer escapes; the CPU accesses the bytes.
        unsafe { (*self.0.get()).as_mut_ptr() }
    }

    /// A copy of the bytes, read while the CPU is not running.
    fn snapshot(&self) -> Vec<u8> {
        // SAFETY: the CPU is stopped (the tests call this between runs).
        unsafe { (*self.0.get()).clone() }
    }
}

struct NoOutputs;
impl TimerOutputs for NoOutputs {
    fn set_level(&mut self, _timer: usize, _level: bool) {}
}

/// A CPU with RAM at 0 (vectors that all wait in WFI, so an unexpected exception ends the run
/// at a vector) and two pages of ROM at [`ROM`], `rom` being their contents.
struct Machine {
    cpu: Cpu,
    rom: Rc<Block>,
    rom_at_start: Vec<u8>,
}

impl Machine {
    fn new(rom_contents: &[u8]) -> Machine {
        capture_rom_log();
        let mut cpu = Cpu::new(VirtualClock::new(), Box::new(NoOutputs)).expect("patched core");
        let ram = Block::new(vec![0; RAM_LEN as usize]);
        // A pattern no store of the programs repeats (they store the complement of a word).
        let mut bytes: Vec<u8> = (0..ROM_LEN).map(|i| (i * 7 + 3) as u8).collect();
        bytes[..rom_contents.len()].copy_from_slice(rom_contents);
        let rom = Block::new(bytes);
        // SAFETY: the blocks' buffers never move and the CPU keeps them alive.
        unsafe {
            cpu.map_host_memory(
                RAM,
                RAM_LEN,
                ram.as_mut_ptr(),
                ram.clone(),
                Access::ReadWriteExec,
            )
            .unwrap();
            cpu.map_host_memory(
                ROM,
                ROM_LEN,
                rom.as_mut_ptr(),
                rom.clone(),
                Access::ReadExec,
            )
            .unwrap();
        }
        cpu.write_memory(0, &words(&[0xe320f003; 8])).unwrap(); // wfi at every vector
        let rom_at_start = rom.snapshot();
        Machine {
            cpu,
            rom,
            rom_at_start,
        }
    }

    /// The ROM word at `offset` as it was at the start.
    fn rom_word(&self, offset: usize) -> u32 {
        u32::from_le_bytes(self.rom_at_start[offset..offset + 4].try_into().unwrap())
    }

    /// Runs to the WFI at `end - 4` (ARM) or `end - 2` (Thumb): the PC is then `end`.
    fn run_to(&mut self, end: u32) {
        for _ in 0..1000 {
            match self.cpu.run() {
                Exit::Requested => continue,
                Exit::WaitForInterrupt => break,
                other => panic!("unexpected stop {other:?}"),
            }
        }
        assert_eq!(
            self.cpu.reg(Reg::Pc),
            end,
            "the program ran to its end (not into a vector)"
        );
    }

    /// The ROM is as it was: seen by the host and by a guest-independent read through the core.
    fn assert_rom_unchanged(&self) {
        assert!(
            self.rom.snapshot() == self.rom_at_start,
            "the ROM's host memory changed"
        );
        let mut through_core = vec![0; ROM_LEN as usize];
        self.cpu.read_memory(ROM, &mut through_core).unwrap();
        assert!(through_core == self.rom_at_start, "the ROM reads changed");
    }

    /// The program's loads saw the ROM unchanged and it went on after its stores.
    fn assert_program_saw_rom_unchanged(&self) {
        assert_eq!(
            self.cpu.reg(Reg::R(7)),
            self.rom_word(0),
            "ROM word 0 reread"
        );
        assert_eq!(
            self.cpu.reg(Reg::R(8)),
            self.rom_word(0x1100),
            "second page reread"
        );
        assert_eq!(self.cpu.reg(Reg::R(9)), 1, "the instructions after ran");
        assert_eq!(self.cpu.dropped_rom_writes(), STORES);
    }
}

/// One log line per ROM page, each naming the first store to it: physical address (`at`),
/// value and PC.
fn assert_one_line_per_page(lines: &[String], first: [(u64, u32, u32); 2]) {
    assert_eq!(lines.len(), 2, "one line per page: {lines:#?}");
    for (line, (addr, value, pc)) in lines.iter().zip(first) {
        assert!(line.starts_with("WARN "), "a warning: {line}");
        for needle in [
            format!("at {addr:#010x}"),
            format!("of {value:#x}"),
            format!("pc {pc:#010x}"),
        ] {
            assert!(line.contains(&needle), "{line:?} should say {needle:?}");
        }
    }
}

#[test]
fn arm_stores_of_every_kind_to_rom_are_dropped_and_each_page_is_logged_once() {
    let mut m = Machine::new(&[]);
    m.cpu.write_memory(CODE, &words(ARM_STORES)).unwrap();
    m.cpu.set_reg(Reg::R(0), ROM as u32);
    m.cpu.start_at(CODE as u32);
    m.run_to(CODE as u32 + 4 * ARM_STORES.len() as u32);
    m.assert_rom_unchanged();
    m.assert_program_saw_rom_unchanged();
    let stored = !m.rom_word(0);
    assert_one_line_per_page(
        &rom_log_lines(),
        [
            (ROM, stored, ARM_FIRST_STORES[0]),
            (ROM + 0x1100, stored, ARM_FIRST_STORES[1]),
        ],
    );
}

#[test]
fn thumb_stores_of_every_kind_to_rom_are_dropped_and_each_page_is_logged_once() {
    let mut m = Machine::new(&[]);
    m.cpu.write_memory(CODE, &halfwords(THUMB_STORES)).unwrap();
    m.cpu.set_reg(Reg::R(0), ROM as u32);
    m.cpu.start_at(CODE as u32 | 1);
    m.run_to(THUMB_END);
    m.assert_rom_unchanged();
    m.assert_program_saw_rom_unchanged();
    let stored = !m.rom_word(0);
    assert_one_line_per_page(
        &rom_log_lines(),
        [
            (ROM, stored, THUMB_FIRST_STORES[0]),
            (ROM + 0x1100, stored, THUMB_FIRST_STORES[1]),
        ],
    );
}

/// With the MMU on, the ROM seen at another virtual address: the same, and the log gives both
/// addresses.
#[test]
fn stores_to_rom_through_the_mmu_are_dropped_and_logged_with_both_addresses() {
    const VIRTUAL: u64 = 0xc000_0000;
    let mut m = Machine::new(&[]);
    m.cpu.write_memory(CODE, &words(ARM_STORES)).unwrap();
    // Sections (full access, client domain): the first MiB identity, VIRTUAL -> ROM.
    let table = 0x4000u64;
    let section = |phys: u64| (phys as u32 | 0xc02).to_le_bytes();
    m.cpu.write_memory(table, &section(RAM)).unwrap();
    m.cpu
        .write_memory(table + 4 * (VIRTUAL >> 20), &section(ROM))
        .unwrap();
    let ttbr0 = Cp15 {
        crn: 2,
        crm: 0,
        opc1: 0,
        opc2: 0,
    };
    let dacr = Cp15 {
        crn: 3,
        crm: 0,
        opc1: 0,
        opc2: 0,
    };
    m.cpu.set_cp15(ttbr0, table as u32).unwrap();
    m.cpu.set_cp15(dacr, 0x5555_5555).unwrap();
    let sctlr = m.cpu.cp15(Cp15::SCTLR).unwrap();
    m.cpu.set_cp15(Cp15::SCTLR, sctlr | 1).unwrap();
    m.cpu.set_reg(Reg::R(0), VIRTUAL as u32);
    m.cpu.start_at(CODE as u32);
    m.run_to(CODE as u32 + 4 * ARM_STORES.len() as u32);
    m.assert_rom_unchanged();
    m.assert_program_saw_rom_unchanged();
    let lines = rom_log_lines();
    let stored = !m.rom_word(0);
    assert_one_line_per_page(
        &lines,
        [
            (ROM, stored, ARM_FIRST_STORES[0]),
            (ROM + 0x1100, stored, ARM_FIRST_STORES[1]),
        ],
    );
    assert!(
        lines[0].contains(&format!("(virtual {VIRTUAL:#010x})")),
        "{lines:?}"
    );
}

/// Code executing from ROM (a boot flash) that stores over itself: the store is dropped like
/// any other, and the code runs on.
#[test]
fn code_running_from_rom_cannot_overwrite_itself() {
    let mut m = Machine::new(&words(SELF_STORE));
    m.cpu.start_at(ROM as u32);
    m.run_to(ROM as u32 + 4 * SELF_STORE.len() as u32);
    m.assert_rom_unchanged();
    assert_eq!(m.cpu.reg(Reg::R(3)), SELF_STORE[0], "reread its own code");
    assert_eq!(m.cpu.reg(Reg::R(9)), 1, "ran on after the store");
    assert_eq!(m.cpu.dropped_rom_writes(), 1);
    let lines = rom_log_lines();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].contains(&format!("pc {:#010x}", ROM + 12)),
        "{lines:?}"
    );
}

/// The host (a loader, a debugger) still writes ROM.
#[test]
fn host_writes_to_rom_land() {
    let mut m = Machine::new(&[]);
    m.cpu.write_memory(ROM + 0x10, &[1, 2, 3, 4]).unwrap();
    assert_eq!(&m.rom.snapshot()[0x10..0x14], &[1, 2, 3, 4]);
    assert_eq!(m.cpu.dropped_rom_writes(), 0);
    assert!(rom_log_lines().is_empty());
}
