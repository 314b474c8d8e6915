import { promises as fs } from 'node:fs';
import { VolumeError } from '../errors';
import { writeFileAtomic } from './atomic-file';
import { escapeOctal, unescapeOctal } from './volume-mountinfo';

/** One fstab(5) line for the data volume. */
export interface FstabEntry {
  /** `UUID=...`: a device path (/dev/vdb) can change when the volume is detached and attached again. */
  readonly spec: string;
  readonly mountPoint: string;
  readonly fsType: string;
  readonly options: string;
  /** fsck pass: 2 = checked after the root filesystem. */
  readonly pass: number;
}

/** The fstab line for `entry` (dump field 0: nothing uses dump(8) any more). */
export function renderFstabLine(entry: FstabEntry): string {
  return [entry.spec, escapeOctal(entry.mountPoint), entry.fsType, entry.options, '0', String(entry.pass)].join('\t');
}

/**
 * Returns fstab text with exactly one line for `entry`: lines with the same mount point or the
 * same spec are dropped (an older UUID after a reformat, a line by device path), everything else
 * is kept byte for byte, and the entry's line goes where the first replaced line was (or at the end).
 * `changed` is false when the text already had exactly that line and nothing to drop.
 */
export function upsertFstabEntry(text: string, entry: FstabEntry): { text: string; changed: boolean } {
  const wanted = renderFstabLine(entry);
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
  const kept: string[] = [];
  let insertAt = -1;
  let matches = 0;
  let identical = false;
  for (const line of lines) {
    const fields = line.trim().startsWith('#') ? [] : line.trim().split(/\s+/);
    const spec = fields[0];
    const mountPoint = fields[1] === undefined ? undefined : unescapeOctal(fields[1]);
    if (spec !== undefined && (spec === entry.spec || mountPoint === entry.mountPoint)) {
      matches += 1;
      if (normalise(line) === normalise(wanted)) identical = true;
      if (insertAt < 0) insertAt = kept.length;
      continue;
    }
    kept.push(line);
  }
  if (matches === 1 && identical) return { text, changed: false };
  kept.splice(insertAt < 0 ? kept.length : insertAt, 0, wanted);
  return { text: `${kept.join('\n')}\n`, changed: true };
}

/**
 * Makes `path` (normally /etc/fstab) carry the entry, written atomically (temp + rename, 0644, as
 * fstab is world-readable) and only when something changed. Throws VolumeError.
 */
export async function persistFstabEntry(path: string, entry: FstabEntry): Promise<boolean> {
  let current = '';
  try {
    current = await fs.readFile(path, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new VolumeError(`Could not read ${path}: ${(cause as Error).message}`, { cause });
    }
  }
  const next = upsertFstabEntry(current, entry);
  if (!next.changed) return false;
  try {
    await writeFileAtomic(path, next.text, 0o644);
  } catch (cause) {
    throw new VolumeError(`Could not update ${path} for ${entry.mountPoint}: ${(cause as Error).message}`, { cause });
  }
  return true;
}

function normalise(line: string): string {
  return line.trim().split(/\s+/).join(' ');
}
