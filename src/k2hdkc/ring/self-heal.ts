import type { Logger } from '../../log';
import { RepeatingTask } from '../../system/repeating-task';
import { CtlportClient } from '../ctlport/client';
import type { ChmpxStatus } from '../ctlport/status-word';

/** [SERVICE OUT][UP][n/a][Nothing][NoSuspend]: k2hdkc attached, nothing going on, yet out of service. */
export function isStuckOut(s: ChmpxStatus): boolean {
  return s.ring === 'SERVICE OUT' && s.live === 'UP' && s.action === 'n/a' && s.operate === 'Nothing' && !s.suspend;
}

export interface RingHealerOptions {
  readonly client: () => Promise<CtlportClient | null>;
  /** True when this node's k2hdkc runs (a stuck-out chmpx without it is a stopped node). */
  readonly k2hdkcRunning: () => Promise<boolean>;
  readonly intervalMs: number;
  /** SERVICEIN attempts per episode (an episode ends when the node is seen in service again). */
  readonly maxAttempts: number;
  readonly log: Logger;
}

/**
 * Self-heal (issue 10 item 1): real chmpx demotes members to [SERVICE OUT][UP] when rings
 * conflict and leaves them there; SERVICEIN sent to the node's own control port brings it back
 * (k2hdkc-observed.md). While the node runs, every interval: a stuck-out node whose k2hdkc runs
 * gets SERVICEIN, at most `maxAttempts` times until it is seen in service again. stop() (stop_db)
 * ends it first, so a scale-in is never undone.
 */
export class RingHealer {
  private attempts = 0;
  private gaveUp = false;
  private readonly loop: RepeatingTask;

  constructor(private readonly options: RingHealerOptions) {
    this.loop = new RepeatingTask(options.intervalMs, () => this.checkOnce(), (error) => options.log.warn({ err: error }, 'ring self-heal check failed'));
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** One check; returns what it did (for tests and the log). */
  async checkOnce(): Promise<'in-service' | 'serviced-in' | 'gave-up' | 'not-stuck' | 'no-answer'> {
    const client = await this.options.client();
    if (client === null) return 'no-answer';
    const self = await client.selfStatus().catch(() => undefined);
    if (self === undefined) return 'no-answer';
    const s = self.status;
    if (s.ring === 'SERVICE IN') {
      if (this.attempts > 0) this.options.log.info({ attempts: this.attempts }, 'node back in service');
      this.attempts = 0;
      this.gaveUp = false;
      return 'in-service';
    }
    if (!isStuckOut(s) || !(await this.options.k2hdkcRunning())) return 'not-stuck';
    if (this.attempts >= this.options.maxAttempts) {
      if (!this.gaveUp) this.options.log.error({ attempts: this.attempts, status: s.text }, 'node stays out of service after SERVICEIN; giving up until it is seen in service again (restart the node)');
      this.gaveUp = true;
      return 'gave-up';
    }
    this.attempts += 1;
    const reason = `chmpx is ${s.text} while its k2hdkc runs and no stop is in progress (a ring conflict demoted it, or it was serviced out by hand)`;
    const reply = await client.serviceIn().catch((error: unknown) => (error instanceof Error ? error.message : String(error)));
    this.options.log.warn({ attempt: this.attempts, maxAttempts: this.options.maxAttempts, reply }, `sent SERVICEIN: ${reason}`);
    return 'serviced-in';
  }
}
