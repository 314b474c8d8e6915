import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load';
import { checkStandaloneConfig, standaloneDefaults } from '../../src/standalone';
import { GUEST_IMAGE } from './lib/paths';
import { run } from './lib/run';

// The user-data that launches a K2HDKC slave VM without Trove (issue 3 item 7): cloud-init's own
// schema check, and what it installs: the agent configuration (loaded by the real config loader in
// standalone mode) and the unit that runs the agent with it.

const USER_DATA = join(GUEST_IMAGE, 'cloud-init', 'k2hdkc-slave.yaml');
const AGENT_INSTALL = join(GUEST_IMAGE, 'elements', 'k2hdkc-trove-guest', 'install.d', '61-k2hdkc-trove-agent');

interface UserData {
  write_files: { path: string; permissions?: string; owner?: string; content: string }[];
  runcmd: string[][];
}

/** YAML → JSON with Debian's python3-yaml (the project has no YAML library of its own). */
async function parseYaml(file: string): Promise<UserData> {
  const script = 'import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)';
  const result = await run('/usr/bin/python3', ['-c', script, file]);
  expect(result.stderr).toBe('');
  return JSON.parse(result.stdout) as UserData;
}

describe('cloud-init user-data for a standalone K2HDKC slave', () => {
  let data: UserData;
  const file = (path: string) => {
    const found = data.write_files.find((f) => f.path === path);
    if (found === undefined) throw new Error(`user-data writes no ${path}`);
    return found;
  };

  beforeAll(async () => {
    data = await parseYaml(USER_DATA);
  });

  it('is a #cloud-config that cloud-init\'s schema accepts', async () => {
    expect(readFileSync(USER_DATA, 'utf8').split('\n')[0]).toBe('#cloud-config');
    const result = await run('cloud-init', ['schema', '--config-file', USER_DATA]);
    expect(`${result.stdout}${result.stderr}`).toContain('Valid cloud-config');
    expect(result.code).toBe(0);
  });

  it('writes an agent configuration that loads in standalone mode as a slave following K2HR3', () => {
    const conf = file('/etc/k2hdkc-trove/slave.conf');
    // It carries the extdata register path (a role token): root only.
    expect(conf.permissions).toBe('0600');
    expect(conf.owner).toBe('root:root');
    const dir = mkdtempSync(join(tmpdir(), 'k2h-cloudinit-'));
    const confFile = join(dir, 'slave.conf');
    const instanceId = join(dir, 'instance-id');
    writeFileSync(confFile, conf.content);
    writeFileSync(instanceId, 'i-0123456789abcdef\n');
    // Only what the VM has: this file and cloud-init's instance id; no Trove files, no transport_url.
    const config = loadConfig({ configFiles: [confFile], configDirs: [] }, { defaults: standaloneDefaults(instanceId) });
    expect(() => checkStandaloneConfig(config)).not.toThrow();
    expect(config.guest.guestId).toBe('i-0123456789abcdef');
    expect(config.k2hdkc).toMatchObject({ datastore: 'k2hdkc', mode: 'slave', processManager: 'systemd', manageVolume: false, iniPath: '/etc/antpickax/k2hdkc.ini', k2hr3PollMs: 10_000 });
    expect(config.k2hdkc.extdataUrl).toMatch(/^https?:\/\/[^/]+\/v1\/extdata\/trove\//);
  });

  it('without an instance id and without guest_id, loading fails naming guest_id', () => {
    const dir = mkdtempSync(join(tmpdir(), 'k2h-cloudinit-'));
    const confFile = join(dir, 'slave.conf');
    writeFileSync(confFile, file('/etc/k2hdkc-trove/slave.conf').content);
    expect(() => loadConfig({ configFiles: [confFile], configDirs: [] }, { defaults: standaloneDefaults(join(dir, 'missing')) })).toThrow(/guest_id/);
  });

  it('installs a unit that runs the image\'s agent with --standalone on that file, and switches from the Trove agent to it', () => {
    const unit = file('/etc/systemd/system/k2hdkc-slave-agent.service').content;
    const execStart = /^ExecStart=(.*)$/m.exec(unit)?.[1]?.split(' ');
    expect(execStart).toEqual(['/opt/k2hdkc-trove/bin/k2hdkc-trove-agent', '--standalone', '--config-file', '/etc/k2hdkc-trove/slave.conf']);
    // The image installs the agent under that prefix.
    expect(readFileSync(AGENT_INSTALL, 'utf8')).toMatch(/^prefix=\/opt\/k2hdkc-trove$/m);
    expect(unit).toMatch(/^WantedBy=multi-user\.target$/m);
    expect(unit).toMatch(/^Restart=on-failure$/m);
    expect(data.runcmd).toContainEqual(['systemctl', 'disable', '--now', 'k2hdkc-trove-agent.service']);
    expect(data.runcmd).toContainEqual(['systemctl', 'enable', '--now', 'k2hdkc-slave-agent.service']);
    const reload = data.runcmd.findIndex((c) => c.join(' ') === 'systemctl daemon-reload');
    const enable = data.runcmd.findIndex((c) => c.join(' ') === 'systemctl enable --now k2hdkc-slave-agent.service');
    expect(reload).toBeGreaterThanOrEqual(0);
    expect(reload).toBeLessThan(enable);
  });
});
