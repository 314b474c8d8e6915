import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import { waitFor } from './poll';

const run = promisify(execFile);

export const BROKER_URL = 'amqp://guest:guest@127.0.0.1:5672/';
/** The same broker as an oslo transport_url (what Trove and the agent read). */
export const TRANSPORT_URL = 'rabbit://guest:guest@127.0.0.1:5672/';

/** Consumers on `queue`; 0 when the queue does not exist. */
export async function consumerCount(queue: string): Promise<number> {
  const conn = await amqp.connect(BROKER_URL);
  try {
    const ch = await conn.createChannel();
    // checkQueue on a missing queue closes the channel with 404; that is our "0".
    ch.on('error', () => undefined);
    try {
      return (await ch.checkQueue(queue)).consumerCount;
    } catch {
      return 0;
    }
  } finally {
    await conn.close().catch(() => undefined);
  }
}

/** Resolves once something consumes `queue` (the agent or the conductor is ready). */
export function waitForConsumer(queue: string, timeoutMs = 30_000): Promise<number> {
  return waitFor(`a consumer on ${queue}`, async () => {
    const n = await consumerCount(queue);
    return n > 0 ? n : undefined;
  }, { timeoutMs, intervalMs: 100 });
}

/** Deletes test queues (and their messages); missing ones are fine. */
export async function deleteQueues(queues: readonly string[]): Promise<void> {
  const conn = await amqp.connect(BROKER_URL).catch(() => null);
  if (conn === null) return;
  try {
    for (const queue of queues) {
      const ch = await conn.createChannel();
      ch.on('error', () => undefined);
      await ch.deleteQueue(queue).catch(() => undefined);
      await ch.close().catch(() => undefined);
    }
  } finally {
    await conn.close().catch(() => undefined);
  }
}

/** Resolves when an AMQP connection to the broker succeeds. */
export function waitForBroker(timeoutMs = 60_000): Promise<true> {
  return waitFor('RabbitMQ to accept AMQP connections', async () => {
    const conn = await amqp.connect(BROKER_URL);
    await conn.close();
    return true as const;
  }, { timeoutMs, intervalMs: 200 });
}

/** `rabbitmqctl <args>` with an argument array (never a shell string). */
export async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await run('rabbitmqctl', args, { timeout: 120_000 });
  return stdout;
}
