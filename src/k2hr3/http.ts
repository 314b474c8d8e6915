import http from 'node:http';
import https from 'node:https';
import type { AxiosInstance, AxiosResponse, AxiosStatic, CreateAxiosDefaults } from 'axios';
import { loadOnce } from '../system/load-once';
import { K2hr3Error, type K2hr3ErrorKind } from '../errors';
import type { Logger } from '../log';
import { ERROR_BODY_SCHEMA, type K2hr3Schema, k2hr3Validator } from './schemas';

/** How a K2HR3 client talks HTTP: timeouts, retries and the source address. */
export interface K2hr3HttpOptions {
  /** Per attempt, ms; default 10 000 (the stock scripts use 10 s). */
  timeoutMs?: number;
  /** Attempts for retryable failures (5xx, network, garbage); default 4. */
  attempts?: number;
  /** First backoff, ms, doubled per retry with jitter; default 250. */
  backoffBaseMs?: number;
  /** Backoff cap, ms; default 5 000. */
  backoffMaxMs?: number;
  /**
   * Source address for the connections. K2HR3 identifies a host by the source IP of its
   * requests (spec §1.3.2), so a node with several addresses must pick the one it registers.
   */
  localAddress?: string;
  log?: Logger;
}

/** One request; `endpoint` is the text errors and logs use (no secrets in it). */
export interface K2hr3Request {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  endpoint: string;
  headers?: Record<string, string>;
  params?: Record<string, string>;
  data?: unknown;
  /** The one status that means success. */
  okStatus: number;
  /** json: parse and validate with `schema`; text: return the body; empty: ignore the body. */
  body: 'json' | 'text' | 'empty';
  schema?: K2hr3Schema;
  /** A 404 is an answer (resource absent), not an error: resolves `{ status: 404 }`. */
  notFoundOk?: boolean;
  /** Values scrubbed from any server text quoted in an error (the tokens this request carried). */
  secrets?: readonly string[];
  signal?: AbortSignal;
}

/** A successful answer: `value` is the validated JSON (json), the text (text) or undefined. */
export interface K2hr3Answer {
  status: number;
  value: unknown;
}

const MAX_BODY_BYTES = 8 * 1024 * 1024;

/** Thin axios wrapper: status mapping, body validation, bounded retries with backoff. */
export class K2hr3Http {
  /** axios and its ~70 modules (~10 MiB) are loaded by the first request, not when the agent starts. */
  private readonly client: () => Promise<{ readonly axios: AxiosStatic; readonly instance: AxiosInstance }>;
  private readonly attempts: number;
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;
  private readonly log: Logger | undefined;

  constructor(options: K2hr3HttpOptions = {}) {
    this.attempts = Math.max(1, options.attempts ?? 4);
    this.backoffBaseMs = options.backoffBaseMs ?? 250;
    this.backoffMaxMs = options.backoffMaxMs ?? 5000;
    this.log = options.log;
    const agentOptions = { keepAlive: false, ...(options.localAddress ? { localAddress: options.localAddress } : {}) };
    const defaults: CreateAxiosDefaults = {
      timeout: options.timeoutMs ?? 10_000,
      // Never follow a redirect: it would carry x-auth-token to wherever it points.
      maxRedirects: 0,
      // No module reads the environment (STYLE.md); a proxy, if ever needed, is configuration.
      proxy: false,
      responseType: 'text',
      transformResponse: [(data: unknown) => data],
      validateStatus: () => true,
      maxContentLength: MAX_BODY_BYTES,
      httpAgent: new http.Agent(agentOptions),
      httpsAgent: new https.Agent(agentOptions),
    };
    this.client = loadOnce(async () => {
      const { default: axios } = await import('axios');
      return { axios, instance: axios.create(defaults) };
    });
  }

