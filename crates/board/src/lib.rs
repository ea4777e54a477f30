//! Boards as data.
//!
//! A board is one TOML file in the repository's `boards/` folder, in the spirit of Renode's
//! `.repl` platforms and QEMU's `AspeedMachineClass` entries: which SoC, how much DRAM, the
//! hardware straps, the flash chips on each SPI controller's chip selects, the I2C devices by bus
//! and address, how each MAC is wired (a PHY or NC-SI), the console UART, and the device-tree
//! `compatible` strings that identify the board in a firmware image. The SoC crate builds a
//! machine from a [`Board`]; only it knows addresses and interrupt numbers.
//!
//! Every file in `boards/` is built in ([`built_in`]): adding a board is adding a file (and its
//! tests), never wiring code. [`Board::from_toml`] reads a description a user wrote.
//! [`detect`] finds the board from the device trees inside a flash image.
#![deny(missing_docs)]

mod detect;

use std::fmt;
use std::sync::OnceLock;

use serde::Deserialize;

pub use crate::detect::{
    detect, device_trees, gpio_line_names, sd_write_protect_inverted, tree_facts, Choice,
    DeviceTree, LineNames, TreeFacts, TreeKind,
};

include!(concat!(env!("OUT_DIR"), "/boards.rs"));

/// The SoC generations a board can be built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Soc {
    /// Aspeed AST2600 (two Cortex-A7 cores, GICv2).
    Ast2600,
    /// Aspeed AST2500 (one ARM1176JZF-S, the Aspeed VIC).
    Ast2500,
}

impl Soc {
    /// The SoC a device tree's root `compatible` string names (`aspeed,ast2500`, also a
    /// board string such as `aspeed,ast2500-evb`), if it names one emulated here.
    pub fn from_compatible(compatible: &str) -> Option<Soc> {
        let chip = compatible.strip_prefix("aspeed,")?;
        [Soc::Ast2600, Soc::Ast2500]
            .into_iter()
            .find(|soc| chip == soc.name() || chip.starts_with(&format!("{}-", soc.name())))
    }

    /// The board an image for this SoC that names no known board boots as: the SoC's EVB.
    pub fn default_board(self) -> &'static str {
        match self {
            Soc::Ast2600 => "ast2600-evb",
            Soc::Ast2500 => "ast2500-evb",
        }
    }

    /// The SoC's name as device trees spell it after `aspeed,` (`ast2600`).
    pub fn name(self) -> &'static str {
        match self {
            Soc::Ast2600 => "ast2600",
            Soc::Ast2500 => "ast2500",
        }
    }
}

/// An SPI flash controller of the SoC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Controller {
    /// The firmware memory controller (boot flash on CE0).
    Fmc,
    /// SPI controller 1.
    Spi1,
    /// SPI controller 2.
    Spi2,
}

impl Controller {
    /// The controller's name (`fmc`, `spi1`, `spi2`).
    pub fn name(self) -> &'static str {
        match self {
            Controller::Fmc => "fmc",
            Controller::Spi1 => "spi1",
            Controller::Spi2 => "spi2",
        }
    }
}

/// One flash chip on a controller's chip select.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FlashChip {
    /// The controller.
    pub controller: Controller,
    /// The chip select (0 = CE0).
    pub cs: u8,
    /// The chip model, as the `spi-nor` crate names it (QEMU's m25p80 names: `mx66l1g45g`).
    pub model: String,
}

/// How a MAC reaches the network on the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Link {
    /// An Ethernet PHY on the MAC's MDIO bus (RTL8211E model at address 0).
    Phy,
    /// NC-SI to a host NIC: no PHY on MDIO; NC-SI frames go to the network backend.
    Ncsi,
}

