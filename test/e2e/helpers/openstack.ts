import { execFile } from 'node:child_process';

/** The outcome of one `openstack` command. */
export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A Keystone user as the CLI logs in with it (test/keystone/fixture.ts Credentials). */
export interface CliUser {
  readonly username: string;
  readonly password: string;
  readonly project: string;
}

/** The `OS_*` variables of a user's openrc file (password auth at Keystone v3, public endpoints). */
export function openrc(authUrl: string, user: CliUser): Record<string, string> {
  return {
    OS_AUTH_URL: authUrl,
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
}

/**
 * The CLI (python3-openstackclient + the troveclient osc plugin) as a cloud's user runs it:
 * password authentication at Keystone (`OS_*` variables, the password never on the command
 * line), every endpoint from the catalog of the scoped token.
 */
export class OpenStackPasswordCli {
  /** Commands run and their total wall time (the e2e files print it: each one is a login). */
  readonly spent = { commands: 0, ms: 0 };

  constructor(private readonly authUrl: string, private readonly logLine: (line: string) => void) {}

  run(user: CliUser, args: readonly string[], timeoutMs = 60_000): Promise<CliResult> {
    this.logLine(`$ openstack (${user.username}@${user.project}) ${args.join(' ')}`);
    const env: NodeJS.ProcessEnv = { ...process.env, PYTHONWARNINGS: 'ignore', ...openrc(this.authUrl, user) };
    const started = Date.now();
    return new Promise((resolve) => {
      execFile('/usr/bin/openstack', [...args], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, env }, (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        const ms = Date.now() - started;
        this.spent.commands += 1;
        this.spent.ms += ms;
        this.logLine(`  -> exit ${code} in ${(ms / 1000).toFixed(1)} s${stderr.trim() === '' ? '' : `; stderr: ${stderr.trim().slice(0, 2000)}`}`);
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** Runs a command that must succeed; returns stdout. */
  async ok(user: CliUser, args: readonly string[], timeoutMs?: number): Promise<string> {
    const result = await this.run(user, args, timeoutMs);
    if (result.code !== 0) throw new Error(`openstack ${args.join(' ')} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
    return result.stdout;
  }

  /** Runs a command with `-f json` and parses its output. */
  async json<T>(user: CliUser, args: readonly string[], timeoutMs?: number): Promise<T> {
    return JSON.parse(await this.ok(user, [...args, '-f', 'json'], timeoutMs)) as T;
  }
}
