import { randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { K2hr3Client } from '../../src/k2hr3/client';
import type { ProvisionResult } from '../../src/k2hr3/provision';
import { K2hr3Double } from '../doubles/k2hr3';
import { KeystoneDouble } from '../doubles/keystone';
import { FAST, KEYSTONE, KEYSTONE_PROJECT, KEYSTONE_TOKEN, KEYSTONE_TOKENS, nodes } from '../integration/k2hr3/helpers';
import type { AgentProcess } from './helpers/agent-process';
import { REPO_ROOT } from './helpers/agent-process';
import { useConformanceEnv, type Guest } from './helpers/env';
import { agentOutput, chmpxPorts, faultRows, k2hdkcNodeOptions, killDaemons, nodeDir, prepareKwargs, provisionCluster, statusRowBecomes } from './helpers/k2hdkc-node';
import { waitForConsumer } from './helpers/rabbit';
import { rawCtlport } from '../helpers/raw-ctlport';

// Issue 3 acceptance 1 (and part of 3): Trove's own client prepares one K2HDKC instance. The
// agent runs as its own process; the K2HR3 API double runs here on 127.0.0.1 and sees the
// agent's requests from the node's loopback address ([k2hdkc] local_address), so it registers
// the node by source IP as K2HR3 does. chmpx and k2hdkc are the spec stand-ins.

const ADDRESS = '127.0.0.41';
const BASE_PORT = 26000 + (process.pid % 400) * 10;
const PORTS = chmpxPorts(BASE_PORT);

function ctl(command: string): Promise<string> {
  return rawCtlport(ADDRESS, PORTS.serverCtlport, command);
}

const env = useConformanceEnv({ conductor: true });

describe('a K2HDKC instance prepared through Trove\'s client', () => {
  const double = new K2hr3Double({ keystone: KEYSTONE });
  let apiUrl = '';
  let cluster: ProvisionResult;
  let guest: Guest;
  let agent: AgentProcess;
  let iniPath = '';

  beforeAll(async () => {
    apiUrl = await double.start();
    // What the Trove dashboard / cluster tooling did before the VM booted: the cluster's
    // resources and roles, and the extdata URL handed to the instance.
    cluster = await provisionCluster(apiUrl, `conf${process.pid}`, PORTS);
    const id = randomUUID();
    const dir = nodeDir(env, id);
    iniPath = path.join(dir, 'k2hdkc.ini');
    guest = await env.addGuest({ secure: true, id, k2hdkc: k2hdkcNodeOptions({ dir, address: ADDRESS, extdataUrl: double.extdataUrlFor(cluster.roleYrn).url }) });
    agent = env.startAgent(guest);
    await waitForConsumer(guest.queue);
  });
  afterAll(async () => {
    // Stop the stand-ins even when a test failed before stop_db.
    await agent?.stop();
    if (iniPath !== '') killDaemons(path.join(path.dirname(iniPath), 'run'));
    await double.stop();
  });

  it('prepare: the conductor row goes building -> healthy; the INI is what K2HR3 served; chmpx is SERVICE IN', async () => {
    const sent = await env.harness.invoke(guest.id, guest.tenantId, 'prepare', {
      kwargs: prepareKwargs(guest, { device_path: '/dev/null-conformance', config_contents: '[k2hdkc]\n' }),
      notification: true,
    });
    expect(sent).toMatchObject({ ok: true });
    const row = await statusRowBecomes(env, guest.id, 'healthy');
    expect(row.status_id).toBe(0x21);
    const statuses = (await env.harness.conductorLog(`Instance ID: ${guest.id}, Payload:`)).map(
      (line) => /'service_status': '([^']*)'/.exec(line)?.[1] ?? '(none)',
    );
    expect(statuses.slice(0, 2)).toEqual(['building', 'healthy']);

    expect(double.state.hostsOf(cluster.roleYrn).map((h) => [h.host, h.cuk, h.tag])).toEqual([[ADDRESS, guest.id, ADDRESS]]);
    const served = await new K2hr3Client({ apiUrl, localAddress: ADDRESS, ...FAST }).readResource(cluster.resourceYrn, cluster.roleToken);
    const onDisk = readFileSync(iniPath, 'utf8');
    expect(onDisk).toBe(served.split('__SELF_INSTANCE_ID__').join(guest.id));
    expect(nodes(onDisk, 'SVRNODE')).toEqual([{ name: ADDRESS, cuk: guest.id }]);
    expect(await ctl('SELFSTATUS')).toMatch(/\[SERVICE IN\]\[UP\]\[n\/a\]\[Nothing\]\[NoSuspend\]/);
    const pids = ['chmpx', 'k2hdkc'].map((n) => Number(readFileSync(path.join(path.dirname(iniPath), 'run', `${n}.pid`), 'utf8')));
    expect(pids.every((pid) => pid > 0)).toBe(true);
  });

  it('restart replies once the node is healthy again, with new chmpx and k2hdkc processes', async () => {
    const pidOf = (n: string) => Number(readFileSync(path.join(path.dirname(iniPath), 'run', `${n}.pid`), 'utf8'));
    const before = [pidOf('chmpx'), pidOf('k2hdkc')];
    const reply = await env.harness.invoke(guest.id, guest.tenantId, 'restart');
    expect(reply).toEqual({ ok: true, result: null, cap_version: '1.1' });
    expect([pidOf('chmpx'), pidOf('k2hdkc')]).not.toEqual(before);
    expect(await ctl('SELFSTATUS')).toMatch(/\[SERVICE IN\]\[UP\]/);
    // The reply follows the `healthy` heartbeat's publication; the conductor applies it in order.
    await statusRowBecomes(env, guest.id, 'healthy', { timeoutMs: 15_000 });
  });

  it('stop_db succeeds within Trove\'s low timeout and the conductor row becomes shutdown', async () => {
    // The harness sets agent_call_low_timeout = 10 s: a stop slower than that fails here.
    const reply = await env.harness.invoke(guest.id, guest.tenantId, 'stop_db');
    expect(reply).toMatchObject({ ok: true, result: null });
    await expect(ctl('VERSION')).rejects.toThrow(/ECONNREFUSED/);
    await statusRowBecomes(env, guest.id, 'shutdown', { timeoutMs: 15_000 });
    // Trove's 1.1 stop_db (delete, reboot, resize) always takes the node out of K2HR3; a start registers it again.
    expect(double.state.hostsOf(cluster.roleYrn).map((h) => h.cuk)).toEqual([]);
  });

  it('start_db_with_conf_changes (after a flavor resize) saves the config and replies once the node is healthy', async () => {
    const reply = await env.harness.invoke(guest.id, guest.tenantId, 'start_db_with_conf_changes', {
      kwargs: { config_contents: '[k2hdkc]\nmaxthread = 8\n', ds_version: '1.0.14' },
    });
    expect(reply).toMatchObject({ ok: true, result: null });
    expect(await ctl('SELFSTATUS')).toMatch(/\[SERVICE IN\]\[UP\]\[n\/a\]\[Nothing\]\[NoSuspend\]/);
    expect(readFileSync(path.join(guest.files.stateDir, 'datastore.conf'), 'utf8')).toBe('[k2hdkc]\nmaxthread = 8\n');
    expect(double.state.hostsOf(cluster.roleYrn).map((h) => h.cuk)).toEqual([guest.id]);
    await statusRowBecomes(env, guest.id, 'healthy', { timeoutMs: 15_000 });
  });

  it('resize_fs on a guest that does not manage its volume is refused, naming why, through Trove\'s client', async () => {
    const reply = await env.harness.invoke(guest.id, guest.tenantId, 'resize_fs', {
      kwargs: { device_path: '/dev/null-conformance', mount_point: guest.files.mountPoint, online: true },
    });
    expect(reply.ok).toBe(false);
    if (reply.ok) return;
    // Trove's API._call wraps every remote failure in GuestError; the text is the agent's.
    expect(reply.error.qualified).toBe('trove.common.exception.GuestError');
    expect(reply.error.message).toContain("The 'resize_fs (volume management is off on this guest)' operation is not supported");
  });

  it('never logs the role token, the extdata register path or the Keystone token', () => {
    const log = agentOutput(agent);
    expect(log).not.toContain(cluster.roleToken);
    expect(log).not.toContain('conformance-token-not-a-secret');
    const registerPath = double.extdataUrlFor(cluster.roleYrn).url.split('/').pop() ?? '';
    expect(registerPath.length).toBeGreaterThan(8);
  });
});

