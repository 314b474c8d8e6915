import { performance } from 'node:perf_hooks';
import type { ConsumeMessage } from 'amqplib';
import { AgentError, TransportError } from '../errors';
import type { Logger } from '../log';
import type { MessagingConfig } from '../config/types';
import { DuplicateFilter } from './dedup';
import { Dispatcher } from './dispatcher';
import {
  buildCast,
  buildReply,
  decodeEnvelope,
  encodeEnvelope,
  parseRequest,
  replyTargetOf,
  scanReplyTarget,
  type OsloRequest,
  type ReplyTarget,
} from './envelope';
import { isExpectedError, serializeFailure } from './failures';
import { buildServerTopology } from './topology';
import { AmqpTransport } from './transport';
import type { CallOutcome, Caster, MethodTable, RequestContext, RpcObserver, Serializer } from './types';

export interface RpcServerOptions {
  readonly messaging: MessagingConfig;
  readonly guestId: string;
  readonly serializer: Serializer;
  readonly methods: MethodTable;
  readonly log: Logger;
  readonly observer?: RpcObserver;
  /** Bodies larger than this are not parsed (failure reply if a reply queue is found). */
  readonly maxMessageBytes: number;
  /** Reconnect backoff; defaults 500 ms doubling to 2 s, so we are back within seconds. */
  readonly reconnectDelayMs?: { readonly initial: number; readonly max: number };
  /** How many `_unique_id`s are remembered for de-duplication (default 4096). */
  readonly dedupCapacity?: number;
}

/** cast() and replies wait this long for a connection before giving up (TEAM.md contract). */
const PUBLISH_WAIT_MS = 10_000;
/** After the grace period, aborted handlers get this long to reply before we close. */
const ABORT_WAIT_MS = 1_000;
/** Metrics label for messages whose method is not served (keeps label cardinality bounded). */
const UNKNOWN_METHOD = '_unknown';
const MALFORMED = '_malformed';

