import { parseArgs } from 'node:util';
import { authFromEnv, openSession, OpenstackAuthError } from '../keystone/session';
import { MistralClient, MistralError, type MistralWorkflow } from './client';
import {
  BACKUP_WORKFLOW, BACKUP_WORKFLOW_INPUT, defaultWorkflowFile, inputNames, readWorkflowFile, renderWorkflow, troveApiBase,
  WorkflowDefinitionError,
} from './workflow-definition';

/**
 * `k2hdkc-trove-mistral-register`: creates or updates `trove.backup_create` in Mistral, public,
 * so the cron triggers of every project find it. Idempotent: a second run updates the one
 * workflow in place. Run once by the operator (admin openrc: publishing needs
 * `workflows:publicize`), again after an upgrade of this package.
 */

const USAGE = `usage: k2hdkc-trove-mistral-register [--mistral-url URL] [--trove-url URL] [--workflow FILE] [--no-auth]

Creates or updates the workflow ${BACKUP_WORKFLOW} in Mistral (public), which
troveclient's schedule commands and \`k2hdkc-dbaas backup schedule\` run.

  --mistral-url URL  Mistral's v2 API (default: the catalog's workflowv2 endpoint)
  --trove-url URL    Trove's API, e.g. http://controller:8779/v1.0 (default: the
                     catalog's database endpoint)
  --workflow FILE    the definition (default: the one shipped in datastore/mistral/)
  --no-auth          Mistral runs without Keystone ([pecan] auth_enable = false);
                     needs --mistral-url and --trove-url, and no OS_* variables

Credentials come from the OS_* variables of an openrc file (OS_AUTH_URL, OS_USERNAME,
OS_PASSWORD, OS_PROJECT_NAME, OS_USER_DOMAIN_NAME, OS_PROJECT_DOMAIN_NAME, or
OS_APPLICATION_CREDENTIAL_ID/SECRET; OS_REGION_NAME, OS_INTERFACE).`;

export interface RegisterOptions {
  readonly mistralUrl: string | undefined;
  readonly troveUrl: string | undefined;
  readonly workflowFile: string;
  readonly auth: boolean;
}

export class UsageError extends Error {}

export function parseRegisterArgs(argv: readonly string[]): RegisterOptions | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        'mistral-url': { type: 'string' },
        'trove-url': { type: 'string' },
        workflow: { type: 'string' },
        'no-auth': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const v = parsed.values;
  if (v.help) return 'help';
  const auth = v['no-auth'] !== true;
  if (!auth && (v['mistral-url'] === undefined || v['trove-url'] === undefined)) {
    throw new UsageError('--no-auth needs --mistral-url and --trove-url: without Keystone there is no catalog to find them in');
  }
  for (const key of ['mistral-url', 'trove-url'] as const) {
    const value = v[key];
    if (value !== undefined && !/^https?:\/\/\S+$/.test(value)) throw new UsageError(`--${key} ${JSON.stringify(value)} is not an http(s) URL`);
  }
  return { mistralUrl: v['mistral-url'], troveUrl: v['trove-url'], workflowFile: v.workflow ?? defaultWorkflowFile(), auth };
}

export interface RegisterResult {
  readonly action: 'created' | 'updated';
  readonly workflow: MistralWorkflow;
  readonly mistralUrl: string;
  readonly troveApi: string;
}

