import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { Options } from 'amqplib';
import { ConfigError } from '../errors';
import type { BrokerHost, MessagingConfig } from '../config/types';

/** What amqplib's connect() takes for one broker of transport_url. */
export interface BrokerConnectOptions {
  readonly url: Options.Connect;
  readonly socket: Record<string, unknown>;
  /** `host:port`, for logs (never the credentials). */
  readonly label: string;
}

/** How long a TCP/TLS connect may take before the next host is tried. */
const CONNECT_TIMEOUT_MS = 5000;

function readPem(path: string | null, what: string): Buffer | undefined {
  if (path === null) return undefined;
  try {
    return readFileSync(path);
  } catch (cause) {
    throw new ConfigError(`cannot read [oslo_messaging_rabbit] ${what} ${path}`, { cause });
  }
}

/**
 * Builds amqplib options for every transport_url host, in order. TLS follows
 * [oslo_messaging_rabbit] ssl (not the URL scheme), as in oslo; certificate files are read
 * once here, so a missing file stops start-up instead of failing every reconnect.
 */
export function brokerConnectOptions(
  messaging: MessagingConfig,
  connectionName: string,
): readonly BrokerConnectOptions[] {
  const { rabbit, transportUrl } = messaging;
  if (transportUrl.hosts.length === 0) throw new ConfigError('transport_url names no broker host');
  const tls = rabbit.ssl
    ? {
        ca: readPem(rabbit.sslCaFile, 'ssl_ca_file'),
        cert: readPem(rabbit.sslCertFile, 'ssl_cert_file'),
        key: readPem(rabbit.sslKeyFile, 'ssl_key_file'),
      }
    : {};
  return transportUrl.hosts.map((host: BrokerHost) => ({
    url: {
      protocol: rabbit.ssl ? 'amqps' : 'amqp',
      hostname: host.host,
      port: host.port,
      username: host.username,
      password: host.password,
      vhost: transportUrl.vhost,
      heartbeat: rabbit.heartbeatTimeoutThreshold,
    },
    socket: {
      ...Object.fromEntries(Object.entries(tls).filter(([, value]) => value !== undefined)),
      // SNI takes a host name only; Node refuses an IP address there.
      ...(rabbit.ssl && isIP(host.host) === 0 ? { servername: host.host } : {}),
      timeout: CONNECT_TIMEOUT_MS,
      // amqplib turns Nagle's algorithm on unless told otherwise; every small reply would then
      // wait for the peer's delayed ACK (~40 ms per rpc_ping, measured in bench/rpc).
      noDelay: true,
      // Shown by `rabbitmqctl list_connections client_properties`, so an operator (or a
      // test) can find this agent's connection.
      clientProperties: { connection_name: connectionName },
    },
    label: `${host.host}:${host.port}`,
  }));
}
