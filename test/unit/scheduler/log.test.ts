import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseSchedulerConfig } from '../../../src/scheduler/config';
import { createSchedulerLogger } from '../../../src/scheduler/main';

describe('scheduler logger', () => {
  it('censors the application credential secret wherever a config slice is logged', () => {
    const config = parseSchedulerConfig(
      '[keystone]\nauth_url = http://k:5000\napplication_credential_id = cred-1\napplication_credential_secret = TopSecret-99\n' +
        '[schedule:a]\ninstance_id = 7c9e6679-7425-40de-944b-e07fc1f90ae7\ncron = 0 2 * * *\nkeep_last = 1\n',
      't.conf',
    );
    const lines: string[] = [];
    const log = createSchedulerLogger('info', new Writable({ write(c, _e, done) { lines.push(String(c)); done(); } }));
    log.info({ keystone: config.keystone }, 'slice');
    log.info({ config }, 'whole');
    log.info({ application_credential_secret: 'TopSecret-99' }, 'raw');
    const text = lines.join('');
    expect(text).not.toContain('TopSecret-99');
    expect(JSON.parse(lines[0] as string).keystone).toMatchObject({ applicationCredentialId: 'cred-1', applicationCredentialSecret: '[Redacted]' });
    expect(JSON.parse(lines[1] as string).config.keystone.applicationCredentialSecret).toBe('[Redacted]');
  });
});
