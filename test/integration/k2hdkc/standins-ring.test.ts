import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CtlportClient, type SelfStatus } from '../../../src/k2hdkc/ctlport';
import { composeIni, writeIniAtomically } from '../../../src/k2hdkc/ini';
import { removeGroupLeftovers } from '../../helpers/antpickax';
import { NodeNetwork } from '../../helpers/netns';
import { waitUntil } from './helpers/wait-until';

// The ring behaviour of the chmpx stand-in that real chmpx showed when members start in the
// wrong order (k2hdkc-observed.md "Second run"): a refused early join, separately formed rings
// that conflict and demote a member to [SERVICE OUT][UP] for good, SERVICEIN repair, a proper
// join passing [ADD][Pending]/[ADD][Doing], SERVICEOUT refused while the ring merges, the
// one-server SERVICEOUT reply, and the DUMP layout. Delays run at a quarter of the observed ones
// (CHMPX_DOUBLE_TIME_SCALE) so the file takes seconds, not minutes. Each node runs in its own
// network namespace with the same ports (test/helpers/netns), as on real VMs.
const DOUBLES = join(__dirname, '../../doubles/chmpx');
const BASE = 22000 + (process.pid % 400) * 10;
const PORT = BASE;
const CTLPORT = BASE + 1;
const SLAVE_CTLPORT = BASE + 2;
const SCALE = '0.25';
const NODES = [
  { host: '127.0.0.11', cuk: 'cuk-a', seed: 'server-a' },
  { host: '127.0.0.12', cuk: 'cuk-b', seed: 'server-b' },
  { host: '127.0.0.13', cuk: 'cuk-c', seed: 'server-c' },
  { host: '127.0.0.14', cuk: 'cuk-d', seed: 'server-d' },
] as const;
type Node = (typeof NODES)[number];
const [a, b, c, d] = NODES;

const IN = 0x21;
const DEMOTED = 0x11;
// Per run: chmpx killed by the test leaves its queues in the host's /dev/mqueue.
const GROUP = `RINGS${process.pid}`;

function iniFor(self: Node, members: readonly Node[], dir: string, group = GROUP): string {
  return composeIni({
    global: [
      ['FILEVERSION', '1'], ['GROUP', group], ['MODE', 'SERVER'], ['CHMPXIDTYPE', 'CUSTOM'],
      ['DELIVERMODE', 'hash'], ['REPLICA', '1'], ['PORT', String(PORT)], ['CTLPORT', String(CTLPORT)],
      ['SELFCTLPORT', String(CTLPORT)], ['SELFCUK', self.cuk], ['MQACK', 'no'], ['AUTOMERGE', 'on'], ['DOMERGE', 'on'],
    ],
    servers: members.map((n) => [['NAME', n.host], ['CUK', n.cuk], ['PORT', String(PORT)], ['CTLPORT', String(CTLPORT)], ['CUSTOM_ID_SEED', n.seed]]),
    slaves: [[['NAME', '127.0.0.1'], ['CUK', 'dummy_cuk'], ['CTLPORT', String(SLAVE_CTLPORT)]]],
    k2hdkc: [['K2HTYPE', 'file'], ['K2HFILE', join(dir, `${self.seed}.k2h`)], ['K2HINIT', 'no']],
  });
}

const waitFor = waitUntil;

