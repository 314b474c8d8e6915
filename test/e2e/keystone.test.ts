import path from 'node:path';
import axios from 'axios';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { K2hr3Provisioner } from '../../src/k2hr3/provision';
import { DBAAS_TEMPLATE, FAST } from '../integration/k2hr3/helpers';
import { ControlPlane } from './helpers/control-plane';
import { REPO_ROOT } from './helpers/hypervisor';
import { TroveRest, until, untilHealthy } from './helpers/trove-rest';

// Issue 13 acceptance 1: the control plane on Debian's Keystone. trove-api runs Trove's shipped
// api-paste.ini (keystonemiddleware's authtoken validating fernet tokens), trove-api and the
// taskmanager reach nova/cinder/neutron/glance (the HTTP double) through Trove's own admin
// clients and the catalog, Swift authenticates through Keystone, and the user drives it all with
// the `openstack` CLI and a password. A backup lands in the user's own Swift account.

const KEYSTONE_TOKEN = 'e2e-k2hr3-token-not-a-secret';
const VERSION = '1.0.16';
const STAND_INS = path.join(REPO_ROOT, 'test/doubles/chmpx');

const plane = new ControlPlane({
  bridge: true,
  identity: 'keystone',
  keystone: { [KEYSTONE_TOKEN]: { user: 'demo', projects: ['demo'] } },
  guestConf: { k2hdkc: [`k2hlinetool_path = ${path.join(STAND_INS, 'k2hlinetool')}`, 'k2hr3_poll_seconds = 1'] },
});
let rest: TroveRest;
let failed = false;
let demoToken = '';
let demoProject = '';
const startedAt = Date.now();

function step<T>(fn: () => Promise<T>): () => Promise<T> {
  return async () => {
    try {
      return await fn();
    } catch (error) {
      failed = true;
      throw error;
    }
  };
}

beforeAll(async () => {
  await plane.start();
  rest = new TroveRest(plane.apiUrl);
  const ks = plane.keystone!;
  demoToken = await ks.token(ks.demo);
  demoProject = ks.demo.projectId;
}, 240_000);

afterAll(async () => {
  if (failed) console.log(plane.report());
  console.log(`keystone e2e wall time ${Math.round((Date.now() - startedAt) / 1000)} s`);
  await plane.stop(failed);
}, 60_000);

describe('trove-api behind keystonemiddleware', () => {
  it('answers a wrong token with 401 and a real fernet token with the project\'s instances', step(async () => {
    const url = `${plane.apiUrl}/v1.0/${demoProject}/instances`;
    const wrong = await axios.get(url, { headers: { 'X-Auth-Token': 'gAAAAABnot-a-real-fernet-token' }, validateStatus: () => true });
    expect(wrong.status).toBe(401);
    expect(String(wrong.headers['www-authenticate'])).toContain(plane.keystone!.baseUrl);
    const none = await axios.get(url, { validateStatus: () => true });
    expect(none.status).toBe(401);
    const right = await axios.get(url, { headers: { 'X-Auth-Token': demoToken }, validateStatus: () => true });
    expect(right.status).toBe(200);
    expect(right.data).toEqual({ instances: [] });
    // Trove's own authorization: a real token only acts in its own project.
    const elsewhere = await axios.get(`${plane.apiUrl}/v1.0/${plane.keystone!.admin.projectId}/instances`, { headers: { 'X-Auth-Token': demoToken }, validateStatus: () => true });
    expect(elsewhere.status).toBe(403);
  }), 60_000);
});

