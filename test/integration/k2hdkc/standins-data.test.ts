import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CtlportClient } from '../../../src/k2hdkc/ctlport';
import { composeIni, writeIniAtomically } from '../../../src/k2hdkc/ini';
import { removeGroupLeftovers } from '../../helpers/antpickax';
import { NodeNetwork } from '../../helpers/netns';
import { waitUntil } from './helpers/wait-until';

// The data path of the stand-ins, as a K2HDKC client sees it (k2hdkc-observed.md "Data
// placement", "Lifecycle observations"): k2hdkclinetool on a node joins that node's chmpx and
// its writes land, by the key's hash, on 2 of the servers in service (REPLICA = 1); a server that
// joins gets its share by merge, never instantly; reads through a slave's chmpx reach the server
// that owns the key in the ring as it is now. Each node has its own network namespace and its own
// data file; delays run at a quarter of the observed ones (CHMPX_DOUBLE_TIME_SCALE).
const run = promisify(execFile);
const DOUBLES = join(__dirname, '../../doubles/chmpx');
const BASE = 23000 + (process.pid % 400) * 10;
const PORT = BASE;
const CTLPORT = BASE + 1;
const SLAVE_CTLPORT = BASE + 2;
const SCALE = '0.25';
const GROUP = `DATA${process.pid}`;
const SERVERS = [
  { host: '127.0.0.21', cuk: 'cuk-a', seed: 'server-a' },
  { host: '127.0.0.22', cuk: 'cuk-b', seed: 'server-b' },
  { host: '127.0.0.23', cuk: 'cuk-c', seed: 'server-c' },
  { host: '127.0.0.24', cuk: 'cuk-d', seed: 'server-d' },
] as const;
const SLAVE = { host: '127.0.0.25', cuk: 'cuk-s', seed: 'slave-s' };
type Node = { readonly host: string; readonly cuk: string; readonly seed: string };
const [a, b, c, d] = SERVERS;
const IN = 0x21;
const KEYS = 30;

function iniFor(self: Node, members: readonly Node[], dir: string): string {
  const slave = self === SLAVE;
  return composeIni({
    global: [
      ['FILEVERSION', '1'], ['GROUP', GROUP], ['MODE', slave ? 'SLAVE' : 'SERVER'], ['CHMPXIDTYPE', 'CUSTOM'],
      ['DELIVERMODE', 'hash'], ['REPLICA', '1'], ['CTLPORT', String(slave ? SLAVE_CTLPORT : CTLPORT)],
      ['SELFCTLPORT', String(slave ? SLAVE_CTLPORT : CTLPORT)], ['SELFCUK', self.cuk], ['MQACK', 'no'], ['AUTOMERGE', 'on'], ['DOMERGE', 'on'],
    ],
    servers: members.map((n) => [['NAME', n.host], ['CUK', n.cuk], ['PORT', String(PORT)], ['CTLPORT', String(CTLPORT)], ['CUSTOM_ID_SEED', n.seed]]),
    slaves: [[['NAME', SLAVE.host], ['CUK', SLAVE.cuk], ['CTLPORT', String(SLAVE_CTLPORT)], ['CUSTOM_ID_SEED', SLAVE.seed]]],
    ...(slave ? {} : { k2hdkc: [['K2HTYPE', 'file'], ['K2HFILE', join(dir, `${self.seed}.k2h`)], ['K2HINIT', 'no']] }),
  });
}

const waitFor = <T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string, timeoutMs = 20_000): Promise<T> => waitUntil(read, ok, what, timeoutMs, 50);

