//! The Cortex-A7 core of ast-emu: unicorn-engine 2.1.5 with the project's patch set.
//!
//! This is the only crate that knows unicorn. It offers what a SoC model needs from a CPU:
//! - [`Cpu`]: memory mapping (host memory mapped directly, MMIO regions served by a
//!   [`MmioHandler`]), registers, and [`Cpu::run`], which returns at a block boundary when
//!   asked to ([`CpuHandle::request_exit`]) or when the guest waits in WFI;
//! - [`CpuHandle`]: a thread-safe handle that drives the IRQ and FIQ inputs and requests exits;
//! - [`VirtualClock`]: the guest's time, which follows host time and can jump ahead when idle;
//! - the ARM generic timer, counting at the rate the firmware writes to CNTFRQ, whose outputs
//!   are reported through [`TimerOutputs`];
//! - ROM semantics for memory mapped [`Access::ReadExec`]: guest stores to it are dropped and
//!   logged once per 4 KiB page (log target [`ROM_LOG_TARGET`]), as QEMU's ROM regions do;
//! - [`Fault`]: what stopped the core when it could not go on (the PC, the access and its
//!   address), as data and as one readable line.
//!
//! The patch set (`patches/unicorn/`) gives architectural exception entry, the IRQ/FIQ lines,
//! exact block-boundary exits, the generic timer callbacks, code-page tracking, invalidation
//! by physical address, dropped ROM stores and the record of a failed access;
//! `scripts/build-unicorn` builds it.
#![deny(missing_docs)]

mod clock;
mod device_lock;
mod fault;
mod ffi;
mod rom;
mod snapshot;
mod timer;

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::sync::{Arc, RwLock};

use unicorn_engine::{Arch, Mode, Prot, RegisterARM, RegisterARMCP, Unicorn};

pub use clock::VirtualClock;
pub use device_lock::{DeviceGuard, DeviceLock};
pub use fault::{AccessKind, Fault, FaultAccess, FaultCause};
pub use rom::ROM_LOG_TARGET;
pub use snapshot::{CpuState, CPU_STATE_VERSION, UNICORN_BUILD};
pub use timer::{GenericTimer, TimerOutputs, TIMER_HYP, TIMER_PHYS, TIMER_SECURE, TIMER_VIRT};

/// Serves the accesses to an MMIO region. Addresses are guest physical addresses.
pub trait MmioHandler {
    /// A read of `size` bytes (1, 2, 4 or 8) at `addr`.
    fn read(&mut self, addr: u64, size: u8) -> u64;
    /// A write of the low `size` bytes of `value` at `addr`.
    fn write(&mut self, addr: u64, size: u8, value: u64);
}

/// How the guest may use a region of host memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read and execute (ROM, flash in read mode). Loads and fetches run at memory speed;
    /// guest stores are dropped (memory unchanged, the CPU goes on with the next
    /// instruction) and each 4 KiB page written is logged once, as a warning with target
    /// [`ROM_LOG_TARGET`]. Host writes ([`Cpu::write_memory`]) still land.
    ReadExec,
    /// Read, write and execute (RAM).
    ReadWriteExec,
}

/// Why [`Cpu::run`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// An exit was requested through [`CpuHandle::request_exit`].
    Requested,
    /// The guest executed WFI and waits for an interrupt.
    WaitForInterrupt,
    /// The guest reached a breakpoint set with [`Cpu::add_breakpoint`]; the instruction at
    /// this address has not run yet.
    Breakpoint(u64),
    /// An instruction is about to access memory a watchpoint set with
    /// [`Cpu::add_watchpoint`] covers: the CPU stopped before the access, with the PC on the
    /// instruction and memory unchanged (as ARM debug hardware does, and GDB expects).
    Watchpoint(WatchHit),
    /// The core stopped on an error it cannot recover from.
    Fault(Fault),
}

/// Which accesses a watchpoint stops on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WatchKind {
    /// Stores.
    Write,
    /// Loads.
    Read,
    /// Loads and stores.
    ReadWrite,
}

/// The access that stopped the CPU at a watchpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchHit {
    /// The watchpoint's virtual address as it was set (what a debugger matches on).
    pub watch_addr: u64,
    /// The virtual address of the accessed byte within the watched range.
    pub addr: u64,
    /// The kind of the watchpoint that stopped the CPU.
    pub kind: WatchKind,
    /// Whether the access was a store.
    pub write: bool,
}

/// A watchpoint: where it was set and the hook that implements it.
struct Watchpoint {
    phys: u64,
    hook: unicorn_engine::UcHookId,
}

/// The instruction a debugging stop held back (at this PC): the next run or step lets it run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    /// Stopped before the instruction at a breakpoint.
    Breakpoint(u64),
    /// Stopped before the instruction's access to watched memory.
    Watchpoint(u64),
}

/// CPSR at reset and for [`Cpu::start_at`]: SVC mode, ARM state, IRQ, FIQ and aborts masked.
const CPSR_SVC_MASKED: u32 = 0x1d3;

/// Errors from setting the core up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuError(pub String);

impl fmt::Display for CpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CpuError {}

fn err(what: &str, e: unicorn_engine::uc_error) -> CpuError {
    CpuError(format!("{what}: {e:?}"))
}

/// Core registers by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reg {
    /// General-purpose register 0..=12.
    R(u8),
    /// Stack pointer of the current mode.
    Sp,
    /// Link register of the current mode.
    Lr,
    /// Program counter.
    Pc,
    /// Current program status register.
    Cpsr,
    /// Saved program status register of the current mode.
    Spsr,
}

