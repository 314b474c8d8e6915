import { describe, expect, it } from 'vitest';
import { CliError } from '../../../src/dbaas-cli/errors';
import { main, type Io } from '../../../src/dbaas-cli/main';

/** Runs the CLI in-process with a given environment; nothing reaches a network. */
async function run(argv: string[], env: NodeJS.ProcessEnv = {}, makeContext?: Io['makeContext']): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    env,
    cwd: '/nonexistent-dbaas-cwd',
    home: '/nonexistent-dbaas-home',
    makeContext: makeContext ?? (() => Promise.reject(new Error('no context in unit tests'))),
  });
  return { code, stdout, stderr };
}

const ENV = { OS_AUTH_URL: 'http://keystone.invalid:5000', OS_USERNAME: 'alice', OS_PASSWORD: 'pw-from-env-77', OS_PROJECT_NAME: 'demo' };

const COMMANDS = [
  [],
  ['configuration'],
  ['configuration', 'show'],
  ['cluster'],
  ['cluster', 'create'],
  ['cluster', 'show'],
  ['cluster', 'list'],
  ['cluster', 'scale'],
  ['cluster', 'delete'],
  ['slave'],
  ['slave', 'userdata'],
  ['slave', 'create'],
  ['slave', 'list'],
  ['slave', 'delete'],
];

