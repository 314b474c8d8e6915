import { describe, expect, it } from 'vitest';
import { healthFromStatus, parseStatusWord, type ChmpxStatus } from '../../../../src/k2hdkc/ctlport';

const st = (text: string): ChmpxStatus => {
  const s = parseStatusWord(text);
  if (!s) throw new Error(`bad status ${text}`);
  return s;
};

describe('healthFromStatus', () => {
  it.each([
    ['server', '0x21(SAFE -> [SERVICE IN][UP][n/a][Nothing][NoSuspend])', 'healthy'],
    ['slave', '0x1(SAFE -> [SLAVE][UP][n/a][Nothing][NoSuspend])', 'healthy'],
    ['server', '0x1121(SAFE -> [SERVICE IN][UP][ADD][Pending][NoSuspend])', 'running'],
    ['server', '0x2121(SAFE -> [SERVICE IN][UP][ADD][Doing][NoSuspend])', 'running'],
    ['server', '0x2221(SAFE -> [SERVICE IN][UP][DELETE][Doing][NoSuspend])', 'running'],
    ['server', '0x10011(SAFE -> [SERVICE OUT][UP][n/a][Nothing][Suspend])', 'running'],
    ['server', '0x11(SAFE -> [SERVICE OUT][UP][n/a][Nothing][NoSuspend])', 'running'],
    ['server', '0x1(SAFE -> [SLAVE][UP][n/a][Nothing][NoSuspend])', 'running'],
  ] as const)('%s %s → %s', (role, text, health) => {
    expect(healthFromStatus({ role, status: st(text) })).toBe(health);
  });

  it('is shutdown when chmpx did not answer', () => {
    expect(healthFromStatus({ role: 'server', status: undefined })).toBe('shutdown');
  });

  it('is shutdown when a server\'s k2hdkc process is down, even if chmpx still says SERVICE IN', () => {
    const status = st('0x21(SAFE -> [SERVICE IN][UP][n/a][Nothing][NoSuspend])');
    expect(healthFromStatus({ role: 'server', status, k2hdkcRunning: false })).toBe('shutdown');
    expect(healthFromStatus({ role: 'server', status, k2hdkcRunning: true })).toBe('healthy');
  });
});
