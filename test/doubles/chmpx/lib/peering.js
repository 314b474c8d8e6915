'use strict';
// How server chmpx stand-ins find each other and form rings, modelled on what real chmpx did
// (k2hdkc-observed.md "Second run": "Starting a ring", "Growing a ring"):
// - At start a server asks every other listed server for its status. A peer whose own INI does
//   not list it refuses (logged `RawConnectServer(...) : Connected to <x>:<port>, but could not
//   allow from this server.`). If an accepting peer belongs to a ring, the node joins that ring;
//   otherwise it forms a ring of its own (and goes SERVICE IN alone once its k2hdkc attaches).
//   Servers started within ~0.3 s of each other both form rings of their own.
// - Separately formed rings that later meet (an INI reload lists the other side) conflict: 5–20 s
//   later the node that found the other ring (not the one it once refused) adopts that ring's view of itself, i.e. it is
//   demoted to [SERVICE OUT][UP] (0x11), logging `PxComReceiveStatusRes(...) : self status
//   changed from ... to ...`, and stays there until SERVICEIN is sent to its own control port.
// - A ring "is operating" while any of its members is in [ADD] or [DELETE]; SERVICEOUT is then
//   refused. A ring's view of a server outside it (down, refused, or another ring's) is
//   [SERVICE OUT][DOWN] (0x10).
const fs = require('node:fs');
const { between } = require('./ring');
const { DOWN } = require('./status');

const TICK_MS = 500;
/** Before minting a ring of its own, a starting server asks its peers (the startup window). */
const FORM_MS = 300;
const CONFLICT_MS = [5000, 20000];

const keyOf = (n) => `${n.name}:${n.port}:${n.ctlport}`;
const sameNode = (a, b) => a.name === b.name && a.port === b.port && a.ctlport === b.ctlport && (a.seed || '') === (b.seed || '');

class Peering {
  /**
   * @param {object} o
   * @param {import('./ring').NodeState} o.state this node's status machine
   * @param {() => object} o.self this node's [SVRNODE] entry {name, port, ctlport, seed}
   * @param {() => object} o.conf the INI as loaded now ({servers, k2hdkc})
   * @param {object} o.debug lib/debug.js's logger (real lines at their level, the stand-in's own as trace)
   * @param {object} o.wire request(host, port, message)
   */
  constructor({ state, self, conf, debug, wire }) {
    Object.assign(this, { state, selfNode: self, confNow: conf, debug, log: debug.trace, wire });
    this.ringId = undefined;
    /** key → {s, ringId, keys} of the peers last seen in this node's ring. */
    this.members = new Map();
    this.refusedBy = new Set();
    /** Peers that ever refused this node: it went on alone, so it is the other side that finds the conflict. */
    this.refusedOnce = new Set();
    this.conflict = undefined;
    this.timer = undefined;
    state.joinPlan = () => this.joinPlan();
  }

  /** Asks the other servers, then joins a ring found or forms one; then keeps looking every TICK_MS. */
  async start() {
    await new Promise((r) => setTimeout(r, FORM_MS));
    const seen = await this.askAll();
    const ring = seen.find((p) => p.ringId && p.s.ring === 'SERVICE IN') || seen.find((p) => p.ringId);
    this.ringId = ring ? ring.ringId : `${keyOf(this.selfNode())}@${Date.now()}`;
    this.log(ring ? `joined the ring of ${ring.key}` : 'no server of the ring answered; forming a ring alone');
    this.record(seen);
    this.timer = setInterval(() => this.tick().catch(() => undefined), TICK_MS);
    this.timer.unref();
  }

  stop() {
    clearInterval(this.timer);
    clearTimeout(this.conflict && this.conflict.timer);
  }

  others() {
    const me = this.selfNode();
    return this.confNow().servers.filter((n) => !sameNode(n, me));
  }

