"""A small fake of the nova client surface Trove 18 uses (servers, flavors, server groups).

`remote_nova_client = k2hdkc_e2e_fakes.nova.nova_client`. Creating a server records it and
materialises the cloud-init `write_files` of its userdata under vms/<id>/root, as cloud-init
would on a real VM. The test's hypervisor then starts the real agent on those files and marks
the server ACTIVE (power/<id>.json); deleting marks the record, the hypervisor stops the agent
and marks it DELETED, after which the server is gone (404) as in nova.
"""

import base64
import datetime
import os
import uuid

import yaml
from novaclient import exceptions as nova_exceptions

from k2hdkc_e2e_fakes import neutron as fake_neutron
from k2hdkc_e2e_fakes import store


def _now():
    return datetime.datetime.utcnow().strftime('%Y-%m-%dT%H:%M:%SZ')


def write_cloud_init_files(userdata, vm_root):
    """Writes every write_files entry of a #cloud-config document below vm_root.

    Trove may prefix its own document with /etc/trove/cloudinit/<manager>.cloudinit; the
    write_files list is what both share.
    """
    if not userdata:
        return []
    if isinstance(userdata, bytes):
        userdata = userdata.decode('utf-8')
    document = yaml.safe_load(userdata) or {}
    written = []
    for entry in document.get('write_files') or []:
        path = entry['path']
        if not path.startswith('/') or '..' in path.split('/'):
            raise ValueError('write_files path must be absolute and plain: %r' % path)
        content = entry.get('content', '')
        if entry.get('encoding') in ('b64', 'base64'):
            data = base64.b64decode(content)
        else:
            data = content.encode('utf-8')
        target = os.path.join(vm_root, path.lstrip('/'))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        tmp = target + '.tmp'
        with open(tmp, 'wb') as f:
            f.write(data)
        os.chmod(tmp, int(str(entry.get('permissions', '0600')), 8))
        os.replace(tmp, target)
        written.append(path)
    return written


class Flavor(object):
    def __init__(self, data):
        self._data = data
        self.id = data['id']
        self.name = data['name']
        self.ram = data['ram']
        self.vcpus = data['vcpus']
        self.disk = data['disk']
        self.ephemeral = data.get('ephemeral', 0)
        self.links = []

    def to_dict(self):
        return dict(self._data)


class Flavors(object):
    def list(self, *args, **kwargs):
        return [Flavor(f) for f in store.config()['flavors']]

    def get(self, flavor_id):
        for flavor in store.config()['flavors']:
            if str(flavor['id']) == str(flavor_id):
                return Flavor(flavor)
        raise nova_exceptions.NotFound(404, 'Flavor %s could not be found' % flavor_id)


class Server(object):
    def __init__(self, manager, record, power):
        self.manager = manager
        self.id = record['id']
        self.name = record['name']
        self.status = power.get('status', 'BUILD') if power else 'BUILD'
        self.flavor = {'id': record['flavor']}
        self.image = {'id': record['image']}
        self.metadata = record.get('metadata', {})
        self.created = record['created']
        self.updated = (power or record).get('updated', record['created'])
        self.user_id = record.get('user_id')
        self.tenant_id = record.get('tenant_id')
        self.key_name = record.get('key_name')
        self.fault = {'message': power.get('fault', '')} if power and power.get('fault') else {}
        self.addresses = {
            record['network_name']: [{'addr': record['address'], 'version': 4}],
        }
        self.networks = {record['network_name']: [record['address']]}

    def delete(self):
        self.manager.delete(self.id)

    def reboot(self, reboot_type='SOFT'):
        self.manager.reboot(self.id)

    def to_dict(self):
        return {'id': self.id, 'name': self.name, 'status': self.status}


class Servers(object):
    def __init__(self, context):
        self.context = context

    def _load(self, server_id):
        # Trove asks for compute_instance_id before it is set (a cluster view during build);
        # nova answers GET /servers/None with 404.
        record = store.get('servers', server_id) if server_id else None
        power = store.get('power', server_id) if record is not None else None
        if record is None or (power or {}).get('status') == 'DELETED':
            raise nova_exceptions.NotFound(404, 'Instance %s could not be found.' % server_id)
        return record, power

    def get(self, server):
        server_id = getattr(server, 'id', server)
        record, power = self._load(server_id)
        return Server(self, record, power)

    def list(self, detailed=True, search_opts=None, marker=None, limit=None, **kwargs):
        out = []
        for record in store.all_of('servers'):
            try:
                out.append(self.get(record['id']))
            except nova_exceptions.NotFound:
                pass
        return out

    def create(self, name, image, flavor, meta=None, files=None, userdata=None, key_name=None,
               nics=None, block_device_mapping_v2=None, availability_zone=None,
               config_drive=None, scheduler_hints=None, **kwargs):
        Flavors().get(getattr(flavor, 'id', flavor))
        cloud = store.config()
        server_id = str(uuid.uuid4())
        vm_dir = os.path.join(store.root(), 'vms', server_id)
        root = os.path.join(vm_dir, 'root')
        os.makedirs(root, exist_ok=True)
        written = write_cloud_init_files(userdata, root)
        number = store.next_number('address')
        address = '%s.%d' % (cloud['address_prefix'], cloud['address_first'] + number - 1)
        ports = [nic['port-id'] for nic in (nics or []) if nic.get('port-id')]
        if ports:
            for port_id in ports:
                fake_neutron.attach_port(port_id, server_id, address)
        else:
            fake_neutron.create_server_port(server_id, address, self.context)
        volumes = [bdm['uuid'] for bdm in (block_device_mapping_v2 or [])
                   if bdm.get('source_type') == 'volume']
        record = {
            'id': server_id, 'name': name, 'image': getattr(image, 'id', image),
            'flavor': str(getattr(flavor, 'id', flavor)), 'metadata': meta or {},
            'created': _now(), 'user_id': getattr(self.context, 'user', None),
            'tenant_id': getattr(self.context, 'project_id', None), 'key_name': key_name,
            'address': address, 'network_name': cloud['network']['name'],
            'volumes': volumes, 'vm_dir': vm_dir, 'root': root, 'injected': written,
            'deleted': False, 'reboots': 0,
        }
        store.put('servers', server_id, record)
        for volume_id in volumes:
            from k2hdkc_e2e_fakes import cinder as fake_cinder
            fake_cinder.attach(volume_id, server_id)
        return Server(self, record, None)

    def delete(self, server):
        server_id = getattr(server, 'id', server)
        record, _power = self._load(server_id)
        record['deleted'] = True
        record['deleted_at'] = _now()
        store.put('servers', server_id, record)

    def reboot(self, server, reboot_type='SOFT'):
        server_id = getattr(server, 'id', server)
        record, _power = self._load(server_id)
        record['reboots'] = record.get('reboots', 0) + 1
        store.put('servers', server_id, record)


class ServerGroups(object):
    def list(self, *args, **kwargs):
        return []

    def create(self, name, policies=None, policy=None, **kwargs):
        raise nova_exceptions.Forbidden(403, 'server groups are not part of the e2e cloud')

    def delete(self, group_id):
        return None

    def get(self, group_id):
        raise nova_exceptions.NotFound(404, 'Server group %s not found' % group_id)


class FakeNova(object):
    def __init__(self, context):
        self.servers = Servers(context)
        self.flavors = Flavors()
        self.server_groups = ServerGroups()
        self.client = self


def nova_client(context, region_name=None, password=None):
    return FakeNova(context)
