import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProvisionResult } from '../../src/k2hr3/provision';
import { K2hr3Double } from '../doubles/k2hr3';
import { KeystoneDouble } from '../doubles/keystone';
import { KEYSTONE, KEYSTONE_PROJECT, KEYSTONE_TOKEN, KEYSTONE_TOKENS, nodes } from '../integration/k2hr3/helpers';
import { rawCtlport } from '../helpers/raw-ctlport';
import { REPO_ROOT, type AgentProcess } from './helpers/agent-process';
import { useConformanceEnv, type Guest } from './helpers/env';
import { chmpxPorts, k2hdkcNodeOptions, killDaemons, prepareKwargs, processAlive, provisionCluster, statusRowBecomes } from './helpers/k2hdkc-node';
import { waitFor } from './helpers/poll';
import { waitForConsumer } from './helpers/rabbit';
import { StandaloneAgent } from './helpers/standalone-agent';

// Issue 3 acceptance 2 and 5: a K2HDKC cluster whose members Trove's own client prepares
// (cluster_config), a fourth member joining and one leaving while every node follows K2HR3
// membership live, and a slave (client) node that runs without Trove. Each node is a real agent
// process in its own network namespace ("VM", test/helpers/netns via the conformance env) with
// its own loopback address, so the K2HR3 double registers it by source IP and every node uses
// the DBaaS template's ports; chmpx and k2hdkc are the spec stand-ins, whose logs and pid files
// show reloads and (no) restarts.

const AGENT_BIN = path.join(REPO_ROOT, 'bin', 'k2hdkc-trove-agent');
const BASE_PORT = 27000 + (process.pid % 400) * 10;
/** The DBaaS template's ports, the same on every node (each node has its own network). */
const PORTS = { serverPort: 8020, serverCtlport: 8021, slaveCtlport: 8031 };
const SERVERS = ['127.0.0.51', '127.0.0.52', '127.0.0.53', '127.0.0.54'];
const SLAVE = '127.0.0.55';
/** Short, so a membership change reaches every node quickly; the agents add ±20 % jitter. */
const POLL_MS = 400;

/** The [k2hdkc] options of a node on `address` whose files live in `dir`. */
function nodeOptions(dir: string, address: string, mode: 'server' | 'slave', extdataUrl?: string): Record<string, string> {
  return k2hdkcNodeOptions({ dir, address, ...(extdataUrl === undefined ? {} : { extdataUrl }) }, { mode, k2hr3_poll_ms: String(POLL_MS) });
}

interface Node {
  readonly address: string;
  readonly dir: string;
  readonly guest?: Guest;
  agent?: AgentProcess;
}

const iniOf = (n: Node): string => readFileSync(path.join(n.dir, 'k2hdkc.ini'), 'utf8');
const serversIn = (n: Node): string[] => nodes(iniOf(n), 'SVRNODE').map((s) => s.name).sort();
const slavesIn = (n: Node): string[] => nodes(iniOf(n), 'SLVNODE').map((s) => s.name).sort();
const pidOf = (n: Node, name: 'chmpx' | 'k2hdkc'): number => Number(readFileSync(path.join(n.dir, 'run', `${name}.pid`), 'utf8'));

const env = useConformanceEnv({ conductor: true });

