import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProvisionResult } from '../../src/k2hr3/provision';
import { STOPPED_STATE_FILE } from '../../src/k2hdkc/stopped-state';
import { K2hr3Double } from '../doubles/k2hr3';
import { KEYSTONE } from '../integration/k2hr3/helpers';
import { chmpxShmFiles, mqueueVisible } from '../helpers/antpickax';
import { rawCtlport } from '../helpers/raw-ctlport';
import type { AgentProcess } from './helpers/agent-process';
import { useConformanceEnv, type Guest } from './helpers/env';
import { chmpxPorts, k2hdkcNodeOptions, killDaemons, nodeDir, prepareKwargs, processAlive, provisionCluster, statusRowBecomes } from './helpers/k2hdkc-node';
import { waitFor } from './helpers/poll';
import { waitForConsumer } from './helpers/rabbit';

// Issue 5 acceptance 5: Trove 18 deletes an instance (and reboots, resizes) with a plain
// stop_db at version 1.1, which carries no do_not_start_on_reboot. So stop_db always takes the
// node out of K2HR3, and the agent brings it back itself when it starts again (a VM reboot),
// unless Trove 1.0 asked it to stay down. Driven through Trove's own client; the heartbeats go
// to the real trove-conductor; K2HR3 is the spec double, chmpx/k2hdkc the spec stand-ins.

const ADDRESS = '127.0.0.61';
const BASE_PORT = 10000 + (process.pid % 400) * 10;
const PORTS = chmpxPorts(BASE_PORT);

const env = useConformanceEnv({ conductor: true });

