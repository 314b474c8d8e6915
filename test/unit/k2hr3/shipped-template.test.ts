import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkInvariants, parseIni, sectionValues, substituteSelf, type NodeRole } from '../../../src/k2hdkc/ini';
import { SHIPPED_TEMPLATE_RELATIVE, shippedTemplatePath } from '../../../src/k2hdkc/shipped-template';
import { hostsVariable, type HostEntry } from '../../doubles/k2hr3/render';
import { expandTemplate, loadTemplate } from '../../doubles/k2hr3/template';

// Acceptance 2 of issue 12: the DBaaS template the agent ships, expanded by the K2HR3 double's
// template interpreter the way K2HR3 expands it for a node (spec §1.5, §2), gives INIs that pass
// the agent's INI invariants, for 1, 3 and 4 servers, with and without a slave.

const TEMPLATE = readFileSync(shippedTemplatePath(), 'utf8');
const TENANT = 'demo';
const CLUSTER = 'c1';
const PARENT_KEYS = { 'cluster-name': CLUSTER, 'chmpx-server-port': '8020', 'chmpx-server-ctlport': '8021', 'chmpx-slave-ctlport': '8031' };

/** The template as the provisioner uploads it. */
function uploaded(tenant = TENANT, cluster = CLUSTER): string {
  return TEMPLATE.split('__TROVE_K2HDKC_TENANT_NAME__').join(tenant).split('__TROVE_K2HDKC_CLUSTER_NAME__').join(cluster);
}

/** A host as K2HR3 stores a registration with cuk/extra/tag only (inbound/outbound null). */
function host(ip: string, cuk: string, extra: Partial<HostEntry> = {}): HostEntry {
  return { host: ip, port: 0, cuk, extra: 'openstack-auto-v1', tag: `node-${cuk}`, inboundip: null, outboundip: null, ...extra };
}

/** What a node of `role` reads: parent keys merged with the child's chmpx-mode, role hosts resolved. */
function served(role: NodeRole, servers: HostEntry[], slaves: HostEntry[], template = uploaded()): string {
  const roleYrn = `yrn:yahoo:::${TENANT}:role:${CLUSTER}`;
  return expandTemplate(template, {
    ...PARENT_KEYS,
    'chmpx-mode': role === 'server' ? 'SERVER' : 'SLAVE',
    [`${roleYrn}/server/hosts/ip`]: hostsVariable(servers),
    [`${roleYrn}/slave/hosts/ip`]: hostsVariable(slaves),
  });
}

const SERVERS = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'].map((ip, i) => host(ip, `s${i + 1}`));
const SLAVE = host('10.0.1.1', 'v1');

