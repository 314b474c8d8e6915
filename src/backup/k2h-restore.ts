import { dataFileOf } from './k2h-datafile';
import { loadArchivesIntoDataFile } from './k2h-load';
import { stagingRoot } from './naming';
import { discardRestore, restoreBackup } from './restore';
import type { BackupConfig } from '../config/types';
import { BackupError } from '../errors';
import type { ChmpxIni } from '../k2hdkc/ini/model';
import type { CallContext } from '../rpc/types';
import type { CommandRunner } from '../system/command';

export interface RestoreDeps {
  readonly config: Pick<BackupConfig, 'encryptionKey' | 'k2hlinetoolPath'>;
  /** The data volume; the download is staged on it. */
  readonly mountPoint: string;
  readonly runner: CommandRunner;
}

/**
 * Restores prepare's backup_info into this node's data file, after the INI is written and before
 * chmpx/k2hdkc start: HEAD + ETag check, download into staging on the volume, `ar load` into a
 * new data file, swap. Any failure leaves the existing data file as it was and fails prepare.
 */
export async function restoreIntoDataFile(
  deps: RestoreDeps,
  backupInfo: Readonly<Record<string, unknown>>,
  call: CallContext,
  ini: ChmpxIni,
): Promise<void> {
  // prepare's schema bounded these already (src/guest/methods/lifecycle.ts); a restore needs them present.
  const text = (key: string): string | null => (typeof backupInfo[key] === 'string' && backupInfo[key] !== '' ? (backupInfo[key] as string) : null);
  const id = text('id');
  const location = text('location');
  const checksum = text('checksum');
  if (id === null || location === null || checksum === null) {
    throw new BackupError('NOT_FOUND', 'backup_info cannot be restored: it needs id, location and checksum (is the backup COMPLETED?)');
  }
  const info = { id, location, checksum, type: text('type') };
  const token = call.context['auth_token'];
  if (typeof token !== 'string' || token === '') throw new BackupError('SWIFT', 'the prepare request carries no auth token to read the backup from Swift');
  const dataFile = dataFileOf(ini);
  const log = call.log.child({ backupId: info.id });
  log.info({ dataFile: dataFile.path }, 'restoring backup');
  const restored = await restoreBackup({
    backupInfo: { id: info.id, location: info.location, checksum: info.checksum, ...(info.type ? { type: info.type } : {}) },
    token,
    stagingRoot: stagingRoot(deps.mountPoint),
    ...(deps.config.encryptionKey ? { encryptionKey: deps.config.encryptionKey } : {}),
  });
  try {
    const loaded = await loadArchivesIntoDataFile({
      runner: deps.runner,
      k2hlinetool: deps.config.k2hlinetoolPath,
      dataFile,
      archives: restored.archives,
      scratchDir: stagingRoot(deps.mountPoint),
    });
    log.info({ bytes: restored.bytes, archives: restored.archives.length, previousDataFile: loaded.previous }, 'backup restored into the data file');
  } finally {
    await discardRestore(restored.stagingDir);
  }
}
