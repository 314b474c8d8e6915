import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { CtlportError, ProcessError } from '../errors';
import type { Logger } from '../log';
import { K2hr3Client } from '../k2hr3/client';
import type { ExtdataBootstrap } from '../k2hr3/extdata';
import type { K2hr3HttpOptions } from '../k2hr3/http';
import { roleToResourceYrn } from '../k2hr3/yrn';
import { bootstrapK2hr3, loadBootstrap, saveBootstrap, type BootstrapAuth, type BootstrapOptions } from './bootstrap';
import { resolveClusterName } from './cluster-name';
import { CtlportClient } from './ctlport/client';
import { probeHealth, type NodeHealth } from './ctlport/health';
import type { ChmpxIni, NodeRole } from './ini/model';
import { parseIni } from './ini/parse';
import { substituteSelf } from './ini/substitute';
import { writeIniAtomically } from './ini/write';
import { writeFileAtomic } from '../system/atomic-file';
import { selfEndpoint, sleep, stopNode, waitUntil, type SelfEndpoint } from './node-ops';
import type { NodeProcesses, WaitReady } from './processes/types';
import { IniPoller } from './reconfigure';
import { clearStopped, markStopped, readStopped, startupAction, type StartupAction } from './stopped-state';

export interface K2hdkcManagerOptions {
  /** Trove's instance id: the K2HR3 cuk and the INI's SELFCUK. */
  readonly guestId: string;
  readonly role: NodeRole;
  /** K2HR3 tag = chmpx NAME = CUSTOM_ID_SEED (spec §1.3.2). */
  readonly nodeName: string;
  /** [k2hdkc] cluster_name; null = from the configuration, the cluster id or guestId (cluster-name.ts). */
  readonly clusterName: string | null;
  readonly extdataUrl: string | null;
  readonly k2hr3ApiUrl: string | null;
  readonly template: (() => Promise<string>) | null;
  /** Timeouts, retries and the source address of every K2HR3 request. */
  readonly k2hr3: K2hr3HttpOptions;
  readonly iniPath: string;
  /** Where the control port listens; null = the node's NAME from the INI. */
  readonly ctlportHost: string | null;
  /** Holds the saved K2HR3 bootstrap. */
  readonly stateDir: string;
  /** Builds the process manager; `waitReady` probes this manager's control port. */
  readonly createProcesses: (waitReady: WaitReady) => NodeProcesses;
  /** Formats and mounts the data volume; null = the agent does not own the disk. */
  readonly volume: { prepare(device: string, mountPoint: string): Promise<void> } | null;
  readonly prepareTimeoutMs: number;
  readonly healthPollMs: number;
  /** Live reconfiguration: mean ms between K2HR3 polls ([k2hdkc] k2hr3_poll_seconds); 0 = off. */
  readonly k2hr3PollMs?: number;
  /** Per-node INI keys (Trove configuration overrides) set on the text K2HR3 serves; absent = as served. */
  readonly iniOverlay?: (served: string) => Promise<string>;
  readonly log: Logger;
}

/** What prepare needs of Trove's request (camelCase; the guest layer converts). */
export interface NodePrepareRequest {
  readonly devicePath: string | null;
  readonly mountPoint: string | null;
  /**
   * Runs once the INI is in place and before chmpx/k2hdkc start (a backup restore into the data
   * file it names); a failure fails prepare with nothing started.
   */
  readonly beforeStart?: (ini: ChmpxIni) => Promise<void>;
  /** Cluster name, extdata URL and ports from Trove's configuration; they win over [k2hdkc] options. */
  readonly bootstrap?: Partial<Pick<BootstrapOptions, 'clusterName' | 'extdataUrl' | 'ports'>>;
  /** Id of the multi-node cluster the orchestrator created this node for (its members share it); null/absent = a single node. */
  readonly clusterId?: string | null;
}

/**
 * One K2HDKC node's lifecycle (issue 3 item 5): K2HR3 bootstrap and registration, the INI,
 * chmpx and k2hdkc, and health. Knows nothing of Trove's RPC; the guest layer adapts it.
 */
