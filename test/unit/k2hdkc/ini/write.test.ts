import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IniError } from '../../../../src/errors';
import { substituteSelf, writeIniAtomically } from '../../../../src/k2hdkc/ini';

const fixture = (name: string): string => readFileSync(join(__dirname, '../../../fixtures/k2hdkc', name), 'utf8');
const GOOD = substituteSelf(fixture('server-trove.ini'), '6fa459ea-ee8a-3ca4-894e-db77e160355e');

describe('writeIniAtomically', () => {
  let dir: string;
  let path: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'k2h-ini-'));
    path = join(dir, 'k2hdkc.ini');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a valid INI with mode 0640 and leaves no temporary file', async () => {
    await expect(writeIniAtomically(path, GOOD, { role: 'server' })).resolves.toEqual({ written: true });
    expect(readFileSync(path, 'utf8')).toBe(GOOD);
    expect(statSync(path).mode & 0o777).toBe(0o640);
    expect(readdirSync(dir)).toEqual(['k2hdkc.ini']);
  });

  it('replaces the file by rename, so a reader holding the old inode keeps the old text', async () => {
    writeFileSync(path, GOOD);
    const before = statSync(path).ino;
    const next = GOOD.replace('REPLICA             = 1', 'REPLICA             = 2');
    await writeIniAtomically(path, next, { role: 'server', mode: 0o600 });
    expect(statSync(path).ino).not.toBe(before);
    expect(readFileSync(path, 'utf8')).toBe(next);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('does not touch the file when the text is unchanged (no needless chmpx reload)', async () => {
    writeFileSync(path, GOOD);
    const before = statSync(path).ino;
    await expect(writeIniAtomically(path, GOOD, { role: 'server' })).resolves.toEqual({ written: false });
    expect(statSync(path).ino).toBe(before);
  });

  it('keeps the previous file and lists every reason when the new INI is invalid', async () => {
    writeFileSync(path, GOOD);
    const bad = GOOD.replace(/\[SLVNODE\][\s\S]*?\n\n/, '').replace(/^MQACK .*\n/m, '');
    const err = await writeIniAtomically(path, bad, { role: 'server' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IniError);
    expect((err as IniError).reasons).toEqual(
      expect.arrayContaining(['no [SLVNODE] section: chmpx will not start without a slave definition']),
    );
    expect((err as IniError).message).toMatch(/previous file is kept/);
    expect(readFileSync(path, 'utf8')).toBe(GOOD);
    expect(readdirSync(dir)).toEqual(['k2hdkc.ini']);
  });

  it('fails with IniError and leaves nothing behind when the directory does not exist', async () => {
    const err = await writeIniAtomically(join(dir, 'missing', 'k2hdkc.ini'), GOOD, { role: 'server' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IniError);
    expect(readdirSync(dir)).toEqual([]);
  });
});
