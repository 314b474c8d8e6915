// Broker-side helpers for bench/rpc: wait until a guest consumes its topic queue, and remove
// what the bench declared. Only passive checks and deletes; the guests declare for themselves.
import amqp from 'amqplib';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export async function openBroker(url) {
  const conn = await amqp.connect(url, { noDelay: true });
  conn.on('error', () => {}); // a closed channel (404 on checkQueue) is expected, not fatal
  return conn;
}

/**
 * Resolves once `queue` has a consumer: the guest is listening, so a call published now is
 * not dropped for want of a binding. Rejects after `timeoutMs` or when `exited` settles first.
 */
export async function waitForConsumer(conn, queue, timeoutMs, exited) {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !gone) {
    const ch = await conn.createChannel();
    ch.on('error', () => {});
    try {
      // checkQueue is passive: a missing queue closes this channel with 404, nothing else.
      const { consumerCount } = await ch.checkQueue(queue);
      await ch.close();
      if (consumerCount > 0) return;
    } catch {
      /* not declared yet */
    }
    await sleep(100);
  }
  throw new Error(gone ? `guest exited before consuming ${queue}` : `no consumer on ${queue} after ${timeoutMs} ms`);
}

/** Deletes the guests' topic and server queues and the run's exchange; best effort. */
export async function cleanUp(conn, guestIds, exchange) {
  const names = guestIds.flatMap((id) => [`guestagent.${id}`, `guestagent.${id}.${id}`]);
  for (const name of names) {
    const ch = await conn.createChannel();
    ch.on('error', () => {});
    await ch.deleteQueue(name).then(
      () => ch.close(),
      () => {},
    );
  }
  const ch = await conn.createChannel();
  ch.on('error', () => {});
  await ch.deleteExchange(exchange).then(
    () => ch.close(),
    () => {},
  );
}
