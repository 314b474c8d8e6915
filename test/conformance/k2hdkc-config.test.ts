import axios from 'axios';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProvisionResult } from '../../src/k2hr3/provision';
import { parseIni } from '../../src/k2hdkc/ini/parse';
import { K2hr3Double } from '../doubles/k2hr3';
import { rawCtlport } from '../helpers/raw-ctlport';
import { listObjects } from '../integration/backup/helpers';
import { DBAAS_TEMPLATE, KEYSTONE } from '../integration/k2hr3/helpers';
import { startSwift, type SwiftFixture } from '../swift/fixture';
import type { AgentProcess } from './helpers/agent-process';
import { REPO_ROOT } from './helpers/agent-process';
import { useConformanceEnv, type Guest } from './helpers/env';
import { agentOutput, chmpxPorts, k2hdkcNodeOptions, killDaemons, nodeDir, prepareKwargs, provisionCluster, statusRowBecomes } from './helpers/k2hdkc-node';
import { waitFor } from './helpers/poll';
import { waitForConsumer } from './helpers/rabbit';

// Issue 3 item 5 (configuration, upgrade and log methods) and acceptance 3 (update_overrides,
// apply_overrides, resize_fs through Trove's client). One agent process and one real
// trove-conductor for the file; every call goes through trove.guestagent.api.API. chmpx and
// k2hdkc are the spec stand-ins, K2HR3 the API double (the node registers from 127.0.0.51).

const ADDRESS = '127.0.0.51';
const BASE_PORT = 17000 + (process.pid % 300) * 10;
const PORTS = chmpxPorts(BASE_PORT);
const MiB = 1024 * 1024;
/** tempauth's account is AUTH_test: publishing calls carry project id `test` and the Swift token. */
const PROJECT = 'test';
const CONFIG_TEMPLATE = readFileSync(path.join(REPO_ROOT, 'datastore/templates/config.template'), 'utf8');

function ctl(command: string): Promise<string> {
  return rawCtlport(ADDRESS, PORTS.serverCtlport, command);
}

