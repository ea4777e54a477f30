//! Tests of the patched core with tiny bare-metal guests (ARM encodings written out here, the
//! source as assembled by `arm-linux-gnueabihf-as -march=armv7-a` beside each word).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use cpu::{
    Access, AccessKind, Cp15, Cpu, CpuHandle, Exit, Fault, FaultAccess, FaultCause, MmioHandler,
    Reg, TimerOutputs, VirtualClock, WatchHit, WatchKind, TIMER_HYP, TIMER_PHYS, TIMER_SECURE,
    TIMER_VIRT,
};

/// Vectors at 0 and handlers that record what they saw in registers, then WFI.
const VECTORS: &[u32] = &[
    0xea00003e, // 0x00 b start (0x100)
    0xea000005, // 0x04 b undef
    0xea000007, // 0x08 b svc_h
    0xea00000a, // 0x0c b pabt
    0xea00000c, // 0x10 b dabt
    0xe320f000, // 0x14 nop
    0xea00000f, // 0x18 b irq
    0xea00000d, // 0x1c b fiq
    // undef:
    0xe1a0700e, // mov r7, lr
    0xe14f8000, // mrs r8, spsr
    0xe1b0f00e, // movs pc, lr
    // svc_h:
    0xe51e1004, // ldr r1, [lr, #-4]   (the svc instruction)
    0xe3c114ff, // bic r1, r1, #0xff000000
    0xe14f2000, // mrs r2, spsr
    0xe1b0f00e, // movs pc, lr
    // pabt:
    0xee164f50, // mrc p15, 0, r4, c6, c0, 2   (IFAR)
    0xee155f30, // mrc p15, 0, r5, c5, c0, 1   (IFSR)
    0xe320f003, // wfi
    // dabt:
    0xee164f10, // mrc p15, 0, r4, c6, c0, 0   (DFAR)
    0xee155f10, // mrc p15, 0, r5, c5, c0, 0   (DFSR)
    0xe1a0600e, // mov r6, lr
    0xe320f003, // wfi
    // fiq:
    0xe320f003, // wfi
    // irq:
    0xe1a06000, // mov r6, r0
    0xee1e9f32, // mrc p15, 0, r9, c14, c2, 1  (CNTP_CTL)
    0xec5baf0e, // mrrc p15, 0, r10, r11, c14  (CNTPCT)
    0xe3a00000, // mov r0, #0
    0xee0e0f32, // mcr p15, 0, r0, c14, c2, 1  (timer off)
    0xe300c000, // movw r12, #0
    0xe341c001, // movt r12, #0x1001
    0xe58c0000, // str r0, [r12]               (acknowledge: the IRQ line drops)
    0xe320f003, // 1: wfi
    0xeafffffd, // b 1b
];

const RAM: u64 = 0x10_0000;
const MMIO_BASE: u64 = 0x1000_0000;
const ACK_BASE: u64 = 0x1001_0000;

fn words(w: &[u32]) -> Vec<u8> {
    w.iter().flat_map(|x| x.to_le_bytes()).collect()
}

struct NoOutputs;
impl TimerOutputs for NoOutputs {
    fn set_level(&mut self, _timer: usize, _level: bool) {}
}

/// A CPU with 1 MiB of RAM at 0 holding the vectors and `main` at 0x100.
fn machine(main: &[u32], outputs: Box<dyn TimerOutputs>, clock: VirtualClock) -> Cpu {
    let mut cpu = Cpu::new(clock, outputs).expect("patched core");
    let ram = Rc::new(bus_free_block(RAM as usize));
    let ptr = ram.as_mut_ptr();
    // SAFETY: the Vec's buffer never moves and the CPU keeps it alive.
    unsafe {
        cpu.map_host_memory(0, RAM, ptr, ram, Access::ReadWriteExec)
            .unwrap()
    };
    cpu.write_memory(0, &words(VECTORS)).unwrap();
    cpu.write_memory(0x100, &words(main)).unwrap();
    let ack = Rc::new(RefCell::new(IrqAck(cpu.handle())));
    cpu.map_mmio(ACK_BASE, 0x1000, ack).unwrap();
    cpu
}

/// The interrupt source: any write lowers the IRQ line (the test raises it).
struct IrqAck(CpuHandle);
impl MmioHandler for IrqAck {
    fn read(&mut self, _addr: u64, _size: u8) -> u64 {
        0
    }
    fn write(&mut self, _addr: u64, _size: u8, _value: u64) {
        self.0.set_irq(false);
    }
}

/// Plain zeroed host memory for the tests (the bus crate is not a dependency of the CPU).
struct Block(std::cell::UnsafeCell<Vec<u8>>);
impl Block {
    fn as_mut_ptr(&self) -> *mut u8 {
        // SAFETY: only the pointer escapes; the CPU accesses the bytes.
        unsafe { (*self.0.get()).as_mut_ptr() }
    }
}
fn bus_free_block(len: usize) -> Block {
    Block(std::cell::UnsafeCell::new(vec![0; len]))
}

fn run_to_wfi(cpu: &mut Cpu) {
    for _ in 0..1000 {
        match cpu.run() {
            Exit::WaitForInterrupt => return,
            Exit::Requested => continue,
            Exit::Fault(e) => panic!("core fault: {e}"),
            Exit::Breakpoint(a) => panic!("unexpected breakpoint at {a:#x}"),
            Exit::Watchpoint(w) => panic!("unexpected watchpoint {w:?}"),
        }
    }
    panic!("guest never reached WFI");
}

/// Runs until the CPU stops for a reason `wanted` accepts (requested exits run on);
/// returns what it made of it.
fn run_until<T>(cpu: &mut Cpu, what: &str, wanted: impl Fn(&Exit) -> Option<T>) -> T {
    for _ in 0..1000 {
        match cpu.run() {
            Exit::Requested => continue,
            exit => match wanted(&exit) {
                Some(t) => return t,
                None => panic!("expected a {what}, got {exit:?}"),
            },
        }
    }
    panic!("guest never reached the {what}");
}

/// Runs until the CPU stops at a breakpoint; returns its address.
fn run_to_breakpoint(cpu: &mut Cpu) -> u64 {
    run_until(cpu, "breakpoint", |e| match e {
        Exit::Breakpoint(a) => Some(*a),
        _ => None,
    })
}

