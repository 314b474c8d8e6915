import type { BackupInfo, BackupStatusUpdate } from '../../backup';
import { stagingRoot } from '../../backup/naming';
import { BackupSlot } from '../../backup/slot';
import type { ConductorApi } from '../../conductor/api';
import type { BackupConfig } from '../../config/types';
import { BackupError } from '../../errors';
import type { Logger } from '../../log';
import type { CallContext, MethodEntry } from '../../rpc/types';
import type { CommandRunner } from '../../system/command';
import { getFilesystemStats } from '../../system/fs-stats';
import type { PrepareGuard } from '../prepare/guard';
import { entry } from './entry';

export interface BackupMethodsDeps {
  readonly conductor: Pick<ConductorApi, 'updateBackup'>;
  readonly config: BackupConfig;
  /** The node's INI: [K2HDKC] K2HFILE is what gets archived. */
  readonly iniPath: string;
  /** The data volume: its used GB is the reported size; staging happens on it. */
  readonly mountPoint: string;
  readonly runner: CommandRunner;
  readonly log: Logger;
  /** The node's one backup; the agent keeps it to abort a running backup at shutdown. Default: a private one. */
  readonly slot?: BackupSlot;
  /** A create_backup during prepare is refused (and its row set FAILED); absent = no check. */
  readonly prepareGuard?: Pick<PrepareGuard, 'refuseDuringPrepare'>;
}

/**
 * Trove's create_backup kwargs (a cast, 1.0, spec trove-rpc.md): the kwargs object is closed, as
 * Python's would be; backup_info is Trove-built and stays open, its fields bounded.
 */
export const createBackupSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['backup_info'],
  properties: {
    backup_info: {
      type: 'object',
      maxProperties: 256,
      required: ['id'],
      properties: {
        id: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$' },
        backup_type: { type: 'string', nullable: true, maxLength: 32 },
        datastore: { type: 'string', nullable: true, maxLength: 255 },
        datastore_version: { type: 'string', nullable: true, maxLength: 255 },
        swift_container: { type: 'string', nullable: true, maxLength: 255 },
        parent: {
          type: 'object',
          nullable: true,
          maxProperties: 256,
          properties: { location: { type: 'string', maxLength: 1024 }, checksum: { type: 'string', maxLength: 64 } },
        },
      },
    },
  },
} as const;

interface CreateBackupArgs {
  backup_info: {
    id: string;
    backup_type?: string | null;
    datastore?: string | null;
    datastore_version?: string | null;
    swift_container?: string | null;
    parent?: { location?: string; checksum?: string } | null;
  };
}

/**
 * create_backup (a cast): BUILDING, the node's k2hash archive, the stream to the user's Swift,
 * then COMPLETED or FAILED through the conductor. The dispatcher runs handlers concurrently, so
 * every other call is answered while this runs; one backup at a time per node. A cast gets no
 * reply, so a backup refused before it starts (prepare running, another backup, agent stopping)
 * is reported FAILED too: otherwise its row would stay NEW for ever.
 */
export function backupMethods(deps: BackupMethodsDeps): MethodEntry[] {
  const slot = deps.slot ?? new BackupSlot();
  return [
    entry<CreateBackupArgs>('create_backup', createBackupSchema, async (args, call) => {
      const info = args.backup_info;
      // Checked and claimed without an await in between: two casts cannot both start.
      const reason = refusalReason(deps, slot, info.id);
      if (reason === null) {
        await slot.run(info.id, call.signal, (signal) => runBackup(deps, info, call, signal));
        return null;
      }
      // The same id again (a redelivery) must not fail the backup that is running under it.
      if (slot.running !== info.id) {
        call.log.warn({ backupId: info.id, reason }, 'create_backup refused; reporting the backup FAILED');
        await report(deps, call, { backup_id: info.id, state: 'FAILED', size: 0, backup_type: info.backup_type ?? 'full', success: false });
      }
      throw new BackupError('REFUSED', reason);
    }),
  ];
}

