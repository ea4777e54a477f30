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

use crate::{SavedSlot, SdBus, Sdhci, SlotState, SLOT_REGS_SIZE};

/// Size of the global register block.
pub const SDC_REGS_SIZE: u64 = 0x100;
/// Kind of a controller's saved state ([`Device::save_state`] of an [`AspeedSdc`]).
pub const SDC_STATE_KIND: &str = "aspeed-sdc";
/// Format version of a controller's saved state.
pub const SDC_STATE_VERSION: u32 = 1;

/// What a controller saves: its global registers and each slot's state with its card's (the
/// card's registers and transfer; what is stored on the card is saved by the machine with
/// its images).
#[derive(serde::Serialize, serde::Deserialize)]
struct SavedSdc {
    regs: Vec<u32>,
    slots: Vec<SavedSlot>,
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
    /// The global registers, and each slot's registers, transfer and card state (not the
    /// card's storage); `None` if a card has no snapshot support.
    fn save_state(&self) -> Option<DeviceState> {
        let slots = self
            .slots
            .iter()
            .map(Sdhci::saved)
            .collect::<Option<Vec<_>>>()?;
        Some(DeviceState::new(
            SDC_STATE_KIND,
            SDC_STATE_VERSION,
            &SavedSdc {
                regs: self.regs.to_vec(),
                slots,
            },
        ))
    }

    /// Registers, transfers and cards as saved, provided the controller has as many slots
    /// and each slot holds a card where one was saved (and none where none was) that takes
    /// the saved card state; otherwise nothing changes. The interrupt line follows.
    fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        let saved: SavedSdc = state.decode(SDC_STATE_KIND, SDC_STATE_VERSION)?;
        if saved.slots.len() != self.slots.len() || saved.regs.len() != self.regs.len() {
            return Err(StateError(format!(
                "a controller with {} slots was saved, this one has {}",
                saved.slots.len(),
                self.slots.len()
            )));
        }
        for (slot, s) in self.slots.iter().zip(&saved.slots) {
            slot.check_saved(s)?;
        }
        // The cards load first: one may still refuse its state, and then the cards already
        // loaded are put back as they were.
        let mut loaded: Vec<(usize, DeviceState)> = Vec::new();
        for (n, s) in saved.slots.iter().enumerate() {
            let before = self.slots[n].card_state();
            if let Err(e) = self.slots[n].load_card(s) {
                for (m, state) in loaded.iter().rev() {
                    self.slots[*m].reload_card(state);
                }
                return Err(e);
            }
            if let Some(before) = before {
                loaded.push((n, before));
            }
        }
        self.regs.copy_from_slice(&saved.regs);
        for (slot, s) in self.slots.iter_mut().zip(&saved.slots) {
            slot.apply_saved(s);
        }
        self.update_irq();
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
    use crate::tests::FakeCard;
    use crate::*;
    use bus::{LevelRecorder, VecMemory};

    const DRAM: u64 = 0x8000_0000;

    /// A card that answers every command, moves no data and has no snapshot support.
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

