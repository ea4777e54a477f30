//! The emulator's own messages on stderr, each written with one `write` so that a line is never
//! split by the guest's console output on stdout when both go to the same place (a terminal,
//! or a test that reads the two pipes into one transcript). `eprintln!` writes each piece of
//! its format separately.

use std::io::Write;

/// `eprintln!`, written in one piece.
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::notes::write(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprint!`, written in one piece.
macro_rules! note_text {
    ($($arg:tt)*) => {
        $crate::notes::write(&format!($($arg)*))
    };
}

/// Writes `text` to stderr at once (a pipe takes up to `PIPE_BUF` bytes atomically); a
/// closed stderr is ignored, as `eprintln!` would not be.
pub fn write(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}