describe('a K2HDKC prepare that K2HR3 refuses', () => {
  const double = new K2hr3Double({ keystone: KEYSTONE });

  beforeAll(async () => {
    await double.start();
  });
  afterAll(async () => {
    await double.stop();
  });

  it('ends at `failed to spawn` with a fault naming K2HR3, keeps the previous INI and starts nothing', async () => {
    const cluster = await provisionCluster(double.url, `bad${process.pid}`, PORTS);
    const id = randomUUID();
    const dir = nodeDir(env, id);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'k2hdkc.ini'), '# the previous INI\n');
    const guest = await env.addGuest({ secure: true, id, k2hdkc: k2hdkcNodeOptions({ dir, address: '127.0.0.42', extdataUrl: double.extdataUrlFor(cluster.roleYrn).url }) });
    // The resource read fails for good: every retry gets a 500.
    double.inject({ method: 'GET', path: /^\/v1\/resource\// }, { status: 500 }, 20);
    env.startAgent(guest);
    await waitForConsumer(guest.queue);
    const sent = await env.harness.invoke(guest.id, guest.tenantId, 'prepare', {
      kwargs: prepareKwargs(guest),
      notification: true,
    });
    expect(sent).toMatchObject({ ok: true });
    const row = await statusRowBecomes(env, guest.id, 'failed to spawn');
    expect(row.status_id).toBe(0x08);
    const faults = await faultRows(env, guest.id);
    expect(faults[0]!.message).toMatch(/K2HR3|resource/);
    expect(readFileSync(path.join(dir, 'k2hdkc.ini'), 'utf8')).toBe('# the previous INI\n');
    expect(existsSync(path.join(dir, 'run', 'chmpx.pid'))).toBe(false);
  });
});

