//! Register decode of the distributor block (GICD_*).
//!
//! IPRIORITYR, ITARGETSR, CPENDSGIR and SPENDSGIR are byte accessible, as the architecture
//! allows; every other register is a word register, and a narrower access reads the bytes it
//! covers or writes only those bytes (for the set/clear registers, the other bytes count as
//! zeros, so they change nothing). 8-byte accesses are two word accesses.

use bus::subword;

use crate::core::GicCore;
use crate::registers::*;

/// The one-bit-per-interrupt attributes behind the IGROUPR/IS*/IC* register arrays.
#[derive(Clone, Copy)]
enum Attribute {
    Group,
    Enable,
    Pending,
    Active,
}

/// Whether the distributor register holding `offset` allows byte accesses.
fn is_byte_register(offset: u64) -> bool {
    (GICD_IPRIORITYR..GICD_ICFGR).contains(&offset)
        || (GICD_CPENDSGIR..GICD_SPENDSGIR_END).contains(&offset)
}

/// Which bit array (and first interrupt ID of the word) a word offset falls in.
fn bit_array(offset: u64) -> Option<(u64, u32)> {
    if !(GICD_IGROUPR..GICD_IPRIORITYR).contains(&offset) {
        return None;
    }
    let base = offset & !(BIT_ARRAY_SIZE - 1);
    let first_id = ((offset - base) * 8) as u32;
    Some((base, first_id))
}

impl GicCore {
    /// A read of `size` bytes at `offset` in the distributor block.
    pub fn dist_read(&mut self, offset: u64, size: u8) -> u64 {
        match size {
            8 => {
                let lo = self.dist_read(offset, 4);
                let hi = self.dist_read(offset.wrapping_add(4), 4);
                lo | (hi << 32)
            }
            1 | 2 | 4 => {
                if offset >= DISTRIBUTOR_SIZE {
                    self.dist_log.read(offset, size);
                    return 0;
                }
                if is_byte_register(offset) {
                    (0..u64::from(size)).fold(0, |v, i| {
                        v | (u64::from(self.dist_read_byte(offset.wrapping_add(i))) << (8 * i))
                    })
                } else {
                    subword(self.dist_read_word(offset & !3), offset, size)
                }
            }
            _ => {
                self.dist_log.read(offset, size);
                0
            }
        }
    }

    /// A write of the low `size` bytes of `value` at `offset` in the distributor block.
    pub fn dist_write(&mut self, offset: u64, size: u8, value: u64) {
        match size {
            8 => {
                self.dist_write(offset, 4, value & 0xFFFF_FFFF);
                self.dist_write(offset.wrapping_add(4), 4, value >> 32);
            }
            1 | 2 | 4 => {
                if offset >= DISTRIBUTOR_SIZE {
                    self.dist_log.write(offset, size, value);
                    return;
                }
                if is_byte_register(offset) {
                    for i in 0..u64::from(size) {
                        let byte = (value >> (8 * i)) as u8;
                        self.dist_write_byte(offset.wrapping_add(i), byte);
                    }
                } else {
                    let shift = (offset & 3) * 8;
                    let lanes: u64 = match size {
                        1 => 0xFF,
                        2 => 0xFFFF,
                        _ => 0xFFFF_FFFF,
                    };
                    let mask = (lanes << shift) as u32;
                    let data = ((value & lanes) << shift) as u32;
                    self.dist_write_word(offset & !3, data, mask);
                }
                self.dirty = true;
            }
            _ => self.dist_log.write(offset, size, value),
        }
    }

    /// One byte of a byte-accessible register (or of the word register that holds `offset`).
    fn dist_read_byte(&mut self, offset: u64) -> u8 {
        let cpu = self.current_cpu;
        if (GICD_IPRIORITYR..GICD_ITARGETSR).contains(&offset) {
            let id = (offset - GICD_IPRIORITYR) as u32;
            self.irq(id, cpu).map_or(0, |s| s.priority)
        } else if (GICD_ITARGETSR..GICD_ICFGR).contains(&offset) {
            let id = (offset - GICD_ITARGETSR) as u32;
            if self.num_cpus() == 1 || id >= self.num_irqs() {
                0
            } else if id < NUM_PRIVATE {
                // SGIs and PPIs always target the CPU reading them.
                1u8 << (cpu & 7)
            } else {
                self.irq(id, cpu).map_or(0, |s| s.targets)
            }
        } else if (GICD_CPENDSGIR..GICD_SPENDSGIR_END).contains(&offset) {
            let sgi = ((offset - GICD_CPENDSGIR) % NUM_SGIS as u64) as usize;
            self.state.cpus.get(cpu).map_or(0, |c| c.sgi_sources[sgi])
        } else {
            subword(self.dist_read_word(offset & !3), offset, 1) as u8
        }
    }

