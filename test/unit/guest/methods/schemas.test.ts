import Ajv from 'ajv';
import { describe, expect, it } from 'vitest';
import { GUEST_SCHEMAS } from '../../../../src/guest/methods/schemas';
import { capture } from '../../conductor/recording-caster';

const ajv = new Ajv({ strict: true, allErrors: false });
const validate = Object.fromEntries(Object.entries(GUEST_SCHEMAS).map(([name, schema]) => [name, ajv.compile(schema)]));

function ok(method: keyof typeof GUEST_SCHEMAS, args: unknown): boolean {
  const fn = validate[method];
  if (fn === undefined) throw new Error(method);
  return fn(args);
}

describe('guest method schemas', () => {
  it('compile in ajv strict mode', () => {
    expect(Object.keys(validate).sort()).toEqual(['apply_overrides', 'cluster_complete', 'get_filesystem_stats', 'guest_log_action', 'guest_log_list', 'mount_volume', 'post_upgrade', 'pre_upgrade', 'prepare', 'rebuild', 'reset_configuration', 'resize_fs', 'restart', 'rpc_ping', 'start_db_with_conf_changes', 'stop_db', 'unmount_volume', 'update_overrides', 'upgrade']);
  });

  it('accept the real prepare kwargs, the 1.0-capped form without ds_version, and no kwargs at all', () => {
    const args = capture('cast prepare v1.1 -> guestagent (encrypted)').args_decrypted ?? {};
    expect(ok('prepare', args)).toBe(true);
    const { ds_version: _dropped, ...capped } = args;
    expect(ok('prepare', capped)).toBe(true);
    expect(ok('prepare', {})).toBe(true);
    expect(ok('prepare', { backup_info: { id: 'b1', instance_id: 'i', location: 'http://swift/x', type: 'k2h', checksum: 'c', extra: 1 } })).toBe(true);
    expect(ok('prepare', { cluster_config: { id: 'c1', instance_type: 'member', future_key: [1] } })).toBe(true);
  });

  it('refuse unknown kwargs, relative paths, wrong types and hostile sizes', () => {
    expect(ok('prepare', { surprise: 1 })).toBe(false);
    expect(ok('prepare', { mount_point: 'var/lib/k2hdkc' })).toBe(false);
    expect(ok('prepare', { memory_mb: '2048' })).toBe(false);
    expect(ok('prepare', { config_contents: 'x'.repeat(10 * 1024 * 1024) })).toBe(false);
    expect(ok('prepare', { root_password: 'p'.repeat(10_000) })).toBe(false);
    expect(ok('prepare', { packages: Array.from({ length: 10_000 }, () => 'pkg') })).toBe(false);
    expect(ok('prepare', { overrides: { maxthread: { nested: true } } })).toBe(false);
    expect(ok('prepare', { overrides: { big: 'v'.repeat(1024 * 1024) } })).toBe(false);
    expect(ok('prepare', { backup_info: { location: 'l'.repeat(4096) } })).toBe(false);
  });

  it('get_filesystem_stats takes the null fs_path Trove sends, or an absolute path', () => {
    expect(ok('get_filesystem_stats', capture('call get_filesystem_stats v1.0 -> guestagent (encrypted)').args_decrypted)).toBe(true);
    expect(ok('get_filesystem_stats', {})).toBe(true);
    expect(ok('get_filesystem_stats', { fs_path: '/var/lib/k2hdkc' })).toBe(true);
    expect(ok('get_filesystem_stats', { fs_path: '../etc' })).toBe(false);
    expect(ok('get_filesystem_stats', { fs_path: `/${'a'.repeat(5000)}` })).toBe(false);
  });

  it('rpc_ping and guest_log_list take no kwargs', () => {
    expect(ok('rpc_ping', {})).toBe(true);
    expect(ok('rpc_ping', { x: 1 })).toBe(false);
    expect(ok('guest_log_list', {})).toBe(true);
  });
});
