import { describe, expect, it } from 'vitest';
import {
  checkPattern, parseMaxAge, retentionOf, scheduleCreate, scheduleDescription, scheduleExecutions, scheduleList, triggerFor,
  ScheduleUsageError, type ScheduleClients,
} from '../../../src/dbaas-cli/backup-schedule';
import { parseScheduleArgs, runBackupSchedule } from '../../../src/dbaas-cli/backup-schedule-command';
import type { CronTrigger, Execution } from '../../../src/mistral/client';

const INSTANCE = '6c1f7f0e-2b1a-4a53-9d0c-3b0c2a1d5e7f';
const OTHER = '9a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d';

function usage(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ScheduleUsageError);
    return (error as Error).message;
  }
  throw new Error('no ScheduleUsageError');
}

describe('backup schedule command line', () => {
  it('parses the issue\'s create line with retention', () => {
    const p = parseScheduleArgs(['create', 'db1', '*/1 * * * *', 'nightly', '--keep', '2', '--max-age', '7D', '--incremental']);
    expect(p).toMatchObject({ command: 'create', positionals: ['db1', '*/1 * * * *', 'nightly'], keep: 2, maxAge: '7d', incremental: true, format: 'table' });
  });

  it('refuses what it cannot send, naming the argument', () => {
    expect(() => parseScheduleArgs(['create', 'db1', '0 2 * * *'])).toThrow(/create takes <instance> <cron pattern> <name>/);
    expect(() => parseScheduleArgs(['create', 'db1', '0 2 * * *', 'n', 'extra'])).toThrow(/not also "extra"/);
    expect(() => parseScheduleArgs(['create', 'db1', '0 2 * * *', 'n', '--keep', '0'])).toThrow(/--keep "0" must be a whole number from 1/);
    expect(() => parseScheduleArgs(['create', 'db1', '0 2 * * *', 'n', '--max-age', '7 days'])).toThrow(/--max-age "7 days" must be a number with a unit/);
    expect(() => parseScheduleArgs(['list', '--keep', '2'])).toThrow(/--keep belongs to create, not list/);
    expect(() => parseScheduleArgs(['show', 'a', '--limit', '3'])).toThrow(/--limit belongs to executions/);
    expect(() => parseScheduleArgs(['purge', 'x'])).toThrow(/unknown command "purge"/);
    expect(() => parseScheduleArgs(['list', '--format', 'xml'])).toThrow(/--format must be table, json or value/);
    expect(() => parseScheduleArgs(['list', '--colour'])).toThrow(/--colour/);
  });

  it('checks cron patterns and schedule names before anything is sent', () => {
    expect(checkPattern(' 0  2 * *   1-5 ')).toBe('0 2 * * 1-5');
    expect(checkPattern('*/15 0,12 1 jan-mar mon')).toBe('*/15 0,12 1 jan-mar mon');
    expect(usage(() => checkPattern('0 2 * *'))).toMatch(/five fields/);
    expect(usage(() => checkPattern('@daily x y z w'))).toMatch(/five fields/);
    const request = { instance: 'db1', pattern: '0 2 * * *', description: undefined, incremental: false, retention: { keep: undefined, maxAge: undefined } };
    expect(usage(() => triggerFor({ ...request, name: 'night ly' }, INSTANCE))).toMatch(/schedule name "night ly"/);
    expect(usage(() => triggerFor({ ...request, name: '-x' }, INSTANCE))).toMatch(/starting with a letter or digit/);
  });

  it('exits 2 with the reason on stderr, and prints usage on --help', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: (t: string) => out.push(t), stderr: (t: string) => err.push(t), env: {} };
    const never = (): Promise<ScheduleClients> => Promise.reject(new Error('must not connect'));
    expect(await runBackupSchedule(['create', 'db1', 'bad', 'n'], io, never)).toBe(2);
    expect(err.join('')).toMatch(/cron pattern "bad" must have five fields/);
    err.length = 0;
    expect(await runBackupSchedule(['create', 'db1', '0 2 * * *', 'n', '--description', 'max_age=1s'], io, never)).toBe(2);
    expect(err.join('')).toMatch(/must not contain/);
    expect(await runBackupSchedule(['list'], io, never)).toBe(1);
    expect(err.join('')).toMatch(/must not connect/);
    err.length = 0;
    expect(await runBackupSchedule(['create', 'db1'], io, never)).toBe(2);
    expect(err.join('')).toMatch(/create takes/);
    expect(await runBackupSchedule(['--help'], io, never)).toBe(0);
    expect(out.join('')).toMatch(/usage: k2hdkc-dbaas backup schedule/);
  });
});

