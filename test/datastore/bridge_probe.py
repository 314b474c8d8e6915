"""Runs Trove 18's own code against the installed k2hdkc bridge and prints one JSON line.

    /usr/bin/python3 bridge_probe.py <command> <trove.conf> [args...]

Used by test/datastore/*.test.ts; the bridge comes from PYTHONPATH (installed into a
temp prefix by datastore/install.py), never from the source tree.
"""

import json
import sys
import traceback


def load_conf(conf_path):
    from trove.common import cfg
    cfg.CONF(args=['--config-file', conf_path], project='trove')
    return cfg.CONF


def err(e):
    return {'class': type(e).__name__, 'message': str(e)}


def ports(values):
    # ListOfPortsType gives range(start, end-1, -1)-style objects for single ports.
    out = []
    for r in values:
        items = list(r)
        out.append([min(items), max(items)] if items else [r.start, r.start])
    return out


def cmd_no_bridge(conf_path):
    from oslo_config import cfg as oslo_cfg
    conf = load_conf(conf_path)
    result = {'source_loaded': 'k2hdkc_trove_bridge' in sys.modules}
    try:
        conf.get('k2hdkc')
        result['get'] = 'ok'
    except oslo_cfg.NoSuchOptError as e:
        result['get'] = err(e)
    from trove.common import template
    result['parser'] = 'k2hdkc' in template.SERVICE_PARSERS
    return result


def _tm_load(conf):
    # transport_url = fake:// in the test's trove.conf: no broker is touched.
    from trove import rpc
    from trove.taskmanager import api as task_api
    rpc.init(conf)
    return type(task_api.load(None, 'k2hdkc')).__name__


def cmd_options(conf_path):
    utils_before = 'trove.common.utils' in sys.modules
    conf = load_conf(conf_path)
    group = conf.get('k2hdkc')
    values = {}
    for name in ('volume_support', 'device_path', 'mount_point',
                 'backup_strategy', 'replication_strategy', 'root_on_create',
                 'root_controller', 'cluster_support',
                 'min_cluster_member_count', 'api_strategy',
                 'taskmanager_strategy', 'guestagent_strategy', 'ignore_users',
                 'ignore_dbs', 'default_password_length', 'usage_timeout',
                 'guest_log_exposed_logs'):
        values[name] = group.get(name)
    values['tcp_ports'] = ports(group.tcp_ports)
    values['udp_ports'] = ports(group.udp_ports)

    from trove.common.strategies.cluster import strategy
    api = strategy.load_api_strategy('k2hdkc')
    tm = strategy.load_taskmanager_strategy('k2hdkc')
    ga = strategy.load_guestagent_strategy('k2hdkc')

    def qual(c):
        return '%s.%s' % (c.__module__, c.__name__)

    from trove.cluster.models import Cluster
    from trove.cluster.views import ClusterView
    from trove.extensions.mgmt.clusters.views import MgmtClusterView
    from trove.guestagent.api import API as GuestAPI
    from trove.taskmanager import api as task_api
    from trove.taskmanager.models import ClusterTasks
    classes = {
        'cluster_class': qual(api.cluster_class),
        'cluster_view_class': qual(api.cluster_view_class),
        'mgmt_cluster_view_class': qual(api.mgmt_cluster_view_class),
        'task_manager_api_class': qual(tm.task_manager_api_class),
        'task_manager_cluster_tasks_class':
            qual(tm.task_manager_cluster_tasks_class),
        'guest_client_class': qual(ga.guest_client_class),
    }
    subclass = {
        'cluster': issubclass(api.cluster_class, Cluster),
        'view': issubclass(api.cluster_view_class, ClusterView),
        'mgmt_view': issubclass(api.mgmt_cluster_view_class, MgmtClusterView),
        'tasks': issubclass(tm.task_manager_cluster_tasks_class, ClusterTasks),
        'tm_api': issubclass(tm.task_manager_api_class, task_api.API),
        'guest': issubclass(ga.guest_client_class, GuestAPI),
        # taskmanager/api.py load(): what the API casts go through.
        'tm_load': _tm_load(conf),
    }
    from trove.common import cfg as trove_cfg
    from trove.common import template
    return {
        'utils_imported_before_parse': utils_before,
        'values': values,
        'classes': classes,
        'subclass': subclass,
        'parser': qual(template.SERVICE_PARSERS['k2hdkc']),
        'other_parsers_kept': sorted(k for k in template.SERVICE_PARSERS
                                     if k != 'k2hdkc'),
        'password_length_k2hdkc':
            trove_cfg.CONF.get('k2hdkc').default_password_length,
    }


