//! A small client of an emulator's control socket (QMP-style JSON lines): one request, its
//! reply, events skipped.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

/// How long a request may take (a snapshot save is the slowest, about a second).
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs command `name` with `arguments` on the emulator whose control socket is `socket`:
/// its `return` value, or its error's description.
pub fn execute(socket: &Path, name: &str, arguments: Value) -> Result<Value, String> {
    let stream = UnixStream::connect(socket)
        .map_err(|e| format!("control socket {}: {e}", socket.display()))?;
    stream
        .set_read_timeout(Some(REPLY_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    let mut next = |reader: &mut BufReader<UnixStream>| -> Result<Value, String> {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => Err("the emulator closed its control socket".to_string()),
            Ok(_) => serde_json::from_str(&line).map_err(|e| format!("bad reply {line:?}: {e}")),
            Err(e) => Err(format!("control socket: {e}")),
        }
    };
    let greeting = next(&mut reader)?;
    if let Some(e) = greeting.get("error") {
        return Err(format!("control socket refused the connection: {e}"));
    }
    let request = json!({"execute": name, "arguments": arguments, "id": 1});
    writeln!(writer, "{request}").map_err(|e| format!("control socket: {e}"))?;
    loop {
        let v = next(&mut reader)?;
        if v.get("id") != Some(&json!(1)) {
            continue;
        }
        if let Some(r) = v.get("return") {
            return Ok(r.clone());
        }
        let e = &v["error"];
        return Err(e["desc"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| e.to_string()));
    }
}
