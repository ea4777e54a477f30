//! The safe wrapper: a thread that owns one libslirp instance and runs its poll loop.

use std::cell::{Cell, RefCell};
use std::ffi::{CStr, CString};
use std::io;
use std::net::Ipv6Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::raw::{c_char, c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Instant;

use libslirp_sys as ffi;

use crate::config::{Proto, UserNetConfig};

/// Length of an Ethernet header (destination, source, EtherType); shorter frames are runts.
pub const ETH_HEADER_LEN: usize = 14;
/// The longest frame passed either way: the largest IPv4 packet behind an Ethernet header with
/// one VLAN tag. Longer frames are counted as malformed and dropped.
pub const MAX_FRAME_LEN: usize = ETH_HEADER_LEN + 4 + 65535;
/// How many guest frames may wait for the slirp thread; further frames are dropped and
/// counted (TCP in the guest retransmits), so [`UserNet::send`] never blocks.
pub const TX_QUEUE_LEN: usize = 1024;
/// The longest the poll loop sleeps when neither slirp nor a timer asks for less (ms).
const MAX_POLL_MS: u32 = 1000;
/// The most timer callbacks run in one pass, so a timer that keeps re-arming itself in the
/// past cannot starve the loop.
const MAX_TIMER_RUNS_PER_PASS: usize = 64;
/// The `SlirpConfig` version filled in (4: adds `disable_dhcp`, and the two callbacks in
/// [`CallbacksV4`]).
const SLIRP_CONFIG_VERSION: u32 = 4;

/// Counters of the frames that went through a [`UserNet`], read with [`UserNet::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserNetStats {
    /// Guest frames handed to slirp.
    pub frames_from_guest: u64,
    /// Frames slirp sent to the guest (handed to `to_guest`).
    pub frames_to_guest: u64,
    /// Guest frames dropped as malformed before slirp saw them (runts, oversized).
    pub malformed_from_guest: u64,
    /// Frames from slirp dropped as malformed (never expected).
    pub malformed_to_guest: u64,
    /// Guest frames dropped because the queue to the slirp thread was full or it had stopped.
    pub dropped_from_guest: u64,
    /// Errors slirp reported about guest packets (its `guest_error` callback).
    pub guest_errors: u64,
    /// Times the `to_guest` callback panicked (the frame is lost, the network carries on).
    pub callback_panics: u64,
}

#[derive(Default)]
struct Counters {
    frames_from_guest: AtomicU64,
    frames_to_guest: AtomicU64,
    malformed_from_guest: AtomicU64,
    malformed_to_guest: AtomicU64,
    dropped_from_guest: AtomicU64,
    guest_errors: AtomicU64,
    callback_panics: AtomicU64,
}

/// Adds one to `counter` and says whether this occurrence should be logged at warning level
/// (the 1st, 2nd, 4th, 8th, ...), so a flood of bad frames cannot flood the log.
fn bump(counter: &AtomicU64) -> bool {
    let n = counter.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
    n.is_power_of_two()
}

impl Counters {
    fn snapshot(&self) -> UserNetStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        UserNetStats {
            frames_from_guest: get(&self.frames_from_guest),
            frames_to_guest: get(&self.frames_to_guest),
            malformed_from_guest: get(&self.malformed_from_guest),
            malformed_to_guest: get(&self.malformed_to_guest),
            dropped_from_guest: get(&self.dropped_from_guest),
            guest_errors: get(&self.guest_errors),
            callback_panics: get(&self.callback_panics),
        }
    }
}

/// A non-blocking eventfd: the emulator thread signals it, the slirp thread polls it.
struct WakeFd(OwnedFd);

