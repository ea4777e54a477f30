//! Record and replay of a deterministic run's host input (`--record FILE`, `--replay FILE`).
//!
//! In a deterministic run ([`crate::Deterministic`]) the guest does the same thing on every run
//! until the host gives it something: console bytes, bytes for another UART, network frames.
//! Those arrive at host times. Recording notes each one with the point of the run it was
//! taken at: the instructions the cores had executed in all and the virtual time. Replaying
//! feeds each back at the same point (a run's budget ends exactly at the instruction count;
//! an idle machine skips to the time), and ignores the live console and network meanwhile, so
//! the guest sees the same input at the same instruction and prints the same console.
//!
//! The file is JSON lines: a header `{"ast-emu-record":1,"seed":N,"cores":N}`, then one line
//! per input: `{"insns":I,"ns":T,"console":"HEX"}`, `{"insns":I,"ns":T,"serial":"uart1",
//! "bytes":"HEX"}`, `{"insns":I,"ns":T,"frame":MAC,"bytes":"HEX"}` (MAC 0 = MAC1) or
//! `{"insns":I,"ns":T,"command":NAME,"arguments":{..}}`: a command of the control socket, the
//! console monitor or GDB's `monitor` that changes what the guest sees (`sensor-set`,
//! `gpio-set`, `console-send`, `system-reset`, ...), fed back through the same command table.
//! Commands that only look (`query-status`, `memory-read`) are not recorded; neither are a
//! debugger's writes to registers or memory.

use std::collections::VecDeque;
use std::io::{BufRead, Write};
use std::path::Path;

use crate::SocError;

/// The format version a record file's header names.
pub const RECORD_VERSION: u64 = 1;

/// One piece of host input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Bytes typed on the console.
    Console(Vec<u8>),
    /// Bytes for the UART or VUART of this bus name.
    Serial(String, Vec<u8>),
    /// A frame for MAC `n` (0 = MAC1) from its network backend.
    Frame(usize, Vec<u8>),
    /// A command of the command table, by name, with its checked JSON arguments.
    Command(String, serde_json::Value),
}

/// Where in a run an input was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    /// Instructions all cores had executed.
    pub insns: u64,
    /// Virtual time (ns).
    pub ns: u64,
}

/// What a record file's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The random number generator's seed of the recorded run.
    pub seed: u32,
    /// Cores the recorded run had.
    pub cores: usize,
}

/// Writes what the host gives a deterministic run.
pub struct Recorder {
    out: Box<dyn Write>,
    path: String,
    failed: bool,
}

impl Recorder {
    /// Creates (or truncates) `path` and writes the header.
    pub fn create(path: &Path, header: Header) -> Result<Self, SocError> {
        let file = std::fs::File::create(path)
            .map_err(|e| SocError(format!("--record {}: {e}", path.display())))?;
        let mut r = Self {
            out: Box::new(std::io::BufWriter::new(file)),
            path: path.display().to_string(),
            failed: false,
        };
        let line = serde_json::json!({
            "ast-emu-record": RECORD_VERSION,
            "seed": header.seed,
            "cores": header.cores,
        });
        r.write_line(&line);
        if r.failed {
            return Err(SocError(format!("--record {}: cannot write", r.path)));
        }
        Ok(r)
    }

    /// Notes `input`, taken at `at`. Written at once: a run that ends badly keeps its log.
    pub fn record(&mut self, at: Point, input: &Input) {
        let mut line = serde_json::json!({ "insns": at.insns, "ns": at.ns });
        let obj = line.as_object_mut().expect("an object");
        match input {
            Input::Console(bytes) => {
                obj.insert("console".into(), hex(bytes).into());
            }
            Input::Serial(name, bytes) => {
                obj.insert("serial".into(), name.clone().into());
                obj.insert("bytes".into(), hex(bytes).into());
            }
            Input::Frame(mac, bytes) => {
                obj.insert("frame".into(), (*mac).into());
                obj.insert("bytes".into(), hex(bytes).into());
            }
            Input::Command(name, arguments) => {
                obj.insert("command".into(), name.clone().into());
                obj.insert("arguments".into(), arguments.clone());
            }
        }
        self.write_line(&line);
    }

