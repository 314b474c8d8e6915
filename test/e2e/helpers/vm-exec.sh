#!/bin/sh
# Runs a program as if on its own VM: called by the e2e hypervisor inside a private mount
# namespace (unshare --mount --propagation private). It binds the VM's own directory over
# /var/lib/antpickax (where the K2HDKC image keeps its files) and, like the cinder volume Trove
# attaches, mounts a filesystem of the volume's size on Trove's mount_point
# /var/lib/antpickax/k2hdkc (a tmpfs here; the INI's K2HFILE lives on it). Then it execs the
# program. None of this is visible outside the namespace; it ends with the VM's last process.
# The VM's network namespace is entered before (test/helpers/netns, by the hypervisor).
#
# With --block the volume is a real block device instead of the tmpfs, as nova attaches it: the
# VM gets a private /dev (the host's nodes copied, its loop devices left out) holding one node
# <device path> for <major:minor> (the loop device over the cinder volume's file), and a private
# /etc (an overlay whose upper layer is <scratch dir>/etc), so the agent's mkfs, mount and fstab
# work on the VM's own disk and /etc/fstab. The agent formats and mounts it (manage_volume); a
# later boot (reboot, resize flavor) mounts it from that fstab line, as the VM's init would.
# Usage: vm-exec.sh <vm antpickax dir> <volume size in GB, 0 = none>
#                   [--block <device path> <major:minor> <scratch dir>] <program> [args...]
set -eu
dir=$1
size=$2
shift 2
mount --bind "$dir" /var/lib/antpickax
mkdir -p /var/lib/antpickax/k2hdkc
if [ "${1:-}" = --block ]; then
  device=$2
  majmin=$3
  scratch=$4
  shift 4
  mkdir -p "$scratch/host-dev" "$scratch/etc" "$scratch/etc-work"
  mount -t overlay -o "lowerdir=/etc,upperdir=$scratch/etc,workdir=$scratch/etc-work" vm-etc /etc
  mount --rbind /dev "$scratch/host-dev"
  mount -t tmpfs -o mode=0755,size=1m vm-dev /dev
  find "$scratch/host-dev" -mindepth 1 -maxdepth 1 ! -type d ! -name 'loop[0-9]*' -exec cp -a -t /dev/ {} +
  for sub in $(find "$scratch/host-dev" -mindepth 1 -maxdepth 1 -type d); do
    mkdir "/dev/${sub##*/}"
    mount --rbind "$sub" "/dev/${sub##*/}"
  done
  umount -l "$scratch/host-dev"
  mkdir -p "${device%/*}"
  mknod -m 0660 "$device" b "${majmin%%:*}" "${majmin##*:}"
  # A boot after a power cycle: like the VM's init (systemd's fstab mounts), mount the volume's
  # fstab line the agent wrote at prepare. UUID= is resolved here against the one disk (no udev
  # links for it in this /dev).
  entry=$(awk '$2 == "/var/lib/antpickax/k2hdkc" { print $1, $3, $4; exit }' /etc/fstab)
  if [ -n "$entry" ]; then
    read -r spec fstype opts <<ENTRY
$entry
ENTRY
    if [ "$spec" = "UUID=$(blkid -s UUID -o value "$device" || true)" ] || [ "$spec" = "$device" ]; then
      mount -t "$fstype" -o "$opts" "$device" /var/lib/antpickax/k2hdkc
    fi
  fi
elif [ "$size" -gt 0 ]; then
  mount -t tmpfs -o "size=${size}g,mode=0755" e2e-volume /var/lib/antpickax/k2hdkc
fi
exec "$@"
