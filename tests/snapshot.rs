//! Snapshots (`snapshot-save`, `ast-emu --restore`): a machine saved at the login prompt comes
//! back as the same boot (its boot log, its virtual time going on, no firmware run again) and logs
//! in; a snapshot saved from a restored machine held from the start is the same file; a
//! snapshot is refused, with a clear message, for another flash image, another format, a
//! file that is no snapshot or is truncated; flash the guest changed before saving is changed
//! after restoring, while the image file stays as it was; an SD card's writes come back over
//! its image, which stays as it was.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use support::client::{guest, login, socket_path, Client, BOOT};
use support::{assert_refused, Emulator};

/// A scratch folder of this test's own.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ast-emu-snapshot-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// ast-emu with a control socket at `sock` and `args`; returns once it listens.
fn start(sock: &Path, args: &[&str]) -> (Emulator, Client) {
    let address = format!("unix:{}", sock.display());
    let mut all = vec!["--control", address.as_str()];
    all.extend_from_slice(args);
    let mut emu = Emulator::start(&all);
    emu.expect(&format!("control socket on {address}"));
    let c = Client::connect(sock);
    (emu, c)
}

/// Restores `snap` (saved at a shell prompt) with a control socket named `name`, watching the
/// console, and waits for the prompt.
fn restore_at_prompt(name: &str, snap: &Path) -> (Emulator, Client) {
    let (emu, mut c) = start(&socket_path(name), &["--restore", snap.to_str().unwrap()]);
    c.execute("console-watch", json!({"enable": true}));
    c.execute("console-send", json!({"data": "\r"}));
    c.console_expect("# ", BOOT);
    (emu, c)
}

fn quit(mut emu: Emulator, mut c: Client) {
    assert_eq!(c.execute("quit", json!({})), json!({}));
    assert_eq!(emu.wait().code(), Some(0), "{}", emu.transcript());
}

/// The project's image, decompressed into `dir`.
fn image_in(dir: &Path) -> PathBuf {
    let img = dir.join("flash.img");
    let xz =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../firmware-fixtures/ast2600-evb.img.xz");
    let out = Command::new("xz").arg("-dc").arg(&xz).output().unwrap();
    assert!(out.status.success());
    std::fs::write(&img, out.stdout).unwrap();
    img
}

