import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { K2hr3Error } from '../../../src/errors';
import { K2hr3Client } from '../../../src/k2hr3/client';
import { K2hr3Provisioner, type ProvisionResult } from '../../../src/k2hr3/provision';
import { K2hdkcManager, type K2hdkcManagerOptions } from '../../../src/k2hdkc/manager';
import { ProcessSupervisor } from '../../../src/k2hdkc/processes/supervisor';
import type { ProcessEventListener } from '../../../src/k2hdkc/processes/types';
import { K2hr3Double } from '../../doubles/k2hr3';
import { DBAAS_TEMPLATE, FAST, KEYSTONE, KEYSTONE_TOKEN, nodes } from '../../integration/k2hr3/helpers';
import { sinkLogger } from './processes/helpers';
import { rawCtlport } from '../../helpers/raw-ctlport';
import { NodeNetwork } from '../../helpers/netns';

// The manager end to end on one machine: the K2HR3 API double in-process, the chmpx / k2hdkc
// stand-ins run by the ProcessSupervisor, each node on its own loopback address in a network
// namespace of its own (chmpx takes only an address of its host as itself; test/helpers/netns),
// whose control port the in-process manager reaches at the same address on the host.
const DOUBLES = join(__dirname, '../../doubles/chmpx');
const BASE_PORT = 25000 + (process.pid % 400) * 10;

const ctl = rawCtlport;

