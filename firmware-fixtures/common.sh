# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables are for the scripts that source this file
# Shared by firmware-fixtures/build, check and board-image (sourced, not run): the flash layouts
# of the committed images, manifest look-ups, and taking the parts back out of the images.
# Bash; callers run with 'set -euo pipefail'.

# Flash layout (OpenBMC static layout, matches the fixed-partitions of aspeed-ast2600-evb.dts).
FLASH_SIZE=$((64 * 1024 * 1024))
UBOOT_OFF=0x0;       UBOOT_FIT_OFF=0x10000; UBOOT_PART_SIZE=0xE0000
ENV_OFF=0xE0000;     ENV_PART_SIZE=0x20000
FIT_OFF=0x100000;    FIT_PART_SIZE=0x900000
ROFS_OFF=0xA00000;   ROFS_PART_SIZE=0x2000000
RWFS_OFF=0x2A00000;  RWFS_PART_SIZE=0x1600000
ERASEBLOCK=0x10000   # mx25u51245g: spi-nor uses 64 KiB erase blocks (/proc/mtd erasesize 00010000)

# The AST2500 image (ast2500-evb.img.xz): 32 MiB, the partitions of Linux 6.1's
# openbmc-flash-layout.dtsi, which aspeed-ast2500-evb.dts and aspeed-bmc-opp-romulus.dts include
# (u-boot 0 +0x60000, u-boot-env 0x60000 +0x20000, kernel 0x80000 +0x440000, rofs 0x4C0000
# +0x1740000, rwfs 0x1C00000 +0x400000). evb-ast2500_defconfig's u-boot has no SPL: u-boot.bin
# runs from flash offset 0 (CONFIG_TEXT_BASE=0) and reads its env from the SPI flash at
# CONFIG_ENV_OFFSET=0x60000 (CONFIG_ENV_SIZE 0x10000). The FIT does not fit the kernel
# partition (the 4.46 MB zImage alone is larger than its 0x440000 bytes), so it lives in the rofs
# partition behind the squashfs, at 20 MiB (inside the rofs partition of the 64 and 128 MiB
# OpenBMC layouts too), and the env's bootcmd boots it there (bootm 21400000).
AST2500_FLASH_SIZE=$((32 * 1024 * 1024))
AST2500_UBOOT_OFF=0x0;      AST2500_UBOOT_PART_SIZE=0x60000
AST2500_ENV_OFF=0x60000;    AST2500_ENV_PART_SIZE=0x20000
AST2500_ROFS_OFF=0x4C0000;  AST2500_ROFS_PART_SIZE=0x1740000
AST2500_FIT_OFF=0x1400000;  AST2500_FIT_MAX=0x800000    # from 20 MiB up to the rwfs partition
AST2500_ROFS_MAX=$((AST2500_FIT_OFF - AST2500_ROFS_OFF))  # the squashfs ends before the FIT
AST2500_RWFS_OFF=0x1C00000; AST2500_RWFS_PART_SIZE=0x400000

# manifest_want MANIFEST NAME: "<sha256> <size>" of NAME from a manifest line
# 'sha256 <hex> <size> <name>', or nothing.
manifest_want() { awk -v n="$2" '$1 == "sha256" && $4 == n { print $2, $3; exit }' "$1"; }

# manifest_matches MANIFEST NAME FILE: true when FILE has NAME's sha256 and size.
manifest_matches() {
	local w
	w=$(manifest_want "$1" "$2")
	[ -n "$w" ] && [ -f "$3" ] && [ "$(sha256sum < "$3" | cut -c1-64) $(stat -c %s "$3")" = "$w" ]
}

# cut_out IMAGE OFFSET FILE SIZE: SIZE bytes of IMAGE from OFFSET into FILE.
cut_out() { dd if="$1" of="$3" bs=64K iflag=skip_bytes,count_bytes skip=$(($2)) count="$4" status=none; }

