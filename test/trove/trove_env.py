"""A throw-away Trove control-plane environment for conformance tests.

Writes one trove.conf (spec/trove-rpc.md section 9), loads it into Trove's
global CONF, creates the sqlite schema and inserts the rows the conductor and
the guest client read. Everything here configures Trove; nothing patches it.
"""

import datetime
import os
import sqlite3
import uuid

# The secret that wraps every instance key in instances.encrypted_key
# (Trove's inst_rpc_key_encr_key). Test-only value.
CONTROLLER_SECRET = 'conformance-controller-secret-0123456789'


def write_conf(workdir, transport_url, control_exchange, conductor_queue):
    """Writes <workdir>/trove.conf, shared by trove-conductor and the client."""
    os.makedirs(workdir, exist_ok=True)
    db_path = os.path.join(workdir, 'trove.sqlite')
    conf_path = os.path.join(workdir, 'trove.conf')
    log_path = os.path.join(workdir, 'trove-conductor.log')
    text = '\n'.join([
        '[DEFAULT]',
        'transport_url = %s' % transport_url,
        'control_exchange = %s' % control_exchange,
        'conductor_queue = %s' % conductor_queue,
        'trove_conductor_workers = 1',
        'debug = True',
        'log_file = %s' % log_path,
        'inst_rpc_key_encr_key = %s' % CONTROLLER_SECRET,
        # A missing guest answers late; keep Trove's caller waiting less than
        # its 15 s default so a broken agent fails a test quickly.
        'agent_call_low_timeout = 10',
        'agent_call_high_timeout = 20',
        '[database]',
        'connection = sqlite:///%s' % db_path,
        '[oslo_messaging_notifications]',
        'driver = noop',
        '[upgrade_levels]',
        'guestagent = latest',
        '',
    ])
    tmp = conf_path + '.tmp'
    with open(tmp, 'w') as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, conf_path)
    return {'conf_path': conf_path, 'db_path': db_path, 'log_path': log_path}


def load_conf(conf_path):
    """Loads the file into trove.common.cfg.CONF and sets up DB and RPC."""
    from trove.common import cfg
    conf = cfg.CONF
    conf(args=['--config-file', conf_path], project='trove')
    from trove.db import get_db_api
    db_api = get_db_api()
    # trove-manage db_sync crashes on Python 3.11 (inspect.getargspec);
    # calling the migration directly works (spec section 9).
    db_api.db_sync(conf)
    db_api.configure_db(conf)
    from trove import rpc
    rpc.init(conf)
    return conf


def _now():
    return datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M:%S.%f')


def add_instance(db_path, instance_id, key, tenant_id):
    """Inserts the instances row (with its wrapped key) and a `new` status row.

    key None means the controller runs with enable_secure_rpc_messaging=False:
    Trove then stores NULL and both sides talk plain JSON.
    """
    from trove.common import crypto_utils
    encrypted = None
    if key is not None:
        encrypted = crypto_utils.encode_data(
            crypto_utils.encrypt_data(key, CONTROLLER_SECRET))
    now = _now()
    with sqlite3.connect(db_path, timeout=10) as db:
        db.execute(
            'INSERT INTO instances (id, created, updated, name, task_id,'
            ' task_description, tenant_id, deleted, encrypted_key)'
            ' VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)',
            (instance_id, now, now, 'conf-' + instance_id[:8], 0x01,
             'No tasks for the instance.', tenant_id, encrypted))
        db.execute(
            'INSERT INTO service_statuses (id, instance_id, status_id,'
            ' status_description, updated_at) VALUES (?, ?, ?, ?, ?)',
            (str(uuid.uuid4()), instance_id, 0x17, 'new', now))
    return {'encrypted_key': encrypted}


def status(db_path, instance_id):
    """The service_statuses row as the conductor left it."""
    with sqlite3.connect(db_path, timeout=10) as db:
        row = db.execute(
            'SELECT status_id, status_description, updated_at'
            ' FROM service_statuses WHERE instance_id = ?',
            (instance_id,)).fetchone()
    if row is None:
        return None
    return {'status_id': row[0], 'status_description': row[1],
            'updated_at': row[2]}


def faults(db_path, instance_id):
    """Every instance_faults row of the instance, oldest first."""
    with sqlite3.connect(db_path, timeout=10) as db:
        rows = db.execute(
            'SELECT message, details, created, updated FROM instance_faults'
            ' WHERE instance_id = ? ORDER BY created', (instance_id,)).fetchall()
    return [{'message': r[0], 'details': r[1], 'created': r[2],
             'updated': r[3]} for r in rows]


def last_seen(db_path, instance_id):
    """conductor_lastseen rows: method -> last accepted `sent`."""
    with sqlite3.connect(db_path, timeout=10) as db:
        rows = db.execute(
            'SELECT method_name, sent FROM conductor_lastseen'
            ' WHERE instance_id = ?', (instance_id,)).fetchall()
    return {r[0]: r[1] for r in rows}


def log_lines(log_path, needle):
    """Lines of the conductor's log_file that contain `needle` (debug=True
    makes the conductor log every heartbeat payload it receives)."""
    try:
        with open(log_path, errors='replace') as f:
            return [line.rstrip('\n') for line in f if needle in line]
    except FileNotFoundError:
        return []


def add_backup(instance_id, tenant_id, name):
    """The backups row trove-api's Backup.create inserts (state NEW), made
    with Trove's own model; returns the backup_info the taskmanager would
    cast with create_backup (the datastore names are the test's)."""
    from trove.backup.models import DBBackup
    from trove.backup.state import BackupState
    row = DBBackup.create(
        name=name, description=None, tenant_id=tenant_id,
        state=BackupState.NEW, instance_id=instance_id, parent_id=None,
        datastore_version_id=str(uuid.uuid4()), deleted=False,
        location=None, checksum=None, backup_type='full', size=None)
    return {'id': row.id, 'name': name, 'description': None,
            'instance_id': instance_id, 'backup_type': row.backup_type,
            'checksum': None, 'parent': None, 'datastore': 'k2hdkc',
            'datastore_version': '1.0.14', 'swift_container': None}


def backup(backup_id):
    """The backups row as the conductor left it (Trove's model), or None."""
    from trove.backup.models import DBBackup
    from trove.common import exception
    try:
        row = DBBackup.find_by(id=backup_id)
    except exception.NotFound:
        return None
    return {'id': row.id, 'state': row.state, 'size': row.size,
            'checksum': row.checksum, 'location': row.location,
            'backup_type': row.backup_type, 'instance_id': row.instance_id}
