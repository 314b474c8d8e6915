import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SecureSerializer, decryptJson, deriveAesKey } from '../../../src/rpc/secure';
import type { RpcObserver } from '../../../src/rpc/types';
import { CAPTURE_KEY } from '../../helpers/captures';
import { testMessaging } from '../../helpers/oslo-client';
import { closeConnectionsNamed, listQueues } from '../../helpers/rabbitmqctl';
import { cleanupRigs, makeRig } from './harness';

const key = deriveAesKey(CAPTURE_KEY);
const secure = new SecureSerializer(CAPTURE_KEY);

afterEach(() => cleanupRigs({ queues: false }));
afterAll(() => cleanupRigs({ queues: true }));

describe('RpcServer connection loss', () => {
  it('tries the transport_url hosts in turn: a refusing first host, then the live broker', async () => {
    // Port 1 on loopback refuses at once; the second host is the real broker.
    const messaging = testMessaging({
      transportUrl: {
        scheme: 'rabbit',
        vhost: '/',
        hosts: [
          { host: '127.0.0.1', port: 1, username: 'guest', password: 'guest' },
          { host: '127.0.0.1', port: 5672, username: 'guest', password: 'guest' },
        ],
      },
    });
    const rig = await makeRig([{ name: 'rpc_ping', schema: { type: 'object' }, handler: () => true }], {
      key: CAPTURE_KEY,
      messaging,
      reconnectDelayMs: { initial: 50, max: 200 },
    });
    await rig.server.start();
    const id = rig.client.call(rig.topic, 'rpc_ping', {}, { serializer: secure });
    const reply = await rig.client.waitReply(id);
    expect(decryptJson(reply.message['result'], key)).toBe(true);
    const failedHost = rig.lines.find((l) => JSON.stringify(l).includes('127.0.0.1:1'));
    expect(failedHost).toBeDefined();
  });

  it('reconnects after the broker closes its connection, resumes consuming and handles nothing twice', async () => {
    const handled: string[] = [];
    const events: string[] = [];
    const observer: RpcObserver = {
      onConnectionChange: (connected) => events.push(connected ? 'up' : 'down'),
      onReconnect: () => events.push('reconnect'),
    };
    const rig = await makeRig(
      [{ name: 'rpc_ping', schema: { type: 'object' }, handler: (_args, call) => { handled.push(call.msgId ?? ''); return true; } }],
      { key: CAPTURE_KEY, observer },
    );
    await rig.server.start();
    const before = rig.client.call(rig.topic, 'rpc_ping', {}, { serializer: secure });
    await rig.client.waitReply(before);

    expect(await closeConnectionsNamed(`k2hdkc-trove-agent guestagent.${rig.guestId}`)).toBe(1);
    // Published while the agent is away: it waits in the (non auto-delete) queue.
    const during = rig.client.call(rig.topic, 'rpc_ping', {}, { serializer: secure });
    const reply = await rig.client.waitReply(during, 30_000);
    expect(decryptJson(reply.message['result'], key)).toBe(true);
    expect(rig.server.connected).toBe(true);

    const after = rig.client.call(rig.topic, 'rpc_ping', {}, { serializer: secure });
    await rig.client.waitReply(after);
    expect(handled).toEqual([before, during, after]);
    for (const id of [before, during, after]) expect(rig.client.repliesFor(id)).toHaveLength(1);
    expect(events).toEqual(['up', 'down', 'up', 'reconnect']);
    expect((await listQueues([rig.topic])).get(rig.topic)?.consumers).toBe(1);
    expect(rig.lines.some((l) => l['msg'] === 'lost the broker connection; reconnecting')).toBe(true);
  });
});

describe('RpcServer stop', () => {
  it('lets an in-flight call finish and reply within the grace period', async () => {
    let release: () => void = () => undefined;
    const started = new Promise<void>((resolve) => (release = resolve));
    let finish: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (finish = resolve));
    const rig = await makeRig(
      [{ name: 'slow', schema: { type: 'object' }, handler: async () => { release(); await gate; return 'finished'; } }],
      { key: CAPTURE_KEY },
    );
    await rig.server.start();
    const msgId = rig.client.call(rig.topic, 'slow', {}, { serializer: secure });
    await started;
    const stopping = rig.server.stop(30_000);
    finish();
    await stopping;
    expect(decryptJson((await rig.client.waitReply(msgId)).message['result'], key)).toBe('finished');
    expect(rig.server.connected).toBe(false);
    expect((await listQueues([rig.topic])).get(rig.topic)?.consumers).toBe(0);
  });

  it('aborts the signal of a handler still running after the grace period', async () => {
    let release: () => void = () => undefined;
    const started = new Promise<void>((resolve) => (release = resolve));
    const rig = await makeRig(
      [
        {
          name: 'forever',
          schema: { type: 'object' },
          handler: (_args, call) =>
            new Promise((_resolve, reject) => {
              release();
              call.signal.addEventListener('abort', () => reject(call.signal.reason as Error));
            }),
        },
      ],
      { key: CAPTURE_KEY },
    );
    await rig.server.start();
    const msgId = rig.client.call(rig.topic, 'forever', {}, { serializer: secure });
    await started;
    await rig.server.stop(100);
    const failure = JSON.parse(String((await rig.client.waitReply(msgId)).message['failure'])) as Record<string, unknown>;
    expect(failure).toMatchObject({ class: 'RuntimeError', module: 'builtins', message: 'the agent is shutting down' });
    expect(rig.lines.some((l) => l['msg'] === 'grace period over; aborting in-flight handlers')).toBe(true);
  });
});
