import { Socket } from 'node:net';
import { CtlportError } from '../../errors';
import {
  parseAllStatus,
  parseCommandReply,
  parseSelfStatus,
  type AllStatus,
  type SelfStatus,
} from './parse';

/** Per-request limits; every field is optional. */
export interface CtlportRequestOptions {
  readonly signal?: AbortSignal;
  /** Time to establish the TCP connection; default 1000 ms. */
  readonly connectTimeoutMs?: number;
  /** Time from connect until chmpx has sent its reply and closed; default 3000 ms. */
  readonly readTimeoutMs?: number;
  /** Largest reply accepted (DUMP is about 11 KB); default 1 MiB. */
  readonly maxReplyBytes?: number;
}

/** Where a chmpx control port listens: the node's own NAME address, not 127.0.0.1 (spec §8.7). */
export interface CtlportEndpoint {
  readonly host: string;
  readonly port: number;
}

const DEFAULTS = { connectTimeoutMs: 1000, readTimeoutMs: 3000, maxReplyBytes: 1024 * 1024 };

/**
 * Sends one command on a fresh TCP connection and returns the whole reply. chmpx answers and
 * closes the connection (k2hdkc-observed.md "control-port protocol"), so the reply ends at EOF;
 * it never times out on its side, hence our timers. Throws CtlportError: 'connect' (refused,
 * reset), 'timeout', 'aborted', or 'malformed' (reply too large).
 */
export function sendCtlportCommand(
  endpoint: CtlportEndpoint,
  command: string,
  options: CtlportRequestOptions = {},
): Promise<string> {
  const o = { ...DEFAULTS, ...options };
  const where = `${endpoint.host}:${endpoint.port}`;
  const verb = command.split(/\s+/)[0] ?? command;
  const details = { command: verb, endpoint: where };
  return new Promise<string>((resolve, reject) => {
    if (o.signal?.aborted) {
      reject(new CtlportError('aborted', `${verb} to chmpx at ${where} was cancelled`, details));
      return;
    }
    const socket = new Socket();
    const chunks: Buffer[] = [];
    let size = 0;
    let connected = false;
    let settled = false;
    const finish = (err: CtlportError | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (err) reject(err);
      else resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const onAbort = (): void => finish(new CtlportError('aborted', `${verb} to chmpx at ${where} was cancelled`, details));
    let timer = setTimeout(
      () => finish(new CtlportError('timeout', `No connection to chmpx control port ${where} within ${o.connectTimeoutMs} ms`, details)),
      o.connectTimeoutMs,
    );
    o.signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('connect', () => {
      connected = true;
      clearTimeout(timer);
      timer = setTimeout(
        () => finish(new CtlportError('timeout', `chmpx at ${where} did not finish its ${verb} reply within ${o.readTimeoutMs} ms`, details)),
        o.readTimeoutMs,
      );
      socket.write(`${command}\n`);
    });
    socket.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > o.maxReplyBytes) {
        finish(new CtlportError('malformed', `chmpx at ${where} sent more than ${o.maxReplyBytes} bytes for ${verb}`, details));
        return;
      }
      chunks.push(chunk);
    });
    socket.on('end', () => finish(undefined));
    socket.on('close', () => {
      if (connected) finish(undefined);
    });
    socket.on('error', (cause) => {
      const what = connected ? 'lost the connection to' : 'could not connect to';
      finish(new CtlportError('connect', `${verb}: ${what} chmpx control port ${where}: ${cause.message}`, { ...details, cause }));
    });
    socket.connect(endpoint.port, endpoint.host);
  });
}

/** A server to service out: `host` as ALLSTATUS shows it, and the id CHMPXIDTYPE asks for. */
export interface ServiceOutTarget {
  readonly host: string;
  readonly ctlport: number;
  /** CUSTOM_ID_SEED with CHMPXIDTYPE=CUSTOM (the DBaaS setting), the CUK with CUK (spec §4.5). */
  readonly id: string;
}

