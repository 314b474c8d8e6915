import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentsError, ProcessError } from '../../../src/errors';
import { BaseDatastore } from '../../../src/guest/datastore/base';
import { NodeConfiguration } from '../../../src/k2hdkc/configuration';
import { toPrepareRequest } from '../../../src/guest/methods/lifecycle';
import { K2hdkcDatastore } from '../../../src/guest/datastore/k2hdkc';
import { resolveClusterName, type ClusterNameSources } from '../../../src/k2hdkc/cluster-name';
import { K2hdkcManager } from '../../../src/k2hdkc/manager';
import type { NodeProcesses } from '../../../src/k2hdkc/processes/types';
import { OverridesStore } from '../../../src/k2hdkc/overrides';
import { buildYrn } from '../../../src/k2hr3/yrn';
import type { CallContext } from '../../../src/rpc/types';
import { DBAAS_TEMPLATE, FAST, KEYSTONE_TOKEN, useK2hr3Double } from '../../integration/k2hr3/helpers';
import { sinkLogger } from './processes/helpers';

const INSTANCE = '6f0c1d2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f';
const TROVE_CLUSTER = 'c8a3e0d1-7b2f-4e6a-9c5d-1f2e3d4c5b6a';

describe('resolveClusterName: configuration > [k2hdkc] cluster_name > cluster_config.id > instance id', () => {
  const all: ClusterNameSources = { configured: 'from-config', option: 'from-option', memberOf: TROVE_CLUSTER, instanceId: INSTANCE };

  it('takes the first source that is set, each winning over every one below it', () => {
    expect(resolveClusterName(all)).toBe('from-config');
    expect(resolveClusterName({ ...all, configured: undefined })).toBe('from-option');
    expect(resolveClusterName({ ...all, configured: undefined, option: null })).toBe(TROVE_CLUSTER);
    expect(resolveClusterName({ ...all, configured: undefined, option: null, memberOf: null })).toBe(INSTANCE);
    // Skipping a level does not change who wins among the rest.
    expect(resolveClusterName({ ...all, option: null })).toBe('from-config');
    expect(resolveClusterName({ ...all, memberOf: null })).toBe('from-config');
    expect(resolveClusterName({ ...all, configured: undefined, memberOf: null })).toBe('from-option');
  });

  it('treats empty strings as not set (the template renders an unset parameter empty)', () => {
    expect(resolveClusterName({ ...all, configured: '', option: '' })).toBe(TROVE_CLUSTER);
  });

  it('gives every member of one Trove cluster the same name, and single instances their own', () => {
    const member = (instanceId: string) => resolveClusterName({ option: null, memberOf: TROVE_CLUSTER, instanceId });
    expect(member('a9a9a9a9-0000-4000-8000-000000000001')).toBe(member('a9a9a9a9-0000-4000-8000-000000000002'));
    const single = (instanceId: string) => resolveClusterName({ option: null, memberOf: null, instanceId });
    expect(single('a9a9a9a9-0000-4000-8000-000000000001')).not.toBe(single('a9a9a9a9-0000-4000-8000-000000000002'));
  });

  it('yields a Trove cluster id that K2HR3 accepts as the cluster\'s role and resource path', () => {
    const name = resolveClusterName({ option: null, memberOf: TROVE_CLUSTER, instanceId: INSTANCE });
    expect(buildYrn('demo', 'role', `${name}/server`)).toBe(`yrn:yahoo:::demo:role:${TROVE_CLUSTER}/server`);
    expect(buildYrn('demo', 'resource', name)).toBe(`yrn:yahoo:::demo:resource:${TROVE_CLUSTER}`);
  });

  it('refuses a cluster id that cannot be a K2HR3 name, but only when it would be used', () => {
    for (const bad of ['..', '-lead', 'a/b', 'x'.repeat(129), '']) {
      expect(() => resolveClusterName({ option: null, memberOf: bad, instanceId: INSTANCE })).toThrow(InvalidArgumentsError);
    }
    expect(resolveClusterName({ option: 'named', memberOf: 'a/b', instanceId: INSTANCE })).toBe('named');
  });
});

