import { BackupError } from '../errors';
import { catalogEndpoint } from '../keystone/catalog';

/** How Trove's guest finds the user's Swift account (trove/common/clients.py swift_client). */
export interface SwiftEndpointConfig {
  /** `[DEFAULT] swift_url`, ending in `AUTH_`; the project id is appended. */
  readonly swiftUrl: string | null;
  readonly serviceType: string;
  /** `publicURL`, `internalURL` or `adminURL` (v2 names; v3 catalogs use `public`, ...). */
  readonly endpointType: string;
  readonly region: string;
}

/**
 * The storage URL for this request: `swift_url + project_id` when configured, else the one
 * endpoint of `serviceType` in `region` from the token's service catalog (v2 or v3 form).
 */
export function swiftStorageUrl(config: SwiftEndpointConfig, context: Readonly<Record<string, unknown>>): string {
  if (config.swiftUrl !== null && config.swiftUrl !== '') {
    const project = context['project_id'] ?? context['tenant'];
    if (typeof project !== 'string' || project === '') {
      throw new BackupError('SWIFT', 'the request carries no project id, needed with [DEFAULT] swift_url');
    }
    return `${config.swiftUrl}${project}`;
  }
  const catalog = context['service_catalog'];
  if (!Array.isArray(catalog) || catalog.length === 0) {
    throw new BackupError('SWIFT', 'no Swift endpoint: [DEFAULT] swift_url is not set and the request carries no service catalog');
  }
  const url = catalogEndpoint(catalog, { serviceType: config.serviceType, endpointType: config.endpointType, region: config.region });
  if (url !== null) return url;
  throw new BackupError('SWIFT', `no ${config.serviceType} ${config.endpointType} endpoint in region ${config.region} in the service catalog`);
}
