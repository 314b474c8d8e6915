import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Authenticator, Identity } from './auth';

declare module 'fastify' {
  interface FastifyRequest {
    identity?: Identity;
  }
}

/** An error with the HTTP status and the body each service formats its own way. */
export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly kind = '') {
    super(message);
  }
}

export function notFound(what: string, kind = ''): ApiError {
  return new ApiError(404, `${what} could not be found.`, kind);
}

export function badRequest(message: string, kind = ''): ApiError {
  return new ApiError(400, message, kind);
}

/** nova's and cinder's error body: `{"itemNotFound": {"code": 404, "message": ...}}`. */
export function novaStyleError(error: ApiError): Record<string, unknown> {
  const key = { 400: 'badRequest', 403: 'forbidden', 404: 'itemNotFound', 409: 'conflictingRequest', 413: 'overLimit' }[error.status] ?? 'computeFault';
  return { [key]: { code: error.status, message: error.message } };
}

/** The identity of the request (set by `requireToken`). */
export function who(req: FastifyRequest): Identity {
  if (req.identity === undefined) throw new ApiError(401, 'The request you have made requires authentication.');
  return req.identity;
}

/**
 * keystonemiddleware's part of a real service: no token or a wrong one gets 401 with the
 * WWW-Authenticate header naming Keystone; the version documents are public.
 */
export function requireToken(scope: FastifyInstance, authenticate: Authenticator, keystoneUrl: string, isPublic: (url: string) => boolean): void {
  scope.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    if (isPublic(req.url.split('?')[0] ?? '')) return;
    const token = req.headers['x-auth-token'];
    const identity = typeof token === 'string' && token !== '' ? await authenticate(token) : null;
    if (identity === null) {
      await reply.code(401).header('WWW-Authenticate', `Keystone uri="${keystoneUrl}"`).send({
        error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' },
      });
      return;
    }
    req.identity = identity;
  });
}

/** A JSON object body or a 400 naming what was expected. */
export function objectBody(req: FastifyRequest, key: string): Record<string, unknown> {
  const body = req.body as Record<string, unknown> | null | undefined;
  const inner = body?.[key];
  if (inner === null || typeof inner !== 'object' || Array.isArray(inner)) throw badRequest(`The request body must be a JSON object with a "${key}" object.`);
  return inner as Record<string, unknown>;
}

export function optionalString(obj: Record<string, unknown>, key: string): string | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw badRequest(`"${key}" must be a string.`);
  return value;
}

/** Repeated query parameters (`?tag=a&tag=b`) as a list. */
export function queryList(value: unknown): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}
