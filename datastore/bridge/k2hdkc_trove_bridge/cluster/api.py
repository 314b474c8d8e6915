"""trove-api side of k2hdkc clusters: create, grow and shrink requests and the views.

Every member is an ordinary Trove instance created with
cluster_config={'id': <cluster>, 'instance_type': 'member'}; the task manager strategy
then waits for the members and completes them (taskmanager.py).
"""

from oslo_log import log as logging

from trove.cluster import models
from trove.cluster.tasks import ClusterTasks
from trove.cluster.views import ClusterView
from trove.common import cfg
from trove.common import clients
from trove.common import exception
from trove.common import glance
from trove.common.notification import DBaaSClusterGrow
from trove.common.notification import StartNotification
from trove.common import server_group as srv_grp
from trove.common.strategies.cluster import base
from trove.common import utils
from trove.extensions.mgmt.clusters.views import MgmtClusterView
from trove.instance import models as inst_models
from trove.quota.quota import check_quotas
from trove.taskmanager import api as task_api

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

MEMBER = 'member'


class K2hdkcAPIStrategy(base.BaseAPIStrategy):

    @property
    def cluster_class(self):
        return K2hdkcCluster

    @property
    def cluster_controller_actions(self):
        return {}

    @property
    def cluster_view_class(self):
        return K2hdkcClusterView

    @property
    def mgmt_cluster_view_class(self):
        return K2hdkcMgmtClusterView


def _bad_request(text):
    # Trove maps API errors by exact type: only BadRequest itself becomes a 400.
    return exception.BadRequest(message=text)


def resolve_image_id(context, datastore_version, image_id=None):
    """The image to boot: the one Trove resolved, else the version's own id, else
    the newest active Glance image carrying all the version's tags."""
    if image_id:
        return image_id
    if datastore_version.image_id:
        return datastore_version.image_id
    return glance.get_image_id(clients.create_glance_client(context),
                               None, datastore_version.image_tags)


def network_nics(nics):
    """`nics` with each `net-id` renamed `network_id`, as Trove's instance API
    does for a single instance (instance/service.py _check_nic). Trove 18's
    cluster API passes nics on as sent, but its network check and the
    taskmanager's port creation read `network_id` only; trove-dashboard and the
    CLI send `net-id` (the check then fails with HTTP 500, and no port would be
    made on the chosen network)."""
    if not nics:
        return nics
    out = []
    for nic in nics:
        nic = dict(nic)
        if 'net-id' in nic:
            net_id = nic.pop('net-id')
            nic.setdefault('network_id', net_id)
        out.append(nic)
    return out


def validate_members(context, ds_conf, instances, flavor_id=None,
                     volume_size=None):
    """Flavors exist, all members alike (and like `flavor_id`/`volume_size` of an
    existing cluster), one network, and quota for all of them. Returns total GB.
    Renames the members' `net-id` nics in place first (network_nics)."""
    for instance in instances:
        if instance.get('nics'):
            instance['nics'] = network_nics(instance['nics'])
    models.validate_instance_flavors(context, instances,
                                     ds_conf.volume_support,
                                     bool(ds_conf.device_path))
    total_volume = models.get_required_volume_size(instances,
                                                   ds_conf.volume_support)
    try:
        models.assert_homogeneous_cluster(instances,
                                          required_flavor=flavor_id,
                                          required_volume_size=volume_size)
    except (exception.ClusterFlavorsNotEqual,
            exception.ClusterVolumeSizesNotEqual) as e:
        raise _bad_request(str(e))
    models.validate_instance_nics(context, instances)
    deltas = {'instances': len(instances)}
    if total_volume:
        deltas['volumes'] = total_volume
    check_quotas(context.project_id, deltas)
    return total_volume


def member_names(cluster_name, instances, taken):
    """A name per new member: the requested one, else <cluster>-member-<n> with n
    continuing past every name already in use."""
    names = []
    used = set(taken)
    index = 1
    for instance in instances:
        name = instance.get('name')
        if not name:
            while '%s-member-%d' % (cluster_name, index) in used:
                index += 1
            name = '%s-member-%d' % (cluster_name, index)
        used.add(name)
        names.append(name)
    return names


def create_members(context, db_info, datastore, datastore_version, instances,
                   names, image_id, locality, configuration_id):
    """Trove's Instance.create for each member (quota, volume, nova, prepare cast)."""
    created = []
    for instance, name in zip(instances, names):
        created.append(inst_models.Instance.create(
            context, name, instance['flavor_id'], image_id, [], [],
            datastore, datastore_version,
            instance.get('volume_size'), None,
            availability_zone=instance.get('availability_zone'),
            nics=instance.get('nics'),
            configuration_id=configuration_id,
            cluster_config={'id': db_info.id, 'instance_type': MEMBER},
            volume_type=instance.get('volume_type'),
            modules=instance.get('modules'),
            locality=locality,
            region_name=instance.get('region_name')))
    return created


def grow_request(param):
    """The instance dicts of a grow action body (the fields Trove's own parser keeps)."""
    instances = []
    for node in param or []:
        if 'flavorRef' not in node:
            raise _bad_request('Every new member needs a flavorRef.')
        instance = {'flavor_id': utils.get_id_from_href(node['flavorRef'])}
        if 'volume' in node:
            instance['volume_size'] = int(node['volume']['size'])
            if node['volume'].get('type'):
                instance['volume_type'] = node['volume']['type']
        for key in ('name', 'modules', 'nics', 'availability_zone',
                    'region_name'):
            if key in node:
                instance[key] = node[key]
        instances.append(instance)
    if not instances:
        raise _bad_request('Grow needs at least one new member.')
    return instances


