//! Which board to build, and its flash chips' contents: `--machine`, or the board found from
//! the device trees in the boot image; `--flash` images in QEMU's `-drive if=mtd` order.

use std::path::{Path, PathBuf};

use aspeed_soc::board::{self, Board, Choice};
use aspeed_soc::FlashModel;

use crate::image::{self, ChipSize};

/// Where the boot flash comes from.
pub enum BootImage {
    /// A file (raw or `.xz`).
    File(PathBuf),
    /// The project's image built into the binary: a name for errors and its `.xz` bytes.
    BuiltIn(&'static str, &'static [u8]),
    /// None: erased flash (a bare-metal `--elf`).
    Blank,
}

/// What `--machine` names: a built-in board, or a board description file (`*.toml`).
pub fn named_board(name: &str) -> Result<Board, String> {
    if name.ends_with(".toml") {
        let text = std::fs::read_to_string(name).map_err(|e| format!("--machine {name}: {e}"))?;
        return Board::from_toml(&text).map_err(|e| format!("--machine {name}: {e}"));
    }
    board::by_name(name).cloned().ok_or_else(|| {
        let names: Vec<&str> = board::built_in().iter().map(|b| b.name.as_str()).collect();
        format!(
            "--machine {name:?}: no such board; there are {} (--list-machines)",
            names.join(", ")
        )
    })
}

/// SCU500 bit 2, "boot from eMMC" (QEMU's `SCU_AST2600_HW_STRAP_BOOT_SRC_EMMC`): the boot ROM
/// and u-boot's SPL read it to choose the boot device.
const HW_STRAP1_BOOT_EMMC: u32 = 1 << 2;

/// `--machine [NAME][,boot-emmc=on|off][,fmc-model=MODEL][,spi-model=MODEL]`, QEMU's syntax
/// and property names; without NAME the board is found from the image and the options apply
/// to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MachineSpec {
    /// The board's name or description file.
    pub name: Option<String>,
    /// Set or clear the "boot from eMMC" strap.
    pub boot_emmc: Option<bool>,
    /// The model of every FMC flash chip.
    pub fmc_model: Option<String>,
    /// The model of every SPI1 flash chip.
    pub spi_model: Option<String>,
}

/// Parses `--machine`.
pub fn parse_spec(text: &str) -> Result<MachineSpec, String> {
    let mut spec = MachineSpec::default();
    for (i, part) in text.split(',').enumerate() {
        match part.split_once('=') {
            None if i == 0 && !part.is_empty() => spec.name = Some(part.to_string()),
            None if i == 0 => {}
            Some(("boot-emmc", v)) => {
                spec.boot_emmc = Some(match v {
                    "on" | "true" | "yes" | "1" => true,
                    "off" | "false" | "no" | "0" => false,
                    _ => return Err(format!("boot-emmc={v}: expected on or off")),
                })
            }
            Some(("fmc-model", m)) => spec.fmc_model = Some(model_name(m)?),
            Some(("spi-model", m)) => spec.spi_model = Some(model_name(m)?),
            _ => {
                return Err(format!(
                    "{part:?}: expected NAME[,boot-emmc=on|off][,fmc-model=MODEL][,spi-model=MODEL]"
                ))
            }
        }
    }
    Ok(spec)
}

