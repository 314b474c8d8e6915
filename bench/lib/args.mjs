// Command line and console plumbing every bench/<name>/run.mjs shares.
import { parseArgs } from 'node:util';

/**
 * parseArgs over the bench's own `options` plus --json, --keep and --help; on --help prints
 * `usage` and exits.
 */
export function benchArgs(options, usage) {
  const { values } = parseArgs({
    options: {
      ...options,
      json: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(usage);
    process.exit(0);
  }
  return values;
}

/** The AMQP (amqplib) and rabbit:// (oslo.messaging) URLs of `host:port`, guest/guest; only a loopback broker. */
export function loopbackBroker(broker, bench) {
  const [host, port = '5672'] = broker.split(':');
  if (!['127.0.0.1', 'localhost', '::1'].includes(host)) throw new Error(`${bench} runs on a loopback broker only`);
  return { amqpUrl: `amqp://guest:guest@${host}:${port}/`, rabbitUrl: `rabbit://guest:guest@${host}:${port}/` };
}

/** A progress line writer on stderr (stdout stays the report), stamped with seconds since it was made. */
export function progressLog() {
  const t0 = Date.now();
  return (what) => process.stderr.write(`[bench ${((Date.now() - t0) / 1000).toFixed(1)}s] ${what}\n`);
}
