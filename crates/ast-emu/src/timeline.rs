//! `--timeline`: when each console milestone appeared (wall and virtual time), and where the
//! wall time went (CPU, device work, idle), printed at exit.

use std::cell::RefCell;
use std::io::{self, Write};
use std::rc::Rc;
use std::time::Instant;

use aspeed_soc::{RunStats, VirtualClock};

/// Milestones seen so far.
pub struct Timeline {
    start: Instant,
    clock: Option<VirtualClock>,
    /// (label, wall s, virtual s), in the order they appeared.
    seen: Vec<(&'static str, f64, f64)>,
    /// Finds the milestones (control::MILESTONES, the ones control-socket events name).
    scanner: control::events::MilestoneScanner,
}

impl Timeline {
    /// A timeline starting now.
    pub fn new() -> Rc<RefCell<Self>> {
        Rc::new(RefCell::new(Self {
            start: Instant::now(),
            clock: None,
            seen: Vec::new(),
            scanner: Default::default(),
        }))
    }

    /// The guest's clock (known once the SoC exists).
    pub fn set_clock(&mut self, clock: VirtualClock) {
        self.clock = Some(clock);
    }

    fn virtual_s(&self) -> f64 {
        self.clock.as_ref().map_or(0.0, |c| c.now_ns() as f64 / 1e9)
    }

    /// Looks for milestones in console output (the first boot's: a reset does not start
    /// them over).
    pub fn scan(&mut self, bytes: &[u8]) {
        for m in self.scanner.scan(bytes) {
            let wall = self.start.elapsed().as_secs_f64();
            let virt = self.virtual_s();
            self.seen.push((m.label, wall, virt));
        }
    }

    /// The report printed at exit.
    pub fn report(&self, stats: &RunStats) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let wall = self.start.elapsed().as_secs_f64();
        let virt = self.virtual_s();
        let _ = writeln!(out, "timeline                    wall      virtual");
        for (label, w, v) in &self.seen {
            let _ = writeln!(out, "  {label:<20} {w:>9.3} s {v:>9.3} s");
        }
        let _ = writeln!(out, "  {:<20} {wall:>9.3} s {virt:>9.3} s", "exit");
        let idle = stats.idle_wall_ns as f64 / 1e9;
        let device = stats.device_wall_ns as f64 / 1e9;
        let cpu = (wall - idle - device).max(0.0);
        let pct = |x: f64| if wall > 0.0 { 100.0 * x / wall } else { 0.0 };
        let per_access = if stats.mmio_accesses > 0 {
            format!(
                ", {} MMIO accesses at {:.0} ns",
                stats.mmio_accesses,
                stats.device_wall_ns as f64 / stats.mmio_accesses as f64
            )
        } else {
            String::new()
        };
        let per_core = if stats.core_wall_ns.len() > 1 {
            let shares: Vec<String> = stats
                .core_wall_ns
                .iter()
                .enumerate()
                .map(|(i, ns)| format!("cpu{i} {:.1}%", pct(*ns as f64 / 1e9)))
                .collect();
            format!(" ({})", shares.join(", "))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "wall {wall:.3} s: CPU {:.1}%{per_core}, device work {:.1}%{per_access}, idle {:.1}%",
            pct(cpu),
            pct(device),
            pct(idle)
        );
        let _ = writeln!(
            out,
            "virtual {virt:.3} s: {:.3} s skipped while idle ({} skips, {} WFI, {} WFE, {} CPU \
             slices), {:.3} s in busy waits",
            stats.skipped_ns as f64 / 1e9,
            stats.idle_skips,
            stats.wfi,
            stats.wfe,
            stats.slices,
            stats.busy_skipped_ns as f64 / 1e9
        );
        out
    }
}

/// The console writer with milestone detection in front of it.
pub struct TimelineWriter<W: Write> {
    /// Where the console goes.
    pub inner: W,
    /// The timeline it feeds.
    pub timeline: Rc<RefCell<Timeline>>,
}

impl<W: Write> Write for TimelineWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.timeline.borrow_mut().scan(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milestones_are_found_once_even_split_across_writes() {
        let tl = Timeline::new();
        let mut w = TimelineWriter {
            inner: Vec::new(),
            timeline: tl.clone(),
        };
        let chunks: [&[u8]; 3] = [
            b"\r\nU-Boot 2023.10 (x)\r\n## Loading\r\nStart",
            b"ing kernel ...\r\n",
            b"U-Boot again\r\n[ 0.0] Linux version 6.1\r\nlogin: ",
        ];
        for chunk in chunks {
            w.write_all(chunk).unwrap();
        }
        let labels: Vec<&str> = tl.borrow().seen.iter().map(|s| s.0).collect();
        assert_eq!(
            labels,
            [
                "u-boot banner",
                "Starting kernel",
                "Linux version",
                "login prompt"
            ]
        );
        assert_eq!(w.inner, chunks.concat(), "the console got every byte");
        let report = tl.borrow().report(&RunStats::default());
        assert!(report.contains("Starting kernel"));
        assert!(report.contains("wall "));
    }
}
