import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import axios from 'axios';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../src/dbaas-cli/main';
import { fetchExtdata } from '../../../src/k2hr3/extdata';
import { ComputeDouble, keystoneAuthenticator } from '../../doubles/openstack-compute';
import { K2hr3Double } from '../../doubles/k2hr3';
import { startKeystone, type KeystoneFixture } from '../../keystone/fixture';
import { RegisteringHost } from './registering-host';

/**
 * k2hdkc-dbaas against a real Keystone (Debian's, test/keystone/fixture.ts), the K2HR3 double
 * (which checks the user's token at that Keystone, as K2HR3 does) and the nova/neutron/glance
 * double, with a compute host that registers each booted server in K2HR3 the way the agent
 * does. The CLI runs in-process through main(), with OS_* variables as a user sets them.
 * Covers issue 15 acceptance 2 (bad input: clear error, nothing changed) and the command flows.
 * DBAAS_TRANSCRIPT=<file> appends every command and its output (docs/k2hdkc-dbaas.md uses it).
 */

const IMAGE_ID = '6f1c2a9e-0000-4000-8000-00000000d8a5';
let ks: KeystoneFixture;
let compute: ComputeDouble;
let k2hr3: K2hr3Double;
let host: RegisteringHost;
let dir: string;
let env: NodeJS.ProcessEnv;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(...argv: string[]): Promise<Result> {
  let stdout = '';
  let stderr = '';
  const code = await main(['--poll-interval', '1', '--timeout', '60', ...argv], {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    env,
    cwd: dir,
    home: dir,
  });
  const transcript = process.env['DBAAS_TRANSCRIPT'];
  if (transcript) appendFileSync(transcript, `$ k2hdkc-dbaas ${argv.join(' ')}\n${stdout}${stderr ? `[stderr]\n${stderr}` : ''}[exit ${code}]\n\n`);
  return { code, stdout, stderr };
}

/** Everything the project has, to compare before and after a refused command. */
function snapshot(): unknown {
  const live = [...compute.state.servers.values()].filter((s) => !s.deleted).map((s) => s.name).sort();
  const groups = [...compute.state.securityGroups.values()].map((g) => `${g.name}:${g.security_group_rules.length}`).sort();
  const st = k2hr3.state;
  const roles = [...st.roles.entries()].map(([n, r]) => `${n}:${[...r.hosts.keys()].sort().join(',')}`).sort();
  return { live, groups, roles, resources: [...st.resources.keys()].sort(), policies: [...st.policies.keys()].sort(), writes: st.writes.length };
}

function clusterLeftovers(name: string): string[] {
  const st = k2hr3.state;
  return [
    ...[...compute.state.servers.values()].filter((s) => s.metadata['k2hdkc-dbaas-cluster'] === name && compute.state.liveServer(s.id) !== undefined).map((s) => `server ${s.name}`),
    ...[...compute.state.securityGroups.values()].filter((g) => g.name === `k2hdkc-${name}`).map((g) => `group ${g.name}`),
    ...[...st.roles.keys(), ...st.resources.keys(), ...st.policies.keys()].filter((k) => k.includes(`:${name}`)),
  ];
}

const CREATE = ['--flavor', 'k2hdkc.small', '--image', 'k2hdkc-guest', '--network', 'private', '--wait', 'registered'];

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'k2hdkc-dbaas-cli-'));
  let validate: ReturnType<typeof keystoneAuthenticator> | undefined;
  compute = new ComputeDouble({
    cloudDir: path.join(dir, 'cloud'),
    flavors: [{ id: '10', name: 'k2hdkc.small', ram: 512, vcpus: 1, disk: 5 }],
    images: [{ id: IMAGE_ID, name: 'k2hdkc-guest', status: 'active', tags: ['k2hdkc'], created_at: '2026-01-02T00:00:00Z' }],
    network: { id: '3b1f7c1e-0000-4000-8000-0000000000a1', name: 'private', subnetId: 'subnet-1', addressPrefix: '127.0.0', addressFirst: 1 },
    authenticate: (token) => (validate === undefined ? Promise.resolve(null) : validate(token)),
    keystoneUrl: 'http://127.0.0.1:9/v3',
  });
  await compute.start();
  ks = await startKeystone({ services: compute.catalog() });
  validate = keystoneAuthenticator({ url: ks.url, username: ks.trove.username, password: ks.trove.password, project: ks.trove.project });
  k2hr3 = new K2hr3Double({ keystoneUrl: ks.url });
  await k2hr3.start();
  await ks.addService({ type: 'k2hr3', name: 'k2hr3', url: k2hr3.url });
  host = new RegisteringHost(compute);
  host.start();
  env = {
    OS_AUTH_URL: ks.url,
    OS_USERNAME: ks.demo.username,
    OS_PASSWORD: ks.demo.password,
    OS_PROJECT_NAME: ks.demo.project,
    OS_USER_DOMAIN_NAME: 'Default',
    OS_PROJECT_DOMAIN_NAME: 'Default',
  };
}, 180_000);

