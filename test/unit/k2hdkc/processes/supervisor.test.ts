import { mkdtempSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ProcessError } from '../../../../src/errors';
import { ProcessSupervisor, type SupervisorOptions } from '../../../../src/k2hdkc/processes/supervisor';
import type { ProcessEvent } from '../../../../src/k2hdkc/processes/types';
import { FAKE_DAEMON, fakeDaemon, fakeWaitReady, isAlive, readEvents, sinkLogger, started, waitFor } from './helpers';

const running: ProcessSupervisor[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop().catch(() => undefined)));
});

/** A supervisor over fake daemons; chmpx listens on an ephemeral port and ignores SIGTERM like the real one. */
function setup(extra: { chmpxArgs?: string[]; k2hdkcArgs?: string[]; options?: Partial<SupervisorOptions> } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'k2h-sup-'));
  const events = join(dir, 'events.jsonl');
  const runDir = join(dir, 'run');
  const msgMax = join(dir, 'msg_max');
  writeFileSync(msgMax, '10\n');
  const { log, lines } = sinkLogger();
  const supervisor = new ProcessSupervisor({
    iniPath: join(dir, 'k2hdkc.ini'),
    runDir,
    logDir: join(dir, 'log'),
    waitReady: fakeWaitReady(runDir, events),
    log,
    chmpx: fakeDaemon('chmpx', events, extra.chmpxArgs ?? ['--listen', '0', '--ignore-term']),
    k2hdkc: fakeDaemon('k2hdkc', events, extra.k2hdkcArgs ?? []),
    restart: { initialDelayMs: 10, maxDelayMs: 50, factor: 2, maxCrashes: 3, windowMs: 60_000 },
    mqueue: { path: msgMax },
    ...extra.options,
  });
  running.push(supervisor);
  const seen: ProcessEvent[] = [];
  supervisor.onEvent((e) => seen.push(e));
  return { dir, events, runDir, msgMax, supervisor, lines, seen };
}

const pidOf = (runDir: string, name: string) => Number.parseInt(readFileSync(join(runDir, `${name}.pid`), 'utf8'), 10);

/** start() resolves once k2hdkc is spawned; the stand-in needs a moment more to install its handlers. */
async function startServer(t: ReturnType<typeof setup>): Promise<void> {
  await t.supervisor.start('server');
  await started(t.events, 'k2hdkc', pidOf(t.runDir, 'k2hdkc'));
}

