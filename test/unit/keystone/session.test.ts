import { describe, expect, it } from 'vitest';
import { authFromEnv, OpenstackAuthError } from '../../../src/keystone/session';

const OPENRC = { OS_AUTH_URL: 'http://k:5000/v3', OS_USERNAME: 'demo', OS_PASSWORD: 'pw-secret', OS_PROJECT_NAME: 'demo' };

describe('openrc variables → Keystone v3 auth', () => {
  it('always names the user and project domains (troveclient 8\'s Mistral client does not, and Keystone v3 answers 400)', () => {
    const auth = authFromEnv(OPENRC);
    expect(auth.identity).toEqual({ kind: 'password', user: { name: 'demo', domain: { id: 'default' } }, password: 'pw-secret', project: { name: 'demo', domain: { id: 'default' } } });
    const named = authFromEnv({ ...OPENRC, OS_USER_DOMAIN_NAME: 'Users', OS_PROJECT_DOMAIN_NAME: 'Projects' });
    expect(named.identity).toMatchObject({ user: { name: 'demo', domain: { name: 'Users' } }, project: { name: 'demo', domain: { name: 'Projects' } } });
    expect(authFromEnv({ ...OPENRC, OS_PROJECT_ID: 'p1' }).identity).toMatchObject({ project: { id: 'p1' } });
  });

  it('prefers an application credential, and names what is missing', () => {
    expect(authFromEnv({ OS_AUTH_URL: 'http://k:5000', OS_APPLICATION_CREDENTIAL_ID: 'ac', OS_APPLICATION_CREDENTIAL_SECRET: 's' }).identity.kind).toBe('application_credential');
    expect(() => authFromEnv({})).toThrow(/OS_AUTH_URL is not set/);
    expect(() => authFromEnv({ ...OPENRC, OS_PASSWORD: '' })).toThrow(/OS_PASSWORD is not set/);
    expect(() => authFromEnv({ ...OPENRC, OS_PROJECT_NAME: undefined })).toThrow(/OS_PROJECT_NAME/);
    expect(() => authFromEnv({ ...OPENRC, OS_INTERFACE: 'private' })).toThrow(OpenstackAuthError);
    // The password is never part of a message.
    try {
      authFromEnv({ ...OPENRC, OS_AUTH_URL: 'not a url' });
    } catch (error) {
      expect((error as Error).message).not.toContain('pw-secret');
    }
  });
});
