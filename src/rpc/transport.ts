import * as amqp from 'amqplib';
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, Message } from 'amqplib';
import { TransportError } from '../errors';
import type { Logger } from '../log';
import type { MessagingConfig } from '../config/types';
import { brokerConnectOptions, type BrokerConnectOptions } from './broker';
import { declareTopology, type Topology } from './topology';
import type { RpcObserver } from './types';

/**
 * amqplib connection management: connect (hosts in turn), declare, consume, publish, and
 * reconnect across broker restarts. It knows queue names only through the Topology it is given.
 */

export interface TransportOptions {
  readonly messaging: MessagingConfig;
  readonly topology: Topology;
  readonly log: Logger;
  readonly observer?: RpcObserver | undefined;
  /** Sent as the AMQP connection_name client property. */
  readonly connectionName: string;
  /** Called for every delivery, already acked; must not block. */
  readonly onDelivery: (message: ConsumeMessage) => void;
  /** Backoff between connection attempts; defaults 500 ms doubling up to 2 s. */
  readonly reconnectDelayMs?: { readonly initial: number; readonly max: number };
}

/** Publish options of every message (spec §3.3, §10): kombu's properties, exactly. */
const PUBLISH_PROPERTIES = {
  contentType: 'application/json',
  contentEncoding: 'utf-8',
  deliveryMode: 2,
  priority: 0,
} as const;

const PRECONDITION_FAILED = 406;

function amqpCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class AmqpTransport {
  private readonly brokers: readonly BrokerConnectOptions[];
  private readonly log: Logger;
  private model: ChannelModel | null = null;
  private consumer: Channel | null = null;
  private publisher: ConfirmChannel | null = null;
  private consumerTags: string[] = [];
  private hostIndex = 0;
  private delayMs: number;
  private stopping = false;
  private reconnecting = false;
  private wake: (() => void) | null = null;
  private readonly waiters = new Set<(connected: boolean) => void>();

  constructor(private readonly options: TransportOptions) {
    this.brokers = brokerConnectOptions(options.messaging, options.connectionName);
    this.log = options.log;
    this.delayMs = this.initialDelay;
  }

  private get initialDelay(): number {
    return this.options.reconnectDelayMs?.initial ?? 500;
  }

  /** True while channels are open and consumers are set up. */
  get connected(): boolean {
    return this.publisher !== null;
  }

  /**
   * Connects, declares and starts consuming. Retries unreachable brokers until it succeeds or
   * close() is called; a 406 on declaration (our flags differ from the existing queues) is a
   * configuration error and rejects with TransportError at once.
   */
  async start(): Promise<void> {
    for (;;) {
      if (this.stopping) throw new TransportError('the transport was closed before it connected');
      try {
        await this.connectOnce();
        return;
      } catch (err) {
        if (amqpCode(err) === PRECONDITION_FAILED) {
          throw new TransportError(`queue or exchange flags differ from the broker's: ${describe(err)}`, {
            cause: err,
          });
        }
        this.log.warn({ err: describe(err) }, 'cannot connect to the broker; retrying');
        await this.pause();
      }
    }
  }

  private async connectOnce(): Promise<void> {
    const broker = this.brokers[this.hostIndex % this.brokers.length] as BrokerConnectOptions;
    // Advance now: the next attempt (after a failure or a later loss) tries the next host.
    this.hostIndex += 1;
    const model = await amqp.connect(broker.url, broker.socket);
    try {
      model.on('error', (err: unknown) => this.log.warn({ err: describe(err), broker: broker.label }, 'AMQP connection error'));
      model.on('close', () => this.lost(model, 'connection closed'));
      const consumer = await model.createChannel();
      this.watchChannel(model, consumer, 'consume');
      const prefetch = this.options.messaging.rabbit.rabbitQosPrefetchCount;
      if (prefetch > 0) await consumer.prefetch(prefetch);
      await declareTopology(consumer, this.options.topology);
      // Publishing has its own confirm channel, so a failed publish (which closes its
      // channel) never stops consumption, and we know when the broker took a reply.
      const publisher = await model.createConfirmChannel();
      this.watchChannel(model, publisher, 'publish');
      publisher.on('return', (returned: Message) => {
        // A reply whose reply_<hex> queue is gone (the caller timed out or exited): drop it.
        this.log.warn({ routingKey: returned.fields.routingKey }, 'message returned unroutable; dropped');
      });
      if (this.stopping) throw new TransportError('the transport was closed while connecting');
      this.model = model;
      this.consumer = consumer;
      this.publisher = publisher;
      this.consumerTags = [];
      for (const queue of this.options.topology.queues) {
        const { consumerTag } = await consumer.consume(queue.name, (msg) => this.received(consumer, msg), {
          noAck: false,
        });
        this.consumerTags.push(consumerTag);
      }
    } catch (err) {
      this.model = this.consumer = this.publisher = null;
      await model.close().catch(() => undefined);
      throw err;
    }
    this.delayMs = this.initialDelay;
    this.log.info({ broker: broker.label }, 'connected to the broker; consuming');
    this.options.observer?.onConnectionChange?.(true);
    for (const waiter of this.waiters) waiter(true);
    this.waiters.clear();
  }

  private watchChannel(model: ChannelModel, channel: Channel, role: string): void {
    // A 406/404 closes the channel (spec §2.5). Rather than patching one channel, start over
    // on a fresh connection: the same path as a broker restart, which re-declares everything.
    channel.on('error', (err: unknown) => this.log.warn({ err: describe(err), channel: role }, 'AMQP channel error'));
    channel.on('close', () => this.lost(model, `${role} channel closed`));
  }

  private received(channel: Channel, msg: ConsumeMessage | null): void {
    if (msg === null) {
      // The broker cancelled our consumer (queue deleted); redeclare on a new connection.
      const model = this.model;
      if (model !== null) this.lost(model, 'consumer cancelled by the broker');
      return;
    }
    // NOTE: oslo's RpcAMQPListener acks on receipt, before dispatch, so a prepare that runs for
    // minutes does not hold an unacked message (and a redelivery cannot start it twice); a
    // crash loses the request, exactly as with the Python guest (spec §2.6).
    try {
      channel.ack(msg);
    } catch (err) {
      // Channel already closing: the broker redelivers after reconnect and dedup drops it.
      this.log.debug({ err: describe(err) }, 'ack failed');
    }
    this.options.onDelivery(msg);
  }

  private lost(model: ChannelModel, reason: string): void {
    if (this.model !== model) return;
    this.model = this.consumer = this.publisher = null;
    this.consumerTags = [];
    model.close().catch(() => undefined);
    this.options.observer?.onConnectionChange?.(false);
    if (this.stopping) return;
    this.log.warn({ reason }, 'lost the broker connection; reconnecting');
    void this.reconnect();
  }

  private async reconnect(): Promise<void> {
    if (this.reconnecting) return;
    this.reconnecting = true;
    try {
      while (!this.stopping && this.model === null) {
        await this.pause();
        if (this.stopping) return;
        try {
          await this.connectOnce();
          this.options.observer?.onReconnect?.();
        } catch (err) {
          const level = amqpCode(err) === PRECONDITION_FAILED ? 'error' : 'warn';
          this.log[level]({ err: describe(err) }, 'reconnect failed; retrying');
        }
      }
    } finally {
      this.reconnecting = false;
    }
  }

  /** Sleeps for the current backoff (cut short by close()) and grows it up to the cap. */
  private async pause(): Promise<void> {
    const ms = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, this.options.reconnectDelayMs?.max ?? 2000);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Resolves true once connected (at once if already), false after `ms` or on close(). */
  async waitConnected(ms: number): Promise<boolean> {
    if (this.connected) return true;
    if (this.stopping) return false;
    return await new Promise<boolean>((resolve) => {
      const done = (connected: boolean): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve(connected);
      };
      const timer = setTimeout(() => done(false), ms);
      this.waiters.add(done);
    });
  }

  /**
   * Publishes one message with kombu's properties and waits for the broker's confirm.
   * Waits up to waitMs for a connection; throws TransportError.
   */
  async publish(
    exchange: string,
    routingKey: string,
    body: Buffer,
    options: { readonly mandatory: boolean; readonly waitMs: number },
  ): Promise<void> {
    if (!this.connected && !(await this.waitConnected(options.waitMs))) {
      throw new TransportError(`not connected to the broker; cannot publish to ${exchange || '(default)'}/${routingKey}`);
    }
    const channel = this.publisher as ConfirmChannel;
    await new Promise<void>((resolve, reject) => {
      try {
        channel.publish(
          exchange,
          routingKey,
          body,
          { ...PUBLISH_PROPERTIES, headers: {}, mandatory: options.mandatory },
          (err: unknown) =>
            err ? reject(new TransportError(`publish was not confirmed: ${describe(err)}`, { cause: err })) : resolve(),
        );
      } catch (err) {
        reject(new TransportError(`publish failed: ${describe(err)}`, { cause: err }));
      }
    });
  }

  /** Cancels the consumers: no new deliveries; publishing (replies) keeps working. */
  async stopConsuming(): Promise<void> {
    const consumer = this.consumer;
    const tags = this.consumerTags;
    this.consumerTags = [];
    if (consumer === null) return;
    for (const tag of tags) await consumer.cancel(tag).catch(() => undefined);
  }

  /** Closes channels and connection; no reconnect after this. */
  async close(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    for (const waiter of this.waiters) waiter(false);
    this.waiters.clear();
    const model = this.model;
    this.model = this.consumer = this.publisher = null;
    if (model !== null) {
      await model.close().catch((err: unknown) => this.log.debug({ err: describe(err) }, 'close failed'));
      this.options.observer?.onConnectionChange?.(false);
    }
  }
}
