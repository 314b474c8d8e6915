import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import { AgentError } from '../errors';
import type { Logger } from '../log';
import type { Caster, RequestContext } from '../rpc/types';
import { ConductorGuestSerializer } from './serializer';
import { isServiceStatus, type ServiceStatus } from './statuses';

/** Trove's conductor API version; the conductor serves 1.0 only (spec §6, §8). */
const CONDUCTOR_VERSION = '1.0';

/** Fields of a backup row the conductor copies with setattr (spec §6 update_backup). */
export interface BackupFields {
  readonly state?: 'NEW' | 'BUILDING' | 'SAVING' | 'COMPLETED' | 'FAILED' | 'RESTORED' | 'DELETE_FAILED';
  /** GB, float. */
  readonly size?: number;
  /** At most 32 characters: the column is VARCHAR(32). */
  readonly checksum?: string;
  readonly location?: string;
  readonly backup_type?: string;
  /** Ignored by the conductor; the Python guest sends it, so we may too. */
  readonly success?: boolean;
  readonly [field: string]: unknown;
}

export interface ConductorApiOptions {
  /** The RpcServer (or any Caster) that publishes to `<control_exchange>`. */
  readonly caster: Caster;
  /** [DEFAULT] conductor_queue, e.g. `trove-conductor`. */
  readonly conductorQueue: string;
  readonly guestId: string;
  /** instance_rpc_encr_key, or null when secure RPC is off. */
  readonly encryptionKey: string | null;
  readonly log: Logger;
  /** Wall clock in ms since the epoch; tests replace it to step the clock back. */
  readonly now?: () => number;
  /** Told about every heartbeat attempt (metrics). */
  readonly onHeartbeat?: (ok: boolean) => void;
  /** Least time between two casts of the same method (default 1000 ms); see spacedCast. */
  readonly minCastGapMs?: number;
}

/**
 * What `TroveContext().to_dict()` gives inside the Python guest (captured heartbeat,
 * spec §3.4): everything null or default, a fresh request id, no roles.
 */
export function guestContext(): RequestContext {
  return {
    user: null, project_id: null, system_scope: null, project: null, domain: null, user_domain: null,
    project_domain: null, is_admin: false, read_only: false, show_deleted: false, auth_token: null,
    request_id: `req-${randomUUID()}`, global_request_id: null, resource_uuid: null, roles: [],
    user_identity: '- - - - -', is_admin_project: true, limit: null, marker: null, service_catalog: null,
  };
}

/** A readable text for `notify_exc_info.message` (what Python's str(exception) gives). */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message === '' ? error.name : error.message;
  return String(error);
}

/**
 * Traceback-like lines for `notify_exc_info.exception` (Python sends
 * traceback.format_exception(): a list of strings, each ending in a newline).
 */
export function formatExceptionLines(error: unknown): string[] {
  const lines = ['Traceback (most recent call last):\n'];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 5; depth += 1) {
    if (depth > 0) lines.push('\nThe above exception was caused by:\n\n');
    if (current instanceof Error) {
      for (const frame of (current.stack ?? '').split('\n')) {
        if (/^\s+at /.test(frame)) lines.push(`  ${frame.trim()}\n`);
      }
      lines.push(`${current.name}: ${current.message}\n`);
      current = current.cause;
    } else {
      lines.push(`Error: ${String(current)}\n`);
      current = undefined;
    }
  }
  return lines;
}

/**
 * The guest's side of trove/conductor/api.py: heartbeat, update_backup, notify_end and
 * notify_exc_info, all casts (version 1.0) to the conductor topic through ConductorGuestSerializer.
 */
export class ConductorApi {
  private readonly caster: Caster;
  private readonly topic: string;
  private readonly guestId: string;
  private readonly serializer: ConductorGuestSerializer;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly onHeartbeat: ((ok: boolean) => void) | undefined;
  private readonly lastSent = new Map<string, number>();
  private readonly minCastGapMs: number;
  /** Per method: the previous cast (to queue behind) and when it went out (monotonic ms). */
  private readonly lanes = new Map<string, { tail: Promise<unknown>; lastAt: number }>();
  private lastHeartbeatMs: number | null = null;

  constructor(options: ConductorApiOptions) {
    this.caster = options.caster;
    this.topic = options.conductorQueue;
    this.guestId = options.guestId;
    this.serializer = new ConductorGuestSerializer(options.guestId, options.encryptionKey);
    this.log = options.log;
    this.now = options.now ?? Date.now;
    this.onHeartbeat = options.onHeartbeat;
    this.minCastGapMs = options.minCastGapMs ?? 1000;
  }

  /** Local time (ms since the epoch) of the last heartbeat the broker accepted, or null. */
  get lastHeartbeatAt(): number | null {
    return this.lastHeartbeatMs;
  }