describe('the K2HR3 cluster a self-provisioning prepare lands in', () => {
  const double = useK2hr3Double();

  /**
   * The real configuration, datastore adapter and manager against the K2HR3 double. chmpx is
   * never started (start fails): by then the node has provisioned and registered in its cluster.
   */
  function node(instanceId: string, option: string | null) {
    const dir = mkdtempSync(join(tmpdir(), 'k2h-cluster-name-'));
    mkdirSync(join(dir, 'data'));
    const { log } = sinkLogger();
    const configuration = new NodeConfiguration({
      store: new OverridesStore(join(dir, 'overrides.json')),
      node: { setMergeSuspended: async () => 'SUCCEED', stopDb: async () => undefined, restart: async () => undefined },
      saveConfig: async () => undefined,
      role: 'server',
      iniPath: join(dir, 'k2hdkc.ini'),
      mountPoint: join(dir, 'data'),
      log,
    });
    const processes: NodeProcesses = {
      start: async () => {
        throw new ProcessError('chmpx is not started in this test');
      },
      stop: async () => undefined,
      restart: async () => undefined,
      state: async () => ({ role: null, chmpx: 'stopped', k2hdkc: 'stopped' }),
      onEvent: () => () => undefined,
    };
    const manager = new K2hdkcManager({
      guestId: instanceId, role: 'server', nodeName: 'node-a', clusterName: option, extdataUrl: null, k2hr3ApiUrl: double.url,
      template: async () => DBAAS_TEMPLATE, k2hr3: FAST, iniPath: join(dir, 'k2hdkc.ini'), ctlportHost: null, stateDir: dir,
      createProcesses: () => processes, volume: null, prepareTimeoutMs: 10_000, healthPollMs: 50, log,
    });
    const base = new BaseDatastore({ mountPoint: join(dir, 'data'), stateDir: dir, log });
    const datastore = new K2hdkcDatastore({ manager, base, configuration, log });
    return (kwargs: Parameters<typeof toPrepareRequest>[0]) => datastore.prepare(toPrepareRequest(kwargs), call());
  }

  function call(): CallContext {
    const { log } = sinkLogger();
    const context = { auth_token: KEYSTONE_TOKEN, project_name: 'demo' };
    return { method: 'prepare', kind: 'cast', msgId: 'm1', context, log, signal: new AbortController().signal };
  }

  /** The clusters (K2HR3 `<cluster>/server` roles) that list this instance. */
  const clustersOf = (instanceId: string): string[] =>
    [...double.state.roles.keys()]
      .filter((role) => role.endsWith('/server') && double.state.hostsOf(role).some((h) => h.cuk === instanceId))
      .map((role) => role.replace(/^yrn:yahoo:::demo:role:/, '').replace(/\/server$/, ''));

  const member = (id: string) => ({ cluster_config: { id, instance_type: 'member' } });
  const ports = 'chmpx-server-port = 9020\n';

  it('configuration group > config_contents > [k2hdkc] cluster_name > cluster_config.id > instance id', async () => {
    const troveCluster = randomUUID();
    const ids = Array.from({ length: 5 }, () => randomUUID());
    const cases: [string, string | null, Parameters<typeof toPrepareRequest>[0], string][] = [
      [ids[0]!, 'from-option', { ...member(troveCluster), config_contents: 'cluster-name = from-template\n', overrides: { 'cluster-name': 'from-group' } }, 'from-group'],
      [ids[1]!, 'from-option', { ...member(troveCluster), config_contents: 'cluster-name = from-template\n' }, 'from-template'],
      [ids[2]!, 'from-option', { ...member(troveCluster), config_contents: ports }, 'from-option'],
      [ids[3]!, null, { ...member(troveCluster), config_contents: ports }, troveCluster],
      [ids[4]!, null, { config_contents: ports }, ids[4]!],
    ];
    for (const [id, option, kwargs, expected] of cases) {
      await expect(node(id, option)(kwargs)).rejects.toThrow(/chmpx is not started/);
      expect(clustersOf(id), `instance ${id}`).toEqual([expected]);
    }
  });

  it('puts two members of one Trove cluster without a cluster-name in the same K2HR3 cluster', async () => {
    const troveCluster = randomUUID();
    const [a, b] = [randomUUID(), randomUUID()];
    const results = await Promise.allSettled([node(a, null)(member(troveCluster)), node(b, null)(member(troveCluster))]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(clustersOf(a)).toEqual([troveCluster]);
    expect(clustersOf(b)).toEqual([troveCluster]);
  });

  it('fails a member\'s prepare whose cluster_config carries no usable id before anything reaches K2HR3', async () => {
    const before = double.seen.length;
    await expect(node(randomUUID(), null)({ cluster_config: { instance_type: 'member' } })).rejects.toThrow(/cluster_config has no cluster id/);
    await expect(node(randomUUID(), null)({ cluster_config: { id: 7, instance_type: 'member' } })).rejects.toBeInstanceOf(InvalidArgumentsError);
    await expect(node(randomUUID(), null)(member('a/b'))).rejects.toThrow(/cannot name a K2HDKC cluster/);
    expect(double.seen.length).toBe(before);
  });
});
