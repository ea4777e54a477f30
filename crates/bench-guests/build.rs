//! Assembles and links the guests in guests/ with binutils-arm-none-eabi into OUT_DIR.

use std::path::PathBuf;
use std::process::Command;

/// (output name, source, SAME_PAGE).
const GUESTS: &[(&str, &str, u32)] = &[
    ("alu", "alu.S", 0),
    ("ldst", "ldst.S", 0),
    ("ldst_same", "ldst.S", 1),
    ("copy", "copy.S", 0),
    ("mmio", "mmio.S", 0),
    ("irq", "irq.S", 0),
    ("spi_read", "spi_read.S", 0),
    ("spi_user", "spi_user.S", 0),
    ("hello", "hello.S", 0),
    ("hello_thumb", "hello_thumb.S", 0),
    ("rom_stores", "rom_stores.S", 0),
    ("smp", "smp.S", 0),
    ("smp_coherence", "smp_coherence.S", 0),
    ("vic", "vic.S", 0),
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
    for &(name, source, same_page) in GUESTS {
        let object = out.join(format!("{name}.o"));
        let elf = out.join(format!("{name}.elf"));
        let defsym = format!("SAME_PAGE={same_page}");
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
