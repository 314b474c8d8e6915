import { promises as fs } from 'node:fs';
import { dirname } from 'node:path';
import { CtlportError, ProcessError } from '../errors';
import { K2hr3Client } from '../k2hr3/client';
import type { ExtdataBootstrap } from '../k2hr3/extdata';
import { roleToResourceYrn } from '../k2hr3/yrn';
import { bootstrapK2hr3, loadBootstrap, saveBootstrap, type BootstrapAuth } from './bootstrap';
import { resolveClusterName, type ClusterNameSources } from './cluster-name';
import { CtlportClient } from './ctlport/client';
import { probeHealth, type NodeHealth } from './ctlport/health';
import { parseIni } from './ini/parse';
import { substituteSelf } from './ini/substitute';
import { writeIniAtomically } from './ini/write';
import { startK2hr3Poller } from './k2hr3-poller';
import type { K2hdkcManagerOptions, NodePrepareRequest } from './manager-options';
import { sleep } from '../system/sleep';
import { selfEndpoint, waitUntil, type SelfEndpoint } from './node-ops';
import type { NodeProcesses } from './processes/types';
import type { IniPoller } from './reconfigure';
import { ringMembers, type RingMember } from './ring/members';
import { checkRing } from './ring/ring-health';
import { JoinCompleter } from './ring/merge-complete';
import { isStuckOut, RingHealer } from './ring/self-heal';
import { SlaveViewHealer } from './ring/slave-view';
import { waitForTurn } from './ring/start-gate';
import { deregisterNode, serviceOut, serviceOutDeadline } from './scale-in';
import { overlayLastServed, overlayServed } from './served-ini';
import { clearStopped, markStopped, readStopped, startupAction, type StartupAction } from './stopped-state';

