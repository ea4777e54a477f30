//! Finding the board from the device trees inside a flash image.
//!
//! An OpenBMC image carries the board's Linux device tree in a FIT (the `kernel` partition,
//! usually at 0x100000), and u-boot carries its own device tree (appended to u-boot, or in
//! u-boot's FIT behind an SPL). The image is scanned for flattened device trees; a FIT's
//! `flat_dt` images are opened; the Linux one wins over u-boot's. The first tree whose root
//! `compatible` list names a board picks it.

use crate::{Board, Soc};

/// FDT header magic, big endian.
const FDT_MAGIC: [u8; 4] = [0xd0, 0x0d, 0xfe, 0xed];
/// Size of the FDT header (version 17).
const FDT_HEADER_SIZE: usize = 40;
/// Largest tree taken for a device tree or a FIT (a FIT holds a kernel: tens of MiB).
const MAX_TREE_SIZE: usize = 64 << 20;

/// Where a device tree was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeKind {
    /// Inside a FIT that boots Linux: the tree the kernel gets.
    Linux {
        /// Flash offset of the FIT.
        fit_offset: usize,
    },
    /// Inside a FIT without a Linux kernel (u-boot's own FIT behind an SPL).
    OtherFit {
        /// Flash offset of the FIT.
        fit_offset: usize,
    },
    /// A bare device tree (u-boot's, appended to its binary).
    Plain {
        /// Flash offset of the tree.
        offset: usize,
    },
}

impl TreeKind {
    /// How much a tree of this kind says about the board: Linux's first.
    fn rank(&self) -> u8 {
        match self {
            TreeKind::Linux { .. } => 0,
            TreeKind::OtherFit { .. } | TreeKind::Plain { .. } => 1,
        }
    }
}

/// A device tree found in an image: what its root says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceTree {
    /// Where it is.
    pub kind: TreeKind,
    /// The root `compatible` strings, most specific first.
    pub compatible: Vec<String>,
    /// The root `model`, if any.
    pub model: Option<String>,
}

impl DeviceTree {
    /// `the Linux device tree in the FIT at 0x100000` and the like.
    pub fn place(&self) -> String {
        match self.kind {
            TreeKind::Linux { fit_offset } => {
                format!("the Linux device tree in the FIT at {fit_offset:#x}")
            }
            TreeKind::OtherFit { fit_offset } => {
                format!("the device tree in the FIT at {fit_offset:#x}")
            }
            TreeKind::Plain { offset } => format!("the device tree at {offset:#x}"),
        }
    }

    /// The SoC its root `compatible` names (`aspeed,ast2600`), if one emulated here.
    pub fn soc(&self) -> Option<Soc> {
        self.compatible.iter().find_map(|c| Soc::from_compatible(c))
    }

    /// A chip its root `compatible` names that is not emulated (`aspeed,ast2400`).
    pub fn unsupported_chip(&self) -> Option<&str> {
        self.compatible
            .iter()
            .find(|c| c.as_str() == "aspeed,ast2400" || c.starts_with("aspeed,ast2400-"))
            .map(String::as_str)
    }

    /// `model "X", compatible "a", "b"`.
    pub fn describe(&self) -> String {
        let compatible: Vec<String> = self.compatible.iter().map(|c| format!("{c:?}")).collect();
        match &self.model {
            Some(m) => format!("model {m:?}, compatible {}", compatible.join(", ")),
            None => format!("compatible {}", compatible.join(", ")),
        }
    }
}

/// What [`detect`] concluded.
#[derive(Debug, Clone, PartialEq)]
pub enum Choice<'a> {
    /// A tree names this board.
    Board {
        /// The board.
        board: &'a Board,
        /// The tree that named it.
        tree: DeviceTree,
        /// The compatible string that matched.
        compatible: String,
    },
    /// Device trees were found but none names a board here (the best one is given).
    Unknown(DeviceTree),
    /// No device tree in the image.
    NoTree,
}

impl Choice<'_> {
    /// The board to boot when no tree names one: the EVB of the SoC the best tree names, else
    /// [`crate::DEFAULT_BOARD`].
    pub fn fallback_board(&self) -> &'static Board {
        match self {
            Choice::Unknown(tree) => match tree.soc() {
                Some(soc) => crate::default_board_of(soc),
                None => crate::default_board(),
            },
            _ => crate::default_board(),
        }
    }

    /// One line for the user: which board and why.
    pub fn explain(&self) -> String {
        match self {
            Choice::Board {
                board,
                tree,
                compatible,
            } => format!(
                "board {} (found {compatible:?} in {}: {})",
                board.name,
                tree.place(),
                tree.describe()
            ),
            Choice::Unknown(tree) => format!(
                "no board matches {} ({}); booting as {}",
                tree.place(),
                tree.describe(),
                self.fallback_board().name
            ),
            Choice::NoTree => format!(
                "no device tree found in the image; booting as {}",
                crate::DEFAULT_BOARD
            ),
        }
    }
}

