//! The Aspeed SoCs (AST2600: two Cortex-A7 and a GIC; AST2500: one ARM1176 and the VIC) as a
//! board wires them.
//!
//! This crate is the only place that knows addresses ([`map`]: one [`map::SocMap`] per SoC),
//! interrupt numbers, reset and boot. It builds the devices, places them on the bus, maps memory into the CPU and runs the
//! loop that gives the CPU time, fires device deadlines and skips idle time.
#![deny(missing_docs)]

mod board_io;
mod build;
pub mod elf;
mod i2c_devices;
pub mod journal;
pub mod map;
mod mmio;
pub mod snapshot;
mod storage;
mod threads;
mod wiring;

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::Write;
use std::rc::Rc;
use std::sync::Arc;

use bus::{Bus, IrqLine, MemoryBlock};
use cpu::{Access, CpuHandle, DeviceLock, Exit};
use crossbeam_channel::Receiver;
use gic::{Gic, GicOutputs};
use map::{InterruptController, SocMap};
use smc::AspeedSmc;
use spi_nor::SpiNor;
use uart::Uart;

use crate::i2c_devices::I2cDevices;
pub use crate::mmio::TRACE_MMIO_TARGET;
use crate::mmio::{CoreMmio, SocMmio, Unassigned};
pub use crate::threads::Threads;
use crate::threads::{CoreShared, Secondaries, Secondary};
pub use crate::wiring::TRACE_IRQ_TARGET;
use crate::wiring::{
    CpuIrqInput, DramView, IrqTrace, LineNames, ResetRequest, RunningCore, SocClock, TimerToGic,
    TracedSink,
};

pub use crate::board_io::{AdcChannel, GpioLine, KcsCallback, SgpioLine, KCS_TIMEOUT_NS};
pub use crate::build::STRAY_UART_TARGET;
pub use crate::i2c_devices::{
    celsius_to_millicelsius, parse_celsius, SensorKind, TemperatureHandle, DEFAULT_MILLICELSIUS,
    I2C_BUS_COUNT, MAX_CELSIUS, MIN_CELSIUS,
};
pub use crate::mmio::MMIO_LOG_TARGET;
pub use crate::snapshot::{FlashOrigin, SnapshotInfo};
pub use crate::storage::{CardSlot, CardStorage, SharedCardStorage, StorageSaver};
pub use board;
pub use cpu::{Cp15, Cpu, CpuModel, Reg, VirtualClock, WatchHit, WatchKind};
pub use spi_nor::FlashModel;

/// What to build: a board and the contents of its flash chips.
pub struct BoardConfig {
    /// The board.
    pub board: board::Board,
    /// Contents of each flash chip in the board's flash order ([`board::Board::flash_order`]:
    /// FMC CE0 first), each exactly its model's size ([`flash_sizes`]); ignored (empty) for a
    /// chip that has a `flash_files` entry.
    pub flashes: Vec<Vec<u8>>,
    /// For each flash chip, a raw file that is its contents, if it has one (missing entries:
    /// none): the chip's memory is then the file mapped private and copy-on-write, shared
    /// with every machine mapping it, instead of a copy.
    pub flash_files: Vec<Option<std::fs::File>>,
    /// Cores to run (1 or 2; at most the board's `cpus`). A second core starts with the
    /// first: at the reset vector, or at a bare-metal ELF's entry.
    pub cores: usize,
    /// A deterministic run, if asked for.
    pub deterministic: Option<Deterministic>,
}

/// A deterministic run's journal of host input.
enum Journal {
    Record(journal::Recorder),
    Replay(journal::Replayer),
}

/// A deterministic run (`--deterministic`): the guest's time comes from the instructions the
/// cores execute, [`Deterministic::NS_PER_INSN`] each, never from the host's clock; the cores
/// take turns of [`Deterministic::TURN`] instructions, each run ending exactly at the next
/// device or timer deadline; idle time is skipped straight to the next deadline; the RTC
/// starts at [`Deterministic::RTC_EPOCH`] and the SCU's random numbers come from the seed. Two
/// runs of the same guest with the same host input at the same points then do the same,
/// console bytes and kernel timestamps included. Host input (console bytes, network frames,
/// control-socket commands) is taken where the run loop looks anyway (the end of a turn, an
/// idle machine's wait), so when it arrives is the host's doing, unless a record is replayed
/// ([`journal`]). An idle machine's jumps are paced to the host's clock as in ordinary runs
/// (the same jumps, waited for in host time once the skip budget is spent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deterministic {
    /// Seed of the SCU's random number generator.
    pub seed: u32,
}

impl Deterministic {
    /// Virtual nanoseconds per instruction: a 1 GHz core that retires one instruction a cycle.
    pub const NS_PER_INSN: u64 = 1;
    /// The most instructions a core runs before the next core's turn (1 ms of guest time; host input waits at most this long).
    pub const TURN: u64 = 1_000_000;
    /// The RTC's time at power-on: 2026-01-01 00:00:00 UTC.
    pub const RTC_EPOCH: i64 = 1_767_225_600;
}

impl BoardConfig {
    /// `board` with `boot` in its boot flash and every other chip erased (0xFF).
    pub fn with_boot_flash(board: board::Board, boot: Vec<u8>) -> Result<Self, SocError> {
        let mut flashes = vec![boot];
        for size in flash_sizes(&board)?.into_iter().skip(1) {
            flashes.push(vec![0xff; size as usize]);
        }
        Ok(Self {
            board,
            flashes,
            flash_files: Vec::new(),
            cores: 1,
            deterministic: None,
        })
    }
}

/// The size of each of `board`'s flash chips, in its flash order: what each image must be.
pub fn flash_sizes(board: &board::Board) -> Result<Vec<u64>, SocError> {
    board
        .flash_order()
        .iter()
        .map(|c| build::flash_model(&c.model).map(|m| m.size))
        .collect()
}

/// A piece of work for the SoC's thread ([`HostEvent::Call`]).
pub type HostCall = Box<dyn FnOnce(&mut AspeedSoc) -> Option<Stop> + Send>;

/// What the host asks of a running SoC.
pub enum HostEvent {
    /// Bytes typed on the console.
    ConsoleInput(Vec<u8>),
    /// Bytes for the receiver of a UART or VUART other than the console, by name (`uart1`,
    /// `vuart1`): [`AspeedSoc::serial_input`].
    SerialInput {
        /// The UART's name.
        uart: String,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// Work for the thread that runs the SoC (a monitor or control-socket command), run
    /// between two CPU slices; what it returns stops the run if `Some`.
    Call(HostCall),
    /// Write the flash back to where it came from now (`Ctrl-a s`), if the host asked for that.
    SaveFlash,
    /// Stop emulating for a while: [`AspeedSoc::run`] returns [`Stop::Paused`] (a debugger
    /// attaches).
    Pause,
    /// Stop emulating.
    Quit,
}

impl fmt::Debug for HostEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostEvent::ConsoleInput(b) => f.debug_tuple("ConsoleInput").field(b).finish(),
            HostEvent::SerialInput { uart, bytes } => f
                .debug_struct("SerialInput")
                .field("uart", uart)
                .field("bytes", bytes)
                .finish(),
            HostEvent::Call(_) => f.write_str("Call(..)"),
            HostEvent::SaveFlash => f.write_str("SaveFlash"),
            HostEvent::Pause => f.write_str("Pause"),
            HostEvent::Quit => f.write_str("Quit"),
        }
    }
}

/// Something that happened in the SoC that the host may want to report ([`AspeedSoc::set_event_sink`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocEvent {
    /// The SoC was reset: devices and CPU back to their reset state.
    Reset(ResetCause),
    /// The guest changed a GPIO output it drives.
    GpioOutput {
        /// The controller's name (`gpio0`).
        controller: &'static str,
        /// The controller's index.
        index: usize,
        /// The line as Linux numbers it.
        line: u32,
        /// The device tree's name for the line, if any.
        name: Option<String>,
        /// The new level.
        high: bool,
    },
    /// The guest changed a serial GPIO output (an odd line).
    SgpioOutput {
        /// The master's name (`sgpiom0`).
        master: &'static str,
        /// The line as Linux numbers it.
        line: u32,
        /// The new level.
        high: bool,
    },
    /// An ADC channel's reading left the bounds the guest set.
    AdcThreshold {
        /// The engine.
        engine: usize,
        /// Its channel.
        channel: usize,
        /// The code it read.
        raw: u16,
        /// Above the upper bound (else below the lower one).
        above: bool,
    },
    /// The guest set the RTC (`hwclock -w`): seconds since the Unix epoch.
    RtcSet(i64),
    /// A KCS request from the host ([`AspeedSoc::kcs_request`]) finished.
    KcsReply {
        /// The channel (1-4).
        channel: usize,
        /// The BMC's reply, or why there is none.
        reply: Result<Vec<u8>, String>,
    },
}

/// Why the SoC was reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetCause {
    /// A watchdog fired: its timeout expired, or the guest rebooted through it (Linux's
    /// `reboot` on the AST2600 arms a watchdog with a short timeout).
    Watchdog,
    /// The host asked ([`AspeedSoc::reset`]: the monitor's `reset`, `system-reset`).
    Host,
}

/// When busy waits (the guest polling the timer counter in a tight loop) are skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusyWaitSkip {
    /// Never: they take their real time, as on hardware.
    Never,
    /// Always: virtual time moves ahead on each counter read (scripts, CI).
    Always,
    /// Except while the guest polls the console UART for input (two or more LSR reads with
    /// nothing received and nothing transmitted between them: u-boot's autoboot countdown),
    /// so a person at the console gets the countdown in real time to press a key while every
    /// other busy wait is skipped.
    ExceptConsoleInput,
}

/// Where [`SocEvent`]s go.
pub type EventSink = Box<dyn FnMut(&SocEvent)>;

/// Runs a recorded command ([`journal::Input::Command`]) while a record is replayed: the
/// command table's name and checked JSON arguments ([`AspeedSoc::set_command_replayer`]).
pub type CommandReplayer =
    Box<dyn FnMut(&mut AspeedSoc, &str, &serde_json::Value) -> Result<(), String>>;

/// Where a MAC's transmitted frames go (a network backend).
pub type NetSink = Box<dyn FnMut(&[u8])>;

/// Where guest writes to the boot flash go when the user asked for them to persist.
pub type FlashSink = Box<dyn FnMut(&[u8]) -> Result<(), String>>;

/// Why [`AspeedSoc::run`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The host asked to quit.
    Quit,
    /// The guest halted for good: `poweroff` or `halt` on a board with no power controller
    /// leaves the CPU spinning with interrupts masked.
    Halted,
    /// The CPU stopped on an unrecoverable error.
    Fault(String),
    /// The host asked for a pause ([`HostEvent::Pause`]); [`AspeedSoc::run`] can carry on.
    Paused,
}

/// How a debugger lets the guest run ([`AspeedSoc::debug_run`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DebugResume {
    /// Every core, taking turns, until a breakpoint, an interruption or a stop.
    Continue,
    /// One instruction on the core with this index; the other cores stay where they are. A
    /// core waiting in WFI or WFE stops waiting (as the architecture allows at any time) and
    /// runs its next instruction; one parked in the SMP mailbox stays there.
    Step(usize),
}

/// Why [`AspeedSoc::debug_run`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DebugStop {
    /// The CPU reached a breakpoint (its address); the instruction has not run.
    Breakpoint(u64),
    /// An instruction accessed watched memory; it has run, the next one has not.
    Watchpoint(WatchHit),
    /// The single step is done (on the core [`DebugResume::Step`] named).
    Stepped,
    /// The debugger has something to say (its `interrupted` check returned true).
    Interrupted,
    /// The emulation stopped for good or the host asked for something else.
    Stop(Stop),
}

/// Errors building the SoC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocError(pub String);

impl std::fmt::Display for SocError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SocError {}

impl From<cpu::CpuError> for SocError {
    fn from(e: cpu::CpuError) -> Self {
        SocError(e.0)
    }
}

impl From<bus::BusError> for SocError {
    fn from(e: bus::BusError) -> Self {
        SocError(e.to_string())
    }
}

/// Counts of what the run loop did, for `--timeline`-style reports and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunStats {
    /// Returns from the CPU.
    pub slices: u64,
    /// Times the CPU waited in WFI.
    pub wfi: u64,
    /// Times a core slept in WFE.
    pub wfe: u64,
    /// Times virtual time jumped ahead while idle.
    pub idle_skips: u64,
    /// SoC resets (watchdog).
    pub resets: u64,
    /// Switches of the FMC window between direct memory and the controller.
    pub window_switches: u64,
    /// Virtual time skipped while idle (ns).
    pub skipped_ns: u64,
    /// Wall time spent waiting for a deadline because the skip budget was used up (ns).
    pub waited_ns: u64,
    /// Wall time the run loop spent blocked while the CPU idled (ns), measured.
    pub idle_wall_ns: u64,
    /// Wall time in device work (ns): deadlines and pending work between CPU slices, plus
    /// every MMIO access while [`AspeedSoc::set_timing`] is on.
    pub device_wall_ns: u64,
    /// MMIO accesses timed (only while [`AspeedSoc::set_timing`] is on).
    pub mmio_accesses: u64,
    /// Virtual time skipped in busy waits (ns), with [`AspeedSoc::set_busy_wait_skip`] on.
    pub busy_skipped_ns: u64,
    /// Wall time inside each core's slices (ns), by core.
    pub core_wall_ns: Vec<u64>,
}

