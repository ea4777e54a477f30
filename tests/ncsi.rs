//! NC-SI: a MAC the board wires to NC-SI has no PHY; its NC-SI frames go to the network
//! backend, and libslirp answers them as the host NIC would (as it does for QEMU). u-boot's
//! and Linux's NC-SI probes complete with a backend, and fail cleanly without one.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use aspeed_soc::board::{self, TreeKind};
use support::{board_image, have, shared_image, Emulator};

fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ast-emu-ncsi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The reference SDK image with `use-ncsi` added to MAC1's node of u-boot's own device tree
/// (the tree appended to u-boot; Linux's, in the FIT, is left alone).
fn sdk_image_with_ncsi_uboot(xz: &Path) -> PathBuf {
    let dir = scratch_dir();
    let out = Command::new("xz").arg("-dc").arg(xz).output().unwrap();
    assert!(out.status.success());
    let mut image = out.stdout;
    let tree = board::device_trees(&image)
        .into_iter()
        .find_map(|t| match t.kind {
            TreeKind::Plain { offset } => Some(offset),
            _ => None,
        })
        .expect("u-boot's device tree in the SDK image");
    let size = u32::from_be_bytes(image[tree + 4..tree + 8].try_into().unwrap()) as usize;
    let dtb = dir.join("u-boot.dtb");
    std::fs::write(&dtb, &image[tree..tree + size]).unwrap();
    let put = Command::new("fdtput")
        .args(["-t", "s"])
        .arg(&dtb)
        .args(["/ahb/ftgmac@1e660000", "use-ncsi", ""])
        .status()
        .unwrap();
    assert!(put.success(), "fdtput");
    let patched = std::fs::read(&dtb).unwrap();
    assert!(patched.len() >= size);
    let gap = &image[tree + size..tree + patched.len() + 64];
    assert!(
        gap.iter().all(|&b| b == 0xff),
        "room after u-boot's device tree"
    );
    image[tree..tree + patched.len()].copy_from_slice(&patched);
    let path = dir.join("sdk-ncsi.img");
    std::fs::write(&path, image).unwrap();
    path
}

#[test]
fn sdk_u_boot_probes_ncsi_and_boots_on() {
    let Some(xz) = shared_image("ast2600-sdk.img.xz") else {
        return;
    };
    if !have("fdtput") {
        eprintln!("SKIPPED: fdtput (device-tree-compiler) is not installed");
        return;
    }
    let image = sdk_image_with_ncsi_uboot(&xz);
    for nic in [&["--nic", "user"][..], &[]] {
        let mut args = vec!["--flash", image.to_str().unwrap()];
        args.extend(nic);
        let mut emu = Emulator::start(&args);
        emu.expect("ftgmac100_probe - NCSI detected");
        emu.expect("Starting kernel");
        emu.expect("login:");
        assert!(emu.quit().success());
    }
}

/// Tacoma's MAC3 (Linux mac2, eth0) is NC-SI: through libslirp's NC-SI responder Linux
/// configures the channel, the link comes up, and DHCP gives the address.
#[test]
fn tacoma_ncsi_mac_gets_an_address_through_user_networking() {
    let b = board::by_name("tacoma-bmc").unwrap();
    let (image, _) = board_image(b);
    let mut emu = Emulator::start(&["--flash", image.to_str().unwrap(), "--nic", "user"]);
    support::login_to_default_image(&mut emu);
    emu.send(
        "dmesg | grep -i ncsi; i=0; while ! ip -4 addr show eth0 | grep -q 10.0.2.15 && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; ip -4 addr show eth0; echo NET-$((6*7))-DONE\r",
    );
    let out = emu.expect("NET-42-DONE\r\n");
    assert!(out.contains("Using NCSI interface"), "{out}");
    assert!(
        out.contains("inet 10.0.2.15/"),
        "eth0 has its DHCP address: {out}"
    );
    assert!(emu.quit().success());
}

/// Without a network backend, the NC-SI probe finds no package and the boot goes on.
#[test]
fn tacoma_boots_without_a_network_backend() {
    let b = board::by_name("tacoma-bmc").unwrap();
    let (image, _) = board_image(b);
    let mut emu = Emulator::start(&["--flash", image.to_str().unwrap()]);
    support::login_to_default_image(&mut emu);
    emu.send("dmesg | grep -i ncsi; echo NET-$((6*7))-DONE\r");
    let out = emu.expect("NET-42-DONE\r\n");
    assert!(out.contains("Using NCSI interface"), "{out}");
    assert!(emu.quit().success());
}
