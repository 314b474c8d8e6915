import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { join } from 'node:path';
import { NotSupportedError } from '../errors';
import { DEFAULT_ENTRY_PREFIX, packDirectory } from './archive';
import { backupObjectName } from './naming';
import { uploadBackupStream, type BackupProgress, type UploadResult } from './stream';
import { SwiftClient } from './swift';

/** The `backup_info` Trove casts with `create_backup` (spec trove-datastore.md §5.1). */
export interface BackupInfo {
  id: string;
  backup_type?: string;
  datastore?: string;
  datastore_version?: string;
  swift_container?: string | null;
  parent?: { location: string; checksum: string } | null;
}

/** What `conductor.update_backup` takes, minus guest id and `sent` (the caller adds those). */
export type BackupStatusUpdate =
  | { backup_id: string; state: 'BUILDING'; size: number; backup_type: string }
  | { backup_id: string; state: 'COMPLETED'; size: number; backup_type: string; checksum: string; location: string; success: true }
  | { backup_id: string; state: 'FAILED'; size: number; backup_type: string; success: false };

/** Upload progress plus how much of the archive has been read (tar headers included). */
export interface CreateProgress extends BackupProgress {
  inputBytes: number;
  inputTotal: number;
  /** 0–100, one decimal. */
  percent: number;
}

export interface CreateBackupOptions {
  backupInfo: BackupInfo;
  /** Swift endpoint of the user's project and the user's token (from the RPC context). */
  storageUrl: string;
  token: string;
  /** Used when `backup_info.swift_container` is empty; Trove's default is `database_backups`. */
  defaultContainer?: string;
  /** A directory on the data volume; a private subdirectory is made and removed in it. */
  stagingRoot: string;
  /**
   * Writes the k2hash archive file(s) into the given empty directory, e.g. by running
   * `k2hlinetool -f <K2HFILE> -run` with `ar put <dir>/trovebackup.k2har` and `quit`.
   */
  produceArchive: (dir: string, signal?: AbortSignal) => Promise<void>;
  /**
   * Aborts the backup (agent shutdown): the archive tool is killed, the upload stopped, what
   * reached Swift removed and FAILED reported, as on any other failure.
   */
  signal?: AbortSignal;
  /** GB used on the data volume, reported as `size` (what Trove's own guest reports). */
  sizeGb: number;
  encryptionKey?: string;
  segmentSize?: number;
  /** Tar entry prefix; default the old integration's absolute snapshot directory. */
  entryPrefix?: string;
  onStatus: (update: BackupStatusUpdate) => void | Promise<void>;
  onProgress?: (p: CreateProgress) => void;
  progressIntervalMs?: number;
  cleanupDelaysMs?: readonly number[];
  onCleanupRetry?: (left: readonly string[], attempt: number) => void;
}

/**
 * One `create_backup`: BUILDING → archive → tar | gzip | [encrypt] | Swift → COMPLETED, or
 * FAILED (then rethrows; uploaded segments are already gone). Incremental requests fail as not supported.
 */
export async function createBackup(opts: CreateBackupOptions): Promise<UploadResult> {
  const info = opts.backupInfo;
  const backupType = info.parent ? 'incremental' : (info.backup_type ?? 'full');
  const base = { backup_id: info.id, size: opts.sizeGb, backup_type: backupType };
  await opts.onStatus({ ...base, state: 'BUILDING' });
  let staging: string | undefined;
  const signal = opts.signal;
  try {
    signal?.throwIfAborted();
    if (info.parent || backupType === 'incremental') {
      throw new NotSupportedError('incremental backup');
    }
    await mkdir(opts.stagingRoot, { recursive: true, mode: 0o700 });
    staging = await mkdtemp(join(opts.stagingRoot, `backup-${safeName(info.id)}-`));
    await opts.produceArchive(staging, signal);
    signal?.throwIfAborted();
    const swift = new SwiftClient({ storageUrl: opts.storageUrl, token: opts.token });
    const container = info.swift_container || opts.defaultContainer || 'database_backups';
    const metadata: Record<string, string> = {};
    if (info.datastore) metadata.datastore = info.datastore;
    if (info.datastore_version) metadata.datastore_version = info.datastore_version;
    const packed = await packDirectory(staging, opts.entryPrefix ?? DEFAULT_ENTRY_PREFIX);
    // Percent done = archive bytes read so far / archive size (the output size is not known ahead).
    const inputTotal = await directorySize(staging);
    let inputBytes = 0;
    const source = packed.pipe(new Transform({
      transform(chunk: Buffer, _enc, cb) {
        inputBytes += chunk.length;
        cb(null, chunk);
      },
    }));
    packed.on('error', (err) => source.destroy(err));
    const onProgress = opts.onProgress;
    const result = await uploadBackupStream(source, {
      swift,
      container,
      objectName: backupObjectName(info.id, { encrypted: Boolean(opts.encryptionKey) }),
      metadata,
      ...(opts.encryptionKey ? { encryptionKey: opts.encryptionKey } : {}),
      ...(opts.segmentSize ? { segmentSize: opts.segmentSize } : {}),
      ...(onProgress ? {
        onProgress: (p: BackupProgress) => onProgress({
          ...p, inputBytes, inputTotal, percent: inputTotal > 0 ? Math.min(100, Math.round((inputBytes / inputTotal) * 1000) / 10) : 100,
        }),
      } : {}),
      ...(opts.progressIntervalMs !== undefined ? { progressIntervalMs: opts.progressIntervalMs } : {}),
      ...(opts.cleanupDelaysMs ? { cleanupDelaysMs: opts.cleanupDelaysMs } : {}),
      ...(opts.onCleanupRetry ? { onCleanupRetry: opts.onCleanupRetry } : {}),
      ...(signal ? { signal } : {}),
    });
    await opts.onStatus({ ...base, state: 'COMPLETED', checksum: result.checksum, location: result.location, success: true });
    return result;
  } catch (caught) {
    // Whatever step noticed an abort, its reason is the failure to report.
    const err: unknown = signal?.aborted ? signal.reason : caught;
    // The backup error is what the caller must see; a failing status report must not hide it.
    await Promise.resolve()
      .then(() => opts.onStatus({ ...base, state: 'FAILED', success: false }))
      .catch(() => undefined);
    throw err;
  } finally {
    if (staging) await rm(staging, { recursive: true, force: true });
  }
}

/** Backup ids are UUIDs; anything else is reduced to a safe directory-name fragment. */
export function safeName(id: string): string {
  return id.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
}

/** Bytes in the regular files directly in `dir`. */
async function directorySize(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir)) {
    const st = await stat(join(dir, name));
    if (st.isFile()) total += st.size;
  }
  return total;
}
