import Ajv from 'ajv';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentsError, NotSupportedError } from '../../../../src/errors';
import { NodeConfiguration, type ConfigurableNode } from '../../../../src/k2hdkc/configuration';
import { configMethods } from '../../../../src/guest/methods/configuration';
import { OverridesStore } from '../../../../src/k2hdkc/overrides';
import { captureLogger } from '../../conductor/recording-caster';
import { capture } from '../../../helpers/captures';
import { GUEST_SCHEMAS } from '../../../../src/guest/methods/schemas';
import { invoke } from './method-call';

/** A node with the state the configuration acts on: merge suspension and running or not. */
class FakeNode implements ConfigurableNode {
  suspended = false;
  running = true;
  starts = 0;
  async setMergeSuspended(suspended: boolean): Promise<string> {
    this.suspended = suspended;
    return 'SUCCEED';
  }
  async stopDb(): Promise<void> {
    this.running = false;
  }
  async restart(): Promise<void> {
    this.running = true;
    this.starts += 1;
  }
}

function setup(joinedCluster?: string | null) {
  const dir = mkdtempSync(join(tmpdir(), 'k2h-config-'));
  const stateDir = join(dir, 'state');
  const mountPoint = join(dir, 'data');
  mkdirSync(stateDir);
  mkdirSync(mountPoint);
  const iniPath = join(dir, 'etc', 'k2hdkc.ini');
  mkdirSync(join(dir, 'etc'));
  writeFileSync(iniPath, '[GLOBAL]\nGROUP = c\n');
  const node = new FakeNode();
  const saved: string[] = [];
  const { log } = captureLogger();
  const configuration = new NodeConfiguration({
    store: new OverridesStore(join(stateDir, 'overrides.json')),
    node,
    saveConfig: async (text) => {
      saved.push(text);
    },
    role: 'server',
    iniPath,
    mountPoint,
    ...(joinedCluster === undefined ? {} : { joinedCluster: async () => joinedCluster }),
    log,
  });
  let restartingDuring = false;
  let restarting = false;
  const table = configMethods({
    configuration,
    stateDir,
    beatNow: async () => undefined,
    whileRestarting: async (run) => {
      restarting = true;
      try {
        const result = await run();
        restartingDuring = restartingDuring || !node.running || node.starts > 0;
        return result;
      } finally {
        restarting = false;
      }
    },
  });
  const byName = new Map(table.map((e) => [e.name, e]));
  return { dir, stateDir, mountPoint, iniPath, node, saved, configuration, byName, restarting: () => restarting, restartingDuring: () => restartingDuring };
}

describe('update_overrides', () => {
  it('keeps the validated set, replaces it on the next update and drops it with remove=true', async () => {
    const t = setup();
    const file = join(t.stateDir, 'overrides.json');
    expect(await invoke(t.byName.get('update_overrides'), { overrides: { 'k2hdkc-maxthread': 8, 'chmpx-suspend-merge': true }, remove: false })).toBeNull();
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ 'k2hdkc-maxthread': 8, 'chmpx-suspend-merge': true });
    await invoke(t.byName.get('update_overrides'), { overrides: { 'chmpx-sockthreadcnt': 4 } });
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ 'chmpx-sockthreadcnt': 4 });
    await invoke(t.byName.get('update_overrides'), { overrides: {}, remove: true });
    expect(existsSync(file)).toBe(false);
    // Nothing is applied by update_overrides itself.
    expect(t.node.suspended).toBe(false);
  });

  it('refuses an invalid set and keeps the previous one', async () => {
    const t = setup();
    const file = join(t.stateDir, 'overrides.json');
    await invoke(t.byName.get('update_overrides'), { overrides: { 'k2hdkc-maxthread': 8 } });
    await expect(invoke(t.byName.get('update_overrides'), { overrides: { 'k2hdkc-maxthread': 5000 } })).rejects.toBeInstanceOf(InvalidArgumentsError);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ 'k2hdkc-maxthread': 8 });
  });
});

describe('update_overrides naming a K2HDKC cluster', () => {
  it('refuses another cluster than the one the node joined, keeping the previous set; its own (any case) is kept', async () => {
    const t = setup('prod-a');
    const file = join(t.stateDir, 'overrides.json');
    await invoke(t.byName.get('update_overrides'), { overrides: { 'k2hdkc-maxthread': 8 } });
    const error = await invoke(t.byName.get('update_overrides'), { overrides: { 'cluster-name': 'prod-b', 'k2hdkc-maxthread': 9 } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotSupportedError);
    expect((error as Error).message).toMatch(/^The 'configuration attach\/set with cluster-name "prod-b": this node is a member of K2HDKC cluster "prod-a", and a node joins its cluster at instance create only/);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ 'k2hdkc-maxthread': 8 });
    await invoke(t.byName.get('update_overrides'), { overrides: { 'cluster-name': 'Prod-A', 'k2hdkc-maxthread': 9 } });
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ 'cluster-name': 'Prod-A', 'k2hdkc-maxthread': 9 });
  });

  it('takes any cluster-name before prepare (no cluster joined yet)', async () => {
    const t = setup(null);
    expect(await invoke(t.byName.get('update_overrides'), { overrides: { 'cluster-name': 'any' } })).toBeNull();
  });
});

