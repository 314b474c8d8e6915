import { createHash } from 'node:crypto';
import { join } from 'node:path';

/*
 * Object names and checksums as Trove 18's backup image makes them
 * (backup/drivers/base.py `manifest`, backup/storage/swift.py `StreamReader`, `save`).
 */

/** `<backup id><extension>.gz[.enc]`; the extension is the driver's format (ours: `.tar`). */
export function backupObjectName(backupId: string, opts: { encrypted: boolean; extension?: string }): string {
  return `${backupId}${opts.extension ?? '.tar'}.gz${opts.encrypted ? '.enc' : ''}`;
}

/** Segment `n` of an object: the name up to its first dot, then `_%08d`. */
export function segmentName(objectName: string, n: number): string {
  const base = objectName.split('.')[0] ?? objectName;
  return `${base}_${String(n).padStart(8, '0')}`;
}

/**
 * The checksum Trove records: one segment → that segment's MD5 (it is copied to the final name);
 * several → MD5 of the concatenated hex segment MD5s, which is also the SLO's ETag. 32 characters.
 */
export function troveChecksum(segmentMd5s: readonly string[]): string {
  if (segmentMd5s.length === 1) return segmentMd5s[0] as string;
  const h = createHash('md5');
  for (const md5 of segmentMd5s) h.update(md5, 'latin1');
  return h.digest('hex');
}

/** Swift metadata headers: `X-Object-Meta-<key>` with underscores turned into dashes. */
export function metadataHeaders(meta: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(meta)) out[`X-Object-Meta-${k.replace(/_/g, '-')}`] = v;
  return out;
}

/** Where backups and restores are staged on the data volume (the old integration used `<datadir>/snapshots`). */
export function stagingRoot(mountPoint: string): string {
  return join(mountPoint, 'snapshots');
}
