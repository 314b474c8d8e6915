import { Transform, type Readable } from 'node:stream';
import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import { BackupError } from '../errors';

/** Where and as whom to talk to Swift: the user's token and the account's storage URL. */
export interface SwiftOptions {
  /** e.g. `http://swift:8080/v1/AUTH_<project>`; no trailing slash needed. */
  storageUrl: string;
  token: string;
  /**
   * Per request: how long Swift may stay silent. For streamed uploads it counts from the last
   * chunk Swift took (axios's own timeout is wall-clock and would cut long uploads). Default 60 s.
   */
  timeoutMs?: number;
}

/** What HEAD tells about an object. */
export interface SwiftObjectInfo {
  /** Without the quotes Swift puts around it. */
  etag: string;
  contentLength: number;
  staticLargeObject: boolean;
  /** Lower-case header names. */
  headers: Record<string, string>;
}

/** One entry of a Static Large Object manifest (`?multipart-manifest=put`). */
export interface SloSegment {
  /** `<container>/<segment object>` */
  path: string;
  etag: string;
  size_bytes: number;
}

type Body = Readable | Buffer | string;

/**
 * A small Swift object client over axios. Every answer is checked; errors name the operation and
 * object but never the token. Redirects are off: follow-redirects would buffer streamed bodies.
 */
export class SwiftClient {
  readonly storageUrl: string;
  private readonly http: AxiosInstance;
  private readonly timeoutMs: number;

  constructor(opts: SwiftOptions) {
    this.storageUrl = opts.storageUrl.replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.http = axios.create({
      baseURL: this.storageUrl,
      timeout: this.timeoutMs,
      headers: { 'X-Auth-Token': opts.token },
      maxRedirects: 0,
      maxBodyLength: Infinity,
      maxContentLength: Infinity,
      validateStatus: () => true,
      // Bodies are sent as given; axios must not JSON-encode or transform them.
      transformRequest: [(data: unknown) => data],
      transformResponse: [(data: unknown) => data],
    });
  }

  /** Full URL of an object, as Trove stores it in `backup.location`. */
  objectUrl(container: string, name: string): string {
    return `${this.storageUrl}/${objectPath(container, name)}`;
  }

  /** PUT container; 201 (created) and 202 (exists) are both fine. */
  async putContainer(container: string): Promise<void> {
    const res = await this.send('create container', container, () =>
      this.http.put(encodeURIComponent(container), undefined, { headers: { 'Content-Length': '0' } }),
    );
    expectStatus(res, [201, 202, 204], 'create container', container);
  }

  /** PUT an object (a Readable is streamed chunked); returns Swift's ETag (the MD5 of the body). */
  async putObject(container: string, name: string, body: Body, headers: Record<string, string> = {}): Promise<string> {
    const h: Record<string, string> = { 'Content-Type': 'application/octet-stream', ...headers };
    let res: AxiosResponse<unknown>;
    if (typeof body === 'string' || Buffer.isBuffer(body)) {
      h['Content-Length'] = String(Buffer.byteLength(body));
      res = await this.send('upload', `${container}/${name}`, () => this.http.put(objectPath(container, name), body, { headers: h }));
    } else {
      const idle = idleGuard(body, this.timeoutMs);
      try {
        res = await this.send('upload', `${container}/${name}`, () =>
          this.http.put(objectPath(container, name), idle.data, { headers: h, timeout: 0, signal: idle.signal }),
        );
      } finally {
        idle.stop();
      }
    }
    expectStatus(res, [201], 'upload', `${container}/${name}`);
    return etagOf(res, 'upload', `${container}/${name}`);
  }

  /** Server-side copy of `fromPath` (`<container>/<object>`) to a new object, with new metadata. */
  async copyObject(container: string, name: string, fromPath: string, headers: Record<string, string> = {}): Promise<void> {
    await this.putObject(container, name, '', { ...headers, 'X-Copy-From': `/${encodeURI(fromPath)}` });
  }

