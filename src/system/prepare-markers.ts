import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-file';

/**
 * The marker files Trove's Python guest keeps in /opt/trove-guestagent (BaseDbStatus): the start
 * marker is written when prepare begins, the end marker when it has succeeded. After an agent
 * restart the end marker alone decides whether the guest is prepared (and may heartbeat).
 */
export const PREPARE_START_FILE = '.guestagent.prepare.start';
export const PREPARE_END_FILE = '.guestagent.prepare.end';

const MARKER_MODE = 0o640;

export type PrepareMarkers = 'none' | 'started' | 'ended';

/** Records that prepare began (empty file, written atomically). */
export async function markPrepareStarted(stateDir: string): Promise<void> {
  await writeFileAtomic(join(stateDir, PREPARE_START_FILE), '', MARKER_MODE);
}

/** Records that prepare succeeded (empty file, written atomically). */
export async function markPrepareEnded(stateDir: string): Promise<void> {
  await writeFileAtomic(join(stateDir, PREPARE_END_FILE), '', MARKER_MODE);
}

/** What the markers in `stateDir` say: ended wins; started without ended is an interrupted prepare. */
export async function readPrepareMarkers(stateDir: string): Promise<PrepareMarkers> {
  if (await isFile(join(stateDir, PREPARE_END_FILE))) return 'ended';
  if (await isFile(join(stateDir, PREPARE_START_FILE))) return 'started';
  return 'none';
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await fs.stat(path)).isFile();
  } catch {
    return false;
  }
}
