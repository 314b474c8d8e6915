import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expandTemplate, type Value } from './template';

/**
 * What the K2HR3 server returns for a DBaaS cluster resource. Reads run the resource string
 * through the double's K2HR3 template interpreter (./template), as the real server does
 * (spec §2); `renderDbaasIni` is the shortcut tests use to get the INI a node would be served:
 * the project's shipped template (datastore/k2hdkc-dbaas-template.txt) expanded with the given
 * keys and hosts.
 */

/**
 * A registered role member as the template sees it (`%…/hosts/ip%` values, spec §1.3.2, §10):
 * fields a host did not send are null, as K2HR3 stores them.
 */
export interface HostEntry {
  host: string;
  port: number;
  cuk: string | null;
  extra: string | null;
  tag: string | null;
  inboundip: string | null;
  outboundip: string | null;
}

export const TEMPLATE_HEADER = '{{#!k2hr3template }}';

/** The shipped DBaaS template, as installed with the agent. */
export const SHIPPED_TEMPLATE_PATH = join(__dirname, '..', '..', '..', 'datastore', 'k2hdkc-dbaas-template.txt');

/** The `%…/hosts/ip%` value of a role: an object keyed `"<ip>,<port>,<cuk>"`, registration order. */
export function hostsVariable(hosts: readonly HostEntry[]): { [key: string]: Value } {
  const out: { [key: string]: Value } = {};
  for (const h of hosts) out[`${h.host},${h.port},${h.cuk ?? ''}`] = { ...h };
  return out;
}

/** The shipped template with the tenant and cluster written in, as the provisioner uploads it. */
export function shippedTemplateFor(tenant: string, cluster: string): string {
  return readFileSync(SHIPPED_TEMPLATE_PATH, 'utf8')
    .split('__TROVE_K2HDKC_TENANT_NAME__').join(tenant)
    .split('__TROVE_K2HDKC_CLUSTER_NAME__').join(cluster);
}

/**
 * The INI a node of `keys['chmpx-mode']` is served: the shipped template expanded by the
 * interpreter with the merged keys (parent first) and the two roles' hosts.
 */
export function renderDbaasIni(keys: Readonly<Record<string, string>>, servers: readonly HostEntry[], slaves: readonly HostEntry[]): string {
  const tenant = 'tenant';
  const cluster = keys['cluster-name'] ?? 'cluster';
  const role = `yrn:yahoo:::${tenant}:role:${cluster}`;
  return expandTemplate(shippedTemplateFor(tenant, cluster), {
    ...keys,
    [`${role}/server/hosts/ip`]: hostsVariable(servers),
    [`${role}/slave/hosts/ip`]: hostsVariable(slaves),
  });
}

/**
 * The extdata script: a `/bin/sh` script shaped like the stock k2hr3-init.sh, with the five
 * values the server substitutes (spec §1.3.5) on lines of their own.
 */
export function renderExtdataScript(v: { token: string; role: string; tenant: string; apiUri: string; error: string }): string {
  return [
    '#!/bin/sh',
    '#',
    '# K2HR3 registration script (served by the K2HR3 API double)',
    '#',
    'K2HR3_ETC_DIR="/etc/antpickax"',
    'K2HR3_ROLE_TOKEN_FILE="${K2HR3_ETC_DIR}/k2hr3-role-token"',
    'K2HR3_ROLE_NAME_FILE="${K2HR3_ETC_DIR}/k2hr3-role-name"',
    '',
    `K2HR3_ROLE_TOKEN="${v.token}"`,
    `K2HR3_ROLE_NAME="${v.role}"`,
    'K2HR3_RESOURCE_NAME=$(echo "${K2HR3_ROLE_NAME}" | sed -e \'s/:role:/:resource:/gi\')',
    `K2HR3_ROLE_TENANT="${v.tenant}"`,
    `K2HR3_API_HOST_URI="${v.apiUri}"`,
    `K2HR3_ERROR_MSG="${v.error}"`,
    '',
    'register_host() {',
    '\tcurl -s -S -X PUT -H "x-auth-token: R=${K2HR3_ROLE_TOKEN}" "${K2HR3_API_HOST_URI}/v1/role/${K2HR3_ROLE_NAME}?cuk=$1&extra=openstack-auto-v1&tag=$2"',
    '}',
    'LOAD_K2HR3_ROLE_TOKEN=$(cat "${K2HR3_ROLE_TOKEN_FILE}" 2>/dev/null)',
    'exit 0',
    '',
  ].join('\n');
}
