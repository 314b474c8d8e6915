import pino, { type DestinationStream, type Logger } from 'pino';
import { AgentError } from '../errors';
import { REDACT_PATHS } from '../log';
import { loadSchedulerConfig, type SchedulerConfig } from './config';
import { MetricsServer } from './http';
import { KeystoneAuth } from './keystone';
import { SchedulerMetrics } from './metrics';
import { BackupScheduler, type CronDriver } from './scheduler';
import type { Clock } from './runner';
import { TroveBackupClient } from './trove-client';

export const DEFAULT_CONFIG_FILE = '/etc/k2hdkc-trove/scheduler.conf';

/**
 * The agent's redact paths plus the application credential's secret under its config names, up
 * to the depth at which a whole config can be logged (`{config}` → config.keystone.*). pino
 * redaction is by path, not recursive, hence each depth.
 */
export const SCHEDULER_REDACT_PATHS: readonly string[] = [
  ...REDACT_PATHS,
  'applicationCredentialSecret',
  '*.applicationCredentialSecret',
  '*.*.applicationCredentialSecret',
  'application_credential_secret',
  '*.application_credential_secret',
  '*.*.application_credential_secret',
  '*.*.secret',
];

export function createSchedulerLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'k2hdkc-trove-scheduler' },
      redact: { paths: [...SCHEDULER_REDACT_PATHS], censor: '[Redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** A running scheduler: its pieces, and the one way to stop it. */
export interface SchedulerService {
  readonly scheduler: BackupScheduler;
  readonly metrics: SchedulerMetrics;
  /** The metrics endpoint's bound address, when enabled. */
  readonly metricsAddress: { host: string; port: number } | undefined;
  stop(): Promise<void>;
}

/** Wires config → logger → Keystone → Trove client → metrics endpoint → cron; stops in reverse. */
export async function startScheduler(
  config: SchedulerConfig,
  deps: { log: Logger; clock?: Clock; cron?: CronDriver },
): Promise<SchedulerService> {
  const log = deps.log;
  const auth = new KeystoneAuth(config.keystone, deps.clock?.now);
  const api = new TroveBackupClient(auth, config.keystone.requestTimeoutMs);
  const metrics = new SchedulerMetrics();
  let server: MetricsServer | undefined;
  let metricsAddress: { host: string; port: number } | undefined;
  if (config.metricsListen) {
    server = new MetricsServer(metrics);
    metricsAddress = await server.listen(config.metricsListen.host, config.metricsListen.port);
    log.info(metricsAddress, 'metrics endpoint listening');
  }
  const scheduler = new BackupScheduler({
    schedules: config.schedules,
    api,
    metrics,
    log: log.child({ component: 'scheduler' }),
    pollIntervalMs: config.pollIntervalMs,
    waitTimeoutMs: config.waitTimeoutMs,
    ...(deps.clock ? { clock: deps.clock } : {}),
    ...(deps.cron ? { cron: deps.cron } : {}),
  });
  scheduler.start();
  return {
    scheduler,
    metrics,
    metricsAddress,
    async stop() {
      await scheduler.stop();
      await server?.close();
      log.info('scheduler stopped');
    },
  };
}

/** `k2hdkc-trove-scheduler [--config-file F]`: runs until SIGTERM/SIGINT; resolves the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let file = DEFAULT_CONFIG_FILE;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--config-file' && argv[i + 1] !== undefined) file = argv[(i += 1)] as string;
    else if (arg?.startsWith('--config-file=')) file = arg.slice('--config-file='.length);
    else {
      process.stderr.write(`usage: k2hdkc-trove-scheduler [--config-file ${DEFAULT_CONFIG_FILE}]\n`);
      return 2;
    }
  }
  let config: SchedulerConfig;
  try {
    config = loadSchedulerConfig(file);
  } catch (error) {
    process.stderr.write(`k2hdkc-trove-scheduler: ${(error as Error).message}\n`);
    return error instanceof AgentError ? 78 : 1; // 78: EX_CONFIG, systemd does not restart on it
  }
  const log = createSchedulerLogger(config.logLevel);
  const service = await startScheduler(config, { log });
  log.info({ file, schedules: config.schedules.length }, 'scheduler started');
  await new Promise<void>((resolve) => {
    const onSignal = (signal: string): void => {
      log.info({ signal }, 'stopping');
      resolve();
    };
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.once('SIGINT', () => onSignal('SIGINT'));
  });
  await service.stop();
  return 0;
}
