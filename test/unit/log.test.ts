import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, redactUrl } from '../../src/log';

function sink(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  return { stream, lines: () => chunks.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('createLogger', () => {
  it('censors tokens, keys, passwords, transport URLs and whole request contexts', () => {
    const { stream, lines } = sink();
    const log = createLogger({ level: 'debug', destination: stream });
    log.info(
      {
        context: { auth_token: 'gAAAA-user-token', user: 'u1' },
        request: { auth_token: 'gAAAA-nested', method: 'prepare' },
        guest: { instanceRpcEncrKey: 'k2hdkcTESTkey0123456789abcdefghi' },
        instance_rpc_encr_key: 'another-key',
        broker: { password: 's3cret', transport_url: 'rabbit://u:s3cret@h/' },
        method: 'rpc_ping',
      },
      'call handled',
    );
    const [line] = lines();
    const text = JSON.stringify(line);
    for (const secret of ['gAAAA-user-token', 'gAAAA-nested', 'k2hdkcTESTkey0123456789abcdefghi', 'another-key', 's3cret']) {
      expect(text).not.toContain(secret);
    }
    expect(line).toMatchObject({
      level: 'info',
      msg: 'call handled',
      context: '[Redacted]',
      method: 'rpc_ping',
      request: { method: 'prepare', auth_token: '[Redacted]' },
    });
  });

  it('honours the level', () => {
    const { stream, lines } = sink();
    const log = createLogger({ level: 'warn', destination: stream });
    log.info('hidden');
    log.warn('shown');
    expect(lines().map((l) => l['msg'])).toEqual(['shown']);
  });
});

describe('redactUrl', () => {
  it('replaces every password of a multi-host AMQP URL', () => {
    expect(redactUrl('rabbit://u1:p1@a:5672,u2:p2@b:5672/vh')).toBe('rabbit://u1:[Redacted]@a:5672,u2:[Redacted]@b:5672/vh');
  });
});

describe('redactUrl inside messages', () => {
  it('leaves text without credentials alone and redacts a URL inside a sentence', () => {
    expect(redactUrl('connect to 10.0.0.1:5672 failed')).toBe('connect to 10.0.0.1:5672 failed');
    expect(redactUrl('cannot reach rabbit://trove:pw@10.0.0.1:5672/ now')).toBe('cannot reach rabbit://trove:[Redacted]@10.0.0.1:5672/ now');
  });
});