describe('the trigger a schedule is', () => {
  it('is a trove.backup_create trigger with exactly troveclient\'s input keys, and the schedule in the description', () => {
    const t = triggerFor({
      instance: 'db1', pattern: '*/1 * * * *', name: 'nightly', description: 'before upgrades', incremental: false,
      retention: { keep: 2, maxAge: '7d' },
    }, INSTANCE, () => 'fixed-id');
    expect(t).toEqual({ name: 'fixed-id', workflow_name: 'trove.backup_create', pattern: '*/1 * * * *', workflow_input: t.workflow_input });
    expect(Object.keys(JSON.parse(t.workflow_input))).toEqual(['instance', 'name', 'description', 'incremental']);
    expect(JSON.parse(t.workflow_input)).toEqual({ instance: INSTANCE, name: 'nightly', description: 'schedule=nightly keep=2 max_age=7d before upgrades', incremental: null });
  });

  it('keeps retention words out of free text, and reads them back only for its own schedule', () => {
    expect(usage(() => scheduleDescription('n', { keep: 1, maxAge: undefined }, 'keep=9 please'))).toMatch(/must not contain/);
    expect(scheduleDescription('n', { keep: undefined, maxAge: undefined }, undefined)).toBe('schedule=n');
    expect(retentionOf('schedule=n keep=3 max_age=12h', 'n')).toEqual({ keep: 3, max_age: '12h' });
    expect(retentionOf('schedule=n keep=3', 'other')).toEqual({ keep: null, max_age: null });
    expect(retentionOf(null, 'n')).toEqual({ keep: null, max_age: null });
    expect(parseMaxAge('36H')).toBe('36h');
  });
});

/** An in-memory Mistral holding triggers and executions as Mistral returns them (JSON text fields). */
function memoryClients(triggers: CronTrigger[], executions: Execution[]): ScheduleClients & { created: unknown[] } {
  const created: unknown[] = [];
  return {
    created,
    findInstance: async (ref) => {
      if (ref === 'db1' || ref === INSTANCE) return { id: INSTANCE, name: 'db1' };
      if (ref === 'db2') return { id: OTHER, name: 'db2' };
      throw new Error(`no instance ${ref}`);
    },
    mistral: {
      createCronTrigger: async (body) => {
        created.push(body);
        const t: CronTrigger = { id: `id-${body.name}`, ...body, next_execution_time: '2026-12-06 05:00:00', created_at: '2026-12-06 04:00:00' };
        triggers.push(t);
        return t;
      },
      listCronTriggers: async () => triggers,
      getCronTrigger: async (id) => triggers.find((t) => t.name === id || t.id === id) ?? null,
      deleteCronTrigger: async () => true,
      listExecutions: async (_wf, limit, marker) => {
        const start = marker === undefined ? 0 : executions.findIndex((e) => e.id === marker) + 1;
        return executions.slice(start, start + limit);
      },
    },
  };
}

