//! The GDB remote stub (`--gdb tcp:HOST:PORT`, `-s`, `-S`), on the `gdbstub` crate with
//! `gdbstub_arch`'s ARM core registers.
//!
//! A debugger can attach at any time: a listener thread accepts the connection and pauses the
//! SoC ([`HostEvent::Pause`]); `main` then runs [`session`] until the debugger detaches and
//! carries on. With `-S` the SoC waits for the debugger before its first instruction.
//!
//! While GDB holds the guest stopped, virtual time stands still (timers do not fire behind its
//! back). Breakpoints are on the address the CPU fetches from (a code hook, nothing is written
//! to guest memory), so "software" and "hardware" breakpoints both work before and after
//! u-boot relocates itself. Memory is read and written by virtual address, through the guest's
//! MMU, as GDB expects. Watchpoints (`watch`, `rwatch`, `awatch`) stop before the access, with
//! the PC on the instruction (GDB then steps over it and shows the old and new value); they
//! watch the physical memory the address maps to when they are set (a variable, up to one
//! page). `monitor CMD` runs the emulator's monitor commands.
//!
//! Each core is a thread: CPU0 is thread 1, CPU1 thread 2 (`info threads` names them with
//! their MPIDR). Registers and memory are those of the thread GDB selects (memory through
//! that core's MMU). Breakpoints and watchpoints are set on every core, and a stop reports
//! the core that hit it. A continue runs every core, taking turns as without GDB, even when
//! GDB asks for some threads only (scheduler locking): the cores share memory and the GIC,
//! and holding one while another runs would be a different machine. A step runs one
//! instruction on the stepped thread's core alone, whatever GDB asks of the other threads
//! (GDB steps with the others continuing unless scheduler locking is on): the others stay
//! where they are, so stepping one core never moves another.

use std::collections::BTreeSet;
use std::io::{BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use aspeed_soc::{AspeedSoc, Cp15, Cpu, DebugResume, DebugStop, HostEvent, Stop, Waker, WatchKind};
use crossbeam_channel::{Receiver, Sender};
use gdbstub::common::{Signal, Tid};
use gdbstub::conn::{Connection, ConnectionExt};
use gdbstub::stub::{run_blocking, DisconnectReason, GdbStub, MultiThreadStopReason};
use gdbstub::target::ext::base::multithread::{
    MultiThreadBase, MultiThreadResume, MultiThreadResumeOps, MultiThreadSchedulerLocking,
    MultiThreadSchedulerLockingOps, MultiThreadSingleStep, MultiThreadSingleStepOps,
};
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::ext::breakpoints::{
    Breakpoints, BreakpointsOps, HwBreakpoint, HwBreakpointOps, HwWatchpoint, HwWatchpointOps,
    SwBreakpoint, SwBreakpointOps, WatchKind as GdbWatchKind,
};
use gdbstub::target::ext::monitor_cmd::{ConsoleOutput, MonitorCmd, MonitorCmdOps};
use gdbstub::target::ext::thread_extra_info::{ThreadExtraInfo, ThreadExtraInfoOps};
use gdbstub::target::{Target, TargetError, TargetResult};
use gdbstub_arch::arm::reg::ArmCoreRegs;
use gdbstub_arch::arm::{ArmBreakpointKind, Armv4t};

/// Where the stub listens: `tcp:HOST:PORT`, `HOST:PORT` or `PORT` (on 127.0.0.1).
pub fn parse_address(spec: &str) -> Result<String, String> {
    let rest = spec.strip_prefix("tcp:").unwrap_or(spec);
    let addr = if rest.parse::<u16>().is_ok() {
        format!("127.0.0.1:{rest}")
    } else {
        match rest.rsplit_once(':') {
            Some((host, port)) if port.parse::<u16>().is_ok() => {
                let host = if host.is_empty() { "127.0.0.1" } else { host };
                format!("{host}:{port}")
            }
            _ => {
                return Err(format!(
                    "{spec:?}: expected tcp:HOST:PORT (for example tcp:127.0.0.1:1234)"
                ))
            }
        }
    };
    Ok(addr)
}

/// The listening socket.
pub struct GdbListener {
    listener: TcpListener,
    address: String,
}

impl GdbListener {
    /// Binds `address` (from [`parse_address`]).
    pub fn bind(address: &str) -> Result<Self, String> {
        let listener = TcpListener::bind(address).map_err(|e| format!("{address}: {e}"))?;
        let address = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| address.to_string());
        Ok(Self { listener, address })
    }

    /// The address GDB connects to.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Waits for GDB (`-S`).
    pub fn accept(&self) -> std::io::Result<TcpStream> {
        self.listener.accept().map(|(s, _)| s)
    }

    /// Accepts connections in the background: each one is handed over on the returned channel
    /// and the SoC is asked to pause (through `events` and `waker`) so `main` can serve it.
    pub fn spawn(self, events: Sender<HostEvent>, waker: Waker) -> Receiver<TcpStream> {
        let (tx, rx) = crossbeam_channel::unbounded();
        std::thread::Builder::new()
            .name("gdb-accept".into())
            .spawn(move || {
                for stream in self.listener.incoming().flatten() {
                    if tx.send(stream).is_err() || events.send(HostEvent::Pause).is_err() {
                        return;
                    }
                    waker.wake();
                }
            })
            .expect("spawning the gdb accept thread");
        rx
    }
}

