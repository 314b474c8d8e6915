/**
 * Polls `read` every `intervalMs` until `ok` holds, for the stand-in tests; the deadline only
 * bounds a broken run, it asserts no timing. The error names what was awaited and the last value.
 */
export async function waitUntil<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string, timeoutMs = 20_000, intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await read();
      if (ok(v)) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`gave up waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
}
