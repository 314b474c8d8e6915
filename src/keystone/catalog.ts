/**
 * Picks one endpoint from a Keystone service catalog as Trove's guest does
 * (trove/common/clients.py get_endpoint): the service type, the endpoint type and the region.
 * The catalog of a request context is the v2 form keystonemiddleware puts in X-Service-Catalog
 * (`publicURL` keys, `region`), whatever the token version; a v3 catalog (`interface`, `url`,
 * `region_id`) is accepted too, so one rule serves the request context and a token body.
 */
export interface CatalogSelection {
  readonly serviceType: string;
  /** `publicURL`, `internalURL` or `adminURL` (v3's `public`, ... are derived by dropping `URL`). */
  readonly endpointType: string;
  /** An endpoint without a region matches any. */
  readonly region: string;
}

type Entry = Readonly<Record<string, unknown>>;

/** The first matching endpoint's URL, or null when the catalog has none (or is not a list). */
export function catalogEndpoint(catalog: unknown, selection: CatalogSelection): string | null {
  if (!Array.isArray(catalog)) return null;
  const iface = selection.endpointType.replace(/URL$/, '');
  for (const service of catalog as Entry[]) {
    if (service?.['type'] !== selection.serviceType || !Array.isArray(service['endpoints'])) continue;
    for (const ep of service['endpoints'] as Entry[]) {
      const region = ep?.['region'] ?? ep?.['region_id'];
      if (region !== undefined && region !== null && region !== selection.region) continue;
      const v2 = ep[selection.endpointType];
      if (typeof v2 === 'string' && v2 !== '') return v2;
      if (ep['interface'] === iface && typeof ep['url'] === 'string' && ep['url'] !== '') return ep['url'];
    }
  }
  return null;
}