/// Picks the board for `flash` among `boards`: the best-ranked tree (Linux's before u-boot's,
/// then by offset) whose compatible list names one; a tree's strings are tried most specific
/// first.
pub fn detect<'a>(flash: &[u8], boards: &'a [Board]) -> Choice<'a> {
    let mut trees = device_trees(flash);
    trees.sort_by_key(|t| t.kind.rank());
    for tree in &trees {
        for c in &tree.compatible {
            if let Some(board) = boards.iter().find(|b| b.compatible.contains(c)) {
                return Choice::Board {
                    board,
                    tree: tree.clone(),
                    compatible: c.clone(),
                };
            }
        }
    }
    match trees.into_iter().next() {
        Some(t) => Choice::Unknown(t),
        None => Choice::NoTree,
    }
}

/// Every device tree in `flash`, in flash order (a FIT's trees at the FIT's offset).
pub fn device_trees(flash: &[u8]) -> Vec<DeviceTree> {
    let mut trees = Vec::new();
    let mut off = 0;
    while off + FDT_HEADER_SIZE <= flash.len() {
        if flash[off..off + 4] != FDT_MAGIC {
            match next_magic(flash, off + 4) {
                Some(next) => off = next,
                None => break,
            }
            continue;
        }
        match tree_at(flash, off) {
            Some((blob, fdt)) => {
                read_tree(&fdt, off, &mut trees);
                off += blob.len().next_multiple_of(4);
            }
            None => off += 4,
        }
    }
    trees
}

/// The names a device tree gives a GPIO controller's lines (`gpio-line-names`, Linux
/// `devprop_gpiochip_set_names`): line `i` is called `names[i]` (empty: unnamed).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LineNames {
    /// The controller node's unit address (`gpio@1e780000` gives 0x1E78_0000), which the SoC
    /// matches against its memory map.
    pub unit_address: u64,
    /// The node's first `compatible` string (`aspeed,ast2600-gpio`).
    pub compatible: String,
    /// The names, by line.
    pub names: Vec<String>,
}

/// The `gpio-line-names` of every node of the best-ranked device tree in `flash` that has any
/// (Linux's tree before u-boot's, then in flash order).
pub fn gpio_line_names(flash: &[u8]) -> Vec<LineNames> {
    tree_facts(flash).gpio_line_names
}

/// What the machine takes from the firmware's device trees besides the board: read from the
/// boot flash once ([`tree_facts`]), and kept in a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TreeFacts {
    /// [`gpio_line_names`].
    pub gpio_line_names: Vec<LineNames>,
    /// [`sd_write_protect_inverted`].
    pub sd_write_protect_inverted: Vec<(u64, u64)>,
}

/// [`gpio_line_names`] and [`sd_write_protect_inverted`] of `flash`, in one pass over it.
pub fn tree_facts(flash: &[u8]) -> TreeFacts {
    let trees = tree_values(flash, |fdt| (names_of(fdt), inverted_of(fdt)));
    TreeFacts {
        gpio_line_names: trees
            .iter()
            .find(|(_, (names, _))| !names.is_empty())
            .map(|(_, (names, _))| names.clone())
            .unwrap_or_default(),
        sd_write_protect_inverted: trees
            .into_iter()
            .next()
            .map(|(_, (_, inverted))| inverted)
            .unwrap_or_default(),
    }
}

/// An SD host slot the best-ranked device tree in `flash` marks `sdhci,wp-inverted` (its
/// write-protect pin reads high for a protected card): the controller's unit address and the
/// slot's as its node name gives it, relative or absolute (`sdc@1e740000` / `sdhci@100` is
/// `(0x1e740000, 0x100)`; Linux 6.1's `sdhci@1e740100` is `(0x1e740000, 0x1e740100)`).
pub fn sd_write_protect_inverted(flash: &[u8]) -> Vec<(u64, u64)> {
    tree_facts(flash).sd_write_protect_inverted
}

fn inverted_of(fdt: &fdt::Fdt<'_>) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    if let Some(root) = fdt.find_node("/") {
        inverted_slots(root, 0, &mut out);
    }
    out
}

