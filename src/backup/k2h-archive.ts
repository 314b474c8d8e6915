import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BackupError } from '../errors';
import type { CommandRunner } from '../system/command';

/** The archive name the old integration used (`<datadir>/snapshots/trovebackup/trovebackup.k2har`). */
export const DEFAULT_ARCHIVE_NAME = 'trovebackup.k2har';

export interface K2hArchiveOptions {
  runner: CommandRunner;
  /** Path of `k2hlinetool` (configurable; tests use the stand-in). */
  k2hlinetool: string;
  /** The live K2HFILE of this node (`[K2HDKC] K2HFILE`). */
  k2hfile: string;
  /** Where the command file is written (never inside the archive directory). */
  scratchDir: string;
  archiveName?: string;
  /** Default 30 min: `ar put` of a large file takes a while. */
  timeoutMs?: number;
}

/**
 * An archive producer for createBackup: `k2hlinetool -f <K2HFILE> -ro -run <cmdfile>` with
 * `ar put <dir>/<name>` and `quit` (spec k2hdkc-observed.md: read-only attach of a live file is
 * safe; without `quit` the real tool spins forever). Fails when the tool reports `[ERR]` or
 * leaves no archive.
 */
export function k2hArchiveProducer(opts: K2hArchiveOptions): (dir: string, signal?: AbortSignal) => Promise<void> {
  return async (dir: string, signal?: AbortSignal): Promise<void> => {
    const archive = join(dir, opts.archiveName ?? DEFAULT_ARCHIVE_NAME);
    const scratch = await mkdtemp(join(opts.scratchDir, 'k2har-cmd-'));
    try {
      const cmdFile = join(scratch, 'commands');
      await writeFile(cmdFile, `ar put ${archive}\nquit\n`, { mode: 0o600 });
      const res = await opts.runner.run(opts.k2hlinetool, ['-f', opts.k2hfile, '-ro', '-run', cmdFile], {
        timeoutMs: opts.timeoutMs ?? 30 * 60_000,
        ...(signal ? { signal } : {}),
      });
      const errLine = `${res.stdout}\n${res.stderr}`.split('\n').find((l) => l.includes('[ERR]'));
      if (errLine) throw new BackupError('ARCHIVE', `k2hlinetool could not archive ${opts.k2hfile}: ${errLine.trim()}`);
      const st = await stat(archive).catch(() => undefined);
      if (!st?.isFile()) throw new BackupError('ARCHIVE', `k2hlinetool left no archive at ${archive}`);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  };
}