/** Reads, fills in and stores the workflow; every failure says what to fix. */
export async function registerWorkflow(options: RegisterOptions, env: Readonly<Record<string, string | undefined>>): Promise<RegisterResult> {
  const text = await readWorkflowFile(options.workflowFile);
  let token: string | undefined;
  let mistralUrl = options.mistralUrl;
  let troveUrl = options.troveUrl;
  let projectId: string | undefined;
  if (options.auth) {
    const session = await openSession(authFromEnv(env));
    token = session.token;
    projectId = session.project.id;
    mistralUrl ??= session.findEndpoint('workflowv2') ?? undefined;
    troveUrl ??= session.findEndpoint('database') ?? undefined;
    if (mistralUrl === undefined) throw new UsageError('the Keystone catalog has no workflowv2 (Mistral) endpoint for this interface and region: register Mistral\'s endpoint or give --mistral-url');
    if (troveUrl === undefined) throw new UsageError('the Keystone catalog has no database (Trove) endpoint for this interface and region: give --trove-url');
  }
  const troveApi = troveApiBase(troveUrl!, projectId);
  const definition = renderWorkflow(text, troveApi, options.workflowFile);
  const mistral = new MistralClient(mistralUrl!, token);

  const existing = await mistral.getWorkflow(BACKUP_WORKFLOW);
  let action: 'created' | 'updated' = existing === null ? 'created' : 'updated';
  let stored: MistralWorkflow[];
  try {
    stored = await mistral.putWorkflows(definition, action === 'created' ? 'create' : 'update', 'public');
  } catch (error) {
    // Another registration created it between our GET and POST: update instead.
    if (error instanceof MistralError && error.status === 409 && action === 'created') {
      action = 'updated';
      stored = await mistral.putWorkflows(definition, 'update', 'public');
    } else if (error instanceof MistralError && error.status === 400) {
      throw new WorkflowDefinitionError(`${error.message}: fix the workflow definition in ${options.workflowFile}`);
    } else {
      throw error;
    }
  }
  const problem = checkStored(stored, options.workflowFile);
  if (problem !== undefined) {
    // Put Mistral back as it was, so a bad file never replaces a working workflow.
    if (existing === null) await mistral.deleteWorkflow(BACKUP_WORKFLOW).catch(() => false);
    else if (existing.definition !== undefined) await mistral.putWorkflows(existing.definition, 'update', existing.scope === 'public' ? 'public' : 'private').catch(() => []);
    throw new WorkflowDefinitionError(`${problem}${existing === null ? '' : ' (the workflow Mistral had is kept)'}`);
  }
  const workflow = stored.find((w) => w.name === BACKUP_WORKFLOW)!;
  return { action, workflow, mistralUrl: mistralUrl!, troveApi };
}

/** Why the stored workflows are not what troveclient's triggers need, or undefined when they are. */
function checkStored(stored: readonly MistralWorkflow[], file: string): string | undefined {
  const workflow = stored.find((w) => w.name === BACKUP_WORKFLOW);
  if (workflow === undefined) return `${file} defines ${stored.map((w) => w.name).join(', ') || 'nothing'} but not ${BACKUP_WORKFLOW}: fix the file`;
  const extra = stored.filter((w) => w.name !== BACKUP_WORKFLOW).map((w) => w.name);
  if (extra.length > 0) return `${file} defines other workflows too (${extra.join(', ')}): it must define only ${BACKUP_WORKFLOW}`;
  if (inputNames(workflow.input).join(',') !== BACKUP_WORKFLOW_INPUT.join(',')) {
    return `${BACKUP_WORKFLOW} in ${file} takes (${workflow.input}), but troveclient's triggers pass exactly ${BACKUP_WORKFLOW_INPUT.join(', ')}: fix its input`;
  }
  if (workflow.scope !== 'public') return `Mistral kept ${BACKUP_WORKFLOW} ${workflow.scope}: other projects' triggers would not find it`;
  return undefined;
}

/** The command: 0 done, 1 failed (message on stderr), 2 usage. */
export async function main(argv: readonly string[], env = process.env, out = process.stdout, err = process.stderr): Promise<number> {
  let options;
  try {
    options = parseRegisterArgs(argv);
  } catch (error) {
    err.write(`k2hdkc-trove-mistral-register: ${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (options === 'help') {
    out.write(`${USAGE}\n`);
    return 0;
  }
  try {
    const result = await registerWorkflow(options, env);
    out.write(`${BACKUP_WORKFLOW} ${result.action} in Mistral at ${result.mistralUrl} (id ${result.workflow.id}, ${result.workflow.scope}; Trove API ${result.troveApi})\n`);
    return 0;
  } catch (error) {
    if (error instanceof UsageError || error instanceof MistralError || error instanceof WorkflowDefinitionError || error instanceof OpenstackAuthError) {
      err.write(`k2hdkc-trove-mistral-register: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}