/// A loop counting r0 to 5, for the breakpoint tests.
const COUNT_TO_FIVE: [u32; 5] = [
    0xe3a00000, // 0x100 mov r0, #0
    0xe2800001, // 0x104 1: add r0, r0, #1
    0xe3500005, // 0x108 cmp r0, #5
    0x1afffffc, // 0x10c bne 1b
    0xe320f003, // 0x110 wfi
];

#[test]
fn breakpoints_stop_before_the_instruction_and_resume_past_it() {
    let mut cpu = machine(&COUNT_TO_FIVE, Box::new(NoOutputs), VirtualClock::new());
    cpu.set_reg(Reg::Pc, 0x100);
    // Let the loop get translated first: the breakpoint must still hit cached code.
    assert_eq!(cpu.step(), Exit::Requested);
    cpu.add_breakpoint(0x108).unwrap();
    assert_eq!(cpu.breakpoints(), vec![0x108]);
    for round in 1..=3u32 {
        assert_eq!(run_to_breakpoint(&mut cpu), 0x108);
        assert_eq!(cpu.reg(Reg::Pc), 0x108, "stopped before the instruction");
        assert_eq!(cpu.reg(Reg::R(0)), round, "one loop iteration per continue");
    }
    // Single steps: cmp, bne (taken), add.
    for pc in [0x10c, 0x104, 0x108] {
        assert_eq!(cpu.step(), Exit::Requested);
        assert_eq!(cpu.reg(Reg::Pc), pc);
    }
    assert_eq!(cpu.reg(Reg::R(0)), 4);
    assert!(cpu.remove_breakpoint(0x108));
    assert!(!cpu.remove_breakpoint(0x108));
    run_to_wfi(&mut cpu);
    assert_eq!(
        cpu.reg(Reg::R(0)),
        5,
        "the loop finished once the breakpoint went"
    );
}

/// The CPU can stop at a breakpoint's address without having hit it (here a single step
/// ends there; in a run, an exit request at that block's start): the next run must stop at
/// the breakpoint before its instruction, not step over it as when resuming from a hit.
#[test]
fn a_breakpoint_reached_by_a_step_still_stops_the_next_run() {
    let mut cpu = machine(&COUNT_TO_FIVE, Box::new(NoOutputs), VirtualClock::new());
    cpu.set_reg(Reg::Pc, 0x100);
    cpu.add_breakpoint(0x108).unwrap();
    assert_eq!(cpu.step(), Exit::Requested);
    assert_eq!(cpu.step(), Exit::Requested);
    assert_eq!((cpu.reg(Reg::Pc), cpu.reg(Reg::R(0))), (0x108, 1));
    assert_eq!(run_to_breakpoint(&mut cpu), 0x108);
    assert_eq!(
        cpu.reg(Reg::R(0)),
        1,
        "stopped at once, the loop did not go round"
    );
    // Resuming from that stop runs the instruction: the next hit is one iteration on.
    assert_eq!(run_to_breakpoint(&mut cpu), 0x108);
    assert_eq!(cpu.reg(Reg::R(0)), 2);
}

/// Runs until the CPU stops at a watchpoint.
fn run_to_watchpoint(cpu: &mut Cpu) -> WatchHit {
    run_until(cpu, "watchpoint", |e| match e {
        Exit::Watchpoint(w) => Some(*w),
        _ => None,
    })
}

#[test]
fn watchpoints_stop_before_the_access_and_resuming_completes_it() {
    let main = [
        0xe3a01a02, // 0x100 mov r1, #0x2000
        0xe3a00000, // 0x104 mov r0, #0
        0xe2800001, // 0x108 1: add r0, r0, #1
        0xe5810008, // 0x10c str r0, [r1, #8]
        0xe5912004, // 0x110 ldr r2, [r1, #4]
        0xe5913008, // 0x114 ldr r3, [r1, #8]
        0xe3500003, // 0x118 cmp r0, #3
        0x1afffff9, // 0x11c bne 1b
        0xe320f003, // 0x120 wfi
    ];
    let mut cpu = machine(&main, Box::new(NoOutputs), VirtualClock::new());
    cpu.set_reg(Reg::Pc, 0x100);
    let word = |cpu: &Cpu| {
        let mut w = [0u8; 4];
        cpu.read_memory(0x2008, &mut w).unwrap();
        u32::from_le_bytes(w)
    };
    // Translated before the watchpoint exists: it must still see the accesses.
    assert_eq!(cpu.step(), Exit::Requested);
    cpu.add_watchpoint(0x2008, 4, WatchKind::Write).unwrap();
    let hit = run_to_watchpoint(&mut cpu);
    assert_eq!(
        hit,
        WatchHit {
            watch_addr: 0x2008,
            addr: 0x2008,
            kind: WatchKind::Write,
            write: true
        }
    );
    assert_eq!(cpu.reg(Reg::Pc), 0x10c, "stopped on the store");
    assert_eq!(
        (cpu.reg(Reg::R(0)), word(&cpu)),
        (1, 0),
        "the store has not happened"
    );
    // Resuming completes the store; loads of the other word do not stop a write
    // watchpoint; the next iteration's store does.
    assert!(run_to_watchpoint(&mut cpu).write);
    assert_eq!(cpu.reg(Reg::Pc), 0x10c);
    assert_eq!((cpu.reg(Reg::R(0)), word(&cpu)), (2, 1));
    // A single step over the held-back store completes it too.
    assert_eq!(cpu.step(), Exit::Requested);
    assert_eq!((cpu.reg(Reg::Pc), word(&cpu)), (0x110, 2));
    // A read watchpoint on the word the loop reads next.
    assert!(cpu.remove_watchpoint(0x2008, 4, WatchKind::Write));
    cpu.add_watchpoint(0x2008, 4, WatchKind::Read).unwrap();
    let hit = run_to_watchpoint(&mut cpu);
    assert!(!hit.write);
    assert_eq!(cpu.reg(Reg::Pc), 0x114, "stopped on ldr r3");
    assert_eq!(
        cpu.watchpoints(),
        vec![(0x2008, 4, WatchKind::Read, 0x2008)]
    );
    assert!(cpu.remove_watchpoint(0x2008, 4, WatchKind::Read));
    assert!(!cpu.remove_watchpoint(0x2008, 4, WatchKind::Read));
    // An access watchpoint stops on the next store and then on the load after it.
    cpu.add_watchpoint(0x2008, 4, WatchKind::ReadWrite).unwrap();
    let hit = run_to_watchpoint(&mut cpu);
    assert_eq!(
        (hit.kind, hit.write, cpu.reg(Reg::Pc)),
        (WatchKind::ReadWrite, true, 0x10c)
    );
    let hit = run_to_watchpoint(&mut cpu);
    assert_eq!(
        (hit.kind, hit.write, cpu.reg(Reg::Pc)),
        (WatchKind::ReadWrite, false, 0x114)
    );
    assert!(cpu.remove_watchpoint(0x2008, 4, WatchKind::ReadWrite));
    run_to_wfi(&mut cpu);
    assert_eq!(
        cpu.reg(Reg::R(0)),
        3,
        "the loop finished once the watchpoint went"
    );
    assert_eq!(cpu.reg(Reg::R(3)), 3);
    assert!(
        cpu.add_watchpoint(0x2ffe, 4, WatchKind::Write).is_err(),
        "a range across a page boundary is refused"
    );
}

