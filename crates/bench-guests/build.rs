//! Assembles and links the guests in guests/ with binutils-arm-none-eabi into OUT_DIR.

use std::path::PathBuf;
use std::process::Command;

/// (output name, source, the symbol definition it is assembled with).
const GUESTS: &[(&str, &str, &str)] = &[
    ("alu", "alu.S", "SAME_PAGE=0"),
    ("ldst", "ldst.S", "SAME_PAGE=0"),
    ("ldst_same", "ldst.S", "SAME_PAGE=1"),
    ("copy", "copy.S", "SAME_PAGE=0"),
    ("mmio", "mmio.S", "SAME_PAGE=0"),
    ("irq", "irq.S", "SAME_PAGE=0"),
    ("spi_read", "spi_read.S", "SAME_PAGE=0"),
    ("spi_user", "spi_user.S", "SAME_PAGE=0"),
    ("hello", "hello.S", "SAME_PAGE=0"),
    ("hello_thumb", "hello_thumb.S", "SAME_PAGE=0"),
    ("rom_stores", "rom_stores.S", "SAME_PAGE=0"),
    ("smp", "smp.S", "SAME_PAGE=0"),
    ("smp_long", "smp.S", "ROUNDS=10000000"),
    ("smp_coherence", "smp_coherence.S", "SAME_PAGE=0"),
    ("smp_deadline", "smp_deadline.S", "SAME_PAGE=0"),
    ("vic", "vic.S", "SAME_PAGE=0"),
    ("domains", "domains.S", "SAME_PAGE=0"),
];

const AS: &str = "arm-none-eabi-as";
const LD: &str = "arm-none-eabi-ld";

fn run(tool: &str, args: &[&std::ffi::OsStr]) {
    let status = match Command::new(tool).args(args).status() {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "{tool} not found: the guests need Debian's binutils-arm-none-eabi (run `make deps`)"
        ),
        Err(e) => panic!("{tool}: {e}"),
    };
    assert!(status.success(), "{tool} {args:?} failed: {status}");
}

fn main() {
    let src = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"))
        .join("guests");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    println!("cargo:rerun-if-changed={}", src.display());
    for entry in std::fs::read_dir(&src).expect("guests/") {
        println!(
            "cargo:rerun-if-changed={}",
            entry.expect("entry").path().display()
        );
    }
    let script = src.join("link.ld");
    for &(name, source, defsym) in GUESTS {
        let object = out.join(format!("{name}.o"));
        let elf = out.join(format!("{name}.elf"));
        run(
            AS,
            &[
                "-march=armv7-a".as_ref(),
                "-I".as_ref(),
                src.as_os_str(),
                "--defsym".as_ref(),
                defsym.as_ref(),
                "-o".as_ref(),
                object.as_os_str(),
                src.join(source).as_os_str(),
            ],
        );
        run(
            LD,
            &[
                "-T".as_ref(),
                script.as_os_str(),
                "-z".as_ref(),
                "max-page-size=4096".as_ref(),
                "--build-id=none".as_ref(),
                "-o".as_ref(),
                elf.as_os_str(),
                object.as_os_str(),
            ],
        );
    }
}
