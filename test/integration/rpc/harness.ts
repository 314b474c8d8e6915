import { randomUUID } from 'node:crypto';
import type { MessagingConfig } from '../../../src/config/types';
import { SecureSerializer } from '../../../src/rpc/secure';
import { RpcServer, type RpcServerOptions } from '../../../src/rpc/server';
import type { MethodTable } from '../../../src/rpc/types';
import { OsloTestClient, cleanupBroker, memoryLogger, testMessaging } from '../../helpers/oslo-client';
import { queuesWithPrefix } from '../../helpers/rabbitmqctl';

/** Guest ids of this suite start with this, so afterAll can find every queue we made. */
export const GUEST_PREFIX = 'rpct-';

/** One server + one controller-side client on a fresh control exchange and guest id. */
export interface Rig {
  readonly guestId: string;
  readonly topic: string;
  readonly messaging: MessagingConfig;
  readonly server: RpcServer;
  readonly client: OsloTestClient;
  readonly lines: Record<string, unknown>[];
}

const rigs: Rig[] = [];
const exchanges: string[] = [];

/** Builds (does not start) a server for a new guest id, and opens a client. */
export async function makeRig(
  methods: MethodTable,
  options: { key?: string | null; messaging?: MessagingConfig; maxMessageBytes?: number; guestId?: string } & Partial<RpcServerOptions> = {},
): Promise<Rig> {
  const guestId = options.guestId ?? `${GUEST_PREFIX}${randomUUID()}`;
  const messaging = options.messaging ?? testMessaging();
  const { log, lines } = memoryLogger();
  const server = new RpcServer({
    messaging,
    guestId,
    serializer: new SecureSerializer(options.key === undefined ? null : options.key),
    methods,
    log,
    maxMessageBytes: options.maxMessageBytes ?? 1024 * 1024,
    ...(options.observer ? { observer: options.observer } : {}),
    ...(options.reconnectDelayMs ? { reconnectDelayMs: options.reconnectDelayMs } : {}),
  });
  const client = await OsloTestClient.open(messaging.controlExchange);
  const rig = { guestId, topic: `guestagent.${guestId}`, messaging, server, client, lines };
  rigs.push(rig);
  exchanges.push(messaging.controlExchange);
  return rig;
}

/** Stops every rig and deletes its topic queues; `queues` also sweeps fanout queues (slow). */
export async function cleanupRigs(options: { queues: boolean }): Promise<void> {
  const topics: string[] = [];
  for (const rig of rigs.splice(0)) {
    await rig.server.stop(1000).catch(() => undefined);
    await rig.client.close();
    topics.push(rig.topic, `${rig.topic}.${rig.guestId}`);
  }
  const swept = options.queues ? await queuesWithPrefix(`guestagent.${GUEST_PREFIX}`) : [];
  await cleanupBroker([...topics, ...swept], exchanges.splice(0));
}
