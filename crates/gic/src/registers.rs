//! Register map of the GICv2 distributor and CPU interface, and the fixed values they report.
//!
//! Offsets and fields: ARM GICv2 architecture specification (IHI 0048B) chapter 4; macro
//! names in brackets are the ones Linux uses in `include/linux/irqchip/arm-gic.h`.

// ---- Distributor (GICD), a 4 KiB block --------------------------------------------------

/// Size in bytes of the distributor register block.
pub const DISTRIBUTOR_SIZE: u64 = 0x1000;

/// GICD_CTLR, Distributor Control Register [GIC_DIST_CTRL].
pub const GICD_CTLR: u64 = 0x000;
/// GICD_TYPER, Interrupt Controller Type Register [GIC_DIST_CTR].
pub const GICD_TYPER: u64 = 0x004;
/// GICD_IIDR, Distributor Implementer Identification Register [GIC_DIST_IIDR].
pub const GICD_IIDR: u64 = 0x008;
/// GICD_IGROUPRn, Interrupt Group Registers, one bit per interrupt [GIC_DIST_IGROUP].
pub const GICD_IGROUPR: u64 = 0x080;
/// GICD_ISENABLERn, Interrupt Set-Enable Registers [GIC_DIST_ENABLE_SET].
pub const GICD_ISENABLER: u64 = 0x100;
/// GICD_ICENABLERn, Interrupt Clear-Enable Registers [GIC_DIST_ENABLE_CLEAR].
pub const GICD_ICENABLER: u64 = 0x180;
/// GICD_ISPENDRn, Interrupt Set-Pending Registers [GIC_DIST_PENDING_SET].
pub const GICD_ISPENDR: u64 = 0x200;
/// GICD_ICPENDRn, Interrupt Clear-Pending Registers [GIC_DIST_PENDING_CLEAR].
pub const GICD_ICPENDR: u64 = 0x280;
/// GICD_ISACTIVERn, Interrupt Set-Active Registers [GIC_DIST_ACTIVE_SET].
pub const GICD_ISACTIVER: u64 = 0x300;
/// GICD_ICACTIVERn, Interrupt Clear-Active Registers [GIC_DIST_ACTIVE_CLEAR].
pub const GICD_ICACTIVER: u64 = 0x380;
/// GICD_IPRIORITYRn, Interrupt Priority Registers, one byte per interrupt [GIC_DIST_PRI].
pub const GICD_IPRIORITYR: u64 = 0x400;
/// GICD_ITARGETSRn, Interrupt Processor Targets Registers, one byte per interrupt [GIC_DIST_TARGET].
pub const GICD_ITARGETSR: u64 = 0x800;
/// GICD_ICFGRn, Interrupt Configuration Registers, two bits per interrupt [GIC_DIST_CONFIG].
pub const GICD_ICFGR: u64 = 0xC00;
/// End (exclusive) of the GICD_ICFGRn array.
pub const GICD_ICFGR_END: u64 = 0xD00;
/// GICD_NSACRn, Non-secure Access Control Registers: RAZ/WI without the Security Extensions.
pub const GICD_NSACR: u64 = 0xE00;
/// End (exclusive) of the GICD_NSACRn array.
pub const GICD_NSACR_END: u64 = 0xF00;
/// GICD_SGIR, Software Generated Interrupt Register (write-only) [GIC_DIST_SOFTINT].
pub const GICD_SGIR: u64 = 0xF00;
/// GICD_CPENDSGIRn, SGI Clear-Pending Registers, one byte per SGI [GIC_DIST_SGI_PENDING_CLEAR].
pub const GICD_CPENDSGIR: u64 = 0xF10;
/// GICD_SPENDSGIRn, SGI Set-Pending Registers, one byte per SGI [GIC_DIST_SGI_PENDING_SET].
pub const GICD_SPENDSGIR: u64 = 0xF20;
/// End (exclusive) of the GICD_SPENDSGIRn array.
pub const GICD_SPENDSGIR_END: u64 = 0xF30;
/// GICD_PIDR4, first of the identification registers (PIDR4-7, PIDR0-3, CIDR0-3).
pub const GICD_PIDR4: u64 = 0xFD0;

