#!/bin/sh
# Runs a program as if on its own VM: called by the e2e hypervisor inside a private mount
# namespace (unshare --mount --propagation private). It binds the VM's own directory over
# /var/lib/antpickax (where the K2HDKC image keeps its files) and, like the cinder volume Trove
# attaches, mounts a filesystem of the volume's size on Trove's mount_point
# /var/lib/antpickax/k2hdkc (a tmpfs here; the INI's K2HFILE lives on it). Then it execs the
# program. None of this is visible outside the namespace; it ends with the VM's last process.
# The VM's network namespace is entered before (test/helpers/netns, by the hypervisor).
# Usage: vm-exec.sh <vm antpickax dir> <volume size in GB, 0 = none> <program> [args...]
set -eu
dir=$1
size=$2
shift 2
mount --bind "$dir" /var/lib/antpickax
mkdir -p /var/lib/antpickax/k2hdkc
if [ "$size" -gt 0 ]; then
  mount -t tmpfs -o "size=${size}g,mode=0755" e2e-volume /var/lib/antpickax/k2hdkc
fi
exec "$@"
