import { promises as fs } from 'node:fs';
import { SystemError } from '../errors';

/** One line of /proc/self/mountinfo (proc(5)), the fields we use. */
export interface MountEntry {
  /** "major:minor" of the mounted filesystem's device. */
  readonly devId: string;
  readonly mountPoint: string;
  readonly fsType: string;
  /** The mount source (e.g. /dev/vdb, /dev/loop3). */
  readonly source: string;
}

/**
 * Parses mountinfo text. Paths escape space, tab, newline and backslash as octal (\040 ...);
 * a variable number of optional fields ends with a lone "-".
 */
export function parseMountinfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const fields = line.split(' ');
    const dash = fields.indexOf('-', 6);
    const devId = fields[2];
    const mountPoint = fields[4];
    const fsType = fields[dash + 1];
    const source = fields[dash + 2];
    if (dash < 0 || devId === undefined || mountPoint === undefined || fsType === undefined || source === undefined) {
      continue;
    }
    entries.push({ devId, mountPoint: unescapeOctal(mountPoint), fsType, source: unescapeOctal(source) });
  }
  return entries;
}

/** Reads and parses a mountinfo file (injectable for tests). Throws SystemError. */
export async function readMountinfo(path = '/proc/self/mountinfo'): Promise<MountEntry[]> {
  try {
    return parseMountinfo(await fs.readFile(path, 'utf8'));
  } catch (cause) {
    throw new SystemError(`Could not read ${path}: ${(cause as Error).message}`, { cause });
  }
}

/** The mount visible at `mountPoint`: the last one wins when mounts are stacked. */
export function findMount(entries: readonly MountEntry[], mountPoint: string): MountEntry | undefined {
  const wanted = stripTrailingSlash(mountPoint);
  let found: MountEntry | undefined;
  for (const entry of entries) if (entry.mountPoint === wanted) found = entry;
  return found;
}

export function unescapeOctal(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** fstab(5) and mountinfo escape the same way: whitespace and backslash as \ooo. */
export function escapeOctal(text: string): string {
  return text.replace(/[\s\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
}

function stripTrailingSlash(path: string): string {
  return path.length > 1 ? path.replace(/\/+$/, '') : path;
}
