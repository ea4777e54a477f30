//! Events for control-socket clients: console milestones, resets, power-off, stop/resume,
//! console output, in QMP's shape: `{"event": NAME, "data": {...}, "timestamp":
//! {"virtual_ns": N, "wall": {"seconds": S, "microseconds": U}}}`.
//!
//! The [`Hub`] is shared by the SoC's thread (which reports what happens) and the socket's
//! threads (which add and remove clients). Sending never blocks: each client has a queue its
//! own writer thread drains; a client that stops reading loses events past
//! [`Hub::QUEUE_LIMIT`] (logged), never replies.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use aspeed_soc::{ResetCause, VirtualClock};
use crossbeam_channel::{Receiver, Sender};
use serde_json::{json, Value};

/// A console line that marks a stage of a boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Milestone {
    /// Its name in `MILESTONE` events (`login`).
    pub name: &'static str,
    /// How `--timeline` labels it.
    pub label: &'static str,
    /// The console text that marks it.
    pub marker: &'static str,
}

/// The milestones of a boot, in the order they appear: the `--timeline` ones.
pub const MILESTONES: &[Milestone] = &[
    Milestone {
        name: "u-boot",
        label: "u-boot banner",
        marker: "U-Boot ",
    },
    Milestone {
        name: "starting-kernel",
        label: "Starting kernel",
        marker: "Starting kernel",
    },
    Milestone {
        name: "linux-version",
        label: "Linux version",
        marker: "Linux version",
    },
    Milestone {
        name: "ready",
        label: "ready line",
        marker: "-READY",
    },
    Milestone {
        name: "login",
        label: "login prompt",
        marker: "login:",
    },
];

/// Finds milestones in a stream of console output, each once per boot.
#[derive(Debug, Default)]
pub struct MilestoneScanner {
    /// The end of the output so far, so a marker split across writes is still found.
    tail: Vec<u8>,
    /// Which of [`MILESTONES`] this boot has shown (by index).
    seen: Vec<usize>,
}

impl MilestoneScanner {
    /// Bytes kept between writes: more than the longest marker.
    const KEEP: usize = 32;

    /// The milestones `bytes` completes that this boot had not shown yet, in table order.
    pub fn scan(&mut self, bytes: &[u8]) -> Vec<&'static Milestone> {
        let mut found = Vec::new();
        for chunk in bytes.chunks(Self::KEEP) {
            self.tail.extend_from_slice(chunk);
            for (i, m) in MILESTONES.iter().enumerate() {
                if self.seen.contains(&i) {
                    continue;
                }
                if self
                    .tail
                    .windows(m.marker.len())
                    .any(|w| w == m.marker.as_bytes())
                {
                    self.seen.push(i);
                    found.push(m);
                }
            }
            if self.tail.len() > Self::KEEP {
                self.tail.drain(..self.tail.len() - Self::KEEP);
            }
        }
        found
    }

    /// A new boot: every milestone may appear again.
    pub fn restart(&mut self) {
        self.seen.clear();
        self.tail.clear();
    }
}

struct Client {
    id: u64,
    tx: Sender<String>,
    /// Lines queued or being written.
    unwritten: Arc<AtomicUsize>,
    /// Whether it asked for console output (`console-watch`).
    console: bool,
    /// Events it lost because its queue was full.
    lost: u64,
}

#[derive(Default)]
struct State {
    clients: Vec<Client>,
    scanner: MilestoneScanner,
    /// (name, virtual ns, event line) of the milestones of this boot: the lines are sent
    /// again to a client that connects later.
    seen: Vec<(&'static str, u64, String)>,
    /// Console output not yet sent to watchers (sent at each flush).
    console: Vec<u8>,
    resets: u64,
}

/// The host side of the control socket: its clients, and what has happened.
pub struct Hub {
    started: Instant,
    clock: Mutex<Option<VirtualClock>>,
    state: Mutex<State>,
    next_id: AtomicU64,
}

impl Hub {
    /// Events queued for one client beyond which further ones are dropped for it.
    pub const QUEUE_LIMIT: usize = 4096;
    /// Console output kept for watchers between two flushes beyond which it is cut.
    const CONSOLE_LIMIT: usize = 64 * 1024;

    /// A hub with no clients; uptime counts from now.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            started: Instant::now(),
            clock: Mutex::new(None),
            state: Mutex::new(State::default()),
            next_id: AtomicU64::new(1),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere leaves plain data behind: keep using it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The guest's clock, for event timestamps (known once the SoC exists).
    pub fn set_clock(&self, clock: VirtualClock) {
        *self.clock.lock().unwrap_or_else(|e| e.into_inner()) = Some(clock);
    }

