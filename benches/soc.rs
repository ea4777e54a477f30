//! The whole SoC: MMIO round trips to a device register, interrupt round trips and SPI NOR
//! reads through the FMC.
//!
//! `cargo bench -p ast-emu-benches --bench soc`. Criterion's "time" is one guest loop
//! iteration: 8 MMIO accesses (`mmio`), one interrupt raised, taken and acknowledged (`irq`),
//! 32 bytes (`spi_nor_read_mode`) or 4 KiB (`spi_nor_user_mode`) read from the flash.

#[path = "group.rs"]
mod group;

use ast_emu_benches::SocGuest;
use bench_guests::{Guest, IRQ, MMIO, SPI_READ, SPI_USER};
use criterion::{criterion_group, criterion_main, Criterion};

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
    group::bench_guests(c, "soc", &guests(), SocGuest::new, SocGuest::run);
}

criterion_group!(benches, soc);
criterion_main!(benches);