    fn write_line(&mut self, line: &serde_json::Value) {
        if self.failed {
            return;
        }
        let result = writeln!(self.out, "{line}").and_then(|()| self.out.flush());
        if let Err(e) = result {
            log::error!("--record {}: {e}; recording stops here", self.path);
            self.failed = true;
        }
    }
}

/// Feeds a record file's input back to a deterministic run.
#[derive(Debug)]
pub struct Replayer {
    header: Header,
    inputs: VecDeque<(Point, Input)>,
    /// Live input was offered while replaying (reported once).
    ignored_live: bool,
}

impl Replayer {
    /// Reads `path`; a file that is not a record of this format version is refused.
    pub fn open(path: &Path) -> Result<Self, SocError> {
        let what = |e: String| SocError(format!("--replay {}: {e}", path.display()));
        let file = std::fs::File::open(path).map_err(|e| what(e.to_string()))?;
        let mut lines = std::io::BufReader::new(file).lines();
        let first = lines
            .next()
            .ok_or_else(|| what("empty file, not an ast-emu record".into()))?
            .map_err(|e| what(e.to_string()))?;
        let head: serde_json::Value = serde_json::from_str(&first)
            .map_err(|_| what("not an ast-emu record (its first line is not JSON)".into()))?;
        let version = head
            .get("ast-emu-record")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| what("not an ast-emu record (no \"ast-emu-record\" header)".into()))?;
        if version != RECORD_VERSION {
            return Err(what(format!(
                "a record of format {version}; this ast-emu reads format {RECORD_VERSION}"
            )));
        }
        let header = Header {
            seed: head.get("seed").and_then(|v| v.as_u64()).unwrap_or(0) as u32,
            cores: head.get("cores").and_then(|v| v.as_u64()).unwrap_or(0) as usize,
        };
        let mut inputs = VecDeque::new();
        for (n, line) in lines.enumerate() {
            let line = line.map_err(|e| what(e.to_string()))?;
            if line.trim().is_empty() {
                continue;
            }
            let entry = parse_entry(&line)
                .ok_or_else(|| what(format!("line {}: not a recorded input: {line}", n + 2)))?;
            if inputs
                .back()
                .is_some_and(|(p, _): &(Point, Input)| p.insns > entry.0.insns || p.ns > entry.0.ns)
            {
                return Err(what(format!("line {}: goes back in time", n + 2)));
            }
            inputs.push_back(entry);
        }
        Ok(Self {
            header,
            inputs,
            ignored_live: false,
        })
    }

    /// What the header says.
    pub fn header(&self) -> Header {
        self.header
    }

    /// Inputs not yet fed back.
    pub fn remaining(&self) -> usize {
        self.inputs.len()
    }

    /// The point of the next input, if any is left.
    pub fn next_point(&self) -> Option<Point> {
        self.inputs.front().map(|(p, _)| *p)
    }

    /// The next input if the run has come to its point: the same instruction count and at
    /// least its time.
    pub fn take_due(&mut self, now: Point) -> Option<Input> {
        let (p, _) = self.inputs.front()?;
        if p.insns == now.insns && p.ns <= now.ns {
            return self.inputs.pop_front().map(|(_, i)| i);
        }
        if p.insns < now.insns {
            // The run went past it (it did not replay the same way): say so once, feed it.
            log::warn!(
                "replay: input recorded at instruction {} fed at {}: the run diverged",
                p.insns,
                now.insns
            );
            return self.inputs.pop_front().map(|(_, i)| i);
        }
        None
    }

    /// Notes that live input came and was ignored (reported once).
    pub fn ignore_live(&mut self, what: &str) {
        if !self.ignored_live {
            log::warn!("replay: {what} from the host ignored while the record plays");
            self.ignored_live = true;
        }
    }
}

