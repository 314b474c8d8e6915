"""Registers the k2hdkc datastore in Trove's database; re-running converges.

    /usr/bin/python3 -m k2hdkc_trove_bridge.registration \
        --config-file /etc/trove/trove.conf [--db-sync] [--widen-values] [--prune]

It runs the same code trove-manage runs (trove.cmd.manage.Commands: datastore_update,
datastore_version_update, db_load_datastore_config_parameters) in one process, so it
works on Debian 12 where the trove-manage script itself crashes (inspect.getargspec), on
an empty database (--db-sync) and without Glance (versions are found by image tags at
instance-create time). --print-commands shows the equivalent trove-manage commands for the
wrapper k2hdkc_trove_bridge.trove_manage.

Configuration values: Trove 18 stores every configuration-group value in
configuration_parameters.configuration_value, VARCHAR(128). MySQL/MariaDB and
PostgreSQL refuse (or truncate) longer values, e.g. a long extdata-url. --widen-values
ALTERs the column to the manifest's configuration.value_column_length; without it a
narrow column is reported. SQLite does not enforce VARCHAR lengths.
"""

import argparse
import os
import shlex
import sys

from k2hdkc_trove_bridge import manifest as manifest_mod
from k2hdkc_trove_bridge import rules as rules_mod
from k2hdkc_trove_bridge import trove_manage
from k2hdkc_trove_bridge.value_column import check_value_column
from k2hdkc_trove_bridge.value_column import VALUE_COLUMN
from k2hdkc_trove_bridge.value_column import VALUE_TABLE



def parse_args(argv):
    p = argparse.ArgumentParser(
        prog='k2hdkc-trove-register',
        description='Register (or update) the k2hdkc datastore in Trove.')
    p.add_argument('--config-file', action='append', default=None,
                   help='trove.conf (repeatable; default '
                        '/etc/trove/trove.conf)')
    p.add_argument('--manifest', help='datastore manifest (default: the '
                   'one installed with the bridge)')
    p.add_argument('--rules', help='validation-rules.json (default: next '
                   'to the manifest)')
    p.add_argument('--version', action='append', dest='versions',
                   help='register only this version name (repeatable)')
    p.add_argument('--db-sync', action='store_true',
                   help="create/upgrade Trove's schema first (Trove's own "
                        'db_sync)')
    p.add_argument('--prune', action='store_true',
                   help='delete parameters of the version that are no longer '
                        'in the rules file')
    p.add_argument('--widen-values', action='store_true',
                   help='ALTER %s.%s to the manifest length where the '
                        'database enforces it' % (VALUE_TABLE, VALUE_COLUMN))
    p.add_argument('--print-commands', action='store_true',
                   help='print the equivalent trove-manage commands and exit')
    return p.parse_args(argv)


def rel_to_manifest(manifest_path, rel):
    return os.path.join(os.path.dirname(os.path.abspath(manifest_path)), rel)


def plan(data, rules_path, versions=None):
    """The registration as trove-manage argument lists, in order."""
    ds = data['datastore']
    steps = [['datastore_update', ds['name'], '']]
    for v in data['versions']:
        if versions and v['name'] not in versions:
            continue
        steps.append(['datastore_version_update', ds['name'], v['name'],
                      ds['manager'], v['image_id'], ' '.join(v['packages']),
                      '1' if v['active'] else '0',
                      '--image-tags', ','.join(v['image_tags']),
                      '--version', v['version']])
        steps.append(['db_load_datastore_config_parameters', ds['name'],
                      v['name'], os.path.abspath(rules_path),
                      '--version', v['version']])
    steps.append(['datastore_update', ds['name'], ds['default_version']])
    return steps


def print_commands(steps, config_files):
    conf = ' '.join('--config-file %s' % shlex.quote(c) for c in config_files)
    for step in steps:
        print('/usr/bin/python3 -m k2hdkc_trove_bridge.trove_manage %s %s'
              % (conf, ' '.join(shlex.quote(a) for a in step)))