/// How a debugging session ended.
pub enum SessionEnd {
    /// GDB detached or went away: the guest carries on.
    Detached,
    /// The emulation is over (the guest halted, the user quit, GDB sent `kill`).
    Stop(Stop),
}

/// Serves one GDB connection until it detaches or the emulation ends. The guest stays stopped
/// until GDB resumes it.
pub fn session(
    soc: &mut AspeedSoc,
    events: &Receiver<HostEvent>,
    stream: TcpStream,
    hub: &Arc<control::Hub>,
) -> SessionEnd {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".into());
    log::warn!("gdb: debugger attached from {peer}");
    note_text!("ast-emu: GDB attached from {peer}\r\n");
    let conn = match GdbConnection::new(stream, soc.waker()) {
        Ok(c) => c,
        Err(e) => {
            log::error!("gdb: {e}");
            return SessionEnd::Detached;
        }
    };
    soc.clock().pause();
    soc.set_debugger_attached(true);
    let mpidrs = (0..soc.core_count())
        .map(|i| {
            soc.core_mut(i)
                .and_then(|cpu| cpu.cp15(Cp15::MPIDR).ok())
                .unwrap_or(0)
        })
        .collect();
    let mut target = GdbTarget {
        soc,
        hub,
        events,
        resume: DebugResume::Continue,
        sw: BTreeSet::new(),
        hw: BTreeSet::new(),
        mpidrs,
        ended: None,
    };
    let result = GdbStub::new(conn).run_blocking::<EventLoop<'_>>(&mut target);
    // Whatever GDB left behind goes, on every core: the guest runs on undisturbed.
    for cpu in target.soc.cores_mut() {
        for addr in cpu.breakpoints() {
            cpu.remove_breakpoint(addr);
        }
        for (addr, len, kind, _) in cpu.watchpoints() {
            cpu.remove_watchpoint(addr, len, kind);
        }
    }
    let ended = target.ended.take();
    target.soc.set_debugger_attached(false);
    target.soc.clock().resume();
    note_text!("ast-emu: GDB detached\r\n");
    match (result, ended) {
        (_, Some(stop)) => SessionEnd::Stop(stop),
        (Ok(DisconnectReason::Kill), None) => SessionEnd::Stop(Stop::Quit),
        (Ok(_), None) => SessionEnd::Detached,
        (Err(e), None) => {
            log::warn!("gdb: session ended: {e}");
            SessionEnd::Detached
        }
    }
}

/// The TCP connection: writes are buffered and flushed per packet; reads come from a thread
/// that also wakes the SoC, so a Ctrl-C reaches a guest that is running or idle.
struct GdbConnection {
    out: BufWriter<TcpStream>,
    input: Receiver<u8>,
    peeked: Option<u8>,
}

impl GdbConnection {
    fn new(stream: TcpStream, waker: Waker) -> std::io::Result<Self> {
        stream.set_nodelay(true)?;
        let mut reader = stream.try_clone()?;
        let (tx, input) = crossbeam_channel::unbounded();
        std::thread::Builder::new()
            .name("gdb-read".into())
            .spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    match Read::read(&mut reader, &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            for &b in &buf[..n] {
                                if tx.send(b).is_err() {
                                    return;
                                }
                            }
                            waker.wake();
                        }
                    }
                }
                // Dropping the sender tells the stub the connection is gone.
                drop(tx);
                waker.wake();
            })?;
        Ok(Self {
            out: BufWriter::new(stream),
            input,
            peeked: None,
        })
    }

    fn gone() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "debugger went away")
    }
}

