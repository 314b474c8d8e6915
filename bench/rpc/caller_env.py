"""The Trove control-plane side the bench caller needs, and nothing more.

trove.guestagent.api.API(context, id) gets the instance key the way the
taskmanager does: trove.instance.models.get_instance_encryption_key(id)
reads instances.encrypted_key from Trove's database and unwraps it with
inst_rpc_key_encr_key. So instead of patching that lookup, the bench gives
Trove what it expects: a throw-away sqlite database (schema from Trove's own
migrations) holding one instances row per guest, with the guest's key
wrapped by Trove's own crypto_utils. Everything here configures Trove; it
patches nothing. (test/trove/trove_env.py does the same for the
conformance tests; bench/ keeps its own copy so a bench run never depends on
the test harness.)
"""

import datetime
import os
import sqlite3

# Wraps every instance key in instances.encrypted_key; bench-only value.
CONTROLLER_SECRET = 'bench-controller-secret-0123456789abcdef'


def write_conf(workdir, transport_url, control_exchange, low_timeout):
    """Writes <workdir>/trove.conf for the caller; returns its path."""
    db_path = os.path.join(workdir, 'trove.sqlite')
    conf_path = os.path.join(workdir, 'trove.conf')
    text = '\n'.join([
        '[DEFAULT]',
        'transport_url = %s' % transport_url,
        'control_exchange = %s' % control_exchange,
        'inst_rpc_key_encr_key = %s' % CONTROLLER_SECRET,
        # rpc_ping uses agent_call_low_timeout; a short one keeps a broken
        # guest from stalling the run for long.
        'agent_call_low_timeout = %d' % low_timeout,
        '[database]',
        'connection = sqlite:///%s' % db_path,
        '[oslo_messaging_notifications]',
        'driver = noop',
        '[upgrade_levels]',
        'guestagent = latest',
        '',
    ])
    tmp = conf_path + '.tmp'
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(text)
    os.replace(tmp, conf_path)
    return conf_path


def load_conf(conf_path, create_schema=False):
    """Loads trove.conf into Trove's CONF, connects the DB, inits RPC."""
    from trove.common import cfg
    conf = cfg.CONF
    conf(args=['--config-file', conf_path], project='trove')
    from trove.db import get_db_api
    db_api = get_db_api()
    if create_schema:
        # `trove-manage db_sync` crashes on Python 3.11 (inspect.getargspec);
        # the migration itself runs fine (spec/trove-rpc.md section 9).
        db_api.db_sync(conf)
    db_api.configure_db(conf)
    from trove import rpc
    rpc.init(conf)
    return conf


def db_path_of(conf):
    return conf.database.connection[len('sqlite:///'):]


def add_instance(conf, instance_id, key, tenant_id='bench'):
    """Inserts the instances row Trove reads the (wrapped) key from."""
    from trove.common import crypto_utils
    wrapped = crypto_utils.encode_data(
        crypto_utils.encrypt_data(key, CONTROLLER_SECRET))
    now = datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M:%S.%f')
    with sqlite3.connect(db_path_of(conf), timeout=10) as db:
        db.execute(
            'INSERT INTO instances (id, created, updated, name, task_id,'
            ' task_description, tenant_id, deleted, encrypted_key)'
            ' VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)',
            (instance_id, now, now, 'bench-' + instance_id[:8], 0x01,
             'No tasks for the instance.', tenant_id, wrapped))
