//! The Aspeed SD/eMMC controller (`aspeed,ast2600-sd-controller`): global registers at 0x000
//! and one SDHCI slot per 0x100 bytes after them, as Linux `sdhci-of-aspeed.c` and QEMU
//! `hw/sd/aspeed_sdhci.c` see it. The SD controller has two slots (the device tree's
//! `sdhci0`, `sdhci1`), the eMMC controller one (`emmc`); the slots' interrupts are one line.
//!
//! The slots' capabilities read what the controller's mirror registers hold
//! ([`REG_SDC_SLOT0_CAP`]: Linux `aspeed_sdc_set_slot_capability` sets bits there, such as
//! 1.8 V support), starting from the value the hardware reports ([`ASPEED_SDHCI_CAPABILITIES`]).

use std::rc::Rc;

use bus::{Device, DeviceState, GuestMemory, IrqLine, StateError, UnimplementedLog};

use crate::{SdBus, Sdhci, SlotState, SLOT_REGS_SIZE};

/// Size of the global register block.
pub const SDC_REGS_SIZE: u64 = 0x100;
/// Kind of a controller's saved state ([`Device::save_state`]).
pub const STATE_KIND: &str = "aspeed-sdc";
/// Format version of a controller's saved state.
pub const STATE_VERSION: u32 = 1;

/// What a controller saves: its registers and its slots', and which slots hold a card (the
/// cards themselves, and what is stored on them, are not part of it: a machine with cards
/// is not saved).
#[derive(serde::Serialize, serde::Deserialize)]
struct SavedSdc {
    sdc: SdcState,
    cards: Vec<bool>,
}
/// Controller information: slots present (bits 16, 17), 8-bit mode per slot (bits 24, 25),
/// reset (bit 0, clears itself): Linux `ASPEED_SDC_INFO`.
pub const REG_SDC_INFO: u64 = 0x00;
/// INFO: slot 0 present: QEMU `ASPEED_SDHCI_INFO_SLOT0`.
pub const SDC_INFO_SLOT0: u32 = 1 << 16;
/// INFO: slot 1 present: QEMU `ASPEED_SDHCI_INFO_SLOT1`.
pub const SDC_INFO_SLOT1: u32 = 1 << 17;
/// INFO: controller reset (clears itself): QEMU `ASPEED_SDHCI_INFO_RESET`.
pub const SDC_INFO_RESET: u32 = 1 << 0;
/// Card detect debounce: QEMU `ASPEED_SDHCI_DEBOUNCE` (reset value 5).
pub const REG_SDC_DEBOUNCE: u64 = 0x04;
/// Slot 0's capabilities mirror (words 0x10 and 0x14; slot 1's at 0x20 and 0x24): Linux
/// `aspeed_sdc_set_slot_capability`.
pub const REG_SDC_SLOT0_CAP: u64 = 0x10;
/// Slot 1's capabilities mirror.
pub const REG_SDC_SLOT1_CAP: u64 = 0x20;
/// Clock phase taps: Linux `ASPEED_SDC_PHASE`.
pub const REG_SDC_PHASE: u64 = 0xF4;
/// Interrupt status of the slots (read only; bit n: slot n): QEMU `ASPEED_SDHCI_IRQ_STAT`.
pub const REG_SDC_IRQ_STATUS: u64 = 0xFC;
/// The capabilities the AST2500/AST2600 slots report (QEMU `ASPEED_SDHCI_CAPABILITIES`):
/// 3.3 V, suspend/resume, SDMA, high speed, ADMA2, timeout clock in MHz; the base clock
/// field is 0 (Linux's `SDHCI_QUIRK_CAP_CLOCK_BASE_BROKEN` takes the clock instead).
pub const ASPEED_SDHCI_CAPABILITIES: u64 = 0x01E8_0080;

/// The controller's global registers and its slots: plain data, for snapshots.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SdcState {
    /// The global register words.
    pub regs: Vec<u32>,
    /// The slots.
    pub slots: Vec<SlotState>,
    /// The slots' capabilities.
    pub capabilities: Vec<u64>,
}

/// An Aspeed SD or eMMC controller with its slots.
pub struct AspeedSdc {
    regs: [u32; (SDC_REGS_SIZE / 4) as usize],
    slots: Vec<Sdhci>,
    irq: IrqLine,
    unimp: UnimplementedLog,
}

impl AspeedSdc {
    /// A controller `name` with `slots` slots (2: the SD controller, 1: the eMMC one) whose
    /// DMA reaches `memory`, raising `irq`.
    pub fn new(name: &str, slots: usize, irq: IrqLine, memory: Rc<dyn GuestMemory>) -> Self {
        let slots = (0..slots.clamp(1, 2))
            .map(|n| {
                Sdhci::new(
                    &format!("{name}.slot{n}"),
                    ASPEED_SDHCI_CAPABILITIES,
                    memory.clone(),
                )
            })
            .collect();
        let mut sdc = Self {
            regs: [0; (SDC_REGS_SIZE / 4) as usize],
            slots,
            irq,
            unimp: UnimplementedLog::new(name),
        };
        sdc.reset_regs();
        sdc
    }