export class K2hdkcManager {
  private readonly processes: NodeProcesses;
  private endpoint: SelfEndpoint | null = null;
  private crashed = false;
  /** Follows K2HR3 while the node runs (issue 3 item 6). */
  private poller: IniPoller | null = null;

  constructor(private readonly options: K2hdkcManagerOptions) {
    this.processes = options.createProcesses((signal) => this.waitCtlport(signal));
    this.processes.onEvent((event) => {
      if (event.type !== 'crash-loop') return;
      // Nobody restarts it any more; only an explicit start clears this (restart, start_db...).
      this.crashed = true;
      options.log.error({ process: event.process }, 'process is crash-looping; reporting crashed');
    });
  }

  /** Volume, K2HR3 bootstrap, registration, INI, processes, then waits for healthy. Throws the first failure. */
  async prepare(request: NodePrepareRequest, auth: BootstrapAuth): Promise<void> {
    const { options } = this;
    const signal = withTimeout(auth.signal, options.prepareTimeoutMs);
    if (options.volume !== null && request.devicePath !== null && request.mountPoint !== null) {
      await options.volume.prepare(request.devicePath, request.mountPoint);
    }
    const clusterName = resolveClusterName({
      configured: request.bootstrap?.clusterName,
      option: options.clusterName,
      memberOf: request.clusterId ?? null,
      instanceId: options.guestId,
    });
    const boot = await bootstrapK2hr3(
      { ...options, ...request.bootstrap, clusterName, role: options.role, http: options.k2hr3, log: options.log },
      { ...auth, signal },
    );
    await saveBootstrap(options.stateDir, boot);
    await this.register(boot, signal);
    await this.refreshIni(boot, signal);
    if (request.beforeStart !== undefined) {
      await request.beforeStart(parseIni(await fs.readFile(this.options.iniPath, 'utf8')));
    }
    await this.startAndWait(signal);
    // A prepare again after a stop (rebuild) leaves nothing of that stop behind.
    await clearStopped(this.options.stateDir);
    this.follow(boot);
  }

  /** Health right now; 'crashed' once the process manager gave up on a crash loop. */
  async status(signal?: AbortSignal): Promise<NodeHealth> {
    if (this.crashed) return 'crashed';
    const endpoint = await this.loadEndpoint();
    if (endpoint === null) return 'shutdown';
    const state = await this.processes.state();
    const probe = await probeHealth(this.client(endpoint), this.options.role, {
      ...(signal ? { signal } : {}),
      ...(this.options.role === 'server' && state.role !== null ? { k2hdkcRunning: state.k2hdkc === 'running' } : {}),
    });
    return probe.health;
  }

  /**
   * Stops and starts both processes, then waits for healthy. A node stop_db took out of the
   * cluster registers in K2HR3 again and refreshes its INI first (a failure there fails the
   * restart: an unregistered node is in no other member's INI); otherwise the INI on disk.
   */
  async restart(signal?: AbortSignal): Promise<void> {
    const bounded = withTimeout(signal, this.options.prepareTimeoutMs);
    await this.requireIni();
    const boot = await loadBootstrap(this.options.stateDir);
    const stopped = await readStopped(this.options.stateDir);
    if (stopped?.deregistered === true && boot !== null) await this.rejoin(boot, bounded);
    else await this.reapplyOverlay();
    this.crashed = false;
    const state = await this.processes.state();
    if (state.role === null) await this.processes.start(this.options.role, bounded);
    else await this.processes.restart(bounded);
    await this.waitHealthy(bounded);
    await clearStopped(this.options.stateDir);
    if (boot !== null) this.follow(boot);
  }