/// For how long after the guest sent a frame its idle time is waited for in host time, not
/// skipped: a reply from another machine (a BMC on a rack's switch, the host behind slirp)
/// takes host time to come, and a guest that skipped ahead meanwhile would measure a ping of
/// milliseconds as seconds and let its network timeouts run out first.
pub const NET_REPLY_WINDOW: std::time::Duration = std::time::Duration::from_millis(50);

/// How far idle time may be skipped: a token bucket of virtual nanoseconds.
///
/// Skipping makes boots fast (a kernel's `msleep`s cost nothing), but an idle guest whose timer
/// events were all skipped would run its clock far ahead of the host and burn a host core doing
/// it. So skips draw on a budget that refills with wall time: a burst of `BURST_NS`, refilled
/// at `REFILL` skipped ns per wall ns. A sustained idle guest then sees time pass at most
/// `1 + REFILL` times the host's rate, with the host CPU idle in between.
struct SkipBudget {
    tokens: u64,
    last_wall: std::time::Instant,
}

impl SkipBudget {
    const BURST_NS: u64 = 30_000_000_000;
    const REFILL: u64 = 1;

    fn new() -> Self {
        Self {
            tokens: Self::BURST_NS,
            last_wall: std::time::Instant::now(),
        }
    }

    /// Takes up to `want` ns from the budget; returns how much may be skipped.
    fn take(&mut self, want: u64) -> u64 {
        let now = std::time::Instant::now();
        let earned = now.duration_since(self.last_wall).as_nanos() as u64 * Self::REFILL;
        self.last_wall = now;
        self.tokens = (self.tokens + earned).min(Self::BURST_NS);
        let grant = want.min(self.tokens);
        self.tokens -= grant;
        grant
    }
}

/// The SoC: CPU, memory and devices.
pub struct AspeedSoc {
    /// The cores; they take turns on this thread, `current` running now.
    cores: Vec<Core>,
    current: usize,
    /// Reaches the core that runs now: what host threads, the ticker and devices kick.
    kick: CpuHandle,
    /// The core inside `Cpu::run` now, for the cores' interrupt inputs.
    running: RunningCore,
    /// DRAM as the DMA masters write it: what they wrote, for dropping translated code.
    dma_view: Rc<DramView>,
    /// DRAM and SRAM themselves (for snapshots).
    dram: Rc<MemoryBlock>,
    sram: Rc<MemoryBlock>,
    /// Where each flash chip's image came from (by flash index), for snapshots.
    flash_origins: Vec<(usize, snapshot::FlashOrigin)>,
    /// SD and eMMC cards inserted.
    cards_inserted: usize,
    /// Their storage, for snapshots.
    card_storages: Vec<(CardSlot, storage::SharedCardStorage)>,
    /// A snapshot was loaded: virtual time stands still until the guest runs again.
    restore_holds_clock: bool,
    /// A snapshot was loaded (the flash no longer holds the images it was built with).
    loaded_snapshot: bool,
    /// The core the monitor chose (`cpu N`), if it chose one; else the one that ran last.
    selected: Option<usize>,
    clock: VirtualClock,
    bus: Rc<Bus>,
    /// The SoC's memory map and interrupt numbers.
    map: &'static SocMap,
    intc: Intc,
    fmc: Rc<RefCell<AspeedSmc>>,
    /// The flash chips in the board's `--flash` order: `flashes[0]` is the boot flash.
    flashes: Vec<Rc<RefCell<SpiNor>>>,
    console: Rc<RefCell<Uart<Box<dyn Write>>>>,
    reset: Rc<ResetRequest>,
    mmio: Rc<RefCell<SocMmio>>,
    window_direct: bool,
    pending_input: Vec<u8>,
    /// Every UART and VUART but the console, with the host input waiting for its receiver.
    serial: Vec<SerialPort>,
    i2c: I2cDevices,
    /// Where each flash's guest writes persist (by flash index), if anywhere.
    flash_sinks: Vec<(usize, FlashSink)>,
    storage_savers: Vec<StorageSaver>,
    wake_tx: crossbeam_channel::Sender<()>,
    wake_rx: Receiver<()>,
    macs: Vec<Rc<RefCell<ftgmac100::Ftgmac100>>>,
    phys: Vec<Option<Rc<RefCell<mdio::Phy>>>>,
    nics: Vec<NicPort>,
    stats: RunStats,
    skip: SkipBudget,
    /// When the guest last sent a frame to a network backend (see [`NET_REPLY_WINDOW`]).
    net_sent: Rc<Cell<Option<std::time::Instant>>>,
    /// A deterministic run: time from instructions, turns by instruction counts.
    deterministic: Option<Deterministic>,
    stuck_exits: u32,
    irq_trace: Rc<IrqTrace>,
    dram_size: u64,
    board: board::Board,
    /// When busy waits are skipped.
    busy_mode: BusyWaitSkip,
    /// Held by the host (`stop`): [`AspeedSoc::run`] serves host events but runs no guest code.
    stopped: bool,
    /// Inside [`AspeedSoc::debug_run`]: the debugger decides what runs, `stopped` or not.
    debugging: bool,
    /// A debugger is attached ([`AspeedSoc::set_debugger_attached`]).
    debugger_attached: bool,
    event_sink: Option<EventSink>,
    /// Runs the commands a replayed record holds.
    command_replayer: Option<CommandReplayer>,
    io: board_io::BoardIo,
    /// How the cores share the host ([`AspeedSoc::set_threads`]).
    threads: Threads,
    /// Serialises device access once cores run on threads of their own.
    lock: Arc<DeviceLock>,
    /// The threads of cores 1.. in [`Threads::Multi`] (started by the first run).
    secondaries: Secondaries,
    /// How many cores (0..local) the SoC's thread runs itself: all, but only core 0 while
    /// [`AspeedSoc::run`] runs the others on their threads.
    local: usize,
    /// The secondaries run on their threads (in [`Threads::Multi`]): from the moment the
    /// firmware has parked them in the SMP mailbox after a reset (before, the cores take
    /// turns: u-boot's start code races the cores against each other, see `hand_off`), or at
    /// once for a bare-metal ELF.
    handed_off: bool,
    /// The firmware's start race is over, in either threading: every secondary has parked in
    /// the SMP mailbox once since the last reset, or the machine started from an ELF. A
    /// snapshot keeps it, so a machine restored with `--threads multi` hands its secondaries
    /// to their threads at once.
    race_over: bool,
    /// What the firmware's device trees said besides the board ([`AspeedSoc::set_tree_facts`]).
    tree_facts: board::TreeFacts,
    /// A deterministic run: instructions left in the current core's turn.
    turn_left: u64,
    /// A deterministic run's host input, recorded or replayed.
    journal: Option<Journal>,
    /// A deterministic run: host events that came while idle, taken at the run loop's top.
    deferred: std::collections::VecDeque<HostEvent>,
}

/// The SoC's interrupt controller.
enum Intc {
    /// The AST2600's GIC (banked per core).
    Gic(Gic),
    /// The AST2500's VIC.
    Vic(vic::Vic),
}

/// One core and what the run loop keeps of it.
struct Core {
    cpu: Cpu,
    /// Its IRQ and FIQ inputs, as the GIC drives them.
    irq: Rc<CpuIrqInput>,
    /// What it waits for, if anything.
    wait: Wait,
    /// It jumped into u-boot's wait loop in the SMP mailbox: it runs again when the go
    /// signature for it appears (see [`map::SmpMailbox`]).
    parked: bool,
    /// Slices left in which this secondary, since reset, runs before the other cores until it
    /// first waits or parks (0: no head start). On the chip every core leaves reset at once,
    /// and u-boot's start code relies on it: each core clears the SMP mailbox's ready word on
    /// entry, and the first core sets it well after; a secondary whose first slice a host kick
    /// cut short before its clear would wipe the word the first core had since set, and wait
    /// for it for ever.
    head_start: u32,
}

/// The most slices a secondary's head start after reset lasts (it ends at its first wait).
const HEAD_START_SLICES: u32 = 1000;

/// Core `index`'s head start out of reset: none for the first core.
const fn head_start_after_reset(index: usize) -> u32 {
    if index == 0 {
        0
    } else {
        HEAD_START_SLICES
    }
}

/// What a core waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Nothing: it runs.
    Nothing,
    /// An interrupt (WFI).
    Interrupt,
    /// An event (WFE found its event register clear) since this virtual time (ns): another
    /// core's SEV, an interrupt, or [`WFE_WAKE_NS`] passing, whichever comes first.
    Event(u64),
}

/// The longest a core sleeps in WFE: the period of the generic timer's event stream Linux
/// turns on (10 kHz). A guest that waits in WFE for a store without SEV still sees it soon;
/// waking early is always allowed.
const WFE_WAKE_NS: u64 = 100_000;

impl Core {
    /// When its WFE sleep ends at the latest, if it sleeps in WFE.
    fn wfe_wake_at(&self) -> Option<u64> {
        match self.wait {
            Wait::Event(since) => Some(since + WFE_WAKE_NS),
            _ => None,
        }
    }

    /// Whether it waits, with nothing yet to wake it (an interrupt pending, an event, its
    /// WFE time up at `now`). Clears what woke it.
    fn still_waiting(&mut self, now: u64) -> bool {
        match self.wait {
            Wait::Nothing => false,
            Wait::Interrupt if self.irq.pending() => {
                self.wait = Wait::Nothing;
                false
            }
            Wait::Interrupt => true,
            Wait::Event(since) => {
                let woken = self.cpu.take_event()
                    || self.irq.pending()
                    || now.saturating_sub(since) >= WFE_WAKE_NS;
                if woken {
                    self.wait = Wait::Nothing;
                }
                !woken
            }
        }
    }
}

/// What `--trace` turns on (all off by default, and free when off).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    /// Devices (bus names, as `info mtree` lists them) whose every access is logged at
    /// [`TRACE_MMIO_TARGET`] with the PC, offset, value and width.
    pub mmio: Vec<String>,
    /// Log every interrupt line change at [`TRACE_IRQ_TARGET`].
    pub irq: bool,
}

