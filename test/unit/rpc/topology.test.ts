import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors';
import { buildServerTopology } from '../../../src/rpc/topology';
import { testMessaging } from '../../helpers/oslo-client';

const ID = '6a1f7c3e-2b4d-4e8a-9c0f-1d2e3f4a5b6c';

describe('buildServerTopology', () => {
  it('declares what oslo declares with default flags (spec §2.1, §2.2)', () => {
    const topology = buildServerTopology(testMessaging({ controlExchange: 'trove' }), ID, 'ff00');
    expect(topology.exchanges).toEqual([
      { name: 'trove', type: 'topic', durable: false, autoDelete: false },
      { name: `guestagent.${ID}_fanout`, type: 'fanout', durable: false, autoDelete: true },
    ]);
    expect(topology.queues).toEqual([
      { name: `guestagent.${ID}`, durable: false, autoDelete: false, arguments: {}, exchange: 'trove', routingKey: `guestagent.${ID}` },
      { name: `guestagent.${ID}.${ID}`, durable: false, autoDelete: false, arguments: {}, exchange: 'trove', routingKey: `guestagent.${ID}.${ID}` },
      {
        name: `guestagent.${ID}_fanout_ff00`, durable: false, autoDelete: false, arguments: { 'x-expires': 1800000 },
        exchange: `guestagent.${ID}_fanout`, routingKey: `guestagent.${ID}`,
      },
    ]);
  });

  it('makes topic queues and the control exchange durable with amqp_durable_queues', () => {
    const t = buildServerTopology(testMessaging({ rabbit: { amqpDurableQueues: true } }), ID);
    expect(t.exchanges[0]?.durable).toBe(true);
    expect(t.queues.map((q) => q.durable)).toEqual([true, true, false]);
  });

  it('sets auto_delete on topic queues and exchange with amqp_auto_delete', () => {
    const t = buildServerTopology(testMessaging({ rabbit: { amqpAutoDelete: true } }), ID);
    expect(t.exchanges[0]?.autoDelete).toBe(true);
    expect(t.queues.map((q) => q.autoDelete)).toEqual([true, true, false]);
  });

  it('adds x-ha-policy all to every queue with rabbit_ha_queues', () => {
    const t = buildServerTopology(testMessaging({ rabbit: { rabbitHaQueues: true } }), ID);
    expect(t.queues.map((q) => q.arguments)).toEqual([
      { 'x-ha-policy': 'all' },
      { 'x-ha-policy': 'all' },
      { 'x-ha-policy': 'all', 'x-expires': 1800000 },
    ]);
  });

  it('makes topic queues quorum and durable with rabbit_quorum_queue, not the fanout queue', () => {
    const t = buildServerTopology(testMessaging({ rabbit: { rabbitQuorumQueue: true } }), ID);
    expect(t.queues[0]).toMatchObject({ durable: true, arguments: { 'x-queue-type': 'quorum' } });
    expect(t.queues[2]).toMatchObject({ durable: false, arguments: { 'x-expires': 1800000 } });
  });

  it('drops x-expires when rabbit_transient_queues_ttl is 0', () => {
    const t = buildServerTopology(testMessaging({ rabbit: { rabbitTransientQueuesTtl: 0 } }), ID);
    expect(t.queues[2]?.arguments).toEqual({});
  });

  it('refuses ha and quorum together, as oslo does', () => {
    expect(() => buildServerTopology(testMessaging({ rabbit: { rabbitHaQueues: true, rabbitQuorumQueue: true } }), ID)).toThrow(
      ConfigError,
    );
  });
});
