'use strict';
// A chmpx node's own status and its transitions, as observed with AUTOMERGE=on
// (k2hdkc-observed.md "Lifecycle observations"): attach → [ADD][Pending] → [ADD][Doing] →
// SERVICE IN; SERVICEOUT → [DELETE][Doing] → SERVICE OUT; with SUSPENDMERGE the operation waits
// at Pending, MERGE moves it to Doing then Done, COMPMERGE finishes it. Each step takes STEP_MS.
const STEP_MS = Number(process.env.CHMPX_DOUBLE_STEP_MS || 100);
const NOT_ALLOWED = 'ERROR: Could not change status, because status is not allowed.\n';

class NodeState {
  constructor(mode, autoMerge, log) {
    this.mode = mode;
    this.autoMerge = autoMerge;
    this.log = log;
    this.mergeSuspended = false;
    this.attached = 0;
    this.updatedAt = Date.now();
    this.s =
      mode === 'slave'
        ? { ring: 'SLAVE', up: true, action: 'n/a', operate: 'Nothing', suspend: false }
        : { ring: 'SERVICE OUT', up: true, action: 'n/a', operate: 'Nothing', suspend: true };
    this.timer = undefined;
  }

  set(patch) {
    Object.assign(this.s, patch);
    this.updatedAt = Date.now();
    this.log(`status -> [${this.s.ring}][${this.s.action}][${this.s.operate}][${this.s.suspend ? 'Suspend' : 'NoSuspend'}]`);
  }

  later(fn) {
    clearTimeout(this.timer);
    this.timer = setTimeout(fn, STEP_MS);
  }

  /** Runs a Pending operation: Doing, then done (automerge) or Done (waits for COMPMERGE). */
  run() {
    this.set({ operate: 'Doing' });
    this.later(() => (this.mergeSuspended ? this.set({ operate: 'Done' }) : this.complete()));
  }

  begin(action) {
    this.set({ ring: action === 'ADD' ? 'SERVICE IN' : this.s.ring, action, operate: 'Pending' });
    if (!this.mergeSuspended) this.later(() => this.run());
  }

  complete() {
    if (this.s.action === 'n/a') return;
    this.set({ ring: this.s.action === 'ADD' ? 'SERVICE IN' : 'SERVICE OUT', action: 'n/a', operate: 'Nothing' });
  }

  attach() {
    this.attached += 1;
    if (this.mode !== 'server' || this.attached > 1) return;
    this.set({ suspend: false });
    if (this.autoMerge && this.s.ring === 'SERVICE OUT' && this.s.action === 'n/a') this.later(() => this.begin('ADD'));
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
    if (this.mergeSuspended) this.begin('ADD');
    else {
      this.set({ ring: 'SERVICE IN', action: 'ADD', operate: 'Pending' });
      this.run();
    }
    return 'SUCCEED\n';
  }

  serviceOut() {
    if (this.s.ring !== 'SERVICE IN' || this.s.action !== 'n/a') return NOT_ALLOWED;
    if (this.mergeSuspended) this.begin('DELETE');
    else {
      this.set({ action: 'DELETE', operate: 'Pending' });
      this.run();
    }
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

module.exports = { NodeState, STEP_MS };
