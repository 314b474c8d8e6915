import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { K2hr3Client } from '../../src/k2hr3/client';
import { K2hr3Provisioner, type ProvisionResult } from '../../src/k2hr3/provision';
import { K2hr3Double } from '../doubles/k2hr3';
import { DBAAS_TEMPLATE, FAST, KEYSTONE, KEYSTONE_TOKEN, nodes } from '../integration/k2hr3/helpers';
import type { AgentProcess } from './helpers/agent-process';
import { REPO_ROOT } from './helpers/agent-process';
import { useConformanceEnv, type Guest } from './helpers/env';
import { waitFor } from './helpers/poll';
import { waitForConsumer } from './helpers/rabbit';
import { rawCtlport } from '../helpers/raw-ctlport';

// Issue 3 acceptance 1 (and part of 3): Trove's own client prepares one K2HDKC instance. The
// agent runs as its own process; the K2HR3 API double runs here on 127.0.0.1 and sees the
// agent's requests from the node's loopback address ([k2hdkc] local_address), so it registers
// the node by source IP as K2HR3 does. chmpx and k2hdkc are the spec stand-ins.

const DOUBLES = path.join(REPO_ROOT, 'test/doubles/chmpx');
const ADDRESS = '127.0.0.41';
const BASE_PORT = 26000 + (process.pid % 400) * 10;
const PORTS = { serverPort: BASE_PORT, serverCtlport: BASE_PORT + 1, slaveCtlport: BASE_PORT + 2 };

function ctl(command: string): Promise<string> {
  return rawCtlport(ADDRESS, PORTS.serverCtlport, command);
}