impl AspeedSoc {
    /// Builds `config.board`, its console UART writing to `console`.
    pub fn new(config: BoardConfig, console: Box<dyn Write>) -> Result<Self, SocError> {
        let board = config.board;
        let deterministic = config.deterministic;
        let clock = if deterministic.is_some() {
            VirtualClock::counting(Deterministic::NS_PER_INSN)
        } else {
            VirtualClock::new()
        };
        let dev_clock: Rc<dyn bus::Clock> = Rc::new(SocClock(clock.clone()));

        let m = SocMap::of(board.soc);
        let n_cores = config.cores.clamp(1, m.cpu_count);
        if n_cores > board.cpus as usize {
            return Err(SocError(format!(
                "board {} has {} core(s), not {n_cores}",
                board.name, board.cpus
            )));
        }
        // Interrupts: devices -> GIC or VIC -> each core. A core's inputs exist only once it
        // does.
        let irq_trace = IrqTrace::new(clock.clone());
        let (wake_tx, wake_rx) = crossbeam_channel::bounded(1);
        let kick = CpuHandle::detached();
        let running: RunningCore = Rc::new(Cell::new(None));
        let core_irqs: Vec<Rc<CpuIrqInput>> = (0..n_cores)
            .map(|i| Rc::new(CpuIrqInput::new(i, running.clone(), kick.clone())))
            .collect();
        let core_outputs = |i: usize| match core_irqs.get(i) {
            Some(input) => {
                let sink = TracedSink::wrap(input.clone(), &irq_trace, 2, LineNames::Core(i));
                (IrqLine::new(sink.clone(), 0), IrqLine::new(sink, 1))
            }
            None => (IrqLine::disconnected(), IrqLine::disconnected()),
        };
        let (intc, intc_sink): (Intc, Rc<dyn bus::IrqSink>) = match m.intc {
            InterruptController::Gic { .. } => {
                // Both CPU interfaces exist (Linux probes the target masks); an absent core's
                // outputs go nowhere.
                let outputs = (0..m.cpu_count)
                    .map(|i| {
                        let (irq, fiq) = core_outputs(i);
                        GicOutputs { irq, fiq }
                    })
                    .collect();
                let gic = Gic::new(256, outputs);
                let sink = TracedSink::wrap(gic.spi_sink(), &irq_trace, 256, LineNames::Spi(m));
                // Device numbers are SPIs: GIC ID 32 + n.
                (Intc::Gic(gic), Rc::new(wiring::Offset(sink, 32)))
            }
            InterruptController::Vic => {
                let (irq, fiq) = core_outputs(0);
                let vic = vic::Vic::new(irq, fiq);
                let sink = TracedSink::wrap(
                    vic.sink(),
                    &irq_trace,
                    vic::NUM_SOURCES as usize,
                    LineNames::Vic(m),
                );
                (Intc::Vic(vic), sink)
            }
        };
        let intc_line = |n: u32| IrqLine::new(intc_sink.clone(), n);
        let lock = Arc::new(DeviceLock::new());
        let mut cores = Vec::with_capacity(n_cores);
        for (i, irq) in core_irqs.into_iter().enumerate() {
            let timer_outputs: Box<dyn cpu::TimerOutputs> = match &intc {
                Intc::Gic(gic) => Box::new(TimerToGic::new(TracedSink::wrap(
                    gic.ppi_sink(i),
                    &irq_trace,
                    32,
                    LineNames::Ppi(i, m),
                ))),
                Intc::Vic(_) => Box::new(wiring::NoTimer),
            };
            let mut cpu = Cpu::with_model(m.cpu, clock.clone(), timer_outputs)?;
            cpu.use_device_lock(lock.clone());
            if deterministic.is_some() {
                cpu.set_counting(true)?;
            }
            irq.connect(cpu.handle());
            if let Some(mpidr) = m.cpu0_mpidr {
                cpu.set_mp_affinity(mpidr + i as u32)?;
            }
            // A write to the FMC's registers can switch its window between direct memory and
            // the controller: the CPU must stop right after it, before it touches the window.
            if let Some((base, size)) = m.smc_registers(board::Controller::Fmc) {
                cpu.set_io_barrier(base, size);
            }
            cores.push(Core {
                cpu,
                irq,
                wait: Wait::Nothing,
                parked: false,
                head_start: head_start_after_reset(i),
            });
        }
        // One system counter for all cores, and one inner-shareable domain (TLB maintenance,
        // SEV and code writes reach every core).
        for j in 1..cores.len() {
            let (earlier, rest) = cores.split_at_mut(j);
            rest[0].cpu.share_counter_with(&earlier[0].cpu);
            for core in earlier {
                rest[0].cpu.share_domain_with(&mut core.cpu)?;
            }
        }
        kick.follow(&cores[0].cpu);
        let reset = Rc::new(ResetRequest::new(kick.clone()));

        // Memory.
        let dram_size = board.dram_bytes();
        if dram_size > m.dram_window_size {
            return Err(SocError(format!(
                "board {}: {} MiB of DRAM do not fit the {} MiB DRAM window",
                board.name,
                board.dram_mib,
                m.dram_window_size >> 20
            )));
        }
        // A mapping, so that a snapshot's DRAM can be mapped in its place.
        let dram =
            Rc::new(MemoryBlock::mapped(dram_size as usize).map_err(|e| {
                SocError(format!("cannot allocate {dram_size} bytes of DRAM: {e}"))
            })?);
        let sram = Rc::new(MemoryBlock::new(m.sram_size as usize, 0));
        let mut flash_files = config.flash_files;
        let mut flash_contents = Vec::new();
        for (i, bytes) in config.flashes.into_iter().enumerate() {
            let block = match flash_files.get_mut(i).and_then(Option::take) {
                Some(file) => file
                    .metadata()
                    .and_then(|m| MemoryBlock::from_file(&file, m.len() as usize))
                    .map_err(|e| SocError(format!("flash {i}: cannot map its image: {e}")))?,
                None => MemoryBlock::from_vec(bytes),
            };
            flash_contents.push(Rc::new(block));
        }
        let dma_view = Rc::new(DramView::new(m.dram, dram.clone()));
        let dram_view: Rc<dyn bus::GuestMemory> = dma_view.clone();

        // Every device of the SoC's table, as the board wires it.
        let devices = build::devices(
            &board,
            flash_contents,
            console,
            &build::Wiring {
                map: m,
                irq: &intc_line,
                dram: dram_view,
                clock: dev_clock,
                reset: reset.clone(),
                intc: &intc,
                // The RTC keeps the host's time, as a battery-backed one set in the factory
                // (a deterministic run: a fixed one).
                unix_time: match deterministic {
                    Some(_) => Deterministic::RTC_EPOCH,
                    None => std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs() as i64),
                },
                rng: match deterministic {
                    Some(d) => scu::RngSource::Seeded(d.seed),
                    None => scu::RngSource::Host,
                },
            },
        )?;
        let fmc = devices
            .smcs
            .iter()
            .find(|(c, _)| *c == board::Controller::Fmc)
            .map(|(_, s)| s.clone())
            .ok_or_else(|| SocError("the SoC table has no FMC".into()))?;
        let bus = Rc::new(devices.bus);
        if let Intc::Gic(gic) = &intc {
            gic.set_current_cpu(0);
        }

        // The CPU's view: memory mapped directly, registers through the bus.
        let fmc_registers = m
            .smc_registers(board::Controller::Fmc)
            .map_or(0..0, |(base, size)| base..base + size);
        let mmio = Rc::new(RefCell::new(SocMmio::new(
            bus.clone(),
            fmc.clone(),
            fmc_registers,
            kick.clone(),
        )));
        if !m.cpu.has_generic_timer() {
            if let Some(t) = m.placement(map::Block::Timer) {
                mmio.borrow_mut().timer_poll =
                    Some(mmio::TimerPoll::new(t.base..t.base + t.size, clock.clone()));
            }
        }
        let flash_mem = devices.flashes[0].borrow().memory().clone();
        let flash_len = flash_mem.len() as u64;
        let window_direct = true;
        let unassigned = Rc::new(RefCell::new(Unassigned::default()));
        let (fmc_window, fmc_window_size) = m
            .flash_window(board::Controller::Fmc)
            .ok_or_else(|| SocError("the SoC table has no FMC window".into()))?;
        if flash_len > fmc_window_size {
            return Err(SocError(format!(
                "the boot flash ({} MiB) is larger than the FMC window ({} MiB)",
                flash_len >> 20,
                fmc_window_size >> 20
            )));
        }
        // Memory the CPU reaches directly (loads and stores never leave translated code), and
        // the regions served register by register; the rest reads as zero, logged once.
        let direct = [
            (m.boot_alias, flash_len, &flash_mem, Access::ReadExec),
            (m.sram, m.sram_size, &sram, Access::ReadWriteExec),
            (m.dram, dram_size, &dram, Access::ReadWriteExec),
            (fmc_window, flash_len, &flash_mem, Access::ReadExec),
        ];
        let mut registers = vec![(m.peripherals, m.peripherals_size)];
        if let InterruptController::Gic {
            private,
            private_size,
        } = m.intc
        {
            registers.push((private, private_size));
        }
        for p in m.placements {
            if matches!(p.block, map::Block::FlashWindow(_)) {
                registers.push((p.base, p.size));
            }
        }
        let registers = subtract(registers, direct.iter().map(|d| (d.0, d.1)));
        mmio.borrow_mut()
            .set_core_kicks(cores.iter().map(|c| c.cpu.handle()).collect());
        for (index, core) in cores.iter_mut().enumerate() {
            let view: Rc<RefCell<dyn cpu::MmioHandler>> = Rc::new(RefCell::new(CoreMmio {
                core: index,
                gic: match &intc {
                    Intc::Gic(gic) => Some(gic.clone()),
                    Intc::Vic(_) => None,
                },
                inner: mmio.clone(),
            }));
            let cpu = &mut core.cpu;
            for (base, size, mem, access) in direct {
                // SAFETY: each MemoryBlock's bytes never move, the CPU keeps the blocks alive,
                // and Rust code only copies in and out of them.
                unsafe {
                    cpu.map_host_memory(base, size, mem.as_ptr(), mem.clone(), access)?;
                }
            }
            for &(base, size) in &registers {
                cpu.map_mmio(base, size, view.clone())?;
            }
            // Everything else in the 4 GiB space reads as zero and is logged once per page.
            let mut mapped: Vec<(u64, u64)> = direct
                .iter()
                .map(|d| (d.0, d.1))
                .chain(registers.iter().copied())
                .collect();
            mapped.sort();
            let mut next = 0u64;
            for (base, size) in mapped.iter().copied().chain([(1u64 << 32, 0)]) {
                if base > next {
                    cpu.map_mmio(next, base - next, unassigned.clone())?;
                }
                next = next.max(base + size);
            }
        }