impl Connection for GdbConnection {
    type Error = std::io::Error;

    fn write(&mut self, byte: u8) -> Result<(), Self::Error> {
        self.out.write_all(&[byte])
    }

    fn write_all(&mut self, buf: &[u8]) -> Result<(), Self::Error> {
        self.out.write_all(buf)
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        self.out.flush()
    }
}

impl ConnectionExt for GdbConnection {
    fn read(&mut self) -> Result<u8, Self::Error> {
        match self.peeked.take() {
            Some(b) => Ok(b),
            None => self.input.recv().map_err(|_| Self::gone()),
        }
    }

    fn peek(&mut self) -> Result<Option<u8>, Self::Error> {
        if self.peeked.is_none() {
            match self.input.try_recv() {
                Ok(b) => self.peeked = Some(b),
                Err(crossbeam_channel::TryRecvError::Empty) => {}
                Err(crossbeam_channel::TryRecvError::Disconnected) => return Err(Self::gone()),
            }
        }
        Ok(self.peeked)
    }
}

/// The SoC as GDB sees it.
struct GdbTarget<'a> {
    soc: &'a mut AspeedSoc,
    /// For the monitor's commands.
    hub: &'a Arc<control::Hub>,
    events: &'a Receiver<HostEvent>,
    /// What the next resume does: every core runs, or one core steps.
    resume: DebugResume,
    /// Breakpoint addresses GDB set as software and as hardware breakpoints (the same code
    /// hook on every core either way: this tells the stop reasons apart).
    sw: BTreeSet<u32>,
    hw: BTreeSet<u32>,
    /// Each core's MPIDR (fixed), for `info threads`.
    mpidrs: Vec<u32>,
    /// Set when the emulation ended while GDB was attached.
    ended: Option<Stop>,
}

/// GDB's thread id for core `index` (thread ids start at 1).
fn thread_of(index: usize) -> Tid {
    Tid::new(index + 1).expect("index + 1 is not zero")
}

/// The core index of GDB's thread `tid`.
fn core_of(tid: Tid) -> usize {
    tid.get() - 1
}

/// Errors the target reports to the stub (it turns them into fatal errors).
#[derive(Debug)]
pub struct GdbError(String);

impl std::fmt::Display for GdbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Target for GdbTarget<'_> {
    type Arch = Armv4t;
    type Error = GdbError;

    fn base_ops(&mut self) -> BaseOps<'_, Self::Arch, Self::Error> {
        BaseOps::MultiThread(self)
    }

    fn support_breakpoints(&mut self) -> Option<BreakpointsOps<'_, Self>> {
        Some(self)
    }

    fn support_monitor_cmd(&mut self) -> Option<MonitorCmdOps<'_, Self>> {
        Some(self)
    }
}

impl GdbTarget<'_> {
    /// The core behind GDB's thread `tid`.
    fn core(&mut self, tid: Tid) -> TargetResult<&mut Cpu, Self> {
        self.soc.core_mut(core_of(tid)).ok_or(TargetError::NonFatal)
    }
}

