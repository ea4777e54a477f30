//! SD cards (`--sd IMG`): an ext4 image the test makes (`mkfs.ext4 -d`) is mounted by the
//! guest and its file reads back; a file the guest writes is in the image afterwards only with
//! `--persist` (read back on the host with `debugfs`).

mod support;

use std::path::Path;
use std::process::Command;

use support::{assert_refused, have, login_to_default_image, Emulator};

/// What `debugfs` reads from `path` in the image (empty if the file is not there).
fn debugfs_cat(img: &Path, path: &str) -> String {
    let out = Command::new("debugfs")
        .args(["-R", &format!("cat {path}")])
        .arg(img)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Boots with the card, mounts it, checks the host's file, writes `note` and powers off.
fn boot_mount_write(img: &Path, persist: bool, note: &str) {
    let img = img.display().to_string();
    let mut args = vec!["--sd", img.as_str()];
    if persist {
        args.push("--persist");
    }
    let mut emu = Emulator::start(&args);
    login_to_default_image(&mut emu);
    // The card's block device (the SD controller's slot 0).
    emu.send("b=$(ls /sys/bus/platform/devices/1e740100.sdhci/mmc_host/mmc*/mmc*/block); echo B''LK=$b\r");
    emu.expect("BLK=");
    let name = emu.expect("\n");
    assert!(
        name.trim().starts_with("mmcblk"),
        "a block device: {name:?}"
    );
    emu.send("mount -t ext4 /dev/$b /mnt && cat /mnt/hello.txt\r");
    emu.expect("hello from the host");
    emu.send(&format!(
        "echo {note} > /mnt/note.txt && umount /mnt && echo U''MOUNTED\r"
    ));
    emu.expect("UMOUNTED");
    emu.send("poweroff\r");
    assert_eq!(emu.wait().code(), Some(0), "{}", emu.transcript());
}

#[test]
fn an_sd_card_mounts_and_keeps_writes_only_with_persist() {
    if !have("mkfs.ext4") || !have("debugfs") {
        panic!("this test needs e2fsprogs (mkfs.ext4, debugfs): make deps installs it");
    }
    let dir = std::env::temp_dir().join(format!("ast-emu-sd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let img = support::ext4_image(&dir);
    let before = std::fs::read(&img).unwrap();

    boot_mount_write(&img, false, "written-without-persist");
    assert!(
        std::fs::read(&img).unwrap() == before,
        "without --persist the image is untouched"
    );

    boot_mount_write(&img, true, "written-with-persist");
    assert_eq!(debugfs_cat(&img, "/note.txt"), "written-with-persist\n");
    assert_eq!(debugfs_cat(&img, "/hello.txt"), "hello from the host\n");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unusable_card_images_are_refused() {
    let dir = std::env::temp_dir().join(format!("ast-emu-sd-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let odd = dir.join("odd.img");
    std::fs::write(&odd, vec![0u8; 1000]).unwrap();
    let odd = odd.display().to_string();
    assert_refused(&["--sd", &odd], "512-byte blocks");
    assert_refused(&["--emmc", &odd], "512-byte blocks");
    assert_refused(&["--sd", "/nonexistent.img"], "/nonexistent.img");
    let d = dir.display().to_string();
    assert_refused(&["--sd", &d], "a directory");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The eMMC (`--emmc IMG`) beside an SD card: the host's 1 MiB file reads back with the same
/// MD5, and 4 MiB the guest writes read back the same after a remount with the page cache
/// dropped (multi-block ADMA transfers both ways).
#[test]
fn an_emmc_beside_an_sd_card_moves_large_files_both_ways() {
    let dir = std::env::temp_dir().join(format!("ast-emu-emmc-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("root")).unwrap();
    let data: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(dir.join("root/data.bin"), &data).unwrap();
    let emmc = dir.join("emmc.img");
    let out = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-d"])
        .arg(dir.join("root"))
        .arg(&emmc)
        .arg("96M")
        .output()
        .unwrap();
    assert!(out.status.success(), "mkfs.ext4: {out:?}");
    let sd = support::ext4_image(&dir);
    let (emmc, sd) = (emmc.display().to_string(), sd.display().to_string());
    let mut emu = Emulator::start(&["--emmc", &emmc, "--sd", &sd]);
    login_to_default_image(&mut emu);
    emu.send("b=$(ls /sys/bus/platform/devices/1e750100.sdhci/mmc_host/mmc*/mmc*/block); cat /sys/class/block/$b/device/type; mount -t ext4 /dev/$b /mnt && md5sum /mnt/data.bin\r");
    emu.expect("MMC");
    let want = md5_hex(&data);
    emu.expect(&format!("{want}  /mnt/data.bin"));
    emu.send("dd if=/dev/urandom of=/mnt/new.bin bs=64k count=64 2>/dev/null; md5sum /mnt/new.bin > /tmp/a; umount /mnt; echo 3 > /proc/sys/vm/drop_caches; mount -t ext4 /dev/$b /mnt && md5sum /mnt/new.bin > /tmp/b; cmp /tmp/a /tmp/b && echo S''AME\r");
    emu.expect("SAME");
    emu.send("poweroff\r");
    assert_eq!(emu.wait().code(), Some(0), "{}", emu.transcript());
    let _ = std::fs::remove_dir_all(&dir);
}

/// MD5 of `data` as `md5sum` prints it (by the host's md5sum).
fn md5_hex(data: &[u8]) -> String {
    let mut child = Command::new("md5sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), data).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}
