//! The Aspeed hash and crypto engine (HACE), hash part: MD5, SHA-1, SHA-224, SHA-256, SHA-384,
//! SHA-512, SHA-512/224 and SHA-512/256 over guest memory, as Linux
//! `drivers/crypto/aspeed/aspeed-hace-hash.c` (`aspeed-hace.h` names the registers) and u-boot
//! `drivers/crypto/aspeed/aspeed_hace.c` drive it, with QEMU `hw/misc/aspeed_hace.c` for the
//! address and length masks.
//!
//! # The hash engine
//!
//! A write to [`REG_HASH_CMD`] runs one job to completion before the write returns (the engine
//! is never seen busy): it reads the message from guest memory, hashes it and writes the result
//! to the buffer at [`REG_HASH_DIGEST`], then sets [`STS_HASH_ISR`] in [`REG_STATUS`] (written 1
//! to clear). The interrupt output is high while that bit is set and the command in
//! [`REG_HASH_CMD`] has [`HASH_CMD_INT_ENABLE`]; u-boot polls the bit with the interrupt off.
//!
//! - **Source.** Direct: [`REG_HASH_DATA_LEN`] bytes from [`REG_HASH_SRC`]. Scatter-gather
//!   ([`HASH_CMD_SG`], AST2600 only): [`REG_HASH_SRC`] points to a list of 8-byte entries, a
//!   little-endian length word ([`SG_LEN_MASK`]; [`SG_LAST`] marks the last entry) and an
//!   address word, read up to the last entry (Linux's `struct aspeed_sg_list`).
//! - **Mode** (command bits 7-8). Digest (0): the engine starts from the algorithm's initial
//!   value, pads the message itself and writes the digest. Accumulative
//!   ([`HASH_CMD_ACC_MODE`], as both drivers use it): the engine resumes from the state in the
//!   digest buffer (the chaining value as the digest's byte order has it: big-endian words for
//!   the SHA family), runs the compression function over whole blocks (the driver has padded
//!   the last one) and writes the new state back; a message that is not whole blocks is
//!   refused. HMAC modes (1 and 3) are not modelled: both drivers compute HMAC in accumulative
//!   mode themselves.
//! - **Addresses** are DRAM addresses: the engine is a DRAM master, so an address keeps only
//!   the bits below the DRAM window ([`Variant::address_mask`]) and is taken from the DRAM base
//!   the SoC gives ([`AspeedHace::new`]), as QEMU masks them.
//!
//! A job that cannot run (an undefined algorithm, MD5 in accumulative mode, a memory access
//! outside DRAM, a list without a last entry in [`MAX_SG_ENTRIES`], more than
//! [`MAX_MESSAGE`] bytes) writes nothing, is logged once per kind, and still completes (the
//! status bit is set) so a driver never waits forever.
//!
//! # Left out
//!
//! The crypto engine (AES, DES, RC4: [`REG_CRYPT_CMD`]) keeps its registers as plain values and
//! does nothing (reported as unimplemented); Linux's `aspeed-hace-crypto` driver is for a later
//! issue. The byte-swap bits (2-3) are taken as the drivers set them for each algorithm. The
//! RSA engine (ACRY) is a separate block.
#![deny(missing_docs)]

use std::cell::Cell;
use std::rc::Rc;

use bus::{
    merge_subword, subword, Device, DeviceState, GuestMemory, IrqLine, StateError, UnimplementedLog,
};
use sha2::digest::generic_array::GenericArray;
use sha2::digest::Digest;

/// Size of the register block: the AST2600 device tree's `reg = <0x1e6d0000 0x200>`.
pub const REGS_SIZE: u64 = 0x200;
/// Kind of the engine's saved state ([`Device::save_state`]).
pub const STATE_KIND: &str = "aspeed-hace";
/// Format version of the engine's saved state.
pub const STATE_VERSION: u32 = 1;

/// What the engine saves: its generation (checked on load), its registers and how many jobs
/// it has run. A hash job runs to its end inside the register write that starts it, so none
/// is ever in progress inside the engine; an accumulative hash (direct or scatter-gather)
/// keeps its chaining state between jobs in the guest's digest buffer, in DRAM, which the
/// machine saves.
#[derive(serde::Serialize, serde::Deserialize)]
struct SavedHace {
    variant: Variant,
    state: HaceState,
    jobs: u64,
}

/// Crypto data source address: Linux `ASPEED_HACE_SRC`.
pub const REG_CRYPT_SRC: u64 = 0x00;
/// Crypto data destination address: Linux `ASPEED_HACE_DEST`.
pub const REG_CRYPT_DEST: u64 = 0x04;
/// Crypto context buffer address: Linux `ASPEED_HACE_CONTEXT`.
pub const REG_CRYPT_CONTEXT: u64 = 0x08;
/// Crypto data length: Linux `ASPEED_HACE_DATA_LEN`.
pub const REG_CRYPT_DATA_LEN: u64 = 0x0C;
/// Crypto engine command (not modelled): Linux `ASPEED_HACE_CMD`.
pub const REG_CRYPT_CMD: u64 = 0x10;
/// AES-GCM additional data length (AST2600): Linux `ASPEED_HACE_GCM_ADD_LEN`.
pub const REG_GCM_ADD_LEN: u64 = 0x14;
/// AES-GCM tag buffer address (AST2600; the AST2500's `ASPEED_HACE_TAG`): Linux
/// `ASPEED_HACE_GCM_TAG_BASE_ADDR`.
pub const REG_GCM_TAG: u64 = 0x18;
/// Status, interrupt bits written 1 to clear: Linux `ASPEED_HACE_STS`.
pub const REG_STATUS: u64 = 0x1C;
/// Hash data source (or scatter-gather list) address: Linux `ASPEED_HACE_HASH_SRC`.
pub const REG_HASH_SRC: u64 = 0x20;
/// Hash digest (and accumulated state) buffer address: Linux `ASPEED_HACE_HASH_DIGEST_BUFF`.
pub const REG_HASH_DIGEST: u64 = 0x24;
/// Hash HMAC key buffer address: Linux `ASPEED_HACE_HASH_KEY_BUFF`.
pub const REG_HASH_KEY: u64 = 0x28;
/// Hash data length in bytes: Linux `ASPEED_HACE_HASH_DATA_LEN`.
pub const REG_HASH_DATA_LEN: u64 = 0x2C;
/// Hash command; a write starts a job: Linux `ASPEED_HACE_HASH_CMD`.
pub const REG_HASH_CMD: u64 = 0x30;