impl MultiThreadBase for GdbTarget<'_> {
    fn read_registers(&mut self, regs: &mut ArmCoreRegs, tid: Tid) -> TargetResult<(), Self> {
        use aspeed_soc::Reg;
        let cpu = self.core(tid)?;
        for (n, r) in regs.r.iter_mut().enumerate() {
            *r = cpu.reg(Reg::R(n as u8));
        }
        regs.sp = cpu.reg(Reg::Sp);
        regs.lr = cpu.reg(Reg::Lr);
        regs.pc = cpu.reg(Reg::Pc);
        regs.cpsr = cpu.reg(Reg::Cpsr);
        Ok(())
    }

    fn write_registers(&mut self, regs: &ArmCoreRegs, tid: Tid) -> TargetResult<(), Self> {
        use aspeed_soc::Reg;
        let cpu = self.core(tid)?;
        // CPSR first: it selects the register bank the others go to, and the Thumb bit the
        // PC write keeps.
        cpu.set_reg(Reg::Cpsr, regs.cpsr);
        for (n, r) in regs.r.iter().enumerate() {
            cpu.set_reg(Reg::R(n as u8), *r);
        }
        cpu.set_reg(Reg::Sp, regs.sp);
        cpu.set_reg(Reg::Lr, regs.lr);
        let thumb = (regs.cpsr >> 5) & 1;
        cpu.set_reg(Reg::Pc, (regs.pc & !1) | thumb);
        Ok(())
    }

    fn read_addrs(&mut self, start: u32, data: &mut [u8], tid: Tid) -> TargetResult<usize, Self> {
        let cpu = self.core(tid)?;
        let mut done = 0usize;
        while done < data.len() {
            let va = start as u64 + done as u64;
            let n = ((4096 - (va & 0xfff)) as usize).min(data.len() - done);
            if cpu
                .read_virtual_data(va, &mut data[done..done + n])
                .is_err()
            {
                break;
            }
            done += n;
        }
        if done == 0 && !data.is_empty() {
            return Err(TargetError::NonFatal);
        }
        Ok(done)
    }

    fn write_addrs(&mut self, start: u32, data: &[u8], tid: Tid) -> TargetResult<(), Self> {
        self.core(tid)?
            .write_virtual(start as u64, data)
            .map_err(|_| TargetError::NonFatal)
    }

    #[inline(always)]
    fn list_active_threads(
        &mut self,
        thread_is_active: &mut dyn FnMut(Tid),
    ) -> Result<(), Self::Error> {
        for core in 0..self.soc.core_count() {
            thread_is_active(thread_of(core));
        }
        Ok(())
    }

    fn support_resume(&mut self) -> Option<MultiThreadResumeOps<'_, Self>> {
        Some(self)
    }

    fn support_thread_extra_info(&mut self) -> Option<ThreadExtraInfoOps<'_, Self>> {
        Some(self)
    }
}

impl ThreadExtraInfo for GdbTarget<'_> {
    fn thread_extra_info(&self, tid: Tid, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let core = core_of(tid);
        let Some(mpidr) = self.mpidrs.get(core) else {
            return Ok(0);
        };
        let waiting = if self.soc.core_waiting(core) {
            " (waiting)"
        } else {
            ""
        };
        let text = format!("CPU{core} mpidr={mpidr:#010x}{waiting}");
        let n = text.len().min(buf.len());
        buf[..n].copy_from_slice(&text.as_bytes()[..n]);
        Ok(n)
    }
}

impl MultiThreadResume for GdbTarget<'_> {
    fn resume(&mut self) -> Result<(), Self::Error> {
        // `wait_for_stop_reason` runs the guest as `self.resume` says.
        Ok(())
    }

    fn clear_resume_actions(&mut self) -> Result<(), Self::Error> {
        self.resume = DebugResume::Continue;
        Ok(())
    }

    fn set_resume_action_continue(
        &mut self,
        _tid: Tid,
        _signal: Option<Signal>,
    ) -> Result<(), Self::Error> {
        // Every core runs on a continue (see the module's documentation).
        Ok(())
    }

    fn support_single_step(&mut self) -> Option<MultiThreadSingleStepOps<'_, Self>> {
        Some(self)
    }

    fn support_scheduler_locking(&mut self) -> Option<MultiThreadSchedulerLockingOps<'_, Self>> {
        Some(self)
    }
}

impl MultiThreadSingleStep for GdbTarget<'_> {
    fn set_resume_action_step(
        &mut self,
        tid: Tid,
        _signal: Option<Signal>,
    ) -> Result<(), Self::Error> {
        let core = core_of(tid);
        if core >= self.soc.core_count() {
            return Err(GdbError(format!(
                "GDB stepped thread {tid}, which is no core"
            )));
        }
        match self.resume {
            DebugResume::Continue => self.resume = DebugResume::Step(core),
            // All-stop GDB steps one thread at a time; the first one named steps.
            DebugResume::Step(first) => {
                log::warn!("gdb: stepping CPU{first} only, not CPU{core} as well")
            }
        }
        Ok(())
    }
}

impl MultiThreadSchedulerLocking for GdbTarget<'_> {
    fn set_resume_action_scheduler_lock(&mut self) -> Result<(), Self::Error> {
        // A step moves one core whether or not the others are locked; a continue runs them
        // all (see the module's documentation).
        Ok(())
    }
}

