import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BaseDatastore } from '../../../../src/guest/datastore/base';
import { toPrepareRequest } from '../../../../src/guest/methods/lifecycle';
import { K2hdkcDatastore, type K2hdkcDatastoreOptions } from '../../../../src/guest/datastore/k2hdkc';
import { buildGuestMethods } from '../../../../src/guest/methods/table';
import type { NodeHealth } from '../../../../src/k2hdkc/ctlport/health';
import type { CallContext } from '../../../../src/rpc/types';
import { captureLogger } from '../../conductor/recording-caster';

/** A node whose health the test sets; records what the adapter handed it. */
function fakeNode() {
  let health: NodeHealth = 'shutdown';
  let release: () => void = () => undefined;
  const seen: { auth?: unknown; stopDb?: unknown } = {};
  const manager: K2hdkcDatastoreOptions['manager'] = {
    prepare: async (_request, auth) => {
      seen.auth = { keystoneToken: auth.keystoneToken, projectName: auth.projectName };
      health = 'healthy';
    },
    status: async () => health,
    restart: () => new Promise<void>((resolve) => (release = () => { health = 'healthy'; resolve(); })),
    stopDb: async (options) => {
      seen.stopDb = options;
      health = 'shutdown';
    },
    startDbWithConfChanges: async () => {
      health = 'healthy';
    },
  };
  return { manager, seen, setHealth: (h: NodeHealth) => (health = h), release: () => release() };
}

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'k2h-k2hdkc-ds-'));
  const { log } = captureLogger();
  const node = fakeNode();
  const base = new BaseDatastore({ mountPoint: join(dir, 'data'), stateDir: dir, log });
  const datastore = new K2hdkcDatastore({ manager: node.manager, base, log });
  const beats: string[] = [];
  const table = buildGuestMethods({
    guestId: 'g1', datastoreManager: 'k2hdkc', mountPoint: dir, guestLogFile: null,
    prepare: { prepare: async () => undefined },
    node: { operations: datastore, beatNow: async () => beats.push(await datastore.status()) },
    log,
  });
  const method = (name: string) => {
    const entry = table.find((e) => e.name === name);
    if (entry === undefined) throw new Error(`no ${name}`);
    return entry;
  };
  return { dir, node, base, datastore, beats, method, log };
}

function call(method: string, context: Record<string, unknown> = {}): CallContext {
  const { log } = captureLogger();
  return { method, kind: 'call', msgId: 'm1', context, log, signal: new AbortController().signal };
}

describe('K2hdkcDatastore', () => {
  it('maps node health to the conductor\'s words, crashed included', async () => {
    const { node, datastore } = setup();
    const expected = { healthy: 'healthy', running: 'running', shutdown: 'shutdown', crashed: 'crashed' } as const;
    for (const [health, status] of Object.entries(expected)) {
      node.setHealth(health as NodeHealth);
      expect(await datastore.status()).toBe(status);
    }
  });

  it('gives the manager the Keystone token and project of the request context, and saves config_contents after it', async () => {
    const { node, datastore, base } = setup();
    const request = toPrepareRequest({ config_contents: '[k2hdkc]\nmaxthread = 4\n' });
    await datastore.prepare(request, call('prepare', { auth_token: 'tok-123', project_name: 'demo', tenant: 't-1' }));
    expect(node.seen.auth).toEqual({ keystoneToken: 'tok-123', projectName: 'demo' });
    expect(readFileSync(base.configPath, 'utf8')).toBe('[k2hdkc]\nmaxthread = 4\n');
  });

  it('reports restarting while restart runs; restart replies None after a healthy heartbeat', async () => {
    const { node, datastore, beats, method } = setup();
    const pending = Promise.resolve(method('restart').handler({}, call('restart')));
    await new Promise((r) => setImmediate(r));
    expect(await datastore.status()).toBe('restarting');
    node.release();
    expect(await pending).toBeNull();
    expect(beats).toEqual(['healthy']);
  });

  it('stop_db always stops (and so deregisters); only 1.0\'s do_not_start_on_reboot keeps the node down at agent start', async () => {
    const { node, method } = setup();
    expect(await method('stop_db').handler({}, call('stop_db'))).toBeNull();
    expect(node.seen.stopDb).toEqual({ doNotStartOnReboot: false });
    await method('stop_db').handler({ do_not_start_on_reboot: true }, call('stop_db'));
    expect(node.seen.stopDb).toEqual({ doNotStartOnReboot: true });
  });

  it('start_db_with_conf_changes saves the new config and heartbeats the started node', async () => {
    const { base, beats, method } = setup();
    expect(await method('start_db_with_conf_changes').handler({ config_contents: 'new\n', ds_version: '1.0.14' }, call('x'))).toBeNull();
    expect(readFileSync(base.configPath, 'utf8')).toBe('new\n');
    expect(beats).toEqual(['healthy']);
  });

  it('serves no node operations with the base datastore (NoSuchMethod from the dispatcher)', () => {
    const { log } = captureLogger();
    const names = buildGuestMethods({
      guestId: 'g1', datastoreManager: 'k2hdkc', mountPoint: '/', guestLogFile: null, prepare: { prepare: async () => undefined }, log,
    }).map((e) => e.name);
    expect(names).not.toContain('restart');
    expect(names).not.toContain('stop_db');
  });
});
