import axios, { type AxiosInstance } from 'axios';
import { SchedulerError, type SchedulerErrorKind } from '../errors';
import type { KeystoneConfig } from './config';
import { openSession, OpenstackAuthError, type KeystoneSession, type OpenstackAuth } from '../keystone/session';

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
    const auth: OpenstackAuth = {
      authUrl: this.config.authUrl,
      identity: { kind: 'application_credential', credential: { id: this.config.applicationCredentialId }, secret: this.config.applicationCredentialSecret },
      regionName: this.config.regionName,
      interface: this.config.interface,
    };
    let session: KeystoneSession;
    try {
      session = await openSession(auth, { http: this.http, timeoutMs: this.config.requestTimeoutMs });
    } catch (error) {
      if (!(error instanceof OpenstackAuthError)) throw error;
      // The message is the whole story (a cause would only repeat it in the log line).
      throw new SchedulerError(schedulerKind(error), error.message, error.status === undefined ? {} : { status: error.status });
    }
    const expiresAtMs = Date.parse(session.expiresAt);
    this.session = { token: session.token, expiresAtMs: Number.isNaN(expiresAtMs) ? this.now() : expiresAtMs, troveUrl: this.troveUrl(session) };
    return this.session;
  }

  /** endpoint_override, else the catalog's `database` endpoint for the interface and region. */
  private troveUrl(session: KeystoneSession): string {
    // Keystone substitutes %(tenant_id)s in the catalog; a bare .../v1.0 still needs the project.
    const withProject = (url: string): string => (/\/v1\.0$/.test(url) ? `${url}/${session.project.id}` : url);
    if (this.config.endpointOverride) return withProject(this.config.endpointOverride.replace(/\/+$/, ''));
    const found = session.findEndpoint('database');
    if (found !== null) return withProject(found);
    const region = this.config.regionName;
    throw new SchedulerError(
      'endpoint',
      `no 'database' (Trove) endpoint with interface ${this.config.interface}${region ? ` in region ${region}` : ''} in the Keystone catalog; set [keystone] endpoint_override or fix the catalog`,
    );
  }
}

/** Keystone down or failing is worth retrying; a refused credential or a strange answer is not. */
function schedulerKind(error: OpenstackAuthError): SchedulerErrorKind {
  switch (error.reason) {
    case 'unreachable':
      return 'unavailable';
    case 'answered':
      return (error.status ?? 0) >= 500 ? 'unavailable' : 'auth';
    case 'bad_response':
    case 'unscoped':
      return 'bad_response';
    default:
      return 'auth';
  }
}