    /// An SD controller with a [`FakeCard`] of each given kind in its slots, and its memory.
    fn controller(
        cards: [Option<&'static str>; 2],
    ) -> (AspeedSdc, Rc<LevelRecorder>, Rc<VecMemory>) {
        let rec = LevelRecorder::new();
        let memory = Rc::new(VecMemory::new(DRAM, 0x4000));
        let mut sdc = AspeedSdc::new("sdc", 2, rec.line(0), memory.clone());
        for (n, kind) in cards.into_iter().enumerate() {
            if let Some(kind) = kind {
                let log = Rc::new(std::cell::RefCell::new(Vec::new()));
                assert!(sdc.insert(n, Box::new(FakeCard::new(kind, log)), false));
            }
        }
        (sdc, rec, memory)
    }

    const SLOT0: u64 = SDC_REGS_SIZE;
    const SLOT1: u64 = SDC_REGS_SIZE + SLOT_REGS_SIZE;

    fn command(sdc: &mut AspeedSdc, slot: u64, index: u8, arg: u32, flags: u16, mode: u16) {
        sdc.write(slot + REG_ARGUMENT, 4, u64::from(arg));
        sdc.write(slot + REG_TRANSFER_MODE, 2, u64::from(mode));
        sdc.write(
            slot + REG_COMMAND,
            2,
            u64::from((u16::from(index) << 8) | flags),
        );
    }

    /// The controller as Linux leaves it, with an SDMA read paused at a buffer boundary in
    /// slot 0 (its DMA interrupt pending) and a command answered in slot 1.
    fn busy_controller(
        cards: [Option<&'static str>; 2],
    ) -> (AspeedSdc, Rc<LevelRecorder>, Rc<VecMemory>) {
        let (mut sdc, rec, memory) = controller(cards);
        sdc.write(REG_SDC_PHASE, 4, 0x1234);
        sdc.write(REG_SDC_SLOT1_CAP, 4, ASPEED_SDHCI_CAPABILITIES | 1 << 26);
        for slot in [SLOT0, SLOT1] {
            sdc.write(slot + REG_INT_ENABLE, 4, 0x027F_00FB);
            sdc.write(slot + REG_SIGNAL_ENABLE, 4, 0x027F_00FB);
            sdc.write(slot + REG_CLOCK_CONTROL, 2, u64::from(CLOCK_INT_EN));
        }
        sdc.write(SLOT0 + REG_BLOCK_SIZE, 2, 512);
        sdc.write(SLOT0 + REG_BLOCK_COUNT, 2, 2);
        sdc.write(SLOT0 + REG_SDMA_ADDRESS, 4, DRAM + 0xE00);
        let read = TRNS_DMA | TRNS_READ | TRNS_MULTI | TRNS_BLK_CNT_EN;
        command(&mut sdc, SLOT0, 18, 5, 0x3A, read);
        assert_eq!(
            sdc.read(SLOT0 + REG_INT_STATUS, 2) as u16,
            INT_COMMAND_COMPLETE | INT_DMA,
            "paused at the 4 KiB boundary"
        );
        command(&mut sdc, SLOT1, 13, 0x4567_0000, 0x1A, 0);
        assert!(rec.level(0));
        (sdc, rec, memory)
    }

    /// Every register of the controller and its slots but the buffer data ports.
    fn registers(sdc: &mut AspeedSdc) -> Vec<u64> {
        (0..sdc.regs_size())
            .step_by(4)
            .filter(|off| {
                *off < SDC_REGS_SIZE || (off - SDC_REGS_SIZE) % SLOT_REGS_SIZE != REG_BUFFER
            })
            .map(|off| sdc.read(off, 4))
            .collect()
    }

    #[test]
    fn a_saved_controller_loads_into_a_fresh_one_with_its_cards_and_interrupt() {
        let cards = [Some("fake-card"), Some("fake-card")];
        let (mut sdc, rec, memory) = busy_controller(cards);
        let saved = sdc.save_state().unwrap();
        assert_eq!(saved.kind, SDC_STATE_KIND);

        let (mut twin, twin_rec, twin_memory) = controller(cards);
        twin.load_state(&saved).unwrap();
        assert!(twin_rec.level(0), "the pending interrupts come back");
        assert_eq!(twin.save_state().unwrap(), saved);
        assert_eq!(registers(&mut twin), registers(&mut sdc));
        // Both go on alike: the next address resumes the DMA, and the second block is the
        // one after where the card was.
        for (sdc, rec, memory) in [
            (&mut sdc, &rec, &memory),
            (&mut twin, &twin_rec, &twin_memory),
        ] {
            sdc.write(
                SLOT0 + REG_INT_STATUS,
                2,
                u64::from(INT_DMA | INT_COMMAND_COMPLETE),
            );
            sdc.write(SLOT1 + REG_INT_STATUS, 2, u64::from(INT_COMMAND_COMPLETE));
            assert!(!rec.level(0));
            sdc.write(SLOT0 + REG_SDMA_ADDRESS, 4, DRAM + 0x2000);
            assert_eq!(
                sdc.read(SLOT0 + REG_INT_STATUS, 2) as u16,
                INT_TRANSFER_COMPLETE
            );
            assert!(rec.level(0));
            let mut block = [0u8; 512];
            memory.read(DRAM + 0x2000, &mut block).unwrap();
            let expected: Vec<u8> = (6 * 512..7 * 512).map(|i| 6 ^ (i as u8)).collect();
            assert_eq!(block.to_vec(), expected, "block 6");
        }
        assert_eq!(registers(&mut twin), registers(&mut sdc));
    }

    #[test]
    fn a_controller_refuses_a_state_of_another_kind_or_other_cards_and_stays_as_it_was() {
        let cards = [Some("fake-card"), Some("fake-card")];
        let (sdc, _, _) = busy_controller(cards);
        let saved = sdc.save_state().unwrap();
        let refused = |twin: &mut AspeedSdc, state: &DeviceState| {
            let before = twin.save_state();
            let e = twin.load_state(state).unwrap_err();
            assert_eq!(
                twin.save_state(),
                before,
                "{e}: the controller is unchanged"
            );
            e.0
        };
        let (mut twin, _, _) = controller(cards);
        let mut wrong = saved.clone();
        wrong.kind = SLOT_STATE_KIND.into();
        assert!(refused(&mut twin, &wrong).contains("cannot be loaded into a aspeed-sdc"));
        let mut wrong = saved.clone();
        wrong.version = SDC_STATE_VERSION + 1;
        assert!(refused(&mut twin, &wrong).contains("format version"));
        // A card saved in slot 1, none inserted there; none saved in slot 1, one inserted.
        let (mut one_card, _, _) = controller([Some("fake-card"), None]);
        let e = refused(&mut one_card, &saved);
        assert!(
            e.contains("sdc.slot1: the saved state has a card in this slot"),
            "{e}"
        );
        let (one, _, _) = busy_controller([Some("fake-card"), None]);
        let e = refused(&mut twin, &one.save_state().unwrap());
        assert!(
            e.contains("sdc.slot1: the saved state has this slot empty"),
            "{e}"
        );
        // Slot 1's card refuses the state after slot 0's took it: slot 0's card is put back.
        let (mut other, _, _) = controller([Some("fake-card"), Some("other-card")]);
        other.write(SLOT0 + REG_BLOCK_SIZE, 2, 512);
        command(&mut other, SLOT0, 17, 3, 0x3A, TRNS_READ);
        let e = refused(&mut other, &saved);
        assert!(e.contains("sdc.slot1: the card: a fake-card state"), "{e}");
        // Another number of slots.
        let rec = LevelRecorder::new();
        let memory = Rc::new(VecMemory::new(DRAM, 0x1000));
        let mut emmc = AspeedSdc::new("emmc", 1, rec.line(0), memory);
        assert!(emmc.load_state(&saved).unwrap_err().0.contains("2 slots"));
        // A card without snapshot support: the controller has none either.
        let (mut mute, _, _) = controller([None, None]);
        assert!(mute.save_state().is_some());
        mute.insert(1, Box::new(NullCard), false);
        assert_eq!(mute.save_state(), None);
    }
}
