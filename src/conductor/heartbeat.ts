import type { Logger } from '../log';
import { readPrepareMarkers } from '../system/prepare-markers';
import { STATUS, type ServiceStatus } from './statuses';

export interface HeartbeatLoopOptions {
  /** Usually ConductorApi; rejects when the cast could not be published. */
  readonly sender: { heartbeat(status: ServiceStatus): Promise<void> };
  /** The datastore's current status, asked before every beat. */
  readonly statusProvider: () => Promise<ServiceStatus>;
  /** report_interval in ms (Trove default 30 s; the controller expires a guest after 90 s). */
  readonly intervalMs: number;
  /** Holds `.guestagent.prepare.end`, which decides whether beating may start after a restart. */
  readonly stateDir: string;
  readonly log: Logger;
}

/**
 * The periodic `heartbeat` cast (Trove's update_status periodic task, spec §7.3). Like the Python
 * guest it never beats before prepare has ended: the prepare state machine calls start() when it
 * succeeds, and the agent calls startIfPrepared() at boot so a rebooted guest resumes beating.
 * A failed send is logged and simply retried on the next tick.
 */
export class HeartbeatLoop {
  private readonly options: HeartbeatLoopOptions;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<boolean> | null = null;
  private started = false;

  constructor(options: HeartbeatLoopOptions) {
    if (!(options.intervalMs > 0)) throw new RangeError('heartbeat interval must be positive');
    this.options = options;
  }

  get running(): boolean {
    return this.started;
  }

  /** Starts beating every intervalMs (idempotent); `immediate` sends the first beat now. */
  start(options: { immediate?: boolean } = {}): void {
    if (this.started) return;
    this.started = true;
    this.options.log.info({ intervalMs: this.options.intervalMs }, 'periodic heartbeat started');
    if (options.immediate === true) {
      void this.runTick();
    } else {
      this.schedule();
    }
  }

  /** At boot: starts (beating at once) only when the end-of-prepare marker exists. */
  async startIfPrepared(): Promise<boolean> {
    if ((await readPrepareMarkers(this.options.stateDir)) !== 'ended') {
      this.options.log.info('prepare has not completed; no heartbeat until it does');
      return false;
    }
    this.start({ immediate: true });
    return true;
  }

  /** Sends one heartbeat now; resolves true when it was published. Never rejects. */
  tick(): Promise<boolean> {
    // One beat at a time: a slow broker must not pile up casts whose `sent` order differs from
    // their publish order.
    if (this.inFlight !== null) return this.inFlight;
    this.inFlight = this.beat().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  /**
   * Sends a fresh heartbeat once any beat in progress is done: that one's status may be older
   * than what just happened (restart replies after this), and it must not land last. Never rejects.
   */
  async tickFresh(): Promise<boolean> {
    while (this.inFlight !== null) await this.inFlight;
    return this.tick();
  }

  /** Stops the timer and waits for a beat in progress. */
  async stop(): Promise<void> {
    this.started = false;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.inFlight !== null) await this.inFlight;
  }

  private async runTick(): Promise<void> {
    await this.tick();
    this.schedule();
  }

  private schedule(): void {
    if (!this.started || this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.runTick();
    }, this.options.intervalMs);
    // The AMQP connection keeps the process alive; the heartbeat timer must not on its own.
    this.timer.unref();
  }

  private async beat(): Promise<boolean> {
    const { log } = this.options;
    let status: ServiceStatus;
    try {
      status = await this.options.statusProvider();
    } catch (error) {
      // Silence would turn into "guestagent error" after 90 s anyway; `unknown` says the same
      // thing sooner and keeps the instance's liveness row fresh.
      log.error({ err: error }, 'status check failed; reporting unknown');
      status = STATUS.UNKNOWN;
    }
    try {
      await this.options.sender.heartbeat(status);
      return true;
    } catch (error) {
      log.warn({ err: error, status }, 'heartbeat could not be sent; retrying next interval');
      return false;
    }
  }
}