# image_parts IMAGE MANIFEST DIR: cut the parts of the committed layout out of the (decompressed)
# flash IMAGE into DIR, each with the size MANIFEST records for it:
#   u-boot-spl.bin u-boot.img u-boot-env.bin ast2600.itb rofs.squashfs rwfs.jffs2
# and the FIT's images (in .its order: 0 kernel, 1 fdt, 2 ramdisk):
#   zImage aspeed-ast2600-evb.dtb initramfs.cpio.xz
# Nothing is verified here: compare the files with manifest_matches.
_part_size() { manifest_want "$1" "$2" | cut -d' ' -f2; }
image_parts() {
	local img=$1 man=$2 d=$3 n
	for n in components/u-boot-spl.bin components/u-boot.img u-boot-env.bin ast2600.itb rofs.squashfs rwfs.jffs2; do
		[ -n "$(_part_size "$man" "$n")" ] || { echo "image_parts: $n is not in $man" >&2; return 1; }
	done
	mkdir -p "$d"
	cut_out "$img" $UBOOT_OFF "$d/u-boot-spl.bin" "$(_part_size "$man" components/u-boot-spl.bin)"
	cut_out "$img" $UBOOT_FIT_OFF "$d/u-boot.img" "$(_part_size "$man" components/u-boot.img)"
	cut_out "$img" $ENV_OFF "$d/u-boot-env.bin" "$(_part_size "$man" u-boot-env.bin)"
	cut_out "$img" $FIT_OFF "$d/ast2600.itb" "$(_part_size "$man" ast2600.itb)"
	cut_out "$img" $ROFS_OFF "$d/rofs.squashfs" "$(_part_size "$man" rofs.squashfs)"
	cut_out "$img" $RWFS_OFF "$d/rwfs.jffs2" "$(_part_size "$man" rwfs.jffs2)"
	dumpimage -T flat_dt -p 0 -o "$d/zImage" "$d/ast2600.itb" >/dev/null
	dumpimage -T flat_dt -p 1 -o "$d/aspeed-ast2600-evb.dtb" "$d/ast2600.itb" >/dev/null
	dumpimage -T flat_dt -p 2 -o "$d/initramfs.cpio.xz" "$d/ast2600.itb" >/dev/null
}

# image_parts_ast2500 IMAGE MANIFEST DIR: the same for the AST2500 image (layout above):
#   ast2500-u-boot.bin ast2500-u-boot-env.bin ast2500.itb ast2500-rofs.squashfs ast2500-rwfs.jffs2
# and the FIT's images: zImage (the AST2600 image's, components/zImage) aspeed-ast2500-evb.dtb
# ast2500-initramfs.cpio.xz
image_parts_ast2500() {
	local img=$1 man=$2 d=$3 n
	for n in components/ast2500-u-boot.bin ast2500-u-boot-env.bin ast2500.itb ast2500-rofs.squashfs ast2500-rwfs.jffs2; do
		[ -n "$(_part_size "$man" "$n")" ] || { echo "image_parts_ast2500: $n is not in $man" >&2; return 1; }
	done
	mkdir -p "$d"
	cut_out "$img" $AST2500_UBOOT_OFF "$d/ast2500-u-boot.bin" "$(_part_size "$man" components/ast2500-u-boot.bin)"
	cut_out "$img" $AST2500_ENV_OFF "$d/ast2500-u-boot-env.bin" "$(_part_size "$man" ast2500-u-boot-env.bin)"
	cut_out "$img" $AST2500_FIT_OFF "$d/ast2500.itb" "$(_part_size "$man" ast2500.itb)"
	cut_out "$img" $AST2500_ROFS_OFF "$d/ast2500-rofs.squashfs" "$(_part_size "$man" ast2500-rofs.squashfs)"
	cut_out "$img" $AST2500_RWFS_OFF "$d/ast2500-rwfs.jffs2" "$(_part_size "$man" ast2500-rwfs.jffs2)"
	dumpimage -T flat_dt -p 0 -o "$d/zImage" "$d/ast2500.itb" >/dev/null
	dumpimage -T flat_dt -p 1 -o "$d/aspeed-ast2500-evb.dtb" "$d/ast2500.itb" >/dev/null
	dumpimage -T flat_dt -p 2 -o "$d/ast2500-initramfs.cpio.xz" "$d/ast2500.itb" >/dev/null
}

# The manifest name of each file image_parts and image_parts_ast2500 write.
image_part_manifest_name() {
	case "$1" in
	u-boot-spl.bin|u-boot.img|zImage|aspeed-ast2600-evb.dtb|ast2500-u-boot.bin|aspeed-ast2500-evb.dtb) echo "components/$1" ;;
	*) echo "$1" ;;
	esac
}
IMAGE_PARTS="u-boot-spl.bin u-boot.img u-boot-env.bin ast2600.itb rofs.squashfs rwfs.jffs2 zImage aspeed-ast2600-evb.dtb initramfs.cpio.xz"
IMAGE_PARTS_AST2500="ast2500-u-boot.bin ast2500-u-boot-env.bin ast2500.itb ast2500-rofs.squashfs ast2500-rwfs.jffs2 zImage aspeed-ast2500-evb.dtb ast2500-initramfs.cpio.xz"

# install_missing PACKAGE...: apt-get install the Debian packages that are not installed (like
# the Makefile's deps target); nothing when all are there.
install_missing() {
	local p missing=""
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
	done
	[ -n "$missing" ] || return 0
	echo "installing$missing (apt-get)" >&2
	local sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	# shellcheck disable=SC2086
	$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
		-o DPkg::Lock::Timeout=300 $missing >/dev/null
}
