import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { CronTrigger, Execution, MistralClient } from '../mistral/client';
import { BACKUP_WORKFLOW } from '../mistral/workflow-definition';

/**
 * `k2hdkc-dbaas backup schedule create|list|show|delete|executions`: Trove's scheduled backups
 * as troveclient 8 makes them (troveclient/v1/backups.py), so schedules made here, with
 * troveclient's Python API or with `openstack cron trigger create` are the same objects and list
 * together: a Mistral cron trigger named by a new UUID, of workflow `trove.backup_create`, whose
 * input is exactly {instance, name, description, incremental}.
 *
 * What we add stays inside that input: the description starts with `schedule=<name>`, then
 * `keep=<N>` and/or `max_age=<n><s|m|h|d>` when retention is asked for; the workflow reads them
 * (datastore/mistral/trove.backup_create.yaml) and every backup it makes carries them.
 */

export class ScheduleUsageError extends Error {}
export class ScheduleNotFoundError extends Error {}

/** What the commands need from the cloud; built from a Keystone session (or by tests). */
export interface ScheduleClients {
  readonly mistral: Pick<MistralClient, 'createCronTrigger' | 'listCronTriggers' | 'getCronTrigger' | 'deleteCronTrigger' | 'listExecutions'>;
  /** A Trove instance of the project by id or unique name; throws ScheduleNotFoundError. */
  findInstance(ref: string): Promise<{ id: string; name: string }>;
}

/** The workflow input, in troveclient's key order. */
export interface ScheduleInput {
  instance: string;
  name: string;
  description: string | null;
  incremental: boolean | null;
}

export interface Retention {
  readonly keep: number | undefined;
  /** `7d`, `12h`, `30m`, `3600s` as given (normalised to lower case). */
  readonly maxAge: string | undefined;
}

export interface CreateRequest {
  readonly instance: string;
  readonly pattern: string;
  readonly name: string;
  readonly description: string | undefined;
  readonly incremental: boolean;
  readonly retention: Retention;
}

/** One schedule as the commands print it (troveclient's Schedule fields, plus retention). */
export interface ScheduleRow {
  id: string;
  name: string;
  instance: string;
  pattern: string;
  next_execution_time: string | null;
  created_at: string;
  description: string | null;
  incremental: boolean | null;
  keep: number | null;
  max_age: string | null;
}

