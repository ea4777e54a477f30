//! The board I/O the host drives and watches: the GPIO controllers, SGPIO masters, ADC engines
//! and RTC of the SoC's table. The devices know their registers; this module knows which
//! controller is which (from the table) and the line names the firmware's device tree gives,
//! and turns what the devices queue for the host into [`SocEvent`]s.

use std::cell::RefCell;
use std::rc::Rc;

use adc::AspeedAdc;
use gpio::AspeedGpio;
use lpc::AspeedLpc;
use rtc::AspeedRtc;
use sgpio::AspeedSgpio;

use crate::map::{self, Block};
use crate::{AspeedSoc, SocError, SocEvent};

/// A GPIO controller or SGPIO master as the host sees it.
pub(crate) struct Controller<D> {
    /// Its bus name: `gpio0`, `sgpiom1`.
    pub(crate) name: &'static str,
    pub(crate) device: Rc<RefCell<D>>,
    /// The device tree's `gpio-line-names` for it (empty: none given).
    pub(crate) names: Vec<String>,
}

/// Handles to the board I/O devices, kept after building.
#[derive(Default)]
pub(crate) struct BoardIo {
    pub(crate) gpios: Vec<Controller<AspeedGpio>>,
    pub(crate) sgpios: Vec<Controller<AspeedSgpio>>,
    pub(crate) adcs: Vec<Rc<RefCell<AspeedAdc>>>,
    pub(crate) rtc: Option<Rc<RefCell<AspeedRtc>>>,
    pub(crate) lpc: Option<Rc<RefCell<AspeedLpc>>>,
    /// The SD and eMMC controllers by base address (storage: [`crate::storage`]).
    pub(crate) sd_controllers: Vec<(u64, Rc<RefCell<sdhci::AspeedSdc>>)>,
    /// Who waits for the reply of the KCS request on each channel.
    pub(crate) kcs_waiters: [Option<KcsCallback>; 4],
}

/// Called with the reply to a KCS request ([`AspeedSoc::kcs_request`]) or why there is none.
pub type KcsCallback = Box<dyn FnOnce(Result<Vec<u8>, String>) + Send>;

/// How long a KCS request waits for the BMC by default, in virtual ns (a BMC's IPMI daemon
/// answers in milliseconds; the IPMI spec's host drivers give up after 5 s).
pub const KCS_TIMEOUT_NS: u64 = 5_000_000_000;

/// One GPIO line: what the host reads back (`gpio-get`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpioLine {
    /// The controller's name (`gpio0`: 3.3 V; `gpio1`: 1.8 V).
    pub controller: &'static str,
    /// The controller's index (the `controller` argument).
    pub index: usize,
    /// The line as Linux numbers it within its chip (`P0` of `gpio0` is 120).
    pub line: u32,
    /// The pin's name in the datasheet and pinctrl (`P0`, `18A0`).
    pub pin: String,
    /// The device tree's name for it, if it gives one.
    pub name: Option<String>,
    /// Whether the guest drives it (direction out).
    pub output: bool,
    /// The level on the line: the guest's output when it drives it, else the host's input.
    pub level: bool,
}

/// One SGPIO line as the host sees it (`sgpio-get`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SgpioLine {
    /// The master's name (`sgpiom0`).
    pub master: &'static str,
    /// The line as Linux numbers it (slot `s`: input `2s`, output `2s + 1`).
    pub line: u32,
    /// The device tree's name for it, if it gives one.
    pub name: Option<String>,
    /// The level: the host's input for an even line, the guest's output for an odd one.
    pub level: bool,
}

/// One ADC channel as the host sees it (`adc-get`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdcChannel {
    /// The engine (0 or 1 on the AST2600).
    pub engine: usize,
    /// The channel of that engine.
    pub channel: usize,
    /// The voltage the host set, in millivolts.
    pub millivolts: u32,
    /// The reference the guest selected, in millivolts.
    pub vref_mv: u32,
    /// The 10-bit code the guest reads (`in_voltageN_raw`), 0 while the engine or the
    /// channel is off.
    pub reading: u16,
}

fn no_such(what: &str, index: usize, count: usize) -> SocError {
    SocError(format!(
        "no {what} {index} (this SoC has {count}: 0..{})",
        count.saturating_sub(1)
    ))
}

