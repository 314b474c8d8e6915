import { STATUS, type ServiceStatus } from '../../conductor/statuses';
import type { Logger } from '../../log';
import type { K2hdkcManager } from '../../k2hdkc/manager';
import type { NodeHealth } from '../../k2hdkc/ctlport/health';
import type { ChmpxIni } from '../../k2hdkc/ini/model';
import { InvalidArgumentsError, NotSupportedError } from '../../errors';
import type { CallContext, RequestContext } from '../../rpc/types';
import { BaseDatastore } from './base';
import type { Datastore, NodeOperations, PrepareRequest } from './contract';
import { PrepareGuard } from '../prepare/guard';
import type { NodeConfiguration } from '../../k2hdkc/configuration';
import type { BootstrapAuth } from '../../k2hdkc/bootstrap';

export interface K2hdkcDatastoreOptions {
  readonly manager: Pick<K2hdkcManager, 'prepare' | 'status' | 'restart' | 'stopDb' | 'startDbWithConfChanges'> &
    Partial<Pick<K2hdkcManager, 'resumeAtStart' | 'stopFollowing' | 'startStandalone'>>;
  /** The data directory and config_contents handling every datastore shares. */
  readonly base: BaseDatastore;
  /** Restores prepare's backup_info into the data file the INI names, before the node starts. */
  readonly restore?: (backupInfo: Readonly<Record<string, unknown>>, call: CallContext, ini: ChmpxIni) => Promise<void>;
  /** Trove's configuration (config_contents, overrides): validated at prepare, feeds the K2HR3 bootstrap. */
  readonly configuration?: Pick<NodeConfiguration, 'prepareSettings'>;
  /**
   * The project name of the user's token, asked of Keystone (src/keystone/token-project.ts): Trove's
   * context carries only the project id, and self-provisioning needs the name as the K2HR3 tenant.
   */
  readonly tokenProjectName?: (keystoneToken: string, context: RequestContext, signal?: AbortSignal) => Promise<string>;
  readonly log: Logger;
}

/** How long stop_db waits for an aborted prepare to end before stopping anyway. */
const PREPARE_ABORT_WAIT_MS = 3000;

const HEALTH_TO_STATUS: Readonly<Record<NodeHealth, ServiceStatus>> = {
  healthy: STATUS.HEALTHY,
  running: STATUS.RUNNING,
  // Up with k2hdkc attached but out of service ([SERVICE OUT][UP]): not serving, self-heal at work.
  blocked: STATUS.BLOCKED,
  shutdown: STATUS.SHUTDOWN,
  crashed: STATUS.CRASHED,
};

/**
 * Trove's view of the K2HDKC manager: the Datastore the prepare controller drives, plus the
 * node operations. The user's Keystone token and project come from the request context and go
 * to the manager only (self-provisioning); they are never logged.
 */
export class K2hdkcDatastore implements Datastore, NodeOperations {
  /** Set while restart runs, so heartbeats say `restarting` instead of a passing `shutdown`. */
  private restarting = false;
  /** Node operations arriving while prepare runs are refused, or abort it (stop_db). */
  readonly guard = new PrepareGuard();
  /** The node being brought back at agent start (resume); node operations wait for it, stop_db aborts it. */
  private resuming: { readonly settled: Promise<void>; readonly controller: AbortController } | null = null;
  /** Set while resume starts the node (heartbeats say `restarting`). */
  private startingAtBoot = false;

  constructor(private readonly options: K2hdkcDatastoreOptions) {}

  async prepare(request: PrepareRequest, call: CallContext): Promise<void> {
    await this.guard.runPrepare(call.signal, async (signal) => {
      const { restore } = this.options;
      const backupInfo = request.backupInfo;
      if (backupInfo !== null && restore === undefined) throw new NotSupportedError('restoring a backup (no restore configured)');
      // Before anything is registered or started: a bad value fails prepare naming it.
      const bootstrap = await this.options.configuration?.prepareSettings(request.configContents, request.overrides);
      await this.options.manager.prepare(
        {
          devicePath: request.devicePath,
          mountPoint: request.mountPoint,
          ...(bootstrap === undefined ? {} : { bootstrap }),
          clusterId: clusterIdOf(request.clusterConfig),
          ...(backupInfo !== null && restore !== undefined ? { beforeStart: (ini: ChmpxIni) => restore(backupInfo, call, ini) } : {}),
        },
        { ...authFrom(call.context, this.options.tokenProjectName), signal },
      );
      // After the volume is mounted: the directory check and the saved config_contents.
      await this.options.base.prepare(request, call);
    });
  }

  async status(): Promise<ServiceStatus> {
    if (this.restarting || this.startingAtBoot) return STATUS.RESTARTING;
    return HEALTH_TO_STATUS[await this.options.manager.status()];
  }

  async restart(call: CallContext): Promise<void> {
    this.guard.refuseDuringPrepare('restart');
    this.restarting = true;
    try {
      // Trove's reboot sends restart once the VM is up, while resume may still be starting the node.
      await this.resuming?.settled;
      await this.options.manager.restart(call.signal);
    } finally {
      this.restarting = false;
    }
  }

