import amqp from 'amqplib';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { NotSupportedError, TransportError } from '../../../src/errors';
import { SecureSerializer, decryptJson, deriveAesKey } from '../../../src/rpc/secure';
import type { MethodTable } from '../../../src/rpc/types';
import { CAPTURE_KEY, loadCaptures, type Capture } from '../../helpers/captures';
import { BROKER_URL, envelope, hex, testMessaging } from '../../helpers/oslo-client';
import { listExchanges, listQueues } from '../../helpers/rabbitmqctl';
import { cleanupRigs, makeRig } from './harness';

const key = deriveAesKey(CAPTURE_KEY);
const secure = new SecureSerializer(CAPTURE_KEY);

/** Each method answers with what it received, so a reply proves args and context were decoded. */
function echoTable(names: readonly string[]): MethodTable {
  return [
    ...names.map((name) => ({
      name,
      schema: { type: 'object' },
      handler: (args: Record<string, unknown>, call: { method: string; context: Readonly<Record<string, unknown>> }) => ({
        method: call.method,
        args,
        requestId: call.context['request_id'] ?? null,
      }),
    })),
    { name: 'restart', schema: { type: 'object', additionalProperties: false }, handler: () => undefined },
    {
      name: 'apply_overrides',
      schema: { type: 'object' },
      handler: () => {
        throw new NotSupportedError('apply_overrides');
      },
    },
  ];
}

const SERVED = ['rpc_ping', 'get_filesystem_stats', 'stop_db', 'start_db_with_conf_changes', 'reset_configuration',
  'mount_volume', 'unmount_volume', 'resize_fs', 'update_overrides', 'pre_upgrade', 'post_upgrade', 'guest_log_list',
  'guest_log_action', 'module_list', 'backup_required_for_replication'];

function referenceFailure(method: string, version = 'v1.0'): Record<string, unknown> {
  const c = loadCaptures().find((x) => x.label.startsWith(`reply from guest 7b2e8d4f to ${method} ${version}`));
  const { tb: _tb, ...rest } = c?.failure_parsed as Record<string, unknown>;
  return rest;
}

/** Replays a captured request with a fresh _msg_id/_unique_id and our reply queue. */
function replay(c: Capture, replyQ: string): { msgId: string; message: Record<string, unknown> } {
  const msgId = hex();
  return { msgId, message: { ...c.oslo_message, _msg_id: msgId, _reply_q: replyQ, _unique_id: hex() } };
}

afterEach(() => cleanupRigs({ queues: false }));
afterAll(() => cleanupRigs({ queues: true }));