/// One MAC's wiring.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Mac {
    /// The MAC, counted from 1 as the datasheet does (MAC1 is Linux's `mac0` node).
    pub mac: u8,
    /// What it is wired to.
    pub link: Link,
    /// The MDIO controller its PHY sits on (from 0); by default the MAC's own (MAC n: n - 1).
    #[serde(default)]
    pub mdio: Option<u8>,
    /// The PHY's address on that MDIO bus (0 by default).
    #[serde(default)]
    pub phy_addr: u8,
}

/// Where a MAC's PHY is: (MDIO controller from 0, PHY address).
pub type PhyPlace = (u8, u8);

/// One device on an I2C bus.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct I2cDevice {
    /// The bus, counted from 0 as Linux's `i2cN` nodes are.
    pub bus: u8,
    /// The 7-bit address.
    pub addr: u8,
    /// The model (`tmp105`, `lm75`, `tmp421`, `24c02`..`24c512`, `pca9552`, `pca9554`...; the
    /// SoC crate says which it has).
    pub device: String,
    /// A temperature sensor's reading at power-on, degrees Celsius.
    #[serde(default)]
    pub celsius: Option<f64>,
    /// An EEPROM's first bytes (the rest is 0xFF).
    #[serde(default)]
    pub contents: Option<String>,
}

/// A board: everything the SoC crate needs to build the machine.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Board {
    /// The machine name (`--machine`), QEMU's where QEMU has the board.
    pub name: String,
    /// One line for `--list-machines`.
    pub description: String,
    /// The SoC.
    pub soc: Soc,
    /// Root `compatible` strings of the board's device trees, most specific first.
    #[serde(default)]
    pub compatible: Vec<String>,
    /// The Linux 6.1 device tree blob built for the board (`aspeed-bmc-ibm-rainier.dtb`), as
    /// the fixture tooling builds it for the board's boot test.
    #[serde(default)]
    pub linux_dtb: Option<String>,
    /// DRAM size in MiB.
    pub dram_mib: u64,
    /// Hardware strap register 1 at power-on (AST2600 SCU500, AST2500 SCU70).
    pub hw_strap1: u32,
    /// Hardware strap register 2 at power-on (AST2600 SCU510; the AST2500 has none: 0).
    pub hw_strap2: u32,
    /// Cores the board's SoC has.
    pub cpus: u32,
    /// The UART that is the console (`uart5`).
    pub console: String,
    /// The MAC that `--nic` connects, counted from 1.
    pub nic: u8,
    /// The flash chips.
    #[serde(default)]
    pub flash: Vec<FlashChip>,
    /// MAC wiring; a MAC not listed has a PHY.
    #[serde(default)]
    pub macs: Vec<Mac>,
    /// The I2C devices.
    #[serde(default)]
    pub i2c: Vec<I2cDevice>,
    /// GPIO inputs the board pulls up, by pin name (`P0`, `18A0`): they read high until the
    /// host drives them (an active-low button reads released).
    #[serde(default)]
    pub gpio_pull_ups: Vec<String>,
}

/// Why a board description cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardError(pub String);

impl fmt::Display for BoardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BoardError {}

impl Board {
    /// Reads a board description (the format of `boards/*.toml`), checking what can be checked
    /// without the SoC: unique names, chip selects, addresses.
    pub fn from_toml(text: &str) -> Result<Board, BoardError> {
        let board: Board = toml::from_str(text).map_err(|e| BoardError(e.to_string()))?;
        board.check()?;
        Ok(board)
    }