def cmd_autoload(site_dir):
    # A .pth file is only read from a site directory: add it like site.py does.
    import site
    site.addsitedir(site_dir)
    from trove.common import cfg
    cfg.CONF(args=[], project='trove', default_config_files=[])
    from trove.common import template
    return {'mount_point': cfg.CONF.get('k2hdkc').mount_point,
            'parser': 'k2hdkc' in template.SERVICE_PARSERS}


def _db(conf_path):
    conf = load_conf(conf_path)
    from trove.db import get_db_api
    get_db_api().configure_db(conf)
    return conf


def cmd_registered(conf_path, long_value=None):
    conf = _db(conf_path)
    from trove.configuration import models as config_models
    from trove.datastore import models as ds_models
    from trove.db.sqlalchemy import session
    from k2hdkc_trove_bridge import value_column
    from trove.datastore.models import DBDatastore, DBDatastoreVersion
    stores = [{'name': d.name, 'default_version_id': d.default_version_id}
              for d in DBDatastore.find_all()]
    versions = [{'id': v.id, 'name': v.name, 'version': v.version,
                 'manager': v.manager, 'image_id': v.image_id,
                 'image_tags': v.image_tags, 'packages': v.packages,
                 'active': bool(v.active)}
                for v in DBDatastoreVersion.find_all()]
    ds, dsv = ds_models.get_datastore_version(type='k2hdkc')
    params = sorted(
        ({'name': p.name, 'restart_required': bool(p.restart_required),
          'type': p.data_type, 'min': p.min_size, 'max': p.max_size}
         for p in config_models.DatastoreConfigurationParameters
         .load_parameters(dsv.id)), key=lambda p: p['name'])

    # The template, as the taskmanager renders it, and the API's dict of it.
    from trove.common import template
    t = template.SingleInstanceConfigTemplate(
        dsv, {'ram': 2048, 'vcpus': 2}, 'instance-0001')
    rendered = t.render()
    as_dict = dict(t.render_dict())

    engine = session.get_engine()
    extra = {}
    if long_value:
        extra['long_value'] = _store_long_value(dsv, int(long_value))
        extra['widen_sql'] = cmd_widen_sql()
    return {
        **extra,
        'datastores': stores,
        'versions': versions,
        'default_version': ds.default_version_id == dsv.id,
        'packages_split': dsv.packages.split(),
        'params': params,
        'rendered': rendered,
        'render_dict': as_dict,
        'template_path': conf.template_path,
        'value_column_length': value_column.value_column_length(engine),
        'dialect': engine.dialect.name,
    }


def _store_long_value(dsv, length):
    """Stores a configuration-group value of `length` characters the way Trove's
    configuration API does (DBConfiguration + DBConfigurationParameter) and reads it back."""
    import uuid
    from trove.configuration.models import DBConfiguration
    from trove.configuration.models import DBConfigurationParameter
    group = DBConfiguration.create(
        name='long-' + uuid.uuid4().hex[:8], description='probe',
        tenant_id='probe-tenant', datastore_version_id=dsv.id)
    value = 'http://k2hr3.example/v1/extdata/trove/' + 'x' * int(length)
    value = value[:int(length)]
    DBConfigurationParameter.create(configuration_id=group.id,
                                    configuration_key='extdata-url',
                                    configuration_value=value)
    back = DBConfigurationParameter.find_by(configuration_id=group.id,
                                            configuration_key='extdata-url')
    return {'stored': len(back.configuration_value),
            'same': back.configuration_value == value}


def cmd_widen_sql():
    from k2hdkc_trove_bridge import value_column
    out = {}
    for dialect in ('mysql', 'mariadb', 'postgresql', 'sqlite'):
        out[dialect] = value_column.widen_statement(dialect, 512)
    try:
        value_column.widen_statement('oracle', 512)
        out['oracle'] = 'accepted'
    except RuntimeError as e:
        out['oracle'] = err(e)
    return out


def main():
    command, args = sys.argv[1], sys.argv[2:]
    handlers = {
        'no-bridge': cmd_no_bridge,
        'options': cmd_options,
        'autoload': cmd_autoload,
        'registered': cmd_registered,
        'widen-sql': cmd_widen_sql,
    }
    try:
        result = {'ok': True, 'value': handlers[command](*args)}
    except Exception as e:
        result = {'ok': False, 'error': err(e),
                  'trace': traceback.format_exc()}
    sys.stdout.write('\n' + json.dumps(result, default=str) + '\n')


if __name__ == '__main__':
    main()
