//! Writes the benchmark guests as ELF files for scripts/bench-guest.
//!
//! `bench-guests DIR [NAME=ITERATIONS ...]` writes DIR/NAME.elf for every guest, with the loop
//! counts given (the built-in count otherwise), and prints one line per guest:
//! `NAME UNIT PER_ITERATION ITERATIONS PATH`.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next().map(PathBuf::from) else {
        eprintln!("usage: bench-guests DIR [NAME=ITERATIONS ...]");
        return ExitCode::from(2);
    };
    let mut counts = std::collections::HashMap::new();
    for a in args {
        let parsed = a
            .split_once('=')
            .and_then(|(n, c)| Some((n.to_string(), c.parse::<u32>().ok()?)));
        match parsed {
            Some((n, c)) if bench_guests::Guest::by_name(&n).is_some() && c > 0 => {
                counts.insert(n, c);
            }
            _ => {
                eprintln!("bench-guests: bad argument {a:?} (NAME=ITERATIONS, a known guest)");
                return ExitCode::from(2);
            }
        }
    }
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("bench-guests: {}: {e}", dir.display());
        return ExitCode::from(1);
    }
    for g in bench_guests::ALL {
        let n = counts
            .get(g.name)
            .copied()
            .unwrap_or_else(|| g.iterations());
        let path = dir.join(format!("{}.elf", g.name));
        if let Err(e) = std::fs::write(&path, g.with_iterations(n)) {
            eprintln!("bench-guests: {}: {e}", path.display());
            return ExitCode::from(1);
        }
        println!(
            "{} {} {} {} {}",
            g.name,
            g.unit.name(),
            g.per_iteration(),
            n,
            path.display()
        );
    }
    ExitCode::SUCCESS
}
