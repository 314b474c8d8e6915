import { describe, expect, it } from 'vitest';
import { MessageFormatError } from '../../../src/errors';
import {
  SecureSerializer,
  decryptJson,
  decryptText,
  deriveAesKey,
  encryptJson,
  encryptText,
} from '../../../src/rpc/secure';
import { CAPTURE_KEY, capture, loadCaptures } from '../../helpers/captures';

const key = deriveAesKey(CAPTURE_KEY);

describe('deriveAesKey', () => {
  it('is the md5 hex string of the secret: 32 ASCII bytes, so AES-256', () => {
    expect(key.length).toBe(32);
    expect(key.toString('ascii')).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe('decrypting real captures with the test key', () => {
  const guestBound = loadCaptures().filter((c) => c.args_decrypted !== undefined);

  it('has guest-bound captures with encrypted args', () => {
    expect(guestBound.length).toBeGreaterThan(10);
  });

  it.each(guestBound.map((c) => [c.label, c] as const))('decrypts the args of %s', (_label, c) => {
    const args = c.oslo_message['args'] as Record<string, unknown>;
    const decrypted = Object.fromEntries(Object.entries(args).map(([k, v]) => [k, decryptJson(v, key)]));
    expect(decrypted).toEqual(c.args_decrypted);
  });

  it('decrypts every captured context through SecureSerializer', () => {
    const serializer = new SecureSerializer(CAPTURE_KEY);
    const withContext = loadCaptures().filter((c) => c.context_decrypted !== undefined);
    expect(withContext.length).toBeGreaterThan(20);
    for (const c of withContext) expect(serializer.deserializeContext(c.oslo_message), c.label).toEqual(c.context_decrypted);
  });

  it('decrypts every captured result, including an encrypted null', () => {
    const serializer = new SecureSerializer(CAPTURE_KEY);
    const replies = loadCaptures().filter((c) => c.result_decrypted !== undefined);
    expect(replies.some((c) => c.result_decrypted === null)).toBe(true);
    for (const c of replies) expect(serializer.deserializeEntity(c.oslo_message['result']), c.label).toEqual(c.result_decrypted);
  });

  it('decrypts conductor args wrapped as {"entity", "csz-instance-id"} strings', () => {
    const c = capture('cast heartbeat v1.0 -> trove-conductor');
    const args = c.oslo_message['args'] as Record<string, string>;
    const decrypted = Object.fromEntries(
      Object.entries(args).map(([k, v]) => [k, decryptJson((JSON.parse(v) as { entity: string }).entity, key)]),
    );
    expect(decrypted).toEqual(c.conductor_args_decrypted);
  });
});

describe('our encryption', () => {
  it('round-trips values and uses a fresh IV each time', () => {
    for (const value of [null, true, 0, 1795774190.3837857, 'héllo', [], { a: [1, { b: null }] }]) {
      expect(decryptJson(encryptJson(value, key), key)).toEqual(value);
    }
    expect(encryptText('same', key)).not.toBe(encryptText('same', key));
  });

  it('pads a full block when the plaintext is a multiple of 16 bytes', () => {
    const raw = Buffer.from(encryptText('0123456789abcdef', key), 'base64');
    expect(raw.length).toBe(16 + 32);
  });

  it('serializes entities and context that SecureSerializer reads back', () => {
    const serializer = new SecureSerializer(CAPTURE_KEY);
    const fields = serializer.serializeContext({ user: 'u', roles: ['member'] });
    expect(Object.keys(fields)).toEqual(['_context_context']);
    expect(serializer.deserializeContext(fields)).toEqual({ user: 'u', roles: ['member'] });
    expect(serializer.deserializeEntity(serializer.serializeEntity(null))).toBeNull();
  });

  it('is plain JSON with flattened context when there is no key', () => {
    const plain = new SecureSerializer(null);
    expect(plain.serializeEntity({ a: 1 })).toEqual({ a: 1 });
    expect(plain.serializeContext({ user: 'u' })).toEqual({ _context_user: 'u' });
    const c = capture('call rpc_ping v1.0 -> guestagent (plain)');
    expect(plain.deserializeContext(c.oslo_message)).toMatchObject({ project_id: expect.any(String) });
  });
});

describe('decrypt errors', () => {
  it.each([
    ['not base64', 'not*base64!'],
    ['bad base64 padding', 'YWJj='],
    ['too short', Buffer.alloc(16).toString('base64')],
    ['not a block multiple', Buffer.alloc(40).toString('base64')],
  ])('refuses %s', (_name, text) => {
    expect(() => decryptText(text, key)).toThrow(MessageFormatError);
  });

  it('refuses a value encrypted with another key (padding check)', () => {
    const other = deriveAesKey('another-secret-0123456789abcdefg');
    let failures = 0;
    for (let i = 0; i < 20; i += 1) {
      try {
        decryptJson(encryptJson({ n: i }, other), key);
      } catch (err) {
        expect(err).toBeInstanceOf(MessageFormatError);
        failures += 1;
      }
    }
    expect(failures).toBe(20);
  });

  it('refuses a non-string and a non-JSON plaintext', () => {
    expect(() => decryptJson(null, key)).toThrow(/expected an encrypted string, got null/);
    expect(() => decryptJson(encryptText('not json', key), key)).toThrow(/not JSON/);
  });
});
