"""The [k2hdkc] option group: every option Trove 18's controller reads for a datastore
(spec trove-datastore.md section 2.1), typed as Trove declares them for its own datastores,
with defaults from the manifest."""

from oslo_config import cfg
from oslo_config import types

from k2hdkc_trove_bridge import manifest

STRATEGY_PACKAGE = 'k2hdkc_trove_bridge.cluster'
STRATEGIES = {
    'api_strategy': STRATEGY_PACKAGE + '.api.K2hdkcAPIStrategy',
    'taskmanager_strategy': (STRATEGY_PACKAGE +
                             '.taskmanager.K2hdkcTaskManagerStrategy'),
    'guestagent_strategy': (STRATEGY_PACKAGE +
                            '.guestagent.K2hdkcGuestAgentStrategy'),
}


def _port_type():
    # Trove's own type (ranges like 9000-9010); same fallback if Trove is absent.
    try:
        from trove.common.cfg import ListOfPortsType
        return ListOfPortsType
    except ImportError:
        # chmpx keeps ports as signed 16-bit numbers: nothing above 32767.
        return types.Range(1, 32767)


def build_opts(data=None):
    """The oslo.config options of the group, defaults from the manifest."""
    o = (data or manifest.load())['options']
    ports = _port_type()
    return [
        cfg.ListOpt('tcp_ports', default=o['tcp_ports'], item_type=ports,
                    help='TCP ports (and ranges) opened in the security '
                         'group: chmpx server port, server and slave '
                         'control ports.'),
        cfg.ListOpt('udp_ports', default=o['udp_ports'], item_type=ports,
                    help='UDP ports (and ranges) opened in the security '
                         'group.'),
        cfg.BoolOpt('volume_support', default=o['volume_support'],
                    help='Whether to give every instance a Cinder volume.'),
        cfg.StrOpt('device_path', default=o['device_path'],
                   help='Device the volume appears as in the guest.'),
        cfg.StrOpt('mount_point', default=o['mount_point'],
                   help='Where the guest mounts the volume (K2HDKC data).'),
        cfg.StrOpt('backup_strategy', default=o['backup_strategy'],
                   help='Non-empty enables the backup API for k2hdkc.'),
        cfg.StrOpt('replication_strategy', default=o['replication_strategy'],
                   help='Empty: Trove replication is not supported.'),
        cfg.BoolOpt('root_on_create', default=o['root_on_create'],
                    help='Whether Trove enables root at create (no root '
                         'user in K2HDKC).'),
        cfg.StrOpt('root_controller', default=o['root_controller'],
                   help='Empty: the root API answers "not supported".'),
        cfg.BoolOpt('cluster_support', default=o['cluster_support'],
                    help='Enable Trove clusters of k2hdkc nodes.'),
        cfg.IntOpt('min_cluster_member_count',
                   default=o['min_cluster_member_count'], min=1,
                   help='Fewest members of a k2hdkc cluster (create and '
                        'shrink).'),
        cfg.StrOpt('api_strategy', default=STRATEGIES['api_strategy'],
                   help='Cluster API strategy class.'),
        cfg.StrOpt('taskmanager_strategy',
                   default=STRATEGIES['taskmanager_strategy'],
                   help='Cluster task manager strategy class.'),
        cfg.StrOpt('guestagent_strategy',
                   default=STRATEGIES['guestagent_strategy'],
                   help='Cluster guest agent API strategy class.'),
        cfg.ListOpt('ignore_users', default=o['ignore_users'],
                    help='Users hidden from user listings.'),
        cfg.ListOpt('ignore_dbs', default=o['ignore_dbs'],
                    help='Databases hidden from database listings.'),
        cfg.IntOpt('default_password_length',
                   default=o['default_password_length'],
                   help='Length of generated passwords.'),
        cfg.IntOpt('usage_timeout', default=o['usage_timeout'],
                   help='Seconds to wait for a guest to become healthy.'),
        cfg.StrOpt('guest_log_exposed_logs',
                   default=o['guest_log_exposed_logs'],
                   help='Guest logs exposed for publishing.'),
    ]


_registered = {}


def register_options(conf, data=None):
    """Registers the group once per ConfigOpts; later calls are no-ops (the same option
    objects are re-used, which oslo.config accepts as identical)."""
    data = data or manifest.load()
    name = manifest.manager_name(data)
    key = (id(conf), name)
    if key not in _registered:
        _registered[key] = build_opts(data)
    group = cfg.OptGroup(name, title='K2HDKC datastore (k2hdkc-trove bridge)')
    conf.register_group(group)
    conf.register_opts(_registered[key], group)
    return group


def effective_defaults(data=None):
    """{option name: default} as registered, for derived files and checks."""
    return {opt.name: opt.default for opt in build_opts(data)}
