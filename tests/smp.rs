//! Both cores on the project's image (the default: the board's two): CPU1 parks in u-boot's
//! SMP mailbox, Linux releases it, `nproc` says 2, and a CPU-bound process pinned to each core
//! finishes, boot after boot, with the cores taking turns on one host thread and with each on
//! a thread of its own (`--threads multi`). `--smp 1` runs CPU0 alone, as before two cores were
//! the default.

mod support;

use support::{login_to_default_image, Emulator};

/// Boots the built-in image with `args` (two cores: the default) and checks Linux has both,
/// `rounds` times.
fn boots_with_two_cores(args: &[&str], rounds: usize) {
    for round in 0..rounds {
        // The SoC's log says when CPU1 parked in the mailbox and when it was let go.
        let mut with_log = args.to_vec();
        with_log.extend(["--log", "error,aspeed_soc=info"]);
        let mut emu = Emulator::start(&with_log);
        emu.expect("smp: Bringing up secondary CPUs");
        let seen = emu.expect("SMP: Total of");
        if !seen.contains("Brought up 1 node, 2 CPUs") || seen.contains("failed to come online") {
            let soc: Vec<String> = emu
                .transcript()
                .lines()
                .filter(|l| l.contains("soc:") || l.contains("CPU1") || l.contains("smp:"))
                .map(str::to_string)
                .collect();
            panic!("boot {round}: {seen}\nwhat the SoC and Linux said of CPU1: {soc:#?}");
        }
        login_to_default_image(&mut emu);
        // The quotes keep the markers out of the echoed command line.
        emu.send("echo N''=$(nproc) P''=$(grep -c ^processor /proc/cpuinfo)\r");
        emu.expect("N=2 P=2");
        emu.expect("# ");
        emu.send(
            "for c in 0 1; do taskset -c $c sh -c 'i=0; while [ $i -lt 20000 ]; do \
             i=$((i+1)); done; echo PIN''NED-$(cat /proc/self/stat | cut -d\" \" -f39)' & \
             done; wait; echo BO''TH\r",
        );
        let out = emu.expect("BOTH");
        assert!(
            out.contains("PINNED-0") && out.contains("PINNED-1"),
            "boot {round}: each pinned process ran on its core: {out}"
        );
        emu.expect("# ");
        emu.send("poweroff -f\r");
        assert_eq!(emu.wait().code(), Some(0), "boot {round}");
    }
}

#[test]
fn linux_brings_up_both_cores_five_boots_in_a_row() {
    boots_with_two_cores(&[], 5);
}

/// The same with each core on a host thread of its own: CPU1 is released from the mailbox
/// on its thread, both pinned processes run at once.
#[test]
fn linux_brings_up_both_cores_on_their_own_threads_five_boots_in_a_row() {
    boots_with_two_cores(&["--threads", "multi"], 5);
}

#[test]
fn smp_1_boots_cpu0_alone() {
    let mut emu = Emulator::start(&["--smp", "1"]);
    let seen = emu.expect("SMP: Total of");
    assert!(
        seen.contains("CPU1: failed to come online") && seen.contains("Brought up 1 node, 1 CPU"),
        "{seen}"
    );
    login_to_default_image(&mut emu);
    emu.send("echo N''=$(nproc)\r");
    emu.expect("N=1");
    emu.expect("# ");
    emu.send("poweroff -f\r");
    assert_eq!(emu.wait().code(), Some(0));
}
