//! What a command is: its name, its parameters and their types, the function that runs it,
//! and how its result reads as text.

use std::sync::Arc;

use aspeed_soc::{AspeedSoc, Stop};
use serde_json::{Map, Value};

use crate::events::Hub;

/// A parameter's type, as JSON gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgType {
    /// A JSON integer from `min` to `max` (text: decimal or `0x` hex).
    Int {
        /// Smallest value taken.
        min: i64,
        /// Largest value taken.
        max: i64,
    },
    /// A JSON number (text: a decimal number).
    Number,
    /// A JSON string (text: the rest of the line, with `\r`, `\n`, `\t`, `\\`, `\xNN`).
    Str,
    /// A JSON boolean (text: `on`/`off`, `true`/`false`, `1`/`0`).
    Bool,
    /// Bytes: a JSON array of integers 0 to 255 (text: hex digits, pairs optionally separated
    /// by `:` or `,`: `18:01`, `1801`).
    Bytes,
}

/// One parameter of a command.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// Its name in `"arguments"` (and `name=value` in text).
    pub name: &'static str,
    /// Its type.
    pub ty: ArgType,
    /// Whether a request must give it.
    pub required: bool,
    /// One line for `help` and `query-commands`.
    pub help: &'static str,
}

/// How a command runs: on the SoC's thread, with checked arguments.
pub type Handler = fn(&mut Context<'_>, &Args) -> Result<Value, CommandError>;

/// How a command's result reads in the text monitor.
pub type TextFormat = fn(&Value) -> String;

/// One command of the table.
pub struct Command {
    /// Its name (`query-status`), as QMP spells commands.
    pub name: &'static str,
    /// Whether it changes what the guest sees (`sensor-set`, `console-send`,
    /// `system-reset`): a deterministic run's `--record` notes it with the point it ran at and
    /// `--replay` runs it there again ([`execute`]); while a record plays, a live one is
    /// refused.
    pub changes_guest: bool,
    /// Other names the text monitor takes (`info registers`, `reset`, `q`).
    pub aliases: &'static [&'static str],
    /// Its parameters, in the order text gives them positionally.
    pub params: &'static [Param],
    /// One line for `help` and `query-commands`.
    pub help: &'static str,
    /// Runs it.
    pub run: Handler,
    /// Its result as text (`None`: the JSON value, or nothing for `{}`).
    pub text: Option<TextFormat>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Command")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Command {
    /// The command called `name` in `table` (by name, not alias).
    pub fn find<'t>(table: &'t [Command], name: &str) -> Option<&'t Command> {
        table.iter().find(|c| c.name == name)
    }

    /// Checks JSON `arguments` against the parameters: every key known, every value of its
    /// type and range, every required one there.
    pub fn check(&self, arguments: Option<&Value>) -> Result<Args, CommandError> {
        let map = match arguments {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(other) => {
                return Err(CommandError::generic(format!(
                    "\"arguments\" must be an object, not {}",
                    json_kind(other)
                )))
            }
        };
        for key in map.keys() {
            if !self.params.iter().any(|p| p.name == key) {
                return Err(CommandError::generic(format!(
                    "{}: unexpected argument {key:?} (it takes {})",
                    self.name,
                    self.param_names()
                )));
            }
        }
        for p in self.params {
            match map.get(p.name) {
                None if p.required => {
                    return Err(CommandError::generic(format!(
                        "{}: missing argument {:?}",
                        self.name, p.name
                    )))
                }
                None => {}
                Some(v) => check_type(self.name, p, v)?,
            }
        }
        Ok(Args(map))
    }

    fn param_names(&self) -> String {
        if self.params.is_empty() {
            return "no arguments".into();
        }
        self.params
            .iter()
            .map(|p| p.name)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn check_type(command: &str, p: &Param, v: &Value) -> Result<(), CommandError> {
    let ok = match p.ty {
        ArgType::Int { min, max } => match v.as_i64() {
            Some(n) if (min..=max).contains(&n) => true,
            Some(n) => {
                return Err(CommandError::generic(format!(
                    "{command}: {:?} = {n} is out of range ({min} to {max})",
                    p.name
                )))
            }
            None => false,
        },
        ArgType::Number => v.as_f64().is_some_and(f64::is_finite),
        ArgType::Str => v.is_string(),
        ArgType::Bool => v.is_boolean(),
        ArgType::Bytes => v
            .as_array()
            .is_some_and(|a| a.iter().all(|b| b.as_u64().is_some_and(|b| b <= 0xFF))),
    };
    if ok {
        Ok(())
    } else {
        Err(CommandError::generic(format!(
            "{command}: {:?} must be {}, not {}",
            p.name,
            type_name(p.ty),
            json_kind(v)
        )))
    }
}

/// How a type reads in an error message.
pub fn type_name(ty: ArgType) -> &'static str {
    match ty {
        ArgType::Int { .. } => "an integer",
        ArgType::Number => "a number",
        ArgType::Str => "a string",
        ArgType::Bool => "a boolean",
        ArgType::Bytes => "an array of bytes (integers 0 to 255)",
    }
}

