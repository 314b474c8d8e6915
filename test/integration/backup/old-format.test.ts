import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discardRestore, restoreBackup } from '../../../src/backup/restore';
import { SwiftClient } from '../../../src/backup/swift';
import { startSwift, type SwiftFixture } from '../../swift/fixture';
import { archiveWithStandin, fillStandin, runCommand } from './helpers';

const KEY = 'old-integration-key';

/*
 * The old integration (spec k2hr3-chmpx-k2hdkc.md §3.3): `ar put` into
 * <datadir>/snapshots/trovebackup/trovebackup.k2har, then `tar -zcpPf - <that dir>` (absolute
 * names), optionally `openssl enc -aes-256-cbc -md sha512 -pbkdf2 -iter 10000 -salt`, to Swift.
 */
describe('restoring backups made the old way (real tar and openssl)', () => {
  let swift: SwiftFixture;
  let work: string;
  beforeAll(async () => {
    swift = await startSwift();
    work = await mkdtemp(join(tmpdir(), 'k2hdkc-backup-old-'));
  });
  afterAll(async () => {
    await swift?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it.each([false, true])('restores an old-format archive (encrypted: %s)', async (encrypted) => {
    const id = randomUUID();
    const datadir = join(work, id, 'var/lib/antpickax/k2hdkc');
    const snapshot = join(datadir, 'snapshots', 'trovebackup');
    await mkdir(snapshot, { recursive: true });
    const k2hfile = join(datadir, 'k2hdkc.k2h');
    await fillStandin(k2hfile, { old: 'format', key2: 'value2' });
    await archiveWithStandin(k2hfile, snapshot);
    const saved = await readFile(join(snapshot, 'trovebackup.k2har'));

    let body = await runCommand('tar', ['-zcpPf', '-', snapshot]);
    if (encrypted) {
      body = await runCommand('openssl', ['enc', '-aes-256-cbc', '-md', 'sha512', '-pbkdf2', '-iter', '10000', '-salt', '-pass', 'env:K2H_TEST_PASS'],
        { input: body, env: { ...process.env, K2H_TEST_PASS: KEY } });
    }
    const client = new SwiftClient({ storageUrl: swift.url, token: swift.token });
    await client.putContainer('database_backups');
    const name = `${id}.gz${encrypted ? '.enc' : ''}`;
    const checksum = await client.putObject('database_backups', name, body);

    const restored = await restoreBackup({
      backupInfo: { id, location: client.objectUrl('database_backups', name), checksum },
      token: swift.token, stagingRoot: join(work, 'restore'), ...(encrypted ? { encryptionKey: KEY } : {}),
    });
    // The absolute name lost its leading '/' and landed inside the staging directory.
    expect(restored.archives).toEqual([join(restored.stagingDir, snapshot.slice(1), 'trovebackup.k2har')]);
    expect((await readFile(restored.archives[0]!)).equals(saved)).toBe(true);
    await discardRestore(restored.stagingDir);
  });
});