impl WakeFd {
    fn new() -> io::Result<WakeFd> {
        // SAFETY: eventfd has no memory arguments; a non-negative result is a new fd we own.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a freshly created descriptor owned by nobody else.
        Ok(WakeFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our eventfd. EAGAIN (counter saturated)
        // means a wake-up is already pending, which is all we need.
        unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    fn drain(&self) {
        let mut count: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64 from our non-blocking eventfd.
        unsafe { libc::read(self.0.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
    }
}

enum Command {
    Frame(Vec<u8>),
    Stop,
}

/// A running user-mode network: one libslirp instance on its own thread.
///
/// Dropping it stops the thread (as [`stop`](Self::stop) does), which closes the forwarded
/// ports and all NAT connections.
pub struct UserNet {
    commands: SyncSender<Command>,
    wake: Arc<WakeFd>,
    stopping: Arc<AtomicBool>,
    counters: Arc<Counters>,
    thread: Option<JoinHandle<()>>,
    config: UserNetConfig,
}

impl std::fmt::Debug for UserNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserNet")
            .field("config", &self.config)
            .field("running", &self.is_running())
            .field("stats", &self.stats())
            .finish()
    }
}

impl UserNet {
    /// Starts slirp on its own thread. `to_guest` is called (on that thread) with each frame
    /// the network sends to the guest (Ethernet, no FCS).
    ///
    /// Fails with a readable message if the configuration is inconsistent, if slirp cannot be
    /// created, or if a forwarded port cannot be bound (already in use, address not local).
    // The callback type is spelled out: it is the signature the SoC and CLI code against.
    #[allow(clippy::type_complexity)]
    pub fn start(
        config: UserNetConfig,
        to_guest: Box<dyn FnMut(&[u8]) + Send>,
    ) -> Result<UserNet, String> {
        config.validate()?;
        let wake =
            Arc::new(WakeFd::new().map_err(|e| format!("usernet: cannot create an eventfd: {e}"))?);
        let (commands, command_rx) = mpsc::sync_channel(TX_QUEUE_LEN);
        let (ready_tx, ready_rx) = mpsc::channel();
        let stopping = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let thread = thread::Builder::new()
            .name("usernet".into())
            .spawn({
                let config = config.clone();
                let wake = Arc::clone(&wake);
                let stopping = Arc::clone(&stopping);
                let counters = Arc::clone(&counters);
                move || {
                    let shared = LoopShared {
                        commands: command_rx,
                        wake,
                        stopping,
                    };
                    run_slirp(&config, to_guest, shared, counters, ready_tx)
                }
            })
            .map_err(|e| format!("usernet: cannot start the slirp thread: {e}"))?;
        let outcome = ready_rx
            .recv()
            .unwrap_or_else(|_| Err("usernet: the slirp thread ended during start-up".into()));
        if let Err(e) = outcome {
            let _ = thread.join();
            return Err(e);
        }
        for fwd in &config.hostfwd {
            log::info!(
                "usernet: forwarding {} {}:{} to guest {}:{}",
                fwd.proto,
                fwd.host_addr,
                fwd.host_port,
                config.guest_addr_of(fwd),
                fwd.guest_port
            );
        }
        Ok(UserNet {
            commands,
            wake,
            stopping,
            counters,
            thread: Some(thread),
            config,
        })
    }

    /// A frame the guest transmitted (Ethernet, no FCS). Never blocks: the frame is queued for
    /// the slirp thread, which is woken at once. Runts and oversized frames are counted and
    /// dropped, as are frames that find the queue full or the network stopped.
    pub fn send(&self, frame: &[u8]) {
        if frame.len() < ETH_HEADER_LEN || frame.len() > MAX_FRAME_LEN {
            if bump(&self.counters.malformed_from_guest) {
                log::warn!(
                    "usernet: dropping a malformed {}-byte frame from the guest (valid: {}..={} bytes)",
                    frame.len(),
                    ETH_HEADER_LEN,
                    MAX_FRAME_LEN
                );
            }
            return;
        }
        match self.commands.try_send(Command::Frame(frame.to_vec())) {
            Ok(()) => self.wake.signal(),
            Err(TrySendError::Full(_)) => {
                if bump(&self.counters.dropped_from_guest) {
                    log::warn!("usernet: queue to the slirp thread is full, dropping a frame");
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                if bump(&self.counters.dropped_from_guest) {
                    log::warn!("usernet: network stopped, dropping a frame from the guest");
                }
            }
        }
    }

    /// Stops the thread and closes every forwarded port and connection. Idempotent; also done
    /// on drop.
    pub fn stop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.stopping.store(true, Ordering::SeqCst);
            // The queue may be full: the flag is what counts, the command only hurries it.
            let _ = self.commands.try_send(Command::Stop);
            self.wake.signal();
            if thread.join().is_err() {
                log::error!("usernet: the slirp thread panicked");
            }
        }
    }

    /// Whether the slirp thread is still running.
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// The counters so far.
    pub fn stats(&self) -> UserNetStats {
        self.counters.snapshot()
    }

    /// The configuration the network was started with.
    pub fn config(&self) -> &UserNetConfig {
        &self.config
    }
}

impl Drop for UserNet {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The callback that receives the frames for the guest.
type ToGuest = Box<dyn FnMut(&[u8]) + Send>;

/// What the slirp thread receives from the [`UserNet`] handle.
struct LoopShared {
    commands: mpsc::Receiver<Command>,
    wake: Arc<WakeFd>,
    stopping: Arc<AtomicBool>,
}

/// One slirp timer: slirp's callback and when (ms on [`LoopState::now_ms`]) it is due.
struct Timer {
    callback: ffi::SlirpTimerCb,
    callback_opaque: *mut c_void,
    expire_ms: Cell<Option<i64>>,
}

/// The state slirp's callbacks reach through their `opaque` pointer. It lives on the slirp
/// thread only; callbacks take shared references and mutate through cells, and no `RefCell`
/// borrow is held across a call into slirp or into `to_guest`'s caller.
struct LoopState {
    to_guest: RefCell<ToGuest>,
    pollfds: RefCell<Vec<libc::pollfd>>,
    timers: RefCell<Vec<*mut Timer>>,
    epoch: Instant,
    counters: Arc<Counters>,
}

impl LoopState {
    fn new(to_guest: ToGuest, counters: Arc<Counters>) -> LoopState {
        LoopState {
            to_guest: RefCell::new(to_guest),
            pollfds: RefCell::new(Vec::new()),
            timers: RefCell::new(Vec::new()),
            epoch: Instant::now(),
            counters,
        }
    }

