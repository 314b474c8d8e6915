import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { SystemError } from '../errors';

/**
 * Writes `data` to `path` so that readers see the old file or the new one, never a partial one:
 * write a temporary file in the same directory with `mode`, fsync it, rename it over `path`,
 * then fsync the directory so the rename survives a crash. Throws SystemError.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    // 'wx' refuses to follow a pre-planted file or symlink at the temporary name.
    const handle = await fs.open(temp, 'wx', mode);
    try {
      await handle.writeFile(data);
      // open() applies the umask; chmod makes the mode exact (e.g. 0640 under umask 027 stays 0640).
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, path);
  } catch (cause) {
    await fs.rm(temp, { force: true }).catch(() => undefined);
    throw new SystemError(`Could not write ${path}: ${(cause as Error).message}`, { cause });
  }
  await syncDirectory(dir);
}

async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await fs.open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself already happened.
  }
}
