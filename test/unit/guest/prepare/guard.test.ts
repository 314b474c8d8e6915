import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GuestStateError } from '../../../../src/errors';
import { BaseDatastore } from '../../../../src/guest/datastore/base';
import { toPrepareRequest } from '../../../../src/guest/methods/lifecycle';
import { K2hdkcDatastore, type K2hdkcDatastoreOptions } from '../../../../src/guest/datastore/k2hdkc';
import { PrepareGuard, refusedDuringPrepare } from '../../../../src/guest/prepare/guard';
import type { NodeHealth } from '../../../../src/k2hdkc/ctlport/health';
import { captureLogger } from '../../conductor/recording-caster';
import { call } from '../methods/method-call';

/** Resolves once `signal` aborts, rejecting with its reason (what a K2HR3 request or start does). */
function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }));
}

describe('PrepareGuard', () => {
  it('refuses other operations only while a prepare runs', async () => {
    const guard = new PrepareGuard();
    let finish: () => void = () => undefined;
    const running = guard.runPrepare(new AbortController().signal, () => new Promise<string>((resolve) => (finish = () => resolve('done'))));
    expect(guard.preparing).toBe(true);
    expect(() => guard.refuseDuringPrepare('restart')).toThrow(GuestStateError);
    expect(() => guard.refuseDuringPrepare('restart')).toThrow(/Cannot restart now: a prepare is in progress/);
    await expect(guard.runPrepare(new AbortController().signal, async () => 'second')).rejects.toThrow(/already running/);
    finish();
    expect(await running).toBe('done');
    expect(guard.preparing).toBe(false);
    expect(() => guard.refuseDuringPrepare('restart')).not.toThrow();
  });

  it('abortPrepare cancels the running prepare, waits for it, and the prepare fails naming the operation', async () => {
    const guard = new PrepareGuard();
    const order: string[] = [];
    const running = guard.runPrepare(new AbortController().signal, async (signal) => {
      try {
        await untilAborted(signal);
      } finally {
        // A prepare winding down (stopping what it started) takes a moment.
        await new Promise((r) => setTimeout(r, 20));
        order.push('prepare wound down');
      }
    });
    const settled = running.catch((error: unknown) => error);
    expect(await guard.abortPrepare('stop_db', 2000)).toBe('aborted');
    order.push('abort returned');
    const error = await settled;
    expect(error).toBeInstanceOf(GuestStateError);
    expect((error as Error).message).toBe('The prepare was aborted by stop_db before the node was ready.');
    expect(order).toEqual(['prepare wound down', 'abort returned']);
    expect(await guard.abortPrepare('stop_db', 10)).toBe('none');
  });

  it('abortPrepare gives up waiting after waitMs when the prepare ignores the signal', async () => {
    const guard = new PrepareGuard();
    let finish: () => void = () => undefined;
    const running = guard.runPrepare(new AbortController().signal, () => new Promise<void>((resolve) => (finish = resolve)));
    expect(await guard.abortPrepare('stop_db', 20)).toBe('still-running');
    finish();
    // It finished without noticing; the abort still decides what the prepare reports.
    await expect(running).rejects.toThrow(/aborted by stop_db/);
  });

  it('refusedDuringPrepare: wrapped methods answer normally, but are refused by name while a prepare runs', async () => {
    const guard = new PrepareGuard();
    const [resize] = refusedDuringPrepare(guard, [{ name: 'resize_fs', schema: {}, handler: (args) => ({ resized: args['online'] }) }]);
    if (resize === undefined) throw new Error('no entry');
    expect(resize.name).toBe('resize_fs');
    expect(resize.handler({ online: true }, call('resize_fs'))).toEqual({ resized: true });
    let finish: () => void = () => undefined;
    const running = guard.runPrepare(new AbortController().signal, () => new Promise<void>((resolve) => (finish = resolve)));
    expect(() => resize.handler({ online: true }, call('resize_fs'))).toThrow(/Cannot resize_fs now: a prepare is in progress/);
    finish();
    await running;
    expect(resize.handler({ online: false }, call('resize_fs'))).toEqual({ resized: false });
  });

  it('a prepare failing on its own keeps its own error', async () => {
    const guard = new PrepareGuard();
    await expect(guard.runPrepare(new AbortController().signal, async () => {
      throw new Error('K2HR3 said 401');
    })).rejects.toThrow('K2HR3 said 401');
    expect(guard.preparing).toBe(false);
  });
});

describe('K2hdkcDatastore during a prepare', () => {
  function setup() {
    const dir = mkdtempSync(join(tmpdir(), 'k2h-guard-'));
    const { log, lines } = captureLogger();
    const events: string[] = [];
    let health: NodeHealth = 'shutdown';
    const manager: K2hdkcDatastoreOptions['manager'] = {
      // Like the real prepare: K2HR3 and the process start follow the signal.
      prepare: async (_request, auth) => {
        events.push('prepare started');
        try {
          await untilAborted(auth.signal as AbortSignal);
        } finally {
          events.push('prepare ended');
        }
      },
      status: async () => health,
      restart: async () => {
        events.push('restart');
      },
      stopDb: async () => {
        events.push('stopDb');
        health = 'shutdown';
      },
      startDbWithConfChanges: async () => {
        events.push('startDb');
      },
      resumeAtStart: async () => 'none',
      stopFollowing: async () => undefined,
    };
    const base = new BaseDatastore({ mountPoint: join(dir, 'data'), stateDir: dir, log });
    const datastore = new K2hdkcDatastore({ manager, base, log });
    return { datastore, events, lines };
  }

  it('restart and start_db_with_conf_changes are refused with "prepare in progress" and touch nothing', async () => {
    const { datastore, events } = setup();
    const preparing = datastore.prepare(toPrepareRequest({}), call('prepare')).catch((e: unknown) => e);
    await new Promise((r) => setImmediate(r));
    await expect(datastore.restart(call('restart'))).rejects.toThrow(/Cannot restart now: a prepare is in progress/);
    await expect(datastore.startDbWithConfChanges('[k2hdkc]\n', call('start_db_with_conf_changes'))).rejects.toThrow(
      /Cannot start_db_with_conf_changes now: a prepare is in progress/,
    );
    expect(events).toEqual(['prepare started']);
    // Cleanup: stop_db ends the prepare.
    await datastore.stopDb({ doNotStartOnReboot: false }, call('stop_db'));
    await preparing;
  });

  it('stop_db aborts the prepare, lets it wind down, then stops; the prepare fails naming stop_db', async () => {
    const { datastore, events, lines } = setup();
    const preparing = datastore.prepare(toPrepareRequest({}), call('prepare')).catch((e: unknown) => e);
    await new Promise((r) => setImmediate(r));
    await datastore.stopDb({ doNotStartOnReboot: false }, call('stop_db'));
    expect(events).toEqual(['prepare started', 'prepare ended', 'stopDb']);
    const error = await preparing;
    expect(error).toBeInstanceOf(GuestStateError);
    expect((error as Error).message).toMatch(/aborted by stop_db/);
    expect(lines().some((l) => l['msg'] === 'stop_db arrived during prepare; prepare aborted')).toBe(true);
    // Afterwards the node operations are served again.
    await datastore.restart(call('restart'));
    expect(events.at(-1)).toBe('restart');
  });
});
