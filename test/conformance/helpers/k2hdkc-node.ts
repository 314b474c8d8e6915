import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import path from 'node:path';
import { K2hr3Provisioner, type ProvisionResult } from '../../../src/k2hr3/provision';
import { antpickaxProgram, chmpxShmDir, chmpxShmFiles } from '../../helpers/antpickax';
import { DBAAS_TEMPLATE, FAST, KEYSTONE_TOKEN } from '../../integration/k2hr3/helpers';
import { REPO_ROOT, type AgentProcess } from './agent-process';
import type { ConformanceEnv, Guest } from './env';
import { waitFor } from './poll';
import type { FaultRow, StatusRow } from './trove-harness';

// Setup shared by the end-to-end K2HDKC conformance files: one node's [k2hdkc] options, its
// K2HR3 cluster, Trove's prepare arguments, waiting for the conductor's rows, and cleaning up
// the supervised stand-in daemons the agent leaves running.

/** The spec stand-ins for chmpx and k2hdkc. */
export const STANDINS = path.join(REPO_ROOT, 'test/doubles/chmpx');

export interface ChmpxPorts {
  readonly serverPort: number;
  readonly serverCtlport: number;
  readonly slaveCtlport: number;
}

/** Three consecutive ports from `first`: server, server control, slave control. */
export function chmpxPorts(first: number): ChmpxPorts {
  return { serverPort: first, serverCtlport: first + 1, slaveCtlport: first + 2 };
}

/**
 * The [k2hdkc] options of a server node on `address` whose files live in `dir`, run by the
 * supervisor with the stand-ins. No `extdataUrl`: no extdata_url option (self-provisioning).
 * `overrides` replace or add options.
 */
export function k2hdkcNodeOptions(
  node: { dir: string; address: string; extdataUrl?: string },
  overrides: Readonly<Record<string, string>> = {},
): Record<string, string> {
  const { dir, address, extdataUrl } = node;
  return {
    datastore: 'k2hdkc',
    mode: 'server',
    ...(extdataUrl === undefined ? {} : { extdata_url: extdataUrl }),
    local_address: address,
    node_name: address,
    ini_path: path.join(dir, 'k2hdkc.ini'),
    process_manager: 'supervisor',
    // The stand-ins, or the installed programs with K2HDKC_TROVE_ANTPICKAX_BIN (test/helpers/antpickax.ts).
    chmpx_path: antpickaxProgram('chmpx'),
    k2hdkc_path: antpickaxProgram('k2hdkc'),
    run_dir: path.join(dir, 'run'),
    daemon_log_dir: path.join(dir, 'log'),
    manage_volume: 'false',
    raise_mqueue: 'false',
    prepare_timeout_seconds: '30',
    health_poll_ms: '50',
    ...overrides,
  };
}

/** A node directory under the file's temp dir, named after the instance id. */
export function nodeDir(env: ConformanceEnv, id: string, prefix = 'k2hdkc'): string {
  return path.join(env.dir, `${prefix}-${id.slice(0, 8)}`);
}

/** What the dashboard / cluster tooling does before the VM boots: the K2HR3 cluster of tenant `demo`. */
export function provisionCluster(apiUrl: string, cluster: string, ports: ChmpxPorts, template = DBAAS_TEMPLATE): Promise<ProvisionResult> {
  return new K2hr3Provisioner({ apiUrl, ...FAST }).provision(KEYSTONE_TOKEN, { tenant: 'demo', cluster, template, mode: 'server', ports });
}

/** Trove's prepare kwargs (taskmanager's defaults here) plus `extra`. */
export function prepareKwargs(guest: Guest, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { memory_mb: 512, packages: '', databases: [], users: [], mount_point: guest.files.mountPoint, ds_version: '1.0.14', ...extra };
}

/**
 * Waits until the conductor's status row of `guestId` says `description`. `failFast`: a
 * `failed to spawn` row is reported with its faults (as the last error when it times out).
 */
export function statusRowBecomes(
  env: ConformanceEnv,
  guestId: string,
  description: string,
  options: { timeoutMs?: number; label?: string; failFast?: boolean } = {},
): Promise<StatusRow> {
  return waitFor(`${options.label === undefined ? '' : `${options.label} `}status row ${description}`, async () => {
    const now = await env.harness.status(guestId);
    if (options.failFast === true && now?.status_description === 'failed to spawn') {
      throw new Error(`${options.label ?? guestId} failed to spawn: ${JSON.stringify(await env.harness.faults(guestId))}`);
    }
    return now?.status_description === description ? now : undefined;
  }, options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs });
}

/** Waits until the conductor recorded at least one instance_faults row for `guestId`. */
export function faultRows(env: ConformanceEnv, guestId: string, label?: string): Promise<FaultRow[]> {
  return waitFor(`${label === undefined ? '' : `${label}: `}an instance_faults row`, async () => {
    const rows = await env.harness.faults(guestId);
    return rows.length > 0 ? rows : undefined;
  });
}

/** Everything the agent wrote: parsed JSON lines and raw lines. */
export function agentOutput(agent: AgentProcess): string {
  return JSON.stringify(agent.lines) + agent.rawLines.join('\n');
}

export { isAlive as processAlive } from '../../unit/k2hdkc/processes/helpers';

/** The chmpx files and message queues `pid` holds open (killed, it cannot remove them itself). */
function heldLeftovers(pid: number): string[] {
  const held: string[] = [];
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (target.startsWith('/dev/mqueue/') || /\.(chmpx|k2h)$/.test(target)) held.push(target);
      else if (/^\/[^/]+\.[0-9a-f]{16}$/.test(target)) held.push(path.join('/dev/mqueue', target));
    }
  } catch {
    // gone already
  }
  return held;
}

/**
 * SIGKILLs the chmpx and k2hdkc whose pid files are in `runDir`: supervised daemons outlive the
 * agent (as on a VM), a test's must not. Stop the agent first, or its supervisor restarts them.
 * chmpx's shared memory files and queues, which a kill leaves behind, are removed as well.
 */
export function killDaemons(runDir: string | undefined): void {
  if (runDir === undefined || runDir === '') return;
  for (const name of ['chmpx', 'k2hdkc']) {
    const pidFile = path.join(runDir, `${name}.pid`);
    if (!existsSync(pidFile)) continue;
    const pid = Number(readFileSync(pidFile, 'utf8'));
    const leftovers = name === 'chmpx' ? heldLeftovers(pid) : [];
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    for (const file of leftovers) rmSync(file, { force: true });
  }
  // Nodes of one test share GROUP and CTLPORT on this host, so a starting chmpx may have renamed
  // another's file to *.bup; such copies are never in use.
  const ini = path.join(runDir, '..', 'k2hdkc.ini');
  const text = existsSync(ini) ? readFileSync(ini, 'utf8') : '';
  const group = /^GROUP\s*=\s*(\S+)/m.exec(text)?.[1];
  const ctlport = Number(/^SELFCTLPORT\s*=\s*(\d+)/m.exec(text)?.[1]);
  if (group !== undefined && Number.isInteger(ctlport)) {
    const dir = chmpxShmDir();
    for (const f of chmpxShmFiles(group, ctlport, dir).filter((n) => n.includes('.bup'))) rmSync(path.join(dir, f), { force: true });
  }
}
