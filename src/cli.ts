import { parseArgs } from 'node:util';
import { ConfigError } from './errors';
import { loadConfig } from './config/load';
import { createLogger } from './log';
import { agentVersion } from './version';

const USAGE = `Usage: k2hdkc-trove-agent [--config-file FILE]... [--config-dir DIR]...

The K2HDKC guest agent for OpenStack Trove. Options are read oslo.config style: every
--config-file in order, then every *.conf in each --config-dir sorted by name; later values
override earlier ones. On a Trove guest: --config-dir /etc/trove/conf.d

Options:
  --config-file FILE   read FILE (repeatable)
  --config-dir DIR     read DIR/*.conf (repeatable)
  --check-config       load and validate the configuration, print a summary, and exit
  --standalone         run without Trove (a slave VM from cloud-init): bootstrap from
                       [k2hdkc] extdata_url at start, no RabbitMQ; guest_id defaults to
                       cloud-init's instance id
  --help               show this help and exit
  --version            print the version and exit
`;

/** Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error. */
export async function main(argv: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        'config-file': { type: 'string', multiple: true },
        'config-dir': { type: 'string', multiple: true },
        'check-config': { type: 'boolean' },
        standalone: { type: 'boolean' },
        help: { type: 'boolean' },
        version: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    process.stderr.write(`k2hdkc-trove-agent: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values } = parsed;
  if (values.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.version === true) {
    process.stdout.write(`k2hdkc-trove-agent ${agentVersion()}\n`);
    return 0;
  }
  let config;
  try {
    const standalone = values.standalone === true ? await import('./standalone') : null;
    config = loadConfig(
      { configFiles: values['config-file'] ?? [], configDirs: values['config-dir'] ?? [] },
      standalone === null ? {} : { defaults: standalone.standaloneDefaults() },
    );
    standalone?.checkStandaloneConfig(config);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`k2hdkc-trove-agent: configuration error: ${error.message}\n`);
    return 2;
  }
  if (values['check-config'] === true) {
    process.stdout.write(`${JSON.stringify(describeConfig(config), null, 2)}\n`);
    return 0;
  }
  const log = await createAgentLogger(config.agent.logLevel, config.agent.logFile);
  if (values.standalone === true) {
    const { runStandalone } = await import('./standalone');
    return runStandalone(config, log);
  }
  const { Agent } = await import('./agent');
  const agent = new Agent(config, log);
  return agent.runUntilSignalled();
}

/**
 * The root logger: stdout (the journal on a VM) and, with [k2hdkc] log_file, that file too, so
 * the `guest` log can be shown and published (guest/agent-log-source.ts).
 */
async function createAgentLogger(level: string, logFile: string | null): Promise<import('./log').Logger> {
  if (logFile === null) return createLogger({ level });
  const { openAgentLogFile } = await import('./guest/agent-log-source');
  const { default: pino } = await import('pino');
  const fd = openAgentLogFile(logFile);
  const destination = pino.multistream([
    { stream: process.stdout, level: 'trace' },
    { stream: pino.destination({ fd, sync: true }), level: 'trace' },
  ]);
  return createLogger({ level, destination });
}

/** A summary safe to print: no key, no password. */
function describeConfig(config: import('./config/types').AgentConfig): Record<string, unknown> {
  return {
    sources: config.sources,
    guest_id: config.guest.guestId,
    datastore_manager: config.guest.datastoreManager,
    datastore_version: config.guest.datastoreVersion,
    secure_rpc: config.guest.instanceRpcEncrKey !== null,
    brokers: config.messaging.transportUrl.hosts.map((h) => `${h.username}@${h.host}:${h.port}`),
    vhost: config.messaging.transportUrl.vhost,
    control_exchange: config.messaging.controlExchange,
    conductor_queue: config.messaging.conductorQueue,
    report_interval: config.reportIntervalMs / 1000,
    rabbit: config.messaging.rabbit,
    agent: config.agent,
  };
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`k2hdkc-trove-agent: fatal: ${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
