import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import axios from 'axios';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ComputeDouble, staticAuthenticator } from '../../doubles/openstack-compute';

const run = promisify(execFile);
const FLOW = path.resolve(__dirname, '../../doubles/openstack-compute/clients_flow.py');
const PROJECT = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
const OTHER = 'f0e1d2c3b4a5968778695a4b3c2d1e0f';
const TOKEN = 'token-of-service-user';
const OTHER_TOKEN = 'token-of-someone-else';
const ADMIN_TOKEN = 'token-of-an-admin';
const IMAGE = '5d3a8ea5-0000-4000-8000-00000000e2e1';

// The double as the real OpenStack clients (the ones Trove 18 builds) see it: the calls a
// Trove instance launch makes, in order, with the hypervisor's part played by writing the
// power file the way test/e2e/helpers/hypervisor.ts does.
describe('nova/cinder/neutron/glance double', () => {
  let dir: string;
  let double: ComputeDouble;
  let base: string;

  const flow = async (...args: string[]): Promise<Record<string, unknown>> => {
    const { stdout } = await run('/usr/bin/python3', [FLOW, base, TOKEN, PROJECT, ...args], { timeout: 60_000, env: { ...process.env, PYTHONWARNINGS: 'ignore' } });
    return JSON.parse(stdout) as Record<string, unknown>;
  };
  const power = (id: string, status: string, powerCycles = 0): void => {
    mkdirSync(path.join(dir, 'power'), { recursive: true });
    writeFileSync(path.join(dir, 'power', `${id}.json`), JSON.stringify({ status, updated: '2026-01-01T00:00:00Z', power_cycles: powerCycles }));
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'k2hdkc-compute-double-'));
    double = new ComputeDouble({
      cloudDir: dir,
      flavors: [{ id: '10', name: 'k2hdkc.small', ram: 512, vcpus: 1, disk: 5 }, { id: '11', name: 'k2hdkc.medium', ram: 1024, vcpus: 2, disk: 10 }],
      images: [
        { id: IMAGE, name: 'k2hdkc-guest', status: 'active', tags: ['trove', 'k2hdkc'], created_at: '2026-01-02T00:00:00Z' },
        { id: '5d3a8ea5-0000-4000-8000-0000000000e0', name: 'k2hdkc-old', status: 'active', tags: ['trove', 'k2hdkc'], created_at: '2025-01-01T00:00:00Z' },
      ],
      network: { id: 'net-1', name: 'e2e-net', subnetId: 'subnet-1', addressPrefix: '127.199.7', addressFirst: 10 },
      authenticate: staticAuthenticator({
        [TOKEN]: { userId: 'u-trove', userName: 'trove', projectId: PROJECT, projectName: 'service', roles: ['member'] },
        [OTHER_TOKEN]: { userId: 'u-other', userName: 'other', projectId: OTHER, projectName: 'other', roles: ['member'] },
        [ADMIN_TOKEN]: { userId: 'u-admin', userName: 'trove', projectId: 'svc', projectName: 'service', roles: ['admin', 'service'] },
      }),
      keystoneUrl: 'http://127.0.0.1:9/v3',
    });
    base = await double.start();
  });

  afterAll(async () => {
    await double?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses calls without a valid token with 401 and keeps version documents public', async () => {
    for (const url of ['/compute/v2.1/servers', '/volume/v3/x/volumes', '/network/v2.0/ports', '/image/v2/images']) {
      const res = await axios.get(`${base}${url}`, { headers: { 'X-Auth-Token': 'wrong' }, validateStatus: () => true });
      expect(res.status, url).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Keystone uri="http://127.0.0.1:9/v3"');
    }
    const versions = await axios.get(`${base}/compute/`);
    expect(versions.data.versions[0]).toMatchObject({ id: 'v2.1', min_version: '2.1' });
  });

  it('boots a server the way Trove asks for one and lets the hypervisor take it from there', async () => {
    const created = await flow('create');
    // glance: newest active image carrying every tag (trove/common/glance.py get_image_id).
    expect(created['image']).toBe(IMAGE);
    expect(created['flavors']).toEqual(['k2hdkc.medium', 'k2hdkc.small']);
    expect(created['zones']).toEqual(['nova']);
    expect(created['volume_status']).toBe('available');
    expect(created['port_address']).toBe('127.199.7.10');
    expect(created['status']).toBe('BUILD');
    expect(created['volume_after']).toBe('in-use');
    const serverId = String(created['server']);
    expect(created['port_device']).toBe(serverId);

    // What the hypervisor reads: the record, and the cloud-init files under the VM's root.
    const record = JSON.parse(readFileSync(path.join(dir, 'servers', `${serverId}.json`), 'utf8')) as Record<string, unknown>;
    expect(record).toMatchObject({ address: '127.199.7.10', volumes: [created['volume']], deleted: false, metadata: { trove_instance_id: 'abc' } });
    expect(readFileSync(path.join(String(record['root']), 'etc/trove/conf.d/guest_info.conf'), 'utf8')).toBe('[DEFAULT]\nguest_id=abc\n');
    const volume = JSON.parse(readFileSync(path.join(dir, 'volumes', `${String(created['volume'])}.json`), 'utf8')) as { size: number };
    expect(volume.size).toBe(2);

    power(serverId, 'ACTIVE');
    const shown = await flow('inspect', serverId);
    expect(shown['status']).toBe('ACTIVE');
    expect(shown['addresses']).toMatchObject({ 'e2e-net': [{ addr: '127.199.7.10', version: 4 }] });
    expect(shown['listed']).toEqual([serverId]);
    expect(shown['listed_all']).toEqual([serverId]);

    // Another project sees neither the server nor the volume.
    const other = await axios.get(`${base}/compute/v2.1/servers/${serverId}`, { headers: { 'X-Auth-Token': OTHER_TOKEN }, validateStatus: () => true });
    expect(other.status).toBe(404);
    expect(other.data.itemNotFound.message).toContain(serverId);
    const otherVolumes = await axios.get(`${base}/volume/v3/${PROJECT}/volumes/detail`, { headers: { 'X-Auth-Token': OTHER_TOKEN }, validateStatus: () => true });
    expect(otherVolumes.status).toBe(403);

    const deleted = await flow('delete', serverId);
    // Until the VM is off nova still shows it; the hypervisor then marks it DELETED.
    expect(deleted['after_delete']).toBe('ACTIVE');
    expect(JSON.parse(readFileSync(path.join(dir, 'servers', `${serverId}.json`), 'utf8')).deleted).toBe(true);
    power(serverId, 'DELETED');
    const gone = await flow('gone', serverId);
    expect(gone['gone']).toBe(true);
    // delete_on_termination removed the volume; the port Trove made is unbound, not deleted.
    expect(gone['volumes']).toEqual([]);
    expect(existsSync(path.join(dir, 'volumes', `${String(created['volume'])}.json`))).toBe(false);
    expect(gone['ports']).toEqual([created['port']]);
  });

  it('resizes, confirms, reverts and reboots through novaclient, the host power-cycling the VM for each', async () => {
    const created = await flow('create');
    const serverId = String(created['server']);
    power(serverId, 'ACTIVE');
    const status = async (): Promise<unknown> => (await axios.get(`${base}/compute/v2.1/servers/${serverId}`, { headers: { 'X-Auth-Token': TOKEN } })).data.server.status;
    const cycles = (): number => (JSON.parse(readFileSync(path.join(dir, 'servers', `${serverId}.json`), 'utf8')) as { power_cycles?: number }).power_cycles ?? 0;

    expect(await flow('confirm', serverId)).toMatchObject({ error: { code: 400, message: 'Instance has not been resized.' }, status: 'ACTIVE' });
    expect(await flow('resize', serverId, '10')).toMatchObject({ error: { code: 400, message: 'When resizing, instances must change flavor!' } });
    // RESIZE until the host has power-cycled the VM onto the new flavor, then VERIFY_RESIZE.
    expect(await flow('resize', serverId, '11')).toEqual({ status: 'RESIZE', flavor: '11' });
    expect(cycles()).toBe(1);
    const busy = await axios.post(`${base}/compute/v2.1/servers/${serverId}/action`, { reboot: { type: 'SOFT' } }, { headers: { 'X-Auth-Token': TOKEN }, validateStatus: () => true });
    expect([busy.status, busy.data.conflictingRequest?.message]).toEqual([409, `Cannot 'reboot' instance ${serverId} while it is in task_state resize_prep`]);
    power(serverId, 'ACTIVE', 1);
    expect(await flow('reboot', serverId)).toMatchObject({ error: { code: 409, message: expect.stringContaining('vm_state resized') }, status: 'VERIFY_RESIZE' });
    expect(await flow('revert', serverId)).toEqual({ status: 'REVERT_RESIZE', flavor: '10' });
    power(serverId, 'ACTIVE', 2);
    expect(await status()).toBe('ACTIVE');
    expect(await flow('resize', serverId, '11')).toEqual({ status: 'RESIZE', flavor: '11' });
    power(serverId, 'ACTIVE', 3);
    expect(await flow('confirm', serverId)).toEqual({ status: 'ACTIVE', flavor: '11' });
    // A confirm needs no power cycle; a reboot does (REBOOT until the host acknowledges it).
    expect(cycles()).toBe(3);
    expect(await flow('reboot', serverId)).toEqual({ status: 'REBOOT', flavor: '11' });
    power(serverId, 'ACTIVE', 4);
    expect(await status()).toBe('ACTIVE');
    const raw = await axios.post(`${base}/compute/v2.1/servers/${serverId}/action`, { reboot: { type: 'WARM' } }, { headers: { 'X-Auth-Token': TOKEN }, validateStatus: () => true });
    expect(raw.status).toBe(400);
    expect(raw.data.badRequest.message).toContain("'WARM' is not one of");
    await flow('delete', serverId);
    power(serverId, 'DELETED', 4);
  });

  it('has a router interface on the subnet, found the way Trove checks it', async () => {
    // trove/common/neutron.py check_subnet_router: list_ports(device_owner=..., fixed_ips=subnet_id=...).
    const query = { device_owner: 'network:router_interface', fixed_ips: 'subnet_id=subnet-1' };
    const admin = await axios.get(`${base}/network/v2.0/ports`, { params: query, headers: { 'X-Auth-Token': ADMIN_TOKEN } });
    expect(admin.data.ports).toHaveLength(1);
    expect(admin.data.ports[0].fixed_ips).toEqual([{ subnet_id: 'subnet-1', ip_address: '127.199.7.1' }]);
    const otherSubnet = await axios.get(`${base}/network/v2.0/ports`, { params: { ...query, fixed_ips: 'subnet_id=elsewhere' }, headers: { 'X-Auth-Token': ADMIN_TOKEN } });
    expect(otherSubnet.data.ports).toEqual([]);
  });

  it('answers bad requests with each service\'s own error shape', async () => {
    const h = { headers: { 'X-Auth-Token': TOKEN }, validateStatus: () => true };
    const flavor = await axios.post(`${base}/compute/v2.1/servers`, { server: { name: 'x', imageRef: IMAGE, flavorRef: '99' } }, h);
    expect(flavor.status).toBe(400);
    expect(flavor.data.badRequest.message).toBe('Flavor 99 could not be found.');
    const size = await axios.post(`${base}/volume/v3/${PROJECT}/volumes`, { volume: { size: 0 } }, h);
    expect(size.status).toBe(400);
    expect(size.data.badRequest.message).toContain('"size"');
    const port = await axios.get(`${base}/network/v2.0/ports/nope`, h);
    expect(port.status).toBe(404);
    expect(port.data.NeutronError).toEqual({ type: 'PortNotFound', message: 'Port nope could not be found.', detail: '' });
    const net = await axios.post(`${base}/network/v2.0/ports`, { port: { network_id: 'elsewhere' } }, h);
    expect(net.data.NeutronError.type).toBe('NetworkNotFound');
    const image = await axios.get(`${base}/image/v2/images/nope`, h);
    expect(image.status).toBe(404);
  });
});
