import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentsError, NotSupportedError } from '../errors';
import type { Logger } from '../log';
import { swiftStorageUrl, type SwiftEndpointConfig } from '../backup/endpoint';
import { SwiftClient } from '../backup/swift';
import type { RequestContext } from '../rpc/types';
import { writeFileAtomic } from '../system/atomic-file';

/** One entry of guest_log_list, as Trove's GuestLog.show() (spec §5); returned verbatim to users. */
export interface GuestLogEntry {
  readonly name: string;
  readonly type: 'SYS' | 'USER';
  readonly status: string;
  readonly published: number;
  readonly pending: number;
  readonly container: string;
  readonly prefix: string;
  readonly metafile: string;
}

/** One log Trove can list: the agent's own, chmpx's and k2hdkc's (the supervisor's files). */
export interface GuestLogSource {
  readonly name: string;
  /** null = this guest has no file for it (no daemon_log_dir, no agent log). */
  readonly file: string | null;
  /** Reads the log when it is not a plain file (the agent's journal, agent-log-source.ts); null = none. */
  readonly read?: () => Promise<Buffer | null>;
}

/** The three SYS logs of a K2HDKC guest; chmpx/k2hdkc files exist only with [k2hdkc] daemon_log_dir. */
export function k2hdkcLogSources(agent: string | null | GuestLogSource, daemonLogDir: string | null): GuestLogSource[] {
  return [
    agent !== null && typeof agent === 'object' ? agent : { name: 'guest', file: agent },
    { name: 'chmpx', file: daemonLogDir === null ? null : join(daemonLogDir, 'chmpx.log') },
    { name: 'k2hdkc', file: daemonLogDir === null ? null : join(daemonLogDir, 'k2hdkc.log') },
  ];
}

/** What was published of one log: bytes, the first line's md5 then (rotation check), the objects. */
interface Published {
  size: number;
  headerDigest: string;
  objects: string[];
}

export interface GuestLogsOptions {
  readonly sources: readonly GuestLogSource[];
  readonly guestId: string;
  readonly datastoreManager: string;
  /** Where the published sizes are kept between calls and agent restarts. */
  readonly statePath: string;
  /** How the user's Swift account is found (the backup options: swift_url or the token's catalog). */
  readonly swift: SwiftEndpointConfig;
  /** Trove's guest_log_container_name, guest_log_limit, guest_log_expiry defaults. */
  readonly container?: string;
  readonly chunkLimit?: number;
  readonly expirySeconds?: number;
  readonly log: Logger;
}

/**
 * Trove's guest log semantics (trove/guestagent/guest_log.py) for SYS logs: publish appends what
 * is new since the last publish to Swift as `<guest>/<manager>-<log>/log-<time>` objects (each at
 * most guest_log_limit bytes of whole lines, expiring after guest_log_expiry) plus the JSON
 * metafile, with the user's token; a file that shrank or whose first line changed was rotated,
 * and its old objects are dropped first; discard deletes every published object.
 */
export class GuestLogs {
  private readonly container: string;
  private readonly chunkLimit: number;
  private readonly expirySeconds: number;

  constructor(private readonly options: GuestLogsOptions) {
    this.container = options.container ?? 'database_logs';
    this.chunkLimit = options.chunkLimit ?? 1_000_000;
    this.expirySeconds = options.expirySeconds ?? 2_592_000;
  }

  async list(): Promise<GuestLogEntry[]> {
    const state = await this.loadState();
    return Promise.all(this.options.sources.map((source) => this.view(source, state[source.name])));
  }

  /** guest_log_action: exactly one of the flags is acted on, as Trove's manager does. */
  async action(name: string | null, flags: { enable: boolean; disable: boolean; publish: boolean; discard: boolean }, context: RequestContext): Promise<GuestLogEntry> {
    const source = this.options.sources.find((s) => s.name === name);
    if (source === undefined) throw new InvalidArgumentsError(`No log named '${name ?? ''}'; this guest has ${this.options.sources.map((s) => s.name).join(', ')}.`);
    // SYS logs are always on, as in Trove's own guest.
    if (flags.disable) throw new NotSupportedError(`guest_log_action disable (${source.name} is a SYS log and always enabled)`);
    if (flags.publish) await this.publish(source, context);
    else if (flags.discard) await this.discard(source, context);
    return this.view(source, (await this.loadState())[source.name]);
  }