def register(args):
    manifest_path = os.path.abspath(args.manifest or manifest_mod.locate())
    data = manifest_mod.load(manifest_path)
    rules_path = args.rules or rel_to_manifest(
        manifest_path, data['configuration']['validation_rules'])
    params = rules_mod.load_rules(rules_path)
    if args.versions:
        unknown = set(args.versions) - {v['name'] for v in data['versions']}
        if unknown:
            raise manifest_mod.ManifestError(
                'versions not in the manifest: %s' % ', '.join(sorted(unknown)))
    config_files = args.config_file or ['/etc/trove/trove.conf']
    steps = plan(data, rules_path, args.versions)
    if args.print_commands:
        print_commands(steps, config_files)
        return 0

    trove_manage.fix_getargspec()
    from oslo_log import log as logging
    from trove.common import cfg
    conf = cfg.CONF
    argv = []
    for path in config_files:
        argv += ['--config-file', path]
    conf(args=argv, project='trove')
    # Only now: trove.common.utils builds its template loader from
    # CONF.template_path when first imported (trove.cmd.manage imports it).
    from trove.cmd import manage
    from trove.common import exception
    from trove.configuration import models as config_models
    from trove.datastore import models as ds_models
    from trove.db.sqlalchemy import session
    logging.setup(conf, None)
    commands = manage.Commands()
    if args.db_sync:
        commands.db_sync()
    commands.db_api.configure_db(conf)

    ds = data['datastore']
    try:
        ds_models.Datastore.load(ds['name'])
    except exception.DatastoreNotFound:
        # Create it without a default; the default follows once a version exists.
        commands.datastore_update(ds['name'], '')
    for v in data['versions']:
        if args.versions and v['name'] not in args.versions:
            continue
        # Upsert on (datastore, name, version); no image id = found by tags.
        commands.datastore_version_update(
            ds['name'], v['name'], ds['manager'], v['image_id'] or None,
            ' '.join(v['packages']), 1 if v['active'] else 0,
            image_tags=','.join(v['image_tags']), version=v['version'])
        commands.db_load_datastore_config_parameters(
            ds['name'], v['name'], rules_path, version=v['version'])
        stale = prune_parameters(ds['name'], v, params, args.prune,
                                 config_models, ds_models)
        if stale and args.prune:
            print('Parameters no longer in %s removed: %s'
                  % (rules_path, ', '.join(stale)))
        elif stale:
            sys.stderr.write('WARNING: parameters no longer in %s kept: %s '
                             '(use --prune)\n' % (rules_path, ', '.join(stale)))
    default = manifest_mod.version(data)
    if default['active']:
        commands.datastore_update(ds['name'], default['name'])
    else:
        sys.stderr.write('WARNING: default version %s is inactive; no default '
                         'set\n' % default['name'])
    check_template(ds_models, ds['name'], default)
    status = check_value_column(session.get_engine(),
                                data['configuration']['value_column_length'],
                                args.widen_values)
    print('k2hdkc datastore registered (value column: %s)' % status)
    return 0


def check_template(ds_models, ds_name, version):
    """Every instance create renders <template_path>/<datastore>/config.template (or
    the version's or manager's); without it the instance goes to ERROR. Look it up the
    way the taskmanager does and say where it came from."""
    import jinja2
    from trove.common import template
    _, dsv = ds_models.get_datastore_version(
        type=ds_name, version=version['name'], return_inactive=True,
        version_number=version['version'])
    try:
        found = template.SingleInstanceConfigTemplate(dsv, {}, 'check') \
            .get_template()
        print('config template: %s' % found.filename)
        return found.filename
    except jinja2.TemplatesNotFound:
        sys.stderr.write('WARNING: no config.template for %s %s under the '
                         'template_path; every instance create will fail. '
                         'Install it with install.py --templates-dir or '
                         '--system.\n' % (ds_name, version['name']))
        return None


def prune_parameters(ds_name, version, params, prune, config_models,
                     ds_models):
    """Names registered for the version but absent from the rules; deleted if prune."""
    _, dsv = ds_models.get_datastore_version(
        type=ds_name, version=version['name'], return_inactive=True,
        version_number=version['version'])
    wanted = {p['name'] for p in params}
    stale = []
    for row in config_models.DatastoreConfigurationParameters.load_parameters(
            dsv.id):
        if row.name not in wanted:
            stale.append(row.name)
            if prune:
                row.delete()
    return sorted(stale)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return register(args)
    except (manifest_mod.ManifestError, rules_mod.RulesError) as e:
        sys.stderr.write('k2hdkc-trove-register: %s\n' % e)
        return 2


if __name__ == '__main__':
    sys.exit(main())
