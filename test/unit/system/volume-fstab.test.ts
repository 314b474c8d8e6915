import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { persistFstabEntry, renderFstabLine, upsertFstabEntry } from '../../../src/system/volume-fstab';

const entry = { spec: 'UUID=1111-aaaa', mountPoint: '/var/lib/antpickax/k2hdkc', fsType: 'ext4', options: 'defaults,noatime', pass: 2 };
const LINE = 'UUID=1111-aaaa\t/var/lib/antpickax/k2hdkc\text4\tdefaults,noatime\t0\t2';
const BASE = '# /etc/fstab\nUUID=root-uuid / ext4 errors=remount-ro 0 1\n';

describe('fstab entries', () => {
  it('appends the line and keeps everything else byte for byte', () => {
    expect(upsertFstabEntry(BASE, entry)).toEqual({ text: `${BASE}${LINE}\n`, changed: true });
    expect(upsertFstabEntry('', entry)).toEqual({ text: `${LINE}\n`, changed: true });
  });

  it('is idempotent, even when the line was written with spaces instead of tabs', () => {
    const once = upsertFstabEntry(BASE, entry).text;
    expect(upsertFstabEntry(once, entry)).toEqual({ text: once, changed: false });
    const spaced = `${BASE}UUID=1111-aaaa  /var/lib/antpickax/k2hdkc ext4 defaults,noatime 0 2\n`;
    expect(upsertFstabEntry(spaced, entry).changed).toBe(false);
  });

  it('replaces an older line for the same mount point in place (a device path, an old UUID)', () => {
    const old = `${BASE}/dev/vdb /var/lib/antpickax/k2hdkc ext3 defaults 0 0\n/dev/vdc /srv ext4 defaults 0 0\n`;
    expect(upsertFstabEntry(old, entry).text).toBe(`${BASE}${LINE}\n/dev/vdc /srv ext4 defaults 0 0\n`);
    const twice = `${BASE}UUID=old /var/lib/antpickax/k2hdkc ext4 defaults 0 2\n${LINE}\n`;
    expect(upsertFstabEntry(twice, entry).text).toBe(`${BASE}${LINE}\n`);
  });

  it('escapes a mount point with a space as fstab(5) does', () => {
    expect(renderFstabLine({ ...entry, mountPoint: '/mnt/my data' })).toContain('/mnt/my\\040data');
    const text = upsertFstabEntry('', { ...entry, mountPoint: '/mnt/my data' }).text;
    expect(upsertFstabEntry(text, { ...entry, mountPoint: '/mnt/my data' }).changed).toBe(false);
  });

  it('persists atomically with mode 0644 and does not rewrite an unchanged file', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'k2h-fstab-')), 'fstab');
    writeFileSync(path, BASE, { mode: 0o600 });
    expect(await persistFstabEntry(path, entry)).toBe(true);
    expect(readFileSync(path, 'utf8')).toBe(`${BASE}${LINE}\n`);
    const st = statSync(path);
    expect(st.mode & 0o777).toBe(0o644);
    expect(await persistFstabEntry(path, entry)).toBe(false);
    expect(statSync(path).ino).toBe(st.ino);
  });
});
