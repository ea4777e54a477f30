//! `--serial`: UARTs and VUARTs other than the console connected to the host, as obmc-console
//! and a host's console line use them. On the project's image UART1 is `/dev/ttyS0`, UART2
//! `/dev/ttyS1` and VUART1 `/dev/ttyS5`. Each port carries bytes both ways: the guest writes a
//! line the host reads from the backend, the host writes a line the guest reads.

mod support;

use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::{assert_refused, login_to_default_image, Emulator, MILESTONE_TIMEOUT};

/// What a backend's host side received, read on a thread.
struct HostSide {
    writer: Box<dyn Write>,
    rx: mpsc::Receiver<Vec<u8>>,
    seen: Vec<u8>,
}

impl HostSide {
    fn new(reader: Box<dyn Read + Send>, writer: Box<dyn Write>) -> Self {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = reader;
            let mut buf = [0u8; 1024];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    return;
                }
            }
        });
        Self {
            writer,
            rx,
            seen: Vec::new(),
        }
    }

    /// Waits until the bytes received contain `needle`.
    fn expect(&mut self, needle: &[u8], what: &str) {
        let deadline = Instant::now() + MILESTONE_TIMEOUT;
        while !self.seen.windows(needle.len()).any(|w| w == needle) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(b) => self.seen.extend_from_slice(&b),
                Err(_) => panic!(
                    "{what}: waited for {:?}, got {:?}",
                    String::from_utf8_lossy(needle),
                    String::from_utf8_lossy(&self.seen)
                ),
            }
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
        self.writer.flush().unwrap();
    }
}

/// The rest of the line after `prefix` in what the emulator printed (pty names, addresses).
fn announced(emu: &mut Emulator, prefix: &str) -> String {
    emu.expect(prefix);
    emu.expect("\n").trim().to_string()
}

/// The guest opens `tty` (kept open on fd 3, raw, no echo) and writes a line; the host reads
/// it; the host writes a line and the guest reads it back.
fn both_ways(emu: &mut Emulator, host: &mut HostSide, tty: &str, tag: &str) {
    emu.send(&format!(
        "exec 3<>{tty}; stty raw -echo <&3; echo guest-to-host-{tag} >&3\r"
    ));
    host.expect(
        format!("guest-to-host-{tag}\n").as_bytes(),
        &format!("{tag} output"),
    );
    host.send(format!("host-to-guest-{tag}\n").as_bytes());
    emu.send(&format!("read -r l <&3; echo G''OT-{tag}=$l; exec 3<&-\r"));
    emu.expect(&format!("GOT-{tag}=host-to-guest-{tag}"));
    emu.expect("# ");
}

#[test]
fn a_pty_a_tcp_port_and_a_unix_socket_carry_bytes_both_ways() {
    let dir = std::env::temp_dir().join(format!("ast-emu-serial-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("vuart1.sock");
    let mut emu = Emulator::start(&[
        "--serial",
        "uart1=pty",
        "--serial",
        "2=tcp:127.0.0.1:0",
        "--serial",
        &format!("vuart1=unix:{}", sock.display()),
    ]);
    let pty = announced(&mut emu, "serial uart1: ");
    assert!(pty.starts_with("/dev/pts/"), "a pty: {pty:?}");
    let tcp = announced(&mut emu, "serial uart2: tcp ");
    assert!(tcp.starts_with("127.0.0.1:"), "on 127.0.0.1: {tcp:?}");
    emu.expect(&format!("serial vuart1: unix socket {}", sock.display()));

    let pty_file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&pty)
        .unwrap();
    let mut uart1 = HostSide::new(Box::new(pty_file.try_clone().unwrap()), Box::new(pty_file));
    let stream = std::net::TcpStream::connect(&tcp).unwrap();
    let mut uart2 = HostSide::new(Box::new(stream.try_clone().unwrap()), Box::new(stream));
    let unix = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    let mut vuart1 = HostSide::new(Box::new(unix.try_clone().unwrap()), Box::new(unix));

    login_to_default_image(&mut emu);
    both_ways(&mut emu, &mut uart1, "/dev/ttyS0", "uart1");
    both_ways(&mut emu, &mut uart2, "/dev/ttyS1", "uart2");
    both_ways(&mut emu, &mut vuart1, "/dev/ttyS5", "vuart1");

    // A new client on the socket replaces the old one and gets what follows.
    let unix = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    let mut second = HostSide::new(Box::new(unix.try_clone().unwrap()), Box::new(unix));
    // The old client's connection is closed: its reader ends.
    let deadline = Instant::now() + MILESTONE_TIMEOUT;
    loop {
        match vuart1.rx.recv_timeout(Duration::from_millis(200)) {
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            _ if Instant::now() > deadline => panic!("the first client stays connected"),
            _ => {}
        }
    }
    both_ways(&mut emu, &mut second, "/dev/ttyS5", "vuart1-again");

    emu.send("poweroff\r");
    assert_eq!(emu.wait().code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_file_gets_the_guests_output_and_bad_specs_are_refused() {
    let dir = std::env::temp_dir().join(format!("ast-emu-serial-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("uart2.log");
    std::fs::write(&file, b"kept: ").unwrap();
    let mut emu = Emulator::start(&["--serial", &format!("uart2=file:{}", file.display())]);
    login_to_default_image(&mut emu);
    emu.send("stty -F /dev/ttyS1 raw -echo; for i in 1 2 3; do echo line-$i > /dev/ttyS1; done; echo D''ONE\r");
    emu.expect("DONE");
    let deadline = Instant::now() + MILESTONE_TIMEOUT;
    loop {
        let text = std::fs::read_to_string(&file).unwrap();
        if text == "kept: line-1\nline-2\nline-3\n" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the file has the guest's lines after what it held: {text:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    emu.send("poweroff\r");
    assert_eq!(emu.wait().code(), Some(0));

    // Mistakes are reported before the machine starts, on one line, with exit status 2.
    assert_refused(&["--serial", "uart5=pty"], "is the console");
    assert_refused(&["--serial", "uart14=pty"], "no UART called");
    assert_refused(&["--serial", "uart1=modem"], "unknown serial backend");
    assert_refused(
        &["--serial", "uart1=pty", "--serial", "1=file:/dev/null"],
        "uart1 is given twice",
    );
    assert_refused(
        &["--serial", "uart1=unix:/nonexistent/dir/sock"],
        "/nonexistent/dir/sock",
    );
    let _ = std::fs::remove_dir_all(&dir);
}
