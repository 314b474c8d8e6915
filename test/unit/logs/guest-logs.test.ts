import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NotSupportedError } from '../../../src/errors';
import { logMethods } from '../../../src/guest/methods/logs';
import { GuestLogs, k2hdkcLogSources } from '../../../src/logs/guest-logs';
import { captureLogger } from '../conductor/recording-caster';
import { invoke } from '../guest/methods/method-call';

describe('guest logs', () => {
  function logs() {
    const dir = mkdtempSync(join(tmpdir(), 'k2h-logs-'));
    writeFileSync(join(dir, 'chmpx.log'), 'line\n');
    writeFileSync(join(dir, 'k2hdkc.log'), '');
    const { log } = captureLogger();
    const guestLogs = new GuestLogs({
      sources: k2hdkcLogSources(null, dir),
      guestId: 'g1',
      datastoreManager: 'k2hdkc',
      statePath: join(dir, 'guest-logs.json'),
      swift: { swiftUrl: null, serviceType: 'object-store', endpointType: 'publicURL', region: 'RegionOne' },
      log,
    });
    const action = logMethods({ guestId: 'g1', datastoreManager: 'k2hdkc', guestLogFile: null, guestLogs }).find((e) => e.name === 'guest_log_action');
    return { dir, guestLogs, action };
  }
  const flags = { enable: false, disable: false, publish: false, discard: false };

  it('list the agent, chmpx and k2hdkc logs with Trove\'s statuses before anything is published', async () => {
    const { guestLogs } = logs();
    expect(await guestLogs.list()).toEqual([
      { name: 'guest', type: 'SYS', status: 'Unavailable', published: 0, pending: 0, container: 'None', prefix: 'None', metafile: 'g1/k2hdkc-guest_metafile' },
      { name: 'chmpx', type: 'SYS', status: 'Ready', published: 0, pending: 5, container: 'None', prefix: 'None', metafile: 'g1/k2hdkc-chmpx_metafile' },
      { name: 'k2hdkc', type: 'SYS', status: 'Enabled', published: 0, pending: 0, container: 'None', prefix: 'None', metafile: 'g1/k2hdkc-k2hdkc_metafile' },
    ]);
  });

  it('guest_log_action shows one log; refuses unknown names, disable, and publishing without a token or Swift endpoint', async () => {
    const { action } = logs();
    expect(await invoke(action, { log_name: 'chmpx', ...flags, enable: true })).toMatchObject({ name: 'chmpx', status: 'Ready', pending: 5 });
    await expect(invoke(action, { log_name: 'mysql', ...flags })).rejects.toThrow(/No log named 'mysql'; this guest has guest, chmpx, k2hdkc/);
    await expect(invoke(action, { log_name: 'chmpx', ...flags, disable: true })).rejects.toBeInstanceOf(NotSupportedError);
    // The unit context has no token; with one but no swift_url and no catalog, the endpoint is missing.
    await expect(invoke(action, { log_name: 'chmpx', ...flags, publish: true })).rejects.toThrow(/needs the user's token/);
    await expect(invoke(action, { log_name: 'guest', ...flags, publish: true })).rejects.toThrow(/guest has no log file on this guest/);
  });
});