  /**
   * Takes the node out of the cluster and stops it, inside Trove's 15 s stop_db budget:
   * SERVICEOUT with the custom seed (servers), K2HR3 deregistration (the ring already excludes
   * the node; left registered it would stay in every member's INI, for good after a delete),
   * then k2hdkc and chmpx. Each step before the stop is bounded and best-effort: the stop itself
   * must happen. The stopped-state marker says at the next agent start whether to start again
   * (`doNotStartOnReboot` false) or stay down; restart / start_db_with_conf_changes rejoin.
   * `deregister: false` keeps the registration (an internal stop immediately followed by restart).
   */
  async stopDb(options: { readonly doNotStartOnReboot?: boolean; readonly deregister?: boolean } = {}): Promise<void> {
    const deregister = options.deregister ?? true;
    const doNotStartOnReboot = options.doNotStartOnReboot ?? false;
    // What is left after the reserves is the wait for [SERVICE OUT].
    const waitUntilMs = Date.now() + STOP_DB_BUDGET_MS - STOP_RESERVE_MS - (deregister ? DEREGISTER_TIMEOUT_MS : 0);
    // A stopped (or leaving) node must not rewrite its INI any more.
    await this.stopFollowing();
    // First: whatever happens next, a later agent start must not take this node for a running one.
    await markStopped(this.options.stateDir, { doNotStartOnReboot, deregistered: deregister }).catch((error: unknown) =>
      this.options.log.error({ err: error }, 'could not record the stop; an agent restart will treat the node as never stopped'),
    );
    const endpoint = await this.loadEndpoint();
    if (endpoint !== null && this.options.role === 'server') {
      await this.serviceOut(endpoint, waitUntilMs).catch((error: unknown) => this.options.log.warn({ err: error }, 'SERVICEOUT failed; stopping anyway'));
    }
    if (deregister) {
      await this.deregister().catch((error: unknown) => this.options.log.warn({ err: error }, 'K2HR3 deregistration failed; stopping anyway'));
    }
    await stopNode(this.processes);
    this.options.log.info({ deregistered: deregister, doNotStartOnReboot }, 'node stopped');
  }

  /**
   * After a flavor resize: register again and refresh the INI from K2HR3, then start and wait
   * for healthy. Without a stop before (nothing deregistered it) a K2HR3 failure keeps the INI
   * on disk; after stop_db it fails the call, as restart does.
   */
  async startDbWithConfChanges(signal?: AbortSignal): Promise<void> {
    const bounded = withTimeout(signal, this.options.prepareTimeoutMs);
    const boot = await loadBootstrap(this.options.stateDir);
    if (boot !== null) await this.rejoinBeforeStart(boot, (await readStopped(this.options.stateDir))?.deregistered === true, bounded);
    await this.startAndWait(bounded);
    await clearStopped(this.options.stateDir);
    if (boot !== null) this.follow(boot);
  }

  /**
   * At agent start on a prepared node (after an agent restart or a VM reboot), brings the node
   * back as it was left (stopped-state.ts): follow K2HR3 when it runs; start it (register, INI,
   * chmpx/k2hdkc, healthy, follow) when it does not, unless stop_db asked it to stay down.
   * `onStarting` runs once it is decided to (re)join or start. Throws the first failure of a
   * start; returns what it did.
   */
  async resumeAtStart(signal?: AbortSignal, onStarting?: () => void): Promise<StartupAction> {
    const boot = await loadBootstrap(this.options.stateDir);
    const prepared = boot !== null && (await this.loadEndpoint()) !== null;
    const stopped = await readStopped(this.options.stateDir);
    const running = prepared && (await this.status(signal)) !== 'shutdown';
    const action = startupAction({ prepared, running, stopped });
    if (boot === null || action === 'none') return action;
    if (action === 'stay-stopped') {
      this.options.log.info({ stoppedAt: stopped?.stoppedAt }, 'node was stopped with do_not_start_on_reboot; it stays down until restart or start_db');
      return action;
    }
    if (action !== 'follow') {
      const bounded = withTimeout(signal, this.options.prepareTimeoutMs);
      this.options.log.info({ action, stoppedAt: stopped?.stoppedAt ?? null }, 'bringing the node back at agent start');
      onStarting?.();
      await this.rejoinBeforeStart(boot, stopped?.deregistered === true, bounded);
      if (action === 'start') await this.startAndWait(bounded);
      await clearStopped(this.options.stateDir);
    }
    this.follow(boot);
    return action;
  }

