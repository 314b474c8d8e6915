import { describe, expect, it } from 'vitest';
import { loadOnce } from '../../../src/system/load-once';

describe('loadOnce', () => {
  it('loads on the first call only, and every caller gets the same value', async () => {
    let loads = 0;
    const load = loadOnce(async () => {
      loads += 1;
      return { module: loads };
    });
    expect(loads).toBe(0);
    const [a, b] = await Promise.all([load(), load()]);
    const c = await load();
    expect(loads).toBe(1);
    expect(a).toBe(b);
    expect(c).toBe(a);
  });

  it('forgets a failed load, so the next call tries again', async () => {
    let attempts = 0;
    const load = loadOnce(async () => {
      attempts += 1;
      if (attempts === 1) throw new Error('not there yet');
      return attempts;
    });
    await expect(load()).rejects.toThrow('not there yet');
    expect(await load()).toBe(2);
    expect(await load()).toBe(2);
    expect(attempts).toBe(2);
  });
});