  /** Sends `req`, retrying what may pass; throws K2hr3Error when it fails for good. */
  async send(req: K2hr3Request): Promise<K2hr3Answer> {
    let last: K2hr3Error | undefined;
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      if (attempt > 1) await this.backoff(attempt - 1, req);
      const outcome = await this.once(req);
      if (!(outcome instanceof K2hr3Error)) return outcome;
      if (!retryable(outcome.kind) || attempt === this.attempts) {
        if (retryable(outcome.kind) && this.attempts > 1) {
          throw new K2hr3Error(outcome.kind, `${outcome.message} (gave up after ${this.attempts} attempts)`, {
            endpoint: outcome.endpoint,
            ...(outcome.status === undefined ? {} : { status: outcome.status }),
            cause: outcome.cause,
          });
        }
        throw outcome;
      }
      last = outcome;
      this.log?.warn({ endpoint: req.endpoint, status: outcome.status, attempt, err: outcome.message }, 'K2HR3 request failed, retrying');
    }
    /* c8 ignore next */
    throw last ?? new K2hr3Error('unavailable', `K2HR3 ${req.endpoint} was not attempted`, { endpoint: req.endpoint });
  }

  private async once(req: K2hr3Request): Promise<K2hr3Answer | K2hr3Error> {
    if (req.signal?.aborted) return aborted(req);
    const { axios, instance } = await this.client();
    let res: AxiosResponse<unknown>;
    try {
      res = await instance.request({
        method: req.method,
        url: req.url,
        headers: req.headers ?? {},
        ...(req.params ? { params: req.params } : {}),
        ...(req.data === undefined ? {} : { data: req.data }),
        ...(req.signal ? { signal: req.signal } : {}),
      });
    } catch (err) {
      if (req.signal?.aborted || axios.isCancel(err)) return aborted(req);
      const detail = axios.isAxiosError(err) ? (err.code ?? err.message) : String(err);
      return new K2hr3Error('unavailable', `K2HR3 ${req.endpoint} could not be reached (${detail})`, {
        endpoint: req.endpoint,
        cause: err,
      });
    }
    this.log?.debug({ endpoint: req.endpoint, status: res.status }, 'K2HR3 answered');
    const text = typeof res.data === 'string' ? res.data : '';
    if (res.status === req.okStatus) return decode(req, res.status, text);
    if (res.status === 404 && req.notFoundOk) return { status: 404, value: undefined };
    return statusError(req, res.status, text);
  }

  private async backoff(retry: number, req: K2hr3Request): Promise<void> {
    const cap = Math.min(this.backoffMaxMs, this.backoffBaseMs * 2 ** (retry - 1));
    // Jitter in [cap/2, cap]: nodes of one cluster start together and should not retry in step.
    const ms = cap / 2 + Math.random() * (cap / 2);
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(aborted(req));
      };
      const timer = setTimeout(() => {
        req.signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      if (req.signal?.aborted) onAbort();
      else req.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

function retryable(kind: K2hr3ErrorKind): boolean {
  return kind === 'unavailable' || kind === 'bad_response';
}

function aborted(req: K2hr3Request): K2hr3Error {
  return new K2hr3Error('aborted', `K2HR3 ${req.endpoint} was aborted`, { endpoint: req.endpoint });
}

function decode(req: K2hr3Request, status: number, text: string): K2hr3Answer | K2hr3Error {
  if (req.body === 'empty') return { status, value: undefined };
  if (req.body === 'text') return { status, value: text };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return new K2hr3Error('bad_response', `K2HR3 ${req.endpoint} answered ${status} with a body that is not JSON`, {
      endpoint: req.endpoint,
      status,
      cause: err,
    });
  }
  if (req.schema) {
    const validate = k2hr3Validator(req.schema);
    if (!validate(json)) {
      const first = validate.errors?.[0];
      const where = first ? `${first.instancePath || '/'} ${first.message ?? ''}`.trim() : 'schema';
      return new K2hr3Error('bad_response', `K2HR3 ${req.endpoint} answered ${status} with an unexpected body (${where})`, {
        endpoint: req.endpoint,
        status,
      });
    }
  }
  return { status, value: json };
}

/** Maps an unexpected status to a K2hr3Error, quoting the server's message without secrets. */
export function statusError(req: Pick<K2hr3Request, 'endpoint' | 'secrets'>, status: number, text: string): K2hr3Error {
  const said = serverMessage(text, req.secrets ?? []);
  const suffix = said ? `: ${said}` : '';
  const options = { endpoint: req.endpoint, status };
  if (status === 401 || status === 403) {
    return new K2hr3Error('auth', `K2HR3 ${req.endpoint} refused the request (${status}; check the token, role membership and source address)${suffix}`, options);
  }
  if (status === 400 || status === 409) {
    return new K2hr3Error('bad_request', `K2HR3 ${req.endpoint} rejected the request (${status})${suffix}`, options);
  }
  if (status === 404) {
    return new K2hr3Error('not_found', `K2HR3 ${req.endpoint} found nothing (404; missing, or denied by policy)${suffix}`, options);
  }
  if (status >= 500 || status === 429 || status === 408) {
    return new K2hr3Error('unavailable', `K2HR3 ${req.endpoint} is unavailable (${status})${suffix}`, options);
  }
  return new K2hr3Error('bad_response', `K2HR3 ${req.endpoint} answered an unexpected ${status}${suffix}`, options);
}

/**
 * The `message` of a K2HR3 error body, shortened and cleaned: the server quotes tokens in some
 * messages ("token(...) is not existed"), so every secret we sent and every long hex run go.
 */
export function serverMessage(text: string, secrets: readonly string[]): string {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return '';
  }
  if (!k2hr3Validator(ERROR_BODY_SCHEMA)(json)) return '';
  let msg = (json as { message: string }).message;
  for (const s of secrets) if (s.length > 0) msg = msg.split(s).join('[Redacted]');
  msg = msg.replace(/[0-9A-Fa-f]{16,}/g, '[Redacted]').replace(/[\u0000-\u001f\u007f]+/g, ' ');
  return msg.length > 300 ? `${msg.slice(0, 300)}…` : msg;
}
