//! An AT24C01..AT24C16-style I2C EEPROM target, as Linux's `at24` driver reads and writes it.
//!
//! These parts take a one-byte word address; parts larger than 256 bytes take the upper bits
//! of the memory address from the low bits of the 7-bit device address, so a 24C08 (1 KiB)
//! answers on four consecutive addresses (0x50..0x53 on the ast2600-evb, whose device tree
//! says `compatible = "atmel,24c08"; reg = <0x50>; pagesize = <16>;` on bus 7; Linux prints
//! `at24 7-0050: 1024 byte 24c08 EEPROM, writable, 16 bytes/write`). [`At24::attach`] places
//! one EEPROM on all its addresses.
//!
//! Protocol (Atmel AT24C08 datasheet): a write transaction's first byte sets the word address;
//! further bytes are stored at the address, which then advances but wraps within the page
//! (16 bytes on the 24C04/08/16, 8 on the 24C01/02). A read returns the byte at the address
//! counter and advances it through the whole memory, wrapping at the end, so a sequential read
//! crosses block boundaries (Linux at24 relies on that for the 24C08: it has no
//! `AT24_FLAG_NO_RDROL`). A current-address read (no word address first) continues from the
//! counter. Writes take effect at once and are kept in memory only; the chip never NAKs for a
//! write cycle in progress.
#![deny(missing_docs)]

use std::cell::RefCell;
use std::rc::Rc;

use i2c::{I2cBus, I2cBusError, I2cTarget};

/// Value of erased EEPROM bytes; pads contents shorter than the part.
pub const ERASED: u8 = 0xFF;
/// Bytes addressed by one device address (the one-byte word address).
pub const BLOCK_SIZE: usize = 256;

/// The supported parts: size and page size from the Atmel AT24C01A/02/04/08A/16A datasheets.
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
}

impl At24Kind {
    /// Size in bytes.
    pub fn size(self) -> usize {
        match self {
            At24Kind::C01 => 128,
            At24Kind::C02 => 256,
            At24Kind::C04 => 512,
            At24Kind::C08 => 1024,
            At24Kind::C16 => 2048,
        }
    }

    /// Page size in bytes: how far one write transaction's address advances before it wraps.
    pub fn page_size(self) -> usize {
        match self {
            At24Kind::C01 | At24Kind::C02 => 8,
            _ => 16,
        }
    }

    /// How many consecutive device addresses the part answers on.
    pub fn address_count(self) -> usize {
        self.size().div_ceil(BLOCK_SIZE)
    }
}

/// The EEPROM's contents and transfer state: a plain value that can be saved and restored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct At24State {
    /// The memory, [`At24Kind::size`] bytes.
    pub data: Vec<u8>,
    /// The address counter.
    pub address: usize,
    /// The block (device address low bits) of the current write transaction.
    pub block: usize,
    /// The next byte written is the word address (a write transaction just started).
    pub expecting_word_address: bool,
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
            },
        )
    }

    /// A part of `kind` restored from `state` (its data resized to the part if needed).
    pub fn from_state(kind: At24Kind, state: &At24State) -> Self {
        let mut state = state.clone();
        state.data.resize(kind.size(), ERASED);
        state.address %= kind.size();
        state.block %= kind.address_count();
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
    /// for a 24C08 at 0x50). The device address's low bits select the block, so
    /// `base_address` should be a multiple of [`At24Kind::address_count`].
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
            s.expecting_word_address = false;
            s.address = (s.block * BLOCK_SIZE + usize::from(byte)) % size;
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
    }
}

impl At24 {
    fn start_block(&mut self, block: usize, read: bool) -> bool {
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
}
