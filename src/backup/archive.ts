import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar';
import { BackupError } from '../errors';

/**
 * Where archive entries sit inside the tar: the old integration ran
 * `tar -zcpPf - <datadir>/snapshots/trovebackup` (spec k2hr3-chmpx-k2hdkc.md §3.3) and restored
 * with `tar xzpPf - -C /`, so we write the same absolute names and old tools can read our backups.
 */
export const DEFAULT_ENTRY_PREFIX = '/var/lib/antpickax/k2hdkc/snapshots/trovebackup';

const READ_BLOCK = 1024 * 1024;

/** File name suffix of a k2hash archive (`ar put`). */
export const ARCHIVE_SUFFIX = '.k2har';

/**
 * A tar stream (not compressed) of every file directly in `dir`, each named `<prefix>/<file>`.
 * The caller owns `dir` and must keep it until the stream has ended.
 */
export async function packDirectory(dir: string, prefix: string = DEFAULT_ENTRY_PREFIX): Promise<Readable> {
  const entries = (await readdir(dir)).sort();
  if (entries.length === 0) throw new BackupError('ARCHIVE', `the archive step produced no file in ${dir}`);
  // preservePaths keeps the absolute prefix, as `tar -P` does. tar's Pack is a minipass stream;
  // Readable.from makes it a Node stream (pipeline, destroy) that still pulls only on demand.
  // maxReadSize: tar reads files in 16 MiB blocks by default, several in flight; 1 MiB keeps the
  // agent's memory flat whatever the archive size (bench/backup) at no cost in throughput.
  const pack = tar.create({ cwd: dir, prefix, preservePaths: true, portable: true, maxReadSize: READ_BLOCK }, entries);
  return Readable.from(pack, { objectMode: false });
}

/**
 * Unpacks a tar stream into `dir`. Absolute names lose their leading `/` and `..` entries are
 * refused (tar's default), so nothing lands outside `dir`, whatever the backup contains.
 */
export async function unpackToDirectory(source: Readable, dir: string): Promise<void> {
  const extractor = tar.extract({ cwd: dir, preservePaths: false });
  await new Promise<void>((resolve, reject) => {
    let failed = false;
    const fail = (err: unknown): void => {
      if (failed) return;
      failed = true;
      source.destroy();
      reject(err instanceof BackupError ? err : new BackupError('ARCHIVE', `could not unpack the backup: ${String((err as Error)?.message ?? err)}`, { cause: err }));
    };
    source.on('error', fail);
    extractor.on('error', fail);
    // Not `strict` (it turns even TAR_ENTRY_INFO into an error): every warning fails the restore
    // except TAR_ENTRY_INFO ("stripping / from absolute path", expected for our and the old format).
    extractor.on('warn', (code: string, message: string) => {
      if (code !== 'TAR_ENTRY_INFO') fail(new BackupError('ARCHIVE', `could not unpack the backup: ${message}`));
    });
    extractor.on('close', () => { if (!failed) resolve(); });
    source.pipe(extractor);
  });
}

/** Paths (relative to `dir`) of every k2hash archive under `dir`, sorted. */
export async function findArchives(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && e.name.endsWith(ARCHIVE_SUFFIX)) found.push(relative(dir, p));
    }
  };
  await walk(dir);
  return found.sort();
}
