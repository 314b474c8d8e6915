import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { BackupError } from '../errors';
import { unpackToDirectory } from './archive';
import { createDecryptStream, createEncryptStream } from './crypto';
import { metadataHeaders, troveChecksum } from './naming';
import { SegmentWriter } from './segmenter';
import type { SwiftClient, SwiftObjectInfo } from './swift';

/** Bytes handed to Swift so far and the average rate since the start. */
export interface BackupProgress {
  bytes: number;
  bytesPerSecond: number;
}

export interface UploadOptions {
  swift: SwiftClient;
  container: string;
  objectName: string;
  /** Default 2 GiB, as Trove. */
  segmentSize?: number;
  /** Stored as `X-Object-Meta-<key>` (underscores become dashes). */
  metadata?: Record<string, string>;
  /** When set, the stream is encrypted the way Trove 18 decrypts it. */
  encryptionKey?: string;
  onProgress?: (p: BackupProgress) => void;
  /** Minimum time between progress calls. Default 10 s. */
  progressIntervalMs?: number;
  /** Waits between cleanup attempts after a failure (Swift may be briefly away). Default 0.5 s × 20. */
  cleanupDelaysMs?: readonly number[];
  /** Told before each cleanup retry which objects are still there (for logs). */
  onCleanupRetry?: (left: readonly string[], attempt: number) => void;
  /** Stops the upload (agent shutdown); what was uploaded is removed as on any failure. */
  signal?: AbortSignal;
}

export interface UploadResult {
  /** What Trove records as `backup.checksum`: equals the final object's ETag. */
  checksum: string;
  /** `<storage_url>/<container>/<object>`. */
  location: string;
  /** Bytes stored (compressed, encrypted). */
  bytes: number;
  segments: number;
}

export const DEFAULT_SEGMENT_SIZE = 2 * 1024 ** 3;
const DEFAULT_CLEANUP_DELAYS: readonly number[] = Array.from({ length: 20 }, () => 500);

/**
 * Streams `source` (a tar stream) → gzip → optional encryption → Swift segments, then copies the
 * single segment to the final name or writes an SLO manifest, and checks the final ETag against
 * the checksum as Trove computes it. On any failure every segment and the final object are deleted.
 */
export async function uploadBackupStream(source: Readable, opts: UploadOptions): Promise<UploadResult> {
  const { swift, container, objectName } = opts;
  const started = Date.now();
  let lastReport = 0;
  const report = (bytes: number, force = false): void => {
    const now = Date.now();
    if (!opts.onProgress || (!force && now - lastReport < (opts.progressIntervalMs ?? 10_000))) return;
    lastReport = now;
    opts.onProgress({ bytes, bytesPerSecond: bytes / Math.max((now - started) / 1000, 0.001) });
  };
  const writer = new SegmentWriter({
    swift, container, objectName, segmentSize: opts.segmentSize ?? DEFAULT_SEGMENT_SIZE, onBytes: (b) => report(b),
  });
  try {
    await swift.putContainer(container);
    const stages: NodeJS.ReadWriteStream[] = [createGzip()];
    if (opts.encryptionKey) stages.push(createEncryptStream(opts.encryptionKey));
    await pipeline([source, ...stages, writer], opts.signal ? { signal: opts.signal } : {});
    opts.signal?.throwIfAborted();
    const segs = writer.segments;
    const headers = metadataHeaders(opts.metadata ?? {});
    const checksum = troveChecksum(segs.map((s) => s.md5));
    if (segs.length === 1) {
      const only = segs[0]!;
      await swift.copyObject(container, objectName, only.path, headers);
      await swift.deleteObject(container, only.name);
    } else {
      await swift.putSloManifest(container, objectName, segs.map(({ path, etag, size_bytes }) => ({ path, etag, size_bytes })), headers);
    }
    const head = await swift.headObject(container, objectName);
    if (!head) throw new BackupError('NOT_FOUND', `backup object ${container}/${objectName} is missing after the upload`);
    if (head.etag !== checksum) {
      throw new BackupError('CHECKSUM', `backup object ${container}/${objectName}: ETag ${head.etag} differs from checksum ${checksum}`);
    }
    const bytes = segs.reduce((n, s) => n + s.size_bytes, 0);
    report(bytes, true);
    return { checksum, location: swift.objectUrl(container, objectName), bytes, segments: segs.length };
  } catch (caught) {
    // pipeline() rejects with a generic AbortError; the abort's own reason says why.
    const err: unknown = opts.signal?.aborted ? opts.signal.reason : caught;
    source.destroy();
    writer.destroy();
    const left = await removeUploaded(swift, container, [objectName, ...writer.started], opts.cleanupDelaysMs ?? DEFAULT_CLEANUP_DELAYS, opts.onCleanupRetry);
    if (left.length === 0) throw err;
    // The first failure is the one to report; the leftovers are added for the operator.
    const status = err instanceof BackupError ? err.status : undefined;
    throw new BackupError(err instanceof BackupError ? err.kind : 'SWIFT',
      `${(err as Error).message}; could not remove partial backup objects from ${container}: ${left.join(', ')}`,
      { cause: err, ...(status !== undefined ? { status } : {}) });
  }
}

