import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import type { MessagingConfig, RabbitConfig } from '../../src/config/types';
import { createLogger, type Logger } from '../../src/log';
import type { RequestContext, Serializer } from '../../src/rpc/types';

/** The test broker (TEAM.md): RabbitMQ on loopback, guest/guest, vhost '/'. */
export const BROKER_URL = 'amqp://guest:guest@127.0.0.1:5672/';

/** uuid4 hex, as oslo writes `_msg_id`, `_unique_id` and reply queue names. */
export function hex(): string {
  return randomUUID().replace(/-/g, '');
}

/** A MessagingConfig for the test broker with oslo's defaults; override any rabbit flag. */
export function testMessaging(
  overrides: Partial<Omit<MessagingConfig, 'rabbit'>> & { rabbit?: Partial<RabbitConfig> } = {},
): MessagingConfig {
  const { rabbit, ...rest } = overrides;
  return {
    transportUrl: {
      hosts: [{ host: '127.0.0.1', port: 5672, username: 'guest', password: 'guest' }],
      vhost: '/',
      scheme: 'rabbit',
    },
    controlExchange: `test-${hex().slice(0, 12)}`,
    conductorQueue: 'trove-conductor',
    ...rest,
    rabbit: {
      amqpDurableQueues: false,
      amqpAutoDelete: false,
      rabbitHaQueues: false,
      rabbitQuorumQueue: false,
      rabbitTransientQueuesTtl: 1800,
      rabbitQosPrefetchCount: 0,
      ssl: false,
      sslCaFile: null,
      sslCertFile: null,
      sslKeyFile: null,
      heartbeatTimeoutThreshold: 60,
      ...rabbit,
    },
  };
}

/** A logger whose JSON lines are kept in `lines` (pino's sink() idea), for asserting on logs. */
export function memoryLogger(level = 'debug'): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line));
      done();
    },
  });
  return { log: createLogger({ level, destination }), lines };
}

/** A decoded reply: the inner oslo message plus the AMQP properties it came with. */
export interface ReceivedReply {
  readonly message: Record<string, unknown>;
  readonly properties: ConsumeMessage['properties'];
  readonly exchange: string;
  readonly body: Buffer;
}

/**
 * Plays the controller's side the way oslo's RPC client does: one `reply_<hex>` queue
 * (durable false, auto_delete false, x-expires 1800000; spec §2.3), calls and casts
 * published to the control exchange with kombu's properties, replies collected by `_msg_id`.
 */
export class OsloTestClient {
  readonly replyQ = `reply_${hex()}`;
  readonly replies: ReceivedReply[] = [];
  private waiters: Array<() => void> = [];

  private constructor(
    private readonly model: ChannelModel,
    readonly channel: Channel,
    readonly exchange: string,
  ) {}

  static async open(exchange: string): Promise<OsloTestClient> {
    const model = await amqp.connect(BROKER_URL);
    const channel = await model.createChannel();
    const client = new OsloTestClient(model, channel, exchange);
    await channel.assertQueue(client.replyQ, { durable: false, autoDelete: false, arguments: { 'x-expires': 1800000 } });
    await channel.consume(client.replyQ, (msg) => msg && client.receive(msg), { noAck: true });
    return client;
  }

  private receive(msg: ConsumeMessage): void {
    const outer = JSON.parse(msg.content.toString('utf8')) as Record<string, unknown>;
    const message = JSON.parse(String(outer['oslo.message'])) as Record<string, unknown>;
    this.replies.push({ message, properties: msg.properties, exchange: msg.fields.exchange, body: msg.content });
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Replies received for msgId so far. */
  repliesFor(msgId: string): ReceivedReply[] {
    return this.replies.filter((r) => r.message['_msg_id'] === msgId);
  }

  /** Resolves with the first reply for msgId; rejects after timeoutMs. */
  async waitReply(msgId: string, timeoutMs = 15_000): Promise<ReceivedReply> {
    await this.waitUntil(() => this.repliesFor(msgId).length > 0, timeoutMs, `a reply to ${msgId}`);
    return this.repliesFor(msgId)[0] as ReceivedReply;
  }

  /** Waits until predicate() holds, re-checking whenever a reply arrives. */
  async waitUntil(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Publishes raw bytes as kombu would (application/json) to the control exchange. */
  publishRaw(routingKey: string, body: Buffer | string, exchange = this.exchange): void {
    this.channel.publish(exchange, routingKey, Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'), {
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      deliveryMode: 2,
      priority: 0,
      headers: {},
    });
  }

  /** Builds and publishes a call to topic; returns its `_msg_id`. */
  call(
    topic: string,
    method: string,
    args: Record<string, unknown>,
    options: { version?: string; serializer?: Serializer; context?: RequestContext; extra?: Record<string, unknown> } = {},
  ): string {
    const msgId = hex();
    this.publishRaw(topic, envelope(this.message(method, args, options, { _msg_id: msgId, _reply_q: this.replyQ, _timeout: null })));
    return msgId;
  }

  /** Builds and publishes a cast to topic; returns its `_unique_id`. */
  cast(
    topic: string,
    method: string,
    args: Record<string, unknown>,
    options: { version?: string; serializer?: Serializer; context?: RequestContext; extra?: Record<string, unknown> } = {},
  ): string {
    const message = this.message(method, args, options, {});
    this.publishRaw(topic, envelope(message));
    return String(message['_unique_id']);
  }

  private message(
    method: string,
    args: Record<string, unknown>,
    options: { version?: string; serializer?: Serializer; context?: RequestContext; extra?: Record<string, unknown> },
    callFields: Record<string, unknown>,
  ): Record<string, unknown> {
    const s = options.serializer;
    const wireArgs = Object.fromEntries(Object.entries(args).map(([k, v]) => [k, s ? s.serializeEntity(v) : v]));
    return {
      method,
      args: wireArgs,
      version: options.version ?? '1.0',
      ...callFields,
      _unique_id: hex(),
      ...(s ? s.serializeContext(options.context ?? {}) : {}),
      ...options.extra,
    };
  }

  async close(): Promise<void> {
    await this.channel.deleteQueue(this.replyQ).catch(() => undefined);
    await this.model.close().catch(() => undefined);
  }
}

/** Wraps an oslo message in the 2.0 envelope with Python's separators, as kombu sends it. */
export function envelope(message: Record<string, unknown>): string {
  return JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': JSON.stringify(message) });
}

/** Deletes queues and exchanges a test created; missing ones are fine. */
export async function cleanupBroker(queues: readonly string[], exchanges: readonly string[] = []): Promise<void> {
  const model = await amqp.connect(BROKER_URL);
  try {
    for (const queue of queues) {
      const ch = await model.createChannel();
      ch.on('error', () => undefined);
      await ch.deleteQueue(queue).catch(() => undefined);
      await ch.close().catch(() => undefined);
    }
    for (const exchange of exchanges) {
      const ch = await model.createChannel();
      ch.on('error', () => undefined);
      await ch.deleteExchange(exchange).catch(() => undefined);
      await ch.close().catch(() => undefined);
    }
  } finally {
    await model.close().catch(() => undefined);
  }
}
