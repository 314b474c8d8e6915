import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load';
import { renderUserData } from '../../../src/dbaas-cli/userdata';
import { checkStandaloneConfig, standaloneDefaults } from '../../../src/standalone';

const dir = mkdtempSync(join(tmpdir(), 'dbaas-userdata-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface CloudConfig {
  write_files: { path: string; permissions: string; content: string }[];
  runcmd: string[][];
  fs_setup?: unknown[];
  mounts?: string[][];
}

describe('user-data', () => {
  it('is cloud-config whose agent configuration the standalone agent accepts', () => {
    const text = renderUserData({ mode: 'slave', cluster: 'c1', k2hr3ApiUrl: 'http://k2hr3.example:18080/', registerPath: 'abc%2Bdef%3D' });
    expect(text.startsWith('#cloud-config\n')).toBe(true);
    const doc = parseYaml(text) as CloudConfig;
    const conf = doc.write_files.find((f) => f.path === '/etc/k2hdkc-trove/slave.conf');
    expect(conf?.permissions).toBe('0600');
    const file = join(dir, 'slave.conf');
    writeFileSync(file, conf?.content ?? '');
    const idFile = join(dir, 'instance-id');
    writeFileSync(idFile, 'vm-0001\n');
    const config = loadConfig({ configFiles: [file], configDirs: [] }, { defaults: standaloneDefaults(idFile) });
    expect(() => checkStandaloneConfig(config)).not.toThrow();
    expect(config.k2hdkc.mode).toBe('slave');
    expect(config.k2hdkc.extdataUrl).toBe('http://k2hr3.example:18080/v1/extdata/trove/abc%2Bdef%3D');
    expect(config.guest.guestId).toBe('vm-0001');
    const unit = doc.write_files.find((f) => f.path === '/etc/systemd/system/k2hdkc-slave-agent.service')?.content ?? '';
    expect(unit).toContain('ExecStart=/opt/k2hdkc-trove/bin/k2hdkc-trove-agent --standalone --config-file /etc/k2hdkc-trove/slave.conf');
    expect(doc.runcmd.at(-1)).toEqual(['systemctl', 'enable', '--now', 'k2hdkc-slave-agent.service']);
    expect(doc.fs_setup).toBeUndefined();
  });

  it('for a server with a data volume, formats and mounts it where the data file lives', () => {
    const doc = parseYaml(renderUserData({ mode: 'server', cluster: 'c1', k2hr3ApiUrl: 'http://k', registerPath: 'p', dataVolumeDevice: '/dev/vdb' })) as CloudConfig;
    expect(doc.write_files[0]?.content).toMatch(/^mode = server$/m);
    expect(doc.mounts).toEqual([['/dev/vdb', '/var/lib/antpickax/k2hdkc', 'ext4', 'defaults,nofail', '0', '2']]);
  });

  it('refuses a register path that could break out of the URL or the file', () => {
    expect(() => renderUserData({ mode: 'slave', cluster: 'c', k2hr3ApiUrl: 'http://k', registerPath: 'a\nextdata_url = http://evil' })).toThrow(/unexpected characters/);
  });
});
