import { parseArgs } from 'node:util';
import axios from 'axios';
import { authFromEnv, openSession, OpenstackAuthError, type KeystoneSession } from '../keystone/session';
import { MistralClient, MistralError } from '../mistral/client';
import {
  checkPattern, checkScheduleName, parseKeep, parseMaxAge, scheduleCreate, scheduleDescription, scheduleDelete, scheduleExecutions, scheduleList, scheduleShow,
  ScheduleNotFoundError, ScheduleUsageError, type ScheduleClients,
} from './backup-schedule';
import { formatList, formatShow, type Row } from './output';

/**
 * The command line of `k2hdkc-dbaas backup schedule ...` (what follows those two words), kept
 * apart from the CLI's main parser so it can be mounted there as one subcommand group. Exit
 * codes as the rest of k2hdkc-dbaas: 0 done, 1 a service failed or refused, 2 bad command line
 * or credentials missing, 3 not found.
 */

export const BACKUP_SCHEDULE_USAGE = `usage: k2hdkc-dbaas backup schedule <command> [options]

  create <instance> <cron pattern> <name> [--keep N] [--max-age 7d] [--incremental]
         [--description TEXT]      back up <instance> on <cron pattern> (e.g. "0 2 * * *");
                                   --keep/--max-age delete this schedule's older backups
  list [<instance>]                the project's backup schedules (of one instance)
  show <schedule-id>
  delete <schedule-id>             no further backups; the backups made stay
  executions <schedule-id> [--limit N]
                                   the schedule's runs, newest first, with Trove's reason
                                   when one failed

  -f, --format table|json|value    (default table)
  --mistral-url URL                Mistral's v2 API (default: the catalog's workflowv2)

Credentials: the OS_* variables of an openrc file. Schedules are Mistral cron triggers of
workflow trove.backup_create, the same as troveclient's Backups.schedule_create makes.`;

export interface CommandIo {
  stdout(text: string): void;
  stderr(text: string): void;
  readonly env: Readonly<Record<string, string | undefined>>;
}

type Format = 'table' | 'json' | 'value';

export interface ParsedCommand {
  readonly command: 'create' | 'list' | 'show' | 'delete' | 'executions' | 'help';
  readonly positionals: readonly string[];
  readonly format: Format;
  readonly mistralUrl: string | undefined;
  readonly keep: number | undefined;
  readonly maxAge: string | undefined;
  readonly incremental: boolean;
  readonly description: string | undefined;
  readonly limit: number;
}

const ARITY: Readonly<Record<Exclude<ParsedCommand['command'], 'help'>, [number, number, string]>> = {
  create: [3, 3, '<instance> <cron pattern> <name>'],
  list: [0, 1, '[<instance>]'],
  show: [1, 1, '<schedule-id>'],
  delete: [1, 1, '<schedule-id>'],
  executions: [1, 1, '<schedule-id>'],
};

/** Parses and checks everything local; throws ScheduleUsageError naming what is wrong. */
export function parseScheduleArgs(argv: readonly string[]): ParsedCommand {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: true,
      options: {
        format: { type: 'string', short: 'f' },
        'mistral-url': { type: 'string' },
        keep: { type: 'string' },
        'max-age': { type: 'string' },
        incremental: { type: 'boolean' },
        description: { type: 'string' },
        limit: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new ScheduleUsageError((error as Error).message);
  }
  const v = parsed.values;
  const [command, ...positionals] = parsed.positionals;
  const base = {
    positionals, mistralUrl: v['mistral-url'], keep: undefined, maxAge: undefined, incremental: false, description: undefined, limit: 20,
    format: 'table' as Format,
  };
  if (v.help || command === undefined || command === 'help') return { ...base, command: 'help' };
  if (!(command in ARITY)) throw new ScheduleUsageError(`unknown command ${JSON.stringify(command)}: create, list, show, delete or executions`);
  const cmd = command as keyof typeof ARITY;
  const [min, max, shape] = ARITY[cmd];
  if (positionals.length < min || positionals.length > max) throw new ScheduleUsageError(`${cmd} takes ${shape}${positionals.length > max ? `, not also ${JSON.stringify(positionals.slice(max).join(' '))}` : ''}`);
  const format = v.format ?? 'table';
  if (format !== 'table' && format !== 'json' && format !== 'value') throw new ScheduleUsageError(`--format must be table, json or value, not ${JSON.stringify(format)}`);
  const createOnly = { keep: v.keep, 'max-age': v['max-age'], incremental: v.incremental, description: v.description };
  if (cmd !== 'create') {
    const wrong = Object.entries(createOnly).find(([, value]) => value !== undefined);
    if (wrong) throw new ScheduleUsageError(`--${wrong[0]} belongs to create, not ${cmd}`);
  }
  if (v.limit !== undefined && cmd !== 'executions') throw new ScheduleUsageError(`--limit belongs to executions, not ${cmd}`);
  let limit = 20;
  if (v.limit !== undefined) {
    if (!/^[0-9]+$/.test(v.limit) || Number(v.limit) < 1 || Number(v.limit) > 1000) throw new ScheduleUsageError('--limit must be a whole number from 1 to 1000');
    limit = Number(v.limit);
  }
  if (v['mistral-url'] !== undefined && !/^https?:\/\/\S+$/.test(v['mistral-url'])) throw new ScheduleUsageError(`--mistral-url ${JSON.stringify(v['mistral-url'])} is not an http(s) URL`);
  const keep = v.keep === undefined ? undefined : parseKeep(v.keep);
  const maxAge = v['max-age'] === undefined ? undefined : parseMaxAge(v['max-age']);
  if (cmd === 'create') {
    // Everything that can be wrong locally is refused before Keystone is asked anything.
    checkPattern(positionals[1]!);
    scheduleDescription(checkScheduleName(positionals[2]!), { keep, maxAge }, v.description);
  }
  return {
    ...base,
    command: cmd,
    format,
    keep,
    maxAge,
    incremental: v.incremental === true,
    description: v.description,
    limit,
  };
}