impl Reg {
    fn unicorn(self) -> RegisterARM {
        match self {
            Reg::R(n) => match n {
                0 => RegisterARM::R0,
                1 => RegisterARM::R1,
                2 => RegisterARM::R2,
                3 => RegisterARM::R3,
                4 => RegisterARM::R4,
                5 => RegisterARM::R5,
                6 => RegisterARM::R6,
                7 => RegisterARM::R7,
                8 => RegisterARM::R8,
                9 => RegisterARM::R9,
                10 => RegisterARM::R10,
                11 => RegisterARM::R11,
                _ => RegisterARM::R12,
            },
            Reg::Sp => RegisterARM::SP,
            Reg::Lr => RegisterARM::LR,
            Reg::Pc => RegisterARM::PC,
            Reg::Cpsr => RegisterARM::CPSR,
            Reg::Spsr => RegisterARM::SPSR,
        }
    }
}

/// A CP15 register by its encoding (`MRC p15, opc1, Rt, CRn, CRm, opc2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cp15 {
    /// CRn.
    pub crn: u32,
    /// CRm.
    pub crm: u32,
    /// opc1.
    pub opc1: u32,
    /// opc2.
    pub opc2: u32,
}

impl Cp15 {
    /// Secure Configuration Register.
    pub const SCR: Cp15 = Cp15 {
        crn: 1,
        crm: 1,
        opc1: 0,
        opc2: 0,
    };
    /// System Control Register.
    pub const SCTLR: Cp15 = Cp15 {
        crn: 1,
        crm: 0,
        opc1: 0,
        opc2: 0,
    };
    /// Data Fault Status Register.
    pub const DFSR: Cp15 = Cp15 {
        crn: 5,
        crm: 0,
        opc1: 0,
        opc2: 0,
    };
    /// Instruction Fault Status Register.
    pub const IFSR: Cp15 = Cp15 {
        crn: 5,
        crm: 0,
        opc1: 0,
        opc2: 1,
    };
    /// Data Fault Address Register.
    pub const DFAR: Cp15 = Cp15 {
        crn: 6,
        crm: 0,
        opc1: 0,
        opc2: 0,
    };
    /// Instruction Fault Address Register.
    pub const IFAR: Cp15 = Cp15 {
        crn: 6,
        crm: 0,
        opc1: 0,
        opc2: 2,
    };
    /// Vector Base Address Register.
    pub const VBAR: Cp15 = Cp15 {
        crn: 12,
        crm: 0,
        opc1: 0,
        opc2: 0,
    };
    /// Multiprocessor Affinity Register.
    pub const MPIDR: Cp15 = Cp15 {
        crn: 0,
        crm: 0,
        opc1: 0,
        opc2: 5,
    };
    /// Counter frequency (CNTFRQ).
    pub const CNTFRQ: Cp15 = Cp15 {
        crn: 14,
        crm: 0,
        opc1: 0,
        opc2: 0,
    };
}

/// A thread-safe handle to the core's inputs: IRQ, FIQ and the exit request.
///
/// Valid from any thread for as long as the process runs; once the [`Cpu`] is dropped the
/// calls do nothing.
#[derive(Clone)]
pub struct CpuHandle {
    engine: Arc<RwLock<Option<ffi::EnginePtr>>>,
}

impl CpuHandle {
    fn with<R>(&self, f: impl FnOnce(*mut unicorn_engine::uc_engine) -> R) -> Option<R> {
        let guard = self.engine.read().ok()?;
        guard.map(|p| f(p.0))
    }

    /// Drops translated code for guest physical `[addr, addr + len)` from any thread, for a
    /// core on a thread of its own ([`Cpu::set_threaded`]): the core does it at its next
    /// block boundary, or before it runs again.
    pub fn invalidate_code(&self, addr: u64, len: u64) {
        // SAFETY: as in `set_irq`; the patch set makes the call thread-safe (a posted request).
        let _ = self.with(|uc| unsafe { ffi::uc_ast_post_invalidate_phys(uc, addr, len) });
    }

    /// Drives the IRQ input to `level`. The CPU takes it at its next block boundary.
    pub fn set_irq(&self, level: bool) {
        // SAFETY: the engine is alive while the read lock is held; the call is thread-safe.
        let _ = self.with(|uc| unsafe { ffi::uc_ast_set_irq_line(uc, 0, level as i32) });
    }

    /// Drives the FIQ input to `level`.
    pub fn set_fiq(&self, level: bool) {
        // SAFETY: as in `set_irq`.
        let _ = self.with(|uc| unsafe { ffi::uc_ast_set_irq_line(uc, 1, level as i32) });
    }

    /// A handle that reaches no core until [`CpuHandle::follow`] points it at one: for the
    /// host threads of a machine whose cores take turns on one thread (their kicks go to the
    /// core running now).
    pub fn detached() -> Self {
        CpuHandle {
            engine: Arc::new(RwLock::new(None)),
        }
    }

    /// Makes this handle (and its clones) reach `cpu` from now on.
    pub fn follow(&self, cpu: &Cpu) {
        let target = cpu.handle.engine.read().ok().and_then(|g| *g);
        if let Ok(mut g) = self.engine.write() {
            *g = target;
        }
    }

    /// Makes this handle reach no core (before the cores it followed go away).
    pub fn detach(&self) {
        if let Ok(mut g) = self.engine.write() {
            *g = None;
        }
    }

    /// A reader of the PC of the instruction making an MMIO access, on the core this handle
    /// reaches (traces; see [`Cpu::io_pc`]).
    pub fn io_pc(&self) -> IoPc {
        IoPc {
            handle: self.clone(),
            _not_send: std::marker::PhantomData,
        }
    }

    /// Makes [`Cpu::run`] return at the next block boundary (never mid-instruction).
    pub fn request_exit(&self) {
        // SAFETY: as in `set_irq`.
        let _ = self.with(|uc| unsafe { ffi::uc_ast_request_exit(uc) });
    }
}

