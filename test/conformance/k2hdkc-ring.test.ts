import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProvisionResult } from '../../src/k2hr3/provision';
import { K2hr3Double } from '../doubles/k2hr3';
import { KEYSTONE } from '../integration/k2hr3/helpers';
import { rawCtlport } from '../helpers/raw-ctlport';
import { REPO_ROOT, type AgentProcess } from './helpers/agent-process';
import { useConformanceEnv, type Guest } from './helpers/env';
import { assignedElements, k2hdkcLineTool, printedValues } from './helpers/k2hdkc-client';
import { chmpxPorts, k2hdkcNodeOptions, killDaemons, prepareKwargs, provisionCluster, statusRowBecomes, type ChmpxPorts } from './helpers/k2hdkc-node';
import { waitFor } from './helpers/poll';
import { waitForConsumer } from './helpers/rabbit';
import { StandaloneAgent } from './helpers/standalone-agent';

// Issue 10 acceptance 1: a cluster forms as ONE ring whatever order its members start in. The
// chmpx stand-in behaves as real chmpx did (k2hdkc-observed.md "Second run"): a server that
// starts before its peers list it is refused and serves alone, and separately formed rings
// conflict 5-20 s later, demoting members to [SERVICE OUT][UP] for good. So these tests hold
// only if the agents start their members in turn. Stability is measured by polling every
// member's ring view for 30 s, not by timing anything.
// Each member has its own /var/lib/antpickax (its own mount namespace), so the template's fixed
// K2HFILE is its own data file, as on a VM. Data goes in and out through a slave node (the
// standalone agent's chmpx) with k2hdkclinetool, as a client of the cluster would use it.

// Below 32768 for every pid: chmpx keeps ports as signed 16-bit numbers (the INI check refuses more).
const BASE_PORT = 20000 + (process.pid % 400) * 10;
/** The observed join and conflict delays (scale 1): what the stand-in does unless told otherwise. */
const POLL_MS = 400;
const STABLE_MS = 30_000;
const IN = '[SERVICE IN][UP][n/a][Nothing][NoSuspend]';
const AGENT_BIN = path.join(REPO_ROOT, 'bin', 'k2hdkc-trove-agent');
const SLAVE = '127.0.0.65';
/** Keys written through the slave before the fourth member joins. */
const KEYS = 40;

interface Member {
  readonly address: string;
  readonly dir: string;
  readonly guest: Guest;
  agent?: AgentProcess;
}

interface Cluster {
  readonly name: string;
  readonly ports: ChmpxPorts;
  roleYrn: string;
  readonly members: Member[];
}

const env = useConformanceEnv({ conductor: true });

/** Every status word of `address`'s ALLSTATUS (its ring view), in config order. */
async function ringView(address: string, ports: ChmpxPorts, ctlport = ports.serverCtlport): Promise<string[]> {
  const all = await rawCtlport(address, ctlport, 'ALLSTATUS');
  return [...all.matchAll(/Server Status\s*= 0x[0-9a-f]+\(SAFE -> ([^)]*)\)/g)].map((m) => m[1]!);
}

/** True when every member sees `count` servers, all in service. */
async function oneRing(c: Cluster, count: number): Promise<boolean> {
  const views = await Promise.all(c.members.slice(0, count).map((m) => ringView(m.address, c.ports).catch(() => [])));
  return views.every((v) => v.length === count && v.every((s) => s === IN));
}