#[test]
fn a_machine_saved_at_the_login_prompt_comes_back_as_the_same_boot() {
    let dir = scratch("login");
    let snap = dir.join("login.snap");
    let snap_s = snap.to_str().unwrap();

    // Boot the built-in image to the login prompt, hold it there, save.
    let (emu, mut c) = start(&socket_path("snap-boot"), &[]);
    c.execute("console-watch", json!({"enable": true}));
    c.console_expect("login:", BOOT);
    c.execute("stop", json!({}));
    let saved = c.execute("snapshot-save", json!({"path": snap_s}));
    assert!(saved["dram-bytes"].as_u64().unwrap() > 1 << 20, "{saved}");
    let saved_ns = saved["clock-ns"].as_u64().unwrap();
    // The original goes on: its boot log (timestamps included, which no other boot shares),
    // for comparison.
    c.execute("cont", json!({}));
    c.execute("console-send", json!({"data": "\r"}));
    login(&mut c);
    let boot_log = guest(&mut c, "LOG", "dmesg | head -n 100 | md5sum");
    assert!(boot_log.len() >= 32, "{boot_log}");
    quit(emu, c);

    // Restored: the same boot goes on from the login prompt.
    let (emu, mut c) = start(&socket_path("snap-restore"), &["--restore", snap_s]);
    c.execute("console-watch", json!({"enable": true}));
    let status = c.execute("query-status", json!({}));
    assert!(
        status["virtual_ns"].as_u64().unwrap() >= saved_ns,
        "virtual time goes on from the snapshot's: {status}"
    );
    c.execute("console-send", json!({"data": "\r"}));
    login(&mut c);
    assert_eq!(
        guest(&mut c, "LOG", "dmesg | head -n 100 | md5sum"),
        boot_log,
        "the restored guest is the same boot"
    );
    assert_eq!(guest(&mut c, "N", "nproc"), "2", "both cores came back");
    // The device tree's GPIO line names, kept in the snapshot, not read from the flash again.
    let line = c.execute("gpio-get", json!({"name": "presence-psu0"}));
    assert_eq!(line["pin"], "M3", "{line}");
    let transcript = emu.transcript();
    assert!(
        !transcript.contains("U-Boot"),
        "nothing booted again: {transcript}"
    );
    quit(emu, c);

    // Restored and held from the start: saving again gives the same file.
    assert_saved_again_the_same(&snap, &dir.join("again.snap"), &[]);

    // Refused with a clear message, before anything runs.
    let other = image_in(&dir);
    let mut bytes = std::fs::read(&other).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&other, &bytes).unwrap();
    assert_refused(
        &["--restore", snap_s, "--flash", other.to_str().unwrap()],
        "another flash image",
    );
    let mut newer = std::fs::read(&snap).unwrap();
    newer[8] = 2;
    let newer_path = dir.join("newer.snap");
    std::fs::write(&newer_path, &newer).unwrap();
    assert_refused(
        &["--restore", newer_path.to_str().unwrap()],
        "snapshot format 2",
    );
    newer.truncate(newer.len() / 2);
    newer[8] = 1;
    std::fs::write(&newer_path, &newer).unwrap();
    assert_refused(&["--restore", newer_path.to_str().unwrap()], "truncated");
    assert_refused(
        &["--restore", other.to_str().unwrap()],
        "not an ast-emu snapshot",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn flash_the_guest_changed_before_saving_is_changed_after_restoring() {
    let dir = scratch("flash");
    let img = image_in(&dir);
    let original = std::fs::read(&img).unwrap();
    let snap = dir.join("dirty.snap");
    let img_s = img.to_str().unwrap();

    let (emu, mut c) = start(&socket_path("snap-dirty"), &["--flash", img_s]);
    c.execute("console-watch", json!({"enable": true}));
    login(&mut c);
    // /root is JFFS2 on the flash. Dropping the caches after restoring makes the kernel read
    // the file back from the flash chip, where only the snapshot's page changes put it.
    assert_eq!(
        guest(
            &mut c,
            "W",
            "echo kept-in-flash > /root/mark; sync; echo 3 > /proc/sys/vm/drop_caches; cat /root/mark"
        ),
        "kept-in-flash"
    );
    c.execute("stop", json!({}));
    let saved = c.execute("snapshot-save", json!({"path": snap.to_str().unwrap()}));
    assert!(
        saved["flash-pages"].as_u64().unwrap() > 0,
        "the guest's flash writes are in the snapshot: {saved}"
    );
    quit(emu, c);
    assert!(
        std::fs::read(&img).unwrap() == original,
        "the image file is untouched (no --persist)"
    );

    // The snapshot names the image it was taken over; the guest's changes come back on it.
    let (emu, mut c) = restore_at_prompt("snap-dirty-back", &snap);
    assert_eq!(
        guest(
            &mut c,
            "R",
            "echo 3 > /proc/sys/vm/drop_caches; cat /root/mark"
        ),
        "kept-in-flash"
    );
    quit(emu, c);
    assert!(
        std::fs::read(&img).unwrap() == original,
        "restoring does not write the image either"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_sd_card_the_guest_wrote_comes_back_with_its_writes_and_its_image_untouched() {
    assert!(
        support::have("mkfs.ext4"),
        "this test needs e2fsprogs (mkfs.ext4): make deps installs it"
    );
    let dir = scratch("card");
    let img = support::ext4_image(&dir);
    let original = std::fs::read(&img).unwrap();
    let snap = dir.join("card.snap");

    let (emu, mut c) = start(&socket_path("snap-card"), &["--sd", img.to_str().unwrap()]);
    c.execute("console-watch", json!({"enable": true}));
    login(&mut c);
    assert_eq!(
        guest(
            &mut c,
            "M",
            "b=$(ls /sys/bus/platform/devices/1e740100.sdhci/mmc_host/mmc*/mmc*/block); \
             mount -t ext4 /dev/$b /mnt && echo on-the-card > /mnt/note.txt && sync && \
             cat /mnt/hello.txt"
        ),
        "hello from the host"
    );
    c.execute("stop", json!({}));
    c.execute("snapshot-save", json!({"path": snap.to_str().unwrap()}));
    quit(emu, c);
    assert!(
        std::fs::read(&img).unwrap() == original,
        "the card's image is untouched (no --persist)"
    );

    // Restored without --sd: the snapshot names the card's image; the guest's writes are
    // back over it, read from the card once the kernel's caches are dropped.
    let (emu, mut c) = restore_at_prompt("snap-card-back", &snap);
    assert_eq!(
        guest(
            &mut c,
            "R",
            "b=$(ls /sys/bus/platform/devices/1e740100.sdhci/mmc_host/mmc*/mmc*/block); \
             umount /mnt && echo 3 > /proc/sys/vm/drop_caches && \
             mount -t ext4 /dev/$b /mnt && cat /mnt/note.txt"
        ),
        "on-the-card"
    );
    quit(emu, c);
    assert!(
        std::fs::read(&img).unwrap() == original,
        "restoring does not write it either"
    );

    // Another image in the card's place is refused.
    let mut other = original.clone();
    other[1 << 20] ^= 1;
    let other_path = dir.join("other.img");
    std::fs::write(&other_path, &other).unwrap();
    assert_refused(
        &[
            "--restore",
            snap.to_str().unwrap(),
            "--sd",
            other_path.to_str().unwrap(),
        ],
        "another image",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// GETs `http://127.0.0.1:PORT/cgi-bin/status` (the built-in image's status page, which lists
/// its addresses), retried while the forward or the guest's server comes up.
fn status_page(port: u16) -> String {
    let out = support::retry_until_ok(std::time::Duration::from_secs(120), || {
        Command::new("curl")
            .args(["-s", "--max-time", "10"])
            .arg(format!("http://127.0.0.1:{port}/cgi-bin/status"))
            .output()
            .unwrap()
    });
    assert!(out.status.success(), "curl to port {port}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_network_comes_back_with_the_guests_address_and_the_new_forwards() {
    if !support::have("curl") {
        eprintln!("skipping: curl is missing (make deps installs it)");
        return;
    }
    let dir = scratch("network");
    let snap = dir.join("net.snap");
    let snap_s = snap.to_str().unwrap();
    // Booted with a forward to the guest's web server; its DHCP address shows on the page.
    let first = support::free_port();
    let nic = format!("user,hostfwd=tcp:127.0.0.1:{first}-:80");
    let (emu, mut c) = start(&socket_path("snap-net"), &["--nic", &nic]);
    c.execute("console-watch", json!({"enable": true}));
    c.console_expect("login:", BOOT);
    assert!(
        status_page(first).contains("10.0.2.15"),
        "the guest's address before"
    );
    c.execute("snapshot-save", json!({"path": snap_s}));
    quit(emu, c);
    // Restored with another forward: the new port reaches the same guest, which kept its
    // address (its lease is in its memory; slirp is new).
    let second = support::free_port();
    let nic = format!("user,hostfwd=tcp:127.0.0.1:{second}-:80");
    let (emu, c) = start(
        &socket_path("snap-net2"),
        &["--restore", snap_s, "--nic", &nic],
    );
    let page = status_page(second);
    assert!(
        page.contains("10.0.2.15"),
        "the guest's address after: {page}"
    );
    quit(emu, c);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Restores `snap` held from the start (`--stopped`, with `more` arguments), saves it again to
/// `again` and asserts that both files are the same: the header compared field by field first,
/// so a difference names the state that did not come back as it was saved.
fn assert_saved_again_the_same(snap: &Path, again: &Path, more: &[&str]) {
    let mut args = vec!["--restore", snap.to_str().unwrap(), "--stopped"];
    args.extend_from_slice(more);
    let (emu, mut c) = start(&socket_path("snap-again"), &args);
    c.execute("snapshot-save", json!({"path": again.to_str().unwrap()}));
    quit(emu, c);
    let (a, b) = (std::fs::read(snap).unwrap(), std::fs::read(again).unwrap());
    let mut differences = Vec::new();
    json_differences(&header_json(&a), &header_json(&b), "", &mut differences);
    assert!(
        differences.is_empty(),
        "the second snapshot's header differs from the first's: {differences:#?}"
    );
    assert_eq!(a.len(), b.len());
    if let Some(at) = a.iter().zip(&b).position(|(x, y)| x != y) {
        let from = at.saturating_sub(200);
        panic!(
            "the second snapshot differs from the first at byte {at}: {:?} vs {:?}",
            String::from_utf8_lossy(&a[from..(at + 200).min(a.len())]),
            String::from_utf8_lossy(&b[from..(at + 200).min(b.len())])
        );
    }
    let _ = std::fs::remove_file(again);
}

/// A snapshot's header, as the fixed part at the start of the file places it (JSON).
fn header_json(snapshot: &[u8]) -> serde_json::Value {
    let word = |at: usize| u64::from_le_bytes(snapshot[at..at + 8].try_into().unwrap()) as usize;
    let (at, len) = (word(16), word(24));
    serde_json::from_slice(&snapshot[at..at + len]).expect("a JSON header")
}

/// Where two JSON values differ: each path with both values (shortened), at most 20.
fn json_differences(
    a: &serde_json::Value,
    b: &serde_json::Value,
    path: &str,
    out: &mut Vec<String>,
) {
    use serde_json::Value;
    if out.len() >= 20 || a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for key in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                let none = Value::Null;
                let (l, r) = (x.get(key).unwrap_or(&none), y.get(key).unwrap_or(&none));
                json_differences(l, r, &format!("{path}/{key}"), out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (l, r)) in x.iter().zip(y).enumerate() {
                json_differences(l, r, &format!("{path}[{i}]"), out);
            }
        }
        _ => {
            let short = |v: &Value| v.to_string().chars().take(300).collect::<String>();
            out.push(format!("{path}: {} vs {}", short(a), short(b)));
        }
    }
}

/// CPU time (clock ticks, user and system) the emulator's thread for CPU1 has used.
fn cpu1_thread_ticks(pid: u32) -> u64 {
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != "ast-emu-cpu1" {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap();
        // After the command name in parentheses: state is field 3, utime 14, stime 15.
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        return fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    }
    panic!("no ast-emu-cpu1 thread in process {pid}");
}

/// A loop the guest runs on its second core; prints its count.
const ON_CPU1: &str =
    "taskset -c 1 sh -c 'i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; echo $i'";

#[test]
fn a_machine_with_a_thread_per_core_is_saved_and_restored_with_one() {
    let dir = scratch("multi");
    let snap = dir.join("multi.snap");
    let snap_s = snap.to_str().unwrap();

    let (emu, mut c) = start(&socket_path("snap-multi"), &["--threads", "multi"]);
    c.execute("console-watch", json!({"enable": true}));
    login(&mut c);
    assert_eq!(guest(&mut c, "N", "nproc"), "2");
    c.execute("snapshot-save", json!({"path": snap_s}));
    // The saved machine goes on, a file written after the save.
    assert_eq!(
        guest(&mut c, "W", "echo later > /tmp/mark; cat /tmp/mark"),
        "later"
    );
    // Loaded while both cores run on their threads: back to before the file.
    c.execute("snapshot-load", json!({"path": snap_s}));
    c.execute("console-send", json!({"data": "\r"}));
    c.console_expect("# ", BOOT);
    assert_eq!(
        guest(&mut c, "F", "cat /tmp/mark 2>&1 | head -c 14"),
        "cat: can't ope"
    );
    assert_eq!(guest(&mut c, "C", ON_CPU1), "30000");
    quit(emu, c);

    // Restored held from the start with a thread per core: CPU1 stays as saved too (its
    // thread does not run it until the host lets go), so saving again gives the same file.
    assert_saved_again_the_same(&snap, &dir.join("again.snap"), &["--threads", "multi"]);

    // Restored into a new emulator with a thread per core: CPU1's thread runs CPU1's work.
    let (emu, mut c) = start(
        &socket_path("snap-multi-restored"),
        &["--restore", snap_s, "--threads", "multi"],
    );
    c.execute("console-watch", json!({"enable": true}));
    c.execute("console-send", json!({"data": "\r"}));
    c.console_expect("# ", BOOT);
    assert_eq!(guest(&mut c, "N", "nproc"), "2");
    let before = cpu1_thread_ticks(emu.pid());
    assert_eq!(guest(&mut c, "C", ON_CPU1), "30000");
    let after = cpu1_thread_ticks(emu.pid());
    assert!(
        after > before,
        "CPU1's thread used no CPU time ({before} ticks) while the guest ran a loop on CPU1"
    );
    quit(emu, c);
    let _ = std::fs::remove_dir_all(&dir);
}