  /** Casts `heartbeat` with `{service_status}`; rejects when the cast could not be published. */
  async heartbeat(status: ServiceStatus): Promise<void> {
    // The type already forbids it; this guards statuses coming from untyped datastore code,
    // because the conductor turns an unknown word into a ValueError and drops the heartbeat.
    if (!isServiceStatus(status)) {
      throw new AgentError('K2H_ERR_BAD_STATUS', `'${String(status)}' is not a service status the conductor accepts`);
    }
    let sent = 0;
    try {
      await this.spacedCast('heartbeat', () => {
        sent = this.nextSent('heartbeat');
        return { instance_id: this.guestId, sent, payload: { service_status: status } };
      });
    } catch (error) {
      this.onHeartbeat?.(false);
      throw error;
    }
    this.lastHeartbeatMs = this.now();
    this.onHeartbeat?.(true);
    this.log.debug({ status, sent }, 'heartbeat sent');
  }

  /** Casts `update_backup` with the given row fields (state, size, checksum, location, ...). */
  async updateBackup(backupId: string, fields: BackupFields): Promise<void> {
    if (typeof fields.checksum === 'string' && fields.checksum.length > 32) {
      throw new AgentError('K2H_ERR_BAD_BACKUP_FIELD', 'backup checksum is longer than 32 characters (VARCHAR(32))');
    }
    // Python's kwarg order (instance_id, backup_id, sent, then the fields); a field with one of
    // those names cannot replace ours.
    await this.spacedCast('update_backup', () => {
      const args: Record<string, unknown> = { instance_id: this.guestId, backup_id: backupId, sent: this.nextSent('update_backup') };
      for (const [name, value] of Object.entries(fields)) if (!(name in args)) args[name] = value;
      return args;
    });
  }

  /**
   * Casts `notify_end` for the request in `requestContext` (after prepare). Skipped when the
   * request carried no `trove_notification`. Returns whether a notification was sent.
   */
  async notifyEnd(requestContext: RequestContext): Promise<boolean> {
    const serialized = this.serializedNotification(requestContext);
    if (serialized === null) return false;
    await this.cast('notify_end', { serialized_notification: serialized, notification_args: {} }, requestContext);
    return true;
  }

  /** Casts `notify_exc_info` (becomes the instance fault shown to users); skipped like notifyEnd. */
  async notifyExcInfo(requestContext: RequestContext, error: unknown): Promise<boolean> {
    const serialized = this.serializedNotification(requestContext);
    if (serialized === null) return false;
    const args = { serialized_notification: serialized, message: errorMessage(error), exception: formatExceptionLines(error) };
    await this.cast('notify_exc_info', args, requestContext);
    return true;
  }

  /**
   * `sent` is compared by the conductor with `float(last) < sent` per (instance, method):
   * equal or older values are dropped. So it must be strictly increasing here, even when the
   * clock steps back or two casts fall in the same microsecond (spec §6 "sent semantics").
   */
  private nextSent(method: string): number {
    const last = this.lastSent.get(method) ?? 0;
    let micros = Math.max(Math.round(this.now() * 1000), Math.round(last * 1e6) + 1);
    let sent = micros / 1e6;
    while (sent <= last) {
      micros += 1;
      sent = micros / 1e6;
    }
    this.lastSent.set(method, sent);
    return sent;
  }

  /** The incoming `trove_notification`, re-targeted as Trove's guest does (server_type, instance_id). */
  private serializedNotification(requestContext: RequestContext): Record<string, unknown> | null {
    const notification = requestContext['trove_notification'];
    if (notification === null || typeof notification !== 'object' || Array.isArray(notification)) {
      this.log.debug('request has no trove_notification; no end/error notification sent');
      return null;
    }
    return { ...(notification as Record<string, unknown>), server_type: 'guest', instance_id: this.guestId };
  }

  /**
   * Casts one method at a time, at least minCastGapMs apart. Trove 18's conductor creates the
   * (instance, method) last-seen row with a plain INSERT on the first message; two messages
   * arriving together (e.g. `building` then `failed to spawn` a few ms later) both insert, one
   * fails with DBDuplicateEntry and its status is lost (seen with the real conductor in
   * test/conformance). `sent` is taken when the cast really goes out, so it stays ordered.
   */
  private spacedCast(method: 'heartbeat' | 'update_backup', buildArgs: () => Record<string, unknown>): Promise<void> {
    const lane = this.lanes.get(method) ?? { tail: Promise.resolve(), lastAt: -Infinity };
    const run = lane.tail
      .catch(() => undefined)
      .then(async () => {
        const wait = lane.lastAt + this.minCastGapMs - performance.now();
        if (wait > 0) await sleep(wait);
        try {
          await this.cast(method, buildArgs(), guestContext());
        } finally {
          lane.lastAt = performance.now();
        }
      });
    lane.tail = run;
    this.lanes.set(method, lane);
    return run;
  }

  private cast(method: string, args: Record<string, unknown>, context: RequestContext): Promise<void> {
    return this.caster.cast(this.topic, method, args, { version: CONDUCTOR_VERSION, context, serializer: this.serializer });
  }
}
