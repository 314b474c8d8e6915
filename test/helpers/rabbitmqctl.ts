import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A queue as `rabbitmqctl list_queues` reports it (arguments flattened to name -> value). */
export interface BrokerQueue {
  readonly name: string;
  readonly durable: boolean;
  readonly auto_delete: boolean;
  readonly arguments: Readonly<Record<string, unknown>>;
  readonly consumers: number;
  readonly messages: number;
}

async function rabbitmqctl(args: readonly string[]): Promise<string> {
  const { stdout } = await run('rabbitmqctl', ['-q', ...args], { maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

/** The broker's own view of the named queues (missing ones are absent from the map). */
export async function listQueues(names: readonly string[]): Promise<Map<string, BrokerQueue>> {
  const out = await rabbitmqctl(['list_queues', 'name', 'durable', 'auto_delete', 'arguments', 'consumers', 'messages', '--formatter', 'json']);
  const rows = JSON.parse(out) as Array<Omit<BrokerQueue, 'arguments'> & { arguments: Array<[string, string, unknown]> }>;
  const wanted = new Set(names);
  return new Map(
    rows
      .filter((row) => wanted.has(row.name))
      .map((row) => [row.name, { ...row, arguments: Object.fromEntries(row.arguments.map(([k, , v]) => [k, v])) }]),
  );
}

/** The broker's view of the named exchanges. */
export async function listExchanges(names: readonly string[]): Promise<Map<string, { type: string; durable: boolean; auto_delete: boolean }>> {
  const out = await rabbitmqctl(['list_exchanges', 'name', 'type', 'durable', 'auto_delete', '--formatter', 'json']);
  const rows = JSON.parse(out) as Array<{ name: string; type: string; durable: boolean; auto_delete: boolean }>;
  return new Map(rows.filter((row) => names.includes(row.name)).map((row) => [row.name, row]));
}

/**
 * Closes, from the broker side, only the connections whose connection_name client property
 * equals `name` (never everyone's: other suites share the broker). Returns how many.
 */
export async function closeConnectionsNamed(name: string, reason = 'test'): Promise<number> {
  // The JSON formatter prints pids as `#PID<...>`, which close_connection does not accept;
  // the tab-separated form gives `<rabbit@host.N.N.N>` and the client properties as text.
  const out = await rabbitmqctl(['list_connections', 'pid', 'client_properties']);
  const pids = out
    .split('\n')
    .filter((line) => line.startsWith('<') && line.includes(`"${name}"`))
    .map((line) => line.split('\t')[0] as string);
  for (const pid of pids) await rabbitmqctl(['close_connection', pid, reason]);
  return pids.length;
}

/** Names of all queues starting with prefix (to clean up queues whose names we never saw). */
export async function queuesWithPrefix(prefix: string): Promise<string[]> {
  const out = await rabbitmqctl(['list_queues', 'name', '--formatter', 'json']);
  return (JSON.parse(out) as Array<{ name: string }>).map((row) => row.name).filter((name) => name.startsWith(prefix));
}