    fn now_ns(&self) -> i64 {
        i64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(i64::MAX)
    }

    fn now_ms(&self) -> i64 {
        self.now_ns() / 1_000_000
    }

    /// Milliseconds until the earliest armed timer is due (0 if one is overdue).
    fn next_timer_in_ms(&self) -> Option<u32> {
        let now = self.now_ms();
        self.timers
            .borrow()
            .iter()
            // SAFETY: the registry holds only live timers (removed before they are freed).
            .filter_map(|&t| unsafe { (*t).expire_ms.get() })
            .min()
            .map(|due| u32::try_from(due.saturating_sub(now).max(0)).unwrap_or(u32::MAX))
    }

    /// Runs the callbacks of the timers that are due, each once (it may re-arm itself).
    fn run_due_timers(&self) {
        for _ in 0..MAX_TIMER_RUNS_PER_PASS {
            let now = self.now_ms();
            let due = self
                .timers
                .borrow()
                .iter()
                .copied()
                // SAFETY: the registry holds only live timers.
                .find(|&t| unsafe { (*t).expire_ms.get() }.is_some_and(|at| at <= now));
            let Some(timer) = due else { return };
            // SAFETY: `timer` is live; copy what we need before the callback, which may
            // re-arm or free timers (it gets no borrow of the registry).
            let (callback, opaque) = unsafe {
                (*timer).expire_ms.set(None);
                ((*timer).callback, (*timer).callback_opaque)
            };
            if let Some(callback) = callback {
                // SAFETY: slirp gave us this callback and its argument in timer_new.
                unsafe { callback(opaque) };
            }
        }
    }

