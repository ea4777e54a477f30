//! Loading a flash image from disk, with clear errors for what a user can get wrong.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Flash sizes the board's SPI NOR model accepts.
pub const ACCEPTED_SIZES: [usize; 1] = [64 << 20];

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
    /// The size does not fit the flash model.
    WrongSize(PathBuf, usize),
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
            ImageError::WrongSize(p, n) => write!(
                f,
                "{}: image is {n} bytes; the 64 MiB SPI NOR flash needs exactly {} bytes{}",
                p.display(),
                ACCEPTED_SIZES[0],
                if *n < ACCEPTED_SIZES[0] {
                    " (--pad fills a smaller image with 0xFF)"
                } else {
                    ""
                }
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

/// As [`load`]; with `pad`, an image smaller than the flash is filled up with 0xFF (erased NOR).
pub fn load_padded(path: &Path, pad: bool) -> Result<Vec<u8>, ImageError> {
    match load(path) {
        Err(ImageError::WrongSize(p, n)) if pad && n < ACCEPTED_SIZES[0] && n > 0 => {
            let raw = std::fs::read(path).map_err(|e| ImageError::Unreadable(p.clone(), e))?;
            let mut data = if raw.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
                let mut out = Vec::new();
                xz2::read::XzDecoder::new(&raw[..])
                    .read_to_end(&mut out)
                    .map_err(|e| ImageError::BadXz(p.clone(), e))?;
                out
            } else {
                raw
            };
            data.resize(ACCEPTED_SIZES[0], 0xff);
            decode(&p, data)
        }
        other => other,
    }
}

/// Reads a raw or `.xz` flash image and checks it fits the board.
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

/// Checks (and decompresses, for `.xz`) an image already in memory; `path` names it in errors.
pub fn decode(path: &Path, raw: Vec<u8>) -> Result<Vec<u8>, ImageError> {
    if raw.is_empty() {
        return Err(ImageError::Empty(path.into()));
    }
    let is_xz = raw.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]);
    let data = if is_xz {
        let mut out = Vec::with_capacity(ACCEPTED_SIZES[0]);
        // Stop reading past the largest accepted size: a bomb cannot fill memory.
        let limit = ACCEPTED_SIZES[ACCEPTED_SIZES.len() - 1] as u64 + 1;
        xz2::read::XzDecoder::new(&raw[..])
            .take(limit)
            .read_to_end(&mut out)
            .map_err(|e| ImageError::BadXz(path.into(), e))?;
        if out.is_empty() {
            return Err(ImageError::Empty(path.into()));
        }
        out
    } else {
        raw
    };
    if !ACCEPTED_SIZES.contains(&data.len()) {
        return Err(ImageError::WrongSize(path.into(), data.len()));
    }
    let head = &data[..64 * 1024];
    for blank in [0xffu8, 0x00] {
        if head.iter().all(|&b| b == blank) {
            return Err(ImageError::NoBootLoader(path.into(), blank));
        }
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
            load(&temp("small", &[1; 1024])),
            Err(ImageError::WrongSize(_, 1024))
        ));
        let mut blank = vec![0xff; 64 << 20];
        assert!(matches!(
            load(&temp("blank", &blank)),
            Err(ImageError::NoBootLoader(_, 0xff))
        ));
        blank[0x100] = 0xea;
        assert_eq!(load(&temp("ok", &blank)).unwrap().len(), 64 << 20);
        let mut xz = vec![0xfd, b'7', b'z', b'X', b'Z', 0];
        xz.extend([0x55; 100]);
        assert!(matches!(
            load(&temp("bad.xz", &xz)),
            Err(ImageError::BadXz(..))
        ));
    }

    #[test]
    fn error_messages_name_the_file_and_the_sizes() {
        let e = load(&temp("small2", &[1; 1024])).unwrap_err().to_string();
        assert!(
            e.contains("small2") && e.contains("1024 bytes") && e.contains("67108864"),
            "{e}"
        );
    }
}
