import axios, { type AxiosInstance } from 'axios';
import { SchedulerError } from '../errors';
import type { KeystoneConfig } from './config';
import { keystoneV3Url, validateTokenBody, type TokenBody } from '../keystone/v3';

/** A scoped token and the Trove URL (`.../v1.0/<project>`) it was issued for. */
export interface Session {
  readonly token: string;
  readonly expiresAtMs: number;
  readonly troveUrl: string;
}

/** Renew this long before Keystone's expiry, so a request never leaves with a dying token. */
const REFRESH_MARGIN_MS = 5 * 60_000;

/**
 * Keystone v3 application-credential auth (POST /v3/auth/tokens, method `application_credential`).
 * An application credential is scoped to its project, so the token is too, and its catalog holds
 * Trove's `database` endpoint. The secret goes only into the request body, never a log line.
 */
export class KeystoneAuth {
  private session: Session | undefined;
  private pending: Promise<Session> | undefined;
  private readonly http: AxiosInstance;

  constructor(
    private readonly config: KeystoneConfig,
    private readonly now: () => number = Date.now,
  ) {
    this.http = axios.create({ timeout: config.requestTimeoutMs, validateStatus: () => true });
  }

  /** A session valid for at least the refresh margin; concurrent callers share one request. */
  async get(): Promise<Session> {
    if (this.session && this.session.expiresAtMs - this.now() > REFRESH_MARGIN_MS) return this.session;
    this.pending ??= this.authenticate().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /** Drops the token after a 401, so the next get() re-authenticates. */
  invalidate(token: string): void {
    if (this.session?.token === token) this.session = undefined;
  }

  private async authenticate(): Promise<Session> {
    const url = `${keystoneV3Url(this.config.authUrl)}/auth/tokens`;
    const body = {
      auth: {
        identity: {
          methods: ['application_credential'],
          application_credential: { id: this.config.applicationCredentialId, secret: this.config.applicationCredentialSecret },
        },
      },
    };
    let res;
    try {
      res = await this.http.post(url, body, { headers: { 'Content-Type': 'application/json' } });
    } catch (error) {
      throw new SchedulerError('unavailable', `Keystone at ${url} cannot be reached: ${(error as Error).message}`, { cause: error });
    }
    if (res.status === 401) {
      throw new SchedulerError('auth', `Keystone at ${url} refused application credential ${this.config.applicationCredentialId} (401): check its id, secret and expiry`, { status: 401 });
    }
    if (res.status !== 201 && res.status !== 200) {
      throw new SchedulerError(res.status >= 500 ? 'unavailable' : 'auth', `Keystone at ${url} answered ${res.status} to the token request`, { status: res.status });
    }
    const token = res.headers['x-subject-token'];
    if (typeof token !== 'string' || token === '' || !validateTokenBody(res.data)) {
      throw new SchedulerError('bad_response', `Keystone at ${url} answered without a token or with an unexpected body`);
    }
    const expiresAtMs = Date.parse(res.data.token.expires_at);
    this.session = { token, expiresAtMs: Number.isNaN(expiresAtMs) ? this.now() : expiresAtMs, troveUrl: this.troveUrl(res.data) };
    return this.session;
  }

  /** endpoint_override, else the catalog's `database` endpoint for the interface and region. */
  private troveUrl(body: TokenBody): string {
    const project = body.token.project?.id;
    const pick = (url: string): string => {
      const trimmed = url.replace(/\/+$/, '');
      // Keystone substitutes %(tenant_id)s in the catalog; a bare .../v1.0 still needs the project.
      return /\/v1\.0$/.test(trimmed) && project ? `${trimmed}/${project}` : trimmed;
    };
    if (this.config.endpointOverride) return pick(this.config.endpointOverride);
    const region = this.config.regionName;
    for (const service of body.token.catalog ?? []) {
      if (service.type !== 'database') continue;
      const endpoint = service.endpoints.find(
        (e) => e.interface === this.config.interface && (region === undefined || e.region_id === region || e.region === region),
      );
      if (endpoint) return pick(endpoint.url);
    }
    throw new SchedulerError(
      'endpoint',
      `no 'database' (Trove) endpoint with interface ${this.config.interface}${region ? ` in region ${region}` : ''} in the Keystone catalog; set [keystone] endpoint_override or fix the catalog`,
    );
  }
}