    fn free_all_timers(&self) {
        for timer in self.timers.borrow_mut().drain(..) {
            // SAFETY: every registered pointer came from Box::into_raw in cb_timer_new.
            drop(unsafe { Box::from_raw(timer) });
        }
    }
}

impl Drop for LoopState {
    fn drop(&mut self) {
        self.free_all_timers();
    }
}

/// libslirp 4.7's `SlirpCb`: the binding's nine callbacks plus the two that config version 4
/// adds (slirp reads them when `version >= 4`, so they must exist in memory; null is allowed).
#[repr(C)]
struct CallbacksV4 {
    base: ffi::SlirpCb,
    init_completed: Option<unsafe extern "C" fn(slirp: *mut ffi::Slirp, opaque: *mut c_void)>,
    timer_new_opaque: Option<
        unsafe extern "C" fn(id: c_int, cb_opaque: *mut c_void, opaque: *mut c_void) -> *mut c_void,
    >,
}

/// Owns a `Slirp*`; cleans it up on drop (on the thread that created it).
struct SlirpInstance(*mut ffi::Slirp);

impl Drop for SlirpInstance {
    fn drop(&mut self) {
        // SAFETY: the pointer came from slirp_new and is cleaned up exactly once, while the
        // callbacks and their state it points to are still alive.
        unsafe { ffi::slirp_cleanup(self.0) };
    }
}

fn in6(prefix: Ipv6Addr, last: u16) -> ffi::in6_addr {
    let mut segments = prefix.segments();
    segments[7] = last;
    Ipv6Addr::from(segments).into()
}

/// The body of the slirp thread: creates slirp, adds the forwards, reports to `start`, and
/// runs the poll loop until asked to stop.
fn run_slirp(
    config: &UserNetConfig,
    to_guest: ToGuest,
    shared: LoopShared,
    counters: Arc<Counters>,
    ready: mpsc::Sender<Result<(), String>>,
) {
    let hostname = match CString::new(config.hostname.as_str()) {
        Ok(name) => name,
        Err(_) => {
            let _ = ready.send(Err("usernet: the host name contains a NUL byte".into()));
            return;
        }
    };
    let state = Box::new(LoopState::new(to_guest, Arc::clone(&counters)));
    let callbacks = Box::new(CallbacksV4 {
        base: ffi::SlirpCb {
            send_packet: Some(cb_send_packet),
            guest_error: Some(cb_guest_error),
            clock_get_ns: Some(cb_clock_get_ns),
            timer_new: Some(cb_timer_new),
            timer_free: Some(cb_timer_free),
            timer_mod: Some(cb_timer_mod),
            register_poll_fd: Some(cb_register_poll_fd),
            unregister_poll_fd: Some(cb_unregister_poll_fd),
            notify: Some(cb_notify),
        },
        init_completed: None,
        timer_new_opaque: None,
    });
    let slirp_config = ffi::SlirpConfig {
        version: SLIRP_CONFIG_VERSION,
        restricted: 0,
        in_enabled: true,
        vnetwork: config.network.into(),
        vnetmask: config.netmask().into(),
        vhost: config.host.into(),
        in6_enabled: config.ipv6,
        vprefix_addr6: crate::config::DEFAULT_IPV6_PREFIX.into(),
        vprefix_len: crate::config::DEFAULT_IPV6_PREFIX_LEN,
        vhost6: in6(crate::config::DEFAULT_IPV6_PREFIX, 2),
        vhostname: hostname.as_ptr(),
        tftp_server_name: std::ptr::null(),
        tftp_path: std::ptr::null(),
        bootfile: std::ptr::null(),
        vdhcp_start: config.dhcp_start.into(),
        vnameserver: config.dns.into(),
        vnameserver6: in6(crate::config::DEFAULT_IPV6_PREFIX, 3),
        vdnssearch: std::ptr::null_mut(),
        vdomainname: std::ptr::null(),
        if_mtu: 0,
        if_mru: 0,
        disable_host_loopback: false,
        enable_emu: false,
        outbound_addr: std::ptr::null(),
        outbound_addr6: std::ptr::null(),
        disable_dns: false,
        disable_dhcp: !config.dhcp,
    };
    let opaque = (&*state as *const LoopState).cast_mut().cast::<c_void>();
    // SAFETY: the config and its strings are alive for the call (slirp copies what it keeps);
    // `callbacks` and `state` are boxed and outlive the instance (`slirp` is declared after
    // them, so it is dropped first).
    let raw = unsafe {
        ffi::slirp_new(
            &slirp_config,
            (&*callbacks as *const CallbacksV4).cast(),
            opaque,
        )
    };
    if raw.is_null() {
        let _ = ready.send(Err("usernet: libslirp refused the configuration".into()));
        return;
    }
    let slirp = SlirpInstance(raw);

    for fwd in &config.hostfwd {
        let guest = config.guest_addr_of(fwd);
        // SAFETY: a live instance on its own thread; plain values.
        let rc = unsafe {
            ffi::slirp_add_hostfwd(
                slirp.0,
                c_int::from(fwd.proto == Proto::Udp),
                fwd.host_addr.into(),
                c_int::from(fwd.host_port),
                guest.into(),
                c_int::from(fwd.guest_port),
            )
        };
        if rc < 0 {
            let os_error = io::Error::last_os_error();
            let _ = ready.send(Err(format!(
                "usernet: cannot forward host {} port {}:{} (hostfwd={fwd}): {os_error}{}",
                fwd.proto,
                fwd.host_addr,
                fwd.host_port,
                if os_error.raw_os_error() == Some(libc::EADDRINUSE) {
                    "; is another program (or another emulator) using that port?"
                } else {
                    ""
                }
            )));
            return;
        }
    }
    let _ = ready.send(Ok(()));
    drop(ready);

    poll_loop(&slirp, &state, opaque, &shared);
    log::debug!("usernet: slirp thread stopping");
    drop(slirp);
    drop(callbacks);
    drop(state);
}

fn poll_loop(slirp: &SlirpInstance, state: &LoopState, opaque: *mut c_void, shared: &LoopShared) {
    let wake_fd = shared.wake.0.as_raw_fd();
    loop {
        loop {
            match shared.commands.try_recv() {
                Ok(Command::Frame(frame)) => {
                    // `send` bounds the length, so it fits a c_int.
                    let len = c_int::try_from(frame.len()).unwrap_or(0);
                    // Counted first: replies reach `to_guest` from inside slirp_input.
                    state
                        .counters
                        .frames_from_guest
                        .fetch_add(1, Ordering::Relaxed);
                    // SAFETY: a live instance; the frame is alive for the call.
                    unsafe { ffi::slirp_input(slirp.0, frame.as_ptr(), len) };
                }
                Ok(Command::Stop) | Err(TryRecvError::Disconnected) => return,
                Err(TryRecvError::Empty) => break,
            }
        }
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }

        {
            let mut fds = state.pollfds.borrow_mut();
            fds.clear();
            fds.push(libc::pollfd {
                fd: wake_fd,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let mut timeout: u32 = MAX_POLL_MS;
        // SAFETY: a live instance; `cb_add_poll` gets `opaque`, our live LoopState.
        unsafe { ffi::slirp_pollfds_fill(slirp.0, &mut timeout, Some(cb_add_poll), opaque) };
        if let Some(timer_ms) = state.next_timer_in_ms() {
            timeout = timeout.min(timer_ms);
        }
        let timeout = c_int::try_from(timeout.min(MAX_POLL_MS)).unwrap_or(0);
        let ret = {
            let mut fds = state.pollfds.borrow_mut();
            // SAFETY: the pointer and length describe our live Vec of pollfd.
            unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) }
        };
        let woken = state
            .pollfds
            .borrow()
            .first()
            .is_some_and(|fd| fd.revents & libc::POLLIN != 0);
        if woken {
            shared.wake.drain();
        }
        // SAFETY: a live instance; `cb_get_revents` bounds-checks the index it is given.
        unsafe {
            ffi::slirp_pollfds_poll(slirp.0, c_int::from(ret < 0), Some(cb_get_revents), opaque)
        };
        state.run_due_timers();
    }
}

/// Recovers the loop state from slirp's `opaque` argument.
///
/// # Safety
/// `opaque` must be the pointer given to `slirp_new`, whose `LoopState` is still alive.
unsafe fn loop_state<'a>(opaque: *mut c_void) -> &'a LoopState {
    &*opaque.cast::<LoopState>()
}

/// Hands a frame from slirp to the guest. Frames we drop are still reported as sent: a
/// negative result only makes slirp log a critical error, and TCP recovers from the loss.
unsafe extern "C" fn cb_send_packet(buf: *const c_void, len: usize, opaque: *mut c_void) -> isize {
    let state = loop_state(opaque);
    let consumed = isize::try_from(len).unwrap_or(isize::MAX);
    if buf.is_null() || !(ETH_HEADER_LEN..=MAX_FRAME_LEN).contains(&len) {
        if bump(&state.counters.malformed_to_guest) {
            log::warn!("usernet: slirp produced a malformed {len}-byte frame, dropped");
        }
        return consumed;
    }
    // SAFETY: slirp passes `len` readable bytes at `buf`, alive for the call.
    let frame = std::slice::from_raw_parts(buf.cast::<u8>(), len);
    let Ok(mut to_guest) = state.to_guest.try_borrow_mut() else {
        // Only possible if to_guest re-entered slirp, which it cannot reach.
        return consumed;
    };
    // Counted first, so that whoever receives the frame already sees it counted.
    state
        .counters
        .frames_to_guest
        .fetch_add(1, Ordering::Relaxed);
    if catch_unwind(AssertUnwindSafe(|| (to_guest)(frame))).is_err() {
        bump(&state.counters.callback_panics);
        log::error!("usernet: the to_guest callback panicked; frame dropped");
    }
    consumed
}

unsafe extern "C" fn cb_guest_error(msg: *const c_char, opaque: *mut c_void) {
    let state = loop_state(opaque);
    let text = if msg.is_null() {
        "(no message)".into()
    } else {
        // SAFETY: slirp passes a NUL-terminated string.
        CStr::from_ptr(msg).to_string_lossy()
    };
    if bump(&state.counters.guest_errors) {
        log::warn!("usernet: bad packet from the guest: {text}");
    } else {
        log::debug!("usernet: bad packet from the guest: {text}");
    }
}

unsafe extern "C" fn cb_clock_get_ns(opaque: *mut c_void) -> i64 {
    loop_state(opaque).now_ns()
}

unsafe extern "C" fn cb_timer_new(
    callback: ffi::SlirpTimerCb,
    callback_opaque: *mut c_void,
    opaque: *mut c_void,
) -> *mut c_void {
    let state = loop_state(opaque);
    let timer = Box::into_raw(Box::new(Timer {
        callback,
        callback_opaque,
        expire_ms: Cell::new(None),
    }));
    state.timers.borrow_mut().push(timer);
    timer.cast()
}

unsafe extern "C" fn cb_timer_free(timer: *mut c_void, opaque: *mut c_void) {
    let state = loop_state(opaque);
    let timer = timer.cast::<Timer>();
    let mut timers = state.timers.borrow_mut();
    if let Some(index) = timers.iter().position(|&t| t == timer) {
        timers.swap_remove(index);
        // SAFETY: registered pointers come from Box::into_raw and are freed only here or
        // in free_all_timers, after leaving the registry.
        drop(Box::from_raw(timer));
    } else {
        log::warn!("usernet: slirp freed an unknown timer");
    }
}

unsafe extern "C" fn cb_timer_mod(timer: *mut c_void, expire_ms: i64, opaque: *mut c_void) {
    let state = loop_state(opaque);
    let timer = timer.cast::<Timer>();
    if state.timers.borrow().contains(&timer) {
        // SAFETY: it is in the registry, so it is live.
        (*timer).expire_ms.set(Some(expire_ms));
    } else {
        log::warn!("usernet: slirp armed an unknown timer");
    }
}

unsafe extern "C" fn cb_register_poll_fd(_fd: c_int, _opaque: *mut c_void) {
    // The poll set is rebuilt by slirp_pollfds_fill on every pass.
}

unsafe extern "C" fn cb_unregister_poll_fd(_fd: c_int, _opaque: *mut c_void) {}

unsafe extern "C" fn cb_notify(_opaque: *mut c_void) {
    // Called on the slirp thread itself; the next pass of the loop picks the change up.
}

unsafe extern "C" fn cb_add_poll(fd: c_int, events: c_int, opaque: *mut c_void) -> c_int {
    let state = loop_state(opaque);
    let mut poll_events = 0;
    for (slirp_flag, poll_flag) in POLL_FLAGS {
        if events & slirp_flag != 0 {
            poll_events |= poll_flag;
        }
    }
    let mut fds = state.pollfds.borrow_mut();
    fds.push(libc::pollfd {
        fd,
        events: poll_events,
        revents: 0,
    });
    c_int::try_from(fds.len() - 1).unwrap_or(-1)
}

unsafe extern "C" fn cb_get_revents(index: c_int, opaque: *mut c_void) -> c_int {
    let state = loop_state(opaque);
    let fds = state.pollfds.borrow();
    let Some(fd) = usize::try_from(index).ok().and_then(|i| fds.get(i)) else {
        return 0;
    };
    POLL_FLAGS
        .iter()
        .filter(|(_, poll_flag)| fd.revents & poll_flag != 0)
        .fold(0, |acc, (slirp_flag, _)| acc | slirp_flag)
}

/// libslirp's poll flags beside poll(2)'s.
const POLL_FLAGS: [(c_int, libc::c_short); 5] = [
    (ffi::SLIRP_POLL_IN, libc::POLLIN),
    (ffi::SLIRP_POLL_OUT, libc::POLLOUT),
    (ffi::SLIRP_POLL_PRI, libc::POLLPRI),
    (ffi::SLIRP_POLL_ERR, libc::POLLERR),
    (ffi::SLIRP_POLL_HUP, libc::POLLHUP),
];

#[cfg(test)]
mod tests;
