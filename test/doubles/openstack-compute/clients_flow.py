"""Drives the compute double with the OpenStack Python clients Trove 18 uses.

Usage: clients_flow.py <double base url> <token> <project id> <step>
Prints one JSON document with what the clients returned, for compute-double.test.ts to check.
Steps: `create` (volume, port, server with block device mapping, nic and user data) and
`inspect <server id>` / `delete <server id>` afterwards.
"""

import base64
import json
import sys

from cinderclient import client as cinder_client
from glanceclient import client as glance_client
from keystoneauth1 import session as ka_session
from keystoneauth1 import token_endpoint
from neutronclient.v2_0 import client as neutron_client
from novaclient import client as nova_client
from novaclient import exceptions as nova_exceptions

USERDATA = (
    "#cloud-config\n"
    "runcmd:\n"
    "  - [true]\n"
    "#cloud-config\n"
    "write_files:\n"
    "- encoding: b64\n"
    "  owner: trove:trove\n"
    "  path: /etc/trove/conf.d/guest_info.conf\n"
    "  content: %s\n" % base64.b64encode(b"[DEFAULT]\nguest_id=abc\n").decode()
)


def clients(base, token, project):
    sess = ka_session.Session(auth=token_endpoint.Token(base, token))
    nova = nova_client.Client('2.12', session=sess, endpoint_override=base + '/compute/v2.1')
    cinder = cinder_client.Client('3', session=sess, endpoint_override='%s/volume/v3/%s' % (base, project))
    neutron = neutron_client.Client(session=sess, endpoint_override=base + '/network')
    glance = glance_client.Client('2', session=sess, endpoint=base + '/image')
    return nova, cinder, neutron, glance


def main():
    base, token, project, step = sys.argv[1:5]
    nova, cinder, neutron, glance = clients(base, token, project)
    out = {}
    if step == 'create':
        image = next(iter(glance.images.list(filters={'tag': ['trove', 'k2hdkc'], 'status': 'active'},
                                             sort='created_at:desc', limit=1)))
        out['image'] = image['id']
        out['flavors'] = sorted(f.name for f in nova.flavors.list())
        out['zones'] = [z.zoneName for z in nova.availability_zones.list(detailed=False)]
        volume = cinder.volumes.create(2, name='datastore-vol', availability_zone='nova')
        out['volume_status'] = cinder.volumes.get(volume.id).status
        net = neutron.list_networks()['networks'][0]
        port = neutron.create_port({'port': {'name': 'trove-port', 'network_id': net['id']}})['port']
        out['port_address'] = port['fixed_ips'][0]['ip_address']
        server = nova.servers.create(
            'vm-1', image['id'], nova.flavors.get('10').id, nics=[{'port-id': port['id']}],
            block_device_mapping_v2=[{'uuid': volume.id, 'source_type': 'volume', 'destination_type': 'volume',
                                      'device_name': 'vdb', 'volume_size': 2, 'delete_on_termination': True}],
            userdata=USERDATA, meta={'trove_instance_id': 'abc'}, availability_zone='nova')
        out['server'] = server.id
        out['status'] = nova.servers.get(server.id).status
        out['volume_after'] = cinder.volumes.get(volume.id).status
        out['port_device'] = neutron.show_port(port['id'])['port']['device_id']
        out['volume'] = volume.id
        out['port'] = port['id']
    elif step == 'inspect':
        server = nova.servers.get(sys.argv[5])
        out['status'] = server.status
        out['addresses'] = server.addresses
        out['metadata'] = server.metadata
        out['listed'] = [s.id for s in nova.servers.list()]
        # Trove lists with limit=-1: novaclient then pages with `marker` until a page is empty.
        out['listed_all'] = [s.id for s in nova.servers.list(limit=-1)]
    elif step == 'delete':
        nova.servers.delete(sys.argv[5])
        try:
            out['after_delete'] = nova.servers.get(sys.argv[5]).status
        except nova_exceptions.NotFound:
            out['after_delete'] = 'NotFound'
    elif step in ('resize', 'confirm', 'revert', 'reboot'):
        # Trove's taskmanager calls, as novaclient sends them (ResizeAction, reboot).
        server = nova.servers.get(sys.argv[5])
        try:
            if step == 'resize':
                server.resize(sys.argv[6])
            elif step == 'confirm':
                server.confirm_resize()
            elif step == 'revert':
                server.revert_resize()
            else:
                server.reboot()
        except nova_exceptions.ClientException as e:
            out['error'] = {'code': e.code, 'message': e.message}
        server = nova.servers.get(sys.argv[5])
        out['status'] = server.status
        out['flavor'] = server.flavor['id']
    elif step == 'gone':
        try:
            nova.servers.get(sys.argv[5])
            out['gone'] = False
        except nova_exceptions.NotFound:
            out['gone'] = True
        out['volumes'] = [v.id for v in cinder.volumes.list()]
        out['ports'] = [p['id'] for p in neutron.list_ports()['ports']]
    print(json.dumps(out))


if __name__ == '__main__':
    main()
