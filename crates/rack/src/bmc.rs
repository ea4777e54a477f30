//! One BMC of the rack: an `ast-emu` process plugged into the rack's switch, with its own
//! control socket, its console kept in a file and a buffer, and its state.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::config::BmcPlan;

/// Console bytes kept in memory per BMC (the whole console is in its file).
pub const CONSOLE_KEEP: usize = 64 * 1024;

/// How long a BMC may take to quit cleanly (writing its flash back) before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(30);

/// The process ids of the emulators running now, for the last resort of a second quit
/// signal ([`stop_running_now`]).
static RUNNING: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn running() -> MutexGuard<'static, Vec<u32>> {
    RUNNING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sends SIGTERM to every emulator still running, without waiting: the rack is exiting at
/// once (a second signal), and its emulators must not run on without it.
pub fn stop_running_now() {
    for &pid in running().iter() {
        // SAFETY: kill(2) on a child of ours that has not been reaped (reaping removes it).
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    }
}

/// Where a BMC is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BmcState {
    /// Not started yet: it waits for fewer cold boots to run at once (`boot-at-once`).
    Waiting,
    /// Its emulator runs; no login prompt yet.
    Booting,
    /// It has shown its login prompt (or, restored from a snapshot, is running).
    Ready,
    /// Asked to stop, not gone yet.
    Stopping,
    /// Its emulator has exited: how.
    Stopped(String),
}

impl BmcState {
    /// Its name in the status table and the status file.
    pub fn name(&self) -> &'static str {
        match self {
            BmcState::Waiting => "waiting",
            BmcState::Booting => "booting",
            BmcState::Ready => "ready",
            BmcState::Stopping => "stopping",
            BmcState::Stopped(_) => "stopped",
        }
    }
}

#[derive(Debug)]
struct Shared {
    state: BmcState,
    console: VecDeque<u8>,
    /// Console bytes seen in all, so a reader can ask for what came after a point.
    console_total: u64,
    ready_at: Option<Instant>,
    /// When its current boot began: its emulator's start, or the last reset's U-Boot banner.
    boot_started: Instant,
}

/// A BMC's emulator process.
pub struct Bmc {
    /// What it is.
    pub plan: BmcPlan,
    /// Its control socket.
    pub control: PathBuf,
    /// The rack's connection to it.
    pub commands: Arc<crate::control_client::Control>,
    /// Its console transcript.
    pub console_file: PathBuf,
    /// The emulator's own messages.
    pub log_file: PathBuf,
    shared: Arc<Mutex<Shared>>,
    child: Option<Child>,
    started: Instant,
    /// Asked to start (the dashboard's button): it starts at the rack's next look, whatever
    /// the boot limit.
    start_asked: bool,
}

impl Bmc {
    /// BMC `plan`, its files in `dir`, not started yet ([`BmcState::Waiting`]);
    /// [`Bmc::restart`] starts it.
    pub fn waiting(plan: BmcPlan, dir: &Path) -> Bmc {
        let control = dir.join(format!("{}.control", plan.name));
        let console_file = dir.join(format!("{}.console", plan.name));
        let log_file = dir.join(format!("{}.log", plan.name));
        let shared = Arc::new(Mutex::new(Shared {
            state: BmcState::Waiting,
            console: VecDeque::new(),
            console_total: 0,
            ready_at: None,
            boot_started: Instant::now(),
        }));
        Bmc {
            plan,
            commands: Arc::new(crate::control_client::Control::new(&control)),
            control,
            console_file,
            log_file,
            shared,
            child: None,
            started: Instant::now(),
            start_asked: false,
        }
    }

    /// The emulator's arguments.
    fn arguments(&self, switch: &Path) -> Vec<String> {
        let p = &self.plan;
        let mut args = vec![
            "--nic".to_string(),
            format!(
                "socket,connect=unix:{},mac={}",
                switch.display(),
                p.mac_text()
            ),
            "--control".to_string(),
            format!("unix:{}", self.control.display()),
        ];
        if let Some(s) = &p.snapshot {
            args.push("--restore".into());
            args.push(s.display().to_string());
        }
        if let Some(f) = &p.flash {
            args.push("--flash".into());
            args.push(f.display().to_string());
        }
        args.extend(p.args.iter().cloned());
        args
    }