/// Size in bytes of each one-bit-per-interrupt register array (IGROUPR, ISENABLER, ...).
pub const BIT_ARRAY_SIZE: u64 = 0x80;
/// Size in bytes of the byte-per-interrupt arrays (IPRIORITYR, ITARGETSR).
pub const BYTE_ARRAY_SIZE: u64 = 0x400;

/// GICD_CTLR.EnableGrp0: forward Group 0 interrupts.
pub const GICD_CTLR_ENABLE_GRP0: u32 = 1 << 0;
/// GICD_CTLR.EnableGrp1: forward Group 1 interrupts.
pub const GICD_CTLR_ENABLE_GRP1: u32 = 1 << 1;
/// Writable bits of GICD_CTLR (GIC without the Security Extensions).
pub const GICD_CTLR_MASK: u32 = GICD_CTLR_ENABLE_GRP0 | GICD_CTLR_ENABLE_GRP1;

/// GICD_TYPER.CPUNumber field shift (number of CPU interfaces minus one).
pub const GICD_TYPER_CPU_NUMBER_SHIFT: u32 = 5;
/// GICD_IIDR of the GIC-400 / Cortex-A7 integrated GIC: ProductID 0x02, ARM implementer 0x43B.
pub const GICD_IIDR_VALUE: u32 = 0x0200_143B;

/// GICD_SGIR.SGIINTID field mask.
pub const GICD_SGIR_INTID_MASK: u32 = 0xF;
/// GICD_SGIR.CPUTargetList field shift.
pub const GICD_SGIR_TARGET_LIST_SHIFT: u32 = 16;
/// GICD_SGIR.TargetListFilter field shift.
pub const GICD_SGIR_FILTER_SHIFT: u32 = 24;
/// TargetListFilter 0b00: send to the CPUs in CPUTargetList.
pub const SGIR_FILTER_LIST: u32 = 0;
/// TargetListFilter 0b01: send to every CPU but the requester.
pub const SGIR_FILTER_OTHERS: u32 = 1;
/// TargetListFilter 0b10: send to the requesting CPU only.
pub const SGIR_FILTER_SELF: u32 = 2;

/// GIC-400 identification bytes at 0xFD0.. (PIDR4-7, PIDR0-3, CIDR0-3): PIDR2 0x2B = ArchRev 2.
pub const GICD_ID_BYTES: [u8; 12] = [
    0x04, 0x00, 0x00, 0x00, 0x90, 0xB4, 0x2B, 0x00, 0x0D, 0xF0, 0x05, 0xB1,
];

// ---- CPU interface (GICC), an 8 KiB block ------------------------------------------------

/// Size in bytes of the CPU interface register block (GICC_DIR lives in the second page).
pub const CPU_INTERFACE_SIZE: u64 = 0x2000;

/// GICC_CTLR, CPU Interface Control Register [GIC_CPU_CTRL].
pub const GICC_CTLR: u64 = 0x00;
/// GICC_PMR, Interrupt Priority Mask Register [GIC_CPU_PRIMASK].
pub const GICC_PMR: u64 = 0x04;
/// GICC_BPR, Binary Point Register [GIC_CPU_BINPOINT].
pub const GICC_BPR: u64 = 0x08;
/// GICC_IAR, Interrupt Acknowledge Register [GIC_CPU_INTACK].
pub const GICC_IAR: u64 = 0x0C;
/// GICC_EOIR, End of Interrupt Register [GIC_CPU_EOI].
pub const GICC_EOIR: u64 = 0x10;
/// GICC_RPR, Running Priority Register [GIC_CPU_RUNNINGPRI].
pub const GICC_RPR: u64 = 0x14;
/// GICC_HPPIR, Highest Priority Pending Interrupt Register [GIC_CPU_HIGHPRI].
pub const GICC_HPPIR: u64 = 0x18;
/// GICC_ABPR, Aliased Binary Point Register (Group 1) [GIC_CPU_ALIAS_BINPOINT].
pub const GICC_ABPR: u64 = 0x1C;
/// GICC_AIAR, Aliased Interrupt Acknowledge Register (Group 1).
pub const GICC_AIAR: u64 = 0x20;
/// GICC_AEOIR, Aliased End of Interrupt Register (Group 1).
pub const GICC_AEOIR: u64 = 0x24;
/// GICC_AHPPIR, Aliased Highest Priority Pending Interrupt Register (Group 1).
pub const GICC_AHPPIR: u64 = 0x28;
/// GICC_APR0, Active Priorities Register 0 (Group 0) [GIC_CPU_ACTIVEPRIO].
pub const GICC_APR0: u64 = 0xD0;
/// GICC_APR3, last Active Priorities Register (APR1-3 RAZ/WI with 32 priority levels).
pub const GICC_APR3: u64 = 0xDC;
/// GICC_NSAPR0, Non-secure Active Priorities Register 0 (Group 1 active priorities).
pub const GICC_NSAPR0: u64 = 0xE0;
/// GICC_NSAPR3, last Non-secure Active Priorities Register (NSAPR1-3 RAZ/WI).
pub const GICC_NSAPR3: u64 = 0xEC;
/// GICC_IIDR, CPU Interface Identification Register [GIC_CPU_IDENT].
pub const GICC_IIDR: u64 = 0xFC;
/// GICC_DIR, Deactivate Interrupt Register [GIC_CPU_DEACTIVATE].
pub const GICC_DIR: u64 = 0x1000;

