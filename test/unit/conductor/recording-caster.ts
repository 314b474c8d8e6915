import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../../src/log';
import { decryptJson, deriveAesKey, unpackContext } from '../../../src/rpc/secure';
import type { Caster, RequestContext, Serializer } from '../../../src/rpc/types';

export const TEST_KEY = 'k2hdkcTESTkey0123456789abcdefghi';

/** One cast as it would be on the wire: topic plus the decoded oslo.message object. */
export interface WireCast {
  readonly topic: string;
  readonly message: Record<string, unknown>;
}

/**
 * An in-memory Caster that builds the oslo message exactly as a transport would (each kwarg
 * through serializeEntity, the context through serializeContext), round-trips it through JSON
 * and records it. `failNext` makes the next casts reject like a broker outage.
 */
export class RecordingCaster implements Caster {
  readonly casts: WireCast[] = [];
  failNext = 0;

  async cast(
    topic: string,
    method: string,
    args: Readonly<Record<string, unknown>>,
    options: { version?: string; context?: RequestContext; serializer?: Serializer } = {},
  ): Promise<void> {
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new Error('broker unavailable');
    }
    const serializer = options.serializer;
    const wireArgs: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(args)) wireArgs[k] = serializer ? serializer.serializeEntity(v) : v;
    const message = {
      method,
      args: wireArgs,
      version: options.version ?? '1.0',
      _unique_id: randomUUID().replace(/-/g, ''),
      ...(serializer && options.context ? serializer.serializeContext(options.context) : {}),
    };
    this.casts.push({ topic, message: JSON.parse(JSON.stringify(message)) as Record<string, unknown> });
  }

  methods(): string[] {
    return this.casts.map((c) => String(c.message['method']));
  }
}

/** What the conductor's ConductorHostSerializer does: unwrap {"entity", "csz-instance-id"} and decrypt. */
export function decryptConductorArgs(message: Record<string, unknown>, secret: string | null): Record<string, unknown> {
  const args = message['args'] as Record<string, unknown>;
  if (secret === null) return args;
  const key = deriveAesKey(secret);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(args)) {
    const wrapped = JSON.parse(v as string) as { entity: string; 'csz-instance-id': string };
    out[k] = decryptJson(wrapped.entity, key);
  }
  return out;
}

export function decryptConductorContext(message: Record<string, unknown>, secret: string | null): Record<string, unknown> {
  if (secret === null) return unpackContext(message);
  return decryptJson(message['_context_context'], deriveAesKey(secret)) as Record<string, unknown>;
}

/** Decrypted heartbeats in publish order. */
export function heartbeats(caster: RecordingCaster, secret: string | null): { status: string; sent: number }[] {
  return caster.casts
    .filter((c) => c.message['method'] === 'heartbeat')
    .map((c) => {
      const args = decryptConductorArgs(c.message, secret);
      return { status: (args['payload'] as { service_status: string }).service_status, sent: args['sent'] as number };
    });
}

export interface Capture {
  label: string;
  oslo_message: Record<string, unknown>;
  args_decrypted?: Record<string, unknown>;
  conductor_args_decrypted?: Record<string, unknown>;
  context_decrypted?: Record<string, unknown>;
  result_decrypted?: unknown;
}

/** The real captured messages (test/fixtures/trove-rpc-captures.jsonl), by label prefix. */
export function capture(labelPrefix: string): Capture {
  const text = readFileSync(join(__dirname, '../../fixtures/trove-rpc-captures.jsonl'), 'utf8');
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const parsed = JSON.parse(line) as Capture;
    if (parsed.label.startsWith(labelPrefix)) return parsed;
  }
  throw new Error(`no capture labelled ${labelPrefix}`);
}

/** A logger whose JSON lines are collected for assertions. */
export function captureLogger(level = 'debug'): { log: Logger; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  const log = createLogger({ level, destination: stream });
  return {
    log,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