fn unit_address(name: &str) -> Option<u64> {
    name.split_once('@')
        .and_then(|(_, a)| u64::from_str_radix(a, 16).ok())
}

fn inverted_slots(node: fdt::node::FdtNode<'_, '_>, parent: u64, out: &mut Vec<(u64, u64)>) {
    let here = unit_address(node.name).unwrap_or(0);
    let sdhci = node
        .compatible()
        .is_some_and(|c| c.all().any(|c| c.ends_with("-sdhci") || c == "sdhci"));
    if sdhci && node.property("sdhci,wp-inverted").is_some() {
        out.push((parent, here));
    }
    for child in node.children() {
        inverted_slots(child, here, out);
    }
}

/// The first 4-byte-aligned offset from `from` (a multiple of 4) holding the FDT magic: a
/// word compare over the flash, which is mostly not device trees.
fn next_magic(flash: &[u8], from: usize) -> Option<usize> {
    let magic = u32::from_ne_bytes(FDT_MAGIC);
    flash
        .get(from..)?
        .chunks_exact(4)
        .position(|w| u32::from_ne_bytes([w[0], w[1], w[2], w[3]]) == magic)
        .map(|i| from + 4 * i)
}

/// `extract` applied to each Linux or u-boot device tree in `flash`, with the tree's rank, best
/// first (Linux's tree before u-boot's, then in flash order).
fn tree_values<T>(flash: &[u8], extract: impl Fn(&fdt::Fdt<'_>) -> T) -> Vec<(u8, T)> {
    let mut found: Vec<(u8, T)> = Vec::new();
    let mut off = 0;
    while off + FDT_HEADER_SIZE <= flash.len() {
        if flash[off..off + 4] != FDT_MAGIC {
            match next_magic(flash, off + 4) {
                Some(next) => off = next,
                None => break,
            }
            continue;
        }
        match tree_at(flash, off) {
            Some((blob, fdt)) => {
                for_each_tree(&fdt, off, &mut |kind, tree| {
                    found.push((kind.rank(), extract(tree)));
                });
                off += blob.len().next_multiple_of(4);
            }
            None => off += 4,
        }
    }
    // Stable: trees of one rank stay in flash order.
    found.sort_by_key(|(rank, _)| *rank);
    found
}

fn names_of(fdt: &fdt::Fdt<'_>) -> Vec<LineNames> {
    let mut out = Vec::new();
    for node in fdt.all_nodes() {
        let Some(prop) = node.property("gpio-line-names") else {
            continue;
        };
        let Some(unit_address) = unit_address(node.name) else {
            continue;
        };
        let mut names: Vec<String> = prop
            .value
            .split(|&b| b == 0)
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect();
        // The property ends in a NUL: the split leaves one empty name after it.
        if prop.value.last() == Some(&0) {
            names.pop();
        }
        let compatible = node
            .compatible()
            .and_then(|c| c.all().next())
            .unwrap_or("")
            .to_string();
        out.push(LineNames {
            unit_address,
            compatible,
            names,
        });
    }
    out
}

/// Calls `f` with each device tree `fdt` holds: itself, or a FIT's trees.
fn for_each_tree(fdt: &fdt::Fdt<'_>, off: usize, f: &mut dyn FnMut(TreeKind, &fdt::Fdt<'_>)) {
    let Some(images) = fdt.find_node("/images") else {
        f(TreeKind::Plain { offset: off }, fdt);
        return;
    };
    let prop_str = |n: &fdt::node::FdtNode<'_, '_>, name: &str| {
        n.property(name)
            .and_then(|p| p.as_str())
            .map(str::to_string)
    };
    let boots_linux = images.children().any(|n| {
        prop_str(&n, "type").as_deref() == Some("kernel")
            && prop_str(&n, "os").as_deref() == Some("linux")
    });
    for image in images.children() {
        if prop_str(&image, "type").as_deref() != Some("flat_dt") {
            continue;
        }
        let Some(inner) = image
            .property("data")
            .and_then(|d| fdt::Fdt::new(d.value).ok())
        else {
            continue;
        };
        let kind = if boots_linux {
            TreeKind::Linux { fit_offset: off }
        } else {
            TreeKind::OtherFit { fit_offset: off }
        };
        f(kind, &inner);
    }
}

