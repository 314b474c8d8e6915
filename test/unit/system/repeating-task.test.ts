import { describe, expect, it } from 'vitest';
import { RepeatingTask } from '../../../src/system/repeating-task';

describe('RepeatingTask', () => {
  it('runs again after a failing run (reported to onError), never two runs at once, and stop() waits for the run in progress', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let runs = 0;
    let finished = 0;
    const errors: unknown[] = [];
    const task = new RepeatingTask(
      5,
      async () => {
        runs += 1;
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 20));
        inFlight -= 1;
        finished += 1;
        if (runs === 1) throw new Error('first run fails');
      },
      (error) => errors.push(error),
    );
    task.start();
    task.start();
    await expect.poll(() => runs, { timeout: 2000 }).toBeGreaterThanOrEqual(3);
    await task.stop();
    const stoppedAt = finished;
    expect(inFlight).toBe(0);
    expect(stoppedAt).toBe(runs);
    expect(maxInFlight).toBe(1);
    expect(errors).toHaveLength(1);
    expect((errors[0] as Error).message).toBe('first run fails');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(runs).toBe(stoppedAt);
  });
});