/** Why this create_backup must not start now, or null. */
function refusalReason(deps: BackupMethodsDeps, slot: BackupSlot, id: string): string | null {
  try {
    deps.prepareGuard?.refuseDuringPrepare('create_backup');
  } catch (err) {
    return `backup ${id} was not started: ${(err as Error).message}`;
  }
  return slot.refusal(id);
}

async function runBackup(deps: BackupMethodsDeps, raw: CreateBackupArgs['backup_info'], call: CallContext, signal: AbortSignal): Promise<void> {
  const { config } = deps;
  const log = call.log.child({ backupId: raw.id });
  const info: BackupInfo = {
    id: raw.id,
    ...(raw.backup_type ? { backup_type: raw.backup_type } : {}),
    ...(raw.datastore ? { datastore: raw.datastore } : {}),
    ...(raw.datastore_version ? { datastore_version: raw.datastore_version } : {}),
    swift_container: raw.swift_container ?? null,
    parent: raw.parent?.location ? { location: raw.parent.location, checksum: raw.parent.checksum ?? '' } : null,
  };
  // The pipeline (Swift client, tar, encryption) is loaded by the first backup, not at start.
  const { createBackup, k2hArchiveProducer, readDataFile, swiftStorageUrl } = await import('../../backup');
  const sizeGb = await getFilesystemStats(deps.mountPoint).then((s) => s.used, () => 0);
  // Checked before BUILDING would be wrong: Trove expects BUILDING first, so these failures go
  // through createBackup's FAILED path by failing inside the archive step.
  let storageUrl = '';
  let token = '';
  let setupError: unknown = null;
  try {
    const t = call.context['auth_token'];
    if (typeof t !== 'string' || t === '') throw new BackupError('SWIFT', 'the request carries no auth token for Swift');
    token = t;
    storageUrl = swiftStorageUrl(
      { swiftUrl: config.swiftUrl, serviceType: config.swiftServiceType, endpointType: config.swiftEndpointType, region: config.regionName },
      call.context,
    );
  } catch (err) {
    setupError = err;
  }
  const started = Date.now();
  log.info({ container: info.swift_container || config.defaultContainer, sizeGb }, 'backup started');
  try {
    const result = await createBackup({
      backupInfo: info,
      storageUrl: storageUrl || 'http://invalid.invalid',
      token,
      defaultContainer: config.defaultContainer,
      stagingRoot: stagingRoot(deps.mountPoint),
      produceArchive: async (dir, archiveSignal) => {
        if (setupError !== null) throw setupError;
        const dataFile = await readDataFile(deps.iniPath);
        await k2hArchiveProducer({ runner: deps.runner, k2hlinetool: config.k2hlinetoolPath, k2hfile: dataFile.path, scratchDir: stagingRoot(deps.mountPoint) })(dir, archiveSignal);
        log.info('k2hash archive written; streaming to Swift');
      },
      sizeGb,
      ...(config.encryptionKey ? { encryptionKey: config.encryptionKey } : {}),
      segmentSize: config.segmentSize,
      progressIntervalMs: config.progressIntervalMs,
      onProgress: (p) => log.info({ bytes: p.bytes, percent: p.percent, bytesPerSecond: Math.round(p.bytesPerSecond) }, 'backup progress'),
      onCleanupRetry: (left, attempt) => log.warn({ left, attempt }, 'removing partial backup segments; Swift not answering yet'),
      onStatus: (update) => report(deps, call, update),
      signal,
    });
    log.info({ checksum: result.checksum, location: result.location, bytes: result.bytes, segments: result.segments, seconds: (Date.now() - started) / 1000 }, 'backup completed');
  } catch (err) {
    log.error({ err }, 'backup failed');
    throw err;
  }
}

/** One update_backup cast; a lost report is logged, never thrown over the backup's own outcome. */
async function report(deps: BackupMethodsDeps, call: CallContext, update: BackupStatusUpdate): Promise<void> {
  const { backup_id: backupId, ...fields } = update;
  try {
    await deps.conductor.updateBackup(backupId, fields);
  } catch (err) {
    call.log.error({ err, backupId, state: update.state }, 'could not send update_backup to the conductor');
  }
}
