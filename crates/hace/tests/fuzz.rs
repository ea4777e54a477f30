//! Fuzz target for the HACE: arbitrary MMIO reads and writes of any width at any offset (hash
//! commands with every mode, algorithm and source bit mixed in), arbitrary guest memory
//! contents (including scatter-gather lists with lengths and addresses of any value), direct
//! digest jobs checked against the RustCrypto digests, and resets.
//!
//! Checked after every operation: nothing panics, a read of N bytes fits in N bytes, each
//! operation returns within the operation budget (a job bounded by `MAX_MESSAGE` and
//! `MAX_SG_ENTRIES`, never a hang on a list that loops), the interrupt line is high exactly
//! while the hash status bit and the command's interrupt enable are both set, the status keeps
//! only its interrupt bits, and every command write completes a job (the status bit set).
//! Cases: `PROPTEST_CASES` (256 by default) x [`OPS`] operations; see docs/fuzzing.md.

use std::rc::Rc;

use bus::{Device, GuestMemory, LevelRecorder, VecMemory};
use hace::*;
use mmio_fuzz::*;
use proptest::prelude::*;
use sha2::Digest;

const OPS: usize = 48;
const DRAM: u64 = 0x8000_0000;
const MEM: usize = 256 * 1024;

#[derive(Clone, Debug)]
enum Op {
    Read(u64, u8),
    Write(u64, u8, u64),
    /// Bytes stored at a DRAM offset (data, digest state or a scatter-gather list).
    Store(u32, Vec<u8>),
    /// A direct digest job over `len` bytes at `src` (SHA-256), checked against `sha2`.
    Sha256(u32, u32),
    Reset,
}

fn op() -> impl Strategy<Value = Op> {
    let commands: Vec<u64> = [
        Algorithm::Sha1.command(),
        Algorithm::Sha256.command() | HASH_CMD_ACC_MODE,
        Algorithm::Sha512.command() | HASH_CMD_SG,
        Algorithm::Sha384.command() | HASH_CMD_ACC_MODE | HASH_CMD_SG | HASH_CMD_INT_ENABLE,
        Algorithm::Md5.command() | HASH_CMD_INT_ENABLE,
        Algorithm::Md5.command() | HASH_CMD_ACC_MODE,
        7 << HASH_CMD_ALGO_SHIFT,
        1 << HASH_CMD_MODE_SHIFT,
        STS_HASH_ISR,
        0x8000_0000,
        0x0000_1000,
        0x7FFF_FFF8,
        SG_LAST | 64,
    ]
    .iter()
    .map(|&v| u64::from(v))
    .collect();
    let addr = prop_oneof![0u32..MEM as u32, any::<u32>()];
    let word = prop_oneof![
        any::<u32>(),
        0u32..MEM as u32,
        (0u32..4096).prop_map(|l| l | SG_LAST),
    ];
    let bytes = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        prop::collection::vec(word, 0..32)
            .prop_map(|w| w.iter().flat_map(|w| w.to_le_bytes()).collect()),
    ];
    prop_oneof![
        6 => (offset(REGS_SIZE), width()).prop_map(|(o, w)| Op::Read(o, w)),
        10 => (offset(REGS_SIZE), width(), value(commands)).prop_map(|(o, w, v)| Op::Write(o, w, v)),
        4 => (0u32..MEM as u32, bytes).prop_map(|(a, b)| Op::Store(a, b)),
        2 => (addr, 0u32..8192).prop_map(|(a, l)| Op::Sha256(a, l)),
        1 => Just(Op::Reset),
    ]
}

fn linux_sts(hace: &mut AspeedHace) -> u32 {
    hace.read(REG_STATUS, 4) as u32
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn hace_survives_arbitrary_mmio_and_memory(ops in prop::collection::vec(op(), OPS)) {
        let memory = Rc::new(VecMemory::new(DRAM, MEM));
        let rec = LevelRecorder::new();
        let mut hace = AspeedHace::new(Variant::Ast2600, rec.line(0), memory.clone(), DRAM);
        for op in &ops {
            let jobs = hace.jobs();
            match op {
                Op::Read(offset, size) => {
                    let v = timed(op, || hace.read(*offset, *size))?;
                    prop_assert!(read_fits(v, *size), "{:?} returned {:#x}", op, v);
                }
                Op::Write(offset, size, value) => {
                    timed(op, || hace.write(*offset, *size, *value))?;
                    let touches_cmd = (*offset & !3) == REG_HASH_CMD
                        || (*size == 8 && (offset.wrapping_add(4) & !3) == REG_HASH_CMD);
                    if touches_cmd && hace.jobs() > jobs {
                        prop_assert_ne!(linux_sts(&mut hace) & STS_HASH_ISR, 0, "a job completes");
                    }
                }
                Op::Store(at, bytes) => {
                    let n = bytes.len().min(MEM - *at as usize);
                    memory.write(DRAM + u64::from(*at), &bytes[..n]).unwrap();
                }
                Op::Sha256(src, len) => {
                    let digest = 0x8000_0000u32 + (MEM as u32 - 64);
                    hace.write(REG_HASH_SRC, 4, u64::from(*src));
                    hace.write(REG_HASH_DIGEST, 4, u64::from(digest));
                    hace.write(REG_HASH_DATA_LEN, 4, u64::from(*len));
                    let before = {
                        let mut b = vec![0; 32];
                        memory.read(u64::from(digest), &mut b).unwrap();
                        b
                    };
                    let offset = u64::from(*src & 0x7FFF_FFFF);
                    let mut data = vec![0; *len as usize];
                    // Nothing to read is always readable: an empty message hashes anywhere.
                    let readable = data.is_empty() || memory.read(DRAM + offset, &mut data).is_ok();
                    timed(op, || hace.write(REG_HASH_CMD, 4, u64::from(Algorithm::Sha256.command())))?;
                    let mut got = vec![0; 32];
                    memory.read(u64::from(digest), &mut got).unwrap();
                    if readable {
                        prop_assert_eq!(got, sha2::Sha256::digest(&data).to_vec(), "{:?}", op);
                    } else {
                        prop_assert_eq!(got, before, "{:?}: nothing written", op);
                    }
                    prop_assert_eq!(hace.jobs(), jobs + 1);
                }
                Op::Reset => timed(op, || hace.reset())?,
            }
            let s = hace.state();
            prop_assert_eq!(s.status & !(STS_HASH_ISR | STS_CRYPTO_ISR | STS_RSA_ISR), 0);
            prop_assert_eq!(
                rec.level(0),
                s.status & STS_HASH_ISR != 0 && s.hash_cmd & HASH_CMD_INT_ENABLE != 0,
                "interrupt level after {:?}", op
            );
        }
    }
}