export type { K2hdkcManagerOptions, NodePrepareRequest } from './manager-options';

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
  /** Services the node in again when chmpx leaves it [SERVICE OUT][UP] (issue 10 item 1). */
  private healer: RingHealer | null = null;
  /** A slave: restarts its chmpx when it holds a serving server out of its view (ring/slave-view.ts). */
  private readonly slaveView: SlaveViewHealer | null;

  constructor(private readonly options: K2hdkcManagerOptions) {
    this.processes = options.createProcesses((signal) => this.waitCtlport(signal));
    this.slaveView = options.role === 'slave' ? this.createSlaveView() : null;
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
    const signal = this.bounded(auth.signal);
    if (options.volume !== null && request.devicePath !== null && request.mountPoint !== null) {
      await options.volume.prepare(request.devicePath, request.mountPoint);
    }
    const boot = await this.bootstrapAndJoin(
      { configured: request.bootstrap?.clusterName, memberOf: request.clusterId ?? null },
      request.bootstrap ?? {},
      { ...auth, signal },
    );
    if (request.beforeStart !== undefined) {
      await request.beforeStart(parseIni(await fs.readFile(options.iniPath, 'utf8')));
    }
    await this.startAndWait(signal);
    // A prepare again after a stop (rebuild) leaves nothing of that stop behind.
    await this.running(boot);
  }

  /**
   * Health right now; 'crashed' once the process manager gave up on a crash loop. A server is
   * `healthy` only in service in a ring that has every registered member in it (members that
   * are down excepted); `blocked` when it is [SERVICE OUT][UP] with k2hdkc running.
   */
  async status(signal?: AbortSignal): Promise<NodeHealth> {
    if (this.crashed) return 'crashed';
    const endpoint = await this.loadEndpoint();
    if (endpoint === null) return 'shutdown';
    const state = await this.processes.state();
    const k2hdkcRunning = this.options.role === 'server' && state.role !== null ? state.k2hdkc === 'running' : undefined;
    return this.nodeHealth(endpoint, signal, k2hdkcRunning);
  }

  /** probeHealth, then for a server the ring check; logs a change of reason once. */
  private async nodeHealth(endpoint: SelfEndpoint, signal: AbortSignal | undefined, k2hdkcRunning: boolean | undefined, strict = false): Promise<NodeHealth> {
    const probe = await probeHealth(this.client(endpoint), this.options.role, {
      ...(signal ? { signal } : {}),
      ...(k2hdkcRunning === undefined ? {} : { k2hdkcRunning }),
    });
    if (strict) refusedOrFalse(probe.error);
    if (this.options.role !== 'server' || probe.self === undefined) return probe.health;
    if (probe.health !== 'healthy') {
      return isStuckOut(probe.self.status) && k2hdkcRunning !== false ? this.unhealthy('blocked', `this node is ${probe.self.status.text}: out of service`) : probe.health;
    }
    const all = await this.client(endpoint).allStatus(signal).catch(() => undefined);
    if (all === undefined) return this.unhealthy('running', 'chmpx did not answer ALLSTATUS');
    const ring = await checkRing(all, await this.members(endpoint), (m) => this.hostOf(m, endpoint), signal);
    if (!ring.ok) return this.unhealthy('running', ring.why);
    this.lastUnhealthy = '';
    return 'healthy';
  }

  private lastUnhealthy = '';

  private unhealthy(health: NodeHealth, why: string): NodeHealth {
    if (why !== this.lastUnhealthy) this.options.log.info({ health }, `node not healthy: ${why}`);
    this.lastUnhealthy = why;
    return health;
  }

  /** The servers of the INI on disk, in registration order. */
  private async members(endpoint: SelfEndpoint): Promise<RingMember[]> {
    const text = await fs.readFile(this.options.iniPath, 'utf8').catch(() => '');
    return ringMembers(parseIni(text), { ctlport: endpoint.port, seed: endpoint.seed });
  }

  /** Where a member's control port answers: this node's own through ctlport_host, the others at their NAME. */
  private hostOf(m: RingMember, endpoint: SelfEndpoint): string {
    return m.isSelf ? endpoint.host : m.name;
  }

  /**
   * Stops and starts both processes (starts them when none runs), then waits for healthy. A node
   * stop_db took out of the cluster registers in K2HR3 again and refreshes its INI first (a
   * failure there fails the restart: an unregistered node is in no other member's INI);
   * otherwise the last served INI with the overrides now in force, or the INI on disk.
   */
  async restart(signal?: AbortSignal): Promise<void> {
    const bounded = this.bounded(signal);
    await this.requireIni();
    const boot = await loadBootstrap(this.options.stateDir);
    const stopped = await readStopped(this.options.stateDir);
    if (stopped?.deregistered === true && boot !== null) await this.join(boot, bounded);
    else await this.reapplyOverlay();
    await this.startAndWait(bounded, { restartRunning: true });
    await this.running(boot);
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
    const waitUntilMs = serviceOutDeadline(deregister);
    // A stopped (or leaving) node must not rewrite its INI any more.
    await this.stopFollowing();
    // First: whatever happens next, a later agent start must not take this node for a running one.
    await markStopped(this.options.stateDir, { doNotStartOnReboot, deregistered: deregister }).catch((error: unknown) =>
      this.options.log.error({ err: error }, 'could not record the stop; an agent restart will treat the node as never stopped'),
    );
    const endpoint = await this.loadEndpoint();
    if (endpoint !== null && this.options.role === 'server') {
      await serviceOut(endpoint, waitUntilMs, this.options.log).catch((error: unknown) => this.options.log.warn({ err: error }, 'SERVICEOUT failed; stopping anyway'));
    }
    if (deregister) {
      await deregisterNode(this.options.stateDir, this.options.guestId, this.options.k2hr3, this.options.log).catch((error: unknown) =>
        this.options.log.warn({ err: error }, 'K2HR3 deregistration failed; stopping anyway'),
      );
    }
    // A stop of a node never started is a no-op.
    await this.processes.stop();
    this.options.log.info({ deregistered: deregister, doNotStartOnReboot }, 'node stopped');
  }

  /**
   * After a flavor resize: register again and refresh the INI from K2HR3, then start and wait
   * for healthy. Without a stop before (nothing deregistered it) a K2HR3 failure keeps the INI
   * on disk; after stop_db it fails the call, as restart does.
   */
  async startDbWithConfChanges(signal?: AbortSignal): Promise<void> {
    const bounded = this.bounded(signal);
    const boot = await loadBootstrap(this.options.stateDir);
    if (boot !== null) await this.rejoinBeforeStart(boot, (await readStopped(this.options.stateDir))?.deregistered === true, bounded);
    await this.startAndWait(bounded);
    await this.running(boot);
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
    if (action === 'follow') {
      this.follow(boot);
      return action;
    }
    const bounded = this.bounded(signal);
    this.options.log.info({ action, stoppedAt: stopped?.stoppedAt ?? null }, 'bringing the node back at agent start');
    onStarting?.();
    await this.rejoinBeforeStart(boot, stopped?.deregistered === true, bounded);
    if (action === 'start') await this.startAndWait(bounded);
    await this.running(boot);
    return action;
  }

  /**
   * A node without Trove (a slave VM launched by cloud-init): bootstrap from extdata_url,
   * register, write the INI, start chmpx unless it already answers healthy (agent restarted
   * under a running node), wait for healthy, then follow K2HR3. Throws the first failure.
   */
  async startStandalone(signal?: AbortSignal): Promise<void> {
    const bounded = this.bounded(signal);
    const boot = await this.bootstrapAndJoin({ memberOf: null }, {}, { keystoneToken: null, projectName: null, signal: bounded });
    if ((await this.status(bounded)) === 'healthy') this.options.log.info('chmpx already runs healthy; not starting it again');
    else await this.startAndWait(bounded);
    this.follow(boot);
  }

  /** Stops live reconfiguration and the ring self-heal (stop_db, agent shutdown); idempotent. */
  async stopFollowing(): Promise<void> {
    const poller = this.poller;
    const healer = this.healer;
    this.poller = null;
    this.healer = null;
    await Promise.all([poller?.stop(), healer?.stop(), this.slaveView?.stop()]);
  }

  /** SUSPENDMERGE / NOSUSPENDMERGE on this node's control port (ring-wide in chmpx). */
  async setMergeSuspended(suspended: boolean, signal?: AbortSignal): Promise<string> {
    const client = this.client(await this.requireIni());
    const reply = suspended ? await client.suspendMerge(signal) : await client.noSuspendMerge(signal);
    this.options.log.info({ suspended, reply }, 'chmpx automerge suspension set');
    return reply;
  }

  private createSlaveView(): SlaveViewHealer {
    const ring = this.options.ring ?? {};
    return new SlaveViewHealer({
      view: async () => {
        const endpoint = await this.loadEndpoint();
        return endpoint === null ? null : { client: this.client(endpoint, 1000), members: await this.members(endpoint) };
      },
      host: (m) => m.name,
      // Bounded like a start: a chmpx that does not come back must not hold the check loop for good.
      restart: (signal) => this.processes.restart(this.bounded(signal)),
      graceMs: ring.slaveViewGraceMs ?? 3000,
      minGapMs: ring.slaveRestartGapMs ?? 10_000,
      intervalMs: ring.checkMs ?? 5000,
      log: this.options.log.child({ component: 'ring' }),
    });
  }

  /** Starts the ring self-heal of a server (a slave: the check of its view) unless it runs already. */
  private heal(): void {
    this.slaveView?.start();
    if (this.options.role !== 'server' || this.healer !== null) return;
    const ring = this.options.ring ?? {};
    this.healer = new RingHealer({
      client: async () => {
        const endpoint = await this.loadEndpoint();
        return endpoint === null ? null : this.client(endpoint, 1000);
      },
      k2hdkcRunning: async () => (await this.processes.state()).k2hdkc === 'running',
      intervalMs: ring.checkMs ?? 5000,
      maxAttempts: ring.healAttempts ?? 5,
      log: this.options.log.child({ component: 'ring' }),
    });
    this.healer.start();
  }

  /** Starts the K2HR3 poller for this bootstrap unless it runs already or polling is off. */
  private follow(boot: ExtdataBootstrap): void {
    this.heal();
    const { options } = this;
    const intervalMs = options.k2hr3PollMs ?? 0;
    if (intervalMs <= 0 || this.poller !== null) return;
    this.poller = startK2hr3Poller(boot, {
      http: options.k2hr3,
      instanceId: options.guestId,
      iniPath: options.iniPath,
      role: options.role,
      intervalMs,
      overlay: (served) => overlayServed(options.stateDir, served, options.iniOverlay),
      // Members registered while this one started wait for its INI to list them.
      immediate: true,
      log: options.log,
    });
  }

  /** The node runs again: forget the stop and follow K2HR3 (when there is a bootstrap to follow). */
  private async running(boot: ExtdataBootstrap | null): Promise<void> {
    await clearStopped(this.options.stateDir);
    if (boot !== null) this.follow(boot);
  }

  /** restart: the INI again from the last served text and the overrides now in force. */
  private async reapplyOverlay(): Promise<void> {
    const text = await overlayLastServed(this.options.stateDir, this.options.iniOverlay);
    if (text === null) return;
    const ini = substituteSelf(text, this.options.guestId);
    const { written } = await writeIniAtomically(this.options.iniPath, ini, { role: this.options.role });
    if (written) this.options.log.info({ iniPath: this.options.iniPath }, 'INI rewritten with the configuration overrides');
  }

  /** First K2HR3 bootstrap (prepare, a node without Trove): saved, then registered and the INI written. */
  private async bootstrapAndJoin(
    cluster: Pick<ClusterNameSources, 'configured' | 'memberOf'>,
    bootstrap: NonNullable<NodePrepareRequest['bootstrap']>,
    auth: BootstrapAuth & { readonly signal: AbortSignal },
  ): Promise<ExtdataBootstrap> {
    const { options } = this;
    const clusterName = resolveClusterName({ ...cluster, option: options.clusterName, instanceId: options.guestId });
    const boot = await bootstrapK2hr3({ ...options, ...bootstrap, clusterName, role: options.role, http: options.k2hr3, log: options.log }, auth);
    await saveBootstrap(options.stateDir, boot);
    await this.join(boot, auth.signal);
    return boot;
  }

  /**
   * rejoin before a start. After stop_db (`deregistered`) a K2HR3 failure fails the start: the
   * node would be in no other member's INI. Otherwise (a crash or power cut, still registered)
   * the INI on disk is good enough and the poller catches up later.
   */
  private async rejoinBeforeStart(boot: ExtdataBootstrap, deregistered: boolean, signal: AbortSignal): Promise<void> {
    if (deregistered) return this.join(boot, signal);
    await this.join(boot, signal).catch((error: unknown) => this.options.log.warn({ err: error }, 'could not refresh the INI from K2HR3; starting with the one on disk'));
  }

  /** Registers in K2HR3 and (re)writes the INI from what it serves: the node is in every member's INI. */
  private async join(boot: ExtdataBootstrap, signal: AbortSignal): Promise<void> {
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
    const ini = substituteSelf(await overlayServed(this.options.stateDir, served, this.options.iniOverlay), this.options.guestId);
    // The packages create /etc/antpickax; a bare image or a test directory may not have it.
    await fs.mkdir(dirname(this.options.iniPath), { recursive: true, mode: 0o755 });
    const { written } = await writeIniAtomically(this.options.iniPath, ini, { role: this.options.role });
    this.endpoint = selfEndpoint(parseIni(ini), this.options.guestId, this.options.ctlportHost);
    this.options.log.info({ iniPath: this.options.iniPath, written, ctlport: this.endpoint }, 'INI in place');
  }

  /**
   * Starts both processes (stops them first if `restartRunning` and they run) and waits for
   * healthy; clears a crash loop. A server starts only in its turn (ring/start-gate.ts), so the
   * cluster forms one ring whatever order its members start in.
   */
  private async startAndWait(signal: AbortSignal, { restartRunning = false } = {}): Promise<void> {
    const endpoint = await this.requireIni();
    this.crashed = false;
    if (restartRunning && (await this.processes.state()).role !== null) await this.processes.stop();
    if (this.options.role === 'server') await this.waitTurn(endpoint, signal);
    await this.processes.start(this.options.role, signal);
    await this.waitHealthy(signal);
  }

  private async waitTurn(endpoint: SelfEndpoint, signal: AbortSignal): Promise<void> {
    const boot = await loadBootstrap(this.options.stateDir);
    const pollMs = this.options.k2hr3PollMs ?? 0;
    await waitForTurn({
      members: () => this.members(endpoint),
      host: (m) => this.hostOf(m, endpoint),
      ...(boot === null || pollMs <= 0 ? {} : { refresh: (s: AbortSignal) => this.refreshIni(boot, s) }),
      refreshEveryMs: pollMs,
      pollMs: Math.max(this.options.healthPollMs, 250),
      graceMs: this.options.ring?.startGraceMs ?? 45_000,
      signal,
      log: this.options.log.child({ component: 'ring' }),
    });
  }

  private async waitHealthy(signal: AbortSignal): Promise<void> {
    const endpoint = await this.requireIni();
    let last: NodeHealth = 'shutdown';
    const joins = this.options.role === 'server' ? new JoinCompleter({ stallMs: this.options.ring?.joinStallMs ?? 5000, log: this.options.log.child({ component: 'ring' }) }) : null;
    const reached = await waitUntil(signal, this.options.healthPollMs, async () => {
      if (this.crashed) throw new ProcessError('chmpx or k2hdkc kept crashing while the node was starting; see their logs.');
      last = await this.nodeHealth(endpoint, signal, undefined, true);
      if (last !== 'healthy' && joins !== null) await joins.check(this.client(endpoint, 1000), signal);
      // A slave is ready once its chmpx reaches every server that serves (restarted when it does not).
      if (last === 'healthy' && this.slaveView !== null && (await this.slaveView.check(signal)) !== 'whole') last = 'running';
      return last === 'healthy';
    });
    if (!reached) {
      throw new ProcessError(`The node did not become healthy within ${this.options.prepareTimeoutMs / 1000} s (last: ${last}); check the chmpx control port at ${endpoint.host}:${endpoint.port}.`);
    }
    this.options.log.info('node healthy');
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

  /** `signal` (if any) combined with the prepare deadline. */
  private bounded(signal: AbortSignal | undefined): AbortSignal {
    const timeout = AbortSignal.timeout(this.options.prepareTimeoutMs);
    return signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
  }
}

/**
 * chmpx answering `ERROR: ...` (or `Unknown command`) to SELFSTATUS will not become healthy by
 * waiting: rethrown so prepare fails at once naming the reply. Anything else (no answer yet) → false.
 */
function refusedOrFalse(error: unknown): false {
  if (error instanceof CtlportError && error.failure === 'rejected') throw error;
  return false;
}
