import { describe, expect, it } from 'vitest';
import { ConductorApi, formatExceptionLines } from '../../../src/conductor/api';
import type { ServiceStatus } from '../../../src/conductor/statuses';
import {
  capture,
  captureLogger,
  decryptConductorArgs,
  decryptConductorContext,
  heartbeats,
  RecordingCaster,
  TEST_KEY,
} from './recording-caster';

const GUEST = '9d4a0f6b-0000-4000-8000-00000000c0de';

function build(secret: string | null = TEST_KEY, now?: () => number, minCastGapMs = 0) {
  const caster = new RecordingCaster();
  const { log, lines } = captureLogger();
  const okFlags: boolean[] = [];
  const api = new ConductorApi({
    caster,
    conductorQueue: 'trove-conductor-test',
    guestId: GUEST,
    encryptionKey: secret,
    log,
    ...(now ? { now } : {}),
    onHeartbeat: (ok) => okFlags.push(ok),
    minCastGapMs,
  });
  return { api, caster, lines, okFlags };
}

describe('ConductorApi cast spacing', () => {
  // Trove 18's conductor loses one of two first heartbeats that arrive together (duplicate
  // last-seen insert), so casts of one method leave at least minCastGapMs apart, in order.
  it('sends heartbeats of one method in order and at least the gap apart, other methods freely', async () => {
    const { api, caster } = build(TEST_KEY, undefined, 150);
    const sentAt: number[] = [];
    const original = caster.cast.bind(caster);
    caster.cast = async (...args: Parameters<typeof original>) => {
      sentAt.push(performance.now());
      return original(...args);
    };
    await Promise.all([api.heartbeat('building'), api.heartbeat('failed to spawn'), api.updateBackup('bk-1', { state: 'BUILDING' })]);
    expect(heartbeats(caster, TEST_KEY).map((b) => b.status)).toEqual(['building', 'failed to spawn']);
    const methods = caster.casts.map((c) => c.message['method']);
    // update_backup has its own lane: it does not wait behind the heartbeats.
    expect(methods.indexOf('update_backup')).toBeLessThan(methods.lastIndexOf('heartbeat'));
    const beats = caster.casts.flatMap((c, i) => (c.message['method'] === 'heartbeat' ? [sentAt[i] ?? 0] : []));
    expect((beats[1] ?? 0) - (beats[0] ?? 0)).toBeGreaterThanOrEqual(149);
  });

  it('keeps the lane going after a failed cast', async () => {
    const { api, caster } = build(TEST_KEY, undefined, 10);
    caster.failNext = 1;
    await expect(api.heartbeat('building')).rejects.toThrow('broker unavailable');
    await api.heartbeat('healthy');
    expect(heartbeats(caster, TEST_KEY).map((b) => b.status)).toEqual(['healthy']);
  });
});

