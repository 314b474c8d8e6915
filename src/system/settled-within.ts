/**
 * Waits at most `waitMs` for `settled` (an aborted operation winding down): 'aborted' when it
 * ended in time, 'still-running' otherwise (the caller goes on; its own stop cancels the rest).
 */
export async function settledWithin(settled: Promise<unknown>, waitMs: number): Promise<'aborted' | 'still-running'> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'still-running'>((resolve) => (timer = setTimeout(() => resolve('still-running'), waitMs)));
  try {
    return await Promise.race([settled.then(() => 'aborted' as const), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
