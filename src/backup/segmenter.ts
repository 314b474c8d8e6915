import { createHash, type Hash } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough, Writable } from 'node:stream';
import { BackupError } from '../errors';
import { segmentName } from './naming';
import type { SloSegment, SwiftClient } from './swift';

/** One uploaded segment: its manifest entry plus the MD5 we computed while sending it. */
export interface UploadedSegment extends SloSegment {
  name: string;
  md5: string;
}

export interface SegmentWriterOptions {
  swift: SwiftClient;
  container: string;
  /** The final object name; segments are `<name up to the first dot>_%08d`. */
  objectName: string;
  /** Bytes per segment. */
  segmentSize: number;
  /** Called after every chunk handed to Swift, with the running total. */
  onBytes?: (totalBytes: number) => void;
}

interface OpenSegment {
  name: string;
  body: PassThrough;
  hash: Hash;
  bytes: number;
  put: Promise<string>;
}

/**
 * A Writable that cuts what it receives into segments and streams each one to Swift while it is
 * being written (no temp file, no segment in memory): backpressure flows from the HTTP socket
 * back to the writer. Each segment's ETag must equal the MD5 computed here.
 */
export class SegmentWriter extends Writable {
  readonly segments: UploadedSegment[] = [];
  /** Every segment name a PUT was started for, uploaded or not: what a cleanup must delete. */
  readonly started: string[] = [];
  private current: OpenSegment | undefined;
  private total = 0;

  constructor(private readonly opts: SegmentWriterOptions) {
    super({ highWaterMark: 1 << 16 });
    if (!(opts.segmentSize > 0)) throw new BackupError('SWIFT', 'the segment size must be positive');
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.writeChunk(chunk).then(() => cb(), (err: Error) => cb(err));
  }

  override _final(cb: (err?: Error | null) => void): void {
    const finish = async (): Promise<void> => {
      // Swift needs at least one object to copy or list, even for an empty stream.
      if (!this.current && this.segments.length === 0) this.open();
      if (this.current) await this.close();
    };
    finish().then(() => cb(), (err: Error) => cb(err));
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.current) {
      this.current.body.destroy(err ?? undefined);
      this.current.put.catch(() => undefined);
      this.current = undefined;
    }
    cb(err);
  }

  private async writeChunk(chunk: Buffer): Promise<void> {
    let rest = chunk;
    while (rest.length > 0) {
      const seg = this.current ?? this.open();
      const n = Math.min(rest.length, this.opts.segmentSize - seg.bytes);
      const piece = rest.subarray(0, n);
      rest = rest.subarray(n);
      seg.hash.update(piece);
      seg.bytes += n;
      this.total += n;
      if (!seg.body.write(piece)) await this.drained(seg);
      this.opts.onBytes?.(this.total);
      if (seg.bytes >= this.opts.segmentSize) await this.close();
    }
  }

  /** Waits for the socket to take more, or for the PUT to fail (then the drain never comes). */
  private async drained(seg: OpenSegment): Promise<void> {
    await Promise.race([once(seg.body, 'drain'), seg.put.then(() => { throw segmentEndedEarly(seg.name); })]);
  }

  private open(): OpenSegment {
    const name = segmentName(this.opts.objectName, this.segments.length);
    const body = new PassThrough({ highWaterMark: 1 << 16 });
    const put = this.opts.swift.putObject(this.opts.container, name, body);
    // Observed through drained()/close(); this keeps an early failure from being "unhandled".
    put.catch(() => undefined);
    this.started.push(name);
    this.current = { name, body, hash: createHash('md5'), bytes: 0, put };
    return this.current;
  }

  private async close(): Promise<void> {
    const seg = this.current;
    if (!seg) return;
    this.current = undefined;
    seg.body.end();
    const etag = await seg.put;
    const md5 = seg.hash.digest('hex');
    if (etag !== md5) {
      throw new BackupError('CHECKSUM', `segment ${seg.name}: Swift ETag ${etag} differs from the MD5 sent (${md5})`);
    }
    this.segments.push({ name: seg.name, md5, path: `${this.opts.container}/${seg.name}`, etag, size_bytes: seg.bytes });
  }
}

function segmentEndedEarly(name: string): BackupError {
  return new BackupError('SWIFT', `Swift answered the upload of segment ${name} before it was complete`);
}
