import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import Ajv from 'ajv';

/**
 * The few Mistral v2 REST calls the workflow registration and the schedule commands make
 * (mistral/api/controllers/v2: workflow.py, cron_trigger.py, execution.py). Workflow definitions
 * travel as text/plain YAML; `workflow_input` and `input` are JSON strings in both directions
 * (Mistral's `jsontype`), which is also what troveclient parses.
 */

export class MistralError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = 'MistralError';
  }
}

export interface MistralWorkflow {
  id: string;
  name: string;
  /** `instance, name, description="None", incremental="None"` (a null default shows as "None") */
  input: string;
  scope: string;
  definition?: string;
  project_id?: string;
}

export interface CronTrigger {
  id: string;
  name: string;
  workflow_name: string;
  /** JSON text of the workflow input. */
  workflow_input: string | null;
  pattern: string;
  scope?: string;
  project_id?: string;
  next_execution_time: string | null;
  remaining_executions?: number | null;
  first_execution_time?: string | null;
  created_at: string;
  updated_at?: string | null;
}

export interface Execution {
  id: string;
  workflow_name: string;
  /** JSON text of the input. */
  input: string | null;
  output?: string | null;
  state: string;
  state_info: string | null;
  created_at: string;
  updated_at?: string | null;
}

const ajv = new Ajv({ allErrors: false });
const str = { type: 'string' } as const;
const strOrNull = { type: 'string', nullable: true } as const;
const validateWorkflow = ajv.compile<MistralWorkflow>({
  type: 'object', required: ['id', 'name', 'input', 'scope'],
  properties: { id: str, name: str, input: str, scope: str, definition: str, project_id: str },
});
const validateWorkflows = ajv.compile<{ workflows: MistralWorkflow[] }>({
  type: 'object', required: ['workflows'],
  properties: { workflows: { type: 'array', items: { type: 'object', required: ['id', 'name', 'input', 'scope'], properties: { id: str, name: str, input: str, scope: str } } } },
});
const triggerSchema = {
  type: 'object', required: ['id', 'name', 'workflow_name', 'pattern', 'created_at'],
  properties: { id: str, name: str, workflow_name: str, workflow_input: strOrNull, pattern: str, next_execution_time: strOrNull, created_at: str },
} as const;
const validateTrigger = ajv.compile<CronTrigger>(triggerSchema);
const validateTriggers = ajv.compile<{ cron_triggers: CronTrigger[] }>({ type: 'object', required: ['cron_triggers'], properties: { cron_triggers: { type: 'array', items: triggerSchema } } });
const validateExecutions = ajv.compile<{ executions: Execution[] }>({
  type: 'object', required: ['executions'],
  properties: {
    executions: {
      type: 'array',
      items: { type: 'object', required: ['id', 'workflow_name', 'state', 'created_at'], properties: { id: str, workflow_name: str, input: strOrNull, state: str, state_info: strOrNull, created_at: str } },
    },
  },
});

/** Mistral puts its reason in `faultstring` (wsme); fall back to the status line. */
function reason(res: AxiosResponse): string {
  const data = res.data as unknown;
  if (typeof data === 'object' && data !== null && typeof (data as { faultstring?: unknown }).faultstring === 'string') {
    return (data as { faultstring: string }).faultstring;
  }
  if (typeof data === 'string' && data.trim() !== '') return data.trim().slice(0, 500);
  return `HTTP ${res.status}`;
}

export class MistralClient {
  private readonly http: AxiosInstance;

  /** `baseUrl` is the catalog's workflowv2 endpoint (`http://h:8989/v2`); no token when Mistral runs without auth. */
  constructor(readonly baseUrl: string, token: string | undefined, timeoutMs = 30_000) {
    this.http = axios.create({
      baseURL: baseUrl.replace(/\/+$/, ''),
      timeout: timeoutMs,
      validateStatus: () => true,
      headers: token === undefined ? { Accept: 'application/json' } : { Accept: 'application/json', 'X-Auth-Token': token },
    });
  }

  private async call(what: string, send: () => Promise<AxiosResponse>): Promise<AxiosResponse> {
    try {
      return await send();
    } catch (error) {
      throw new MistralError(`Mistral at ${this.baseUrl} cannot be reached to ${what} (${(error as Error).message}): check that mistral-api runs and the URL (catalog type workflowv2, or --mistral-url)`);
    }
  }

