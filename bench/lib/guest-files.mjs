// The two files Trove injects into a guest (trove-guestagent.conf and guest_info.conf), as the
// benches write them for our agent and the reference guests.
import { randomInt } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Atomic, owner-only write (temp + rename), as the agent's own config files are written. */
export function writePrivate(path, text) {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, path);
}

/** A random 32-character [A-Za-z0-9] key, the shape Trove generates per instance. */
export function instanceKey() {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from({ length: 32 }, () => alphabet[randomInt(alphabet.length)]).join('');
}

/**
 * Writes both files into `dir` (with its state/ and data/ directories). `k2hdkc`: more
 * [k2hdkc] lines after the common ones; `httpPort`: the health endpoint's port (0 = off).
 * Returns their paths.
 */
export function writeGuestFiles(dir, o) {
  mkdirSync(join(dir, 'state'), { recursive: true, mode: 0o700 });
  mkdirSync(join(dir, 'data'), { recursive: true, mode: 0o700 });
  const agentConf = join(dir, 'trove-guestagent.conf');
  const infoConf = join(dir, 'guest_info.conf');
  writePrivate(agentConf, [
    '[DEFAULT]',
    `transport_url = ${o.rabbitUrl}`,
    `control_exchange = ${o.exchange}`,
    `conductor_queue = ${o.conductorQueue}`,
    `report_interval = ${o.reportInterval}`,
    'debug = false',
    '[oslo_messaging_rabbit]',
    'amqp_durable_queues = false',
    'amqp_auto_delete = false',
    '[k2hdkc]',
    `state_dir = ${join(dir, 'state')}`,
    `mount_point = ${join(dir, 'data')}`,
    // The health endpoint: off unless asked for (`httpPort`); a production guest has it on.
    `http_port = ${o.httpPort ?? 0}`,
    'http_host = 127.0.0.1',
    `log_level = ${o.logLevel}`,
    ...(o.k2hdkc ?? []),
    '',
  ].join('\n'));
  writePrivate(infoConf, ['[DEFAULT]', `guest_id = ${o.id}`, 'datastore_manager = k2hdkc', 'datastore_version = 1.0.14',
    `tenant_id = ${o.tenantId}`, `instance_rpc_encr_key = ${o.key}`, ''].join('\n'));
  return { agentConf, infoConf };
}
