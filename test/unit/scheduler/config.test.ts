import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors';
import { loadSchedulerConfig, parseDuration, parseSchedulerConfig } from '../../../src/scheduler/config';

const INSTANCE = '0b5ac4a1-3c1e-4f2a-9a55-1d2e3f4a5b6c';
const GOOD = `
[DEFAULT]
metrics_listen = 127.0.0.1:9419
poll_interval = 15

[keystone]
auth_url = http://controller:5000/v3/
application_credential_id = 3f0b6c
application_credential_secret = s3cr3t-value
region_name = RegionTwo
interface = internal

[schedule:nightly]
instance_id = ${INSTANCE.toUpperCase()}
cron = 0 2 * * *
keep_last = 7
max_age = 14d
swift_container = k2hdkc_backups
`;

function errorOf(text: string): ConfigError {
  try {
    parseSchedulerConfig(text, '/etc/k2hdkc-trove/scheduler.conf');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('scheduler config', () => {
  it('reads keystone, metrics and a schedule, converting durations once', () => {
    const c = parseSchedulerConfig(GOOD, 'f.conf');
    expect(c.metricsListen).toEqual({ host: '127.0.0.1', port: 9419 });
    expect(c.pollIntervalMs).toBe(15_000);
    expect(c.waitTimeoutMs).toBe(6 * 3600_000);
    expect(c.keystone).toMatchObject({ authUrl: 'http://controller:5000/v3', regionName: 'RegionTwo', interface: 'internal', endpointOverride: undefined });
    const s = c.schedules[0];
    expect(s).toMatchObject({ name: 'nightly', instanceId: INSTANCE, cron: '0 2 * * *', keepLast: 7, maxAgeMs: 14 * 86400_000, swiftContainer: 'k2hdkc_backups' });
    expect(s?.nameTemplate.prefix).toBe('sched-nightly-');
    expect(s?.nameTemplate.render(new Date(Date.UTC(2026, 10, 27, 2, 0, 0)))).toBe('sched-nightly-20261127T020000Z');
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('metrics are off unless metrics_listen is set', () => {
    expect(parseSchedulerConfig(GOOD.replace(/metrics_listen.*\n/, ''), 'f').metricsListen).toBeUndefined();
  });

  it('names the file and [section] of a missing required key', () => {
    const e = errorOf(GOOD.replace(/application_credential_secret.*\n/, ''));
    expect(e.message).toContain('/etc/k2hdkc-trove/scheduler.conf: [keystone] application_credential_secret is required');
  });

  it('names file, line, section and key of an unknown key and of a bad value', () => {
    const e = errorOf(GOOD.replace('keep_last = 7', 'keep_lats = 7').replace('max_age = 14d', 'max_age = 3 days'));
    expect(e.message).toContain('/etc/k2hdkc-trove/scheduler.conf:16: [schedule:nightly] keep_lats unknown key');
    expect(e.message).toMatch(/scheduler\.conf:17: \[schedule:nightly\] max_age must match pattern/);
  });

  it('rejects an invalid cron expression with its line', () => {
    expect(errorOf(GOOD.replace('0 2 * * *', '61 2 * * *')).message).toMatch(/scheduler\.conf:15: \[schedule:nightly\] cron is not a valid cron expression: '61 2 \* \* \*'/);
  });

  it('wants the dashed instance id Trove accepts', () => {
    expect(errorOf(GOOD.replace(INSTANCE.toUpperCase(), INSTANCE.replace(/-/g, ''))).message).toMatch(/scheduler\.conf:14: \[schedule:nightly\] instance_id must match pattern/);
  });

  it('requires a retention for each schedule', () => {
    expect(errorOf(GOOD.replace('keep_last = 7\nmax_age = 14d\n', '')).message).toContain('[schedule:nightly] needs keep_last and/or max_age');
  });

  it('refuses a name template without {timestamp} or without a fixed prefix', () => {
    expect(errorOf(GOOD.replace('cron =', 'name_template = {schedule}\ncron =')).message).toMatch(/name_template must contain \{timestamp\}/);
    expect(errorOf(GOOD.replace('cron =', 'name_template = {timestamp}-x\ncron =')).message).toMatch(/name_template must start with fixed text/);
    expect(errorOf(GOOD.replace('cron =', 'name_template = a-{day}-{timestamp}\ncron =')).message).toMatch(/unknown placeholder \{day\}/);
  });

  it('refuses an unknown section and a schedule-less file', () => {
    expect(errorOf(`${GOOD}\n[extra]\nx = 1\n`).message).toMatch(/unknown section \[extra\]/);
    expect(errorOf(GOOD.slice(0, GOOD.indexOf('[schedule:'))).message).toContain('schedules');
  });

  it('never puts the secret in an error message', () => {
    expect(errorOf(GOOD.replace('auth_url = http', 'auth_url = ftp')).message).not.toContain('s3cr3t-value');
  });

  it('loads from a file and reports an unreadable one by path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sched-conf-'));
    const file = join(dir, 'scheduler.conf');
    writeFileSync(file, GOOD);
    expect(loadSchedulerConfig(file).schedules).toHaveLength(1);
    expect(() => loadSchedulerConfig(join(dir, 'missing.conf'))).toThrow(/missing\.conf: cannot read/);
  });

  it('accepts the shipped sample config/scheduler.conf', () => {
    const c = loadSchedulerConfig(join(__dirname, '..', '..', '..', 'config', 'scheduler.conf'));
    expect(c.schedules.map((s) => [s.name, s.keepLast, s.maxAgeMs])).toEqual([['k2hdkc-prod-nightly', 7, 14 * 86400_000]]);
    expect(c.metricsListen).toEqual({ host: '127.0.0.1', port: 9419 });
  });

  it('parses durations with units, a bare number being seconds', () => {
    expect([parseDuration('90'), parseDuration('15m'), parseDuration('2h'), parseDuration('1w')]).toEqual([90_000, 900_000, 7_200_000, 604_800_000]);
  });
});
