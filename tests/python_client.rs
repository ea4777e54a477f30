//! The Python client's own tests (python/tests, standard library unittest) against this
//! build's emulator: they boot the built-in image through `ast_emu.Emulator`.

use std::path::Path;
use std::process::Command;

#[test]
fn the_python_client_tests_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("python3")
        .args(["-m", "unittest", "discover", "-v", "-s"])
        .arg(root.join("python/tests"))
        .env("AST_EMU", env!("CARGO_BIN_EXE_ast-emu"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3 (make deps installs it)");
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python3 -m unittest failed:\n{report}"
    );
    assert!(report.contains("OK"), "{report}");
}
