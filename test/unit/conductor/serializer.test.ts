import { describe, expect, it } from 'vitest';
import { ConductorGuestSerializer } from '../../../src/conductor/serializer';
import { decryptJson, deriveAesKey } from '../../../src/rpc/secure';
import { capture, decryptConductorArgs, decryptConductorContext, TEST_KEY } from './recording-caster';

const GUEST = '6a1f7c3e-2b4d-4e8a-9c0f-1d2e3f4a5b6c';
/** The shape of one conductor kwarg on the wire, Python separators included. */
const WRAPPED = new RegExp(`^\\{"entity": "[A-Za-z0-9+/]+=*", "csz-instance-id": "${GUEST}"\\}$`);

describe('ConductorGuestSerializer with a key', () => {
  const serializer = new ConductorGuestSerializer(GUEST, TEST_KEY);

  it('wraps each value as a JSON string with the encrypted entity and the guest id', () => {
    for (const value of [GUEST, 1795774442.1878438, { service_status: 'healthy' }, null, [], 'ü → ✓']) {
      const wire = serializer.serializeEntity(value);
      expect(typeof wire).toBe('string');
      expect(wire).toMatch(WRAPPED);
      const parsed = JSON.parse(wire as string) as Record<string, unknown>;
      expect(Object.keys(parsed)).toEqual(['entity', 'csz-instance-id']);
      expect(decryptJson(parsed['entity'], deriveAesKey(TEST_KEY))).toEqual(value);
    }
  });

  it('produces kwargs of the same shape as the captured Python heartbeat', () => {
    const heartbeat = capture('cast heartbeat v1.0 -> trove-conductor (encrypted)');
    const capturedArgs = heartbeat.oslo_message['args'] as Record<string, string>;
    for (const value of Object.values(capturedArgs)) expect(value).toMatch(WRAPPED);
    // Our decoder reads Python's bytes, and Python's decoder (same algorithm) reads ours.
    expect(decryptConductorArgs(heartbeat.oslo_message, TEST_KEY)).toEqual(heartbeat.conductor_args_decrypted);
    const ours = Object.fromEntries(
      Object.entries(heartbeat.conductor_args_decrypted ?? {}).map(([k, v]) => [k, serializer.serializeEntity(v)]),
    );
    expect(decryptConductorArgs({ args: ours }, TEST_KEY)).toEqual(heartbeat.conductor_args_decrypted);
  });

  it('puts the encrypted context in _context_context next to the clear _context_csz-instance-id', () => {
    const heartbeat = capture('cast heartbeat v1.0 -> trove-conductor (encrypted)');
    const context = heartbeat.context_decrypted ?? {};
    const packed = serializer.serializeContext(context);
    const capturedContextKeys = Object.keys(heartbeat.oslo_message).filter((k) => k.startsWith('_context_'));
    expect(Object.keys(packed)).toEqual(capturedContextKeys);
    expect(packed['_context_csz-instance-id']).toBe(GUEST);
    expect(decryptConductorContext(packed, TEST_KEY)).toEqual(context);
    expect(decryptConductorContext(heartbeat.oslo_message, TEST_KEY)).toEqual(context);
  });

  it('refuses to deserialize (the conductor never sends through it)', () => {
    expect(() => serializer.deserializeEntity()).toThrow(/cannot deserialize/);
    expect(() => serializer.deserializeContext()).toThrow(/cannot deserialize/);
  });
});

describe('ConductorGuestSerializer without a key (secure RPC off)', () => {
  const serializer = new ConductorGuestSerializer(GUEST, null);

  it('sends values unchanged and the context as plain _context_* keys without csz-instance-id', () => {
    expect(serializer.encrypted).toBe(false);
    expect(serializer.serializeEntity({ service_status: 'healthy' })).toEqual({ service_status: 'healthy' });
    expect(serializer.serializeEntity(GUEST)).toBe(GUEST);
    expect(serializer.serializeContext({ request_id: 'req-1', roles: [] })).toEqual({
      _context_request_id: 'req-1',
      _context_roles: [],
    });
  });
});
