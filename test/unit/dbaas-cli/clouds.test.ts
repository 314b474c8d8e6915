import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeCloud, resolveCloud } from '../../../src/dbaas-cli/clouds';
import { CliError } from '../../../src/dbaas-cli/errors';

const dir = mkdtempSync(join(tmpdir(), 'dbaas-clouds-'));
const home = join(dir, 'home');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CLOUDS = `
clouds:
  devstack:
    auth:
      auth_url: http://keystone.example:5000/v3
      username: alice
      password: yaml-secret-pw
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    interface: internal
    k2hr3_api_url: http://k2hr3.example:18080
  appcred:
    auth_type: v3applicationcredential
    auth:
      auth_url: http://keystone.example:5000
      application_credential_id: 0123abcd
`;
const cloudsFile = join(dir, 'clouds.yaml');
writeFileSync(cloudsFile, CLOUDS);
const secureFile = join(dir, 'secure.yaml');
writeFileSync(secureFile, 'clouds:\n  appcred:\n    auth:\n      application_credential_secret: secure-yaml-secret\n');
const baseEnv = { OS_CLIENT_CONFIG_FILE: cloudsFile, OS_SECURE_FILE: secureFile };

function refused(fn: () => unknown): CliError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(CliError);
    return error as CliError;
  }
  throw new Error('expected a CliError');
}

describe('clouds.yaml, --os-cloud and OS_* variables', () => {
  it('reads the entry named by --os-cloud', () => {
    const s = resolveCloud({ osCloud: 'devstack' }, baseEnv, dir, home);
    expect(s).toMatchObject({
      cloud: 'devstack',
      file: cloudsFile,
      regionName: 'RegionOne',
      interface: 'internal',
      k2hr3ApiUrl: 'http://k2hr3.example:18080',
      auth: { authType: 'password', authUrl: 'http://keystone.example:5000/v3', username: 'alice', password: 'yaml-secret-pw', projectName: 'demo' },
    });
  });

  it('takes the cloud from OS_CLOUD when --os-cloud is not given, and --os-cloud wins over OS_CLOUD', () => {
    expect(resolveCloud({}, { ...baseEnv, OS_CLOUD: 'devstack' }, dir, home).cloud).toBe('devstack');
    expect(resolveCloud({ osCloud: 'appcred' }, { ...baseEnv, OS_CLOUD: 'devstack' }, dir, home).cloud).toBe('appcred');
  });

  it('lets OS_* variables override the clouds.yaml entry, and options override both', () => {
    const env = { ...baseEnv, OS_PASSWORD: 'env-pw', OS_PROJECT_NAME: 'other', OS_REGION_NAME: 'RegionTwo', K2HR3_API_URL: 'http://k2hr3-env:1' };
    const s = resolveCloud({ osCloud: 'devstack' }, env, dir, home);
    expect(s.auth.password).toBe('env-pw');
    expect(s.auth.projectName).toBe('other');
    expect(s.regionName).toBe('RegionTwo');
    expect(s.k2hr3ApiUrl).toBe('http://k2hr3-env:1');
    expect(s.auth.username).toBe('alice');
    const o = resolveCloud({ osCloud: 'devstack', osPassword: 'flag-pw', osRegionName: 'R3' }, env, dir, home);
    expect(o.auth.password).toBe('flag-pw');
    expect(o.regionName).toBe('R3');
  });

  it('merges secure.yaml over clouds.yaml and recognises an application credential', () => {
    const s = resolveCloud({ osCloud: 'appcred' }, baseEnv, dir, home);
    expect(s.auth).toMatchObject({ authType: 'application_credential', applicationCredentialId: '0123abcd', applicationCredentialSecret: 'secure-yaml-secret' });
  });

  it('works from OS_* variables alone (no clouds.yaml needed)', () => {
    const s = resolveCloud({}, { OS_AUTH_URL: 'http://k:5000', OS_APPLICATION_CREDENTIAL_ID: 'id1', OS_APPLICATION_CREDENTIAL_SECRET: 's3cret' }, dir, home);
    expect(s).toMatchObject({ cloud: null, file: null, auth: { authType: 'application_credential' } });
  });

  it('finds clouds.yaml in the current directory, then ~/.config/openstack', () => {
    const cwd = mkdtempSync(join(dir, 'cwd-'));
    expect(() => resolveCloud({ osCloud: 'devstack' }, {}, cwd, home)).toThrow(/no clouds.yaml was found/);
    writeFileSync(join(cwd, 'clouds.yaml'), CLOUDS);
    expect(resolveCloud({ osCloud: 'devstack' }, {}, cwd, home).file).toBe(join(cwd, 'clouds.yaml'));
  });

  it('names what is missing and where to set it', () => {
    expect(refused(() => resolveCloud({ osCloud: 'nosuch' }, baseEnv, dir, home)).message).toMatch(/cloud "nosuch" is not in .*clouds.yaml \(it has: devstack, appcred\)/);
    expect(refused(() => resolveCloud({}, { OS_USERNAME: 'u' }, dir, home)).message).toMatch(/Keystone URL is not set: give --os-auth-url, set OS_AUTH_URL/);
    const noPw = refused(() => resolveCloud({}, { OS_AUTH_URL: 'http://k', OS_USERNAME: 'u', OS_PROJECT_NAME: 'p' }, dir, home));
    expect(noPw.message).toMatch(/password is not set.*OS_PASSWORD/);
    expect(noPw.exitCode).toBe(2);
    expect(refused(() => resolveCloud({}, { OS_AUTH_URL: 'http://k', OS_AUTH_TYPE: 'token', OS_USERNAME: 'u' }, dir, home)).message).toMatch(/OS_AUTH_TYPE "token" is not supported/);
    expect(refused(() => resolveCloud({}, { OS_AUTH_URL: 'ftp://k', OS_USERNAME: 'u', OS_PASSWORD: 'p', OS_PROJECT_NAME: 'x' }, dir, home)).message).toMatch(/not an http\(s\) URL/);
  });

  it('never quotes a broken clouds.yaml, which may hold a password', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'clouds:\n  c:\n    auth: {password: "leaky-secret-value\n');
    const e = refused(() => resolveCloud({ osCloud: 'c' }, { OS_CLIENT_CONFIG_FILE: bad }, dir, home));
    expect(e.message).toMatch(/bad.yaml is not valid YAML/);
    expect(e.message).not.toContain('leaky-secret-value');
  });

  it('describes the settings with every secret redacted', () => {
    const shown = describeCloud(resolveCloud({ osCloud: 'devstack' }, { ...baseEnv, OS_PASSWORD: 'env-pw-123' }, dir, home));
    expect(shown['auth.password']).toBe('<redacted>');
    expect(JSON.stringify(shown)).not.toContain('env-pw-123');
    const app = describeCloud(resolveCloud({ osCloud: 'appcred' }, baseEnv, dir, home));
    expect(app['auth.application_credential_secret']).toBe('<redacted>');
    expect(JSON.stringify(app)).not.toContain('secure-yaml-secret');
  });
});
