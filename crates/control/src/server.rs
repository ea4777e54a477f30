//! The control socket: `--control unix:PATH` or `--control tcp:127.0.0.1:PORT`.
//!
//! Newline-delimited JSON in QMP's shape. On connecting, a client reads a greeting
//! `{"QMP": {"version": {...}, "capabilities": []}}`; then it sends requests
//! `{"execute": NAME, "arguments": {...}, "id": ANY}` and reads `{"return": VALUE, "id": ...}`
//! or `{"error": {"class": ..., "desc": ...}, "id": ...}`, with events (see [`crate::events`])
//! in between. Requests are answered in order, one at a time per client; several clients (up
//! to [`MAX_CLIENTS`]) are served at once, and one more is told so and closed.
//!
//! Each client has a reader thread (which parses and checks a request before it goes to the
//! SoC's thread as a [`HostEvent::Call`], so malformed input never reaches it) and a writer
//! thread (so a slow client never holds up the SoC). Lines longer than [`MAX_LINE`] bytes,
//! bad JSON, unknown commands and bad arguments get an error and the connection stays usable;
//! a client that disconnects mid-line leaves nothing behind.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aspeed_soc::HostEvent;
use crossbeam_channel::Sender;
use serde_json::{json, Value};

use crate::commands::{version, COMMANDS};
use crate::events::Hub;
use crate::table::{self, Command, CommandError, Context, ErrorClass};

/// The longest request line taken, in bytes; a longer one is answered with an error.
pub const MAX_LINE: usize = 64 * 1024;

/// Clients served at once.
pub const MAX_CLIENTS: usize = 8;

/// Where the control socket listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlAddress {
    /// A Unix socket at this path (created with mode 0600).
    Unix(PathBuf),
    /// A TCP port on a loopback address.
    Tcp(SocketAddr),
}

impl ControlAddress {
    /// `unix:PATH` or `tcp:HOST:PORT` with a loopback HOST (`tcp::PORT` is 127.0.0.1).
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(path) = text.strip_prefix("unix:") {
            if path.is_empty() {
                return Err("unix: needs a path (unix:/run/ast-emu.sock)".into());
            }
            return Ok(ControlAddress::Unix(PathBuf::from(path)));
        }
        let Some(rest) = text.strip_prefix("tcp:") else {
            return Err(format!(
                "{text:?}: expected unix:PATH or tcp:127.0.0.1:PORT"
            ));
        };
        let rest = if rest.starts_with(':') {
            format!("127.0.0.1{rest}")
        } else {
            rest.to_string()
        };
        let addr = rest
            .to_socket_addrs()
            .map_err(|e| format!("{text:?}: {e}"))?
            .next()
            .ok_or_else(|| format!("{text:?}: no address"))?;
        if !addr.ip().is_loopback() {
            return Err(format!(
                "{text:?}: the control socket listens on a loopback address only (127.0.0.1, \
                 ::1) or a Unix socket: it has no authentication"
            ));
        }
        Ok(ControlAddress::Tcp(addr))
    }
}

enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

/// A bound control socket, not yet serving.
pub struct ControlServer {
    listener: Listener,
    address: String,
    /// Removes a Unix socket's file if the server is dropped before it serves.
    file: SocketFile,
}

