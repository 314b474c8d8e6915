import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BackupFields } from '../../../../src/conductor/api';
import { BackupError, CommandError, GuestStateError } from '../../../../src/errors';
import { stagingRoot } from '../../../../src/backup/naming';
import { backupMethods } from '../../../../src/guest/methods/backup';
import { BackupSlot } from '../../../../src/backup/slot';
import { stopDbAbortsBackup } from '../../../../src/datastores/k2hdkc';
import type { CallContext, MethodEntry } from '../../../../src/rpc/types';
import type { CommandOptions, CommandResult, CommandRunner } from '../../../../src/system/command';
import { captureLogger } from '../../conductor/recording-caster';

/** The update_backup casts the conductor got, in order. */
type Update = { backupId: string } & BackupFields;

/**
 * k2hlinetool as a process that never finishes by itself (a large `ar put`): it ends only when
 * killed through the abort signal, the way the real runner reports a stopped command.
 */
class EndlessArchiver implements CommandRunner {
  started = 0;
  run(command: string, args: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
    this.started += 1;
    return new Promise((_resolve, reject) => {
      const stop = (): void => reject(new CommandError(`${command} was stopped`, { command, args: [...args], exitCode: null, stderr: '', timedOut: false }, { cause: options.signal?.reason }));
      if (options.signal?.aborted) stop();
      else options.signal?.addEventListener('abort', stop, { once: true });
    });
  }
}

describe('create_backup refusals and abort', () => {
  let dir: string;
  let updates: Update[];
  let runner: EndlessArchiver;
  let slot: BackupSlot;
  let preparing: boolean;
  let entry: MethodEntry;
  const logs = captureLogger();

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'k2hdkc-backup-methods-'));
    const iniPath = join(dir, 'k2hdkc.ini');
    await writeFile(iniPath, `[K2HDKC]\nK2HFILE = ${join(dir, 'data.k2h')}\n`);
    updates = [];
    runner = new EndlessArchiver();
    slot = new BackupSlot();
    preparing = false;
    [entry] = backupMethods({
      conductor: { updateBackup: async (backupId, fields) => void updates.push({ backupId, ...fields }) },
      config: {
        swiftUrl: 'http://127.0.0.1:9/v1/AUTH_', swiftServiceType: 'object-store', swiftEndpointType: 'publicURL', regionName: 'RegionOne',
        defaultContainer: 'database_backups', segmentSize: 1024 * 1024, encryptionKey: null, k2hlinetoolPath: '/bin/false', progressIntervalMs: 1000,
      },
      iniPath,
      mountPoint: dir,
      runner,
      log: logs.log,
      slot,
      prepareGuard: {
        refuseDuringPrepare: (op) => {
          if (preparing) throw new GuestStateError(`Cannot ${op} now: a prepare is in progress on this guest`);
        },
      },
    }) as [MethodEntry];
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function cast(id: string, signal = new AbortController().signal): Promise<unknown> {
    const call: CallContext = { method: 'create_backup', kind: 'cast', msgId: null, context: { auth_token: 't', project_id: 'p' }, log: logs.log, signal };
    return Promise.resolve(entry.handler({ backup_info: { id } }, call));
  }

  async function until(check: () => boolean): Promise<void> {
    while (!check()) await new Promise((r) => setTimeout(r, 5));
  }

  it('during prepare: nothing starts, the row is set FAILED and the cast fails naming the prepare', async () => {
    preparing = true;
    const err = await cast('b-prep').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackupError);
    expect((err as BackupError).kind).toBe('REFUSED');
    expect((err as Error).message).toMatch(/backup b-prep was not started: Cannot create_backup now: a prepare is in progress/);
    expect(updates).toEqual([{ backupId: 'b-prep', state: 'FAILED', size: 0, backup_type: 'full', success: false }]);
    expect(runner.started).toBe(0);
  });

  it('a second backup while one runs is FAILED; the running one is untouched, also by a redelivery of its own id', async () => {
    const first = cast('b-1').catch((e: unknown) => e);
    await until(() => runner.started === 1);
    const second = await cast('b-2').catch((e: unknown) => e);
    expect((second as Error).message).toMatch(/backup b-1 is still running on this node; backup b-2 was not started/);
    const again = await cast('b-1').catch((e: unknown) => e);
    expect((again as BackupError).kind).toBe('REFUSED');
    expect(updates.map((u) => [u.backupId, u.state])).toEqual([['b-1', 'BUILDING'], ['b-2', 'FAILED']]);
    expect(slot.running).toBe('b-1');

    // Shutdown: the running one is aborted through its signal and reports FAILED; later casts are refused.
    expect(await slot.close('the agent is shutting down', 5000)).toBe('aborted');
    const err = await first;
    expect((err as BackupError).kind).toBe('ABORTED');
    expect((err as Error).message).toBe('backup b-1 aborted: the agent is shutting down');
    expect(updates.map((u) => [u.backupId, u.state])).toEqual([['b-1', 'BUILDING'], ['b-2', 'FAILED'], ['b-1', 'FAILED']]);
    expect(await readdir(stagingRoot(dir))).toEqual([]);
    const late = await cast('b-3').catch((e: unknown) => e);
    expect((late as Error).message).toBe('backup b-3 was not started: the agent is shutting down');
    expect(updates.at(-1)).toMatchObject({ backupId: 'b-3', state: 'FAILED' });
    expect(slot.running).toBeNull();
  });

  it('stop_db (instance delete) aborts the running backup before the node stops; later backups still start', async () => {
    const order: string[] = [];
    const operations = stopDbAbortsBackup({
      restart: async () => undefined,
      startDbWithConfChanges: async () => undefined,
      stopDb: async () => void order.push(`node stopped, backup running: ${String(slot.running)}`),
    }, slot, logs.log);
    const first = cast('b-del').catch((e: unknown) => e);
    await until(() => runner.started === 1);
    const call: CallContext = { method: 'stop_db', kind: 'call', msgId: 'm', context: {}, log: logs.log, signal: new AbortController().signal };
    await operations.stopDb({ doNotStartOnReboot: false }, call);
    expect(order).toEqual(['node stopped, backup running: null']);
    expect(((await first) as Error).message).toBe('backup b-del aborted: stop_db: the node is being stopped (instance delete, reboot or resize)');
    expect(updates.map((u) => [u.backupId, u.state])).toEqual([['b-del', 'BUILDING'], ['b-del', 'FAILED']]);
    expect(await readdir(stagingRoot(dir))).toEqual([]);
    // Not a shutdown: the node's next backup starts.
    const next = cast('b-next').catch((e: unknown) => e);
    await until(() => runner.started === 2);
    expect(slot.running).toBe('b-next');
    expect(await slot.close('end of test', 5000)).toBe('aborted');
    await next;
  });

  it('the RPC server\'s own abort (grace period over) stops the backup the same way', async () => {
    const controller = new AbortController();
    const first = cast('b-rpc', controller.signal).catch((e: unknown) => e);
    await until(() => runner.started === 1);
    controller.abort(new Error('the agent is shutting down'));
    expect(((await first) as Error).message).toBe('the agent is shutting down');
    expect(updates.map((u) => u.state)).toEqual(['BUILDING', 'FAILED']);
    expect(await slot.close('x', 10)).toBe('none');
  });
});