    /// The size of the whole block: the global registers and the slots.
    pub fn regs_size(&self) -> u64 {
        SDC_REGS_SIZE + SLOT_REGS_SIZE * self.slots.len() as u64
    }

    /// Slot `n`, if the controller has it.
    pub fn slot_mut(&mut self, n: usize) -> Option<&mut Sdhci> {
        self.slots.get_mut(n)
    }

    /// Puts `card` in slot `n`; false if there is no such slot.
    pub fn insert(&mut self, n: usize, card: Box<dyn SdBus>, read_only: bool) -> bool {
        match self.slots.get_mut(n) {
            Some(s) => {
                s.insert(card, read_only);
                true
            }
            None => false,
        }
    }

    /// The registers of the controller and its slots.
    pub fn state(&self) -> SdcState {
        SdcState {
            regs: self.regs.to_vec(),
            slots: self.slots.iter().map(Sdhci::state).collect(),
            capabilities: self.slots.iter().map(Sdhci::capabilities).collect(),
        }
    }

    /// Restores the registers from `state` (the cards stay as inserted).
    pub fn restore(&mut self, state: &SdcState) {
        for (r, v) in self.regs.iter_mut().zip(&state.regs) {
            *r = *v;
        }
        for (i, s) in self.slots.iter_mut().enumerate() {
            if let Some(st) = state.slots.get(i) {
                s.restore(st);
            }
            if let Some(&c) = state.capabilities.get(i) {
                s.set_capabilities(c);
            }
        }
        self.update_irq();
    }

    fn reset_regs(&mut self) {
        self.regs = [0; (SDC_REGS_SIZE / 4) as usize];
        self.regs[0] = SDC_INFO_SLOT0
            | if self.slots.len() > 1 {
                SDC_INFO_SLOT1
            } else {
                0
            };
        self.regs[1] = 5;
        for s in &mut self.slots {
            s.set_capabilities(ASPEED_SDHCI_CAPABILITIES);
        }
    }

    fn update_irq(&mut self) {
        let mut status = 0;
        for (n, s) in self.slots.iter().enumerate() {
            if s.irq_level() {
                status |= 1 << n;
            }
        }
        self.regs[(REG_SDC_IRQ_STATUS / 4) as usize] = status;
        self.irq.set(status != 0);
    }

    /// The slot and capability word a mirror register offset names.
    fn mirror(&self, reg: u64) -> Option<(usize, u32)> {
        let slot = match reg & !0xF {
            REG_SDC_SLOT0_CAP => 0,
            REG_SDC_SLOT1_CAP => 1,
            _ => return None,
        };
        let word = ((reg & 0xF) / 4) as u32;
        (word < 2 && slot < self.slots.len()).then_some((slot, word))
    }

    fn global_read(&mut self, offset: u64, size: u8) -> u64 {
        let reg = offset & !3;
        let v = if let Some((slot, word)) = self.mirror(reg) {
            (self.slots[slot].capabilities() >> (32 * word)) as u32
        } else {
            match reg {
                REG_SDC_INFO | REG_SDC_DEBOUNCE | 0x08 | REG_SDC_PHASE | REG_SDC_IRQ_STATUS
                | 0xEC | 0xF0 => self.regs[(reg / 4) as usize],
                _ => {
                    self.unimp.read(offset, size);
                    self.regs[(reg / 4) as usize]
                }
            }
        };
        bus::subword(v, offset, size)
    }

    fn global_write(&mut self, offset: u64, size: u8, value: u64) {
        let reg = offset & !3;
        let old = self.global_read(reg, 4) as u32;
        let v = bus::merge_subword(old, offset, size, value);
        if let Some((slot, word)) = self.mirror(reg) {
            let caps = self.slots[slot].capabilities();
            let shift = 32 * word;
            let caps = (caps & !(0xFFFF_FFFFu64 << shift)) | (u64::from(v) << shift);
            self.slots[slot].set_capabilities(caps);
            return;
        }
        match reg {
            REG_SDC_INFO => {
                if v & SDC_INFO_RESET != 0 {
                    for s in &mut self.slots {
                        s.reset();
                    }
                }
                // The slot bits say what the controller has.
                let slots = self.regs[0] & (SDC_INFO_SLOT0 | SDC_INFO_SLOT1);
                self.regs[0] = (v & !(SDC_INFO_RESET | SDC_INFO_SLOT0 | SDC_INFO_SLOT1)) | slots;
            }
            REG_SDC_IRQ_STATUS => {}
            _ => {
                if !matches!(reg, REG_SDC_DEBOUNCE | 0x08 | REG_SDC_PHASE | 0xEC | 0xF0) {
                    self.unimp.write(offset, size, value);
                }
                self.regs[(reg / 4) as usize] = v;
            }
        }
    }
}

