//! An AT24C01..AT24C512-style I2C EEPROM target, as Linux's `at24` driver reads and writes it.
//!
//! Two addressing schemes (Atmel AT24C01A/02/04/08A/16A and AT24C32/64/128/256/512
//! datasheets; Linux `at24` sets `AT24_FLAG_ADDR16` from the 24c32 up):
//! - **24C01..24C16** take a one-byte word address; parts larger than 256 bytes take the upper
//!   bits of the memory address from the low bits of the 7-bit device address, so a 24C08
//!   (1 KiB) answers on four consecutive addresses (0x50..0x53 on the ast2600-evb, whose device
//!   tree says `compatible = "atmel,24c08"; reg = <0x50>; pagesize = <16>;` on bus 7; Linux
//!   prints `at24 7-0050: 1024 byte 24c08 EEPROM, writable, 16 bytes/write`).
//! - **24C32..24C512** take a two-byte word address, high byte first, and answer on one
//!   device address (their A2..A0 pins are chip selects). Address bits above the part's size
//!   are "don't care": the word address is taken modulo the size.
//!
//! [`At24::attach`] places one EEPROM on all its addresses; [`At24Kind::by_name`] finds a part
//! from its Linux name (`"24c64"`, `"atmel,24c64"`).
//!
//! Protocol: a write transaction's first byte (or two) sets the word address; further bytes
//! are stored at the address, which then advances but wraps within the page (8 bytes on the
//! 24C01/02, 16 on the 24C04/08/16, 32 on the 24C32/64, 64 on the 24C128/256, 128 on the
//! 24C512). A read returns the byte at the address counter and advances it through the whole
//! memory, wrapping at the end, so a sequential read crosses block boundaries (Linux at24
//! relies on that for the 24C08: it has no `AT24_FLAG_NO_RDROL`). A current-address read (no
//! word address first) continues from the counter; so does a read that follows only the high
//! byte of a two-byte word address (the counter changes once the whole address has arrived).
//! Writes take effect at once and are kept in memory only; the chip never NAKs for a write
//! cycle in progress.
#![deny(missing_docs)]

use std::cell::RefCell;
use std::rc::Rc;

use i2c::{DeviceState, I2cBus, I2cBusError, I2cTarget, StateError};
use serde::{Deserialize, Serialize};

/// The kind of an EEPROM's saved state ([`DeviceState::kind`]), every part's.
pub const STATE_KIND: &str = "at24";
/// The format version of an EEPROM's saved state: the part's name and its [`At24State`]
/// (contents included) as this build serialises them.
pub const STATE_VERSION: u32 = 1;

/// Value of erased EEPROM bytes; pads contents shorter than the part.
pub const ERASED: u8 = 0xFF;
/// Bytes addressed by one device address with a one-byte word address (24C01..24C16).
pub const BLOCK_SIZE: usize = 256;

/// The supported parts: size and page size from the Atmel AT24C01A/02/04/08A/16A and
/// AT24C32/64/128/256/512 datasheets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum At24Kind {
    /// 128 bytes, 8-byte pages (Linux `atmel,24c01`).
    C01,
    /// 256 bytes, 8-byte pages (Linux `atmel,24c02`).
    C02,
    /// 512 bytes on 2 addresses, 16-byte pages (Linux `atmel,24c04`).
    C04,
    /// 1 KiB on 4 addresses, 16-byte pages (Linux `atmel,24c08`): the ast2600-evb part.
    C08,
    /// 2 KiB on 8 addresses, 16-byte pages (Linux `atmel,24c16`).
    C16,
    /// 4 KiB, two-byte word address, 32-byte pages (Linux `atmel,24c32`).
    C32,
    /// 8 KiB, two-byte word address, 32-byte pages (Linux `atmel,24c64`).
    C64,
    /// 16 KiB, two-byte word address, 64-byte pages (Linux `atmel,24c128`).
    C128,
    /// 32 KiB, two-byte word address, 64-byte pages (Linux `atmel,24c256`).
    C256,
    /// 64 KiB, two-byte word address, 128-byte pages (Linux `atmel,24c512`).
    C512,
}

impl At24Kind {
    /// Every supported part, smallest first.
    pub const ALL: [At24Kind; 10] = [
        At24Kind::C01,
        At24Kind::C02,
        At24Kind::C04,
        At24Kind::C08,
        At24Kind::C16,
        At24Kind::C32,
        At24Kind::C64,
        At24Kind::C128,
        At24Kind::C256,
        At24Kind::C512,
    ];

