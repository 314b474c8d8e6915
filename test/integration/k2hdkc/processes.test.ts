import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ProcessSupervisor } from '../../../src/k2hdkc/processes/supervisor';
import type { ProcessEvent } from '../../../src/k2hdkc/processes/types';
import {
  fakeDaemon, fakeWaitReady, isAlive, readEvents, sinkLogger, started, waitFor,
} from '../../unit/k2hdkc/processes/helpers';
import { mqueueVisible } from '../../helpers/antpickax';
import { rawCtlport } from '../../helpers/raw-ctlport';
import { NodeNetwork } from '../../helpers/netns';

// The supervisor end to end: the small fake daemons (signals, crashes) and, when present, the
// spec-faithful chmpx / k2hdkc stand-ins of test/doubles/chmpx/ with a real control-port probe.
const DOUBLES = join(__dirname, '../../doubles/chmpx');
const supervisors: ProcessSupervisor[] = [];
afterEach(async () => {
  await Promise.all(supervisors.splice(0).map((s) => s.stop().catch(() => undefined)));
});

/** The stand-in answers quickly; a short timeout keeps the readiness loop tight. */
const ctl = (host: string, port: number, command: string) => rawCtlport(host, port, command, 1000);

/** A waitReady like the agent's: SELFSTATUS until chmpx answers with a status block. */
function ctlportWaitReady(host: string, port: number) {
  return async (signal: AbortSignal): Promise<void> => {
    while (!signal.aborted) {
      const reply = await ctl(host, port, 'SELFSTATUS').catch(() => '');
      if (/Server Status\s*=/.test(reply)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw signal.reason;
  };
}

describe('ProcessSupervisor with fake daemons', () => {
  it('survives a chmpx crash, restarts both, and stops them in order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'k2h-proc-int-'));
    const events = join(dir, 'events.jsonl');
    const runDir = join(dir, 'run');
    const { log } = sinkLogger();
    const supervisor = new ProcessSupervisor({
      iniPath: join(dir, 'k2hdkc.ini'),
      runDir,
      logDir: join(dir, 'log'),
      waitReady: fakeWaitReady(runDir, events),
      log,
      chmpx: fakeDaemon('chmpx', events, ['--listen', '0', '--ignore-term']),
      k2hdkc: fakeDaemon('k2hdkc', events, []),
      restart: { initialDelayMs: 20, maxDelayMs: 100 },
      mqueue: false,
    });
    supervisors.push(supervisor);
    const seen: ProcessEvent[] = [];
    supervisor.onEvent((e) => seen.push(e));
    await supervisor.start('server');
    const k1 = seen.find((e) => e.process === 'k2hdkc' && e.type === 'spawned')?.pid ?? 0;
    await started(events, 'k2hdkc', k1);
    const c1 = seen.find((e) => e.process === 'chmpx' && e.type === 'spawned')?.pid ?? 0;
    process.kill(c1, 'SIGUSR2');
    const k2 = await waitFor(() => seen.find((e) => e.process === 'k2hdkc' && e.type === 'spawned' && e.pid !== k1)?.pid);
    await started(events, 'k2hdkc', k2);
    const pids = seen.filter((e) => e.type === 'spawned').map((e) => e.pid ?? 0);
    await supervisor.stop();
    expect(pids.some(isAlive)).toBe(false);
    expect(await supervisor.state()).toEqual({ role: 'server', chmpx: 'stopped', k2hdkc: 'stopped' });
    const tail = readEvents(events).filter((e) => e.event === 'signal').slice(-2);
    expect(tail.map((e) => `${e.name}:${e.signal}`)).toEqual(['k2hdkc:SIGTERM', 'chmpx:SIGINT']);
    // The daemons' output went to the log dir.
    expect(existsSync(join(dir, 'log', 'chmpx.log'))).toBe(true);
  });
});

describe.skipIf(!existsSync(join(DOUBLES, 'chmpx')))('ProcessSupervisor with the spec stand-ins', () => {
  // The node has its own network namespace (chmpx takes only an address of its host as itself).
  let network: NodeNetwork | undefined;
  afterEach(async () => {
    await Promise.all(supervisors.splice(0).map((s) => s.stop().catch(() => undefined)));
    await network?.close();
  });

  it('brings a one-server node to [SERVICE IN][UP] and stops chmpx (which ignores SIGTERM) cleanly, without the stop crash', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'k2h-proc-standin-'));
    const host = '127.0.0.5';
    const base = 23000 + (process.pid % 400) * 10;
    const [port, ctlport, slavePort] = [base, base + 1, base + 2];
    const ini = join(dir, 'k2hdkc.ini');
    const group = `PROCTEST${process.pid}`;
    const shmDir = join(dir, 'antpickax');
    mkdirSync(shmDir);
    // What a crashed chmpx of this node left: renamed shared memory and a queue of its group.
    const planted = [`${group}-${ctlport}.chmpx.bup`, `${group}-${ctlport}.k2h.bup.0`, `${group}-${ctlport}.chmpx`];
    for (const f of planted) writeFileSync(join(shmDir, f), '');
    const queue = `${group}.00000000deadbeef`;
    if (mqueueVisible()) writeFileSync(join('/dev/mqueue', queue), '');
    // Hand-written in the DBaaS template's shape (spec §4, §8.10), so this test does not depend on src/k2hdkc/ini.
    writeFileSync(ini, [
      '[GLOBAL]', 'FILEVERSION = 1', `GROUP = ${group}`, 'MODE = SERVER', 'CHMPXIDTYPE = CUSTOM', 'DELIVERMODE = hash',
      'REPLICA = 0', `PORT = ${port}`, `CTLPORT = ${ctlport}`, `SELFCTLPORT = ${ctlport}`, 'SELFCUK = cuk-p',
      'MQACK = no', 'AUTOMERGE = on', 'DOMERGE = on', '',
      '[SVRNODE]', `NAME = ${host}`, 'CUK = cuk-p', `PORT = ${port}`, `CTLPORT = ${ctlport}`, 'CUSTOM_ID_SEED = server-p', '',
      '[SLVNODE]', 'NAME = 127.0.0.1', 'CUK = dummy_cuk', `CTLPORT = ${slavePort}`, '',
      '[K2HDKC]', 'K2HTYPE = file', `K2HFILE = ${join(dir, 'data', 'k2hdkc.k2h')}`, 'K2HINIT = no', '',
    ].join('\n'), { mode: 0o640 });
    const { log, lines } = sinkLogger();
    network = await NodeNetwork.create();
    const node = await network.addNode(host);
    const supervisor = new ProcessSupervisor({
      iniPath: ini,
      runDir: join(dir, 'run'),
      logDir: join(dir, 'log'),
      waitReady: ctlportWaitReady(host, ctlport),
      log,
      chmpx: { command: node.wrap(join(DOUBLES, 'chmpx')) },
      k2hdkc: { command: node.wrap(join(DOUBLES, 'k2hdkc')) },
      mqueue: false,
      env: { ...process.env, CHMPX_DOUBLE_SHM_DIR: shmDir },
      leftovers: { shmDir },
    });
    supervisors.push(supervisor);
    await supervisor.start('server');
    const cleaned = lines.find((l) => l.msg === 'removed what an earlier chmpx left behind (a crash, or a kill)');
    expect(cleaned).toMatchObject({ group, ctlport, files: planted.map((f) => join(shmDir, f)).sort() });
    if (mqueueVisible()) expect(cleaned?.queues).toEqual([`/${queue}`]);
    expect(readdirSync(shmDir).filter((f) => f.includes('.bup'))).toEqual([]);
    const status = await waitFor(async () => {
      const reply = await ctl(host, ctlport, 'SELFSTATUS').catch(() => '');
      return /\[SERVICE IN\]\[UP\]\[n\/a\]\[Nothing\]\[NoSuspend\]/.test(reply) ? reply : undefined;
    }, 50);
    expect(status).toMatch(/Server Status\s+= 0x21\(SAFE -> \[SERVICE IN\]\[UP\]/);
    const pids = ['chmpx', 'k2hdkc'].map((n) => Number(readFileSync(join(dir, 'run', `${n}.pid`), 'utf8')));
    await supervisor.stop();
    expect(pids.some(isAlive)).toBe(false);
    expect(await ctl(host, ctlport, 'VERSION').catch((e: Error) => e.message)).toMatch(/ECONNREFUSED/);
    expect(existsSync(join(dir, 'data', 'k2hdkc.k2h'))).toBe(true);
    // SIGTERM for k2hdkc and SIGINT for chmpx were enough: no escalation to SIGKILL.
    expect(lines.some((l) => String(l.msg).includes('SIGKILL'))).toBe(false);
    // chmpx got its SIGINT only after it had seen k2hdkc leave: a clean exit, which removes its
    // shared memory and queues (a crash would leave them, k2hdkc-observed.md "Stopping").
    expect(lines.find((l) => l.process === 'chmpx' && l.msg === 'stopped')).toMatchObject({ exitCode: 0, signal: null });
    expect(readdirSync(shmDir).filter((f) => f.startsWith(`${group}-`))).toEqual([]);
    if (mqueueVisible()) expect(readdirSync('/dev/mqueue').filter((q) => q.startsWith(`${group}.`))).toEqual([]);
  });
});
