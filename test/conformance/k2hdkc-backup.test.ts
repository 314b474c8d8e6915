import { randomBytes, randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import axios from 'axios';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { K2hr3Double, renderDbaasIni } from '../doubles/k2hr3';
import { KEYSTONE } from '../integration/k2hr3/helpers';
import { K2HLINETOOL, fillStandin, listObjects, runCommand } from '../integration/backup/helpers';
import { startSwift, type SwiftFixture } from '../swift/fixture';
import type { AgentProcess } from './helpers/agent-process';
import { useConformanceEnv, type Guest } from './helpers/env';
import { agentOutput, chmpxPorts, faultRows, k2hdkcNodeOptions, killDaemons, prepareKwargs, provisionCluster, statusRowBecomes } from './helpers/k2hdkc-node';
import { waitFor } from './helpers/poll';
import { waitForConsumer } from './helpers/rabbit';
import { SlowProxy } from './helpers/slow-proxy';
import type { BackupRow } from './helpers/trove-harness';

// Issue 4 acceptance 1, 2 and the agent-level part of 3: create_backup through Trove's own client
// (trove.guestagent.api.API) with the real trove-conductor updating the backups row, into a real
// Swift (tempauth; its token is the user's token in the request context), then prepare with that
// backup_info on a second node restores it. chmpx/k2hdkc/k2hlinetool are the spec stand-ins; the
// K2HR3 double serves each node an INI whose K2HFILE lives in this test's directory.

const BASE_PORT = 14000 + (process.pid % 300) * 10;
/** tempauth's account is AUTH_test: the request's project id is `test`, appended to swift_url. */
const PROJECT = 'test';
const SEGMENT = 1024 * 1024;

interface Node {
  guest: Guest;
  agent: AgentProcess;
  dir: string;
  k2hfile: string;
}

const env = useConformanceEnv({ conductor: true });

describe('K2HDKC backup and restore through Trove\'s client, the real conductor and a real Swift', () => {
  const double = new K2hr3Double({ keystone: KEYSTONE });
  let swift: SwiftFixture;
  const nodes: Node[] = [];
  let source: Node;
  let completed: BackupRow;
  let savedArchive: Buffer;
  let slowSwift: SlowProxy | undefined;

  /** A node whose K2HR3 resource is a plain INI (served as is) naming its own K2HFILE. */
  async function startNode(index: number, options: { prefill?: string; swiftUrl?: string } = {}): Promise<Node> {
    const address = `127.0.0.${51 + index}`;
    const ports = chmpxPorts(BASE_PORT + index * 3);
    const id = randomUUID();
    const dir = path.join(env.dir, `node-${index}-${id.slice(0, 8)}`);
    const k2hfile = path.join(dir, 'data', 'k2hdkc.k2h');
    const keys = {
      'cluster-name': `bk${index}-${process.pid}`, 'chmpx-mode': 'SERVER', 'chmpx-server-port': String(ports.serverPort),
      'chmpx-server-ctlport': String(ports.serverCtlport), 'chmpx-slave-ctlport': String(ports.slaveCtlport),
    };
    const host = { host: address, port: 0, cuk: id, extra: '', tag: address, inboundip: '', outboundip: '' };
    const ini = renderDbaasIni(keys, [host], []).replace(/^K2HFILE\s*=.*$/m, `K2HFILE = ${k2hfile}`);
    expect(ini).toContain(`K2HFILE = ${k2hfile}`);
    const cluster = await provisionCluster(double.url, keys['cluster-name'], ports, ini);
    const guest = await env.addGuest({
      secure: true,
      id,
      k2hdkc: k2hdkcNodeOptions(
        { dir, address, extdataUrl: double.extdataUrlFor(cluster.roleYrn).url },
        { k2hlinetool_path: K2HLINETOOL, backup_progress_interval_seconds: '1' },
      ),
    });
    // Controller-wide [DEFAULT] options (trove-guestagent.conf in production); the second file merges.
    const swiftUrl = options.swiftUrl ?? swift.url.slice(0, -PROJECT.length);
    appendFileSync(guest.files.guestInfoConf, `swift_url=${swiftUrl}\nbackup_segment_max_size=${SEGMENT}\n`);
    if (options.prefill !== undefined) {
      await runCommand('mkdir', ['-p', path.dirname(k2hfile)]);
      writeFileSync(k2hfile, options.prefill);
    }
    const agent = env.startAgent(guest);
    await waitForConsumer(guest.queue);
    const node = { guest, agent, dir, k2hfile };
    nodes.push(node);
    return node;
  }

  function prepare(node: Node, backupInfo: Record<string, unknown> | null) {
    return env.harness.invoke(node.guest.id, PROJECT, 'prepare', {
      kwargs: prepareKwargs(node.guest, { device_path: '/dev/null-conformance', config_contents: '[k2hdkc]\n', backup_info: backupInfo }),
      notification: true,
      authToken: swift.token,
    });
  }

  async function statusOf(node: Node, wanted: string): Promise<void> {
    await statusRowBecomes(env, node.guest.id, wanted);
  }

  async function backupRow(id: string, states: string[]): Promise<BackupRow> {
    return waitFor(`backup ${id} in ${states.join('/')}`, async () => {
      const row = await env.harness.backup(id);
      return row !== null && states.includes(row.state) ? row : undefined;
    });
  }

  function createBackup(node: Node, backupInfo: Record<string, unknown>) {
    return env.harness.invoke(node.guest.id, PROJECT, 'create_backup', { kwargs: { backup_info: backupInfo }, authToken: swift.token });
  }

  beforeAll(async () => {
    swift = await startSwift();
    await double.start();
    source = await startNode(0);
    expect(await prepare(source, null)).toMatchObject({ ok: true });
    await statusOf(source, 'healthy');
    // About 4 MiB of base64 (gzip leaves ~3 MiB): several 1 MiB segments.
    const entries: Record<string, string> = {};
    for (let i = 0; i < 48; i++) entries[`key-${i}`] = randomBytes(64 * 1024).toString('base64');
    await fillStandin(source.k2hfile, entries);
  });
  afterAll(async () => {
    await slowSwift?.stop();
    for (const node of nodes) {
      await node.agent.stop();
      killDaemons(path.join(node.dir, 'run'));
    }
    await double.stop();
    await swift?.stop();
  });

  it('create_backup: the backups row goes COMPLETED with size, checksum and location; the SLO in Swift has ETag == checksum', async () => {
    const info = await env.harness.addBackup(source.guest.id, PROJECT);
    expect(await createBackup(source, info)).toMatchObject({ ok: true, result: null });
    completed = await backupRow(info.id, ['COMPLETED', 'FAILED']);
    expect(completed.state).toBe('COMPLETED');
    expect(completed.backup_type).toBe('full');
    expect(completed.size).toBeGreaterThan(0);
    expect(completed.checksum).toMatch(/^[0-9a-f]{32}$/);
    expect(completed.location).toBe(`${swift.url}/database_backups/${info.id}.tar.gz`);

    const head = await axios.head(completed.location!, { headers: { 'X-Auth-Token': swift.token }, validateStatus: () => true });
    expect(head.status).toBe(200);
    expect(String(head.headers['etag']).replace(/"/g, '')).toBe(completed.checksum);
    expect(head.headers['x-static-large-object']).toMatch(/true/i);
    expect(head.headers['x-object-meta-datastore']).toBe('k2hdkc');
    expect(head.headers['x-object-meta-datastore-version']).toBe('1.0.14');
    const segments = (await listObjects(swift, 'database_backups')).filter((n) => n.startsWith(`${info.id}_`));
    expect(segments.length).toBeGreaterThanOrEqual(3);
    expect(segments[0]).toBe(`${info.id}_00000000`);

    // What was saved: the stand-in's archive of the same, unchanged data file.
    const dir = path.join(source.dir, 'check');
    await runCommand('mkdir', ['-p', dir]);
    await runCommand(K2HLINETOOL, ['-f', source.k2hfile, '-ro'], { input: `ar put ${dir}/saved.k2har\nquit\n` });
    savedArchive = readFileSync(path.join(dir, 'saved.k2har'));
    // Progress was logged with bytes, percent and rate; the Swift token never was.
    const progress = source.agent.lines.filter((l) => l['msg'] === 'backup progress');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toMatchObject({ percent: expect.any(Number), bytes: expect.any(Number), bytesPerSecond: expect.any(Number) });
    expect(agentOutput(source.agent)).not.toContain(swift.token);
  });

  it('prepare with that backup_info restores the same data into a new node before it starts', async () => {
    expect(completed?.state).toBe('COMPLETED');
    const target = await startNode(1);
    const backupInfo = { id: completed.id, instance_id: source.guest.id, location: completed.location, type: completed.backup_type, checksum: completed.checksum };
    expect(await prepare(target, backupInfo)).toMatchObject({ ok: true });
    await statusOf(target, 'healthy');
    const dir = path.join(target.dir, 'check');
    await runCommand('mkdir', ['-p', dir]);
    await runCommand(K2HLINETOOL, ['-f', target.k2hfile, '-ro'], { input: `ar put ${dir}/restored.k2har\nquit\n` });
    expect(readFileSync(path.join(dir, 'restored.k2har')).equals(savedArchive)).toBe(true);
    // The staging area on the volume is gone again.
    expect(readdirSync(path.join(target.guest.files.mountPoint, 'snapshots'))).toEqual([]);
  });

  it('a wrong checksum is refused before any data file is touched: failed to spawn, nothing started', async () => {
    expect(completed?.state).toBe('COMPLETED');
    const before = '{"format":"k2hash-standin","elements":{"old":"data"}}\n';
    const node = await startNode(2, { prefill: before });
    const backupInfo = { id: completed.id, instance_id: source.guest.id, location: completed.location, type: 'full', checksum: 'ffffffffffffffffffffffffffffffff' };
    expect(await prepare(node, backupInfo)).toMatchObject({ ok: true });
    await statusOf(node, 'failed to spawn');
    const faults = await faultRows(env, node.guest.id);
    expect(faults[0]!.message).toMatch(/ETag .* differs from the recorded checksum ffffffffffffffffffffffffffffffff; restore refused/);
    expect(readFileSync(node.k2hfile, 'utf8')).toBe(before);
    expect(readdirSync(path.dirname(node.k2hfile))).toEqual(['k2hdkc.k2h']);
    expect(existsSync(path.join(node.dir, 'run', 'chmpx.pid'))).toBe(false);
  });

  it('an incremental request ends FAILED (not supported) and leaves nothing in Swift', async () => {
    const info = await env.harness.addBackup(source.guest.id, PROJECT);
    const parent = { location: completed.location, checksum: completed.checksum };
    expect(await createBackup(source, { ...info, backup_type: 'incremental', parent })).toMatchObject({ ok: true });
    const row = await backupRow(info.id, ['FAILED', 'COMPLETED']);
    expect(row.state).toBe('FAILED');
    expect((await listObjects(swift, 'database_backups')).filter((n) => n.startsWith(info.id))).toEqual([]);
    await source.agent.waitForLog('the not-supported failure', (l) => l['msg'] === 'backup failed' && JSON.stringify(l).includes("'incremental backup' operation is not supported"));
  });

  it('Swift answering 503 (object server down) ends FAILED with no segment left, and the node keeps answering', async () => {
    const info = await env.harness.addBackup(source.guest.id, PROJECT);
    await swift.stopServer('object');
    try {
      expect(await createBackup(source, info)).toMatchObject({ ok: true });
      // While the backup fails and retries its cleanup, calls are still answered.
      expect(await env.harness.invoke(source.guest.id, PROJECT, 'rpc_ping')).toMatchObject({ ok: true, result: true });
      const row = await backupRow(info.id, ['FAILED', 'COMPLETED']);
      expect(row.state).toBe('FAILED');
    } finally {
      await swift.startServer('object');
    }
    expect((await listObjects(swift, 'database_backups')).filter((n) => n.startsWith(info.id))).toEqual([]);
    // The earlier backup is still intact.
    const head = await axios.head(completed.location!, { headers: { 'X-Auth-Token': swift.token }, validateStatus: () => true });
    expect(String(head.headers['etag']).replace(/"/g, '')).toBe(completed.checksum);
  });

  describe('refused and aborted backups end FAILED (the row never stays NEW or BUILDING)', () => {
    let node: Node;

    it('create_backup while a prepare runs: refused, the row goes FAILED with the reason logged', async () => {
      const target = new URL(swift.url);
      slowSwift = new SlowProxy({ host: target.hostname, port: Number(target.port) });
      const port = await slowSwift.start();
      node = await startNode(3, { swiftUrl: `http://127.0.0.1:${port}${target.pathname.slice(0, -PROJECT.length)}` });
      // A slow K2HR3: the prepare sits in its resource read while create_backup arrives.
      double.inject({ method: 'GET', path: new RegExp(`^/v1/resource/.*:bk3-${process.pid}/server$`) }, { delayMs: 5000 }, 1);
      expect(await prepare(node, null)).toMatchObject({ ok: true });
      await node.agent.waitForLog('prepare started', (l) => l['msg'] === 'prepare started');
      const info = await env.harness.addBackup(node.guest.id, PROJECT);
      expect(await createBackup(node, info)).toMatchObject({ ok: true });
      expect((await backupRow(info.id, ['FAILED', 'COMPLETED'])).state).toBe('FAILED');
      await node.agent.waitForLog('the refusal', (l) => l['msg'] === 'create_backup refused; reporting the backup FAILED' && /a prepare is in progress/.test(String(l['reason'])));
      await statusOf(node, 'healthy');
    });

    it('a second backup while one runs goes FAILED; SIGTERM aborts the running one: FAILED, no segment left, exit 0', async () => {
      expect(node).toBeDefined();
      const entries: Record<string, string> = {};
      for (let i = 0; i < 48; i++) entries[`key-${i}`] = randomBytes(64 * 1024).toString('base64');
      await fillStandin(node.k2hfile, entries);
      // About 3 MiB to upload at 256 KiB/s: the backup is still running while we act on it.
      slowSwift!.rate = 256 * 1024;
      const running = await env.harness.addBackup(node.guest.id, PROJECT);
      expect(await createBackup(node, running)).toMatchObject({ ok: true });
      await backupRow(running.id, ['BUILDING']);

      const second = await env.harness.addBackup(node.guest.id, PROJECT);
      expect(await createBackup(node, second)).toMatchObject({ ok: true });
      expect((await backupRow(second.id, ['FAILED', 'COMPLETED'])).state).toBe('FAILED');
      await node.agent.waitForLog('the second backup refused', (l) => String(l['reason']).includes(`backup ${running.id} is still running on this node`));

      // A segment is in Swift, the rest still on its way: stop the agent now.
      await waitFor('a first segment in Swift', async () =>
        (await listObjects(swift, 'database_backups')).includes(`${running.id}_00000000`) || undefined);
      expect((await env.harness.backup(running.id))?.state).toBe('BUILDING');
      // shutdown_grace_seconds = 5: killed with SIGKILL (no exit code) if it took longer than 8 s.
      expect(await node.agent.stop(8000)).toBe(0);
      expect((await backupRow(running.id, ['FAILED', 'COMPLETED'])).state).toBe('FAILED');
      expect((await listObjects(swift, 'database_backups')).filter((n) => n.startsWith(running.id))).toEqual([]);
      expect(node.agent.lines.some((l) => l['msg'] === 'backup failed' && JSON.stringify(l).includes('aborted: the agent is shutting down'))).toBe(true);
      expect(node.agent.lines.some((l) => l['msg'] === 'running backup aborted and reported FAILED')).toBe(true);
    });
  });
});