    /// Size in bytes.
    pub fn size(self) -> usize {
        match self {
            At24Kind::C01 => 128,
            At24Kind::C02 => 256,
            At24Kind::C04 => 512,
            At24Kind::C08 => 1024,
            At24Kind::C16 => 2048,
            At24Kind::C32 => 4 * 1024,
            At24Kind::C64 => 8 * 1024,
            At24Kind::C128 => 16 * 1024,
            At24Kind::C256 => 32 * 1024,
            At24Kind::C512 => 64 * 1024,
        }
    }

    /// Page size in bytes: how far one write transaction's address advances before it wraps.
    pub fn page_size(self) -> usize {
        match self {
            At24Kind::C01 | At24Kind::C02 => 8,
            At24Kind::C04 | At24Kind::C08 | At24Kind::C16 => 16,
            At24Kind::C32 | At24Kind::C64 => 32,
            At24Kind::C128 | At24Kind::C256 => 64,
            At24Kind::C512 => 128,
        }
    }

    /// Bytes of word address a write transaction starts with: 1 up to the 24C16, 2 from the
    /// 24C32 (Linux `AT24_FLAG_ADDR16`).
    pub fn address_bytes(self) -> usize {
        if self.size() > 8 * BLOCK_SIZE {
            2
        } else {
            1
        }
    }

    /// How many consecutive device addresses the part answers on: the memory bits the word
    /// address does not hold come from the device address (Linux at24's `num_addresses`).
    pub fn address_count(self) -> usize {
        let per_address = 1usize << (8 * self.address_bytes());
        self.size().div_ceil(per_address)
    }

    /// The Linux device name (`"24c64"`), also the I2C device id.
    pub fn name(self) -> &'static str {
        match self {
            At24Kind::C01 => "24c01",
            At24Kind::C02 => "24c02",
            At24Kind::C04 => "24c04",
            At24Kind::C08 => "24c08",
            At24Kind::C16 => "24c16",
            At24Kind::C32 => "24c32",
            At24Kind::C64 => "24c64",
            At24Kind::C128 => "24c128",
            At24Kind::C256 => "24c256",
            At24Kind::C512 => "24c512",
        }
    }

    /// The part a Linux name designates: the I2C device id (`"24c64"`) or the device tree
    /// compatible (`"atmel,24c64"`), in any letter case.
    pub fn by_name(name: &str) -> Option<Self> {
        let name = name.to_ascii_lowercase();
        let name = name.strip_prefix("atmel,").unwrap_or(&name);
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// The EEPROM's contents and transfer state: a plain value that can be saved and restored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct At24State {
    /// The memory, [`At24Kind::size`] bytes.
    pub data: Vec<u8>,
    /// The address counter.
    pub address: usize,
    /// The block (device address low bits) of the current write transaction.
    pub block: usize,
    /// The next byte written is (part of) the word address (a write transaction just started).
    pub expecting_word_address: bool,
    /// The high byte of a two-byte word address, received; the low byte comes next.
    pub word_address_high: Option<u8>,
}

/// An AT24Cxx EEPROM on an I2C bus.
#[derive(Debug)]
pub struct At24 {
    kind: At24Kind,
    state: At24State,
}

impl At24 {
    /// A part of `kind` holding `contents`, padded with [`ERASED`] bytes or cut to its size.
    pub fn new(kind: At24Kind, contents: Vec<u8>) -> Self {
        let mut data = contents;
        if data.len() > kind.size() {
            log::warn!(
                "at24: {} bytes of contents for a {}-byte part; the rest is dropped",
                data.len(),
                kind.size()
            );
        }
        data.resize(kind.size(), ERASED);
        Self::from_state(
            kind,
            &At24State {
                data,
                address: 0,
                block: 0,
                expecting_word_address: false,
                word_address_high: None,
            },
        )
    }

    /// A part of `kind` restored from `state` (its data resized to the part if needed).
    pub fn from_state(kind: At24Kind, state: &At24State) -> Self {
        let mut state = state.clone();
        state.data.resize(kind.size(), ERASED);
        state.address %= kind.size();
        state.block %= kind.address_count();
        if kind.address_bytes() == 1 || !state.expecting_word_address {
            state.word_address_high = None;
        }
        Self { kind, state }
    }