/// Status: the hash engine is busy (never seen: jobs complete at once): Linux `HACE_HASH_BUSY`.
pub const STS_HASH_BUSY: u32 = 1 << 0;
/// Status: a hash job completed: Linux `HACE_HASH_ISR`, u-boot `HACE_HASH_INT`.
pub const STS_HASH_ISR: u32 = 1 << 9;
/// Status: a crypto job completed (never set here): Linux `HACE_CRYPTO_ISR`.
pub const STS_CRYPTO_ISR: u32 = 1 << 12;
/// Status: an RSA job completed (never set here): Linux `HACE_RSA_ISR`.
pub const STS_RSA_ISR: u32 = 1 << 13;

/// Hash command: the algorithm field, bits 4-6 (MD5 0, SHA-1 2, SHA-224 4, SHA-256 5, SHA-512
/// series 6): Linux `HASH_CMD_SHA1` .. `HASH_CMD_SHA512_SER`.
pub const HASH_CMD_ALGO_SHIFT: u32 = 4;
/// Hash command: the mode field, bits 7-8: Linux `HASH_CMD_HMAC`, `HASH_CMD_ACC_MODE`,
/// `HASH_CMD_HMAC_KEY`.
pub const HASH_CMD_MODE_SHIFT: u32 = 7;
/// Hash command: accumulative mode: Linux `HASH_CMD_ACC_MODE`, u-boot `HACE_HASH_MODE_ACCUM`.
pub const HASH_CMD_ACC_MODE: u32 = 2 << HASH_CMD_MODE_SHIFT;
/// Hash command: interrupt on completion: Linux `HASH_CMD_INT_ENABLE`.
pub const HASH_CMD_INT_ENABLE: u32 = 1 << 9;
/// Hash command: the SHA-512 series member, bits 10-11 (SHA-512 0, SHA-384 1, SHA-512/256 2,
/// SHA-512/224 3): Linux `HASH_CMD_SHA512` .. `HASH_CMD_SHA512_224`.
pub const HASH_CMD_SHA512_SHIFT: u32 = 10;
/// Hash command: the source is a scatter-gather list (AST2600): Linux
/// `HASH_CMD_HASH_SRC_SG_CTRL`.
pub const HASH_CMD_SG: u32 = 1 << 18;
/// Hash command: the bits the engine keeps (QEMU's AST2600 `hash_mask`).
pub const HASH_CMD_MASK: u32 = 0x0014_7FFF;

/// Scatter-gather entry: the last entry of the list: Linux `HASH_SG_LAST_LIST`.
pub const SG_LAST: u32 = 1 << 31;
/// Scatter-gather entry: the length bits (QEMU `SG_LIST_LEN_MASK`).
pub const SG_LEN_MASK: u32 = 0x0FFF_FFFF;
/// Most entries one scatter-gather list may have before it is refused as unterminated.
pub const MAX_SG_ENTRIES: usize = 1 << 16;
/// Most bytes one job hashes (Linux hashes at most 0xa000 bytes per job in direct mode and a
/// request's pages in scatter-gather mode; u-boot a FIT image).
pub const MAX_MESSAGE: u64 = 256 << 20;

/// How much guest memory one read takes.
const CHUNK: usize = 64 * 1024;

/// Which SoC's engine this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Variant {
    /// AST2500 (`aspeed,ast2500-hace`): direct source only.
    Ast2500,
    /// AST2600 (`aspeed,ast2600-hace`): direct and scatter-gather sources.
    Ast2600,
}

impl Variant {
    /// The address bits the engine keeps (QEMU's `src_mask`): the DRAM window's size - 1.
    pub const fn address_mask(self) -> u32 {
        match self {
            Variant::Ast2500 => 0x3FFF_FFFF,
            Variant::Ast2600 => 0x7FFF_FFFF,
        }
    }

    /// Whether [`HASH_CMD_SG`] selects a scatter-gather list.
    pub const fn has_scatter_gather(self) -> bool {
        matches!(self, Variant::Ast2600)
    }
}

/// A hash algorithm the engine computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// MD5 (digest mode only).
    Md5,
    /// SHA-1.
    Sha1,
    /// SHA-224.
    Sha224,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
    /// SHA-512/224.
    Sha512_224,
    /// SHA-512/256.
    Sha512_256,
}

impl Algorithm {
    /// The algorithm a hash command selects, if it names one.
    pub fn from_command(cmd: u32) -> Option<Self> {
        Some(match (cmd >> HASH_CMD_ALGO_SHIFT) & 7 {
            0 => Algorithm::Md5,
            2 => Algorithm::Sha1,
            4 => Algorithm::Sha224,
            5 => Algorithm::Sha256,
            6 => match (cmd >> HASH_CMD_SHA512_SHIFT) & 3 {
                0 => Algorithm::Sha512,
                1 => Algorithm::Sha384,
                2 => Algorithm::Sha512_256,
                _ => Algorithm::Sha512_224,
            },
            _ => return None,
        })
    }

    /// The hash command bits that select this algorithm.
    pub const fn command(self) -> u32 {
        let (algo, series) = match self {
            Algorithm::Md5 => (0, 0),
            Algorithm::Sha1 => (2, 0),
            Algorithm::Sha224 => (4, 0),
            Algorithm::Sha256 => (5, 0),
            Algorithm::Sha512 => (6, 0),
            Algorithm::Sha384 => (6, 1),
            Algorithm::Sha512_256 => (6, 2),
            Algorithm::Sha512_224 => (6, 3),
        };
        (algo << HASH_CMD_ALGO_SHIFT) | (series << HASH_CMD_SHA512_SHIFT)
    }

