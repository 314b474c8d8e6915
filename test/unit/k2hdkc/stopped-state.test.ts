import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  clearStopped, markStopped, readStopped, startupAction, STOPPED_STATE_FILE, type StoppedState,
} from '../../../src/k2hdkc/stopped-state';

const dir = () => mkdtempSync(join(tmpdir(), 'k2h-stopped-'));

describe('the stopped-state marker', () => {
  it('records a stop atomically with a tight mode, reads it back, and is gone once cleared', async () => {
    const d = dir();
    expect(await readStopped(d)).toBeNull();
    await markStopped(d, { doNotStartOnReboot: false, deregistered: true }, new Date('2026-01-02T03:04:05.000Z'));
    expect(await readStopped(d)).toEqual({ doNotStartOnReboot: false, deregistered: true, stoppedAt: '2026-01-02T03:04:05.000Z' });
    expect(statSync(join(d, STOPPED_STATE_FILE)).mode & 0o777).toBe(0o640);
    // A later stop replaces it; no temporary file is left behind.
    await markStopped(d, { doNotStartOnReboot: true, deregistered: false });
    expect(await readStopped(d)).toMatchObject({ doNotStartOnReboot: true, deregistered: false });
    expect(readdirSync(d)).toEqual([STOPPED_STATE_FILE]);
    expect(JSON.parse(readFileSync(join(d, STOPPED_STATE_FILE), 'utf8'))).toMatchObject({ doNotStartOnReboot: true });
    await clearStopped(d);
    expect(await readStopped(d)).toBeNull();
    await clearStopped(d);
  });

  it('an unreadable or malformed marker still says stopped, and keeps the node down', async () => {
    for (const text of ['{not json', '{"doNotStartOnReboot":"no","deregistered":true,"stoppedAt":"x"}', '{"doNotStartOnReboot":false,"stoppedAt":"x"}', 'null', '']) {
      const d = dir();
      writeFileSync(join(d, STOPPED_STATE_FILE), text);
      expect(await readStopped(d)).toEqual({ doNotStartOnReboot: true, deregistered: true, stoppedAt: 'unknown' });
    }
  });
});

describe('what the agent does with the node when it starts', () => {
  const plain: StoppedState = { doNotStartOnReboot: false, deregistered: true, stoppedAt: 't' };
  const stayDown: StoppedState = { doNotStartOnReboot: true, deregistered: true, stoppedAt: 't' };

  it.each([
    // Not prepared: nothing to bring back, whatever else is on disk.
    [{ prepared: false, running: false, stopped: null }, 'none'],
    [{ prepared: false, running: true, stopped: plain }, 'none'],
    // Agent restarted under a running node: follow K2HR3 again.
    [{ prepared: true, running: true, stopped: null }, 'follow'],
    // VM reboot without stop_db, or after a plain (1.1) stop_db: start it again.
    [{ prepared: true, running: false, stopped: null }, 'start'],
    [{ prepared: true, running: false, stopped: plain }, 'start'],
    // Running although stop_db deregistered it: register again.
    [{ prepared: true, running: true, stopped: plain }, 'rejoin'],
    // 1.0's do_not_start_on_reboot: stays down, running or not.
    [{ prepared: true, running: false, stopped: stayDown }, 'stay-stopped'],
    [{ prepared: true, running: true, stopped: stayDown }, 'stay-stopped'],
  ] as const)('%j -> %s', (node, action) => {
    expect(startupAction(node)).toBe(action);
  });
});
