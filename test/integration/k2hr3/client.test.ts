import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { K2hr3Error } from '../../../src/errors';
import { createLogger } from '../../../src/log';
import { K2hr3Client } from '../../../src/k2hr3/client';
import { fetchExtdata } from '../../../src/k2hr3/extdata';
import { K2hr3Provisioner, type ProvisionResult } from '../../../src/k2hr3/provision';
import { roleToResourceYrn } from '../../../src/k2hr3/yrn';
import { K2hr3Double } from '../../doubles/k2hr3';
import { DBAAS_TEMPLATE, FAST, KEYSTONE, KEYSTONE_TOKEN, nodes } from './helpers';

describe('K2HR3 client against the double', () => {
  const double = new K2hr3Double({ keystone: KEYSTONE });
  let apiUrl = '';
  let server: ProvisionResult;
  let slave: ProvisionResult;
  const node = (localAddress: string): K2hr3Client => new K2hr3Client({ apiUrl, localAddress, ...FAST });

  beforeAll(async () => {
    apiUrl = await double.start();
    const p = new K2hr3Provisioner({ apiUrl, ...FAST });
    server = await p.provision(KEYSTONE_TOKEN, { tenant: 'demo', cluster: 'c1', template: DBAAS_TEMPLATE, mode: 'server' });
    slave = await p.provision(KEYSTONE_TOKEN, { tenant: 'demo', cluster: 'c1', template: DBAAS_TEMPLATE, mode: 'slave' });
  });
  afterAll(async () => {
    await double.stop();
  });

  it('bootstraps from an extdata URL without running the script', async () => {
    const { url, token } = double.extdataUrlFor(server.roleYrn);
    const boot = await fetchExtdata(url, FAST);
    expect(boot).toEqual({ roleYrn: server.roleYrn, tenant: 'demo', roleToken: token, apiUrl });
    // The token works for this node: register, read, deregister.
    const n = node('127.0.0.6');
    await n.registerHost(boot.roleYrn, boot.roleToken, { cuk: 'inst-e', tag: 'node-e.example' });
    const ini = await n.readResource(roleToResourceYrn(boot.roleYrn), boot.roleToken);
    expect(nodes(ini, 'SVRNODE')).toContainEqual({ name: 'node-e.example', cuk: 'inst-e' });
    await n.deregisterHost(boot.roleYrn, { cuk: 'inst-e' });
    expect(double.state.hostsOf(server.roleYrn).map((h) => h.cuk)).not.toContain('inst-e');
  });

  it('refuses an extdata answer that is not a registration script', async () => {
    const { url } = double.extdataUrlFor(server.roleYrn);
    double.inject({ method: 'GET', path: /^\/v1\/extdata\// }, { garbage: true });
    const err = await fetchExtdata(url, FAST).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'extdata', code: 'K2H_ERR_K2HR3_EXTDATA' });
    expect((err as Error).message).toMatch(/does not start with "#!\/"/);
  });

  it('refuses an extdata URL the server does not know, naming it without the register path', async () => {
    const err = await fetchExtdata(`${apiUrl}/v1/extdata/trove/bm9wZQ%3D%3D`, FAST).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(K2hr3Error);
    expect(err).toMatchObject({ kind: 'bad_request', status: 400, endpoint: `GET ${apiUrl}/v1/extdata/trove/…` });
    expect((err as Error).message).not.toContain('bm9wZQ');
  });

  it('registers 127.0.0.2 and 127.0.0.3; the expanded INI lists both, then shrinks on deregister', async () => {
    const a = node('127.0.0.2');
    const b = node('127.0.0.3');
    await a.registerHost(server.roleYrn, server.roleToken, { cuk: 'inst-a', tag: 'node-a.example' });
    await b.registerHost(server.roleYrn, server.roleToken, { cuk: 'inst-b', tag: 'node-b.example' });
    expect(double.state.hostsOf(server.roleYrn).map((h) => [h.host, h.cuk, h.extra, h.tag])).toEqual([
      ['127.0.0.2', 'inst-a', 'openstack-auto-v1', 'node-a.example'],
      ['127.0.0.3', 'inst-b', 'openstack-auto-v1', 'node-b.example'],
    ]);

    const ini = await a.readResource(server.resourceYrn, server.roleToken);
    expect(nodes(ini, 'SVRNODE')).toEqual([
      { name: 'node-a.example', cuk: 'inst-a' },
      { name: 'node-b.example', cuk: 'inst-b' },
    ]);
    expect(ini).toMatch(/^MODE = SERVER$/m);
    expect(ini).toMatch(/^SELFCUK = __SELF_INSTANCE_ID__$/m);
    expect(nodes(ini, 'SLVNODE')).toEqual([{ name: '127.0.0.1', cuk: 'dummy_cuk' }]);

    await b.deregisterHost(server.roleYrn, { cuk: 'inst-b' });
    const last = double.seen[double.seen.length - 1];
    expect(last).toMatchObject({ method: 'DELETE', ip: '127.0.0.3', token: 'none' });
    const after = await a.readResource(server.resourceYrn, server.roleToken);
    expect(nodes(after, 'SVRNODE')).toEqual([{ name: 'node-a.example', cuk: 'inst-a' }]);
    // The role token survives: deregistration sent no token (spec §1.3.3).
    expect(double.state.roleTokens.has(server.roleToken)).toBe(true);
  });

  it('lists slaves registered in <cluster>/slave and serves them the SLAVE variant', async () => {
    const s = node('127.0.0.5');
    await s.registerHost(slave.roleYrn, slave.roleToken, { cuk: 'inst-s', tag: 'client-s.example' });
    const slaveIni = await s.readResource(roleToResourceYrn(slave.roleYrn), slave.roleToken);
    expect(slaveIni).toMatch(/^MODE = SLAVE$/m);
    expect(slaveIni).not.toContain('[K2HDKC]');
    expect(nodes(slaveIni, 'SLVNODE')).toEqual([{ name: 'client-s.example', cuk: 'inst-s' }]);
    const serverIni = await node('127.0.0.2').readResource(server.resourceYrn, server.roleToken);
    expect(nodes(serverIni, 'SLVNODE')).toEqual([{ name: 'client-s.example', cuk: 'inst-s' }]);
    await s.deregisterHost(slave.roleYrn, { cuk: 'inst-s' });
  });

  it('deregistering an address that is not registered is a clear 403', async () => {
    const err = await node('127.0.0.9').deregisterHost(server.roleYrn, { cuk: 'nobody' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'auth', status: 403, endpoint: `DELETE ${apiUrl}/v1/role/${server.roleYrn}` });
  });

  describe('failures', () => {
    const resourcePath = /^\/v1\/resource\//;
    const count = (): number => double.seen.filter((s) => resourcePath.test(s.path)).length;

    it('401 ends at once in an auth error without the token', async () => {
      double.inject({ method: 'GET', path: resourcePath }, { status: 401, body: JSON.stringify({ result: false, message: `token(${server.roleToken}) is not existed` }) });
      const before = count();
      const err = await node('127.0.0.2').readResource(server.resourceYrn, server.roleToken).catch((e: unknown) => e);
      expect(err).toMatchObject({ kind: 'auth', status: 401, code: 'K2H_ERR_K2HR3_AUTH' });
      expect((err as Error).message).toContain(`GET ${apiUrl}/v1/resource/${server.resourceYrn}`);
      expect((err as Error).message).not.toContain(server.roleToken);
      expect(count() - before).toBe(1);
    });

    it('404 (missing or denied) ends at once in a not_found error', async () => {
      const err = await node('127.0.0.2')
        .readResource('yrn:yahoo:::demo:resource:other', server.roleToken)
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ kind: 'not_found', status: 404 });
    });

    it('a 500 is retried and the next answer is used', async () => {
      double.inject({ method: 'GET', path: resourcePath }, { status: 500 });
      const before = count();
      const ini = await node('127.0.0.2').readResource(server.resourceYrn, server.roleToken);
      expect(nodes(ini, 'SVRNODE')).toHaveLength(1);
      expect(count() - before).toBe(2);
    });

    it('logs a retry as a JSON warn line naming the endpoint, never the token', async () => {
      const lines: string[] = [];
      const sink = new Writable({
        write(chunk: Buffer, _enc, done): void {
          lines.push(...chunk.toString().split('\n').filter((l) => l !== ''));
          done();
        },
      });
      const log = createLogger({ level: 'debug', destination: sink });
      double.inject({ method: 'GET', path: resourcePath }, { status: 500, body: JSON.stringify({ result: false, message: `bad ${server.roleToken}` }) });
      await new K2hr3Client({ apiUrl, localAddress: '127.0.0.2', ...FAST, log }).readResource(server.resourceYrn, server.roleToken);
      const warn = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.level === 'warn');
      expect(warn).toMatchObject({ msg: 'K2HR3 request failed, retrying', status: 500, attempt: 1, endpoint: `GET ${apiUrl}/v1/resource/${server.resourceYrn}` });
      expect(lines.join('\n')).not.toContain(server.roleToken);
    });

    it('a lasting 500 ends in an unavailable error after the bounded attempts', async () => {
      double.inject({ method: 'GET', path: resourcePath }, { status: 500 }, 10);
      const before = count();
      const err = await node('127.0.0.2').readResource(server.resourceYrn, server.roleToken).catch((e: unknown) => e);
      double.clearInjections();
      expect(err).toMatchObject({ kind: 'unavailable', status: 500 });
      expect((err as Error).message).toMatch(/gave up after 3 attempts/);
      expect(count() - before).toBe(3);
    });

    it('a garbage body is retried, and ends in a bad_response error if it lasts', async () => {
      double.inject({ method: 'GET', path: resourcePath }, { garbage: true });
      expect(nodes(await node('127.0.0.2').readResource(server.resourceYrn, server.roleToken), 'SVRNODE')).toHaveLength(1);
      double.inject({ method: 'GET', path: resourcePath }, { garbage: true }, 10);
      const err = await node('127.0.0.2').readResource(server.resourceYrn, server.roleToken).catch((e: unknown) => e);
      double.clearInjections();
      expect(err).toMatchObject({ kind: 'bad_response', status: 200, code: 'K2H_ERR_K2HR3_BAD_RESPONSE' });
      expect((err as Error).message).toMatch(/not JSON/);
    });

    it('a well-formed JSON body of the wrong shape is a bad_response', async () => {
      double.inject({ method: 'GET', path: resourcePath }, { status: 200, body: JSON.stringify({ result: true, message: null, resource: { string: 'x' } }) }, 10);
      const err = await node('127.0.0.2').readResource(server.resourceYrn, server.roleToken).catch((e: unknown) => e);
      double.clearInjections();
      expect(err).toMatchObject({ kind: 'bad_response' });
      expect((err as Error).message).toMatch(/unexpected body \(\/resource must be string\)/);
    });

    it('an abort during the backoff stops the retries', async () => {
      double.inject({ method: 'GET', path: resourcePath }, { status: 503 }, 10);
      const ac = new AbortController();
      const slow = new K2hr3Client({ apiUrl, localAddress: '127.0.0.2', attempts: 5, backoffBaseMs: 60_000, backoffMaxMs: 60_000 });
      const pending = slow.readResource(server.resourceYrn, server.roleToken, ac.signal).catch((e: unknown) => e);
      // Abort once the first 503 has been answered (the client is then waiting to retry).
      const before = count();
      while (count() === before) await new Promise((r) => setImmediate(r));
      ac.abort();
      const err = await pending;
      double.clearInjections();
      expect(err).toMatchObject({ kind: 'aborted', code: 'K2H_ERR_K2HR3_ABORTED' });
    });

    it('a registration 401 (unknown role token) is an auth error', async () => {
      const err = await node('127.0.0.2')
        .registerHost(server.roleYrn, 'ffffffffffffffffffffffffffffffff', { cuk: 'inst-x', tag: 'x' })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ kind: 'auth', status: 401 });
      expect((err as Error).message).not.toContain('ffffffffffffffffffffffffffffffff');
    });
  });
});
