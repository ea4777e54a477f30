//! Read-only host memory is ROM, as in QEMU: the patch set drops a guest store to it (memory
//! unchanged, the CPU carries on with the next instruction) and reports it here, where each
//! 4 KiB page is logged once.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;

use crate::ffi;

/// The log target of the reports of guest stores to read-only memory (one per 4 KiB page).
pub const ROM_LOG_TARGET: &str = "rom";

/// The dropped stores: how many, and the pages already reported.
#[derive(Default)]
pub(crate) struct RomWrites {
    dropped: Cell<u64>,
    reported: RefCell<HashSet<u64>>,
}

impl RomWrites {
    /// Has the core report dropped stores to this record.
    ///
    /// # Safety
    /// `uc` is a live engine with the patch set enabled; `self` stays where it is (boxed) for
    /// as long as the engine runs.
    pub(crate) unsafe fn install(&self, uc: *mut unicorn_engine::uc_engine) -> i32 {
        let opaque = self as *const RomWrites as *mut std::ffi::c_void;
        // SAFETY: forwarded from the caller.
        unsafe { ffi::uc_ast_set_rom_write_callback(uc, rom_write_cb, opaque) }
    }

    /// How many guest stores to read-only memory were dropped.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.get()
    }

    /// Counts a dropped store; whether its page is reported for the first time.
    fn first_on_its_page(&self, phys: u64) -> bool {
        self.dropped.set(self.dropped.get() + 1);
        self.reported.borrow_mut().insert(phys & !0xfff)
    }
}

unsafe extern "C" fn rom_write_cb(
    opaque: *mut std::ffi::c_void,
    uc: *mut unicorn_engine::uc_engine,
    vaddr: u64,
    paddr: u64,
    size: i32,
    value: u64,
) {
    // SAFETY: `opaque` is the installed RomWrites, alive while the engine runs; the core calls
    // back on the emulation thread only, and the record is only touched through Cells.
    let rom = unsafe { &*(opaque as *const RomWrites) };
    if !rom.first_on_its_page(paddr) {
        return;
    }
    // SAFETY: inside the core's callback for this store, on the emulation thread.
    let pc = unsafe { ffi::uc_ast_io_pc(uc) };
    let value = value & (u64::MAX >> (64 - 8 * size.clamp(1, 8)));
    let virt = if vaddr == paddr {
        String::new()
    } else {
        format!(" (virtual {vaddr:#010x})")
    };
    log::warn!(
        target: ROM_LOG_TARGET,
        "dropped a {size}-byte write of {value:#x} to read-only memory at {paddr:#010x}{virt}, \
         pc {pc:#010x}; further writes to this 4 KiB page are dropped without a report"
    );
}
