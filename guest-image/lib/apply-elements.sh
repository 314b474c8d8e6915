#!/bin/bash
# Applies diskimage-builder elements to an existing root directory, without disk-image-create:
# the same phase order and environment, for the chroot smoke test (test/image/) and for trying
# an element change in seconds. It runs environment.d (sourced), extra-data.d (on the host, with
# TMP_HOOKS_PATH), then pre-install.d, install.d and post-install.d inside the root with chroot.
# Scripts of all elements are merged per phase and run in name order, as dib-run-parts does.
# Other phases (root.d, block-device.d, finalise.d, cleanup.d) belong to a real image build.
#
# Usage: apply-elements.sh --root DIR [--only NAME[,NAME...]] ELEMENT...
#   ELEMENTS_PATH   colon-separated element directories (default: this repo's elements, then
#                   diskimage-builder's own)
#   --only          run only the scripts with these names (e.g. to refresh the agent in a cached root)
# Needs root (chroot, mounts). Exits non-zero when any script fails.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
fail() { echo "apply-elements: $*" >&2; exit 1; }

root=""
only=""
elements=()
while [ $# -gt 0 ]; do
    case "$1" in
        --root) root="$2"; shift 2 ;;
        --only) only=",$2,"; shift 2 ;;
        -*) fail "unknown option $1" ;;
        *) elements+=("$1"); shift ;;
    esac
done
if [ -z "$root" ] || [ ! -d "$root" ]; then fail "--root must name an existing directory"; fi
[ "${#elements[@]}" -gt 0 ] || fail "name at least one element"
[ "$(id -u)" -eq 0 ] || fail "needs root (chroot)"
root="$(cd "$root" && pwd)"

if [ -z "${ELEMENTS_PATH:-}" ]; then
    dib_elements="$(/usr/bin/python3 -c 'import diskimage_builder, os; print(os.path.join(os.path.dirname(diskimage_builder.__file__), "elements"))' 2>/dev/null || true)"
    ELEMENTS_PATH="$(dirname "$here")/elements${dib_elements:+:$dib_elements}"
fi

find_element() {
    local dir
    IFS=: read -r -a dirs <<< "$ELEMENTS_PATH"
    for dir in "${dirs[@]}"; do
        if [ -d "$dir/$1" ]; then echo "$dir/$1"; return 0; fi
    done
    fail "element $1 not found in ELEMENTS_PATH=$ELEMENTS_PATH"
}

# Elements and their element-deps, each once.
declare -A seen=()
ordered=()
add_element() {
    local name="$1" dir dep
    [ -z "${seen[$name]:-}" ] || return 0
    seen[$name]=1
    dir="$(find_element "$name")"
    ordered+=("$dir")
    if [ -f "$dir/element-deps" ]; then
        while read -r dep; do
            [ -z "$dep" ] || [ "${dep:0:1}" = "#" ] || add_element "$dep"
        done < "$dir/element-deps"
    fi
}
for e in "${elements[@]}"; do add_element "$e"; done

# TMP_HOOKS_PATH is what disk-image-create mounts at /tmp/in_target.d inside the root.
hooks="$root/tmp/in_target.d"
rm -rf "$hooks"
mkdir -p "$hooks/environment.d"
for phase in extra-data.d pre-install.d install.d post-install.d; do mkdir -p "$hooks/$phase"; done
for dir in "${ordered[@]}"; do
    for phase in environment.d extra-data.d pre-install.d install.d post-install.d; do
        [ -d "$dir/$phase" ] || continue
        for script in "$dir/$phase"/*; do
            [ -f "$script" ] || continue
            name="$(basename "$script")"
            [ ! -e "$hooks/$phase/$name" ] || fail "two elements have $phase/$name"
            cp "$script" "$hooks/$phase/$name"
        done
    done
done

selected() { [ -z "$only" ] || [[ "$only" == *",$1,"* ]]; }

# The defaults every element exports, then whatever the caller set (already in our environment).
for env_file in "$hooks/environment.d"/*; do
    [ -f "$env_file" ] || continue
    # shellcheck disable=SC1090
    . "$env_file"
done
export TMP_HOOKS_PATH="$hooks"

for script in "$hooks/extra-data.d"/*; do
    if [ ! -f "$script" ] || ! selected "$(basename "$script")"; then continue; fi
    echo "apply-elements: extra-data.d/$(basename "$script")"
    "$script"
done

# The chroot needs /proc, /sys and /dev for package scripts; no service may start inside it.
mounted=()
cleanup() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
    rm -f "$root/usr/sbin/policy-rc.d"
    if [ -e "$root/etc/resolv.conf.apply-elements" ]; then
        mv -f "$root/etc/resolv.conf.apply-elements" "$root/etc/resolv.conf"
    fi
    rm -rf "$hooks"
}
trap cleanup EXIT
for fs in proc sys dev dev/pts; do
    mkdir -p "$root/$fs"
    case "$fs" in
        proc) mount -t proc proc "$root/proc" ;;
        sys) mount -t sysfs sysfs "$root/sys" ;;
        *) mount --bind "/$fs" "$root/$fs" ;;
    esac
    mounted+=("$root/$fs")
done
if [ -e "$root/etc/resolv.conf" ] || [ -L "$root/etc/resolv.conf" ]; then
    mv "$root/etc/resolv.conf" "$root/etc/resolv.conf.apply-elements"
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"

# Pass the build's settings into the chroot: every variable the environment.d files exported,
# plus the DIB_/K2HDKC_ ones the caller set.
mapfile -t pass < <(env | grep -E '^(DIB_|K2HDKC_|TMP_HOOKS_PATH=)' | sed 's/^TMP_HOOKS_PATH=.*/TMP_HOOKS_PATH=\/tmp\/in_target.d/')
for phase in pre-install.d install.d post-install.d; do
    for script in "$hooks/$phase"/*; do
        if [ ! -f "$script" ] || ! selected "$(basename "$script")"; then continue; fi
        echo "apply-elements: $phase/$(basename "$script")"
        chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            HOME=/root LANG=C.UTF-8 "${pass[@]}" "/tmp/in_target.d/$phase/$(basename "$script")"
    done
done