describe('K2hdkcManager with the K2HR3 double and the chmpx/k2hdkc stand-ins', () => {
  const double = new K2hr3Double({ keystone: KEYSTONE });
  const managers: K2hdkcManager[] = [];
  let apiUrl = '';
  let cluster: ProvisionResult;
  const clusterName = `mgr${process.pid}`;
  const ports = { serverPort: BASE_PORT, serverCtlport: BASE_PORT + 1, slaveCtlport: BASE_PORT + 2 };
  let network: NodeNetwork;

  beforeAll(async () => {
    network = await NodeNetwork.create();
    for (const address of ['127.0.0.21', '127.0.0.22', '127.0.0.23']) {
      await (await network.addNode(address)).exposeOnHost([ports.serverCtlport, BASE_PORT + 6]);
    }
    apiUrl = await double.start();
    cluster = await new K2hr3Provisioner({ apiUrl, ...FAST }).provision(KEYSTONE_TOKEN, {
      tenant: 'demo', cluster: clusterName, template: DBAAS_TEMPLATE, mode: 'server', ports,
    });
  });
  afterEach(async () => {
    await Promise.all(managers.splice(0).map((m) => m.stopDb().catch(() => undefined)));
  });
  afterAll(async () => {
    await double.stop();
    await network?.close();
  });

  function manager(address: string, guestId: string, overrides: Partial<K2hdkcManagerOptions> = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'k2h-manager-'));
    const { log, lines } = sinkLogger();
    const node = network.node(address);
    const program = (name: string): string => (node === undefined ? join(DOUBLES, name) : node.wrap(join(DOUBLES, name)));
    const options: K2hdkcManagerOptions = {
      guestId,
      role: 'server',
      nodeName: address,
      clusterName,
      extdataUrl: double.extdataUrlFor(cluster.roleYrn).url,
      k2hr3ApiUrl: null,
      template: null,
      k2hr3: { localAddress: address, ...FAST },
      iniPath: join(dir, 'k2hdkc.ini'),
      ctlportHost: null,
      stateDir: dir,
      createProcesses: (waitReady) =>
        new ProcessSupervisor({
          iniPath: join(dir, 'k2hdkc.ini'),
          runDir: join(dir, 'run'),
          logDir: join(dir, 'log'),
          waitReady,
          log,
          chmpx: { command: program('chmpx') },
          k2hdkc: { command: program('k2hdkc') },
          mqueue: false,
        }),
      volume: null,
      prepareTimeoutMs: 20_000,
      healthPollMs: 50,
      log,
      ...overrides,
    };
    const m = new K2hdkcManager(options);
    managers.push(m);
    return { m, dir, lines, iniPath: options.iniPath };
  }

  it('prepares a node from the extdata URL: registered, INI as served, stand-ins SERVICE IN, then restart and stop_db', async () => {
    const address = '127.0.0.21';
    const { m, iniPath, lines } = manager(address, 'inst-mgr-a');
    expect(await m.status()).toBe('shutdown');

    await m.prepare({ devicePath: null, mountPoint: null }, { keystoneToken: null, projectName: null });

    expect(double.state.hostsOf(cluster.roleYrn).map((h) => [h.host, h.cuk, h.tag])).toContainEqual([address, 'inst-mgr-a', address]);
    // What the double serves this node, with SELFCUK filled in, is what is on disk.
    const served = await new K2hr3Client({ apiUrl, localAddress: address, ...FAST }).readResource(cluster.resourceYrn, cluster.roleToken);
    const onDisk = readFileSync(iniPath, 'utf8');
    expect(onDisk).toBe(served.split('__SELF_INSTANCE_ID__').join('inst-mgr-a'));
    expect(nodes(onDisk, 'SVRNODE')).toEqual([{ name: address, cuk: 'inst-mgr-a' }]);
    expect(await ctl(address, ports.serverCtlport, 'SELFSTATUS')).toMatch(/\[SERVICE IN\]\[UP\]\[n\/a\]\[Nothing\]\[NoSuspend\]/);
    expect(await m.status()).toBe('healthy');

    await m.restart();
    expect(await m.status()).toBe('healthy');

    await m.stopDb();
    expect(await m.status()).toBe('shutdown');
    expect(double.state.hostsOf(cluster.roleYrn).map((h) => h.cuk)).not.toContain('inst-mgr-a');
    await expect(ctl(address, ports.serverCtlport, 'VERSION')).rejects.toThrow(/ECONNREFUSED/);
    // The role token never reaches the log.
    expect(JSON.stringify(lines)).not.toContain(cluster.roleToken);
  });

  it('self-provisions with the Keystone token when there is no extdata URL, and starts again (registered again) after stop_db', async () => {
    const address = '127.0.0.22';
    const cluster2 = `${clusterName}b`;
    const ports2 = { serverPort: BASE_PORT + 5, serverCtlport: BASE_PORT + 6, slaveCtlport: BASE_PORT + 7 };
    // The template's ports come from the resource keys; provision the cluster's keys first, as another member would.
    const provisioned = await new K2hr3Provisioner({ apiUrl, ...FAST }).provision(KEYSTONE_TOKEN, {
      tenant: 'demo', cluster: cluster2, template: DBAAS_TEMPLATE, mode: 'server', ports: ports2,
    });
    const { m, lines } = manager(address, 'inst-mgr-b', {
      extdataUrl: null,
      k2hr3ApiUrl: apiUrl,
      clusterName: cluster2,
      template: async () => DBAAS_TEMPLATE,
    });
    await m.prepare({ devicePath: null, mountPoint: null }, { keystoneToken: KEYSTONE_TOKEN, projectName: 'demo' });
    expect(await m.status()).toBe('healthy');
    expect(JSON.stringify(lines)).not.toContain(KEYSTONE_TOKEN);

    const hosts = () => double.state.hostsOf(provisioned.roleYrn).map((h) => h.cuk);
    expect(hosts()).toEqual(['inst-mgr-b']);
    await m.stopDb();
    expect(await m.status()).toBe('shutdown');
    expect(hosts()).toEqual([]);
    await m.startDbWithConfChanges();
    expect(await m.status()).toBe('healthy');
    expect(hosts()).toEqual(['inst-mgr-b']);
    expect(await ctl(address, ports2.serverCtlport, 'SELFSTATUS')).toMatch(/\[SERVICE IN\]\[UP\]/);
  });

  it('fails prepare with the K2HR3 error and keeps the previous INI when the resource read fails', async () => {
    const address = '127.0.0.23';
    const { m, iniPath } = manager(address, 'inst-mgr-c');
    writeFileSync(iniPath, '# previous\n');
    double.inject({ method: 'GET', path: /^\/v1\/resource\// }, { status: 500 }, 10);
    const error = await m.prepare({ devicePath: null, mountPoint: null }, { keystoneToken: null, projectName: null }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(K2hr3Error);
    expect((error as Error).message).toMatch(/resource/);
    expect(readFileSync(iniPath, 'utf8')).toBe('# previous\n');
    expect(await m.status()).toBe('shutdown');
  });

  it('refuses to self-provision without a Keystone token, naming what is missing', async () => {
    const { m } = manager('127.0.0.24', 'inst-mgr-d', { extdataUrl: null, k2hr3ApiUrl: apiUrl, template: async () => DBAAS_TEMPLATE });
    await expect(m.prepare({ devicePath: null, mountPoint: null }, { keystoneToken: null, projectName: 'demo' })).rejects.toThrow(
      /needs the Keystone token/,
    );
  });

  it('reports crashed once the process manager gives up on a crash loop', async () => {
    let emit: ProcessEventListener = () => undefined;
    const { m } = manager('127.0.0.25', 'inst-mgr-e', {
      // A process manager that only reports events: the supervisor's crash-loop detection has its own tests.
      createProcesses: () => ({
        start: async () => undefined,
        stop: async () => undefined,
        restart: async () => undefined,
        state: async () => ({ role: null, chmpx: 'crashed', k2hdkc: 'stopped' }),
        onEvent: (listener) => {
          emit = listener;
          return () => undefined;
        },
      }),
    });
    expect(await m.status()).toBe('shutdown');
    emit({ process: 'chmpx', type: 'crash-loop' });
    expect(await m.status()).toBe('crashed');
  });
});
