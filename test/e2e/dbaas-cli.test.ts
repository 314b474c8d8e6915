import { appendFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/dbaas-cli/main';
import { DEFAULT_CLUSTER_PORTS } from '../../src/k2hr3/provision';
import { waitFor } from '../conformance/helpers/poll';
import { ComputeDouble, keystoneAuthenticator } from '../doubles/openstack-compute';
import { K2hr3Double } from '../doubles/k2hr3';
import { NodeNetwork } from '../helpers/netns';
import { startKeystone, type KeystoneFixture } from '../keystone/fixture';
import { REPO_ROOT } from './helpers/hypervisor';
import { iniServers, StandaloneVms } from './helpers/standalone-vms';

/**
 * k2hdkc-dbaas end to end (issue 15 item 3): the CLI against a real Keystone, the K2HR3 double
 * and the nova/neutron/glance double, and every VM it boots running the real agent in standalone
 * mode with the chmpx/k2hdkc stand-ins, started from the user-data the CLI gave nova. The CLI
 * waits for SERVICE IN through the servers' control ports and scales in with SERVICEOUT.
 * Every VM runs in its own network namespace (test/helpers/netns) with K2HR3's port forwarded;
 * the servers' control ports are exposed on their addresses on the host, where the CLI reads them.
 * Needs `npm run build` (the agent runs from dist/) and root (network and mount namespaces).
 */

const PREFIX = '127.215.15';
let ks: KeystoneFixture;
let compute: ComputeDouble;
let k2hr3: K2hr3Double;
let vms: StandaloneVms;
let network: NodeNetwork;
let dir: string;
let env: NodeJS.ProcessEnv;

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(['--poll-interval', '1', '--timeout', '120', ...argv], { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env, cwd: dir, home: dir });
  // DBAAS_TRANSCRIPT=<file>: every command and its output, for docs/k2hdkc-dbaas.md.
  const transcript = process.env['DBAAS_TRANSCRIPT'];
  if (transcript) appendFileSync(transcript, `$ k2hdkc-dbaas ${argv.join(' ')}\n${stdout}${stderr ? `[stderr]\n${stderr}` : ''}[exit ${code}]\n\n`);
  return { code, stdout, stderr };
}

function vmOf(name: string) {
  return [...vms.vms.values()].find((v) => v.server.name === name && !v.server.deleted);
}

/** Until the INI of each named VM lists exactly `servers` (their addresses). */
async function untilIniLists(names: string[], servers: string[]): Promise<void> {
  await waitFor(`${names.join(', ')} to list ${servers.length} servers`, async () => {
    const ok = names.every((n) => {
      const vm = vmOf(n);
      return vm !== undefined && JSON.stringify(iniServers(vm.iniPath)) === JSON.stringify([...servers].sort());
    });
    return ok ? true : undefined;
  }, { timeoutMs: 60_000, intervalMs: 250 });
}

function serverAddresses(cluster: string): string[] {
  return [...compute.state.servers.values()]
    .filter((s) => !s.deleted && s.metadata['k2hdkc-dbaas-cluster'] === cluster && s.metadata['k2hdkc-dbaas-role'] === 'server')
    .map((s) => s.address);
}

beforeAll(async () => {
  if (!existsSync(path.join(REPO_ROOT, 'dist/src/cli.js'))) throw new Error('dist/ is missing: run npm run build first');
  dir = mkdtempSync(path.join(tmpdir(), 'k2hdkc-dbaas-e2e-'));
  let validate: ReturnType<typeof keystoneAuthenticator> | undefined;
  compute = new ComputeDouble({
    cloudDir: path.join(dir, 'cloud'),
    flavors: [{ id: '10', name: 'k2hdkc.small', ram: 512, vcpus: 1, disk: 5 }],
    images: [{ id: '6f1c2a9e-0000-4000-8000-00000000e2e5', name: 'k2hdkc-guest', status: 'active', tags: ['k2hdkc'], created_at: '2026-01-02T00:00:00Z' }],
    network: { id: '3b1f7c1e-0000-4000-8000-0000000000e5', name: 'private', subnetId: 'subnet-1', addressPrefix: PREFIX, addressFirst: 10 },
    authenticate: (token) => (validate === undefined ? Promise.resolve(null) : validate(token)),
    keystoneUrl: 'http://127.0.0.1:9/v3',
  });
  await compute.start();
  ks = await startKeystone({ services: compute.catalog() });
  validate = keystoneAuthenticator({ url: ks.url, username: ks.trove.username, password: ks.trove.password, project: ks.trove.project });
  k2hr3 = new K2hr3Double({ keystoneUrl: ks.url });
  await k2hr3.start();
  // What a VM reaches of the control plane: K2HR3 (its extdata URL), at the same 127.0.0.1 URL.
  network = await NodeNetwork.create({ forward: [Number(new URL(k2hr3.url).port)] });
  vms = new StandaloneVms(compute, { ...process.env, NODE_OPTIONS: '' }, network, [DEFAULT_CLUSTER_PORTS.serverCtlport]);
  vms.start();
  env = {
    OS_AUTH_URL: ks.url,
    OS_USERNAME: ks.demo.username,
    OS_PASSWORD: ks.demo.password,
    OS_PROJECT_NAME: ks.demo.project,
    K2HR3_API_URL: k2hr3.url,
  };
}, 180_000);