        Ok(Self {
            cores,
            current: 0,
            kick,
            running,
            dma_view,
            dram,
            sram,
            flash_origins: Vec::new(),
            cards_inserted: 0,
            card_storages: Vec::new(),
            restore_holds_clock: false,
            loaded_snapshot: false,
            selected: None,
            clock,
            bus,
            map: m,
            intc,
            fmc,
            flashes: devices.flashes,
            serial: devices
                .uarts
                .into_iter()
                .filter(|(_, u)| !Rc::ptr_eq(u, &devices.console))
                .map(|(name, uart)| SerialPort {
                    name,
                    uart,
                    pending: std::collections::VecDeque::new(),
                    overflowed: false,
                })
                .collect(),
            console: devices.console,
            reset,
            mmio,
            window_direct,
            pending_input: Vec::new(),
            i2c: devices.i2c,
            flash_sinks: Vec::new(),
            storage_savers: Vec::new(),
            wake_tx,
            wake_rx,
            macs: devices.macs,
            phys: devices.phys,
            nics: Vec::new(),
            stats: RunStats {
                core_wall_ns: vec![0; n_cores],
                ..RunStats::default()
            },
            skip: SkipBudget::new(),
            net_sent: Rc::new(Cell::new(None)),
            stuck_exits: 0,
            irq_trace,
            dram_size,
            board,
            busy_mode: BusyWaitSkip::Never,
            stopped: false,
            debugging: false,
            debugger_attached: false,
            event_sink: None,
            command_replayer: None,
            io: devices.io,
            threads: Threads::Single,
            lock,
            secondaries: Secondaries::default(),
            local: n_cores,
            handed_off: false,
            race_over: false,
            tree_facts: board::TreeFacts::default(),
            turn_left: 0,
            journal: None,
            deferred: std::collections::VecDeque::new(),
            deterministic,
        })
    }

    /// The deterministic run this is, if it is one.
    pub fn deterministic(&self) -> Option<Deterministic> {
        self.deterministic
    }

    /// A deterministic run: writes the host's input to `path` as it comes, each with the
    /// point of the run it was taken at ([`journal`]).
    pub fn record_to(&mut self, path: &std::path::Path) -> Result<(), SocError> {
        let Some(d) = self.deterministic else {
            return Err(SocError("recording needs a deterministic run".into()));
        };
        let header = journal::Header {
            seed: d.seed,
            cores: self.cores.len(),
        };
        self.journal = Some(Journal::Record(journal::Recorder::create(path, header)?));
        Ok(())
    }

    /// A deterministic run: feeds the input recorded in `replay` back at its points, and
    /// ignores the live console and network until it is all fed.
    pub fn replay(&mut self, replay: journal::Replayer) -> Result<(), SocError> {
        if self.deterministic.is_none() {
            return Err(SocError("replaying needs a deterministic run".into()));
        }
        let cores = replay.header().cores;
        if cores != 0 && cores != self.cores.len() {
            return Err(SocError(format!(
                "the record was made with {cores} core(s), this machine has {}",
                self.cores.len()
            )));
        }
        self.journal = Some(Journal::Replay(replay));
        Ok(())
    }

    /// How the commands of a replayed record run (the command table lives above the SoC).
    pub fn set_command_replayer(&mut self, replayer: CommandReplayer) {
        self.command_replayer = Some(replayer);
    }

    /// A command that changes what the guest sees, asked for by the host (the control
    /// socket, the monitor, GDB's `monitor`): noted when recording. `false`: a record is
    /// being replayed and has input left, so the live command must not run (the record
    /// brings its own).
    pub fn journal_command(
        &mut self,
        name: &str,
        arguments: &serde_json::Map<String, serde_json::Value>,
    ) -> bool {
        !self.journal_live(|| {
            journal::Input::Command(
                name.to_string(),
                serde_json::Value::Object(arguments.clone()),
            )
        })
    }

    /// Whether a record is being replayed and still has input to feed.
    pub fn replaying(&self) -> bool {
        matches!(&self.journal, Some(Journal::Replay(r)) if r.remaining() > 0)
    }

    /// Where the run is, for the journal.
    fn point(&self) -> journal::Point {
        journal::Point {
            insns: self.clock.instructions(),
            ns: self.clock.now_ns(),
        }
    }

    /// Live input from the host: noted when recording; ignored while a record plays (true:
    /// drop it).
    fn journal_live(&mut self, input: impl FnOnce() -> journal::Input) -> bool {
        let at = self.point();
        match &mut self.journal {
            Some(Journal::Record(r)) => {
                r.record(at, &input());
                false
            }
            Some(Journal::Replay(r)) if r.remaining() > 0 => {
                r.ignore_live("input");
                true
            }
            _ => false,
        }
    }

    /// A deterministic run's host input at the run loop's top: the events that came while
    /// idle, the frames the network backends sent, and what a record has due now.
    fn take_host_input(&mut self) {
        let live: Vec<(usize, Vec<u8>)> = self
            .nics
            .iter()
            .enumerate()
            .flat_map(|(i, n)| n.from_network.try_iter().map(move |f| (i, f)))
            .collect();
        for (i, frame) in live {
            let mac = self.nics[i].mac;
            if !self.journal_live(|| journal::Input::Frame(mac, frame.clone())) {
                self.nics[i].push(frame);
            }
        }
        let point = self.point();
        let Some(Journal::Replay(r)) = &mut self.journal else {
            return;
        };
        let mut due = Vec::new();
        while let Some(input) = r.take_due(point) {
            due.push(input);
        }
        if !due.is_empty() && r.remaining() == 0 {
            log::info!("replay: the record has played; live input from here on");
        }
        for input in due {
            match input {
                journal::Input::Console(bytes) => self.console_input(&bytes),
                journal::Input::Serial(name, bytes) => {
                    if let Err(e) = self.serial_input(&name, &bytes) {
                        log::warn!("replay: {e}");
                    }
                }
                journal::Input::Frame(mac, frame) => {
                    match self.nics.iter_mut().find(|n| n.mac == mac) {
                        Some(nic) => nic.push(frame),
                        None => log::warn!(
                            "replay: a frame for MAC{} that has no network here (give the same --nic)",
                            mac + 1
                        ),
                    }
                }
                journal::Input::Command(name, arguments) => match self.command_replayer.take() {
                    Some(mut run) => {
                        if let Err(e) = run(self, &name, &arguments) {
                            log::warn!("replay: {name}: {e}");
                        }
                        self.command_replayer = Some(run);
                    }
                    None => log::warn!(
                        "replay: a recorded {name} command, and nothing here runs commands"
                    ),
                },
            }
        }
    }

    /// A record being replayed whose next input is at this instruction count: the time it is
    /// due at (a deadline for an idle machine). Inputs are only ever taken where the run
    /// loop looks anyway (host threads do not kick a deterministic run's CPU), so a replay
    /// reaches each recorded point by itself.
    fn replay_due_at(&self) -> Option<u64> {
        let Some(Journal::Replay(r)) = &self.journal else {
            return None;
        };
        let p = r.next_point()?;
        (p.insns == self.clock.instructions()).then_some(p.ns)
    }

    /// Turns traces on (see [`Trace`]). An unknown device name is an error that lists the
    /// names there are.
    pub fn set_trace(&mut self, trace: &Trace) -> Result<(), SocError> {
        let mut ranges = Vec::new();
        for name in &trace.mmio {
            let found: Vec<_> = self
                .bus
                .mappings()
                .filter(|m| {
                    m.name == *name
                        || (name.ends_with('*') && m.name.starts_with(name.trim_end_matches('*')))
                })
                .map(|m| (m.base, m.base + m.size, m.name.clone()))
                .collect();
            if found.is_empty() {
                let names: Vec<String> = self.bus.mappings().map(|m| m.name.clone()).collect();
                return Err(SocError(format!(
                    "no device called {name:?}; devices: {}",
                    names.join(", ")
                )));
            }
            ranges.extend(found);
        }
        self.mmio
            .borrow_mut()
            .set_trace(ranges, self.kick.io_pc(), self.clock.clone());
        self.irq_trace.on.set(trace.irq);
        Ok(())
    }

    /// The CPU's thread-safe handle (for host threads that must wake the run loop). In a
    /// deterministic run it kicks nothing: the host's input waits for the end of the running
    /// core's turn (at most [`Deterministic::TURN`] instructions), so the CPU never returns at
    /// a point the host's timing chose.
    pub fn cpu_handle(&self) -> CpuHandle {
        self.host_kick()
    }

    fn host_kick(&self) -> CpuHandle {
        if self.deterministic.is_some() {
            CpuHandle::detached()
        } else {
            self.kick.clone()
        }
    }

    /// How many cores run.
    pub fn core_count(&self) -> usize {
        self.cores.len()
    }

    /// The core the monitor and a debugger see: the one `cpu N` chose
    /// ([`AspeedSoc::select_core`]), else the one that ran last.
    pub fn current_core(&self) -> usize {
        self.selected.unwrap_or(self.current)
    }

    /// Makes core `index` the one [`AspeedSoc::cpu_mut`] returns (monitor, debugger).
    pub fn select_core(&mut self, index: usize) -> Result<(), SocError> {
        if index >= self.cores.len() {
            return Err(SocError(format!(
                "there are {} cores, not {}",
                self.cores.len(),
                index + 1
            )));
        }
        self.selected = Some(index);
        Ok(())
    }

    /// Every core, in index order.
    pub fn cores_mut(&mut self) -> impl Iterator<Item = &mut Cpu> {
        self.cores.iter_mut().map(|c| &mut c.cpu)
    }

    /// The core `index`, if there is one.
    pub fn core_mut(&mut self, index: usize) -> Option<&mut Cpu> {
        self.cores.get_mut(index).map(|c| &mut c.cpu)
    }

    /// Whether core `index` waits (in WFI for an interrupt, or in WFE for an event).
    pub fn core_waiting(&self, index: usize) -> bool {
        self.cores
            .get(index)
            .is_some_and(|c| c.wait != Wait::Nothing)
    }

    /// Makes core `index` the one that runs (its banked GIC view, the host's kicks). Free when
    /// it already is: with one core, always.
    fn switch_to(&mut self, index: usize) {
        if index == self.current {
            return;
        }
        self.current = index;
        if let Intc::Gic(gic) = &self.intc {
            gic.set_current_cpu(index);
        }
        self.kick.follow(&self.cores[index].cpu);
    }

    /// The virtual clock.
    pub fn clock(&self) -> &VirtualClock {
        &self.clock
    }

    /// What the run loop has done so far.
    pub fn stats(&self) -> RunStats {
        let mut stats = self.stats.clone();
        stats.busy_skipped_ns = self
            .cores
            .iter()
            .map(|c| c.cpu.timer().busy_wait_skipped_ns())
            .sum::<u64>()
            + self
                .mmio
                .borrow()
                .timer_poll
                .as_ref()
                .map_or(0, |p| p.skipped);
        for c in &self.secondaries.cores {
            let st = c.lock();
            stats.slices += st.slices;
            stats.wfi += st.wfi;
        }
        let (ns, count) = self.mmio.borrow().timing();
        stats.device_wall_ns += ns;
        stats.mmio_accesses = count;
        stats
    }

    /// Skips busy waits: while the guest polls the generic timer's counter in a tight loop
    /// (u-boot's `udelay` and autoboot countdown, Linux's `udelay`), virtual time moves ahead
    /// on each read, never past the next timer or device deadline. Off by default: it also
    /// makes u-boot's autoboot countdown pass before a person could press a key.
    pub fn set_busy_wait_skip(&mut self, on: bool) {
        self.set_busy_wait_mode(if on {
            BusyWaitSkip::Always
        } else {
            BusyWaitSkip::Never
        });
    }

    /// When busy waits are skipped (see [`AspeedSoc::set_busy_wait_skip`] and [`BusyWaitSkip`]).
    pub fn set_busy_wait_mode(&mut self, mode: BusyWaitSkip) {
        self.busy_mode = mode;
        let on = mode != BusyWaitSkip::Never;
        for core in &self.cores {
            core.cpu.timer().set_busy_wait_skip(on);
        }
        let limit = self.cores[0].cpu.timer().busy_wait_limit();
        self.mmio
            .borrow_mut()
            .set_deadline_limit(on.then_some(limit));
    }

    /// Times every MMIO access (for `--timeline`: the share of wall time in device
    /// callbacks). Off by default: it costs two clock reads per access.
    pub fn set_timing(&mut self, on: bool) {
        self.mmio.borrow_mut().set_timing(on);
    }

    /// The memory map as placed on the bus: (base, size, name).
    pub fn memory_map(&self) -> Vec<(u64, u64, String)> {
        self.bus
            .mappings()
            .map(|m| (m.base, m.size, m.name.clone()))
            .collect()
    }

    /// Loads a bare-metal 32-bit ARM ELF (`bytes`) as QEMU's `-kernel` does for a non-Linux
    /// image: each PT_LOAD segment copied to its physical address (zero-filled past its file
    /// bytes), then the CPU pointed at the entry point ([`AspeedSoc::start_at`]). Segments must lie
    /// in DRAM or SRAM. Returns the entry point. Errors are one line, for a user.
    pub fn load_elf(&mut self, bytes: &[u8]) -> Result<u32, SocError> {
        let image = elf::parse(bytes).map_err(SocError)?;
        for seg in &image.segments {
            if !self.is_ram(seg.addr, seg.mem_size) {
                return Err(SocError(format!(
                    "the segment at {:#x} ({} bytes) is outside RAM (DRAM {:#x}-{:#x}, SRAM {:#x}-{:#x})",
                    seg.addr,
                    seg.mem_size,
                    self.map.dram,
                    self.map.dram + self.dram_size - 1,
                    self.map.sram,
                    self.map.sram + self.map.sram_size - 1
                )));
            }
        }
        for seg in &image.segments {
            self.write_physical(seg.addr, &seg.contents())?;
        }
        self.start_at(image.entry);
        Ok(image.entry)
    }

    /// Whether `[addr, addr + len)` lies within DRAM or within SRAM.
    fn is_ram(&self, addr: u64, len: u64) -> bool {
        let Some(end) = addr.checked_add(len) else {
            return false;
        };
        [
            (self.map.dram, self.dram_size),
            (self.map.sram, self.map.sram_size),
        ]
        .iter()
        .any(|&(base, size)| addr >= base && end <= base + size)
    }

    /// Copies `data` into RAM (DRAM or SRAM) at physical `addr`, dropping translated code it
    /// overwrites (loaders, test harnesses).
    pub fn write_physical(&mut self, addr: u64, data: &[u8]) -> Result<(), SocError> {
        if !self.is_ram(addr, data.len() as u64) {
            return Err(SocError(format!("{addr:#x}+{:#x} is not RAM", data.len())));
        }
        self.cores[0].cpu.write_memory(addr, data)?;
        // The memory is shared; every other core drops what it translated there too.
        for core in &mut self.cores[1..] {
            core.cpu.invalidate_code(addr, data.len() as u64);
        }
        Ok(())
    }

    /// Points the CPU at `entry` (Thumb state if bit 0 is set) in SVC mode with IRQ and FIQ
    /// masked, the state QEMU's `-kernel` starts a bare-metal ELF in. Other registers keep
    /// their values.
    pub fn start_at(&mut self, entry: u32) {
        for core in &mut self.cores {
            core.cpu.start_at(entry);
            core.wait = Wait::Nothing;
            core.head_start = 0;
        }
        // No firmware start code to race: the cores go to their threads at once.
        self.handed_off = true;
        self.race_over = true;
    }

    /// Runs the guest until the CPU waits in WFI with no interrupt pending: for small guests
    /// in tests and benchmarks. Devices are serviced and their deadlines fired each time the
    /// CPU returns, but there are no host events, no idle skipping and no ticker: a guest that
    /// neither executes WFI nor makes a device stop the CPU never returns.
    pub fn run_until_wfi(&mut self) -> Result<(), SocError> {
        loop {
            self.service()?;
            self.fire_deadlines();
            let Some(next) = self.next_runnable() else {
                return Ok(());
            };
            self.switch_to(next);
            self.stats.slices += 1;
            match self.run_core(next, false) {
                Exit::Requested => {}
                Exit::Fault(fault) if self.park(next, &fault) => {}
                Exit::Fault(fault) => return Err(SocError(self.describe_fault(&fault))),
                debug @ (Exit::Breakpoint(_) | Exit::Watchpoint(_)) => {
                    return Err(SocError(format!("unexpected debug stop {debug:?}")))
                }
                Exit::WaitForInterrupt => {
                    self.stats.wfi += 1;
                    self.cores[next].wait = Wait::Interrupt;
                }
            }
        }
    }

    /// A deterministic run's next core: the current one while its turn lasts, unless another
    /// core that slept has woken (an interrupt, an event); then, or when the turn is over or
    /// the core sleeps, the next runnable one round robin, with a new turn. Only the
    /// instruction counts and the guest's own doings decide, never when the CPU happened to
    /// return (a host thread's kick), so the cores interleave the same way on every run.
    fn next_turn(&mut self) -> Option<usize> {
        let current = self.current;
        if self.turn_left > 0 && current < self.local {
            let now = self.clock.now_ns();
            let woke = (0..self.local).any(|i| {
                let core = &mut self.cores[i];
                i != current && core.wait != Wait::Nothing && !core.still_waiting(now)
            });
            let core = &mut self.cores[current];
            if !woke && !core.parked && !core.still_waiting(now) {
                return Some(current);
            }
        }
        self.turn_left = Deterministic::TURN;
        self.next_runnable()
    }

    /// The core to run next, round robin from the one after the current: one that does not
    /// wait in WFI, or waits with an interrupt pending (it stops waiting). `None`: all wait.
    fn next_runnable(&mut self) -> Option<usize> {
        let n = self.local;
        // A secondary just out of reset goes first, until it first waits (see `head_start`).
        if let Some(i) = (1..n).find(|&i| self.cores[i].head_start > 0) {
            let core = &mut self.cores[i];
            core.head_start -= 1;
            if !core.parked && core.wait == Wait::Nothing {
                return Some(i);
            }
            core.head_start = 0;
        }
        let current = self.current.min(n - 1);
        let now = self.clock.now_ns();
        (1..=n).map(|k| (current + k) % n).find(|&i| {
            if self.cores[i].parked {
                self.release_if_signalled(i);
            }
            let core = &mut self.cores[i];
            !core.parked && !core.still_waiting(now)
        })
    }

    /// Runs core `index` for a slice (or one instruction), marked as the running core for the
    /// interrupt inputs and timed for the stats. A run that ended in a WFE which found no event
    /// leaves the core asleep (with one core, WFE only gives way: nothing but an interrupt
    /// could wake it, and the timer event stream would do that soon anyway).
    fn run_core(&mut self, index: usize, step: bool) -> Exit {
        if self.local > 1 {
            self.running.set(Some(index));
        }
        let start = std::time::Instant::now();
        let cpu = &mut self.cores[index].cpu;
        // Other cores' threads may reach the devices while this one runs guest code.
        let exit = self
            .lock
            .released(|| if step { cpu.step() } else { cpu.run() });
        let slice_ns = start.elapsed().as_nanos() as u64;
        self.running.set(None);
        if let Some(t) = self.stats.core_wall_ns.get_mut(index) {
            *t += slice_ns;
        }
        let multi = self.cores.len() > 1;
        if self.cores[index].cpu.take_wfe_wait() && multi {
            self.stats.wfe += 1;
            self.cores[index].wait = Wait::Event(self.clock.now_ns());
        }
        if self.cores[index].cpu.timer().take_busy_wait_limit_reached()
            && self.local < self.cores.len()
        {
            // A busy-wait skip here took time to a deadline, maybe a secondary's, whose thread
            // naps in host time: it looks at once.
            self.secondaries.notify_all();
        }
        exit
    }

    /// A core fetching from u-boot's wait loop in the SCU (which no core can fetch from)
    /// is parked there instead of faulting: the loop only waits for the go signature.
    fn park(&mut self, index: usize, fault: &cpu::Fault) -> bool {
        let parks = self.cores.len() > 1 && threads::parks_at(self.map.smp, fault);
        if parks {
            log::info!("soc: CPU{index} waits in the SMP mailbox");
            self.cores[index].parked = true;
            if self.cores[1..].iter().all(|c| c.parked) {
                self.race_over = true;
            }
        }
        parks
    }

    /// Releases parked core `index` when the mailbox holds its go signature: it jumps to the
    /// entry address, as the loop's `ldr pc` does.
    fn release_if_signalled(&mut self, index: usize) {
        let Some(smp) = self.map.smp else {
            return;
        };
        let go = self.bus.read(smp.go, 4).unwrap_or(0) as u32;
        if go != smp.signature | index as u32 {
            return;
        }
        let entry = self.bus.read(smp.entry, 4).unwrap_or(0) as u32;
        log::info!("soc: CPU{index} released to {entry:#010x}");
        let cpu = &mut self.cores[index].cpu;
        cpu.set_reg(Reg::Pc, entry & !1);
        self.cores[index].parked = false;
    }

    /// Runs `f` on flash chip `index`'s bytes (the board's flash order), if the board has it.
    /// Between slices only (the guest does not run meanwhile).
    pub fn with_flash<R>(&self, index: usize, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let memory = self.flashes.get(index)?.borrow().memory().clone();
        // SAFETY: the guest does not run while the SoC's owner holds `&self` here.
        Some(unsafe { memory.with_bytes(0, memory.len(), f) })
    }

    /// Whether the guest changed any flash chip since power-on.
    pub fn flash_dirty(&self) -> bool {
        self.flashes.iter().any(|f| f.borrow().dirty())
    }

    /// Persists guest writes to flash chip `index` (the board's flash order; 0 is the boot
    /// flash) through `sink`: on [`AspeedSoc::save_flash`], on `HostEvent::SaveFlash`, and before
    /// every SoC reset. Without a sink, writes stay in memory.
    pub fn set_flash_sink(&mut self, index: usize, sink: FlashSink) -> Result<(), SocError> {
        if index >= self.flashes.len() {
            return Err(SocError(format!(
                "the board has {} flash chips, not {}",
                self.flashes.len(),
                index + 1
            )));
        }
        self.flash_sinks.retain(|(i, _)| *i != index);
        self.flash_sinks.push((index, sink));
        Ok(())
    }

    /// Hands each persisted flash's contents to its sink if the guest changed them since the
    /// last save, and runs the storage savers (cards). Returns whether anything was written.
    pub fn save_flash(&mut self) -> Result<bool, SocError> {
        let mut wrote = false;
        for (index, sink) in &mut self.flash_sinks {
            let flash = &self.flashes[*index];
            if !flash.borrow().dirty() {
                continue;
            }
            let bytes = flash.borrow().memory().to_vec();
            sink(&bytes).map_err(SocError)?;
            flash.borrow_mut().mark_clean();
            wrote = true;
        }
        for saver in &mut self.storage_savers {
            wrote |= saver().map_err(SocError)?;
        }
        Ok(wrote)
    }

    /// One line for a CPU stop: what the core reports (PC, address, access) and the device the
    /// guest touched last.
    fn describe_fault(&self, fault: &cpu::Fault) -> String {
        match self.bus.last_device() {
            Some(name) => format!("{fault}; the last device touched was {name}"),
            None => format!("{fault}; no device was touched yet"),
        }
    }

    /// The board this SoC was built as.
    pub fn board(&self) -> &board::Board {
        &self.board
    }

    /// Resets the SoC for the host (the monitor's `reset`) as the watchdog does: devices and
    /// CPU to their reset state; DRAM and flash keep their contents.
    pub fn reset(&mut self) -> Result<(), SocError> {
        self.reset_for(ResetCause::Host)
    }

    /// Sends [`SocEvent`]s (resets) to `sink`, on this thread, as they happen.
    pub fn set_event_sink(&mut self, sink: EventSink) {
        self.event_sink = Some(sink);
    }

    fn emit(&mut self, event: SocEvent) {
        if let Some(sink) = &mut self.event_sink {
            sink(&event);
        }
    }

    /// Holds the guest (`true`: no guest code runs and virtual time stands still, while
    /// [`AspeedSoc::run`] still serves host events) or lets it go on (`false`), as QEMU's
    /// `stop`/`cont`. A debugger's [`AspeedSoc::debug_run`] runs the guest regardless.
    pub fn set_stopped(&mut self, stopped: bool) {
        self.stopped = stopped;
    }

    /// Whether the host holds the guest ([`AspeedSoc::set_stopped`]).
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Whether a debugger holds or runs the guest (attached, or [`AspeedSoc::debug_run`] is on
    /// the stack).
    pub fn in_debugger(&self) -> bool {
        self.debugging || self.debugger_attached
    }

    /// A debugger attached (`true`) or detached: what [`AspeedSoc::in_debugger`] reports.
    pub fn set_debugger_attached(&mut self, attached: bool) {
        self.debugger_attached = attached;
    }

    /// Queues `bytes` for the console UART's receiver, as if typed on the console.
    pub fn console_input(&mut self, bytes: &[u8]) {
        self.pending_input.extend_from_slice(bytes);
    }

    /// The names of the UARTs and VUARTs a host can connect ([`AspeedSoc::set_serial_output`],
    /// [`AspeedSoc::serial_input`]): all but the console, in the SoC table's order.
    pub fn serial_names(&self) -> Vec<&'static str> {
        self.serial.iter().map(|p| p.name).collect()
    }

    fn serial_port(&mut self, name: &str) -> Result<&mut SerialPort, SocError> {
        if name == self.board.console {
            return Err(SocError(format!(
                "{name} is the console (its bytes go to the console; choose another with --console)"
            )));
        }
        let known = self.serial_names().join(", ");
        self.serial
            .iter_mut()
            .find(|p| p.name == name)
            .ok_or_else(|| SocError(format!("no UART called {name:?} (UARTs: {known})")))
    }

    /// Sends what the guest transmits on UART or VUART `name` (not the console) to `out`,
    /// written as sent and flushed once per CPU slice; before this, those bytes are dropped
    /// with a note.
    pub fn set_serial_output(&mut self, name: &str, out: Box<dyn Write>) -> Result<(), SocError> {
        let port = self.serial_port(name)?;
        *port.uart.borrow_mut().output_mut() = out;
        Ok(())
    }

    /// Queues `bytes` for the receiver of UART or VUART `name` (not the console: that is
    /// [`AspeedSoc::console_input`]). They enter as the receiver has room, between CPU slices;
    /// past [`SERIAL_QUEUE_LIMIT`] queued bytes the rest is dropped, with one log line each
    /// time the queue overflows.
    pub fn serial_input(&mut self, name: &str, bytes: &[u8]) -> Result<(), SocError> {
        let port = self.serial_port(name)?;
        let room = SERIAL_QUEUE_LIMIT.saturating_sub(port.pending.len());
        let take = room.min(bytes.len());
        port.pending.extend(&bytes[..take]);
        if take < bytes.len() {
            if !port.overflowed {
                log::warn!(
                    "{}: the guest does not read its input: {} bytes dropped (queue full at {} KiB)",
                    port.name,
                    bytes.len() - take,
                    SERIAL_QUEUE_LIMIT / 1024
                );
            }
            port.overflowed = true;
        } else if port.pending.len() < SERIAL_QUEUE_LIMIT / 2 {
            port.overflowed = false;
        }
        Ok(())
    }

    /// The DRAM size in bytes.
    pub fn dram_size(&self) -> u64 {
        self.dram_size
    }

    fn reset_for(&mut self, cause: ResetCause) -> Result<(), SocError> {
        // A reboot is a natural point to persist: the guest has synced its file systems.
        if let Err(e) = self.save_flash() {
            log::error!("soc: saving the flash before reset failed: {e}");
        }
        self.stats.resets += 1;
        self.bus.reset();
        for (i, core) in self.cores.iter_mut().enumerate() {
            core.cpu.reset()?;
            core.irq.clear();
            core.wait = Wait::Nothing;
            core.parked = false;
            core.head_start = head_start_after_reset(i);
        }
        self.secondaries.reset();
        self.race_over = false;
        if self.threads == Threads::Multi && self.secondaries.started() {
            // The firmware starts again: the cores take turns until it parks CPU1 again.
            self.handed_off = false;
            self.local = self.cores.len();
        }
        self.switch_to(0);
        self.sync_fmc_window()?;
        self.emit(SocEvent::Reset(cause));
        Ok(())
    }

    /// Where the FMC's flash window starts (CE0's flash at its start).
    fn fmc_window(&self) -> u64 {
        self.map
            .flash_window(board::Controller::Fmc)
            .map_or(0, |(base, _)| base)
    }

    /// Switches the FMC CE0 window between direct memory (read mode) and the controller
    /// (user and write modes), following the FMC's registers.
    fn sync_fmc_window(&mut self) -> Result<(), SocError> {
        let direct = self.fmc.borrow().window_is_direct(0);
        if direct == self.window_direct {
            return Ok(());
        }
        self.stats.window_switches += 1;
        let flash = self.flashes[0].borrow().memory().clone();
        let len = flash.len() as u64;
        let window = self.fmc_window();
        for (index, core) in self.cores.iter_mut().enumerate() {
            let cpu = &mut core.cpu;
            cpu.unmap(window, len)?;
            if direct {
                // SAFETY: as in `new`.
                unsafe {
                    cpu.map_host_memory(
                        window,
                        len,
                        flash.as_ptr(),
                        flash.clone(),
                        Access::ReadExec,
                    )?
                };
            } else {
                let view = CoreMmio {
                    core: index,
                    gic: None,
                    inner: self.mmio.clone(),
                };
                cpu.map_mmio(window, len, Rc::new(RefCell::new(view)))?;
            }
        }
        self.window_direct = direct;
        Ok(())
    }

    /// Applies what device callbacks asked for while the CPU ran.
    fn service(&mut self) -> Result<(), SocError> {
        // Any watchdog's reset resets the machine, whatever its mode and mask say, as in
        // QEMU (Linux restarts through wdt1 in SoC mode with the mask u-boot left: 0).
        if self.reset.take() != 0 {
            log::info!("soc: reset requested by a watchdog");
            self.secondaries.pause(&self.lock);
            let reset = self.reset_for(ResetCause::Watchdog);
            self.resume_secondaries();
            reset?;
        }
        if self.mmio.borrow_mut().take_window_changed() {
            self.secondaries.pause(&self.lock);
            let synced = self.sync_fmc_window();
            self.mmio
                .borrow()
                .remap_pending
                .store(false, std::sync::atomic::Ordering::SeqCst);
            self.resume_secondaries();
            synced?;
        }
        // Translated code from RAM a device wrote (DMA) goes, as a CPU store's would.
        for (start, end) in self.dma_view.take_written() {
            self.invalidate_code_everywhere(start, end - start);
        }
        let modified = self.flashes[0].borrow_mut().take_modified();
        if let Some((start, end)) = modified {
            // Code run from the flash (boot alias and window) must see the new bytes.
            let (alias, window) = (self.map.boot_alias, self.fmc_window());
            self.invalidate_code_everywhere(alias + start, end - start);
            self.invalidate_code_everywhere(window + start, end - start);
        }
        for nic in &mut self.nics {
            // A deterministic run takes frames from the backend at the run loop's top only.
            nic.deliver(&self.macs[nic.mac], self.deterministic.is_none());
        }
        self.board_io_events();
        {
            let mut uart = self.console.borrow_mut();
            if !self.pending_input.is_empty() {
                let n = uart.enqueue_rx(&self.pending_input);
                self.pending_input.drain(..n);
            }
            // Console bytes are written as sent and flushed here, once per slice (a flush per
            // byte would cost a system call each on a chatty console).
            if let Err(e) = uart.output_mut().flush() {
                log::warn!("console: {e}");
            }
        }
        for port in &mut self.serial {
            let mut uart = port.uart.borrow_mut();
            while !port.pending.is_empty() {
                let (front, _) = port.pending.as_slices();
                let len = front.len();
                let n = uart.enqueue_rx(front);
                port.pending.drain(..n);
                if n < len {
                    break;
                }
            }
            if let Err(e) = uart.output_mut().flush() {
                log::warn!("{}: {e}", port.name);
            }
        }
        Ok(())
    }

    /// Drops translated code for a physical range on every core: directly on the cores this
    /// thread runs, posted to those on threads of their own.
    fn invalidate_code_everywhere(&mut self, addr: u64, len: u64) {
        let local = self.local;
        for (i, core) in self.cores.iter_mut().enumerate() {
            if i < local {
                core.cpu.invalidate_code(addr, len);
            } else {
                core.cpu.handle().invalidate_code(addr, len);
            }
        }
    }

    fn fire_deadlines(&mut self) {
        self.fire_deadlines_of(self.local);
    }

    /// Fires what is due now: the timers of the first `cores` cores and every device deadline.
    pub(crate) fn fire_deadlines_of(&mut self, cores: usize) {
        let now = self.clock.now_ns();
        for core in &mut self.cores[..cores] {
            if core
                .cpu
                .timer()
                .next_deadline_ns()
                .is_some_and(|d| d <= now)
            {
                core.cpu.timer_tick();
            }
        }
        self.bus.run_deadlines(now);
    }

    fn next_deadline(&self) -> Option<u64> {
        // A replayed input due at this instruction count is a deadline for an idle machine.
        let replay = self.replay_due_at();
        self.cores[..self.local]
            .iter()
            .flat_map(|c| [c.cpu.timer().next_deadline_ns(), c.wfe_wake_at()])
            .chain([self.bus.next_deadline(), replay])
            .flatten()
            .min()
    }

    fn handle_event(&mut self, event: HostEvent) -> Option<Stop> {
        // A host event may reach anything, a secondary core too: those stand still meanwhile.
        let threads = self.secondaries.started() && self.local < self.cores.len();
        if threads {
            self.secondaries.pause(&self.lock);
        }
        let stop = self.handle_event_held(event);
        if stop.is_some() || self.stopped {
            // Held by the host (`stop`): the secondaries stay paused until it lets go.
            return stop;
        }
        if self.restore_holds_clock {
            // A snapshot loaded into the running machine: its time goes on at once, before
            // the secondaries do (this thread may be idle, the top of its loop far off).
            self.restore_holds_clock = false;
            self.clock.resume();
        }
        // Those that were paused, and those a loaded snapshot put on their threads.
        if self.secondaries.started() {
            self.resume_secondaries();
        }
        None
    }

    fn handle_event_held(&mut self, event: HostEvent) -> Option<Stop> {
        match event {
            HostEvent::ConsoleInput(bytes) => {
                if !self.journal_live(|| journal::Input::Console(bytes.clone())) {
                    self.console_input(&bytes);
                }
                None
            }
            HostEvent::SerialInput { uart, bytes } => {
                if self.journal_live(|| journal::Input::Serial(uart.clone(), bytes.clone())) {
                    return None;
                }
                if let Err(e) = self.serial_input(&uart, &bytes) {
                    log::warn!("serial input: {e}");
                }
                None
            }
            HostEvent::Call(call) => call(self),
            HostEvent::SaveFlash => {
                match self.save_flash() {
                    Ok(true) => log::warn!("flash written back"),
                    Ok(false) => log::info!("flash unchanged or not persisted: nothing written"),
                    Err(e) => log::error!("flash write-back failed: {e}"),
                }
                None
            }
            HostEvent::Pause => Some(Stop::Paused),
            HostEvent::Quit => Some(Stop::Quit),
        }
    }

    /// Runs the guest until the host quits or pauses or the CPU faults. Host events arrive on
    /// `events`; whoever sends one must also call [`CpuHandle::request_exit`] so the CPU looks.
    pub fn run(&mut self, events: &Receiver<HostEvent>) -> Stop {
        let multi = self.threads == Threads::Multi && self.cores.len() > 1;
        let mut kicks = vec![self.kick.clone()];
        if multi {
            if let Err(e) = self.start_secondaries() {
                return Stop::Fault(e.0);
            }
            kicks.extend(self.secondaries.cores.iter().map(|c| c.handle.clone()));
            self.lock.lock();
            if self.handed_off {
                self.switch_to(0);
                self.local = 1;
                // Held from the start (`--stopped`): they wait for the host to let go.
                if !self.stopped {
                    self.resume_secondaries();
                }
            }
        }
        let ticker = self.deterministic.is_none().then(|| Ticker::start(kicks));
        let stop = match self.run_loop(events, DebugResume::Continue, &|| false) {
            DebugStop::Stop(stop) => stop,
            // No debugger: a breakpoint cannot be set, and nothing interrupts.
            other => Stop::Fault(format!("unexpected debug stop {other:?}")),
        };
        drop(ticker);
        if multi {
            self.secondaries.pause(&self.lock);
            self.local = self.cores.len();
            self.lock.unlock();
        }
        stop
    }

    /// How the cores share the host (before the first run; [`Threads::Single`] by default).
    /// With [`Threads::Multi`], [`AspeedSoc::run`] runs each core but the first on a host
    /// thread of its own while the SoC's thread runs the first, the devices and host events;
    /// a debugger ([`AspeedSoc::debug_run`]) still runs them in turns on its thread. One core:
    /// nothing changes.
    pub fn set_threads(&mut self, threads: Threads) -> Result<(), SocError> {
        if self.secondaries.started() {
            return Err(SocError(
                "the cores' threads are chosen before the guest runs".into(),
            ));
        }
        let multi = threads == Threads::Multi && self.cores.len() > 1;
        if multi && self.deterministic.is_some() {
            return Err(SocError(
                "a deterministic run keeps the cores on one thread (--threads single)".into(),
            ));
        }
        for core in &mut self.cores {
            core.cpu.set_threaded(multi)?;
        }
        self.lock.enable(multi);
        self.threads = threads;
        Ok(())
    }

    /// How the cores share the host.
    pub fn threads(&self) -> Threads {
        self.threads
    }

    /// In [`Threads::Multi`], once every secondary is parked in the SMP mailbox, they go to
    /// their threads. Until then the cores take turns: u-boot's start code clears the
    /// mailbox's ready word on every core and then has CPU0 set it, so a CPU1 started late
    /// would clear CPU0's word and never be released (the race QEMU's model loses in about
    /// half its boots; on silicon both cores start together).
    fn hand_off(&mut self) {
        if self.handed_off
            || self.threads != Threads::Multi
            || self.local != self.cores.len()
            || !self.secondaries.started()
            || self.debugging
        {
            return;
        }
        if self.cores[1..].iter().all(|c| c.parked) {
            log::info!("soc: the secondary cores run on their own threads from now on");
            self.handed_off = true;
            self.race_over = true;
            self.switch_to(0);
            self.local = 1;
            self.resume_secondaries();
        }
    }

    /// Lets the secondaries run again, unless a fault stopped one.
    fn resume_secondaries(&self) {
        if self.local < self.cores.len() {
            self.secondaries.resume();
        }
    }

    /// Starts the threads of cores 1.. (once), paused.
    fn start_secondaries(&mut self) -> Result<(), SocError> {
        if self.secondaries.started() {
            return Ok(());
        }
        let wake = self.wake_tx.clone();
        self.cores[0].irq.set_wake(Some(Box::new(move || {
            let _ = wake.try_send(());
        })));
        let remap_pending = self.mmio.borrow().remap_pending.clone();
        for index in 1..self.cores.len() {
            let shared = CoreShared::new(self.cores[index].cpu.handle());
            let notify = shared.clone();
            self.cores[index]
                .irq
                .set_wake(Some(Box::new(move || notify.notify())));
            let secondary = Secondary {
                index,
                core: &mut self.cores[index] as *mut Core,
                shared: shared.clone(),
                lock: self.lock.clone(),
                clock: self.clock.clone(),
                bus: Rc::as_ptr(&self.bus),
                smp: self.map.smp,
                remap_pending: remap_pending.clone(),
                wake_soc: self.wake_tx.clone(),
            };
            let thread = std::thread::Builder::new()
                .name(format!("ast-emu-cpu{index}"))
                .spawn(move || secondary.run())
                .map_err(|e| SocError(format!("cannot start CPU{index}'s thread: {e}")))?;
            self.secondaries.cores.push(shared);
            self.secondaries.threads.push(thread);
        }
        Ok(())
    }

    /// Runs the guest for a debugger: until a breakpoint, one instruction, or until
    /// `interrupted` says the debugger wants attention (checked whenever the CPU returns and
    /// whenever the idle loop is woken: the debugger's connection wakes it with a
    /// [`Waker`]). Virtual time runs only inside this call: it stands still while the
    /// debugger holds the guest. Afterwards [`AspeedSoc::current_core`] is the core that ran
    /// last: the one that stopped, or the one stepped.
    ///
    /// # Panics
    ///
    /// If [`DebugResume::Step`] names a core past [`AspeedSoc::core_count`].
    pub fn debug_run(
        &mut self,
        events: &Receiver<HostEvent>,
        resume: DebugResume,
        interrupted: &dyn Fn() -> bool,
    ) -> DebugStop {
        self.clock.resume();
        self.debugging = true;
        // A debugger sees the core that stops.
        self.selected = None;
        if let DebugResume::Step(core) = resume {
            assert!(
                core < self.cores.len(),
                "stepping core {core} of {}",
                self.cores.len()
            );
        }
        // A deterministic run's slices end by instruction count instead.
        let ticker = (resume == DebugResume::Continue && self.deterministic.is_none())
            .then(|| Ticker::start(vec![self.kick.clone()]));
        let stop = self.run_loop(events, resume, interrupted);
        drop(ticker);
        self.debugging = false;
        self.clock.pause();
        stop
    }

    /// The core [`AspeedSoc::current_core`] names, for the monitor and a debugger: registers,
    /// memory by virtual address, breakpoints ([`AspeedSoc::core_mut`] reaches any core).
    pub fn cpu_mut(&mut self) -> &mut Cpu {
        let index = self.selected.unwrap_or(self.current);
        &mut self.cores[index].cpu
    }

    fn run_loop(
        &mut self,
        events: &Receiver<HostEvent>,
        resume: DebugResume,
        interrupted: &dyn Fn() -> bool,
    ) -> DebugStop {
        loop {
            while let Some(ev) = self.deferred.pop_front().or_else(|| events.try_recv().ok()) {
                if let Some(stop) = self.handle_event(ev) {
                    return DebugStop::Stop(stop);
                }
            }
            if self.deterministic.is_some() {
                self.take_host_input();
            }
            let device_start = std::time::Instant::now();
            if let Err(e) = self.service() {
                return DebugStop::Stop(Stop::Fault(e.0));
            }
            if interrupted() {
                return DebugStop::Interrupted;
            }
            if self.stopped && !self.debugging {
                if let Some(stop) = self.hold(events) {
                    return DebugStop::Stop(stop);
                }
                continue;
            }
            if self.restore_holds_clock {
                // The guest runs again after a snapshot was loaded: so does its time.
                self.restore_holds_clock = false;
                self.clock.resume();
            }
            self.fire_deadlines();
            self.hand_off();
            // A debugger's step moves the core it names; otherwise the cores take turns.
            let next = match resume {
                DebugResume::Step(core) => {
                    if self.cores[core].parked {
                        self.release_if_signalled(core);
                    }
                    if self.cores[core].parked {
                        // Nothing to run until the mailbox lets it go.
                        return DebugStop::Stepped;
                    }
                    self.cores[core].wait = Wait::Nothing;
                    Some(core)
                }
                DebugResume::Continue if self.deterministic.is_some() => self.next_turn(),
                DebugResume::Continue => self.next_runnable(),
            };
            let Some(next) = next else {
                // Every core waits for an interrupt.
                self.stats.device_wall_ns += device_start.elapsed().as_nanos() as u64;
                match self.idle(events, interrupted) {
                    Idle::Resume => continue,
                    Idle::Interrupted => return DebugStop::Interrupted,
                    Idle::Stop(stop) => return DebugStop::Stop(stop),
                }
            };
            self.switch_to(next);
            let timer = self.cores[next].cpu.timer();
            if self.busy_mode == BusyWaitSkip::ExceptConsoleInput {
                // Real time while the guest waits for a key on the console; skipped otherwise.
                let skip = !self.console.borrow().polled_for_input();
                if skip != timer.busy_wait_skip() {
                    timer.set_busy_wait_skip(skip);
                }
            }
            if timer.busy_wait_skip() {
                let limit = self.bus.next_deadline().unwrap_or(u64::MAX);
                timer.busy_wait_limit().set(limit);
            }
            if self.deterministic.is_some() {
                // A turn, ending exactly at the next deadline if that comes first.
                let budget = self
                    .next_deadline()
                    .and_then(|d| self.clock.instructions_until(d))
                    .map_or(self.turn_left, |n| n.min(self.turn_left));

                self.cores[next].cpu.set_budget(budget);
                let end = self.clock.now_ns() + budget * Deterministic::NS_PER_INSN;
                self.mmio.borrow().run_end.set(end);
            }
            self.stats.device_wall_ns += device_start.elapsed().as_nanos() as u64;
            self.stats.slices += 1;
            let stepping = matches!(resume, DebugResume::Step(_));
            let exit = self.run_core(next, stepping);
            if self.deterministic.is_some() {
                let executed = self.cores[next].cpu.executed();
                self.turn_left = self.turn_left.saturating_sub(executed);
                self.mmio.borrow().run_end.set(u64::MAX);
            }
            match exit {
                Exit::Requested if stepping => return DebugStop::Stepped,
                Exit::Requested => {
                    if let Some(fault) = self.secondary_fault() {
                        return DebugStop::Stop(Stop::Fault(fault));
                    }
                    // Two looks in a row at a core spinning on itself with IRQs off, every
                    // other core waiting for interrupts, spinning so too, or stopped with IRQs
                    // and FIQs masked (Linux stops the other cores so before it halts): halted.
                    let stuck = |c: &Core| c.cpu.is_stuck();
                    let done =
                        |c: &Core| c.wait != Wait::Nothing || stuck(c) || c.cpu.interrupts_masked();
                    let local = &self.cores[..self.local];
                    // The secondaries' states are looked at (locked) only when the local
                    // cores are settled.
                    if local.iter().any(stuck)
                        && local.iter().all(done)
                        && (self.local == self.cores.len() || self.secondaries.all_settled())
                    {
                        self.stuck_exits += 1;
                        if self.stuck_exits >= 2 {
                            return DebugStop::Stop(Stop::Halted);
                        }
                    } else {
                        self.stuck_exits = 0;
                    }
                }
                Exit::Breakpoint(addr) => return DebugStop::Breakpoint(addr),
                Exit::Watchpoint(hit) => return DebugStop::Watchpoint(hit),
                // A step into the mailbox's wait loop ends there.
                Exit::Fault(fault) if self.park(next, &fault) => {
                    if stepping {
                        return DebugStop::Stepped;
                    }
                }
                Exit::Fault(fault) => {
                    return DebugStop::Stop(Stop::Fault(self.describe_fault(&fault)))
                }
                Exit::WaitForInterrupt if stepping => {
                    self.stats.wfi += 1;
                    return DebugStop::Stepped;
                }
                Exit::WaitForInterrupt => {
                    self.stats.wfi += 1;
                    self.cores[next].wait = Wait::Interrupt;
                }
            }
        }
    }

    /// A fault that stopped a core on a thread of its own, if one did.
    fn secondary_fault(&self) -> Option<String> {
        if self.local == self.cores.len() {
            return None;
        }
        self.secondaries.fault()
    }

    /// The host holds the guest: wait for host events with virtual time paused, until one
    /// stops the run or lets the guest go on.
    fn hold(&mut self, events: &Receiver<HostEvent>) -> Option<Stop> {
        self.secondaries.pause(&self.lock);
        let stop = self.hold_paused(events);
        if stop.is_none() {
            self.resume_secondaries();
        }
        stop
    }

    fn hold_paused(&mut self, events: &Receiver<HostEvent>) -> Option<Stop> {
        self.clock.pause();
        let stop = loop {
            match self.wait_host(events, None) {
                Some(HostWake::Event(ev)) => {
                    if let Some(stop) = self.handle_event(ev) {
                        break Some(stop);
                    }
                }
                Some(HostWake::Backend) => {
                    // Frames wait in their queue until the guest runs again.
                }
                None => break Some(Stop::Quit),
            }
            if !self.stopped {
                break None;
            }
        };
        self.clock.resume();
        stop
    }

    /// The CPU waits for an interrupt: apply pending work, then skip virtual time to the next
    /// deadline, or block for host events when there is none.
    fn idle(&mut self, events: &Receiver<HostEvent>, interrupted: &dyn Fn() -> bool) -> Idle {
        loop {
            if let Err(e) = self.service() {
                return Idle::Stop(Stop::Fault(e.0));
            }
            self.fire_deadlines();
            let now = self.clock.now_ns();
            if self.cores[..self.local]
                .iter()
                .any(|c| c.irq.pending() || c.wfe_wake_at().is_some_and(|t| t <= now))
            {
                return Idle::Resume;
            }
            // A host event handled below may have woken a core without an interrupt: a reset
            // from the control socket or the monitor puts every core back at its reset vector.
            if self.cores[..self.local]
                .iter()
                .any(|c| !c.parked && matches!(c.wait, Wait::Nothing))
            {
                return Idle::Resume;
            }
            if interrupted() {
                return Idle::Interrupted;
            }
            if let Some(fault) = self.secondary_fault() {
                return Idle::Stop(Stop::Fault(fault));
            }
            // Cores on threads of their own: time is skipped only while every one of them
            // sleeps too (and never past the time one must wake); while one runs, this
            // thread waits in wall time, looking again at least every millisecond.
            let others = if self.local < self.cores.len() {
                let (bus, smp) = (&self.bus, self.map.smp);
                let released = |core: usize| {
                    smp.is_some_and(|smp| {
                        bus.read(smp.go, 4)
                            .is_some_and(|go| go as u32 == smp.signature | core as u32)
                    })
                };
                Some(self.secondaries.all_waiting_until(released))
            } else {
                None
            };
            let deadline = match others {
                Some(Some(until)) => self
                    .next_deadline()
                    .map_or((until != u64::MAX).then_some(until), |d| Some(d.min(until))),
                Some(None) => Some(
                    self.next_deadline()
                        .unwrap_or(u64::MAX)
                        .min(now + 1_000_000),
                ),
                None => self.next_deadline(),
            };
            let may_skip = !matches!(others, Some(None));
            // A frame just sent: its reply is waited for in host time.
            let reply_wait = self
                .net_sent
                .get()
                .and_then(|t| NET_REPLY_WINDOW.checked_sub(t.elapsed()))
                .filter(|left| !left.is_zero());
            match deadline {
                Some(deadline) => {
                    let now = self.clock.now_ns();
                    if deadline <= now {
                        continue;
                    }
                    // Skip what the budget allows; wait for the rest in wall time, awake to
                    // host events.
                    let skip = if self.deterministic.is_some() {
                        // The whole way to the deadline, always (the guest must see the same
                        // jumps on every run); what the budget does not grant is first waited
                        // for in host time, awake to the host (its input is then taken here,
                        // before the jump), so an idle machine neither burns the host's CPU
                        // nor runs its clock far ahead of the host's.
                        let want = deadline - now;
                        // A record being replayed brings its input itself: no waiting.
                        let wait = if self.replaying() {
                            0
                        } else {
                            want - self.skip.take(want)
                        };
                        if wait > 0 {
                            match self
                                .wait_host(events, Some(std::time::Duration::from_nanos(wait)))
                            {
                                Some(HostWake::Event(ev)) => {
                                    self.deferred.push_back(ev);
                                    return Idle::Resume;
                                }
                                Some(HostWake::Backend) => return Idle::Resume,
                                None => {}
                            }
                        }
                        want
                    } else if may_skip && reply_wait.is_none() {
                        self.skip.take(deadline - now)
                    } else {
                        0
                    };
                    if skip > 0 {
                        self.stats.idle_skips += 1;
                        self.stats.skipped_ns += skip;
                        self.clock.advance_to(now + skip);
                        if others.is_some() {
                            self.secondaries.notify_all();
                        }
                    }
                    let mut rest = deadline.saturating_sub(self.clock.now_ns());
                    if let Some(left) = reply_wait {
                        // Then look again: once the window has passed, time is skipped.
                        rest = rest.min(left.as_nanos() as u64);
                    }
                    if rest > 0 {
                        self.stats.waited_ns += rest;
                        match self.wait_host(events, Some(std::time::Duration::from_nanos(rest))) {
                            Some(HostWake::Event(ev)) if self.deterministic.is_some() => {
                                self.deferred.push_back(ev);
                                return Idle::Resume;
                            }
                            Some(HostWake::Event(ev)) => {
                                if let Some(stop) = self.handle_event(ev) {
                                    return Idle::Stop(stop);
                                }
                                if self.stopped && !self.debugging {
                                    return Idle::Resume;
                                }
                            }
                            Some(HostWake::Backend) | None => {}
                        }
                    }
                }
                None => match self.wait_host(events, None) {
                    Some(HostWake::Event(ev)) if self.deterministic.is_some() => {
                        // Taken at the run loop's top, where a replay would feed it.
                        self.deferred.push_back(ev);
                        return Idle::Resume;
                    }
                    Some(HostWake::Backend) if self.deterministic.is_some() => {
                        // A frame: the run loop's top takes it.
                        return Idle::Resume;
                    }
                    Some(HostWake::Event(ev)) => {
                        if let Some(stop) = self.handle_event(ev) {
                            return Idle::Stop(stop);
                        }
                        if self.stopped && !self.debugging {
                            return Idle::Resume;
                        }
                    }
                    Some(HostWake::Backend) => {}
                    None => return Idle::Stop(Stop::Quit),
                },
            }
        }
    }

    /// Waits (at most `timeout`, or forever) for a host event or a backend's wake-up (a frame
    /// from the network). `None`: the timeout passed, or every host sender is gone.
    fn wait_host(
        &mut self,
        events: &Receiver<HostEvent>,
        timeout: Option<std::time::Duration>,
    ) -> Option<HostWake> {
        let waited = std::time::Instant::now();
        let lock = self.lock.clone();
        let wake_rx = &self.wake_rx;
        // The whole operation, the receive included, runs without the device lock: a core on
        // its own thread may be sending a wake-up meanwhile, and a selected but unfinished
        // receive would hold its send up.
        let woke = lock.released(|| {
            let mut sel = crossbeam_channel::Select::new();
            let ev_idx = sel.recv(events);
            let wake_idx = sel.recv(wake_rx);
            let op = match timeout {
                Some(t) => sel.select_timeout(t),
                None => Ok(sel.select()),
            };
            let op = op.ok()?;
            match op.index() {
                i if i == ev_idx => match op.recv(events) {
                    Ok(ev) => Some(HostWake::Event(ev)),
                    Err(_) => {
                        // No host events can come any more: wait for the timeout only.
                        if let Some(t) = timeout {
                            std::thread::sleep(t);
                            return Some(HostWake::Backend);
                        }
                        None
                    }
                },
                i if i == wake_idx => {
                    let _ = op.recv(wake_rx);
                    Some(HostWake::Backend)
                }
                _ => None,
            }
        });
        self.stats.idle_wall_ns += waited.elapsed().as_nanos() as u64;
        woke
    }

    /// A handle host backends use to wake the run loop (and the CPU) when they have work.
    pub fn waker(&self) -> Waker {
        Waker {
            tx: self.wake_tx.clone(),
            cpu: self.host_kick(),
        }
    }

    /// The MAC `--nic` connects by default (0 = MAC1): the board's.
    pub fn nic_mac(&self) -> usize {
        usize::from(self.board.nic.saturating_sub(1))
    }

    /// Gives MAC `mac` (0 = MAC1) the hardware address `address`: what its address registers
    /// hold at power-on and after a reset, which Linux reads when the firmware did not set
    /// one (`Read MAC address ... from chip`). Call before the guest runs.
    pub fn set_mac_address(&mut self, mac: usize, address: [u8; 6]) -> Result<(), SocError> {
        let Some(m) = self.macs.get(mac) else {
            return Err(SocError(format!(
                "the board has {} MACs, not {}",
                self.macs.len(),
                mac + 1
            )));
        };
        m.borrow_mut().set_power_on_address(address);
        Ok(())
    }

    /// Connects MAC `mac` (0 = MAC1, Linux eth0) to a network backend: frames the guest sends
    /// go to `to_network`; frames on `from_network` are delivered to the guest (whoever sends
    /// them must also call [`Waker::wake`], from [`AspeedSoc::waker`]). The PHY then reports a
    /// cable.
    pub fn connect_nic(
        &mut self,
        mac: usize,
        to_network: NetSink,
        from_network: Receiver<Vec<u8>>,
    ) -> Result<(), SocError> {
        let Some(m) = self.macs.get(mac) else {
            return Err(SocError(format!(
                "the board has {} MACs, not {}",
                self.macs.len(),
                mac + 1
            )));
        };
        let sent = self.net_sent.clone();
        let mut to_network = to_network;
        m.borrow_mut()
            .set_backend(Some(Box::new(move |frame: &[u8]| {
                sent.set(Some(std::time::Instant::now()));
                to_network(frame)
            })));
        m.borrow_mut().set_link(true);
        // A PHY reports the cable; an NC-SI MAC has none, its host NIC answers on the wire.
        if let Some(phy) = &self.phys[mac] {
            phy.borrow_mut().set_link(true);
        }
        self.nics.push(NicPort {
            mac,
            from_network,
            queue: std::collections::VecDeque::new(),
        });
        Ok(())
    }

    /// Places a `kind` temperature sensor at 7-bit `address` on I2C `bus` (0..=15), measuring
    /// `millicelsius` ([`DEFAULT_MILLICELSIUS`] if `None`); the monitor's `temp BUS ADDR C` then
    /// sets it. If a sensor of that kind is already there (the EVB's own at bus 8, 0x4d), sets
    /// its temperature instead (when given). Fails if the bus does not exist or the address
    /// holds another device.
    pub fn add_temperature_sensor(
        &mut self,
        bus: usize,
        address: u8,
        kind: SensorKind,
        millicelsius: Option<i32>,
    ) -> Result<TemperatureHandle, SocError> {
        self.i2c.add((bus, address), kind, millicelsius)
    }

    /// The temperature sensor at 7-bit `address` on I2C `bus`, if one is there.
    pub fn temperature_sensor(&self, bus: usize, address: u8) -> Option<&TemperatureHandle> {
        self.i2c.sensor(bus, address)
    }

    /// The temperature sensors on the I2C buses: the EVB's and those added.
    pub fn temperature_sensors(&self) -> &[TemperatureHandle] {
        self.i2c.sensors()
    }

    /// The GIC (for tests and monitors), on a SoC that has one.
    pub fn gic(&self) -> Option<&Gic> {
        match &self.intc {
            Intc::Gic(gic) => Some(gic),
            Intc::Vic(_) => None,
        }
    }

    /// The SoC's memory map and interrupt numbers.
    pub fn soc_map(&self) -> &'static SocMap {
        self.map
    }
}

