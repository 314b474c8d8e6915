import type { Logger } from '../../log';
import type { CtlportClient } from '../ctlport/client';
import type { ChmpxStatus } from '../ctlport/status-word';

/** [SERVICE IN][UP][ADD][Done]: a joiner whose share has been merged, waiting for the ring to complete the join. */
export function isJoinDone(s: ChmpxStatus): boolean {
  return s.ring === 'SERVICE IN' && s.live === 'UP' && s.action === 'ADD' && s.operate === 'Done';
}

export interface JoinCompleterOptions {
  /** How long the node may sit at [ADD][Done] before COMPMERGE, and the least gap between two. */
  readonly stallMs: number;
  readonly log: Logger;
  readonly now?: () => number;
}

/**
 * Completes a join that real chmpx leaves hanging. With AUTOMERGE on, a joiner passes
 * [ADD][Done] within a second when the ring is quiet; on a loaded host (seven nodes creating
 * their 285 MiB data files at once on two cores) real chmpx 1.0.113 left joiners at
 * 0x3121 [SERVICE IN][UP][ADD][Done] for minutes, the agent waiting for health and later members
 * waiting their turn behind it. COMPMERGE sent to the joiner's own control port brought it to
 * 0x21 within 1-4 s (both rings of the conformance ring test). Called on every health poll of a
 * starting server: COMPMERGE after `stallMs` at [ADD][Done], then at most every `stallMs`.
 */
export class JoinCompleter {
  private since: number | undefined;
  private lastSent: number | undefined;
  private readonly now: () => number;

  constructor(private readonly options: JoinCompleterOptions) {
    this.now = options.now ?? Date.now;
  }

  /** One look at the node's own status; returns true when it sent COMPMERGE. Never throws. */
  async check(client: CtlportClient, signal?: AbortSignal): Promise<boolean> {
    const self = await client.selfStatus(signal).catch(() => undefined);
    if (self === undefined || !isJoinDone(self.status)) {
      this.since = undefined;
      return false;
    }
    const now = this.now();
    this.since ??= now;
    if (now - this.since < this.options.stallMs) return false;
    if (this.lastSent !== undefined && now - this.lastSent < this.options.stallMs) return false;
    this.lastSent = now;
    const reply = await client.compMerge(signal).catch((error: unknown) => (error instanceof Error ? error.message : String(error)));
    this.options.log.warn({ status: self.status.text, stalledMs: now - this.since, reply }, 'sent COMPMERGE: the join stays at [ADD][Done], which real chmpx may never leave by itself');
    return true;
  }
}
