import type { AgentConfig } from './config/types';
import type { Logger } from './log';
import { ConductorApi } from './conductor/api';
import { HeartbeatLoop } from './conductor/heartbeat';
import type { DatastoreContribution } from './datastores/contribution';
import { DATASTORES } from './datastores';
import { buildGuestMethods } from './guest/methods/table';
import { PrepareController } from './guest/prepare/controller';
import type { HttpServer, HttpServerOptions } from './http/server';
import { Metrics } from './http/metrics';
import { SecureSerializer } from './rpc/secure';
import { RpcServer } from './rpc/server';
import type { Caster } from './rpc/types';

/**
 * The one place that builds and wires the modules. Start order: HTTP (so /healthz answers while
 * connecting), prepare state from the markers, the datastore brought back (its resume), RPC
 * consume, then heartbeats if already prepared.
 * Stop is the reverse: the datastore's long work aborted (a running backup), heartbeats, the
 * datastore closed, RPC (stop consuming, finish in-flight calls), HTTP; all within
 * shutdown_grace_seconds. What differs between datastores is in src/datastores/, one file each.
 */
export class Agent {
  private readonly log: Logger;
  private readonly metrics = new Metrics();
  private readonly heartbeat: HeartbeatLoop;
  private readonly prepare: PrepareController;
  private readonly rpc: RpcServer;
  /** What [k2hdkc] datastore wires in: the Datastore, its methods, its work at start and stop (src/datastores/). */
  private readonly datastore: DatastoreContribution;
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
    // The datastore [k2hdkc] datastore names: its Datastore, method groups and background work.
    this.datastore = DATASTORES[config.k2hdkc.datastore]({ config, conductor, beatNow: () => this.heartbeat.tickFresh(), log });
    const { datastore } = this.datastore;
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
        ...this.datastore.methods,
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
      // A stop() that ran meanwhile (a signal at once) found no endpoint to close.
      if (this.stopping !== null) await this.closeHttp();
    }
    const state = await this.prepare.restore();
    // Follows K2HR3 again, or brings back a node a reboot (or a plain stop_db) left down; the
    // start itself runs on while RPC is served, and a fresh heartbeat reports it healthy.
    if (state === 'prepared') await this.datastore.resume?.(() => this.heartbeat.tickFresh());
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
      // Long work (a backup) is aborted at once and waited for before RPC stops: its cleanup
      // and reports need the broker connection rpc.stop() closes.
      const aborted = this.datastore.abort?.(grace);
      await this.heartbeat.stop();
      await aborted;
      await this.datastore.close?.();
      await this.rpc.stop(Math.max(0, grace - (Date.now() - started)));
      await this.closeHttp();
      this.log.info('agent stopped');
    })();
    return this.stopping;
  }

  /** Closes the health endpoint once, whoever asks first. */
  private async closeHttp(): Promise<void> {
    const http = this.http;
    this.http = null;
    await http?.close();
  }

  /** Starts, then runs until SIGTERM or SIGINT; returns the process exit code. */
  async runUntilSignalled(): Promise<number> {
    const signalled = new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    // A signal while the agent still starts (its broker not up yet) stops it too: stop() closes
    // the transport, which ends start()'s connection retries.
    const started = this.start().then(
      () => null,
      (error: unknown) => ({ error }),
    );
    const first = await Promise.race([started, signalled]);
    if (first !== null && typeof first === 'object') {
      this.log.error({ err: first.error }, 'agent failed to start');
      await this.stop().catch(() => undefined);
      return 1;
    }
    const signal = first ?? (await signalled);
    this.log.info({ signal }, 'signal received');
    // A start still running ends with the transport's "closed" error, which is expected here.
    await this.stop();
    return 0;
  }
}
