//! Loading a flash image from disk, with clear errors for what a user can get wrong.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The largest flash image read (the largest chip a board can have): a larger file, or an
/// `.xz` that unpacks to more, is refused before it fills memory.
pub const MAX_IMAGE_SIZE: usize = 128 << 20;

/// What a flash chip accepts: exactly its size, named for errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChipSize {
    /// Bytes the chip holds.
    pub size: usize,
    /// `board ast2600-evb's fmc CE0 (mx66u51235f, 64 MiB)`.
    pub what: String,
    /// Other sizes allowed instead (an image whose board is not known).
    pub also: Vec<usize>,
}

/// Why an image cannot be used.
#[derive(Debug)]
pub enum ImageError {
    /// The path does not exist.
    Missing(PathBuf),
    /// The path is a directory.
    Directory(PathBuf),
    /// The file cannot be read.
    Unreadable(PathBuf, io::Error),
    /// The file is empty.
    Empty(PathBuf),
    /// The `.xz` stream is corrupt or truncated.
    BadXz(PathBuf, io::Error),
    /// The size does not fit the flash chip.
    WrongSize(PathBuf, usize, ChipSize),
    /// Larger than any flash chip.
    TooLarge(PathBuf),
    /// The first 64 KiB are blank: no boot loader.
    NoBootLoader(PathBuf, u8),
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageError::Missing(p) => write!(f, "{}: no such file", p.display()),
            ImageError::Directory(p) => write!(f, "{}: is a directory, not a file", p.display()),
            ImageError::Unreadable(p, e) => write!(f, "{}: cannot read: {e}", p.display()),
            ImageError::Empty(p) => write!(f, "{}: the file is empty", p.display()),
            ImageError::BadXz(p, e) => {
                write!(f, "{}: corrupt or truncated .xz image: {e}", p.display())
            }
            ImageError::WrongSize(p, n, chip) => {
                write!(
                    f,
                    "{}: image is {n} bytes; {} needs exactly {} bytes",
                    p.display(),
                    chip.what,
                    chip.size
                )?;
                if !chip.also.is_empty() {
                    let also: Vec<String> = chip.also.iter().map(|s| s.to_string()).collect();
                    write!(f, " (or {}, with a chip of that size)", also.join(" or "))?;
                }
                if *n < chip.size {
                    write!(f, " (--pad fills a smaller image with 0xFF)")?;
                }
                Ok(())
            }
            ImageError::TooLarge(p) => write!(
                f,
                "{}: larger than any flash chip ({} bytes at most)",
                p.display(),
                MAX_IMAGE_SIZE
            ),
            ImageError::NoBootLoader(p, b) => write!(
                f,
                "{}: no boot loader at offset 0 (the first 64 KiB are all {b:#04x})",
                p.display()
            ),
        }
    }
}

impl std::error::Error for ImageError {}

/// Fits a loaded image to its chip: exactly `chip.size` bytes (or one of `chip.also`); with
/// `pad`, a smaller image is filled up with 0xFF (erased NOR).
pub fn fit(
    path: &Path,
    mut data: Vec<u8>,
    chip: &ChipSize,
    pad: bool,
) -> Result<Vec<u8>, ImageError> {
    let n = data.len();
    if n == chip.size || chip.also.contains(&n) {
        return Ok(data);
    }
    if pad && n < chip.size {
        data.resize(chip.size, 0xff);
        return Ok(data);
    }
    Err(ImageError::WrongSize(path.into(), n, chip.clone()))
}

/// Checks that a boot flash image has something at offset 0.
pub fn check_boot_loader(path: &Path, data: &[u8]) -> Result<(), ImageError> {
    let head = &data[..data.len().min(64 * 1024)];
    for blank in [0xffu8, 0x00] {
        if head.iter().all(|&b| b == blank) {
            return Err(ImageError::NoBootLoader(path.into(), blank));
        }
    }
    Ok(())
}

/// Reads a raw or `.xz` flash image (any size up to [`MAX_IMAGE_SIZE`]).
pub fn load(path: &Path) -> Result<Vec<u8>, ImageError> {
    let raw = read_file(path)?;
    decode(path, raw)
}