  /**
   * A node without Trove (a slave VM launched by cloud-init): bootstrap from extdata_url,
   * register, write the INI, start chmpx unless it already answers healthy (agent restarted
   * under a running node), wait for healthy, then follow K2HR3. Throws the first failure.
   */
  async startStandalone(signal?: AbortSignal): Promise<void> {
    const bounded = withTimeout(signal, this.options.prepareTimeoutMs);
    const clusterName = resolveClusterName({ option: this.options.clusterName, memberOf: null, instanceId: this.options.guestId });
    const boot = await bootstrapK2hr3(
      { ...this.options, clusterName, role: this.options.role, http: this.options.k2hr3, log: this.options.log },
      { keystoneToken: null, projectName: null, signal: bounded },
    );
    await saveBootstrap(this.options.stateDir, boot);
    await this.register(boot, bounded);
    await this.refreshIni(boot, bounded);
    if ((await this.status(bounded)) === 'healthy') this.options.log.info('chmpx already runs healthy; not starting it again');
    else await this.startAndWait(bounded);
    this.follow(boot);
  }

  /** Stops live reconfiguration (stop_db, agent shutdown); idempotent. */
  async stopFollowing(): Promise<void> {
    const poller = this.poller;
    this.poller = null;
    await poller?.stop();
  }

  /** Starts the K2HR3 poller for this bootstrap unless it runs already or polling is off. */
  private follow(boot: ExtdataBootstrap): void {
    const intervalMs = this.options.k2hr3PollMs ?? 0;
    if (intervalMs <= 0 || this.poller !== null) return;
    const resourceYrn = roleToResourceYrn(boot.roleYrn);
    // One attempt per poll: the next poll is the retry.
    const client = new K2hr3Client({ apiUrl: boot.apiUrl, ...this.options.k2hr3, attempts: 1, log: this.options.log });
    this.poller = new IniPoller({
      fetch: async (signal) => this.overlay(await client.readResource(resourceYrn, boot.roleToken, signal)),
      instanceId: this.options.guestId,
      iniPath: this.options.iniPath,
      role: this.options.role,
      intervalMs,
      log: this.options.log.child({ component: 'reconfigure' }),
    });
    this.poller.start();
  }

  /** SUSPENDMERGE / NOSUSPENDMERGE on this node's control port (ring-wide in chmpx). */
  async setMergeSuspended(suspended: boolean, signal?: AbortSignal): Promise<string> {
    const client = this.client(await this.requireIni());
    const reply = suspended ? await client.suspendMerge(signal) : await client.noSuspendMerge(signal);
    this.options.log.info({ suspended, reply }, 'chmpx automerge suspension set');
    return reply;
  }

  /**
   * Keeps what K2HR3 served (the base the overlay is applied to again on restart, so a removed
   * override goes back to the served value) and returns it with the overlay applied.
   */
  private async overlay(served: string): Promise<string> {
    if (this.options.iniOverlay === undefined) return served;
    const path = join(this.options.stateDir, SERVED_INI_FILE);
    if ((await fs.readFile(path, 'utf8').catch(() => undefined)) !== served) await writeFileAtomic(path, served, 0o640);
    return this.options.iniOverlay(served);
  }

  /** restart: the INI again from the last served text and the overrides now in force. */
  private async reapplyOverlay(): Promise<void> {
    if (this.options.iniOverlay === undefined) return;
    const served = await fs.readFile(join(this.options.stateDir, SERVED_INI_FILE), 'utf8').catch(() => undefined);
    if (served === undefined) return;
    const ini = substituteSelf(await this.options.iniOverlay(served), this.options.guestId);
    const { written } = await writeIniAtomically(this.options.iniPath, ini, { role: this.options.role });
    if (written) this.options.log.info({ iniPath: this.options.iniPath }, 'INI rewritten with the configuration overrides');
  }

