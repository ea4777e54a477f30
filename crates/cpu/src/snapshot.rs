//! A core's state for a snapshot: the patched core's architectural state (unicorn patch 0008:
//! every register the guest sees, banked modes, CP15, VFP, the generic timers' registers, the
//! exclusive monitor, WFI and the event register) in the linked build's layout, and what this
//! crate keeps beside it (the generic timer's counter base, an instruction count).

use serde::{Deserialize, Serialize};

use crate::{ffi, Cpu, CpuError};

/// The format of [`CpuState`]; a state of another version is refused.
pub const CPU_STATE_VERSION: u32 = 1;

/// The build of the patched libunicorn this crate links (`scripts/build-unicorn`'s stamp: the
/// unicorn version and the patch set's hash). A core's architectural state is laid out as that
/// build lays it out, so it loads only into the same build.
pub const UNICORN_BUILD: &str = env!("AST_EMU_UNICORN_BUILD");

/// One core, saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuState {
    /// [`CPU_STATE_VERSION`] when saved.
    pub version: u32,
    /// [`UNICORN_BUILD`] of the build that saved `arch`.
    pub unicorn_build: String,
    /// The core model (`cortex-a7`, `arm1176`).
    pub model: String,
    /// The architectural state, as the patched core lays it out.
    pub arch: Vec<u8>,
    /// The generic timer's counter: its rate (Hz) and the (virtual ns, count) it counts from.
    pub counter: [u64; 3],
}

impl Cpu {
    /// The core's state for a snapshot. Call between runs (never from inside one).
    pub fn save_state(&self) -> Result<CpuState, CpuError> {
        let uc = self.uc.get_handle();
        // SAFETY: a live engine, on its own thread, not running.
        let len = unsafe { ffi::uc_ast_cpu_state_size(uc) };
        if len == 0 {
            return Err(CpuError(
                "the linked libunicorn cannot save a core (no uc_ast_cpu_state)".into(),
            ));
        }
        let mut arch = vec![0u8; len];
        // SAFETY: as above; `arch` is `len` bytes.
        let rc = unsafe { ffi::uc_ast_cpu_state_save(uc, arch.as_mut_ptr(), len) };
        if rc != 0 {
            return Err(CpuError(format!("uc_ast_cpu_state_save returned {rc}")));
        }
        Ok(CpuState {
            version: CPU_STATE_VERSION,
            unicorn_build: UNICORN_BUILD.into(),
            model: self.model.name().into(),
            arch,
            counter: self.timer.counter_base(),
        })
    }

    /// Puts the core into a saved state: registers, modes, CP15, timers (their outputs are
    /// driven to the saved levels), WFI; every TLB entry and translated block is dropped.
    /// Breakpoints and watchpoints stay as they are. A state saved by another build of the
    /// core, another model or another format is refused with the core unchanged.
    pub fn load_state(&mut self, state: &CpuState) -> Result<(), CpuError> {
        if state.version != CPU_STATE_VERSION {
            return Err(CpuError(format!(
                "the core's state has format version {}, this build reads version {CPU_STATE_VERSION}",
                state.version
            )));
        }
        if state.unicorn_build != UNICORN_BUILD {
            return Err(CpuError(format!(
                "the core's state was saved by another build of the patched unicorn ({}, this is {UNICORN_BUILD}): its layout may differ",
                state.unicorn_build
            )));
        }
        if state.model != self.model.name() {
            return Err(CpuError(format!(
                "the state is of a {} core, this core is a {}",
                state.model,
                self.model.name()
            )));
        }
        let uc = self.uc.get_handle();
        // SAFETY: a live engine, on its own thread, not running.
        let len = unsafe { ffi::uc_ast_cpu_state_size(uc) };
        if len != state.arch.len() {
            return Err(CpuError(format!(
                "the core's state holds {} bytes, this build's holds {len}",
                state.arch.len()
            )));
        }
        // The counter first: loading reports the timers' deadlines in counts, which the
        // counter base turns into virtual time.
        self.timer.set_counter_base(state.counter);
        // The outputs' far end (the GIC's PPI levels) was restored from the snapshot: drive
        // every loaded level, even one equal to the level this core drove before the load.
        self.timer.drive_next_levels();
        self.held = None;
        // SAFETY: as above; `arch` is `len` bytes.
        let rc = unsafe { ffi::uc_ast_cpu_state_load(uc, state.arch.as_ptr(), len) };
        if rc != 0 {
            return Err(CpuError(format!("uc_ast_cpu_state_load returned {rc}")));
        }
        Ok(())
    }
}