class K2hdkcCluster(models.Cluster):

    @classmethod
    def create(cls, context, name, datastore, datastore_version, instances,
               extended_properties, locality, configuration, image_id=None):
        LOG.debug('Creating k2hdkc cluster %s.', name)
        ds_conf = CONF.get(datastore_version.manager)
        wanted = ds_conf.min_cluster_member_count
        if len(instances) < wanted:
            raise _bad_request('A k2hdkc cluster needs at least %d members '
                               '(got %d).' % (wanted, len(instances)))
        validate_members(context, ds_conf, instances)
        # Tags-only versions: Trove resolved the image in cluster/service.py.
        image_id = resolve_image_id(context, datastore_version, image_id)

        db_info = models.DBCluster.create(
            name=name, tenant_id=context.project_id,
            datastore_version_id=datastore_version.id,
            task_status=ClusterTasks.BUILDING_INITIAL,
            configuration_id=configuration)
        names = member_names(name, instances, [])
        create_members(context, db_info, datastore, datastore_version,
                       instances, names, image_id, locality, configuration)
        task_api.load(context, datastore_version.manager).create_cluster(
            db_info.id)
        return cls(context, db_info, datastore, datastore_version)

    def action(self, context, req, action, param):
        if action != 'grow':
            return super(K2hdkcCluster, self).action(context, req, action,
                                                     param)
        # Trove 18's own grow branch calls an unimported `common_glance` when
        # the version has no image_id (tags only): NameError, HTTP 500.
        instances = grow_request(param)
        context.notification = DBaaSClusterGrow(context, request=req)
        with StartNotification(context, cluster_id=self.id):
            image_id = resolve_image_id(context, self.ds_version)
            return self.grow(instances, image_id)

    def grow(self, instances, image_id=None):
        LOG.debug('Growing k2hdkc cluster %s by %d.', self.id, len(instances))
        self.validate_cluster_available()
        ds_conf = CONF.get(self.ds_version.manager)
        current = self.db_instances
        flavor_id = current[0].flavor_id if current else None
        volume_size = None
        if current and ds_conf.volume_support:
            volume_size = current[0].volume_size
        validate_members(self.context, ds_conf, instances, flavor_id,
                         volume_size)
        image_id = resolve_image_id(self.context, self.ds_version, image_id)

        self.db_info.update(task_status=ClusterTasks.GROWING_CLUSTER)
        try:
            locality = srv_grp.ServerGroup.convert_to_hint(self.server_group)
            names = member_names(self.name, instances,
                                 [db.name for db in current])
            new = create_members(self.context, self.db_info, self.ds,
                                 self.ds_version, instances, names, image_id,
                                 locality, self.configuration_id)
            task_api.load(self.context, self.ds_version.manager).grow_cluster(
                self.id, [instance.id for instance in new])
        except Exception:
            self.db_info.update(task_status=ClusterTasks.NONE)
            raise
        return self.__class__(self.context, self.db_info, self.ds,
                              self.ds_version)

    def shrink(self, instance_ids):
        LOG.debug('Shrinking k2hdkc cluster %s by %s.', self.id, instance_ids)
        self.validate_cluster_available()
        removal = list(dict.fromkeys(instance_ids))
        members = [db.id for db in self.db_instances]
        strangers = [i for i in removal if i not in members]
        if strangers:
            raise _bad_request('Not members of cluster %s: %s.'
                               % (self.id, ', '.join(strangers)))
        remaining = len(members) - len(removal)
        if remaining < 1:
            raise _bad_request('A shrink must leave at least one member.')
        wanted = CONF.get(self.ds_version.manager).min_cluster_member_count
        if remaining < wanted:
            raise _bad_request('A k2hdkc cluster keeps at least %d members; '
                               'this shrink would leave %d.'
                               % (wanted, remaining))

        self.db_info.update(task_status=ClusterTasks.SHRINKING_CLUSTER)
        try:
            task_api.load(self.context, self.ds_version.manager
                          ).shrink_cluster(self.id, removal)
        except Exception:
            self.db_info.update(task_status=ClusterTasks.NONE)
            raise
        return self.__class__(self.context, self.db_info, self.ds,
                              self.ds_version)

    def upgrade(self, datastore_version):
        raise _bad_request('Upgrading a k2hdkc cluster is not supported.')


def address_strings(ips):
    """Trove 18's instance view lists `ip` as address strings (instance/views.py),
    its cluster view passes the address dicts on ({'address', 'type', 'network'});
    trove-dashboard shows a member's ip[0] as its Host, so it showed the dict."""
    return [ip['address'] if isinstance(ip, dict) else ip for ip in ips]


def member_views(instances, ip_list):
    for instance in instances:
        if 'ip' in instance:
            instance['ip'] = address_strings(instance['ip'])
    return instances, address_strings(ip_list)


class K2hdkcClusterView(ClusterView):

    def build_instances(self):
        return member_views(*self._build_instances([MEMBER], [MEMBER]))


class K2hdkcMgmtClusterView(MgmtClusterView):

    def build_instances(self):
        return member_views(*self._build_instances([MEMBER], [MEMBER]))
