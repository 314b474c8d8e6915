import { chmodSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentLogSource, openAgentLogFile } from '../../../src/guest/agent-log-source';
import { GuestLogs, k2hdkcLogSources } from '../../../src/guest/config-methods-logs';
import { logMethods } from '../../../src/guest/config-methods';
import { captureLogger } from '../conductor/recording-caster';
import { invoke } from './method-call';

// The `guest` log: the agent's own, from [k2hdkc] log_file, or from its unit's journal when the
// agent runs under systemd, or none.

function guestLogs(source: ReturnType<typeof agentLogSource>, dir: string): GuestLogs {
  return new GuestLogs({
    sources: k2hdkcLogSources(source, null),
    guestId: 'g1',
    datastoreManager: 'k2hdkc',
    statePath: join(dir, 'guest-logs.json'),
    swift: { swiftUrl: null, serviceType: 'object-store', endpointType: 'publicURL', region: 'RegionOne' },
    log: captureLogger().log,
  });
}

describe('the guest log source', () => {
  it('is the configured log file, created 0640, listed and shown with Trove\'s statuses', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'k2h-agentlog-'));
    const file = join(dir, 'agent.log');
    closeSync(openAgentLogFile(file));
    expect(statSync(file).mode & 0o777).toBe(0o640);
    const logs = guestLogs(agentLogSource({ logFile: file, journalUnit: 'x.service', env: {} }), dir);
    expect((await logs.list())[0]).toMatchObject({ name: 'guest', status: 'Enabled', pending: 0 });
    writeFileSync(file, '{"msg":"prepare done"}\n');
    const [action] = logMethods(logs);
    // What troveclient sends through Trove's API: 1/0.
    expect(await invoke(action!, { log_name: 'guest', enable: 1, disable: 0, publish: 0, discard: 0 })).toMatchObject({ name: 'guest', status: 'Ready', pending: 23 });
    await expect(invoke(action!, { log_name: 'guest', enable: 2 })).rejects.toThrow(/enable must be 1 or 0/);
  });

  it('is the unit\'s journal when the agent runs under systemd', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'k2h-agentlog-'));
    // A journalctl stand-in that prints what it was asked, so the test sees the arguments.
    const fake = join(dir, 'journalctl');
    writeFileSync(fake, '#!/bin/sh\necho "2026-12-06T04:00:00+0000 vm agent[1]: $*"\n');
    chmodSync(fake, 0o755);
    const source = agentLogSource({ logFile: null, journalUnit: 'k2hdkc-trove-agent.service', env: { INVOCATION_ID: 'abc' }, journalctl: fake });
    expect(source.file).toBe('journald:k2hdkc-trove-agent.service');
    const text = (await source.read!())!.toString();
    expect(text).toContain('--unit k2hdkc-trove-agent.service --output short-iso --no-pager --quiet --lines 20000');
    expect((await guestLogs(source, dir).list())[0]).toMatchObject({ name: 'guest', status: 'Ready', pending: text.length });
  });

  it('is unavailable without a file and outside systemd, and a failing journalctl reads as unavailable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'k2h-agentlog-'));
    expect((await guestLogs(agentLogSource({ logFile: null, journalUnit: 'x.service', env: {} }), dir).list())[0]).toMatchObject({ status: 'Unavailable' });
    const broken = agentLogSource({ logFile: null, journalUnit: 'x.service', env: { INVOCATION_ID: '1' }, journalctl: join(dir, 'missing') });
    expect((await guestLogs(broken, dir).list())[0]).toMatchObject({ status: 'Unavailable' });
  });
});
