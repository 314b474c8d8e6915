import { describe, expect, it } from 'vitest';
import { MessageFormatError } from '../../../src/errors';
import {
  buildCast,
  buildReply,
  decodeEnvelope,
  encodeEnvelope,
  parseRequest,
  replyTargetOf,
  scanReplyTarget,
} from '../../../src/rpc/envelope';
import { capture, loadCaptures } from '../../helpers/captures';

const MAX = 1024 * 1024;

describe('decodeEnvelope', () => {
  it('decodes every captured body to the captured oslo message', () => {
    for (const c of loadCaptures()) {
      expect(decodeEnvelope(Buffer.from(c.body_text, 'utf8'), MAX), c.label).toEqual(c.oslo_message);
    }
  });

  it('accepts compact JSON.stringify output and a 2.x minor version', () => {
    const body = JSON.stringify({ 'oslo.version': '2.1', 'oslo.message': JSON.stringify({ method: 'm' }) });
    expect(decodeEnvelope(Buffer.from(body), MAX)).toEqual({ method: 'm' });
  });

  it('passes an un-enveloped object through, as oslo deserialize_msg does', () => {
    expect(decodeEnvelope(Buffer.from('{"method": "m", "args": {}}'), MAX)).toEqual({ method: 'm', args: {} });
  });

  it.each([
    ['not JSON', 'this is not json', /not valid JSON/],
    ['a JSON array', '[1,2]', /not a JSON object/],
    ['envelope version 3.0', JSON.stringify({ 'oslo.version': '3.0', 'oslo.message': '{}' }), /envelope version "3.0"/],
    ['a numeric version', JSON.stringify({ 'oslo.version': 2, 'oslo.message': '{}' }), /envelope version 2 /],
    ['oslo.message as an object', JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': {} }), /not a string/],
    ['oslo.message not JSON', JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': '{' }), /oslo.message is not valid JSON/],
    ['oslo.message a string', JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': '"x"' }), /not a JSON object/],
  ])('refuses %s with MessageFormatError', (_name, body, message) => {
    expect(() => decodeEnvelope(Buffer.from(body), MAX)).toThrow(MessageFormatError);
    expect(() => decodeEnvelope(Buffer.from(body), MAX)).toThrow(message);
  });

  it('refuses a body over the limit without parsing it', () => {
    const body = Buffer.from(`{${' '.repeat(200)}`); // would be a JSON error if parsed
    expect(() => decodeEnvelope(body, 100)).toThrow(/exceeds the limit of 100 bytes/);
  });
});

describe('encodeEnvelope', () => {
  it('round-trips through decodeEnvelope with oslo.message as a JSON string', () => {
    const body = encodeEnvelope({ result: 'x', failure: null });
    const outer = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    expect(outer['oslo.version']).toBe('2.0');
    expect(typeof outer['oslo.message']).toBe('string');
    expect(decodeEnvelope(body, MAX)).toEqual({ result: 'x', failure: null });
  });
});

describe('parseRequest', () => {
  it('extracts call fields from a captured call', () => {
    const c = capture('call rpc_ping v1.0 -> guestagent (encrypted)');
    const request = parseRequest(c.oslo_message);
    expect(request.method).toBe('rpc_ping');
    expect(request.version).toBe('1.0');
    expect(request.msgId).toBe(c.oslo_message['_msg_id']);
    expect(request.replyQ).toBe(c.oslo_message['_reply_q']);
    expect(request.uniqueId).toBe(c.oslo_message['_unique_id']);
    expect(request.timeout).toBeNull();
  });

  it('treats a captured cast as having no _msg_id and no reply queue', () => {
    const request = parseRequest(capture('cast prepare v1.1').oslo_message);
    expect(request).toMatchObject({ method: 'prepare', version: '1.1', msgId: null, replyQ: null });
  });

  it('defaults version to 1.0 and args to {}', () => {
    expect(parseRequest({ method: 'm' })).toMatchObject({ version: '1.0', args: {} });
  });

  it.each([
    [{}, /no method/],
    [{ method: 7 }, /no method/],
    [{ method: 'm', _msg_id: 5 }, /_msg_id is not a string/],
    [{ method: 'm', _reply_q: 'x'.repeat(300) }, /_reply_q is not a valid queue name/],
  ])('refuses %j', (message, error) => {
    expect(() => parseRequest(message)).toThrow(error);
  });
});

describe('reply targets of undecodable messages', () => {
  it('reads _msg_id and _reply_q from a decoded message with bad fields', () => {
    expect(replyTargetOf({ method: 3, _msg_id: 'a1', _reply_q: 'reply_b2' })).toEqual({ msgId: 'a1', replyQ: 'reply_b2' });
    expect(replyTargetOf({ _msg_id: 'a1' })).toBeNull();
  });

  it('finds them by scanning the raw bytes of an envelope with a wrong version', () => {
    const inner = JSON.stringify({ method: 'rpc_ping', _msg_id: 'abc123', _reply_q: 'reply_def456' }, null, 1);
    const body = Buffer.from(JSON.stringify({ 'oslo.version': '9.0', 'oslo.message': inner }));
    expect(scanReplyTarget(body)).toEqual({ msgId: 'abc123', replyQ: 'reply_def456' });
  });

  it('finds them in a captured body and in a broken one, but not when absent', () => {
    const c = capture('call get_filesystem_stats v1.0 -> guestagent (encrypted)');
    const expected = { msgId: c.oslo_message['_msg_id'], replyQ: c.oslo_message['_reply_q'] };
    expect(scanReplyTarget(Buffer.from(c.body_text))).toEqual(expected);
    expect(scanReplyTarget(Buffer.from(c.body_text.slice(0, -10)))).toEqual(expected);
    expect(scanReplyTarget(Buffer.from(capture('cast prepare v1.1').body_text))).toBeNull();
  });
});

describe('messages we build', () => {
  it('builds one reply with ending true, echoing _msg_id and a fresh _unique_id', () => {
    const reply = buildReply('m1', { result: 'enc' });
    expect(reply).toEqual({ result: 'enc', failure: null, ending: true, _msg_id: 'm1', _unique_id: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(buildReply('m1', { failure: '{}' })).toMatchObject({ result: null, failure: '{}', ending: true });
    expect(buildReply('m1', { result: null })['_unique_id']).not.toBe(reply['_unique_id']);
  });

  it('builds a cast in oslo field order with context fields last', () => {
    const cast = buildCast('heartbeat', { a: 1 }, '1.0', { _context_context: 'x' });
    expect(Object.keys(cast)).toEqual(['method', 'args', 'version', '_unique_id', '_context_context']);
  });
});