    fn spawn(&mut self, emulator: &Path, switch: &Path) -> Result<(), String> {
        let name = self.plan.name.clone();
        let log = File::create(&self.log_file)
            .map_err(|e| format!("{}: {e}", self.log_file.display()))?;
        let mut console = File::create(&self.console_file)
            .map_err(|e| format!("{}: {e}", self.console_file.display()))?;
        let _ = std::fs::remove_file(&self.control);
        let mut command = Command::new(emulator);
        command
            .args(self.arguments(switch))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            // Its own process group: Ctrl-C at the rack's terminal is the rack's to handle,
            // which stops every BMC in turn.
            .process_group(0);
        let rack = std::process::id() as libc::pid_t;
        // SAFETY: between fork and exec only async-signal-safe calls: prctl and getppid.
        unsafe {
            command.pre_exec(move || {
                // SIGTERM when the thread that started it ends: the rack's main thread, so
                // a rack killed outright (SIGKILL) takes its emulators with it, and each still
                // quits cleanly. A rack already gone by now: quit at once.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0
                    || libc::getppid() != rack
                {
                    return Err(std::io::Error::other("the rack is gone"));
                }
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("{name}: cannot start {}: {e}", emulator.display()))?;
        running().push(child.id());
        let mut out = child.stdout.take().expect("piped");
        let restored = self.plan.snapshot.is_some();
        {
            let mut s = self.lock();
            s.state = BmcState::Booting;
            s.ready_at = None;
            s.boot_started = Instant::now();
        }
        self.started = Instant::now();
        let shared = self.shared.clone();
        let started = self.started;
        std::thread::Builder::new()
            .name(format!("rack-{name}"))
            .spawn(move || {
                let mut buf = [0u8; 4096];
                // The end of the output so far, so a prompt split across reads is found.
                let mut tail: Vec<u8> = Vec::new();
                // A restored BMC showed its prompt before the snapshot: ready when it runs.
                let mut watch_login = !restored;
                loop {
                    let n = match out.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let _ = console.write_all(&buf[..n]);
                    let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
                    s.console.extend(&buf[..n]);
                    s.console_total += n as u64;
                    let excess = s.console.len().saturating_sub(CONSOLE_KEEP);
                    s.console.drain(..excess);
                    tail.extend_from_slice(&buf[..n]);
                    let keep = tail.len().saturating_sub(16);
                    // A reset or a reboot in the guest: booting again until the next prompt.
                    if s.state == BmcState::Ready && contains(&tail, b"U-Boot ") {
                        s.state = BmcState::Booting;
                        s.ready_at = None;
                        s.boot_started = Instant::now();
                        watch_login = true;
                    }
                    if s.state == BmcState::Booting && watch_login && contains(&tail, b"login:") {
                        s.state = BmcState::Ready;
                        s.ready_at = Some(Instant::now());
                        log::info!("rack: ready after {:?}", started.elapsed());
                    }
                    tail.drain(..keep);
                }
            })
            .map_err(|e| format!("{name}: no console thread: {e}"))?;
        self.child = Some(child);
        Ok(())
    }

    /// Types the plan's `after_restore` lines on the console of a BMC restored from a
    /// snapshot, so that it takes its own MAC, name and address (the snapshot's are its
    /// source machine's).
    fn take_identity(&self) {
        for line in &self.plan.after_restore {
            let data = format!("{line}\r");
            if let Err(e) = self
                .commands
                .execute("console-send", serde_json::json!({ "data": data }))
            {
                log::warn!("rack: {}: after-restore: {e}", self.plan.name);
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Its state, after noticing an exit. A BMC restored from a snapshot is ready once its
    /// control socket answers: its login prompt was shown before the snapshot.
    pub fn poll(&mut self) -> BmcState {
        if let Some(child) = &mut self.child {
            match child.try_wait() {
                Ok(Some(status)) => {
                    forget(child.id());
                    self.child = None;
                    self.lock().state = BmcState::Stopped(describe(status));
                }
                Ok(None) => {
                    let booting = self.lock().state == BmcState::Booting;
                    if booting
                        && self.plan.snapshot.is_some()
                        && std::os::unix::net::UnixStream::connect(&self.control).is_ok()
                    {
                        self.take_identity();
                        let mut s = self.lock();
                        s.state = BmcState::Ready;
                        s.ready_at = Some(Instant::now());
                    }
                }
                Err(e) => log::warn!("rack: {}: {e}", self.plan.name),
            }
        }
        self.lock().state.clone()
    }

    /// How long it has run (or ran), and how long its current boot took to be ready.
    pub fn uptime(&self) -> (Duration, Option<Duration>) {
        let s = self.lock();
        if s.state == BmcState::Waiting {
            return (Duration::ZERO, None);
        }
        let ready = s.ready_at.map(|t| t - s.boot_started);
        (self.started.elapsed(), ready)
    }

    /// The last console bytes kept ([`CONSOLE_KEEP`]), and the count of all bytes so far.
    pub fn console(&self) -> (Vec<u8>, u64) {
        let s = self.lock();
        (s.console.iter().copied().collect(), s.console_total)
    }

    /// The console bytes after the first `seen` (as many as are still kept), and the new
    /// count to pass next time.
    pub fn console_since(&self, seen: u64) -> (Vec<u8>, u64) {
        let s = self.lock();
        let new = (s.console_total.saturating_sub(seen) as usize).min(s.console.len());
        let start = s.console.len() - new;
        (s.console.range(start..).copied().collect(), s.console_total)
    }

    /// The emulator's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Asks the emulator to quit (SIGTERM: it quits as `Ctrl-a x` does, writing a persisted
    /// flash back). [`Bmc::finish_stop`] waits for it.
    pub fn request_stop(&mut self) {
        if let Some(child) = &self.child {
            // SAFETY: kill(2) on our own child's pid, which has not been reaped.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            self.lock().state = BmcState::Stopping;
        } else {
            let mut s = self.lock();
            if s.state == BmcState::Waiting {
                // Never started: it stays so until started by hand.
                s.state = BmcState::Stopped("not started".into());
            }
        }
    }

    /// Marks a BMC that could not be started as stopped, with the reason.
    pub fn set_stopped(&mut self, why: String) {
        self.lock().state = BmcState::Stopped(why);
    }

    /// Asks for a stopped or waiting BMC to start at the rack's next look (its main loop
    /// starts every emulator: see [`Bmc::restart`]).
    pub fn ask_start(&mut self) -> Result<(), String> {
        if self.child.is_some() {
            return Err(format!("{} is running", self.plan.name));
        }
        self.lock().state = BmcState::Waiting;
        self.start_asked = true;
        Ok(())
    }

    /// Whether it was asked to start ([`Bmc::ask_start`]).
    pub fn start_asked(&self) -> bool {
        self.start_asked
    }

    /// Whether it waits for its turn to boot.
    pub fn is_waiting(&self) -> bool {
        self.lock().state == BmcState::Waiting
    }

    /// Whether it boots cold now (not from a snapshot, no login prompt yet).
    pub fn is_booting_cold(&self) -> bool {
        self.plan.snapshot.is_none() && self.lock().state == BmcState::Booting
    }

    /// Waits up to [`STOP_GRACE`] for a stop asked with [`Bmc::request_stop`], then kills.
    pub fn finish_stop(&mut self, deadline: Instant) {
        let Some(child) = &mut self.child else { return };
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break describe(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    log::warn!("rack: {} did not quit in time; killing it", self.plan.name);
                    let _ = child.kill();
                    let _ = child.wait();
                    break "killed".to_string();
                }
            }
        };
        forget(child.id());
        self.child = None;
        self.lock().state = BmcState::Stopped(status);
    }

    /// Starts a waiting or stopped BMC, as it was first started. Call it from the rack's main
    /// thread: the emulator is told to quit when the thread that started it ends.
    pub fn restart(&mut self, emulator: &Path, switch: &Path) -> Result<(), String> {
        if self.child.is_some() {
            return Err(format!("{} is running", self.plan.name));
        }
        self.start_asked = false;
        self.spawn(emulator, switch)
    }
}

/// A reaped emulator's pid leaves the running list.
fn forget(pid: u32) {
    running().retain(|&p| p != pid);
}

/// Whether `needle` is in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit {c}"),
        (None, Some(s)) => format!("signal {s}"),
        _ => "exited".into(),
    }
}
