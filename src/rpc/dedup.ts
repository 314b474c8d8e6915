/**
 * Remembers recent `_unique_id`s so a redelivered message is handled once (oslo's
 * amqpdriver keeps the last 16; we keep more because a reconnect can redeliver everything
 * that was in flight). Bounded: the oldest id is forgotten first.
 */
export class DuplicateFilter {
  // A Map iterates in insertion order, which makes it a cheap LRU.
  private readonly seen = new Map<string, true>();

  constructor(private readonly capacity = 4096) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
  }

  /** Returns true when id was already recorded; otherwise records it and returns false. */
  isDuplicate(id: string): boolean {
    if (this.seen.has(id)) {
      // Refresh, so an id that keeps coming back stays remembered.
      this.seen.delete(id);
      this.seen.set(id, true);
      return true;
    }
    this.seen.set(id, true);
    if (this.seen.size > this.capacity) {
      const oldest = this.seen.keys().next();
      if (oldest.done !== true) this.seen.delete(oldest.value);
    }
    return false;
  }

  get size(): number {
    return this.seen.size;
  }
}
