#!/usr/bin/env python3
"""Second stage of the systemd eMMC image: boots the project's image in ast-emu with the
half-made root file system on the eMMC (`--emmc IMG --persist`) and runs
/ast-emu-stage2 as init there (debootstrap --second-stage: the armhf packages' maintainer
scripts run on the emulated ARM, as they must). Prints how long it took.

    configure.py IMG [CONSOLE_LOG]      (AST_EMU names the binary; default target/release)
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import ast_emu  # noqa: E402

image = sys.argv[1]
log = sys.argv[2] if len(sys.argv) > 2 else None
start = time.monotonic()
args = ["--emmc", image, "--persist", "--stopped", "--skip-busy-waits=console"]
with ast_emu.Emulator(args, console_log=log) as emu:
    emu.watch_console()
    emu.execute("cont")
    # u-boot's autoboot countdown runs in real time here: stop it, boot with the eMMC as root.
    emu.console_expect("Hit any key", timeout=300)
    emu.console_send("\r")
    emu.console_expect("=> ", timeout=60)
    emu.console_send(
        "setenv bootargs console=ttyS4,115200n8 root=/dev/mmcblk0 rootwait rw "
        "init=/ast-emu-stage2; run bootspi\r"
    )
    out = emu.console_expect(r"STAGE2-(DONE|FAILED)", timeout=7200)
    if out.endswith("FAILED"):
        sys.exit("configure.py: the second stage failed; the console is in " + str(log))
    code = emu.wait(timeout=600)
    if code != 0:
        sys.exit(f"configure.py: ast-emu exited with {code}")
print(f"configure.py: second stage done in {time.monotonic() - start:.0f} s")
