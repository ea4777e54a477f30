#!/usr/bin/env python3
"""Boots the systemd eMMC image on ast-emu or on qemu-system-arm 7.2 (-M ast2600-evb, the image
as -drive if=sd,index=2: the eMMC slot) and reports the login prompt's wall time after the
u-boot boot command, systemd-analyze's "Startup finished", and 300 runs of /bin/true.

    compare-boot.py emu|qemu IMG [ARG...]   (the flash: the project's image decompressed to
                                             /tmp/evb.img; pexpect; snapshot=on / no
                                             --persist; ARGs go to ast-emu, e.g.
                                             --threads multi)
"""
import pexpect, sys, time, re
which = sys.argv[1]; img = sys.argv[2]; extra = sys.argv[3:]
if which == 'qemu':
    cmd = 'qemu-system-arm'; args = ['-M','ast2600-evb','-nographic','-drive','file=/tmp/evb.img,if=mtd,format=raw,snapshot=on','-drive',f'file={img},if=sd,index=2,format=raw,snapshot=on','-nic','user']
else:
    cmd = '/work/main/target/release/ast-emu'; args = ['--emmc', img, '--nic', 'user'] + extra
t0 = time.time()
p = pexpect.spawn(cmd, args, timeout=900, encoding='utf-8', codec_errors='replace')
p.logfile_read = open(f'/tmp/sysboot-{which}.log','w')
p.expect('Hit any key'); p.send('\r'); p.expect('=> ')
p.sendline('setenv bootargs console=ttyS4,115200n8 root=/dev/mmcblk0 rootwait rw; boot')
t1 = time.time()
i = p.expect(['login:', 'rescue shell', 'Kernel panic']); t2 = time.time()
print(which, 'result', i, flush=True)
print(which, f'login prompt {t2-t1:.1f} s after boot command (wall), {t2-t0:.1f} s total')
p.sendline('root'); p.expect('assword'); p.sendline('ast-emu'); p.expect('# ')
p.sendline('systemctl is-system-running --wait'); p.expect(['running', 'degraded']); print(which, 'state', p.after, flush=True)
p.sendline('systemd-analyze | head -1'); p.expect(r'Startup finished in ([^\r\n]*)\r?\n'); print(which, 'Startup finished in', p.match.group(1))
p.sendline('t=$(date +%s%N); for i in $(seq 300); do /bin/true; done; echo TRUE300=$(( ($(date +%s%N)-t)/1000000 ))ms'); p.expect(r'TRUE300=(\d+)ms'); print(which, '300 /bin/true', p.match.group(1), 'ms (guest clock)')
p.close(force=True)
