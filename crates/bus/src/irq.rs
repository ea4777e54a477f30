//! Interrupt lines: a device drives a level; whoever receives it (the GIC) decides the rest.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

/// The receiving end of interrupt lines (an interrupt controller, or the CPU's IRQ input).
pub trait IrqSink {
    /// Line `line` of this sink is now at `level`.
    fn set_irq(&self, line: u32, level: bool);
}

/// An interrupt output held by a device. Cloning gives another handle to the same line.
#[derive(Clone)]
pub struct IrqLine {
    sink: Option<Rc<dyn IrqSink>>,
    line: u32,
}

impl IrqLine {
    /// Line `line` of `sink`.
    pub fn new(sink: Rc<dyn IrqSink>, line: u32) -> Self {
        Self {
            sink: Some(sink),
            line,
        }
    }
    /// A line wired to nothing: setting it has no effect.
    pub fn disconnected() -> Self {
        Self {
            sink: None,
            line: 0,
        }
    }
    /// Drives the line to `level`.
    pub fn set(&self, level: bool) {
        if let Some(sink) = &self.sink {
            sink.set_irq(self.line, level);
        }
    }
    /// Drives the line high.
    pub fn raise(&self) {
        self.set(true);
    }
    /// Drives the line low.
    pub fn lower(&self) {
        self.set(false);
    }
}

impl fmt::Debug for IrqLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IrqLine({}{})",
            self.line,
            if self.sink.is_some() {
                ""
            } else {
                ", disconnected"
            }
        )
    }
}

/// Several device outputs wired to one interrupt line (a wired OR, as two ADC engines share
/// one GIC input): the line is high while any input is. Input `i` is [`SharedIrq::input`]`(i)`.
pub struct SharedIrq {
    out: IrqLine,
    levels: RefCell<u64>,
}

impl SharedIrq {
    /// Most inputs one shared line takes.
    pub const MAX_INPUTS: u32 = 64;

    /// A shared line driving `out`, every input low.
    pub fn new(out: IrqLine) -> Rc<Self> {
        Rc::new(Self {
            out,
            levels: RefCell::new(0),
        })
    }
    /// The handle a device drives as input `i` (below [`SharedIrq::MAX_INPUTS`]).
    pub fn input(self: &Rc<Self>, i: u32) -> IrqLine {
        assert!(i < Self::MAX_INPUTS, "shared IRQ input {i} out of range");
        IrqLine::new(self.clone(), i)
    }
}

impl IrqSink for SharedIrq {
    fn set_irq(&self, line: u32, level: bool) {
        let bit = 1u64 << (line % Self::MAX_INPUTS);
        let (before, after) = {
            let mut levels = self.levels.borrow_mut();
            let before = *levels != 0;
            if level {
                *levels |= bit;
            } else {
                *levels &= !bit;
            }
            (before, *levels != 0)
        };
        if before != after {
            self.out.set(after);
        }
    }
}

/// A sink that remembers each line's level and every change: for device tests.
#[derive(Default)]
pub struct LevelRecorder {
    levels: RefCell<Vec<bool>>,
    changes: RefCell<Vec<(u32, bool)>>,
}

impl LevelRecorder {
    /// A recorder with every line low.
    pub fn new() -> Rc<Self> {
        Rc::new(Self::default())
    }
    /// Current level of `line`.
    pub fn level(&self, line: u32) -> bool {
        self.levels
            .borrow()
            .get(line as usize)
            .copied()
            .unwrap_or(false)
    }
    /// Every `set_irq` call seen so far, in order (including ones that did not change the level).
    pub fn changes(&self) -> Vec<(u32, bool)> {
        self.changes.borrow().clone()
    }
    /// A line handle for `line` of this recorder.
    pub fn line(self: &Rc<Self>, line: u32) -> IrqLine {
        IrqLine::new(self.clone(), line)
    }
}

impl IrqSink for LevelRecorder {
    fn set_irq(&self, line: u32, level: bool) {
        let mut levels = self.levels.borrow_mut();
        if levels.len() <= line as usize {
            levels.resize(line as usize + 1, false);
        }
        levels[line as usize] = level;
        self.changes.borrow_mut().push((line, level));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_drive_their_sink() {
        let rec = LevelRecorder::new();
        let l3 = rec.line(3);
        l3.raise();
        assert!(rec.level(3));
        assert!(!rec.level(2));
        l3.clone().lower();
        assert!(!rec.level(3));
        assert_eq!(rec.changes(), vec![(3, true), (3, false)]);
        IrqLine::disconnected().raise();
    }

    #[test]
    fn a_shared_line_is_high_while_any_input_is() {
        let rec = LevelRecorder::new();
        let shared = SharedIrq::new(rec.line(46));
        let (a, b) = (shared.input(0), shared.input(1));
        a.raise();
        assert!(rec.level(46));
        b.raise();
        a.lower();
        assert!(rec.level(46), "b still holds the line");
        b.lower();
        assert!(!rec.level(46));
        // Only changes of the combined level reach the output.
        assert_eq!(rec.changes(), vec![(46, true), (46, false)]);
    }
}