describe('ProcessSupervisor', () => {
  it('starts chmpx, waits for its control port, then k2hdkc; writes 0640 pid files; raises msg_max', async () => {
    const t = setup();
    await startServer(t);
    const ev = readEvents(t.events);
    const chmpxListening = ev.findIndex((e) => e.name === 'chmpx' && e.event === 'listening');
    const k2hdkcStart = ev.findIndex((e) => e.name === 'k2hdkc' && e.event === 'start');
    expect(chmpxListening).toBeGreaterThanOrEqual(0);
    expect(k2hdkcStart).toBeGreaterThan(chmpxListening);
    expect(await t.supervisor.state()).toEqual({ role: 'server', chmpx: 'running', k2hdkc: 'running' });
    for (const name of ['chmpx', 'k2hdkc']) {
      expect(statSync(join(t.runDir, `${name}.pid`)).mode & 0o777).toBe(0o640);
      expect(isAlive(pidOf(t.runDir, name))).toBe(true);
    }
    // The real binaries' argument shape: -conf <ini> (ours are appended after the fake's own flags).
    expect(ev.find((e) => e.name === 'chmpx' && e.event === 'start')).toBeDefined();
    expect(readFileSync(t.msgMax, 'utf8').trim()).toBe('1025');
  });

  it('stops k2hdkc with SIGTERM, then chmpx with SIGINT (it ignores SIGTERM), and removes the pid files', async () => {
    const t = setup();
    await startServer(t);
    await t.supervisor.stop();
    const ev = readEvents(t.events).filter((e) => e.event === 'signal' || e.event === 'exit');
    expect(ev.map((e) => `${e.name}:${e.event}:${e.signal ?? ''}`)).toEqual([
      'k2hdkc:signal:SIGTERM',
      'k2hdkc:exit:SIGTERM',
      'chmpx:signal:SIGINT',
      'chmpx:exit:SIGINT',
    ]);
    expect(existsSync(join(t.runDir, 'chmpx.pid'))).toBe(false);
    expect(existsSync(join(t.runDir, 'k2hdkc.pid'))).toBe(false);
    expect(await t.supervisor.state()).toEqual({ role: 'server', chmpx: 'stopped', k2hdkc: 'stopped' });
  });

  it('pauses between k2hdkc\'s exit and chmpx\'s SIGINT, so chmpx sees its client leave (SIGINT at once crashes the real one)', async () => {
    const t = setup({ options: { chmpxSettleMs: 300 } });
    await startServer(t);
    await t.supervisor.stop();
    const ev = readEvents(t.events);
    const k2hdkcExit = ev.find((e) => e.name === 'k2hdkc' && e.event === 'exit');
    const chmpxSigint = ev.find((e) => e.name === 'chmpx' && e.event === 'signal' && e.signal === 'SIGINT');
    expect(chmpxSigint!.at - k2hdkcExit!.at).toBeGreaterThanOrEqual(300);
    expect(t.lines.some((l) => l.msg === 'chmpx did not stop cleanly; its leftovers are removed at its next start')).toBe(false);
  });

  it('warns when chmpx ended by a signal other than its SIGINT (a crash leaves files and queues behind)', async () => {
    const t = setup({ chmpxArgs: ['--listen', '0', '--ignore-all'], options: { stopTimeoutMs: { chmpx: 100 }, chmpxSettleMs: 0 } });
    await startServer(t);
    await t.supervisor.stop();
    expect(t.lines.find((l) => l.msg === 'chmpx did not stop cleanly; its leftovers are removed at its next start')).toMatchObject({ signal: 'SIGKILL' });
  });

  it('escalates to SIGKILL when a daemon ignores its stop signal', async () => {
    const t = setup({
      chmpxArgs: ['--listen', '0', '--ignore-all'],
      options: { stopTimeoutMs: { chmpx: 200, k2hdkc: 200 } },
    });
    await startServer(t);
    const chmpxPid = pidOf(t.runDir, 'chmpx');
    await t.supervisor.stop();
    expect(isAlive(chmpxPid)).toBe(false);
    const chmpxEvents = readEvents(t.events).filter((e) => e.name === 'chmpx').map((e) => e.event);
    expect(chmpxEvents).toContain('signal');
    expect(chmpxEvents).not.toContain('exit'); // it never exited on its own
    expect(t.lines.some((l) => l.msg === 'did not stop in time; sending SIGKILL' && l.process === 'chmpx')).toBe(true);
  });

  it('runs only chmpx on a slave', async () => {
    const t = setup();
    await t.supervisor.start('slave');
    expect(await t.supervisor.state()).toEqual({ role: 'slave', chmpx: 'running', k2hdkc: 'stopped' });
    expect(readEvents(t.events).some((e) => e.name === 'k2hdkc')).toBe(false);
  });

  it('restarts a crashed k2hdkc alone', async () => {
    const t = setup();
    await startServer(t);
    const chmpxPid = pidOf(t.runDir, 'chmpx');
    const first = pidOf(t.runDir, 'k2hdkc');
    process.kill(first, 'SIGUSR2');
    const second = await waitFor(() => t.seen.find((e) => e.process === 'k2hdkc' && e.type === 'spawned' && e.pid !== first)?.pid);
    expect(second).not.toBe(first);
    expect(pidOf(t.runDir, 'chmpx')).toBe(chmpxPid);
    expect(t.seen.find((e) => e.type === 'exited')).toMatchObject({ process: 'k2hdkc', exitCode: 3 });
  });

  it('takes k2hdkc down with a crashed chmpx and starts it again once chmpx answers', async () => {
    const t = setup();
    await startServer(t);
    const oldK2hdkc = pidOf(t.runDir, 'k2hdkc');
    process.kill(pidOf(t.runDir, 'chmpx'), 'SIGUSR2');
    const newK2hdkc = await waitFor(
      () => t.seen.find((e) => e.process === 'k2hdkc' && e.type === 'spawned' && e.pid !== oldK2hdkc)?.pid,
    );
    await started(t.events, 'k2hdkc', newK2hdkc);
    const ev = readEvents(t.events);
    // Old k2hdkc got SIGTERM; the new one started only after the new chmpx listened.
    expect(ev.some((e) => e.pid === oldK2hdkc && e.signal === 'SIGTERM')).toBe(true);
    const newChmpxListening = ev.map((e) => e.name === 'chmpx' && e.event === 'listening').lastIndexOf(true);
    const newK2hdkcStart = ev.findIndex((e) => e.pid === newK2hdkc && e.event === 'start');
    expect(newK2hdkcStart).toBeGreaterThan(newChmpxListening);
    expect(await t.supervisor.state()).toMatchObject({ chmpx: 'running', k2hdkc: 'running' });
  });

  it('gives up after N crashes in the window: crash-loop event, state crashed, no more spawns', async () => {
    const t = setup({ k2hdkcArgs: ['--exit-now', '1'] });
    await t.supervisor.start('server');
    await waitFor(() => t.seen.find((e) => e.type === 'crash-loop'));
    expect(t.seen.filter((e) => e.process === 'k2hdkc' && e.type === 'spawned')).toHaveLength(3);
    expect(t.seen.filter((e) => e.type === 'restarting').map((e) => e.delayMs)).toEqual([10, 20]);
    expect(await t.supervisor.state()).toEqual({ role: 'server', chmpx: 'running', k2hdkc: 'crashed' });
    expect(readEvents(t.events).filter((e) => e.name === 'k2hdkc' && e.event === 'start')).toHaveLength(3);
    // stop() turns 'crashed' back into 'stopped', so a later start() begins afresh.
    await t.supervisor.stop();
    expect((await t.supervisor.state()).k2hdkc).toBe('stopped');
  });

  it('fails start with ProcessError when chmpx exits before its control port answers', async () => {
    const t = setup({ chmpxArgs: ['--exit-now', '1'] });
    const err = await t.supervisor.start('server').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProcessError);
    expect((err as Error).message).toMatch(/chmpx exited \(code 1/);
    expect(await t.supervisor.state()).toMatchObject({ chmpx: 'stopped', k2hdkc: 'stopped' });
    expect(readEvents(t.events).some((e) => e.name === 'k2hdkc')).toBe(false);
  });

  it('fails start when the control port never answers, and leaves chmpx stopped', async () => {
    const t = setup({ chmpxArgs: ['--ignore-term'], options: { readyTimeoutMs: 300 } });
    const err = await t.supervisor.start('server').catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/did not answer within 300 ms/);
    expect(await t.supervisor.state()).toMatchObject({ chmpx: 'stopped' });
    const pid = t.seen.find((e) => e.process === 'chmpx' && e.type === 'spawned')?.pid ?? 0;
    expect(pid).toBeGreaterThan(0);
    expect(isAlive(pid)).toBe(false);
    expect(readEvents(t.events).some((e) => e.name === 'k2hdkc')).toBe(false);
  });

  it('lets stop() cancel a start that is still waiting for chmpx', async () => {
    const t = setup({ chmpxArgs: ['--ignore-term'], options: { readyTimeoutMs: 60_000 } });
    const starting = t.supervisor.start('server').catch((e: unknown) => e);
    await waitFor(() => readEvents(t.events).some((e) => e.name === 'chmpx' && e.event === 'start'));
    await t.supervisor.stop();
    expect(((await starting) as Error).message).toMatch(/cancelled by a stop/);
    expect(await t.supervisor.state()).toMatchObject({ chmpx: 'stopped', k2hdkc: 'stopped' });
  });

  it('reports a missing binary as ProcessError naming it', async () => {
    const t = setup({ options: { chmpx: { command: join(tmpdir(), 'no-such-chmpx') } } });
    await expect(t.supervisor.start('server')).rejects.toThrow(/Could not start chmpx .*no-such-chmpx.*ENOENT/);
  });

  it('refuses to start while a pid file names a live daemon', async () => {
    const t = setup();
    await t.supervisor.start('slave');
    // A second supervisor on the same run dir: the first one's chmpx is alive there.
    const clash = new ProcessSupervisor({
      iniPath: join(t.dir, 'k2hdkc.ini'),
      runDir: t.runDir,
      waitReady: async () => undefined,
      log: sinkLogger().log,
      chmpx: { command: process.execPath, args: [FAKE_DAEMON] },
      mqueue: false,
    });
    await expect(clash.start('slave')).rejects.toThrow(/chmpx is already running as pid \d+/);
    expect(await t.supervisor.state()).toMatchObject({ chmpx: 'running' });
  });

  it('restart() stops and starts both with the last role', async () => {
    const t = setup();
    await expect(t.supervisor.restart()).rejects.toBeInstanceOf(ProcessError);
    await startServer(t);
    const before = [pidOf(t.runDir, 'chmpx'), pidOf(t.runDir, 'k2hdkc')];
    await t.supervisor.restart();
    await started(t.events, 'k2hdkc', pidOf(t.runDir, 'k2hdkc'));
    const after = [pidOf(t.runDir, 'chmpx'), pidOf(t.runDir, 'k2hdkc')];
    expect(after[0]).not.toBe(before[0]);
    expect(after[1]).not.toBe(before[1]);
    expect(before.some(isAlive)).toBe(false);
    expect(await t.supervisor.state()).toEqual({ role: 'server', chmpx: 'running', k2hdkc: 'running' });
  });

  it('warns and carries on when msg_max cannot be raised', async () => {
    const t = setup({ options: { mqueue: { path: '/proc/sys/kernel/osrelease' } } });
    await t.supervisor.start('slave');
    expect(t.lines.some((l) => l.level === 'warn' && String(l.msg).includes('fs.mqueue.msg_max'))).toBe(true);
  });
});