/// `ranges` with every part that lies in one of `holes` cut out (pieces of zero size dropped).
fn subtract(
    ranges: Vec<(u64, u64)>,
    holes: impl Iterator<Item = (u64, u64)> + Clone,
) -> Vec<(u64, u64)> {
    let mut out = ranges;
    for (hole, hole_size) in holes {
        let hole_end = hole + hole_size;
        out = out
            .into_iter()
            .flat_map(|(base, size)| {
                let end = base + size;
                if hole_end <= base || hole >= end || hole_size == 0 {
                    return vec![(base, size)];
                }
                let mut pieces = Vec::new();
                if hole > base {
                    pieces.push((base, hole - base));
                }
                if hole_end < end {
                    pieces.push((hole_end, end - hole_end));
                }
                pieces
            })
            .collect();
    }
    out
}

impl Drop for AspeedSoc {
    fn drop(&mut self) {
        // The cores' threads end before their cores go.
        let lock = self.lock.clone();
        self.secondaries.quit(&lock);
        // Host threads may still kick after the cores are gone: the handle reaches none.
        self.kick.detach();
    }
}

/// A MAC's connection to a network backend: frames waiting for the guest's RX ring.
struct NicPort {
    mac: usize,
    from_network: Receiver<Vec<u8>>,
    queue: std::collections::VecDeque<Vec<u8>>,
}