/// GICC_CTLR.EnableGrp0: signal Group 0 interrupts.
pub const GICC_CTLR_ENABLE_GRP0: u32 = 1 << 0;
/// GICC_CTLR.EnableGrp1: signal Group 1 interrupts.
pub const GICC_CTLR_ENABLE_GRP1: u32 = 1 << 1;
/// GICC_CTLR.AckCtl: GICC_IAR may acknowledge Group 1 interrupts.
pub const GICC_CTLR_ACK_CTL: u32 = 1 << 2;
/// GICC_CTLR.FIQEn: signal Group 0 interrupts on FIQ instead of IRQ.
pub const GICC_CTLR_FIQ_EN: u32 = 1 << 3;
/// GICC_CTLR.CBPR: GICC_BPR controls Group 1 preemption too (GICC_ABPR unused).
pub const GICC_CTLR_CBPR: u32 = 1 << 4;
/// GICC_CTLR.EOImode: GICC_EOIR only drops priority, GICC_DIR deactivates [GIC_CPU_CTRL_EOImodeNS].
pub const GICC_CTLR_EOI_MODE: u32 = 1 << 9;
/// Writable bits of GICC_CTLR without the Security Extensions (bits 5-8 are the bypass disables).
pub const GICC_CTLR_MASK: u32 = 0x3FF;

/// GICC_IIDR of the GIC-400 / Cortex-A7 CPU interface; Linux's gic_check_gicv2 tests it.
pub const GICC_IIDR_VALUE: u32 = 0x0202_143B;

/// GICC_IAR.CPUID field shift: the source CPU of an SGI.
pub const GICC_IAR_CPUID_SHIFT: u32 = 10;
/// GICC_IAR/GICC_EOIR interrupt ID field mask.
pub const GICC_INT_ID_MASK: u32 = 0x3FF;
/// Interrupt ID read from GICC_IAR when a Group 1 interrupt is pending but AckCtl is clear.
pub const SPURIOUS_GROUP1: u32 = 1022;
/// Interrupt ID read from GICC_IAR when no interrupt can be acknowledged.
pub const SPURIOUS: u32 = 1023;

// ---- Implementation choices of the Cortex-A7 GIC -----------------------------------------

/// Implemented priority bits: 5 (32 levels), as in the Cortex-A7 MPCore and GIC-400.
pub const PRIORITY_MASK: u8 = 0xF8;
/// Smallest GICC_BPR value with 5 priority bits (7 - 5), also its reset value.
pub const MIN_BPR: u8 = 2;
/// Smallest GICC_ABPR value (one more than GICC_BPR's), also its reset value.
pub const MIN_ABPR: u8 = 3;
/// Priority reported by GICC_RPR when no interrupt is active (the idle priority).
pub const IDLE_PRIORITY: u8 = 0xFF;

/// Number of Software Generated Interrupts (IDs 0-15).
pub const NUM_SGIS: u32 = 16;
/// Number of interrupt IDs private to each CPU (SGIs and PPIs, IDs 0-31).
pub const NUM_PRIVATE: u32 = 32;
/// Largest number of interrupt IDs a GICv2 supports (1020 and above are special).
pub const MAX_IRQS: u32 = 1020;
/// Largest number of CPU interfaces a GICv2 supports.
pub const MAX_CPUS: usize = 8;
