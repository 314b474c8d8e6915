import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import axios from 'axios';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackup } from '../../../src/backup/create';
import { restoreBackup } from '../../../src/backup/restore';
import { uploadBackupStream } from '../../../src/backup/stream';
import { SwiftClient } from '../../../src/backup/swift';
import { BackupError } from '../../../src/errors';
import { startSwift, type SwiftFixture, type SwiftServer } from '../../swift/fixture';
import { listObjects, runCommand } from './helpers';

const MiB = 1024 * 1024;

/** Random bytes; after `pauseAt` bytes it waits for `gate` before sending the rest. */
function gatedSource(total: number, pauseAt: number, reached: () => void, gate: Promise<void>): Readable {
  return Readable.from((async function* () {
    for (let sent = 0; sent < total; sent += 64 * 1024) {
      if (sent >= pauseAt && sent - 64 * 1024 < pauseAt) {
        reached();
        await gate;
      }
      yield randomBytes(64 * 1024);
    }
  })());
}

describe('backup faults and restore refusals against a real Swift', () => {
  let swift: SwiftFixture;
  let work: string;
  beforeAll(async () => {
    swift = await startSwift();
    work = await mkdtemp(join(tmpdir(), 'k2hdkc-backup-faults-'));
  });
  afterAll(async () => {
    await swift?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function uploadWithOutage(server: SwiftServer, container: string) {
    const id = randomUUID();
    let reached!: () => void;
    const atGate = new Promise<void>((r) => { reached = r; });
    let open!: () => void;
    const gate = new Promise<void>((r) => { open = r; });
    let restarted: Promise<void> | undefined;
    const upload = uploadBackupStream(gatedSource(4 * MiB, 2 * MiB + 100 * 1024, reached, gate), {
      swift: new SwiftClient({ storageUrl: swift.url, token: swift.token, timeoutMs: 10_000 }),
      container,
      objectName: `${id}.tar.gz`,
      segmentSize: MiB,
      cleanupDelaysMs: Array.from({ length: 60 }, () => 250),
      // Swift comes back once the upload has failed, so the cleanup can finish.
      onCleanupRetry: () => { restarted ??= swift.startServer(server); },
    }).catch((e: unknown) => e);
    await atGate;
    await swift.stopServer(server);
    open();
    const err = await upload;
    if (!restarted) await swift.startServer(server);
    else await restarted;
    return { id, err };
  }

  it('fails and leaves no segment when the object server goes away mid-upload (proxy answers 503)', async () => {
    const { id, err } = await uploadWithOutage('object', 'faults_object');
    expect(err).toBeInstanceOf(BackupError);
    expect((err as BackupError).status).toBe(503);
    expect((await listObjects(swift, 'faults_object')).filter((n) => n.startsWith(id))).toEqual([]);
  });

  it('fails and leaves no segment when the proxy is stopped mid-upload', async () => {
    const { id, err } = await uploadWithOutage('proxy', 'faults_proxy');
    expect(err).toBeInstanceOf(BackupError);
    expect((err as BackupError).code).toBe('K2H_ERR_BACKUP_SWIFT');
    expect((await listObjects(swift, 'faults_proxy')).filter((n) => n.startsWith(id))).toEqual([]);
  });

  it('an abort mid-upload (agent shutdown) stops it and removes the segments already in Swift', async () => {
    const id = randomUUID();
    const controller = new AbortController();
    let reached!: () => void;
    const atGate = new Promise<void>((r) => { reached = r; });
    let open!: () => void;
    const gate = new Promise<void>((r) => { open = r; });
    const upload = uploadBackupStream(gatedSource(4 * MiB, 2 * MiB + 100 * 1024, reached, gate), {
      swift: new SwiftClient({ storageUrl: swift.url, token: swift.token, timeoutMs: 10_000 }),
      container: 'faults_abort',
      objectName: `${id}.tar.gz`,
      segmentSize: MiB,
      signal: controller.signal,
    }).catch((e: unknown) => e);
    await atGate;
    // Random bytes do not compress: at least the first full segment is stored by now.
    expect((await listObjects(swift, 'faults_abort')).filter((n) => n.startsWith(id))).toContain(`${id}_00000000`);
    controller.abort(new BackupError('ABORTED', `backup ${id} aborted: the agent is shutting down`));
    open();
    const err = await upload;
    expect(err).toBeInstanceOf(BackupError);
    expect((err as BackupError).message).toBe(`backup ${id} aborted: the agent is shutting down`);
    expect((await listObjects(swift, 'faults_abort')).filter((n) => n.startsWith(id))).toEqual([]);
  });

  /** A finished backup made by createBackup, for the refusal tests. */
  async function finishedBackup() {
    const id = randomUUID();
    const result = await createBackup({
      backupInfo: { id }, storageUrl: swift.url, token: swift.token, stagingRoot: join(work, 'staging'), sizeGb: 0,
      onStatus: () => undefined, produceArchive: (dir) => writeFile(join(dir, 'trovebackup.k2har'), randomBytes(50_000)),
    });
    return { id, ...result };
  }

  async function refused(id: string, location: string, checksum: string, opts: { afterDownload?: boolean } = {}): Promise<BackupError> {
    const stagingRoot = join(work, `restore-${id}-${randomUUID()}`);
    const err = await restoreBackup({ backupInfo: { id, location, checksum }, token: swift.token, stagingRoot }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackupError);
    if (opts.afterDownload) {
      // Found while reading: the private staging directory is gone again.
      expect(await readdir(stagingRoot)).toEqual([]);
    } else {
      // Refused from HEAD alone: nothing was created on disk at all.
      expect(await readdir(stagingRoot).catch((e: NodeJS.ErrnoException) => e.code)).toBe('ENOENT');
    }
    return err as BackupError;
  }

  it('refuses a restore whose recorded checksum differs from the ETag, before downloading', async () => {
    const b = await finishedBackup();
    const err = await refused(b.id, b.location, createHash('md5').update('something else').digest('hex'));
    expect(err.code).toBe('K2H_ERR_BACKUP_CHECKSUM');
    expect(err.message).toMatch(/restore refused/);
  });

  it('refuses a restore when the object was replaced after the backup', async () => {
    const b = await finishedBackup();
    await axios.put(b.location, randomBytes(1000), { headers: { 'X-Auth-Token': swift.token } });
    const err = await refused(b.id, b.location, b.checksum);
    expect(err.code).toBe('K2H_ERR_BACKUP_CHECKSUM');
  });

  it('refuses a restore when the stored bytes were damaged on disk', async () => {
    const marker = join(work, `marker-${randomUUID()}`);
    await writeFile(marker, '');
    await new Promise((r) => setTimeout(r, 20));
    const b = await finishedBackup();
    // Only the final object is a new .data file (the copied segment left a tombstone).
    const files = (await runCommand('find', [join(swift.dir, 'srv'), '-name', '*.data', '-newer', marker])).toString().split('\n').filter(Boolean);
    expect(files).toHaveLength(1);
    // Overwrite bytes in the middle; the object's ETag metadata (an xattr) stays the same.
    await runCommand('dd', ['if=/dev/urandom', `of=${files[0]}`, 'bs=1', 'count=64', 'seek=1000', 'conv=notrunc']);
    const err = await refused(b.id, b.location, b.checksum, { afterDownload: true });
    expect(['K2H_ERR_BACKUP_CHECKSUM', 'K2H_ERR_BACKUP_ARCHIVE', 'K2H_ERR_BACKUP_SWIFT']).toContain(err.code);
  });

  it('refuses a restore of a missing object', async () => {
    const err = await refused('gone', `${swift.url}/database_backups/${randomUUID()}.tar.gz`, 'd41d8cd98f00b204e9800998ecf8427e');
    expect(err.code).toBe('K2H_ERR_BACKUP_NOT_FOUND');
  });
});
