//! The core alone: guest instruction rates of the ALU, load/store and memory copy loops.
//!
//! `cargo bench -p ast-emu-benches --bench cpu`. Criterion's "time" is one guest loop
//! iteration; its throughput is in guest instructions per second.

#[path = "group.rs"]
mod group;

use ast_emu_benches::CoreGuest;
use bench_guests::{Guest, ALU, COPY, LDST, LDST_SAME_PAGE};
use criterion::{criterion_group, criterion_main, Criterion};

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
    group::bench_guests(c, "core", &guests(), CoreGuest::new, CoreGuest::run);
}

criterion_group!(benches, core);
criterion_main!(benches);
