import axios, { type AxiosInstance } from 'axios';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_CLUSTER_PORTS } from '../k2hr3/provision';
import { checkClusterName, checkPorts, clusterCreate, clusterDelete, clusterList, clusterScale, clusterShow, type WaitMode } from './cluster';
import { openSession, OpenstackAuthError, type KeystoneSession } from '../keystone/session';
import { describeCloud, keystoneAuthOf, resolveCloud, secretsOf, type CloudOptions, type CloudSettings } from './clouds';
import type { Context } from './context';
import { CliError } from './errors';
import { K2hr3User } from './k2hr3-user';
import { Glance, Neutron, Nova, NOVA_MICROVERSION, Trove } from './openstack';
import { ServiceClient, scrub } from './openstack-http';
import { formatList, formatShow, parseFormat, type Format, type Row } from './output';
import { SLAVE_COLUMNS, slaveCreate, slaveDelete, slaveList, slaveUserdata } from './slave';
import { runBackupSchedule } from './backup-schedule-command';

/** Global `--os-*` options as the OS_* variables `backup schedule` reads (an openrc's names). */
const OS_OPTION_VARIABLES: ReadonlyArray<[keyof CloudOptions, string]> = [
  ['osAuthUrl', 'OS_AUTH_URL'], ['osAuthType', 'OS_AUTH_TYPE'], ['osUsername', 'OS_USERNAME'], ['osUserId', 'OS_USER_ID'],
  ['osPassword', 'OS_PASSWORD'], ['osProjectName', 'OS_PROJECT_NAME'], ['osProjectId', 'OS_PROJECT_ID'],
  ['osUserDomainName', 'OS_USER_DOMAIN_NAME'], ['osUserDomainId', 'OS_USER_DOMAIN_ID'],
  ['osProjectDomainName', 'OS_PROJECT_DOMAIN_NAME'], ['osProjectDomainId', 'OS_PROJECT_DOMAIN_ID'],
  ['osApplicationCredentialId', 'OS_APPLICATION_CREDENTIAL_ID'], ['osApplicationCredentialName', 'OS_APPLICATION_CREDENTIAL_NAME'],
  ['osApplicationCredentialSecret', 'OS_APPLICATION_CREDENTIAL_SECRET'], ['osRegionName', 'OS_REGION_NAME'], ['osInterface', 'OS_INTERFACE'],
];

/**
 * `k2hdkc-dbaas`: K2HDKC clusters on OpenStack without Trove, and client (slave) nodes for any
 * cluster, in the manner of the `openstack` CLI. This file only parses the command line, builds
 * the context and prints; the work is in cluster.ts and slave.ts. Exit codes: 0 done, 1 a
 * service failed, 2 bad command line or configuration, 3 not found, 4 conflict (already
 * exists, ambiguous name), 5 a wait timed out.
 */

export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
  env: NodeJS.ProcessEnv;
  cwd: string;
  home?: string;
  /** Tests may give their own context; default: Keystone session and catalog endpoints. */
  makeContext?: (settings: CloudSettings, global: GlobalOptions, io: Io) => Promise<Context>;
}

export interface GlobalOptions extends CloudOptions {
  k2hr3VmUrl?: string;
  pollInterval: number;
  timeout: number;
  quiet?: boolean;
}

const SECRET_FLAGS: ReadonlySet<string> = new Set(['--os-password', '--os-application-credential-secret']);

/**
 * Values on the command line that must never be echoed: those of the secret flags, and the
 * `=value` of any flag that is not a known plain one (commander quotes an unknown option
 * whole, and a misspelt `--os-pasword=...` is still a password).
 */
function argvSecrets(argv: readonly string[], plainFlags: ReadonlySet<string>): string[] {
  const out: string[] = [];
  argv.forEach((arg, i) => {
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      if (!plainFlags.has(arg.slice(0, eq))) out.push(arg.slice(eq + 1));
    } else if (SECRET_FLAGS.has(arg) && argv[i + 1] !== undefined) out.push(argv[i + 1] as string);
  });
  return out.filter((s) => s.length >= 3);
}