/// Tells the MMIO handler being called which instruction made the access (for traces).
///
/// Not `Send`: it is for the emulation thread, from inside [`MmioHandler`] calls.
pub struct IoPc {
    handle: CpuHandle,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl IoPc {
    /// The address of the instruction whose access is being served. Meaningful only inside
    /// an [`MmioHandler`] call; it costs a lookup in the translated block's tables, so call
    /// it only when the answer is wanted (a trace that is on).
    pub fn pc(&self) -> u32 {
        // SAFETY: the engine is alive while the lock is held (the Cpu clears the pointer when
        // dropped) and this runs on the emulation thread (the type is not Send), in an access.
        self.handle
            .with(|uc| unsafe { ffi::uc_ast_io_pc(uc) as u32 })
            .unwrap_or(0)
    }
}

/// The emulated Cortex-A7.
pub struct Cpu {
    /// The core it emulates.
    model: CpuModel,
    uc: Unicorn<'static, ()>,
    handle: CpuHandle,
    timer: Box<GenericTimer>,
    /// The guest stores to read-only memory the core dropped (dropped after the engine).
    rom_writes: Box<rom::RomWrites>,
    memory: Vec<Rc<dyn std::any::Any>>,
    /// Taken around each MMIO access and timer output change (see [`Cpu::use_device_lock`]).
    device_lock: Option<Arc<DeviceLock>>,
    debug: Rc<DebugState>,
    breakpoints: std::collections::BTreeMap<u64, unicorn_engine::UcHookId>,
    /// Watchpoints by (virtual address, length, kind).
    watchpoints: std::collections::BTreeMap<(u64, u64, WatchKind), Watchpoint>,
    /// What the last stop held back, if it was a breakpoint or watchpoint. Taken by the next
    /// run or step: only a resume straight from that stop runs the instruction past it (the
    /// CPU can also come to rest at a breakpoint's address without having hit it, when an exit
    /// request ends a run at that block's start: then the breakpoint must still fire).
    held: Option<Held>,
    /// Counting instructions ([`Cpu::set_counting`]): the next run's budget, and what the
    /// last run executed.
    counting: Option<Counting>,
}

/// A counting core's budget and count.
#[derive(Debug, Default, Clone, Copy)]
struct Counting {
    budget: u64,
    executed: u64,
}

/// What the debugging hooks share with [`Cpu`]: set from inside unicorn callbacks.
#[derive(Default)]
struct DebugState {
    /// The breakpoint that stopped the last run.
    hit: std::cell::Cell<Option<u64>>,
    /// Stepping: breakpoints do not stop the first instruction.
    stepping: std::cell::Cell<bool>,
    /// Instructions started during a step.
    stepped: std::cell::Cell<u32>,
    /// The watchpoint access that stopped the last run.
    watch_hit: std::cell::Cell<Option<WatchHit>>,
    /// Watchpoints do not stop this step (resuming over the access they held back).
    watch_muted: std::cell::Cell<bool>,
}

/// The core a [`Cpu`] emulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CpuModel {
    /// ARM Cortex-A7 (ARMv7-A with the generic timer, MPIDR, LPAE): the AST2600's cores.
    #[default]
    CortexA7,
    /// ARM1176JZF-S (ARMv6K with VFPv2 and TrustZone, no generic timer): the AST2400's and
    /// AST2500's core.
    Arm1176,
}

impl CpuModel {
    /// SCTLR at reset (ARM ARM B4.1.130 for the Cortex-A7's 0x00C5_0078; the ARM1176 TRM
    /// 3.2.7 for 0x0005_0078: low vectors, MMU and caches off).
    pub const fn sctlr_reset(self) -> u32 {
        match self {
            CpuModel::CortexA7 => 0x00c5_0078,
            CpuModel::Arm1176 => 0x0005_0078,
        }
    }

    /// Whether the core has the generic timer (CNTFRQ, CNTPCT, CNTx_CTL/CVAL).
    pub const fn has_generic_timer(self) -> bool {
        matches!(self, CpuModel::CortexA7)
    }

    /// The name `/proc/cpuinfo` and the monitor show.
    pub const fn name(self) -> &'static str {
        match self {
            CpuModel::CortexA7 => "cortex-a7",
            CpuModel::Arm1176 => "arm1176",
        }
    }
}

impl Cpu {
    /// A Cortex-A7 at reset, in Secure SVC mode with interrupts masked, PC at 0, counting time
    /// on `clock`. Its generic timer outputs go to `outputs`.
    pub fn new(clock: VirtualClock, outputs: Box<dyn TimerOutputs>) -> Result<Self, CpuError> {
        Self::with_model(CpuModel::CortexA7, clock, outputs)
    }

    /// A core of `model` at reset, as [`Cpu::new`] (an ARM1176 has no generic timer: then
    /// `outputs` never changes).
    pub fn with_model(
        model: CpuModel,
        clock: VirtualClock,
        outputs: Box<dyn TimerOutputs>,
    ) -> Result<Self, CpuError> {
        let mut uc = Unicorn::new(Arch::ARM, Mode::ARM | Mode::LITTLE_ENDIAN)
            .map_err(|e| err("unicorn", e))?;
        let uc_model = match model {
            CpuModel::CortexA7 => unicorn_engine::ArmCpuModel::CORTEX_A7,
            CpuModel::Arm1176 => unicorn_engine::ArmCpuModel::Model_1176,
        };
        uc.ctl_set_cpu_model(uc_model as i32)
            .map_err(|e| err("cpu model", e))?;
        uc.ctl_set_page_size(4096)
            .map_err(|e| err("page size", e))?;
        // No exit addresses at all: emulation only stops when asked to.
        uc.ctl_exits_enable().map_err(|e| err("exits", e))?;
        let handle_ptr = uc.get_handle();
        // SAFETY: a valid engine.
        let rc = unsafe { ffi::uc_ast_enable(handle_ptr) };
        if rc != 0 {
            return Err(CpuError(format!(
                "the linked libunicorn lacks the ast-emu patch set (uc_ast_enable returned {rc})"
            )));
        }
        let mut timer = Box::new(GenericTimer::new(clock, outputs));
        // SAFETY: the timer box outlives the engine (dropped after it in `Drop`).
        unsafe { timer.install(handle_ptr) };
        let rom_writes = Box::<rom::RomWrites>::default();
        // SAFETY: a live engine with the patch set on; the box outlives it, as the timer's.
        let rc = unsafe { rom_writes.install(handle_ptr) };
        if rc != 0 {
            return Err(CpuError(format!(
                "the linked libunicorn lacks ROM stores (uc_ast_set_rom_write_callback returned {rc})"
            )));
        }
        let handle = CpuHandle {
            engine: Arc::new(RwLock::new(Some(ffi::EnginePtr(handle_ptr)))),
        };
        let mut cpu = Cpu {
            model,
            uc,
            handle,
            timer,
            rom_writes,
            memory: Vec::new(),
            device_lock: None,
            debug: Rc::new(DebugState::default()),
            breakpoints: std::collections::BTreeMap::new(),
            watchpoints: std::collections::BTreeMap::new(),
            held: None,
            counting: None,
        };
        cpu.reset()?;
        Ok(cpu)
    }