/// What kind of JSON value `v` is, for an error message.
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Arguments checked against a command's parameters ([`Command::check`]): the getters only
/// fail for a parameter the command did not declare with that type.
#[derive(Debug, Clone, Default)]
pub struct Args(pub Map<String, Value>);

impl Args {
    /// An integer argument, if given.
    pub fn int(&self, name: &str) -> Option<i64> {
        self.0.get(name).and_then(Value::as_i64)
    }

    /// A number argument, if given.
    pub fn number(&self, name: &str) -> Option<f64> {
        self.0.get(name).and_then(Value::as_f64)
    }

    /// A string argument, if given.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }

    /// A boolean argument, if given.
    pub fn bool(&self, name: &str) -> Option<bool> {
        self.0.get(name).and_then(Value::as_bool)
    }

    /// A bytes argument, if given.
    pub fn bytes(&self, name: &str) -> Option<Vec<u8>> {
        self.0.get(name).and_then(Value::as_array).map(|a| {
            a.iter()
                .filter_map(|b| b.as_u64().map(|b| b as u8))
                .collect()
        })
    }
}

/// QMP's error classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Anything else: bad arguments, a failed action.
    GenericError,
    /// No command of that name.
    CommandNotFound,
    /// No device where the arguments point (a sensor at that bus and address).
    DeviceNotFound,
}

impl ErrorClass {
    /// The class as QMP spells it.
    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::GenericError => "GenericError",
            ErrorClass::CommandNotFound => "CommandNotFound",
            ErrorClass::DeviceNotFound => "DeviceNotFound",
        }
    }
}

/// Why a command failed: `{"error": {"class": ..., "desc": ...}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandError {
    /// The class.
    pub class: ErrorClass,
    /// One line for a person.
    pub desc: String,
}

impl CommandError {
    /// A [`ErrorClass::GenericError`].
    pub fn generic(desc: impl Into<String>) -> Self {
        Self {
            class: ErrorClass::GenericError,
            desc: desc.into(),
        }
    }

    /// A [`ErrorClass::DeviceNotFound`].
    pub fn no_device(desc: impl Into<String>) -> Self {
        Self {
            class: ErrorClass::DeviceNotFound,
            desc: desc.into(),
        }
    }

    /// The JSON error object (without the `id`).
    pub fn to_json(&self) -> Value {
        serde_json::json!({"class": self.class.name(), "desc": self.desc})
    }
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.desc)
    }
}

/// Delivers the answer of a command that answers later (`kcs-request`: the guest must run
/// first). Called once, on the SoC's thread.
pub type Responder = Box<dyn FnOnce(Result<Value, CommandError>) + Send>;

/// What a command runs with.
pub struct Context<'a> {
    /// The SoC (on its own thread).
    pub soc: &'a mut AspeedSoc,
    /// The host's shared state: start time, milestones, the event hub.
    pub hub: &'a Arc<Hub>,
    /// The control-socket client that asked (`None`: the text monitor).
    pub client: Option<u64>,
    /// Set by a command that ends the run (`quit`).
    pub stop: Option<Stop>,
    /// How to answer later, where the front end can wait (the control socket): a command
    /// that takes it answers through it, and what it returns is not sent.
    pub responder: Option<Responder>,
}

impl<'a> Context<'a> {
    /// A context with no control-socket client to answer: the console monitor, GDB's
    /// `monitor`, a replayed command.
    pub fn without_client(soc: &'a mut AspeedSoc, hub: &'a Arc<Hub>) -> Self {
        Context {
            soc,
            hub,
            client: None,
            stop: None,
            responder: None,
        }
    }
}

/// Runs `command` with checked `args`. One that changes what the guest sees is noted in a
/// record being made, and refused while one is being replayed.
pub fn execute(
    ctx: &mut Context<'_>,
    command: &Command,
    args: &Args,
) -> Result<Value, CommandError> {
    if command.changes_guest && !ctx.soc.journal_command(command.name, &args.0) {
        return Err(CommandError::generic(format!(
            "{}: a record is being replayed (--replay); commands that change the machine are \
             taken from it until it has played",
            command.name
        )));
    }
    (command.run)(ctx, args)
}

/// Runs a command a replayed record holds ([`aspeed_soc::AspeedSoc::set_command_replayer`]):
/// by name, its arguments checked again, with no client to answer.
pub fn replay(
    soc: &mut AspeedSoc,
    hub: &Arc<Hub>,
    name: &str,
    arguments: &Value,
) -> Result<(), String> {
    let command = Command::find(crate::COMMANDS, name)
        .filter(|c| c.changes_guest)
        .ok_or_else(|| format!("not a command that changes the machine: {name:?}"))?;
    let args = command.check(Some(arguments)).map_err(|e| e.desc)?;
    (command.run)(&mut Context::without_client(soc, hub), &args)
        .map(drop)
        .map_err(|e| e.desc)
}
