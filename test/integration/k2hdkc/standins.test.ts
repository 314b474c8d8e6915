import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CtlportError } from '../../../src/errors';
import { CtlportClient, probeHealth, type AllStatus, type SelfStatus } from '../../../src/k2hdkc/ctlport';
import { composeIni, writeIniAtomically } from '../../../src/k2hdkc/ini';
import { removeGroupLeftovers } from '../../helpers/antpickax';
import { NodeNetwork } from '../../helpers/netns';
import { waitUntil } from './helpers/wait-until';

// The chmpx / k2hdkc stand-ins driven through the agent's own ctlport client and INI writer.
// Each node has its own network namespace with its own loopback address (127.0.0.2, .3, .4) and
// the same ports, as on real VMs (test/helpers/netns); the client reaches them on the host.
const DOUBLES = join(__dirname, '../../doubles/chmpx');
const BASE = 21000 + (process.pid % 400) * 10;
const PORT = BASE;
const CTLPORT = BASE + 1;
const SLAVE_CTLPORT = BASE + 2;
const NODES = [
  { host: '127.0.0.2', cuk: 'cuk-a', seed: 'server-a' },
  { host: '127.0.0.3', cuk: 'cuk-b', seed: 'server-b' },
  { host: '127.0.0.4', cuk: 'cuk-c', seed: 'server-c' },
] as const;
type Node = (typeof NODES)[number];

function iniFor(self: Node, members: readonly Node[], dir: string): string {
  return composeIni({
    global: [
      ['FILEVERSION', '1'], ['GROUP', 'STANDINS'], ['MODE', 'SERVER'], ['CHMPXIDTYPE', 'CUSTOM'],
      ['DELIVERMODE', 'hash'], ['REPLICA', '1'], ['PORT', String(PORT)], ['CTLPORT', String(CTLPORT)],
      ['SELFCTLPORT', String(CTLPORT)], ['SELFCUK', self.cuk], ['MQACK', 'no'], ['AUTOMERGE', 'on'], ['DOMERGE', 'on'],
    ],
    servers: members.map((n) => [['NAME', n.host], ['CUK', n.cuk], ['PORT', String(PORT)], ['CTLPORT', String(CTLPORT)], ['CUSTOM_ID_SEED', n.seed]]),
    slaves: [[['NAME', '127.0.0.1'], ['CUK', 'dummy_cuk'], ['CTLPORT', String(SLAVE_CTLPORT)]]],
    k2hdkc: [['K2HTYPE', 'file'], ['K2HFILE', join(dir, `${self.seed}.k2h`)], ['K2HINIT', 'no']],
  });
}

const waitFor = <T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string): Promise<T> => waitUntil(read, ok, what, 15_000);

function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