impl Device for AspeedSdc {
    fn save_state(&self) -> Option<DeviceState> {
        Some(DeviceState::new(
            STATE_KIND,
            STATE_VERSION,
            &SavedSdc {
                sdc: self.state(),
                cards: self.slots.iter().map(Sdhci::has_card).collect(),
            },
        ))
    }

    /// Registers and transfers as saved, provided the slots and their cards are as they were
    /// saved; the interrupt line follows.
    fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        let saved: SavedSdc = state.decode(STATE_KIND, STATE_VERSION)?;
        let cards: Vec<bool> = self.slots.iter().map(Sdhci::has_card).collect();
        if saved.sdc.slots.len() != self.slots.len()
            || saved.sdc.regs.len() != self.regs.len()
            || saved.sdc.capabilities.len() != self.slots.len()
        {
            return Err(StateError(format!(
                "a controller with {} slots was saved, this one has {}",
                saved.sdc.slots.len(),
                self.slots.len()
            )));
        }
        if saved.cards != cards {
            return Err(StateError(format!(
                "the saved controller's slots held cards {:?}, this one's hold {cards:?}",
                saved.cards
            )));
        }
        self.restore(&saved.sdc);
        Ok(())
    }

    fn read(&mut self, offset: u64, size: u8) -> u64 {
        let v = if offset < SDC_REGS_SIZE {
            self.global_read(offset, size)
        } else {
            let n = ((offset - SDC_REGS_SIZE) / SLOT_REGS_SIZE) as usize;
            match self.slots.get_mut(n) {
                Some(s) => s.read((offset - SDC_REGS_SIZE) % SLOT_REGS_SIZE, size),
                None => {
                    self.unimp.read(offset, size);
                    0
                }
            }
        };
        // A buffer read can complete a transfer.
        self.update_irq();
        v
    }

    fn write(&mut self, offset: u64, size: u8, value: u64) {
        if offset < SDC_REGS_SIZE {
            self.global_write(offset, size, value);
        } else {
            let n = ((offset - SDC_REGS_SIZE) / SLOT_REGS_SIZE) as usize;
            match self.slots.get_mut(n) {
                Some(s) => s.write((offset - SDC_REGS_SIZE) % SLOT_REGS_SIZE, size, value),
                None => self.unimp.write(offset, size, value),
            }
        }
        self.update_irq();
    }

    fn reset(&mut self) {
        for s in &mut self.slots {
            s.reset();
        }
        self.reset_regs();
        self.update_irq();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bus::{LevelRecorder, VecMemory};

    /// A card that answers every command and moves no data.
    struct NullCard;
    impl SdBus for NullCard {
        fn command(&mut self, _index: u8, _arg: u32) -> Option<crate::Response> {
            Some(crate::Response::Short(0x900))
        }
        fn read_data(&mut self, _buf: &mut [u8]) -> usize {
            0
        }
        fn write_data(&mut self, data: &[u8]) -> usize {
            data.len()
        }
    }

    fn controller() -> (AspeedSdc, Rc<LevelRecorder>) {
        let rec = LevelRecorder::new();
        let memory = Rc::new(VecMemory::new(0x8000_0000, 0x1000));
        (AspeedSdc::new("sdc", 2, rec.line(0), memory), rec)
    }

    #[test]
    fn a_saved_controller_loads_into_a_fresh_one_with_its_interrupt() {
        let (mut sdc, rec) = controller();
        let slot0 = SDC_REGS_SIZE;
        sdc.write(REG_SDC_PHASE, 4, 0x1234);
        sdc.write(slot0 + crate::REG_INT_ENABLE, 4, 0x027F_00FB);
        sdc.write(slot0 + crate::REG_SIGNAL_ENABLE, 4, 0x027F_00FB);
        sdc.write(slot0 + crate::REG_CLOCK_CONTROL, 2, 1);
        // A command to an empty slot times out: an error interrupt is pending.
        sdc.write(slot0 + crate::REG_COMMAND, 2, 0x0D1A);
        assert!(rec.level(0), "the timeout raises the controller's line");
        let saved = sdc.save_state().unwrap();

        let (mut twin, twin_rec) = controller();
        twin.load_state(&saved).unwrap();
        assert!(twin_rec.level(0));
        assert_eq!(twin.save_state().unwrap(), saved);
        for off in (0..SDC_REGS_SIZE + 2 * SLOT_REGS_SIZE).step_by(4) {
            if off == slot0 + crate::REG_BUFFER {
                continue;
            }
            assert_eq!(twin.read(off, 4), sdc.read(off, 4), "register {off:#x}");
        }

        let (mut with_card, _) = controller();
        with_card.insert(0, Box::new(NullCard), false);
        let e = with_card.load_state(&saved).unwrap_err();
        assert!(e.0.contains("held cards"), "{e}");
        let (mut emmc, _) = {
            let rec = LevelRecorder::new();
            let memory = Rc::new(VecMemory::new(0x8000_0000, 0x1000));
            (AspeedSdc::new("emmc", 1, rec.line(0), memory), rec)
        };
        assert!(emmc.load_state(&saved).unwrap_err().0.contains("2 slots"));
    }
}
