import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeystoneError } from '../../../src/errors';
import { bootstrapK2hr3, type BootstrapAuth, type BootstrapOptions } from '../../../src/k2hdkc/bootstrap';
import { lookupTokenProject } from '../../../src/keystone/token-project';
import { createLogger } from '../../../src/log';
import { K2hr3Double } from '../../doubles/k2hr3';
import { KeystoneDouble } from '../../doubles/keystone';
import { DBAAS_TEMPLATE, FAST, KEYSTONE_PROJECT, KEYSTONE_TOKEN, KEYSTONE_TOKENS } from '../k2hr3/helpers';

// The K2HR3 bootstrap asks Keystone for the project name only when it self-provisions and the
// request did not name the project (Trove's context never does).

const keystone = new KeystoneDouble({ tokens: KEYSTONE_TOKENS });
const k2hr3 = new K2hr3Double({ keystone: keystone.k2hr3Keystone() });
const log = createLogger({ level: 'silent' });

const options = (over: Partial<BootstrapOptions> = {}): BootstrapOptions => ({
  extdataUrl: null,
  k2hr3ApiUrl: k2hr3.url,
  template: async () => DBAAS_TEMPLATE,
  clusterName: `ks${process.pid}`,
  role: 'server',
  http: FAST,
  log,
  ...over,
});

/** What the guest layer passes for a Trove context: token, no project name, the Keystone lookup. */
const troveAuth = (token = KEYSTONE_TOKEN): BootstrapAuth => ({
  keystoneToken: token,
  projectName: null,
  lookupProjectName: async (t, signal) =>
    (await lookupTokenProject(t, { serviceCatalog: keystone.serviceCatalogV2(), authUrl: null, region: 'RegionOne', expectedProjectId: KEYSTONE_PROJECT.id, ...(signal ? { signal } : {}) })).name,
});

const keystoneAsks = () => keystone.seen.filter((r) => r.path === '/v3/auth/tokens').length;

beforeAll(async () => {
  await keystone.start();
  await k2hr3.start();
});
afterAll(async () => {
  await k2hr3.stop();
  await keystone.stop();
});

describe('K2HR3 bootstrap and the project name', () => {
  it('self-provisioning without a project name: the token\'s project from Keystone is the K2HR3 tenant', async () => {
    const before = keystoneAsks();
    const boot = await bootstrapK2hr3(options(), troveAuth());
    expect(boot.tenant).toBe(KEYSTONE_PROJECT.name);
    expect(boot.roleYrn).toBe(`yrn:yahoo:::${KEYSTONE_PROJECT.name}:role:ks${process.pid}/server`);
    expect(k2hr3.state.roles.has(boot.roleYrn)).toBe(true);
    expect(keystoneAsks()).toBe(before + 1);
  });

  it('a project name in the request wins: Keystone is not asked', async () => {
    const before = keystoneAsks();
    const boot = await bootstrapK2hr3(options(), { ...troveAuth(), projectName: 'demo' });
    expect(boot.tenant).toBe('demo');
    expect(keystoneAsks()).toBe(before);
  });

  it('with extdata_url Keystone is not asked', async () => {
    const role = `yrn:yahoo:::demo:role:ks${process.pid}/server`;
    const before = keystoneAsks();
    const boot = await bootstrapK2hr3(options({ extdataUrl: k2hr3.extdataUrlFor(role).url }), troveAuth());
    expect(boot.roleYrn).toBe(role);
    expect(keystoneAsks()).toBe(before);
  });

  it('a token Keystone refuses fails the bootstrap before anything is written to K2HR3', async () => {
    const writes = () => k2hr3.seen.filter((r) => r.method !== 'GET').length;
    const before = writes();
    const error = await bootstrapK2hr3(options({ clusterName: `ks${process.pid}x` }), troveAuth('gAAAAABunknown')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeystoneError);
    expect((error as Error).message).toContain("the user's token was refused by Keystone");
    expect(writes()).toBe(before);
  });

  it('without a project name and no way to look it up: names what is missing', async () => {
    await expect(bootstrapK2hr3(options(), { keystoneToken: KEYSTONE_TOKEN, projectName: null })).rejects.toThrow(/needs the project name/);
  });
});
