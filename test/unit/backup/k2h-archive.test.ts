import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { k2hArchiveProducer } from '../../../src/backup/k2h-archive';
import { BackupError, CommandError } from '../../../src/errors';
import { createCommandRunner } from '../../../src/system/command';
import { fillStandin } from '../../integration/backup/helpers';

const K2HLINETOOL = resolve(__dirname, '../../doubles/chmpx/k2hlinetool');

describe('k2hArchiveProducer with the k2hlinetool stand-in', () => {
  let work: string;
  beforeEach(async () => { work = await mkdtemp(join(tmpdir(), 'k2har-')); });
  afterEach(async () => { await rm(work, { recursive: true, force: true }); });

  it('writes trovebackup.k2har (ar put) into the directory and nothing else', async () => {
    const k2hfile = join(work, 'data.k2h');
    await fillStandin(k2hfile, { a: '1', b: '2' });
    const dir = join(work, 'stage');
    await mkdir(dir);
    await k2hArchiveProducer({ runner: createCommandRunner(), k2hlinetool: K2HLINETOOL, k2hfile, scratchDir: work })(dir);
    expect(await readdir(dir)).toEqual(['trovebackup.k2har']);
    expect(JSON.parse(await readFile(join(dir, 'trovebackup.k2har'), 'utf8'))).toEqual({ format: 'k2hash-standin-archive', elements: { a: '1', b: '2' } });
    // The command file is gone too.
    expect((await readdir(work)).sort()).toEqual(['data.k2h', 'stage']);
  });

  it('fails when the data file cannot be attached', async () => {
    const dir = join(work, 'stage');
    await mkdir(dir);
    const err = await k2hArchiveProducer({ runner: createCommandRunner(), k2hlinetool: K2HLINETOOL, k2hfile: join(work, 'missing.k2h'), scratchDir: work })(dir).catch((e: unknown) => e);
    expect(err instanceof CommandError || err instanceof BackupError).toBe(true);
    expect(await readdir(dir)).toEqual([]);
  });
});
