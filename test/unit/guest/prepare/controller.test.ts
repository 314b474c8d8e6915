import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConductorApi } from '../../../../src/conductor/api';
import { HeartbeatLoop } from '../../../../src/conductor/heartbeat';
import { GuestStateError } from '../../../../src/errors';
import { BaseDatastore } from '../../../../src/guest/datastore/base';
import type { Datastore, PrepareRequest } from '../../../../src/guest/datastore/contract';
import { toPrepareRequest } from '../../../../src/guest/methods/lifecycle';
import { PrepareController } from '../../../../src/guest/prepare/controller';
import type { CallContext, RequestContext } from '../../../../src/rpc/types';
import { PREPARE_END_FILE, PREPARE_START_FILE } from '../../../../src/system/prepare-markers';
import {
  capture,
  captureLogger,
  decryptConductorArgs,
  heartbeats,
  RecordingCaster,
  TEST_KEY,
} from '../../conductor/recording-caster';

const GUEST = '6a1f7c3e-2b4d-4e8a-9c0f-1d2e3f4a5b6c';
const prepareCapture = capture('cast prepare v1.1 -> guestagent (encrypted)');
const INCOMING: RequestContext = prepareCapture.context_decrypted ?? {};

/** The real guest core around a datastore: real conductor API, real heartbeat loop, recorded wire. */
function build(datastore?: (mountPoint: string, stateDir: string) => Datastore) {
  const root = mkdtempSync(join(tmpdir(), 'k2h-prep-'));
  const stateDir = join(root, 'state');
  mkdirSync(stateDir);
  const mountPoint = join(root, 'data');
  const caster = new RecordingCaster();
  const { log, lines } = captureLogger();
  const conductor = new ConductorApi({ caster, conductorQueue: 'trove-conductor', guestId: GUEST, encryptionKey: TEST_KEY, log, minCastGapMs: 0 });
  const ds = datastore ? datastore(mountPoint, stateDir) : new BaseDatastore({ mountPoint, stateDir, log });
  const heartbeat = new HeartbeatLoop({ sender: conductor, statusProvider: () => ds.status(), intervalMs: 3_600_000, stateDir, log });
  const controller = new PrepareController({ stateDir, datastore: ds, conductor, heartbeat, log });
  return { root, stateDir, mountPoint, caster, controller, heartbeat, lines };
}

function callWith(context: RequestContext = INCOMING): CallContext {
  const { log } = captureLogger();
  return { method: 'prepare', kind: 'cast', msgId: null, context, log, signal: new AbortController().signal };
}

function request(overrides: Record<string, unknown> = {}): PrepareRequest {
  return toPrepareRequest({ ...(prepareCapture.args_decrypted ?? {}), ...overrides });
}

/** A datastore whose prepare waits until released, to hold the machine in `preparing`. */
function gated(result: 'ok' | Error) {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const ds: Datastore = {
    prepare: async () => {
      await gate;
      if (result instanceof Error) throw result;
    },
    status: async () => 'healthy',
  };
  return { ds, release: () => release() };
}

