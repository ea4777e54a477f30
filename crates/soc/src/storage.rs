//! Cards in the SD and eMMC slots: the host puts a card (an [`sdhci::SdBus`]: the binary's
//! SD card or eMMC device over the user's image) into a slot of the SoC table's controllers,
//! and registers how to persist its writes ([`AspeedSoc::add_storage_saver`]), which runs
//! wherever the flash is persisted.

use crate::{map, AspeedSoc, SocError};

/// A slot of the SoC's SD host controllers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CardSlot {
    /// Slot 0 or 1 of the SD controller (`sdhci0`, `sdhci1`: Linux's `1e740100.sdhci`,
    /// `1e740200.sdhci`).
    Sd(usize),
    /// The eMMC controller's slot (`1e750100.sdhci`).
    Emmc,
}

impl CardSlot {
    /// The controller block and slot index in it.
    fn place(self) -> (map::Block, usize) {
        match self {
            CardSlot::Sd(n) => (map::Block::Sdc, n),
            CardSlot::Emmc => (map::Block::EmmcController, 0),
        }
    }
}

impl std::fmt::Display for CardSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CardSlot::Sd(n) => write!(f, "SD slot {n}"),
            CardSlot::Emmc => write!(f, "the eMMC slot"),
        }
    }
}

/// Persists a card's writes; `Ok(true)` if it wrote anything.
pub type StorageSaver = Box<dyn FnMut() -> Result<bool, String>>;

/// A card's storage as snapshots see it: the image file it reads, and the guest's writes over
/// it as chunks of [`CardStorage::chunk_size`] bytes (`None`: a chunk of zeros).
pub trait CardStorage {
    /// The image file.
    fn image(&self) -> &std::path::Path;
    /// The card's size in bytes.
    fn len(&self) -> u64;
    /// Whether the card holds no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Bytes per chunk.
    fn chunk_size(&self) -> u64;
    /// The chunks the guest changed, by index, in order.
    fn changes(&self) -> Vec<(u64, Option<Vec<u8>>)>;
    /// Replaces the guest's changes with `changes` (as [`CardStorage::changes`] gave them).
    fn set_changes(&mut self, changes: Vec<(u64, Option<Vec<u8>>)>) -> Result<(), String>;
}

/// A card's storage, shared by the host and the SoC.
pub type SharedCardStorage = std::rc::Rc<std::cell::RefCell<dyn CardStorage>>;

impl AspeedSoc {
    fn controller(
        &self,
        block: map::Block,
    ) -> Option<&std::rc::Rc<std::cell::RefCell<sdhci::AspeedSdc>>> {
        let base = self.map.placement(block)?.base;
        self.io
            .sd_controllers
            .iter()
            .find(|(b, _)| *b == base)
            .map(|(_, c)| c)
    }

    /// Puts `card` into `slot`, present from power-on; `read_only` is its write-protect tab.
    pub fn insert_card(
        &mut self,
        slot: CardSlot,
        card: Box<dyn sdhci::SdBus>,
        read_only: bool,
    ) -> Result<(), SocError> {
        let (block, n) = slot.place();
        let controller = self
            .controller(block)
            .ok_or_else(|| SocError(format!("this SoC has no {slot}")))?;
        if !controller.borrow_mut().insert(n, card, read_only) {
            return Err(SocError(format!("this SoC has no {slot}")));
        }
        self.cards_inserted += 1;
        Ok(())
    }

    /// Registers the storage of the card in `slot`, so that snapshots save the guest's writes
    /// to it (a machine with a card whose storage is not registered cannot be saved).
    pub fn add_card_storage(&mut self, slot: CardSlot, storage: SharedCardStorage) {
        self.card_storages.retain(|(s, _)| *s != slot);
        self.card_storages.push((slot, storage));
    }

    /// Marks the slots whose write-protect pin the board inverts, as the image's device tree
    /// says (`sdhci,wp-inverted`: [`board::sd_write_protect_inverted`]): each is the
    /// controller's base address and the slot's offset in it.
    pub(crate) fn set_sd_write_protect_inverted(&mut self, slots: &[(u64, u64)]) {
        for (base, slot_offset) in slots {
            let Some((_, c)) = self.io.sd_controllers.iter().find(|(b, _)| b == base) else {
                continue;
            };
            // Node names give the slot's address relative to the controller or absolute.
            let offset = if slot_offset >= base {
                slot_offset - base
            } else {
                *slot_offset
            };
            let n = (offset / sdhci::SLOT_REGS_SIZE).wrapping_sub(1) as usize;
            if let Some(s) = c.borrow_mut().slot_mut(n) {
                s.set_write_protect_inverted(true);
            }
        }
    }

    /// Runs `saver` wherever the flash is persisted ([`AspeedSoc::save_flash`]: exit, `Ctrl-a s`,
    /// before each guest reboot).
    pub fn add_storage_saver(&mut self, saver: StorageSaver) {
        self.storage_savers.push(saver);
    }
}
