import { execFile } from 'node:child_process';

/** The outcome of one `openstack` command. */
export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs the real CLI (python3-openstackclient + the troveclient osc plugin) as a user would, with
 * keystoneauth's `admin_token` plugin: the token is sent as X-Auth-Token and the endpoint is
 * used for every service, so `--os-endpoint` is trove-api's `/v1.0/<project>` URL.
 */
export class OpenStackCli {
  readonly commands: string[] = [];

  constructor(private readonly apiUrl: string, private readonly logLine: (line: string) => void) {}

  run(token: string, project: string, args: readonly string[], timeoutMs = 60_000): Promise<CliResult> {
    const argv = [
      '--os-auth-type', 'admin_token', '--os-token', token,
      '--os-endpoint', `${this.apiUrl}/v1.0/${project}`,
      '--os-region-name', 'RegionOne',
      ...args,
    ];
    // The token is a secret outside the test: only the command is logged.
    this.logLine(`$ openstack (project ${project}) ${args.join(' ')}`);
    return new Promise((resolve) => {
      execFile('/usr/bin/openstack', argv, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, PYTHONWARNINGS: 'ignore' } },
        (error, stdout, stderr) => {
          const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
          this.logLine(`  -> exit ${code}${stderr.trim() === '' ? '' : `; stderr: ${stderr.trim().slice(0, 2000)}`}`);
          resolve({ code, stdout, stderr });
        });
    });
  }

  /** Runs a command that must succeed; returns stdout. */
  async ok(token: string, project: string, args: readonly string[], timeoutMs?: number): Promise<string> {
    const result = await this.run(token, project, args, timeoutMs);
    if (result.code !== 0) {
      throw new Error(`openstack ${args.join(' ')} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
    }
    return result.stdout;
  }

  /** Runs a command with `-f json` and parses its output. */
  async json<T>(token: string, project: string, args: readonly string[], timeoutMs?: number): Promise<T> {
    const out = await this.ok(token, project, [...args, '-f', 'json'], timeoutMs);
    return JSON.parse(out) as T;
  }
}

/** A Keystone user as the CLI logs in with it (test/keystone/fixture.ts Credentials). */
export interface CliUser {
  readonly username: string;
  readonly password: string;
  readonly project: string;
}

/**
 * The CLI as a cloud's user runs it: password authentication at Keystone (`OS_*` variables, the
 * password never on the command line), every endpoint from the catalog of the scoped token.
 */
export class OpenStackPasswordCli {
  constructor(private readonly authUrl: string, private readonly logLine: (line: string) => void) {}

  run(user: CliUser, args: readonly string[], timeoutMs = 60_000): Promise<CliResult> {
    this.logLine(`$ openstack (${user.username}@${user.project}) ${args.join(' ')}`);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PYTHONWARNINGS: 'ignore',
      OS_AUTH_URL: this.authUrl,
      OS_AUTH_TYPE: 'password',
      OS_IDENTITY_API_VERSION: '3',
      OS_USERNAME: user.username,
      OS_PASSWORD: user.password,
      OS_PROJECT_NAME: user.project,
      OS_USER_DOMAIN_NAME: 'Default',
      OS_PROJECT_DOMAIN_NAME: 'Default',
      OS_REGION_NAME: 'RegionOne',
      OS_INTERFACE: 'public',
    };
    return new Promise((resolve) => {
      execFile('/usr/bin/openstack', [...args], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, env }, (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        this.logLine(`  -> exit ${code}${stderr.trim() === '' ? '' : `; stderr: ${stderr.trim().slice(0, 2000)}`}`);
        resolve({ code, stdout, stderr });
      });
    });
  }

  async ok(user: CliUser, args: readonly string[], timeoutMs?: number): Promise<string> {
    const result = await this.run(user, args, timeoutMs);
    if (result.code !== 0) throw new Error(`openstack ${args.join(' ')} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
    return result.stdout;
  }

  async json<T>(user: CliUser, args: readonly string[], timeoutMs?: number): Promise<T> {
    return JSON.parse(await this.ok(user, [...args, '-f', 'json'], timeoutMs)) as T;
  }
}
