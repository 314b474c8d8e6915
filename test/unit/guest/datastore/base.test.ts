import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SystemError } from '../../../../src/errors';
import { BaseDatastore } from '../../../../src/guest/datastore/base';
import { toPrepareRequest } from '../../../../src/guest/methods/lifecycle';
import type { CallContext } from '../../../../src/rpc/types';
import { captureLogger } from '../../conductor/recording-caster';

function call(): CallContext {
  const { log } = captureLogger();
  return { method: 'prepare', kind: 'cast', msgId: null, context: {}, log, signal: new AbortController().signal };
}

function setup() {
  const root = mkdtempSync(join(tmpdir(), 'k2h-ds-'));
  const stateDir = join(root, 'state');
  const mountPoint = join(root, 'var', 'lib', 'k2hdkc');
  writeFileSync(join(root, 'placeholder'), '');
  const { log, lines } = captureLogger();
  return { root, stateDir, mountPoint, log, lines };
}

describe('BaseDatastore', () => {
  it('creates the mount point (mode 0750), saves config_contents (0640) and then reports healthy', async () => {
    const { stateDir, mountPoint, log } = setup();
    mkdirSync(stateDir);
    const ds = new BaseDatastore({ mountPoint, stateDir, log, configFileName: 'k2hdkc.conf' });
    expect(await ds.status()).toBe('shutdown');
    await ds.prepare(toPrepareRequest({ mount_point: mountPoint, config_contents: '[k2hdkc]\nport = 8020\n' }), call());
    expect(statSync(mountPoint).isDirectory()).toBe(true);
    expect(statSync(mountPoint).mode & 0o777).toBe(0o750 & ~process.umask());
    expect(ds.configPath).toBe(join(stateDir, 'k2hdkc.conf'));
    expect(readFileSync(ds.configPath, 'utf8')).toBe('[k2hdkc]\nport = 8020\n');
    expect(statSync(ds.configPath).mode & 0o777).toBe(0o640);
    expect(await ds.status()).toBe('healthy');
  });

  it('fails prepare and reports shutdown when the mount point is not a directory', async () => {
    const { root, stateDir, log } = setup();
    const notADir = join(root, 'placeholder');
    const ds = new BaseDatastore({ mountPoint: notADir, stateDir, log });
    await expect(ds.prepare(toPrepareRequest({}), call())).rejects.toBeInstanceOf(SystemError);
    expect(await ds.status()).toBe('shutdown');
  });

  it('keeps to the configured mount point and warns when prepare names another', async () => {
    const { root, stateDir, mountPoint, log, lines } = setup();
    const ds = new BaseDatastore({ mountPoint, stateDir, log });
    await ds.prepare(toPrepareRequest({ mount_point: join(root, 'elsewhere') }), call());
    expect(statSync(mountPoint).isDirectory()).toBe(true);
    expect(() => statSync(join(root, 'elsewhere'))).toThrow();
    expect(lines().some((l) => l['level'] === 'warn' && /differs/.test(String(l['msg'])))).toBe(true);
  });
});
