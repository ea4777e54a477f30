//! The core alone: guest instruction rates of the ALU, load/store and memory copy loops.
//!
//! `cargo bench -p ast-emu-benches --bench cpu`. Criterion's "time" is one guest loop
//! iteration; its throughput is in guest instructions per second.

use ast_emu_benches::{summary, CoreGuest};
use bench_guests::{Guest, ALU, COPY, LDST, LDST_SAME_PAGE};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn guests() -> [(Guest, &'static str, u32); 4] {
    // (guest, benchmark name, loop count of the summary run: about a second)
    [
        (ALU, "alu", 50_000_000),
        (LDST, "ldst_separate_page", 20_000_000),
        (LDST_SAME_PAGE, "ldst_same_page", 1_000_000),
        (COPY, "copy_512k", 20_000),
    ]
}

fn core(c: &mut Criterion) {
    let mut group = c.benchmark_group("core");
    for (guest, name, long) in guests() {
        let mut g = CoreGuest::new(guest);
        println!("{}", summary(&guest, long, g.run(long)));
        group.throughput(Throughput::Elements(u64::from(guest.per_iteration())));
        group.bench_function(name, |b| {
            b.iter_custom(|iters| g.run(u32::try_from(iters).expect("loop count fits u32")))
        });
    }
    group.finish();
}

criterion_group!(benches, core);
criterion_main!(benches);