#[test]
fn virtual_writes_land_where_the_mmu_maps_them() {
    let main = [0xe320f003]; // wfi
    let mut cpu = machine(&main, Box::new(NoOutputs), VirtualClock::new());
    cpu.write_virtual(0x2000, &[1, 2, 3, 4]).unwrap();
    let mut back = [0u8; 4];
    cpu.read_virtual_data(0x2000, &mut back).unwrap();
    assert_eq!(back, [1, 2, 3, 4]);
    cpu.read_memory(0x2000, &mut back).unwrap();
    assert_eq!(back, [1, 2, 3, 4], "MMU off: virtual = physical");
}

#[test]
fn svc_and_undef_enter_their_vectors_and_return() {
    let main = [
        0xf102001f, // cps #0x1f (System mode)
        0xe3a00001, // mov r0, #1
        0xef123456, // svc #0x123456
        0xe2800001, // add r0, r0, #1
        0xe7f000f0, // udf #0
        0xe2800001, // add r0, r0, #1
        0xe320f003, // wfi
    ];
    let mut cpu = machine(&main, Box::new(NoOutputs), VirtualClock::new());
    run_to_wfi(&mut cpu);
    assert_eq!(
        cpu.reg(Reg::R(1)),
        0x123456,
        "SVC handler read the SVC immediate"
    );
    assert_eq!(
        cpu.reg(Reg::R(2)) & 0x1f,
        0x1f,
        "SPSR_svc holds System mode"
    );
    assert_eq!(cpu.reg(Reg::R(7)), 0x114, "LR_und points after the UDF");
    assert_eq!(
        cpu.reg(Reg::R(8)) & 0x1f,
        0x1f,
        "SPSR_und holds System mode"
    );
    assert_eq!(
        cpu.reg(Reg::R(0)),
        3,
        "both handlers returned to the next instruction"
    );
    assert_eq!(cpu.reg(Reg::Cpsr) & 0x1f, 0x1f, "back in System mode");
}

/// Identity-maps the first MiB as a section, everything else faults.
fn enable_mmu(cpu: &mut Cpu) {
    let table = 0x4000u64;
    cpu.write_memory(table, &0x0000_0c02u32.to_le_bytes())
        .unwrap();
    cpu.set_cp15(
        Cp15 {
            crn: 2,
            crm: 0,
            opc1: 0,
            opc2: 0,
        },
        table as u32,
    )
    .unwrap(); // TTBR0
    cpu.set_cp15(
        Cp15 {
            crn: 3,
            crm: 0,
            opc1: 0,
            opc2: 0,
        },
        0x5555_5555,
    )
    .unwrap(); // DACR
    let sctlr = cpu.cp15(Cp15::SCTLR).unwrap();
    cpu.set_cp15(Cp15::SCTLR, sctlr | 1).unwrap();
}

#[test]
fn data_abort_reports_the_exact_address_and_status() {
    let main = [
        0xe3003123, // movw r3, #0x123
        0xe3443000, // movt r3, #0x4000
        0xe5932000, // ldr r2, [r3]
        0xe320f003, // wfi
    ];
    let mut cpu = machine(&main, Box::new(NoOutputs), VirtualClock::new());
    enable_mmu(&mut cpu);
    run_to_wfi(&mut cpu);
    assert_eq!(
        cpu.reg(Reg::R(4)),
        0x4000_0123,
        "DFAR is the exact faulting address"
    );
    assert_eq!(
        cpu.reg(Reg::R(5)) & 0x40f,
        0x005,
        "DFSR: section translation fault"
    );
    assert_eq!(
        cpu.reg(Reg::R(6)),
        0x108 + 8,
        "LR_abt = faulting instruction + 8"
    );
    assert_eq!(cpu.reg(Reg::Cpsr) & 0x1f, 0x17, "in Abort mode");
}

#[test]
fn prefetch_abort_reports_the_exact_address() {
    let main = [
        0xe3003004, // movw r3, #4
        0xe3443000, // movt r3, #0x4000
        0xe12fff13, // bx r3
    ];
    let mut cpu = machine(&main, Box::new(NoOutputs), VirtualClock::new());
    enable_mmu(&mut cpu);
    run_to_wfi(&mut cpu);
    assert_eq!(cpu.reg(Reg::R(4)), 0x4000_0004, "IFAR");
    assert_eq!(
        cpu.reg(Reg::R(5)) & 0x40f,
        0x005,
        "IFSR: section translation fault"
    );
}

/// Runs until the core stops on a fault; returns it.
fn run_to_fault(cpu: &mut Cpu) -> Fault {
    run_until(cpu, "fault", |e| match e {
        Exit::Fault(f) => Some(f.clone()),
        _ => None,
    })
}

