import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BaseDatastore } from '../../../../src/guest/datastore/base';
import { K2hdkcDatastore, type K2hdkcDatastoreOptions } from '../../../../src/guest/datastore/k2hdkc';
import type { NodeHealth } from '../../../../src/k2hdkc/ctlport/health';
import type { StartupAction } from '../../../../src/k2hdkc/stopped-state';
import { captureLogger } from '../../conductor/recording-caster';
import { call } from '../methods/method-call';

// The start at agent start runs in the background while RPC is served: Trove's reboot sends
// restart as soon as the VM is up, and stop_db (15 s) must not queue behind a start.

/** A manager whose start at agent start goes on until the test finishes it (or its signal aborts it). */
function setup(action: StartupAction) {
  const events: string[] = [];
  let health: NodeHealth = 'shutdown';
  let finish: () => void = () => undefined;
  const manager: K2hdkcDatastoreOptions['manager'] = {
    prepare: async () => undefined,
    status: async () => health,
    restart: async () => {
      events.push('restart');
      health = 'healthy';
    },
    stopDb: async (options) => {
      events.push(`stopDb ${JSON.stringify(options)}`);
      health = 'shutdown';
    },
    startDbWithConfChanges: async () => {
      events.push('startDb');
    },
    resumeAtStart: async (signal, onStarting) => {
      if (action !== 'start') return action;
      onStarting?.();
      events.push('starting');
      await new Promise<void>((resolve, reject) => {
        finish = () => {
          health = 'healthy';
          resolve();
        };
        signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
      events.push('started');
      return action;
    },
    stopFollowing: async () => undefined,
  };
  const dir = mkdtempSync(join(tmpdir(), 'k2h-resume-'));
  const { log, lines } = captureLogger();
  const base = new BaseDatastore({ mountPoint: join(dir, 'data'), stateDir: dir, log });
  const datastore = new K2hdkcDatastore({ manager, base, log });
  const onStarted = async (): Promise<void> => {
    events.push(`beat ${await datastore.status()}`);
  };
  return { datastore, events, lines, onStarted, finish: () => finish() };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('K2hdkcDatastore.resume (agent start on a prepared guest)', () => {
  it('returns once the start is decided; heartbeats say restarting until it is healthy, then a fresh beat says healthy', async () => {
    const { datastore, events, onStarted, finish } = setup('start');
    await datastore.resume(onStarted);
    expect(events).toEqual(['starting']);
    expect(await datastore.status()).toBe('restarting');
    finish();
    await datastore.close();
    expect(events).toEqual(['starting', 'started', 'beat healthy']);
  });

  it('restart (Trove\'s reboot, once the VM is up) waits for the start, then restarts', async () => {
    const { datastore, events, onStarted, finish } = setup('start');
    await datastore.resume(onStarted);
    const restarting = datastore.restart(call('restart'));
    await tick();
    expect(events).toEqual(['starting']);
    expect(await datastore.status()).toBe('restarting');
    finish();
    await restarting;
    // The restart call is already in progress, so that beat says restarting; restart's own beat follows.
    expect(events).toEqual(['starting', 'started', 'beat restarting', 'restart']);
  });

  it('stop_db aborts the start and stops at once; no healthy beat follows', async () => {
    const { datastore, events, lines, onStarted } = setup('start');
    await datastore.resume(onStarted);
    await datastore.stopDb({ doNotStartOnReboot: true }, call('stop_db'));
    expect(events).toEqual(['starting', 'stopDb {"doNotStartOnReboot":true}']);
    expect(await datastore.status()).toBe('shutdown');
    expect(lines().some((l) => l['msg'] === 'starting the node at agent start was aborted (stop_db or agent shutdown)')).toBe(true);
  });

  it('a running node is only followed again; a node told to stay down is left alone', async () => {
    const follow = setup('follow');
    await follow.datastore.resume(follow.onStarted);
    await follow.datastore.close();
    expect(follow.events).toEqual([]);
    expect(follow.lines().some((l) => l['msg'] === 'live reconfiguration resumed')).toBe(true);
    const down = setup('stay-stopped');
    await down.datastore.resume(down.onStarted);
    await down.datastore.close();
    expect(down.events).toEqual([]);
    expect(await down.datastore.status()).toBe('shutdown');
  });
});
