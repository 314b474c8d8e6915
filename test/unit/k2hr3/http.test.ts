import { describe, expect, it } from 'vitest';
import { serverMessage, statusError } from '../../../src/k2hr3/http';
import { K2HR3_SCHEMAS, k2hr3Validator } from '../../../src/k2hr3/schemas';

const TOKEN = 'abcdefabcdefabcdefabcdefabcdef12';
const req = { endpoint: 'GET http://k2hr3/v1/resource/yrn:yahoo:::demo:resource:c1/server', secrets: [TOKEN] };

describe('statusError', () => {
  it.each([
    [401, 'auth', 'K2H_ERR_K2HR3_AUTH'],
    [403, 'auth', 'K2H_ERR_K2HR3_AUTH'],
    [400, 'bad_request', 'K2H_ERR_K2HR3_BAD_REQUEST'],
    [409, 'bad_request', 'K2H_ERR_K2HR3_BAD_REQUEST'],
    [404, 'not_found', 'K2H_ERR_K2HR3_NOT_FOUND'],
    [500, 'unavailable', 'K2H_ERR_K2HR3_UNAVAILABLE'],
    [503, 'unavailable', 'K2H_ERR_K2HR3_UNAVAILABLE'],
    [302, 'bad_response', 'K2H_ERR_K2HR3_BAD_RESPONSE'],
  ])('maps %i to %s', (status, kind, code) => {
    const e = statusError(req, status, '');
    expect(e.kind).toBe(kind);
    expect(e.code).toBe(code);
    expect(e.status).toBe(status);
    expect(e.endpoint).toBe(req.endpoint);
    expect(e.message).toContain(req.endpoint);
    expect(e.message).toContain(String(status));
  });

  it('quotes the server message without the token it echoes', () => {
    const body = JSON.stringify({ result: false, message: `token(${TOKEN}) is not existed, because it is expired or not set yet.` });
    const e = statusError(req, 401, body);
    expect(e.message).toContain('is not existed');
    expect(e.message).not.toContain(TOKEN);
  });
});

describe('serverMessage', () => {
  it('ignores bodies that are not K2HR3 error bodies', () => {
    expect(serverMessage('<html>', [])).toBe('');
    expect(serverMessage(JSON.stringify({ result: true, message: 'x' }), [])).toBe('');
  });

  it('scrubs long hex runs and control characters, and shortens', () => {
    const m = serverMessage(JSON.stringify({ result: false, message: `a\nb ${'f'.repeat(40)} ${'x'.repeat(500)}` }), []);
    expect(m).not.toMatch(/\n|f{16}/);
    expect(m.length).toBeLessThanOrEqual(301);
  });
});

describe('response schemas', () => {
  it('accepts the documented success shapes', () => {
    expect(k2hr3Validator(K2HR3_SCHEMAS['k2hr3-user-token'])({ result: true, message: 'succeed', scoped: true, token: 'x' })).toBe(true);
    expect(k2hr3Validator(K2HR3_SCHEMAS['k2hr3-role-token'])({ result: true, message: null, token: TOKEN, registerpath: 'abc%2F' })).toBe(true);
    expect(k2hr3Validator(K2HR3_SCHEMAS['k2hr3-resource-string'])({ result: true, message: null, resource: '[GLOBAL]\n' })).toBe(true);
    expect(k2hr3Validator(K2HR3_SCHEMAS['k2hr3-result'])({ result: true, message: null })).toBe(true);
  });

  it('rejects result:false, wrong types and non-token tokens', () => {
    expect(k2hr3Validator(K2HR3_SCHEMAS['k2hr3-resource-string'])({ result: false, message: 'x', resource: '' })).toBe(false);
    expect(k2hr3Validator(K2HR3_SCHEMAS['k2hr3-resource-string'])({ result: true, resource: { string: 'x' } })).toBe(false);
    expect(k2hr3Validator(K2HR3_SCHEMAS['k2hr3-role-token'])({ result: true, token: 'R=x y', registerpath: 'p' })).toBe(false);
    expect(k2hr3Validator(K2HR3_SCHEMAS['k2hr3-user-token'])({ result: true, token: '' , scoped: true})).toBe(false);
  });
});