function run(cmd: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** The filesystem size dumpe2fs reads from an image's superblock. */
function ext4Bytes(image: string): number {
  const out = run('dumpe2fs', ['-h', image]).out;
  return Number(/Block count:\s+(\d+)/.exec(out)?.[1]) * Number(/Block size:\s+(\d+)/.exec(out)?.[1]);
}

// Swift takes seconds to start: started first, it comes up while the harness starts the conductor.
let swiftStarting: Promise<SwiftFixture> | undefined;
beforeAll(() => {
  swiftStarting = startSwift();
  // Awaited in the describe's beforeAll; this only keeps an early failure from going unhandled.
  swiftStarting.catch(() => undefined);
});

const env = useConformanceEnv({ conductor: true });

describe('a K2HDKC instance configured, upgraded and resized through Trove\'s client', () => {
  const double = new K2hr3Double({ keystone: KEYSTONE });
  let cluster: ProvisionResult;
  let swift: SwiftFixture;
  let guest: Guest;
  let agent: AgentProcess;
  let dir = '';
  let iniPath = '';

  const invoke = (method: string, kwargs: Record<string, unknown> = {}) => env.harness.invoke(guest.id, guest.tenantId, method, { kwargs });
  const k2hdkcValue = (key: string) => parseIni(readFileSync(iniPath, 'utf8')).k2hdkc?.values[key];
  const pidOf = (name: string) => Number(readFileSync(path.join(dir, 'run', `${name}.pid`), 'utf8'));
  const healthyRow = () => statusRowBecomes(env, guest.id, 'healthy', { timeoutMs: 15_000 });

  beforeAll(async () => {
    const apiUrl = await double.start();
    swift = await (swiftStarting ?? startSwift());
    cluster = await provisionCluster(apiUrl, `cfg${process.pid}`, PORTS);
    const id = randomUUID();
    dir = nodeDir(env, id);
    iniPath = path.join(dir, 'k2hdkc.ini');
    guest = await env.addGuest({
      secure: true,
      id,
      k2hdkc: k2hdkcNodeOptions({ dir, address: ADDRESS, extdataUrl: double.extdataUrlFor(cluster.roleYrn).url }, {
        // The agent owns the disk (resize_fs); prepare gets no device_path, so nothing is formatted or put in fstab.
        manage_volume: 'true',
        // Live reconfiguration keeps polling K2HR3 while the overrides are in force.
        k2hr3_poll_ms: '200',
      }),
    });
    // Controller-wide [DEFAULT] option (trove-guestagent.conf in production); the second file merges.
    appendFileSync(guest.files.guestInfoConf, `swift_url=${swift.url.slice(0, -PROJECT.length)}\n`);
    agent = env.startAgent(guest);
    await waitForConsumer(guest.queue);
  });
  afterAll(async () => {
    await agent?.stop();
    if (dir !== '') killDaemons(path.join(dir, 'run'));
    await double.stop();
    await swift?.stop();
  });

  it('prepare with a configuration group: healthy, and the group\'s INI value set on what K2HR3 served', async () => {
    const sent = await env.harness.invoke(guest.id, guest.tenantId, 'prepare', {
      kwargs: prepareKwargs(guest, { device_path: null, config_contents: CONFIG_TEMPLATE.replace(/\{\{[^}]*\}\}/g, 'x'), overrides: { 'k2hdkc-maxthread': 12 } }),
      notification: true,
    });
    expect(sent).toMatchObject({ ok: true });
    await statusRowBecomes(env, guest.id, 'healthy');
    // K2HR3 serves MAXTHREAD = 20 (the DBaaS template); the attached group says 12.
    expect(DBAAS_TEMPLATE).toMatch(/^MAXTHREAD = 20$/m);
    expect(k2hdkcValue('MAXTHREAD')).toBe('12');
    // Three more K2HR3 reads by the live reconfiguration later, K2HR3's value has not come back.
    const reads = () => double.seen.filter((r) => r.method === 'GET' && r.path.startsWith('/v1/resource/') && r.ip === ADDRESS).length;
    const after = reads();
    await waitFor('three more K2HR3 polls', () => (reads() >= after + 3 ? true : undefined), { timeoutMs: 10_000 });
    expect(k2hdkcValue('MAXTHREAD')).toBe('12');
    expect(await ctl('SELFSTATUS')).toMatch(/\[SERVICE IN\]\[UP\]\[n\/a\]\[Nothing\]\[NoSuspend\]/);
  });

  it('update_overrides keeps the group\'s values without applying them; a value outside its rule is refused', async () => {
    expect(await invoke('update_overrides', { overrides: { 'k2hdkc-maxthread': 8, 'chmpx-suspend-merge': true }, remove: false })).toMatchObject({ ok: true, result: null });
    expect(JSON.parse(readFileSync(path.join(guest.files.stateDir, 'overrides.json'), 'utf8'))).toEqual({ 'k2hdkc-maxthread': 8, 'chmpx-suspend-merge': true });
    expect(k2hdkcValue('MAXTHREAD')).toBe('12');
    expect(await ctl('DUMP')).toMatch(/^\s*suspend automerge\s+=\s+no$/m);

    const bad = await invoke('update_overrides', { overrides: { 'k2hdkc-maxthread': 100000 }, remove: false });
    expect(bad.ok).toBe(false);
    if (bad.ok) return;
    expect(bad.error.qualified).toBe('trove.common.exception.GuestError');
    expect(bad.error.message).toContain('k2hdkc-maxthread must be at most 1000');
    expect(JSON.parse(readFileSync(path.join(guest.files.stateDir, 'overrides.json'), 'utf8'))).toEqual({ 'k2hdkc-maxthread': 8, 'chmpx-suspend-merge': true });
  });

  it('apply_overrides applies the dynamic value live on chmpx (SUSPENDMERGE / NOSUSPENDMERGE)', async () => {
    expect(await invoke('apply_overrides', { overrides: { 'chmpx-suspend-merge': true } })).toMatchObject({ ok: true, result: null });
    expect(await ctl('DUMP')).toMatch(/^\s*suspend automerge\s+=\s+yes$/m);
    // What Trove sends on detach: the template's default, as the parser's string.
    expect(await invoke('apply_overrides', { overrides: { 'chmpx-suspend-merge': 'false' } })).toMatchObject({ ok: true, result: null });
    expect(await ctl('DUMP')).toMatch(/^\s*suspend automerge\s+=\s+no$/m);
  });

  it('apply_overrides with a restart-only value is answered DatastoreOperationNotSupported and changes nothing', async () => {
    const before = readFileSync(iniPath, 'utf8');
    const reply = await invoke('apply_overrides', { overrides: { 'k2hdkc-maxthread': 8 } });
    expect(reply.ok).toBe(false);
    if (reply.ok) return;
    // Trove's API._call wraps the re-raised remote exception in GuestError; its text carries the class and ours.
    expect(reply.error.qualified).toBe('trove.common.exception.GuestError');
    expect(reply.error.message).toContain('trove.common.exception.DatastoreOperationNotSupported');
    expect(reply.error.message).toContain("The 'apply_overrides (k2hdkc-maxthread take effect on restart only)' operation is not supported for the 'k2hdkc' datastore.");
    expect(readFileSync(iniPath, 'utf8')).toBe(before);
  });

  it('restart puts the kept overrides into the INI; after detach (remove=true) a restart goes back to K2HR3\'s value', async () => {
    const before = [pidOf('chmpx'), pidOf('k2hdkc')];
    expect(await invoke('restart')).toMatchObject({ ok: true, result: null });
    expect(k2hdkcValue('MAXTHREAD')).toBe('8');
    expect([pidOf('chmpx'), pidOf('k2hdkc')]).not.toEqual(before);
    expect(await ctl('SELFSTATUS')).toMatch(/\[SERVICE IN\]\[UP\]\[n\/a\]\[Nothing\]\[NoSuspend\]/);

    expect(await invoke('update_overrides', { overrides: {}, remove: true })).toMatchObject({ ok: true, result: null });
    expect(existsSync(path.join(guest.files.stateDir, 'overrides.json'))).toBe(false);
    // No check of the INI here: the K2HR3 poll (every 200 ms in this file) may already have
    // written the served value; k2hdkc reads MAXTHREAD only when it starts.
    expect(await invoke('restart')).toMatchObject({ ok: true, result: null });
    expect(k2hdkcValue('MAXTHREAD')).toBe('20');
    await healthyRow();
  });

  it('reset_configuration (resize revert) keeps a valid config_contents and refuses an invalid one', async () => {
    const conf = path.join(guest.files.stateDir, 'datastore.conf');
    const contents = 'chmpx-server-port = 8020\nchmpx-suspend-merge = false\n';
    expect(await invoke('reset_configuration', { configuration: { config_contents: contents } })).toMatchObject({ ok: true, result: null });
    expect(readFileSync(conf, 'utf8')).toBe(contents);
    const bad = await invoke('reset_configuration', { configuration: { config_contents: 'chmpx-server-port = 40000\n' } });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.error.message).toContain('chmpx-server-port must be at most 32767 (got 40000)');
    expect(readFileSync(conf, 'utf8')).toBe(contents);
  });

  it('resize_fs grows an unmounted ext4 volume offline; online on an unmounted device is refused naming why', async () => {
    // Trove's offline flow has stopped and unmounted the volume before this call (spec §7.4).
    const image = path.join(dir, 'volume.img');
    writeFileSync(image, '');
    truncateSync(image, 32 * MiB);
    expect(run('mkfs.ext4', ['-F', '-q', image]).status).toBe(0);
    truncateSync(image, 48 * MiB);
    const unmounted = path.join(dir, 'unmounted');
    mkdirSync(unmounted, { recursive: true });
    expect(await invoke('resize_fs', { device_path: image, mount_point: unmounted, online: false })).toMatchObject({ ok: true, result: null, cap_version: '1.1' });
    expect(ext4Bytes(image)).toBe(48 * MiB);

    const online = await invoke('resize_fs', { device_path: image, mount_point: unmounted, online: true });
    expect(online.ok).toBe(false);
    if (!online.ok) expect(online.error.message).toContain(`Online resize needs ${image} mounted at ${unmounted}`);
  });

  it('guest_log_list shows the agent, chmpx and k2hdkc logs; guest_log_action refuses an unknown log', async () => {
    // chmpx runs with -d err and has had nothing to complain about: give its log a line of the
    // kind it writes (a reload warning), so there is something to publish.
    appendFileSync(path.join(dir, 'log', 'chmpx.log'), '[CHMPX-WAN] CheckNotifyEvent(635) : inotify event type(32768) is not handled because of waiting another event after it.\n');
    const list = await invoke('guest_log_list');
    expect(list.ok).toBe(true);
    if (!list.ok) return;
    const logs = list.result as { name: string; type: string; status: string; pending: number; metafile: string }[];
    expect(logs.map((l) => [l.name, l.type])).toEqual([['guest', 'SYS'], ['chmpx', 'SYS'], ['k2hdkc', 'SYS']]);
    const chmpx = logs.find((l) => l.name === 'chmpx');
    expect(chmpx?.status).toBe('Ready');
    expect(chmpx?.pending).toBe(readFileSync(path.join(dir, 'log', 'chmpx.log')).length);
    expect(chmpx?.metafile).toBe(`${guest.id}/k2hdkc-chmpx_metafile`);
    // The agent logs to stdout here (the journal on a VM): no file to list.
    expect(logs.find((l) => l.name === 'guest')?.status).toBe('Unavailable');
    const unknown = await invoke('guest_log_action', { log_name: 'slow_query', enable: false, disable: false, publish: false, discard: false });
    expect(unknown.ok).toBe(false);
    if (!unknown.ok) expect(unknown.error.message).toContain("No log named 'slow_query'");
  });

  it('guest_log_action publish puts the chmpx log into the user\'s Swift; discard removes it again', async () => {
    const action = (flags: Record<string, boolean>) =>
      env.harness.invoke(guest.id, PROJECT, 'guest_log_action', {
        kwargs: { log_name: 'chmpx', enable: false, disable: false, publish: false, discard: false, ...flags },
        authToken: swift.token,
      });
    const prefix = `${guest.id}/k2hdkc-chmpx/`;
    const published = await action({ publish: true });
    expect(published.ok).toBe(true);
    if (!published.ok) return;
    const view = published.result as { status: string; published: number; container: string; prefix: string };
    expect(view).toMatchObject({ container: 'database_logs', prefix });
    expect(['Published', 'Partial']).toContain(view.status);
    // What is in Swift is exactly the first `published` bytes of the file, and the metafile says so.
    const names = (await listObjects(swift, 'database_logs')).filter((n) => n.startsWith(prefix));
    expect(names.length).toBeGreaterThan(0);
    const get = async (name: string) =>
      (await axios.get<string>(`${swift.url}/database_logs/${name}`, { headers: { 'X-Auth-Token': swift.token }, responseType: 'text', transformResponse: (d: string) => d })).data;
    const uploaded = (await Promise.all(names.map(get))).join('');
    expect(uploaded).toBe(readFileSync(path.join(dir, 'log', 'chmpx.log'), 'utf8').slice(0, view.published));
    expect(JSON.parse(await get(`${guest.id}/k2hdkc-chmpx_metafile`))).toMatchObject({ log_name: 'chmpx', log_type: 'SYS', log_size: view.published });

    const discarded = await action({ discard: true });
    expect(discarded).toMatchObject({ ok: true, result: { name: 'chmpx', published: 0, container: 'None', prefix: 'None' } });
    expect((await listObjects(swift, 'database_logs')).filter((n) => n.startsWith(guest.id))).toEqual([]);
    // The Swift token never reached the agent's log.
    expect(agentOutput(agent)).not.toContain(swift.token);
  });

  it('pre_upgrade returns where the node\'s files were kept; upgrade restarts the node on them and it reports healthy', async () => {
    const pre = await invoke('pre_upgrade');
    expect(pre.ok).toBe(true);
    if (!pre.ok) return;
    const info = pre.result as Record<string, unknown>;
    expect(info).toMatchObject({ k2hdkc_upgrade_dir: path.join(guest.files.mountPoint, '.k2hdkc-trove-upgrade'), mount_point: guest.files.mountPoint });
    expect(info['k2hdkc_saved']).toEqual(expect.arrayContaining(['k2hdkc.ini', 'k2hr3-served.ini', 'k2hr3-bootstrap.json']));
    const iniBefore = readFileSync(iniPath, 'utf8');
    const before = [pidOf('chmpx'), pidOf('k2hdkc')];

    // The taskmanager adds the target version and casts upgrade, then waits for `healthy`.
    expect(await invoke('upgrade', { upgrade_info: { ...info, datastore_version: '1.0.15' } })).toMatchObject({ ok: true });
    await waitFor('new chmpx and k2hdkc', () => {
      try {
        return pidOf('chmpx') !== before[0] && pidOf('k2hdkc') !== before[1] ? true : undefined;
      } catch {
        return undefined;
      }
    }, { timeoutMs: 15_000 });
    await waitFor('SERVICE IN after upgrade', async () => (/\[SERVICE IN\]\[UP\]\[n\/a\]\[Nothing\]/.test(await ctl('SELFSTATUS')) ? true : undefined), { timeoutMs: 15_000 });
    await healthyRow();
    expect(readFileSync(iniPath, 'utf8')).toBe(iniBefore);
    // Still registered: an upgrade is not a scale-in.
    expect(double.state.hostsOf(cluster.roleYrn).map((h) => h.cuk)).toEqual([guest.id]);
  });
});
