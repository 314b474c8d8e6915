import { LOG_ACTION_FLAG_SCHEMA, type LogActionFlagValue } from './log-action-flags';

/**
 * Kwargs of the configuration, upgrade and log methods (spec trove-rpc.md §5), in the style of
 * schemas.ts: every kwarg optional, the kwargs object closed, every string and dict bounded.
 * Values of `overrides` are checked against datastore/validation-rules.json by the handler.
 */
const CONFIG_MAX = 1024 * 1024;
const overrides = {
  type: 'object',
  nullable: true,
  maxProperties: 1024,
  additionalProperties: { anyOf: [{ type: 'string', maxLength: 4096 }, { type: 'number' }, { type: 'boolean' }, { type: 'null' }] },
} as const;
const flag = { type: 'boolean', nullable: true } as const;

/** `update_overrides(overrides, remove)` (call, 1.0, high timeout). */
export const updateOverridesSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { overrides, remove: flag },
} as const;

/** `apply_overrides(overrides)` (call, 1.0). */
export const applyOverridesSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { overrides },
} as const;

/** `reset_configuration(configuration={"config_contents": str})` (call, 1.0; flavor resize revert). */
export const resetConfigurationSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    configuration: {
      type: 'object',
      nullable: true,
      maxProperties: 16,
      properties: { config_contents: { type: 'string', nullable: true, maxLength: CONFIG_MAX } },
    },
  },
} as const;

export const preUpgradeSchema = { type: 'object', additionalProperties: false, properties: {} } as const;

/** `upgrade(upgrade_info)` (cast) and `post_upgrade(upgrade_info)` (call): what pre_upgrade returned plus datastore_version. */
export const upgradeSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { upgrade_info: { type: 'object', nullable: true, maxProperties: 64 } },
} as const;

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

export const CONFIG_SCHEMAS = {
  update_overrides: updateOverridesSchema,
  apply_overrides: applyOverridesSchema,
  reset_configuration: resetConfigurationSchema,
  pre_upgrade: preUpgradeSchema,
  upgrade: upgradeSchema,
  post_upgrade: upgradeSchema,
  guest_log_action: guestLogActionSchema,
} as const;

export interface UpdateOverridesArgs {
  overrides?: Record<string, string | number | boolean | null> | null;
  remove?: boolean | null;
}
export interface ApplyOverridesArgs {
  overrides?: Record<string, string | number | boolean | null> | null;
}
export interface ResetConfigurationArgs {
  configuration?: { config_contents?: string | null } | null;
}
export interface UpgradeArgs {
  upgrade_info?: Record<string, unknown> | null;
}
export interface GuestLogActionArgs {
  log_name?: string | null;
  enable?: LogActionFlagValue;
  disable?: LogActionFlagValue;
  publish?: LogActionFlagValue;
  discard?: LogActionFlagValue;
}
