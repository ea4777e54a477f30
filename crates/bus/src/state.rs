//! Device state in a snapshot: each device saves its registers and internal state as plain
//! data (rust-vmm vm-superio's `state()` / `from_state()`), tagged with its kind and a format
//! version, so a snapshot from another format is refused with a clear message, never misread.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// One device's saved state: its kind, the version of its format and its fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceState {
    /// What saved it (`uart`, `aspeed-smc`): a state loads only into a device of the same kind.
    pub kind: String,
    /// The version of `data`'s format; a device loads only the version it saves.
    pub version: u32,
    /// The fields, as the device's state struct serialises them.
    pub data: serde_json::Value,
}

impl DeviceState {
    /// The state `state` of a device of kind `kind`, in format `version`.
    pub fn new<T: Serialize>(kind: &str, version: u32, state: &T) -> Self {
        Self {
            kind: kind.into(),
            version,
            // Serialising plain data structs to a JSON value cannot fail (no maps with
            // non-string keys are used in device states); a failure is a bug in the device.
            data: serde_json::to_value(state)
                .unwrap_or_else(|e| panic!("{kind}: state does not serialise: {e}")),
        }
    }

    /// The state of a device that keeps none of its own (a view of another device's
    /// registers, such as a GIC's CPU interface or a flash window).
    pub fn stateless(kind: &str) -> Self {
        Self {
            kind: kind.into(),
            version: 0,
            data: serde_json::Value::Null,
        }
    }

    /// The fields as a `T`, if this state is of kind `kind` in format `version`.
    pub fn decode<T: DeserializeOwned>(&self, kind: &str, version: u32) -> Result<T, StateError> {
        self.check(kind, version)?;
        serde_json::from_value(self.data.clone())
            .map_err(|e| StateError(format!("{kind} state (format {version}) is malformed: {e}")))
    }

    /// Whether this state is of kind `kind` in format `version`, with an error saying why not.
    pub fn check(&self, kind: &str, version: u32) -> Result<(), StateError> {
        if self.kind != kind {
            return Err(StateError(format!(
                "a {} state cannot be loaded into a {kind}",
                self.kind
            )));
        }
        if self.version != version {
            return Err(StateError(format!(
                "{kind} state has format version {}, this build reads version {version}",
                self.version
            )));
        }
        Ok(())
    }
}

/// A register file (`[u32; N]`) in a saved state, as a sequence of words: serde derives
/// arrays of up to 32 elements only. Use as `#[serde(with = "bus::register_words")]`.
pub mod register_words {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the words as a sequence.
    pub fn serialize<S: Serializer, const N: usize>(
        words: &[u32; N],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(words)
    }

    /// Reads a sequence of exactly `N` words.
    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u32; N], D::Error> {
        let words = Vec::<u32>::deserialize(d)?;
        let len = words.len();
        words
            .try_into()
            .map_err(|_| D::Error::invalid_length(len, &format!("{N} registers").as_str()))
    }
}

/// Why a state could not be saved or loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateError(pub String);

impl StateError {
    /// The error of a device that has no snapshot support.
    pub fn unsupported(kind: &str) -> Self {
        Self(format!("{kind}: no snapshot support"))
    }
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StateError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Regs {
        ctrl: u32,
        fifo: Vec<u8>,
    }

    #[test]
    fn a_state_decodes_into_its_own_kind_and_version_only() {
        let regs = Regs {
            ctrl: 7,
            fifo: vec![1, 2],
        };
        let s = DeviceState::new("uart", 1, &regs);
        assert_eq!(s.decode::<Regs>("uart", 1).unwrap(), regs);
        let e = s.decode::<Regs>("wdt", 1).unwrap_err();
        assert!(
            e.0.contains("a uart state cannot be loaded into a wdt"),
            "{e}"
        );
        let e = s.decode::<Regs>("uart", 2).unwrap_err();
        assert!(e.0.contains("format version 1"), "{e}");
    }

    #[test]
    fn a_malformed_state_is_an_error() {
        let mut s = DeviceState::new(
            "uart",
            1,
            &Regs {
                ctrl: 1,
                fifo: vec![],
            },
        );
        s.data = serde_json::json!({"ctrl": "seven"});
        assert!(s
            .decode::<Regs>("uart", 1)
            .unwrap_err()
            .0
            .contains("malformed"));
    }
}