impl BoardIo {
    /// Takes the device tree's line names: a node whose unit address is a controller's base.
    pub(crate) fn set_line_names(&mut self, m: &map::SocMap, trees: &[board::LineNames]) {
        for names in trees {
            let Some(p) = m.placements.iter().find(|p| p.base == names.unit_address) else {
                continue;
            };
            match p.block {
                Block::Gpio(_) => {
                    if let Some(c) = self.gpios.iter_mut().find(|c| c.name == p.name) {
                        c.names = names.names.clone();
                    }
                }
                Block::Sgpio(_) => {
                    if let Some(c) = self.sgpios.iter_mut().find(|c| c.name == p.name) {
                        c.names = names.names.clone();
                    }
                }
                _ => {}
            }
        }
    }

    fn gpio(&self, index: usize) -> Result<&Controller<AspeedGpio>, SocError> {
        self.gpios
            .get(index)
            .ok_or_else(|| no_such("GPIO controller", index, self.gpios.len()))
    }

    fn sgpio(&self, index: usize) -> Result<&Controller<AspeedSgpio>, SocError> {
        self.sgpios
            .get(index)
            .ok_or_else(|| no_such("SGPIO master", index, self.sgpios.len()))
    }

    fn adc(&self, engine: usize) -> Result<&Rc<RefCell<AspeedAdc>>, SocError> {
        self.adcs
            .get(engine)
            .ok_or_else(|| no_such("ADC engine", engine, self.adcs.len()))
    }

    fn lpc(&self) -> Result<&Rc<RefCell<AspeedLpc>>, SocError> {
        self.lpc
            .as_ref()
            .ok_or_else(|| SocError("this SoC has no LPC controller".into()))
    }

    fn rtc(&self) -> Result<&Rc<RefCell<AspeedRtc>>, SocError> {
        self.rtc
            .as_ref()
            .ok_or_else(|| SocError("this SoC has no RTC".into()))
    }

    fn gpio_line(&self, index: usize, line: u32) -> Result<GpioLine, SocError> {
        let c = self.gpio(index)?;
        let d = c.device.borrow();
        let level = d.line_level(line).ok_or_else(|| {
            SocError(format!(
                "{} has no line {line} (lines 0..{}, as Linux numbers them)",
                c.name,
                d.variant().ngpio() - 1
            ))
        })?;
        Ok(GpioLine {
            controller: c.name,
            index,
            line,
            pin: d.line_name(line),
            name: c
                .names
                .get(line as usize)
                .filter(|n| !n.is_empty())
                .cloned(),
            output: d.is_output(line),
            level,
        })
    }

    /// Queued host events of every device.
    fn take_events(&mut self, out: &mut Vec<SocEvent>) {
        for (index, c) in self.gpios.iter().enumerate() {
            let changes = c.device.borrow_mut().take_output_changes();
            for (line, high) in changes {
                out.push(SocEvent::GpioOutput {
                    controller: c.name,
                    index,
                    line,
                    name: c
                        .names
                        .get(line as usize)
                        .filter(|n| !n.is_empty())
                        .cloned(),
                    high,
                });
            }
        }
        for c in &self.sgpios {
            let changes = c.device.borrow_mut().take_output_changes();
            for (line, high) in changes {
                out.push(SocEvent::SgpioOutput {
                    master: c.name,
                    line,
                    high,
                });
            }
        }
        for (engine, adc) in self.adcs.iter().enumerate() {
            for e in adc.borrow_mut().take_threshold_events() {
                out.push(SocEvent::AdcThreshold {
                    engine,
                    channel: e.channel,
                    raw: e.raw,
                    above: e.above,
                });
            }
        }
        if let Some(lpc) = &self.lpc {
            let replies = {
                let mut lpc = lpc.borrow_mut();
                lpc.poll();
                lpc.take_replies()
            };
            for (channel, reply) in replies {
                let reply = reply.map_err(|e| e.to_string());
                if let Some(waiter) = self.kcs_waiters[channel - 1].take() {
                    waiter(reply.clone());
                }
                out.push(SocEvent::KcsReply { channel, reply });
            }
        }
        if let Some(rtc) = &self.rtc {
            for secs in rtc.borrow_mut().take_guest_sets() {
                out.push(SocEvent::RtcSet(secs));
            }
        }
    }
}