/// A store to an address nothing is mapped at stops the core on the store, not performed and
/// nothing after it run, and the fault names the access.
#[test]
fn a_store_to_unmapped_memory_stops_on_the_store_and_names_it() {
    let main = [
        0xe3003123, // 0x100 movw r3, #0x123
        0xe3443000, // 0x104 movt r3, #0x4000
        0xe3a02007, // 0x108 mov r2, #7
        0xe5832000, // 0x10c str r2, [r3]
        0xe3a05001, // 0x110 mov r5, #1
        0xe320f003, // 0x114 wfi
    ];
    let mut cpu = machine(&main, Box::new(NoOutputs), VirtualClock::new());
    let fault = run_to_fault(&mut cpu);
    assert_eq!(fault.pc, 0x10c, "{fault}");
    assert_eq!(fault.cause, FaultCause::Unmapped(AccessKind::Write));
    assert_eq!(
        fault.access,
        Some(FaultAccess {
            addr: 0x4000_0123,
            phys: 0x4000_0123,
            size: 4
        })
    );
    assert_eq!(cpu.reg(Reg::Pc), 0x10c, "the PC stays on the store");
    assert_eq!(cpu.reg(Reg::R(5)), 0, "the next instruction did not run");
    assert_eq!(
        fault.to_string(),
        "4-byte write to unmapped memory at 0x40000123, pc 0x0000010c"
    );
}

/// With the MMU on, the fault gives the virtual and the physical address.
#[test]
fn a_load_from_unmapped_physical_memory_names_both_addresses() {
    let main = [
        0xe3003010, // 0x100 movw r3, #0x10
        0xe34c3000, // 0x104 movt r3, #0xc000
        0xe1d320b0, // 0x108 ldrh r2, [r3]
        0xe320f003, // 0x10c wfi
    ];
    let mut cpu = machine(&main, Box::new(NoOutputs), VirtualClock::new());
    enable_mmu(&mut cpu);
    // 0xc000_0000 -> 0x4000_0000, where nothing is mapped.
    cpu.write_memory(0x4000 + 4 * 0xc00, &0x4000_0c02u32.to_le_bytes())
        .unwrap();
    let fault = run_to_fault(&mut cpu);
    assert_eq!(fault.pc, 0x108, "{fault}");
    assert_eq!(fault.cause, FaultCause::Unmapped(AccessKind::Read));
    assert_eq!(
        fault.access,
        Some(FaultAccess {
            addr: 0xc000_0010,
            phys: 0x4000_0010,
            size: 2
        })
    );
    assert!(fault.to_string().contains("physical 0x40000010"), "{fault}");
}

/// Jumping into an MMIO region (which cannot be executed) or to nothing stops on the fetch.
#[test]
fn fetches_from_mmio_and_from_unmapped_memory_stop_the_core_with_their_address() {
    for (target, cause) in [
        (ACK_BASE as u32, FaultCause::Protected(AccessKind::Fetch)),
        (0x4000_0000, FaultCause::Unmapped(AccessKind::Fetch)),
    ] {
        let main = [
            0xe12fff13, // 0x100 bx r3
        ];
        let mut cpu = machine(&main, Box::new(NoOutputs), VirtualClock::new());
        cpu.set_reg(Reg::R(3), target);
        let fault = run_to_fault(&mut cpu);
        assert_eq!(fault.cause, cause, "{fault}");
        assert_eq!(fault.pc, target, "{fault}");
        let access = fault.access.expect("the fetch is recorded");
        assert_eq!((access.addr, access.phys), (target as u64, target as u64));
        assert_eq!(access.size, 4, "an ARM instruction");
    }
}

#[test]
fn irq_is_taken_only_after_cpsie_i() {
    let main = [
        0xe3a00000, // mov r0, #0
        0xe2800001, // 1: add r0, r0, #1
        0xe3500ffa, // cmp r0, #1000
        0x1afffffc, // bne 1b
        0xf1080080, // cpsie i
        0xeafffffe, // 2: b 2b
    ];
    let mut cpu = machine(&main, Box::new(NoOutputs), VirtualClock::new());
    cpu.handle().set_irq(true);
    run_to_wfi(&mut cpu);
    assert_eq!(
        cpu.reg(Reg::R(6)),
        1000,
        "the loop ran to its end with IRQs masked"
    );
    assert_eq!(cpu.reg(Reg::Cpsr) & 0x1f, 0x12, "in IRQ mode");
    assert_eq!(
        cpu.reg(Reg::Lr),
        0x114 + 4,
        "LR_irq = interrupted instruction + 4"
    );
}

#[test]
fn irq_raised_from_another_thread_interrupts_a_spinning_guest() {
    let main = [
        0xf1080080, // cpsie i
        0xeafffffe, // 2: b 2b
    ];
    let mut cpu = machine(&main, Box::new(NoOutputs), VirtualClock::new());
    let handle = cpu.handle();
    let t = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(20));
        handle.set_irq(true);
    });
    run_to_wfi(&mut cpu);
    t.join().unwrap();
    assert_eq!(cpu.reg(Reg::Cpsr) & 0x1f, 0x12, "in IRQ mode");
}

struct Recorder {
    levels: Arc<Mutex<Vec<(usize, bool)>>>,
}
impl TimerOutputs for Recorder {
    fn set_level(&mut self, timer: usize, level: bool) {
        self.levels.lock().unwrap().push((timer, level));
    }
}