    /// A copy of the contents and transfer state.
    pub fn state(&self) -> At24State {
        self.state.clone()
    }

    /// Which part this is.
    pub fn kind(&self) -> At24Kind {
        self.kind
    }

    /// The memory as the guest last left it.
    pub fn contents(&self) -> &[u8] {
        &self.state.data
    }

    /// Attaches `eeprom` to `bus` on all its addresses, `base_address` upwards (0x50..0x53
    /// for a 24C08 at 0x50; only `base_address` for a 24C02 or a 24C32 and larger). The
    /// device address's low bits select the block, so `base_address` should be a multiple of
    /// [`At24Kind::address_count`].
    pub fn attach(
        eeprom: &Rc<RefCell<At24>>,
        bus: &mut I2cBus,
        base_address: u8,
    ) -> Result<(), I2cBusError> {
        let count = eeprom.borrow().kind.address_count();
        let addresses: Vec<u8> = (0..count)
            .map(|i| usize::from(base_address) + i)
            .map(|a| u8::try_from(a).unwrap_or(u8::MAX))
            .collect();
        // Check every address first so that a failure attaches nothing.
        for &address in &addresses {
            if address > i2c::MAX_ADDRESS {
                return Err(I2cBusError::AddressOutOfRange(address));
            }
            if bus.target(address).is_some() {
                return Err(I2cBusError::AddressInUse(address));
            }
        }
        for address in addresses {
            bus.attach(address, eeprom.clone())?;
        }
        Ok(())
    }

    fn size(&self) -> usize {
        self.kind.size()
    }
}

impl I2cTarget for At24 {
    fn start(&mut self, read: bool) -> bool {
        let block = self.state.block;
        self.start_block(block, read)
    }

    fn start_at(&mut self, address: u8, read: bool) -> bool {
        let block = usize::from(address) % self.kind.address_count();
        self.start_block(block, read)
    }

    fn write(&mut self, byte: u8) -> bool {
        let s = &mut self.state;
        let size = self.kind.size();
        if s.expecting_word_address {
            let word = match (self.kind.address_bytes(), s.word_address_high) {
                (1, _) => s.block * BLOCK_SIZE + usize::from(byte),
                (_, None) => {
                    s.word_address_high = Some(byte);
                    return true;
                }
                (_, Some(high)) => usize::from(u16::from_be_bytes([high, byte])),
            };
            s.expecting_word_address = false;
            s.word_address_high = None;
            s.address = word % size;
            return true;
        }
        s.data[s.address] = byte;
        let page = self.kind.page_size();
        let page_start = s.address - s.address % page;
        s.address = page_start + (s.address + 1) % page;
        true
    }

    fn read(&mut self) -> u8 {
        let size = self.size();
        let s = &mut self.state;
        let byte = s.data[s.address];
        s.address = (s.address + 1) % size;
        byte
    }

    fn stop(&mut self) {
        self.state.expecting_word_address = false;
        self.state.word_address_high = None;
    }

    /// The part's name and [`At24State`]: the contents (a few KiB at most) and the transfer
    /// progress.
    fn save_state(&self) -> Option<DeviceState> {
        let saved = SavedAt24 {
            part: self.kind.name().into(),
            state: self.state.clone(),
        };
        Some(DeviceState::new(STATE_KIND, STATE_VERSION, &saved))
    }

    /// Refuses the state of another part, or one whose contents or counters do not fit this
    /// part.
    fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        let saved: SavedAt24 = state.decode(STATE_KIND, STATE_VERSION)?;
        let kind = self.kind;
        if saved.part != kind.name() {
            return Err(StateError(format!(
                "{STATE_KIND}: the state is of a {}, this EEPROM is a {}",
                saved.part,
                kind.name()
            )));
        }
        let s = &saved.state;
        if s.data.len() != kind.size()
            || s.address >= kind.size()
            || s.block >= kind.address_count()
        {
            return Err(StateError(format!(
                "{STATE_KIND}: the state ({} bytes, address {:#x}, block {}) does not fit a \
                 {}-byte {}",
                s.data.len(),
                s.address,
                s.block,
                kind.size(),
                kind.name()
            )));
        }
        *self = Self::from_state(kind, &saved.state);
        Ok(())
    }
}

