'use strict';
// Where a key lives in a ring, as chmpx delivers it with DELIVERMODE=hash (spec §4, §5.4;
// k2hdkc-observed.md "Data placement"): chmpx sorts its server list (by name, port, ctlport,
// CUK), the servers in service share the hash space, and a key goes to the server its hash
// selects plus REPLICA more (REPLICA = 1: each key on exactly 2 servers once there are 2 or more).
// A joining server ([SERVICE IN][ADD]) has only a pending hash: it is not an owner until its
// merge completes. The hash is FNV-1a (k2hash's default) over the key as stored, with its NUL.

/** 32-bit FNV-1a of `key` + NUL (k2hdkclinetool stores keys with their terminating NUL). */
function keyHash(key) {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(`${key}\0`, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

/** `nodes` in chmpx's order (chmconf.h chm_node_cfg_info_sort: name, port, ctlport, cuk). */
function ringOrder(nodes) {
  return [...nodes].sort((a, b) => cmp(a.name, b.name) || cmp(a.port, b.port) || cmp(a.ctlport, b.ctlport) || cmp(a.cuk, b.cuk));
}

/** True when a server with status `s` holds an enabled hash (serves reads and writes). */
function serves(s) {
  return s.ring === 'SERVICE IN' && s.up && s.action !== 'ADD';
}

/** The servers holding `key` in a ring of `serving` nodes: main owner first, then its replicas. */
function ownersOf(key, serving, replica) {
  const ring = ringOrder(serving);
  if (ring.length === 0) return [];
  const first = keyHash(key) % ring.length;
  const count = Math.min(ring.length, 1 + Math.max(0, replica));
  return Array.from({ length: count }, (_, i) => ring[(first + i) % ring.length]);
}

module.exports = { keyHash, ringOrder, serves, ownersOf };