    /// Bytes of the digest.
    pub const fn digest_size(self) -> usize {
        match self {
            Algorithm::Md5 => 16,
            Algorithm::Sha1 => 20,
            Algorithm::Sha224 | Algorithm::Sha512_224 => 28,
            Algorithm::Sha256 | Algorithm::Sha512_256 => 32,
            Algorithm::Sha384 => 48,
            Algorithm::Sha512 => 64,
        }
    }

    /// Bytes of the chaining state accumulative mode reads and writes.
    pub const fn state_size(self) -> usize {
        match self {
            Algorithm::Md5 => 16,
            Algorithm::Sha1 => 20,
            Algorithm::Sha224 | Algorithm::Sha256 => 32,
            _ => 64,
        }
    }

    /// Bytes of one block of the compression function.
    pub const fn block_size(self) -> usize {
        match self {
            Algorithm::Md5 | Algorithm::Sha1 | Algorithm::Sha224 | Algorithm::Sha256 => 64,
            _ => 128,
        }
    }

    /// The initial chaining value (FIPS 180-4 section 5.3), as the digest buffer holds it.
    fn initial_state(self) -> Vec<u8> {
        let words32 = |w: &[u32]| w.iter().flat_map(|w| w.to_be_bytes()).collect();
        let words64 = |w: &[u64]| w.iter().flat_map(|w| w.to_be_bytes()).collect();
        match self {
            Algorithm::Md5 => Vec::new(),
            Algorithm::Sha1 => words32(&SHA1_H0),
            Algorithm::Sha224 => words32(&SHA224_H0),
            Algorithm::Sha256 => words32(&SHA256_H0),
            Algorithm::Sha384 => words64(&SHA384_H0),
            Algorithm::Sha512 => words64(&SHA512_H0),
            Algorithm::Sha512_224 => words64(&SHA512_224_H0),
            Algorithm::Sha512_256 => words64(&SHA512_256_H0),
        }
    }
}

/// SHA-1 initial hash value (FIPS 180-4 5.3.1).
const SHA1_H0: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
/// SHA-224 initial hash value (FIPS 180-4 5.3.2).
const SHA224_H0: [u32; 8] = [
    0xc1059ed8, 0x367cd507, 0x3070dd17, 0xf70e5939, 0xffc00b31, 0x68581511, 0x64f98fa7, 0xbefa4fa4,
];
/// SHA-256 initial hash value (FIPS 180-4 5.3.3).
const SHA256_H0: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];
/// SHA-384 initial hash value (FIPS 180-4 5.3.4).
const SHA384_H0: [u64; 8] = [
    0xcbbb9d5dc1059ed8,
    0x629a292a367cd507,
    0x9159015a3070dd17,
    0x152fecd8f70e5939,
    0x67332667ffc00b31,
    0x8eb44a8768581511,
    0xdb0c2e0d64f98fa7,
    0x47b5481dbefa4fa4,
];
/// SHA-512 initial hash value (FIPS 180-4 5.3.5).
const SHA512_H0: [u64; 8] = [
    0x6a09e667f3bcc908,
    0xbb67ae8584caa73b,
    0x3c6ef372fe94f82b,
    0xa54ff53a5f1d36f1,
    0x510e527fade682d1,
    0x9b05688c2b3e6c1f,
    0x1f83d9abfb41bd6b,
    0x5be0cd19137e2179,
];
/// SHA-512/224 initial hash value (FIPS 180-4 5.3.6.1).
const SHA512_224_H0: [u64; 8] = [
    0x8C3D37C819544DA2,
    0x73E1996689DCD4D6,
    0x1DFAB7AE32FF9C82,
    0x679DD514582F9FCF,
    0x0F6D2B697BD44DA8,
    0x77E36F7304C48942,
    0x3F9D85A86A1D36C8,
    0x1112E6AD91D692A1,
];
/// SHA-512/256 initial hash value (FIPS 180-4 5.3.6.2).
const SHA512_256_H0: [u64; 8] = [
    0x22312194FC2BF72C,
    0x9F555FA3C84C64C2,
    0x2393B86B6F53B151,
    0x963877195940EABD,
    0x96283EE2A88EFFE3,
    0xBE5E1E2553863992,
    0x2B0199FC2C85B8AA,
    0x0EB72DDC81C52CA2,
];

/// A running hash: the chaining state, a partial block and the message length so far.
pub struct Hasher {
    algorithm: Algorithm,
    core: Core,
    partial: Vec<u8>,
    length: u128,
}

enum Core {
    Md5(md5::Md5),
    Sha1([u32; 5]),
    Sha256([u32; 8]),
    Sha512([u64; 8]),
}

impl Hasher {
    /// A hash of `algorithm` from its initial value.
    pub fn new(algorithm: Algorithm) -> Self {
        if algorithm == Algorithm::Md5 {
            return Self {
                algorithm,
                core: Core::Md5(md5::Md5::new()),
                partial: Vec::new(),
                length: 0,
            };
        }
        Self::resume(algorithm, &algorithm.initial_state()).expect("initial state has its size")
    }

    /// A hash of `algorithm` resumed from `state` (its [`Algorithm::state_size`] bytes in the
    /// digest's byte order); `None` for MD5, whose state the engine model cannot load.
    pub fn resume(algorithm: Algorithm, state: &[u8]) -> Option<Self> {
        let be32 = |i: usize| u32::from_be_bytes(state[i * 4..i * 4 + 4].try_into().unwrap());
        let be64 = |i: usize| u64::from_be_bytes(state[i * 8..i * 8 + 8].try_into().unwrap());
        if state.len() < algorithm.state_size() {
            return None;
        }
        let core = match algorithm {
            Algorithm::Md5 => return None,
            Algorithm::Sha1 => Core::Sha1(std::array::from_fn(be32)),
            Algorithm::Sha224 | Algorithm::Sha256 => Core::Sha256(std::array::from_fn(be32)),
            _ => Core::Sha512(std::array::from_fn(be64)),
        };
        Some(Self {
            algorithm,
            core,
            partial: Vec::new(),
            length: 0,
        })
    }