function intArg(name: string, min: number, max: number): (raw: string) => number {
  return (raw: string) => {
    if (!/^\d+$/.test(raw)) throw new InvalidArgumentError(`${name} must be a whole number`);
    const n = Number(raw);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be from ${min} to ${max}`);
    return n;
  };
}

function formatArg(raw: string): Format {
  try {
    return parseFormat(raw);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

function addOutputOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('-f, --format <format>', 'output format: table, json, value or yaml').default('table').argParser(formatArg))
    .option('-c, --column <name>', 'only this column (repeat for more)', (v: string, prev: string[] = []) => [...prev, v]);
}

function waitOption(): Option {
  return new Option('--wait <until>', 'wait until: service-in (every server SERVICE IN in the chmpx ring), registered (in K2HR3), none').choices(['service-in', 'registered', 'none']).default('service-in');
}

/** The settings' Keystone session; a missing or unscoped credential is the configuration's fault, the rest the service's. */
async function cliSession(settings: CloudSettings, http: AxiosInstance): Promise<KeystoneSession> {
  try {
    return await openSession(keystoneAuthOf(settings), { http });
  } catch (error) {
    if (!(error instanceof OpenstackAuthError)) throw error;
    throw new CliError(error.reason === 'config' || error.reason === 'unscoped' ? 'config' : 'service', error.message);
  }
}

/** The real context: a Keystone session, then clients for each catalog endpoint. */
export async function defaultContext(settings: CloudSettings, global: GlobalOptions, io: Io): Promise<Context> {
  const http = axios.create({ proxy: false });
  const session = await cliSession(settings, http);
  const endpoint = (type: string): string => {
    const url = session.findEndpoint(type);
    if (url === null) {
      throw new CliError('config', `the Keystone catalog has no ${settings.interface} "${type}" endpoint${settings.regionName ? ` in region ${settings.regionName}` : ''}`);
    }
    return url;
  };
  const client = (service: string, type: string, headers: Record<string, string> = {}) =>
    new ServiceClient(service, endpoint(type), session.token, session.secrets, http, headers);
  const troveUrl = session.findEndpoint('database');
  const k2hr3Url = settings.k2hr3ApiUrl ?? session.findEndpoint('k2hr3');
  if (k2hr3Url === null) {
    throw new CliError('config', 'the K2HR3 API URL is not known: give --k2hr3-api-url, set K2HR3_API_URL, add k2hr3_api_url to the clouds.yaml entry, or register a "k2hr3" service in the catalog');
  }
  const trovePath = troveUrl === null ? null : /\/v1\.0$/.test(troveUrl) ? `${troveUrl}/${session.project.id}` : troveUrl;
  // Each service's endpoint is looked up when a command first uses it: `slave userdata` of a
  // Trove cluster needs only Trove and K2HR3, and a catalog without compute must not stop it.
  const lazy = <T>(make: () => T): (() => T) => {
    let made: T | undefined;
    return () => (made ??= make());
  };
  const nova = lazy(() => new Nova(client('Nova', 'compute', { 'OpenStack-API-Version': `compute ${NOVA_MICROVERSION}`, 'X-OpenStack-Nova-API-Version': NOVA_MICROVERSION })));
  const neutron = lazy(() => new Neutron(client('Neutron', 'network')));
  const glance = lazy(() => new Glance(client('Glance', 'image')));
  return {
    session,
    get nova() {
      return nova();
    },
    get neutron() {
      return neutron();
    },
    get glance() {
      return glance();
    },
    trove: trovePath === null ? null : new Trove(new ServiceClient('Trove', trovePath, session.token, session.secrets, http)),
    k2hr3: new K2hr3User(k2hr3Url, session.token, session.project.name),
    k2hr3VmUrl: global.k2hr3VmUrl ?? k2hr3Url,
    progress: (message) => {
      if (!global.quiet) io.stderr(`${scrub(message, session.secrets)}\n`);
    },
    pollMs: global.pollInterval * 1000,
    timeoutMs: global.timeout * 1000,
  };
}

/** Runs one command line; resolves the exit code. Never throws. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  const secrets: string[] = [];
  const out = (text: string): void => io.stdout(scrub(text, secrets));
  const err = (text: string): void => io.stderr(scrub(text, secrets));

  const program = new Command('k2hdkc-dbaas');
  program
    .description('K2HDKC clusters on OpenStack without Trove, and client (slave) nodes for any K2HDKC cluster')
    .configureOutput({ writeOut: out, writeErr: err })
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .option('--os-cloud <name>', 'cloud in clouds.yaml (env OS_CLOUD)')
    .option('--os-auth-url <url>', 'Keystone URL (env OS_AUTH_URL)')
    .option('--os-auth-type <type>', 'password or v3applicationcredential (env OS_AUTH_TYPE)')
    .option('--os-username <name>', 'user name (env OS_USERNAME)')
    .option('--os-user-id <id>', 'user id (env OS_USER_ID)')
    .option('--os-password <password>', 'password (env OS_PASSWORD); never printed')
    .option('--os-project-name <name>', 'project name (env OS_PROJECT_NAME)')
    .option('--os-project-id <id>', 'project id (env OS_PROJECT_ID)')
    .option('--os-user-domain-name <name>', 'user domain (env OS_USER_DOMAIN_NAME)')
    .option('--os-user-domain-id <id>', 'user domain id (env OS_USER_DOMAIN_ID)')
    .option('--os-project-domain-name <name>', 'project domain (env OS_PROJECT_DOMAIN_NAME)')
    .option('--os-project-domain-id <id>', 'project domain id (env OS_PROJECT_DOMAIN_ID)')
    .option('--os-application-credential-id <id>', 'application credential id (env OS_APPLICATION_CREDENTIAL_ID)')
    .option('--os-application-credential-name <name>', 'application credential name (env OS_APPLICATION_CREDENTIAL_NAME)')
    .option('--os-application-credential-secret <secret>', 'application credential secret (env OS_APPLICATION_CREDENTIAL_SECRET); never printed')
    .option('--os-region-name <region>', 'region (env OS_REGION_NAME)')
    .option('--os-interface <interface>', 'catalog interface: public, internal, admin (env OS_INTERFACE)')
    .option('--k2hr3-api-url <url>', 'K2HR3 API URL (env K2HR3_API_URL, clouds.yaml k2hr3_api_url, else the catalog\'s "k2hr3" service)')
    .option('--k2hr3-vm-url <url>', 'K2HR3 API URL as the VMs reach it, if not the same')
    .addOption(new Option('--poll-interval <seconds>', 'seconds between status checks while waiting').default(5).argParser(intArg('--poll-interval', 1, 600)))
    .addOption(new Option('--timeout <seconds>', 'give up waiting after this many seconds').default(1800).argParser(intArg('--timeout', 1, 86400)))
    .option('-q, --quiet', 'no progress messages on stderr');

  const context = async (cmd: Command): Promise<Context> => {
    const global = cmd.optsWithGlobals() as GlobalOptions;
    const settings = resolveCloud(global, io.env, io.cwd, io.home);
    secrets.push(...secretsOf(settings));
    return (io.makeContext ?? defaultContext)(settings, global, io);
  };
  const show = (row: Row, cmd: Command): void => {
    const o = cmd.opts() as { format: Format; column?: string[] };
    out(formatShow(row, { format: o.format, ...(o.column ? { columns: o.column } : {}) }));
  };
  const list = (columns: readonly string[], rows: Row[], cmd: Command): void => {
    const o = cmd.opts() as { format: Format; column?: string[] };
    out(formatList(columns, rows, { format: o.format, ...(o.column ? { columns: o.column } : {}) }));
  };

  const config = program.command('configuration').description('the settings in use');
  addOutputOptions(
    config.command('show').description('show the credential and endpoint settings in use (secrets shown as <redacted>); contacts nothing'),
  ).action((_o, cmd: Command) => {
    const settings = resolveCloud(cmd.optsWithGlobals() as GlobalOptions, io.env, io.cwd, io.home);
    show(describeCloud(settings), cmd);
  });

  const cluster = program.command('cluster').description('K2HDKC clusters made without Trove');
  addOutputOptions(
    cluster
      .command('create')
      .description('create a cluster: K2HR3 resources, roles and policy, a security group for the chmpx ports, and server VMs; waits until every server is SERVICE IN')
      .argument('<name>', 'cluster name (letters, digits, _ . -)')
      .addOption(new Option('--servers <n>', 'number of server VMs').default(3).argParser(intArg('--servers', 1, 64)))
      .requiredOption('--flavor <flavor>', 'Nova flavor name or id')
      .requiredOption('--image <image>', 'K2HDKC guest image name or id')
      .requiredOption('--network <network>', 'Neutron network name or id')
      .addOption(new Option('--volume-size <GiB>', 'a data volume of this size per server (made at boot, deleted with the server)').argParser(intArg('--volume-size', 1, 16384)))
      .addOption(new Option('--port <port>', 'chmpx server port').default(DEFAULT_CLUSTER_PORTS.serverPort).argParser(intArg('--port', 1, 65535)))
      .addOption(new Option('--ctlport <port>', 'chmpx server control port').default(DEFAULT_CLUSTER_PORTS.serverCtlport).argParser(intArg('--ctlport', 1, 65535)))
      .addOption(new Option('--slave-ctlport <port>', 'chmpx slave control port').default(DEFAULT_CLUSTER_PORTS.slaveCtlport).argParser(intArg('--slave-ctlport', 1, 65535)))
      .option('--template <file>', 'K2HR3 template of the cluster INI (default: the shipped DBaaS template)')
      .addOption(waitOption()),
  ).action(async (name: string, o: Record<string, unknown>, cmd: Command) => {
    // What the command line alone can refuse is refused before any credential is used.
    checkClusterName(name);
    checkPorts({ serverPort: o['port'] as number, serverCtlport: o['ctlport'] as number, slaveCtlport: o['slaveCtlport'] as number });
    const ctx = await context(cmd);
    const row = await clusterCreate(ctx, {
      name,
      servers: o['servers'] as number,
      flavor: o['flavor'] as string,
      image: o['image'] as string,
      network: o['network'] as string,
      ...(o['volumeSize'] === undefined ? {} : { volumeSizeGb: o['volumeSize'] as number }),
      ports: { serverPort: o['port'] as number, serverCtlport: o['ctlport'] as number, slaveCtlport: o['slaveCtlport'] as number },
      ...(o['template'] === undefined ? {} : { templateFile: o['template'] as string }),
      wait: o['wait'] as WaitMode,
    });
    show(row, cmd);
  });
  addOutputOptions(cluster.command('show').description('show a cluster: servers, slaves, K2HR3 registrations, Nova and chmpx status').argument('<name>', 'cluster name')).action(
    async (name: string, _o, cmd: Command) => show(await clusterShow(await context(cmd), name), cmd),
  );
  addOutputOptions(cluster.command('list').description('list the clusters made by k2hdkc-dbaas in the project')).action(async (_o, cmd: Command) =>
    list(['name', 'servers', 'slaves', 'status'], await clusterList(await context(cmd)), cmd),
  );
  addOutputOptions(
    cluster
      .command('scale')
      .description('add server VMs, or remove the newest ones (SERVICEOUT first, so their data moves to the others)')
      .argument('<name>', 'cluster name')
      .addOption(new Option('--servers <n>', 'number of servers wanted').makeOptionMandatory().argParser(intArg('--servers', 1, 64)))
      .addOption(waitOption()),
  ).action(async (name: string, o: Record<string, unknown>, cmd: Command) =>
    show(await clusterScale(await context(cmd), name, o['servers'] as number, o['wait'] as WaitMode), cmd),
  );
  cluster
    .command('delete')
    .description('delete a cluster: its VMs (servers and slaves), its security group and its K2HR3 objects')
    .argument('<name>', 'cluster name')
    .action(async (name: string, _o, cmd: Command) => {
      const removed = await clusterDelete(await context(cmd), name);
      if (!(cmd.optsWithGlobals() as GlobalOptions).quiet) err(`removed: ${removed.join(', ')}\n`);
    });

  const slave = program.command('slave').description('client (slave) nodes of any K2HDKC cluster, Trove-made or not');
  slave
    .command('userdata')
    .description('print cloud-init user-data that makes a VM booted from the guest image a slave of the cluster')
    .argument('<cluster>', 'K2HR3 cluster name, or Trove instance or cluster name or id')
    .action(async (ref: string, _o, cmd: Command) => {
      const ctx = await context(cmd);
      const { cluster: c, text } = await slaveUserdata(ctx, ref);
      ctx.progress(`user-data for a slave of K2HR3 cluster ${c.name} (${c.source})`);
      io.stdout(text);
    });
  addOutputOptions(
    slave
      .command('create')
      .description('boot slave VMs of the cluster through Nova and wait until they are registered in K2HR3')
      .argument('<cluster>', 'K2HR3 cluster name, or Trove instance or cluster name or id')
      .requiredOption('--flavor <flavor>', 'Nova flavor name or id')
      .requiredOption('--image <image>', 'K2HDKC guest image name or id')
      .requiredOption('--network <network>', 'Neutron network name or id')
      .addOption(new Option('--count <n>', 'number of slave VMs').default(1).argParser(intArg('--count', 1, 64)))
      .option('--security-group <name>', 'another security group (repeat for more)', (v: string, prev: string[] = []) => [...prev, v])
      .addOption(new Option('--wait <until>', 'wait until: registered (in K2HR3), none').choices(['registered', 'none']).default('registered')),
  ).action(async (ref: string, o: Record<string, unknown>, cmd: Command) => {
    const rows = await slaveCreate(await context(cmd), {
      cluster: ref,
      flavor: o['flavor'] as string,
      image: o['image'] as string,
      network: o['network'] as string,
      count: o['count'] as number,
      securityGroups: (o['securityGroup'] as string[] | undefined) ?? [],
      wait: o['wait'] as 'registered' | 'none',
    });
    list(SLAVE_COLUMNS, rows, cmd);
  });
  addOutputOptions(slave.command('list').description('list slave VMs made by k2hdkc-dbaas (of one cluster, or all)').argument('[cluster]', 'cluster')).action(
    async (ref: string | undefined, _o, cmd: Command) => list(SLAVE_COLUMNS, await slaveList(await context(cmd), ref), cmd),
  );
  slave
    .command('delete')
    .description('delete slave VMs, removing their K2HR3 registration first')
    .argument('<server...>', 'slave VM name or id')
    .action(async (refs: string[], _o, cmd: Command) => {
      const removed = await slaveDelete(await context(cmd), refs);
      if (!(cmd.optsWithGlobals() as GlobalOptions).quiet) err(`removed: ${removed.join(', ')}\n`);
    });

  let scheduleExit = 0;
  // Scheduled backups (Mistral cron triggers of trove.backup_create): their own parser in
  // backup-schedule-command.ts, which reads the openrc's OS_* variables; global --os-* options
  // given before `backup` are passed as those variables.
  program
    .command('backup')
    .description('backups on a schedule, through Trove\'s own scheduling (Mistral)')
    .command('schedule')
    .description('create|list|show|delete|executions (add --help for their usage)')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[args...]', 'the schedule command and its arguments')
    .action(async (args: string[], _o, cmd: Command) => {
      const global = cmd.optsWithGlobals() as GlobalOptions;
      if ((global.osCloud ?? io.env['OS_CLOUD']) !== undefined) {
        throw new CliError('config', 'backup schedule reads the OS_* variables of an openrc, not clouds.yaml: unset OS_CLOUD / --os-cloud and source the openrc');
      }
      const env: NodeJS.ProcessEnv = { ...io.env };
      for (const [option, variable] of OS_OPTION_VARIABLES) if (global[option] !== undefined) env[variable] = String(global[option]);
      scheduleExit = await runBackupSchedule(args, { stdout: out, stderr: err, env });
    });

  const everyCommand = [program, ...program.commands, ...program.commands.flatMap((c) => c.commands)];
  const plainFlags = new Set<string>();
  for (const cmd of everyCommand) {
    cmd.configureOutput({ writeOut: out, writeErr: err }).exitOverride();
    for (const opt of cmd.options) if (opt.long !== undefined && !SECRET_FLAGS.has(opt.long)) plainFlags.add(opt.long);
  }
  secrets.push(...argvSecrets(argv, plainFlags));

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help / --version end with 0; a missing command (help shown instead) and usage errors with 2.
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return 0;
      return 2;
    }
    if (error instanceof CliError) {
      err(`k2hdkc-dbaas: ${error.message}\n`);
      return error.exitCode;
    }
    err(`k2hdkc-dbaas: unexpected error: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  return scheduleExit;
}