export interface ExecutionRow {
  id: string;
  created_at: string;
  updated_at: string | null;
  state: string;
  /** Mistral's state_info: for a failed run, the workflow's message with Trove's reason. */
  state_info: string | null;
  backup_id: string | null;
  backup_name: string | null;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const RESERVED = /(^|\s)(schedule|keep|max_age)=/;

export function checkScheduleName(name: string): string {
  if (!NAME.test(name)) {
    throw new ScheduleUsageError(`schedule name ${JSON.stringify(name)} must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit (it starts every backup's name)`);
  }
  return name;
}

/**
 * A five-field cron pattern as Mistral (croniter) takes it: minute hour day month weekday, each
 * `*`, numbers, ranges, lists and steps, or month/day names. Checked here so that a typo is
 * refused before anything is created; Mistral checks it again.
 */
export function checkPattern(pattern: string): string {
  const fields = pattern.trim().split(/\s+/);
  const field = /^(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(\/[0-9]+)?(,(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(\/[0-9]+)?)*$/;
  if (fields.length !== 5 || !fields.every((f) => field.test(f))) {
    throw new ScheduleUsageError(`cron pattern ${JSON.stringify(pattern)} must have five fields (minute hour day-of-month month day-of-week), e.g. "0 2 * * *" for 02:00 every day`);
  }
  return fields.join(' ');
}

export function parseKeep(raw: string): number {
  if (!/^[0-9]+$/.test(raw) || Number(raw) < 1 || Number(raw) > 1000) throw new ScheduleUsageError(`--keep ${JSON.stringify(raw)} must be a whole number from 1 to 1000`);
  return Number(raw);
}

export function parseMaxAge(raw: string): string {
  const m = /^([0-9]{1,6})([smhd])$/i.exec(raw.trim());
  if (!m || Number(m[1]) < 1) throw new ScheduleUsageError(`--max-age ${JSON.stringify(raw)} must be a number with a unit: s, m, h or d (e.g. 7d, 12h)`);
  return `${Number(m[1])}${m[2]!.toLowerCase()}`;
}

/** The description the trigger (and so every backup it makes) carries. */
export function scheduleDescription(name: string, retention: Retention, text: string | undefined): string {
  if (text !== undefined && RESERVED.test(text)) {
    throw new ScheduleUsageError('--description must not contain schedule=, keep= or max_age= words: the workflow reads those for retention');
  }
  const parts = [`schedule=${name}`];
  if (retention.keep !== undefined) parts.push(`keep=${retention.keep}`);
  if (retention.maxAge !== undefined) parts.push(`max_age=${retention.maxAge}`);
  if (text !== undefined && text.trim() !== '') parts.push(text.trim().replace(/\s+/g, ' '));
  return parts.join(' ');
}

/** keep/max_age of a description this CLI wrote for schedule `name`, else nulls (troveclient's own). */
export function retentionOf(description: string | null, name: string): { keep: number | null; max_age: string | null } {
  const words = (description ?? '').split(' ');
  if (words[0] !== `schedule=${name}`) return { keep: null, max_age: null };
  const keep = words.find((w) => w.startsWith('keep='))?.slice(5);
  const maxAge = words.find((w) => w.startsWith('max_age='))?.slice(8);
  return { keep: keep !== undefined && /^[0-9]+$/.test(keep) ? Number(keep) : null, max_age: maxAge ?? null };
}

/** The cron trigger troveclient's `schedule_create` would make for the same request. */
export function triggerFor(request: CreateRequest, instanceId: string, newId: () => string = randomUUID): { name: string; workflow_name: string; workflow_input: string; pattern: string } {
  const name = checkScheduleName(request.name);
  const input: ScheduleInput = {
    instance: instanceId,
    name,
    description: scheduleDescription(name, request.retention, request.description),
    // troveclient passes None unless asked; True when asked.
    incremental: request.incremental ? true : null,
  };
  return { name: newId(), workflow_name: BACKUP_WORKFLOW, workflow_input: JSON.stringify(input), pattern: checkPattern(request.pattern) };
}

/** The trigger's input, or null when it is not a backup schedule's (another workflow, bad JSON). */
export function scheduleInput(trigger: CronTrigger): ScheduleInput | null {
  if (trigger.workflow_name !== BACKUP_WORKFLOW || trigger.workflow_input === null) return null;
  let input: unknown;
  try {
    input = JSON.parse(trigger.workflow_input);
  } catch {
    return null;
  }
  if (typeof input !== 'object' || input === null) return null;
  const i = input as Record<string, unknown>;
  if (typeof i['instance'] !== 'string' || typeof i['name'] !== 'string') return null;
  return {
    instance: i['instance'],
    name: i['name'],
    description: typeof i['description'] === 'string' ? i['description'] : null,
    incremental: typeof i['incremental'] === 'boolean' ? i['incremental'] : null,
  };
}

export function rowOf(trigger: CronTrigger, input: ScheduleInput): ScheduleRow {
  return {
    id: trigger.name,
    name: input.name,
    instance: input.instance,
    pattern: trigger.pattern,
    next_execution_time: trigger.next_execution_time,
    created_at: trigger.created_at,
    description: input.description,
    incremental: input.incremental,
    ...retentionOf(input.description, input.name),
  };
}

function executionRow(e: Execution): ExecutionRow {
  let output: Record<string, unknown> = {};
  try {
    const parsed: unknown = e.output ? JSON.parse(e.output) : {};
    if (typeof parsed === 'object' && parsed !== null) output = parsed as Record<string, unknown>;
  } catch {
    // an execution that failed early has no output
  }
  const text = (k: string): string | null => (typeof output[k] === 'string' ? (output[k] as string) : null);
  return {
    id: e.id, created_at: e.created_at, updated_at: e.updated_at ?? null, state: e.state, state_info: e.state_info,
    backup_id: text('backup_id'), backup_name: text('backup_name'),
  };
}

export async function scheduleCreate(clients: ScheduleClients, request: CreateRequest): Promise<ScheduleRow> {
  // Everything local is checked before the first request.
  checkScheduleName(request.name);
  checkPattern(request.pattern);
  scheduleDescription(request.name, request.retention, request.description);
  const instance = await clients.findInstance(request.instance);
  const body = triggerFor(request, instance.id);
  const trigger = await clients.mistral.createCronTrigger(body);
  const input = scheduleInput(trigger);
  if (input === null) throw new Error(`Mistral stored cron trigger ${trigger.name} without the backup input it was given`);
  return rowOf(trigger, input);
}

/** Backup schedules of the project (or of one instance), oldest first as Mistral lists them. */
export async function scheduleList(clients: ScheduleClients, instanceRef: string | undefined): Promise<ScheduleRow[]> {
  const instanceId = instanceRef === undefined ? undefined : (await clients.findInstance(instanceRef)).id;
  const rows: ScheduleRow[] = [];
  for (const trigger of await clients.mistral.listCronTriggers()) {
    const input = scheduleInput(trigger);
    if (input === null || (instanceId !== undefined && input.instance !== instanceId)) continue;
    rows.push(rowOf(trigger, input));
  }
  return rows;
}

async function getSchedule(clients: ScheduleClients, id: string): Promise<{ trigger: CronTrigger; input: ScheduleInput }> {
  const trigger = await clients.mistral.getCronTrigger(id);
  const input = trigger === null ? null : scheduleInput(trigger);
  if (trigger === null || input === null) throw new ScheduleNotFoundError(`no backup schedule ${id} in this project (see \`k2hdkc-dbaas backup schedule list\`)`);
  return { trigger, input };
}

export async function scheduleShow(clients: ScheduleClients, id: string): Promise<ScheduleRow> {
  const { trigger, input } = await getSchedule(clients, id);
  return rowOf(trigger, input);
}

/** Deletes the trigger: no further backups. The backups it made stay. */
export async function scheduleDelete(clients: ScheduleClients, id: string): Promise<void> {
  const { trigger } = await getSchedule(clients, id);
  if (!(await clients.mistral.deleteCronTrigger(trigger.name))) throw new ScheduleNotFoundError(`backup schedule ${id} was already deleted`);
}

/**
 * The schedule's runs, newest first: executions of trove.backup_create whose input equals the
 * trigger's (troveclient's execution_list rule), read in pages of 50 until `limit` are found.
 */
export async function scheduleExecutions(clients: ScheduleClients, id: string, limit: number): Promise<ExecutionRow[]> {
  const { trigger } = await getSchedule(clients, id);
  const wanted: unknown = JSON.parse(trigger.workflow_input ?? 'null');
  const rows: ExecutionRow[] = [];
  let marker: string | undefined;
  for (;;) {
    const page = await clients.mistral.listExecutions(BACKUP_WORKFLOW, 50, marker);
    for (const e of page) {
      let input: unknown;
      try {
        input = JSON.parse(e.input ?? 'null');
      } catch {
        continue;
      }
      if (isDeepStrictEqual(input, wanted)) rows.push(executionRow(e));
      if (rows.length >= limit) return rows;
    }
    if (page.length < 50) return rows;
    marker = page[page.length - 1]!.id;
  }
}