/** Deletes each object, retrying while Swift is unreachable or failing; returns what remains. */
async function removeUploaded(
  swift: SwiftClient, container: string, names: string[], delays: readonly number[],
  onRetry?: (left: readonly string[], attempt: number) => void,
): Promise<string[]> {
  let left = [...new Set(names)];
  for (let attempt = 0; left.length > 0; attempt++) {
    const failed: string[] = [];
    let retryable = false;
    for (const name of left) {
      await swift.deleteObject(container, name).catch((err: unknown) => {
        failed.push(name);
        // Unreachable or 5xx may pass; a refused token (401/403) will not, so do not wait for it.
        const status = err instanceof BackupError ? err.status : undefined;
        if (status === undefined || status >= 500 || status === 408 || status === 429) retryable = true;
      });
    }
    left = failed;
    if (left.length === 0) return left;
    const delay = delays[attempt];
    if (delay === undefined || !retryable) break;
    onRetry?.(left, attempt + 1);
    await sleep(delay);
  }
  return left;
}

export interface DownloadOptions {
  swift: SwiftClient;
  container: string;
  objectName: string;
  /** Trove's `backup.checksum`; the object's ETag must equal it before anything is read. */
  expectedChecksum: string;
  /** Needed when the object name ends in `.enc`. */
  encryptionKey?: string;
  /** An existing empty directory to unpack into. */
  destDir: string;
}

/**
 * HEAD the backup object and compare its ETag with the recorded checksum; also refuses an
 * encrypted object when no key is configured. Reads no content. Returns what HEAD said.
 */
export async function checkBackupObject(
  opts: Pick<DownloadOptions, 'swift' | 'container' | 'objectName' | 'expectedChecksum' | 'encryptionKey'>,
): Promise<SwiftObjectInfo> {
  const { swift, container, objectName } = opts;
  if (objectName.endsWith('.enc') && !opts.encryptionKey) {
    throw new BackupError('CRYPTO', `backup ${objectName} is encrypted but no backup encryption key is configured`);
  }
  const head = await swift.headObject(container, objectName);
  if (!head) throw new BackupError('NOT_FOUND', `backup object ${container}/${objectName} does not exist`);
  if (head.etag !== opts.expectedChecksum) {
    throw new BackupError('CHECKSUM', `backup object ${container}/${objectName}: ETag ${head.etag} differs from the recorded checksum ${opts.expectedChecksum}; restore refused`);
  }
  return head;
}

/**
 * HEAD → compare ETag and checksum → stream GET → decrypt → gunzip → untar into `destDir`.
 * For plain objects the MD5 of the bytes read is checked against the ETag too. Returns bytes read.
 */
export async function downloadBackupStream(opts: DownloadOptions): Promise<number> {
  const { swift, container, objectName } = opts;
  const encrypted = objectName.endsWith('.enc');
  const head = await checkBackupObject(opts);
  const body = await swift.getObject(container, objectName);
  const md5 = createHash('md5');
  let bytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      md5.update(chunk);
      bytes += chunk.length;
      cb(null, chunk);
    },
    flush(cb) {
      // An SLO's ETag is not the MD5 of its content; Swift checks segments against the manifest.
      const digest = md5.digest('hex');
      if (!head.staticLargeObject && digest !== head.etag) {
        cb(new BackupError('CHECKSUM', `backup object ${container}/${objectName}: content MD5 ${digest} differs from its ETag ${head.etag}`));
      } else cb();
    },
  });
  const stages: NodeJS.ReadWriteStream[] = [meter];
  if (encrypted && opts.encryptionKey) stages.push(createDecryptStream(opts.encryptionKey));
  stages.push(createGunzip());
  const tarStream = new Transform({ transform: (c: Buffer, _e, cb) => cb(null, c) });
  await Promise.all([
    pipeline([body, ...stages, tarStream]).catch((err: unknown) => {
      const e = err instanceof BackupError ? err : new BackupError('ARCHIVE', `could not read backup ${objectName}: ${(err as Error).message}`, { cause: err });
      // The unpacker stops on this error too, so Promise.all never waits on a dead stream.
      tarStream.destroy(e);
      throw e;
    }),
    unpackToDirectory(tarStream, opts.destDir),
  ]);
  return bytes;
}
