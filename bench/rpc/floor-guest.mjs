// Floor guest for bench/rpc: the least a guest can do and still satisfy Trove's client for
// rpc_ping, so the bench can show how much of a round trip is the caller and the broker.
// It declares the topic queue with oslo's flags (spec/trove-rpc.md §2), acks on receipt, and
// answers every call with one `ending: true` reply whose result is `true` encrypted with the
// instance key (§3.5, §4.1). It neither decrypts the context nor checks method or version.
//
//   node bench/rpc/floor-guest.mjs --url amqp://... --exchange E --guest-info guest_info.conf
//
// guest_id and instance_rpc_encr_key come from guest_info.conf, so the key never sits in argv.
// Prints `ready` once it consumes; SIGTERM closes the connection and exits.
import { createCipheriv, createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import amqp from 'amqplib';

const { values: opts } = parseArgs({
  options: { url: { type: 'string' }, exchange: { type: 'string' }, 'guest-info': { type: 'string' } },
});
if (!opts.url || !opts.exchange || !opts['guest-info']) {
  process.stderr.write('usage: floor-guest.mjs --url URL --exchange NAME --guest-info FILE\n');
  process.exit(2);
}

function readGuestInfo(path) {
  const found = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^\s*(guest_id|instance_rpc_encr_key)\s*=\s*(.*?)\s*$/.exec(line);
    if (m) found[m[1]] = m[2];
  }
  if (!found.guest_id) throw new Error(`no guest_id in ${path}`);
  return { guestId: found.guest_id, key: found.instance_rpc_encr_key || null };
}

// Trove's crypto_utils: AES-256-CBC, key = md5 hex string of the instance key, iv prepended,
// PKCS#7 padding, standard base64.
function encryptJson(value, key) {
  const aesKey = Buffer.from(createHash('md5').update(key, 'utf8').digest('hex'), 'ascii');
  const iv = randomBytes(16);
  const cipher = createCipheriv('aes-256-cbc', aesKey, iv);
  return Buffer.concat([iv, cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]).toString('base64');
}

const hex = () => randomUUID().replaceAll('-', '');
const { guestId, key } = readGuestInfo(opts['guest-info']);
const topic = `guestagent.${guestId}`;
const result = key ? encryptJson(true, key) : true; // same ciphertext each time: a floor, not a guest
const publishOptions = {
  contentType: 'application/json',
  contentEncoding: 'utf-8',
  deliveryMode: 2,
  priority: 0,
  headers: {},
};

// amqplib turns Nagle on (setNoDelay(false)) unless told otherwise; with it every reply waits
// for the delayed ACK of the previous segment, ~40 ms on loopback.
const conn = await amqp.connect(opts.url, { noDelay: true });
const ch = await conn.createChannel();
await ch.assertExchange(opts.exchange, 'topic', { durable: false, autoDelete: false });
await ch.assertQueue(topic, { durable: false, autoDelete: false });
await ch.bindQueue(topic, opts.exchange, topic);
await ch.consume(topic, (msg) => {
  if (!msg) return;
  ch.ack(msg);
  let request;
  try {
    request = JSON.parse(JSON.parse(msg.content.toString('utf8'))['oslo.message']);
  } catch {
    return;
  }
  if (typeof request._reply_q !== 'string' || typeof request._msg_id !== 'string') return;
  const reply = { result, failure: null, ending: true, _msg_id: request._msg_id, _unique_id: hex() };
  const body = JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': JSON.stringify(reply) });
  ch.publish('', request._reply_q, Buffer.from(body), publishOptions);
});
process.stdout.write('ready\n');

const stop = () => {
  conn.close().finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
