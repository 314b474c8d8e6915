import { GuestStateError } from '../../errors';
import type { Logger } from '../../log';
import type { ConductorApi } from '../../conductor/api';
import { STATUS, type ServiceStatus } from '../../conductor/statuses';
import type { CallContext } from '../../rpc/types';
import { markPrepareEnded, markPrepareStarted, readPrepareMarkers } from '../../system/prepare-markers';
import type { Datastore, PrepareRequest } from '../datastore/contract';

/** idle -> preparing -> prepared | failed; failed may prepare again, prepared may not. */
export type PrepareState = 'idle' | 'preparing' | 'prepared' | 'failed';

export interface PrepareControllerOptions {
  /** Holds the .guestagent.prepare.{start,end} markers. */
  readonly stateDir: string;
  readonly datastore: Datastore;
  readonly conductor: Pick<ConductorApi, 'heartbeat' | 'notifyEnd' | 'notifyExcInfo'>;
  /** The periodic heartbeat; started when prepare succeeds without cluster_config. */
  readonly heartbeat: { start(options?: { immediate?: boolean }): void };
  readonly log: Logger;
}

/**
 * The prepare flow of Trove's Manager._prepare / BaseDbStatus (spec §7.2):
 * begin (start marker, forced `building` heartbeat), the datastore's work, then end:
 * `failed to spawn` + notify_exc_info on error; `instance ready` for a cluster member;
 * otherwise the end marker, the datastore's real status, periodic heartbeats and notify_end.
 */
export class PrepareController {
  private readonly options: PrepareControllerOptions;
  private current: PrepareState = 'idle';

  constructor(options: PrepareControllerOptions) {
    this.options = options;
  }

  get state(): PrepareState {
    return this.current;
  }

  /**
   * Reads the markers left by an earlier run of the agent. A start marker without an end marker
   * means a prepare was cut short (the request is gone: oslo acks before dispatch), so `failed`.
   */
  async restore(): Promise<PrepareState> {
    const markers = await readPrepareMarkers(this.options.stateDir);
    this.current = markers === 'ended' ? 'prepared' : markers === 'started' ? 'failed' : 'idle';
    if (markers === 'started') this.options.log.warn('an earlier prepare did not finish; waiting for a new one');
    return this.current;
  }

  /**
   * Runs one prepare. Refused with GuestStateError, before touching anything, while one runs or
   * after one succeeded. Rejects with the datastore's error after reporting it.
   */
  async prepare(request: PrepareRequest, call: CallContext): Promise<void> {
    // Checked and set synchronously, so two prepares arriving together cannot both pass.
    if (this.current === 'preparing' || this.current === 'prepared') {
      throw new GuestStateError(
        this.current === 'preparing' ? 'A prepare is already running on this guest.' : 'This guest has already been prepared.',
      );
    }
    this.current = 'preparing';
    const { log } = this.options;
    log.info({ dsVersion: request.dsVersion, cluster: request.clusterConfig !== null }, 'prepare started');

    let failure: unknown = null;
    try {
      await markPrepareStarted(this.options.stateDir);
      await this.beat(STATUS.BUILDING);
      await this.options.datastore.prepare(request, call);
    } catch (error) {
      failure = error;
    }

    if (failure === null && request.clusterConfig !== null) {
      // A cluster member is only "ready"; the cluster strategy completes it later, and Trove
      // keeps it quiet (no end marker, no periodic status) until then.
      this.current = 'prepared';
      await this.beat(STATUS.INSTANCE_READY);
      log.info('prepare finished for a cluster member');
      await this.notify(() => this.options.conductor.notifyEnd(call.context));
      return;
    }
    if (failure === null) {
      try {
        await markPrepareEnded(this.options.stateDir);
      } catch (error) {
        failure = error;
      }
    }
    if (failure === null) {
      this.current = 'prepared';
      await this.beat(await this.actualStatus());
      this.options.heartbeat.start();
      log.info('prepare finished');
      await this.notify(() => this.options.conductor.notifyEnd(call.context));
      return;
    }

    this.current = 'failed';
    log.error({ err: failure }, 'prepare failed');
    await this.beat(STATUS.FAILED);
    await this.notify(() => this.options.conductor.notifyExcInfo(call.context, failure));
    throw failure;
  }

  /**
   * `cluster_complete` (the cluster strategy, once every member is `instance ready`): what a
   * plain prepare does at its end — end marker, the real status, periodic heartbeats. Refused
   * with GuestStateError unless a prepare succeeded; repeating it is harmless.
   */
  async completeCluster(): Promise<void> {
    if (this.current !== 'prepared') {
      throw new GuestStateError(`cluster_complete needs a prepared cluster member; this guest is ${this.current}.`);
    }
    await markPrepareEnded(this.options.stateDir);
    await this.beat(await this.actualStatus());
    this.options.heartbeat.start();
    this.options.log.info('cluster member completed');
  }

  private async actualStatus(): Promise<ServiceStatus> {
    try {
      return await this.options.datastore.status();
    } catch (error) {
      this.options.log.error({ err: error }, 'status check after prepare failed; reporting unknown');
      return STATUS.UNKNOWN;
    }
  }

  /** A lost status heartbeat is logged, not fatal: the periodic beat or the controller's timeout follows. */
  private async beat(status: ServiceStatus): Promise<void> {
    try {
      await this.options.conductor.heartbeat(status);
    } catch (error) {
      this.options.log.error({ err: error, status }, 'could not send prepare status heartbeat');
    }
  }

  private async notify(send: () => Promise<boolean>): Promise<void> {
    try {
      await send();
    } catch (error) {
      this.options.log.error({ err: error }, 'could not send prepare notification');
    }
  }
}
