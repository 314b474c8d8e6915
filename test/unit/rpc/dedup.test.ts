import { describe, expect, it } from 'vitest';
import { DuplicateFilter } from '../../../src/rpc/dedup';

describe('DuplicateFilter', () => {
  it('reports the second sighting of an id as a duplicate', () => {
    const filter = new DuplicateFilter(10);
    expect(filter.isDuplicate('a')).toBe(false);
    expect(filter.isDuplicate('b')).toBe(false);
    expect(filter.isDuplicate('a')).toBe(true);
  });

  it('forgets the least recently seen id once over capacity', () => {
    const filter = new DuplicateFilter(3);
    for (const id of ['a', 'b', 'c']) filter.isDuplicate(id);
    expect(filter.isDuplicate('a')).toBe(true); // refreshes a; b is now the oldest
    expect(filter.isDuplicate('d')).toBe(false); // evicts b
    expect(filter.size).toBe(3);
    expect(filter.isDuplicate('a')).toBe(true);
    expect(filter.isDuplicate('b')).toBe(false);
  });

  it('stays bounded under many ids', () => {
    const filter = new DuplicateFilter(4096);
    for (let i = 0; i < 20_000; i += 1) filter.isDuplicate(`id-${i}`);
    expect(filter.size).toBe(4096);
    expect(filter.isDuplicate('id-19999')).toBe(true);
    expect(filter.isDuplicate('id-0')).toBe(false);
  });

  it('refuses a non-positive capacity', () => {
    expect(() => new DuplicateFilter(0)).toThrow(RangeError);
  });
});
