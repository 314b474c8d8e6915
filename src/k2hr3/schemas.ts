import type { ValidateFunction } from 'ajv';
import { compileValidator, GENERATED_AJV_OPTIONS, precompiledValidator } from '../validation/validators';

/**
 * JSON schemas of the K2HR3 response bodies the client uses (spec §1.2-§1.3). Every body is
 * `{result, message, ...payload}`; only the fields we read are required, others are allowed
 * because the server may add some. `result` must be `true` on success statuses: K2HR3 answers
 * `result:false` with an error status, so a 2xx with `result:false` is a broken answer.
 */
const message = { type: 'string', nullable: true } as const;

/** `POST /v1/user/tokens` → 201. */
export const USER_TOKEN_SCHEMA = {
  type: 'object',
  required: ['result', 'scoped', 'token'],
  properties: {
    result: { const: true },
    message,
    scoped: { type: 'boolean' },
    token: { type: 'string', minLength: 1, maxLength: 4096 },
  },
} as const;

/** `GET /v1/role/token/<role>` → 200. */
export const ROLE_TOKEN_SCHEMA = {
  type: 'object',
  required: ['result', 'token', 'registerpath'],
  properties: {
    result: { const: true },
    message,
    token: { type: 'string', pattern: '^[A-Za-z0-9]{16,512}$' },
    registerpath: { type: 'string', minLength: 1 },
  },
} as const;

/** `GET /v1/resource/<yrn>` with a role token and `type=string` → 200; `resource` is the expanded text. */
export const RESOURCE_STRING_SCHEMA = {
  type: 'object',
  required: ['result', 'resource'],
  properties: { result: { const: true }, message, resource: { type: 'string', maxLength: 4194304 } },
} as const;

/** Plain success of a write (`POST`/`PUT` of resource, policy, role, host) → 201. */
export const RESULT_SCHEMA = {
  type: 'object',
  required: ['result'],
  properties: { result: { const: true }, message },
} as const;

/** `GET /v1/resource/<yrn>?expand=false` with a user token → 200 (existence check). */
export const USER_RESOURCE_SCHEMA = {
  type: 'object',
  required: ['result', 'resource'],
  properties: { result: { const: true }, message, resource: { type: 'object' } },
} as const;

/** `GET /v1/policy/<yrn>` with a user token → 200. */
export const USER_POLICY_SCHEMA = {
  type: 'object',
  required: ['result', 'policy'],
  properties: { result: { const: true }, message, policy: { type: 'object' } },
} as const;

/** `GET /v1/role/<yrn>?expand=false` with a user token → 200. */
export const USER_ROLE_SCHEMA = {
  type: 'object',
  required: ['result', 'role'],
  properties: { result: { const: true }, message, role: { type: 'object' } },
} as const;

/**
 * `GET /v1/list/<kind>[/<path>]` with a user token → 200: the existing children, each
 * `{name, children}` (spec §10). The truthful way to ask whether a policy or role exists.
 */
export const USER_LIST_SCHEMA = {
  type: 'object',
  required: ['result', 'children'],
  properties: {
    result: { const: true },
    message,
    children: {
      type: 'array',
      maxItems: 100000,
      items: { type: 'object', required: ['name'], properties: { name: { type: 'string', maxLength: 1024 } } },
    },
  },
} as const;

/** An error body (`result:false`); read only to quote its message. */
export const ERROR_BODY_SCHEMA = {
  type: 'object',
  required: ['result', 'message'],
  properties: { result: { const: false }, message: { type: 'string', maxLength: 65536 } },
} as const;

/** Every schema above, by name (for a build step that precompiles validators). */
export const K2HR3_SCHEMAS = {
  'k2hr3-user-token': USER_TOKEN_SCHEMA,
  'k2hr3-role-token': ROLE_TOKEN_SCHEMA,
  'k2hr3-resource-string': RESOURCE_STRING_SCHEMA,
  'k2hr3-result': RESULT_SCHEMA,
  'k2hr3-user-resource': USER_RESOURCE_SCHEMA,
  'k2hr3-user-policy': USER_POLICY_SCHEMA,
  'k2hr3-user-role': USER_ROLE_SCHEMA,
  'k2hr3-user-list': USER_LIST_SCHEMA,
  'k2hr3-error-body': ERROR_BODY_SCHEMA,
} as const;

export type K2hr3Schema = (typeof K2HR3_SCHEMAS)[keyof typeof K2HR3_SCHEMAS];

const validators = new Map<K2hr3Schema, ValidateFunction>();

/** The validator of one of the schemas above; compiled once, on first use. */
export function k2hr3Validator(schema: K2hr3Schema): ValidateFunction {
  let v = validators.get(schema);
  if (v === undefined) {
    v = precompiledValidator(schema) ?? compileValidator(schema, GENERATED_AJV_OPTIONS);
    validators.set(schema, v);
  }
  return v;
}

/** The wire shapes after validation. */
export interface UserTokenBody {
  result: true;
  message?: string | null;
  scoped: boolean;
  token: string;
}
export interface RoleTokenBody {
  result: true;
  message?: string | null;
  token: string;
  registerpath: string;
}
export interface UserListBody {
  result: true;
  message?: string | null;
  children: { name: string }[];
}
export interface ResourceStringBody {
  result: true;
  message?: string | null;
  resource: string;
}
