import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeGroupLeftovers } from '../../helpers/antpickax';
import { NodeNetwork, type NetNode } from '../../helpers/netns';
import { rawCtlport } from '../../helpers/raw-ctlport';

// The chmpx stand-in meets the network as the real chmpx does (k2hdkc-observed.md, "Network and
// identity"): it listens on *:PORT and *:CTLPORT, so a second node with the same ports on one
// host fails to start, and it takes as itself only a NAME that is an address of its host.
const DOUBLES = join(__dirname, '../../doubles/chmpx');
const PORT = 8020;
const CTLPORT = 8021;
// Per run: the queues chmpx leaves when killed live in the host's /dev/mqueue.
const GROUP = `NET${process.pid}`;

function ini(names: readonly string[], selfCuk: string): string {
  return [
    '[GLOBAL]', 'FILEVERSION = 1', `GROUP = ${GROUP}`, 'MODE = SERVER', 'CHMPXIDTYPE = CUSTOM', 'DELIVERMODE = hash',
    'REPLICA = 1', `PORT = ${PORT}`, `CTLPORT = ${CTLPORT}`, `SELFCTLPORT = ${CTLPORT}`, `SELFCUK = ${selfCuk}`, 'AUTOMERGE = on', '',
    ...names.flatMap((name) => ['[SVRNODE]', `NAME = ${name}`, `CUK = cuk-${name}`, `PORT = ${PORT}`, `CTLPORT = ${CTLPORT}`, `CUSTOM_ID_SEED = ${name}`, '']),
    '[SLVNODE]', 'NAME = 127.0.0.1', 'CUK = dummy_cuk', 'CTLPORT = 8031', '',
  ].join('\n');
}

function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

describe('chmpx stand-in on the network', () => {
  let dir: string;
  let network: NodeNetwork;
  let a: NetNode;
  const children: ChildProcess[] = [];
  const chmpx = (node: NetNode, conf: string, log: string): ChildProcess => {
    // -d err: chmpx is silent by default, like the real one.
    const { command, args } = node.command(join(DOUBLES, 'chmpx'), ['-conf', conf, '-d', 'err', '-dfile', log]);
    // Its shared memory files in the test's directory, not /var/lib/antpickax.
    const child = spawn(command, args, { stdio: 'ignore', env: { ...process.env, CHMPX_DOUBLE_SHM_DIR: dir } });
    children.push(child);
    return child;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'k2h-standin-net-'));
    network = await NodeNetwork.create();
    a = await network.addNode('127.0.0.71');
  });

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all(children.map(exitOf));
    await network?.close();
    removeGroupLeftovers(GROUP, []);
    rmSync(dir, { recursive: true, force: true });
  });

  it('does not take a NAME that is not an address of its host as itself', async () => {
    // 127.0.0.72 is routable from this node but lives on no interface of it.
    const conf = join(dir, 'other.ini');
    writeFileSync(conf, ini(['127.0.0.72'], 'cuk-127.0.0.72'));
    expect(await exitOf(chmpx(a, conf, join(dir, 'other.log')))).toBe(1);
    expect(readFileSync(join(dir, 'other.log'), 'utf8')).toContain(`self control port(${CTLPORT}) not found in server list`);
  });

  it('listens on every address of the host, and a second chmpx with the same ports fails to start', async () => {
    const conf = join(dir, 'a.ini');
    writeFileSync(conf, ini(['127.0.0.71'], 'cuk-127.0.0.71'));
    const first = chmpx(a, conf, join(dir, 'a.log'));
    let reply = '';
    for (let i = 0; i < 200 && !reply.startsWith('Version'); i += 1) {
      reply = await rawCtlport('127.0.0.71', CTLPORT, 'VERSION').catch(() => '');
      if (!reply.startsWith('Version')) await new Promise((r) => setTimeout(r, 25));
    }
    expect(reply).toMatch(/^Version /);
    // *:CTLPORT: it answers on 127.0.0.1 and ::1 of the node as well as on its NAME.
    const { command, args } = a.command(process.execPath, ['-e', `
      const net = require('net');
      const ask = (host) => new Promise((res) => { const s = net.connect(${CTLPORT}, host); let r = ''; s.on('connect', () => s.write('VERSION\\n')); s.on('data', (d) => r += d); s.on('end', () => res(r)); s.on('error', (e) => res(e.code)); });
      Promise.all([ask('127.0.0.1'), ask('::1')]).then((r) => process.stdout.write(JSON.stringify(r)));`]);
    const probe = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    probe.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
    await exitOf(probe);
    expect((JSON.parse(out) as string[]).map((r) => r.slice(0, 8))).toEqual(['Version ', 'Version ']);
    // Same node, same ports: the second one cannot listen and exits 1; the first keeps running.
    const second = chmpx(a, conf, join(dir, 'a2.log'));
    expect(await exitOf(second)).toBe(1);
    expect(readFileSync(join(dir, 'a2.log'), 'utf8')).toMatch(new RegExp(`^\\[CHMPX-ERR\\] SetEventQueue\\(\\d+\\) : Could not listen (port\\(${PORT}\\)|ctlport\\(${CTLPORT}\\))\\.$`, 'm'));
    expect(first.exitCode).toBeNull();
  });
});