/// Reads a whole input file, with the errors a user can get wrong (missing, a directory,
/// unreadable); `Empty` if it has no bytes.
pub fn read_file(path: &Path) -> Result<Vec<u8>, ImageError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(ImageError::Missing(path.into()))
        }
        Err(e) => return Err(ImageError::Unreadable(path.into(), e)),
    };
    if meta.is_dir() {
        return Err(ImageError::Directory(path.into()));
    }
    let mut file = File::open(path).map_err(|e| ImageError::Unreadable(path.into(), e))?;
    let mut raw = Vec::with_capacity(meta.len() as usize);
    file.read_to_end(&mut raw)
        .map_err(|e| ImageError::Unreadable(path.into(), e))?;
    if raw.is_empty() {
        return Err(ImageError::Empty(path.into()));
    }
    Ok(raw)
}

/// Decompresses (for `.xz`) an image already in memory; `path` names it in errors.
pub fn decode(path: &Path, raw: Vec<u8>) -> Result<Vec<u8>, ImageError> {
    if raw.is_empty() {
        return Err(ImageError::Empty(path.into()));
    }
    let is_xz = raw.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]);
    let data = if is_xz {
        let mut out = Vec::with_capacity(64 << 20);
        // Stop reading past the largest accepted size: a bomb cannot fill memory.
        xz2::read::XzDecoder::new(&raw[..])
            .take(MAX_IMAGE_SIZE as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| ImageError::BadXz(path.into(), e))?;
        if out.is_empty() {
            return Err(ImageError::Empty(path.into()));
        }
        out
    } else {
        raw
    };
    if data.len() > MAX_IMAGE_SIZE {
        return Err(ImageError::TooLarge(path.into()));
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn temp(name: &str, data: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ast-emu-image-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::File::create(&p).unwrap().write_all(data).unwrap();
        p
    }

    fn evb_ce0() -> ChipSize {
        ChipSize {
            size: 64 << 20,
            what: "board ast2600-evb's fmc CE0 (mx66u51235f)".into(),
            also: vec![],
        }
    }

    /// What main does with a boot flash image: load, fit, check.
    fn boot_image(p: &Path) -> Result<Vec<u8>, ImageError> {
        let data = fit(p, load(p)?, &evb_ce0(), false)?;
        check_boot_loader(p, &data)?;
        Ok(data)
    }

    #[test]
    fn refuses_what_cannot_be_a_flash_image() {
        assert!(matches!(
            load(Path::new("/nonexistent/x.img")),
            Err(ImageError::Missing(_))
        ));
        assert!(matches!(
            load(&std::env::temp_dir()),
            Err(ImageError::Directory(_))
        ));
        assert!(matches!(
            load(&temp("empty", b"")),
            Err(ImageError::Empty(_))
        ));
        assert!(matches!(
            boot_image(&temp("small", &[1; 1024])),
            Err(ImageError::WrongSize(_, 1024, _))
        ));
        assert!(matches!(
            load(&temp("huge", &vec![1; MAX_IMAGE_SIZE + 1])),
            Err(ImageError::TooLarge(_))
        ));
        let mut blank = vec![0xff; 64 << 20];
        assert!(matches!(
            boot_image(&temp("blank", &blank)),
            Err(ImageError::NoBootLoader(_, 0xff))
        ));
        assert!(matches!(
            check_boot_loader(Path::new("tiny"), &[0; 16]),
            Err(ImageError::NoBootLoader(_, 0))
        ));
        blank[0x100] = 0xea;
        assert_eq!(boot_image(&temp("ok", &blank)).unwrap().len(), 64 << 20);
        let mut xz = vec![0xfd, b'7', b'z', b'X', b'Z', 0];
        xz.extend([0x55; 100]);
        assert!(matches!(
            load(&temp("bad.xz", &xz)),
            Err(ImageError::BadXz(..))
        ));
    }

    #[test]
    fn pad_fills_a_smaller_image_and_other_sizes_are_refused_with_the_chip_named() {
        let chip = ChipSize {
            also: vec![128 << 20],
            ..evb_ce0()
        };
        let p = Path::new("x.img");
        assert_eq!(fit(p, vec![1; 4096], &chip, true).unwrap().len(), 64 << 20);
        assert_eq!(
            fit(p, vec![1; 128 << 20], &chip, false).unwrap().len(),
            128 << 20
        );
        let e = fit(p, vec![1; 96 << 20], &chip, true)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("mx66u51235f") && e.contains("or 134217728"),
            "{e}"
        );
        assert!(!e.contains("--pad"), "larger images cannot be padded: {e}");
    }

    #[test]
    fn error_messages_name_the_file_and_the_sizes() {
        let e = boot_image(&temp("small2", &[1; 1024]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("small2") && e.contains("1024 bytes") && e.contains("67108864"),
            "{e}"
        );
        assert!(e.contains("--pad"), "{e}");
    }
}
