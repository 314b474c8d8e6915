"""The fake cloud's state: one JSON file per object under $K2HDKC_E2E_CLOUD.

trove-api and trove-taskmanager are separate processes that must see the same servers, volumes
and ports, and the test's hypervisor (test/e2e/hypervisor.ts) boots what the fake nova records,
so the state lives on disk. Writes are atomic (temp file + rename); counters take a file lock.
"""

import fcntl
import json
import os
import uuid


def root():
    path = os.environ.get('K2HDKC_E2E_CLOUD')
    if not path:
        raise RuntimeError('K2HDKC_E2E_CLOUD is not set: the e2e fakes need their state directory')
    return path


def kind_dir(kind):
    path = os.path.join(root(), kind)
    os.makedirs(path, exist_ok=True)
    return path


def write_json(path, value):
    tmp = '%s.tmp-%s' % (path, uuid.uuid4().hex)
    with open(tmp, 'w') as f:
        json.dump(value, f, indent=1, sort_keys=True)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def put(kind, obj_id, value):
    write_json(os.path.join(kind_dir(kind), obj_id + '.json'), value)


def get(kind, obj_id):
    return read_json(os.path.join(kind_dir(kind), obj_id + '.json'))


def delete(kind, obj_id):
    try:
        os.remove(os.path.join(kind_dir(kind), obj_id + '.json'))
        return True
    except FileNotFoundError:
        return False


def all_of(kind):
    out = []
    directory = kind_dir(kind)
    for name in sorted(os.listdir(directory)):
        if name.endswith('.json'):
            value = read_json(os.path.join(directory, name))
            if value is not None:
                out.append(value)
    return out


def next_number(name):
    """A per-cloud counter (1, 2, ...), safe across processes."""
    path = os.path.join(root(), name + '.counter')
    with open(path, 'a+') as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        text = f.read().strip()
        value = int(text) + 1 if text else 1
        f.seek(0)
        f.truncate()
        f.write(str(value))
        f.flush()
        return value


def config():
    """cloud.json, written by the test: flavors, images, network, address prefix."""
    value = read_json(os.path.join(root(), 'cloud.json'))
    if value is None:
        raise RuntimeError('cloud.json is missing in %s' % root())
    return value