describe('RpcServer replaying captured Trove requests', () => {
  it('answers every captured encrypted call with one encrypted reply or the reference failure', async () => {
    const rig = await makeRig(echoTable(SERVED), { key: CAPTURE_KEY });
    await rig.server.start();
    const calls = loadCaptures().filter((c) => c.label.startsWith('call ') && c.label.includes('(encrypted)'));
    expect(calls.length).toBeGreaterThan(20);
    const sent = calls.map((c) => {
      const { msgId, message } = replay(c, rig.client.replyQ);
      rig.client.publishRaw(rig.topic, envelope(message));
      return { c, msgId };
    });
    for (const { c, msgId } of sent) {
      const reply = await rig.client.waitReply(msgId);
      const method = String(c.oslo_message['method']);
      const version = String(c.oslo_message['version']);
      expect(reply.exchange).toBe('');
      expect(reply.properties).toMatchObject({ contentType: 'application/json', contentEncoding: 'utf-8', deliveryMode: 2, priority: 0 });
      expect(reply.message).toMatchObject({ ending: true, _msg_id: msgId, _unique_id: expect.stringMatching(/^[0-9a-f]{32}$/) });
      if (version === '2.0' || version === '1.5') {
        expect(JSON.parse(String(reply.message['failure']))).toMatchObject(referenceFailure(method, `v${version}`));
      } else if (method === 'apply_overrides') {
        expect(reply.message['result']).toBeNull();
        expect(JSON.parse(String(reply.message['failure']))).toMatchObject(referenceFailure(method));
      } else if (!SERVED.includes(method) && method !== 'restart') {
        // Not in this table: the reference server's NoSuchMethod shape, for this name.
        const text = `Endpoint does not support RPC method ${method}`;
        expect(reply.message['result']).toBeNull();
        expect(JSON.parse(String(reply.message['failure']))).toMatchObject({
          ...referenceFailure('list_databases'), message: text, args: [text],
        });
      } else if (method === 'restart') {
        // The real server encrypts even a None result (spec §3.5).
        expect(typeof reply.message['result']).toBe('string');
        expect(decryptJson(reply.message['result'], key)).toBeNull();
      } else {
        expect(reply.message['failure']).toBeNull();
        expect(decryptJson(reply.message['result'], key), c.label).toEqual({
          method,
          args: c.args_decrypted ?? {},
          requestId: c.context_decrypted?.['request_id'],
        });
      }
    }
    for (const { msgId } of sent) expect(rig.client.repliesFor(msgId)).toHaveLength(1);
  });

  it('answers captured plain (no key) calls with plain results and flattened context', async () => {
    const rig = await makeRig(echoTable(SERVED), { key: null });
    await rig.server.start();
    const c = loadCaptures().find((x) => x.label === 'call rpc_ping v1.0 -> guestagent (plain)') as Capture;
    const { msgId, message } = replay(c, rig.client.replyQ);
    rig.client.publishRaw(rig.topic, envelope(message));
    const reply = await rig.client.waitReply(msgId);
    expect(reply.message['result']).toEqual({ method: 'rpc_ping', args: {}, requestId: c.oslo_message['_context_request_id'] });
  });

  it('runs casts without replying, and logs a failed cast', async () => {
    const seen: unknown[] = [];
    const rig = await makeRig(
      [
        { name: 'prepare', schema: { type: 'object' }, handler: (args) => void seen.push(args) },
        { name: 'rpc_ping', schema: { type: 'object' }, handler: () => true },
      ],
      { key: CAPTURE_KEY },
    );
    await rig.server.start();
    const prepare = loadCaptures().find((x) => x.label.startsWith('cast prepare')) as Capture;
    rig.client.publishRaw(rig.topic, envelope({ ...prepare.oslo_message, _unique_id: hex() }));
    rig.client.cast(rig.topic, 'create_backup', { backup_info: {} }, { serializer: secure });
    const ping = rig.client.call(rig.topic, 'rpc_ping', {}, { serializer: secure });
    await rig.client.waitReply(ping);
    await rig.client.waitUntil(() => seen.length === 1, 10_000, 'the prepare cast');
    expect(seen[0]).toEqual(prepare.args_decrypted);
    await rig.client.waitUntil(() => rig.lines.some((l) => l['msg'] === 'cast failed'), 10_000, 'the cast failure log');
    const failed = rig.lines.find((l) => l['msg'] === 'cast failed') as Record<string, unknown>;
    expect(failed).toMatchObject({ level: 'warn', method: 'create_backup', code: 'K2H_ERR_NO_SUCH_METHOD' });
    expect(failed['stack']).toBeUndefined();
    expect(rig.client.replies.map((r) => r.message['_msg_id'])).toEqual([ping]);
  });

  it('drops a call without _reply_q and keeps serving', async () => {
    let runs = 0;
    const rig = await makeRig([{ name: 'rpc_ping', schema: { type: 'object' }, handler: () => ++runs > 0 }], { key: CAPTURE_KEY });
    await rig.server.start();
    rig.client.publishRaw(rig.topic, envelope({ method: 'rpc_ping', args: {}, version: '1.0', _msg_id: hex(), _unique_id: hex() }));
    const ok = rig.client.call(rig.topic, 'rpc_ping', {}, { serializer: secure });
    await rig.client.waitReply(ok);
    expect(rig.lines.some((l) => l['msg'] === 'call without _reply_q; dropped')).toBe(true);
    expect(runs).toBe(1);
    expect(rig.client.replies).toHaveLength(1);
  });

  it('handles a duplicate _unique_id once', async () => {
    let runs = 0;
    const rig = await makeRig([{ name: 'count', schema: { type: 'object' }, handler: () => ++runs }], { key: CAPTURE_KEY });
    await rig.server.start();
    const message = { method: 'count', args: {}, version: '1.0', _msg_id: hex(), _reply_q: rig.client.replyQ, _unique_id: hex(), ...secure.serializeContext({}) };
    rig.client.publishRaw(rig.topic, envelope(message));
    rig.client.publishRaw(rig.topic, envelope(message));
    const after = rig.client.call(rig.topic, 'count', {}, { serializer: secure });
    await rig.client.waitReply(after);
    expect(rig.client.repliesFor(String(message._msg_id))).toHaveLength(1);
    expect(decryptJson((await rig.client.waitReply(after)).message['result'], key)).toBe(2);
    expect(rig.lines.filter((l) => l['msg'] === 'duplicate message dropped')).toHaveLength(1);
  });

  it('answers a short call while a long handler is still running', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const rig = await makeRig(
      [
        { name: 'long', schema: { type: 'object' }, handler: async () => { await gate; return 'long done'; } },
        { name: 'rpc_ping', schema: { type: 'object' }, handler: () => true },
      ],
      { key: CAPTURE_KEY },
    );
    await rig.server.start();
    const long = rig.client.call(rig.topic, 'long', {}, { serializer: secure });
    const ping = rig.client.call(rig.topic, 'rpc_ping', {}, { serializer: secure });
    const pong = await rig.client.waitReply(ping);
    expect(decryptJson(pong.message['result'], key)).toBe(true);
    expect(rig.client.repliesFor(long)).toHaveLength(0);
    // The ping's task settles just after its reply is published: the long one stays in flight.
    await expect.poll(() => rig.server.inFlight, { timeout: 2000 }).toBe(1);
    release();
    expect(decryptJson((await rig.client.waitReply(long)).message['result'], key)).toBe('long done');
  });

  it('casts to another topic on the control exchange with kombu properties', async () => {
    const rig = await makeRig([], { key: CAPTURE_KEY });
    await rig.server.start();
    const conductor = `conductor-${hex()}`;
    await rig.client.channel.assertQueue(conductor, { durable: false, autoDelete: false });
    await rig.client.channel.bindQueue(conductor, rig.messaging.controlExchange, conductor);
    await rig.server.cast(conductor, 'heartbeat', { instance_id: rig.guestId, sent: 1795774190.3837857 }, { context: { request_id: 'req-1' } });
    let got: amqp.GetMessage | false = false;
    for (let i = 0; i < 50 && got === false; i += 1) {
      got = await rig.client.channel.get(conductor, { noAck: true });
      if (got === false) await new Promise((r) => setTimeout(r, 100));
    }
    await rig.client.channel.deleteQueue(conductor);
    expect(got).not.toBe(false);
    const msg = got as amqp.GetMessage;
    expect(msg.properties).toMatchObject({ contentType: 'application/json', contentEncoding: 'utf-8', deliveryMode: 2, priority: 0, headers: {} });
    const message = JSON.parse(JSON.parse(msg.content.toString())['oslo.message']) as Record<string, unknown>;
    expect(Object.keys(message)).toEqual(['method', 'args', 'version', '_unique_id', '_context_context']);
    expect(message).toMatchObject({ method: 'heartbeat', version: '1.0' });
    const args = message['args'] as Record<string, unknown>;
    expect(decryptJson(args['sent'], key)).toBe(1795774190.3837857);
    expect(secure.deserializeContext(message)).toEqual({ request_id: 'req-1' });
  });

  it('rejects cast with TransportError when never connected', async () => {
    const rig = await makeRig([], { key: CAPTURE_KEY });
    await rig.server.stop(0);
    await expect(rig.server.cast('trove-conductor', 'heartbeat', {})).rejects.toBeInstanceOf(TransportError);
  });
});

