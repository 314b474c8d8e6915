"""Drives the bridge's cluster strategies with Trove 18's own models, loaders and RPC
clients, and prints one JSON line.

    /usr/bin/python3 cluster_probe.py <trove.conf>

The database is a registered sqlite Trove DB; RPC runs on oslo.messaging's in-memory
fake:// transport. Doubles stand in only for what is outside Trove: the member guests
(they answer cluster_complete by reporting healthy, spec §3.3, and record stop_db), a
compute API that knows the member servers, and the receiving end of the task manager casts
(it records them; delete_instance marks the row deleted, the end state of Trove's delete).
"""

import eventlet
eventlet.monkey_patch()

import json  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

EVENTS = []
FLAVOR_ID = '7'


# ---- compute API double (remote_nova_client = cluster_probe.fake_nova) ----
class _Server(object):
    def __init__(self, server_id):
        self.id = server_id
        self.status = 'ACTIVE'
        self.addresses = {}
        self.networks = {}
        self.flavor = {'id': FLAVOR_ID}
        self.name = server_id
        self.host = 'probe-host'


class _Flavor(object):
    id = FLAVOR_ID
    ram = 2048
    vcpus = 2
    ephemeral = 0


class _Servers(object):
    def get(self, server_id):
        return _Server(server_id)


class _Flavors(object):
    def get(self, flavor_id):
        return _Flavor()


class _Nova(object):
    servers = _Servers()
    flavors = _Flavors()


def fake_nova(context, region_name=None, password=None):
    return _Nova()