/** Trove instances of the session's project, for `<instance>` given by id or name. */
export function troveInstanceFinder(session: KeystoneSession): ScheduleClients['findInstance'] {
  const endpoint = session.findEndpoint('database');
  return async (ref) => {
    if (endpoint === null) throw new OpenstackAuthError('the Keystone catalog has no database (Trove) endpoint: is Trove installed in this cloud?');
    const base = /\/v1\.0$/.test(endpoint) ? `${endpoint}/${session.project.id}` : endpoint;
    const http = axios.create({ baseURL: base, timeout: 30_000, validateStatus: () => true, headers: { 'X-Auth-Token': session.token, Accept: 'application/json' } });
    const fail = (status: number): never => {
      throw new MistralError(`Trove at ${base} answered HTTP ${status} when looking up instance ${JSON.stringify(ref)}`, status);
    };
    let res;
    try {
      res = await http.get(`/instances/${encodeURIComponent(ref)}`);
      if (res.status === 200 && typeof res.data?.instance?.id === 'string') return { id: res.data.instance.id, name: String(res.data.instance.name) };
      if (res.status !== 404 && res.status !== 400) fail(res.status);
      res = await http.get('/instances', { params: { limit: 1000 } });
    } catch (error) {
      if (error instanceof MistralError) throw error;
      throw new MistralError(`Trove at ${base} cannot be reached (${(error as Error).message})`);
    }
    if (res.status !== 200 || !Array.isArray(res.data?.instances)) fail(res.status);
    const named = (res.data.instances as { id: string; name: string }[]).filter((i) => i.name === ref);
    if (named.length === 0) throw new ScheduleNotFoundError(`no Trove instance ${JSON.stringify(ref)} in this project`);
    if (named.length > 1) throw new ScheduleUsageError(`${named.length} Trove instances are named ${JSON.stringify(ref)}: give the id`);
    return { id: named[0]!.id, name: named[0]!.name };
  };
}

/** The real clients: one Keystone v3 session (domains always sent), Mistral and Trove from its catalog. */
export async function sessionClients(parsed: ParsedCommand, env: CommandIo['env']): Promise<ScheduleClients> {
  const session = await openSession(authFromEnv(env));
  const mistralUrl = parsed.mistralUrl ?? session.findEndpoint('workflowv2');
  if (mistralUrl === null) throw new OpenstackAuthError('the Keystone catalog has no workflowv2 (Mistral) endpoint: ask the operator, or give --mistral-url');
  return { mistral: new MistralClient(mistralUrl, session.token), findInstance: troveInstanceFinder(session) };
}

/** One schedule or execution as the rest of k2hdkc-dbaas shows one (output.ts). */
function show(row: Row, format: Format): string {
  return formatShow(row, { format });
}

/** A list as the rest of k2hdkc-dbaas prints one; its columns are the first row's keys. */
function list(rows: readonly Row[], format: Format): string {
  return formatList(Object.keys(rows[0] ?? {}), rows, { format });
}

/** Runs one `backup schedule` command line; resolves the exit code, never throws. */
export async function runBackupSchedule(
  argv: readonly string[],
  io: CommandIo,
  makeClients: (parsed: ParsedCommand, env: CommandIo['env']) => Promise<ScheduleClients> = sessionClients,
): Promise<number> {
  let parsed: ParsedCommand;
  try {
    parsed = parseScheduleArgs(argv);
  } catch (error) {
    io.stderr(`k2hdkc-dbaas backup schedule: ${(error as Error).message}\n(add --help for usage)\n`);
    return 2;
  }
  if (parsed.command === 'help') {
    io.stdout(`${BACKUP_SCHEDULE_USAGE}\n`);
    return 0;
  }
  try {
    const clients = await makeClients(parsed, io.env);
    const [a, b, c] = parsed.positionals;
    switch (parsed.command) {
      case 'create': {
        const row = await scheduleCreate(clients, {
          instance: a!, pattern: b!, name: c!, description: parsed.description, incremental: parsed.incremental,
          retention: { keep: parsed.keep, maxAge: parsed.maxAge },
        });
        io.stdout(show({ ...row }, parsed.format));
        break;
      }
      case 'list': {
        const rows = await scheduleList(clients, a);
        const shown = parsed.format === 'json' ? rows : rows.map((r) => ({ id: r.id, name: r.name, instance: r.instance, pattern: r.pattern, next_execution_time: r.next_execution_time, keep: r.keep, max_age: r.max_age }));
        io.stdout(list(shown, parsed.format));
        break;
      }
      case 'show':
        io.stdout(show({ ...(await scheduleShow(clients, a!)) }, parsed.format));
        break;
      case 'delete':
        await scheduleDelete(clients, a!);
        break;
      case 'executions':
        io.stdout(list((await scheduleExecutions(clients, a!, parsed.limit)).map((r) => ({ ...r })), parsed.format));
        break;
    }
    return 0;
  } catch (error) {
    const message = (error as Error).message;
    io.stderr(`k2hdkc-dbaas backup schedule: ${message}\n`);
    if (error instanceof ScheduleUsageError || error instanceof OpenstackAuthError) return 2;
    if (error instanceof ScheduleNotFoundError) return 3;
    if (error instanceof MistralError) return error.status === 404 ? 3 : 1;
    return 1;
  }
}
