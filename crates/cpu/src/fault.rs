//! Why the core stopped when it could not go on: [`Fault`], built from unicorn's error and the
//! patch set's record of the failed access (`uc_ast_last_fault`).

use std::fmt;

use unicorn_engine::uc_error;

/// The kind of a memory access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessKind {
    /// A data load.
    Read,
    /// A data store.
    Write,
    /// An instruction fetch.
    Fetch,
}

impl fmt::Display for AccessKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AccessKind::Read => "read",
            AccessKind::Write => "write",
            AccessKind::Fetch => "fetch",
        })
    }
}

/// What stopped the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultCause {
    /// Nothing is mapped at the accessed physical address.
    Unmapped(AccessKind),
    /// The memory there does not allow the access: a fetch from an MMIO region or from memory
    /// mapped without execute permission, a read of memory without read permission. (Stores
    /// to read-only host memory are dropped instead, as ROM: they never stop the core.)
    Protected(AccessKind),
    /// Any other error of the core, by unicorn's name for it (`EXCEPTION`, `MAP`, ...), or a
    /// failure of the CPU crate's own set-up for a step.
    Core(String),
}

impl FaultCause {
    /// The cause unicorn's error code names.
    fn from_error(e: uc_error) -> FaultCause {
        use AccessKind::{Fetch, Read, Write};
        match e {
            uc_error::READ_UNMAPPED => FaultCause::Unmapped(Read),
            uc_error::WRITE_UNMAPPED => FaultCause::Unmapped(Write),
            uc_error::FETCH_UNMAPPED => FaultCause::Unmapped(Fetch),
            uc_error::READ_PROT => FaultCause::Protected(Read),
            uc_error::WRITE_PROT => FaultCause::Protected(Write),
            uc_error::FETCH_PROT => FaultCause::Protected(Fetch),
            other => FaultCause::Core(format!("{other:?}")),
        }
    }

    /// The kind of the access that failed, when the cause is one.
    pub fn access_kind(&self) -> Option<AccessKind> {
        match self {
            FaultCause::Unmapped(kind) | FaultCause::Protected(kind) => Some(*kind),
            FaultCause::Core(_) => None,
        }
    }
}

/// Where the failed access went, as the core recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultAccess {
    /// The virtual address (the physical one with the MMU off).
    pub addr: u64,
    /// The physical address.
    pub phys: u64,
    /// The access size in bytes.
    pub size: u32,
}

/// A stop of the core that is not a clean exit: what happened, where and at which instruction.
/// Its `Display` is one line, e.g. `4-byte write to unmapped memory at 0x40000000, pc
/// 0x80000010`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The address of the instruction that faulted (for a memory access the core stops on it,
    /// not performed); for other causes, where the core stopped.
    pub pc: u32,
    /// Whether the core was in Thumb state.
    pub thumb: bool,
    /// What went wrong.
    pub cause: FaultCause,
    /// The failed access's address and size, when the cause is a memory access.
    pub access: Option<FaultAccess>,
}

impl Fault {
    /// The fault unicorn reported as `e`, with the access the patch set recorded (if any).
    pub(crate) fn from_error(
        e: uc_error,
        pc: u32,
        thumb: bool,
        access: Option<FaultAccess>,
    ) -> Fault {
        let cause = FaultCause::from_error(e);
        let access = access.filter(|_| cause.access_kind().is_some());
        Fault {
            pc,
            thumb,
            cause,
            access,
        }
    }

    /// A stop of the CPU crate's own making (`what` went wrong) at `pc`.
    pub(crate) fn core(what: String, pc: u32, thumb: bool) -> Fault {
        Fault {
            pc,
            thumb,
            cause: FaultCause::Core(what),
            access: None,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, memory) = match &self.cause {
            FaultCause::Unmapped(kind) => (*kind, "unmapped memory"),
            FaultCause::Protected(AccessKind::Read) => (AccessKind::Read, "unreadable memory"),
            FaultCause::Protected(AccessKind::Write) => (AccessKind::Write, "read-only memory"),
            FaultCause::Protected(AccessKind::Fetch) => {
                (AccessKind::Fetch, "non-executable memory")
            }
            FaultCause::Core(what) => return write!(f, "core error {what}, {}", self.pc_text()),
        };
        let direction = if kind == AccessKind::Write {
            "to"
        } else {
            "from"
        };
        match self.access {
            Some(a) => {
                write!(
                    f,
                    "{}-byte {kind} {direction} {memory} at {:#010x}",
                    a.size, a.addr
                )?;
                if a.phys != a.addr {
                    write!(f, " (physical {:#010x})", a.phys)?;
                }
            }
            None => write!(f, "{kind} {direction} {memory}")?,
        }
        write!(f, ", {}", self.pc_text())
    }
}

impl Fault {
    fn pc_text(&self) -> String {
        let state = if self.thumb { " (Thumb)" } else { "" };
        format!("pc {:#010x}{state}", self.pc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_reads_as_one_line_naming_the_access_and_the_pc() {
        let write = Fault::from_error(
            uc_error::WRITE_UNMAPPED,
            0x8000_0010,
            false,
            Some(FaultAccess {
                addr: 0x4000_0000,
                phys: 0x4000_0000,
                size: 4,
            }),
        );
        assert_eq!(
            write.to_string(),
            "4-byte write to unmapped memory at 0x40000000, pc 0x80000010"
        );
        let fetch = Fault::from_error(
            uc_error::FETCH_PROT,
            0xc000_0000,
            true,
            Some(FaultAccess {
                addr: 0xc000_0000,
                phys: 0x1e78_4000,
                size: 2,
            }),
        );
        assert_eq!(
            fetch.to_string(),
            "2-byte fetch from non-executable memory at 0xc0000000 \
             (physical 0x1e784000), pc 0xc0000000 (Thumb)"
        );
        let other = Fault::from_error(uc_error::EXCEPTION, 0x100, false, None);
        assert_eq!(other.to_string(), "core error EXCEPTION, pc 0x00000100");
        assert_eq!(
            Fault::from_error(uc_error::READ_PROT, 0x100, false, None).to_string(),
            "read from unreadable memory, pc 0x00000100"
        );
        assert!(!write.to_string().contains('\n'));
    }
}
