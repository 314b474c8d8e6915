import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isLiveProcess, readPidFile, removePidFile, writePidFile } from '../../../../src/k2hdkc/processes/pidfile';

describe('pid files', () => {
  it('writes "<pid>\\n" with mode 0640 and reads it back', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'k2h-pid-')), 'chmpx.pid');
    await writePidFile(path, 4242);
    expect(readFileSync(path, 'utf8')).toBe('4242\n');
    expect(statSync(path).mode & 0o777).toBe(0o640);
    expect(await readPidFile(path)).toBe(4242);
  });

  it('removes the file only when it still names the given pid', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'k2h-pid-')), 'k2hdkc.pid');
    writeFileSync(path, '77\n');
    await removePidFile(path, 76);
    expect(existsSync(path)).toBe(true);
    await removePidFile(path, 77);
    expect(existsSync(path)).toBe(false);
    expect(await readPidFile(path)).toBeUndefined();
  });

  it('treats garbage as no pid', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'k2h-pid-')), 'x.pid');
    writeFileSync(path, 'not a pid\n');
    expect(await readPidFile(path)).toBeUndefined();
  });

  it('recognises a live process by pid and command name, not by pid alone', async () => {
    expect(await isLiveProcess(process.pid, process.execPath)).toBe(true);
    expect(await isLiveProcess(process.pid, '/usr/bin/chmpx')).toBe(false);
    expect(await isLiveProcess(2 ** 22 + 1, process.execPath)).toBe(false);
  });
});
