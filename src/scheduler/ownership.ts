/**
 * How the scheduler names its backups and recognises them later. Retention deletes backups, so a
 * backup counts as ours only when BOTH its description is this schedule's marker AND its name
 * starts with the schedule's fixed prefix: a user who copies one of the two still keeps their
 * backup. Trove stores name and description verbatim and returns them in every list.
 */

export const DEFAULT_NAME_TEMPLATE = 'sched-{schedule}-{timestamp}';
const PLACEHOLDER = /\{(schedule|instance_id|timestamp)\}/g;

/** A compiled `name_template`: the fixed prefix (everything before `{timestamp}`) and a renderer. */
export interface NameTemplate {
  readonly template: string;
  readonly prefix: string;
  render(at: Date): string;
}

/** The description Trove keeps on every backup this schedule made. */
export function ownerMarker(schedule: string): string {
  return `k2hdkc-trove-scheduler schedule=${schedule}`;
}

/** `20261127T020000Z`: sorts as it reads, and Trove names allow it. */
export function formatTimestamp(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

/**
 * Checks and compiles a template; throws Error (the caller adds file and key) when
 * `{timestamp}` is missing (two runs would clash), an unknown `{x}` appears, or nothing fixed
 * precedes `{timestamp}` (we could not tell our backups apart).
 */
export function compileNameTemplate(template: string | undefined, schedule: string, instanceId: string): NameTemplate {
  const text = template === undefined || template === '' ? DEFAULT_NAME_TEMPLATE : template;
  const unknown = text.replace(PLACEHOLDER, '').match(/\{[^}]*\}/);
  if (unknown) throw new Error(`has an unknown placeholder ${unknown[0]} (known: {schedule}, {instance_id}, {timestamp})`);
  const cut = text.indexOf('{timestamp}');
  if (cut < 0) throw new Error('must contain {timestamp}, so that every run gets a new name');
  const fill = (part: string, stamp: string): string =>
    part.replace(PLACEHOLDER, (_m, p: string) => (p === 'schedule' ? schedule : p === 'instance_id' ? instanceId : stamp));
  const prefix = fill(text.slice(0, cut), '');
  if (prefix.length === 0) throw new Error('must start with fixed text before {timestamp}, to recognise our backups');
  return Object.freeze({ template: text, prefix, render: (at: Date) => fill(text, formatTimestamp(at)) });
}

/** True when a backup (as Trove lists it) was made by this schedule. */
export function isOwned(backup: { name: string | null; description: string | null }, schedule: string, prefix: string): boolean {
  return backup.description === ownerMarker(schedule) && typeof backup.name === 'string' && backup.name.startsWith(prefix);
}