    fn check(&self) -> Result<(), BoardError> {
        let err = |what: String| Err(BoardError(format!("board {:?}: {what}", self.name)));
        if self.name.is_empty() || self.name.contains(char::is_whitespace) {
            return err("the name must be one word".into());
        }
        if self.dram_mib == 0 {
            return err("dram-mib must not be 0".into());
        }
        if self.cpus == 0 {
            return err("cpus must not be 0".into());
        }
        for (i, f) in self.flash.iter().enumerate() {
            if self.flash[..i]
                .iter()
                .any(|g| g.controller == f.controller && g.cs == f.cs)
            {
                return err(format!(
                    "two flash chips on {} CE{}",
                    f.controller.name(),
                    f.cs
                ));
            }
        }
        if !self
            .flash
            .iter()
            .any(|f| f.controller == Controller::Fmc && f.cs == 0)
        {
            return err("no boot flash (fmc CE0)".into());
        }
        for (i, m) in self.macs.iter().enumerate() {
            if self.macs[..i].iter().any(|n| n.mac == m.mac) {
                return err(format!("MAC{} is wired twice", m.mac));
            }
            if m.mac == 0 {
                return err("MACs are counted from 1".into());
            }
        }
        if self.nic == 0 {
            return err("nic: MACs are counted from 1".into());
        }
        for (i, d) in self.i2c.iter().enumerate() {
            if d.addr > 0x7f {
                return err(format!(
                    "i2c bus {}: address {:#x} is not 7-bit",
                    d.bus, d.addr
                ));
            }
            if self.i2c[..i]
                .iter()
                .any(|e| e.bus == d.bus && e.addr == d.addr)
            {
                return err(format!(
                    "i2c bus {} address {:#04x} is used twice",
                    d.bus, d.addr
                ));
            }
        }
        Ok(())
    }

    /// DRAM size in bytes.
    pub fn dram_bytes(&self) -> u64 {
        self.dram_mib << 20
    }

    /// The flash chips in QEMU's `-drive if=mtd` order: FMC CE0, CE1, ..., SPI1 CE0, ...,
    /// SPI2 CE0, ...: the order of `--flash` images.
    pub fn flash_order(&self) -> Vec<&FlashChip> {
        let mut chips: Vec<&FlashChip> = self.flash.iter().collect();
        chips.sort_by_key(|f| (f.controller, f.cs));
        chips
    }

    /// The boot flash (FMC CE0).
    pub fn boot_flash(&self) -> &FlashChip {
        self.flash_order()[0]
    }

    /// How MAC `mac` (from 1) is wired: a PHY unless the board says NC-SI.
    pub fn link(&self, mac: u8) -> Link {
        self.macs
            .iter()
            .find(|m| m.mac == mac)
            .map_or(Link::Phy, |m| m.link)
    }

    /// Where MAC `mac`'s PHY is (`None` for NC-SI): on its own MDIO controller at address 0
    /// unless the board says otherwise.
    pub fn phy_place(&self, mac: u8) -> Option<PhyPlace> {
        match self.macs.iter().find(|m| m.mac == mac) {
            Some(m) if m.link == Link::Ncsi => None,
            Some(m) => Some((m.mdio.unwrap_or(mac - 1), m.phy_addr)),
            None => Some((mac - 1, 0)),
        }
    }
}

/// Every board in `boards/`, sorted by name.
pub fn built_in() -> &'static [Board] {
    static BOARDS: OnceLock<Vec<Board>> = OnceLock::new();
    BOARDS.get_or_init(|| {
        let mut boards: Vec<Board> = BUILT_IN
            .iter()
            .map(|(file, text)| {
                Board::from_toml(text).unwrap_or_else(|e| panic!("boards/{file}: {e}"))
            })
            .collect();
        boards.sort_by(|a, b| a.name.cmp(&b.name));
        boards
    })
}

/// The board the emulator boots when nothing says otherwise.
pub const DEFAULT_BOARD: &str = "ast2600-evb";

/// The built-in board called `name`.
pub fn by_name(name: &str) -> Option<&'static Board> {
    built_in().iter().find(|b| b.name == name)
}

/// The default board ([`DEFAULT_BOARD`]).
pub fn default_board() -> &'static Board {
    by_name(DEFAULT_BOARD).expect("boards/ast2600-evb.toml is built in")
}