#[test]
fn secure_physical_timer_fires_at_cval_in_virtual_time() {
    let main = [
        0xe3040240, // movw r0, #0x4240
        0xe340000f, // movt r0, #0xf        (1 MHz)
        0xee0e0f10, // mcr p15, 0, r0, c14, c0, 0   (CNTFRQ)
        0xec510f0e, // mrrc p15, 0, r0, r1, c14     (CNTPCT)
        0xe2900ffa, // adds r0, r0, #1000
        0xe2a11000, // adc r1, r1, #0
        0xec410f2e, // mcrr p15, 2, r0, r1, c14     (CNTP_CVAL)
        0xe3a02001, // mov r2, #1
        0xee0e2f32, // mcr p15, 0, r2, c14, c2, 1   (CNTP_CTL: enable)
        0xf1080080, // cpsie i
        0xe320f003, // 3: wfi
        0xeafffffd, // b 3b
    ];
    let levels = Arc::new(Mutex::new(Vec::new()));
    let clock = VirtualClock::new();
    let rec = Recorder {
        levels: levels.clone(),
    };
    let mut cpu = machine(&main, Box::new(rec), clock.clone());
    run_to_wfi(&mut cpu);
    assert_eq!(
        cpu.timer().frequency(),
        1_000_000,
        "the counter follows the CNTFRQ write"
    );
    let cval = cpu.reg(Reg::R(0)) as u64;
    let deadline = cpu
        .timer()
        .next_deadline_ns()
        .expect("a deadline was reported");
    let now = clock.now_ns();
    assert!(
        deadline > now && deadline <= now + 1_000_000,
        "deadline within 1 ms: {deadline} vs {now}"
    );
    assert!(!cpu.timer().level(TIMER_SECURE), "not yet expired");
    clock.advance_to(deadline);
    cpu.timer_tick();
    assert!(
        cpu.timer().level(TIMER_SECURE),
        "secure physical timer output high at CVAL"
    );
    assert!(levels.lock().unwrap().contains(&(TIMER_SECURE, true)));
    // The SoC routes the output through the GIC; here it goes straight to the IRQ input.
    cpu.handle().set_irq(true);
    run_to_wfi(&mut cpu);
    assert_eq!(cpu.reg(Reg::Cpsr) & 0x1f, 0x12, "timer IRQ taken");
    assert_ne!(
        cpu.reg(Reg::R(9)) & 4,
        0,
        "CNTP_CTL.ISTATUS set in the handler"
    );
    assert!(cpu.reg(Reg::R(10)) as u64 >= cval, "counter reached CVAL");
    assert!(
        !cpu.timer().level(TIMER_SECURE),
        "disabling the timer drops its output"
    );
}

/// Counts MMIO reads and writes.
struct Counter {
    reads: u64,
    writes: u64,
}
impl MmioHandler for Counter {
    fn read(&mut self, _addr: u64, _size: u8) -> u64 {
        self.reads += 1;
        self.reads
    }
    fn write(&mut self, _addr: u64, _size: u8, _value: u64) {
        self.writes += 1;
    }
}