impl NicPort {
    /// Frames kept while the guest's RX ring is full; beyond this the oldest are dropped.
    const QUEUE_LIMIT: usize = 512;

    /// Queues a frame for the guest.
    fn push(&mut self, frame: Vec<u8>) {
        if self.queue.len() >= Self::QUEUE_LIMIT {
            self.queue.pop_front();
            log::warn!(
                "net: mac{}: guest RX ring full, dropping a frame",
                self.mac + 1
            );
        }
        self.queue.push_back(frame);
    }

    /// Hands queued frames to the MAC while its ring has room, after taking what the
    /// backend sent (`take`).
    fn deliver(&mut self, mac: &RefCell<ftgmac100::Ftgmac100>, take: bool) {
        if take {
            while let Ok(frame) = self.from_network.try_recv() {
                self.push(frame);
            }
        }
        let mut mac = mac.borrow_mut();
        while let Some(frame) = self.queue.front() {
            if !mac.receive(frame) {
                break; // ring full: retried at the next service
            }
            self.queue.pop_front();
        }
    }
}

/// How many host bytes may wait for one UART's receiver ([`AspeedSoc::serial_input`]).
pub const SERIAL_QUEUE_LIMIT: usize = 64 * 1024;

/// A UART or VUART the host may connect, and the host input waiting for its receiver.
struct SerialPort {
    name: &'static str,
    uart: Rc<RefCell<Uart<Box<dyn Write>>>>,
    pending: std::collections::VecDeque<u8>,
    /// The queue overflowed (logged) and has not drained below half since.
    overflowed: bool,
}

