import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataFileOf, geometryArgs, loadArchivesIntoDataFile, swiftStorageUrl } from '../../../src/backup';
import { BackupError } from '../../../src/errors';
import { parseIni } from '../../../src/k2hdkc/ini/parse';
import { createCommandRunner } from '../../../src/system/command';
import { K2HLINETOOL, archiveWithStandin, fillStandin, readKeys } from './helpers';

// The restore's last step and the agent-side lookups, with the k2hlinetool stand-in or the
// installed one (K2HDKC_TROVE_ANTPICKAX_BIN; no Swift). Data is read back with k2hlinetool itself.

const SERVER_INI = join(__dirname, '../../fixtures/k2hdkc/server-trove.ini');

describe('the data file of an INI', () => {
  it('is [K2HDKC] K2HFILE with the geometry a new file needs', async () => {
    const file = dataFileOf(parseIni(await readFile(SERVER_INI, 'utf8')));
    expect(file).toEqual({ path: '/var/lib/antpickax/k2hdkc/k2hdkc.k2h', maskBits: 8, cmaskBits: 8, maxElements: 32, pageSize: 512, fullMap: true });
    expect(geometryArgs(file)).toEqual(['-mask', '8', '-cmask', '8', '-elementcnt', '32', '-pagesize', '512', '-fullmap']);
  });

  it('is refused for a node without [K2HDKC] (a slave) and for a memory-only node', async () => {
    const text = await readFile(SERVER_INI, 'utf8');
    const slave = text.slice(0, text.indexOf('[K2HDKC]'));
    expect(() => dataFileOf(parseIni(slave))).toThrow(/no \[K2HDKC\] section/);
    expect(() => dataFileOf(parseIni(text.replace(/K2HTYPE\s*=\s*file/, 'K2HTYPE = mem')))).toThrow(/only file-backed/);
  });
});

describe('loading archives into a new data file', () => {
  let work = '';
  const runner = createCommandRunner();

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'k2h-restore-'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('creates the file from the archive and keeps an existing one aside, unmodified', async () => {
    const source = join(work, 'source.k2h');
    await fillStandin(source, { a: '1', b: '2' });
    await archiveWithStandin(source, work);
    const target = join(work, 'node', 'k2hdkc.k2h');
    await mkdir(join(work, 'node'));
    await fillStandin(target, { stale: 'x' });
    const before = await readFile(target);
    const loaded = await loadArchivesIntoDataFile({
      runner, k2hlinetool: K2HLINETOOL, archives: [join(work, 'trovebackup.k2har')], scratchDir: work,
      dataFile: { path: target, maskBits: 8, cmaskBits: 8, maxElements: 32, pageSize: 512, fullMap: true },
    });
    expect(await readKeys(target, ['a', 'b', 'stale'])).toEqual({ a: '1', b: '2', stale: null });
    expect(loaded.previous).not.toBeNull();
    expect((await readFile(loaded.previous!)).equals(before)).toBe(true);
    expect((await readdir(join(work, 'node'))).sort()).toEqual(['k2hdkc.k2h', loaded.previous!.split('/').pop()].sort());
  });

  it('fails on an archive k2hlinetool cannot load, leaving the existing data file and no partial file', async () => {
    const target = join(work, 'node2', 'k2hdkc.k2h');
    await mkdir(join(work, 'node2'));
    await fillStandin(target, { keep: 'me' });
    const before = await readFile(target);
    // A missing archive: real k2hlinetool reports `[ERR] Something error occurred during loading
    // archive file(...)` (exit 0). A file of garbage is no such case: real k2hlinetool loads
    // nothing from it and reports nothing (k2harchive.cc stops at the first short record).
    const err = await loadArchivesIntoDataFile({
      runner, k2hlinetool: K2HLINETOOL, archives: [join(work, 'missing.k2har')], scratchDir: work,
      dataFile: { path: target, maskBits: undefined, cmaskBits: undefined, maxElements: undefined, pageSize: undefined, fullMap: false },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackupError);
    expect((err as Error).message).toMatch(/k2hlinetool could not load the backup/);
    expect((await readFile(target)).equals(before)).toBe(true);
    expect(await readdir(join(work, 'node2'))).toEqual(['k2hdkc.k2h']);
  });
});

describe('the Swift storage URL of a request', () => {
  const base = { swiftUrl: null, serviceType: 'object-store', endpointType: 'publicURL', region: 'RegionTwo' };

  it('is swift_url + project id when swift_url is set', () => {
    expect(swiftStorageUrl({ ...base, swiftUrl: 'http://swift:8080/v1/AUTH_' }, { project_id: 'p1' })).toBe('http://swift:8080/v1/AUTH_p1');
  });

  it('is the region\'s endpoint from a v2 or a v3 catalog', () => {
    const v2 = [
      { type: 'compute', endpoints: [{ region: 'RegionTwo', publicURL: 'http://nova' }] },
      { type: 'object-store', endpoints: [{ region: 'RegionOne', publicURL: 'http://one/v1/AUTH_p' }, { region: 'RegionTwo', publicURL: 'http://two/v1/AUTH_p', internalURL: 'http://int/v1/AUTH_p' }] },
    ];
    expect(swiftStorageUrl(base, { service_catalog: v2 })).toBe('http://two/v1/AUTH_p');
    expect(swiftStorageUrl({ ...base, endpointType: 'internalURL' }, { service_catalog: v2 })).toBe('http://int/v1/AUTH_p');
    const v3 = [{ type: 'object-store', endpoints: [{ region_id: 'RegionTwo', interface: 'admin', url: 'http://adm' }, { region_id: 'RegionTwo', interface: 'public', url: 'http://pub/v1/AUTH_p' }] }];
    expect(swiftStorageUrl(base, { service_catalog: v3 })).toBe('http://pub/v1/AUTH_p');
  });

  it('is refused, saying why, without swift_url and without a matching catalog entry', () => {
    expect(() => swiftStorageUrl(base, { service_catalog: null })).toThrow(/swift_url is not set and the request carries no service catalog/);
    expect(() => swiftStorageUrl(base, { service_catalog: [{ type: 'object-store', endpoints: [{ region: 'RegionOne', publicURL: 'http://one' }] }] }))
      .toThrow(/no object-store publicURL endpoint in region RegionTwo/);
  });
});
