import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load';
import { ConfigError } from '../../../src/errors';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'k2h-config-'));
}

function write(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const GUEST_INFO = `[DEFAULT]
guest_id = 6a1f7c3e-2b4d-4e8a-9c0f-1d2e3f4a5b6c
datastore_manager = k2hdkc
datastore_version = 1.0.14
tenant_id = tenant-1234
instance_rpc_encr_key = k2hdkcTESTkey0123456789abcdefghi
`;

const GUESTAGENT = `[DEFAULT]
transport_url = rabbit://trove:s%40cret@10.0.0.1:5672,other:pw@10.0.0.2:5673/trove%2Fvhost
control_exchange = trove
report_interval = 10

[oslo_messaging_rabbit]
amqp_durable_queues = True
rabbit_ha_queues = yes
rabbit_transient_queues_ttl = 600

[service_credentials]
password = not-ours
`;

describe('loadConfig', () => {
  it('reads the two files Trove injects from a --config-dir, with oslo defaults filled in', () => {
    const dir = tempDir();
    write(dir, 'guest_info.conf', GUEST_INFO);
    write(dir, 'trove-guestagent.conf', GUESTAGENT);
    write(dir, 'ignored.txt', 'not a conf file [');
    const config = loadConfig({ configFiles: [], configDirs: [dir] });

    expect(config.sources).toEqual([join(dir, 'guest_info.conf'), join(dir, 'trove-guestagent.conf')]);
    expect(config.guest).toEqual({
      guestId: '6a1f7c3e-2b4d-4e8a-9c0f-1d2e3f4a5b6c',
      datastoreManager: 'k2hdkc',
      datastoreVersion: '1.0.14',
      tenantId: 'tenant-1234',
      instanceRpcEncrKey: 'k2hdkcTESTkey0123456789abcdefghi',
    });
    expect(config.messaging.transportUrl).toEqual({
      scheme: 'rabbit',
      vhost: 'trove/vhost',
      hosts: [
        { host: '10.0.0.1', port: 5672, username: 'trove', password: 's@cret' },
        { host: '10.0.0.2', port: 5673, username: 'other', password: 'pw' },
      ],
    });
    expect(config.messaging.controlExchange).toBe('trove');
    expect(config.messaging.conductorQueue).toBe('trove-conductor');
    expect(config.reportIntervalMs).toBe(10_000);
    expect(config.messaging.rabbit).toMatchObject({
      amqpDurableQueues: true,
      amqpAutoDelete: false,
      rabbitHaQueues: true,
      rabbitQuorumQueue: false,
      rabbitTransientQueuesTtl: 600,
      ssl: false,
      sslCaFile: null,
    });
    expect(Object.isFrozen(config.messaging.rabbit)).toBe(true);
  });

  it('defaults control_exchange to openstack and report_interval to 30 like Trove', () => {
    const dir = tempDir();
    const file = write(dir, 'a.conf', `${GUEST_INFO}transport_url = rabbit://guest:guest@127.0.0.1/\n`);
    const config = loadConfig({ configFiles: [file], configDirs: [] });
    expect(config.messaging.controlExchange).toBe('openstack');
    expect(config.reportIntervalMs).toBe(30_000);
    expect(config.messaging.transportUrl.vhost).toBe('/');
    expect(config.agent.stateDir).toBe('/opt/trove-guestagent');
  });

  it('lets later files override earlier ones: --config-file in order, then the directory sorted', () => {
    const dir = tempDir();
    const confd = join(dir, 'conf.d');
    mkdirSync(confd);
    const first = write(dir, 'first.conf', `${GUEST_INFO}transport_url = rabbit://a:a@h1/\nreport_interval = 5\n`);
    const second = write(dir, 'second.conf', '[DEFAULT]\nreport_interval = 6\n');
    write(confd, '20-late.conf', '[DEFAULT]\nreport_interval = 8\n');
    write(confd, '10-early.conf', '[DEFAULT]\nreport_interval = 7\ncontrol_exchange = early\n');
    const config = loadConfig({ configFiles: [first, second], configDirs: [confd] });
    expect(config.reportIntervalMs).toBe(8_000);
    expect(config.messaging.controlExchange).toBe('early');
    expect(config.sources.map((s) => s.split('/').pop())).toEqual(['first.conf', 'second.conf', '10-early.conf', '20-late.conf']);
  });

  it('treats an empty instance_rpc_encr_key as secure RPC off', () => {
    const dir = tempDir();
    const file = write(dir, 'a.conf', `${GUEST_INFO.replace(/instance_rpc_encr_key = .*/, 'instance_rpc_encr_key =')}transport_url = rabbit://h/\n`);
    expect(loadConfig({ configFiles: [file], configDirs: [] }).guest.instanceRpcEncrKey).toBeNull();
  });

  it('keeps every [k2hdkc] key for the datastore manager and types the agent ones', () => {
    const dir = tempDir();
    const file = write(
      dir,
      'a.conf',
      `${GUEST_INFO}transport_url = rabbit://h/\ndebug = true\n[k2hdkc]\nhttp_port = 0\nk2hr3_api_url = http://k2hr3:18080\n`,
    );
    const config = loadConfig({ configFiles: [file], configDirs: [] });
    expect(config.agent.httpPort).toBe(0);
    expect(config.agent.logLevel).toBe('debug');
    expect(config.k2hdkcRaw).toEqual({ http_port: '0', k2hr3_api_url: 'http://k2hr3:18080' });
  });

  it('types the K2HDKC manager options with their defaults, durations in ms', () => {
    const dir = tempDir();
    const plain = loadConfig({ configFiles: [write(dir, 'a.conf', `${GUEST_INFO}transport_url = rabbit://h/\n`)], configDirs: [] });
    expect(plain.k2hdkc).toMatchObject({
      datastore: 'k2hdkc', mode: 'server', iniPath: '/etc/antpickax/k2hdkc.ini', processManager: 'systemd',
      manageVolume: true, extdataUrl: null, k2hr3ApiUrl: null, prepareTimeoutMs: 300_000,
    });
    // Issue 12: the shipped DBaaS template is the default, so k2hr3_api_url alone is enough.
    expect(plain.k2hdkc.iniTemplatePath).toBe(join(__dirname, '..', '..', '..', 'datastore', 'k2hdkc-dbaas-template.txt'));
    expect(plain.agent.logFile).toBeNull();
    const file = write(dir, 'b.conf', `${GUEST_INFO}transport_url = rabbit://h/\n[k2hdkc]\nmode = slave\nmanage_volume = false\n` +
      'process_manager = supervisor\nprepare_timeout_seconds = 30\nlocal_address = 127.0.0.9\n');
    expect(loadConfig({ configFiles: [file], configDirs: [] }).k2hdkc).toMatchObject({
      mode: 'slave', manageVolume: false, processManager: 'supervisor', prepareTimeoutMs: 30_000, localAddress: '127.0.0.9',
    });
    const bad = write(dir, 'c.conf', `${GUEST_INFO}transport_url = rabbit://h/\n[k2hdkc]\nmode = master\n`);
    expect(() => loadConfig({ configFiles: [bad], configDirs: [] })).toThrow(/\[k2hdkc\] mode/);
  });

  it('names file, section and key when a value is invalid', () => {
    const dir = tempDir();
    const file = write(dir, 'bad.conf', `${GUEST_INFO}transport_url = rabbit://h/\n[oslo_messaging_rabbit]\nssl = maybe\n`);
    expect(() => loadConfig({ configFiles: [file], configDirs: [] })).toThrow(
      new ConfigError(`invalid value for [oslo_messaging_rabbit] ssl (${file}:9): expected true or false, got 'maybe'`),
    );
  });

  it('reports schema violations with the place the value came from', () => {
    const dir = tempDir();
    const file = write(dir, 'bad.conf', `${GUEST_INFO}transport_url = rabbit://h/\nreport_interval = 0\n`);
    expect(() => loadConfig({ configFiles: [file], configDirs: [] })).toThrow(
      /invalid value for \[DEFAULT\] report_interval \(.*bad\.conf:8\): must be >= 1/,
    );
  });

  it('refuses a missing guest_id and names the files it read', () => {
    const dir = tempDir();
    const file = write(dir, 'a.conf', '[DEFAULT]\ntransport_url = rabbit://h/\n');
    expect(() => loadConfig({ configFiles: [file], configDirs: [] })).toThrow(
      `missing required option [DEFAULT] guest_id (none of ${file})`,
    );
  });

  it('never echoes the password of a broken transport_url', () => {
    const dir = tempDir();
    const file = write(dir, 'a.conf', `${GUEST_INFO}transport_url = kafka://u:topsecret@h/\n`);
    let message = '';
    try {
      loadConfig({ configFiles: [file], configDirs: [] });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/\[DEFAULT\] transport_url .*unsupported transport 'kafka'/);
    expect(message).not.toContain('topsecret');
  });

  it('fails clearly on unreadable input', () => {
    expect(() => loadConfig({ configFiles: ['/nonexistent/k2h.conf'], configDirs: [] })).toThrow(
      /cannot read config file \/nonexistent\/k2h\.conf/,
    );
    const dir = tempDir();
    const file = write(dir, 'a.conf', 'orphan = 1\n');
    expect(() => loadConfig({ configFiles: [file], configDirs: [] })).toThrow(/a\.conf:1: key 'orphan' appears before any \[section\]/);
  });
});