afterAll(async () => {
  host?.stop();
  await k2hr3?.stop();
  await compute?.stop();
  await ks?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('k2hdkc-dbaas cluster and slave commands', () => {
  it('creates a cluster: K2HR3 objects, a security group for the chmpx ports, 3 registered servers', async () => {
    const r = await cli('cluster', 'create', 'kvs1', '--servers', '3', ...CREATE, '-f', 'json');
    expect(r.stderr).toContain('server kvs1-server-1');
    expect(r.code, r.stderr).toBe(0);
    const shown = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(shown['name']).toBe('kvs1');
    expect(shown['tenant']).toBe('demo');
    expect(shown['servers']).toHaveLength(3);
    for (const line of shown['servers'] as string[]) expect(line).toMatch(/^kvs1-server-\d \S+ ACTIVE 127\.0\.0\.\d+ registered, chmpx unreachable$/);
    const role = k2hr3.state.roles.get('yrn:yahoo:::demo:role:kvs1/server');
    expect(role?.hosts.size).toBe(3);
    expect(k2hr3.state.resources.get('yrn:yahoo:::demo:resource:kvs1')?.keys).toMatchObject({ 'chmpx-server-port': '8020', 'chmpx-server-ctlport': '8021', 'chmpx-slave-ctlport': '8031' });
    const group = [...compute.state.securityGroups.values()].find((g) => g.name === 'k2hdkc-kvs1');
    const ingress = group?.security_group_rules.filter((x) => x.direction === 'ingress') ?? [];
    expect(ingress.map((x) => x.port_range_min).sort()).toEqual([8020, 8021, 8031]);
    expect(ingress.every((x) => x.remote_group_id === group?.id && x.protocol === 'tcp')).toBe(true);
    expect(host.errors).toEqual([]);
  });

  it('shows and lists the cluster', async () => {
    const list = await cli('cluster', 'list');
    expect(list.code).toBe(0);
    expect(list.stdout).toContain('| kvs1 | 3       | 0      | ACTIVE |');
    const table = await cli('cluster', 'show', 'kvs1');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^\| servers +\| kvs1-server-1 \S+ ACTIVE 127\.0\.0\.\d+ registered, chmpx unreachable +\|$/m);
    expect(table.stdout).toMatch(/^\| k2hr3_role +\| yrn:yahoo:::demo:role:kvs1 +\|$/m);
    const show = await cli('cluster', 'show', 'kvs1', '-f', 'value', '-c', 'status', '-c', 'ports');
    expect(show).toMatchObject({ code: 0, stdout: 'ACTIVE (ring not reachable)\nport 8020, ctlport 8021, slave ctlport 8031\n' });
  });

  it('refuses a second create of the same name and changes nothing', async () => {
    const before = snapshot();
    const r = await cli('cluster', 'create', 'kvs1', '--servers', '2', ...CREATE);
    expect(r.code).toBe(4);
    expect(r.stderr).toBe('k2hdkc-dbaas: cluster kvs1 already exists in K2HR3 (tenant demo); nothing was changed\n');
    expect(snapshot()).toEqual(before);
  });

  it('refuses a flavor, image or network that does not exist, before making anything', async () => {
    const before = snapshot();
    const cases: [string[], string][] = [
      [['--flavor', 'm1.huge', '--image', 'k2hdkc-guest', '--network', 'private'], 'no flavor named or with id "m1.huge" exists'],
      [['--flavor', 'k2hdkc.small', '--image', 'ubuntu', '--network', 'private'], 'no image named or with id "ubuntu" exists'],
      [['--flavor', 'k2hdkc.small', '--image', 'k2hdkc-guest', '--network', 'public'], 'no network named or with id "public" exists'],
    ];
    for (const [args, message] of cases) {
      const r = await cli('cluster', 'create', 'kvs2', ...args);
      expect(r.code).toBe(3);
      expect(r.stderr).toBe(`k2hdkc-dbaas: ${message}\n`);
    }
    const slave = await cli('slave', 'create', 'kvs1', '--flavor', 'm1.huge', '--image', 'k2hdkc-guest', '--network', 'private');
    expect(slave.code).toBe(3);
    expect(snapshot()).toEqual(before);
  });

  it('removes what it made when K2HR3 fails mid-create, and says what failed', async () => {
    const before = snapshot();
    k2hr3.inject({ method: 'POST', path: /^\/v1\/role$/ }, { status: 500 }, 10);
    const r = await cli('cluster', 'create', 'kvs3', ...CREATE);
    k2hr3.clearInjections();
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^k2hdkc-dbaas: cluster create kvs3 failed: K2HR3 POST http:\/\/127\.0\.0\.1:\d+\/v1\/role \(yrn:yahoo:::demo:role:kvs3\) is unavailable \(500\)/m);
    expect(r.stderr).toContain('removed what it had made: K2HR3 objects of kvs3');
    expect(clusterLeftovers('kvs3')).toEqual([]);
    expect((snapshot() as { live: string[] }).live).toEqual((before as { live: string[] }).live);
  });

  it('removes what it made when a server fails to boot, and says which', async () => {
    host.failBoot.add('kvs4-server-2');
    const r = await cli('cluster', 'create', 'kvs4', ...CREATE);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cluster create kvs4 failed: Nova server kvs4-server-2 \(\S+\) went to ERROR: No valid host was found/);
    expect(r.stderr).toMatch(/removed what it had made: server kvs4-server-3, server kvs4-server-2, server kvs4-server-1, security group k2hdkc-kvs4, K2HR3 objects of kvs4/);
    expect(clusterLeftovers('kvs4')).toEqual([]);
  });

  it('reports an unknown cluster with exit 3 and changes nothing', async () => {
    const before = snapshot();
    const expected: [string[], string][] = [
      [['cluster', 'show', 'nosuch'], 'cluster nosuch does not exist (no K2HR3 roles, no VMs)'],
      [['cluster', 'delete', 'nosuch'], 'cluster nosuch does not exist (no VMs, no security group, no K2HR3 roles)'],
      [['cluster', 'scale', 'nosuch', '--servers', '2'], 'cluster nosuch does not exist or has no server VMs made by k2hdkc-dbaas'],
      [['slave', 'userdata', 'nosuch'], 'no cluster "nosuch" was found (looked in K2HR3 clusters; the catalog has no Trove endpoint)'],
    ];
    for (const [argv, message] of expected) {
      const r = await cli(...argv);
      expect(r.code, argv.join(' ')).toBe(3);
      expect(r.stderr, argv.join(' ')).toBe(`k2hdkc-dbaas: ${message}\n`);
    }
    expect(snapshot()).toEqual(before);
  });

  it('prints slave user-data whose extdata URL hands out a <cluster>/slave role token', async () => {
    const r = await cli('slave', 'userdata', 'kvs1');
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith('#cloud-config\n')).toBe(true);
    const url = /extdata_url = (\S+)/.exec(r.stdout)?.[1] ?? '';
    const boot = await fetchExtdata(url, { attempts: 1 });
    expect(boot.roleYrn).toBe('yrn:yahoo:::demo:role:kvs1/slave');
    expect(r.stderr).toContain('user-data for a slave of K2HR3 cluster kvs1 (K2HR3 cluster)');
  });

  it('creates, lists and deletes slaves', async () => {
    const created = await cli('slave', 'create', 'kvs1', '--flavor', 'k2hdkc.small', '--image', IMAGE_ID, '--network', 'private', '--count', '2', '-f', 'value', '-c', 'name', '-c', 'k2hr3');
    expect(created).toMatchObject({ code: 0, stdout: 'kvs1-slave-1 registered\nkvs1-slave-2 registered\n' });
    expect(k2hr3.state.roles.get('yrn:yahoo:::demo:role:kvs1/slave')?.hosts.size).toBe(2);
    const list = await cli('slave', 'list', 'kvs1', '-f', 'json');
    expect((JSON.parse(list.stdout) as { name: string; status: string }[]).map((s) => `${s.name} ${s.status}`)).toEqual(['kvs1-slave-1 ACTIVE', 'kvs1-slave-2 ACTIVE']);
    expect((await cli('cluster', 'list', '-f', 'value')).stdout).toBe('kvs1 3 2 ACTIVE\n');
    const deleted = await cli('slave', 'delete', 'kvs1-slave-2');
    expect(deleted).toMatchObject({ code: 0, stderr: expect.stringContaining('removed: server kvs1-slave-2') as string });
    expect([...(k2hr3.state.roles.get('yrn:yahoo:::demo:role:kvs1/slave')?.hosts.values() ?? [])].map((h) => h.tag)).toEqual(['kvs1-slave-1']);
    expect((await cli('slave', 'delete', 'kvs1-slave-2')).code).toBe(3);
  });

  it('scales out to 4 and back to 3, the newest server leaving K2HR3 and Nova', async () => {
    const out = await cli('cluster', 'scale', 'kvs1', '--servers', '4', '--wait', 'registered', '-f', 'json');
    expect(out.code, out.stderr).toBe(0);
    expect((JSON.parse(out.stdout) as { servers: string[] }).servers.map((s) => s.split(' ')[0])).toEqual(['kvs1-server-1', 'kvs1-server-2', 'kvs1-server-3', 'kvs1-server-4']);
    expect(k2hr3.state.roles.get('yrn:yahoo:::demo:role:kvs1/server')?.hosts.size).toBe(4);
    const back = await cli('cluster', 'scale', 'kvs1', '--servers', '3', '--wait', 'registered', '-f', 'json');
    expect(back.code, back.stderr).toBe(0);
    expect((JSON.parse(back.stdout) as { servers: string[] }).servers.map((s) => s.split(' ')[0])).toEqual(['kvs1-server-1', 'kvs1-server-2', 'kvs1-server-3']);
    expect([...(k2hr3.state.roles.get('yrn:yahoo:::demo:role:kvs1/server')?.hosts.values() ?? [])].map((h) => h.tag).sort()).toEqual(['kvs1-server-1', 'kvs1-server-2', 'kvs1-server-3']);
  });

  it('refuses to scale in without SERVICEOUT when it must wait for SERVICE IN and no control port answers', async () => {
    const before = snapshot();
    const r = await cli('cluster', 'scale', 'kvs1', '--servers', '2');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no server control port answers, so kvs1-server-3 cannot be serviced out safely/);
    expect(snapshot()).toEqual(before);
  });

  it('deletes the cluster and leaves nothing in Nova, Neutron or K2HR3', async () => {
    const r = await cli('cluster', 'delete', 'kvs1');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/removed: server kvs1-server-1, server kvs1-server-2, server kvs1-server-3, server kvs1-slave-1, security group k2hdkc-kvs1, K2HR3 role kvs1\/server, K2HR3 role kvs1\/slave, K2HR3 role kvs1, K2HR3 resource kvs1\/server, K2HR3 resource kvs1\/slave, K2HR3 resource kvs1, K2HR3 policy kvs1/);
    expect(clusterLeftovers('kvs1')).toEqual([]);
    expect((await cli('cluster', 'list', '-f', 'json')).stdout).toBe('[]\n');
  });

  it('authenticates with an application credential, and a wrong password fails without printing it', async () => {
    const token = await ks.token(ks.demo);
    const made = await axios.post(`${ks.url}/users/${ks.demo.userId}/application_credentials`, { application_credential: { name: 'dbaas-cli' } }, { headers: { 'X-Auth-Token': token } });
    const cred = (made.data as { application_credential: { id: string; secret: string } }).application_credential;
    const appEnv = { OS_AUTH_URL: ks.url, OS_AUTH_TYPE: 'v3applicationcredential', OS_APPLICATION_CREDENTIAL_ID: cred.id, OS_APPLICATION_CREDENTIAL_SECRET: cred.secret };
    const saved = env;
    env = appEnv;
    try {
      expect(await cli('cluster', 'list', '-f', 'json')).toMatchObject({ code: 0, stdout: '[]\n' });
    } finally {
      env = saved;
    }
    const wrong = await cli('--os-password', 'not-the-password-42', 'cluster', 'list');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/refused the credentials \(401\): check the user name, password, domain and project/);
    expect(wrong.stderr + wrong.stdout).not.toContain('not-the-password-42');
  });
});