    /// Hashes `data`.
    pub fn update(&mut self, mut data: &[u8]) {
        self.length += data.len() as u128;
        if let Core::Md5(h) = &mut self.core {
            h.update(data);
            return;
        }
        let block = self.algorithm.block_size();
        if !self.partial.is_empty() {
            let take = (block - self.partial.len()).min(data.len());
            self.partial.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.partial.len() < block {
                return;
            }
            let full = std::mem::take(&mut self.partial);
            self.compress(&full);
        }
        let whole = data.len() / block * block;
        self.compress(&data[..whole]);
        self.partial.extend_from_slice(&data[whole..]);
    }

    /// Runs the compression function over `blocks` (whole blocks).
    fn compress(&mut self, blocks: &[u8]) {
        match &mut self.core {
            Core::Md5(_) => unreachable!("MD5 is hashed by the md-5 crate"),
            Core::Sha1(s) => {
                let blocks: Vec<_> = blocks
                    .chunks_exact(64)
                    .map(|b| *GenericArray::from_slice(b))
                    .collect();
                sha1::compress(s, &blocks);
            }
            Core::Sha256(s) => {
                let blocks: Vec<_> = blocks
                    .chunks_exact(64)
                    .map(|b| *GenericArray::from_slice(b))
                    .collect();
                sha2::compress256(s, &blocks);
            }
            Core::Sha512(s) => {
                let blocks: Vec<_> = blocks
                    .chunks_exact(128)
                    .map(|b| *GenericArray::from_slice(b))
                    .collect();
                sha2::compress512(s, &blocks);
            }
        }
    }

    /// The chaining state as the digest buffer holds it, if the message so far is whole blocks.
    pub fn state(&self) -> Option<Vec<u8>> {
        if !self.partial.is_empty() {
            return None;
        }
        let bytes = match &self.core {
            Core::Md5(_) => return None,
            Core::Sha1(s) => s.iter().flat_map(|w| w.to_be_bytes()).collect(),
            Core::Sha256(s) => s.iter().flat_map(|w| w.to_be_bytes()).collect(),
            Core::Sha512(s) => s.iter().flat_map(|w| w.to_be_bytes()).collect(),
        };
        Some(bytes)
    }

    /// Pads the message (FIPS 180-4 5.1) and returns the digest.
    pub fn finish(mut self) -> Vec<u8> {
        if let Core::Md5(h) = self.core {
            return h.finalize().to_vec();
        }
        let block = self.algorithm.block_size();
        let length_bytes = if block == 64 { 8 } else { 16 };
        let bits = self.length.wrapping_mul(8);
        let mut pad = vec![0x80u8];
        while (self.partial.len() + pad.len()) % block != block - length_bytes {
            pad.push(0);
        }
        pad.extend_from_slice(&bits.to_be_bytes()[16 - length_bytes..]);
        let length = self.length;
        self.update(&pad);
        self.length = length;
        let mut state = self.state().expect("padding ends on a block boundary");
        state.truncate(self.algorithm.digest_size());
        state
    }
}

/// Why a hash job did not run (logged once per kind).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobError {
    /// The command's algorithm field names no algorithm.
    UndefinedAlgorithm(u32),
    /// HMAC modes (1, 3) are not modelled.
    Hmac,
    /// MD5 in accumulative mode is not modelled.
    Md5Accumulative,
    /// Accumulative mode over a message that is not whole blocks.
    PartialBlock(u64),
    /// A guest memory access failed.
    Memory(u64, usize),
    /// The scatter-gather list has no last entry in [`MAX_SG_ENTRIES`].
    Unterminated,
    /// The message is longer than [`MAX_MESSAGE`].
    TooLong(u64),
}

impl JobError {
    fn kind(&self) -> u8 {
        match self {
            JobError::UndefinedAlgorithm(_) => 0,
            JobError::Hmac => 1,
            JobError::Md5Accumulative => 2,
            JobError::PartialBlock(_) => 3,
            JobError::Memory(..) => 4,
            JobError::Unterminated => 5,
            JobError::TooLong(_) => 6,
        }
    }
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobError::UndefinedAlgorithm(a) => write!(f, "undefined algorithm {a}"),
            JobError::Hmac => write!(f, "HMAC modes are not modelled"),
            JobError::Md5Accumulative => write!(f, "MD5 in accumulative mode is not modelled"),
            JobError::PartialBlock(n) => {
                write!(f, "accumulative mode over {n} bytes, not whole blocks")
            }
            JobError::Memory(a, n) => write!(f, "{n} bytes at {a:#x} are not in DRAM"),
            JobError::Unterminated => write!(
                f,
                "the scatter-gather list has no last entry in {MAX_SG_ENTRIES}"
            ),
            JobError::TooLong(n) => write!(f, "{n} bytes is more than one job hashes"),
        }
    }
}

/// The registers: plain data, for snapshots.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HaceState {
    /// The crypto engine's registers 0x00..=0x18, kept as written.
    pub crypt: [u32; 7],
    /// [`REG_STATUS`].
    pub status: u32,
    /// [`REG_HASH_SRC`].
    pub hash_src: u32,
    /// [`REG_HASH_DIGEST`].
    pub hash_digest: u32,
    /// [`REG_HASH_KEY`].
    pub hash_key: u32,
    /// [`REG_HASH_DATA_LEN`].
    pub hash_len: u32,
    /// [`REG_HASH_CMD`].
    pub hash_cmd: u32,
}

