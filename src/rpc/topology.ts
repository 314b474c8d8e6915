import { randomUUID } from 'node:crypto';
import type { Channel } from 'amqplib';
import { ConfigError } from '../errors';
import type { MessagingConfig, RabbitConfig } from '../config/types';

/**
 * What an oslo RPC server declares for Target(topic="guestagent.<id>", server=<id>)
 * (spec/trove-rpc.md §2.1, §2.2, §2.5; oslo impl_rabbit declare_topic_consumer,
 * declare_fanout_consumer, _get_queue_arguments). Flags must match oslo's exactly: any
 * difference makes RabbitMQ close the channel with 406 PRECONDITION_FAILED.
 */

export interface ExchangeSpec {
  readonly name: string;
  readonly type: 'topic' | 'fanout';
  readonly durable: boolean;
  readonly autoDelete: boolean;
}

export interface QueueSpec {
  readonly name: string;
  readonly durable: boolean;
  readonly autoDelete: boolean;
  readonly arguments: Readonly<Record<string, unknown>>;
  readonly exchange: string;
  readonly routingKey: string;
}

export interface Topology {
  readonly exchanges: readonly ExchangeSpec[];
  /** All consumed; only the topic queue ever receives Trove's messages. */
  readonly queues: readonly QueueSpec[];
}

/** oslo's _get_queue_arguments: ha or quorum, plus x-expires when a TTL applies. */
export function queueArguments(rabbit: RabbitConfig, ttlSeconds: number, quorum: boolean): Record<string, unknown> {
  if (rabbit.rabbitHaQueues && rabbit.rabbitQuorumQueue) {
    throw new ConfigError('rabbit_quorum_queue and rabbit_ha_queues are both enabled; oslo refuses this too');
  }
  const args: Record<string, unknown> = {};
  if (rabbit.rabbitHaQueues) args['x-ha-policy'] = 'all';
  if (quorum && rabbit.rabbitQuorumQueue) args['x-queue-type'] = 'quorum';
  if (ttlSeconds > 0) args['x-expires'] = ttlSeconds * 1000;
  return args;
}

/** Quorum queues are always durable, so oslo makes the topic entities durable with them. */
export function topicDurable(rabbit: RabbitConfig): boolean {
  return rabbit.amqpDurableQueues || rabbit.rabbitQuorumQueue;
}

/** The control exchange, as every oslo publisher and listener declares it. */
export function controlExchange(messaging: MessagingConfig): ExchangeSpec {
  return {
    name: messaging.controlExchange,
    type: 'topic',
    durable: topicDurable(messaging.rabbit),
    autoDelete: messaging.rabbit.amqpAutoDelete,
  };
}

/**
 * Builds the server topology for one guest. `fanoutSuffix` (uuid4 hex) names this process's
 * fanout queue, as oslo does per listener; keep it across reconnects.
 */
export function buildServerTopology(
  messaging: MessagingConfig,
  guestId: string,
  fanoutSuffix: string = randomUUID().replace(/-/g, ''),
): Topology {
  const { rabbit } = messaging;
  const topic = `guestagent.${guestId}`;
  const server = `${topic}.${guestId}`;
  const fanout = `${topic}_fanout`;
  const exchange = controlExchange(messaging);
  const topicQueue = (name: string): QueueSpec => ({
    name,
    durable: exchange.durable,
    autoDelete: rabbit.amqpAutoDelete,
    // No TTL on topic queues: the taskmanager pre-creates guestagent.<id> and a prepare
    // may wait in it for a long time (spec §0.4); x-expires here would also be a 406.
    arguments: queueArguments(rabbit, 0, true),
    exchange: exchange.name,
    routingKey: name,
  });
  return {
    exchanges: [exchange, { name: fanout, type: 'fanout', durable: false, autoDelete: true }],
    queues: [
      topicQueue(topic),
      topicQueue(server),
      {
        name: `${fanout}_${fanoutSuffix}`,
        durable: false,
        autoDelete: false,
        arguments: queueArguments(rabbit, rabbit.rabbitTransientQueuesTtl, false),
        exchange: fanout,
        routingKey: topic,
      },
    ],
  };
}

/** Declares exchanges, queues and bindings on a channel; a 406 rejects (and kills the channel). */
export async function declareTopology(channel: Channel, topology: Topology): Promise<void> {
  for (const exchange of topology.exchanges) {
    await channel.assertExchange(exchange.name, exchange.type, {
      durable: exchange.durable,
      autoDelete: exchange.autoDelete,
    });
  }
  for (const queue of topology.queues) {
    await channel.assertQueue(queue.name, {
      durable: queue.durable,
      autoDelete: queue.autoDelete,
      exclusive: false,
      arguments: { ...queue.arguments },
    });
    await channel.bindQueue(queue.name, queue.exchange, queue.routingKey);
  }
}
