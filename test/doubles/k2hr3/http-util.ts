import type { FastifyReply, FastifyRequest } from 'fastify';
import { YRN_RE } from './state';

/** Small request/response helpers of the K2HR3 double (spec §1.1-§1.2 conventions). */

export type Req = FastifyRequest;
export type Token = { kind: 'none' } | { kind: 'user'; value: string } | { kind: 'role'; value: string };

export function rest(req: Req): string {
  return (req.params as { '*': string })['*'];
}

export function clientIp(req: Req): string {
  const ip = req.socket.remoteAddress ?? '';
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}

export function tokenOf(req: Req): Token {
  const raw = req.headers['x-auth-token'];
  if (typeof raw !== 'string' || raw === '') return { kind: 'none' };
  if (raw.startsWith('R=')) return { kind: 'role', value: raw.slice(2) };
  return { kind: 'user', value: raw.startsWith('U=') ? raw.slice(2) : raw };
}

/**
 * A name given as a full YRN (of this tenant) or as a bare path, in the case K2HR3 stores it:
 * lower-cased (a registration into `clusterA` lands in `clustera`, spec §10); undefined when
 * unusable.
 */
export function fullYrn(name: string, tenant: string, kind: string): string | undefined {
  const m = YRN_RE.exec(name);
  if (m) return (m[1] as string).toLowerCase() === tenant.toLowerCase() && m[2] === kind ? name.toLowerCase() : undefined;
  return /^[A-Za-z0-9_.\-/]+$/.test(name) ? `yrn:yahoo:::${tenant}:${kind}:${name}`.toLowerCase() : undefined;
}

export function strings(v: unknown): string[] {
  if (typeof v === 'string') return v === '' ? [] : [v];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

export function json(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send(JSON.stringify(body));
}

export function err(reply: FastifyReply, status: number, message: string): FastifyReply {
  return json(reply, status, { result: false, message });
}