describe('a K2HDKC cluster following K2HR3 membership', () => {
  const double = new K2hr3Double({ keystone: KEYSTONE });
  let cluster: ProvisionResult;
  let slaveRole = '';
  const servers: Node[] = [];
  let slave: Node;
  let slaveAgent: StandaloneAgent | undefined;

  async function prepareMember(n: Node): Promise<void> {
    const guest = n.guest!;
    const sent = await env.harness.invoke(guest.id, guest.tenantId, 'prepare', {
      kwargs: prepareKwargs(guest, { cluster_config: { id: 'cluster-1', instance_type: 'member' } }),
      notification: true,
    });
    expect(sent).toMatchObject({ ok: true });
  }

  function rowBecomes(n: Node, description: string, timeoutMs = 30_000) {
    return statusRowBecomes(env, n.guest!.id, description, { timeoutMs, label: n.address });
  }

  async function completeMember(n: Node): Promise<void> {
    // The cluster strategies call it with the high timeout at version 1.0.
    const reply = await env.harness.callMethod(n.guest!.id, n.guest!.tenantId, 'cluster_complete', { version: '1.0', timeout: 20 });
    expect(reply).toMatchObject({ ok: true });
    const row = await rowBecomes(n, 'healthy');
    expect(row.status_id).toBe(0x21);
  }

  beforeAll(async () => {
    const apiUrl = await double.start();
    cluster = await provisionCluster(apiUrl, `grow${process.pid}`, PORTS);
    slaveRole = cluster.roleYrn.replace(/\/server$/, '/slave');
    for (const address of SERVERS) {
      const id = randomUUID();
      const dir = path.join(env.dir, `node-${address}`);
      const guest = await env.addGuest({ secure: true, id, k2hdkc: nodeOptions(dir, address, 'server', double.extdataUrlFor(cluster.roleYrn).url) });
      servers.push({ address, dir, guest });
    }
    slave = { address: SLAVE, dir: path.join(env.dir, `node-${SLAVE}`) };
    await Promise.all(servers.slice(0, 3).map(async (n) => {
      n.agent = env.startAgent(n.guest!);
      await waitForConsumer(n.guest!.queue);
    }));
  });

  afterAll(async () => {
    // Agents first: a supervisor would restart a daemon killed under it.
    await slaveAgent?.stop();
    await Promise.all(servers.map((n) => n.agent?.stop()));
    // Supervised daemons outlive the agent (as on a VM); this file's nodes must not.
    for (const n of [...servers, slave]) killDaemons(n === undefined ? undefined : path.join(n.dir, 'run'));
    await double.stop();
  });

  it('three members prepared with cluster_config report instance ready, then healthy after cluster_complete; each INI lists the three', async () => {
    const first = servers.slice(0, 3);
    await Promise.all(first.map((n) => prepareMember(n)));
    await Promise.all(first.map((n) => rowBecomes(n, 'instance ready')));
    expect(double.state.hostsOf(cluster.roleYrn).map((h) => h.host).sort()).toEqual(SERVERS.slice(0, 3));
    await Promise.all(first.map((n) => completeMember(n)));
    // Members prepared before the others registered had fewer servers at first; their pollers catch up.
    await waitFor('every INI lists the three servers', () => (first.every((n) => serversIn(n).length === 3) ? true : undefined));
    for (const n of first) {
      expect(serversIn(n)).toEqual(SERVERS.slice(0, 3));
      expect(iniOf(n)).toContain(`SELFCUK = ${n.guest!.id}`);
    }
    const ring = await rawCtlport(SERVERS[0]!, PORTS.serverCtlport, 'ALLSTATUS');
    expect(ring.match(/\[SERVICE IN\]\[UP\]\[n\/a\]\[Nothing\]\[NoSuspend\]/g)).toHaveLength(3);
  });

  it('a slave node without Trove (standalone agent) registers in <cluster>/slave, runs chmpx in slave mode only and is healthy', async () => {
    mkdirSync(slave.dir, { recursive: true });
    const conf = path.join(slave.dir, 'slave.conf');
    const id = randomUUID();
    // No transport_url, no guest_info.conf: only what the cloud-init user-data writes, plus the id.
    const options = { ...nodeOptions(slave.dir, SLAVE, 'slave', double.extdataUrlFor(slaveRole).url), state_dir: path.join(slave.dir, 'state'), http_port: '0', log_level: 'debug' };
    writeFileSync(conf, ['[DEFAULT]', `guest_id = ${id}`, '[k2hdkc]', ...Object.entries(options).map(([k, v]) => `${k} = ${v}`), ''].join('\n'), { mode: 0o600 });
    slaveAgent = new StandaloneAgent(await env.inNode(SLAVE, process.execPath, [AGENT_BIN, '--standalone', '--config-file', conf]), path.join(slave.dir, 'agent.log'));
    await waitFor('standalone node healthy', () => {
      if (!slaveAgent!.running) throw new Error(`standalone agent exited; see ${slave.dir}/agent.log`);
      return slaveAgent!.lines.some((l) => l.msg === 'standalone node healthy; following K2HR3') ? true : undefined;
    });
    expect(double.state.hostsOf(slaveRole).map((h) => [h.host, h.cuk, h.tag])).toEqual([[SLAVE, id, SLAVE]]);
    expect(await rawCtlport(SLAVE, PORTS.slaveCtlport, 'SELFSTATUS')).toMatch(/Mode\s+= Slave[\s\S]*\[SLAVE\]\[UP\]\[n\/a\]\[Nothing\]\[NoSuspend\]/);
    expect(iniOf(slave)).toMatch(/^MODE = SLAVE$/m);
    expect(serversIn(slave)).toEqual(SERVERS.slice(0, 3));
    expect(processAlive(pidOf(slave, 'chmpx'))).toBe(true);
    expect(existsSync(path.join(slave.dir, 'run', 'k2hdkc.pid'))).toBe(false);
    // The servers' pollers replace the template's dummy slave with this one.
    await waitFor('every server INI lists the slave', () => (servers.slice(0, 3).every((n) => slavesIn(n).join() === SLAVE) ? true : undefined));
  });

  it('a fourth member joins: within two polls every INI (servers and slave) lists four servers, and no process restarted', async () => {
    const watched = [...servers.slice(0, 3), slave];
    const pids = new Map(watched.map((n) => [n, [pidOf(n, 'chmpx'), n === slave ? 0 : pidOf(n, 'k2hdkc')]]));
    const fourth = servers[3]!;
    fourth.agent = env.startAgent(fourth.guest!);
    await waitForConsumer(fourth.guest!.queue);
    await prepareMember(fourth);
    // When each node's INI first lists four servers, how far the K2HR3 double's request log had got.
    const changedAt = new Map<Node, number>();
    await waitFor('every INI lists four servers', () => {
      for (const n of watched) if (!changedAt.has(n) && serversIn(n).length === 4) changedAt.set(n, double.seen.length);
      return changedAt.size === watched.length ? true : undefined;
    }, { intervalMs: 10 });
    const registered = double.seen.findIndex((r) => r.method === 'PUT' && r.ip === fourth.address);
    expect(registered).toBeGreaterThanOrEqual(0);
    for (const n of watched) {
      expect(serversIn(n)).toEqual(SERVERS);
      // Resource reads by this node between the registration and its INI listing the new server:
      // the first poll after the registration brings it (a read already in flight may not).
      const reads = double.seen.slice(registered, changedAt.get(n)).filter((r) => r.method === 'GET' && r.ip === n.address && r.path.startsWith('/v1/resource/'));
      expect(reads.length, `${n.address} polled ${reads.length} times`).toBeGreaterThanOrEqual(1);
      expect(reads.length, `${n.address} polled ${reads.length} times`).toBeLessThanOrEqual(2);
      // Same processes, still alive; chmpx reloaded the renamed INI itself.
      const [chmpx, k2hdkc] = pids.get(n)!;
      expect(pidOf(n, 'chmpx')).toBe(chmpx);
      expect(processAlive(chmpx!)).toBe(true);
      if (n !== slave) {
        expect(pidOf(n, 'k2hdkc')).toBe(k2hdkc);
        expect(processAlive(k2hdkc!)).toBe(true);
      }
    }
    // chmpx reloads on its inotify event, a moment after the rename the INI check saw; it logs
    // nothing of it but warnings (k2hdkc-observed.md), so ask each one for its ring.
    for (const n of watched) {
      const ctlport = n === slave ? PORTS.slaveCtlport : PORTS.serverCtlport;
      await waitFor(`${n.address} chmpx reloads 4 servers`, async () => (/^No\.4$/m.test(await rawCtlport(n.address, ctlport, 'ALLSTATUS').catch(() => '')) ? true : undefined), { timeoutMs: 5000 });
    }
    // The agents logged the membership diff (their stdout may trail the file by a moment).
    const joined = `INI updated from K2HR3: +server ${fourth.address}:${PORTS.serverCtlport}`;
    await servers[0]!.agent!.waitForLog('membership diff', (l) => l.msg === joined, 5000);
    await waitFor('slave agent logs the membership diff', () => (slaveAgent!.lines.some((l) => l.msg === joined) ? true : undefined), { timeoutMs: 5000 });
    await rowBecomes(fourth, 'instance ready');
    await completeMember(fourth);
    const ring = await rawCtlport(SERVERS[0]!, PORTS.serverCtlport, 'ALLSTATUS');
    expect(ring.match(/\[SERVICE IN\]\[UP\]\[n\/a\]\[Nothing\]\[NoSuspend\]/g)).toHaveLength(4);
  });

  it('an agent restarted on a prepared member resumes following K2HR3 (its daemons keep running)', async () => {
    const n = servers[0]!;
    const pids = [pidOf(n, 'chmpx'), pidOf(n, 'k2hdkc')];
    await n.agent!.stop();
    n.agent = env.startAgent(n.guest!);
    await n.agent.waitForLog('live reconfiguration resumed', (l) => l.msg === 'live reconfiguration resumed');
    expect([pidOf(n, 'chmpx'), pidOf(n, 'k2hdkc')]).toEqual(pids);
    // The next test's scale-in reaches this node's INI through the resumed poller.
  });

  it('stop_db on one member: serviced out with its custom seed, deregistered, and the other INIs (and the slave\'s) shrink', async () => {
    const leaving = servers[2]!;
    // Trove 1.0's stop_db(do_not_start_on_reboot=True): the instance is going away for good.
    const reply = await env.harness.callMethod(leaving.guest!.id, leaving.guest!.tenantId, 'stop_db', {
      version: '1.0', kwargs: { do_not_start_on_reboot: true }, timeout: 15,
    });
    expect(reply).toMatchObject({ ok: true });
    // CHMPXIDTYPE=CUSTOM: the third field is the custom seed (= the K2HR3 tag), and chmpx accepted it.
    // What the agent saw (chmpx itself logs SERVICEOUT only at -d msg): SUCCEED, then [SERVICE OUT].
    expect(leaving.agent!.lines.find((l) => l.msg === 'SERVICEOUT accepted; waiting for [SERVICE OUT]')).toMatchObject({ reply: 'SUCCEED' });
    expect(leaving.agent!.lines.find((l) => l.msg === 'node serviced out')).toMatchObject({ result: 'out', lastReply: 'SUCCEED (last seen SERVICE OUT)' });
    expect(double.state.hostsOf(cluster.roleYrn).map((h) => h.host).sort()).toEqual(SERVERS.filter((a) => a !== leaving.address));
    // Deregistered without a token: the role token the node holds still works.
    expect(double.seen.some((r) => r.method === 'DELETE' && r.ip === leaving.address && r.token === 'none')).toBe(true);
    const rest = [...servers.filter((n) => n !== leaving), slave];
    await waitFor('the other INIs list three servers', () => (rest.every((n) => serversIn(n).length === 3) ? true : undefined));
    for (const n of rest) expect(serversIn(n)).toEqual(SERVERS.filter((a) => a !== leaving.address));
    // The leaving node stopped following K2HR3: while every other node polled twice more, it never did.
    const deleted = double.seen.findIndex((r) => r.method === 'DELETE' && r.ip === leaving.address);
    const readsSince = (address: string) => double.seen.slice(deleted).filter((r) => r.method === 'GET' && r.ip === address && r.path.startsWith('/v1/resource/')).length;
    await waitFor('two more polls by every other node', () => (rest.every((n) => readsSince(n.address) >= 2) ? true : undefined));
    expect(readsSince(leaving.address)).toBe(0);
    expect(serversIn(leaving)).toContain(leaving.address);
    const left = `INI updated from K2HR3: -server ${leaving.address}:${PORTS.serverCtlport}`;
    await waitFor('slave agent logs the membership diff', () => (slaveAgent!.lines.some((l) => l.msg === left) ? true : undefined), { timeoutMs: 5000 });
    expect(await rawCtlport(SLAVE, PORTS.slaveCtlport, 'SELFSTATUS')).toMatch(/\[SLAVE\]\[UP\]/);
  });

  it('the standalone agent stops on SIGTERM (exit 0) and leaves its chmpx running, as on a VM', async () => {
    const chmpx = pidOf(slave, 'chmpx');
    expect(await slaveAgent!.stop()).toBe(0);
    expect(processAlive(chmpx)).toBe(true);
    // Exit happens after the log line was written, and the pipe is drained by then.
    await waitFor('slave agent log: poller stopped', () => (slaveAgent!.lines.some((l) => l.msg === 'stopped following the K2HR3 resource') ? true : undefined), { timeoutMs: 5000 });
  });

  it('never logs the role tokens', () => {
    const logs = [...servers.flatMap((n) => n.agent?.lines ?? []), ...(slaveAgent?.lines ?? [])];
    const text = JSON.stringify(logs);
    for (const [token] of double.state.roleTokens) expect(text).not.toContain(token);
  });
});