describe('chmpx stand-in rings', () => {
  let dir: string;
  let network: NodeNetwork;
  const children: ChildProcess[] = [];
  const ini = (n: Node): string => join(dir, `${n.seed}.ini`);
  const log = (n: Node): string => readFileSync(join(dir, `chmpx-${n.seed}.log`), 'utf8');
  const client = (n: Node): CtlportClient => new CtlportClient({ host: n.host, port: CTLPORT });
  const code = async (n: Node): Promise<number> => (await client(n).selfStatus()).status.code;
  const run = (bin: string, n: Node): ChildProcess => {
    // -d wan: chmpx's own lines about refusals and demotions (silent by default, like the real one).
    // Each node its own shared memory directory: nodes share the host's filesystem.
    const shmDir = join(dir, `shm-${n.seed}`);
    mkdirSync(shmDir, { recursive: true });
    const inNode = network.node(n.host)!.command(join(DOUBLES, bin), ['-conf', ini(n), '-d', 'wan', '-dfile', join(dir, `${bin}-${n.seed}.log`)]);
    const child = spawn(inNode.command, inNode.args, {
      stdio: 'ignore',
      env: { ...process.env, CHMPX_DOUBLE_TIME_SCALE: SCALE, CHMPX_DOUBLE_SHM_DIR: shmDir },
    });
    children.push(child);
    return child;
  };
  const start = async (n: Node, members: readonly Node[]): Promise<void> => {
    await writeIniAtomically(ini(n), iniFor(n, members, dir), { role: 'server' });
    run('chmpx', n);
    await waitFor(() => client(n).selfStatus(), () => true, `chmpx ${n.host}`);
    run('k2hdkc', n);
  };
  const stopAll = async (): Promise<void> => {
    for (const child of children.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
      }
    }
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'k2h-rings-'));
    network = await NodeNetwork.create();
    // The ctlport client runs in this process: host:CTLPORT on the host leads into each node.
    for (const n of NODES) await (await network.addNode(n.host)).exposeOnHost([CTLPORT]);
  });

  afterAll(async () => {
    await stopAll();
    await network?.close();
    removeGroupLeftovers(GROUP, []);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a newcomer started before the member lists it is refused, serves alone, and the existing member is demoted when the rings meet', async () => {
    await start(a, [a]);
    await waitFor(() => code(a), (v) => v === IN, 'A in service');
    await start(b, [a, b]);
    await waitFor(() => code(b), (v) => v === IN, 'B in service alone');
    expect(log(b)).toContain(`RawConnectServer(1224) : Connected to ${a.host}:${PORT}, but could not allow from this server.`);
    // B's ring does not have A: it shows A as a server that is not there.
    const fromB = await client(b).allStatus();
    expect(fromB.servers.map((s) => s.status.code)).toEqual([0x10, IN]);

    await writeIniAtomically(ini(a), iniFor(a, [a, b], dir), { role: 'server' });
    await waitFor(() => code(a), (v) => v === DEMOTED, 'A demoted');
    expect(log(a)).toMatch(
      /PxComReceiveStatusRes\(7766\) : self status changed from 0x0000000000000021:SAFE -> \[SERVICE IN\]\[UP\]\[n\/a\]\[Nothing\]\[NoSuspend\] to 0x0000000000000011:SAFE -> \[SERVICE OUT\]\[UP\]\[n\/a\]\[Nothing\]\[NoSuspend\]\./,
    );
    // Out for good: nothing brings it back by itself.
    await new Promise((r) => setTimeout(r, 2000));
    expect(await code(a)).toBe(DEMOTED);
    expect(await code(b)).toBe(IN);
  });

  it('SERVICEIN on the demoted node\'s own control port brings it back into the one ring', async () => {
    await expect(client(a).serviceIn()).resolves.toBe('SUCCEED');
    const during = await client(a).selfStatus();
    expect(during.status).toMatchObject({ ring: 'SERVICE IN', action: 'ADD' });
    await waitFor(() => code(a), (v) => v === IN, 'A back in');
    const all = await client(b).allStatus();
    expect(all.servers.map((s) => s.status.code)).toEqual([IN, IN]);
  });

  it('a member listed by everyone before it starts joins through [ADD][Pending] and [ADD][Doing]; SERVICEOUT meanwhile is refused as operating', async () => {
    for (const n of [a, b]) await writeIniAtomically(ini(n), iniFor(n, [a, b, c], dir), { role: 'server' });
    await waitFor(() => client(a).allStatus(), (s) => s.servers.length === 3, 'A lists C');
    await waitFor(() => client(b).allStatus(), (s) => s.servers.length === 3, 'B lists C');
    await start(c, [a, b, c]);
    const seen = new Set<string>();
    let refused = '';
    await waitFor(async () => {
      const s = await client(c).selfStatus();
      seen.add(`[${s.status.action}][${s.status.operate}]`);
      if (s.status.action === 'ADD' && refused === '') refused = await client(a).send(`SERVICEOUT ${b.host}:${CTLPORT}:${b.seed}`);
      return s;
    }, (s: SelfStatus) => s.status.code === IN, 'C joined');
    expect(seen).toContain('[ADD][Pending]');
    expect(seen).toContain('[ADD][Doing]');
    expect(refused).toBe('ERROR: Could not change status, because server is operating now.\n');
    expect([await code(a), await code(b)]).toEqual([IN, IN]);
    expect(log(c)).not.toContain('could not allow');
  });

  it('DUMP is a block of aligned columns with the automerge suspension', async () => {
    const dump = await client(a).send('DUMP');
    expect(dump).toMatch(/^ {2}suspend automerge {4}= no$/m);
    expect(dump).toMatch(/^ {2}is_operating {9}= no$/m);
    expect(dump.split('\n').length).toBeGreaterThan(60);
  });

  it('SERVICEOUT on a one-server ring: "Failed to send status notice" and the node sits in [DELETE][Pending]', async () => {
    await stopAll();
    await start(d, [d]);
    await waitFor(() => code(d), (v) => v === IN, 'D in service');
    await expect(client(d).send(`SERVICEOUT ${d.host}:${CTLPORT}:${d.seed}`)).resolves.toBe('ERROR: Failed to send status notice to other servers.\n');
    await new Promise((r) => setTimeout(r, 500));
    expect((await client(d).selfStatus()).status.text).toBe('SAFE -> [SERVICE IN][UP][DELETE][Pending][NoSuspend]');
  });

  it('three servers started at once on INIs {a}, {a,b}, {a,b,c}, then given the full INI: the rings conflict and members stay demoted', async () => {
    await stopAll();
    for (const n of [a, b, c]) rmSync(join(dir, `chmpx-${n.seed}.log`), { force: true });
    const members = [[a], [a, b], [a, b, c]] as const;
    await Promise.all([a, b, c].map((n, i) => start(n, members[i]!)));
    for (const n of [a, b, c]) await waitFor(() => code(n), (v) => v === IN, `${n.host} in service alone`);
    for (const n of [a, b]) await writeIniAtomically(ini(n), iniFor(n, [a, b, c], dir), { role: 'server' });
    const codes = await waitFor(() => Promise.all([a, b, c].map(code)), (v) => v.filter((x) => x === DEMOTED).length >= 2, 'two members demoted');
    expect(codes.filter((x) => x === IN)).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 2000));
    expect(await Promise.all([a, b, c].map(code))).toEqual(codes);
  });
});