describe('ConductorApi.heartbeat', () => {
  it('casts heartbeat 1.0 to the conductor topic shaped like the Python guest', async () => {
    const { api, caster } = build(TEST_KEY, () => 1795774442187.8438);
    await api.heartbeat('healthy');
    expect(caster.casts).toHaveLength(1);
    const [cast] = caster.casts;
    expect(cast?.topic).toBe('trove-conductor-test');
    const python = capture('cast heartbeat v1.0 -> trove-conductor (encrypted)');
    const message = cast?.message ?? {};
    expect(message['version']).toBe('1.0');
    expect(Object.keys(message['args'] as object)).toEqual(Object.keys(python.oslo_message['args'] as object));
    expect(decryptConductorArgs(message, TEST_KEY)).toEqual({
      instance_id: GUEST,
      sent: 1795774442.187844,
      payload: { service_status: 'healthy' },
    });
    const context = decryptConductorContext(message, TEST_KEY);
    const expected = python.context_decrypted ?? {};
    expect(Object.keys(context)).toEqual(Object.keys(expected));
    expect({ ...context, request_id: null }).toEqual({ ...expected, request_id: null });
    expect(context['request_id']).toMatch(/^req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(message['_context_csz-instance-id']).toBe(GUEST);
  });

  it('uses a fresh request id per cast', async () => {
    const { api, caster } = build();
    await api.heartbeat('healthy');
    await api.heartbeat('healthy');
    const ids = caster.casts.map((c) => decryptConductorContext(c.message, TEST_KEY)['request_id']);
    expect(new Set(ids).size).toBe(2);
  });

  it('keeps sent strictly increasing when the clock stands still or steps back', async () => {
    const clock = [1_800_000_000_000, 1_800_000_000_000, 1_800_000_000_000, 1_799_999_000_000, 1_800_000_005_000];
    let t = 0;
    const { api, caster } = build(TEST_KEY, () => t);
    for (const ms of clock) {
      t = ms;
      await api.heartbeat('healthy');
    }
    const sent = heartbeats(caster, TEST_KEY).map((h) => h.sent);
    expect(sent).toHaveLength(5);
    for (let n = 1; n < sent.length; n += 1) expect(sent[n]).toBeGreaterThan(sent[n - 1] ?? Infinity);
    expect(sent[0]).toBe(1_800_000_000);
    expect(sent[4]).toBe(1_800_000_005);
    for (const s of sent) expect(typeof s).toBe('number');
  });

  it('keeps a separate sequence per method (the conductor keys LastSeen by method)', async () => {
    const { api, caster } = build(TEST_KEY, () => 1_800_000_000_000);
    await api.heartbeat('building');
    await api.updateBackup('bk-1', { state: 'BUILDING' });
    const sent = caster.casts.map((c) => decryptConductorArgs(c.message, TEST_KEY)['sent']);
    expect(sent).toEqual([1_800_000_000, 1_800_000_000]);
  });

  it('refuses statuses the conductor would reject, sending nothing', async () => {
    const { api, caster } = build();
    for (const bad of ['upgrading', 'HEALTHY', 'paused-ish']) {
      await expect(api.heartbeat(bad as ServiceStatus)).rejects.toThrow(/not a service status/);
    }
    expect(caster.casts).toHaveLength(0);
  });

  it('reports a failed cast and does not move lastHeartbeatAt', async () => {
    const { api, caster, okFlags } = build(TEST_KEY, () => 1_800_000_000_000);
    caster.failNext = 1;
    await expect(api.heartbeat('healthy')).rejects.toThrow(/broker unavailable/);
    expect(api.lastHeartbeatAt).toBeNull();
    await api.heartbeat('healthy');
    expect(api.lastHeartbeatAt).toBe(1_800_000_000_000);
    expect(okFlags).toEqual([false, true]);
  });

  it('sends plain args and flattened context when secure RPC is off', async () => {
    const { api, caster } = build(null, () => 1_800_000_000_500);
    await api.heartbeat('running');
    const message = caster.casts[0]?.message ?? {};
    expect(message['args']).toEqual({ instance_id: GUEST, sent: 1_800_000_000.5, payload: { service_status: 'running' } });
    expect(message['_context_user_identity']).toBe('- - - - -');
    expect(message['_context_roles']).toEqual([]);
    expect(message).not.toHaveProperty('_context_context');
    expect(message).not.toHaveProperty('_context_csz-instance-id');
  });
});

describe('ConductorApi.updateBackup', () => {
  it('casts the row fields with instance_id, backup_id and sent that fields cannot override', async () => {
    const { api, caster } = build(TEST_KEY, () => 1_800_000_000_000);
    await api.updateBackup('bk-7', { state: 'COMPLETED', size: 0.25, checksum: 'a'.repeat(32), success: true, instance_id: 'evil' });
    const args = decryptConductorArgs(caster.casts[0]?.message ?? {}, TEST_KEY);
    expect(args).toEqual({
      instance_id: GUEST, backup_id: 'bk-7', sent: 1_800_000_000,
      state: 'COMPLETED', size: 0.25, checksum: 'a'.repeat(32), success: true,
    });
    const python = capture('cast update_backup v1.0 -> trove-conductor (encrypted)').conductor_args_decrypted ?? {};
    expect(Object.keys(args).slice(0, 3)).toEqual(Object.keys(python).slice(0, 3));
  });

  it('refuses a checksum longer than the VARCHAR(32) column', async () => {
    const { api, caster } = build();
    await expect(api.updateBackup('bk-7', { checksum: 'a'.repeat(33) })).rejects.toThrow(/32/);
    expect(caster.casts).toHaveLength(0);
  });
});

describe('ConductorApi notifications', () => {
  const python = capture('cast notify_end v1.0 -> trove-conductor (encrypted)');
  const incoming = python.context_decrypted ?? {};

  it('notify_end carries the incoming trove_notification re-targeted to the guest, like Python', async () => {
    const { api, caster } = build();
    const taskmanagerCtx = { ...incoming, trove_notification: { ...(incoming['trove_notification'] as object), server_type: 'taskmanager' } };
    expect(await api.notifyEnd(taskmanagerCtx)).toBe(true);
    const message = caster.casts[0]?.message ?? {};
    expect(message['method']).toBe('notify_end');
    const args = decryptConductorArgs(message, TEST_KEY);
    const expected = python.conductor_args_decrypted ?? {};
    expect(args).toEqual({
      ...expected,
      serialized_notification: { ...(expected['serialized_notification'] as object), instance_id: GUEST },
    });
    expect(decryptConductorContext(message, TEST_KEY)).toEqual(taskmanagerCtx);
  });

  it('notify_exc_info sends a readable message and traceback-like lines', async () => {
    const { api, caster } = build();
    const error = new Error('chmpx did not start', { cause: new Error('port 8020 in use') });
    expect(await api.notifyExcInfo(incoming, error)).toBe(true);
    const args = decryptConductorArgs(caster.casts[0]?.message ?? {}, TEST_KEY);
    expect(args['message']).toBe('chmpx did not start');
    const lines = args['exception'] as string[];
    expect(lines[0]).toBe('Traceback (most recent call last):\n');
    expect(lines).toContain('Error: chmpx did not start\n');
    expect(lines[lines.length - 1]).toBe('Error: port 8020 in use\n');
    for (const line of lines) expect(line.endsWith('\n')).toBe(true);
    expect((args['serialized_notification'] as Record<string, unknown>)['server_type']).toBe('guest');
  });

  it('skips both notifications with a debug line when the request had no trove_notification', async () => {
    const { api, caster, lines } = build();
    expect(await api.notifyEnd({ request_id: 'req-x' })).toBe(false);
    expect(await api.notifyExcInfo({ request_id: 'req-x' }, new Error('x'))).toBe(false);
    expect(caster.casts).toHaveLength(0);
    expect(lines().filter((l) => l['level'] === 'debug' && /no trove_notification/.test(String(l['msg'])))).toHaveLength(2);
  });

  it('formats non-Error values too', () => {
    expect(formatExceptionLines('plain text')).toEqual(['Traceback (most recent call last):\n', 'Error: plain text\n']);
  });
});