def main():
    conf_path = sys.argv[1]
    from trove.common import cfg
    conf = cfg.CONF
    conf(args=['--config-file', conf_path], project='trove')
    conf.set_override('remote_nova_client', 'cluster_probe.fake_nova')
    # Trove's own bundled neutron fake (no ports) for the views' address lookup.
    conf.set_override('remote_neutron_client',
                      'trove.tests.fakes.neutron.fake_create_neutron_client')
    conf.set_override('usage_sleep_time', 1)
    conf.set_override('usage_timeout', 30)
    conf.set_override('cluster_delete_time_out', 30)
    conf.set_override('agent_call_high_timeout', 15)
    from trove.db import get_db_api
    get_db_api().configure_db(conf)
    from trove import rpc
    rpc.init(conf)

    import oslo_messaging as messaging
    from trove.cluster import models as cluster_models
    from trove.cluster.tasks import ClusterTasks
    from trove.cluster import views as cluster_views
    from trove.common import context as trove_context
    from trove.common import exception
    from trove.common import wsgi
    from trove.datastore import models as ds_models
    from trove.instance.models import DBInstance, InstanceServiceStatus
    from trove.instance.service_status import ServiceStatuses
    from trove.instance.tasks import InstanceTasks
    from trove.taskmanager import models as task_models
    from k2hdkc_trove_bridge.cluster import api as bridge_api

    tenant = 'probe-' + uuid.uuid4().hex[:8]
    context = trove_context.TroveContext(project_id=tenant, user_id='probe',
                                         is_admin=True, auth_token='t')
    _, dsv = ds_models.get_datastore_version(type='k2hdkc')
    out = {}
    marks = [('start', time.time())]

    def mark(name):
        marks.append((name, time.time()))

    def status_of(iid):
        return InstanceServiceStatus.find_by(instance_id=iid).get_status().description

    def set_status(iid, status):
        row = InstanceServiceStatus.find_by(instance_id=iid)
        row.set_status(status)
        row.save()

    def task_of(iid):
        task = DBInstance.find_by(id=iid).get_task_status()
        return {'code': task.code, 'error': task.is_error}

    def cluster_task(cid):
        return cluster_models.DBCluster.find_by(id=cid).task_status.name

    # ---- guest doubles on guestagent.<id>, with the instance's own RPC key ----
    class GuestDouble(object):
        target = messaging.Target(version='1.1')

        def __init__(self, iid):
            self.iid = iid

        def cluster_complete(self, context):
            EVENTS.append(['cluster_complete', self.iid])
            set_status(self.iid, ServiceStatuses.HEALTHY)

        def stop_db(self, context, do_not_start_on_reboot=False):
            EVENTS.append(['stop_db', self.iid, do_not_start_on_reboot])

    servers = []

    def start_guest(iid):
        from trove.instance.models import get_instance_encryption_key
        key = get_instance_encryption_key(iid)
        server = rpc.get_server(
            messaging.Target(topic='guestagent.%s' % iid, server=iid),
            [GuestDouble(iid)], key=key)
        server.start()
        servers.append(server)

    # ---- the task manager's receiving end ----
    class TaskManagerDouble(object):
        target = messaging.Target(version='1.0')

        def shrink_cluster(self, context, cluster_id, instance_ids):
            EVENTS.append(['tm.shrink_cluster', cluster_id, instance_ids])

        def grow_cluster(self, context, cluster_id, new_instance_ids):
            EVENTS.append(['tm.grow_cluster', cluster_id, new_instance_ids])

        def delete_instance(self, context, instance_id):
            EVENTS.append(['tm.delete_instance', instance_id])
            row = DBInstance.find_by(id=instance_id)
            row.deleted = True
            row.save()

    tm_server = rpc.get_server(
        messaging.Target(topic=conf.taskmanager_queue, server='probe'),
        [TaskManagerDouble()], key=conf.taskmanager_rpc_encr_key)
    tm_server.start()
    servers.append(tm_server)

    def add_member(cid, n, status):
        db = DBInstance.create(
            name='c1-member-%d' % n, flavor_id=FLAVOR_ID, tenant_id=tenant,
            volume_size=1, datastore_version_id=dsv.id,
            task_status=InstanceTasks.NONE, cluster_id=cid, type='member',
            compute_instance_id='srv-%s' % uuid.uuid4().hex[:8])
        InstanceServiceStatus.create(instance_id=db.id, status=status)
        start_guest(db.id)
        return db.id

    try:
        db_cluster = cluster_models.DBCluster.create(
            name='c1', tenant_id=tenant, datastore_version_id=dsv.id,
            task_status=ClusterTasks.BUILDING_INITIAL)
        cid = db_cluster.id
        # One member already healthy (a Python-style guest), two only prepared.
        members = [add_member(cid, 1, ServiceStatuses.INSTANCE_READY),
                   add_member(cid, 2, ServiceStatuses.HEALTHY),
                   add_member(cid, 3, ServiceStatuses.INSTANCE_READY)]

        # Trove's own loaders pick the bridge's classes.
        cluster = cluster_models.Cluster.load(context, cid)
        tasks = task_models.load_cluster_tasks(context, cid)
        out['loaded'] = {'cluster': type(cluster).__name__,
                         'tasks': type(tasks).__name__}

        # create: prepared -> cluster_complete -> HEALTHY, task back to NONE.
        mark('create')
        out['create'] = {
            'result': tasks.create_cluster(context, cid),
            'statuses': [status_of(i) for i in members],
            'cluster_task': cluster_task(cid),
            'completed': sorted(e[1] for e in EVENTS
                                if e[0] == 'cluster_complete'),
        }

        # grow: a new member that failed; only it is marked, nothing is completed.
        failed = add_member(cid, 4, ServiceStatuses.FAILED)
        cluster_models.DBCluster.find_by(id=cid).update(
            task_status=ClusterTasks.GROWING_CLUSTER)
        before = len(EVENTS)
        tasks = task_models.load_cluster_tasks(context, cid)
        mark('grow_failed')
        out['grow_failed'] = {
            'result': tasks.grow_cluster(context, cid, [failed]),
            'new_task': task_of(failed),
            'old_tasks': [task_of(i) for i in members],
            'cluster_task': cluster_task(cid),
            'events': EVENTS[before:],
        }

        # The API side: views and shrink rules.
        cluster = cluster_models.Cluster.load(context, cid)
        req = wsgi.Request.blank('http://probe/v1.0/%s/clusters' % tenant)
        req.environ[wsgi.CONTEXT_KEY] = context
        view = cluster_views.load_view(cluster, req=req, load_servers=False)
        data = view.data()['cluster']
        mark('view')
        out['view'] = {'types': sorted({i['type'] for i in data['instances']}),
                       'count': len(data['instances'])}

        def shrink_error(ids):
            try:
                cluster_models.Cluster.load(context, cid).shrink(ids)
                return None
            except exception.TroveError as e:
                return {'class': type(e).__name__, 'message': str(e)}

        out['shrink_rules'] = {
            'stranger': shrink_error(['no-such-instance']),
            'below_min': shrink_error(members),
            'all': shrink_error(members + [failed]),
        }
        # Put the failed member back to a deletable state, then shrink it away.
        row = DBInstance.find_by(id=failed)
        row.set_task_status(InstanceTasks.NONE)
        row.save()
        set_status(failed, ServiceStatuses.HEALTHY)
        before = len(EVENTS)
        cluster_models.Cluster.load(context, cid).shrink([failed])
        eventlet.sleep(0.5)
        mark('shrink_api')
        out['shrink_api'] = {
            'cluster_task': cluster_task(cid),
            'again': shrink_error([members[0]]),
            'events': EVENTS[before:],
        }

        # The task manager side of shrink.
        before = len(EVENTS)
        tasks = task_models.load_cluster_tasks(context, cid)
        result = tasks.shrink_cluster(context, cid, [failed])
        left = DBInstance.find_all(cluster_id=cid, deleted=False).all()
        mark('shrink_tm')
        out['shrink_tm'] = {
            'result': result,
            'events': EVENTS[before:],
            'remaining': sorted(db.id for db in left),
            'cluster_task': cluster_task(cid),
        }
        out['members'] = members
        out['failed'] = failed
        out['task_codes'] = {'NONE': InstanceTasks.NONE.code,
                             'GROWING_ERROR': InstanceTasks.GROWING_ERROR.code}

        # Trove 18's own grow on a tags-only version: the bug the bridge routes around.
        class Bare(cluster_models.Cluster):
            pass
        try:
            cluster_models.Cluster.action(
                Bare(context, cluster_models.DBCluster.find_by(id=cid)),
                context, req, 'grow', [{'flavorRef': FLAVOR_ID}])
            out['trove_grow'] = 'no error'
        except NameError as e:
            out['trove_grow'] = {'class': 'NameError', 'message': str(e)}
        except Exception as e:
            out['trove_grow'] = {'class': type(e).__name__, 'message': str(e)}

        # Pure helpers of the API strategy.
        out['names'] = bridge_api.member_names(
            'c1', [{}, {'name': 'own'}, {}], ['c1-member-1', 'c1-member-3'])
        out['grow_request'] = bridge_api.grow_request([
            {'flavorRef': 'https://nova/v2/flavors/9',
             'volume': {'size': 2, 'type': 'ssd'}, 'name': 'x',
             'availability_zone': 'az1', 'ignored': True}])
        # trove-dashboard's and the CLI's nics (`net-id`) as Trove's checks read them.
        out['network_nics'] = bridge_api.network_nics([
            {'net-id': 'n1'}, {'network_id': 'n2', 'net-id': 'n3'},
            {'subnet_id': 's1'}])
        out['address_strings'] = bridge_api.address_strings(
            [{'address': '10.0.0.5', 'type': 'private', 'network': 'n1'},
             '10.0.0.6'])
        try:
            bridge_api.grow_request([{'name': 'no-flavor'}])
            out['grow_request_error'] = None
        except exception.BadRequest as e:
            out['grow_request_error'] = str(e)
        mark('end')
        out['seconds'] = {b[0]: round(b[1] - a[1], 2)
                          for a, b in zip(marks, marks[1:])}
        result = {'ok': True, 'value': out}
    except Exception as e:
        result = {'ok': False, 'error': {'class': type(e).__name__,
                                         'message': str(e)},
                  'trace': traceback.format_exc(), 'partial': out}
    finally:
        for server in servers:
            try:
                server.stop()
            except Exception:
                pass
    sys.stdout.write('\n' + json.dumps(result, default=str) + '\n')
    sys.stdout.flush()


if __name__ == '__main__':
    main()
