import type { BrokerHost, TransportUrl } from './types';

const DEFAULT_PORT = 5672;

/**
 * Parses oslo.messaging's transport_url: `rabbit://user:pass@host1:5672,user:pass@host2:5672/vhost`.
 * Credentials are per host; a host written without them reuses the previous host's (so
 * `rabbit://u:p@a,b` means both with u:p). IPv6 hosts go in brackets. Throws Error with a reason.
 */
export function parseTransportUrl(url: string): TransportUrl {
  const match = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)(\/[^?#]*)?(\?[^#]*)?$/i.exec(url.trim());
  if (match === null || match[1] === undefined || match[2] === undefined) {
    throw new Error('expected rabbit://user:password@host:port[,user:password@host:port...]/vhost');
  }
  const scheme = match[1].toLowerCase();
  if (scheme !== 'rabbit' && scheme !== 'amqp') {
    throw new Error(`unsupported transport '${scheme}' (only rabbit:// and amqp:// are supported)`);
  }
  if (match[2] === '') throw new Error('no broker host given');
  const hosts: BrokerHost[] = [];
  let username = 'guest';
  let password = 'guest';
  for (const part of match[2].split(',')) {
    const at = part.lastIndexOf('@');
    if (at >= 0) {
      const credentials = part.slice(0, at);
      const colon = credentials.indexOf(':');
      username = decode(colon >= 0 ? credentials.slice(0, colon) : credentials);
      password = colon >= 0 ? decode(credentials.slice(colon + 1)) : '';
    }
    hosts.push({ ...parseHostPort(at >= 0 ? part.slice(at + 1) : part), username, password });
  }
  const path = match[3] === undefined ? '' : decode(match[3].slice(1));
  return { scheme, hosts, vhost: path === '' ? '/' : path };
}

function parseHostPort(hostPort: string): { host: string; port: number } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(hostPort);
  const plain = /^([^:[\]]+)(?::(\d+))?$/.exec(hostPort);
  const found = bracketed ?? plain;
  if (found === null || found[1] === undefined) throw new Error(`invalid broker host '${hostPort}'`);
  const port = found[2] === undefined ? DEFAULT_PORT : Number(found[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`invalid port in '${hostPort}'`);
  return { host: found[1], port };
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new Error('invalid percent-encoding');
  }
}
