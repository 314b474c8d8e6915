import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SchedulerError } from '../../../src/errors';
import type { KeystoneConfig } from '../../../src/scheduler/config';
import { KeystoneAuth } from '../../../src/scheduler/keystone';
import { TroveApiDouble } from '../../doubles/trove-api/server';

/** Keystone application-credential auth and Trove endpoint selection, against the double's catalog. */

const PROJECT = '9d8c7b6a5f4e3d2c1b0a99887766554f';
let double: TroveApiDouble;
let base: string;

const config = (over: Partial<KeystoneConfig> = {}): KeystoneConfig => ({
  authUrl: base,
  applicationCredentialId: 'kc-cred',
  applicationCredentialSecret: 'kc-secret',
  regionName: undefined,
  interface: 'public',
  endpointOverride: undefined,
  requestTimeoutMs: 5000,
  ...over,
});

beforeEach(async () => {
  double = new TroveApiDouble({ projectId: PROJECT, appCredId: 'kc-cred', appCredSecret: 'kc-secret' });
  base = await double.start();
});
afterEach(async () => {
  await double.stop();
});

describe('KeystoneAuth', () => {
  it('gets a token and the database endpoint for the interface and region, and reuses it', async () => {
    const auth = new KeystoneAuth(config({ authUrl: `${base}/v3`, interface: 'internal', regionName: 'RegionOne' }));
    const session = await auth.get();
    expect(session.troveUrl).toBe(`${base}/v1.0/${PROJECT}`);
    expect(session.token).toMatch(/^gAAAA/);
    expect(await auth.get()).toBe(session);
    expect(double.tokensIssued).toBe(1);
  });

  it('shares one token request between concurrent callers', async () => {
    const auth = new KeystoneAuth(config());
    const [a, b] = await Promise.all([auth.get(), auth.get()]);
    expect(a).toBe(b);
    expect(double.tokensIssued).toBe(1);
  });

  it('names the missing endpoint when the region has no database service', async () => {
    const error = await new KeystoneAuth(config({ regionName: 'RegionNine' })).get().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SchedulerError);
    expect((error as SchedulerError).kind).toBe('endpoint');
    expect((error as Error).message).toContain("no 'database' (Trove) endpoint with interface public in region RegionNine");
  });

  it('uses endpoint_override, adding the project to a bare /v1.0', async () => {
    const auth = new KeystoneAuth(config({ endpointOverride: 'http://trove.internal:8779/v1.0' }));
    expect((await auth.get()).troveUrl).toBe(`http://trove.internal:8779/v1.0/${PROJECT}`);
  });

  it('a refused credential is an auth error naming the credential id only', async () => {
    const error = (await new KeystoneAuth(config({ applicationCredentialSecret: 'bad' })).get().catch((e: unknown) => e)) as SchedulerError;
    expect(error.kind).toBe('auth');
    expect(error.status).toBe(401);
    expect(error.message).toContain('kc-cred');
    expect(error.message).not.toContain('bad');
  });
});
