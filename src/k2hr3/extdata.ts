import { K2hr3Error } from '../errors';
import { K2hr3Http, type K2hr3HttpOptions } from './http';
import { parseYrn, tenantYrn } from './yrn';

/**
 * The extdata bootstrap (spec §1.3.5): Trove's `extdata-url` returns the stock `k2hr3-init.sh`
 * with the role, its token and the API URI baked in. We never run it. We read the five lines
 * the server fills in (`K2HR3_ROLE_TOKEN="…"` etc., one each, at the start of a line) and
 * refuse any script where they are missing, repeated, or hold anything but plain values.
 */

/** The User-Agent the Trove extdata suburi requires (`extdata.trove.useragent`). */
export const EXTDATA_USER_AGENT = 'extdata_k2hr3_trove';

/** What a node needs from the script. */
export interface ExtdataBootstrap {
  /** Full role YRN, e.g. `yrn:yahoo:::demo:role:mycluster/server`. */
  roleYrn: string;
  /** Tenant (project) name taken from the role YRN. */
  tenant: string;
  /** Bare role token (send as `R=<token>`). */
  roleToken: string;
  /** API base URL without a trailing slash. */
  apiUrl: string;
}

const MAX_SCRIPT_BYTES = 1024 * 1024;
const FIELDS = ['K2HR3_ROLE_TOKEN', 'K2HR3_ROLE_NAME', 'K2HR3_ROLE_TENANT', 'K2HR3_API_HOST_URI', 'K2HR3_ERROR_MSG'] as const;
type Field = (typeof FIELDS)[number];
// NAME="value" with nothing before or after; the value itself is checked separately.
const ASSIGN_RE = /^(K2HR3_ROLE_TOKEN|K2HR3_ROLE_NAME|K2HR3_ROLE_TENANT|K2HR3_API_HOST_URI|K2HR3_ERROR_MSG)=(.*)$/;
const QUOTED_RE = /^"([^"\\$`]*)"$/;
const TOKEN_RE = /^[A-Za-z0-9]{16,512}$/;

function refuse(endpoint: string, why: string): K2hr3Error {
  return new K2hr3Error('extdata', `The K2HR3 extdata script from ${endpoint} was refused: ${why}`, { endpoint });
}

/**
 * Pulls the bootstrap values out of an extdata script without executing it.
 * @param endpoint names the source in error messages (already redacted).
 * @throws K2hr3Error(extdata) for anything but the expected shape, or when the server put an
 *   error message into the script.
 */
export function parseExtdataScript(script: string, endpoint = 'extdata'): ExtdataBootstrap {
  if (script.length > MAX_SCRIPT_BYTES) throw refuse(endpoint, 'it is larger than 1 MiB');
  if (!script.startsWith('#!/')) throw refuse(endpoint, 'it does not start with "#!/"');
  if (script.includes('\u0000')) throw refuse(endpoint, 'it contains NUL bytes');
  const found = new Map<Field, string>();
  for (const rawLine of script.split('\n')) {
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    const m = ASSIGN_RE.exec(line);
    if (!m) continue;
    const name = m[1] as Field;
    const q = QUOTED_RE.exec(m[2] ?? '');
    // Never echo the value: it may be the token.
    if (!q) throw refuse(endpoint, `${name} is not a plain double-quoted value`);
    if (found.has(name)) throw refuse(endpoint, `${name} is assigned more than once`);
    found.set(name, q[1] ?? '');
  }
  for (const name of FIELDS) if (!found.has(name)) throw refuse(endpoint, `${name} is missing`);
  const errorMsg = found.get('K2HR3_ERROR_MSG') ?? '';
  if (errorMsg !== '') {
    const said = errorMsg.replace(/[0-9A-Fa-f]{16,}/g, '[Redacted]').replace(/[\u0000-\u001f\u007f]+/g, ' ').slice(0, 300);
    throw refuse(endpoint, `the K2HR3 server reported an error: ${said}`);
  }
  const roleToken = found.get('K2HR3_ROLE_TOKEN') ?? '';
  if (!TOKEN_RE.test(roleToken)) throw refuse(endpoint, 'K2HR3_ROLE_TOKEN is not a role token');
  const roleYrn = found.get('K2HR3_ROLE_NAME') ?? '';
  const role = parseYrn(roleYrn);
  if (!role || role.kind !== 'role') throw refuse(endpoint, 'K2HR3_ROLE_NAME is not a full role YRN');
  if (found.get('K2HR3_ROLE_TENANT') !== tenantYrn(role.tenant)) {
    throw refuse(endpoint, 'K2HR3_ROLE_TENANT does not match the tenant of K2HR3_ROLE_NAME');
  }
  const apiUrl = checkApiUrl(found.get('K2HR3_API_HOST_URI') ?? '');
  if (!apiUrl) throw refuse(endpoint, 'K2HR3_API_HOST_URI is not a plain http(s) URL');
  return { roleYrn, tenant: role.tenant, roleToken, apiUrl };
}

/** A plain `http(s)://host[:port][/path]` without credentials, query or fragment, or undefined. */
function checkApiUrl(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.username || url.password || url.search || url.hash || /\s/.test(text)) return undefined;
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}

/** The extdata URL for messages: the register path in it hands out the token, so it is cut. */
export function describeExtdataUrl(extdataUrl: string): string {
  try {
    const url = new URL(extdataUrl);
    const m = /^(.*\/v1\/extdata\/[^/]+)\//.exec(url.pathname);
    return `${url.origin}${m ? `${m[1]}/…` : '/…'}`;
  } catch {
    return '(unparsable extdata URL)';
  }
}

/**
 * Downloads the extdata script (`User-Agent: extdata_k2hr3_trove`, plain text as Trove's
 * `curl` asks for it) and parses it. Retries 5xx and network failures; throws K2hr3Error.
 */
export async function fetchExtdata(
  extdataUrl: string,
  options: K2hr3HttpOptions & { signal?: AbortSignal } = {},
): Promise<ExtdataBootstrap> {
  const endpoint = `GET ${describeExtdataUrl(extdataUrl)}`;
  let parsed: URL;
  try {
    parsed = new URL(extdataUrl);
  } catch {
    throw new K2hr3Error('bad_request', 'The configured extdata-url is not a URL', { endpoint });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new K2hr3Error('bad_request', 'The configured extdata-url is not an http(s) URL', { endpoint });
  }
  // The server quotes the path in its 400 message; the register path must not reach a log.
  const tail = parsed.pathname.split('/').filter((x) => x !== '').pop() ?? '';
  const secrets = [parsed.pathname, tail, safeDecode(tail)].filter((x) => x.length >= 4);
  const httpClient = new K2hr3Http(options);
  const answer = await httpClient.send({
    method: 'GET',
    url: extdataUrl,
    endpoint,
    headers: { 'User-Agent': EXTDATA_USER_AGENT, 'Accept-Encoding': 'identity', Accept: 'text/x-shellscript, text/plain, */*' },
    okStatus: 200,
    body: 'text',
    secrets,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return parseExtdataScript(answer.value as string, endpoint);
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
