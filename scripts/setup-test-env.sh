#!/usr/bin/env bash
# Makes this machine able to run the whole suite; safe to run again and again.
#  - Debian packages the conformance tests drive: Trove's own guest client and conductor
#    (python3-trove, trove-conductor, python3-troveclient) and RabbitMQ; installed only if missing.
#  - the guest-image tests' tools (debootstrap, systemd-analyze, diskimage-builder, docker-compose v1, shellcheck).
#  - RabbitMQ answering on 127.0.0.1:5672; started with `rabbitmq-server -detached` if not.
set -euo pipefail

PACKAGES=(python3-trove trove-conductor python3-troveclient rabbitmq-server)
# The guest-image tests (test/image/): a Debian root, unit checks, diskimage-builder's elements,
# overlay mounts, the compose file check, shell linting.
PACKAGES+=(debootstrap systemd python3-diskimage-builder docker-compose shellcheck)
# The backup tests (test/swift/): a real Swift (proxy, account, container, object servers) with
# tempauth, whose tokens live in memcached; test/swift/fixture.ts starts private instances.
PACKAGES+=(swift swift-proxy swift-account swift-container swift-object memcached)
# The slave VM's user-data (guest-image/cloud-init/) is checked with cloud-init's own schema.
PACKAGES+=(cloud-init)
# The end-to-end control plane (test/e2e/): the `openstack` CLI with troveclient's plugin
# (trove-api, trove-taskmanager, trove-conductor come with python3-trove), and unshare/mount
# for the per-VM mount namespaces.
PACKAGES+=(python3-openstackclient util-linux mount)
# Per-node network namespaces (test/helpers/netns): ip, sysctl, nsenter/unshare.
PACKAGES+=(iproute2 procps)
# The Horizon drop-in (datastore/horizon/) is checked against Debian's trove-dashboard 19.
PACKAGES+=(python3-trove-dashboard)
# A real Keystone for the e2e control plane (test/keystone/fixture.ts): Debian's keystone served
# by uwsgi's python plugin on loopback.
PACKAGES+=(keystone uwsgi-core uwsgi-plugin-python3)
# The Dashboard tests (test/dashboard/): Horizon with trove-dashboard, driven by Debian's Chromium
# through playwright-core (npm; no browser download).
PACKAGES+=(openstack-dashboard chromium)
# Scheduled backups through Trove's own schedules (test/mistral/): Debian's Mistral (API, engine,
# executor; test/mistral/fixture.ts runs them as one mistral-server) on the machine's MariaDB.
PACKAGES+=(mistral-api mistral-engine mistral-executor mariadb-server)
AMQP_HOST=127.0.0.1
AMQP_PORT=5672
WAIT_SECONDS=90

log() { printf 'setup-test-env: %s\n' "$*" >&2; }
# Whatever step fails, say which one: set -e alone ends the script without a word.
trap 'log "failed (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

amqp_answers() {
  # bash's /dev/tcp: no extra tool needed; the subshell closes the socket again.
  (exec 3<>"/dev/tcp/${AMQP_HOST}/${AMQP_PORT}") 2>/dev/null
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  installed "$pkg" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  as_root apt-get -o DPkg::Lock::Timeout=900 update
  # noninteractive: trove-common's debconf questions (database setup) take their defaults.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -q "${missing[@]}"
fi

if ! amqp_answers; then
  log "starting RabbitMQ"
  as_root rabbitmq-server -detached
  deadline=$((SECONDS + WAIT_SECONDS))
  until amqp_answers; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "RabbitMQ did not answer on ${AMQP_HOST}:${AMQP_PORT} within ${WAIT_SECONDS}s"
      exit 1
    fi
    sleep 0.5
  done
fi
# chmpx's POSIX message queues are visible (and removable) only through the mqueue file system;
# the K2HDKC tests check that stops leave none (the stand-ins create real queues there). systemd
# hosts mount it already; containers often do not.
if [ ! -d /dev/mqueue ] || ! mountpoint -q /dev/mqueue; then
  log "mounting the mqueue file system on /dev/mqueue"
  as_root mkdir -p /dev/mqueue
  as_root mount -t mqueue none /dev/mqueue || log "could not mount /dev/mqueue; queue checks are skipped"
fi
# Queues of chmpx processes that earlier test runs killed (`<GROUP>.<16 hex digits>`, as chmpx
# names them) count against root's RLIMIT_MSGQUEUE (800 KiB for all queues together): a few
# dozen left behind and the next chmpx cannot open its own. Remove those no live process holds.
if mountpoint -q /dev/mqueue 2>/dev/null; then
  # A process may exit between the glob and readlink: a failed readlink is not an error
  # (under pipefail it would end the whole set-up, silently).
  held="$(for fd in /proc/[0-9]*/fd/*; do readlink "$fd" 2>/dev/null || true; done | sort -u)"
  stale=()
  for queue in /dev/mqueue/*; do
    name="${queue##*/}"
    [[ "$name" =~ ^[A-Za-z0-9_-]+\.[0-9a-f]{16}$ ]] || continue
    grep -qxF -e "/$name" -e "$queue" <<<"$held" && continue
    stale+=("$name")
  done
  if [ "${#stale[@]}" -gt 0 ]; then
    log "removing ${#stale[@]} message queue(s) of chmpx processes that are gone: ${stale[*]}"
    for name in "${stale[@]}"; do as_root rm -f "/dev/mqueue/$name"; done
  fi
fi
# The listener opens late in boot, but wait for the app itself to be fully up as well.
as_root rabbitmqctl await_startup --timeout "$WAIT_SECONDS" >/dev/null
# Mistral's test databases live in the machine's MariaDB (127.0.0.1:3306, root); start it if the
# install did not (no systemd in containers).
if ! (exec 3<>"/dev/tcp/127.0.0.1/3306") 2>/dev/null; then
  log "starting MariaDB"
  as_root service mariadb start >/dev/null 2>&1 \
    || as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  deadline=$((SECONDS + WAIT_SECONDS))
  until (exec 3<>"/dev/tcp/127.0.0.1/3306") 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "MariaDB did not answer on 127.0.0.1:3306 within ${WAIT_SECONDS}s"
      exit 1
    fi
    sleep 0.5
  done
fi
log "ready: $(/usr/bin/python3 -c 'import trove, oslo_messaging; print("python3-trove", trove.__file__)'), RabbitMQ on ${AMQP_HOST}:${AMQP_PORT}"
