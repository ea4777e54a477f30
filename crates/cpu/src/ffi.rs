//! The entry points the project's patch set adds to libunicorn (see patches/unicorn/).
//! The crate's generated bindings come from the stock header, so they are declared here.

use unicorn_engine::uc_engine;

/// The engine pointer, shared with other threads for the thread-safe entry points only.
#[derive(Clone, Copy)]
pub(crate) struct EnginePtr(pub(crate) *mut uc_engine);

// SAFETY: only uc_ast_set_irq_line, uc_ast_request_exit and uc_ast_post_invalidate_phys,
// which the patch set makes thread-safe (atomics, a locked request queue), are called
// through it from other threads.
unsafe impl Send for EnginePtr {}
// SAFETY: as above.
unsafe impl Sync for EnginePtr {}

/// Reports the counter value (CNTPCT) for the CNTFRQ the guest programmed.
pub(crate) type CounterCb = unsafe extern "C" fn(opaque: *mut std::ffi::c_void, cntfrq: u64) -> u64;
/// Reports a generic timer's output level and next deadline (a counter value, or u64::MAX).
pub(crate) type TimerCb =
    unsafe extern "C" fn(opaque: *mut std::ffi::c_void, timer: i32, level: i32, deadline: u64);
/// Reports a guest store to read-only memory, which the core dropped: its virtual and
/// physical address, size in bytes and value.
pub(crate) type RomWriteCb = unsafe extern "C" fn(
    opaque: *mut std::ffi::c_void,
    uc: *mut uc_engine,
    vaddr: u64,
    paddr: u64,
    size: i32,
    value: u64,
);

extern "C" {
    pub(crate) fn uc_ast_enable(uc: *mut uc_engine) -> i32;
    pub(crate) fn uc_ast_halted(uc: *mut uc_engine) -> i32;
    pub(crate) fn uc_ast_set_counting(uc: *mut uc_engine, on: i32) -> i32;
    pub(crate) fn uc_ast_set_budget(uc: *mut uc_engine, insns: u64);
    pub(crate) fn uc_ast_executed(uc: *mut uc_engine) -> u64;
    pub(crate) fn uc_ast_set_mp_affinity(uc: *mut uc_engine, affinity: u64) -> i32;
    pub(crate) fn uc_ast_set_irq_line(uc: *mut uc_engine, line: i32, level: i32);
    pub(crate) fn uc_ast_request_exit(uc: *mut uc_engine);
    pub(crate) fn uc_ast_set_timer_callbacks(
        uc: *mut uc_engine,
        counter: CounterCb,
        timer: TimerCb,
        opaque: *mut std::ffi::c_void,
    ) -> i32;
    pub(crate) fn uc_ast_timer_tick(uc: *mut uc_engine);
    pub(crate) fn uc_ast_invalidate_phys(uc: *mut uc_engine, addr: u64, len: u64);
    pub(crate) fn uc_ast_io_pc(uc: *mut uc_engine) -> u64;
    pub(crate) fn uc_ast_set_io_barrier(uc: *mut uc_engine, start: u64, len: u64);
    pub(crate) fn uc_ast_stop_before_access(uc: *mut uc_engine);
    pub(crate) fn uc_ast_set_rom_write_callback(
        uc: *mut uc_engine,
        cb: RomWriteCb,
        opaque: *mut std::ffi::c_void,
    ) -> i32;
    pub(crate) fn uc_ast_add_peer(uc: *mut uc_engine, peer: *mut uc_engine) -> i32;
    pub(crate) fn uc_ast_leave_domain(uc: *mut uc_engine);
    pub(crate) fn uc_ast_take_wfe_wait(uc: *mut uc_engine) -> i32;
    pub(crate) fn uc_ast_take_event(uc: *mut uc_engine) -> i32;
    pub(crate) fn uc_ast_cpu_state_size(uc: *mut uc_engine) -> usize;
    pub(crate) fn uc_ast_cpu_state_save(uc: *mut uc_engine, buf: *mut u8, len: usize) -> i32;
    pub(crate) fn uc_ast_cpu_state_load(uc: *mut uc_engine, buf: *const u8, len: usize) -> i32;
    pub(crate) fn uc_ast_set_threaded(uc: *mut uc_engine, on: i32) -> i32;
    pub(crate) fn uc_ast_post_invalidate_phys(uc: *mut uc_engine, addr: u64, len: u64);
    pub(crate) fn uc_ast_last_fault(
        uc: *mut uc_engine,
        vaddr: *mut u64,
        paddr: *mut u64,
        size: *mut u32,
    ) -> i32;
}