/** Options of a CtlportClient: the endpoint plus default limits for every request. */
export interface CtlportClientOptions extends CtlportEndpoint {
  readonly connectTimeoutMs?: number;
  readonly readTimeoutMs?: number;
  readonly maxReplyBytes?: number;
}

/**
 * Typed commands for one chmpx control port. Each call opens its own connection. Commands that
 * answer `SUCCEED` return the trimmed reply (`SUCCEED` or `SUCCEED: <note>`); `ERROR: ...`
 * throws CtlportError('rejected') with the reply text.
 */
export class CtlportClient {
  readonly endpoint: CtlportEndpoint;
  private readonly limits: Omit<CtlportRequestOptions, 'signal'>;

  constructor(options: CtlportClientOptions) {
    this.endpoint = { host: options.host, port: options.port };
    this.limits = {
      ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }),
      ...(options.readTimeoutMs === undefined ? {} : { readTimeoutMs: options.readTimeoutMs }),
      ...(options.maxReplyBytes === undefined ? {} : { maxReplyBytes: options.maxReplyBytes }),
    };
  }

  /** Sends any command and returns the raw reply text. */
  send(command: string, signal?: AbortSignal): Promise<string> {
    return sendCtlportCommand(this.endpoint, command, { ...this.limits, ...(signal ? { signal } : {}) });
  }

  async selfStatus(signal?: AbortSignal): Promise<SelfStatus> {
    return parseSelfStatus(await this.send('SELFSTATUS', signal), this.source('SELFSTATUS'));
  }

  async allStatus(signal?: AbortSignal): Promise<AllStatus> {
    return parseAllStatus(await this.send('ALLSTATUS', signal), this.source('ALLSTATUS'));
  }

  /** `Version 1.0.113 (commit: c569e0e) with OpenSSL` (trimmed). */
  async version(signal?: AbortSignal): Promise<string> {
    const reply = await this.send('VERSION', signal);
    const text = reply.trim();
    if (!text.startsWith('Version ')) parseCommandReply(reply, this.source('VERSION'));
    return text;
  }

  /** SERVICEIN acts on the chmpx that receives it; with AUTOMERGE it also starts the merge. */
  serviceIn(signal?: AbortSignal): Promise<string> {
    return this.command('SERVICEIN', signal);
  }

  /** `SERVICEOUT host:ctlport:<id>`; may be sent to any server chmpx of the ring. */
  serviceOut(target: ServiceOutTarget, signal?: AbortSignal): Promise<string> {
    for (const [what, part] of [['host', target.host], ['id', target.id]] as const) {
      if (!/^[^\s:]+$/.test(part)) {
        return Promise.reject(
          new CtlportError('rejected', `SERVICEOUT ${what} '${part}' is empty or contains a space or colon`, {
            command: 'SERVICEOUT',
            endpoint: `${this.endpoint.host}:${this.endpoint.port}`,
          }),
        );
      }
    }
    return this.command(`SERVICEOUT ${target.host}:${target.ctlport}:${target.id}`, signal);
  }

  merge(signal?: AbortSignal): Promise<string> {
    return this.command('MERGE', signal);
  }

  abortMerge(signal?: AbortSignal): Promise<string> {
    return this.command('ABORTMERGE', signal);
  }

  compMerge(signal?: AbortSignal): Promise<string> {
    return this.command('COMPMERGE', signal);
  }

  /** Suspends automerge on every server chmpx (not SUSPEND, which chmpx does not know). */
  suspendMerge(signal?: AbortSignal): Promise<string> {
    return this.command('SUSPENDMERGE', signal);
  }

  noSuspendMerge(signal?: AbortSignal): Promise<string> {
    return this.command('NOSUSPENDMERGE', signal);
  }

  updateStatus(signal?: AbortSignal): Promise<string> {
    return this.command('UPDATESTATUS', signal);
  }

  private async command(command: string, signal?: AbortSignal): Promise<string> {
    const verb = command.split(' ')[0] ?? command;
    return parseCommandReply(await this.send(command, signal), this.source(verb));
  }

  private source(command: string): { command: string; endpoint: string } {
    return { command, endpoint: `${this.endpoint.host}:${this.endpoint.port}` };
  }
}
