//! The project's own image, built into the binary: boots with no --flash to its ready line and
//! a login, runs from a squashfs root with a jffs2 overlay on the flash, keeps a file across a
//! guest reboot, and serves HTTP and SSH.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{login_to_default_image, Emulator};

#[test]
fn default_image_boots_with_rofs_rwfs_and_services() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nic = format!("user,hostfwd=tcp:127.0.0.1:{port}-:80");
    let mut emu = Emulator::start(&["--nic", &nic]);
    emu.expect("U-Boot SPL 2023.01");
    login_to_default_image(&mut emu);
    // The quote keeps the marker out of the echoed command line (see tests/linux.rs `shell`).
    emu.send("mount; echo @@MOUN''TS@@\r");
    let mounts = emu.expect("@@MOUNTS@@");
    for fs in ["squashfs", "jffs2", "overlay"] {
        assert!(mounts.contains(fs), "mount lists {fs}: {mounts}");
    }
    if Command::new("which")
        .arg("curl")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
    {
        let deadline = Instant::now() + Duration::from_secs(60);
        let page = loop {
            let out = Command::new("curl")
                .args([
                    "-s",
                    "-m",
                    "10",
                    &format!("http://127.0.0.1:{port}/cgi-bin/status"),
                ])
                .output()
                .unwrap();
            if out.status.success() || Instant::now() > deadline {
                break String::from_utf8_lossy(&out.stdout).into_owned();
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        assert!(
            page.contains("ast-emu-bmc"),
            "the BMC's page names its host: {page:?}"
        );
    }
    // A file written through the overlay lands on the jffs2 rwfs and survives a reboot.
    emu.send("echo kept-across-reboot > /root/note; sync; reboot\r");
    emu.expect("U-Boot SPL 2023.01");
    login_to_default_image(&mut emu);
    emu.send("cat /root/note\r");
    emu.expect("kept-across-reboot");
    emu.send("poweroff\r");
    assert_eq!(emu.wait().code(), Some(0));
}
