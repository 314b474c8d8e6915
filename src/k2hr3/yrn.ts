import { K2hr3Error } from '../errors';

/**
 * K2HR3 names (YRNs) as DBaaS uses them: the service field is always empty, so a tenant's
 * objects are `yrn:yahoo:::<tenant>:<kind>:<path>` (spec §1.3). Names are checked against a
 * conservative character set before they go into a URL path.
 */
export type YrnKind = 'role' | 'resource' | 'policy';

const TENANT_RE = /^[A-Za-z0-9_.-]{1,128}$/;
const PATH_RE = /^[A-Za-z0-9_.-]{1,128}(?:\/[A-Za-z0-9_.-]{1,128}){0,7}$/;
/** Segment rules plus no `.`/`..` segments, which a URL would resolve away. */
function safePath(path: string): boolean {
  return PATH_RE.test(path) && !path.split('/').some((seg) => seg === '.' || seg === '..');
}
const YRN_RE = /^yrn:yahoo:::([A-Za-z0-9_.-]{1,128}):(role|resource|policy):(.+)$/;

/** A parsed full YRN. */
export interface Yrn {
  tenant: string;
  kind: YrnKind;
  path: string;
}

/** Builds `yrn:yahoo:::<tenant>:<kind>:<path>`; throws K2hr3Error(bad_request) on unsafe names. */
export function buildYrn(tenant: string, kind: YrnKind, path: string): string {
  if (!TENANT_RE.test(tenant)) {
    throw new K2hr3Error('bad_request', `K2HR3 tenant name ${JSON.stringify(tenant)} is not usable`, { endpoint: '-' });
  }
  if (!safePath(path)) {
    throw new K2hr3Error('bad_request', `K2HR3 ${kind} path ${JSON.stringify(path)} is not usable`, { endpoint: '-' });
  }
  return `yrn:yahoo:::${tenant}:${kind}:${path}`;
}

/** Parses a full YRN, or returns undefined when it is not one of ours. */
export function parseYrn(yrn: string): Yrn | undefined {
  const m = YRN_RE.exec(yrn);
  if (!m || !safePath(m[3] ?? '')) return undefined;
  return { tenant: m[1] as string, kind: m[2] as YrnKind, path: m[3] as string };
}

/** The tenant YRN the extdata script carries beside the role (`yrn:yahoo:::<tenant>`). */
export function tenantYrn(tenant: string): string {
  return `yrn:yahoo:::${tenant}`;
}

/** The resource a role reads by convention: same path, `:role:` → `:resource:` (spec §1.3.4). */
export function roleToResourceYrn(roleYrn: string): string {
  const parsed = parseYrn(roleYrn);
  if (!parsed || parsed.kind !== 'role') {
    throw new K2hr3Error('bad_request', `${JSON.stringify(roleYrn)} is not a full K2HR3 role name`, { endpoint: '-' });
  }
  return buildYrn(parsed.tenant, 'resource', parsed.path);
}

/**
 * A YRN as a URL path tail: each `/`-separated part percent-encoded, colons left as they are
 * (the stock scripts send them unescaped, spec §1.3).
 */
export function yrnUrlPath(yrn: string): string {
  return yrn
    .split('/')
    .map((part) => encodeURIComponent(part).replace(/%3A/gi, ':'))
    .join('/');
}