  /** Writes a Static Large Object manifest; Swift checks every segment's ETag and size. */
  async putSloManifest(container: string, name: string, segments: SloSegment[], headers: Record<string, string> = {}): Promise<void> {
    const body = JSON.stringify(segments);
    const res = await this.send('write manifest', `${container}/${name}`, () =>
      this.http.put(`${objectPath(container, name)}?multipart-manifest=put`, body, {
        headers: { ...headers, 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) },
      }),
    );
    expectStatus(res, [201], 'write manifest', `${container}/${name}`);
  }

  /** HEAD an object; null when it does not exist. */
  async headObject(container: string, name: string): Promise<SwiftObjectInfo | null> {
    const what = `${container}/${name}`;
    const res = await this.send('inspect', what, () => this.http.head(objectPath(container, name)));
    if (res.status === 404) return null;
    expectStatus(res, [200, 204], 'inspect', what);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers[k.toLowerCase()] = v;
    return {
      etag: etagOf(res, 'inspect', what),
      contentLength: Number(headers['content-length'] ?? '0'),
      staticLargeObject: headers['x-static-large-object'] === 'True' || headers['x-static-large-object'] === 'true',
      headers,
    };
  }

  /** GET an object as a stream (the caller must consume or destroy it). */
  async getObject(container: string, name: string): Promise<Readable> {
    const what = `${container}/${name}`;
    const res = await this.send('download', what, () =>
      this.http.get<Readable>(objectPath(container, name), { responseType: 'stream' }),
    );
    if (res.status !== 200) {
      res.data.destroy();
      expectStatus(res, [200], 'download', what);
    }
    return res.data;
  }

  /** DELETE an object (its segments too when `manifest`); a missing object is not an error. */
  async deleteObject(container: string, name: string, opts: { manifest?: boolean } = {}): Promise<void> {
    const what = `${container}/${name}`;
    const query = opts.manifest ? '?multipart-manifest=delete' : '';
    const res = await this.send('delete', what, () => this.http.delete(`${objectPath(container, name)}${query}`));
    expectStatus(res, [200, 204, 404], 'delete', what);
  }

  /** Runs one request; network failures become BackupError without the request config (it holds the token). */
  private async send<T>(op: string, what: string, fn: () => Promise<AxiosResponse<T>>): Promise<AxiosResponse<T>> {
    try {
      return await fn();
    } catch (err) {
      const e = err as { code?: string; message?: string };
      const reason = e.code ?? e.message ?? 'unknown error';
      throw new BackupError('SWIFT', `Swift ${op} of ${what} at ${redactBase(this.storageUrl)} failed: ${reason}`, {
        cause: new Error(reason),
      });
    }
  }
}

/**
 * Passes `body` through a Transform that restarts a timer on every chunk the socket takes; when
 * Swift stays silent for `ms` (stalled upload or no answer after the end) the request is aborted.
 */
function idleGuard(body: Readable, ms: number): { data: Readable; signal: AbortSignal; stop(): void } {
  const ctl = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => ctl.abort(new Error(`no progress for ${ms} ms`)), ms);
  };
  const data = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      arm();
      cb(null, chunk);
    },
  });
  body.on('error', (err) => data.destroy(err));
  body.pipe(data);
  arm();
  return { data, signal: ctl.signal, stop: () => { if (timer) clearTimeout(timer); } };
}

/** Splits a Trove backup location `<storage_url>/<container>/<object>` (as Trove's API does). */
export function parseLocation(location: string): { storageUrl: string; container: string; name: string } {
  const parts = location.split('/');
  const name = parts.pop();
  const container = parts.pop();
  if (!name || !container || parts.length < 3) {
    throw new BackupError('NOT_FOUND', `backup location is not <storage_url>/<container>/<object>: ${redactBase(location)}`);
  }
  return { storageUrl: parts.join('/'), container: decodeURIComponent(container), name: decodeURIComponent(name) };
}

function objectPath(container: string, name: string): string {
  return `${encodeURIComponent(container)}/${name.split('/').map(encodeURIComponent).join('/')}`;
}

function expectStatus(res: AxiosResponse<unknown>, ok: number[], op: string, what: string): void {
  if (ok.includes(res.status)) return;
  const kind = res.status === 404 ? 'NOT_FOUND' : 'SWIFT';
  throw new BackupError(kind, `Swift ${op} of ${what} answered HTTP ${res.status}`, { status: res.status });
}

function etagOf(res: AxiosResponse<unknown>, op: string, what: string): string {
  const raw = res.headers['etag'];
  if (typeof raw !== 'string' || raw === '') {
    throw new BackupError('SWIFT', `Swift ${op} of ${what} answered without an ETag`, { status: res.status });
  }
  return raw.replace(/^"|"$/g, '');
}

/** Userinfo never belongs in a message; the storage URL itself is not secret. */
function redactBase(url: string): string {
  return url.replace(/\/\/[^/@]*@/, '//[Redacted]@');
}