/// The HACE of an Aspeed SoC (hash engine).
pub struct AspeedHace {
    variant: Variant,
    irq: IrqLine,
    memory: Rc<dyn GuestMemory>,
    /// Where DRAM starts in `memory`: the engine's addresses are offsets from it.
    dram_base: u64,
    state: HaceState,
    /// Job error kinds already logged (bit per [`JobError`] kind).
    logged: Cell<u8>,
    jobs: u64,
    unimp: UnimplementedLog,
}

impl AspeedHace {
    /// An engine of `variant` reading and writing `memory` (the guest's physical address
    /// space, of which it reaches DRAM only, from `dram_base`), raising `irq`.
    pub fn new(
        variant: Variant,
        irq: IrqLine,
        memory: Rc<dyn GuestMemory>,
        dram_base: u64,
    ) -> Self {
        Self::from_state(variant, irq, memory, dram_base, &HaceState::default())
    }

    /// An engine restored from `state`.
    pub fn from_state(
        variant: Variant,
        irq: IrqLine,
        memory: Rc<dyn GuestMemory>,
        dram_base: u64,
        state: &HaceState,
    ) -> Self {
        let hace = Self {
            variant,
            irq,
            memory,
            dram_base,
            state: state.clone(),
            logged: Cell::new(0),
            jobs: 0,
            unimp: UnimplementedLog::new("hace"),
        };
        hace.update_irq();
        hace
    }

    /// The registers.
    pub fn state(&self) -> HaceState {
        self.state.clone()
    }

    /// How many hash jobs have run (completed or refused).
    pub fn jobs(&self) -> u64 {
        self.jobs
    }

    fn update_irq(&self) {
        let s = &self.state;
        self.irq
            .set(s.status & STS_HASH_ISR != 0 && s.hash_cmd & HASH_CMD_INT_ENABLE != 0);
    }

    /// A DRAM address the engine was given, as a guest physical address.
    fn dram(&self, addr: u32) -> u64 {
        self.dram_base + u64::from(addr & self.variant.address_mask())
    }

    fn read_memory(&self, addr: u64, buf: &mut [u8]) -> Result<(), JobError> {
        self.memory
            .read(addr, buf)
            .map_err(|_| JobError::Memory(addr, buf.len()))
    }

    /// Feeds `len` bytes at DRAM address `addr` to `h`.
    fn feed(&self, h: &mut Hasher, addr: u32, len: u64, total: &mut u64) -> Result<(), JobError> {
        *total += len;
        if *total > MAX_MESSAGE {
            return Err(JobError::TooLong(*total));
        }
        let mut at = self.dram(addr);
        let mut left = len;
        let mut buf = vec![0u8; CHUNK.min(len as usize)];
        while left > 0 {
            let n = CHUNK.min(left as usize);
            self.read_memory(at, &mut buf[..n])?;
            h.update(&buf[..n]);
            at += n as u64;
            left -= n as u64;
        }
        Ok(())
    }

    /// Runs the job the hash command `cmd` describes.
    fn run(&self, cmd: u32) -> Result<(), JobError> {
        let algorithm = Algorithm::from_command(cmd).ok_or(JobError::UndefinedAlgorithm(
            (cmd >> HASH_CMD_ALGO_SHIFT) & 7,
        ))?;
        let accumulate = match (cmd >> HASH_CMD_MODE_SHIFT) & 3 {
            0 => false,
            2 => true,
            _ => return Err(JobError::Hmac),
        };
        let s = &self.state;
        let digest = self.dram(s.hash_digest);
        let mut h = if accumulate {
            if algorithm == Algorithm::Md5 {
                return Err(JobError::Md5Accumulative);
            }
            let mut state = vec![0; algorithm.state_size()];
            self.read_memory(digest, &mut state)?;
            Hasher::resume(algorithm, &state).expect("the state has its size")
        } else {
            Hasher::new(algorithm)
        };
        let mut total = 0;
        if cmd & HASH_CMD_SG != 0 && self.variant.has_scatter_gather() {
            let mut entry = s.hash_src;
            let mut last = false;
            for _ in 0..MAX_SG_ENTRIES {
                let mut raw = [0u8; 8];
                self.read_memory(self.dram(entry), &mut raw)?;
                let len = u32::from_le_bytes(raw[0..4].try_into().unwrap());
                let addr = u32::from_le_bytes(raw[4..8].try_into().unwrap());
                self.feed(&mut h, addr, u64::from(len & SG_LEN_MASK), &mut total)?;
                if len & SG_LAST != 0 {
                    last = true;
                    break;
                }
                entry = entry.wrapping_add(8);
            }
            if !last {
                return Err(JobError::Unterminated);
            }
        } else {
            self.feed(&mut h, s.hash_src, u64::from(s.hash_len), &mut total)?;
        }
        let out = if accumulate {
            h.state().ok_or(JobError::PartialBlock(total))?
        } else {
            h.finish()
        };
        self.memory
            .write(digest, &out)
            .map_err(|_| JobError::Memory(digest, out.len()))
    }

    fn start(&mut self) {
        self.jobs += 1;
        if let Err(e) = self.run(self.state.hash_cmd) {
            let bit = 1u8 << e.kind();
            if self.logged.get() & bit == 0 {
                self.logged.set(self.logged.get() | bit);
                log::warn!(target: "guest_errors", "hace: hash command {:#x}: {e}; nothing written", self.state.hash_cmd);
            }
        }
        self.state.status |= STS_HASH_ISR;
        self.update_irq();
    }

    fn read32(&self, offset: u64) -> Option<u32> {
        let s = &self.state;
        Some(match offset {
            REG_CRYPT_SRC..=REG_GCM_TAG => s.crypt[(offset / 4) as usize],
            REG_STATUS => s.status,
            REG_HASH_SRC => s.hash_src,
            REG_HASH_DIGEST => s.hash_digest,
            REG_HASH_KEY => s.hash_key,
            REG_HASH_DATA_LEN => s.hash_len,
            REG_HASH_CMD => s.hash_cmd,
            _ => return None,
        })
    }
}