impl AspeedSoc {
    /// The GPIO controllers: `(name, lines as Linux numbers them)`.
    pub fn gpio_controllers(&self) -> Vec<(&'static str, u32)> {
        self.io
            .gpios
            .iter()
            .map(|c| (c.name, c.device.borrow().variant().ngpio()))
            .collect()
    }

    /// Line `line` of GPIO controller `index`.
    pub fn gpio_get(&self, index: usize, line: u32) -> Result<GpioLine, SocError> {
        self.io.gpio_line(index, line)
    }

    /// Every line of controller `index` that exists.
    pub fn gpio_lines(&self, index: usize) -> Result<Vec<GpioLine>, SocError> {
        let c = self.io.gpio(index)?;
        let n = c.device.borrow().variant().ngpio();
        Ok((0..n)
            .filter(|&l| c.device.borrow().has_line(l))
            .filter_map(|l| self.io.gpio_line(index, l).ok())
            .collect())
    }

    /// The line called `name`: a name from the device tree's `gpio-line-names`, or a pin
    /// name (`P0`, `18A0`); `(controller, line)`.
    pub fn gpio_find(&self, name: &str) -> Result<(usize, u32), SocError> {
        for (i, c) in self.io.gpios.iter().enumerate() {
            if let Some(l) = c.names.iter().position(|n| n == name) {
                return Ok((i, l as u32));
            }
        }
        for (i, c) in self.io.gpios.iter().enumerate() {
            if let Some(l) = c.device.borrow().line_by_name(name) {
                return Ok((i, l));
            }
        }
        Err(SocError(format!(
            "no GPIO line called {name:?} (neither in the device tree's gpio-line-names nor a \
             pin name such as P0 or 18A0)"
        )))
    }

    /// Drives input `line` of controller `index` to `high`, as the board would; the guest
    /// sees it when the line is an input (an edge may interrupt it).
    pub fn gpio_set(&mut self, index: usize, line: u32, high: bool) -> Result<GpioLine, SocError> {
        let c = self.io.gpio(index)?;
        if !c.device.borrow_mut().set_input(line, high) {
            return Err(SocError(format!(
                "{} line {line} cannot be driven from the board (no such input line)",
                c.name
            )));
        }
        self.kick.request_exit();
        self.io.gpio_line(index, line)
    }

    /// Line `line` of SGPIO master `index`.
    pub fn sgpio_get(&self, index: usize, line: u32) -> Result<SgpioLine, SocError> {
        let c = self.io.sgpio(index)?;
        let d = c.device.borrow();
        let (_, is_input) = sgpio::slot_of(line);
        let level = if is_input {
            d.input_level(line)
        } else {
            d.output_level(line)
        }
        .ok_or_else(|| {
            SocError(format!(
                "{} has no line {line} (slot s: input 2s, output 2s+1; {} slots)",
                c.name,
                d.variant().max_pins()
            ))
        })?;
        Ok(SgpioLine {
            master: c.name,
            line,
            name: c
                .names
                .get(line as usize)
                .filter(|n| !n.is_empty())
                .cloned(),
            level,
        })
    }

    /// Drives serial input `line` (even: slot `line / 2`'s input) of SGPIO master `index`.
    pub fn sgpio_set(
        &mut self,
        index: usize,
        line: u32,
        high: bool,
    ) -> Result<SgpioLine, SocError> {
        let c = self.io.sgpio(index)?;
        if !c.device.borrow_mut().set_input(line, high) {
            return Err(SocError(format!(
                "{} line {line} is no serial input (inputs are the even lines 0..{})",
                c.name,
                2 * c.device.borrow().variant().max_pins() - 2
            )));
        }
        self.kick.request_exit();
        self.sgpio_get(index, line)
    }

    /// Channel `channel` of ADC engine `engine`.
    pub fn adc_get(&self, engine: usize, channel: usize) -> Result<AdcChannel, SocError> {
        let adc = self.io.adc(engine)?.borrow();
        let millivolts = adc.millivolts(channel).ok_or_else(|| {
            SocError(format!(
                "ADC engine {engine} has no channel {channel} (0..{})",
                adc.variant().channels() - 1
            ))
        })?;
        Ok(AdcChannel {
            engine,
            channel,
            millivolts,
            vref_mv: adc.vref_mv(),
            reading: adc.reading(channel).unwrap_or(0),
        })
    }