describe('a K2HDKC cluster member', () => {
  const double = new K2hr3Double({ keystone: KEYSTONE });
  const address = '127.0.0.43';
  let runDir = '';

  beforeAll(async () => {
    await double.start();
  });
  afterAll(async () => {
    // The agent leaves supervised daemons running when it exits; this test's node must not outlive it.
    killDaemons(runDir);
    await double.stop();
  });

  it('reports instance ready after prepare with cluster_config, then healthy after cluster_complete', async () => {
    const cluster = await provisionCluster(double.url, `member${process.pid}`, chmpxPorts(BASE_PORT + 5));
    const id = randomUUID();
    const dir = nodeDir(env, id);
    runDir = path.join(dir, 'run');
    const guest = await env.addGuest({ secure: true, id, k2hdkc: k2hdkcNodeOptions({ dir, address, extdataUrl: double.extdataUrlFor(cluster.roleYrn).url }) });
    const agent = env.startAgent(guest);
    await waitForConsumer(guest.queue);
    const sent = await env.harness.invoke(guest.id, guest.tenantId, 'prepare', {
      kwargs: prepareKwargs(guest, { cluster_config: { id: 'cluster-1', instance_type: 'member' } }),
      notification: true,
    });
    expect(sent).toMatchObject({ ok: true });
    await statusRowBecomes(env, guest.id, 'instance ready');
    // The cluster strategies call it with the high timeout at version 1.0.
    const reply = await env.harness.callMethod(guest.id, guest.tenantId, 'cluster_complete', { version: '1.0', timeout: 20 });
    expect(reply).toMatchObject({ ok: true });
    const row = await statusRowBecomes(env, guest.id, 'healthy');
    expect(row.status_id).toBe(0x21);
    expect(existsSync(path.join(guest.files.stateDir, '.guestagent.prepare.end'))).toBe(true);
    await agent.stop();
  });
});

