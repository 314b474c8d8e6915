import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CtlportClient } from '../../../src/k2hdkc/ctlport';
import { composeIni } from '../../../src/k2hdkc/ini';
import { mqueueVisible } from '../../helpers/antpickax';
import { NodeNetwork } from '../../helpers/netns';

// The process side of the chmpx / k2hdkc stand-ins against k2hdkc-observed.md (second run):
// signed 16-bit ports, the stop crash and its leftovers, k2hdkc before chmpx, the K2HFILE
// directory, the files fullock and k2hash leave, and the real (silent by default) debug output.
// The node runs in its own network namespace (test/helpers/netns): chmpx takes as itself only a
// NAME on one of its host's interfaces. Its files and queues stay visible on the host.

const DOUBLES = join(__dirname, '../../doubles/chmpx');
const BASE = 19000 + (process.pid % 400) * 5;
const HOST = '127.0.0.9';
const GROUP = `PROC${process.pid}`;

interface Run {
  readonly child: ChildProcess;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

describe('stand-in processes', () => {
  let dir: string;
  let shmDir: string;
  let network: NodeNetwork;
  const children: ChildProcess[] = [];

  const ini = (port: number, ctlport: number, k2hfile: string): string => composeIni({
    global: [
      ['FILEVERSION', '1'], ['GROUP', GROUP], ['MODE', 'SERVER'], ['CHMPXIDTYPE', 'CUSTOM'], ['DELIVERMODE', 'hash'],
      ['PORT', String(port)], ['CTLPORT', String(ctlport)], ['SELFCTLPORT', String(ctlport)], ['SELFCUK', 'cuk-a'],
      ['MQACK', 'no'], ['AUTOMERGE', 'on'], ['DOMERGE', 'on'],
    ],
    servers: [[['NAME', HOST], ['CUK', 'cuk-a'], ['PORT', String(port)], ['CTLPORT', String(ctlport)], ['CUSTOM_ID_SEED', 'a']]],
    slaves: [[['NAME', '127.0.0.1'], ['CUK', 'dummy_cuk'], ['CTLPORT', String(ctlport + 1)]]],
    k2hdkc: [['K2HTYPE', 'file'], ['K2HFILE', k2hfile], ['K2HINIT', 'no']],
  });
  async function writeConf(name: string, port: number, ctlport: number, k2hfile = join(dir, 'data', 'a.k2h')): Promise<string> {
    const file = join(dir, `${name}.ini`);
    // Written directly: the agent's own writer refuses a port above 32767 before chmpx could.
    writeFileSync(file, ini(port, ctlport, k2hfile));
    return file;
  }
  function run(bin: string, conf: string, log: string, debug = 'err'): Run {
    const inNode = network.node(HOST)!.command(join(DOUBLES, bin), ['-conf', conf, '-d', debug, '-dfile', join(dir, log)]);
    const child = spawn(inNode.command, inNode.args, {
      stdio: 'ignore',
      env: { ...process.env, CHMPX_DOUBLE_SHM_DIR: shmDir },
    });
    children.push(child);
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    return { child, exit };
  }
  const logOf = (log: string): string => (existsSync(join(dir, log)) ? readFileSync(join(dir, log), 'utf8') : '');
  const shmFiles = (): string[] => readdirSync(shmDir).filter((n) => n.startsWith(`${GROUP}-`)).sort();
  const queues = (): string[] => (mqueueVisible() ? readdirSync('/dev/mqueue').filter((n) => n.startsWith(`${GROUP}.`)) : []);
  async function ready(ctlport: number): Promise<void> {
    const client = new CtlportClient({ host: HOST, port: ctlport });
    for (;;) {
      if (await client.selfStatus().then(() => true, () => false)) return;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  async function attached(ctlport: number): Promise<void> {
    const client = new CtlportClient({ host: HOST, port: ctlport });
    for (;;) {
      const s = await client.selfStatus().catch(() => undefined);
      if (s?.status.suspend === false) return;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'k2h-standin-proc-'));
    shmDir = join(dir, 'antpickax');
    mkdirSync(shmDir);
    mkdirSync(join(dir, 'data'));
    network = await NodeNetwork.create();
    // The ctlport client runs in this process: HOST:CTLPORT on the host leads into the node.
    await (await network.addNode(HOST)).exposeOnHost([BASE + 2]);
  });
  afterEach(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });
  afterAll(async () => {
    await network?.close();
    for (const q of queues()) rmSync(join('/dev/mqueue', q), { force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  it('chmpx refuses a port above 32767 as the real one does: wrapped to a signed short, exit 1', async () => {
    const conf = await writeConf('wide', 32768, BASE);
    const chmpx = run('chmpx', conf, 'wide.log');
    expect(await chmpx.exit).toEqual({ code: 1, signal: null });
    expect(logOf('wide.log')).toMatch(/^\[CHMPX-ERR\] .* : Could not listen port\(-32768\)\.$/m);
  });

  it('k2hdkc started before its chmpx exits 1: it cannot attach to the shared memory', async () => {
    const conf = await writeConf('early', BASE + 1, BASE + 2);
    const k2hdkc = run('k2hdkc', conf, 'early.log');
    expect((await k2hdkc.exit).code).toBe(1);
    expect(logOf('early.log')).toContain('Could not initialize(attach) chmpx shared memory');
  });

  it('a SIGINT right after k2hdkc left crashes chmpx (SIGSEGV): files and queues stay, the next start renames the files *.bup', async () => {
    const conf = await writeConf('crash', BASE + 1, BASE + 2);
    const chmpx = run('chmpx', conf, 'crash-chmpx.log');
    await ready(BASE + 2);
    expect(shmFiles()).toEqual([`${GROUP}-${BASE + 2}.chmpx`, `${GROUP}-${BASE + 2}.k2h`]);
    if (mqueueVisible()) expect(queues()).toHaveLength(8);
    const k2hdkc = run('k2hdkc', conf, 'crash-k2hdkc.log');
    await attached(BASE + 2);
    k2hdkc.child.kill('SIGTERM');
    expect(await k2hdkc.exit).toEqual({ code: 0, signal: null });
    chmpx.child.kill('SIGINT');
    expect(await chmpx.exit).toEqual({ code: null, signal: 'SIGSEGV' });
    expect(shmFiles()).toEqual([`${GROUP}-${BASE + 2}.chmpx`, `${GROUP}-${BASE + 2}.k2h`]);
    if (mqueueVisible()) expect(queues()).toHaveLength(8);

    const again = run('chmpx', conf, 'crash-chmpx2.log');
    await ready(BASE + 2);
    expect(shmFiles()).toEqual([
      `${GROUP}-${BASE + 2}.chmpx`, `${GROUP}-${BASE + 2}.chmpx.bup`, `${GROUP}-${BASE + 2}.k2h`, `${GROUP}-${BASE + 2}.k2h.bup`,
    ]);
    again.child.kill('SIGINT'); // no client left just now: a clean stop
    expect(await again.exit).toEqual({ code: 0, signal: null });
    // A clean exit removes its own files and queues, not the crash's copies or queues.
    expect(shmFiles()).toEqual([`${GROUP}-${BASE + 2}.chmpx.bup`, `${GROUP}-${BASE + 2}.k2h.bup`]);
    if (mqueueVisible()) expect(queues()).toHaveLength(8);
    for (const f of shmFiles()) rmSync(join(shmDir, f));
    for (const q of queues()) rmSync(join('/dev/mqueue', q));
  });

  it('a SIGINT well after k2hdkc left stops chmpx cleanly; k2hdkc and the libraries leave only their own files', async () => {
    const conf = await writeConf('clean', BASE + 1, BASE + 2);
    const chmpx = run('chmpx', conf, 'clean-chmpx.log', 'msg');
    await ready(BASE + 2);
    const k2hdkc = run('k2hdkc', conf, 'clean-k2hdkc.log');
    await attached(BASE + 2);
    k2hdkc.child.kill('SIGTERM');
    await k2hdkc.exit;
    await new Promise((r) => setTimeout(r, 500));
    chmpx.child.kill('SIGINT');
    expect(await chmpx.exit).toEqual({ code: 0, signal: null });
    expect(shmFiles()).toEqual([]);
    expect(queues()).toEqual([]);
    expect(existsSync(join(shmDir, '.fullock', 'fullock.shm'))).toBe(true);
    expect(readdirSync(shmDir).some((n) => /^\.k2h_[0-9a-f]+$/.test(n))).toBe(true);
    // Only the real program's kind of lines; the stand-in's own diagnostics are off.
    for (const line of logOf('clean-chmpx.log').split('\n').filter(Boolean)) expect(line).toMatch(/^\[CHMPX-(ERR|WAN|MSG)\] \w+\(\d+\) : /);
  });

  it('k2hdkc does not create the directory of K2HFILE', async () => {
    const conf = await writeConf('nodir', BASE + 1, BASE + 2, join(dir, 'missing', 'a.k2h'));
    const chmpx = run('chmpx', conf, 'nodir-chmpx.log');
    await ready(BASE + 2);
    const k2hdkc = run('k2hdkc', conf, 'nodir-k2hdkc.log');
    expect((await k2hdkc.exit).code).toBe(1);
    expect(existsSync(join(dir, 'missing'))).toBe(false);
    chmpx.child.kill('SIGINT');
    expect(await chmpx.exit).toEqual({ code: 0, signal: null });
  });
});