    /// Points the core at `entry` (Thumb state if bit 0 is set) in SVC mode with IRQ, FIQ and
    /// aborts masked, the state QEMU's `-kernel` starts a bare-metal ELF in. Other registers
    /// keep their values.
    pub fn start_at(&mut self, entry: u32) {
        self.set_reg(Reg::Cpsr, CPSR_SVC_MASKED);
        self.set_reg(Reg::Pc, entry);
    }

    /// Puts the core back to its reset state: Secure SVC, IRQ/FIQ/aborts masked, PC 0.
    pub fn reset(&mut self) -> Result<(), CpuError> {
        for n in 0..13 {
            self.set_reg(Reg::R(n), 0);
        }
        self.set_cp15(Cp15::SCTLR, self.model.sctlr_reset())?;
        self.set_cp15(Cp15::VBAR, 0)?;
        // Unicorn starts non-secure; the silicon starts in Secure state.
        self.set_cp15(Cp15::SCR, 0)?;
        self.uc
            .reg_write(RegisterARM::CPSR, CPSR_SVC_MASKED.into())
            .map_err(|e| err("cpsr", e))?;
        self.set_reg(Reg::Pc, 0);
        self.take_event();
        self.take_wfe_wait();
        self.uc.ctl_flush_tb().map_err(|e| err("tb flush", e))?;
        self.uc.ctl_flush_tlb().map_err(|e| err("tlb flush", e))?;
        Ok(())
    }

    /// The core it emulates.
    pub fn model(&self) -> CpuModel {
        self.model
    }

    /// Sets the affinity fields MPIDR reports (the SoC's CPU numbering: 0xF00 for CPU0 of the
    /// AST2600).
    pub fn set_mp_affinity(&mut self, affinity: u32) -> Result<(), CpuError> {
        // SAFETY: a live engine, on its own thread.
        let rc = unsafe { ffi::uc_ast_set_mp_affinity(self.uc.get_handle(), affinity as u64) };
        if rc != 0 {
            return Err(CpuError(format!("setting MPIDR affinity failed ({rc})")));
        }
        Ok(())
    }

    /// Makes this core count on `primary`'s system counter (cores of one machine see the same
    /// CNTPCT, at the rate the primary's CNTFRQ sets).
    pub fn share_counter_with(&mut self, primary: &Cpu) {
        self.timer.share_counter(&primary.timer);
    }

    /// Puts this core and `other` in one inner-shareable domain over the same guest RAM, as
    /// the cores of one cluster are (call for every pair): broadcast TLB maintenance
    /// (TLBIALLIS, TLBIMVAIS, ...) on one flushes the other's TLB, SEV on one sets the other's
    /// event register, and a store by one to RAM the other has translated code from drops
    /// that code. The cores must take turns on one thread. A dropped core leaves the domain.
    pub fn share_domain_with(&mut self, other: &mut Cpu) -> Result<(), CpuError> {
        // SAFETY: two live engines, on this thread; each leaves the domain when dropped.
        let rc = unsafe { ffi::uc_ast_add_peer(self.uc.get_handle(), other.uc.get_handle()) };
        if rc != 0 {
            return Err(CpuError(format!(
                "cannot join the cores' domain (uc_ast_add_peer error {rc})"
            )));
        }
        Ok(())
    }

    /// Makes the core take `lock` around every MMIO access and every change of its timer
    /// outputs (call before [`Cpu::map_mmio`]): the lock of a machine whose cores may run on
    /// threads of their own. While the lock is off ([`DeviceLock::enable`]) it costs nothing.
    pub fn use_device_lock(&mut self, lock: Arc<DeviceLock>) {
        self.timer.lock = Some(lock.clone());
        self.device_lock = Some(lock);
    }

    /// Counts the instructions the core executes (deterministic runs): each run stops after
    /// the budget [`Cpu::set_budget`] gave it (exactly, or earlier for the usual reasons), the
    /// count is [`Cpu::executed`], and a counting [`VirtualClock`] (the one the core was made
    /// with) takes its time from it. Not with [`Cpu::set_threaded`]. Drops translated code.
    pub fn set_counting(&mut self, on: bool) -> Result<(), CpuError> {
        // SAFETY: a live engine, on its own thread, not running.
        let rc = unsafe { ffi::uc_ast_set_counting(self.uc.get_handle(), on as i32) };
        if rc != 0 {
            return Err(CpuError(format!(
                "the linked libunicorn cannot count instructions (uc_ast_set_counting returned {rc})"
            )));
        }
        self.counting = on.then_some(Counting {
            budget: u64::MAX,
            executed: 0,
        });
        Ok(())
    }

    /// Whether the core counts instructions.
    pub fn is_counting(&self) -> bool {
        self.counting.is_some()
    }