/// What an [`At24`] saves: which part, and its state.
#[derive(Serialize, Deserialize)]
struct SavedAt24 {
    /// [`At24Kind::name`].
    part: String,
    state: At24State,
}

impl At24 {
    fn start_block(&mut self, block: usize, read: bool) -> bool {
        self.state.word_address_high = None;
        if read {
            self.state.expecting_word_address = false;
        } else {
            self.state.block = block;
            self.state.expecting_word_address = true;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eeprom() -> (Rc<RefCell<At24>>, I2cBus) {
        let contents: Vec<u8> = (0..1024u32).map(|i| (i ^ (i >> 8)) as u8).collect();
        let e = Rc::new(RefCell::new(At24::new(At24Kind::C08, contents)));
        let mut bus = I2cBus::new();
        At24::attach(&e, &mut bus, 0x50).unwrap();
        (e, bus)
    }

    /// An SMBus/at24-style random read: write the word address, repeated START, read.
    fn random_read(bus: &mut I2cBus, dev: u8, word: u8, n: usize) -> Vec<u8> {
        assert!(bus.start(dev, false));
        assert!(bus.write(word));
        assert!(bus.start(dev, true));
        let v = (0..n).map(|_| bus.read()).collect();
        bus.stop();
        v
    }

    fn expected(i: usize) -> u8 {
        (i ^ (i >> 8)) as u8
    }

    #[test]
    fn a_24c08_answers_on_four_addresses() {
        let (_, bus) = eeprom();
        assert_eq!(bus.addresses(), vec![0x50, 0x51, 0x52, 0x53]);
        let mut bus2 = I2cBus::new();
        let e = Rc::new(RefCell::new(At24::new(At24Kind::C02, vec![])));
        At24::attach(&e, &mut bus2, 0x57).unwrap();
        assert_eq!(bus2.addresses(), vec![0x57]);
        let mut bus3 = I2cBus::new();
        let e = Rc::new(RefCell::new(At24::new(At24Kind::C16, vec![])));
        assert_eq!(
            At24::attach(&e, &mut bus3, 0x7C),
            Err(I2cBusError::AddressOutOfRange(0x80))
        );
        assert!(bus3.addresses().is_empty(), "nothing attached on failure");
        bus3.attach(0x52, e.clone()).unwrap();
        assert_eq!(
            At24::attach(&e, &mut bus3, 0x50),
            Err(I2cBusError::AddressInUse(0x52))
        );
        assert_eq!(bus3.addresses(), vec![0x52]);
    }

    #[test]
    fn random_read_uses_the_block_of_the_device_address() {
        let (_, mut bus) = eeprom();
        assert_eq!(
            random_read(&mut bus, 0x50, 0x10, 2),
            [expected(0x10), expected(0x11)]
        );
        assert_eq!(
            random_read(&mut bus, 0x52, 0x10, 1),
            [expected(0x210)],
            "0x52 is block 2"
        );
        assert_eq!(random_read(&mut bus, 0x53, 0xFF, 1), [expected(0x3FF)]);
    }

    #[test]
    fn sequential_read_crosses_blocks_and_wraps_at_the_end() {
        let (_, mut bus) = eeprom();
        let v = random_read(&mut bus, 0x51, 0xFE, 4);
        assert_eq!(
            v,
            [
                expected(0x1FE),
                expected(0x1FF),
                expected(0x200),
                expected(0x201)
            ]
        );
        let v = random_read(&mut bus, 0x53, 0xFF, 2);
        assert_eq!(v, [expected(0x3FF), expected(0)], "wraps to address 0");
        // A current-address read continues from the counter.
        assert!(bus.start(0x50, true));
        assert_eq!(bus.read(), expected(1));
        bus.stop();
    }

    #[test]
    fn writes_are_kept_and_wrap_within_the_page() {
        let (e, mut bus) = eeprom();
        assert!(bus.start(0x51, false));
        assert!(bus.write(0x0E), "word address 0x10E");
        for b in [0xA0u8, 0xA1, 0xA2, 0xA3] {
            assert!(bus.write(b));
        }
        bus.stop();
        // 0x10E, 0x10F, then wrap to the page start 0x100, 0x101.
        assert_eq!(random_read(&mut bus, 0x51, 0x0E, 2), [0xA0, 0xA1]);
        assert_eq!(
            random_read(&mut bus, 0x51, 0x00, 3),
            [0xA2, 0xA3, expected(0x102)]
        );
        assert_eq!(e.borrow().contents()[0x10E], 0xA0);
        assert_eq!(
            e.borrow().contents()[0x110],
            expected(0x110),
            "next page untouched"
        );
        assert_eq!(
            random_read(&mut bus, 0x50, 0x0E, 1),
            [expected(0x0E)],
            "block 0 untouched"
        );
    }

    #[test]
    fn contents_are_padded_or_cut_to_the_part() {
        let e = At24::new(At24Kind::C08, vec![1, 2, 3]);
        assert_eq!(e.contents().len(), 1024);
        assert_eq!(&e.contents()[..4], &[1, 2, 3, ERASED]);
        let e = At24::new(At24Kind::C01, vec![7; 300]);
        assert_eq!(e.contents().len(), 128);
        assert_eq!(At24Kind::C01.address_count(), 1);
        assert_eq!(At24Kind::C16.address_count(), 8);
    }

    #[test]
    fn small_parts_wrap_the_word_address() {
        let mut bus = I2cBus::new();
        let e = Rc::new(RefCell::new(At24::new(At24Kind::C01, (0..128).collect())));
        At24::attach(&e, &mut bus, 0x50).unwrap();
        assert_eq!(random_read(&mut bus, 0x50, 0x85, 1), [5]);
        assert_eq!(random_read(&mut bus, 0x50, 0x7F, 2), [127, 0]);
    }

    #[test]
    fn state_round_trips() {
        let (e, mut bus) = eeprom();
        assert!(bus.start(0x52, false));
        assert!(bus.write(0x40));
        let s = e.borrow().state();
        assert_eq!(s.address, 0x240);
        assert_eq!(s.block, 2);
        let mut copy = At24::from_state(At24Kind::C08, &s);
        assert_eq!(copy.state(), s);
        assert!(copy.write(0x11));
        assert_eq!(copy.contents()[0x240], 0x11);
        assert_eq!(
            copy.read(),
            expected(0x241),
            "address advanced past the write"
        );
    }

    /// Linux at24's read with a two-byte word address: high, low, repeated START, read.
    fn random_read16(bus: &mut I2cBus, dev: u8, word: u16, n: usize) -> Vec<u8> {
        let [high, low] = word.to_be_bytes();
        assert!(bus.start(dev, false));
        assert!(bus.write(high) && bus.write(low));
        assert!(bus.start(dev, true));
        let v = (0..n).map(|_| bus.read()).collect();
        bus.stop();
        v
    }

    fn pattern(size: usize) -> Vec<u8> {
        (0..size).map(expected).collect()
    }

    #[test]
    fn the_parts_have_the_datasheet_geometry() {
        // (name, bytes, page bytes, word address bytes, device addresses): Atmel datasheets;
        // Linux at24 takes the word address width from AT24_FLAG_ADDR16 (24c32 and up).
        let table = [
            ("24c01", 128, 8, 1, 1),
            ("24c02", 256, 8, 1, 1),
            ("24c04", 512, 16, 1, 2),
            ("24c08", 1024, 16, 1, 4),
            ("24c16", 2048, 16, 1, 8),
            ("24c32", 4096, 32, 2, 1),
            ("24c64", 8192, 32, 2, 1),
            ("24c128", 16384, 64, 2, 1),
            ("24c256", 32768, 64, 2, 1),
            ("24c512", 65536, 128, 2, 1),
        ];
        assert_eq!(table.len(), At24Kind::ALL.len());
        for (name, size, page, address_bytes, addresses) in table {
            let kind = At24Kind::by_name(name).unwrap();
            assert_eq!(kind.name(), name);
            assert_eq!(
                (
                    kind.size(),
                    kind.page_size(),
                    kind.address_bytes(),
                    kind.address_count()
                ),
                (size, page, address_bytes, addresses),
                "{name}"
            );
        }
    }

    #[test]
    fn by_name_takes_the_linux_forms() {
        assert_eq!(At24Kind::by_name("24c64"), Some(At24Kind::C64));
        assert_eq!(At24Kind::by_name("atmel,24c64"), Some(At24Kind::C64));
        assert_eq!(At24Kind::by_name("ATMEL,24C08"), Some(At24Kind::C08));
        assert_eq!(At24Kind::by_name("atmel,24c512"), Some(At24Kind::C512));
        for bad in [
            "", "24c", "24c1024", "at24c64", "st,24c64", "atmel,", "24c64 ",
        ] {
            assert_eq!(At24Kind::by_name(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_24c64_takes_a_two_byte_word_address_on_one_device_address() {
        let mut bus = I2cBus::new();
        let e = Rc::new(RefCell::new(At24::new(At24Kind::C64, pattern(8192))));
        At24::attach(&e, &mut bus, 0x51).unwrap();
        assert_eq!(bus.addresses(), vec![0x51]);
        assert_eq!(
            random_read16(&mut bus, 0x51, 0x1234, 2),
            [expected(0x1234), expected(0x1235)]
        );
        // 13 address bits: the top three are "don't care".
        assert_eq!(random_read16(&mut bus, 0x51, 0xF234, 1), [expected(0x1234)]);
        // Sequential read wraps from the last byte to the first.
        assert_eq!(
            random_read16(&mut bus, 0x51, 0x1FFF, 2),
            [expected(0x1FFF), expected(0)]
        );
        // A current-address read continues from the counter.
        assert!(bus.start(0x51, true));
        assert_eq!(bus.read(), expected(1));
        bus.stop();
    }

    #[test]
    fn a_24c64_page_write_wraps_within_its_32_bytes() {
        let mut bus = I2cBus::new();
        let e = Rc::new(RefCell::new(At24::new(At24Kind::C64, pattern(8192))));
        At24::attach(&e, &mut bus, 0x50).unwrap();
        assert!(bus.start(0x50, false));
        assert!(bus.write(0x01) && bus.write(0x3E), "word address 0x013E");
        for b in [0xB0u8, 0xB1, 0xB2, 0xB3] {
            assert!(bus.write(b));
        }
        bus.stop();
        // The page is 0x0120..0x013F: 0x13E, 0x13F, then 0x120, 0x121.
        let c = e.borrow().contents().to_vec();
        assert_eq!(&c[0x13E..0x140], &[0xB0, 0xB1]);
        assert_eq!(&c[0x120..0x122], &[0xB2, 0xB3]);
        assert_eq!(c[0x140], expected(0x140), "next page untouched");
        assert_eq!(c[0x122], expected(0x122));
        assert_eq!(
            random_read16(&mut bus, 0x50, 0x013E, 3),
            [0xB0, 0xB1, expected(0x140)]
        );
    }

    #[test]
    fn the_larger_parts_wrap_pages_and_reads_at_their_sizes() {
        for (kind, page) in [
            (At24Kind::C32, 32),
            (At24Kind::C128, 64),
            (At24Kind::C256, 64),
            (At24Kind::C512, 128),
        ] {
            let size = kind.size();
            let mut bus = I2cBus::new();
            let e = Rc::new(RefCell::new(At24::new(kind, pattern(size))));
            At24::attach(&e, &mut bus, 0x50).unwrap();
            // Write one byte more than a page, from the start of the last page.
            let last_page = (size - page) as u16;
            assert!(bus.start(0x50, false));
            assert!(bus.write((last_page >> 8) as u8) && bus.write(last_page as u8));
            for i in 0..=page {
                assert!(bus.write(i as u8));
            }
            bus.stop();
            let c = e.borrow().contents().to_vec();
            let base = size - page;
            assert_eq!(
                c[base], page as u8,
                "{kind:?}: byte page+1 overwrote the first"
            );
            assert_eq!(c[base + 1], 1);
            assert_eq!(c[size - 1], (page - 1) as u8);
            assert_eq!(
                c[base - 1],
                expected(base - 1),
                "{kind:?}: previous page untouched"
            );
            // Reads wrap at the end of the memory; the word address wraps at the size.
            let top = (size - 1) as u16;
            assert_eq!(
                random_read16(&mut bus, 0x50, top, 2),
                [(page - 1) as u8, expected(0)]
            );
            if size < 65536 {
                let alias = size as u16 + 5;
                assert_eq!(
                    random_read16(&mut bus, 0x50, alias, 1),
                    [expected(5)],
                    "{kind:?}"
                );
            }
        }
    }

    #[test]
    fn an_unfinished_two_byte_address_leaves_the_counter() {
        let mut bus = I2cBus::new();
        let e = Rc::new(RefCell::new(At24::new(At24Kind::C256, pattern(32768))));
        At24::attach(&e, &mut bus, 0x50).unwrap();
        assert_eq!(random_read16(&mut bus, 0x50, 0x0100, 1), [expected(0x100)]);
        // Only the high byte, then a read: the counter (0x101) is kept.
        assert!(bus.start(0x50, false) && bus.write(0x40));
        assert_eq!(e.borrow().state().word_address_high, Some(0x40));
        assert!(bus.start(0x50, true));
        assert_eq!(bus.read(), expected(0x101));
        bus.stop();
        assert_eq!(e.borrow().state().word_address_high, None);
        // A new write transaction starts a new address.
        assert!(bus.start(0x50, false) && bus.write(0x00) && bus.write(0x10) && bus.write(0x77));
        bus.stop();
        assert_eq!(e.borrow().contents()[0x10], 0x77);
        let s = e.borrow().state();
        assert_eq!(At24::from_state(At24Kind::C256, &s).state(), s);
    }

    /// A state of another kind and one of another format version than `saved`.
    fn foreign_states(saved: &DeviceState) -> [DeviceState; 2] {
        [
            DeviceState {
                kind: "tmp105".into(),
                ..saved.clone()
            },
            DeviceState {
                version: STATE_VERSION + 1,
                ..saved.clone()
            },
        ]
    }

    #[test]
    fn a_restored_eeprom_continues_a_page_write_and_reads_its_contents() {
        let (e, mut bus) = eeprom();
        // A page write in progress on block 1: word address 0x10E, one byte stored.
        assert!(bus.start(0x51, false) && bus.write(0x0E) && bus.write(0xA0));
        let saved = e.borrow().save_state().expect("an EEPROM saves its state");
        assert_eq!(
            (saved.kind.as_str(), saved.version),
            (STATE_KIND, STATE_VERSION)
        );
        // The same wiring: a blank 24C08 on a bus whose transaction with it is restored.
        let f = Rc::new(RefCell::new(At24::new(At24Kind::C08, vec![])));
        let mut bus2 = I2cBus::new();
        At24::attach(&f, &mut bus2, 0x50).unwrap();
        f.borrow_mut().load_state(&saved).unwrap();
        bus2.restore_selected(Some(0x51));
        assert_eq!(f.borrow().state(), e.borrow().state());
        assert_eq!(f.borrow().save_state(), Some(saved));
        // Both go on with the page write, wrapping at the page end, and read back alike.
        for b in [&mut bus, &mut bus2] {
            for byte in [0xA1, 0xA2, 0xA3] {
                assert!(b.write(byte));
            }
            b.stop();
        }
        assert_eq!(f.borrow().contents(), e.borrow().contents());
        assert_eq!(e.borrow().contents()[0x100..0x102], [0xA2, 0xA3]);
        for dev in 0x50..0x54 {
            assert_eq!(
                random_read(&mut bus2, dev, 0xF0, 32),
                random_read(&mut bus, dev, 0xF0, 32),
                "block {dev:#x}"
            );
        }
    }

    #[test]
    fn an_eeprom_refuses_a_state_of_another_kind_version_or_part() {
        let (e, mut bus) = eeprom();
        assert!(bus.start(0x50, false) && bus.write(0x20) && bus.write(0x55));
        bus.stop();
        let saved = e.borrow().save_state().unwrap();
        let mut other = At24::new(At24Kind::C08, vec![0x11; 1024]);
        let before = other.state();
        for bad in foreign_states(&saved) {
            assert!(other.load_state(&bad).is_err());
        }
        // Same size and addressing, another part: refused by name.
        let mut c16 = At24::new(At24Kind::C16, vec![]);
        let err = c16.load_state(&saved).unwrap_err();
        assert!(err.0.contains("24c08") && err.0.contains("24c16"), "{err}");
        // A state whose contents do not fit the part.
        let short = DeviceState::new(
            STATE_KIND,
            STATE_VERSION,
            &SavedAt24 {
                part: "24c08".into(),
                state: At24State {
                    data: vec![1, 2, 3],
                    ..e.borrow().state()
                },
            },
        );
        assert!(other.load_state(&short).unwrap_err().0.contains("3 bytes"));
        assert_eq!(other.state(), before, "left unchanged");
        assert_eq!(c16.contents(), &[ERASED; 2048][..]);
        other.load_state(&saved).unwrap();
        assert_eq!(other.contents()[0x20], 0x55);
    }
}