    /// Virtual time now, in ns (0 before the clock is known).
    pub fn virtual_ns(&self) -> u64 {
        self.clock
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map_or(0, VirtualClock::now_ns)
    }

    /// Wall time since the hub was made (the emulator started), in seconds.
    pub fn uptime_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// A new client whose first line is `greeting`: its id and the queue of lines (replies
    /// and events) to write to it.
    pub fn add_client(&self, greeting: String) -> (u64, ClientQueue) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = crossbeam_channel::unbounded();
        let unwritten = Arc::new(AtomicUsize::new(0));
        let client = Client {
            id,
            tx,
            unwritten: unwritten.clone(),
            console: false,
            lost: 0,
        };
        client.send(greeting);
        let mut state = self.state();
        // This boot's milestones so far, so a client that connects late need not race them.
        for (_, _, line) in &state.seen {
            client.send(line.clone());
        }
        state.clients.push(client);
        drop(state);
        (id, ClientQueue { rx, unwritten })
    }

    /// Waits until every line queued for the clients has been written, or `timeout` passes
    /// (at exit: the `quit` reply and the `SHUTDOWN` event go out first).
    pub fn drain(&self, timeout: std::time::Duration) {
        let until = Instant::now() + timeout;
        loop {
            let pending: usize = self
                .state()
                .clients
                .iter()
                .map(|c| c.unwritten.load(Ordering::Acquire))
                .sum();
            if pending == 0 || Instant::now() >= until {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// The client is gone: no more events for it.
    pub fn remove_client(&self, id: u64) {
        self.state().clients.retain(|c| c.id != id);
    }

    /// How many clients are connected.
    pub fn client_count(&self) -> usize {
        self.state().clients.len()
    }

    /// Queues `line` (a reply) for client `id`; replies are never dropped.
    pub fn send_to(&self, id: u64, line: String) {
        if let Some(c) = self.state().clients.iter().find(|c| c.id == id) {
            c.send(line);
        }
    }

    /// Sends console output to client `id` (`console-watch`) or stops.
    pub fn set_console_watch(&self, id: u64, on: bool) -> bool {
        match self.state().clients.iter_mut().find(|c| c.id == id) {
            Some(c) => {
                c.console = on;
                true
            }
            None => false,
        }
    }

    /// The event line for `name` with `data`, stamped now.
    pub fn event_line(&self, name: &str, data: Value) -> String {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        json!({
            "event": name,
            "data": data,
            "timestamp": {
                "virtual_ns": self.virtual_ns(),
                "wall": {"seconds": wall.as_secs(), "microseconds": wall.subsec_micros()},
            },
        })
        .to_string()
    }

    /// Sends event `name` to every client.
    pub fn emit(&self, name: &str, data: Value) {
        let line = self.event_line(name, data);
        let mut state = self.state();
        broadcast(&mut state.clients, &line, |_| true);
    }

    /// Console output from the guest: milestones are looked for, and it is kept for the
    /// clients watching the console until [`Hub::console_flush`].
    pub fn console_output(&self, bytes: &[u8]) {
        let found = {
            let mut state = self.state();
            if state.clients.iter().any(|c| c.console)
                && state.console.len() + bytes.len() <= Self::CONSOLE_LIMIT
            {
                state.console.extend_from_slice(bytes);
            }
            state.scanner.scan(bytes)
        };
        for m in found {
            let now = self.virtual_ns();
            let mut state = self.state();
            let boot = state.resets;
            let line = self.event_line(
                "MILESTONE",
                json!({"name": m.name, "label": m.label, "boot": boot}),
            );
            state.seen.push((m.name, now, line.clone()));
            broadcast(&mut state.clients, &line, |_| true);
        }
    }

    /// Sends the console output kept since the last flush to the clients watching it, as one
    /// `CONSOLE` event (the SoC flushes its console once per CPU slice).
    pub fn console_flush(&self) {
        let mut state = self.state();
        if state.console.is_empty() {
            return;
        }
        let bytes = std::mem::take(&mut state.console);
        drop(state);
        let line = self.event_line("CONSOLE", json!({"data": String::from_utf8_lossy(&bytes)}));
        let mut state = self.state();
        broadcast(&mut state.clients, &line, |c| c.console);
    }

    /// The SoC was reset: `WATCHDOG` (when a watchdog did it) and `RESET` events; the
    /// milestones start over.
    pub fn reset(&self, cause: ResetCause) {
        {
            let mut state = self.state();
            state.resets += 1;
            state.seen.clear();
            state.scanner.restart();
        }
        match cause {
            ResetCause::Watchdog => {
                self.emit("WATCHDOG", json!({"action": "reset"}));
                self.emit("RESET", json!({"guest": true, "reason": "watchdog"}));
            }
            ResetCause::Host => {
                self.emit(
                    "RESET",
                    json!({"guest": false, "reason": "host-qmp-system-reset"}),
                );
            }
        }
    }

    /// Reports what the SoC tells the host: resets ([`Hub::reset`]), `GPIO_OUTPUT`,
    /// `SGPIO_OUTPUT`, `ADC_THRESHOLD`, `RTC_SET` and `KCS_REPLY` events.
    pub fn soc_event(&self, event: &aspeed_soc::SocEvent) {
        use aspeed_soc::SocEvent;
        match event {
            SocEvent::Reset(cause) => self.reset(*cause),
            SocEvent::GpioOutput {
                controller,
                index,
                line,
                name,
                high,
            } => self.emit(
                "GPIO_OUTPUT",
                json!({"controller": index, "chip": controller, "line": line,
                       "name": name, "value": u8::from(*high)}),
            ),
            SocEvent::SgpioOutput { master, line, high } => self.emit(
                "SGPIO_OUTPUT",
                json!({"master": master, "line": line, "value": u8::from(*high)}),
            ),
            SocEvent::AdcThreshold {
                engine,
                channel,
                raw,
                above,
            } => self.emit(
                "ADC_THRESHOLD",
                json!({"engine": engine, "channel": channel, "raw": raw,
                       "bound": if *above { "upper" } else { "lower" }}),
            ),
            SocEvent::RtcSet(secs) => self.emit("RTC_SET", json!({"time": secs})),
            SocEvent::KcsReply { channel, reply } => self.emit(
                "KCS_REPLY",
                match reply {
                    Ok(bytes) => json!({"channel": channel, "reply": bytes}),
                    Err(e) => json!({"channel": channel, "error": e}),
                },
            ),
        }
    }

    /// The milestones of this boot so far: `[{"name", "virtual_ns"}]`.
    pub fn milestones(&self) -> Value {
        let state = self.state();
        Value::Array(
            state
                .seen
                .iter()
                .map(|(name, ns, _)| json!({"name": name, "virtual_ns": ns}))
                .collect(),
        )
    }

    /// Resets seen since the start.
    pub fn resets(&self) -> u64 {
        self.state().resets
    }
}

fn broadcast(clients: &mut [Client], line: &str, wants: impl Fn(&Client) -> bool) {
    for c in clients.iter_mut().filter(|c| wants(c)) {
        if c.tx.len() >= Hub::QUEUE_LIMIT {
            if c.lost == 0 {
                log::warn!(
                    "control: client {} does not read its events; dropping them",
                    c.id
                );
            }
            c.lost += 1;
            continue;
        }
        c.send(line.to_string());
    }
}

impl Client {
    fn send(&self, line: String) {
        self.unwritten.fetch_add(1, Ordering::AcqRel);
        if self.tx.send(line).is_err() {
            self.unwritten.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// What a client's writer thread drains: lines to write, and how many are not yet written.
pub struct ClientQueue {
    /// The lines, in order.
    pub rx: Receiver<String>,
    /// Decremented after each line is written (or dropped).
    pub unwritten: Arc<AtomicUsize>,
}

impl ClientQueue {
    /// Writes every line to `out` (a newline after each) until the hub drops the client or
    /// a write fails.
    pub fn write_all(self, out: &mut dyn std::io::Write) {
        for line in self.rx.iter() {
            let ok = out
                .write_all(line.as_bytes())
                .and_then(|()| out.write_all(b"\n"))
                .and_then(|()| out.flush())
                .is_ok();
            self.unwritten.fetch_sub(1, Ordering::AcqRel);
            if !ok {
                break;
            }
        }
        // Whatever is left will never be written.
        self.unwritten.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milestones_are_found_across_writes_once_per_boot() {
        let mut s = MilestoneScanner::default();
        assert!(s
            .scan(b"U-Boot SPL 2019\r\nU-Bo")
            .iter()
            .map(|m| m.name)
            .eq(["u-boot"]));
        assert!(s.scan(b"ot 2019\r\n").is_empty(), "once per boot");
        assert!(s.scan(b"Starting ker").is_empty());
        assert_eq!(s.scan(b"nel ...\r\n")[0].name, "starting-kernel");
        // One write may hold several, reported in table order.
        let names: Vec<_> = s
            .scan(b"[0.0] Linux version 6.1\r\nAST-EMU-READY\r\nbmc login: ")
            .iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(names, ["linux-version", "ready", "login"]);
        assert!(s.scan(b"bmc login: ").is_empty());
        s.restart();
        assert_eq!(s.scan(b"U-Boot 2023.10")[0].name, "u-boot");
    }

    #[test]
    fn events_reach_every_client_and_console_only_the_watchers() {
        let hub = Hub::new();
        let (a, qa) = hub.add_client("hello".into());
        let (_b, qb) = hub.add_client("hello".into());
        let (rx_a, rx_b) = (qa.rx, qb.rx);
        assert_eq!(
            rx_a.try_recv().unwrap(),
            "hello",
            "the greeting comes first"
        );
        assert_eq!(rx_b.try_recv().unwrap(), "hello");
        assert!(hub.set_console_watch(a, true));
        hub.console_output(b"U-Boot 2023\r\n");
        hub.console_flush();
        let first: Value = serde_json::from_str(&rx_a.try_recv().unwrap()).unwrap();
        assert_eq!(first["event"], "MILESTONE");
        assert_eq!(first["data"]["name"], "u-boot");
        assert!(first["timestamp"]["virtual_ns"].is_u64());
        assert!(first["timestamp"]["wall"]["seconds"].as_u64().unwrap() > 1_600_000_000);
        let console: Value = serde_json::from_str(&rx_a.try_recv().unwrap()).unwrap();
        assert_eq!(console["event"], "CONSOLE");
        assert_eq!(console["data"]["data"], "U-Boot 2023\r\n");
        let b_first: Value = serde_json::from_str(&rx_b.try_recv().unwrap()).unwrap();
        assert_eq!(b_first["event"], "MILESTONE");
        assert!(rx_b.try_recv().is_err(), "b does not watch the console");
        hub.reset(ResetCause::Watchdog);
        let names: Vec<String> = rx_b
            .try_iter()
            .map(|l| serde_json::from_str::<Value>(&l).unwrap()["event"].to_string())
            .collect();
        assert_eq!(names, ["\"WATCHDOG\"", "\"RESET\""]);
        assert_eq!(hub.milestones(), json!([]));
        hub.console_output(b"Starting kernel ...");
        // A client that connects later gets this boot's milestones after its greeting.
        let (_c, qc) = hub.add_client("hello".into());
        let late: Vec<Value> = qc
            .rx
            .try_iter()
            .skip(1)
            .map(|l| serde_json::from_str(&l).unwrap())
            .collect();
        assert_eq!(late.len(), 1);
        assert_eq!(late[0]["data"]["name"], "starting-kernel");
        assert_eq!(late[0]["data"]["boot"], 1);
        hub.remove_client(a);
        assert_eq!(hub.client_count(), 2);
    }

    #[test]
    fn a_client_that_does_not_read_loses_events_not_replies() {
        let hub = Hub::new();
        let (id, queue) = hub.add_client("hello".into());
        let rx = queue.rx.clone();
        for _ in 0..Hub::QUEUE_LIMIT + 10 {
            hub.emit("STOP", json!({}));
        }
        hub.send_to(id, "{\"return\": {}}".into());
        assert_eq!(rx.len(), Hub::QUEUE_LIMIT + 1);
        assert_eq!(
            queue.unwritten.load(Ordering::Acquire),
            Hub::QUEUE_LIMIT + 1
        );
        assert_eq!(rx.try_iter().last().unwrap(), "{\"return\": {}}");
    }

    #[test]
    fn the_writer_writes_lines_and_drain_waits_for_them() {
        let hub = Hub::new();
        let (id, queue) = hub.add_client("hello".into());
        hub.emit("STOP", json!({}));
        hub.send_to(id, "{}".into());
        let writer = std::thread::spawn(move || {
            let mut out = Vec::new();
            queue.write_all(&mut out);
            out
        });
        hub.drain(std::time::Duration::from_secs(10));
        hub.remove_client(id);
        let out = String::from_utf8(writer.join().unwrap()).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], "hello");
        assert!(
            lines[1].starts_with("{\"data\":{},\"event\":\"STOP\""),
            "{}",
            lines[1]
        );
        assert_eq!(lines[2], "{}");
    }
}
