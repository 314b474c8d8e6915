import { promises as fs } from 'node:fs';
import { SystemError } from '../errors';

/** The reply of `get_filesystem_stats`, exactly as Trove's guest returns it (spec §5). */
export interface FilesystemStats {
  readonly block_size: number;
  readonly total_blocks: number;
  readonly free_blocks: number;
  /** GB (GiB), 2 decimals, at least 0.01 unless the size is 0. */
  readonly total: number;
  /** Bytes, an integer. */
  readonly free: number;
  /** GB (GiB), 2 decimals, at least 0.01 unless the size is 0. */
  readonly used: number;
}

const GIB = 1024 ** 3;

/**
 * Trove's utils.to_gb: bytes -> GiB rounded to 2 places, but never 0.0 for a non-zero size.
 * Python's round() breaks exact ties to even, toFixed upwards; a whole number of bytes over 2^30
 * never lies exactly on a .xx5 tie (25 does not divide 2^27), so the two always agree.
 */
export function toGb(bytes: number): number {
  if (bytes === 0) return 0.0;
  return Math.max(Number((bytes / GIB).toFixed(2)), 0.01);
}

/**
 * Stats of the filesystem holding `path`, with the arithmetic of Trove's
 * dbaas.get_filesystem_volume_stats: f_bfree (root's free blocks, not f_bavail) for free and used.
 * Throws SystemError when the path does not exist or cannot be stat'ed.
 */
export async function getFilesystemStats(path: string): Promise<FilesystemStats> {
  let stats: Awaited<ReturnType<typeof fs.statfs>>;
  try {
    stats = await fs.statfs(path);
  } catch (cause) {
    throw new SystemError(`Filesystem not found (${path}): ${(cause as Error).message}`, { cause });
  }
  return computeFilesystemStats(stats.bsize, stats.blocks, stats.bfree);
}

/** The reply from statvfs-style numbers: block size, total blocks, free blocks (f_bfree). */
export function computeFilesystemStats(blockSize: number, totalBlocks: number, freeBlocks: number): FilesystemStats {
  const total = totalBlocks * blockSize;
  const free = freeBlocks * blockSize;
  return {
    block_size: blockSize,
    total_blocks: totalBlocks,
    free_blocks: freeBlocks,
    total: toGb(total),
    free,
    used: toGb(total - free),
  };
}
