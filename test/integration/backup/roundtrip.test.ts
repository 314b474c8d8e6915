import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import axios from 'axios';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackup, type BackupStatusUpdate } from '../../../src/backup/create';
import { restoreBackup, discardRestore } from '../../../src/backup/restore';
import type { BackupProgress } from '../../../src/backup/stream';
import { BackupError, NotSupportedError } from '../../../src/errors';
import { startSwift, type SwiftFixture } from '../../swift/fixture';
import { k2hArchiveProducer } from '../../../src/backup/k2h-archive';
import { createCommandRunner } from '../../../src/system/command';
import { K2HLINETOOL, fillStandin, listObjects, runCommand } from './helpers';

const KEY = 'backup-encryption-key-for-tests';

describe('backup and restore through a real Swift', () => {
  let swift: SwiftFixture;
  let work: string;
  beforeAll(async () => {
    swift = await startSwift();
    work = await mkdtemp(join(tmpdir(), 'k2hdkc-backup-it-'));
  });
  afterAll(async () => {
    await swift?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** A stand-in k2hash file with some keys, archived online; returns the archive bytes saved. */
  async function backupOf(opts: { segmentSize?: number; encryptionKey?: string; extraBytes?: number; container?: string }) {
    const id = randomUUID();
    const k2hfile = join(work, `${id}.k2h`);
    await fillStandin(k2hfile, { alpha: 'one', beta: 'two', gamma: 'three' });
    const statuses: BackupStatusUpdate[] = [];
    const progress: BackupProgress[] = [];
    let saved = Buffer.alloc(0);
    const result = await createBackup({
      backupInfo: { id, datastore: 'k2hdkc', datastore_version: '1.0.14', swift_container: opts.container ?? null },
      storageUrl: swift.url,
      token: swift.token,
      stagingRoot: join(work, 'staging'),
      sizeGb: 0.25,
      onStatus: (s) => { statuses.push(s); },
      onProgress: (p) => { progress.push(p); },
      progressIntervalMs: 0,
      produceArchive: async (dir) => {
        await k2hArchiveProducer({ runner: createCommandRunner(), k2hlinetool: K2HLINETOOL, k2hfile, scratchDir: work })(dir);
        // Random bytes do not compress, so they make the stream as long as a test needs.
        if (opts.extraBytes) await writeFile(join(dir, 'padding.bin'), randomBytes(opts.extraBytes));
        saved = await readFile(join(dir, 'trovebackup.k2har'));
      },
      ...(opts.segmentSize ? { segmentSize: opts.segmentSize } : {}),
      ...(opts.encryptionKey ? { encryptionKey: opts.encryptionKey } : {}),
    });
    return { id, result, statuses, saved, progress };
  }

  async function head(location: string) {
    return axios.head(location, { headers: { 'X-Auth-Token': swift.token } });
  }

  it('runs a real Swift whose tempauth token is required', async () => {
    const ok = await axios.head(swift.url, { headers: { 'X-Auth-Token': swift.token } });
    expect([200, 204]).toContain(ok.status);
    const bad = await axios.head(swift.url, { headers: { 'X-Auth-Token': 'AUTH_tknotvalid' }, validateStatus: () => true });
    expect(bad.status).toBe(401);
  });

  it('stores one segment under <id>.tar.gz, reports COMPLETED, and restores the same archive', async () => {
    const { id, result, statuses, saved } = await backupOf({});
    expect(statuses.map((s) => s.state)).toEqual(['BUILDING', 'COMPLETED']);
    const done = statuses[1];
    expect(done).toMatchObject({ backup_id: id, size: 0.25, backup_type: 'full', checksum: result.checksum, location: `${swift.url}/database_backups/${id}.tar.gz`, success: true });
    expect(result.segments).toBe(1);
    const h = await head(result.location);
    expect(h.headers['etag']).toBe(result.checksum);
    expect(h.headers['x-object-meta-datastore']).toBe('k2hdkc');
    expect(h.headers['x-object-meta-datastore-version']).toBe('1.0.14');
    // The single segment was copied to the final name and deleted.
    expect((await listObjects(swift, 'database_backups')).filter((n) => n.startsWith(id))).toEqual([`${id}.tar.gz`]);
    expect(await readdir(join(work, 'staging'))).toEqual([]);

    const restored = await restoreBackup({ backupInfo: { id, location: result.location, checksum: result.checksum }, token: swift.token, stagingRoot: join(work, 'restore') });
    expect(restored.archives).toHaveLength(1);
    expect(restored.archives[0]).toMatch(/var\/lib\/antpickax\/k2hdkc\/snapshots\/trovebackup\/trovebackup\.k2har$/);
    expect((await readFile(restored.archives[0]!)).equals(saved)).toBe(true);

    // What the manager does next: `ar load` into a new file; the keys come back.
    const fresh = join(work, `${id}-restored.k2h`);
    await runCommand(K2HLINETOOL, ['-f', fresh], { input: `ar load ${restored.archives[0]}\nquit\n` });
    const printed = await runCommand(K2HLINETOOL, ['-f', fresh, '-ro'], { input: 'print beta\nquit\n' });
    expect(printed.toString()).toContain('"beta" => "two"');
    await discardRestore(restored.stagingDir);
  });

  it('writes a multi-segment SLO whose ETag equals the reported checksum, and restores it', async () => {
    const { id, result, saved, progress } = await backupOf({ segmentSize: 1024 * 1024, extraBytes: 3 * 1024 * 1024 + 12345, container: 'k2h_slo' });
    expect(result.segments).toBe(4);
    // Progress grows monotonically and ends at the bytes stored.
    expect(progress.length).toBeGreaterThan(4);
    expect(progress.every((p, i) => i === 0 || p.bytes >= progress[i - 1]!.bytes)).toBe(true);
    expect(progress.at(-1)?.bytes).toBe(result.bytes);
    expect(progress.at(-1)!.bytesPerSecond).toBeGreaterThan(0);
    const h = await head(result.location);
    expect(h.headers['x-static-large-object']).toMatch(/true/i);
    expect(h.headers['etag'].replace(/"/g, '')).toBe(result.checksum);
    expect(result.checksum).toHaveLength(32);
    const names = await listObjects(swift, 'k2h_slo');
    expect(names).toEqual([`${id}.tar.gz`, `${id}_00000000`, `${id}_00000001`, `${id}_00000002`, `${id}_00000003`]);

    const restored = await restoreBackup({ backupInfo: { id, location: result.location, checksum: result.checksum, type: 'full' }, token: swift.token, stagingRoot: join(work, 'restore') });
    expect((await readFile(restored.archives[0]!)).equals(saved)).toBe(true);
    await discardRestore(restored.stagingDir);
  });

  it('encrypts as Trove 18 does: <id>.tar.gz.enc that openssl and tar read', async () => {
    const { id, result, saved } = await backupOf({ encryptionKey: KEY });
    expect(result.location.endsWith(`/${id}.tar.gz.enc`)).toBe(true);
    const raw = await axios.get<ArrayBuffer>(result.location, { headers: { 'X-Auth-Token': swift.token }, responseType: 'arraybuffer' });
    const body = Buffer.from(raw.data);
    expect(body.subarray(0, 8).toString('latin1')).toBe('Salted__');
    // The old tools: openssl enc -d … | tar -xzpPf - (into a scratch root instead of /).
    const plain = await runCommand('openssl', ['enc', '-d', '-aes-256-cbc', '-md', 'sha512', '-pbkdf2', '-iter', '10000', '-salt', '-pass', 'env:K2H_TEST_PASS'], { input: body, env: { ...process.env, K2H_TEST_PASS: KEY } });
    const root = await mkdtemp(join(work, 'oldtools-'));
    await runCommand('tar', ['-xzpf', '-', '-C', root], { input: plain });
    expect((await readFile(join(root, 'var/lib/antpickax/k2hdkc/snapshots/trovebackup/trovebackup.k2har'))).equals(saved)).toBe(true);

    const restored = await restoreBackup({ backupInfo: { id, location: result.location, checksum: result.checksum }, token: swift.token, stagingRoot: join(work, 'restore'), encryptionKey: KEY });
    expect((await readFile(restored.archives[0]!)).equals(saved)).toBe(true);
    await discardRestore(restored.stagingDir);

    const noKey = await restoreBackup({ backupInfo: { id, location: result.location, checksum: result.checksum }, token: swift.token, stagingRoot: join(work, 'restore') }).catch((e: unknown) => e);
    expect(noKey).toBeInstanceOf(BackupError);
    expect((noKey as Error).message).toMatch(/encrypted/);
  });

  it('fails incremental requests as not supported, after reporting FAILED', async () => {
    const statuses: BackupStatusUpdate[] = [];
    const err = await createBackup({
      backupInfo: { id: randomUUID(), parent: { location: `${swift.url}/database_backups/x.tar.gz`, checksum: 'abc' } },
      storageUrl: swift.url, token: swift.token, stagingRoot: join(work, 'staging'), sizeGb: 1,
      onStatus: (s) => { statuses.push(s); }, produceArchive: async () => { throw new Error('must not run'); },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotSupportedError);
    expect(statuses.map((s) => [s.state, s.backup_type])).toEqual([['BUILDING', 'incremental'], ['FAILED', 'incremental']]);
  });

  it('reports FAILED for a rejected token without putting the token in the error', async () => {
    const statuses: BackupStatusUpdate[] = [];
    const badToken = 'AUTH_tk_definitely_not_valid_0123456789';
    const err = await createBackup({
      backupInfo: { id: randomUUID() }, storageUrl: swift.url, token: badToken, stagingRoot: join(work, 'staging'), sizeGb: 1,
      onStatus: (s) => { statuses.push(s); }, produceArchive: async (dir) => writeFile(join(dir, 'a.k2har'), 'x'),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackupError);
    expect((err as BackupError).status).toBe(401);
    expect(JSON.stringify({ m: (err as Error).message, c: String((err as Error).cause) })).not.toContain(badToken);
    expect(statuses.at(-1)?.state).toBe('FAILED');
  });
});