describe('apply_overrides', () => {
  it('applies a dynamic value live, from JSON or from the template\'s string', async () => {
    const t = setup();
    await invoke(t.byName.get('apply_overrides'), { overrides: { 'chmpx-suspend-merge': true } });
    expect(t.node.suspended).toBe(true);
    await invoke(t.byName.get('apply_overrides'), { overrides: { 'chmpx-suspend-merge': 'false' } });
    expect(t.node.suspended).toBe(false);
  });

  it('answers DatastoreOperationNotSupported naming what needs a restart, and applies nothing of the set', async () => {
    const t = setup();
    const error = await invoke(t.byName.get('apply_overrides'), { overrides: { 'chmpx-suspend-merge': true, 'k2hdkc-maxthread': 8 } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotSupportedError);
    expect((error as Error).message).toBe("The 'apply_overrides (k2hdkc-maxthread take effect on restart only)' operation is not supported for the 'k2hdkc' datastore.");
    expect(t.node.suspended).toBe(false);
  });
});

describe('reset_configuration', () => {
  it('keeps the given config_contents and refuses one with a bad value', async () => {
    const t = setup();
    await invoke(t.byName.get('reset_configuration'), { configuration: { config_contents: 'chmpx-server-port = 9020\n' } });
    expect(t.saved).toEqual(['chmpx-server-port = 9020\n']);
    await expect(invoke(t.byName.get('reset_configuration'), { configuration: { config_contents: 'chmpx-server-port = 32768\n' } })).rejects.toThrow(/at most 32767/);
    expect(t.saved).toHaveLength(1);
  });
});

describe('prepareSettings', () => {
  it('lets the configuration group win over config_contents and keeps the group\'s overrides', async () => {
    const t = setup();
    const settings = await t.configuration.prepareSettings('chmpx-server-port = 9020\ncluster-name = from-template\n', { 'cluster-name': 'from-group', 'k2hdkc-maxthread': 8 });
    expect(settings).toEqual({ clusterName: 'from-group', ports: { serverPort: 9020, serverCtlport: 8021, slaveCtlport: 8031 } });
    expect(JSON.parse(readFileSync(join(t.stateDir, 'overrides.json'), 'utf8'))).toEqual({ 'cluster-name': 'from-group', 'k2hdkc-maxthread': 8 });
    await expect(t.configuration.prepareSettings(null, { 'chmpx-server-port': 'x' })).rejects.toThrow(/chmpx-server-port must be an integer/);
  });
});

describe('pre_upgrade / upgrade', () => {
  it('pre_upgrade copies the node\'s files to the data volume; upgrade restores what a rebuild lost and restarts the node', async () => {
    const t = setup();
    writeFileSync(join(t.stateDir, 'k2hr3-bootstrap.json'), '{"roleYrn":"r"}\n');
    const info = (await invoke(t.byName.get('pre_upgrade'), {})) as Record<string, unknown>;
    expect(info['k2hdkc_saved']).toEqual(['k2hdkc.ini', 'k2hr3-bootstrap.json']);
    // The rebuild: a new root disk, the volume kept.
    rmSync(join(t.dir, 'etc'), { recursive: true });
    rmSync(join(t.stateDir, 'k2hr3-bootstrap.json'));
    await invoke(t.byName.get('upgrade'), { upgrade_info: { ...info, datastore_version: '1.0.15' } });
    expect(readFileSync(t.iniPath, 'utf8')).toBe('[GLOBAL]\nGROUP = c\n');
    expect(readFileSync(join(t.stateDir, 'k2hr3-bootstrap.json'), 'utf8')).toBe('{"roleYrn":"r"}\n');
    expect(t.node.running).toBe(true);
    expect(t.node.starts).toBe(1);
    expect(t.restartingDuring()).toBe(true);
    expect(t.restarting()).toBe(false);
  });
});

describe('the schemas', () => {
  it('accept the kwargs Trove 18 really sent (captured), and refuse unknown kwargs', () => {
    const ajv = new Ajv({ strict: true, allErrors: true });
    const cases: [keyof typeof GUEST_SCHEMAS, string][] = [
      ['reset_configuration', 'call reset_configuration v1.0 -> guestagent (encrypted)'],
      ['update_overrides', 'call update_overrides v1.0 -> guestagent (encrypted)'],
      ['apply_overrides', 'call apply_overrides v1.0 -> guestagent (encrypted)'],
      ['upgrade', 'cast upgrade v1.0 -> guestagent (encrypted)'],
      ['post_upgrade', 'call post_upgrade v1.0 -> guestagent (encrypted)'],
      ['guest_log_action', 'call guest_log_action v1.0 -> guestagent (encrypted)'],
    ];
    for (const [method, label] of cases) {
      const validate = ajv.compile(GUEST_SCHEMAS[method]);
      expect(validate(capture(label).args_decrypted ?? {}), method).toBe(true);
      expect(validate({ ...(capture(label).args_decrypted ?? {}), surprise: 1 }), method).toBe(false);
    }
    expect(ajv.compile(GUEST_SCHEMAS.pre_upgrade)({})).toBe(true);
  });
});