fn model_name(m: &str) -> Result<String, String> {
    match FlashModel::by_name(m) {
        Some(model) => Ok(model.name.to_string()),
        None => Err(format!(
            "no flash model {m:?} (there are {})",
            FlashModel::ALL
                .iter()
                .map(|m| m.name)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

impl MachineSpec {
    /// Applies the options to `board`.
    pub fn apply(&self, board: &mut Board) {
        if let Some(on) = self.boot_emmc {
            if on {
                board.hw_strap1 |= HW_STRAP1_BOOT_EMMC;
            } else {
                board.hw_strap1 &= !HW_STRAP1_BOOT_EMMC;
            }
        }
        for chip in &mut board.flash {
            let model = match chip.controller {
                board::Controller::Fmc => &self.fmc_model,
                board::Controller::Spi1 => &self.spi_model,
                board::Controller::Spi2 => &None,
            };
            if let Some(m) = model {
                chip.model = m.clone();
            }
        }
    }
}

/// Parses `--memory`: MiB, or a size with a `M`/`G` suffix (`1G`, `512M`).
pub fn parse_memory(text: &str) -> Result<u64, String> {
    let t = text.trim().to_ascii_uppercase();
    let t = t
        .strip_suffix("IB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(&t);
    let (digits, scale) = match t.strip_suffix('G') {
        Some(d) => (d, 1024),
        None => (t.strip_suffix('M').unwrap_or(t), 1),
    };
    match digits.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n * scale),
        _ => Err(format!(
            "{text:?}: expected a size in MiB, or with M or G (1G, 512M)"
        )),
    }
}

/// The `--list-machines` table.
pub fn list() -> String {
    let mut out = String::new();
    let width = board::built_in()
        .iter()
        .map(|b| b.name.len())
        .max()
        .unwrap_or(0);
    for b in board::built_in() {
        let default = if b.name == board::DEFAULT_BOARD {
            " (default)"
        } else {
            ""
        };
        let flash = b.boot_flash();
        let size = FlashModel::by_name(&flash.model).map_or(0, |m| m.size >> 20);
        out.push_str(&format!(
            "{:width$}  {}{default}; {} MiB DRAM, {} {size} MiB boot flash, console {}\n",
            b.name, b.description, b.dram_mib, flash.model, b.console
        ));
    }
    out
}

/// The machine to build: the board, each chip's contents in the board's flash order, and the
/// line that says which board and why.
pub struct Machine {
    /// The board (with the boot flash model swapped for an image of another size, see
    /// [`choose`]).
    pub board: Board,
    /// Contents of each flash chip, in the board's flash order.
    pub flashes: Vec<Vec<u8>>,
    /// `board X (why)`.
    pub reason: String,
}

fn chip_size(board: &Board, index: usize) -> Result<ChipSize, String> {
    let chip = board.flash_order()[index];
    let model = FlashModel::by_name(&chip.model)
        .ok_or_else(|| format!("board {}: no flash model {:?}", board.name, chip.model))?;
    Ok(ChipSize {
        size: model.size as usize,
        what: format!(
            "board {}'s {} CE{} ({}, {} MiB)",
            board.name,
            chip.controller.name(),
            chip.cs,
            model.name,
            model.size >> 20
        ),
        also: vec![],
    })
}

/// Chooses the board and loads the flash images. `machine` is `--machine`; `extra` are the
/// images after the first `--flash` (FMC CE1, ..., SPI1 CE0, ...). Without `--machine` the
/// boot image's device trees pick the board ([`board::detect`]); an image with none that names
/// a board boots as the EVB, whose boot flash then takes the image's size if a chip of that
/// size exists (a 128 MiB image gets a 128 MiB chip).
pub fn choose(
    boot: &BootImage,
    extra: &[PathBuf],
    machine: &MachineSpec,
    adjust: &dyn Fn(&mut Board),
    pad: bool,
) -> Result<Machine, String> {
    let (name, data) = match boot {
        BootImage::File(p) => (p.clone(), Some(image::load(p).map_err(|e| e.to_string())?)),
        BootImage::BuiltIn(name, xz) => (
            PathBuf::from(name),
            Some(image::decode(Path::new(name), xz.to_vec()).map_err(|e| e.to_string())?),
        ),
        BootImage::Blank => (PathBuf::from("(blank flash)"), None),
    };
    if let Some(bytes) = &data {
        check_chip(&name, bytes, machine.name.as_deref())?;
    }
    let (mut board, reason, adapt) = match (machine.name.as_deref(), &data) {
        (Some(m), _) => {
            let b = named_board(m)?;
            let why = format!("board {} (--machine)", b.name);
            (b, why, false)
        }
        (None, None) => {
            let b = board::default_board().clone();
            let why = format!("board {} (the default)", b.name);
            (b, why, false)
        }
        (None, Some(bytes)) => match board::detect(bytes, board::built_in()) {
            Choice::Board {
                board: b,
                tree,
                compatible,
            } => {
                let why = Choice::Board {
                    board: b,
                    tree,
                    compatible,
                }
                .explain();
                (b.clone(), why, false)
            }
            other => (other.fallback_board().clone(), other.explain(), true),
        },
    };
    machine.apply(&mut board);
    adjust(&mut board);
    let mut chip = chip_size(&board, 0)?;
    let flash0 = match data {
        Some(bytes) => {
            if adapt {
                chip.also = FlashModel::ALL
                    .iter()
                    .map(|m| m.size as usize)
                    .filter(|&s| s != chip.size)
                    .collect();
                chip.also.dedup();
            }
            let bytes = image::fit(&name, bytes, &chip, pad).map_err(|e| e.to_string())?;
            image::check_boot_loader(&name, &bytes).map_err(|e| e.to_string())?;
            if bytes.len() != chip.size {
                let old = board.boot_flash().model.clone();
                let model = resize_model(&old, bytes.len() as u64).ok_or_else(|| {
                    format!(
                        "{}: no flash chip holds {} bytes",
                        name.display(),
                        bytes.len()
                    )
                })?;
                set_boot_model(&mut board, model.name);
            }
            bytes
        }
        None => vec![0xff; chip.size],
    };
    let count = board.flash_order().len();
    if extra.len() >= count {
        return Err(format!(
            "board {} has {count} flash chips (in order: {}); {} --flash images given",
            board.name,
            board
                .flash_order()
                .iter()
                .map(|c| format!("{} CE{}", c.controller.name(), c.cs))
                .collect::<Vec<_>>()
                .join(", "),
            extra.len() + 1
        ));
    }
    let mut flashes = vec![flash0];
    for index in 1..count {
        let chip = chip_size(&board, index)?;
        flashes.push(match extra.get(index - 1) {
            Some(p) => {
                let bytes = image::load(p).map_err(|e| e.to_string())?;
                image::fit(p, bytes, &chip, pad).map_err(|e| e.to_string())?
            }
            None => vec![0xff; chip.size],
        });
    }
    Ok(Machine {
        board,
        flashes,
        reason,
    })
}

/// Refuses an image whose device trees name a SoC that is not emulated (an AST2400), or, with
/// `--machine`, another SoC than the board's: it would only hang.
fn check_chip(name: &Path, bytes: &[u8], machine: Option<&str>) -> Result<(), String> {
    let mut trees = board::device_trees(bytes);
    trees.sort_by_key(|t| !matches!(t.kind, board::TreeKind::Linux { .. }));
    if let Some(tree) = trees
        .iter()
        .find(|t| t.soc().is_none() && t.unsupported_chip().is_some())
    {
        return Err(format!(
            "{}: {} names {} ({}): that SoC is not emulated (AST2600 and AST2500 are)",
            name.display(),
            tree.place(),
            tree.unsupported_chip().unwrap_or("?"),
            tree.describe()
        ));
    }
    let Some(m) = machine else {
        return Ok(());
    };
    let board = named_board(m)?;
    if let Some((tree, soc)) = trees.iter().find_map(|t| t.soc().map(|s| (t, s))) {
        if soc != board.soc {
            return Err(format!(
                "{}: the image is for an {} ({} says {}), but --machine {} is an {} board; \
                 leave out --machine or pick an {} board (--list-machines)",
                name.display(),
                soc.name().to_uppercase(),
                tree.place(),
                tree.describe(),
                board.name,
                board.soc.name().to_uppercase(),
                soc.name().to_uppercase()
            ));
        }
    }
    Ok(())
}

/// A model like `old` (the same maker if there is one) holding `size` bytes.
fn resize_model(old: &str, size: u64) -> Option<FlashModel> {
    let vendor = FlashModel::by_name(old).map(|m| m.vendor);
    let fits = || FlashModel::ALL.into_iter().filter(|m| m.size == size);
    fits()
        .find(|m| Some(m.vendor) == vendor)
        .or_else(|| fits().next())
}

fn set_boot_model(board: &mut Board, model: &str) {
    if let Some(f) = board
        .flash
        .iter_mut()
        .find(|f| f.controller == board::Controller::Fmc && f.cs == 0)
    {
        f.model = model.to_string();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_board_is_listed_and_found_by_name() {
        let table = list();
        for b in board::built_in() {
            assert!(table.contains(&b.name), "{table}");
            assert_eq!(named_board(&b.name).unwrap().name, b.name);
        }
        assert!(table.contains("ast2600-evb") && table.contains("(default)"));
        let e = named_board("no-such-bmc").unwrap_err();
        assert!(
            e.contains("no such board") && e.contains("ast2600-evb"),
            "{e}"
        );
    }

    #[test]
    fn machine_options_are_qemus() {
        let spec = parse_spec("rainier-bmc,boot-emmc=off,fmc-model=mx66u51235f").unwrap();
        assert_eq!(spec.name.as_deref(), Some("rainier-bmc"));
        let mut b = named_board("rainier-bmc").unwrap();
        assert_ne!(
            b.hw_strap1 & HW_STRAP1_BOOT_EMMC,
            0,
            "rainier boots from eMMC"
        );
        spec.apply(&mut b);
        assert_eq!(b.hw_strap1 & HW_STRAP1_BOOT_EMMC, 0);
        assert_eq!(b.hw_strap1, 0x00422016 & !4, "the other straps stay");
        assert!(b.flash_order()[..2]
            .iter()
            .all(|c| c.model == "mx66u51235f"));
        assert_eq!(
            b.flash_order()[2].model,
            "mx66l1g45g",
            "SPI1 keeps its chip"
        );
        let detected = parse_spec("boot-emmc=on").unwrap();
        assert_eq!((detected.name, detected.boot_emmc), (None, Some(true)));
        assert!(parse_spec("evb,boot-emmc=maybe")
            .unwrap_err()
            .contains("on or off"));
        assert!(parse_spec("evb,fmc-model=xyz")
            .unwrap_err()
            .contains("no flash model"));
        assert!(parse_spec("evb,colour=red")
            .unwrap_err()
            .contains("expected NAME"));
        assert_eq!(parse_memory("1G"), Ok(1024));
        assert_eq!(parse_memory("512M"), Ok(512));
        assert_eq!(parse_memory("2048"), Ok(2048));
        assert!(parse_memory("lots").is_err() && parse_memory("0").is_err());
    }

    #[test]
    fn an_unknown_image_of_another_chip_size_gets_a_chip_of_its_size() {
        let dir = std::env::temp_dir().join(format!("ast-emu-machine-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("unknown-128.img");
        let mut bytes = vec![0xff; 128 << 20];
        bytes[0] = 0xea;
        std::fs::write(&p, &bytes).unwrap();
        let none = MachineSpec::default();
        let m = choose(&BootImage::File(p.clone()), &[], &none, &|_| {}, false).unwrap();
        assert_eq!(m.board.name, "ast2600-evb");
        assert_eq!(m.board.boot_flash().model, "mx66l1g45g");
        assert_eq!(m.flashes[0].len(), 128 << 20);
        assert!(m.reason.contains("no device tree"), "{}", m.reason);
        // Named explicitly, the board's own chip decides.
        let evb = parse_spec("ast2600-evb").unwrap();
        let e = choose(&BootImage::File(p.clone()), &[], &evb, &|_| {}, false)
            .err()
            .unwrap();
        assert!(e.contains("needs exactly 67108864 bytes"), "{e}");
        std::fs::remove_file(&p).unwrap();
    }
}
