import { describe, expect, it } from 'vitest';
import {
  InvalidArgumentsError,
  MessageFormatError,
  NoSuchMethodError,
  UnsupportedVersionError,
} from '../../../src/errors';
import { createLogger } from '../../../src/log';
import { Dispatcher, checkVersion } from '../../../src/rpc/dispatcher';
import { SecureSerializer } from '../../../src/rpc/secure';
import type { CallContext, MethodTable } from '../../../src/rpc/types';
import { CAPTURE_KEY, capture } from '../../helpers/captures';

const plain = new SecureSerializer(null);

const table: MethodTable = [
  { name: 'ping', schema: { type: 'object', additionalProperties: false }, handler: () => true },
  {
    name: 'echo',
    schema: {
      type: 'object',
      properties: { n: { type: 'integer' }, s: { type: ['string', 'null'] } },
      required: ['n'],
      additionalProperties: false,
    },
    handler: (args, call) => ({ args, method: call.method, kind: call.kind }),
  },
];

function call(method: string): CallContext {
  return {
    method,
    kind: 'call',
    msgId: 'm1',
    context: {},
    log: createLogger({ level: 'silent' }),
    signal: new AbortController().signal,
  };
}

describe('checkVersion (served version 1.1)', () => {
  it.each(['1.0', '1.1', '1.0.3'])('accepts %s', (version) => {
    expect(() => checkVersion(version, 'm')).not.toThrow();
  });

  it.each([['2.0'], ['1.5'], ['1.2'], ['0.9'], ['1'], ['x.y'], [1.0], [null]])('refuses %j', (version) => {
    expect(() => checkVersion(version, 'rpc_ping')).toThrow(UnsupportedVersionError);
  });

  it('names the version and method as oslo does', () => {
    expect(() => checkVersion('2.0', 'rpc_ping')).toThrow(
      'Endpoint does not support RPC version 2.0. Attempted method: rpc_ping',
    );
  });
});

describe('Dispatcher', () => {
  const dispatcher = new Dispatcher(table, plain);

  it('calls the handler with validated args and the call context', async () => {
    await expect(dispatcher.dispatch({ method: 'echo', version: '1.1', args: { n: 3, s: null } }, call('echo'))).resolves.toEqual({
      args: { n: 3, s: null },
      method: 'echo',
      kind: 'call',
    });
  });

  it('treats a missing version as 1.0 (parseRequest supplies it) and refuses 2.0 before looking at the name', () => {
    expect(() => dispatcher.resolve({ method: 'nope', version: '2.0', args: {} })).toThrow(UnsupportedVersionError);
    expect(() => dispatcher.resolve({ method: 'ping', version: '1.5', args: {} })).toThrow(UnsupportedVersionError);
    expect(dispatcher.resolve({ method: 'ping', version: '1.0', args: {} }).entry.name).toBe('ping');
  });

  it.each(['list_databases', '_private', '__proto__', 'constructor', 'toString'])('refuses %s with NoSuchMethod', (name) => {
    expect(() => dispatcher.resolve({ method: name, version: '1.0', args: {} })).toThrow(NoSuchMethodError);
    expect(() => dispatcher.resolve({ method: name, version: '1.0', args: {} })).toThrow(
      `Endpoint does not support RPC method ${name}`,
    );
  });

  it('refuses a _-prefixed name even when the table has it', () => {
    const d = new Dispatcher([{ name: '_secret', schema: {}, handler: () => 1 }], plain);
    expect(() => d.resolve({ method: '_secret', version: '1.0', args: {} })).toThrow(NoSuchMethodError);
  });

  it.each([
    [[1, 2], /args is not an object/],
    ['x', /args is not an object/],
    [null, /args is not an object/],
    [{}, /args must have required property 'n'/],
    [{ n: '3' }, /n must be integer/],
    [{ n: 1, s: 5 }, /s must be string,null/],
    [{ n: 1, extra: 'secret-value' }, /must NOT have additional properties \(extra\)/],
  ])('refuses args %j with InvalidArgumentsError', (args, message) => {
    const attempt = (): unknown => dispatcher.resolve({ method: 'echo', version: '1.0', args });
    expect(attempt).toThrow(InvalidArgumentsError);
    expect(attempt).toThrow(message);
  });

  it('never quotes argument values in its errors', () => {
    expect(() => dispatcher.resolve({ method: 'echo', version: '1.0', args: { n: 1, s: { password: 'hunter2' } } })).toThrow(
      /^(?!.*hunter2)/,
    );
  });

  it('does not let a __proto__ key reach the prototype', () => {
    const d = new Dispatcher([{ name: 'any', schema: { type: 'object' }, handler: (args) => args }], plain);
    const args = JSON.parse('{"__proto__": {"polluted": true}}') as unknown;
    const { args: resolved } = d.resolve({ method: 'any', version: '1.0', args });
    expect(Object.getPrototypeOf(resolved)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('deserializes each arg before validating it (captured encrypted get_filesystem_stats)', async () => {
    const c = capture('call get_filesystem_stats v1.0 -> guestagent (encrypted)');
    const d = new Dispatcher(
      [
        {
          name: 'get_filesystem_stats',
          schema: { type: 'object', properties: { fs_path: { type: ['string', 'null'] } }, additionalProperties: false },
          handler: (args) => args,
        },
      ],
      new SecureSerializer(CAPTURE_KEY),
    );
    const request = { method: 'get_filesystem_stats', version: c.oslo_message['version'], args: c.oslo_message['args'] };
    await expect(d.dispatch(request, call('get_filesystem_stats'))).resolves.toEqual(c.args_decrypted);
  });

  it('refuses an arg that does not decrypt with MessageFormatError', () => {
    const d = new Dispatcher(table, new SecureSerializer(CAPTURE_KEY));
    expect(() => d.resolve({ method: 'echo', version: '1.0', args: { n: 'bm90IGVuY3J5cHRlZA==' } })).toThrow(MessageFormatError);
  });

  it('turns a synchronous handler throw into a rejection', async () => {
    const d = new Dispatcher([{ name: 'boom', schema: {}, handler: () => { throw new Error('boom'); } }], plain);
    await expect(d.dispatch({ method: 'boom', version: '1.0', args: {} }, call('boom'))).rejects.toThrow('boom');
  });

  it('refuses a table with a duplicate name or a bad schema at construction', () => {
    expect(() => new Dispatcher([...table, table[0]!], plain)).toThrow(/registered twice/);
    expect(() => new Dispatcher([{ name: 'x', schema: { type: 'nonsense' }, handler: () => 1 }], plain)).toThrow();
  });
});