  /**
   * rejoin before a start. After stop_db (`deregistered`) a K2HR3 failure fails the start: the
   * node would be in no other member's INI. Otherwise (a crash or power cut, still registered)
   * the INI on disk is good enough and the poller catches up later.
   */
  private async rejoinBeforeStart(boot: ExtdataBootstrap, deregistered: boolean, signal: AbortSignal): Promise<void> {
    if (deregistered) return this.rejoin(boot, signal);
    await this.rejoin(boot, signal).catch((error: unknown) => this.options.log.warn({ err: error }, 'could not refresh the INI from K2HR3; starting with the one on disk'));
  }

  /** Registers in K2HR3 again and rewrites the INI from what it serves (the node is back in every member's INI). */
  private async rejoin(boot: ExtdataBootstrap, signal: AbortSignal): Promise<void> {
    await this.register(boot, signal);
    await this.refreshIni(boot, signal);
  }

  private async register(boot: ExtdataBootstrap, signal: AbortSignal): Promise<void> {
    await this.k2hr3Client(boot).registerHost(boot.roleYrn, boot.roleToken, { cuk: this.options.guestId, tag: this.options.nodeName }, signal);
    this.options.log.info({ role: boot.roleYrn, tag: this.options.nodeName }, 'registered in K2HR3');
  }

  /** Reads the expanded INI, fills in SELFCUK and writes it atomically (the previous file stays on any error). */
  private async refreshIni(boot: ExtdataBootstrap, signal: AbortSignal): Promise<void> {
    const served = await this.k2hr3Client(boot).readResource(roleToResourceYrn(boot.roleYrn), boot.roleToken, signal);
    const ini = substituteSelf(await this.overlay(served), this.options.guestId);
    // The packages create /etc/antpickax; a bare image or a test directory may not have it.
    await fs.mkdir(dirname(this.options.iniPath), { recursive: true, mode: 0o755 });
    const { written } = await writeIniAtomically(this.options.iniPath, ini, { role: this.options.role });
    this.endpoint = selfEndpoint(parseIni(ini), this.options.guestId, this.options.ctlportHost);
    this.options.log.info({ iniPath: this.options.iniPath, written, ctlport: this.endpoint }, 'INI in place');
  }

  private async startAndWait(signal: AbortSignal): Promise<void> {
    await this.requireIni();
    this.crashed = false;
    await this.processes.start(this.options.role, signal);
    await this.waitHealthy(signal);
  }

  private async waitHealthy(signal: AbortSignal): Promise<void> {
    const endpoint = await this.requireIni();
    let last: NodeHealth = 'shutdown';
    const reached = await waitUntil(signal, this.options.healthPollMs, async () => {
      if (this.crashed) throw new ProcessError('chmpx or k2hdkc kept crashing while the node was starting; see their logs.');
      const probe = await probeHealth(this.client(endpoint), this.options.role, { signal });
      refusedOrFalse(probe.error);
      last = probe.health;
      return last === 'healthy';
    });
    if (!reached) {
      throw new ProcessError(`The node did not become healthy within ${this.options.prepareTimeoutMs / 1000} s (last: ${last}); check the chmpx control port at ${endpoint.host}:${endpoint.port}.`);
    }
    this.options.log.info('node healthy');
  }

  /** SERVICEOUT host:ctlport:<custom seed> (spec §4.5, §8), then until `waitUntilMs` (epoch ms) for [SERVICE OUT]. */
  private async serviceOut(endpoint: SelfEndpoint, waitUntilMs: number): Promise<void> {
    const client = this.client(endpoint, 1000);
    const reply = await client.serviceOut({ host: endpoint.name, ctlport: endpoint.port, id: endpoint.seed });
    const started = Date.now();
    const waitMs = Math.max(0, waitUntilMs - started);
    this.options.log.info({ reply, waitMs }, 'SERVICEOUT sent; waiting for [SERVICE OUT]');
    let ring = 'unknown';
    const out = await waitUntil(AbortSignal.timeout(waitMs), 100, async () => {
      const self = await client.selfStatus().catch(() => undefined);
      ring = self?.status.ring ?? 'no answer';
      return self === undefined || self.status.ring !== 'SERVICE IN';
    });
    if (out) this.options.log.info({ ring, ms: Date.now() - started }, 'node serviced out');
    // Stopping anyway: with AUTOMERGE the ring services a stopped node out (k2hdkc-observed.md).
    else this.options.log.warn({ ring, ms: Date.now() - started }, `node still [${ring}] after the ${waitMs} ms stop_db leaves for SERVICEOUT; stopping it without a completed scale-in`);
  }