describe('stand-in data path: k2hdkclinetool through chmpx to the servers that own a key', () => {
  let dir: string;
  let network: NodeNetwork;
  const children: ChildProcess[] = [];
  const data = new Map(Array.from({ length: KEYS }, (_, i) => [`key-${i}`, `value-${i}`]));
  const ini = (n: Node): string => join(dir, `${n.seed}.ini`);
  const shmDir = (n: Node): string => join(dir, `shm-${n.seed}`);
  const env = (n: Node): NodeJS.ProcessEnv => ({ ...process.env, CHMPX_DOUBLE_TIME_SCALE: SCALE, CHMPX_DOUBLE_SHM_DIR: shmDir(n) });
  const client = (n: Node, port = CTLPORT): CtlportClient => new CtlportClient({ host: n.host, port });
  /** Keys in a server's data file (the stand-in's own form; the real tool is k2hlinetool `info state`). */
  const held = (n: Node): Record<string, string> => JSON.parse(readFileSync(join(dir, `${n.seed}.k2h`), 'utf8')).elements as Record<string, string>;
  const start = (bin: string, n: Node): void => {
    const inNode = network.node(n.host)!.command(join(DOUBLES, bin), ['-conf', ini(n)]);
    children.push(spawn(inNode.command, inNode.args, { stdio: 'ignore', env: env(n) }));
  };
  const startServer = async (n: Node, members: readonly Node[]): Promise<void> => {
    await writeIniAtomically(ini(n), iniFor(n, members, dir), { role: 'server' });
    start('chmpx', n);
    await waitFor(() => client(n).selfStatus(), () => true, `chmpx ${n.host}`);
    start('k2hdkc', n);
  };
  /** k2hdkclinetool on node `n`, joined to its chmpx, running `commands` from a file. */
  const lineTool = async (n: Node, ctlport: number, commands: readonly string[]): Promise<{ stdout: string; stderr: string }> => {
    const file = join(dir, `cmd-${process.hrtime.bigint()}`);
    writeFileSync(file, `${[...commands, 'quit'].join('\n')}\n`);
    const cmd = network.node(n.host)!.command(join(DOUBLES, 'k2hdkclinetool'), ['-conf', ini(n), '-ctlport', String(ctlport), '-run', file]);
    return run(cmd.command, cmd.args, { env: env(n) });
  };
  const printed = (stdout: string): Map<string, string> => new Map([...stdout.matchAll(/^"([^"]*)" => "([^"]*)"$/gm)].map((m) => [m[1]!, m[2]!]));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'k2h-data-'));
    for (const n of [...SERVERS, SLAVE]) mkdirSync(shmDir(n), { recursive: true });
    network = await NodeNetwork.create();
    for (const n of SERVERS) await (await network.addNode(n.host)).exposeOnHost([CTLPORT]);
    await (await network.addNode(SLAVE.host)).exposeOnHost([SLAVE_CTLPORT]);
  });

  afterAll(async () => {
    for (const child of children.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
      }
    }
    await network?.close();
    removeGroupLeftovers(GROUP, []);
    rmSync(dir, { recursive: true, force: true });
  });

  it('k2hdkclinetool without a running chmpx on its node fails each command as the real one did', async () => {
    await writeIniAtomically(ini(SLAVE), iniFor(SLAVE, [a, b, c], dir), { role: 'slave' });
    const out = await lineTool(SLAVE, SLAVE_CTLPORT, ['set key-x v', 'print key-x']);
    expect(out.stderr).toBe('[ERR] RESULT CODE(DKC_RES_NORESTYPE - DKC_RES_SUBCODE_NORESTYPE)\n'.repeat(2));
    expect(out.stdout).toBe('> set key-x v\n> print key-x\n> quit\nQuit.\n');
  });

  it('keys written through a slave land on exactly 2 of 3 servers and read back through any node', async () => {
    await startServer(a, [a, b, c]);
    await waitFor(() => client(a).selfStatus(), (s) => s.status.code === IN, 'A in service');
    await startServer(b, [a, b, c]);
    await startServer(c, [a, b, c]);
    await waitFor(() => client(a).allStatus(), (s) => s.servers.map((x) => x.status.code).join() === [IN, IN, IN].join(), 'one ring of 3');
    start('chmpx', SLAVE);
    await waitFor(() => client(SLAVE, SLAVE_CTLPORT).allStatus(), (s) => s.servers.filter((x) => x.status.code === IN).length === 3, 'the slave sees 3 in service');

    const wrote = await lineTool(SLAVE, SLAVE_CTLPORT, [...data].map(([k, v]) => `set ${k} ${v}`));
    expect(wrote.stderr).toBe('');
    for (const key of data.keys()) expect([a, b, c].filter((n) => key in held(n)), key).toHaveLength(2);
    const viaSlave = await lineTool(SLAVE, SLAVE_CTLPORT, [...data.keys()].map((k) => `print ${k}`));
    expect(printed(viaSlave.stdout)).toEqual(data);
    // A server's own chmpx routes the same way: it is a client's entry point too.
    const viaServer = await lineTool(b, CTLPORT, ['print key-0', 'print no-such-key']);
    expect(viaServer.stdout).toContain('"key-0" => "value-0"\n');
    expect(viaServer.stdout).toContain('"no-such-key" => value is not found\n');
  });

  it('a fourth server joins by merge: it takes its share, nobody loses a key, and every key still reads through the slave', async () => {
    for (const n of [a, b, c]) await writeIniAtomically(ini(n), iniFor(n, [a, b, c, d], dir), { role: 'server' });
    await waitFor(() => client(a).allStatus(), (s) => s.servers.length === 4, 'A lists D');
    const before = [a, b, c].map((n) => Object.keys(held(n)).length);
    await startServer(d, [a, b, c, d]);
    const seen = new Set<string>();
    await waitFor(async () => {
      const s = await client(d).selfStatus();
      seen.add(`[${s.status.action}][${s.status.operate}]`);
      return s;
    }, (s) => s.status.code === IN, 'D joined');
    expect(seen).toContain('[ADD][Doing]');
    expect(Object.keys(held(d)).length).toBeGreaterThan(0);
    // Merge copies, it never purges.
    expect([a, b, c].map((n) => Object.keys(held(n)).length >= before[[a, b, c].indexOf(n)]!)).toEqual([true, true, true]);
    // The slave learns of D once D serves: a slave chmpx that cannot connect to a server marks it
    // DOWN and never retries it (real chmpx 1.0.113; on a node the agent restarts the slave's
    // chmpx then, k2hdkc/ring/slave-view.ts).
    await writeIniAtomically(ini(SLAVE), iniFor(SLAVE, [a, b, c, d], dir), { role: 'slave' });
    await waitFor(() => client(SLAVE, SLAVE_CTLPORT).allStatus(), (s) => s.servers.filter((x) => x.status.code === IN).length === 4, 'the slave sees 4 in service');
    const viaSlave = await lineTool(SLAVE, SLAVE_CTLPORT, [...data.keys()].map((k) => `print ${k}`));
    expect(viaSlave.stderr).toBe('');
    expect(printed(viaSlave.stdout)).toEqual(data);
  });
});
