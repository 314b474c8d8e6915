#!/usr/bin/python3
"""Long-lived Trove harness for the TypeScript conformance tests.

Protocol: one JSON object per line on stdin, {"id": n, "op": "...", ...};
one JSON object per line on stdout, {"id": n, "ok": true, "value": ...} or
{"id": n, "ok": false, "error": "..."}. Ops run one at a time, in order.
Trove's own logging goes to stderr and to the conductor's log_file.

Ops: init, add_instance, start_conductor, stop_conductor, invoke,
call_method, status, conductor_log, add_backup, backup,
faults, last_seen, quit. One process serves a whole test file, so Trove is
imported and the schema created once (both take seconds).
"""

import os

# Trove's services (the taskmanager that calls guests included) run monkey-patched
# (trove/cmd/__init__.py). Without it API.prepare's _create_guest_queue, which
# starts and stops an oslo RPC server with the eventlet executor, can hang in
# the hub on its second use; so the harness runs the way Trove does.
import eventlet  # noqa: E402
eventlet.monkey_patch(all=True)

import json  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import conductor as conductor_mod  # noqa: E402
import guest_client  # noqa: E402
import trove_env  # noqa: E402


class Harness(object):

    def __init__(self):
        self.conf = None
        self.env = None
        self.settings = None
        self.conductor = None

    def op_init(self, workdir, transport_url, control_exchange,
                conductor_queue):
        if self.conf is not None:
            raise RuntimeError('init may run once per harness process')
        self.env = trove_env.write_conf(workdir, transport_url,
                                        control_exchange, conductor_queue)
        self.settings = {'transport_url': transport_url,
                         'conductor_queue': conductor_queue}
        self.conf = trove_env.load_conf(self.env['conf_path'])
        return self.env

    def op_add_instance(self, instance_id, key, tenant_id):
        return trove_env.add_instance(self.env['db_path'], instance_id, key,
                                      tenant_id)

    def op_start_conductor(self):
        if self.conductor is None:
            self.conductor = conductor_mod.Conductor(
                self.env['conf_path'], self.settings['transport_url'],
                self.settings['conductor_queue'])
        return self.conductor.start()

    def op_stop_conductor(self):
        if self.conductor is not None:
            self.conductor.stop()
        return None

    def op_invoke(self, instance_id, tenant_id, method, kwargs=None,
                  cap='latest', notification=False, low_timeout=None,
                  auth_token=None, service_catalog=None):
        return guest_client.invoke(self.conf, instance_id, tenant_id, method,
                                   kwargs or {}, cap, notification,
                                   low_timeout, auth_token, service_catalog)

    def op_call_method(self, instance_id, tenant_id, method, version='1.0',
                       kwargs=None, cap='latest', timeout=10):
        return guest_client.call_method(self.conf, instance_id, tenant_id,
                                        method, version, kwargs or {}, cap,
                                        timeout)

    def op_add_backup(self, instance_id, tenant_id, name='conformance'):
        return trove_env.add_backup(instance_id, tenant_id, name)

    def op_backup(self, backup_id):
        return trove_env.backup(backup_id)

    def op_status(self, instance_id):
        return trove_env.status(self.env['db_path'], instance_id)

    def op_faults(self, instance_id):
        return trove_env.faults(self.env['db_path'], instance_id)

    def op_conductor_log(self, contains):
        return trove_env.log_lines(self.env['log_path'], contains)

    def op_last_seen(self, instance_id):
        return trove_env.last_seen(self.env['db_path'], instance_id)


def _write(obj):
    sys.stdout.write(json.dumps(obj, default=str) + '\n')
    sys.stdout.flush()


def _lines(fd=0):
    """stdin lines via os.read, which the monkey patch makes cooperative, so
    oslo's green threads (heartbeats, reply waiter) run while we wait."""
    buf = b''
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            if buf:
                yield buf.decode('utf-8')
            return
        buf += chunk
        while b'\n' in buf:
            line, buf = buf.split(b'\n', 1)
            yield line.decode('utf-8')


def main():
    harness = Harness()
    try:
        for line in _lines():
            if not line.strip():
                continue
            request = json.loads(line)
            req_id = request.pop('id')
            op = request.pop('op')
            if op == 'quit':
                _write({'id': req_id, 'ok': True, 'value': None})
                break
            handler = getattr(harness, 'op_' + op, None)
            if handler is None:
                _write({'id': req_id, 'ok': False,
                        'error': 'unknown op %r' % op})
                continue
            try:
                _write({'id': req_id, 'ok': True, 'value': handler(**request)})
            except Exception as exc:
                traceback.print_exc(file=sys.stderr)
                _write({'id': req_id, 'ok': False,
                        'error': '%s: %s' % (type(exc).__name__, exc)})
    finally:
        if harness.conductor is not None:
            harness.conductor.stop()
        # oslo's transport keeps non-daemon threads; do not wait for them.
        sys.stdout.flush()
        os._exit(0)


if __name__ == '__main__':
    main()