  private async deregister(): Promise<void> {
    const boot = await loadBootstrap(this.options.stateDir);
    if (boot === null) return;
    // One short attempt: stop_db has 15 s in all.
    const client = new K2hr3Client({ apiUrl: boot.apiUrl, ...this.options.k2hr3, attempts: 1, timeoutMs: DEREGISTER_TIMEOUT_MS });
    await client.deregisterHost(boot.roleYrn, { cuk: this.options.guestId });
    this.options.log.info({ role: boot.roleYrn }, 'deregistered from K2HR3');
  }

  private async waitCtlport(signal: AbortSignal): Promise<void> {
    const endpoint = await this.requireIni();
    const client = this.client(endpoint, 500);
    for (;;) {
      if (signal.aborted) throw signal.reason;
      if (await client.selfStatus(signal).then(() => true, refusedOrFalse)) return;
      await sleep(Math.min(this.options.healthPollMs, 100), signal);
    }
  }

  private async requireIni(): Promise<SelfEndpoint> {
    const endpoint = await this.loadEndpoint();
    if (endpoint === null) throw new ProcessError(`There is no usable INI at ${this.options.iniPath}; the node has not been prepared.`);
    return endpoint;
  }

  /** The endpoint from the INI on disk (after an agent restart there is no other source). */
  private async loadEndpoint(): Promise<SelfEndpoint | null> {
    if (this.endpoint !== null) return this.endpoint;
    const text = await fs.readFile(this.options.iniPath, 'utf8').catch(() => null);
    if (text === null) return null;
    try {
      this.endpoint = selfEndpoint(parseIni(text), this.options.guestId, this.options.ctlportHost);
    } catch (error) {
      this.options.log.warn({ err: error }, 'the INI on disk has no entry for this node');
    }
    return this.endpoint;
  }

  private client(endpoint: SelfEndpoint, timeoutMs = 2000): CtlportClient {
    return new CtlportClient({ host: endpoint.host, port: endpoint.port, connectTimeoutMs: timeoutMs, readTimeoutMs: timeoutMs });
  }

  private k2hr3Client(boot: ExtdataBootstrap): K2hr3Client {
    return new K2hr3Client({ apiUrl: boot.apiUrl, ...this.options.k2hr3, log: this.options.log });
  }
}

/**
 * Trove gives stop_db agent_call_low_timeout (15 s by default) in all. Less 1 s for the RPC
 * itself, it is split: SERVICEOUT's reply (1 s), the wait for [SERVICE OUT] (what is left),
 * deregistration (one attempt) and the stop of k2hdkc and chmpx (observed 2-4 s).
 */
const STOP_DB_BUDGET_MS = 14_000;
/** The INI text as K2HR3 last served it, in stateDir (before SELFCUK substitution and overrides). */
const SERVED_INI_FILE = 'k2hr3-served.ini';
const DEREGISTER_TIMEOUT_MS = 3000;
const STOP_RESERVE_MS = 6000;

/**
 * chmpx answering `ERROR: ...` (or `Unknown command`) to SELFSTATUS will not become healthy by
 * waiting: rethrown so prepare fails at once naming the reply. Anything else (no answer yet) → false.
 */
function refusedOrFalse(error: unknown): false {
  if (error instanceof CtlportError && error.failure === 'rejected') throw error;
  return false;
}

/** `signal` (if any) combined with a deadline of `ms`. */
function withTimeout(signal: AbortSignal | undefined, ms: number): AbortSignal {
  const timeout = AbortSignal.timeout(ms);
  return signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
}