impl Breakpoints for GdbTarget<'_> {
    fn support_sw_breakpoint(&mut self) -> Option<SwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_breakpoint(&mut self) -> Option<HwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_watchpoint(&mut self) -> Option<HwWatchpointOps<'_, Self>> {
        Some(self)
    }
}

fn watch_kind(kind: GdbWatchKind) -> WatchKind {
    match kind {
        GdbWatchKind::Write => WatchKind::Write,
        GdbWatchKind::Read => WatchKind::Read,
        GdbWatchKind::ReadWrite => WatchKind::ReadWrite,
    }
}

/// Watchpoints go on every core that can translate the address: each watches the memory the
/// address maps to through its own MMU. One core is enough for GDB to have its watchpoint.
impl HwWatchpoint for GdbTarget<'_> {
    fn add_hw_watchpoint(
        &mut self,
        addr: u32,
        len: u32,
        kind: GdbWatchKind,
    ) -> TargetResult<bool, Self> {
        let mut set = false;
        for (core, cpu) in self.soc.cores_mut().enumerate() {
            match cpu.add_watchpoint(addr.into(), len.into(), watch_kind(kind)) {
                Ok(()) => set = true,
                Err(e) => log::warn!("gdb: CPU{core}: {e}"),
            }
        }
        Ok(set)
    }

    fn remove_hw_watchpoint(
        &mut self,
        addr: u32,
        len: u32,
        kind: GdbWatchKind,
    ) -> TargetResult<bool, Self> {
        let mut had = false;
        for cpu in self.soc.cores_mut() {
            had |= cpu.remove_watchpoint(addr.into(), len.into(), watch_kind(kind));
        }
        Ok(had)
    }
}

/// Breakpoints go on every core (a breakpoint any core cannot take is refused).
impl GdbTarget<'_> {
    fn add(&mut self, addr: u32, hw: bool) -> TargetResult<bool, Self> {
        let known = self.sw.contains(&addr) || self.hw.contains(&addr);
        let refused = self
            .soc
            .cores_mut()
            .enumerate()
            .find_map(|(core, cpu)| cpu.add_breakpoint(addr as u64).err().map(|e| (core, e)));
        if let Some((core, e)) = refused {
            log::warn!("gdb: CPU{core}: {e}");
            if !known {
                self.remove_breakpoint_everywhere(addr);
            }
            return Ok(false);
        }
        if hw {
            self.hw.insert(addr);
        } else {
            self.sw.insert(addr);
        }
        Ok(true)
    }

    fn remove(&mut self, addr: u32, hw: bool) -> TargetResult<bool, Self> {
        let had = if hw {
            self.hw.remove(&addr)
        } else {
            self.sw.remove(&addr)
        };
        if had && !self.sw.contains(&addr) && !self.hw.contains(&addr) {
            self.remove_breakpoint_everywhere(addr);
        }
        Ok(had)
    }

    fn remove_breakpoint_everywhere(&mut self, addr: u32) {
        for cpu in self.soc.cores_mut() {
            cpu.remove_breakpoint(addr as u64);
        }
    }
}

impl SwBreakpoint for GdbTarget<'_> {
    fn add_sw_breakpoint(
        &mut self,
        addr: u32,
        _kind: ArmBreakpointKind,
    ) -> TargetResult<bool, Self> {
        self.add(addr, false)
    }

    fn remove_sw_breakpoint(
        &mut self,
        addr: u32,
        _kind: ArmBreakpointKind,
    ) -> TargetResult<bool, Self> {
        self.remove(addr, false)
    }
}

impl HwBreakpoint for GdbTarget<'_> {
    fn add_hw_breakpoint(
        &mut self,
        addr: u32,
        _kind: ArmBreakpointKind,
    ) -> TargetResult<bool, Self> {
        self.add(addr, true)
    }

    fn remove_hw_breakpoint(
        &mut self,
        addr: u32,
        _kind: ArmBreakpointKind,
    ) -> TargetResult<bool, Self> {
        self.remove(addr, true)
    }
}

impl MonitorCmd for GdbTarget<'_> {
    fn handle_monitor_cmd(
        &mut self,
        cmd: &[u8],
        mut out: ConsoleOutput<'_>,
    ) -> Result<(), Self::Error> {
        let line = String::from_utf8_lossy(cmd);
        let (text, stop) = control::text::run_monitor_line(self.soc, self.hub, &line);
        out.write_raw(text.as_bytes());
        if stop.is_some() {
            self.ended = stop;
        }
        Ok(())
    }
}