describe('list and executions', () => {
  const trigger = (name: string, input: unknown, workflow = 'trove.backup_create'): CronTrigger => ({
    id: `id-${name}`, name, workflow_name: workflow, workflow_input: JSON.stringify(input), pattern: '0 2 * * *', next_execution_time: null, created_at: '2026-12-01 00:00:00',
  });

  it('lists backup schedules (ours and troveclient\'s) of the project or of one instance, not other triggers', async () => {
    const clients = memoryClients([
      trigger('t1', { instance: INSTANCE, name: 'nightly', description: 'schedule=nightly keep=2', incremental: null }),
      trigger('t2', { instance: OTHER, name: 'weekly', description: null, incremental: true }),
      trigger('t3', { instance: INSTANCE }, 'some.other_workflow'),
      { ...trigger('t4', {}), workflow_input: 'not json' },
    ], []);
    const all = await scheduleList(clients, undefined);
    expect(all.map((r) => [r.id, r.name, r.keep, r.incremental])).toEqual([['t1', 'nightly', 2, null], ['t2', 'weekly', null, true]]);
    expect((await scheduleList(clients, 'db2')).map((r) => r.id)).toEqual(['t2']);
  });

  it('create sends the trigger for the instance\'s id even when given its name', async () => {
    const clients = memoryClients([], []);
    const row = await scheduleCreate(clients, { instance: 'db1', pattern: '0 3 * * *', name: 'n', description: undefined, incremental: false, retention: { keep: 1, maxAge: undefined } });
    expect(JSON.parse((clients.created[0] as { workflow_input: string }).workflow_input).instance).toBe(INSTANCE);
    expect(row).toMatchObject({ name: 'n', instance: INSTANCE, keep: 1, pattern: '0 3 * * *' });
  });

  it('finds a schedule\'s executions by equal input across pages, newest first, up to the limit', async () => {
    const input = { instance: INSTANCE, name: 'nightly', description: 'schedule=nightly', incremental: null };
    const exec = (id: string, inp: unknown, state = 'SUCCESS', output: unknown = { backup_id: `b-${id}`, backup_name: `nightly-${id}` }): Execution => ({
      id, workflow_name: 'trove.backup_create', input: JSON.stringify(inp), output: JSON.stringify(output), state, state_info: state === 'ERROR' ? 'Trove refused the backup (busy)' : null, created_at: `2026-12-06 0${id.length}:00:00`,
    });
    const noise = Array.from({ length: 60 }, (_, i) => exec(`x${i}`, { ...input, name: 'other' }));
    const clients = memoryClients([trigger('t1', input)], [exec('e3', input), ...noise, exec('e2', input, 'ERROR', {}), exec('e1', input)]);
    const rows = await scheduleExecutions(clients, 't1', 20);
    expect(rows.map((r) => [r.id, r.state, r.backup_name])).toEqual([['e3', 'SUCCESS', 'nightly-e3'], ['e2', 'ERROR', null], ['e1', 'SUCCESS', 'nightly-e1']]);
    expect(rows[1]!.state_info).toMatch(/busy/);
    expect((await scheduleExecutions(clients, 't1', 2)).map((r) => r.id)).toEqual(['e3', 'e2']);
  });
});

describe('what backup schedule prints', () => {
  const trigger: CronTrigger = {
    id: 'id-t1', name: 't1', workflow_name: 'trove.backup_create', pattern: '0 2 * * *', next_execution_time: null, created_at: '2026-12-01 00:00:00',
    workflow_input: JSON.stringify({ instance: INSTANCE, name: 'nightly', description: 'schedule=nightly keep=2', incremental: null }),
  };
  async function printed(argv: string[]): Promise<string> {
    const out: string[] = [];
    const code = await runBackupSchedule(argv, { stdout: (t) => out.push(t), stderr: (t) => out.push(t), env: {} }, async () => memoryClients([trigger], []));
    expect(code).toBe(0);
    return out.join('');
  }

  it('tables as the rest of k2hdkc-dbaas (the openstack CLI\'s), json with every field, value one per line for a show', async () => {
    expect(await printed(['list'])).toBe([
      '+----+---------+--------------------------------------+-----------+---------------------+------+---------+',
      '| id | name    | instance                             | pattern   | next_execution_time | keep | max_age |',
      '+----+---------+--------------------------------------+-----------+---------------------+------+---------+',
      `| t1 | nightly | ${INSTANCE} | 0 2 * * * |                     | 2    |         |`,
      '+----+---------+--------------------------------------+-----------+---------------------+------+---------+',
      '',
    ].join('\n'));
    const json = JSON.parse(await printed(['list', '-f', 'json'])) as Record<string, unknown>[];
    expect(json).toEqual([expect.objectContaining({ id: 't1', name: 'nightly', created_at: '2026-12-01 00:00:00', keep: 2, max_age: null, incremental: null })]);
    const show = await printed(['show', 't1']);
    expect(show).toMatch(/^\+-+\+-+\+\n\| Field +\| Value +\|\n/);
    expect(show).toContain(`| instance            | ${INSTANCE} |`);
    expect((await printed(['show', 't1', '-f', 'value'])).split('\n').slice(0, 3)).toEqual(['t1', 'nightly', INSTANCE]);
    expect(await printed(['executions', 't1'])).toBe('');
  });
});
