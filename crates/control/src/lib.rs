//! The emulator's commands, in one table, and the front ends that reach them.
//!
//! Every command ([`COMMANDS`]: `query-status`, `sensor-set`, `system-reset`, ...) is written
//! once, as a function from a [`Context`] (the SoC and the host's state) and checked JSON
//! arguments to a JSON value. Three front ends call them:
//! - the control socket ([`server`]): newline-delimited JSON in QMP's shape, with events;
//! - the console monitor (`Ctrl-a c`) and GDB's `monitor`: [`text::run_line`] turns a text
//!   line (`sensor-set 8 0x4d 55`, or the older `temp 55`, `info registers`, `x/4 ADDR`)
//!   into the same call and the result into text.
//!
//! Commands run on the thread that runs the SoC, between two CPU slices
//! ([`aspeed_soc::HostEvent::Call`]); the socket's threads parse and check requests before they
//! get there, so a malformed request never reaches the CPU thread.
#![deny(missing_docs)]

pub mod board_io;
pub mod commands;
pub mod events;
pub mod server;
pub mod table;
pub mod text;

pub use commands::COMMANDS;
pub use events::{Hub, Milestone, MILESTONES};
pub use server::{ControlAddress, ControlServer};
pub use table::{ArgType, Args, Command, CommandError, Context, ErrorClass, Param, Responder};