describe('chmpx / k2hdkc stand-ins through the ctlport client', () => {
  let dir: string;
  const children: ChildProcess[] = [];
  const ini = (n: Node): string => join(dir, `${n.seed}.ini`);
  const client = (n: Node): CtlportClient => new CtlportClient({ host: n.host, port: CTLPORT });
  let network: NodeNetwork;
  const run = (bin: string, n: Node): ChildProcess => {
    // -d err: both are silent by default, like the real ones. Each node its own shared memory
    // directory: nodes share the host's filesystem and would otherwise share <GROUP>-<CTLPORT>.chmpx.
    const shmDir = join(dir, `shm-${n.seed}`);
    mkdirSync(shmDir, { recursive: true });
    const inNode = network.node(n.host)!.command(join(DOUBLES, bin), ['-conf', ini(n), '-d', 'err', '-dfile', join(dir, `${bin}-${n.seed}.log`)]);
    const child = spawn(inNode.command, inNode.args, { stdio: 'ignore', env: { ...process.env, CHMPX_DOUBLE_SHM_DIR: shmDir } });
    children.push(child);
    return child;
  };
  const [a, b, c] = NODES;
  let chmpxA: ChildProcess;
  let chmpxB: ChildProcess;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'k2h-standins-'));
    network = await NodeNetwork.create();
    for (const n of NODES) await (await network.addNode(n.host)).exposeOnHost([CTLPORT]);
    for (const n of [a, b]) await writeIniAtomically(ini(n), iniFor(n, [a, b], dir), { role: 'server' });
    // One after the other: servers started together form rings of their own (standins-ring.test.ts).
    chmpxA = run('chmpx', a);
    await waitFor(() => client(a).selfStatus(), () => true, `chmpx ${a.host}`);
    chmpxB = run('chmpx', b);
    await waitFor(() => client(b).selfStatus(), () => true, `chmpx ${b.host}`);
    run('k2hdkc', a);
    run('k2hdkc', b);
  });

  afterAll(async () => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    await Promise.all(children.map(exitOf));
    removeGroupLeftovers('STANDINS', []);
    await network?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('brings both servers to healthy once their k2hdkc attach', async () => {
    for (const n of [a, b]) {
      const probe = await waitFor(() => probeHealth(client(n), 'server'), (p) => p.health === 'healthy', `${n.host} healthy`);
      expect(probe.self).toMatchObject({ serverName: n.host, mode: 'server', ctlport: CTLPORT, customIdSeed: n.seed, ringName: 'STANDINS' });
    }
    const all = await client(a).allStatus();
    expect(all.servers.map((s) => [s.serverName, s.customIdSeed, s.status.text])).toEqual([
      ['127.0.0.2', 'server-a', 'SAFE -> [SERVICE IN][UP][n/a][Nothing][NoSuspend]'],
      ['127.0.0.3', 'server-b', 'SAFE -> [SERVICE IN][UP][n/a][Nothing][NoSuspend]'],
    ]);
    expect(await client(a).version()).toBe('Version 1.0.113 (commit: c569e0e) with OpenSSL');
  });

  it('services B out with its custom seed and back in, passing through the observed states', async () => {
    await expect(client(a).serviceOut({ host: b.host, ctlport: CTLPORT, id: b.seed })).resolves.toBe('SUCCEED');
    const out = await waitFor(() => client(b).selfStatus(), (s: SelfStatus) => s.status.ring === 'SERVICE OUT', 'B out');
    expect(out.status.text).toBe('SAFE -> [SERVICE OUT][UP][n/a][Nothing][NoSuspend]');
    expect((await probeHealth(client(b), 'server')).health).toBe('running');
    const fromA = await client(a).allStatus();
    expect(fromA.servers.find((s) => s.customIdSeed === b.seed)?.status.code).toBe(0x11);

    await expect(client(b).serviceIn()).resolves.toBe('SUCCEED');
    await waitFor(() => probeHealth(client(b), 'server'), (p) => p.health === 'healthy', 'B back in');
  });

  it('surfaces ERROR: replies as CtlportError with chmpx\'s text', async () => {
    const again = await client(b).serviceIn().catch((e: unknown) => e);
    expect(again).toBeInstanceOf(CtlportError);
    expect(again).toMatchObject({
      failure: 'rejected',
      command: 'SERVICEIN',
      reply: 'ERROR: Could not change status, because status is not allowed.\n',
    });
    await expect(client(a).send('SERVICEOUT 127.0.0.3:1')).resolves.toMatch(/^ERROR: SERVICEOUT command must have parameter/);
    await expect(client(a).serviceOut({ host: b.host, ctlport: CTLPORT, id: 'no-such-seed' })).rejects.toMatchObject({
      reply: 'ERROR: There is no such as server.\n',
    });
    await expect(client(a).send('SUSPEND')).resolves.toBe('Unknown command(SUSPEND)\n');
  });

  it('holds a SERVICEOUT at Pending under SUSPENDMERGE until MERGE and COMPMERGE', async () => {
    await expect(client(a).suspendMerge()).resolves.toBe('SUCCEED');
    await client(a).serviceOut({ host: b.host, ctlport: CTLPORT, id: b.seed });
    const pending = await client(b).selfStatus();
    expect(pending.status).toMatchObject({ action: 'DELETE', operate: 'Pending' });
    await client(a).merge();
    await waitFor(() => client(b).selfStatus(), (s: SelfStatus) => s.status.operate === 'Done', 'B at [DELETE][Done]');
    await client(a).compMerge();
    await waitFor(() => client(b).selfStatus(), (s: SelfStatus) => s.status.code === 0x11, 'B serviced out');
    await client(a).noSuspendMerge();
    await client(b).serviceIn();
    await waitFor(() => probeHealth(client(b), 'server'), (p) => p.health === 'healthy', 'B back in');
  });

  it('reloads an atomically replaced INI without restarting: a third server appears DOWN', async () => {
    for (const n of [a, b]) await writeIniAtomically(ini(n), iniFor(n, [a, b, c], dir), { role: 'server' });
    const all = await waitFor(() => client(a).allStatus(), (s: AllStatus) => s.servers.length === 3, 'A lists C');
    expect(all.servers[2]).toMatchObject({ serverName: c.host, customIdSeed: c.seed });
    expect(all.servers[2]?.status.text).toBe('SAFE -> [SERVICE OUT][DOWN][n/a][Nothing][NoSuspend]');
    await waitFor(() => client(b).allStatus(), (s: AllStatus) => s.servers.length === 3, 'B lists C');
    expect(chmpxA.exitCode).toBeNull();
    expect((await probeHealth(client(a), 'server')).health).toBe('healthy');
  });

  it('k2hlinetool reads stdin commands and writes an archive with `ar put`', () => {
    const tool = join(DOUBLES, 'k2hlinetool');
    const file = join(dir, `${a.seed}.k2h`); // created by the k2hdkc stand-in
    const archive = join(dir, 'a.k2har');
    const put = spawnSync(tool, ['-f', file], { input: 'set key1 value1\nar put ' + archive + '\nquit\n', encoding: 'utf8' });
    expect(put.status).toBe(0);
    const load = spawnSync(tool, ['-f', join(dir, 'restored.k2h'), '-mask', '8', '-cmask', '8', '-elementcnt', '32', '-pagesize', '512'], {
      input: `ar load ${archive}\ninfo state\nprint key1\nquit\n`,
      encoding: 'utf8',
    });
    expect(load.stdout).toBe('Assigned Element = 1\n"key1" => "value1"\n');
    expect(spawnSync(tool, ['-f', file, '-ro'], { input: 'info state\n', encoding: 'utf8' }).status).not.toBe(0);
  });

  it('k2hdkc refuses to start while its chmpx does not answer', async () => {
    await writeIniAtomically(ini(c), iniFor(c, [a, b, c], dir), { role: 'server' });
    expect(await exitOf(run('k2hdkc', c))).not.toBe(0);
  });

  it('chmpx ignores SIGTERM and stops on SIGINT', async () => {
    chmpxA.kill('SIGTERM');
    await expect(client(a).version()).resolves.toMatch(/^Version /);
    expect(chmpxA.exitCode).toBeNull();
    chmpxA.kill('SIGINT');
    expect(await exitOf(chmpxA)).toBe(0);
    // The host side of A's control port closes once A's namespace no longer listens (≤ 50 ms).
    await waitFor(() => probeHealth(client(a), 'server'), (p) => p.health === 'shutdown', 'A shutdown');
    const fromB = await waitFor(() => client(b).allStatus(), (s: AllStatus) => s.servers[0]?.status.live === 'DOWN', 'A down');
    expect(fromB.servers[0]?.status.code).toBe(0x10);
  });

  it('chmpx exits when its INI is rewritten in place and read half-written', async () => {
    const text = readFileSync(ini(b), 'utf8');
    writeFileSync(ini(b), text.slice(0, text.indexOf('GROUP')));
    expect(await exitOf(chmpxB)).not.toBe(0);
    expect(readFileSync(join(dir, 'chmpx-server-b.log'), 'utf8')).toMatch(/does not have "GROUP" in \[GLOBAL\] section/);
  });
});
