//! Records which build of the patched libunicorn this crate links (the stamp
//! `scripts/build-unicorn` writes: the unicorn version and the patch set's hash), so a core's
//! saved architectural state, laid out as that build lays it out, is only loaded into it.

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let stamp = std::path::Path::new(&manifest).join("../../target/unicorn/stamp");
    println!("cargo:rerun-if-changed={}", stamp.display());
    let build = std::fs::read_to_string(&stamp)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=AST_EMU_UNICORN_BUILD={build}");
}