impl Device for AspeedHace {
    fn save_state(&self) -> Option<DeviceState> {
        Some(DeviceState::new(
            STATE_KIND,
            STATE_VERSION,
            &SavedHace {
                variant: self.variant,
                state: self.state.clone(),
                jobs: self.jobs,
            },
        ))
    }

    fn load_state(&mut self, state: &DeviceState) -> Result<(), StateError> {
        let saved: SavedHace = state.decode(STATE_KIND, STATE_VERSION)?;
        if saved.variant != self.variant {
            return Err(StateError(format!(
                "an {:?} hash engine's state cannot be loaded into an {:?} one",
                saved.variant, self.variant
            )));
        }
        self.state = saved.state;
        self.jobs = saved.jobs;
        self.update_irq();
        Ok(())
    }

    fn read(&mut self, offset: u64, size: u8) -> u64 {
        match self.read32(offset & !3) {
            Some(v) => subword(v, offset, size),
            None => {
                self.unimp.read(offset, size);
                0
            }
        }
    }

    fn write(&mut self, offset: u64, size: u8, value: u64) {
        let reg = offset & !3;
        let Some(old) = self.read32(reg) else {
            self.unimp.write(offset, size, value);
            return;
        };
        let v = merge_subword(old, offset, size, value);
        let mask = self.variant.address_mask();
        let s = &mut self.state;
        match reg {
            REG_STATUS => {
                s.status &= !(v & (STS_HASH_ISR | STS_CRYPTO_ISR | STS_RSA_ISR));
                self.update_irq();
            }
            REG_HASH_SRC => s.hash_src = v & mask,
            REG_HASH_DIGEST => s.hash_digest = v & mask & !7,
            REG_HASH_KEY => s.hash_key = v & mask & !7,
            REG_HASH_DATA_LEN => s.hash_len = v,
            REG_HASH_CMD => {
                s.hash_cmd = v & HASH_CMD_MASK;
                self.start();
            }
            _ => {
                s.crypt[(reg / 4) as usize] = v;
                if reg == REG_CRYPT_CMD {
                    self.unimp.write(offset, size, value);
                }
            }
        }
    }