  /** Heartbeats say `restarting` while `run` stops and starts the node (upgrade; Trove rejects `upgrading`). */
  async whileRestarting<T>(run: () => Promise<T>): Promise<T> {
    this.guard.refuseDuringPrepare('upgrade');
    this.restarting = true;
    try {
      return await run();
    } finally {
      this.restarting = false;
    }
  }

  async stopDb(options: { readonly doNotStartOnReboot: boolean }, _call: CallContext): Promise<void> {
    // Within stop_db's 15 s: a prepare (or a start at agent start) cancels its K2HR3 requests and process start at once.
    const aborted = await this.guard.abortPrepare('stop_db', PREPARE_ABORT_WAIT_MS);
    if (aborted !== 'none') this.options.log.warn({ prepare: aborted }, 'stop_db arrived during prepare; prepare aborted');
    await this.abortResume();
    await this.options.manager.stopDb({ doNotStartOnReboot: options.doNotStartOnReboot });
  }

  /**
   * Agent start on a prepared guest: bring the node back as stop_db left it (follow K2HR3, or
   * start it again after a reboot; see k2hdkc/stopped-state.ts). Resolves once that is decided;
   * a start goes on in the background (heartbeats say `restarting`) and `onStarted` runs once
   * it reached healthy (a fresh heartbeat: Trove's reboot waits for `healthy`).
   */
  resume(onStarted: () => Promise<unknown>): Promise<void> {
    const resumeAtStart = this.options.manager.resumeAtStart;
    if (resumeAtStart === undefined || this.resuming !== null) return Promise.resolve();
    const controller = new AbortController();
    let decided: () => void = () => undefined;
    const decision = new Promise<void>((resolve) => (decided = resolve));
    const settled = (async () => {
      try {
        const action = await resumeAtStart.call(this.options.manager, controller.signal, () => {
          this.startingAtBoot = true;
          decided();
        });
        if (action === 'follow') this.options.log.info('live reconfiguration resumed');
        if (action === 'start' || action === 'rejoin') {
          this.startingAtBoot = false;
          this.options.log.info({ action }, 'node started again at agent start');
          await onStarted();
        }
      } catch (error) {
        if (controller.signal.aborted) this.options.log.warn('starting the node at agent start was aborted (stop_db or agent shutdown)');
        else this.options.log.error({ err: error }, 'could not start the node at agent start; restart or start_db_with_conf_changes retries');
      } finally {
        this.startingAtBoot = false;
        this.resuming = null;
        decided();
      }
    })();
    this.resuming = { settled, controller };
    return decision;
  }

  /** Cancels a start at agent start and waits (bounded) for it to wind down. */
  private async abortResume(): Promise<void> {
    const resuming = this.resuming;
    if (resuming === null) return;
    resuming.controller.abort(new Error('aborted'));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([resuming.settled, new Promise<void>((resolve) => (timer = setTimeout(resolve, PREPARE_ABORT_WAIT_MS)))]);
    clearTimeout(timer);
  }

  /** A node without Trove (src/standalone.ts): bootstrap, INI, start, follow K2HR3. */
  async startStandalone(signal?: AbortSignal): Promise<void> {
    const start = this.options.manager.startStandalone;
    if (start === undefined) throw new NotSupportedError('standalone mode (this manager cannot run without Trove)');
    await start.call(this.options.manager, signal);
  }

  /** Agent shutdown: stop following K2HR3; chmpx and k2hdkc keep running. */
  async close(): Promise<void> {
    await this.abortResume();
    await this.options.manager.stopFollowing?.();
  }

  async startDbWithConfChanges(configContents: string | null, call: CallContext): Promise<void> {
    this.guard.refuseDuringPrepare('start_db_with_conf_changes');
    if (configContents !== null) await this.options.base.saveConfig(configContents);
    await this.resuming?.settled;
    await this.options.manager.startDbWithConfChanges(call.signal);
  }
}

/**
 * cluster_config.id: Trove's cluster id, the same for every member of one cluster (spec
 * trove-datastore.md §3.2); null for a single instance. The manager names the K2HR3 cluster
 * after it when nothing else names one.
 */
function clusterIdOf(clusterConfig: PrepareRequest['clusterConfig']): string | null {
  if (clusterConfig === null) return null;
  const id = clusterConfig['id'];
  if (typeof id !== 'string' || id === '') throw new InvalidArgumentsError('prepare: cluster_config has no cluster id (a string "id")');
  return id;
}

/**
 * The Keystone token and project name of a Trove request context (oslo.context's to_dict keys).
 * Trove 18's context has no project name; then the bootstrap asks Keystone, if it self-provisions.
 */
function authFrom(context: RequestContext, tokenProjectName: K2hdkcDatastoreOptions['tokenProjectName']): BootstrapAuth {
  const text = (key: string): string | null => {
    const value = context[key];
    return typeof value === 'string' && value !== '' ? value : null;
  };
  const projectName = text('project_name') ?? text('tenant_name');
  return {
    keystoneToken: text('auth_token'),
    projectName,
    ...(projectName === null && tokenProjectName !== undefined
      ? { lookupProjectName: (token: string, signal?: AbortSignal) => tokenProjectName(token, context, signal) }
      : {}),
  };
}