    /// Writes one byte of a byte-accessible register (or of the word register at `offset`).
    fn dist_write_byte(&mut self, offset: u64, value: u8) {
        let cpu = self.current_cpu;
        if (GICD_IPRIORITYR..GICD_ITARGETSR).contains(&offset) {
            let id = (offset - GICD_IPRIORITYR) as u32;
            if let Some(s) = self.irq_mut(id, cpu) {
                s.priority = value & PRIORITY_MASK;
            }
        } else if (GICD_ITARGETSR..GICD_ICFGR).contains(&offset) {
            let id = (offset - GICD_ITARGETSR) as u32;
            let mask = self.cpu_mask();
            // Targets of SGIs and PPIs are read-only; a uniprocessor GIC ignores them all.
            if id >= NUM_PRIVATE && self.num_cpus() > 1 {
                if let Some(s) = self.irq_mut(id, cpu) {
                    s.targets = value & mask;
                }
            }
        } else if (GICD_CPENDSGIR..GICD_SPENDSGIR).contains(&offset) {
            let sgi = (offset - GICD_CPENDSGIR) as usize;
            if let Some(c) = self.state.cpus.get_mut(cpu) {
                c.sgi_sources[sgi] &= !value;
            }
        } else if (GICD_SPENDSGIR..GICD_SPENDSGIR_END).contains(&offset) {
            let sgi = (offset - GICD_SPENDSGIR) as usize;
            let mask = self.cpu_mask();
            if let Some(c) = self.state.cpus.get_mut(cpu) {
                c.sgi_sources[sgi] |= value & mask;
            }
        } else {
            let shift = (offset & 3) * 8;
            self.dist_write_word(offset & !3, u32::from(value) << shift, 0xFFu32 << shift);
        }
    }

    /// The 32-bit register at word-aligned `offset`.
    fn dist_read_word(&mut self, offset: u64) -> u32 {
        let cpu = self.current_cpu;
        if let Some((base, first_id)) = bit_array(offset) {
            let attr = match base {
                GICD_IGROUPR => Attribute::Group,
                GICD_ISENABLER | GICD_ICENABLER => Attribute::Enable,
                GICD_ISPENDR | GICD_ICPENDR => Attribute::Pending,
                _ => Attribute::Active,
            };
            return self.read_bits(attr, first_id, cpu);
        }
        match offset {
            GICD_CTLR => self.state.dist_ctlr,
            GICD_TYPER => {
                let lines = (self.num_irqs() / 32).saturating_sub(1);
                let cpus = (self.num_cpus().saturating_sub(1) & 7) as u32;
                lines | (cpus << GICD_TYPER_CPU_NUMBER_SHIFT)
            }
            GICD_IIDR => GICD_IIDR_VALUE,
            o if (GICD_IPRIORITYR..GICD_ICFGR).contains(&o)
                || (GICD_CPENDSGIR..GICD_SPENDSGIR_END).contains(&o) =>
            {
                (0..4).fold(0, |v, i| {
                    v | (u32::from(self.dist_read_byte(o + i)) << (8 * i))
                })
            }
            o if (GICD_ICFGR..GICD_ICFGR_END).contains(&o) => {
                let first = ((o - GICD_ICFGR) * 4) as u32;
                (0..16).fold(0, |v, i| {
                    let edge = self.irq(first + i, cpu).is_some_and(|s| s.edge);
                    v | (u32::from(edge) << (2 * i + 1))
                })
            }
            // Without the Security Extensions GICD_NSACRn are RAZ/WI.
            o if (GICD_NSACR..GICD_NSACR_END).contains(&o) => 0,
            // Write-only.
            GICD_SGIR => 0,
            o if (GICD_PIDR4..DISTRIBUTOR_SIZE).contains(&o) => {
                let index = ((o - GICD_PIDR4) / 4) as usize;
                GICD_ID_BYTES.get(index).map_or(0, |&b| u32::from(b))
            }
            o => {
                self.dist_log.read(o, 4);
                0
            }
        }
    }