    /// Puts `millivolts` on channel `channel` of ADC engine `engine` (codes clamp at the
    /// reference).
    pub fn adc_set(
        &mut self,
        engine: usize,
        channel: usize,
        millivolts: u32,
    ) -> Result<AdcChannel, SocError> {
        let ok = self
            .io
            .adc(engine)?
            .borrow_mut()
            .set_millivolts(channel, millivolts);
        if !ok {
            // The same message as a read of that channel.
            self.adc_get(engine, channel)?;
        }
        self.kick.request_exit();
        self.adc_get(engine, channel)
    }

    /// The RTC's time in seconds since the Unix epoch (UTC).
    pub fn rtc_get(&self) -> Result<i64, SocError> {
        Ok(self.io.rtc()?.borrow().unix_time())
    }

    /// Sets the RTC's time (seconds since the Unix epoch, UTC), as a battery-backed clock
    /// set before the BMC boots would read.
    pub fn rtc_set(&mut self, secs: i64) -> Result<i64, SocError> {
        // The YEAR register holds centuries 0..31: the last second it can show ends 3199.
        let last = rtc::days_from_civil(3200, 1, 1) * 86_400 - 1;
        if !(0..=last).contains(&secs) {
            return Err(SocError(format!(
                "RTC time {secs} is out of range (0..={last}: 1970 to the end of 3199)"
            )));
        }
        let rtc = self.io.rtc()?;
        rtc.borrow_mut().set_unix_time(secs);
        let now = rtc.borrow().unix_time();
        Ok(now)
    }

    /// Sends an IPMI request to the BMC on KCS channel `channel` (1-4) as the host's KCS driver
    /// would; `done` gets the reply (or why there is none: the guest answers nothing in
    /// `timeout_ns` of virtual time, breaks the protocol, or resets), and so does a
    /// [`SocEvent::KcsReply`]. Refused at once if the guest has not enabled the channel or it
    /// carries another request (`done` is then called with the same error: it is called
    /// exactly once, whatever happens).
    pub fn kcs_request(
        &mut self,
        channel: usize,
        request: &[u8],
        timeout_ns: u64,
        done: Option<KcsCallback>,
    ) -> Result<(), SocError> {
        let started = self.io.lpc().and_then(|lpc| {
            lpc.borrow_mut()
                .kcs_request(channel, request, timeout_ns)
                .map_err(|e| SocError(e.to_string()))
        });
        if let Err(e) = started {
            if let Some(done) = done {
                done(Err(e.0.clone()));
            }
            return Err(e);
        }
        self.io.kcs_waiters[channel - 1] = done;
        self.kick.request_exit();
        Ok(())
    }

    /// Queues `bytes` for the host to write to I/O port `port` (POST codes to port 0x80), each
    /// written once the BMC has taken the one before; returns how many were queued. Refused if
    /// no snoop channel of the guest captures the port.
    pub fn snoop_write(&mut self, port: u16, bytes: &[u8]) -> Result<usize, SocError> {
        let lpc = self.io.lpc()?;
        let mut lpc = lpc.borrow_mut();
        if lpc.snoop_channel(port).is_none() {
            return Err(SocError(format!(
                "no snoop channel captures port {port:#x} (the guest's aspeed-lpc-snoop has not enabled one for it)"
            )));
        }
        let n = lpc.snoop_write(port, bytes);
        self.kick.request_exit();
        Ok(n)
    }

    /// Names the GPIO and SGPIO lines as the firmware's device tree does
    /// ([`board::gpio_line_names`] of the image).
    fn set_gpio_line_names(&mut self, names: &[board::LineNames]) {
        self.io.set_line_names(self.map, names);
    }

    /// What the firmware's device trees name besides the board ([`board::tree_facts`] of the
    /// boot flash): GPIO line names and SD slots wired write-protect inverted. A snapshot keeps
    /// them, so a restore need not read the flash for them again.
    pub fn set_tree_facts(&mut self, facts: &board::TreeFacts) {
        self.set_gpio_line_names(&facts.gpio_line_names);
        self.set_sd_write_protect_inverted(&facts.sd_write_protect_inverted);
        self.tree_facts = facts.clone();
    }

    /// Reports what the board I/O devices queued for the host.
    pub(crate) fn board_io_events(&mut self) {
        let mut events = Vec::new();
        self.io.take_events(&mut events);
        for e in events {
            self.emit(e);
        }
    }
}
