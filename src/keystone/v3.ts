import Ajv from 'ajv';

/**
 * Keystone v3 identity API shapes shared by the agent (src/keystone/token-project.ts) and the
 * tools' session (src/keystone/session.ts): the versioned base URL and the token body of
 * POST/GET /v3/auth/tokens (the token itself travels in the X-Subject-Token header). Only the
 * fields a caller relies on are required.
 */

/** `http://h:5000`, `.../identity`, `.../v3/`, `.../v2.0` → the v3 base (`.../v3`). */
export function keystoneV3Url(authUrl: string): string {
  const trimmed = authUrl.replace(/\/+$/, '');
  if (/\/v3$/.test(trimmed)) return trimmed;
  if (/\/v2\.0$/.test(trimmed)) return trimmed.replace(/\/v2\.0$/, '/v3');
  return `${trimmed}/v3`;
}

export interface CatalogEndpoint {
  interface: string;
  url: string;
  region?: string | null;
  region_id?: string | null;
}

export interface TokenBody {
  token: {
    expires_at: string;
    project?: { id: string; name?: string; domain?: { id?: string; name?: string } } | null;
    catalog?: { type: string; endpoints: CatalogEndpoint[] }[] | null;
  };
}

/** A project-scoped token as GET /v3/auth/tokens describes it. */
export interface ProjectTokenBody {
  token: {
    expires_at: string;
    user: { id: string; name: string };
    project: { id: string; name: string; domain: { id: string; name: string } };
  };
}

const ajv = new Ajv({ allErrors: false });

const nonEmpty = { type: 'string', minLength: 1 } as const;

export const validateTokenBody = ajv.compile<TokenBody>({
  type: 'object',
  required: ['token'],
  properties: {
    token: {
      type: 'object',
      required: ['expires_at'],
      properties: {
        expires_at: { type: 'string', minLength: 10 },
        project: { type: 'object', nullable: true, required: ['id'], properties: { id: { type: 'string' }, name: { type: 'string' } } },
        catalog: {
          type: 'array',
          nullable: true,
          items: {
            type: 'object',
            required: ['type', 'endpoints'],
            properties: {
              type: { type: 'string' },
              endpoints: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['interface', 'url'],
                  properties: {
                    interface: { type: 'string' },
                    url: { type: 'string' },
                    region: { type: 'string', nullable: true },
                    region_id: { type: 'string', nullable: true },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
});

/** The token body when it must be scoped to a project (a domain-scoped or unscoped token fails). */
export const validateProjectTokenBody = ajv.compile<ProjectTokenBody>({
  type: 'object',
  required: ['token'],
  properties: {
    token: {
      type: 'object',
      required: ['expires_at', 'user', 'project'],
      properties: {
        expires_at: { type: 'string', minLength: 10 },
        user: { type: 'object', required: ['id', 'name'], properties: { id: nonEmpty, name: { type: 'string' } } },
        project: {
          type: 'object',
          required: ['id', 'name', 'domain'],
          properties: {
            id: nonEmpty,
            name: nonEmpty,
            domain: { type: 'object', required: ['id', 'name'], properties: { id: { type: 'string' }, name: { type: 'string' } } },
          },
        },
      },
    },
  },
});