describe('k2hdkc-dbaas command line', () => {
  it.each(COMMANDS.map((c) => [c.join(' ') || '(top)', c]))('--help works on %s and exits 0', async (_name, path) => {
    const r = await run([...(path as string[]), '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Usage: k2hdkc-dbaas${(path as string[]).length > 0 ? ` ${(path as string[]).join(' ')}` : ''}`);
  });

  it('exits 2 with the reason on a usage error, before any credential is used', async () => {
    const cases: [string[], RegExp][] = [
      [[], /Usage: k2hdkc-dbaas/],
      [['cluster', 'create', 'c1', '--image', 'i', '--network', 'n'], /required option '--flavor <flavor>' not specified/],
      [['cluster', 'create', 'c1', '--flavor', 'f', '--image', 'i', '--network', 'n', '--servers', 'three'], /--servers must be a whole number/],
      [['cluster', 'create', 'c1', '--flavor', 'f', '--image', 'i', '--network', 'n', '--servers', '0'], /--servers must be from 1 to 64/],
      [['cluster', 'create', 'c/1', '--flavor', 'f', '--image', 'i', '--network', 'n'], /cluster name "c\/1" is not usable/],
      [['cluster', 'create', 'Kvs1', '--flavor', 'f', '--image', 'i', '--network', 'n'], /cluster name "Kvs1" has capital letters; K2HR3 keeps names lower-cased, so use "kvs1"/],
      [['cluster', 'create', 'c1', '--flavor', 'f', '--image', 'i', '--network', 'n', '--ctlport', '8020'], /--port, --ctlport and --slave-ctlport must differ/],
      [['cluster', 'create', 'c1', '--flavor', 'f', '--image', 'i', '--network', 'n', '--wait', 'forever'], /Allowed choices are service-in, registered, none/],
      [['cluster', 'scale', 'c1'], /required option '--servers <n>' not specified/],
      [['cluster', 'list', '-f', 'csv'], /"csv" is not one of table, json, value, yaml/],
      [['slave', 'create', 'c1', '--flavor', 'f', '--image', 'i', '--network', 'n', '--count', '-1'], /--count|unknown option '-1'/],
      [['slave', 'delete'], /missing required argument 'server'/],
      [['cluster', 'frobnicate'], /unknown command 'frobnicate'/],
    ];
    for (const [argv, message] of cases) {
      const r = await run(argv, ENV);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stdout + r.stderr, argv.join(' ')).toMatch(message);
    }
  });

  it('exits 2 and names the missing setting when there are no credentials', async () => {
    const r = await run(['cluster', 'list'], {});
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/the Keystone URL is not set: give --os-auth-url, set OS_AUTH_URL/);
  });

  it('never prints a password or secret, even when a service quotes it or an option is misspelt', async () => {
    const quoting: Io['makeContext'] = (settings) => Promise.reject(new CliError('service', `Keystone refused user alice with password ${settings.auth.password}`));
    const fromEnv = await run(['cluster', 'list'], ENV, quoting);
    expect(fromEnv.code).toBe(1);
    expect(fromEnv.stderr).toContain('with password <redacted>');
    expect(fromEnv.stderr).not.toContain('pw-from-env-77');

    const fromFlag = await run(['--os-password', 'flag-secret-99', 'cluster', 'list'], ENV, quoting);
    expect(fromFlag.stderr).toContain('<redacted>');
    expect(fromFlag.stderr).not.toContain('flag-secret-99');

    const typo = await run(['--os-pasword=typo-secret-55', 'cluster', 'list'], ENV);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("unknown option '--os-pasword=<redacted>'");
    expect(typo.stderr).not.toContain('typo-secret-55');

    const shown = await run(['configuration', 'show', '-f', 'json', '--os-application-credential-secret', 'app-secret-11', '--os-auth-type', 'v3applicationcredential', '--os-application-credential-id', 'cid'], ENV);
    expect(shown.code).toBe(0);
    const parsed = JSON.parse(shown.stdout) as Record<string, string>;
    expect(parsed['auth.application_credential_secret']).toBe('<redacted>');
    expect(parsed['auth.password']).toBe('<redacted>');
    expect(shown.stdout + shown.stderr).not.toMatch(/app-secret-11|pw-from-env-77/);
  });

  it('prints configuration show in each format, with -c', async () => {
    const value = await run(['configuration', 'show', '-f', 'value', '-c', 'auth.username', '-c', 'interface'], ENV);
    expect(value).toMatchObject({ code: 0, stdout: 'alice\npublic\n' });
    const table = await run(['configuration', 'show', '-c', 'auth_type'], ENV);
    expect(table.stdout).toBe('+-----------+----------+\n| Field     | Value    |\n+-----------+----------+\n| auth_type | password |\n+-----------+----------+\n');
  });

  it('maps each kind of failure to its exit code', async () => {
    const failing = (kind: CliError['kind']): Io['makeContext'] => () => Promise.reject(new CliError(kind, `a ${kind} failure`));
    expect((await run(['cluster', 'show', 'c1'], ENV, failing('not_found'))).code).toBe(3);
    expect((await run(['cluster', 'show', 'c1'], ENV, failing('conflict'))).code).toBe(4);
    expect((await run(['cluster', 'show', 'c1'], ENV, failing('timeout'))).code).toBe(5);
    const unexpected = await run(['cluster', 'show', 'c1'], ENV, () => Promise.reject(new TypeError('boom')));
    expect(unexpected).toMatchObject({ code: 1, stderr: 'k2hdkc-dbaas: unexpected error: boom\n' });
  });
});

describe('k2hdkc-dbaas backup schedule', () => {
  it('is a command of k2hdkc-dbaas: its usage on --help, exit 2 with the usage on a bad call', async () => {
    const help = await run(['backup', 'schedule', '--help'], ENV);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/create <instance> <cron pattern> <name>/);
    const bad = await run(['backup', 'schedule', 'create', 'only-an-instance'], ENV);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/create takes <instance> <cron pattern> <name>/);
  });

  it('refuses clouds.yaml clearly (it reads an openrc) and never prints the password', async () => {
    const refused = await run(['--os-cloud', 'mycloud', '--os-password', 'pw-on-the-line-99', 'backup', 'schedule', 'list'], ENV);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/OS_\* variables of an openrc/);
    expect(refused.stdout + refused.stderr).not.toMatch(/pw-on-the-line-99|pw-from-env-77/);
  });
});
