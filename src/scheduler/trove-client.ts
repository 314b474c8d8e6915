import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import { SchedulerError } from '../errors';
import type { KeystoneAuth } from './keystone';
import { validateBackupBody, validateBackupList, type TroveBackup } from './trove-schemas';

/** What a backup create request carries (trove/common/apischema.py `backup.create`). */
export interface CreateBackupRequest {
  readonly name: string;
  readonly instanceId: string;
  readonly description: string;
  readonly swiftContainer?: string | undefined;
}

/** More pages than this means something loops (a marker that never advances). */
const MAX_PAGES = 1000;

/**
 * Trove's backup API (trove/common/api.py `_backups_router`), with the scheduler's token:
 * GET/POST /backups, GET/DELETE /backups/{id}. A 401 means the token died early (revoked, or
 * Keystone restarted with new fernet keys): we re-authenticate once and repeat the request.
 */
export class TroveBackupClient {
  private readonly http: AxiosInstance;

  constructor(
    private readonly auth: KeystoneAuth,
    timeoutMs: number,
  ) {
    this.http = axios.create({ timeout: timeoutMs, validateStatus: () => true });
  }

  /** Every backup of the instance, following Trove's offset markers page by page. */
  async listForInstance(instanceId: string): Promise<TroveBackup[]> {
    const all: TroveBackup[] = [];
    let marker: string | undefined;
    for (let page = 0; page < MAX_PAGES; page += 1) {
      const params: Record<string, string> = { instance_id: instanceId };
      if (marker !== undefined) params['marker'] = marker;
      const res = await this.send('GET', '/backups', { params });
      this.expect(res, [200], 'list backups');
      if (!validateBackupList(res.data)) throw this.badResponse('list backups');
      all.push(...res.data.backups);
      // The next link is built from the URL Trove saw (maybe a proxy's); we keep only its marker.
      const next = res.data.links?.find((l) => l.rel === 'next');
      marker = next ? (new URL(next.href, 'http://x').searchParams.get('marker') ?? undefined) : undefined;
      if (marker === undefined) return all;
    }
    throw new SchedulerError('bad_response', `Trove kept returning next links after ${MAX_PAGES} pages of backups`);
  }

  /** POST /backups; Trove answers 202 with the new backup (status NEW). */
  async create(req: CreateBackupRequest): Promise<TroveBackup> {
    const backup: Record<string, string> = { name: req.name, instance: req.instanceId, description: req.description };
    if (req.swiftContainer) backup['swift_container'] = req.swiftContainer;
    const res = await this.send('POST', '/backups', { data: { backup } });
    this.expect(res, [202, 200], `create backup ${req.name}`);
    if (!validateBackupBody(res.data)) throw this.badResponse('create backup');
    return res.data.backup;
  }

  /** GET /backups/{id}; undefined when Trove no longer knows it (404). */
  async get(id: string): Promise<TroveBackup | undefined> {
    const res = await this.send('GET', `/backups/${encodeURIComponent(id)}`, {});
    if (res.status === 404) return undefined;
    this.expect(res, [200], `show backup ${id}`);
    if (!validateBackupBody(res.data)) throw this.badResponse('show backup');
    return res.data.backup;
  }

  /** DELETE /backups/{id} (202); a backup already gone (404) counts as deleted. */
  async delete(id: string): Promise<void> {
    const res = await this.send('DELETE', `/backups/${encodeURIComponent(id)}`, {});
    if (res.status === 404) return;
    this.expect(res, [202, 204, 200], `delete backup ${id}`);
  }

  private async send(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    options: { params?: Record<string, string>; data?: unknown },
  ): Promise<AxiosResponse> {
    for (let attempt = 0; ; attempt += 1) {
      const session = await this.auth.get();
      let res: AxiosResponse;
      try {
        res = await this.http.request({
          method,
          url: `${session.troveUrl}${path}`,
          params: options.params,
          data: options.data,
          headers: { 'X-Auth-Token': session.token, Accept: 'application/json' },
        });
      } catch (error) {
        throw new SchedulerError('unavailable', `Trove API ${method} ${path} failed: ${(error as Error).message}`, { cause: error });
      }
      if (res.status !== 401 || attempt > 0) return res;
      this.auth.invalidate(session.token);
    }
  }

  private expect(res: AxiosResponse, ok: number[], what: string): void {
    if (ok.includes(res.status)) return;
    const kind = res.status === 401 || res.status === 403 ? 'auth' : res.status >= 500 ? 'unavailable' : 'http';
    throw new SchedulerError(kind, `Trove refused to ${what} (${res.status}): ${faultMessage(res.data)}`, { status: res.status });
  }

  private badResponse(what: string): SchedulerError {
    return new SchedulerError('bad_response', `Trove answered ${what} with an unexpected body`);
  }
}

/** Trove faults look like `{"badRequest": {"code": 400, "message": "..."}}` (trove/common/wsgi.py Fault). */
function faultMessage(body: unknown): string {
  if (body && typeof body === 'object') {
    for (const value of Object.values(body as Record<string, unknown>)) {
      const message = value && typeof value === 'object' ? (value as Record<string, unknown>)['message'] : undefined;
      if (typeof message === 'string') return message;
    }
  }
  return typeof body === 'string' && body.length > 0 ? body.slice(0, 200) : 'no message';
}
