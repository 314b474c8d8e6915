import { promises as fs } from 'node:fs';
import { IniError } from '../../errors';
import { writeFileAtomic } from '../../system/atomic-file';
import { checkInvariants } from './invariants';
import type { NodeRole } from './model';
import { parseIni } from './parse';

/** Options for writeIniAtomically(). */
export interface IniWriteOptions {
  /** The node's role, for the invariants (own entry, [K2HDKC] on servers). */
  readonly role: NodeRole;
  /** File mode; default 0o640 (chmpx and k2hdkc read it, others must not). */
  readonly mode?: number;
}

/** What writeIniAtomically() did. */
export interface IniWriteResult {
  /** False when the file already held exactly this text (no rename, so no chmpx reload). */
  readonly written: boolean;
}

/**
 * Validates `text` against the INI invariants, then replaces `path` by temp file + fsync +
 * rename in the same directory. chmpx watches the file with inotify (IN_MODIFY, no
 * IN_CLOSE_WRITE) and exits on a half-written file (k2hdkc-observed.md), so the file is never
 * rewritten in place. Throws IniError with every reason and leaves the previous file untouched
 * when the text is invalid or cannot be written.
 */
export async function writeIniAtomically(path: string, text: string, options: IniWriteOptions): Promise<IniWriteResult> {
  const reasons = checkInvariants(parseIni(text), options.role);
  if (reasons.length > 0) {
    throw new IniError(`Refusing to write ${path}, the previous file is kept: ${reasons.join('; ')}`, { reasons });
  }
  const current = await fs.readFile(path, 'utf8').catch(() => undefined);
  if (current === text) return { written: false };
  try {
    await writeFileAtomic(path, text, options.mode ?? 0o640);
  } catch (cause) {
    throw new IniError(`Could not write ${path}, the previous file is kept: ${(cause as Error).message}`, { cause });
  }
  return { written: true };
}