describe('RpcServer declarations', () => {
  it('starts against queues oslo pre-created and handles a message published before start', async () => {
    const messaging = testMessaging();
    const rig = await makeRig([{ name: 'prepare', schema: { type: 'object' }, handler: () => 'prepared' }], { key: CAPTURE_KEY, messaging });
    // What the taskmanager's _create_guest_queue leaves behind (spec §0.4, §2.2).
    const ch = rig.client.channel;
    await ch.assertExchange(messaging.controlExchange, 'topic', { durable: false, autoDelete: false });
    for (const q of [rig.topic, `${rig.topic}.${rig.guestId}`]) {
      await ch.assertQueue(q, { durable: false, autoDelete: false });
      await ch.bindQueue(q, messaging.controlExchange, q);
    }
    const early = rig.client.call(rig.topic, 'prepare', {}, { serializer: secure });
    await new Promise((r) => setTimeout(r, 200));
    expect((await listQueues([rig.topic])).get(rig.topic)?.messages).toBe(1);
    await rig.server.start();
    expect(decryptJson((await rig.client.waitReply(early)).message['result'], key)).toBe('prepared');
    const queues = await listQueues([rig.topic, `${rig.topic}.${rig.guestId}`]);
    for (const q of queues.values()) expect(q).toMatchObject({ durable: false, auto_delete: false, arguments: {}, consumers: 1 });
  });

  it('refuses to start with TransportError when existing queues have other flags', async () => {
    const rig = await makeRig([], { key: CAPTURE_KEY, messaging: testMessaging({ rabbit: { amqpDurableQueues: true } }) });
    const model = await amqp.connect(BROKER_URL);
    const ch = await model.createChannel();
    await ch.assertQueue(rig.topic, { durable: false, autoDelete: false });
    await model.close();
    await expect(rig.server.start()).rejects.toThrow(/PRECONDITION_FAILED|flags differ/);
    expect(rig.server.connected).toBe(false);
  });

  it.each([
    ['defaults', {}, { durable: false, args: {} }],
    ['amqp_durable_queues', { amqpDurableQueues: true }, { durable: true, args: {} }],
    ['rabbit_ha_queues', { rabbitHaQueues: true }, { durable: false, args: { 'x-ha-policy': 'all' } }],
  ])('declares the %s variant as oslo does', async (_name, rabbit, expected) => {
    const messaging = testMessaging({ rabbit });
    const rig = await makeRig([], { key: CAPTURE_KEY, messaging });
    await rig.server.start();
    const server = `${rig.topic}.${rig.guestId}`;
    const queues = await listQueues([rig.topic, server]);
    for (const name of [rig.topic, server]) {
      expect(queues.get(name)).toMatchObject({ durable: expected.durable, auto_delete: false, arguments: expected.args });
    }
    const exchanges = await listExchanges([messaging.controlExchange, `${rig.topic}_fanout`]);
    expect(exchanges.get(messaging.controlExchange)).toMatchObject({ type: 'topic', durable: expected.durable, auto_delete: false });
    expect(exchanges.get(`${rig.topic}_fanout`)).toMatchObject({ type: 'fanout', durable: false, auto_delete: true });
    // A declaration with the other durability is refused by the broker: the flags really differ.
    const model = await amqp.connect(BROKER_URL);
    const ch = await model.createChannel();
    ch.on('error', () => undefined);
    await expect(ch.assertQueue(rig.topic, { durable: !expected.durable, autoDelete: false })).rejects.toThrow(/406/);
    await model.close().catch(() => undefined);
  });
});
