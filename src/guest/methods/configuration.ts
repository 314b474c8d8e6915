import type { CallContext, MethodEntry } from '../../rpc/types';
import type { NodeConfiguration } from '../../k2hdkc/configuration';
import { CONFIG_MAX, PATH_MAX, flag } from './bounds';
import { entry } from './entry';

/*
 * Trove's configuration groups and upgrade (spec trove-rpc.md §5): schemas in the style of
 * bounds.ts; values of `overrides` are checked against datastore/validation-rules.json by the
 * configuration service (src/k2hdkc/configuration.ts).
 */

const overrides = {
  type: 'object',
  nullable: true,
  maxProperties: 1024,
  additionalProperties: { anyOf: [{ type: 'string', maxLength: PATH_MAX }, { type: 'number' }, { type: 'boolean' }, { type: 'null' }] },
} as const;

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

export interface ConfigMethodsDeps {
  readonly configuration: NodeConfiguration;
  /** Where the agent keeps its state (bootstrap, served INI). */
  readonly stateDir: string;
  /** Sends the node's status now (upgrade replies after a fresh beat, as restart does). */
  readonly beatNow: () => Promise<unknown>;
  /** Marks the node restarting for heartbeats while an upgrade stops and starts it. */
  readonly whileRestarting: <T>(run: () => Promise<T>) => Promise<T>;
}

/** update_overrides, apply_overrides, reset_configuration, pre_upgrade, upgrade, post_upgrade (spec §5, §7.4). */
export function configMethods(deps: ConfigMethodsDeps): MethodEntry[] {
  const { configuration } = deps;
  const upgrade = async (args: UpgradeArgs, call: CallContext): Promise<null> => {
    await deps.whileRestarting(() => configuration.upgrade(args.upgrade_info ?? {}, deps.stateDir, call.signal));
    await deps.beatNow();
    return null;
  };
  return [
    entry<UpdateOverridesArgs>('update_overrides', updateOverridesSchema, async (args) => {
      await configuration.updateOverrides(args.overrides ?? {}, args.remove === true);
      return null;
    }),
    entry<ApplyOverridesArgs>('apply_overrides', applyOverridesSchema, async (args, call) => {
      await configuration.applyOverrides(args.overrides ?? {}, call.signal);
      return null;
    }),
    entry<ResetConfigurationArgs>('reset_configuration', resetConfigurationSchema, async (args) => {
      await configuration.resetConfiguration(args.configuration?.config_contents ?? null);
      return null;
    }),
    entry('pre_upgrade', preUpgradeSchema, () => configuration.preUpgrade(deps.stateDir)),
    // A cast: Trove then waits for a `healthy` heartbeat.
    entry<UpgradeArgs>('upgrade', upgradeSchema, upgrade),
    entry<UpgradeArgs>('post_upgrade', upgradeSchema, upgrade),
  ];
}
