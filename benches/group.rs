//! The criterion group both benchmark files run over their guests.

use std::time::Duration;

use ast_emu_benches::summary;
use bench_guests::{Guest, Unit};
use criterion::{Criterion, Throughput};

/// Benchmarks each `(guest, benchmark name, summary loop count)` of `guests` in the criterion
/// group `group`: loads it with `load`, prints the summary of one long run (about a second),
/// then lets criterion time loop counts of its choosing through `run`.
pub fn bench_guests<H>(
    c: &mut Criterion,
    group: &str,
    guests: &[(Guest, &str, u32)],
    load: impl Fn(Guest) -> H,
    run: impl Fn(&mut H, u32) -> Duration,
) {
    let mut criterion_group = c.benchmark_group(group);
    for &(guest, name, long) in guests {
        let mut harness = load(guest);
        println!("{}", summary(&guest, long, run(&mut harness, long)));
        let per = u64::from(guest.per_iteration());
        criterion_group.throughput(match guest.unit {
            Unit::Bytes => Throughput::Bytes(per),
            _ => Throughput::Elements(per),
        });
        criterion_group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                run(
                    &mut harness,
                    u32::try_from(iters).expect("loop count fits u32"),
                )
            })
        });
    }
    criterion_group.finish();
}
