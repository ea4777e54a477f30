//! Runs one guest once, for a profiler (`perf record target/release/examples/profile ...`).
//!
//! `profile GUEST ITERATIONS [soc]`: on the bare core, or with `soc` on the whole SoC; prints
//! the same summary line as the benchmarks.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (guest, iterations) = match (
        args.first().and_then(|n| bench_guests::Guest::by_name(n)),
        args.get(1).and_then(|n| n.parse::<u32>().ok()),
    ) {
        (Some(g), Some(n)) => (g, n),
        _ => {
            eprintln!("usage: profile GUEST ITERATIONS [soc]");
            return ExitCode::from(2);
        }
    };
    let elapsed = if args.get(2).is_some_and(|a| a == "soc") {
        ast_emu_benches::SocGuest::new(guest).run(iterations)
    } else {
        ast_emu_benches::CoreGuest::new(guest).run(iterations)
    };
    println!("{}", ast_emu_benches::summary(&guest, iterations, elapsed));
    ExitCode::SUCCESS
}
