import { isOwned } from './ownership';
import { parseTroveTime, type TroveBackup } from './trove-schemas';

/** Retention of one schedule: keep the newest `keepLast` and/or nothing older than `maxAgeMs`. */
export interface RetentionPolicy {
  readonly schedule: string;
  readonly prefix: string;
  readonly keepLast: number | undefined;
  readonly maxAgeMs: number | undefined;
}

/**
 * Picks the backups to delete, oldest first. Only COMPLETED backups this schedule made are
 * candidates: running ones cannot be deleted (Trove answers 422), FAILED ones are left for an
 * operator to inspect, and a user's backups are never touched. The newest completed backup is
 * never removed by age alone, so a schedule that keeps failing does not erase the last good copy.
 */
export function selectForDeletion(backups: readonly TroveBackup[], policy: RetentionPolicy, nowMs: number): TroveBackup[] {
  const ours = backups
    .filter((b) => b.status === 'COMPLETED' && isOwned(b, policy.schedule, policy.prefix))
    .map((b) => ({ b, at: parseTroveTime(b.created) }))
    // Newest first; ties broken by id so the choice does not depend on the list order.
    .sort((x, y) => y.at - x.at || (x.b.id < y.b.id ? 1 : -1));
  const doomed = ours.filter(({ at }, rank) => {
    if (policy.keepLast !== undefined && rank >= policy.keepLast) return true;
    return policy.maxAgeMs !== undefined && rank > 0 && nowMs - at > policy.maxAgeMs;
  });
  return doomed.reverse().map(({ b }) => b);
}
