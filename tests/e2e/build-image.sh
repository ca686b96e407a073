#!/usr/bin/env bash
# Builds the guest for the kernel-initiator VM test into a cache directory, reused across runs:
#
#   tests/e2e/build-image.sh CACHE_DIR
#
# CACHE_DIR/vmlinux      Debian's kernel (the linux-image-* package that linux-image-amd64
#                        depends on, fetched with apt-get download and unpacked with dpkg-deb -x:
#                        nothing is installed on the host), as the PVH ELF inside its bzImage.
#                        qemu boots it directly, which saves the ~8 s of XZ decompression that
#                        booting the bzImage costs under TCG.
# CACHE_DIR/base.cpio    uncompressed initramfs: busybox, kmod, open-iscsi, e2fsprogs, sg3-utils,
#                        lsblk with their libraries, and the kernel modules iscsi_tcp, sd_mod,
#                        ext4, crc32c and virtio-net need (modprobe --show-depends closure).
# CACHE_DIR/fio.cpio     fio and its (many) libraries, a separate layer.
# CACHE_DIR/manifest.txt every file in the image; CACHE_DIR/kernel-version.
#
# The guest's /init and its configuration are not here: the host script puts them in a small
# cpio of their own per run. Nothing is rebuilt when the stamp (this script, the kernel package
# and the versions of the host packages copied in) is unchanged; concurrent callers serialise
# on CACHE_DIR/lock.
set -euo pipefail
[ $# -eq 1 ] || {
  echo "usage: $0 CACHE_DIR" >&2
  exit 2
}
mkdir -p "$1"
CACHE=$(cd "$1" && pwd -P)
exec 9>"$CACHE/lock"
flock -w 600 9 || {
  echo "build-image: $CACHE/lock is held for over 600 s" >&2
  exit 1
}

# apt-cache takes seconds on a busy machine: a kernel already unpacked here is reused unless
# SWIFTNESS_E2E_REFRESH_KERNEL=1 asks which one linux-image-amd64 depends on today.
kpkg=""
if [ "${SWIFTNESS_E2E_REFRESH_KERNEL:-0}" != 1 ]; then
  for d in "$CACHE"/kernel/linux-image-*/.unpacked; do
    [ -f "$d" ] && kpkg=$(basename "$(dirname "$d")")
  done
fi
if [ -z "$kpkg" ]; then
  kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
    awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
fi
[ -n "$kpkg" ] || {
  echo "build-image: cannot tell which linux-image package linux-image-amd64 depends on" >&2
  exit 1
}
HOST_PKGS=(busybox-static kmod open-iscsi e2fsprogs sg3-utils util-linux fio libc6)
stamp="$(sha256sum "$0" | cut -d' ' -f1) $kpkg $(dpkg-query -W -f '${Package}=${Version} ' "${HOST_PKGS[@]}")"
if [ -f "$CACHE/stamp" ] && [ "$(cat "$CACHE/stamp")" = "$stamp" ] &&
  [ -f "$CACHE/vmlinux" ] && [ -f "$CACHE/base.cpio" ] && [ -f "$CACHE/fio.cpio" ]; then
  exit 0
fi
rm -f "$CACHE/stamp"

