import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CtlportError } from '../../../../src/errors';
import {
  findRingServer,
  parseAllStatus,
  parseCommandReply,
  parseSelfStatus,
  parseStatusWord,
} from '../../../../src/k2hdkc/ctlport';

const fixture = (name: string): string => readFileSync(join(__dirname, '../../../fixtures/k2hdkc', name), 'utf8');
const src = { command: 'X', endpoint: '127.0.0.2:8021' };

describe('parseStatusWord', () => {
  it.each([
    ['0x21(SAFE -> [SERVICE IN][UP][n/a][Nothing][NoSuspend])', 'SERVICE IN', 'UP', 'n/a', 'Nothing', false],
    ['0x1(SAFE -> [SLAVE][UP][n/a][Nothing][NoSuspend])', 'SLAVE', 'UP', 'n/a', 'Nothing', false],
    ['0x10(SAFE -> [SERVICE OUT][DOWN][n/a][Nothing][NoSuspend])', 'SERVICE OUT', 'DOWN', 'n/a', 'Nothing', false],
    ['0x10011(SAFE -> [SERVICE OUT][UP][n/a][Nothing][Suspend])', 'SERVICE OUT', 'UP', 'n/a', 'Nothing', true],
    ['0x1121(SAFE -> [SERVICE IN][UP][ADD][Pending][NoSuspend])', 'SERVICE IN', 'UP', 'ADD', 'Pending', false],
    ['0x3221(SAFE -> [SERVICE IN][UP][DELETE][Done][NoSuspend])', 'SERVICE IN', 'UP', 'DELETE', 'Done', false],
  ] as const)('%s', (text, ring, live, action, operate, suspend) => {
    expect(parseStatusWord(text)).toMatchObject({ ring, live, action, operate, suspend, safe: true });
  });

  it('decodes the hex bits when the bracketed words are cut short (observed table abbreviates them)', () => {
    expect(parseStatusWord('0x2121 [ADD][Doing]')).toBeUndefined();
    expect(parseStatusWord('0x2121(SAFE -> [SERVICE IN][UP][ADD][Doing])')).toMatchObject({
      code: 0x2121,
      ring: 'SERVICE IN',
      live: 'UP',
      action: 'ADD',
      operate: 'Doing',
      suspend: false,
    });
  });

  it('rejects text without a hex code', () => {
    expect(parseStatusWord('SERVICE IN')).toBeUndefined();
  });
});

describe('parseSelfStatus', () => {
  it('reads the observed server SELFSTATUS', () => {
    const s = parseSelfStatus(fixture('selfstatus-server.txt'), src);
    expect(s).toMatchObject({
      serverName: '127.0.0.2',
      internalId: '0xba0187a0f66c4981',
      ringName: 'TESTDKC',
      mode: 'server',
      port: 8020,
      ctlport: 8021,
      cuk: 'cuk-server-a',
      customIdSeed: 'server-a',
      enableHashValue: '0x0',
      pendingHashValue: '0x0',
    });
    expect(s.status).toMatchObject({ code: 0x21, ring: 'SERVICE IN', live: 'UP' });
    expect(s.fields['Last Update']).toBe('2026-11-27 10h 54m 23s 78ms 710us(30128136318432118)');
  });

  it('reads a slave SELFSTATUS', () => {
    const text = fixture('selfstatus-server.txt')
      .replace('Mode                      = Server', 'Mode                      = Slave')
      .replace('0x21(SAFE -> [SERVICE IN][UP][n/a][Nothing][NoSuspend])', '0x1(SAFE -> [SLAVE][UP][n/a][Nothing][NoSuspend])');
    expect(parseSelfStatus(text, src)).toMatchObject({ mode: 'slave', status: { ring: 'SLAVE', live: 'UP' } });
  });

  it('turns an ERROR: reply into a CtlportError carrying the reply', () => {
    const reply = 'ERROR: Server is not "service in" on RING.\n';
    const err = (() => {
      try {
        parseSelfStatus(reply, { command: 'SELFSTATUS', endpoint: '127.0.0.2:8021' });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(CtlportError);
    expect(err).toMatchObject({ failure: 'rejected', code: 'K2H_ERR_CTLPORT_REJECTED', reply });
    expect((err as Error).message).toBe('chmpx at 127.0.0.2:8021 refused SELFSTATUS: ERROR: Server is not "service in" on RING.');
  });

  it('calls a reply without a status line malformed', () => {
    expect(() => parseSelfStatus('Version 1.0.113 (commit: c569e0e) with OpenSSL\n', src)).toThrow(
      expect.objectContaining({ failure: 'malformed' }),
    );
  });
});

describe('parseAllStatus', () => {
  it('reads every server block in config order, including the Endppoints typo and empty values', () => {
    const all = parseAllStatus(fixture('allstatus-3.txt'), src);
    expect(all.ringName).toBe('TESTDKC');
    expect(all.servers.map((s) => [s.no, s.serverName, s.port, s.ctlport, s.customIdSeed, s.status.code])).toEqual([
      [1, '127.0.0.2', 8020, 8021, 'server-a', 0x21],
      [2, '127.0.0.2', 8022, 8023, 'server-b', 0x2221],
      [3, '127.0.0.2', 8024, 8025, 'server-c', 0x10],
    ]);
    expect(all.servers[0]?.fields['Control Endppoints']).toBe('');
    expect(all.servers[2]?.enableHashValue).toBe('0xffffffffffffffff');
  });

  it('finds a server by control port and custom seed, not by the repeated name', () => {
    const all = parseAllStatus(fixture('allstatus-3.txt'), src);
    expect(findRingServer(all, { ctlport: 8023, customIdSeed: 'server-b' })?.status.action).toBe('DELETE');
    expect(findRingServer(all, { ctlport: 8023, customIdSeed: 'server-a' })).toBeUndefined();
  });
});

describe('parseCommandReply', () => {
  it.each(['SUCCEED\n', 'SUCCEED: There no server on RING.\n'])('accepts %j', (reply) => {
    expect(parseCommandReply(reply, src)).toBe(reply.trim());
  });

  it.each([
    'ERROR: Could not change status, because status is not allowed.\n',
    'ERROR: The command can not be executed on the slave node.\n',
    'ERROR: SERVICEOUT command must have parameter as server/ctlport.(ex: "SERVICEOUT servername.fqdn:ctlport")\n',
    'Unknown command(SUSPEND)\n',
  ])('rejects %j', (reply) => {
    expect(() => parseCommandReply(reply, src)).toThrow(expect.objectContaining({ failure: 'rejected', reply }));
  });

  it('calls anything else malformed', () => {
    expect(() => parseCommandReply('', src)).toThrow(expect.objectContaining({ failure: 'malformed' }));
  });
});