/// Removes the Unix socket's file when dropped (the emulator exits).
pub struct SocketFile(Option<PathBuf>);

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl ControlServer {
    /// Binds `address`. A Unix socket is created with mode 0600; a stale socket file left by
    /// an emulator that is gone is replaced, but a live one or any other file is refused.
    pub fn bind(address: &ControlAddress) -> Result<Self, String> {
        match address {
            ControlAddress::Unix(path) => {
                prepare_unix_path(path)?;
                // The socket's mode comes from the umask at bind time: only the owner may
                // connect, from the first instant.
                // SAFETY: umask only swaps the process's file-creation mask.
                let old = unsafe { libc::umask(0o177) };
                let bound = UnixListener::bind(path);
                // SAFETY: as above, restoring it.
                unsafe { libc::umask(old) };
                let listener = bound.map_err(|e| format!("{}: {e}", path.display()))?;
                Ok(Self {
                    listener: Listener::Unix(listener),
                    address: format!("unix:{}", path.display()),
                    file: SocketFile(Some(path.clone())),
                })
            }
            ControlAddress::Tcp(addr) => {
                let listener = TcpListener::bind(addr).map_err(|e| format!("tcp:{addr}: {e}"))?;
                let local = listener.local_addr().map_err(|e| e.to_string())?;
                Ok(Self {
                    listener: Listener::Tcp(listener),
                    address: format!("tcp:{local}"),
                    file: SocketFile(None),
                })
            }
        }
    }

    /// Where it listens (`unix:PATH`, or `tcp:127.0.0.1:PORT` with the port chosen).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Serves clients on their own threads. Requests go to the SoC's thread as
    /// [`HostEvent::Call`] on `events`, followed by `wake()` (so a running CPU looks). The
    /// returned guard removes a Unix socket's file when dropped.
    pub fn spawn(
        self,
        hub: Arc<Hub>,
        events: Sender<HostEvent>,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> std::io::Result<SocketFile> {
        let ControlServer { listener, file, .. } = self;
        std::thread::Builder::new()
            .name("control-accept".into())
            .spawn(move || match listener {
                Listener::Unix(l) => {
                    for stream in l.incoming().flatten() {
                        let Ok(clone) = stream.try_clone() else {
                            continue;
                        };
                        accept(stream, clone, &hub, &events, &wake);
                    }
                }
                Listener::Tcp(l) => {
                    for stream in l.incoming().flatten() {
                        let _ = stream.set_nodelay(true);
                        let Ok(clone) = stream.try_clone() else {
                            continue;
                        };
                        accept(stream, clone, &hub, &events, &wake);
                    }
                }
            })?;
        Ok(file)
    }
}

/// Checks that `path` can become the socket: absent, or a socket nobody listens on any more.
fn prepare_unix_path(path: &Path) -> Result<(), String> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    if !meta.file_type().is_socket() {
        return Err(format!(
            "{}: exists and is not a socket; not replacing it",
            path.display()
        ));
    }
    if UnixStream::connect(path).is_ok() {
        return Err(format!(
            "{}: another program (an emulator?) is listening there",
            path.display()
        ));
    }
    std::fs::remove_file(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Anything a client connects with.
trait Stream: Read + Write + Send + 'static {
    fn close(&self);
}

impl Stream for UnixStream {
    fn close(&self) {
        let _ = self.shutdown(std::net::Shutdown::Both);
    }
}

impl Stream for TcpStream {
    fn close(&self) {
        let _ = self.shutdown(std::net::Shutdown::Both);
    }
}

fn accept<S: Stream>(
    reader: S,
    mut writer: S,
    hub: &Arc<Hub>,
    events: &Sender<HostEvent>,
    wake: &Arc<dyn Fn() + Send + Sync>,
) {
    if hub.client_count() >= MAX_CLIENTS {
        let refusal = json!({"error": {"class": "GenericError", "desc": format!(
            "too many control clients ({MAX_CLIENTS} are connected); try again later"
        )}});
        let _ = writeln!(writer, "{refusal}");
        writer.close();
        return;
    }
    let greeting = json!({"QMP": {"version": version(), "capabilities": []}}).to_string();
    let (id, queue) = hub.add_client(greeting);
    let spawned = std::thread::Builder::new()
        .name(format!("control-write-{id}"))
        .spawn(move || {
            queue.write_all(&mut writer);
            writer.close();
        });
    if spawned.is_err() {
        hub.remove_client(id);
        return;
    }
    let (hub, events, wake) = (hub.clone(), events.clone(), wake.clone());
    let spawned = std::thread::Builder::new()
        .name(format!("control-read-{id}"))
        .spawn(move || {
            let client = ClientReader {
                id,
                hub: hub.clone(),
                events,
                wake,
            };
            client.read_all(reader);
            hub.remove_client(id);
        });
    if spawned.is_err() {
        // The reader owns the stream; without it the client cannot be served.
        log::error!("control: cannot start a reader thread");
    }
}

struct ClientReader {
    id: u64,
    hub: Arc<Hub>,
    events: Sender<HostEvent>,
    wake: Arc<dyn Fn() + Send + Sync>,
}

impl ClientReader {
    /// Reads requests until the client goes; a partial last line is dropped.
    fn read_all<S: Stream>(&self, mut stream: S) {
        let mut line = Vec::new();
        let mut too_long = false;
        let mut buf = [0u8; 4096];
        loop {
            let n = match stream.read(&mut buf) {
                Ok(0) | Err(_) => {
                    stream.close();
                    return;
                }
                Ok(n) => n,
            };
            for &b in &buf[..n] {
                if b == b'\n' {
                    if too_long {
                        self.reply_error(
                            None,
                            CommandError::generic(format!(
                                "request longer than {MAX_LINE} bytes; ignored"
                            )),
                        );
                        too_long = false;
                    } else if !self.request(&line) {
                        stream.close();
                        return;
                    }
                    line.clear();
                } else if !too_long {
                    line.push(b);
                    if line.len() > MAX_LINE {
                        too_long = true;
                        line = Vec::new();
                    }
                }
            }
        }
    }

    fn reply(&self, id: Option<&Value>, mut body: Value) {
        if let (Some(id), Value::Object(map)) = (id, &mut body) {
            map.insert("id".into(), id.clone());
        }
        self.hub.send_to(self.id, body.to_string());
    }

    fn reply_error(&self, id: Option<&Value>, e: CommandError) {
        self.reply(id, json!({"error": e.to_json()}));
    }

    /// Answers one request line; false when the emulator is going away.
    fn request(&self, line: &[u8]) -> bool {
        let text = line.trim_ascii();
        if text.is_empty() {
            return true;
        }
        let value: Value = match serde_json::from_slice(text) {
            Ok(v) => v,
            Err(e) => {
                self.reply_error(
                    None,
                    CommandError::generic(format!("JSON parse error: {e}")),
                );
                return true;
            }
        };
        let Value::Object(request) = value else {
            self.reply_error(
                None,
                CommandError::generic(format!(
                    "a request is a JSON object, not {}",
                    table::json_kind(&value)
                )),
            );
            return true;
        };
        let id = request.get("id").cloned();
        let checked = check_request(&request).and_then(|command| {
            command
                .check(request.get("arguments"))
                .map(|args| (command, args))
        });
        let (command, args) = match checked {
            Ok(found) => found,
            Err(e) => {
                self.reply_error(id.as_ref(), e);
                return true;
            }
        };
        let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(1);
        let hub = self.hub.clone();
        let client = self.id;
        let call: aspeed_soc::HostCall = Box::new(move |soc| {
            // The answer, now or (for a command that takes the responder) later.
            let respond = {
                let hub = hub.clone();
                move |result: Result<Value, CommandError>| {
                    let mut body = match result {
                        Ok(value) => json!({"return": value}),
                        Err(e) => json!({"error": e.to_json()}),
                    };
                    if let (Some(id), Value::Object(map)) = (id, &mut body) {
                        map.insert("id".into(), id);
                    }
                    hub.send_to(client, body.to_string());
                    let _ = done_tx.send(());
                }
            };
            let mut ctx = Context {
                soc,
                hub: &hub,
                client: Some(client),
                stop: None,
                responder: Some(Box::new(respond)),
            };
            let result = table::execute(&mut ctx, command, &args);
            if let Some(respond) = ctx.responder.take() {
                respond(result);
            }
            ctx.stop
        });
        if self.events.send(HostEvent::Call(call)).is_err() {
            return false;
        }
        (self.wake)();
        // One request at a time: the next is read once this one is answered. An error here
        // means the run loop ended without running it (the emulator is exiting).
        done_rx.recv().is_ok()
    }
}

/// The command a request object names, if its members are right.
fn check_request(
    request: &serde_json::Map<String, Value>,
) -> Result<&'static Command, CommandError> {
    if let Some(key) = request
        .keys()
        .find(|k| !matches!(k.as_str(), "execute" | "arguments" | "id"))
    {
        return Err(CommandError::generic(format!(
            "QMP input member {key:?} is unexpected (a request has execute, arguments, id)"
        )));
    }
    let name = match request.get("execute") {
        Some(Value::String(name)) => name,
        Some(other) => {
            return Err(CommandError::generic(format!(
                "\"execute\" must be a string, not {}",
                table::json_kind(other)
            )))
        }
        None => {
            return Err(CommandError::generic(
                "a request needs \"execute\": the command's name",
            ))
        }
    };
    COMMANDS
        .iter()
        .find(|c| c.name == name || c.aliases.iter().any(|a| a == name && !a.contains(' ')))
        .ok_or_else(|| CommandError {
            class: ErrorClass::CommandNotFound,
            desc: format!("the command {name} has not been found (query-commands lists them)"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_unix_paths_or_loopback_ports() {
        assert_eq!(
            ControlAddress::parse("unix:/tmp/a.sock"),
            Ok(ControlAddress::Unix("/tmp/a.sock".into()))
        );
        assert_eq!(
            ControlAddress::parse("tcp::4444"),
            Ok(ControlAddress::Tcp("127.0.0.1:4444".parse().unwrap()))
        );
        assert_eq!(
            ControlAddress::parse("tcp:[::1]:0"),
            Ok(ControlAddress::Tcp("[::1]:0".parse().unwrap()))
        );
        assert!(ControlAddress::parse("tcp:0.0.0.0:4444")
            .unwrap_err()
            .contains("loopback"));
        assert!(ControlAddress::parse("unix:").is_err());
        assert!(ControlAddress::parse("/tmp/a.sock").is_err());
    }

    #[test]
    fn requests_need_a_known_command_and_no_stray_members() {
        let obj = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            check_request(&obj(json!({"execute": "query-status", "id": 1})))
                .unwrap()
                .name,
            "query-status"
        );
        // QMP's own name for system-reset.
        assert_eq!(
            check_request(&obj(json!({"execute": "system_reset"})))
                .unwrap()
                .name,
            "system-reset"
        );
        let e = check_request(&obj(json!({"execute": "nope"}))).unwrap_err();
        assert_eq!(e.class, ErrorClass::CommandNotFound);
        assert!(check_request(&obj(json!({"execute": 3}))).is_err());
        assert!(check_request(&obj(json!({"arguments": {}}))).is_err());
        assert!(check_request(&obj(json!({"execute": "quit", "extra": 1})))
            .unwrap_err()
            .desc
            .contains("\"extra\""));
        // Text-only aliases with a space are not request names.
        assert!(check_request(&obj(json!({"execute": "info registers"}))).is_err());
    }

    #[test]
    fn arguments_are_checked_against_the_table() {
        let set = Command::find(COMMANDS, "sensor-set").unwrap();
        assert!(set
            .check(Some(&json!({"bus": 8, "addr": 77, "celsius": 55.0})))
            .is_ok());
        let bad = |v: Value| set.check(Some(&v)).unwrap_err().desc;
        assert!(bad(json!({"bus": "8", "addr": 77, "celsius": 55})).contains("must be an integer"));
        assert!(bad(json!({"bus": 16, "addr": 77, "celsius": 55})).contains("out of range"));
        assert!(bad(json!({"bus": 8, "addr": 77})).contains("missing argument \"celsius\""));
        assert!(bad(json!({"bus": 8, "addr": 77, "celsius": 1, "x": 1})).contains("unexpected"));
        assert!(bad(json!({"bus": 1e300, "addr": 77, "celsius": 1})).contains("must be an integer"));
        assert!(bad(json!([1, 2])).contains("must be an object"));
        assert!(bad(json!({"bus": 8, "addr": 77, "celsius": "hot"})).contains("must be a number"));
    }

    #[test]
    fn a_tcp_socket_reports_the_port_it_got() {
        let server = ControlServer::bind(&ControlAddress::parse("tcp::0").unwrap()).unwrap();
        let port: u16 = server
            .address()
            .strip_prefix("tcp:127.0.0.1:")
            .unwrap()
            .parse()
            .unwrap();
        assert_ne!(port, 0);
    }

    #[test]
    fn a_unix_socket_is_private_and_a_foreign_file_is_left_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("control-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ctl.sock");
        let _ = std::fs::remove_file(&path);
        let server = ControlServer::bind(&ControlAddress::Unix(path.clone())).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // Live: a second emulator may not take it over.
        assert!(ControlServer::bind(&ControlAddress::Unix(path.clone()))
            .err()
            .unwrap()
            .contains("listening"));
        drop(server);
        // Stale (nobody listens): replaced.
        let again = ControlServer::bind(&ControlAddress::Unix(path.clone()));
        assert!(again.is_ok());
        drop(again);
        let file = dir.join("notes.txt");
        std::fs::write(&file, "mine").unwrap();
        assert!(ControlServer::bind(&ControlAddress::Unix(file.clone()))
            .err()
            .unwrap()
            .contains("not a socket"));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
