//! The rack's status: a live table on a terminal, a line per change elsewhere, and
//! `status.json` in the rack's folder (written atomically) for tools and tests.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use switch::dhcp::Lease;

use crate::bmc::{Bmc, BmcState};

/// One BMC's line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// Its name.
    pub name: String,
    /// waiting, booting, ready, stopping, stopped.
    pub state: String,
    /// How it stopped, when it has.
    pub exit: Option<String>,
    /// Seconds since its emulator started.
    pub uptime_s: f64,
    /// Seconds it took to be ready, once it was.
    pub ready_after_s: Option<f64>,
    /// The address it holds a DHCP lease for, once it does.
    pub address: Option<String>,
    /// Its NIC's hardware address.
    pub mac: String,
    /// The host port of its SSH.
    pub ssh_port: u16,
    /// The host port of its HTTPS.
    pub https_port: u16,
    /// The host port of its HTTP, if forwarded.
    pub http_port: Option<u16>,
    /// Its control socket.
    pub control: PathBuf,
    /// Its console transcript.
    pub console: PathBuf,
    /// Its emulator's process id, while it runs.
    pub pid: Option<u32>,
}

/// The rows of `bmcs`, with the addresses `leases` bind to their MACs.
pub fn rows(bmcs: &[Mutex<Bmc>], leases: &[Lease]) -> Vec<Row> {
    let bound: HashMap<[u8; 6], String> = leases
        .iter()
        .filter(|l| l.bound)
        .map(|l| (l.mac, l.ip.to_string()))
        .collect();
    bmcs.iter()
        .map(|b| {
            let mut b = b.lock().unwrap_or_else(|e| e.into_inner());
            let state = b.poll();
            let (up, ready) = b.uptime();
            Row {
                name: b.plan.name.clone(),
                state: state.name().into(),
                exit: match &state {
                    BmcState::Stopped(how) => Some(how.clone()),
                    _ => None,
                },
                uptime_s: round(up),
                ready_after_s: ready.map(round),
                address: bound.get(&b.plan.mac).cloned(),
                mac: b.plan.mac_text(),
                ssh_port: b.plan.ssh_port,
                https_port: b.plan.https_port,
                http_port: b.plan.http_port,
                control: b.control.clone(),
                console: b.console_file.clone(),
                pid: b.pid(),
            }
        })
        .collect()
}

fn round(d: Duration) -> f64 {
    (d.as_secs_f64() * 10.0).round() / 10.0
}

/// Whether standard output is a terminal.
pub fn stdout_is_terminal() -> bool {
    // SAFETY: isatty on a file descriptor number only reads its state.
    unsafe { libc::isatty(1) == 1 }
}

/// Where the status goes.
pub struct Status {
    file: PathBuf,
    table: bool,
    /// Lines of the table last drawn, to draw over them.
    drawn: usize,
    last: Vec<(String, Option<String>)>,
    /// The dashboard's address with its token, for status.json.
    pub dashboard: Option<String>,
}

impl Status {
    /// Status for a rack in `dir`; `table`: a live table, else lines.
    pub fn new(dir: &Path, table: bool) -> Self {
        Status {
            file: dir.join("status.json"),
            table,
            drawn: 0,
            last: Vec::new(),
            dashboard: None,
        }
    }

    /// What the rack is: its folder, switch, and each BMC's forwards.
    pub fn header(&mut self, bmcs: &[Mutex<Bmc>], switch: &Path, dashboard: Option<&str>) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "ast-emu rack: {} BMCs on switch unix:{} (status: {}; Ctrl-C stops them all)",
            bmcs.len(),
            switch.display(),
            self.file.display()
        );
        if let Some(url) = dashboard {
            let _ = writeln!(out, "  dashboard: {url}");
        }
        for b in bmcs {
            let b = b.lock().unwrap_or_else(|e| e.into_inner());
            let p = &b.plan;
            let http = p
                .http_port
                .map(|h| format!(", http 127.0.0.1:{h}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:<10} {} {:<15} ssh 127.0.0.1:{}, https 127.0.0.1:{}{http}, control unix:{}",
                p.name,
                p.mac_text(),
                p.address,
                p.ssh_port,
                p.https_port,
                b.control.display()
            );
        }
        let _ = out.flush();
    }

    /// A message between status updates.
    pub fn note(&mut self, text: &str) {
        self.drawn = 0;
        println!("ast-emu rack: {text}");
    }

    /// Shows `rows` and writes the status file.
    pub fn show(&mut self, rows: &[Row]) {
        self.write_file(rows);
        let mut out = std::io::stdout().lock();
        if self.table {
            if self.drawn > 0 {
                let _ = write!(out, "\x1b[{}A", self.drawn);
            }
            let _ = writeln!(
                out,
                "\x1b[2K{:<10} {:<9} {:>8} {:>7} {:<15}",
                "BMC", "STATE", "UPTIME", "READY", "ADDRESS"
            );
            for r in rows {
                let _ = writeln!(
                    out,
                    "\x1b[2K{:<10} {:<9} {:>7.0}s {:>7} {:<15}",
                    r.name,
                    r.state,
                    r.uptime_s,
                    r.ready_after_s
                        .map(|s| format!("{s:.1}s"))
                        .unwrap_or_else(|| "-".into()),
                    r.address.as_deref().unwrap_or("-")
                );
            }
            self.drawn = rows.len() + 1;
        } else {
            let now: Vec<(String, Option<String>)> = rows
                .iter()
                .map(|r| (r.state.clone(), r.address.clone()))
                .collect();
            for (i, r) in rows.iter().enumerate() {
                if self.last.get(i) != now.get(i) {
                    let _ = writeln!(
                        out,
                        "ast-emu rack: {} {}{} address {} (uptime {:.1}s)",
                        r.name,
                        r.state,
                        r.exit
                            .as_deref()
                            .map(|e| format!(" ({e})"))
                            .unwrap_or_default(),
                        r.address.as_deref().unwrap_or("-"),
                        r.uptime_s
                    );
                }
            }
            self.last = now;
        }
        let _ = out.flush();
    }

    fn write_file(&self, rows: &[Row]) {
        let tmp = self.file.with_extension("json.tmp");
        let status = serde_json::json!({ "dashboard": self.dashboard, "bmcs": rows });
        let text = serde_json::to_vec_pretty(&status).unwrap_or_default();
        if std::fs::write(&tmp, text).is_ok() {
            let _ = std::fs::rename(&tmp, &self.file);
        }
    }
}
