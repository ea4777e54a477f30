//! Drives the `ast-emu` binary like a user at the console: start it, wait for console text,
//! type, quit. Shared by the boot tests.
#![allow(dead_code)]

pub mod client;
pub mod podman;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Generous: boot tests wait for milestones, they do not time them.
pub const MILESTONE_TIMEOUT: Duration = Duration::from_secs(240);

/// The reference images, when `../shared/firmware` is there.
pub fn shared_image(name: &str) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/firmware");
    let p = root.join(name);
    if p.is_file() {
        Some(p)
    } else {
        eprintln!(
            "SKIPPED: {} not found (the reference images live in ../shared/firmware)",
            p.display()
        );
        None
    }
}

#[derive(Default)]
struct Output {
    text: String,
    /// Both stdout and stderr reached their end (the emulator is gone).
    closed: bool,
    /// How many of the two streams reached their end.
    ended: u8,
}

/// A running emulator with its console.
pub struct Emulator {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<(Mutex<Output>, Condvar)>,
    cursor: usize,
}

impl Emulator {
    /// Starts `ast-emu` with `args`.
    pub fn start(args: &[&str]) -> Self {
        Self::start_wrapped(&[], args)
    }

    /// Starts `ast-emu` with `args` under a wrapper command (`ip netns exec NS`).
    pub fn start_wrapped(wrapper: &[&str], args: &[&str]) -> Self {
        let emu = env!("CARGO_BIN_EXE_ast-emu");
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(emu);
                c
            }
            None => Command::new(emu),
        };
        let mut child = command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ast-emu");
        let out = Arc::new((Mutex::new(Output::default()), Condvar::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let out = out.clone();
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                loop {
                    let n = stream.read(&mut buf).unwrap_or(0);
                    let (lock, cv) = &*out;
                    let mut o = lock.lock().unwrap();
                    if n == 0 {
                        // Closed once both streams are done: stderr's last words may come
                        // after stdout's end.
                        o.ended += 1;
                        o.closed = o.ended == 2;
                        cv.notify_all();
                        return;
                    }
                    o.text.push_str(&String::from_utf8_lossy(&buf[..n]));
                    cv.notify_all();
                }
            });
        }
        let stdin = child.stdin.take();
        Emulator {
            child,
            stdin,
            out,
            cursor: 0,
        }
    }

    /// Waits until `needle` appears after everything already matched; returns the text up
    /// to and including it. Panics with the console so far on timeout.
    pub fn expect(&mut self, needle: &str) -> String {
        self.expect_within(needle, MILESTONE_TIMEOUT)
    }

    /// As [`Emulator::expect`], with its own timeout.
    pub fn expect_within(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.out;
        let mut o = lock.lock().unwrap();
        loop {
            if let Some(pos) = o.text[self.cursor..].find(needle) {
                let end = self.cursor + pos + needle.len();
                let seen = o.text[self.cursor..end].to_string();
                self.cursor = end;
                return seen;
            }
            let now = Instant::now();
            if now >= deadline || o.closed {
                let tail: String = o
                    .text
                    .chars()
                    .rev()
                    .take(3000)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                panic!(
                    "waited for {needle:?} ({}); console tail:\n{tail}",
                    if o.closed {
                        "the emulator exited"
                    } else {
                        "timed out"
                    }
                );
            }
            o = cv.wait_timeout(o, deadline - now).unwrap().0;
        }
    }

    /// The emulator's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the emulator printed so far.
    pub fn transcript(&self) -> String {
        self.out.0.lock().unwrap().text.clone()
    }

    /// Types `text` on the console.
    pub fn send(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Quits through the console escape and returns the exit status.
    pub fn quit(mut self) -> ExitStatus {
        self.send("\x01x");
        self.wait()
    }

    /// Waits for the emulator to exit.
    pub fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "ast-emu did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first `n` bytes of a raw or .xz image.
pub fn image_head(path: &Path, n: usize) -> Vec<u8> {
    let mut child = Command::new("xz")
        .args(["-dc"])
        .arg(path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut buf = vec![0; n];
    child.stdout.take().unwrap().read_exact(&mut buf).unwrap();
    // Closing the pipe ends xz early; reap it.
    let _ = child.kill();
    let _ = child.wait();
    buf
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether `tool` is on the PATH.
pub fn have(tool: &str) -> bool {
    Command::new("which")
        .arg(tool)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Runs `cmd` until it succeeds (a server may still be starting), up to `limit`.
pub fn retry_until_ok(
    limit: Duration,
    mut cmd: impl FnMut() -> std::process::Output,
) -> std::process::Output {
    let deadline = Instant::now() + limit;
    loop {
        let out = cmd();
        if out.status.success() || Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Runs ast-emu with `option PATH` (stdin empty) to its exit; returns (exit code, stderr).
pub fn run_to_exit(option: &str, path: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ast-emu"))
        .arg(option)
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// ast-emu with `option PATH` exits with code 2 and one line on stderr that says `needle`,
/// without a panic.
pub fn assert_clear_error(option: &str, path: &Path, needle: &str) {
    let (code, stderr) = run_to_exit(option, path);
    assert_eq!(code, 2, "exit code for {}: {stderr}", path.display());
    assert!(!stderr.contains("panicked"), "no panic: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr:?}");
    assert!(stderr.contains(needle), "{stderr:?} should say {needle:?}");
}

/// ast-emu with `args` (stdin empty) is refused before the machine starts: exit code 2, a
/// message naming `needle` on stderr, no panic.
pub fn assert_refused(args: &[&str], needle: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_ast-emu"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(
        stderr.contains(needle),
        "{args:?}: {stderr:?} names {needle:?}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Logs in as root on the project's image (firmware-fixtures: password `ast-emu`), from boot to
/// the shell prompt.
pub fn login_to_default_image(emu: &mut Emulator) {
    emu.expect("AST-EMU-READY");
    emu.expect("login:");
    emu.send("root\r");
    emu.expect("Password:");
    emu.send("ast-emu\r");
    emu.expect("root login on");
    emu.expect("Enter 'help'");
    emu.send("\r");
    emu.expect("# ");
}

/// OpenSSH options for a throwaway guest: no host-key checks or records, errors only.
pub const SSH_OPTIONS: [&str; 8] = [
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "ConnectTimeout=20",
];

/// Runs `cmd` as root on 127.0.0.1:`port` over SSH with `password` (sshpass).
pub fn ssh(port: u16, password: &str, cmd: &str) -> std::process::Output {
    Command::new("sshpass")
        .args(["-p", password, "ssh"])
        .args(SSH_OPTIONS)
        .args(["-p", &port.to_string(), "root@127.0.0.1", cmd])
        .output()
        .unwrap()
}

/// A board's test image: (path, whether its device tree has rofs/rwfs partitions).
pub fn board_image(b: &aspeed_soc::board::Board) -> (PathBuf, bool) {
    let dtb = b
        .linux_dtb
        .as_deref()
        .unwrap_or_else(|| panic!("{} names no linux-dtb for its boot test", b.name));
    let size = aspeed_soc::flash_sizes(b).unwrap()[0];
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = root.join(format!("target/board-fixtures/images/{}.img", b.name));
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let made = Command::new(root.join("firmware-fixtures/board-image"))
        .args(["--dtb", dtb, "--size", &size.to_string(), "--out"])
        .arg(&out)
        .output()
        .expect("run firmware-fixtures/board-image");
    let said = String::from_utf8_lossy(&made.stdout).into_owned();
    assert!(
        made.status.success(),
        "board-image for {}: {said}{}",
        b.name,
        String::from_utf8_lossy(&made.stderr)
    );
    (out, !said.contains("rescue shell"))
}

/// A 64 MiB ext4 image `dir/sd.img` holding `hello.txt` ("hello from the host"), made with
/// `mkfs.ext4 -d` (e2fsprogs, which `make deps` installs).
pub fn ext4_image(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("hello.txt"), "hello from the host\n").unwrap();
    let img = dir.join("sd.img");
    let out = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", "ast-emu-sd", "-d"])
        .arg(&root)
        .arg(&img)
        .arg("64M")
        .output()
        .unwrap();
    assert!(out.status.success(), "mkfs.ext4: {out:?}");
    img
}
