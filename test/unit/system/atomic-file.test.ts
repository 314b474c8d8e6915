import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SystemError } from '../../../src/errors';
import { writeFileAtomic } from '../../../src/system/atomic-file';

describe('writeFileAtomic', () => {
  it('writes the content with exactly the given mode and leaves no temporary file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'k2h-atomic-'));
    const path = join(dir, 'k2hdkc.conf');
    await writeFileAtomic(path, '[k2hdkc]\nport = 8020\n', 0o640);
    expect(readFileSync(path, 'utf8')).toBe('[k2hdkc]\nport = 8020\n');
    expect(statSync(path).mode & 0o777).toBe(0o640);
    expect(readdirSync(dir)).toEqual(['k2hdkc.conf']);
  });

  it('replaces an existing file (new inode, new mode) rather than rewriting it in place', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'k2h-atomic-'));
    const path = join(dir, 'f');
    writeFileSync(path, 'old old old', { mode: 0o666 });
    const before = statSync(path).ino;
    await writeFileAtomic(path, 'new', 0o600);
    expect(readFileSync(path, 'utf8')).toBe('new');
    expect(statSync(path).ino).not.toBe(before);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('throws SystemError when the directory is missing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'k2h-atomic-'));
    await expect(writeFileAtomic(join(dir, 'missing', 'f'), 'x', 0o640)).rejects.toBeInstanceOf(SystemError);
    expect(readdirSync(dir)).toEqual([]);
  });
});
