'use strict';
// A chmpx node's own status and its transitions, as observed with AUTOMERGE=on
// (k2hdkc-observed.md "Lifecycle observations", "Second run"): a node that joins a ring goes
// [ADD][Pending] → [ADD][Doing] → SERVICE IN in 1–4 s (longer with data: ~70k keys took 9–13 s);
// a node alone in its ring goes SERVICE IN by itself within ~0.5 s of its k2hdkc attaching;
// SERVICEOUT → [DELETE][Doing] → SERVICE OUT and SERVICEIN → [ADD][Doing] → SERVICE IN in ~1 s;
// with SUSPENDMERGE an operation waits at Pending, MERGE moves it to Doing then Done, COMPMERGE
// finishes it. Every delay is multiplied by CHMPX_DOUBLE_TIME_SCALE (default 1 = as observed).
const { statusWord } = require('./status');

const SCALE = Number(process.env.CHMPX_DOUBLE_TIME_SCALE || 1);
const NOT_ALLOWED = 'ERROR: Could not change status, because status is not allowed.\n';

/** Observed delays (ms, before scaling). A join's Doing phase grows with the ring's keys. */
const TIMING = {
  soloServiceIn: [300, 600],
  joinPending: [400, 900],
  joinDoing: [800, 3000],
  keysPerSecond: 7000,
  manualStep: [700, 1100],
};

const between = ([lo, hi]) => Math.round((lo + Math.random() * (hi - lo)) * SCALE);

class NodeState {
  /** `debug`: lib/debug.js's logger (the real lines at their level, the stand-in's own as trace). */
  constructor(mode, autoMerge, debug) {
    this.mode = mode;
    this.autoMerge = autoMerge;
    this.debug = debug;
    this.log = debug.trace;
    this.mergeSuspended = false;
    this.attached = 0;
    this.updatedAt = Date.now();
    this.s =
      mode === 'slave'
        ? { ring: 'SLAVE', up: true, action: 'n/a', operate: 'Nothing', suspend: false }
        : { ring: 'SERVICE OUT', up: true, action: 'n/a', operate: 'Nothing', suspend: true };
    this.timer = undefined;
    /** Set by the peering: whether this node joins an existing ring (true) or forms its own, and the keys to merge. */
    this.joinPlan = () => ({ join: false, keys: 0 });
    /** Set by chmpx: a joining server's data pull, run as its [ADD] merge ends. */
    this.mergeIn = async () => undefined;
  }

  set(patch) {
    Object.assign(this.s, patch);
    this.updatedAt = Date.now();
    this.log(`status -> [${this.s.ring}][${this.s.action}][${this.s.operate}][${this.s.suspend ? 'Suspend' : 'NoSuspend'}]`);
  }

  /** chmpx's own message when a peer's view changes this node's status (observed wording). */
  adopt(patch) {
    const before = statusWord(this.s);
    clearTimeout(this.timer);
    Object.assign(this.s, patch);
    this.updatedAt = Date.now();
    const after = statusWord(this.s);
    const long = (w) => w.replace(/^0x([0-9a-f]+)\(/, (_, hex) => `0x${hex.padStart(16, '0')}:`).replace(/\)$/, '');
    this.debug.wan('PxComReceiveStatusRes(7766)', `self status changed from ${long(before)} to ${long(after)}.`);
  }

  get operating() {
    return this.s.action !== 'n/a';
  }

  later(fn, ms) {
    clearTimeout(this.timer);
    this.timer = setTimeout(fn, ms);
  }

  /** Runs a Pending operation: Doing, then done (automerge) or Done (waits for COMPMERGE). */
  run(doingMs = between(TIMING.manualStep)) {
    this.set({ operate: 'Doing' });
    this.later(() => (this.mergeSuspended ? this.set({ operate: 'Done' }) : this.complete()), doingMs);
  }

  complete() {
    if (this.s.action === 'n/a') return;
    if (this.s.action !== 'ADD') {
      this.set({ ring: 'SERVICE OUT', action: 'n/a', operate: 'Nothing' });
      return;
    }
    // A join's data arrives before the node's hash is enabled, so a read never misses it.
    this.mergeIn()
      .catch((err) => this.log(`merge failed: ${err.message}`))
      .then(() => {
        if (this.s.action === 'ADD') this.set({ ring: 'SERVICE IN', action: 'n/a', operate: 'Nothing' });
      });
  }

  /** A join by automerge: Pending, then a Doing phase scaled by the data the ring holds. */
  joinRing(keys) {
    this.set({ ring: 'SERVICE IN', action: 'ADD', operate: 'Pending' });
    if (this.mergeSuspended) return;
    const doing = between(TIMING.joinDoing) + Math.round(((keys || 0) / TIMING.keysPerSecond) * 1000 * SCALE);
    this.later(() => this.run(doing), between(TIMING.joinPending));
  }

  attach() {
    this.attached += 1;
    if (this.mode !== 'server' || this.attached > 1) return;
    this.set({ suspend: false });
    if (!this.autoMerge || this.s.ring !== 'SERVICE OUT' || this.s.action !== 'n/a') return;
    const plan = this.joinPlan();
    if (plan.join) this.joinRing(plan.keys);
    else this.later(() => this.set({ ring: 'SERVICE IN' }), between(TIMING.soloServiceIn));
  }

  detach() {
    this.attached = Math.max(0, this.attached - 1);
    if (this.mode !== 'server' || this.attached > 0) return;
    clearTimeout(this.timer);
    this.set({ ring: 'SERVICE OUT', action: 'n/a', operate: 'Nothing', suspend: true });
  }

  serviceIn() {
    if (this.mode === 'slave') return 'ERROR: The command can not be executed on the slave node.\n';
    if (this.s.ring !== 'SERVICE OUT' || this.s.action !== 'n/a' || this.s.suspend) return NOT_ALLOWED;
    // With automerge the observed sequence skips Pending: [ADD][Doing] → SERVICE IN.
    if (this.mergeSuspended) this.set({ ring: 'SERVICE IN', action: 'ADD', operate: 'Pending' });
    else {
      this.set({ ring: 'SERVICE IN', action: 'ADD', operate: 'Pending' });
      this.run();
    }
    return 'SUCCEED\n';
  }

  /**
   * SERVICEOUT of this node. `alone`: no other server of its ring is in service, so chmpx cannot
   * tell anyone: it answers the observed error and the node stays at [DELETE][Pending].
   */
  serviceOut(alone) {
    if (this.s.ring !== 'SERVICE IN' || this.s.action !== 'n/a') return NOT_ALLOWED;
    if (alone) {
      this.set({ action: 'DELETE', operate: 'Pending' });
      return 'ERROR: Failed to send status notice to other servers.\n';
    }
    this.set({ action: 'DELETE', operate: 'Pending' });
    if (!this.mergeSuspended) this.run();
    return 'SUCCEED\n';
  }

  merge() {
    if (this.s.operate === 'Pending') this.run();
  }

  compMerge() {
    if (this.s.operate === 'Done') this.complete();
  }

  suspendMerge(value) {
    this.mergeSuspended = value;
  }
}

module.exports = { NodeState, NOT_ALLOWED, SCALE, between };
