/**
 * What the K2HR3 server returns for a DBaaS cluster resource: the `<cluster>` template expanded
 * for `<cluster>/server` or `<cluster>/slave` (spec §2 "DBaaS template content", Trove variant).
 * The double does not interpret the K2HR3 template language: any resource string that starts
 * with the `{{#!k2hr3template }}` header is expanded as the DBaaS template would be, from the
 * merged resource keys and the hosts registered in the two roles.
 */

/** A registered role member as the template sees it (`%…/hosts/ip%` values, spec §1.3.2). */
export interface HostEntry {
  host: string;
  port: number;
  cuk: string;
  extra: string;
  tag: string;
  inboundip: string;
  outboundip: string;
}

export const TEMPLATE_HEADER = '{{#!k2hr3template }}';

const GLOBAL_COMMON: readonly [string, string][] = [
  ['CHMPXIDTYPE', 'CUSTOM'],
  ['DELIVERMODE', 'hash'],
  ['MAXCHMPX', '256'],
  ['REPLICA', '1'],
  ['MAXMQSERVER', '8'],
  ['MAXMQCLIENT', '128'],
  ['MQPERATTACH', '8'],
  ['MAXQPERSERVERMQ', '8'],
  ['MAXQPERCLIENTMQ', '8'],
  ['MAXMQPERCLIENT', '16'],
  ['MAXHISTLOG', '0'],
];
const GLOBAL_TAIL: readonly [string, string][] = [
  ['SELFCUK', '__SELF_INSTANCE_ID__'],
  ['RWTIMEOUT', '10000'],
  ['RETRYCNT', '500'],
  ['CONTIMEOUT', '1000'],
  ['MQRWTIMEOUT', '500'],
  ['MQRETRYCNT', '10000'],
  ['MQACK', 'no'],
  ['AUTOMERGE', 'on'],
  ['DOMERGE', 'on'],
  ['MERGETIMEOUT', '0'],
  ['SOCKTHREADCNT', '8'],
  ['MQTHREADCNT', '8'],
  ['MAXSOCKPOOL', '16'],
  ['SOCKPOOLTIMEOUT', '0'],
  ['SSL', 'no'],
  ['K2HFULLMAP', 'on'],
  ['K2HMASKBIT', '4'],
  ['K2HCMASKBIT', '8'],
  ['K2HMAXELE', '16'],
];
const K2HDKC: readonly [string, string][] = [
  ['K2HTYPE', 'file'],
  ['K2HFILE', '/var/lib/antpickax/k2hdkc/k2hdkc.k2h'],
  ['K2HFULLMAP', 'on'],
  ['K2HINIT', 'no'],
  ['K2HMASKBIT', '8'],
  ['K2HCMASKBIT', '8'],
  ['K2HMAXELE', '32'],
  ['K2HPAGESIZE', '512'],
  ['MAXTHREAD', '20'],
];

function kv(pairs: readonly [string, string][]): string[] {
  return pairs.map(([k, v]) => `${k} = ${v}`);
}

function nodeLines(h: HostEntry, port: string | undefined, ctlport: string): string[] {
  const name = h.tag !== '' ? h.tag : h.host;
  const lines = [`NAME = ${name}`, `CUK = ${h.cuk}`];
  if (port !== undefined) lines.push(`PORT = ${port}`);
  lines.push(`CTLPORT = ${ctlport}`, `CUSTOM_ID_SEED = ${name}`, 'SSL = no');
  if (h.inboundip !== '') {
    if (port !== undefined) lines.push(`ENDPOINTS = ${h.inboundip}:${port}`);
    lines.push(`CTLENDPOINTS = ${h.inboundip}:${ctlport}`, `REVERSE_PEERS = ${h.inboundip}`);
  }
  if (h.outboundip !== '') lines.push(`FORWARD_PEERS = ${h.outboundip}`);
  return lines;
}

/** Expands the DBaaS template from the merged keys (parent first) and the two roles' hosts. */
export function renderDbaasIni(keys: Readonly<Record<string, string>>, servers: readonly HostEntry[], slaves: readonly HostEntry[]): string {
  const serverMode = (keys['chmpx-mode'] ?? '').toUpperCase() === 'SERVER';
  const port = keys['chmpx-server-port'] ?? '8020';
  const ctlport = keys['chmpx-server-ctlport'] ?? '8021';
  const slaveCtlport = keys['chmpx-slave-ctlport'] ?? '8031';
  const out: string[] = ['#', '# K2HDKC DBaaS cluster configuration, expanded by K2HR3', '#', '[GLOBAL]', 'FILEVERSION = 1'];
  out.push(`GROUP = ${keys['cluster-name'] ?? ''}`, `MODE = ${serverMode ? 'SERVER' : 'SLAVE'}`, ...kv(GLOBAL_COMMON));
  if (serverMode) out.push(`PORT = ${port}`, `CTLPORT = ${ctlport}`, `SELFCTLPORT = ${ctlport}`);
  else out.push(`CTLPORT = ${slaveCtlport}`, `SELFCTLPORT = ${slaveCtlport}`);
  out.push(...kv(GLOBAL_TAIL), '');
  for (const h of servers) out.push('[SVRNODE]', ...nodeLines(h, port, ctlport), '');
  if (slaves.length === 0) {
    // The template writes a dummy slave: chmpx will not start without one (spec §2).
    out.push('[SLVNODE]', 'NAME = 127.0.0.1', 'CUK = dummy_cuk', `CTLPORT = ${slaveCtlport}`, '');
  }
  for (const h of slaves) out.push('[SLVNODE]', ...nodeLines(h, undefined, slaveCtlport), '');
  if (serverMode) out.push('[K2HDKC]', ...kv(K2HDKC), '');
  return out.join('\n');
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
