//! Writing the guest's flash changes back to the user's image file, atomically.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The folder `path` is in (`.` for a bare file name).
fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The temporary file [`write_atomically`] writes beside `path`.
fn temporary_for(path: &Path) -> Result<PathBuf, String> {
    let name = path
        .file_name()
        .ok_or_else(|| format!("{}: not a file name", path.display()))?;
    Ok(folder_of(path).join(format!(
        ".{}.ast-emu-{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    )))
}

/// Checks at start-up, before the guest runs, that [`write_atomically`] will be able to replace
/// `path`: a file can be created beside it, and it is not a mount point of its own (a file
/// bind-mounted alone into a container, `-v host.mtd:/flash/image.mtd`, cannot be renamed over).
pub fn check(path: &Path) -> Result<(), String> {
    let dir = folder_of(path);
    let file = fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let folder = fs::metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if file.dev() != folder.dev() {
        return Err(format!(
            "{}: --persist replaces the image by renaming a new file over it, but it is a mount \
             point of its own (a file bind-mounted alone?); mount the folder that holds it \
             instead (e.g. -v DIR:/flash)",
            path.display()
        ));
    }
    let tmp = temporary_for(path)?;
    match OpenOptions::new().write(true).create_new(true).open(&tmp) {
        Ok(_) => {
            let _ = fs::remove_file(&tmp);
            Ok(())
        }
        Err(e) => Err(format!(
            "{}: --persist writes a new image beside the old one, but cannot create a file in \
             {}: {e}",
            path.display(),
            dir.display()
        )),
    }
}

/// Replaces `path` with `bytes` so that a crash at any moment leaves either the old or the new
/// image, never a mix: write a temporary file beside it, fsync, rename over, fsync the folder.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    replace_atomically(path, "the flash", |f| f.write_all(bytes))
}

/// Replaces `path` with a copy of itself with `patches` (offset, bytes) written over it, as
/// atomically as [`write_atomically`] (a card image: only the guest's changes are in memory).
pub fn patch_atomically(path: &Path, patches: &[(u64, &[u8])]) -> Result<(), String> {
    let original = path.to_path_buf();
    replace_atomically(path, "the card image", |f| {
        let mut from = File::open(&original)?;
        std::io::copy(&mut from, f)?;
        for (offset, bytes) in patches {
            std::os::unix::fs::FileExt::write_all_at(f, bytes, *offset)?;
        }
        Ok(())
    })
}

/// Writes a temporary file beside `path` with `fill`, fsyncs it, renames it over `path` and
/// fsyncs the folder; on any error the temporary is removed and `path` is as it was.
fn replace_atomically(
    path: &Path,
    what: &str,
    fill: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<(), String> {
    let dir = folder_of(path);
    let tmp = temporary_for(path)?;
    let result = (|| -> std::io::Result<()> {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        fill(&mut f)?;
        // The new file keeps the old one's permissions.
        if let Ok(meta) = fs::metadata(path) {
            f.set_permissions(meta.permissions())?;
        }
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        let hint = if e.raw_os_error() == Some(libc::EBUSY) {
            " (the image is a mount point: mount its folder instead)"
        } else {
            ""
        };
        return Err(format!(
            "{}: writing {what} back failed: {e}{hint}",
            path.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("ast-emu-persist-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("flash.img");
        fs::write(&p, b"old").unwrap();
        write_atomically(&p, b"new contents").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new contents");
        let left: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 1, "only the image remains: {left:?}");
        assert!(write_atomically(&dir.join("missing-dir/x.img"), b"x").is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn check_accepts_a_plain_file_and_leaves_nothing_behind() {
        let dir = std::env::temp_dir().join(format!("ast-emu-check-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("flash.img");
        fs::write(&p, b"image").unwrap();
        check(&p).unwrap();
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "no temporary left");
        assert!(check(&dir.join("missing.img")).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
