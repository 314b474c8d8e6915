import type { AgentConfig } from './config/types';
import type { Logger } from './log';
import { ConductorApi } from './conductor/api';
import { HeartbeatLoop } from './conductor/heartbeat';
import { GuestLogs, k2hdkcLogSources } from './guest/config-methods-logs';
import { agentLogSource } from './guest/agent-log-source';

import { join } from 'node:path';
import { buildDatastore } from './guest/build-datastore';
import { BackupSlot } from './guest/backup-slot';
import { K2hdkcDatastore } from './guest/k2hdkc-datastore';
import { buildGuestMethods } from './guest/methods';
import { createCommandRunner } from './system/command';
import { PrepareController } from './guest/prepare';
import type { HttpServer, HttpServerOptions } from './http/server';
import { Metrics } from './http/metrics';
import { SecureSerializer } from './rpc/secure';
import { RpcServer } from './rpc/server';
import type { Caster } from './rpc/types';

/** The agent's unit in the guest image (guest-image/systemd/); its journal is the `guest` log. */
const AGENT_UNIT = 'k2hdkc-trove-agent.service';

/**
 * The one place that builds and wires the modules. Start order: HTTP (so /healthz answers while
 * connecting), prepare state from the markers, the node brought back (k2hdkc/stopped-state.ts),
 * RPC consume, then heartbeats if already prepared.
 * Stop is the reverse: a running backup aborted, heartbeats, RPC (stop consuming, finish
 * in-flight calls), HTTP; all within shutdown_grace_seconds.
 */
export class Agent {
  private readonly log: Logger;
  private readonly metrics = new Metrics();
  private readonly heartbeat: HeartbeatLoop;
  private readonly prepare: PrepareController;
  private readonly rpc: RpcServer;
  /** The K2HDKC node, when [k2hdkc] datastore = k2hdkc (live reconfiguration starts/stops with the agent). */
  private readonly node: K2hdkcDatastore | null;
  /** The node's running backup, aborted first at stop (K2HDKC nodes only). */
  private readonly backups: BackupSlot | null;
  /** Options of the health endpoint, or null when http_port = 0 disables it. */
  private readonly httpOptions: HttpServerOptions | null;
  private http: HttpServer | null = null;
  private stopping: Promise<void> | null = null;

  constructor(private readonly config: AgentConfig, log: Logger) {
    this.log = log.child({ component: 'agent', guestId: config.guest.guestId });
    const { guest, agent, messaging } = config;

    // The conductor client publishes through the RPC server's connection, which needs the method
    // table, which needs prepare, which needs the conductor: a forwarding caster breaks the cycle.
    const caster: Caster = { cast: (topic, method, args, options) => this.rpc.cast(topic, method, args, options) };
    const conductor = new ConductorApi({
      caster,
      conductorQueue: messaging.conductorQueue,
      guestId: guest.guestId,
      encryptionKey: guest.instanceRpcEncrKey,
      log: log.child({ component: 'conductor' }),
      onHeartbeat: (ok) => this.metrics.onHeartbeat(ok),
    });
    const { datastore, volume, configuration } = buildDatastore(config, log);
    this.node = datastore instanceof K2hdkcDatastore ? datastore : null;
    this.backups = this.node === null ? null : new BackupSlot();
    this.heartbeat = new HeartbeatLoop({
      sender: conductor,
      statusProvider: () => datastore.status(),
      intervalMs: config.reportIntervalMs,
      stateDir: agent.stateDir,
      log: log.child({ component: 'heartbeat' }),
    });
    this.prepare = new PrepareController({
      stateDir: agent.stateDir,
      datastore,
      conductor,
      heartbeat: this.heartbeat,
      log: log.child({ component: 'prepare' }),
    });
    this.rpc = new RpcServer({
      messaging,
      guestId: guest.guestId,
      serializer: new SecureSerializer(guest.instanceRpcEncrKey),
      methods: buildGuestMethods({
        guestId: guest.guestId,
        datastoreManager: guest.datastoreManager,
        mountPoint: agent.mountPoint,
        // Logs go to stdout (the journal on a VM) and, with [k2hdkc] log_file, to that file.
        guestLogFile: config.agent.logFile,
        prepare: this.prepare,
        ...(datastore instanceof K2hdkcDatastore
          ? {
              node: { operations: datastore, beatNow: () => this.heartbeat.tickFresh() },
              prepareGuard: datastore.guard,
              volume: { volume, devicePath: agent.devicePath, mountPoint: agent.mountPoint },
              ...(configuration === undefined
                ? {}
                : {
                    configuration: {
                      configuration,
                      stateDir: agent.stateDir,
                      beatNow: () => this.heartbeat.tickFresh(),
                      whileRestarting: (run) => datastore.whileRestarting(run),
                    },
                  }),
              guestLogs: new GuestLogs({
                sources: k2hdkcLogSources(agentLogSource({ logFile: config.agent.logFile, journalUnit: AGENT_UNIT }), config.k2hdkc.daemonLogDir),
                guestId: guest.guestId,
                datastoreManager: guest.datastoreManager,
                statePath: join(agent.stateDir, 'guest-logs.json'),
                swift: { swiftUrl: config.backup.swiftUrl, serviceType: config.backup.swiftServiceType, endpointType: config.backup.swiftEndpointType, region: config.backup.regionName },
                log: log.child({ component: 'guest-logs' }),
              }),
              backup: {
                conductor,
                config: config.backup,
                iniPath: config.k2hdkc.iniPath,
                mountPoint: agent.mountPoint,
                runner: createCommandRunner(),
                log: log.child({ component: 'backup' }),
                ...(this.backups === null ? {} : { slot: this.backups }),
              },
            }
          : {}),
        log: log.child({ component: 'guest' }),
      }),
      log: log.child({ component: 'rpc' }),
      observer: this.metrics,
      maxMessageBytes: agent.maxMessageBytes,
    });
    this.httpOptions =
      agent.httpPort === 0
        ? null
        : {
            host: agent.httpHost,
            port: agent.httpPort,
            metrics: this.metrics,
            health: {
              brokerConnected: () => this.rpc.connected,
              prepared: () => this.prepare.state === 'prepared',
              lastHeartbeatAt: () => conductor.lastHeartbeatAt,
            },
            heartbeatStaleSeconds: Math.max(90, (3 * config.reportIntervalMs) / 1000),
            log: log.child({ component: 'http' }),
          };
  }