/// Runs the guest between GDB's commands.
struct EventLoop<'a>(std::marker::PhantomData<&'a ()>);

impl<'a> run_blocking::BlockingEventLoop for EventLoop<'a> {
    type Target = GdbTarget<'a>;
    type Connection = GdbConnection;
    type StopReason = MultiThreadStopReason<u32>;

    #[allow(clippy::type_complexity)]
    fn wait_for_stop_reason(
        target: &mut Self::Target,
        conn: &mut Self::Connection,
    ) -> Result<
        run_blocking::Event<Self::StopReason>,
        run_blocking::WaitForStopReasonError<GdbError, std::io::Error>,
    > {
        use run_blocking::{Event, WaitForStopReasonError};
        loop {
            if let Some(stop) = &target.ended {
                return Ok(Event::TargetStopped(stop_reason(stop)));
            }
            let pending = conn.input.clone();
            let peeked = conn.peeked.is_some();
            let interrupted = move || peeked || !pending.is_empty();
            let outcome = target
                .soc
                .debug_run(target.events, target.resume, &interrupted);
            // The core that ran last: the one that stopped, or the one stepped.
            let tid = thread_of(target.soc.current_core());
            match outcome {
                DebugStop::Breakpoint(addr) => {
                    let addr = addr as u32;
                    return Ok(Event::TargetStopped(
                        if target.hw.contains(&addr) && !target.sw.contains(&addr) {
                            MultiThreadStopReason::HwBreak(tid)
                        } else {
                            MultiThreadStopReason::SwBreak(tid)
                        },
                    ));
                }
                DebugStop::Watchpoint(hit) => {
                    // An access watchpoint (awatch) reports as one, whichever way it was hit.
                    let kind = match (hit.kind, hit.write) {
                        (WatchKind::ReadWrite, _) => GdbWatchKind::ReadWrite,
                        (_, true) => GdbWatchKind::Write,
                        (_, false) => GdbWatchKind::Read,
                    };
                    return Ok(Event::TargetStopped(MultiThreadStopReason::Watch {
                        tid,
                        kind,
                        addr: hit.addr as u32,
                    }));
                }
                // With the thread, so GDB knows which one it is about.
                DebugStop::Stepped => {
                    return Ok(Event::TargetStopped(
                        MultiThreadStopReason::SignalWithThread {
                            tid,
                            signal: Signal::SIGTRAP,
                        },
                    ))
                }
                DebugStop::Interrupted => match conn.peek() {
                    Ok(Some(_)) => {
                        let byte = conn.read().map_err(WaitForStopReasonError::Connection)?;
                        return Ok(Event::IncomingData(byte));
                    }
                    Ok(None) => continue,
                    Err(e) => return Err(WaitForStopReasonError::Connection(e)),
                },
                // The host paused a guest that GDB already holds: nothing to do.
                DebugStop::Stop(Stop::Paused) => continue,
                DebugStop::Stop(stop) => {
                    let reason = stop_reason(&stop);
                    target.ended = Some(stop);
                    return Ok(Event::TargetStopped(reason));
                }
            }
        }
    }

    fn on_interrupt(target: &mut Self::Target) -> Result<Option<Self::StopReason>, GdbError> {
        Ok(Some(MultiThreadStopReason::SignalWithThread {
            tid: thread_of(target.soc.current_core()),
            signal: Signal::SIGINT,
        }))
    }
}

fn stop_reason(stop: &Stop) -> MultiThreadStopReason<u32> {
    match stop {
        Stop::Fault(_) => MultiThreadStopReason::Terminated(Signal::SIGSEGV),
        _ => MultiThreadStopReason::Exited(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_like_qemu() {
        assert_eq!(
            parse_address("tcp:127.0.0.1:1234").unwrap(),
            "127.0.0.1:1234"
        );
        assert_eq!(parse_address("tcp::1234").unwrap(), "127.0.0.1:1234");
        assert_eq!(parse_address("1234").unwrap(), "127.0.0.1:1234");
        assert_eq!(parse_address("0.0.0.0:9000").unwrap(), "0.0.0.0:9000");
        assert!(parse_address("tcp:localhost").is_err());
        assert!(parse_address("tcp:host:99999").is_err());
    }
}
