import axios from 'axios';

/**
 * Cheap reads of trove-api for polling (one HTTP GET instead of a 1.5 s CLI start per poll).
 * Every action and every asserted value of the scenarios still goes through the real CLI.
 */
export interface InstanceView {
  readonly id: string;
  readonly name: string;
  readonly status: string;
  readonly operating_status?: string;
  readonly cluster_id?: string;
  readonly configuration?: { readonly id: string };
  readonly volume?: { readonly size: number; readonly used?: number };
  readonly fault?: { readonly message: string; readonly details?: string };
}

export interface ClusterView {
  readonly id: string;
  readonly name: string;
  readonly task: { readonly name: string; readonly description: string };
  readonly instances: ReadonlyArray<{ readonly id: string; readonly name: string; readonly status?: string }>;
}

export class TroveRest {
  constructor(private readonly apiUrl: string) {}

  private async get<T>(token: string, project: string, path: string): Promise<{ status: number; body: T }> {
    const res = await axios.get<T>(`${this.apiUrl}/v1.0/${project}/${path}`, {
      headers: { 'X-Auth-Token': token, Accept: 'application/json' },
      timeout: 20_000,
      validateStatus: () => true,
    });
    return { status: res.status, body: res.data };
  }

  async instance(token: string, project: string, id: string): Promise<InstanceView | null> {
    const res = await this.get<{ instance: InstanceView }>(token, project, `instances/${id}`);
    if (res.status === 404) return null;
    if (res.status !== 200) throw new Error(`GET instances/${id}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.instance;
  }

  async cluster(token: string, project: string, id: string): Promise<ClusterView | null> {
    const res = await this.get<{ cluster: ClusterView }>(token, project, `clusters/${id}`);
    if (res.status === 404) return null;
    if (res.status !== 200) throw new Error(`GET clusters/${id}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.cluster;
  }

  async backup(token: string, project: string, id: string): Promise<Record<string, unknown> | null> {
    const res = await this.get<{ backup: Record<string, unknown> }>(token, project, `backups/${id}`);
    if (res.status === 404) return null;
    if (res.status !== 200) throw new Error(`GET backups/${id}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.backup;
  }
}

/**
 * Polls `probe` until it returns a value; unlike conformance's waitFor, an exception ends the
 * wait at once (an instance in ERROR will not become HEALTHY).
 */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 1000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Waits for ACTIVE with operating_status HEALTHY (Trove 18's view); fails at once on ERROR, naming the fault. */
export function untilHealthy(rest: TroveRest, token: string, project: string, id: string, timeoutMs = 150_000): Promise<InstanceView> {
  return until(`instance ${id} HEALTHY`, async () => {
    const view = await rest.instance(token, project, id);
    if (view === null) throw new Error(`instance ${id} disappeared`);
    if (view.status === 'ERROR') throw new Error(`instance ${id} is ERROR: ${view.fault?.message ?? '(no fault)'}`);
    return view.status === 'ACTIVE' && view.operating_status === 'HEALTHY' ? view : undefined;
  }, timeoutMs);
}
