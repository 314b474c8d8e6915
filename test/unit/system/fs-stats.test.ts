import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SystemError } from '../../../src/errors';
import { computeFilesystemStats, getFilesystemStats, toGb } from '../../../src/system/fs-stats';
import { capture } from '../conductor/recording-caster';

const GIB = 1024 ** 3;

describe('toGb (Trove utils.to_gb)', () => {
  it('rounds to 2 decimals of GiB, never below 0.01 for a non-zero size', () => {
    expect(toGb(0)).toBe(0);
    expect(toGb(1)).toBe(0.01);
    expect(toGb(GIB)).toBe(1);
    expect(toGb(1.5 * GIB)).toBe(1.5);
    expect(toGb(GIB * 0.004)).toBe(0.01);
    expect(toGb(GIB * 2.006)).toBe(2.01);
  });
});

describe('computeFilesystemStats', () => {
  it('reproduces the real guests\' replies from their block counts', () => {
    for (const label of [
      'reply from guest 6a1f7c3e to get_filesystem_stats',
      'reply from guest 9d4a0f6b to get_filesystem_stats',
    ]) {
      const reply = capture(label).result_decrypted as Record<string, number>;
      const ours = computeFilesystemStats(reply['block_size'] ?? 0, reply['total_blocks'] ?? 0, reply['free_blocks'] ?? 0);
      expect(ours).toEqual(reply);
      expect(Object.keys(ours)).toEqual(['block_size', 'total_blocks', 'free_blocks', 'total', 'free', 'used']);
    }
  });
});

describe('getFilesystemStats', () => {
  it('agrees with df for a real path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'k2h-fs-'));
    const stats = await getFilesystemStats(dir);
    // df -B1: size = f_blocks*f_frsize, used = (f_blocks - f_bfree)*f_frsize.
    const df = spawnSync('df', ['-B1', '--output=size,used', dir], { encoding: 'utf8' });
    expect(df.status).toBe(0);
    const [size, used] = (df.stdout.trim().split('\n')[1] ?? '').trim().split(/\s+/).map(Number) as [number, number];
    expect(stats.total_blocks * stats.block_size).toBe(size);
    expect(stats.total).toBe(toGb(size));
    // Other processes write to the disk between the two reads: allow 64 MiB of drift.
    expect(Math.abs(size - stats.free - used)).toBeLessThan(64 * 1024 * 1024);
    expect(Math.abs(stats.used - used / GIB)).toBeLessThan(0.08);
    expect(Number.isInteger(stats.free)).toBe(true);
    expect(stats.free).toBe(stats.free_blocks * stats.block_size);
  });

  it('throws SystemError for a missing path', async () => {
    await expect(getFilesystemStats('/nonexistent/k2h/path')).rejects.toBeInstanceOf(SystemError);
    await expect(getFilesystemStats('/nonexistent/k2h/path')).rejects.toThrow(/Filesystem not found \(\/nonexistent\/k2h\/path\)/);
  });
});
