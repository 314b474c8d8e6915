import { describe, expect, it } from 'vitest';
import {
  GuestStateError,
  InvalidArgumentsError,
  MessageFormatError,
  NoSuchMethodError,
  NotSupportedError,
  SystemError,
  UnsupportedVersionError,
} from '../../../src/errors';
import { isExpectedError, serializeFailure, toFailure } from '../../../src/rpc/failures';
import { capture } from '../../helpers/captures';

// The captures from 7b2e8d4f are replies of a real oslo.messaging server (the reference).
const REFERENCE = 'reply from guest 7b2e8d4f';

function withoutTb(failure: Record<string, unknown>): Record<string, unknown> {
  const { tb: _tb, ...rest } = failure;
  return rest;
}

describe('toFailure against the reference server', () => {
  it.each([
    ['NoSuchMethod', new NoSuchMethodError('list_databases'), `${REFERENCE} to list_databases`],
    ['UnsupportedVersion 2.0', new UnsupportedVersionError('2.0', 'rpc_ping'), `${REFERENCE} to rpc_ping v2.0`],
    ['UnsupportedVersion 1.5', new UnsupportedVersionError('1.5', 'rpc_ping'), `${REFERENCE} to rpc_ping v1.5`],
    ['DatastoreOperationNotSupported', new NotSupportedError('apply_overrides'), `${REFERENCE} to apply_overrides`],
  ])('%s has the exact class, module, message, args and kwargs', (_name, error, label) => {
    const expected = capture(label).failure_parsed as Record<string, unknown>;
    const failure = toFailure(error, 'm') as unknown as Record<string, unknown>;
    expect(withoutTb(failure)).toEqual(withoutTb(expected));
    // The traceback's last line names the class the way Python prints it.
    const tb = failure['tb'] as string[];
    expect(tb.at(-1)).toBe((expected['tb'] as string[]).at(-1));
    expect(tb[0]).toBe('Traceback (most recent call last):\n');
  });

  it('maps argument and format errors to builtins TypeError and ValueError with args [message]', () => {
    expect(toFailure(new InvalidArgumentsError('bad args'))).toMatchObject({
      class: 'TypeError', module: 'builtins', message: 'bad args', args: ['bad args'], kwargs: {},
      tb: expect.arrayContaining(['TypeError: bad args\n']),
    });
    expect(toFailure(new MessageFormatError('bad base64'))).toMatchObject({
      class: 'ValueError', module: 'builtins', message: 'bad base64', args: ['bad base64'], kwargs: {},
    });
  });

  it('maps GuestStateError to trove.common.exception.InvalidInstanceState', () => {
    expect(toFailure(new GuestStateError('the guest is already prepared'))).toMatchObject({
      class: 'InvalidInstanceState', module: 'trove.common.exception',
      message: 'the guest is already prepared', args: [], kwargs: {},
    });
  });

  it('maps anything else to builtins RuntimeError with a readable message and no stack', () => {
    const bug = new TypeError("Cannot read properties of undefined (reading 'x')");
    const failure = toFailure(bug, 'prepare');
    expect(failure).toMatchObject({ class: 'RuntimeError', module: 'builtins', kwargs: {} });
    expect(failure.message).toBe("internal error (TypeError): Cannot read properties of undefined (reading 'x')");
    expect(failure.args).toEqual([failure.message]);
    expect(JSON.stringify(failure)).not.toContain('at ');
    expect(toFailure(new SystemError('statfs /var/lib/k2hdkc failed')).message).toBe('statfs /var/lib/k2hdkc failed');
    expect(toFailure('a string').message).toMatch(/non-Error value/);
  });

  it('cuts credentials out of URLs quoted by a library error', () => {
    const failure = toFailure(new Error('connect failed: amqp://admin:s3cret@10.0.0.1:5672/'));
    expect(failure.message).not.toContain('s3cret');
    expect(failure.message).toContain('[Redacted]');
  });

  it('clips very long messages', () => {
    expect(toFailure(new SystemError('x'.repeat(10_000))).message.length).toBeLessThan(2100);
  });
});

describe('serializeFailure', () => {
  it('returns a JSON string of the failure, as oslo puts it in the reply', () => {
    const text = serializeFailure(new NoSuchMethodError('get_user'));
    expect(typeof text).toBe('string');
    expect(Object.keys(JSON.parse(text) as object)).toEqual(['class', 'module', 'message', 'tb', 'args', 'kwargs']);
  });
});

describe('isExpectedError', () => {
  it('is true for expected agent errors only', () => {
    expect(isExpectedError(new NotSupportedError('x'))).toBe(true);
    expect(isExpectedError(new SystemError('x'))).toBe(false);
    expect(isExpectedError(new Error('x'))).toBe(false);
  });
});