/// The well-formed tree at `off`, if its header holds up.
fn tree_at(flash: &[u8], off: usize) -> Option<(&[u8], fdt::Fdt<'_>)> {
    let be32 = |at: usize| u32::from_be_bytes(flash[off + at..off + at + 4].try_into().unwrap());
    let total = be32(4) as usize;
    if !(FDT_HEADER_SIZE..=MAX_TREE_SIZE).contains(&total) || off + total > flash.len() {
        return None;
    }
    let version = be32(20);
    if !(16..=17).contains(&version) {
        return None;
    }
    let blob = &flash[off..off + total];
    fdt::Fdt::new(blob).ok().map(|f| (blob, f))
}

fn root_of(fdt: &fdt::Fdt<'_>) -> (Vec<String>, Option<String>) {
    let root = fdt.find_node("/");
    let compatible = root
        .as_ref()
        .and_then(|r| r.compatible())
        .map(|c| c.all().map(str::to_string).collect())
        .unwrap_or_default();
    let model = root
        .and_then(|r| r.property("model"))
        .and_then(|p| p.as_str())
        .map(str::to_string);
    (compatible, model)
}

fn read_tree(fdt: &fdt::Fdt<'_>, off: usize, trees: &mut Vec<DeviceTree>) {
    for_each_tree(fdt, off, &mut |kind, tree| {
        let (compatible, model) = root_of(tree);
        if !compatible.is_empty() {
            trees.push(DeviceTree {
                kind,
                compatible,
                model,
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal FDT with a root `compatible` (and `model`), or a FIT of such trees.
    struct Writer {
        structs: Vec<u8>,
        strings: Vec<u8>,
    }

    impl Writer {
        fn new() -> Self {
            Self {
                structs: Vec::new(),
                strings: Vec::new(),
            }
        }
        fn begin(&mut self, name: &str) {
            self.structs.extend(1u32.to_be_bytes());
            self.structs.extend(name.as_bytes());
            self.structs.push(0);
            self.pad();
        }
        fn end(&mut self) {
            self.structs.extend(2u32.to_be_bytes());
        }
        fn prop(&mut self, name: &str, value: &[u8]) {
            let nameoff = match self
                .strings
                .windows(name.len() + 1)
                .position(|w| &w[..name.len()] == name.as_bytes() && w[name.len()] == 0)
            {
                Some(p) => p,
                None => {
                    let p = self.strings.len();
                    self.strings.extend(name.as_bytes());
                    self.strings.push(0);
                    p
                }
            };
            self.structs.extend(3u32.to_be_bytes());
            self.structs.extend((value.len() as u32).to_be_bytes());
            self.structs.extend((nameoff as u32).to_be_bytes());
            self.structs.extend(value);
            self.pad();
        }
        fn str_prop(&mut self, name: &str, values: &[&str]) {
            let mut v = Vec::new();
            for s in values {
                v.extend(s.as_bytes());
                v.push(0);
            }
            self.prop(name, &v);
        }
        fn pad(&mut self) {
            while !self.structs.len().is_multiple_of(4) {
                self.structs.push(0);
            }
        }
        fn finish(mut self) -> Vec<u8> {
            self.structs.extend(9u32.to_be_bytes());
            let rsvmap = FDT_HEADER_SIZE;
            let off_struct = rsvmap + 16;
            let off_strings = off_struct + self.structs.len();
            let total = off_strings + self.strings.len();
            let mut out = Vec::new();
            for v in [
                0xd00d_feed_u32,
                total as u32,
                off_struct as u32,
                off_strings as u32,
                rsvmap as u32,
                17,
                16,
                0,
                self.strings.len() as u32,
                self.structs.len() as u32,
            ] {
                out.extend(v.to_be_bytes());
            }
            out.extend([0u8; 16]);
            out.extend(self.structs);
            out.extend(self.strings);
            out
        }
    }

    fn tree(compatible: &[&str], model: &str) -> Vec<u8> {
        let mut w = Writer::new();
        w.begin("");
        w.str_prop("model", &[model]);
        w.str_prop("compatible", compatible);
        w.end();
        w.finish()
    }

    fn fit(os: &str, dtb: &[u8]) -> Vec<u8> {
        let mut w = Writer::new();
        w.begin("");
        w.begin("images");
        w.begin("kernel-1");
        w.str_prop("type", &[if os == "linux" { "kernel" } else { "firmware" }]);
        w.str_prop("os", &[os]);
        w.prop("data", &[0xd0, 0x0d, 0xfe, 0xed, 0, 0, 0, 0]);
        w.end();
        w.begin("fdt-1");
        w.str_prop("type", &["flat_dt"]);
        w.prop("data", dtb);
        w.end();
        w.end();
        w.end();
        w.finish()
    }

    fn board(name: &str, compatible: &[&str]) -> Board {
        let mut b = crate::default_board().clone();
        b.name = name.into();
        b.compatible = compatible.iter().map(|s| s.to_string()).collect();
        b
    }

    fn flash_with(parts: &[(usize, Vec<u8>)]) -> Vec<u8> {
        let mut flash = vec![0xff; 4 << 20];
        for (at, bytes) in parts {
            flash[*at..at + bytes.len()].copy_from_slice(bytes);
        }
        flash
    }

    #[test]
    fn the_linux_tree_in_a_fit_wins_over_u_boots_own_tree() {
        let boards = [
            board("evb", &["aspeed,ast2600-evb"]),
            board("rainier-bmc", &["ibm,rainier-bmc"]),
        ];
        let uboot_dt = tree(&["aspeed,ast2600-evb", "aspeed,ast2600"], "AST2600 EVB");
        let linux_dt = tree(&["ibm,rainier-bmc", "aspeed,ast2600"], "Rainier");
        let flash = flash_with(&[
            (0x1_0000, fit("u-boot", &uboot_dt)),
            (0x10_0000, fit("linux", &linux_dt)),
        ]);
        let trees = device_trees(&flash);
        assert_eq!(trees.len(), 2, "{trees:?}");
        assert_eq!(
            trees[0].kind,
            TreeKind::OtherFit {
                fit_offset: 0x1_0000
            }
        );
        match detect(&flash, &boards) {
            Choice::Board {
                board,
                tree,
                compatible,
            } => {
                assert_eq!(board.name, "rainier-bmc");
                assert_eq!(compatible, "ibm,rainier-bmc");
                assert_eq!(
                    tree.kind,
                    TreeKind::Linux {
                        fit_offset: 0x10_0000
                    }
                );
                assert_eq!(tree.model.as_deref(), Some("Rainier"));
            }
            other => panic!("{other:?}"),
        }
        let line = detect(&flash, &boards).explain();
        assert!(
            line.contains("rainier-bmc") && line.contains("0x100000"),
            "{line}"
        );
    }

    #[test]
    fn a_facebook_fby35_tree_finds_the_fby35_board() {
        let linux_dt = tree(&["facebook,fby35", "aspeed,ast2600"], "Facebook fby35");
        let flash = flash_with(&[(0x10_0000, fit("linux", &linux_dt))]);
        match detect(&flash, crate::built_in()) {
            Choice::Board { board, .. } => assert_eq!(board.name, "fby35-bmc"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_unknown_linux_tree_falls_back_to_u_boots_and_then_to_nothing() {
        let boards = [board("evb", &["aspeed,ast2600-evb"])];
        let uboot_dt = tree(&["aspeed,ast2600-evb"], "EVB");
        let linux_dt = tree(&["acme,widget-bmc", "aspeed,ast2600"], "Widget");
        // u-boot's DT appended at an unaligned-to-64K but 4-aligned offset.
        let flash = flash_with(&[(0x4_3a0c, uboot_dt), (0x10_0000, fit("linux", &linux_dt))]);
        match detect(&flash, &boards) {
            Choice::Board { board, tree, .. } => {
                assert_eq!(board.name, "evb");
                assert_eq!(tree.kind, TreeKind::Plain { offset: 0x4_3a0c });
            }
            other => panic!("{other:?}"),
        }
        let flash = flash_with(&[(0x10_0000, fit("linux", &linux_dt))]);
        match detect(&flash, &boards) {
            Choice::Unknown(t) => {
                assert_eq!(t.model.as_deref(), Some("Widget"));
                assert!(Choice::Unknown(t).explain().contains("\"acme,widget-bmc\""));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(detect(&flash_with(&[]), &boards), Choice::NoTree);
    }

    #[test]
    fn broken_headers_and_truncated_trees_are_skipped() {
        let boards = [board("evb", &["aspeed,ast2600-evb"])];
        let good = tree(&["aspeed,ast2600-evb"], "EVB");
        let mut truncated = good.clone();
        truncated[4..8].copy_from_slice(&(64u32 << 20).to_be_bytes());
        let mut garbage = FDT_MAGIC.to_vec();
        garbage.extend([0xff; 64]);
        let mut flash = flash_with(&[(0x1000, garbage), (0x2000, truncated), (0x3000, good)]);
        assert_eq!(device_trees(&flash).len(), 1);
        assert!(matches!(detect(&flash, &boards), Choice::Board { .. }));
        // A magic in the last bytes of the image.
        let n = flash.len();
        flash[n - 4..].copy_from_slice(&FDT_MAGIC);
        assert_eq!(device_trees(&flash).len(), 1);
    }
}