  async start(): Promise<void> {
    const { guest, messaging } = this.config;
    this.log.info(
      {
        sources: this.config.sources,
        brokers: messaging.transportUrl.hosts.map((h) => `${h.host}:${h.port}`),
        controlExchange: messaging.controlExchange,
        secureRpc: guest.instanceRpcEncrKey !== null,
      },
      'agent starting',
    );
    if (this.httpOptions !== null) {
      // Loaded only when enabled: fastify and its dependencies are ~7 MiB of the agent's RSS.
      const { HttpServer } = await import('./http/server');
      this.http = new HttpServer(this.httpOptions);
      // The endpoint is for local monitoring; Trove must still be served when its port is taken.
      await this.http.start().then(
        (address) => this.log.info(address, 'health endpoint listening'),
        (error: unknown) => this.log.error({ err: error }, 'health endpoint could not start; continuing without it'),
      );
    }
    const state = await this.prepare.restore();
    // Follows K2HR3 again, or brings back a node a reboot (or a plain stop_db) left down; the
    // start itself runs on while RPC is served, and a fresh heartbeat reports it healthy.
    if (state === 'prepared') await this.node?.resume(() => this.heartbeat.tickFresh());
    await this.rpc.start();
    if (await this.heartbeat.startIfPrepared()) this.log.info('already prepared: heartbeats resumed');
    this.log.info({ prepareState: state }, 'agent started');
  }

  /** Idempotent; later calls wait for the first. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info('agent stopping');
      const grace = this.config.agent.shutdownGraceMs;
      const started = Date.now();
      // Aborted at once (a backup outlasts any grace), and waited for before RPC stops: its
      // segment cleanup and FAILED cast need the broker connection rpc.stop() closes.
      const backupStopped = this.backups?.close('the agent is shutting down', grace) ?? Promise.resolve('none' as const);
      await this.heartbeat.stop();
      const backup = await backupStopped;
      if (backup === 'aborted') this.log.info('running backup aborted and reported FAILED');
      if (backup === 'still-running') this.log.warn('running backup did not wind down within shutdown_grace_seconds');
      await this.node?.close();
      await this.rpc.stop(Math.max(0, grace - (Date.now() - started)));
      await this.http?.close();
      this.log.info('agent stopped');
    })();
    return this.stopping;
  }

  /** Starts, then runs until SIGTERM or SIGINT; returns the process exit code. */
  async runUntilSignalled(): Promise<number> {
    const signalled = new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    try {
      await this.start();
    } catch (error) {
      this.log.error({ err: error }, 'agent failed to start');
      await this.stop().catch(() => undefined);
      return 1;
    }
    const signal = await signalled;
    this.log.info({ signal }, 'signal received');
    await this.stop();
    return 0;
  }
}
