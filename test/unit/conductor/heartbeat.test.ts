import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConductorApi } from '../../../src/conductor/api';
import { HeartbeatLoop } from '../../../src/conductor/heartbeat';
import type { ServiceStatus } from '../../../src/conductor/statuses';
import { PREPARE_END_FILE, PREPARE_START_FILE } from '../../../src/system/prepare-markers';
import { captureLogger, heartbeats, RecordingCaster, TEST_KEY } from './recording-caster';

const INTERVAL = 30_000;

function build(statuses: (ServiceStatus | Error)[]) {
  const stateDir = mkdtempSync(join(tmpdir(), 'k2h-hb-'));
  const caster = new RecordingCaster();
  const { log, lines } = captureLogger();
  const api = new ConductorApi({ caster, conductorQueue: 'trove-conductor', guestId: 'hb-guest', encryptionKey: TEST_KEY, log, minCastGapMs: 0 });
  let i = 0;
  const loop = new HeartbeatLoop({
    sender: api,
    statusProvider: async () => {
      const next = statuses[Math.min(i++, statuses.length - 1)];
      if (next instanceof Error) throw next;
      return next ?? 'unknown';
    },
    intervalMs: INTERVAL,
    stateDir,
    log,
  });
  return { stateDir, caster, loop, lines };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('HeartbeatLoop', () => {
  it('does not start without the end-of-prepare marker, even with the start marker', async () => {
    const { stateDir, caster, loop } = build(['healthy']);
    writeFileSync(join(stateDir, PREPARE_START_FILE), '');
    expect(await loop.startIfPrepared()).toBe(false);
    expect(loop.running).toBe(false);
    expect(caster.casts).toHaveLength(0);
  });

  it('after an agent restart with the end marker, beats at once and then every interval', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { stateDir, caster, loop } = build(['healthy', 'healthy', 'shutdown']);
    writeFileSync(join(stateDir, PREPARE_END_FILE), '');
    expect(await loop.startIfPrepared()).toBe(true);
    await vi.waitFor(() => expect(caster.casts).toHaveLength(1));
    await vi.advanceTimersByTimeAsync(INTERVAL);
    await vi.advanceTimersByTimeAsync(INTERVAL);
    const beats = heartbeats(caster, TEST_KEY);
    expect(beats.map((b) => b.status)).toEqual(['healthy', 'healthy', 'shutdown']);
    expect(beats[1]?.sent).toBeGreaterThan(beats[0]?.sent ?? Infinity);
    expect(beats[2]?.sent).toBeGreaterThan(beats[1]?.sent ?? Infinity);
    await loop.stop();
    await vi.advanceTimersByTimeAsync(INTERVAL * 3);
    expect(caster.casts).toHaveLength(3);
  });

  it('logs a failed send and succeeds on the next tick', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { caster, loop, lines } = build(['healthy']);
    caster.failNext = 1;
    loop.start();
    expect(caster.casts).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(INTERVAL);
    expect(caster.casts).toHaveLength(0);
    expect(lines().some((l) => l['level'] === 'warn' && /retrying next interval/.test(String(l['msg'])))).toBe(true);
    await vi.advanceTimersByTimeAsync(INTERVAL);
    expect(heartbeats(caster, TEST_KEY).map((b) => b.status)).toEqual(['healthy']);
    await loop.stop();
  });

  it('reports unknown when the status check itself fails', async () => {
    const { caster, loop } = build([new Error('ctlport timeout')]);
    expect(await loop.tick()).toBe(true);
    expect(heartbeats(caster, TEST_KEY).map((b) => b.status)).toEqual(['unknown']);
  });

  it('start is idempotent and tick never overlaps itself', async () => {
    const { caster, loop } = build(['healthy']);
    const [a, b] = [loop.tick(), loop.tick()];
    expect(a).toBe(b);
    await a;
    expect(caster.casts).toHaveLength(1);
    loop.start();
    loop.start();
    expect(loop.running).toBe(true);
    await loop.stop();
    expect(loop.running).toBe(false);
  });

  it('tickFresh sends a new beat after the one in flight, so a stale status never lands last', async () => {
    const { caster, loop } = build(['restarting', 'healthy']);
    const stale = loop.tick();
    const fresh = loop.tickFresh();
    expect(await stale).toBe(true);
    expect(await fresh).toBe(true);
    expect(heartbeats(caster, TEST_KEY).map((b) => b.status)).toEqual(['restarting', 'healthy']);
  });
});
