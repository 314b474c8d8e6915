/*
 * Configuration files for a private, one-replica Swift (Debian's swift 2.30 packages):
 * tempauth (tokens in a private memcached), storage in a temp directory, one process per server
 * (`workers = 0`) so a test can stop and restart one of them.
 */

export interface SwiftPorts {
  proxy: number;
  account: number;
  container: number;
  object: number;
  memcached: number;
}

export const TEST_ACCOUNT = 'test';
export const TEST_USER = 'tester';
export const TEST_KEY = 'testing';

export function swiftConf(): string {
  return `[swift-hash]
swift_hash_path_suffix = k2hdkc-trove-test
swift_hash_path_prefix = k2hdkc-trove-test

[storage-policy:0]
name = Policy-0
default = yes
`;
}

function common(dir: string, port: number, name: string): string {
  // Logs go to a file-less handler: /dev/log may be absent in containers; console logs are noise.
  return `[DEFAULT]
bind_ip = 127.0.0.1
bind_port = ${port}
workers = 0
devices = ${dir}/srv
mount_check = false
swift_dir = ${dir}
log_name = ${name}
log_level = WARNING
log_address = ${dir}/no-syslog
`;
}

export function accountServerConf(dir: string, ports: SwiftPorts): string {
  return `${common(dir, ports.account, 'account')}
[pipeline:main]
pipeline = account-server

[app:account-server]
use = egg:swift#account
`;
}

export function containerServerConf(dir: string, ports: SwiftPorts): string {
  return `${common(dir, ports.container, 'container')}
[pipeline:main]
pipeline = container-server

[app:container-server]
use = egg:swift#container
`;
}

export function objectServerConf(dir: string, ports: SwiftPorts): string {
  return `${common(dir, ports.object, 'object')}
[pipeline:main]
pipeline = object-server

[app:object-server]
use = egg:swift#object
`;
}

/** Keystone in place of tempauth: Swift's own service user validates the users' tokens. */
export interface SwiftKeystoneAuth {
  /** Keystone's base URL (`http://127.0.0.1:P`, no `/v3`). */
  readonly baseUrl: string;
  readonly username: string;
  readonly password: string;
}

/*
 * With Keystone, keystonemiddleware's authtoken validates the token and swift's keystoneauth
 * lets a project's admin/member roles operate that project's account `AUTH_<project id>`, as a
 * real cloud's proxy does.
 */
function keystoneFilters(k: SwiftKeystoneAuth): string {
  return `
[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
www_authenticate_uri = ${k.baseUrl}
auth_url = ${k.baseUrl}
auth_type = password
project_domain_id = default
user_domain_id = default
project_name = service
username = ${k.username}
password = ${k.password}
delay_auth_decision = True
cache = swift.cache
include_service_catalog = False

[filter:keystoneauth]
use = egg:swift#keystoneauth
operator_roles = admin, member
reseller_prefix = AUTH_
`;
}

export function proxyServerConf(dir: string, ports: SwiftPorts, keystone?: SwiftKeystoneAuth): string {
  const auth = keystone === undefined ? 'tempauth' : 'authtoken keystoneauth';
  return `${common(dir, ports.proxy, 'proxy')}
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats ${auth} copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true
# Tests stop and restart servers on purpose; the proxy must not shun them afterwards.
error_suppression_limit = 100000

[filter:tempauth]
use = egg:swift#tempauth
user_${TEST_ACCOUNT}_${TEST_USER} = ${TEST_KEY} .admin
${keystone === undefined ? '' : keystoneFilters(keystone)}
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:${ports.memcached}

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo

[filter:dlo]
use = egg:swift#dlo
`;
}