/// How the idle loop ended.
enum Idle {
    /// An interrupt is pending: run the CPU.
    Resume,
    /// The debugger wants attention.
    Interrupted,
    /// Stop running.
    Stop(Stop),
}

/// Why the idle loop woke up.
enum HostWake {
    Event(HostEvent),
    Backend,
}

/// Wakes a SoC's run loop from another thread: the CPU if it runs, the idle wait if it waits.
#[derive(Clone)]
pub struct Waker {
    tx: crossbeam_channel::Sender<()>,
    cpu: CpuHandle,
}

impl Waker {
    /// Asks the run loop to look at its inputs (network frames) now.
    pub fn wake(&self) {
        let _ = self.tx.try_send(());
        self.cpu.request_exit();
    }
}

/// Makes the CPU return regularly so device deadlines and host events are looked at while the
/// guest is busy (virtual time follows host time then).
struct Ticker {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ticker {
    const PERIOD: std::time::Duration = std::time::Duration::from_micros(500);

    fn start(handles: Vec<CpuHandle>) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("ast-emu-ticker".into())
            .spawn(move || {
                while !s.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(Self::PERIOD);
                    for handle in &handles {
                        handle.request_exit();
                    }
                }
            })
            .ok();
        Self { stop, thread }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bus::{GuestMemory, VecMemory};
    use i2c::*;