afterAll(async () => {
  await vms?.stop();
  await network?.close();
  await k2hr3?.stop();
  await compute?.stop();
  await ks?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('k2hdkc-dbaas with the real agent in every VM', () => {
  it('creates 3 servers and waits until all are SERVICE IN', async () => {
    const r = await cli('cluster', 'create', 'ring1', '--servers', '3', '--flavor', 'k2hdkc.small', '--image', 'k2hdkc-guest', '--network', 'private', '-f', 'json');
    expect(r.code, `${r.stderr}\n${vms.logOf('ring1-server-1')}`).toBe(0);
    const shown = JSON.parse(r.stdout) as { status: string; servers: string[] };
    expect(shown.status).toBe('SERVICE IN');
    for (const line of shown.servers) expect(line).toMatch(/ ACTIVE 127\.215\.15\.\d+ registered, \[SERVICE IN\]\[UP\]\[n\/a\]\[Nothing\]$/);
    await untilIniLists(['ring1-server-1', 'ring1-server-2', 'ring1-server-3'], serverAddresses('ring1'));
  });

  it('boots a slave that lists the 3 servers', async () => {
    const r = await cli('slave', 'create', 'ring1', '--flavor', 'k2hdkc.small', '--image', 'k2hdkc-guest', '--network', 'private', '-f', 'value', '-c', 'name', '-c', 'k2hr3');
    expect(r, r.stderr).toMatchObject({ code: 0, stdout: 'ring1-slave-1 registered\n' });
    await untilIniLists(['ring1-slave-1'], serverAddresses('ring1'));
  });

  it('scales to 4: the slave and every server list 4; back to 3 with SERVICEOUT: they list 3', async () => {
    const out = await cli('cluster', 'scale', 'ring1', '--servers', '4', '-f', 'value', '-c', 'status');
    expect(out, out.stderr).toMatchObject({ code: 0, stdout: 'SERVICE IN\n' });
    const four = serverAddresses('ring1');
    expect(four).toHaveLength(4);
    await untilIniLists(['ring1-slave-1', 'ring1-server-1', 'ring1-server-2', 'ring1-server-3', 'ring1-server-4'], four);
    const back = await cli('cluster', 'scale', 'ring1', '--servers', '3', '-f', 'value', '-c', 'status');
    expect(back, back.stderr).toMatchObject({ code: 0, stdout: 'SERVICE IN\n' });
    expect(back.stderr).toContain('SERVICEOUT ring1-server-4');
    const three = serverAddresses('ring1');
    expect(three).toHaveLength(3);
    await untilIniLists(['ring1-slave-1', 'ring1-server-1', 'ring1-server-2', 'ring1-server-3'], three);
  });

  it('deletes the cluster: nothing left in Nova, Neutron or K2HR3, every VM off', async () => {
    const r = await cli('cluster', 'delete', 'ring1');
    expect(r.code, r.stderr).toBe(0);
    expect([...compute.state.servers.values()].filter((s) => compute.state.liveServer(s.id) !== undefined)).toEqual([]);
    expect([...compute.state.securityGroups.values()].filter((g) => g.name === 'k2hdkc-ring1')).toEqual([]);
    const st = k2hr3.state;
    expect([...st.roles.keys(), ...st.resources.keys(), ...st.policies.keys()].filter((k) => k.includes(':ring1'))).toEqual([]);
    expect([...vms.vms.values()].every((vm) => vm.agent.exitCode() !== undefined)).toBe(true);
    expect(vms.errors).toEqual([]);
  });
});
