import { promises as fs } from 'node:fs';
import type { Logger } from '../log';
import { diffMembership, type MemberSummary, type MembershipDiff } from './ini/diff';
import type { NodeRole } from './ini/model';
import { parseIni } from './ini/parse';
import { substituteSelf } from './ini/substitute';
import { writeIniAtomically } from './ini/write';

/**
 * Live reconfiguration (issue 3 item 6): the job k2hr3-get-resource does on a stock VM, done in
 * the agent. Every interval (with jitter, so a cluster's nodes do not hit K2HR3 in step) it reads
 * the node's expanded resource, fills in SELFCUK, validates and replaces the INI by rename.
 * chmpx follows the rename through inotify and updates its server and slave lists live, so no
 * process is restarted (k2hdkc-observed.md "Adding a third server"). A K2HR3 failure or an
 * invalid INI is logged and the previous file stays: chmpx exits on a broken INI.
 */

/** What one poll did. */
export type PollOutcome =
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'updated'; readonly diff: MembershipDiff }
  /** K2HR3 answered, but the INI was refused (invariants) or could not be written. */
  | { readonly kind: 'refused'; readonly error: Error }
  /** K2HR3 could not be read (HTTP error, timeout, garbage). */
  | { readonly kind: 'failed'; readonly error: Error };

export interface IniPollerOptions {
  /** Reads the node's expanded resource text (the INI with `__SELF_INSTANCE_ID__` still in it). */
  readonly fetch: (signal: AbortSignal) => Promise<string>;
  /** This guest's instance id: SELFCUK. */
  readonly instanceId: string;
  readonly iniPath: string;
  readonly role: NodeRole;
  /** Mean time between polls. */
  readonly intervalMs: number;
  /** Each delay is intervalMs × (1 ± jitter); default 0.2. */
  readonly jitter?: number;
  /** Longest a single poll may take; default the interval, at least 1 s. */
  readonly pollTimeoutMs?: number;
  /** Called after a new INI was written (not on unchanged or refused polls). */
  readonly onUpdated?: (text: string, diff: MembershipDiff) => void;
  readonly random?: () => number;
  readonly log: Logger;
}

/** A delay in [interval × (1 − jitter), interval × (1 + jitter)]; `random` returns [0, 1). */
export function jitteredDelay(intervalMs: number, jitter: number, random: () => number = Math.random): number {
  const spread = Math.min(Math.max(jitter, 0), 1);
  return Math.max(1, Math.round(intervalMs * (1 - spread + 2 * spread * random())));
}

/** A one-line summary of a membership change for the log, e.g. `+server 10.0.0.4:8021`. */
export function describeDiff(diff: MembershipDiff): string {
  const who = (m: MemberSummary): string => `${m.name ?? '?'}:${m.ctlport ?? '?'}`;
  const parts = [
    ...diff.addedServers.map((m) => `+server ${who(m)}`),
    ...diff.removedServers.map((m) => `-server ${who(m)}`),
    ...diff.addedSlaves.map((m) => `+slave ${who(m)}`),
    ...diff.removedSlaves.map((m) => `-slave ${who(m)}`),
  ];
  return parts.length === 0 ? 'no membership change' : parts.join(', ');
}

/** Polls K2HR3 and keeps the INI current; start() / stop(), or pollOnce() on its own. */
export class IniPoller {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private abort: AbortController | undefined;
  private active = false;

  constructor(private readonly options: IniPollerOptions) {}

  get started(): boolean {
    return this.active;
  }

  /**
   * Schedules polls until stop(); the first one after one (jittered) interval, or at once with
   * `immediate` (a member that just started: members waiting for it to list them start sooner).
   * Idempotent.
   */
  start(immediate = false): void {
    if (this.active) return;
    this.active = true;
    this.options.log.info({ intervalMs: this.options.intervalMs, iniPath: this.options.iniPath }, 'following the K2HR3 resource for membership changes');
    this.schedule(immediate ? 1 : undefined);
  }

  /** Stops polling; waits for a poll in flight (cancelled) so no write follows stop(). */
  async stop(): Promise<void> {
    if (!this.active) return;
    this.active = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.abort?.abort(new Error('poller stopped'));
    await this.running;
    this.options.log.info('stopped following the K2HR3 resource');
  }

  /** One poll: read, substitute, validate, write by rename when changed, log the diff. Never throws. */
  async pollOnce(signal?: AbortSignal): Promise<PollOutcome> {
    const { options } = this;
    const timeout = AbortSignal.timeout(options.pollTimeoutMs ?? Math.max(1000, options.intervalMs));
    const bounded = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
    let text: string;
    try {
      text = substituteSelf(await options.fetch(bounded), options.instanceId);
    } catch (error) {
      options.log.warn({ err: error }, 'live reconfiguration: could not read the K2HR3 resource; the previous INI is kept');
      return { kind: 'failed', error: error as Error };
    }
    if (signal?.aborted) return { kind: 'unchanged' };
    const previous = await fs.readFile(options.iniPath, 'utf8').catch(() => undefined);
    if (previous === text) return { kind: 'unchanged' };
    try {
      const { written } = await writeIniAtomically(options.iniPath, text, { role: options.role });
      if (!written) return { kind: 'unchanged' };
    } catch (error) {
      options.log.error({ err: error }, 'live reconfiguration refused: the new INI is not usable; the previous INI is kept');
      return { kind: 'refused', error: error as Error };
    }
    const diff = diffMembership(previous === undefined ? undefined : parseIni(previous), parseIni(text));
    options.log.info(
      {
        iniPath: options.iniPath,
        added: { servers: diff.addedServers, slaves: diff.addedSlaves },
        removed: { servers: diff.removedServers, slaves: diff.removedSlaves },
      },
      `INI updated from K2HR3: ${describeDiff(diff)}`,
    );
    options.onUpdated?.(text, diff);
    return { kind: 'updated', diff };
  }

  private schedule(firstDelayMs?: number): void {
    if (!this.active) return;
    const delay = firstDelayMs ?? jitteredDelay(this.options.intervalMs, this.options.jitter ?? 0.2, this.options.random);
    this.timer = setTimeout(() => {
      const abort = new AbortController();
      this.abort = abort;
      this.running = this.pollOnce(abort.signal).finally(() => {
        this.running = undefined;
        this.schedule();
      });
    }, delay);
    // The poller alone must not keep the process alive.
    this.timer.unref();
  }
}
