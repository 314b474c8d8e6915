import { mkdirSync, readFileSync } from 'node:fs';
import type { ConfigDefaults } from './config/load';
import type { AgentConfig } from './config/types';
import { ConfigError } from './errors';
import type { Logger } from './log';
import { buildK2hdkcNode } from './datastores/k2hdkc';

/**
 * The agent on a plain VM without Trove (issue 3 item 7), typically a slave (client) node that
 * cloud-init launched: no RabbitMQ, no conductor, no prepare call. At start it bootstraps from
 * [k2hdkc] extdata_url, registers in its K2HR3 role, writes the INI, starts chmpx (and k2hdkc
 * on a server), then follows K2HR3 membership until SIGTERM. chmpx keeps running when the agent
 * stops, as it does under Trove; deregistration is left to K2HR3's VM-deletion listener.
 */

/** Where cloud-init keeps the instance id (the stock k2hr3 helpers read the same file). */
export const CLOUD_INIT_INSTANCE_ID = '/var/lib/cloud/data/instance-id';

/**
 * Values a standalone node does not get from Trove: the guest id is cloud-init's instance id
 * (if readable; a config file may still set it), and transport_url is never used (no RPC).
 */
export function standaloneDefaults(instanceIdFile = CLOUD_INIT_INSTANCE_ID): ConfigDefaults {
  const values: Record<string, Record<string, string>> = { DEFAULT: { transport_url: 'rabbit://standalone.invalid/' } };
  try {
    const id = readFileSync(instanceIdFile, 'utf8').trim();
    if (id !== '') (values['DEFAULT'] as Record<string, string>)['guest_id'] = id;
  } catch {
    // Without cloud-init the configuration must name guest_id itself; loadConfig says so.
  }
  return { source: `standalone defaults (${instanceIdFile})`, values };
}

/** Checks what standalone mode needs from the configuration; throws ConfigError naming it. */
export function checkStandaloneConfig(config: AgentConfig): void {
  if (config.k2hdkc.datastore !== 'k2hdkc') throw new ConfigError('standalone mode needs [k2hdkc] datastore = k2hdkc');
  if (config.k2hdkc.extdataUrl === null) {
    throw new ConfigError('standalone mode needs [k2hdkc] extdata_url: without Trove there is no prepare request to self-provision from');
  }
}

/** Runs the standalone node until SIGTERM/SIGINT; returns the process exit code. */
export async function runStandalone(config: AgentConfig, log: Logger): Promise<number> {
  const slog = log.child({ component: 'standalone', guestId: config.guest.guestId });
  if (config.k2hdkc.datastore !== 'k2hdkc') throw new ConfigError('standalone mode needs [k2hdkc] datastore = k2hdkc');
  const { datastore } = buildK2hdkcNode(config, log);
  const abort = new AbortController();
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    const on = (signal: NodeJS.Signals): void => {
      abort.abort(new Error(`${signal} received`));
      resolve(signal);
    };
    process.once('SIGTERM', on);
    process.once('SIGINT', on);
  });
  // Nothing else (no broker connection) keeps the event loop alive between polls.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  try {
    slog.info({ mode: config.k2hdkc.mode, iniPath: config.k2hdkc.iniPath }, 'standalone node starting (no Trove)');
    try {
      // Trove's image has the state directory; a plain VM may not (it holds the saved bootstrap).
      mkdirSync(config.agent.stateDir, { recursive: true, mode: 0o700 });
      await datastore.startStandalone(abort.signal);
    } catch (error) {
      if (abort.signal.aborted) return 0;
      slog.error({ err: error }, 'standalone node failed to start');
      return 1;
    }
    slog.info('standalone node healthy; following K2HR3');
    const signal = await signalled;
    slog.info({ signal }, 'signal received');
    return 0;
  } finally {
    clearInterval(keepAlive);
    await datastore.close();
    slog.info('standalone node agent stopped');
  }
}
