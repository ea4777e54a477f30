//! A minimal client of the control socket for the boot tests: requests, replies, events and
//! console output (CONSOLE events), each waited for with a timeout.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Generous: a boot to the login prompt on a loaded CI machine.
pub const BOOT: Duration = Duration::from_secs(400);

/// A minimal client of the control socket.
pub struct Client {
    reader: BufReader<UnixStream>,
    /// A line read in part when a read timed out.
    partial: Vec<u8>,
    writer: UnixStream,
    next_id: u64,
    /// Events read while waiting for something else.
    events: Vec<Value>,
    /// Console output (CONSOLE events) not yet matched.
    console: String,
}

impl Client {
    /// Connects and reads the greeting. A refusal because a client that just went is still
    /// counted is retried for a while.
    pub fn connect(path: &Path) -> Self {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let stream = UnixStream::connect(path).expect("connect to the control socket");
            let mut c = Client {
                reader: BufReader::new(stream.try_clone().unwrap()),
                partial: Vec::new(),
                writer: stream,
                next_id: 1,
                events: Vec::new(),
                console: String::new(),
            };
            let greeting = c.read(Duration::from_secs(30)).expect("a greeting");
            if greeting.get("error").is_some() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            assert!(
                greeting["QMP"]["version"]["package"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("ast-emu")),
                "{greeting}"
            );
            return c;
        }
    }

    /// The next line as JSON, or `None` if nothing came within `timeout`.
    pub fn read(&mut self, timeout: Duration) -> Option<Value> {
        self.reader
            .get_ref()
            .set_read_timeout(Some(timeout))
            .unwrap();
        match self.reader.read_until(b'\n', &mut self.partial) {
            Ok(0) => panic!("the emulator closed the control socket"),
            Ok(_) if self.partial.ends_with(b"\n") => {
                let line = std::mem::take(&mut self.partial);
                Some(serde_json::from_slice(&line).unwrap_or_else(|e| {
                    panic!(
                        "not JSON from the emulator ({e}): {:?}",
                        String::from_utf8_lossy(&line)
                    )
                }))
            }
            Ok(_) => panic!("the emulator closed the control socket mid-line"),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(e) => panic!("control socket: {e}"),
        }
    }

    pub fn keep(&mut self, message: Value) {
        if message["event"] == "CONSOLE" {
            self.console
                .push_str(message["data"]["data"].as_str().unwrap());
        }
        self.events.push(message);
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    /// Sends a request (with an id) and returns the reply object.
    pub fn request(&mut self, name: &str, args: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let line = json!({"execute": name, "arguments": args, "id": id}).to_string() + "\n";
        self.send_raw(line.as_bytes());
        self.reply(json!(id))
    }

    /// Reads until the reply with `id`; events are kept.
    pub fn reply(&mut self, id: Value) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no reply to request {id}");
            let Some(m) = self.read(left) else { continue };
            if m.get("event").is_some() {
                self.keep(m);
            } else if m["id"] == id {
                return m;
            } else {
                panic!("a reply to another request: {m}");
            }
        }
    }

    /// The next reply that carries no id (a request too broken to have one).
    pub fn anonymous_reply(&mut self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no reply");
            let Some(m) = self.read(left) else { continue };
            if m.get("event").is_some() {
                self.keep(m);
            } else {
                return m;
            }
        }
    }

    pub fn execute(&mut self, name: &str, args: Value) -> Value {
        let reply = self.request(name, args);
        assert!(reply.get("return").is_some(), "{name}: {reply}");
        reply["return"].clone()
    }

    pub fn error(&mut self, name: &str, args: Value) -> Value {
        let reply = self.request(name, args);
        assert!(reply.get("error").is_some(), "{name} should fail: {reply}");
        reply["error"].clone()
    }

    /// Waits for event `name` whose data matches `data` on every key it has.
    pub fn wait_event(&mut self, name: &str, data: Value, timeout: Duration) -> Value {
        let matches = |e: &Value| {
            e["event"] == name
                && data
                    .as_object()
                    .unwrap()
                    .iter()
                    .all(|(k, v)| &e["data"][k] == v)
        };
        self.read_until(timeout, &format!("no {name} {data} event"), |c| {
            let i = c.events.iter().position(matches)?;
            Some(c.events.remove(i))
        })
    }

    /// Reads messages (kept) until `found` returns something; panics with `what` and the
    /// console's tail after `timeout`.
    pub fn read_until<T>(
        &mut self,
        timeout: Duration,
        what: &str,
        mut found: impl FnMut(&mut Self) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(t) = found(self) {
                return t;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{what}; console tail: {}",
                tail(&self.console)
            );
            if let Some(m) = self.read(left) {
                self.keep(m);
            }
        }
    }

    /// Waits until the console output (CONSOLE events) holds `needle`.
    pub fn console_expect(&mut self, needle: &str, timeout: Duration) -> String {
        self.read_until(timeout, &format!("console never showed {needle:?}"), |c| {
            let end = c.console.find(needle)? + needle.len();
            Some(c.console.drain(..end).collect())
        })
    }
}

pub fn tail(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    chars[chars.len().saturating_sub(2000)..].iter().collect()
}

/// A socket path in a fresh directory of its own.
pub fn socket_path(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ast-emu-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("control.sock")
}

/// Logs in as root on the project's image through the socket (console-watch on).
pub fn login(c: &mut Client) {
    c.console_expect("login:", BOOT);
    c.execute("console-send", json!({"data": "root\r"}));
    c.console_expect("Password:", BOOT);
    c.execute("console-send", json!({"data": "ast-emu\r"}));
    c.console_expect("Enter 'help'", BOOT);
    c.execute("console-send", json!({"data": "\r"}));
    c.console_expect("# ", BOOT);
}

/// Runs `cmd` in the guest's shell and returns what it printed after `marker=` on one line.
/// The marker is written `M''=` in the command so the echoed command line never matches.
pub fn guest(c: &mut Client, marker: &str, cmd: &str) -> String {
    let (head, tail) = marker.split_at(1);
    c.execute(
        "console-send",
        json!({"data": format!("echo {head}''{tail}=$({cmd})\r")}),
    );
    c.console_expect(&format!("{marker}="), BOOT);
    let line = c.console_expect("\n", BOOT);
    line.trim().to_string()
}
