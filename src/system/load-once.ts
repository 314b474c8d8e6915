/**
 * A loader that runs once, on first use, and shares its promise with every later caller; a
 * failed load is forgotten so the next call tries again. The guest uses it to load what only
 * some calls need (the backup pipeline, Swift and Keystone clients, the log publisher) when
 * such a call first arrives: a node that never backs up never pays their memory.
 */
export function loadOnce<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () =>
    (loading ??= load().catch((error: unknown) => {
      loading = undefined;
      throw error;
    }));
}
