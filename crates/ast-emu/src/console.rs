//! The serial console on the host terminal: raw mode, and the `Ctrl-a` escape.

use std::io::{self, Read, Write};

use aspeed_soc::HostEvent;
use crossbeam_channel::Sender;

/// The escape character: `Ctrl-a`.
const ESCAPE: u8 = 0x01;

/// Help shown for `Ctrl-a h`.
pub const HELP: &str = "\r\nast-emu console escapes:\r\n  Ctrl-a x   quit the emulator\r\n  Ctrl-a c   one monitor command (type help there)\r\n  Ctrl-a s   write the flash back now (with --persist)\r\n  Ctrl-a h   this help\r\n  Ctrl-a a   send Ctrl-a to the guest\r\n";

/// The terminal's settings from before [`RawTerminal::enable`]: what every way out restores.
static SAVED: std::sync::OnceLock<libc::termios> = std::sync::OnceLock::new();

/// Puts the terminal on stdin into raw mode while alive; restores it when dropped.
pub struct RawTerminal {
    raw: bool,
}

impl RawTerminal {
    /// Raw mode if stdin is a terminal; otherwise does nothing.
    pub fn enable() -> Self {
        // SAFETY: isatty/tcgetattr/tcsetattr on fd 0 with a zeroed, then filled, termios.
        unsafe {
            if libc::isatty(0) != 1 {
                return Self { raw: false };
            }
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return Self { raw: false };
            }
            let _ = SAVED.set(t);
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(0, libc::TCSANOW, &t);
            Self { raw: true }
        }
    }

    /// Whether the terminal is in raw mode.
    pub fn is_raw(&self) -> bool {
        self.raw
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Gives the terminal on stdin back the settings [`RawTerminal::enable`] found: also the way
/// out when a `RawTerminal` cannot be dropped (a panic, a forced exit). Does nothing when raw
/// mode was never entered.
pub fn restore_terminal() {
    if let Some(t) = SAVED.get() {
        // SAFETY: restores attributes tcgetattr filled in `enable`.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, t) };
    }
}

/// Splits console input into guest bytes and escape commands.
#[derive(Default)]
pub struct EscapeParser {
    after_escape: bool,
    /// A monitor line being typed, after `Ctrl-a c`.
    monitor: Option<Vec<u8>>,
}

/// What a chunk of console input means.
#[derive(Debug, PartialEq, Eq)]
pub enum ConsoleAction {
    /// Bytes for the guest.
    Send(Vec<u8>),
    /// Quit the emulator.
    Quit,
    /// Write the flash back now (with --persist).
    SaveFlash,
    /// Show the escape help.
    Help,
    /// `Ctrl-a c` was typed: show the monitor prompt.
    MonitorPrompt,
    /// Echo these bytes of a monitor line being typed.
    MonitorEcho(Vec<u8>),
    /// Run this monitor command.
    Monitor(String),
}

impl EscapeParser {
    /// Interprets `input`, in order.
    pub fn feed(&mut self, input: &[u8]) -> Vec<ConsoleAction> {
        let mut actions = Vec::new();
        let mut bytes = Vec::new();
        for &b in input {
            if let Some(line) = &mut self.monitor {
                match b {
                    b'\r' | b'\n' => {
                        let cmd = String::from_utf8_lossy(line).trim().to_string();
                        self.monitor = None;
                        flush(&mut bytes, &mut actions);
                        actions.push(ConsoleAction::Monitor(cmd));
                    }
                    0x7f | 0x08 => {
                        if line.pop().is_some() {
                            actions.push(ConsoleAction::MonitorEcho(b"\x08 \x08".to_vec()));
                        }
                    }
                    _ => {
                        line.push(b);
                        actions.push(ConsoleAction::MonitorEcho(vec![b]));
                    }
                }
                continue;
            }
            if self.after_escape {
                self.after_escape = false;
                match b {
                    b'x' | b'X' => {
                        flush(&mut bytes, &mut actions);
                        actions.push(ConsoleAction::Quit);
                    }
                    b's' | b'S' => {
                        flush(&mut bytes, &mut actions);
                        actions.push(ConsoleAction::SaveFlash);
                    }
                    b'c' | b'C' => {
                        flush(&mut bytes, &mut actions);
                        self.monitor = Some(Vec::new());
                        actions.push(ConsoleAction::MonitorPrompt);
                    }
                    b'h' | b'H' | b'?' => {
                        flush(&mut bytes, &mut actions);
                        actions.push(ConsoleAction::Help);
                    }
                    ESCAPE | b'a' => bytes.push(ESCAPE),
                    other => bytes.extend([ESCAPE, other]),
                }
            } else if b == ESCAPE {
                self.after_escape = true;
            } else {
                bytes.push(b);
            }
        }
        flush(&mut bytes, &mut actions);
        actions
    }
}

fn flush(bytes: &mut Vec<u8>, actions: &mut Vec<ConsoleAction>) {
    if !bytes.is_empty() {
        actions.push(ConsoleAction::Send(std::mem::take(bytes)));
    }
}

/// Reads stdin on its own thread and forwards it to the SoC; `wake` makes the CPU look.
pub fn spawn_input(
    events: Sender<HostEvent>,
    wake: impl Fn() + Send + 'static,
    hub: std::sync::Arc<control::Hub>,
) {
    let spawned = std::thread::Builder::new()
        .name("ast-emu-console".into())
        .spawn(move || {
            let mut parser = EscapeParser::default();
            let mut buf = [0u8; 256];
            let mut stdin = io::stdin().lock();
            loop {
                let n = match stdin.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        // EOF: the guest keeps running without console input. Keep the
                        // sender alive so the run loop does not take it as a hang-up.
                        loop {
                            std::thread::park();
                        }
                    }
                    Ok(n) => n,
                };
                for action in parser.feed(&buf[..n]) {
                    let event = match action {
                        ConsoleAction::Send(b) => HostEvent::ConsoleInput(b),
                        ConsoleAction::Quit => HostEvent::Quit,
                        ConsoleAction::SaveFlash => HostEvent::SaveFlash,
                        ConsoleAction::Help => {
                            let _ = io::stderr().write_all(HELP.as_bytes());
                            continue;
                        }
                        ConsoleAction::MonitorPrompt => {
                            print_console(b"\r\n(ast-emu) ");
                            continue;
                        }
                        ConsoleAction::MonitorEcho(b) => {
                            print_console(&b);
                            continue;
                        }
                        ConsoleAction::Monitor(cmd) => {
                            let (tx, rx) = crossbeam_channel::bounded(1);
                            let hub = hub.clone();
                            let call: aspeed_soc::HostCall = Box::new(move |soc| {
                                let (text, stop) = control::text::run_monitor_line(soc, &hub, &cmd);
                                let _ = tx.send(text);
                                stop
                            });
                            if events.send(HostEvent::Call(call)).is_err() {
                                return;
                            }
                            wake();
                            if let Ok(reply) = rx.recv() {
                                let reply = format!("\r\n{}", reply.replace('\n', "\r\n"));
                                print_console(reply.as_bytes());
                            }
                            continue;
                        }
                    };
                    if events.send(event).is_err() {
                        return;
                    }
                    wake();
                }
            }
        });
    if let Err(e) = spawned {
        log::error!("console input thread: {e}");
    }
}