describe('members of one Trove cluster self-provisioning K2HR3 without a cluster-name', () => {
  // No extdata URL and no cluster-name anywhere: each agent creates the K2HR3 cluster itself with
  // the user's token, and only cluster_config.id (the same for every member) can bring them
  // together. Trove's own client sends prepare; its context (TroveContext.to_dict) carries the
  // token, the project id and the service catalog trove-api got from keystonemiddleware, but no
  // project name: each agent asks the catalog's Keystone (a v3 double) for the token's project,
  // which is the K2HR3 tenant.
  const keystone = new KeystoneDouble({ tokens: KEYSTONE_TOKENS });
  const double = new K2hr3Double({ keystone: keystone.k2hr3Keystone() });
  const ADDRESSES = ['127.0.0.56', '127.0.0.57'];
  const ports = chmpxPorts(BASE_PORT + 5);
  const members: Node[] = [];

  /** Trove's prepare (1.1) for a cluster member, through trove.guestagent.api.API, with the user's token and catalog. */
  async function prepareSelfProvisioning(n: Node, clusterId: string): Promise<void> {
    const guest = n.guest!;
    const sent = await env.harness.invoke(guest.id, guest.tenantId, 'prepare', {
      kwargs: prepareKwargs(guest, {
        device_path: null,
        config_contents: `chmpx-server-port = ${ports.serverPort}\nchmpx-server-ctlport = ${ports.serverCtlport}\nchmpx-slave-ctlport = ${ports.slaveCtlport}\n`,
        cluster_config: { id: clusterId, instance_type: 'member' },
      }),
      notification: true,
      authToken: KEYSTONE_TOKEN,
      serviceCatalog: keystone.serviceCatalogV2(),
    });
    expect(sent).toMatchObject({ ok: true });
  }

  beforeAll(async () => {
    await keystone.start();
    await double.start();
    for (const address of ADDRESSES) {
      const dir = path.join(env.dir, `selfprov-${address}`);
      const options = nodeOptions(dir, address, 'server');
      const guest = await env.addGuest({
        secure: true,
        // Members of one Trove cluster belong to one project: the token's.
        tenantId: KEYSTONE_PROJECT.id,
        k2hdkc: { ...options, k2hr3_api_url: double.url, ini_template_path: path.join(REPO_ROOT, 'datastore/k2hdkc-dbaas-template.txt') },
      });
      const n: Node = { address, dir, guest };
      n.agent = env.startAgent(guest);
      members.push(n);
    }
    await Promise.all(members.map((n) => waitForConsumer(n.guest!.queue)));
  });

  afterAll(async () => {
    await Promise.all(members.map((n) => n.agent?.stop()));
    for (const n of members) killDaemons(path.join(n.dir, 'run'));
    await double.stop();
    await keystone.stop();
  });

  it('both land in the K2HR3 cluster named after cluster_config.id, and each INI lists both', async () => {
    const clusterId = randomUUID();
    await Promise.all(members.map((n) => prepareSelfProvisioning(n, clusterId)));
    await Promise.all(members.map((n) => statusRowBecomes(env, n.guest!.id, 'instance ready', { label: n.address, failFast: true })));
    // Each agent asked Keystone once for the token's project (the name is nowhere in the context).
    expect(keystone.seen.filter((r) => r.method === 'GET' && r.path === '/v3/auth/tokens')).toHaveLength(members.length);
    const role = `yrn:yahoo:::${KEYSTONE_PROJECT.name}:role:${clusterId}/server`;
    expect(double.state.hostsOf(role).map((h) => [h.host, h.cuk]).sort()).toEqual(members.map((n) => [n.address, n.guest!.id]));
    // No member made a one-node cluster of its own.
    const clusters = [...double.state.roles.keys()].filter((r) => r.endsWith('/server') && double.state.hostsOf(r).some((h) => ADDRESSES.includes(h.host)));
    expect(clusters).toEqual([role]);
    // The member that read the INI first catches up with the other at its next poll.
    await waitFor('both INIs list both members', () => (members.every((n) => serversIn(n).length === 2) ? true : undefined));
    for (const n of members) {
      expect(serversIn(n)).toEqual(ADDRESSES);
      expect(iniOf(n)).toMatch(new RegExp(`^GROUP\\s*=\\s*${clusterId}$`, 'm'));
    }
    const ring = await rawCtlport(ADDRESSES[0]!, ports.serverCtlport, 'ALLSTATUS');
    expect(ring.match(/\[SERVICE IN\]\[UP\]/g)).toHaveLength(2);
  });

  it('never logs the Keystone token', () => {
    const text = JSON.stringify(members.flatMap((n) => n.agent?.lines ?? [])) + members.flatMap((n) => n.agent?.rawLines ?? []).join('\n');
    expect(text).not.toContain(KEYSTONE_TOKEN);
  });
});