  private async publish(source: GuestLogSource, context: RequestContext): Promise<void> {
    if (source.file === null) throw new NotSupportedError(`guest_log_action publish (${source.name} has no log file on this guest)`);
    const text = await readSource(source).catch((cause: NodeJS.ErrnoException) => {
      throw new InvalidArgumentsError(`Cannot publish log '${source.name}': ${source.file} cannot be read (${cause.code ?? cause.message}).`);
    });
    if (text === null) throw new InvalidArgumentsError(`Cannot publish log '${source.name}': ${source.file} cannot be read.`);
    const swift = this.swiftFor(context);
    const state = await this.loadState();
    let published = state[source.name] ?? { size: 0, headerDigest: '', objects: [] };
    const digest = headerDigest(text);
    if (published.size > 0 && (text.length < published.size || published.headerDigest !== digest)) {
      this.options.log.info({ log: source.name }, 'log rotated since the last publish; dropping the published objects');
      await this.deleteObjects(swift, published.objects);
      published = { size: 0, headerDigest: '', objects: [] };
    }
    await swift.putContainer(this.container);
    const headers = { 'X-Delete-After': String(this.expirySeconds) };
    for (const chunk of wholeLineChunks(text.subarray(published.size), this.chunkLimit)) {
      const name = `${this.prefix(source)}log-${new Date().toISOString().replace('Z', '')}-${published.objects.length}`;
      await swift.putObject(this.container, name, chunk.bytes, { ...headers, 'X-Object-Meta-Lines': String(chunk.lines) });
      published = { size: published.size + chunk.bytes.length, headerDigest: digest, objects: [...published.objects, name] };
      // Kept after every object: a failure later leaves an accurate 'Partial', not a double upload.
      await this.saveState({ ...state, [source.name]: published });
    }
    // Recorded even when there was nothing to upload (an empty log): discard must find the metafile.
    await this.saveState({ ...state, [source.name]: published });
    const meta = { log_name: source.name, log_type: 'SYS', log_file: source.file, log_size: published.size, log_header_digest: digest };
    await swift.putObject(this.container, this.metafile(source), JSON.stringify(meta), { ...headers, 'Content-Type': 'application/json' });
    this.options.log.info({ log: source.name, published: published.size, objects: published.objects.length }, 'log published to Swift');
  }

  private async discard(source: GuestLogSource, context: RequestContext): Promise<void> {
    const state = await this.loadState();
    const published = state[source.name];
    if (published === undefined) return;
    const swift = this.swiftFor(context);
    await this.deleteObjects(swift, [...published.objects, this.metafile(source)]);
    const { [source.name]: _dropped, ...rest } = state;
    await this.saveState(rest);
    this.options.log.info({ log: source.name }, 'published log discarded');
  }

  private async deleteObjects(swift: SwiftClient, names: readonly string[]): Promise<void> {
    for (const name of names) await swift.deleteObject(this.container, name);
  }

  private swiftFor(context: RequestContext): SwiftClient {
    const token = context['auth_token'];
    if (typeof token !== 'string' || token === '') throw new InvalidArgumentsError('Publishing a log needs the user\'s token in the request context.');
    return new SwiftClient({ storageUrl: swiftStorageUrl(this.options.swift, context), token });
  }

  private async view(source: GuestLogSource, published: Published | undefined): Promise<GuestLogEntry> {
    let text: Buffer | null = null;
    if (source.file !== null) text = await readSource(source).catch(() => null);
    const done = published?.size ?? 0;
    let status: string;
    let pending: number;
    if (text === null) {
      status = 'Unavailable';
      pending = 0;
    } else if (done > 0 && (text.length < done || published?.headerDigest !== headerDigest(text))) {
      status = 'Rotated';
      pending = text.length;
    } else {
      pending = text.length - done;
      status = pending > 0 ? (done > 0 ? 'Partial' : 'Ready') : done > 0 ? 'Published' : 'Enabled';
    }
    return {
      name: source.name,
      type: 'SYS',
      status,
      published: done,
      pending,
      container: done > 0 ? this.container : 'None',
      prefix: done > 0 ? this.prefix(source) : 'None',
      metafile: this.metafile(source),
    };
  }

  private prefix(source: GuestLogSource): string {
    return `${this.options.guestId}/${this.options.datastoreManager}-${source.name}/`;
  }

  private metafile(source: GuestLogSource): string {
    return `${this.prefix(source).replace(/\/$/, '')}_metafile`;
  }

  private async loadState(): Promise<Record<string, Published>> {
    try {
      const value = JSON.parse(await fs.readFile(this.options.statePath, 'utf8')) as unknown;
      return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, Published>) : {};
    } catch {
      return {};
    }
  }

  private async saveState(state: Record<string, Published>): Promise<void> {
    await writeFileAtomic(this.options.statePath, `${JSON.stringify(state)}\n`, 0o640);
  }
}

/** A log's bytes: its reader when it has one, else its file. */
function readSource(source: GuestLogSource): Promise<Buffer | null> {
  if (source.read) return source.read();
  return fs.readFile(source.file as string);
}

/** md5 of the first line, as Trove's _update_log_header_digest (readline keeps the newline). */
function headerDigest(text: Buffer): string {
  const end = text.indexOf(0x0a);
  return createHash('md5').update(end < 0 ? text : text.subarray(0, end + 1)).digest('hex');
}

/** Splits into chunks of whole lines of at most `limit` bytes (a longer single line is its own chunk). */
function* wholeLineChunks(data: Buffer, limit: number): Generator<{ bytes: Buffer; lines: number }> {
  let start = 0;
  let end = 0;
  let lines = 0;
  while (end < data.length) {
    const nl = data.indexOf(0x0a, end);
    const next = nl < 0 ? data.length : nl + 1;
    if (next - start > limit && end > start) {
      yield { bytes: data.subarray(start, end), lines };
      start = end;
      lines = 0;
    }
    end = next;
    lines += 1;
  }
  if (end > start) yield { bytes: data.subarray(start, end), lines };
}