    /// A counting core: the most instructions the next run may execute (at least 1).
    pub fn set_budget(&mut self, insns: u64) {
        if let Some(c) = &mut self.counting {
            c.budget = insns.max(1);
        }
    }

    /// A counting core: the instructions its last run executed (0 when not counting).
    pub fn executed(&self) -> u64 {
        self.counting.map_or(0, |c| c.executed)
    }

    /// Starts the engine at `pc`; a counting core runs on its budget and its count goes to
    /// the clock.
    fn emu_start(&mut self, pc: u64) -> Result<(), unicorn_engine::uc_error> {
        let Some(counting) = self.counting else {
            return self.uc.emu_start(pc, 0, 0, 0);
        };
        let uc = self.uc.get_handle();
        // SAFETY: a live engine on its own thread, not running.
        unsafe { ffi::uc_ast_set_budget(uc, counting.budget) };
        let clock = self.timer.clock().clone();
        self.timer
            .run_end
            .set(clock.after_instructions(counting.budget));
        clock.run_begins(uc);
        let result = self.uc.emu_start(pc, 0, 0, 0);
        self.timer.run_end.set(u64::MAX);
        // SAFETY: as above; the run has ended.
        let executed = unsafe { ffi::uc_ast_executed(uc) };
        clock.run_ends(executed);
        self.counting = Some(Counting {
            budget: u64::MAX,
            executed,
        });
        result
    }

    /// Lets this core run on a thread of its own beside the others of its domain (call on
    /// every core before any runs; see [`Cpu::share_domain_with`]): its code is translated
    /// for a parallel context (LDREX/STREX and the other atomics become host atomic
    /// operations), broadcast TLB maintenance and code dropped by another core's stores are
    /// done by this core itself at its next block boundary while the other waits, and WFE
    /// and YIELD do not end a run (as in QEMU's multi-threaded TCG). From then on only
    /// [`CpuHandle`] may be used from other threads; the `Cpu` itself belongs to the thread
    /// that runs it (or to whoever holds it while that thread is paused).
    pub fn set_threaded(&mut self, on: bool) -> Result<(), CpuError> {
        // SAFETY: a live engine, on its own thread, not running.
        let rc = unsafe { ffi::uc_ast_set_threaded(self.uc.get_handle(), on as i32) };
        if rc != 0 {
            return Err(CpuError(format!(
                "the linked libunicorn cannot run cores on threads (uc_ast_set_threaded returned {rc})"
            )));
        }
        Ok(())
    }

    /// Whether the last run ended in a WFE that found the event register clear: the core
    /// sleeps until [`Cpu::take_event`] says an event came (another core's SEV), an
    /// interrupt is pending, or the caller wakes it anyway (WFE may always wake early).
    /// Reading it clears it.
    pub fn take_wfe_wait(&mut self) -> bool {
        // SAFETY: a live engine, on its own thread.
        unsafe { ffi::uc_ast_take_wfe_wait(self.uc.get_handle()) != 0 }
    }

    /// Reads and clears the event register (set by SEV on any core of the domain, or SEVL
    /// here): whether a sleeping WFE has its wake-up event.
    pub fn take_event(&mut self) -> bool {
        // SAFETY: a live engine, on its own thread.
        unsafe { ffi::uc_ast_take_event(self.uc.get_handle()) != 0 }
    }

    /// The thread-safe input handle.
    pub fn handle(&self) -> CpuHandle {
        self.handle.clone()
    }

    /// Makes every store to guest physical `[start, start + len)` the last instruction of its
    /// translated block, so that an exit requested from its MMIO callback
    /// ([`CpuHandle::request_exit`]) stops the CPU before the next instruction runs: for a
    /// controller whose register writes remap memory. `len` 0 turns it off.
    pub fn set_io_barrier(&mut self, start: u64, len: u64) {
        // SAFETY: a live engine, on its own thread.
        unsafe { ffi::uc_ast_set_io_barrier(self.uc.get_handle(), start, len) }
    }

    /// A reader of the PC of the instruction making an MMIO access (traces).
    pub fn io_pc(&self) -> IoPc {
        self.handle.io_pc()
    }

    /// The generic timer (for deadlines and the counter).
    pub fn timer(&self) -> &GenericTimer {
        &self.timer
    }

    /// How many guest stores to read-only memory ([`Access::ReadExec`]) were dropped since
    /// the CPU was made (each 4 KiB page is logged once, the count has them all).
    pub fn dropped_rom_writes(&self) -> u64 {
        self.rom_writes.dropped()
    }

    /// Maps `len` bytes of `memory` (which the CPU keeps alive) at guest address `addr`, as
    /// `access` says (with [`Access::ReadExec`], guest stores are dropped as by a ROM).
    ///
    /// `ptr` must point to at least `len` bytes owned by `memory` that never move.
    ///
    /// # Safety
    /// The caller guarantees `ptr..ptr+len` stays valid while `memory` lives and is only
    /// accessed through copies (never through Rust references) while the CPU runs.
    pub unsafe fn map_host_memory(
        &mut self,
        addr: u64,
        len: u64,
        ptr: *mut u8,
        memory: Rc<dyn std::any::Any>,
        access: Access,
    ) -> Result<(), CpuError> {
        let prot = match access {
            Access::ReadExec => Prot::READ | Prot::EXEC,
            Access::ReadWriteExec => Prot::ALL,
        };
        // SAFETY: forwarded from the caller.
        unsafe { self.uc.mem_map_ptr(addr, len, prot, ptr.cast()) }
            .map_err(|e| err(&format!("map {addr:#x}+{len:#x}"), e))?;
        // Kept once: a window mapped again and again (the FMC's) holds the same memory.
        if !self.memory.iter().any(|m| Rc::ptr_eq(m, &memory)) {
            self.memory.push(memory);
        }
        Ok(())
    }

