//! Register decode of the CPU interface block (GICC_*), banked by the current CPU.
//!
//! All GICC registers are word registers. A narrower read returns the bytes it covers, except
//! for GICC_IAR/GICC_AIAR whose read has a side effect: a partial read of those returns 0 and
//! acknowledges nothing. A narrower write updates only its bytes of a read/write register and
//! is ignored (with a log) for the write-only EOIR, AEOIR and DIR. 8-byte accesses are two word
//! accesses.

use bus::{merge_subword, subword};

use crate::core::GicCore;
use crate::registers::*;

impl GicCore {
    /// A read of `size` bytes at `offset` in the CPU interface block.
    pub fn cpu_read(&mut self, offset: u64, size: u8) -> u64 {
        match size {
            8 => {
                let lo = self.cpu_read(offset, 4);
                let hi = self.cpu_read(offset.wrapping_add(4), 4);
                lo | (hi << 32)
            }
            1 | 2 | 4 => {
                let word = offset & !3;
                if size == 4 && offset == word {
                    return u64::from(self.cpu_read_word(word));
                }
                if word == GICC_IAR || word == GICC_AIAR {
                    log::warn!("gic: {size}-byte read at GICC {offset:#x} ignored (word only)");
                    return 0;
                }
                subword(self.cpu_read_word(word), offset, size)
            }
            _ => {
                self.cpu_log.read(offset, size);
                0
            }
        }
    }

    /// A write of the low `size` bytes of `value` at `offset` in the CPU interface block.
    pub fn cpu_write(&mut self, offset: u64, size: u8, value: u64) {
        match size {
            8 => {
                self.cpu_write(offset, 4, value & 0xFFFF_FFFF);
                self.cpu_write(offset.wrapping_add(4), 4, value >> 32);
            }
            1 | 2 | 4 => {
                let word = offset & !3;
                if size == 4 && offset == word {
                    self.cpu_write_word(word, value as u32);
                    return;
                }
                if matches!(word, GICC_EOIR | GICC_AEOIR | GICC_DIR) {
                    log::warn!("gic: {size}-byte write at GICC {offset:#x} ignored (word only)");
                    return;
                }
                let current = self.cpu_read_word(word);
                self.cpu_write_word(word, merge_subword(current, offset, size, value));
            }
            _ => self.cpu_log.write(offset, size, value),
        }
    }

    /// The 32-bit register at word-aligned `offset`.
    fn cpu_read_word(&mut self, offset: u64) -> u32 {
        let cpu = self.current_cpu;
        let Some(c) = self.state.cpus.get(cpu) else {
            return 0;
        };
        match offset {
            GICC_CTLR => c.ctlr,
            GICC_PMR => u32::from(c.pmr),
            GICC_BPR => u32::from(c.bpr),
            GICC_ABPR => u32::from(c.abpr),
            GICC_IAR => self.acknowledge(cpu, false),
            GICC_AIAR => self.acknowledge(cpu, true),
            GICC_RPR => match self.running_priority(cpu) {
                p if p > 0xFF => u32::from(IDLE_PRIORITY),
                p => u32::from(p),
            },
            GICC_HPPIR => match self.highest_unmasked(cpu) {
                Some(h) if h.group1 && c.ctlr & GICC_CTLR_ACK_CTL == 0 => SPURIOUS_GROUP1,
                Some(h) => self.hppi_value(cpu, h.id),
                None => SPURIOUS,
            },
            GICC_AHPPIR => match self.highest_unmasked(cpu) {
                Some(h) if h.group1 => self.hppi_value(cpu, h.id),
                _ => SPURIOUS,
            },
            GICC_APR0 => c.apr,
            GICC_NSAPR0 => c.nsapr,
            // 32 priority levels need only APR0/NSAPR0; the others are RAZ/WI.
            o if (GICC_APR0..=GICC_APR3).contains(&o)
                || (GICC_NSAPR0..=GICC_NSAPR3).contains(&o) =>
            {
                0
            }
            GICC_IIDR => GICC_IIDR_VALUE,
            // Write-only registers.
            GICC_EOIR | GICC_AEOIR | GICC_DIR => 0,
            o => {
                self.cpu_log.read(o, 4);
                0
            }
        }
    }

    /// GICC_HPPIR value for interrupt `id`: an SGI also reports its lowest source CPU.
    fn hppi_value(&self, cpu: usize, id: u32) -> u32 {
        if id < NUM_SGIS {
            let sources = self.state.cpus[cpu].sgi_sources[id as usize];
            id | ((sources.trailing_zeros() & 7) << GICC_IAR_CPUID_SHIFT)
        } else {
            id
        }
    }

    /// Writes the 32-bit register at word-aligned `offset`.
    fn cpu_write_word(&mut self, offset: u64, value: u32) {
        let cpu = self.current_cpu;
        let Some(c) = self.state.cpus.get_mut(cpu) else {
            return;
        };
        match offset {
            GICC_CTLR => c.ctlr = value & GICC_CTLR_MASK,
            GICC_PMR => c.pmr = (value as u8) & PRIORITY_MASK,
            GICC_BPR => c.bpr = ((value & 7) as u8).max(MIN_BPR),
            GICC_ABPR => c.abpr = ((value & 7) as u8).max(MIN_ABPR),
            GICC_EOIR | GICC_AEOIR => self.end_of_interrupt(cpu, value),
            GICC_DIR => self.deactivate(cpu, value),
            GICC_APR0 => c.apr = value,
            GICC_NSAPR0 => c.nsapr = value,
            o if (GICC_APR0..=GICC_APR3).contains(&o)
                || (GICC_NSAPR0..=GICC_NSAPR3).contains(&o) => {}
            // Read-only registers.
            GICC_IAR | GICC_AIAR | GICC_RPR | GICC_HPPIR | GICC_AHPPIR | GICC_IIDR => {}
            o => self.cpu_log.write(o, 4, u64::from(value)),
        }
        self.dirty = true;
    }
}
