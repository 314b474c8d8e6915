import { randomBytes } from 'node:crypto';
import { callBody, GuestCodec, hexId, OSLO_PROPS } from './raw-amqp';

/** One malformed message and what the agent must do with it. */
export interface HostileMessage {
  readonly kind: string;
  readonly body: Buffer;
  /** Set when the body carries a usable `_msg_id` + `_reply_q`: exactly one failure reply is due. */
  readonly msgId: string | null;
  readonly props?: Record<string, unknown>;
}

const envelope = (version: unknown, inner: unknown): Buffer =>
  Buffer.from(JSON.stringify({ 'oslo.version': version, 'oslo.message': inner }));

/**
 * A wave of malformed traffic (about 1,450 messages) for a guest with key `key`, whose calls
 * name `replyQ`. Kinds with a reply target expect a failure reply; the rest must be dropped.
 */
export function hostileWave(key: string, replyQ: string, bigBodies: boolean): HostileMessage[] {
  const good = new GuestCodec(key);
  const wrongKey = new GuestCodec('wrongKEYwrongKEYwrongKEYwrongKEY');
  const out: HostileMessage[] = [];
  const call = (kind: string, method: string, args: Record<string, unknown>, codec = good) => {
    const { msgId, body } = callBody(codec, method, args, replyQ);
    out.push({ kind, body, msgId });
  };
  /** A call whose decoded oslo message gets `mutate` applied before it is enveloped. */
  const mutated = (kind: string, mutate: (m: Record<string, unknown>) => void, expectReply = true) => {
    const { msgId, message } = callBody(good, 'get_filesystem_stats', { fs_path: null }, replyQ);
    mutate(message);
    out.push({ kind, body: envelope('2.0', JSON.stringify(message)), msgId: expectReply ? msgId : null });
  };

  for (let i = 0; i < 200; i++) {
    // Not JSON (or JSON that is not an object) and no reply target: logged and dropped.
    const samples = [randomBytes(1 + (i % 64)), Buffer.from('{'), Buffer.from(''), Buffer.from('null'),
      Buffer.from('[1,2,3]'), Buffer.from('"just a string"'), Buffer.from('42'), Buffer.from('\u00ff\u00fe{"a"')];
    out.push({ kind: 'not-json', body: samples[i % samples.length]!, msgId: null });
  }
  for (let i = 0; i < 100; i++) {
    // Truncated JSON that still shows its reply target: the agent can and must answer.
    const { msgId, body } = callBody(good, 'rpc_ping', {}, replyQ);
    out.push({ kind: 'truncated-json', body: body.subarray(0, body.length - 5 - (i % 20)), msgId });
  }
  const versions: unknown[] = ['1.0', '3.0', '', 2, null, 'two', { v: 2 }];
  for (let i = 0; i < 140; i++) {
    const { msgId, message } = callBody(good, 'rpc_ping', {}, replyQ);
    out.push({ kind: 'envelope-version', body: envelope(versions[i % versions.length], JSON.stringify(message)), msgId });
  }
  for (let i = 0; i < 50; i++) {
    // oslo.message that is not a JSON string (an object, or broken JSON text).
    const { msgId, message } = callBody(good, 'rpc_ping', {}, replyQ);
    const inner = i % 2 === 0 ? message : `${JSON.stringify(message).slice(0, -1)},}`;
    out.push({ kind: 'inner-not-json', body: envelope('2.0', inner), msgId });
  }
  const badCipher = ['not base64 at all!', 'AAAA', Buffer.from(randomBytes(48)).toString('base64'),
    Buffer.from(randomBytes(33)).toString('base64'), '====', '', 12345, null, ['x'], { entity: 'x' }];
  for (let i = 0; i < 200; i++) {
    if (i % 4 === 3) {
      call('wrong-key', 'get_filesystem_stats', { fs_path: '/tmp' }, wrongKey);
      continue;
    }
    mutated('bad-ciphertext', (m) => {
      m['args'] = { fs_path: badCipher[i % badCipher.length] };
    });
  }
  for (let i = 0; i < 100; i++) {
    const garbage = ['not base64 at all!', 'AAAA', randomBytes(64).toString('base64'), '===='];
    mutated('bad-context', (m) => {
      m['_context_context'] = garbage[i % garbage.length];
    });
  }
  const wrongTypes: Record<string, unknown>[] = [{ fs_path: 123 }, { fs_path: [] }, { fs_path: { a: 1 } },
    { fs_path: true }, { fs_path: '/tmp', extra_arg: 'x' }];
  for (let i = 0; i < 150; i++) call('wrong-arg-types', 'get_filesystem_stats', wrongTypes[i % wrongTypes.length]!);
  const argsShapes: unknown[] = [[], 'args', null, 7, [['fs_path', '/']]];
  for (let i = 0; i < 50; i++) {
    mutated('args-not-object', (m) => {
      m['args'] = argsShapes[i % argsShapes.length];
    });
  }
  const names = ['list_databases', '_private', '__proto__', 'constructor', 'no_such_method', 'toString'];
  for (let i = 0; i < 60; i++) call('unknown-method', names[i % names.length]!, {});
  const rpcVersions: unknown[] = ['2.0', '1.2', '0.9', 'x.y', 1.1, ''];
  for (let i = 0; i < 40; i++) {
    mutated('rpc-version', (m) => {
      m['version'] = rpcVersions[i % rpcVersions.length];
    });
  }
  const methods: unknown[] = [undefined, null, 17, '', ['rpc_ping'], { name: 'rpc_ping' }];
  for (let i = 0; i < 50; i++) {
    mutated('bad-method-field', (m) => {
      if (methods[i % methods.length] === undefined) delete m['method'];
      else m['method'] = methods[i % methods.length];
    });
  }
  for (let i = 0; i < 150; i++) {
    // Casts (no _msg_id, no _reply_q) with bad content: nobody to answer, logged and dropped.
    mutated('bad-cast', (m) => {
      delete m['_msg_id'];
      delete m['_reply_q'];
      if (i % 3 === 0) m['method'] = 'no_such_cast';
      else if (i % 3 === 1) m['args'] = { fs_path: 'garbage-ciphertext' };
      else m['version'] = '9.9';
    }, false);
  }
  for (let i = 0; i < 50; i++) {
    mutated('call-without-reply-q', (m) => {
      delete m['_reply_q'];
    }, false);
  }
  for (let i = 0; i < 20; i++) {
    // Right body, wrong AMQP content type: oslo (kombu) would refuse it; a reply is still fine,
    // so only require that the agent survives: no expectation either way.
    const { body } = callBody(good, 'no_such_method', {}, replyQ, `ctype${hexId()}`);
    out.push({ kind: 'content-type', body, msgId: null, props: { ...OSLO_PROPS, contentType: 'text/plain' } });
  }
  if (bigBodies) {
    for (let i = 0; i < 5; i++) {
      // A valid envelope and inner message, only 10 MB big: over max_message_bytes (4 MiB by
      // default). Three carry a reply target (answered without parsing), two do not.
      const msgId = i < 3 ? hexId() : null;
      const inner: Record<string, unknown> = msgId === null ? {} : { _msg_id: msgId, _reply_q: replyQ };
      Object.assign(inner, { method: 'rpc_ping', args: {}, version: '1.0', _unique_id: hexId(), pad: 'A'.repeat(10 * 1024 * 1024) });
      out.push({ kind: '10MB-body', body: envelope('2.0', JSON.stringify(inner)), msgId });
    }
  }
  return out;
}