function delay(ms: number): { promise: Promise<void>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

/**
 * The guest's oslo.messaging-compatible RPC server (oslo_messaging/rpc/server.py's loop):
 * take a message, decode, de-duplicate, dispatch, reply once. Every message is handled
 * concurrently, so rpc_ping is answered while a prepare runs for minutes (spec §0.8).
 * Also the Caster the conductor client publishes through.
 */
export class RpcServer implements Caster {
  private readonly transport: AmqpTransport;
  private readonly dispatcher: Dispatcher;
  private readonly dedup: DuplicateFilter;
  private readonly log: Logger;
  private readonly inflight = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private stopped = false;

  constructor(private readonly options: RpcServerOptions) {
    this.log = options.log;
    this.dispatcher = new Dispatcher(options.methods, options.serializer);
    this.dedup = new DuplicateFilter(options.dedupCapacity ?? 4096);
    this.transport = new AmqpTransport({
      messaging: options.messaging,
      topology: buildServerTopology(options.messaging, options.guestId),
      log: options.log,
      observer: options.observer,
      connectionName: `k2hdkc-trove-agent guestagent.${options.guestId}`,
      onDelivery: (msg) => this.track(msg),
      ...(options.reconnectDelayMs === undefined ? {} : { reconnectDelayMs: options.reconnectDelayMs }),
    });
  }

  /** True while connected to the broker and consuming (for /healthz). */
  get connected(): boolean {
    return this.transport.connected;
  }

  /** Number of messages being handled right now. */
  get inFlight(): number {
    return this.inflight.size;
  }

  /**
   * Connects, declares oslo's queues and starts consuming; resolves once consuming. Keeps
   * retrying while the broker is unreachable; rejects with TransportError on a 406 (flags
   * differ from the existing queues) or when stop() is called first.
   */
  async start(): Promise<void> {
    await this.transport.start();
    this.log.info({ methods: this.dispatcher.methodNames.length }, 'RPC server consuming');
  }

  /**
   * Stops consuming, waits up to graceMs for in-flight handlers (then aborts their signal and
   * gives them a moment to reply), and closes channels and connection.
   */
  async stop(graceMs: number): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.transport.stopConsuming();
    const settled = Promise.allSettled([...this.inflight]).then(() => true);
    const grace = delay(graceMs);
    const finished = await Promise.race([settled, grace.promise.then(() => false)]);
    grace.cancel();
    if (!finished) {
      this.log.warn({ inFlight: this.inflight.size }, 'grace period over; aborting in-flight handlers');
      this.abort.abort(new TransportError('the agent is shutting down'));
      const extra = delay(ABORT_WAIT_MS);
      await Promise.race([settled, extra.promise]);
      extra.cancel();
    }
    await this.transport.close();
    this.log.info('RPC server stopped');
  }

  /** Casts `method` to `topic` on the control exchange; waits up to 10 s for a connection. */
  async cast(
    topic: string,
    method: string,
    args: Readonly<Record<string, unknown>>,
    options: { version?: string; context?: RequestContext; serializer?: Serializer } = {},
  ): Promise<void> {
    const serializer = options.serializer ?? this.options.serializer;
    const wireArgs = Object.fromEntries(Object.entries(args).map(([k, v]) => [k, serializer.serializeEntity(v)]));
    const message = buildCast(method, wireArgs, options.version ?? '1.0', serializer.serializeContext(options.context ?? {}));
    await this.transport.publish(this.options.messaging.controlExchange, topic, encodeEnvelope(message), {
      mandatory: false,
      waitMs: PUBLISH_WAIT_MS,
    });
  }

  private track(msg: ConsumeMessage): void {
    // Never awaited here: the consume callback returns at once, so a long handler blocks nothing.
    const task = this.handle(msg.content).catch((err: unknown) => {
      this.log.error({ err }, 'unexpected error while handling a message');
    });
    this.inflight.add(task);
    void task.finally(() => this.inflight.delete(task));
  }

  private observe(method: string, outcome: CallOutcome, started: number): void {
    this.options.observer?.onCall?.(method, outcome, (performance.now() - started) / 1000);
  }

  private async handle(body: Buffer): Promise<void> {
    const started = performance.now();
    let request: OsloRequest;
    let message: Record<string, unknown> | null = null;
    try {
      message = decodeEnvelope(body, this.options.maxMessageBytes);
      request = parseRequest(message);
    } catch (err) {
      // Undecodable: answer if we can find where to (a call then fails fast instead of timing
      // out), otherwise log and drop. Never let it reach the process.
      const target = message === null ? scanReplyTarget(body) : replyTargetOf(message);
      this.log.warn({ err: (err as Error).message, bytes: body.length, msgId: target?.msgId }, 'malformed message');
      if (target !== null) await this.reply(target, { failure: serializeFailure(err) }, this.log);
      this.observe(MALFORMED, target === null ? 'dropped' : 'failure', started);
      return;
    }
    const metricName = this.dispatcher.methodNames.includes(request.method) ? request.method : UNKNOWN_METHOD;
    if (request.uniqueId !== null && this.dedup.isDuplicate(request.uniqueId)) {
      this.log.info({ uniqueId: request.uniqueId.slice(0, 64) }, 'duplicate message dropped');
      this.observe(metricName, 'dropped', started);
      return;
    }
    // Bind only fields we choose; the method name is untrusted input, so it is clipped.
    const log = this.log.child({
      msgId: request.msgId?.slice(0, 64) ?? null,
      method: request.method.slice(0, 128),
      instanceId: this.options.guestId,
    });
    const target: ReplyTarget | null =
      request.msgId !== null && request.replyQ !== null ? { msgId: request.msgId, replyQ: request.replyQ } : null;
    if (request.msgId !== null && target === null) {
      log.warn('call without _reply_q; dropped');
      this.observe(metricName, 'dropped', started);
      return;
    }
    const outcome = await this.dispatch(request, log);
    if (target !== null) await this.reply(target, outcome, log);
    this.observe(metricName, 'failure' in outcome ? 'failure' : 'success', started);
  }

  /** Runs the handler and turns the outcome into reply fields (result serialized). */
  private async dispatch(request: OsloRequest, log: Logger): Promise<{ result: unknown } | { failure: string }> {
    const kind = request.msgId === null ? 'cast' : 'call';
    try {
      const context = this.options.serializer.deserializeContext(request.message);
      const value = await this.dispatcher.dispatch(request, {
        method: request.method,
        kind,
        msgId: request.msgId,
        context,
        log,
        signal: this.abort.signal,
      });
      log.debug({ kind }, 'handled');
      // The real server encrypts even a None result (spec §3.5); undefined is JSON null.
      const result = this.options.serializer.serializeEntity(value === undefined ? null : value);
      JSON.stringify(result); // fails here (-> failure reply) rather than in the reply encoder
      return { result };
    } catch (err) {
      if (isExpectedError(err)) {
        log.warn({ kind, code: (err as AgentError).code, err: (err as Error).message }, `${kind} failed`);
      } else {
        log.error({ kind, err }, `${kind} failed`);
      }
      return { failure: serializeFailure(err, request.method.slice(0, 128)) };
    }
  }

  /** Publishes the one reply of a call; a lost reply is logged, never thrown. */
  private async reply(target: ReplyTarget, outcome: { result: unknown } | { failure: string }, log: Logger): Promise<void> {
    try {
      const body = encodeEnvelope(buildReply(target.msgId, outcome));
      // mandatory, as oslo's direct_mandatory_flag: a vanished reply queue comes back as a
      // basic.return, which the transport logs and drops.
      await this.transport.publish('', target.replyQ, body, { mandatory: true, waitMs: PUBLISH_WAIT_MS });
    } catch (err) {
      log.error({ err: (err as Error).message, replyQ: target.replyQ }, 'reply lost');
    }
  }
}
