# Defaults for the k2hdkc-trove-guest element (see its README.rst).
# The account Trove's cloud-init userdata gives the injected files to: the controller's
# [DEFAULT] injected_config_owner (Trove's default: ubuntu) and injected_config_group (root).
export K2HDKC_GUEST_USER=${K2HDKC_GUEST_USER:-ubuntu}
export K2HDKC_GUEST_GROUP=${K2HDKC_GUEST_GROUP:-root}
export K2HDKC_GUEST_USER_SUDO=${K2HDKC_GUEST_USER_SUDO:-1}
export K2HDKC_GUEST_PACKAGES=${K2HDKC_GUEST_PACKAGES:-cloud-init cloud-guest-utils sudo procps logrotate ca-certificates e2fsprogs xfsprogs chrony iproute2 openssh-server}
# What Trove's own guest image uses (spec/trove-datastore.md §4.3), for the cloud-init-datasources element.
export DIB_CLOUD_INIT_DATASOURCES=${DIB_CLOUD_INIT_DATASOURCES:-"ConfigDrive, OpenStack"}
# Host paths, read by extra-data.d: the `npm pack` output, the lockfile it was packed with
# (npm pack never includes package-lock.json) and the directory holding the agent's units.
export K2HDKC_AGENT_TARBALL=${K2HDKC_AGENT_TARBALL:-}
export K2HDKC_AGENT_LOCKFILE=${K2HDKC_AGENT_LOCKFILE:-}
export K2HDKC_UNIT_DIR=${K2HDKC_UNIT_DIR:-}