  private fail(what: string, res: AxiosResponse): never {
    const hint = res.status === 401 ? ': the token was refused (check the credentials and Mistral\'s [keystone_authtoken])'
      : res.status === 403 ? ': not allowed by Mistral\'s policy' : '';
    throw new MistralError(`Mistral refused to ${what} (HTTP ${res.status}: ${reason(res)})${hint}`, res.status);
  }

  private bad(what: string): never {
    throw new MistralError(`Mistral answered ${what} with an unexpected body: is ${this.baseUrl} Mistral's v2 API?`);
  }

  /** The workflow, or null when Mistral has none by that name visible to us. */
  async getWorkflow(name: string): Promise<MistralWorkflow | null> {
    const what = `show workflow ${name}`;
    const res = await this.call(what, () => this.http.get(`/workflows/${encodeURIComponent(name)}`));
    if (res.status === 404) return null;
    if (res.status !== 200) this.fail(what, res);
    if (!validateWorkflow(res.data)) this.bad(what);
    return res.data;
  }

  /** POST (create) or PUT (update) a definition; Mistral validates it and answers 400 when it is malformed. */
  async putWorkflows(definition: string, mode: 'create' | 'update', scope: 'public' | 'private'): Promise<MistralWorkflow[]> {
    const what = `${mode} workflows`;
    // Mistral exposes these as text/plain handlers: an Accept of application/json gets 406.
    const config = { params: { scope }, headers: { 'Content-Type': 'text/plain', Accept: '*/*' }, transformRequest: [(d: unknown) => d] };
    const res = await this.call(what, () => (mode === 'create' ? this.http.post('/workflows', definition, config) : this.http.put('/workflows', definition, config)));
    if (res.status !== 200 && res.status !== 201) this.fail(what, res);
    if (!validateWorkflows(res.data)) this.bad(what);
    return res.data.workflows;
  }

  /** Deletes a workflow (registration's rollback); false when it was already gone. */
  async deleteWorkflow(name: string): Promise<boolean> {
    const what = `delete workflow ${name}`;
    const res = await this.call(what, () => this.http.delete(`/workflows/${encodeURIComponent(name)}`));
    if (res.status === 404) return false;
    if (res.status !== 204 && res.status !== 200) this.fail(what, res);
    return true;
  }

  async createCronTrigger(body: { name: string; workflow_name: string; workflow_input: string; pattern: string }): Promise<CronTrigger> {
    const what = `create cron trigger ${body.name}`;
    const res = await this.call(what, () => this.http.post('/cron_triggers', body));
    if (res.status !== 201 && res.status !== 200) this.fail(what, res);
    if (!validateTrigger(res.data)) this.bad(what);
    return res.data;
  }

  async listCronTriggers(): Promise<CronTrigger[]> {
    const what = 'list cron triggers';
    const res = await this.call(what, () => this.http.get('/cron_triggers'));
    if (res.status !== 200) this.fail(what, res);
    if (!validateTriggers(res.data)) this.bad(what);
    return res.data.cron_triggers;
  }

  /** The trigger by name or id, or null. */
  async getCronTrigger(identifier: string): Promise<CronTrigger | null> {
    const what = `show cron trigger ${identifier}`;
    const res = await this.call(what, () => this.http.get(`/cron_triggers/${encodeURIComponent(identifier)}`));
    if (res.status === 404) return null;
    if (res.status !== 200) this.fail(what, res);
    if (!validateTrigger(res.data)) this.bad(what);
    return res.data;
  }

  /** Deletes; false when it was already gone. */
  async deleteCronTrigger(identifier: string): Promise<boolean> {
    const what = `delete cron trigger ${identifier}`;
    const res = await this.call(what, () => this.http.delete(`/cron_triggers/${encodeURIComponent(identifier)}`));
    if (res.status === 404) return false;
    if (res.status !== 204 && res.status !== 200) this.fail(what, res);
    return true;
  }

  /** Executions of a workflow, newest first, one page of `limit` after `marker`. */
  async listExecutions(workflowName: string, limit: number, marker?: string): Promise<Execution[]> {
    const what = `list executions of ${workflowName}`;
    // include_output: Mistral leaves the output out of lists otherwise (it holds the backup id).
    const params: Record<string, string | number | boolean> = { workflow_name: workflowName, sort_keys: 'created_at', sort_dirs: 'desc', limit, include_output: true };
    if (marker !== undefined) params['marker'] = marker;
    const res = await this.call(what, () => this.http.get('/executions', { params }));
    if (res.status !== 200) this.fail(what, res);
    if (!validateExecutions(res.data)) this.bad(what);
    return res.data.executions;
  }
}
