"""A small fake of the neutron client surface Trove 18 uses (ports, networks, subnets, groups).

`remote_neutron_client = k2hdkc_e2e_fakes.neutron.neutron_client`. There is one user network
(cloud.json `network`); every server gets a port on it whose address is the VM's loopback
address, so `instance show` lists the address the agent and chmpx really listen on.
"""

import uuid

from neutronclient.common import exceptions as neutron_exceptions

from k2hdkc_e2e_fakes import store


def _network():
    return store.config()['network']


def _port_view(record):
    return dict(record)


def create_server_port(server_id, address, context):
    """The port nova allocates itself when a server is created without one."""
    net = _network()
    port_id = str(uuid.uuid4())
    store.put('ports', port_id, {
        'id': port_id, 'name': '', 'description': '', 'network_id': net['id'],
        'device_id': server_id, 'device_owner': 'compute:nova',
        'fixed_ips': [{'subnet_id': net['subnet_id'], 'ip_address': address}],
        'security_groups': [], 'project_id': getattr(context, 'project_id', None),
        'tenant_id': getattr(context, 'project_id', None), 'status': 'ACTIVE',
    })
    return port_id


def attach_port(port_id, server_id, address):
    record = store.get('ports', port_id)
    if record is None:
        raise neutron_exceptions.PortNotFoundClient('Port %s could not be found.' % port_id)
    record['device_id'] = server_id
    record['device_owner'] = 'compute:nova'
    record['fixed_ips'] = [{'subnet_id': _network()['subnet_id'], 'ip_address': address}]
    record['status'] = 'ACTIVE'
    store.put('ports', port_id, record)


def _matches(record, filters):
    return all(record.get(k) == v for k, v in filters.items() if v is not None)


class FakeNeutron(object):
    def __init__(self, context):
        self.context = context

    # networks and subnets
    def _network_view(self):
        net = _network()
        return {'id': net['id'], 'name': net['name'], 'subnets': [net['subnet_id']],
                'status': 'ACTIVE', 'router:external': False, 'shared': True}

    def show_network(self, network_id, **kwargs):
        if network_id != _network()['id']:
            raise neutron_exceptions.NetworkNotFoundClient('Network %s could not be found.' % network_id)
        return {'network': self._network_view()}

    def list_networks(self, **filters):
        view = self._network_view()
        return {'networks': [view] if _matches(view, filters) else []}

    def find_resource(self, resource, name_or_id, **kwargs):
        if resource == 'network':
            view = self._network_view()
            if name_or_id in (view['id'], view['name']):
                return view
        raise neutron_exceptions.NotFound(message='%s %s not found' % (resource, name_or_id))

    def _subnet_view(self):
        net = _network()
        return {'id': net['subnet_id'], 'network_id': net['id'], 'cidr': net['cidr'],
                'ip_version': 4, 'name': net['name'] + '-subnet'}

    def show_subnet(self, subnet_id, **kwargs):
        if subnet_id != _network()['subnet_id']:
            raise neutron_exceptions.NotFound(message='Subnet %s could not be found.' % subnet_id)
        return {'subnet': self._subnet_view()}

    def list_subnets(self, **filters):
        view = self._subnet_view()
        return {'subnets': [view] if _matches(view, filters) else []}

    def list_routers(self, **filters):
        return {'routers': []}

    # ports
    def list_ports(self, **filters):
        return {'ports': [_port_view(r) for r in store.all_of('ports') if _matches(r, filters)]}

    def show_port(self, port_id, **kwargs):
        record = store.get('ports', port_id) if port_id else None
        if record is None:
            raise neutron_exceptions.PortNotFoundClient('Port %s could not be found.' % port_id)
        return {'port': _port_view(record)}

    def create_port(self, body=None):
        spec = (body or {}).get('port', {})
        if spec.get('network_id') != _network()['id']:
            raise neutron_exceptions.NetworkNotFoundClient('Network %s could not be found.' % spec.get('network_id'))
        port_id = str(uuid.uuid4())
        record = {
            'id': port_id, 'name': spec.get('name', ''), 'description': spec.get('description', ''),
            'network_id': spec['network_id'], 'device_id': '', 'device_owner': '',
            'fixed_ips': [{'subnet_id': _network()['subnet_id'], 'ip_address': None}],
            'security_groups': spec.get('security_groups', []),
            'project_id': getattr(self.context, 'project_id', None),
            'tenant_id': getattr(self.context, 'project_id', None), 'status': 'DOWN',
        }
        store.put('ports', port_id, record)
        return {'port': _port_view(record)}

    def update_port(self, port_id, body=None):
        record = self.show_port(port_id)['port']
        record.update((body or {}).get('port', {}))
        store.put('ports', port_id, record)
        return {'port': _port_view(record)}

    def delete_port(self, port_id):
        if not store.delete('ports', port_id):
            raise neutron_exceptions.PortNotFoundClient('Port %s could not be found.' % port_id)

    def list_floatingips(self, **filters):
        return {'floatingips': []}

    # security groups: the e2e controller runs with trove_security_groups_support = False
    def list_security_groups(self, **filters):
        return {'security_groups': []}

    def delete_security_group(self, sg_id):
        raise neutron_exceptions.NotFound(message='Security group %s not found' % sg_id)

    def list_extensions(self, **kwargs):
        return {'extensions': []}


def neutron_client(context, region_name=None):
    return FakeNeutron(context)