    /// Serves `[addr, addr + len)` with `handler`.
    pub fn map_mmio(
        &mut self,
        addr: u64,
        len: u64,
        handler: Rc<RefCell<dyn MmioHandler>>,
    ) -> Result<(), CpuError> {
        let r = handler.clone();
        let w = handler;
        let (rl, wl) = (self.device_lock.clone(), self.device_lock.clone());
        self.uc
            .mmio_map(
                addr,
                len,
                Some(move |_: &mut Unicorn<'_, ()>, off: u64, size: usize| {
                    let _held = rl.as_ref().map(|l| l.hold());
                    r.borrow_mut().read(addr + off, size as u8)
                }),
                Some(
                    move |_: &mut Unicorn<'_, ()>, off: u64, size: usize, value: u64| {
                        let _held = wl.as_ref().map(|l| l.hold());
                        w.borrow_mut().write(addr + off, size as u8, value)
                    },
                ),
            )
            .map_err(|e| err(&format!("mmio {addr:#x}+{len:#x}"), e))
    }

    /// Removes the mapping of `[addr, addr + len)`.
    pub fn unmap(&mut self, addr: u64, len: u64) -> Result<(), CpuError> {
        self.uc
            .mem_unmap(addr, len)
            .map_err(|e| err(&format!("unmap {addr:#x}"), e))
    }

    /// Drops translated code for guest physical `[addr, addr + len)` (DMA, loaders).
    pub fn invalidate_code(&mut self, addr: u64, len: u64) {
        // SAFETY: a live engine, on its own thread.
        unsafe { ffi::uc_ast_invalidate_phys(self.uc.get_handle(), addr, len) }
    }

    /// Copies guest physical memory into `buf`.
    pub fn read_memory(&self, addr: u64, buf: &mut [u8]) -> Result<(), CpuError> {
        self.uc
            .mem_read(addr, buf)
            .map_err(|e| err(&format!("read {addr:#x}"), e))
    }

    /// Copies `data` into guest physical memory, dropping translated code it overwrites.
    pub fn write_memory(&mut self, addr: u64, data: &[u8]) -> Result<(), CpuError> {
        self.uc
            .mem_write(addr, data)
            .map_err(|e| err(&format!("write {addr:#x}"), e))?;
        self.invalidate_code(addr, data.len() as u64);
        Ok(())
    }

    /// Copies memory at virtual address `addr` (through the guest's MMU, as fetched) into `buf`.
    pub fn read_virtual(&self, addr: u64, buf: &mut [u8]) -> Result<(), CpuError> {
        self.uc
            .vmem_read(addr, Prot::EXEC, buf)
            .map_err(|e| err(&format!("read virtual {addr:#x}"), e))
    }

    /// Copies memory at virtual address `addr` as the guest's loads see it into `buf`.
    pub fn read_virtual_data(&self, addr: u64, buf: &mut [u8]) -> Result<(), CpuError> {
        self.uc
            .vmem_read(addr, Prot::READ, buf)
            .map_err(|e| err(&format!("read virtual {addr:#x}"), e))
    }

    /// Copies `data` to virtual address `addr` (through the guest's MMU, page by page), dropping
    /// translated code it overwrites. Read-only mappings are written too, as a debugger expects.
    pub fn write_virtual(&mut self, addr: u64, data: &[u8]) -> Result<(), CpuError> {
        let mut done = 0usize;
        while done < data.len() {
            let va = addr + done as u64;
            let in_page = (4096 - (va & 0xfff)) as usize;
            let n = in_page.min(data.len() - done);
            let pa = self
                .uc
                .vmem_translate(va, Prot::READ)
                .map_err(|e| err(&format!("translate {va:#x}"), e))?;
            self.write_memory(pa, &data[done..done + n])?;
            done += n;
        }
        Ok(())
    }

    /// Whether the CPU sits in a one-instruction loop (`b .`) with IRQs masked: only an FIQ could
    /// get it out (Linux's `machine_halt` after `poweroff` on a board with no power controller).
    pub fn is_stuck(&self) -> bool {
        let cpsr = self.reg(Reg::Cpsr);
        if cpsr & 0x80 == 0 {
            return false;
        }
        let pc = self.reg(Reg::Pc) as u64;
        if cpsr & (1 << 5) != 0 {
            let mut insn = [0u8; 2];
            self.read_virtual(pc, &mut insn).is_ok() && u16::from_le_bytes(insn) == 0xe7fe
        } else {
            let mut insn = [0u8; 4];
            self.read_virtual(pc, &mut insn).is_ok() && u32::from_le_bytes(insn) == 0xeaff_fffe
        }
    }

    /// Whether both IRQ and FIQ are masked (CPSR.I and CPSR.F): no interrupt can reach the
    /// core.
    pub fn interrupts_masked(&self) -> bool {
        self.reg(Reg::Cpsr) & 0xc0 == 0xc0
    }

    /// Reads a core register.
    pub fn reg(&self, reg: Reg) -> u32 {
        self.uc.reg_read(reg.unicorn()).unwrap_or(0) as u32
    }

    /// Writes a core register. Writing PC with bit 0 set selects Thumb state.
    pub fn set_reg(&mut self, reg: Reg, value: u32) {
        if let Err(e) = self.uc.reg_write(reg.unicorn(), value as u64) {
            log::error!("cpu: writing {reg:?} failed: {e:?}");
        }
    }

    /// The banked registers of every mode: (mode name, SP, LR, SPSR; no SPSR for usr/sys).
    /// Read by switching the core to each mode and back; the current state is unchanged.
    pub fn banked_registers(&mut self) -> Vec<(&'static str, u32, u32, Option<u32>)> {
        const MODES: [(&str, u32); 7] = [
            ("usr/sys", 0x1f),
            ("fiq", 0x11),
            ("irq", 0x12),
            ("svc", 0x13),
            ("mon", 0x16),
            ("abt", 0x17),
            ("und", 0x1b),
        ];
        let cpsr = self.reg(Reg::Cpsr);
        let out = MODES
            .iter()
            .map(|&(name, mode)| {
                self.set_reg(Reg::Cpsr, (cpsr & !0x1f) | mode);
                let spsr = (mode != 0x1f).then(|| self.reg(Reg::Spsr));
                (name, self.reg(Reg::Sp), self.reg(Reg::Lr), spsr)
            })
            .collect();
        self.set_reg(Reg::Cpsr, cpsr);
        out
    }

    /// The address of the next instruction, with bit 0 set in Thumb state.
    pub fn resume_pc(&self) -> u64 {
        self.reg(Reg::Pc) as u64 | self.thumb() as u64
    }

    fn cp15_reg(r: Cp15, val: u64) -> RegisterARMCP {
        RegisterARMCP {
            cp: 15,
            is64: 0,
            sec: 1,
            crn: r.crn,
            crm: r.crm,
            opc1: r.opc1,
            opc2: r.opc2,
            val,
        }
    }

    /// Reads a CP15 register (the Secure bank where banked: the core runs Secure).
    pub fn cp15(&self, r: Cp15) -> Result<u32, CpuError> {
        let mut reg = Self::cp15_reg(r, 0);
        self.uc
            .reg_read_arm_coproc(&mut reg)
            .map_err(|e| err("cp15 read", e))?;
        Ok(reg.val as u32)
    }

    /// Writes a CP15 register.
    pub fn set_cp15(&mut self, r: Cp15, value: u32) -> Result<(), CpuError> {
        let reg = Self::cp15_reg(r, value as u64);
        self.uc
            .reg_write_arm_coproc(&reg)
            .map_err(|e| err("cp15 write", e))
    }

    /// Runs the guest from the current PC until an exit is requested, the CPU waits in WFI or
    /// it reaches a breakpoint or watchpoint. Resuming from a breakpoint or watchpoint stop
    /// runs the instruction it held back first.
    pub fn run(&mut self) -> Exit {
        if let Some(held) = self.held.take() {
            let pc = self.reg(Reg::Pc) as u64;
            let holds = match held {
                Held::Breakpoint(at) => at == pc && self.breakpoints.contains_key(&pc),
                Held::Watchpoint(at) => at == pc,
            };
            if holds {
                match self.step_past(Some(held)) {
                    Exit::Requested => {}
                    other => return other,
                }
            }
        }
        let pc = self.resume_pc();
        let result = self.emu_start(pc);
        self.exit_reason(result)
    }

    fn exit_reason(&mut self, result: Result<(), unicorn_engine::uc_error>) -> Exit {
        // SAFETY: a live engine.
        let halted = unsafe { ffi::uc_ast_halted(self.uc.get_handle()) } != 0;
        if let Some(hit) = self.debug.watch_hit.take() {
            self.debug.hit.set(None);
            self.held = Some(Held::Watchpoint(self.reg(Reg::Pc) as u64));
            return Exit::Watchpoint(hit);
        }
        if let Some(addr) = self.debug.hit.take() {
            self.held = Some(Held::Breakpoint(addr));
            return Exit::Breakpoint(addr);
        }
        match result {
            Ok(()) if halted => Exit::WaitForInterrupt,
            Ok(()) => Exit::Requested,
            Err(e) => Exit::Fault(Fault::from_error(
                e,
                self.reg(Reg::Pc),
                self.thumb(),
                self.last_fault_access(),
            )),
        }
    }

    /// Whether the core is in Thumb state.
    fn thumb(&self) -> bool {
        self.reg(Reg::Cpsr) & (1 << 5) != 0
    }

    /// The failed access the core recorded in the last run, if it met one.
    fn last_fault_access(&self) -> Option<FaultAccess> {
        let (mut addr, mut phys, mut size) = (0u64, 0u64, 0u32);
        // SAFETY: a live engine, on its own thread; the pointers are to locals.
        let recorded = unsafe {
            ffi::uc_ast_last_fault(self.uc.get_handle(), &mut addr, &mut phys, &mut size)
        };
        (recorded != 0).then_some(FaultAccess { addr, phys, size })
    }

    /// Runs exactly one instruction (or enters one exception handler), for a debugger's single
    /// step. Breakpoints do not stop the instruction at the current PC, nor do watchpoints
    /// when they stopped it last. Returns [`Exit::Requested`] when the step completed, or
    /// why the CPU stopped instead.
    pub fn step(&mut self) -> Exit {
        let held = self.held.take();
        self.step_past(held)
    }

    /// One step; a watchpoint stop `held` back at the current PC lets its access through.
    fn step_past(&mut self, held: Option<Held>) -> Exit {
        let pc = self.reg(Reg::Pc) as u64;
        self.debug
            .watch_muted
            .set(held == Some(Held::Watchpoint(pc)));
        let exit = self.step_one();
        self.debug.watch_muted.set(false);
        // A step that ends on a breakpoint's address has not run it: the next run stops there.
        if matches!(self.held, Some(Held::Breakpoint(_))) {
            self.held = None;
        }
        exit
    }

    fn step_one(&mut self) -> Exit {
        let debug = self.debug.clone();
        let hook = self.uc.add_code_hook(1, 0, move |uc, _addr, _size| {
            let n = debug.stepped.get();
            debug.stepped.set(n + 1);
            if n >= 1 {
                let _ = uc.emu_stop();
            }
        });
        let hook = match hook {
            Ok(h) => h,
            Err(e) => {
                return Exit::Fault(Fault::core(
                    format!("step hook: {e:?}"),
                    self.reg(Reg::Pc),
                    self.thumb(),
                ))
            }
        };
        // Blocks translated before the hook existed would not call it.
        let _ = self.uc.ctl_flush_tb();
        self.debug.stepping.set(true);
        let mut exit = Exit::Requested;
        // A pending exit request can end a run before its first instruction: try again.
        for _ in 0..1000 {
            self.debug.stepped.set(0);
            let pc = self.resume_pc();
            let result = self.emu_start(pc);
            exit = self.exit_reason(result);
            if self.debug.stepped.get() > 0
                || matches!(exit, Exit::WaitForInterrupt | Exit::Fault(_))
            {
                break;
            }
        }
        self.debug.stepping.set(false);
        let _ = self.uc.remove_hook(hook);
        let _ = self.uc.ctl_flush_tb();
        match exit {
            // A breakpoint on the next instruction ends the step where it would have anyway.
            Exit::Breakpoint(_) => Exit::Requested,
            other => other,
        }
    }

    /// Stops [`Cpu::run`] before the instruction at virtual address `addr` runs (ARM or Thumb).
    /// Works on the address the CPU fetches from, whatever the memory there holds, so it
    /// survives code being copied or relocated.
    pub fn add_breakpoint(&mut self, addr: u64) -> Result<(), CpuError> {
        if self.breakpoints.contains_key(&addr) {
            return Ok(());
        }
        let debug = self.debug.clone();
        let id = self
            .uc
            .add_code_hook(addr, addr, move |uc, pc, _size| {
                if debug.stepping.get() && debug.stepped.get() == 0 {
                    return;
                }
                debug.hit.set(Some(pc));
                let _ = uc.emu_stop();
            })
            .map_err(|e| err(&format!("breakpoint at {addr:#x}"), e))?;
        self.breakpoints.insert(addr, id);
        // Already-translated code would not call the hook.
        self.uc.ctl_flush_tb().map_err(|e| err("tb flush", e))
    }

    /// Removes the breakpoint at `addr`; returns whether there was one.
    pub fn remove_breakpoint(&mut self, addr: u64) -> bool {
        match self.breakpoints.remove(&addr) {
            Some(id) => {
                let _ = self.uc.remove_hook(id);
                let _ = self.uc.ctl_flush_tb();
                true
            }
            None => false,
        }
    }

    /// The addresses of the breakpoints set.
    pub fn breakpoints(&self) -> Vec<u64> {
        self.breakpoints.keys().copied().collect()
    }

    /// Stops [`Cpu::run`] before an instruction loads or stores (as `kind` says) any of the
    /// `len` bytes at virtual address `addr`: the PC stays on the instruction and memory is
    /// unchanged; resuming runs it. The range is watched at the physical addresses it maps
    /// to now (one page at most: a debugger watches a variable), so it follows the memory,
    /// not later changes of the mapping. While watchpoints are set, every load and store
    /// takes the slow path: slower, as watchpoints are on any emulator.
    pub fn add_watchpoint(&mut self, addr: u64, len: u64, kind: WatchKind) -> Result<(), CpuError> {
        let key = (addr, len, kind);
        if self.watchpoints.contains_key(&key) {
            return Ok(());
        }
        if len == 0 || (addr & 0xfff) + len > 0x1000 {
            return Err(CpuError(format!(
                "watchpoint at {addr:#x}: {len} bytes do not fit one page"
            )));
        }
        let phys = self
            .uc
            .vmem_translate(addr, Prot::READ)
            .map_err(|e| err(&format!("watchpoint at {addr:#x}: translate"), e))?;
        let hook_type = match kind {
            WatchKind::Write => unicorn_engine::HookType::MEM_WRITE,
            WatchKind::Read => unicorn_engine::HookType::MEM_READ,
            WatchKind::ReadWrite => {
                unicorn_engine::HookType::MEM_READ | unicorn_engine::HookType::MEM_WRITE
            }
        };
        let debug = self.debug.clone();
        let hook = self
            .uc
            .add_mem_hook(
                hook_type,
                phys,
                phys + len - 1,
                move |uc, access, pa, _, _| {
                    if debug.watch_muted.get() || debug.watch_hit.get().is_some() {
                        return true;
                    }
                    debug.watch_hit.set(Some(WatchHit {
                        watch_addr: addr,
                        addr: addr + pa.saturating_sub(phys).min(len - 1),
                        kind,
                        write: access == unicorn_engine::MemType::WRITE,
                    }));
                    // SAFETY: the live engine this hook belongs to, inside its callback.
                    unsafe { ffi::uc_ast_stop_before_access(uc.get_handle()) };
                    true
                },
            )
            .map_err(|e| err(&format!("watchpoint at {addr:#x}"), e))?;
        self.watchpoints.insert(key, Watchpoint { phys, hook });
        // Code translated before would take the fast path, which calls no hooks.
        self.uc.ctl_flush_tb().map_err(|e| err("tb flush", e))
    }

    /// Removes the watchpoint set with these arguments; returns whether there was one.
    pub fn remove_watchpoint(&mut self, addr: u64, len: u64, kind: WatchKind) -> bool {
        let Some(w) = self.watchpoints.remove(&(addr, len, kind)) else {
            return false;
        };
        let _ = self.uc.remove_hook(w.hook);
        let _ = self.uc.ctl_flush_tb();
        true
    }

    /// The watchpoints set: (virtual address, length, kind, the physical address watched).
    pub fn watchpoints(&self) -> Vec<(u64, u64, WatchKind, u64)> {
        self.watchpoints
            .iter()
            .map(|(&(a, l, k), w)| (a, l, k, w.phys))
            .collect()
    }

    /// Re-evaluates the generic timers against the counter: call when virtual time has
    /// passed [`GenericTimer::next_deadline_ns`].
    pub fn timer_tick(&mut self) {
        // SAFETY: a live engine, on its own thread.
        unsafe { ffi::uc_ast_timer_tick(self.uc.get_handle()) }
    }
}

impl Drop for Cpu {
    fn drop(&mut self) {
        // SAFETY: every peer is alive (each leaves here when it goes), and the cores of a
        // domain live on one thread.
        unsafe { ffi::uc_ast_leave_domain(self.uc.get_handle()) };
        if let Ok(mut g) = self.handle.engine.write() {
            *g = None;
        }
    }
}
