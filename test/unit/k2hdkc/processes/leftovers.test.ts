import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { chmpxIdentity, ensureDataFileDir, removeChmpxLeftovers, removeLeftoversFor } from '../../../../src/k2hdkc/processes/leftovers';
import { sinkLogger } from './helpers';

const FIXTURE = join(__dirname, '../../../fixtures/k2hdkc/server-trove.ini');
const ID = { group: 'mycluster', ctlport: 8021 };
const REMOVED = 'removed what an earlier chmpx left behind (a crash, or a kill)';

function places() {
  const dir = mkdtempSync(join(tmpdir(), 'k2h-leftovers-'));
  const shmDir = join(dir, 'antpickax');
  const mqueueDir = join(dir, 'mqueue'); // a plain directory stands in for the mqueue mount
  mkdirSync(shmDir);
  mkdirSync(mqueueDir);
  return { dir, shmDir, mqueueDir };
}

describe('chmpxIdentity', () => {
  it('takes GROUP and SELFCTLPORT from the INI K2HR3 serves', () => {
    expect(chmpxIdentity(readFileSync(FIXTURE, 'utf8'))).toEqual(ID);
  });

  it('falls back to the ctlport of the SELFCUK entry, and is undefined without a GROUP', () => {
    const ini = '[GLOBAL]\nGROUP = g\nSELFCUK = me\n[SVRNODE]\nNAME = a\nCUK = other\nCTLPORT = 1\n[SVRNODE]\nNAME = b\nCUK = me\nCTLPORT = 2\n';
    expect(chmpxIdentity(ini)).toEqual({ group: 'g', ctlport: 2 });
    expect(chmpxIdentity('[GLOBAL]\nCTLPORT = 8021\n')).toBeUndefined();
  });
});

describe('removeChmpxLeftovers', () => {
  it('removes this node\'s shared memory, its .bup copies and the group\'s queues, keeping what is in use or not its own', async () => {
    const p = places();
    const mine = ['mycluster-8021.chmpx', 'mycluster-8021.k2h', 'mycluster-8021.chmpx.bup', 'mycluster-8021.chmpx.bup.0', 'mycluster-8021.k2h.bup.12'];
    const others = ['mycluster-8031.chmpx.bup', 'other-8021.chmpx.bup', 'mycluster-8021.chmpx.old', '.fullock', 'k2hdkc'];
    for (const f of [...mine, ...others]) writeFileSync(join(p.shmDir, f), '');
    const queues = ['mycluster.00000000000000a1', 'mycluster.00000000000000a2'];
    const heldQueue = 'mycluster.00000000000000a3';
    for (const q of [...queues, heldQueue, 'other.00000000000000a1', 'mycluster.notaqueue']) writeFileSync(join(p.mqueueDir, q), '');
    // A live chmpx of the same names elsewhere on the host holds this queue: it stays.
    const fd = openSync(join(p.mqueueDir, heldQueue), 'r');
    const { log, lines } = sinkLogger();
    try {
      const out = await removeChmpxLeftovers(ID, { shmDir: p.shmDir, mqueueDir: p.mqueueDir }, log);
      expect(out.files).toEqual(mine.map((f) => join(p.shmDir, f)).sort());
      expect(out.queues.sort()).toEqual(queues.map((q) => `/${q}`));
    } finally {
      closeSync(fd);
    }
    expect(readdirSync(p.shmDir).sort()).toEqual([...others].sort());
    expect(readdirSync(p.mqueueDir).sort()).toEqual([heldQueue, 'mycluster.notaqueue', 'other.00000000000000a1'].sort());
    expect(lines.filter((l) => l.msg === REMOVED)).toHaveLength(1);
    expect(lines.find((l) => l.msg === REMOVED)).toMatchObject({ group: 'mycluster', ctlport: 8021 });
  });

  it('keeps a shared memory file a live process has open, and says nothing when there was nothing to remove', async () => {
    const p = places();
    writeFileSync(join(p.shmDir, 'mycluster-8021.chmpx'), '');
    const fd = openSync(join(p.shmDir, 'mycluster-8021.chmpx'), 'r');
    const { log, lines } = sinkLogger();
    try {
      expect(await removeChmpxLeftovers(ID, { shmDir: p.shmDir, mqueueDir: p.mqueueDir }, log)).toEqual({ files: [], queues: [] });
    } finally {
      closeSync(fd);
    }
    expect(readdirSync(p.shmDir)).toEqual(['mycluster-8021.chmpx']);
    expect(lines.some((l) => l.msg === REMOVED)).toBe(false);
  });

  it('does nothing for an INI it cannot read or that names no group', async () => {
    const p = places();
    writeFileSync(join(p.shmDir, 'mycluster-8021.chmpx.bup'), '');
    const { log } = sinkLogger();
    await removeLeftoversFor(join(p.dir, 'missing.ini'), { shmDir: p.shmDir, mqueueDir: p.mqueueDir }, log);
    expect(readdirSync(p.shmDir)).toEqual(['mycluster-8021.chmpx.bup']);
    await removeLeftoversFor(FIXTURE, { shmDir: p.shmDir, mqueueDir: p.mqueueDir }, log);
    expect(readdirSync(p.shmDir)).toEqual([]);
  });
});

describe('ensureDataFileDir', () => {
  it('creates the directory of K2HFILE (mode 0750), which k2hdkc does not', async () => {
    const p = places();
    const ini = join(p.dir, 'k2hdkc.ini');
    writeFileSync(ini, `[GLOBAL]\nGROUP = g\n[K2HDKC]\nK2HTYPE = file\nK2HFILE = ${join(p.dir, 'data', 'sub', 'k2hdkc.k2h')}\n`);
    const { log, lines } = sinkLogger();
    await ensureDataFileDir(ini, log);
    expect(statSync(join(p.dir, 'data', 'sub')).mode & 0o777).toBe(0o750);
    expect(lines.some((l) => l.msg === 'created the directory of K2HFILE (k2hdkc does not)')).toBe(true);
    await ensureDataFileDir(ini, log);
    expect(lines.filter((l) => l.msg === 'created the directory of K2HFILE (k2hdkc does not)')).toHaveLength(1);
  });
});