describe('members started in any order form one ring and keep it', () => {
  const double = new K2hr3Double({ keystone: KEYSTONE });
  const forward: Cluster = { name: `fwd${process.pid}`, ports: chmpxPorts(BASE_PORT), roleYrn: '', members: [] };
  const reverse: Cluster = { name: `rev${process.pid}`, ports: chmpxPorts(BASE_PORT + 5), roleYrn: '', members: [] };

  async function addMembers(c: Cluster, addresses: readonly string[]): Promise<void> {
    for (const address of addresses) {
      const dir = path.join(env.dir, `ring-${address}`);
      const guest = await env.addGuest({
        secure: true,
        id: randomUUID(),
        k2hdkc: k2hdkcNodeOptions({ dir, address, extdataUrl: double.extdataUrlFor(c.roleYrn).url }, { k2hr3_poll_ms: String(POLL_MS), ring_check_ms: '500', prepare_timeout_seconds: '120' }),
        antpickaxDir: path.join(dir, 'antpickax'),
      });
      c.members.push({ address, dir, guest });
    }
  }

  async function startAgents(members: readonly Member[]): Promise<void> {
    await Promise.all(members.map(async (m) => {
      m.agent = env.startAgent(m.guest);
      await waitForConsumer(m.guest.queue);
    }));
  }

  /** Trove's prepare casts for `members`, all sent before any is answered (cluster_config as the strategy sends it). */
  async function prepareAtOnce(c: Cluster, members: readonly Member[]): Promise<void> {
    const sent = await Promise.all(members.map((m) => env.harness.invoke(m.guest.id, m.guest.tenantId, 'prepare', {
      kwargs: prepareKwargs(m.guest, { cluster_config: { id: c.name, instance_type: 'member' } }),
      notification: true,
    })));
    for (const s of sent) expect(s).toMatchObject({ ok: true });
  }

  async function complete(members: readonly Member[]): Promise<void> {
    await Promise.all(members.map((m) => statusRowBecomes(env, m.guest.id, 'instance ready', { label: m.address, timeoutMs: 120_000, failFast: true })));
    for (const m of members) {
      const reply = await env.harness.callMethod(m.guest.id, m.guest.tenantId, 'cluster_complete', { version: '1.0', timeout: 20 });
      expect(reply).toMatchObject({ ok: true });
    }
    await Promise.all(members.map((m) => statusRowBecomes(env, m.guest.id, 'healthy', { label: m.address, timeoutMs: 60_000 })));
  }

  beforeAll(async () => {
    const apiUrl = await double.start();
    for (const c of [forward, reverse]) c.roleYrn = ((await provisionCluster(apiUrl, c.name, c.ports)) as ProvisionResult).roleYrn;
    await addMembers(forward, ['127.0.0.61', '127.0.0.62', '127.0.0.63', '127.0.0.64']);
    await addMembers(reverse, ['127.0.0.66', '127.0.0.67', '127.0.0.68']);
    await startAgents([...forward.members.slice(0, 3), ...reverse.members]);
  }, 120_000);

  const slaveDir = path.join(env.dir, 'ring-slave');
  let slaveAgent: StandaloneAgent | undefined;
  /** The slave of `forward`, started while the first test watches its ring (it must not disturb it). */
  let slaveStarted: Promise<void> | undefined;

  /** A slave (client) node of `c` without Trove, as cloud-init starts it: the standalone agent. */
  async function startSlave(c: Cluster): Promise<void> {
    mkdirSync(slaveDir, { recursive: true });
    const conf = path.join(slaveDir, 'slave.conf');
    const slaveRole = c.roleYrn.replace(/\/server$/, '/slave');
    const options = { ...k2hdkcNodeOptions({ dir: slaveDir, address: SLAVE, extdataUrl: double.extdataUrlFor(slaveRole).url }, { mode: 'slave', k2hr3_poll_ms: String(POLL_MS) }), state_dir: path.join(slaveDir, 'state'), http_port: '0' };
    writeFileSync(conf, ['[DEFAULT]', `guest_id = ${randomUUID()}`, '[k2hdkc]', ...Object.entries(options).map(([k, v]) => `${k} = ${v}`), ''].join('\n'), { mode: 0o600 });
    const agent = new StandaloneAgent(await env.inNode(SLAVE, process.execPath, [AGENT_BIN, '--standalone', '--config-file', conf]), path.join(slaveDir, 'agent.log'));
    slaveAgent = agent;
    await waitFor('standalone slave healthy', () => {
      if (!agent.running) throw new Error(`standalone agent exited; see ${slaveDir}/agent.log`);
      return agent.lines.some((l) => l.msg === 'standalone node healthy; following K2HR3') ? true : undefined;
    }, { timeoutMs: 30_000 });
  }

  /** k2hdkclinetool on the slave node, joined to the slave's chmpx. */
  function throughSlave(c: Cluster, commands: readonly string[]) {
    return k2hdkcLineTool((cmd, args) => env.inNode(SLAVE, cmd, args), { iniPath: path.join(slaveDir, 'k2hdkc.ini'), ctlport: c.ports.slaveCtlport, scratchDir: slaveDir }, commands);
  }

  /** A member's data file as the host sees it (the template's K2HFILE in its own /var/lib/antpickax). */
  const dataFile = (m: Member): string => path.join(m.dir, 'antpickax', 'k2hdkc', 'k2hdkc.k2h');

  afterAll(async () => {
    await slaveAgent?.stop();
    killDaemons(path.join(slaveDir, 'run'));
    for (const c of [forward, reverse]) for (const m of c.members) killDaemons(path.join(m.dir, 'run'));
    await double.stop();
  });

  it('three members prepared at the same instant, and three more in reverse order, each end SERVICE IN in one ring of 3 and stay so for 30 s', async () => {
    await prepareAtOnce(forward, forward.members.slice(0, 3));
    await prepareAtOnce(reverse, [...reverse.members].reverse());
    await complete(forward.members.slice(0, 3));
    await complete(reverse.members);
    for (const c of [forward, reverse]) await waitFor(`${c.name}: one ring of 3`, async () => ((await oneRing(c, 3)) ? true : undefined), { timeoutMs: 60_000 });
    // A client node registering meanwhile changes every server's INI ([SLVNODE]); the ring holds.
    slaveStarted = startSlave(forward);
    slaveStarted.catch(() => undefined);
    // Separately formed rings would conflict within these 30 s; every poll must see one whole ring.
    const until = Date.now() + STABLE_MS;
    let polls = 0;
    while (Date.now() < until) {
      for (const c of [forward, reverse]) {
        const views = await Promise.all(c.members.slice(0, 3).map((m) => ringView(m.address, c.ports)));
        expect(views, `${c.name} poll ${polls}`).toEqual([[IN, IN, IN], [IN, IN, IN], [IN, IN, IN]]);
      }
      polls += 1;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(polls).toBeGreaterThan(20);
    // They started one at a time: no member was ever refused by a peer nor demoted.
    for (const m of [...forward.members.slice(0, 3), ...reverse.members]) {
      const log = readLog(m);
      expect(log).not.toContain('could not allow from this server');
      expect(log).not.toContain('self status changed');
    }
  }, 300_000);

  it('a fourth member added to a ring holding data joins without any existing member leaving service, and the data is still readable through a slave', async () => {
    const existing = forward.members.slice(0, 3);
    const fourth = forward.members[3]!;
    // A client node: the slave follows the ring of 3, and keys written through it land on the
    // servers their hash selects, each on exactly 2 of the 3 (REPLICA = 1).
    await (slaveStarted ?? startSlave(forward));
    await waitFor('the slave sees one ring of 3', async () => ((await ringView(SLAVE, forward.ports, forward.ports.slaveCtlport).catch(() => [])).join() === [IN, IN, IN].join() ? true : undefined), { timeoutMs: 30_000 });
    const data = new Map(Array.from({ length: KEYS }, (_, i) => [`ring-key-${i}`, `value-${i}-${process.pid}`]));
    const wrote = await throughSlave(forward, [...data].map(([k, v]) => `set ${k} ${v}`));
    expect(wrote.stderr).toBe('');
    const held = await Promise.all(existing.map((m) => assignedElements(dataFile(m))));
    expect(held.reduce((a, b) => a + b, 0)).toBe(2 * KEYS);
    expect(held.every((n) => n > 0)).toBe(true);

    await startAgents([fourth]);
    let watching = true;
    const leftService: string[] = [];
    const watch = (async () => {
      while (watching) {
        const views = await Promise.all(existing.map((m) => rawCtlport(m.address, forward.ports.serverCtlport, 'SELFSTATUS').catch(() => '')));
        views.forEach((v, i) => {
          if (!v.includes(IN)) leftService.push(`${existing[i]!.address}: ${/Server Status\s*= (.*)/.exec(v)?.[1] ?? 'no answer'}`);
        });
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await prepareAtOnce(forward, [fourth]);
    await complete([fourth]);
    await waitFor('one ring of 4', async () => ((await oneRing(forward, 4)) ? true : undefined), { timeoutMs: 60_000 });
    // Long enough for a conflict of separately formed rings to show (5-20 s).
    await new Promise((r) => setTimeout(r, 25_000));
    watching = false;
    await watch;
    expect(leftService).toEqual([]);
    expect(await oneRing(forward, 4)).toBe(true);
    expect(readLog(fourth)).not.toContain('could not allow from this server');
    // The newcomer got its share by merge, and every key is read through the slave's chmpx from
    // the server that owns it in the ring of 4.
    expect(await assignedElements(dataFile(fourth))).toBeGreaterThan(0);
    await waitFor('the slave sees one ring of 4', async () => ((await ringView(SLAVE, forward.ports, forward.ports.slaveCtlport).catch(() => [])).join() === [IN, IN, IN, IN].join() ? true : undefined), { timeoutMs: 30_000 });
    const read = await throughSlave(forward, [...data.keys()].map((k) => `print ${k}`));
    expect(read.stderr).toBe('');
    expect(printedValues(read.stdout)).toEqual(data);
  }, 240_000);

  it('a member forced to [SERVICE OUT][UP] is serviced in again by its agent, which logs why', async () => {
    const m = reverse.members[1]!;
    const seed = m.address;
    const reply = await rawCtlport(reverse.members[0]!.address, reverse.ports.serverCtlport, `SERVICEOUT ${m.address}:${reverse.ports.serverCtlport}:${seed}`);
    expect(reply).toBe('SUCCEED\n');
    // The agent's line says it saw the member out: [SERVICE OUT][UP] lasts only until its next
    // ring check (0.5 s), too short to be sure a poll of the member's status catches it.
    const line = await waitFor('the agent services the member in', async () => m.agent?.lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('sent SERVICEIN: chmpx is SAFE -> [SERVICE OUT][UP][n/a][Nothing][NoSuspend] while its k2hdkc runs')), { timeoutMs: 30_000 });
    expect(line).toMatchObject({ level: 'warn', attempt: 1 });
    await waitFor('member back in one ring of 3', async () => ((await oneRing(reverse, 3)) ? true : undefined), { timeoutMs: 30_000 });
  }, 120_000);
});

function readLog(m: Member): string {
  return readFileSync(path.join(m.dir, 'log', 'chmpx.log'), 'utf8');
}
