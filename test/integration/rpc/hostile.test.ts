import { afterAll, describe, expect, it } from 'vitest';
import { SecureSerializer, decryptJson, deriveAesKey, encryptJson } from '../../../src/rpc/secure';
import { CAPTURE_KEY } from '../../helpers/captures';
import { envelope, hex } from '../../helpers/oslo-client';
import { cleanupRigs, makeRig } from './harness';

const key = deriveAesKey(CAPTURE_KEY);
const secure = new SecureSerializer(CAPTURE_KEY);
const otherKey = deriveAesKey('some-other-instance-key-0123456789');

afterAll(() => cleanupRigs({ queues: true }));

interface Hostile {
  readonly kind: string;
  readonly body: string | Buffer;
  /** The failure reply's class, or null when the message has no usable reply target. */
  readonly expect: string | null;
  readonly msgId?: string;
}

/** One malformed message of each kind, built around a fresh _msg_id. */
function hostileSet(replyQ: string): Hostile[] {
  const call = (fields: Record<string, unknown>) => {
    const msgId = hex();
    return { msgId, message: { method: 'echo', args: { n: encryptJson(1, key) }, version: '1.0', _msg_id: msgId, _reply_q: replyQ, _timeout: null, _unique_id: hex(), ...secure.serializeContext({}), ...fields } };
  };
  const items: Hostile[] = [];
  const add = (kind: string, fields: Record<string, unknown>, cls: string | null, wrap = envelope) => {
    const { msgId, message } = call(fields);
    items.push({ kind, body: wrap(message), expect: cls, msgId });
  };
  add('truncated JSON', {}, 'ValueError', (m) => envelope(m).slice(0, -3));
  items.push({ kind: 'garbage', body: `\u0000\u00ff${hex()} not json at all`, expect: null });
  add('envelope version 3.0', {}, 'ValueError', (m) => JSON.stringify({ 'oslo.version': '3.0', 'oslo.message': JSON.stringify(m) }));
  add('oslo.message not a string', {}, 'ValueError', (m) => JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': m }));
  add('bad base64 arg', { args: { n: '***not base64***' } }, 'ValueError');
  add('bad ciphertext (other key)', { args: { n: encryptJson(1, otherKey) } }, 'ValueError');
  add('plaintext arg to a secure server', { args: { n: 1 } }, 'ValueError');
  add('bad context', { _context_context: 'AAAA' }, 'ValueError');
  add('missing context', { _context_context: undefined }, 'ValueError');
  add('wrong arg type', { args: { n: encryptJson('one', key) } }, 'TypeError');
  add('args is a list', { args: [1, 2] }, 'TypeError');
  add('version is a number', { version: 1.0 }, 'UnsupportedVersion');
  add('private method', { method: '_secret' }, 'NoSuchMethod');
  add('no method', { method: undefined }, 'ValueError');
  items.push({ kind: 'call without _reply_q', body: envelope({ ...call({}).message, _reply_q: undefined }), expect: null });
  items.push({ kind: '_msg_id not a string', body: envelope({ ...call({}).message, _msg_id: 42 }), expect: null });
  items.push({ kind: 'JSON array', body: '[1, 2, 3]', expect: null });
  return items;
}

describe('RpcServer under hostile input', () => {
  it('survives 1000+ malformed messages, answers each with a reply queue, then serves normally', async () => {
    const rig = await makeRig(
      [
        { name: 'echo', schema: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] }, handler: (args) => args },
        { name: '_secret', schema: { type: 'object' }, handler: () => 'leaked' },
        { name: 'rpc_ping', schema: { type: 'object' }, handler: () => true },
      ],
      { key: CAPTURE_KEY, maxMessageBytes: 1024 * 1024 },
    );
    await rig.server.start();
    const sent: Hostile[] = [];
    while (sent.length < 1020) {
      for (const item of hostileSet(rig.client.replyQ)) {
        rig.client.publishRaw(rig.topic, item.body);
        sent.push(item);
      }
    }
    // A 10 MB body: not parsed, but its reply target is found by scanning the bytes.
    const bigId = hex();
    const big = envelope({ method: 'echo', args: { n: 'x'.repeat(10 * 1024 * 1024) }, version: '1.0', _msg_id: bigId, _reply_q: rig.client.replyQ, _unique_id: hex() });
    rig.client.publishRaw(rig.topic, big);
    sent.push({ kind: '10 MB body', body: '', expect: 'ValueError', msgId: bigId });
    const answered = sent.filter((s) => s.expect !== null);
    await rig.client.waitUntil(() => rig.client.replies.length >= answered.length, 120_000, `${answered.length} failure replies`);

    for (const item of answered) {
      const replies = rig.client.repliesFor(item.msgId as string);
      expect(replies, item.kind).toHaveLength(1);
      const reply = replies[0]!.message;
      expect(reply, item.kind).toMatchObject({ result: null, ending: true });
      const failure = JSON.parse(String(reply['failure'])) as Record<string, unknown>;
      expect(failure['class'], item.kind).toBe(item.expect);
      expect(failure['message'], item.kind).not.toContain('leaked');
    }
    const bigFailure = JSON.parse(String(rig.client.repliesFor(bigId)[0]!.message['failure'])) as Record<string, unknown>;
    expect(bigFailure['message']).toMatch(/exceeds the limit of 1048576 bytes/);

    const ping = rig.client.call(rig.topic, 'rpc_ping', {}, { serializer: secure });
    expect(decryptJson((await rig.client.waitReply(ping)).message['result'], key)).toBe(true);
    expect(rig.server.connected).toBe(true);
    expect(rig.client.replies.length).toBe(answered.length + 1);
    // Nothing reached the "unexpected" path; malformed input is logged at warn.
    expect(rig.lines.filter((l) => l['msg'] === 'unexpected error while handling a message')).toEqual([]);
    expect(rig.lines.filter((l) => l['msg'] === 'malformed message').length).toBeGreaterThan(200);
    expect(rig.lines.some((l) => JSON.stringify(l).includes('x'.repeat(1000)))).toBe(false);
  }, 180_000);
});
