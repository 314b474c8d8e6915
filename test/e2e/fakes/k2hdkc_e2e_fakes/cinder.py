"""A small fake of the cinder client surface Trove 18 uses (volumes, volume types).

`remote_cinder_client = k2hdkc_e2e_fakes.cinder.cinder_client`. Volumes are records only: the
e2e agents run with `[k2hdkc] manage_volume = false` and keep their data in the VM directory.
"""

import datetime
import uuid

from cinderclient import exceptions as cinder_exceptions

from k2hdkc_e2e_fakes import store


def _now():
    return datetime.datetime.utcnow().strftime('%Y-%m-%dT%H:%M:%S.000000')


def attach(volume_id, server_id):
    record = store.get('volumes', volume_id)
    if record is None:
        return
    record['status'] = 'in-use'
    record['attachments'] = [{'server_id': server_id, 'device': '/dev/vdb'}]
    store.put('volumes', volume_id, record)


class Volume(object):
    def __init__(self, manager, record):
        self.manager = manager
        self._record = record
        self.id = record['id']
        self.name = record['name']
        self.size = record['size']
        self.status = record['status']
        self.description = record.get('description')
        self.volume_type = record.get('volume_type')
        self.attachments = record.get('attachments', [])
        self.availability_zone = record.get('availability_zone', 'nova')
        self.created_at = record['created_at']

    def delete(self):
        self.manager.delete(self.id)

    def to_dict(self):
        return dict(self._record)


class Volumes(object):
    def create(self, size, name=None, description=None, volume_type=None,
               availability_zone=None, **kwargs):
        volume_id = str(uuid.uuid4())
        record = {
            'id': volume_id, 'size': int(size), 'name': name, 'description': description,
            'volume_type': volume_type, 'status': 'available', 'attachments': [],
            'availability_zone': availability_zone or 'nova', 'created_at': _now(),
        }
        store.put('volumes', volume_id, record)
        return Volume(self, record)

    def get(self, volume):
        volume_id = getattr(volume, 'id', volume)
        record = store.get('volumes', volume_id) if volume_id else None
        if record is None:
            raise cinder_exceptions.NotFound(404, 'Volume %s could not be found.' % volume_id)
        return Volume(self, record)

    def list(self, detailed=True, search_opts=None, **kwargs):
        wanted = (search_opts or {}).get('name')
        return [Volume(self, r) for r in store.all_of('volumes')
                if wanted is None or r.get('name') == wanted]

    def delete(self, volume):
        volume_id = getattr(volume, 'id', volume)
        if not store.delete('volumes', volume_id):
            raise cinder_exceptions.NotFound(404, 'Volume %s could not be found.' % volume_id)

    def extend(self, volume, new_size):
        record = self.get(volume)._record
        record['size'] = int(new_size)
        store.put('volumes', record['id'], record)


class VolumeTypes(object):
    def list(self, *args, **kwargs):
        return []

    def get(self, type_id):
        raise cinder_exceptions.NotFound(404, 'Volume type %s could not be found.' % type_id)


class FakeCinder(object):
    def __init__(self, context):
        self.volumes = Volumes()
        self.volume_types = VolumeTypes()


def cinder_client(context, region_name=None):
    return FakeCinder(context)