    /// Writes the bytes of the 32-bit register at word-aligned `offset` selected by `mask`.
    fn dist_write_word(&mut self, offset: u64, value: u32, mask: u32) {
        let cpu = self.current_cpu;
        if let Some((base, first_id)) = bit_array(offset) {
            match base {
                GICD_IGROUPR => self.write_group(first_id, cpu, value, mask),
                GICD_ISENABLER => self.write_bits(Attribute::Enable, first_id, value & mask, true),
                GICD_ICENABLER => self.write_bits(Attribute::Enable, first_id, value & mask, false),
                GICD_ISPENDR => self.write_bits(Attribute::Pending, first_id, value & mask, true),
                GICD_ICPENDR => self.write_bits(Attribute::Pending, first_id, value & mask, false),
                GICD_ISACTIVER => self.write_bits(Attribute::Active, first_id, value & mask, true),
                _ => self.write_bits(Attribute::Active, first_id, value & mask, false),
            }
            return;
        }
        match offset {
            GICD_CTLR => {
                let ctlr = (self.state.dist_ctlr & !mask) | (value & mask);
                self.state.dist_ctlr = ctlr & GICD_CTLR_MASK;
            }
            GICD_TYPER | GICD_IIDR => {}
            o if (GICD_IPRIORITYR..GICD_ICFGR).contains(&o)
                || (GICD_CPENDSGIR..GICD_SPENDSGIR_END).contains(&o) =>
            {
                for i in 0..4u32 {
                    if (mask >> (8 * i)) & 0xFF != 0 {
                        self.dist_write_byte(o + u64::from(i), (value >> (8 * i)) as u8);
                    }
                }
            }
            o if (GICD_ICFGR..GICD_ICFGR_END).contains(&o) => {
                let first = ((o - GICD_ICFGR) * 4) as u32;
                for i in 0..16 {
                    let bit = 2 * i + 1;
                    let id = first + i;
                    // SGIs are always edge-triggered.
                    if (mask >> bit) & 1 == 0 || id < NUM_SGIS {
                        continue;
                    }
                    if let Some(s) = self.irq_mut(id, cpu) {
                        s.edge = (value >> bit) & 1 != 0;
                    }
                }
            }
            o if (GICD_NSACR..GICD_NSACR_END).contains(&o) => {}
            GICD_SGIR => {
                if mask != u32::MAX {
                    log::warn!("gic: partial write of GICD_SGIR ignored ({value:#x}/{mask:#x})");
                    return;
                }
                let id = value & GICD_SGIR_INTID_MASK;
                let me = 1u8 << (cpu & 7);
                let all = self.cpu_mask();
                let targets = match (value >> GICD_SGIR_FILTER_SHIFT) & 3 {
                    SGIR_FILTER_LIST => (value >> GICD_SGIR_TARGET_LIST_SHIFT) as u8,
                    SGIR_FILTER_OTHERS => all & !me,
                    SGIR_FILTER_SELF => me,
                    _ => {
                        log::warn!("gic: GICD_SGIR with reserved target filter: {value:#x}");
                        return;
                    }
                };
                self.send_sgi(cpu, id, targets);
            }
            o if (GICD_PIDR4..DISTRIBUTOR_SIZE).contains(&o) => {}
            o => self.dist_log.write(o, 4, u64::from(value)),
        }
    }

    /// One bit array word: bit i is `attr` of interrupt `first_id + i` as `cpu` sees it.
    fn read_bits(&self, attr: Attribute, first_id: u32, cpu: usize) -> u32 {
        (0..32).fold(0, |v, i| {
            let id = first_id + i;
            let set = match attr {
                Attribute::Pending => id < self.num_irqs() && self.is_pending(id, cpu),
                _ => self.irq(id, cpu).is_some_and(|s| match attr {
                    Attribute::Group => s.group1,
                    Attribute::Enable => s.enabled,
                    _ => s.active,
                }),
            };
            v | (u32::from(set) << i)
        })
    }

    /// A set (`set` true) or clear register write: `bits` selects the interrupts to change.
    fn write_bits(&mut self, attr: Attribute, first_id: u32, bits: u32, set: bool) {
        let cpu = self.current_cpu;
        for i in 0..32 {
            if (bits >> i) & 1 == 0 {
                continue;
            }
            let id = first_id + i;
            // SGIs are permanently enabled, and pended only through GICD_SGIR/SPENDSGIR.
            let sgi_fixed = matches!(attr, Attribute::Enable | Attribute::Pending);
            if id < NUM_SGIS && sgi_fixed {
                continue;
            }
            if let Some(s) = self.irq_mut(id, cpu) {
                match attr {
                    Attribute::Enable => s.enabled = set,
                    Attribute::Pending => s.pending_latch = set,
                    Attribute::Active => s.active = set,
                    Attribute::Group => s.group1 = set,
                }
            }
        }
    }

    /// A GICD_IGROUPRn write (a plain read/write register).
    fn write_group(&mut self, first_id: u32, cpu: usize, value: u32, mask: u32) {
        for i in 0..32 {
            if (mask >> i) & 1 == 0 {
                continue;
            }
            if let Some(s) = self.irq_mut(first_id + i, cpu) {
                s.group1 = (value >> i) & 1 != 0;
            }
        }
    }
}
