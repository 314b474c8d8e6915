import { randomUUID } from 'node:crypto';
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { deriveAesKey, encryptJson } from '../../../src/rpc/secure';
import { BROKER_URL } from './rabbit';
import { waitFor } from './poll';

/** What every oslo publisher sets (spec §3.3); Trove's side drops messages without it. */
export const OSLO_PROPS = { contentType: 'application/json', contentEncoding: 'utf-8', deliveryMode: 2, priority: 0, headers: {} };

export function hexId(): string {
  return randomUUID().replace(/-/g, '');
}

/** One reply as it arrived on our reply queue, still in oslo's shape. */
export interface RawReply {
  readonly msgId: string;
  readonly message: Record<string, unknown>;
}

/**
 * A raw AMQP peer that plays the controller: publishes bodies of our choosing to a guest's topic
 * and collects every reply on a reply queue of its own, counted per `_msg_id`. The reply queue is
 * durable so it survives a broker restart and a late duplicate would still be counted.
 */
export class RawPeer {
  readonly replyQueue = `reply_conformance_${hexId()}`;
  readonly replies = new Map<string, RawReply[]>();
  /** Bodies on the reply queue that were not an oslo reply at all. */
  readonly junk: Buffer[] = [];
  private conn: ChannelModel | null = null;
  private ch: Channel | null = null;

  constructor(private readonly exchange: string) {}

  /** (Re)connects, declares the reply queue and consumes it. */
  async connect(): Promise<this> {
    const conn = await amqp.connect(BROKER_URL);
    conn.on('error', () => undefined);
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    await ch.assertExchange(this.exchange, 'topic', { durable: false, autoDelete: false });
    await ch.assertQueue(this.replyQueue, { durable: true, autoDelete: false });
    await ch.consume(this.replyQueue, (m) => this.onReply(m), { noAck: true });
    this.conn = conn;
    this.ch = ch;
    return this;
  }

  private onReply(m: ConsumeMessage | null): void {
    if (m === null) return;
    try {
      const outer = JSON.parse(m.content.toString('utf8')) as Record<string, unknown>;
      const message = JSON.parse(String(outer['oslo.message'])) as Record<string, unknown>;
      const msgId = String(message['_msg_id']);
      const list = this.replies.get(msgId) ?? [];
      list.push({ msgId, message });
      this.replies.set(msgId, list);
    } catch {
      this.junk.push(m.content);
    }
  }

  /** Publishes raw bytes to `routingKey` on the control exchange; waits out back-pressure. */
  async publish(routingKey: string, body: Buffer, props: Record<string, unknown> = OSLO_PROPS): Promise<void> {
    const ch = this.ch;
    if (ch === null) throw new Error('RawPeer is not connected');
    if (!ch.publish(this.exchange, routingKey, body, props)) {
      await new Promise<void>((resolve) => ch.once('drain', () => resolve()));
    }
  }

  /** Resolves when every id in `msgIds` has at least one reply. */
  waitForReplies(msgIds: Iterable<string>, timeoutMs = 60_000): Promise<true> {
    const ids = [...msgIds];
    return waitFor(`${ids.length} replies`, () => {
      const missing = ids.filter((id) => !this.replies.has(id)).length;
      return missing === 0 ? true : undefined;
    }, { timeoutMs, intervalMs: 50 });
  }

  /** Deletes the reply queue and closes the connection. */
  async close(): Promise<void> {
    if (this.ch !== null) await this.ch.deleteQueue(this.replyQueue).catch(() => undefined);
    await this.conn?.close().catch(() => undefined);
    this.conn = null;
    this.ch = null;
  }

  /** Drops the connection without cleanup (the broker went away under it). */
  forget(): void {
    this.conn = null;
    this.ch = null;
  }
}

/** Serializes values the way Trove's SecureSerializer does; plain when there is no key. */
export class GuestCodec {
  private readonly aes: Buffer | null;

  constructor(key: string | null) {
    this.aes = key === null ? null : deriveAesKey(key);
  }

  arg(value: unknown): unknown {
    return this.aes === null ? value : encryptJson(value, this.aes);
  }

  /** The `_context_*` fields of a request carrying `context`. */
  context(context: Record<string, unknown>): Record<string, unknown> {
    if (this.aes === null) {
      return Object.fromEntries(Object.entries(context).map(([k, v]) => [`_context_${k}`, v]));
    }
    return { _context_context: encryptJson(context, this.aes) };
  }
}

/** A well-formed oslo 2.0 call body (as Trove's client would send), for the replyQ given. */
export function callBody(
  codec: GuestCodec,
  method: string,
  args: Record<string, unknown>,
  replyQ: string,
  msgId = hexId(),
): { msgId: string; body: Buffer; message: Record<string, unknown> } {
  const message: Record<string, unknown> = {
    method,
    args: Object.fromEntries(Object.entries(args).map(([k, v]) => [k, codec.arg(v)])),
    version: '1.0',
    _msg_id: msgId,
    _reply_q: replyQ,
    _timeout: null,
    _unique_id: hexId(),
    ...codec.context({ request_id: `req-${randomUUID()}`, tenant: 'conformance', roles: [] }),
  };
  const body = Buffer.from(JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': JSON.stringify(message) }));
  return { msgId, body, message };
}
