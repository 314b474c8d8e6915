import { promises as fs } from 'node:fs';
import type { MethodEntry } from '../../rpc/types';
import type { GuestLogEntry, GuestLogs } from '../../logs/guest-logs';
import { noArgs } from './bounds';
import { entry } from './entry';
import { LOG_ACTION_FLAG_SCHEMA, logActionFlags, type LogActionFlagValue } from './log-action-flags';

export interface LogMethodsDeps {
  readonly guestId: string;
  /** guest_info.conf datastore_manager; part of the log's Swift metafile name. */
  readonly datastoreManager: string;
  /** The agent's own log file, or null when it logs to stdout/journald only. */
  readonly guestLogFile: string | null;
  /** The logs guest_log_list/guest_log_action serve (agent, chmpx, k2hdkc); absent = the agent's own log only, no action. */
  readonly guestLogs?: Pick<GuestLogs, 'list' | 'action'>;
}

export const guestLogListSchema = noArgs;

/**
 * `guest_log_action(log_name, enable, disable, publish, discard)` (call, 1.0). The flags come as
 * Trove's API passes them (1/0), or booleans, or words; the handler coerces (log-action-flags.ts).
 */
export const guestLogActionSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    log_name: { type: 'string', nullable: true, maxLength: 64 },
    enable: LOG_ACTION_FLAG_SCHEMA,
    disable: LOG_ACTION_FLAG_SCHEMA,
    publish: LOG_ACTION_FLAG_SCHEMA,
    discard: LOG_ACTION_FLAG_SCHEMA,
  },
} as const;

export interface GuestLogActionArgs {
  log_name?: string | null;
  enable?: LogActionFlagValue;
  disable?: LogActionFlagValue;
  publish?: LogActionFlagValue;
  discard?: LogActionFlagValue;
}

/** guest_log_list always (the agent's own log when there are no guest logs); guest_log_action with them. */
export function logMethods(deps: LogMethodsDeps): MethodEntry[] {
  const logs = deps.guestLogs;
  return [
    entry('guest_log_list', guestLogListSchema, () => (logs === undefined ? listGuestLogs(deps) : logs.list())),
    ...(logs === undefined
      ? []
      : [
          entry<GuestLogActionArgs>('guest_log_action', guestLogActionSchema, (args, call) =>
            logs.action(args.log_name ?? null, logActionFlags({ enable: args.enable, disable: args.disable, publish: args.publish, discard: args.discard }), call.context),
          ),
        ]),
  ];
}

/**
 * The agent's own log as the one SYS log Trove can list. Publishing to Swift is not implemented,
 * so nothing is ever published: everything present is pending.
 */
export async function listGuestLogs(deps: Pick<LogMethodsDeps, 'guestId' | 'datastoreManager' | 'guestLogFile'>): Promise<GuestLogEntry[]> {
  let size: number | null = null;
  if (deps.guestLogFile !== null) {
    try {
      const stats = await fs.stat(deps.guestLogFile);
      if (stats.isFile()) size = stats.size;
    } catch {
      size = null;
    }
  }
  // Trove's statuses: Unavailable (no file), Enabled (empty, nothing to publish), Ready (has data).
  const status = size === null ? 'Unavailable' : size > 0 ? 'Ready' : 'Enabled';
  return [
    {
      name: 'guest',
      type: 'SYS',
      status,
      published: 0,
      pending: size ?? 0,
      container: 'None',
      prefix: 'None',
      metafile: `${deps.guestId}/${deps.datastoreManager}-guest_metafile`,
    },
  ];
}
