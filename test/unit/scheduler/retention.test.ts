import { describe, expect, it } from 'vitest';
import { ownerMarker } from '../../../src/scheduler/ownership';
import { selectForDeletion, type RetentionPolicy } from '../../../src/scheduler/retention';
import type { TroveBackup } from '../../../src/scheduler/trove-schemas';

const DAY = 86400_000;
const NOW = Date.UTC(2026, 10, 27, 12, 0, 0);
const INSTANCE = '0b5ac4a1-3c1e-4f2a-9a55-1d2e3f4a5b6c';

/** A backup as Trove lists it, `daysAgo` old (created in Trove's naive-UTC format). */
function backup(id: string, daysAgo: number, over: Partial<TroveBackup> = {}): TroveBackup {
  return {
    id,
    name: `sched-nightly-${id}`,
    description: ownerMarker('nightly'),
    instance_id: INSTANCE,
    created: new Date(NOW - daysAgo * DAY).toISOString().slice(0, 19),
    status: 'COMPLETED',
    ...over,
  };
}

const policy = (p: Partial<RetentionPolicy>): RetentionPolicy => ({ schedule: 'nightly', prefix: 'sched-nightly-', keepLast: undefined, maxAgeMs: undefined, ...p });
const ids = (list: TroveBackup[]): string[] => list.map((b) => b.id);

describe('selectForDeletion', () => {
  it('keeps the newest N of ours and returns the rest oldest first, whatever the list order', () => {
    const list = [backup('b', 2), backup('e', 5), backup('a', 1), backup('d', 4), backup('c', 3)];
    expect(ids(selectForDeletion(list, policy({ keepLast: 2 }), NOW))).toEqual(['e', 'd', 'c']);
  });

  it('never selects a user backup, even one with our prefix or our marker alone', () => {
    const list = [
      backup('ours-new', 1),
      backup('ours-old', 9),
      backup('user-plain', 30, { name: 'before-upgrade', description: null }),
      backup('user-prefix', 30, { description: 'my own' }),
      backup('user-marker', 30, { name: 'manual' }),
      backup('other-schedule', 30, { description: ownerMarker('weekly'), name: 'sched-weekly-x' }),
    ];
    expect(ids(selectForDeletion(list, policy({ keepLast: 1, maxAgeMs: DAY }), NOW))).toEqual(['ours-old']);
  });

  it('leaves running and failed backups alone; only COMPLETED count toward N', () => {
    const list = [backup('new', 0, { status: 'NEW' }), backup('failed', 1, { status: 'FAILED' }), backup('c1', 2), backup('c2', 3), backup('c3', 4)];
    expect(ids(selectForDeletion(list, policy({ keepLast: 2 }), NOW))).toEqual(['c3']);
  });

  it('deletes by age but never the newest completed backup', () => {
    const list = [backup('x', 20), backup('y', 15), backup('z', 10)];
    expect(ids(selectForDeletion(list, policy({ maxAgeMs: 7 * DAY }), NOW))).toEqual(['x', 'y']);
    expect(ids(selectForDeletion([backup('only', 30)], policy({ maxAgeMs: DAY }), NOW))).toEqual([]);
  });

  it('applies both limits: beyond N or older than the max age', () => {
    const list = [backup('a', 1), backup('b', 2), backup('c', 8), backup('d', 9)];
    expect(ids(selectForDeletion(list, policy({ keepLast: 3, maxAgeMs: 7 * DAY }), NOW))).toEqual(['d', 'c']);
  });
});