describe('a self-provisioning K2HDKC instance prepared through Trove\'s client', () => {
  // k2hr3_api_url and no extdata_url: the agent creates the cluster in K2HR3 with the user's
  // token. Trove's context carries the token and project id but no project name (the K2HR3
  // tenant), and here no service catalog either (Trove's taskmanager sends service_catalog: null),
  // so the agent asks the Keystone of [service_credentials] auth_url about the token.
  const keystone = new KeystoneDouble({ tokens: KEYSTONE_TOKENS });
  const double = new K2hr3Double({ keystone: keystone.k2hr3Keystone() });
  const ports = { serverPort: BASE_PORT + 3, serverCtlport: BASE_PORT + 4, slaveCtlport: BASE_PORT + 8 };
  const runDirs: string[] = [];

  async function selfProvisioningGuest(address: string): Promise<{ guest: Guest; agent: AgentProcess; dir: string }> {
    const id = randomUUID();
    const dir = nodeDir(env, id, 'selfprov');
    runDirs.push(path.join(dir, 'run'));
    const guest = await env.addGuest({
      secure: true,
      id,
      tenantId: KEYSTONE_PROJECT.id,
      k2hdkc: k2hdkcNodeOptions({ dir, address }, { k2hr3_api_url: double.url, ini_template_path: path.join(REPO_ROOT, 'datastore/k2hdkc-dbaas-template.txt') }),
    });
    // Trove's guest config has this group; the catalog-less context leaves only it. Unversioned, as often configured.
    appendFileSync(guest.files.guestAgentConf, `[service_credentials]\nauth_url = ${keystone.url}\n`);
    const agent = env.startAgent(guest);
    await waitForConsumer(guest.queue);
    return { guest, agent, dir };
  }

  async function prepare(guest: Guest, authToken: string): Promise<void> {
    const sent = await env.harness.invoke(guest.id, guest.tenantId, 'prepare', {
      kwargs: prepareKwargs(guest, {
        config_contents: `chmpx-server-port = ${ports.serverPort}\nchmpx-server-ctlport = ${ports.serverCtlport}\nchmpx-slave-ctlport = ${ports.slaveCtlport}\n`,
      }),
      notification: true,
      authToken,
    });
    expect(sent).toMatchObject({ ok: true });
  }

  beforeAll(async () => {
    await keystone.start();
    await double.start();
  });
  afterAll(async () => {
    for (const runDir of runDirs) killDaemons(runDir);
    await double.stop();
    await keystone.stop();
  });

  it('asks Keystone for the token\'s project, registers under that K2HR3 tenant and becomes healthy', async () => {
    const address = '127.0.0.44';
    const { guest, agent } = await selfProvisioningGuest(address);
    await prepare(guest, KEYSTONE_TOKEN);
    const row = await statusRowBecomes(env, guest.id, 'healthy', { failFast: true });
    expect(row.status_id).toBe(0x21);
    expect(keystone.seen.filter((r) => r.path === '/v3/auth/tokens')).toEqual([{ method: 'GET', path: '/v3/auth/tokens', query: 'nocatalog=', authToken: true, subjectToken: true }]);
    // No cluster name anywhere: the cluster is the instance, in the token's project.
    const role = `yrn:yahoo:::${KEYSTONE_PROJECT.name}:role:${guest.id}/server`;
    expect(double.state.hostsOf(role).map((h) => [h.host, h.cuk, h.tag])).toEqual([[address, guest.id, address]]);
    expect(await rawCtlport(address, ports.serverCtlport, 'SELFSTATUS')).toMatch(/\[SERVICE IN\]\[UP\]/);
    expect(agentOutput(agent)).not.toContain(KEYSTONE_TOKEN);
    await agent.stop();
  });

  it('a token Keystone refuses: `failed to spawn`, the fault says so, nothing is created in K2HR3 or started', async () => {
    const address = '127.0.0.45';
    const { guest, agent, dir } = await selfProvisioningGuest(address);
    const refused = 'gAAAAABrevokedTOKENnotKNOWNtoKEYSTONE000000000000000';
    await prepare(guest, refused);
    await statusRowBecomes(env, guest.id, 'failed to spawn');
    const faults = await faultRows(env, guest.id);
    expect(`${faults[0]!.message} ${faults[0]!.details}`).toContain("the user's token was refused by Keystone");
    expect(double.seen.filter((r) => r.ip === address)).toEqual([]);
    expect(existsSync(path.join(dir, 'run', 'chmpx.pid'))).toBe(false);
    expect(agentOutput(agent)).not.toContain(refused);
    await agent.stop();
  });
});