#[test]
fn kicks_and_exit_requests_never_repeat_an_access() {
    let main = [
        0xe3003000, // movw r3, #0
        0xe3413000, // movt r3, #0x1000
        0xe3040240, // movw r0, #0x4240
        0xe340000f, // movt r0, #0xf         (1000000)
        0xe5931000, // 4: ldr r1, [r3]
        0xe5831004, // str r1, [r3, #4]
        0xe2500001, // subs r0, r0, #1
        0x1afffffb, // bne 4b
        0xe320f003, // 5: wfi   (completes at once while the toggled line is high)
        0xeafffffd, // b 5b
    ];
    let mut cpu = machine(&main, Box::new(NoOutputs), VirtualClock::new());
    let counter = Rc::new(RefCell::new(Counter {
        reads: 0,
        writes: 0,
    }));
    cpu.map_mmio(MMIO_BASE, 0x1000, counter.clone()).unwrap();
    let handle = cpu.handle();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    // IRQs stay masked: the kicks only make the CPU look, and exits stop it.
    let t = std::thread::spawn(move || {
        let mut n = 0u64;
        while !stop2.load(Ordering::Relaxed) {
            handle.set_irq(n.is_multiple_of(2));
            if n.is_multiple_of(16) {
                handle.request_exit();
            }
            n += 1;
            std::thread::yield_now();
        }
        n
    });
    let mut exits = 0;
    loop {
        match cpu.run() {
            Exit::WaitForInterrupt => break,
            Exit::Requested => exits += 1,
            Exit::Fault(e) => panic!("{e}"),
            other => panic!("unexpected {other:?}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let kicks = t.join().unwrap();
    let c = counter.borrow();
    assert_eq!(
        c.reads, 1_000_000,
        "every load ran exactly once ({kicks} kicks, {exits} exits)"
    );
    assert_eq!(c.writes, 1_000_000, "every store ran exactly once");
}

#[test]
fn exit_requested_from_an_mmio_callback_stops_at_the_block_boundary() {
    struct Stopper {
        handle: Option<CpuHandle>,
        reads: u64,
    }
    impl MmioHandler for Stopper {
        fn read(&mut self, _addr: u64, _size: u8) -> u64 {
            self.reads += 1;
            if self.reads == 10 {
                self.handle.as_ref().unwrap().request_exit();
            }
            0
        }
        fn write(&mut self, _addr: u64, _size: u8, _value: u64) {}
    }
    let main = [
        0xe3003000, // movw r3, #0
        0xe3413000, // movt r3, #0x1000
        0xe30806a0, // movw r0, #0x86a0
        0xe3400001, // movt r0, #1
        0xe5931000, // 4: ldr r1, [r3]
        0xe5831004, // str r1, [r3, #4]
        0xe2500001, // subs r0, r0, #1
        0x1afffffb, // bne 4b
        0xe320f003, // wfi
    ];
    let mut cpu = machine(&main, Box::new(NoOutputs), VirtualClock::new());
    let stopper = Rc::new(RefCell::new(Stopper {
        handle: Some(cpu.handle()),
        reads: 0,
    }));
    cpu.map_mmio(MMIO_BASE, 0x1000, stopper.clone()).unwrap();
    assert_eq!(cpu.run(), Exit::Requested);
    assert_eq!(
        stopper.borrow().reads,
        10,
        "stopped right after the block that asked"
    );
    assert_eq!(cpu.reg(Reg::R(0)), 100_000 - 10, "the loop counter agrees");
    run_to_wfi(&mut cpu);
    assert_eq!(stopper.borrow().reads, 100_000);
}

#[test]
fn code_rewritten_through_dma_runs_fresh() {
    // main: mov r0, #1; wfi. Run it, then patch the mov through the DMA path and rerun.
    let main = [0xe3a00001, 0xe320f003];
    let mut cpu = machine(&main, Box::new(NoOutputs), VirtualClock::new());
    run_to_wfi(&mut cpu);
    assert_eq!(cpu.reg(Reg::R(0)), 1);
    cpu.write_memory(0x100, &0xe3a00002u32.to_le_bytes())
        .unwrap(); // mov r0, #2
    cpu.set_reg(Reg::Pc, 0x100);
    run_to_wfi(&mut cpu);
    assert_eq!(
        cpu.reg(Reg::R(0)),
        2,
        "translated code for the old bytes was dropped"
    );
}

#[test]
fn mpidr_reports_the_affinity_the_soc_sets() {
    let mut cpu = machine(&[0xe320f003], Box::new(NoOutputs), VirtualClock::new());
    cpu.set_mp_affinity(0xf00).unwrap();
    // MPIDR: multiprocessor format bit 31 plus the affinity fields.
    assert_eq!(cpu.cp15(Cp15::MPIDR).unwrap() & 0x8000_ffff, 0x8000_0f00);
}

/// Records, for each access, the PC of the instruction that made it.
struct PcRecorder {
    io_pc: cpu::IoPc,
    seen: Vec<(u64, u32)>,
}
impl MmioHandler for PcRecorder {
    fn read(&mut self, addr: u64, _size: u8) -> u64 {
        self.seen.push((addr, self.io_pc.pc()));
        0x55
    }
    fn write(&mut self, addr: u64, _size: u8, _value: u64) {
        self.seen.push((addr, self.io_pc.pc()));
    }
}

#[test]
fn an_mmio_handler_learns_the_pc_of_the_accessing_instruction() {
    let main = [
        0xe300c000, // 0x100 movw r12, #0
        0xe341c000, // 0x104 movt r12, #0x1000
        0xe320f000, // 0x108 nop
        0xe59c2000, // 0x10c ldr r2, [r12]
        0xe58c2004, // 0x110 str r2, [r12, #4]
        0xe320f003, // 0x114 wfi
    ];
    let mut cpu = machine(&main, Box::new(NoOutputs), VirtualClock::new());
    let recorder = Rc::new(RefCell::new(PcRecorder {
        io_pc: cpu.io_pc(),
        seen: Vec::new(),
    }));
    cpu.map_mmio(MMIO_BASE, 0x1000, recorder.clone()).unwrap();
    cpu.set_reg(Reg::Pc, 0x100);
    run_to_wfi(&mut cpu);
    assert_eq!(
        cpu.reg(Reg::R(2)),
        0x55,
        "the block went on after the lookup"
    );
    assert_eq!(
        recorder.borrow().seen,
        vec![(MMIO_BASE, 0x10c), (MMIO_BASE + 4, 0x110)]
    );
}

#[test]
fn banked_registers_of_every_mode_are_read_without_changing_the_current_one() {
    let main = [0xe320f003]; // wfi
    let mut cpu = machine(&main, Box::new(NoOutputs), VirtualClock::new());
    cpu.set_reg(Reg::Cpsr, 0x1d2); // IRQ mode
    cpu.set_reg(Reg::Sp, 0x1000);
    cpu.set_reg(Reg::Lr, 0x1004);
    cpu.set_reg(Reg::Cpsr, 0x1d3); // SVC mode
    cpu.set_reg(Reg::Sp, 0x2000);
    cpu.set_reg(Reg::R(0), 42);
    let banked = cpu.banked_registers();
    let irq = banked.iter().find(|b| b.0 == "irq").unwrap();
    let svc = banked.iter().find(|b| b.0 == "svc").unwrap();
    assert_eq!((irq.1, irq.2), (0x1000, 0x1004));
    assert_eq!(svc.1, 0x2000);
    assert!(banked
        .iter()
        .find(|b| b.0 == "usr/sys")
        .unwrap()
        .3
        .is_none());
    assert_eq!(cpu.reg(Reg::Cpsr) & 0x1ff, 0x1d3, "still in SVC mode");
    assert_eq!(cpu.reg(Reg::Sp), 0x2000);
    assert_eq!(cpu.reg(Reg::R(0)), 42);
}

/// Polls the counter until one second (at 62.5 MHz) has passed, then waits in WFI.
const ONE_SECOND_POLL: [u32; 8] = [
    0xec554f0e, // 0x100 mrrc p15, 0, r4, r5, c14   (CNTPCT: the start)
    0xe30a6ca0, // 0x104 movw r6, #0xaca0
    0xe34063b9, // 0x108 movt r6, #0x03b9          (62 500 000 counts)
    0xe0844006, // 0x10c add r4, r4, r6
    0xec510f0e, // 0x110 1: mrrc p15, 0, r0, r1, c14
    0xe1500004, // 0x114 cmp r0, r4
    0x3afffffc, // 0x118 blo 1b
    0xe320f003, // 0x11c wfi
];

#[test]
fn busy_waits_on_the_counter_are_skipped_up_to_the_deadline_limit() {
    let clock = VirtualClock::new();
    let mut cpu = machine(&ONE_SECOND_POLL, Box::new(NoOutputs), clock.clone());
    cpu.set_cp15(Cp15::CNTFRQ, 62_500_000).unwrap();
    cpu.set_reg(Reg::Pc, 0x100);
    cpu.timer().set_busy_wait_skip(true);
    // A device deadline 50 ms ahead: skipping stops there and the CPU returns to let it fire.
    let limit = clock.now_ns() + 50_000_000;
    cpu.timer().busy_wait_limit().set(limit);
    loop {
        match cpu.run() {
            Exit::Requested if clock.now_ns() >= limit => break,
            Exit::Requested => continue,
            other => panic!("the poll ended early: {other:?}"),
        }
    }
    let skipped = cpu.timer().busy_wait_skipped_ns();
    assert!(skipped > 0, "nothing skipped");
    assert!(skipped <= 50_000_000, "skipped {skipped} ns past the limit");
    // Deadline handled: no limit any more, the rest of the second is skipped.
    cpu.timer().busy_wait_limit().set(u64::MAX);
    run_to_wfi(&mut cpu);
    assert!(
        cpu.timer().busy_wait_skipped_ns() > 900_000_000,
        "only {} ns skipped of a 1 s busy wait",
        cpu.timer().busy_wait_skipped_ns()
    );
}

/// `add r0, r0, #1; b .-4` at 0x100: two instructions an iteration.
const COUNT_LOOP: &[u32] = &[
    0xe2800001, // 0x100 add r0, r0, #1
    0xeafffffd, // 0x104 b 0x100
];

/// A counting core stops exactly when its budget is spent, in the middle of a translated
/// block too, and its clock is its instruction count (1 ns each here).
#[test]
fn a_counting_core_stops_exactly_at_its_budget() {
    let clock = VirtualClock::counting(1);
    let mut cpu = machine(COUNT_LOOP, Box::new(NoOutputs), clock.clone());
    cpu.set_counting(true).unwrap();
    cpu.set_reg(Reg::Pc, 0x100);
    cpu.set_budget(1001);
    assert!(matches!(cpu.run(), Exit::Requested));
    assert_eq!(cpu.executed(), 1001);
    // 500 whole iterations and the add of the next.
    assert_eq!(cpu.reg(Reg::R(0)), 501);
    assert_eq!(cpu.reg(Reg::Pc), 0x104);
    assert_eq!(clock.now_ns(), 1001);

    cpu.set_budget(10);
    assert!(matches!(cpu.run(), Exit::Requested));
    assert_eq!(
        (cpu.executed(), cpu.reg(Reg::R(0)), cpu.reg(Reg::Pc)),
        (10, 506, 0x104)
    );
    assert_eq!(clock.now_ns(), 1011);

    // More than the 16-bit decrementer holds: refilled as it goes.
    cpu.set_budget(200_001);
    assert!(matches!(cpu.run(), Exit::Requested));
    assert_eq!(cpu.executed(), 200_001);
    assert_eq!(cpu.reg(Reg::R(0)), 506 + 100_000);
    assert_eq!(cpu.reg(Reg::Pc), 0x100);
    assert_eq!(clock.now_ns(), 201_012);
    assert_eq!(clock.instructions_until(201_112), Some(100));
}

/// Without counting, the same core runs until something stops it, and the clock follows the
/// host.
#[test]
fn a_core_that_does_not_count_ignores_budgets() {
    let clock = VirtualClock::new();
    let mut cpu = machine(COUNT_LOOP, Box::new(NoOutputs), clock.clone());
    cpu.set_reg(Reg::Pc, 0x100);
    cpu.set_budget(10);
    let handle = cpu.handle();
    let kicker = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(20));
        handle.request_exit();
    });
    assert!(matches!(cpu.run(), Exit::Requested));
    kicker.join().unwrap();
    assert_eq!(cpu.executed(), 0);
    assert!(
        cpu.reg(Reg::R(0)) > 1000,
        "ran {} iterations",
        cpu.reg(Reg::R(0))
    );
    assert_eq!(clock.instructions_until(u64::MAX), None);
}

