import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { K2hr3Error } from '../../../src/errors';
import { describeDiff, IniPoller, jitteredDelay } from '../../../src/k2hdkc/reconfigure';
import { renderDbaasIni, type HostEntry } from '../../doubles/k2hr3';
import { nodes } from '../../integration/k2hr3/helpers';
import { sinkLogger } from './processes/helpers';

// The live-reconfiguration poller on its own: INIs as the K2HR3 double expands them for a set of
// registered hosts, written to a temp dir. chmpx is not involved: what matters here is what ends
// up on disk (and how: by rename) and what is logged.

const KEYS = { 'cluster-name': 'unitcluster', 'chmpx-mode': 'SERVER', 'chmpx-server-port': '8020', 'chmpx-server-ctlport': '8021', 'chmpx-slave-ctlport': '8031' };
const SELF = 'self-instance-id';

function host(ip: string, cuk: string): HostEntry {
  return { host: ip, port: 0, cuk, extra: 'openstack-auto-v1', tag: ip, inboundip: '', outboundip: '' };
}
const A = host('10.0.0.1', SELF);
const B = host('10.0.0.2', 'cuk-b');
const C = host('10.0.0.3', 'cuk-c');
const SLAVE = host('10.0.1.1', 'cuk-slave');

/** The resource text K2HR3 serves to a server of a cluster with these hosts (SELFCUK not yet filled in). */
function served(servers: HostEntry[], slaves: HostEntry[] = []): string {
  return renderDbaasIni(KEYS, servers, slaves);
}

function setup(initial: string | null, fetch: (signal: AbortSignal) => Promise<string>, intervalMs = 1000) {
  const dir = mkdtempSync(join(tmpdir(), 'k2h-reconf-'));
  const iniPath = join(dir, 'k2hdkc.ini');
  if (initial !== null) writeFileSync(iniPath, initial.split('__SELF_INSTANCE_ID__').join(SELF), { mode: 0o640 });
  const { log, lines } = sinkLogger();
  const poller = new IniPoller({ fetch, instanceId: SELF, iniPath, role: 'server', intervalMs, log });
  return { iniPath, poller, lines };
}

describe('jitteredDelay', () => {
  it('stays within interval × (1 ± jitter) and spreads over that range', () => {
    expect(jitteredDelay(10_000, 0.2, () => 0)).toBe(8000);
    expect(jitteredDelay(10_000, 0.2, () => 0.5)).toBe(10_000);
    expect(jitteredDelay(10_000, 0.2, () => 0.999999)).toBe(12_000);
    const seen = Array.from({ length: 500 }, () => jitteredDelay(10_000, 0.2));
    expect(Math.min(...seen)).toBeGreaterThanOrEqual(8000);
    expect(Math.max(...seen)).toBeLessThanOrEqual(12_000);
    // Not a constant: nodes started together drift apart.
    expect(new Set(seen).size).toBeGreaterThan(50);
  });

  it('clamps the jitter to [0, 1] and never returns less than 1 ms', () => {
    expect(jitteredDelay(1000, 0, () => 0.9)).toBe(1000);
    expect(jitteredDelay(1000, 5, () => 0)).toBe(1);
    expect(jitteredDelay(1000, -1, () => 0.3)).toBe(1000);
  });
});