    /// Every board in boards/ builds: its flash models, I2C devices, DRAM size and console
    /// exist, and each chip sits on its controller.
    #[test]
    fn every_built_in_board_builds_with_its_console_and_flash_chips() {
        for b in board::built_in() {
            let sizes = flash_sizes(b).unwrap();
            let config =
                BoardConfig::with_boot_flash(b.clone(), vec![0xea; sizes[0] as usize]).unwrap();
            let soc = AspeedSoc::new(config, Box::new(std::io::sink()))
                .unwrap_or_else(|e| panic!("{}: {e}", b.name));
            assert_eq!(soc.board().name, b.name);
            assert!(soc.memory_map().iter().any(|(_, _, n)| *n == b.console));
            assert_eq!(soc.flashes.len(), b.flash.len(), "{}", b.name);
            for (chip, flash) in b.flash_order().iter().zip(&soc.flashes) {
                assert_eq!(flash.borrow().model().name, chip.model, "{}", b.name);
            }
        }
    }

    /// A `Write` whose bytes a test can read back.
    #[derive(Clone, Default)]
    struct Shared(Rc<RefCell<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn uarts_and_vuarts_connect_by_name_but_not_the_console() {
        let b = board::default_board().clone();
        let config = BoardConfig::with_boot_flash(b.clone(), vec![0xea; 64 << 20]).unwrap();
        let mut soc = AspeedSoc::new(config, Box::new(std::io::sink())).unwrap();
        let names = soc.serial_names();
        assert!(names.contains(&"uart1") && names.contains(&"uart13"));
        assert!(names.contains(&"vuart1") && names.contains(&"vuart2"));
        assert!(!names.contains(&b.console.as_str()));
        let e = soc.set_serial_output(&b.console, Box::new(std::io::sink()));
        assert!(e.unwrap_err().0.contains("is the console"));
        let e = soc.set_serial_output("uart14", Box::new(std::io::sink()));
        assert!(e.unwrap_err().0.contains("no UART called \"uart14\""));
        assert!(soc.serial_input("vuart3", b"x").is_err());

        let out = Shared::default();
        soc.set_serial_output("vuart1", Box::new(out.clone()))
            .unwrap();
        let base = map::ast2600::placement(map::Block::Vuart(1)).unwrap().base;
        assert_eq!(base, 0x1E78_7000);
        // The guest transmits: the bytes reach the output.
        assert!(soc.bus.write(base, 1, u64::from(b'o')));
        assert_eq!(&*out.0.borrow(), b"o");
        // Host input waits for the receiver's room; the VUART discards it until opened.
        assert!(soc.bus.write(base + 0x20, 1, 0x21)); // enabled, host TX discard off
        assert!(soc.bus.write(base + 0x8, 1, 0x01)); // FIFOs on
        soc.serial_input("vuart1", &[b'a'; 20]).unwrap();
        soc.service().unwrap();
        assert_eq!(
            soc.serial[0..]
                .iter()
                .find(|p| p.name == "vuart1")
                .unwrap()
                .pending
                .len(),
            4
        );
        for _ in 0..16 {
            assert_eq!(soc.bus.read(base, 1), Some(u64::from(b'a')));
        }
        soc.service().unwrap();
        assert_eq!(
            soc.bus.read(base + 0x14, 1).unwrap() & 1,
            1,
            "the rest entered"
        );
        // The queue is bounded.
        soc.serial_input("uart1", &vec![0; SERIAL_QUEUE_LIMIT + 10])
            .unwrap();
        let port = soc.serial.iter().find(|p| p.name == "uart1").unwrap();
        assert_eq!(port.pending.len(), SERIAL_QUEUE_LIMIT);
        assert!(port.overflowed);
    }

    #[test]
    fn a_board_with_a_console_that_is_not_a_uart_is_refused() {
        let mut b = board::default_board().clone();
        b.console = "uart14".into();
        let config = BoardConfig::with_boot_flash(b, vec![0xea; 64 << 20]).unwrap();
        let e = AspeedSoc::new(config, Box::new(std::io::sink()))
            .err()
            .unwrap();
        assert!(e.0.contains("\"uart14\" is no UART"), "{e}");
    }

    /// The I2C controller as `build::place_i2c` wires it, with the EVB's devices: bus n's
    /// buffer is its 32 bytes of the pool the guest sees at +0xC00, and DMA reaches DRAM. Bus
    /// 7's EEPROM is read both ways.
    #[test]
    fn i2c_buses_transfer_through_their_pool_buffer_and_dram() {
        let mut bus = Bus::new();
        let dram = Rc::new(VecMemory::new(map::ast2600::DRAM, 0x1000));
        let dram_view: Rc<dyn GuestMemory> = dram.clone();
        let placement = map::ast2600::placement(map::Block::I2c).unwrap();
        let mut devices = build::place_i2c(
            &mut bus,
            placement,
            i2c::Variant::Ast2600,
            &|_| IrqLine::disconnected(),
            &dram_view,
        )
        .unwrap();
        for d in &board::default_board().i2c {
            devices.place(d).unwrap();
        }
        const EEPROM_BUS: usize = 7;
        const EEPROM_ADDR: u8 = 0x50;
        let regs = map::ast2600::I2C + bus_block_offset(EEPROM_BUS);
        let buffer = map::ast2600::I2C + POOL_OFFSET + (EEPROM_BUS * POOL_BUS_BUFFER_SIZE) as u64;
        let write = |offset: u64, value: u32| assert!(bus.write(regs + offset, 4, value.into()));
        let status = || bus.read(regs + REG_INTR_STS, 4).unwrap() as u32;
        let address = u32::from(EEPROM_ADDR) << 1;
        write(REG_FUN_CTRL, FUN_MASTER_EN);

        // Buffer mode: the address byte and the EEPROM offset (0) from the pool, then 7 bytes
        // back into it.
        assert!(bus.write(buffer, 4, u64::from(address)));
        write(REG_POOL_CTRL, 1 << POOL_CTRL_TX_COUNT_SHIFT);
        write(REG_CMD, CMD_M_START | CMD_M_TX | CMD_TX_BUFF_EN);
        assert_eq!(status(), INTR_TX_ACK);
        write(REG_INTR_STS, !0);
        write(REG_BYTE_BUF, address | 1);
        write(REG_POOL_CTRL, 6 << POOL_CTRL_RX_SIZE_SHIFT);
        let rx = CMD_M_START | CMD_M_TX | CMD_M_RX | CMD_M_RX_LAST | CMD_M_STOP;
        write(REG_CMD, rx | CMD_RX_BUFF_EN);
        assert_eq!(status(), INTR_TX_ACK | INTR_RX_DONE | INTR_NORMAL_STOP);
        let got: Vec<u8> = (0..7)
            .map(|i| bus.read(buffer + i, 1).unwrap() as u8)
            .collect();
        assert_eq!(got, b"ast-emu");

        // DMA mode: the same read (the EEPROM's offset went back to 0 with its address write).
        write(REG_INTR_STS, !0);
        dram.write(map::ast2600::DRAM, &[address as u8, 0]).unwrap();
        write(REG_DMA_ADDR, map::ast2600::DRAM as u32);
        write(REG_DMA_LEN, 2);
        write(REG_CMD, CMD_M_START | CMD_M_TX | CMD_TX_DMA_EN);
        assert_eq!(status(), INTR_TX_ACK);
        write(REG_INTR_STS, !0);
        write(REG_DMA_ADDR, map::ast2600::DRAM as u32 + 0x100);
        write(REG_DMA_LEN, 7);
        write(REG_CMD, rx | CMD_RX_DMA_EN);
        assert_eq!(status(), INTR_TX_ACK | INTR_RX_DONE | INTR_NORMAL_STOP);
        let mut got = [0u8; 7];
        dram.read(map::ast2600::DRAM + 0x100, &mut got).unwrap();
        assert_eq!(&got, b"ast-emu");
    }
}