  /** The hello exchange with every other listed server: [{key, node, ringId, s, keys}] of those that accepted. */
  async askAll() {
    const me = this.selfNode();
    const replies = await Promise.all(
      this.others().map(async (node) => {
        const key = keyOf(node);
        const r = await this.wire.request(node.name, node.port, { op: 'hello', from: { name: me.name, port: me.port, ctlport: me.ctlport, seed: me.seed }, ringId: this.ringId });
        if (r && r.refused) {
          if (!this.refusedBy.has(key)) this.debug.err('RawConnectServer(1224)', `Connected to ${node.name}:${node.port}, but could not allow from this server.`);
          this.refusedBy.add(key);
          this.refusedOnce.add(key);
          return undefined;
        }
        this.refusedBy.delete(key);
        return r && r.s ? { key, node, ringId: r.ringId, s: r.s, at: r.at, keys: r.keys || 0 } : undefined;
      }),
    );
    return replies.filter(Boolean);
  }

  record(seen) {
    this.members = new Map(seen.filter((p) => p.ringId === this.ringId).map((p) => [p.key, p]));
  }

  async tick() {
    const seen = await this.askAll();
    this.record(seen);
    const mine = this.state.s;
    const ringServes = [...this.members.values()].some((p) => p.s.ring === 'SERVICE IN');
    for (const p of seen) {
      if (!p.ringId || p.ringId === this.ringId || p.s.ring !== 'SERVICE IN') continue;
      if (mine.ring !== 'SERVICE IN' && !ringServes) {
        // Nothing of this node's ring serves: it simply becomes part of the other ring.
        this.ringId = p.ringId;
        this.record(seen);
        return;
      }
      if (mine.ring === 'SERVICE IN' && !this.conflict && !this.refusedOnce.has(p.key)) {
        const ms = between(CONFLICT_MS);
        this.log(`server ${p.key} answers from another ring; the rings conflict`);
        this.conflict = { key: p.key, timer: setTimeout(() => this.resolveConflict(p.node), ms) };
      }
    }
  }

  /** The node that found the other ring takes that ring's view of itself: not in service. */
  async resolveConflict(node) {
    this.conflict = undefined;
    const again = (await this.askAll()).find((p) => sameNode(p.node, node));
    if (!again || !again.ringId || again.ringId === this.ringId || again.s.ring !== 'SERVICE IN') return;
    this.ringId = again.ringId;
    if (this.state.s.ring === 'SERVICE IN') this.state.adopt({ ring: 'SERVICE OUT', action: 'n/a', operate: 'Nothing' });
  }

  /** Answer to another server's hello: refused unless this node's INI lists it. */
  hello(msg) {
    const listed = this.confNow().servers.some((n) => sameNode(n, msg.from));
    if (!listed) return { refused: true };
    return { ringId: this.ringId, s: this.state.s, at: this.state.updatedAt, keys: this.keys() };
  }

  /** attach: join (with the ring's data to merge) when another member of this ring serves. */
  joinPlan() {
    const serving = [...this.members.values()].filter((p) => p.s.ring === 'SERVICE IN');
    return { join: serving.length > 0, keys: Math.max(0, ...serving.map((p) => p.keys)) };
  }

  /** The ring as this node sees it: live status of members of its ring, [SERVICE OUT][DOWN] for anyone else. */
  async view() {
    const me = this.selfNode();
    const seen = new Map((await this.askAll()).map((p) => [p.key, p]));
    return this.confNow().servers.map((node) => {
      if (sameNode(node, me)) return { node, s: { ...this.state.s }, at: this.state.updatedAt };
      const p = seen.get(keyOf(node));
      return p && p.ringId === this.ringId ? { node, s: p.s, at: p.at } : { node, s: { ...DOWN }, at: Date.now() };
    });
  }

  /** SERVICEOUT of this node, checked against its ring: merging → refused; nobody else serving → the one-server reply. */
  async serviceOut() {
    const list = await this.view();
    if (list.some((e) => e.s.action !== 'n/a')) return 'ERROR: Could not change status, because server is operating now.\n';
    const me = this.selfNode();
    const alone = !list.some((e) => !sameNode(e.node, me) && e.s.ring === 'SERVICE IN' && e.s.up);
    return this.state.serviceOut(alone);
  }

  /** Elements in this node's data file (the stand-in k2hdkc's JSON), for merge times. */
  keys() {
    const conf = this.confNow();
    const file = conf.k2hdkc && conf.k2hdkc.K2HFILE;
    try {
      return Object.keys(JSON.parse(fs.readFileSync(file, 'utf8')).elements || {}).length;
    } catch {
      return 0;
    }
  }
}

module.exports = { Peering, keyOf, sameNode };
