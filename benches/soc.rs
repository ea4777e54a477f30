//! The whole SoC: MMIO round trips to a device register, interrupt round trips and SPI NOR
//! reads through the FMC.
//!
//! `cargo bench -p ast-emu-benches --bench soc`. Criterion's "time" is one guest loop
//! iteration: 8 MMIO accesses (`mmio`), one interrupt raised, taken and acknowledged (`irq`),
//! 32 bytes (`spi_nor_read_mode`) or 4 KiB (`spi_nor_user_mode`) read from the flash.

use ast_emu_benches::{summary, SocGuest};
use bench_guests::{Guest, Unit, IRQ, MMIO, SPI_READ, SPI_USER};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn guests() -> [(Guest, &'static str, u32); 4] {
    // (guest, benchmark name, loop count of the summary run: about a second)
    [
        (MMIO, "mmio", 2_000_000),
        (IRQ, "irq", 1_000_000),
        (SPI_READ, "spi_nor_read_mode", 20_000_000),
        (SPI_USER, "spi_nor_user_mode", 200),
    ]
}

fn soc(c: &mut Criterion) {
    let mut group = c.benchmark_group("soc");
    for (guest, name, long) in guests() {
        let mut g = SocGuest::new(guest);
        println!("{}", summary(&guest, long, g.run(long)));
        let per = u64::from(guest.per_iteration());
        group.throughput(match guest.unit {
            Unit::Bytes => Throughput::Bytes(per),
            _ => Throughput::Elements(per),
        });
        group.bench_function(name, |b| {
            b.iter_custom(|iters| g.run(u32::try_from(iters).expect("loop count fits u32")))
        });
    }
    group.finish();
}

criterion_group!(benches, soc);
criterion_main!(benches);
