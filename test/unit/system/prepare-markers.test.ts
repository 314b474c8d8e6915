import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  markPrepareEnded,
  markPrepareStarted,
  PREPARE_END_FILE,
  PREPARE_START_FILE,
  readPrepareMarkers,
} from '../../../src/system/prepare-markers';

describe('prepare markers', () => {
  it('use the Python guest\'s file names and go none -> started -> ended', async () => {
    expect(PREPARE_START_FILE).toBe('.guestagent.prepare.start');
    expect(PREPARE_END_FILE).toBe('.guestagent.prepare.end');
    const dir = mkdtempSync(join(tmpdir(), 'k2h-mark-'));
    expect(await readPrepareMarkers(dir)).toBe('none');
    await markPrepareStarted(dir);
    expect(await readPrepareMarkers(dir)).toBe('started');
    await markPrepareEnded(dir);
    expect(await readPrepareMarkers(dir)).toBe('ended');
    expect(statSync(join(dir, PREPARE_END_FILE)).size).toBe(0);
    expect(statSync(join(dir, PREPARE_END_FILE)).mode & 0o777).toBe(0o640);
    expect(existsSync(join(dir, PREPARE_START_FILE))).toBe(true);
  });
});