describe('PrepareController', () => {
  it('succeeds: building, then the datastore status, end marker, notify_end, periodic heartbeat', async () => {
    const { stateDir, mountPoint, caster, controller, heartbeat } = build();
    expect(controller.state).toBe('idle');
    await controller.prepare(request({ mount_point: undefined }), callWith());
    expect(controller.state).toBe('prepared');
    expect(caster.methods()).toEqual(['heartbeat', 'heartbeat', 'notify_end']);
    const beats = heartbeats(caster, TEST_KEY);
    expect(beats.map((b) => b.status)).toEqual(['building', 'healthy']);
    expect(beats[1]?.sent).toBeGreaterThan(beats[0]?.sent ?? Infinity);
    expect(existsSync(join(stateDir, PREPARE_START_FILE))).toBe(true);
    expect(existsSync(join(stateDir, PREPARE_END_FILE))).toBe(true);
    expect(statSync(mountPoint).isDirectory()).toBe(true);
    expect(readFileSync(join(stateDir, 'datastore.conf'), 'utf8')).toBe('[k2hdkc]\nport = 8020\n');
    const end = decryptConductorArgs(caster.casts[2]?.message ?? {}, TEST_KEY);
    expect(end['serialized_notification']).toMatchObject({ server_type: 'guest', instance_id: GUEST });
    expect(end['notification_args']).toEqual({});
    expect(heartbeat.running).toBe(true);
    await heartbeat.stop();
  });

  it('refuses a second prepare after success with GuestStateError and no side effects', async () => {
    const { stateDir, caster, controller, heartbeat } = build();
    await controller.prepare(request(), callWith());
    await heartbeat.stop();
    const wire = caster.casts.length;
    const before = statSync(join(stateDir, PREPARE_START_FILE));
    await expect(controller.prepare(request(), callWith())).rejects.toBeInstanceOf(GuestStateError);
    expect(controller.state).toBe('prepared');
    expect(caster.casts).toHaveLength(wire);
    const after = statSync(join(stateDir, PREPARE_START_FILE));
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
  });

  it('refuses a prepare while one runs, without touching the running one', async () => {
    const { ds, release } = gated('ok');
    const { caster, controller, heartbeat } = build(() => ds);
    const first = controller.prepare(request(), callWith());
    await expect(controller.prepare(request(), callWith())).rejects.toThrow(/already running/);
    expect(controller.state).toBe('preparing');
    release();
    await first;
    expect(heartbeats(caster, TEST_KEY).map((b) => b.status)).toEqual(['building', 'healthy']);
    expect(caster.methods().filter((m) => m === 'notify_end')).toHaveLength(1);
    await heartbeat.stop();
  });

  it('fails: building, failed to spawn, notify_exc_info; no end marker, no periodic heartbeat; rethrows', async () => {
    const boom = new Error('chmpx did not start on port 8020');
    const { ds, release } = gated(boom);
    const { stateDir, caster, controller, heartbeat } = build(() => ds);
    const running = controller.prepare(request(), callWith());
    release();
    await expect(running).rejects.toBe(boom);
    expect(controller.state).toBe('failed');
    expect(caster.methods()).toEqual(['heartbeat', 'heartbeat', 'notify_exc_info']);
    expect(heartbeats(caster, TEST_KEY).map((b) => b.status)).toEqual(['building', 'failed to spawn']);
    const exc = decryptConductorArgs(caster.casts[2]?.message ?? {}, TEST_KEY);
    expect(exc['message']).toBe('chmpx did not start on port 8020');
    expect((exc['exception'] as string[]).at(-1)).toBe('Error: chmpx did not start on port 8020\n');
    expect(existsSync(join(stateDir, PREPARE_END_FILE))).toBe(false);
    expect(heartbeat.running).toBe(false);
  });

  it('may prepare again after a failure', async () => {
    let fail = true;
    const ds: Datastore = {
      prepare: async () => {
        if (fail) throw new Error('first attempt');
      },
      status: async () => 'running',
    };
    const { caster, controller, heartbeat } = build(() => ds);
    await expect(controller.prepare(request(), callWith())).rejects.toThrow('first attempt');
    fail = false;
    await controller.prepare(request(), callWith());
    expect(heartbeats(caster, TEST_KEY).map((b) => b.status)).toEqual(['building', 'failed to spawn', 'building', 'running']);
    await heartbeat.stop();
  });

  it('a cluster member ends in instance ready, without end marker or periodic heartbeat', async () => {
    const { stateDir, caster, controller, heartbeat } = build();
    await controller.prepare(request({ cluster_config: { id: 'cl-1', instance_type: 'member' } }), callWith());
    expect(heartbeats(caster, TEST_KEY).map((b) => b.status)).toEqual(['building', 'instance ready']);
    expect(caster.methods()).toEqual(['heartbeat', 'heartbeat', 'notify_end']);
    expect(existsSync(join(stateDir, PREPARE_END_FILE))).toBe(false);
    expect(heartbeat.running).toBe(false);
    expect(controller.state).toBe('prepared');
  });

  it('cluster_complete after instance ready: end marker, the real status, periodic heartbeats', async () => {
    const { stateDir, caster, controller, heartbeat } = build();
    await expect(controller.completeCluster()).rejects.toThrow(GuestStateError);
    await controller.prepare(request({ cluster_config: { id: 'cl-1', instance_type: 'member' } }), callWith());
    await controller.completeCluster();
    expect(heartbeats(caster, TEST_KEY).map((b) => b.status)).toEqual(['building', 'instance ready', 'healthy']);
    expect(existsSync(join(stateDir, PREPARE_END_FILE))).toBe(true);
    expect(heartbeat.running).toBe(true);
    await heartbeat.stop();
  });

  it('sends no notification when the request carried no trove_notification', async () => {
    const { caster, controller, heartbeat } = build();
    await controller.prepare(request(), callWith({ request_id: 'req-plain' }));
    expect(caster.methods()).toEqual(['heartbeat', 'heartbeat']);
    await heartbeat.stop();
  });

  it('carries on when a status heartbeat cannot be sent (logged)', async () => {
    const { caster, controller, heartbeat, lines } = build();
    caster.failNext = 1;
    await controller.prepare(request(), callWith());
    expect(heartbeats(caster, TEST_KEY).map((b) => b.status)).toEqual(['healthy']);
    expect(lines().some((l) => l['level'] === 'error' && l['status'] === 'building')).toBe(true);
    await heartbeat.stop();
  });

  it('restore() reads the markers of an earlier run', async () => {
    const { stateDir, controller } = build();
    expect(await controller.restore()).toBe('idle');
    writeFileSync(join(stateDir, PREPARE_START_FILE), '');
    expect(await controller.restore()).toBe('failed');
    writeFileSync(join(stateDir, PREPARE_END_FILE), '');
    expect(await controller.restore()).toBe('prepared');
    await expect(controller.prepare(request(), callWith())).rejects.toBeInstanceOf(GuestStateError);
  });
});
