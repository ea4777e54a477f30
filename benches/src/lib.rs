//! Harnesses that run the bench-guests ELFs for the criterion benchmarks in this folder.
//!
//! - [`CoreGuest`]: the `cpu` crate alone (the patched unicorn core), 16 MiB of RAM at DRAM
//!   and a console stub at UART5: what the guest's own instructions cost.
//! - [`SocGuest`]: the whole [`AspeedSoc`], so MMIO goes through the SoC's bus dispatch to the
//!   real devices (UART5, the GIC, the FMC and its SPI NOR).
//!
//! Both load a guest once and then run its loop any number of times: [`CoreGuest::run`] and
//! [`SocGuest::run`] set the loop count, point the CPU at the entry and run to the final WFI.
#![deny(missing_docs)]

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;
use std::time::{Duration, Instant};

use aspeed_soc::map::ast2600::{DRAM, UART5};
use aspeed_soc::{AspeedSoc, BoardConfig};
use bench_guests::Guest;
use bus::MemoryBlock;
use cpu::{Access, Cpu, Exit, MmioHandler, TimerOutputs, VirtualClock};

const CORE_RAM: u64 = 16 << 20;

/// Console output shared between a guest's UART and the harness.
#[derive(Clone, Default)]
pub struct Console(Rc<RefCell<Vec<u8>>>);

impl Console {
    /// How many times `marker` was printed; clears the output.
    fn take_count(&self, marker: &str) -> usize {
        let text = String::from_utf8_lossy(&self.0.borrow()).into_owned();
        self.0.borrow_mut().clear();
        text.matches(marker).count()
    }
}

impl Write for Console {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// UART5 as far as the guests' `puts` needs it: THR collects bytes, LSR says "empty".
struct UartStub(Console);

impl MmioHandler for UartStub {
    fn read(&mut self, addr: u64, _size: u8) -> u64 {
        if addr == UART5 + 0x14 {
            0x60
        } else {
            0
        }
    }
    fn write(&mut self, addr: u64, _size: u8, value: u64) {
        if addr == UART5 {
            let _ = self.0.write(&[value as u8]);
        }
    }
}

struct NoTimerOutputs;
impl TimerOutputs for NoTimerOutputs {
    fn set_level(&mut self, _timer: usize, _level: bool) {}
}

/// Loads the guest's PT_LOAD segments (parsed as `--elf` parses them) through `write`;
/// returns the entry point.
fn load_segments(elf: &[u8], mut write: impl FnMut(u64, &[u8])) -> u32 {
    let image = aspeed_soc::elf::parse(elf).expect("guest ELF");
    for seg in &image.segments {
        write(seg.addr, &seg.contents());
    }
    image.entry
}

/// Checks the warm-up run printed the guest's end marker once.
fn assert_ran_to_end(console: &Console, guest: &Guest) {
    assert_eq!(
        console.take_count(bench_guests::END_MARKER),
        1,
        "{} ran to its end",
        guest.name
    );
}

/// A guest on the bare core (no SoC).
pub struct CoreGuest {
    cpu: Cpu,
    guest: Guest,
    entry: u32,
    iterations_addr: u64,
    console: Console,
}

impl CoreGuest {
    /// Loads `guest` into a fresh core.
    pub fn new(guest: Guest) -> Self {
        let mut cpu = Cpu::new(VirtualClock::new(), Box::new(NoTimerOutputs)).expect("core");
        let ram = Rc::new(MemoryBlock::new(CORE_RAM as usize, 0));
        // SAFETY: the block's bytes never move, the CPU keeps it alive, and Rust only copies
        // in and out of it.
        unsafe {
            cpu.map_host_memory(
                DRAM,
                CORE_RAM,
                ram.as_ptr(),
                ram.clone(),
                Access::ReadWriteExec,
            )
            .expect("map RAM")
        };
        let console = Console::default();
        cpu.map_mmio(
            UART5,
            0x1000,
            Rc::new(RefCell::new(UartStub(console.clone()))),
        )
        .expect("map UART");
        let entry = load_segments(guest.elf, |addr, bytes| {
            cpu.write_memory(addr, bytes).expect("load")
        });
        let mut g = CoreGuest {
            cpu,
            guest,
            entry,
            iterations_addr: guest.iterations_addr().into(),
            console,
        };
        g.run(1);
        assert_ran_to_end(&g.console, &guest);
        g
    }

    /// Runs the loop `iterations` times (from the entry to the final WFI); returns the time.
    pub fn run(&mut self, iterations: u32) -> Duration {
        self.cpu
            .write_memory(self.iterations_addr, &iterations.to_le_bytes())
            .expect("iterations");
        self.cpu.start_at(self.entry);
        let start = Instant::now();
        loop {
            match self.cpu.run() {
                Exit::WaitForInterrupt => break,
                Exit::Requested => continue,
                Exit::Fault(e) => panic!("{}: core fault: {e}", self.guest.name),
                other => panic!("{}: unexpected {other:?}", self.guest.name),
            }
        }
        start.elapsed()
    }
}

/// A guest on the whole SoC.
pub struct SocGuest {
    soc: AspeedSoc,
    guest: Guest,
    entry: u32,
    iterations_addr: u64,
    console: Console,
}

impl SocGuest {
    /// Builds the default board (the EVB: 1 GiB DRAM, a 64 MiB flash holding a byte pattern) and loads `guest`.
    pub fn new(guest: Guest) -> Self {
        let flash: Vec<u8> = (0..64u32 << 20).map(|i| (i ^ (i >> 8)) as u8).collect();
        let console = Console::default();
        let config = BoardConfig::with_boot_flash(board::default_board().clone(), flash)
            .expect("the EVB's flash");
        let mut soc = AspeedSoc::new(config, Box::new(console.clone())).expect("SoC");
        let entry = soc.load_elf(guest.elf).expect("load the guest");
        let mut g = SocGuest {
            soc,
            guest,
            entry,
            iterations_addr: guest.iterations_addr().into(),
            console,
        };
        g.run(1);
        assert_ran_to_end(&g.console, &guest);
        g
    }

    /// Runs the loop `iterations` times (from the entry to the final WFI); returns the time.
    pub fn run(&mut self, iterations: u32) -> Duration {
        self.soc
            .write_physical(self.iterations_addr, &iterations.to_le_bytes())
            .expect("iterations");
        self.soc.start_at(self.entry);
        let start = Instant::now();
        if let Err(e) = self.soc.run_until_wfi() {
            panic!("{}: {e}", self.guest.name);
        }
        start.elapsed()
    }
}

/// One long run: the rate in the guest's units per second, and ns per unit.
pub fn summary(guest: &Guest, iterations: u32, elapsed: Duration) -> String {
    let units = f64::from(iterations) * f64::from(guest.per_iteration());
    let secs = elapsed.as_secs_f64();
    let rate = units / secs;
    let unit = match guest.unit {
        bench_guests::Unit::Instructions => "MIPS",
        bench_guests::Unit::Bytes => "MB/s",
        _ => "M/s",
    };
    format!(
        "{:<10} {:>9.1} {unit:<5} {:>8.2} ns per {} ({units} {} in {secs:.3} s)",
        guest.name,
        rate / 1e6,
        1e9 / rate,
        guest.unit.singular(),
        guest.unit.name(),
    )
}