/// The default board of `soc` ([`Soc::default_board`]).
pub fn default_board_of(soc: Soc) -> &'static Board {
    by_name(soc.default_board()).expect("every SoC's EVB is built in")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_in_boards_is_a_valid_board_with_a_unique_name() {
        let boards = built_in();
        assert_eq!(boards.len(), BUILT_IN.len());
        for (file, _) in BUILT_IN {
            let name = file.trim_end_matches(".toml");
            assert!(
                by_name(name).is_some(),
                "{file} must describe the board {name}"
            );
        }
        assert!(by_name(DEFAULT_BOARD).is_some());
    }

    #[test]
    fn no_two_boards_claim_the_same_compatible_string() {
        let boards = built_in();
        for (i, a) in boards.iter().enumerate() {
            for b in &boards[i + 1..] {
                for c in &a.compatible {
                    assert!(
                        !b.compatible.contains(c),
                        "{} and {} both claim {c}",
                        a.name,
                        b.name
                    );
                }
            }
        }
    }

    const MINIMAL: &str = r#"
        name = "test-bmc"
        description = "a test board"
        soc = "ast2600"
        dram-mib = 512
        hw-strap1 = 0xc0
        hw-strap2 = 0x3
        cpus = 2
        console = "uart5"
        nic = 1
        [[flash]]
        controller = "spi1"
        cs = 0
        model = "w25q512jv"
        [[flash]]
        controller = "fmc"
        cs = 1
        model = "w25q512jv"
        [[flash]]
        controller = "fmc"
        cs = 0
        model = "mx66l1g45g"
        [[macs]]
        mac = 3
        link = "ncsi"
    "#;

    #[test]
    fn flash_chips_come_in_qemu_mtd_order_and_unlisted_macs_have_phys() {
        let b = Board::from_toml(MINIMAL).unwrap();
        let order: Vec<_> = b
            .flash_order()
            .iter()
            .map(|f| (f.controller.name(), f.cs, f.model.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                ("fmc", 0, "mx66l1g45g"),
                ("fmc", 1, "w25q512jv"),
                ("spi1", 0, "w25q512jv")
            ]
        );
        assert_eq!(b.boot_flash().model, "mx66l1g45g");
        assert_eq!(b.link(3), Link::Ncsi);
        assert_eq!(b.link(1), Link::Phy);
        assert_eq!(b.phy_place(1), Some((0, 0)));
        assert_eq!(b.phy_place(3), None);
        assert_eq!(b.dram_bytes(), 512 << 20);
    }

    #[test]
    fn bad_descriptions_are_refused_with_a_reason() {
        let bad = |from: &str, to: &str, needle: &str| {
            let text = MINIMAL.replacen(from, to, 1);
            let e = Board::from_toml(&text).unwrap_err().to_string();
            assert!(e.contains(needle), "{from} -> {to}: {e}");
        };
        bad("cs = 1", "cs = 0", "two flash chips on fmc CE0");
        bad(
            "controller = \"fmc\"\n        cs = 0",
            "controller = \"spi2\"\n        cs = 0",
            "no boot flash",
        );
        bad("mac = 3", "mac = 0", "counted from 1");
        bad("soc = \"ast2600\"", "soc = \"ast9999\"", "unknown variant");
        bad(
            "dram-mib = 512",
            "dram-mib = 512\nflavour = 1",
            "unknown field",
        );
        bad("nic = 1", "", "missing field `nic`");
        let two = format!(
            "{MINIMAL}\n[[i2c]]\nbus = 1\naddr = 0x50\ndevice = \"24c02\"\n[[i2c]]\nbus = 1\naddr = 0x50\ndevice = \"24c02\"\n"
        );
        assert!(Board::from_toml(&two).unwrap_err().0.contains("used twice"));
        let wide = format!("{MINIMAL}\n[[i2c]]\nbus = 1\naddr = 0x80\ndevice = \"24c02\"\n");
        assert!(Board::from_toml(&wide).unwrap_err().0.contains("not 7-bit"));
    }
}