/// A window mapped again and again (the FMC's flash window switching between its direct and
/// user modes) keeps one reference to its memory, not one per mapping, and reads the same.
#[test]
fn remapping_a_window_keeps_its_memory_once() {
    const WINDOW: u64 = 0x2000_0000;
    const LEN: u64 = 0x10000;
    let mut cpu = machine(&[], Box::new(NoOutputs), VirtualClock::new());
    let flash = Rc::new(bus_free_block(LEN as usize));
    let ptr = flash.as_mut_ptr();
    // SAFETY: the Vec's buffer never moves; it is written only through the CPU.
    unsafe {
        cpu.map_host_memory(WINDOW, LEN, ptr, flash.clone(), Access::ReadWriteExec)
            .unwrap()
    };
    cpu.write_memory(WINDOW + 0x40, &[0xA5, 0x5A]).unwrap();
    for _ in 0..100 {
        cpu.unmap(WINDOW, LEN).unwrap();
        // SAFETY: as above.
        unsafe {
            cpu.map_host_memory(WINDOW, LEN, ptr, flash.clone(), Access::ReadExec)
                .unwrap()
        };
    }
    assert_eq!(Rc::strong_count(&flash), 2, "the test's and the CPU's");
    let mut buf = [0u8; 2];
    cpu.read_memory(WINDOW + 0x40, &mut buf).unwrap();
    assert_eq!(buf, [0xA5, 0x5A]);
}

/// The timer program of `secure_physical_timer_fires_at_cval_in_virtual_time`, then VFP and
/// CP15 state: d0 = r0:r1 (the CVAL), TPIDRURW = 0x5a5a0001, an exclusive monitor open on
/// 0x8000 (LDREX with no STREX).
const TIMER_AND_STATE: [u32; 21] = [
    0xe3040240, // movw r0, #0x4240
    0xe340000f, // movt r0, #0xf        (1 MHz)
    0xee0e0f10, // mcr p15, 0, r0, c14, c0, 0   (CNTFRQ)
    0xec510f0e, // mrrc p15, 0, r0, r1, c14     (CNTPCT)
    0xe2900ffa, // adds r0, r0, #1000
    0xe2a11000, // adc r1, r1, #0
    0xec410f2e, // mcrr p15, 2, r0, r1, c14     (CNTP_CVAL)
    0xe3a02001, // mov r2, #1
    0xee0e2f32, // mcr p15, 0, r2, c14, c2, 1   (CNTP_CTL: enable)
    0xe3a03603, // mov r3, #0x300000            (CPACR: cp10/cp11 full access)
    0xe3833603, // orr r3, r3, #0x300000 (again: cp10, cp11 both)
    0xee013f50, // mcr p15, 0, r3, c1, c0, 2    (CPACR)
    0xe3a03101, // mov r3, #0x40000000
    0xeee83a10, // vmsr fpexc, r3               (VFP on)
    0xec410b10, // vmov d0, r0, r1
    0xe3003001, // movw r3, #1
    0xe3453a5a, // movt r3, #0x5a5a
    0xee0d3f50, // mcr p15, 0, r3, c13, c0, 2   (TPIDRURW)
    0xe3a04902, // mov r4, #0x8000
    0xe1944f9f, // ldrex r4, [r4]
    0xe320f003, // wfi (interrupts still masked: the timer's IRQ is left pending)
];

/// Reads d0 and TPIDRURW into r5:r6 and r7, then tries a STREX to the monitor's 0x8000
/// (r8 = 0: the monitor was still open), then waits.
const READ_BACK: [u32; 6] = [
    0xec565b10, // vmov r5, r6, d0
    0xee1d7f50, // mrc p15, 0, r7, c13, c0, 2   (TPIDRURW)
    0xe3a04902, // mov r4, #0x8000
    0xe3a09007, // mov r9, #7
    0xe1848f99, // strex r8, r9, [r4]
    0xe320f003, // wfi
];