# ---- the kernel: download once per package version, unpack, pull the ELF out of the bzImage ----
kdir="$CACHE/kernel/$kpkg"
if [ ! -f "$kdir/.unpacked" ]; then
  rm -rf "$CACHE/kernel" "$CACHE/download"
  mkdir -p "$kdir" "$CACHE/download"
  (cd "$CACHE/download" && apt-get download "$kpkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
  deb=$(ls "$CACHE"/download/"${kpkg}"_*.deb 2>/dev/null | head -1)
  [ -n "$deb" ] || {
    echo "build-image: apt-get download $kpkg failed" >&2
    exit 1
  }
  dpkg-deb -x "$deb" "$kdir"
  rm -rf "$CACHE/download"
  touch "$kdir/.unpacked"
fi
kver=$(ls "$kdir/lib/modules" | head -1)
moddir="$kdir/lib/modules/$kver"
[ -f "$moddir/modules.dep" ] || depmod -b "$kdir" "$kver"

# The bzImage carries the kernel as one XZ stream; its payload is the vmlinux ELF (CONFIG_PVH=y).
bz="$kdir/boot/vmlinuz-$kver"
off=$(grep -abo -m1 $'\xfd7zXZ\x00' "$bz" | head -1 | cut -d: -f1)
[ -n "$off" ] || {
  echo "build-image: no XZ stream in $bz" >&2
  exit 1
}
tail -c +$((off + 1)) "$bz" | xz -dc --single-stream >"$CACHE/vmlinux.tmp" 2>/dev/null || true
[ "$(head -c 4 "$CACHE/vmlinux.tmp" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] || {
  echo "build-image: the payload of $bz is not an ELF" >&2
  exit 1
}
mv "$CACHE/vmlinux.tmp" "$CACHE/vmlinux"
echo "$kver" >"$CACHE/kernel-version"

# ---- the root file system ----
root="$CACHE/root"
fioroot="$CACHE/fioroot"
rm -rf "$root" "$fioroot"
mkdir -p "$root"/{usr/bin,usr/sbin,usr/lib,proc,sys,dev,tmp,mnt,run,var,etc/iscsi,root}
ln -s usr/bin "$root/bin"
ln -s usr/sbin "$root/sbin"
ln -s usr/lib "$root/lib"
ln -s usr/lib "$root/lib64"

# Copies a host file into a tree at the same path (merged-/usr), following symlinks.
copy_in() { # TREE FILE
  local tree=$1 f=$2 dest
  dest=${f#/}
  dest=${dest#usr/}
  dest="$tree/usr/$dest"
  [ -e "$dest" ] && return 0
  mkdir -p "$(dirname "$dest")"
  cp -L "$f" "$dest"
}
# A binary and every library it loads (ldd closure); libraries already in BASE are skipped.
copy_bin() { # TREE BASE BINARY
  local tree=$1 base=$2 bin=$3 lib rel
  copy_in "$tree" "$bin"
  for lib in $(ldd "$bin" 2>/dev/null | awk '/=> \// {print $3} /^\s*\/.*ld-linux/ {print $1}'); do
    rel=${lib#/}
    rel=${rel#usr/}
    [ -n "$base" ] && [ -e "$base/usr/$rel" ] && continue
    copy_in "$tree" "$lib"
  done
}

for b in /usr/sbin/iscsid /usr/sbin/iscsiadm /usr/sbin/iscsi-iname /usr/sbin/mke2fs \
  /usr/sbin/e2fsck /usr/sbin/dumpe2fs /usr/bin/kmod /usr/bin/lsblk \
  /usr/bin/sg_inq /usr/bin/sg_vpd /usr/bin/sg_readcap /usr/bin/sg_luns /usr/bin/sg_turs \
  /usr/bin/sg_sync; do
  copy_bin "$root" "" "$b"
done
ln -s mke2fs "$root/usr/sbin/mkfs.ext4"
ln -s e2fsck "$root/usr/sbin/fsck.ext4"
for k in modprobe insmod lsmod depmod modinfo rmmod; do
  ln -s ../bin/kmod "$root/usr/sbin/$k"
done
# busybox for everything else; the real tools above keep their names.
cp /bin/busybox "$root/usr/bin/busybox"
for applet in $("$root/usr/bin/busybox" --list); do
  [ -e "$root/usr/bin/$applet" ] || [ -e "$root/usr/sbin/$applet" ] ||
    ln -s busybox "$root/usr/bin/$applet"
done
for l in /usr/lib/x86_64-linux-gnu/libgcc_s.so.1 /lib64/ld-linux-x86-64.so.2; do
  copy_in "$root" "$(readlink -f "$l")"
done
mkdir -p "$root/usr/lib64"
[ -e "$root/usr/lib64/ld-linux-x86-64.so.2" ] ||
  ln -s ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$root/usr/lib64/ld-linux-x86-64.so.2"
rm -f "$root/lib64"  # lib64 -> usr/lib64, which holds the loader
ln -s usr/lib64 "$root/lib64"

# Kernel modules: the closure of what the test loads, then depmod for the guest's modprobe.
mods=(iscsi_tcp sd_mod sg ext4 crc32c_generic crc32c-intel virtio_net virtio_pci virtio-rng)
gmod="$root/usr/lib/modules/$kver"
mkdir -p "$gmod"
for m in "${mods[@]}"; do
  modprobe -d "$kdir" -S "$kver" --show-depends "$m" | awk '/^insmod / {print $2}'
done | sort -u | while read -r ko; do
  rel=${ko#"$moddir"/}
  mkdir -p "$gmod/$(dirname "$rel")"
  cp "$ko" "$gmod/$rel"
done
cp "$moddir"/modules.{builtin,builtin.modinfo,order} "$gmod/"
depmod -b "$root/usr" "$kver"
# /lib is a symlink to usr/lib, so /lib/modules/<kver> is where modprobe looks.

# /etc
sed -e 's|^iscsid.startup = .*|iscsid.startup = /usr/sbin/iscsid|' \
  -e 's|^node.session.timeo.replacement_timeout = .*|node.session.timeo.replacement_timeout = 20|' \
  -e 's|^node.startup = .*|node.startup = manual|' \
  /etc/iscsi/iscsid.conf >"$root/etc/iscsi/iscsid.conf"
grep -q '^iscsid.startup = /usr/sbin/iscsid' "$root/etc/iscsi/iscsid.conf" ||
  echo 'iscsid.startup = /usr/sbin/iscsid' >>"$root/etc/iscsi/iscsid.conf"
mkdir -p "$root"/etc/iscsi/{nodes,send_targets,ifaces,isns,static,fw}
cp /etc/mke2fs.conf "$root/etc/mke2fs.conf"
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
echo '127.0.0.1 localhost' >"$root/etc/hosts"
ln -s /proc/mounts "$root/etc/mtab"

# fio in a layer of its own: Debian's fio links some 50 libraries (ceph, gluster, rdma, ...).
copy_bin "$fioroot" "$root" "$(readlink -f /usr/bin/fio)"

(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) >"$CACHE/base.cpio.tmp"
(cd "$fioroot" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet) >"$CACHE/fio.cpio.tmp"
mv "$CACHE/base.cpio.tmp" "$CACHE/base.cpio"
mv "$CACHE/fio.cpio.tmp" "$CACHE/fio.cpio"
{
  echo "# kernel $kpkg ($kver)"
  (cd "$root" && find . ! -type d | LC_ALL=C sort)
  echo "# fio layer"
  (cd "$fioroot" && find . ! -type d | LC_ALL=C sort)
} >"$CACHE/manifest.txt"
rm -rf "$root" "$fioroot"
echo "$stamp" >"$CACHE/stamp"
echo "build-image: guest for $kver in $CACHE ($(du -h "$CACHE/base.cpio" | cut -f1) base," \
  "$(du -h "$CACHE/fio.cpio" | cut -f1) fio)"
