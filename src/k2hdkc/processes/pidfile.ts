import { promises as fs } from 'node:fs';
import { ProcessError } from '../../errors';
import { writeFileAtomic } from '../../system/atomic-file';

/** Writes `<pid>\n` atomically with mode 0640, like the packaged helpers' /var/run/antpickax/<bin>.pid. */
export async function writePidFile(path: string, pid: number): Promise<void> {
  try {
    await writeFileAtomic(path, `${pid}\n`, 0o640);
  } catch (cause) {
    throw new ProcessError(`Could not write pid file ${path}: ${(cause as Error).message}`, { cause });
  }
}

/** The pid in `path`, or undefined when the file is missing or holds no number. */
export async function readPidFile(path: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await fs.readFile(path, 'utf8')).trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Removes the pid file only if it still names `pid` (a newer process may have replaced it). */
export async function removePidFile(path: string, pid: number): Promise<void> {
  if ((await readPidFile(path)) === pid) await fs.rm(path, { force: true });
}

/**
 * True when `pid` is alive and its command line mentions `command`'s base name: a pid file left
 * by a crash may name a pid the kernel has since given to something else.
 */
export async function isLiveProcess(pid: number, command: string): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8');
    const base = command.split('/').pop() ?? command;
    return cmdline.split('\0').some((arg) => arg === command || arg.endsWith(`/${base}`) || arg === base);
  } catch {
    return false;
  }
}
