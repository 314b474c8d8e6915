import axios, { type AxiosInstance, type Method } from 'axios';
import { CliError } from './errors';

/**
 * JSON requests to an OpenStack service with the session's token. Every failure becomes a
 * CliError that names the service, the request and the service's own message (Nova/Trove's
 * `{"itemNotFound": {"message": ...}}`, Neutron's `{"NeutronError": {...}}`, Keystone's
 * `{"error": {...}}`, Glance's plain text), with tokens and secrets scrubbed out.
 */

export interface ServiceRequest {
  method: Method;
  /** Path below the service's base URL, starting with `/`. */
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  params?: Record<string, string>;
  /** Statuses that mean success (default 200..299). */
  ok?: readonly number[];
  /** A 404 resolves to null instead of throwing. */
  notFoundOk?: boolean;
}

const TIMEOUT_MS = 60_000;
const MAX_MESSAGE = 400;

/** Replaces each secret in `text` with `<redacted>` and drops control characters. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 3) out = out.split(s).join('<redacted>');
  return out.replace(/[\u0000-\u0008\u000b-\u001f\u007f]+/g, ' ');
}

/** The human message inside an OpenStack error body, or a cut-down text body. */
export function serviceMessage(data: unknown): string {
  if (typeof data === 'string') {
    const plain = data.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();
    return plain.slice(0, MAX_MESSAGE);
  }
  if (typeof data === 'object' && data !== null) {
    for (const value of Object.values(data as Record<string, unknown>)) {
      if (typeof value === 'object' && value !== null && typeof (value as { message?: unknown }).message === 'string') {
        return String((value as { message: string }).message).slice(0, MAX_MESSAGE);
      }
    }
    const m = (data as { message?: unknown }).message;
    if (typeof m === 'string') return m.slice(0, MAX_MESSAGE);
  }
  return '';
}

export class ServiceClient {
  constructor(
    /** e.g. "Nova"; used in messages. */
    readonly service: string,
    readonly baseUrl: string,
    private readonly token: string,
    private readonly secrets: readonly string[],
    private readonly http: AxiosInstance = axios.create(),
    private readonly defaultHeaders: Record<string, string> = {},
  ) {}

  async request<T>(req: ServiceRequest & { notFoundOk: true }): Promise<T | null>;
  async request<T>(req: ServiceRequest): Promise<T>;
  async request<T>(req: ServiceRequest): Promise<T | null> {
    const url = `${this.baseUrl}${req.path}`;
    const what = `${this.service} ${req.method.toUpperCase()} ${req.path.split('?')[0]}`;
    let res;
    try {
      res = await this.http.request({
        method: req.method,
        url,
        data: req.body,
        params: req.params,
        headers: { Accept: 'application/json', ...(req.body === undefined ? {} : { 'Content-Type': 'application/json' }), ...this.defaultHeaders, ...req.headers, 'X-Auth-Token': this.token },
        timeout: TIMEOUT_MS,
        validateStatus: () => true,
        maxRedirects: 0,
        maxContentLength: 16 * 1024 * 1024,
      });
    } catch (error) {
      throw new CliError('service', `${what} failed: ${scrub((error as Error).message, this.secrets)}`);
    }
    if (res.status === 404 && req.notFoundOk) return null;
    const ok = req.ok ?? [];
    if (ok.length > 0 ? ok.includes(res.status) : res.status >= 200 && res.status < 300) return res.data as T;
    const said = scrub(serviceMessage(res.data), this.secrets);
    const kind = res.status === 404 ? 'not_found' : res.status === 409 ? 'conflict' : 'service';
    throw new CliError(kind, `${what} answered ${res.status}${said ? `: ${said}` : ''}`);
  }
}