/** The [k2hdkc] options of a node on `address` whose files live in `dir`. */
function nodeOptions(dir: string, address: string, extdataUrl: string): Record<string, string> {
  return {
    datastore: 'k2hdkc',
    mode: 'server',
    extdata_url: extdataUrl,
    local_address: address,
    node_name: address,
    ini_path: path.join(dir, 'k2hdkc.ini'),
    process_manager: 'supervisor',
    chmpx_path: path.join(DOUBLES, 'chmpx'),
    k2hdkc_path: path.join(DOUBLES, 'k2hdkc'),
    run_dir: path.join(dir, 'run'),
    daemon_log_dir: path.join(dir, 'log'),
    manage_volume: 'false',
    raise_mqueue: 'false',
    prepare_timeout_seconds: '30',
    health_poll_ms: '50',
  };
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
    cluster = await new K2hr3Provisioner({ apiUrl, ...FAST }).provision(KEYSTONE_TOKEN, {
      tenant: 'demo', cluster: `conf${process.pid}`, template: DBAAS_TEMPLATE, mode: 'server', ports: PORTS,
    });
    const id = randomUUID();
    const dir = path.join(env.dir, `k2hdkc-${id.slice(0, 8)}`);
    iniPath = path.join(dir, 'k2hdkc.ini');
    guest = await env.addGuest({ secure: true, id, k2hdkc: nodeOptions(dir, ADDRESS, double.extdataUrlFor(cluster.roleYrn).url) });
    agent = env.startAgent(guest);
    await waitForConsumer(guest.queue);
  });
  afterAll(async () => {
    // Stop the stand-ins even when a test failed before stop_db.
    await agent?.stop();
    for (const name of ['chmpx', 'k2hdkc']) {
      const pidFile = path.join(path.dirname(iniPath), 'run', `${name}.pid`);
      if (existsSync(pidFile)) {
        try {
          process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    await double.stop();
  });

  it('prepare: the conductor row goes building -> healthy; the INI is what K2HR3 served; chmpx is SERVICE IN', async () => {
    const sent = await env.harness.invoke(guest.id, guest.tenantId, 'prepare', {
      kwargs: { memory_mb: 512, packages: '', databases: [], users: [], device_path: '/dev/null-conformance',
        mount_point: guest.files.mountPoint, config_contents: '[k2hdkc]\n', ds_version: '1.0.14' },
      notification: true,
    });
    expect(sent).toMatchObject({ ok: true });
    const row = await waitFor('status row healthy', async () => {
      const now = await env.harness.status(guest.id);
      return now?.status_description === 'healthy' ? now : undefined;
    });
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
    await waitFor('status row healthy', async () => {
      const now = await env.harness.status(guest.id);
      return now?.status_description === 'healthy' ? now : undefined;
    }, { timeoutMs: 15_000 });
  });

  it('stop_db succeeds within Trove\'s low timeout and the conductor row becomes shutdown', async () => {
    // The harness sets agent_call_low_timeout = 10 s: a stop slower than that fails here.
    const reply = await env.harness.invoke(guest.id, guest.tenantId, 'stop_db');
    expect(reply).toMatchObject({ ok: true, result: null });
    await expect(ctl('VERSION')).rejects.toThrow(/ECONNREFUSED/);
    await waitFor('status row shutdown', async () => {
      const now = await env.harness.status(guest.id);
      return now?.status_description === 'shutdown' ? now : undefined;
    }, { timeoutMs: 15_000 });
    // Trove's 1.1 stop_db does not ask to deregister: a reboot or resize brings the node back.
    expect(double.state.hostsOf(cluster.roleYrn).map((h) => h.cuk)).toEqual([guest.id]);
  });

  it('start_db_with_conf_changes (after a flavor resize) saves the config and replies once the node is healthy', async () => {
    const reply = await env.harness.invoke(guest.id, guest.tenantId, 'start_db_with_conf_changes', {
      kwargs: { config_contents: '[k2hdkc]\nmaxthread = 8\n', ds_version: '1.0.14' },
    });
    expect(reply).toMatchObject({ ok: true, result: null });
    expect(await ctl('SELFSTATUS')).toMatch(/\[SERVICE IN\]\[UP\]\[n\/a\]\[Nothing\]\[NoSuspend\]/);
    expect(readFileSync(path.join(guest.files.stateDir, 'datastore.conf'), 'utf8')).toBe('[k2hdkc]\nmaxthread = 8\n');
    await waitFor('status row healthy', async () => {
      const now = await env.harness.status(guest.id);
      return now?.status_description === 'healthy' ? now : undefined;
    }, { timeoutMs: 15_000 });
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
    const log = JSON.stringify(agent.lines) + agent.rawLines.join('\n');
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
    const cluster = await new K2hr3Provisioner({ apiUrl: double.url, ...FAST }).provision(KEYSTONE_TOKEN, {
      tenant: 'demo', cluster: `bad${process.pid}`, template: DBAAS_TEMPLATE, mode: 'server', ports: PORTS,
    });
    const id = randomUUID();
    const dir = path.join(env.dir, `k2hdkc-${id.slice(0, 8)}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'k2hdkc.ini'), '# the previous INI\n');
    const guest = await env.addGuest({ secure: true, id, k2hdkc: nodeOptions(dir, '127.0.0.42', double.extdataUrlFor(cluster.roleYrn).url) });
    // The resource read fails for good: every retry gets a 500.
    double.inject({ method: 'GET', path: /^\/v1\/resource\// }, { status: 500 }, 20);
    env.startAgent(guest);
    await waitForConsumer(guest.queue);
    const sent = await env.harness.invoke(guest.id, guest.tenantId, 'prepare', {
      kwargs: { memory_mb: 512, packages: '', databases: [], users: [], mount_point: guest.files.mountPoint, ds_version: '1.0.14' },
      notification: true,
    });
    expect(sent).toMatchObject({ ok: true });
    const row = await waitFor('status row failed to spawn', async () => {
      const now = await env.harness.status(guest.id);
      return now?.status_description === 'failed to spawn' ? now : undefined;
    });
    expect(row.status_id).toBe(0x08);
    const faults = await waitFor('an instance_faults row', async () => {
      const rows = await env.harness.faults(guest.id);
      return rows.length > 0 ? rows : undefined;
    });
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
    for (const name of ['chmpx', 'k2hdkc']) {
      const pidFile = path.join(runDir, `${name}.pid`);
      if (runDir === '' || !existsSync(pidFile)) continue;
      try {
        process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await double.stop();
  });

  it('reports instance ready after prepare with cluster_config, then healthy after cluster_complete', async () => {
    const ports = { serverPort: BASE_PORT + 5, serverCtlport: BASE_PORT + 6, slaveCtlport: BASE_PORT + 7 };
    const cluster = await new K2hr3Provisioner({ apiUrl: double.url, ...FAST }).provision(KEYSTONE_TOKEN, {
      tenant: 'demo', cluster: `member${process.pid}`, template: DBAAS_TEMPLATE, mode: 'server', ports,
    });
    const id = randomUUID();
    const dir = path.join(env.dir, `k2hdkc-${id.slice(0, 8)}`);
    runDir = path.join(dir, 'run');
    const guest = await env.addGuest({ secure: true, id, k2hdkc: nodeOptions(dir, address, double.extdataUrlFor(cluster.roleYrn).url) });
    const agent = env.startAgent(guest);
    await waitForConsumer(guest.queue);
    const sent = await env.harness.invoke(guest.id, guest.tenantId, 'prepare', {
      kwargs: { memory_mb: 512, packages: '', databases: [], users: [], mount_point: guest.files.mountPoint,
        cluster_config: { id: 'cluster-1', instance_type: 'member' }, ds_version: '1.0.14' },
      notification: true,
    });
    expect(sent).toMatchObject({ ok: true });
    await waitFor('status row instance ready', async () => {
      const now = await env.harness.status(guest.id);
      return now?.status_description === 'instance ready' ? now : undefined;
    });
    // The cluster strategies call it with the high timeout at version 1.0.
    const reply = await env.harness.callMethod(guest.id, guest.tenantId, 'cluster_complete', { version: '1.0', timeout: 20 });
    expect(reply).toMatchObject({ ok: true });
    const row = await waitFor('status row healthy', async () => {
      const now = await env.harness.status(guest.id);
      return now?.status_description === 'healthy' ? now : undefined;
    });
    expect(row.status_id).toBe(0x21);
    expect(existsSync(path.join(guest.files.stateDir, '.guestagent.prepare.end'))).toBe(true);
    await agent.stop();
  });
});
