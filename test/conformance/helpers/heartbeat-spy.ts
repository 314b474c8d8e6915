import amqp, { type ChannelModel, type ConsumeMessage } from 'amqplib';
import { decryptJson, deriveAesKey } from '../../../src/rpc/secure';
import { BROKER_URL } from './rabbit';

/** One cast the agent sent to the conductor topic, decoded. */
export interface SeenCast {
  readonly method: string;
  readonly uniqueId: string;
  readonly instanceId: unknown;
  readonly sent: unknown;
  readonly payload: unknown;
  /** Local receive time (ms since the epoch). */
  readonly at: number;
}

/**
 * Listens beside the real conductor: an exclusive queue bound to the control exchange with the
 * conductor's routing key gets a copy of every cast a guest sends there. Args are decoded the
 * way ConductorHostSerializer does ({"entity", "csz-instance-id"} JSON strings).
 */
export class HeartbeatSpy {
  readonly casts: SeenCast[] = [];
  private conn: ChannelModel | null = null;
  private readonly aes: Buffer | null;

  constructor(
    private readonly exchange: string,
    private readonly routingKey: string,
    key: string | null,
  ) {
    this.aes = key === null ? null : deriveAesKey(key);
  }

  async connect(): Promise<void> {
    const conn = await amqp.connect(BROKER_URL);
    conn.on('error', () => undefined);
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    await ch.assertExchange(this.exchange, 'topic', { durable: false, autoDelete: false });
    const { queue } = await ch.assertQueue('', { exclusive: true, durable: false, autoDelete: true });
    await ch.bindQueue(queue, this.exchange, this.routingKey);
    await ch.consume(queue, (m) => this.onCast(m), { noAck: true });
    this.conn = conn;
  }

  private decodeArg(value: unknown): unknown {
    if (typeof value !== 'string') return value;
    let wrapped: unknown;
    try {
      wrapped = JSON.parse(value);
    } catch {
      return value;
    }
    if (wrapped === null || typeof wrapped !== 'object' || !('entity' in wrapped)) return wrapped;
    const entity = (wrapped as { entity: unknown }).entity;
    return this.aes === null ? entity : decryptJson(entity, this.aes);
  }

  private onCast(m: ConsumeMessage | null): void {
    if (m === null) return;
    const outer = JSON.parse(m.content.toString('utf8')) as Record<string, unknown>;
    const message = JSON.parse(String(outer['oslo.message'])) as Record<string, unknown>;
    const args = (message['args'] ?? {}) as Record<string, unknown>;
    this.casts.push({
      method: String(message['method']),
      uniqueId: String(message['_unique_id']),
      instanceId: this.decodeArg(args['instance_id']),
      sent: this.decodeArg(args['sent']),
      payload: this.decodeArg(args['payload']),
      at: Date.now(),
    });
  }

  heartbeats(): SeenCast[] {
    return this.casts.filter((c) => c.method === 'heartbeat');
  }

  async close(): Promise<void> {
    await this.conn?.close().catch(() => undefined);
    this.conn = null;
  }

  /** The broker went away under us; the next connect() starts over. */
  forget(): void {
    this.conn = null;
  }
}
