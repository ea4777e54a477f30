//! A client of an emulator's control socket (QMP-style JSON lines) that stays connected: one
//! connection per BMC serves every request of the rack and its dashboard (connecting anew for
//! each would churn through the socket's client slots). A reader thread takes the replies and
//! drops the events; a broken connection (the emulator restarted) is made again on the next
//! request.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use serde_json::{json, Value};

/// How long a request may take (a snapshot save is the slowest, about a second).
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a refused connection (every client slot taken) is tried again.
const CONNECT_RETRY: Duration = Duration::from_secs(5);

struct Connection {
    writer: UnixStream,
    replies: Receiver<Value>,
    next_id: u64,
}

/// One emulator's control socket.
pub struct Control {
    path: PathBuf,
    connection: Mutex<Option<Connection>>,
}

impl Control {
    /// The control socket at `path` (connected at the first request).
    pub fn new(path: &Path) -> Self {
        Control {
            path: path.to_path_buf(),
            connection: Mutex::new(None),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Connection>> {
        self.connection.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn connect(&self) -> Result<Connection, String> {
        let deadline = Instant::now() + CONNECT_RETRY;
        loop {
            match self.try_connect() {
                Err(e) if e.contains("too many") && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                other => return other,
            }
        }
    }

    fn try_connect(&self) -> Result<Connection, String> {
        let shown = self.path.display();
        let stream =
            UnixStream::connect(&self.path).map_err(|e| format!("control socket {shown}: {e}"))?;
        let mut reader = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
        stream
            .set_read_timeout(Some(REPLY_TIMEOUT))
            .map_err(|e| e.to_string())?;
        let mut greeting = String::new();
        reader
            .read_line(&mut greeting)
            .map_err(|e| format!("control socket {shown}: {e}"))?;
        let greeting: Value = serde_json::from_str(&greeting)
            .map_err(|e| format!("control socket {shown}: bad greeting: {e}"))?;
        if let Some(e) = greeting.get("error") {
            let desc = e["desc"].as_str().unwrap_or("refused");
            return Err(format!("control socket {shown}: {desc}"));
        }
        let _ = reader.get_ref().set_read_timeout(None);
        let (tx, replies) = crossbeam_channel::unbounded();
        std::thread::Builder::new()
            .name("rack-control".into())
            .spawn(move || {
                for line in reader.lines() {
                    let Ok(line) = line else { return };
                    let Ok(v) = serde_json::from_str::<Value>(&line) else {
                        continue;
                    };
                    // Events have no id: nobody here waits for them.
                    if v.get("id").is_some() && tx.send(v).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| format!("control socket: no thread: {e}"))?;
        Ok(Connection {
            writer: stream,
            replies,
            next_id: 1,
        })
    }

    /// Runs command `name` with `arguments`: its `return` value, or its error's description.
    pub fn execute(&self, name: &str, arguments: Value) -> Result<Value, String> {
        let mut slot = self.lock();
        // A connection the emulator closed (it restarted) fails at once: try a fresh one.
        for fresh in [false, true] {
            if fresh || slot.is_none() {
                *slot = Some(self.connect()?);
            }
            let conn = slot.as_mut().expect("connected");
            let id = conn.next_id;
            conn.next_id += 1;
            let request = json!({"execute": name, "arguments": arguments, "id": id});
            if writeln!(conn.writer, "{request}").is_err() {
                continue;
            }
            let deadline = Instant::now() + REPLY_TIMEOUT;
            loop {
                match conn
                    .replies
                    .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                {
                    Ok(v) if v.get("id") == Some(&json!(id)) => {
                        if let Some(r) = v.get("return") {
                            return Ok(r.clone());
                        }
                        let e = &v["error"];
                        return Err(e["desc"]
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| e.to_string()));
                    }
                    // A late reply to a request that timed out.
                    Ok(_) => {}
                    Err(RecvTimeoutError::Timeout) => {
                        *slot = None;
                        return Err(format!("{name}: no reply within {REPLY_TIMEOUT:?}"));
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
            if fresh {
                break;
            }
        }
        *slot = None;
        Err("the emulator closed its control socket".into())
    }
}
