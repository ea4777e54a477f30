//! `--sd IMG` (repeatable: slot 0, then slot 1 of the SD controller) and `--emmc IMG`: a card
//! over each image ([`crate::storage::ImageOverlay`]: the file changes only with `--persist`),
//! put into the SoC's slots.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use aspeed_soc::{AspeedSoc, CardSlot};

use crate::storage::{ImageOverlay, SharedOverlay};

/// The card images the user gave.
pub struct CardImages<'a> {
    /// `--sd`, in slot order.
    pub sd: &'a [PathBuf],
    /// `--emmc`.
    pub emmc: Option<&'a PathBuf>,
}

impl CardImages<'_> {
    /// Whether any card is given.
    pub fn any(&self) -> bool {
        !self.sd.is_empty() || self.emmc.is_some()
    }

    /// Every image with its option and slot.
    fn each(&self) -> Vec<(&'static str, &PathBuf, CardSlot, sd_card::Kind)> {
        let mut out: Vec<_> = self
            .sd
            .iter()
            .enumerate()
            .map(|(i, p)| ("--sd", p, CardSlot::Sd(i), sd_card::Kind::Sd))
            .collect();
        if let Some(p) = self.emmc {
            out.push(("--emmc", p, CardSlot::Emmc, sd_card::Kind::Emmc));
        }
        out
    }

    /// The files `--persist` writes back, checked before anything boots.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.each()
            .into_iter()
            .map(|(_, p, _, _)| p.clone())
            .collect()
    }
}

/// The overlay as a card's storage.
struct Overlay(SharedOverlay);

impl sd_card::Storage for Overlay {
    fn len(&self) -> u64 {
        self.0.borrow().len()
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.0.borrow_mut().read_at(offset, buf)
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.0.borrow_mut().write_at(offset, data)
    }
    fn zero_range(&mut self, offset: u64, len: u64) -> std::io::Result<()> {
        self.0.borrow_mut().zero_range(offset, len)
    }
}

/// Opens each image and puts its card into its slot; with `persist`, the SoC writes each
/// card's changes back wherever it persists the flash.
pub fn insert_all(
    soc: &mut AspeedSoc,
    images: &CardImages<'_>,
    persist: bool,
) -> Result<(), String> {
    if images.sd.len() > 2 {
        return Err(format!(
            "--sd is given {} times: the SD controller has two slots",
            images.sd.len()
        ));
    }
    for (option, path, slot, kind) in images.each() {
        let overlay: SharedOverlay = Rc::new(RefCell::new(ImageOverlay::open(path, option)?));
        let card = sd_card::Card::new(kind, Box::new(Overlay(overlay.clone())), 0)
            .map_err(|e| format!("{option} {}: {e}", path.display()))?;
        soc.insert_card(slot, Box::new(card), false)
            .map_err(|e| format!("{option} {}: {}", path.display(), e.0))?;
        soc.add_card_storage(slot, overlay.clone());
        if persist {
            soc.add_storage_saver(Box::new(move || overlay.borrow_mut().persist()));
        }
    }
    Ok(())
}