fn print_console(bytes: &[u8]) {
    let mut out = io::stdout().lock();
    let _ = out.write_all(bytes);
    let _ = out.flush();
}

/// The console writer that also feeds the control socket's hub (milestone events, and
/// `CONSOLE` events for the clients watching).
pub struct ControlTap<W: Write> {
    /// Where the console goes.
    pub inner: W,
    /// The hub.
    pub hub: std::sync::Arc<control::Hub>,
}

impl<W: Write> Write for ControlTap<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hub.console_output(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.hub.console_flush();
        self.inner.flush()
    }
}

/// The guest's console output: straight to stdout, flushed at every write.
pub struct ConsoleOut;

impl Write for ConsoleOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Standard output buffers by line; the SoC flushes after each CPU slice, so a prompt
        // without a newline appears within a slice.
        io::stdout().lock().write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stdout().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_parsed_across_chunks() {
        let mut p = EscapeParser::default();
        assert_eq!(p.feed(b"ls\r"), vec![ConsoleAction::Send(b"ls\r".to_vec())]);
        assert_eq!(p.feed(b"a\x01"), vec![ConsoleAction::Send(b"a".to_vec())]);
        assert_eq!(p.feed(b"x"), vec![ConsoleAction::Quit]);
        assert_eq!(p.feed(b"\x01h"), vec![ConsoleAction::Help]);
        assert_eq!(
            p.feed(b"\x01a\x01q"),
            vec![ConsoleAction::Send(vec![1, 1, b'q'])]
        );
        assert_eq!(
            p.feed(b"\x01cte\x7fmp 5\r"),
            vec![
                ConsoleAction::MonitorPrompt,
                ConsoleAction::MonitorEcho(b"t".to_vec()),
                ConsoleAction::MonitorEcho(b"e".to_vec()),
                ConsoleAction::MonitorEcho(b"\x08 \x08".to_vec()),
                ConsoleAction::MonitorEcho(b"m".to_vec()),
                ConsoleAction::MonitorEcho(b"p".to_vec()),
                ConsoleAction::MonitorEcho(b" ".to_vec()),
                ConsoleAction::MonitorEcho(b"5".to_vec()),
                ConsoleAction::Monitor("tmp 5".to_string()),
            ]
        );
        assert_eq!(
            p.feed(b"ok"),
            vec![ConsoleAction::Send(b"ok".to_vec())],
            "back to the guest"
        );
    }
}
