import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';

/** Debian's interpreter: python3-trove is installed there, not in pyenv's. */
export const SYSTEM_PYTHON = '/usr/bin/python3';
const HARNESS = path.resolve(__dirname, '../../trove/harness.py');

export interface TroveErrorInfo {
  readonly class: string;
  readonly module: string;
  readonly qualified: string;
  readonly message: string;
}

/** What trove.guestagent.api.API returned or raised for one method. */
export type InvokeOutcome =
  | { readonly ok: true; readonly result: unknown; readonly cap_version: string }
  | { readonly ok: false; readonly error: TroveErrorInfo; readonly cap_version: string };

export interface StatusRow {
  readonly status_id: number;
  readonly status_description: string;
  readonly updated_at: string;
}

export interface FaultRow {
  readonly message: string;
  readonly details: string;
  readonly created: string;
  readonly updated: string;
}

export interface InvokeOptions {
  readonly kwargs?: Record<string, unknown>;
  /** `[upgrade_levels] guestagent` for this call: `latest` (1.1) or e.g. `ussuri` (1.0). */
  readonly cap?: string;
  /** Attach a DBaaSInstanceCreate notification to the context, as the taskmanager does. */
  readonly notification?: boolean;
  /** Overrides agent_call_low_timeout (seconds) for this call. */
  readonly lowTimeout?: number;
  /** The user's token in the request context (default a fixed non-secret string). */
  readonly authToken?: string;
  /** The context's service_catalog, as trove-api copies it from X-Service-Catalog (default none). */
  readonly serviceCatalog?: readonly Record<string, unknown>[];
}

/** A backups row as trove-conductor left it. */
export interface BackupRow {
  readonly id: string;
  readonly state: string;
  readonly size: number | null;
  readonly checksum: string | null;
  readonly location: string | null;
  readonly backup_type: string | null;
  readonly instance_id: string;
}

/**
 * One long-lived test/trove/harness.py process: Trove's own client, a real trove-conductor and
 * its sqlite database. Requests are answered in order, one JSON line each.
 */
export class TroveHarness {
  private readonly proc: ChildProcessWithoutNullStreams;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private exited = false;

  constructor(readonly workdir: string) {
    mkdirSync(workdir, { recursive: true });
    this.proc = spawn(SYSTEM_PYTHON, [HARNESS], { stdio: ['pipe', 'pipe', 'pipe'] });
    // Trove's logging goes to stderr; keep it for diagnosis, out of the test output.
    this.proc.stderr.pipe(createWriteStream(path.join(workdir, 'harness.stderr.log')));
    createInterface({ input: this.proc.stdout }).on('line', (line) => this.onLine(line));
    this.proc.on('exit', (code) => {
      this.exited = true;
      for (const waiter of this.pending.values()) waiter.reject(new Error(`harness exited (${code})`));
      this.pending.clear();
    });
  }

  private onLine(line: string): void {
    const reply = JSON.parse(line) as { id: number; ok: boolean; value?: unknown; error?: string };
    const waiter = this.pending.get(reply.id);
    if (waiter === undefined) return;
    this.pending.delete(reply.id);
    if (reply.ok) waiter.resolve(reply.value);
    else waiter.reject(new Error(`harness: ${reply.error ?? 'unknown error'}`));
  }

  private request<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    if (this.exited) return Promise.reject(new Error('harness has exited'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.proc.stdin.write(`${JSON.stringify({ id, op, ...args })}\n`);
    });
  }

  /** Writes trove.conf, creates the schema and initialises Trove's RPC transport. */
  init(opts: { transportUrl: string; controlExchange: string; conductorQueue: string }): Promise<{
    conf_path: string;
    db_path: string;
    log_path: string;
  }> {
    return this.request('init', {
      workdir: this.workdir,
      transport_url: opts.transportUrl,
      control_exchange: opts.controlExchange,
      conductor_queue: opts.conductorQueue,
    });
  }

  /** instances + service_statuses (`new`) rows; key null = secure RPC off for this instance. */
  addInstance(instanceId: string, key: string | null, tenantId: string): Promise<unknown> {
    return this.request('add_instance', { instance_id: instanceId, key, tenant_id: tenantId });
  }

  startConductor(): Promise<{ pid: number }> {
    return this.request('start_conductor');
  }

  stopConductor(): Promise<void> {
    return this.request('stop_conductor');
  }

  /** Calls trove.guestagent.api.API(ctx, instanceId).<method>(**kwargs). */
  invoke(instanceId: string, tenantId: string, method: string, options: InvokeOptions = {}): Promise<InvokeOutcome> {
    return this.request('invoke', {
      instance_id: instanceId,
      tenant_id: tenantId,
      method,
      kwargs: options.kwargs ?? {},
      cap: options.cap ?? 'latest',
      notification: options.notification ?? false,
      low_timeout: options.lowTimeout ?? null,
      auth_token: options.authToken ?? null,
      service_catalog: options.serviceCatalog ?? null,
    });
  }

  /** A backups row in state NEW (Trove's model, as trove-api inserts it); returns create_backup's backup_info. */
  addBackup(instanceId: string, tenantId: string): Promise<Record<string, unknown> & { id: string }> {
    return this.request('add_backup', { instance_id: instanceId, tenant_id: tenantId });
  }

  backup(backupId: string): Promise<BackupRow | null> {
    return this.request('backup', { backup_id: backupId });
  }

  /** Any method through API._call (Trove's own call path), e.g. an explicit fs_path or version. */
  callMethod(
    instanceId: string,
    tenantId: string,
    method: string,
    options: { version?: string; kwargs?: Record<string, unknown>; cap?: string; timeout?: number } = {},
  ): Promise<InvokeOutcome> {
    return this.request('call_method', {
      instance_id: instanceId,
      tenant_id: tenantId,
      method,
      version: options.version ?? '1.0',
      kwargs: options.kwargs ?? {},
      cap: options.cap ?? 'latest',
      timeout: options.timeout ?? 10,
    });
  }

  status(instanceId: string): Promise<StatusRow | null> {
    return this.request('status', { instance_id: instanceId });
  }

  faults(instanceId: string): Promise<FaultRow[]> {
    return this.request('faults', { instance_id: instanceId });
  }

  /** Lines of trove-conductor's own log that contain `needle`. */
  conductorLog(needle: string): Promise<string[]> {
    return this.request('conductor_log', { contains: needle });
  }

  lastSeen(instanceId: string): Promise<Record<string, string>> {
    return this.request('last_seen', { instance_id: instanceId });
  }

  /** Stops the conductor and the Python process. */
  async close(): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
    await this.request('quit').catch(() => undefined);
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 15_000);
    await done;
    clearTimeout(timer);
  }
}
