import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NotSupportedError } from '../../../../src/errors';
import type { PrepareRequest } from '../../../../src/guest/datastore/contract';
import { buildGuestMethods, type GuestMethodsDeps } from '../../../../src/guest/methods/table';
import { toFailure } from '../../../../src/rpc/failures';
import { getFilesystemStats } from '../../../../src/system/fs-stats';
import { capture, captureLogger } from '../../conductor/recording-caster';
import { invoke } from './method-call';

const GUEST = '9d4a0f6b-1111-4222-8333-444455556666';

function build(overrides: Partial<GuestMethodsDeps> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'k2h-methods-'));
  const prepared: PrepareRequest[] = [];
  const { log } = captureLogger();
  const deps: GuestMethodsDeps = {
    guestId: GUEST,
    datastoreManager: 'k2hdkc',
    mountPoint: dir,
    guestLogFile: join(dir, 'agent.log'),
    prepare: {
      prepare: async (request) => {
        prepared.push(request);
      },
    },
    log,
    ...overrides,
  };
  const table = buildGuestMethods(deps);
  const byName = new Map(table.map((e) => [e.name, e]));
  return { dir, deps, table, byName, prepared };
}

describe('buildGuestMethods', () => {
  it('serves exactly rpc_ping, get_filesystem_stats, guest_log_list, prepare and (refused) rebuild', () => {
    const { table } = build();
    expect(table.map((e) => e.name).sort()).toEqual(['get_filesystem_stats', 'guest_log_list', 'prepare', 'rebuild', 'rpc_ping']);
    expect(table.some((e) => e.name === 'list_databases' || e.name === 'create_user')).toBe(false);
  });

  it('rpc_ping returns true', async () => {
    expect(await invoke(build().byName.get('rpc_ping'), {})).toBe(true);
  });

  it('get_filesystem_stats reports the configured mount point when fs_path is null', async () => {
    const { byName, dir } = build();
    const stats = (await invoke(byName.get('get_filesystem_stats'), { fs_path: null })) as Record<string, number>;
    const direct = await getFilesystemStats(dir);
    expect(Object.keys(stats)).toEqual(Object.keys(capture('reply from guest 6a1f7c3e to get_filesystem_stats').result_decrypted as object));
    expect(stats['block_size']).toBe(direct.block_size);
    expect(stats['total_blocks']).toBe(direct.total_blocks);
    expect(stats['total']).toBe(direct.total);
  });

  it('guest_log_list shows the agent log as Unavailable, Enabled or Ready depending on the file', async () => {
    const { byName, deps } = build();
    const entry = byName.get('guest_log_list');
    const expected = {
      name: 'guest', type: 'SYS', published: 0, container: 'None', prefix: 'None', metafile: `${GUEST}/k2hdkc-guest_metafile`,
    };
    expect(await invoke(entry, {})).toEqual([{ ...expected, status: 'Unavailable', pending: 0 }]);
    writeFileSync(deps.guestLogFile ?? '', '');
    expect(await invoke(entry, {})).toEqual([{ ...expected, status: 'Enabled', pending: 0 }]);
    writeFileSync(deps.guestLogFile ?? '', '{"msg":"started"}\n');
    expect(await invoke(entry, {})).toEqual([{ ...expected, status: 'Ready', pending: 18 }]);
    const keys = Object.keys((capture('reply from guest 6a1f7c3e to guest_log_list').result_decrypted as object[])[0] ?? {});
    expect(Object.keys(((await invoke(entry, {})) as object[])[0] ?? {}).sort()).toEqual(keys.sort());
    expect(await invoke(build({ guestLogFile: null }).byName.get('guest_log_list'), {})).toMatchObject([{ status: 'Unavailable' }]);
  });

  it('rebuild is refused as DatastoreOperationNotSupported (Trove\'s base manager), not NoSuchMethod', async () => {
    const args = { ds_version: '1.0.14', config_contents: 'chmpx-server-port = 8020\n', config_overrides: { 'cluster-name': 'c1' } };
    const error = await invoke(build().byName.get('rebuild'), args).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotSupportedError);
    expect(toFailure(error, 'rebuild')).toMatchObject({
      module: 'trove.common.exception',
      class: 'DatastoreOperationNotSupported',
      message: "The 'rebuild' operation is not supported for the 'k2hdkc' datastore.",
    });
  });

  it('prepare hands the real kwargs to the prepare controller in camelCase', async () => {
    const { byName, prepared } = build();
    await invoke(byName.get('prepare'), capture('cast prepare v1.1 -> guestagent (encrypted)').args_decrypted ?? {});
    expect(prepared).toEqual([
      {
        packages: [], memoryMb: 2048, devicePath: '/dev/vdb', mountPoint: '/var/lib/k2hdkc', backupInfo: null,
        configContents: '[k2hdkc]\nport = 8020\n', rootPassword: null, overrides: { maxthread: 4 }, clusterConfig: null,
        snapshot: null, modules: null, dsVersion: '1.0.14',
      },
    ]);
  });
});