describe('IniPoller.pollOnce', () => {
  it('replaces the INI by rename when a server joins, fills in SELFCUK and logs who joined', async () => {
    const { iniPath, poller, lines } = setup(served([A, B]), async () => served([A, B, C]));
    const before = statSync(iniPath).ino;
    const outcome = await poller.pollOnce();
    expect(outcome.kind).toBe('updated');
    if (outcome.kind !== 'updated') return;
    expect(outcome.diff.addedServers.map((m) => m.name)).toEqual(['10.0.0.3']);
    expect(outcome.diff.removedServers).toEqual([]);
    const text = readFileSync(iniPath, 'utf8');
    expect(nodes(text, 'SVRNODE').map((n) => n.name)).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    expect(text).toContain(`SELFCUK = ${SELF}`);
    expect(text).not.toContain('__SELF_INSTANCE_ID__');
    // A new inode: chmpx sees IN_MOVE_SELF/IN_DELETE_SELF, never a truncated file.
    expect(statSync(iniPath).ino).not.toBe(before);
    expect(statSync(iniPath).mode & 0o777).toBe(0o640);
    const line = lines.find((l) => String(l.msg).startsWith('INI updated from K2HR3'));
    expect(line?.msg).toBe('INI updated from K2HR3: +server 10.0.0.3:8021');
  });

  it('reports servers and slaves that left', async () => {
    const { iniPath, poller } = setup(served([A, B, C], [SLAVE]), async () => served([A, C]));
    const outcome = await poller.pollOnce();
    expect(outcome.kind).toBe('updated');
    if (outcome.kind !== 'updated') return;
    expect(describeDiff(outcome.diff)).toBe('-server 10.0.0.2:8021, +slave 127.0.0.1:8031, -slave 10.0.1.1:8031');
    expect(nodes(readFileSync(iniPath, 'utf8'), 'SVRNODE').map((n) => n.name)).toEqual(['10.0.0.1', '10.0.0.3']);
  });

  it('leaves the file alone (same inode) when K2HR3 serves the same INI', async () => {
    const { iniPath, poller, lines } = setup(served([A, B]), async () => served([A, B]));
    const before = statSync(iniPath).ino;
    expect((await poller.pollOnce()).kind).toBe('unchanged');
    expect(statSync(iniPath).ino).toBe(before);
    expect(lines.some((l) => String(l.msg).startsWith('INI updated'))).toBe(false);
  });

  it('refuses an INI that no longer lists this node, keeping the previous file byte for byte', async () => {
    const { iniPath, poller, lines } = setup(served([A, B]), async () => served([B, C]));
    const previous = readFileSync(iniPath, 'utf8');
    const outcome = await poller.pollOnce();
    expect(outcome.kind).toBe('refused');
    expect(readFileSync(iniPath, 'utf8')).toBe(previous);
    const refusal = lines.find((l) => String(l.msg).startsWith('live reconfiguration refused'));
    expect(refusal?.level).toBe('error');
    expect(JSON.stringify(refusal)).toContain("this node's own entry is missing");
  });

  it('refuses an INI without [SLVNODE] (chmpx would not start) and keeps the previous file', async () => {
    const noSlave = served([A, B, C]).replace(/\[SLVNODE\][^[]*/, '');
    const { iniPath, poller, lines } = setup(served([A, B]), async () => noSlave);
    const previous = readFileSync(iniPath, 'utf8');
    expect((await poller.pollOnce()).kind).toBe('refused');
    expect(readFileSync(iniPath, 'utf8')).toBe(previous);
    expect(JSON.stringify(lines)).toContain('no [SLVNODE] section');
  });

  it('keeps the previous INI when K2HR3 fails, and logs the failure', async () => {
    const { iniPath, poller, lines } = setup(served([A, B]), async () => {
      throw new K2hr3Error('not_found', 'GET /v1/resource/... answered 404', { endpoint: 'GET /v1/resource/x', status: 404 });
    });
    const previous = readFileSync(iniPath, 'utf8');
    const outcome = await poller.pollOnce();
    expect(outcome.kind).toBe('failed');
    expect(readFileSync(iniPath, 'utf8')).toBe(previous);
    expect(lines.some((l) => String(l.msg).includes('could not read the K2HR3 resource') && l.level === 'warn')).toBe(true);
  });
});

describe('IniPoller.start / stop', () => {
  it('picks up a change on its own and stops polling after stop()', async () => {
    let current = served([A, B]);
    let calls = 0;
    const { iniPath, poller } = setup(current, async () => {
      calls += 1;
      return current;
    }, 20);
    poller.start();
    current = served([A, B, C]);
    await waitFor(() => nodes(readFileSync(iniPath, 'utf8'), 'SVRNODE').length === 3);
    await poller.stop();
    const after = calls;
    current = served([A]);
    await new Promise((r) => setTimeout(r, 150));
    expect(calls).toBe(after);
    expect(nodes(readFileSync(iniPath, 'utf8'), 'SVRNODE').length).toBe(3);
    expect(poller.started).toBe(false);
  });
});

async function waitFor(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}
