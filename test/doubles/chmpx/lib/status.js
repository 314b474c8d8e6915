'use strict';
// The chmpx status word, from k2hdkc-observed.md "Status word": bits and their printed names.
const RING = { SLAVE: 0x00, 'SERVICE OUT': 0x10, 'SERVICE IN': 0x20 };
const ACTION = { 'n/a': 0x000, ADD: 0x100, DELETE: 0x200 };
const OPERATE = { Nothing: 0x0000, Pending: 0x1000, Doing: 0x2000, Done: 0x3000 };

/** {ring, up, action, operate, suspend} → `0x21(SAFE -> [SERVICE IN][UP][n/a][Nothing][NoSuspend])` */
function statusWord(s) {
  const code = RING[s.ring] | (s.up ? 0x1 : 0) | ACTION[s.action] | OPERATE[s.operate] | (s.suspend ? 0x10000 : 0);
  const text = `[${s.ring}][${s.up ? 'UP' : 'DOWN'}][${s.action}][${s.operate}][${s.suspend ? 'Suspend' : 'NoSuspend'}]`;
  return `0x${code.toString(16)}(SAFE -> ${text})`;
}

/** `2026-11-27 10h 54m 23s 78ms 710us(30128136318432118)`; the number in brackets is opaque. */
function lastUpdate(ms) {
  const d = new Date(ms);
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}h ${p(d.getMinutes())}m ${p(d.getSeconds())}s ${d.getMilliseconds()}ms 0us(${BigInt(ms) * 1000n + 30000000000000000n})`;
}

const DOWN = { ring: 'SERVICE OUT', up: false, action: 'n/a', operate: 'Nothing', suspend: false };
module.exports = { statusWord, lastUpdate, DOWN };