    fn reset(&mut self) {
        self.state = HaceState::default();
        self.update_irq();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bus::{LevelRecorder, VecMemory};

    const MEM: usize = 1 << 20;
    const DRAM_BASE: u64 = 0x8000_0000;

    fn engine() -> (AspeedHace, Rc<VecMemory>, Rc<LevelRecorder>) {
        let memory = Rc::new(VecMemory::new(DRAM_BASE, MEM));
        let irq = LevelRecorder::new();
        let hace = AspeedHace::new(Variant::Ast2600, irq.line(0), memory.clone(), DRAM_BASE);
        (hace, memory, irq)
    }

    /// A copy of `memory` (the machine restores DRAM itself).
    fn copy_of(memory: &VecMemory) -> Rc<VecMemory> {
        let mut bytes = vec![0u8; MEM];
        memory.read(DRAM_BASE, &mut bytes).unwrap();
        let copy = Rc::new(VecMemory::new(DRAM_BASE, MEM));
        copy.write(DRAM_BASE, &bytes).unwrap();
        copy
    }

    #[test]
    fn a_saved_engine_loads_into_a_fresh_one_between_the_jobs_of_a_hash() {
        let (mut hace, memory, irq) = engine();
        // Linux's accumulative SHA-256 of 1000 bytes: the first job (whole blocks) has run,
        // its completion interrupt is pending; the chaining value is in the digest buffer.
        let msg = vec![0x61u8; 1000];
        let algo = Algorithm::Sha256;
        let (digest, mut jobs) = linux_jobs(&memory, algo, &msg, 700);
        let last = jobs.pop().unwrap();
        for job in &jobs {
            accumulative_job(&mut hace, &memory, algo, digest, job);
        }
        assert!(irq.level(0));
        hace.write(REG_CRYPT_CONTEXT, 4, 0x55);
        let saved = hace.save_state().unwrap();
        assert_eq!(
            (saved.kind.as_str(), saved.version),
            (STATE_KIND, STATE_VERSION)
        );

        let twin_memory = copy_of(&memory);
        let twin_irq = LevelRecorder::new();
        let mut twin = AspeedHace::new(
            Variant::Ast2600,
            twin_irq.line(0),
            twin_memory.clone(),
            DRAM_BASE,
        );
        twin.load_state(&saved).unwrap();
        assert!(
            twin_irq.level(0),
            "the pending completion interrupt comes back"
        );
        assert_eq!(twin.save_state().unwrap(), saved);
        assert_eq!(twin.jobs(), hace.jobs());
        for off in (0..=REG_HASH_CMD).step_by(4) {
            assert_eq!(twin.read(off, 4), hace.read(off, 4), "register {off:#x}");
        }
        // Both finish the hash alike, and acknowledge alike.
        let want = sha2::Sha256::digest(&msg).to_vec();
        for (engine, memory, irq) in [
            (&mut hace, &memory, &irq),
            (&mut twin, &twin_memory, &twin_irq),
        ] {
            engine.write(REG_STATUS, 4, u64::from(STS_HASH_ISR));
            assert!(!irq.level(0));
            accumulative_job(engine, memory, algo, digest, &last);
            assert_eq!(read(memory, digest, 32), want);
            assert!(irq.level(0));
        }
        assert_eq!(twin.save_state(), hace.save_state());
    }

    #[test]
    fn an_engine_refuses_a_state_of_another_kind_version_or_generation() {
        let (mut hace, memory, _) = engine();
        memory.write(0x8000_1000, b"abc").unwrap();
        direct(
            &mut hace,
            0x1000,
            3,
            0x2000,
            Algorithm::Sha1.command() | HASH_CMD_INT_ENABLE,
        );
        let saved = hace.save_state().unwrap();
        let refused = |engine: &mut AspeedHace, state: &DeviceState| {
            let before = engine.save_state();
            let e = engine.load_state(state).unwrap_err();
            assert_eq!(engine.save_state(), before, "{e}: the engine is unchanged");
            e.0
        };
        let (mut twin, _, _) = engine();
        let mut wrong = saved.clone();
        wrong.kind = "aspeed-sdc".into();
        assert!(refused(&mut twin, &wrong).contains("cannot be loaded into a aspeed-hace"));
        let mut wrong = saved.clone();
        wrong.version = STATE_VERSION + 1;
        assert!(refused(&mut twin, &wrong).contains("format version"));
        let mut ast2500 = AspeedHace::new(
            Variant::Ast2500,
            LevelRecorder::new().line(0),
            memory.clone(),
            DRAM_BASE,
        );
        assert!(refused(&mut ast2500, &saved).contains("an Ast2600 hash engine's state"));
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// FIPS 180-4 / RFC 1321 known answers for "abc".
    const ABC: [(Algorithm, &str); 8] = [
        (Algorithm::Md5, "900150983cd24fb0d6963f7d28e17f72"),
        (Algorithm::Sha1, "a9993e364706816aba3e25717850c26c9cd0d89d"),
        (
            Algorithm::Sha224,
            "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7",
        ),
        (
            Algorithm::Sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            Algorithm::Sha384,
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
        ),
        (
            Algorithm::Sha512,
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        ),
        (
            Algorithm::Sha512_224,
            "4634270f707b6a54daae7530460842e20e37ed265ceee9a43e8924aa",
        ),
        (
            Algorithm::Sha512_256,
            "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23",
        ),
    ];

    /// u-boot's and the Aspeed SDK's direct job: data, length, digest buffer, command; then it
    /// polls the status bit.
    fn direct(hace: &mut AspeedHace, src: u32, len: u32, digest: u32, cmd: u32) {
        hace.write(REG_STATUS, 4, u64::from(STS_HASH_ISR));
        hace.write(REG_HASH_SRC, 4, u64::from(src));
        hace.write(REG_HASH_DIGEST, 4, u64::from(digest));
        hace.write(REG_HASH_KEY, 4, u64::from(digest));
        hace.write(REG_HASH_DATA_LEN, 4, u64::from(len));
        hace.write(REG_HASH_CMD, 4, u64::from(cmd));
        assert_ne!(hace.read(REG_STATUS, 4) as u32 & STS_HASH_ISR, 0);
    }

    fn read(memory: &VecMemory, addr: u32, len: usize) -> Vec<u8> {
        let mut b = vec![0; len];
        memory.read(u64::from(addr), &mut b).unwrap();
        b
    }

    #[test]
    fn direct_digests_match_known_answers() {
        let (mut hace, memory, irq) = engine();
        memory.write(0x8000_1000, b"abc").unwrap();
        for (algorithm, want) in ABC {
            direct(&mut hace, 0x8000_1000, 3, 0x8000_2000, algorithm.command());
            let got = read(&memory, 0x8000_2000, algorithm.digest_size());
            assert_eq!(hex(&got), want, "{algorithm:?}");
        }
        assert!(!irq.level(0), "no interrupt without HASH_CMD_INT_ENABLE");
    }

    #[test]
    fn addresses_are_dram_offsets() {
        let (mut hace, memory, _) = engine();
        memory.write(0x8000_1000, b"abc").unwrap();
        // Bit 31 dropped, as QEMU's src_mask does: 0x1000 is DRAM offset 0x1000.
        direct(&mut hace, 0x1000, 3, 0x2000, Algorithm::Sha256.command());
        assert_eq!(hex(&read(&memory, 0x8000_2000, 32)), ABC[3].1);
        assert_eq!(hace.read(REG_HASH_SRC, 4), 0x1000);
    }

    /// Linux `aspeed_sham_*` on the AST2600 before its jobs: the IV in the digest buffer
    /// (returned), and the jobs: whole blocks up to `split`, then the rest with the driver's
    /// own padding.
    fn linux_jobs(
        memory: &VecMemory,
        algo: Algorithm,
        msg: &[u8],
        split: usize,
    ) -> (u32, Vec<Vec<u8>>) {
        let digest = 0x8000_0040u32;
        memory
            .write(u64::from(digest), &algo.initial_state())
            .unwrap();
        let block = algo.block_size();
        let first = split / block * block;
        let mut jobs: Vec<Vec<u8>> = vec![msg[..first].to_vec()];
        // The final job: the rest and the padding (aspeed_ahash_fill_padding).
        let mut last = msg[first..].to_vec();
        let bits = (msg.len() as u128) * 8;
        let lb = if block == 64 { 8 } else { 16 };
        last.push(0x80);
        while last.len() % block != block - lb {
            last.push(0);
        }
        last.extend_from_slice(&bits.to_be_bytes()[16 - lb..]);
        jobs.push(last);
        jobs.retain(|j| !j.is_empty());
        (digest, jobs)
    }

    /// One accumulative scatter-gather job over `job` (whole blocks), its data in two pieces
    /// and the list at 0x8001_0000, with the completion interrupt enabled.
    fn accumulative_job(
        hace: &mut AspeedHace,
        memory: &VecMemory,
        algo: Algorithm,
        digest: u32,
        job: &[u8],
    ) {
        let cmd = HASH_CMD_ACC_MODE | algo.command() | (2 << 2) | HASH_CMD_INT_ENABLE | HASH_CMD_SG;
        let half = job.len() / 2;
        memory.write(0x8002_0000, &job[..half]).unwrap();
        memory.write(0x8004_0000, &job[half..]).unwrap();
        let mut list = Vec::new();
        list.extend_from_slice(&(half as u32).to_le_bytes());
        list.extend_from_slice(&0x8002_0000u32.to_le_bytes());
        list.extend_from_slice(&((job.len() - half) as u32 | SG_LAST).to_le_bytes());
        list.extend_from_slice(&0x8004_0000u32.to_le_bytes());
        memory.write(0x8001_0000, &list).unwrap();
        hace.write(REG_HASH_SRC, 4, 0x8001_0000);
        hace.write(REG_HASH_DIGEST, 4, u64::from(digest));
        hace.write(REG_HASH_KEY, 4, u64::from(digest));
        hace.write(REG_HASH_DATA_LEN, 4, job.len() as u64);
        hace.write(REG_HASH_CMD, 4, u64::from(cmd));
    }

    /// Linux's whole accumulative hash of `msg`, the first job up to `split`.
    fn linux_digest(
        hace: &mut AspeedHace,
        memory: &VecMemory,
        algo: Algorithm,
        msg: &[u8],
        split: usize,
    ) -> Vec<u8> {
        let (digest, jobs) = linux_jobs(memory, algo, msg, split);
        for job in &jobs {
            accumulative_job(hace, memory, algo, digest, job);
            let sts = hace.read(REG_STATUS, 4);
            hace.write(REG_STATUS, 4, sts);
        }
        read(memory, digest, algo.digest_size())
    }

    #[test]
    fn linux_accumulative_scatter_gather_matches_known_answers() {
        let (mut hace, memory, _) = engine();
        for (algorithm, want) in ABC.into_iter().skip(1) {
            assert_eq!(
                hex(&linux_digest(&mut hace, &memory, algorithm, b"abc", 0)),
                want
            );
        }
        // FIPS 180-4's message whose padding takes a second block.
        let msg = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        assert_eq!(
            hex(&linux_digest(&mut hace, &memory, Algorithm::Sha256, msg, 0)),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        let long = vec![0x61u8; 1000];
        // Two jobs: the first whole blocks, then the rest with the padding.
        let want = sha2::Sha512::digest(&long);
        assert_eq!(
            linux_digest(&mut hace, &memory, Algorithm::Sha512, &long, 700),
            want.to_vec()
        );
        let want = sha2::Sha256::digest(&long);
        assert_eq!(
            linux_digest(&mut hace, &memory, Algorithm::Sha256, &long, 700),
            want.to_vec()
        );
        let want = sha1::Sha1::digest(&long);
        assert_eq!(
            linux_digest(&mut hace, &memory, Algorithm::Sha1, &long, 999),
            want.to_vec()
        );
    }

    #[test]
    fn the_interrupt_follows_status_and_enable() {
        let (mut hace, memory, irq) = engine();
        memory.write(0x8000_1000, b"abc").unwrap();
        direct(
            &mut hace,
            0x8000_1000,
            3,
            0x8000_2000,
            Algorithm::Sha1.command() | HASH_CMD_INT_ENABLE,
        );
        assert!(irq.level(0));
        // Linux's handler writes back what it read.
        let sts = hace.read(REG_STATUS, 4);
        hace.write(REG_STATUS, 4, sts);
        assert!(!irq.level(0));
        assert_eq!(hace.read(REG_STATUS, 4), 0);
    }

    #[test]
    fn refused_jobs_write_nothing_and_still_complete() {
        let (mut hace, memory, _) = engine();
        memory.write(0x8000_2000, &[0xEE; 64]).unwrap();
        // Undefined algorithm 7, HMAC, MD5 accumulative, a partial block, memory outside DRAM.
        for cmd in [
            7 << 4,
            1 << 7,
            HASH_CMD_ACC_MODE,
            HASH_CMD_ACC_MODE | Algorithm::Sha256.command(),
        ] {
            direct(&mut hace, 0x8000_1000, 3, 0x8000_2000, cmd);
        }
        direct(
            &mut hace,
            0x7FFF_0000,
            0x10_0000,
            0x8000_2000,
            Algorithm::Sha1.command(),
        );
        assert_eq!(read(&memory, 0x8000_2000, 64), vec![0xEE; 64]);
        // A list that never ends: every entry empty, none last.
        direct(
            &mut hace,
            0x8008_0000,
            0,
            0x8000_2000,
            Algorithm::Sha1.command() | HASH_CMD_SG,
        );
        assert_eq!(read(&memory, 0x8000_2000, 64), vec![0xEE; 64]);
        assert_eq!(hace.jobs(), 6);
    }

    #[test]
    fn the_ast2500_has_no_scatter_gather() {
        let memory = Rc::new(VecMemory::new(DRAM_BASE, MEM));
        let mut hace = AspeedHace::new(
            Variant::Ast2500,
            IrqLine::disconnected(),
            memory.clone(),
            DRAM_BASE,
        );
        memory.write(0x8000_1000, b"abc").unwrap();
        direct(
            &mut hace,
            0x8000_1000,
            3,
            0x8000_2000,
            Algorithm::Sha256.command() | HASH_CMD_SG,
        );
        assert_eq!(hex(&read(&memory, 0x8000_2000, 32)), ABC[3].1);
    }

    #[test]
    fn state_round_trips() {
        let (mut hace, _, irq) = engine();
        hace.write(REG_HASH_SRC, 4, 0x8000_1234);
        hace.write(REG_CRYPT_CONTEXT, 4, 0x55);
        hace.write(REG_HASH_DATA_LEN, 4, 0);
        hace.write(
            REG_HASH_CMD,
            4,
            u64::from(Algorithm::Sha1.command() | HASH_CMD_INT_ENABLE),
        );
        let state = hace.state();
        let irq2 = LevelRecorder::new();
        let memory = Rc::new(VecMemory::new(DRAM_BASE, MEM));
        let restored =
            AspeedHace::from_state(Variant::Ast2600, irq2.line(0), memory, DRAM_BASE, &state);
        assert_eq!(restored.state(), state);
        assert_eq!(state.crypt[2], 0x55);
        assert_eq!(state.hash_src, 0x1234);
        assert!(irq.level(0) && irq2.level(0));
    }
}
