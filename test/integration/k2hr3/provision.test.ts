import { describe, expect, it } from 'vitest';
import { K2hr3Error } from '../../../src/errors';
import { K2hr3Client } from '../../../src/k2hr3/client';
import { K2hr3Provisioner } from '../../../src/k2hr3/provision';
import { K2hr3Double } from '../../doubles/k2hr3';
import { DBAAS_TEMPLATE, FAST, KEYSTONE_TOKEN, nodes, useK2hr3Double } from './helpers';

describe('self-provisioning against the K2HR3 double', () => {
  const double = useK2hr3Double();

  it('three members provisioning one new cluster at once end with one set of objects', async () => {
    const members = ['127.0.0.2', '127.0.0.3', '127.0.0.4'].map(
      (localAddress) => new K2hr3Provisioner({ apiUrl: double.url, localAddress, ...FAST }),
    );
    const results = await Promise.all(
      members.map((p) => p.provision(KEYSTONE_TOKEN, { tenant: 'demo', cluster: 'race1', template: DBAAS_TEMPLATE, mode: 'server' })),
    );
    const s = double.state;
    const ofCluster = (m: Map<string, unknown>): string[] => [...m.keys()].filter((k) => k.includes(':race1')).sort();
    expect(ofCluster(s.resources)).toEqual([
      'yrn:yahoo:::demo:resource:race1',
      'yrn:yahoo:::demo:resource:race1/server',
      'yrn:yahoo:::demo:resource:race1/slave',
    ]);
    expect(ofCluster(s.policies)).toEqual(['yrn:yahoo:::demo:policy:race1']);
    expect(ofCluster(s.roles)).toEqual(['yrn:yahoo:::demo:role:race1', 'yrn:yahoo:::demo:role:race1/server', 'yrn:yahoo:::demo:role:race1/slave']);
    expect(s.roles.get('yrn:yahoo:::demo:role:race1')?.policies).toEqual(['yrn:yahoo:::demo:policy:race1']);
    expect(s.policies.get('yrn:yahoo:::demo:policy:race1')).toMatchObject({
      effect: 'allow',
      action: ['yrn:yahoo::::action:read'],
      resource: ['yrn:yahoo:::demo:resource:race1/server', 'yrn:yahoo:::demo:resource:race1/slave'],
    });
    expect(s.resources.get('yrn:yahoo:::demo:resource:race1')?.keys).toEqual({
      'cluster-name': 'race1',
      'chmpx-server-port': '8020',
      'chmpx-server-ctlport': '8021',
      'chmpx-slave-ctlport': '8031',
    });
    expect(s.resources.get('yrn:yahoo:::demo:resource:race1')?.string).toContain('role:race1/server/hosts/ip');
    // Each member has its own token for the server role; all can register and read.
    expect(new Set(results.map((r) => r.roleToken)).size).toBe(3);
    for (const r of results) {
      expect(r).toMatchObject({ roleYrn: 'yrn:yahoo:::demo:role:race1/server', tenant: 'demo', apiUrl: double.url, resourceYrn: 'yrn:yahoo:::demo:resource:race1/server' });
    }
    const first = results[0]!;
    const client = new K2hr3Client({ apiUrl: double.url, localAddress: '127.0.0.2', ...FAST });
    await client.registerHost(first.roleYrn, first.roleToken, { cuk: 'inst-a', tag: 'node-a.example' });
    const ini = await client.readResource(first.resourceYrn, first.roleToken);
    expect(nodes(ini, 'SVRNODE')).toEqual([{ name: 'node-a.example', cuk: 'inst-a' }]);
  });

  it('a member provisioning late changes nothing and keeps the registered hosts', async () => {
    const early = new K2hr3Provisioner({ apiUrl: double.url, localAddress: '127.0.0.2', ...FAST });
    const a = await early.provision(KEYSTONE_TOKEN, { tenant: 'demo', cluster: 'late1', template: DBAAS_TEMPLATE, mode: 'server' });
    await new K2hr3Client({ apiUrl: double.url, localAddress: '127.0.0.2', ...FAST }).registerHost(a.roleYrn, a.roleToken, { cuk: 'inst-a', tag: 'a' });
    const writesBefore = double.state.writes.filter((w) => w.name.includes(':late1')).length;
    expect(writesBefore).toBe(7);

    const late = new K2hr3Provisioner({ apiUrl: double.url, localAddress: '127.0.0.3', ...FAST });
    const b = await late.provision(KEYSTONE_TOKEN, { tenant: 'demo', cluster: 'late1', template: 'changed', mode: 'slave' });
    expect(double.state.writes.filter((w) => w.name.includes(':late1')).length).toBe(writesBefore);
    expect(b.roleYrn).toBe('yrn:yahoo:::demo:role:late1/slave');
    expect(double.state.hostsOf(a.roleYrn).map((h) => h.cuk)).toEqual(['inst-a']);
  });

  it('tolerates a create that loses a race (409) when the object is there on re-read', async () => {
    // The policy is written, but the answer says "already exists": as if another member's
    // create landed first on a server that refuses a second create.
    double.inject({ method: 'POST', path: /^\/v1\/policy$/ }, { afterWrite: 409 });
    const p = new K2hr3Provisioner({ apiUrl: double.url, ...FAST });
    const r = await p.provision(KEYSTONE_TOKEN, { tenant: 'demo', cluster: 'race409', template: DBAAS_TEMPLATE, mode: 'server' });
    expect(r.roleYrn).toBe('yrn:yahoo:::demo:role:race409/server');
    expect(double.state.policies.has('yrn:yahoo:::demo:policy:race409')).toBe(true);
    expect(double.state.roles.get('yrn:yahoo:::demo:role:race409')?.policies).toEqual(['yrn:yahoo:::demo:policy:race409']);
  });

  it('reports a refused create when the object is still missing on re-read', async () => {
    double.inject({ method: 'POST', path: /^\/v1\/policy$/ }, { status: 409 });
    const p = new K2hr3Provisioner({ apiUrl: double.url, ...FAST });
    const err = await p
      .provision(KEYSTONE_TOKEN, { tenant: 'demo', cluster: 'refused409', template: DBAAS_TEMPLATE, mode: 'server' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(K2hr3Error);
    expect(err).toMatchObject({ kind: 'bad_request', status: 409, endpoint: `POST ${double.url}/v1/policy (yrn:yahoo:::demo:policy:refused409)` });
    expect(double.state.roles.has('yrn:yahoo:::demo:role:refused409')).toBe(false);
  });

  it('rejects an unknown Keystone token with a clear error and no token in it', async () => {
    const p = new K2hr3Provisioner({ apiUrl: double.url, ...FAST });
    const err = await p
      .provision('not-a-keystone-token', { tenant: 'demo', cluster: 'nokey', template: DBAAS_TEMPLATE, mode: 'server' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(K2hr3Error);
    expect(err).toMatchObject({ kind: 'not_found', status: 404, endpoint: `POST ${double.url}/v1/user/tokens` });
    expect((err as Error).message).not.toContain('not-a-keystone-token');
    expect(double.state.resources.has('yrn:yahoo:::demo:resource:nokey')).toBe(false);
  });

  it('retries a 500 during provisioning and then succeeds', async () => {
    double.inject({ method: 'GET', path: /^\/v1\/role\/token\// }, { status: 500 });
    const p = new K2hr3Provisioner({ apiUrl: double.url, ...FAST });
    const r = await p.provision(KEYSTONE_TOKEN, { tenant: 'demo', cluster: 'retry500', template: DBAAS_TEMPLATE, mode: 'slave' });
    expect(r.roleToken).toMatch(/^[0-9a-f]{32}$/);
  });

  it('sets up a new cluster on a K2HR3 that answers missing policies 400 and missing roles 200', async () => {
    // What K2HR3 2.0.3 answers (spec §10); an existence check by GET would stop or skip here.
    const user = await new K2hr3Provisioner({ apiUrl: double.url, ...FAST }).scopedUserToken(KEYSTONE_TOKEN, 'demo');
    const get = (path: string): Promise<Response> => fetch(`${double.url}${path}`, { headers: { 'x-auth-token': `U=${user}` } });
    const policy = await get('/v1/policy/yrn:yahoo:::demo:policy:fresh1');
    expect(policy.status).toBe(400);
    expect(await policy.json()).toEqual({ result: false, message: 'yrn:yahoo:::demo:policy:fresh1 is not found in yrn:yahoo:::demo:policy subkey list.' });
    const role = await get('/v1/role/yrn:yahoo:::demo:role:fresh1/server');
    expect(role.status).toBe(200);
    expect(await role.json()).toEqual({ result: true, message: null, role: { policies: [], aliases: [], hosts: { hostnames: [], ips: [] } } });
    expect(await (await get('/v1/list/role/fresh1')).json()).toEqual({ result: true, message: null, children: [] });

    const r = await new K2hr3Provisioner({ apiUrl: double.url, ...FAST }).provision(KEYSTONE_TOKEN, { tenant: 'demo', cluster: 'fresh1', template: DBAAS_TEMPLATE, mode: 'server' });
    expect(double.state.writes.filter((w) => w.name.includes(':fresh1') && w.created).map((w) => `${w.kind} ${w.name.split(':').pop()}`)).toEqual([
      'resource fresh1', 'resource fresh1/server', 'resource fresh1/slave', 'policy fresh1', 'role fresh1', 'role fresh1/server', 'role fresh1/slave',
    ]);
    expect(await (await get('/v1/list/role/fresh1')).json()).toEqual({ result: true, message: null, children: [{ name: 'server', children: [] }, { name: 'slave', children: [] }] });
    expect(r.roleToken).toMatch(/^[0-9a-f]{32}$/);
  });

  it('writes tenant and cluster names lower-cased, so the served INI lists the registered servers', async () => {
    // Keystone knows the project as written; K2HR3 keeps names lower-cased and resolves the
    // template's role references as written (spec §10).
    const double2 = new K2hr3Double({ keystone: { [KEYSTONE_TOKEN]: { user: 'alice', projects: ['DemoProject'] } } });
    await double2.start();
    try {
      const p = new K2hr3Provisioner({ apiUrl: double2.url, localAddress: '127.0.0.2', ...FAST });
      const r = await p.provision(KEYSTONE_TOKEN, { tenant: 'DemoProject', cluster: 'ClusterA', template: DBAAS_TEMPLATE, mode: 'server' });
      expect(r).toMatchObject({ tenant: 'demoproject', roleYrn: 'yrn:yahoo:::demoproject:role:clustera/server', resourceYrn: 'yrn:yahoo:::demoproject:resource:clustera/server' });
      expect(double2.state.resources.get('yrn:yahoo:::demoproject:resource:clustera')?.string).toContain('%yrn:yahoo:::demoproject:role:clustera/server/hosts/ip%');
      const client = new K2hr3Client({ apiUrl: double2.url, localAddress: '127.0.0.2', ...FAST });
      await client.registerHost(r.roleYrn, r.roleToken, { cuk: 'inst-a', tag: 'node-a' });
      expect(nodes(await client.readResource(r.resourceYrn, r.roleToken), 'SVRNODE')).toEqual([{ name: 'node-a', cuk: 'inst-a' }]);
    } finally {
      await double2.stop();
    }
  });

  it('a template with an empty string literal makes every read fail, as in K2HR3', async () => {
    const broken = DBAAS_TEMPLATE.replace("{{ if %node%{'inboundip'} }}", "{{ if '' != %node%{'inboundip'} }}");
    expect(broken).not.toBe(DBAAS_TEMPLATE);
    const p = new K2hr3Provisioner({ apiUrl: double.url, localAddress: '127.0.0.2', ...FAST });
    const r = await p.provision(KEYSTONE_TOKEN, { tenant: 'demo', cluster: 'empty1', template: broken, mode: 'server' });
    const client = new K2hr3Client({ apiUrl: double.url, localAddress: '127.0.0.2', ...FAST });
    await client.registerHost(r.roleYrn, r.roleToken, { cuk: 'inst-a', tag: 'node-a' });
    const err = await client.readResource(r.resourceYrn, r.roleToken).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(K2hr3Error);
    expect(err).toMatchObject({ status: 404 });
  });
});
