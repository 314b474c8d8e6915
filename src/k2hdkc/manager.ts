import { promises as fs } from 'node:fs';
import { dirname } from 'node:path';
import { ProcessError } from '../errors';
import type { Logger } from '../log';
import { K2hr3Client } from '../k2hr3/client';
import type { ExtdataBootstrap } from '../k2hr3/extdata';
import type { K2hr3HttpOptions } from '../k2hr3/http';
import { roleToResourceYrn } from '../k2hr3/yrn';
import { bootstrapK2hr3, loadBootstrap, saveBootstrap, type BootstrapAuth } from './bootstrap';
import { CtlportClient } from './ctlport/client';
import { probeHealth, type NodeHealth } from './ctlport/health';
import type { NodeRole } from './ini/model';
import { parseIni } from './ini/parse';
import { substituteSelf } from './ini/substitute';
import { writeIniAtomically } from './ini/write';
import { selfEndpoint, sleep, stopNode, waitUntil, type SelfEndpoint } from './node-ops';
import type { NodeProcesses, WaitReady } from './processes/types';

export interface K2hdkcManagerOptions {
  /** Trove's instance id: the K2HR3 cuk and the INI's SELFCUK. */
  readonly guestId: string;
  readonly role: NodeRole;
  /** K2HR3 tag = chmpx NAME = CUSTOM_ID_SEED (spec §1.3.2). */
  readonly nodeName: string;
  readonly clusterName: string;
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
  readonly log: Logger;
}

/** What prepare needs of Trove's request (camelCase; the guest layer converts). */
export interface NodePrepareRequest {
  readonly devicePath: string | null;
  readonly mountPoint: string | null;
}

/**
 * One K2HDKC node's lifecycle (issue 3 item 5): K2HR3 bootstrap and registration, the INI,
 * chmpx and k2hdkc, and health. Knows nothing of Trove's RPC; the guest layer adapts it.
 */
export class K2hdkcManager {
  private readonly processes: NodeProcesses;
  private endpoint: SelfEndpoint | null = null;
  private crashed = false;

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
    const boot = await bootstrapK2hr3(
      { ...options, role: options.role, http: options.k2hr3, log: options.log },
      { ...auth, signal },
    );
    await saveBootstrap(options.stateDir, boot);
    await this.register(boot, signal);
    await this.refreshIni(boot, signal);
    await this.startAndWait(signal);
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

  /** Stops and starts both processes with the INI on disk, then waits for healthy. */
  async restart(signal?: AbortSignal): Promise<void> {
    const bounded = withTimeout(signal, this.options.prepareTimeoutMs);
    await this.requireIni();
    this.crashed = false;
    const state = await this.processes.state();
    if (state.role === null) await this.processes.start(this.options.role, bounded);
    else await this.processes.restart(bounded);
    await this.waitHealthy(bounded);
  }

  /**
   * Takes the node out of service and stops it, inside Trove's 15 s stop_db budget: SERVICEOUT
   * with the custom seed (servers), deregistration when asked, then k2hdkc and chmpx. Each
   * step before the stop is bounded and best-effort: the stop itself must happen.
   */
  async stopDb(options: { readonly deregister: boolean }): Promise<void> {
    const endpoint = await this.loadEndpoint();
    if (endpoint !== null && this.options.role === 'server') {
      await this.serviceOut(endpoint).catch((error: unknown) => this.options.log.warn({ err: error }, 'SERVICEOUT failed; stopping anyway'));
    }
    if (options.deregister) {
      await this.deregister().catch((error: unknown) => this.options.log.warn({ err: error }, 'K2HR3 deregistration failed; stopping anyway'));
    }
    await stopNode(this.processes);
    this.options.log.info({ deregistered: options.deregister }, 'node stopped');
  }

  /** After a flavor resize: refresh the INI from K2HR3 when possible, then start and wait for healthy. */
  async startDbWithConfChanges(signal?: AbortSignal): Promise<void> {
    const bounded = withTimeout(signal, this.options.prepareTimeoutMs);
    const boot = await loadBootstrap(this.options.stateDir);
    if (boot !== null) {
      // The registration and INI may have changed while the VM was down; a failure keeps the old INI.
      await this.register(boot, bounded)
        .then(() => this.refreshIni(boot, bounded))
        .catch((error: unknown) => this.options.log.warn({ err: error }, 'could not refresh the INI from K2HR3; starting with the one on disk'));
    }
    await this.startAndWait(bounded);
  }

  private async register(boot: ExtdataBootstrap, signal: AbortSignal): Promise<void> {
    await this.k2hr3Client(boot).registerHost(boot.roleYrn, boot.roleToken, { cuk: this.options.guestId, tag: this.options.nodeName }, signal);
    this.options.log.info({ role: boot.roleYrn, tag: this.options.nodeName }, 'registered in K2HR3');
  }

  /** Reads the expanded INI, fills in SELFCUK and writes it atomically (the previous file stays on any error). */
  private async refreshIni(boot: ExtdataBootstrap, signal: AbortSignal): Promise<void> {
    const text = await this.k2hr3Client(boot).readResource(roleToResourceYrn(boot.roleYrn), boot.roleToken, signal);
    const ini = substituteSelf(text, this.options.guestId);
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
      last = (await probeHealth(this.client(endpoint), this.options.role, { signal })).health;
      return last === 'healthy';
    });
    if (!reached) {
      throw new ProcessError(`The node did not become healthy within ${this.options.prepareTimeoutMs / 1000} s (last: ${last}); check the chmpx control port at ${endpoint.host}:${endpoint.port}.`);
    }
    this.options.log.info('node healthy');
  }

  /** SERVICEOUT host:ctlport:<custom seed> (spec §4.5, §8), then up to 3 s for [SERVICE OUT]. */
  private async serviceOut(endpoint: SelfEndpoint): Promise<void> {
    const client = this.client(endpoint, 1000);
    const reply = await client.serviceOut({ host: endpoint.name, ctlport: endpoint.port, id: endpoint.seed });
    this.options.log.info({ reply }, 'SERVICEOUT sent');
    await waitUntil(AbortSignal.timeout(3000), 100, async () => {
      const self = await client.selfStatus().catch(() => undefined);
      return self === undefined || self.status.ring !== 'SERVICE IN';
    });
  }

  private async deregister(): Promise<void> {
    const boot = await loadBootstrap(this.options.stateDir);
    if (boot === null) return;
    // One short attempt: stop_db has 15 s in all.
    const client = new K2hr3Client({ apiUrl: boot.apiUrl, ...this.options.k2hr3, attempts: 1, timeoutMs: 3000 });
    await client.deregisterHost(boot.roleYrn, { cuk: this.options.guestId });
    this.options.log.info({ role: boot.roleYrn }, 'deregistered from K2HR3');
  }

  private async waitCtlport(signal: AbortSignal): Promise<void> {
    const endpoint = await this.requireIni();
    const client = this.client(endpoint, 500);
    for (;;) {
      if (signal.aborted) throw signal.reason;
      if (await client.selfStatus(signal).then(() => true, () => false)) return;
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

/** `signal` (if any) combined with a deadline of `ms`. */
function withTimeout(signal: AbortSignal | undefined, ms: number): AbortSignal {
  const timeout = AbortSignal.timeout(ms);
  return signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
}