describe('the user path with a password', () => {
  let configId = '';
  let instanceId = '';
  let backupId = '';

  it('registers k2hdkc; the demo user launches an instance with a configuration group -> HEALTHY', step(async () => {
    await plane.bridgeCommand('k2hdkc_trove_bridge.registration', ['--config-file', plane.confPath, '--db-sync']);
    const cli = plane.userCli!;
    const demo = plane.keystone!.demo;
    const versions = await cli.json<Array<{ Name: string }>>(demo, ['datastore', 'version', 'list', 'k2hdkc']);
    expect(versions.map((v) => v.Name)).toEqual([VERSION]);
    const k2hr3 = await new K2hr3Provisioner({ apiUrl: plane.k2hr3.url, ...FAST }).provision(KEYSTONE_TOKEN, {
      tenant: 'demo', cluster: 'ks', template: DBAAS_TEMPLATE, mode: 'server',
    });
    const extdataUrl = plane.k2hr3.extdataUrlFor(k2hr3.roleYrn).url;
    configId = (await cli.json<{ id: string }>(demo, [
      'database', 'configuration', 'create', 'ks-conf', JSON.stringify({ 'extdata-url': extdataUrl }), '--datastore', 'k2hdkc', '--datastore-version', VERSION,
    ])).id;
    instanceId = (await cli.json<{ id: string }>(demo, [
      'database', 'instance', 'create', 'ks-one', '--flavor', 'k2hdkc.small', '--size', '1',
      '--datastore', 'k2hdkc', '--datastore-version', VERSION, '--configuration', configId,
    ])).id;
    await untilHealthy(rest, demoToken, demoProject, instanceId);
    const listed = await cli.json<Array<{ ID: string; Status: string }>>(demo, ['database', 'instance', 'list']);
    expect(listed.map((i) => i.ID)).toEqual([instanceId]);
    // Trove 18 creates the server as its service user, in its service project (the double saw it so).
    const server = [...plane.compute!.state.servers.values()].find((s) => s.metadata['trove_instance_id'] === instanceId);
    expect(server?.tenant_id).toBe(plane.keystone!.trove.projectId);
    expect(server?.metadata['trove_project_id']).toBe(demoProject);
  }), 300_000);

  it('backup create -> COMPLETED in the demo user\'s own Swift account; other projects cannot read it', step(async () => {
    const cli = plane.userCli!;
    const demo = plane.keystone!.demo;
    backupId = (await cli.json<{ id: string }>(demo, ['database', 'backup', 'create', 'ks-backup', '--instance', instanceId])).id;
    await until('backup COMPLETED', async () => {
      const b = await rest.backup(demoToken, demoProject, backupId);
      if (b?.['status'] === 'FAILED') throw new Error(`backup FAILED: ${JSON.stringify(b)}`);
      return b?.['status'] === 'COMPLETED' ? b : undefined;
    }, 120_000);
    const shown = await cli.json<Record<string, unknown>>(demo, ['database', 'backup', 'show', backupId]);
    const location = String(shown['locationRef']);
    expect(location.startsWith(`${plane.swiftBase}${demoProject}/`)).toBe(true);
    const mine = await axios.head(location, { headers: { 'X-Auth-Token': demoToken }, validateStatus: () => true });
    expect(mine.status).toBe(200);
    // keystoneauth: the admin project's token is no operator of the demo account.
    const otherToken = await plane.keystone!.token(plane.keystone!.trove);
    // (GET: Swift's refusals carry a body, which a HEAD answer must not.)
    const theirs = await axios.get(location, { headers: { 'X-Auth-Token': otherToken }, validateStatus: () => true, responseType: 'arraybuffer' });
    expect(theirs.status).toBe(403);
    const anonymous = await axios.get(location, { validateStatus: () => true, responseType: 'arraybuffer' });
    expect(anonymous.status).toBe(401);
  }), 240_000);

  it('deletes the instance: its server and volume are gone from the compute double', step(async () => {
    const demo = plane.keystone!.demo;
    await plane.userCli!.ok(demo, ['database', 'instance', 'delete', instanceId]);
    await until(`instance ${instanceId} deleted`, async () => ((await rest.instance(demoToken, demoProject, instanceId)) === null ? true : undefined), 90_000);
    expect(plane.liveServers()).toEqual([]);
  }), 120_000);
});