describe('stop_db and the start after it, through Trove\'s client', () => {
  const double = new K2hr3Double({ keystone: KEYSTONE });
  let cluster: ProvisionResult;
  let guest: Guest;
  let agent: AgentProcess;
  let runDir = '';
  let iniPath = '';
  /** chmpx GROUP of the node, from the INI the agent wrote. */
  const group = (): string => /^GROUP\s*=\s*(\S+)/m.exec(readFileSync(iniPath, 'utf8'))?.[1] ?? '';

  const registered = (): string[] => double.state.hostsOf(cluster.roleYrn).map((h) => h.cuk ?? '');
  /** chmpx's queues as the node sees them (its own IPC namespace; real queues are not in the host's). */
  const queuesOf = (): Promise<string[]> => env.nodeQueues(ADDRESS, group());
  const pidOf = (name: string): number => Number(readFileSync(path.join(runDir, `${name}.pid`), 'utf8'));
  const marker = (): string => path.join(guest.files.stateDir, STOPPED_STATE_FILE);
  async function rowBecomes(description: string): Promise<void> {
    await statusRowBecomes(env, guest.id, description, { timeoutMs: 20_000 });
  }
  /** The agent dies without any chance to clean up (as on a power cut), then starts again. */
  async function killAndStartAgent(): Promise<void> {
    process.kill(agent.pid, 'SIGKILL');
    await agent.stop();
    agent = env.startAgent(guest);
    await waitForConsumer(guest.queue);
  }

  beforeAll(async () => {
    const apiUrl = await double.start();
    cluster = await provisionCluster(apiUrl, `stop${process.pid}`, PORTS);
    const id = randomUUID();
    const dir = nodeDir(env, id);
    runDir = path.join(dir, 'run');
    iniPath = path.join(dir, 'k2hdkc.ini');
    guest = await env.addGuest({
      secure: true,
      id,
      k2hdkc: k2hdkcNodeOptions({ dir, address: ADDRESS, extdataUrl: double.extdataUrlFor(cluster.roleYrn).url }),
    });
    agent = env.startAgent(guest);
    await waitForConsumer(guest.queue);
    const sent = await env.harness.invoke(guest.id, guest.tenantId, 'prepare', {
      kwargs: prepareKwargs(guest),
      notification: true,
    });
    expect(sent).toMatchObject({ ok: true });
    await rowBecomes('healthy');
    expect(registered()).toEqual([guest.id]);
    // Running, chmpx holds its shared memory (and queues): what a crash would leave behind.
    expect(chmpxShmFiles(group(), PORTS.serverCtlport)).toHaveLength(2);
    if (mqueueVisible()) expect((await queuesOf()).length).toBeGreaterThan(0);
  });
  afterAll(async () => {
    await agent?.stop();
    // The agent leaves supervised daemons running when it exits; none may outlive this file.
    killDaemons(runDir);
    await double.stop();
  });

  it('a plain stop_db at 1.1 (what delete, reboot and resize send) serves the node out and deregisters it', async () => {
    const reply = await env.harness.invoke(guest.id, guest.tenantId, 'stop_db');
    expect(reply).toEqual({ ok: true, result: null, cap_version: '1.1' });
    expect(registered()).toEqual([]);
    expect(double.seen.some((r) => r.method === 'DELETE' && r.ip === ADDRESS)).toBe(true);
    await expect(rawCtlport(ADDRESS, PORTS.serverCtlport, 'VERSION')).rejects.toThrow(/ECONNREFUSED/);
    expect(JSON.parse(readFileSync(marker(), 'utf8'))).toMatchObject({ doNotStartOnReboot: false, deregistered: true });
    await rowBecomes('shutdown');
  });

  it('the stop did not crash chmpx: it exited on its SIGINT and left no shared memory, .bup copy or message queue', async () => {
    // Real chmpx dies with SIGSEGV when SIGINT follows its k2hdkc's exit at once (k2hdkc-observed.md).
    const stops = agent.lines.filter((l) => l.process === 'chmpx' && l.msg === 'stopped');
    expect(stops.length).toBeGreaterThan(0);
    for (const stop of stops) expect(stop).toMatchObject({ exitCode: 0, signal: null });
    expect(agent.lines.some((l) => l.msg === 'chmpx did not stop cleanly; its leftovers are removed at its next start')).toBe(false);
    expect(chmpxShmFiles(group(), PORTS.serverCtlport)).toEqual([]);
    expect(await queuesOf()).toEqual([]);
  });

  it('restart registers it again and replies once it is healthy', async () => {
    const reply = await env.harness.invoke(guest.id, guest.tenantId, 'restart');
    expect(reply).toEqual({ ok: true, result: null, cap_version: '1.1' });
    expect(registered()).toEqual([guest.id]);
    expect(await rawCtlport(ADDRESS, PORTS.serverCtlport, 'SELFSTATUS')).toMatch(/\[SERVICE IN\]\[UP\]/);
    expect(existsSync(marker())).toBe(false);
    await rowBecomes('healthy');
  });

  it('a configuration port above 32767 is refused, naming the parameter and the limit, and nothing is kept', async () => {
    const reply = await env.harness.invoke(guest.id, guest.tenantId, 'update_overrides', {
      kwargs: { overrides: { 'chmpx-server-port': 32768 }, remove: false },
    });
    expect(reply.ok).toBe(false);
    if (reply.ok) return;
    expect(reply.error.message).toContain('chmpx-server-port must be at most 32767 (got 32768): chmpx keeps ports as signed 16-bit numbers');
    const kept = path.join(guest.files.stateDir, 'overrides.json');
    if (existsSync(kept)) expect(readFileSync(kept, 'utf8')).not.toContain('chmpx-server-port');
  });

  it('a chmpx killed (as by a crash) leaves its files and queues; the next start removes them and says so', async () => {
    process.kill(agent.pid, 'SIGKILL');
    await agent.stop();
    const leftovers = chmpxShmFiles(group(), PORTS.serverCtlport);
    const running = await queuesOf();
    process.kill(pidOf('k2hdkc'), 'SIGTERM');
    process.kill(pidOf('chmpx'), 'SIGKILL');
    await waitFor('chmpx and k2hdkc gone', async () => (processAlive(pidOf('chmpx')) || processAlive(pidOf('k2hdkc')) ? undefined : true));
    expect(chmpxShmFiles(group(), PORTS.serverCtlport)).toEqual(leftovers);
    // Real k2hdkc holds queues of its own while attached (8 more) and removes them as it exits;
    // what stays is the killed chmpx's.
    const queues = await queuesOf();
    if (mqueueVisible()) {
      expect(queues.length).toBeGreaterThan(0);
      for (const q of queues) expect(running).toContain(q);
    }
    agent = env.startAgent(guest);
    await waitForConsumer(guest.queue);
    expect(await env.harness.invoke(guest.id, guest.tenantId, 'restart')).toMatchObject({ ok: true, result: null });
    const cleaned = agent.lines.find((l) => l.msg === 'removed what an earlier chmpx left behind (a crash, or a kill)');
    expect(cleaned).toMatchObject({ ctlport: PORTS.serverCtlport });
    expect([...((cleaned?.queues as string[] | undefined) ?? [])].sort()).toEqual(queues.map((q) => `/${q}`));
    expect(chmpxShmFiles(group(), PORTS.serverCtlport).filter((f) => f.includes('.bup'))).toEqual([]);
    // Real chmpx derives its queue names from the node (the same names again after a restart;
    // the stand-in draws random ones), so what tells is the count: no more than a running node had.
    expect((await queuesOf()).length).toBeLessThanOrEqual(running.length);
    await rowBecomes('healthy');
  });

  it('after a plain stop_db, an agent that starts again (VM reboot) brings the node back by itself', async () => {
    expect(await env.harness.invoke(guest.id, guest.tenantId, 'stop_db')).toMatchObject({ ok: true });
    expect(registered()).toEqual([]);
    await rowBecomes('shutdown');
    await killAndStartAgent();
    await agent.waitForLog('node started again', (l) => l.msg === 'node started again at agent start');
    expect(registered()).toEqual([guest.id]);
    expect([pidOf('chmpx'), pidOf('k2hdkc')].every(processAlive)).toBe(true);
    expect(await rawCtlport(ADDRESS, PORTS.serverCtlport, 'SELFSTATUS')).toMatch(/\[SERVICE IN\]\[UP\]\[n\/a\]\[Nothing\]\[NoSuspend\]/);
    expect(existsSync(marker())).toBe(false);
    // The real conductor records the healthy heartbeat Trove's reboot waits for.
    await rowBecomes('healthy');
  });

  it('after stop_db(do_not_start_on_reboot=True) at 1.0, an agent that starts again leaves the node down until restart', async () => {
    const reply = await env.harness.callMethod(guest.id, guest.tenantId, 'stop_db', {
      version: '1.0', kwargs: { do_not_start_on_reboot: true }, timeout: 15,
    });
    expect(reply).toMatchObject({ ok: true });
    expect(registered()).toEqual([]);
    await rowBecomes('shutdown');
    const before = (await env.harness.status(guest.id))?.updated_at;
    await killAndStartAgent();
    await agent.waitForLog('stays down', (l) => typeof l.msg === 'string' && l.msg.startsWith('node was stopped with do_not_start_on_reboot'));
    // A heartbeat of the new agent has reached the conductor, and it says shutdown.
    const row = await waitFor('a newer status row', async () => {
      const now = await env.harness.status(guest.id);
      return now !== null && now.updated_at !== before ? now : undefined;
    }, { timeoutMs: 20_000 });
    expect(row.status_description).toBe('shutdown');
    expect(registered()).toEqual([]);
    await expect(rawCtlport(ADDRESS, PORTS.serverCtlport, 'VERSION')).rejects.toThrow(/ECONNREFUSED/);
    expect(agent.lines.some((l) => l.msg === 'node started again at agent start')).toBe(false);

    expect(await env.harness.invoke(guest.id, guest.tenantId, 'restart')).toMatchObject({ ok: true, result: null });
    expect(registered()).toEqual([guest.id]);
    await rowBecomes('healthy');
  });
});
