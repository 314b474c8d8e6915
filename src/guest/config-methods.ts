import type { CallContext, MethodEntry } from '../rpc/types';
import { precompiledValidator } from '../validation/validators';
import type { NodeConfiguration } from './config-methods-node';
import {
  applyOverridesSchema,
  guestLogActionSchema,
  preUpgradeSchema,
  resetConfigurationSchema,
  updateOverridesSchema,
  upgradeSchema,
  type ApplyOverridesArgs,
  type GuestLogActionArgs,
  type ResetConfigurationArgs,
  type UpdateOverridesArgs,
  type UpgradeArgs,
} from './config-methods-schemas';
import type { GuestLogs } from './config-methods-logs';
import { logActionFlags } from './log-action-flags';

export interface ConfigMethodsDeps {
  readonly configuration: NodeConfiguration;
  /** Where the agent keeps its state (bootstrap, served INI). */
  readonly stateDir: string;
  /** Sends the node's status now (upgrade replies after a fresh beat, as restart does). */
  readonly beatNow: () => Promise<unknown>;
  /** Marks the node restarting for heartbeats while an upgrade stops and starts it. */
  readonly whileRestarting: <T>(run: () => Promise<T>) => Promise<T>;
}

function entry<A>(name: string, schema: Readonly<Record<string, unknown>>, handler: (args: A, call: CallContext) => unknown): MethodEntry {
  return { name, schema, validate: precompiledValidator(schema), handler: (args, call) => handler(args as A, call) };
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

/** guest_log_action (guest_log_list is in the main table, which has a fallback without these logs). */
export function logMethods(logs: Pick<GuestLogs, 'action'>): MethodEntry[] {
  return [
    entry<GuestLogActionArgs>('guest_log_action', guestLogActionSchema, (args, call) =>
      logs.action(args.log_name ?? null, logActionFlags({ enable: args.enable, disable: args.disable, publish: args.publish, discard: args.discard }), call.context),
    ),
  ];
}
