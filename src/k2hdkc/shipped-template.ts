import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The DBaaS cluster template the agent ships (datastore/k2hdkc-dbaas-template.txt, in the npm
 * package and so in the guest image at /opt/k2hdkc-trove/datastore/). It is the default of
 * [k2hdkc] ini_template_path, so a guest configured with only k2hr3_api_url can self-provision.
 * dist/src/k2hdkc/ and src/k2hdkc/ are three and two levels below the package root.
 */
export const SHIPPED_TEMPLATE_RELATIVE = join('datastore', 'k2hdkc-dbaas-template.txt');

export function shippedTemplatePath(): string {
  const candidates = [join(__dirname, '..', '..', '..', SHIPPED_TEMPLATE_RELATIVE), join(__dirname, '..', '..', SHIPPED_TEMPLATE_RELATIVE)];
  return candidates.find((c) => existsSync(c)) ?? (candidates[0] as string);
}
