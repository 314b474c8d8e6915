import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';

/** The workflow troveclient's schedule commands name (troveclient/v1/backups.py). */
export const BACKUP_WORKFLOW = 'trove.backup_create';

/** Its input, in troveclient's words: the trigger's `workflow_input` has exactly these keys. */
export const BACKUP_WORKFLOW_INPUT: readonly string[] = ['instance', 'name', 'description', 'incremental'];

/** Where Trove's API goes in the definition; replaced once at registration. */
const PLACEHOLDER = '@TROVE_API@';

/** datastore/mistral/trove.backup_create.yaml of this package (dist/src/mistral/ → repo root). */
export function defaultWorkflowFile(): string {
  return resolve(__dirname, '..', '..', '..', 'datastore', 'mistral', `${BACKUP_WORKFLOW}.yaml`);
}

export class WorkflowDefinitionError extends Error {}

/**
 * Trove's API base without the project, which the workflow adds from the trigger's trust
 * (`.../v1.0`). Accepts what an operator or a catalog has: a bare `.../v1.0`, a template
 * (`.../v1.0/%(tenant_id)s`, `$(project_id)s`), or a URL already holding the project id.
 */
export function troveApiBase(url: string, projectId?: string): string {
  const text = url.trim();
  if (!/^https?:\/\/[A-Za-z0-9.\-:[\]]+(\/[A-Za-z0-9._~\-/%$()]*)?$/.test(text)) {
    throw new WorkflowDefinitionError(`Trove URL ${JSON.stringify(url)} is not an http(s) URL of Trove's API (e.g. http://controller:8779/v1.0)`);
  }
  let base = text.replace(/\/+$/, '');
  base = base.replace(/\/[%$]\((tenant_id|project_id)\)s$/, '');
  if (projectId !== undefined && base.endsWith(`/${projectId}`)) base = base.slice(0, -projectId.length - 1);
  if (!/\/v1\.0$/.test(base)) {
    throw new WorkflowDefinitionError(`Trove URL ${JSON.stringify(url)} must end in /v1.0 (optionally followed by the project): that is where Trove 18's API lives`);
  }
  return base;
}

/** The definition with Trove's API filled in; throws when the file is not ours to fill. */
export function renderWorkflow(text: string, troveApi: string, file: string): string {
  const count = text.split(PLACEHOLDER).length - 1;
  if (count !== 1) {
    throw new WorkflowDefinitionError(`${file} must contain ${PLACEHOLDER} exactly once (found ${count}): it is where Trove's endpoint goes`);
  }
  if (!new RegExp(`^${BACKUP_WORKFLOW.replace('.', '\\.')}:\\s*$`, 'm').test(text)) {
    throw new WorkflowDefinitionError(`${file} does not define the workflow ${BACKUP_WORKFLOW} at its top level`);
  }
  return text.replace(PLACEHOLDER, troveApi);
}

export async function readWorkflowFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new WorkflowDefinitionError(`cannot read the workflow file ${file} (${(error as Error).message}): give --workflow PATH`);
  }
}

/**
 * Mistral's rendering of an input list (`instance, name, description=null, incremental=null`) →
 * the parameter names, so the registered workflow can be checked against troveclient's keys.
 */
export function inputNames(input: string): string[] {
  return input.split(',').map((p) => p.trim()).filter((p) => p !== '').map((p) => p.split('=')[0]!.trim());
}