describe('the shipped DBaaS template through the K2HR3 template interpreter', () => {
  it('ships with the agent: in the npm package (and so in the guest image) at the default path', () => {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { files: string[] };
    expect(pkg.files).toContain(SHIPPED_TEMPLATE_RELATIVE);
    expect(shippedTemplatePath()).toBe(join(__dirname, '..', '..', '..', SHIPPED_TEMPLATE_RELATIVE));
  });

  it('loads in the real engine\'s terms: no empty string literal, placeholders for tenant and cluster', () => {
    expect(() => loadTemplate(TEMPLATE)).not.toThrow();
    expect(TEMPLATE).not.toMatch(/''|""/);
    expect(TEMPLATE.startsWith('{{#!k2hr3template }}\n')).toBe(true);
    expect(TEMPLATE).toContain('%yrn:yahoo:::__TROVE_K2HDKC_TENANT_NAME__:role:__TROVE_K2HDKC_CLUSTER_NAME__/server/hosts/ip%');
  });

  for (const count of [1, 3, 4]) {
    for (const withSlave of [false, true]) {
      const servers = SERVERS.slice(0, count);
      const slaves = withSlave ? [SLAVE] : [];
      const roles: [NodeRole, HostEntry][] = [['server', servers[count - 1]!]];
      if (withSlave) roles.push(['slave', SLAVE]);
      for (const [role, self] of roles) {
        it(`${count} server(s), ${withSlave ? 'one slave' : 'no slave'}: the ${role}'s INI passes the invariants`, () => {
          const ini = parseIni(substituteSelf(served(role, servers, slaves), self.cuk!));
          expect(checkInvariants(ini, role)).toEqual([]);
          expect(ini.servers.map((n) => [n.name, n.cuk, n.customIdSeed])).toEqual(servers.map((h) => [h.tag, h.cuk, h.tag]));
          expect(ini.global?.values.MODE).toBe(role === 'server' ? 'SERVER' : 'SLAVE');
          expect(ini.global?.values.SELFCTLPORT).toBe(role === 'server' ? '8021' : '8031');
          expect(ini.k2hdkc === undefined).toBe(role === 'slave');
          // Every [SLVNODE] (the placeholder too) has CUSTOM_ID_SEED: CHMPXIDTYPE is CUSTOM.
          expect(ini.slaves.length).toBe(1);
          expect(ini.slaves.every((n) => n.customIdSeed)).toBe(true);
          expect(ini.slaves.map((n) => n.name)).toEqual([withSlave ? SLAVE.tag : '127.0.0.1']);
          // No host registered inbound/outbound addresses (null): no NAT lines.
          expect(served(role, servers, slaves)).not.toMatch(/ENDPOINTS|PEERS/);
        });
      }
    }
  }

  it('gives exactly the sections and values of spec §2 (Trove variant) for one server and no slave', () => {
    const ini = parseIni(substituteSelf(served('server', [SERVERS[0]!], []), 's1'));
    const sections = ini.sections.map((s) => [s.name, sectionValues(s)]);
    expect(sections).toEqual([
      [
        'GLOBAL',
        {
          FILEVERSION: '1', GROUP: CLUSTER, MODE: 'SERVER', CHMPXIDTYPE: 'CUSTOM', DELIVERMODE: 'hash', MAXCHMPX: '256', REPLICA: '1',
          MAXMQSERVER: '8', MAXMQCLIENT: '128', MQPERATTACH: '8', MAXQPERSERVERMQ: '8', MAXQPERCLIENTMQ: '8', MAXMQPERCLIENT: '16',
          MAXHISTLOG: '0', PORT: '8020', CTLPORT: '8021', SELFCTLPORT: '8021', SELFCUK: 's1', RWTIMEOUT: '10000', RETRYCNT: '500',
          CONTIMEOUT: '1000', MQRWTIMEOUT: '500', MQRETRYCNT: '10000', MQACK: 'no', AUTOMERGE: 'on', DOMERGE: 'on', MERGETIMEOUT: '0',
          SOCKTHREADCNT: '8', MQTHREADCNT: '8', MAXSOCKPOOL: '16', SOCKPOOLTIMEOUT: '0', SSL: 'no', K2HFULLMAP: 'on', K2HMASKBIT: '4',
          K2HCMASKBIT: '8', K2HMAXELE: '16',
        },
      ],
      ['SVRNODE', { NAME: 'node-s1', CUK: 's1', PORT: '8020', CTLPORT: '8021', CUSTOM_ID_SEED: 'node-s1', SSL: 'no' }],
      ['SLVNODE', { NAME: '127.0.0.1', CUK: 'dummy_cuk', CTLPORT: '8031', CUSTOM_ID_SEED: 'dummy_cuk' }],
      [
        'K2HDKC',
        {
          K2HTYPE: 'file', K2HFILE: '/var/lib/antpickax/k2hdkc/k2hdkc.k2h', K2HFULLMAP: 'on', K2HINIT: 'no', K2HMASKBIT: '8',
          K2HCMASKBIT: '8', K2HMAXELE: '32', K2HPAGESIZE: '512', MAXTHREAD: '20',
        },
      ],
    ]);
  });

  it('writes the NAT lines only for a host that registered inbound/outbound addresses', () => {
    const natted = host('10.0.0.7', 'n1', { inboundip: '192.0.2.7', outboundip: '198.51.100.7' });
    const text = served('server', [SERVERS[0]!, natted], []);
    const ini = parseIni(substituteSelf(text, 'n1'));
    expect(checkInvariants(ini, 'server')).toEqual([]);
    expect(ini.servers.map((n) => sectionValues(n.section))).toEqual([
      { NAME: 'node-s1', CUK: 's1', PORT: '8020', CTLPORT: '8021', CUSTOM_ID_SEED: 'node-s1', SSL: 'no' },
      {
        NAME: 'node-n1', CUK: 'n1', PORT: '8020', CTLPORT: '8021', CUSTOM_ID_SEED: 'node-n1', SSL: 'no',
        ENDPOINTS: '192.0.2.7:8020', CTLENDPOINTS: '192.0.2.7:8021', REVERSE_PEERS: '192.0.2.7', FORWARD_PEERS: '198.51.100.7',
      },
    ]);
  });

  it('lists servers in registration order, not sorted', () => {
    const order = [SERVERS[2]!, SERVERS[0]!, SERVERS[1]!];
    const ini = parseIni(substituteSelf(served('server', order, []), 's3'));
    expect(ini.servers.map((n) => n.cuk)).toEqual(['s3', 's1', 's2']);
  });

  it('finds no servers when the template names the cluster in other letter case than K2HR3 stores it', () => {
    // K2HR3 resolves %yrn:...% as written: upload the names lower-cased (the provisioner does).
    const ini = parseIni(substituteSelf(served('server', [SERVERS[0]!], [], uploaded(TENANT, 'C1')), 's1'));
    expect(ini.servers).toEqual([]);
    expect(checkInvariants(ini, 'server')).toContain('no [SVRNODE] section: chmpx needs at least one server');
  });
});
