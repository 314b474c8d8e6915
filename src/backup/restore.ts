import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BackupError } from '../errors';
import { findArchives } from './archive';
import { safeName } from './create';
import { checkBackupObject, downloadBackupStream } from './stream';
import { SwiftClient, parseLocation } from './swift';

/** The `backup_info` Trove passes to `prepare` (spec trove-datastore.md §5.3). */
export interface RestoreInfo {
  id: string;
  location: string;
  checksum: string;
  type?: string;
}

export interface RestoreBackupOptions {
  backupInfo: RestoreInfo;
  /** The user's token; the storage URL comes from `backup_info.location`. */
  token: string;
  /** A directory on the data volume; a private subdirectory is made in it. */
  stagingRoot: string;
  encryptionKey?: string;
}

export interface RestoredBackup {
  /** The private staging directory; the caller removes it when done (see {@link discardRestore}). */
  stagingDir: string;
  /** Absolute paths of the k2hash archives (`*.k2har`) found in the backup, sorted. */
  archives: string[];
  /** Bytes downloaded. */
  bytes: number;
}

/**
 * Checks the object's ETag against `backup_info.checksum` before reading anything, then streams
 * it (decrypt, gunzip, untar) into a new staging directory. Touches nothing outside that
 * directory; on failure it is removed and the error rethrown. The caller loads the archive(s)
 * into a new data file and swaps it in only after everything succeeded.
 */
export async function restoreBackup(opts: RestoreBackupOptions): Promise<RestoredBackup> {
  const info = opts.backupInfo;
  // `type` is the row's backup_type: `full` from us; older rows may carry a driver name. Only an
  // incremental backup needs its parents, which we do not create or follow.
  if (info.type === 'incremental') {
    throw new BackupError('ARCHIVE', `backup ${info.id} is incremental; only full backups can be restored`);
  }
  const { storageUrl, container, name } = parseLocation(info.location);
  const swift = new SwiftClient({ storageUrl, token: opts.token });
  const target = { swift, container, objectName: name, expectedChecksum: info.checksum, ...(opts.encryptionKey ? { encryptionKey: opts.encryptionKey } : {}) };
  // Refuse a wrong or missing object before creating anything on the volume.
  await checkBackupObject(target);
  await mkdir(opts.stagingRoot, { recursive: true, mode: 0o700 });
  const stagingDir = await mkdtemp(join(opts.stagingRoot, `restore-${safeName(info.id)}-`));
  try {
    const bytes = await downloadBackupStream({ ...target, destDir: stagingDir });
    const archives = (await findArchives(stagingDir)).map((p) => join(stagingDir, p));
    if (archives.length === 0) throw new BackupError('ARCHIVE', `backup ${info.id} holds no k2hash archive (*.k2har)`);
    return { stagingDir, archives, bytes };
  } catch (err) {
    await discardRestore(stagingDir);
    throw err;
  }
}

/** Removes a staging directory made by {@link restoreBackup}. */
export async function discardRestore(stagingDir: string): Promise<void> {
  await rm(stagingDir, { recursive: true, force: true });
}
