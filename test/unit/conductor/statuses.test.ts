import { describe, expect, it } from 'vitest';
import { isServiceStatus, SERVICE_STATUSES, STATUS } from '../../../src/conductor/statuses';

describe('service statuses', () => {
  it('are the lower-case descriptions of spec §6.1 that a guest may send', () => {
    expect([...SERVICE_STATUSES].sort()).toEqual(
      [
        'running', 'blocked', 'shutdown', 'deleted', 'crashed', 'failed to spawn', 'building', 'promoting replica',
        'ejecting replica source', 'transferring guest logs', 'unknown', 'instance ready', 'healthy', 'restarting',
      ].sort(),
    );
    for (const status of SERVICE_STATUSES) expect(status).toBe(status.toLowerCase());
    expect(Object.values(STATUS).every(isServiceStatus)).toBe(true);
  });

  it('cannot express upgrading (rejected by Trove 18: code 0x22 collides with restarting)', () => {
    expect(isServiceStatus('upgrading')).toBe(false);
    expect(isServiceStatus('restarting')).toBe(true);
    expect(isServiceStatus('HEALTHY')).toBe(false);
    expect(isServiceStatus(0x21)).toBe(false);
  });
});