fn parse_entry(line: &str) -> Option<(Point, Input)> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let at = Point {
        insns: v.get("insns")?.as_u64()?,
        ns: v.get("ns")?.as_u64()?,
    };
    let bytes = |key: &str| v.get(key).and_then(|b| b.as_str()).and_then(unhex);
    let input = if let Some(b) = bytes("console") {
        Input::Console(b)
    } else if let Some(name) = v.get("serial").and_then(|s| s.as_str()) {
        Input::Serial(name.to_string(), bytes("bytes")?)
    } else if let Some(mac) = v.get("frame").and_then(|m| m.as_u64()) {
        Input::Frame(mac as usize, bytes("bytes")?)
    } else if let Some(name) = v.get("command").and_then(|c| c.as_str()) {
        let arguments = match v.get("arguments") {
            None => serde_json::json!({}),
            Some(a) if a.is_object() => a.clone(),
            Some(_) => return None,
        };
        Input::Command(name.to_string(), arguments)
    } else {
        return None;
    };
    Some((at, input))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("ast-emu-journal-{}-{name}", std::process::id()))
    }

    #[test]
    fn what_is_recorded_replays_in_order_at_its_points() {
        let path = temp("roundtrip");
        let mut r = Recorder::create(&path, Header { seed: 7, cores: 2 }).unwrap();
        let p = |insns, ns| Point { insns, ns };
        r.record(p(10, 20), &Input::Console(b"root\r".to_vec()));
        r.record(p(10, 25), &Input::Frame(0, vec![0xff, 0, 0x12]));
        r.record(p(500, 900), &Input::Serial("uart1".into(), vec![b'x']));
        let set = serde_json::json!({"bus": 8, "addr": 0x4d, "celsius": 42.5});
        r.record(
            p(700, 1000),
            &Input::Command("sensor-set".into(), set.clone()),
        );
        drop(r);
        let mut rp = Replayer::open(&path).unwrap();
        assert_eq!(rp.header(), Header { seed: 7, cores: 2 });
        assert_eq!(rp.remaining(), 4);
        assert_eq!(rp.take_due(p(9, 30)), None, "not yet at its instruction");
        assert_eq!(rp.take_due(p(10, 19)), None, "not yet at its time");
        assert_eq!(
            rp.take_due(p(10, 20)),
            Some(Input::Console(b"root\r".to_vec()))
        );
        assert_eq!(rp.take_due(p(10, 24)), None);
        assert_eq!(
            rp.take_due(p(10, 26)),
            Some(Input::Frame(0, vec![0xff, 0, 0x12]))
        );
        assert_eq!(rp.next_point(), Some(p(500, 900)));
        assert_eq!(
            rp.take_due(p(500, 900)),
            Some(Input::Serial("uart1".into(), vec![b'x']))
        );
        assert_eq!(
            rp.take_due(p(700, 1000)),
            Some(Input::Command("sensor-set".into(), set))
        );
        assert_eq!(rp.next_point(), None);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn files_that_are_not_records_of_this_format_are_refused_clearly() {
        let cases: [(&str, &str); 6] = [
            ("", "empty file"),
            ("hello\n", "not an ast-emu record"),
            ("{\"x\":1}\n", "no \"ast-emu-record\" header"),
            ("{\"ast-emu-record\":99}\n", "a record of format 99"),
            (
                "{\"ast-emu-record\":1}\n{\"insns\":1,\"ns\":1,\"console\":\"zz\"}\n",
                "line 2: not a recorded input",
            ),
            (
                "{\"ast-emu-record\":1}\n{\"insns\":1,\"ns\":1,\"command\":\"x\",\"arguments\":[1]}\n",
                "line 2: not a recorded input",
            ),
        ];
        for (i, (text, needle)) in cases.iter().enumerate() {
            let path = temp(&format!("bad{i}"));
            std::fs::write(&path, text).unwrap();
            let err = Replayer::open(&path).unwrap_err().0;
            assert!(err.contains(needle), "{text:?}: {err}");
            let _ = std::fs::remove_file(&path);
        }
        let back = temp("back");
        std::fs::write(
            &back,
            "{\"ast-emu-record\":1}\n{\"insns\":5,\"ns\":5,\"console\":\"61\"}\n{\"insns\":4,\"ns\":6,\"console\":\"61\"}\n",
        )
        .unwrap();
        assert!(Replayer::open(&back)
            .unwrap_err()
            .0
            .contains("goes back in time"));
        let _ = std::fs::remove_file(&back);
    }
}
