import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { BackupError } from '../errors';
import type { CommandRunner } from '../system/command';
import { geometryArgs, type K2hDataFile } from './k2h-datafile';

export interface LoadArchivesOptions {
  runner: CommandRunner;
  /** Path of `k2hlinetool` (configurable; tests use the stand-in). */
  k2hlinetool: string;
  /** Where the data file goes and the geometry of a new one. */
  dataFile: K2hDataFile;
  /** k2hash archives (`ar put` output), loaded in this order. */
  archives: readonly string[];
  /** Where the command file is written. */
  scratchDir: string;
  /** Default 60 min: loading is about 3× slower than archiving (spec k2hdkc-observed.md). */
  timeoutMs?: number;
}

export interface LoadedDataFile {
  /** Where the data file that was in place before now is (renamed aside), or null when there was none. */
  previous: string | null;
}

/**
 * Loads the archives into a NEW data file next to K2HFILE (`k2hlinetool -f <new> <geometry> -run`
 * with `ar load` lines and `quit`), then swaps it in by rename. An existing data file is renamed
 * aside, never written; on any failure the new file is removed and the old one is untouched.
 * The node must not be running (the caller restores before starting k2hdkc).
 */
export async function loadArchivesIntoDataFile(opts: LoadArchivesOptions): Promise<LoadedDataFile> {
  const target = opts.dataFile.path;
  if (opts.archives.length === 0) throw new BackupError('ARCHIVE', 'there is no archive to load');
  const dir = dirname(target);
  await fs.mkdir(dir, { recursive: true, mode: 0o750 });
  const suffix = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const fresh = join(dir, `.${basename(target)}.restoring-${suffix}`);
  const scratch = await fs.mkdtemp(join(opts.scratchDir, 'k2har-load-'));
  try {
    const cmdFile = join(scratch, 'commands');
    const lines = opts.archives.map((a) => `ar load ${a}`);
    await fs.writeFile(cmdFile, `${lines.join('\n')}\nquit\n`, { mode: 0o600 });
    const args = ['-f', fresh, ...geometryArgs(opts.dataFile), '-run', cmdFile];
    const res = await opts.runner.run(opts.k2hlinetool, args, { timeoutMs: opts.timeoutMs ?? 60 * 60_000 }).catch((err: unknown) => {
      throw new BackupError('ARCHIVE', `k2hlinetool could not load the backup: ${(err as Error).message}`, { cause: err });
    });
    const errLine = `${res.stdout}\n${res.stderr}`.split('\n').find((l) => l.includes('[ERR]'));
    if (errLine) throw new BackupError('ARCHIVE', `k2hlinetool could not load the backup: ${errLine.trim()}`);
    const st = await fs.stat(fresh).catch(() => undefined);
    if (!st?.isFile()) throw new BackupError('ARCHIVE', `k2hlinetool left no data file at ${fresh}`);
    return await swapIn(fresh, target);
  } catch (err) {
    await fs.rm(fresh, { force: true });
    throw err;
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

/** Renames `fresh` to `target`; an existing target is first renamed aside (and put back if the swap fails). */
async function swapIn(fresh: string, target: string): Promise<LoadedDataFile> {
  const exists = await fs.lstat(target).then(() => true, () => false);
  const previous = exists ? `${target}.before-restore-${new Date().toISOString().replace(/[:.]/g, '')}` : null;
  if (previous !== null) await fs.rename(target, previous);
  try {
    await fs.rename(fresh, target);
  } catch (err) {
    if (previous !== null) await fs.rename(previous, target).catch(() => undefined);
    throw new BackupError('ARCHIVE', `could not put the restored data file in place at ${target}: ${(err as Error).message}`, { cause: err });
  }
  return { previous };
}
