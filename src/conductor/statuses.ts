/**
 * Service-status words a guest may put in `heartbeat.payload.service_status` (spec/trove-rpc.md §6.1).
 * The conductor calls `ServiceStatus.from_description()`, so only these lower-case descriptions
 * are accepted; `"HEALTHY"` raises ValueError on the conductor and the heartbeat is lost.
 *
 * `upgrading` is deliberately absent: in Trove 18 UPGRADING and RESTARTING share code 0x22, so the
 * lookup table only knows `restarting` and `upgrading` is rejected (verified). A guest that is
 * upgrading reports `restarting` (same code, same API meaning while the controller drives the
 * upgrade) or simply its real state. `paused`, `new`, `guestagent error` and `restart required`
 * are set by the controller only, so a guest never sends them either.
 */
export const SERVICE_STATUSES = [
  'running',
  'blocked',
  'shutdown',
  'deleted',
  'crashed',
  'failed to spawn',
  'building',
  'promoting replica',
  'ejecting replica source',
  'transferring guest logs',
  'unknown',
  'instance ready',
  'healthy',
  'restarting',
] as const;

/** A status description the conductor accepts from a guest. */
export type ServiceStatus = (typeof SERVICE_STATUSES)[number];

/** Names for the statuses the agent itself uses, so call sites do not spell strings. */
export const STATUS = {
  RUNNING: 'running',
  BLOCKED: 'blocked',
  SHUTDOWN: 'shutdown',
  DELETED: 'deleted',
  CRASHED: 'crashed',
  FAILED: 'failed to spawn',
  BUILDING: 'building',
  PROMOTING: 'promoting replica',
  EJECTING: 'ejecting replica source',
  LOGGING: 'transferring guest logs',
  UNKNOWN: 'unknown',
  INSTANCE_READY: 'instance ready',
  HEALTHY: 'healthy',
  RESTARTING: 'restarting',
} as const satisfies Record<string, ServiceStatus>;

const KNOWN: ReadonlySet<string> = new Set(SERVICE_STATUSES);

/** True when `value` is a description the conductor accepts (so `upgrading` and `HEALTHY` are not). */
export function isServiceStatus(value: unknown): value is ServiceStatus {
  return typeof value === 'string' && KNOWN.has(value);
}
