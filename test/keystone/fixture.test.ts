import axios from 'axios';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKeystone, type KeystoneFixture } from './fixture';

// The test Keystone behaves like an operator's: fernet tokens validate, wrong ones are refused,
// roles limit what a member may do, and the catalog substitutes the project into URLs.
describe('test Keystone (Debian keystone under uwsgi)', () => {
  let ks: KeystoneFixture;

  beforeAll(async () => {
    ks = await startKeystone({ services: [{ type: 'object-store', name: 'swift', url: 'http://127.0.0.1:9/v1/AUTH_$(project_id)s' }] });
  });

  afterAll(async () => {
    await ks?.stop();
  });

  it('issues a fernet token that Keystone validates for the demo project', async () => {
    const adminToken = await ks.token(ks.admin);
    const demoToken = await ks.token(ks.demo);
    // Fernet tokens are ~180-char url-safe base64 strings, not UUIDs.
    expect(demoToken).toMatch(/^gAAAAA[\w-]{100,}$/);
    const res = await axios.get(`${ks.url}/auth/tokens`, { headers: { 'X-Auth-Token': adminToken, 'X-Subject-Token': demoToken } });
    expect(res.status).toBe(200);
    const token = res.data.token as { project: { id: string; name: string }; user: { name: string }; roles: { name: string }[]; catalog: { type: string; endpoints: { interface: string; url: string }[] }[] };
    expect(token.project).toMatchObject({ id: ks.demo.projectId, name: 'demo' });
    expect(token.user.name).toBe('demo');
    expect(token.roles.map((r) => r.name)).toContain('member');
    expect(token.roles.map((r) => r.name)).not.toContain('admin');
    const swift = token.catalog.find((s) => s.type === 'object-store');
    expect(swift?.endpoints.find((e) => e.interface === 'public')?.url).toBe(`http://127.0.0.1:9/v1/AUTH_${ks.demo.projectId}`);
  });

  it('answers a wrong token and a wrong password with 401', async () => {
    const wrong = await axios.get(`${ks.url}/projects`, { headers: { 'X-Auth-Token': 'gAAAAAwrong-token' }, validateStatus: () => true });
    expect(wrong.status).toBe(401);
    const badPassword = await axios.post(`${ks.url}/auth/tokens`, {
      auth: { identity: { methods: ['password'], password: { user: { name: 'demo', domain: { id: 'default' }, password: 'not-it' } } } },
    }, { validateStatus: () => true });
    expect(badPassword.status).toBe(401);
    expect(badPassword.headers['x-subject-token']).toBeUndefined();
  });

  it('gives the trove service user the service role and keeps members out of admin calls', async () => {
    const troveToken = await ks.token(ks.trove);
    const adminToken = await ks.token(ks.admin);
    const res = await axios.get(`${ks.url}/auth/tokens`, { headers: { 'X-Auth-Token': adminToken, 'X-Subject-Token': troveToken } });
    expect((res.data.token.roles as { name: string }[]).map((r) => r.name).sort()).toEqual(expect.arrayContaining(['admin', 'service']));
    expect(res.data.token.project.name).toBe('service');
    const demoToken = await ks.token(ks.demo);
    const users = await axios.get(`${ks.url}/users`, { headers: { 'X-Auth-Token': demoToken }, validateStatus: () => true });
    expect(users.status).toBe(403);
  });
});
