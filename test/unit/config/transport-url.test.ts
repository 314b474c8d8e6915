import { describe, expect, it } from 'vitest';
import { parseTransportUrl } from '../../../src/config/transport-url';

describe('parseTransportUrl', () => {
  it('parses several hosts with their own credentials and a vhost', () => {
    expect(parseTransportUrl('rabbit://u1:p1@a:5672,u2:p2@b:5673/vh')).toEqual({
      scheme: 'rabbit',
      vhost: 'vh',
      hosts: [
        { host: 'a', port: 5672, username: 'u1', password: 'p1' },
        { host: 'b', port: 5673, username: 'u2', password: 'p2' },
      ],
    });
  });

  it('reuses the previous credentials for a host without any, defaults the port, decodes', () => {
    const url = parseTransportUrl('rabbit://us%3Aer:p%2Fw@[fd00::1]:5671,h2/');
    expect(url.hosts).toEqual([
      { host: 'fd00::1', port: 5671, username: 'us:er', password: 'p/w' },
      { host: 'h2', port: 5672, username: 'us:er', password: 'p/w' },
    ]);
    expect(url.vhost).toBe('/');
  });

  it.each([
    ['http://h/', /unsupported transport 'http'/],
    ['rabbit:///', /no broker host/],
    ['rabbit://h:99999/', /invalid port/],
    ['not a url', /expected rabbit:\/\//],
  ])('rejects %s', (url, reason) => {
    expect(() => parseTransportUrl(url)).toThrow(reason);
  });
});