#[test]
fn a_saved_core_loads_into_a_fresh_one_and_goes_on_as_the_original() {
    // Clocks that stand still unless moved (no core counts on them): the restored core
    // starts at the saved core's time, as the SoC restores its clock.
    let clock = VirtualClock::counting(1);
    clock.advance_to(5_000_000);
    let mut cpu = machine(&TIMER_AND_STATE, Box::new(NoOutputs), clock.clone());
    run_to_wfi(&mut cpu);
    cpu.set_reg(Reg::Cpsr, 0x1d2); // IRQ mode: bank a stack pointer
    cpu.set_reg(Reg::Sp, 0x1234);
    cpu.set_reg(Reg::Cpsr, 0x1d3);
    let deadline = cpu.timer().next_deadline_ns().expect("timer armed");
    let saved = cpu.save_state().expect("save");
    assert!(saved.arch.len() > 1000, "{} bytes", saved.arch.len());

    // A fresh core with the same memory; the read-back program where the first one ended.
    let levels = Arc::new(Mutex::new(Vec::new()));
    let rec = Recorder {
        levels: levels.clone(),
    };
    let clock2 = VirtualClock::counting(1);
    clock2.advance_to(clock.now_ns());
    let mut twin = machine(&READ_BACK, Box::new(rec), clock2.clone());
    twin.load_state(&saved).expect("load");
    let again = twin.save_state().unwrap();
    let differ: Vec<usize> = (0..saved.arch.len())
        .filter(|&i| again.arch[i] != saved.arch[i])
        .collect();
    assert!(
        differ.is_empty() && again.counter == saved.counter,
        "saving it again gives the same state; bytes differ at {differ:?} of {}",
        saved.arch.len()
    );
    assert_eq!(twin.banked_registers(), cpu.banked_registers());
    for r in 0..15 {
        assert_eq!(twin.reg(Reg::R(r)), cpu.reg(Reg::R(r)), "r{r}");
    }
    assert_eq!(twin.reg(Reg::Cpsr), cpu.reg(Reg::Cpsr));
    assert_eq!(twin.timer().frequency(), 1_000_000);
    assert_eq!(
        twin.timer().next_deadline_ns(),
        Some(deadline),
        "the timer's deadline came back"
    );
    assert_eq!(
        twin.cp15(Cp15::SCTLR).unwrap(),
        cpu.cp15(Cp15::SCTLR).unwrap()
    );

    // Run the read-back from the saved PC's successor in the fresh core's memory.
    twin.set_reg(Reg::Pc, 0x100);
    run_to_wfi(&mut twin);
    let cval = cpu.reg(Reg::R(0)) as u64 | (cpu.reg(Reg::R(1)) as u64) << 32;
    let d0 = twin.reg(Reg::R(5)) as u64 | (twin.reg(Reg::R(6)) as u64) << 32;
    assert_eq!(d0, cval, "VFP d0 came back");
    assert_eq!(twin.reg(Reg::R(7)), 0x5a5a_0001, "TPIDRURW came back");
    assert_eq!(
        twin.reg(Reg::R(8)),
        0,
        "the exclusive monitor was still open"
    );

    clock2.advance_to(deadline);
    twin.timer_tick();
    assert!(
        twin.timer().level(TIMER_SECURE),
        "the timer fires at its saved deadline"
    );
    assert!(levels.lock().unwrap().contains(&(TIMER_SECURE, true)));
}

#[test]
fn a_core_state_from_another_build_or_format_is_refused() {
    let mut cpu = machine(&[0xe320f003], Box::new(NoOutputs), VirtualClock::new());
    run_to_wfi(&mut cpu);
    let saved = cpu.save_state().unwrap();
    let pc = cpu.reg(Reg::Pc);
    let mut other = saved.clone();
    other.unicorn_build = "0000000000000000".into();
    let e = cpu.load_state(&other).unwrap_err();
    assert!(e.0.contains("another build"), "{e}");
    let mut other = saved.clone();
    other.version += 1;
    assert!(cpu
        .load_state(&other)
        .unwrap_err()
        .0
        .contains("format version"));
    let mut other = saved.clone();
    other.arch.pop();
    assert!(cpu.load_state(&other).unwrap_err().0.contains("bytes"));
    let mut other = saved;
    other.model = "arm1176".into();
    assert!(cpu.load_state(&other).unwrap_err().0.contains("arm1176"));
    assert_eq!(cpu.reg(Reg::Pc), pc, "the core is unchanged");
}

#[test]
fn loading_a_state_drives_every_timer_output_even_one_already_at_that_level() {
    // A core whose secure timer has fired: its output is high.
    let levels = Arc::new(Mutex::new(Vec::new()));
    let rec = Recorder {
        levels: levels.clone(),
    };
    let clock = VirtualClock::counting(1);
    clock.advance_to(5_000_000);
    let mut cpu = machine(&TIMER_AND_STATE, Box::new(rec), clock.clone());
    run_to_wfi(&mut cpu);
    clock.advance_to(cpu.timer().next_deadline_ns().expect("timer armed"));
    cpu.timer_tick();
    assert!(cpu.timer().level(TIMER_SECURE));
    let fired = cpu.save_state().expect("save");

    // Loaded into the same core, whose output is still high: what the output is wired to
    // (a GIC) was restored from the same snapshot on its own and may hold the line low, so
    // the loaded level is driven again, not taken as already there. Otherwise the core
    // would never see the interrupt of its fired timer (CI: a machine loaded while one
    // core's timer had just fired slept until the watchdog reset it).
    levels.lock().unwrap().clear();
    cpu.load_state(&fired).expect("load");
    let driven = levels.lock().unwrap().clone();
    assert!(
        driven.contains(&(TIMER_SECURE, true)),
        "the fired timer's output was driven after the load: {driven:?}"
    );
    // Every other timer is driven to its (low) level as well.
    for timer in [TIMER_PHYS, TIMER_VIRT, TIMER_HYP] {
        assert!(
            driven.contains(&(timer, false)),
            "timer {timer}: {driven:?}"
        );
    }
    // Afterwards, an unchanged level is not driven again.
    levels.lock().unwrap().clear();
    cpu.timer_tick();
    assert!(levels.lock().unwrap().is_empty());
}
